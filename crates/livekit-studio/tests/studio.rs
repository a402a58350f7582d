//! The Studio on a manual clock, rendered on the CPU: every command kind shows in the next
//! frame (pixels read back), refused commands change nothing (the state document before and
//! after), and the events say what happened.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use livekit_compositor::BackendChoice;
use livekit_core::{FrameSource, ManualClock, Port, Pull, VideoFrame};
use livekit_studio::{Command, CommandError, ErrorKind, Event, InputState, Studio, StudioSettings};

const FRAME: Duration = Duration::from_millis(100);

struct Show {
    studio: Studio,
    clock: ManualClock,
    frames: Arc<Port<VideoFrame>>,
}

fn apply(studio: &Studio, json: &str) {
    let command = Command::from_json(json).unwrap_or_else(|e| panic!("{json}: {e}"));
    studio
        .apply(command)
        .unwrap_or_else(|e| panic!("{json}: {e}"));
}

fn refused(studio: &Studio, json: &str) -> CommandError {
    let command = Command::from_json(json).unwrap_or_else(|e| panic!("{json}: {e}"));
    let before = serde_json::to_value(studio.state()).unwrap();
    let error = studio.apply(command).expect_err(json);
    let after = serde_json::to_value(studio.state()).unwrap();
    assert_eq!(before, after, "{json} was refused but changed the show");
    error
}

/// A studio with a 64x36 canvas at 10 fps (black), and a port that gets its frames.
fn show() -> Show {
    let clock = ManualClock::new();
    let studio = Studio::start(StudioSettings {
        backend: BackendChoice::Cpu,
        clock: Arc::new(clock.clone()),
        ..StudioSettings::default()
    })
    .unwrap();
    apply(
        &studio,
        r##"{"add_canvas": {"id": "main", "width": 64, "height": 36, "fps": 10, "background": "#000000"}}"##,
    );
    let frames = studio.frames("main", 8).unwrap();
    Show {
        studio,
        clock,
        frames,
    }
}

impl Show {
    /// Moves the clock one frame on and returns the frame rendered for that time.
    fn next_frame(&self) -> VideoFrame {
        self.clock.advance(FRAME);
        let due = self.clock_now();
        loop {
            match self.frames.next(Duration::from_secs(10)) {
                Pull::Frame(frame) if frame.pts() >= due => return frame,
                Pull::Frame(_) => continue,
                other => panic!("no frame for {due:?}: {}", other.is_pending()),
            }
        }
    }

    fn clock_now(&self) -> Duration {
        livekit_core::Clock::now(&self.clock)
    }

    fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let frame = self.next_frame();
        let [r, g, b, _] = frame.rgba_at(x, y).expect("a pixel inside the canvas");
        [r, g, b]
    }

    fn apply(&self, json: &str) {
        apply(&self.studio, json);
    }
}

fn near(actual: [u8; 3], expected: [u8; 3]) -> bool {
    actual
        .iter()
        .zip(expected)
        .all(|(a, e)| (i32::from(*a) - i32::from(e)).abs() <= 6)
}

#[track_caller]
fn assert_color(actual: [u8; 3], expected: [u8; 3]) {
    assert!(near(actual, expected), "{actual:?}, expected {expected:?}");
}

const RED: [u8; 3] = [255, 0, 0];
const BLUE: [u8; 3] = [0, 0, 255];
const GREEN: [u8; 3] = [0, 255, 0];
const BLACK: [u8; 3] = [0, 0, 0];

#[test]
fn layer_commands_show_in_the_next_frame() {
    let show = show();
    assert_color(show.pixel(10, 10), BLACK);
    show.apply(r##"{"add_input": {"id": "red", "input": {"kind": "color", "color": "#ff0000"}}}"##);
    show.apply(
        r##"{"add_input": {"id": "blue", "input": {"kind": "color", "color": "#0000ff"}}}"##,
    );
    show.apply(r#"{"add_layer": {"id": "back", "input": "red"}}"#);
    assert_color(show.pixel(10, 10), RED);

    // A small blue square at the top left, in front.
    show.apply(r#"{"add_layer": {"id": "box", "input": "blue", "rect": [0, 0, 16, 16], "z": 5}}"#);
    let frame = show.next_frame();
    assert_color(rgb(&frame, 4, 4), BLUE);
    assert_color(rgb(&frame, 40, 20), RED);

    // Moved (position moves its rectangle) and resized.
    show.apply(r#"{"update_layer": {"id": "box", "position": [40, 10]}}"#);
    let frame = show.next_frame();
    assert_color(rgb(&frame, 4, 4), RED);
    assert_color(rgb(&frame, 44, 14), BLUE);
    show.apply(r#"{"update_layer": {"id": "box", "rect": [0, 0, 64, 36]}}"#);
    assert_color(show.pixel(60, 30), BLUE);

    // Restacked behind the red layer, then hidden, shown, half transparent.
    show.apply(r#"{"update_layer": {"id": "box", "z": -1}}"#);
    assert_color(show.pixel(60, 30), RED);
    show.apply(r#"{"update_layer": {"id": "box", "z": 5, "visible": false}}"#);
    assert_color(show.pixel(60, 30), RED);
    show.apply(r#"{"update_layer": {"id": "box", "visible": true, "opacity": 0.5}}"#);
    let [r, _, b] = show.pixel(60, 30);
    assert!(
        (110..=145).contains(&r) && (110..=145).contains(&b),
        "{r} {b}"
    );

    // Cropped: a picture with a left half green and a right half blue (a test pattern would
    // do, but colours are easier to read); here the crop of a colour changes nothing visible,
    // so check the state instead.
    show.apply(r#"{"update_layer": {"id": "box", "opacity": 1, "crop": [0, 0, 8, 8]}}"#);
    let state = show.studio.state();
    let layers = &state.canvases[0].scenes[0].layers;
    let boxed = layers.iter().find(|l| l.id == "box").unwrap();
    assert_eq!(boxed.crop, Some([0, 0, 8, 8]));
    assert_eq!(boxed.z, Some(5));
    // Back to front.
    assert_eq!(
        layers.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
        ["back", "box"]
    );

    // Removed.
    show.apply(r#"{"remove_layer": {"id": "box"}}"#);
    assert_color(show.pixel(60, 30), RED);
    show.studio.stop();
}

fn rgb(frame: &VideoFrame, x: u32, y: u32) -> [u8; 3] {
    let [r, g, b, _] = frame.rgba_at(x, y).unwrap();
    [r, g, b]
}

#[test]
fn scenes_switch_by_cut_and_fade() {
    let show = show();
    show.apply(r##"{"add_input": {"id": "red", "input": {"kind": "color", "color": "#ff0000"}}}"##);
    show.apply(
        r##"{"add_input": {"id": "green", "input": {"kind": "color", "color": "#00ff00"}}}"##,
    );
    show.apply(r#"{"add_layer": {"id": "a", "input": "red"}}"#);
    show.apply(r#"{"add_scene": {"scene": "break"}}"#);
    show.apply(r#"{"add_layer": {"id": "b", "scene": "break", "input": "green"}}"#);
    // A layer added to another scene does not show on the live one.
    assert_color(show.pixel(5, 5), RED);

    let events = show.studio.subscribe();
    show.apply(r#"{"switch_scene": {"scene": "break"}}"#);
    assert_color(show.pixel(5, 5), GREEN);
    let mut switched = false;
    while let Some(event) = events.next(Duration::from_millis(200)) {
        if let Event::SceneSwitched { canvas, scene } = event {
            assert_eq!((canvas.as_str(), scene.as_str()), ("main", "break"));
            switched = true;
        }
    }
    assert!(switched, "no scene_switched event");
    assert_eq!(show.studio.state().canvases[0].scene, "break");

    // A fade of 4 frames: half way, half of each.
    show.apply(r#"{"switch_scene": {"scene": "main", "transition": {"fade": 400}}}"#);
    let first = show.pixel(5, 5);
    let second = show.pixel(5, 5);
    let third = show.pixel(5, 5);
    assert!(
        first[0] < second[0] && second[0] < third[0],
        "{first:?} {second:?} {third:?}"
    );
    assert!(first[1] > third[1], "{first:?} {third:?}");
    for _ in 0..3 {
        show.next_frame();
    }
    assert_color(show.pixel(5, 5), RED);
    show.studio.stop();
}

#[test]
fn inputs_are_replaced_and_removed_under_their_layers() {
    let show = show();
    show.apply(r##"{"add_input": {"id": "x", "input": {"kind": "color", "color": "#ff0000"}}}"##);
    show.apply(r#"{"add_layer": {"id": "one", "input": "x", "rect": [0, 0, 32, 36]}}"#);
    show.apply(r#"{"add_layer": {"id": "two", "input": "x", "rect": [32, 0, 32, 36]}}"#);
    let frame = show.next_frame();
    assert_color(rgb(&frame, 5, 5), RED);
    assert_color(rgb(&frame, 50, 5), RED);

    // Both layers show the replacement from the next frame.
    show.apply(
        r##"{"replace_input": {"id": "x", "input": {"kind": "color", "color": "#0000ff"}}}"##,
    );
    let frame = show.next_frame();
    assert_color(rgb(&frame, 5, 5), BLUE);
    assert_color(rgb(&frame, 50, 5), BLUE);

    // A test pattern (a picture the compositor draws) in its place: the SMPTE bars' first
    // bar is light grey, not blue.
    show.apply(
        r#"{"replace_input": {"id": "x", "input": {"kind": "pattern", "pattern": "bars"}}}"#,
    );
    let frame = show.next_frame();
    assert!(!near(rgb(&frame, 1, 1), BLUE), "{:?}", rgb(&frame, 1, 1));

    // A replacement that cannot be opened changes nothing.
    let error = refused(
        &show.studio,
        r#"{"replace_input": {"id": "x", "input": {"kind": "image", "path": "/nonexistent/logo.png"}}}"#,
    );
    assert_eq!(error.kind, ErrorKind::Invalid);
    assert!(error.message.contains("/nonexistent/logo.png"), "{error}");

    show.apply(r#"{"remove_input": {"id": "x"}}"#);
    let state = show.studio.state();
    assert!(state.inputs.is_empty());
    assert!(state.canvases[0].scenes[0].layers.is_empty());
    assert_color(show.pixel(5, 5), BLACK);
    show.studio.stop();
}

#[test]
fn refused_commands_name_what_is_wrong_and_change_nothing() {
    let show = show();
    show.apply(r##"{"add_input": {"id": "red", "input": {"kind": "color", "color": "#ff0000"}}}"##);
    show.apply(r#"{"add_layer": {"id": "a", "input": "red"}}"#);
    let studio = &show.studio;

    let cases: [(&str, ErrorKind, &str); 16] = [
        (
            r#"{"add_layer": {"id": "b"}}"#,
            ErrorKind::Malformed,
            "missing field `input`",
        ),
        (
            r#"{"update_layer": {"id": "a", "scene": "later"}}"#,
            ErrorKind::Conflict,
            "stays in its canvas and scene",
        ),
        (
            r#"{"add_layer": {"id": "b", "input": "nope"}}"#,
            ErrorKind::NotFound,
            "input \"nope\"",
        ),
        (
            r#"{"add_layer": {"id": "a", "input": "red"}}"#,
            ErrorKind::Conflict,
            "layer \"a\" exists",
        ),
        (
            r#"{"add_layer": {"id": "b", "canvas": "side", "input": "red"}}"#,
            ErrorKind::NotFound,
            "canvas \"side\"",
        ),
        (
            r#"{"add_layer": {"id": "b", "scene": "later", "input": "red"}}"#,
            ErrorKind::NotFound,
            "later",
        ),
        (
            r#"{"add_layer": {"id": "b c", "input": "red"}}"#,
            ErrorKind::Invalid,
            "layer id \"b c\"",
        ),
        (
            r#"{"update_layer": {"id": "a", "opacity": 2}}"#,
            ErrorKind::Invalid,
            "opacity",
        ),
        (
            r#"{"update_layer": {"id": "a", "rect": [0, 0, 0, 10]}}"#,
            ErrorKind::Invalid,
            "layer \"a\"",
        ),
        (
            r#"{"update_layer": {"id": "zz", "z": 1}}"#,
            ErrorKind::NotFound,
            "layer \"zz\"",
        ),
        (
            r#"{"remove_layer": {"id": "zz"}}"#,
            ErrorKind::NotFound,
            "layer \"zz\"",
        ),
        (
            r##"{"add_input": {"id": "red", "input": {"kind": "color", "color": "#00ff00"}}}"##,
            ErrorKind::Conflict,
            "input \"red\" exists",
        ),
        (
            r#"{"switch_scene": {"scene": "later"}}"#,
            ErrorKind::NotFound,
            "later",
        ),
        (
            r#"{"add_canvas": {"id": "main", "width": 64, "height": 36}}"#,
            ErrorKind::Conflict,
            "canvas \"main\" exists",
        ),
        (
            r#"{"pause_input": {"id": "red"}}"#,
            ErrorKind::Conflict,
            "only files and playlists",
        ),
        (
            r#"{"set_audio": {"id": "red", "gain": 0.5}}"#,
            ErrorKind::Conflict,
            "has no sound",
        ),
    ];
    for (json, kind, names) in cases {
        let error = refused(studio, json);
        assert_eq!(error.kind, kind, "{json}: {error}");
        assert!(error.message.contains(names), "{json}: {error}");
        assert!(!error.message.contains('\n'), "{json}: {error}");
    }
    let state = studio.state();
    assert_eq!(state.commands_applied, 3);
    show.studio.stop();
}

#[test]
fn malformed_commands_name_the_field() {
    let cases = [
        (
            r#"{"add_input": {"id": "b"}}"#,
            "add_input: missing field `input`",
        ),
        (r#"{"fly": {"id": "b"}}"#, "unknown variant `fly`"),
        (
            r#"{"update_layer": {"id": "a", "opacity": "high"}}"#,
            "update_layer.opacity: invalid type",
        ),
        (
            r#"{"update_layer": {"id": "a", "visble": false}}"#,
            "visble",
        ),
        (
            r#"{"add_input": {"id": "x", "input": {"kind": "colour"}}}"#,
            "input",
        ),
        (
            r#"{"add_input": {"id": "x", "input": {"kind": "color", "color": "red"}}}"#,
            "add_input.input: invalid colour \"red\"",
        ),
        (r#"{"remove_layer": {"id": "a"}} trailing"#, "trailing"),
        // Found by the studio_command fuzz target: it read as an infinitely wide layer.
        (
            r#"{"add_layer": {"id": "e", "rect": [0, 0, 1e39, 16]}}"#,
            "add_layer.rect[2]: 1e39 is out of range",
        ),
        (r#"not json"#, "expected"),
    ];
    for (json, names) in cases {
        let error = Command::from_json(json).expect_err(json);
        assert_eq!(error.kind, ErrorKind::Malformed, "{json}");
        assert!(error.message.contains(names), "{json}: {error}");
    }
    // A command may be logged: its Debug form keeps keys out.
    let stream = Command::from_json(
        r#"{"start_output": {"id": "s", "output": {"kind": "stream", "to": ["rtmp://h/app/SECRETKEY123"]}}}"#,
    )
    .unwrap();
    let shown = format!("{stream:?}");
    assert!(
        !shown.contains("SECRETKEY123") && shown.contains("<redacted>"),
        "{shown}"
    );
    // And back: a command's JSON form reads as the same command.
    let json = r#"{"add_layer": {"id": "b", "input": "x", "rect": [1, 2, 3, 4], "fit": "contain", "align": "top-left"}}"#;
    let command = Command::from_json(json).unwrap();
    assert_eq!(Command::from_json(&command.to_json()).unwrap(), command);
}

#[test]
fn events_tell_what_happened_and_a_slow_subscriber_loses_the_oldest() {
    let show = show();
    let events = show.studio.subscribe();
    let slow = show.studio.subscribe_with(2);
    show.apply(r##"{"add_input": {"id": "red", "input": {"kind": "color", "color": "#ff0000"}}}"##);
    show.apply(r#"{"add_layer": {"id": "a", "input": "red"}}"#);
    show.apply(r#"{"update_layer": {"id": "a", "z": 3}}"#);
    show.apply(r#"{"remove_layer": {"id": "a"}}"#);
    let mut applied = Vec::new();
    let mut input_live = false;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while (applied.len() < 4 || !input_live) && std::time::Instant::now() < deadline {
        match events.next(Duration::from_millis(100)) {
            Some(Event::CommandApplied { seq, command }) => applied.push((seq, command)),
            Some(Event::Input { id, state }) => {
                assert_eq!(id, "red");
                input_live |= state == InputState::Live;
            }
            _ => {}
        }
    }
    let names: Vec<_> = applied.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(
        names,
        ["add_input", "add_layer", "update_layer", "remove_layer"]
    );
    assert_eq!(applied[0].0 + 3, applied[3].0);
    assert_eq!(events.lost(), 0);
    // The slow one kept the newest two and counted the rest.
    assert!(slow.lost() >= 2, "lost {}", slow.lost());
    let kept: Vec<_> = std::iter::from_fn(|| slow.next(Duration::from_millis(10))).collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    show.studio.stop();
    // Stopped: subscriptions end.
    assert!(events.next(Duration::from_secs(1)).is_none() || events.is_finished());
}

/// Opening an input can take seconds (here a server that takes the connection and never
/// answers): the show is not locked meanwhile, so its state (the API, the outputs) goes on.
#[test]
fn an_input_that_is_slow_to_open_does_not_hold_up_the_show() {
    let studio = Arc::new(
        Studio::start(StudioSettings {
            backend: BackendChoice::Cpu,
            ..StudioSettings::default()
        })
        .unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/clip.ts", listener.local_addr().unwrap());
    let opening = {
        let studio = Arc::clone(&studio);
        livekit_core::thread::spawn_named("test.open", move || {
            studio.apply(
                Command::from_json(&format!(
                    r#"{{"add_input": {{"id": "slow", "input": {{"kind": "file", "path": "{url}"}}}}}}"#
                ))
                .unwrap(),
            )
        })
        .unwrap()
    };
    // The player has connected: the open is under way, waiting for an answer.
    let (connection, _) = listener.accept().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let asked = std::time::Instant::now();
    let state = studio.state();
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "the state took {:?} while an input opened",
        asked.elapsed()
    );
    assert!(state.inputs.is_empty());
    // The server goes away: the open fails, and the input was never added.
    drop(connection);
    drop(listener);
    let result = opening.join().unwrap();
    assert!(result.is_err(), "{result:?}");
    assert!(studio.state().inputs.is_empty());
}
