//! The figures of one benchmark run in a machine-readable form (`--json FILE` on each
//! benchmark), for `livekit-bench report` to put in `bench/report.md` and its charts.
//!
//! A file holds every run's value, not a summary: the report takes the medians and the spread
//! (min-max) itself, and files with the same figure (the same benchmark run several times, one
//! after the other) add up their runs.

use std::path::Path;
use std::time::SystemTime;

use anyhow::Context;
use livekit_compositor::{BackendChoice, BackendKind, Compositor};
use serde::{Deserialize, Serialize};

/// Which way a figure is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// More is better (frames a second).
    Higher,
    /// Less is better (CPU seconds, latency, memory).
    Lower,
    /// A count to read, neither (restarts, threads).
    Neither,
}

/// One figure of one tool, at one point (`x`: layers, destinations), with each run's value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figure {
    /// What is measured, e.g. `fps (cpu backend)`, `CPU seconds`.
    pub metric: String,
    /// Who: `livekit`, or the reference tool (`ffmpeg-tee`, `gstreamer`, ...).
    pub tool: String,
    /// Where on the figure's axis (layer count, destination count), if it has one.
    pub x: Option<f64>,
    /// The value's unit (`fps`, `s`, `ms`, `MB`, `G instructions`).
    pub unit: String,
    /// Which way is better.
    pub better: Better,
    /// One value a run, in the order they ran.
    pub values: Vec<f64>,
}

/// A curve over time (the soak's memory).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Series {
    /// What is plotted, e.g. `resident memory`.
    pub name: String,
    /// The y unit.
    pub unit: String,
    /// `(seconds since the start, value)`.
    pub points: Vec<(f64, f64)>,
}

/// A distribution (latencies of each frame read back).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Samples {
    /// What was sampled, e.g. `livekit, low-latency, RTMP`.
    pub name: String,
    /// The unit of the values.
    pub unit: String,
    /// Every sample.
    pub values: Vec<f64>,
}

/// The machine a benchmark ran on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// The CPU's model name, from `/proc/cpuinfo`.
    pub cpu: String,
    /// Logical cores.
    pub cores: usize,
    /// What wgpu found: `no GPU: lavapipe`, `GPU: NAME`, or `no GPU adapter`.
    pub gpu: String,
    /// `release` or `debug` (the build of livekit-bench; `livekit` is built with it).
    pub build: String,
}

impl Machine {
    /// This machine (creating a wgpu adapter to name the GPU: about half a second).
    pub fn this() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
            .map(|(_, name)| name.trim().to_owned())
            .unwrap_or_else(|| "unknown CPU".to_owned());
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let gpu = match Compositor::new(BackendChoice::Gpu) {
            Ok(c) => gpu_words(&c.backend().name, c.backend().kind),
            Err(_) => "no GPU adapter".to_owned(),
        };
        let build = if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        };
        Self {
            cpu,
            cores,
            gpu,
            build: build.to_owned(),
        }
    }

    /// One line: `2 cores, AMD EPYC ..., no GPU: lavapipe, release build`.
    pub fn line(&self) -> String {
        format!(
            "{} cores, {}, {}, {} build",
            self.cores, self.cpu, self.gpu, self.build
        )
    }
}

/// `no GPU: lavapipe` for Mesa's software adapters, else `GPU: NAME`.
pub fn gpu_words(adapter: &str, kind: BackendKind) -> String {
    let lower = adapter.to_lowercase();
    if kind == BackendKind::Cpu {
        "no GPU adapter".to_owned()
    } else if lower.contains("llvmpipe") || lower.contains("lavapipe") {
        "no GPU: lavapipe".to_owned()
    } else {
        format!("GPU: {adapter}")
    }
}

/// What one benchmark run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// The benchmark: `compositor`, `stream`, ...
    pub bench: String,
    /// What was run, in a few words (sizes, seconds, runs).
    pub settings: String,
    /// Where it ran.
    pub machine: Machine,
    /// When it ran (an HTTP date, UTC).
    pub date: String,
    /// Table rows.
    pub figures: Vec<Figure>,
    /// Curves over time.
    #[serde(default)]
    pub series: Vec<Series>,
    /// Distributions.
    #[serde(default)]
    pub samples: Vec<Samples>,
    /// What was not measured and why, one line each (a reference tool that is missing).
    #[serde(default)]
    pub notes: Vec<String>,
}

impl Results {
    /// Empty results of `bench`, now; the machine is filled in when they are saved ([`save`]),
    /// so that a run without `--json` does not look for a GPU.
    pub fn new(bench: &str, settings: impl Into<String>) -> Self {
        Self {
            bench: bench.to_owned(),
            settings: settings.into(),
            machine: Machine {
                cpu: String::new(),
                cores: 0,
                gpu: String::new(),
                build: String::new(),
            },
            date: httpdate::fmt_http_date(SystemTime::now()),
            figures: Vec::new(),
            series: Vec::new(),
            samples: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds one run's value to the figure `(metric, tool, x)`, making it if needed.
    pub fn add(
        &mut self,
        metric: &str,
        tool: &str,
        x: Option<f64>,
        unit: &str,
        better: Better,
        value: f64,
    ) {
        // JSON has no NaN or infinity (a rate over no time): say so instead.
        if !value.is_finite() {
            self.notes.push(format!(
                "{metric}, {tool}: a run gave no finite value ({value})"
            ));
            return;
        }
        if let Some(figure) = self
            .figures
            .iter_mut()
            .find(|f| f.metric == metric && f.tool == tool && f.x == x)
        {
            figure.values.push(value);
            return;
        }
        self.figures.push(Figure {
            metric: metric.to_owned(),
            tool: tool.to_owned(),
            x,
            unit: unit.to_owned(),
            better,
            values: vec![value],
        });
    }

    /// Writes the results as JSON to `path`.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text + "\n").with_context(|| format!("{}", path.display()))
    }

    /// Reads results written by [`Results::write`].
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}", path.display()))
    }
}

/// Writes `results`, with this machine's description, to `path` when `--json` was given.
pub fn save(path: Option<&Path>, results: impl FnOnce() -> Results) -> anyhow::Result<()> {
    match path {
        Some(path) => {
            let mut results = results();
            results.machine = Machine::this();
            results.write(path)
        }
        None => Ok(()),
    }
}

/// The median of `values` (the mean of the middle two for an even count; 0 for none).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The smallest and largest of `values` (`(0, 0)` for none).
pub fn range(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    values
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ranges() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        assert_eq!(range(&[3.0, 1.0, 2.0]), (1.0, 3.0));
    }

    #[test]
    fn a_software_adapter_reads_as_no_gpu() {
        assert_eq!(
            gpu_words("llvmpipe (LLVM 19.1.7, 256 bits)", BackendKind::Gpu),
            "no GPU: lavapipe"
        );
        assert_eq!(
            gpu_words("NVIDIA H200", BackendKind::Gpu),
            "GPU: NVIDIA H200"
        );
    }
}
