//! `livekit compose SCENE.toml --record FILE`: the canvas live (real time), encoded and recorded
//! until Ctrl-C (or SIGTERM), `--frames N` or `--timeout SECONDS`; the file is finalized either
//! way and a one-line summary printed.
//!
//! Graph: compositor (SystemClock) -> Port (drop-oldest: a slow encoder loses frames, never
//! stalls the compositor) -> Encoder (+ a silent AAC track) -> Recorder.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::anyhow;
use livekit_compositor::{Compositor, SceneFile};
use livekit_core::{
    AudioFrame, AudioSource, Clock, FrameSource, FrameTarget, Packet, Port, Pull, PushError,
    SystemClock, VideoFrame, VideoSource, VideoTarget,
};
use livekit_sinks::{
    Encoder, Recorder, RecorderSettings, StartRecorderError, Viewer, ViewerSettings,
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
        RecorderSettings::new(path)
            .resolve_container()
            .map_err(usage)?;
    }
    let destinations = crate::jobs::destinations(config, &args.stream)?;
    let file = SceneFile::load(&args.scene).map_err(usage)?;
    if !destinations.is_empty() {
        let shown: Vec<String> = destinations.iter().map(|d| d.redacted_url()).collect();
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
    // The encoder reads what the compositor renders; if it falls behind, frames are dropped
    // (and counted) rather than held up.
    let frames = Port::<VideoFrame>::drop_oldest(30);
    let target = Arc::new(Limit {
        port: frames.clone(),
        left: AtomicU64::new(args.frames.unwrap_or(u64::MAX)),
    });
    compositor.add_target(canvas, "encoder", target)?;
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

    let mut encoder = crate::jobs::encoder_settings(
        config,
        &destinations,
        (settings.width, settings.height),
        (settings.fps.num, settings.fps.den),
    )?;
    encoder.video.encoder = args.encoder;
    if args.kbps.is_some() {
        encoder.video.kbps = args.kbps;
    }
    let silence = (!args.no_audio).then(|| {
        Arc::new(Silence::new(
            system,
            encoder.audio.sample_rate,
            encoder.audio.channels,
        ))
    });
    let running_encoder = Encoder::start(
        encoder,
        Arc::new(frames.clone()) as Arc<dyn VideoSource>,
        silence.clone().map(|s| s as Arc<dyn AudioSource>),
    )?;
    let video_encoder = running_encoder.video_encoder();
    let streams = running_encoder.streams().to_vec();
    let mut branches = Vec::new();
    let recorder = match path {
        Some(path) => {
            let branch = Port::blocking(256);
            branches.push(branch.clone());
            let recorder = Recorder::from_packets(
                RecorderSettings {
                    crash_safe: args.crash_safe,
                    ..RecorderSettings::new(path)
                },
                streams.clone(),
                Arc::new(branch) as Arc<dyn FrameSource<Packet>>,
            )
            .map_err(|error| match error {
                StartRecorderError::Open { .. } | StartRecorderError::UnknownExtension { .. } => {
                    usage(error)
                }
                other => Failure::Runtime(other.into()),
            })?;
            Some(recorder)
        }
        None => None,
    };
    let streamer = if destinations.is_empty() {
        None
    } else {
        let branch = Port::blocking(256);
        branches.push(branch.clone());
        Some(crate::jobs::start_streamer(destinations, streams, branch)?)
    };
    let tee = crate::jobs::tee(running_encoder.packets(), branches)?;

    // Ctrl-C / SIGTERM: the first stops cleanly, a second exits at once.
    let stop = StopSignal::install()?;
    let running = compositor.start(clock).map_err(|e| anyhow!("{e}"))?;
    if let Some(silence) = &silence {
        silence.restart();
    }
    let what = match (path, &streamer) {
        (Some(path), Some(_)) => format!("recording to {} and streaming", path.display()),
        (Some(path), None) => format!("recording to {}", path.display()),
        _ => "streaming".to_owned(),
    };
    eprintln!(
        "{what} {} ({backend}, {video_encoder}); press Ctrl-C to stop",
        args.scene.display(),
    );
    let limit = args.timeout.map(Duration::from_secs_f64);
    let status = StatusLine::new(quiet, None);
    let mut meter = Meter::default();
    let handle = running.handle();
    let ended = run_until(&stop, limit, || {
        let reading = Reading::encoder(&running_encoder.stats())
            .with_compositor(&handle.stats())
            .with_dropped(frames.dropped());
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
        parts.push(meter.line(reading));
        status.update(None, parts.join(" | "));
        running_encoder.is_finished()
            || viewer.as_ref().is_some_and(|v| v.is_closed())
            || streamer.as_ref().is_some_and(|s| {
                s.stats()
                    .iter()
                    .all(|d| d.state == livekit_sinks::stream::DestinationState::Failed)
            })
    });
    status.finish();
    let why = match ended {
        Ended::Interrupted => "interrupted",
        Ended::TimedOut => "time-out",
        Ended::Finished => "frame limit",
    };
    // Ends the canvas's stream: the encoder flushes, the recorder finalizes.
    let rendered = running.stop().map_err(|e| anyhow!("{e}"))?;
    if let Some(silence) = &silence {
        silence.end();
    }
    let encoded = running_encoder.wait()?;
    let _ = tee.join();
    if let Some(viewer) = viewer {
        viewer.close();
    }
    if let Some(recorder) = recorder {
        let summary = recorder.wait()?;
        println!(
            "recorded {:.2} s ({} frames, {} dropped) of {} to {} ({}, {}x{}, {video_encoder}, {} bytes; stopped by {why})",
            summary.duration.as_secs_f64(),
            encoded.video_frames,
            frames.dropped() + rendered.late,
            args.scene.display(),
            summary.path.display(),
            summary.container,
            settings.width & !1,
            settings.height & !1,
            summary.file_bytes,
        );
    }
    if let Some(streamer) = streamer {
        let report = streamer.wait();
        crate::jobs::summarize(
            &report,
            ended,
            Duration::from_secs_f64(rendered.rendered as f64 / settings.fps.as_f64().max(1.0)),
        )?;
    }
    Ok(())
}

/// Passes frames on to the encoder's port until `left` runs out, then ends it.
struct Limit {
    port: Port<VideoFrame>,
    left: AtomicU64,
}

impl FrameTarget<VideoFrame> for Limit {
    fn push(&self, frame: VideoFrame) -> Result<(), PushError> {
        let took = self
            .left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            });
        match took {
            Ok(1) => {
                self.port.push(frame)?;
                self.port.end();
                Ok(())
            }
            Ok(_) => self.port.push(frame),
            Err(_) => Err(PushError::Ended),
        }
    }

    fn end(&self) {
        self.port.end();
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
