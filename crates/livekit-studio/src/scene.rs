//! Scene files on a studio: what a scene file describes becomes [`Command`]s, applied like any
//! others. The canvas is [`MAIN_CANVAS`]; each `[[layer]]` N becomes an input and a layer both
//! named `layer-N` (a file layer's sound goes into the program mix); each `[[audio]]` N an
//! input named `audio-N` (a microphone, or a file's sound).

use std::path::Path;

use livekit_compositor::{
    AudioSourceSpec, Color, LayerSource, SceneFile, SceneFileError, SourceSpec,
};

use crate::command::{
    AudioSettings, Command, InputSpec, LayerFields, MAIN_CANVAS, MAIN_SCENE, WhenFailed,
};
use crate::studio::{Studio, fields_of};

/// The commands that build what `file` describes, in order.
pub fn scene_commands(file: &SceneFile) -> Vec<Command> {
    let canvas = &file.canvas;
    let mut commands = vec![Command::AddCanvas {
        id: MAIN_CANVAS.to_owned(),
        width: canvas.width,
        height: canvas.height,
        fps: canvas.fps,
        background: Some(canvas.background),
    }];
    let mut scenes = vec![MAIN_SCENE.to_owned()];
    for (n, spec) in file.layers.iter().enumerate() {
        if !scenes.contains(&spec.scene) {
            scenes.push(spec.scene.clone());
            commands.push(Command::AddScene {
                canvas: MAIN_CANVAS.to_owned(),
                scene: spec.scene.clone(),
            });
        }
        let id = format!("layer-{}", n + 1);
        commands.push(Command::AddInput {
            id: id.clone(),
            input: input_spec(&spec.source),
            audio: AudioSettings::default(),
            when_failed: WhenFailed::default(),
        });
        let layer = spec.layer(LayerSource::Color(Color::TRANSPARENT));
        commands.push(Command::AddLayer(LayerFields {
            id: id.clone(),
            canvas: Some(MAIN_CANVAS.to_owned()),
            scene: Some(spec.scene.clone()),
            input: Some(id),
            ..fields_of(&layer)
        }));
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
            },
            // Kinds added to scene files later.
            _ => continue,
        };
        commands.push(Command::AddInput {
            id: format!("audio-{}", n + 1),
            input,
            audio: AudioSettings {
                gain: audio.gain,
                muted: audio.muted,
            },
            when_failed: WhenFailed::default(),
        });
    }
    commands
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
    /// [`scene_commands`]). An error names the file, the line of the layer at fault and what is
    /// wrong; what was applied before it stays.
    pub fn load_scene_file(&self, path: &Path) -> Result<(), SceneFileError> {
        let file = SceneFile::load(path)?;
        self.load_scene(path, &file)
    }

    /// [`load_scene_file`](Self::load_scene_file) for a scene file already read; `path` names
    /// it in errors.
    pub fn load_scene(&self, path: &Path, file: &SceneFile) -> Result<(), SceneFileError> {
        for command in scene_commands(file) {
            let line = layer_line(file, &command);
            self.apply(command).map_err(|e| SceneFileError {
                path: path.to_path_buf(),
                line,
                message: e.message,
            })?;
        }
        Ok(())
    }
}

/// The line of the `[[layer]]` or `[[audio]]` a command comes from.
fn layer_line(file: &SceneFile, command: &Command) -> Option<usize> {
    let id = match command {
        Command::AddInput { id, .. } => id,
        Command::AddLayer(fields) => &fields.id,
        _ => return None,
    };
    if let Some(n) = id.strip_prefix("audio-") {
        let n: usize = n.parse().ok()?;
        return file.audio.get(n.checked_sub(1)?).map(|a| a.line);
    }
    let n: usize = id.strip_prefix("layer-")?.parse().ok()?;
    file.layers.get(n.checked_sub(1)?).map(|l| l.line)
}
