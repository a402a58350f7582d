//! ImageFile + Player + Camera -> Compositor -> Viewer and Recorder: a live scene shown in a
//! window while it is recorded.
//!
//! The camera fills the canvas, a media file plays (looping) in a corner and the logo sits on
//! top. Live inputs go through keep-latest ports; the compositor renders on the system clock
//! and writes each canvas frame to the window (which never makes it wait) and to a drop-oldest
//! port, from which the main thread passes `--frames` frames on to the recorder. With no
//! `--device` and no camera, FFmpeg's test source stands in for one; with no file, a test clip
//! is made with the ffmpeg CLI; with no display, the window is skipped. Each is said in one
//! line. The file is `out/compose_preview.mp4` unless `--out` says otherwise.
//!
//! ```sh
//! cargo run --example compose_preview -- [FILE] [--device /dev/video0] [--frames N] [--seconds N] [--out FILE]
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use livekit::compositor::{BackendChoice, CanvasSettings, Compositor, Fit, Layer, OutputFormat};
use livekit::sinks::{
    EncoderSettings, OpenViewerError, Recorder, RecorderSettings, VideoSettings, Viewer,
    ViewerSettings,
};
use livekit::sources::capture::{Camera, CameraDevice, CameraSettings, list_cameras};
use livekit::sources::{ImageFile, Player, PlayerSettings};
use livekit::{
    Clock, ColorSpace, FrameSource, FrameTarget, Port, Pull, SystemClock, VideoFrame, VideoTarget,
};

#[derive(Parser)]
struct Args {
    /// A media file for the corner (default: a test clip made with ffmpeg).
    file: Option<PathBuf>,
    /// The camera (default: the first one found, or a test source when there is none).
    #[arg(long)]
    device: Option<PathBuf>,
    /// Frames to record (default 150, 5 s).
    #[arg(long)]
    frames: Option<u64>,
    /// Seconds to record.
    #[arg(long)]
    seconds: Option<f64>,
    /// The recording (.mp4, .mkv, .mov or .flv).
    #[arg(long, default_value = "out/compose_preview.mp4")]
    out: PathBuf,
    /// auto, gpu or cpu.
    #[arg(long, default_value = "auto")]
    backend: BackendChoice,
}

const WIDTH: u32 = 640;
const HEIGHT: u32 = 360;

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
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new()); // one clock for the whole graph
    let temp = tempfile::tempdir()?;

    // The camera, through a keep-latest port: the compositor takes its newest frame.
    let device = match args.device {
        Some(path) => CameraDevice::Path(path),
        None => match list_cameras()?.into_iter().next() {
            Some(camera) => CameraDevice::Path(camera.path),
            None => {
                println!("no camera found: FFmpeg's test source stands in for it");
                CameraDevice::Lavfi("testsrc2=size=640x360:rate=30,realtime".into())
            }
        },
    };
    let camera = Arc::new(Port::<VideoFrame>::latest());
    let capture = Camera::start(
        CameraSettings {
            device,
            clock: clock.clone(),
            ..CameraSettings::default()
        },
        vec![camera.clone() as Arc<dyn VideoTarget>],
    )?;

    // A media file, looping, on its own thread.
    let file = match args.file {
        Some(file) => file,
        None => {
            let clip = temp.path().join("clip.mp4");
            livekit_testkit::media::clip(&clip, &Default::default());
            println!("no file given: a test clip made with ffmpeg plays in the corner");
            clip
        }
    };
    let player = Player::open(
        &file,
        PlayerSettings {
            clock: clock.clone(),
            looping: true,
            audio: false,
            ..PlayerSettings::default()
        },
    )?;
    let clip = Arc::new(Port::<VideoFrame>::latest());
    player.add_video_target(clip.clone())?;
    player.start()?;

    let logo =
        ImageFile::open("assets/logo.png").context("the example runs from the repository root")?;

    let mut compositor = Compositor::new(args.backend)?;
    let canvas = compositor.add_canvas(
        CanvasSettings::new(WIDTH, HEIGHT, 30)
            .output(OutputFormat::I420(ColorSpace::BT709_LIMITED)),
    )?;
    compositor.add_layer(canvas, None, Layer::video(camera).fit(Fit::Cover))?;
    compositor.add_layer(
        canvas,
        None,
        Layer::video(clip)
            .rect(400.0, 210.0, 224.0, 134.0)
            .fit(Fit::Contain)
            .z(1),
    )?;
    compositor.add_layer(
        canvas,
        None,
        Layer::video(Arc::new(logo))
            .rect(540.0, 16.0, 84.0, 84.0)
            .fit(Fit::Contain)
            .z(2),
    )?;

    let settings = ViewerSettings {
        title: "livekit compose_preview".into(),
        width: WIDTH,
        height: HEIGHT,
        ..ViewerSettings::default()
    };
    let viewer = match Viewer::open(settings) {
        Ok(viewer) => Some(Arc::new(viewer)),
        Err(OpenViewerError::NoDisplay) => {
            println!("no display (DISPLAY is not set): the preview window is skipped");
            None
        }
        Err(error) => return Err(error.into()),
    };
    if let Some(viewer) = &viewer {
        compositor.add_target(canvas, "preview", viewer.clone())?;
    }
    let output = Arc::new(Port::<VideoFrame>::drop_oldest(8));
    compositor.add_target(canvas, "recording", output.clone())?;

    if let Some(folder) = args.out.parent() {
        std::fs::create_dir_all(folder)?;
    }
    let to_recorder = Arc::new(Port::<VideoFrame>::blocking(8));
    let encoder = EncoderSettings {
        video: VideoSettings {
            width: WIDTH,
            height: HEIGHT,
            ..VideoSettings::default()
        },
        ..EncoderSettings::default()
    };
    let recorder = Recorder::start(
        RecorderSettings::new(&args.out),
        encoder,
        to_recorder.clone(),
        None,
    )?;
    let backend = compositor.backend();
    let running = compositor.start(clock)?;

    let started = Instant::now();
    let limit = args.seconds.map(Duration::from_secs_f64);
    let frames = args
        .frames
        .unwrap_or(if limit.is_some() { u64::MAX } else { 150 });
    let mut recorded = 0;
    while recorded < frames && limit.is_none_or(|l| started.elapsed() < l) {
        match output.next(Duration::from_secs(5)) {
            Pull::Frame(frame) => {
                to_recorder.push(frame)?;
                recorded += 1;
            }
            other => bail!("no frame from the compositor: {other:?}"),
        }
        if viewer.as_ref().is_some_and(|v| v.is_closed()) {
            println!("the window was closed");
            break;
        }
    }
    to_recorder.end(); // the recorder finishes the file
    let stats = running.stop().map_err(|e| anyhow::anyhow!("{e}"))?;
    let summary = recorder.wait()?;
    player.stop()?;
    capture.stop().map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "composed {} frames ({backend}, {} late); recorded {recorded} to {} ({:.2} s, {} bytes)",
        stats.rendered,
        stats.late,
        summary.path.display(),
        summary.duration.as_secs_f64(),
        summary.file_bytes
    );
    Ok(())
}
