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
