//! Microphone capture from a private PulseAudio server's null-sink monitor: a tone played into
//! the sink with `paplay` is captured through cpal's PulseAudio host and its frequency checked.
//!
//! One server serves the test binary; it is found through `XDG_RUNTIME_DIR`, which is
//! process-wide, so every test holds `LOCK`.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use livekit_core::{AudioFrame, AudioTarget, Clock, FrameSource, Port, Pull, SystemClock};
use livekit_sources::AudioHost;
use livekit_sources::capture::{
    CaptureEvent, Microphone, MicrophoneSettings, OpenMicrophoneError, ReopenSettings,
    list_input_devices,
};
use livekit_testkit::pulse::{MONITOR, PulseAudio, SINK, sine_wav, tone_amplitude};

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
    let wav = sine_wav(dir.path(), 1000, 4.0);
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
    let frames = collect(&port, Duration::from_millis(3000));
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
    // Per 100 ms (100 whole cycles each): where the tone plays, it is at its level in every
    // window (a lost or repeated sample would break the phase and lower one). The first
    // windows may be empty: an idle null sink first finishes a 2 s render block.
    let samples: Vec<f32> = frames.iter().flat_map(|f| f.samples().to_vec()).collect();
    let levels: Vec<f64> = samples
        .chunks_exact(4_410)
        .map(|part| tone_amplitude(part, 44_100, 1000.0))
        .collect();
    let text: Vec<String> = levels.iter().map(|l| format!("{l:.3}")).collect();
    eprintln!("1 kHz level per 100 ms: {}", text.join(" "));
    let first = levels.iter().position(|&l| l > 0.06).unwrap();
    let last = levels.iter().rposition(|&l| l > 0.06).unwrap();
    let inner = &levels[first + 1..last];
    assert!(
        inner.len() >= 5,
        "the tone lasted {} windows: {text:?}",
        inner.len() + 2
    );
    // FFmpeg's sine is 1/8 of full scale; the null sink passes it at 100 % volume. On a
    // starved machine the PLAYER (paplay) can underrun, which leaves short silences in the
    // sink itself; what we lose is counted in `stats.dropped` (0, below) and shows as pts
    // steps (checked above). So: nearly every window at the tone's exact level.
    let exact = inner.iter().filter(|l| (*l - 0.125).abs() < 0.01).count();
    assert!(exact * 10 >= inner.len() * 8, "{text:?}");
    let tone = &samples[(first + 1) * 4_410..last * 4_410];
    let at_tone = tone_amplitude(tone, 44_100, 1000.0);
    assert_eq!(stats.dropped, 0);
    for other in [500.0, 800.0, 1300.0, 3000.0] {
        let level = tone_amplitude(tone, 44_100, other);
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
        "microphone no-such-mic: no such input device on PulseAudio"
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

/// The ALSA host (for machines without a sound server) still works: here it reaches the same
/// PulseAudio server through ALSA's `pulse` plugin, whose default source is the monitor.
#[test]
fn the_alsa_host_captures_through_the_pulse_plugin() {
    let (_guard, pulse) = session();
    if !std::path::Path::new("/usr/lib/x86_64-linux-gnu/alsa-lib/libasound_module_pcm_pulse.so")
        .exists()
        && !std::path::Path::new(
            "/usr/lib/aarch64-linux-gnu/alsa-lib/libasound_module_pcm_pulse.so",
        )
        .exists()
    {
        eprintln!("SKIPPED: ALSA's pulse plugin is not installed (package libasound2-plugins)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let wav = sine_wav(dir.path(), 750, 5.0);
    let port = Port::drop_oldest(500);
    let targets: Vec<Arc<dyn AudioTarget>> = vec![Arc::new(port.clone())];
    let mic = Microphone::start(
        MicrophoneSettings {
            host: AudioHost::Alsa,
            device: Some("pulse".into()),
            ..Default::default()
        },
        targets,
    )
    .unwrap();
    assert_eq!(mic.device(), "pulse");
    let mut player = pulse.play(&wav);
    // Longer than the other test: through the plugin, the idle null sink may first finish a
    // 2 s render block before it serves this client.
    let frames = collect(&port, Duration::from_millis(4000));
    player.stop();
    let (rate, channels) = (mic.device_rate(), mic.device_channels());
    let stats = mic.stop().unwrap();
    eprintln!(
        "ALSA: {} frames, device {rate} Hz x {channels}, {stats:?}",
        frames.len()
    );
    assert!(
        frames.len() > 150,
        "{} frames in 4 s; {stats:?}",
        frames.len()
    );
    assert!(
        frames
            .iter()
            .all(|f| f.sample_rate() == 48_000 && f.channels() == 2)
    );
    let left: Vec<f32> = frames
        .iter()
        .flat_map(|f| {
            f.samples()
                .chunks_exact(2)
                .map(|s| s[0])
                .collect::<Vec<_>>()
        })
        .collect();
    // Per 100 ms: the tone at its level (the median of the windows where it plays: a starved
    // player can leave short silences in the sink itself), and not at another frequency.
    let mut levels: Vec<(f64, &[f32])> = left
        .chunks_exact(4_800)
        .map(|part| (tone_amplitude(part, 48_000, 750.0), part))
        .filter(|(level, _)| *level > 0.06)
        .collect();
    assert!(
        levels.len() >= 10,
        "the tone played {} windows",
        levels.len()
    );
    levels.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (at_tone, window) = levels[levels.len() / 2];
    assert!((at_tone - 0.125).abs() < 0.02, "750 Hz at {at_tone:.4}");
    assert!(tone_amplitude(window, 48_000, 1000.0) < at_tone / 20.0);
}

/// Waits (at most `within`) for an event of `mic` matching `wanted`; the others are printed.
fn wait_event(
    events: &crossbeam_channel::Receiver<CaptureEvent>,
    what: &str,
    within: Duration,
    wanted: impl Fn(&CaptureEvent) -> bool,
) -> CaptureEvent {
    let deadline = Instant::now() + within;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match events.recv_timeout(left) {
            Ok(event) if wanted(&event) => return event,
            Ok(event) => eprintln!("event: {event:?}"),
            Err(_) => break,
        }
    }
    panic!("no event within {within:?}: {what}");
}

/// The level of `freq` in each 100 ms of the left channel of `frames`.
fn levels(frames: &[AudioFrame], freq: f64) -> Vec<f64> {
    let left: Vec<f32> = frames
        .iter()
        .flat_map(|f| f.samples().iter().step_by(2).copied().collect::<Vec<_>>())
        .collect();
    left.chunks_exact(4_800)
        .map(|part| tone_amplitude(part, 48_000, freq))
        .collect()
}

/// The null sink (whose monitor is the microphone) is unloaded mid-stream and loaded again:
/// the microphone reports it lost, delivers silence in real time meanwhile, reopens the same
/// device once it is back and captures the tone again.
#[test]
fn a_microphone_that_goes_away_is_silence_until_it_comes_back() {
    let (_guard, pulse) = session();
    let dir = tempfile::tempdir().unwrap();
    let wav = sine_wav(dir.path(), 1000, 30.0);
    // 20 s of 10 ms blocks: nothing is read until the end.
    let port = Port::drop_oldest(2_000);
    let targets: Vec<Arc<dyn AudioTarget>> = vec![Arc::new(port.clone())];
    let clock = Arc::new(SystemClock::new());
    let mic = Microphone::start(
        MicrophoneSettings {
            reopen: ReopenSettings {
                interval: Duration::from_millis(200),
                ..MicrophoneSettings::default().reopen
            },
            clock: clock.clone(),
            ..settings(Some(MONITOR))
        },
        targets,
    )
    .unwrap();
    let events = mic.events().clone();
    wait_event(&events, "started", Duration::from_secs(5), |e| {
        matches!(e, CaptureEvent::AudioStarted { .. })
    });
    let mut player = pulse.play(&wav);
    std::thread::sleep(Duration::from_millis(2_500));
    player.stop();

    let unloaded_at = clock.now();
    pulse.unload_sink();
    let lost = wait_event(&events, "lost", Duration::from_secs(5), |e| {
        matches!(e, CaptureEvent::Error { .. })
    });
    let lost_at = clock.now();
    eprintln!("{lost:?} after {:?}", lost_at.saturating_sub(unloaded_at));
    let CaptureEvent::Error { device, message } = lost else {
        unreachable!()
    };
    assert_eq!(device, MONITOR);
    assert!(message.starts_with("lost: "), "{message}");
    wait_event(&events, "a reopen attempt", Duration::from_secs(3), |e| {
        matches!(e, CaptureEvent::Reopening { .. })
    });
    // Lost for a second at least: silence meanwhile.
    std::thread::sleep(Duration::from_millis(1_000));
    assert_eq!(mic.stats().lost, 1);
    let reloaded_at = clock.now();
    pulse.load_sink();
    let back = wait_event(&events, "started again", Duration::from_secs(5), |e| {
        matches!(e, CaptureEvent::AudioStarted { .. })
    });
    eprintln!(
        "{back:?} after {:?}",
        clock.now().saturating_sub(reloaded_at)
    );
    let mut player = pulse.play(&wav);
    // Longer than before: the new idle null sink may first finish a render block.
    std::thread::sleep(Duration::from_millis(3_500));
    player.stop();
    let stats = mic.stop().unwrap();
    eprintln!("{stats:?}");
    wait_event(
        &events,
        "ended",
        Duration::from_secs(1),
        |e| matches!(e, CaptureEvent::Ended { reason, .. } if reason == "stopped"),
    );

    let mut frames = Vec::new();
    loop {
        match port.next(Duration::from_millis(100)) {
            Pull::Frame(frame) => frames.push(frame),
            Pull::Ended => break,
            Pull::Pending => panic!("no end of stream"),
        }
    }
    assert_eq!(port.dropped(), 0);
    // The stream never stopped: 10 ms blocks on rising timestamps, with one gap at most: the
    // time it took to see that the device was gone, before the silence began (a reopen that
    // waits for the device's first sound does not hold the silence up).
    let steps: Vec<Duration> = frames.windows(2).map(|w| w[1].pts() - w[0].pts()).collect();
    let gaps: Vec<&Duration> = steps
        .iter()
        .filter(|s| **s > Duration::from_millis(30))
        .collect();
    eprintln!("gaps: {gaps:?}");
    assert!(gaps.len() <= 1, "gaps {gaps:?}");
    assert!(
        gaps.iter().all(|g| **g < Duration::from_secs(3)),
        "gaps {gaps:?}"
    );
    assert!(
        steps.iter().all(|s| *s >= Duration::from_millis(9)),
        "pts went back"
    );
    let before: Vec<AudioFrame> = frames
        .iter()
        .filter(|f| f.pts() < unloaded_at)
        .cloned()
        .collect();
    let silent: Vec<&AudioFrame> = frames
        .iter()
        .filter(|f| f.pts() > lost_at && f.pts() + Duration::from_millis(10) < reloaded_at)
        .collect();
    let after: Vec<AudioFrame> = frames
        .iter()
        .filter(|f| f.pts() > reloaded_at)
        .cloned()
        .collect();
    // Silence while lost, in real time: about 100 blocks a second.
    assert!(silent.len() >= 80, "{} silent blocks", silent.len());
    assert!(silent.iter().all(|f| f.samples().iter().all(|&s| s == 0.0)));
    assert!(stats.silent_frames >= 80, "{stats:?}");
    let text = |levels: &[f64]| {
        levels
            .iter()
            .map(|l| format!("{l:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (first, second) = (levels(&before, 1000.0), levels(&after, 1000.0));
    eprintln!(
        "1 kHz before: {}\n1 kHz after: {}",
        text(&first),
        text(&second)
    );
    let at_tone = |levels: &[f64]| {
        levels
            .iter()
            .filter(|l| (**l - 0.125).abs() < 0.015)
            .count()
    };
    assert!(at_tone(&first) >= 5, "before: {}", text(&first));
    assert!(at_tone(&second) >= 5, "after: {}", text(&second));
}

/// The same through ALSA's `pulse` plugin (the ALSA host, for machines without a sound
/// server): the plugin may report the loss or just stop delivering, which the microphone's
/// watchdog sees ([`ReopenSettings::stall_timeout`]); either way the device is lost, and back
/// once the sink is loaded again.
#[test]
fn a_microphone_through_alsa_that_goes_away_comes_back() {
    let (_guard, pulse) = session();
    if !std::path::Path::new("/usr/lib/x86_64-linux-gnu/alsa-lib/libasound_module_pcm_pulse.so")
        .exists()
        && !std::path::Path::new(
            "/usr/lib/aarch64-linux-gnu/alsa-lib/libasound_module_pcm_pulse.so",
        )
        .exists()
    {
        eprintln!("SKIPPED: ALSA's pulse plugin is not installed (package libasound2-plugins)");
        return;
    }
    let port: Port<AudioFrame> = Port::drop_oldest(2_000);
    let targets: Vec<Arc<dyn AudioTarget>> = vec![Arc::new(port.clone())];
    let mic = Microphone::start(
        MicrophoneSettings {
            host: AudioHost::Alsa,
            device: Some("pulse".into()),
            reopen: ReopenSettings {
                interval: Duration::from_millis(200),
                stall_timeout: Duration::from_millis(1_000),
                max_attempts: None,
            },
            ..Default::default()
        },
        targets,
    )
    .unwrap();
    let events = mic.events().clone();
    wait_event(&events, "started", Duration::from_secs(5), |e| {
        matches!(e, CaptureEvent::AudioStarted { .. })
    });
    // The first sound through the plugin may take 2 s (a block of the idle null sink).
    let deadline = Instant::now() + Duration::from_secs(5);
    while mic.stats().frames < 100 {
        assert!(Instant::now() < deadline, "no sound: {:?}", mic.stats());
        std::thread::sleep(Duration::from_millis(50));
    }
    let frames_before = mic.stats().frames;
    pulse.unload_sink();
    let started = Instant::now();
    let lost = wait_event(&events, "lost", Duration::from_secs(5), |e| {
        matches!(e, CaptureEvent::Error { .. })
    });
    eprintln!("{lost:?} after {:?}", started.elapsed());
    std::thread::sleep(Duration::from_millis(800));
    pulse.load_sink();
    let started = Instant::now();
    let back = wait_event(&events, "started again", Duration::from_secs(10), |e| {
        matches!(e, CaptureEvent::AudioStarted { .. })
    });
    eprintln!("{back:?} after {:?}", started.elapsed());
    let stats = mic.stats();
    let sound = |s: &livekit_sources::capture::MicrophoneStats| s.frames - s.silent_frames;
    let deadline = Instant::now() + Duration::from_secs(5);
    while sound(&mic.stats()) < sound(&stats) + 100 {
        assert!(
            Instant::now() < deadline,
            "no sound again: {:?}",
            mic.stats()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let later = mic.stop().unwrap();
    eprintln!("{frames_before} frames before; {stats:?}; at the end {later:?}");
    assert_eq!(later.lost, 1);
    // Silence while it was lost (800 ms at least, and the reopen's wait for the first sound).
    assert!(later.silent_frames > 50, "{later:?}");
}

/// A device that stays but stops delivering (the null sink, and so its monitor, suspended with
/// `pactl suspend-sink`: no error, no sound) is lost by the watchdog ([`ReopenSettings::stall_timeout`]), and back
/// once it delivers again; a reopen attempt that waits for it does not hold up the silence,
/// nor `stop`.
#[test]
fn a_microphone_that_goes_silent_is_lost_and_comes_back() {
    let (_guard, pulse) = session();
    let port: Port<AudioFrame> = Port::drop_oldest(2_000);
    let targets: Vec<Arc<dyn AudioTarget>> = vec![Arc::new(port.clone())];
    let mic = Microphone::start(
        MicrophoneSettings {
            reopen: ReopenSettings {
                interval: Duration::from_millis(200),
                stall_timeout: Duration::from_millis(1_000),
                max_attempts: None,
            },
            ..settings(Some(MONITOR))
        },
        targets,
    )
    .unwrap();
    let events = mic.events().clone();
    let suspend = |on: &str| {
        let status = pulse
            .command("pactl")
            .args(["suspend-sink", SINK, on])
            .status()
            .unwrap();
        assert!(status.success());
    };
    std::thread::sleep(Duration::from_millis(500));
    suspend("1");
    let started = Instant::now();
    let lost = wait_event(&events, "lost", Duration::from_secs(5), |e| {
        matches!(e, CaptureEvent::Error { .. })
    });
    eprintln!("{lost:?} after {:?}", started.elapsed());
    assert!(
        matches!(&lost, CaptureEvent::Error { message, .. } if message.starts_with("lost: no sound for ")),
        "{lost:?}"
    );
    std::thread::sleep(Duration::from_millis(1_000));
    let silent = mic.stats().silent_frames;
    eprintln!("{:?}", mic.stats());
    assert!(silent >= 80, "{:?}", mic.stats());
    suspend("0");
    let started = Instant::now();
    let back = wait_event(&events, "started again", Duration::from_secs(5), |e| {
        matches!(e, CaptureEvent::AudioStarted { .. })
    });
    eprintln!("{back:?} after {:?}", started.elapsed());
    // Silent again, and stopped while an attempt at reopening it waits for the device: `stop`
    // returns all the same.
    suspend("1");
    wait_event(&events, "lost again", Duration::from_secs(5), |e| {
        matches!(e, CaptureEvent::Error { .. })
    });
    wait_event(&events, "a reopen attempt", Duration::from_secs(2), |e| {
        matches!(e, CaptureEvent::Reopening { .. })
    });
    std::thread::sleep(Duration::from_millis(100));
    let stopping = Instant::now();
    let stats = mic.stop().unwrap();
    eprintln!("{stats:?}, stopped in {:?}", stopping.elapsed());
    assert!(stopping.elapsed() < Duration::from_secs(3));
    assert_eq!(stats.lost, 2);
    suspend("0");
    while let Pull::Frame(_) = port.next(Duration::from_millis(100)) {}
    assert!(port.next(Duration::from_millis(100)).is_ended());
}
