//! `livekit compose SCENE.toml --record FILE --stream SITE --virtual-camera DEVICE --preview`:
//! the canvas live (real time), encoded once for the recording and the sites, and/or sent to a
//! virtual camera, until Ctrl-C (or SIGTERM), `--frames N` or `--timeout SECONDS`; the file is
//! finalized either way and a one-line summary printed.
//!
//! Graph: compositor (SystemClock) -> Port (drop-oldest: a slow encoder loses frames, never
//! stalls the compositor) -> Encoder (+ a silent AAC track) -> Recorder and Streamer; and
//! -> Port (drop-oldest, 2) -> VirtualCamera; and -> Viewer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::anyhow;
use livekit_compositor::{Compositor, SceneFile};
use livekit_core::{
    AudioFrame, AudioSource, Clock, FrameSource, FrameTarget, Port, Pull, PushError, SystemClock,
    VideoFrame, VideoSource, VideoTarget,
};
use livekit_sinks::{
    Encoder, Recorder, RecorderSettings, StartRecorderError, Viewer, ViewerSettings, VirtualCamera,
    VirtualCameraSettings,
};

use crate::compose::ComposeArgs;
use crate::config::Config;
use crate::live::{Ended, Meter, Reading, StatusLine, StopSignal, confirm_go_live, run_until};
use crate::{Failure, usage};

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
    let destinations = crate::jobs::destinations(config, &args.stream)?;
    let file = SceneFile::load(&args.scene).map_err(usage)?;
    if !destinations.is_empty() {
        let shown: Vec<String> = destinations.iter().map(crate::jobs::shown).collect();
        confirm_go_live(args.yes, &args.scene.display().to_string(), &shown).map_err(usage)?;
    }
    let mut compositor = Compositor::new(args.backend)?;
    let system = SystemClock::new();
    let clock: Arc<dyn Clock> = Arc::new(system);
    let canvas = file
        .apply(&args.scene, &mut compositor, |spec| {
            crate::compose::open(spec, &clock)
        })
        .map_err(usage)?;
    let settings = &file.canvas;
    let encoding = path.is_some() || !destinations.is_empty();
    // Each output reads its own port. The encoder's: if it falls behind, frames are dropped
    // (and counted) rather than held up. The virtual camera's: only the newest frames matter.
    let frames = Port::<VideoFrame>::drop_oldest(30);
    let mut ports = Vec::new();
    if encoding {
        ports.push(frames.clone());
    }
    // The device is opened before anything starts: a missing one is a usage error.
    let virtual_camera = match &args.virtual_camera {
        Some(device) => {
            let port = Port::<VideoFrame>::drop_oldest(2);
            ports.push(port.clone());
            let camera = VirtualCamera::start(
                VirtualCameraSettings {
                    frame_rate: (settings.fps.num, settings.fps.den),
                    ..VirtualCameraSettings::new(device, settings.width, settings.height)
                },
                Arc::new(port),
            )
            .map_err(usage)?;
            Some(camera)
        }
        None => None,
    };
    let target = Arc::new(Limit {
        ports,
        left: AtomicU64::new(args.frames.unwrap_or(u64::MAX)),
    });
    compositor.add_target(canvas, "outputs", target)?;
    let viewer = if args.preview {
        let viewer = Arc::new(
            Viewer::open(ViewerSettings {
                title: format!("livekit: {}", args.scene.display()),
                ..ViewerSettings::default()
            })
            .map_err(usage)?,
        );
        compositor.add_target(
            canvas,
            "preview",
            Arc::clone(&viewer) as Arc<dyn VideoTarget>,
        )?;
        Some(viewer)
    } else {
        None
    };
    let backend = compositor.backend();

    let mut silence = None;
    let mut running_encoder = None;
    let mut recorder = None;
    let mut streamer = None;
    // The size the encoder writes (even sizes, at least 2x2), for the summary.
    let mut encoded_size = None;
    if encoding {
        let mut encoder = crate::jobs::encoder_settings(
            config,
            &destinations,
            (settings.width, settings.height),
            (settings.fps.num, settings.fps.den),
        )?;
        // --encoder, else the configuration's defaults.encoder (encoder_settings set it).
        if let Some(choice) = args.encoder {
            encoder.video.encoder = choice;
        }
        if args.kbps.is_some() {
            encoder.video.kbps = args.kbps;
        }
        silence = (!args.no_audio).then(|| {
            Arc::new(Silence::new(
                system,
                encoder.audio.sample_rate,
                encoder.audio.channels,
            ))
        });
        let started = Encoder::start(
            encoder,
            Arc::new(frames.clone()) as Arc<dyn VideoSource>,
            silence.clone().map(|s| s as Arc<dyn AudioSource>),
        )?;
        let streams = started.streams().to_vec();
        encoded_size = streams.iter().find_map(|stream| match stream.params {
            livekit_core::StreamParams::Video { width, height, .. } => Some((width, height)),
            _ => None,
        });
        let recording = path.map(|path| RecorderSettings {
            crash_safe: args.crash_safe,
            ..RecorderSettings::new(path)
        });
        if !destinations.is_empty() {
            // Recording too: a branch of the streamer (its own queue: a slow or full disk
            // never holds up the stream).
            streamer = Some(crate::jobs::start_streamer_recording(
                destinations,
                streams,
                started.packets(),
                true,
                crate::jobs::give_up_after(config, args.give_up_after),
                recording.into_iter().collect(),
            )?);
        } else if let Some(recording) = recording {
            recorder = Some(
                Recorder::from_packets(recording, streams, started.packets()).map_err(|error| {
                    match error {
                        StartRecorderError::Open { .. }
                        | StartRecorderError::UnknownExtension { .. } => usage(error),
                        other => Failure::Runtime(other.into()),
                    }
                })?,
            );
        }
        running_encoder = Some(started);
    }
    let video_encoder = running_encoder
        .as_ref()
        .map(|e| e.video_encoder())
        .unwrap_or_default();

    // Ctrl-C / SIGTERM: the first stops cleanly, a second exits at once.
    let stop = StopSignal::install()?;
    let running = compositor.start(clock).map_err(|e| anyhow!("{e}"))?;
    if let Some(silence) = &silence {
        silence.restart();
    }
    let mut what = Vec::new();
    if let Some(path) = path {
        what.push(format!("recording to {}", path.display()));
    }
    if streamer.is_some() {
        what.push("streaming".to_owned());
    }
    if let Some(camera) = &virtual_camera {
        what.push(format!("virtual camera {}", camera.device().display()));
    }
    let encoded_with = if encoding {
        format!(", {video_encoder}")
    } else {
        String::new()
    };
    if !quiet {
        eprintln!(
            "{}: {} ({backend}{encoded_with}); press Ctrl-C to stop",
            what.join(", "),
            args.scene.display(),
        );
    }
    let limit = args.timeout.map(Duration::from_secs_f64);
    let status = StatusLine::new(quiet, None);
    let mut meter = Meter::default();
    let handle = running.handle();
    // Nothing but the recording: a recording that failed (a full disk) ends the job. With
    // more outputs the job goes on: the failed recording was one branch of the streamer.
    let recording_only = streamer.is_none() && virtual_camera.is_none() && viewer.is_none();
    let ended = run_until(&stop, limit, || {
        let rendering = handle.stats();
        let mut reading = match &running_encoder {
            Some(encoder) => Reading::encoder(&encoder.stats()),
            // A virtual camera alone: the canvas's frames are what goes out.
            None => Reading {
                frames: rendering.rendered,
                ..Reading::default()
            },
        }
        .with_compositor(&rendering)
        .with_dropped(frames.dropped());
        if let Some(camera) = &virtual_camera {
            reading.dropped += camera.stats().skipped;
        }
        let mut parts = Vec::new();
        if let Some(streamer) = &streamer {
            parts.push(crate::jobs::describe(&streamer.stats()));
        }
        if let Some(recorder) = &recorder {
            parts.push(format!(
                "{} recorded",
                crate::live::bytes(recorder.stats().bytes)
            ));
        }
        if let Some(recording) = streamer
            .as_ref()
            .and_then(|s| s.recording_stats().into_iter().next())
        {
            parts.push(format!("{} recorded", crate::live::bytes(recording.bytes)));
        }
        parts.push(meter.line(reading));
        status.update(None, parts.join(" | "));
        (recording_only && recorder.as_ref().is_some_and(|r| r.is_finished()))
            || running_encoder.as_ref().is_some_and(|e| e.is_finished())
            || virtual_camera.as_ref().is_some_and(|c| c.is_finished())
            || viewer.as_ref().is_some_and(|v| v.is_closed())
            || streamer.as_ref().is_some_and(|s| {
                s.stats()
                    .iter()
                    .all(|d| d.state == livekit_sinks::stream::DestinationState::Failed)
            })
    });
    status.finish();
    if let Some(streamer) = &streamer
        && ended != Ended::Finished
    {
        // Asked to end: a destination still trying to connect is not waited for.
        streamer.give_up_connecting();
    }
    let why = ended.describe("stopped at --frames");
    // Ends the canvas's stream: the encoder flushes, the recorder finalizes, the virtual
    // camera closes its device.
    let rendered = running.stop().map_err(|e| anyhow!("{e}"))?;
    if let Some(silence) = &silence {
        silence.end();
    }
    let encoded = running_encoder.map(|e| e.wait()).transpose()?;
    if let Some(viewer) = viewer {
        viewer.close();
    }
    if let Some(camera) = virtual_camera {
        let device = camera.device().to_path_buf();
        let sent = camera.wait()?;
        println!(
            "sent {} of {} to virtual camera {} ({}x{}; {why})",
            crate::live::count(sent.frames, "frame"),
            args.scene.display(),
            device.display(),
            settings.width & !1,
            settings.height & !1,
        );
    }
    // The packets have ended: the streamer finishes (and finalizes its recording).
    let mut report = streamer.map(|s| s.wait());
    let recorded = match (recorder, report.as_mut()) {
        (Some(recorder), _) => Some(recorder.wait()),
        (None, Some(report)) => report.recordings.pop().map(|r| {
            crate::jobs::warn_recording_losses(&r.stats);
            r.result
        }),
        (None, None) => None,
    };
    let mut recording_error = None;
    if let (Some(recorded), Some(encoded)) = (recorded, &encoded) {
        let (width, height) = encoded_size.unwrap_or((settings.width & !1, settings.height & !1));
        match recorded {
            Ok(summary) => println!(
                "recorded {:.2} s ({}, {} dropped) of {} to {} ({}, {}x{}, {video_encoder}, {} bytes; {why})",
                summary.duration.as_secs_f64(),
                crate::live::count(encoded.video_frames, "frame"),
                frames.dropped() + rendered.late,
                args.scene.display(),
                summary.path.display(),
                summary.container,
                width,
                height,
                summary.file_bytes,
            ),
            // The streams still get their summary first.
            Err(error) => recording_error = Some(error),
        }
    }
    if let Some(report) = report {
        // Frames lost on the way to the encoder: the streams lack them too.
        let dropped = frames.dropped() + rendered.late;
        if dropped > 0 && !quiet {
            eprintln!(
                "livekit: {} dropped: rendering or encoding could not keep up with real time",
                crate::live::count(dropped, "video frame")
            );
        }
        // The wall clock, as for the recording (whose length is its frames' real-time
        // timestamps): not the rendered frames over the frame rate, which is short by every
        // frame the compositor skipped.
        crate::jobs::summarize(&report, ended, status.elapsed(), quiet)?;
    }
    match recording_error {
        Some(error) => Err(Failure::Runtime(error.into())),
        None => Ok(()),
    }
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

/// Passes frames on to the outputs' ports until `left` runs out, then ends them.
struct Limit {
    ports: Vec<Port<VideoFrame>>,
    left: AtomicU64,
}

impl FrameTarget<VideoFrame> for Limit {
    fn push(&self, frame: VideoFrame) -> Result<(), PushError> {
        let took = self
            .left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            });
        let Ok(left) = took else {
            return Err(PushError::Ended);
        };
        // One output that stopped reading (a closed port) does not stop the others.
        let mut result = Err(PushError::Closed);
        for port in &self.ports {
            if port.push(frame.clone()).is_ok() {
                result = Ok(());
            }
            if left == 1 {
                port.end();
            }
        }
        result
    }

    fn end(&self) {
        for port in &self.ports {
            port.end();
        }
    }
}

/// Silence in real time: a block of 1024 sample frames whenever one is due on the clock.
struct Silence {
    clock: SystemClock,
    rate: u32,
    channels: u16,
    /// Time zero on the clock (none before [`restart`](Self::restart)) and samples sent.
    state: std::sync::Mutex<(Option<Duration>, u64)>,
    ended: std::sync::atomic::AtomicBool,
}

const BLOCK: u64 = 1024;

impl Silence {
    fn new(clock: SystemClock, rate: u32, channels: u16) -> Self {
        Self {
            clock,
            rate,
            channels,
            state: std::sync::Mutex::new((None, 0)),
            ended: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Starts: time zero is now (when the compositor starts).
    fn restart(&self) {
        *self.state() = (Some(self.clock.now()), 0);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, (Option<Duration>, u64)> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn end(&self) {
        self.ended.store(true, Ordering::SeqCst);
    }

    fn take(&self, wait: Duration) -> Pull<AudioFrame> {
        if self.ended.load(Ordering::SeqCst) {
            return Pull::Ended;
        }
        let (Some(origin), sent) = *self.state() else {
            std::thread::sleep(wait.min(Duration::from_millis(10)));
            return Pull::Pending;
        };
        let rate = u64::from(self.rate);
        let due = origin + Duration::from_nanos((sent + BLOCK) * 1_000_000_000 / rate);
        if !self.clock.wait_until(due, wait) {
            return Pull::Pending;
        }
        let pts = Duration::from_nanos(sent * 1_000_000_000 / rate);
        self.state().1 = sent + BLOCK;
        match AudioFrame::silence(BLOCK as usize, self.rate, self.channels, pts) {
            Ok(frame) => Pull::Frame(frame),
            Err(_) => Pull::Ended,
        }
    }
}

impl FrameSource<AudioFrame> for Silence {
    fn latest(&self) -> Pull<AudioFrame> {
        self.take(Duration::ZERO)
    }

    fn next(&self, timeout: Duration) -> Pull<AudioFrame> {
        self.take(timeout)
    }
}
