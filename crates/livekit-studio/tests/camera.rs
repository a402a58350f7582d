//! A camera that goes away mid-show is an input event, and the show goes on: the other layers
//! keep rendering and the recording continues to its end.
//!
//! The camera is FFmpeg's lavfi virtual device with a one-second stream: the same capture
//! path as a webcam (a libavdevice input read on the capture thread, its events mapped to the
//! input's state), whose stream stops mid-show. A V4L2 device cannot be made to disappear on
//! the build machines: they have no v4l2loopback module and cannot load one (no /dev/video*,
//! no modprobe). A device that goes away and comes back is shown with the screen instead: a
//! private Xvfb killed and started again under its number is read through the same capture
//! loop (`capture/device.rs`: read error or stall, reopen every second) as a camera.

#![allow(clippy::unwrap_used)]

use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use livekit_core::{FrameSource, Pull};

use livekit_compositor::BackendChoice;
use livekit_studio::{Command, Event, InputState, Studio, StudioSettings};
use livekit_testkit::probe::{ffprobe_count, frame_colours};

fn apply(studio: &Studio, json: &str) {
    studio
        .apply(Command::from_json(json).unwrap())
        .unwrap_or_else(|e| panic!("{json}: {e}"));
}

/// Waits for an event of input `cam` matching `wanted`.
fn wait_for(
    events: &livekit_studio::Subscription,
    what: &str,
    wanted: impl Fn(&InputState) -> bool,
) -> InputState {
    wait_for_input(events, "cam", what, wanted)
}

/// Waits for an event of input `input` matching `wanted`.
fn wait_for_input(
    events: &livekit_studio::Subscription,
    input: &str,
    what: &str,
    wanted: impl Fn(&InputState) -> bool,
) -> InputState {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(Event::Input { id, state }) = events.next(Duration::from_millis(200))
            && id == input
            && wanted(&state)
        {
            return state;
        }
    }
    panic!("no event: {what}");
}

fn is_green([r, g, b]: [u8; 3]) -> bool {
    g > 100 && r < 50 && b < 50
}

fn is_red([r, g, b]: [u8; 3]) -> bool {
    r > 200 && g < 50 && b < 50
}

#[test]
fn a_camera_that_goes_away_is_an_event_and_the_recording_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("show.mkv");
    // 75 frames at 25 fps: 3 s, of which the camera is there for the first second.
    let studio = Studio::start(StudioSettings {
        backend: BackendChoice::Cpu,
        frame_limit: Some(75),
        ..StudioSettings::default()
    })
    .unwrap();
    let events = studio.subscribe();
    apply(
        &studio,
        r##"{"add_canvas": {"id": "main", "width": 160, "height": 90, "fps": 25, "background": "#000000"}}"##,
    );
    apply(
        &studio,
        r##"{"add_input": {"id": "red", "input": {"kind": "color", "color": "#ff0000"}}}"##,
    );
    apply(
        &studio,
        r#"{"add_layer": {"id": "side", "input": "red", "rect": [80, 0, 80, 90]}}"#,
    );
    let rec_json = serde_json::to_string(&recording).unwrap();
    apply(
        &studio,
        &format!(
            r#"{{"start_output": {{"id": "rec", "output": {{"kind": "record", "path": {rec_json}}}}}}}"#
        ),
    );
    // The camera: green, paced in real time, for one second.
    apply(
        &studio,
        r#"{"add_input": {"id": "cam", "input": {"kind": "camera", "device": "lavfi:color=c=green:s=160x90:r=25:d=1,realtime"}}}"#,
    );
    apply(
        &studio,
        r#"{"add_layer": {"id": "camera", "input": "cam", "rect": [0, 0, 80, 90]}}"#,
    );

    let gone = wait_for(&events, "the camera ended or failed", |s| {
        matches!(s, InputState::Ended | InputState::Failed { .. })
    });
    let state = studio.state();
    let camera = state.inputs.iter().find(|i| i.id == "cam").unwrap();
    assert_eq!(camera.state, gone);
    // The recording goes on to its 75 frames.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !studio.is_idle() {
        assert!(Instant::now() < deadline, "the recording never finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    let report = studio.stop();
    assert_eq!(report.outputs[0].frames, 75);

    let probe = ffprobe_count(&recording).unwrap();
    assert_eq!(probe.video().unwrap().nb_read_frames, Some(75.0));
    let camera = frame_colours(&recording, Some([8, 8, 64, 74])).unwrap();
    let side = frame_colours(&recording, Some([88, 8, 64, 74])).unwrap();
    assert_eq!(side.len(), 75);
    // The camera was there; the other layer renders all along, after it too.
    assert!(camera.iter().copied().any(is_green), "{camera:?}");
    assert!(side.iter().copied().all(is_red), "{side:?}");
}

/// A private X server on display `:number`, killed when dropped.
struct Xvfb(Child);

impl Xvfb {
    /// Starts it with a `root` background (`-wr` white, `-br` black) and waits until it takes
    /// connections.
    fn start(number: u32, root: &str) -> Self {
        let socket = format!("/tmp/.X11-unix/X{number}");
        let _ = std::fs::remove_file(&socket);
        let child = Process::new("Xvfb")
            .arg(format!(":{number}"))
            .args([
                "-screen",
                "0",
                "160x90x24",
                "-nolisten",
                "tcp",
                "-noreset",
                root,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb is not installed: run ./dev setup");
        let mut xvfb = Self(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(Instant::now() < deadline, "Xvfb :{number} did not start");
            assert!(
                xvfb.0.try_wait().unwrap().is_none(),
                "Xvfb :{number} exited"
            );
            std::thread::sleep(Duration::from_millis(30));
        }
        xvfb
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The colour at the middle of the newest canvas frame, waiting (at most 10 s) for one where
/// `wanted` holds.
fn wait_colour(
    frames: &livekit_core::Port<livekit_core::VideoFrame>,
    what: &str,
    wanted: impl Fn([u8; 4]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = None;
    while Instant::now() < deadline {
        if let Pull::Frame(frame) = frames.next(Duration::from_millis(200)) {
            seen = frame.rgba_at(80, 45);
            if seen.is_some_and(&wanted) {
                return;
            }
        }
    }
    panic!("no frame {what}: the last was {seen:?}");
}

/// A capture device that goes away mid-show and comes back (the screen's X server killed,
/// then started again under its number): the input is lost (an event, and the state says
/// why), its layer holds the last frame meanwhile, and it is live again, with new frames, once
/// the device is back.
#[test]
fn a_capture_device_that_goes_away_is_lost_then_live_again() {
    // Well away from the numbers other tests' X servers take.
    let number = 260 + std::process::id() % 60;
    let white = Xvfb::start(number, "-wr");
    let studio = Studio::start(StudioSettings {
        backend: BackendChoice::Cpu,
        ..StudioSettings::default()
    })
    .unwrap();
    let events = studio.subscribe();
    apply(
        &studio,
        r##"{"add_canvas": {"id": "main", "width": 160, "height": 90, "fps": 25, "background": "#00ff00"}}"##,
    );
    apply(
        &studio,
        &format!(
            r#"{{"add_input": {{"id": "screen", "input": {{"kind": "screen", "display": ":{number}", "fps": 25, "cursor": false}}}}}}"#
        ),
    );
    apply(
        &studio,
        r#"{"add_layer": {"id": "picture", "input": "screen"}}"#,
    );
    let frames = studio.frames("main", 4).unwrap();
    wait_for_input(&events, "screen", "live", |s| *s == InputState::Live);
    let is_white = |[r, g, b, _]: [u8; 4]| r > 240 && g > 240 && b > 240;
    let is_black = |[r, g, b, _]: [u8; 4]| r < 16 && g < 16 && b < 16;
    wait_colour(&frames, "showing the white screen", is_white);

    drop(white);
    let lost = wait_for_input(&events, "screen", "lost", |s| {
        matches!(s, InputState::Lost { .. })
    });
    eprintln!("{lost:?}");
    assert_eq!(studio.state().inputs[0].state, lost);
    // The layer holds the last frame: white, not the canvas's green.
    let mut held = 0;
    for _ in 0..10 {
        if let Pull::Frame(frame) = frames.next(Duration::from_secs(1)) {
            let colour = frame.rgba_at(80, 45).unwrap();
            assert!(is_white(colour), "{colour:?} while lost");
            held += 1;
        }
    }
    // The show goes on meanwhile.
    assert_eq!(held, 10);

    // Back, black this time: new frames.
    let _black = Xvfb::start(number, "-br");
    wait_for_input(&events, "screen", "live again", |s| *s == InputState::Live);
    wait_colour(&frames, "showing the black screen", is_black);
    studio.stop();
}
