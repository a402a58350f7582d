//! [`Viewer`]: a preview window that shows frames (winit + wgpu).
//!
//! # Threads
//!
//! winit allows one event loop per process, ever: a second `EventLoop` cannot be built even
//! after the first is gone. So every `Viewer` of the process shares one window thread,
//! `livekit.viewer`, started (through [`spawn_worker`](livekit_core::thread::spawn_worker)) by
//! the first [`Viewer::open`] and kept until the process ends, idle while no window is open.
//! Each viewer is one window on it. [`Viewer::push`](FrameTarget::push) puts the frame in the
//! viewer's keep-latest [`Port`](livekit_core::Port) and wakes the window thread through
//! winit's `EventLoopProxy` (at most one wake-up waits per viewer), so a push never blocks and
//! never queues more than one frame.
//!
//! On the window thread: one wgpu device (made when the first window opens), one shader,
//! sampler and bind group layout, and one pipeline per surface format; per window its surface,
//! a uniform buffer and the frame's plane textures, which are reused while the frame size and
//! format stay the same. YUV frames are converted in the shader with the matrix and range of
//! their [`PixelFormat`](livekit_core::PixelFormat).
//!
//! # Files
//!
//! - this file: the public API ([`Viewer`], [`ViewerSettings`], [`ViewerStats`], the errors);
//! - `link.rs`: the per-viewer hand-over between callers and the window thread (the keep-latest
//!   slot, the wake-up, the feed of [`Viewer::show`]);
//! - `window_thread.rs`: the process-wide window thread (winit's event loop, the commands it
//!   takes, its windows);
//! - `renderer.rs`: the wgpu side (the device, pipelines, each window's surface and redraw), with
//!   its shader in `viewer.wgsl`;
//! - `textures.rs`: a frame's plane textures and the shader's uniform for its pixel format.

mod link;
mod renderer;
mod textures;
mod window_thread;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::RecvTimeoutError;
use livekit_core::{FrameTarget, Pipe, PushError, VideoFrame, VideoSource, pipe};
use parking_lot::Mutex;

use self::link::{Feed, Link, Slot};
use self::window_thread::{Command, window_thread, window_thread_gone, window_thread_stopped};

/// The largest width or height [`ViewerSettings`] accepts for a window.
pub const MAX_WINDOW_SIDE: u32 = 16384;

/// How long [`Viewer::open`] waits for the window thread to make the window (the first window
/// also makes the GPU device, which takes a few seconds on a software adapter).
const OPEN_TIMEOUT: Duration = Duration::from_secs(60);

/// The name of the window thread.
const THREAD_NAME: &str = "livekit.viewer";

/// A shareable cause (kept by the window thread to repeat a start-up failure to later callers).
type Cause = Arc<dyn std::error::Error + Send + Sync>;

fn cause(error: impl std::error::Error + Send + Sync + 'static) -> Cause {
    Arc::new(error)
}

/// Why a [`Viewer`] could not be opened.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum OpenViewerError {
    /// No window system to connect to: `DISPLAY`, `WAYLAND_DISPLAY` and `WAYLAND_SOCKET` are all
    /// unset or empty.
    #[error("cannot open a preview window: no display (DISPLAY and WAYLAND_DISPLAY are not set)")]
    NoDisplay,
    /// This platform is not supported. On macOS the window system only runs on the main thread,
    /// which a library cannot take over.
    #[error(
        "cannot open a preview window: not supported on {platform} (its window system needs the main thread)"
    )]
    Unsupported {
        /// The operating system (`std::env::consts::OS`).
        platform: &'static str,
    },
    /// A window side is 0 or larger than [`MAX_WINDOW_SIDE`].
    #[error(
        "cannot open a preview window: invalid size {width}x{height} (each side must be 1..={MAX_WINDOW_SIDE})"
    )]
    InvalidSize {
        /// The width asked for.
        width: u32,
        /// The height asked for.
        height: u32,
    },
    /// The display named in the environment could not be reached.
    #[error("cannot open a preview window: cannot connect to display {display}")]
    Connect {
        /// The display (`DISPLAY` or `WAYLAND_DISPLAY`), as set.
        display: String,
        /// What winit said.
        #[source]
        source: Cause,
    },
    /// The window system did not make the window.
    #[error("cannot open a preview window: the window system did not make a window")]
    WindowSystem {
        /// What winit said.
        #[source]
        source: Cause,
    },
    /// No GPU adapter can draw into the window.
    #[error("cannot open a preview window: no GPU adapter can draw to it")]
    NoAdapter {
        /// What wgpu said.
        #[source]
        source: Cause,
    },
    /// The GPU device could not be made.
    #[error("cannot open a preview window: the GPU device could not be created")]
    Device {
        /// What wgpu said.
        #[source]
        source: Cause,
    },
    /// The window's GPU surface could not be made or has no usable format.
    #[error("cannot open a preview window: cannot draw into the window ({reason})")]
    Surface {
        /// What is wrong.
        reason: String,
        /// What wgpu said, if anything.
        #[source]
        source: Option<Cause>,
    },
    /// The window thread could not start, stopped, or did not answer in time.
    #[error("cannot open a preview window: the window thread {problem}")]
    Thread {
        /// What happened to it.
        problem: &'static str,
        /// The underlying error, if any.
        #[source]
        source: Option<Cause>,
    },
}

impl OpenViewerError {
    fn thread(problem: &'static str) -> Self {
        Self::Thread {
            problem,
            source: None,
        }
    }
}

/// A frame the window cannot show.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ShowFrameError {
    /// A side is larger than the GPU's largest texture.
    #[error("frame {width}x{height} is larger than the preview's GPU allows ({max} per side)")]
    TooLarge {
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
        /// The GPU's largest texture side.
        max: u32,
    },
}

/// How a [`Viewer`] window looks.
///
/// Build it with struct update syntax:
/// `ViewerSettings { title: "preview".into(), ..Default::default() }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerSettings {
    /// The window title. Default `"livekit"`.
    pub title: String,
    /// Width of the window's inside, in logical pixels (physical pixels at scale factor 1), in
    /// `1..=`[`MAX_WINDOW_SIDE`]. Default 1280.
    pub width: u32,
    /// Height of the window's inside, in logical pixels, in `1..=`[`MAX_WINDOW_SIDE`]. Default
    /// 720.
    pub height: u32,
    /// Whether the user may resize the window. Default `true`.
    pub resizable: bool,
}

impl Default for ViewerSettings {
    fn default() -> Self {
        Self {
            title: "livekit".into(),
            width: 1280,
            height: 720,
            resizable: true,
        }
    }
}

impl ViewerSettings {
    fn validate(&self) -> Result<(), OpenViewerError> {
        let valid = |side| (1..=MAX_WINDOW_SIDE).contains(&side);
        if valid(self.width) && valid(self.height) {
            Ok(())
        } else {
            Err(OpenViewerError::InvalidSize {
                width: self.width,
                height: self.height,
            })
        }
    }
}

/// Counters of a [`Viewer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ViewerStats {
    /// Frames accepted by `push`.
    pub pushed: u64,
    /// Frames presented in the window (each counted once, when first presented).
    pub shown: u64,
    /// Frames replaced by a newer one before the window took them, or left when it closed.
    pub dropped: u64,
}

/// A preview window that shows the frames pushed into it, letterboxed (aspect ratio kept,
/// black bars), in a resizable window with a title.
///
/// A [`VideoTarget`](livekit_core::VideoTarget): [`push`](FrameTarget::push) never blocks; the
/// window shows the newest frame and frames it had no time for are dropped (see
/// [`stats`](Self::stats)). Any [`PixelFormat`](livekit_core::PixelFormat) is shown; YUV is converted on the GPU with the
/// frame's colour space; RGB is shown over black (straight alpha). Frames are sRGB bytes and are
/// shown as they are.
///
/// The window closes when the user closes it, on [`close`](Self::close),
/// [`end`](FrameTarget::end) or drop. Once it is closed, `push` fails with
/// [`PushError::Closed`]; [`is_closed`](Self::is_closed) and
/// [`wait_closed`](Self::wait_closed) tell the caller. Dropping a viewer closes its window and
/// waits until the window system has taken it down. To show a [`VideoSource`], use
/// [`Viewer::show`].
///
/// # Platforms
///
/// Linux (X11 or Wayland) and Windows: the window runs on its own thread (see the module
/// docs). macOS is not supported: its window system must run on the main thread, and
/// [`open`](Self::open) returns [`OpenViewerError::Unsupported`]. With no display
/// (`DISPLAY` and `WAYLAND_DISPLAY` unset) it returns [`OpenViewerError::NoDisplay`].
///
/// ```no_run
/// use std::time::Duration;
/// use livekit_core::{FrameTarget, VideoFrame};
/// use livekit_sinks::{Viewer, ViewerSettings};
///
/// let viewer = Viewer::open(ViewerSettings {
///     title: "preview".into(),
///     width: 640,
///     height: 360,
///     ..Default::default()
/// })?;
/// for i in 0..250u64 {
///     let grey = (i % 256) as u8;
///     let pts = Duration::from_millis(i * 40);
///     let frame = VideoFrame::solid_rgba(1280, 720, [grey, grey, grey, 255], pts)?;
///     if viewer.push(frame).is_err() {
///         break; // the user closed the window
///     }
///     std::thread::sleep(Duration::from_millis(40));
/// }
/// viewer.close();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Viewer {
    link: Arc<Link>,
    feed: Mutex<Option<Pipe>>,
}

impl fmt::Debug for Viewer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Viewer")
            .field("id", &self.link.id)
            .field("closed", &self.is_closed())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Viewer ids, to find a viewer's window on the window thread.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Viewer {
    /// Opens a window. Fails, without a window, when there is no display, no GPU adapter can
    /// draw to it, or the settings are invalid.
    pub fn open(settings: ViewerSettings) -> Result<Self, OpenViewerError> {
        check_platform()?;
        check_display()?;
        settings.validate()?;
        let proxy = window_thread()?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot::new());
        let (reply, answer) = crossbeam_channel::bounded(1);
        let command = Command::Open {
            id,
            settings,
            slot: slot.clone(),
            reply,
        };
        if proxy.send_event(command).is_err() {
            // It will not come back: tell later callers at once.
            return Err(window_thread_gone());
        }
        let max_side = match answer.recv_timeout(OPEN_TIMEOUT) {
            Ok(result) => result?,
            Err(RecvTimeoutError::Timeout) => {
                // If the window comes later, take it down again.
                let _ = proxy.send_event(Command::Close(id));
                return Err(OpenViewerError::thread("did not answer in time"));
            }
            Err(RecvTimeoutError::Disconnected) => return Err(window_thread_stopped()),
        };
        tracing::debug!(viewer = id, "viewer window open");
        Ok(Self {
            link: Arc::new(Link {
                id,
                slot,
                proxy,
                max_side,
            }),
            feed: Mutex::new(None),
        })
    }

    /// Opens a window that shows `source`: a thread named `livekit.viewer.feed` reads it in
    /// order and pushes every frame (the window shows the newest). When the source ends, the
    /// last frame stays on screen until the window is closed; when the window is closed, the
    /// feed stops. [`close`](Self::close) and drop stop the feed thread and wait for it.
    pub fn show(
        source: impl VideoSource + 'static,
        settings: ViewerSettings,
    ) -> Result<Self, OpenViewerError> {
        let viewer = Self::open(settings)?;
        let feed = pipe(
            format!("{THREAD_NAME}.feed"),
            source,
            Feed(viewer.link.clone()),
        )
        .map_err(|error| OpenViewerError::Thread {
            problem: "could not start its feed",
            source: Some(cause(error)),
        })?;
        *viewer.feed.lock() = Some(feed);
        Ok(viewer)
    }

    /// Whether the window is closed (by the user or by this side). `push` fails from then on.
    pub fn is_closed(&self) -> bool {
        self.link.slot.is_closed()
    }

    /// Waits up to `timeout` for the window to be closed; returns whether it is.
    pub fn wait_closed(&self, timeout: Duration) -> bool {
        self.link.slot.wait_closed(timeout)
    }

    /// Closes the window (if it is still open) and waits until it is gone; stops the feed
    /// thread of [`show`](Self::show). Pushing fails with [`PushError::Closed`] afterwards.
    pub fn close(&self) {
        self.link.close();
        let feed = self.feed.lock().take();
        if let Some(feed) = feed {
            match feed.stop() {
                Ok(report) => tracing::debug!(frames = report.frames, "viewer feed stopped"),
                Err(error) => tracing::error!(%error, "viewer feed"),
            }
        }
    }

    /// The counters now.
    pub fn stats(&self) -> ViewerStats {
        let port = self.link.slot.port.stats();
        ViewerStats {
            pushed: port.pushed,
            shown: self.link.slot.shown.load(Ordering::Acquire),
            dropped: port.dropped,
        }
    }
}

impl FrameTarget<VideoFrame> for Viewer {
    /// Hands `frame` to the window without waiting. Fails with [`PushError::Closed`] once the
    /// window is closed, and with [`PushError::Failed`] ([`ShowFrameError`]) for a frame larger
    /// than the GPU can hold.
    fn push(&self, frame: VideoFrame) -> Result<(), PushError> {
        self.link.push(frame)
    }

    /// Closes the window, like [`Viewer::close`].
    fn end(&self) {
        self.close();
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.close();
    }
}

fn check_platform() -> Result<(), OpenViewerError> {
    if cfg!(any(
        target_os = "linux",
        target_os = "dragonfly",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "windows"
    )) {
        Ok(())
    } else {
        Err(OpenViewerError::Unsupported {
            platform: std::env::consts::OS,
        })
    }
}

/// On X11/Wayland systems: whether any display is named in the environment (winit's own rule:
/// empty counts as unset).
fn check_display() -> Result<(), OpenViewerError> {
    if cfg!(target_os = "windows") {
        return Ok(());
    }
    let set = |name| std::env::var_os(name).is_some_and(|value| !value.is_empty());
    if set("DISPLAY") || set("WAYLAND_DISPLAY") || set("WAYLAND_SOCKET") {
        Ok(())
    } else {
        Err(OpenViewerError::NoDisplay)
    }
}
