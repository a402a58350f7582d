//! A recording branch of a [`Streamer`](super::Streamer): the recorder's muxer on its own
//! thread (`livekit.stream.rec.N`), fed from its own bounded GOP queue like a destination.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use livekit_core::thread::{Worker, spawn_worker};
use livekit_core::{FrameSource, Packet, Pull, StreamInfo};
use parking_lot::Mutex;

use super::queue::{GopQueue, Popped};
use crate::recorder::{
    self, Container, Muxer, RecordError, RecorderSettings, RecordingSummary, StartRecorderError,
};

/// Identifies a recording of one [`Streamer`](super::Streamer) (from
/// [`add_recording`](super::Streamer::add_recording), or
/// [`StreamerSettings::recordings`](super::StreamerSettings::recordings) in order: 0, 1, ...).
/// Never reused by that streamer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordingId(pub u64);

impl fmt::Display for RecordingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What a recording branch is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingState {
    /// Writing the packets as they come.
    Recording,
    /// Finalized: stopped, or the stream ended.
    Finished,
    /// Writing failed (a full disk): the file was finalized as far as possible, the
    /// recording ended; [`RecordingStats::error`] says why. The stream goes on.
    Failed,
}

/// Counters of one recording branch, read while it runs
/// ([`Streamer::recording_stats`](super::Streamer::recording_stats)) or at the end
/// ([`RecordingReport`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingStats {
    /// Which recording.
    pub id: RecordingId,
    /// The file.
    pub path: PathBuf,
    /// Its container.
    pub container: Container,
    /// What it is doing.
    pub state: RecordingState,
    /// Packets written.
    pub packets: u64,
    /// Compressed bytes written (without the container's own).
    pub bytes: u64,
    /// Media time recorded so far.
    pub duration: Duration,
    /// Packets lost because its queue was full (live sources only: the disk was slower than
    /// the stream), or left unwritten when it failed.
    pub dropped_packets: u64,
    /// GOPs dropped because its queue was full.
    pub dropped_gops: u64,
    /// Why it failed ("recording file X: cannot write: No space left on device").
    pub error: Option<String>,
}

/// How a recording branch ended, in a [`StreamReport`](super::StreamReport).
#[derive(Debug, Clone)]
pub struct RecordingReport {
    /// Which recording.
    pub id: RecordingId,
    /// Its final counters.
    pub stats: RecordingStats,
    /// The finished file, or why writing it failed.
    pub result: Result<RecordingSummary, RecordError>,
}

/// What a recording branch's thread and the streamer share.
pub(crate) struct RecordingShared {
    pub(crate) id: RecordingId,
    pub(crate) path: PathBuf,
    pub(crate) container: Container,
    pub(crate) queue: GopQueue,
    counters: recorder::Shared,
    /// State and error.
    status: Mutex<(RecordingState, Option<String>)>,
}

impl RecordingShared {
    pub(crate) fn state(&self) -> RecordingState {
        self.status.lock().0
    }

    pub(crate) fn stats(&self) -> RecordingStats {
        let counters = self.counters.stats();
        let (state, error) = self.status.lock().clone();
        let dropped = self.queue.dropped();
        RecordingStats {
            id: self.id,
            path: self.path.clone(),
            container: self.container,
            state,
            packets: counters.packets,
            bytes: counters.bytes,
            duration: counters.duration,
            dropped_packets: dropped.packets,
            dropped_gops: dropped.gops,
            error,
        }
    }

    /// [`StreamerSettings::wait_for_destinations`](super::StreamerSettings::wait_for_destinations):
    /// waits for room while the recording runs (and the streamer is not stopping): a file
    /// read faster than real time loses nothing.
    pub(crate) fn offer_waiting(&self, mut packet: Packet, stop: &AtomicBool) {
        loop {
            if self.state() != RecordingState::Recording
                || stop.load(std::sync::atomic::Ordering::Relaxed)
            {
                self.queue.offer(packet);
                return;
            }
            match self.queue.offer_waiting(packet, Duration::from_millis(100)) {
                Ok(()) => return,
                Err(back) => packet = back,
            }
        }
    }

    /// The summary of the finished file.
    fn summary(&self) -> RecordingSummary {
        let counters = self.counters.stats();
        RecordingSummary {
            path: self.path.clone(),
            container: self.container,
            duration: counters.duration,
            file_bytes: recorder::written_bytes(&self.path, self.container),
            packets: counters.packets,
            encoder: None,
        }
    }
}

/// The queue as the muxer reads it.
struct QueueReader<'a>(&'a GopQueue);

impl FrameSource<Packet> for QueueReader<'_> {
    fn latest(&self) -> Pull<Packet> {
        self.next(Duration::ZERO)
    }

    fn next(&self, timeout: Duration) -> Pull<Packet> {
        match self.0.pop(timeout) {
            Popped::Packet(packet) => Pull::Frame(packet),
            Popped::Empty => Pull::Pending,
            Popped::Ended => Pull::Ended,
        }
    }
}

/// A running recording branch: its shared part and its thread.
pub(crate) struct RecordingBranch {
    pub(crate) shared: Arc<RecordingShared>,
    worker: Option<Worker<Result<(), RecordError>>>,
}

impl RecordingBranch {
    /// Opens the file and writes its header on a new thread (`livekit.stream.rec.N`): a bad
    /// path is an error here. The thread then writes what its queue gets until the queue
    /// ends. `start_at_zero`: the file's time starts at its first packet (a recording that
    /// joins a running stream).
    pub(crate) fn start(
        id: RecordingId,
        settings: RecorderSettings,
        streams: Vec<StreamInfo>,
        queue: GopQueue,
        start_at_zero: bool,
    ) -> Result<Self, StartRecorderError> {
        livekit_av::ffmpeg::init();
        let container = settings.resolve_container()?;
        let path = settings.path.clone();
        if streams.is_empty() {
            return Err(StartRecorderError::NoStreams { path });
        }
        let shared = Arc::new(RecordingShared {
            id,
            path: path.clone(),
            container,
            queue,
            counters: recorder::Shared::default(),
            status: Mutex::new((RecordingState::Recording, None)),
        });
        let worker_shared = Arc::clone(&shared);
        let open_path = path.clone();
        let worker = spawn_worker(
            format!("livekit.stream.rec.{}", id.0),
            move || {
                let mut muxer = Muxer::open(&open_path, container, &settings, streams)?;
                if start_at_zero {
                    muxer.start_at_zero();
                }
                Ok(muxer)
            },
            move |muxer: Muxer| {
                let shared = worker_shared;
                let result = muxer.run(&QueueReader(&shared.queue), &shared.counters);
                let mut status = shared.status.lock();
                match &result {
                    Ok(()) => status.0 = RecordingState::Finished,
                    Err(error) => {
                        // The rest of the stream is not for this file: the source never
                        // waits for a recording that failed.
                        status.0 = RecordingState::Failed;
                        status.1 = Some(error_text(error));
                        drop(status);
                        shared.queue.close();
                    }
                }
                result
            },
        )
        .map_err(|error| recorder::spawn_error(error, &path))?;
        tracing::debug!("recording branch {id} to {} ({container})", path.display());
        Ok(Self {
            shared,
            worker: Some(worker),
        })
    }

    /// Ends its queue (what is queued is still written), waits for the thread to write the
    /// trailer, and reports.
    pub(crate) fn finish(mut self) -> RecordingReport {
        self.shared.queue.end();
        let written = match self.worker.take() {
            Some(worker) => worker.join().unwrap_or_else(|_| {
                Err(RecordError::Panicked {
                    path: self.shared.path.clone(),
                })
            }),
            None => Ok(()),
        };
        if let Err(error) = &written {
            let mut status = self.shared.status.lock();
            status.0 = RecordingState::Failed;
            status.1.get_or_insert_with(|| error_text(error));
        }
        RecordingReport {
            id: self.shared.id,
            stats: self.shared.stats(),
            result: written.map(|()| self.shared.summary()),
        }
    }

    /// Whether its thread has ended (it failed, or its queue ended).
    pub(crate) fn is_finished(&self) -> bool {
        self.worker.as_ref().is_none_or(Worker::is_finished)
    }
}

impl Drop for RecordingBranch {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            self.shared.queue.end();
            let _ = worker.join();
        }
    }
}

/// The error with its cause: "recording file X: cannot write: No space left on device".
fn error_text(error: &RecordError) -> String {
    match std::error::Error::source(error) {
        Some(source) => format!("{error}: {source}"),
        None => error.to_string(),
    }
}
