//! [`CommandError`]: why a command was not applied. A command that fails changes nothing.

use serde::Serialize;
use utoipa::ToSchema;

/// What kind of failure a [`CommandError`] is (the HTTP API answers 400, 404 or 409).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Not a command: malformed JSON, an unknown command or field, a value of the wrong type.
    Malformed,
    /// A command with a value out of range, or naming something that cannot be opened (a
    /// missing file, an unknown device).
    Invalid,
    /// It names an id (input, canvas, scene, layer, output) that does not exist.
    NotFound,
    /// It cannot be applied now: the id is taken, or the thing is not in a state for it
    /// (pausing a camera, stopping a stopped output).
    Conflict,
}

impl ErrorKind {
    /// The HTTP status that stands for it.
    pub fn http_status(self) -> u16 {
        match self {
            Self::Malformed | Self::Invalid => 400,
            Self::NotFound => 404,
            Self::Conflict => 409,
        }
    }
}

/// What a [`CommandError`] is about: an input, a canvas, a scene, a layer or an output, by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Target {
    /// What it is: `"input"`, `"canvas"`, `"scene"`, `"layer"` or `"output"`.
    #[schema(value_type = String)]
    pub what: &'static str,
    /// Its id, as the command gave it.
    pub id: String,
}

/// Why a command was not applied, in one line naming the id or field at fault. Never holds a
/// stream key.
///
/// `message` is the whole line (`output "rec": cannot open for writing: ...`); `target` and
/// `reason` are its two parts, for a caller that names the thing its own way (the `livekit`
/// command says `--record x.mp4: cannot open ...`, without the output id it chose).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error, ToSchema)]
#[error("{message}")]
pub struct CommandError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// What is wrong, naming the id or field: `target` and `reason` in one line.
    pub message: String,
    /// The input, canvas, layer or output it is about, when it is about one.
    pub target: Option<Target>,
    /// What is wrong, without the target (the whole message when there is none).
    pub reason: String,
}

impl CommandError {
    fn new(kind: ErrorKind, target: Option<Target>, reason: String) -> Self {
        let message = match &target {
            Some(Target { what, id }) => format!("{what} {id:?}: {reason}"),
            None => reason.clone(),
        };
        Self::with_message(kind, message, target, reason)
    }

    fn with_message(
        kind: ErrorKind,
        message: String,
        target: Option<Target>,
        reason: String,
    ) -> Self {
        Self {
            kind,
            message,
            target,
            reason,
        }
    }

    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Malformed, None, message.into())
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, None, message.into())
    }

    /// An invalid command about an input, canvas, layer or output.
    pub(crate) fn invalid_on(what: &'static str, id: &str, reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, Some(target(what, id)), reason.into())
    }

    pub(crate) fn not_found(what: &'static str, id: &str) -> Self {
        Self {
            kind: ErrorKind::NotFound,
            message: format!("no {what} {id:?}"),
            target: Some(target(what, id)),
            reason: format!("there is no such {what}"),
        }
    }

    /// A scene a canvas does not have.
    pub(crate) fn no_scene(canvas: &str, scene: &str) -> Self {
        Self {
            kind: ErrorKind::NotFound,
            message: format!("no scene in canvas {canvas:?} named {scene:?}"),
            target: Some(target("scene", scene)),
            reason: format!("canvas {canvas:?} has no such scene"),
        }
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, None, message.into())
    }

    /// A command that cannot be applied now to an input, canvas, layer or output.
    pub(crate) fn conflict_on(what: &'static str, id: &str, reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, Some(target(what, id)), reason.into())
    }

    /// [`conflict_on`](Self::conflict_on) said as one sentence: `input "x" exists already`
    /// (the reason: `exists already`).
    pub(crate) fn conflict_that(
        what: &'static str,
        id: &str,
        predicate: impl Into<String>,
    ) -> Self {
        let reason = predicate.into();
        let message = format!("{what} {id:?} {reason}");
        Self::with_message(ErrorKind::Conflict, message, Some(target(what, id)), reason)
    }
}

fn target(what: &'static str, id: &str) -> Target {
    Target {
        what,
        id: id.to_owned(),
    }
}

/// An error with its causes, on one line (`cannot open for writing: No such file or
/// directory`), as a message names them.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
