//! [`Command`]: the one way to change a show. The Rust API ([`Studio::apply`]), scene files and
//! the HTTP API all go through it, with the same names: the JSON form of a command is an object
//! with one field, the command's name in snake case, holding the command's fields.
//!
//! ```json
//! {"add_input": {"id": "clip", "input": {"kind": "file", "path": "intro.mp4", "loop": true}}}
//! {"add_layer": {"id": "corner", "input": "clip", "rect": [960, 540, 320, 180]}}
//! {"update_layer": {"id": "corner", "visible": false}}
//! {"switch_scene": {"scene": "break", "transition": {"fade": 500}}}
//! {"start_output": {"id": "window", "output": {"kind": "preview"}}}
//! ```
//!
//! Versioned: [`API_VERSION`] is the version of these names and fields. A change that would
//! make an existing command mean something else gets a new version; new commands and new
//! optional fields do not.
//!
//! [`Studio::apply`]: crate::Studio::apply

use std::path::PathBuf;

use livekit_compositor::{Align, Color, Fit, Fps, TestPattern};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The version of the command names and fields (and of the state document).
pub const API_VERSION: u32 = 1;

/// The canvas a command means when it names none.
pub const MAIN_CANVAS: &str = "main";

/// The scene a canvas starts with, and the scene a command means when it names none: the
/// canvas's live scene.
pub const MAIN_SCENE: &str = livekit_compositor::MAIN_SCENE;

fn main_canvas() -> String {
    MAIN_CANVAS.to_owned()
}

/// A change to a show. Its JSON form is an object with one field, the command's name in snake
/// case, holding the command's fields:
///
/// ```json
/// {"add_input": {"id": "clip", "input": {"kind": "file", "path": "intro.mp4", "loop": true}}}
/// {"add_layer": {"id": "corner", "input": "clip", "rect": [960, 540, 320, 180]}}
/// {"update_layer": {"id": "corner", "visible": false}}
/// {"switch_scene": {"scene": "break", "transition": {"fade": 500}}}
/// {"start_output": {"id": "window", "output": {"kind": "preview"}}}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Command {
    /// Opens an input under a new id. Its layers (added with [`AddLayer`](Self::AddLayer))
    /// show it; its sound, if any, goes into the program mix.
    AddInput {
        /// The new input's id: letters, digits, `-`, `_`, `.`; unique among inputs.
        #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
        id: String,
        /// What it is.
        input: InputSpec,
        /// Its place in the program mix (inputs with sound).
        #[serde(default)]
        audio: AudioSettings,
        /// What its layers show if it fails. Default: its last frame.
        #[serde(default)]
        when_failed: WhenFailed,
    },
    /// Opens something else under an existing input's id: its layers show the new one from
    /// the next frame, its mix settings carry over. If the new one cannot be opened, the old
    /// one goes on and the command is an error. An input that feeds running outputs
    /// (`start_output`'s `input`) is not replaced: stop them first.
    ReplaceInput {
        /// The input.
        #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
        id: String,
        /// What it becomes.
        input: InputSpec,
    },
    /// Closes an input, and removes the layers that show it. The outputs it feeds
    /// (`start_output`'s `input`) end with it, as at the end of its file: recordings are
    /// finalized, destinations send what they hold.
    RemoveInput {
        /// The input.
        #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
        id: String,
    },
    /// Pauses a file or playlist input (its layers hold the frame, its sound stops).
    PauseInput {
        /// The input.
        #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
        id: String,
    },
    /// Resumes a paused file or playlist input, or starts one opened `paused`.
    ResumeInput {
        /// The input.
        #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
        id: String,
    },
    /// Seeks a file input (to this many seconds from the start of the file) or the playlist
    /// entry playing now.
    SeekInput {
        /// The input.
        #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
        id: String,
        /// Where to, in seconds (>= 0).
        seconds: f64,
    },
    /// Skips a playlist input to its next entry (`by` = 1, the default) or its previous one
    /// (`by` = -1).
    SkipInput {
        /// The input.
        #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
        id: String,
        /// 1 or -1.
        #[serde(default = "one")]
        by: i32,
    },
    /// Changes an input's place in the program mix.
    SetAudio {
        /// The input.
        #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
        id: String,
        /// Linear gain, 0 to 10 (1: unchanged).
        #[serde(default)]
        gain: Option<f32>,
        /// Silences it (true) or lets it be heard again (false).
        #[serde(default)]
        muted: Option<bool>,
    },
    /// Adds a canvas: a picture of its own size and frame rate, with its own scenes and
    /// outputs. A studio made from a scene file has the canvas [`MAIN_CANVAS`].
    AddCanvas {
        /// The new canvas's id.
        #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
        id: String,
        /// Width in pixels (even, 2 to 8192).
        #[schema(minimum = 2, maximum = 8192, multiple_of = 2)]
        width: u32,
        /// Height in pixels (even, 2 to 8192).
        #[schema(minimum = 2, maximum = 8192, multiple_of = 2)]
        height: u32,
        /// Frames a second: a whole number or `"30000/1001"`, at most 240. Default 30.
        #[serde(default = "thirty")]
        #[schema(schema_with = crate::schema::fps)]
        fps: Fps,
        /// What shows where no layer covers it. Default black.
        #[serde(default)]
        #[schema(schema_with = crate::schema::optional_color)]
        background: Option<Color>,
    },
    /// Adds an empty scene to a canvas.
    AddScene {
        /// The canvas (default [`MAIN_CANVAS`]).
        #[serde(default = "main_canvas")]
        canvas: String,
        /// The new scene's name, unique in the canvas.
        #[schema(min_length = 1, max_length = 64)]
        scene: String,
    },
    /// Makes a scene the one a canvas shows.
    SwitchScene {
        /// The canvas (default [`MAIN_CANVAS`]).
        #[serde(default = "main_canvas")]
        canvas: String,
        /// The scene.
        scene: String,
        /// How: a cut (default) or a fade.
        #[serde(default)]
        transition: TransitionSpec,
    },
    /// Adds a layer showing an input to a scene: `id` and `input` are needed, `canvas`
    /// defaults to [`MAIN_CANVAS`] and `scene` to the scene the canvas shows now; what else is
    /// not given takes the layer defaults (the whole canvas, opaque, in front of the layers
    /// added before).
    AddLayer(LayerFields),
    /// Changes a layer: only the fields given change. `input` makes it show another input;
    /// `canvas` and `scene` cannot change.
    UpdateLayer(LayerFields),
    /// Removes a layer.
    RemoveLayer {
        /// The layer.
        #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
        id: String,
    },
    /// Starts an output of a canvas under a new id: a recording, a stream, a preview window, a
    /// virtual camera, frames shared with other processes. The others go on undisturbed.
    StartOutput {
        /// The new output's id, unique in the studio.
        #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
        id: String,
        /// The canvas (default [`MAIN_CANVAS`]).
        #[serde(default = "main_canvas")]
        canvas: String,
        /// A file or playlist input to encode instead of a canvas: every frame of it with its
        /// own timing, at its size (or the studio's encode size) and at most the studio's
        /// encode frame rate, with its own sound. Recordings, streams (WHIP endpoints
        /// included) and HLS only. Outputs fed by the same input share one encode (WHIP
        /// endpoints a WebRTC one); the input waits for them when its `readrate` is not 1.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input: Option<String>,
        /// What it is.
        output: OutputSpec,
    },
    /// Stops an output (a recording is finalized; a stream's destinations send what they hold
    /// and close) while the others go on.
    StopOutput {
        /// The output.
        #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
        id: String,
    },
}

fn one() -> i32 {
    1
}

fn thirty() -> Fps {
    Fps::new(30)
}

impl Command {
    /// The command's name, as in its JSON form (`"add_input"`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::AddInput { .. } => "add_input",
            Self::ReplaceInput { .. } => "replace_input",
            Self::RemoveInput { .. } => "remove_input",
            Self::PauseInput { .. } => "pause_input",
            Self::ResumeInput { .. } => "resume_input",
            Self::SeekInput { .. } => "seek_input",
            Self::SkipInput { .. } => "skip_input",
            Self::SetAudio { .. } => "set_audio",
            Self::AddCanvas { .. } => "add_canvas",
            Self::AddScene { .. } => "add_scene",
            Self::SwitchScene { .. } => "switch_scene",
            Self::AddLayer { .. } => "add_layer",
            Self::UpdateLayer { .. } => "update_layer",
            Self::RemoveLayer { .. } => "remove_layer",
            Self::StartOutput { .. } => "start_output",
            Self::StopOutput { .. } => "stop_output",
        }
    }

    /// Reads a command from its JSON form. The error names the field at fault
    /// (`add_layer.rect: invalid type ...`, `add_input: missing field \`id\``).
    pub fn from_json(json: &str) -> Result<Self, crate::CommandError> {
        // `{"name": {fields}}` and nothing else (serde alone would also take a command's
        // fields as an array).
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(json) {
            if let serde_json::Value::Object(outer) = &value
                && let Some((name, fields)) = outer.iter().next()
                && outer.len() == 1
                && !fields.is_object()
            {
                return Err(crate::CommandError::malformed(format!(
                    "{name}: expected an object of fields"
                )));
            }
            // A number past f32's range would read as an infinity (a layer infinitely wide),
            // which JSON cannot even write back.
            if let Some(problem) = out_of_range(&value, String::new()) {
                return Err(crate::CommandError::malformed(problem));
            }
        }
        let mut deserializer = serde_json::Deserializer::from_str(json);
        let command: Command = serde_path_to_error::deserialize(&mut deserializer)
            .map_err(|e| crate::CommandError::malformed(describe_json_error(&e)))?;
        deserializer
            .end()
            .map_err(|e| crate::CommandError::malformed(e.to_string()))?;
        Ok(command)
    }

    /// The command's JSON form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The first number in `value` too large for any field (past f32's range), with its path
/// (`add_layer.rect[2]`).
fn out_of_range(value: &serde_json::Value, path: String) -> Option<String> {
    match value {
        serde_json::Value::Number(n) => n
            .as_f64()
            .filter(|v| v.abs() > f64::from(f32::MAX))
            .map(|v| format!("{path}: {v:e} is out of range")),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| out_of_range(item, format!("{path}[{i}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(name, item)| {
            let path = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            out_of_range(item, path)
        }),
        _ => None,
    }
}

fn describe_json_error(error: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = error.path().to_string();
    let inner = error.inner().to_string();
    if path == "." || path.is_empty() {
        inner
    } else {
        format!("{path}: {inner}")
    }
}

/// What an input is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum InputSpec {
    /// A media file or URL (rtmp://, srt://, http://, ...), played in real time (or at
    /// `readrate`).
    File {
        /// The file or URL.
        path: String,
        /// Start again at the end.
        #[serde(default, rename = "loop")]
        looping: bool,
        /// Use its sound (default true).
        #[serde(default = "yes")]
        audio: bool,
        /// How fast it is read, in multiples of real time, like `ffmpeg -readrate`: 1 (the
        /// default) is real time, a frame that comes late being dropped; 0 is as fast as the
        /// outputs it feeds take it; another rate is that many times real time. At a rate
        /// other than 1 nothing is dropped (the input waits for the slowest output it feeds,
        /// see [`Command::StartOutput`]'s `input`) and its sound is not in the program mix.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        readrate: Option<f64>,
        /// Opened but not started: `resume_input` starts it, so that the outputs it feeds
        /// are there from its first frame. Default false.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        paused: bool,
    },
    /// Media files played one after another.
    Playlist {
        /// The files, in order.
        #[schema(value_type = Vec<String>)]
        paths: Vec<PathBuf>,
        /// Start the list again at its end.
        #[serde(default, rename = "loop")]
        looping: bool,
        /// Play in a random order.
        #[serde(default)]
        shuffle: bool,
        /// Use their sound (default true).
        #[serde(default = "yes")]
        audio: bool,
        /// How fast they are read (as a file's `readrate`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        readrate: Option<f64>,
        /// Opened but not started (as a file's `paused`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        paused: bool,
        /// The picture shown while an entry without video (a song) plays. Default: the
        /// song's own cover art, else black.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(schema_with = crate::schema::optional_path)]
        cover: Option<PathBuf>,
    },
    /// A camera: an index, a device path, or `lavfi:GRAPH` (FFmpeg's test sources).
    Camera {
        /// The device.
        device: String,
        /// `[width, height]` asked of it (a camera that cannot give it sends its nearest);
        /// default its current one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<[u32; 2]>,
        /// Frames a second asked of it, 1 to 240; default its own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fps: Option<u32>,
    },
    /// An X11 display, or a region of it.
    Screen {
        /// The display (default: `$DISPLAY`).
        #[serde(default)]
        display: Option<String>,
        /// `[x, y, width, height]`, if only part of it.
        #[serde(default)]
        region: Option<[u32; 4]>,
        /// Frames a second captured, 1 to 240 (default 30).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fps: Option<u32>,
        /// Draw the mouse pointer (default true).
        #[serde(default = "yes")]
        cursor: bool,
        /// Deliver YUV 4:2:0 frames, as encoders take them, instead of the display's BGRA
        /// (default false: BGRA is cheaper to composite; YUV is cheaper when the screen is
        /// shown alone on a canvas of its size, which then passes it to the encoder as it is).
        #[serde(default)]
        yuv: bool,
    },
    /// An X11 window, found by (part of) its title.
    Window {
        /// The title.
        title: String,
    },
    /// A picture file (PNG, JPEG, GIF (animated), WebP, BMP).
    Image {
        /// The file.
        #[schema(schema_with = crate::schema::path)]
        path: PathBuf,
    },
    /// A test pattern.
    Pattern {
        /// Which.
        #[schema(schema_with = crate::schema::test_pattern)]
        pattern: TestPattern,
    },
    /// A solid colour.
    Color {
        /// The colour, `"#rrggbb"` or `"#rrggbbaa"`.
        #[schema(schema_with = crate::schema::color)]
        color: Color,
    },
    /// Text drawn with the bundled font.
    Text {
        /// The text (`\n` for a new line).
        text: String,
        /// Line height in pixels (default 48).
        #[serde(default)]
        size: Option<f32>,
        /// Colour of the letters (default white).
        #[serde(default)]
        #[schema(schema_with = crate::schema::optional_color)]
        color: Option<Color>,
        /// A box behind the text.
        #[serde(default)]
        #[schema(schema_with = crate::schema::optional_color)]
        background: Option<Color>,
    },
    /// Frames another process shares (`IpcTarget`, `livekit ... --ipc NAME`).
    Ipc {
        /// The shared name.
        name: String,
    },
    /// A microphone (sound only): a device id or description; default the system's.
    Microphone {
        /// The device.
        #[serde(default)]
        device: Option<String>,
    },
    /// A test tone (sound only): a sine wave, the same on both channels.
    Tone {
        /// Its frequency in Hz, 1 to 20000 (default 440).
        #[serde(default = "a440")]
        frequency: f64,
        /// Its peak level, 0 to 1 (default 0.3, about -10 dBFS).
        #[serde(default = "tone_level")]
        level: f32,
    },
}

fn a440() -> f64 {
    440.0
}

fn tone_level() -> f32 {
    0.3
}

impl std::fmt::Debug for OutputSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Preview { title } => f.debug_struct("Preview").field("title", title).finish(),
            Self::Ipc { name } => f.debug_struct("Ipc").field("name", name).finish(),
            Self::VirtualCamera { device } => f
                .debug_struct("VirtualCamera")
                .field("device", device)
                .finish(),
            Self::Record { path, crash_safe } => f
                .debug_struct("Record")
                .field("path", path)
                .field("crash_safe", crash_safe)
                .finish(),
            Self::Hls {
                dir,
                window,
                segments,
            } => f
                .debug_struct("Hls")
                .field("dir", dir)
                .field("window", window)
                .field("segments", segments)
                .finish(),
            Self::Stream { to } => {
                let redacted: Vec<String> = to
                    .iter()
                    .map(|t| livekit_core::secret::redact_url_like(t))
                    .collect();
                f.debug_struct("Stream").field("to", &redacted).finish()
            }
        }
    }
}

impl OutputSpec {
    /// The kind's name, as in the JSON form (`"record"`, `"stream"`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Preview { .. } => "preview",
            Self::Ipc { .. } => "ipc",
            Self::VirtualCamera { .. } => "virtual_camera",
            Self::Record { .. } => "record",
            Self::Stream { .. } => "stream",
            Self::Hls { .. } => "hls",
        }
    }

    /// The same, with every stream key redacted: as shown in the state document, events and
    /// messages.
    pub fn redacted(&self) -> Self {
        match self {
            Self::Stream { to } => Self::Stream {
                to: to
                    .iter()
                    .map(|t| livekit_core::secret::redact_url_like(t))
                    .collect(),
            },
            other => other.clone(),
        }
    }
}

fn yes() -> bool {
    true
}

impl InputSpec {
    /// As it may be shown (the state document, a scene file written from the show): a URL's
    /// password, query string and key-like path segments are `<redacted>`
    /// ([`redact_url`](livekit_core::redact_url)); local paths are kept.
    pub fn redacted(&self) -> Self {
        let url = |text: &str| {
            if text.contains("://") {
                livekit_core::redact_url(text)
            } else {
                text.to_owned()
            }
        };
        let mut out = self.clone();
        match &mut out {
            Self::File { path, .. } => *path = url(path),
            Self::Playlist { paths, .. } => {
                for path in paths.iter_mut() {
                    if let Some(text) = path.to_str() {
                        *path = PathBuf::from(url(text));
                    }
                }
            }
            _ => {}
        }
        out
    }

    /// Whether it is read in real time: everything but a file or playlist whose `readrate` is
    /// not 1. The outputs such an input feeds wait for their destinations instead of dropping
    /// what they cannot send in time.
    pub fn is_real_time(&self) -> bool {
        match self {
            Self::File { readrate, .. } | Self::Playlist { readrate, .. } => {
                readrate.is_none_or(|rate| rate == 1.0)
            }
            _ => true,
        }
    }

    /// The kind's name, as in the JSON form (`"file"`, `"camera"`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::File { .. } => "file",
            Self::Playlist { .. } => "playlist",
            Self::Camera { .. } => "camera",
            Self::Screen { .. } => "screen",
            Self::Window { .. } => "window",
            Self::Image { .. } => "image",
            Self::Pattern { .. } => "pattern",
            Self::Color { .. } => "color",
            Self::Text { .. } => "text",
            Self::Ipc { .. } => "ipc",
            Self::Microphone { .. } => "microphone",
            Self::Tone { .. } => "tone",
        }
    }
}

/// An input's place in the program mix.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AudioSettings {
    /// Linear gain, 0 to 10 (default 1).
    #[serde(default = "unity")]
    pub gain: f32,
    /// Silenced (default false).
    #[serde(default)]
    pub muted: bool,
}

fn unity() -> f32 {
    1.0
}

impl Default for AudioSettings {
    fn default() -> Self {
        Self {
            gain: 1.0,
            muted: false,
        }
    }
}

/// What the layers of an input show once it has failed, or while its device is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WhenFailed {
    /// Its last frame (default).
    #[default]
    Hold,
    /// Nothing (the layers below show through).
    Hide,
}

/// How a canvas changes scene.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransitionSpec {
    /// At once (`"cut"`).
    #[default]
    Cut,
    /// A cross-fade over this many milliseconds (`{"fade": 500}`), 1 to 60000.
    Fade(u64),
}

/// A layer: which one, what it shows, where and how ([`Command::AddLayer`],
/// [`Command::UpdateLayer`], and the state document's layers).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LayerFields {
    /// The layer's id: letters, digits, `-`, `_`, `.`; unique in the studio.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub id: String,
    /// The canvas (default [`MAIN_CANVAS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canvas: Option<String>,
    /// The scene (default: the one the canvas shows now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene: Option<String>,
    /// The input it shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// `[x, y, width, height]` on the canvas, in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rect: Option<[f32; 4]>,
    /// `[x, y]` of the top left corner: without a `rect`, the source keeps its own size; in
    /// an update of a layer that has a `rect`, it moves the rect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<[f32; 2]>,
    /// `[x, y, width, height]` of the source to show, in source pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<[u32; 4]>,
    /// Stacking order: higher is in front.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub z: Option<i32>,
    /// 0 (invisible) to 1 (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opacity: Option<f32>,
    /// How the source fills its rectangle: `"stretch"`, `"contain"` or `"cover"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schema::optional_fit)]
    pub fit: Option<Fit>,
    /// Where a source that does not fill its rectangle sits in it: `"top-left"`, `"top"`,
    /// ..., `"center"`, ..., `"bottom-right"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schema::optional_align)]
    pub align: Option<Align>,
    /// Clockwise rotation in degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<f32>,
    /// Mirrored left-right.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flip_horizontal: Option<bool>,
    /// Mirrored top-bottom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flip_vertical: Option<bool>,
    /// Shown (true) or hidden (false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible: Option<bool>,
}

/// What an output is. Its `Debug` form redacts stream keys (a command may be logged).
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum OutputSpec {
    /// A preview window (needs a display).
    Preview {
        /// The window's title (default: the studio's and the canvas's names).
        #[serde(default)]
        title: Option<String>,
    },
    /// The canvas's frames shared with other processes under a name (`IpcSource`,
    /// `livekit ... --ipc NAME`).
    Ipc {
        /// The shared name.
        name: String,
    },
    /// A V4L2 output device other programs pick as a webcam (v4l2loopback).
    VirtualCamera {
        /// The device, such as `/dev/video10`.
        #[schema(schema_with = crate::schema::path)]
        device: PathBuf,
    },
    /// A recording of the canvas with the program audio (H.264 and AAC), in MP4, MKV, MOV or
    /// FLV by the file's extension. It shares the canvas's one encode with its streams and
    /// starts on a keyframe asked for at once. A failure (a full disk) ends it with its
    /// reason; the rest goes on.
    Record {
        /// The file (its folder must exist; an existing file is replaced).
        #[schema(schema_with = crate::schema::path)]
        path: PathBuf,
        /// Keep the file playable if the process is killed (fragmented MP4/MOV; MKV and FLV
        /// always are). Default false.
        #[serde(default)]
        crash_safe: bool,
    },
    /// A stream of the canvas with the program audio to one or more sites (from the
    /// configuration, or built in) or rtmp://, rtmps:// and srt:// URLs, sharing the canvas's
    /// one encode. Each destination connects, reconnects and fails on its own.
    Stream {
        /// Sites or URLs.
        to: Vec<String>,
    },
    /// HTTP Live Streaming of the canvas with the program audio: a media playlist,
    /// `index.m3u8`, and its segments in a folder, which any HLS player or CDN reads and
    /// `livekit-control` serves at `/hls/CANVAS/index.m3u8`. It shares the canvas's one encode;
    /// a segment ends at the first keyframe a second or more after its start, so segments
    /// last one keyframe interval (the encode's, 2 s by default; 1 s for lower latency).
    Hls {
        /// The folder (made if missing; segments an earlier show left in it are removed).
        /// Default: `livekit-hls-PID-CANVAS` in the system's temporary folder
        /// (`livekit-hls-PID-input-ID` for an output an input feeds; the state document shows
        /// the folder chosen).
        #[serde(default)]
        #[schema(schema_with = crate::schema::optional_path)]
        dir: Option<PathBuf>,
        /// Segments the playlist lists: a rolling window for live viewing (older segments are
        /// deleted), or 0 to keep every segment (an event playlist a late viewer plays from
        /// the start). Default 6.
        #[serde(default)]
        window: Option<u32>,
        /// The segments' container. Default `fmp4`.
        #[serde(default)]
        segments: HlsSegmentFormat,
    },
}

/// The container of an HLS output's segments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HlsSegmentFormat {
    /// Fragmented MP4 (`.m4s` segments after one `init-TOKEN.mp4`).
    #[default]
    Fmp4,
    /// MPEG transport stream (`.ts`): what every player, however old, plays.
    Ts,
}

/// The playlist of an HLS output whose folder is `dir`.
pub const HLS_PLAYLIST: &str = "index.m3u8";
