//! Sources, targets and the ports between them.
//!
//! A *source* is read ([`FrameSource`]), a *target* is written ([`FrameTarget`]), and a [`Port`]
//! is both: the bounded hand-over point between a writer thread and a reader thread. Every port
//! has an explicit [`Policy`] saying what happens when its reader is slower than its writer.
//!
//! [`VideoSource`], [`VideoTarget`] and [`VideoPort`] (and their audio twins) are the same traits
//! for [`VideoFrame`]s and [`AudioFrame`]s; implement [`FrameSource<VideoFrame>`] to get
//! [`VideoSource`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::audio::AudioFrame;
use crate::frame::VideoFrame;

/// What a reader gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Pull<T> {
    /// A frame the reader has not had before.
    Frame(T),
    /// Nothing new yet (or the wait timed out); the stream goes on.
    Pending,
    /// End of stream: nothing more will come.
    Ended,
}

impl<T> Pull<T> {
    /// The frame, if this is one.
    pub fn frame(self) -> Option<T> {
        match self {
            Self::Frame(frame) => Some(frame),
            _ => None,
        }
    }

    /// Whether nothing new has come yet.
    pub fn is_pending(&self) -> bool {
        matches!(self, Self::Pending)
    }

    /// Whether this is the end of the stream.
    pub fn is_ended(&self) -> bool {
        matches!(self, Self::Ended)
    }
}

/// Why a frame could not be written.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The reader closed the port: stop writing.
    #[error("the port was closed by its reader")]
    Closed,
    /// End of stream was already written to this port.
    #[error("end of stream was already written to the port")]
    Ended,
    /// The target failed (a sink could not write its file, say); the error names the target.
    #[error(transparent)]
    Failed(Arc<dyn std::error::Error + Send + Sync>),
    /// [`FrameTarget::push_unless`] gave up waiting for room: the writer was asked to stop.
    #[error("the writer stopped while waiting for room in the port")]
    Stopped,
}

impl PushError {
    /// Wraps a target's own error.
    pub fn failed(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Failed(Arc::new(error))
    }
}

/// Something frames of type `T` are read from. One reader per source.
pub trait FrameSource<T>: Send + Sync {
    /// Without blocking: the newest frame not read yet, skipping (and counting as dropped) any
    /// older unread ones; [`Pull::Pending`] when nothing new has come; [`Pull::Ended`] after the
    /// end of the stream. Live readers (a compositor input, a preview) use this.
    fn latest(&self) -> Pull<T>;

    /// The next frame in order, waiting up to `timeout` for it (`Duration::MAX` waits for ever);
    /// [`Pull::Pending`] on time-out. File work and encoders use this.
    fn next(&self, timeout: Duration) -> Pull<T>;
}

/// Something frames of type `T` are written to.
pub trait FrameTarget<T>: Send + Sync {
    /// Writes a frame. Whether this blocks is the target's policy (see [`Policy`]).
    fn push(&self, frame: T) -> Result<(), PushError>;

    /// [`push`](Self::push), but a push that waits for room gives up once `stop` is set
    /// (checked at least every 50 ms), failing with [`PushError::Stopped`]: for writers that
    /// must stop when asked even if their reader stopped reading (a player being stopped).
    /// Targets that never wait need not implement it (the default is `push`).
    fn push_unless(&self, frame: T, stop: &AtomicBool) -> Result<(), PushError> {
        let _ = stop;
        self.push(frame)
    }

    /// Writes end-of-stream: frames already written are still delivered, then readers see
    /// [`Pull::Ended`]. Further pushes fail with [`PushError::Ended`].
    fn end(&self);
}

impl<T, S: FrameSource<T> + ?Sized> FrameSource<T> for Arc<S> {
    fn latest(&self) -> Pull<T> {
        (**self).latest()
    }
    fn next(&self, timeout: Duration) -> Pull<T> {
        (**self).next(timeout)
    }
}

impl<T, S: FrameTarget<T> + ?Sized> FrameTarget<T> for Arc<S> {
    fn push(&self, frame: T) -> Result<(), PushError> {
        (**self).push(frame)
    }
    fn push_unless(&self, frame: T, stop: &AtomicBool) -> Result<(), PushError> {
        (**self).push_unless(frame, stop)
    }
    fn end(&self) {
        (**self).end()
    }
}

/// A source of [`VideoFrame`]s (implement [`FrameSource<VideoFrame>`] to get it).
pub trait VideoSource: FrameSource<VideoFrame> {}
impl<S: FrameSource<VideoFrame> + ?Sized> VideoSource for S {}

/// A target of [`VideoFrame`]s (implement [`FrameTarget<VideoFrame>`] to get it).
pub trait VideoTarget: FrameTarget<VideoFrame> {}
impl<S: FrameTarget<VideoFrame> + ?Sized> VideoTarget for S {}

/// Both ends of a video hand-over, like [`Port<VideoFrame>`].
pub trait VideoPort: VideoSource + VideoTarget {}
impl<S: VideoSource + VideoTarget + ?Sized> VideoPort for S {}

/// A source of [`AudioFrame`]s (implement [`FrameSource<AudioFrame>`] to get it).
pub trait AudioSource: FrameSource<AudioFrame> {}
impl<S: FrameSource<AudioFrame> + ?Sized> AudioSource for S {}

/// A target of [`AudioFrame`]s (implement [`FrameTarget<AudioFrame>`] to get it).
pub trait AudioTarget: FrameTarget<AudioFrame> {}
impl<S: FrameTarget<AudioFrame> + ?Sized> AudioTarget for S {}

/// Both ends of an audio hand-over, like [`Port<AudioFrame>`].
pub trait AudioPort: AudioSource + AudioTarget {}
impl<S: AudioSource + AudioTarget + ?Sized> AudioPort for S {}

/// What a [`Port`] does when its reader is slower than its writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Keep only the newest frame: the writer never blocks, the reader always gets the newest
    /// frame, and frames replaced before being read are counted as dropped. For live inputs of
    /// the compositor and for previews.
    Latest,
    /// A FIFO of at most `capacity` frames (at least 1).
    Queue {
        /// How many frames may wait.
        capacity: usize,
        /// What a push does when `capacity` frames are waiting.
        when_full: WhenFull,
    },
}

/// What a push into a full [`Policy::Queue`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Wait for room (or for the port to be closed). Nothing is lost: for file work.
    Block,
    /// Drop the oldest waiting frame and count it. The writer never waits: for live outputs.
    DropOldest,
}

/// Counters of a [`Port`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortStats {
    /// Frames written.
    pub pushed: u64,
    /// Frames handed to the reader.
    pub delivered: u64,
    /// Frames discarded: replaced ([`Policy::Latest`]), pushed out
    /// ([`WhenFull::DropOldest`]), skipped by [`FrameSource::latest`], or left when the port
    /// was closed.
    pub dropped: u64,
    /// Frames waiting now.
    pub queued: usize,
}

struct State<T> {
    queue: VecDeque<T>,
    ended: bool,
    closed: bool,
    stats: PortStats,
}

struct Shared<T> {
    policy: Policy,
    capacity: usize,
    state: Mutex<State<T>>,
    readable: Condvar,
    writable: Condvar,
}

/// A bounded hand-over between writers and one reader, with an explicit [`Policy`].
///
/// Cheap to clone: clones are the same port. Give one clone to the writer (as a
/// [`FrameTarget`]) and one to the reader (as a [`FrameSource`]). The queue is allocated once,
/// when the port is made.
///
/// ```
/// use std::time::Duration;
/// use livekit_core::{FrameSource, FrameTarget, Port, Pull, VideoFrame};
///
/// let port = Port::<VideoFrame>::latest();
/// port.push(VideoFrame::solid_rgba(4, 4, [255, 0, 0, 255], Duration::ZERO).unwrap()).unwrap();
/// port.push(VideoFrame::solid_rgba(4, 4, [0, 255, 0, 255], Duration::from_millis(33)).unwrap()).unwrap();
/// let Pull::Frame(frame) = port.latest() else { panic!() };
/// assert_eq!(frame.rgba_at(0, 0), Some([0, 255, 0, 255]));
/// assert_eq!(port.stats().dropped, 1);
/// ```
pub struct Port<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Port<T> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Port<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Port")
            .field("policy", &self.shared.policy)
            .field("stats", &self.stats())
            .finish()
    }
}

impl<T> Port<T> {
    /// A port with `policy`. A queue capacity of 0 is taken as 1.
    pub fn new(policy: Policy) -> Self {
        let capacity = match policy {
            Policy::Latest => 1,
            Policy::Queue { capacity, .. } => capacity.max(1),
        };
        Self {
            shared: Arc::new(Shared {
                policy,
                capacity,
                state: Mutex::new(State {
                    queue: VecDeque::with_capacity(capacity),
                    ended: false,
                    closed: false,
                    stats: PortStats::default(),
                }),
                readable: Condvar::new(),
                writable: Condvar::new(),
            }),
        }
    }

    /// A [`Policy::Latest`] port.
    pub fn latest() -> Self {
        Self::new(Policy::Latest)
    }

    /// A [`Policy::Queue`] port that blocks its writer when `capacity` frames wait.
    pub fn blocking(capacity: usize) -> Self {
        Self::new(Policy::Queue {
            capacity,
            when_full: WhenFull::Block,
        })
    }

    /// A [`Policy::Queue`] port that drops its oldest frame when `capacity` frames wait.
    pub fn drop_oldest(capacity: usize) -> Self {
        Self::new(Policy::Queue {
            capacity,
            when_full: WhenFull::DropOldest,
        })
    }

    /// The policy.
    pub fn policy(&self) -> Policy {
        self.shared.policy
    }

    /// The counters now.
    pub fn stats(&self) -> PortStats {
        let state = self.shared.state.lock();
        PortStats {
            queued: state.queue.len(),
            ..state.stats
        }
    }

    /// Frames dropped so far (see [`PortStats::dropped`]).
    pub fn dropped(&self) -> u64 {
        self.shared.state.lock().stats.dropped
    }

    /// Closes the port from the reader's side: waiting frames are dropped, blocked and later
    /// pushes fail with [`PushError::Closed`], and reads return [`Pull::Ended`]. Use it to stop a
    /// writer that is blocked on a full queue.
    pub fn close(&self) {
        let mut state = self.shared.state.lock();
        state.closed = true;
        state.stats.dropped += state.queue.len() as u64;
        state.queue.clear();
        drop(state);
        self.shared.readable.notify_all();
        self.shared.writable.notify_all();
    }

    /// Whether the port was closed or ended and has nothing left to read.
    pub fn is_finished(&self) -> bool {
        let state = self.shared.state.lock();
        state.closed || (state.ended && state.queue.is_empty())
    }

    fn take(&self, state: &mut State<T>, newest: bool) -> Pull<T> {
        let frame = if newest {
            let skipped = state.queue.len().saturating_sub(1);
            state.stats.dropped += skipped as u64;
            state.queue.drain(..skipped);
            state.queue.pop_front()
        } else {
            state.queue.pop_front()
        };
        match frame {
            Some(frame) => {
                state.stats.delivered += 1;
                if self.shared.policy != Policy::Latest {
                    // Skipping to the newest frees several slots: wake every blocked writer.
                    if newest {
                        self.shared.writable.notify_all();
                    } else {
                        self.shared.writable.notify_one();
                    }
                }
                Pull::Frame(frame)
            }
            None if state.ended || state.closed => Pull::Ended,
            None => Pull::Pending,
        }
    }
}

impl<T: Send> FrameSource<T> for Port<T> {
    fn latest(&self) -> Pull<T> {
        let mut state = self.shared.state.lock();
        self.take(&mut state, true)
    }

    fn next(&self, timeout: Duration) -> Pull<T> {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.shared.state.lock();
        while state.queue.is_empty() && !state.ended && !state.closed {
            match deadline {
                Some(deadline) => {
                    if self
                        .shared
                        .readable
                        .wait_until(&mut state, deadline)
                        .timed_out()
                    {
                        break;
                    }
                }
                None => self.shared.readable.wait(&mut state),
            }
        }
        self.take(&mut state, false)
    }
}

impl<T: Send> Port<T> {
    /// A push that waits for room (blocking policy) until `stop`, if given, is set.
    fn write(&self, frame: T, stop: Option<&AtomicBool>) -> Result<(), PushError> {
        let mut state = self.shared.state.lock();
        loop {
            if state.closed {
                return Err(PushError::Closed);
            }
            if state.ended {
                return Err(PushError::Ended);
            }
            if state.queue.len() < self.shared.capacity {
                break;
            }
            match self.shared.policy {
                Policy::Latest
                | Policy::Queue {
                    when_full: WhenFull::DropOldest,
                    ..
                } => {
                    state.queue.pop_front();
                    state.stats.dropped += 1;
                }
                Policy::Queue {
                    when_full: WhenFull::Block,
                    ..
                } => match stop {
                    None => self.shared.writable.wait(&mut state),
                    Some(stop) => {
                        if stop.load(Ordering::Relaxed) {
                            return Err(PushError::Stopped);
                        }
                        let _ = self
                            .shared
                            .writable
                            .wait_for(&mut state, Duration::from_millis(50));
                    }
                },
            }
        }
        state.queue.push_back(frame);
        state.stats.pushed += 1;
        drop(state);
        self.shared.readable.notify_one();
        Ok(())
    }
}

impl<T: Send> FrameTarget<T> for Port<T> {
    fn push(&self, frame: T) -> Result<(), PushError> {
        self.write(frame, None)
    }

    fn push_unless(&self, frame: T, stop: &AtomicBool) -> Result<(), PushError> {
        self.write(frame, Some(stop))
    }

    fn end(&self) {
        self.shared.state.lock().ended = true;
        self.shared.readable.notify_all();
        self.shared.writable.notify_all();
    }
}
