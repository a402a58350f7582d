//! `livekit bench latency`: how long a frame takes from its capture to a player reading it
//! back from the server, with our pipeline (compositor, encoder, streamer) and with the FFmpeg
//! CLI encoding the same frames, over RTMP (a local nginx-rtmp) and SRT (a local
//! srt-live-transmit listener), with the default and the low-latency encoder settings.
//!
//! A source thread draws each frame with its capture time written into it as a row of black
//! and white blocks (`stamp.rs`: two marker blocks, then 24 bits of wall-clock milliseconds). The
//! player, the ffmpeg CLI reading the stream back (`nobuffer`, `low_delay`), crops that row
//! and scales it to one grey pixel a block; each frame read back gives `now - stamp`.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use clap::Args;
use livekit_cli::Failure;
use livekit_compositor::{
    BackendChoice, CanvasSettings, Compositor, Layer, LayerSource, VideoInput,
};
use livekit_core::{
    Clock, FrameLayout, FrameTarget, PixelFormat, Port, SystemClock, VideoFrame, VideoSource,
    VideoTarget,
};
use livekit_sinks::stream::{Destination, SrtSettings};
use livekit_sinks::{Encoder, EncoderSettings, Streamer, StreamerSettings};
use livekit_testkit::net::free_udp_port;
use livekit_testkit::{ChildGuard, NginxRtmp};

use crate::results::{Better, Results, Samples, save};
use crate::stamp::{self, BLOCKS, block_size, read_stamp, stamp_source};
use crate::studio::parse_size;

/// `livekit bench latency` options.
#[derive(Debug, Args)]
pub struct LatencyArgs {
    /// Seconds each pipeline is measured (from its first frame read back, after 2 s to
    /// settle).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(3..=600))]
    pub(crate) seconds: u64,
    /// Canvas size, WIDTHxHEIGHT, at least 640 wide.
    #[arg(long, default_value = "1280x720", value_parser = parse_size)]
    pub(crate) size: (u32, u32),
    /// Frames a second.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(5..=60))]
    pub(crate) fps: u32,
    /// The compositor's backend: auto, gpu or cpu.
    #[arg(long, default_value = "auto")]
    pub(crate) backend: BackendChoice,
    /// The protocols measured, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "rtmp,srt")]
    pub(crate) via: Vec<Protocol>,
    /// Also write the figures and every frame's latency to FILE as JSON (for `livekit-bench
    /// report`).
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
}

/// Seconds of each run not counted: connections, probing, the first GOP.
const SETTLE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// What `livekit` streams with by default: veryfast, a keyframe every 2 s, x264's
    /// lookahead and B-frames.
    Default,
    /// `zerolatency` (no lookahead, no B-frames) and a keyframe every second.
    LowLatency,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::LowLatency => "low-latency",
        }
    }

    fn encoder(self, (width, height): (u32, u32), fps: u32) -> EncoderSettings {
        let mut settings = crate::studio::encoder_settings((width, height), fps);
        if self == Self::LowLatency {
            settings.video.tune = Some("zerolatency".into());
            settings.video.keyframe_interval = Duration::from_secs(1);
        }
        settings
    }

    /// The same settings as ffmpeg CLI arguments.
    fn ffmpeg_args(self, fps: u32) -> Vec<String> {
        let gop = match self {
            Self::Default => 2 * fps,
            Self::LowLatency => fps,
        };
        let mut args: Vec<String> = [
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-b:v",
            "2500k",
            "-maxrate",
            "2500k",
            "-bufsize",
            "5000k",
            "-pix_fmt",
            "yuv420p",
            "-g",
            &gop.to_string(),
            "-keyint_min",
            &gop.to_string(),
            "-sc_threshold",
            "0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if self == Self::LowLatency {
            args.extend(["-tune".into(), "zerolatency".into()]);
        }
        args
    }
}

/// How the stream reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, clap::ValueEnum)]
pub(crate) enum Protocol {
    /// RTMP to a local nginx-rtmp, played back from it.
    Rtmp,
    /// SRT to a local srt-live-transmit listener, passed on to the player over UDP.
    Srt,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Self::Rtmp => "RTMP",
            Self::Srt => "SRT",
        }
    }
}

/// Where a run sends and where its player reads, with what relays it.
struct Path {
    send_url: String,
    play_url: String,
    /// srt-live-transmit, listening for SRT and passing the stream to the player over UDP.
    _relay: Option<ChildGuard>,
}

fn path(protocol: Protocol, server: &NginxRtmp, key: &str) -> anyhow::Result<Path> {
    match protocol {
        Protocol::Rtmp => Ok(Path {
            send_url: server.url(key),
            play_url: server.url(key),
            _relay: None,
        }),
        Protocol::Srt => {
            let (srt, udp) = (free_udp_port(), free_udp_port());
            let child = Command::new("srt-live-transmit")
                .args(["-a:no", "-q"])
                .arg(format!(
                    "srt://:{srt}?mode=listener&latency={}",
                    srt_latency().as_millis()
                ))
                .arg(format!("udp://127.0.0.1:{udp}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("srt-live-transmit (Debian's srt-tools; ./dev setup installs it)")?;
            let relay = ChildGuard::new("srt-live-transmit", child);
            // Its UDP port opens at once; give it a moment to listen.
            std::thread::sleep(Duration::from_millis(300));
            Ok(Path {
                send_url: format!("srt://127.0.0.1:{srt}"),
                play_url: format!("udp://127.0.0.1:{udp}?overrun_nonfatal=1&fifo_size=100000"),
                _relay: Some(relay),
            })
        }
    }
}

/// SRT's latency on every side: our destinations' default, given to the ffmpeg CLI and the
/// listener too.
fn srt_latency() -> Duration {
    SrtSettings::default().latency
}

/// The player: the ffmpeg CLI reading `url`, writing the stamp row of each frame as
/// `BLOCKS` grey bytes; a thread turns them into latencies (after `SETTLE`).
struct Player {
    child: ChildGuard,
    /// When the first stamped frame was read back.
    first: Arc<std::sync::OnceLock<Instant>>,
    reader: std::thread::JoinHandle<Vec<Duration>>,
}

impl Player {
    fn start(url: &str, width: u32) -> anyhow::Result<Self> {
        let block = block_size(width);
        let filter = format!(
            "crop={}:{block}:0:0,scale={BLOCKS}:1:flags=area,format=gray",
            block * BLOCKS
        );
        let mut child = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
            .args(["-fflags", "nobuffer", "-flags", "low_delay"])
            .args(["-probesize", "200000", "-analyzeduration", "500000"])
            .args(["-i", url, "-an", "-vf", &filter, "-vsync", "0"])
            .args(["-f", "rawvideo", "-flush_packets", "1", "pipe:1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("ffmpeg (./dev setup installs it)")?;
        let mut stdout = child.stdout.take().context("the player's output")?;
        let first = Arc::new(std::sync::OnceLock::new());
        let first_seen = first.clone();
        let reader = std::thread::Builder::new()
            .name("latency.player".into())
            .spawn(move || {
                let mut samples = Vec::new();
                let mut row = [0u8; BLOCKS as usize];
                while stdout.read_exact(&mut row).is_ok() {
                    let now = stamp::now();
                    let Some(stamp) = read_stamp(&row) else {
                        continue;
                    };
                    let seen = *first_seen.get_or_init(Instant::now);
                    let latency = stamp::age(stamp, now);
                    if seen.elapsed() >= SETTLE && latency < Duration::from_secs(60) {
                        samples.push(latency);
                    }
                }
                samples
            })
            .context("the player thread")?;
        Ok(Self {
            child: ChildGuard::new("ffmpeg player", child),
            first,
            reader,
        })
    }

    /// Waits until the player has read `seconds` of stamped frames after settling (or 15 s
    /// passed without a first frame).
    fn read_for(&self, seconds: u64) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.first.get().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(first) = self.first.get() {
            let end = *first + SETTLE + Duration::from_secs(seconds);
            if let Some(wait) = end.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    }

    fn finish(mut self) -> Vec<Duration> {
        self.child.stop();
        self.reader.join().unwrap_or_default()
    }
}

/// Our side: stamped frames into a compositor canvas, its frames to our encoder, its packets
/// to our streamer.
fn ours(
    args: &LatencyArgs,
    mode: Mode,
    url: &str,
    play: impl FnOnce() -> anyhow::Result<Player>,
) -> anyhow::Result<Vec<Duration>> {
    let (width, height) = args.size;
    // The player first: it waits for the stream (nginx-rtmp holds a play until the publish;
    // the UDP port of SRT's relay must be open before packets come).
    let player = play()?;
    let clock = Arc::new(SystemClock::new());
    let mut compositor = Compositor::new(args.backend)?;
    let canvas = compositor.add_canvas(CanvasSettings::new(width, height, args.fps))?;
    let input = Arc::new(Port::<VideoFrame>::latest());
    compositor.add_layer(
        canvas,
        None,
        Layer::new(LayerSource::Video(VideoInput::new(input.clone()))),
    )?;
    let frames = Arc::new(Port::<VideoFrame>::drop_oldest(30));
    compositor.add_target(canvas, "encoder", frames.clone() as Arc<dyn VideoTarget>)?;
    let running = compositor
        .start(clock.clone())
        .map_err(|e| anyhow!("{e}"))?;
    let encoder = Encoder::start(
        mode.encoder(args.size, args.fps),
        frames.clone() as Arc<dyn VideoSource>,
        None,
    )?;
    let destination = Destination::from_url(url, None)?;
    let mut settings = StreamerSettings::new(vec![destination]);
    settings.keyframe_request = Some(encoder.keyframe_request());
    let streamer = Streamer::start(settings, encoder.streams().to_vec(), encoder.packets())?;
    let stop = Arc::new(AtomicBool::new(false));
    let layout = FrameLayout::new(width, height, PixelFormat::Rgba8)?;
    let target = input.clone();
    let source = stamp_source(args.size, args.fps, stop.clone(), move |data| {
        VideoFrame::from_vec(layout, data, clock.now())
            .is_ok_and(|frame| target.push(frame).is_ok())
    });
    player.read_for(args.seconds);
    let samples = player.finish();
    stop.store(true, Ordering::Relaxed);
    let _ = source.join();
    running.stop().map_err(|e| anyhow!("{e}"))?;
    encoder.stop()?;
    let report = streamer.stop();
    if report.destinations.iter().any(|d| d.bytes == 0) {
        return Err(anyhow!("our stream reached no server: {report:?}"));
    }
    Ok(samples)
}

/// The reference: the same stamped frames piped to the ffmpeg CLI, which encodes them with the
/// same settings and sends them.
fn reference(
    args: &LatencyArgs,
    mode: Mode,
    protocol: Protocol,
    url: &str,
    play: impl FnOnce() -> anyhow::Result<Player>,
) -> anyhow::Result<Vec<Duration>> {
    let (width, height) = args.size;
    let (format, url) = match protocol {
        Protocol::Rtmp => ("flv", url.to_owned()),
        Protocol::Srt => (
            "mpegts",
            format!("{url}?mode=caller&latency={}", srt_latency().as_micros()),
        ),
    };
    let player = play()?;
    let mut child: Child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error"])
        .args(["-f", "rawvideo", "-pix_fmt", "rgba"])
        .args([
            "-s",
            &format!("{width}x{height}"),
            "-r",
            &args.fps.to_string(),
        ])
        .args(["-use_wallclock_as_timestamps", "1", "-i", "pipe:0"])
        .args(mode.ffmpeg_args(args.fps))
        .args(["-f", format, &url])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("ffmpeg (./dev setup installs it)")?;
    let mut stdin: ChildStdin = child.stdin.take().context("ffmpeg's input")?;
    let encoder = ChildGuard::new("ffmpeg encoder", child);
    let stop = Arc::new(AtomicBool::new(false));
    let source = stamp_source(args.size, args.fps, stop.clone(), move |data| {
        stdin.write_all(&data).is_ok()
    });
    player.read_for(args.seconds);
    let samples = player.finish();
    stop.store(true, Ordering::Relaxed);
    let _ = source.join();
    drop(encoder);
    Ok(samples)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn summary(mut samples: Vec<Duration>) -> anyhow::Result<(Duration, Duration, usize)> {
    if samples.len() < 10 {
        return Err(anyhow!(
            "the player read back {} stamped frames: the stream did not arrive",
            samples.len()
        ));
    }
    samples.sort();
    Ok((
        percentile(&samples, 0.5),
        percentile(&samples, 0.95),
        samples.len(),
    ))
}

/// Runs `livekit bench latency`.
pub fn run(args: &LatencyArgs) -> Result<(), Failure> {
    if args.size.0 < 640 {
        return Err(livekit_cli::usage(anyhow!(
            "--size {}x{}: at least 640 wide (the stamp row needs it)",
            args.size.0,
            args.size.1
        )));
    }
    Ok(run_all(args)?)
}

fn run_all(args: &LatencyArgs) -> anyhow::Result<()> {
    let server = NginxRtmp::start();
    println!(
        "glass-to-player latency: a stamped {}x{} {} fps source read back by ffmpeg from a local server; {} s per run",
        args.size.0, args.size.1, args.fps, args.seconds
    );
    println!(
        "{:<12} {:<5} {:>16} {:>18} {:>10}",
        "settings", "via", "livekit p50/p95", "ffmpeg CLI p50/p95", "p50 ratio"
    );
    let mut results = Results::new(
        "latency",
        format!(
            "a stamped {}x{} {} fps source, {} s per run after 2 s to settle, read back by ffmpeg from a local nginx-rtmp (RTMP) or srt-live-transmit (SRT, latency {} ms); default: veryfast, 2500 kb/s, a keyframe every 2 s; low-latency: the same with zerolatency and a keyframe a second",
            args.size.0,
            args.size.1,
            args.fps,
            args.seconds,
            srt_latency().as_millis()
        ),
    );
    let mut n = 0;
    for mode in [Mode::Default, Mode::LowLatency] {
        for &protocol in &args.via {
            n += 1;
            let width = args.size.0;
            let key = format!("latency-ours-{n}");
            let route = path(protocol, &server, &key)?;
            let play_url = route.play_url.clone();
            let ours_samples = ours(args, mode, &route.send_url, || {
                Player::start(&play_url, width)
            })
            .with_context(|| format!("livekit, {} over {}", mode.name(), protocol.name()))?;
            let ours = summary(ours_samples.clone())
                .with_context(|| format!("livekit, {} over {}", mode.name(), protocol.name()))?;
            drop(route);
            let key = format!("latency-ffmpeg-{n}");
            let route = path(protocol, &server, &key)?;
            let play_url = route.play_url.clone();
            let theirs_samples = reference(args, mode, protocol, &route.send_url, || {
                Player::start(&play_url, width)
            })
            .with_context(|| format!("ffmpeg CLI, {} over {}", mode.name(), protocol.name()))?;
            let theirs = summary(theirs_samples.clone())
                .with_context(|| format!("ffmpeg CLI, {} over {}", mode.name(), protocol.name()))?;
            drop(route);
            let setting = format!("{}, {}", mode.name(), protocol.name());
            for (tool, samples, (p50, p95, _)) in [
                ("livekit", &ours_samples, ours),
                ("ffmpeg CLI", &theirs_samples, theirs),
            ] {
                let ms = |d: Duration| d.as_secs_f64() * 1000.0;
                results.add(
                    &format!("p50 latency, {setting}"),
                    tool,
                    None,
                    "ms",
                    Better::Lower,
                    ms(p50),
                );
                results.add(
                    &format!("p95 latency, {setting}"),
                    tool,
                    None,
                    "ms",
                    Better::Lower,
                    ms(p95),
                );
                results.samples.push(Samples {
                    name: format!("{tool}, {setting}"),
                    unit: "ms".to_owned(),
                    values: samples.iter().map(|&d| ms(d)).collect(),
                });
            }
            println!(
                "{:<12} {:<5} {:>7} /{:>5} ms {:>9} /{:>5} ms {:>9.2}x   ({} and {} frames)",
                mode.name(),
                protocol.name(),
                ours.0.as_millis(),
                ours.1.as_millis(),
                theirs.0.as_millis(),
                theirs.1.as_millis(),
                ours.0.as_secs_f64() / theirs.0.as_secs_f64().max(1e-3),
                ours.2,
                theirs.2,
            );
        }
    }
    println!(
        "(a ratio under 1 is faster than the ffmpeg CLI; livekit's side includes the compositor, \
         which renders each frame at the canvas rate; SRT's latency is {} ms on every side)",
        srt_latency().as_millis()
    );
    save(args.json.as_deref(), || results)?;
    Ok(())
}
