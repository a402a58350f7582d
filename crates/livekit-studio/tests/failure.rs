//! An input that fails mid-show is an event, and the show goes on: a live RTMP input (a real
//! nginx-rtmp, fed by the ffmpeg CLI) whose publisher goes away.

#![allow(clippy::unwrap_used)]

use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use livekit_compositor::BackendChoice;
use livekit_core::{FrameSource, Pull};
use livekit_studio::{Command, Event, InputState, Studio, StudioSettings};
use livekit_testkit::NginxRtmp;

struct Publisher(Child);

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn publish(url: &str) -> Publisher {
    let child = Process::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-f",
            "flv",
            url,
        ])
        .stdin(Stdio::null())
        .spawn()
        .expect("run ffmpeg (./dev setup installs it)");
    Publisher(child)
}

fn apply(studio: &Studio, json: &str) {
    studio
        .apply(Command::from_json(json).unwrap())
        .unwrap_or_else(|e| panic!("{json}: {e}"));
}

/// Waits for an input event matching `wanted`.
fn wait_for(
    events: &livekit_studio::Subscription,
    what: &str,
    wanted: impl Fn(&InputState) -> bool,
) -> InputState {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(Event::Input { id, state }) = events.next(Duration::from_millis(200))
            && id == "live"
            && wanted(&state)
        {
            return state;
        }
    }
    panic!("no event: {what}");
}

#[test]
fn a_live_input_whose_source_goes_away_is_an_event_and_the_show_goes_on() {
    let nginx = NginxRtmp::start();
    let url = nginx.url("camera");
    let publisher = publish(&url);
    let studio = Studio::start(StudioSettings {
        backend: BackendChoice::Cpu,
        ..StudioSettings::default()
    })
    .unwrap();
    let events = studio.subscribe();
    apply(
        &studio,
        r##"{"add_canvas": {"id": "main", "width": 160, "height": 90, "fps": 10, "background": "#00ff00"}}"##,
    );
    // Once nginx has the publisher's video (a player opened before would find no stream).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !livekit_sources::probe(&url).is_ok_and(|info| info.video.is_some()) {
        assert!(Instant::now() < deadline, "nginx never had the stream");
        std::thread::sleep(Duration::from_millis(300));
    }
    apply(
        &studio,
        &format!(
            r#"{{"add_input": {{"id": "live", "input": {{"kind": "file", "path": "{url}"}}, "when_failed": "hide"}}}}"#
        ),
    );
    apply(
        &studio,
        r#"{"add_layer": {"id": "picture", "input": "live"}}"#,
    );
    wait_for(&events, "live", |s| *s == InputState::Live);

    drop(publisher);
    let state = wait_for(&events, "ended or failed", |s| {
        matches!(s, InputState::Ended | InputState::Failed { .. })
    });
    eprintln!("the input is now {state:?}");
    assert_eq!(studio.state().inputs[0].state, state);

    // The show goes on: frames keep coming, and a new layer shows in them.
    let frames = studio.frames("main", 4).unwrap();
    apply(
        &studio,
        r##"{"add_input": {"id": "red", "input": {"kind": "color", "color": "#ff0000"}}}"##,
    );
    apply(
        &studio,
        r#"{"add_layer": {"id": "corner", "input": "red", "rect": [0, 0, 40, 40], "z": 9}}"#,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "no frame shows the new layer");
        if let Pull::Frame(frame) = frames.next(Duration::from_secs(1))
            && frame.rgba_at(10, 10) == Some([255, 0, 0, 255])
        {
            break;
        }
    }
    studio.stop();
}
