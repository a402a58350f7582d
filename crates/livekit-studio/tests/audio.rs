//! The program audio: a file input's sound is in the mix at its level, and gain and mute
//! changed while live act from the next audio block. Real time (the mixer and the player pace
//! on the system clock); what is checked is levels, never timing.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use livekit_compositor::BackendChoice;
use livekit_core::{AudioFrame, FrameSource, Port, Pull};
use livekit_studio::{Command, Studio, StudioSettings};
use livekit_testkit::media::{ClipSpec, clip};

fn apply(studio: &Studio, json: &str) {
    let command = Command::from_json(json).unwrap_or_else(|e| panic!("{json}: {e}"));
    studio
        .apply(command)
        .unwrap_or_else(|e| panic!("{json}: {e}"));
}

fn peak(frame: &AudioFrame) -> f32 {
    frame.samples().iter().fold(0.0, |m, s| m.max(s.abs()))
}

/// Reads the program audio for `seconds` of its time and returns each block's peak.
fn blocks(tap: &Port<AudioFrame>, seconds: f64) -> Vec<f32> {
    let mut peaks = Vec::new();
    let mut heard = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_secs_f64(seconds * 4.0 + 5.0);
    while heard.as_secs_f64() < seconds && Instant::now() < deadline {
        if let Pull::Frame(frame) = tap.next(Duration::from_millis(200)) {
            heard += frame.duration();
            peaks.push(peak(&frame));
        }
    }
    assert!(
        heard.as_secs_f64() >= seconds,
        "only {heard:?} of program audio"
    );
    peaks
}

/// Throws away what the tap holds (mixed before now).
fn drain(tap: &Port<AudioFrame>) {
    while let Pull::Frame(_) = tap.latest() {}
}

#[test]
fn a_file_inputs_tone_is_in_the_program_at_its_level_and_gain_and_mute_act_live() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tone.mp4");
    // testsrc2 with a 440 Hz sine of amplitude 1/8 (-18 dBFS), as FFmpeg's sine source makes.
    clip(
        &path,
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
    let tap = studio.program_audio();
    apply(
        &studio,
        r#"{"add_canvas": {"id": "main", "width": 320, "height": 240}}"#,
    );
    apply(
        &studio,
        &format!(
            r#"{{"add_input": {{"id": "clip", "input": {{"kind": "file", "path": {:?}, "loop": true}}}}}}"#,
            path.display().to_string()
        ),
    );
    apply(
        &studio,
        r#"{"add_layer": {"id": "picture", "input": "clip"}}"#,
    );

    // Silence until the file's sound arrives; then the tone at about 1/8.
    let heard = blocks(&tap, 1.5);
    let loud: Vec<f32> = heard.iter().copied().skip_while(|p| *p < 0.01).collect();
    assert!(loud.len() >= 50, "the tone never came: {heard:?}");
    let level = loud[10..].iter().copied().fold(0.0, f32::max);
    assert!((0.09..=0.17).contains(&level), "tone peak {level}");

    // Half the gain: half the level, from the next block (the one being mixed may be either).
    drain(&tap);
    apply(&studio, r#"{"set_audio": {"id": "clip", "gain": 0.5}}"#);
    let halved = blocks(&tap, 0.5);
    let level_half = halved[2..].iter().copied().fold(0.0, f32::max);
    assert!(
        (level * 0.4..=level * 0.6).contains(&level_half),
        "{level_half} after gain 0.5 (was {level})"
    );

    // Muted: silence.
    drain(&tap);
    apply(&studio, r#"{"set_audio": {"id": "clip", "muted": true}}"#);
    let muted = blocks(&tap, 0.5);
    assert!(
        muted[2..].iter().all(|p| *p < 1e-4),
        "sound while muted: {muted:?}"
    );
    let state = studio.state();
    let audio = state.inputs[0].audio.unwrap();
    assert_eq!((audio.gain, audio.muted), (0.5, true));

    // Heard again.
    drain(&tap);
    apply(
        &studio,
        r#"{"set_audio": {"id": "clip", "muted": false, "gain": 1}}"#,
    );
    let back = blocks(&tap, 0.5);
    let level_back = back[2..].iter().copied().fold(0.0, f32::max);
    assert!(
        (level * 0.8..=level * 1.2).contains(&level_back),
        "{level_back}"
    );

    // Removed: its sound leaves the mix.
    apply(&studio, r#"{"remove_input": {"id": "clip"}}"#);
    drain(&tap);
    let gone = blocks(&tap, 0.5);
    assert!(gone[2..].iter().all(|p| *p < 1e-4), "sound after removal");
    studio.stop();
}

/// A `tone` input is a sine at its level in the program, muted live like any other input;
/// its state shows it as live, with sound and no picture.
#[test]
fn a_tone_input_is_in_the_program_at_its_level() {
    let studio = Studio::start(StudioSettings {
        backend: BackendChoice::Cpu,
        ..StudioSettings::default()
    })
    .unwrap();
    let tap = studio.program_audio();
    apply(
        &studio,
        r#"{"add_input": {"id": "a440", "input": {"kind": "tone", "level": 0.25}}}"#,
    );
    drain(&tap);
    let peaks = blocks(&tap, 0.5);
    // Past the first blocks (the mix's start), every 10 ms block holds a few periods.
    let steady = &peaks[peaks.len() / 2..];
    let at_level = steady.iter().filter(|p| (*p - 0.25).abs() < 0.02).count();
    assert!(at_level * 10 >= steady.len() * 9, "peaks {steady:?}");
    assert!(steady.iter().all(|p| *p < 0.27), "peaks {steady:?}");
    let state = studio.state();
    let input = &state.inputs[0];
    assert_eq!(input.state, livekit_studio::InputState::Live);
    assert!(input.audio.is_some() && input.size.is_none());

    apply(&studio, r#"{"set_audio": {"id": "a440", "muted": true}}"#);
    drain(&tap);
    let peaks = blocks(&tap, 0.3);
    assert!(
        peaks[peaks.len() / 2..].iter().all(|p| *p < 0.001),
        "{peaks:?}"
    );

    // Out of range: refused, naming the field.
    let refused = studio
        .apply(
            Command::from_json(
                r#"{"add_input": {"id": "loud", "input": {"kind": "tone", "level": 2}}}"#,
            )
            .unwrap(),
        )
        .unwrap_err();
    assert!(refused.message.contains("level 2"), "{}", refused.message);
    studio.stop();
}
