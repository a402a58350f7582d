//! [`Studio`]: the show. Every change goes through [`Studio::apply`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use livekit_compositor::{
    BackendChoice, BackendInfo, CanvasId, CanvasSettings, Compositor, CompositorHandle, Crop,
    Layer, LayerId, Rect, RunningCompositor, Transition,
};
use livekit_core::thread::{Worker, spawn_named};
use livekit_core::{Clock, Port, SystemClock, VideoFrame, VideoTarget};
use livekit_sinks::stream::SiteConfig;
use livekit_sinks::{EncoderSettings, RecorderSettings, StreamerSettings};
use parking_lot::Mutex;

use crate::audio::{Program, decibels};
use crate::command::{
    API_VERSION, AudioSettings, Command, InputSpec, LayerFields, MAIN_CANVAS, MAIN_SCENE,
    OutputSpec, TransitionSpec, WhenFailed,
};
use crate::encode::CanvasEncode;
use crate::error::CommandError;
use crate::events::{DEFAULT_EVENT_CAPACITY, Event, Hub, Subscription, ViewerChange};
use crate::inputs::{self, Input, Running};
use crate::outputs::{self, Output};
use crate::state::{
    CanvasDoc, InputDoc, OutputDoc, OutputReport, RecordingDoc, SceneDoc, Stats, StudioReport,
    StudioState,
};
use crate::webrtc::{Profile, ViewerDoc};

/// How often the studio looks at its inputs and outputs for state changes.
const POLL: Duration = Duration::from_millis(50);

/// Settings of a [`Studio`].
#[derive(Debug, Clone)]
pub struct StudioSettings {
    /// The studio's name (window titles, messages). Default `"livekit studio"`.
    pub name: String,
    /// Where canvases are rendered. Default [`BackendChoice::Auto`].
    pub backend: BackendChoice,
    /// The clock everything runs on: canvases, players, captures, the audio mix. Default a
    /// [`SystemClock`]; tests step a [`ManualClock`](livekit_core::ManualClock).
    pub clock: Arc<dyn Clock>,
    /// The sites stream outputs may name (the configuration's `[sites.NAME]` tables); the
    /// built-in ones and full URLs always work.
    pub sites: BTreeMap<String, SiteConfig>,
    /// How canvases are encoded for recordings and streams. The size and frame rate are each
    /// canvas's own; the bit rate, when not set, follows the canvas's height and rate.
    pub encoder: EncoderSettings,
    /// How streams reconnect, give up and stop, and how much their queues hold (its
    /// destinations and recordings are ignored: outputs add them). Its
    /// `wait_for_destinations` applies to canvases; the outputs a file or playlist input feeds
    /// wait for their destinations when its `readrate` is not 1, and only then.
    pub streaming: StreamerSettings,
    /// Whether recordings and streams carry the program audio (default true: an AAC track,
    /// silent when no input has sound, as streaming sites expect one).
    pub encode_audio: bool,
    /// Give each output (and each canvas's encode) at most this many frames, then end it: a
    /// recording of exactly N frames. Default none.
    pub frame_limit: Option<u64>,
    /// Encode recordings and streams at this size (each canvas scaled to fit, letterboxed if
    /// the shape differs) instead of the canvas's own. Default none.
    pub encode_size: Option<(u32, u32)>,
    /// When an encode ends (its outputs stopped, its input played out, the studio stopping),
    /// give its destinations at most this long to send what they hold, then close them
    /// (what each missed is in its counters). Default none: as long as they need.
    pub drain_after: Option<Duration>,
    /// Decoder threads of each file and playlist: 0 (the default) lets FFmpeg use one per
    /// core; 1 holds fewer frames, and decodes up to 1080p30 in real time.
    pub decoder_threads: usize,
}

impl Default for StudioSettings {
    fn default() -> Self {
        Self {
            name: "livekit studio".into(),
            backend: BackendChoice::Auto,
            clock: Arc::new(SystemClock::new()),
            sites: BTreeMap::new(),
            encoder: EncoderSettings::default(),
            streaming: StreamerSettings::new(Vec::new()),
            encode_audio: true,
            frame_limit: None,
            encode_size: None,
            drain_after: None,
            decoder_threads: 0,
        }
    }
}

/// Why a studio could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartStudioError {
    /// No rendering backend.
    #[error(transparent)]
    Backend(#[from] livekit_compositor::CreateBackendError),
    /// A thread could not be started.
    #[error("cannot start the studio: {0}")]
    Start(String),
}

/// The live show as one object: inputs by id, canvases with scenes of layers, the program
/// audio, and outputs, all changed while it runs by [`Command`]s given to
/// [`apply`](Self::apply), and read back whole with [`state`](Self::state) or as they happen
/// with [`subscribe`](Self::subscribe).
///
/// ```no_run
/// use livekit_studio::{Command, Studio, StudioSettings};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let studio = Studio::start(StudioSettings::default())?;
/// for json in [
///     r#"{"add_canvas": {"id": "main", "width": 1280, "height": 720}}"#,
///     r#"{"add_input": {"id": "bars", "input": {"kind": "pattern", "pattern": "smpte"}}}"#,
///     r#"{"add_layer": {"id": "background", "input": "bars"}}"#,
///     r#"{"start_output": {"id": "window", "output": {"kind": "preview"}}}"#,
/// ] {
///     studio.apply(Command::from_json(json)?)?;
/// }
/// println!("{}", serde_json::to_string_pretty(&studio.state())?);
/// studio.stop();
/// # Ok(())
/// # }
/// ```
pub struct Studio {
    inner: Arc<Inner>,
    compositor: Option<RunningCompositor>,
    monitor: Option<Worker<()>>,
}

impl std::fmt::Debug for Studio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Studio")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

struct Inner {
    name: String,
    sites: BTreeMap<String, SiteConfig>,
    encoder: EncoderSettings,
    streaming: StreamerSettings,
    encode_audio: bool,
    frame_limit: Option<u64>,
    encode_size: Option<(u32, u32)>,
    drain_after: Option<Duration>,
    decoder_threads: usize,
    clock: Arc<dyn Clock>,
    started: Duration,
    handle: CompositorHandle,
    backend: BackendInfo,
    show: Mutex<Show>,
    hub: Hub,
    program: Mutex<Option<Program>>,
    stop: AtomicBool,
}

#[derive(Default)]
struct Show {
    inputs: Vec<Input>,
    canvases: Vec<CanvasEntry>,
    layers: Vec<LayerEntry>,
    outputs: Vec<Output>,
    /// Each canvas's encodes while they have outputs: one for recordings, HLS and RTMP/SRT
    /// destinations, one for WebRTC (WHEP viewers, WHIP destinations).
    encodes: Vec<CanvasEncode>,
    /// Stream outputs whose WHIP endpoint answered VP8 only: started on a VP8 encode.
    vp8_outputs: Vec<String>,
    applied: u64,
    stats: Stats,
}

struct CanvasEntry {
    id: String,
    canvas: CanvasId,
    settings: CanvasSettings,
    scenes: Vec<String>,
}

struct LayerEntry {
    id: String,
    canvas: String,
    scene: String,
    input: String,
    layer: LayerId,
}

impl Show {
    fn input(&self, id: &str) -> Result<usize, CommandError> {
        self.inputs
            .iter()
            .position(|i| i.id == id)
            .ok_or_else(|| CommandError::not_found("input", id))
    }

    fn canvas(&self, id: &str) -> Result<usize, CommandError> {
        self.canvases
            .iter()
            .position(|c| c.id == id)
            .ok_or_else(|| CommandError::not_found("canvas", id))
    }

    fn layer(&self, id: &str) -> Result<usize, CommandError> {
        self.layers
            .iter()
            .position(|l| l.id == id)
            .ok_or_else(|| CommandError::not_found("layer", id))
    }

    fn encode(&self, canvas: &str, profile: Profile) -> Option<&CanvasEncode> {
        self.encodes.iter().find(|e| {
            e.canvas == canvas && e.profile == profile && e.fed.is_none() && !e.has_failed()
        })
    }

    /// The encode of an input's own frames for `profile`, while it has outputs: fed by these
    /// `feeds` (an input removed and added again under the same id has new ones).
    fn fed_encode(&self, feeds: &inputs::Feeds, profile: Profile) -> Option<usize> {
        self.encodes.iter().position(|e| {
            e.profile == profile
                && e.fed.as_ref().is_some_and(|f| f.is_fed_by(feeds))
                && !e.has_failed()
        })
    }

    /// The running outputs an input feeds.
    fn fed_outputs(&self, input: &str) -> Vec<&str> {
        self.outputs
            .iter()
            .filter(|o| o.is_running() && o.input.as_deref() == Some(input))
            .map(|o| o.id.as_str())
            .collect()
    }

    /// The encode `output` is a branch of, while it runs.
    fn encode_of<'a>(encodes: &'a [CanvasEncode], output: &Output) -> Option<&'a CanvasEncode> {
        let serial = output.encode_serial?;
        encodes.iter().find(|e| e.serial == serial)
    }

    /// Ends the encodes no running output uses any more (each output that had a part in one
    /// takes its part of the final report).
    fn drop_idle_encodes(&mut self) {
        let mut index = 0;
        while index < self.encodes.len() {
            let serial = self.encodes[index].serial;
            let used = !self.encodes[index].viewers.is_empty()
                || self
                    .outputs
                    .iter()
                    .any(|o| o.is_running() && o.encode_serial == Some(serial));
            if used {
                index += 1;
                continue;
            }
            let mut encode = self.encodes.remove(index);
            self.end_encode(&mut encode);
        }
    }

    /// Lets go of WebRTC viewers that have gone, and ends the encodes nobody uses any more.
    fn drop_idle_viewers(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        for encode in &self.encodes {
            for (id, why) in encode.viewers.drop_closed(&encode.canvas) {
                events.push(Event::Viewer {
                    canvas: encode.canvas.clone(),
                    id,
                    change: ViewerChange::Left,
                    reason: Some(why),
                });
            }
        }
        self.drop_idle_encodes();
        events
    }

    /// Stops an encode and hands its final report to its outputs.
    fn end_encode(&mut self, encode: &mut CanvasEncode) {
        // An encoder that failed since the outputs were last looked at fails those still
        // running (their branches end below all the same).
        if encode.check_failure().is_some() {
            for output in &mut self.outputs {
                if output.is_running()
                    && output.encode_serial == Some(encode.serial)
                    && let Some(error) = output.encoding_failed(Some(encode))
                {
                    output.state = crate::state::OutputState::Failed { error };
                }
            }
        }
        let report = encode.stop();
        let stats = encode.final_stats;
        let dropped = encode.dropped_frames();
        for output in &mut self.outputs {
            if output.encode_serial == Some(encode.serial) {
                if let Some(stats) = stats {
                    output.encoded.get_or_insert(stats);
                }
                output.encode_dropped.get_or_insert(dropped);
            }
        }
        if let Some(mut report) = report {
            for output in &mut self.outputs {
                if output.encode_serial == Some(encode.serial) {
                    output.take_report(&mut report);
                }
            }
        }
    }

    fn output(&self, id: &str) -> Result<usize, CommandError> {
        self.outputs
            .iter()
            .position(|o| o.id == id)
            .ok_or_else(|| CommandError::not_found("output", id))
    }
}

/// Ids are 1 to 64 letters, digits, `-`, `_` or `.`.
fn check_id(what: &str, id: &str) -> Result<(), CommandError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(CommandError::invalid(format!(
            "{what} id {id:?}: use 1 to 64 letters, digits, '-', '_' or '.'"
        )))
    }
}

fn check_gain(gain: f32) -> Result<(), CommandError> {
    if gain.is_finite() && (0.0..=10.0).contains(&gain) {
        Ok(())
    } else {
        Err(CommandError::invalid(format!(
            "gain {gain} is out of range (0 to 10)"
        )))
    }
}

impl Studio {
    /// Starts an empty studio: no canvas, no input, no output. Its threads: the compositor's
    /// runner (`livekit.compositor`), the program mix (`livekit.audio.mixer`,
    /// `livekit.studio.audio`) and the watcher of states (`livekit.studio`).
    pub fn start(settings: StudioSettings) -> Result<Self, StartStudioError> {
        let compositor = Compositor::new(settings.backend)?;
        let backend = compositor.backend();
        // The canvases' time zero (their frames' timestamps count from it; the program
        // audio's are made to).
        let origin = settings.clock.now();
        let running = compositor
            .start(settings.clock.clone())
            .map_err(|e| StartStudioError::Start(e.to_string()))?;
        let program =
            Program::start(settings.clock.clone(), origin).map_err(StartStudioError::Start)?;
        let inner = Arc::new(Inner {
            name: settings.name,
            sites: settings.sites,
            encoder: settings.encoder,
            streaming: settings.streaming,
            encode_audio: settings.encode_audio,
            frame_limit: settings.frame_limit,
            encode_size: settings.encode_size,
            drain_after: settings.drain_after,
            decoder_threads: settings.decoder_threads,
            started: settings.clock.now(),
            clock: settings.clock,
            handle: running.handle(),
            backend,
            show: Mutex::new(Show::default()),
            hub: Hub::default(),
            program: Mutex::new(Some(program)),
            stop: AtomicBool::new(false),
        });
        let monitor = {
            let inner = inner.clone();
            spawn_named("livekit.studio", move || watch(&inner))
                .map_err(|e| StartStudioError::Start(e.to_string()))?
        };
        Ok(Self {
            inner,
            compositor: Some(running),
            monitor: Some(monitor),
        })
    }

    /// The backend canvases are rendered with.
    pub fn backend(&self) -> &BackendInfo {
        &self.inner.backend
    }

    /// Applies one command. It shows in the next frame rendered. A command that cannot be
    /// applied is an error naming the id or field, and changes nothing.
    pub fn apply(&self, command: Command) -> Result<(), CommandError> {
        let name = command.name();
        // Opening a file, URL or device can take seconds (a server that does not answer: up
        // to the open time-out): it is done before the show is locked, so that the API, the
        // state and the outputs go on meanwhile. What can be checked first is.
        let opened = match &command {
            Command::AddInput {
                id, input, audio, ..
            } => {
                check_id("input", id)?;
                check_gain(audio.gain)?;
                if self.inner.show.lock().input(id).is_ok() {
                    return Err(CommandError::conflict_that("input", id, "exists already"));
                }
                Some(self.inner.open_input(id, input)?)
            }
            Command::ReplaceInput { id, input } => {
                self.inner.check_replace(&self.inner.show.lock(), id)?;
                Some(self.inner.open_input(id, input)?)
            }
            _ => None,
        };
        let mut show = self.inner.show.lock();
        let switched = self.inner.apply(&mut show, command, opened)?;
        show.applied += 1;
        let seq = show.applied;
        drop(show);
        self.inner.hub.send(Event::CommandApplied {
            seq,
            command: name.to_owned(),
        });
        if let Some((canvas, scene)) = switched {
            self.inner.hub.send(Event::SceneSwitched { canvas, scene });
        }
        Ok(())
    }

    /// Whether `name` (a site of the studio's configuration, or a URL) is a WHIP endpoint:
    /// such destinations take a WebRTC encode, so a stream output holds either WHIP
    /// destinations or others (the `livekit` jobs give them as two outputs). `false` for a
    /// name that does not resolve (starting the output says why).
    pub fn is_whip_destination(&self, name: &str) -> bool {
        livekit_sinks::stream::Destination::resolve(name, &self.inner.sites)
            .is_ok_and(|d| d.protocol == livekit_sinks::stream::Protocol::Whip)
    }

    /// The whole show now.
    pub fn state(&self) -> StudioState {
        let show = self.inner.show.lock();
        self.inner.state(&show)
    }

    /// The folder of the canvas's HLS output (the running one, else the last one started),
    /// which holds its playlist ([`HLS_PLAYLIST`](crate::HLS_PLAYLIST)) and segments; `canvas`
    /// may also name a file or playlist input that feeds an HLS output itself (a canvas of
    /// the same name comes first).
    pub fn hls_folder(&self, canvas: &str) -> Option<PathBuf> {
        let show = self.inner.show.lock();
        let folder = |o: &Output, of_input: bool| match &o.spec {
            OutputSpec::Hls { dir, .. }
                if (!of_input && o.canvas == canvas)
                    || (of_input && o.input.as_deref() == Some(canvas)) =>
            {
                dir.clone()
            }
            _ => None,
        };
        [false, true].into_iter().find_map(|of_input| {
            show.outputs
                .iter()
                .rev()
                .filter(|o| o.is_running())
                .find_map(|o| folder(o, of_input))
                .or_else(|| show.outputs.iter().rev().find_map(|o| folder(o, of_input)))
        })
    }

    /// Answers a WebRTC viewer of `canvas` (WHEP): `offer` is the viewer's SDP offer, `bind`
    /// the address its media is sent from (one the viewer reaches). Returns the viewer's id
    /// and the SDP answer. The viewers of a canvas share one encode made for WebRTC (H.264
    /// constrained baseline and Opus) with its WHIP destinations, started with the first and
    /// ended after the last.
    /// A viewer whose offer has no H.264 but VP8 (a browser without H.264) gets a VP8 encode,
    /// shared by such viewers.
    /// Errors: no such canvas (not found), an offer that is not SDP or offers neither H.264
    /// nor VP8 (invalid).
    pub fn add_viewer(
        &self,
        canvas: &str,
        offer: &str,
        bind: std::net::IpAddr,
    ) -> Result<(String, String), CommandError> {
        let mut show = self.inner.show.lock();
        show.canvas(canvas)?;
        // Not an offer at all: refused before any encode starts.
        livekit_sinks::webrtc::check_offer(offer)
            .map_err(|e| CommandError::invalid(e.to_string()))?;
        // H.264 where the viewer takes it (the encode WHIP outputs may share), else VP8.
        let profile = match livekit_sinks::webrtc::offered_video_codecs(offer) {
            (false, true) => Profile::WebRtcVp8,
            (false, false) => {
                return Err(CommandError::invalid(
                    livekit_sinks::webrtc::WebRtcError::NoCodec(
                        "it offers neither H.264 (packetization-mode 1) nor VP8 video to receive"
                            .into(),
                    )
                    .to_string(),
                ));
            }
            (true, _) => self.inner.webrtc_profile(),
        };
        let index = self.inner.ensure_encode(&mut show, canvas, profile)?;
        let answered = show.encodes[index].add_viewer(offer, bind);
        let mut events = show.drop_idle_viewers();
        drop(show);
        if let Ok((id, _)) = &answered {
            events.push(Event::Viewer {
                canvas: canvas.to_owned(),
                id: id.clone(),
                change: ViewerChange::Joined,
                reason: None,
            });
        }
        for event in events {
            self.inner.hub.send(event);
        }
        answered
    }

    /// Ends WebRTC viewer `id` of `canvas` (a WHEP `DELETE`). Not found when there is none.
    pub fn remove_viewer(&self, canvas: &str, id: &str) -> Result<(), CommandError> {
        let mut show = self.inner.show.lock();
        show.canvas(canvas)?;
        let removed = show
            .encodes
            .iter()
            .filter(|e| e.canvas == canvas)
            .any(|e| e.viewers.remove(id));
        if !removed {
            return Err(CommandError::not_found("viewer", id));
        }
        let mut events = show.drop_idle_viewers();
        drop(show);
        events.push(Event::Viewer {
            canvas: canvas.to_owned(),
            id: id.to_owned(),
            change: ViewerChange::Left,
            reason: Some("the viewer ended the session (DELETE)".into()),
        });
        for event in events {
            self.inner.hub.send(event);
        }
        Ok(())
    }

    /// The WebRTC viewers of `canvas` now.
    pub fn viewers(&self, canvas: &str) -> Vec<ViewerDoc> {
        let show = self.inner.show.lock();
        show.encodes
            .iter()
            .filter(|e| e.canvas == canvas)
            .flat_map(|e| e.viewers.docs())
            .collect()
    }

    /// Events from now on, [`DEFAULT_EVENT_CAPACITY`] kept for a slow reader.
    pub fn subscribe(&self) -> Subscription {
        self.subscribe_with(DEFAULT_EVENT_CAPACITY)
    }

    /// Events from now on, `capacity` kept for a slow reader (the oldest are lost first,
    /// counted by [`Subscription::lost`]).
    pub fn subscribe_with(&self, capacity: usize) -> Subscription {
        self.inner.hub.subscribe(capacity)
    }

    /// A port that receives a canvas's frames from the next one on (a drop-oldest queue of
    /// `capacity`): for a program monitor, a snapshot, a test. Close it to stop.
    pub fn frames(
        &self,
        canvas: &str,
        capacity: usize,
    ) -> Result<Arc<Port<VideoFrame>>, CommandError> {
        let show = self.inner.show.lock();
        let entry = &show.canvases[show.canvas(canvas)?];
        let port = Arc::new(Port::drop_oldest(capacity.max(1)));
        self.inner
            .handle
            .add_target(entry.canvas, "frames", port.clone() as Arc<dyn VideoTarget>)
            .map_err(|e| CommandError::invalid(e.to_string()))?;
        Ok(port)
    }

    /// A canvas's settings (size, frame rate, background), for [`scene_file`](Self::scene_file).
    pub(crate) fn canvas_settings(&self, canvas: &str) -> Option<CanvasSettings> {
        let show = self.inner.show.lock();
        let index = show.canvas(canvas).ok()?;
        Some(show.canvases[index].settings.clone())
    }

    /// The ids of a canvas's layers in the order they were added.
    pub(crate) fn layer_order(&self, canvas: &str) -> Vec<String> {
        let show = self.inner.show.lock();
        show.layers
            .iter()
            .filter(|l| l.canvas == canvas)
            .map(|l| l.id.clone())
            .collect()
    }

    /// The compositor's counters: frames rendered, skipped late, render time.
    pub fn render_stats(&self) -> livekit_compositor::RunStats {
        self.inner.handle.stats()
    }

    /// The counters of a canvas's encode (while it has recordings or streams; else its
    /// WebRTC encode's, while it has viewers or WHIP destinations), or of the encode of an
    /// input's own frames (`canvas` naming the input), and the frames it dropped because it
    /// fell behind.
    pub fn encoder_stats(&self, canvas: &str) -> Option<(livekit_sinks::EncoderStats, u64)> {
        let show = self.inner.show.lock();
        let encode = show
            .encode(canvas, Profile::Standard)
            .or_else(|| show.encode(canvas, Profile::WebRtc))
            .or_else(|| show.encode(canvas, Profile::WebRtcVp8))
            .or_else(|| {
                let feeds = show.inputs[show.input(canvas).ok()?].feeds.as_ref()?;
                [Profile::Standard, Profile::WebRtc, Profile::WebRtcVp8]
                    .into_iter()
                    .find_map(|profile| show.fed_encode(feeds, profile))
                    .map(|i| &show.encodes[i])
            })?;
        Some((encode.encoder_stats()?, encode.dropped_frames()))
    }

    /// Whether no output runs any more (each stopped, failed, or given all its frames).
    pub fn is_idle(&self) -> bool {
        let show = self.inner.show.lock();
        !show.outputs.iter().any(Output::is_running)
    }

    /// A copy of the program audio (every input with sound, mixed) from now on: a
    /// drop-oldest port of about a second. For an encoder, a meter, a test. Close it to stop.
    pub fn program_audio(&self) -> Arc<Port<livekit_core::AudioFrame>> {
        let program = self.inner.program.lock();
        match program.as_ref() {
            Some(program) => program.tap(),
            None => {
                let port = Arc::new(Port::drop_oldest(1));
                livekit_core::FrameTarget::end(&*port);
                port
            }
        }
    }

    /// Stops everything: outputs first (recordings finalized, streams closed), then the
    /// canvases, the inputs and the audio mix. Subscriptions end. Says how every output ended.
    pub fn stop(mut self) -> StudioReport {
        self.shutdown()
    }

    fn shutdown(&mut self) -> StudioReport {
        self.inner.stop.store(true, Ordering::Relaxed);
        if let Some(monitor) = self.monitor.take()
            && let Err(error) = monitor.join()
        {
            tracing::error!("{error}");
        }
        let mut outputs = {
            let mut show = self.inner.show.lock();
            let show = &mut *show;
            // Direct outputs stop; each encode finishes its branches (recordings finalized,
            // destinations closed) and hands each output its part of the report.
            for output in &mut show.outputs {
                if !output.is_encoded()
                    && output.is_running()
                    && let Err(error) = output.stop(None)
                {
                    tracing::warn!(output = %output.id, "{error}");
                }
            }
            for mut encode in std::mem::take(&mut show.encodes) {
                show.end_encode(&mut encode);
            }
            std::mem::take(&mut show.outputs)
        };
        if let Some(compositor) = self.compositor.take()
            && let Err(error) = compositor.stop()
        {
            tracing::error!("{error}");
        }
        let inputs = std::mem::take(&mut self.inner.show.lock().inputs);
        drop(inputs);
        if let Some(mut program) = self.inner.program.lock().take() {
            program.stop();
        }
        self.inner.hub.end();
        let stats = self.inner.show.lock().stats;
        StudioReport {
            outputs: outputs
                .iter_mut()
                .map(|output| OutputReport {
                    id: output.id.clone(),
                    canvas: output.canvas.clone(),
                    output: output.spec.redacted(),
                    state: output.state.clone(),
                    frames: output
                        .encoded
                        .map(|e| e.video_frames)
                        .or(output.sent_frames)
                        .unwrap_or_else(|| output.frames(None)),
                    dropped_frames: output
                        .encode_dropped
                        .unwrap_or_else(|| output.dropped_frames(None)),
                    destinations: std::mem::take(&mut output.final_destinations),
                    recording: output.final_recording.take(),
                    encoder: output.video_encoder.map(str::to_owned),
                    encoding_error: output.encoding_error.take(),
                    size: output.size,
                })
                .collect(),
            stats,
        }
    }
}

impl Drop for Studio {
    fn drop(&mut self) {
        if self.compositor.is_some() {
            let _ = self.shutdown();
        }
    }
}

/// Watches inputs and outputs for state changes and keeps the statistics.
fn watch(inner: &Inner) {
    let mut last_stats_at = inner.clock.now();
    let mut last = inner.handle.stats();
    while !inner.stop.load(Ordering::Relaxed) {
        std::thread::sleep(POLL);
        let mut events = Vec::new();
        {
            let mut show = inner.show.lock();
            for input in &mut show.inputs {
                if let Some(state) = input.poll() {
                    events.push(Event::Input {
                        id: input.id.clone(),
                        state,
                    });
                }
            }
            let show = &mut *show;
            // An encoder that failed lets go of what feeds it; its outputs fail below.
            for encode in &mut show.encodes {
                encode.check_failure();
            }
            for output in &mut show.outputs {
                let encode = Show::encode_of(&show.encodes, output);
                for destination in output.changed_destinations(encode) {
                    events.push(Event::Destination {
                        output: output.id.clone(),
                        destination,
                    });
                }
                if let Some(state) = output.poll(encode) {
                    events.push(Event::Output {
                        id: output.id.clone(),
                        state,
                    });
                }
            }
            // A WHIP endpoint that answered VP8 only: its output moves to a VP8 encode.
            let vp8: Vec<usize> = (0..show.outputs.len())
                .filter(|&i| {
                    let output = &show.outputs[i];
                    let encode = Show::encode_of(&show.encodes, output);
                    output.is_running()
                        && encode.is_some_and(|e| e.profile == Profile::WebRtc)
                        && output.destinations(encode).iter().any(|d| {
                            d.last_error.as_deref().is_some_and(|e| {
                                e.starts_with(livekit_sinks::webrtc::WHIP_VP8_ONLY)
                            })
                        })
                })
                .collect();
            for index in vp8.into_iter().rev() {
                events.extend(inner.move_to_vp8(show, index));
            }
            show.drop_idle_encodes();
            events.extend(show.drop_idle_viewers());
            let now = inner.clock.now();
            let elapsed = now.saturating_sub(last_stats_at);
            if elapsed >= Duration::from_secs(1) {
                let stats = inner.handle.stats();
                let frames = stats.rendered - last.rendered;
                let render = stats.render_time.saturating_sub(last.render_time);
                let peak = inner.program.lock().as_ref().map_or(0.0, |p| p.take_peak());
                show.stats = Stats {
                    uptime_seconds: now.saturating_sub(inner.started).as_secs_f64(),
                    frames: stats.rendered,
                    fps: frames as f64 / elapsed.as_secs_f64(),
                    render_ms: if frames == 0 {
                        0.0
                    } else {
                        render.as_secs_f64() * 1000.0 / frames as f64
                    },
                    late_frames: stats.late,
                    audio_peak_db: decibels(peak),
                };
                events.push(Event::Stats(show.stats));
                last = stats;
                last_stats_at = now;
            }
        }
        for event in events {
            inner.hub.send(event);
        }
    }
}

impl Inner {
    /// Stops stream output `index` and starts it again on a VP8 encode (its WHIP endpoint
    /// answered VP8 only); the events to send.
    fn move_to_vp8(&self, show: &mut Show, index: usize) -> Vec<Event> {
        let output = &mut show.outputs[index];
        let (id, canvas, input, spec) = (
            output.id.clone(),
            output.canvas.clone(),
            output.input.clone(),
            output.spec.clone(),
        );
        tracing::info!("output {id}: the WHIP endpoint takes VP8 only: moving to a VP8 encode");
        let encode = Show::encode_of(&show.encodes, output);
        let _ = output.stop(encode);
        show.drop_idle_encodes();
        show.vp8_outputs.push(id.clone());
        let state = match self.start_output(show, id.clone(), canvas, input, spec) {
            Ok(()) => show
                .outputs
                .iter()
                .find(|o| o.id == id)
                .map_or(crate::state::OutputState::Stopped, |o| o.state.clone()),
            Err(error) => crate::state::OutputState::Failed {
                error: error.to_string(),
            },
        };
        vec![Event::Output { id, state }]
    }

    /// How files and playlists are opened: still covers at the encode's rate.
    fn decoding(&self) -> inputs::Decoding {
        let (num, den) = self.encoder.video.fps;
        inputs::Decoding {
            cover_frame_rate: num.div_ceil(den.max(1)).max(1),
            threads: self.decoder_threads,
        }
    }

    /// The studio's encoder settings for a canvas: its size (or the studio's encode size) and
    /// frame rate.
    fn encoder_settings(&self, entry: &CanvasEntry) -> EncoderSettings {
        let mut settings = self.encoder.clone();
        (settings.video.width, settings.video.height) = self
            .encode_size
            .unwrap_or((entry.settings.width, entry.settings.height));
        settings.video.fps = (entry.settings.fps.num, entry.settings.fps.den);
        settings
    }

    /// A new tap of the program audio for an encode, or none when the studio encodes no sound.
    fn program_tap(&self) -> Result<Option<Arc<Port<livekit_core::AudioFrame>>>, CommandError> {
        if !self.encode_audio {
            return Ok(None);
        }
        let tap = self.program.lock().as_ref().map(|p| p.tap());
        tap.map(Some)
            .ok_or_else(|| CommandError::conflict("the studio is stopping"))
    }

    fn edit<R>(
        &self,
        edit: impl FnOnce(&mut Compositor) -> Result<R, livekit_compositor::SceneError>,
    ) -> Result<R, CommandError> {
        self.handle
            .edit(edit)
            .map_err(|e| CommandError::invalid(e.to_string()))
    }

    /// Applies `command`; returns the canvas and scene it switched to, if it did.
    fn apply(
        &self,
        show: &mut Show,
        command: Command,
        opened: Option<inputs::Opened>,
    ) -> Result<Option<(String, String)>, CommandError> {
        match command {
            Command::AddInput {
                id,
                input,
                audio,
                when_failed,
            } => self.add_input(show, id, input, audio, when_failed, opened)?,
            Command::ReplaceInput { id, input } => {
                self.replace_input(show, &id, input, opened)?;
            }
            Command::RemoveInput { id } => self.remove_input(show, &id)?,
            Command::PauseInput { id } => {
                let input = &show.inputs[show.input(&id)?];
                playback(input)?
                    .pause()
                    .map_err(|e| CommandError::conflict_on("input", &id, e.to_string()))?;
            }
            Command::ResumeInput { id } => {
                let input = &show.inputs[show.input(&id)?];
                let playback = playback(input)?;
                // An input opened paused starts.
                if playback.state() == livekit_sources::PlayState::Ready {
                    playback.start()
                } else {
                    playback.resume()
                }
                .map_err(|e| CommandError::conflict_on("input", &id, e.to_string()))?;
            }
            Command::SeekInput { id, seconds } => {
                let input = &show.inputs[show.input(&id)?];
                if !(seconds.is_finite() && seconds >= 0.0) {
                    return Err(CommandError::invalid(format!(
                        "seconds {seconds} is out of range (0 or more)"
                    )));
                }
                playback(input)?
                    .seek(Duration::from_secs_f64(seconds))
                    .map_err(|e| CommandError::conflict_on("input", &id, e.to_string()))?;
            }
            Command::SkipInput { id, by } => {
                let input = &show.inputs[show.input(&id)?];
                let Running::Playlist(playlist) = &input.running else {
                    return Err(CommandError::conflict_that(
                        "input",
                        &id,
                        "is not a playlist",
                    ));
                };
                let result = match by {
                    1 => playlist.skip_next(),
                    -1 => playlist.skip_previous(),
                    other => {
                        return Err(CommandError::invalid(format!(
                            "by {other}: use 1 (next) or -1 (previous)"
                        )));
                    }
                };
                result.map_err(|e| CommandError::conflict_on("input", &id, e.to_string()))?;
            }
            Command::SetAudio { id, gain, muted } => {
                let index = show.input(&id)?;
                if let Some(gain) = gain {
                    check_gain(gain)?;
                }
                let input = &mut show.inputs[index];
                let Some(mix) = &input.mix else {
                    return Err(CommandError::conflict_that("input", &id, "has no sound"));
                };
                if let Some(gain) = gain {
                    mix.set_gain(gain);
                    input.audio.gain = gain;
                }
                if let Some(muted) = muted {
                    mix.set_muted(muted);
                    input.audio.muted = muted;
                }
            }
            Command::AddCanvas {
                id,
                width,
                height,
                fps,
                background,
            } => {
                check_id("canvas", &id)?;
                if show.canvas(&id).is_ok() {
                    return Err(CommandError::conflict_that("canvas", &id, "exists already"));
                }
                let mut settings = CanvasSettings::new(width, height, 30)
                    .fps(fps)
                    .name(id.clone());
                if let Some(background) = background {
                    settings = settings.background(background);
                }
                let canvas = self.edit(|c| c.add_canvas(settings.clone()))?;
                show.canvases.push(CanvasEntry {
                    id,
                    canvas,
                    settings,
                    scenes: vec![MAIN_SCENE.to_owned()],
                });
            }
            Command::AddScene { canvas, scene } => {
                let index = show.canvas(&canvas)?;
                if scene.is_empty() || scene.len() > 64 {
                    return Err(CommandError::invalid(
                        "scene: a name of 1 to 64 characters".to_owned(),
                    ));
                }
                let entry = &mut show.canvases[index];
                if entry.scenes.contains(&scene) {
                    return Err(CommandError::conflict_on(
                        "canvas",
                        &canvas,
                        format!("scene {scene:?} exists already"),
                    ));
                }
                let id = entry.canvas;
                self.edit(|c| c.add_scene(id, &scene))?;
                entry.scenes.push(scene);
            }
            Command::SwitchScene {
                canvas,
                scene,
                transition,
            } => {
                let entry = &show.canvases[show.canvas(&canvas)?];
                if !entry.scenes.contains(&scene) {
                    return Err(CommandError::no_scene(&canvas, &scene));
                }
                let transition = match transition {
                    TransitionSpec::Cut => Transition::Cut,
                    TransitionSpec::Fade(ms) if (1..=60_000).contains(&ms) => {
                        Transition::Fade(Duration::from_millis(ms))
                    }
                    TransitionSpec::Fade(ms) => {
                        return Err(CommandError::invalid(format!(
                            "transition.fade {ms} is out of range (1 to 60000 ms)"
                        )));
                    }
                };
                let id = entry.canvas;
                self.edit(|c| c.switch_scene(id, &scene, transition))?;
                return Ok(Some((canvas, scene)));
            }
            Command::AddLayer(fields) => self.add_layer(show, fields)?,
            Command::UpdateLayer(fields) => self.update_layer(show, fields)?,
            Command::RemoveLayer { id } => {
                let index = show.layer(&id)?;
                let layer_id = show.layers[index].layer;
                self.edit(|c| c.remove_layer(layer_id))?;
                show.layers.remove(index);
            }
            Command::StartOutput {
                id,
                canvas,
                input,
                output,
            } => self.start_output(show, id, canvas, input, output)?,
            Command::StopOutput { id } => {
                let index = show.output(&id)?;
                let output = &mut show.outputs[index];
                if !matches!(
                    output.state,
                    crate::state::OutputState::Starting | crate::state::OutputState::Live
                ) {
                    return Err(CommandError::conflict_that("output", &id, "is not running"));
                }
                let encode = Show::encode_of(&show.encodes, output);
                let stopped = output.stop(encode);
                let state = output.state.clone();
                show.drop_idle_encodes();
                self.hub.send(Event::Output {
                    id: id.clone(),
                    state,
                });
                stopped.map_err(|e| CommandError::conflict_on("output", &id, e.to_string()))?;
            }
        }
        Ok(None)
    }

    fn add_input(
        &self,
        show: &mut Show,
        id: String,
        spec: InputSpec,
        audio: AudioSettings,
        when_failed: WhenFailed,
        opened: Option<inputs::Opened>,
    ) -> Result<(), CommandError> {
        check_id("input", &id)?;
        check_gain(audio.gain)?;
        // Checked again: another command may have taken the id while this input opened.
        if show.input(&id).is_ok() {
            return Err(CommandError::conflict_that("input", &id, "exists already"));
        }
        let opened = match opened {
            Some(opened) => opened,
            None => self.open_input(&id, &spec)?,
        };
        let sound = opened.sound.clone();
        let mut input = Input::new(id, spec, opened, audio, when_failed);
        if let Some(sound) = sound {
            input.mix = Some(self.mix(&input.id, sound, audio));
        }
        show.inputs.push(input);
        Ok(())
    }

    /// Opens what an input reads (a file, a URL, a device); may take seconds.
    fn open_input(&self, id: &str, spec: &InputSpec) -> Result<inputs::Opened, CommandError> {
        inputs::open(id, spec, &self.clock, self.decoding())
    }

    /// Whether input `id` may be replaced: it exists and feeds no running output (its outputs
    /// encode its own frames: another file's would restart their timeline).
    fn check_replace(&self, show: &Show, id: &str) -> Result<(), CommandError> {
        show.input(id)?;
        if let Some(output) = show.fed_outputs(id).first() {
            return Err(CommandError::conflict_that(
                "input",
                id,
                format!("feeds output {output:?}: stop that output before replacing the input"),
            ));
        }
        Ok(())
    }

    fn mix(
        &self,
        id: &str,
        sound: inputs::Sound,
        audio: AudioSettings,
    ) -> livekit_core::MixerInput {
        let program = self.program.lock();
        let program = program
            .as_ref()
            .expect("the mix runs until the studio stops");
        let mix = program.add(id, sound, audio.gain);
        mix.set_muted(audio.muted);
        mix
    }

    fn replace_input(
        &self,
        show: &mut Show,
        id: &str,
        spec: InputSpec,
        opened: Option<inputs::Opened>,
    ) -> Result<(), CommandError> {
        // Checked again: the show may have changed while the new input opened.
        self.check_replace(show, id)?;
        let index = show.input(id)?;
        let uses: Vec<LayerId> = show
            .layers
            .iter()
            .filter(|l| l.input == id)
            .map(|l| l.layer)
            .collect();
        let opened = match opened {
            Some(opened) => opened,
            None => self.open_input(id, &spec)?,
        };
        if !uses.is_empty() && matches!(opened.picture, inputs::Picture::None) {
            return Err(CommandError::conflict_that(
                "input",
                id,
                format!("has layers, and a {} has no picture", spec.kind()),
            ));
        }
        let sound = opened.sound.clone();
        let input = &mut show.inputs[index];
        if let Some(mix) = input.mix.take() {
            mix.remove();
        }
        let old = std::mem::replace(&mut input.running, Running::Nothing);
        input.take(opened);
        input.spec = spec;
        drop(old);
        if let Some(sound) = sound {
            let audio = input.audio;
            let mix = self.mix(id, sound, audio);
            show.inputs[index].mix = Some(mix);
        }
        let input = &show.inputs[index];
        if let Some(source) = input.layer_source() {
            for layer in uses {
                let source = source.clone();
                self.edit(|c| c.update_layer(layer, |l| l.source = source))?;
            }
        }
        Ok(())
    }

    fn remove_input(&self, show: &mut Show, id: &str) -> Result<(), CommandError> {
        let index = show.input(id)?;
        let layers: Vec<LayerId> = show
            .layers
            .iter()
            .filter(|l| l.input == id)
            .map(|l| l.layer)
            .collect();
        self.edit(|c| {
            for layer in &layers {
                c.remove_layer(*layer)?;
            }
            Ok(())
        })?;
        show.layers.retain(|l| l.input != id);
        let input = show.inputs.remove(index);
        if let Some(mix) = &input.mix {
            mix.remove();
        }
        drop(input);
        Ok(())
    }

    fn add_layer(&self, show: &mut Show, fields: LayerFields) -> Result<(), CommandError> {
        let id = fields.id.clone();
        check_id("layer", &id)?;
        if show.layer(&id).is_ok() {
            return Err(CommandError::conflict_that("layer", &id, "exists already"));
        }
        let Some(input) = fields.input.clone() else {
            return Err(CommandError::malformed(format!(
                "add_layer: missing field `input` (layer {id:?})"
            )));
        };
        let canvas = fields
            .canvas
            .clone()
            .unwrap_or_else(|| MAIN_CANVAS.to_owned());
        let canvas_entry = &show.canvases[show.canvas(&canvas)?];
        let source = show.inputs[show.input(&input)?]
            .layer_source()
            .ok_or_else(|| {
                CommandError::conflict_that("input", &input, "has no picture to show")
            })?;
        let canvas_id = canvas_entry.canvas;
        let scene = match fields.scene.clone() {
            Some(scene) => {
                if !canvas_entry.scenes.contains(&scene) {
                    return Err(CommandError::no_scene(&canvas, &scene));
                }
                scene
            }
            None => self.edit(|c| c.active_scene(canvas_id).map(str::to_owned))?,
        };
        let mut layer = Layer::new(source);
        set_props(&mut layer, &fields, false)
            .map_err(|e| CommandError::invalid_on("layer", &id, e.to_string()))?;
        let layer_id = self.edit(|c| c.add_layer(canvas_id, Some(&scene), layer))?;
        show.layers.push(LayerEntry {
            id,
            canvas,
            scene,
            input,
            layer: layer_id,
        });
        Ok(())
    }

    fn update_layer(&self, show: &mut Show, fields: LayerFields) -> Result<(), CommandError> {
        let id = &fields.id;
        let index = show.layer(id)?;
        let entry = &show.layers[index];
        if fields.canvas.as_ref().is_some_and(|c| *c != entry.canvas)
            || fields.scene.as_ref().is_some_and(|s| *s != entry.scene)
        {
            return Err(CommandError::conflict_on(
                "layer",
                id,
                "a layer stays in its canvas and scene (remove it and add another)",
            ));
        }
        let layer_id = entry.layer;
        let mut layer = self
            .handle
            .edit(|c| c.layer(layer_id).cloned())
            .map_err(|e| CommandError::invalid_on("layer", id, e.to_string()))?;
        if let Some(input) = &fields.input {
            layer.source = show.inputs[show.input(input)?]
                .layer_source()
                .ok_or_else(|| {
                    CommandError::conflict_that("input", input, "has no picture to show")
                })?;
        }
        set_props(&mut layer, &fields, true)
            .map_err(|e| CommandError::invalid_on("layer", id, e.to_string()))?;
        self.edit(|c| c.update_layer(layer_id, |l| *l = layer))?;
        if let Some(input) = fields.input {
            show.layers[index].input = input;
        }
        Ok(())
    }

    fn start_output(
        &self,
        show: &mut Show,
        id: String,
        canvas: String,
        input: Option<String>,
        spec: OutputSpec,
    ) -> Result<(), CommandError> {
        check_id("output", &id)?;
        if let Ok(index) = show.output(&id) {
            // A stopped output's id can be used again.
            if matches!(
                show.outputs[index].state,
                crate::state::OutputState::Starting | crate::state::OutputState::Live
            ) {
                return Err(CommandError::conflict_that("output", &id, "is running"));
            }
            show.outputs.remove(index);
        }
        if let Some(input) = input {
            return self.start_fed(show, id, input, spec);
        }
        let entry = &show.canvases[show.canvas(&canvas)?];
        if matches!(
            spec,
            OutputSpec::Record { .. } | OutputSpec::Stream { .. } | OutputSpec::Hls { .. }
        ) {
            return self.start_encoded(show, id, canvas, spec);
        }
        let settings = &entry.settings;
        let output = Output::open(
            &id,
            &canvas,
            &spec,
            (settings.width, settings.height),
            (settings.fps.num, settings.fps.den),
            &self.name,
            self.frame_limit,
        )?;
        let gate = output.gate.clone().expect("a direct output has a gate");
        self.handle
            .add_target(
                entry.canvas,
                format!("output {id}"),
                gate as Arc<dyn VideoTarget>,
            )
            .map_err(|e| CommandError::invalid(e.to_string()))?;
        show.outputs.push(output);
        Ok(())
    }

    /// The encode WebRTC outputs use: the standard one when it suits them.
    fn webrtc_profile(&self) -> Profile {
        if crate::webrtc::suits_webrtc(&self.encoder) {
            Profile::Standard
        } else {
            Profile::WebRtc
        }
    }

    /// The index of `canvas`'s encode for `profile`, started (and given the canvas's frames)
    /// when there is none yet.
    fn ensure_encode(
        &self,
        show: &mut Show,
        canvas: &str,
        profile: Profile,
    ) -> Result<usize, CommandError> {
        if let Some(index) = show.encodes.iter().position(|e| {
            e.canvas == canvas && e.profile == profile && e.fed.is_none() && !e.has_failed()
        }) {
            return Ok(index);
        }
        let entry = &show.canvases[show.canvas(canvas)?];
        let settings = self.encoder_settings(entry);
        let audio = self.program_tap()?;
        let mut encode = CanvasEncode::start(
            canvas,
            settings,
            profile,
            &self.streaming,
            audio,
            self.frame_limit,
        )?;
        encode.drain = self.drain_after;
        let name = match profile {
            Profile::Standard => format!("encode of {canvas}"),
            Profile::WebRtc => format!("WebRTC encode of {canvas}"),
            Profile::WebRtcVp8 => format!("WebRTC VP8 encode of {canvas}"),
        };
        self.handle
            .add_target(
                entry.canvas,
                name,
                encode.gate.clone() as Arc<dyn VideoTarget>,
            )
            .map_err(|e| CommandError::invalid(e.to_string()))?;
        show.encodes.push(encode);
        Ok(show.encodes.len() - 1)
    }

    /// An output fed by an input: a branch of the encode of the input's own frames (started
    /// with the first).
    fn start_fed(
        &self,
        show: &mut Show,
        id: String,
        input: String,
        spec: OutputSpec,
    ) -> Result<(), CommandError> {
        let index = show.input(&input)?;
        if !matches!(
            spec,
            OutputSpec::Record { .. } | OutputSpec::Stream { .. } | OutputSpec::Hls { .. }
        ) {
            return Err(CommandError::invalid_on(
                "output",
                &id,
                format!(
                    "a {} shows a canvas: only recordings, streams and HLS take an input",
                    spec.kind()
                ),
            ));
        }
        let (destinations, profile) = self.stream_destinations(show, &id, &spec)?;
        let source = &show.inputs[index];
        let Some(feeds) = &source.feeds else {
            return Err(CommandError::invalid_on(
                "output",
                &id,
                format!(
                    "input {input:?} is a {}: only files and playlists feed outputs",
                    source.spec.kind()
                ),
            ));
        };
        if !feeds.picture {
            return Err(CommandError::conflict_that(
                "input",
                &input,
                "has no picture (a song): it feeds no output; play it as a playlist, which shows \
                 its cover, or show it on a canvas",
            ));
        }
        if feeds.video.has_ended() {
            return Err(CommandError::conflict_that(
                "input",
                &input,
                "has ended: it has nothing more to feed an output",
            ));
        }
        let encode = match show.fed_encode(feeds, profile) {
            Some(encode) => encode,
            None => {
                let mut settings = self.encoder.clone();
                if let Some((width, height)) = self.encode_size.or(source.size) {
                    (settings.video.width, settings.video.height) = (width, height);
                }
                // An input read faster or slower than real time waits for its slowest
                // destination; one read in real time does not (a live stream drops instead).
                let mut streaming = self.streaming.clone();
                streaming.wait_for_destinations = !source.spec.is_real_time();
                let mut encode = CanvasEncode::start_fed(
                    &input,
                    settings,
                    profile,
                    &streaming,
                    feeds,
                    self.encode_audio,
                    self.frame_limit,
                )?;
                encode.drain = self.drain_after;
                show.encodes.push(encode);
                show.encodes.len() - 1
            }
        };
        self.branch(
            show,
            id,
            String::new(),
            Some(input),
            spec,
            encode,
            destinations,
        )
    }

    /// A recording or a stream: a branch of one of the canvas's encodes (started with the
    /// first).
    fn start_encoded(
        &self,
        show: &mut Show,
        id: String,
        canvas: String,
        spec: OutputSpec,
    ) -> Result<(), CommandError> {
        show.canvas(&canvas)?;
        let (destinations, profile) = self.stream_destinations(show, &id, &spec)?;
        let index = self.ensure_encode(show, &canvas, profile)?;
        self.branch(show, id, canvas, None, spec, index, destinations)
    }

    /// A stream output's destinations and the encode they take (WHIP endpoints a WebRTC one,
    /// VP8 once an endpoint of this output answered VP8 only); other outputs take the
    /// standard encode.
    fn stream_destinations(
        &self,
        show: &Show,
        id: &str,
        spec: &OutputSpec,
    ) -> Result<(Option<Vec<livekit_sinks::Destination>>, Profile), CommandError> {
        let OutputSpec::Stream { to } = spec else {
            return Ok((None, Profile::Standard));
        };
        let standard_suits = self.webrtc_profile() == Profile::Standard;
        let (destinations, profile) =
            crate::encode::resolve_stream(id, to, &self.sites, standard_suits)?;
        let profile = if profile == Profile::WebRtc && show.vp8_outputs.iter().any(|o| o == id) {
            Profile::WebRtcVp8
        } else {
            profile
        };
        Ok((Some(destinations), profile))
    }

    /// Starts output `id` as a branch of encode `index`: a recording, HLS, or a stream to
    /// `destinations`.
    #[allow(clippy::too_many_arguments)]
    fn branch(
        &self,
        show: &mut Show,
        id: String,
        canvas: String,
        input: Option<String>,
        spec: OutputSpec,
        index: usize,
        destinations: Option<Vec<livekit_sinks::Destination>>,
    ) -> Result<(), CommandError> {
        let encode = &show.encodes[index];
        let mut spec = spec;
        let running = match &mut spec {
            OutputSpec::Hls {
                dir,
                window,
                segments,
            } => {
                // The folder chosen shows in the state document.
                let of = match input.as_deref() {
                    Some(input) => format!("input-{input}"),
                    None => canvas.clone(),
                };
                let folder = dir
                    .get_or_insert_with(|| {
                        std::env::temp_dir()
                            .join(format!("livekit-hls-{}-{of}", std::process::id()))
                    })
                    .clone();
                let settings = RecorderSettings {
                    container: Some(livekit_sinks::Container::Hls),
                    hls: livekit_sinks::HlsSettings {
                        window: window.unwrap_or(livekit_sinks::HlsSettings::default().window),
                        segments: match segments {
                            crate::HlsSegmentFormat::Fmp4 => livekit_sinks::HlsSegments::Fmp4,
                            crate::HlsSegmentFormat::Ts => livekit_sinks::HlsSegments::Ts,
                        },
                        ..livekit_sinks::HlsSettings::default()
                    },
                    ..RecorderSettings::new(folder.join(crate::HLS_PLAYLIST))
                };
                encode
                    .record(&id, settings)
                    .map(outputs::Running::Recording)
            }
            OutputSpec::Record { path, crash_safe } => {
                let settings = RecorderSettings {
                    crash_safe: *crash_safe,
                    ..RecorderSettings::new(path.clone())
                };
                encode
                    .record(&id, settings)
                    .map(outputs::Running::Recording)
            }
            OutputSpec::Stream { .. } => encode
                .stream(&id, destinations.unwrap_or_default())
                .map(outputs::Running::Stream),
            _ => unreachable!("only recordings, streams and HLS are encoded"),
        };
        match running {
            Ok(running) => {
                let mut output = Output::encoded(&id, &canvas, &spec, running);
                output.input = input;
                output.video_encoder = encode.encoder().map(|e| e.video_encoder());
                output.encode_serial = Some(encode.serial);
                output.size = encode.size();
                show.outputs.push(output);
                Ok(())
            }
            Err(error) => {
                show.drop_idle_encodes();
                Err(error)
            }
        }
    }

    fn state(&self, show: &Show) -> StudioState {
        let layers_of = |input: &str| {
            show.layers
                .iter()
                .filter(|l| l.input == input)
                .map(|l| l.id.clone())
                .collect::<Vec<_>>()
        };
        let inputs = show
            .inputs
            .iter()
            .map(|input| InputDoc {
                id: input.id.clone(),
                // A URL's password or key is not shown.
                input: input.spec.redacted(),
                state: input.state.clone(),
                audio: input.mix.as_ref().map(|_| input.audio),
                when_failed: input.when_failed,
                layers: layers_of(&input.id),
                size: input.size.map(|(w, h)| [w, h]),
                playing: input.playing(),
            })
            .collect();
        let canvases = self.handle.edit(|c| {
            show.canvases
                .iter()
                .map(|canvas| CanvasDoc {
                    id: canvas.id.clone(),
                    width: canvas.settings.width,
                    height: canvas.settings.height,
                    fps: canvas.settings.fps.as_f64(),
                    background: canvas.settings.background.to_string(),
                    scene: c
                        .active_scene(canvas.canvas)
                        .map(str::to_owned)
                        .unwrap_or_default(),
                    scenes: canvas
                        .scenes
                        .iter()
                        .map(|scene| SceneDoc {
                            name: scene.clone(),
                            layers: scene_layers(c, show, &canvas.id, scene),
                        })
                        .collect(),
                    viewers: show
                        .encodes
                        .iter()
                        .filter(|e| e.canvas == canvas.id)
                        .flat_map(|e| e.viewers.docs())
                        .collect(),
                })
                .collect()
        });
        let outputs = show
            .outputs
            .iter()
            .map(|output| {
                let encode = Show::encode_of(&show.encodes, output);
                OutputDoc {
                    id: output.id.clone(),
                    canvas: output.canvas.clone(),
                    input: output.input.clone(),
                    output: output.spec.redacted(),
                    state: output.state.clone(),
                    frames: output.frames(encode),
                    dropped_frames: output.dropped_frames(encode),
                    destinations: output.destinations(encode),
                    recording: output.recording(encode).map(|r| RecordingDoc {
                        path: r.path.display().to_string(),
                        bytes: r.bytes,
                        seconds: r.duration.as_secs_f64(),
                        dropped_packets: r.dropped_packets,
                    }),
                    encoder: output.video_encoder.map(str::to_owned),
                }
            })
            .collect();
        StudioState {
            version: API_VERSION,
            commands_applied: show.applied,
            inputs,
            canvases,
            outputs,
            encodes: show.encodes.len(),
            stats: show.stats,
        }
    }
}

/// A scene's layers, back to front (by z, then the order they were added in).
fn scene_layers(c: &Compositor, show: &Show, canvas: &str, scene: &str) -> Vec<LayerFields> {
    let mut layers: Vec<(i32, usize, LayerFields)> = show
        .layers
        .iter()
        .enumerate()
        .filter(|(_, l)| l.canvas == canvas && l.scene == scene)
        .filter_map(|(order, l)| {
            let layer = c.layer(l.layer).ok()?;
            Some((
                layer.z,
                order,
                LayerFields {
                    id: l.id.clone(),
                    input: Some(l.input.clone()),
                    ..fields_of(layer)
                },
            ))
        })
        .collect();
    layers.sort_by_key(|(z, order, _)| (*z, *order));
    layers.into_iter().map(|(_, _, doc)| doc).collect()
}

/// The playback of a file or playlist input.
fn playback(input: &Input) -> Result<&livekit_sources::Playback, CommandError> {
    match &input.running {
        Running::Player(player) => Ok(player),
        Running::Playlist(playlist) => Ok(playlist),
        _ => Err(CommandError::conflict_that(
            "input",
            &input.id,
            format!(
                "is a {}: only files and playlists pause, resume and seek",
                input.spec.kind()
            ),
        )),
    }
}

/// Sets what `props` gives on `layer`, then checks the result. In an update, a `position`
/// given to a layer that has a rectangle moves the rectangle.
fn set_props(layer: &mut Layer, props: &LayerFields, update: bool) -> Result<(), String> {
    if let Some([x, y, w, h]) = props.rect {
        layer.rect = Some(Rect::new(x, y, w, h));
    }
    if let Some([x, y]) = props.position {
        match (&mut layer.rect, update && props.rect.is_none()) {
            (Some(rect), true) => {
                rect.x = x;
                rect.y = y;
            }
            _ => layer.position = Some((x, y)),
        }
    }
    if let Some([x, y, w, h]) = props.crop {
        layer.crop = Some(Crop::new(x, y, w, h));
    }
    if let Some(z) = props.z {
        layer.z = z;
    }
    if let Some(opacity) = props.opacity {
        layer.opacity = opacity;
    }
    if let Some(fit) = props.fit {
        layer.fit = fit;
    }
    if let Some(align) = props.align {
        layer.align = align;
    }
    if let Some(rotation) = props.rotation {
        layer.rotation = rotation;
    }
    if let Some(flip) = props.flip_horizontal {
        layer.flip_horizontal = flip;
    }
    if let Some(flip) = props.flip_vertical {
        layer.flip_vertical = flip;
    }
    if let Some(visible) = props.visible {
        layer.visible = visible;
    }
    layer.validate().map_err(|e| e.to_string())
}

/// Every setting of a layer, as [`LayerFields`] (without id, canvas, scene and input).
pub(crate) fn fields_of(layer: &Layer) -> LayerFields {
    LayerFields {
        id: String::new(),
        canvas: None,
        scene: None,
        input: None,
        rect: layer.rect.map(|r| [r.x, r.y, r.w, r.h]),
        position: layer.position.map(|(x, y)| [x, y]),
        crop: layer.crop.map(|c| [c.x, c.y, c.w, c.h]),
        z: Some(layer.z),
        opacity: Some(layer.opacity),
        fit: Some(layer.fit),
        align: Some(layer.align),
        rotation: Some(layer.rotation),
        flip_horizontal: Some(layer.flip_horizontal),
        flip_vertical: Some(layer.flip_vertical),
        visible: Some(layer.visible),
    }
}
