//! A compositor canvas shown in a preview window while the same frames also go to a recorder
//! (here a port standing in for one). The window is real: a private X server (Xvfb, through
//! `xvfb-run`), drawn by wgpu, read back from the screen with ImageMagick's `import`.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use livekit::compositor::{BackendChoice, CanvasSettings, Color, Compositor, Layer};
use livekit::sinks::{Viewer, ViewerSettings};
use livekit::{FrameSource, Port, Pull, SystemClock, VideoFrame};

/// Runs `inner` again in this test binary, under a fresh Xvfb.
#[test]
fn preview_while_recording() {
    let exe = std::env::current_exe().unwrap();
    let runtime_dir = tempfile::tempdir().unwrap();
    let out = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x720x24 -nolisten tcp -noreset"])
        .arg(exe)
        .args(["--exact", "inner", "--include-ignored", "--nocapture"])
        .env("LIVEKIT_PREVIEW_INNER", "1")
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
#[ignore = "run by preview_while_recording under Xvfb"]
fn inner() {
    assert!(
        std::env::var_os("LIVEKIT_PREVIEW_INNER").is_some(),
        "run through preview_while_recording"
    );
    let mut c = Compositor::new(BackendChoice::Cpu).unwrap();
    let canvas = c
        .add_canvas(CanvasSettings::new(320, 180, 30).background(Color::rgb(0, 0, 255)))
        .unwrap();
    c.add_layer(
        canvas,
        None,
        Layer::color(Color::rgb(255, 0, 0)).rect(0.0, 0.0, 160.0, 180.0),
    )
    .unwrap();
    let viewer = Arc::new(
        Viewer::open(ViewerSettings {
            title: "preview".into(),
            width: 320,
            height: 180,
            ..Default::default()
        })
        .unwrap(),
    );
    let recorder = Arc::new(Port::<VideoFrame>::blocking(256));
    c.add_target(canvas, "preview", viewer.clone()).unwrap();
    c.add_target(canvas, "recorder", recorder.clone()).unwrap();
    let running = c.start(Arc::new(SystemClock::new())).unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    while viewer.stats().shown < 5 {
        assert!(
            Instant::now() < deadline,
            "the window showed no frames: {:?}",
            viewer.stats()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The window (at 0,0: no window manager) shows the canvas: red left half, blue right.
    let shot = Command::new("import")
        .args(["-window", "root", "-depth", "8", "rgb:-"])
        .output()
        .unwrap();
    assert!(shot.status.success(), "import failed: {shot:?}");
    let at = |x: usize, y: usize| {
        let i = (y * 1280 + x) * 3;
        [shot.stdout[i], shot.stdout[i + 1], shot.stdout[i + 2]]
    };
    assert_eq!(at(40, 90), [255, 0, 0]);
    assert_eq!(at(280, 90), [0, 0, 255]);
    assert_eq!(at(600, 400), [0, 0, 0], "outside the window");

    // Stopping ends the recording's stream; it got every frame, in order.
    let stats = running.stop().unwrap();
    let mut frames = Vec::new();
    loop {
        match recorder.next(Duration::from_secs(5)) {
            Pull::Frame(f) => frames.push(f),
            Pull::Ended => break,
            Pull::Pending => panic!("the recorder's stream did not end"),
        }
    }
    assert!(frames.len() >= 5, "{} frames recorded", frames.len());
    assert_eq!(frames.len() as u64, stats.rendered);
    assert!(frames.windows(2).all(|w| w[0].pts() < w[1].pts()));
    assert_eq!(frames[0].rgba_at(10, 10), Some([255, 0, 0, 255]));
}
