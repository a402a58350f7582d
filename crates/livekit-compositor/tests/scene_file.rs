//! Scene files: the documented example loads and renders; every mistake names the line and the
//! field.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use livekit_compositor::{
    BackendChoice, Color, Compositor, Fit, Fps, InputFrames, LayerSource, SceneFile, SourceSpec,
    TestPattern,
};

const EXAMPLE: &str = r##"
[canvas]
width = 320
height = 180
fps = "30000/1001"
background = "#101820"

[[layer]]
source = { test_pattern = "bars" }
rect = [0, 0, 160, 90]

[[layer]]
source = { color = "#ff0000" }
rect = [160, 90, 160, 90]
opacity = 0.5
z = 2

[[layer]]
source = { text = "LIVE", size = 24, color = "#ffffff", background = "#c00000" }
rect = [200, 10, 100, 40]
fit = "contain"
rotation = 90
flip_horizontal = true

[[layer]]
scene = "brb"
source = { color = "#0000ff" }
"##;

#[test]
fn example_loads_and_renders() {
    let file = SceneFile::parse(Path::new("show.toml"), EXAMPLE).unwrap();
    assert_eq!((file.canvas.width, file.canvas.height), (320, 180));
    assert_eq!(file.canvas.fps, Fps::ratio(30000, 1001));
    assert_eq!(file.canvas.background, Color::rgb(0x10, 0x18, 0x20));
    assert_eq!(file.layers.len(), 4);
    assert_eq!(
        file.layers[0].source,
        SourceSpec::Pattern(TestPattern::Bars)
    );
    assert_eq!(file.layers[1].line, 12);
    let text_layer = file.layers[2].layer(LayerSource::Color(Color::WHITE));
    assert_eq!(text_layer.fit, Fit::Contain);
    assert_eq!(text_layer.rotation, 90.0);
    assert!(text_layer.flip_horizontal);
    assert_eq!(file.layers[3].scene, "brb");

    let mut c = Compositor::new(BackendChoice::Cpu).unwrap();
    let canvas = file
        .apply(Path::new("show.toml"), &mut c, |spec| {
            Err(format!("unexpected {spec:?}"))
        })
        .unwrap();
    let frame = c
        .render_canvas(canvas, Duration::ZERO, &InputFrames::new())
        .unwrap();
    assert_eq!(frame.rgba_at(5, 5), Some([255, 255, 255, 255]), "bars");
    assert_eq!(
        frame.rgba_at(300, 170),
        Some([136, 12, 16, 255]),
        "half red over background"
    );
    assert_eq!(
        frame.rgba_at(100, 150),
        Some([0x10, 0x18, 0x20, 255]),
        "background"
    );
    c.switch_scene(canvas, "brb", livekit_compositor::Transition::Cut)
        .unwrap();
    let frame = c
        .render_canvas(canvas, Duration::ZERO, &InputFrames::new())
        .unwrap();
    assert_eq!(frame.rgba_at(100, 150), Some([0, 0, 255, 255]));
}

fn error(text: &str) -> String {
    SceneFile::parse(Path::new("bad.toml"), text)
        .unwrap_err()
        .to_string()
}

const CANVAS: &str = "[canvas]\nwidth = 64\nheight = 36\n";

#[test]
fn mistakes_name_the_line_and_field() {
    assert_eq!(
        error("[canvas]\nwidth = 0\nheight = 36\n"),
        "bad.toml:2: canvas width: must be between 1 and 16384 (got 0)"
    );
    assert_eq!(
        error("[canvas]\nwidth = 64\nheight = -5\n"),
        "bad.toml:3: canvas height: must be between 1 and 16384 (got -5)"
    );
    // Larger canvases would not render (65536x65536 RGBA is 16 GiB; GPUs stop at 16384).
    assert_eq!(
        error("[canvas]\nwidth = 65536\nheight = 65536\n"),
        "bad.toml:2: canvas width: must be between 1 and 16384 (got 65536)"
    );
    assert_eq!(
        error("[canvas]\nwidth = 64\nheight = 16385\n"),
        "bad.toml:3: canvas height: must be between 1 and 16384 (got 16385)"
    );
    assert_eq!(
        error("[canvas]\nwidth = 64\nheight = 36\nfps = 0\n"),
        "bad.toml:4: canvas fps: must be a whole number 1..=1000 or \"num/den\""
    );
    assert_eq!(
        error("[canvas]\nwidth = 64\nheight = 36\nbackground = \"red\"\n"),
        "bad.toml:4: canvas background: invalid colour \"red\": expected \"#rrggbb\" or \"#rrggbbaa\""
    );
    let unknown = error("[canvas]\nwidth = 64\nheight = 36\nwidht = 3\n");
    assert!(
        unknown.starts_with("bad.toml:4: unknown field `widht`"),
        "{unknown}"
    );
    let missing = error("[canvas]\nwidth = 64\n");
    assert!(
        missing.starts_with("bad.toml:1: missing field `height`"),
        "{missing}"
    );
    let layer = |body: &str| error(&format!("{CANVAS}\n[[layer]]\n{body}\n"));
    assert_eq!(
        layer("source = { color = \"#ff0000\" }\nrect = [0, 0, 0, 10]"),
        "bad.toml:7: layer 1 rect: width and height must be > 0 (got 0 x 10)"
    );
    assert_eq!(
        layer("source = { color = \"#ff0000\" }\nrect = [0, 0, 10]"),
        "bad.toml:7: layer 1 rect: expected [x, y, width, height]"
    );
    assert_eq!(
        layer("source = { color = \"#ff0000\" }\nposition = [1]"),
        "bad.toml:7: layer 1 position: expected [x, y]"
    );
    assert_eq!(
        layer("source = { color = \"#ff0000\" }\nrect = [0, 0, 8, 8]\nposition = [1, 2]"),
        "bad.toml:8: layer 1: give either rect (position and size) or position (its own size), not both"
    );
    assert_eq!(
        layer("source = { color = \"#ff0000\" }\nalign = \"middle\""),
        "bad.toml:7: layer 1 align: unknown value \"middle\": expected one of \"top-left\", \"top\", \"top-right\", \"left\", \"center\", \"right\", \"bottom-left\", \"bottom\", \"bottom-right\""
    );
    assert_eq!(
        layer("source = { color = \"#ff0000\" }\ncrop = [0, 0, -3, 10]"),
        "bad.toml:7: layer 1 crop: expected [x, y, width, height] with x, y >= 0 and width, height > 0"
    );
    assert_eq!(
        layer("source = { color = \"#ff0000\" }\nopacity = 1.5"),
        "bad.toml:7: layer 1 opacity: must be between 0 and 1 (got 1.5)"
    );
    assert_eq!(
        layer("source = { color = \"#ff0000\" }\nfit = \"fill\""),
        "bad.toml:7: layer 1 fit: unknown value \"fill\": expected \"stretch\", \"contain\" or \"cover\""
    );
    assert_eq!(
        layer("source = { image = \"/no/such/logo.png\" }"),
        "bad.toml:6: layer 1 image: no such file: /no/such/logo.png"
    );
    assert_eq!(
        layer("source = { file = \"missing.mp4\" }"),
        "bad.toml:6: layer 1 file: no such file: missing.mp4"
    );
    assert_eq!(
        layer("source = { image = \"/tmp\" }"),
        "bad.toml:6: layer 1 image: /tmp is a folder, not a file"
    );
    assert_eq!(
        layer("source = { test_pattern = \"bars\", camera = \"/dev/video0\" }"),
        "bad.toml:6: layer 1 source: give exactly one of color, image, text, test_pattern, file, camera, screen, window"
    );
    assert_eq!(
        layer("source = { test_pattern = \"plaid\" }"),
        "bad.toml:6: layer 1 test_pattern: unknown pattern \"plaid\": expected \"smpte\", \"bars\" or \"gradient\""
    );
    assert_eq!(
        layer("source = { text = \"hi\", size = 0 }"),
        "bad.toml:6: layer 1 text size: size must be between 1 and 1024 pixels (got 0)"
    );
    assert_eq!(
        layer("source = { color = \"#ff0000\", loop = true }"),
        "bad.toml:6: layer 1 source: loop only goes with file"
    );
    let unknown = layer("source = { color = \"#ff0000\" }\nblend = \"add\"");
    assert!(
        unknown.starts_with("bad.toml:7: unknown field `blend`"),
        "{unknown}"
    );
    let not_toml = error("[canvas\nwidth = 1");
    assert!(not_toml.starts_with("bad.toml:1: "), "{not_toml}");
    let missing = SceneFile::load(Path::new("/no/such/scene.toml"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        missing,
        "/no/such/scene.toml: cannot read the scene file: No such file or directory (os error 2)"
    );
}

#[test]
fn sources_for_the_caller_and_relative_paths() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("clip.mp4"), b"x").unwrap();
    let path = dir.path().join("scene.toml");
    std::fs::write(
        &path,
        format!(
            "{CANVAS}[[layer]]\nsource = {{ file = \"clip.mp4\", loop = true }}\n\
             [[layer]]\nsource = {{ screen = \":0\", region = [0, 0, 640, 360] }}\n\
             [[layer]]\nsource = {{ camera = \"/dev/video0\" }}\n\
             [[layer]]\nsource = {{ window = \"Firefox\" }}\n"
        ),
    )
    .unwrap();
    let file = SceneFile::load(&path).unwrap();
    assert_eq!(
        file.layers[0].source,
        SourceSpec::File {
            path: dir.path().join("clip.mp4"),
            looping: true
        }
    );
    assert_eq!(
        file.layers[1].source,
        SourceSpec::Screen {
            display: ":0".into(),
            region: Some([0, 0, 640, 360])
        }
    );
    assert_eq!(
        file.layers[2].source,
        SourceSpec::Camera("/dev/video0".into())
    );
    assert_eq!(file.layers[3].source, SourceSpec::Window("Firefox".into()));
    let mut c = Compositor::new(BackendChoice::Cpu).unwrap();
    let error = file
        .apply(&path, &mut c, |_| {
            Err("cannot open camera /dev/video0: no such device".into())
        })
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}:4: layer 1: cannot open camera /dev/video0: no such device",
            path.display()
        )
    );
}

#[test]
fn text_keeps_its_shape_and_layers_can_be_placed_by_position() {
    // A wide text in a tall rect: kept in proportion (not stretched to fill the rect), at the
    // left edge as asked; a red square placed by position alone, in its own size.
    let text = format!(
        "{CANVAS}\n[[layer]]\nsource = {{ text = \"WWWWWW\", size = 10, color = \"#ffffff\", background = \"#00ff00\" }}\nrect = [0, 0, 30, 36]\nalign = \"top-left\"\n\n[[layer]]\nsource = {{ color = \"#ff0000\" }}\nposition = [50, 20]\n"
    );
    let file = SceneFile::parse(Path::new("shape.toml"), &text).unwrap();
    let layer = file.layers[0].layer(LayerSource::Color(Color::WHITE));
    assert_eq!(layer.fit, Fit::Contain);
    assert_eq!(layer.align, livekit_compositor::Align::TopLeft);
    let mut c = Compositor::new(BackendChoice::Cpu).unwrap();
    let canvas = file
        .apply(Path::new("shape.toml"), &mut c, |spec| {
            Err(format!("unexpected {spec:?}"))
        })
        .unwrap();
    let frame = c
        .render_canvas(canvas, Duration::ZERO, &InputFrames::new())
        .unwrap();
    // The text's green background starts at the top left and ends well above the rect's bottom.
    assert_eq!(frame.rgba_at(0, 0), Some([0, 255, 0, 255]));
    assert_eq!(
        frame.rgba_at(1, 34),
        Some([0, 0, 0, 255]),
        "below the text: the canvas"
    );
    assert_eq!(frame.rgba_at(49, 25), Some([0, 0, 0, 255]));
    assert_eq!(frame.rgba_at(50, 20), Some([255, 0, 0, 255]));
    assert_eq!(frame.rgba_at(63, 35), Some([255, 0, 0, 255]));
}
