//! The `livekit` binary, run as a process.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::process::{Command, Output};

/// One `livekit` at a time: these jobs render and encode in real time, and their timing
/// assertions (evenly spaced frames, video and audio of one length) are about the job, not
/// about how many others share the two cores with it.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn livekit(args: &[&str]) -> Output {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Command::new(env!("CARGO_BIN_EXE_livekit"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_and_help() {
    let out = livekit(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        format!("livekit {}", env!("CARGO_PKG_VERSION"))
    );
    let out = livekit(&["--help"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("demo"), "{}", text(&out.stdout));
}

/// `livekit demo` for `seconds`, without a preview window, on the CPU backend.
fn demo(out_dir: &std::path::Path, seconds: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "demo",
        "--out",
        out_dir.to_str().unwrap(),
        "--seconds",
        seconds,
        "--no-preview",
        "--backend",
        "cpu",
    ];
    args.extend_from_slice(extra);
    livekit(&args)
}

fn close(a: [u8; 4], b: [u8; 4], tolerance: u8) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= tolerance)
}

#[test]
fn demo_records_an_mp4_and_writes_one_composed_frame() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = demo(&out_dir, "2", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let (mp4, png) = (out_dir.join("demo.mp4"), out_dir.join("demo.png"));
    assert!(stdout.contains(&mp4.display().to_string()), "{stdout}");
    assert!(stdout.contains(&png.display().to_string()), "{stdout}");

    let probe = livekit_testkit::probe::ffprobe(&mp4).unwrap();
    let video = probe.video().unwrap();
    assert_eq!(
        (video.codec_name.as_str(), video.width, video.height),
        ("h264", Some(1280), Some(720))
    );
    assert_eq!(probe.audio().unwrap().codec_name, "aac");
    assert!(
        (1.5..=3.5).contains(&probe.duration()),
        "{} s",
        probe.duration()
    );
    livekit_testkit::probe::decodes_cleanly(&mp4).unwrap();

    // The frame: the bars where nothing covers them, the logo (with alpha) top right, the
    // caption's dark box top left.
    let image = image::open(&png).unwrap().into_rgba8();
    assert_eq!(image.dimensions(), (1280, 720));
    let bars = livekit_compositor::render_pattern(livekit_compositor::TestPattern::Bars, 1280, 720);
    let expected = bars.rgba_at(700, 300).unwrap();
    assert!(
        close(image.get_pixel(700, 300).0, expected, 2),
        "{:?} vs {expected:?}",
        image.get_pixel(700, 300)
    );
    // The logo's opaque orange ring (at (128, 10) of 256x256, drawn at 240x240 from (1000, 40)).
    assert!(
        close(image.get_pixel(1120, 50).0, [255, 140, 0, 255], 24),
        "{:?}",
        image.get_pixel(1120, 50)
    );
    // Its transparent corner shows the bars.
    let corner = bars.rgba_at(1001, 41).unwrap();
    assert!(
        close(image.get_pixel(1001, 41).0, corner, 2),
        "{:?}",
        image.get_pixel(1001, 41)
    );
    let caption = image.get_pixel(82, 44).0;
    assert!(caption[0] < 120 && caption[1] < 120, "{caption:?}");
}

/// The demo's first video frames are a frame apart (they were 11 µs apart when the tone's
/// first block reached the encoder first: the two sources counted time from different
/// moments). The GPU backend starts slowly enough to show it every time.
#[test]
fn demo_frames_are_evenly_spaced_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = livekit(&[
        "demo",
        "--out",
        out_dir.to_str().unwrap(),
        // Long enough for 10 frames even when the GPU backend (lavapipe on a busy machine)
        // takes half a second to give its first.
        "--seconds",
        "1",
        "--no-preview",
        "--backend",
        "gpu",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mp4 = out_dir.join("demo.mp4");
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v"])
        .args(["-show_entries", "packet=pts_time", "-of", "csv=p=0"])
        .arg(&mp4)
        .output()
        .unwrap();
    let mut times: Vec<f64> = text(&probe.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    times.sort_by(f64::total_cmp);
    assert!(times.len() >= 10, "{times:?}");
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        // A frame (33 ms) or more: a late frame is skipped, never squeezed in.
        assert!(gap >= 0.03, "{gap} s between frames: {times:?}");
    }
    // Video and audio last about as long.
    let probe = livekit_testkit::probe::ffprobe(&mp4).unwrap();
    let (video, audio) = (probe.video().unwrap(), probe.audio().unwrap());
    let (video, audio) = (video.duration.unwrap(), audio.duration.unwrap());
    assert!(
        (video - audio).abs() < 0.15,
        "video {video} s, audio {audio} s"
    );
}

#[test]
fn demo_streams_the_same_encode_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let server = livekit_testkit::NginxRtmp::start();
    let url = server.url("DEMOKEY");
    let out = demo(&dir.path().join("out"), "2", &["--stream", &url, "--yes"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!format!("{}{}", text(&out.stdout), text(&out.stderr)).contains("DEMOKEY"));
    let recordings = server.recordings("DEMOKEY");
    assert_eq!(recordings.len(), 1);
    let probe = livekit_testkit::probe::ffprobe(&recordings[0]).unwrap();
    assert_eq!(probe.video().unwrap().width, Some(1280));
    assert!(probe.audio().is_some());
}

#[test]
fn demo_with_a_missing_image_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = demo(&dir.path().join("out"), "1", &["--image", "nope.png"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("nope.png"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn bad_input_is_one_line_naming_it_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.png");
    let out = livekit(&[
        "demo",
        "--image",
        missing.to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        format!(
            "livekit: error: image file {}: no such file\n",
            missing.display()
        )
    );

    let junk = dir.path().join("junk.jpg");
    std::fs::write(&junk, b"\xff\xd8\xff\xe0\x00\x10JFIF\x00 and then nothing").unwrap();
    let out = livekit(&[
        "demo",
        "--image",
        junk.to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "livekit: error: image file {}: corrupt or truncated JPEG",
            junk.display()
        )),
        "{stderr}"
    );

    let out = livekit(&["no-such-command"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_output_folder_that_cannot_be_made_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, b"").unwrap();
    let out = demo(&blocker, "1", &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "livekit: error: {}: cannot create the folder",
            blocker.display()
        )),
        "{stderr}"
    );
}

/// `livekit devices | head -1`: a reader that goes away is no panic. The read end of the pipe
/// is closed before livekit writes anything.
#[test]
fn listing_into_a_closed_pipe_is_no_panic() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("livekit.toml");
    let out = livekit(&["config", "init", config.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for args in [
        vec!["devices"],
        vec!["--config", config.to_str().unwrap(), "config", "show"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_livekit"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            status.success() || status.signal() == Some(13),
            "{args:?}: {status}: {stderr}"
        );
    }
}

/// Every job takes `--timeout` (demo and preview: the same as their `--seconds`), and every
/// job that can go live takes `--yes`.
#[test]
fn every_job_takes_timeout_and_the_live_ones_yes() {
    let live = [
        "demo",
        "compose",
        "stream-file",
        "stream-files",
        "stream-screen",
        "stream-camera",
        "stream-microphone",
    ];
    for job in live.iter().chain(&["preview", "capture-screen"]) {
        let out = livekit(&[job, "--help"]);
        assert!(out.status.success(), "{job}");
        let help = text(&out.stdout);
        assert!(help.contains("--timeout"), "{job}: {help}");
        if live.contains(job) {
            assert!(help.contains("--yes"), "{job}: {help}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = livekit(&[
        "demo",
        "--out",
        out_dir.to_str().unwrap(),
        "--timeout",
        "0.5",
        "--no-preview",
        "--backend",
        "cpu",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}
