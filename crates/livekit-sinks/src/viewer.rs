//! [`Viewer`]: a preview window that shows frames (winit + wgpu).
//!
//! # Threads
//!
//! winit allows one event loop per process, ever: a second `EventLoop` cannot be built even
//! after the first is gone. So every `Viewer` of the process shares one window thread,
//! `livekit.viewer`, started (through [`spawn_worker`]) by the first [`Viewer::open`] and kept
//! until the process ends, idle while no window is open. Each viewer is one window on it.
//! [`Viewer::push`](FrameTarget::push) puts the frame in the viewer's keep-latest [`Port`] and
//! wakes the window thread through winit's `EventLoopProxy` (at most one wake-up waits per
//! viewer), so a push never blocks and never queues more than one frame.
//!
//! On the window thread: one wgpu device (made when the first window opens), one shader,
//! sampler and bind group layout, and one pipeline per surface format; per window its surface,
//! a uniform buffer and the frame's plane textures, which are reused while the frame size and
//! format stay the same. YUV frames are converted in the shader with the matrix and range of
//! their [`PixelFormat`].

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::RecvTimeoutError;
use livekit_core::thread::{SpawnError, Worker, spawn_worker};
use livekit_core::{
    ColorMatrix, ColorRange, ColorSpace, FrameSource, FrameTarget, Pipe, PixelFormat, Port, Pull,
    PushError, VideoFrame, VideoSource, pipe,
};
use parking_lot::{Condvar, Mutex};
use winit::application::ApplicationHandler;
use winit::dpi::LogicalSize;
use winit::event::WindowEvent;
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop, EventLoopProxy};
use winit::window::{Window, WindowId};

/// The largest width or height [`ViewerSettings`] accepts for a window.
pub const MAX_WINDOW_SIDE: u32 = 16384;

/// How long [`Viewer::open`] waits for the window thread to make the window (the first window
/// also makes the GPU device, which takes a few seconds on a software adapter).
const OPEN_TIMEOUT: Duration = Duration::from_secs(60);

/// How long closing waits for the window thread to take the window down.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Consecutive failures to get a surface texture after which a window stops asking for redraws
/// until its next event (resize, new frame).
const MAX_SURFACE_RETRIES: u32 = 5;

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

/// The per-viewer state shared by callers and the window thread.
struct Slot {
    /// The keep-latest hand-over ([`Port::latest`]); closed when the window closes.
    port: Port<VideoFrame>,
    /// Whether a wake-up for this viewer is already on its way to the window thread.
    wake_pending: AtomicBool,
    shown: AtomicU64,
    closed: Mutex<bool>,
    closed_changed: Condvar,
}

impl Slot {
    fn new() -> Self {
        Self {
            port: Port::latest(),
            wake_pending: AtomicBool::new(false),
            shown: AtomicU64::new(0),
            closed: Mutex::new(false),
            closed_changed: Condvar::new(),
        }
    }

    fn mark_closed(&self) {
        self.port.close();
        *self.closed.lock() = true;
        self.closed_changed.notify_all();
    }

    fn is_closed(&self) -> bool {
        *self.closed.lock()
    }

    fn wait_closed(&self, timeout: Duration) -> bool {
        let mut closed = self.closed.lock();
        if !*closed {
            // Whether it timed out or not, the flag says what matters.
            let _ = self
                .closed_changed
                .wait_while_for(&mut closed, |closed| !*closed, timeout);
        }
        *closed
    }
}

/// What callers ask of the window thread.
enum Command {
    /// Make a window for viewer `id`; answer with the largest frame side the GPU takes.
    Open {
        id: u64,
        settings: ViewerSettings,
        slot: Arc<Slot>,
        reply: crossbeam_channel::Sender<Result<u32, OpenViewerError>>,
    },
    /// Viewer `id` has a new frame in its slot.
    Frame(u64),
    /// Take viewer `id`'s window down.
    Close(u64),
}

/// The writing end of one viewer: what [`Viewer`] and its feed thread share.
struct Link {
    id: u64,
    slot: Arc<Slot>,
    proxy: EventLoopProxy<Command>,
    max_side: u32,
}

impl Link {
    fn push(&self, frame: VideoFrame) -> Result<(), PushError> {
        if frame.width() > self.max_side || frame.height() > self.max_side {
            return Err(PushError::failed(ShowFrameError::TooLarge {
                width: frame.width(),
                height: frame.height(),
                max: self.max_side,
            }));
        }
        self.slot.port.push(frame)?;
        if !self.slot.wake_pending.swap(true, Ordering::AcqRel)
            && self.proxy.send_event(Command::Frame(self.id)).is_err()
        {
            // The window thread is gone, and the window with it.
            self.slot.mark_closed();
            return Err(PushError::Closed);
        }
        Ok(())
    }

    fn close(&self) {
        if self.slot.is_closed() {
            return;
        }
        // Refuse further frames at once; the window goes when the window thread gets to it.
        self.slot.port.close();
        if self.proxy.send_event(Command::Close(self.id)).is_err() {
            self.slot.mark_closed();
            return;
        }
        if !self.slot.wait_closed(CLOSE_TIMEOUT) {
            tracing::warn!(
                viewer = self.id,
                "the window thread did not close the window in time"
            );
            self.slot.mark_closed();
        }
    }
}

/// The feed of [`Viewer::show`]: pushes into the viewer; end of stream leaves the last frame on
/// screen.
struct Feed(Arc<Link>);

impl FrameTarget<VideoFrame> for Feed {
    fn push(&self, frame: VideoFrame) -> Result<(), PushError> {
        self.0.push(frame)
    }

    fn end(&self) {}
}

/// A preview window that shows the frames pushed into it, letterboxed (aspect ratio kept,
/// black bars), in a resizable window with a title.
///
/// A [`VideoTarget`](livekit_core::VideoTarget): [`push`](FrameTarget::push) never blocks; the
/// window shows the newest frame and frames it had no time for are dropped (see
/// [`stats`](Self::stats)). Any [`PixelFormat`] is shown; YUV is converted on the GPU with the
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
            *WINDOW_THREAD.lock() = WindowThread::Failed(window_thread_stopped());
            return Err(window_thread_stopped());
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

/// The display winit connects to, for messages: Wayland first, as winit does.
fn display_name() -> String {
    ["WAYLAND_DISPLAY", "WAYLAND_SOCKET", "DISPLAY"]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
        .unwrap_or_else(|| "(default)".into())
}

fn window_thread_stopped() -> OpenViewerError {
    OpenViewerError::thread("has stopped")
}

/// The process's window thread.
enum WindowThread {
    NotStarted,
    Running {
        proxy: EventLoopProxy<Command>,
        // Never joined: the thread lives as long as the process (see the module docs).
        _worker: Worker<()>,
    },
    /// It could not start; winit cannot try again, so later callers get the same error.
    Failed(OpenViewerError),
}

static WINDOW_THREAD: Mutex<WindowThread> = Mutex::new(WindowThread::NotStarted);

/// A proxy to the window thread, starting it the first time.
fn window_thread() -> Result<EventLoopProxy<Command>, OpenViewerError> {
    let mut state = WINDOW_THREAD.lock();
    match &*state {
        WindowThread::Running { proxy, .. } => return Ok(proxy.clone()),
        WindowThread::Failed(error) => return Err(error.clone()),
        WindowThread::NotStarted => {}
    }
    let (proxy_tx, proxy_rx) = crossbeam_channel::bounded(1);
    let started = spawn_worker(
        THREAD_NAME,
        move || {
            let (event_loop, instance) = start_event_loop()?;
            // Capacity 1 and sent once: does not block.
            let _ = proxy_tx.send(event_loop.create_proxy());
            Ok((event_loop, instance))
        },
        run_event_loop,
    );
    let error = match started {
        Ok(worker) => match proxy_rx.try_recv() {
            Ok(proxy) => {
                *state = WindowThread::Running {
                    proxy: proxy.clone(),
                    _worker: worker,
                };
                return Ok(proxy);
            }
            Err(_) => window_thread_stopped(),
        },
        Err(SpawnError::Start { source, .. }) => source,
        Err(error) => OpenViewerError::Thread {
            problem: "could not start",
            source: Some(cause(error)),
        },
    };
    *state = WindowThread::Failed(error.clone());
    Err(error)
}

/// On the window thread: connects to the display.
fn start_event_loop() -> Result<(EventLoop<Command>, wgpu::Instance), OpenViewerError> {
    let mut builder = EventLoop::<Command>::with_user_event();
    #[cfg(any(
        target_os = "linux",
        target_os = "dragonfly",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd"
    ))]
    {
        winit::platform::x11::EventLoopBuilderExtX11::with_any_thread(&mut builder, true);
        winit::platform::wayland::EventLoopBuilderExtWayland::with_any_thread(&mut builder, true);
    }
    #[cfg(target_os = "windows")]
    winit::platform::windows::EventLoopBuilderExtWindows::with_any_thread(&mut builder, true);
    let event_loop = builder.build().map_err(|error| OpenViewerError::Connect {
        display: display_name(),
        source: Arc::new(WinitError(error.to_string())),
    })?;
    event_loop.set_control_flow(ControlFlow::Wait);
    // The GL backend needs the display; Vulkan ignores it. WGPU_BACKEND etc. are honoured.
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_with_display_handle_from_env(
        Box::new(event_loop.owned_display_handle()),
    ));
    Ok((event_loop, instance))
}

/// A winit error as text (winit's own error types are not all `Sync`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct WinitError(String);

/// On the window thread, for the rest of the process.
fn run_event_loop((event_loop, instance): (EventLoop<Command>, wgpu::Instance)) {
    let mut app = App {
        instance,
        gpu: None,
        windows: HashMap::new(),
        by_id: HashMap::new(),
        closing: HashMap::new(),
    };
    if let Err(error) = event_loop.run_app(&mut app) {
        tracing::error!(%error, "the viewer's event loop failed");
    }
    // Dropping `app` closes every window and tells their viewers.
}

/// The window thread's state.
struct App {
    instance: wgpu::Instance,
    /// Made when the first window opens (the adapter must be able to draw to it).
    gpu: Option<Gpu>,
    windows: HashMap<WindowId, ViewerWindow>,
    by_id: HashMap<u64, WindowId>,
    /// Windows dropped but not yet confirmed gone by the window system (`Destroyed`).
    closing: HashMap<WindowId, Arc<Slot>>,
}

impl Drop for App {
    fn drop(&mut self) {
        for (_, window) in self.windows.drain() {
            let slot = window.slot.clone();
            drop(window);
            slot.mark_closed();
        }
        for (_, slot) in self.closing.drain() {
            slot.mark_closed();
        }
    }
}

impl App {
    fn open(
        &mut self,
        event_loop: &ActiveEventLoop,
        id: u64,
        settings: &ViewerSettings,
        slot: Arc<Slot>,
    ) -> Result<(WindowId, u32), OpenViewerError> {
        let attributes = Window::default_attributes()
            .with_title(settings.title.clone())
            .with_inner_size(LogicalSize::new(settings.width, settings.height))
            .with_resizable(settings.resizable);
        let window = Arc::new(event_loop.create_window(attributes).map_err(|error| {
            OpenViewerError::WindowSystem {
                source: Arc::new(WinitError(error.to_string())),
            }
        })?);
        let surface = self
            .instance
            .create_surface(window.clone())
            .map_err(|error| OpenViewerError::Surface {
                reason: "no GPU surface for the window".into(),
                source: Some(cause(error)),
            })?;
        let gpu = match self.gpu.take() {
            Some(gpu) => gpu,
            None => Gpu::new(&self.instance, &surface)?,
        };
        let gpu = self.gpu.insert(gpu);
        if !gpu.adapter.is_surface_supported(&surface) {
            return Err(OpenViewerError::Surface {
                reason: "the GPU adapter cannot present to this window".into(),
                source: None,
            });
        }
        let caps = surface.get_capabilities(&gpu.adapter);
        let (format, view_format) =
            choose_surface_format(&caps.formats).ok_or_else(|| OpenViewerError::Surface {
                reason: "the surface offers no colour format".into(),
                source: None,
            })?;
        let alpha_mode = if caps.alpha_modes.contains(&wgpu::CompositeAlphaMode::Opaque) {
            wgpu::CompositeAlphaMode::Opaque
        } else {
            wgpu::CompositeAlphaMode::Auto
        };
        let size = window.inner_size();
        let config = wgpu::SurfaceConfiguration {
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
            format,
            color_space: wgpu::SurfaceColorSpace::Auto,
            width: size.width.clamp(1, gpu.max_side),
            height: size.height.clamp(1, gpu.max_side),
            present_mode: wgpu::PresentMode::AutoVsync,
            desired_maximum_frame_latency: 2,
            alpha_mode,
            view_formats: if view_format == format {
                Vec::new()
            } else {
                vec![view_format]
            },
        };
        surface.configure(&gpu.device, &config);
        gpu.ensure_pipeline(view_format);
        let params = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("livekit.viewer.params"),
            size: std::mem::size_of::<Params>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let window_id = window.id();
        tracing::debug!(viewer = id, ?format, ?view_format, "viewer surface ready");
        window.request_redraw();
        self.windows.insert(
            window_id,
            ViewerWindow {
                id,
                slot,
                surface,
                window,
                config,
                view_format,
                params,
                frame: None,
                unshown: false,
                failures: 0,
            },
        );
        self.by_id.insert(id, window_id);
        Ok((window_id, gpu.max_side))
    }

    /// Takes a window down. Its viewer refuses frames at once and is told it is closed when
    /// the window system confirms ([`Self::destroyed`]), so that a closed viewer's window is
    /// really gone from the screen.
    fn close(&mut self, window_id: WindowId) {
        if let Some(window) = self.windows.remove(&window_id) {
            self.by_id.remove(&window.id);
            tracing::debug!(viewer = window.id, "viewer window closing");
            let slot = window.slot.clone();
            slot.port.close();
            // Surface first, then the window (field order).
            drop(window);
            self.closing.insert(window_id, slot);
        }
    }

    /// The window system says the window is gone (after [`Self::close`], or destroyed by
    /// someone else).
    fn destroyed(&mut self, window_id: WindowId) {
        self.close(window_id);
        if let Some(slot) = self.closing.remove(&window_id) {
            tracing::debug!(?window_id, "viewer window closed");
            slot.mark_closed();
        }
    }
}

impl ApplicationHandler<Command> for App {
    fn resumed(&mut self, _event_loop: &ActiveEventLoop) {}

    fn user_event(&mut self, event_loop: &ActiveEventLoop, command: Command) {
        match command {
            Command::Open {
                id,
                settings,
                slot,
                reply,
            } => match self.open(event_loop, id, &settings, slot) {
                Ok((window_id, max_side)) => {
                    if reply.send(Ok(max_side)).is_err() {
                        // The caller gave up waiting.
                        self.close(window_id);
                    }
                }
                Err(error) => {
                    tracing::debug!(viewer = id, %error, "viewer window not opened");
                    let _ = reply.send(Err(error));
                }
            },
            Command::Frame(id) => {
                if let Some(window) = self.by_id.get(&id).and_then(|w| self.windows.get(w)) {
                    // Cleared before the frame is taken, so a later push wakes us again.
                    window.slot.wake_pending.store(false, Ordering::Release);
                    window.window.request_redraw();
                }
            }
            Command::Close(id) => {
                if let Some(window_id) = self.by_id.get(&id).copied() {
                    self.close(window_id);
                }
            }
        }
    }

    fn window_event(
        &mut self,
        _event_loop: &ActiveEventLoop,
        window_id: WindowId,
        event: WindowEvent,
    ) {
        match event {
            WindowEvent::CloseRequested => self.close(window_id),
            WindowEvent::Destroyed => self.destroyed(window_id),
            WindowEvent::Resized(size) => {
                tracing::debug!(?window_id, ?size, "viewer window resized");
                if let (Some(gpu), Some(window)) = (&self.gpu, self.windows.get_mut(&window_id)) {
                    window.resize(gpu, size.width, size.height);
                }
            }
            WindowEvent::RedrawRequested => {
                if let (Some(gpu), Some(window)) = (&self.gpu, self.windows.get_mut(&window_id)) {
                    window.redraw(gpu, &self.instance);
                }
            }
            _ => {}
        }
    }
}

/// What the window thread shares between windows.
struct Gpu {
    adapter: wgpu::Adapter,
    device: wgpu::Device,
    queue: wgpu::Queue,
    shader: wgpu::ShaderModule,
    bind_group_layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    sampler: wgpu::Sampler,
    /// One per surface (view) format; in practice one.
    pipelines: HashMap<wgpu::TextureFormat, wgpu::RenderPipeline>,
    /// The largest texture side: frames and surfaces must fit.
    max_side: u32,
}

impl Gpu {
    fn new(
        instance: &wgpu::Instance,
        surface: &wgpu::Surface<'_>,
    ) -> Result<Self, OpenViewerError> {
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            compatible_surface: Some(surface),
            ..Default::default()
        }))
        .map_err(|error| OpenViewerError::NoAdapter {
            source: cause(error),
        })?;
        let info = adapter.get_info();
        tracing::info!(adapter = %info.name, backend = ?info.backend, "viewer GPU");
        let limits = wgpu::Limits::downlevel_webgl2_defaults().using_resolution(adapter.limits());
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("livekit.viewer.device"),
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|error| OpenViewerError::Device {
            source: cause(error),
        })?;
        // Log wgpu errors instead of panicking on the window thread.
        device.on_uncaptured_error(Arc::new(|error| {
            tracing::error!(%error, "wgpu error in the viewer");
        }));
        device.set_device_lost_callback(|reason, message| {
            tracing::error!(?reason, %message, "the viewer's GPU device was lost");
        });
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("livekit.viewer.shader"),
            source: wgpu::ShaderSource::Wgsl(include_str!("viewer.wgsl").into()),
        });
        let texture_entry = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable: true },
                view_dimension: wgpu::TextureViewDimension::D2,
                multisampled: false,
            },
            count: None,
        };
        let bind_group_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("livekit.viewer.bind_group_layout"),
            entries: &[
                texture_entry(0),
                texture_entry(1),
                texture_entry(2),
                wgpu::BindGroupLayoutEntry {
                    binding: 3,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 4,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: wgpu::BufferSize::new(
                            std::mem::size_of::<Params>() as u64
                        ),
                    },
                    count: None,
                },
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("livekit.viewer.pipeline_layout"),
            bind_group_layouts: &[Some(&bind_group_layout)],
            immediate_size: 0,
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("livekit.viewer.sampler"),
            address_mode_u: wgpu::AddressMode::ClampToEdge,
            address_mode_v: wgpu::AddressMode::ClampToEdge,
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        Ok(Self {
            adapter,
            device,
            queue,
            shader,
            bind_group_layout,
            pipeline_layout,
            sampler,
            pipelines: HashMap::new(),
            max_side: limits.max_texture_dimension_2d,
        })
    }

    fn ensure_pipeline(&mut self, format: wgpu::TextureFormat) {
        if self.pipelines.contains_key(&format) {
            return;
        }
        let pipeline = self
            .device
            .create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some("livekit.viewer.pipeline"),
                layout: Some(&self.pipeline_layout),
                vertex: wgpu::VertexState {
                    module: &self.shader,
                    entry_point: Some("vs_main"),
                    compilation_options: Default::default(),
                    buffers: &[],
                },
                primitive: wgpu::PrimitiveState::default(),
                depth_stencil: None,
                multisample: wgpu::MultisampleState::default(),
                fragment: Some(wgpu::FragmentState {
                    module: &self.shader,
                    entry_point: Some("fs_main"),
                    compilation_options: Default::default(),
                    targets: &[Some(wgpu::ColorTargetState {
                        format,
                        blend: None,
                        write_mask: wgpu::ColorWrites::ALL,
                    })],
                }),
                multiview_mask: None,
                cache: None,
            });
        self.pipelines.insert(format, pipeline);
    }
}

/// The surface format, and the format to render through: frames hold sRGB-encoded bytes that
/// must reach the screen unchanged, so a non-sRGB format is preferred; if the surface only has
/// sRGB formats, it is viewed as its non-sRGB twin.
fn choose_surface_format(
    formats: &[wgpu::TextureFormat],
) -> Option<(wgpu::TextureFormat, wgpu::TextureFormat)> {
    let preferred = [
        wgpu::TextureFormat::Bgra8Unorm,
        wgpu::TextureFormat::Rgba8Unorm,
    ];
    preferred
        .into_iter()
        .find(|format| formats.contains(format))
        .or_else(|| formats.iter().copied().find(|format| !format.is_srgb()))
        .map(|format| (format, format))
        .or_else(|| {
            let format = *formats.first()?;
            Some((format, format.remove_srgb_suffix()))
        })
}

/// The shader's uniform (see `viewer.wgsl`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    r: [f32; 4],
    g: [f32; 4],
    b: [f32; 4],
    offset: [f32; 4],
    chroma_scale: [f32; 2],
    mode: u32,
    _pad: u32,
}

impl Params {
    /// For a `width` x `height` frame of `format`; the YUV coefficients are those of
    /// `livekit_core::convert` (same matrix, same ranges), in 0..1 sample units.
    fn new(format: PixelFormat, width: u32, height: u32) -> Self {
        let (mode, color_space) = match format {
            PixelFormat::I420(cs) => (1, cs),
            PixelFormat::Nv12(cs) => (2, cs),
            _ => (0, ColorSpace::default()),
        };
        let (kr, kb) = match color_space.matrix {
            ColorMatrix::Bt601 => (0.299, 0.114),
            ColorMatrix::Bt709 => (0.2126, 0.0722),
        };
        let (y_offset, y_scale, c_scale) = match color_space.range {
            ColorRange::Limited => (16.0, 255.0 / 219.0, 255.0 / 224.0),
            ColorRange::Full => (0.0, 1.0, 1.0),
        };
        let kg = 1.0 - kr - kb;
        // r = y + 2(1-kr) v;  b = y + 2(1-kb) u;  g = (y - kr r - kb b) / kg
        let cr = 2.0 * (1.0 - kr) * c_scale;
        let cb = 2.0 * (1.0 - kb) * c_scale;
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        Self {
            r: [y_scale, 0.0, cr, 0.0],
            g: [y_scale, -kb * cb / kg, -kr * cr / kg, 0.0],
            b: [y_scale, cb, 0.0, 0.0],
            offset: [y_offset / 255.0, 128.0 / 255.0, 128.0 / 255.0, 0.0],
            chroma_scale: [
                width as f32 / 2.0 / cw as f32,
                height as f32 / 2.0 / ch as f32,
            ],
            mode,
            _pad: 0,
        }
    }
}

/// What the plane textures of a frame look like; textures are kept while it is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TextureKey {
    width: u32,
    height: u32,
    /// The format with its colour space left out (that only changes the uniform).
    kind: FrameKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameKind {
    Rgba,
    Bgra,
    I420,
    Nv12,
}

impl TextureKey {
    fn of(frame: &VideoFrame) -> Option<Self> {
        let kind = match frame.format() {
            PixelFormat::Rgba8 => FrameKind::Rgba,
            PixelFormat::Bgra8 => FrameKind::Bgra,
            PixelFormat::I420(_) => FrameKind::I420,
            PixelFormat::Nv12(_) => FrameKind::Nv12,
            _ => return None,
        };
        Some(Self {
            width: frame.width(),
            height: frame.height(),
            kind,
        })
    }

    /// Each plane's texture format and size.
    fn planes(self) -> Vec<(wgpu::TextureFormat, u32, u32)> {
        use wgpu::TextureFormat as F;
        let (w, h) = (self.width, self.height);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        match self.kind {
            FrameKind::Rgba => vec![(F::Rgba8Unorm, w, h)],
            FrameKind::Bgra => vec![(F::Bgra8Unorm, w, h)],
            FrameKind::I420 => vec![
                (F::R8Unorm, w, h),
                (F::R8Unorm, cw, ch),
                (F::R8Unorm, cw, ch),
            ],
            FrameKind::Nv12 => vec![(F::R8Unorm, w, h), (F::Rg8Unorm, cw, ch)],
        }
    }
}

/// The textures of the frame on screen, and the bind group that samples them.
struct FrameTextures {
    key: TextureKey,
    planes: Vec<wgpu::Texture>,
    bind_group: wgpu::BindGroup,
    params: Option<Params>,
}

impl FrameTextures {
    fn new(gpu: &Gpu, key: TextureKey, params: &wgpu::Buffer) -> Self {
        let planes: Vec<wgpu::Texture> = key
            .planes()
            .into_iter()
            .map(|(format, width, height)| {
                gpu.device.create_texture(&wgpu::TextureDescriptor {
                    label: Some("livekit.viewer.frame.plane"),
                    size: wgpu::Extent3d {
                        width,
                        height,
                        depth_or_array_layers: 1,
                    },
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D2,
                    format,
                    usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                    view_formats: &[],
                })
            })
            .collect();
        let views: Vec<wgpu::TextureView> = planes
            .iter()
            .map(|plane| {
                plane.create_view(&wgpu::TextureViewDescriptor {
                    label: Some("livekit.viewer.frame.plane.view"),
                    ..Default::default()
                })
            })
            .collect();
        // Slots a format does not use repeat its last plane (the shader ignores them).
        let view = |i: usize| &views[i.min(views.len() - 1)];
        let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("livekit.viewer.frame.bind_group"),
            layout: &gpu.bind_group_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(view(0)),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::TextureView(view(1)),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::TextureView(view(2)),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: wgpu::BindingResource::Sampler(&gpu.sampler),
                },
                wgpu::BindGroupEntry {
                    binding: 4,
                    resource: params.as_entire_binding(),
                },
            ],
        });
        Self {
            key,
            planes,
            bind_group,
            params: None,
        }
    }
}

/// One viewer's window on the window thread.
struct ViewerWindow {
    id: u64,
    slot: Arc<Slot>,
    // Dropped before `window`: the surface draws into it.
    surface: wgpu::Surface<'static>,
    window: Arc<Window>,
    config: wgpu::SurfaceConfiguration,
    view_format: wgpu::TextureFormat,
    params: wgpu::Buffer,
    frame: Option<FrameTextures>,
    /// A frame was uploaded but not presented yet (counted in `shown` once it is).
    unshown: bool,
    /// Consecutive failures to get a surface texture.
    failures: u32,
}

impl ViewerWindow {
    /// After the window was resized: a new swap chain, and a redraw.
    fn resize(&mut self, gpu: &Gpu, width: u32, height: u32) {
        if self.configure(gpu, width, height) {
            self.failures = 0;
            self.window.request_redraw();
        }
    }

    /// Configures the surface for `width` x `height`; false when minimized (nothing to draw
    /// until it comes back).
    fn configure(&mut self, gpu: &Gpu, width: u32, height: u32) -> bool {
        if width == 0 || height == 0 {
            return false;
        }
        self.config.width = width.min(gpu.max_side);
        self.config.height = height.min(gpu.max_side);
        self.surface.configure(&gpu.device, &self.config);
        true
    }

    /// Configures the surface for the window's size now (no redraw asked).
    fn reconfigure(&mut self, gpu: &Gpu) {
        let size = self.window.inner_size();
        self.configure(gpu, size.width, size.height);
    }

    fn upload(&mut self, gpu: &Gpu, frame: &VideoFrame) {
        let Some(key) = TextureKey::of(frame) else {
            tracing::warn!(format = %frame.format(), "the viewer cannot show this pixel format");
            return;
        };
        if frame.width() > gpu.max_side || frame.height() > gpu.max_side {
            tracing::warn!(layout = %frame.layout(), "frame too large for the viewer's GPU");
            return;
        }
        if self.frame.as_ref().map(|textures| textures.key) != Some(key) {
            self.frame = Some(FrameTextures::new(gpu, key, &self.params));
        }
        let Some(textures) = self.frame.as_mut() else {
            return;
        };
        for (plane, texture) in textures.planes.iter().enumerate() {
            let (Ok(bytes_per_row), Ok(rows)) = (
                u32::try_from(frame.stride(plane)),
                u32::try_from(frame.layout().rows(plane)),
            ) else {
                tracing::warn!(layout = ?frame.layout(), "frame strides too large for the viewer");
                return;
            };
            gpu.queue.write_texture(
                wgpu::TexelCopyTextureInfo {
                    texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d::ZERO,
                    aspect: wgpu::TextureAspect::All,
                },
                frame.plane(plane),
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(bytes_per_row),
                    rows_per_image: Some(rows),
                },
                texture.size(),
            );
        }
        let params = Params::new(frame.format(), frame.width(), frame.height());
        if textures.params != Some(params) {
            gpu.queue
                .write_buffer(&self.params, 0, bytemuck::bytes_of(&params));
            textures.params = Some(params);
        }
        self.unshown = true;
    }

    fn retry(&mut self) {
        self.failures += 1;
        if self.failures < MAX_SURFACE_RETRIES {
            self.window.request_redraw();
        } else {
            tracing::warn!(viewer = self.id, "cannot get the window's surface; waiting");
        }
    }

    fn redraw(&mut self, gpu: &Gpu, instance: &wgpu::Instance) {
        if let Pull::Frame(frame) = self.slot.port.latest() {
            self.upload(gpu, &frame);
        }
        let size = self.window.inner_size();
        if size.width == 0 || size.height == 0 {
            return;
        }
        let (texture, suboptimal) = match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(texture) => (texture, false),
            wgpu::CurrentSurfaceTexture::Suboptimal(texture) => (texture, true),
            wgpu::CurrentSurfaceTexture::Timeout => return self.retry(),
            wgpu::CurrentSurfaceTexture::Occluded => return,
            wgpu::CurrentSurfaceTexture::Outdated => {
                self.reconfigure(gpu);
                return self.retry();
            }
            wgpu::CurrentSurfaceTexture::Lost => {
                match instance.create_surface(self.window.clone()) {
                    Ok(surface) => {
                        self.surface = surface;
                        self.reconfigure(gpu);
                    }
                    Err(error) => tracing::error!(%error, "cannot make the viewer's surface again"),
                }
                return self.retry();
            }
            wgpu::CurrentSurfaceTexture::Validation => {
                tracing::error!(viewer = self.id, "surface texture validation error");
                return;
            }
        };
        self.failures = 0;
        let view = texture.texture.create_view(&wgpu::TextureViewDescriptor {
            label: Some("livekit.viewer.surface.view"),
            format: Some(self.view_format),
            ..Default::default()
        });
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("livekit.viewer.encoder"),
            });
        {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("livekit.viewer.pass"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                ..Default::default()
            });
            if let (Some(textures), Some(pipeline)) =
                (&self.frame, gpu.pipelines.get(&self.view_format))
            {
                let [x, y, width, height] = letterbox(
                    (textures.key.width, textures.key.height),
                    (self.config.width, self.config.height),
                );
                pass.set_viewport(x, y, width, height, 0.0, 1.0);
                pass.set_pipeline(pipeline);
                pass.set_bind_group(0, &textures.bind_group, &[]);
                pass.draw(0..3, 0..1);
            }
        }
        gpu.queue.submit([encoder.finish()]);
        self.window.pre_present_notify();
        gpu.queue.present(texture);
        if self.unshown {
            self.unshown = false;
            self.slot.shown.fetch_add(1, Ordering::AcqRel);
        }
        if suboptimal {
            self.reconfigure(gpu);
        }
    }
}

/// The rectangle `[x, y, width, height]` (whole pixels) in which a `frame` sized picture fits
/// `target` with its aspect ratio kept, centred; the rest is the black bars.
fn letterbox(frame: (u32, u32), target: (u32, u32)) -> [f32; 4] {
    let (fw, fh) = (f64::from(frame.0), f64::from(frame.1));
    let (tw, th) = (f64::from(target.0), f64::from(target.1));
    let scale = (tw / fw).min(th / fh);
    let width = (fw * scale).round().clamp(1.0, tw);
    let height = (fh * scale).round().clamp(1.0, th);
    let x = ((tw - width) / 2.0).floor();
    let y = ((th - height) / 2.0).floor();
    [x as f32, y as f32, width as f32, height as f32]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_keeps_the_aspect_ratio_and_centres() {
        assert_eq!(letterbox((320, 240), (320, 240)), [0.0, 0.0, 320.0, 240.0]);
        // 2:1 into 1:1: bars top and bottom.
        assert_eq!(letterbox((480, 240), (240, 240)), [0.0, 60.0, 240.0, 120.0]);
        // 1:2 into 4:3: bars left and right.
        assert_eq!(
            letterbox((100, 200), (400, 300)),
            [125.0, 0.0, 150.0, 300.0]
        );
        // Tiny targets still get a pixel.
        assert_eq!(letterbox((10_000, 1), (10, 10)), [0.0, 4.0, 10.0, 1.0]);
    }

    /// The shader's arithmetic on the CPU, in 0..255 units.
    fn shade(params: &Params, yuv: [u8; 3]) -> [u8; 3] {
        let d: Vec<f32> = yuv
            .iter()
            .zip(params.offset)
            .map(|(&s, o)| f32::from(s) / 255.0 - o)
            .collect();
        let dot = |row: [f32; 4]| (row[0] * d[0] + row[1] * d[1] + row[2] * d[2]).clamp(0.0, 1.0);
        [params.r, params.g, params.b].map(|row| (dot(row) * 255.0).round() as u8)
    }

    #[test]
    fn shader_coefficients_match_the_reference_conversion() {
        use livekit_core::{FrameLayout, VideoFrameMut};
        for cs in [
            ColorSpace::BT601_LIMITED,
            ColorSpace::BT601_FULL,
            ColorSpace::BT709_LIMITED,
            ColorSpace::BT709_FULL,
        ] {
            for yuv in [
                [16, 128, 128],
                [235, 128, 128],
                [81, 90, 240],
                [120, 80, 170],
                [200, 30, 60],
            ] {
                let format = PixelFormat::I420(cs);
                let layout = FrameLayout::new(2, 2, format).unwrap();
                let mut frame = VideoFrameMut::new(layout, Duration::ZERO);
                frame
                    .copy_from_packed(&[yuv[0], yuv[0], yuv[0], yuv[0], yuv[1], yuv[2]])
                    .unwrap();
                let reference = livekit_core::convert::to_rgba(&frame.freeze());
                let expected = reference.rgba_at(0, 0).unwrap();
                let actual = shade(&Params::new(format, 2, 2), yuv);
                for c in 0..3 {
                    assert!(
                        actual[c].abs_diff(expected[c]) <= 1,
                        "{cs:?} {yuv:?}: shader {actual:?}, reference {expected:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn chroma_scale_accounts_for_rounded_up_planes() {
        let params = Params::new(PixelFormat::I420(ColorSpace::default()), 5, 4);
        assert_eq!(params.chroma_scale, [2.5 / 3.0, 1.0]);
        assert_eq!(params.mode, 1);
        assert_eq!(Params::new(PixelFormat::Bgra8, 5, 4).mode, 0);
    }

    #[test]
    fn surface_format_prefers_non_srgb() {
        use wgpu::TextureFormat as F;
        assert_eq!(
            choose_surface_format(&[F::Bgra8UnormSrgb, F::Bgra8Unorm]),
            Some((F::Bgra8Unorm, F::Bgra8Unorm))
        );
        assert_eq!(
            choose_surface_format(&[F::Rgba8UnormSrgb]),
            Some((F::Rgba8UnormSrgb, F::Rgba8Unorm))
        );
        assert_eq!(choose_surface_format(&[]), None);
    }

    #[test]
    fn params_match_the_shader_layout() {
        assert_eq!(std::mem::size_of::<Params>(), 80);
    }
}
