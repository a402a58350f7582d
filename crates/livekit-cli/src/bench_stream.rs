//! `livekit bench stream`: one file streamed in real time to 1, 3 and 5 destinations on a local
//! nginx-rtmp, by us and by the reference tools, each measured the same way (`/usr/bin/time`:
//! CPU seconds of the process and its children, peak resident memory of the largest process).
//! Each tool runs several times, alternating, so that a busy moment of the machine does not
//! land on one tool only; the medians are compared.
//!
//! `--instructions` counts instructions under valgrind instead: the same count for the same
//! work whatever else the machine is doing, where CPU seconds on a shared machine vary by tens
//! of percent from run to run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, anyhow, bail};
use clap::Args;
use livekit_testkit::NginxRtmp;
use livekit_testkit::media::ffmpeg;
use livekit_testkit::probe::ffprobe;

use crate::Failure;

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
}

/// What one run cost: CPU seconds and peak memory (`/usr/bin/time`), or billions of
/// instructions (valgrind, `--instructions`; no memory figure then).
#[derive(Debug, Clone, Copy)]
struct Usage {
    /// CPU seconds, or billions of instructions.
    cost: f64,
    rss_mb: f64,
}

/// How runs are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Measure {
    /// CPU seconds and peak memory, from `/usr/bin/time`.
    Time,
    /// Instructions, from valgrind (billions of them in [`Usage::cost`]).
    Instructions,
}

impl Measure {
    fn run(self, label: &str, program: &Path, args: &[String]) -> anyhow::Result<Usage> {
        match self {
            Measure::Time => measured(label, program, args),
            Measure::Instructions => counted(label, program, args),
        }
    }

    /// `cpu=1.23s` or `instructions=1.23G`.
    fn cost(self, value: f64) -> String {
        match self {
            Measure::Time => format!("cpu={value:.2}s"),
            Measure::Instructions => format!("instructions={value:.2}G"),
        }
    }

    /// ` rss=123MB`, or nothing when memory is not measured.
    fn memory(self, rss_mb: f64) -> String {
        match self {
            Measure::Time => format!(" rss={rss_mb:.0}MB"),
            Measure::Instructions => String::new(),
        }
    }

    fn ratio_name(self) -> &'static str {
        match self {
            Measure::Time => "cpu",
            Measure::Instructions => "instructions",
        }
    }
}

impl Usage {
    /// The median cost and the largest peak memory of several runs (at least one).
    fn summary(runs: &[Usage]) -> Usage {
        let mut costs: Vec<f64> = runs.iter().map(|u| u.cost).collect();
        costs.sort_by(f64::total_cmp);
        let middle = costs.len() / 2;
        let cost = if costs.len() % 2 == 1 {
            costs[middle]
        } else {
            (costs[middle - 1] + costs[middle]) / 2.0
        };
        Usage {
            cost,
            rss_mb: runs.iter().map(|u| u.rss_mb).fold(0.0, f64::max),
        }
    }
}

/// Runs `program args` under `/usr/bin/time`; fails with the program's stderr if it fails.
fn measured(label: &str, program: &Path, args: &[String]) -> anyhow::Result<Usage> {
    let dir = tempfile::tempdir()?;
    let report = dir.path().join("time.txt");
    let output = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%U %S %M")
        .arg("-o")
        .arg(&report)
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| {
            format!("{label}: cannot run /usr/bin/time (install the `time` package)")
        })?;
    if !output.status.success() {
        bail!(
            "{label} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let text = std::fs::read_to_string(&report)?;
    let fields: Vec<f64> = text
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let [user, system, rss_kb] = fields[..] else {
        bail!("{label}: cannot read /usr/bin/time's report {text:?}");
    };
    Ok(Usage {
        cost: user + system,
        rss_mb: rss_kb / 1024.0,
    })
}

/// Runs `program args` under valgrind's cachegrind (children too) and adds up the
/// instructions of every process; fails with the program's stderr if it fails.
fn counted(label: &str, program: &Path, args: &[String]) -> anyhow::Result<Usage> {
    let dir = tempfile::tempdir()?;
    let output = Command::new("valgrind")
        .args([
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            "--trace-children=yes",
        ])
        .arg(format!(
            "--log-file={}/valgrind.%p.%n",
            dir.path().display()
        ))
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| {
            format!("{label}: cannot run valgrind (install the `valgrind` package)")
        })?;
    if !output.status.success() {
        bail!(
            "{label} failed under valgrind ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let mut instructions = 0u64;
    let mut processes = 0;
    for entry in std::fs::read_dir(dir.path())? {
        let text = std::fs::read_to_string(entry?.path())?;
        if let Some(count) = instruction_count(&text) {
            instructions += count;
            processes += 1;
        }
    }
    if processes == 0 {
        bail!("{label}: valgrind reported no instruction count");
    }
    Ok(Usage {
        cost: instructions as f64 / 1e9,
        rss_mb: 0.0,
    })
}

/// The `I refs: 12,345` total of a cachegrind log.
fn instruction_count(log: &str) -> Option<u64> {
    log.lines().find_map(|line| {
        let (_, count) = line.split_once("I   refs:")?;
        count.trim().replace(',', "").parse().ok()
    })
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

fn peers_dir(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = match given {
        Some(dir) => dir.to_path_buf(),
        None => match std::env::var_os("LIVEKIT_PEERS_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/peers"),
        },
    };
    if !dir.join("ffmpeg-tee.sh").is_file() {
        bail!(
            "bench stream needs the reference scripts: {} has no ffmpeg-tee.sh (give --peers DIR)",
            dir.display()
        );
    }
    Ok(dir.canonicalize().unwrap_or(dir))
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

pub fn run(args: &StreamArgs) -> Result<(), Failure> {
    if args.destinations.is_empty() || args.destinations.iter().any(|&n| n == 0 || n > 16) {
        return Err(crate::usage(anyhow!(
            "--destinations: each count must be 1 to 16"
        )));
    }
    let peers = if args.no_ffmpeg && args.no_pylivestream {
        None
    } else {
        Some(peers_dir(args.peers.as_deref()).map_err(crate::usage)?)
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
                .map_err(|e| crate::usage(anyhow!("{}: {e}", given.display())))?;
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
    let info = ffprobe(&file).map_err(|e| crate::usage(anyhow!(e)))?;
    let duration = info.duration();
    let video = info
        .video()
        .ok_or_else(|| crate::usage(anyhow!("{}: no video stream", file.display())))?;
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
    let me = std::env::current_exe().context("cannot find the livekit executable")?;
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
    for &count in &args.destinations {
        let mut ours = Vec::new();
        let mut tee = Vec::new();
        let mut pyls = Vec::new();
        for run in 0..runs {
            let (keys, urls) = targets(&server, "livekit", count, run);
            let mut argv = vec!["-q".to_owned(), "stream-file".to_owned(), file_arg.clone()];
            argv.extend(urls);
            argv.push("--yes".into());
            if measure == Measure::Instructions {
                argv.extend(["--readrate".into(), "0".into()]);
            }
            ours.push(measure.run("livekit stream-file", &me, &argv)?);
            // Let nginx close the recordings.
            server.restart();
            check_received(&server, &keys, duration, "livekit")?;
            if let (Some(peers), false) = (&peers, args.no_ffmpeg) {
                let (keys, urls) = targets(&server, "ffmpeg", count, run);
                let mut argv = vec![
                    peers.join("ffmpeg-tee.sh").to_string_lossy().into_owned(),
                    file_arg.clone(),
                ];
                argv.extend(urls);
                tee.push(measure.run("ffmpeg-tee.sh", Path::new("/bin/sh"), &argv)?);
                server.restart();
                check_received(&server, &keys, duration, "ffmpeg-tee")?;
            }
            if let (Some(peers), false) = (&peers, args.no_pylivestream) {
                let (keys, urls) = targets(&server, "pyls", count, run);
                let mut argv = vec![
                    peers.join("pylivestream.sh").to_string_lossy().into_owned(),
                    media_dir.to_string_lossy().into_owned(),
                ];
                argv.extend(urls);
                pyls.push(measure.run("pylivestream.sh", Path::new("/bin/sh"), &argv)?);
                server.restart();
                check_received(&server, &keys, duration, "pylivestream")?;
            }
        }
        let summary = Usage::summary(&ours);
        let mut line = format!(
            "destinations={count} livekit: {}{}{}",
            measure.cost(summary.cost),
            spread(&ours),
            measure.memory(summary.rss_mb)
        );
        line += &compared(measure, "ffmpeg-tee", &ours, &tee);
        line += &compared(measure, "pylivestream", &ours, &pyls);
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instruction_total_is_read_from_a_cachegrind_log() {
        let log = "==26964== Command: ffmpeg -i b4.mp4\n==26964== \n==26964== I   refs:      12,736,665,194\n";
        assert_eq!(instruction_count(log), Some(12_736_665_194));
        assert_eq!(instruction_count("==1== Command: sh x.sh\n"), None);
    }
}
