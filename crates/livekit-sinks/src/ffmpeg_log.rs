//! FFmpeg set-up shared by the encoder and the recorder: initialise once, and send FFmpeg's
//! log lines to `tracing` instead of stderr.
//!
//! FFmpeg errors and warnings become `tracing` debug lines (our own error types report what
//! failed, naming the file or encoder); FFmpeg's informational chatter (x264's statistics, ...)
//! becomes trace lines.

use std::sync::Once;

static INIT: Once = Once::new();

/// Initialises FFmpeg and its log hook (once per process; cheap after that).
pub(crate) fn init() {
    INIT.call_once(|| {
        if let Err(error) = ffmpeg_next::init() {
            tracing::warn!("FFmpeg failed to initialise: {error}");
        }
        hook();
    });
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn hook() {
    use ffmpeg_next::ffi;
    use std::ffi::{c_char, c_int, c_void};

    unsafe extern "C" fn log(
        class: *mut c_void,
        level: c_int,
        fmt: *const c_char,
        args: *mut ffi::__va_list_tag,
    ) {
        // SAFETY: FFmpeg checks its global level before calling us; reading it is a plain
        // load of an int.
        if level > unsafe { ffi::av_log_get_level() } {
            return;
        }
        let mut line = [0 as c_char; 1024];
        let mut prefix: c_int = 1;
        // SAFETY: the arguments are FFmpeg's own, passed through unchanged; `line` is a buffer
        // of the size given, which av_log_format_line2 always NUL-terminates.
        let written = unsafe {
            ffi::av_log_format_line2(
                class,
                level,
                fmt,
                args,
                line.as_mut_ptr(),
                line.len() as c_int,
                &mut prefix,
            )
        };
        if written < 0 {
            return;
        }
        // SAFETY: NUL-terminated above.
        let text = unsafe { std::ffi::CStr::from_ptr(line.as_ptr()) }.to_string_lossy();
        let text = text.trim_end();
        if text.is_empty() {
            return;
        }
        if level <= ffi::AV_LOG_WARNING {
            tracing::debug!(target: "ffmpeg", "{text}");
        } else {
            tracing::trace!(target: "ffmpeg", "{text}");
        }
    }

    // SAFETY: `log` matches the callback type and only formats into a local buffer.
    unsafe { ffi::av_log_set_callback(Some(log)) };
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn hook() {
    // The va_list type differs per platform; elsewhere just keep FFmpeg quiet.
    ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Fatal);
}
