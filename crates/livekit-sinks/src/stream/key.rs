//! Stream keys as secrets: [`StreamKey`], URL redaction, and FFmpeg's log routed through
//! `tracing` with every known key scrubbed.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::fmt;
use std::sync::{Arc, Once};

use ffmpeg_next::ffi;

/// A stream key (or any other secret of a destination, like an SRT passphrase).
///
/// `Debug` and `Display` print `<redacted>`; only [`expose`](Self::expose) gives the text, and
/// only the code that builds the URL handed to FFmpeg calls it. Every key made is remembered
/// (for the life of the process) so that FFmpeg's own log lines are scrubbed of it (see
/// [`route_ffmpeg_logs`]).
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

thread_local! {
    static LAST_FFMPEG_ERROR: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Takes the first error line FFmpeg logged on this thread since the last call (scrubbed):
/// the root cause, before the outer layers repeat it ("Cannot open connection ...").
pub(crate) fn take_last_ffmpeg_error() -> Option<String> {
    LAST_FFMPEG_ERROR.with(|last| last.borrow_mut().take())
}

/// Routes FFmpeg's log (which can contain URLs with stream keys) through `tracing`, under the
/// target `ffmpeg`, with every known secret scrubbed, instead of FFmpeg printing it to stderr.
/// FFmpeg errors, warnings, info and verbose lines are logged at `debug` (the caller reports
/// failures itself, with FFmpeg's root cause), debug and trace lines at `trace`.
///
/// FFmpeg's own level is set from `tracing`'s most verbose enabled level at the first call
/// (trace: everything, debug: verbose, otherwise warnings and errors).
///
/// Called by [`Streamer::start`](super::Streamer::start) and when a destination is resolved;
/// programs that use FFmpeg elsewhere may call it at start-up. Idempotent.
pub fn route_ffmpeg_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: `log_callback` matches FFmpeg's callback signature and is thread-safe.
        let level = match tracing::level_filters::LevelFilter::current() {
            tracing::level_filters::LevelFilter::TRACE => ffi::AV_LOG_TRACE,
            tracing::level_filters::LevelFilter::DEBUG => ffi::AV_LOG_VERBOSE,
            _ => ffi::AV_LOG_WARNING,
        };
        unsafe {
            ffi::av_log_set_level(level);
            ffi::av_log_set_callback(Some(log_callback));
        }
    });
}

/// FFmpeg's level to ours; `None` for levels we never show.
fn level_of(level: c_int) -> Option<tracing::Level> {
    Some(if level <= ffi::AV_LOG_WARNING {
        tracing::Level::WARN
    } else if level <= ffi::AV_LOG_VERBOSE {
        tracing::Level::DEBUG
    } else if level <= ffi::AV_LOG_TRACE {
        tracing::Level::TRACE
    } else {
        return None;
    })
}

unsafe extern "C" fn log_callback(
    avcl: *mut c_void,
    level: c_int,
    fmt: *const c_char,
    args: *mut ffi::__va_list_tag,
) {
    let Some(tracing_level) = level_of(level) else {
        return;
    };
    let is_error = level <= ffi::AV_LOG_ERROR;
    if !is_error && tracing_level > tracing::level_filters::LevelFilter::current() {
        return;
    }
    let mut buffer = [0 as c_char; 1024];
    let mut print_prefix: c_int = 1;
    // SAFETY: FFmpeg hands us a valid format string and argument list for one use; the buffer
    // is large enough and av_log_format_line2 always terminates it.
    let written = unsafe {
        ffi::av_log_format_line2(
            avcl,
            level,
            fmt,
            args,
            buffer.as_mut_ptr(),
            buffer.len() as c_int,
            &mut print_prefix,
        )
    };
    if written < 0 {
        return;
    }
    // SAFETY: terminated above.
    let line = unsafe { CStr::from_ptr(buffer.as_ptr()) }.to_string_lossy();
    let line = line.trim_end();
    if line.is_empty() {
        return;
    }
    let line = scrub(line);
    if is_error {
        LAST_FFMPEG_ERROR.with(|last| {
            last.borrow_mut().get_or_insert_with(|| strip_prefix(&line));
        });
    }
    // Our own errors report every failure, naming the file, device or (redacted) URL, and
    // carry FFmpeg's root cause: FFmpeg's own lines are detail for `-v`.
    match tracing_level {
        tracing::Level::WARN | tracing::Level::DEBUG => {
            tracing::debug!(target: "ffmpeg", "{line}")
        }
        _ => tracing::trace!(target: "ffmpeg", "{line}"),
    }
}

/// `[tls @ 0x55d...] Peer certificate failed verification` -> `Peer certificate failed
/// verification`.
fn strip_prefix(line: &str) -> String {
    let mut rest = line;
    while let Some(stripped) = rest.strip_prefix('[') {
        match stripped.split_once("] ") {
            Some((_, after)) => rest = after,
            None => break,
        }
    }
    rest.to_owned()
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

    #[test]
    fn ffmpeg_prefixes_are_stripped() {
        assert_eq!(strip_prefix("[tls @ 0x1] Peer failed"), "Peer failed");
        assert_eq!(strip_prefix("plain"), "plain");
    }
}
