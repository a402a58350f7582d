//! `livekit bench ipc`: 1080p frames from one process to another through shared memory
//! (`IpcTarget` -> `IpcSource`), beside GStreamer's `shmsink` -> `shmsrc` in the same run.
//!
//! Ours: this binary runs itself as the writer (`--writer NAME`, hidden); the writer waits for
//! the reader, then pushes frames as fast as it can (each push is one full copy into shared
//! memory). Ours and the reference run alternately `--runs` times and their medians are
//! compared (the build machines are shared and noisy); then a paced run at 60 fps measures
//! latency on an idle reader. The reader
//! (this process) times every frame from the writer starting to write it to its own copy
//! being complete, both on `CLOCK_MONOTONIC`.
//!
//! Theirs (`gstreamer.rs`): `videotestsrc pattern=solid-color ! shmsink` and `shmsrc
//! do-timestamp=true ! fakesink silent=false -v`; the reader's buffer timestamps are the times it
//! received them.

mod gstreamer;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, ensure};
use clap::{Args, ValueEnum};
use livekit_cli::Failure;
use livekit_core::{ColorSpace, FrameLayout, FrameTarget, PixelFormat, VideoFrame, VideoFrameMut};
use livekit_sinks::IpcTarget;
use livekit_sources::{IpcSource, IpcSourceSettings, RecvIpcError};

use gstreamer::gstreamer;

use crate::results::{Better, Results, save};

const WIDTH: u32 = 1920;
const HEIGHT: u32 = 1080;
const WAIT: Duration = Duration::from_secs(10);
/// The paced run: frames a second and frames.
const PACED_FPS: u32 = 60;
const PACED_FRAMES: u64 = 120;

/// `livekit bench ipc` options.
#[derive(Debug, Args)]
pub struct IpcArgs {
    /// Frames of the as-fast-as-possible run.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(10..=100_000))]
    frames: u64,
    /// Pixel format of the 1920x1080 frames: rgba (8.3 MB a frame) or nv12 (3.1 MB).
    #[arg(long, value_enum, default_value_t = Format::Rgba)]
    format: Format,
    /// Runs of both (ours and the reference, one after the other); the medians are compared.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    runs: u32,
    /// Do not run the GStreamer reference.
    #[arg(long)]
    no_reference: bool,
    /// Run as the writer of this IPC name (the bench starts itself so).
    #[arg(long, hide = true)]
    writer: Option<String>,
    /// The writer's frames a second (0: as fast as it can).
    #[arg(long, hide = true, default_value_t = 0)]
    fps: u32,
    /// Also write every run's figures to FILE as JSON (for `livekit-bench report`).
    #[arg(long, value_name = "FILE")]
    json: Option<std::path::PathBuf>,
}

/// Pixel formats the bench can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// RGBA, 4 bytes a pixel.
    Rgba,
    /// NV12 (BT.709, limited range), 1.5 bytes a pixel.
    Nv12,
}

impl Format {
    fn pixel_format(self) -> PixelFormat {
        match self {
            Self::Rgba => PixelFormat::Rgba8,
            Self::Nv12 => PixelFormat::Nv12(ColorSpace::BT709_LIMITED),
        }
    }

    fn gstreamer(self) -> &'static str {
        match self {
            Self::Rgba => "RGBA",
            Self::Nv12 => "NV12",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Rgba => "rgba",
            Self::Nv12 => "nv12",
        }
    }
}

/// Runs the benchmark, or (with the hidden `--writer NAME`) its writer process.
pub fn run(args: &IpcArgs) -> Result<(), Failure> {
    let layout = FrameLayout::new(WIDTH, HEIGHT, args.format.pixel_format())?;
    if let Some(name) = &args.writer {
        return write(name, layout, args.frames, args.fps).map_err(Failure::from);
    }
    println!(
        "livekit IPC: {layout} frames ({:.1} MB each) from a writer process to a reader process",
        layout.len() as f64 / 1e6
    );
    let mut ours_fps = Vec::new();
    let mut ours_latency = Vec::new();
    let mut theirs_fps = Vec::new();
    let mut reference_error = None;
    for run in 1..=args.runs {
        let fast = ours(args, args.frames, 0, run)?;
        println!(
            "  run {run}, as fast as possible: writer {} frames in {:.3} s = {:.1} fps; reader {} frames ({} skipped, {} torn copies thrown away) = {:.1} fps; latency median {:.0} µs, p99 {:.0} µs",
            fast.written,
            fast.writer_s,
            fast.written as f64 / fast.writer_s,
            fast.received,
            fast.skipped,
            fast.torn,
            fast.reader_fps,
            fast.median_us,
            fast.p99_us
        );
        ours_fps.push(fast.reader_fps);
        ours_latency.push(fast.median_us);
        if args.no_reference || reference_error.is_some() {
            continue;
        }
        match gstreamer(args.format, layout.len(), args.frames) {
            Ok(theirs) => {
                println!(
                    "  run {run}, gstreamer shmsink -> shmsrc: {} buffers received in {:.3} s = {:.1} fps",
                    theirs.buffers, theirs.span_s, theirs.fps
                );
                theirs_fps.push(theirs.fps);
            }
            Err(e) => reference_error = Some(e),
        }
    }
    let paced = ours(args, PACED_FRAMES, PACED_FPS, 0)?;
    println!(
        "  at {PACED_FPS} fps ({PACED_FRAMES} frames, {} received): latency median {:.0} µs, p99 {:.0} µs",
        paced.received, paced.median_us, paced.p99_us
    );
    let mut results = Results::new(
        "ipc",
        format!(
            "{layout} frames, {} frames a run as fast as possible, {} run(s) alternating with GStreamer's; latency at {PACED_FPS} fps over {PACED_FRAMES} frames",
            args.frames, args.runs
        ),
    );
    for &fps in &ours_fps {
        results.add(
            "frames a second reaching the reader",
            "livekit",
            None,
            "fps",
            Better::Higher,
            fps,
        );
    }
    for &fps in &theirs_fps {
        results.add(
            "frames a second reaching the reader",
            "gstreamer shm",
            None,
            "fps",
            Better::Higher,
            fps,
        );
    }
    for &us in &ours_latency {
        results.add(
            "latency median, as fast as possible",
            "livekit",
            None,
            "µs",
            Better::Lower,
            us,
        );
    }
    results.add(
        &format!("latency median at {PACED_FPS} fps"),
        "livekit",
        None,
        "µs",
        Better::Lower,
        paced.median_us,
    );
    results.add(
        &format!("latency p99 at {PACED_FPS} fps"),
        "livekit",
        None,
        "µs",
        Better::Lower,
        paced.p99_us,
    );
    if let Some(e) = &reference_error {
        results
            .notes
            .push(format!("gstreamer shmsink -> shmsrc: not measured ({e:#})"));
    }
    save(args.json.as_deref(), || results)?;
    let fps = median(&mut ours_fps);
    println!(
        "livekit: reader fps {fps:.1} (median of {} runs); latency (writer starts writing -> reader has its copy) median {:.0} µs as fast as possible, at {PACED_FPS} fps median {:.0} µs, p99 {:.0} µs",
        args.runs,
        median(&mut ours_latency),
        paced.median_us,
        paced.p99_us
    );
    println!("fps={fps:.1}");
    println!("latency_median_us={:.0}", paced.median_us);
    println!("latency_p99_us={:.0}", paced.p99_us);
    if args.no_reference {
        return Ok(());
    }
    if let Some(e) = reference_error {
        println!("gstreamer reference not run: {e:#}");
        return Ok(());
    }
    let theirs = median(&mut theirs_fps);
    println!(
        "gstreamer: reader fps {theirs:.1} (median of {} runs)",
        args.runs
    );
    println!("gstreamer_fps={theirs:.1}");
    println!(
        "ratio={:.2}x (livekit / gstreamer, frames a second reaching the reader)",
        fps / theirs
    );
    println!(
        "note: not the same work. shmsrc hands its reader the shared memory itself (no copy) and shmsink's writer waits while the reader holds buffers; IpcSource copies every frame into the reader's own pooled buffer and IpcTarget never waits (the writer overwrites, the reader gets the newest). The GStreamer writer renders each frame into shared memory (videotestsrc), ours copies a prepared frame in. gst-launch cannot time a buffer from one process to another, so there is no latency reference."
    );
    Ok(())
}

/// The median (the upper one of an even count).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// One run of ours.
struct Ours {
    written: u64,
    writer_s: f64,
    received: u64,
    skipped: u64,
    torn: u64,
    reader_fps: f64,
    median_us: f64,
    p99_us: f64,
}

fn ours(args: &IpcArgs, frames: u64, fps: u32, run: u32) -> anyhow::Result<Ours> {
    let name = format!("bench-ipc-{}-{run}", std::process::id());
    let source = IpcSource::open(&name, IpcSourceSettings::default())?;
    let writer = Command::new(std::env::current_exe()?)
        .args(["ipc", "--writer", &name])
        .args(["--frames", &frames.to_string()])
        .args(["--format", args.format.name()])
        .args(["--fps", &fps.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the writer process")?;
    let writer = Reaped(Some(writer));
    let mut latencies = Vec::with_capacity(frames as usize);
    let mut first = None;
    let mut last = Instant::now();
    loop {
        match source.recv(WAIT) {
            Ok(got) => {
                // The writer stamps each frame's first bytes with its sequence number.
                let stamp = got.frame.plane(0)[..8]
                    .try_into()
                    .ok()
                    .map(u64::from_le_bytes);
                ensure!(
                    stamp == Some(got.sequence),
                    "frame {} arrived with the stamp of frame {stamp:?}",
                    got.sequence
                );
                latencies.push(got.latency());
                last = Instant::now();
                first.get_or_insert(last);
            }
            Err(RecvIpcError::Ended { .. }) => break,
            Err(e) => return Err(e.into()),
        }
    }
    let output = writer.wait_with_output()?;
    ensure!(
        output.status.success(),
        "the writer process failed ({})",
        output.status
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let (written, writer_s) = stdout
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix("written=")?;
            let (n, s) = rest.split_once(" seconds=")?;
            Some((n.parse::<u64>().ok()?, s.parse::<f64>().ok()?))
        })
        .with_context(|| format!("the writer did not report what it wrote: {stdout}"))?;
    let stats = source.stats();
    let first = first.context("no frame arrived")?;
    latencies.sort();
    let at = |q: f64| {
        let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1e6
    };
    let span = last.duration_since(first).as_secs_f64();
    Ok(Ours {
        written,
        writer_s,
        received: stats.received,
        skipped: stats.skipped,
        torn: stats.torn,
        reader_fps: if span > 0.0 {
            (stats.received - 1) as f64 / span
        } else {
            0.0
        },
        median_us: at(0.5),
        p99_us: at(0.99),
    })
}

/// The writer process: `frames` frames of `layout`, at `fps` (0: as fast as it can), then
/// end-of-stream. Prints `written=N seconds=S`.
fn write(name: &str, layout: FrameLayout, frames: u64, fps: u32) -> anyhow::Result<()> {
    let target = IpcTarget::create(name)?;
    ensure!(
        target.wait_for_reader(WAIT),
        "IPC {name:?}: no reader attached in {} s",
        WAIT.as_secs()
    );
    // One frame, filled once; each push copies it into shared memory with a new stamp.
    let mut frame = VideoFrameMut::new(layout, Duration::ZERO);
    for (i, byte) in frame.data_mut_all().iter_mut().enumerate() {
        *byte = (i % 251) as u8;
    }
    let started = Instant::now();
    for n in 1..=frames {
        if fps > 0 {
            let due = started + Duration::from_secs(n - 1) / fps;
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        frame.data_mut_all()[..8].copy_from_slice(&n.to_le_bytes());
        frame.set_pts(Duration::from_millis(n * 1000 / 60));
        let shared: VideoFrame = frame.freeze();
        target.push(shared.clone())?;
        frame = shared
            .try_into_mut()
            .map_err(|_| anyhow!("the pushed frame is still shared"))?;
    }
    let seconds = started.elapsed().as_secs_f64();
    target.end();
    println!("written={frames} seconds={seconds}");
    Ok(())
}

/// A child process, killed and reaped when dropped.
struct Reaped(Option<Child>);

impl Reaped {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("only taken by wait_with_output")
    }

    fn wait_with_output(mut self) -> anyhow::Result<std::process::Output> {
        let child = self.0.take().expect("only taken once");
        Ok(child.wait_with_output()?)
    }

    /// The process's stderr so far, for an error message (after it exited).
    fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut stderr) = self.child().stderr.take() {
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        }
        text.trim().to_owned()
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
