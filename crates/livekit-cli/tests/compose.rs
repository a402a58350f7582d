//! `livekit compose` and `livekit preview`, run as processes.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::process::{Command, Output};

fn livekit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_livekit"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const LOGO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/logo.png");

#[test]
fn compose_renders_a_scene_file_with_an_image() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("scene.toml");
    std::fs::write(
        &scene,
        format!(
            "[canvas]\nwidth = 320\nheight = 180\nfps = 10\nbackground = \"#0000ff\"\n\n\
             [[layer]]\nsource = {{ image = \"{LOGO}\" }}\nrect = [0, 0, 128, 128]\n\n\
             [[layer]]\nsource = {{ color = \"#ff0000\" }}\nrect = [200, 100, 100, 50]\nopacity = 0.5\n"
        ),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let out = livekit(&[
        "compose",
        scene.to_str().unwrap(),
        "--frames",
        "2",
        "--backend",
        "cpu",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("wrote 2 frames of"),
        "{}",
        text(&out.stdout)
    );
    let image = image::open(out_dir.join("compose-000001.png"))
        .unwrap()
        .into_rgba8();
    assert_eq!(image.dimensions(), (320, 180));
    // The logo's corner is transparent: the background shows; its ring is orange (halved: the
    // 256 px logo is drawn at 128).
    assert_eq!(image.get_pixel(1, 1).0, [0, 0, 255, 255]);
    assert_eq!(image.get_pixel(64, 6).0, [255, 140, 0, 255]);
    assert_eq!(image.get_pixel(250, 125).0, [128, 0, 127, 255]);
    assert_eq!(image.get_pixel(250, 170).0, [0, 0, 255, 255]);
}

#[test]
fn compose_errors_name_the_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("bad.toml");
    std::fs::write(
        &scene,
        "[canvas]\nwidth = 64\nheight = 36\n\n[[layer]]\nsource = { image = \"nope.png\" }\n",
    )
    .unwrap();
    let out = livekit(&["compose", scene.to_str().unwrap(), "--backend", "cpu"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "livekit: error: {}:6: layer 1 image: no such file: {}",
            scene.display(),
            dir.path().join("nope.png").display()
        )
    );
    let out = livekit(&["compose", "/no/such.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        "livekit: error: /no/such.toml: cannot read the scene file: No such file or directory (os error 2)"
    );
    // A source that cannot be opened is refused, naming it and the layer.
    std::fs::write(
        &scene,
        "[canvas]\nwidth = 64\nheight = 36\n\n[[layer]]\nsource = { camera = \"/dev/video9\" }\n",
    )
    .unwrap();
    let out = livekit(&["compose", scene.to_str().unwrap(), "--backend", "cpu"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "livekit: error: {}:5: layer 1: capture device /dev/video9: not found",
            scene.display()
        )
    );
    let out = livekit(&["compose", scene.to_str().unwrap(), "--backend", "quantum"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown backend \"quantum\""),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn preview_without_a_display_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("scene.toml");
    std::fs::write(&scene, "[canvas]\nwidth = 64\nheight = 36\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_livekit"))
        .args(["preview", scene.to_str().unwrap(), "--backend", "cpu"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        "livekit: error: cannot open a preview window: no display (DISPLAY and WAYLAND_DISPLAY are not set)"
    );
}

#[test]
fn compose_plays_a_media_file_layer() {
    let dir = tempfile::tempdir().unwrap();
    // One second of red, then one second of green.
    let clip = dir.path().join("clip.mp4");
    livekit_testkit::media::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=64x36:r=10:d=1",
        "-f",
        "lavfi",
        "-i",
        "color=c=lime:s=64x36:r=10:d=1",
        "-filter_complex",
        "[0][1]concat=n=2:v=1",
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx264",
        clip.to_str().unwrap(),
    ]);
    let scene = dir.path().join("scene.toml");
    std::fs::write(
        &scene,
        format!(
            "[canvas]\nwidth = 64\nheight = 36\nfps = 10\n\n[[layer]]\nsource = {{ file = \"{}\" }}\n",
            clip.display()
        ),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let out = livekit(&[
        "compose",
        scene.to_str().unwrap(),
        "--frames",
        "15",
        "--backend",
        "cpu",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Frame 2 (0.2 s) is red, frame 14 (1.4 s) green: the file follows the canvas's clock.
    let red = image::open(out_dir.join("compose-000002.png"))
        .unwrap()
        .into_rgba8();
    let [r, g, _, _] = red.get_pixel(32, 18).0;
    assert!(r > 200 && g < 60, "{:?}", red.get_pixel(32, 18));
    let green = image::open(out_dir.join("compose-000014.png"))
        .unwrap()
        .into_rgba8();
    let [r, g, _, _] = green.get_pixel(32, 18).0;
    assert!(r < 60 && g > 200, "{:?}", green.get_pixel(32, 18));
}

#[test]
fn compose_records_and_streams_one_encode() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("scene.toml");
    std::fs::write(
        &scene,
        "[canvas]\nwidth = 320\nheight = 180\nfps = 30\n\n[[layer]]\nsource = { test_pattern = \"smpte\" }\n",
    )
    .unwrap();
    let server = livekit_testkit::NginxRtmp::start();
    let url = server.url("COMPOSEKEY");
    let file = dir.path().join("show.mkv");
    let out = Command::new(env!("CARGO_BIN_EXE_livekit"))
        .args([
            "compose",
            scene.to_str().unwrap(),
            "--record",
            file.to_str().unwrap(),
            "--stream",
            &url,
            "--timeout",
            "2",
            "--yes",
            "--backend",
            "cpu",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains("COMPOSEKEY"), "{all}");
    // One clock: the summary's time is the recording's length (both the wall clock), not the
    // rendered frames over the frame rate (short by every frame the compositor skipped).
    let stderr = text(&out.stderr);
    let after: f64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("livekit: stopped at --timeout after "))
        .and_then(|rest| rest.strip_suffix(" s"))
        .unwrap_or_else(|| panic!("{stderr}"))
        .parse()
        .unwrap();
    let stdout = text(&out.stdout);
    let seconds: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("recorded "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("{stdout}"))
        .parse()
        .unwrap();
    assert!((after - seconds).abs() < 0.3, "{stderr}{stdout}");
    let line = format!("  #1 {}/<redacted>: ", server.app_url());
    assert!(stderr.lines().any(|l| l.starts_with(&line)), "{stderr}");
    let recorded = livekit_testkit::probe::ffprobe(&file).unwrap();
    let recordings = server.recordings("COMPOSEKEY");
    assert_eq!(recordings.len(), 1);
    let streamed = livekit_testkit::probe::ffprobe(&recordings[0]).unwrap();
    for probe in [&recorded, &streamed] {
        assert_eq!(probe.video().unwrap().codec_name, "h264");
        assert_eq!(probe.video().unwrap().width, Some(320));
        assert_eq!(probe.audio().unwrap().codec_name, "aac");
        assert!(
            (1.5..=2.6).contains(&probe.duration()),
            "{}",
            probe.duration()
        );
    }
    // --preview alone runs a preview (here without a display: a clear error).
    let out = Command::new(env!("CARGO_BIN_EXE_livekit"))
        .args([
            "compose",
            scene.to_str().unwrap(),
            "--preview",
            "--backend",
            "cpu",
        ])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        "livekit: error: cannot open a preview window: no display (DISPLAY and WAYLAND_DISPLAY are not set)"
    );
}

/// A screen layer's first PNG shows the screen, not the canvas's background: PNG mode waits
/// for the first captured frame of live sources.
#[test]
fn compose_waits_for_the_first_frame_of_a_screen() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("scene.in");
    std::fs::write(
        &template,
        "[canvas]\nwidth = 64\nheight = 36\nbackground = \"#0000ff\"\n\n\
         [[layer]]\nsource = { screen = \"DISPLAY_HERE\" }\n",
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    // A private Xvfb with a white root window; the scene names its display.
    let script = format!(
        "sed \"s/DISPLAY_HERE/$DISPLAY/\" {} > scene.toml && exec {} compose scene.toml \
         --backend cpu --out {}",
        template.display(),
        env!("CARGO_BIN_EXE_livekit"),
        out_dir.display()
    );
    let out = Command::new("xvfb-run")
        .args([
            "-a",
            "-s",
            "-screen 0 1920x1080x24 -wr -noreset",
            "sh",
            "-c",
            &script,
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let image = image::open(out_dir.join("compose-000000.png"))
        .unwrap()
        .into_rgba8();
    // (Away from the middle, where the pointer is drawn.)
    assert_eq!(image.get_pixel(5, 5).0, [255, 255, 255, 255]);
}

/// An `--out` that cannot be a folder, or a canvas too large to render, is a usage error (exit
/// 2) in one line naming it.
#[test]
fn compose_refuses_bad_outputs_and_huge_canvases() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("scene.toml");
    std::fs::write(&scene, "[canvas]\nwidth = 64\nheight = 36\n").unwrap();
    let afile = dir.path().join("afile");
    std::fs::write(&afile, b"").unwrap();
    let scene_arg = scene.to_str().unwrap();
    for (out_dir, expected) in [
        (
            afile.to_str().unwrap(),
            format!("livekit: error: --out {}: not a folder", afile.display()),
        ),
        (
            "/proc/nope",
            "livekit: error: --out /proc/nope: cannot create the folder: ".to_owned(),
        ),
    ] {
        let out = livekit(&["compose", scene_arg, "--backend", "cpu", "--out", out_dir]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).starts_with(&expected),
            "{}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stderr).lines().count(), 1);
    }
    std::fs::write(&scene, "[canvas]\nwidth = 65536\nheight = 65536\n").unwrap();
    let out = livekit(&["compose", scene_arg, "--backend", "cpu"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "livekit: error: {}:2: canvas width: must be between 1 and 16384 (got 65536)",
            scene.display()
        )
    );
}

/// A composed show carries its sound: a file layer's 440 Hz tone (amplitude 1/8, -18 dBFS) is
/// in the recording at its level (it used to be silent, at -91 dB).
#[test]
fn compose_records_a_file_layers_sound() {
    let dir = tempfile::tempdir().unwrap();
    livekit_testkit::media::clip(
        &dir.path().join("tone.mp4"),
        &livekit_testkit::media::ClipSpec {
            seconds: 3.0,
            ..Default::default()
        },
    );
    let scene = dir.path().join("scene.toml");
    std::fs::write(
        &scene,
        "[canvas]\nwidth = 320\nheight = 180\nfps = 25\n\n[[layer]]\nsource = { file = \"tone.mp4\", loop = true }\n",
    )
    .unwrap();
    let file = dir.path().join("show.mkv");
    let out = livekit(&[
        "compose",
        scene.to_str().unwrap(),
        "--record",
        file.to_str().unwrap(),
        "--timeout",
        "2",
        "--backend",
        "cpu",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let max = livekit_testkit::probe::volume(&file).unwrap().max_db;
    assert!((-21.0..=-15.0).contains(&max), "the tone at {max} dB");
}

/// A scene file that describes a whole studio: a named input two layers share, and a
/// recording it starts itself; `compose` runs it live without --record.
#[test]
fn compose_runs_a_scene_files_own_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("studio.toml");
    std::fs::write(
        &scene,
        "[canvas]\nwidth = 160\nheight = 90\nfps = 25\nbackground = \"#ff0000\"\n\n\
         [[input]]\nid = \"box\"\nkind = \"color\"\ncolor = \"#0000ff\"\n\n\
         [[layer]]\ninput = \"box\"\nrect = [0, 0, 40, 40]\n\n\
         [[layer]]\ninput = \"box\"\nrect = [120, 50, 40, 40]\n\n\
         [[output]]\nid = \"rec\"\nkind = \"record\"\npath = \"studio.mkv\"\n",
    )
    .unwrap();
    let out = livekit(&[
        "compose",
        scene.to_str().unwrap(),
        "--frames",
        "10",
        "--backend",
        "cpu",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let recording = dir.path().join("studio.mkv");
    let probe = livekit_testkit::probe::ffprobe_count(&recording).unwrap();
    assert_eq!(probe.video().unwrap().nb_read_frames, Some(10.0));
    let blue = |[r, g, b]: [u8; 3]| b > 200 && r < 50 && g < 50;
    for region in [[4, 4, 32, 32], [124, 54, 32, 32]] {
        let colours = livekit_testkit::probe::frame_colours(&recording, Some(region)).unwrap();
        assert_eq!(colours.len(), 10);
        assert!(colours.iter().copied().all(blue), "{region:?}: {colours:?}");
    }
    // Named inputs need a studio: PNGs of such a file are refused, naming the line.
    let png = livekit(&[
        "preview",
        scene.to_str().unwrap(),
        "--seconds",
        "1",
        "--backend",
        "cpu",
    ]);
    assert!(!png.status.success());
    assert!(
        text(&png.stderr).contains(
            "studio.toml:12: layer 1 input: named inputs ([[input]]) are opened by a studio"
        ),
        "{}",
        text(&png.stderr)
    );
}

/// A WHIP endpoint among `--stream`'s sites goes out as an output of its own (a WebRTC encode:
/// H.264 without B-frames, Opus) beside the RTMP one; an endpoint that is down leaves the RTMP
/// stream whole, and its token shows nowhere.
#[test]
fn compose_streams_whip_endpoints_beside_rtmp() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("scene.toml");
    std::fs::write(
        &scene,
        "[canvas]\nwidth = 320\nheight = 180\nfps = 30\n\n[[layer]]\nsource = { test_pattern = \"smpte\" }\n",
    )
    .unwrap();
    let server = livekit_testkit::NginxRtmp::start();
    let url = server.url("WHIPSIDEKEY");
    // A port nothing listens on: the WHIP endpoint is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let whip = format!("http://whip-token-7731@127.0.0.1:{port}/whip/ingest");
    let out = livekit(&[
        "compose",
        scene.to_str().unwrap(),
        "--stream",
        &url,
        "--stream",
        &whip,
        "--timeout",
        "3",
        "--yes",
        "--backend",
        "cpu",
    ]);
    let stderr = text(&out.stderr);
    let all = format!("{}{stderr}", text(&out.stdout));
    assert!(!all.contains("whip-token-7731"), "{all}");
    assert!(!all.contains("WHIPSIDEKEY"), "{all}");
    // The summary names both, the WHIP one as it may be shown.
    let shown = format!("http://<redacted>@127.0.0.1:{port}/whip/ingest");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains(&shown) && l.contains("connect")),
        "{stderr}"
    );
    let recordings = server.recordings("WHIPSIDEKEY");
    assert_eq!(recordings.len(), 1, "{stderr}");
    let streamed = livekit_testkit::probe::ffprobe(&recordings[0]).unwrap();
    assert_eq!(streamed.video().unwrap().codec_name, "h264");
    assert_eq!(streamed.audio().unwrap().codec_name, "aac");
    assert!(
        (2.0..=3.6).contains(&streamed.duration()),
        "{}",
        streamed.duration()
    );
}

/// A recording the scene file's `[[output]]` asks for is summed up like `--record`'s, and an
/// existing file is guarded the same way: refused without `--force`, overwritten with it.
#[test]
fn a_scene_files_own_recording_is_summed_up_and_guarded() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("scene.toml");
    std::fs::write(
        &scene,
        "[canvas]\nwidth = 320\nheight = 180\nfps = 30\n\n[[layer]]\nsource = { test_pattern = \"smpte\" }\n\n\
         [[output]]\nid = \"tape\"\nkind = \"record\"\npath = \"from-file.mkv\"\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "compose",
            scene.to_str().unwrap(),
            "--timeout",
            "1.5",
            "--backend",
            "cpu",
        ];
        args.extend_from_slice(extra);
        livekit(&args)
    };
    let out = run(&[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let recording = dir.path().join("from-file.mkv");
    // The first line says what runs: the scene file's recording (it said "previewing").
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "recording to {}: {}",
            recording.display(),
            scene.display()
        )),
        "{stderr}"
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("recorded ") && l.contains(&recording.display().to_string())),
        "{stdout}"
    );
    let probe = livekit_testkit::probe::ffprobe(&recording).unwrap();
    assert!(
        (1.0..=2.2).contains(&probe.duration()),
        "{}",
        probe.duration()
    );
    let size = std::fs::metadata(&recording).unwrap().len();

    // Again: the file exists. Without a terminal and without --force: refused, untouched.
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "livekit: error: recording file {}: already exists (add --force to overwrite it)",
            recording.display()
        )
    );
    assert_eq!(std::fs::metadata(&recording).unwrap().len(), size);
    let out = run(&["--force"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}
