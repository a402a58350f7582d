//! `livekit demo`: about ten seconds composed from built-in sources (test bars with a moving
//! SMPTE box, an image with alpha, a caption, a 440 Hz tone), shown in a preview window when
//! there is a display, recorded to `out/demo.mp4`, one frame written to `out/demo.png`, and
//! with `--stream SITE` streamed from the same encode. A [`Studio`] configuration: the box is
//! moved by `update_layer` commands while it runs.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use clap::Args;
use livekit_compositor::{BackendChoice, Color, Fit, Fps, TestPattern};
use livekit_core::{FrameSource, FrameTarget, Pull};
use livekit_sinks::PngWriter;
use livekit_studio::{
    AudioSettings, Command, InputSpec, LayerFields, MAIN_CANVAS, OutputSpec, OutputState, Studio,
    StudioSettings, WhenFailed,
};

use crate::config::Config;
use crate::jobs::{destinations, encoder_settings};
use crate::live::{Ended, StopSignal, confirm_go_live};
use crate::record::{
    PREVIEW, RECORD, refused, start_output, start_streams, streams_failed, summarize_streams,
};
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

/// Whether a window could be shown (X11 or Wayland).
pub fn display_present() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()))
}

/// The ids of the demo's inputs and layers.
const BOX: &str = "box";

/// `livekit demo`: a studio configuration (inputs: test bars, an SMPTE box, the logo, a
/// caption and a tone; one canvas; outputs: the recording, the streams, the preview), the box
/// moved by commands while it runs.
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
    let stop_signal = StopSignal::install()?;
    let encoder = encoder_settings(config, &destinations, (WIDTH, HEIGHT), (FPS, 1))?;
    let give_up = crate::jobs::give_up_after(config, args.give_up_after);
    let studio = Studio::start(StudioSettings {
        backend: args.backend,
        ..crate::jobs::studio_settings(config, "livekit demo", encoder, give_up)
    })?;
    let apply = |command: Command| studio.apply(command).map_err(refused);
    let input = |id: &str, input: InputSpec| {
        apply(Command::AddInput {
            id: id.to_owned(),
            input,
            audio: AudioSettings::default(),
            when_failed: WhenFailed::default(),
        })
    };
    let layer = |id: &str, rect: Option<[f32; 4]>, z: i32, fit: Option<Fit>| {
        apply(Command::AddLayer(LayerFields {
            id: id.to_owned(),
            input: Some(id.to_owned()),
            rect,
            z: Some(z),
            fit,
            ..LayerFields::default()
        }))
    };
    match &args.image {
        Some(path) => input("logo", InputSpec::Image { path: path.clone() })?,
        None => {
            // The built-in logo, through a file of our own (read at once, then removed).
            let path =
                std::env::temp_dir().join(format!("livekit-logo-{}.png", std::process::id()));
            std::fs::write(&path, LOGO_PNG)
                .with_context(|| format!("writing {}", path.display()))?;
            let added = input("logo", InputSpec::Image { path: path.clone() });
            let _ = std::fs::remove_file(&path);
            added?;
        }
    }
    apply(Command::AddCanvas {
        id: MAIN_CANVAS.to_owned(),
        width: WIDTH,
        height: HEIGHT,
        fps: Fps::new(FPS),
        background: Some(Color::rgb(16, 24, 32)),
    })?;
    input(
        "bars",
        InputSpec::Pattern {
            pattern: TestPattern::Bars,
        },
    )?;
    input(
        BOX,
        InputSpec::Pattern {
            pattern: TestPattern::Smpte,
        },
    )?;
    input(
        "caption",
        InputSpec::Text {
            text: "livekit demo".into(),
            size: Some(48.0),
            color: Some(Color::rgb(255, 255, 255)),
            background: Some(Color::rgba(0, 0, 0, 170)),
        },
    )?;
    input(
        "tone",
        InputSpec::Tone {
            frequency: 440.0,
            level: 0.3,
        },
    )?;
    let moving_box = [40.0, 440.0, 320.0, 180.0];
    layer("bars", None, 0, None)?;
    layer(BOX, Some(moving_box), 1, None)?;
    layer(
        "logo",
        Some([1000.0, 40.0, 240.0, 240.0]),
        2,
        Some(Fit::Contain),
    )?;
    layer(
        "caption",
        Some([40.0, 40.0, 420.0, 80.0]),
        3,
        Some(Fit::Contain),
    )?;
    let snapshot = studio.frames(MAIN_CANVAS, 1).map_err(refused)?;
    if !args.no_preview && display_present() {
        let preview = OutputSpec::Preview {
            title: Some("livekit demo".into()),
        };
        if let Err(Failure::Usage(error) | Failure::Runtime(error)) =
            start_output(&studio, PREVIEW, preview)
        {
            tracing::warn!("no preview: {error:#}");
        }
    }
    // The recording and the streams together, before the first packet: both start with it.
    let mp4 = args.out.join("demo.mp4");
    let record = OutputSpec::Record {
        path: mp4.clone(),
        crash_safe: false,
    };
    start_output(&studio, RECORD, record)?;
    start_streams(&studio, &args.stream)?;

    // Move the SMPTE box back and forth along the bottom; grab one frame half way.
    let started = Instant::now();
    let length = Duration::from_secs_f64(args.seconds);
    let mut png = None;
    while started.elapsed() < length && !stop_signal.stopped() {
        let t = started.elapsed().as_secs_f32();
        let phase = (t / 4.0).fract();
        let x = 40.0 + (WIDTH as f32 - 400.0) * (1.0 - (2.0 * phase - 1.0).abs());
        let _ = studio.apply(Command::UpdateLayer(LayerFields {
            id: BOX.to_owned(),
            position: Some([x, moving_box[1]]),
            ..LayerFields::default()
        }));
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
        let state = studio.state();
        let output = |id: &str| state.outputs.iter().find(|o| o.id == id);
        let failed =
            |id: &str| output(id).is_some_and(|o| matches!(o.state, OutputState::Failed { .. }));
        // The window was closed; every site gave up (--give-up-after: the summary says
        // which); writing failed (a full disk: the error comes from the recording's end).
        if output(PREVIEW).is_some_and(|o| o.state == OutputState::Stopped)
            || streams_failed(&state)
            || failed(RECORD)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(33));
    }
    snapshot.close();
    let rendering = studio.render_stats();
    let elapsed = started.elapsed();
    let report = studio.stop();
    let output = |id: &str| report.outputs.iter().find(|o| o.id == id);
    let recording = output(RECORD).and_then(|o| o.recording.as_ref());
    let summary = match recording {
        Some(recording) => {
            crate::jobs::warn_recording_losses(&recording.stats);
            recording.result.clone()?
        }
        None => return Err(anyhow!("the demo was not recorded").into()),
    };
    if let Some(streamed) =
        summarize_streams(&report, rendering.late, Ended::Finished, elapsed, quiet)
    {
        streamed?;
    }
    crate::record::encoding_failed(&report)?;
    println!(
        "wrote {} ({:.1} s, {WIDTH}x{HEIGHT} H.264 + AAC tone; {} composed on {}, {} late)",
        mp4.display(),
        summary.duration.as_secs_f64(),
        crate::live::count(rendering.rendered, "frame"),
        args.backend,
        rendering.late
    );
    match png {
        Some(path) => println!("wrote {} (one composed frame)", path.display()),
        None => println!("no demo.png: stopped before the half-way frame"),
    }
    Ok(())
}
