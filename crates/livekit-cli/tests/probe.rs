#![allow(clippy::unwrap_used)]
//! `livekit probe FILE [--json]`.

use std::process::Command;

use livekit_testkit::media::{ClipSpec, clip};

fn livekit(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_livekit"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn probe_prints_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    clip(&path, &ClipSpec::default());
    let file = path.to_str().unwrap();

    let out = livekit(&["probe", file]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("  video: h264 320x240 30.000 fps yuv420p\n"),
        "{text}"
    );
    assert!(
        text.contains("  audio: aac 48000 Hz, 2 channels\n"),
        "{text}"
    );

    let out = livekit(&["probe", "--json", file]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["video"]["width"], 320);
    assert_eq!(json["video"]["codec"], "h264");
    assert_eq!(json["audio"]["sample_rate"], 48000);
    let duration = json["duration_seconds"].as_f64().unwrap();
    assert!((1.9..2.1).contains(&duration), "{duration}");

    let missing = dir.path().join("missing.mp4");
    let out = livekit(&["probe", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "livekit: error: media file {}: no such file\n",
            missing.display()
        )
    );
}

/// An MP3's attached picture is listed as cover art, not as its video.
#[test]
fn probe_lists_cover_art() {
    let dir = tempfile::tempdir().unwrap();
    let art = dir.path().join("art.png");
    let song = dir.path().join("song.mp3");
    let ffmpeg = |args: &[&str]| {
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y"])
            .args(args)
            .status()
            .unwrap();
        assert!(status.success());
    };
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=80x60",
        "-frames:v",
        "1",
        art.to_str().unwrap(),
    ]);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=d=1",
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
        song.to_str().unwrap(),
    ]);
    let out = livekit(&["probe", song.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("  video: none\n"), "{text}");
    assert!(text.contains("  cover art: png 80x60\n"), "{text}");

    let out = livekit(&["probe", "--json", song.to_str().unwrap()]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["cover_art"]["codec"], "png");
    assert_eq!(json["cover_art"]["width"], 80);
    assert!(json["video"].is_null());

    let plain = dir.path().join("plain.mp3");
    ffmpeg(&["-f", "lavfi", "-i", "sine=d=1", plain.to_str().unwrap()]);
    let out = livekit(&["probe", "--json", plain.to_str().unwrap()]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["cover_art"].is_null(), "{json}");
}

/// Streams beyond the main video and audio are listed (kind, codec, language); a still image
/// has no duration but is not "live"; a FIFO or a device is named as not a regular file.
#[test]
fn probe_lists_other_streams_stills_and_special_files() {
    let dir = tempfile::tempdir().unwrap();
    let subtitles = dir.path().join("s.srt");
    std::fs::write(&subtitles, "1\n00:00:00,000 --> 00:00:00,500\nhi\n").unwrap();
    let file = dir.path().join("multi.mkv");
    livekit_testkit::media::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=d=1:s=64x48",
        "-f",
        "lavfi",
        "-i",
        "sine=d=1",
        "-f",
        "lavfi",
        "-i",
        "sine=f=880:d=1",
        "-i",
        subtitles.to_str().unwrap(),
        "-map",
        "0",
        "-map",
        "1",
        "-map",
        "2",
        "-map",
        "3",
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        "-c:s",
        "srt",
        "-metadata:s:a:0",
        "language=eng",
        "-metadata:s:a:1",
        "language=fra",
        "-metadata:s:s:0",
        "language=deu",
        file.to_str().unwrap(),
    ]);
    let out = livekit(&["probe", file.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("  audio: aac 44100 Hz, 1 channel\n"),
        "{text}"
    );
    assert!(
        text.contains("  other streams:\n    #2 audio aac (fra)\n    #3 subtitle subrip (deu)\n"),
        "{text}"
    );
    let out = livekit(&["probe", "--json", file.to_str().unwrap()]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["audio"]["codec"], "aac");
    assert_eq!(
        json["other_streams"],
        serde_json::json!([
            {"index": 2, "kind": "audio", "codec": "aac", "language": "fra"},
            {"index": 3, "kind": "subtitle", "codec": "subrip", "language": "deu"},
        ])
    );

    for name in ["still.png", "still.bmp"] {
        let still = dir.path().join(name);
        livekit_testkit::media::ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "color=s=8x8",
            "-frames:v",
            "1",
            still.to_str().unwrap(),
        ]);
        let out = livekit(&["probe", still.to_str().unwrap()]);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success(), "{text}");
        assert!(
            text.contains("  duration: none (a still image)\n"),
            "{text}"
        );
    }

    let fifo = dir.path().join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for (path, kind) in [
        (fifo.to_str().unwrap(), "a FIFO"),
        ("/dev/zero", "a character device"),
    ] {
        let out = livekit(&["probe", path]);
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(
            String::from_utf8(out.stderr).unwrap(),
            format!(
                "livekit: error: media file {path}: cannot read: not a regular file ({kind})\n"
            )
        );
    }
}
