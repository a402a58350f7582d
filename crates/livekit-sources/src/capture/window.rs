//! [`WindowCapture`]: one X11 window, found by id or title (x11rb), read by libavdevice's
//! `x11grab` with its `window_id` option. A watcher follows the window between frames: a
//! resize reopens the grab at the new size, a hidden window pauses it, a closed one ends it,
//! each with an event.

use std::sync::Arc;
use std::time::Duration;

use livekit_core::{Clock, SystemClock, VideoTarget};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{self, ConnectionExt as _, MapState};
use x11rb::rust_connection::RustConnection;

use super::Events;
use super::device::{self, CaptureConfig, InputSpec, StartCaptureError, Watch, Watcher};
use super::screen::{check_rate, x11_display};
use super::{CaptureEvent, OutputFormat, ReopenSettings, VideoCapture};

/// Which window to capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowSelector {
    /// The X11 window id (as `xwininfo` or `xdotool search` print it).
    Id(u32),
    /// The first top-level window (in stacking order, bottom to top) whose title contains
    /// this text.
    Title(String),
}

impl std::fmt::Display for WindowSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(id) => write!(f, "0x{id:x}"),
            Self::Title(title) => write!(f, "titled '{title}'"),
        }
    }
}

/// Settings of a [`WindowCapture`].
#[derive(Debug, Clone)]
pub struct WindowSettings {
    /// The window. No default: it must be chosen.
    pub window: WindowSelector,
    /// The X display (`:0`); `None` (default) uses `$DISPLAY`.
    pub display: Option<String>,
    /// Frames a second, 1..=240. Default 30.
    pub frame_rate: u32,
    /// Whether the mouse pointer is drawn into the frames. Default `true`.
    pub show_cursor: bool,
    /// The format frames are delivered in. Default [`OutputFormat::Bgra8`].
    pub output: OutputFormat,
    /// How often the window's size and visibility are checked. Default 200 ms.
    pub watch_interval: Duration,
    /// The clock frames are stamped with (default: a [`SystemClock`]).
    pub clock: Arc<dyn Clock>,
}

impl WindowSettings {
    /// Default settings for `window`.
    pub fn new(window: WindowSelector) -> Self {
        Self {
            window,
            display: None,
            frame_rate: 30,
            show_cursor: true,
            output: OutputFormat::Bgra8,
            watch_interval: Duration::from_millis(200),
            clock: Arc::new(SystemClock::new()),
        }
    }
}

/// One window as a live video source, on a thread named `window <id>`.
///
/// Events: [`CaptureEvent::WindowResized`] (capture goes on at the new size),
/// [`CaptureEvent::WindowHidden`] / [`CaptureEvent::WindowShown`] (no frames in between) and
/// [`CaptureEvent::WindowClosed`] (the stream ends).
#[derive(Debug)]
pub struct WindowCapture;

impl WindowCapture {
    /// Finds the window and starts capturing it into `targets`.
    pub fn start(
        settings: WindowSettings,
        targets: Vec<Arc<dyn VideoTarget>>,
    ) -> Result<VideoCapture, StartCaptureError> {
        let display = x11_display(settings.display.as_deref())?;
        let (conn, _) = connect(&display)?;
        let window = find_window(&conn, &display, &settings.window)?;
        let label = format!("window 0x{window:x} on {display}");
        check_rate(&label, settings.frame_rate)?;
        let state = window_state(&conn, window)
            .map_err(|reason| StartCaptureError::Open {
                device: label.clone(),
                detail: reason,
            })?
            .ok_or_else(|| StartCaptureError::WindowNotFound {
                window: settings.window.to_string(),
                display: display.clone(),
            })?;
        if !state.visible {
            return Err(StartCaptureError::WindowHidden {
                window: format!("0x{window:x}"),
            });
        }
        let template = InputSpec {
            input: "x11grab",
            url: display.clone(),
            options: vec![
                ("window_id".to_string(), window.to_string()),
                ("framerate".to_string(), settings.frame_rate.to_string()),
                (
                    "draw_mouse".to_string(),
                    u8::from(settings.show_cursor).to_string(),
                ),
            ],
            label: label.clone(),
        };
        let spec = sized(&template, state.width, state.height);
        let watcher = WindowWatcher {
            conn,
            window,
            template,
            last: state,
        };
        device::start(CaptureConfig {
            thread_name: format!("livekit.window.0x{window:x}"),
            spec,
            output: settings.output,
            reopen: ReopenSettings {
                interval: settings.watch_interval,
                max_attempts: Some(10),
                ..ReopenSettings::default()
            },
            clock: settings.clock,
            targets,
            watcher: Box::new(watcher),
            watch_every: settings.watch_interval,
        })
    }
}

fn sized(template: &InputSpec, width: u32, height: u32) -> InputSpec {
    let mut spec = template.clone();
    spec.options
        .push(("video_size".to_string(), format!("{width}x{height}")));
    spec
}

/// Follows the X connection of a screen capture: x11grab keeps handing out its last image
/// after the display is gone, so loss is noticed here, reported, and the display reopened
/// when it is back.
pub(crate) struct DisplayWatcher {
    display: String,
    spec: InputSpec,
    conn: Option<RustConnection>,
    attempts: u32,
}

impl DisplayWatcher {
    pub(crate) fn new(display: &str, spec: InputSpec) -> Self {
        Self {
            display: display.to_string(),
            conn: x11rb::connect(Some(display)).ok().map(|(conn, _)| conn),
            spec,
            attempts: 0,
        }
    }
}

impl Watcher for DisplayWatcher {
    fn check(&mut self, events: &Events) -> Watch {
        let alive = self.conn.as_ref().map(|conn| {
            conn.get_input_focus()
                .map_err(|error| error.to_string())
                .and_then(|cookie| cookie.reply().map_err(|error| error.to_string()))
        });
        match alive {
            Some(Ok(_)) => return Watch::Keep,
            Some(Err(error)) => {
                events.send(CaptureEvent::Error {
                    device: self.spec.label.clone(),
                    message: format!("X display {} lost: {error}", self.display),
                });
                self.conn = None;
                self.attempts = 0;
            }
            None => {}
        }
        self.attempts += 1;
        events.send(CaptureEvent::Reopening {
            device: self.spec.label.clone(),
            attempt: self.attempts,
        });
        match x11rb::connect(Some(&self.display)) {
            Ok((conn, _)) => {
                self.conn = Some(conn);
                Watch::Reopen(self.spec.clone())
            }
            Err(_) => Watch::Pause,
        }
    }
}

fn connect(display: &str) -> Result<(RustConnection, usize), StartCaptureError> {
    x11rb::connect(Some(display)).map_err(|error| StartCaptureError::NoX11 {
        reason: format!("cannot connect to X display {display}: {error}"),
    })
}

/// The size of the first screen of `display`.
pub(crate) fn screen_size(display: &str) -> Result<(u32, u32), StartCaptureError> {
    let (conn, screen) = connect(display)?;
    let screen = conn
        .setup()
        .roots
        .get(screen)
        .ok_or_else(|| StartCaptureError::NoX11 {
            reason: format!("X display {display} has no screen {screen}"),
        })?;
    Ok((
        u32::from(screen.width_in_pixels),
        u32::from(screen.height_in_pixels),
    ))
}

fn title(conn: &RustConnection, window: u32) -> Option<String> {
    let utf8 = conn
        .intern_atom(true, b"UTF8_STRING")
        .ok()?
        .reply()
        .ok()?
        .atom;
    let net_name = conn
        .intern_atom(true, b"_NET_WM_NAME")
        .ok()?
        .reply()
        .ok()?
        .atom;
    for (property, kind) in [
        (net_name, utf8),
        (
            xproto::AtomEnum::WM_NAME.into(),
            xproto::AtomEnum::ANY.into(),
        ),
    ] {
        if property == 0 {
            continue;
        }
        let reply = conn
            .get_property(false, window, property, kind, 0, 1024)
            .ok()?
            .reply()
            .ok()?;
        if !reply.value.is_empty() {
            return Some(String::from_utf8_lossy(&reply.value).into_owned());
        }
    }
    None
}

fn find_window(
    conn: &RustConnection,
    display: &str,
    selector: &WindowSelector,
) -> Result<u32, StartCaptureError> {
    let not_found = || StartCaptureError::WindowNotFound {
        window: selector.to_string(),
        display: display.to_string(),
    };
    match selector {
        WindowSelector::Id(id) => {
            let exists = conn
                .get_window_attributes(*id)
                .ok()
                .and_then(|cookie| cookie.reply().ok())
                .is_some();
            exists.then_some(*id).ok_or_else(not_found)
        }
        WindowSelector::Title(wanted) => titled_windows(conn)
            .into_iter()
            .find(|(_, name)| name.contains(wanted.as_str()))
            .map(|(id, _)| id)
            .ok_or_else(not_found),
    }
}

/// Windows with a title, top-level first: the children of the roots (no window manager) and of
/// the manager's frames, two levels deep, in stacking order (bottom to top).
fn titled_windows(conn: &RustConnection) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    let mut queue: Vec<(u32, u32)> = conn
        .setup()
        .roots
        .iter()
        .map(|screen| (screen.root, 0))
        .collect();
    let mut index = 0;
    while let Some(&(parent, depth)) = queue.get(index) {
        index += 1;
        let Some(tree) = conn
            .query_tree(parent)
            .ok()
            .and_then(|cookie| cookie.reply().ok())
        else {
            continue;
        };
        for child in tree.children {
            if let Some(name) = title(conn, child).filter(|n| !n.is_empty()) {
                found.push((child, name));
            }
            if depth < 2 {
                queue.push((child, depth + 1));
            }
        }
    }
    found
}

/// A window [`describe_display`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowInfo {
    /// The X11 window id ([`WindowSelector::Id`]).
    pub id: u32,
    /// Its title ([`WindowSelector::Title`] matches a part of it).
    pub title: String,
}

/// An X11 display as [`describe_display`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayInfo {
    /// The display's name (`:0`).
    pub name: String,
    /// Width of its first screen.
    pub width: u32,
    /// Height of its first screen.
    pub height: u32,
    /// Its titled windows, bottom to top.
    pub windows: Vec<WindowInfo>,
}

/// The first screen's size and the titled windows of X11 `display` (`None`: `$DISPLAY`), read
/// over one connection (an Xvfb without `-noreset` resets between connections).
pub fn describe_display(display: Option<&str>) -> Result<DisplayInfo, StartCaptureError> {
    let name = super::screen::x11_display(display)?;
    let (conn, screen) = connect(&name)?;
    let (width, height) = conn
        .setup()
        .roots
        .get(screen)
        .map(|s| (u32::from(s.width_in_pixels), u32::from(s.height_in_pixels)))
        .ok_or_else(|| StartCaptureError::NoX11 {
            reason: format!("X display {name} has no screen {screen}"),
        })?;
    let windows = titled_windows(&conn)
        .into_iter()
        .map(|(id, title)| WindowInfo { id, title })
        .collect();
    Ok(DisplayInfo {
        name,
        width,
        height,
        windows,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WindowState {
    width: u32,
    height: u32,
    visible: bool,
}

/// `Ok(None)` when the window no longer exists; `Err` when the display is gone.
fn window_state(conn: &RustConnection, window: u32) -> Result<Option<WindowState>, String> {
    let attributes = match conn.get_window_attributes(window) {
        Ok(cookie) => cookie.reply(),
        Err(error) => return Err(format!("X display lost: {error}")),
    };
    let attributes = match attributes {
        Ok(attributes) => attributes,
        Err(x11rb::errors::ReplyError::X11Error(_)) => return Ok(None),
        Err(error) => return Err(format!("X display lost: {error}")),
    };
    let geometry = match conn.get_geometry(window) {
        Ok(cookie) => cookie.reply(),
        Err(error) => return Err(format!("X display lost: {error}")),
    };
    match geometry {
        Ok(geometry) => Ok(Some(WindowState {
            width: u32::from(geometry.width),
            height: u32::from(geometry.height),
            visible: attributes.map_state == MapState::VIEWABLE,
        })),
        Err(x11rb::errors::ReplyError::X11Error(_)) => Ok(None),
        Err(error) => Err(format!("X display lost: {error}")),
    }
}

struct WindowWatcher {
    conn: RustConnection,
    window: u32,
    template: InputSpec,
    last: WindowState,
}

impl Watcher for WindowWatcher {
    fn check(&mut self, events: &Events) -> Watch {
        let window = self.window;
        let now = match window_state(&self.conn, window) {
            Ok(Some(state)) => state,
            Ok(None) => {
                events.send(CaptureEvent::WindowClosed { window });
                return Watch::End(format!("window 0x{window:x} was closed"));
            }
            Err(reason) => return Watch::End(reason),
        };
        let before = std::mem::replace(&mut self.last, now);
        if !now.visible {
            if before.visible {
                events.send(CaptureEvent::WindowHidden { window });
            }
            return Watch::Pause;
        }
        let resized = (now.width, now.height) != (before.width, before.height);
        if resized {
            events.send(CaptureEvent::WindowResized {
                window,
                width: now.width,
                height: now.height,
            });
        }
        if !before.visible {
            events.send(CaptureEvent::WindowShown { window });
        }
        if resized || !before.visible {
            return Watch::Reopen(sized(&self.template, now.width, now.height));
        }
        Watch::Keep
    }
}
