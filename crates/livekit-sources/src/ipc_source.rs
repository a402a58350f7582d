//! [`IpcSource`]: frames from another process through named shared memory.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use livekit_core::ipc::{IpcError, Poll, Reader, ReaderStats, Received, WriterState};
use livekit_core::{FrameSource, Pull, VideoFrame};
use parking_lot::Mutex;

/// Settings of an [`IpcSource`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpcSourceSettings {
    /// When the writer writes end-of-stream: `true` (the default) ends the source after the
    /// writer's last frame ([`Pull::Ended`]); `false` keeps it waiting for the next writer of
    /// the name.
    pub end_with_writer: bool,
}

impl Default for IpcSourceSettings {
    fn default() -> Self {
        Self {
            end_with_writer: true,
        }
    }
}

/// Why [`IpcSource::recv`] has no frame. Every message names the IPC name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecvIpcError {
    /// Nothing is under the name.
    #[error(
        "IPC {name:?}: no writer (nothing at /dev/shm/livekit-{name}) after {:.1} s",
        waited.as_secs_f64()
    )]
    NoWriter {
        /// The name.
        name: String,
        /// How long it waited.
        waited: Duration,
    },
    /// The writer went away without writing end-of-stream, and no new one came.
    #[error(
        "IPC {name:?}: the writer (pid {pid}) is gone and no new writer came in {:.1} s",
        waited.as_secs_f64()
    )]
    WriterGone {
        /// The name.
        name: String,
        /// The old writer's process id.
        pid: u32,
        /// How long it waited.
        waited: Duration,
    },
    /// The writer is alive but wrote nothing new.
    #[error(
        "IPC {name:?}: no new frame from the writer (pid {pid}) in {:.1} s",
        waited.as_secs_f64()
    )]
    Timeout {
        /// The name.
        name: String,
        /// The writer's process id.
        pid: u32,
        /// How long it waited.
        waited: Duration,
    },
    /// The writer wrote end-of-stream and its last frame was read.
    #[error("IPC {name:?}: the writer ended the stream")]
    Ended {
        /// The name.
        name: String,
    },
    /// The name or the segment is unusable (see [`IpcError`]).
    #[error(transparent)]
    Ipc(#[from] IpcError),
}

/// A [`VideoSource`](livekit_core::VideoSource) reading frames another process shares through
/// `/dev/shm/livekit-NAME` (Linux) with a `livekit_sinks::IpcTarget` of the same name.
///
/// It is a keep-latest source: [`latest`](FrameSource::latest) and
/// [`next`](FrameSource::next) both return the newest frame not read yet (frames the reader
/// had no time for are skipped and counted in [`stats`](Self::stats)); `next` waits for one
/// (a futex wait: woken by the writer, no polling). Frames are bit for bit what was written:
/// layout, strides, pixel format with colour space, pts. A frame is never torn: a copy the
/// writer overwrote meanwhile is thrown away and the newest frame read again.
///
/// The source may be opened before its writer exists, and follows the name: a writer that
/// restarts (crashed or not) or changes the frame size is picked up by itself. Reads never
/// hang: with no writer, a dead writer or a silent one, `next` returns [`Pull::Pending`] after
/// its time-out, and [`recv`](Self::recv) says which it was.
///
/// ```no_run
/// use std::time::Duration;
/// use livekit_sources::{IpcSource, IpcSourceSettings};
///
/// let source = IpcSource::open("preview", IpcSourceSettings::default())?;
/// let got = source.recv(Duration::from_secs(2))?;
/// println!("{:?} after {:?}", got.frame, got.latency());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct IpcSource {
    name: String,
    settings: IpcSourceSettings,
    reader: Mutex<Reader>,
    ended: AtomicBool,
    /// The last read error logged, so a broken name is logged once, not per poll.
    last_error: Mutex<Option<String>>,
}

impl std::fmt::Debug for IpcSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpcSource")
            .field("name", &self.name)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl IpcSource {
    /// A source for `name` (1 to 200 ASCII letters, digits, `.`, `_`, `-`). Only the name is
    /// checked: the writer may come later.
    pub fn open(name: &str, settings: IpcSourceSettings) -> Result<Self, IpcError> {
        Ok(Self {
            name: name.to_owned(),
            settings,
            reader: Mutex::new(Reader::new(name)?),
            ended: AtomicBool::new(false),
            last_error: Mutex::new(None),
        })
    }

    /// The IPC name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Frames read, skipped, torn copies thrown away, segments attached.
    pub fn stats(&self) -> ReaderStats {
        self.reader.lock().stats()
    }

    /// Who is writing now: no one, a live writer, one that is gone, or one that ended.
    pub fn writer_state(&self) -> Result<WriterState, IpcError> {
        self.reader.lock().writer_state()
    }

    /// The newest frame not read yet, with its sequence number, generation and latency,
    /// waiting up to `timeout`; the error says why none came (no writer, the writer gone, a
    /// silent writer, the end of the stream).
    pub fn recv(&self, timeout: Duration) -> Result<Received, RecvIpcError> {
        let started = Instant::now();
        let mut reader = self.reader.lock();
        if let Some(received) = self.wait_frame(&mut reader, timeout)? {
            return Ok(received);
        }
        let name = self.name.clone();
        let waited = started.elapsed();
        Err(match reader.writer_state()? {
            WriterState::Absent => RecvIpcError::NoWriter { name, waited },
            WriterState::Gone { pid } => RecvIpcError::WriterGone { name, pid, waited },
            WriterState::Live { pid, .. } => RecvIpcError::Timeout { name, pid, waited },
            WriterState::Ended { .. } => RecvIpcError::Ended { name },
        })
    }

    /// The newest unread frame, waiting up to `timeout`; `Ok(None)` on time-out.
    fn wait_frame(
        &self,
        reader: &mut Reader,
        timeout: Duration,
    ) -> Result<Option<Received>, RecvIpcError> {
        let ended = || RecvIpcError::Ended {
            name: self.name.clone(),
        };
        if self.ended.load(Ordering::Acquire) {
            return Err(ended());
        }
        let deadline = Instant::now().checked_add(timeout);
        loop {
            match reader.poll()? {
                Poll::Frame(received) => return Ok(Some(received)),
                Poll::Ended if self.settings.end_with_writer => {
                    self.ended.store(true, Ordering::Release);
                    return Err(ended());
                }
                Poll::Ended | Poll::Nothing => {}
            }
            let left = deadline.map_or(Duration::MAX, |d| {
                d.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                return Ok(None);
            }
            reader.wait(left);
        }
    }

    fn pull(&self, timeout: Duration) -> Pull<VideoFrame> {
        let result = self.wait_frame(&mut self.reader.lock(), timeout);
        match result {
            Ok(None) => Pull::Pending,
            Ok(Some(received)) => {
                *self.last_error.lock() = None;
                Pull::Frame(received.frame)
            }
            Err(RecvIpcError::Ended { .. }) => Pull::Ended,
            Err(RecvIpcError::Ipc(e)) => {
                let message = e.to_string();
                let mut last = self.last_error.lock();
                if last.as_deref() != Some(&message) {
                    tracing::warn!("{message}");
                    *last = Some(message);
                }
                Pull::Pending
            }
            Err(_) => Pull::Pending,
        }
    }
}

impl FrameSource<VideoFrame> for IpcSource {
    fn latest(&self) -> Pull<VideoFrame> {
        self.pull(Duration::ZERO)
    }

    fn next(&self, timeout: Duration) -> Pull<VideoFrame> {
        self.pull(timeout)
    }
}
