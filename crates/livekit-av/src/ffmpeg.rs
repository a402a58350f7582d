//! FFmpeg for the whole process: [`init`] once (libraries, input devices, the log route), and
//! FFmpeg's log lines through `tracing`, scrubbed of every known secret.
//!
//! FFmpeg's log can hold URLs with stream keys ("Connection to srt://h:9000?streamid=KEY
//! failed"), so it never reaches stderr: every line goes through [`scrub`] and then to
//! `tracing` under the target `ffmpeg` (errors, warnings, info and verbose lines at `debug`,
//! FFmpeg's debug and trace lines at `trace`). Our own errors report each failure, naming the
//! file, device or (redacted) URL, with FFmpeg's root cause from [`take_last_error`].

use std::cell::RefCell;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::Once;

use ffmpeg_next::ffi;
use livekit_core::secret::scrub;

/// Initialises FFmpeg for the process: its libraries, its input devices (for capture), and
/// its log routed through `tracing` with every known secret scrubbed.
///
/// FFmpeg's own level is set from `tracing`'s most verbose enabled level at the first call
/// (trace: everything, debug: verbose, otherwise warnings and errors). Every livekit type
/// that uses FFmpeg calls this before its first FFmpeg call; programs that use FFmpeg
/// themselves may call it at start-up. Idempotent and cheap after the first call.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Err(error) = ffmpeg_next::init() {
            tracing::error!(%error, "FFmpeg failed to initialise");
        }
        ffmpeg_next::device::register_all();
        let level = match tracing::level_filters::LevelFilter::current() {
            tracing::level_filters::LevelFilter::TRACE => ffi::AV_LOG_TRACE,
            tracing::level_filters::LevelFilter::DEBUG => ffi::AV_LOG_VERBOSE,
            _ => ffi::AV_LOG_WARNING,
        };
        // SAFETY: `log_callback` matches FFmpeg's callback signature and is thread-safe.
        unsafe {
            ffi::av_log_set_level(level);
            ffi::av_log_set_callback(Some(log_callback));
        }
    });
}

thread_local! {
    static LAST_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Takes the first error line FFmpeg logged on this thread since the last call, scrubbed and
/// without FFmpeg's `[component @ 0x...]` prefix: the root cause, before the outer layers
/// repeat it ("Cannot open connection ..."). Call it before an FFmpeg operation to forget
/// older errors, and after it fails to read why.
pub fn take_last_error() -> Option<String> {
    LAST_ERROR.with(|last| last.borrow_mut().take())
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
        LAST_ERROR.with(|last| {
            last.borrow_mut().get_or_insert_with(|| strip_prefix(&line));
        });
    }
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
    fn ffmpeg_prefixes_are_stripped() {
        assert_eq!(strip_prefix("[tls @ 0x1] Peer failed"), "Peer failed");
        assert_eq!(
            strip_prefix("[flv @ 0x1] [tcp @ 0x2] Connection refused"),
            "Connection refused"
        );
        assert_eq!(strip_prefix("plain"), "plain");
    }

    #[test]
    fn errors_are_scrubbed_and_kept_for_the_thread() {
        init();
        livekit_core::secret::register_secret("av-test-secret-1234");
        let _ = take_last_error();
        let message = std::ffi::CString::new("cannot reach rtmp://h/app/av-test-secret-1234\n")
            .expect("no NUL");
        // SAFETY: a plain format string without arguments.
        unsafe { ffi::av_log(std::ptr::null_mut(), ffi::AV_LOG_ERROR, message.as_ptr()) };
        assert_eq!(
            take_last_error().as_deref(),
            Some("cannot reach rtmp://h/app/<redacted>")
        );
        assert_eq!(take_last_error(), None);
    }
}
