//! [`pipe`]: a named thread that moves frames from a source to a target.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::port::{FrameSource, FrameTarget, Pull, PushError};
use crate::thread::{SpawnError, Worker, WorkerPanicked, spawn_named};

/// How often a waiting pipe checks whether it was asked to stop.
const POLL: Duration = Duration::from_millis(50);

/// Why a pipe stopped.
#[derive(Debug, Clone)]
pub enum PipeEnd {
    /// The source ended; end-of-stream was passed on to the target.
    SourceEnded,
    /// [`Pipe::stop`] was called; end-of-stream was written to the target.
    Stopped,
    /// The target refused a frame (closed, ended or failed).
    Target(PushError),
}

/// What a pipe did.
#[derive(Debug, Clone)]
pub struct PipeReport {
    /// Frames moved.
    pub frames: u64,
    /// Why it stopped.
    pub end: PipeEnd,
}

/// A running [`pipe`].
#[derive(Debug)]
pub struct Pipe {
    worker: Worker<PipeReport>,
    stop: Arc<AtomicBool>,
}

impl Pipe {
    /// Waits for the source to end (or the target to refuse) and returns the report.
    pub fn join(self) -> Result<PipeReport, WorkerPanicked> {
        self.worker.join()
    }

    /// Asks the pipe to stop after the frame in hand, then waits for it. (A push blocked on a
    /// full target waits until the target's reader makes room or closes it.)
    pub fn stop(self) -> Result<PipeReport, WorkerPanicked> {
        self.stop.store(true, Ordering::Relaxed);
        self.worker.join()
    }

    /// Whether the pipe has finished.
    pub fn is_finished(&self) -> bool {
        self.worker.is_finished()
    }
}

/// Starts a thread named `name` that reads `source` in order ([`FrameSource::next`]) and
/// pushes every frame into `target`, until the source ends (end-of-stream is passed on), the
/// target refuses, or [`Pipe::stop`].
pub fn pipe<T, S, D>(
    name: impl Into<String>,
    source: S,
    target: D,
) -> Result<Pipe, SpawnError<Infallible>>
where
    T: Send + 'static,
    S: FrameSource<T> + 'static,
    D: FrameTarget<T> + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = stop.clone();
    let worker = spawn_named(name, move || {
        let mut frames = 0;
        let end = loop {
            if stop_flag.load(Ordering::Relaxed) {
                target.end();
                break PipeEnd::Stopped;
            }
            match source.next(POLL) {
                Pull::Frame(frame) => match target.push(frame) {
                    Ok(()) => frames += 1,
                    Err(error) => break PipeEnd::Target(error),
                },
                Pull::Pending => {}
                Pull::Ended => {
                    target.end();
                    break PipeEnd::SourceEnded;
                }
            }
        };
        tracing::debug!(frames, ?end, "pipe finished");
        PipeReport { frames, end }
    })?;
    Ok(Pipe { worker, stop })
}
