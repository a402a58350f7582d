//! The speaker sink against a private PulseAudio server's null sink: what it plays is recorded
//! from the sink's monitor with `parec` (independent of our code) and checked by frequency.
//!
//! One server serves the test binary; it is found through `XDG_RUNTIME_DIR`, which is
//! process-wide, so every test holds `LOCK`.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::f64::consts::PI;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use livekit_core::{AudioFrame, FrameTarget, PushError, WhenFull};
use livekit_sinks::AudioHost;
use livekit_sinks::{OpenSpeakerError, Speaker, SpeakerSettings};
use livekit_testkit::pulse::{PulseAudio, SINK, read_f32, tone_amplitude};

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

/// Plays silence until the device takes audio. An idle null sink renders in 2 s blocks and
/// only switches to a new client's low latency at the end of the current block.
fn warm_up(speaker: &Speaker) {
    let start = Instant::now();
    let mut i = 0;
    while speaker.stats().played == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the sink never asked for audio"
        );
        speaker.push(block(0.0, 0.0, i)).unwrap();
        i += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn settings() -> SpeakerSettings {
    SpeakerSettings {
        host: AudioHost::PulseAudio,
        device: Some(SINK.into()),
        ..Default::default()
    }
}

/// 10 ms of a sine at 44.1 kHz mono (so the speaker resamples and upmixes), block `index`.
fn block(freq: f64, amp: f32, index: usize) -> AudioFrame {
    let rate = 44_100;
    let first = index * 441;
    let samples: Vec<f32> = (first..first + 441)
        .map(|n| amp * (2.0 * PI * freq * n as f64 / f64::from(rate)).sin() as f32)
        .collect();
    let pts = Duration::from_millis(10 * index as u64);
    AudioFrame::new(samples, rate, 1, pts).unwrap()
}

#[test]
fn what_is_played_is_what_the_monitor_records() {
    let (_guard, pulse) = session();
    let speaker = Speaker::open(settings()).unwrap();
    assert_eq!(speaker.device(), SINK);
    warm_up(&speaker);
    let dropped_before = speaker.stats().dropped;
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("monitor.raw");
    let mut recorder = pulse.record(&raw);
    std::thread::sleep(Duration::from_millis(200));
    // 1.5 s pushed in real time, as a player or a microphone would.
    let start = Instant::now();
    for i in 0..150 {
        speaker.push(block(660.0, 0.5, i)).unwrap();
        let due = start + Duration::from_millis(10 * (i as u64 + 1));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    speaker.end();
    assert!(speaker.drain(Duration::from_secs(2)));
    std::thread::sleep(Duration::from_millis(300));
    recorder.stop();
    let stats = speaker.stats();
    let samples = read_f32(&raw);
    eprintln!("recorded {} frames; stats {stats:?}", samples.len() / 2);
    let left: Vec<f32> = samples.chunks_exact(2).map(|f| f[0]).collect();
    let right: Vec<f32> = samples.chunks_exact(2).map(|f| f[1]).collect();
    // Per 100 ms (66 whole cycles each): the tone, where it plays, at its level on both
    // channels, with no gap or jump (either would lower a window).
    for channel in [&left, &right] {
        let levels: Vec<f64> = channel
            .chunks_exact(4_800)
            .map(|w| tone_amplitude(w, 48_000, 660.0))
            .collect();
        let text: Vec<String> = levels.iter().map(|l| format!("{l:.3}")).collect();
        eprintln!("660 Hz per 100 ms: {}", text.join(" "));
        let first = levels.iter().position(|&l| l > 0.25).unwrap();
        let last = levels.iter().rposition(|&l| l > 0.25).unwrap();
        let inner = &levels[first + 1..last];
        assert!(
            inner.len() >= 12,
            "the tone lasted {} windows",
            inner.len() + 2
        );
        assert!(inner.iter().all(|l| (l - 0.5).abs() < 0.02), "{text:?}");
        let tone = &channel[(first + 1) * 4_800..last * 4_800];
        for other in [440.0, 1000.0, 2000.0] {
            let level = tone_amplitude(tone, 48_000, other);
            assert!(level < 0.01, "{other} Hz at {level:.4}");
        }
    }
    assert_eq!(stats.dropped, dropped_before, "{stats:?}");
    eprintln!("played {stats:?}");
    assert!(matches!(
        speaker.push(block(660.0, 0.5, 0)),
        Err(PushError::Ended)
    ));
}

#[test]
fn latency_stays_bounded_when_audio_comes_faster_than_it_plays() {
    let _session = session();
    let speaker = Speaker::open(SpeakerSettings {
        max_latency: Duration::from_millis(100),
        start_latency: Duration::from_millis(40),
        ..settings()
    })
    .unwrap();
    warm_up(&speaker);
    // Two seconds at once: a monitor whose source runs ahead, or a burst after a stall.
    let mut worst = Duration::ZERO;
    for i in 0..200 {
        speaker.push(block(440.0, 0.2, i)).unwrap();
        worst = worst.max(speaker.stats().queued);
    }
    let stats = speaker.stats();
    assert!(worst <= Duration::from_millis(101), "queued {worst:?}");
    assert!(stats.dropped > 48_000, "{stats:?}");
    // A second burst later: still bounded, no creep.
    std::thread::sleep(Duration::from_millis(200));
    for i in 0..200 {
        speaker.push(block(440.0, 0.2, i)).unwrap();
        worst = worst.max(speaker.stats().queued);
    }
    assert!(worst <= Duration::from_millis(101), "queued {worst:?}");
    speaker.close();
    assert!(matches!(
        speaker.push(block(440.0, 0.2, 0)),
        Err(PushError::Closed)
    ));
}

#[test]
fn a_blocking_speaker_waits_for_room_instead_of_dropping() {
    let _session = session();
    let speaker = Speaker::open(SpeakerSettings {
        when_full: WhenFull::Block,
        max_latency: Duration::from_millis(100),
        ..settings()
    })
    .unwrap();
    warm_up(&speaker);
    let start = Instant::now();
    for i in 0..50 {
        speaker.push(block(440.0, 0.2, i)).unwrap();
    }
    // 0.5 s of audio into a 0.1 s queue: the pushes waited for the device to play it.
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(speaker.stats().dropped, 0);
}

#[test]
fn a_missing_device_and_bad_settings_are_named() {
    let _session = session();
    let error = Speaker::open(SpeakerSettings {
        device: Some("no-such-speaker".into()),
        ..settings()
    })
    .unwrap_err();
    assert!(matches!(error, OpenSpeakerError::NotFound { .. }));
    assert_eq!(
        error.to_string(),
        "speaker no-such-speaker: no such output device on PulseAudio"
    );
    let error = Speaker::open(SpeakerSettings {
        start_latency: Duration::from_millis(500),
        ..settings()
    })
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "speaker nullsink: start_latency 500ms is above max_latency 150ms"
    );
}
