//! Bad input for every argument that takes a path, a URL, a site or a number: each gives ONE
//! line on stderr naming the thing (`livekit: error: ...`) and exit code 2, before anything
//! goes live. Nothing here needs a server: the destination is a closed local port, and every
//! case must fail before connecting.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::path::Path;
use std::process::{Command, Output, Stdio};

use livekit_testkit::media::{ClipSpec, clip};

const SITE: &str = "rtmp://127.0.0.1:1/live/secret-key-123";
/// A display number nothing listens on.
const NO_DISPLAY: &str = ":7391";

fn livekit(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_livekit"))
        .args(args)
        .current_dir(cwd)
        .env("XDG_CONFIG_HOME", cwd.join("xdg"))
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// How a case's stderr line must look.
enum Said {
    /// Exactly this line.
    Exactly(String),
    /// A line starting with this (the rest comes from the OS or FFmpeg).
    StartsWith(String),
}

fn exactly(line: impl Into<String>) -> Said {
    Said::Exactly(line.into())
}

fn starts(line: impl Into<String>) -> Said {
    Said::StartsWith(line.into())
}

#[test]
fn every_bad_argument_is_one_line_naming_it_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    clip(
        &cwd.join("ok.mp4"),
        &ClipSpec {
            seconds: 1.0,
            ..ClipSpec::default()
        },
    );
    std::fs::write(cwd.join("junk.mp4"), b"this is not a video").unwrap();
    std::fs::write(cwd.join("empty.mp4"), b"").unwrap();
    std::fs::write(cwd.join("junk.png"), b"this is not a picture").unwrap();
    std::fs::write(cwd.join("junk.toml"), b"this is = = not toml").unwrap();
    std::fs::write(cwd.join("bad-field.toml"), b"[defaults]\nfps = \"fast\"\n").unwrap();
    std::fs::write(cwd.join("bad-range.toml"), b"[defaults]\nfps = 1000\n").unwrap();
    std::fs::create_dir(cwd.join("folder")).unwrap();
    let secret = "rtmp://127.0.0.1:1/live/<redacted>";

    let cases: Vec<(Vec<&str>, Said)> = vec![
        // Numbers.
        (
            vec!["stream-file", "ok.mp4", SITE, "--yes", "--timeout", "abc"],
            exactly(
                "invalid value 'abc' for '--timeout <SECONDS>': \"abc\" is not a number of seconds",
            ),
        ),
        (
            vec!["stream-file", "ok.mp4", SITE, "--yes", "--timeout", "-1"],
            exactly(
                "invalid value '-1' for '--timeout <SECONDS>': -1: must be above 0 and at most 10000000",
            ),
        ),
        (
            vec!["stream-file", "ok.mp4", SITE, "--yes", "--timeout", "0"],
            exactly(
                "invalid value '0' for '--timeout <SECONDS>': 0: must be above 0 and at most 10000000",
            ),
        ),
        (
            vec!["stream-files", ".", SITE, "--yes", "--timeout", "nan"],
            exactly(
                "invalid value 'nan' for '--timeout <SECONDS>': nan: must be above 0 and at most 10000000",
            ),
        ),
        (
            vec!["demo", "--seconds", "1e99"],
            exactly(
                "invalid value '1e99' for '--seconds <SECONDS>': 1e99: must be above 0 and at most 10000000",
            ),
        ),
        (
            vec!["stream-screen", SITE, "--yes", "--fps", "0"],
            exactly("invalid value '0' for '--fps <FPS>': 0 is not in 1..=240"),
        ),
        (
            vec!["stream-camera", SITE, "--yes", "--fps", "-30"],
            exactly("invalid value '-30' for '--fps <FPS>': -30 is not in 1..=240"),
        ),
        (
            vec!["capture-screen", "out.mp4", "--size", "1x1"],
            exactly("invalid value '1x1' for '--size <WxH>': 1x1: must be 16x16 to 7680x4320"),
        ),
        (
            vec!["stream-screen", SITE, "--yes", "--size", "wide"],
            exactly(
                "invalid value 'wide' for '--size <WxH>': \"wide\": expected WxH (for example 1280x720)",
            ),
        ),
        (
            vec!["stream-screen", SITE, "--yes", "--origin", "-5,0"],
            exactly(
                "invalid value '-5,0' for '--origin <X,Y>': \"-5,0\": X must be a whole number of pixels, 0 or more",
            ),
        ),
        (
            vec!["compose", "scene.toml", "--frames", "0"],
            exactly("invalid value '0' for '--frames <FRAMES>': 0 is not in 1..=100000000"),
        ),
        (
            vec![
                "compose",
                "scene.toml",
                "--record",
                "a.mp4",
                "--kbps",
                "lots",
            ],
            exactly("invalid value 'lots' for '--kbps <KBPS>': invalid digit found in string"),
        ),
        (
            vec![
                "compose",
                "scene.toml",
                "--record",
                "a.mp4",
                "--timeout",
                "-1",
            ],
            exactly("--timeout -1: must be a number of seconds above 0"),
        ),
        // Names and choices.
        (
            vec!["compose", "scene.toml", "--backend", "potato"],
            exactly(
                "invalid value 'potato' for '--backend <BACKEND>': unknown backend \"potato\": expected auto, gpu or cpu",
            ),
        ),
        (
            vec![
                "compose",
                "scene.toml",
                "--record",
                "a.mp4",
                "--encoder",
                "x265",
            ],
            exactly(
                "invalid value 'x265' for '--encoder <ENCODER>': unknown H.264 encoder \"x265\" (choose x264, nvenc, vaapi or auto)",
            ),
        ),
        (
            vec!["stream-file", "ok.mp4", SITE, "--bogus"],
            exactly("unexpected argument '--bogus' found"),
        ),
        (
            vec!["stream-file", "ok.mp4"],
            exactly("the following required arguments were not provided: <SITES>..."),
        ),
        // Sites and URLs.
        (
            vec!["stream-file", "ok.mp4", "nosuchsite", "--yes"],
            exactly(
                "unknown site \"nosuchsite\": known sites are facebook, localhost, restream, twitch, youtube; or give a rtmp://, rtmps:// or srt:// URL, or a WHIP endpoint's https:// URL",
            ),
        ),
        (
            vec!["stream-file", "ok.mp4", "youtube", "--yes"],
            exactly(
                "site youtube: no stream key: set key_file, key_env or key in its configuration",
            ),
        ),
        (
            vec![
                "stream-file",
                "ok.mp4",
                "https://tok-9931@whip.example.com/whip/show",
                "--yes",
                "--copy",
            ],
            exactly(
                "#1 https://<redacted>@whip.example.com/whip/show: a WHIP endpoint: --copy sends the file's own packets over RTMP, RTMPS and SRT only; leave out --copy to send it re-encoded for WebRTC",
            ),
        ),
        (
            vec![
                "stream-file",
                "ok.mp4",
                "ftp://example.com/live/key",
                "--yes",
            ],
            exactly(
                "ftp://example.com/live/<redacted>: unsupported protocol: use rtmp://, rtmps:// or srt://, or http(s):// for a WHIP endpoint",
            ),
        ),
        (
            vec![
                "stream-file",
                "ok.mp4",
                "rtmp:///live/secret-key-123",
                "--yes",
            ],
            exactly("rtmp:///live/<redacted>: the URL has no host"),
        ),
        (
            vec![
                "stream-file",
                "ok.mp4",
                "rtmp://127.0.0.1:99999/live/secret-key-123",
                "--yes",
            ],
            exactly(
                "rtmp://127.0.0.1:99999/live/<redacted>: port \"99999\" is not a number from 1 to 65535",
            ),
        ),
        (
            vec!["stream-file", "ok.mp4", "srt://127.0.0.1", "--yes"],
            exactly("srt://127.0.0.1: an srt:// URL needs a port (srt://host:port)"),
        ),
        (
            vec!["demo", "--stream", "nosuchsite", "--yes"],
            exactly(
                "unknown site \"nosuchsite\": known sites are facebook, localhost, restream, twitch, youtube; or give a rtmp://, rtmps:// or srt:// URL, or a WHIP endpoint's https:// URL",
            ),
        ),
        (
            vec!["stream-file", "ok.mp4", SITE],
            exactly(format!(
                "not asking to go live without a terminal: add --yes to stream ok.mp4 to #1 {secret}"
            )),
        ),
        // Paths.
        (
            vec!["stream-file", "missing.mp4", SITE, "--yes"],
            exactly("media file missing.mp4: no such file"),
        ),
        (
            vec!["stream-file", "folder", SITE, "--yes"],
            exactly("folder: is a folder: `livekit stream-files` streams the files of a folder"),
        ),
        // A URL with its scheme mistyped or left out, a stream key given as a site, the input
        // and the sites swapped: named, the key never shown.
        (
            vec![
                "stream-file",
                "ok.mp4",
                "rtmp:/127.0.0.1/live/secret-key-123",
                "--yes",
            ],
            exactly(
                "rtmp:/127.0.0.1/live/<redacted>: neither a site nor a URL: a URL starts with rtmp://, rtmps:// or srt://",
            ),
        ),
        (
            vec![
                "stream-file",
                "ok.mp4",
                "127.0.0.1:1935/live/secret-key-123",
                "--yes",
            ],
            exactly(
                "127.0.0.1:1935/live/<redacted>: neither a site nor a URL: a URL starts with rtmp://, rtmps:// or srt://",
            ),
        ),
        (
            vec![
                "stream-file",
                "ok.mp4",
                SITE,
                "abcd-efgh-ijkl-mnop-qrst",
                "--yes",
            ],
            exactly(
                "<redacted>: neither a site nor a URL: this looks like a stream key: keys go in the configuration (key_file, key_env or key of a site; see `livekit config init`) or at the end of an rtmp:// URL",
            ),
        ),
        (
            vec!["stream-file", "ok.mp4", SITE, SITE, "--yes"],
            exactly(format!("{secret}: given twice")),
        ),
        (
            vec![
                "stream-file",
                "ok.mp4",
                SITE,
                "--record",
                "./ok.mp4",
                "--yes",
            ],
            exactly(
                "recording file ./ok.mp4: is also an input (it would be overwritten while it is read)",
            ),
        ),
        (
            vec!["stream-file", "ok.mp4", "SECRETKEY123", "--yes"],
            starts("<redacted>: neither a site nor a URL: this looks like a stream key"),
        ),
        (
            vec!["stream-file", "ok.mp4", "twitch:secret-key-123", "--yes"],
            starts("twitch:<redacted>: neither a site nor a URL"),
        ),
        (
            vec![
                "stream-files",
                "rtmp://127.0.0.1:1/live/secret-key-123",
                "folder",
                "--yes",
            ],
            exactly(
                "rtmp://127.0.0.1:1/live/<redacted>: stream-files takes a file or a folder, then the sites (a URL goes to `livekit stream-file`)",
            ),
        ),
        (
            vec!["stream-file", "junk.mp4", SITE, "--yes"],
            exactly(
                "media junk.mp4: not a media file FFmpeg can read (Invalid data found when processing input)",
            ),
        ),
        (
            vec!["stream-file", "empty.mp4", SITE, "--yes"],
            exactly("media file empty.mp4: the file is empty"),
        ),
        (
            vec!["stream-file", "junk.mp4", SITE, "--yes", "--copy"],
            exactly("junk.mp4: cannot open: Invalid data found when processing input"),
        ),
        (
            vec!["stream-files", "nowhere", SITE, "--yes"],
            exactly("nowhere: no such file or folder"),
        ),
        (
            vec!["stream-files", "folder", SITE, "--yes"],
            exactly("playlist pattern folder/*: no file matches"),
        ),
        (
            vec!["stream-files", ".", SITE, "--yes", "--glob", "*.none"],
            exactly("playlist pattern ./*.none: no file matches"),
        ),
        (
            vec!["stream-files", ".", SITE, "--yes", "--image", "missing.png"],
            exactly("missing.png: no such image"),
        ),
        (
            vec!["stream-files", ".", SITE, "--yes", "--image", "junk.png"],
            starts("playlist cover: image file junk.png: "),
        ),
        (
            vec!["stream-microphone", SITE, "--yes", "--image", "missing.png"],
            exactly("image file missing.png: no such file"),
        ),
        // Found before any destination goes live (it was found after, when the file was
        // opened: the server saw a publish start and drop).
        (
            vec![
                "stream-file",
                "ok.mp4",
                SITE,
                "--yes",
                "--record",
                "no/such/out.mp4",
            ],
            exactly("recording file no/such/out.mp4: folder no/such does not exist"),
        ),
        (
            vec!["capture-screen", "out.avi"],
            exactly(
                "recording file out.avi: unknown container extension \"avi\" (use .mp4, .m4v, .mkv, .mov or .flv)",
            ),
        ),
        (
            vec!["compose", "missing.toml"],
            exactly(
                "missing.toml: cannot read the scene file: No such file or directory (os error 2)",
            ),
        ),
        (vec!["compose", "junk.toml"], starts("junk.toml:1: ")),
        (
            vec!["preview", "missing.toml"],
            exactly(
                "missing.toml: cannot read the scene file: No such file or directory (os error 2)",
            ),
        ),
        (
            vec!["probe", "missing.mp4"],
            exactly("media file missing.mp4: no such file"),
        ),
        (
            vec!["probe", "junk.mp4"],
            exactly(
                "media junk.mp4: not a media file FFmpeg can read (Invalid data found when processing input)",
            ),
        ),
        (
            vec!["demo", "--image", "junk.png", "--no-preview"],
            starts("image file junk.png: "),
        ),
        (
            vec!["config", "init", "ok.mp4"],
            exactly("ok.mp4: already exists (use --force to overwrite)"),
        ),
        // The configuration, for every command (even those that do not read it).
        (
            vec!["--config", "missing.toml", "probe", "ok.mp4"],
            exactly("missing.toml: no such configuration file"),
        ),
        (
            vec!["--config", "folder", "devices"],
            exactly("folder: is a folder, not a configuration file"),
        ),
        (
            vec![
                "--config",
                "bad-field.toml",
                "stream-file",
                "ok.mp4",
                SITE,
                "--yes",
            ],
            exactly(
                "bad-field.toml:2: defaults.fps: invalid type: string \"fast\", expected a whole number",
            ),
        ),
        (
            vec![
                "--config",
                "bad-range.toml",
                "stream-file",
                "ok.mp4",
                SITE,
                "--yes",
            ],
            exactly("bad-range.toml: defaults.fps: must be 1 to 240"),
        ),
        // Devices.
        (
            vec!["stream-camera", SITE, "--yes", "--device", "/dev/nothere"],
            exactly("capture device /dev/nothere: not found"),
        ),
        (
            vec!["stream-camera", SITE, "--yes", "--device", "lavfi:nonsense"],
            starts("capture device lavfi:nonsense: cannot open: "),
        ),
        (
            vec!["stream-screen", SITE, "--yes", "--display", NO_DISPLAY],
            starts(format!(
                "screen capture needs X11 (or XWayland): cannot connect to X display {NO_DISPLAY}: "
            )),
        ),
        (
            vec!["capture-screen", "out.mp4", "--display", NO_DISPLAY],
            starts(format!(
                "screen capture needs X11 (or XWayland): cannot connect to X display {NO_DISPLAY}: "
            )),
        ),
        (
            vec![
                "stream-microphone",
                SITE,
                "--yes",
                "--device",
                "no-such-mic",
            ],
            starts("microphone no-such-mic: "),
        ),
    ];

    let mut failures = Vec::new();
    for (args, said) in &cases {
        let out = livekit(cwd, args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let line = stderr.trim_end();
        let ok = out.status.code() == Some(2)
            && !line.contains('\n')
            && !stderr.contains("secret-key-123")
            && match said {
                Said::Exactly(want) => line == format!("livekit: error: {want}"),
                Said::StartsWith(want) => line.starts_with(&format!("livekit: error: {want}")),
            };
        if !ok {
            failures.push(format!("{args:?} -> {:?}: {stderr}", out.status.code()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Nothing was written by the cases that failed before starting.
    assert!(!cwd.join("out.mp4").exists());
    assert!(!cwd.join("a.mp4").exists());
}
