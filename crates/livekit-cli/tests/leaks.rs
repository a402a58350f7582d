//! A short stream job under valgrind's memcheck: a file re-encoded, streamed to a local
//! nginx-rtmp and recorded. No memory is definitely lost, and memcheck finds no invalid read,
//! write or use of uninitialised memory, in our code or in what it drives (FFmpeg, x264).

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::process::{Command, Stdio};

use livekit_testkit::NginxRtmp;
use livekit_testkit::media::{ClipSpec, clip};
use livekit_testkit::probe::ffprobe;

#[test]
fn a_stream_and_record_job_under_memcheck_loses_no_memory() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("clip.mp4");
    clip(
        &input,
        &ClipSpec {
            seconds: 3.0,
            ..ClipSpec::default()
        },
    );
    let server = NginxRtmp::start();
    let key = "leak-check-key-7e7e7e";
    let recording = dir.path().join("out.mkv");
    let log = dir.path().join("memcheck.log");
    let out = Command::new("valgrind")
        .args([
            "--leak-check=full",
            "--show-leak-kinds=definite",
            "--errors-for-leak-kinds=definite",
            "--error-exitcode=99",
            "--num-callers=30",
        ])
        .arg(format!("--log-file={}", log.display()))
        .arg(env!("CARGO_BIN_EXE_livekit"))
        .args(["stream-file", "--yes", "--readrate", "0", "--record"])
        .arg(&recording)
        .arg(&input)
        .arg(server.url(key))
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("valgrind (./dev setup installs it)");
    let report = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        out.status.success(),
        "exit {:?}\n{}\nmemcheck:\n{report}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.contains("ERROR SUMMARY: 0 errors"),
        "memcheck:\n{report}"
    );
    assert!(
        report.contains("definitely lost: 0 bytes")
            || report.contains("All heap blocks were freed"),
        "memcheck:\n{report}"
    );
    // The job did its work under memcheck: the server and the file have the whole clip.
    let recorded = ffprobe(&recording).unwrap();
    assert!(recorded.duration() > 2.5, "{}", recorded.duration());
    assert!(!server.recordings(key).is_empty(), "{}", server.log());
}
