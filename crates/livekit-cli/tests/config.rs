//! `livekit config`: lookup order, `config init`, bad files, PyLivestream JSON and INI import.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::path::Path;
use std::process::{Command, Output};

/// Runs `livekit ARGS` in `cwd` with `XDG_CONFIG_HOME=xdg` (and HOME pointing nowhere useful).
fn livekit_in(cwd: &Path, xdg: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_livekit"))
        .args(args)
        .current_dir(cwd)
        .env("XDG_CONFIG_HOME", xdg)
        .env("HOME", cwd.join("home"))
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn lookup_order_is_flag_then_cwd_then_xdg_then_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("work");
    let xdg = dir.path().join("xdg");
    std::fs::create_dir_all(&cwd).unwrap();

    // Nothing anywhere: the built-in defaults.
    let out = livekit_in(&cwd, &xdg, &["config", "show"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("# built-in defaults"), "{shown}");
    assert!(shown.contains("fps = 30"), "{shown}");

    // `config init` writes the user's file, which is then used.
    let out = livekit_in(&cwd, &xdg, &["config", "init"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let user = xdg.join("livekit/livekit.toml");
    assert!(text(&out.stdout).contains(&user.display().to_string()));
    std::fs::write(&user, "[defaults]\nfps = 25\n").unwrap();
    let out = livekit_in(&cwd, &xdg, &["config", "show"]);
    let shown = text(&out.stdout);
    assert!(
        shown.contains(&format!("# from {}", user.display())),
        "{shown}"
    );
    assert!(shown.contains("fps = 25"), "{shown}");

    // A second init refuses to overwrite.
    let out = livekit_in(&cwd, &xdg, &["config", "init"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("already exists (use --force to overwrite)"));
    // A folder is not overwritten either, --force or not.
    let out = livekit_in(&cwd, &xdg, &["config", "init", ".", "--force"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        "livekit: error: .: is a folder (give a file name, such as ./livekit.toml)"
    );

    // ./livekit.toml wins over the user's file.
    std::fs::write(cwd.join("livekit.toml"), "[defaults]\nfps = 50\n").unwrap();
    let out = livekit_in(&cwd, &xdg, &["config", "show"]);
    let shown = text(&out.stdout);
    assert!(shown.contains("# from livekit.toml"), "{shown}");
    assert!(shown.contains("fps = 50"), "{shown}");

    // --config wins over both.
    let explicit = dir.path().join("mine.toml");
    std::fs::write(&explicit, "[defaults]\nfps = 60\n").unwrap();
    let out = livekit_in(
        &cwd,
        &xdg,
        &["--config", explicit.to_str().unwrap(), "config", "show"],
    );
    assert!(text(&out.stdout).contains("fps = 60"));
}

#[test]
fn bad_configuration_files_are_usage_errors_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let run = |body: &str| {
        let path = cwd.join("bad.toml");
        std::fs::write(&path, body).unwrap();
        let out = livekit_in(cwd, cwd, &["--config", "bad.toml", "config", "show"]);
        assert_eq!(out.status.code(), Some(2), "{body}");
        text(&out.stderr).trim().to_owned()
    };
    assert_eq!(
        run("[defaults]\nfps = 30\ncolour = 1\n"),
        "livekit: error: bad.toml:3: unknown field `colour`, expected one of `fps`, `width`, `height`, `audio_rate`, `audio_kbps`, `video_kbps`, `preset`, `encoder`, `keyframe_sec`, `give_up_after`, `drain_after`"
    );
    assert_eq!(
        run("[defaults]\nfps = 0\n"),
        "livekit: error: bad.toml: defaults.fps: must be 1 to 240"
    );
    assert_eq!(
        run("[sites.mine]\nurl = \"http://example.com/live\"\n"),
        "livekit: error: bad.toml: sites.mine.url: must start with rtmp://, rtmps:// or srt://"
    );
    assert_eq!(
        run("[defaults]\nencoder = \"h265\"\n"),
        "livekit: error: bad.toml: defaults.encoder: unknown encoder \"h265\" (auto, x264, nvenc, vaapi)"
    );
    assert_eq!(
        run("[defaults]\npreset = \"superduperfast\"\n"),
        "livekit: error: bad.toml: defaults.preset: unknown x264 preset \"superduperfast\" (ultrafast, superfast, veryfast, faster, fast, medium, slow, slower, veryslow, placebo)"
    );
    assert_eq!(
        run("[sites.foo]\nkey = \"abc-key-123\"\n"),
        "livekit: error: bad.toml: sites.foo: needs a url (rtmp://, rtmps:// or srt://): it is not a built-in site"
    );
    let out = livekit_in(cwd, cwd, &["--config", "missing.toml", "config", "show"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        "livekit: error: missing.toml: no such configuration file"
    );
}

/// The shape of PyLivestream 2.1.1's own `data/pylivestream.json`, with a key filled in.
const PYLIVESTREAM_JSON: &str = r#"{
  "screencap_origin": [50,30],
  "screencap_size": [640, 480],
  "screencap_fps": 30,
  "camera_size": [640, 480],
  "camera_fps": 30,
  "audio_rate": 44100,
  "audio_bps": 128000,
  "preset": "veryfast",
  "video_codec": "libx264",
  "audio_codec": "aac",
  "exe": "ffmpeg",
  "ffprobe_exe": "ffprobe",
  "linux": {
    "video_format": "yuv420p",
    "camera_chan": "/dev/video0",
    "screen_chan": ":0.0",
    "audio_chan": "default",
    "vcap": "x11grab",
    "acap": "pulse",
    "hcam": "v4l2"
  },
  "sites": {
    "localhost": { "keyframe_sec": 2, "url": "rtmp://localhost" },
    "file": { "keyframe_sec": 2, "video_kbps": 2000, "screencap_size": [640, 480] },
    "youtube": { "keyframe_sec": 2, "url": "rtmp://a.rtmp.youtube.com/live2", "streamid": "SECRETKEY123" }
  }
}"#;

#[test]
fn pylivestream_json_is_imported_with_warnings_for_unmapped_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    std::fs::write(cwd.join("pylivestream.json"), PYLIVESTREAM_JSON).unwrap();
    let out = livekit_in(
        cwd,
        cwd,
        &["--config", "pylivestream.json", "config", "show"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    let config: toml::Value = toml::from_str(&shown).unwrap();
    let linux = &config["capture"]["linux"];
    assert_eq!(linux["screen_origin"].as_array().unwrap().len(), 2);
    assert_eq!(linux["screen_size"][0].as_integer(), Some(640));
    assert_eq!(linux["camera"].as_str(), Some("/dev/video0"));
    assert_eq!(linux["screen"].as_str(), Some(":0.0"));
    assert_eq!(config["defaults"]["audio_kbps"].as_integer(), Some(128));
    assert_eq!(config["defaults"]["encoder"].as_str(), Some("x264"));
    let youtube = &config["sites"]["youtube"];
    assert_eq!(
        youtube["url"].as_str(),
        Some("rtmp://a.rtmp.youtube.com/live2")
    );
    assert_eq!(youtube["key"].as_str(), Some("<redacted>"));
    assert!(config["sites"].get("file").is_none());
    // The key never shows; what has no equivalent is said in one line pointing at `config
    // import` (which names each setting, once).
    let stderr = text(&out.stderr);
    assert!(!shown.contains("SECRETKEY123") && !stderr.contains("SECRETKEY123"));
    assert_eq!(
        stderr.trim(),
        "livekit: warning: pylivestream.json: 7 of its settings have no livekit equivalent \
         (ignored); `livekit config import pylivestream.json` names them and writes a \
         livekit.toml once"
    );
}

/// `livekit config import`: our TOML written once, each key in a mode-600 key file beside it
/// (never in the TOML, never printed), what has no equivalent named once; a second import is
/// refused without --force and changes nothing; the result streams without a warning.
#[test]
fn config_import_writes_toml_and_private_key_files_once() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let json = PYLIVESTREAM_JSON.replace(
        r#""localhost": { "keyframe_sec": 2, "url": "rtmp://localhost" },"#,
        r#""localhost": { "keyframe_sec": 2, "url": "rtmp://127.0.0.1:PORT/live", "streamid": "LOCALKEY456" },"#,
    );
    let server = livekit_testkit::NginxRtmp::start();
    let json = json.replace("rtmp://127.0.0.1:PORT/live", &server.app_url());
    std::fs::write(cwd.join("pylivestream.json"), &json).unwrap();
    let out = livekit_in(cwd, cwd, &["config", "import", "pylivestream.json"]);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for secret in ["SECRETKEY123", "LOCALKEY456"] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret));
    }
    assert_eq!(
        stdout,
        "wrote livekit.toml\nwrote localhost.key (mode 600)\nwrote youtube.key (mode 600)\n"
    );
    for key in [
        "exe",
        "ffprobe_exe",
        "linux.vcap",
        "linux.video_format",
        "sites.file",
    ] {
        let said = format!("livekit: warning: pylivestream.json: {key}");
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with(&said)).count(),
            1,
            "{key}: {stderr}"
        );
    }
    let written = std::fs::read_to_string(cwd.join("livekit.toml")).unwrap();
    assert!(!written.contains("SECRETKEY123") && !written.contains("LOCALKEY456"));
    let config: toml::Value = toml::from_str(&written).unwrap();
    let youtube = &config["sites"]["youtube"];
    assert_eq!(youtube["key_file"].as_str(), Some("youtube.key"));
    assert!(youtube.get("key").is_none());
    assert_eq!(config["defaults"]["encoder"].as_str(), Some("x264"));
    for (file, key) in [
        ("youtube.key", "SECRETKEY123"),
        ("localhost.key", "LOCALKEY456"),
    ] {
        let path = cwd.join(file);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{key}\n"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}: {mode:o}");
    }

    // Again: refused in the recorder's words, nothing changed; --force overwrites.
    std::fs::write(cwd.join("youtube.key"), "NEWER\n").unwrap();
    let out = livekit_in(cwd, cwd, &["config", "import", "pylivestream.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        "livekit: error: configuration file livekit.toml: already exists (add --force to overwrite it)"
    );
    assert_eq!(
        std::fs::read_to_string(cwd.join("livekit.toml")).unwrap(),
        written
    );
    assert_eq!(
        std::fs::read_to_string(cwd.join("youtube.key")).unwrap(),
        "NEWER\n"
    );
    std::fs::create_dir_all(cwd.join("other")).unwrap();
    std::fs::write(cwd.join("other/youtube.key"), "MINE\n").unwrap();
    let out = livekit_in(
        cwd,
        cwd,
        &[
            "config",
            "import",
            "pylivestream.json",
            "--out",
            "other/live.toml",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        "livekit: error: key file other/youtube.key: already exists (add --force to overwrite it)"
    );
    assert!(!cwd.join("other/live.toml").exists());
    assert!(!cwd.join("other/localhost.key").exists());
    let out = livekit_in(
        cwd,
        cwd,
        &["config", "import", "pylivestream.json", "--force"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(cwd.join("youtube.key")).unwrap(),
        "SECRETKEY123\n"
    );

    // The imported configuration resolves and streams, from another folder, with no warning.
    let elsewhere = cwd.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let clip = elsewhere.join("clip.mp4");
    livekit_testkit::media::clip(&clip, &livekit_testkit::media::ClipSpec::default());
    let config = cwd.join("livekit.toml");
    let c = config.to_str().unwrap();
    let out = livekit_in(
        &elsewhere,
        &elsewhere,
        &[
            "--config",
            c,
            "stream-file",
            "clip.mp4",
            "youtube",
            "--print-command",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    let line = text(&out.stdout);
    assert!(
        line.contains("rtmp://a.rtmp.youtube.com/live2/<redacted>"),
        "{line}"
    );
    assert!(!line.contains("SECRETKEY123"));
    let out = livekit_in(
        &elsewhere,
        &elsewhere,
        &[
            "-q",
            "--config",
            c,
            "stream-file",
            "clip.mp4",
            "localhost",
            "--yes",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("LOCALKEY456"));
    let recordings = server.recordings("LOCALKEY456");
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    let got = livekit_testkit::probe::ffprobe(&recordings[0]).unwrap();
    assert_eq!(got.video().unwrap().codec_name, "h264");
}

/// PyLivestream 1.x's `pylivestream.ini` (abridged, same syntax).
const PYLIVESTREAM_INI: &str = "[DEFAULT]
screencap_origin: 50,30
screencap_res: 640x480
screencap_fps: 30
webcam_res: 640x480
webcam_fps: 30
audiofs: 44100
keyframe_sec: 2
audio_bps: 128k
preset: veryfast
exe: ffmpeg
timelimit:

# indexed by sys.platform
[linux]
webcamchan: /dev/video0
screenchan: :0.0
audiochan: default
vcap: x11grab

[youtube]
server: rtmp://a.rtmp.youtube.com/live2/
key: ~/youtube.key

[twitch]
audio_bps: 96k
server: rtmp://live-jfk.twitch.tv/app/
key: ~/twitch.key

[file]
video_kbps: 2000
";

#[test]
fn pylivestream_ini_is_imported() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    std::fs::write(cwd.join("pylivestream.ini"), PYLIVESTREAM_INI).unwrap();
    let out = livekit_in(
        cwd,
        cwd,
        &["--config", "pylivestream.ini", "config", "show"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config: toml::Value = toml::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(
        config["capture"]["linux"]["screen_size"][1].as_integer(),
        Some(480)
    );
    assert_eq!(
        config["capture"]["linux"]["camera_fps"].as_integer(),
        Some(30)
    );
    assert_eq!(
        config["sites"]["twitch"]["url"].as_str(),
        Some("rtmp://live-jfk.twitch.tv/app")
    );
    assert_eq!(
        config["sites"]["twitch"]["audio_kbps"].as_integer(),
        Some(96)
    );
    assert_eq!(
        config["sites"]["youtube"]["key_file"].as_str(),
        Some("~/youtube.key")
    );
    // Imported once, each setting with no equivalent is named.
    let out = livekit_in(
        cwd,
        cwd,
        &["config", "import", "pylivestream.ini", "--out", "ini.toml"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("pylivestream.ini: [DEFAULT] exe has no livekit equivalent"),
        "{stderr}"
    );
    assert!(
        stderr.contains("pylivestream.ini: [linux] vcap"),
        "{stderr}"
    );

    std::fs::write(cwd.join("broken.ini"), "[DEFAULT]\nscreencap_res: big\n").unwrap();
    let out = livekit_in(cwd, cwd, &["--config", "broken.ini", "config", "show"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        "livekit: error: broken.ini: [DEFAULT] screencap_res: cannot read \"big\""
    );
}
