//! ImageFile -> Port -> PngWriter: play an image (still or animated) and save its frames.
//!
//! ```sh
//! cargo run --example image_to_png -- [IMAGE] [--frames N] [--out DIR]
//! ```

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use livekit::sinks::PngWriter;
use livekit::sources::ImageFile;
use livekit::{FrameSource, FrameTarget, Port, Pull, pipe};

#[derive(Parser)]
struct Args {
    /// The image (default: the project's logo).
    #[arg(default_value = "assets/logo.png")]
    image: PathBuf,
    /// Stop after this many frames (an animation loops for ever otherwise).
    #[arg(long, default_value_t = 10)]
    frames: u64,
    /// Where the PNGs go.
    #[arg(long, default_value = "out/image_to_png")]
    out: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let image = ImageFile::open(&args.image)?;
    println!(
        "{}: {}x{}, {} frame(s)",
        args.image.display(),
        image.width(),
        image.height(),
        image.frame_count()
    );

    let port = Port::blocking(2);
    let feed = pipe("example-feed", image, port.clone())?;
    let writer = PngWriter::new(args.out.join("frame-{n}.png"));
    let mut written = 0;
    while written < args.frames {
        match port.next(Duration::from_secs(10)) {
            Pull::Frame(frame) => {
                writer.push(frame).context("saving a frame")?;
                written += 1;
            }
            Pull::Pending => anyhow::bail!("no frame for 10 s"),
            Pull::Ended => break,
        }
    }
    port.close(); // stops the feed if the animation still runs
    feed.join()?;
    println!("wrote {written} frame(s) under {}", args.out.display());
    Ok(())
}
