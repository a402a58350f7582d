//! What long-running jobs share: Ctrl-C handling, the `--timeout` deadline, the go-live
//! confirmation and the one-line live status.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Set by Ctrl-C (SIGINT), SIGTERM or SIGHUP. The first asks the job to stop cleanly (files
/// are finalized); a second one exits at once with code 130.
#[derive(Debug, Clone)]
pub struct StopSignal {
    /// The first signal's number; 0 while none came.
    first: Arc<AtomicI32>,
}

impl StopSignal {
    /// Installs the handler (once per process): a named thread waits for the signals.
    pub fn install() -> anyhow::Result<Self> {
        let first = Arc::new(AtomicI32::new(0));
        let seen = Arc::clone(&first);
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])
            .map_err(|e| anyhow!("cannot handle Ctrl-C: {e}"))?;
        livekit_core::thread::spawn_named("livekit.signals", move || {
            for signal in signals.forever() {
                if seen
                    .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
                    .is_err()
                {
                    eprintln!(
                        "livekit: stopped at once (second interrupt); files may be unfinished"
                    );
                    crate::keys::restore_terminal();
                    std::process::exit(130);
                }
            }
        })
        .map_err(|e| anyhow!("cannot handle Ctrl-C: {e}"))?;
        Ok(Self { first })
    }

    /// Asks for a clean stop from within the job (the `q` key), as a first signal does.
    pub fn request(&self) {
        let _ = self
            .first
            .compare_exchange(0, QUIT_KEY, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn stopped(&self) -> bool {
        self.first.load(Ordering::SeqCst) != 0
    }

    /// What asked for the stop, as the user knows it ("Ctrl-C", "SIGTERM", "SIGHUP").
    pub fn cause(&self) -> &'static str {
        match self.first.load(Ordering::SeqCst) {
            SIGTERM => "SIGTERM",
            SIGHUP => "SIGHUP",
            QUIT_KEY => "q",
            _ => "Ctrl-C",
        }
    }
}

/// What [`StopSignal::request`] records: not a signal number.
const QUIT_KEY: i32 = -1;

/// Why [`run_until`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The job finished by itself.
    Finished,
    /// A stop signal came: "Ctrl-C", "SIGTERM" or "SIGHUP".
    Interrupted(&'static str),
    /// `--timeout` passed.
    TimedOut,
}

impl Ended {
    /// "stopped by Ctrl-C", "stopped by SIGTERM", "stopped at --timeout", or `finished`.
    pub fn describe(self, finished: &'static str) -> String {
        match self {
            Ended::Finished => finished.to_string(),
            Ended::Interrupted(cause) => format!("stopped by {cause}"),
            Ended::TimedOut => "stopped at --timeout".to_string(),
        }
    }
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
            return Ended::Interrupted(stop.cause());
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
        "Stream {what} to {}? Press Enter (or y) to go live, n or Ctrl-C to cancel: ",
        destinations.join(", ")
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line)?;
    match line.trim().to_ascii_lowercase().as_str() {
        "" | "y" | "yes" if read > 0 => Ok(()),
        _ => Err(anyhow!("cancelled: not going live")),
    }
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
            "{elapsed_precise} [{bar:20}] {pos}/{len} {wide_msg}"
        } else {
            "{elapsed_precise} {spinner} {wide_msg}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        if quiet || !std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        } else {
            // Log lines go above the line, not onto it.
            let shown = bar.clone();
            livekit_cli::set_status_line(Some(Box::new(move |print: &mut dyn FnMut()| {
                shown.suspend(&mut *print)
            })));
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

    /// Prints a line for the user (`livekit: ...` on standard error) above the status line.
    pub fn say(&self, text: &str) {
        self.bar.suspend(|| eprintln!("livekit: {text}"));
    }

    /// Time since the job started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Removes the line.
    pub fn finish(&self) {
        livekit_cli::set_status_line(None);
        self.bar.finish_and_clear();
    }
}

impl Drop for StatusLine {
    fn drop(&mut self) {
        livekit_cli::set_status_line(None);
    }
}

/// What a job reads from its parts for the status line.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Video frames encoded so far.
    pub frames: u64,
    /// Wall time spent encoding them.
    pub encode_time: Duration,
    /// Frames a compositor rendered and the time that took (`None`: no compositor).
    pub render: Option<(u64, Duration)>,
    /// Video frames dropped on the way to the encoder (late, replaced or skipped).
    pub dropped: u64,
}

impl Reading {
    /// The encoder's part.
    pub fn encoder(stats: &livekit_sinks::EncoderStats) -> Self {
        Self {
            frames: stats.video_frames,
            encode_time: stats.video_encode_time,
            render: None,
            dropped: stats.skipped_frames,
        }
    }

    /// Adds a compositor's part.
    pub fn with_compositor(mut self, stats: &livekit_compositor::RunStats) -> Self {
        self.render = Some((stats.rendered, stats.render_time));
        self.dropped += stats.late;
        self
    }

    /// Adds frames dropped elsewhere (a port, a player).
    pub fn with_dropped(mut self, dropped: u64) -> Self {
        self.dropped += dropped;
        self
    }
}

/// Turns successive [`Reading`]s into the figures of the status line: frames a second, render
/// and encode time per frame, each over the last second or so, and the dropped frames.
#[derive(Debug, Default)]
pub struct Meter {
    window: Option<(Instant, Reading)>,
    fps: Option<f64>,
    encode_ms: Option<f64>,
    render_ms: Option<f64>,
}

impl Meter {
    /// The figures for `now`, e.g. `29.9 fps | render 2.1 ms | encode 7.9 ms | 0 dropped`.
    pub fn line(&mut self, now: Reading) -> String {
        self.observe(Instant::now(), now);
        let ms = |value: Option<f64>| value.map_or("-".to_string(), |v| format!("{v:.1}"));
        let mut parts = vec![match self.fps {
            Some(fps) => format!("{fps:.1} fps"),
            None => "- fps".to_string(),
        }];
        if now.render.is_some() {
            parts.push(format!("render {} ms", ms(self.render_ms)));
        }
        parts.push(format!("encode {} ms", ms(self.encode_ms)));
        parts.push(format!("{} dropped", now.dropped));
        parts.join(" | ")
    }

    /// Updates the figures once at least a second has passed since the last update.
    fn observe(&mut self, at: Instant, now: Reading) {
        let Some((since, before)) = self.window else {
            self.window = Some((at, now));
            return;
        };
        let seconds = at.duration_since(since).as_secs_f64();
        if seconds < 1.0 {
            return;
        }
        let frames = now.frames.saturating_sub(before.frames);
        self.fps = Some(frames as f64 / seconds);
        self.encode_ms = (frames > 0).then(|| {
            now.encode_time
                .saturating_sub(before.encode_time)
                .as_secs_f64()
                * 1000.0
                / frames as f64
        });
        self.render_ms = match (now.render, before.render) {
            (Some((rendered, time)), Some((rendered_before, time_before)))
                if rendered > rendered_before =>
            {
                Some(
                    time.saturating_sub(time_before).as_secs_f64() * 1000.0
                        / (rendered - rendered_before) as f64,
                )
            }
            _ => None,
        };
        self.window = Some((at, now));
    }
}

/// A count and its noun, singular or plural: `1 video frame`, `2 video frames`, `0 reconnects`.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A byte count for people: `950 B`, `13.6 kB`, `1.2 MB`, `3.40 GB`.
pub fn bytes(count: u64) -> String {
    let n = count as f64;
    match count {
        0..1_000 => format!("{count} B"),
        1_000..1_000_000 => format!("{:.1} kB", n / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", n / 1e6),
        _ => format!("{:.2} GB", n / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_take_their_plural_but_one() {
        assert_eq!(count(1, "video frame"), "1 video frame");
        assert_eq!(count(0, "reconnect"), "0 reconnects");
        assert_eq!(count(60, "packet"), "60 packets");
    }

    #[test]
    fn byte_counts_for_people() {
        assert_eq!(bytes(950), "950 B");
        assert_eq!(bytes(13_641), "13.6 kB");
        assert_eq!(bytes(1_234_567), "1.2 MB");
        assert_eq!(bytes(3_400_000_000), "3.40 GB");
    }

    #[test]
    fn meter_reports_rates_over_the_last_second() {
        let mut meter = Meter::default();
        let start = Instant::now();
        let first = Reading {
            frames: 10,
            encode_time: Duration::from_millis(50),
            render: Some((12, Duration::from_millis(24))),
            dropped: 1,
        };
        meter.observe(start, first);
        assert_eq!(meter.fps, None);
        // Half a second later: too early to say.
        meter.observe(start + Duration::from_millis(500), first);
        assert_eq!(meter.fps, None);
        let later = Reading {
            frames: 70,
            encode_time: Duration::from_millis(350),
            render: Some((72, Duration::from_millis(144))),
            dropped: 3,
        };
        meter.observe(start + Duration::from_secs(2), later);
        assert_eq!(meter.fps, Some(30.0));
        assert_eq!(meter.encode_ms, Some(5.0));
        assert_eq!(meter.render_ms, Some(2.0));
        // No frames in the next window: 0 fps and no per-frame time.
        meter.observe(start + Duration::from_secs(3), later);
        assert_eq!(meter.fps, Some(0.0));
        assert_eq!(meter.encode_ms, None);
        assert_eq!(
            meter.line(later),
            "0.0 fps | render - ms | encode - ms | 3 dropped"
        );
    }
}
