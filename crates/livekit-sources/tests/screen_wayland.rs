//! A Wayland session without X11: screen capture says that X11 or XWayland is needed. Its own
//! test binary, as it changes the process environment.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::sync::Arc;

use livekit_core::{Port, VideoFrame, VideoTarget};
use livekit_sources::capture::{ScreenCapture, ScreenSettings, x11_display};

#[test]
fn wayland_without_x11_names_what_is_needed() {
    // SAFETY: the only test of this binary; no other thread reads the environment.
    unsafe {
        std::env::remove_var("DISPLAY");
        std::env::set_var("WAYLAND_DISPLAY", "wayland-0");
    }
    let port: Port<VideoFrame> = Port::latest();
    let targets: Vec<Arc<dyn VideoTarget>> = vec![Arc::new(port)];
    let error = ScreenCapture::start(ScreenSettings::default(), targets).unwrap_err();
    assert_eq!(
        error.to_string(),
        "screen capture needs X11 (or XWayland): this is a Wayland session (wayland-0) without \
         an X11 display (DISPLAY is not set); enable XWayland or log in to an X11 session"
    );
    // SAFETY: as above.
    unsafe { std::env::remove_var("WAYLAND_DISPLAY") };
    assert_eq!(
        x11_display(None).unwrap_err().to_string(),
        "screen capture needs X11 (or XWayland): no X11 display: DISPLAY is not set"
    );
    assert_eq!(x11_display(Some(":5")).unwrap(), ":5");
}
