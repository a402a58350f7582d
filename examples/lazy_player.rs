//! LazyPlayer: a video file as a source with no thread of its own. Each read decodes, on the
//! reader's thread, up to the frame for the reader's clock and no further.
//!
//! Here the clock is a `ManualClock` stepped 100 ms at a time (as a compositor rendering a
//! scene offline would), so the frames read are exactly those showing at 0.0 s, 0.1 s, ...;
//! then a seek jumps to 1.5 s. The last frame read is saved as a PNG under `out/lazy_player/`.
//! Without a file, a 2-second test clip is made with the ffmpeg CLI in a temporary folder.
//!
//! ```sh
//! cargo run --example lazy_player -- [FILE] [--frames N] [--out DIR]
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use livekit::sinks::PngWriter;
use livekit::sources::{LazyPlayer, LazyPlayerSettings};
use livekit::{Clock, FrameSource, FrameTarget, ManualClock, Pull};

#[derive(Parser)]
struct Args {
    /// A video file (default: a test clip made with ffmpeg).
    file: Option<PathBuf>,
    /// How many reads, 100 ms of media apart.
    #[arg(long, default_value_t = 10)]
    frames: u64,
    /// Where the PNG of the last frame goes.
    #[arg(long, default_value = "out/lazy_player")]
    out: PathBuf,
}

fn main() -> std::process::ExitCode {
    // Errors in one line, with their causes: `error: ...: ...`.
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let file = match args.file {
        Some(file) => file,
        None => {
            let clip = temp.path().join("clip.mp4");
            livekit_testkit::media::clip(&clip, &Default::default());
            println!("no file given: reading a test clip made with ffmpeg");
            clip
        }
    };

    let clock = ManualClock::new();
    let player = LazyPlayer::open(
        &file,
        LazyPlayerSettings {
            clock: Arc::new(clock.clone()),
            ..LazyPlayerSettings::default()
        },
    )?;
    println!(
        "{}: {:.2} s",
        player.name(),
        player.duration().unwrap_or_default().as_secs_f64()
    );

    let mut last = None;
    for n in 0..args.frames {
        if n == args.frames / 2 {
            player.seek(Duration::from_millis(1500))?; // the clock's time now stands for 1.5 s
            println!("seek to 1.50 s");
        }
        // `latest` decodes up to the frame due now; `Pending` when it was already read.
        match player.latest() {
            Pull::Frame(frame) => {
                println!(
                    "clock {:.2} s: frame at {:.3} s, {}x{} {}",
                    clock.now().as_secs_f64(),
                    frame.pts().as_secs_f64(),
                    frame.width(),
                    frame.height(),
                    frame.format()
                );
                last = Some(frame);
            }
            Pull::Pending => println!("clock {:.2} s: no new frame", clock.now().as_secs_f64()),
            Pull::Ended => break,
        }
        clock.advance(Duration::from_millis(100));
    }

    let frame = last
        .or_else(|| player.current())
        .ok_or_else(|| anyhow::anyhow!("{}: no frame was decoded", file.display()))?;
    let png = args.out.join("last.png");
    PngWriter::new(&png).push(frame)?;
    println!(
        "read {} times; the last frame is in {}",
        args.frames,
        png.display()
    );
    Ok(())
}
