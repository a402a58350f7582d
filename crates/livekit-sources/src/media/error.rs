//! The errors of opening, probing, playing and controlling media. Each names the file or the
//! (redacted) URL.

use std::time::Duration;

/// Why media could not be opened (by [`probe`](super::probe), [`Player::open`](super::Player::open),
/// [`LazyPlayer::open`](super::LazyPlayer::open) or a [`Playlist`](super::Playlist) item).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenMediaError {
    /// There is no file at the path.
    #[error("media file {name}: no such file")]
    NotFound {
        /// The path.
        name: String,
    },
    /// The file exists but cannot be read.
    #[error("media file {name}: cannot read: {detail}")]
    Io {
        /// The path.
        name: String,
        /// What the OS said.
        detail: String,
    },
    /// The file is empty.
    #[error("media file {name}: the file is empty")]
    Empty {
        /// The path.
        name: String,
    },
    /// FFmpeg does not recognise the content (random bytes, a text file, a file cut off before
    /// its index).
    #[error("media {name}: not a media file FFmpeg can read ({detail})")]
    NotMedia {
        /// The path or redacted URL.
        name: String,
        /// What FFmpeg said.
        detail: String,
    },
    /// The file ends before FFmpeg could find a frame of its streams.
    #[error(
        "media {name}: the file ends before its first frame (truncated, or streams of zero length)"
    )]
    EndsEarly {
        /// The path.
        name: String,
    },
    /// A URL could not be opened (refused, not found, bad address).
    #[error("media {name}: cannot open: {detail}")]
    Unreachable {
        /// The redacted URL.
        name: String,
        /// What FFmpeg said.
        detail: String,
    },
    /// Opening took longer than [`PlayerSettings::open_timeout`](super::PlayerSettings::open_timeout).
    #[error("media {name}: no answer within {after:?}")]
    TimedOut {
        /// The path or redacted URL.
        name: String,
        /// The time limit.
        after: Duration,
    },
    /// The media has no audio or video stream (or none of the kinds asked for).
    #[error("media {name}: no {wanted} stream")]
    NoStreams {
        /// The path or redacted URL.
        name: String,
        /// What was looked for: "audio or video", "video", "audio".
        wanted: &'static str,
    },
    /// The codec of every usable stream has no decoder in this FFmpeg.
    #[error("media {name}: unsupported {kind} codec {codec} (this FFmpeg has no decoder for it)")]
    UnsupportedCodec {
        /// The path or redacted URL.
        name: String,
        /// "video" or "audio".
        kind: &'static str,
        /// The codec's name ("none" when FFmpeg does not know it at all).
        codec: String,
    },
    /// The decoder refused the stream's parameters.
    #[error("media {name}: cannot open the {kind} decoder ({codec}): {detail}")]
    Decoder {
        /// The path or redacted URL.
        name: String,
        /// "video" or "audio".
        kind: &'static str,
        /// The codec's name.
        codec: String,
        /// What FFmpeg said.
        detail: String,
    },
    /// A playlist's cover image could not be opened (the message names the file).
    #[error("playlist cover: {detail}")]
    Cover {
        /// Why, naming the image.
        detail: String,
    },
    /// A playlist glob pattern could not be expanded.
    #[error("playlist pattern {pattern}: {detail}")]
    Glob {
        /// The pattern.
        pattern: String,
        /// Why.
        detail: String,
    },
    /// A playlist had no entries, or none of its entries could be opened.
    #[error("playlist: nothing playable ({detail})")]
    NothingPlayable {
        /// The entries and why each failed.
        detail: String,
    },
}

/// Why [`probe`](super::probe) failed: the same reasons as opening.
pub type ProbeError = OpenMediaError;

/// What went wrong while playing; reported as a [`PlayerEvent`](super::PlayerEvent), after
/// which the player ends its targets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlayError {
    /// The media gave no frame at all (streams of zero length, or nothing decodable).
    #[error("media {name}: no audio or video frame could be decoded")]
    NothingDecoded {
        /// The path or redacted URL.
        name: String,
    },
    /// A playlist item or the cover could not be opened again.
    #[error(transparent)]
    Open(#[from] OpenMediaError),
}

/// Why a [`Player`](super::Player) or [`Playlist`](super::Playlist) did not take a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The command needs a started player (`start` first).
    #[error("player of {name}: not started")]
    NotStarted {
        /// The path or redacted URL.
        name: String,
    },
    /// `start` was called twice.
    #[error("player of {name}: already started")]
    AlreadyStarted {
        /// The path or redacted URL.
        name: String,
    },
    /// The player has ended or was stopped.
    #[error("player of {name}: already finished")]
    Finished {
        /// The path or redacted URL.
        name: String,
    },
    /// Targets can only be added before `start`.
    #[error("player of {name}: targets must be added before start")]
    Running {
        /// The path or redacted URL.
        name: String,
    },
    /// The decoding thread could not be created.
    #[error("player of {name}: cannot start its thread: {detail}")]
    Thread {
        /// The path or redacted URL.
        name: String,
        /// What the OS said.
        detail: String,
    },
    /// The media cannot seek (a live URL).
    #[error("player of {name}: cannot seek this media")]
    NotSeekable {
        /// The path or redacted URL.
        name: String,
    },
    /// [`Playlist::skip_to`](super::Playlist::skip_to) an index the list does not have.
    #[error("player of {name}: no entry {index} (the list has {len})")]
    NoSuchEntry {
        /// The playlist's name.
        name: String,
        /// The index asked for.
        index: usize,
        /// Entries in the list.
        len: usize,
    },
    /// Commands are waiting already: the player's thread is held up (by a target that takes
    /// no frames: an output that waits for a destination). Try again later.
    #[error(
        "player of {name}: busy: earlier commands are still waiting (an output that takes no frames holds it up); try again"
    )]
    Busy {
        /// The path or redacted URL.
        name: String,
    },
    /// The decoding thread panicked.
    #[error("player of {name}: its thread panicked")]
    Panicked {
        /// The path or redacted URL.
        name: String,
    },
}
