//! [`ScreenCapture`]: the whole screen or a region of it (X11 through libavdevice's
//! `x11grab`).

use std::sync::Arc;
use std::time::Duration;

use livekit_core::{Clock, SystemClock, VideoTarget};

use super::device::{self, CaptureConfig, InputSpec, NoWatcher, StartCaptureError, Watcher};
use super::window::DisplayWatcher;
use super::{OutputFormat, ReopenSettings, VideoCapture};

/// A rectangle of the screen: origin (top-left, from the screen's top-left) and size, like
/// PyLivestream's `screencap_origin` / `screencap_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width (at least 1).
    pub width: u32,
    /// Height (at least 1).
    pub height: u32,
}

/// Settings of a [`ScreenCapture`].
#[derive(Debug, Clone)]
pub struct ScreenSettings {
    /// The X display (`:0`); `None` (default) uses `$DISPLAY`.
    pub display: Option<String>,
    /// The part of the screen to capture; `None` (default) captures the whole screen.
    pub region: Option<Region>,
    /// Frames a second, 1..=240. Default 30.
    pub frame_rate: u32,
    /// Whether the mouse pointer is drawn into the frames. Default `true`.
    pub show_cursor: bool,
    /// The format frames are delivered in. Default [`OutputFormat::Bgra8`]: what X11 gives, so
    /// nothing is converted on the capture thread.
    pub output: OutputFormat,
    /// What happens when the display fails. Default: retry every second for ever.
    pub reopen: ReopenSettings,
    /// The clock frames are stamped with (default: a [`SystemClock`]).
    pub clock: Arc<dyn Clock>,
}

impl Default for ScreenSettings {
    fn default() -> Self {
        Self {
            display: None,
            region: None,
            frame_rate: 30,
            show_cursor: true,
            output: OutputFormat::Bgra8,
            reopen: ReopenSettings::default(),
            clock: Arc::new(SystemClock::new()),
        }
    }
}

/// The X11 display to capture: `explicit` if given, else `$DISPLAY`. A Wayland session
/// without X11 gets [`StartCaptureError::NoX11`] saying that X11 or XWayland is needed.
pub fn x11_display(explicit: Option<&str>) -> Result<String, StartCaptureError> {
    if let Some(display) = explicit {
        return Ok(display.to_string());
    }
    match std::env::var("DISPLAY") {
        Ok(display) if !display.is_empty() => Ok(display),
        _ => Err(StartCaptureError::NoX11 {
            reason: match std::env::var("WAYLAND_DISPLAY") {
                Ok(wayland) if !wayland.is_empty() => format!(
                    "this is a Wayland session ({wayland}) without an X11 display (DISPLAY is \
                     not set); enable XWayland or log in to an X11 session"
                ),
                _ => "no X11 display: DISPLAY is not set".to_string(),
            },
        }),
    }
}

/// The screen (or a region of it) as a live video source, on a thread named
/// `screen <display>`.
///
/// ```no_run
/// use std::sync::Arc;
/// use livekit_core::{Port, VideoTarget};
/// use livekit_sources::capture::{Region, ScreenCapture, ScreenSettings};
///
/// let port = Port::latest();
/// let settings = ScreenSettings {
///     region: Some(Region { x: 100, y: 100, width: 1280, height: 720 }),
///     show_cursor: false,
///     ..Default::default()
/// };
/// let targets: Vec<Arc<dyn VideoTarget>> = vec![Arc::new(port.clone())];
/// let capture = ScreenCapture::start(settings, targets)?;
/// # Ok::<(), livekit_sources::capture::StartCaptureError>(())
/// ```
#[derive(Debug)]
pub struct ScreenCapture;

impl ScreenCapture {
    /// Starts capturing into `targets`; returns once the display is open or with why not
    /// (a region outside the screen, no X11, ...).
    pub fn start(
        settings: ScreenSettings,
        targets: Vec<Arc<dyn VideoTarget>>,
    ) -> Result<VideoCapture, StartCaptureError> {
        let spec = spec(&settings)?;
        let watcher: Box<dyn Watcher> = if spec.input == "x11grab" {
            Box::new(DisplayWatcher::new(&spec.url_display(), spec.clone()))
        } else {
            Box::new(NoWatcher)
        };
        device::start(CaptureConfig {
            thread_name: format!("livekit.screen.{}", spec.label),
            spec,
            output: settings.output,
            watch_every: settings.reopen.interval.min(Duration::from_millis(500)),
            reopen: settings.reopen,
            clock: settings.clock,
            targets,
            watcher,
        })
    }
}

pub(crate) fn check_rate(device: &str, rate: u32) -> Result<(), StartCaptureError> {
    if !(1..=240).contains(&rate) {
        return Err(StartCaptureError::InvalidSettings {
            device: device.to_string(),
            detail: format!("frame_rate {rate}: must be 1..=240"),
        });
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn spec(settings: &ScreenSettings) -> Result<InputSpec, StartCaptureError> {
    let display = x11_display(settings.display.as_deref())?;
    check_rate(&display, settings.frame_rate)?;
    let mut options = vec![
        ("framerate".to_string(), settings.frame_rate.to_string()),
        (
            "draw_mouse".to_string(),
            u8::from(settings.show_cursor).to_string(),
        ),
    ];
    let mut url = display.clone();
    let mut label = display.clone();
    // Connect once first: an unknown or unreachable display is named as such, not as FFmpeg's
    // "Input/output error".
    let (screen_w, screen_h) = super::window::screen_size(&display)?;
    if let Some(region) = settings.region {
        let fits = region.width > 0
            && region.height > 0
            && region
                .x
                .checked_add(region.width)
                .is_some_and(|r| r <= screen_w)
            && region
                .y
                .checked_add(region.height)
                .is_some_and(|b| b <= screen_h);
        if !fits {
            return Err(StartCaptureError::InvalidSettings {
                device: display,
                detail: format!(
                    "region {}x{} at ({}, {}) does not fit the {screen_w}x{screen_h} screen",
                    region.width, region.height, region.x, region.y
                ),
            });
        }
        url = format!("{display}+{},{}", region.x, region.y);
        label = format!(
            "{display} region {}x{}+{}+{}",
            region.width, region.height, region.x, region.y
        );
        options.push((
            "video_size".to_string(),
            format!("{}x{}", region.width, region.height),
        ));
    }
    Ok(InputSpec {
        input: "x11grab",
        url,
        options,
        label,
    })
}

#[cfg(target_os = "windows")]
fn spec(settings: &ScreenSettings) -> Result<InputSpec, StartCaptureError> {
    // Untested: GDI grabbing of the desktop.
    check_rate("desktop", settings.frame_rate)?;
    let mut options = vec![
        ("framerate".to_string(), settings.frame_rate.to_string()),
        (
            "draw_mouse".to_string(),
            u8::from(settings.show_cursor).to_string(),
        ),
    ];
    if let Some(region) = settings.region {
        options.push(("offset_x".to_string(), region.x.to_string()));
        options.push(("offset_y".to_string(), region.y.to_string()));
        options.push((
            "video_size".to_string(),
            format!("{}x{}", region.width, region.height),
        ));
    }
    Ok(InputSpec {
        input: "gdigrab",
        url: "desktop".into(),
        options,
        label: "desktop".into(),
    })
}

#[cfg(target_os = "macos")]
fn spec(settings: &ScreenSettings) -> Result<InputSpec, StartCaptureError> {
    // Untested: AVFoundation's first screen (regions would be cropped after capture).
    check_rate("screen 0", settings.frame_rate)?;
    if settings.region.is_some() {
        return Err(StartCaptureError::InvalidSettings {
            device: "screen 0".into(),
            detail: "regions are not supported on macOS yet".into(),
        });
    }
    Ok(InputSpec {
        input: "avfoundation",
        url: "Capture screen 0:none".into(),
        options: vec![
            ("framerate".to_string(), settings.frame_rate.to_string()),
            (
                "capture_cursor".to_string(),
                u8::from(settings.show_cursor).to_string(),
            ),
        ],
        label: "screen 0".into(),
    })
}

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
fn spec(_settings: &ScreenSettings) -> Result<InputSpec, StartCaptureError> {
    Err(StartCaptureError::NoX11 {
        reason: "screen capture is not written for this system yet".into(),
    })
}
