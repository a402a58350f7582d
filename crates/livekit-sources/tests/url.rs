#![allow(clippy::unwrap_used)]
//! URL input: play a live stream from a local nginx-rtmp that the ffmpeg CLI publishes into,
//! an SRT stream through a real SRT listener (srt-live-transmit), and HLS from a local HTTP
//! server (nginx) serving a playlist the ffmpeg CLI made.

use std::process::{Command, Stdio};
use std::time::Duration;

use livekit_core::convert::to_rgba;
use livekit_core::{AudioFrame, FrameSource, Port, Pull, VideoFrame};
use livekit_sources::{ControlError, PlayState, Player, PlayerEvent, PlayerSettings, probe};
use livekit_testkit::NginxRtmp;
use livekit_testkit::media::ffmpeg;
use livekit_testkit::{ChildGuard, HttpFiles, SrtRelay};

/// Reads `count` video frames and some audio from a started player; checks every frame is
/// 320x240 and red in its middle, timestamps rise, and the tone is heard at 48 kHz stereo.
fn assert_red_frames_and_tone(
    url: &str,
    video: &Port<VideoFrame>,
    audio: &Port<AudioFrame>,
    count: usize,
) {
    let mut frames = Vec::new();
    while frames.len() < count {
        match video.next(Duration::from_secs(15)) {
            Pull::Frame(f) => frames.push(f),
            other => panic!(
                "no video from {url} after {} frames: {other:?}",
                frames.len()
            ),
        }
    }
    for frame in &frames {
        assert_eq!((frame.width(), frame.height()), (320, 240));
        let [r, g, b, _] = to_rgba(frame).rgba_at(160, 120).unwrap();
        assert!(
            r > 200 && g < 60 && b < 60,
            "{url}: the red picture came out as {r},{g},{b} at {:?}",
            frame.pts()
        );
    }
    assert!(frames.windows(2).all(|w| w[1].pts() > w[0].pts()));
    // Half a second of sound: the tone (ffmpeg's sine is at 1/8 of full scale) at 440 Hz,
    // counted by the left channel's upward zero crossings.
    let mut peak = 0f32;
    let mut left: Vec<f32> = Vec::new();
    while left.len() < 48_000 / 2 {
        match audio.next(Duration::from_secs(10)) {
            Pull::Frame(sound) => {
                assert_eq!((sound.sample_rate(), sound.channels()), (48_000, 2));
                peak = sound.samples().iter().fold(peak, |m, s| m.max(s.abs()));
                left.extend(sound.samples().iter().step_by(2));
            }
            other => panic!(
                "no audio from {url} after {} samples: {other:?}",
                left.len()
            ),
        }
    }
    assert!(peak > 0.06, "{url}: the tone is heard (peak {peak})");
    let rising = left
        .windows(2)
        .filter(|w| w[0] < 0.0 && w[1] >= 0.0)
        .count();
    let hz = rising as f64 / (left.len() as f64 / 48_000.0);
    assert!(
        (420.0..460.0).contains(&hz),
        "{url}: a tone of {hz:.0} Hz, not 440"
    );
}

/// Red 320x240 at 25 fps with a 440 Hz tone, in H.264 (a keyframe a second) and AAC.
const RED: &str = "color=c=red:s=320x240:r=25";
const TONE: &str = "sine=f=440:r=48000";
const CODECS: [&str; 12] = [
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-g",
    "25",
    "-pix_fmt",
    "yuv420p",
    "-c:a",
    "aac",
    "-ac",
    "2",
];

#[test]
fn plays_an_srt_stream_through_a_real_listener() {
    // ffmpeg sends MPEG-TS over UDP into srt-live-transmit, which serves it to one SRT
    // caller: the player.
    let relay = SrtRelay::start();
    let publisher = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args([
            "-f", "lavfi", "-i", RED, "-f", "lavfi", "-i", TONE, "-t", "30",
        ])
        .args(CODECS)
        .args(["-tune", "zerolatency", "-f", "mpegts", &relay.input_url()])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut publisher = ChildGuard::new("ffmpeg publisher", publisher);
    let url = relay.url();
    let player = Player::open(&url, PlayerSettings::default())
        .unwrap_or_else(|e| panic!("{e}; srt-live-transmit said:\n{}", relay.log()));
    assert_eq!(player.name(), url);
    let video = Port::<VideoFrame>::blocking(64);
    let audio = Port::<AudioFrame>::drop_oldest(256);
    player.add_video_target(video.clone()).unwrap();
    player.add_audio_target(audio.clone()).unwrap();
    player.start().unwrap();
    assert_red_frames_and_tone(&url, &video, &audio, 25);
    assert!(matches!(
        player.seek(Duration::ZERO),
        Err(ControlError::NotSeekable { .. })
    ));
    player.stop().unwrap();
    assert_eq!(player.state(), PlayState::Stopped);
    publisher.stop();
}

#[test]
fn plays_hls_from_an_http_server() {
    // A 4 s VOD playlist of 1 s segments, made now and served by nginx on 127.0.0.1.
    let dir = tempfile::tempdir().unwrap();
    let playlist = dir.path().join("index.m3u8");
    let mut args = vec![
        "-f", "lavfi", "-i", RED, "-f", "lavfi", "-i", TONE, "-t", "4",
    ];
    args.extend(CODECS);
    args.extend(["-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod"]);
    args.push(playlist.to_str().unwrap());
    ffmpeg(&args);
    let server = HttpFiles::start(dir.path());
    let url = server.url("index.m3u8");
    let info = probe(&url).unwrap();
    assert_eq!(info.display_size(), Some((320, 240)));

    let player = Player::open(&url, PlayerSettings::free_running()).unwrap();
    let video = Port::<VideoFrame>::blocking(128);
    let audio = Port::<AudioFrame>::blocking(512);
    player.add_video_target(video.clone()).unwrap();
    player.add_audio_target(audio.clone()).unwrap();
    player.start().unwrap();
    assert_red_frames_and_tone(&url, &video, &audio, 50);
    // Every segment arrives: 4 s at 25 fps, then the end.
    let mut rest = 0;
    while let Pull::Frame(_) = video.next(Duration::from_secs(15)) {
        rest += 1;
    }
    assert_eq!(50 + rest, 100, "frames of 4 s at 25 fps");
    while let Pull::Frame(_) = audio.next(Duration::from_secs(15)) {}
    assert!(player.wait(Duration::from_secs(10)));
    let events: Vec<_> = player.events().try_iter().collect();
    assert!(
        matches!(events.last(), Some(PlayerEvent::EndOfStream)),
        "{events:?}"
    );
    // The server saw the playlist and every segment asked for.
    let log = server.access_log();
    assert!(log.contains("GET /index.m3u8"), "{log}");
    assert!(log.contains("GET /index3.ts"), "{log}");
}

#[test]
fn a_file_over_http_loops() {
    // 1 s of MP4 on an HTTP server (nginx: byte ranges, so the player can seek back).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clip.mp4");
    let mut args = vec![
        "-f", "lavfi", "-i", RED, "-f", "lavfi", "-i", TONE, "-t", "1",
    ];
    args.extend(CODECS);
    args.push(file.to_str().unwrap());
    ffmpeg(&args);
    let server = HttpFiles::start(dir.path());
    let url = server.url("clip.mp4");
    let player = Player::open(
        &url,
        PlayerSettings {
            looping: true,
            ..PlayerSettings::free_running()
        },
    )
    .unwrap();
    let video = Port::<VideoFrame>::blocking(128);
    let audio = Port::<AudioFrame>::blocking(512);
    player.add_video_target(video.clone()).unwrap();
    player.add_audio_target(audio.clone()).unwrap();
    player.start().unwrap();
    // Three times round: 75 frames of a 25-frame file, timestamps rising.
    assert_red_frames_and_tone(&url, &video, &audio, 75);
    player.stop().unwrap();
    let looped = player
        .events()
        .try_iter()
        .filter(|e| matches!(e, PlayerEvent::Looped { .. }))
        .count();
    assert!(looped >= 2, "looped {looped} times");
}

#[test]
fn plays_a_live_rtmp_stream() {
    let server = NginxRtmp::start();
    let url = server.url("test");
    let publisher = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=s=320x240:r=25"])
        .args(["-f", "lavfi", "-i", "sine=f=440:r=44100"])
        .args([
            "-t",
            "20",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
        ])
        .args([
            "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv", &url,
        ])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut publisher = ChildGuard::new("ffmpeg publisher", publisher);
    // Let the publish start before playing it.
    std::thread::sleep(Duration::from_millis(1500));

    let info = probe(&url).unwrap();
    assert_eq!(info.name, format!("{}/<redacted>", server.app_url()));
    assert_eq!(info.display_size(), Some((320, 240)));
    assert_eq!(info.audio.as_ref().unwrap().codec, "aac");

    let player = Player::open(&url, PlayerSettings::default()).unwrap();
    assert_eq!(player.name(), format!("{}/<redacted>", server.app_url()));
    let video = Port::<VideoFrame>::blocking(64);
    let audio = Port::<AudioFrame>::drop_oldest(256);
    player.add_video_target(video.clone()).unwrap();
    player.add_audio_target(audio.clone()).unwrap();
    player.start().unwrap();
    let mut frames = Vec::new();
    while frames.len() < 25 {
        match video.next(Duration::from_secs(10)) {
            Pull::Frame(f) => frames.push(f),
            other => panic!("no video from {url}: {other:?}"),
        }
    }
    assert!(frames.iter().all(|f| (f.width(), f.height()) == (320, 240)));
    assert!(frames.windows(2).all(|w| w[1].pts() > w[0].pts()));
    let Pull::Frame(sound) = audio.next(Duration::from_secs(5)) else {
        panic!("no audio");
    };
    assert_eq!((sound.sample_rate(), sound.channels()), (48_000, 2));
    // Live streams cannot seek.
    assert!(matches!(
        player.seek(Duration::ZERO),
        Err(ControlError::NotSeekable { .. })
    ));
    player.stop().unwrap();
    assert_eq!(player.state(), PlayState::Stopped);
    publisher.stop();
}
