//! Microphone capture from a private PulseAudio server's null-sink monitor: a tone played into
//! the sink with `paplay` is captured through cpal's PulseAudio host and its frequency checked.
//!
//! One server serves the test binary; it is found through `XDG_RUNTIME_DIR`, which is
//! process-wide, so every test holds `LOCK`.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use livekit_core::{AudioFrame, AudioHost, AudioTarget, FrameSource, Port, Pull};
use livekit_sources::capture::{
    Microphone, MicrophoneSettings, OpenMicrophoneError, list_input_devices,
};
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

fn settings(device: Option<&str>) -> MicrophoneSettings {
    MicrophoneSettings {
        host: AudioHost::PulseAudio,
        device: device.map(Into::into),
        ..Default::default()
    }
}

fn collect(port: &Port<AudioFrame>, span: Duration) -> Vec<AudioFrame> {
    let end = Instant::now() + span;
    let mut frames = Vec::new();
    while Instant::now() < end {
        if let Pull::Frame(frame) = port.next(Duration::from_millis(50)) {
            frames.push(frame);
        }
    }
    frames
}

#[test]
fn lists_the_null_sink_monitor_as_an_input() {
    let _session = session();
    let devices = list_input_devices(AudioHost::PulseAudio).unwrap();
    let monitor = devices.iter().find(|d| d.id == MONITOR);
    let monitor = monitor.unwrap_or_else(|| panic!("{MONITOR} not in {devices:?}"));
    assert!(monitor.is_default, "the test made it the default source");
    assert_eq!(monitor.sample_rate, Some(48_000));
    assert_eq!(monitor.channels, Some(2));
}

#[test]
fn a_tone_played_into_the_sink_is_captured_at_its_frequency() {
    let (_guard, pulse) = session();
    let dir = tempfile::tempdir().unwrap();
    let wav = sine_wav(dir.path(), 1000, 3.0);
    let port = Port::drop_oldest(500);
    let targets: Vec<Arc<dyn AudioTarget>> = vec![Arc::new(port.clone())];
    // 44.1 kHz mono out: resampled and downmixed by us.
    let mic = Microphone::start(
        MicrophoneSettings {
            sample_rate: 44_100,
            channels: 1,
            ..settings(Some(MONITOR))
        },
        targets,
    )
    .unwrap();
    assert_eq!(mic.device(), MONITOR);
    let mut player = pulse.play(&wav);
    let frames = collect(&port, Duration::from_millis(2000));
    player.stop();
    let stats = mic.stop().unwrap();
    assert!(frames.len() > 100, "{} frames", frames.len());
    assert!(
        frames
            .iter()
            .all(|f| f.sample_rate() == 44_100 && f.channels() == 1)
    );
    assert!(frames.iter().all(|f| f.frames() == 441), "10 ms blocks");
    for pair in frames.windows(2) {
        let step = pair[1].pts() - pair[0].pts();
        assert!(
            step >= Duration::from_millis(9) && step <= Duration::from_millis(11),
            "{step:?}"
        );
    }
    // Half a second from the middle of the capture (the tone plays throughout).
    let samples: Vec<f32> = frames.iter().flat_map(|f| f.samples().to_vec()).collect();
    let middle = samples.len() / 2;
    let window = &samples[middle - 11_025..middle + 11_025];
    let at_tone = tone_amplitude(window, 44_100, 1000.0);
    let levels: Vec<String> = samples
        .chunks(4_410)
        .map(|part| format!("{:.3}", tone_amplitude(part, 44_100, 1000.0)))
        .collect();
    eprintln!("1 kHz level per 100 ms: {}", levels.join(" "));
    // FFmpeg's sine is 1/8 of full scale; the null sink passes it at 100 % volume.
    assert!((at_tone - 0.125).abs() < 0.02, "1 kHz at {at_tone:.4}");
    // Whole: every 100 ms window after the tone's start has it at full level (a lost sample
    // would break the phase and lower one of them).
    let parts: Vec<&[f32]> = samples.chunks_exact(4_410).collect();
    for (i, part) in parts.iter().enumerate().take(parts.len() - 1).skip(2) {
        let level = tone_amplitude(part, 44_100, 1000.0);
        assert!(
            (level - 0.125).abs() < 0.01,
            "window {i}: 1 kHz at {level:.4}"
        );
    }
    assert_eq!(stats.dropped, 0);
    for other in [500.0, 800.0, 1300.0, 3000.0] {
        let level = tone_amplitude(window, 44_100, other);
        assert!(
            level < at_tone / 20.0,
            "{other} Hz at {level:.4} vs {at_tone:.4}"
        );
    }
    eprintln!("captured 1 kHz at amplitude {at_tone:.4}; stats {stats:?}");
    // The port got end-of-stream.
    while let Pull::Frame(_) = port.next(Duration::from_millis(100)) {}
    assert!(port.next(Duration::from_millis(100)).is_ended());
}

#[test]
fn a_missing_device_and_bad_settings_are_named() {
    let _session = session();
    let port: Port<AudioFrame> = Port::latest();
    let targets = || -> Vec<Arc<dyn AudioTarget>> { vec![Arc::new(port.clone())] };
    let error = Microphone::start(settings(Some("no-such-mic")), targets()).unwrap_err();
    assert!(matches!(error, OpenMicrophoneError::NotFound { .. }));
    assert_eq!(
        error.to_string(),
        "microphone no-such-mic: no such input device on PulseAudio (list them with list_input_devices)"
    );
    let error = Microphone::start(
        MicrophoneSettings {
            sample_rate: 1,
            ..settings(None)
        },
        targets(),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "microphone default: sample_rate 1 Hz is outside 8000..=192000"
    );
}
