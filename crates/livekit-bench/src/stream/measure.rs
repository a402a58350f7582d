//! How `livekit bench stream` measures one run of a tool: `/usr/bin/time` (CPU seconds of the
//! process and its children, peak resident memory of the largest process), or with
//! `--instructions` valgrind's instruction count: the same count for the same work whatever
//! else the machine is doing, where CPU seconds on a shared machine vary by tens of percent
//! from run to run.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// What one run cost: CPU seconds and peak memory (`/usr/bin/time`), or billions of
/// instructions (valgrind, `--instructions`; no memory figure then).
#[derive(Debug, Clone, Copy)]
pub(super) struct Usage {
    /// CPU seconds, or billions of instructions.
    pub(super) cost: f64,
    /// Peak resident memory of the largest process, MB (0 when not measured).
    pub(super) rss_mb: f64,
}

/// How runs are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Measure {
    /// CPU seconds and peak memory, from `/usr/bin/time`.
    Time,
    /// Instructions, from valgrind (billions of them in [`Usage::cost`]).
    Instructions,
}

impl Measure {
    /// Runs `program args` once, measured; fails with the program's stderr if it fails.
    pub(super) fn run(self, label: &str, program: &Path, args: &[String]) -> anyhow::Result<Usage> {
        match self {
            Measure::Time => measured(label, program, args),
            Measure::Instructions => counted(label, program, args),
        }
    }

    /// `cpu=1.23s` or `instructions=1.23G`.
    pub(super) fn cost(self, value: f64) -> String {
        match self {
            Measure::Time => format!("cpu={value:.2}s"),
            Measure::Instructions => format!("instructions={value:.2}G"),
        }
    }

    /// ` rss=123MB`, or nothing when memory is not measured.
    pub(super) fn memory(self, rss_mb: f64) -> String {
        match self {
            Measure::Time => format!(" rss={rss_mb:.0}MB"),
            Measure::Instructions => String::new(),
        }
    }

    /// What the ratios compare: `cpu` or `instructions`.
    pub(super) fn ratio_name(self) -> &'static str {
        match self {
            Measure::Time => "cpu",
            Measure::Instructions => "instructions",
        }
    }
}

impl Usage {
    /// The median cost and the largest peak memory of several runs (at least one).
    pub(super) fn summary(runs: &[Usage]) -> Usage {
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
