//! The `livekit` binary, run as a process.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::process::{Command, Output};

fn livekit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_livekit"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_and_help() {
    let out = livekit(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        format!("livekit {}", env!("CARGO_PKG_VERSION"))
    );
    let out = livekit(&["--help"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("demo"), "{}", text(&out.stdout));
}

#[test]
fn demo_writes_a_png_with_alpha() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = livekit(&["demo", "--out", out_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let png = out_dir.join("demo.png");
    assert!(text(&out.stdout).contains(&png.display().to_string()));
    let image = image::open(&png).unwrap().into_rgba8();
    assert_eq!(image.dimensions(), (256, 256));
    assert_eq!(image.get_pixel(0, 0).0[3], 0, "transparent corner");
    assert_eq!(
        image.get_pixel(128, 10).0,
        [255, 140, 0, 255],
        "opaque ring"
    );
    assert_eq!(
        image.get_pixel(128, 60).0,
        [30, 90, 200, 128],
        "half-transparent centre"
    );
}

#[test]
fn demo_with_an_animated_image_plays_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let gif = dir.path().join("anim.gif");
    let status = Command::new("ffmpeg")
        .args([
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=blue:s=32x32:r=20",
            "-frames:v",
            "4",
        ])
        .arg(&gif)
        .status()
        .unwrap();
    assert!(status.success());
    let out_dir = dir.path().join("out");
    let out = livekit(&[
        "demo",
        "--image",
        gif.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("4 frames"),
        "{}",
        text(&out.stdout)
    );
    let image = image::open(out_dir.join("demo.png")).unwrap().into_rgba8();
    assert_eq!(image.dimensions(), (32, 32));
}

#[test]
fn bad_input_is_one_line_naming_it_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.png");
    let out = livekit(&[
        "demo",
        "--image",
        missing.to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        format!(
            "livekit: error: image file {}: no such file\n",
            missing.display()
        )
    );

    let junk = dir.path().join("junk.jpg");
    std::fs::write(&junk, b"\xff\xd8\xff\xe0\x00\x10JFIF\x00 and then nothing").unwrap();
    let out = livekit(&[
        "demo",
        "--image",
        junk.to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "livekit: error: image file {}: corrupt or truncated JPEG",
            junk.display()
        )),
        "{stderr}"
    );

    let out = livekit(&["no-such-command"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_unwritable_output_is_a_runtime_error() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, b"").unwrap();
    let out = livekit(&["demo", "--out", blocker.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "livekit: error: demo: PNG file {}: cannot write",
            blocker.join("demo.png").display()
        )),
        "{stderr}"
    );
}
