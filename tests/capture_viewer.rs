//! Window capture of the project's own Viewer: a Viewer window shows a two-colour frame under
//! a private X server (Xvfb, through `xvfb-run`), and `WindowCapture` finds it by title and
//! reads it back through x11grab. Pixels are checked.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use livekit::sinks::{Viewer, ViewerSettings};
use livekit::sources::capture::{WindowCapture, WindowSelector, WindowSettings};
use livekit::{FrameSource, FrameTarget, Port, Pull, VideoFrame, VideoTarget};

/// Runs `inner` again in this test binary, under a fresh Xvfb.
#[test]
fn the_viewer_window_is_captured() {
    let exe = std::env::current_exe().unwrap();
    let runtime_dir = tempfile::tempdir().unwrap();
    let out = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 640x480x24 -nolisten tcp -noreset"])
        .arg(exe)
        .args(["--exact", "inner", "--include-ignored", "--nocapture"])
        .env("LIVEKIT_CAPTURE_VIEWER_INNER", "1")
        .env("XDG_RUNTIME_DIR", runtime_dir.path())
        .output()
        .expect("xvfb-run is not installed: run ./dev setup (package xvfb)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
}

#[test]
#[ignore = "run by the_viewer_window_is_captured under Xvfb"]
fn inner() {
    assert!(
        std::env::var_os("LIVEKIT_CAPTURE_VIEWER_INNER").is_some(),
        "run through the_viewer_window_is_captured"
    );
    let (width, height) = (240u32, 160u32);
    let viewer = Viewer::open(ViewerSettings {
        title: "livekit capture check".into(),
        width,
        height,
        ..Default::default()
    })
    .unwrap();
    // Left half orange, right half teal.
    let mut data = Vec::with_capacity((width * height * 4) as usize);
    for _y in 0..height {
        for x in 0..width {
            let rgba = if x < width / 2 {
                [250, 140, 20, 255]
            } else {
                [20, 160, 170, 255]
            };
            data.extend_from_slice(&rgba);
        }
    }
    let layout = livekit::FrameLayout::new(width, height, livekit::PixelFormat::Rgba8).unwrap();
    let frame = VideoFrame::from_vec(layout, data, Duration::ZERO).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while viewer.stats().shown < 3 {
        assert!(Instant::now() < deadline, "not shown: {:?}", viewer.stats());
        viewer.push(frame.clone()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }

    let port = Port::latest();
    let targets: Vec<Arc<dyn VideoTarget>> = vec![Arc::new(port.clone())];
    let capture = WindowCapture::start(
        WindowSettings {
            show_cursor: false,
            ..WindowSettings::new(WindowSelector::Title("livekit capture check".into()))
        },
        targets,
    )
    .unwrap();
    let Pull::Frame(captured) = port.next(Duration::from_secs(10)) else {
        panic!("no frame captured");
    };
    capture.stop().unwrap();
    assert_eq!((captured.width(), captured.height()), (width, height));
    for (x, y, want) in [
        (10, 10, [250, 140, 20]),
        (width / 4, height / 2, [250, 140, 20]),
        (3 * width / 4, height / 2, [20, 160, 170]),
        (width - 10, height - 10, [20, 160, 170]),
    ] {
        let got = captured.rgba_at(x, y).unwrap();
        assert!(
            got[..3].iter().zip(want).all(|(&a, b)| a.abs_diff(b) <= 2),
            "({x},{y}): got {got:?}, want {want:?}"
        );
    }
    viewer.close();
}
