//! One shared memory segment: the header, the slot descriptions, the mapping.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use memmap2::MmapRaw;
use rustix::fs::{FallocateFlags, FlockOperation, Mode};
use rustix::shm::OFlags;

use super::{IpcError, SLOTS, VERSION};
use crate::format::{ColorMatrix, ColorRange, ColorSpace, PixelFormat};

/// "LIVEKIT" and a zero byte, little-endian: the first 8 bytes of every segment.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"LIVEKIT\0");

/// Bytes before slot 0's pixels: the header and the slot descriptions.
pub(crate) const CONTROL_BYTES: usize = 4096;

/// Where slot 0's description starts.
const SLOT_META_OFFSET: usize = 256;

/// Slots are sized in whole pages.
const PAGE: usize = 4096;

/// `Header::state`: a writer is (or was, when it crashed) writing.
pub(crate) const STATE_LIVE: u32 = 0;
/// `Header::state`: the writer wrote end-of-stream.
pub(crate) const STATE_ENDED: u32 = 1;
/// `Header::state`: a newer segment has this name; open it again.
pub(crate) const STATE_REPLACED: u32 = 2;
/// `Header::state`: the writer was dropped without writing end-of-stream.
pub(crate) const STATE_CLOSED: u32 = 3;

/// The segment's header, at offset 0. Every field is atomic: another process may write any of
/// them at any time, so no plain reference into shared memory is ever made.
#[repr(C)]
pub(crate) struct Header {
    /// [`MAGIC`], stored last (release) when the segment is ready.
    pub magic: AtomicU64,
    pub version: AtomicU32,
    pub slot_count: AtomicU32,
    /// Bytes of pixels each slot holds (a multiple of 4096; 0 before the first frame).
    pub slot_bytes: AtomicU64,
    pub segment_bytes: AtomicU64,
    pub generation: AtomicU64,
    pub writer_pid: AtomicU32,
    /// One of the `STATE_*` values.
    pub state: AtomicU32,
    /// The newest complete frame: its sequence number (0: none yet) shifted left by 2, or'd
    /// with its slot index (see [`pack_latest`]).
    pub latest: AtomicU64,
    /// Frames the writer had published before this segment (a new writer: 0; a larger frame:
    /// all frames so far). Sequences in this segment continue from it.
    pub base_sequence: AtomicU64,
    /// Futex word: bumped after every frame and state change.
    pub notify: AtomicU32,
    /// Readers inside a futex wait (the writer skips the wake system call when 0).
    pub waiters: AtomicU32,
    /// Readers attached (approximate: a reader that crashed is never subtracted).
    pub readers: AtomicU32,
    _reserved: AtomicU32,
}

/// One slot's description: a seqlock and what the pixels are.
#[repr(C, align(64))]
pub(crate) struct SlotMeta {
    /// Odd while the writer writes the slot; +2 per frame.
    pub lock: AtomicU64,
    pub sequence: AtomicU64,
    pub width: AtomicU32,
    pub height: AtomicU32,
    /// See [`encode_format`].
    pub format: AtomicU32,
    /// Readers copying this slot now; the writer picks another slot when it can.
    pub reading: AtomicU32,
    pub strides: [AtomicU64; 3],
    /// Bytes of pixels (the layout's length).
    pub len: AtomicU64,
    pub pts_ns: AtomicU64,
    /// `CLOCK_MONOTONIC` when the writer started writing the frame, in nanoseconds.
    pub sent_ns: AtomicU64,
}

const _: () = {
    assert!(size_of::<Header>() <= SLOT_META_OFFSET);
    assert!(size_of::<SlotMeta>() <= 128);
    assert!(SLOT_META_OFFSET + SLOTS * 128 <= CONTROL_BYTES);
};

/// `Header::latest` from a sequence number and a slot index.
pub(crate) fn pack_latest(sequence: u64, index: usize) -> u64 {
    (sequence << 2) | index as u64
}

/// The reverse of [`pack_latest`].
pub(crate) fn unpack_latest(packed: u64) -> (u64, usize) {
    (packed >> 2, (packed & 3) as usize)
}

/// A pixel format as one number: kind in the low byte, matrix and range above.
pub(crate) fn encode_format(format: PixelFormat) -> u32 {
    let colour = |cs: ColorSpace| {
        let matrix = match cs.matrix {
            ColorMatrix::Bt601 => 1,
            ColorMatrix::Bt709 => 2,
        };
        let range = match cs.range {
            ColorRange::Limited => 1,
            ColorRange::Full => 2,
        };
        (matrix << 8) | (range << 16)
    };
    match format {
        PixelFormat::Rgba8 => 1,
        PixelFormat::Bgra8 => 2,
        PixelFormat::I420(cs) => 3 | colour(cs),
        PixelFormat::Nv12(cs) => 4 | colour(cs),
    }
}

/// The reverse of [`encode_format`]; `None` for a number it never makes.
pub(crate) fn decode_format(code: u32) -> Option<PixelFormat> {
    let colour = || {
        let matrix = match (code >> 8) & 0xff {
            1 => ColorMatrix::Bt601,
            2 => ColorMatrix::Bt709,
            _ => return None,
        };
        let range = match (code >> 16) & 0xff {
            1 => ColorRange::Limited,
            2 => ColorRange::Full,
            _ => return None,
        };
        Some(ColorSpace::new(matrix, range))
    };
    match code {
        1 => Some(PixelFormat::Rgba8),
        2 => Some(PixelFormat::Bgra8),
        _ if code >> 24 != 0 => None,
        _ => match code & 0xff {
            3 => colour().map(PixelFormat::I420),
            4 => colour().map(PixelFormat::Nv12),
            _ => None,
        },
    }
}

/// Bytes a segment needs for slots of `slot_bytes` (`None` on overflow).
pub(crate) fn segment_bytes(slot_bytes: usize) -> Option<usize> {
    slot_bytes.checked_mul(SLOTS)?.checked_add(CONTROL_BYTES)
}

/// `len` rounded up to whole pages.
pub(crate) fn slot_bytes_for(len: usize) -> Option<usize> {
    len.checked_next_multiple_of(PAGE)
}

/// Which file a descriptor or name refers to.
pub(crate) type FileId = (u64, u64);

pub(crate) fn file_id(fd: &OwnedFd) -> io::Result<FileId> {
    let stat = rustix::fs::fstat(fd)?;
    Ok((stat.st_dev, stat.st_ino))
}

/// The file the name refers to now (`None` when there is none).
pub(crate) fn name_file_id(shm: &str) -> io::Result<Option<FileId>> {
    match rustix::shm::open(shm, OFlags::RDONLY, Mode::empty()) {
        Ok(fd) => file_id(&fd).map(Some),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Maps all of `fd`, its pages populated now rather than faulted in by the first frames.
fn map(fd: &OwnedFd) -> io::Result<MmapRaw> {
    memmap2::MmapOptions::new().populate().map_raw(fd)
}

/// A mapped segment. The mapping (and so every reference handed out) lives as long as this.
pub(crate) struct Segment {
    /// Kept open: the writer's `flock` lives on it, and readers test that lock through it.
    pub fd: OwnedFd,
    map: MmapRaw,
    pub id: FileId,
    /// Slot size as checked when mapped (readers never trust a later header value).
    slot_bytes: usize,
}

impl Segment {
    /// Creates `shm` exclusively with room for slots of `slot_bytes`, locks it for writing and
    /// fills the header (magic last). `Err(InUse)` if the name exists.
    pub fn create(
        name: &str,
        shm: &str,
        slot_bytes: usize,
        generation: u64,
        base_sequence: u64,
    ) -> Result<Self, IpcError> {
        let io = |what: String| {
            let name = name.to_owned();
            move |source: rustix::io::Errno| IpcError::Io {
                name,
                what,
                source: source.into(),
            }
        };
        let bytes = segment_bytes(slot_bytes).ok_or_else(|| IpcError::TooLarge {
            name: name.to_owned(),
            layout: format!("{slot_bytes}-byte"),
            bytes: slot_bytes,
        })?;
        let fd = match rustix::shm::open(
            shm,
            OFlags::CREATE | OFlags::EXCL | OFlags::RDWR,
            Mode::RUSR | Mode::WUSR,
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::EXIST) => {
                return Err(IpcError::InUse {
                    name: name.to_owned(),
                    pid: 0,
                });
            }
            Err(e) => return Err(io("create".into())(e)),
        };
        // From here on a failure must not leave a half-made segment under the name.
        let made = (|| {
            rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive)
                .map_err(io("lock".into()))?;
            // Reserve the pages now: a full /dev/shm fails here instead of crashing a later
            // write with SIGBUS.
            rustix::fs::fallocate(&fd, FallocateFlags::empty(), 0, bytes as u64)
                .map_err(io(format!("reserve {} MiB in", bytes.div_ceil(1 << 20))))?;
            let id = file_id(&fd).map_err(|source| IpcError::Io {
                name: name.to_owned(),
                what: "inspect".into(),
                source,
            })?;
            let map = map(&fd).map_err(|source| IpcError::Io {
                name: name.to_owned(),
                what: "map".into(),
                source,
            })?;
            let segment = Self {
                fd,
                map,
                id,
                slot_bytes,
            };
            let h = segment.header();
            h.version.store(VERSION, Ordering::Relaxed);
            h.slot_count.store(SLOTS as u32, Ordering::Relaxed);
            h.slot_bytes.store(slot_bytes as u64, Ordering::Relaxed);
            h.segment_bytes.store(bytes as u64, Ordering::Relaxed);
            h.generation.store(generation, Ordering::Relaxed);
            h.base_sequence.store(base_sequence, Ordering::Relaxed);
            h.latest
                .store(pack_latest(base_sequence, 0), Ordering::Relaxed);
            h.writer_pid.store(std::process::id(), Ordering::Relaxed);
            h.magic.store(MAGIC, Ordering::Release);
            Ok(segment)
        })();
        if made.is_err() {
            let _ = rustix::shm::unlink(shm);
        }
        made
    }

    /// Opens and maps the segment named `shm` for reading. `Ok(None)`: there is none, or it is
    /// not ready yet (its writer is still making it).
    pub fn open(name: &str, shm: &str) -> Result<Option<Self>, IpcError> {
        let fd = match rustix::shm::open(shm, OFlags::RDWR, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(e) => {
                return Err(IpcError::Io {
                    name: name.to_owned(),
                    what: "open".into(),
                    source: e.into(),
                });
            }
        };
        Self::map_existing(name, fd)
    }

    /// Maps an open segment after checking its size and header.
    pub fn map_existing(name: &str, fd: OwnedFd) -> Result<Option<Self>, IpcError> {
        let io = |what: &str| {
            let name = name.to_owned();
            let what = what.to_owned();
            move |source: io::Error| IpcError::Io { name, what, source }
        };
        let not_a_segment = |reason: String| IpcError::NotASegment {
            name: name.to_owned(),
            reason,
        };
        let stat = rustix::fs::fstat(&fd).map_err(|e| io("inspect")(e.into()))?;
        let len = stat.st_size as usize;
        if len < CONTROL_BYTES {
            // A writer between create and fallocate; or a foreign, empty object.
            return Ok(None);
        }
        let map = map(&fd).map_err(io("map"))?;
        let id = (stat.st_dev, stat.st_ino);
        let mut segment = Self {
            fd,
            map,
            id,
            slot_bytes: 0,
        };
        let h = segment.header();
        match h.magic.load(Ordering::Acquire) {
            MAGIC => {}
            0 => return Ok(None),
            _ => return Err(not_a_segment("it does not start with LIVEKIT".into())),
        }
        let version = h.version.load(Ordering::Relaxed);
        if version != VERSION {
            return Err(not_a_segment(format!(
                "layout version {version}, this livekit reads version {VERSION}"
            )));
        }
        let slots = h.slot_count.load(Ordering::Relaxed);
        let slot_bytes = h.slot_bytes.load(Ordering::Relaxed) as usize;
        let declared = h.segment_bytes.load(Ordering::Relaxed) as usize;
        if slots as usize != SLOTS
            || declared != len
            || segment_bytes(slot_bytes) != Some(len)
            || !slot_bytes.is_multiple_of(PAGE)
        {
            return Err(not_a_segment(format!(
                "{slots} slots of {slot_bytes} bytes do not fit its {len} bytes"
            )));
        }
        segment.slot_bytes = slot_bytes;
        Ok(Some(segment))
    }

    pub fn header(&self) -> &Header {
        // SAFETY: the mapping is at least CONTROL_BYTES long (checked or made so by both
        // constructors), page aligned, and lives as long as `self`. `Header` is all atomics,
        // so concurrent writes by other processes are fine.
        unsafe { &*self.map.as_ptr().cast::<Header>() }
    }

    pub fn slot(&self, index: usize) -> &SlotMeta {
        assert!(index < SLOTS);
        // SAFETY: as for `header`: the descriptions lie inside the control page, are 64-byte
        // aligned (page + 256 + 128 * index) and are all atomics.
        unsafe {
            &*self
                .map
                .as_ptr()
                .add(SLOT_META_OFFSET + index * 128)
                .cast::<SlotMeta>()
        }
    }

    pub fn slot_bytes(&self) -> usize {
        self.slot_bytes
    }

    /// Start of `index`'s pixels; `slot_bytes()` bytes may be read or written there.
    pub fn pixels(&self, index: usize) -> *mut u8 {
        assert!(index < SLOTS);
        // SAFETY: CONTROL_BYTES + SLOTS * slot_bytes is the mapping's length (checked when
        // mapped), so the offset stays inside the mapping.
        unsafe {
            self.map
                .as_mut_ptr()
                .add(CONTROL_BYTES + index * self.slot_bytes)
        }
    }

    /// Whether a writer holds the segment's lock (it is alive). Takes a shared lock for an
    /// instant when it is free.
    pub fn writer_alive(&self) -> bool {
        match rustix::fs::flock(&self.fd, FlockOperation::NonBlockingLockShared) {
            Ok(()) => {
                let _ = rustix::fs::flock(&self.fd, FlockOperation::Unlock);
                false
            }
            Err(_) => true,
        }
    }

    /// Bumps the futex word and wakes readers waiting on it.
    pub fn notify(&self) {
        let h = self.header();
        h.notify.fetch_add(1, Ordering::SeqCst);
        if h.waiters.load(Ordering::SeqCst) > 0 {
            let _ = rustix::thread::futex::wake(
                &h.notify,
                rustix::thread::futex::Flags::empty(),
                i32::MAX as u32,
            );
        }
    }
}
