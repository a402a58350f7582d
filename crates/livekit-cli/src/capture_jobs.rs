//! Live capture jobs: `stream-screen`, `stream-camera`, `capture-screen` (PyLivestream's
//! ScreenCapture2disk). A capture -> one encode (with a silent audio track, which most sites
//! require) -> a [`Streamer`](livekit_sinks::Streamer) to every SITE, or a recording.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use clap::Args;
use livekit_core::{
    AudioSource, Clock, Mixer, MixerSettings, Port, SystemClock, VideoFrame, VideoSource,
    VideoTarget,
};
use livekit_sinks::stream::DestinationState;
use livekit_sinks::{Destination, Encoder, Recorder, RecorderSettings};
use livekit_sources::capture::{Camera, ScreenCapture};
use livekit_sources::capture::{
    CameraDevice, CameraSettings, CaptureEvent, OutputFormat, Region, ScreenSettings,
    StartCaptureError, VideoCapture,
};

use crate::config::Config;
use crate::jobs::{
    LiveArgs, destinations, encoder_settings, parse_size, start_streamer, with_kbps,
};
use crate::live::{Meter, Reading, StatusLine, StopSignal, confirm_go_live, run_until};
use crate::{Failure, usage};

/// Screen area and rate options.
#[derive(Debug, Clone, Args)]
pub struct ScreenArgs {
    /// Top-left corner of the captured area [default: the configuration's, or 0,0].
    #[arg(long, value_name = "X,Y", value_parser = parse_origin, allow_hyphen_values = true)]
    pub origin: Option<(u32, u32)>,
    /// Size of the captured area, which is the size sent (even numbers) [default: the
    /// configuration's screen_size, or the whole screen].
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub size: Option<(u32, u32)>,
    /// Frames a second captured and sent [default: the configuration's screen_fps, else
    /// defaults.fps, 30].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=240))]
    pub fps: Option<u32>,
    /// Video bit rate in kb/s, 50 to 100000 [default: the site's video_kbps, else the
    /// configuration's defaults.video_kbps, else from the size and frame rate].
    #[arg(long, value_parser = clap::value_parser!(u32).range(50..=100_000))]
    pub kbps: Option<u32>,
    /// The X11 display [default: the configuration's screen, or $DISPLAY].
    #[arg(long)]
    pub display: Option<String>,
    /// Do not draw the mouse pointer.
    #[arg(long)]
    pub no_cursor: bool,
}

fn parse_origin(text: &str) -> Result<(u32, u32), String> {
    let (x, y) = text
        .split_once(',')
        .ok_or_else(|| format!("{text:?}: expected X,Y (for example 0,0)"))?;
    Ok((
        x.trim()
            .parse()
            .map_err(|_| format!("{text:?}: X must be a whole number of pixels, 0 or more"))?,
        y.trim()
            .parse()
            .map_err(|_| format!("{text:?}: Y must be a whole number of pixels, 0 or more"))?,
    ))
}

/// `livekit stream-screen SITE...`
#[derive(Debug, Args)]
pub struct StreamScreenArgs {
    /// Where to (see `stream-file`).
    #[arg(required = true)]
    pub sites: Vec<String>,
    /// Send a microphone as the sound (instead of a silent track): `--microphone` alone for
    /// the configuration's microphone or the system's default input, `--microphone=DEVICE`
    /// for another (an id or description from `livekit devices`).
    #[arg(long, value_name = "DEVICE", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub microphone: Option<String>,
    #[command(flatten)]
    pub screen: ScreenArgs,
    #[command(flatten)]
    pub live: LiveArgs,
}

/// `livekit capture-screen OUTFILE`
#[derive(Debug, Args)]
pub struct CaptureScreenArgs {
    /// The file to record (.mp4, .mkv, .mov or .flv).
    pub outfile: PathBuf,
    #[command(flatten)]
    pub screen: ScreenArgs,
    /// Keep the file playable even if the process is killed (fragmented MP4/MOV).
    #[arg(long)]
    pub crash_safe: bool,
    /// Overwrite an existing file (without it, livekit asks on a terminal and refuses without
    /// one).
    #[arg(long)]
    pub force: bool,
    /// Stop after this many seconds (without it: at Ctrl-C).
    #[arg(long, value_name = "SECONDS", value_parser = crate::jobs::parse_seconds)]
    pub timeout: Option<Duration>,
}

/// `livekit stream-camera SITE...`
#[derive(Debug, Args)]
pub struct StreamCameraArgs {
    /// Where to (see `stream-file`).
    #[arg(required = true)]
    pub sites: Vec<String>,
    /// The camera: an index (0), a path (/dev/video2), or `lavfi:GRAPH` for a virtual one
    /// [default: the configuration's camera, or 0].
    #[arg(long, value_name = "DEV")]
    pub device: Option<String>,
    /// Send a microphone as the sound (instead of a silent track): `--microphone` alone for
    /// the configuration's microphone or the system's default input, `--microphone=DEVICE`
    /// for another (an id or description from `livekit devices`).
    #[arg(long, value_name = "DEVICE", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub microphone: Option<String>,
    /// Size asked of the camera, which is the size sent (even numbers; a camera that cannot
    /// give it sends its nearest) [default: the configuration's camera_size, or the camera's
    /// current one].
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub size: Option<(u32, u32)>,
    /// Frames a second asked of the camera [default: the configuration's camera_fps, or the
    /// camera's].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=240))]
    pub fps: Option<u32>,
    /// Video bit rate in kb/s, 50 to 100000 [default: the site's video_kbps, else the
    /// configuration's defaults.video_kbps, else from the size and frame rate].
    #[arg(long, value_parser = clap::value_parser!(u32).range(50..=100_000))]
    pub kbps: Option<u32>,
    #[command(flatten)]
    pub live: LiveArgs,
}

/// Where a capture goes.
enum Output {
    Stream {
        destinations: Vec<Destination>,
        live: LiveArgs,
        /// `--microphone`: `Some(None)` for the default input.
        microphone: Option<Option<String>>,
    },
    Record {
        path: PathBuf,
        crash_safe: bool,
        timeout: Option<Duration>,
    },
}

/// Waits for the capture's first `Started` event: its frame size.
fn wait_started(capture: &VideoCapture) -> Result<(u32, u32), Failure> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        match capture.events().recv_timeout(Duration::from_millis(100)) {
            Ok(CaptureEvent::Started { width, height, .. }) => return Ok((width, height)),
            Ok(CaptureEvent::Error { device, message })
            | Ok(CaptureEvent::Ended {
                device,
                reason: message,
            }) => {
                return Err(anyhow!("{device}: {message}").into());
            }
            _ => {}
        }
    }
    Err(anyhow!("{}: no frames within 15 s", capture.device()).into())
}

/// Runs a capture into `output` until Ctrl-C, `--timeout` or the capture's end.
fn run_capture(
    config: &Config,
    what: &str,
    fps: u32,
    kbps: Option<u32>,
    output: Output,
    quiet: bool,
    start: impl FnOnce(
        Arc<dyn Clock>,
        Vec<Arc<dyn VideoTarget>>,
    ) -> Result<VideoCapture, StartCaptureError>,
) -> Result<(), Failure> {
    if let Output::Stream {
        destinations, live, ..
    } = &output
    {
        let shown: Vec<String> = destinations.iter().map(crate::jobs::shown).collect();
        confirm_go_live(live.yes, what, &shown).map_err(usage)?;
    }
    let stop = StopSignal::install()?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    // Live video: the capture never waits; frames the encoder cannot take are dropped and
    // counted.
    let video: Arc<Port<VideoFrame>> = Arc::new(Port::drop_oldest(8));
    let capture = start(
        Arc::clone(&clock),
        vec![Arc::clone(&video) as Arc<dyn VideoTarget>],
    )
    .map_err(usage)?;
    let size = wait_started(&capture)?;
    // A silent track: sites expect audio; a microphone is mixed into it.
    let microphone_clock = Arc::clone(&clock);
    let mixer = Mixer::start(MixerSettings {
        sample_rate: config.defaults.audio_rate,
        clock,
        ..MixerSettings::default()
    })?;
    let microphone = match &output {
        Output::Stream {
            microphone: Some(device),
            ..
        } => {
            let port: Arc<Port<livekit_core::AudioFrame>> = Arc::new(Port::drop_oldest(64));
            let microphone = open_microphone(
                device.clone(),
                config.defaults.audio_rate,
                microphone_clock,
                Arc::clone(&port),
            );
            let microphone = match microphone {
                Ok(microphone) => microphone,
                Err(error) => {
                    let _ = capture.stop();
                    let _ = mixer.stop();
                    return Err(error);
                }
            };
            mixer.add_input("microphone", port, 1.0);
            Some(microphone)
        }
        _ => None,
    };
    let audio = Arc::new(mixer.output()) as Arc<dyn AudioSource>;
    let no_destinations: Vec<Destination> = Vec::new();
    let sites = match &output {
        Output::Stream { destinations, .. } => destinations,
        Output::Record { .. } => &no_destinations,
    };
    let settings = with_kbps(encoder_settings(config, sites, size, (fps, 1))?, kbps);
    let status = StatusLine::new(quiet, None);
    let mut meter = Meter::default();
    let video_port = Arc::clone(&video);
    let result = match output {
        Output::Stream {
            destinations, live, ..
        } => {
            let encoder = Encoder::start(settings, video as Arc<dyn VideoSource>, Some(audio))?;
            let streamer = start_streamer(
                destinations,
                encoder.streams().to_vec(),
                encoder.packets(),
                true,
                crate::jobs::give_up_after(config, live.give_up_after),
            )?;
            let ended = run_until(&stop, live.timeout, || {
                log_events(&capture);
                let stats = streamer.stats();
                let reading =
                    Reading::encoder(&encoder.stats()).with_dropped(video_port.stats().dropped);
                status.update(
                    None,
                    format!(
                        "{} | {}",
                        crate::jobs::describe(&stats),
                        meter.line(reading)
                    ),
                );
                capture.is_finished()
                    || streamer.is_finished()
                    || stats.iter().all(|d| d.state == DestinationState::Failed)
            });
            status.finish();
            // A live source that ends: a destination still trying to connect is not waited for.
            streamer.give_up_connecting();
            let _ = capture.stop();
            if let Err(error) = encoder.wait() {
                tracing::error!("{error}");
            }
            let report = streamer.wait();
            crate::jobs::summarize(&report, ended, status.elapsed(), quiet)
        }
        Output::Record {
            path,
            crash_safe,
            timeout,
        } => {
            let recorder = Recorder::start(
                RecorderSettings {
                    crash_safe,
                    ..RecorderSettings::new(&path)
                },
                settings,
                video as Arc<dyn VideoSource>,
                Some(audio),
            )
            .map_err(usage)?;
            let ended = run_until(&stop, timeout, || {
                log_events(&capture);
                let encoded = recorder.encoder().map(|e| e.stats()).unwrap_or_default();
                let reading = Reading::encoder(&encoded).with_dropped(video_port.stats().dropped);
                status.update(
                    None,
                    format!(
                        "recording {} {} | {}",
                        path.display(),
                        crate::live::bytes(recorder.stats().bytes),
                        meter.line(reading)
                    ),
                );
                capture.is_finished() || recorder.is_finished()
            });
            status.finish();
            let _ = capture.stop();
            let summary = recorder.wait()?;
            let how = ended.describe("capture ended");
            println!(
                "wrote {} ({how}; {:.1} s, {} {}, {:.1} MB)",
                path.display(),
                summary.duration.as_secs_f64(),
                summary.container,
                if crash_safe {
                    "crash-safe"
                } else {
                    "finalized"
                },
                summary.file_bytes as f64 / 1e6
            );
            Ok(())
        }
    };
    if let Some(microphone) = microphone {
        let _ = microphone.stop();
    }
    let _ = mixer.stop();
    result
}

/// Opens a microphone (`None`: the system's default input) writing to `port`. ALSA's C
/// library prints its probes to stderr (a dozen lines on a machine without a sound server)
/// before our own one-line error: shown with -v only, as in `devices`.
fn open_microphone(
    device: Option<String>,
    sample_rate: u32,
    clock: Arc<dyn Clock>,
    port: Arc<Port<livekit_core::AudioFrame>>,
) -> Result<livekit_sources::capture::Microphone, Failure> {
    use livekit_sources::capture::{Microphone, MicrophoneSettings, OpenMicrophoneError};
    let open = || {
        Microphone::start(
            MicrophoneSettings {
                device: device.clone(),
                sample_rate,
                clock: Arc::clone(&clock),
                ..MicrophoneSettings::default()
            },
            vec![port as Arc<dyn livekit_core::AudioTarget>],
        )
    };
    let opened = if livekit_cli::detailed_logs() {
        open()
    } else {
        without_stderr(open)
    };
    opened.map_err(|error| match error {
        OpenMicrophoneError::NotFound { .. } => {
            usage(anyhow::anyhow!("{error} (see `livekit devices`)"))
        }
        other => usage(other),
    })
}

/// `--microphone[=DEVICE]` as the job opens it: `None` without the flag, `Some(None)` for the
/// default input (the configuration's microphone, or the system's).
fn microphone_choice(config: &Config, flag: Option<&str>) -> Option<Option<String>> {
    flag.map(|device| match device {
        "" => config.capture.current().microphone.clone(),
        device => Some(device.to_owned()),
    })
}

/// The audio input of a capture job's `--print-command`: the microphone, or silence.
fn printed_audio(microphone: &Option<Option<String>>) -> Vec<String> {
    match microphone {
        Some(device) => vec![
            "-f".into(),
            "pulse".into(),
            "-i".into(),
            device.clone().unwrap_or_else(|| "default".into()),
        ],
        None => vec!["-f".into(), "lavfi".into(), "-i".into(), "anullsrc".into()],
    }
}

fn log_events(capture: &VideoCapture) {
    while let Ok(event) = capture.events().try_recv() {
        match event {
            // Already logged (once, as a warning) by the capture itself.
            CaptureEvent::Error { device, message } => tracing::debug!("{device}: {message}"),
            CaptureEvent::Reopening { device, attempt } => {
                tracing::info!("{device}: reopening (attempt {attempt})")
            }
            other => tracing::debug!("{other:?}"),
        }
    }
}

fn screen_settings(config: &Config, args: &ScreenArgs) -> Result<(ScreenSettings, u32), Failure> {
    let platform = config.capture.current();
    let fps = args
        .fps
        .or(platform.screen_fps)
        .unwrap_or(config.defaults.fps);
    let origin = args.origin.or(platform
        .screen_origin
        .map(|[x, y]| (x.max(0) as u32, y.max(0) as u32)));
    let size = args.size.or(platform.screen_size.map(|[w, h]| (w, h)));
    let display = args.display.clone().or(platform.screen.clone());
    let region = match (origin, size) {
        (origin, Some((width, height))) => {
            let (x, y) = origin.unwrap_or((0, 0));
            Some(Region {
                x,
                y,
                width,
                height,
            })
        }
        // An origin alone: from there to the screen's edges.
        (Some((x, y)), None) if (x, y) != (0, 0) => {
            let screen =
                livekit_sources::capture::describe_display(display.as_deref()).map_err(usage)?;
            if x >= screen.width || y >= screen.height {
                return Err(usage(anyhow!(
                    "--origin {x},{y}: outside the {}x{} screen {}",
                    screen.width,
                    screen.height,
                    screen.name
                )));
            }
            Some(Region {
                x,
                y,
                width: screen.width - x,
                height: screen.height - y,
            })
        }
        _ => None,
    };
    let settings = ScreenSettings {
        display,
        region,
        frame_rate: fps,
        show_cursor: !args.no_cursor,
        output: OutputFormat::I420,
        ..ScreenSettings::default()
    };
    Ok((settings, fps))
}

/// `livekit stream-screen`.
pub fn stream_screen(config: &Config, args: &StreamScreenArgs, quiet: bool) -> Result<(), Failure> {
    let destinations = destinations(config, &args.sites)?;
    let microphone = microphone_choice(config, args.microphone.as_deref());
    let (settings, fps) = screen_settings(config, &args.screen)?;
    let display = settings.display.clone().unwrap_or_else(|| ":0".into());
    if args.live.print_command {
        let mut input = vec![
            "-f".to_owned(),
            "x11grab".into(),
            "-framerate".into(),
            fps.to_string(),
        ];
        // The whole screen is sent at its own size.
        let (w, h) = settings
            .region
            .map(|r| (r.width, r.height))
            .or_else(|| {
                livekit_sources::capture::describe_display(settings.display.as_deref())
                    .ok()
                    .map(|screen| (screen.width, screen.height))
            })
            .unwrap_or((config.defaults.width, config.defaults.height));
        let (x, y) = settings.region.map(|r| (r.x, r.y)).unwrap_or((0, 0));
        input.extend([
            "-video_size".into(),
            format!("{w}x{h}"),
            "-i".into(),
            format!("{display}+{x},{y}"),
        ]);
        input.extend(printed_audio(&microphone));
        let enc = with_kbps(
            encoder_settings(config, &destinations, (w, h), (fps, 1))?,
            args.screen.kbps,
        );
        println!(
            "{}",
            crate::print_command::for_device(&input, &enc, &destinations)
        );
        return Ok(());
    }
    run_capture(
        config,
        &format!("the screen {display}"),
        fps,
        args.screen.kbps,
        Output::Stream {
            destinations,
            live: args.live.clone(),
            microphone,
        },
        quiet,
        |clock, targets| ScreenCapture::start(ScreenSettings { clock, ..settings }, targets),
    )
}

/// `livekit capture-screen`.
pub fn capture_screen(
    config: &Config,
    args: &CaptureScreenArgs,
    quiet: bool,
) -> Result<(), Failure> {
    crate::record::check_recording_path(&args.outfile)?;
    crate::record::check_overwrite(&args.outfile, args.force)?;
    let (settings, fps) = screen_settings(config, &args.screen)?;
    run_capture(
        config,
        "the screen",
        fps,
        args.screen.kbps,
        Output::Record {
            path: args.outfile.clone(),
            crash_safe: args.crash_safe,
            timeout: args.timeout,
        },
        quiet,
        |clock, targets| ScreenCapture::start(ScreenSettings { clock, ..settings }, targets),
    )
}

/// `livekit stream-camera`.
pub fn stream_camera(config: &Config, args: &StreamCameraArgs, quiet: bool) -> Result<(), Failure> {
    let destinations = destinations(config, &args.sites)?;
    let microphone = microphone_choice(config, args.microphone.as_deref());
    let platform = config.capture.current();
    let device = args
        .device
        .clone()
        .or(platform.camera.clone())
        .unwrap_or_else(|| "0".into());
    let fps = args.fps.or(platform.camera_fps);
    let size = args.size.or(platform.camera_size.map(|[w, h]| (w, h)));
    if args.live.print_command {
        let (format, path) = match livekit_sources::capture::CameraDevice::parse(&device) {
            CameraDevice::Index(n) => ("v4l2", format!("/dev/video{n}")),
            // A virtual camera is a filter graph: `-re` paces it as a real camera would be.
            CameraDevice::Lavfi(graph) => ("lavfi", graph),
            _ => ("v4l2", device.clone()),
        };
        let mut input = Vec::new();
        if format == "lavfi" {
            input.push("-re".to_owned());
        }
        input.extend(["-f".to_owned(), format.into()]);
        if format == "v4l2" {
            if let Some(fps) = fps {
                input.extend(["-framerate".into(), fps.to_string()]);
            }
            if let Some((w, h)) = size {
                input.extend(["-video_size".into(), format!("{w}x{h}")]);
            }
        }
        input.extend(["-i".into(), path]);
        input.extend(printed_audio(&microphone));
        let (w, h) = size.unwrap_or((config.defaults.width, config.defaults.height));
        let enc = with_kbps(
            encoder_settings(
                config,
                &destinations,
                (w, h),
                (fps.unwrap_or(config.defaults.fps), 1),
            )?,
            args.kbps,
        );
        println!(
            "{}",
            crate::print_command::for_device(&input, &enc, &destinations)
        );
        return Ok(());
    }
    let settings = CameraSettings {
        device: livekit_sources::capture::CameraDevice::parse(&device),
        size,
        frame_rate: fps,
        ..CameraSettings::default()
    };
    run_capture(
        config,
        &format!("camera {device}"),
        fps.unwrap_or(config.defaults.fps),
        args.kbps,
        Output::Stream {
            destinations,
            live: args.live.clone(),
            microphone,
        },
        quiet,
        |clock, targets| Camera::start(CameraSettings { clock, ..settings }, targets),
    )
}

/// `livekit stream-microphone SITE...`
#[derive(Debug, Args)]
pub struct StreamMicrophoneArgs {
    /// Where to (see `stream-file`).
    #[arg(required = true)]
    pub sites: Vec<String>,
    /// Picture to show [default: black].
    #[arg(long, value_name = "IMG")]
    pub image: Option<PathBuf>,
    /// The microphone: an id or description from `livekit devices` [default: the
    /// configuration's, or the system's default input].
    #[arg(long, value_name = "NAME")]
    pub device: Option<String>,
    /// Size of the picture sent, WxH (even numbers; the image is scaled to fit, letterboxed)
    /// [default: the configuration's defaults.width x height, 1280x720].
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub size: Option<(u32, u32)>,
    /// Frames a second of the picture sent [default: the configuration's defaults.fps, 30].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=240))]
    pub fps: Option<u32>,
    /// Video bit rate in kb/s, 50 to 100000 [default: the site's video_kbps, else the
    /// configuration's defaults.video_kbps, else from the size and frame rate].
    #[arg(long, value_parser = clap::value_parser!(u32).range(50..=100_000))]
    pub kbps: Option<u32>,
    #[command(flatten)]
    pub live: LiveArgs,
}

/// `livekit stream-microphone`: a microphone with a still picture (or black), as PyLivestream's
/// microphone job.
pub fn stream_microphone(
    config: &Config,
    args: &StreamMicrophoneArgs,
    quiet: bool,
) -> Result<(), Failure> {
    use livekit_compositor::{BackendChoice, CanvasSettings, Compositor, Fit, Layer};
    use livekit_core::AudioFrame;
    use livekit_sources::{ImageFile, ImageSettings};

    let destinations = destinations(config, &args.sites)?;
    let device = args
        .device
        .clone()
        .or(config.capture.current().microphone.clone());
    let d = &config.defaults;
    let (width, height) = args.size.unwrap_or((d.width, d.height));
    let fps = args.fps.unwrap_or(d.fps);
    let settings = with_kbps(
        encoder_settings(config, &destinations, (width, height), (fps, 1))?,
        args.kbps,
    );
    if args.live.print_command {
        let mut input = vec![
            "-f".to_owned(),
            "pulse".into(),
            "-i".into(),
            device.clone().unwrap_or_else(|| "default".into()),
        ];
        match &args.image {
            Some(image) => input.extend([
                "-loop".into(),
                "1".into(),
                "-i".into(),
                image.display().to_string(),
            ]),
            None => input.extend([
                "-f".into(),
                "lavfi".into(),
                "-i".into(),
                format!("color=c=black:s={width}x{height}:r={fps}"),
            ]),
        }
        println!(
            "{}",
            crate::print_command::for_device(&input, &settings, &destinations)
        );
        return Ok(());
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let image = match &args.image {
        Some(path) => Some(
            ImageFile::open_with(
                path,
                ImageSettings {
                    clock: Arc::clone(&clock),
                    ..ImageSettings::default()
                },
            )
            .map_err(usage)?,
        ),
        None => None,
    };
    let shown: Vec<String> = destinations.iter().map(crate::jobs::shown).collect();
    let what = format!("microphone {}", device.as_deref().unwrap_or("default"));
    confirm_go_live(args.live.yes, &what, &shown).map_err(usage)?;
    let stop = StopSignal::install()?;
    // Live audio: the microphone never waits; blocks the encoder cannot take are dropped.
    let audio: Arc<Port<AudioFrame>> = Arc::new(Port::drop_oldest(64));
    let microphone = open_microphone(
        device.clone(),
        d.audio_rate,
        Arc::clone(&clock),
        Arc::clone(&audio),
    )?;
    let mut compositor = Compositor::new(BackendChoice::Auto)?;
    let canvas = compositor.add_canvas(CanvasSettings::new(width, height, fps))?;
    if let Some(image) = image {
        compositor.add_layer(
            canvas,
            None,
            Layer::video(Arc::new(image)).fit(Fit::Contain),
        )?;
    }
    let video: Arc<Port<VideoFrame>> = Arc::new(Port::drop_oldest(8));
    compositor.add_target(
        canvas,
        "encoder",
        Arc::clone(&video) as Arc<dyn VideoTarget>,
    )?;
    let running = compositor.start(Arc::clone(&clock))?;
    let video_port = Arc::clone(&video);
    let encoder = Encoder::start(
        settings,
        video as Arc<dyn VideoSource>,
        Some(audio as Arc<dyn AudioSource>),
    )?;
    let streamer = start_streamer(
        destinations,
        encoder.streams().to_vec(),
        encoder.packets(),
        true,
        crate::jobs::give_up_after(config, args.live.give_up_after),
    )?;
    let status = StatusLine::new(quiet, None);
    let mut meter = Meter::default();
    let ended = run_until(&stop, args.live.timeout, || {
        let stats = streamer.stats();
        let reading = Reading::encoder(&encoder.stats())
            .with_compositor(&running.handle().stats())
            .with_dropped(video_port.stats().dropped);
        status.update(
            None,
            format!(
                "{} | {} audio blocks | {}",
                crate::jobs::describe(&stats),
                microphone.stats().frames,
                meter.line(reading)
            ),
        );
        streamer.is_finished() || stats.iter().all(|d| d.state == DestinationState::Failed)
    });
    status.finish();
    streamer.give_up_connecting();
    let _ = running.stop();
    let _ = microphone.stop();
    if let Err(error) = encoder.wait() {
        tracing::error!("{error}");
    }
    let report = streamer.wait();
    crate::jobs::summarize(&report, ended, status.elapsed(), quiet)
}

/// `livekit devices`: cameras, microphones, the screen and its windows.
/// `verbose` keeps what the audio libraries print while probing.
pub fn devices(verbose: bool) -> Result<(), Failure> {
    use livekit_sources::AudioHost;
    use livekit_sources::capture::{describe_display, list_cameras, list_input_devices};
    use std::io::Write;

    // The listing is written at the end in one go, and a reader that went away (`| head -1`)
    // is not an error: the audio libraries ignore SIGPIPE, so a closed pipe would otherwise
    // make `println!` panic.
    let mut out = String::new();
    macro_rules! say {
        ($($arg:tt)*) => {{
            out.push_str(&format!($($arg)*));
            out.push('\n');
        }};
    }

    say!("cameras:");
    match list_cameras() {
        Ok(cameras) if cameras.is_empty() => say!("  (none)"),
        Ok(cameras) => {
            for camera in cameras {
                let modes: Vec<String> = camera
                    .modes
                    .iter()
                    .take(6)
                    .map(|m| {
                        let fps = m
                            .frame_rates
                            .iter()
                            .map(|r| format!("{r:.0}"))
                            .collect::<Vec<_>>()
                            .join("/");
                        format!("{} {}x{}@{fps}", m.format, m.width, m.height)
                    })
                    .collect();
                say!(
                    "  {}  {}  {}",
                    camera.path.display(),
                    camera.name,
                    modes.join(", ")
                );
            }
        }
        Err(error) => say!("  ({error})"),
    }
    say!("microphones:");
    let listed = if verbose {
        list_input_devices(AudioHost::Auto)
    } else {
        without_stderr(|| list_input_devices(AudioHost::Auto))
    };
    match listed {
        Ok(inputs) if inputs.is_empty() => say!("  (none)"),
        Ok(inputs) => {
            // ALSA lists its converter plugins (lavrate, speex, upmix, ...) as PCMs: not inputs.
            let inputs = inputs
                .into_iter()
                .filter(|i| !i.description.to_ascii_lowercase().contains("plugin"));
            for input in inputs {
                say!(
                    "  {} {}  {}{}",
                    if input.is_default { "*" } else { " " },
                    input.id,
                    input.description,
                    match (input.sample_rate, input.channels) {
                        (Some(rate), Some(channels)) => format!("  ({rate} Hz, {channels} ch)"),
                        _ => String::new(),
                    }
                );
            }
        }
        Err(error) => say!("  ({error})"),
    }
    say!("screens:");
    match describe_display(None) {
        Ok(display) => {
            say!("  {}  {}x{}", display.name, display.width, display.height);
            say!("windows:");
            if display.windows.is_empty() {
                say!("  (none)");
            }
            for window in display.windows {
                say!("  0x{:x}  {}", window.id, window.title);
            }
        }
        Err(error) => {
            say!("  ({error})");
            say!("windows:\n  (no X11 display)");
        }
    }
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    Ok(())
}

/// Runs `f` with the process's stderr (file descriptor 2) sent to /dev/null. ALSA's and JACK's
/// libraries print every failed probe there ("ALSA lib confmisc.c:165: ...", "jack server is
/// not running"), which tells a user listing devices nothing. Used for `livekit devices` only.
fn without_stderr<T>(f: impl FnOnce() -> T) -> T {
    use std::os::fd::AsRawFd;
    let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else {
        return f();
    };
    // SAFETY: dup and dup2 on descriptors that are open (2 and /dev/null); the saved copy of
    // stderr is put back and closed before returning.
    let saved = unsafe { libc::dup(2) };
    if saved < 0 || unsafe { libc::dup2(null.as_raw_fd(), 2) } < 0 {
        return f();
    }
    let result = f();
    // SAFETY: as above; `saved` is ours.
    unsafe {
        libc::dup2(saved, 2);
        libc::close(saved);
    }
    result
}
