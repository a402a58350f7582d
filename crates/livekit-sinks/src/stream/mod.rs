//! Streaming: one packet stream (from an encoder, or a file for pass-through) sent to many
//! destinations over RTMP, RTMPS or SRT, and recorded to files, with destinations and
//! recordings added and removed while it runs. See [`Streamer`].

mod copy;
mod destination;
mod key;
mod mux;
mod queue;
mod recording;
mod streamer;

pub use copy::{CopyError, copy_compatible};
pub use destination::{
    DEFAULT_MAX_KEYFRAME_INTERVAL, Destination, DestinationError, Protocol, SITE_PRESETS,
    SiteConfig, SrtSettings, TlsSettings,
};
pub use key::{REDACTED, StreamKey, redacted_url, route_ffmpeg_logs, scrub};
pub use recording::{RecordingId, RecordingReport, RecordingState, RecordingStats};
pub use streamer::{
    DestinationId, DestinationState, DestinationStats, ReconnectSettings, StartStreamError,
    StreamReport, Streamer, StreamerSettings,
};
