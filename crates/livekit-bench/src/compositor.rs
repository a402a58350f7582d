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
    BackendChoice, BackendInfo, BackendKind, CanvasSettings, Compositor, InputFrames, Layer,
    LayerSource, TestPattern, VideoInput, render_pattern,
};
use livekit_core::thread::spawn_named;
use livekit_core::{
    FrameLayout, FramePool, FrameSource, FrameTarget, PixelFormat, Port, Pull, VideoFrame,
};

use crate::peers::peers_dir;
use crate::results::{Better, Results, gpu_words, median, save};

/// `livekit bench compositor` options.
#[derive(Debug, Args)]
pub struct CompositorArgs {
    /// Output frames to render.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    frames: u64,
    /// auto, gpu or cpu.
    #[arg(long, default_value = "auto")]
    backend: BackendChoice,
    /// Layer counts to render, comma-separated (4 is the reference scene: the full-canvas
    /// input and three overlays; more overlays go in a grid below them).
    #[arg(long, value_delimiter = ',', default_value = "4")]
    layers: Vec<u32>,
    /// Runs of each layer count (and of GStreamer's with `--compare`), one round after the
    /// other; the figures printed are the medians.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    runs: u32,
    /// Also write every run's figures to FILE as JSON (for `livekit-bench report`).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
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

/// Where overlay `i` (0-based) of the scene goes: the reference scene's three 640x360 places
/// first, then a grid below them, shifted a little on each further round.
fn overlay_place(i: usize) -> (f32, f32) {
    let round = (i / 9) as f32 * 8.0;
    let x = [40.0, 700.0, 1240.0][i % 3];
    let y = [40.0, 380.0, 700.0][(i / 3) % 3];
    (x + round, y + round)
}

/// One run of the scene with `layers` layers: frames a second. The reference scene is 4 layers
/// (the full-canvas input and three overlays); 1 is the full-canvas input alone.
fn render_scene(
    backend: BackendChoice,
    layers: u32,
    frames: u64,
) -> anyhow::Result<(f64, BackendInfo)> {
    let mut c = Compositor::new(backend)?;
    let info = c.backend();
    let canvas = c.add_canvas(CanvasSettings::new(1920, 1080, 30))?;
    let smpte = render_pattern(TestPattern::Smpte, 640, 360);
    let mut inputs = Vec::new();
    let big = VideoInput::new(producer("blue", 1920, 1080, frames, None)?);
    c.add_layer(canvas, None, Layer::new(LayerSource::Video(big.clone())))?;
    inputs.push(big);
    for i in 0..layers.saturating_sub(1) as usize {
        let port = producer(&format!("smpte{i}"), 640, 360, frames, Some(smpte.clone()))?;
        let input = VideoInput::new(port);
        let (x, y) = overlay_place(i);
        c.add_layer(
            canvas,
            None,
            Layer::new(LayerSource::Video(input.clone()))
                .rect(x, y, 640.0, 360.0)
                .opacity(0.8),
        )?;
        inputs.push(input);
    }
    let mut input_frames = InputFrames::new();
    let started = Instant::now();
    let mut last = None;
    for n in 0..frames {
        for input in &inputs {
            match input.source().next(WAIT) {
                Pull::Frame(frame) => input_frames.insert(input.id(), frame),
                _ => return Err(anyhow!("a bench input stopped early")),
            }
        }
        let out = c.render_canvas(canvas, Duration::from_millis(n * 33), &input_frames)?;
        last = Some(out);
    }
    let fps = frames as f64 / started.elapsed().as_secs_f64();
    // Check the picture once, so a broken render cannot pass as fast: the corner no overlay
    // covers is blue; where one overlay covers the blue, SMPTE's first bar blended at 0.8.
    let out = last.context("no frame rendered")?;
    let blue = out.rgba_at(1900, 1000);
    let corner = out.rgba_at(50, 50);
    let want_corner = match layers {
        1 => Some([0, 0, 255, 255]),
        2..=9 => Some([153, 153, 204, 255]),
        _ => corner, // more overlays blend over it again
    };
    if blue != Some([0, 0, 255, 255]) || corner != want_corner {
        return Err(anyhow!(
            "the benchmark rendered a wrong picture: {blue:?} at (1900,1000), {corner:?} at (50,50)"
        ));
    }
    Ok((fps, info))
}

/// GStreamer's compositor on the reference scene: its frames a second.
fn gstreamer(peers: &std::path::Path, frames: u64) -> anyhow::Result<f64> {
    let script = peers.join("gst-compositor.sh");
    let output = Command::new("sh")
        .arg(&script)
        .arg(frames.to_string())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let theirs = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("fps="))
        .and_then(|v| v.trim().parse::<f64>().ok());
    match (output.status.success(), theirs) {
        (true, Some(theirs)) => Ok(theirs),
        _ => Err(anyhow!(
            "{} failed ({}): {}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )),
    }
}

/// Runs the benchmark: each layer count `--runs` times, with `--compare` GStreamer's
/// compositor on the reference scene after each round (ours, theirs, ours, theirs, ...).
pub fn run(args: &CompositorArgs) -> Result<(), Failure> {
    if args.layers.is_empty() || args.layers.iter().any(|&n| n == 0 || n > 64) {
        return Err(usage(anyhow!("--layers: each count must be 1 to 64")));
    }
    let peers = if args.compare {
        Some(peers_dir(args.peers.as_deref(), "gst-compositor.sh", "--compare").map_err(usage)?)
    } else {
        None
    };
    let mut results = Results::new(
        "compositor",
        format!(
            "1920x1080 RGBA canvas, a full-canvas input and 640x360 overlays at opacity 0.8, a new frame on every input for every output frame, read back; {} frames a run, {} run(s)",
            args.frames, args.runs
        ),
    );
    let mut reference_error = None;
    let mut backend_kind = None;
    let mut fps_by_layers: Vec<(u32, Vec<f64>)> =
        args.layers.iter().map(|&n| (n, Vec::new())).collect();
    let mut theirs = Vec::new();
    for _ in 0..args.runs {
        for (layers, runs) in &mut fps_by_layers {
            let (fps, info) = render_scene(args.backend, *layers, args.frames)?;
            if backend_kind.is_none() {
                println!("backend: {info}");
                backend_kind = Some(info);
            }
            runs.push(fps);
        }
        if let (Some(peers), None) = (&peers, &reference_error) {
            match gstreamer(peers, args.frames) {
                Ok(fps) => theirs.push(fps),
                Err(e) => reference_error = Some(e),
            }
        }
    }
    let tool = match backend_kind {
        Some(BackendInfo {
            kind: BackendKind::Gpu,
            name,
        }) => match gpu_words(&name, BackendKind::Gpu).strip_prefix("GPU: ") {
            Some(adapter) => format!("livekit, wgpu on {adapter}"),
            None => "livekit, wgpu on lavapipe".to_owned(),
        },
        _ => "livekit, CPU backend".to_owned(),
    };
    for (layers, runs) in &fps_by_layers {
        for &fps in runs {
            results.add(
                "fps",
                &tool,
                Some(f64::from(*layers)),
                "fps",
                Better::Higher,
                fps,
            );
        }
        if fps_by_layers.len() > 1 {
            println!("layers={layers} fps={:.1}", median(runs));
        }
    }
    for &fps in &theirs {
        results.add(
            "fps",
            "gstreamer compositor (CPU)",
            Some(4.0),
            "fps",
            Better::Higher,
            fps,
        );
    }
    if let Some(e) = &reference_error {
        let note = format!("gstreamer compositor: not measured ({e:#})");
        println!("{note}");
        results.notes.push(note);
    }
    if !theirs.is_empty() {
        let theirs = median(&theirs);
        println!("gstreamer compositor fps={theirs:.1}");
        if let Some((_, ours)) = fps_by_layers.iter().find(|(n, _)| *n == 4) {
            println!("ratio={:.2}x (livekit / gstreamer)", median(ours) / theirs);
        }
    }
    // The last line: the first layer count's median (the reference scene by default).
    let fps = fps_by_layers.first().map_or(0.0, |(_, runs)| median(runs));
    save(args.json.as_deref(), || results)?;
    println!("fps={fps:.1}");
    Ok(())
}
