//! A scene file's `[[audio]]` microphone in the program mix: a private PulseAudio (started by
//! the test) plays a 750 Hz tone into its null sink, whose monitor is the microphone.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use livekit_compositor::BackendChoice;
use livekit_core::{FrameSource, Pull};
use livekit_studio::{InputSpec, Studio, StudioSettings};
use livekit_testkit::pulse::{MONITOR, PulseAudio, sine_wav, tone_amplitude};

#[test]
fn a_scene_files_microphone_is_in_the_program_audio() {
    let pulse = PulseAudio::start();
    // SAFETY: set before any audio client of this process exists (one test in this binary).
    unsafe {
        std::env::set_var("XDG_RUNTIME_DIR", pulse.runtime_dir());
        std::env::remove_var("PULSE_SERVER");
    }
    let dir = tempfile::tempdir().unwrap();
    let wav = sine_wav(dir.path(), 750, 20.0);
    let scene = dir.path().join("scene.toml");
    std::fs::write(
        &scene,
        format!(
            r##"[canvas]
width = 64
height = 64

[[layer]]
source = {{ color = "#202020" }}

[[audio]]
microphone = "{MONITOR}"
gain = 2.0
"##
        ),
    )
    .unwrap();
    let studio = Studio::start(StudioSettings {
        backend: BackendChoice::Cpu,
        ..StudioSettings::default()
    })
    .unwrap();
    let tap = studio.program_audio();
    studio.load_scene_file(&scene).unwrap();
    let state = studio.state();
    let microphone = state.inputs.iter().find(|i| i.id == "audio-1").unwrap();
    assert!(matches!(microphone.input, InputSpec::Microphone { .. }));
    assert_eq!(microphone.audio.unwrap().gain, 2.0);

    let _player = pulse.play(&wav);
    // Collect 3 s of program audio once the tone is there (the null sink may first finish a
    // block of silence).
    let mut samples: Vec<f32> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while samples.len() < 48_000 * 3 && Instant::now() < deadline {
        if let Pull::Frame(block) = tap.next(Duration::from_millis(200)) {
            let loud = block.samples().iter().any(|s| s.abs() > 0.02);
            if loud || !samples.is_empty() {
                // Left channel only.
                samples.extend(block.samples().iter().step_by(2));
            }
        }
    }
    assert!(
        samples.len() >= 48_000 * 2,
        "the tone never came ({} samples)",
        samples.len()
    );
    // The level per 100 ms (a block lost to the device's jitter shifts the phase, so one
    // transform over the whole would understate it): the sine's 1/8, doubled by the gain.
    let mut windows: Vec<f64> = samples
        .chunks_exact(4800)
        .map(|c| tone_amplitude(c, 48_000, 750.0))
        .collect();
    windows.sort_by(f64::total_cmp);
    let median = windows[windows.len() / 2];
    assert!(
        (0.2..=0.3).contains(&median),
        "750 Hz at {median} ({windows:?})"
    );
    let other = tone_amplitude(&samples[..4800], 48_000, 440.0);
    assert!(other < 0.02, "440 Hz at {other}");
    studio.stop();
}
