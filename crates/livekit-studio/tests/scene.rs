//! Today's scene files on a studio: the canvas, scenes and layers as written, and a file
//! layer's sound in the program audio (a composed show used to be silent).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use livekit_compositor::BackendChoice;
use livekit_core::{FrameSource, Pull};
use livekit_studio::{Command, ErrorKind, InputSpec, Studio, StudioSettings, scene_commands};
use livekit_testkit::media::{ClipSpec, clip};

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
    let commands = scene_commands(&file);
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
