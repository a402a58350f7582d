//! The virtual camera: frames to a v4l2loopback device, read back by the ffmpeg CLI as a
//! webcam; and the errors for devices that are missing or are not V4L2 outputs (these run
//! everywhere).

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use livekit_core::{FrameTarget, Port, VideoFrame};
use livekit_sinks::{StartVirtualCameraError, VirtualCamera, VirtualCameraSettings};

fn start(device: &Path) -> Result<livekit_sinks::RunningVirtualCamera, StartVirtualCameraError> {
    let port = Arc::new(Port::<VideoFrame>::latest());
    VirtualCamera::start(VirtualCameraSettings::new(device, 320, 240), port)
}

#[test]
fn a_missing_device_is_named_with_how_to_make_one() {
    let error = start(Path::new("/dev/nonexistent")).unwrap_err();
    assert!(matches!(error, StartVirtualCameraError::NotFound { .. }));
    assert_eq!(
        error.to_string(),
        "virtual camera /dev/nonexistent: no such device (load v4l2loopback: sudo modprobe v4l2loopback exclusive_caps=1 video_nr=10)"
    );
}

#[test]
fn a_device_that_is_not_a_v4l2_output_is_refused() {
    // /dev/null opens for writing but answers no V4L2 ioctl.
    let error = start(Path::new("/dev/null")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "virtual camera /dev/null: not a V4L2 output device (a v4l2loopback device is one)"
    );
    let cause = std::error::Error::source(&error).unwrap().to_string();
    assert!(
        cause.contains("Inappropriate ioctl"),
        "FFmpeg's reason: {cause}"
    );
}

#[test]
fn a_plain_file_and_a_bad_size_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-device");
    std::fs::write(&file, b"x").unwrap();
    let error = start(&file).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("virtual camera {}: not a video device", file.display())
    );
    let port = Arc::new(Port::<VideoFrame>::latest());
    let error =
        VirtualCamera::start(VirtualCameraSettings::new("/dev/null", 1, 240), port).unwrap_err();
    assert_eq!(
        error.to_string(),
        "virtual camera /dev/null: invalid size 1x240 (each side must be 2..=8192)"
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
fn frames_written_to_a_loopback_device_are_read_back_as_a_webcam() {
    let Some(device) = loopback_device() else {
        eprintln!(
            "skipped: no v4l2loopback device (/sys/devices/virtual/video4linux has none; \
             load the module with: sudo modprobe v4l2loopback exclusive_caps=1 video_nr=10)"
        );
        return;
    };
    let port = Arc::new(Port::<VideoFrame>::latest());
    let camera =
        VirtualCamera::start(VirtualCameraSettings::new(&device, 320, 240), port.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("frame.rgb");
    let push = |n: u64| {
        let frame =
            VideoFrame::solid_rgba(320, 240, [200, 30, 40, 255], Duration::from_millis(n * 33))
                .unwrap();
        port.push(frame).unwrap();
    };
    // The device shows as a capture device once a writer has set its format.
    push(0);
    let mut reader = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(["-f", "v4l2", "-i"])
        .arg(&device)
        .args(["-frames:v", "5", "-f", "rawvideo", "-pix_fmt", "rgb24"])
        .arg(&out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut n = 1;
    let status = loop {
        if let Some(status) = reader.try_wait().unwrap() {
            break status;
        }
        assert!(n < 900, "ffmpeg read nothing from {}", device.display());
        push(n);
        n += 1;
        std::thread::sleep(Duration::from_millis(33));
    };
    assert!(
        status.success(),
        "ffmpeg could not read {}",
        device.display()
    );
    let stats = camera.stop().unwrap();
    assert!(stats.frames >= 5, "{stats:?}");
    let rgb = std::fs::read(&out).unwrap();
    assert_eq!(rgb.len(), 320 * 240 * 3 * 5, "five 320x240 pictures");
    // The last picture's centre is the colour we sent (YUV 4:2:0 on the way: a few levels).
    let last = &rgb[320 * 240 * 3 * 4..];
    let centre = &last[(120 * 320 + 160) * 3..][..3];
    for (got, want) in centre.iter().zip([200u8, 30, 40]) {
        assert!(
            got.abs_diff(want) <= 8,
            "centre {centre:?}, sent [200, 30, 40]"
        );
    }
}
