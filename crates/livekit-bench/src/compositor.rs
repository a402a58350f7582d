//! `livekit bench compositor`: the reference compositing scene rendered as fast as possible,
//! its picture checked once, beside GStreamer's compositor (`--compare`) on the same scene.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use clap::Args;
use livekit_cli::{Failure, usage};
use livekit_compositor::{
    BackendChoice, CanvasSettings, Compositor, InputFrames, Layer, LayerSource, TestPattern,
    VideoInput, render_pattern,
};
use livekit_core::thread::spawn_named;
use livekit_core::{
    FrameLayout, FramePool, FrameSource, FrameTarget, PixelFormat, Port, Pull, VideoFrame,
};

use crate::peers::peers_dir;

/// `livekit bench compositor` options.
#[derive(Debug, Args)]
pub struct CompositorArgs {
    /// Output frames to render.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    frames: u64,
    /// auto, gpu or cpu.
    #[arg(long, default_value = "auto")]
    backend: BackendChoice,
    /// Also run GStreamer's compositor on the same scene (../shared/peers/gst-compositor.sh)
    /// and print the ratio.
    #[arg(long)]
    compare: bool,
    /// Folder of the reference tools' scripts [default: ../shared/peers beside the repository,
    /// or $LIVEKIT_PEERS_DIR].
    #[arg(long)]
    peers: Option<PathBuf>,
}

const WAIT: Duration = Duration::from_secs(30);

/// A producer thread: `frames` new frames, each written in full (a fill or a copy of `pattern`).
fn producer(
    name: &str,
    width: u32,
    height: u32,
    frames: u64,
    pattern: Option<VideoFrame>,
) -> anyhow::Result<Arc<Port<VideoFrame>>> {
    let port = Arc::new(Port::blocking(2));
    let out = Arc::clone(&port);
    let layout = FrameLayout::new(width, height, PixelFormat::Rgba8)?;
    spawn_named(format!("livekit.bench.{name}"), move || {
        let pool = FramePool::new(layout);
        for n in 0..frames {
            let mut frame = pool.acquire(Duration::from_millis(n * 33));
            match &pattern {
                Some(p) => frame.plane_mut(0).copy_from_slice(p.plane(0)),
                None => {
                    for px in frame.plane_mut(0).chunks_exact_mut(4) {
                        px.copy_from_slice(&[0, 0, 255, 255]);
                    }
                }
            }
            if out.push(frame.freeze()).is_err() {
                return;
            }
        }
        out.end();
    })
    .map_err(|e| anyhow!("{e}"))?;
    Ok(port)
}

/// Runs the benchmark; with `--compare`, GStreamer's compositor on the same scene after it.
pub fn run(args: &CompositorArgs) -> Result<(), Failure> {
    let peers = if args.compare {
        Some(peers_dir(args.peers.as_deref(), "gst-compositor.sh", "--compare").map_err(usage)?)
    } else {
        None
    };
    let mut c = Compositor::new(args.backend)?;
    println!("backend: {}", c.backend());
    let canvas = c.add_canvas(CanvasSettings::new(1920, 1080, 30))?;
    let smpte = render_pattern(TestPattern::Smpte, 640, 360);
    let mut inputs = Vec::new();
    let big = VideoInput::new(producer("blue", 1920, 1080, args.frames, None)?);
    c.add_layer(canvas, None, Layer::new(LayerSource::Video(big.clone())))?;
    inputs.push(big);
    for (i, x) in [40.0, 700.0, 1240.0].into_iter().enumerate() {
        let port = producer(
            &format!("smpte{i}"),
            640,
            360,
            args.frames,
            Some(smpte.clone()),
        )?;
        let input = VideoInput::new(port);
        c.add_layer(
            canvas,
            None,
            Layer::new(LayerSource::Video(input.clone()))
                .rect(x, 40.0, 640.0, 360.0)
                .opacity(0.8),
        )?;
        inputs.push(input);
    }
    let mut frames = InputFrames::new();
    let started = Instant::now();
    let mut last = None;
    for n in 0..args.frames {
        for input in &inputs {
            match input.source().next(WAIT) {
                Pull::Frame(frame) => frames.insert(input.id(), frame),
                _ => return Err(anyhow!("a bench input stopped early").into()),
            }
        }
        let out = c.render_canvas(canvas, Duration::from_millis(n * 33), &frames)?;
        last = Some(out);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let fps = args.frames as f64 / elapsed;
    // Check the picture once, so a broken render cannot pass as fast.
    let out = last.context("no frame rendered")?;
    let blue = out.rgba_at(1900, 1000);
    let blended = out.rgba_at(50, 50);
    if blue != Some([0, 0, 255, 255]) || blended != Some([153, 153, 204, 255]) {
        return Err(anyhow!("the benchmark rendered a wrong picture: {blue:?} at (1900,1000), {blended:?} at (50,50)").into());
    }
    if let Some(peers) = peers {
        let script = peers.join("gst-compositor.sh");
        println!("gstreamer: running {}", script.display());
        let output = Command::new("sh")
            .arg(&script)
            .arg(args.frames.to_string())
            .output()
            .with_context(|| format!("running {}", script.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let theirs = stdout
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("fps="))
            .and_then(|v| v.trim().parse::<f64>().ok());
        match (output.status.success(), theirs) {
            (true, Some(theirs)) => {
                println!("gstreamer compositor fps={theirs:.1}");
                println!("ratio={:.2}x (livekit / gstreamer)", fps / theirs);
            }
            _ => {
                return Err(anyhow!(
                    "{} failed ({}): {}",
                    script.display(),
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                )
                .into());
            }
        }
    }
    println!("fps={fps:.1}");
    Ok(())
}
