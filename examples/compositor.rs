//! A live compositor: a moving "camera" (frames pushed into a port), a logo, a caption and a
//! fade to a second scene, run on the system clock and saved as PNGs.
//!
//! ```sh
//! cargo run --example compositor -- [--frames N] [--backend auto|gpu|cpu] [--out DIR]
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use livekit::compositor::{
    BackendChoice, CanvasSettings, Color, Compositor, Fit, Layer, TestPattern, Text, Transition,
};
use livekit::sinks::PngWriter;
use livekit::sources::ImageFile;
use livekit::{FrameSource, FrameTarget, Port, Pull, SystemClock, VideoFrame};

#[derive(Parser)]
struct Args {
    /// Frames to save.
    #[arg(long, default_value_t = 60)]
    frames: u64,
    /// auto, gpu or cpu.
    #[arg(long, default_value = "auto")]
    backend: BackendChoice,
    /// Where the PNGs go.
    #[arg(long, default_value = "out/compositor")]
    out: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut c = Compositor::new(args.backend)?;
    println!("rendering with {}", c.backend());
    let canvas =
        c.add_canvas(CanvasSettings::new(640, 360, 30).background(Color::rgb(16, 24, 32)))?;

    // A "camera": a thread pushing frames of a changing colour into a keep-latest port.
    let camera = Arc::new(Port::<VideoFrame>::latest());
    let feed = camera.clone();
    let camera_thread = livekit::thread::spawn_named("example-camera", move || {
        for n in 0u64.. {
            let shade = (n * 8 % 256) as u8;
            let frame =
                VideoFrame::solid_rgba(320, 180, [shade, 80, 255 - shade, 255], Duration::ZERO)
                    .expect("valid size");
            if feed.push(frame).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(33));
        }
    })?;
    c.add_layer(
        canvas,
        None,
        Layer::video(camera.clone()).rect(0.0, 0.0, 640.0, 360.0),
    )?;
    let logo =
        ImageFile::open("assets/logo.png").context("the example runs from the repository root")?;
    c.add_layer(
        canvas,
        None,
        Layer::video(Arc::new(logo))
            .rect(500.0, 20.0, 120.0, 120.0)
            .fit(Fit::Contain)
            .z(1),
    )?;
    c.add_layer(
        canvas,
        None,
        Layer::text(
            Text::new("livekit")
                .size(36.0)
                .background(Color::rgba(0, 0, 0, 160)),
        )
        .rect(20.0, 290.0, 200.0, 50.0)
        .fit(Fit::Contain)
        .z(2),
    )?;
    c.add_scene(canvas, "bars")?;
    c.add_layer(canvas, Some("bars"), Layer::pattern(TestPattern::Smpte))?;

    let output = Arc::new(Port::<VideoFrame>::blocking(4));
    c.add_target(canvas, "example output", output.clone())?;
    let running = c.start(Arc::new(SystemClock::new()))?;
    let handle = running.handle();
    let writer = PngWriter::new(args.out.join("frame-{n}.png"));
    for n in 0..args.frames {
        if n == args.frames / 2 {
            handle.switch_scene(canvas, "bars", Transition::Fade(Duration::from_millis(500)))?;
        }
        match output.next(Duration::from_secs(10)) {
            Pull::Frame(frame) => writer.push(frame).context("saving a frame")?,
            other => anyhow::bail!("no frame from the compositor: {other:?}"),
        }
    }
    let stats = running.stop().map_err(|e| anyhow::anyhow!("{e}"))?;
    camera.close();
    camera_thread.join().map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "saved {} frames to {} ({} rendered, {} late)",
        args.frames,
        args.out.display(),
        stats.rendered,
        stats.late
    );
    Ok(())
}
