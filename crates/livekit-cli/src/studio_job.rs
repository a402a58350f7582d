//! `livekit studio [SCENE.toml] [--listen ADDR]`: a studio (empty, or from a scene file) served
//! over HTTP and WebSocket with its control page, until Ctrl-C or `--timeout`. Every output
//! started over the API is finalized at the end and summarized in one line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use clap::Args;
use livekit_compositor::BackendChoice;
use livekit_studio::{OutputSpec, OutputState, Studio, StudioReport, StudioSettings};

use crate::config::Config;
use crate::control::ControlArgs;
use crate::live::{StopSignal, run_until};
use crate::{Failure, usage};

/// `livekit studio` options.
#[derive(Debug, Args)]
pub struct StudioArgs {
    /// A scene file (TOML; see the README) to start from. Without it the studio starts empty:
    /// canvases, inputs, layers and outputs come over the API.
    pub(crate) scene: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) control: ControlArgs,
    /// auto, gpu or cpu.
    #[arg(long, default_value = "auto")]
    pub(crate) backend: BackendChoice,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long, value_name = "SECONDS", value_parser = crate::jobs::parse_seconds)]
    pub(crate) timeout: Option<Duration>,
    /// H.264 encoder of recordings and streams: x264, nvenc, vaapi or auto [default: the
    /// configuration's defaults.encoder, auto].
    #[arg(long)]
    pub(crate) encoder: Option<livekit_sinks::H264Encoder>,
    /// Video bit rate of recordings and streams in kb/s, 50 to 100000 (default: from each
    /// canvas's height and frame rate).
    #[arg(long, value_parser = clap::value_parser!(u32).range(50..=100_000))]
    pub(crate) kbps: Option<u32>,
    /// Recordings and streams without an audio track.
    #[arg(long)]
    pub(crate) no_audio: bool,
    /// HLS of the canvas `main` from the start (the scene file's), also served at
    /// /hls/main/index.m3u8.
    #[command(flatten)]
    pub(crate) hls: crate::jobs::HlsArgs,
}

pub fn run(config: &Config, args: &StudioArgs, quiet: bool) -> Result<(), Failure> {
    let default_listen: SocketAddr = livekit_control::DEFAULT_LISTEN
        .parse()
        .map_err(|e| Failure::Runtime(anyhow!("{e}")))?;
    // As every job: the configuration's encoder, preset, keyframe spacing (1 s makes 1 s HLS
    // segments) and sound; each canvas encodes at its own size and rate.
    let d = &config.defaults;
    let mut encoder = crate::jobs::encoder_settings(config, &[], (d.width, d.height), (d.fps, 1))?;
    if let Some(choice) = args.encoder {
        encoder.video.encoder = choice;
    }
    encoder.video.kbps = args.kbps.or(encoder.video.kbps);
    let give_up = crate::jobs::give_up_after(config, None);
    let studio = Studio::start(StudioSettings {
        backend: args.backend,
        encode_audio: !args.no_audio,
        ..crate::jobs::studio_settings(config, "livekit studio", encoder, give_up)
    })?;
    if let Some(scene) = &args.scene {
        studio.load_scene_file(scene).map_err(usage)?;
    }
    if let Some(hls) = args.hls.output() {
        if args.scene.is_none() {
            studio.stop();
            return Err(usage(anyhow!(
                "--hls needs a scene file (its canvas main is what HLS shows); an empty studio \
                 starts HLS over the API once it has a canvas"
            )));
        }
        if let Err(error) = crate::record::start_output(&studio, crate::record::HLS, hls) {
            studio.stop();
            return Err(error);
        }
    }
    let studio = Arc::new(studio);
    let server = match args.control.start(&studio, Some(default_listen)) {
        Ok(server) => server,
        Err(error) => {
            if let Some(studio) = Arc::into_inner(studio) {
                studio.stop();
            }
            return Err(error);
        }
    };
    let stop = StopSignal::install()?;
    if !quiet && let Some(server) = &server {
        let what = match &args.scene {
            Some(scene) => format!("{} ", scene.display()),
            None => "empty studio ".to_owned(),
        };
        eprintln!(
            "{what}({}); control page and API at {} (press Ctrl-C to stop)",
            studio.backend(),
            server.url()
        );
    }
    let ended = run_until(&stop, args.timeout, || false);
    let why = ended.describe("stopped");
    let studio = crate::control::take_back(studio, server)?;
    let report = studio.stop();
    summarize(&report, &why, quiet)
}

/// One line per output that was started: what it made and how it ended.
fn summarize(report: &StudioReport, why: &str, quiet: bool) -> Result<(), Failure> {
    let mut failed = None;
    for output in &report.outputs {
        let how = match &output.state {
            OutputState::Failed { error } => format!("failed: {error}"),
            _ => why.to_owned(),
        };
        match (&output.output, &output.recording) {
            (OutputSpec::Record { .. } | OutputSpec::Hls { .. }, Some(recording)) => {
                match &recording.result {
                    Ok(summary) => println!(
                        "{}: recorded {:.2} s ({}, {} dropped) to {} ({}, {} bytes; {how})",
                        output.id,
                        summary.duration.as_secs_f64(),
                        crate::live::count(output.frames, "frame"),
                        output.dropped_frames,
                        summary.path.display(),
                        summary.container,
                        summary.file_bytes,
                    ),
                    Err(error) => {
                        eprintln!("livekit: {}: {error}", output.id);
                        failed = Some(error.clone());
                    }
                }
            }
            (OutputSpec::Stream { .. }, _) => {
                let sent: Vec<String> = output
                    .destinations
                    .iter()
                    .map(|d| format!("{} {} bytes", d.name, d.bytes))
                    .collect();
                println!(
                    "{}: streamed {} ({}; {how})",
                    output.id,
                    crate::live::count(output.frames, "frame"),
                    sent.join(", ")
                );
            }
            _ if !quiet => println!(
                "{}: {} {} ({how})",
                output.id,
                output.output.kind(),
                crate::live::count(output.frames, "frame")
            ),
            _ => {}
        }
    }
    match failed {
        Some(error) => Err(Failure::Runtime(anyhow!(error))),
        None => Ok(()),
    }
}
