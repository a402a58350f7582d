//! The hand-over between one [`Viewer`](super::Viewer) and the window thread: the viewer's
//! keep-latest [`Slot`], the [`Link`] that pushes into it and wakes the window thread (at most
//! one wake-up waits per viewer), and the [`Feed`] of [`Viewer::show`](super::Viewer::show).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use livekit_core::{FrameTarget, Port, PushError, VideoFrame};
use parking_lot::{Condvar, Mutex};
use winit::event_loop::EventLoopProxy;

use super::ShowFrameError;
use super::window_thread::Command;

/// How long closing waits for the window thread to take the window down.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The per-viewer state shared by callers and the window thread.
pub(super) struct Slot {
    /// The keep-latest hand-over ([`Port::latest`]); closed when the window closes.
    pub(super) port: Port<VideoFrame>,
    /// Whether a wake-up for this viewer is already on its way to the window thread.
    pub(super) wake_pending: AtomicBool,
    /// Frames presented (see [`ViewerStats::shown`](super::ViewerStats::shown)).
    pub(super) shown: AtomicU64,
    closed: Mutex<bool>,
    closed_changed: Condvar,
}

impl Slot {
    pub(super) fn new() -> Self {
        Self {
            port: Port::latest(),
            wake_pending: AtomicBool::new(false),
            shown: AtomicU64::new(0),
            closed: Mutex::new(false),
            closed_changed: Condvar::new(),
        }
    }

    pub(super) fn mark_closed(&self) {
        self.port.close();
        *self.closed.lock() = true;
        self.closed_changed.notify_all();
    }

    pub(super) fn is_closed(&self) -> bool {
        *self.closed.lock()
    }

    pub(super) fn wait_closed(&self, timeout: Duration) -> bool {
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

/// The writing end of one viewer: what [`Viewer`](super::Viewer) and its feed thread share.
pub(super) struct Link {
    pub(super) id: u64,
    pub(super) slot: Arc<Slot>,
    pub(super) proxy: EventLoopProxy<Command>,
    /// The largest frame side the window's GPU takes.
    pub(super) max_side: u32,
}

impl Link {
    pub(super) fn push(&self, frame: VideoFrame) -> Result<(), PushError> {
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

    pub(super) fn close(&self) {
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

/// The feed of [`Viewer::show`](super::Viewer::show): pushes into the viewer; end of stream
/// leaves the last frame on screen.
pub(super) struct Feed(pub(super) Arc<Link>);

impl FrameTarget<VideoFrame> for Feed {
    fn push(&self, frame: VideoFrame) -> Result<(), PushError> {
        self.0.push(frame)
    }

    fn end(&self) {}
}
