//! Outputs fed by an input instead of a canvas (`start_output`'s `input`): every frame of the
//! file with its own timing, at the input's `readrate`, with its own sound; and the commands
//! that cannot be applied change nothing.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use livekit_compositor::BackendChoice;
use livekit_studio::{Command, OutputState, Studio, StudioSettings};
use livekit_testkit::media::{ClipSpec, clip};
use livekit_testkit::probe::{decodes_cleanly, ffprobe_count, video_frame_times, volume};

fn studio() -> Studio {
    let mut settings = StudioSettings {
        backend: BackendChoice::Cpu,
        ..StudioSettings::default()
    };
    settings.encoder.video.fps = (30, 1);
    Studio::start(settings).unwrap()
}

fn apply(studio: &Studio, json: &str) {
    studio
        .apply(Command::from_json(json).unwrap())
        .unwrap_or_else(|e| panic!("{json}: {e}"));
}

fn refused(studio: &Studio, json: &str) -> String {
    match studio.apply(Command::from_json(json).unwrap()) {
        Ok(()) => panic!("{json} was applied"),
        Err(error) => error.message,
    }
}

fn output_state(studio: &Studio, id: &str) -> OutputState {
    let state = studio.state();
    let output = state.outputs.iter().find(|o| o.id == id);
    output.map(|o| o.state.clone()).unwrap()
}

/// Waits (at most 60 s) until output `id` has stopped by itself.
fn wait_stopped(studio: &Studio, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while output_state(studio, id) != OutputState::Stopped {
        assert!(Instant::now() < deadline, "{:?}", studio.state());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Records `film` (a 3 s clip at 30 fps, a 440 Hz tone) read at `readrate` through an output
/// fed by the input; returns the recording and how long the playing took.
fn record_fed(dir: &Path, readrate: f64) -> (std::path::PathBuf, Duration) {
    let film = dir.join("film.mp4");
    clip(
        &film,
        &ClipSpec {
            seconds: 3.0,
            ..ClipSpec::default()
        },
    );
    let out = dir.join(format!("fed-{readrate}.mkv"));
    let studio = studio();
    apply(
        &studio,
        &format!(
            r#"{{"add_input": {{"id": "film", "input": {{"kind": "file", "path": "{}",
                "readrate": {readrate}, "paused": true}}}}}}"#,
            film.display()
        ),
    );
    apply(
        &studio,
        &format!(
            r#"{{"start_output": {{"id": "rec", "input": "film",
                "output": {{"kind": "record", "path": "{}"}}}}}}"#,
            out.display()
        ),
    );
    let state = studio.state();
    let output = &state.outputs[0];
    assert_eq!(output.input.as_deref(), Some("film"));
    assert_eq!(output.canvas, "");
    // Held until resumed: nothing was played yet.
    let input = &state.inputs[0];
    assert_eq!(input.playing.as_ref().unwrap().seconds, 0.0);
    // Not read in real time: its sound is not in the program mix.
    assert_eq!(input.audio, None);
    let started = Instant::now();
    apply(&studio, r#"{"resume_input": {"id": "film"}}"#);
    wait_stopped(&studio, "rec");
    let took = started.elapsed();
    let report = studio.stop();
    let recording = report.outputs[0].recording.as_ref().unwrap();
    recording.result.as_ref().unwrap();
    (out, took)
}

#[test]
fn an_input_feeds_a_recording_every_frame_with_its_sound() {
    let dir = tempfile::tempdir().unwrap();
    // As fast as the encoder takes it: nothing is dropped.
    let (out, _) = record_fed(dir.path(), 0.0);
    decodes_cleanly(&out).unwrap();
    let probe = ffprobe_count(&out).unwrap();
    let video = probe.video().unwrap();
    assert_eq!((video.width, video.height), (Some(320), Some(240)));
    assert_eq!(video.nb_read_frames, Some(90.0), "{probe:?}");
    // The file's own timing: a frame every 1/30 s (from where the muxer starts them).
    let mut times = video_frame_times(&out).unwrap();
    times.sort_by(f64::total_cmp);
    for (n, t) in times.iter().enumerate() {
        let t = t - times[0];
        assert!((t - n as f64 / 30.0).abs() < 0.002, "frame {n} at {t}");
    }
    // Its own sound, at the clip's level.
    assert!(probe.audio().is_some(), "{probe:?}");
    let level = volume(&out).unwrap();
    let own = volume(&dir.path().join("film.mp4")).unwrap();
    assert!(
        (level.mean_db - own.mean_db).abs() < 1.0,
        "{level:?} {own:?}"
    );
}

#[test]
fn an_input_read_at_twice_real_time_drops_nothing_and_waits_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let (out, took) = record_fed(dir.path(), 2.0);
    // 3 s at twice real time: never sooner than 1.5 s (a lower bound: load only slows it).
    assert!(took >= Duration::from_millis(1400), "{took:?}");
    let probe = ffprobe_count(&out).unwrap();
    assert_eq!(
        probe.video().unwrap().nb_read_frames,
        Some(90.0),
        "{probe:?}"
    );
}

#[test]
fn outputs_fed_by_inputs_that_cannot_be_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let film = dir.path().join("film.mp4");
    clip(&film, &ClipSpec::default());
    let studio = studio();
    apply(
        &studio,
        r#"{"add_input": {"id": "bars", "input": {"kind": "pattern", "pattern": "smpte"}}}"#,
    );
    apply(
        &studio,
        &format!(
            r#"{{"add_input": {{"id": "film", "input": {{"kind": "file", "path": "{}",
                "paused": true}}}}}}"#,
            film.display()
        ),
    );
    let before = studio.state();
    let out = dir.path().join("x.mkv").display().to_string();
    let record = |input: &str| {
        format!(
            r#"{{"start_output": {{"id": "rec", "input": "{input}",
                "output": {{"kind": "record", "path": "{out}"}}}}}}"#
        )
    };
    assert_eq!(
        refused(&studio, &record("bars")),
        r#"output "rec": input "bars" is a pattern: only files and playlists feed outputs"#
    );
    assert!(
        refused(&studio, &record("nope")).contains(r#""nope""#),
        "names the missing input"
    );
    assert_eq!(
        refused(
            &studio,
            r#"{"start_output": {"id": "win", "input": "film", "output": {"kind": "preview"}}}"#
        ),
        r#"output "win": a preview shows a canvas: only recordings, streams and HLS take an input"#
    );
    assert_eq!(
        refused(
            &studio,
            &format!(
                r#"{{"add_input": {{"id": "fast", "input": {{"kind": "file", "path": "{}",
                    "readrate": -1}}}}}}"#,
                film.display()
            )
        ),
        r#"input "fast": readrate -1 is out of range (0 to 100)"#
    );
    assert_eq!(studio.state().outputs, before.outputs);
    assert_eq!(studio.state().inputs.len(), before.inputs.len());
    assert!(!Path::new(&out).exists());
    studio.stop();
}

/// A file read as fast as its outputs take it (`readrate` 0) whose server is down when it
/// starts: the file waits for the server instead of filling the destination's queue and
/// dropping what did not fit. When the server comes up, it receives the whole file.
#[test]
fn an_input_read_ahead_waits_for_its_server() {
    let dir = tempfile::tempdir().unwrap();
    let film = dir.path().join("film.mp4");
    // Longer than the destination's queue holds (900 packets: about 12 s of video and sound).
    clip(
        &film,
        &ClipSpec {
            seconds: 30.0,
            ..ClipSpec::default()
        },
    );
    let mut server = livekit_testkit::NginxRtmp::start();
    let key = "late-server-3d3d3d";
    let url = server.url(key);
    server.kill();
    let studio = studio();
    apply(
        &studio,
        &format!(
            r#"{{"add_input": {{"id": "film", "input": {{"kind": "file", "path": "{}",
                "readrate": 0, "paused": true}}}}}}"#,
            film.display()
        ),
    );
    apply(
        &studio,
        &format!(
            r#"{{"start_output": {{"id": "out", "input": "film",
                "output": {{"kind": "stream", "to": ["{url}"]}}}}}}"#
        ),
    );
    apply(&studio, r#"{"resume_input": {"id": "film"}}"#);
    std::thread::sleep(Duration::from_secs(2));
    server.restart();
    wait_stopped(&studio, "out");
    let report = studio.stop();
    let destination = &report.outputs[0].destinations[0];
    assert_eq!(destination.dropped_packets, 0, "{destination:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let received = loop {
        let recordings = server.recordings(key);
        if let [only] = recordings.as_slice()
            && livekit_testkit::probe::ffprobe(only).is_ok_and(|p| p.duration() > 29.0)
        {
            break only.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{recordings:?}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let probe = ffprobe_count(&received).unwrap();
    assert_eq!(
        probe.video().unwrap().nb_read_frames,
        Some(900.0),
        "{probe:?}"
    );
}

/// The outputs an input feeds encode its own frames: the input is not replaced under them
/// (another file would restart their timeline); once it has ended it feeds no new output; and
/// an input removed and added again under the same id feeds new outputs from its own frames,
/// not through the encode of the one that ended.
#[test]
fn an_input_that_feeds_outputs_is_not_replaced_and_one_that_ended_feeds_none() {
    let dir = tempfile::tempdir().unwrap();
    let (film, other) = (dir.path().join("film.mp4"), dir.path().join("other.mp4"));
    for (path, seconds) in [(&film, 3.0), (&other, 2.0)] {
        clip(
            path,
            &ClipSpec {
                seconds,
                ..ClipSpec::default()
            },
        );
    }
    let studio = studio();
    let add = |path: &Path| {
        format!(
            r#"{{"add_input": {{"id": "film", "input": {{"kind": "file", "path": "{}",
                "readrate": 0, "paused": true}}}}}}"#,
            path.display()
        )
    };
    let record = |id: &str, path: &Path| {
        format!(
            r#"{{"start_output": {{"id": "{id}", "input": "film",
                "output": {{"kind": "record", "path": "{}"}}}}}}"#,
            path.display()
        )
    };
    apply(&studio, &add(&film));
    let (first, second) = (dir.path().join("first.mkv"), dir.path().join("second.mkv"));
    apply(&studio, &record("first", &first));
    let before = studio.state();
    assert_eq!(
        refused(
            &studio,
            &format!(
                r#"{{"replace_input": {{"id": "film", "input": {{"kind": "file",
                    "path": "{}"}}}}}}"#,
                other.display()
            )
        ),
        r#"input "film" feeds output "first": stop that output before replacing the input"#
    );
    assert_eq!(studio.state().inputs, before.inputs);
    apply(&studio, r#"{"resume_input": {"id": "film"}}"#);
    wait_stopped(&studio, "first");
    assert_eq!(
        refused(&studio, &record("late", &dir.path().join("late.mkv"))),
        r#"input "film" has ended: it has nothing more to feed an output"#
    );
    apply(&studio, r#"{"remove_input": {"id": "film"}}"#);
    apply(&studio, &add(&other));
    apply(&studio, &record("second", &second));
    apply(&studio, r#"{"resume_input": {"id": "film"}}"#);
    wait_stopped(&studio, "second");
    studio.stop();
    for (path, frames) in [(&first, 90.0), (&second, 60.0)] {
        decodes_cleanly(path).unwrap();
        let probe = ffprobe_count(path).unwrap();
        assert_eq!(
            probe.video().unwrap().nb_read_frames,
            Some(frames),
            "{path:?}"
        );
    }
}

/// What a file without sound, or without pictures, gives an output it feeds: a file without
/// sound a silent sound track as long as its pictures (streaming sites expect one), none when
/// the studio encodes no sound; a song's file (no pictures) feeds no output.
#[test]
fn an_input_without_sound_feeds_silence_and_one_without_pictures_none() {
    let dir = tempfile::tempdir().unwrap();
    let (film, song) = (dir.path().join("mute.mp4"), dir.path().join("song.m4a"));
    clip(
        &film,
        &ClipSpec {
            seconds: 2.0,
            audio: false,
            ..ClipSpec::default()
        },
    );
    livekit_testkit::media::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=2",
        song.to_str().unwrap(),
    ]);
    for encode_audio in [true, false] {
        let mut settings = StudioSettings {
            backend: BackendChoice::Cpu,
            encode_audio,
            ..StudioSettings::default()
        };
        settings.encoder.video.fps = (30, 1);
        let studio = Studio::start(settings).unwrap();
        for (id, path) in [("film", &film), ("song", &song)] {
            apply(
                &studio,
                &format!(
                    r#"{{"add_input": {{"id": "{id}", "input": {{"kind": "file", "path": "{}",
                        "readrate": 0, "paused": true}}}}}}"#,
                    path.display()
                ),
            );
        }
        let out = dir.path().join(format!("mute-{encode_audio}.mkv"));
        let record = |input: &str| {
            format!(
                r#"{{"start_output": {{"id": "rec", "input": "{input}",
                    "output": {{"kind": "record", "path": "{}"}}}}}}"#,
                out.display()
            )
        };
        assert_eq!(
            refused(&studio, &record("song")),
            r#"input "song" has no picture (a song): it feeds no output; play it as a playlist, which shows its cover, or show it on a canvas"#
        );
        apply(&studio, &record("film"));
        apply(&studio, r#"{"resume_input": {"id": "film"}}"#);
        wait_stopped(&studio, "rec");
        studio.stop();
        decodes_cleanly(&out).unwrap();
        let probe = ffprobe_count(&out).unwrap();
        assert_eq!(
            probe.video().unwrap().nb_read_frames,
            Some(60.0),
            "{probe:?}"
        );
        if encode_audio {
            let audio = probe.audio().expect("a sound track");
            assert_eq!(audio.codec_name, "aac");
            // As long as the pictures, and silent.
            let seconds = livekit_testkit::probe::ffprobe(&out).unwrap().duration();
            assert!((seconds - 2.0).abs() < 0.1, "{seconds} s");
            let level = volume(&out).unwrap();
            assert!(level.max_db < -80.0, "silence at {level:?}");
        } else {
            assert!(probe.audio().is_none(), "{probe:?}");
        }
    }
}

/// An HLS output fed by an input is found (and served) under the input's id; its default
/// folder is not the one a canvas of the same name would have.
#[test]
fn an_hls_output_fed_by_an_input_is_found_by_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let film = dir.path().join("film.mp4");
    clip(&film, &ClipSpec::default());
    let studio = studio();
    apply(
        &studio,
        &format!(
            r#"{{"add_input": {{"id": "film", "input": {{"kind": "file", "path": "{}",
                "readrate": 0, "paused": true}}}}}}"#,
            film.display()
        ),
    );
    apply(
        &studio,
        r#"{"start_output": {"id": "web", "input": "film", "output": {"kind": "hls"}}}"#,
    );
    apply(&studio, r#"{"resume_input": {"id": "film"}}"#);
    wait_stopped(&studio, "web");
    let folder = studio.hls_folder("film").expect("the input's HLS folder");
    assert!(
        folder
            .to_string_lossy()
            .ends_with(&format!("livekit-hls-{}-input-film", std::process::id())),
        "{folder:?}"
    );
    assert_eq!(studio.hls_folder("main"), None);
    let playlist = std::fs::read_to_string(folder.join("index.m3u8")).unwrap();
    assert!(playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
    studio.stop();
    let _ = std::fs::remove_dir_all(folder);
}
