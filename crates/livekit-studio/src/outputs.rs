//! Outputs of a canvas: each is fed through its own [`Gate`] (a target the compositor's runner
//! writes to, counting frames, that a stop closes), so one output stops without touching the
//! others.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use livekit_core::{FrameTarget, Port, PushError, VideoFrame, VideoSource};
use livekit_sinks::{
    IpcTarget, RunningVirtualCamera, Viewer, ViewerSettings, VirtualCamera, VirtualCameraSettings,
};

use livekit_sinks::stream::{
    DestinationId, DestinationStats, RecordingId, RecordingReport, StreamReport,
};

use crate::command::OutputSpec;
use crate::encode::{CanvasEncode, destination_doc, recording_state, stream_state};
use crate::error::{CommandError, chain};
use crate::state::{DestinationStateDoc, OutputState};

/// Frames kept for an output's own thread (a virtual camera) before the oldest are dropped.
const OUTPUT_QUEUE: usize = 4;

/// The target the runner writes an output's frames to: counts them, and refuses them once the
/// output stopped (the runner then drops it).
pub(crate) struct Gate {
    inner: Arc<dyn FrameTarget<VideoFrame>>,
    closed: AtomicBool,
    frames: AtomicU64,
    /// After this many frames the inner target is ended.
    limit: u64,
    failed: parking_lot::Mutex<Option<String>>,
}

impl Gate {
    /// A gate that passes at most `limit` frames (then ends `inner`).
    pub(crate) fn new(inner: Arc<dyn FrameTarget<VideoFrame>>, limit: Option<u64>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            closed: AtomicBool::new(false),
            frames: AtomicU64::new(0),
            limit: limit.unwrap_or(u64::MAX),
            failed: parking_lot::Mutex::new(None),
        })
    }

    /// Whether it passed all the frames it may.
    pub(crate) fn reached_limit(&self) -> bool {
        self.frames() >= self.limit
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
        self.push_unless(frame, &AtomicBool::new(false))
    }

    fn push_unless(&self, frame: VideoFrame, stop: &AtomicBool) -> Result<(), PushError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(PushError::Closed);
        }
        if self.frames() >= self.limit {
            return Err(PushError::Ended);
        }
        match self.inner.push_unless(frame, stop) {
            Ok(()) => {
                if self.frames.fetch_add(1, Ordering::Relaxed) + 1 == self.limit {
                    self.inner.end();
                }
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
    /// A branch of the canvas's encode.
    Recording(RecordingId),
    /// Destinations of the canvas's encode.
    Stream(Vec<DestinationId>),
}

/// One output of a studio.
pub(crate) struct Output {
    pub(crate) id: String,
    pub(crate) canvas: String,
    /// Outputs fed by an input instead of a canvas: the input.
    pub(crate) input: Option<String>,
    pub(crate) spec: OutputSpec,
    pub(crate) state: OutputState,
    /// Outputs fed frames directly: their gate (encoded outputs are fed by the encode's).
    pub(crate) gate: Option<Arc<Gate>>,
    running: Running,
    /// The destinations as last reported (events on change).
    reported: Vec<DestinationStateDoc>,
    /// Once stopped: how its recording ended, and its destinations' final counters.
    pub(crate) final_recording: Option<RecordingReport>,
    pub(crate) final_destinations: Vec<DestinationStats>,
    /// Encoded outputs: the video encoder used (`libx264`, `h264_nvenc`, ...).
    pub(crate) video_encoder: Option<&'static str>,
    /// A virtual camera, once stopped: the frames it sent.
    pub(crate) sent_frames: Option<u64>,
    /// Encoded outputs: the serial of the encode they are a branch of.
    pub(crate) encode_serial: Option<u64>,
    /// Encoded outputs: the size encoded, and the encoder's final counters and drops.
    pub(crate) size: Option<(u32, u32)>,
    pub(crate) encoded: Option<livekit_sinks::EncoderStats>,
    pub(crate) encode_dropped: Option<u64>,
    /// Why its encoder stopped early, when that ended it.
    pub(crate) encoding_error: Option<String>,
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
        frame_limit: Option<u64>,
    ) -> Result<Self, CommandError> {
        let failed = |e: &dyn std::error::Error| CommandError::invalid_on("output", id, chain(e));
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
            OutputSpec::Record { .. } | OutputSpec::Stream { .. } | OutputSpec::Hls { .. } => {
                return Err(CommandError::invalid_on(
                    "output",
                    id,
                    "encoded outputs open through the canvas's encode",
                ));
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
            input: None,
            spec: spec.clone(),
            state: OutputState::Starting,
            gate: Some(Gate::new(target, frame_limit)),
            running,
            reported: Vec::new(),
            final_recording: None,
            final_destinations: Vec::new(),
            video_encoder: None,
            sent_frames: None,
            encode_serial: None,
            size: None,
            encoded: None,
            encode_dropped: None,
            encoding_error: None,
        })
    }

    /// An output of the canvas's encode (a recording or a stream), started by the caller.
    pub(crate) fn encoded(id: &str, canvas: &str, spec: &OutputSpec, running: Running) -> Self {
        Self {
            id: id.to_owned(),
            canvas: canvas.to_owned(),
            input: None,
            spec: spec.clone(),
            state: OutputState::Starting,
            gate: None,
            running,
            reported: Vec::new(),
            final_recording: None,
            final_destinations: Vec::new(),
            video_encoder: None,
            sent_frames: None,
            encode_serial: None,
            size: None,
            encoded: None,
            encode_dropped: None,
            encoding_error: None,
        }
    }

    /// Takes this output's part of its encode's final report.
    pub(crate) fn take_report(&mut self, report: &mut StreamReport) {
        match &self.running {
            Running::Recording(id) => {
                if let Some(index) = report.recordings.iter().position(|r| r.id == *id) {
                    self.final_recording = Some(report.recordings.remove(index));
                }
            }
            Running::Stream(ids) => {
                let (mine, others) = std::mem::take(&mut report.destinations)
                    .into_iter()
                    .partition(|d| ids.contains(&d.id));
                report.destinations = others;
                self.final_destinations
                    .extend::<Vec<DestinationStats>>(mine);
            }
            _ => {}
        }
        if self.is_running() {
            self.state = match (&self.final_recording, &self.running) {
                (Some(report), _) => recording_state(Some(&report.stats)),
                _ => OutputState::Stopped,
            };
        }
    }

    /// When its encoder stopped early: what it encoded was sent or written (a recording is
    /// finalized), but the output is over, and says why. Returns the error.
    pub(crate) fn encoding_failed(&mut self, encode: Option<&CanvasEncode>) -> Option<String> {
        let error = encode?.failure()?;
        if !self.is_encoded() {
            return None;
        }
        self.encoding_error = Some(error.to_owned());
        Some(error.to_owned())
    }

    /// Whether it is a branch of its canvas's encode.
    pub(crate) fn is_encoded(&self) -> bool {
        matches!(self.running, Running::Recording(_) | Running::Stream(_))
    }

    /// Whether it runs (starting or live).
    pub(crate) fn is_running(&self) -> bool {
        matches!(self.state, OutputState::Starting | OutputState::Live)
    }

    /// Its destinations now (streams), or as they ended.
    pub(crate) fn destinations(&self, encode: Option<&CanvasEncode>) -> Vec<DestinationStateDoc> {
        match (&self.running, encode) {
            (Running::Stream(ids), Some(encode)) if self.is_running() => encode
                .destinations(ids)
                .iter()
                .map(destination_doc)
                .collect(),
            _ => self
                .final_destinations
                .iter()
                .map(destination_doc)
                .collect(),
        }
    }

    /// The destinations whose state changed since the last call.
    pub(crate) fn changed_destinations(
        &mut self,
        encode: Option<&CanvasEncode>,
    ) -> Vec<DestinationStateDoc> {
        let now = self.destinations(encode);
        let changed = now
            .iter()
            .filter(|d| {
                !self
                    .reported
                    .iter()
                    .any(|r| r.name == d.name && r.state == d.state)
            })
            .cloned()
            .collect();
        self.reported = now;
        changed
    }

    /// Looks at the output; returns its new state when it changed.
    pub(crate) fn poll(&mut self, encode: Option<&CanvasEncode>) -> Option<OutputState> {
        if !self.is_running() {
            return None;
        }
        let failed = self
            .gate
            .as_ref()
            .and_then(|g| g.failed.lock().clone())
            .or_else(|| self.encoding_failed(encode));
        let state = if let Some(error) = failed {
            OutputState::Failed { error }
        } else {
            match (&self.running, encode) {
                (Running::Preview(viewer), _) if viewer.is_closed() => OutputState::Stopped,
                (
                    Running::VirtualCamera {
                        camera: Some(camera),
                        ..
                    },
                    _,
                ) if camera.is_finished() => OutputState::Failed {
                    error: "the virtual camera stopped".into(),
                },
                (Running::Recording(id), Some(encode)) => {
                    recording_state(encode.recording(*id).as_ref())
                }
                (Running::Stream(ids), Some(encode)) => stream_state(&encode.destinations(ids)),
                (Running::Recording(_) | Running::Stream(_), None) => OutputState::Stopped,
                _ if self.gate.as_ref().is_some_and(|g| g.reached_limit()) => {
                    // Every frame it may have was given: it finishes.
                    if let Err(error) = self.stop(None) {
                        tracing::warn!(output = %self.id, "{error}");
                    }
                    return Some(self.state.clone());
                }
                _ if self.frames(None) > 0 => OutputState::Live,
                _ => return None,
            }
        };
        if state == self.state {
            return None;
        }
        if !matches!(state, OutputState::Live | OutputState::Starting)
            && let Some(gate) = &self.gate
        {
            gate.close();
        }
        self.state = state.clone();
        Some(state)
    }

    /// Stops the output: its frames stop at once; a virtual camera's device is closed, a
    /// recording finalized, a stream's destinations send what they hold and close.
    pub(crate) fn stop(&mut self, encode: Option<&CanvasEncode>) -> Result<(), String> {
        if let Some(gate) = &self.gate {
            gate.close();
        }
        let result = match (&mut self.running, encode) {
            (Running::Preview(viewer), _) => {
                viewer.close();
                Ok(())
            }
            (Running::Ipc, _) => Ok(()),
            (Running::VirtualCamera { camera, port }, _) => {
                // What is queued still goes out, then the device is closed.
                port.end();
                match camera.take() {
                    Some(camera) => camera
                        .wait()
                        .map(|stats| self.sent_frames = Some(stats.frames))
                        .map_err(|e| e.to_string()),
                    None => Ok(()),
                }
            }
            (Running::Recording(id), Some(encode)) => {
                let report = encode.stop_recording(*id);
                let result = match &report {
                    Some(report) => report
                        .result
                        .as_ref()
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                    None => Ok(()),
                };
                self.final_recording = report;
                result
            }
            (Running::Stream(ids), Some(encode)) => {
                self.final_destinations = encode.stop_stream(ids);
                Ok(())
            }
            (Running::Recording(_) | Running::Stream(_), None) => Ok(()),
        };
        if !matches!(self.state, OutputState::Failed { .. }) {
            self.state = OutputState::Stopped;
        }
        result
    }

    /// A recording output's counters.
    pub(crate) fn recording(
        &self,
        encode: Option<&CanvasEncode>,
    ) -> Option<livekit_sinks::stream::RecordingStats> {
        match (&self.running, encode) {
            (Running::Recording(id), Some(encode)) if self.final_recording.is_none() => {
                encode.recording(*id)
            }
            _ => self.final_recording.as_ref().map(|r| r.stats.clone()),
        }
    }

    /// Frames it was given (encoded outputs: the canvas's encode's).
    pub(crate) fn frames(&self, encode: Option<&CanvasEncode>) -> u64 {
        match (&self.gate, encode) {
            (Some(gate), _) => gate.frames(),
            (None, Some(encode)) => encode.frames().0,
            (None, None) => 0,
        }
    }

    /// Frames the output dropped because it fell behind.
    pub(crate) fn dropped_frames(&self, encode: Option<&CanvasEncode>) -> u64 {
        match (&self.running, encode) {
            (Running::VirtualCamera { port, .. }, _) => port.dropped(),
            (Running::Preview(viewer), _) => viewer.stats().dropped,
            (Running::Recording(_) | Running::Stream(_), Some(encode)) => encode.dropped_frames(),
            _ => 0,
        }
    }
}
