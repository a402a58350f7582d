//! Single keys on a terminal: `compose` run under a pseudo-terminal (`script`), keys typed
//! into it. `2` switches to the second scene, `r` stops and starts the recording (the second
//! one in NAME-2.EXT), `?` lists the keys, `q` stops cleanly.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The mean colour of each frame of `path` (scaled to one pixel), as RGB.
fn frame_colours(path: &Path) -> Vec<[u8; 3]> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
        .arg(path)
        .args([
            "-vf",
            "scale=1:1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(3)
        .map(|c| [c[0], c[1], c[2]])
        .collect()
}

fn is_red([r, g, b]: [u8; 3]) -> bool {
    r > 200 && g < 50 && b < 50
}

fn is_blue([r, g, b]: [u8; 3]) -> bool {
    b > 200 && r < 50 && g < 50
}

#[test]
fn keys_switch_scenes_toggle_the_recording_and_quit() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("scene.toml");
    std::fs::write(
        &scene,
        "[canvas]\nwidth = 160\nheight = 90\nfps = 25\n\n\
         [[layer]]\nsource = { color = \"#ff0000\" }\n\n\
         [[layer]]\nscene = \"break\"\nsource = { color = \"#0000ff\" }\n",
    )
    .unwrap();
    let record = dir.path().join("show.mkv");
    let command = format!(
        "{} compose {} --record {} --timeout 30 --backend cpu",
        env!("CARGO_BIN_EXE_livekit"),
        scene.display(),
        record.display()
    );
    // `script` runs the command on a pseudo-terminal and passes what it reads to it.
    let mut child = Command::new("script")
        .args(["-q", "-f", "-e", "-c", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs commands on a pseudo-terminal");
    let mut keys = child.stdin.take().unwrap();
    let mut press = |key: &str, wait: f64| {
        std::thread::sleep(Duration::from_secs_f64(wait));
        keys.write_all(key.as_bytes()).unwrap();
        keys.flush().unwrap();
    };
    press("2", 2.5);
    press("r", 1.0);
    press("r", 1.0);
    press("?", 0.5);
    press("1", 0.5);
    press("q", 1.0);
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("press q or Ctrl-C to stop, ? for keys"),
        "{text}"
    );
    assert!(text.contains("scene 2: break"), "{text}");
    assert!(
        text.contains("recording stopped (r records again)"),
        "{text}"
    );
    assert!(
        text.contains("keys: 1-9 switch scene, r start/stop recording"),
        "{text}"
    );
    assert!(text.contains("; stopped by q)"), "{text}");

    // The first recording: red, then blue after `2`, until `r`.
    let first = frame_colours(&record);
    assert!(is_red(first[0]), "{:?}", first[0]);
    assert!(is_blue(*first.last().unwrap()), "{:?}", first.last());
    // The second: blue, then red after `1`, until `q`.
    let second = frame_colours(&dir.path().join("show-2.mkv"));
    assert!(is_blue(second[0]), "{:?}", second[0]);
    assert!(is_red(*second.last().unwrap()), "{:?}", second.last());
    // Both recordings are summed up.
    for (file, why) in [("show.mkv", "stopped by r"), ("show-2.mkv", "stopped by q")] {
        assert!(
            text.split(['\r', '\n'])
                .any(|l| l.contains("recorded ") && l.contains(file) && l.contains(why)),
            "{file}: {text}"
        );
    }
}

/// `n` skips `stream-files` to the next file and `q` stops it cleanly: what nginx received
/// starts red (the first file) and ends blue (the second), about as long as the job ran.
#[test]
fn keys_skip_to_the_next_file_and_quit_a_stream() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("videos");
    std::fs::create_dir(&folder).unwrap();
    for (name, colour) in [("a.mp4", "red"), ("b.mp4", "blue")] {
        livekit_testkit::media::ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &format!("color=c={colour}:size=160x90:rate=25"),
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "20",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            folder.join(name).to_str().unwrap(),
        ]);
    }
    let server = livekit_testkit::NginxRtmp::start();
    let command = format!(
        "{} stream-files {} {} --yes --size 160x90 --timeout 60",
        env!("CARGO_BIN_EXE_livekit"),
        folder.display(),
        server.url("keys-stream")
    );
    let mut child = Command::new("script")
        .args(["-q", "-f", "-e", "-c", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut keys = child.stdin.take().unwrap();
    let mut press = |key: &str, wait: f64| {
        std::thread::sleep(Duration::from_secs_f64(wait));
        keys.write_all(key.as_bytes()).unwrap();
        keys.flush().unwrap();
    };
    press("n", 4.0);
    press("?", 1.0);
    press("q", 2.0);
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("next file"), "{text}");
    assert!(
        text.contains("keys: p pause/resume, n next file, q stop"),
        "{text}"
    );
    assert!(text.contains("stopped by q"), "{text}");
    let recordings = server.recordings("keys-stream");
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    let colours = frame_colours(&recordings[0]);
    assert!(is_red(colours[0]), "{:?}", colours[0]);
    assert!(is_blue(*colours.last().unwrap()), "{:?}", colours.last());
    // Far shorter than the 40 s of the two files.
    assert!(colours.len() < 25 * 15, "{} frames", colours.len());
}
