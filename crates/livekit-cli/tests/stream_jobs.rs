//! `livekit stream-file` / `stream-files` run as processes against a local nginx-rtmp; what
//! arrived is checked with ffprobe.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::path::Path;
use std::process::{Command, Output};

use livekit_testkit::NginxRtmp;
use livekit_testkit::media::{ClipSpec, clip, ffmpeg};
use livekit_testkit::probe::{decodes_cleanly, ffprobe};

fn livekit(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_livekit"))
        .args(args)
        .current_dir(cwd)
        .env("XDG_CONFIG_HOME", cwd.join("xdg"))
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Both outputs of a run, for "no key anywhere" checks.
fn all_output(out: &Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

#[test]
fn stream_file_reaches_two_destinations_with_video_and_audio() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clip.mp4");
    clip(
        &file,
        &ClipSpec {
            seconds: 3.0,
            ..ClipSpec::default()
        },
    );
    let server = NginxRtmp::start();
    let (a, b) = (server.url("SECRETKEYAAA"), server.url("SECRETKEYBBB"));
    let out = livekit(
        dir.path(),
        &["stream-file", file.to_str().unwrap(), &a, &b, "--yes"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all = all_output(&out);
    assert!(!all.contains("SECRETKEY"), "a key was shown: {all}");
    // Two URLs on one server: each is labelled by its position, in the summary as elsewhere.
    let stderr = text(&out.stderr);
    for label in ["#1", "#2"] {
        let line = format!("  {label} {}/<redacted>: ", server.app_url());
        let found: Vec<&str> = stderr.lines().filter(|l| l.starts_with(&line)).collect();
        assert_eq!(found.len(), 1, "{label}: {stderr}");
        assert!(
            found[0].contains(" MB sent, 0 reconnects, "),
            "{}",
            found[0]
        );
    }
    for key in ["SECRETKEYAAA", "SECRETKEYBBB"] {
        let recordings = server.recordings(key);
        assert_eq!(recordings.len(), 1, "{key}: {recordings:?}");
        let probe = ffprobe(&recordings[0]).unwrap();
        let video = probe.video().unwrap();
        assert_eq!(video.codec_name, "h264");
        assert_eq!((video.width, video.height), (Some(320), Some(240)));
        assert_eq!(probe.audio().unwrap().codec_name, "aac");
        assert!(
            (probe.duration() - 3.0).abs() < 0.5,
            "{key}: {} s",
            probe.duration()
        );
        decodes_cleanly(&recordings[0]).unwrap();
    }
}

#[test]
fn stream_files_sends_one_continuous_stream() {
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("media");
    std::fs::create_dir_all(&media).unwrap();
    // Two clips of different sizes, and a file that is not media (skipped by the glob).
    clip(
        &media.join("a.mp4"),
        &ClipSpec {
            seconds: 2.0,
            ..ClipSpec::default()
        },
    );
    clip(
        &media.join("b.mp4"),
        &ClipSpec {
            seconds: 2.0,
            width: 480,
            height: 270,
            ..ClipSpec::default()
        },
    );
    std::fs::write(media.join("notes.txt"), "not media").unwrap();
    let server = NginxRtmp::start();
    let url = server.url("list");
    let out = livekit(
        dir.path(),
        &[
            "stream-files",
            media.to_str().unwrap(),
            &url,
            "--glob",
            "*.mp4",
            "--yes",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // One publish for the whole list: the viewers' stream never drops between files.
    let recordings = server.recordings("list");
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    let probe = ffprobe(&recordings[0]).unwrap();
    // A playlist is sent at the configured size (here the built-in 1280x720), not the first
    // file's.
    assert_eq!(probe.video().unwrap().width, Some(1280));
    assert!(
        (probe.duration() - 4.0).abs() < 0.6,
        "{} s",
        probe.duration()
    );
    decodes_cleanly(&recordings[0]).unwrap();
}

#[test]
fn stream_file_copy_sends_the_files_own_packets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clip.mp4");
    clip(
        &file,
        &ClipSpec {
            seconds: 2.0,
            gop: 30,
            ..ClipSpec::default()
        },
    );
    let server = NginxRtmp::start();
    let url = server.url("copied");
    let out = livekit(
        dir.path(),
        &[
            "stream-file",
            file.to_str().unwrap(),
            &url,
            "--copy",
            "--yes",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let recordings = server.recordings("copied");
    assert_eq!(recordings.len(), 1);
    let probe = ffprobe(&recordings[0]).unwrap();
    assert_eq!(probe.video().unwrap().codec_name, "h264");
    assert!((probe.duration() - 2.0).abs() < 0.5);

    // --loop: the 2 s file again and again as one stream (each pass's timestamps after the
    // last), until --timeout.
    let out = livekit(
        dir.path(),
        &[
            "-q",
            "stream-file",
            file.to_str().unwrap(),
            &server.url("looped"),
            "--copy",
            "--loop",
            "--yes",
            "--timeout",
            "5",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let looped = &server.recordings("looped")[0];
    let probe = ffprobe(looped).unwrap();
    assert!(probe.duration() > 4.5, "{} s", probe.duration());
    decodes_cleanly(looped).unwrap();

    // A file that does not suit pass-through is refused with the reason.
    let mpeg4 = dir.path().join("mpeg4.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=10",
        "-t",
        "1",
        "-c:v",
        "mpeg4",
        mpeg4.to_str().unwrap(),
    ]);
    let out = livekit(
        dir.path(),
        &[
            "stream-file",
            mpeg4.to_str().unwrap(),
            &url,
            "--copy",
            "--yes",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "livekit: error: {}: cannot stream without re-encoding: video is mpeg4, destinations take only H.264 video and AAC audio",
            mpeg4.display()
        )
    );
}

#[test]
fn print_command_shows_an_ffmpeg_line_with_the_keys_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clip.mp4");
    clip(&file, &ClipSpec::default());
    let out = livekit(
        dir.path(),
        &[
            "stream-file",
            file.to_str().unwrap(),
            "rtmp://127.0.0.1:1/live/TOPSECRET",
            "srt://127.0.0.1:2?streamid=TOPSECRET",
            "--print-command",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    assert!(!all_output(&out).contains("TOPSECRET"), "{line}");
    assert!(line.starts_with("ffmpeg -re -i "), "{line}");
    for part in [
        "-c:v libx264",
        "-preset veryfast",
        "-b:v 300k",
        "-g 60",
        "-c:a aac",
        "-f tee",
        "[f=flv:onfail=ignore]rtmp://127.0.0.1:1/live/<redacted>",
        "[f=mpegts:onfail=ignore]srt://",
    ] {
        assert!(line.contains(part), "{part} missing from {line}");
    }
}

/// An input URL's password and token are not shown: not in the printed ffmpeg line, not in
/// the go-live question (asked here without a terminal, so refused with what it would stream).
#[test]
fn an_input_urls_password_and_token_are_not_shown() {
    let dir = tempfile::tempdir().unwrap();
    clip(&dir.path().join("clip.mp4"), &ClipSpec::default());
    let server = livekit_testkit::HttpFiles::start(dir.path());
    let url = server
        .url("clip.mp4")
        .replacen("http://", "http://alice:pw-4b4b4b@", 1)
        + "?token=tok-3a3a3a";
    let shown = format!(
        "http://<redacted>@127.0.0.1:{}/clip.mp4?<redacted>",
        server.port()
    );
    for extra in [&["--print-command"][..], &[], &["--copy"]] {
        let mut args = vec!["stream-file", &url, "rtmp://127.0.0.1:1/live/dest-key"];
        args.extend_from_slice(extra);
        let out = livekit(dir.path(), &args);
        let all = all_output(&out);
        assert!(!all.contains("pw-4b4b4b"), "{extra:?}: {all}");
        assert!(!all.contains("tok-3a3a3a"), "{extra:?}: {all}");
        assert!(!all.contains("dest-key"), "{extra:?}: {all}");
        assert!(all.contains(&shown), "{extra:?}: {all}");
    }
}

/// A loop plays for ever: when its files go away (a disk unplugged), the job does not end as
/// if it had finished: it fails (exit 1) and says why, after its summary.
#[test]
fn a_loop_whose_files_went_away_is_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("videos");
    std::fs::create_dir(&folder).unwrap();
    for name in ["a.mp4", "b.mp4"] {
        clip(&folder.join(name), &ClipSpec::default());
    }
    let server = NginxRtmp::start();
    let key = "gone-key-2e2e2e";
    let url = server.url(key);
    let job = in_background(
        dir.path(),
        &[
            "stream-files",
            folder.to_str().unwrap(),
            &url,
            "--loop",
            "--yes",
            "--timeout",
            "60",
        ],
    );
    wait_for_publish(&server, key);
    std::fs::remove_dir_all(&folder).unwrap();
    let out = job.join().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.trim_end().ends_with(
            "livekit: error: the loop ended: none of its files could be played any more (were they removed?)"
        ),
        "{stderr}"
    );
    assert!(!all_output(&out).contains(key));
}

#[test]
fn bad_input_gives_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let file = cwd.join("clip.mp4");
    clip(
        &file,
        &ClipSpec {
            seconds: 1.0,
            ..ClipSpec::default()
        },
    );
    let f = file.to_str().unwrap();
    let cases: Vec<(Vec<&str>, i32, String)> = vec![
        (
            vec!["stream-file", "missing.mp4", "rtmp://127.0.0.1/live/k", "--yes"],
            2,
            "livekit: error: media file missing.mp4: no such file".into(),
        ),
        (
            vec!["stream-file", f, "nosuchsite", "--yes"],
            2,
            "livekit: error: unknown site \"nosuchsite\": known sites are facebook, localhost, restream, twitch, youtube; or give a rtmp://, rtmps:// or srt:// URL, or a WHIP endpoint's https:// URL".into(),
        ),
        (
            vec!["stream-file", f, "ftp://example.com/live/k", "--yes"],
            2,
            String::new(),
        ),
        (
            vec!["stream-file", f, "http://example.com/live/k", "--yes", "--copy"],
            2,
            "livekit: error: #1 http://example.com/live/k: a WHIP endpoint: --copy sends the file's own packets over RTMP, RTMPS and SRT only; leave out --copy to send it re-encoded for WebRTC".into(),
        ),
        (
            vec!["stream-file", f, "youtube", "--yes"],
            2,
            String::new(),
        ),
        (
            vec!["stream-file", f, "rtmp://127.0.0.1/live/k"],
            2,
            format!(
                "livekit: error: not asking to go live without a terminal: add --yes to stream {f} to #1 rtmp://127.0.0.1/live/<redacted>"
            ),
        ),
        (
            vec!["stream-file", f, "rtmp://127.0.0.1/live/k", "--timeout", "-3"],
            2,
            String::new(),
        ),
        (
            vec!["stream-files", "nowhere", "rtmp://127.0.0.1/live/k", "--yes"],
            2,
            "livekit: error: nowhere: no such file or folder".into(),
        ),
    ];
    for (args, code, expected) in cases {
        let out = livekit(cwd, &args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        if expected.is_empty() {
            assert!(
                stderr.trim().lines().count() >= 1 && !stderr.contains("panicked"),
                "{args:?}: {stderr}"
            );
        } else {
            assert_eq!(stderr.trim(), expected, "{args:?}");
        }
    }
    // A site with no key names the site and where a key can come from.
    let out = livekit(cwd, &["stream-file", f, "youtube", "--yes"]);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("youtube"), "{stderr}");
}

#[test]
fn a_refusing_destination_fails_the_job_with_exit_1_and_no_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clip.mp4");
    clip(
        &file,
        &ClipSpec {
            seconds: 1.0,
            ..ClipSpec::default()
        },
    );
    // Nothing listens on this port.
    let port = livekit_testkit::net::free_port();
    let url = format!("rtmp://127.0.0.1:{port}/live/HIDDENKEY");
    let out = livekit(
        dir.path(),
        &["stream-file", file.to_str().unwrap(), &url, "--yes"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let all = all_output(&out);
    assert!(!all.contains("HIDDENKEY"), "{all}");
    assert!(
        all.contains("livekit: error: no destination received the stream"),
        "{all}"
    );
}

/// Bright pixels in the bottom fifth of the frame at 1.5 s of `recording`.
fn caption_pixels(dir: &Path, recording: &Path) -> usize {
    let png = dir.join("frame.png");
    ffmpeg(&[
        "-ss",
        "1.5",
        "-i",
        recording.to_str().unwrap(),
        "-frames:v",
        "1",
        png.to_str().unwrap(),
    ]);
    let frame = image::open(&png).unwrap().into_rgb8();
    let (w, h) = frame.dimensions();
    (h * 4 / 5..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .filter(|&(x, y)| frame.get_pixel(x, y).0.iter().all(|&c| c > 200))
        .count()
}

#[test]
fn songs_get_a_title_artist_caption_unless_no_meta() {
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("music");
    std::fs::create_dir_all(&media).unwrap();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000:duration=3",
        "-metadata",
        "title=Blue Sky",
        "-metadata",
        "artist=The Tones",
        "-c:a",
        "aac",
        media.join("song.m4a").to_str().unwrap(),
    ]);
    let server = NginxRtmp::start();
    for (key, extra) in [("captioned", None), ("plain", Some("--no-meta"))] {
        let url = server.url(key);
        let mut args = vec![
            "stream-files",
            media.to_str().unwrap(),
            url.as_str(),
            "--yes",
        ];
        args.extend(extra);
        let out = livekit(dir.path(), &args);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let captioned = server.recordings("captioned");
    let plain = server.recordings("plain");
    assert_eq!((captioned.len(), plain.len()), (1, 1));
    let probe = ffprobe(&captioned[0]).unwrap();
    assert_eq!(
        probe.video().unwrap().width,
        Some(1280),
        "the configured canvas"
    );
    assert!((probe.duration() - 3.0).abs() < 0.5, "{}", probe.duration());
    // Captions follow the clock: they cannot be made as fast as possible.
    let url = server.url("fast");
    let out = livekit(
        dir.path(),
        &[
            "stream-files",
            media.to_str().unwrap(),
            &url,
            "--yes",
            "--readrate",
            "0",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr).trim(),
        "livekit: error: --readrate 0 cannot caption songs (captions follow the clock): add --no-meta or give a rate above 0"
    );
    let lit = caption_pixels(dir.path(), &captioned[0]);
    assert!(lit > 500, "{lit} caption pixels");
    assert_eq!(caption_pixels(dir.path(), &plain[0]), 0);
}

#[test]
fn readrate_sets_how_fast_the_input_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clip.mp4");
    clip(
        &file,
        &ClipSpec {
            seconds: 10.0,
            ..ClipSpec::default()
        },
    );
    let f = file.to_str().unwrap();
    let server = NginxRtmp::start();
    // 0: as fast as the destination takes it; 4: four times real time (2.5 s); --copy too.
    for (key, rate, copy, at_least, under) in [
        ("free", "0", false, 0.0, 6.0),
        ("fourfold", "4", false, 2.3, 9.0),
        ("copyfree", "0", true, 0.0, 6.0),
    ] {
        let url = server.url(key);
        let mut args = vec!["stream-file", f, url.as_str(), "--yes", "--readrate", rate];
        if copy {
            args.push("--copy");
        }
        let started = std::time::Instant::now();
        let out = livekit(dir.path(), &args);
        let took = started.elapsed().as_secs_f64();
        assert!(out.status.success(), "{key}: {}", text(&out.stderr));
        assert!(
            took >= at_least && took < under,
            "{key}: a 10 s file at --readrate {rate} took {took:.1} s"
        );
        let recordings = server.recordings(key);
        assert_eq!(recordings.len(), 1, "{key}");
        let probe = ffprobe(&recordings[0]).unwrap();
        assert!(
            (probe.duration() - 10.0).abs() < 0.5,
            "{key}: {} s arrived",
            probe.duration()
        );
        assert!(probe.audio().is_some(), "{key}");
        decodes_cleanly(&recordings[0]).unwrap();
    }

    // The printed FFmpeg command paces the same way.
    for (rate, expected) in [
        ("1", "ffmpeg -re -i "),
        ("2.5", "ffmpeg -readrate 2.5 -i "),
        ("0", "ffmpeg -i "),
    ] {
        let out = livekit(
            dir.path(),
            &[
                "stream-file",
                f,
                "rtmp://127.0.0.1:1/live/k",
                "--readrate",
                rate,
                "--print-command",
            ],
        );
        let line = text(&out.stdout);
        assert!(
            line.starts_with(expected),
            "--readrate {rate}: {line}{}",
            text(&out.stderr)
        );
    }

    // Rates that make no sense are refused in one line.
    for rate in ["-1", "fast", "1000"] {
        let out = livekit(
            dir.path(),
            &[
                "stream-file",
                f,
                "localhost",
                "--yes",
                &format!("--readrate={rate}"),
            ],
        );
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{rate}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "{rate:?} is not a rate: give 0 (as fast as possible) or a number from 0.01 to 100"
            )),
            "{rate}: {stderr}"
        );
    }
}

#[test]
fn a_file_with_nothing_playable_says_so_rather_than_blaming_the_destinations() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.mkv");
    clip(&full, &ClipSpec::default());
    // Headers and the start of the first cluster: it opens, then nothing decodes.
    let bytes = std::fs::read(&full).unwrap();
    let cluster = bytes
        .windows(4)
        .position(|w| w == [0x1f, 0x43, 0xb6, 0x75])
        .unwrap();
    let cut = dir.path().join("cut.mkv");
    std::fs::write(&cut, &bytes[..cluster + 40]).unwrap();
    let out = livekit(
        dir.path(),
        &[
            "-q",
            "stream-file",
            cut.to_str().unwrap(),
            "rtmp://127.0.0.1:1/live/k",
            "--yes",
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!(
            "livekit: error: media {}: no audio or video frame could be decoded",
            cut.display()
        )
    );
}

/// Waits (at most 30 s) until the server has received more than 10 KB published under `key`;
/// returns when the wait began.
fn wait_for_publish(server: &NginxRtmp, key: &str) -> std::time::Instant {
    let started = std::time::Instant::now();
    while !server
        .recordings(key)
        .iter()
        .any(|r| std::fs::metadata(r).is_ok_and(|m| m.len() > 10_000))
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{key}: the first publish never arrived"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    started
}

/// `livekit args` in `cwd` on a thread of its own, while the test does something to a server.
fn in_background(cwd: &Path, args: &[&str]) -> livekit_core::thread::Worker<Output> {
    let cwd = cwd.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    livekit_core::thread::spawn_named("livekit.test.job", move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        livekit(&cwd, &args)
    })
    .unwrap()
}

/// The only server goes away for good mid-stream: the job cannot tell the user "success". It
/// ends with exit 1 and says the stream was lost.
#[test]
fn a_stream_lost_for_good_is_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clip.mp4");
    clip(&file, &ClipSpec::default());
    let mut server = NginxRtmp::start();
    let url = server.url("lost-key-8e8e8e");
    let job = in_background(
        dir.path(),
        &[
            "-q",
            "stream-file",
            file.to_str().unwrap(),
            &url,
            "--loop",
            "--yes",
            "--timeout",
            "5",
        ],
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    server.kill();
    let out = job.join().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.trim().starts_with(
            "livekit: error: the stream was lost: no destination was connected at the end ("
        ),
        "{stderr}"
    );
    assert!(!all_output(&out).contains("lost-key-8e8e8e"));
}

/// Not live (`--readrate 0`) and the only server restarts: the file waits for it, and the new
/// publish goes on where the old one stopped, without a jump in time.
#[test]
fn a_file_read_ahead_waits_for_its_server_to_return() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clip.mp4");
    clip(
        &file,
        &ClipSpec {
            seconds: 60.0,
            ..ClipSpec::default()
        },
    );
    let mut server = NginxRtmp::start();
    let key = "back-key-9f9f9f";
    let url = server.url(key);
    let job = in_background(
        dir.path(),
        &[
            "-q",
            "stream-file",
            file.to_str().unwrap(),
            &url,
            "--readrate",
            "0",
            "--yes",
        ],
    );
    // Stop the server while the file is being read (it is read far faster than real time, but
    // encoding 60 s takes a while), once the first publish is being received (on a loaded
    // machine the job may take a while to connect), then bring it back 2 s later.
    let started = wait_for_publish(&server, key);
    // And not in the first burst (the job reads as fast as the server takes it: what is in the
    // socket buffers when the server dies is lost, and they are fullest at the start).
    std::thread::sleep(std::time::Duration::from_millis(700).saturating_sub(started.elapsed()));
    server.kill();
    std::thread::sleep(std::time::Duration::from_secs(2));
    server.restart();
    let out = job.join().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut recordings = server.recordings(key);
    recordings.sort();
    assert_eq!(recordings.len(), 2, "{recordings:?}");
    // Every recording's video runs without a gap (frames 1/30 s apart in presentation order).
    let mut frames = 0;
    for (n, recording) in recordings.iter().enumerate() {
        let cut = n + 1 < recordings.len();
        let probe = Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v", "-show_entries"])
            .args(["packet=pts_time", "-of", "csv=p=0"])
            .arg(recording)
            .output()
            .unwrap();
        let mut times: Vec<f64> = text(&probe.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        times.sort_by(f64::total_cmp);
        // A recording the server's death cut ends where the sending did, in decode order:
        // its last frames in presentation order may miss B-frames that were never sent (a
        // P-frame goes before the B-frames shown ahead of it), so its last 0.2 s are not held
        // to the rule.
        let end = times.last().copied().unwrap_or(0.0) - if cut { 0.2 } else { 0.0 };
        let (at, gap) = times
            .windows(2)
            .filter(|w| w[1] <= end + 1e-6)
            .map(|w| (w[0], w[1] - w[0]))
            .fold((0.0, 0.0), |a, b| if b.1 > a.1 { b } else { a });
        assert!(
            gap < 0.1,
            "{}: a {gap} s jump after {at} s (of {} to {} s)",
            recording.display(),
            times.first().unwrap_or(&0.0),
            times.last().unwrap_or(&0.0)
        );
        frames += times.len();
    }
    // What was lost: the packets in flight and the rest of one GOP (1 s).
    assert!(frames >= 30 * 58, "{frames} frames of 1800 arrived");
}

/// Not live (`--readrate 0`), the only server dies, and the user presses Ctrl-C while the job
/// waits for it to come back: the job stops at once and the recording is finalized. (The
/// encoder's last packets used to wait for the reconnecting destination, so the job hung until
/// a second Ctrl-C, which left the recording unfinished.)
#[test]
fn ctrl_c_stops_a_file_read_ahead_whose_only_server_died() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clip.mp4");
    clip(
        &file,
        &ClipSpec {
            seconds: 120.0,
            ..ClipSpec::default()
        },
    );
    let mut server = NginxRtmp::start();
    let key = "dead-key-5c5c5c";
    let url = server.url(key);
    let recording = dir.path().join("kept.mkv");
    let mut job = livekit_testkit::ChildGuard::new(
        "livekit stream-file",
        Command::new(env!("CARGO_BIN_EXE_livekit"))
            .args(["stream-file", file.to_str().unwrap(), &url])
            .args(["--readrate", "0", "--yes", "--record"])
            .arg(&recording)
            .current_dir(dir.path())
            .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_for_publish(&server, key);
    server.kill();
    // The destination finds the server gone and waits to reconnect; the file waits for it.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(!job.has_exited(), "the job ended by itself");
    let asked = std::time::Instant::now();
    let status = job
        .stop_with("INT", std::time::Duration::from_secs(20))
        .unwrap();
    let took = asked.elapsed();
    assert!(
        took < std::time::Duration::from_secs(3),
        "Ctrl-C took {took:?} to stop the job"
    );
    // The stream was lost (exit 1 says so), the recording is whole.
    assert_eq!(status.code(), Some(1), "{status}");
    decodes_cleanly(&recording).unwrap();
    let seconds = ffprobe(&recording).unwrap().duration();
    assert!(seconds > 1.0, "recorded {seconds} s");
}

/// A picture streamed stays on screen until stopped (here by --timeout), not for one frame.
#[test]
fn a_still_picture_is_shown_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let picture = dir.path().join("still.png");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=s=320x240",
        "-frames:v",
        "1",
        picture.to_str().unwrap(),
    ]);
    let server = NginxRtmp::start();
    let key = "still-key-7a7a7a";
    let out = livekit(
        dir.path(),
        &[
            "-q",
            "stream-file",
            picture.to_str().unwrap(),
            &server.url(key),
            "--yes",
            "--timeout",
            "3",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got = ffprobe(&server.recordings(key)[0]).unwrap();
    assert_eq!(got.video().unwrap().width, Some(320));
    assert!(got.duration() > 2.5, "{} s", got.duration());
}

/// `--hls DIR` writes HTTP Live Streaming of what is sent (the same encode): a playlist that
/// ends when the job does, segments of one keyframe interval, and a folder ffprobe plays whole.
/// A window of N keeps the last N segments listed and deletes the older ones.
#[test]
fn hls_writes_a_playlist_of_what_is_streamed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clip.mp4");
    clip(
        &file,
        &ClipSpec {
            seconds: 7.0,
            ..ClipSpec::default()
        },
    );
    let server = NginxRtmp::start();
    let hls = dir.path().join("web");
    let out = livekit(
        dir.path(),
        &[
            "stream-file",
            file.to_str().unwrap(),
            &server.url("hls-key"),
            "--hls",
            hls.to_str().unwrap(),
            "--hls-window",
            "0",
            "--readrate",
            "0",
            "--yes",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let playlist = std::fs::read_to_string(hls.join("index.m3u8")).unwrap();
    assert!(playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
    assert!(playlist.contains("#EXT-X-MAP:URI=\"init-"), "{playlist}");
    let segments: Vec<&str> = playlist.lines().filter(|l| l.ends_with(".m4s")).collect();
    assert_eq!(segments.len(), 4, "7 s in 2 s segments: {playlist}");
    let got = ffprobe(&hls.join("index.m3u8")).unwrap();
    assert_eq!(got.video().unwrap().codec_name, "h264");
    assert_eq!(got.audio().unwrap().codec_name, "aac");
    assert!((got.duration() - 7.0).abs() < 0.3, "{} s", got.duration());
    decodes_cleanly(&hls.join("index.m3u8")).unwrap();
    let sent = ffprobe(&server.recordings("hls-key")[0]).unwrap();
    assert!((sent.duration() - 7.0).abs() < 0.3, "{} s", sent.duration());

    // A window of 2: the playlist lists the last two; the older segments are gone.
    let out = livekit(
        dir.path(),
        &[
            "-q",
            "stream-file",
            file.to_str().unwrap(),
            &server.url("hls-key-2"),
            "--hls",
            hls.to_str().unwrap(),
            "--hls-window",
            "2",
            "--readrate",
            "0",
            "--yes",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let playlist = std::fs::read_to_string(hls.join("index.m3u8")).unwrap();
    let listed: Vec<&str> = playlist.lines().filter(|l| l.ends_with(".m4s")).collect();
    assert_eq!(listed.len(), 2, "{playlist}");
    assert!(listed[0].ends_with("-00002.m4s"), "{playlist}");
    assert!(listed[1].ends_with("-00003.m4s"), "{playlist}");
    // A new start names its files anew: no name of the first run's segments is listed.
    assert!(segments.iter().all(|s| !listed.contains(s)), "{playlist}");
    let first = listed[0].replace("-00002.m4s", "-00000.m4s");
    assert!(!hls.join(&first).exists(), "the oldest segment was deleted");
    for old in &segments {
        assert!(!hls.join(old).exists(), "the first run's {old} was removed");
    }
    assert!(!playlist.contains("PLAYLIST-TYPE"), "{playlist}");
}

/// `--record FILE` keeps a copy of what is sent (the same encode); a recording that cannot be
/// written ends the job with its reason (exit 1) while the stream still arrives.
#[test]
fn record_keeps_what_is_streamed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clip.mp4");
    clip(&file, &ClipSpec::default());
    let server = NginxRtmp::start();
    let kept = dir.path().join("kept.mkv");
    let out = livekit(
        dir.path(),
        &[
            "-q",
            "stream-file",
            file.to_str().unwrap(),
            &server.url("recorded-key-1"),
            "--record",
            kept.to_str().unwrap(),
            "--yes",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let sent = ffprobe(&server.recordings("recorded-key-1")[0]).unwrap();
    let local = ffprobe(&kept).unwrap();
    for probe in [&sent, &local] {
        assert_eq!(probe.video().unwrap().codec_name, "h264");
        assert_eq!(probe.audio().unwrap().codec_name, "aac");
        assert!(
            (probe.duration() - 2.0).abs() < 0.3,
            "{} s",
            probe.duration()
        );
    }
    decodes_cleanly(&kept).unwrap();

    let full = dir.path().join("full.mkv");
    std::os::unix::fs::symlink("/dev/full", &full).unwrap();
    let out = livekit(
        dir.path(),
        &[
            "-q",
            "stream-file",
            file.to_str().unwrap(),
            &server.url("recorded-key-2"),
            "--record",
            full.to_str().unwrap(),
            "--yes",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).trim_end().ends_with(&format!(
            "livekit: error: recording file {}: cannot write: No space left on device",
            full.display()
        )),
        "{}",
        text(&out.stderr)
    );
    let sent = ffprobe(&server.recordings("recorded-key-2")[0]).unwrap();
    assert!((sent.duration() - 2.0).abs() < 0.3, "{} s", sent.duration());
}

/// The default test clip remuxed to MPEG-TS (what can be read once from a pipe), in `dir`.
fn ts_clip(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("clip.mp4");
    clip(&file, &ClipSpec::default());
    let ts = dir.join("clip.ts");
    ffmpeg(&[
        "-i",
        file.to_str().unwrap(),
        "-c",
        "copy",
        "-f",
        "mpegts",
        ts.to_str().unwrap(),
    ]);
    ts
}

/// `-` is standard input, as with FFmpeg: an MPEG-TS piped in is sent as it is with --copy,
/// and re-encoded without it (read once: the player probes what it opened, nothing reads the
/// pipe before it), at the configured size as nothing can be probed ahead.
#[test]
fn standard_input_streams_with_and_without_copy() {
    let dir = tempfile::tempdir().unwrap();
    let ts = ts_clip(dir.path());
    let server = NginxRtmp::start();
    let run = |key: &str, extra: &[&str]| {
        let mut args = vec!["-q", "stream-file", "-", "--yes"];
        let url = server.url(key);
        args.push(&url);
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_livekit"))
            .args(&args)
            .current_dir(dir.path())
            .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
            .stdin(std::fs::File::open(&ts).unwrap())
            .output()
            .unwrap()
    };
    let out = run("piped-key-2c2c2c", &["--copy"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got = ffprobe(&server.recordings("piped-key-2c2c2c")[0]).unwrap();
    assert_eq!(got.video().unwrap().codec_name, "h264");
    assert!((got.duration() - 2.0).abs() < 0.3, "{} s", got.duration());

    // Re-encoded: at --size (the input is 320x240), with its audio, the whole input.
    let out = run("piped-key-3d3d3d", &["--size", "256x144"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!all_output(&out).contains("piped-key"), "a key was shown");
    let recordings = server.recordings("piped-key-3d3d3d");
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    let got = ffprobe(&recordings[0]).unwrap();
    let video = got.video().unwrap();
    assert_eq!(video.codec_name, "h264");
    assert_eq!((video.width, video.height), (Some(256), Some(144)));
    assert_eq!(got.audio().unwrap().codec_name, "aac");
    assert!((got.duration() - 2.0).abs() < 0.4, "{} s", got.duration());
    decodes_cleanly(&recordings[0]).unwrap();
}

/// `--size`, `--fps` and `--kbps`: a playlist is sent at the configured size and rate (not
/// the first file's, whatever the order), a flag wins over the configuration, one file keeps
/// its own size and rate, and `--print-command` shows what is chosen.
#[test]
fn output_size_rate_and_bit_rate_come_from_flags_then_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("media");
    std::fs::create_dir_all(&media).unwrap();
    clip(&media.join("a.mp4"), &ClipSpec::default());
    clip(
        &media.join("b.mp4"),
        &ClipSpec {
            width: 480,
            height: 270,
            fps: 60,
            gop: 60,
            ..ClipSpec::default()
        },
    );
    let config = dir.path().join("big.toml");
    std::fs::write(
        &config,
        "[defaults]\nwidth = 640\nheight = 360\nfps = 24\nvideo_kbps = 700\n",
    )
    .unwrap();
    let c = config.to_str().unwrap();
    let m = media.to_str().unwrap();
    let a = media.join("a.mp4");
    let a = a.to_str().unwrap();
    let url = "rtmp://127.0.0.1:1/live/SIZEKEY";
    let printed = |args: &[&str]| {
        let mut all = args.to_vec();
        all.push("--print-command");
        let out = livekit(dir.path(), &all);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert!(!all_output(&out).contains("SIZEKEY"));
        text(&out.stdout)
    };
    // The configuration's size and rate for a playlist, shuffled or not.
    for shuffle in [&[][..], &["--shuffle"][..]] {
        let mut args = vec!["--config", c, "stream-files", m, url];
        args.extend_from_slice(shuffle);
        let line = printed(&args);
        assert!(line.contains("scale=640:360:"), "{line}");
        assert!(line.contains(" -r 24/1 "), "{line}");
        assert!(line.contains(" -b:v 700k "), "{line}");
    }
    // Without a configuration: the built-in 1280x720 at 30.
    let line = printed(&["stream-files", m, url]);
    assert!(
        line.contains("scale=1280:720:") && line.contains(" -r 30/1 "),
        "{line}"
    );
    // Flags win.
    let line = printed(&[
        "--config",
        c,
        "stream-files",
        m,
        url,
        "--size",
        "320x180",
        "--fps",
        "15",
        "--kbps",
        "300",
    ]);
    assert!(line.contains("scale=320:180:"), "{line}");
    assert!(
        line.contains(" -r 15/1 ") && line.contains(" -b:v 300k "),
        "{line}"
    );
    // One file keeps its own size and rate, unless told otherwise.
    let line = printed(&["--config", c, "stream-file", a, url]);
    assert!(
        line.contains("scale=320:240:") && line.contains(" -r 30/1 "),
        "{line}"
    );
    let line = printed(&["stream-file", a, url, "--size", "640x480", "--fps", "10"]);
    assert!(
        line.contains("scale=640:480:") && line.contains(" -r 10/1 "),
        "{line}"
    );
    // The microphone job's picture.
    let line = printed(&["stream-microphone", url, "--size", "320x180", "--fps", "5"]);
    assert!(line.contains("color=c=black:s=320x180:r=5"), "{line}");
    assert!(
        line.contains("scale=320:180:") && line.contains(" -r 5/1 "),
        "{line}"
    );
    // The capture jobs: --size is what is captured and sent, --kbps the bit rate.
    let line = printed(&[
        "stream-screen",
        url,
        "--size",
        "320x240",
        "--fps",
        "12",
        "--kbps",
        "900",
    ]);
    assert!(
        line.contains("-video_size 320x240") && line.contains(" -r 12/1 "),
        "{line}"
    );
    assert!(line.contains(" -b:v 900k "), "{line}");
    let line = printed(&[
        "stream-camera",
        url,
        "--device",
        "lavfi:testsrc",
        "--size",
        "320x240",
        "--kbps",
        "800",
    ]);
    assert!(
        line.contains("scale=320:240:") && line.contains(" -b:v 800k "),
        "{line}"
    );
    // Bad values and --copy: one line naming the flag, exit 2.
    for (args, said) in [
        (
            vec!["stream-file", a, url, "--size", "0x0"],
            "'--size <WxH>'",
        ),
        (
            vec!["stream-files", m, url, "--size", "abc"],
            "'--size <WxH>'",
        ),
        (
            vec!["stream-file", a, url, "--size", "641x360"],
            "641x360: width and height must be even",
        ),
        (vec!["stream-file", a, url, "--fps", "0"], "'--fps <FPS>'"),
        (vec!["stream-screen", url, "--kbps", "0"], "'--kbps <KBPS>'"),
        (
            vec!["stream-microphone", url, "--size", "1x1"],
            "'--size <WxH>'",
        ),
        (
            vec!["stream-file", a, url, "--copy", "--size", "640x360"],
            "--size does not go with --copy",
        ),
        (
            vec!["stream-file", a, url, "--copy", "--kbps", "900"],
            "--kbps does not go with --copy",
        ),
    ] {
        let out = livekit(dir.path(), &args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
        assert!(!stderr.contains("SIZEKEY"), "{stderr}");
    }
    // Streamed for real: the configured size, and the 60 fps file thinned to --fps 24 (a flag
    // and the configuration agree here); nginx records what arrived.
    let server = NginxRtmp::start();
    let url = server.url("sized");
    let b = media.join("b.mp4");
    let out = livekit(
        dir.path(),
        &[
            "--config",
            c,
            "stream-files",
            m,
            &url,
            "--glob",
            "b.mp4",
            "--yes",
            "--readrate",
            "0",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let recordings = server.recordings("sized");
    let got = livekit_testkit::probe::ffprobe_count(&recordings[0]).unwrap();
    let video = got.video().unwrap();
    assert_eq!((video.width, video.height), (Some(640), Some(360)));
    let frames = video.nb_read_frames.unwrap();
    // 2 s at 24 fps: 48 frames (the file has 120).
    assert!((40.0..=56.0).contains(&frames), "{frames} frames of {b:?}");
}

/// A destination that never answers is given up after `--give-up-after` (or the
/// configuration's `defaults.give_up_after`): a 30 s file to a closed port ends in seconds, with
/// exit 1 and a line naming the destination by its label, not after the whole file.
#[test]
fn destinations_that_never_answer_are_given_up() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.mp4");
    clip(
        &file,
        &ClipSpec {
            seconds: 30.0,
            ..ClipSpec::default()
        },
    );
    let port = livekit_testkit::net::free_port();
    let url = format!("rtmp://127.0.0.1:{port}/live/NEVERKEY");
    let config = dir.path().join("give-up.toml");
    std::fs::write(&config, "[defaults]\ngive_up_after = 2\n").unwrap();
    let f = file.to_str().unwrap();
    let from_flag = ["stream-file", f, &url, "--yes", "--give-up-after", "2"];
    let from_config = [
        "--config",
        config.to_str().unwrap(),
        "stream-file",
        f,
        &url,
        "--yes",
    ];
    for args in [&from_flag[..], &from_config[..]] {
        let started = std::time::Instant::now();
        let out = livekit(dir.path(), args);
        let took = started.elapsed().as_secs_f64();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(took < 10.0, "{args:?}: took {took:.1} s: {stderr}");
        let error = stderr.lines().last().unwrap();
        let expected = format!(
            "livekit: error: no destination answered: #1 rtmp://127.0.0.1:{port}/live/<redacted>: \
             never connected in 2 s; gave up ("
        );
        assert!(error.starts_with(&expected), "{args:?}: {stderr}");
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("livekit: gave up after ")),
            "{args:?}: {stderr}"
        );
        assert!(!all_output(&out).contains("NEVERKEY"), "{stderr}");
        // Without -v, the streamer's log lines read like the errors, labelled, untimestamped.
        let warning = format!(
            "livekit: warning: #1 rtmp://127.0.0.1:{port}/live/<redacted>: connection failed: "
        );
        assert!(stderr.lines().any(|l| l.starts_with(&warning)), "{stderr}");
        for line in stderr.lines() {
            assert!(
                line.starts_with("livekit: ") || line.starts_with("  #1 "),
                "{line:?}"
            );
        }
    }
    // With -v, tracing's own format: a level and the fields.
    let out = livekit(
        dir.path(),
        &[
            "-v",
            "--config",
            config.to_str().unwrap(),
            "stream-file",
            f,
            &url,
            "--yes",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let verbose = text(&out.stderr);
    assert!(
        verbose.lines().any(|l| l.contains(" WARN ")
            && l.contains("connection failed")
            && l.contains(&format!(
                "destination=#1 rtmp://127.0.0.1:{port}/live/<redacted>"
            ))),
        "{verbose}"
    );
    // 0: never give up; a bad value is a one-line usage error.
    let out = livekit(
        dir.path(),
        &["stream-file", f, &url, "--yes", "--give-up-after", "-1"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        "livekit: error: invalid value '-1' for '--give-up-after <SECONDS>': \"-1\" is not a number of seconds: give 0 (never give up) to 10000000"
    );
}

/// An existing recording file is not overwritten silently: without a terminal to ask on, every
/// job that records refuses (exit 2, one line naming the file) and leaves it as it was, unless
/// `--force`; `--yes` answers only the go-live question.
#[test]
fn recordings_do_not_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clip.mp4");
    clip(&file, &ClipSpec::default());
    let kept = dir.path().join("kept.mkv");
    std::fs::write(&kept, "precious").unwrap();
    let scene = dir.path().join("scene.toml");
    std::fs::write(&scene, "[canvas]\nwidth = 64\nheight = 36\n").unwrap();
    let server = NginxRtmp::start();
    let url = server.url("overwrite-key");
    let (f, k) = (file.to_str().unwrap(), kept.to_str().unwrap());
    let refused =
        format!("livekit: error: recording file {k}: already exists (add --force to overwrite it)");
    for args in [
        vec!["stream-file", f, &url, "--record", k, "--yes"],
        vec!["stream-files", f, &url, "--record", k, "--yes"],
        vec![
            "compose",
            scene.to_str().unwrap(),
            "--record",
            k,
            "--timeout",
            "1",
        ],
        vec!["capture-screen", k, "--timeout", "1"],
    ] {
        let out = livekit(dir.path(), &args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stderr).trim(), refused, "{args:?}");
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "precious");
    }
    assert!(server.recordings("overwrite-key").is_empty());
    let out = livekit(
        dir.path(),
        &[
            "-q",
            "stream-file",
            f,
            &url,
            "--record",
            k,
            "--yes",
            "--force",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let local = ffprobe(&kept).unwrap();
    assert_eq!(local.video().unwrap().codec_name, "h264");
    assert!(
        (local.duration() - 2.0).abs() < 0.3,
        "{} s",
        local.duration()
    );
}

/// A FIFO is named the same way by every command that refuses it (as `probe` does); with
/// `--copy` it is read once, like standard input.
#[test]
fn a_fifo_is_refused_in_the_same_words_and_streams_with_copy() {
    // (and without --copy: read once, like standard input)
    let dir = tempfile::tempdir().unwrap();
    let ts = ts_clip(dir.path());
    let fifo = dir.path().join("fifo.mp4");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let server = NginxRtmp::start();
    let url = server.url("fifo-key-4d4d4d");
    let f = fifo.to_str().unwrap();
    let refused =
        format!("livekit: error: media file {f}: cannot read: not a regular file (a FIFO)");
    for args in [
        vec!["probe", f],
        vec!["stream-file", f, &url, "--yes", "--loop"],
        vec!["stream-file", f, &url, "--yes", "--copy", "--loop"],
        vec!["stream-files", f, &url, "--yes"],
    ] {
        let out = livekit(dir.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(text(&out.stderr).trim(), refused, "{args:?}");
    }
    assert!(server.recordings("fifo-key-4d4d4d").is_empty());
    let (from, to) = (ts.clone(), fifo.clone());
    let writer = livekit_core::thread::spawn_named("livekit.test.fifo", move || {
        let mut input = std::fs::File::open(from).unwrap();
        let mut output = std::fs::OpenOptions::new().write(true).open(to).unwrap();
        let _ = std::io::copy(&mut input, &mut output);
    })
    .unwrap();
    let out = livekit(
        dir.path(),
        &["-q", "stream-file", f, &url, "--yes", "--copy"],
    );
    writer.join().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got = ffprobe(&server.recordings("fifo-key-4d4d4d")[0]).unwrap();
    assert_eq!(got.video().unwrap().codec_name, "h264");
    assert!((got.duration() - 2.0).abs() < 0.3, "{} s", got.duration());

    // Re-encoded: the FIFO is opened once, by the player (nothing probes it first).
    let url = server.url("fifo-key-5e5e5e");
    let (from, to) = (ts.clone(), fifo.clone());
    let writer = livekit_core::thread::spawn_named("livekit.test.fifo", move || {
        let mut input = std::fs::File::open(from).unwrap();
        let mut output = std::fs::OpenOptions::new().write(true).open(to).unwrap();
        let _ = std::io::copy(&mut input, &mut output);
    })
    .unwrap();
    let out = livekit(dir.path(), &["-q", "stream-file", f, &url, "--yes"]);
    writer.join().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got = ffprobe(&server.recordings("fifo-key-5e5e5e")[0]).unwrap();
    assert_eq!(got.video().unwrap().codec_name, "h264");
    assert!((got.duration() - 2.0).abs() < 0.4, "{} s", got.duration());
}

/// A WHIP endpoint among `stream-file`'s sites goes out as an output of its own (an encode for
/// WebRTC) beside the RTMP one: an endpoint that is down leaves the RTMP stream whole, the
/// summary names it, and its token shows nowhere.
#[test]
fn stream_file_sends_whip_endpoints_their_own_encode_beside_rtmp() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clip.mp4");
    clip(
        &file,
        &ClipSpec {
            seconds: 3.0,
            ..ClipSpec::default()
        },
    );
    let server = NginxRtmp::start();
    let url = server.url("FILEWHIPSIDEKEY");
    // A port nothing listens on: the WHIP endpoint is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let whip = format!("http://file-whip-token-5521@127.0.0.1:{port}/whip/ingest");
    let out = livekit(
        dir.path(),
        &["stream-file", file.to_str().unwrap(), &url, &whip, "--yes"],
    );
    let all = all_output(&out);
    assert!(out.status.success(), "{all}");
    assert!(!all.contains("file-whip-token-5521"), "{all}");
    assert!(!all.contains("FILEWHIPSIDEKEY"), "{all}");
    let shown = format!("http://<redacted>@127.0.0.1:{port}/whip/ingest");
    assert!(
        text(&out.stderr)
            .lines()
            .any(|l| l.contains(&shown) && l.contains("0.0 MB sent")),
        "{all}"
    );
    let recordings = server.recordings("FILEWHIPSIDEKEY");
    assert_eq!(recordings.len(), 1, "{all}");
    let streamed = ffprobe(&recordings[0]).unwrap();
    assert_eq!(streamed.video().unwrap().codec_name, "h264");
    assert_eq!(streamed.audio().unwrap().codec_name, "aac");
    assert!(
        (streamed.duration() - 3.0).abs() < 0.3,
        "{}",
        streamed.duration()
    );
    decodes_cleanly(&recordings[0]).unwrap();
}

/// An encoder that fails mid-stream (here on demand: the test build's `fault-injection`; for
/// real, a hardware encoder whose GPU was reset) ends the job with exit 1 and the encoder's
/// error, not as a stream that finished; what was encoded before is recorded whole.
#[test]
fn an_encoder_that_fails_mid_stream_fails_the_job_and_keeps_the_recording() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clip.mp4");
    clip(&file, &ClipSpec::default());
    let server = NginxRtmp::start();
    let kept = dir.path().join("kept.mkv");
    let key = "failing-encoder-key-9f9f";
    let out = Command::new(env!("CARGO_BIN_EXE_livekit"))
        .args([
            "stream-file",
            file.to_str().unwrap(),
            &server.url(key),
            "--record",
            kept.to_str().unwrap(),
            "--yes",
            "--timeout",
            "30",
        ])
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
        .env("LIVEKIT_ENCODER_FAULT", "video:20")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.trim_end().ends_with(
            "livekit: error: output stream: encoding stopped: H.264 encoder libx264: encoding failed: Input/output error"
        ) || stderr.trim_end().ends_with(
            "livekit: error: output record: encoding stopped: H.264 encoder libx264: encoding failed: Input/output error"
        ),
        "{stderr}"
    );
    assert!(!all_output(&out).contains(key));
    decodes_cleanly(&kept).unwrap();
    let frames = livekit_testkit::probe::ffprobe_count(&kept)
        .unwrap()
        .video()
        .unwrap()
        .nb_read_frames;
    assert_eq!(frames, Some(20.0));
}
