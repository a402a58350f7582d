//! The reading side of the protocol.

use std::sync::atomic::{Ordering, fence};
use std::time::{Duration, Instant};

use super::segment::{
    STATE_CLOSED, STATE_ENDED, STATE_LIVE, STATE_REPLACED, Segment, SlotMeta, decode_format,
    name_file_id, unpack_latest,
};
use super::{IpcError, NAME_CHECK_INTERVAL, SLOTS, monotonic_now, shm_name};
use crate::frame::{FrameLayout, VideoFrame};
use crate::pool::FramePool;

/// Tries at reading the newest frame before a poll gives up for now (each failure means the
/// writer overwrote the slot while it was copied).
const ATTEMPTS: usize = 8;

/// How often a reader with no segment looks for one.
const ABSENT_CHECK_INTERVAL: Duration = Duration::from_millis(2);

/// Buffers the reader's pool keeps for frames handed out.
const POOL_IDLE: usize = 4;

/// A frame read from shared memory, with what the protocol knows about it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The frame: layout, pixels and pts exactly as written.
    pub frame: VideoFrame,
    /// The writer's sequence number (1, 2, ... per writer).
    pub sequence: u64,
    /// The generation of the segment it came through.
    pub generation: u64,
    /// [`monotonic_now`] when the writer started writing it.
    pub sent: Duration,
    /// [`monotonic_now`] when the reader had copied it.
    pub received: Duration,
}

impl Received {
    /// From the writer starting to write it to the reader having its copy.
    pub fn latency(&self) -> Duration {
        self.received.saturating_sub(self.sent)
    }
}

/// What a [`Reader::poll`] found.
#[derive(Debug)]
pub enum Poll {
    /// A frame newer than the last one read.
    Frame(Received),
    /// Nothing new.
    Nothing,
    /// The writer wrote end-of-stream and its last frame was read.
    Ended,
}

/// Who is writing, as a reader sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriterState {
    /// There is no segment under the name (no writer yet, or it ended and went away before
    /// this reader came).
    Absent,
    /// A writer is alive.
    Live {
        /// Its process id.
        pid: u32,
        /// Its segment's generation.
        generation: u64,
    },
    /// The writer went away without writing end-of-stream (it crashed or was dropped).
    Gone {
        /// Its process id.
        pid: u32,
    },
    /// The writer wrote end-of-stream.
    Ended {
        /// Its process id.
        pid: u32,
    },
}

/// Counters of a [`Reader`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReaderStats {
    /// Frames read.
    pub received: u64,
    /// Frames the writer published that this reader never read (it was busy, or only polls
    /// for the newest).
    pub skipped: u64,
    /// Copies thrown away because the writer overwrote the slot meanwhile.
    pub torn: u64,
    /// Segments attached to (1 + writer restarts + size changes seen).
    pub attached: u64,
}

/// Reads the newest frame of a named shared memory segment (see the [module docs](super)).
///
/// Works before its writer exists and across writer restarts and size changes; never blocks
/// longer than asked.
pub struct Reader {
    name: String,
    shm: String,
    segment: Option<Segment>,
    generation: u64,
    last_sequence: u64,
    token: u32,
    pool: Option<FramePool>,
    last_name_check: Option<Instant>,
    stats: ReaderStats,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("name", &self.name)
            .field("attached", &self.segment.is_some())
            .field("generation", &self.generation)
            .field("last_sequence", &self.last_sequence)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Reader {
    /// A reader of `name`. Only the name is checked: the writer may come later.
    pub fn new(name: &str) -> Result<Self, IpcError> {
        Ok(Self {
            shm: shm_name(name)?,
            name: name.to_owned(),
            segment: None,
            generation: 0,
            last_sequence: 0,
            token: 0,
            pool: None,
            last_name_check: None,
            stats: ReaderStats::default(),
        })
    }

    /// The IPC name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The counters now.
    pub fn stats(&self) -> ReaderStats {
        self.stats
    }

    /// Without waiting: the newest frame not read yet. Errors are about the name (a foreign
    /// object under it, no permission) or a writer describing an impossible frame.
    pub fn poll(&mut self) -> Result<Poll, IpcError> {
        self.follow_name()?;
        let Some(segment) = &self.segment else {
            return Ok(Poll::Nothing);
        };
        let header = segment.header();
        self.token = header.notify.load(Ordering::SeqCst);
        for _ in 0..ATTEMPTS {
            let (latest, index) = unpack_latest(header.latest.load(Ordering::Acquire));
            if latest <= self.last_sequence {
                break;
            }
            if index >= SLOTS {
                return Err(IpcError::BadFrame {
                    name: self.name.clone(),
                    reason: format!("the newest frame is in slot {index} of {SLOTS}"),
                });
            }
            match read_slot(segment, index, &mut self.pool, &self.name)? {
                Some((frame, sequence, sent)) if sequence > self.last_sequence => {
                    self.stats.skipped += sequence - self.last_sequence - 1;
                    self.last_sequence = sequence;
                    self.stats.received += 1;
                    return Ok(Poll::Frame(Received {
                        frame,
                        sequence,
                        generation: self.generation,
                        sent,
                        received: monotonic_now(),
                    }));
                }
                Some(_) => break,
                None => {
                    self.stats.torn += 1;
                    std::hint::spin_loop();
                }
            }
        }
        if header.state.load(Ordering::Acquire) == STATE_ENDED
            && unpack_latest(header.latest.load(Ordering::Acquire)).0 <= self.last_sequence
        {
            return Ok(Poll::Ended);
        }
        Ok(Poll::Nothing)
    }

    /// Waits up to `max` (at most [`NAME_CHECK_INTERVAL`] at a time) for the writer to publish
    /// something after the last [`poll`](Self::poll). Returns early when it does; may return
    /// early for no reason. Call `poll` afterwards.
    pub fn wait(&mut self, max: Duration) {
        let max = max.min(NAME_CHECK_INTERVAL);
        match &self.segment {
            Some(segment) if segment.header().state.load(Ordering::Acquire) == STATE_LIVE => {
                let header = segment.header();
                let timeout = rustix::time::Timespec {
                    tv_sec: max.as_secs() as _,
                    tv_nsec: max.subsec_nanos() as _,
                };
                header.waiters.fetch_add(1, Ordering::SeqCst);
                // Returns at once if the word changed since `poll` read it (a frame came in
                // between), when woken, or after the time-out.
                let _ = rustix::thread::futex::wait(
                    &header.notify,
                    rustix::thread::futex::Flags::empty(),
                    self.token,
                    Some(&timeout),
                );
                header.waiters.fetch_sub(1, Ordering::SeqCst);
            }
            // No writer to wake us: look again soon.
            _ => std::thread::sleep(max.min(Duration::from_millis(5))),
        }
    }

    /// Who is writing now.
    pub fn writer_state(&mut self) -> Result<WriterState, IpcError> {
        self.follow_name()?;
        let Some(segment) = &self.segment else {
            return Ok(WriterState::Absent);
        };
        let header = segment.header();
        let pid = header.writer_pid.load(Ordering::Relaxed);
        Ok(match header.state.load(Ordering::Acquire) {
            STATE_ENDED => WriterState::Ended { pid },
            STATE_CLOSED => WriterState::Gone { pid },
            _ if segment.writer_alive() => WriterState::Live {
                pid,
                generation: self.generation,
            },
            _ => WriterState::Gone { pid },
        })
    }

    /// Attaches to the segment under the name when there is none yet, when the attached one
    /// was replaced, or (every [`NAME_CHECK_INTERVAL`]) when the name now names another file.
    fn follow_name(&mut self) -> Result<(), IpcError> {
        let now = Instant::now();
        let replaced = self
            .segment
            .as_ref()
            .is_some_and(|s| s.header().state.load(Ordering::Acquire) == STATE_REPLACED);
        let interval = if self.segment.is_some() {
            NAME_CHECK_INTERVAL
        } else {
            ABSENT_CHECK_INTERVAL
        };
        let due = self
            .last_name_check
            .is_none_or(|t| now.duration_since(t) >= interval);
        if !replaced && !due {
            return Ok(());
        }
        self.last_name_check = Some(now);
        if let Some(segment) = &self.segment
            && !replaced
        {
            match name_file_id(&self.shm) {
                // Same file, or none: keep what we have (the last frame stays readable).
                Ok(Some(id)) if id == segment.id => return Ok(()),
                Ok(None) => return Ok(()),
                Ok(Some(_)) => {}
                Err(source) => {
                    return Err(IpcError::Io {
                        name: self.name.clone(),
                        what: "inspect".into(),
                        source,
                    });
                }
            }
        }
        if let Some(new) = Segment::open(&self.name, &self.shm)?
            && self.segment.as_ref().is_none_or(|old| old.id != new.id)
        {
            self.attach(new);
        }
        Ok(())
    }

    fn attach(&mut self, new: Segment) {
        if let Some(old) = self.segment.take() {
            old.header().readers.fetch_sub(1, Ordering::Relaxed);
        }
        let header = new.header();
        header.readers.fetch_add(1, Ordering::Relaxed);
        self.generation = header.generation.load(Ordering::Relaxed);
        self.token = header.notify.load(Ordering::SeqCst);
        // Frames from before this segment are not this segment's to count as skipped.
        self.last_sequence = header.base_sequence.load(Ordering::Relaxed);
        self.stats.attached += 1;
        tracing::debug!(name = %self.name, generation = self.generation, "IPC reader attached");
        self.segment = Some(new);
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if let Some(segment) = &self.segment {
            segment.header().readers.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A slot's `reading` count, held up while a copy is made.
struct Reading<'a>(&'a SlotMeta);

impl<'a> Reading<'a> {
    fn mark(slot: &'a SlotMeta) -> Self {
        slot.reading.fetch_add(1, Ordering::SeqCst);
        Self(slot)
    }
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        self.0.reading.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Copies slot `index` into a pooled frame. `Ok(None)`: the writer was writing the slot
/// (before or during the copy), try again.
fn read_slot(
    segment: &Segment,
    index: usize,
    pool: &mut Option<FramePool>,
    name: &str,
) -> Result<Option<(VideoFrame, u64, Duration)>, IpcError> {
    let slot = segment.slot(index);
    // Tell the writer to pick another slot while this one is copied (it still may, when it
    // has no other: the lock check below catches that).
    let _reading = Reading::mark(slot);
    let lock = slot.lock.load(Ordering::Acquire);
    if lock & 1 == 1 {
        return Ok(None);
    }
    let sequence = slot.sequence.load(Ordering::Relaxed);
    let width = slot.width.load(Ordering::Relaxed);
    let height = slot.height.load(Ordering::Relaxed);
    let format = slot.format.load(Ordering::Relaxed);
    let strides = slot
        .strides
        .each_ref()
        .map(|s| s.load(Ordering::Relaxed) as usize);
    let len = slot.len.load(Ordering::Relaxed) as usize;
    let pts = Duration::from_nanos(slot.pts_ns.load(Ordering::Relaxed));
    let sent = Duration::from_nanos(slot.sent_ns.load(Ordering::Relaxed));
    // Whether the lock is unchanged since `lock` was read: everything read since is whole.
    let stable = || {
        fence(Ordering::Acquire);
        slot.lock.load(Ordering::Relaxed) == lock
    };
    let layout = decode_format(format)
        .ok_or_else(|| format!("unknown pixel format code {format:#x}"))
        .and_then(|f| {
            FrameLayout::with_strides(width, height, f, &strides[..f.plane_count()])
                .map_err(|e| e.to_string())
        })
        .and_then(|layout| {
            if layout.len() != len || len > segment.slot_bytes() {
                Err(format!(
                    "{layout} frame of {len} bytes (the layout needs {}, a slot holds {})",
                    layout.len(),
                    segment.slot_bytes()
                ))
            } else {
                Ok(layout)
            }
        });
    let layout = match layout {
        Ok(layout) => layout,
        Err(_) if !stable() => return Ok(None),
        Err(reason) => {
            return Err(IpcError::BadFrame {
                name: name.to_owned(),
                reason,
            });
        }
    };
    let pool = match pool {
        Some(pool) if *pool.layout() == layout => pool,
        _ => pool.insert(FramePool::with_max_idle(layout, POOL_IDLE)),
    };
    let mut frame = pool.acquire(pts);
    // SAFETY: `len <= slot_bytes` (checked above), so the source range lies inside the slot;
    // the destination is the pooled buffer of `layout.len() == len` bytes. The writer may be
    // overwriting these bytes meanwhile (a seqlock): the copy is only kept when the lock did
    // not change across it.
    unsafe {
        std::ptr::copy_nonoverlapping(
            segment.pixels(index),
            frame.data_mut_all().as_mut_ptr(),
            len,
        );
    }
    if !stable() {
        return Ok(None);
    }
    Ok(Some((frame.freeze(), sequence, sent)))
}
