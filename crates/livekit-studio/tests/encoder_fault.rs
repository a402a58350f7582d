//! An encoder that fails mid-show (a hardware encoder whose GPU was reset, memory running
//! out: made to happen here by `livekit-sinks`' `fault-injection` feature) fails its outputs
//! with the encoder's error, keeps what they recorded, and holds up nothing: the canvas takes
//! new outputs, and an input that fed the encode plays on. An encoder thread that panics
//! does the same, and the WebRTC viewers of a failed encode are told they left.
//!
//! One test in this binary: an armed failure is taken by the next encoder the process starts,
//! so no other test may start one at the same time.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use livekit_compositor::BackendChoice;
use livekit_sinks::encoder_faults::{Kind, fail_next_encoder, panic_next_encoder};
use livekit_studio::{
    Command, Event, InputState, OutputState, Studio, StudioSettings, ViewerChange,
};
use livekit_testkit::media::{ClipSpec, clip};
use livekit_testkit::probe::{decodes_cleanly, ffprobe_count};
use livekit_testkit::webrtc::whep_offer;

fn apply(studio: &Studio, json: &str) {
    studio
        .apply(Command::from_json(json).unwrap())
        .unwrap_or_else(|e| panic!("{json}: {e}"));
}

/// Waits (at most 30 s) for output `id`'s event whose state `wanted` takes.
fn wait_for_output(
    events: &livekit_studio::Subscription,
    id: &str,
    wanted: impl Fn(&OutputState) -> bool,
) -> OutputState {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(Event::Output { id: output, state }) = events.next(Duration::from_millis(200))
            && output == id
            && wanted(&state)
        {
            return state;
        }
    }
    panic!("output {id}: no such event");
}

fn failed_with(state: &OutputState) -> &str {
    match state {
        OutputState::Failed { error } => error,
        other => panic!("not failed: {other:?}"),
    }
}

#[test]
fn an_encoder_that_fails_fails_its_outputs_and_holds_up_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = StudioSettings {
        backend: BackendChoice::Cpu,
        ..StudioSettings::default()
    };
    settings.encoder.video.fps = (30, 1);
    let studio = Studio::start(settings).unwrap();
    let events = studio.subscribe();

    // A canvas whose video encoder fails after 15 frames.
    apply(
        &studio,
        r##"{"add_canvas": {"id": "main", "width": 160, "height": 90, "fps": 30, "background": "#00ff00"}}"##,
    );
    fail_next_encoder(Kind::Video, 15);
    let first = dir.path().join("first.mkv");
    apply(
        &studio,
        &format!(
            r#"{{"start_output": {{"id": "rec", "output": {{"kind": "record", "path": "{}"}}}}}}"#,
            first.display()
        ),
    );
    let state = wait_for_output(&events, "rec", |s| matches!(s, OutputState::Failed { .. }));
    let error = failed_with(&state);
    assert!(
        error.starts_with("encoding stopped: H.264 encoder libx264: encoding failed:")
            && error.contains("Input/output error"),
        "{error}"
    );
    // It stays failed, with its error, in the state document.
    let shown = studio.state();
    let rec = shown.outputs.iter().find(|o| o.id == "rec").unwrap();
    assert_eq!(rec.state, state);
    // What was encoded before the failure was recorded, and the file is whole.
    let deadline = Instant::now() + Duration::from_secs(10);
    while decodes_cleanly(&first).is_err() {
        assert!(
            Instant::now() < deadline,
            "{}",
            decodes_cleanly(&first).unwrap_err()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let frames = ffprobe_count(&first)
        .unwrap()
        .video()
        .unwrap()
        .nb_read_frames;
    assert_eq!(frames, Some(15.0));

    // The canvas takes a new output, on a new encode.
    let second = dir.path().join("second.mkv");
    apply(
        &studio,
        &format!(
            r#"{{"start_output": {{"id": "again", "output": {{"kind": "record", "path": "{}"}}}}}}"#,
            second.display()
        ),
    );
    wait_for_output(&events, "again", |s| *s == OutputState::Live);

    // An encoder whose thread panics fails its encode as an error does, and the WebRTC
    // viewers of that encode are told they left, and why (they once went without a word).
    apply(
        &studio,
        r##"{"add_canvas": {"id": "side", "width": 160, "height": 90, "fps": 30, "background": "#0000ff"}}"##,
    );
    panic_next_encoder(Kind::Video, 10);
    let bind = std::net::IpAddr::from([127, 0, 0, 1]);
    let (viewer, _answer) = studio.add_viewer("side", &whep_offer(), bind).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let reason = loop {
        assert!(Instant::now() < deadline, "viewer {viewer} never left");
        if let Some(Event::Viewer {
            canvas,
            id,
            change: ViewerChange::Left,
            reason,
        }) = events.next(Duration::from_millis(200))
            && canvas == "side"
            && id == viewer
        {
            break reason;
        }
    };
    assert_eq!(
        reason.as_deref(),
        Some("encoding stopped: encoder thread livekit.encode.video panicked")
    );
    assert!(studio.viewers("side").is_empty());
    // The next viewer gets a new encode.
    let (next, _answer) = studio.add_viewer("side", &whep_offer(), bind).unwrap();
    assert_ne!(next, viewer);
    let watching: Vec<String> = studio.viewers("side").into_iter().map(|v| v.id).collect();
    assert_eq!(watching, [next]);

    // A file read as fast as it is taken, feeding an encode whose sound encoder fails: the
    // output fails, and the input is let go (it would wait for ever on an encoder that no
    // longer reads) and plays to its end.
    let film = dir.path().join("film.mp4");
    clip(
        &film,
        &ClipSpec {
            seconds: 3.0,
            ..ClipSpec::default()
        },
    );
    apply(
        &studio,
        &format!(
            r#"{{"add_input": {{"id": "film", "input": {{"kind": "file", "path": "{}",
                "readrate": 0, "paused": true}}}}}}"#,
            film.display()
        ),
    );
    fail_next_encoder(Kind::Audio, 10);
    let fed = dir.path().join("fed.mkv");
    apply(
        &studio,
        &format!(
            r#"{{"start_output": {{"id": "fed", "input": "film",
                "output": {{"kind": "record", "path": "{}"}}}}}}"#,
            fed.display()
        ),
    );
    apply(&studio, r#"{"resume_input": {"id": "film"}}"#);
    let state = wait_for_output(&events, "fed", |s| matches!(s, OutputState::Failed { .. }));
    let error = failed_with(&state);
    assert!(
        error.starts_with("encoding stopped: AAC encoder: encoding failed:"),
        "{error}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let shown = studio.state();
        let film = shown.inputs.iter().find(|i| i.id == "film").unwrap();
        if film.state == InputState::Ended {
            break;
        }
        assert!(Instant::now() < deadline, "the input never ended: {film:?}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The second recording was never held up, and ends whole.
    let report = studio.stop();
    let again = report.outputs.iter().find(|o| o.id == "again").unwrap();
    again.recording.as_ref().unwrap().result.as_ref().unwrap();
    decodes_cleanly(&second).unwrap();
    // What the failed encode wrote before it failed is a whole file too.
    decodes_cleanly(&fed).unwrap();
    // The summary counts what the failed canvas encode encoded (it once said 0).
    let rec = report.outputs.iter().find(|o| o.id == "rec").unwrap();
    assert_eq!(rec.frames, 15);
    assert!(rec.encoding_error.is_some(), "{rec:?}");
}
