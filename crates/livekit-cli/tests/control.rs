//! `livekit studio --listen`: the control page in a real browser (Debian's chromium driven by
//! playwright-core, installed by `./dev setup`), the OpenAPI document checked against the
//! server by schemathesis (from PyPI, installed by `./dev setup`), and the command's refusals.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use livekit_testkit::ChildGuard;
use livekit_testkit::NginxRtmp;
use livekit_testkit::net::{free_port, wait_for_port};
use livekit_testkit::probe::ffprobe;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A tool `./dev setup` installs, or a failure saying so.
fn tool(path: &str) -> PathBuf {
    let path = workspace().join(path);
    assert!(
        path.exists(),
        "{} is missing: run ./dev setup (it installs the browser test's and schemathesis's tools)",
        path.display()
    );
    path
}

/// Two scenes: `main` all red, `break` all blue.
const SCENE: &str = r##"
[canvas]
width = 320
height = 180
fps = 25

[[layer]]
source = { color = "#ff0000" }

[[layer]]
scene = "break"
source = { color = "#0000ff" }
"##;

struct Running {
    child: ChildGuard,
    port: u16,
    stderr: PathBuf,
    stdout: PathBuf,
}

fn start_studio(dir: &Path, extra: &[&str]) -> Running {
    let scene = dir.join("scene.toml");
    std::fs::write(&scene, SCENE).unwrap();
    let port = free_port();
    let stdout = dir.join("studio.out");
    let stderr = dir.join("studio.err");
    let child = Command::new(env!("CARGO_BIN_EXE_livekit"))
        .arg("studio")
        .arg(&scene)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--backend", "cpu"])
        .args(extra)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let child = ChildGuard::new("livekit studio", child);
    assert!(
        wait_for_port(port, Duration::from_secs(30)),
        "the studio never listened: {}",
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
    Running {
        child,
        port,
        stderr,
        stdout,
    }
}

impl Running {
    /// Stops it with Ctrl-C; its exit status, standard output and error.
    fn stop(mut self) -> (std::process::ExitStatus, String, String) {
        let status = self
            .child
            .stop_with("INT", Duration::from_secs(20))
            .expect("the studio stops on Ctrl-C");
        (
            status,
            std::fs::read_to_string(&self.stdout).unwrap(),
            std::fs::read_to_string(&self.stderr).unwrap(),
        )
    }
}

/// `GET path` over plain HTTP/1.1: the status and the body.
fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Runs the browser script `script` (in tests/browser, with playwright-core and hls.js
/// installed beside it) against `studio`, with `args` after the studio's URL, then stops the
/// studio. Asserts that the script said "ok" at its end and that the studio stopped cleanly;
/// returns what the script said and the studio's standard output and error.
fn run_page_script(
    script: &str,
    studio: Running,
    args: &[&std::ffi::OsStr],
) -> (String, String, String) {
    let folder = tool("tests/browser/node_modules/hls.js").join("../..");
    tool("tests/browser/node_modules/playwright-core");
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "chromium is missing: run ./dev setup"
    );
    let output = Command::new("node")
        .arg(folder.join(script))
        .arg(format!("http://127.0.0.1:{}/", studio.port))
        .args(args)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    let (status, stdout, stderr) = studio.stop();
    assert!(
        output.status.success(),
        "{script} failed:\n{said}\n{}\nstudio:\n{stderr}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(said.ends_with("ok\n"), "{said}");
    assert!(status.success(), "{status}: {stderr}");
    (said, stdout, stderr)
}

#[test]
fn the_control_page_drives_the_show_in_a_real_browser() {
    let nginx = NginxRtmp::start();
    let dir = tempfile::tempdir().unwrap();
    let studio = start_studio(dir.path(), &["-v"]);
    let recording = dir.path().join("from-the-page.mkv");
    let key = "pagekey0123456";
    let url = nginx.url(key);
    let (said, stdout, stderr) = run_page_script(
        "control_page.mjs",
        studio,
        &[recording.as_os_str(), url.as_ref()],
    );
    // The recording started and stopped from the page is a playable file of about its length.
    let probe = ffprobe(&recording).unwrap();
    assert_eq!(probe.video().unwrap().codec_name, "h264");
    let seconds = probe.duration();
    assert!((1.5..8.0).contains(&seconds), "recorded {seconds} s");
    // The stream started from the page reached nginx.
    let received = nginx.recordings(key);
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(
        ffprobe(&received[0]).unwrap().video().unwrap().codec_name,
        "h264"
    );
    // The summary names both; the key is nowhere, not even in -v's log.
    assert!(stdout.contains("record: recorded"), "{stdout}");
    assert!(stdout.contains("stream: streamed"), "{stdout}");
    for text in [&stdout, &stderr, &said] {
        assert!(!text.contains(key), "the key leaked:\n{text}");
    }
}

/// An HLS output started over the API plays in a real browser (hls.js in chromium): the
/// picture is the live scene's colour, sound is decoded, and a scene switch reaches it.
#[test]
fn an_hls_output_plays_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let studio = start_studio(dir.path(), &[]);
    let (_, stdout, _) = run_page_script("hls_page.mjs", studio, &[]);
    assert!(stdout.contains("web: recorded"), "{stdout}");
    assert!(stdout.contains("(HLS,"), "{stdout}");
}

/// A canvas watched over WebRTC (WHEP) in a real browser: bad offers refused with a 400 naming
/// why, the picture the live scene's colour, Opus sound arriving, a scene switch showing, and
/// DELETE ending the viewer; a viewer offering VP8 only.
#[test]
fn a_canvas_plays_over_whep_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let studio = start_studio(dir.path(), &[]);
    let (said, _, _) = run_page_script("whep_page.mjs", studio, &[]);
    // The viewer that offered VP8 only got VP8.
    assert!(said.contains("(video/VP8)"), "{said}");
}

#[test]
fn a_canvas_streams_over_whip_to_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let studio = start_studio(dir.path(), &["-v"]);
    let token = "whip-token-5e8d1c";
    let (said, stdout, stderr) = run_page_script("whip_page.mjs", studio, &[token.as_ref()]);
    // The bearer token is nowhere in what the studio printed, not even in -v's log.
    for text in [&stdout, &stderr] {
        assert!(!text.contains(token), "the token leaked:\n{text}");
    }
    assert!(said.contains("reconnect"), "{said}");
    assert!(said.contains("gets VP8 (video/VP8)"), "{said}");
    // The endpoint's path is shown as itself; only the token is hidden.
    assert!(said.contains("/whip/ingest"), "{said}");
}

#[test]
fn the_openapi_document_matches_the_server_under_schemathesis() {
    let schemathesis = tool(".tools/venv/bin/schemathesis");
    let dir = tempfile::tempdir().unwrap();
    let studio = start_studio(dir.path(), &[]);
    let url = format!("http://127.0.0.1:{}/openapi.json", studio.port);
    // The checks the API promises: no 5xx, every status, content type, header and body as
    // the document says. (Not `positive_data_acceptance`: a command can be valid JSON for
    // the schema and still name a file or device that does not exist, which is a 400.)
    let output = Command::new(&schemathesis)
        .args(["run", &url, "--no-color", "-w", "1", "--seed", "20261203"])
        .args(["--max-time", "45", "--request-timeout", "10"])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
        ])
        // An endless stream and a WebSocket: tested in crates/livekit-control/tests/api.rs.
        .args(["--exclude-path", "/api/canvases/{canvas}/preview.mjpeg"])
        .args(["--exclude-path", "/api/events"])
        // WHEP offers (application/sdp) go as text: tests/schemathesis_hooks.py.
        .env(
            "PYTHONPATH",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests"),
        )
        .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{said}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(said.contains("Test cases:"), "{said}");
    // The show went on: still rendering, still answering.
    let (status, body) = http_get(studio.port, "/api/stats");
    assert_eq!(status, 200, "{body}");
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(stats["fps"].as_f64().unwrap() > 10.0, "{stats}");
    let (status, _, stderr) = studio.stop();
    assert!(status.success(), "{stderr}");
}

#[test]
fn refusals_of_livekit_studio_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], token: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_livekit"));
        command
            .arg("studio")
            .args(args)
            .args(["--backend", "cpu", "--timeout", "5"])
            .current_dir(dir.path())
            .env_remove("LIVEKIT_TOKEN");
        if let Some(token) = token {
            command.env("LIVEKIT_TOKEN", token);
        }
        let output = command.output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        )
    };
    assert_eq!(
        run(&["--listen", "0.0.0.0:0"], None),
        (
            Some(2),
            "livekit: error: --listen 0.0.0.0:0: not a loopback address, so a token is needed (--token-file FILE or LIVEKIT_TOKEN)".to_owned()
        )
    );
    let (code, said) = run(
        &["--listen", "127.0.0.1:0", "--token-file", "nope.txt"],
        None,
    );
    assert_eq!(code, Some(2));
    assert!(
        said.starts_with("livekit: error: --token-file nope.txt: "),
        "{said}"
    );
    assert_eq!(said.lines().count(), 1, "{said}");
    assert_eq!(
        run(&["--listen", "127.0.0.1:0"], Some("short")),
        (
            Some(2),
            "livekit: error: LIVEKIT_TOKEN: the token is too short: at least 8 characters"
                .to_owned()
        )
    );
    // A port in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, said) = run(&["--listen", &addr], None);
    assert_eq!(code, Some(2));
    assert!(
        said.starts_with(&format!("livekit: error: --listen {addr}: ")) && said.contains("in use"),
        "{said}"
    );
}

#[test]
fn compose_listen_serves_the_running_scene_and_its_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("scene.toml");
    std::fs::write(&scene, SCENE).unwrap();
    let port = free_port();
    let recording = dir.path().join("show.mkv");
    let stdout = dir.path().join("compose.out");
    let stderr = dir.path().join("compose.err");
    let child = Command::new(env!("CARGO_BIN_EXE_livekit"))
        .arg("compose")
        .arg(&scene)
        .arg("--record")
        .arg(&recording)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--backend", "cpu"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let mut child = ChildGuard::new("livekit compose --listen", child);
    assert!(
        wait_for_port(port, Duration::from_secs(30)),
        "compose never listened: {}",
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
    std::thread::sleep(Duration::from_secs(2));
    let (status, body) = http_get(port, "/api/state");
    assert_eq!(status, 200, "{body}");
    let state: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        state["canvases"][0]["scenes"][1]["name"], "break",
        "{state}"
    );
    let record = &state["outputs"][0];
    assert_eq!(
        (&record["id"], &record["state"]),
        (&"record".into(), &"live".into()),
        "{state}"
    );
    let status = child
        .stop_with("INT", Duration::from_secs(20))
        .expect("compose stops on Ctrl-C");
    let said = std::fs::read_to_string(&stderr).unwrap();
    assert!(status.success(), "{status}: {said}");
    assert!(
        said.contains(&format!("serving at http://127.0.0.1:{port}/")),
        "{said}"
    );
    let probe = ffprobe(&recording).unwrap();
    assert!(probe.duration() > 1.5, "{}", probe.duration());
}

/// `livekit studio SCENE --hls DIR`: HLS of canvas main from the start, on disk and over HTTP.
#[test]
fn livekit_studio_takes_hls_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web");
    let studio = start_studio(
        dir.path(),
        &["--hls", web.to_str().unwrap(), "--hls-window", "0"],
    );
    // Segments of 2 s (the default keyframe spacing): wait for the first one over HTTP.
    let started = std::time::Instant::now();
    let playlist = loop {
        let (status, body) = http_get(studio.port, "/hls/main/index.m3u8");
        if status == 200 && body.contains(".m4s") {
            break body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{status}: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(playlist.starts_with("#EXTM3U"), "{playlist}");
    let (status, stdout, stderr) = studio.stop();
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("hls: recorded"), "{stdout}");
    let probe = livekit_testkit::probe::ffprobe(&web.join("index.m3u8")).unwrap();
    assert_eq!(probe.video().unwrap().codec_name, "h264");
    assert!(probe.duration() > 1.5, "{}", probe.duration());

    // Without a scene file there is no canvas to show: refused, naming the flag.
    let out = Command::new(env!("CARGO_BIN_EXE_livekit"))
        .args([
            "studio",
            "--hls",
            web.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.starts_with("livekit: error: --hls needs a scene file"),
        "{said}"
    );
}
