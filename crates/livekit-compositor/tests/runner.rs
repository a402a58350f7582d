//! The runner on a manual clock: frames come at the canvas's rate with exact pts, a live change
//! shows in the next frame, and stopping ends the targets' streams.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use livekit_compositor::{
    BackendChoice, CanvasSettings, Color, Compositor, Layer, Rect, SceneError, Transition,
};
use livekit_core::{FrameSource, FrameTarget, ManualClock, Port, Pull, VideoFrame};

const WAIT: Duration = Duration::from_secs(10);

fn next(port: &Port<VideoFrame>) -> VideoFrame {
    match port.next(WAIT) {
        Pull::Frame(frame) => frame,
        other => panic!("expected a frame, got {other:?}"),
    }
}

#[test]
fn live_changes_show_in_the_next_frame() {
    let mut c = Compositor::new(BackendChoice::Cpu).unwrap();
    let canvas = c.add_canvas(CanvasSettings::new(64, 36, 10)).unwrap();
    c.add_scene(canvas, "other").unwrap();
    c.add_layer(canvas, Some("other"), Layer::color(Color::rgb(0, 255, 0)))
        .unwrap();
    let red = c
        .add_layer(canvas, None, Layer::color(Color::rgb(255, 0, 0)))
        .unwrap();

    // A live input: frames pushed into a port are shown as they come.
    let camera = Arc::new(Port::<VideoFrame>::latest());
    let cam = c
        .add_layer(
            canvas,
            None,
            Layer::video(camera.clone()).rect(0.0, 0.0, 8.0, 8.0).z(5),
        )
        .unwrap();

    let out = Arc::new(Port::<VideoFrame>::blocking(4));
    c.add_target(canvas, "test", out.clone()).unwrap();
    let clock = Arc::new(ManualClock::new());
    let running = c.start(clock.clone()).unwrap();
    let handle = running.handle();

    // Frame 0 at t=0 (the clock has not moved): red, no camera frame yet.
    let f0 = next(&out);
    assert_eq!(f0.pts(), Duration::ZERO);
    assert_eq!(f0.rgba_at(32, 18), Some([255, 0, 0, 255]));
    assert_eq!(f0.rgba_at(2, 2), Some([255, 0, 0, 255]));
    // Nothing more until the clock moves.
    assert!(out.next(Duration::from_millis(100)).is_pending());

    // Change the scene between frames: opacity, move, a new layer, a camera frame.
    handle
        .set_rect(red, Rect::new(32.0, 0.0, 32.0, 36.0))
        .unwrap();
    let blue = handle
        .add_layer(
            canvas,
            Layer::color(Color::rgb(0, 0, 255)).rect(0.0, 30.0, 64.0, 6.0),
        )
        .unwrap();
    camera
        .push(VideoFrame::solid_rgba(4, 4, [255, 255, 255, 255], Duration::ZERO).unwrap())
        .unwrap();
    clock.advance(Duration::from_millis(100));
    let f1 = next(&out);
    assert_eq!(f1.pts(), Duration::from_millis(100));
    assert_eq!(f1.rgba_at(10, 18), Some([0, 0, 0, 255]), "red moved away");
    assert_eq!(f1.rgba_at(40, 18), Some([255, 0, 0, 255]));
    assert_eq!(
        f1.rgba_at(10, 32),
        Some([0, 0, 255, 255]),
        "new layer shows"
    );
    assert_eq!(
        f1.rgba_at(2, 2),
        Some([255, 255, 255, 255]),
        "camera frame shows"
    );

    // Restack and hide; the camera keeps its last frame.
    handle.set_z(blue, 10).unwrap();
    handle.set_visible(cam, false).unwrap();
    clock.advance(Duration::from_millis(100));
    let f2 = next(&out);
    assert_eq!(f2.pts(), Duration::from_millis(200));
    assert_eq!(f2.rgba_at(2, 2), Some([0, 0, 0, 255]), "hidden");
    handle.set_visible(cam, true).unwrap();
    clock.advance(Duration::from_millis(100));
    assert_eq!(
        next(&out).rgba_at(2, 2),
        Some([255, 255, 255, 255]),
        "last frame held"
    );

    // Scene switch by cut.
    handle
        .switch_scene(canvas, "other", Transition::Cut)
        .unwrap();
    clock.advance(Duration::from_millis(100));
    assert_eq!(next(&out).rgba_at(40, 18), Some([0, 255, 0, 255]));

    // Errors are immediate and name the problem.
    let error = handle.set_opacity(red, 2.0).unwrap_err();
    assert_eq!(
        error.to_string(),
        "layer opacity: must be between 0 and 1 (got 2)"
    );
    let error = handle
        .switch_scene(canvas, "nope", Transition::Cut)
        .unwrap_err();
    assert_eq!(error.to_string(), "canvas 64x36: no scene named \"nope\"");

    // Falling behind skips frames instead of queueing them.
    clock.advance(Duration::from_millis(1000));
    let late = next(&out);
    assert_eq!(late.pts(), Duration::from_millis(1400));
    let stats = running.stop().unwrap();
    assert!(stats.late >= 9, "{stats:?}");
    assert_eq!(stats.render_errors, 0);
    // Stopping ended the output stream.
    assert!(out.next(WAIT).is_ended());
}

#[test]
fn several_canvases_at_their_own_rates() {
    let mut c = Compositor::new(BackendChoice::Cpu).unwrap();
    let landscape = c.add_canvas(CanvasSettings::new(64, 36, 10)).unwrap();
    let portrait = c
        .add_canvas(CanvasSettings::new(36, 64, 5).name("portrait"))
        .unwrap();
    let shared = Arc::new(Port::<VideoFrame>::latest());
    let input = livekit_compositor::VideoInput::new(shared.clone());
    use livekit_compositor::LayerSource;
    c.add_layer(
        landscape,
        None,
        Layer::new(LayerSource::Video(input.clone())),
    )
    .unwrap();
    c.add_layer(
        portrait,
        None,
        Layer::new(LayerSource::Video(input)).rect(0.0, 0.0, 36.0, 20.0),
    )
    .unwrap();
    shared
        .push(VideoFrame::solid_rgba(16, 9, [200, 100, 50, 255], Duration::ZERO).unwrap())
        .unwrap();
    let (a, b) = (Arc::new(Port::blocking(16)), Arc::new(Port::blocking(16)));
    c.add_target(landscape, "a", a.clone()).unwrap();
    c.add_target(portrait, "b", b.clone()).unwrap();
    let clock = Arc::new(ManualClock::new());
    let running = c.start(clock.clone()).unwrap();
    let (mut fa, mut fb) = (vec![next(&a)], vec![next(&b)]);
    for step in 1..=10 {
        clock.advance(Duration::from_millis(100));
        fa.push(next(&a));
        if step % 2 == 0 {
            fb.push(next(&b));
        }
    }
    running.stop().unwrap();
    assert!(a.next(WAIT).is_ended() && b.next(WAIT).is_ended());
    // Both canvases see the one input frame (read once, shown twice).
    assert_eq!(fa[0].rgba_at(30, 30), Some([200, 100, 50, 255]));
    assert_eq!((fb[0].width(), fb[0].height()), (36, 64));
    assert_eq!(
        fb.last().unwrap().rgba_at(10, 10),
        Some([200, 100, 50, 255])
    );
    assert_eq!(fb.last().unwrap().rgba_at(10, 40), Some([0, 0, 0, 255]));
    // 10 fps and 5 fps over one second: frames 0..=10 and 0..=5, pts exact.
    assert_eq!(
        fa.len(),
        11,
        "{:?}",
        fa.iter().map(|f| f.pts()).collect::<Vec<_>>()
    );
    assert_eq!(fb.len(), 6);
    assert_eq!(fb[3].pts(), Duration::from_millis(600));
}

#[test]
fn targets_added_while_running_get_the_next_frames() {
    let mut c = Compositor::new(BackendChoice::Cpu).unwrap();
    let canvas = c.add_canvas(CanvasSettings::new(16, 9, 10)).unwrap();
    let first = Arc::new(Port::<VideoFrame>::blocking(16));
    c.add_target(canvas, "before start", first.clone()).unwrap();
    let clock = Arc::new(ManualClock::new());
    let running = c.start(clock.clone()).unwrap();
    let handle = running.handle();
    assert_eq!(next(&first).pts(), Duration::ZERO);

    // Through the handle, and through `Compositor::add_target` in an edit: both are the
    // runner's from the next frame on.
    let second = Arc::new(Port::<VideoFrame>::blocking(16));
    handle.add_target(canvas, "handle", second.clone()).unwrap();
    let third = Arc::new(Port::<VideoFrame>::blocking(16));
    handle
        .edit(|c| c.add_target(canvas, "edit", third.clone()))
        .unwrap();
    // A canvas this compositor does not have is refused, either way.
    let mut other = Compositor::new(BackendChoice::Cpu).unwrap();
    other.add_canvas(CanvasSettings::new(16, 9, 10)).unwrap();
    let missing = other.add_canvas(CanvasSettings::new(16, 9, 10)).unwrap();
    let port = Arc::new(Port::<VideoFrame>::latest());
    assert_eq!(
        handle.add_target(missing, "missing", port.clone()),
        Err(SceneError::UnknownCanvas(missing))
    );
    assert_eq!(
        handle.edit(|c| c.add_target(missing, "missing", port.clone())),
        Err(SceneError::UnknownCanvas(missing))
    );

    // A target that closes is dropped; the others go on.
    first.close();
    clock.advance(Duration::from_millis(100));
    for port in [&second, &third] {
        assert_eq!(next(port).pts(), Duration::from_millis(100));
    }
    running.stop().unwrap();
    assert!(second.next(WAIT).is_ended() && third.next(WAIT).is_ended());
}
