//! The audio mixer and the resampler, paced by a ManualClock: tones in, DFT magnitudes out.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::f64::consts::PI;
use std::sync::Arc;
use std::time::Duration;

use livekit_core::resample::{Resampler, remix};
use livekit_core::{
    AudioFrame, FrameSource, FrameTarget, ManualClock, Mixer, MixerSettings, Port, Pull,
};

const BLOCK: Duration = Duration::from_millis(10);

/// `frames` frames of a sine starting at sample `first`, the same on every channel.
fn tone(freq: f64, amp: f32, rate: u32, channels: u16, first: usize, frames: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(frames * usize::from(channels));
    for n in first..first + frames {
        let s = amp * (2.0 * PI * freq * n as f64 / f64::from(rate)).sin() as f32;
        out.extend(std::iter::repeat_n(s, usize::from(channels)));
    }
    out
}

/// A port holding `seconds` of a tone in 1024-frame frames, ended.
fn tone_port(freq: f64, amp: f32, rate: u32, channels: u16, seconds: f64) -> Port<AudioFrame> {
    let total = (seconds * f64::from(rate)) as usize;
    let port = Port::blocking(total / 1024 + 2);
    let mut first = 0;
    while first < total {
        let frames = 1024.min(total - first);
        let pts = Duration::from_secs_f64(first as f64 / f64::from(rate));
        let samples = tone(freq, amp, rate, channels, first, frames);
        port.push(AudioFrame::new(samples, rate, channels, pts).unwrap())
            .unwrap();
        first += frames;
    }
    port.end();
    port
}

/// Amplitude of the `freq` component of `signal` (a single DFT bin; use whole cycles).
fn amplitude(signal: &[f32], rate: u32, freq: f64) -> f64 {
    let (mut re, mut im) = (0.0, 0.0);
    for (n, &s) in signal.iter().enumerate() {
        let phase = 2.0 * PI * freq * n as f64 / f64::from(rate);
        re += f64::from(s) * phase.cos();
        im -= f64::from(s) * phase.sin();
    }
    2.0 * (re * re + im * im).sqrt() / signal.len() as f64
}

fn manual(clock: &ManualClock) -> MixerSettings {
    MixerSettings {
        clock: Arc::new(clock.clone()),
        ..Default::default()
    }
}

/// Steps the clock one block at a time and returns `count` output blocks.
fn blocks(clock: &ManualClock, output: &Port<AudioFrame>, count: usize) -> Vec<AudioFrame> {
    let mut out = Vec::new();
    while out.len() < count {
        match output.next(Duration::from_secs(5)) {
            Pull::Frame(frame) => out.push(frame),
            Pull::Pending => panic!("the mixer made no block"),
            Pull::Ended => break,
        }
        clock.advance(BLOCK);
    }
    out
}

/// Channel `channel` of the blocks, one after the other.
fn channel(blocks: &[AudioFrame], channel: usize) -> Vec<f32> {
    blocks
        .iter()
        .flat_map(|b| {
            b.samples()
                .chunks_exact(usize::from(b.channels()))
                .map(move |f| f[channel])
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn two_tones_at_different_gains_keep_their_levels() {
    let clock = ManualClock::new();
    let mixer = Mixer::start(manual(&clock)).unwrap();
    // 440 Hz, 44.1 kHz mono (resampled and upmixed), gain 1; 1 kHz, 48 kHz stereo, gain 1/4.
    let a = mixer.add_input("a", tone_port(440.0, 0.5, 44_100, 1, 1.0), 1.0);
    let b = mixer.add_input("b", tone_port(1000.0, 0.8, 48_000, 2, 1.0), 0.25);
    assert_eq!((a.name(), b.gain()), ("a", 0.25));
    let out = blocks(&clock, &mixer.output(), 60);
    assert!(
        out.iter()
            .all(|b| b.sample_rate() == 48_000 && b.channels() == 2)
    );
    assert!(out.iter().all(|b| b.frames() == 480));
    // Pts rise by one block.
    for pair in out.windows(2) {
        assert_eq!(pair[1].pts() - pair[0].pts(), BLOCK);
    }
    // Half a second from block 5 on: whole cycles of both tones.
    for ch in 0..2 {
        let signal = &channel(&out[5..55], ch);
        assert_eq!(signal.len(), 24_000);
        let at_440 = amplitude(signal, 48_000, 440.0);
        let at_1000 = amplitude(signal, 48_000, 1000.0);
        assert!(
            (at_440 - 0.5).abs() < 0.01,
            "440 Hz at {at_440:.4}, want 0.5"
        );
        assert!(
            (at_1000 - 0.2).abs() < 0.005,
            "1 kHz at {at_1000:.4}, want 0.2"
        );
        for other in [300.0, 700.0, 2000.0, 5000.0] {
            let level = amplitude(signal, 48_000, other);
            assert!(level < 0.005, "{other} Hz at {level:.4}: should be silent");
        }
    }
    let stats = mixer.stop().unwrap();
    assert_eq!(stats.underruns, 0);
}

#[test]
fn mute_and_gain_apply_while_running() {
    let clock = ManualClock::new();
    let mixer = Mixer::start(manual(&clock)).unwrap();
    let output = mixer.output();
    let a = mixer.add_input("a", tone_port(500.0, 0.5, 48_000, 2, 2.0), 1.0);
    let b = mixer.add_input("b", tone_port(1500.0, 0.5, 48_000, 2, 2.0), 1.0);
    let before = blocks(&clock, &output, 30);
    b.set_muted(true);
    a.set_gain(0.5);
    let after = blocks(&clock, &output, 30);
    let (x, y) = (channel(&before[10..30], 0), channel(&after[5..25], 0));
    assert!((amplitude(&x, 48_000, 1500.0) - 0.5).abs() < 0.01);
    assert!(amplitude(&y, 48_000, 1500.0) < 0.001, "muted");
    assert!(
        (amplitude(&y, 48_000, 500.0) - 0.25).abs() < 0.01,
        "gain 0.5"
    );
    assert!(b.is_muted());
    b.remove();
    let _ = blocks(&clock, &output, 3);
}

#[test]
fn the_limiter_keeps_a_loud_mix_below_full_scale() {
    for limiter in [true, false] {
        let clock = ManualClock::new();
        let mixer = Mixer::start(MixerSettings {
            limiter,
            ..manual(&clock)
        })
        .unwrap();
        mixer.add_input("a", tone_port(200.0, 0.8, 48_000, 2, 0.5), 1.0);
        mixer.add_input("b", tone_port(200.0, 0.8, 48_000, 2, 0.5), 1.0);
        let out = blocks(&clock, &mixer.output(), 30);
        let peak = channel(&out, 0).iter().fold(0.0f32, |m, s| m.max(s.abs()));
        if limiter {
            assert!(peak <= 1.0 && peak > 0.95, "limited peak {peak}");
        } else {
            assert!((peak - 1.6).abs() < 0.01, "raw peak {peak}");
        }
    }
}

#[test]
fn a_live_input_is_heard_less_than_50_ms_after_it_arrives() {
    let clock = ManualClock::new();
    let mixer = Mixer::start(manual(&clock)).unwrap();
    let output = mixer.output();
    let live = Port::drop_oldest(16);
    mixer.add_input("live", live.clone(), 1.0);
    // 100 ms of nothing.
    let silent = blocks(&clock, &output, 10);
    assert!(silent.iter().all(|b| b.samples().iter().all(|&s| s == 0.0)));
    // Then 10 ms chunks arrive in real time, like a sound card's callbacks.
    let arrived = clock_now(&clock);
    let mut heard = None;
    for i in 0..20 {
        let samples = tone(1000.0, 0.5, 48_000, 2, i * 480, 480);
        live.push(AudioFrame::new(samples, 48_000, 2, clock_now(&clock)).unwrap())
            .unwrap();
        let block = blocks(&clock, &output, 1).remove(0);
        if heard.is_none()
            && let Some(at) = block.samples().iter().position(|&s| s != 0.0)
        {
            let offset = Duration::from_secs_f64((at / 2) as f64 / 48_000.0);
            heard = Some(block.pts() + offset);
        }
    }
    let latency = heard.unwrap() - arrived;
    assert!(latency < Duration::from_millis(50), "latency {latency:?}");
    eprintln!("mixer latency: {latency:?}");
}

/// Sound that tells its own time: frame `n` of the mixer's time line (48 kHz, from its
/// start) is `sign * n / 100000`, on both channels, for the frames `from..to` (in ms).
fn stamped(sign: f32, from_ms: usize, to_ms: usize) -> AudioFrame {
    let (first, last) = (from_ms * 48, to_ms * 48);
    let samples: Vec<f32> = (first..last)
        .flat_map(|n| [sign * n as f32 / 100_000.0; 2])
        .collect();
    AudioFrame::new(samples, 48_000, 2, Duration::from_millis(from_ms as u64)).unwrap()
}

/// What the output holds from `from_ms` to `to_ms`, one value per frame (channel 0): `Some(1)`
/// or `Some(-1)` where every frame there is `stamped(sign)` of its own time, `Some(0)` where
/// it is silent, `None` if it is anything else.
fn heard(mixed: &[f32], from_ms: usize, to_ms: usize) -> Option<i32> {
    let frames = &mixed[from_ms * 48..to_ms * 48];
    [1, -1, 0].into_iter().find(|&sign| {
        frames.iter().enumerate().all(|(i, &s)| {
            let want = sign as f32 * (from_ms * 48 + i) as f32 / 100_000.0;
            (s - want).abs() < 1e-6
        })
    })
}

#[test]
fn a_timed_input_is_heard_at_its_time_whenever_it_comes() {
    let clock = ManualClock::new();
    let mixer = Mixer::start(manual(&clock)).unwrap();
    let output = mixer.output();
    let player = Port::blocking(16);
    mixer.add_timed_input("player", player.clone(), 1.0);
    // Written early, as a player writes ahead: heard at 20-60 ms, not at once.
    player.push(stamped(1.0, 20, 60)).unwrap();
    let mut mixed = blocks(&clock, &output, 11);
    // Written late (the player was held up), with blocks up to 110 ms mixed: what is past is
    // left out, the rest is heard at its time (from 110 or 120 ms: the next block may be
    // mixed already).
    player.push(stamped(1.0, 90, 150)).unwrap();
    mixed.extend(blocks(&clock, &output, 19));
    // Written with a gap before it (the block due at 300 ms may be mixed already; the next
    // is not): silence until then.
    player.push(stamped(1.0, 310, 400)).unwrap();
    // A seek back: newer sound for 350-380 ms replaces what was waiting from 350 ms on.
    player.push(stamped(-1.0, 350, 380)).unwrap();
    mixed.extend(blocks(&clock, &output, 30));
    let mixed = channel(&mixed, 0);
    assert_eq!(heard(&mixed, 0, 20), Some(0));
    assert_eq!(heard(&mixed, 20, 60), Some(1), "written early");
    assert_eq!(
        heard(&mixed, 60, 110),
        Some(0),
        "the late sound's past is left out"
    );
    assert_eq!(heard(&mixed, 120, 150), Some(1), "the late sound's rest");
    assert_eq!(heard(&mixed, 150, 310), Some(0), "a gap");
    assert_eq!(heard(&mixed, 310, 350), Some(1));
    assert_eq!(heard(&mixed, 350, 380), Some(-1), "the newer sound");
    assert_eq!(heard(&mixed, 380, 600), Some(0), "what it replaced is gone");
    let stats = mixer.stats();
    assert_eq!(stats.late, 1, "the frame written late: {stats:?}");
}

#[test]
fn a_timed_input_follows_frames_a_few_samples_off_without_a_cut() {
    // Frames of 1024 samples at 44.1 kHz, resampled to 48 kHz: each converted frame's length
    // and its time differ by a fraction of a sample. The tone goes on without a gap.
    let clock = ManualClock::new();
    let mixer = Mixer::start(manual(&clock)).unwrap();
    let output = mixer.output();
    let player = Port::blocking(64);
    mixer.add_timed_input("player", player.clone(), 1.0);
    let mut first = 0;
    while first < 44_100 / 2 {
        let pts = Duration::from_secs_f64(0.1 + first as f64 / 44_100.0);
        let samples = tone(441.0, 0.5, 44_100, 2, first, 1024);
        player
            .push(AudioFrame::new(samples, 44_100, 2, pts).unwrap())
            .unwrap();
        first += 1024;
    }
    player.end();
    let mixed = channel(&blocks(&clock, &output, 70), 0);
    // From 0.12 s to 0.58 s: a clean 441 Hz tone at 0.5 (a cut or a gap would spread it).
    let steady = &mixed[48 * 120..48 * 580];
    let level = amplitude(steady, 48_000, 441.0);
    assert!((level - 0.5).abs() < 0.01, "level {level}");
    let worst = steady
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0f32, f32::max);
    // A 441 Hz sine at 0.5 moves at most 0.029 from one 48 kHz sample to the next.
    assert!(worst < 0.035, "a jump of {worst}");
    assert_eq!(mixer.stats().underruns, 0);
}

fn clock_now(clock: &ManualClock) -> Duration {
    use livekit_core::Clock as _;
    clock.now()
}

#[test]
fn the_output_ends_after_finite_inputs_are_played_out() {
    let clock = ManualClock::new();
    let mixer = Mixer::start(manual(&clock)).unwrap();
    mixer.add_input("short", tone_port(440.0, 0.5, 48_000, 2, 0.1), 1.0);
    let out = blocks(&clock, &mixer.output(), 1000);
    // 0.1 s of input, plus blocks mixed before it was added (at most one or two).
    assert!((10..=13).contains(&out.len()), "{} blocks", out.len());
    assert!(mixer.output().next(Duration::from_secs(1)).is_ended());
}

#[test]
fn bad_settings_are_named() {
    let error = Mixer::start(MixerSettings {
        sample_rate: 1000,
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "audio mixer: sample_rate 1000 Hz is outside 8000..=192000"
    );
    let error = Mixer::start(MixerSettings {
        channels: 0,
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "audio mixer: channels 0 is outside 1..=8"
    );
}

#[test]
fn resampling_keeps_tones_and_removes_what_the_new_rate_cannot_carry() {
    // 1 kHz from 44.1 kHz to 48 kHz, fed in odd-sized pieces.
    let input = tone(1000.0, 0.7, 44_100, 1, 0, 44_100);
    let mut resampler = Resampler::new(44_100, 48_000, 1);
    let mut out = Vec::new();
    for piece in input.chunks(333) {
        resampler.process(piece, &mut out);
    }
    assert!(
        (out.len() as i64 - 48_000).abs() <= 16,
        "{} samples",
        out.len()
    );
    let window = &out[4_800..28_800]; // half a second
    assert!((amplitude(window, 48_000, 1000.0) - 0.7).abs() < 0.005);
    assert!(amplitude(window, 48_000, 1100.0) < 0.01);

    // 10 kHz from 48 kHz to 16 kHz (Nyquist 8 kHz): filtered out, not folded to 6 kHz.
    let input = tone(10_000.0, 0.7, 48_000, 1, 0, 48_000);
    let mut down = Resampler::new(48_000, 16_000, 1);
    let mut out = Vec::new();
    down.process(&input, &mut out);
    let window = &out[1_600..9_600];
    assert!(amplitude(window, 16_000, 6_000.0) < 0.01, "aliased");

    // Channels: mono to stereo copies, stereo to mono averages.
    let mut stereo = Vec::new();
    remix(&[0.1, 0.2], 1, 2, &mut stereo);
    assert_eq!(stereo, [0.1, 0.1, 0.2, 0.2]);
    let mut mono = Vec::new();
    remix(&[0.2, 0.4], 2, 1, &mut mono);
    assert!((mono[0] - 0.3).abs() < 1e-6);
}
