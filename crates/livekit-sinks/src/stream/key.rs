//! Stream keys as secrets: [`StreamKey`] and URL redaction. Every key made is registered
//! with `livekit_core::secret`, so FFmpeg's log (routed by `livekit_av::ffmpeg::init`) is
//! scrubbed of it.

use std::fmt;
use std::sync::Arc;

/// A stream key (or any other secret of a destination, like an SRT passphrase).
///
/// `Debug` and `Display` print `<redacted>`; only [`expose`](Self::expose) gives the text, and
/// only the code that builds the URL handed to FFmpeg calls it. Every key made is remembered
/// (for the life of the process) so that FFmpeg's own log lines are scrubbed of it (see
/// [`livekit_av::ffmpeg::init`]).
#[derive(Clone, PartialEq, Eq)]
pub struct StreamKey(Arc<str>);

impl StreamKey {
    /// A key from its text (surrounding white space is removed). `None` when it is empty.
    pub fn new(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        remember_secret(text);
        Some(Self(Arc::from(text)))
    }

    /// The key itself. Never log or print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

pub use livekit_core::secret::{REDACTED, redact_url as redacted_url, scrub};

fn remember_secret(text: &str) {
    livekit_core::secret::register_secret(text);
}

/// Routes FFmpeg's log through `tracing`, scrubbed of every known secret: the same as
/// [`livekit_av::ffmpeg::init`], which every livekit type that uses FFmpeg calls itself.
/// Programs that use FFmpeg elsewhere may call it at start-up. Idempotent.
pub fn route_ffmpeg_logs() {
    livekit_av::ffmpeg::init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_print() {
        let key = StreamKey::new(" abcd-efgh-1234 \n").unwrap();
        assert_eq!(key.expose(), "abcd-efgh-1234");
        assert_eq!(format!("{key} {key:?}"), "<redacted> <redacted>");
        assert!(StreamKey::new("  ").is_none());
        assert_eq!(
            scrub("publish abcd-efgh-1234 now"),
            "publish <redacted> now"
        );
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redacted_url("rtmp://a.rtmp.youtube.com/live2/xyz-secret"),
            "rtmp://a.rtmp.youtube.com/live2/<redacted>"
        );
        assert_eq!(
            redacted_url("rtmps://u:p@h:443/rtmp/k?x=y"),
            "rtmps://<redacted>@h:443/rtmp/<redacted>?<redacted>"
        );
        assert_eq!(
            redacted_url("srt://127.0.0.1:9000?passphrase=abc"),
            "srt://127.0.0.1:9000?<redacted>"
        );
        assert_eq!(
            redacted_url("rtmp://127.0.0.1/live"),
            "rtmp://127.0.0.1/live"
        );
    }
}
