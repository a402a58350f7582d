//! `livekit bench webrtc`: a canvas of a `livekit studio` watched in a browser, over WebRTC
//! (WHEP) and over HLS.
//!
//! This program draws 720p30 frames stamped with the wall-clock time (`stamp.rs`, the latency
//! benchmark's stamp) and shares them with the studio through shared memory (`IpcTarget`; the
//! studio's scene has one `ipc` input filling its canvas), so the studio is the `livekit`
//! program itself, in a process of its own whose CPU time is its alone. Headless Chromium
//! (`tests/browser/webrtc_bench.mjs`, playwright-core) plays the canvas, reads the stamp row of
//! each frame it presents and hands back the blocks' grey values with its `Date.now()`; the
//! stamp is decoded here. The figures, each beside its goal (issue 22):
//!
//! - glass-to-browser latency over WHEP, p50/p95, one viewer (goal: p50 at most 250 ms);
//! - the studio's CPU seconds with N viewers (10) against one viewer, over the same time, in
//!   alternating runs (goal: at most 1.15x);
//! - glass-to-browser latency over HLS with 1 s segments, played by hls.js with its default
//!   live settings (goal: at most 4 s).
//!
//! No reference tool: `../shared/peers` has no WHEP or HLS server to run on the same work.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::Args;
use livekit_cli::{Failure, usage};
use livekit_compositor::BackendChoice;
use livekit_core::{FrameLayout, FrameTarget, PixelFormat, VideoFrame};
use livekit_sinks::IpcTarget;
use livekit_testkit::ChildGuard;
use livekit_testkit::net::{free_port, wait_for_port};

use crate::peers::livekit_program;
use crate::results::{Better, Results, Samples, median, range, save};
use crate::stamp::{self, BLOCKS, block_size, read_stamp, stamp_source};
use crate::studio::{parse_size, process_cpu_time};

/// `livekit bench webrtc` options.
#[derive(Debug, Args)]
pub struct WebRtcArgs {
    /// Seconds each run is measured (after 2 s to settle once every viewer plays).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..=600))]
    pub(crate) seconds: u64,
    /// Pairs of WHEP runs, one viewer then `--viewers`, alternating.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub(crate) runs: u32,
    /// Viewers of the loaded WHEP runs.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(2..=50))]
    pub(crate) viewers: u32,
    /// Canvas size, WIDTHxHEIGHT, at least 640 wide.
    #[arg(long, default_value = "1280x720", value_parser = parse_size)]
    pub(crate) size: (u32, u32),
    /// Frames a second.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(5..=60))]
    pub(crate) fps: u32,
    /// The studio's compositor backend: auto, gpu or cpu.
    #[arg(long, default_value = "auto")]
    pub(crate) backend: BackendChoice,
    /// Leave out the HLS runs.
    #[arg(long)]
    pub(crate) no_hls: bool,
    /// The HLS runs: how many segments behind the playlist's end hls.js plays in each
    /// (`liveSyncDurationCount`; hls.js's default is 3), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "3,1", value_parser = clap::value_parser!(u32).range(1..=10))]
    pub(crate) hls_behind: Vec<u32>,
    /// The folder of `webrtc_bench.mjs` with playwright-core and hls.js installed beside it
    /// (default: the sources' tests/browser, where `./dev setup` installs them).
    #[arg(long, value_name = "DIR")]
    pub(crate) browser: Option<PathBuf>,
    /// Also write the figures and every frame's latency to FILE as JSON (for `livekit-bench
    /// report`).
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
}

/// Seconds the browser plays before a run is measured.
const SETTLE: u64 = 2;
/// Goal: WHEP's p50 glass-to-browser latency, one viewer, ms.
const WHEP_P50_GOAL: f64 = 250.0;
/// Goal: the studio's CPU with N viewers over its CPU with one.
const CPU_RATIO_GOAL: f64 = 1.15;
/// Goal: HLS's glass-to-browser latency (p50), ms.
const HLS_P50_GOAL: f64 = 4000.0;
/// HLS segments: the studio's keyframe interval, set through its configuration.
const HLS_SEGMENT_SECONDS: f64 = 1.0;

/// One run of the browser script: WHEP with some viewers, or HLS with hls.js playing some
/// segments behind the playlist's end.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Whep { viewers: u32 },
    Hls { behind: u32 },
}

impl Phase {
    fn plan(self) -> serde_json::Value {
        match self {
            Self::Whep { viewers } => serde_json::json!({"kind": "whep", "viewers": viewers}),
            Self::Hls { behind } => serde_json::json!({"kind": "hls", "behind": behind}),
        }
    }

    fn viewers(self) -> u32 {
        match self {
            Self::Whep { viewers } => viewers,
            Self::Hls { .. } => 1,
        }
    }

    fn describe(self) -> String {
        match self {
            Self::Whep { viewers: 1 } => "WHEP, 1 viewer".to_owned(),
            Self::Whep { viewers } => format!("WHEP, {viewers} viewers"),
            Self::Hls { behind } => {
                format!("HLS, hls.js {behind} segment{} behind", plural(behind))
            }
        }
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// hls.js's default distance from a live playlist's end, in segments (`liveSyncDurationCount`).
const HLS_JS_DEFAULT_BEHIND: u32 = 3;

/// What one run (a phase of the browser script) measured.
#[derive(Debug)]
struct Run {
    phase: Phase,
    /// The studio's CPU time over the measured time, and that time.
    cpu: Duration,
    wall: Duration,
    /// Each stamped frame's age when the browser presented it.
    latencies: Vec<Duration>,
    /// Frames presented whose stamp could not be read.
    unreadable: usize,
    /// Video bytes each viewer received over the measured time.
    received: Vec<u64>,
    /// The shown WHEP viewer's mean jitter buffer delay over the run (Chromium's
    /// `jitterBufferDelay / jitterBufferEmittedCount`): the part of the latency the browser
    /// holds frames for smoothness.
    jitter_buffer: Option<Duration>,
}

impl Run {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        sorted[((sorted.len() - 1) as f64 * p).round() as usize]
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The folder of the browser script, checked for what it needs.
fn browser_dir(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = match given {
        Some(dir) => dir.to_path_buf(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser"),
    };
    for needed in [
        "webrtc_bench.mjs",
        "node_modules/playwright-core",
        "node_modules/hls.js",
    ] {
        if !dir.join(needed).exists() {
            bail!(
                "bench webrtc: {} has no {needed} (./dev setup installs playwright-core and hls.js there; or give --browser DIR)",
                dir.display()
            );
        }
    }
    let chromium = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if !chromium.exists() {
        bail!(
            "bench webrtc: {} is missing (Debian's chromium; ./dev setup installs it)",
            chromium.display()
        );
    }
    Ok(dir.canonicalize().unwrap_or(dir))
}

/// The running `livekit studio`, its canvas fed with stamped frames through shared memory.
struct Show {
    studio: ChildGuard,
    pid: u32,
    port: u16,
    stdout: PathBuf,
    stderr: PathBuf,
    stop: Arc<AtomicBool>,
    source: Option<std::thread::JoinHandle<()>>,
    target: Arc<IpcTarget>,
}

impl Show {
    fn start(args: &WebRtcArgs, livekit: &Path, dir: &Path) -> anyhow::Result<Self> {
        let (width, height) = args.size;
        let name = format!("livekit-bench-webrtc-{}", std::process::id());
        let target =
            Arc::new(IpcTarget::create(&name).context("the shared memory for the studio")?);
        let layout = FrameLayout::new(width, height, PixelFormat::Rgba8)?;
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let fed = target.clone();
        let source = stamp_source(args.size, args.fps, stop.clone(), move |data| {
            VideoFrame::from_vec(layout, data, started.elapsed())
                .is_ok_and(|frame| fed.push(frame).is_ok())
        });
        let scene = dir.join("scene.toml");
        std::fs::write(
            &scene,
            format!(
                "[canvas]\nwidth = {width}\nheight = {height}\nfps = {}\n\n[[input]]\nid = \"stamp\"\nkind = \"ipc\"\nname = \"{name}\"\n\n[[layer]]\ninput = \"stamp\"\n",
                args.fps
            ),
        )?;
        // 1 s keyframes: 1 s HLS segments (WHEP's encode keeps its own, 2 s and on demand).
        let config = dir.join("livekit.toml");
        std::fs::write(
            &config,
            format!("[defaults]\nkeyframe_sec = {HLS_SEGMENT_SECONDS}\n"),
        )?;
        let port = free_port();
        let (stdout, stderr) = (dir.join("studio.out"), dir.join("studio.err"));
        let child = Command::new(livekit)
            .arg("--config")
            .arg(&config)
            .arg("studio")
            .arg(&scene)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--backend", &args.backend.to_string()])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout)?)
            .stderr(std::fs::File::create(&stderr)?)
            .spawn()
            .with_context(|| format!("{}", livekit.display()))?;
        let pid = child.id();
        let studio = ChildGuard::new("livekit studio", child);
        let show = Self {
            studio,
            pid,
            port,
            stdout,
            stderr,
            stop,
            source: Some(source),
            target,
        };
        if !wait_for_port(port, Duration::from_secs(30)) {
            bail!("the studio never listened: {}", show.said());
        }
        Ok(show)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    fn cpu(&self) -> anyhow::Result<Duration> {
        process_cpu_time(&self.pid.to_string())
    }

    /// The studio's standard error, for messages.
    fn said(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Stops the studio with Ctrl-C, then the stamped frames; its summary (standard output).
    fn stop(mut self) -> anyhow::Result<String> {
        let status = self.studio.stop_with("INT", Duration::from_secs(20));
        self.stop.store(true, Ordering::Relaxed);
        if let Some(source) = self.source.take() {
            let _ = source.join();
        }
        self.target.end();
        let said = std::fs::read_to_string(&self.stdout).unwrap_or_default();
        match status {
            Some(status) if status.success() => Ok(said),
            other => Err(anyhow!(
                "the studio did not end cleanly ({other:?}): {}",
                self.said()
            )),
        }
    }
}

impl Drop for Show {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Runs the browser script through `phases`, sampling the studio's CPU time at each run's start
/// and end as the script says them.
fn play(
    show: &Show,
    browser: &Path,
    width: u32,
    seconds: u64,
    phases: &[Phase],
    log: &Path,
) -> anyhow::Result<Vec<Run>> {
    let block = block_size(width);
    let plan = serde_json::json!({
        "block": block,
        "blocks": BLOCKS,
        "settle": SETTLE,
        "seconds": seconds,
        "phases": phases
            .iter()
            .map(|phase| phase.plan())
            .collect::<Vec<_>>(),
    });
    let mut child = Command::new("node")
        .arg(browser.join("webrtc_bench.mjs"))
        .arg(show.url())
        .arg(plan.to_string())
        .current_dir(browser)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log)?)
        .spawn()
        .context("node (Debian's nodejs; ./dev setup installs it)")?;
    let stdout = child.stdout.take().context("the browser script's output")?;
    let _node = ChildGuard::new("node webrtc_bench.mjs", child);
    let page_log = || std::fs::read_to_string(log).unwrap_or_default();
    let mut runs = Vec::new();
    let mut started: Option<(Duration, Instant)> = None;
    let mut ok = false;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if line == "ok" {
            ok = true;
            break;
        }
        if let Some(reason) = line.strip_prefix("failed: ") {
            bail!(
                "the browser: {reason}\n{}\nstudio: {}",
                page_log(),
                show.said()
            );
        }
        let event: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("the browser script said {line:?}"))?;
        match event["event"].as_str() {
            Some("playing") => {}
            Some("start") => started = Some((show.cpu()?, Instant::now())),
            Some("end") => {
                let (cpu, wall) = (show.cpu()?, Instant::now());
                let (cpu_before, wall_before) = started
                    .take()
                    .context("the browser ended a run it never started")?;
                let index = event["phase"].as_u64().unwrap_or(0) as usize;
                let phase = *phases
                    .get(index)
                    .context("the browser ended a run that was not asked for")?;
                let mut run = Run {
                    phase,
                    cpu: cpu.saturating_sub(cpu_before),
                    wall: wall - wall_before,
                    latencies: Vec::new(),
                    unreadable: 0,
                    jitter_buffer: event["jitter_ms"]
                        .as_f64()
                        .filter(|ms| ms.is_finite() && *ms >= 0.0)
                        .map(|ms| Duration::from_secs_f64(ms / 1000.0)),
                    received: event["received"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|b| b.as_f64())
                                .map(|b| b as u64)
                                .collect()
                        })
                        .unwrap_or_default(),
                };
                for frame in event["frames"].as_array().into_iter().flatten() {
                    let values: Vec<f64> = frame
                        .as_array()
                        .map(|a| a.iter().filter_map(|v| v.as_f64()).collect())
                        .unwrap_or_default();
                    let Some((&now, greys)) = values.split_first() else {
                        continue;
                    };
                    let greys: Vec<u8> = greys.iter().map(|&g| g.clamp(0.0, 255.0) as u8).collect();
                    match read_stamp(&greys) {
                        Some(stamp) => {
                            let age = stamp::age(stamp, stamp::from_epoch_ms(now as u64));
                            if age < Duration::from_secs(60) {
                                run.latencies.push(age);
                            } else {
                                run.unreadable += 1;
                            }
                        }
                        None => run.unreadable += 1,
                    }
                }
                println!(
                    "run {:>2}: {:<30} studio CPU {:.2} s in {:.1} s, latency p50 {:.0} / p95 {:.0} ms{} ({} frames read, {} unreadable)",
                    runs.len() + 1,
                    run.phase.describe(),
                    run.cpu.as_secs_f64(),
                    run.wall.as_secs_f64(),
                    ms(run.percentile(0.5)),
                    ms(run.percentile(0.95)),
                    run.jitter_buffer
                        .map(|d| format!(", jitter buffer {:.0} ms", ms(d)))
                        .unwrap_or_default(),
                    run.latencies.len(),
                    run.unreadable,
                );
                runs.push(run);
            }
            _ => bail!("the browser script said {line:?}"),
        }
    }
    if !ok {
        bail!(
            "the browser script ended early:\n{}\nstudio: {}",
            page_log(),
            show.said()
        );
    }
    Ok(runs)
}

/// Runs `livekit bench webrtc`.
pub fn run(args: &WebRtcArgs) -> Result<(), Failure> {
    if args.size.0 < 640 {
        return Err(usage(anyhow!(
            "--size {}x{}: at least 640 wide (the stamp row needs it)",
            args.size.0,
            args.size.1
        )));
    }
    // What it needs, before any work.
    let livekit = livekit_program("bench webrtc").map_err(usage)?;
    let browser = browser_dir(args.browser.as_deref()).map_err(usage)?;
    Ok(measure(args, &livekit, &browser)?)
}

fn measure(args: &WebRtcArgs, livekit: &Path, browser: &Path) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let (width, height) = args.size;
    println!(
        "webrtc: a stamped {width}x{height} {} fps source on a `livekit studio` canvas (shared memory in, {build} build), played by headless chromium; {} s per run after {SETTLE} s to settle",
        args.fps, args.seconds
    );
    let mut phases = Vec::new();
    for _ in 0..args.runs {
        phases.push(Phase::Whep { viewers: 1 });
        phases.push(Phase::Whep {
            viewers: args.viewers,
        });
    }
    if !args.no_hls {
        for &behind in &args.hls_behind {
            phases.push(Phase::Hls { behind });
        }
    }
    let show = Show::start(args, livekit, dir.path())?;
    let played = play(
        &show,
        browser,
        width,
        args.seconds,
        &phases,
        &dir.path().join("browser.log"),
    );
    let summary = show.stop();
    let runs = played?;
    summary?;
    for run in &runs {
        if run.latencies.len() < 10 {
            bail!(
                "{}: the browser read {} stamps ({} frames unreadable): the picture did not arrive",
                run.phase.describe(),
                run.latencies.len(),
                run.unreadable
            );
        }
        if run.received.contains(&0) {
            bail!(
                "{}: some viewers received no video while measured ({:?} bytes)",
                run.phase.describe(),
                run.received
            );
        }
    }
    let mut results = Results::new(
        "webrtc",
        format!(
            "a stamped {width}x{height} {} fps source shared with a `livekit studio` (IPC input, its canvas the whole picture), played by headless chromium (playwright-core); WHEP: {} pairs of runs (1 viewer, then {}: the first shown in a <video>, the others receiving), {} s each after {SETTLE} s to settle, the studio's CPU seconds over the same time from /proc/PID/stat; HLS: {HLS_SEGMENT_SECONDS} s segments (the studio's keyframe interval), hls.js playing {} segments behind the playlist's end (its default: {HLS_JS_DEFAULT_BEHIND})",
            args.fps,
            args.runs,
            args.viewers,
            args.seconds,
            args.hls_behind
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(" or "),
        ),
    );
    results.notes.push(
        "webrtc: no reference tool (../shared/peers has no WHEP or HLS server); the `goal` rows are issue 22's goals, not measurements".to_owned(),
    );
    // Each phase's figures, at x = its viewers (WHEP) or its segments behind (HLS).
    let mut seen: Vec<Phase> = Vec::new();
    for run in &runs {
        let (metric, x) = match run.phase {
            Phase::Whep { viewers } => ("WHEP", f64::from(viewers)),
            Phase::Hls { behind } => ("HLS", f64::from(behind)),
        };
        let rate = run.cpu.as_secs_f64() / run.wall.as_secs_f64();
        let p50 = ms(run.percentile(0.5));
        let p95 = ms(run.percentile(0.95));
        results.add(
            &format!("{metric} p50 latency"),
            "livekit",
            Some(x),
            "ms",
            Better::Lower,
            p50,
        );
        results.add(
            &format!("{metric} p95 latency"),
            "livekit",
            Some(x),
            "ms",
            Better::Lower,
            p95,
        );
        if metric == "WHEP" {
            results.add(
                "studio CPU seconds a second",
                "livekit",
                Some(x),
                "s",
                Better::Lower,
                rate,
            );
        }
        // "TOOL, SETTING", as the report's histograms read them.
        let name = format!("livekit, {}", run.phase.describe());
        let values = run.latencies.iter().map(|&d| ms(d));
        match results.samples.iter_mut().find(|s| s.name == name) {
            Some(samples) => samples.values.extend(values),
            None => results.samples.push(Samples {
                name,
                unit: "ms".to_owned(),
                values: values.collect(),
            }),
        }
        if !seen.contains(&run.phase) {
            seen.push(run.phase);
        }
    }
    results.add(
        "WHEP p50 latency",
        "goal",
        Some(1.0),
        "ms",
        Better::Lower,
        WHEP_P50_GOAL,
    );
    // The ratio of each pair of runs (one viewer, then N, one after the other).
    let whep: Vec<&Run> = runs
        .iter()
        .filter(|r| matches!(r.phase, Phase::Whep { .. }))
        .collect();
    let rate = |r: &Run| r.cpu.as_secs_f64() / r.wall.as_secs_f64().max(1e-9);
    let ratios: Vec<f64> = whep
        .chunks(2)
        .filter_map(|pair| match pair {
            [one, many] => Some(rate(many) / rate(one).max(1e-9)),
            _ => None,
        })
        .collect();
    let ratio_metric = format!("studio CPU, {} viewers / 1 viewer", args.viewers);
    for &ratio in &ratios {
        results.add(&ratio_metric, "livekit", None, "x", Better::Lower, ratio);
    }
    results.add(
        &ratio_metric,
        "goal",
        None,
        "x",
        Better::Lower,
        CPU_RATIO_GOAL,
    );

    println!(
        "latency: a frame's stamp (drawn as the source made it) to chromium presenting it; medians of the runs (their spread):"
    );
    let met = |value: f64, goal: f64| if value <= goal { "met" } else { "NOT met" };
    for phase in seen {
        let these: Vec<&Run> = runs.iter().filter(|r| r.phase == phase).collect();
        let p50s: Vec<f64> = these.iter().map(|r| ms(r.percentile(0.5))).collect();
        let p95s: Vec<f64> = these.iter().map(|r| ms(r.percentile(0.95))).collect();
        let (p50, (low, high)) = (median(&p50s), range(&p50s));
        let frames: usize = these.iter().map(|r| r.latencies.len()).sum();
        let goal = match phase {
            Phase::Whep { .. } => WHEP_P50_GOAL,
            Phase::Hls { .. } => HLS_P50_GOAL,
        };
        println!(
            "{:<32} p50 {p50:>5.0} ms ({low:.0}-{high:.0}, {} run{})  p95 {:>5.0} ms  goal p50 <= {goal:.0} ms: {}  ({frames} frames)",
            phase.describe(),
            these.len(),
            plural(these.len() as u32),
            median(&p95s),
            met(p50, goal),
        );
        if let Phase::Hls { behind } = phase
            && behind == HLS_JS_DEFAULT_BEHIND
        {
            results.add(
                "HLS p50 latency",
                "goal",
                Some(f64::from(behind)),
                "ms",
                Better::Lower,
                HLS_P50_GOAL,
            );
        }
    }
    let ratio = median(&ratios);
    let (low, high) = range(&ratios);
    let rates = |viewers: u32| {
        median(
            &whep
                .iter()
                .filter(|r| r.phase.viewers() == viewers)
                .map(|r| rate(r))
                .collect::<Vec<_>>(),
        )
    };
    println!(
        "{:<32} {ratio:.2}x ({low:.2}-{high:.2}, {} pair{}; CPU seconds a second: 1 viewer {:.2}, {} viewers {:.2})  goal <= {CPU_RATIO_GOAL:.2}x: {}",
        format!("studio CPU, {} viewers / 1", args.viewers),
        ratios.len(),
        plural(ratios.len() as u32),
        rates(1),
        args.viewers,
        rates(args.viewers),
        met(ratio, CPU_RATIO_GOAL),
    );
    println!(
        "reference: none (../shared/peers has no WHEP or HLS server to run on the same work); each figure is beside its goal (issue 22)"
    );
    save(args.json.as_deref(), || results)?;
    Ok(())
}
