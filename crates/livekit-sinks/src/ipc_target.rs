//! [`IpcTarget`]: frames to other processes through named shared memory.

use std::time::Duration;

use livekit_core::ipc::{IpcError, Writer};
use livekit_core::{FrameTarget, PushError, VideoFrame};
use parking_lot::Mutex;

/// A [`VideoTarget`](livekit_core::VideoTarget) that shares each frame with other processes
/// through the named shared memory segment `/dev/shm/livekit-NAME` (Linux).
///
/// Readers are `livekit_sources::IpcSource`s of the same name, in any process of the same
/// user. The layout and protocol are [`livekit_core::ipc`]'s; in short:
///
/// - **Never blocks** (keep-latest): `push` copies the frame into the next of three slots and
///   returns, whatever the readers do; a slow reader gets the newest frame and skips the others.
///   A 1080p RGBA frame is one 8 MB copy.
/// - Any layout, pixel format (colour space included) and pts is carried as it is; a frame
///   larger than the slots moves readers to a new, larger segment (smaller ones fit as they are).
/// - One writer per name: [`create`](Self::create) fails with [`IpcError::InUse`] while another
///   is alive, and takes over the name of one that died (its readers follow).
/// - [`end`](FrameTarget::end) writes end-of-stream (readers get the last frame, then the end);
///   dropping the target removes the name, and readers see the writer gone.
///
/// ```no_run
/// use std::time::Duration;
/// use livekit_core::{FrameTarget, VideoFrame};
/// use livekit_sinks::IpcTarget;
///
/// let target = IpcTarget::create("preview")?;
/// target.wait_for_reader(Duration::from_secs(5));
/// target.push(VideoFrame::solid_rgba(1280, 720, [255, 0, 0, 255], Duration::ZERO)?)?;
/// target.end();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct IpcTarget {
    name: String,
    writer: Mutex<Writer>,
}

impl std::fmt::Debug for IpcTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpcTarget")
            .field("name", &self.name)
            .field("written", &self.written())
            .finish_non_exhaustive()
    }
}

impl IpcTarget {
    /// Claims `name` (1 to 200 ASCII letters, digits, `.`, `_`, `-`) and creates its segment.
    pub fn create(name: &str) -> Result<Self, IpcError> {
        Ok(Self {
            name: name.to_owned(),
            writer: Mutex::new(Writer::create(name)?),
        })
    }

    /// The IPC name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Frames written so far.
    pub fn written(&self) -> u64 {
        self.writer.lock().sequence()
    }

    /// How many times a larger frame made a new segment.
    pub fn recreated(&self) -> u64 {
        self.writer.lock().recreated()
    }

    /// Readers attached now (approximate: a reader that crashed still counts).
    pub fn readers(&self) -> u32 {
        self.writer.lock().readers()
    }

    /// Waits up to `timeout` for a reader to attach; returns whether one did. Frames written
    /// before any reader attached are only seen as "the newest frame" by a later reader.
    pub fn wait_for_reader(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if self.readers() > 0 {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl FrameTarget<VideoFrame> for IpcTarget {
    fn push(&self, frame: VideoFrame) -> Result<(), PushError> {
        match self.writer.lock().publish(&frame) {
            Ok(_) => Ok(()),
            Err(IpcError::Ended { .. }) => Err(PushError::Ended),
            Err(e) => Err(PushError::failed(e)),
        }
    }

    fn end(&self) {
        self.writer.lock().end();
    }
}
