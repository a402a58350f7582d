//! Outputs changed while the show runs, against a real nginx-rtmp: a destination added live
//! starts on a keyframe and plays, one removed leaves the other whole, a recording started and
//! stopped mid-show is playable with the right length and carries the program audio, and all
//! of them share one encode.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use livekit_compositor::BackendChoice;
use livekit_studio::{Command, OutputState, Studio, StudioSettings};
use livekit_testkit::NginxRtmp;
use livekit_testkit::media::{ClipSpec, clip};
use livekit_testkit::probe::{ffprobe, is_keyframe, video_packet_flags, volume};

fn apply(studio: &Studio, json: &str) {
    studio
        .apply(Command::from_json(json).unwrap())
        .unwrap_or_else(|e| panic!("{json}: {e}"));
}

/// The only recording nginx made of `key` (one publish).
fn recording_of(server: &NginxRtmp, key: &str) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let recordings = server.recordings(key);
        if let [only] = recordings.as_slice()
            && ffprobe(only).is_ok_and(|p| p.video().is_some())
        {
            return only.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{key}: {recordings:?}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn output_state(studio: &Studio, id: &str) -> OutputState {
    let state = studio.state();
    state
        .outputs
        .iter()
        .find(|o| o.id == id)
        .map(|o| o.state.clone())
        .unwrap_or_else(|| panic!("no output {id}"))
}

fn wait_live(studio: &Studio, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while output_state(studio, id) != OutputState::Live {
        assert!(
            Instant::now() < deadline,
            "{id} never went live: {:?}",
            studio.state()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn outputs_start_and_stop_while_live_on_one_encode() {
    let server = NginxRtmp::start();
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("tone.mp4");
    clip(
        &media,
        &ClipSpec {
            seconds: 4.0,
            ..ClipSpec::default()
        },
    );
    let studio = Studio::start(StudioSettings {
        backend: BackendChoice::Cpu,
        ..StudioSettings::default()
    })
    .unwrap();
    apply(
        &studio,
        r#"{"add_canvas": {"id": "main", "width": 320, "height": 180, "fps": 25}}"#,
    );
    apply(
        &studio,
        r#"{"add_input": {"id": "bars", "input": {"kind": "pattern", "pattern": "smpte"}}}"#,
    );
    apply(&studio, r#"{"add_layer": {"id": "bars", "input": "bars"}}"#);
    apply(
        &studio,
        &format!(
            r#"{{"add_input": {{"id": "clip", "input": {{"kind": "file", "path": {:?}, "loop": true}}}}}}"#,
            media.display().to_string()
        ),
    );
    apply(
        &studio,
        r#"{"add_layer": {"id": "clip", "input": "clip", "rect": [160, 90, 160, 90]}}"#,
    );

    let url_a = server.url("studio-a");
    let url_b = server.url("studio-b");
    let recording = dir.path().join("middle.mkv");
    let started = Instant::now();
    apply(
        &studio,
        &format!(
            r#"{{"start_output": {{"id": "a", "output": {{"kind": "stream", "to": ["{url_a}"]}}}}}}"#
        ),
    );
    wait_live(&studio, "a");
    std::thread::sleep(Duration::from_secs(2));

    // A recording and a second destination join the running encode.
    apply(
        &studio,
        &format!(
            r#"{{"start_output": {{"id": "rec", "output": {{"kind": "record", "path": {:?}}}}}}}"#,
            recording.display().to_string()
        ),
    );
    apply(
        &studio,
        &format!(
            r#"{{"start_output": {{"id": "b", "output": {{"kind": "stream", "to": ["{url_b}"]}}}}}}"#
        ),
    );
    let joined = Instant::now();
    wait_live(&studio, "rec");
    wait_live(&studio, "b");
    let state = studio.state();
    assert_eq!(state.encodes, 1, "three outputs, one encode");
    assert_eq!(state.outputs.len(), 3);
    let b = state.outputs.iter().find(|o| o.id == "b").unwrap();
    assert_eq!(b.destinations.len(), 1);
    assert!(
        !b.destinations[0].url.contains("studio-b"),
        "key shown: {}",
        b.destinations[0].url
    );
    assert!(
        !serde_json::to_string(&state).unwrap().contains("studio-b"),
        "key in the state"
    );

    std::thread::sleep(Duration::from_secs(3));
    apply(&studio, r#"{"stop_output": {"id": "rec"}}"#);
    let recorded_for = joined.elapsed().as_secs_f64();
    assert_eq!(output_state(&studio, "rec"), OutputState::Stopped);
    std::thread::sleep(Duration::from_secs(1));
    apply(&studio, r#"{"stop_output": {"id": "b"}}"#);
    let b_for = joined.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(2));
    // "a" still runs: the encode with it.
    assert_eq!(output_state(&studio, "a"), OutputState::Live);
    assert_eq!(studio.state().encodes, 1);
    let report = studio.stop();
    let a_for = started.elapsed().as_secs_f64();
    // The report: every output, how it ended, keys redacted.
    let ids: Vec<_> = report.outputs.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, ["a", "rec", "b"]);
    let rec = &report.outputs[1];
    let summary = rec.recording.as_ref().unwrap().result.as_ref().unwrap();
    assert_eq!(summary.path, recording);
    assert!(
        rec.encoder.as_deref().is_some_and(|e| e.contains("264")),
        "{:?}",
        rec.encoder
    );
    for output in [&report.outputs[0], &report.outputs[2]] {
        assert_eq!(output.state, OutputState::Stopped);
        let [destination] = output.destinations.as_slice() else {
            panic!("{output:?}");
        };
        assert!(
            destination.bytes > 0 && destination.live_at_end,
            "{destination:?}"
        );
        assert!(
            !format!("{output:?}").contains("studio-"),
            "a key in {output:?}"
        );
    }

    // The recording: playable, about as long as it ran, with the clip's tone in it.
    let probe = ffprobe(&recording).unwrap();
    assert!(
        probe.video().is_some() && probe.audio().is_some(),
        "{probe:?}"
    );
    let length = probe.duration();
    assert!(
        (recorded_for - 1.5..=recorded_for + 0.5).contains(&length),
        "recording of {length} s, ran {recorded_for} s"
    );
    assert!(is_keyframe(&video_packet_flags(&recording).unwrap()[0]));
    let volume = volume(&recording).unwrap().max_db;
    assert!(
        (-21.0..=-15.0).contains(&volume),
        "the tone at {volume} dB in the recording"
    );

    // b: joined on a keyframe, stopped cleanly, about as long as it ran.
    let b_file = recording_of(&server, "studio-b");
    assert!(is_keyframe(&video_packet_flags(&b_file).unwrap()[0]));
    let b_length = ffprobe(&b_file).unwrap().duration();
    assert!(
        (b_for - 2.0..=b_for + 0.5).contains(&b_length),
        "b: {b_length} s of {b_for} s"
    );

    // a: one publish for the whole show, undisturbed by the others.
    let a_file = recording_of(&server, "studio-a");
    let a_length = ffprobe(&a_file).unwrap().duration();
    assert!(a_length >= a_for - 2.5, "a: {a_length} s of {a_for} s");
}
