#![allow(clippy::unwrap_used)]
//! Playlist: one continuous timeline across files of different sizes and rates, silence for
//! files without audio, covers and captions for songs, skipped entries, globs, shuffle, loop.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use livekit_core::{AudioFrame, FrameSource, Port, Pull, VideoFrame};
use livekit_sources::{
    Cover, OpenMediaError, PlayState, PlayerEvent, PlayerSettings, Playlist, PlaylistSettings,
    expand_glob,
};
use livekit_testkit::media::ffmpeg;

fn video_file(path: &Path, size: &str, fps: u32, seconds: &str, audio: bool) -> PathBuf {
    let video = format!("testsrc2=s={size}:r={fps}");
    let mut args = vec!["-f", "lavfi", "-i", &video];
    if audio {
        args.extend(["-f", "lavfi", "-i", "sine=f=440:r=44100"]);
    }
    args.extend([
        "-t",
        seconds,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
    ]);
    if audio {
        args.extend(["-c:a", "aac"]);
    }
    args.push(path.to_str().unwrap());
    ffmpeg(&args);
    path.to_path_buf()
}

fn song(path: &Path, seconds: &str, title: &str, artist: &str) -> PathBuf {
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=f=660:r=44100",
        "-t",
        seconds,
        "-metadata",
        &format!("title={title}"),
        "-metadata",
        &format!("artist={artist}"),
        path.to_str().unwrap(),
    ]);
    path.to_path_buf()
}

fn free() -> PlaylistSettings {
    PlaylistSettings {
        player: PlayerSettings::free_running(),
        ..PlaylistSettings::default()
    }
}

fn run(list: &Playlist) -> (Vec<Shot>, Heard, Vec<PlayerEvent>) {
    let (v, a) = (
        Port::<VideoFrame>::blocking(8),
        Port::<AudioFrame>::blocking(64),
    );
    list.add_video_target(v.clone()).unwrap();
    list.add_audio_target(a.clone()).unwrap();
    let (vc, ac) = (collect_video(v), collect_audio(a));
    list.start().unwrap();
    let (shots, heard) = (vc.join().unwrap(), ac.join().unwrap());
    assert!(list.wait(Duration::from_secs(10)));
    (shots, heard, list.events().try_iter().collect())
}

#[test]
fn three_files_of_different_sizes_make_one_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        video_file(&dir.path().join("a.mp4"), "320x240", 25, "1.2", true),
        video_file(&dir.path().join("b.mkv"), "640x360", 30, "1", true),
        // No audio: silence fills its time.
        video_file(&dir.path().join("c.mp4"), "160x120", 15, "1", false),
    ];
    let list = Playlist::new(&files, free()).unwrap();
    let (shots, heard, events) = run(&list);
    assert_eq!(list.state(), PlayState::Ended);

    // Every frame of every file, in order, each size in turn.
    assert_eq!(shots.len(), 30 + 30 + 15);
    let sizes: Vec<(u32, u32)> = shots.iter().map(|s| (s.width, s.height)).collect();
    assert_eq!(sizes[0], (320, 240));
    assert_eq!(sizes[30], (640, 360));
    assert_eq!(sizes[60], (160, 120));
    // Timestamps strictly rise and never jump by more than one frame (of the slowest file).
    for pair in shots.windows(2) {
        assert!(pair[1].pts > pair[0].pts, "{pair:?}");
        let step = pair[1].pts - pair[0].pts;
        assert!(
            step <= Duration::from_micros(66_700),
            "gap of {step:?} at {:?}",
            pair[1].pts
        );
    }
    // The joins: the next file starts one frame after the previous one's last frame.
    // (Matroska stores milliseconds: 30 fps frames land up to 0.5 ms off.)
    assert!(shots[30].pts.abs_diff(Duration::from_millis(1200)) < Duration::from_millis(1));
    assert!(shots[60].pts.abs_diff(Duration::from_millis(2200)) < Duration::from_millis(1));
    // Audio: continuous to the sample through the joins and the silent file, as long as the
    // video.
    assert_audio_continuous(&heard);
    let (last_pts, n, rate, _) = *heard.frames.last().unwrap();
    let audio_end = last_pts + Duration::from_secs_f64(n as f64 / f64::from(rate));
    let video_end = shots.last().unwrap().pts + Duration::from_micros(66_667);
    assert!(
        audio_end.abs_diff(video_end) < Duration::from_millis(25),
        "{audio_end:?} vs {video_end:?}"
    );
    assert_eq!(heard.frames.first().unwrap().0, Duration::ZERO);
    // One NowPlaying per file, then the end.
    let started: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            PlayerEvent::NowPlaying(n) => Some(n.index),
            _ => None,
        })
        .collect();
    assert_eq!(started, vec![0, 1, 2]);
    assert!(matches!(events.last(), Some(PlayerEvent::EndOfStream)));
}

#[test]
fn songs_show_the_cover_image_and_a_caption() {
    let dir = tempfile::tempdir().unwrap();
    let cover = dir.path().join("cover.png");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=0x00ff00:s=64x48",
        "-frames:v",
        "1",
        cover.to_str().unwrap(),
    ]);
    let song = song(&dir.path().join("song.mp3"), "1", "Song", "Band");
    let settings = PlaylistSettings {
        cover: Cover::Image(cover),
        cover_frame_rate: 10,
        ..free()
    };
    let list = Playlist::new([&song], settings).unwrap();
    let now = list.now_playing().unwrap();
    assert_eq!(now.caption.as_deref(), Some("Song - Band"));
    assert!(!now.has_video);
    let (shots, heard, events) = run(&list);
    // The cover for the whole song, at 10 frames a second, green.
    assert!((10..=11).contains(&shots.len()), "{}", shots.len());
    assert!(shots.iter().all(|s| (s.width, s.height) == (64, 48)));
    assert!(heard.peak > 0.05, "the song is heard: {}", heard.peak);
    let caption = events.iter().find_map(|e| match e {
        PlayerEvent::NowPlaying(n) => n.caption.clone(),
        _ => None,
    });
    assert_eq!(caption.as_deref(), Some("Song - Band"));

    // Captions can be turned off.
    let list = Playlist::new(
        [&song],
        PlaylistSettings {
            captions: false,
            ..free()
        },
    )
    .unwrap();
    assert_eq!(list.now_playing().unwrap().caption, None);
}

#[test]
fn songs_show_their_own_cover_art() {
    let dir = tempfile::tempdir().unwrap();
    let art = dir.path().join("art.png");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=white:s=80x60",
        "-frames:v",
        "1",
        art.to_str().unwrap(),
    ]);
    let with_art = dir.path().join("with-art.mp3");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=f=660:r=44100:d=1",
        "-i",
        art.to_str().unwrap(),
        "-map",
        "0:a",
        "-map",
        "1:v",
        "-c:v",
        "png",
        "-disposition:v",
        "attached_pic",
        with_art.to_str().unwrap(),
    ]);
    let plain = song(&dir.path().join("plain.mp3"), "1", "T", "A");
    let list = Playlist::new(
        [&with_art, &plain],
        PlaylistSettings {
            cover_frame_rate: 10,
            ..free()
        },
    )
    .unwrap();
    assert!(!list.now_playing().unwrap().has_video, "art is not a video");
    let (shots, heard, _) = run(&list);
    assert!(heard.peak > 0.05, "the songs are heard: {}", heard.peak);
    // The first song shows its white 80x60 art, the second the black default cover.
    let (art_shots, black): (Vec<&Shot>, Vec<&Shot>) = shots.iter().partition(|s| s.width == 80);
    assert!((10..=11).contains(&art_shots.len()), "{shots:?}");
    assert!(
        art_shots.iter().all(|s| s.height == 60 && s.level > 200.0),
        "{art_shots:?}"
    );
    assert!((10..=11).contains(&black.len()), "{shots:?}");
    assert!(
        black
            .iter()
            .all(|s| (s.width, s.height) == (1280, 720) && s.level < 20.0),
        "{black:?}"
    );
    assert!(
        art_shots
            .iter()
            .all(|a| black.iter().all(|b| a.pts < b.pts))
    );

    // Turned off, every song shows the cover.
    let list = Playlist::new(
        [&with_art],
        PlaylistSettings {
            cover_frame_rate: 10,
            album_art: false,
            ..free()
        },
    )
    .unwrap();
    let (shots, _, _) = run(&list);
    assert!(
        !shots.is_empty() && shots.iter().all(|s| s.width == 1280),
        "{shots:?}"
    );
}

#[test]
fn songs_can_show_a_looping_video() {
    let dir = tempfile::tempdir().unwrap();
    let loop_video = video_file(&dir.path().join("loop.mp4"), "96x64", 10, "0.5", false);
    let song = song(&dir.path().join("song.m4a"), "1.6", "T", "A");
    let settings = PlaylistSettings {
        cover: Cover::Video(loop_video),
        ..free()
    };
    let list = Playlist::new([&song], settings).unwrap();
    let (shots, heard, _) = run(&list);
    // 0.5 s of video looped over 1.6 s: 16 or 17 frames, 100 ms apart, rising.
    assert!((16..=17).contains(&shots.len()), "{}", shots.len());
    for (i, s) in shots.iter().enumerate() {
        assert_eq!(s.pts, Duration::from_millis(100 * i as u64));
        assert_eq!((s.width, s.height), (96, 64));
    }
    assert_audio_continuous(&heard);
}

#[test]
fn entries_that_fail_are_skipped_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.mp4");
    let junk = dir.path().join("junk.mkv");
    std::fs::write(&junk, b"this is not a video").unwrap();
    let good = video_file(&dir.path().join("good.mp4"), "64x48", 10, "0.5", true);
    let list = Playlist::new([&missing, &good, &junk], free()).unwrap();
    let (shots, _, events) = run(&list);
    assert_eq!(shots.len(), 5);
    let skipped: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            PlayerEvent::Skipped(error) => Some(error.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(
        skipped,
        vec![
            format!("media file {}: no such file", missing.display()),
            format!(
                "media {}: not a media file FFmpeg can read (Invalid data found when processing input)",
                junk.display()
            ),
        ]
    );
    assert!(matches!(events.last(), Some(PlayerEvent::EndOfStream)));

    // Nothing playable: an error that names every entry.
    let error = Playlist::new([&missing, &junk], free()).unwrap_err();
    assert!(matches!(error, OpenMediaError::NothingPlayable { .. }));
    let message = error.to_string();
    assert!(
        message.starts_with("playlist: nothing playable ("),
        "{message}"
    );
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
    assert!(message.contains(&junk.display().to_string()), "{message}");
    let empty: [&Path; 0] = [];
    assert_eq!(
        Playlist::new(empty, free()).unwrap_err().to_string(),
        "playlist: nothing playable (the list is empty)"
    );
}

#[test]
fn glob_sorted_shuffle_and_endless_loop() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["b.mp4", "a.mp4", "c.mp4"] {
        video_file(&dir.path().join(name), "64x48", 10, "0.3", true);
    }
    std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
    let pattern = format!("{}/*.mp4", dir.path().display());
    let found = expand_glob(&pattern).unwrap();
    let names: Vec<_> = found
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["a.mp4", "b.mp4", "c.mp4"]);
    assert_eq!(
        expand_glob(&format!("{}/*.flac", dir.path().display()))
            .unwrap_err()
            .to_string(),
        format!(
            "playlist pattern {}/*.flac: no file matches",
            dir.path().display()
        )
    );
    // Sets of characters, as in a shell.
    let found = expand_glob(&format!("{}/[ac].mp?", dir.path().display())).unwrap();
    assert_eq!(found, [dir.path().join("a.mp4"), dir.path().join("c.mp4")]);
    let found = expand_glob(&format!("{}/[!a]*.mp4", dir.path().display())).unwrap();
    assert_eq!(found, [dir.path().join("b.mp4"), dir.path().join("c.mp4")]);
    // A pattern that is not one is said to be so.
    let error = expand_glob(&format!("{}/[ab.mp4", dir.path().display()))
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(&format!(
            "playlist pattern {}/[ab.mp4: not a pattern: ",
            dir.path().display()
        )),
        "{error}"
    );

    // Shuffled and looping: every pass plays each file once; timestamps keep rising.
    let settings = PlaylistSettings {
        shuffle: true,
        seed: Some(7),
        player: PlayerSettings {
            looping: true,
            ..PlayerSettings::free_running()
        },
        ..PlaylistSettings::default()
    };
    let list = Playlist::from_glob(&pattern, settings).unwrap();
    let (v, a) = (
        Port::<VideoFrame>::blocking(8),
        Port::<AudioFrame>::blocking(64),
    );
    list.add_video_target(v.clone()).unwrap();
    list.add_audio_target(a.clone()).unwrap();
    let (vc, ac) = (collect_video(v), collect_audio(a));
    list.start().unwrap();
    let events = list.events();
    let mut order = Vec::new();
    loop {
        match events.recv_timeout(Duration::from_secs(20)).unwrap() {
            PlayerEvent::NowPlaying(n) => order.push(n.index),
            PlayerEvent::Looped { count: 2 } => break,
            _ => {}
        }
    }
    list.stop().unwrap();
    let (shots, heard) = (vc.join().unwrap(), ac.join().unwrap());
    assert_eq!(order.len(), 6, "{order:?}");
    for pass in order.chunks(3) {
        let mut sorted = pass.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, [0, 1, 2], "{order:?}");
    }
    assert!(shots.windows(2).all(|w| w[1].pts > w[0].pts));
    assert_audio_continuous(&heard);
}

/// `seconds` of one grey level (luma `level` in 0..=255 before limited range) at 25 fps, whose
/// first frame is white, with a tone; 160x120.
fn marked_file(path: &Path, level: u8, seconds: &str) -> PathBuf {
    let video = format!(
        "color=c=0x{level:02x}{level:02x}{level:02x}:s=160x120:r=25,drawbox=c=white:t=fill:enable='lt(t\\,0.03)'"
    );
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &video,
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:r=48000",
        "-t",
        seconds,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        path.to_str().unwrap(),
    ]);
    path.to_path_buf()
}

/// Which of the marked files a frame comes from (by its grey), or `W` for a first frame.
fn which(shot: &Shot) -> char {
    match shot.level {
        l if l > 200.0 => 'W',
        l if l < 50.0 => '0',
        l if l < 110.0 => '1',
        _ => '2',
    }
}

/// Reads video until `stop` says so (true: stop after this frame) or the end.
fn read_video(port: &Port<VideoFrame>, shots: &mut Vec<Shot>, mut stop: impl FnMut(&Shot) -> bool) {
    loop {
        match port.next(Duration::from_secs(30)) {
            Pull::Frame(f) => {
                let s = shot(&f);
                shots.push(s);
                if stop(&s) {
                    return;
                }
            }
            Pull::Ended => return,
            Pull::Pending => panic!("no video for 30 s"),
        }
    }
}

#[test]
fn skip_next_previous_and_seek_on_the_list_timeline_keep_one_rising_timeline() {
    let dir = tempfile::tempdir().unwrap();
    // Dark, mid and light grey: 2 s each, each starting with one white frame.
    let files = [
        marked_file(&dir.path().join("0.mp4"), 0x10, "2"),
        marked_file(&dir.path().join("1.mkv"), 0x50, "2"),
        marked_file(&dir.path().join("2.mp4"), 0xa0, "2"),
    ];
    let list = Playlist::new(&files, free()).unwrap();
    let (v, a) = (
        Port::<VideoFrame>::blocking(4),
        Port::<AudioFrame>::blocking(64),
    );
    list.add_video_target(v.clone()).unwrap();
    list.add_audio_target(a.clone()).unwrap();
    let ac = collect_audio(a);
    let events = list.events();
    list.start().unwrap();
    let mut shots = Vec::new();
    // Entry 0 for half a second, then on to entry 1.
    read_video(&v, &mut shots, |s| s.pts >= Duration::from_millis(500));
    list.skip_next().unwrap();
    read_video(&v, &mut shots, |s| which(s) == '1');
    // Entry 1 for ten frames, then back to entry 0 (its first frame again).
    let mut seen = 0;
    read_video(&v, &mut shots, |s| {
        seen += usize::from(which(s) == '1');
        seen == 10
    });
    list.skip_previous().unwrap();
    read_video(&v, &mut shots, |s| which(s) == '0');
    // Into the middle of entry 2 on the list's timeline (2 s + 2 s + 0.5 s): no first frame.
    list.seek(Duration::from_millis(4500)).unwrap();
    read_video(&v, &mut shots, |_| false);
    assert!(list.wait(Duration::from_secs(10)));
    let heard = ac.join().unwrap();

    // One timeline: strictly rising, never more than two frames apart.
    for pair in shots.windows(2) {
        assert!(pair[1].pts > pair[0].pts, "{pair:?}");
        let step = pair[1].pts - pair[0].pts;
        assert!(
            step <= Duration::from_millis(80),
            "a gap of {step:?} at {:?}",
            pair[1].pts
        );
    }
    assert_audio_continuous(&heard);
    // What was shown, run-length coded: entry 0 from its first frame, entry 1 from its first
    // frame, entry 0 again from its first frame, then entry 2 from its middle to its end.
    let mut runs: Vec<(char, usize)> = Vec::new();
    for s in &shots {
        match runs.last_mut() {
            Some((c, n)) if *c == which(s) => *n += 1,
            _ => runs.push((which(s), 1)),
        }
    }
    let kinds: String = runs.iter().map(|(c, _)| *c).collect();
    assert_eq!(kinds, "W0W1W02", "{runs:?}");
    // Entry 2 plays from about 0.5 s (the entries' lengths are their containers' durations,
    // a little over 2 s with AAC) to its end: about 38 of its 50 frames.
    assert!((34..=40).contains(&runs.last().unwrap().1), "{runs:?}");
    let started: Vec<usize> = events
        .try_iter()
        .filter_map(|e| match e {
            PlayerEvent::NowPlaying(n) => Some(n.index),
            _ => None,
        })
        .collect();
    assert_eq!(started, vec![0, 1, 0, 2]);
    assert_eq!(list.state(), PlayState::Ended);
}

#[test]
fn skip_and_seek_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let file = marked_file(&dir.path().join("0.mp4"), 0x10, "1");
    let list = Playlist::new([&file], free()).unwrap();
    assert_eq!(
        list.skip_next().unwrap_err().to_string(),
        "player of playlist of 1: not started"
    );
    assert_eq!(
        list.skip_to(1).unwrap_err().to_string(),
        "player of playlist of 1: no entry 1 (the list has 1)"
    );
    // Past the end of the list's timeline.
    let (v, a) = (
        Port::<VideoFrame>::blocking(4),
        Port::<AudioFrame>::blocking(64),
    );
    list.add_video_target(v.clone()).unwrap();
    list.add_audio_target(a.clone()).unwrap();
    let ac = collect_audio(a);
    list.start().unwrap();
    list.seek(Duration::from_secs(30)).unwrap();
    let mut shots = Vec::new();
    read_video(&v, &mut shots, |_| false);
    let _ = ac.join().unwrap();
    let warnings: Vec<String> = list
        .events()
        .try_iter()
        .filter_map(|e| match e {
            PlayerEvent::Warning(w) => Some(w),
            _ => None,
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("playlist: cannot seek to 30.000 s: the list is 1.0"),
        "{warnings:?}"
    );
    // Every frame of the file was still played.
    assert_eq!(shots.len(), 25);
}

#[test]
fn skip_to_an_entry_plays_it_from_its_start_and_goes_on_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        marked_file(&dir.path().join("0.mp4"), 0x10, "1"),
        marked_file(&dir.path().join("1.mp4"), 0x50, "1"),
        marked_file(&dir.path().join("2.mp4"), 0xa0, "1"),
    ];
    let list = Playlist::new(&files, free()).unwrap();
    let (v, a) = (
        Port::<VideoFrame>::blocking(4),
        Port::<AudioFrame>::blocking(64),
    );
    list.add_video_target(v.clone()).unwrap();
    list.add_audio_target(a.clone()).unwrap();
    let ac = collect_audio(a);
    list.start().unwrap();
    let mut shots = Vec::new();
    read_video(&v, &mut shots, |s| s.pts >= Duration::from_millis(300));
    list.skip_to(1).unwrap();
    read_video(&v, &mut shots, |_| false);
    let heard = ac.join().unwrap();
    assert!(shots.windows(2).all(|w| w[1].pts > w[0].pts));
    assert_audio_continuous(&heard);
    let mut kinds = String::new();
    for s in &shots {
        if !kinds.ends_with(which(s)) {
            kinds.push(which(s));
        }
    }
    // Entry 0 cut short, entry 1 whole from its first frame, then entry 2 whole.
    assert_eq!(kinds, "W0W1W2");
    let entry_2 = shots.iter().rev().take_while(|s| which(s) != 'W').count();
    assert_eq!(entry_2, 24, "entry 2 plays whole after its first frame");
}
