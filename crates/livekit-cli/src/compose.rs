//! `livekit compose SCENE.toml`: render a scene file to PNG files, as fast as it renders.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::anyhow;
use clap::Args;
use livekit_compositor::{
    BackendChoice, Compositor, InputFrames, LayerSource, SceneFile, SourceSpec, VideoInput,
};
use livekit_core::{Clock, FrameSource, ManualClock, Pull};
use livekit_sinks::PngWriter;
use livekit_sources::{ImageFile, ImageSettings};

use crate::{Failure, usage};

/// `livekit compose` options.
#[derive(Debug, Args)]
pub struct ComposeArgs {
    /// The scene file (TOML; see the README).
    scene: PathBuf,
    /// Frames to render (at the canvas's frame rate: animated images move on).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    frames: u64,
    /// Folder to write `compose-NNNNNN.png` into.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// auto, gpu or cpu.
    #[arg(long, default_value = "auto")]
    backend: BackendChoice,
}

pub fn run(args: &ComposeArgs) -> Result<(), Failure> {
    let file = SceneFile::load(&args.scene).map_err(usage)?;
    let mut compositor = Compositor::new(args.backend)?;
    // Offline: sources run on a clock we step frame by frame.
    let clock = Arc::new(ManualClock::new());
    let canvas = file
        .apply(&args.scene, &mut compositor, |spec| open(spec, &clock))
        .map_err(usage)?;
    let fps = file.canvas.fps;
    let writer = PngWriter::new(args.out.join("compose-{n}.png"));
    let mut inputs = InputFrames::new();
    for n in 0..args.frames {
        let time = fps.frame_time(n);
        clock.set(time);
        for input in compositor.inputs() {
            if let Pull::Frame(frame) = input.source().latest() {
                inputs.insert(input.id(), frame);
            }
        }
        let frame = compositor.render_canvas(canvas, time, &inputs)?;
        livekit_core::FrameTarget::push(&writer, frame)
            .map_err(|e| anyhow!(e).context("compose"))?;
    }
    println!(
        "wrote {} frame{} of {} to {} ({})",
        args.frames,
        if args.frames == 1 { "" } else { "s" },
        args.scene.display(),
        args.out.display(),
        compositor.backend()
    );
    Ok(())
}

fn open(spec: &SourceSpec, clock: &Arc<ManualClock>) -> Result<LayerSource, String> {
    match spec {
        SourceSpec::Image(path) => {
            let settings = ImageSettings {
                clock: Arc::clone(clock) as Arc<dyn Clock>,
                ..ImageSettings::default()
            };
            let image = ImageFile::open_with(path, settings).map_err(|e| e.to_string())?;
            Ok(LayerSource::Video(VideoInput::new(Arc::new(image))))
        }
        SourceSpec::File { path, .. } => Err(format!(
            "{}: media files are not supported by `compose` yet",
            path.display()
        )),
        SourceSpec::Camera(device) => Err(format!("camera {device}: capture is not supported yet")),
        SourceSpec::Screen { display, .. } => {
            Err(format!("screen {display}: capture is not supported yet"))
        }
        SourceSpec::Window(title) => Err(format!("window {title:?}: capture is not supported yet")),
        other => Err(format!("unsupported source {other:?}")),
    }
}

