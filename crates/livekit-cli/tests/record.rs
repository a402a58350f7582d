//! `livekit compose SCENE --record FILE` as a process: stopped by SIGINT, `--frames`,
//! `--timeout`, or killed (crash-safe files stay playable).

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use livekit_core::thread::spawn_named;
use livekit_testkit::probe::{decodes_cleanly, ffprobe, ffprobe_count};

fn scene(dir: &Path) -> std::path::PathBuf {
    let scene = dir.join("scene.toml");
    std::fs::write(
        &scene,
        "[canvas]\nwidth = 320\nheight = 180\nfps = 30\nbackground = \"#0000ff\"\n\n\
         [[layer]]\nsource = { color = \"#ff0000\" }\nrect = [20, 20, 100, 50]\n",
    )
    .unwrap();
    scene
}

/// Starts a recording and returns once it says it is recording, with the time it said so. The
/// rest of its stderr is read on a thread (so the pipe never fills or closes early).
fn start(scene: &Path, out: &Path, extra: &[&str]) -> (Child, Instant) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_livekit"))
        .args([
            "compose",
            scene.to_str().unwrap(),
            "--backend",
            "cpu",
            "--record",
        ])
        .arg(out)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.starts_with("recording "), "{line}");
    let now = Instant::now();
    spawn_named("livekit.test.stderr", move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        if !rest.is_empty() {
            eprint!("{rest}");
        }
    })
    .unwrap();
    (child, now)
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn stdout(child: &mut Child) -> String {
    let mut text = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[test]
fn sigint_stops_and_finalizes_the_mp4() {
    let dir = tempfile::tempdir().unwrap();
    let scene = scene(dir.path());
    let out = dir.path().join("live.mp4");
    let (mut child, started) = start(&scene, &out, &[]);
    std::thread::sleep(Duration::from_secs(2));
    signal(&child, "INT");
    let elapsed = started.elapsed().as_secs_f64();
    let status = child.wait().unwrap();
    let printed = stdout(&mut child);
    assert!(status.success(), "{status}");
    assert!(printed.starts_with("recorded "), "{printed}");
    assert!(
        printed.trim_end().ends_with("stopped by Ctrl-C)"),
        "{printed}"
    );
    assert_eq!(printed.lines().count(), 1);
    decodes_cleanly(&out).unwrap();
    let probe = ffprobe(&out).unwrap();
    assert_eq!(probe.video().unwrap().codec_name, "h264");
    assert_eq!(probe.video().unwrap().width, Some(320));
    // The documented silent track.
    assert_eq!(probe.audio().unwrap().codec_name, "aac");
    let duration = probe.duration();
    assert!(
        duration > elapsed - 0.6 && duration < elapsed + 0.2,
        "recorded {duration} s in {elapsed} s"
    );
}

/// A service manager stops jobs with SIGTERM: the file is finalized the same way, and the line
/// says what stopped it.
#[test]
fn sigterm_stops_and_finalizes_the_mkv() {
    let dir = tempfile::tempdir().unwrap();
    let scene = scene(dir.path());
    let out = dir.path().join("live.mkv");
    let (mut child, _) = start(&scene, &out, &[]);
    std::thread::sleep(Duration::from_secs(2));
    signal(&child, "TERM");
    let status = child.wait().unwrap();
    let printed = stdout(&mut child);
    assert!(status.success(), "{status}");
    assert!(
        printed.trim_end().ends_with("stopped by SIGTERM)"),
        "{printed}"
    );
    decodes_cleanly(&out).unwrap();
    assert!(ffprobe(&out).unwrap().duration() > 1.0);
}

#[test]
fn sigkill_leaves_a_playable_file_in_crash_safe_mode() {
    let dir = tempfile::tempdir().unwrap();
    let scene = scene(dir.path());
    for (name, extra) in [
        ("killed.mp4", &["--crash-safe"][..]),
        ("killed.mkv", &[][..]),
    ] {
        let out = dir.path().join(name);
        let (mut child, _) = start(&scene, &out, extra);
        std::thread::sleep(Duration::from_secs(3));
        signal(&child, "KILL");
        let status = child.wait().unwrap();
        assert!(!status.success());
        decodes_cleanly(&out).unwrap();
        let probe = ffprobe_count(&out).unwrap();
        let frames = probe.video().unwrap().nb_read_frames.unwrap();
        // At least the first second (fragments and clusters are written each second).
        assert!(frames >= 30.0, "{name}: {frames} frames");
        assert!(probe.audio().is_some(), "{name}");
        // The file says how long it is: what reached it (the MKV's reserved duration is kept
        // current as its clusters are written). The audio written with the last video frames
        // may run up to the encoder's reordering delay (a few frames) past them.
        let duration = probe.duration();
        let held = frames / 30.0;
        assert!(
            duration >= held - 0.1 && duration <= held + 0.3,
            "{name}: duration {duration} s for {frames} frames"
        );
    }
}

#[test]
fn frames_and_timeout_end_the_recording_by_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let scene = scene(dir.path());
    let out = dir.path().join("fifteen.flv");
    let (mut child, _) = start(&scene, &out, &["--frames", "15", "--no-audio"]);
    assert!(child.wait().unwrap().success());
    assert!(stdout(&mut child).contains("(15 frames,"));
    let probe = ffprobe_count(&out).unwrap();
    assert_eq!(probe.video().unwrap().nb_read_frames, Some(15.0));
    assert!(probe.audio().is_none());

    let out = dir.path().join("second.mov");
    let (mut child, _) = start(&scene, &out, &["--timeout", "1"]);
    assert!(child.wait().unwrap().success());
    assert!(
        stdout(&mut child)
            .trim_end()
            .ends_with("stopped at --timeout)")
    );
    let duration = ffprobe(&out).unwrap().duration();
    assert!((duration - 1.0).abs() < 0.2, "{duration}");
}

/// `--size` scales the encoded canvas (the scene keeps its layout), `--fps` replaces the
/// scene's rate.
#[test]
fn size_and_fps_set_what_compose_records() {
    let dir = tempfile::tempdir().unwrap();
    let scene = scene(dir.path());
    let out = dir.path().join("sized.mkv");
    let (mut child, _) = start(
        &scene,
        &out,
        &[
            "--size",
            "640x360",
            "--fps",
            "10",
            "--frames",
            "20",
            "--no-audio",
        ],
    );
    assert!(child.wait().unwrap().success());
    let said = stdout(&mut child);
    let probe = ffprobe_count(&out).unwrap();
    let video = probe.video().unwrap();
    assert_eq!(
        (video.width, video.height),
        (Some(640), Some(360)),
        "{said}"
    );
    assert_eq!(video.nb_read_frames, Some(20.0));
    // 20 frames at 10 fps: 2 s (at the scene's 30 fps it would be 0.67 s).
    assert!((probe.duration() - 2.0).abs() < 0.3, "{}", probe.duration());
}

#[test]
fn bad_record_paths_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let scene = scene(dir.path());
    let run = |out: &Path| {
        Command::new(env!("CARGO_BIN_EXE_livekit"))
            .args([
                "compose",
                scene.to_str().unwrap(),
                "--backend",
                "cpu",
                "--record",
            ])
            .arg(out)
            .output()
            .unwrap()
    };
    let missing = dir.path().join("no/such/dir/out.mp4");
    let output = run(&missing);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        format!(
            "livekit: error: recording file {}: folder {} does not exist",
            missing.display(),
            missing.parent().unwrap().display()
        )
    );
    let avi = dir.path().join("out.avi");
    let output = run(&avi);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        format!(
            "livekit: error: recording file {}: unknown container extension \"avi\" (use .mp4, .m4v, .mkv, .mov or .flv)",
            avi.display()
        )
    );
    // A folder is named as one, not as a file without extension.
    let output = run(dir.path());
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        format!(
            "livekit: error: recording file {}: is a folder (give a file name, such as {})",
            dir.path().display(),
            dir.path().join("show.mp4").display()
        )
    );
}

/// Options that would do nothing are refused (exit 2), naming them; a bit rate of 0 is a bad
/// argument, not a failed encoder.
#[test]
fn options_without_effect_and_bad_bit_rates_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let scene = scene(dir.path());
    let scene = scene.to_str().unwrap();
    let record = dir.path().join("r.mp4");
    let record = record.to_str().unwrap();
    let cases: [(&[&str], &str); 9] = [
        (
            &["--record", record, "--kbps", "0"],
            "invalid value '0' for '--kbps <KBPS>': 0 is not in 50..=100000",
        ),
        (
            &["--timeout", "3"],
            "--timeout goes with --record, --stream, --virtual-camera or --preview (without --record, --stream, --virtual-camera or --preview compose writes PNGs)",
        ),
        (
            &["--kbps", "3000"],
            "--kbps goes with --record or --stream (without --record, --stream, --virtual-camera or --preview compose writes PNGs)",
        ),
        (&["--no-audio"], "--no-audio goes with --record or --stream"),
        (
            &["--encoder", "x264"],
            "--encoder goes with --record or --stream",
        ),
        (
            &["--record", record, "--out", "pngs"],
            "--out is the PNG folder: it does not go with --record, --stream, --virtual-camera or --preview",
        ),
        (
            &["--virtual-camera", "/dev/null", "--kbps", "3000"],
            "--kbps goes with --record or --stream (a virtual camera or a preview encodes nothing)",
        ),
        (
            &["--size", "640x360"],
            "--size goes with --record or --stream (without --record, --stream, --virtual-camera or --preview compose writes PNGs)",
        ),
        (
            &["--record", record, "--size", "641x360"],
            "invalid value '641x360' for '--size <WxH>': 641x360: width and height must be even",
        ),
    ];
    for (extra, expected) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_livekit"))
            .args(["compose", scene, "--backend", "cpu"])
            .args(extra)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{extra:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{extra:?}: {stderr}");
        assert!(
            stderr.starts_with(&format!("livekit: error: {expected}")),
            "{extra:?}: {stderr}"
        );
    }
    assert!(!dir.path().join("r.mp4").exists());
    assert!(!dir.path().join("pngs").exists());
}

/// `-q` hides the "recording to ..." note; the result line stays. A 1x1 canvas is encoded
/// 2x2, and the result line says so.
#[test]
fn quiet_recording_prints_only_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("tiny.toml");
    std::fs::write(&scene, "[canvas]\nwidth = 1\nheight = 1\n").unwrap();
    let out = dir.path().join("tiny.mp4");
    let output = Command::new(env!("CARGO_BIN_EXE_livekit"))
        .args(["-q", "compose", scene.to_str().unwrap(), "--backend", "cpu"])
        .args(["--frames", "3", "--record", out.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(stderr, "");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("recorded "), "{stdout}");
    assert!(stdout.contains("(MP4, 2x2, "), "{stdout}");
    let video = ffprobe(&out).unwrap();
    let video = video.video().unwrap();
    assert_eq!((video.width, video.height), (Some(2), Some(2)));
}

#[test]
fn a_full_disk_ends_the_recording_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    // Moving pictures at 3 Mb/s: the muxer's buffer soon has to reach the disk.
    let clip = dir.path().join("clip.mp4");
    livekit_testkit::media::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=30",
        "-t",
        "5",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        clip.to_str().unwrap(),
    ]);
    let scene = dir.path().join("movie.toml");
    std::fs::write(
        &scene,
        format!(
            "[canvas]\nwidth = 640\nheight = 360\nfps = 30\n\n[[layer]]\nsource = {{ file = {:?} }}\n",
            clip.to_str().unwrap()
        ),
    )
    .unwrap();
    // A "disk" that is always full.
    let out = dir.path().join("full.mkv");
    std::os::unix::fs::symlink("/dev/full", &out).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_livekit"))
        .args(["compose", scene.to_str().unwrap(), "--backend", "cpu"])
        .args(["--kbps", "3000", "--timeout", "30", "--record"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the recording went on (or hung) after the disk filled");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim().lines().last().unwrap(),
        format!(
            "livekit: error: recording file {}: cannot write: No space left on device",
            out.display()
        ),
        "{stderr}"
    );
}
