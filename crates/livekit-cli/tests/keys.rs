//! Single keys on a terminal: `compose` run under a pseudo-terminal (`script`), keys typed
//! into it. `2` switches to the second scene, `r` stops and starts the recording (the second
//! one in NAME-2.EXT), `?` lists the keys, `q` stops cleanly.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use livekit_testkit::probe::frame_colours;

/// A command on a pseudo-terminal (`script`): keys typed into it once its output shows what
/// the test waits for (conditions, not fixed delays: CI machines are loaded).
struct Terminal {
    child: Child,
    keys: ChildStdin,
    seen: Arc<Mutex<String>>,
    reader: livekit_core::thread::Worker<()>,
}

impl Terminal {
    fn run(command: &str) -> Self {
        let mut child = Command::new("script")
            .args(["-q", "-f", "-e", "-c", command, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("script (util-linux) runs commands on a pseudo-terminal");
        let keys = child.stdin.take().unwrap();
        let mut output = child.stdout.take().unwrap();
        let seen = Arc::new(Mutex::new(String::new()));
        let shared = Arc::clone(&seen);
        let reader = livekit_core::thread::spawn_named("test.terminal", move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = output.read(&mut buffer) {
                shared
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        })
        .unwrap();
        Self {
            child,
            keys,
            seen,
            reader,
        }
    }

    /// Waits (up to a minute) until the output holds `text`, then `settle` more seconds (what
    /// the step needs to show in the recording), then types `key`.
    fn after(&mut self, text: &str, settle: f64, key: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.seen.lock().unwrap().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no {text:?} in:\n{}",
                self.seen.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_secs_f64(settle));
        self.keys.write_all(key.as_bytes()).unwrap();
        self.keys.flush().unwrap();
    }

    fn finish(mut self) -> (ExitStatus, String) {
        let status = self.child.wait().unwrap();
        self.reader.join().unwrap();
        let text = self.seen.lock().unwrap().clone();
        (status, text)
    }
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
    let mut terminal = Terminal::run(&command);
    // Red for a moment in the recording (its first kilobyte written), then the second scene.
    terminal.after("kB recorded", 0.5, "2");
    terminal.after("scene 2: break", 1.0, "r");
    terminal.after("recording stopped", 0.5, "r");
    terminal.after("show-2.mkv", 1.0, "?");
    terminal.after("keys: ", 0.0, "1");
    terminal.after("scene 1: main", 1.0, "q");
    let (status, text) = terminal.finish();
    assert!(status.success(), "{text}");
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
    let first = frame_colours(&record, None).unwrap();
    assert!(is_red(first[0]), "{:?}", first[0]);
    assert!(is_blue(*first.last().unwrap()), "{:?}", first.last());
    // The second: blue, then red after `1`, until `q`.
    let second = frame_colours(&dir.path().join("show-2.mkv"), None).unwrap();
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
    let mut terminal = Terminal::run(&command);
    // Two seconds into the first file (the progress bar's "1/2 2 s"), then the next one.
    terminal.after("1/2 2 s", 0.0, "n");
    // On the last file, `n` does not end the stream.
    terminal.after("next file", 0.0, "n");
    terminal.after("this is the last file (q stops)", 0.0, "?");
    terminal.after("keys: ", 2.0, "q");
    let (status, text) = terminal.finish();
    assert!(status.success(), "{text}");
    assert!(text.contains("next file"), "{text}");
    assert!(
        text.contains("keys: p pause/resume, n next file, q stop"),
        "{text}"
    );
    assert!(text.contains("stopped by q"), "{text}");
    let recordings = server.recordings("keys-stream");
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    let colours = frame_colours(&recordings[0], None).unwrap();
    assert!(is_red(colours[0]), "{:?}", colours[0]);
    assert!(is_blue(*colours.last().unwrap()), "{:?}", colours.last());
    // Far shorter than the 40 s of the two files.
    assert!(colours.len() < 25 * 15, "{} frames", colours.len());
}

/// A 4 s clip (160x90, with sound) for the jobs below.
fn short_clip(dir: &std::path::Path) -> std::path::PathBuf {
    let clip = dir.join("clip.mp4");
    livekit_testkit::media::clip(
        &clip,
        &livekit_testkit::media::ClipSpec {
            seconds: 4.0,
            width: 160,
            height: 90,
            ..Default::default()
        },
    );
    clip
}

/// A job started with `&` from a shell with job control does not touch the terminal: setting
/// it from the background stopped the job (SIGTTOU) before its time limit could end it. Here
/// its only destination does not answer, so it ends at `--timeout` with exit 1 ("no
/// destination received the stream"); stopped, `wait` would say 128 + the signal.
#[test]
fn a_job_in_the_background_leaves_the_terminal_alone_and_ends() {
    let dir = tempfile::tempdir().unwrap();
    let clip = short_clip(dir.path());
    // `set -m`: job control, so the job gets its own process group, not the terminal's.
    let command = format!(
        "bash -c 'set -m; {} stream-file {} rtmp://127.0.0.1:9/live/none --yes --timeout 2 -q & wait $!; echo \"job exited $?\"'",
        env!("CARGO_BIN_EXE_livekit"),
        clip.display(),
    );
    let mut terminal = Terminal::run(&command);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !terminal.seen.lock().unwrap().contains("job exited") {
        if Instant::now() > deadline {
            let _ = terminal.child.kill();
            panic!("the job never ended: {}", terminal.seen.lock().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, text) = terminal.finish();
    // (Stopped, it said "job exited 150".)
    assert!(
        text.lines().any(|line| line.trim() == "job exited 1"),
        "{text}"
    );
}

/// A second interrupt ends the job at once; the terminal is given back as it was (it stayed
/// without echo and line editing). SIGINT then SIGTERM, a few microseconds apart: two signals
/// of one kind may arrive as one, two kinds cannot, and the first one's clean stop takes far
/// longer than that.
#[test]
fn a_second_ctrl_c_gives_the_terminal_back() {
    let dir = tempfile::tempdir().unwrap();
    let clip = short_clip(dir.path());
    let command = format!(
        "bash -c '{} stream-file {} rtmp://127.0.0.1:9/live/none --yes --loop; echo \"job exited $?\"; stty -a'",
        env!("CARGO_BIN_EXE_livekit"),
        clip.display(),
    );
    let mut terminal = Terminal::run(&command);
    terminal.after("press q or Ctrl-C to stop", 0.0, "");
    let pid = Command::new("pgrep")
        .args([
            "-f",
            &format!(
                "^{} stream-file {}",
                env!("CARGO_BIN_EXE_livekit"),
                clip.display()
            ),
        ])
        .output()
        .unwrap();
    let pid: libc::pid_t = String::from_utf8_lossy(&pid.stdout)
        .trim()
        .parse()
        .expect("one livekit process");
    // SAFETY: signals sent to a process of this test.
    unsafe {
        libc::kill(pid, libc::SIGINT);
        libc::kill(pid, libc::SIGTERM);
    }
    let (_, text) = terminal.finish();
    assert!(text.contains("job exited 130"), "{text}");
    assert!(
        text.contains("stopped at once (second interrupt)"),
        "{text}"
    );
    let settings = text.split("job exited").nth(1).unwrap();
    assert!(
        settings.contains(" icanon") && settings.contains(" echo "),
        "{text}"
    );
}
