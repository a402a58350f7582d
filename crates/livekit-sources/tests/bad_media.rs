#![allow(clippy::unwrap_used)]
//! Bad media: each case is a clear error naming the file, or played gracefully.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use livekit_core::{AudioFrame, Port, VideoFrame};
use livekit_sources::{
    OpenMediaError, PlayError, PlayState, Player, PlayerEvent, PlayerSettings, probe,
};
use livekit_testkit::media::ffmpeg;

fn h264_clip(path: &Path, size: &str, seconds: &str) {
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=s={size}:r=25"),
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
        "-g",
        "25",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        path.to_str().unwrap(),
    ]);
}

/// Plays `path` free-running to the end; returns the frames seen and every event.
fn play(path: &Path) -> (Vec<Shot>, Heard, Vec<PlayerEvent>, PlayState) {
    let player = Player::open(path, PlayerSettings::free_running()).unwrap();
    let (v, a) = (
        Port::<VideoFrame>::blocking(8),
        Port::<AudioFrame>::blocking(64),
    );
    player.add_video_target(v.clone()).unwrap();
    player.add_audio_target(a.clone()).unwrap();
    let (vc, ac) = (collect_video(v), collect_audio(a));
    player.start().unwrap();
    let (shots, heard) = (vc.join().unwrap(), ac.join().unwrap());
    assert!(player.wait(Duration::from_secs(10)));
    let events = player.events().try_iter().collect();
    (shots, heard, events, player.state())
}

fn open_error(path: &Path) -> String {
    let from_probe = probe(path).unwrap_err().to_string();
    let from_player = Player::open(path, PlayerSettings::default())
        .unwrap_err()
        .to_string();
    assert_eq!(from_probe, from_player);
    from_probe
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.mp4");
    assert_eq!(
        open_error(&path),
        format!("media file {}: no such file", path.display())
    );
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.mp4");
    std::fs::write(&path, b"").unwrap();
    assert_eq!(
        open_error(&path),
        format!("media file {}: the file is empty", path.display())
    );
}

#[test]
fn a_directory() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        open_error(dir.path()),
        format!(
            "media file {}: cannot read: it is a directory",
            dir.path().display()
        )
    );
}

#[test]
fn random_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("noise.mp4");
    // A fixed pseudo-random sequence (xorshift), 64 KiB.
    let mut x = 0x1234_5678_9abc_def0u64;
    let bytes: Vec<u8> = (0..65536)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&path, bytes).unwrap();
    assert_eq!(
        open_error(&path),
        format!(
            "media {}: not a media file FFmpeg can read (Invalid data found when processing input)",
            path.display()
        )
    );
}

#[test]
fn mp4_cut_before_its_index_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.mp4");
    h264_clip(&full, "320x240", "2");
    let cut = dir.path().join("cut.mp4");
    let bytes = std::fs::read(&full).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    // The index (moov) is at the end of a plain mp4: nothing can be found without it.
    assert_eq!(
        open_error(&cut),
        format!(
            "media {}: not a media file FFmpeg can read (Invalid data found when processing input)",
            cut.display()
        )
    );
}

#[test]
fn truncated_file_plays_what_decodes_warns_and_ends() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.mkv");
    h264_clip(&full, "320x240", "4");
    let cut = dir.path().join("cut.mkv");
    let bytes = std::fs::read(&full).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let (shots, heard, events, state) = play(&cut);
    assert_eq!(state, PlayState::Ended);
    assert!(
        (20..90).contains(&shots.len()),
        "about half of the 100 frames: {}",
        shots.len()
    );
    assert!(!heard.frames.is_empty());
    let warning = events
        .iter()
        .find_map(|e| match e {
            PlayerEvent::Warning(w) if w.contains("truncated") => Some(w.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no truncation warning in {events:?}"));
    assert!(
        warning.starts_with(&format!("media {}: ended at ", cut.display())),
        "{warning}"
    );
    assert!(matches!(events.last(), Some(PlayerEvent::EndOfStream)));
}

#[test]
fn unsupported_codec() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=s=64x48:r=10",
        "-t",
        "1",
        "-c:v",
        "libx264",
        good.to_str().unwrap(),
    ]);
    // The same file with a codec id nobody knows.
    let bytes = std::fs::read(&good).unwrap();
    let at = bytes
        .windows(15)
        .position(|w| w == b"V_MPEG4/ISO/AVC")
        .unwrap();
    let mut bad = bytes.clone();
    bad[at..at + 15].copy_from_slice(b"V_MPEG4/ISO/ZZZ");
    let path = dir.path().join("unknown-codec.mkv");
    std::fs::write(&path, bad).unwrap();
    let info = probe(&path).unwrap();
    let video = info.video.unwrap();
    assert_eq!(video.codec, "none");
    assert!(!video.decodable);
    let error = Player::open(&path, PlayerSettings::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "media {}: unsupported video codec none (this FFmpeg has no decoder for it)",
            path.display()
        )
    );
    assert!(matches!(
        error,
        OpenMediaError::UnsupportedCodec { kind: "video", .. }
    ));
}

#[test]
fn streams_of_zero_length() {
    let dir = tempfile::tempdir().unwrap();
    // A container with no stream at all...
    let none = dir.path().join("none.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=s=64x48:r=10",
        "-frames:v",
        "0",
        "-c:v",
        "libx264",
        none.to_str().unwrap(),
    ]);
    assert_eq!(
        open_error(&none),
        format!("media {}: no audio or video stream", none.display())
    );
    // ... and one whose streams have no frame: a Matroska header with its tracks and no
    // cluster.
    let full = dir.path().join("full.mkv");
    h264_clip(&full, "64x48", "1");
    let bytes = std::fs::read(&full).unwrap();
    let cluster = bytes
        .windows(4)
        .position(|w| w == [0x1f, 0x43, 0xb6, 0x75])
        .unwrap();
    let empty = dir.path().join("no-frames.mkv");
    std::fs::write(&empty, &bytes[..cluster]).unwrap();
    assert_eq!(
        open_error(&empty),
        format!(
            "media {}: the file ends before its first frame (truncated, or streams of zero length)",
            empty.display()
        )
    );
    // The same header with the start of a cluster whose first block is cut short: it opens,
    // then nothing decodes: the player ends with this error event.
    let cut = dir.path().join("cut-in-first-block.mkv");
    std::fs::write(&cut, &bytes[..cluster + 40]).unwrap();
    let (shots, heard, events, state) = play(&cut);
    assert!(shots.is_empty() && heard.frames.is_empty());
    assert_eq!(state, PlayState::Ended);
    assert_eq!(
        events.last(),
        Some(&PlayerEvent::Failed(PlayError::NothingDecoded {
            name: cut.display().to_string()
        }))
    );
    assert_eq!(
        PlayError::NothingDecoded {
            name: empty.display().to_string()
        }
        .to_string(),
        format!(
            "media {}: no audio or video frame could be decoded",
            empty.display()
        )
    );
}

#[test]
fn odd_dimensions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=320x240:r=10:d=1,scale=321:241",
        "-c:v",
        "ffv1",
        "-pix_fmt",
        "yuv420p",
        path.to_str().unwrap(),
    ]);
    let info = probe(&path).unwrap();
    assert_eq!(info.display_size(), Some((321, 241)));
    let player = Player::open(&path, PlayerSettings::free_running()).unwrap();
    let video = Port::blocking(4);
    player.add_video_target(video.clone()).unwrap();
    player.start().unwrap();
    let mut frames = Vec::new();
    while let livekit_core::Pull::Frame(f) =
        livekit_core::FrameSource::next(&video, Duration::from_secs(10))
    {
        frames.push(f);
    }
    assert_eq!(frames.len(), 10);
    let last = livekit_core::convert::to_rgba(frames.last().unwrap());
    assert_eq!((last.width(), last.height()), (321, 241));
    // The last column and row are red too (chroma rounded up, not cut off).
    let [r, g, b, _] = last.rgba_at(320, 240).unwrap();
    assert!(r > 200 && g < 60 && b < 60, "{r},{g},{b}");
}

#[test]
fn variable_frame_rate_keeps_the_files_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vfr.mkv");
    // Ten frames 40 ms apart, then ten 100 ms apart.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=s=64x48:r=25",
        "-frames:v",
        "20",
        "-vf",
        "settb=1/1000,setpts='if(lt(N\\,10)\\,N*40\\,400+(N-10)*100)/1000/TB'",
        "-fps_mode",
        "passthrough",
        "-c:v",
        "libx264",
        "-bf",
        "0",
        path.to_str().unwrap(),
    ]);
    let (shots, _, events, _) = play(&path);
    let pts: Vec<u128> = shots.iter().map(|s| s.pts.as_millis()).collect();
    // What ffprobe reads from the file.
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v",
            "-show_entries",
            "frame=pts_time",
        ])
        .args(["-of", "csv=p=0", path.to_str().unwrap()])
        .output()
        .unwrap();
    let expected: Vec<u128> = String::from_utf8_lossy(&out.stdout)
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .map(|t| (t.parse::<f64>().unwrap() * 1000.0).round() as u128)
        .collect();
    assert_eq!(expected.len(), 20);
    assert!(
        expected.windows(2).any(|w| w[1] - w[0] >= 80),
        "the steps vary: {expected:?}"
    );
    assert_eq!(pts, expected);
    assert!(matches!(events.last(), Some(PlayerEvent::EndOfStream)));
}

#[test]
fn rotation_metadata_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.mp4");
    // Blue with a red square in the top-left corner.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=blue:s=64x48:r=10:d=1,drawbox=x=0:y=0:w=16:h=16:c=red:t=fill",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        plain.to_str().unwrap(),
    ]);
    // A phone's "turn 90 degrees clockwise" display matrix in the track header.
    let mut bytes = std::fs::read(&plain).unwrap();
    let m = |v: [i32; 9]| v.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
    let identity = m([0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x4000_0000]);
    let turned = m([0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x4000_0000]);
    let tkhd = bytes.windows(4).position(|w| w == b"tkhd").unwrap();
    let at = tkhd
        + bytes[tkhd..]
            .windows(36)
            .position(|w| w == identity)
            .unwrap();
    bytes[at..at + 36].copy_from_slice(&turned);
    let path = dir.path().join("rotated.mp4");
    std::fs::write(&path, bytes).unwrap();

    let info = probe(&path).unwrap();
    assert_eq!(info.video.as_ref().unwrap().rotation, 90);
    assert_eq!(info.display_size(), Some((48, 64)));
    let (shots, ..) = play(&path);
    assert!(shots.iter().all(|s| (s.width, s.height) == (48, 64)));
    // Where ffmpeg's own autorotation puts the square: the top-right corner.
    let player = Player::open(&path, PlayerSettings::free_running()).unwrap();
    let video = Port::blocking(4);
    player.add_video_target(video.clone()).unwrap();
    player.start().unwrap();
    let livekit_core::Pull::Frame(frame) =
        livekit_core::FrameSource::next(&video, Duration::from_secs(10))
    else {
        panic!("no frame");
    };
    let rgba = livekit_core::convert::to_rgba(&frame);
    let red = |x, y| {
        let [r, _, b, _] = rgba.rgba_at(x, y).unwrap();
        r > 180 && b < 80
    };
    assert!(red(44, 3), "top-right is red");
    assert!(!red(3, 3), "top-left is not");
    video.close();
    player.stop().unwrap();
}

#[test]
fn unreachable_url_names_it_without_the_key() {
    let port = livekit_testkit::net::free_port();
    let url = format!("rtmp://127.0.0.1:{port}/live/secret-key-123");
    let error = Player::open(&url, PlayerSettings::default()).unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "media rtmp://127.0.0.1:{port}/live/<redacted>: cannot open: "
        )),
        "{message}"
    );
    assert!(!message.contains("secret-key-123"));
    assert!(!format!("{error:?}").contains("secret-key-123"));
}
