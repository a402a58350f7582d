//! The pure render core: a scene model and a backend. No threads, clock or I/O: the caller
//! gives the time and the input frames, and gets one frame per canvas back. The runner
//! ([`Compositor::start`]) is what paces it, and it owns where the frames go (see
//! `targets.rs`): targets given here before the start only wait to be handed over.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use livekit_core::{MAX_DIMENSION, VideoFrame, VideoTarget};

/// The largest canvas side, in pixels: what GPUs render to (`max_texture_dimension_2d` is
/// 16384 on current hardware) and what fits in memory on the CPU backend (a 16384x16384 RGBA
/// canvas is 1 GiB).
pub const MAX_CANVAS_SIDE: u32 = 16384;

use crate::backend::{self, Backend, BackendChoice, BackendInfo, CreateBackendError, RenderError};
use crate::pattern;
use crate::plan::{self, Content, Draw, RenderJob};
use crate::scene::{
    CanvasId, CanvasSettings, InputId, InvalidLayer, Layer, LayerId, LayerSource, Transition,
    VideoInput,
};
use crate::targets::{Output, Targets};

/// The frames of the inputs for one render: the latest frame of each [`VideoInput`].
#[derive(Debug, Clone, Default)]
pub struct InputFrames {
    frames: HashMap<InputId, VideoFrame>,
}

impl InputFrames {
    /// No frames.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the frame of an input.
    pub fn insert(&mut self, input: InputId, frame: VideoFrame) {
        self.frames.insert(input, frame);
    }

    /// The frame of an input, if it has one.
    pub fn get(&self, input: InputId) -> Option<&VideoFrame> {
        self.frames.get(&input)
    }

    /// Forgets inputs not in `keep`.
    pub fn retain(&mut self, keep: impl Fn(InputId) -> bool) {
        self.frames.retain(|id, _| keep(*id));
    }
}

/// A change to the scenes could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SceneError {
    /// No canvas with this id.
    #[error("no canvas with id {0:?}")]
    UnknownCanvas(CanvasId),
    /// No scene of this name on the canvas.
    #[error("canvas {canvas}: no scene named {scene:?}")]
    UnknownScene {
        /// The canvas's name.
        canvas: String,
        /// The scene asked for.
        scene: String,
    },
    /// A scene of this name exists already.
    #[error("canvas {canvas}: a scene named {scene:?} exists already")]
    DuplicateScene {
        /// The canvas's name.
        canvas: String,
        /// The scene's name.
        scene: String,
    },
    /// No layer with this id.
    #[error("no {0}")]
    UnknownLayer(LayerId),
    /// The layer's numbers make no sense.
    #[error(transparent)]
    InvalidLayer(#[from] InvalidLayer),
    /// The canvas settings make no sense.
    #[error("canvas {canvas}: {reason}")]
    InvalidCanvas {
        /// The canvas's name.
        canvas: String,
        /// What is wrong.
        reason: String,
    },
}

struct LayerEntry {
    id: LayerId,
    layer: Layer,
    /// Text or a pattern drawn for this layer, and the key it was drawn for.
    cache: Option<(CacheKey, VideoFrame)>,
}

#[derive(Debug, Clone, PartialEq)]
enum CacheKey {
    Text(crate::text::Text),
    Pattern(crate::scene::TestPattern, u32, u32),
}

struct SceneState {
    name: String,
    layers: Vec<LayerEntry>,
}

struct Fade {
    from: usize,
    duration: Duration,
    start: Option<Duration>,
}

struct CanvasState {
    settings: CanvasSettings,
    scenes: Vec<SceneState>,
    active: usize,
    fade: Option<Fade>,
}

impl CanvasState {
    fn scene_index(&self, name: &str) -> Result<usize, SceneError> {
        self.scenes
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| SceneError::UnknownScene {
                canvas: self.settings.name.clone(),
                scene: name.to_owned(),
            })
    }
}

/// The compositor: canvases with their scenes and layers, and the backend that renders them.
///
/// Edit it directly while nothing runs it, or through a [`CompositorHandle`](crate::CompositorHandle)
/// from any thread once [`start`](Self::start)ed; a change shows in the next frame.
///
/// One frame of a canvas, rendered directly (no thread, no clock):
///
/// ```
/// use std::time::Duration;
/// use livekit_compositor::{BackendChoice, CanvasSettings, Color, Compositor, InputFrames, Layer};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut c = Compositor::new(BackendChoice::Cpu)?; // Auto: a GPU when there is one
/// let canvas = c.add_canvas(CanvasSettings::new(320, 180, 30))?;
/// c.add_layer(canvas, None, Layer::color(Color::rgb(0, 0, 200)))?;
/// c.add_layer(
///     canvas,
///     None,
///     Layer::color(Color::rgb(200, 0, 0)).rect(0.0, 0.0, 160.0, 180.0).z(1),
/// )?;
/// let frame = c.render_canvas(canvas, Duration::ZERO, &InputFrames::default())?;
/// assert_eq!(frame.rgba_at(10, 10), Some([200, 0, 0, 255]));
/// assert_eq!(frame.rgba_at(300, 10), Some([0, 0, 200, 255]));
/// # Ok(())
/// # }
/// ```
pub struct Compositor {
    canvases: Vec<CanvasState>,
    /// Behind its own lock, so that the runner renders without holding the scene's: an edit
    /// (a command, a read of the show) never waits for a frame to be drawn.
    backend: SharedBackend,
    info: BackendInfo,
    /// Targets given to [`add_target`](Self::add_target), not used here: the runner takes them
    /// ([`take_pending_targets`](Self::take_pending_targets)) when it starts, or after an edit.
    pending_targets: Targets,
}

impl std::fmt::Debug for Compositor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compositor")
            .field("backend", &self.info)
            .field("canvases", &self.canvases.len())
            .finish()
    }
}

/// The name of the scene every canvas starts with.
pub const MAIN_SCENE: &str = "main";

impl Compositor {
    /// A compositor rendering with `backend`, with no canvas yet.
    pub fn new(backend: BackendChoice) -> Result<Self, CreateBackendError> {
        let backend = backend::create(backend)?;
        Ok(Self {
            canvases: Vec::new(),
            info: backend.info(),
            backend: Arc::new(parking_lot::Mutex::new(backend)),
            pending_targets: Targets::default(),
        })
    }

    /// What renders the frames.
    pub fn backend(&self) -> BackendInfo {
        self.info.clone()
    }

    /// Adds a canvas with one empty scene, [`MAIN_SCENE`], active.
    pub fn add_canvas(&mut self, settings: CanvasSettings) -> Result<CanvasId, SceneError> {
        let invalid = |reason: String| SceneError::InvalidCanvas {
            canvas: settings.name.clone(),
            reason,
        };
        if settings.width == 0
            || settings.height == 0
            || settings.width > MAX_CANVAS_SIDE
            || settings.height > MAX_CANVAS_SIDE
        {
            return Err(invalid(format!(
                "size {}x{} must be between 1 and {MAX_CANVAS_SIDE} pixels each way",
                settings.width, settings.height
            )));
        }
        if settings.fps.num == 0 || settings.fps.den == 0 || settings.fps.as_f64() > 1000.0 {
            return Err(invalid(format!(
                "frame rate {} must be above 0 and at most 1000",
                settings.fps
            )));
        }
        self.canvases.push(CanvasState {
            settings,
            scenes: vec![SceneState {
                name: MAIN_SCENE.to_owned(),
                layers: Vec::new(),
            }],
            active: 0,
            fade: None,
        });
        Ok(CanvasId(self.canvases.len() - 1))
    }

    /// The canvases, in the order they were added.
    pub fn canvases(&self) -> Vec<CanvasId> {
        (0..self.canvases.len()).map(CanvasId).collect()
    }

    /// A canvas's settings.
    pub fn canvas(&self, canvas: CanvasId) -> Result<&CanvasSettings, SceneError> {
        Ok(&self.canvas_state(canvas)?.settings)
    }

    fn canvas_state(&self, canvas: CanvasId) -> Result<&CanvasState, SceneError> {
        self.canvases
            .get(canvas.0)
            .ok_or(SceneError::UnknownCanvas(canvas))
    }

    fn canvas_mut(&mut self, canvas: CanvasId) -> Result<&mut CanvasState, SceneError> {
        self.canvases
            .get_mut(canvas.0)
            .ok_or(SceneError::UnknownCanvas(canvas))
    }

    /// Sends a canvas's frames to `target` once the compositor runs ([`start`](Self::start)):
    /// a preview, a recorder, a port. A target that closes is dropped; one that fails is dropped
    /// with a warning naming `name`. ([`render`](Self::render) does not use targets.)
    ///
    /// The compositor only keeps the target until the runner takes it over, at `start` (or,
    /// called through [`CompositorHandle::edit`](crate::CompositorHandle::edit), when the edit
    /// returns); a running compositor's targets are the runner's.
    pub fn add_target(
        &mut self,
        canvas: CanvasId,
        name: impl Into<String>,
        target: Arc<dyn VideoTarget>,
    ) -> Result<(), SceneError> {
        self.canvas_state(canvas)?;
        self.pending_targets.add(
            canvas,
            Output {
                target,
                name: name.into(),
            },
        );
        Ok(())
    }

    /// The targets given to [`add_target`](Self::add_target) since the last call, for the
    /// runner to own.
    pub(crate) fn take_pending_targets(&mut self) -> Targets {
        std::mem::take(&mut self.pending_targets)
    }

    /// Adds an empty scene to a canvas.
    pub fn add_scene(&mut self, canvas: CanvasId, name: &str) -> Result<(), SceneError> {
        let state = self.canvas_mut(canvas)?;
        if state.scenes.iter().any(|s| s.name == name) {
            return Err(SceneError::DuplicateScene {
                canvas: state.settings.name.clone(),
                scene: name.to_owned(),
            });
        }
        state.scenes.push(SceneState {
            name: name.to_owned(),
            layers: Vec::new(),
        });
        Ok(())
    }

    /// The name of the scene a canvas shows (the one being faded to, during a fade).
    pub fn active_scene(&self, canvas: CanvasId) -> Result<&str, SceneError> {
        let state = self.canvas_state(canvas)?;
        Ok(&state.scenes[state.active].name)
    }

    /// Shows another scene, at once or by a fade starting at the next frame.
    pub fn switch_scene(
        &mut self,
        canvas: CanvasId,
        scene: &str,
        transition: Transition,
    ) -> Result<(), SceneError> {
        let state = self.canvas_mut(canvas)?;
        let index = state.scene_index(scene)?;
        if index == state.active {
            return Ok(());
        }
        state.fade = match transition {
            Transition::Fade(duration) if !duration.is_zero() => Some(Fade {
                from: state.active,
                duration,
                start: None,
            }),
            _ => None,
        };
        state.active = index;
        Ok(())
    }

    /// Adds a layer to a scene of a canvas (`None`: the active scene), in front of the layers
    /// with the same `z`.
    pub fn add_layer(
        &mut self,
        canvas: CanvasId,
        scene: Option<&str>,
        layer: Layer,
    ) -> Result<LayerId, SceneError> {
        layer.validate()?;
        let state = self.canvas_mut(canvas)?;
        let index = match scene {
            Some(name) => state.scene_index(name)?,
            None => state.active,
        };
        let id = LayerId::fresh();
        state.scenes[index].layers.push(LayerEntry {
            id,
            layer,
            cache: None,
        });
        Ok(id)
    }

    fn entry_mut(&mut self, id: LayerId) -> Result<&mut LayerEntry, SceneError> {
        self.canvases
            .iter_mut()
            .flat_map(|c| c.scenes.iter_mut())
            .flat_map(|s| s.layers.iter_mut())
            .find(|e| e.id == id)
            .ok_or(SceneError::UnknownLayer(id))
    }

    /// A layer's current settings.
    pub fn layer(&self, id: LayerId) -> Result<&Layer, SceneError> {
        self.canvases
            .iter()
            .flat_map(|c| c.scenes.iter())
            .flat_map(|s| s.layers.iter())
            .find(|e| e.id == id)
            .map(|e| &e.layer)
            .ok_or(SceneError::UnknownLayer(id))
    }

    /// Removes a layer and returns it.
    pub fn remove_layer(&mut self, id: LayerId) -> Result<Layer, SceneError> {
        for scene in self.canvases.iter_mut().flat_map(|c| c.scenes.iter_mut()) {
            if let Some(i) = scene.layers.iter().position(|e| e.id == id) {
                return Ok(scene.layers.remove(i).layer);
            }
        }
        Err(SceneError::UnknownLayer(id))
    }

    /// Changes a layer in place (move, restack, opacity, source, ...). If the result is not a
    /// valid layer, nothing changes and the error says why.
    pub fn update_layer(
        &mut self,
        id: LayerId,
        change: impl FnOnce(&mut Layer),
    ) -> Result<(), SceneError> {
        let entry = self.entry_mut(id)?;
        let mut layer = entry.layer.clone();
        change(&mut layer);
        layer.validate()?;
        entry.layer = layer;
        Ok(())
    }

    /// The live inputs the canvases' scenes use (each once), for the caller to read frames from.
    pub fn inputs(&self) -> Vec<VideoInput> {
        let mut inputs: Vec<VideoInput> = Vec::new();
        for entry in self
            .canvases
            .iter()
            .flat_map(|c| c.scenes.iter())
            .flat_map(|s| s.layers.iter())
        {
            if let LayerSource::Video(input) = &entry.layer.source
                && !inputs.iter().any(|i| i.id() == input.id())
            {
                inputs.push(input.clone());
            }
        }
        inputs
    }

    /// Renders every canvas at `time` (which also drives fades).
    pub fn render(
        &mut self,
        time: Duration,
        inputs: &InputFrames,
    ) -> Result<Vec<(CanvasId, VideoFrame)>, RenderError> {
        (0..self.canvases.len())
            .map(|i| Ok((CanvasId(i), self.render_canvas(CanvasId(i), time, inputs)?)))
            .collect()
    }

    /// Renders one canvas at `time`; the frame's pts is `time`.
    pub fn render_canvas(
        &mut self,
        canvas: CanvasId,
        time: Duration,
        inputs: &InputFrames,
    ) -> Result<VideoFrame, RenderError> {
        self.prepare_canvas(canvas, time, inputs)?.render()
    }

    /// What [`render_canvas`](Self::render_canvas) draws, taken from the scene (cheap: frames
    /// are shared, not copied), to be rendered later without the compositor: the runner
    /// renders it after letting go of the scene's lock.
    pub(crate) fn prepare_canvas(
        &mut self,
        canvas: CanvasId,
        time: Duration,
        inputs: &InputFrames,
    ) -> Result<PreparedFrame, RenderError> {
        let state = self
            .canvases
            .get_mut(canvas.0)
            .ok_or(RenderError::UnknownCanvas(canvas.0))?;
        let size = (state.settings.width, state.settings.height);

        // Fade progress; a finished fade is forgotten.
        let mut fade = None;
        if let Some(f) = &mut state.fade {
            let start = *f.start.get_or_insert(time);
            let t = time.saturating_sub(start).as_secs_f32() / f.duration.as_secs_f32();
            if t >= 1.0 {
                state.fade = None;
            } else {
                fade = Some((f.from, t));
            }
        }
        // Draw text and patterns that changed.
        let active = state.active;
        for index in [Some(active), fade.map(|f| f.0)].into_iter().flatten() {
            for entry in &mut state.scenes[index].layers {
                refresh_cache(entry, size);
            }
        }
        let state = &self.canvases[canvas.0];
        let draws = |index: usize| scene_draws(&state.scenes[index], inputs, size);
        let shown = draws(fade.map_or(active, |f| f.0));
        if fade.is_none()
            && let Some(frame) = passes_through(&shown, size)
        {
            return Ok(PreparedFrame::Done(frame.clone().with_pts(time)));
        }
        Ok(PreparedFrame::Job {
            backend: Arc::clone(&self.backend),
            canvas: state.settings.name.clone(),
            job: OwnedJob {
                width: size.0,
                height: size.1,
                background: plan::background(state.settings.background),
                draws: owned(&shown),
                fade: fade.map(|(_, t)| (owned(&draws(active)), t)),
                output: state.settings.output,
                pts: time,
            },
        })
    }
}

/// The backend, shared by the compositor and the frames it prepared.
type SharedBackend = Arc<parking_lot::Mutex<Box<dyn Backend>>>;

/// A canvas frame ready to be rendered: what the scene said at `prepare_canvas`, holding the
/// frames it draws (shared) but nothing of the compositor's.
pub(crate) enum PreparedFrame {
    /// Nothing to draw: one input frame fills the canvas as it is.
    Done(VideoFrame),
    /// Draws for the backend.
    Job {
        backend: SharedBackend,
        canvas: String,
        job: OwnedJob,
    },
}

impl PreparedFrame {
    /// Renders it (the backend's lock is held meanwhile, not the scene's).
    pub(crate) fn render(self) -> Result<VideoFrame, RenderError> {
        match self {
            Self::Done(frame) => Ok(frame),
            Self::Job {
                backend,
                canvas,
                job,
            } => {
                let job = RenderJob {
                    width: job.width,
                    height: job.height,
                    background: job.background,
                    draws: borrowed(&job.draws),
                    fade: job.fade.as_ref().map(|(d, t)| (borrowed(d), *t)),
                    output: job.output,
                    pts: job.pts,
                };
                backend.lock().render(&canvas, &job)
            }
        }
    }
}

/// A [`RenderJob`] that owns its frames (shared references to them).
pub(crate) struct OwnedJob {
    width: u32,
    height: u32,
    background: [u8; 4],
    draws: Vec<OwnedDraw>,
    fade: Option<(Vec<OwnedDraw>, f32)>,
    output: crate::scene::OutputFormat,
    pts: Duration,
}

/// A [`Draw`] that owns its frame.
struct OwnedDraw {
    frame: Option<VideoFrame>,
    solid: [u8; 4],
    quad: plan::Quad,
    src: [f32; 4],
    clamp: [f32; 4],
    opacity: f32,
}

impl OwnedDraw {
    fn draw(&self) -> Draw<'_> {
        Draw {
            content: match &self.frame {
                Some(frame) => Content::Frame(frame),
                None => Content::Solid(self.solid),
            },
            quad: self.quad,
            src: self.src,
            clamp: self.clamp,
            opacity: self.opacity,
        }
    }
}

fn borrowed(draws: &[OwnedDraw]) -> Vec<Draw<'_>> {
    draws.iter().map(OwnedDraw::draw).collect()
}

fn owned(draws: &[Draw<'_>]) -> Vec<OwnedDraw> {
    draws
        .iter()
        .map(|d| {
            let (frame, solid) = match d.content {
                Content::Frame(frame) => (Some(frame.clone()), [0; 4]),
                Content::Solid(colour) => (None, colour),
            };
            OwnedDraw {
                frame,
                solid,
                quad: d.quad,
                src: d.src,
                clamp: d.clamp,
                opacity: d.opacity,
            }
        })
        .collect()
}

fn refresh_cache(entry: &mut LayerEntry, canvas: (u32, u32)) {
    let key = match &entry.layer.source {
        LayerSource::Text(text) => CacheKey::Text(text.clone()),
        LayerSource::Pattern(p) => {
            let (w, h) = match entry.layer.rect {
                Some(r) => (r.w.round().max(1.0) as u32, r.h.round().max(1.0) as u32),
                None => canvas,
            };
            CacheKey::Pattern(*p, w.min(MAX_DIMENSION), h.min(MAX_DIMENSION))
        }
        _ => {
            entry.cache = None;
            return;
        }
    };
    if entry.cache.as_ref().is_some_and(|(k, _)| *k == key) {
        return;
    }
    let frame = match &key {
        CacheKey::Text(text) => text.render(),
        CacheKey::Pattern(p, w, h) => pattern::render(*p, *w, *h),
    };
    entry.cache = Some((key, frame));
}

/// The picture a canvas shows as it is, if its draws are one opaque YUV picture of the
/// canvas's size covering it exactly (not moved, cropped, scaled, turned, flipped or faded):
/// a file or a capture sent alone. It is then the canvas's frame, not rendered (O(1), in its
/// own pixel format: every target takes any format).
fn passes_through<'a>(draws: &[Draw<'a>], (width, height): (u32, u32)) -> Option<&'a VideoFrame> {
    let [draw] = draws else { return None };
    let Content::Frame(frame) = draw.content else {
        return None;
    };
    let (w, h) = (width as f32, height as f32);
    let q = draw.quad;
    let exact = frame.width() == width
        && frame.height() == height
        && !frame.format().has_alpha()
        && draw.opacity >= 1.0
        && q.cos == 1.0
        && q.sin == 0.0
        && q.cx == w / 2.0
        && q.cy == h / 2.0
        && q.hw == w / 2.0
        && q.hh == h / 2.0
        && draw.src == [0.0, 0.0, w, h]
        && draw.clamp == [0.0, 0.0, w, h];
    exact.then_some(frame)
}

/// The draws of a scene, bottom to top.
fn scene_draws<'a>(
    scene: &'a SceneState,
    inputs: &'a InputFrames,
    canvas: (u32, u32),
) -> Vec<Draw<'a>> {
    let mut order: Vec<&LayerEntry> = scene.layers.iter().filter(|e| e.layer.visible).collect();
    // Stable: equal z keeps insertion order.
    order.sort_by_key(|e| e.layer.z);
    order
        .into_iter()
        .filter_map(|entry| {
            let content = match &entry.layer.source {
                LayerSource::Video(input) => Content::Frame(inputs.get(input.id())?),
                LayerSource::Color(color) => Content::Solid(color.to_array()),
                LayerSource::Image(frame) => Content::Frame(frame),
                LayerSource::Text(_) | LayerSource::Pattern(_) => {
                    Content::Frame(&entry.cache.as_ref()?.1)
                }
            };
            plan::layer_draw(&entry.layer, content, canvas, 1.0)
        })
        .collect()
}
