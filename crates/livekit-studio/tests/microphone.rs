//! Microphones in the program mix: a private PulseAudio (started by the test) plays a 750 Hz
//! tone into its null sink, whose monitor is the microphone.
//!
//! One server serves the test binary; it is found through `XDG_RUNTIME_DIR`, which is
//! process-wide, so every test holds `LOCK`.

#![allow(clippy::unwrap_used)]

use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use livekit_compositor::BackendChoice;
use livekit_core::{FrameSource, Pull};
use livekit_studio::{Command, Event, InputSpec, InputState, Studio, StudioSettings};
use livekit_testkit::probe::{audio_samples, video_frame_times};
use livekit_testkit::pulse::{MONITOR, PulseAudio, sine_wav, tone_amplitude};

static LOCK: Mutex<()> = Mutex::new(());
static PULSE: OnceLock<PulseAudio> = OnceLock::new();

fn session() -> (MutexGuard<'static, ()>, &'static PulseAudio) {
    let guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let pulse = PULSE.get_or_init(|| {
        let pulse = PulseAudio::start();
        // SAFETY: set while LOCK is held, before any audio client of this process exists.
        unsafe {
            std::env::set_var("XDG_RUNTIME_DIR", pulse.runtime_dir());
            std::env::remove_var("PULSE_SERVER");
        }
        pulse
    });
    (guard, pulse)
}

#[test]
fn a_scene_files_microphone_is_in_the_program_audio() {
    let (_guard, pulse) = session();
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

fn apply(studio: &Studio, json: &str) {
    studio
        .apply(Command::from_json(json).unwrap())
        .unwrap_or_else(|e| panic!("{json}: {e}"));
}

/// Waits (at most 10 s) for an event of input `mic` matching `wanted`.
fn wait_for(
    events: &livekit_studio::Subscription,
    what: &str,
    wanted: impl Fn(&InputState) -> bool,
) -> InputState {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(Event::Input { id, state }) = events.next(Duration::from_millis(200))
            && id == "mic"
            && wanted(&state)
        {
            return state;
        }
    }
    panic!("no event: {what}");
}

/// The microphone's device goes away mid-recording (the null sink's module unloaded) and comes
/// back (loaded again under its name): the input is lost (an event, and the state document
/// says so with the reason), then live again, and the show never stops: the recording's audio
/// track lasts as long as its video, with the tone, then silence, then the tone again.
#[test]
fn a_microphone_that_goes_away_mid_recording_is_silence_until_it_comes_back() {
    let (_guard, pulse) = session();
    let dir = tempfile::tempdir().unwrap();
    let wav = sine_wav(dir.path(), 750, 30.0);
    let recording = dir.path().join("show.mkv");
    let studio = Studio::start(StudioSettings {
        backend: BackendChoice::Cpu,
        ..StudioSettings::default()
    })
    .unwrap();
    let events = studio.subscribe();
    apply(
        &studio,
        r##"{"add_canvas": {"id": "main", "width": 64, "height": 64, "fps": 25, "background": "#202020"}}"##,
    );
    apply(
        &studio,
        &format!(
            r#"{{"add_input": {{"id": "mic", "input": {{"kind": "microphone", "device": "{MONITOR}"}}}}}}"#
        ),
    );
    let rec_json = serde_json::to_string(&recording).unwrap();
    apply(
        &studio,
        &format!(
            r#"{{"start_output": {{"id": "rec", "output": {{"kind": "record", "path": {rec_json}}}}}}}"#
        ),
    );

    // The tone for 3 s.
    let mut player = pulse.play(&wav);
    std::thread::sleep(Duration::from_secs(3));
    player.stop();
    // Unplugged.
    pulse.unload_sink();
    let lost = wait_for(&events, "lost", |s| matches!(s, InputState::Lost { .. }));
    eprintln!("lost: {lost:?}");
    let state = studio.state();
    let mic = state.inputs.iter().find(|i| i.id == "mic").unwrap();
    assert_eq!(mic.state, lost);
    let json = serde_json::to_value(&state).unwrap();
    assert_eq!(json["inputs"][0]["state"], "lost", "{json}");
    assert!(
        json["inputs"][0]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("lost: ")),
        "{json}"
    );
    // 2 s without it; the show goes on.
    std::thread::sleep(Duration::from_secs(2));
    assert!(matches!(
        studio.state().outputs[0].state,
        livekit_studio::OutputState::Live
    ));
    // Plugged back in: live again, and the tone for 3 s more.
    pulse.load_sink();
    wait_for(&events, "live again", |s| *s == InputState::Live);
    let mut player = pulse.play(&wav);
    std::thread::sleep(Duration::from_secs(3));
    player.stop();
    let report = studio.stop();
    let written = report.outputs[0].recording.clone().unwrap();
    eprintln!("{written:?}");

    // One continuous audio track, as long as the video.
    let times = video_frame_times(&recording).unwrap();
    let video = times.last().unwrap() - times[0] + 1.0 / 25.0;
    let (start, samples) = audio_samples(&recording, 48_000).unwrap();
    let audio = samples.len() as f64 / 48_000.0;
    eprintln!("video {video:.2} s, audio {audio:.2} s from {start:.3} s");
    assert!(video > 8.0, "video {video} s");
    assert!(
        (audio - video).abs() < 0.5,
        "audio {audio} s, video {video} s"
    );
    // Per 100 ms: tone (its 1/8), silence, tone again.
    let levels: Vec<f64> = samples
        .chunks_exact(4_800)
        .map(|part| tone_amplitude(part, 48_000, 750.0))
        .collect();
    let marks: String = levels
        .iter()
        .map(|&l| match l {
            l if l > 0.08 => 'T',
            l if l < 0.005 => '.',
            _ => '~',
        })
        .collect();
    eprintln!("750 Hz per 100 ms: {marks}");
    let tone = "T".repeat(15);
    let silence = ".".repeat(15);
    let first = marks.find(&tone).expect("the tone before");
    let gap = first + marks[first..].find(&silence).expect("silence while lost");
    assert!(
        marks[gap..].contains(&tone),
        "the tone after it came back: {marks}"
    );
}
