//! `livekit compose SCENE.toml --record FILE --stream SITE --virtual-camera DEVICE --preview`
//! (and what every job on a studio shares: [`run_show`], [`status_line`], [`summarize_stream`]):
//! the scene on a [`Studio`], live (real time), until Ctrl-C (or SIGTERM), `--frames N` or
//! `--timeout SECONDS`; every output is finalized either way and a one-line summary printed.
//!
//! The studio encodes the canvas once (with the program audio: the scene's file layers and
//! `[[audio]]` inputs, silence without them) for the recording and every site; the virtual
//! camera and the preview window get the canvas's frames as they are.

use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use livekit_sinks::RecorderSettings;
use livekit_sinks::stream::StreamReport;
use livekit_studio::{
    Command, CommandError, ErrorKind, MAIN_CANVAS, OutputReport, OutputSpec, OutputState, Studio,
    StudioSettings,
};

use crate::compose::ComposeArgs;
use crate::config::Config;
use crate::keys::{Key, KeyHelp, Keys, help_line};
use crate::live::{Ended, Meter, Reading, StatusLine, StopSignal, confirm_go_live, run_until};
use crate::{Failure, usage};

/// The ids of the outputs a job on a studio starts.
pub(crate) const RECORD: &str = "record";
pub(crate) const STREAM: &str = "stream";
/// The output id of a job's WHIP destinations: WebRTC peers take an encode of their own (H.264
/// without B-frames, Opus), and an output holds one kind, so they go beside [`STREAM`].
pub(crate) const STREAM_WEBRTC: &str = "stream-webrtc";
/// The output id of `--hls`.
pub(crate) const HLS: &str = "hls";
pub(crate) const VIRTUAL_CAMERA: &str = "virtual-camera";
pub(crate) const PREVIEW: &str = "preview";

/// What the keys do in `compose`.
const COMPOSE_KEYS: KeyHelp = &[
    ("1-9", "switch scene"),
    ("r", "start/stop recording"),
    ("p", "pause/resume files"),
    ("n", "next playlist entry"),
    ("q", "stop"),
    ("?", "keys"),
];

/// A studio's refusal as the command line says it: an output or input that cannot open is
/// named by what it opens (the reason names the file, device or site), not by the id the job
/// chose.
pub(crate) fn refused(error: CommandError) -> Failure {
    let message = match error.target {
        Some(target)
            if matches!(target.what, "output" | "input") && error.kind == ErrorKind::Invalid =>
        {
            error.reason
        }
        _ => error.message,
    };
    usage(anyhow!(message))
}

/// The sites and URLs the scene file's `[[output]]` streams name.
fn file_stream_targets(file: &livekit_compositor::SceneFile) -> Vec<String> {
    file.outputs
        .iter()
        .filter(|o| o.fields.get("kind").and_then(|k| k.as_str()) == Some("stream"))
        .filter_map(|o| o.fields.get("to").and_then(|t| t.as_array()))
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect()
}

/// The files the scene file's `[[output]]` recordings write (relative to the scene's folder).
fn file_recordings(file: &livekit_compositor::SceneFile) -> Vec<std::path::PathBuf> {
    let folder = file.path.parent().unwrap_or(std::path::Path::new("."));
    file.outputs
        .iter()
        .filter(|o| o.fields.get("kind").and_then(|k| k.as_str()) == Some("record"))
        .filter_map(|o| o.fields.get("path").and_then(|p| p.as_str()))
        .map(|path| folder.join(path))
        .collect()
}

pub(crate) fn start_output(studio: &Studio, id: &str, output: OutputSpec) -> Result<(), Failure> {
    studio
        .apply(Command::StartOutput {
            id: id.to_owned(),
            canvas: MAIN_CANVAS.to_owned(),
            input: None,
            output,
        })
        .map_err(refused)
}

pub fn run(config: &Config, args: &ComposeArgs, quiet: bool) -> Result<(), Failure> {
    if let Some(timeout) = args.timeout
        && !(timeout.is_finite() && timeout > 0.0)
    {
        return Err(usage(anyhow!(
            "--timeout {timeout}: must be a number of seconds above 0"
        )));
    }
    let path = args.record.as_deref();
    // Refuse a wrong extension or an unknown site before anything starts.
    if let Some(path) = path {
        check_recording_path(path)?;
        check_overwrite(path, args.force)?;
    }
    let file = crate::compose::load_scene(args)?;
    // The scene file's recordings are guarded as --record's is.
    for path in file_recordings(&file) {
        check_overwrite(&path, args.force)?;
    }
    // The scene file's own stream outputs go live too: their sites are checked and shown
    // with --stream's before anything starts (their keys come from the configuration).
    let mut stream_to = args.stream.clone();
    stream_to.extend(file_stream_targets(&file));
    let destinations = crate::jobs::destinations(config, &stream_to)?;
    if !destinations.is_empty() {
        let shown: Vec<String> = destinations.iter().map(crate::jobs::shown).collect();
        confirm_go_live(args.yes, &args.scene.display().to_string(), &shown).map_err(usage)?;
    }
    let canvas = &file.canvas;
    let encoding = path.is_some() || !destinations.is_empty() || args.hls.hls.is_some();
    // --size scales what is encoded; the scene keeps its layout.
    let mut encoder = crate::jobs::encoder_settings(
        config,
        &destinations,
        args.size.unwrap_or((canvas.width, canvas.height)),
        (canvas.fps.num, canvas.fps.den),
    )?;
    // --encoder, else the configuration's defaults.encoder (encoder_settings set it).
    if let Some(choice) = args.encoder {
        encoder.video.encoder = choice;
    }
    if args.kbps.is_some() {
        encoder.video.kbps = args.kbps;
    }
    let give_up = crate::jobs::give_up_after(config, args.give_up_after);
    let studio = Studio::start(StudioSettings {
        backend: args.backend,
        encode_audio: !args.no_audio,
        frame_limit: args.frames,
        encode_size: args.size,
        ..crate::jobs::studio_settings(config, "livekit", encoder, give_up)
    })?;
    studio.load_scene(&args.scene, &file).map_err(usage)?;

    // The outputs, each opened before the job says it runs: a missing device, display or
    // folder is a usage error. The recording and the streams are added together, before the
    // first packet: both start with it.
    if let Some(device) = &args.virtual_camera {
        let device = device.clone();
        start_output(
            &studio,
            VIRTUAL_CAMERA,
            OutputSpec::VirtualCamera { device },
        )?;
    }
    if args.preview {
        let title = Some(format!("livekit: {}", args.scene.display()));
        start_output(&studio, PREVIEW, OutputSpec::Preview { title })?;
    }
    if let Some(path) = path {
        let output = OutputSpec::Record {
            path: path.to_path_buf(),
            crash_safe: args.crash_safe,
        };
        start_output(&studio, RECORD, output)?;
    }
    start_streams(&studio, &args.stream)?;
    if let Some(hls) = args.hls.output() {
        start_output(&studio, HLS, hls)?;
    }

    // --listen: the show served over HTTP; it runs until stopped, whatever its outputs do.
    let studio = Arc::new(studio);
    let server = match args.control.start(&studio, None) {
        Ok(server) => server,
        Err(error) => {
            if let Some(studio) = Arc::into_inner(studio) {
                studio.stop();
            }
            return Err(error);
        }
    };
    let served = server.is_some();
    // Ctrl-C / SIGTERM: the first stops cleanly, a second exits at once.
    let stop = StopSignal::install()?;
    let backend = studio.backend().to_string();
    let video_encoder = studio
        .state()
        .outputs
        .iter()
        .find_map(|o| o.encoder.clone())
        .unwrap_or_default();
    // What runs: the flags' outputs and the scene file's own.
    let mut what = Vec::new();
    for output in studio.state().outputs {
        let said = match &output.output {
            OutputSpec::Record { path, .. } => format!("recording to {}", path.display()),
            OutputSpec::Stream { .. } => "streaming".to_owned(),
            OutputSpec::Hls { dir: Some(dir), .. } => format!("HLS to {}", dir.display()),
            OutputSpec::Hls { dir: None, .. } => "HLS".to_owned(),
            OutputSpec::VirtualCamera { device } => {
                format!("virtual camera {}", device.display())
            }
            OutputSpec::Preview { .. } => "previewing".to_owned(),
            OutputSpec::Ipc { name } => format!("sharing as {name}"),
            other => other.kind().to_owned(),
        };
        if !what.contains(&said) {
            what.push(said);
        }
    }
    if let Some(server) = &server {
        what.push(format!("serving at {}", server.url()));
    }
    if what.is_empty() {
        what.push("previewing".to_owned());
    }
    let encoded_with = if encoding {
        format!(", {video_encoder}")
    } else {
        String::new()
    };
    let keys = Keys::start();
    if !quiet {
        let how = if keys.is_some() {
            "press q or Ctrl-C to stop, ? for keys"
        } else {
            "press Ctrl-C to stop"
        };
        eprintln!(
            "{}: {} ({backend}{encoded_with}); {how}",
            what.join(", "),
            args.scene.display(),
        );
    }
    let scenes: Vec<String> = studio
        .state()
        .canvases
        .first()
        .map(|c| c.scenes.iter().map(|s| s.name.clone()).collect())
        .unwrap_or_default();
    let mut live = Live {
        studio: &studio,
        help: COMPOSE_KEYS,
        record: path.map(std::path::Path::to_path_buf),
        crash_safe: args.crash_safe,
        recordings: usize::from(path.is_some()),
        scenes,
        stopped_by_key: Vec::new(),
    };
    let limit = args.timeout.map(Duration::from_secs_f64);
    let status = StatusLine::new(quiet, None);
    // Nothing but the recording: a recording that failed (a full disk) ends the job. With
    // more outputs the job goes on: the failed recording was one branch of the encode.
    let recording_only =
        path.is_some() && destinations.is_empty() && args.virtual_camera.is_none() && !args.preview;
    let ended = run_show(
        &mut live,
        &stop,
        limit,
        &status,
        keys.as_ref(),
        Ending {
            recording_only,
            // Served: the show runs until stopped, whatever its outputs do.
            until_stopped: served,
            ..Ending::default()
        },
    );
    status.finish();
    drop(keys);
    let why = ended.describe("stopped at --frames");
    let late = studio.render_stats().late;
    let stopped_by_key = std::mem::take(&mut live.stopped_by_key);
    drop(live);
    // Every output ends: the recording is finalized, the streams close, the virtual camera
    // sends what it holds and closes its device.
    let report = crate::control::take_back(studio, server)?.stop();
    let output = |id: &str| report.outputs.iter().find(|o| o.id == id);
    let (width, height) = (canvas.width & !1, canvas.height & !1);
    if let (Some(camera), Some(device)) = (output(VIRTUAL_CAMERA), &args.virtual_camera) {
        println!(
            "sent {} of {} to virtual camera {} ({width}x{height}; {why})",
            crate::live::count(camera.frames, "frame"),
            args.scene.display(),
            device.display(),
        );
    }
    let mut recording_error = None;
    // Every recording: --record's, those started with r, and the scene file's.
    for recorded in report
        .outputs
        .iter()
        .filter(|o| matches!(o.output, OutputSpec::Record { .. }))
    {
        let Some(recording) = &recorded.recording else {
            continue;
        };
        let why = if stopped_by_key.contains(&recorded.id) {
            "stopped by r"
        } else {
            why.as_str()
        };
        let (width, height) = recorded.size.unwrap_or((width, height));
        match &recording.result {
            Ok(summary) => println!(
                "recorded {:.2} s ({}, {} dropped) of {} to {} ({}, {}x{}, {video_encoder}, {} bytes; {why})",
                summary.duration.as_secs_f64(),
                crate::live::count(recorded.frames, "frame"),
                recorded.dropped_frames + late,
                args.scene.display(),
                summary.path.display(),
                summary.container,
                width,
                height,
                summary.file_bytes,
            ),
            // The streams still get their summary first.
            Err(error) => recording_error = Some(error.clone()),
        }
    }
    if let Some(streamed) = summarize_streams(&report, late, ended, status.elapsed(), quiet) {
        streamed?;
    }
    summarize_hls(&report)?;
    encoding_failed(&report)?;
    match recording_error {
        Some(error) => Err(Failure::Runtime(error.into())),
        None => Ok(()),
    }
}

/// The job's error when an output's encoder stopped early (a hardware encoder whose device
/// went away): what was encoded before was kept and summarized, but the job did not do what
/// it was asked, so it must not end as a success.
pub(crate) fn encoding_failed(report: &livekit_studio::StudioReport) -> Result<(), Failure> {
    match report
        .outputs
        .iter()
        .find_map(|o| o.encoding_error.as_ref().map(|e| (&o.id, e)))
    {
        Some((output, error)) => Err(Failure::Runtime(anyhow!("output {output}: {error}"))),
        None => Ok(()),
    }
}

/// What the keys act on in a running job on a studio (`compose`, the capture jobs).
pub(crate) struct Live<'a> {
    pub(crate) studio: &'a Studio,
    /// The keys the job understands (the others are answered with this list).
    pub(crate) help: KeyHelp,
    /// `--record`: where `r` records (a second recording goes to NAME-2.EXT, and so on).
    pub(crate) record: Option<std::path::PathBuf>,
    pub(crate) crash_safe: bool,
    /// Recordings started so far.
    pub(crate) recordings: usize,
    /// The canvas's scenes, in the scene file's order.
    pub(crate) scenes: Vec<String>,
    /// The recordings stopped with `r`.
    pub(crate) stopped_by_key: Vec<String>,
}

impl Live<'_> {
    /// The output id of recording number `n` (1 for the first).
    fn recording_id(n: usize) -> String {
        if n <= 1 {
            RECORD.to_owned()
        } else {
            format!("record-{n}")
        }
    }

    /// Whether the last recording was stopped with `r` (and none runs now): the show goes on
    /// until `r` again or `q`.
    pub(crate) fn recording_paused(&self) -> bool {
        self.stopped_by_key
            .contains(&Self::recording_id(self.recordings))
    }

    fn recording_runs(&self) -> bool {
        let id = Self::recording_id(self.recordings);
        self.studio
            .state()
            .outputs
            .iter()
            .any(|o| o.id == id && matches!(o.state, OutputState::Starting | OutputState::Live))
    }

    /// Does what `key` asks; returns what to tell the user (a key the job does not know:
    /// the list of those it does).
    fn act(&mut self, key: Key) -> Option<String> {
        let listed = match key {
            Key::Scene(_) => "1-9",
            Key::Record => "r",
            Key::Pause => "p",
            Key::Next => "n",
            Key::Quit => "q",
            Key::Help => "?",
        };
        if !self.help.iter().any(|(k, _)| *k == listed) {
            return Some(help_line(self.help));
        }
        let apply = |command: Command| self.studio.apply(command).map_err(|e| e.message);
        let result = match key {
            Key::Scene(n) => match self.scenes.get(n - 1) {
                Some(scene) => apply(Command::SwitchScene {
                    canvas: MAIN_CANVAS.to_owned(),
                    scene: scene.clone(),
                    transition: Default::default(),
                })
                .map(|()| format!("scene {n}: {scene}")),
                None => Err(format!(
                    "no scene {n}: the scene file has {}",
                    crate::live::count(self.scenes.len() as u64, "scene")
                )),
            },
            Key::Record => self.toggle_recording(),
            Key::Pause => self.each_media(false, |id, paused| {
                if paused {
                    Command::ResumeInput { id }
                } else {
                    Command::PauseInput { id }
                }
            }),
            Key::Next => self.each_media(true, |id, _| Command::SkipInput { id, by: 1 }),
            Key::Help => Ok(help_line(self.help)),
            Key::Quit => return None,
        };
        Some(result.unwrap_or_else(|error| error))
    }

    fn toggle_recording(&mut self) -> Result<String, String> {
        let Some(path) = &self.record else {
            return Err("no recording: give --record FILE to record with r".to_owned());
        };
        if self.recording_runs() {
            let id = Self::recording_id(self.recordings);
            self.studio
                .apply(Command::StopOutput { id: id.clone() })
                .map_err(|e| e.message)?;
            self.stopped_by_key.push(id);
            return Ok("recording stopped (r records again)".to_owned());
        }
        let n = self.recordings + 1;
        let path = if n == 1 {
            path.clone()
        } else {
            numbered(path, n)
        };
        check_overwrite(&path, false)
            .map_err(|_| format!("recording file {}: already exists", path.display()))?;
        self.studio
            .apply(Command::StartOutput {
                id: Self::recording_id(n),
                canvas: MAIN_CANVAS.to_owned(),
                input: None,
                output: OutputSpec::Record {
                    path: path.clone(),
                    crash_safe: self.crash_safe,
                },
            })
            .map_err(|e| e.message)?;
        self.recordings = n;
        Ok(format!("recording to {}", path.display()))
    }

    /// Applies the command `make` gives for each playlist input, and each file input unless
    /// `playlists_only` (with whether it is paused now).
    fn each_media(
        &self,
        playlists_only: bool,
        make: impl Fn(String, bool) -> Command,
    ) -> Result<String, String> {
        let state = self.studio.state();
        let media: Vec<_> = state
            .inputs
            .iter()
            .filter(|i| match i.input {
                livekit_studio::InputSpec::Playlist { .. } => true,
                livekit_studio::InputSpec::File { .. } => !playlists_only,
                _ => false,
            })
            .collect();
        if media.is_empty() {
            return Err(if playlists_only {
                "no playlist in the scene".to_owned()
            } else {
                "no file or playlist in the scene".to_owned()
            });
        }
        let mut done = Vec::new();
        for input in media {
            let paused = input.state == livekit_studio::InputState::Paused;
            let command = make(input.id.clone(), paused);
            let name = command.name();
            match self.studio.apply(command) {
                Ok(()) => done.push(format!("{} {}", name.trim_end_matches("_input"), input.id)),
                Err(error) => done.push(error.message),
            }
        }
        Ok(done.join("; "))
    }
}

/// When a job on a studio ends, besides Ctrl-C, `q`, its time limit and every output having
/// stopped.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ending {
    /// A failed recording ends the job (nothing else runs).
    pub(crate) recording_only: bool,
    /// The job ends when one of these inputs has ended (a capture whose device went away).
    pub(crate) inputs: Vec<String>,
    /// The job does not end when its outputs have all stopped (a served show: outputs come
    /// and go over the API).
    pub(crate) until_stopped: bool,
}

/// Runs a job on a studio until it ends: Ctrl-C, `q`, `limit`, its outputs all stopped (or
/// given their frames), a failed stream or virtual camera, or what `ending` adds. Keys act on
/// the show; the status line says how each output does (through [`status_line`]).
pub(crate) fn run_show(
    live: &mut Live<'_>,
    stop: &StopSignal,
    limit: Option<Duration>,
    status: &StatusLine,
    keys: Option<&Keys>,
    ending: Ending,
) -> Ended {
    let studio = live.studio;
    let mut meter = Meter::default();
    run_until(stop, limit, || {
        while let Some(key) = keys.and_then(Keys::next) {
            if key == Key::Quit {
                stop.request();
            } else if let Some(said) = live.act(key) {
                status.say(&said);
            }
        }
        let state = studio.state();
        status.update(None, status_line(studio, &state, &mut meter));
        let output = |id: &str| state.outputs.iter().find(|o| o.id == id);
        let failed =
            |id: &str| output(id).is_some_and(|o| matches!(o.state, OutputState::Failed { .. }));
        // Idle: every output got its frames (--frames) or stopped, unless the recording was
        // stopped with `r` (the show goes on until `r` again or `q`).
        let idle = !state
            .outputs
            .iter()
            .any(|o| matches!(o.state, OutputState::Starting | OutputState::Live));
        let input_ended = state
            .inputs
            .iter()
            .any(|i| ending.inputs.contains(&i.id) && i.state == livekit_studio::InputState::Ended);
        (idle && !live.recording_paused() && !ending.until_stopped)
            || input_ended
            || output(PREVIEW).is_some_and(|o| o.state == OutputState::Stopped)
            || streams_failed(&state)
            || failed(VIRTUAL_CAMERA)
            || (ending.recording_only && failed(RECORD))
    })
}

/// The status line of a job on a studio: each input whose device is lost, each destination
/// (label, state, bit rate), what is recorded, then the frame rate, encode time and drops.
pub(crate) fn status_line(
    studio: &Studio,
    state: &livekit_studio::StudioState,
    meter: &mut Meter,
) -> String {
    let rendering = studio.render_stats();
    let reading = match studio.encoder_stats(MAIN_CANVAS) {
        Some((stats, dropped)) => Reading::encoder(&stats).with_dropped(dropped),
        // A virtual camera or a preview alone: the canvas's frames are what goes out.
        None => Reading {
            frames: rendering.rendered,
            ..Reading::default()
        },
    }
    .with_compositor(&rendering);
    let mut parts = Vec::new();
    // A device that went away (a microphone unplugged): said until it is back.
    for input in &state.inputs {
        if matches!(input.state, livekit_studio::InputState::Lost { .. }) {
            parts.push(format!("{} lost", input.id));
        }
    }
    for output in &state.outputs {
        if !matches!(output.state, OutputState::Starting | OutputState::Live) {
            continue;
        }
        if !output.destinations.is_empty() {
            parts.push(describe(&output.destinations));
        }
        if let Some(recording) = &output.recording {
            parts.push(format!("{} recorded", crate::live::bytes(recording.bytes)));
        }
    }
    parts.push(meter.line(reading));
    parts.join(" | ")
}

/// `show.mkv` -> `show-2.mkv`.
fn numbered(path: &std::path::Path, n: usize) -> std::path::PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(extension) => format!("{stem}-{n}.{}", extension.to_string_lossy()),
        None => format!("{stem}-{n}"),
    };
    path.with_file_name(name)
}

/// The stream's summary, as every streaming job prints it.
/// The summary of `--hls` (the output [`HLS`]), if it ran: what its folder holds, or why it
/// failed (the error).
pub(crate) fn summarize_hls(report: &livekit_studio::StudioReport) -> Result<(), Failure> {
    let Some(recording) = report
        .outputs
        .iter()
        .find(|o| o.id == HLS)
        .and_then(|o| o.recording.as_ref())
    else {
        return Ok(());
    };
    match &recording.result {
        Ok(summary) => {
            println!(
                "HLS: {:.2} s to {} ({} bytes)",
                summary.duration.as_secs_f64(),
                summary.path.display(),
                summary.file_bytes
            );
            Ok(())
        }
        Err(error) => Err(Failure::Runtime(error.clone().into())),
    }
}

/// Starts a job's stream outputs for the sites and URLs `to`: [`STREAM`], and
/// [`STREAM_WEBRTC`] for its WHIP endpoints.
pub(crate) fn start_streams(studio: &Studio, to: &[String]) -> Result<(), Failure> {
    let (webrtc, other): (Vec<String>, Vec<String>) = to
        .iter()
        .cloned()
        .partition(|name| studio.is_whip_destination(name));
    for (id, to) in [(STREAM, other), (STREAM_WEBRTC, webrtc)] {
        if !to.is_empty() {
            start_output(studio, id, OutputSpec::Stream { to })?;
        }
    }
    Ok(())
}

/// Whether `output` is a stream output (the job's [`STREAM`] and [`STREAM_WEBRTC`], or a
/// scene file's).
fn is_stream(output: &OutputSpec) -> bool {
    matches!(output, OutputSpec::Stream { .. })
}

/// Whether a job streams and every one of its stream outputs failed (every destination gave
/// up): the job then ends.
pub(crate) fn streams_failed(state: &livekit_studio::StudioState) -> bool {
    let mut streams = state
        .outputs
        .iter()
        .filter(|o| is_stream(&o.output))
        .peekable();
    streams.peek().is_some() && streams.all(|o| matches!(o.state, OutputState::Failed { .. }))
}

/// The summary of a job's streams (every destination of its stream outputs), if it streamed.
pub(crate) fn summarize_streams(
    report: &livekit_studio::StudioReport,
    late: u64,
    ended: Ended,
    elapsed: Duration,
    quiet: bool,
) -> Option<Result<(), Failure>> {
    let streams: Vec<&OutputReport> = report
        .outputs
        .iter()
        .filter(|o| is_stream(&o.output))
        .collect();
    if streams.is_empty() {
        return None;
    }
    Some(summarize_stream(&streams, late, ended, elapsed, quiet))
}

fn summarize_stream(
    streams: &[&OutputReport],
    late: u64,
    ended: Ended,
    elapsed: Duration,
    quiet: bool,
) -> Result<(), Failure> {
    // Frames lost on the way to the encoder: the streams lack them too.
    let dropped = streams.iter().map(|s| s.dropped_frames).max().unwrap_or(0) + late;
    if dropped > 0 && !quiet {
        eprintln!(
            "livekit: {} dropped: rendering or encoding could not keep up with real time",
            crate::live::count(dropped, "video frame")
        );
    }
    let report = StreamReport {
        destinations: streams
            .iter()
            .flat_map(|s| s.destinations.iter().cloned())
            .collect(),
        packets_in: 0,
        recordings: Vec::new(),
    };
    // The wall clock, as for the recording (whose length is its frames' real-time
    // timestamps): not the rendered frames over the frame rate, which is short by every
    // frame the compositor skipped.
    crate::jobs::summarize(&report, ended, elapsed, quiet)
}

/// The destinations for the status line: label, state and bit rate (never a key).
fn describe(destinations: &[livekit_studio::DestinationStateDoc]) -> String {
    destinations
        .iter()
        .map(|d| crate::jobs::status_part(&d.name, &d.state, d.bitrate))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Refuses a recording path that is a folder or whose extension names no container we write.
pub(crate) fn check_recording_path(path: &std::path::Path) -> Result<(), Failure> {
    if path.is_dir() {
        return Err(usage(anyhow!(
            "recording file {}: is a folder (give a file name, such as {})",
            path.display(),
            path.join("show.mp4").display()
        )));
    }
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    if !folder.is_dir() {
        return Err(usage(anyhow!(
            "recording file {}: folder {} does not exist",
            path.display(),
            folder.display()
        )));
    }
    if RecorderSettings::new(path).resolve_container().is_err() {
        let what = match path.extension() {
            Some(extension) => format!(
                "unknown container extension {:?}",
                extension.to_string_lossy()
            ),
            None => "no extension".to_owned(),
        };
        return Err(usage(anyhow!(
            "recording file {}: {what} (use .mp4, .m4v, .mkv, .mov or .flv)",
            path.display()
        )));
    }
    Ok(())
}

/// Refuses to overwrite an existing recording file silently, as `config init` does: with
/// `force` it is overwritten; on a terminal the user is asked (y/N); without one it is a usage
/// error naming the file. (`--yes` answers the go-live question only, not this one.) Only a
/// regular file holds something to lose: a device (`/dev/null`) is written to as asked.
pub(crate) fn check_overwrite(path: &std::path::Path, force: bool) -> Result<(), Failure> {
    use std::io::{BufRead, IsTerminal, Write};
    if force || !path.is_file() {
        return Ok(());
    }
    let refused = || {
        usage(anyhow!(
            "recording file {}: already exists (add --force to overwrite it)",
            path.display()
        ))
    };
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(refused());
    }
    eprint!(
        "Recording file {} already exists. Overwrite it? [y/N] ",
        path.display()
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let read = stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| usage(anyhow!(e)))?;
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" if read > 0 => Ok(()),
        _ => Err(refused()),
    }
}
