//! Live capture jobs: `stream-screen`, `stream-camera`, `capture-screen` (PyLivestream's
//! ScreenCapture2disk), `stream-microphone`. Each is a [`Studio`] configuration: the capture
//! as an input shown alone on a canvas of its size (passed to the encoder as it is, not
//! composited), the program audio (a microphone, or silence: most sites require a track), and
//! a stream output to every SITE or a recording output. Keys on a terminal: `q`, `?`, and `r`
//! when the job records.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use clap::Args;
use livekit_sinks::Destination;
use livekit_sources::capture::{CameraDevice, OutputFormat, Region, ScreenSettings};
use livekit_studio::{
    AudioSettings, Command, InputSpec, InputState, LayerFields, MAIN_CANVAS, OutputSpec, Studio,
    StudioReport, WhenFailed,
};

use crate::config::Config;
use crate::jobs::{LiveArgs, destinations, encoder_settings, parse_size, with_kbps};
use crate::keys::{KeyHelp, Keys};
use crate::live::{Ended, StatusLine, StopSignal, confirm_go_live};
use crate::record::{Ending, Live, RECORD, run_show, start_streams};
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
    pub hls: crate::jobs::HlsArgs,
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
    pub hls: crate::jobs::HlsArgs,
    #[command(flatten)]
    pub live: LiveArgs,
}

/// Where a capture goes.
enum Output {
    Stream {
        /// The SITE arguments, and what they resolved to.
        sites: Vec<String>,
        destinations: Vec<Destination>,
        live: LiveArgs,
        /// `--microphone`: `Some(None)` for the default input.
        microphone: Option<Option<String>>,
        /// `--hls`.
        hls: crate::jobs::HlsArgs,
    },
    Record {
        path: PathBuf,
        crash_safe: bool,
        timeout: Option<Duration>,
    },
}

/// The id of a job's picture (its input and its layer).
const PICTURE: &str = "picture";
/// The id of a job's microphone input.
const MICROPHONE: &str = "microphone";

/// What the keys do in a live job that records.
const RECORDING_KEYS: KeyHelp = &[("r", "start/stop recording"), ("q", "stop"), ("?", "keys")];
/// What the keys do in a live job that streams.
const STREAMING_KEYS: KeyHelp = &[("q", "stop"), ("?", "keys")];

/// A studio for a live job, encoding with the configuration's settings (and the first
/// site's wishes, `kbps` over them) for `destinations` at `fps`.
fn live_studio(
    config: &Config,
    destinations: &[Destination],
    fps: u32,
    kbps: Option<u32>,
    give_up: Option<Duration>,
) -> Result<Studio, Failure> {
    let d = &config.defaults;
    // The size is each canvas's own; the rest is the job's.
    let encoder = with_kbps(
        encoder_settings(config, destinations, (d.width, d.height), (fps, 1))?,
        kbps,
    );
    Ok(Studio::start(crate::jobs::studio_settings(
        config, "livekit", encoder, give_up,
    ))?)
}

/// Adds an input to a job's studio; a refusal is the job's usage error (`what` failed).
fn add_input(studio: &Studio, id: &str, input: InputSpec) -> Result<(), Failure> {
    studio
        .apply(Command::AddInput {
            id: id.to_owned(),
            input,
            audio: AudioSettings::default(),
            when_failed: WhenFailed::default(),
        })
        .map_err(crate::record::refused)
}

/// Adds the job's canvas: `size` (rounded down to even numbers) at `fps`, black.
fn add_canvas(studio: &Studio, (width, height): (u32, u32), fps: u32) -> Result<(), Failure> {
    let add = Command::AddCanvas {
        id: MAIN_CANVAS.to_owned(),
        // Even sizes: H.264 halves them for colour.
        width: (width & !1).max(2),
        height: (height & !1).max(2),
        fps: livekit_compositor::Fps::new(fps),
        background: None,
    };
    studio.apply(add).map_err(crate::record::refused)
}

/// Shows the input `PICTURE` on the whole canvas (letterboxed when its shape differs).
fn add_picture_layer(studio: &Studio) -> Result<(), Failure> {
    studio
        .apply(Command::AddLayer(LayerFields {
            id: PICTURE.to_owned(),
            input: Some(PICTURE.to_owned()),
            fit: Some(livekit_compositor::Fit::Contain),
            ..LayerFields::default()
        }))
        .map_err(crate::record::refused)
}

/// Waits (at most 15 s) until the capture `PICTURE` delivers: its frame size.
fn wait_started(studio: &Studio, what: &str) -> Result<(u32, u32), Failure> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let state = studio.state();
        if let Some(input) = state.inputs.iter().find(|i| i.id == PICTURE) {
            match (&input.state, input.size) {
                (InputState::Live, Some([width, height])) => return Ok((width, height)),
                (InputState::Failed { error } | InputState::Lost { error }, _) => {
                    return Err(anyhow!("{what}: {error}").into());
                }
                (InputState::Ended, _) => {
                    return Err(anyhow!("{what}: ended before its first frame").into());
                }
                _ => {}
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(anyhow!("{what}: no frames within 15 s").into())
}

/// Adds a microphone (`None`: the system's default input) to the program audio. ALSA's C
/// library prints its probes to stderr (a dozen lines on a machine without a sound server)
/// before our own one-line error: shown with -v only, as in `devices`.
fn add_microphone(studio: &Studio, device: Option<String>) -> Result<(), Failure> {
    let add = || {
        studio.apply(Command::AddInput {
            id: MICROPHONE.to_owned(),
            input: InputSpec::Microphone { device },
            audio: AudioSettings::default(),
            when_failed: WhenFailed::default(),
        })
    };
    let added = if livekit_cli::detailed_logs() {
        add()
    } else {
        without_stderr(add)
    };
    added.map_err(|error| {
        let not_found = error.message.contains("no such input device");
        match crate::record::refused(error) {
            Failure::Usage(error) if not_found => {
                usage(anyhow!("{error:#} (see `livekit devices`)"))
            }
            other => other,
        }
    })
}

/// Runs a capture (the studio input `input`) into `output` until Ctrl-C, `q`, `--timeout` or
/// the capture's end: a studio whose canvas is the capture's size, showing it alone (passed
/// to the encoder as it is, not composited), with a silent track or a microphone.
fn run_capture(
    config: &Config,
    what: &str,
    fps: u32,
    kbps: Option<u32>,
    output: Output,
    quiet: bool,
    input: InputSpec,
) -> Result<(), Failure> {
    let (destinations, give_up) = match &output {
        Output::Stream {
            destinations, live, ..
        } => {
            let shown: Vec<String> = destinations.iter().map(crate::jobs::shown).collect();
            confirm_go_live(live.yes, what, &shown).map_err(usage)?;
            (
                destinations.as_slice(),
                crate::jobs::give_up_after(config, live.give_up_after),
            )
        }
        Output::Record { .. } => (&[][..], None),
    };
    let stop = StopSignal::install()?;
    let studio = live_studio(config, destinations, fps, kbps, give_up)?;
    add_input(&studio, PICTURE, input)?;
    let size = wait_started(&studio, what)?;
    if let Output::Stream {
        microphone: Some(device),
        ..
    } = &output
    {
        add_microphone(&studio, device.clone())?;
    }
    add_canvas(&studio, size, fps)?;
    add_picture_layer(&studio)?;
    let (help, limit, record) = match &output {
        Output::Stream {
            live, sites, hls, ..
        } => {
            start_streams(&studio, sites)?;
            if let Some(hls) = hls.output() {
                crate::record::start_output(&studio, crate::record::HLS, hls)?;
            }
            (STREAMING_KEYS, live.timeout, None)
        }
        Output::Record {
            path,
            crash_safe,
            timeout,
        } => {
            let output = OutputSpec::Record {
                path: path.clone(),
                crash_safe: *crash_safe,
            };
            crate::record::start_output(&studio, RECORD, output)?;
            (RECORDING_KEYS, *timeout, Some((path.clone(), *crash_safe)))
        }
    };
    let ended = run_live_job(&studio, &stop, limit, quiet, help, record.clone(), PICTURE)?;
    let late = studio.render_stats().late;
    let report = studio.stop();
    let summarized = match record {
        Some(_) => summarize_recordings(&report, &ended),
        None => summarize_streams(&report, late, &ended, quiet),
    };
    crate::record::encoding_failed(&report).and(summarized)
}

/// How a live job on a studio ended, and how long it ran.
struct JobEnd {
    ended: Ended,
    elapsed: Duration,
    /// The recordings stopped with `r`.
    stopped_by_key: Vec<String>,
}

/// Runs a live job on `studio` (keys, status line) until it ends; `ends_with`: the input
/// whose end ends the job.
fn run_live_job(
    studio: &Studio,
    stop: &StopSignal,
    limit: Option<Duration>,
    quiet: bool,
    help: KeyHelp,
    record: Option<(PathBuf, bool)>,
    ends_with: &str,
) -> Result<JobEnd, Failure> {
    let keys = Keys::start();
    if keys.is_some() && !quiet {
        eprintln!("livekit: press q or Ctrl-C to stop, ? for keys");
    }
    let recording_only = record.is_some();
    let mut live = Live {
        studio,
        help,
        recordings: usize::from(record.is_some()),
        crash_safe: record.as_ref().is_some_and(|(_, safe)| *safe),
        record: record.map(|(path, _)| path),
        scenes: Vec::new(),
        stopped_by_key: Vec::new(),
    };
    let status = StatusLine::new(quiet, None);
    let ended = run_show(
        &mut live,
        stop,
        limit,
        &status,
        keys.as_ref(),
        Ending {
            recording_only,
            inputs: vec![ends_with.to_owned()],
            ..Ending::default()
        },
    );
    status.finish();
    Ok(JobEnd {
        ended,
        elapsed: status.elapsed(),
        stopped_by_key: live.stopped_by_key,
    })
}

/// Prints each recording of a live job (`wrote FILE (why; length, container, size)`); a
/// recording that failed is the job's error.
fn summarize_recordings(report: &StudioReport, end: &JobEnd) -> Result<(), Failure> {
    for recorded in report.outputs.iter().filter(|o| o.recording.is_some()) {
        let Some(recording) = &recorded.recording else {
            continue;
        };
        crate::jobs::warn_recording_losses(&recording.stats);
        let summary = recording
            .result
            .as_ref()
            .map_err(|error| Failure::Runtime(error.clone().into()))?;
        let how = if end.stopped_by_key.contains(&recorded.id) {
            "stopped by r".to_owned()
        } else {
            end.ended.describe("capture ended")
        };
        let crash_safe = matches!(
            recorded.output,
            OutputSpec::Record {
                crash_safe: true,
                ..
            }
        );
        println!(
            "wrote {} ({how}; {:.1} s, {} {}, {:.1} MB)",
            summary.path.display(),
            summary.duration.as_secs_f64(),
            summary.container,
            if crash_safe {
                "crash-safe"
            } else {
                "finalized"
            },
            summary.file_bytes as f64 / 1e6
        );
    }
    Ok(())
}

/// The summary of a live job's stream (every destination, what it was sent).
fn summarize_streams(
    report: &StudioReport,
    late: u64,
    end: &JobEnd,
    quiet: bool,
) -> Result<(), Failure> {
    let streamed = crate::record::summarize_streams(report, late, end.ended, end.elapsed, quiet)
        .unwrap_or_else(|| Err(anyhow!("nothing was streamed").into()));
    let hls = crate::record::summarize_hls(report);
    streamed.and(hls)
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

/// The screen a job captures, as a studio input: YUV, as the encoder takes it (the screen is
/// shown alone, so it is passed through, not composited).
fn screen_input(settings: ScreenSettings) -> InputSpec {
    InputSpec::Screen {
        display: settings.display,
        region: settings.region.map(|r| [r.x, r.y, r.width, r.height]),
        fps: Some(settings.frame_rate),
        cursor: settings.show_cursor,
        yuv: true,
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
            sites: args.sites.clone(),
            destinations,
            live: args.live.clone(),
            microphone,
            hls: args.hls.clone(),
        },
        quiet,
        screen_input(settings),
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
        screen_input(settings),
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
    let input = InputSpec::Camera {
        device: device.clone(),
        size: size.map(|(w, h)| [w, h]),
        fps,
    };
    run_capture(
        config,
        &format!("camera {device}"),
        fps.unwrap_or(config.defaults.fps),
        args.kbps,
        Output::Stream {
            sites: args.sites.clone(),
            destinations,
            live: args.live.clone(),
            microphone,
            hls: args.hls.clone(),
        },
        quiet,
        input,
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
    let shown: Vec<String> = destinations.iter().map(crate::jobs::shown).collect();
    let what = format!("microphone {}", device.as_deref().unwrap_or("default"));
    let studio = live_studio(
        config,
        &destinations,
        fps,
        args.kbps,
        crate::jobs::give_up_after(config, args.live.give_up_after),
    )?;
    add_canvas(&studio, (width, height), fps)?;
    // The picture first: a missing one is refused before going live.
    if let Some(path) = &args.image {
        add_input(&studio, PICTURE, InputSpec::Image { path: path.clone() })?;
        add_picture_layer(&studio)?;
    }
    confirm_go_live(args.live.yes, &what, &shown).map_err(usage)?;
    let stop = StopSignal::install()?;
    add_microphone(&studio, device)?;
    start_streams(&studio, &args.sites)?;
    let end = run_live_job(
        &studio,
        &stop,
        args.live.timeout,
        quiet,
        STREAMING_KEYS,
        None,
        MICROPHONE,
    )?;
    let late = studio.render_stats().late;
    let report = studio.stop();
    let summarized = summarize_streams(&report, late, &end, quiet);
    crate::record::encoding_failed(&report).and(summarized)
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
