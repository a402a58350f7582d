//! Named worker threads that report their start-up result to the caller.
//!
//! Every thread of the library starts through [`spawn_worker`]: it has a name (shown by
//! debuggers, `top -H` and panics), runs inside a `tracing` span of that name, and its start-up
//! (opening a device, a file, a connection) finishes before `spawn_worker` returns, so the
//! caller gets the error instead of a thread that died silently.

use std::thread::JoinHandle;

/// Why a worker did not start.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError<E> {
    /// The operating system refused to create the thread.
    #[error("could not create thread {name}")]
    Os {
        /// The thread's name.
        name: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The worker's start-up returned an error.
    #[error("thread {name} failed to start")]
    Start {
        /// The thread's name.
        name: String,
        /// The start-up error.
        #[source]
        source: E,
    },
    /// The worker panicked during start-up.
    #[error("thread {name} panicked while starting")]
    Panicked {
        /// The thread's name.
        name: String,
    },
}

impl<E> SpawnError<E> {
    /// The start-up error, if that is what this is.
    pub fn into_start_error(self) -> Option<E> {
        match self {
            Self::Start { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A worker thread panicked.
#[derive(Debug, thiserror::Error)]
#[error("thread {name} panicked")]
pub struct WorkerPanicked {
    /// The thread's name.
    pub name: String,
}

/// A running worker thread; [`join`](Self::join) waits for its result. Dropping it detaches
/// the thread.
#[derive(Debug)]
pub struct Worker<R> {
    name: String,
    // `None` only when start-up failed, and then no `Worker` is handed out.
    handle: JoinHandle<Option<R>>,
}

impl<R> Worker<R> {
    /// The thread's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the thread has finished.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Waits for the thread to finish and returns what it returned.
    pub fn join(self) -> Result<R, WorkerPanicked> {
        match self.handle.join() {
            Ok(Some(result)) => Ok(result),
            _ => Err(WorkerPanicked { name: self.name }),
        }
    }
}

/// Starts a named thread that first runs `start` and then, if that succeeded, `run` with what
/// `start` returned. Returns once `start` has finished: with its error if it failed.
///
/// ```
/// use livekit_core::thread::spawn_worker;
///
/// let worker = spawn_worker("doubler", || Ok::<_, std::io::Error>(21), |x| x * 2).unwrap();
/// assert_eq!(worker.join().unwrap(), 42);
///
/// let failed = spawn_worker("opener", || std::fs::File::open("/no/such/file"), |_f| ());
/// let error = failed.unwrap_err();
/// assert_eq!(error.to_string(), "thread opener failed to start");
/// assert_eq!(error.into_start_error().unwrap().kind(), std::io::ErrorKind::NotFound);
/// ```
pub fn spawn_worker<S, E, R>(
    name: impl Into<String>,
    start: impl FnOnce() -> Result<S, E> + Send + 'static,
    run: impl FnOnce(S) -> R + Send + 'static,
) -> Result<Worker<R>, SpawnError<E>>
where
    E: Send + 'static,
    R: Send + 'static,
{
    let name = name.into();
    // Zero capacity: the worker hands its start-up result straight to the caller.
    let (started_tx, started_rx) = crossbeam_channel::bounded::<Result<(), E>>(0);
    let span_name = name.clone();
    let handle = std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let span = tracing::info_span!("worker", name = %span_name);
            let _entered = span.enter();
            match start() {
                Ok(state) => {
                    // The caller is waiting in `recv`; if it is gone there is nobody to tell.
                    let _ = started_tx.send(Ok(()));
                    drop(started_tx);
                    Some(run(state))
                }
                Err(error) => {
                    let _ = started_tx.send(Err(error));
                    None
                }
            }
        })
        .map_err(|source| SpawnError::Os {
            name: name.clone(),
            source,
        })?;
    match started_rx.recv() {
        Ok(Ok(())) => Ok(Worker { name, handle }),
        Ok(Err(source)) => Err(SpawnError::Start { name, source }),
        Err(_) => Err(SpawnError::Panicked { name }),
    }
}

/// Starts a named thread running `run`, for workers with nothing to report at start-up.
pub fn spawn_named<R: Send + 'static>(
    name: impl Into<String>,
    run: impl FnOnce() -> R + Send + 'static,
) -> Result<Worker<R>, SpawnError<std::convert::Infallible>> {
    spawn_worker(name, || Ok(()), move |()| run())
}
