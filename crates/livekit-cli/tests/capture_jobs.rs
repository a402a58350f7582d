//! `livekit stream-camera` (through a virtual lavfi camera: the same capture path as a real
//! one), `stream-screen` and `capture-screen` under a private Xvfb, run as processes; what
//! arrived is checked with ffprobe.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use livekit_testkit::NginxRtmp;
use livekit_testkit::probe::{decodes_cleanly, ffprobe, ffprobe_count};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn livekit(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_livekit"))
        .args(args)
        .current_dir(cwd)
        .env("XDG_CONFIG_HOME", cwd.join("xdg"))
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// `livekit ARGS` on a private 640x480 Xvfb.
fn livekit_on_xvfb(cwd: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("xvfb-run");
    command
        .args([
            "-a",
            "-s",
            "-screen 0 640x480x24 -noreset",
            env!("CARGO_BIN_EXE_livekit"),
        ])
        .args(args)
        .current_dir(cwd)
        .env("XDG_CONFIG_HOME", cwd.join("xdg"))
        .env_remove("RUST_LOG");
    command
}

#[test]
fn stream_camera_sends_the_virtual_camera() {
    let dir = tempfile::tempdir().unwrap();
    let server = NginxRtmp::start();
    let url = server.url("CAMSECRET");
    let out = livekit(
        dir.path(),
        &[
            "stream-camera",
            &url,
            "--device",
            "lavfi:testsrc2=size=320x240:rate=30,realtime",
            "--timeout",
            "2",
            "--yes",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("CAMSECRET"));
    let recordings = server.recordings("CAMSECRET");
    assert_eq!(recordings.len(), 1);
    let probe = ffprobe(&recordings[0]).unwrap();
    let video = probe.video().unwrap();
    assert_eq!((video.width, video.height), (Some(320), Some(240)));
    assert_eq!(probe.audio().unwrap().codec_name, "aac");
    assert!(
        (probe.duration() - 2.0).abs() < 0.7,
        "{} s",
        probe.duration()
    );
}

#[test]
fn stream_camera_with_a_missing_device_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = livekit(
        dir.path(),
        &[
            "stream-camera",
            "rtmp://127.0.0.1:1/live/k",
            "--device",
            "/dev/video-none",
            "--yes",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("/dev/video-none"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn stream_screen_sends_an_area_of_the_screen() {
    let dir = tempfile::tempdir().unwrap();
    let server = NginxRtmp::start();
    let url = server.url("screen");
    let out = livekit_on_xvfb(
        dir.path(),
        &[
            "stream-screen",
            &url,
            "--origin",
            "10,20",
            "--size",
            "320x240",
            "--fps",
            "15",
            "--timeout",
            "2",
            "--yes",
        ],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let recordings = server.recordings("screen");
    assert_eq!(recordings.len(), 1);
    let probe = ffprobe(&recordings[0]).unwrap();
    let video = probe.video().unwrap();
    assert_eq!((video.width, video.height), (Some(320), Some(240)));
    // About 15 frames a second for 2 s (live capture: give or take a few).
    let counted = ffprobe_count(&recordings[0]).unwrap();
    let frames = counted.video().unwrap().nb_read_frames.unwrap();
    assert!((24.0..=36.0).contains(&frames), "{frames} frames");
}

#[test]
fn capture_screen_is_finalized_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("screen.mp4");
    let child = livekit_on_xvfb(dir.path(), &["capture-screen", file.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the recording to start (its file is created with the header, once the X
    // server and the job are up: slow on a busy machine), let it record about two seconds,
    // then Ctrl-C the recorder itself (xvfb-run's child), as a terminal would.
    let started = Instant::now();
    while !file.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the recording never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    let pids = Command::new("pgrep")
        .args([
            "-f",
            &format!(
                "^{} capture-screen {}",
                env!("CARGO_BIN_EXE_livekit"),
                file.display()
            ),
        ])
        .output()
        .unwrap();
    for pid in text(&pids.stdout).split_whitespace() {
        let _ = Command::new("kill").args(["-INT", pid]).status();
    }
    let out = child.wait_with_output().unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("stopped by Ctrl-C"),
        "{}",
        text(&out.stdout)
    );
    let probe = ffprobe(&file).unwrap();
    assert_eq!(probe.video().unwrap().width, Some(640));
    assert!(
        probe.duration() > 1.0 && probe.duration() < elapsed,
        "{} s of {elapsed} s",
        probe.duration()
    );
    decodes_cleanly(&file).unwrap();
}

/// `--origin` without `--size` captures from the origin to the screen's edges; an origin off
/// the screen is refused.
#[test]
fn capture_screen_from_an_origin_to_the_edges() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("corner.mp4");
    let out = livekit_on_xvfb(
        dir.path(),
        &[
            "capture-screen",
            file.to_str().unwrap(),
            "--origin",
            "100,80",
            "--timeout",
            "1",
        ],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let video = ffprobe(&file).unwrap();
    let video = video.video().unwrap();
    assert_eq!((video.width, video.height), (Some(540), Some(400)));

    let out = livekit_on_xvfb(
        dir.path(),
        &[
            "capture-screen",
            "off.mp4",
            "--origin",
            "700,0",
            "--timeout",
            "1",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with("livekit: error: --origin 700,0: outside the 640x480 screen"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("off.mp4").exists());
}

/// Losing the X display is warned about once (not once by the capture and again by the job).
#[test]
fn a_lost_display_is_warned_about_once() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut xvfb = Command::new("Xvfb")
        .args(["-displayfd", "1", "-screen", "0", "320x240x24", "-noreset"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut number = String::new();
    std::io::BufReader::new(xvfb.stdout.take().unwrap())
        .read_line(&mut number)
        .unwrap();
    let display = format!(":{}", number.trim());
    let file = dir.path().join("lost.mp4");
    let child = Command::new(env!("CARGO_BIN_EXE_livekit"))
        .args(["capture-screen", file.to_str().unwrap(), "--timeout", "4"])
        .current_dir(dir.path())
        .env("DISPLAY", &display)
        .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    xvfb.kill().unwrap();
    xvfb.wait().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lost = format!("X display {display} lost");
    assert_eq!(stderr.matches(&lost).count(), 1, "{stderr}");
    assert!(!stderr.contains("capture error"), "{stderr}");
}

#[test]
fn capture_screen_refuses_an_unknown_extension_before_starting() {
    let dir = tempfile::tempdir().unwrap();
    let out = livekit(dir.path(), &["capture-screen", "out.xyz", "--timeout", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("out.xyz"), "{stderr}");
}

#[test]
fn stream_microphone_sends_what_the_microphone_hears() {
    let dir = tempfile::tempdir().unwrap();
    let pulse = livekit_testkit::pulse::PulseAudio::start();
    let wav = livekit_testkit::pulse::sine_wav(dir.path(), 1000, 6.0);
    let mut player = pulse.play(&wav);
    let server = NginxRtmp::start();
    let url = server.url("MICKEY");
    let out = Command::new(env!("CARGO_BIN_EXE_livekit"))
        .args([
            "stream-microphone",
            &url,
            "--device",
            "nullsink.monitor",
            "--timeout",
            "3",
            "--yes",
        ])
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
        .env("XDG_RUNTIME_DIR", pulse.runtime_dir())
        .env_remove("PULSE_SERVER")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    player.stop();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("MICKEY"));
    // No third-party noise (the PulseAudio client's "Reactor error: Client disconnected" at
    // the end) and no timestamped log lines without -v: every line is livekit's own.
    for line in text(&out.stderr).lines() {
        assert!(
            line.starts_with("livekit: ") || line.starts_with("  "),
            "{line:?}"
        );
        assert!(
            !line.contains("ERROR") && !line.contains("Reactor"),
            "{line:?}"
        );
    }
    let recordings = server.recordings("MICKEY");
    assert_eq!(recordings.len(), 1);
    let probe = ffprobe(&recordings[0]).unwrap();
    assert_eq!(probe.video().unwrap().width, Some(1280));
    assert_eq!(probe.audio().unwrap().codec_name, "aac");
    // The tone arrived: decode the audio and measure 1 kHz.
    let pcm = dir.path().join("audio.f32");
    livekit_testkit::media::ffmpeg(&[
        "-i",
        recordings[0].to_str().unwrap(),
        "-vn",
        "-ac",
        "1",
        "-ar",
        "48000",
        "-f",
        "f32le",
        pcm.to_str().unwrap(),
    ]);
    let samples = livekit_testkit::pulse::read_f32(&pcm);
    assert!(samples.len() > 48_000, "{} samples", samples.len());
    let tail = &samples[samples.len() - 48_000..];
    let level = livekit_testkit::pulse::tone_amplitude(tail, 48_000, 1000.0);
    assert!(level > 0.05, "1 kHz at {level}");
}

#[test]
fn devices_lists_the_screen_and_its_windows() {
    let dir = tempfile::tempdir().unwrap();
    let out = livekit_on_xvfb(dir.path(), &["devices"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for section in ["cameras:", "microphones:", "screens:", "windows:"] {
        assert!(stdout.contains(section), "{stdout}");
    }
    assert!(stdout.contains("  640x480"), "{stdout}");
}

/// Without a sound server, the microphone's error is the one line printed: ALSA's probes
/// (printed by its C library) are hidden unless -v.
#[test]
fn stream_microphone_without_a_sound_server_prints_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_livekit"))
        .args(["stream-microphone", "rtmp://127.0.0.1:1/live/k", "--yes"])
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
        .env("PULSE_SERVER", "unix:/nonexistent/livekit-test")
        .env_remove("DISPLAY")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("livekit: error: microphone"), "{stderr}");
}

#[test]
fn devices_without_a_sound_server_prints_no_library_noise() {
    let dir = tempfile::tempdir().unwrap();
    // No PulseAudio to reach: cpal falls back to ALSA, whose probes print to stderr.
    let out = Command::new(env!("CARGO_BIN_EXE_livekit"))
        .arg("devices")
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
        .env("PULSE_SERVER", "unix:/nonexistent/livekit-test")
        .env_remove("DISPLAY")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("microphones:"), "{stdout}");
    assert!(!stdout.to_lowercase().contains("plugin"), "{stdout}");
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("ALSA lib"), "{stderr}");
    assert!(!stderr.contains("jack"), "{stderr}");
}

/// The level of 1 kHz in the last second of a recording's audio.
fn tone_level(dir: &Path, recording: &Path) -> f64 {
    let pcm = dir.join("tone.f32");
    livekit_testkit::media::ffmpeg(&[
        "-y",
        "-i",
        recording.to_str().unwrap(),
        "-vn",
        "-ac",
        "1",
        "-ar",
        "48000",
        "-f",
        "f32le",
        pcm.to_str().unwrap(),
    ]);
    let samples = livekit_testkit::pulse::read_f32(&pcm);
    assert!(samples.len() > 48_000, "{} samples", samples.len());
    let tail = &samples[samples.len() - 48_000..];
    livekit_testkit::pulse::tone_amplitude(tail, 48_000, 1000.0)
}

/// `stream-camera --microphone` (the configuration's microphone) sends what the microphone
/// hears instead of silence; `stream-screen --microphone=DEVICE` prints it in its command; a
/// missing microphone is one line.
#[test]
fn capture_jobs_send_a_microphone_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let pulse = livekit_testkit::pulse::PulseAudio::start();
    let wav = livekit_testkit::pulse::sine_wav(dir.path(), 1000, 6.0);
    let config = dir.path().join("mic.toml");
    std::fs::write(
        &config,
        "[capture.linux]\nmicrophone = \"nullsink.monitor\"\n",
    )
    .unwrap();
    let server = NginxRtmp::start();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_livekit"))
            .args(args)
            .current_dir(dir.path())
            .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
            .env("XDG_RUNTIME_DIR", pulse.runtime_dir())
            .env_remove("PULSE_SERVER")
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let c = config.to_str().unwrap();
    let camera = "lavfi:testsrc2=size=320x240:rate=30,realtime";
    let mut player = pulse.play(&wav);
    let url = server.url("CAMMIC");
    let out = run(&[
        "--config",
        c,
        "stream-camera",
        &url,
        "--device",
        camera,
        "--microphone",
        "--timeout",
        "3",
        "--yes",
    ]);
    player.stop();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("CAMMIC"));
    let recordings = server.recordings("CAMMIC");
    assert_eq!(recordings.len(), 1);
    let level = tone_level(dir.path(), &recordings[0]);
    assert!(level > 0.05, "1 kHz at {level}");
    // Without --microphone: silence.
    let url = server.url("CAMSILENT");
    let out = run(&[
        "stream-camera",
        &url,
        "--device",
        camera,
        "--timeout",
        "2",
        "--yes",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let level = tone_level(dir.path(), &server.recordings("CAMSILENT")[0]);
    assert!(level < 0.01, "1 kHz at {level} in silence");

    let out = run(&[
        "stream-screen",
        "rtmp://127.0.0.1:1/live/k",
        "--microphone=nullsink.monitor",
        "--size",
        "320x240",
        "--print-command",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    assert!(line.contains("-f pulse -i nullsink.monitor"), "{line}");
    assert!(!line.contains("anullsrc"), "{line}");

    let out = run(&[
        "stream-camera",
        "rtmp://127.0.0.1:1/live/k",
        "--device",
        camera,
        "--microphone=no-such-microphone",
        "--timeout",
        "2",
        "--yes",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no-such-microphone"), "{stderr}");
}

/// `stream-camera --microphone=DEVICE` whose microphone goes away mid-stream (the null sink's
/// module unloaded) and comes back: one warning line, the stream goes on to its time limit, and
/// what arrived has a continuous audio track: the tone, silence, the tone again.
#[test]
fn a_capture_jobs_microphone_that_goes_away_and_comes_back_does_not_end_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let pulse = livekit_testkit::pulse::PulseAudio::start();
    let wav = livekit_testkit::pulse::sine_wav(dir.path(), 1000, 30.0);
    let server = NginxRtmp::start();
    let url = server.url("MICLOST");
    let mut player = pulse.play(&wav);
    let child = Command::new(env!("CARGO_BIN_EXE_livekit"))
        .args([
            "stream-camera",
            &url,
            "--device",
            "lavfi:testsrc2=size=160x120:rate=25,realtime",
            "--microphone=nullsink.monitor",
            "--timeout",
            "10",
            "--yes",
        ])
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
        .env("XDG_RUNTIME_DIR", pulse.runtime_dir())
        .env_remove("PULSE_SERVER")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(3_500));
    player.stop();
    pulse.unload_sink();
    std::thread::sleep(Duration::from_millis(2_000));
    pulse.load_sink();
    let mut player = pulse.play(&wav);
    let out = child.wait_with_output().unwrap();
    player.stop();
    let stderr = text(&out.stderr);
    eprintln!("{stderr}");
    assert!(out.status.success(), "{stderr}");
    let lost: Vec<&str> = stderr.lines().filter(|l| l.contains("lost")).collect();
    assert_eq!(
        lost,
        ["livekit: warning: nullsink.monitor: lost: No such entity"],
        "{stderr}"
    );
    for line in stderr.lines() {
        assert!(
            line.starts_with("livekit: ") || line.starts_with("  "),
            "{line:?}"
        );
    }
    let recordings = server.recordings("MICLOST");
    assert_eq!(recordings.len(), 1);
    let (_, samples) = livekit_testkit::probe::audio_samples(&recordings[0], 48_000).unwrap();
    let times = livekit_testkit::probe::video_frame_times(&recordings[0]).unwrap();
    let video = times.last().unwrap() - times[0];
    let audio = samples.len() as f64 / 48_000.0;
    eprintln!("video {video:.2} s, audio {audio:.2} s");
    assert!(video > 8.0, "video {video} s");
    assert!(
        (audio - video).abs() < 0.5,
        "audio {audio} s, video {video} s"
    );
    let marks: String = samples
        .chunks_exact(4_800)
        .map(
            |part| match livekit_testkit::pulse::tone_amplitude(part, 48_000, 1000.0) {
                l if l > 0.08 => 'T',
                l if l < 0.005 => '.',
                _ => '~',
            },
        )
        .collect();
    eprintln!("1 kHz per 100 ms: {marks}");
    let tone = "T".repeat(10);
    let silence = ".".repeat(10);
    let first = marks.find(&tone).expect("the tone before");
    let gap = first + marks[first..].find(&silence).expect("silence while lost");
    assert!(
        marks[gap..].contains(&tone),
        "the tone after it came back: {marks}"
    );
}
