//! Today's scene files on a studio: the canvas, scenes and layers as written, and a file
//! layer's sound in the program audio (a composed show used to be silent).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use livekit_compositor::BackendChoice;
use livekit_core::{FrameSource, Pull};
use livekit_studio::{
    Command, ErrorKind, InputSpec, InputState, OutputState, Stats, Studio, StudioSettings,
    StudioState, scene_commands,
};
use livekit_testkit::media::{ClipSpec, clip};
use livekit_testkit::probe::frame_colours;

fn studio() -> Studio {
    Studio::start(StudioSettings {
        backend: BackendChoice::Cpu,
        ..StudioSettings::default()
    })
    .unwrap()
}

#[test]
fn a_scene_file_with_a_file_layer_shows_it_and_its_sound_is_in_the_program() {
    let dir = tempfile::tempdir().unwrap();
    clip(
        &dir.path().join("tone.mp4"),
        &ClipSpec {
            seconds: 3.0,
            ..ClipSpec::default()
        },
    );
    let scene = dir.path().join("scene.toml");
    std::fs::write(
        &scene,
        r##"
[canvas]
width = 320
height = 180
fps = 25
background = "#000000"

[[layer]]
source = { color = "#ff0000" }

[[layer]]
source = { file = "tone.mp4", loop = true }
rect = [160, 0, 160, 90]

[[layer]]
scene = "break"
source = { color = "#0000ff" }
"##,
    )
    .unwrap();
    let file = livekit_compositor::SceneFile::load(&scene).unwrap();
    let commands = scene_commands(&file).unwrap();
    let names: Vec<_> = commands.iter().map(Command::name).collect();
    assert_eq!(
        names,
        [
            "add_canvas",
            "add_input",
            "add_layer",
            "add_input",
            "add_layer",
            "add_scene",
            "add_input",
            "add_layer"
        ]
    );
    assert!(matches!(
        &commands[3],
        Command::AddInput {
            input: InputSpec::File {
                looping: true,
                audio: true,
                ..
            },
            ..
        }
    ));

    let studio = studio();
    let tap = studio.program_audio();
    studio.load_scene(&scene, &file).unwrap();
    let frames = studio.frames("main", 4).unwrap();
    let state = studio.state();
    assert_eq!(state.canvases[0].scenes.len(), 2);
    assert_eq!(state.canvases[0].fps, 25.0);

    // Once the file's picture is there: red on the left, testsrc2 (not red) in the corner.
    let deadline = Instant::now() + Duration::from_secs(20);
    let frame = loop {
        assert!(Instant::now() < deadline, "the file never showed");
        if let Pull::Frame(frame) = frames.next(Duration::from_secs(1)) {
            let corner = frame.rgba_at(240, 45).unwrap();
            if corner != [255, 0, 0, 255] && corner != [0, 0, 0, 255] {
                break frame;
            }
        }
    };
    let left = frame.rgba_at(40, 100).unwrap();
    assert!(left[0] > 240 && left[1] < 15 && left[2] < 15, "{left:?}");

    // Its 440 Hz tone (amplitude 1/8) is in the program audio.
    let mut loudest = 0.0f32;
    let deadline = Instant::now() + Duration::from_secs(10);
    while loudest < 0.09 && Instant::now() < deadline {
        if let Pull::Frame(block) = tap.next(Duration::from_millis(200)) {
            loudest = block.samples().iter().fold(loudest, |m, s| m.max(s.abs()));
        }
    }
    assert!((0.09..=0.17).contains(&loudest), "program peak {loudest}");
    studio.stop();
}

#[test]
fn a_layer_that_cannot_be_opened_is_named_by_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("scene.toml");
    std::fs::write(
        &scene,
        r##"[canvas]
width = 64
height = 64

[[layer]]
source = { color = "#ff0000" }

[[layer]]
source = { camera = "/dev/video-that-does-not-exist" }
"##,
    )
    .unwrap();
    let studio = studio();
    let error = studio.load_scene_file(&scene).unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("{}:8: ", scene.display())),
        "{text}"
    );
    assert!(text.contains("video-that-does-not-exist"), "{text}");
    // What came before stays; nothing of the failed layer does.
    let state = studio.state();
    assert_eq!(state.inputs.len(), 1);
    // And a command naming it is refused as unknown.
    let error = studio
        .apply(Command::from_json(r#"{"remove_input": {"id": "layer-2"}}"#).unwrap())
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::NotFound);
    studio.stop();
}

fn studio_with(frame_limit: Option<u64>) -> Studio {
    Studio::start(StudioSettings {
        backend: BackendChoice::Cpu,
        frame_limit,
        ..StudioSettings::default()
    })
    .unwrap()
}

fn apply(studio: &Studio, json: &str) {
    studio
        .apply(Command::from_json(json).unwrap())
        .unwrap_or_else(|e| panic!("{json}: {e}"));
}

fn is_blue([r, g, b]: [u8; 3]) -> bool {
    b > 200 && r < 50 && g < 50
}

fn is_red([r, g, b]: [u8; 3]) -> bool {
    r > 200 && g < 50 && b < 50
}

/// Waits (up to 20 s) until no output of `studio` runs any more.
fn wait_idle(studio: &Studio) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !studio.is_idle() {
        assert!(Instant::now() < deadline, "the outputs never finished");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const WHOLE_STUDIO: &str = r##"
[canvas]
width = 320
height = 180
fps = 25
background = "#000000"
scenes = ["main", "break"]

[[input]]
id = "box"
kind = "color"
color = "#0000ff"

[[input]]
id = "bg"
kind = "color"
color = "#ff0000"
when_failed = "hide"

[[layer]]
id = "background"
input = "bg"

[[layer]]
id = "left"
input = "box"
rect = [0, 0, 80, 80]

[[layer]]
id = "right"
input = "box"
rect = [240, 100, 80, 80]

[[output]]
id = "rec"
kind = "record"
path = "show.mkv"
"##;

#[test]
fn a_scene_file_names_inputs_that_layers_share_and_starts_its_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("studio.toml");
    std::fs::write(&scene, WHOLE_STUDIO).unwrap();
    let studio = studio_with(Some(10));
    studio.load_scene_file(&scene).unwrap();
    let state = studio.state();
    let ids: Vec<&str> = state.inputs.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["box", "bg"]);
    assert_eq!(state.inputs[0].layers, ["left", "right"]);
    assert_eq!(state.inputs[1].layers, ["background"]);
    assert_eq!(
        state.canvases[0]
            .scenes
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["main", "break"]
    );
    assert_eq!(state.outputs.len(), 1);
    assert_eq!(state.outputs[0].id, "rec");
    let recording = dir.path().join("show.mkv");
    assert_eq!(
        state.outputs[0].output,
        livekit_studio::OutputSpec::Record {
            path: recording.clone(),
            crash_safe: false
        }
    );

    // The recording (started by the file, 10 frames): both layers of "box" blue, red between.
    wait_idle(&studio);
    studio.stop();
    let left = frame_colours(&recording, Some([8, 8, 64, 64])).unwrap();
    let right = frame_colours(&recording, Some([248, 108, 64, 64])).unwrap();
    let middle = frame_colours(&recording, Some([120, 60, 80, 40])).unwrap();
    assert_eq!(left.len(), 10, "{left:?}");
    assert!(left.iter().copied().all(is_blue), "{left:?}");
    assert!(right.iter().copied().all(is_blue), "{right:?}");
    assert!(middle.iter().copied().all(is_red), "{middle:?}");
}

#[test]
fn replacing_a_named_input_changes_every_layer_that_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("studio.toml");
    // Without the output: this test reads the canvas itself.
    let text = WHOLE_STUDIO.split("[[output]]").next().unwrap();
    std::fs::write(&scene, text).unwrap();
    let studio = studio();
    studio.load_scene_file(&scene).unwrap();
    let frames = studio.frames("main", 4).unwrap();
    apply(
        &studio,
        r##"{"replace_input": {"id": "box", "input": {"kind": "color", "color": "#00ff00"}}}"##,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let frame = loop {
        assert!(Instant::now() < deadline, "the new input never showed");
        if let Pull::Frame(frame) = frames.next(Duration::from_secs(1))
            && frame.rgba_at(40, 40) == Some([0, 255, 0, 255])
        {
            break frame;
        }
    };
    // The same frame shows it in the other layer too, and the background is untouched.
    assert_eq!(frame.rgba_at(280, 140), Some([0, 255, 0, 255]));
    assert_eq!(frame.rgba_at(160, 90), Some([255, 0, 0, 255]));
    studio.stop();
}

fn load_error(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("bad.toml");
    std::fs::write(&scene, text).unwrap();
    let studio = studio();
    let error = studio.load_scene_file(&scene).unwrap_err().to_string();
    studio.stop();
    error
        .strip_prefix(&format!("{}", dir.path().display()))
        .unwrap_or(&error)
        .to_owned()
}

#[test]
fn mistakes_in_inputs_and_outputs_name_the_line_and_the_field() {
    const CANVAS: &str = "[canvas]\nwidth = 64\nheight = 36\n";
    let unknown = load_error(&format!(
        "{CANVAS}\n[[input]]\nid = \"cam\"\nkind = \"camera\"\ndevcie = \"/dev/video0\"\n"
    ));
    assert!(
        unknown.starts_with("/bad.toml:8: input \"cam\": unknown field `devcie`"),
        "{unknown}"
    );
    let wrong = load_error(&format!(
        "{CANVAS}\n[[input]]\nid = \"c\"\nkind = \"color\"\ncolor = \"blue\"\n"
    ));
    assert!(
        wrong.starts_with("/bad.toml:") && wrong.contains("input \"c\"") && wrong.contains("blue"),
        "{wrong}"
    );
    let kind = load_error(&format!(
        "{CANVAS}\n[[input]]\nid = \"x\"\nkind = \"hologram\"\n"
    ));
    assert!(
        kind.starts_with("/bad.toml:7: input \"x\" kind: unknown variant `hologram`")
            || kind.starts_with("/bad.toml:7: input \"x\": unknown variant `hologram`"),
        "{kind}"
    );
    assert_eq!(
        load_error(&format!("{CANVAS}\n[[input]]\nkind = \"color\"\n")),
        "/bad.toml:5: input 1: missing field `id`"
    );
    assert_eq!(
        load_error(&format!("{CANVAS}\n[[layer]]\ninput = \"nope\"\n")),
        "/bad.toml:6: layer 1 input: no [[input]] has the id \"nope\""
    );
    assert_eq!(
        load_error(&format!(
            "{CANVAS}\n[[input]]\nid = \"c\"\nkind = \"color\"\ncolor = \"#ff0000\"\n\n[[layer]]\ninput = \"c\"\nsource = {{ color = \"#ff0000\" }}\n"
        )),
        "/bad.toml:10: layer 1: give either source = { ... } or input = \"ID\" (an [[input]]'s id)"
    );
    let missing = load_error(&format!(
        "{CANVAS}\n[[output]]\nid = \"rec\"\nkind = \"record\"\n"
    ));
    assert_eq!(missing, "/bad.toml:5: output \"rec\": missing field `path`");
    // Refused when applied: the id is taken (an inline layer's input has the layer's id).
    let taken = load_error(&format!(
        "{CANVAS}\n[[input]]\nid = \"a\"\nkind = \"color\"\ncolor = \"#ff0000\"\n\n[[layer]]\nid = \"a\"\nsource = {{ color = \"#00ff00\" }}\n"
    ));
    assert_eq!(taken, "/bad.toml:10: input \"a\" exists already");
}

/// What only running changes, set aside: input and output states, counters, statistics.
fn comparable(mut state: StudioState) -> StudioState {
    state.commands_applied = 0;
    state.stats = Stats::default();
    for input in &mut state.inputs {
        input.state = InputState::Live;
        // Where a file plays moves on.
        input.playing = None;
    }
    for output in &mut state.outputs {
        output.state = OutputState::Live;
        output.frames = 0;
        output.dropped_frames = 0;
        output.destinations.clear();
        output.recording = None;
        output.encoder = None;
    }
    state
}

#[test]
fn a_show_exported_as_a_scene_file_loads_into_the_same_show() {
    let dir = tempfile::tempdir().unwrap();
    let clip_path = dir.path().join("clip.mp4");
    clip(&clip_path, &ClipSpec::default());
    let rec = dir.path().join("rt.mkv");
    // A site from the configuration: the scene file names it, its key stays out.
    let site = livekit_sinks::stream::SiteConfig {
        url: Some("rtmp://127.0.0.1:9/live".into()),
        key: Some("secretkey123".into()),
        ..Default::default()
    };
    let with_site = || {
        Studio::start(StudioSettings {
            backend: BackendChoice::Cpu,
            sites: [("local".to_owned(), site.clone())].into(),
            ..StudioSettings::default()
        })
        .unwrap()
    };
    let show = with_site();
    let clip_json = serde_json::to_string(&clip_path).unwrap();
    let rec_json = serde_json::to_string(&rec).unwrap();
    for json in [
        r##"{"add_canvas": {"id": "main", "width": 320, "height": 180, "fps": "30000/1001", "background": "#102030"}}"##.to_owned(),
        r#"{"add_scene": {"scene": "break"}}"#.to_owned(),
        r#"{"add_scene": {"scene": "empty"}}"#.to_owned(),
        format!(r#"{{"add_input": {{"id": "clip", "input": {{"kind": "file", "path": {clip_json}, "loop": true}}, "audio": {{"gain": 0.5, "muted": true}}}}}}"#),
        r#"{"add_input": {"id": "bars", "input": {"kind": "pattern", "pattern": "bars"}, "when_failed": "hide"}}"#.to_owned(),
        r##"{"add_input": {"id": "title", "input": {"kind": "text", "text": "LIVE\nnow", "size": 24, "color": "#ffff00", "background": "#000000"}}}"##.to_owned(),
        format!(r#"{{"add_input": {{"id": "list", "input": {{"kind": "playlist", "paths": [{clip_json}, {clip_json}], "loop": true}}}}}}"#),
        r#"{"add_layer": {"id": "full", "input": "bars"}}"#.to_owned(),
        r#"{"add_layer": {"id": "corner", "input": "clip", "rect": [160, 90, 160, 90], "crop": [0, 0, 160, 120], "opacity": 0.5, "rotation": 90, "flip_horizontal": true, "fit": "contain", "align": "top-left"}}"#.to_owned(),
        r#"{"add_layer": {"id": "again", "input": "clip", "position": [4, 4], "z": -3, "visible": false}}"#.to_owned(),
        r#"{"add_layer": {"id": "words", "input": "title", "scene": "break", "rect": [0, 0, 320, 40]}}"#.to_owned(),
        r#"{"add_layer": {"id": "tv", "input": "list", "scene": "break", "rect": [0, 40, 160, 90]}}"#.to_owned(),
        r#"{"update_layer": {"id": "full", "z": 2}}"#.to_owned(),
        r#"{"switch_scene": {"scene": "break"}}"#.to_owned(),
        format!(r#"{{"start_output": {{"id": "rec", "output": {{"kind": "record", "path": {rec_json}, "crash_safe": true}}}}}}"#),
        r#"{"start_output": {"id": "live", "output": {"kind": "stream", "to": ["local"]}}}"#.to_owned(),
    ] {
        apply(&show, &json);
    }
    let exported = show.scene_file();
    let before = comparable(show.state());
    show.stop();
    assert!(!exported.contains("secretkey123"), "{exported}");

    let path = dir.path().join("exported.toml");
    std::fs::write(&path, &exported).unwrap();
    let again = with_site();
    again
        .load_scene_file(&path)
        .unwrap_or_else(|e| panic!("{e}\n{exported}"));
    let after = comparable(again.state());
    again.stop();
    assert_eq!(
        serde_json::to_value(&after).unwrap(),
        serde_json::to_value(&before).unwrap(),
        "{exported}"
    );
}

#[test]
fn a_stream_url_with_a_key_is_left_out_of_an_exported_scene_file() {
    let show = studio();
    apply(
        &show,
        r#"{"add_canvas": {"id": "main", "width": 64, "height": 36}}"#,
    );
    apply(
        &show,
        r#"{"start_output": {"id": "live", "output": {"kind": "stream", "to": ["rtmp://127.0.0.1:9/live/secretkey123"]}}}"#,
    );
    let exported = show.scene_file();
    show.stop();
    assert!(!exported.contains("secretkey123"), "{exported}");
    assert!(!exported.contains("[[output]]"), "{exported}");
    assert!(
        exported.contains(
            "# output \"live\": rtmp://127.0.0.1:9/live/<redacted> left out: it holds a stream key"
        ),
        "{exported}"
    );
}

/// An input read from a URL with a password and a token: the state document and the scene
/// file written from the show show neither (the scene file says what was left out).
#[test]
fn an_input_urls_password_and_token_are_not_shown() {
    let dir = tempfile::tempdir().unwrap();
    livekit_testkit::media::clip(
        &dir.path().join("clip.mp4"),
        &livekit_testkit::media::ClipSpec::default(),
    );
    let server = livekit_testkit::HttpFiles::start(dir.path());
    let url = server
        .url("clip.mp4")
        .replacen("http://", "http://alice:pw-7e7e7e@", 1)
        + "?token=tok-6d6d6d";
    let show = studio();
    apply(
        &show,
        &format!(
            r#"{{"add_input": {{"id": "net", "input": {{"kind": "file", "path": "{url}", "paused": true}}}}}}"#
        ),
    );
    let state = serde_json::to_string(&show.state()).unwrap();
    let exported = show.scene_file();
    show.stop();
    for text in [&state, &exported] {
        assert!(!text.contains("pw-7e7e7e"), "{text}");
        assert!(!text.contains("tok-6d6d6d"), "{text}");
    }
    let shown = format!(
        "http://<redacted>@127.0.0.1:{}/clip.mp4?<redacted>",
        server.port()
    );
    assert!(state.contains(&shown), "{state}");
    assert!(
        exported.contains(&format!(
            "# input \"net\": {shown}: its password or key was left out"
        )),
        "{exported}"
    );
}
