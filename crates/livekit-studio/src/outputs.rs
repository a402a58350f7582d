//! Outputs of a canvas: each is fed through its own [`Gate`] (a target the compositor's runner
//! writes to, counting frames, that a stop closes), so one output stops without touching the
//! others.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use livekit_core::{FrameTarget, Port, PushError, VideoFrame, VideoSource};
use livekit_sinks::{
    IpcTarget, RunningVirtualCamera, Viewer, ViewerSettings, VirtualCamera, VirtualCameraSettings,
};

use crate::command::OutputSpec;
use crate::error::CommandError;
use crate::state::OutputState;

/// Frames kept for an output's own thread (a virtual camera) before the oldest are dropped.
const OUTPUT_QUEUE: usize = 4;

/// The target the runner writes an output's frames to: counts them, and refuses them once the
/// output stopped (the runner then drops it).
pub(crate) struct Gate {
    inner: Arc<dyn FrameTarget<VideoFrame>>,
    closed: AtomicBool,
    frames: AtomicU64,
    failed: parking_lot::Mutex<Option<String>>,
}

impl Gate {
    fn new(inner: Arc<dyn FrameTarget<VideoFrame>>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            closed: AtomicBool::new(false),
            frames: AtomicU64::new(0),
            failed: parking_lot::Mutex::new(None),
        })
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    pub(crate) fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }
}

impl FrameTarget<VideoFrame> for Gate {
    fn push(&self, frame: VideoFrame) -> Result<(), PushError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(PushError::Closed);
        }
        match self.inner.push(frame) {
            Ok(()) => {
                self.frames.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(error) => {
                self.failed.lock().get_or_insert_with(|| error.to_string());
                Err(error)
            }
        }
    }

    fn end(&self) {
        self.inner.end();
    }
}

/// What runs an output.
pub(crate) enum Running {
    Preview(Arc<Viewer>),
    Ipc,
    VirtualCamera {
        camera: Option<RunningVirtualCamera>,
        port: Arc<Port<VideoFrame>>,
    },
}

/// One output of a studio.
pub(crate) struct Output {
    pub(crate) id: String,
    pub(crate) canvas: String,
    pub(crate) spec: OutputSpec,
    pub(crate) state: OutputState,
    pub(crate) gate: Arc<Gate>,
    running: Running,
}

impl Output {
    /// Opens the output `spec` names for a canvas of this size and frame rate; the caller hands
    /// the gate to the compositor.
    pub(crate) fn open(
        id: &str,
        canvas: &str,
        spec: &OutputSpec,
        size: (u32, u32),
        fps: (u32, u32),
        studio_name: &str,
    ) -> Result<Self, CommandError> {
        let failed =
            |e: &dyn std::fmt::Display| CommandError::invalid(format!("output {id:?}: {e}"));
        let (running, target): (Running, Arc<dyn FrameTarget<VideoFrame>>) = match spec {
            OutputSpec::Preview { title } => {
                let viewer = Arc::new(
                    Viewer::open(ViewerSettings {
                        title: title
                            .clone()
                            .unwrap_or_else(|| format!("{studio_name}: {canvas}")),
                        width: size.0.min(1280),
                        height: size.1.min(720),
                        ..ViewerSettings::default()
                    })
                    .map_err(|e| failed(&e))?,
                );
                (Running::Preview(viewer.clone()), viewer)
            }
            OutputSpec::Ipc { name } => {
                let target = IpcTarget::create(name).map_err(|e| failed(&e))?;
                (Running::Ipc, Arc::new(target))
            }
            OutputSpec::VirtualCamera { device } => {
                let port = Arc::new(Port::drop_oldest(OUTPUT_QUEUE));
                let settings = VirtualCameraSettings {
                    frame_rate: fps,
                    ..VirtualCameraSettings::new(device.clone(), size.0, size.1)
                };
                let camera = VirtualCamera::start(settings, port.clone() as Arc<dyn VideoSource>)
                    .map_err(|e| failed(&e))?;
                (
                    Running::VirtualCamera {
                        camera: Some(camera),
                        port: port.clone(),
                    },
                    port,
                )
            }
        };
        Ok(Self {
            id: id.to_owned(),
            canvas: canvas.to_owned(),
            spec: spec.clone(),
            state: OutputState::Starting,
            gate: Gate::new(target),
            running,
        })
    }

    /// Looks at the output; returns its new state when it changed.
    pub(crate) fn poll(&mut self) -> Option<OutputState> {
        if matches!(
            self.state,
            OutputState::Stopped | OutputState::Failed { .. }
        ) {
            return None;
        }
        let state = if let Some(error) = self.gate.failed.lock().clone() {
            OutputState::Failed { error }
        } else {
            match &self.running {
                Running::Preview(viewer) if viewer.is_closed() => OutputState::Stopped,
                Running::VirtualCamera {
                    camera: Some(camera),
                    ..
                } if camera.is_finished() => OutputState::Failed {
                    error: "the virtual camera stopped".into(),
                },
                _ if self.gate.frames() > 0 => OutputState::Live,
                _ => return None,
            }
        };
        if state == self.state {
            return None;
        }
        if !matches!(state, OutputState::Live) {
            self.gate.close();
        }
        self.state = state.clone();
        Some(state)
    }

    /// Stops the output (its frames stop at once; a virtual camera's device is closed).
    pub(crate) fn stop(&mut self) -> Result<(), String> {
        self.gate.close();
        let result = match &mut self.running {
            Running::Preview(viewer) => {
                viewer.close();
                Ok(())
            }
            Running::Ipc => Ok(()),
            Running::VirtualCamera { camera, port } => {
                port.end();
                match camera.take() {
                    Some(camera) => camera.stop().map(|_| ()).map_err(|e| e.to_string()),
                    None => Ok(()),
                }
            }
        };
        if !matches!(self.state, OutputState::Failed { .. }) {
            self.state = OutputState::Stopped;
        }
        result
    }

    /// Frames the output dropped because it fell behind.
    pub(crate) fn dropped_frames(&self) -> u64 {
        match &self.running {
            Running::VirtualCamera { port, .. } => port.dropped(),
            Running::Preview(viewer) => viewer.stats().dropped,
            Running::Ipc => 0,
        }
    }
}
