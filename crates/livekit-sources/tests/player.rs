#![allow(clippy::unwrap_used)]
//! Player: A/V sync (also after a seek and across a loop, and over a 10-minute timeline),
//! pixel formats, down-mixing, real-time pacing on a manual clock, late frames, controls.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use livekit_core::{
    AudioFrame, ColorSpace, FrameSource, FrameTarget, ManualClock, Mixer, MixerSettings,
    PixelFormat, Port, Pull, VideoFrame,
};
use livekit_sources::{
    Pacing, PlayState, Player, PlayerEvent, PlayerSettings, SeekTimestamps, probe,
};
use livekit_testkit::media::ffmpeg;

const FRAME_25: Duration = Duration::from_millis(40);

fn ports() -> (Port<VideoFrame>, Port<AudioFrame>) {
    (Port::blocking(8), Port::blocking(64))
}

#[test]
fn flash_and_beep_line_up_at_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let clip = av_sync_clip(dir.path(), "sync.mp4", 4, (320, 240), 25);
    let player = Player::open(&clip, PlayerSettings::free_running()).unwrap();
    let (v, a) = ports();
    player.add_video_target(v.clone()).unwrap();
    player.add_audio_target(a.clone()).unwrap();
    let (vc, ac) = (collect_video(v), collect_audio(a));
    player.start().unwrap();
    let (shots, heard) = (vc.join().unwrap(), ac.join().unwrap());
    assert!(player.wait(Duration::from_secs(5)));
    assert_eq!(player.state(), PlayState::Ended);
    assert_eq!(player.stats().late_video_dropped, 0);
    // Once ended, the position stays at the end of the file (it once read 0 s).
    let at = player.position();
    assert!(
        at >= Duration::from_millis(3900) && at <= Duration::from_secs(4),
        "{at:?}"
    );
    // 4 s at 25 fps, I420 as the decoder gave it, 48 kHz stereo.
    assert_eq!(shots.len(), 100);
    assert!(shots.iter().all(|s| s.width == 320 && s.height == 240));
    assert_eq!(
        shots[0].format,
        PixelFormat::I420(ColorSpace::BT601_LIMITED)
    );
    assert!(heard.frames.iter().all(|f| f.2 == 48_000 && f.3 == 2));
    assert_audio_continuous(&heard);
    let flashes = flashes(&shots);
    assert_eq!(flashes.len(), 4, "one flash a second: {flashes:?}");
    assert_eq!(flashes[1], Duration::from_secs(1));
    assert_in_sync(&flashes, &heard.onsets, FRAME_25);
    let events: Vec<_> = player.events().try_iter().collect();
    assert!(
        matches!(events.last(), Some(PlayerEvent::EndOfStream)),
        "{events:?}"
    );
}

#[test]
fn in_sync_after_a_seek_and_across_loops() {
    let dir = tempfile::tempdir().unwrap();
    let clip = av_sync_clip(dir.path(), "sync.mkv", 3, (320, 240), 25);
    let settings = PlayerSettings {
        looping: true,
        seek_timestamps: SeekTimestamps::MediaTime,
        ..PlayerSettings::free_running()
    };
    let player = Player::open(&clip, settings).unwrap();
    let (v, a) = ports();
    player.add_video_target(v.clone()).unwrap();
    player.add_audio_target(a.clone()).unwrap();
    let (vc, ac) = (collect_video(v.clone()), collect_audio(a));
    player.start().unwrap();
    // Jump into the middle of the first pass, then let it loop twice more.
    player.seek(Duration::from_millis(1500)).unwrap();
    let events = player.events();
    let mut loops = 0;
    while loops < 2 {
        match events.recv_timeout(Duration::from_secs(20)).unwrap() {
            PlayerEvent::Looped { count } => loops = count,
            PlayerEvent::Failed(e) => panic!("{e}"),
            _ => {}
        }
    }
    player.set_looping(false).unwrap();
    assert!(player.wait(Duration::from_secs(20)));
    let (shots, heard) = (vc.join().unwrap(), ac.join().unwrap());
    // What came before the seek landed depends on thread timing: look from the seek target on.
    let from = Duration::from_millis(1500);
    let flashes: Vec<_> = flashes(&shots).into_iter().filter(|f| *f >= from).collect();
    let beeps: Vec<_> = heard
        .onsets
        .iter()
        .copied()
        .filter(|b| *b >= from)
        .collect();
    // 2 s in the first pass, then 3 s + {0, 1, 2} s and 6 s + {0, 1, 2} s.
    assert_eq!(flashes.len(), 7, "{flashes:?}");
    assert_in_sync(&flashes, &beeps, FRAME_25);
    for pair in shots.windows(2) {
        assert!(
            pair[1].pts > pair[0].pts || pair[1].pts < Duration::from_secs(2),
            "{pair:?}"
        );
    }
    // The last pass ends at 3 passes' worth of timeline at least (timestamps rise across loops).
    assert!(shots.last().unwrap().pts >= Duration::from_secs(8));
    assert!(player.stats().loops >= 2);
}

#[test]
fn seek_lands_on_the_frame_and_the_sample() {
    let dir = tempfile::tempdir().unwrap();
    let clip = av_sync_clip(dir.path(), "sync.mp4", 3, (320, 240), 25);
    let settings = PlayerSettings {
        seek_timestamps: SeekTimestamps::MediaTime,
        ..PlayerSettings::free_running()
    };
    let player = Player::open(&clip, settings).unwrap();
    let (v, a) = ports();
    player.add_video_target(v.clone()).unwrap();
    player.add_audio_target(a.clone()).unwrap();
    // Seek before anything is read: the thread blocks on the full ports until then.
    player.start().unwrap();
    player.seek(Duration::from_millis(1960)).unwrap();
    let (vc, ac) = (collect_video(v), collect_audio(a));
    let (shots, heard) = (vc.join().unwrap(), ac.join().unwrap());
    // After the seek: a frame at 1.96 s then the flash at 2.00 s with its beep.
    let after: Vec<_> = shots
        .iter()
        .skip_while(|s| s.pts != Duration::from_millis(1960))
        .collect();
    assert!(
        after.len() >= 2,
        "no frame at the seek target: {:?}",
        &shots[shots.len().saturating_sub(30)..]
    );
    assert_eq!(after[1].pts, Duration::from_secs(2));
    assert!(after[1].level > 128.0, "the flash at 2 s");
    let beep = heard
        .onsets
        .iter()
        .find(|b| **b > Duration::from_millis(1900))
        .unwrap();
    let off = beep.abs_diff(Duration::from_secs(2));
    assert!(off <= FRAME_25, "beep at {beep:?}");
}

#[test]
fn a_backward_seek_keeps_the_output_timeline_rising() {
    // The default for live outputs: after a seek back, timestamps go on from where the output
    // was; the media plays again from the target, flash and beep still together.
    let dir = tempfile::tempdir().unwrap();
    let clip = av_sync_clip(dir.path(), "sync.mp4", 3, (320, 240), 25);
    let player = Player::open(&clip, PlayerSettings::free_running()).unwrap();
    let (v, a) = ports();
    player.add_video_target(v.clone()).unwrap();
    player.add_audio_target(a.clone()).unwrap();
    let ac = collect_audio(a);
    player.start().unwrap();
    let mut frames = Vec::new();
    let mut seek_sent_at = None;
    loop {
        match v.next(Duration::from_secs(30)) {
            Pull::Frame(f) => {
                // Between the flashes at 1 s and 2 s (the thread is at most a dozen frames
                // ahead, so no beep is cut): back to 0.5 s.
                if seek_sent_at.is_none() && f.pts() >= Duration::from_millis(1400) {
                    player.seek(Duration::from_millis(500)).unwrap();
                    seek_sent_at = Some(frames.len());
                }
                frames.push(f);
            }
            Pull::Ended => break,
            Pull::Pending => panic!("no video for 30 s"),
        }
    }
    let heard = ac.join().unwrap();
    assert!(player.wait(Duration::from_secs(5)));
    for pair in frames.windows(2) {
        assert!(
            pair[1].pts() > pair[0].pts(),
            "timestamps went from {:?} back to {:?}",
            pair[0].pts(),
            pair[1].pts()
        );
        let step = pair[1].pts() - pair[0].pts();
        assert!(
            step <= 2 * FRAME_25,
            "a gap of {step:?} at {:?}",
            pair[1].pts()
        );
    }
    let shots: Vec<Shot> = frames.iter().map(shot).collect();
    let flashes = flashes(&shots);
    // 0 s and 1 s before the seek; the media's 1 s and 2 s again after it.
    assert_eq!(flashes.len(), 4, "{flashes:?}");
    assert_eq!(&flashes[..2], &[Duration::ZERO, Duration::from_secs(1)]);
    assert!(flashes[2] > Duration::from_millis(1400), "{flashes:?}");
    assert_eq!(flashes[3] - flashes[2], Duration::from_secs(1));
    assert_in_sync(&flashes, &heard.onsets, FRAME_25);
    // Audio goes on to the sample through the seek.
    assert_audio_continuous(&heard);
    // After the seek the media restarts at the frame showing at 0.5 s: 0.48 s to the end.
    let after = frames.len() - seek_sent_at.unwrap();
    assert!(after >= 63, "{after} frames after the seek");
    let replayed = &shots[shots.len() - 63..];
    assert_eq!(
        replayed[13].pts - replayed[0].pts,
        Duration::from_millis(520)
    );
    assert!(replayed[13].level > 128.0, "the media's flash at 1 s");
}

#[test]
fn no_drift_over_ten_minutes() {
    // 10 minutes of tiny video at 10 fps with a flash and beep every 10 s, played free-running:
    // the last flash and beep are as close as the first.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=black:s=32x32:r=10:d=600,drawbox=c=white:t=fill:enable='lt(mod(t\\,10)\\,0.09)'",
        "-f",
        "lavfi",
        "-i",
        "aevalsrc='0.2*sin(2*PI*1000*t)*lt(mod(t\\,10)\\,0.1)':s=16000:d=600",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "100",
        "-c:a",
        "aac",
        "-b:a",
        "24k",
        "-shortest",
        path.to_str().unwrap(),
    ]);
    let player = Player::open(&path, PlayerSettings::free_running()).unwrap();
    let (v, a) = ports();
    player.add_video_target(v.clone()).unwrap();
    player.add_audio_target(a.clone()).unwrap();
    let (vc, ac) = (collect_video(v), collect_audio(a));
    player.start().unwrap();
    let (shots, heard) = (vc.join().unwrap(), ac.join().unwrap());
    let flashes = flashes(&shots);
    assert_eq!(flashes.len(), 60);
    assert_in_sync(&flashes, &heard.onsets, Duration::from_millis(100));
    let offset = |i: usize| flashes[i].as_secs_f64() - heard.onsets[i].as_secs_f64();
    let drift = (offset(59) - offset(0)).abs();
    assert!(
        drift < 0.002,
        "offset went from {:.4} to {:.4} s",
        offset(0),
        offset(59)
    );
    assert_audio_continuous(&heard);
}

#[test]
fn real_time_on_a_manual_clock_writes_each_frame_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let clip = av_sync_clip(dir.path(), "rt.mp4", 2, (320, 240), 25);
    let clock = ManualClock::new();
    let settings = PlayerSettings {
        clock: Arc::new(clock.clone()),
        audio: false,
        ..PlayerSettings::default()
    };
    let player = Player::open(&clip, settings).unwrap();
    let video = Port::<VideoFrame>::blocking(100);
    player.add_video_target(video.clone()).unwrap();
    player.start().unwrap();
    let settle = || std::thread::sleep(Duration::from_millis(150));
    settle();
    // At 0 only the first frame is due.
    assert!(
        matches!(video.next(Duration::from_secs(5)), Pull::Frame(f) if f.pts() == Duration::ZERO)
    );
    assert!(matches!(video.next(Duration::ZERO), Pull::Pending));
    clock.advance(Duration::from_millis(40));
    settle();
    assert!(
        matches!(video.next(Duration::from_secs(5)), Pull::Frame(f) if f.pts() == Duration::from_millis(40))
    );
    assert!(matches!(video.next(Duration::ZERO), Pull::Pending));
    assert_eq!(player.position(), Duration::from_millis(40));
    // Paused: the clock moves, the position does not.
    player.pause().unwrap();
    settle();
    clock.advance(Duration::from_secs(5));
    settle();
    assert_eq!(player.state(), PlayState::Paused);
    assert!(matches!(video.next(Duration::ZERO), Pull::Pending));
    assert_eq!(player.position(), Duration::from_millis(40));
    player.resume().unwrap();
    settle();
    clock.advance(Duration::from_millis(40));
    settle();
    assert!(
        matches!(video.next(Duration::from_secs(5)), Pull::Frame(f) if f.pts() == Duration::from_millis(80))
    );
    // A jump of one second: the frames in between are late, dropped and counted, not queued.
    clock.advance(Duration::from_secs(1));
    settle();
    let mut got = Vec::new();
    while let Pull::Frame(f) = video.next(Duration::ZERO) {
        got.push(f.pts());
    }
    assert_eq!(
        got,
        vec![Duration::from_millis(1080)],
        "only the frame due now"
    );
    assert_eq!(player.stats().late_video_dropped, 24);
    player.stop().unwrap();
    assert_eq!(player.state(), PlayState::Stopped);
    assert!(matches!(video.next(Duration::ZERO), Pull::Ended));
}

/// A player held up past its audio lead (the clock jumps a second) drops the sound whose time
/// has passed, as it drops the pictures: what it writes next is due now, so a live mix taking
/// the sound as it comes stays with the pictures.
#[test]
fn real_time_drops_sound_whose_time_has_passed() {
    let dir = tempfile::tempdir().unwrap();
    let clip = av_sync_clip(dir.path(), "late.mp4", 3, (160, 120), 25);
    let clock = ManualClock::new();
    let settings = PlayerSettings {
        clock: Arc::new(clock.clone()),
        ..PlayerSettings::default()
    };
    let player = Player::open(&clip, settings).unwrap();
    let (video, audio) = ports();
    player.add_video_target(video.clone()).unwrap();
    player.add_audio_target(audio.clone()).unwrap();
    player.start().unwrap();
    // Frames until one ends after `past` (waiting for each, however slow the machine).
    let until = |past: Duration| {
        let mut got = Vec::new();
        loop {
            match audio.next(Duration::from_secs(10)) {
                Pull::Frame(f) => {
                    let end = f.end_pts();
                    got.push(f);
                    if end > past {
                        return got;
                    }
                }
                other => panic!("no sound ending after {past:?}: {other:?}"),
            }
        }
    };
    // At 0: the sound up to the audio lead (100 ms) ahead, and nothing later.
    let first = until(Duration::from_millis(100));
    assert!(first.iter().all(|f| f.pts() <= Duration::from_millis(100)));
    assert_eq!(player.stats().late_audio_dropped, 0);
    clock.advance(Duration::from_secs(1));
    // The next frame written is due now: the late ones before it were dropped, not written.
    let after = until(Duration::ZERO);
    let earliest = after[0].end_pts();
    assert!(
        earliest + Duration::from_millis(20) > Duration::from_secs(1),
        "the first sound written after the jump ends at {earliest:?}, a second having passed"
    );
    let dropped = player.stats().late_audio_dropped;
    // About 0.9 s of 1024-sample frames (21.3 ms each) was late.
    assert!(
        (38..=46).contains(&dropped),
        "{dropped} late audio frames dropped"
    );
    // And nothing beyond the lead is written before its time.
    std::thread::sleep(Duration::from_millis(200));
    while let Pull::Frame(f) = audio.next(Duration::ZERO) {
        assert!(
            f.pts() <= Duration::from_millis(1100),
            "written early: {:?}",
            f.pts()
        );
    }
    player.stop().unwrap();
}

/// An MPEG program stream as FFmpeg (and DVD authoring) writes it stores its pictures about
/// 0.7 s ahead of the sound of the same time. Played in real time, the sound must still come
/// with its pictures: before the reader put the two streams back in time order, every frame
/// of sound was decoded late and dropped, and a stream of such a file was silent.
#[test]
fn sound_stored_behind_its_pictures_plays_with_them_in_real_time() {
    let dir = tempfile::tempdir().unwrap();
    let mp4 = av_sync_clip(dir.path(), "sync.mp4", 3, (160, 120), 25);
    let clip = dir.path().join("dvd.mpg");
    ffmpeg(&[
        "-i",
        mp4.to_str().unwrap(),
        "-c:v",
        "mpeg2video",
        "-q:v",
        "2",
        "-c:a",
        "mp2",
        "-b:a",
        "192k",
        "-f",
        "mpeg",
        clip.to_str().unwrap(),
    ]);
    let clock = ManualClock::new();
    let settings = PlayerSettings {
        clock: Arc::new(clock.clone()),
        ..PlayerSettings::default()
    };
    let player = Player::open(&clip, settings).unwrap();
    let (video, audio) = (Port::<VideoFrame>::blocking(4), Port::blocking(64));
    player.add_video_target(video.clone()).unwrap();
    player.add_audio_target(audio.clone()).unwrap();
    let heard = collect_audio(audio);
    player.start().unwrap();
    // The clock moves a frame at a time, each step once the frame due has been written.
    let mut shots = Vec::new();
    loop {
        match video.next(Duration::from_secs(10)) {
            Pull::Frame(f) => {
                assert_eq!(f.pts(), FRAME_25 * shots.len() as u32);
                shots.push(shot(&f));
                clock.advance(FRAME_25);
            }
            Pull::Ended => break,
            Pull::Pending => panic!("no picture after {} frames", shots.len()),
        }
    }
    let heard = heard.join().unwrap();
    assert_eq!(shots.len(), 75);
    assert_eq!(
        player.stats().late_audio_dropped,
        0,
        "sound dropped as late"
    );
    assert_eq!(player.stats().late_video_dropped, 0);
    let samples: usize = heard.frames.iter().map(|f| f.1).sum();
    assert!(
        (142_000..=146_000).contains(&samples),
        "{samples} samples for 3 s"
    );
    assert_audio_continuous(&heard);
    let flashes = flashes(&shots);
    assert_eq!(flashes.len(), 3, "{flashes:?}");
    assert_in_sync(&flashes, &heard.onsets, FRAME_25);
}

#[test]
fn real_time_seek_back_goes_on_after_the_last_frame_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let clip = av_sync_clip(dir.path(), "rt.mp4", 2, (320, 240), 25);
    let clock = ManualClock::new();
    let settings = PlayerSettings {
        clock: Arc::new(clock.clone()),
        audio: false,
        ..PlayerSettings::default()
    };
    let player = Player::open(&clip, settings).unwrap();
    let video = Port::<VideoFrame>::blocking(100);
    player.add_video_target(video.clone()).unwrap();
    player.start().unwrap();
    let settle = || std::thread::sleep(Duration::from_millis(150));
    let frame_pts = |timeout| match video.next(timeout) {
        Pull::Frame(f) => Some(f.pts()),
        _ => None,
    };
    settle();
    assert_eq!(frame_pts(Duration::from_secs(5)), Some(Duration::ZERO));
    clock.advance(Duration::from_millis(400));
    settle();
    assert_eq!(
        frame_pts(Duration::from_secs(5)),
        Some(Duration::from_millis(400))
    );
    // Back to 0.1 s. The output goes on after the frame at 0.4 s (shown until 0.44 s) with the
    // frame showing at 0.1 s (the one at 0.08 s): at 0.42 s, when its time comes, not before.
    player.seek(Duration::from_millis(100)).unwrap();
    settle();
    assert_eq!(frame_pts(Duration::ZERO), None, "nothing before its time");
    assert_eq!(player.timeline_position(), Duration::from_millis(400));
    clock.advance(Duration::from_millis(20));
    settle();
    assert_eq!(
        frame_pts(Duration::from_secs(5)),
        Some(Duration::from_millis(420))
    );
    assert_eq!(player.position(), Duration::from_millis(80), "in the media");
    clock.advance(Duration::from_millis(40));
    settle();
    assert_eq!(
        frame_pts(Duration::from_secs(5)),
        Some(Duration::from_millis(460))
    );
    assert_eq!(frame_pts(Duration::ZERO), None);
    assert_eq!(player.stats().late_video_dropped, 9);
    player.stop().unwrap();
}

#[test]
fn audio_goes_out_as_48k_stereo_whatever_comes_in() {
    let dir = tempfile::tempdir().unwrap();
    for (name, layout, rate) in [
        ("mono.wav", "mono", "22050"),
        ("surround.flac", "5.1", "44100"),
    ] {
        let path = dir.path().join(name);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &format!("sine=f=440:r={rate}:d=1"),
            "-af",
            &format!("pan={layout}|c0=c0"),
            path.to_str().unwrap(),
        ]);
        let info = probe(&path).unwrap();
        assert!(info.video.is_none());
        let player = Player::open(&path, PlayerSettings::free_running()).unwrap();
        let audio = Port::blocking(16);
        player.add_audio_target(audio.clone()).unwrap();
        let heard = collect_audio(audio);
        player.start().unwrap();
        let heard = heard.join().unwrap();
        let samples: usize = heard.frames.iter().map(|f| f.1).sum();
        assert!(
            heard.frames.iter().all(|f| f.2 == 48_000 && f.3 == 2),
            "{name}"
        );
        assert!(
            (47_000..=49_000).contains(&samples),
            "{name}: {samples} samples for 1 s"
        );
        assert!(
            heard.peak > 0.02,
            "{name}: the tone is heard after mixing ({})",
            heard.peak
        );
        assert_audio_continuous(&heard);
    }
}

#[test]
fn other_pixel_formats_become_i420_or_rgba() {
    let dir = tempfile::tempdir().unwrap();
    let yuv444 = dir.path().join("444.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=64x48:r=10:d=1",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv444p",
        yuv444.to_str().unwrap(),
    ]);
    let alpha = dir.path().join("alpha.mov");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red@0.5:s=64x48:r=10:d=1,format=rgba",
        "-c:v",
        "png",
        alpha.to_str().unwrap(),
    ]);
    let nv12 = dir.path().join("nv12.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=64x48:r=10:d=1,format=nv12",
        "-c:v",
        "rawvideo",
        nv12.to_str().unwrap(),
    ]);
    for (path, check) in [(&yuv444, "i420"), (&alpha, "rgba"), (&nv12, "nv12")] {
        let player = Player::open(path, PlayerSettings::free_running()).unwrap();
        let video = Port::blocking(16);
        player.add_video_target(video.clone()).unwrap();
        player.start().unwrap();
        let Pull::Frame(frame) = video.next(Duration::from_secs(10)) else {
            panic!("no frame from {}", path.display());
        };
        let format = frame.format().to_string();
        assert!(format.starts_with(check), "{}: {format}", path.display());
        let rgba = livekit_core::convert::to_rgba(&frame);
        let [r, g, b, _] = rgba.rgba_at(10, 10).unwrap();
        assert!(
            r > 200 && g < 50 && b < 50,
            "{}: red came out as {r},{g},{b}",
            path.display()
        );
        if check == "rgba" {
            assert!(
                (120..=135).contains(&frame.rgba_at(1, 1).unwrap()[3]),
                "alpha kept"
            );
        }
        video.close();
        player.stop().unwrap();
    }
}

#[test]
fn controls_before_start_and_after_the_end_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let clip = av_sync_clip(dir.path(), "c.mp4", 1, (64, 48), 25);
    let player = Player::open(&clip, PlayerSettings::free_running()).unwrap();
    let name = clip.display().to_string();
    assert_eq!(
        player.pause().unwrap_err().to_string(),
        format!("player of {name}: not started")
    );
    assert_eq!(player.duration().map(|d| d.as_millis() / 100), Some(10));
    player.start().unwrap();
    assert_eq!(
        player.start().unwrap_err().to_string(),
        format!("player of {name}: already started")
    );
    assert_eq!(
        player
            .add_video_target(Port::<VideoFrame>::latest())
            .unwrap_err()
            .to_string(),
        format!("player of {name}: targets must be added before start")
    );
    // No targets: it still plays (and ends).
    assert!(player.wait(Duration::from_secs(10)));
    assert_eq!(
        player.seek(Duration::ZERO).unwrap_err().to_string(),
        format!("player of {name}: already finished")
    );
    let _ = Pacing::RealTime;
}

/// A player whose target takes no frames (an output waiting for its destination) is held up
/// in a push: its controls do not wait with it. Once the commands waiting fill their queue,
/// the next one is refused as busy, at once.
#[test]
fn controls_of_a_player_held_up_by_its_target_answer_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let clip = av_sync_clip(dir.path(), "held.mp4", 2, (160, 120), 25);
    let player = Player::open(&clip, PlayerSettings::free_running()).unwrap();
    // Never read: the player blocks on its second frame.
    let video = Port::<VideoFrame>::blocking(1);
    player.add_video_target(video.clone()).unwrap();
    player.start().unwrap();
    let asked = std::time::Instant::now();
    let mut answer = None;
    for n in 0..100 {
        let result = if n % 2 == 0 {
            player.pause()
        } else {
            player.resume()
        };
        if let Err(error) = result {
            answer = Some((n, error.to_string()));
            break;
        }
    }
    let (n, error) = answer.expect("every command was taken");
    assert!(n <= 16, "refused only after {n} commands");
    assert!(
        error.ends_with(
            "held.mp4: busy: earlier commands are still waiting (an output that takes no frames holds it up); try again"
        ),
        "{error}"
    );
    assert!(asked.elapsed() < Duration::from_secs(2));
    // Reading on lets it take its commands again.
    let reader = collect_video(video);
    player.stop().unwrap();
    drop(reader);
}

/// Where each beep of `mixed` (channel 0 of 48 kHz stereo blocks) starts, in seconds of the
/// mixer's time line: the first sample above 0.05 after at least 100 ms below it.
fn beep_onsets(mixed: &[AudioFrame]) -> Vec<f64> {
    let mut onsets = Vec::new();
    let mut quiet = 0usize;
    for block in mixed {
        let first = block.pts().as_secs_f64() * 48_000.0;
        for (i, frame) in block.samples().chunks(2).enumerate() {
            if frame[0].abs() > 0.05 {
                if quiet >= 4_800 {
                    onsets.push((first + i as f64) / 48_000.0);
                }
                quiet = 0;
            } else {
                quiet += 1;
            }
        }
    }
    onsets
}

#[test]
fn sound_that_reaches_the_mix_late_is_heard_at_its_time_not_late() {
    // The soak's program sound moved a frame behind the pictures each time the machine
    // stalled: the mixer placed a file's sound by when it came, so sound written late stayed
    // late. Stamped with the clock and mixed by time, it keeps its place.
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("beeps.wav");
    // A 1 kHz beep of 50 ms every half second, starting exactly on it.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "aevalsrc='0.5*sin(2*PI*1000*t)*lt(mod(t\\,0.5)\\,0.05)':s=48000:d=3.5",
        "-ac",
        "2",
        "-c:a",
        "pcm_s16le",
        wav.to_str().unwrap(),
    ]);
    let clock = ManualClock::new();
    let settings = PlayerSettings {
        clock: Arc::new(clock.clone()),
        ..PlayerSettings::default()
    };
    let player = Player::open(&wav, settings).unwrap();
    let written = Port::<AudioFrame>::blocking(400);
    player.add_clock_audio_target(written.clone()).unwrap();
    let mixer = Mixer::start(MixerSettings {
        clock: Arc::new(clock.clone()),
        ..MixerSettings::default()
    })
    .unwrap();
    // What the player wrote reaches the mixer through this test, which holds it back for
    // 300 ms once (a player, or the thread that hands its sound on, starved of CPU).
    let relay = Port::<AudioFrame>::blocking(400);
    mixer.add_timed_input("file", relay.clone(), 1.0);
    let output = mixer.output();
    player.start().unwrap();
    let ms = Duration::from_millis;
    let (mut now, mut relayed_to) = (Duration::ZERO, Duration::ZERO);
    let (mut held, mut mixed) = (Vec::new(), Vec::new());
    while now < ms(3400) {
        // The player writes ahead of the clock: what is due within 30 ms is there.
        while relayed_to < now + ms(30) {
            match written.next(Duration::from_secs(5)) {
                Pull::Frame(frame) => {
                    relayed_to = frame.pts() + frame.duration();
                    held.push(frame);
                }
                Pull::Pending => panic!("the player wrote nothing for 5 s at {now:?}"),
                Pull::Ended => break,
            }
        }
        if !(ms(1000)..ms(1300)).contains(&now) {
            for frame in held.drain(..) {
                relay.push(frame).unwrap();
            }
        }
        // The block due now, and any before it.
        loop {
            match output.next(Duration::from_secs(5)) {
                Pull::Frame(block) => {
                    let pts = block.pts();
                    mixed.push(block);
                    if pts >= now {
                        break;
                    }
                }
                other => panic!("no block due at {now:?}: {other:?}"),
            }
        }
        // At 2 s the clock jumps 300 ms: the player finds itself late (the machine stalled).
        let step = if now == ms(2000) { ms(300) } else { ms(10) };
        now += step;
        clock.advance(step);
    }
    player.stop().unwrap();
    // Every beep from 0.5 s on starts at its time in the mix (to a millisecond), the two
    // after each hold-up included; the first block was mixed before the player wrote.
    let onsets: Vec<f64> = beep_onsets(&mixed)
        .into_iter()
        .filter(|&t| t > 0.4)
        .collect();
    let wanted = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0];
    assert_eq!(onsets.len(), wanted.len(), "beeps at {onsets:?}");
    for (heard, want) in onsets.iter().zip(wanted) {
        assert!(
            (heard - want).abs() < 0.001,
            "a beep of {want} s heard at {heard:.4} s: {onsets:?}"
        );
    }
    let stats = mixer.stats();
    assert!(stats.late > 0, "the held-back sound came late: {stats:?}");
}
