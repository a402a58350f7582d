//! `livekit compose SCENE --virtual-camera DEVICE`, run as a process: the errors everywhere,
//! and a canvas read back from a v4l2loopback device where one exists.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn livekit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_livekit"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A 320x240 scene of one colour.
fn scene(dir: &Path) -> PathBuf {
    let scene = dir.join("scene.toml");
    std::fs::write(
        &scene,
        "[canvas]\nwidth = 320\nheight = 240\nfps = 30\n\n\
         [[layer]]\nsource = { color = \"#c81e28\" }\n",
    )
    .unwrap();
    scene
}

#[test]
fn a_missing_device_is_a_usage_error_naming_it_and_nothing_starts() {
    let dir = tempfile::tempdir().unwrap();
    let scene = scene(dir.path());
    let recording = dir.path().join("show.mp4");
    let out = livekit(&[
        "compose",
        scene.to_str().unwrap(),
        "--virtual-camera",
        "/dev/nonexistent",
        "--record",
        recording.to_str().unwrap(),
        "--frames",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "livekit: error: virtual camera /dev/nonexistent: no such device (load v4l2loopback: sudo modprobe v4l2loopback exclusive_caps=1 video_nr=10)\n"
    );
    assert!(!recording.exists(), "nothing was recorded");
}

#[test]
fn a_device_that_is_not_an_output_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let scene = scene(dir.path());
    let out = livekit(&[
        "compose",
        scene.to_str().unwrap(),
        "--virtual-camera",
        "/dev/null",
        "--frames",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "livekit: error: virtual camera /dev/null: not a V4L2 output device (a v4l2loopback device is one): Inappropriate ioctl for device\n"
    );
}

/// A v4l2loopback device, if the module is loaded: its devices are the virtual ones.
fn loopback_device() -> Option<PathBuf> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/devices/virtual/video4linux")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("video"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| Path::new("/dev").join(name))
        .find(|path| path.exists())
}

#[test]
fn a_composed_canvas_is_read_back_from_the_virtual_camera() {
    let Some(device) = loopback_device() else {
        eprintln!(
            "skipped: no v4l2loopback device (/sys/devices/virtual/video4linux has none; \
             load the module with: sudo modprobe v4l2loopback exclusive_caps=1 video_nr=10)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let scene = scene(dir.path());
    let job = Command::new(env!("CARGO_BIN_EXE_livekit"))
        .args(["compose", scene.to_str().unwrap(), "--virtual-camera"])
        .arg(&device)
        .args(["--frames", "900"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let picture = dir.path().join("picture.rgb");
    // The device becomes readable once livekit has set its format: try until it is.
    let read = (0..100).any(|_| {
        Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
            .args(["-f", "v4l2", "-i"])
            .arg(&device)
            .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24"])
            .arg(&picture)
            .status()
            .unwrap()
            .success()
    });
    assert!(read, "ffmpeg never read {}", device.display());
    let out = job.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("sent 900 frames of "),
        "{}",
        text(&out.stdout)
    );
    let rgb = std::fs::read(&picture).unwrap();
    assert_eq!(rgb.len(), 320 * 240 * 3);
    let centre = &rgb[(120 * 320 + 160) * 3..][..3];
    for (got, want) in centre.iter().zip([0xc8u8, 0x1e, 0x28]) {
        assert!(got.abs_diff(want) <= 8, "centre {centre:?}, scene #c81e28");
    }
}
