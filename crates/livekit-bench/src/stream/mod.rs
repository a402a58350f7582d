//! `livekit bench stream`: one file streamed in real time to 1, 3 and 5 destinations on a local
//! nginx-rtmp, by us (`livekit stream-file`, the `livekit` program next to this one) and by the
//! reference tools, each measured the same way (`measure.rs`), each destination checked for
//! what it received. Each tool runs several times, alternating, so that a busy moment of the
//! machine does not land on one tool only; the medians are compared.

mod measure;

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::Args;
use livekit_cli::{Failure, usage};
use livekit_testkit::NginxRtmp;
use livekit_testkit::media::ffmpeg;
use livekit_testkit::probe::ffprobe;

use crate::peers::{livekit_program, peers_dir};
use crate::results::{Better, Results, save};
use measure::{Measure, Usage};

/// `livekit bench stream` options.
#[derive(Debug, Args)]
pub struct StreamArgs {
    /// The file to stream [default: a 720p30 H.264/AAC test file made with the ffmpeg CLI].
    file: Option<PathBuf>,
    /// Length of the generated test file, in seconds.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(2..=600))]
    seconds: u32,
    /// Destination counts to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,3,5")]
    destinations: Vec<u32>,
    /// Runs of each tool at each destination count, alternating between the tools; the
    /// figures printed are the medians (CPU) and the largest (memory).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    runs: u32,
    /// Do not run PyLivestream (its first run installs PyLivestream 2.1.1 from PyPI into a venv).
    #[arg(long)]
    no_pylivestream: bool,
    /// Do not run the FFmpeg tee command.
    #[arg(long)]
    no_ffmpeg: bool,
    /// Count the instructions each tool executes (valgrind's cachegrind, all threads and child
    /// processes) instead of timing it: repeatable on a busy machine, but about 25 times
    /// slower, so give a short --seconds. Each tool runs once; livekit streams with
    /// --readrate 0, since under valgrind every tool is slower than real time (FFmpeg's -re
    /// then reads as fast as it can too).
    #[arg(long)]
    instructions: bool,
    /// Folder of the reference tools' scripts [default: ../shared/peers beside the repository,
    /// or $LIVEKIT_PEERS_DIR].
    #[arg(long)]
    peers: Option<PathBuf>,
    /// Also write every run's figures to FILE as JSON (for `livekit-bench report`).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// One reference tool's runs, or why it stopped being run (it failed: not installed, PyPI out
/// of reach, a destination that did not receive the file); the benchmark goes on without it.
#[derive(Default)]
struct PeerRuns {
    runs: Vec<Usage>,
    failed: Option<String>,
}

impl PeerRuns {
    /// Runs `run` unless an earlier run failed; a failure is kept, printed once, and stops
    /// this tool's later runs.
    fn run(&mut self, name: &str, run: impl FnOnce() -> anyhow::Result<Usage>) {
        if self.failed.is_some() {
            return;
        }
        match run() {
            Ok(usage) => self.runs.push(usage),
            Err(e) => {
                let line = format!("{name}: not measured ({e:#})");
                println!("{line}");
                self.failed = Some(line);
            }
        }
    }
}

/// Checks that every destination of a run received the whole file (within a second).
fn check_received(
    server: &NginxRtmp,
    keys: &[String],
    expected_s: f64,
    label: &str,
) -> anyhow::Result<f64> {
    let mut shortest = f64::MAX;
    for key in keys {
        let recordings = server.recordings(key);
        let [recording] = &recordings[..] else {
            bail!(
                "{label}: destination {key} has {} recordings instead of one",
                recordings.len()
            );
        };
        let probe = ffprobe(recording).map_err(|e| anyhow!("{label}: {e}"))?;
        let got = probe.duration();
        if probe.video().is_none() || probe.audio().is_none() || got < expected_s - 1.0 {
            bail!(
                "{label}: destination {key} received {got:.1} s (video {}, audio {}) of {expected_s:.1} s",
                probe.video().is_some(),
                probe.audio().is_some()
            );
        }
        shortest = shortest.min(got);
    }
    Ok(shortest)
}

/// Stream keys and URLs of `count` destinations for one tool's run.
fn targets(server: &NginxRtmp, tool: &str, count: u32, run: u32) -> (Vec<String>, Vec<String>) {
    let keys: Vec<String> = (0..count)
        .map(|i| format!("{tool}{count}r{run}x{i}"))
        .collect();
    let urls = keys.iter().map(|k| server.url(k)).collect();
    (keys, urls)
}

fn ratio(ours: f64, theirs: f64) -> String {
    if theirs > 0.0 {
        format!("{:.2}x", ours / theirs)
    } else {
        "n/a".into()
    }
}

/// The range of several runs' costs (nothing for one run).
fn spread(runs: &[Usage]) -> String {
    let (low, high) = runs.iter().fold((f64::MAX, 0.0f64), |(low, high), u| {
        (low.min(u.cost), high.max(u.cost))
    });
    if runs.len() > 1 {
        format!(" ({low:.2}-{high:.2})")
    } else {
        String::new()
    }
}

/// The range of the CPU ratios of runs made one after the other (ours, then theirs): a slow
/// moment of the machine weighs on both of a pair.
fn paired(ours: &[Usage], theirs: &[Usage]) -> String {
    let ratios: Vec<f64> = ours
        .iter()
        .zip(theirs)
        .filter(|(_, t)| t.cost > 0.0)
        .map(|(o, t)| o.cost / t.cost)
        .collect();
    if ratios.len() < 2 {
        return String::new();
    }
    let low = ratios.iter().copied().fold(f64::MAX, f64::min);
    let high = ratios.iter().copied().fold(0.0, f64::max);
    format!(" (pairs {low:.2}x-{high:.2}x)")
}

/// ` | NAME: cpu=... rss=... | cpu ratio=... rss ratio=...` for a reference tool's runs beside
/// ours (nothing when it did not run).
fn compared(measure: Measure, name: &str, ours: &[Usage], theirs: &[Usage]) -> String {
    if theirs.is_empty() {
        return String::new();
    }
    let (mine, theirs_summary) = (Usage::summary(ours), Usage::summary(theirs));
    let memory = match measure {
        Measure::Time => format!(" rss ratio={}", ratio(mine.rss_mb, theirs_summary.rss_mb)),
        Measure::Instructions => String::new(),
    };
    format!(
        " | {name}: {}{}{} | {} ratio={}{}{memory}",
        measure.cost(theirs_summary.cost),
        spread(theirs),
        measure.memory(theirs_summary.rss_mb),
        measure.ratio_name(),
        ratio(mine.cost, theirs_summary.cost),
        paired(ours, theirs),
    )
}

/// Runs the benchmark: the test file, then each destination count with every tool.
pub fn run(args: &StreamArgs) -> Result<(), Failure> {
    if args.destinations.is_empty() || args.destinations.iter().any(|&n| n == 0 || n > 16) {
        return Err(usage(anyhow!("--destinations: each count must be 1 to 16")));
    }
    // Before the test file is made: a missing program is found at once.
    let livekit = livekit_program("bench stream").map_err(usage)?;
    let peers = if args.no_ffmpeg && args.no_pylivestream {
        None
    } else {
        Some(peers_dir(args.peers.as_deref(), "ffmpeg-tee.sh", "bench stream").map_err(usage)?)
    };
    let work = tempfile::tempdir()?;
    // PyLivestream streams every *.mp4 of a folder: give it a folder with just this file.
    let media_dir = work.path().join("media");
    std::fs::create_dir_all(&media_dir)?;
    let file = media_dir.join("bench.mp4");
    match &args.file {
        Some(given) => {
            let given = given
                .canonicalize()
                .map_err(|e| usage(anyhow!("{}: {e}", given.display())))?;
            std::os::unix::fs::symlink(&given, &file)?;
        }
        None => {
            println!("making a {} s 720p30 H.264/AAC test file", args.seconds);
            let seconds = args.seconds.to_string();
            ffmpeg(&[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=1280x720:rate=30",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=48000",
                "-t",
                &seconds,
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-b:v",
                "3000k",
                "-g",
                "60",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-b:a",
                "128k",
                "-ac",
                "2",
                file.to_str().context("temporary path is not UTF-8")?,
            ]);
        }
    }
    let info = ffprobe(&file).map_err(|e| usage(anyhow!(e)))?;
    let duration = info.duration();
    let video = info
        .video()
        .ok_or_else(|| usage(anyhow!("{}: no video stream", file.display())))?;
    println!(
        "file: {} ({duration:.1} s, {}x{}, {}, audio {})",
        args.file.as_deref().unwrap_or(&file).display(),
        video.width.unwrap_or(0),
        video.height.unwrap_or(0),
        video.avg_frame_rate,
        info.audio()
            .map(|a| a.codec_name.as_str())
            .unwrap_or("none"),
    );
    let measure = if args.instructions {
        Measure::Instructions
    } else {
        Measure::Time
    };
    // Instruction counts repeat: one run of each tool is enough.
    let runs = if args.instructions { 1 } else { args.runs };
    let file_arg = file.to_string_lossy().into_owned();
    let mut ours_by_count = Vec::new();
    let mut server = NginxRtmp::start();
    match measure {
        Measure::Time => println!(
            "{runs} run(s) of each tool per destination count: median CPU seconds, largest peak memory"
        ),
        Measure::Instructions => {
            println!("instructions executed (valgrind), one run of each tool per destination count")
        }
    }
    let mut results = Results::new(
        "stream",
        format!(
            "a {duration:.0} s {}x{} H.264/AAC file, {}",
            video.width.unwrap_or(0),
            video.height.unwrap_or(0),
            match measure {
                Measure::Time => format!("in real time, {runs} run(s) of each tool per destination count, alternating; CPU seconds of the process and its children (/usr/bin/time)"),
                Measure::Instructions => "read as fast as valgrind allows, instructions of every process (valgrind's cachegrind)".to_owned(),
            }
        ),
    );
    let (metric, unit) = match measure {
        Measure::Time => ("CPU seconds", "s"),
        Measure::Instructions => ("instructions", "G"),
    };
    // A reference tool that failed is not tried again at the next destination count.
    let mut tee = PeerRuns::default();
    let mut pyls = PeerRuns::default();
    for &count in &args.destinations {
        let mut ours = Vec::new();
        tee.runs.clear();
        pyls.runs.clear();
        for run in 0..runs {
            let (keys, urls) = targets(&server, "livekit", count, run);
            let mut argv = vec!["-q".to_owned(), "stream-file".to_owned(), file_arg.clone()];
            argv.extend(urls);
            argv.push("--yes".into());
            if measure == Measure::Instructions {
                argv.extend(["--readrate".into(), "0".into()]);
            }
            ours.push(measure.run("livekit stream-file", &livekit, &argv)?);
            // Let nginx close the recordings.
            server.restart();
            check_received(&server, &keys, duration, "livekit")?;
            if let (Some(peers), false) = (&peers, args.no_ffmpeg) {
                tee.run("ffmpeg-tee", || {
                    let (keys, urls) = targets(&server, "ffmpeg", count, run);
                    let mut argv = vec![
                        peers.join("ffmpeg-tee.sh").to_string_lossy().into_owned(),
                        file_arg.clone(),
                    ];
                    argv.extend(urls);
                    let usage = measure.run("ffmpeg-tee.sh", Path::new("/bin/sh"), &argv)?;
                    server.restart();
                    check_received(&server, &keys, duration, "ffmpeg-tee")?;
                    Ok(usage)
                });
            }
            if let (Some(peers), false) = (&peers, args.no_pylivestream) {
                pyls.run("pylivestream", || {
                    let (keys, urls) = targets(&server, "pyls", count, run);
                    let mut argv = vec![
                        peers.join("pylivestream.sh").to_string_lossy().into_owned(),
                        media_dir.to_string_lossy().into_owned(),
                    ];
                    argv.extend(urls);
                    let usage = measure.run("pylivestream.sh", Path::new("/bin/sh"), &argv)?;
                    server.restart();
                    check_received(&server, &keys, duration, "pylivestream")?;
                    Ok(usage)
                });
            }
        }
        for (tool, runs) in [
            ("livekit", &ours),
            ("ffmpeg-tee", &tee.runs),
            ("pylivestream", &pyls.runs),
        ] {
            for usage in runs.iter() {
                let x = Some(f64::from(count));
                results.add(metric, tool, x, unit, Better::Lower, usage.cost);
                if measure == Measure::Time {
                    results.add("peak memory", tool, x, "MB", Better::Lower, usage.rss_mb);
                }
            }
        }
        let summary = Usage::summary(&ours);
        let mut line = format!(
            "destinations={count} livekit: {}{}{}",
            measure.cost(summary.cost),
            spread(&ours),
            measure.memory(summary.rss_mb)
        );
        line += &compared(measure, "ffmpeg-tee", &ours, &tee.runs);
        line += &compared(measure, "pylivestream", &ours, &pyls.runs);
        println!("{line}");
        ours_by_count.push((count, summary));
    }
    if let (Some((1, one)), Some((many, last))) = (ours_by_count.first(), ours_by_count.last())
        && *many > 1
    {
        println!(
            "livekit {} {many} destinations / 1 destination = {}",
            measure.ratio_name(),
            ratio(last.cost, one.cost)
        );
    }
    server.stop();
    let mut peer_notes: Vec<String> = tee.failed.into_iter().chain(pyls.failed).collect();
    if args.no_ffmpeg {
        peer_notes.push(format!("ffmpeg-tee: {metric} not measured (--no-ffmpeg)"));
    }
    if args.no_pylivestream {
        peer_notes.push(format!(
            "pylivestream: {metric} not measured (--no-pylivestream)"
        ));
    }
    results.notes = peer_notes;
    save(args.json.as_deref(), || results)?;
    Ok(())
}
