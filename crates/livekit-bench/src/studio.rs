//! `livekit bench studio`: the reference scene on a Studio, recorded and streamed to 3 local
//! destinations, beside the same scene and outputs wired directly with the library types
//! (Compositor, Mixer, Encoder, Streamer), in the same run: CPU time of each, and the
//! studio's command-to-frame latency.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use clap::Args;
use livekit_cli::{Failure, usage};
use livekit_compositor::{
    BackendChoice, CanvasSettings, Compositor, Layer, LayerSource, VideoInput,
};
use livekit_core::{
    AudioSource, FrameSource, Mixer, MixerSettings, Port, Pull, SystemClock, VideoFrame,
    VideoSource, VideoTarget,
};
use livekit_sinks::stream::Destination;
use livekit_sinks::{Encoder, EncoderSettings, RecorderSettings, Streamer, StreamerSettings};
use livekit_sources::capture::{Camera, CameraDevice, CameraSettings};
use livekit_studio::{Command, Studio, StudioSettings};
use livekit_testkit::NginxRtmp;
use livekit_testkit::probe::ffprobe;

use crate::results::{Better, Results, save};

/// `livekit bench studio` options.
#[derive(Debug, Args)]
pub struct StudioArgs {
    /// Seconds each side runs.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(3..=3600))]
    pub(crate) seconds: u64,
    /// Canvas size, WIDTHxHEIGHT (the reference scene's is 1920x1080; its layers keep their
    /// places and sizes).
    #[arg(long, default_value = "1920x1080", value_parser = parse_size)]
    pub(crate) size: (u32, u32),
    /// Frames a second (the reference scene's is 30; a machine that cannot render and encode
    /// it in real time measures saturation, not cost: lower it there).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=120))]
    pub(crate) fps: u32,
    /// auto, gpu or cpu.
    #[arg(long, default_value = "auto")]
    pub(crate) backend: BackendChoice,
    /// Pairs of runs (each side once per pair, the order alternating between pairs).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub(crate) pairs: u32,
    /// Layer changes timed for the command-to-frame latency.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(5..=10_000))]
    pub(crate) changes: u32,
    /// Also write every pair's figures to FILE as JSON (for `livekit-bench report`).
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<std::path::PathBuf>,
}

pub(crate) fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text
        .split_once('x')
        .ok_or_else(|| format!("{text:?}: expected WIDTHxHEIGHT"))?;
    let size = (
        w.parse().map_err(|_| format!("{text:?}: bad width"))?,
        h.parse().map_err(|_| format!("{text:?}: bad height"))?,
    );
    if size.0 < 64 || size.1 < 64 || size.0 > 3840 || size.1 > 2160 || size.0 % 2 + size.1 % 2 > 0 {
        return Err(format!("{text}: even sizes from 64x64 to 3840x2160"));
    }
    Ok(size)
}

/// The reference scene's inputs as FFmpeg test sources at a live pace (`realtime`), a new frame every frame:
/// a full-canvas blue and three 640x360 SMPTE bars.
pub(crate) fn lavfi_inputs(
    (width, height): (u32, u32),
    fps: u32,
) -> Vec<(String, Option<[f32; 4]>)> {
    let mut inputs = vec![(
        format!("lavfi:color=c=blue:size={width}x{height}:rate={fps},realtime"),
        None,
    )];
    for x in [40.0, 700.0, 1240.0] {
        inputs.push((
            format!("lavfi:smptebars=size=640x360:rate={fps},realtime"),
            Some([x, 40.0, 640.0, 360.0]),
        ));
    }
    inputs
}

/// CPU time of this process so far (user + system, all threads), from /proc/self/stat.
pub(crate) fn cpu_time() -> anyhow::Result<Duration> {
    process_cpu_time("self")
}

/// CPU time of the process `pid` (a number, or `self`) so far: user + system, all threads,
/// from /proc/PID/stat.
pub(crate) fn process_cpu_time(pid: &str) -> anyhow::Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| path.clone())?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow!("unreadable {path}"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let ticks: u64 = fields
        .get(11..13)
        .ok_or_else(|| anyhow!("unreadable {path}"))?
        .iter()
        .map(|f| f.parse::<u64>().unwrap_or(0))
        .sum();
    // The kernel's USER_HZ: 100 on Linux.
    Ok(Duration::from_millis(ticks * 10))
}

/// CPU time of each live thread of this process, by name (names are cut at 15 characters).
pub(crate) fn thread_cpu() -> std::collections::BTreeMap<String, Duration> {
    let mut threads = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return threads;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let (Ok(name), Ok(stat)) = (
            std::fs::read_to_string(path.join("comm")),
            std::fs::read_to_string(path.join("stat")),
        ) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = fields
            .get(11..13)
            .map(|f| f.iter().map(|v| v.parse::<u64>().unwrap_or(0)).sum())
            .unwrap_or(0);
        *threads.entry(name.trim().to_owned()).or_default() += Duration::from_millis(ticks * 10);
    }
    threads
}

/// Where the CPU went during a run: each thread name's time between two samples.
pub(crate) fn spent(
    before: &std::collections::BTreeMap<String, Duration>,
    after: &std::collections::BTreeMap<String, Duration>,
) -> Vec<(String, Duration)> {
    let mut spent: Vec<(String, Duration)> = after
        .iter()
        .map(|(name, time)| {
            let base = before.get(name).copied().unwrap_or_default();
            (name.clone(), time.saturating_sub(base))
        })
        .filter(|(_, time)| *time >= Duration::from_millis(100))
        .collect();
    spent.sort_by_key(|(_, time)| std::cmp::Reverse(*time));
    spent
}

pub(crate) fn encoder_settings((width, height): (u32, u32), fps: u32) -> EncoderSettings {
    let mut settings = EncoderSettings::default();
    settings.video.width = width;
    settings.video.height = height;
    settings.video.fps = (fps, 1);
    settings.video.preset = "veryfast".into();
    settings.video.kbps = Some(2500);
    settings.video.keyframe_interval = Duration::from_secs(2);
    settings
}

struct Run {
    cpu: Duration,
    frames: u64,
    recorded: f64,
    /// CPU by thread over the steady part of the run.
    threads: Vec<(String, Duration)>,
}

/// The scene and outputs wired by hand, as the README's sample does.
fn direct(args: &StudioArgs, server: &NginxRtmp, dir: &std::path::Path) -> anyhow::Result<Run> {
    // Counted from before anything is made, as for the studio.
    let started = cpu_time()?;
    let clock = Arc::new(SystemClock::new());
    let mut compositor = Compositor::new(args.backend)?;
    let canvas = compositor.add_canvas(CanvasSettings::new(args.size.0, args.size.1, args.fps))?;
    let mut cameras = Vec::new();
    for (device, rect) in lavfi_inputs(args.size, args.fps) {
        let port = Arc::new(Port::<VideoFrame>::latest());
        cameras.push(Camera::start(
            CameraSettings {
                device: CameraDevice::parse(&device),
                clock: clock.clone(),
                ..CameraSettings::default()
            },
            vec![port.clone() as Arc<dyn VideoTarget>],
        )?);
        let mut layer = Layer::new(LayerSource::Video(VideoInput::new(port)));
        if let Some([x, y, w, h]) = rect {
            layer = layer.rect(x, y, w, h).opacity(0.8);
        }
        compositor.add_layer(canvas, None, layer)?;
    }
    let frames = Arc::new(Port::<VideoFrame>::drop_oldest(30));
    compositor.add_target(canvas, "encoder", frames.clone() as Arc<dyn VideoTarget>)?;
    let mixer = Mixer::start(MixerSettings {
        clock: clock.clone(),
        end_with_inputs: false,
        ..MixerSettings::default()
    })?;
    let running = compositor.start(clock).map_err(|e| anyhow!("{e}"))?;
    let encoder = Encoder::start(
        encoder_settings(args.size, args.fps),
        frames.clone() as Arc<dyn VideoSource>,
        Some(Arc::new(mixer.output()) as Arc<dyn AudioSource>),
    )?;
    let destinations = (0..3)
        .map(|n| Destination::from_url(&server.url(&format!("direct-{n}")), None))
        .collect::<Result<Vec<_>, _>>()?;
    let recording = dir.join("direct.mkv");
    let mut settings = StreamerSettings::new(destinations);
    settings.recordings = vec![RecorderSettings::new(&recording)];
    settings.keyframe_request = Some(encoder.keyframe_request());
    let streamer = Streamer::start(settings, encoder.streams().to_vec(), encoder.packets())?;
    let steady = thread_cpu();
    std::thread::sleep(Duration::from_secs(args.seconds));
    let threads = spent(&steady, &thread_cpu());
    running.stop().map_err(|e| anyhow!("{e}"))?;
    let encoded = encoder.wait()?;
    let report = streamer.wait();
    mixer.stop().map_err(|e| anyhow!("{e}"))?;
    drop(cameras);
    let cpu = cpu_time()? - started;
    if report.destinations.iter().any(|d| d.bytes == 0) {
        return Err(anyhow!(
            "direct: a destination received nothing: {report:?}"
        ));
    }
    Ok(Run {
        cpu,
        frames: encoded.video_frames,
        recorded: ffprobe(&recording).map_err(|e| anyhow!(e))?.duration(),
        threads,
    })
}

fn apply(studio: &Studio, command: Command) -> anyhow::Result<()> {
    studio.apply(command).map_err(|e| anyhow!(e))
}

/// The same scene and outputs on a studio, given as commands.
pub(crate) fn scene_on_studio(args: &StudioArgs) -> anyhow::Result<Studio> {
    let mut settings = StudioSettings {
        backend: args.backend,
        encoder: encoder_settings(args.size, args.fps),
        ..StudioSettings::default()
    };
    settings.encoder.video.kbps = Some(2500);
    let studio = Studio::start(settings)?;
    let json = format!(
        r#"{{"add_canvas": {{"id": "main", "width": {}, "height": {}, "fps": {}}}}}"#,
        args.size.0, args.size.1, args.fps
    );
    apply(&studio, Command::from_json(&json)?)?;
    for (n, (device, rect)) in lavfi_inputs(args.size, args.fps).into_iter().enumerate() {
        let json = format!(
            r#"{{"add_input": {{"id": "in{n}", "input": {{"kind": "camera", "device": "{device}"}}}}}}"#
        );
        apply(&studio, Command::from_json(&json)?)?;
        let placed = match rect {
            Some([x, y, w, h]) => format!(r#", "rect": [{x}, {y}, {w}, {h}], "opacity": 0.8"#),
            None => String::new(),
        };
        let json = format!(r#"{{"add_layer": {{"id": "in{n}", "input": "in{n}"{placed}}}}}"#);
        apply(&studio, Command::from_json(&json)?)?;
    }
    Ok(studio)
}

fn on_studio(args: &StudioArgs, server: &NginxRtmp, dir: &std::path::Path) -> anyhow::Result<Run> {
    let started = cpu_time()?;
    let studio = scene_on_studio(args)?;
    let recording = dir.join("studio.mkv");
    let to: Vec<String> = (0..3)
        .map(|n| format!("{:?}", server.url(&format!("studio-{n}"))))
        .collect();
    let json = format!(
        r#"{{"start_output": {{"id": "stream", "output": {{"kind": "stream", "to": [{}]}}}}}}"#,
        to.join(", ")
    );
    apply(&studio, Command::from_json(&json)?)?;
    let json = format!(
        r#"{{"start_output": {{"id": "record", "output": {{"kind": "record", "path": {:?}}}}}}}"#,
        recording.display().to_string()
    );
    apply(&studio, Command::from_json(&json)?)?;
    let steady = thread_cpu();
    std::thread::sleep(Duration::from_secs(args.seconds));
    let threads = spent(&steady, &thread_cpu());
    let report = studio.stop();
    let cpu = cpu_time()? - started;
    let stream = report
        .outputs
        .iter()
        .find(|o| o.id == "stream")
        .ok_or_else(|| anyhow!("no stream in the report"))?;
    if stream.destinations.iter().any(|d| d.bytes == 0) {
        return Err(anyhow!(
            "studio: a destination received nothing: {stream:?}"
        ));
    }
    Ok(Run {
        cpu,
        frames: stream.frames,
        recorded: ffprobe(&recording).map_err(|e| anyhow!(e))?.duration(),
        threads,
    })
}

/// Times layer changes until the first frame out shows them.
fn latency(args: &StudioArgs) -> anyhow::Result<Vec<Duration>> {
    let studio = scene_on_studio(args)?;
    apply(
        &studio,
        Command::from_json(
            r##"{"add_input": {"id": "marker", "input": {"kind": "color", "color": "#ff00ff"}}}"##,
        )?,
    )?;
    apply(
        &studio,
        Command::from_json(
            r#"{"add_layer": {"id": "marker", "input": "marker", "rect": [0, 0, 32, 32], "z": 100, "visible": false}}"#,
        )?,
    )?;
    let frames = studio.frames("main", 4).map_err(|e| anyhow!(e))?;
    let shown = |frame: &VideoFrame| frame.rgba_at(8, 8) == Some([255, 0, 255, 255]);
    let mut times = Vec::new();
    let mut visible = false;
    // Frames land at any phase of the frame interval: spread the changes over it.
    let spread = Duration::from_millis(37);
    for n in 0..args.changes {
        std::thread::sleep(spread * (n % 7) / 7 + Duration::from_millis(50));
        while let Pull::Frame(_) = frames.latest() {}
        visible = !visible;
        let json = format!(r#"{{"update_layer": {{"id": "marker", "visible": {visible}}}}}"#);
        let command = Command::from_json(&json)?;
        let asked = Instant::now();
        apply(&studio, command)?;
        loop {
            match frames.next(Duration::from_secs(5)) {
                Pull::Frame(frame) if shown(&frame) == visible => break,
                Pull::Frame(_) => {}
                _ => return Err(anyhow!("no frame within 5 s of a layer change")),
            }
        }
        times.push(asked.elapsed());
    }
    let render = studio.render_stats();
    studio.stop();
    if render.rendered > 0 {
        eprintln!(
            "render time per frame: {:.1} ms",
            render.render_time.as_secs_f64() * 1000.0 / render.rendered as f64
        );
    }
    times.sort();
    Ok(times)
}

pub fn run(args: &StudioArgs) -> Result<(), Failure> {
    if args.size.0 < 1880 || args.size.1 < 400 {
        return Err(usage(anyhow!(
            "--size {}x{}: the reference scene's layers need at least 1880x400",
            args.size.0,
            args.size.1
        )));
    }
    let server = NginxRtmp::start();
    let dir = tempfile::tempdir()?;
    println!(
        "reference scene {}x{} at {} fps, recorded (MKV) and streamed to 3 local nginx-rtmp destinations, {} s each",
        args.size.0, args.size.1, args.fps, args.seconds
    );
    // Alternately (direct, studio, studio, direct, ...): neither side always runs first.
    let mut directs = Vec::new();
    let mut studios = Vec::new();
    for pair in 0..args.pairs {
        if pair % 2 == 0 {
            directs.push(direct(args, &server, dir.path())?);
            studios.push(on_studio(args, &server, dir.path())?);
        } else {
            studios.push(on_studio(args, &server, dir.path())?);
            directs.push(direct(args, &server, dir.path())?);
        }
    }
    let per_frame = |run: &Run| run.cpu.as_secs_f64() / run.frames.max(1) as f64;
    for (pair, (direct, studio)) in directs.iter().zip(&studios).enumerate() {
        println!("pair {}:", pair + 1);
        for (name, run) in [("direct wiring", direct), ("studio", studio)] {
            println!(
                "{name:>14}: cpu {:.2} s ({:.0}% of one core), {} frames encoded, recording {:.2} s",
                run.cpu.as_secs_f64(),
                run.cpu.as_secs_f64() * 100.0 / args.seconds as f64,
                run.frames,
                run.recorded
            );
            let threads: Vec<String> = run
                .threads
                .iter()
                .map(|(name, time)| format!("{name} {:.1}", time.as_secs_f64()))
                .collect();
            println!("{:>14}  by thread (s): {}", "", threads.join(", "));
        }
        println!(
            "{:>14}  cpu per encoded frame: studio / direct = {:.3}",
            "",
            per_frame(studio) / per_frame(direct)
        );
    }
    let total = |runs: &[Run]| {
        let cpu: f64 = runs.iter().map(|r| r.cpu.as_secs_f64()).sum();
        let frames: u64 = runs.iter().map(|r| r.frames).sum();
        cpu / frames.max(1) as f64
    };
    println!(
        "cpu per encoded frame, all pairs: studio {:.2} ms, direct {:.2} ms: ratio {:.3} (goal <= 1.02)",
        total(&studios) * 1000.0,
        total(&directs) * 1000.0,
        total(&studios) / total(&directs)
    );
    let times = latency(args)?;
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "command to frame ({} layer changes): p50 {:.1} ms, p99 {:.1} ms (frame interval {:.1} ms; goal: at most one interval plus the render time)",
        times.len(),
        at(0.5).as_secs_f64() * 1000.0,
        at(0.99).as_secs_f64() * 1000.0,
        1000.0 / f64::from(args.fps)
    );
    save(args.json.as_deref(), || {
        let mut results = Results::new(
            "studio",
            format!(
                "the reference scene {}x{} at {} fps, recorded (MKV) and streamed to 3 local destinations, {} s a side, {} pair(s) alternating; {} layer changes timed",
                args.size.0, args.size.1, args.fps, args.seconds, args.pairs, args.changes
            ),
        );
        for (tool, runs) in [("livekit studio", &studios), ("direct wiring", &directs)] {
            for run in runs.iter() {
                results.add(
                    "CPU per encoded frame",
                    tool,
                    None,
                    "ms",
                    Better::Lower,
                    per_frame(run) * 1000.0,
                );
            }
        }
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        results.add(
            "command to frame p50",
            "livekit studio",
            None,
            "ms",
            Better::Lower,
            ms(at(0.5)),
        );
        results.add(
            "command to frame p99",
            "livekit studio",
            None,
            "ms",
            Better::Lower,
            ms(at(0.99)),
        );
        results
    })?;
    Ok(())
}
