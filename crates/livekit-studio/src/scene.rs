//! Scene files on a studio: what a scene file describes becomes [`Command`]s, applied like any
//! others, and a running show becomes a scene file again ([`Studio::scene_file`]).
//!
//! The canvas is [`MAIN_CANVAS`]. Each `[[input]]` becomes an input under its `id`; each
//! `[[layer]]` N a layer under its `id` (default `layer-N`) showing the named input
//! (`input = "ID"`) or, with an inline `source`, an input of its own under the layer's id (a
//! file layer's sound goes into the program mix); each `[[audio]]` N an input named `audio-N`
//! (a microphone, or a file's sound); each `[[output]]` an output started once the rest is
//! built.

use std::path::{Path, PathBuf};

use livekit_compositor::{
    AudioSourceSpec, Color, Fps, LayerSource, SceneFile, SceneFileError, SceneTable, SourceSpec,
};
use livekit_core::secret::REDACTED;
use serde::{Deserialize, Serialize};

use crate::command::{
    AudioSettings, Command, InputSpec, LayerFields, MAIN_CANVAS, MAIN_SCENE, OutputSpec,
    TransitionSpec, WhenFailed,
};
use crate::studio::{Studio, fields_of};

/// The commands that build what `file` describes, in order: the canvas and its scenes, the
/// named inputs, the layers (each inline source an input of its own), the `[[audio]]`
/// inputs, the scene shown at the start, then the outputs. An `[[input]]` or `[[output]]`
/// table that is not a valid input or output is an error naming the file, the line and the
/// field.
pub fn scene_commands(file: &SceneFile) -> Result<Vec<Command>, SceneFileError> {
    Ok(planned(file)?.into_iter().map(|(c, _)| c).collect())
}

/// [`scene_commands`], each with the line it comes from.
fn planned(file: &SceneFile) -> Result<Vec<(Command, Option<usize>)>, SceneFileError> {
    let canvas = &file.canvas;
    let mut commands = vec![(
        Command::AddCanvas {
            id: MAIN_CANVAS.to_owned(),
            width: canvas.width,
            height: canvas.height,
            fps: canvas.fps,
            background: Some(canvas.background),
        },
        None,
    )];
    // Scenes the `[canvas]` table declares come first, in its order; those only layers name
    // are added where the first of them is (as before `scenes` existed).
    let mut scenes = vec![MAIN_SCENE.to_owned()];
    for scene in file
        .scenes
        .iter()
        .filter(|s| file.declared_scenes.contains(s))
    {
        if !scenes.contains(scene) {
            scenes.push(scene.clone());
            commands.push((add_scene(scene), None));
        }
    }
    for table in &file.inputs {
        commands.push((input_command(file, table)?, Some(table.line)));
    }
    for (n, spec) in file.layers.iter().enumerate() {
        if !scenes.contains(&spec.scene) {
            scenes.push(spec.scene.clone());
            commands.push((add_scene(&spec.scene), None));
        }
        let id = spec
            .id
            .clone()
            .unwrap_or_else(|| format!("layer-{}", n + 1));
        let line = Some(spec.line);
        let input = match &spec.source {
            SourceSpec::Input(input) => input.clone(),
            source => {
                commands.push((
                    Command::AddInput {
                        id: id.clone(),
                        input: input_spec(source),
                        audio: AudioSettings::default(),
                        when_failed: WhenFailed::default(),
                    },
                    line,
                ));
                id.clone()
            }
        };
        let layer = spec.layer(LayerSource::Color(Color::TRANSPARENT));
        commands.push((
            Command::AddLayer(LayerFields {
                id,
                canvas: Some(MAIN_CANVAS.to_owned()),
                scene: Some(spec.scene.clone()),
                input: Some(input),
                ..fields_of(&layer)
            }),
            line,
        ));
    }
    for (n, audio) in file.audio.iter().enumerate() {
        let input = match &audio.source {
            AudioSourceSpec::Microphone(device) => InputSpec::Microphone {
                device: device.clone(),
            },
            AudioSourceSpec::File { path, looping } => InputSpec::File {
                path: path.display().to_string(),
                looping: *looping,
                audio: true,
                readrate: None,
                paused: false,
            },
            // Kinds added to scene files later.
            _ => continue,
        };
        commands.push((
            Command::AddInput {
                id: format!("audio-{}", n + 1),
                input,
                audio: AudioSettings {
                    gain: audio.gain,
                    muted: audio.muted,
                },
                when_failed: WhenFailed::default(),
            },
            Some(audio.line),
        ));
    }
    if file.scene != MAIN_SCENE {
        commands.push((
            Command::SwitchScene {
                canvas: MAIN_CANVAS.to_owned(),
                scene: file.scene.clone(),
                transition: TransitionSpec::Cut,
            },
            None,
        ));
    }
    for table in &file.outputs {
        commands.push((output_command(file, table)?, Some(table.line)));
    }
    Ok(commands)
}

fn add_scene(scene: &str) -> Command {
    Command::AddScene {
        canvas: MAIN_CANVAS.to_owned(),
        scene: scene.to_owned(),
    }
}

/// The fields of an `[[input]]` table that are not the input's own.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputExtras {
    #[serde(default)]
    gain: Option<f32>,
    #[serde(default)]
    muted: Option<bool>,
    #[serde(default)]
    when_failed: Option<WhenFailed>,
}

/// The fields of an `[[output]]` table that are not the output's own.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputExtras {
    #[serde(default)]
    canvas: Option<String>,
    #[serde(default)]
    input: Option<String>,
}

/// Splits `extras` out of a table's fields.
fn split(table: &SceneTable, extras: &[&str]) -> (toml::Table, toml::Table) {
    let mut own = table.fields.clone();
    let mut other = toml::Table::new();
    for key in extras {
        if let Some(value) = own.remove(*key) {
            other.insert((*key).to_owned(), value);
        }
    }
    (own, other)
}

/// Reads `fields` as a `T`; an error names the file, the line and the field.
fn read<T: serde::de::DeserializeOwned>(
    file: &SceneFile,
    what: &str,
    table: &SceneTable,
    fields: toml::Table,
) -> Result<T, SceneFileError> {
    serde_path_to_error::deserialize(toml::Value::Table(fields)).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string().trim().to_owned();
        // The field at fault: serde's path, else the one the message names in backquotes.
        let field = if path.is_empty() || path == "." {
            message
                .split('`')
                .nth(1)
                .filter(|name| table.lines.contains_key(*name))
                .map(str::to_owned)
        } else {
            Some(path.split('.').next().unwrap_or_default().to_owned())
        };
        let line = field.as_deref().map_or(table.line, |f| table.line_of(f));
        let prefix = match field {
            Some(field) if !message.contains(&format!("`{field}`")) => {
                format!("{what} {:?} {field}", table.id)
            }
            _ => format!("{what} {:?}", table.id),
        };
        SceneFileError {
            path: file.path.clone(),
            line: Some(line),
            message: format!("{prefix}: {message}"),
        }
    })
}

/// A path of the scene file, relative to its folder; URLs are left as they are.
fn anchored(file: &SceneFile, path: &Path) -> PathBuf {
    if path.is_relative() && !path.to_string_lossy().contains("://") {
        file.path.parent().unwrap_or(Path::new(".")).join(path)
    } else {
        path.to_path_buf()
    }
}

fn input_command(file: &SceneFile, table: &SceneTable) -> Result<Command, SceneFileError> {
    let (own, extras) = split(table, &["gain", "muted", "when_failed"]);
    let extras: InputExtras = read(file, "input", table, extras)?;
    let mut input: InputSpec = read(file, "input", table, own)?;
    match &mut input {
        InputSpec::File { path, .. } => {
            *path = anchored(file, Path::new(path)).display().to_string();
        }
        InputSpec::Playlist { paths, cover, .. } => {
            for path in paths.iter_mut() {
                *path = anchored(file, path);
            }
            if let Some(cover) = cover {
                *cover = anchored(file, cover);
            }
        }
        InputSpec::Image { path } => *path = anchored(file, path),
        _ => {}
    }
    let defaults = AudioSettings::default();
    Ok(Command::AddInput {
        id: table.id.clone(),
        input,
        audio: AudioSettings {
            gain: extras.gain.unwrap_or(defaults.gain),
            muted: extras.muted.unwrap_or(defaults.muted),
        },
        when_failed: extras.when_failed.unwrap_or_default(),
    })
}

fn output_command(file: &SceneFile, table: &SceneTable) -> Result<Command, SceneFileError> {
    let (own, extras) = split(table, &["canvas", "input"]);
    let extras: OutputExtras = read(file, "output", table, extras)?;
    let mut output: OutputSpec = read(file, "output", table, own)?;
    match &mut output {
        OutputSpec::Record { path, .. } => *path = anchored(file, path),
        OutputSpec::Hls { dir: Some(dir), .. } => *dir = anchored(file, dir),
        _ => {}
    }
    Ok(Command::StartOutput {
        id: table.id.clone(),
        canvas: extras.canvas.unwrap_or_else(|| MAIN_CANVAS.to_owned()),
        input: extras.input,
        output,
    })
}

/// What a scene file's layer source is as a studio input.
fn input_spec(source: &SourceSpec) -> InputSpec {
    match source {
        SourceSpec::Color(color) => InputSpec::Color { color: *color },
        SourceSpec::Text(text) => InputSpec::Text {
            text: text.text.clone(),
            size: Some(text.size),
            color: Some(text.color),
            background: text.background,
        },
        SourceSpec::Pattern(pattern) => InputSpec::Pattern { pattern: *pattern },
        SourceSpec::Image(path) => InputSpec::Image { path: path.clone() },
        SourceSpec::File { path, looping } => InputSpec::File {
            path: path.display().to_string(),
            looping: *looping,
            audio: true,
            readrate: None,
            paused: false,
        },
        SourceSpec::Camera(device) => InputSpec::Camera {
            device: device.clone(),
            size: None,
            fps: None,
        },
        SourceSpec::Screen { display, region } => InputSpec::Screen {
            display: Some(display.clone()),
            region: *region,
            fps: None,
            cursor: true,
            yuv: false,
        },
        SourceSpec::Window(title) => InputSpec::Window {
            title: title.clone(),
        },
        // Kinds added to scene files later: shown as nothing until the studio knows them.
        _ => InputSpec::Color {
            color: Color::TRANSPARENT,
        },
    }
}

impl Studio {
    /// Builds what the scene file at `path` describes on this studio (through
    /// [`scene_commands`]), outputs included. An error names the file, the line of the table
    /// at fault and what is wrong; what was applied before it stays.
    pub fn load_scene_file(&self, path: &Path) -> Result<(), SceneFileError> {
        let file = SceneFile::load(path)?;
        self.load_scene(path, &file)
    }

    /// [`load_scene_file`](Self::load_scene_file) for a scene file already read; `path` names
    /// it in errors.
    pub fn load_scene(&self, path: &Path, file: &SceneFile) -> Result<(), SceneFileError> {
        for (command, line) in planned(file)? {
            self.apply(command).map_err(|e| SceneFileError {
                path: path.to_path_buf(),
                line,
                message: e.message,
            })?;
        }
        Ok(())
    }

    /// The show as a scene file (TOML): the canvas [`MAIN_CANVAS`] (or the first, if none has
    /// that id) with its scenes and the one shown, every input as an `[[input]]`, every layer
    /// of that canvas as a `[[layer]]` naming its input, and its running outputs as
    /// `[[output]]`s. Loaded into a fresh studio it builds the same show: the same
    /// [`state`](Self::state), but for what only running changes (input and output states,
    /// counters, statistics). A scene file has one canvas: other canvases, their layers and
    /// outputs are left out. Keys never go into it: a stream output keeps the sites it names
    /// (their keys come from the configuration), and a URL that holds a key is left out, said
    /// in a comment at the top. Relative paths are made absolute.
    pub fn scene_file(&self) -> String {
        let state = self.state();
        let canvas = state
            .canvases
            .iter()
            .find(|c| c.id == MAIN_CANVAS)
            .or_else(|| state.canvases.first());
        let settings = canvas.and_then(|c| self.canvas_settings(&c.id));
        let mut notes = Vec::new();
        let mut out = ExportFile {
            canvas: ExportCanvas {
                width: settings.as_ref().map_or(1280, |s| s.width),
                height: settings.as_ref().map_or(720, |s| s.height),
                fps: settings.as_ref().map_or(Fps::new(30), |s| s.fps),
                background: settings.as_ref().map_or(Color::BLACK, |s| s.background),
                scenes: canvas.map_or_else(
                    || vec![MAIN_SCENE.to_owned()],
                    |c| c.scenes.iter().map(|s| s.name.clone()).collect(),
                ),
                scene: canvas.map_or_else(|| MAIN_SCENE.to_owned(), |c| c.scene.clone()),
            },
            input: Vec::new(),
            layer: Vec::new(),
            output: Vec::new(),
        };
        for input in &state.inputs {
            // The state shows input URLs redacted: one that had a password or key cannot be
            // opened from the file as written.
            let paths: Vec<String> = match &input.input {
                InputSpec::File { path, .. } => vec![path.clone()],
                InputSpec::Playlist { paths, .. } => {
                    paths.iter().map(|p| p.display().to_string()).collect()
                }
                _ => Vec::new(),
            };
            for path in paths.iter().filter(|p| p.contains(REDACTED)) {
                notes.push(format!(
                    "input {:?}: {path}: its password or key was left out (put it back before \
                     loading this file)",
                    input.id
                ));
            }
            out.input.push(ExportInput {
                id: input.id.clone(),
                input: absolute_input(&input.input),
                gain: input.audio.map(|a| a.gain),
                muted: input.audio.map(|a| a.muted),
                when_failed: input.when_failed,
            });
        }
        if let Some(canvas) = canvas {
            // Layers in the order they were added, so equal `z`s stack as they did.
            for id in self.layer_order(&canvas.id) {
                let found = canvas.scenes.iter().find_map(|scene| {
                    let layer = scene.layers.iter().find(|l| l.id == id)?;
                    Some((scene.name.clone(), layer.clone()))
                });
                if let Some((scene, mut layer)) = found {
                    layer.canvas = None;
                    layer.scene = Some(scene);
                    out.layer.push(layer);
                }
            }
            for output in &state.outputs {
                let running = matches!(
                    output.state,
                    crate::OutputState::Starting | crate::OutputState::Live
                );
                if running && (output.canvas == canvas.id || output.input.is_some()) {
                    let spec = match &output.output {
                        OutputSpec::Record { path, crash_safe } => OutputSpec::Record {
                            path: absolute(path),
                            crash_safe: *crash_safe,
                        },
                        OutputSpec::Hls {
                            dir,
                            window,
                            segments,
                        } => OutputSpec::Hls {
                            dir: dir.as_deref().map(absolute),
                            window: *window,
                            segments: *segments,
                        },
                        // A URL that holds a key is left out: keys never go into scene files.
                        OutputSpec::Stream { to } => {
                            let (keyed, kept): (Vec<&String>, Vec<&String>) =
                                to.iter().partition(|t| t.contains(REDACTED));
                            for url in keyed {
                                notes.push(format!(
                                    "output {:?}: {url} left out: it holds a stream key (name a \
                                     site instead: its key comes from the configuration)",
                                    output.id
                                ));
                            }
                            if kept.is_empty() {
                                continue;
                            }
                            OutputSpec::Stream {
                                to: kept.into_iter().cloned().collect(),
                            }
                        }
                        other => other.redacted(),
                    };
                    out.output.push(ExportOutput {
                        id: output.id.clone(),
                        input: output.input.clone(),
                        output: spec,
                    });
                }
            }
        }
        let mut text = String::from("# A livekit scene file, written by Studio::scene_file.\n");
        for note in notes {
            text.push_str(&format!("# {note}\n"));
        }
        text.push('\n');
        match toml::to_string(&out) {
            Ok(toml) => text.push_str(&toml),
            Err(e) => text.push_str(&format!("# cannot be written as TOML: {e}\n")),
        }
        text
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn absolute_input(input: &InputSpec) -> InputSpec {
    let mut input = input.clone();
    match &mut input {
        InputSpec::File { path, .. } if !path.contains("://") => {
            *path = absolute(Path::new(path)).display().to_string();
        }
        InputSpec::Playlist { paths, cover, .. } => {
            for path in paths.iter_mut() {
                *path = absolute(path);
            }
            if let Some(cover) = cover {
                *cover = absolute(cover);
            }
        }
        InputSpec::Image { path } => *path = absolute(path),
        _ => {}
    }
    input
}

/// A scene file as [`Studio::scene_file`] writes it.
#[derive(Serialize)]
struct ExportFile {
    canvas: ExportCanvas,
    input: Vec<ExportInput>,
    layer: Vec<LayerFields>,
    output: Vec<ExportOutput>,
}

#[derive(Serialize)]
struct ExportCanvas {
    width: u32,
    height: u32,
    fps: Fps,
    background: Color,
    scenes: Vec<String>,
    scene: String,
}

#[derive(Serialize)]
struct ExportInput {
    id: String,
    #[serde(flatten)]
    input: InputSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    gain: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    muted: Option<bool>,
    when_failed: WhenFailed,
}

#[derive(Serialize)]
struct ExportOutput {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<String>,
    #[serde(flatten)]
    output: OutputSpec,
}
