//! The process's window thread, `livekit.viewer`: winit's event loop (one per process, ever;
//! see the [module docs](super)), started by the first [`Viewer::open`](super::Viewer::open)
//! and kept until the process ends. It takes [`Command`]s from the viewers through winit's
//! `EventLoopProxy`, makes and takes down their windows, and has each window redraw (see
//! [`renderer`](super::renderer)) when a frame or a resize asks for it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use livekit_core::thread::{SpawnError, Worker, spawn_worker};
use parking_lot::Mutex;
use winit::application::ApplicationHandler;
use winit::dpi::LogicalSize;
use winit::event::WindowEvent;
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop, EventLoopProxy};
use winit::window::{Window, WindowId};

use super::link::Slot;
use super::renderer::{Gpu, ViewerWindow};
use super::{OpenViewerError, THREAD_NAME, ViewerSettings, cause};

/// What callers ask of the window thread.
pub(super) enum Command {
    /// Make a window for viewer `id`; answer with the largest frame side the GPU takes.
    Open {
        /// The viewer.
        id: u64,
        /// How its window looks.
        settings: ViewerSettings,
        /// Its hand-over, marked closed when the window is gone.
        slot: Arc<Slot>,
        /// Where the answer goes (capacity 1).
        reply: crossbeam_channel::Sender<Result<u32, OpenViewerError>>,
    },
    /// Viewer `id` has a new frame in its slot.
    Frame(u64),
    /// Take viewer `id`'s window down.
    Close(u64),
}

/// The display winit connects to, for messages: Wayland first, as winit does.
fn display_name() -> String {
    ["WAYLAND_DISPLAY", "WAYLAND_SOCKET", "DISPLAY"]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
        .unwrap_or_else(|| "(default)".into())
}

/// The window thread has stopped (the error its callers get).
pub(super) fn window_thread_stopped() -> OpenViewerError {
    OpenViewerError::thread("has stopped")
}

/// The window thread is found gone: later callers are told at once (winit cannot start another
/// event loop), and this caller gets the same error.
pub(super) fn window_thread_gone() -> OpenViewerError {
    *WINDOW_THREAD.lock() = WindowThread::Failed(window_thread_stopped());
    window_thread_stopped()
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
pub(super) fn window_thread() -> Result<EventLoopProxy<Command>, OpenViewerError> {
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
        let window_id = window.id();
        let window = ViewerWindow::new(gpu, id, slot, window, surface)?;
        self.windows.insert(window_id, window);
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
                    window.request_redraw();
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
