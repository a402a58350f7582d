//! `livekit bench ipc` (`livekit-bench ipc`): two processes, our figures and GStreamer's from the same run. Only
//! that it runs and reports is checked here; the figures themselves are for people.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::process::Command;

/// The number after `key=` on its own line.
fn figure(stdout: &str, key: &str) -> f64 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in:\n{stdout}"))
        .parse()
        .unwrap()
}

#[test]
fn bench_ipc_reports_fps_latency_and_the_gstreamer_reference() {
    let out = Command::new(env!("CARGO_BIN_EXE_livekit-bench"))
        .args(["ipc", "--frames", "30", "--runs", "2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with(
            "livekit IPC: 1920x1080 rgba8 frames (8.3 MB each) from a writer process to a reader process\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("  run 2, as fast as possible: writer 30 frames in "),
        "{stdout}"
    );
    assert!(stdout.contains("\n  at 60 fps (120 frames, "), "{stdout}");
    assert!(figure(&stdout, "fps") > 0.0);
    let median = figure(&stdout, "latency_median_us");
    assert!(median > 0.0 && median <= figure(&stdout, "latency_p99_us"));
    assert!(
        stdout.contains("  run 2, gstreamer shmsink -> shmsrc: 30 buffers received in "),
        "the reference ran (gstreamer1.0-plugins-bad installed by ./dev setup): {stdout}"
    );
    assert!(figure(&stdout, "gstreamer_fps") > 0.0);
    assert!(stdout.contains("\nratio="), "{stdout}");
}
