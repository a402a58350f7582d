//! Frames shared between processes through named POSIX shared memory (Linux).
//!
//! This module is the one place that defines the shared layout and its protocol; the sink
//! (`livekit_sinks::IpcTarget`) wraps a [`Writer`] and the source (`livekit_sources::IpcSource`)
//! wraps a [`Reader`], so both sides cannot disagree.
//!
//! # Names
//!
//! An IPC name is 1 to 200 characters of ASCII letters, digits, `.`, `_` and `-`, not starting
//! with `.`. The name `NAME` is the POSIX shared memory object `/livekit-NAME`
//! (`/dev/shm/livekit-NAME` on Linux), made with mode `0600`: only the same user can read it.
//!
//! # Layout (version 1)
//!
//! ```text
//! offset 0      control page (4096 bytes)
//!                 header: magic, version, slot count (3), slot size, segment size,
//!                         generation, writer pid, state, newest frame (sequence << 2 |
//!                         slot), frames before this segment, futex word,
//!                         futex waiters, reader count
//!                 3 slot descriptions (128 bytes each, from offset 256): lock, sequence,
//!                         width, height, pixel format (with colour space), readers copying
//!                         it, strides, length, pts, time sent
//! offset 4096   slot 0 pixels (slot size bytes, a multiple of 4096)
//!               slot 1 pixels
//!               slot 2 pixels
//! ```
//!
//! Every header and slot-description field is an atomic, native-endian (both processes are on
//! the same machine). Pixels are stored exactly as the frame's [`FrameLayout`] has them
//! (planes one after the other, with the frame's strides), so a reader's frame is bit for bit
//! the writer's.
//!
//! # Protocol
//!
//! - **Writing never blocks** (triple buffering). Frame *n* (counting from 1) goes to a slot
//!   that holds neither the newest frame nor a copy in progress (readers count themselves into
//!   a slot's `reading` while they copy it); when every other slot is being read, to the one
//!   with the fewest readers, then the oldest. The writer sets the slot's lock to odd, writes
//!   the description and the pixels, sets the lock to even, then stores `n` and the slot as the
//!   header's `latest` and bumps the futex word (waking waiting readers). So one reader, however
//!   slow, is never overwritten while it copies; several readers rarely are.
//! - **Reading never sees a torn frame** (a seqlock per slot): the reader loads `latest`, marks
//!   the slot as being read, reads its lock (odd: being written, try again), its description,
//!   copies the pixels into a pooled buffer, then reads the lock again; if it changed (the
//!   writer had no other slot, or took this one just before the mark), the copy is thrown away
//!   (counted as torn) and the reader tries the newest frame again. A reader always gets the
//!   newest complete frame: frames it had no time for are skipped and counted.
//! - **Size changes.** A segment is never resized: when a frame does not fit its slots, the
//!   writer creates a new segment under the same name (sized for the new frame), marks the old
//!   one `replaced` and drops it. Readers that see `replaced` open the name again; the old
//!   mapping stays valid until they let it go. Smaller frames reuse the slots as they are.
//! - **Writer restart.** A writer holds an exclusive `flock` on its segment for its life (the
//!   kernel drops it when the process dies). A new writer finding the name locked fails with
//!   [`IpcError::InUse`]; finding it unlocked (the old writer died), it marks the stale segment
//!   `replaced`, unlinks it and creates its own. Readers also look at the name every
//!   [`NAME_CHECK_INTERVAL`] and switch when it names another file, so they follow a new writer
//!   however the old one ended. A dead writer's segment stays in `/dev/shm` until a new writer
//!   takes the name or [`remove_stale`] removes it.
//! - **Writer gone.** [`Reader::writer_state`] tells a live writer from a dead one (the lock is
//!   free), one that wrote end-of-stream, and no writer at all. Reads never hang: waiting is a
//!   futex wait on the header's futex word with a time-out.
//! - Each segment has a *generation* (unique per segment), so a reader can tell frames of a new
//!   writer from frames of the old one. The time a frame was sent is `CLOCK_MONOTONIC`
//!   ([`monotonic_now`]), the same clock in every process, so a reader can measure latency.
//!
//! Pages are reserved with `fallocate` when a segment is made: a full `/dev/shm` is an error
//! at that moment ([`IpcError::Io`]), not a crash later. Only livekit writers should create
//! these names: a process that truncates a segment under a reader crashes it (`SIGBUS`), as
//! with any shared mapping.

use std::time::Duration;

mod reader;
mod segment;
mod writer;

pub use reader::{Poll, Reader, ReaderStats, Received, WriterState};
pub use writer::{Writer, remove_stale};

#[cfg(doc)]
use crate::FrameLayout;

/// Frame slots in a segment.
pub const SLOTS: usize = 3;

/// The layout version this code reads and writes.
pub const VERSION: u32 = 1;

/// How often a reader checks whether its name now names another segment (a new writer).
pub const NAME_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// The longest IPC name.
pub const MAX_NAME_LEN: usize = 200;

/// The prefix of every shared memory object livekit makes.
pub const SHM_PREFIX: &str = "/livekit-";

/// Why an IPC operation failed. Every message names the IPC name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IpcError {
    /// The name cannot be used.
    #[error("IPC name {name:?} is invalid: {reason}")]
    BadName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Another writer is alive on this name.
    #[error("IPC {name:?}: another writer (pid {pid}) is using /dev/shm{SHM_PREFIX}{name}")]
    InUse {
        /// The name.
        name: String,
        /// The other writer's process id (0 when unknown).
        pid: u32,
    },
    /// The operating system refused something.
    #[error("IPC {name:?}: cannot {what} /dev/shm{SHM_PREFIX}{name}")]
    Io {
        /// The name.
        name: String,
        /// What was being done ("create", "open", "reserve 24 MiB for", ...).
        what: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The object under the name is not a livekit IPC segment this code can read.
    #[error("IPC {name:?}: /dev/shm{SHM_PREFIX}{name} is not a livekit IPC segment: {reason}")]
    NotASegment {
        /// The name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The writer described a frame that makes no sense (a bug or a foreign writer).
    #[error("IPC {name:?}: the writer sent an invalid frame description: {reason}")]
    BadFrame {
        /// The name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A frame is larger than a segment can hold.
    #[error("IPC {name:?}: a {layout} frame ({bytes} bytes) is too large to share")]
    TooLarge {
        /// The name.
        name: String,
        /// The frame's layout, as text.
        layout: String,
        /// Its size.
        bytes: usize,
    },
    /// End of stream was already written.
    #[error("IPC {name:?}: end of stream was already written")]
    Ended {
        /// The name.
        name: String,
    },
}

/// Checks `name` and returns its shared memory object name (`/livekit-NAME`).
///
/// ```
/// use livekit_core::ipc::shm_name;
/// assert_eq!(shm_name("camera-1").unwrap(), "/livekit-camera-1");
/// assert_eq!(
///     shm_name("a/b").unwrap_err().to_string(),
///     "IPC name \"a/b\" is invalid: only ASCII letters, digits, '.', '_' and '-' may be used"
/// );
/// ```
pub fn shm_name(name: &str) -> Result<String, IpcError> {
    let bad = |reason| IpcError::BadName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(bad("it is longer than 200 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(bad(
            "only ASCII letters, digits, '.', '_' and '-' may be used",
        ));
    }
    if name.starts_with('.') {
        return Err(bad("it starts with '.'"));
    }
    Ok(format!("{SHM_PREFIX}{name}"))
}

/// Now on `CLOCK_MONOTONIC`: the clock frames are stamped with when sent. It is the same in
/// every process of the machine, so `monotonic_now() - sent` is a frame's latency.
pub fn monotonic_now() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

#[cfg(test)]
mod tests;
