//! `livekit compose SCENE.toml`: render a scene file to PNG files, as fast as it renders, or
//! record it live (`--record FILE`) until Ctrl-C, `--frames` or `--timeout`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use clap::Args;
use livekit_compositor::{
    BackendChoice, Compositor, InputFrames, LayerSource, SceneFile, SourceSpec, VideoInput,
};
use livekit_core::{Clock, FrameSource, ManualClock, Port, Pull, VideoFrame, VideoTarget};
use livekit_sinks::PngWriter;
use livekit_sources::capture::{
    Camera, CameraDevice, CameraSettings, Region, ScreenCapture, ScreenSettings, WindowCapture,
    WindowSelector, WindowSettings,
};
use livekit_sources::{
    ImageFile, ImageSettings, LazyPlayer, LazyPlayerSettings, Player, PlayerSettings,
};

use crate::{Failure, usage};

/// `livekit compose` options.
#[derive(Debug, Args)]
pub struct ComposeArgs {
    /// The scene file (TOML; see the README).
    pub(crate) scene: PathBuf,
    /// Frames to render (at the canvas's frame rate: animated images move on). Default 1 for
    /// PNGs; with --record, no limit (until Ctrl-C or --timeout).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub(crate) frames: Option<u64>,
    /// Folder to write `compose-NNNNNN.png` into [default: out]. PNGs only: not with
    /// --record, --stream or --virtual-camera.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// auto, gpu or cpu.
    #[arg(long, default_value = "auto")]
    pub(crate) backend: BackendChoice,
    /// Record the canvas live (real time) to this file instead of writing PNGs: H.264 with a
    /// silent AAC track, in MP4, MKV, MOV or FLV by the extension. Ctrl-C stops and finalizes.
    #[arg(long, value_name = "FILE")]
    pub(crate) record: Option<PathBuf>,
    /// Overwrite an existing recording file (--record's, or one the scene file's [[output]]
    /// tables record to); without it, livekit asks on a terminal and refuses without one
    /// (--yes does not answer this).
    #[arg(long)]
    pub(crate) force: bool,
    /// Stream the canvas live to this site (a configured or built-in site, or a full rtmp://,
    /// rtmps:// or srt:// URL); repeat for more. One encode serves the recording and every site.
    #[arg(long, value_name = "SITE")]
    pub(crate) stream: Vec<String>,
    /// Show the canvas in a preview window (alone, or while it is recorded or streamed).
    #[arg(long)]
    pub(crate) preview: bool,
    /// Send the canvas live to this V4L2 output device, a virtual camera other programs can
    /// pick as a webcam (v4l2loopback: `sudo modprobe v4l2loopback exclusive_caps=1
    /// video_nr=10` makes /dev/video10). Goes with --record, --stream and --preview or alone.
    #[arg(long, value_name = "DEVICE")]
    pub(crate) virtual_camera: Option<PathBuf>,
    /// With --stream: go live without asking (needed without a terminal). Accepted, and
    /// without effect, by the other outputs.
    #[arg(short = 'y', long)]
    pub(crate) yes: bool,
    /// With --stream: give up on a site that has not connected after this many seconds (0:
    /// never); when every site gave up, the job ends with exit 1 [default: the
    /// configuration's defaults.give_up_after, 60].
    #[arg(long, value_name = "SECONDS", requires = "stream", value_parser = crate::jobs::parse_give_up)]
    pub(crate) give_up_after: Option<f64>,
    /// With --record: keep the file playable even if the process is killed (fragmented MP4/MOV;
    /// MKV and FLV are always written in order).
    #[arg(long, requires = "record")]
    pub(crate) crash_safe: bool,
    /// With --record, --stream or --virtual-camera: stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub(crate) timeout: Option<f64>,
    /// With --record or --stream: H.264 encoder: x264, nvenc, vaapi or auto (hardware falls
    /// back to x264) [default: the configuration's defaults.encoder, auto].
    #[arg(long)]
    pub(crate) encoder: Option<livekit_sinks::H264Encoder>,
    /// With --record or --stream: video bit rate in kb/s, 50 to 100000 (default: the first
    /// site's, or from the canvas height and frame rate).
    #[arg(long, value_parser = clap::value_parser!(u32).range(50..=100_000))]
    pub(crate) kbps: Option<u32>,
    /// With --record or --stream: the size encoded, WxH (even numbers). The scene keeps its
    /// canvas (layers stay where its file puts them, the preview and a virtual camera get the
    /// canvas as it is); the encoder scales the canvas to this size, letterboxed if the shape
    /// differs [default: the scene's canvas size; the configuration's width and height do not
    /// apply to scenes].
    #[arg(long, value_name = "WxH", value_parser = crate::jobs::parse_size)]
    pub(crate) size: Option<(u32, u32)>,
    /// Frames a second: replaces the scene's canvas fps, for every output [default: the
    /// scene's, 30 when it names none].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=240))]
    pub(crate) fps: Option<u32>,
    /// With --record or --stream: no audio track (the default is a silent AAC track, as
    /// streaming sites expect one).
    #[arg(long)]
    pub(crate) no_audio: bool,
    #[command(flatten)]
    pub(crate) hls: crate::jobs::HlsArgs,
    /// --listen ADDR runs the scene live and serves it over HTTP (control page, API, events,
    /// metrics) until Ctrl-C, with or without other outputs.
    #[command(flatten)]
    pub(crate) control: crate::control::ControlArgs,
}

/// `livekit preview` options.
#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// The scene file (TOML; see the README).
    scene: PathBuf,
    /// Close by itself after this many seconds (default: when the window is closed);
    /// --timeout is the same, as for the other jobs.
    #[arg(long, visible_alias = "timeout")]
    seconds: Option<f64>,
    /// auto, gpu or cpu.
    #[arg(long, default_value = "auto")]
    backend: BackendChoice,
}

/// Runs a scene file live (real time) in a preview window until it is closed.
pub fn preview(args: &PreviewArgs) -> Result<(), Failure> {
    let file = SceneFile::load(&args.scene).map_err(usage)?;
    let mut compositor = Compositor::new(args.backend)?;
    let clock: Arc<dyn Clock> = Arc::new(livekit_core::SystemClock::new());
    let canvas = file
        .apply(&args.scene, &mut compositor, |spec| open(spec, &clock))
        .map_err(usage)?;
    let viewer = Arc::new(
        livekit_sinks::Viewer::open(livekit_sinks::ViewerSettings {
            title: format!("livekit preview: {}", args.scene.display()),
            width: file.canvas.width.min(1280),
            height: file.canvas.height.min(720),
            ..Default::default()
        })
        .map_err(|e| anyhow!(e))?,
    );
    compositor.add_target(canvas, "preview window", viewer.clone())?;
    let backend = compositor.backend();
    let running = compositor.start(clock).map_err(|e| anyhow!("{e}"))?;
    eprintln!(
        "previewing {} ({backend}); close the window to stop",
        args.scene.display()
    );
    let limit = args.seconds.map(Duration::from_secs_f64);
    let started = std::time::Instant::now();
    while !viewer.wait_closed(Duration::from_millis(100)) {
        if limit.is_some_and(|l| started.elapsed() >= l) {
            break;
        }
    }
    let stats = running.stop().map_err(|e| anyhow!("{e}"))?;
    eprintln!(
        "rendered {} ({} late)",
        crate::live::count(stats.rendered, "frame"),
        stats.late
    );
    Ok(())
}

/// Refuses options that would have no effect: each goes with the outputs it names. (`--yes`
/// is accepted everywhere, so that a script can pass it to every job.)
/// `file_outputs`: the scene file starts outputs of its own (`[[output]]`), so the job is live.
fn check_options(args: &ComposeArgs, file_outputs: bool) -> Result<(), Failure> {
    let served = args.control.listen.is_some();
    let live = args.record.is_some()
        || !args.stream.is_empty()
        || args.hls.hls.is_some()
        || args.virtual_camera.is_some()
        || args.preview
        || file_outputs
        || served;
    // Served: recordings and streams may be started over the API.
    let encoding = args.record.is_some()
        || !args.stream.is_empty()
        || args.hls.hls.is_some()
        || file_outputs
        || served;
    let refuse = |option: &str, goes_with: &str| -> Result<(), Failure> {
        let here = if live {
            "a virtual camera or a preview encodes nothing"
        } else {
            "without --record, --stream, --virtual-camera or --preview compose writes PNGs"
        };
        Err(usage(anyhow!("{option} goes with {goes_with} ({here})")))
    };
    if live && args.out.is_some() {
        return Err(usage(anyhow!(
            "--out is the PNG folder: it does not go with --record, --stream, --virtual-camera or --preview"
        )));
    }
    if !live && args.timeout.is_some() {
        return refuse(
            "--timeout",
            "--record, --stream, --virtual-camera or --preview",
        );
    }
    if !encoding {
        if args.kbps.is_some() {
            return refuse("--kbps", "--record or --stream");
        }
        if args.size.is_some() {
            return refuse("--size", "--record or --stream");
        }
        if args.encoder.is_some() {
            return refuse("--encoder", "--record or --stream");
        }
        if args.no_audio {
            return refuse("--no-audio", "--record or --stream");
        }
    }
    Ok(())
}

pub fn run(config: &crate::config::Config, args: &ComposeArgs, quiet: bool) -> Result<(), Failure> {
    // A scene file with outputs of its own ([[output]]) runs live, like --record. The options
    // are checked before the file's own mistakes are said.
    let loaded = load_scene(args);
    let file_outputs = loaded.as_ref().is_ok_and(|file| !file.outputs.is_empty());
    check_options(args, file_outputs)?;
    if args.record.is_some()
        || !args.stream.is_empty()
        || args.hls.hls.is_some()
        || args.virtual_camera.is_some()
        || args.preview
        || args.control.listen.is_some()
        || file_outputs
    {
        return crate::record::run(config, args, quiet);
    }
    let file = loaded?;
    let frames = args.frames.unwrap_or(1);
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("out"));
    output_folder(&out)?;
    let mut compositor = Compositor::new(args.backend)?;
    // Offline: sources run on a clock we step frame by frame.
    let clock = Arc::new(ManualClock::new());
    let source_clock: Arc<dyn Clock> = clock.clone();
    // Live sources (captures, a looping file) deliver frames on their own threads: the first
    // PNG waits for the first frame of each, or it would show the background instead.
    let mut live = Vec::new();
    let canvas = file
        .apply(&args.scene, &mut compositor, |spec| {
            let source = open(spec, &source_clock)?;
            if let (Some(what), LayerSource::Video(input)) = (live_source(spec), &source) {
                live.push((input.id(), what));
            }
            Ok(source)
        })
        .map_err(usage)?;
    let fps = file.canvas.fps;
    let writer = PngWriter::new(out.join("compose-{n}.png"));
    let mut inputs = first_frames(&compositor, &live, FIRST_FRAME_WAIT)?;
    for n in 0..frames {
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
        frames,
        if frames == 1 { "" } else { "s" },
        args.scene.display(),
        out.display(),
        compositor.backend()
    );
    Ok(())
}

/// Loads the scene file, its canvas at `--fps` when given.
pub(crate) fn load_scene(args: &ComposeArgs) -> Result<SceneFile, Failure> {
    let mut file = SceneFile::load(&args.scene).map_err(usage)?;
    if let Some(fps) = args.fps {
        file.canvas = file.canvas.fps(livekit_compositor::Fps::new(fps));
    }
    Ok(file)
}

/// Makes the folder PNGs go into, or says why it cannot be one (a usage error).
fn output_folder(out: &std::path::Path) -> Result<(), Failure> {
    if out.exists() && !out.is_dir() {
        return Err(usage(anyhow!("--out {}: not a folder", out.display())));
    }
    std::fs::create_dir_all(out).map_err(|e| {
        usage(anyhow!(
            "--out {}: cannot create the folder: {e}",
            out.display()
        ))
    })
}

/// How long PNG mode waits for the first frame of a live source (a camera, a screen, a window,
/// a looping file).
const FIRST_FRAME_WAIT: Duration = Duration::from_secs(10);

/// What a live source is, for messages; `None` for sources that have their frames at once.
fn live_source(spec: &SourceSpec) -> Option<String> {
    match spec {
        SourceSpec::Camera(device) => Some(format!("camera {device}")),
        SourceSpec::Screen { display, .. } => Some(format!("screen {display}")),
        SourceSpec::Window(title) => Some(format!("window {title:?}")),
        SourceSpec::File {
            path,
            looping: true,
        } => Some(path.display().to_string()),
        _ => None,
    }
}

/// Waits (up to `wait` in all) for the first frame of each live input.
fn first_frames(
    compositor: &Compositor,
    live: &[(livekit_compositor::InputId, String)],
    wait: Duration,
) -> Result<InputFrames, Failure> {
    let mut frames = InputFrames::new();
    let deadline = std::time::Instant::now() + wait;
    for input in compositor.inputs() {
        let Some((_, what)) = live.iter().find(|(id, _)| *id == input.id()) else {
            continue;
        };
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match input.source().next(left) {
            Pull::Frame(frame) => frames.insert(input.id(), frame),
            Pull::Pending => {
                return Err(anyhow!("{what}: no frame within {} s", wait.as_secs_f64()).into());
            }
            Pull::Ended => return Err(anyhow!("{what}: ended before its first frame").into()),
        }
    }
    Ok(frames)
}

/// A live source (a player or a capture) kept running for as long as its layer reads it.
struct Held {
    port: Arc<Port<VideoFrame>>,
    _owner: parking_lot::Mutex<Box<dyn std::any::Any + Send>>,
}

impl FrameSource<VideoFrame> for Held {
    fn latest(&self) -> Pull<VideoFrame> {
        self.port.latest()
    }
    fn next(&self, timeout: std::time::Duration) -> Pull<VideoFrame> {
        self.port.next(timeout)
    }
}

fn held(port: Arc<Port<VideoFrame>>, owner: impl Send + 'static) -> LayerSource {
    LayerSource::Video(VideoInput::new(Arc::new(Held {
        port,
        _owner: parking_lot::Mutex::new(Box::new(owner)),
    })))
}

/// Opens the sources the compositor does not draw itself, on `clock`: images, media files
/// (decoded on the compositor's thread for its clock; a looping file plays on its own thread),
/// cameras, screens and windows.
pub(crate) fn open(spec: &SourceSpec, clock: &Arc<dyn Clock>) -> Result<LayerSource, String> {
    let live = || Arc::new(Port::<VideoFrame>::latest());
    let targets = |port: &Arc<Port<VideoFrame>>| vec![Arc::clone(port) as Arc<dyn VideoTarget>];
    match spec {
        SourceSpec::Image(path) => {
            let settings = ImageSettings {
                clock: Arc::clone(clock),
                ..ImageSettings::default()
            };
            let image = ImageFile::open_with(path, settings).map_err(|e| e.to_string())?;
            Ok(LayerSource::Video(VideoInput::new(Arc::new(image))))
        }
        SourceSpec::File {
            path,
            looping: false,
        } => {
            let settings = LazyPlayerSettings {
                clock: Arc::clone(clock),
                ..LazyPlayerSettings::default()
            };
            let player = LazyPlayer::open(path, settings).map_err(|e| e.to_string())?;
            Ok(LayerSource::Video(VideoInput::new(Arc::new(player))))
        }
        SourceSpec::File {
            path,
            looping: true,
        } => {
            let settings = PlayerSettings {
                clock: Arc::clone(clock),
                looping: true,
                audio: false,
                ..PlayerSettings::default()
            };
            let player = Player::open(path, settings).map_err(|e| e.to_string())?;
            let port = live();
            player
                .add_video_target(Arc::clone(&port))
                .map_err(|e| e.to_string())?;
            player.start().map_err(|e| e.to_string())?;
            Ok(held(port, player))
        }
        SourceSpec::Camera(device) => {
            let port = live();
            let capture = Camera::start(
                CameraSettings {
                    device: CameraDevice::parse(device),
                    clock: Arc::clone(clock),
                    ..CameraSettings::default()
                },
                targets(&port),
            )
            .map_err(|e| e.to_string())?;
            Ok(held(port, capture))
        }
        SourceSpec::Screen { display, region } => {
            let port = live();
            let capture = ScreenCapture::start(
                ScreenSettings {
                    display: Some(display.clone()),
                    region: region.map(|[x, y, width, height]| Region {
                        x,
                        y,
                        width,
                        height,
                    }),
                    clock: Arc::clone(clock),
                    ..ScreenSettings::default()
                },
                targets(&port),
            )
            .map_err(|e| e.to_string())?;
            Ok(held(port, capture))
        }
        SourceSpec::Window(title) => {
            let port = live();
            let capture = WindowCapture::start(
                WindowSettings {
                    clock: Arc::clone(clock),
                    ..WindowSettings::new(WindowSelector::Title(title.clone()))
                },
                targets(&port),
            )
            .map_err(|e| e.to_string())?;
            Ok(held(port, capture))
        }
        other => Err(format!("unsupported source {other:?}")),
    }
}
