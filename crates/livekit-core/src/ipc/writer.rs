//! The writing side of the protocol.

use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

use rustix::fs::FlockOperation;
use rustix::shm::OFlags;

use super::segment::{
    STATE_CLOSED, STATE_ENDED, STATE_REPLACED, Segment, encode_format, name_file_id, pack_latest,
    slot_bytes_for, unpack_latest,
};
use super::{IpcError, SLOTS, monotonic_now, shm_name};
use crate::frame::VideoFrame;

/// How long a new writer tries to lock an existing segment before deciding its writer is
/// alive (readers hold a shared lock for an instant when they check on the writer).
const TAKE_OVER_PATIENCE: Duration = Duration::from_millis(200);

/// Writes frames to a named shared memory segment (see the [module docs](super)).
///
/// Never blocks on readers: each [`publish`](Self::publish) copies the frame into the next of
/// three slots and returns. Dropping the writer marks the segment closed and removes the name.
pub struct Writer {
    name: String,
    shm: String,
    segment: Segment,
    sequence: u64,
    ended: bool,
    recreated: u64,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("name", &self.name)
            .field("sequence", &self.sequence)
            .field("slot_bytes", &self.segment.slot_bytes())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Claims `name`: fails with [`IpcError::InUse`] while another writer is alive on it, and
    /// takes over the segment of a writer that died (its readers move to the new one). The
    /// segment starts with empty slots; the first frame sizes them.
    pub fn create(name: &str) -> Result<Self, IpcError> {
        let shm = shm_name(name)?;
        take_over_stale(name, &shm)?;
        let segment = Segment::create(name, &shm, 0, new_generation(), 0)?;
        tracing::debug!(name, "IPC writer created {shm}");
        Ok(Self {
            name: name.to_owned(),
            shm,
            segment,
            sequence: 0,
            ended: false,
            recreated: 0,
        })
    }

    /// The IPC name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Frames published so far; also the sequence number of the newest one.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// The current segment's generation (it changes when a larger frame needs a new segment).
    pub fn generation(&self) -> u64 {
        self.segment.header().generation.load(Ordering::Relaxed)
    }

    /// How many times a larger frame made the writer create a new segment.
    pub fn recreated(&self) -> u64 {
        self.recreated
    }

    /// Readers attached to the current segment now (approximate: a reader that crashed still
    /// counts).
    pub fn readers(&self) -> u32 {
        self.segment.header().readers.load(Ordering::Relaxed)
    }

    /// Waits up to `timeout` for at least one reader; returns whether one came.
    pub fn wait_for_reader(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.readers() > 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Copies `frame` into the next slot and publishes it; returns its sequence number.
    /// A frame larger than the slots first moves the writer to a new, larger segment.
    pub fn publish(&mut self, frame: &VideoFrame) -> Result<u64, IpcError> {
        if self.ended {
            return Err(IpcError::Ended {
                name: self.name.clone(),
            });
        }
        let layout = *frame.layout();
        let len = layout.len();
        if len > self.segment.slot_bytes() {
            self.grow(len, &layout.to_string())?;
        }
        let sequence = self.sequence + 1;
        // Triple buffering: never the newest frame's slot, and not one a reader is copying
        // when another is free (then the oldest). A reader is never made to wait for, and
        // with one reader never loses, its copy.
        let (_, newest) = unpack_latest(self.segment.header().latest.load(Ordering::Relaxed));
        let index = (0..SLOTS)
            .filter(|&i| i != newest)
            .min_by_key(|&i| {
                let slot = self.segment.slot(i);
                (
                    slot.reading.load(Ordering::SeqCst),
                    slot.sequence.load(Ordering::Relaxed),
                )
            })
            .expect("three slots leave two candidates");
        let slot = self.segment.slot(index);
        let sent = monotonic_now();
        // Seqlock write: odd while writing. Only this writer writes this segment, so the lock
        // is even here; `| 1` keeps it odd even if it were not.
        let odd = slot.lock.load(Ordering::Relaxed).wrapping_add(1) | 1;
        slot.lock.swap(odd, Ordering::Acquire);
        fence(Ordering::Release);
        slot.sequence.store(sequence, Ordering::Relaxed);
        slot.width.store(layout.width(), Ordering::Relaxed);
        slot.height.store(layout.height(), Ordering::Relaxed);
        slot.format
            .store(encode_format(layout.format()), Ordering::Relaxed);
        for (plane, stride) in slot.strides.iter().enumerate() {
            let value = if plane < layout.plane_count() {
                layout.stride(plane) as u64
            } else {
                0
            };
            stride.store(value, Ordering::Relaxed);
        }
        slot.len.store(len as u64, Ordering::Relaxed);
        slot.pts_ns
            .store(frame.pts().as_nanos() as u64, Ordering::Relaxed);
        slot.sent_ns
            .store(sent.as_nanos() as u64, Ordering::Relaxed);
        // Plane by plane: a frame over external planes (a decoder's) has no single buffer.
        let pixels = self.segment.pixels(index);
        for plane in 0..layout.plane_count() {
            let source = frame.plane(plane);
            let range = layout.offset(plane)..layout.offset(plane) + source.len();
            debug_assert!(range.end <= len);
            // SAFETY: the planes of a layout of `len` bytes end at or before `len`, and
            // `len <= slot_bytes` (grown above), so the destination lies inside the slot;
            // `source` is exactly `range.len()` bytes. Readers may read
            // these bytes while they change: they check the lock afterwards and discard the copy.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    source.as_ptr(),
                    pixels.add(range.start),
                    range.len(),
                );
            }
        }
        slot.lock.store(odd.wrapping_add(1), Ordering::Release);
        self.segment
            .header()
            .latest
            .store(pack_latest(sequence, index), Ordering::Release);
        self.segment.notify();
        self.sequence = sequence;
        Ok(sequence)
    }

    /// Writes end-of-stream: readers get the last frame, then the end.
    pub fn end(&mut self) {
        if !self.ended {
            self.ended = true;
            self.segment
                .header()
                .state
                .store(STATE_ENDED, Ordering::Release);
            self.segment.notify();
        }
    }

    /// Moves to a new segment whose slots hold `len` bytes.
    fn grow(&mut self, len: usize, layout: &str) -> Result<(), IpcError> {
        let too_large = || IpcError::TooLarge {
            name: self.name.clone(),
            layout: layout.to_owned(),
            bytes: len,
        };
        let slot_bytes = slot_bytes_for(len).ok_or_else(too_large)?;
        // The name is ours (we hold its lock): free it for the new segment.
        if let Err(e) = rustix::shm::unlink(self.shm.as_str())
            && e != rustix::io::Errno::NOENT
        {
            return Err(IpcError::Io {
                name: self.name.clone(),
                what: "remove the old segment".into(),
                source: e.into(),
            });
        }
        let new = match Segment::create(
            &self.name,
            &self.shm,
            slot_bytes,
            new_generation(),
            self.sequence,
        ) {
            Ok(new) => new,
            Err(IpcError::Io { source, .. })
                if source.raw_os_error() == Some(rustix::io::Errno::NOSPC.raw_os_error()) =>
            {
                return Err(IpcError::Io {
                    name: self.name.clone(),
                    what: format!(
                        "reserve {} MiB (3 slots for {layout}) in",
                        (slot_bytes * SLOTS).div_ceil(1 << 20)
                    ),
                    source,
                });
            }
            Err(e) => return Err(e),
        };
        let old = std::mem::replace(&mut self.segment, new);
        old.header().state.store(STATE_REPLACED, Ordering::Release);
        old.notify();
        self.recreated += 1;
        tracing::debug!(name = %self.name, slot_bytes, "IPC segment re-created for {layout}");
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if !self.ended {
            self.segment
                .header()
                .state
                .store(STATE_CLOSED, Ordering::Release);
        }
        self.segment.notify();
        // Remove the name only while it is still ours.
        if let Ok(Some(id)) = name_file_id(&self.shm)
            && id == self.segment.id
        {
            let _ = rustix::shm::unlink(self.shm.as_str());
        }
    }
}

/// Removes what a writer that died left under `name` (its segment stays in `/dev/shm` until
/// a new writer takes the name over, or this is called); its readers are told to look again.
/// Fails with [`IpcError::InUse`] while the writer is alive; nothing there is fine.
pub fn remove_stale(name: &str) -> Result<(), IpcError> {
    take_over_stale(name, &shm_name(name)?)
}

/// Removes the segment of a writer that died, after telling its readers; fails when its
/// writer is alive.
fn take_over_stale(name: &str, shm: &str) -> Result<(), IpcError> {
    let fd = match rustix::shm::open(shm, OFlags::RDWR, rustix::fs::Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => {
            return Err(IpcError::Io {
                name: name.to_owned(),
                what: "open the existing".into(),
                source: e.into(),
            });
        }
    };
    let deadline = Instant::now() + TAKE_OVER_PATIENCE;
    loop {
        match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => break,
            Err(rustix::io::Errno::WOULDBLOCK) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(rustix::io::Errno::WOULDBLOCK) => {
                let pid = Segment::map_existing(name, fd)
                    .ok()
                    .flatten()
                    .map_or(0, |s| s.header().writer_pid.load(Ordering::Relaxed));
                return Err(IpcError::InUse {
                    name: name.to_owned(),
                    pid,
                });
            }
            Err(e) => {
                return Err(IpcError::Io {
                    name: name.to_owned(),
                    what: "lock".into(),
                    source: e.into(),
                });
            }
        }
    }
    // Locked: its writer is gone. A foreign object under our prefix is left alone.
    if let Some(stale) = Segment::map_existing(name, fd)? {
        stale
            .header()
            .state
            .store(STATE_REPLACED, Ordering::Release);
        stale.notify();
        tracing::debug!(
            name,
            "IPC: taking over the segment of a writer that is gone"
        );
    }
    match rustix::shm::unlink(shm) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(IpcError::Io {
            name: name.to_owned(),
            what: "remove the stale".into(),
            source: e.into(),
        }),
    }
}

/// A number no other segment of this machine is likely to have had.
fn new_generation() -> u64 {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let count = COUNT.fetch_add(1, Ordering::Relaxed);
    let now = monotonic_now().as_nanos() as u64;
    (now ^ (u64::from(std::process::id()) << 40)).wrapping_add(count << 20)
}
