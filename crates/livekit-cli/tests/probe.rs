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
