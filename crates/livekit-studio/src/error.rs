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

/// Why a command was not applied, in one line naming the id or field at fault. Never holds a
/// stream key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error, ToSchema)]
#[error("{message}")]
pub struct CommandError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// What is wrong, naming the id or field.
    pub message: String,
}

impl CommandError {
    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Malformed,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Invalid,
            message: message.into(),
        }
    }

    pub(crate) fn not_found(what: &str, id: &str) -> Self {
        Self {
            kind: ErrorKind::NotFound,
            message: format!("no {what} {id:?}"),
        }
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Conflict,
            message: message.into(),
        }
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
