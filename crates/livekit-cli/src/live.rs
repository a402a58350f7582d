//! What long-running jobs share: Ctrl-C handling, the `--timeout` deadline, the go-live
//! confirmation and the one-line live status.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Set by Ctrl-C (SIGINT) or SIGTERM. The first asks the job to stop cleanly (files are
/// finalized); a second one exits at once with code 130.
#[derive(Debug, Clone)]
pub struct StopSignal {
    count: Arc<AtomicU32>,
}

impl StopSignal {
    /// Installs the handler (once per process).
    pub fn install() -> anyhow::Result<Self> {
        let count = Arc::new(AtomicU32::new(0));
        let seen = Arc::clone(&count);
        ctrlc::set_handler(move || {
            if seen.fetch_add(1, Ordering::SeqCst) >= 1 {
                eprintln!("livekit: stopped at once (second interrupt); files may be unfinished");
                std::process::exit(130);
            }
        })
        .map_err(|e| anyhow!("cannot handle Ctrl-C: {e}"))?;
        Ok(Self { count })
    }

    /// Whether a stop was asked for.
    pub fn stopped(&self) -> bool {
        self.count.load(Ordering::SeqCst) > 0
    }
}

/// Why [`run_until`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The job finished by itself.
    Finished,
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// `--timeout` passed.
    TimedOut,
}

/// Calls `tick` about every 50 ms until it returns true (finished), a stop signal arrives or
/// `timeout` passes.
pub fn run_until(
    stop: &StopSignal,
    timeout: Option<Duration>,
    mut tick: impl FnMut() -> bool,
) -> Ended {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        if tick() {
            return Ended::Finished;
        }
        if stop.stopped() {
            return Ended::Interrupted;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ended::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// PyLivestream asks before going live; so do we, unless `--yes`. Without a terminal to ask on,
/// `--yes` is required (a script must say it means it).
pub fn confirm_go_live(yes: bool, what: &str, destinations: &[String]) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(anyhow!(
            "not asking to go live without a terminal: add --yes to stream {what} to {}",
            destinations.join(", ")
        ));
    }
    eprint!(
        "Stream {what} to {}? Press Enter to go live, Ctrl-C to cancel: ",
        destinations.join(", ")
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    Ok(())
}

/// The one status line (hidden with `-q` or when stderr is not a terminal).
#[derive(Debug)]
pub struct StatusLine {
    bar: ProgressBar,
    started: Instant,
}

impl StatusLine {
    /// A status line; `total` makes it a progress bar over that many steps.
    pub fn new(quiet: bool, total: Option<u64>) -> Self {
        let bar = match total {
            Some(total) => ProgressBar::new(total),
            None => ProgressBar::new_spinner(),
        };
        let template = if total.is_some() {
            "{elapsed_precise} [{bar:20}] {pos}/{len} {msg}"
        } else {
            "{elapsed_precise} {spinner} {msg}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        if quiet || !std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        Self {
            bar,
            started: Instant::now(),
        }
    }

    /// Replaces the message (and the position, for a progress bar).
    pub fn update(&self, position: Option<u64>, message: String) {
        if let Some(position) = position {
            self.bar.set_position(position);
        }
        self.bar.set_message(message);
        self.bar.tick();
    }

    /// Time since the job started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Removes the line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
