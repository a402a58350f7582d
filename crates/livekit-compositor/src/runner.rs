//! The runner: a named thread that ticks each canvas at its frame rate on a [`Clock`], reads
//! the latest frame of every input, renders, and writes each canvas's frame to its targets,
//! which it owns (a [`Targets`] next to the [`Compositor`], under the same lock).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use livekit_core::thread::{SpawnError, Worker, WorkerPanicked, spawn_named};
use livekit_core::{Clock, FrameSource, FrameTarget, Pull, VideoTarget};
use parking_lot::Mutex;

use crate::compositor::{Compositor, InputFrames, SceneError};
use crate::scene::{CanvasId, Layer, LayerId, Rect, Transition};
use crate::targets::{Output, Targets, push_to_all};

/// What the handles and the thread share.
struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
    rendered: AtomicU64,
    render_nanos: AtomicU64,
    late: AtomicU64,
    render_errors: AtomicU64,
}

/// The scenes and where their frames go, changed together between two frames.
struct State {
    compositor: Compositor,
    /// Each canvas's targets: the runner's, never the compositor's.
    targets: Targets,
}

impl State {
    /// Takes over the targets added to the compositor itself (before the start, or in an
    /// edit).
    fn adopt_pending_targets(&mut self) {
        let pending = self.compositor.take_pending_targets();
        if !pending.is_empty() {
            self.targets.append(pending);
        }
    }
}

/// A cheap-to-clone handle that edits a running compositor from any thread. Every change shows
/// in the next frame rendered.
#[derive(Clone)]
pub struct CompositorHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for CompositorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompositorHandle").finish_non_exhaustive()
    }
}

impl CompositorHandle {
    /// Runs `edit` on the compositor (between two frames) and returns what it returns. Use it for
    /// anything the shortcuts below do not cover.
    pub fn edit<R>(&self, edit: impl FnOnce(&mut Compositor) -> R) -> R {
        let mut state = self.shared.state.lock();
        let result = edit(&mut state.compositor);
        // `Compositor::add_target` called in the edit.
        state.adopt_pending_targets();
        result
    }

    /// Adds a layer to a canvas's active scene.
    pub fn add_layer(&self, canvas: CanvasId, layer: Layer) -> Result<LayerId, SceneError> {
        self.edit(|c| c.add_layer(canvas, None, layer))
    }

    /// Removes a layer.
    pub fn remove_layer(&self, layer: LayerId) -> Result<Layer, SceneError> {
        self.edit(|c| c.remove_layer(layer))
    }

    /// Changes a layer (see [`Compositor::update_layer`]).
    pub fn update_layer(
        &self,
        layer: LayerId,
        change: impl FnOnce(&mut Layer),
    ) -> Result<(), SceneError> {
        self.edit(|c| c.update_layer(layer, change))
    }

    /// Moves or resizes a layer.
    pub fn set_rect(&self, layer: LayerId, rect: Rect) -> Result<(), SceneError> {
        self.update_layer(layer, |l| l.rect = Some(rect))
    }

    /// Restacks a layer.
    pub fn set_z(&self, layer: LayerId, z: i32) -> Result<(), SceneError> {
        self.update_layer(layer, |l| l.z = z)
    }

    /// Changes a layer's opacity.
    pub fn set_opacity(&self, layer: LayerId, opacity: f32) -> Result<(), SceneError> {
        self.update_layer(layer, |l| l.opacity = opacity)
    }

    /// Shows or hides a layer.
    pub fn set_visible(&self, layer: LayerId, visible: bool) -> Result<(), SceneError> {
        self.update_layer(layer, |l| l.visible = visible)
    }

    /// Switches a canvas to another scene.
    pub fn switch_scene(
        &self,
        canvas: CanvasId,
        scene: &str,
        transition: Transition,
    ) -> Result<(), SceneError> {
        self.edit(|c| c.switch_scene(canvas, scene, transition))
    }

    /// Sends a canvas's frames to `target` too (a preview, a recorder, a port). A target that
    /// closes is dropped; one that fails is dropped with a warning naming `name`.
    pub fn add_target(
        &self,
        canvas: CanvasId,
        name: impl Into<String>,
        target: Arc<dyn VideoTarget>,
    ) -> Result<(), SceneError> {
        let mut state = self.shared.state.lock();
        // Checks the canvas.
        state.compositor.canvas(canvas)?;
        state.targets.add(
            canvas,
            Output {
                target,
                name: name.into(),
            },
        );
        Ok(())
    }

    /// Frames rendered so far, frames skipped because rendering fell behind the clock, and
    /// renders that failed.
    pub fn stats(&self) -> RunStats {
        RunStats {
            rendered: self.shared.rendered.load(Ordering::Relaxed),
            render_time: Duration::from_nanos(self.shared.render_nanos.load(Ordering::Relaxed)),
            late: self.shared.late.load(Ordering::Relaxed),
            render_errors: self.shared.render_errors.load(Ordering::Relaxed),
        }
    }
}

/// Counters of a running compositor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunStats {
    /// Canvas frames rendered.
    pub rendered: u64,
    /// Wall time spent rendering them (reading inputs and drawing), summed: divided by
    /// `rendered`, the time a frame takes.
    pub render_time: Duration,
    /// Canvas frames skipped because rendering fell behind the clock.
    pub late: u64,
    /// Renders that failed (each logged).
    pub render_errors: u64,
}

/// A compositor running on its own thread. [`stop`](Self::stop) (or dropping it) ends every
/// target's stream and joins the thread.
pub struct RunningCompositor {
    handle: CompositorHandle,
    worker: Option<Worker<()>>,
}

impl std::fmt::Debug for RunningCompositor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningCompositor").finish_non_exhaustive()
    }
}

impl RunningCompositor {
    /// A handle for changing scenes and adding targets.
    pub fn handle(&self) -> CompositorHandle {
        self.handle.clone()
    }

    /// Stops: ends the targets' streams and waits for the thread.
    pub fn stop(mut self) -> Result<RunStats, WorkerPanicked> {
        self.shutdown()?;
        Ok(self.handle.stats())
    }

    fn shutdown(&mut self) -> Result<(), WorkerPanicked> {
        self.handle.shared.stop.store(true, Ordering::SeqCst);
        match self.worker.take() {
            Some(worker) => worker.join(),
            None => Ok(()),
        }
    }
}

impl Drop for RunningCompositor {
    fn drop(&mut self) {
        if let Err(error) = self.shutdown() {
            tracing::error!("{error}");
        }
    }
}

impl Compositor {
    /// Starts rendering on a thread named `livekit.compositor`, each canvas at its frame rate
    /// on `clock` (frame `n` of a canvas is due at `start + n / fps`, its pts is `n / fps`).
    /// When rendering falls behind, late frames are skipped (and counted), never queued. The
    /// targets given to [`add_target`](Self::add_target) go to the runner.
    pub fn start(
        self,
        clock: Arc<dyn Clock>,
    ) -> Result<RunningCompositor, SpawnError<std::convert::Infallible>> {
        let mut state = State {
            compositor: self,
            targets: Targets::default(),
        };
        state.adopt_pending_targets();
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            stop: AtomicBool::new(false),
            rendered: AtomicU64::new(0),
            render_nanos: AtomicU64::new(0),
            late: AtomicU64::new(0),
            render_errors: AtomicU64::new(0),
        });
        let worker_shared = Arc::clone(&shared);
        let start = clock.now();
        let worker = spawn_named(THREAD_NAME, move || {
            run(&worker_shared, &*clock, start);
        })?;
        Ok(RunningCompositor {
            handle: CompositorHandle { shared },
            worker: Some(worker),
        })
    }
}

/// The name of the runner's thread.
const THREAD_NAME: &str = "livekit.compositor";

/// How long a wait for the next frame lasts before checking for a stop.
const STOP_POLL: Duration = Duration::from_millis(20);

fn run(shared: &Shared, clock: &dyn Clock, start: Duration) {
    // Next frame index per canvas.
    let mut next: HashMap<CanvasId, u64> = HashMap::new();
    let mut frames = InputFrames::new();
    while !shared.stop.load(Ordering::SeqCst) {
        let canvases: Vec<_> = {
            let state = shared.state.lock();
            let c = &state.compositor;
            c.canvases()
                .into_iter()
                .filter_map(|id| c.canvas(id).ok().map(|s| (id, s.fps)))
                .collect()
        };
        // The canvas due first.
        let Some((canvas, fps, index)) = canvases
            .iter()
            .map(|&(id, fps)| {
                // A canvas added while running starts at the current frame, not at the
                // runner's first (those frames were never due: they are not late).
                let first = || fps.frame_index(clock.now().saturating_sub(start));
                (id, fps, *next.entry(id).or_insert_with(first))
            })
            .min_by_key(|&(_, fps, index)| fps.frame_time(index))
        else {
            clock.wait_until(clock.now() + STOP_POLL, STOP_POLL);
            continue;
        };
        let due = start + fps.frame_time(index);
        if !clock.wait_until(due, STOP_POLL) {
            continue;
        }
        // Skip frames whose time has passed already (more than one frame late).
        let now = clock.now().saturating_sub(start);
        let current = fps.frame_index(now);
        if current > index {
            shared.late.fetch_add(current - index, Ordering::Relaxed);
        }
        let index = index.max(current);
        next.insert(canvas, index + 1);
        let pts = fps.frame_time(index);

        let render_started = Instant::now();
        // The scene's lock is held to read the scene and the inputs, not while drawing.
        let (prepared, targets) = {
            let mut state = shared.state.lock();
            let inputs = state.compositor.inputs();
            for input in &inputs {
                // Ended inputs keep showing their last frame.
                if let Pull::Frame(frame) = input.source().latest() {
                    frames.insert(input.id(), frame);
                }
            }
            frames.retain(|id| inputs.iter().any(|i| i.id() == id));
            (
                state.compositor.prepare_canvas(canvas, pts, &frames),
                state.targets.of(canvas),
            )
        };
        let rendered = prepared.and_then(crate::compositor::PreparedFrame::render);
        shared.render_nanos.fetch_add(
            render_started.elapsed().as_nanos() as u64,
            Ordering::Relaxed,
        );
        match rendered {
            Ok(frame) => {
                shared.rendered.fetch_add(1, Ordering::Relaxed);
                // Pushed without the lock: a target may block (its own policy).
                let gone = targets.map_or_else(Vec::new, |targets| push_to_all(&targets, &frame));
                if !gone.is_empty() {
                    shared.state.lock().targets.remove(canvas, &gone);
                }
            }
            Err(error) => {
                if shared.render_errors.fetch_add(1, Ordering::Relaxed) < 10 {
                    tracing::error!("{error}");
                }
            }
        }
    }
    let targets = shared.state.lock().targets.take_all();
    for Output { target, .. } in targets {
        target.end();
    }
}
