//! Scene files: a canvas and its layers in TOML. The format is defined here, once; the sources
//! this crate cannot open itself (image and media files, cameras, screen and window capture)
//! come back as [`SourceSpec`]s for the caller (the `livekit` command) to open.
//!
//! ```toml
//! [canvas]
//! width = 1280
//! height = 720
//! fps = 30                # or "30000/1001"
//! background = "#101820"
//!
//! [[layer]]
//! source = { test_pattern = "smpte" }   # "smpte" | "bars" | "gradient"
//!
//! [[layer]]
//! source = { file = "intro.mp4", loop = true }
//! rect = [640, 360, 600, 338]            # x, y, width, height in canvas pixels
//! fit = "contain"                        # "stretch" (default) | "contain" | "cover"
//! opacity = 0.9
//!
//! [[layer]]
//! source = { text = "LIVE", size = 48, color = "#ffffff", background = "#c00000" }
//! rect = [20, 20, 160, 70]                # text keeps its proportions in its rect
//! align = "left"                          # where in it: "center" (default), "top-left", ...
//! z = 10
//!
//! [[layer]]
//! source = { image = "logo.png" }
//! position = [1100, 20]                   # x, y: its own size, no rect needed
//! ```
//!
//! Sound without a picture goes in `[[audio]]` tables, mixed into the program audio by a
//! studio (a file layer's own sound is mixed too):
//!
//! ```toml
//! [[audio]]
//! microphone = "default"                  # or a device id or description
//! gain = 0.8                              # linear, 0 to 10 (default 1)
//!
//! [[audio]]
//! file = "music.mp3"
//! loop = true
//! muted = false
//! ```
//!
//! A scene file can describe a whole studio (`livekit-studio` reads these parts; this crate
//! keeps them as [`SceneTable`]s): named inputs that layers share (`input = "ID"` instead of
//! `source`, so several layers show one input and the show can replace it by id), and outputs
//! started when the file is loaded. Their fields are those of the studio's commands
//! (`InputSpec`, `OutputSpec`); streams name sites, whose keys come from the configuration.
//!
//! ```toml
//! [canvas]
//! width = 1280
//! height = 720
//! scenes = ["main", "break"]              # every scene in order (layers may add more)
//! scene = "main"                          # the one shown at the start (default "main")
//!
//! [[input]]
//! id = "cam"
//! kind = "camera"                         # file, playlist, camera, screen, window, image,
//! device = "/dev/video0"                  # pattern, color, text, ipc, microphone
//! when_failed = "hold"                    # or "hide"; gain = 1.0, muted = false for sound
//!
//! [[layer]]
//! id = "big"                              # default "layer-N"
//! input = "cam"
//!
//! [[layer]]
//! id = "small"
//! input = "cam"
//! rect = [960, 540, 320, 180]
//!
//! [[output]]
//! id = "rec"
//! kind = "record"                         # record, stream, preview, ipc, virtual_camera
//! path = "show.mp4"
//!
//! [[output]]
//! id = "live"
//! kind = "stream"
//! to = ["youtube"]                        # sites or URLs; never keys
//! ```
//!
//! Other sources: `{ color = "#rrggbb" }`, `{ image = "logo.png" }`, `{ camera = "/dev/video0" }`,
//! `{ screen = ":0", region = [x, y, w, h] }`, `{ window = "title" }`. Other layer fields:
//! `crop = [x, y, w, h]` (source pixels), `align` (where a source that does not fill its rect
//! sits: `"top-left"`, `"top"`, `"top-right"`, `"left"`, `"center"`, `"right"`, `"bottom-left"`,
//! `"bottom"`, `"bottom-right"`), `rotation` (degrees, clockwise), `flip_horizontal`,
//! `flip_vertical`, `visible`, and `scene` (layers of other scenes than `"main"`). Relative
//! paths are relative to the scene file.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::color::Color;
use crate::scene::{CanvasSettings, Crop, Fit, Fps, Layer, LayerSource, Rect, TestPattern};
use crate::text::Text;

/// A scene file that cannot be used. The message names the file, the line and the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct SceneFileError {
    /// The scene file.
    pub path: PathBuf,
    /// The line at fault (1-based), when there is one.
    pub line: Option<usize>,
    /// What is wrong, starting with the field's name.
    pub message: String,
}

/// What a layer of a scene file shows, before it is opened.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SourceSpec {
    /// A solid colour.
    Color(Color),
    /// Text.
    Text(Text),
    /// A test pattern.
    Pattern(TestPattern),
    /// A picture file (checked to exist).
    Image(PathBuf),
    /// A media file (checked to exist), played in a loop or once.
    File {
        /// The file.
        path: PathBuf,
        /// Start again at the end.
        looping: bool,
    },
    /// A camera device.
    Camera(String),
    /// An X11 display, or a region of it.
    Screen {
        /// The display, such as `":0"`.
        display: String,
        /// `[x, y, w, h]`, if only part of the screen.
        region: Option<[u32; 4]>,
    },
    /// A window, found by its title.
    Window(String),
    /// A named input of the file (an `[[input]]` table with this id, `input = "ID"` in the
    /// layer), opened by a studio.
    Input(String),
}

impl SourceSpec {
    /// The layer source, for the kinds this crate draws itself (colour, text, pattern).
    pub fn builtin(&self) -> Option<LayerSource> {
        match self {
            Self::Color(c) => Some(LayerSource::Color(*c)),
            Self::Text(t) => Some(LayerSource::Text(t.clone())),
            Self::Pattern(p) => Some(LayerSource::Pattern(*p)),
            _ => None,
        }
    }
}

/// One layer of a scene file.
#[derive(Debug, Clone)]
pub struct LayerSpec {
    /// Its id, when the file gives one (`id = "..."`).
    pub id: Option<String>,
    /// What it shows.
    pub source: SourceSpec,
    /// Its settings (the source in it is a placeholder until [`layer`](Self::layer) is called).
    settings: Layer,
    /// The scene it belongs to.
    pub scene: String,
    /// The line of its `[[layer]]` header, for messages.
    pub line: usize,
}

impl LayerSpec {
    /// The layer, showing `source` (use [`SourceSpec::builtin`] or open the source yourself).
    pub fn layer(&self, source: LayerSource) -> Layer {
        Layer {
            source,
            ..self.settings.clone()
        }
    }
}

/// What an `[[audio]]` table of a scene file plays.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AudioSourceSpec {
    /// A microphone; `None`: the system's default input.
    Microphone(Option<String>),
    /// A media file's sound (checked to exist), played in a loop or once.
    File {
        /// The file.
        path: PathBuf,
        /// Start again at the end.
        looping: bool,
    },
}

/// One `[[audio]]` table: sound for the program mix, without a picture.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioSpec {
    /// What plays.
    pub source: AudioSourceSpec,
    /// Linear gain, 0 to 10 (default 1).
    pub gain: f32,
    /// Silenced at the start.
    pub muted: bool,
    /// The line of its `[[audio]]` header, for messages.
    pub line: usize,
}

/// An `[[input]]` or `[[output]]` table of a scene file, kept for a studio to read (its fields
/// are those of the studio's `InputSpec` / `OutputSpec`, which this crate does not know).
#[derive(Debug, Clone, PartialEq)]
pub struct SceneTable {
    /// Its `id` (checked to be unique among the file's tables of its kind).
    pub id: String,
    /// Its other fields, as written.
    pub fields: toml::Table,
    /// The line of its header, for messages.
    pub line: usize,
    /// The line of each field, for messages.
    pub lines: std::collections::BTreeMap<String, usize>,
}

impl SceneTable {
    /// The line of `field`, or of the table's header when the field is not there.
    pub fn line_of(&self, field: &str) -> usize {
        self.lines.get(field).copied().unwrap_or(self.line)
    }
}

/// A parsed scene file.
#[derive(Debug, Clone)]
pub struct SceneFile {
    /// The file it was read from (relative paths in it are relative to its folder).
    pub path: PathBuf,
    /// The canvas.
    pub canvas: CanvasSettings,
    /// Every scene of the canvas, in order: `"main"`, the `[canvas]` table's `scenes`, then
    /// those the layers name.
    pub scenes: Vec<String>,
    /// The scenes the `[canvas]` table's `scenes` names (a studio adds these first, in this
    /// order; the others where their first layer is).
    pub declared_scenes: Vec<String>,
    /// The scene shown at the start (`[canvas] scene`, default `"main"`).
    pub scene: String,
    /// The named inputs (`[[input]]`), in file order.
    pub inputs: Vec<SceneTable>,
    /// The layers, in file order.
    pub layers: Vec<LayerSpec>,
    /// The sound without a picture, in file order.
    pub audio: Vec<AudioSpec>,
    /// The outputs (`[[output]]`), in file order, started when a studio loads the file.
    pub outputs: Vec<SceneTable>,
}

impl SceneFile {
    /// Adds the canvas, its scenes and its layers to a compositor. `open` is asked for the
    /// sources this crate does not draw itself (files, cameras, capture); its error is reported
    /// with the layer's line.
    pub fn apply(
        &self,
        path: &Path,
        compositor: &mut crate::Compositor,
        mut open: impl FnMut(&SourceSpec) -> Result<LayerSource, String>,
    ) -> Result<crate::CanvasId, SceneFileError> {
        let error = |line: Option<usize>, message: String| SceneFileError {
            path: path.to_path_buf(),
            line,
            message,
        };
        let canvas = compositor
            .add_canvas(self.canvas.clone())
            .map_err(|e| error(None, e.to_string()))?;
        for (n, spec) in self.layers.iter().enumerate() {
            let line = Some(spec.line);
            if compositor.add_scene(canvas, &spec.scene).is_ok() {
                tracing::debug!("scene file {}: scene {:?}", path.display(), spec.scene);
            }
            let source = match spec.source.builtin() {
                Some(source) => source,
                None if matches!(spec.source, SourceSpec::Input(_)) => {
                    return Err(error(
                        line,
                        format!(
                            "layer {} input: named inputs ([[input]]) are opened by a studio \
                             (livekit compose with --record, --stream, --preview or \
                             --virtual-camera)",
                            n + 1
                        ),
                    ));
                }
                None => {
                    open(&spec.source).map_err(|e| error(line, format!("layer {}: {e}", n + 1)))?
                }
            };
            compositor
                .add_layer(canvas, Some(&spec.scene), spec.layer(source))
                .map_err(|e| error(line, format!("layer {}: {e}", n + 1)))?;
        }
        Ok(canvas)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    canvas: Spanned<RawCanvas>,
    #[serde(default)]
    input: Vec<Spanned<RawTable>>,
    #[serde(default)]
    layer: Vec<Spanned<RawLayer>>,
    #[serde(default)]
    audio: Vec<Spanned<RawAudio>>,
    #[serde(default)]
    output: Vec<Spanned<RawTable>>,
}

/// An `[[input]]` or `[[output]]` table: its fields with their places.
type RawTable = std::collections::BTreeMap<String, Spanned<toml::Value>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudio {
    microphone: Option<String>,
    file: Option<Spanned<String>>,
    #[serde(rename = "loop")]
    looping: Option<bool>,
    gain: Option<Spanned<f64>>,
    muted: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCanvas {
    width: Spanned<i64>,
    height: Spanned<i64>,
    #[serde(default)]
    fps: Option<Spanned<RawFps>>,
    #[serde(default)]
    background: Option<Spanned<String>>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    scenes: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    scene: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawFps {
    Whole(i64),
    Ratio(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    id: Option<Spanned<String>>,
    source: Option<Spanned<RawSource>>,
    input: Option<Spanned<String>>,
    rect: Option<Spanned<Vec<f64>>>,
    position: Option<Spanned<Vec<f64>>>,
    align: Option<Spanned<String>>,
    crop: Option<Spanned<Vec<i64>>>,
    z: Option<Spanned<i64>>,
    opacity: Option<Spanned<f64>>,
    fit: Option<Spanned<String>>,
    rotation: Option<Spanned<f64>>,
    flip_horizontal: Option<bool>,
    flip_vertical: Option<bool>,
    visible: Option<bool>,
    scene: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    color: Option<Spanned<String>>,
    image: Option<Spanned<String>>,
    text: Option<Spanned<String>>,
    size: Option<Spanned<f64>>,
    background: Option<Spanned<String>>,
    test_pattern: Option<Spanned<String>>,
    file: Option<Spanned<String>>,
    #[serde(rename = "loop")]
    looping: Option<bool>,
    camera: Option<Spanned<String>>,
    screen: Option<Spanned<String>>,
    region: Option<Spanned<Vec<i64>>>,
    window: Option<Spanned<String>>,
}

struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn line(&self, span: &Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        self.text[..end].matches('\n').count() + 1
    }

    fn error(&self, span: &Range<usize>, message: impl Into<String>) -> SceneFileError {
        SceneFileError {
            path: self.path.to_path_buf(),
            line: Some(self.line(span)),
            message: message.into(),
        }
    }

    fn resolve(&self, file: &Spanned<String>, field: &str) -> Result<PathBuf, SceneFileError> {
        let given = PathBuf::from(file.get_ref());
        let path = if given.is_relative() {
            self.path.parent().unwrap_or(Path::new(".")).join(&given)
        } else {
            given
        };
        if path.is_dir() {
            return Err(self.error(
                &file.span(),
                format!("{field}: {} is a folder, not a file", path.display()),
            ));
        }
        if !path.is_file() {
            return Err(self.error(
                &file.span(),
                format!("{field}: no such file: {}", path.display()),
            ));
        }
        Ok(path)
    }
}

impl SceneFile {
    /// Reads and checks a scene file.
    pub fn load(path: &Path) -> Result<Self, SceneFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| SceneFileError {
            path: path.to_path_buf(),
            line: None,
            message: format!("cannot read the scene file: {e}"),
        })?;
        Self::parse(path, &text)
    }

    /// Parses scene-file text; `path` names it in errors and anchors relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Self, SceneFileError> {
        let ctx = Ctx { path, text };
        let raw: RawFile = toml::from_str(text).map_err(|e| SceneFileError {
            path: path.to_path_buf(),
            line: e.span().map(|s| ctx.line(&s)),
            message: e.message().trim().to_owned(),
        })?;
        let canvas = parse_canvas(&ctx, raw.canvas.get_ref())?;
        let inputs = parse_tables(&ctx, "input", &raw.input)?;
        let outputs = parse_tables(&ctx, "output", &raw.output)?;
        let layers: Vec<LayerSpec> = raw
            .layer
            .iter()
            .enumerate()
            .map(|(i, layer)| parse_layer(&ctx, i + 1, layer, &inputs))
            .collect::<Result<_, _>>()?;
        let mut ids = std::collections::BTreeSet::new();
        for (i, (layer, spec)) in raw.layer.iter().zip(&layers).enumerate() {
            let id = spec
                .id
                .clone()
                .unwrap_or_else(|| format!("layer-{}", i + 1));
            if !ids.insert(id.clone()) {
                let span = layer
                    .get_ref()
                    .id
                    .as_ref()
                    .map_or(layer.span(), |s| s.span());
                return Err(ctx.error(
                    &span,
                    format!("layer {} id: {id:?} is already a layer's id", i + 1),
                ));
            }
        }
        let audio = raw
            .audio
            .iter()
            .enumerate()
            .map(|(i, audio)| parse_audio(&ctx, i + 1, audio))
            .collect::<Result<_, _>>()?;
        let mut scenes = vec![crate::MAIN_SCENE.to_owned()];
        let declared_scenes = raw
            .canvas
            .get_ref()
            .scenes
            .as_ref()
            .map(|s| s.get_ref().clone())
            .unwrap_or_default();
        if let Some(declared) = &raw.canvas.get_ref().scenes {
            for scene in declared.get_ref() {
                if scene.is_empty() {
                    return Err(ctx.error(&declared.span(), "canvas scenes: a name is empty"));
                }
                if !scenes.contains(scene) {
                    scenes.push(scene.clone());
                }
            }
        }
        for layer in &layers {
            if !scenes.contains(&layer.scene) {
                scenes.push(layer.scene.clone());
            }
        }
        let scene = match &raw.canvas.get_ref().scene {
            Some(scene) if !scenes.contains(scene.get_ref()) => {
                return Err(ctx.error(
                    &scene.span(),
                    format!(
                        "canvas scene: no scene {:?} (the scenes are {})",
                        scene.get_ref(),
                        scenes
                            .iter()
                            .map(|s| format!("{s:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            Some(scene) => scene.get_ref().clone(),
            None => crate::MAIN_SCENE.to_owned(),
        };
        Ok(Self {
            path: path.to_path_buf(),
            canvas,
            scenes,
            declared_scenes,
            scene,
            inputs,
            layers,
            audio,
            outputs,
        })
    }
}

fn parse_color(
    ctx: &Ctx<'_>,
    value: &Spanned<String>,
    field: &str,
) -> Result<Color, SceneFileError> {
    value
        .get_ref()
        .parse()
        .map_err(|e| ctx.error(&value.span(), format!("{field}: {e}")))
}

fn parse_canvas(ctx: &Ctx<'_>, raw: &RawCanvas) -> Result<CanvasSettings, SceneFileError> {
    let size = |v: &Spanned<i64>, field: &str| {
        u32::try_from(*v.get_ref())
            .ok()
            .filter(|&n| (1..=crate::MAX_CANVAS_SIDE).contains(&n))
            .ok_or_else(|| {
                ctx.error(
                    &v.span(),
                    format!(
                        "canvas {field}: must be between 1 and {} (got {})",
                        crate::MAX_CANVAS_SIDE,
                        v.get_ref()
                    ),
                )
            })
    };
    let (width, height) = (size(&raw.width, "width")?, size(&raw.height, "height")?);
    let mut settings = CanvasSettings::new(width, height, 30);
    if let Some(fps) = &raw.fps {
        let bad = || {
            ctx.error(
                &fps.span(),
                "canvas fps: must be a whole number 1..=1000 or \"num/den\"",
            )
        };
        let parsed = match fps.get_ref() {
            RawFps::Whole(n) => u32::try_from(*n).ok().map(Fps::new),
            RawFps::Ratio(text) => text.split_once('/').and_then(|(n, d)| {
                Some(Fps::ratio(n.trim().parse().ok()?, d.trim().parse().ok()?))
            }),
        };
        let fps = parsed
            .filter(|f| f.num > 0 && f.den > 0 && f.as_f64() <= 1000.0)
            .ok_or_else(bad)?;
        settings = settings.fps(fps);
    }
    if let Some(bg) = &raw.background {
        settings = settings.background(parse_color(ctx, bg, "canvas background")?);
    }
    if let Some(name) = &raw.name {
        settings = settings.name(name.clone());
    }
    Ok(settings)
}

/// `[[input]]` or `[[output]]` tables: each with a unique string `id`.
fn parse_tables(
    ctx: &Ctx<'_>,
    what: &str,
    raw: &[Spanned<RawTable>],
) -> Result<Vec<SceneTable>, SceneFileError> {
    let mut tables: Vec<SceneTable> = Vec::with_capacity(raw.len());
    for (i, spanned) in raw.iter().enumerate() {
        let n = i + 1;
        let id = match spanned.get_ref().get("id") {
            None => {
                return Err(ctx.error(&spanned.span(), format!("{what} {n}: missing field `id`")));
            }
            Some(id) => match id.get_ref() {
                toml::Value::String(text) if !text.is_empty() => text.clone(),
                _ => {
                    return Err(ctx.error(
                        &id.span(),
                        format!("{what} {n} id: expected a name such as \"cam\""),
                    ));
                }
            },
        };
        if tables.iter().any(|t| t.id == id) {
            let span = spanned
                .get_ref()
                .get("id")
                .map_or(spanned.span(), |v| v.span());
            return Err(ctx.error(
                &span,
                format!("{what} {n} id: {id:?} is already an {what}'s id"),
            ));
        }
        let mut fields = toml::Table::new();
        let mut lines = std::collections::BTreeMap::new();
        for (key, value) in spanned.get_ref() {
            lines.insert(key.clone(), ctx.line(&value.span()));
            if key != "id" {
                fields.insert(key.clone(), value.get_ref().clone());
            }
        }
        tables.push(SceneTable {
            id,
            fields,
            line: ctx.line(&spanned.span()),
            lines,
        });
    }
    Ok(tables)
}

fn parse_audio(
    ctx: &Ctx<'_>,
    n: usize,
    spanned: &Spanned<RawAudio>,
) -> Result<AudioSpec, SceneFileError> {
    let raw = spanned.get_ref();
    let span = spanned.span();
    let source = match (&raw.microphone, &raw.file) {
        (Some(device), None) => {
            if raw.looping.is_some() {
                return Err(ctx.error(&span, format!("audio {n}: loop goes with file")));
            }
            AudioSourceSpec::Microphone(
                Some(device.clone()).filter(|d| !d.is_empty() && d != "default"),
            )
        }
        (None, Some(file)) => AudioSourceSpec::File {
            path: ctx.resolve(file, &format!("audio {n} file"))?,
            looping: raw.looping.unwrap_or(false),
        },
        _ => {
            return Err(ctx.error(
                &span,
                format!("audio {n}: give one of microphone = \"DEVICE\" or file = \"PATH\""),
            ));
        }
    };
    let gain = match &raw.gain {
        Some(gain) => {
            let value = *gain.get_ref();
            if !(value.is_finite() && (0.0..=10.0).contains(&value)) {
                return Err(ctx.error(
                    &gain.span(),
                    format!("audio {n} gain: must be between 0 and 10 (got {value})"),
                ));
            }
            value as f32
        }
        None => 1.0,
    };
    Ok(AudioSpec {
        source,
        gain,
        muted: raw.muted.unwrap_or(false),
        line: ctx.line(&span),
    })
}

fn parse_layer(
    ctx: &Ctx<'_>,
    n: usize,
    spanned: &Spanned<RawLayer>,
    inputs: &[SceneTable],
) -> Result<LayerSpec, SceneFileError> {
    let raw = spanned.get_ref();
    let source = match (&raw.source, &raw.input) {
        (Some(source), None) => parse_source(ctx, n, source)?,
        (None, Some(input)) => {
            if !inputs.iter().any(|i| &i.id == input.get_ref()) {
                return Err(ctx.error(
                    &input.span(),
                    format!(
                        "layer {n} input: no [[input]] has the id {:?}",
                        input.get_ref()
                    ),
                ));
            }
            SourceSpec::Input(input.get_ref().clone())
        }
        _ => {
            return Err(ctx.error(
                &spanned.span(),
                format!(
                    "layer {n}: give either source = {{ ... }} or input = \"ID\" (an [[input]]'s id)"
                ),
            ));
        }
    };
    let id = match &raw.id {
        Some(id) if id.get_ref().is_empty() => {
            return Err(ctx.error(&id.span(), format!("layer {n} id: empty")));
        }
        Some(id) => Some(id.get_ref().clone()),
        None => None,
    };
    let mut layer = Layer::new(LayerSource::Color(Color::TRANSPARENT));
    if let Some(rect) = &raw.rect {
        let v = rect.get_ref();
        if v.len() != 4 || v.iter().any(|x| !x.is_finite()) {
            return Err(ctx.error(
                &rect.span(),
                format!("layer {n} rect: expected [x, y, width, height]"),
            ));
        }
        if v[2] <= 0.0 || v[3] <= 0.0 {
            return Err(ctx.error(
                &rect.span(),
                format!(
                    "layer {n} rect: width and height must be > 0 (got {} x {})",
                    v[2], v[3]
                ),
            ));
        }
        layer.rect = Some(Rect::new(
            v[0] as f32,
            v[1] as f32,
            v[2] as f32,
            v[3] as f32,
        ));
    }
    if let Some(position) = &raw.position {
        let v = position.get_ref();
        if v.len() != 2 || v.iter().any(|x| !x.is_finite()) {
            return Err(ctx.error(
                &position.span(),
                format!("layer {n} position: expected [x, y]"),
            ));
        }
        if raw.rect.is_some() {
            return Err(ctx.error(
                &position.span(),
                format!("layer {n}: give either rect (position and size) or position (its own size), not both"),
            ));
        }
        layer.position = Some((v[0] as f32, v[1] as f32));
    }
    if let Some(align) = &raw.align {
        let name = align.get_ref().as_str();
        layer.align = crate::scene::Align::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| *a)
            .ok_or_else(|| {
                let names: Vec<String> = crate::scene::Align::NAMES
                    .iter()
                    .map(|(n, _)| format!("{n:?}"))
                    .collect();
                ctx.error(
                    &align.span(),
                    format!(
                        "layer {n} align: unknown value {name:?}: expected one of {}",
                        names.join(", ")
                    ),
                )
            })?;
    }
    if let Some(crop) = &raw.crop {
        let v = crop.get_ref();
        let parts: Option<Vec<u32>> = v.iter().map(|&x| u32::try_from(x).ok()).collect();
        match parts {
            Some(p) if p.len() == 4 && p[2] > 0 && p[3] > 0 => {
                layer.crop = Some(Crop::new(p[0], p[1], p[2], p[3]));
            }
            _ => {
                return Err(ctx.error(
                    &crop.span(),
                    format!("layer {n} crop: expected [x, y, width, height] with x, y >= 0 and width, height > 0"),
                ));
            }
        }
    }
    if let Some(z) = &raw.z {
        layer.z = i32::try_from(*z.get_ref())
            .map_err(|_| ctx.error(&z.span(), format!("layer {n} z: out of range")))?;
    }
    if let Some(o) = &raw.opacity {
        let v = *o.get_ref();
        if !(0.0..=1.0).contains(&v) {
            return Err(ctx.error(
                &o.span(),
                format!("layer {n} opacity: must be between 0 and 1 (got {v})"),
            ));
        }
        layer.opacity = v as f32;
    }
    if matches!(source, SourceSpec::Text(_)) {
        // Text keeps its proportions unless told to stretch.
        layer.fit = Fit::Contain;
    }
    if let Some(fit) = &raw.fit {
        layer.fit = match fit.get_ref().as_str() {
            "stretch" => Fit::Stretch,
            "contain" => Fit::Contain,
            "cover" => Fit::Cover,
            other => {
                return Err(ctx.error(
                    &fit.span(),
                    format!("layer {n} fit: unknown value {other:?}: expected \"stretch\", \"contain\" or \"cover\""),
                ));
            }
        };
    }
    if let Some(r) = &raw.rotation {
        if !r.get_ref().is_finite() {
            return Err(ctx.error(&r.span(), format!("layer {n} rotation: must be a number")));
        }
        layer.rotation = *r.get_ref() as f32;
    }
    layer.flip_horizontal = raw.flip_horizontal.unwrap_or(false);
    layer.flip_vertical = raw.flip_vertical.unwrap_or(false);
    layer.visible = raw.visible.unwrap_or(true);
    Ok(LayerSpec {
        id,
        source,
        settings: layer,
        scene: raw
            .scene
            .clone()
            .unwrap_or_else(|| crate::MAIN_SCENE.to_owned()),
        line: ctx.line(&spanned.span()),
    })
}

fn parse_source(
    ctx: &Ctx<'_>,
    n: usize,
    spanned: &Spanned<RawSource>,
) -> Result<SourceSpec, SceneFileError> {
    let raw = spanned.get_ref();
    let span = spanned.span();
    // `color` is the text's colour when there is text, else a colour source.
    let kinds = [
        raw.color.is_some() && raw.text.is_none(),
        raw.image.is_some(),
        raw.text.is_some(),
        raw.test_pattern.is_some(),
        raw.file.is_some(),
        raw.camera.is_some(),
        raw.screen.is_some(),
        raw.window.is_some(),
    ];
    if kinds.iter().filter(|&&k| k).count() != 1 {
        return Err(ctx.error(
            &span,
            format!(
                "layer {n} source: give exactly one of color, image, text, test_pattern, file, camera, screen, window"
            ),
        ));
    }
    let misplaced = |field: &str, allowed_with: &str| {
        ctx.error(
            &span,
            format!("layer {n} source: {field} only goes with {allowed_with}"),
        )
    };
    if raw.text.is_none() && (raw.size.is_some() || raw.background.is_some()) {
        return Err(misplaced("size/background", "text"));
    }
    if raw.file.is_none() && raw.looping.is_some() {
        return Err(misplaced("loop", "file"));
    }
    if raw.screen.is_none() && raw.region.is_some() {
        return Err(misplaced("region", "screen"));
    }
    if let (Some(c), None) = (&raw.color, &raw.text) {
        return Ok(SourceSpec::Color(parse_color(
            ctx,
            c,
            &format!("layer {n} color"),
        )?));
    }
    if let Some(image) = &raw.image {
        return Ok(SourceSpec::Image(
            ctx.resolve(image, &format!("layer {n} image"))?,
        ));
    }
    if let Some(text) = &raw.text {
        let mut t = Text::new(text.get_ref().clone());
        if let Some(size) = &raw.size {
            t = t.size(*size.get_ref() as f32);
            t.validate()
                .map_err(|e| ctx.error(&size.span(), format!("layer {n} text size: {e}")))?;
        }
        if let Some(color) = &raw.color {
            t = t.color(parse_color(ctx, color, &format!("layer {n} text color"))?);
        }
        if let Some(bg) = &raw.background {
            t = t.background(parse_color(ctx, bg, &format!("layer {n} text background"))?);
        }
        t.validate()
            .map_err(|e| ctx.error(&text.span(), format!("layer {n} text: {e}")))?;
        return Ok(SourceSpec::Text(t));
    }
    if let Some(p) = &raw.test_pattern {
        let pattern = match p.get_ref().as_str() {
            "smpte" => TestPattern::Smpte,
            "bars" => TestPattern::Bars,
            "gradient" => TestPattern::Gradient,
            other => {
                return Err(ctx.error(
                    &p.span(),
                    format!("layer {n} test_pattern: unknown pattern {other:?}: expected \"smpte\", \"bars\" or \"gradient\""),
                ));
            }
        };
        return Ok(SourceSpec::Pattern(pattern));
    }
    if let Some(file) = &raw.file {
        return Ok(SourceSpec::File {
            path: ctx.resolve(file, &format!("layer {n} file"))?,
            looping: raw.looping.unwrap_or(false),
        });
    }
    if let Some(camera) = &raw.camera {
        return Ok(SourceSpec::Camera(camera.get_ref().clone()));
    }
    if let Some(screen) = &raw.screen {
        let region = match &raw.region {
            None => None,
            Some(r) => {
                let parts: Option<Vec<u32>> =
                    r.get_ref().iter().map(|&x| u32::try_from(x).ok()).collect();
                match parts {
                    Some(p) if p.len() == 4 && p[2] > 0 && p[3] > 0 => {
                        Some([p[0], p[1], p[2], p[3]])
                    }
                    _ => {
                        return Err(ctx.error(
                            &r.span(),
                            format!("layer {n} region: expected [x, y, width, height] with width, height > 0"),
                        ));
                    }
                }
            }
        };
        return Ok(SourceSpec::Screen {
            display: screen.get_ref().clone(),
            region,
        });
    }
    match &raw.window {
        Some(w) => Ok(SourceSpec::Window(w.get_ref().clone())),
        None => Err(ctx.error(&span, format!("layer {n} source: empty"))),
    }
}
