//! Player -> Viewer: play a media file in real time in a preview window.
//!
//! The player decodes on its own thread and writes each video frame when its time comes into a
//! port; the main thread counts the frames and hands them to the window. Without a file, a
//! 2-second test clip is made with the ffmpeg CLI in a temporary folder. Without a display, the
//! window is skipped (said in one line) and the frames are still played and counted.
//!
//! ```sh
//! cargo run --example play_file -- [FILE] [--frames N] [--seconds N]
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use livekit::sinks::{OpenViewerError, Viewer, ViewerSettings};
use livekit::sources::{Player, PlayerSettings};
use livekit::{FrameSource, FrameTarget, Port, Pull};

#[derive(Parser)]
struct Args {
    /// A media file or URL (default: a test clip made with ffmpeg).
    file: Option<PathBuf>,
    /// Stop after this many frames.
    #[arg(long)]
    frames: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    seconds: Option<f64>,
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
            println!("no file given: playing a test clip made with ffmpeg");
            clip
        }
    };

    let player = Player::open(
        &file,
        PlayerSettings {
            audio: false,
            ..PlayerSettings::default()
        },
    )?;
    let frames = Port::blocking(4); // the player waits for us: no frame is lost
    player.add_video_target(frames.clone())?;

    let settings = ViewerSettings {
        title: format!("livekit: {}", file.display()),
        width: 640,
        height: 360,
        ..ViewerSettings::default()
    };
    let viewer = match Viewer::open(settings) {
        Ok(viewer) => Some(viewer),
        Err(OpenViewerError::NoDisplay) => {
            println!("no display (DISPLAY is not set): the preview window is skipped");
            None
        }
        Err(error) => return Err(error.into()),
    };

    player.start()?;
    let started = Instant::now();
    let limit = args.seconds.map(Duration::from_secs_f64);
    let mut played = 0u64;
    let mut size = (0, 0);
    while args.frames.is_none_or(|n| played < n) && limit.is_none_or(|l| started.elapsed() < l) {
        match frames.next(Duration::from_millis(100)) {
            Pull::Frame(frame) => {
                played += 1;
                size = (frame.width(), frame.height());
                if let Some(viewer) = &viewer
                    && viewer.push(frame).is_err()
                {
                    println!("the window was closed");
                    break;
                }
            }
            Pull::Pending => {}
            Pull::Ended => break,
        }
    }
    player.stop().context("stopping the player")?;
    println!(
        "played {played} frames ({}x{}) of {} in {:.2} s",
        size.0,
        size.1,
        file.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
