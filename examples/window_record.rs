//! WindowCapture -> Recorder: record one X11 window to an MP4 file.
//!
//! With `--window TITLE`, the first window whose title contains TITLE is recorded. Without it,
//! the example opens a window of its own (a `Viewer` showing the project's logo) and records
//! that, so it has something to show on a bare X server such as `xvfb-run`. Without an X
//! display it fails with one line saying so (window capture needs X11). The file is
//! `out/window_record.mp4` unless `--out` says otherwise.
//!
//! ```sh
//! cargo run --example window_record -- [--window TITLE] [--frames N] [--seconds N] [--out FILE]
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use livekit::sinks::{
    EncoderSettings, Recorder, RecorderSettings, VideoSettings, Viewer, ViewerSettings,
};
use livekit::sources::ImageFile;
use livekit::sources::capture::{
    CaptureEvent, WindowCapture, WindowSelector, WindowSettings, describe_display,
};
use livekit::{Port, VideoFrame, VideoTarget};

const OWN_TITLE: &str = "livekit window_record";

#[derive(Parser)]
struct Args {
    /// Record the first window whose title contains this (default: a window of our own).
    #[arg(long)]
    window: Option<String>,
    /// Stop after this many frames (default 90).
    #[arg(long)]
    frames: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    seconds: Option<f64>,
    /// The recording (.mp4, .mkv, .mov or .flv).
    #[arg(long, default_value = "out/window_record.mp4")]
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
    // Fails with one line without an X display (or on Wayland without XWayland).
    let display = describe_display(None)?;
    println!(
        "X display {}: {}x{}, {} titled windows",
        display.name,
        display.width,
        display.height,
        display.windows.len()
    );

    let (title, own_window) = match args.window {
        Some(title) => (title, None),
        None => {
            let logo = ImageFile::open("assets/logo.png")
                .context("the example runs from the repository root")?;
            let settings = ViewerSettings {
                title: OWN_TITLE.into(),
                width: 320,
                height: 240,
                ..ViewerSettings::default()
            };
            let viewer = Viewer::show(logo, settings)?;
            // Record once the window shows the logo.
            let shown = Instant::now();
            while viewer.stats().shown == 0 && shown.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(10));
            }
            println!("no --window given: recording a window of our own, titled '{OWN_TITLE}'");
            (OWN_TITLE.to_owned(), Some(viewer))
        }
    };

    if let Some(folder) = args.out.parent() {
        std::fs::create_dir_all(folder)?;
    }
    let frames = Arc::new(Port::<VideoFrame>::drop_oldest(30));
    let capture = WindowCapture::start(
        WindowSettings {
            frame_rate: 30,
            ..WindowSettings::new(WindowSelector::Title(title))
        },
        vec![frames.clone() as Arc<dyn VideoTarget>],
    )?;
    // The capture says the window's size: record at that size.
    let (width, height) = loop {
        match capture.events().recv_timeout(Duration::from_secs(10)) {
            Ok(CaptureEvent::Started { width, height, .. }) => break (width, height),
            Ok(CaptureEvent::Error { message, .. }) => bail!("{}: {message}", capture.device()),
            Ok(_) => {}
            Err(_) => bail!("{}: no picture within 10 s", capture.device()),
        }
    };
    println!("recording {} ({width}x{height})", capture.device());
    let encoder = EncoderSettings {
        video: VideoSettings {
            width,
            height,
            ..VideoSettings::default()
        },
        ..EncoderSettings::default()
    };
    let recorder = Recorder::start(RecorderSettings::new(&args.out), encoder, frames, None)?;

    let started = Instant::now();
    let limit = args.seconds.map(Duration::from_secs_f64);
    let frame_limit = args
        .frames
        .unwrap_or(if limit.is_some() { u64::MAX } else { 90 });
    while capture.stats().frames < frame_limit
        && limit.is_none_or(|l| started.elapsed() < l)
        && !capture.is_finished()
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    capture.stop().context("stopping the capture")?; // ends the port: the recorder finishes
    let summary = recorder.wait()?;
    if let Some(viewer) = own_window {
        viewer.close();
    }
    let encoded = summary.encoder.unwrap_or_default();
    println!(
        "recorded {} frames ({:.2} s) to {} ({} bytes)",
        encoded.video_frames,
        summary.duration.as_secs_f64(),
        summary.path.display(),
        summary.file_bytes
    );
    Ok(())
}
