//! `livekit bench ...` runs the `livekit-bench` program found next to `livekit`, with the rest
//! of the command line unchanged, and ends with its exit code; without it, one line and exit
//! code 2. A stand-in script plays `livekit-bench` (the benchmarks themselves are tested in
//! the livekit-bench crate). One test in this file: it writes a program and runs it, which
//! another test's process starting at that moment could make fail ("text file busy").

#![cfg(unix)]
#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn run(livekit: &Path, args: &[&str]) -> Output {
    Command::new(livekit)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn bench_runs_livekit_bench_next_to_livekit_with_the_arguments_unchanged() {
    let out = run(Path::new(env!("CARGO_BIN_EXE_livekit")), &["--help"]);
    assert!(
        text(&out.stdout).contains("\n  bench "),
        "{}",
        text(&out.stdout)
    );

    // `livekit` alone in a folder (a hard link: the same program).
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let livekit = dir.path().join("livekit");
    if std::fs::hard_link(env!("CARGO_BIN_EXE_livekit"), &livekit).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_livekit"), &livekit).unwrap();
    }
    let out = run(&livekit, &["bench", "compositor", "--frames", "3"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "livekit: bench: the livekit-bench program was not found next to livekit (build it: cargo build -p livekit-bench)\n"
    );
    assert!(out.stdout.is_empty());

    // A stand-in that prints its arguments, one a line, and exits with 3.
    let stand_in = dir.path().join("livekit-bench");
    std::fs::write(
        &stand_in,
        "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (args, forwarded) in [
        (
            &["bench", "stream", "--help", "--destinations", "1,3", "-x"][..],
            "stream\n--help\n--destinations\n1,3\n-x\n",
        ),
        (&["bench", "--help"], "--help\n"),
        (&["bench", "--version"], "--version\n"),
        (&["bench"], ""),
        (
            &["bench", "compositor", "--frames", "-1", "a b"],
            "compositor\n--frames\n-1\na b\n",
        ),
        // livekit's own -v / -q, given before `bench`, go first.
        (
            &["-vv", "bench", "decode", "-v", "f.mp4"],
            "-v\n-v\ndecode\n-v\nf.mp4\n",
        ),
        (&["-q", "bench", "ipc"], "-q\nipc\n"),
    ] {
        let out = run(&livekit, args);
        assert_eq!(
            out.status.code(),
            Some(3),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), forwarded, "{args:?}");
    }
}
