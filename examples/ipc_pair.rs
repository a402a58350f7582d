//! IpcTarget -> shared memory -> IpcSource, across two processes: this program writes frames
//! and runs itself again as the reader, which checks every frame it gets bit for bit.
//!
//! ```sh
//! cargo run --example ipc_pair -- [--frames N] [--fps F] [--width W --height H]
//! ```
//!
//! Any other program can read the frames while it runs: `IpcSource::open(NAME, ..)` with the
//! name it prints.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Parser;
use livekit::sinks::IpcTarget;
use livekit::sources::{IpcSource, IpcSourceSettings, RecvIpcError};
use livekit::{FrameLayout, FrameTarget, PixelFormat, VideoFrame, VideoFrameMut};

#[derive(Parser)]
struct Args {
    /// Frames to send.
    #[arg(long, default_value_t = 90)]
    frames: u64,
    /// Frames a second.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Frame width.
    #[arg(long, default_value_t = 1280)]
    width: u32,
    /// Frame height.
    #[arg(long, default_value_t = 720)]
    height: u32,
    /// The IPC name [default: ipc-pair-PID].
    #[arg(long)]
    name: Option<String>,
    /// Run as the reader (the writer starts this itself).
    #[arg(long, hide = true)]
    reader: bool,
}

/// Frame `n`: a background colour that changes with `n` and a white bar moving across.
fn frame(layout: FrameLayout, n: u64, fps: u32) -> VideoFrame {
    let pts = Duration::from_secs(n) / fps;
    let mut frame = VideoFrameMut::new(layout, pts);
    let width = layout.width() as usize;
    let bar = (n as usize * 16) % width;
    let background = [(n * 7) as u8, (n * 13) as u8, 128, 255];
    for y in 0..layout.height() as usize {
        for (x, pixel) in frame.row_mut(0, y).chunks_exact_mut(4).enumerate() {
            let white = x >= bar && x < bar + 16;
            pixel.copy_from_slice(if white { &[255; 4] } else { &background });
        }
    }
    frame.freeze()
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(args.frames > 0, "--frames must be at least 1");
    ensure!(args.fps > 0, "--fps must be at least 1");
    let layout = FrameLayout::new(args.width, args.height, PixelFormat::Rgba8)?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("ipc-pair-{}", std::process::id()));
    if args.reader {
        read(&args, &name, layout)
    } else {
        write(&args, &name, layout)
    }
}

fn write(args: &Args, name: &str, layout: FrameLayout) -> anyhow::Result<()> {
    let target = IpcTarget::create(name)?;
    println!(
        "writer: sharing {} frames of {layout} as IPC {name:?}",
        args.frames
    );
    let mut reader = Command::new(std::env::current_exe()?)
        .args(["--reader", "--name", name])
        .args(["--frames", &args.frames.to_string()])
        .args(["--fps", &args.fps.to_string()])
        .args(["--width", &args.width.to_string()])
        .args(["--height", &args.height.to_string()])
        .stdin(Stdio::null())
        .spawn()
        .context("starting the reader process")?;
    if !target.wait_for_reader(Duration::from_secs(10)) {
        let _ = reader.kill();
        bail!("the reader process did not attach in 10 s");
    }
    let started = Instant::now();
    for n in 1..=args.frames {
        // Paced by the clock: the writer never waits for the reader.
        let due = started + Duration::from_secs(n - 1) / args.fps;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        target.push(frame(layout, n, args.fps))?;
    }
    target.end();
    let status = reader.wait().context("waiting for the reader")?;
    ensure!(status.success(), "the reader failed ({status})");
    println!("writer: done, {} frames written", target.written());
    Ok(())
}

fn read(args: &Args, name: &str, layout: FrameLayout) -> anyhow::Result<()> {
    let source = IpcSource::open(name, IpcSourceSettings::default())?;
    let mut latencies = Vec::new();
    let mut last = 0;
    loop {
        match source.recv(Duration::from_secs(5)) {
            Ok(got) => {
                let expected = frame(layout, got.sequence, args.fps);
                ensure!(
                    got.frame.layout() == expected.layout()
                        && got.frame.pts() == expected.pts()
                        && got.frame.data() == expected.data(),
                    "frame {} differs from what was sent",
                    got.sequence
                );
                latencies.push(got.latency());
                last = got.sequence;
            }
            Err(RecvIpcError::Ended { .. }) => break,
            Err(e) => return Err(e.into()),
        }
    }
    ensure!(
        last == args.frames,
        "the last frame was {last}, not {}",
        args.frames
    );
    latencies.sort();
    let stats = source.stats();
    println!(
        "reader: {} of {} frames received, all bit for bit ({} skipped); median latency {:.0} µs",
        stats.received,
        args.frames,
        stats.skipped,
        latencies[latencies.len() / 2].as_secs_f64() * 1e6
    );
    Ok(())
}
