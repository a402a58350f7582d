//! [`FramePool`]: recycles the buffers of frames of one layout.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::frame::{Buffer, FrameLayout, VideoFrameMut};

/// How many idle buffers a pool keeps by default.
pub const DEFAULT_MAX_IDLE: usize = 8;

pub(crate) struct PoolShared {
    layout: FrameLayout,
    idle: Mutex<Vec<Arc<Buffer>>>,
    max_idle: usize,
    allocations: AtomicU64,
}

impl PoolShared {
    /// Called when the last frame sharing `buffer` is dropped.
    pub(crate) fn give_back(&self, buffer: Arc<Buffer>) {
        let mut idle = self.idle.lock();
        if idle.len() < self.max_idle {
            // Capacity was reserved up front: this push does not allocate.
            idle.push(buffer);
        }
    }
}

/// Recycles frame buffers of one [`FrameLayout`], so that once warm the per-frame path does not
/// allocate.
///
/// [`acquire`](Self::acquire) hands out an idle buffer when there is one and allocates
/// otherwise; when the last [`VideoFrame`](crate::VideoFrame) sharing a buffer is dropped, the
/// buffer comes back (up to `max_idle` are kept; more are freed). The pool is cheap to clone and
/// frames may outlive it. A recycled buffer still holds old pixels: write every pixel.
#[derive(Clone)]
pub struct FramePool {
    shared: Arc<PoolShared>,
}

impl FramePool {
    /// A pool keeping up to [`DEFAULT_MAX_IDLE`] idle buffers.
    pub fn new(layout: FrameLayout) -> Self {
        Self::with_max_idle(layout, DEFAULT_MAX_IDLE)
    }

    /// A pool keeping up to `max_idle` idle buffers.
    pub fn with_max_idle(layout: FrameLayout, max_idle: usize) -> Self {
        Self {
            shared: Arc::new(PoolShared {
                layout,
                idle: Mutex::new(Vec::with_capacity(max_idle)),
                max_idle,
                allocations: AtomicU64::new(0),
            }),
        }
    }

    /// The layout of every frame of this pool.
    pub fn layout(&self) -> &FrameLayout {
        &self.shared.layout
    }

    /// A frame to write, with a recycled buffer when one is idle.
    pub fn acquire(&self, pts: Duration) -> VideoFrameMut {
        let layout = self.shared.layout;
        let recycled = self.shared.idle.lock().pop();
        let buffer = recycled.unwrap_or_else(|| {
            self.shared.allocations.fetch_add(1, Ordering::Relaxed);
            Arc::new(Buffer {
                data: vec![0; layout.len()],
                home: Arc::downgrade(&self.shared),
            })
        });
        VideoFrameMut::from_buffer(layout, buffer, pts)
    }

    /// How many buffers this pool has allocated since it was made.
    pub fn allocations(&self) -> u64 {
        self.shared.allocations.load(Ordering::Relaxed)
    }

    /// How many buffers are idle now.
    pub fn idle(&self) -> usize {
        self.shared.idle.lock().len()
    }
}

impl std::fmt::Debug for FramePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FramePool")
            .field("layout", &self.shared.layout)
            .field("idle", &self.idle())
            .field("allocations", &self.allocations())
            .finish()
    }
}
