//! FFmpeg set-up shared by the encoder, the recorder and the streamer: initialise once, and
//! send FFmpeg's log lines to `tracing` (scrubbed of stream keys) instead of stderr, through
//! the one hook of [`route_ffmpeg_logs`](crate::stream::route_ffmpeg_logs).

use std::sync::Once;

static INIT: Once = Once::new();

/// Initialises FFmpeg and its log hook (once per process; cheap after that).
pub(crate) fn init() {
    INIT.call_once(|| {
        if let Err(error) = ffmpeg_next::init() {
            tracing::warn!("FFmpeg failed to initialise: {error}");
        }
    });
    crate::stream::route_ffmpeg_logs();
}
