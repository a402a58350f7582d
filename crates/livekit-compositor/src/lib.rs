//! # livekit-compositor
//!
//! Scene compositing, as in OBS: canvases of layers (live sources, colours, text, pictures,
//! test patterns) rendered on the GPU with wgpu, or on a fast multi-threaded CPU backend on
//! machines without a hardware GPU.
//!
//! - [`Compositor`] is the pure core: a scene model and a backend; [`Compositor::render`] takes
//!   the time and one frame per input and returns one frame per canvas. No threads or clock.
//! - [`Compositor::start`] runs it on a thread, each canvas at its frame rate on a
//!   [`Clock`](livekit_core::Clock), writing to the canvas's targets; a [`CompositorHandle`]
//!   changes the scenes from any thread, and the change shows in the next frame.
//!
//! ## Colour
//! Blending is done on sRGB-encoded values (not linear light), as OBS, GStreamer and FFmpeg do
//! by default: `out = src * a + dst * (1 - a)` with `a` the source alpha times the layer's
//! opacity. Canvases are opaque. YUV inputs are converted with the matrix and range their pixel
//! format names; YUV outputs use the colour space their [`OutputFormat`] names.
//!
//! Depends on `livekit-core` only.

mod backend;
mod color;
mod compositor;
mod cpu;
mod gpu;
mod pattern;
mod plan;
mod pools;
mod runner;
mod scene;
mod scene_file;
mod targets;
mod text;

pub use backend::{BackendChoice, BackendInfo, BackendKind, CreateBackendError, RenderError};
pub use color::{Color, ParseColorError};
pub use compositor::{Compositor, InputFrames, MAIN_SCENE, MAX_CANVAS_SIDE, SceneError};
pub use pattern::render as render_pattern;
pub use runner::{CompositorHandle, RunStats, RunningCompositor};
pub use scene::{
    Align, CanvasId, CanvasSettings, Crop, Fit, Fps, InputId, InvalidLayer, Layer, LayerId,
    LayerSource, OutputFormat, Rect, TestPattern, Transition, VideoInput,
};
pub use scene_file::{
    AudioSourceSpec, AudioSpec, LayerSpec, SceneFile, SceneFileError, SceneTable, SourceSpec,
};
pub use text::{MAX_TEXT_CHARS, MAX_TEXT_SIZE, Text};
