//! Viewer with DISPLAY naming an X server that does not run: a clear error, every time.
//!
//! Its own test binary: winit connects (or fails to) once per process, and this failure is
//! what later viewers of the process get.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use livekit_sinks::{OpenViewerError, Viewer, ViewerSettings};

#[test]
fn an_unreachable_display_is_a_clear_error_every_time() {
    let n = (200..300)
        .find(|n| {
            !std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                && !std::path::Path::new(&format!("/tmp/.X{n}-lock")).exists()
        })
        .unwrap();
    let display = format!(":{n}");
    // SAFETY: the only test of this binary; no other thread reads the environment.
    unsafe {
        std::env::set_var("DISPLAY", &display);
        std::env::remove_var("WAYLAND_DISPLAY");
        std::env::remove_var("WAYLAND_SOCKET");
    }
    for _ in 0..2 {
        let error = Viewer::open(ViewerSettings::default()).unwrap_err();
        assert!(
            matches!(&error, OpenViewerError::Connect { display: d, .. } if *d == display),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            format!("cannot open a preview window: cannot connect to display {display}")
        );
        assert!(std::error::Error::source(&error).is_some());
    }
}
