//! Each benchmark run as a process (`livekit-bench`, as `livekit bench` runs it): it runs and
//! reports, its picture or frame count is checked, and bad input is one line naming it with exit
//! code 2. The figures themselves are for people.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::path::Path;
use std::process::{Command, Output, Stdio};

use livekit_testkit::media::{ClipSpec, clip};

fn bench(args: &[&str]) -> Output {
    bench_in(Path::new("."), args)
}

fn bench_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_livekit-bench"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn bench_compositor_runs_the_reference_scene() {
    for backend in ["cpu", "gpu"] {
        let out = bench(&["compositor", "--frames", "3", "--backend", backend]);
        assert!(out.status.success(), "{backend}: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        let last = stdout.lines().last().unwrap();
        let fps: f64 = last.strip_prefix("fps=").unwrap().parse().unwrap();
        assert!(fps > 0.0, "{stdout}");
        assert!(
            stdout.starts_with(&format!("backend: {backend}: ")),
            "{stdout}"
        );
    }
}

#[test]
fn bench_decode_decodes_every_frame_ffmpeg_does() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    clip(&path, &ClipSpec::default()); // 2 s at 30 fps
    let out = bench(&["decode", path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ffmpeg -benchmark: 60 frames in "),
        "{stdout}"
    );
    assert!(stdout.contains("livekit: 60 frames in "), "{stdout}");
    assert!(stdout.contains("ratio="), "{stdout}");
    assert!(stdout.contains("cpu: ffmpeg "), "{stdout}");

    // A file without video is a clear error.
    let song = dir.path().join("song.wav");
    livekit_testkit::media::ffmpeg(&["-f", "lavfi", "-i", "sine=d=0.5", song.to_str().unwrap()]);
    let out = bench(&["decode", song.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        format!(
            "livekit: error: {}: no video stream to decode",
            song.display()
        )
    );
}

#[test]
fn bad_input_is_one_line_naming_it_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    std::fs::write(cwd.join("empty.mp4"), b"").unwrap();
    let cases: [(&[&str], &str); 3] = [
        (
            &["stream", "--destinations", "0"],
            "--destinations: each count must be 1 to 16",
        ),
        (
            &["compositor", "--frames", "0"],
            "invalid value '0' for '--frames <FRAMES>': 0 is not in 1..=100000",
        ),
        (
            &["decode", "empty.mp4"],
            "media file empty.mp4: the file is empty",
        ),
    ];
    let mut failures = Vec::new();
    for (args, want) in cases {
        let out = bench_in(cwd, args);
        let stderr = text(&out.stderr);
        if out.status.code() != Some(2) || stderr.trim_end() != format!("livekit: error: {want}") {
            failures.push(format!("{args:?} -> {:?}: {stderr}", out.status.code()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `stream` measures `livekit stream-file`: the `livekit` next to `livekit-bench`. Without it,
/// one line and exit code 2, before any work.
#[test]
fn bench_stream_without_livekit_next_to_it_says_so() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let lone = dir.path().join("livekit-bench");
    // A hard link: the same program, never opened for writing (a copy being written could not
    // be run while another test's process starts).
    std::fs::hard_link(env!("CARGO_BIN_EXE_livekit-bench"), &lone).unwrap();
    let out = Command::new(&lone)
        .args(["stream", "--no-ffmpeg", "--no-pylivestream"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(
            "livekit: error: bench stream: the livekit program was not found next to livekit-bench ("
        ) && stderr.ends_with("; build it: cargo build -p livekit-cli)\n"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

/// `--config FILE` is accepted as `livekit` accepts it (`livekit bench stream --config x.toml`
/// worked when the benchmarks were part of `livekit`): a file that can be read is ignored, one
/// that cannot is one line naming it with exit code 2.
#[test]
fn an_explicit_config_is_accepted_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    clip(&path, &ClipSpec::default());
    let config = dir.path().join("x.toml");
    std::fs::write(&config, "[defaults]\nfps = 30\n").unwrap();
    let (clip_path, config_path) = (path.to_str().unwrap(), config.to_str().unwrap());
    let out = bench(&["decode", clip_path, "--config", config_path]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ffmpeg -benchmark: 60 frames in "));
    let missing = dir.path().join("missing.toml");
    let folder = dir.path().to_str().unwrap();
    for (args, line) in [
        (
            vec!["--config", missing.to_str().unwrap(), "decode", clip_path],
            format!("{}: no such configuration file", missing.display()),
        ),
        (
            vec!["decode", clip_path, "--config", folder],
            format!("{folder}: is a folder, not a configuration file"),
        ),
    ] {
        let out = bench(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(text(&out.stderr), format!("livekit: error: {line}\n"));
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// `latency` reads back what it sent: a row per setting, each with figures for both tools.
#[test]
fn bench_latency_reads_its_stamps_back_over_rtmp() {
    let out = bench(&[
        "latency",
        "--seconds",
        "3",
        "--size",
        "640x360",
        "--via",
        "rtmp",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for settings in ["default", "low-latency"] {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(settings) && l.contains(" RTMP "))
            .unwrap_or_else(|| panic!("no {settings} RTMP row: {stdout}"));
        // "SETTINGS RTMP  P50 / P95 ms  P50 / P95 ms  RATIOx (N and M frames)"
        let numbers: Vec<f64> = row
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter_map(|w| w.parse().ok())
            .collect();
        assert_eq!(numbers.len(), 7, "{row}");
        let (ours_p50, ours_p95, theirs_p50) = (numbers[0], numbers[1], numbers[2]);
        assert!(ours_p50 > 0.0 && ours_p50 <= ours_p95, "{row}");
        assert!(theirs_p50 > 0.0, "{row}");
        assert!(
            numbers[5] >= 10.0 && numbers[6] >= 10.0,
            "frames read: {row}"
        );
    }
    let out = bench(&["latency", "--size", "320x240"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        "livekit: error: --size 320x240: at least 640 wide (the stamp row needs it)"
    );
}

/// `soak` for two minutes (what CI runs): memory levels off after the first minute, threads
/// and descriptors come back to their level after each restart of the third destination's
/// server, which reconnects each time, while the other two lose nothing.
#[test]
fn bench_soak_for_two_minutes_holds_its_level() {
    let out = bench(&[
        "soak",
        "--minutes",
        "2",
        "--restart-every",
        "40",
        "--sample-every",
        "10",
        "--size",
        "640x360",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let line = |start: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line {start:?}: {stdout}"))
            .to_owned()
    };
    // "memory: A MB at 60 s, B MB at the end (+X %, ..."
    let memory = line("memory: ");
    let growth: f64 = memory
        .split(" (")
        .nth(1)
        .and_then(|r| r.split(" %").next())
        .and_then(|x| x.parse().ok())
        .unwrap_or_else(|| panic!("{memory}"));
    assert!(growth < 10.0, "{memory}\n{stdout}");
    // "... before the first restart: T and D; before each later restart and at the end: T/D T/D"
    let levels = line("threads and descriptors before the first restart: ");
    let (first, later) = levels.split_once("; ").unwrap();
    let level = first.rsplit(": ").next().unwrap().replace(" and ", "/");
    let later: Vec<&str> = later.rsplit(": ").next().unwrap().split(' ').collect();
    assert_eq!(later.len(), 2, "{levels}");
    assert!(later.iter().all(|l| *l == level), "{levels}");
    assert_eq!(
        line("restarts: "),
        "restarts: 2; the restarted destination reconnected 2 times"
    );
    let stream = line("output stream: ");
    assert_eq!(
        stream.matches(": 0 packets dropped, 0 reconnects").count(),
        2,
        "{stream}"
    );
    assert!(line("recording: ").contains(" s of a "), "{stdout}");
    // "A/V sync: N flash and click pairs; ... drift D ms (goal under a frame, 33.3 ms)": the
    // file layer flashes and clicks once a second, so about 120 pairs in 2 minutes; the drift
    // is the trend of the sync error over the run, which a flash shown a frame late on a
    // loaded machine does not move (it once failed at 37.3 ms when the last flashes were).
    let sync = line("A/V sync: ");
    let pairs: usize = sync
        .trim_start_matches("A/V sync: ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{sync}"));
    assert!(pairs >= 100, "{sync}");
    let drift: f64 = sync
        .split("drift ")
        .nth(1)
        .and_then(|r| r.split(" ms").next())
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("{sync}"));
    assert!(drift < 1000.0 / 30.0, "{sync}\n{stdout}");
}

/// `webrtc` (a quick run: one pair of WHEP runs, 1 and 2 viewers, then HLS) reads its stamps
/// back in the browser: every run read stamped frames, its figures are printed beside their
/// goals and written as JSON. Needs the `livekit` next to `livekit-bench` (`cargo build -p
/// livekit-cli`), chromium and tests/browser's node_modules (`./dev setup`). The figures
/// themselves are not checked: a loaded machine may miss the goals.
#[test]
fn bench_webrtc_reads_its_stamps_back_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("webrtc.json");
    let out = bench(&[
        "webrtc",
        "--seconds",
        "2",
        "--runs",
        "1",
        "--viewers",
        "2",
        "--hls-behind",
        "3",
        "--backend",
        "cpu",
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    // "run N: WHAT  studio CPU C s in W s, latency p50 A / p95 B ms (F frames read, U unreadable)"
    let runs: Vec<&str> = stdout.lines().filter(|l| l.starts_with("run ")).collect();
    assert_eq!(runs.len(), 3, "{stdout}");
    for (run, what) in runs.iter().zip([
        "WHEP, 1 viewer",
        "WHEP, 2 viewers",
        "HLS, hls.js 3 segments behind",
    ]) {
        assert!(run.contains(what), "{run}");
        let (_, counts) = run.rsplit_once(" (").unwrap();
        let numbers: Vec<u64> = counts
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect();
        let (read, unreadable) = (numbers[0], numbers[1]);
        // 2 s at 30 fps: a headless browser on a busy machine presents fewer, but most.
        assert!(read >= 20, "{run}");
        assert!(unreadable * 10 <= read, "{run}");
    }
    for start in [
        "WHEP, 1 viewer ",
        "WHEP, 2 viewers ",
        "HLS, hls.js 3 segments behind ",
        "studio CPU, 2 viewers / 1 ",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line {start:?}: {stdout}"));
        assert!(line.contains(" goal "), "{line}");
    }
    assert!(stdout.contains("reference: none"), "{stdout}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(results["bench"], "webrtc");
    let figures = results["figures"].as_array().unwrap();
    for metric in [
        "WHEP p50 latency",
        "HLS p50 latency",
        "studio CPU, 2 viewers / 1 viewer",
    ] {
        let ours = figures
            .iter()
            .find(|f| f["metric"] == metric && f["tool"] == "livekit")
            .unwrap_or_else(|| panic!("no {metric}: {results}"));
        assert!(ours["values"][0].as_f64().unwrap() > 0.0, "{ours}");
        assert!(
            figures
                .iter()
                .any(|f| f["metric"] == metric && f["tool"] == "goal"),
            "no goal for {metric}"
        );
    }

    let out = bench(&["webrtc", "--browser", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with(&format!(
            "livekit: error: bench webrtc: {} has no webrtc_bench.mjs",
            dir.path().display()
        )),
        "{}",
        text(&out.stderr)
    );
}
