//! Camera -> VideoPort -> Recorder: record a webcam to an MP4 file.
//!
//! The camera's thread pushes frames into a drop-oldest port (a live output: if the encoder
//! falls behind, the oldest frames go and are counted); the recorder's threads read it, encode
//! H.264 and write the file, which is finalized when the camera stops. With no `--device` and
//! no camera on the machine, FFmpeg's test source stands in for one (said in one line). The
//! file is `out/record_camera.mp4` unless `--out` says otherwise.
//!
//! ```sh
//! cargo run --example record_camera -- [--device /dev/video0] [--frames N] [--seconds N] [--out FILE]
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use livekit::sinks::{EncoderSettings, Recorder, RecorderSettings, VideoSettings};
use livekit::sources::capture::{Camera, CameraDevice, CameraSettings, CaptureEvent, list_cameras};
use livekit::{Port, VideoFrame, VideoTarget};

#[derive(Parser)]
struct Args {
    /// The camera (default: the first one found, or a test source when there is none).
    #[arg(long)]
    device: Option<PathBuf>,
    /// Stop after this many frames (default 150).
    #[arg(long)]
    frames: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    seconds: Option<f64>,
    /// The recording (.mp4, .mkv, .mov or .flv).
    #[arg(long, default_value = "out/record_camera.mp4")]
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
    let device = match args.device {
        Some(path) => CameraDevice::Path(path),
        None => match list_cameras()?.into_iter().next() {
            Some(camera) => CameraDevice::Path(camera.path),
            None => {
                println!("no camera found: recording FFmpeg's test source instead");
                CameraDevice::Lavfi("testsrc2=size=640x360:rate=30,realtime".into())
            }
        },
    };

    let frames = Arc::new(Port::<VideoFrame>::drop_oldest(30));
    let camera = Camera::start(
        CameraSettings {
            device,
            ..CameraSettings::default()
        },
        vec![frames.clone() as Arc<dyn VideoTarget>],
    )?;
    // The camera says which size the driver picked: record at that size.
    let (width, height) = loop {
        match camera.events().recv_timeout(Duration::from_secs(10)) {
            Ok(CaptureEvent::Started { width, height, .. }) => break (width, height),
            Ok(CaptureEvent::Error { message, .. }) => bail!("{}: {message}", camera.device()),
            Ok(_) => {}
            Err(_) => bail!("{}: no picture within 10 s", camera.device()),
        }
    };

    if let Some(folder) = args.out.parent() {
        std::fs::create_dir_all(folder)?;
    }
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
        .unwrap_or(if limit.is_some() { u64::MAX } else { 150 });
    while camera.stats().frames < frame_limit
        && limit.is_none_or(|l| started.elapsed() < l)
        && !camera.is_finished()
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let device = camera.device().to_owned();
    camera.stop().context("stopping the camera")?; // ends the port: the recorder finishes
    let summary = recorder.wait()?;
    let encoded = summary.encoder.unwrap_or_default();
    println!(
        "recorded {} frames ({:.2} s, {width}x{height}) from {device} to {} ({} bytes)",
        encoded.video_frames,
        summary.duration.as_secs_f64(),
        summary.path.display(),
        summary.file_bytes
    );
    Ok(())
}
