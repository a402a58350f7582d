//! [`PulseAudio`]: a private PulseAudio server in user mode with one null sink, for audio
//! tests on machines without a sound card. Tones played into the sink can be recorded from its
//! monitor source (`nullsink.monitor`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::ChildGuard;

/// The null sink's name.
pub const SINK: &str = "nullsink";
/// The null sink's monitor: what is played into [`SINK`] comes out here.
pub const MONITOR: &str = "nullsink.monitor";

/// A PulseAudio server of its own (runtime directory, socket), stopped when dropped and also
/// when the test process ends (a watcher shell follows the process, so a server kept in a
/// `static` does not outlive the tests).
#[derive(Debug)]
pub struct PulseAudio {
    runtime: tempfile::TempDir,
    _watcher: ChildGuard,
}

impl PulseAudio {
    /// Starts the server and waits until `pactl info` answers. Panics if `pulseaudio` is not
    /// installed (`./dev setup` installs it) or does not come up.
    pub fn start() -> Self {
        let runtime = tempfile::tempdir().expect("a temporary directory"); // mode 0700
        // No default.pa (-n): exactly a null sink and the native protocol (anonymous, so no
        // cookie file is needed). Running as root prints a warning; user mode still works.
        let script = r#"pulseaudio -vvvv --log-time=1 --daemonize=no --exit-idle-time=-1 --system=false -n \
  --load="module-null-sink sink_name=nullsink rate=48000 channels=2" \
  --load="module-native-protocol-unix auth-anonymous=1" >"$XDG_RUNTIME_DIR/pulse.log" 2>&1 &
pa=$!
trap 'kill "$pa" 2>/dev/null; exit 0' TERM
while kill -0 "$1" 2>/dev/null && kill -0 "$pa" 2>/dev/null; do sleep 0.2; done
kill "$pa" 2>/dev/null
wait "$pa" 2>/dev/null
#rm -rf "$XDG_RUNTIME_DIR""#;
        let child = Command::new("sh")
            .args(["-c", script, "pulse-watcher"])
            .arg(std::process::id().to_string())
            .env("XDG_RUNTIME_DIR", runtime.path())
            .env_remove("PULSE_SERVER")
            // Its own log is a file; the watcher outlives the test by a poll, and must not
            // hold the test's output open (nextest reports that as a leak).
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh");
        let mut watcher = ChildGuard::new("pulseaudio", child);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let ok = pulse_command(runtime.path(), "pactl")
                .arg("info")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                break;
            }
            if watcher.has_exited() || Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(runtime.path().join("pulse.log")).unwrap_or_default();
                panic!(
                    "PulseAudio did not start (is it installed? ./dev setup installs \
                     pulseaudio and pulseaudio-utils). Its log:\n{log}"
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        for (what, name) in [("set-default-sink", SINK), ("set-default-source", MONITOR)] {
            let _ = pulse_command(runtime.path(), "pactl")
                .args([what, name])
                .status();
        }
        Self {
            runtime,
            _watcher: watcher,
        }
    }

    /// The server's runtime directory: set `XDG_RUNTIME_DIR` to it for a client to find it.
    pub fn runtime_dir(&self) -> &Path {
        self.runtime.path()
    }

    /// `program` set up to talk to this server.
    pub fn command(&self, program: &str) -> Command {
        pulse_command(self.runtime.path(), program)
    }

    /// Unloads the null sink's module: [`SINK`] and its monitor [`MONITOR`] go away, as a
    /// microphone that is unplugged (streams recording the monitor are killed).
    pub fn unload_sink(&self) {
        let out = self
            .command("pactl")
            .args(["list", "short", "modules"])
            .output()
            .expect("pactl (pulseaudio-utils)");
        let list = String::from_utf8_lossy(&out.stdout);
        let module = list
            .lines()
            .find(|line| line.contains("module-null-sink") && line.contains(SINK))
            .and_then(|line| line.split_whitespace().next())
            .unwrap_or_else(|| panic!("no null sink module in:\n{list}"))
            .to_owned();
        let status = self
            .command("pactl")
            .args(["unload-module", &module])
            .status()
            .expect("pactl");
        assert!(status.success(), "pactl unload-module {module} failed");
    }

    /// Loads the null sink again under the same name (after [`unload_sink`](Self::unload_sink)),
    /// as a microphone plugged back in, and makes it and its monitor the defaults again.
    pub fn load_sink(&self) {
        let status = self
            .command("pactl")
            .args([
                "load-module",
                "module-null-sink",
                &format!("sink_name={SINK}"),
                "rate=48000",
                "channels=2",
            ])
            .stdout(Stdio::null())
            .status()
            .expect("pactl (pulseaudio-utils)");
        assert!(
            status.success(),
            "pactl load-module module-null-sink failed"
        );
        for (what, name) in [("set-default-sink", SINK), ("set-default-source", MONITOR)] {
            let _ = self.command("pactl").args([what, name]).status();
        }
    }

    /// Plays `wav` into the null sink with `paplay`; the returned guard stops it when dropped.
    ///
    /// With a 100 ms latency: the null sink renders in blocks of its clients' latency, and
    /// paplay's default (about 2 s) would make the monitor deliver in 2 s bursts.
    pub fn play(&self, wav: &Path) -> ChildGuard {
        let child = self
            .command("paplay")
            .args(["-d", SINK, "--latency-msec=100"])
            .arg(wav)
            .spawn()
            .expect("paplay (pulseaudio-utils)");
        ChildGuard::new("paplay", child)
    }

    /// Records the null sink's monitor as raw f32 little-endian, 48 kHz stereo into `path`
    /// with `parec` until the guard is stopped or dropped.
    pub fn record(&self, path: &Path) -> ChildGuard {
        let child = self
            .command("parec")
            .args([
                "-d",
                MONITOR,
                "--raw",
                "--format=float32le",
                "--rate=48000",
                "--channels=2",
            ])
            .arg(path)
            .spawn()
            .expect("parec (pulseaudio-utils)");
        ChildGuard::new("parec", child)
    }
}

fn pulse_command(runtime: &Path, program: &str) -> Command {
    let mut command = Command::new(program);
    command
        .env("XDG_RUNTIME_DIR", runtime)
        .env_remove("PULSE_SERVER");
    command
}

/// Reads raw f32 little-endian samples.
pub fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// A WAV file of a sine made with the ffmpeg CLI (amplitude 1/8, as FFmpeg's `sine` makes it).
pub fn sine_wav(dir: &Path, frequency: u32, seconds: f64) -> PathBuf {
    let path = dir.join(format!("sine-{frequency}.wav"));
    let status = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!(
            "sine=frequency={frequency}:sample_rate=48000:duration={seconds}"
        ))
        // Both channels at the sine's level (`-ac 2` would lower each by 3 dB).
        .args(["-af", "pan=stereo|c0=c0|c1=c0"])
        .arg(&path)
        .status()
        .expect("ffmpeg");
    assert!(status.success(), "ffmpeg could not make {}", path.display());
    path
}

/// Amplitude of the `freq` component of `signal` sampled at `rate` (one DFT bin).
pub fn tone_amplitude(signal: &[f32], rate: u32, freq: f64) -> f64 {
    let (mut re, mut im) = (0.0, 0.0);
    for (n, &s) in signal.iter().enumerate() {
        let phase = 2.0 * std::f64::consts::PI * freq * n as f64 / f64::from(rate);
        re += f64::from(s) * phase.cos();
        im -= f64::from(s) * phase.sin();
    }
    2.0 * (re * re + im * im).sqrt() / signal.len().max(1) as f64
}
