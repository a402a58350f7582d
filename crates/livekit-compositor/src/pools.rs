//! Frame pools keyed by size and format, shared by the backends for their output and scratch
//! frames.

use std::collections::HashMap;
use std::time::Duration;

use livekit_core::{FrameError, FrameLayout, FramePool, PixelFormat, VideoFrameMut};

/// More sizes than this in use at once means sizes keep changing: start again.
const MAX_POOLS: usize = 16;

/// One [`FramePool`] per (width, height, format) in use.
#[derive(Default)]
pub(crate) struct FramePools {
    pools: HashMap<(u32, u32, PixelFormat), FramePool>,
}

impl FramePools {
    /// A frame from the pool for this size and format (made on first use).
    pub(crate) fn acquire(
        &mut self,
        width: u32,
        height: u32,
        format: PixelFormat,
        pts: Duration,
    ) -> Result<VideoFrameMut, FrameError> {
        let key = (width, height, format);
        if !self.pools.contains_key(&key) {
            if self.pools.len() >= MAX_POOLS {
                self.pools.clear();
            }
            self.pools.insert(
                key,
                FramePool::new(FrameLayout::new(width, height, format)?),
            );
        }
        Ok(self.pools[&key].acquire(pts))
    }
}
