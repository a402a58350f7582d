//! Camera capture, driven through the same libavdevice path as a webcam by FFmpeg's lavfi
//! virtual device (no camera on the build machines), plus a test of /dev/video0 that runs
//! only where one exists.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::sync::Arc;
use std::time::{Duration, Instant};

use livekit_core::convert::to_rgba;
use livekit_core::{ColorRange, FrameSource, PixelFormat, Port, Pull, VideoFrame, VideoTarget};
use livekit_sources::capture::{
    Camera, CameraDevice, CameraSettings, CaptureEvent, OutputFormat, StartCaptureError,
    list_cameras,
};

fn lavfi(graph: &str, output: OutputFormat) -> CameraSettings {
    CameraSettings {
        device: CameraDevice::Lavfi(graph.into()),
        output,
        ..Default::default()
    }
}

fn targets(port: &Port<VideoFrame>) -> Vec<Arc<dyn VideoTarget>> {
    vec![Arc::new(port.clone())]
}

/// Reads frames for `span` (or until the end of the stream).
fn collect(port: &Port<VideoFrame>, span: Duration) -> Vec<VideoFrame> {
    let end = Instant::now() + span;
    let mut frames = Vec::new();
    while Instant::now() < end {
        match port.next(Duration::from_millis(100)) {
            Pull::Frame(frame) => frames.push(frame),
            Pull::Pending => {}
            Pull::Ended => break,
        }
    }
    frames
}

fn close(a: [u8; 4], b: [u8; 3], tolerance: u8) -> bool {
    a.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= tolerance)
}

#[test]
fn a_red_source_gives_red_frames_in_every_output_format() {
    for output in [
        OutputFormat::Rgba8,
        OutputFormat::Bgra8,
        OutputFormat::I420,
        OutputFormat::Nv12,
    ] {
        let port = Port::blocking(64);
        let graph = "color=c=red:size=160x120:rate=30:duration=0.3";
        let capture = Camera::start(lavfi(graph, output), targets(&port)).unwrap();
        let frames = collect(&port, Duration::from_secs(10));
        assert_eq!(frames.len(), 9, "{output:?}: 0.3 s at 30 fps");
        let frame = &frames[4];
        assert_eq!((frame.width(), frame.height()), (160, 120));
        match (output, frame.format()) {
            (OutputFormat::Rgba8, PixelFormat::Rgba8)
            | (OutputFormat::Bgra8, PixelFormat::Bgra8)
            | (OutputFormat::I420, PixelFormat::I420(_))
            | (OutputFormat::Nv12, PixelFormat::Nv12(_)) => {}
            (want, got) => panic!("asked for {want:?}, got {got}"),
        }
        let rgba = to_rgba(frame);
        for (x, y) in [(0, 0), (80, 60), (159, 119)] {
            let pixel = rgba.rgba_at(x, y).unwrap();
            // FFmpeg makes red in YUV (limited range, BT.601) and back: a few steps off.
            assert!(
                close(pixel, [255, 0, 0], 4),
                "{output:?} at ({x},{y}): {pixel:?}"
            );
            assert_eq!(pixel[3], 255, "opaque");
        }
        // The source ended (duration): end-of-stream reached the port and an event says so.
        let events: Vec<_> = capture.events().try_iter().collect();
        assert!(
            matches!(
                &events[0],
                CaptureEvent::Started {
                    width: 160,
                    height: 120,
                    ..
                }
            ),
            "{events:?}"
        );
        assert!(
            events.iter().any(
                |e| matches!(e, CaptureEvent::Ended { reason, .. } if reason == "end of stream")
            ),
            "{events:?}"
        );
        assert_eq!(capture.stop().unwrap().frames, 9);
    }
}

#[test]
fn yuv_sources_are_kept_as_they_are_with_their_range() {
    // A yuvj420p (full range, JPEG-like) source delivered as I420 is copied, not converted,
    // and says it is full range; a grey of 128 stays 128.
    let port = Port::blocking(8);
    let graph = "color=c=0x808080:size=64x48:rate=25:duration=0.2,format=yuvj420p";
    let _capture = Camera::start(lavfi(graph, OutputFormat::I420), targets(&port)).unwrap();
    let frame = port.next(Duration::from_secs(10)).frame().unwrap();
    let PixelFormat::I420(color) = frame.format() else {
        panic!("{}", frame.format());
    };
    assert_eq!(color.range, ColorRange::Full);
    assert!(frame.row(0, 10).iter().all(|&y| y.abs_diff(128) <= 1));
    assert!(frame.row(1, 5).iter().all(|&u| u.abs_diff(128) <= 1));
}

#[test]
fn a_live_source_keeps_its_frame_rate_with_rising_capture_timestamps() {
    let port = Port::drop_oldest(64);
    let graph = "testsrc2=size=320x240:rate=25,realtime";
    let capture = Camera::start(lavfi(graph, OutputFormat::I420), targets(&port)).unwrap();
    let frames = collect(&port, Duration::from_millis(1600));
    let stats = capture.stop().unwrap();
    // Skip the first frames: start-up.
    let frames = &frames[5..];
    let span = frames.last().unwrap().pts() - frames[0].pts();
    let rate = (frames.len() - 1) as f64 / span.as_secs_f64();
    assert!(
        (22.0..=28.0).contains(&rate),
        "{rate:.1} fps from pts over {span:?}"
    );
    for pair in frames.windows(2) {
        assert!(pair[1].pts() > pair[0].pts(), "pts must rise: {pair:?}");
        let step = pair[1].pts() - pair[0].pts();
        // The device's spacing is kept (1/25 s), not the reader's jitter.
        assert!(
            step.abs_diff(Duration::from_millis(40)) < Duration::from_millis(15),
            "step {step:?}"
        );
    }
    // The test pattern moves: two frames a second apart differ.
    let a = to_rgba(&frames[0]);
    let b = to_rgba(&frames[frames.len() - 1]);
    assert_ne!(a.to_packed_vec(), b.to_packed_vec());
    assert!(stats.frames as usize >= frames.len());
    // After stop the port has ended.
    while !port.next(Duration::from_millis(10)).is_ended() {}
}

#[test]
fn capture_ends_when_every_target_is_closed() {
    let port = Port::latest();
    let graph = "testsrc2=size=64x48:rate=50,realtime";
    let capture = Camera::start(lavfi(graph, OutputFormat::I420), targets(&port)).unwrap();
    assert!(port.next(Duration::from_secs(10)).frame().is_some());
    port.close();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !capture.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(capture.is_finished());
    let ended = capture.events().try_iter().find_map(|e| match e {
        CaptureEvent::Ended { reason, .. } => Some(reason),
        _ => None,
    });
    assert_eq!(ended.as_deref(), Some("every target was closed"));
}

#[test]
fn a_missing_camera_is_named_in_the_error() {
    let port = Port::latest();
    let settings = CameraSettings {
        device: CameraDevice::Path("/dev/video-does-not-exist".into()),
        ..Default::default()
    };
    let error = Camera::start(settings, targets(&port)).unwrap_err();
    assert!(matches!(error, StartCaptureError::NotFound { .. }));
    assert_eq!(
        error.to_string(),
        "capture device /dev/video-does-not-exist: not found"
    );
}

#[test]
fn a_bad_graph_and_bad_settings_are_clear_errors() {
    let port = Port::latest();
    let error = Camera::start(
        lavfi("nosuchfilter=size=64x48", OutputFormat::I420),
        targets(&port),
    )
    .unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with("capture device lavfi:nosuchfilter=size=64x48: cannot open: "),
        "{text}"
    );

    let settings = CameraSettings {
        size: Some((0, 480)),
        ..Default::default()
    };
    let error = Camera::start(settings, targets(&port)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "capture device camera #0: size 0x480: each side must be above 0"
    );

    let error = Camera::start(lavfi("testsrc2", OutputFormat::I420), Vec::new()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "capture device lavfi:testsrc2: no targets given"
    );
}

/// Runs against a real camera where there is one; says why it is skipped where there is none.
#[test]
fn real_camera_when_present() {
    let cameras = list_cameras().unwrap();
    let Some(camera) = cameras.iter().find(|c| !c.modes.is_empty()) else {
        eprintln!(
            "SKIPPED real_camera_when_present: no V4L2 capture device here (found {} /dev/video* \
             nodes that capture: {:?})",
            cameras.len(),
            cameras.iter().map(|c| &c.path).collect::<Vec<_>>()
        );
        return;
    };
    eprintln!(
        "camera {} ({}): {} modes",
        camera.path.display(),
        camera.name,
        camera.modes.len()
    );
    let mode = &camera.modes[0];
    assert!(mode.width > 0 && mode.height > 0);
    let port = Port::drop_oldest(16);
    let settings = CameraSettings {
        device: CameraDevice::Path(camera.path.clone()),
        size: Some((mode.width, mode.height)),
        ..Default::default()
    };
    let capture = match Camera::start(settings, targets(&port)) {
        Ok(capture) => capture,
        Err(StartCaptureError::Busy { device }) => {
            eprintln!("SKIPPED real_camera_when_present: {device} is busy");
            return;
        }
        Err(error) => panic!("{error}"),
    };
    let frames = collect(&port, Duration::from_secs(2));
    capture.stop().unwrap();
    assert!(
        !frames.is_empty(),
        "no frame from {}",
        camera.path.display()
    );
    assert_eq!(
        (frames[0].width(), frames[0].height()),
        (mode.width, mode.height)
    );
}

/// Capturing for a while holds no more memory than at its start. Every packet the device
/// gave used to stay in memory (a 1280x720 source: 40 MB a second), found by `livekit bench
/// soak`.
#[test]
fn capture_does_not_keep_what_it_read() {
    let graph = "testsrc2=size=1280x720:rate=30";
    let port = Port::latest();
    let capture = Camera::start(lavfi(graph, OutputFormat::I420), targets(&port)).unwrap();
    // Frames are let go as they come (a pool reuses their buffers).
    let count = |span: Duration| {
        let end = Instant::now() + span;
        let mut frames = 0;
        while Instant::now() < end {
            if let Pull::Frame(_) = port.next(Duration::from_millis(100)) {
                frames += 1;
            }
        }
        frames
    };
    assert!(count(Duration::from_secs(1)) > 0);
    let settled = livekit_testkit::resident_kib();
    let frames = count(Duration::from_secs(3));
    assert!(frames >= 10, "{frames} frames in 3 s");
    let grown = livekit_testkit::resident_kib().saturating_sub(settled);
    drop(capture);
    // 90 frames of 1.4 MB went by: a leak holds 120 MB, a pool a few frames.
    assert!(
        grown < 30 * 1024,
        "resident memory grew by {} MiB in 3 s",
        grown / 1024
    );
}
