//! The reference beside `livekit bench ipc`: GStreamer's `shmsink` -> `shmsrc`, two
//! `gst-launch-1.0` processes, the reader's buffers counted and timed from its `-v` output.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use livekit_core::thread::spawn_named;

use super::{Format, HEIGHT, Reaped, WAIT, WIDTH};

/// The reference is given up when no buffer arrives for this long.
const STALL: Duration = Duration::from_secs(5);

/// Removes the shared memory area of a `shmsink` process when dropped (after the process is
/// gone): killed, it cannot remove its own `/dev/shm/shmpipe.PID.N`.
struct ShmsinkArea(u32);

impl Drop for ShmsinkArea {
    fn drop(&mut self) {
        // GStreamer names it "/shmpipe.%5d.%5d" with its pid.
        let prefix = format!("shmpipe.{:>5}.", self.0);
        if let Ok(entries) = std::fs::read_dir("/dev/shm") {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}

/// GStreamer's figure.
pub(super) struct Theirs {
    /// Buffers the reader received.
    pub(super) buffers: u64,
    /// Seconds from the first buffer received to the last.
    pub(super) span_s: f64,
    /// Buffers a second reaching the reader.
    pub(super) fps: f64,
}

/// Runs GStreamer's writer and reader once: `frames` buffers of `frame_bytes` from
/// `shmsink` to `shmsrc`.
pub(super) fn gstreamer(format: Format, frame_bytes: usize, frames: u64) -> anyhow::Result<Theirs> {
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("shm.sock");
    let caps = format!(
        "video/x-raw,format={},width={WIDTH},height={HEIGHT},framerate=60/1",
        format.gstreamer()
    );
    let socket_path = socket.to_string_lossy().into_owned();
    let writer_pipeline = format!(
        "videotestsrc num-buffers={frames} pattern=solid-color ! {caps} ! shmsink socket-path={socket_path} shm-size={} wait-for-connection=true sync=false",
        // With room for only ~8 frames shmsink often stalls after a few dozen (GStreamer 1.22).
        (frame_bytes * 16).max(64 << 20)
    );
    let writer = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(writer_pipeline.split(' '))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run gst-launch-1.0 (install gstreamer1.0-tools)")?;
    let mut writer = Reaped(Some(writer));
    let _cleanup = ShmsinkArea(writer.child().id());
    wait_for(&socket, &mut writer)?;
    let reader_pipeline = format!(
        "shmsrc socket-path={socket_path} do-timestamp=true ! {caps} ! fakesink sync=false silent=false"
    );
    let reader = Command::new("gst-launch-1.0")
        .arg("-v")
        .args(reader_pipeline.split(' '))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot run gst-launch-1.0")?;
    let mut reader = Reaped(Some(reader));
    let stdout = reader.child().stdout.take().context("no stdout")?;
    let count = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&count);
    // Reads the reader's per-buffer lines; ends when gst-launch is killed (end of the pipe).
    let lines = spawn_named("livekit.bench.gst-reader", move || {
        let mut times = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !line.contains("chain") {
                continue;
            }
            counted.fetch_add(1, Ordering::Relaxed);
            if let Some(pts) = line
                .split("pts: ")
                .nth(1)
                .and_then(|rest| rest.split(',').next())
                .and_then(parse_clock_time)
            {
                times.push(pts);
            }
        }
        times
    })
    .map_err(|e| anyhow!("{e}"))?;
    // shmsrc does not end when shmsink does: stop when every buffer has arrived, or when none
    // came for a while (a stalled pipeline).
    let mut seen = 0;
    let mut progress = Instant::now();
    while count.load(Ordering::Relaxed) < frames {
        if let Some(status) = writer.child().try_wait()?
            && !status.success()
        {
            bail!(
                "gst-launch-1.0 (shmsink) failed ({status}): {}",
                writer.stderr()
            );
        }
        let now = count.load(Ordering::Relaxed);
        if now != seen {
            seen = now;
            progress = Instant::now();
        }
        if reader.child().try_wait()?.is_some() || progress.elapsed() > STALL {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(reader);
    drop(writer);
    let times = lines.join().map_err(|e| anyhow!("{e}"))?;
    let buffers = count.load(Ordering::Relaxed);
    ensure!(
        buffers >= frames && times.len() >= 2,
        "shmsrc received {buffers} of {frames} buffers, then nothing for {} s (is gstreamer1.0-plugins-bad installed? `gst-inspect-1.0 shmsink`)",
        STALL.as_secs()
    );
    let span_s = (times[times.len() - 1] - times[0]).as_secs_f64();
    Ok(Theirs {
        buffers,
        span_s,
        fps: (times.len() - 1) as f64 / span_s,
    })
}

/// Waits for shmsink's socket (or for the writer to fail).
fn wait_for(socket: &Path, writer: &mut Reaped) -> anyhow::Result<()> {
    let deadline = Instant::now() + WAIT;
    while !socket.exists() {
        if let Some(status) = writer.child().try_wait()? {
            bail!(
                "gst-launch-1.0 (shmsink) exited ({status}): {}",
                writer.stderr()
            );
        }
        ensure!(Instant::now() < deadline, "shmsink made no socket in 10 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// `0:00:01.234567890` as a duration.
fn parse_clock_time(text: &str) -> Option<Duration> {
    let mut parts = text.trim().split(':');
    let hours: u64 = parts.next()?.parse().ok()?;
    let minutes: u64 = parts.next()?.parse().ok()?;
    let seconds: f64 = parts.next()?.parse().ok()?;
    Some(Duration::from_secs(hours * 3600 + minutes * 60) + Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gstreamer_clock_times_parse() {
        assert_eq!(
            parse_clock_time("0:00:01.500000000"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_clock_time("none"), None);
    }
}
