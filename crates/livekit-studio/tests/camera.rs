//! A camera that goes away mid-show is an input event, and the show goes on: the other layers
//! keep rendering and the recording continues to its end.
//!
//! The camera is FFmpeg's lavfi virtual device with a one-second stream: the same capture
//! path as a webcam (a libavdevice input read on the capture thread, its events mapped to the
//! input's state), whose stream stops mid-show. A V4L2 device cannot be made to disappear on
//! the build machines: they have no v4l2loopback module and cannot load one.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

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
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(Event::Input { id, state }) = events.next(Duration::from_millis(200))
            && id == "cam"
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
