//! `--print-command` prints an ffmpeg command line that works when pasted into a shell (with
//! the key put back in place of `<redacted>`): each printed command is run with bash against a
//! local nginx-rtmp and what arrived is checked with ffprobe.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::path::Path;
use std::process::{Command, Stdio};

use livekit_testkit::NginxRtmp;
use livekit_testkit::media::{ClipSpec, clip};
use livekit_testkit::probe::ffprobe;

/// The printed command for `args` (run in `cwd`), checked for the key.
fn printed(cwd: &Path, args: &[&str], key: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_livekit"))
        .args(args)
        .arg("--print-command")
        .current_dir(cwd)
        .env("XDG_CONFIG_HOME", cwd.join("xdg"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    assert!(!stdout.contains(key) && !stderr.contains(key), "{stdout}");
    assert!(stdout.contains("<redacted>"), "{stdout}");
    stdout
}

/// Runs `command` with bash in `cwd`, the key pasted in as a user would, for at most
/// `seconds`.
fn paste(cwd: &Path, command: &str, key: &str, seconds: u32) {
    let command = command.replace("<redacted>", key);
    let out = Command::new("timeout")
        .args(["-s", "INT", &seconds.to_string(), "bash", "-c"])
        .arg(&command)
        .current_dir(cwd)
        .output()
        .unwrap();
    // 124: stopped by the timeout (a live source); ffmpeg exits 255 on SIGINT.
    let code = out.status.code();
    assert!(
        matches!(code, Some(0 | 124 | 255)),
        "{command}: {code:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn printed_commands_run_in_a_shell_and_stream() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    // A name a shell would break on.
    let a = cwd.join("my clip's (1).mp4");
    let b = cwd.join("b.mp4");
    for (path, width) in [(&a, 320), (&b, 480)] {
        clip(
            path,
            &ClipSpec {
                seconds: 2.0,
                width,
                height: 240,
                ..ClipSpec::default()
            },
        );
    }
    let server = NginxRtmp::start();
    let a = a.to_str().unwrap();

    // stream-file, re-encoded: the site's size and codecs.
    let key = "PRINTKEYFILE";
    let command = printed(cwd, &["stream-file", a, &server.url(key)], key);
    paste(cwd, &command, key, 20);
    let got = ffprobe(&server.recordings(key)[0]).unwrap();
    let video = got.video().unwrap();
    assert_eq!(video.codec_name, "h264");
    assert_eq!((video.width, video.height), (Some(320), Some(240)));
    assert_eq!(got.audio().unwrap().codec_name, "aac");
    assert!((got.duration() - 2.0).abs() < 0.5, "{} s", got.duration());

    // stream-file --copy.
    let key = "PRINTKEYCOPY";
    let command = printed(cwd, &["stream-file", a, &server.url(key), "--copy"], key);
    paste(cwd, &command, key, 20);
    let got = ffprobe(&server.recordings(key)[0]).unwrap();
    assert_eq!(got.video().unwrap().codec_name, "h264");

    // stream-files: two lines (the concat list, then ffmpeg), both files in one stream.
    let key = "PRINTKEYLIST";
    let command = printed(
        cwd,
        &["stream-files", ".", &server.url(key), "--glob", "*.mp4"],
        key,
    );
    assert_eq!(command.trim().lines().count(), 2, "{command}");
    paste(cwd, command.trim(), key, 30);
    let got = ffprobe(&server.recordings(key)[0]).unwrap();
    assert!((got.duration() - 4.0).abs() < 0.7, "{} s", got.duration());

    // stream-camera with a virtual camera (a filter graph), stopped after a few seconds.
    let key = "PRINTKEYCAM";
    let command = printed(
        cwd,
        &[
            "stream-camera",
            &server.url(key),
            "--device",
            "lavfi:testsrc2=size=320x240:rate=15",
        ],
        key,
    );
    assert!(
        command.contains("-f lavfi -i testsrc2=size=320x240:rate=15"),
        "{command}"
    );
    paste(cwd, &command, key, 4);
    let got = ffprobe(&server.recordings(key)[0]).unwrap();
    assert_eq!(got.video().unwrap().codec_name, "h264");
    assert!(got.duration() > 1.0, "{} s", got.duration());

    // A song: the job sends a black picture with it, and so does the printed command; a
    // --timeout is its -t.
    let song = cwd.join("song.mp3");
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "sine=d=3"])
        .arg(&song)
        .status()
        .unwrap();
    assert!(made.success());
    let key = "PRINTKEYSONG";
    let command = printed(
        cwd,
        &[
            "stream-file",
            song.to_str().unwrap(),
            &server.url(key),
            "--timeout",
            "2",
        ],
        key,
    );
    assert!(command.contains("color=c=black:s=1280x720"), "{command}");
    assert!(command.contains(" -t 2 "), "{command}");
    paste(cwd, &command, key, 20);
    let got = ffprobe(&server.recordings(key)[0]).unwrap();
    assert_eq!(got.video().unwrap().width, Some(1280));
    assert_eq!(got.audio().unwrap().codec_name, "aac");
    assert!((got.duration() - 2.0).abs() < 0.5, "{} s", got.duration());
}

/// An SRT destination's stream id (its key) and passphrase are in the printed URL, redacted.
#[test]
fn printed_srt_urls_carry_their_options_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let file = cwd.join("clip.mp4");
    clip(&file, &ClipSpec::default());
    std::fs::create_dir_all(cwd.join("xdg/livekit")).unwrap();
    std::fs::write(
        cwd.join("xdg/livekit/livekit.toml"),
        "[sites.mysrt]\nurl = \"srt://127.0.0.1:9000\"\nkey = \"SRTKEY-4242\"\n",
    )
    .unwrap();
    let command = printed(
        cwd,
        &["stream-file", file.to_str().unwrap(), "mysrt"],
        "SRTKEY-4242",
    );
    assert!(
        command.contains("'srt://127.0.0.1:9000?mode=caller&latency=200000&streamid=<redacted>'"),
        "{command}"
    );
    // --record: the file is one more output of FFmpeg's tee.
    let command = printed(
        cwd,
        &[
            "stream-file",
            file.to_str().unwrap(),
            "mysrt",
            "--record",
            "kept.mkv",
        ],
        "SRTKEY-4242",
    );
    assert!(
        command.contains(" -f tee '[f=mpegts:onfail=ignore]srt://"),
        "{command}"
    );
    assert!(
        command.trim_end().ends_with("|[f=matroska]kept.mkv'"),
        "{command}"
    );
}
