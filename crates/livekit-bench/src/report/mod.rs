//! `livekit-bench report`: the performance report. Reads the figures the benchmarks wrote with
//! `--json FILE` (every `*.json` of a folder; files of the same benchmark add up their runs)
//! and writes `report.md`, a table per benchmark with our medians beside the reference tools',
//! and its charts as PNG (`charts.rs`). A benchmark that did not run (`NAME.error` beside the
//! figures holds why, as `./dev bench` writes it) or a reference tool that was not measured is
//! one line in the report; it does not stop the rest.

mod charts;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use clap::Args;
use livekit_cli::{Failure, usage};

use crate::results::{Better, Figure, Machine, Results, Samples, Series, median, range};

/// `livekit-bench report` options.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The folder of the benchmarks' `--json` files (and `NAME.error` files: a benchmark that
    /// failed, and why).
    #[arg(long, value_name = "DIR", default_value = "bench/results")]
    from: PathBuf,
    /// Where `report.md` and the charts go.
    #[arg(long, value_name = "DIR", default_value = "bench")]
    out: PathBuf,
    /// A soak's samples as CSV (`seconds,resident_mb,threads,descriptors`, what `bench soak
    /// --csv` writes), charted beside the soak of this run, with the machine and date given.
    #[arg(long, value_name = "FILE")]
    soak_csv: Option<PathBuf>,
    /// The machine and date of `--soak-csv`, for its chart and caption.
    #[arg(
        long,
        value_name = "TEXT",
        default_value = "",
        hide_default_value = true
    )]
    soak_csv_about: String,
}

/// The benchmarks in the order the report shows them, with a sentence on each.
const BENCHES: [(&str, &str); 9] = [
    (
        "compositor",
        "The reference compositing scene and more layers, as fast as possible, beside GStreamer's `compositor` on the reference scene (4 layers).",
    ),
    (
        "decode",
        "A 720p30 H.264/AAC file decoded as fast as possible through the `Player`, beside `ffmpeg -benchmark -i FILE -f null -`.",
    ),
    (
        "stream",
        "A 720p30 H.264/AAC file streamed in real time to N local nginx-rtmp destinations: `livekit stream-file` beside `../shared/peers/ffmpeg-tee.sh` (one encode, FFmpeg's tee muxer) and `../shared/peers/pylivestream.sh`, alternating runs, each destination checked for what it received.",
    ),
    (
        "ipc",
        "1920x1080 RGBA frames from a writer process to a reader process through shared memory, beside GStreamer's `shmsink` -> `shmsrc` (not the same work: GStreamer's reader uses the memory in place, ours copies each frame out).",
    ),
    (
        "studio",
        "The reference scene on a `Studio`, recorded and streamed to 3 local destinations, beside the same scene wired directly with the library types, pairs of runs alternating.",
    ),
    (
        "control",
        "The reference scene on a studio served over HTTP under a steady mixed load of API requests.",
    ),
    (
        "latency",
        "Glass-to-player latency: stamped frames through compositor, encoder and streamer to a local server, read back by the ffmpeg CLI, beside the ffmpeg CLI encoding the same frames.",
    ),
    (
        "webrtc",
        "A stamped 720p30 canvas of a `livekit studio` watched in headless Chromium: glass-to-browser latency over WHEP (at: viewers) and over HLS with 1 s segments played by hls.js (at: segments behind the playlist's end; hls.js's default is 3), and the studio's CPU with 10 WHEP viewers against 1, in alternating runs. No reference tool runs this work (`../shared/peers` has no WHEP or HLS server): the `goal` rows are issue 22's goals, and the last column compares with them.",
    ),
    (
        "soak",
        "A 720p30 show (test sources, a looping file, a looping playlist) recorded and streamed to 3 destinations, one server restarted on a schedule: memory, threads, descriptors sampled.",
    ),
];

/// The figures of one benchmark, its runs added up.
#[derive(Debug, Default)]
struct Bench {
    settings: Vec<String>,
    /// `(machine, date)` of each file.
    runs: Vec<(Machine, String)>,
    figures: Vec<Figure>,
    series: Vec<Series>,
    samples: Vec<Samples>,
    notes: Vec<String>,
}

impl Bench {
    fn add(&mut self, results: Results) {
        if !self.settings.contains(&results.settings) {
            self.settings.push(results.settings);
        }
        self.runs.push((results.machine, results.date));
        for figure in results.figures {
            match self
                .figures
                .iter_mut()
                .find(|f| f.metric == figure.metric && f.tool == figure.tool && f.x == figure.x)
            {
                Some(known) => known.values.extend(figure.values),
                None => self.figures.push(figure),
            }
        }
        self.series.extend(results.series);
        for samples in results.samples {
            match self.samples.iter_mut().find(|s| s.name == samples.name) {
                Some(known) => known.values.extend(samples.values),
                None => self.samples.push(samples),
            }
        }
        for note in results.notes {
            if !self.notes.contains(&note) {
                self.notes.push(note);
            }
        }
    }

    /// `MACHINE, DATE` (or `..., DATE to DATE`), for captions.
    fn about(&self) -> String {
        let machines: Vec<String> = self.runs.iter().map(|(m, _)| m.line()).collect();
        let mut unique = machines.clone();
        unique.dedup();
        // The first and the last run by time (the files are read in name order).
        let mut by_time: Vec<&(Machine, String)> = self.runs.iter().collect();
        by_time.sort_by_key(|(_, date)| httpdate::parse_http_date(date).ok());
        let dates = match (by_time.first().copied(), by_time.last().copied()) {
            // `Fri, 04 Dec 2026 16:38:42 GMT`: the day is the first 16 characters.
            (Some((_, first)), Some((_, last)))
                if first != last && first.get(..16) == last.get(..16) =>
            {
                let time = |d: &str| d.get(17..25).unwrap_or_default().to_owned();
                format!("{} to {} GMT", first.trim_end_matches(" GMT"), time(last))
            }
            (Some((_, first)), Some((_, last))) if first != last => format!("{first} to {last}"),
            (Some((_, first)), _) => first.clone(),
            _ => String::new(),
        };
        format!("{}; {dates}", unique.join(" / "))
    }
}

/// Everything read from the folder.
#[derive(Debug, Default)]
struct Collected {
    benches: BTreeMap<String, Bench>,
    /// Lines on what could not be read or did not run.
    problems: Vec<String>,
}

fn collect(dir: &Path) -> anyhow::Result<Collected> {
    let mut collected = Collected::default();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: the benchmarks' figures", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    let mut read = Vec::new();
    for path in paths {
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => match Results::read(&path) {
                Ok(results) => read.push(results),
                Err(e) => collected.problems.push(format!("{name}: not read ({e:#})")),
            },
            Some("error") => {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                // The error line (`livekit: error: ...`), else the last line said.
                let line = text
                    .lines()
                    .rev()
                    .find(|l| l.starts_with("livekit: error: "))
                    .or_else(|| text.lines().rev().find(|l| !l.trim().is_empty()))
                    .unwrap_or("failed");
                let stem = name.trim_end_matches(".error");
                let line = line.trim().trim_start_matches("livekit: error: ");
                collected
                    .problems
                    .push(format!("{stem}: not measured ({line})"));
            }
            _ => {}
        }
    }
    // In the order they ran: a benchmark's figures and runs come in that order.
    read.sort_by_key(|r| httpdate::parse_http_date(&r.date).ok());
    for results in read {
        collected
            .benches
            .entry(results.bench.clone())
            .or_default()
            .add(results);
    }
    Ok(collected)
}

/// `12.3`, `0.123`, `1234`: three significant figures or so; a whole number as it is.
fn number(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 100.0 || (value.fract() == 0.0 && magnitude < 1e9) {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// A point on an axis: `4` for a count, else as [`number`].
fn axis_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e9 {
        format!("{value:.0}")
    } else {
        number(value)
    }
}

fn is_ours(tool: &str) -> bool {
    tool.starts_with("livekit")
}

/// The table of one benchmark: a row per figure, our rows with the ratio to each reference
/// tool's median at the same point.
fn table(bench: &Bench, axis: &str) -> String {
    // Rows by figure (as they first came), then by point, then by tool (as they first came):
    // each point's tools side by side.
    let first = |key: &dyn Fn(&Figure) -> bool| bench.figures.iter().position(key);
    let mut figures: Vec<&Figure> = bench.figures.iter().collect();
    figures.sort_by(|a, b| {
        let metric = |f: &Figure| first(&|g: &Figure| g.metric == f.metric);
        let tool = |f: &Figure| first(&|g: &Figure| g.tool == f.tool);
        (metric(a), a.x.map(OrderedX), tool(a)).cmp(&(metric(b), b.x.map(OrderedX), tool(b)))
    });
    let mut text = format!(
        "| figure | {axis} | tool | median | spread (min-max) | runs | livekit vs reference |\n|---|---|---|---|---|---|---|\n"
    );
    for figure in figures {
        let m = median(&figure.values);
        let (low, high) = range(&figure.values);
        let spread = if figure.values.len() > 1 {
            format!("{}-{}", number(low), number(high))
        } else {
            "-".to_owned()
        };
        let ratios: Vec<String> = if is_ours(&figure.tool) {
            bench
                .figures
                .iter()
                .filter(|f| f.metric == figure.metric && f.x == figure.x && !is_ours(&f.tool))
                .filter_map(|f| {
                    let theirs = median(&f.values);
                    (theirs != 0.0).then(|| format!("{:.2}x {}", m / theirs, f.tool))
                })
                .collect()
        } else {
            Vec::new()
        };
        let at = figure.x.map_or_else(|| "-".to_owned(), axis_number);
        let direction = match figure.better {
            Better::Higher => " (higher is better)",
            Better::Lower => " (lower is better)",
            Better::Neither => "",
        };
        let _ = writeln!(
            text,
            "| {}{direction} | {at} | {} | {} | {spread} | {} | {} |",
            figure.metric,
            figure.tool,
            format!("{} {}", number(m), figure.unit).trim_end(),
            figure.values.len(),
            if ratios.is_empty() {
                "-".to_owned()
            } else {
                ratios.join(", ")
            }
        );
    }
    text
}

/// A point on a figure's axis, ordered (the values are finite: [`Results::add`] keeps no other).
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrderedX(f64);

impl Eq for OrderedX {}

impl PartialOrd for OrderedX {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedX {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// What the x column of a benchmark's table means.
fn axis(bench: &str) -> &'static str {
    match bench {
        "compositor" => "layers",
        "stream" => "destinations",
        "webrtc" => "viewers (WHEP) or segments behind (HLS)",
        _ => "at",
    }
}

/// Runs `livekit-bench report`.
pub fn run(args: &ReportArgs) -> Result<(), Failure> {
    if !args.from.is_dir() {
        return Err(usage(anyhow!(
            "--from {}: no such folder (run the benchmarks with --json FILE first, or ./dev bench)",
            args.from.display()
        )));
    }
    let soak_csv = match &args.soak_csv {
        Some(path) => Some(charts::read_soak_csv(path).map_err(usage)?),
        None => None,
    };
    std::fs::create_dir_all(&args.out).with_context(|| format!("{}", args.out.display()))?;
    let collected = collect(&args.from)?;
    let soak_csv_about = match (&args.soak_csv, args.soak_csv_about.trim()) {
        (Some(path), "") => format!("{}: machine and date not given", path.display()),
        (_, about) => about.to_owned(),
    };
    let report = write_report(&collected, &args.out, soak_csv.as_ref(), &soak_csv_about)?;
    let path = args.out.join("report.md");
    std::fs::write(&path, report).with_context(|| format!("{}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

fn write_report(
    collected: &Collected,
    out: &Path,
    soak_csv: Option<&Series>,
    soak_csv_about: &str,
) -> anyhow::Result<String> {
    let mut md = String::from("# Performance report\n\n");
    md += "Written by `./dev bench` (`livekit-bench report`). Each benchmark's figure is the median of its runs, \
           with their spread (min-max); where a reference tool ran on the same work, its runs alternated with ours \
           (ours, theirs, ours, theirs, ...) so that a busy moment of the machine does not land on one tool only. \
           CPU seconds on a shared machine vary by 10-15 % between identical runs: read ratios near 1.0x as equal. \
           Instruction counts (valgrind's cachegrind, every thread and child process) do not vary; they are given \
           where they were measured. The last column divides our median by each reference tool's at the same point: \
           above 1.0x is better for frames a second, below 1.0x for CPU, memory and latency. Regenerate with `./dev bench` (10-15 minutes on 2 cores once built; `--quick` for a smoke run).\n\n";
    let mut machines: Vec<String> = collected
        .benches
        .values()
        .flat_map(|b| b.runs.iter().map(|(m, _)| m.line()))
        .collect();
    machines.sort();
    machines.dedup();
    for machine in &machines {
        let _ = writeln!(md, "Machine: {machine}.");
    }
    md += "\n## On a hardware GPU\n\n";
    let hardware = collected
        .benches
        .values()
        .any(|b| b.runs.iter().any(|(m, _)| m.gpu.starts_with("GPU: ")));
    if hardware {
        md += "- The compositor's wgpu figures below are on the GPU named in the machine line.\n";
    } else {
        md += "- The compositor on a real GPU: not measured (no GPU machine was available).\n";
    }
    md += "- NVENC (hardware H.264 encoding): not measured (no GPU machine was available).\n";
    // What did not run, benchmarks and reference tools alike, in one list.
    let notes: Vec<&String> = collected
        .problems
        .iter()
        .chain(collected.benches.values().flat_map(|b| b.notes.iter()))
        .collect();
    if !notes.is_empty() {
        md += "\n## Not measured\n\n";
        for note in notes {
            let _ = writeln!(md, "- {note}");
        }
    }
    // Benchmarks this report does not know yet come last, with their table.
    let unknown: Vec<(&str, &str)> = collected
        .benches
        .keys()
        .filter(|name| !BENCHES.iter().any(|(known, _)| known == name))
        .map(|name| (name.as_str(), ""))
        .collect();
    for (name, about) in BENCHES.into_iter().chain(unknown) {
        let _ = write!(md, "\n## {name}\n\n");
        if !about.is_empty() {
            let _ = write!(md, "{about}\n\n");
        }
        // `stream: ...`, `stream-instructions: ...`: what of this benchmark did not run.
        let problems: Vec<&String> = collected
            .problems
            .iter()
            .filter(|p| {
                p.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(':') || rest.starts_with('-'))
            })
            .collect();
        for problem in &problems {
            let _ = writeln!(md, "- {problem}");
        }
        if !problems.is_empty() {
            md += "\n";
        }
        let Some(bench) = collected.benches.get(name) else {
            if problems.is_empty() {
                let _ = writeln!(md, "Not run in this report.");
            }
            // The long soak's samples are charted all the same.
            if name == "soak" && soak_csv.is_some() {
                md += &captions(charts::for_bench(
                    name,
                    &Bench::default(),
                    out,
                    soak_csv,
                    soak_csv_about,
                )?);
            }
            continue;
        };
        for settings in &bench.settings {
            let _ = writeln!(md, "Settings: {settings}.  ");
        }
        let _ = writeln!(md, "Ran on: {}.\n", bench.about());
        for note in &bench.notes {
            let _ = writeln!(md, "- {note}");
        }
        if !bench.notes.is_empty() {
            md += "\n";
        }
        if !bench.figures.is_empty() {
            md += &table(bench, axis(name));
        }
        md += &captions(charts::for_bench(
            name,
            bench,
            out,
            soak_csv,
            soak_csv_about,
        )?);
    }
    Ok(md)
}

/// The charts as images in the markdown, each with its machine and date below it.
fn captions(charts: Vec<charts::Chart>) -> String {
    charts
        .into_iter()
        .map(|chart| {
            format!(
                "\n![{}]({})\n\n_{}: {}._\n",
                chart.title, chart.file, chart.title, chart.about
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_about_three_figures() {
        assert_eq!(number(1234.4), "1234");
        assert_eq!(number(12.34), "12.3");
        assert_eq!(number(1.234), "1.23");
        assert_eq!(number(0.1234), "0.123");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(29.0), "29");
    }
}
