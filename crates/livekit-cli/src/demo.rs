//! `livekit demo`: about ten seconds composed from built-in sources (test bars with a moving
//! SMPTE box, an image with alpha, a caption, a 440 Hz tone), shown in a preview window when
//! there is a display, recorded to `out/demo.mp4`, one frame written to `out/demo.png`, and
//! with `--stream SITE` streamed from the same encode.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use clap::Args;
use livekit_compositor::{
    BackendChoice, CanvasSettings, Color, Compositor, Fit, Layer, Rect, TestPattern, Text,
};
use livekit_core::thread::spawn_named;
use livekit_core::{
    AudioFrame, AudioSource, Clock, FrameSource, FrameTarget, Port, Pull, SystemClock, VideoFrame,
    VideoSource, VideoTarget,
};
use livekit_sinks::{Encoder, PngWriter, Recorder, RecorderSettings, Viewer, ViewerSettings};
use livekit_sources::{ImageFile, ImageSettings};

use crate::config::Config;
use crate::jobs::{destinations, encoder_settings, start_streamer_recording};
use crate::live::{StopSignal, confirm_go_live};
use crate::{Failure, usage};

/// The logo the demo shows when no image is given (256x256, with alpha).
const LOGO_PNG: &[u8] = include_bytes!("../../../assets/logo.png");

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 720;
const FPS: u32 = 30;

/// `livekit demo` options.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder to write into.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Image to show instead of the built-in logo (PNG, JPEG, GIF, WebP or BMP).
    #[arg(long)]
    image: Option<PathBuf>,
    /// How long to run, in seconds (--timeout is the same, as for the other jobs).
    #[arg(long, visible_alias = "timeout", default_value_t = 10.0, value_parser = crate::jobs::parse_seconds_f64)]
    seconds: f64,
    /// Also stream it to this site (a configured or built-in site, or a full URL); repeat for
    /// more.
    #[arg(long, value_name = "SITE")]
    stream: Vec<String>,
    /// Do not open a preview window even when there is a display.
    #[arg(long)]
    no_preview: bool,
    /// Go live without asking (with --stream).
    #[arg(short = 'y', long)]
    yes: bool,
    /// With --stream: give up on a site that has not connected after this many seconds (0:
    /// never); when every site gave up, the demo ends with exit 1 [default: the
    /// configuration's defaults.give_up_after, 60].
    #[arg(long, value_name = "SECONDS", requires = "stream", value_parser = crate::jobs::parse_give_up)]
    give_up_after: Option<f64>,
    /// auto, gpu or cpu.
    #[arg(long, default_value = "auto")]
    backend: BackendChoice,
}

/// A 440 Hz sine at 48 kHz stereo, in 10 ms blocks, into `out` until `stop`. Its timestamps
/// start at zero when it starts, as the compositor's do (frame `n` at `n / fps` from its
/// start): start it right after the compositor so that both count from the same moment.
fn tone(
    clock: Arc<dyn Clock>,
    out: Arc<Port<AudioFrame>>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<livekit_core::thread::Worker<()>> {
    let worker = spawn_named("livekit.demo.tone", move || {
        const RATE: u32 = 48_000;
        const BLOCK: usize = 480;
        let mut n: u64 = 0;
        let start = clock.now();
        while !stop.load(Ordering::Relaxed) {
            let pts = Duration::from_secs_f64(n as f64 / f64::from(RATE));
            // Stay at most 50 ms ahead of the clock.
            while start + pts > clock.now() + Duration::from_millis(50) {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let mut samples = Vec::with_capacity(BLOCK * 2);
            for i in 0..BLOCK as u64 {
                let t = (n + i) as f64 / f64::from(RATE);
                let s = (t * 440.0 * std::f64::consts::TAU).sin() as f32 * 0.3;
                samples.extend([s, s]);
            }
            let Ok(frame) = AudioFrame::new(samples, RATE, 2, pts) else {
                break;
            };
            if out.push(frame).is_err() {
                break;
            }
            n += BLOCK as u64;
        }
        out.end();
    })
    .map_err(|e| anyhow!("{e}"))?;
    Ok(worker)
}

/// Whether a window could be shown (X11 or Wayland).
pub fn display_present() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()))
}

/// `livekit demo`.
pub fn run(config: &Config, args: &DemoArgs, quiet: bool) -> Result<(), Failure> {
    let destinations = destinations(config, &args.stream)?;
    if !destinations.is_empty() {
        let shown: Vec<String> = destinations.iter().map(crate::jobs::shown).collect();
        confirm_go_live(args.yes, "the demo", &shown).map_err(usage)?;
    }
    std::fs::create_dir_all(&args.out).map_err(|e| {
        usage(anyhow!(
            "{}: cannot create the folder: {e}",
            args.out.display()
        ))
    })?;
    let settings = ImageSettings::default();
    let logo = match &args.image {
        Some(path) => ImageFile::open_with(path, settings).map_err(usage)?,
        None => ImageFile::from_memory("built-in logo.png", LOGO_PNG, settings)?,
    };
    let stop_signal = StopSignal::install()?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());

    let mut c = Compositor::new(args.backend)?;
    let canvas =
        c.add_canvas(CanvasSettings::new(WIDTH, HEIGHT, FPS).background(Color::rgb(16, 24, 32)))?;
    c.add_layer(canvas, None, Layer::pattern(TestPattern::Bars))?;
    let moving_box = Rect::new(40.0, 440.0, 320.0, 180.0);
    let moving = c.add_layer(
        canvas,
        None,
        Layer::pattern(TestPattern::Smpte)
            .rect(moving_box.x, moving_box.y, moving_box.w, moving_box.h)
            .z(1),
    )?;
    c.add_layer(
        canvas,
        None,
        Layer::video(Arc::new(logo))
            .rect(1000.0, 40.0, 240.0, 240.0)
            .fit(Fit::Contain)
            .z(2),
    )?;
    c.add_layer(
        canvas,
        None,
        Layer::text(
            Text::new("livekit demo")
                .size(48.0)
                .color(Color::rgb(255, 255, 255))
                .background(Color::rgba(0, 0, 0, 170)),
        )
        .rect(40.0, 40.0, 420.0, 80.0)
        .fit(Fit::Contain)
        .z(3),
    )?;
    // Live outputs: nobody may stall the compositor.
    let video = Arc::new(Port::<VideoFrame>::drop_oldest(8));
    let snapshot = Arc::new(Port::<VideoFrame>::latest());
    c.add_target(
        canvas,
        "encoder",
        Arc::clone(&video) as Arc<dyn VideoTarget>,
    )?;
    c.add_target(
        canvas,
        "snapshot",
        Arc::clone(&snapshot) as Arc<dyn VideoTarget>,
    )?;
    let viewer = if args.no_preview || !display_present() {
        None
    } else {
        match Viewer::open(ViewerSettings {
            title: "livekit demo".into(),
            ..ViewerSettings::default()
        }) {
            Ok(viewer) => Some(Arc::new(viewer)),
            Err(error) => {
                tracing::warn!("no preview: {error}");
                None
            }
        }
    };
    if let Some(viewer) = &viewer {
        c.add_target(
            canvas,
            "preview",
            Arc::clone(viewer) as Arc<dyn VideoTarget>,
        )?;
    }

    // The encoder first, then the compositor and the tone: the encoder counts time from the
    // first frame of either kind, and the two sources count from their own start.
    let audio = Arc::new(Port::<AudioFrame>::blocking(32));
    let enc = encoder_settings(config, &destinations, (WIDTH, HEIGHT), (FPS, 1))?;
    let mp4 = args.out.join("demo.mp4");
    let encoder = Encoder::start(
        enc,
        Arc::clone(&video) as Arc<dyn VideoSource>,
        Some(Arc::clone(&audio) as Arc<dyn AudioSource>),
    )?;
    let streams = encoder.streams().to_vec();
    // Streaming too: the file is a recording branch of the streamer (the same encode).
    let (streamer, recorder) = if destinations.is_empty() {
        let recorder =
            Recorder::from_packets(RecorderSettings::new(&mp4), streams, encoder.packets())
                .map_err(usage)?;
        (None, Some(recorder))
    } else {
        let streamer = start_streamer_recording(
            destinations,
            streams,
            encoder.packets(),
            true,
            crate::jobs::give_up_after(config, args.give_up_after),
            vec![RecorderSettings::new(&mp4)],
        )?;
        (Some(streamer), None)
    };
    let running = c.start(Arc::clone(&clock))?;
    let stop_tone = Arc::new(AtomicBool::new(false));
    let tone_worker = tone(Arc::clone(&clock), audio, Arc::clone(&stop_tone))?;
    let handle = running.handle();

    // Move the SMPTE box back and forth along the bottom; grab one frame half way.
    let started = Instant::now();
    let length = Duration::from_secs_f64(args.seconds);
    let mut png = None;
    while started.elapsed() < length && !stop_signal.stopped() {
        let t = started.elapsed().as_secs_f32();
        let phase = (t / 4.0).fract();
        let x = 40.0 + (WIDTH as f32 - 400.0) * (1.0 - (2.0 * phase - 1.0).abs());
        let _ = handle.set_rect(moving, Rect { x, ..moving_box });
        if png.is_none()
            && started.elapsed() >= length / 2
            && let Pull::Frame(frame) = snapshot.next(Duration::from_secs(2))
        {
            let path = args.out.join("demo.png");
            PngWriter::new(&path)
                .push(frame)
                .with_context(|| format!("writing {}", path.display()))?;
            png = Some(path);
        }
        if viewer.as_ref().is_some_and(|v| v.is_closed()) {
            break;
        }
        if streamer.as_ref().is_some_and(|s| {
            s.stats()
                .iter()
                .all(|d| d.state == livekit_sinks::stream::DestinationState::Failed)
        }) {
            // Every site gave up (--give-up-after): the summary says which.
            break;
        }
        if recorder.as_ref().is_some_and(|r| r.is_finished())
            || streamer.as_ref().is_some_and(|s| {
                s.recording_stats()
                    .iter()
                    .any(|r| r.state == livekit_sinks::stream::RecordingState::Failed)
            })
        {
            // Writing failed (a full disk): the error comes from the recording's end below.
            break;
        }
        std::thread::sleep(Duration::from_millis(33));
    }
    let stats = running.stop().map_err(|e| anyhow!("{e}"))?;
    stop_tone.store(true, Ordering::Relaxed);
    let _ = tone_worker.join();
    if let Err(error) = encoder.wait() {
        return Err(anyhow!("encoding the demo: {error}").into());
    }
    let mut report = streamer.map(|s| s.wait());
    let summary = match (recorder, report.as_mut()) {
        (Some(recorder), _) => recorder.wait()?,
        (None, Some(report)) => match report.recordings.pop() {
            Some(recording) => {
                crate::jobs::warn_recording_losses(&recording.stats);
                recording.result?
            }
            None => return Err(anyhow!("the demo was not recorded").into()),
        },
        (None, None) => return Err(anyhow!("the demo was not recorded").into()),
    };
    if let Some(report) = report {
        crate::jobs::summarize(
            &report,
            crate::live::Ended::Finished,
            started.elapsed(),
            quiet,
        )?;
    }
    if let Some(viewer) = viewer {
        viewer.close();
    }
    println!(
        "wrote {} ({:.1} s, {WIDTH}x{HEIGHT} H.264 + AAC tone; {} composed on {}, {} late)",
        mp4.display(),
        summary.duration.as_secs_f64(),
        crate::live::count(stats.rendered, "frame"),
        args.backend,
        stats.late
    );
    match png {
        Some(path) => println!("wrote {} (one composed frame)", path.display()),
        None => println!("no demo.png: stopped before the half-way frame"),
    }
    Ok(())
}
