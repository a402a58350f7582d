//! `livekit-bench report` on a tiny real run: two benchmarks write their figures with `--json`
//! (one beside a reference tool that fails), one benchmark "failed" (its `.error` file, as
//! `./dev bench` leaves it), one figures file is broken; the report has the table rows with
//! numbers, says what was not measured in one line each, and its charts are PNGs of the right
//! size with something drawn on them.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::path::Path;
use std::process::{Command, Output, Stdio};

use livekit_testkit::media::{ClipSpec, clip};

fn bench(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_livekit-bench"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The table rows of `md` whose first cell starts with `figure`, split into cells.
fn rows<'a>(md: &'a str, figure: &str) -> Vec<Vec<&'a str>> {
    md.lines()
        .filter(|l| l.starts_with(&format!("| {figure}")))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect()
}

/// `12.3 fps` -> 12.3.
fn value(cell: &str) -> f64 {
    cell.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number in {cell:?}"))
}

#[test]
fn the_report_has_numbers_notes_and_charts() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let out = dir.path().join("out");
    std::fs::create_dir(&results).unwrap();
    // A reference tool that fails (here GStreamer's compositor, as if gst-launch were missing):
    // one line, and our figures all the same.
    let peers = dir.path().join("peers");
    std::fs::create_dir(&peers).unwrap();
    std::fs::write(
        peers.join("gst-compositor.sh"),
        "echo 'gst-launch-1.0: not found' >&2\nexit 127\n",
    )
    .unwrap();
    let printed = bench(&[
        "compositor",
        "--backend",
        "cpu",
        "--layers",
        "1,2",
        "--frames",
        "2",
        "--runs",
        "2",
        "--compare",
        "--peers",
        arg(&peers),
        "--json",
        arg(&results.join("compositor-cpu.json")),
    ]);
    let stdout = String::from_utf8_lossy(&printed.stdout);
    assert!(
        stdout.contains("gstreamer compositor: not measured (")
            && stdout.ends_with("\n")
            && stdout.lines().last().unwrap().starts_with("fps="),
        "{stdout}"
    );
    let media = dir.path().join("clip.mp4");
    clip(&media, &ClipSpec::default()); // 2 s at 30 fps
    bench(&[
        "decode",
        arg(&media),
        "--json",
        arg(&results.join("decode.json")),
    ]);
    std::fs::write(
        results.join("stream.error"),
        "livekit: error: bench stream: the livekit program was not found next to livekit-bench\n",
    )
    .unwrap();
    std::fs::write(results.join("broken.json"), "{\"bench\": ").unwrap();
    let csv = dir.path().join("soak.csv");
    std::fs::write(
        &csv,
        "seconds,resident_mb,threads,descriptors\n10,250.5,29,14\n20,251.0,29,14\n30,251.2,29,14\n",
    )
    .unwrap();
    let printed = bench(&[
        "report",
        "--from",
        arg(&results),
        "--out",
        arg(&out),
        "--soak-csv",
        arg(&csv),
        "--soak-csv-about",
        "a test machine, 2026-12-04",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&printed.stdout).trim(),
        format!("wrote {}", out.join("report.md").display())
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();

    // The machine, and what this machine could not measure.
    let machine = md.lines().find(|l| l.starts_with("Machine: ")).unwrap();
    assert!(
        machine.contains(" cores, ") && machine.contains(" build."),
        "{machine}"
    );
    assert!(
        md.contains("- The compositor on a real GPU: not measured (no GPU machine was available).")
            || machine.contains("GPU: ")
    );
    assert!(md.contains(
        "- NVENC (hardware H.264 encoding): not measured (no GPU machine was available)."
    ));

    // Each layer count of the CPU backend: a positive median of 2 runs with its spread.
    let fps = rows(&md, "fps (higher is better)");
    assert_eq!(fps.len(), 2, "{md}");
    for (row, layers) in fps.iter().zip(["1", "2"]) {
        assert_eq!(row[1], layers, "{row:?}");
        assert_eq!(row[2], "livekit, CPU backend", "{row:?}");
        assert!(value(row[3]) > 0.0 && row[3].ends_with(" fps"), "{row:?}");
        let (low, high) = row[4].split_once('-').unwrap();
        let (low, high): (f64, f64) = (low.parse().unwrap(), high.parse().unwrap());
        assert!(low <= value(row[3]) && value(row[3]) <= high, "{row:?}");
        assert_eq!(row[5], "2", "{row:?}");
    }
    // Decoding: ours beside ffmpeg's, with the ratio on our row.
    let decode = rows(&md, "frames a second (higher is better)");
    assert_eq!(decode.len(), 2, "{md}");
    assert_eq!(decode[0][2], "livekit");
    assert_eq!(decode[1][2], "ffmpeg -benchmark");
    assert!(value(decode[0][3]) > 0.0 && value(decode[1][3]) > 0.0);
    // The ratio is of the medians themselves; the table shows them to 3 figures, so the ratio
    // of what is shown may differ in its last digit.
    let ratio = value(decode[0][3]) / value(decode[1][3]);
    let shown: f64 = decode[0][6]
        .strip_suffix("x ffmpeg -benchmark")
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("{:?}", decode[0]));
    assert!(
        (shown - ratio).abs() <= 0.01 + ratio * 0.01,
        "{shown} against {ratio} from the rounded medians: {:?}",
        decode[0]
    );

    // What did not run or could not be read: one line each, the run goes on.
    assert!(
        md.contains("- stream: not measured (bench stream: the livekit program was not found next to livekit-bench)"),
        "{md}"
    );
    assert!(md.contains("- broken.json: not read ("), "{md}");
    let gstreamer = md
        .lines()
        .find(|l| l.starts_with("- gstreamer compositor: not measured ("))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(
        gstreamer.contains("gst-launch-1.0: not found"),
        "{gstreamer}"
    );
    assert!(md.contains("## latency\n\nGlass-to-player"), "{md}");
    assert!(md.contains("Not run in this report."), "{md}");

    // Charts: every image the report shows is a PNG of the charts' size with a plot on it,
    // and says the machine and the date below it.
    let charts: Vec<&str> = md
        .lines()
        .filter_map(|l| l.strip_prefix("![")?.split_once("](")?.1.strip_suffix(')'))
        .collect();
    assert_eq!(
        charts,
        ["compositor-fps.png", "soak-memory-long.png"],
        "{md}"
    );
    for chart in charts {
        let image = image::open(out.join(chart)).unwrap().to_rgb8();
        assert_eq!(image.dimensions(), (960, 540), "{chart}");
        let drawn = image.pixels().filter(|p| p.0 != [255, 255, 255]).count();
        let share = drawn as f64 / (960.0 * 540.0);
        assert!(
            (0.02..0.6).contains(&share),
            "{chart}: {share:.3} of it drawn"
        );
    }
    // The first line's colour (blue) is on the compositor chart: a line was drawn.
    let image = image::open(out.join("compositor-fps.png"))
        .unwrap()
        .to_rgb8();
    assert!(image.pixels().any(|p| p.0 == [31, 119, 180]));
    let caption = md.lines().find(|l| l.starts_with("_Compositor: ")).unwrap();
    assert!(
        caption.contains(" cores, ") && caption.contains(" GMT"),
        "{caption}"
    );
    assert!(
        md.contains(
            "_Soak: resident memory over time (the long run): a test machine, 2026-12-04._"
        )
    );
}

#[test]
fn a_report_without_figures_is_one_line_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing");
    let out = Command::new(env!("CARGO_BIN_EXE_livekit-bench"))
        .args(["report", "--from", arg(&missing), "--out", arg(dir.path())])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "livekit: error: --from {}: no such folder (run the benchmarks with --json FILE first, or ./dev bench)\n",
            missing.display()
        )
    );
}
