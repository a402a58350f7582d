//! Streaming: one packet stream (from an encoder, or a file for pass-through) sent to many
//! destinations over RTMP, RTMPS or SRT. See [`Streamer`].

mod copy;
mod destination;
mod key;
mod mux;
mod queue;
mod streamer;

pub use copy::{CopyError, copy_compatible};
pub use destination::{
    DEFAULT_MAX_KEYFRAME_INTERVAL, Destination, DestinationError, Protocol, SITE_PRESETS,
    SiteConfig, SrtSettings, TlsSettings,
};
pub use key::{REDACTED, StreamKey, redacted_url, route_ffmpeg_logs, scrub};
pub use streamer::{
    DestinationState, DestinationStats, ReconnectSettings, StartStreamError, StreamReport,
    Streamer, StreamerSettings,
};
