//! [`Mixer`]: N audio sources mixed into one, with per-input gain and mute, resampling to the
//! output rate and a soft limiter.
//!
//! It lives in `livekit-core` because it needs nothing but core's frames, ports, clock and
//! threads, and because it is neither a source nor a sink: the recorder and the streamer read
//! its output port like any other [`AudioSource`].
//!
//! Most inputs are aligned by arrival, not by their timestamps: a live input (a microphone)
//! is mixed about [`MixerSettings::jitter`] after it arrives. Added latency is
//! `jitter + block` (30 ms by default). A timed input ([`Mixer::add_timed_input`]: a player
//! whose frames carry their time on the mixer's clock) is placed by its timestamps instead,
//! so a player or a mixer held up by a starved machine never leaves its sound behind or
//! ahead of its pictures.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::audio::AudioFrame;
use crate::clock::{Clock, SystemClock};
use crate::port::{AudioSource, FrameTarget, Port, Pull};
use crate::resample::{Resampler, remix};
use crate::thread::{Worker, WorkerPanicked, spawn_named};

/// How often a waiting mixer checks whether it should stop.
const STOP_POLL: Duration = Duration::from_millis(50);

/// How far a timed input's frame may be from where its input's sound goes on (rounding,
/// a resampler's delay) and still follow it without a gap or a cut: 5 ms.
const TIMED_TOLERANCE: Duration = Duration::from_millis(5);

/// A timed input's frames due further ahead than this are dropped (a timestamp that is not
/// on the mixer's clock would otherwise hold everything after it back): 2 s.
const TIMED_AHEAD: Duration = Duration::from_secs(2);

/// Samples below this magnitude pass the limiter untouched; above it they are bent smoothly
/// towards, and never past, 1.0.
pub const LIMITER_THRESHOLD: f32 = 0.9;

/// Settings of a [`Mixer`].
#[derive(Debug, Clone)]
pub struct MixerSettings {
    /// Output sample rate, 8000..=192000 Hz. Default 48000.
    pub sample_rate: u32,
    /// Output channels, 1..=8. Default 2.
    pub channels: u16,
    /// Length of each output frame, 1..=100 ms. Default 10 ms.
    pub block: Duration,
    /// How much of an input is buffered before it is mixed, to ride out the jitter of its
    /// arrivals (a microphone's callbacks, a decoder's bursts), 0..=500 ms. Default 20 ms.
    pub jitter: Duration,
    /// Soft-limit the mix so it never clips (see [`LIMITER_THRESHOLD`]). Default `true`.
    pub limiter: bool,
    /// Gain applied to the whole mix. Default 1.0.
    pub master_gain: f32,
    /// Output frames kept for a slow reader before the oldest are dropped. Default 50 (0.5 s
    /// of 10 ms blocks).
    pub output_capacity: usize,
    /// End the output stream once every input has ended and been played out (file work).
    /// Default `true`; a mixer that never had an input does not end.
    pub end_with_inputs: bool,
    /// The clock that paces output blocks (default: a [`SystemClock`]).
    pub clock: Arc<dyn Clock>,
}

impl Default for MixerSettings {
    fn default() -> Self {
        Self {
            sample_rate: 48_000,
            channels: 2,
            block: Duration::from_millis(10),
            jitter: Duration::from_millis(20),
            limiter: true,
            master_gain: 1.0,
            output_capacity: 50,
            end_with_inputs: true,
            clock: Arc::new(SystemClock::new()),
        }
    }
}

/// Why a mixer did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartMixerError {
    /// A setting is out of range; the text names it.
    #[error("audio mixer: {0}")]
    InvalidSettings(String),
    /// The mixing thread could not be created.
    #[error("audio mixer: could not create its thread")]
    Thread(#[source] std::io::Error),
}

/// Counters of a [`Mixer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MixerStats {
    /// Output blocks produced.
    pub blocks: u64,
    /// Times an input ran dry in the middle of a block (it is re-buffered; a timed input is
    /// silent until its sound comes back).
    pub underruns: u64,
    /// Frames of timed inputs that came after their time had been mixed, or far ahead of
    /// it (whole or in part: what was late is left out).
    pub late: u64,
}

#[derive(Debug)]
struct Control {
    gain: AtomicU32,
    muted: AtomicBool,
    removed: AtomicBool,
}

/// The controls of one input of a [`Mixer`]; cheap to clone, usable from any thread.
#[derive(Debug, Clone)]
pub struct MixerInput {
    name: Arc<str>,
    control: Arc<Control>,
}

impl MixerInput {
    /// The name given to [`Mixer::add_input`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets the linear gain (1.0 = unchanged, 0.5 = -6 dB). Negative or non-finite values are
    /// taken as 0.
    pub fn set_gain(&self, gain: f32) {
        let gain = if gain.is_finite() { gain.max(0.0) } else { 0.0 };
        self.control.gain.store(gain.to_bits(), Ordering::Relaxed);
    }

    /// The linear gain.
    pub fn gain(&self) -> f32 {
        f32::from_bits(self.control.gain.load(Ordering::Relaxed))
    }

    /// Mutes or unmutes. A muted input is still read (its time goes on), but not heard.
    pub fn set_muted(&self, muted: bool) {
        self.control.muted.store(muted, Ordering::Relaxed);
    }

    /// Whether the input is muted.
    pub fn is_muted(&self) -> bool {
        self.control.muted.load(Ordering::Relaxed)
    }

    /// Takes the input out of the mix (its source is dropped at the next block).
    pub fn remove(&self) {
        self.control.removed.store(true, Ordering::Relaxed);
    }
}

struct Input {
    name: Arc<str>,
    source: Box<dyn AudioSource>,
    control: Arc<Control>,
    resampler: Option<Resampler>,
    /// Converted samples (output rate and channels) waiting to be mixed.
    fifo: VecDeque<f32>,
    /// Placed by timestamps ([`Mixer::add_timed_input`]).
    timed: bool,
    /// A timed input's first sample in `fifo`: its frame number at the output rate, counted
    /// from the mixer's start.
    at: i64,
    /// A timed input had no sound for part of a block (counted once until it comes back).
    dry: bool,
    primed: bool,
    ended: bool,
    scratch: Vec<f32>,
    converted: Vec<f32>,
}

impl Input {
    /// Converts `frame` and queues it after the sound waiting (an input mixed by arrival).
    fn convert(&mut self, frame: &AudioFrame, rate: u32, channels: u16) {
        self.convert_only(frame, rate, channels);
        self.fifo.extend(self.converted.iter().copied());
    }

    /// Converts `frame` into `converted`.
    fn convert_only(&mut self, frame: &AudioFrame, rate: u32, channels: u16) {
        self.scratch.clear();
        remix(
            frame.samples(),
            frame.channels(),
            channels,
            &mut self.scratch,
        );
        let stale = self
            .resampler
            .as_ref()
            .is_none_or(|r| r.from_rate() != frame.sample_rate());
        if stale {
            self.resampler = Some(Resampler::new(frame.sample_rate(), rate, channels));
        }
        self.converted.clear();
        if let Some(resampler) = self.resampler.as_mut() {
            resampler.process(&self.scratch, &mut self.converted);
        }
    }

    /// Frames (at the output rate) waiting.
    fn waiting(&self, ch: usize) -> i64 {
        (self.fifo.len() / ch) as i64
    }

    /// A timed input: converts `frame`, whose first sample is frame number `place` of the
    /// output, and puts it where it belongs among the sound waiting.
    fn place(&mut self, frame: &AudioFrame, place: i64, timing: &Timing) {
        let ch = usize::from(timing.channels);
        self.convert_only(frame, timing.rate, timing.channels);
        let end = self.at + self.waiting(ch);
        if self.fifo.is_empty() || end <= timing.mixing {
            // Nothing waiting that is still to be mixed: the sound starts again here.
            self.fifo.clear();
            self.at = place;
        } else if place > end + timing.tolerance {
            // A gap (sound left out by the player): silence until the frame's time.
            let gap = usize::try_from(place - end).unwrap_or(0) * ch;
            self.fifo.extend(std::iter::repeat_n(0.0, gap));
        } else if place < end - timing.tolerance {
            // Overlapping what waits (a seek): the newer sound replaces it.
            let keep = usize::try_from(place - self.at).unwrap_or(0) * ch;
            self.fifo.truncate(keep);
            if self.fifo.is_empty() {
                self.at = place;
            }
        }
        self.fifo.extend(self.converted.iter().copied());
    }
}

/// The output's timing, as a timed input needs it.
struct Timing {
    rate: u32,
    channels: u16,
    /// The first frame of the block being mixed.
    mixing: i64,
    /// [`TIMED_TOLERANCE`] in frames.
    tolerance: i64,
    /// [`TIMED_AHEAD`] in frames.
    ahead: i64,
}

struct Shared {
    inputs: Mutex<Vec<Input>>,
    blocks: AtomicU64,
    underruns: AtomicU64,
    late: AtomicU64,
    had_input: AtomicBool,
}

/// Mixes N [`AudioSource`]s into one output [`Port`] of interleaved f32 frames at one rate.
///
/// Every [`MixerSettings::block`] of clock time the mixer reads what each input has (without
/// waiting), converts it to the output channels and rate, and once an input holds
/// [`MixerSettings::jitter`] of audio, mixes one block of it with its gain. The sum is scaled
/// by the master gain and soft-limited. An input that runs dry is re-buffered (counted in
/// [`MixerStats::underruns`]); the mixer reads no more than it needs, so a fast input (a file)
/// is held back by its own port instead of piling up here.
///
/// ```
/// use std::time::Duration;
/// use livekit_core::{AudioFrame, FrameSource, FrameTarget, Mixer, MixerSettings, Port, Pull};
///
/// let voice = Port::blocking(64);
/// let mixer = Mixer::start(MixerSettings::default()).unwrap();
/// let input = mixer.add_input("voice", voice.clone(), 0.5);
/// voice.push(AudioFrame::new(vec![0.8; 4800], 48_000, 1, Duration::ZERO).unwrap()).unwrap();
/// voice.end();
/// let output = mixer.output();
/// // Blocks mixed before the input was added are silent: skip them.
/// let block = loop {
///     let Pull::Frame(block) = output.next(Duration::from_secs(5)) else { panic!() };
///     if block.samples()[0] != 0.0 {
///         break block;
///     }
/// };
/// assert_eq!((block.sample_rate(), block.channels(), block.frames()), (48_000, 2, 480));
/// assert!(block.samples().iter().all(|&s| (s - 0.4).abs() < 1e-6));
/// input.set_muted(true);
/// ```
pub struct Mixer {
    shared: Arc<Shared>,
    output: Port<AudioFrame>,
    stop: Arc<AtomicBool>,
    worker: Option<Worker<()>>,
}

impl std::fmt::Debug for Mixer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mixer")
            .field("inputs", &self.shared.inputs.lock().len())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Mixer {
    /// Starts the mixing thread (named `livekit.audio.mixer`). It produces silence until inputs are
    /// added.
    pub fn start(settings: MixerSettings) -> Result<Self, StartMixerError> {
        check(&settings)?;
        let shared = Arc::new(Shared {
            inputs: Mutex::new(Vec::new()),
            blocks: AtomicU64::new(0),
            underruns: AtomicU64::new(0),
            late: AtomicU64::new(0),
            had_input: AtomicBool::new(false),
        });
        let output = Port::drop_oldest(settings.output_capacity);
        let stop = Arc::new(AtomicBool::new(false));
        let worker = {
            let shared = shared.clone();
            let output = output.clone();
            let stop = stop.clone();
            spawn_named("livekit.audio.mixer", move || {
                run(&settings, &shared, &output, &stop)
            })
            .map_err(|error| match error {
                crate::thread::SpawnError::Os { source, .. } => StartMixerError::Thread(source),
                other => StartMixerError::InvalidSettings(other.to_string()),
            })?
        };
        Ok(Self {
            shared,
            output,
            stop,
            worker: Some(worker),
        })
    }

    /// Adds an input with a linear `gain`, mixed as it arrives; returns its controls.
    pub fn add_input(
        &self,
        name: impl Into<String>,
        source: impl AudioSource + 'static,
        gain: f32,
    ) -> MixerInput {
        self.add(name.into(), Box::new(source), gain, false)
    }

    /// Adds an input whose frames' timestamps are times on the mixer's clock
    /// ([`MixerSettings::clock`]), with a linear `gain`; returns its controls.
    ///
    /// Each sample is mixed into the output block that covers its time, whenever it came: a
    /// frame that comes after its time has been mixed is left out (the part that is past),
    /// a gap between frames is silence, and a frame that overlaps sound already waiting
    /// replaces it (a seek). Frames must come before their time: a `livekit-sources` player
    /// writes them ahead, stamped with its clock, to a target added with its
    /// `add_clock_audio_target`.
    /// Frames within a few milliseconds of where the input's sound goes on follow it
    /// without a cut.
    pub fn add_timed_input(
        &self,
        name: impl Into<String>,
        source: impl AudioSource + 'static,
        gain: f32,
    ) -> MixerInput {
        self.add(name.into(), Box::new(source), gain, true)
    }

    fn add(
        &self,
        name: String,
        source: Box<dyn AudioSource>,
        gain: f32,
        timed: bool,
    ) -> MixerInput {
        let control = Arc::new(Control {
            gain: AtomicU32::new(0),
            muted: AtomicBool::new(false),
            removed: AtomicBool::new(false),
        });
        let handle = MixerInput {
            name: name.into(),
            control: control.clone(),
        };
        handle.set_gain(gain);
        self.shared.inputs.lock().push(Input {
            name: handle.name.clone(),
            source,
            control,
            resampler: None,
            fifo: VecDeque::new(),
            timed,
            at: 0,
            dry: true,
            primed: false,
            ended: false,
            scratch: Vec::new(),
            converted: Vec::new(),
        });
        self.shared.had_input.store(true, Ordering::Relaxed);
        handle
    }

    /// The mixed audio: a drop-oldest port (give it to a recorder, a streamer, a speaker).
    pub fn output(&self) -> Port<AudioFrame> {
        self.output.clone()
    }

    /// The counters now.
    pub fn stats(&self) -> MixerStats {
        MixerStats {
            blocks: self.shared.blocks.load(Ordering::Relaxed),
            underruns: self.shared.underruns.load(Ordering::Relaxed),
            late: self.shared.late.load(Ordering::Relaxed),
        }
    }

    /// Stops mixing, ends the output stream and waits for the thread.
    pub fn stop(mut self) -> Result<MixerStats, WorkerPanicked> {
        self.stop_inner()?;
        Ok(self.stats())
    }

    fn stop_inner(&mut self) -> Result<(), WorkerPanicked> {
        self.stop.store(true, Ordering::Relaxed);
        match self.worker.take() {
            Some(worker) => worker.join(),
            None => Ok(()),
        }
    }
}

impl Drop for Mixer {
    fn drop(&mut self) {
        if let Err(error) = self.stop_inner() {
            tracing::error!(%error, "audio mixer thread panicked");
        }
    }
}

fn check(settings: &MixerSettings) -> Result<(), StartMixerError> {
    let bad = |text: String| Err(StartMixerError::InvalidSettings(text));
    if !(8_000..=192_000).contains(&settings.sample_rate) {
        return bad(format!(
            "sample_rate {} Hz is outside 8000..=192000",
            settings.sample_rate
        ));
    }
    if !(1..=8).contains(&settings.channels) {
        return bad(format!("channels {} is outside 1..=8", settings.channels));
    }
    if settings.block < Duration::from_millis(1) || settings.block > Duration::from_millis(100) {
        return bad(format!("block {:?} is outside 1..=100 ms", settings.block));
    }
    if settings.jitter > Duration::from_millis(500) {
        return bad(format!("jitter {:?} is above 500 ms", settings.jitter));
    }
    if !settings.master_gain.is_finite() || settings.master_gain < 0.0 {
        return bad(format!(
            "master_gain {} must be a finite number >= 0",
            settings.master_gain
        ));
    }
    Ok(())
}

/// The soft limiter: linear up to [`LIMITER_THRESHOLD`], then a tanh knee that approaches 1.0.
pub fn soft_limit(sample: f32) -> f32 {
    let magnitude = sample.abs();
    if magnitude <= LIMITER_THRESHOLD {
        return sample;
    }
    let room = 1.0 - LIMITER_THRESHOLD;
    let bent = LIMITER_THRESHOLD + room * ((magnitude - LIMITER_THRESHOLD) / room).tanh();
    bent.copysign(sample)
}

/// Reads a timed input (all it has, up to [`TIMED_AHEAD`]: a frame that replaces sound
/// waiting must be seen before that sound is mixed) and mixes its share of the block that
/// starts at frame `timing.mixing`. `place` gives the frame a timestamp puts a sample at.
fn mix_timed(
    input: &mut Input,
    mix: &mut [f32],
    timing: &Timing,
    block_frames: usize,
    place: impl Fn(Duration) -> i64,
    shared: &Shared,
) {
    let ch = usize::from(timing.channels);
    let first = timing.mixing;
    let enough = first + timing.ahead;
    while !input.ended && (input.fifo.is_empty() || input.at + input.waiting(ch) < enough) {
        match input.source.next(Duration::ZERO) {
            Pull::Frame(frame) => match Some(place(frame.pts())).filter(|&at| at <= enough) {
                Some(at) => {
                    if at < first {
                        shared.late.fetch_add(1, Ordering::Relaxed);
                    }
                    input.place(&frame, at, timing);
                }
                None => {
                    shared.late.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(input = %input.name, pts = ?frame.pts(), "timed audio far ahead dropped");
                }
            },
            Pull::Pending => break,
            Pull::Ended => {
                tracing::debug!(input = %input.name, "mixer input ended");
                input.ended = true;
            }
        }
    }
    // What is past is left out.
    if !input.fifo.is_empty() && input.at < first {
        let past = usize::try_from(first - input.at)
            .unwrap_or(0)
            .min(input.fifo.len() / ch);
        input.fifo.drain(..past * ch);
        input.at += past as i64;
    }
    let offset = if input.fifo.is_empty() {
        block_frames
    } else {
        usize::try_from(input.at - first)
            .unwrap_or(0)
            .min(block_frames)
    };
    let take = (input.fifo.len() / ch).min(block_frames - offset);
    if offset + take < block_frames && !input.ended {
        if !input.dry {
            shared.underruns.fetch_add(1, Ordering::Relaxed);
        }
        input.dry = true;
    } else if take > 0 {
        input.dry = false;
    }
    let gain = if input.control.muted.load(Ordering::Relaxed) {
        0.0
    } else {
        f32::from_bits(input.control.gain.load(Ordering::Relaxed))
    };
    for (out, sample) in mix[offset * ch..]
        .iter_mut()
        .zip(input.fifo.drain(..take * ch))
    {
        *out += sample * gain;
    }
    input.at += take as i64;
}

fn frames_in(duration: Duration, rate: u32) -> usize {
    (duration.as_secs_f64() * f64::from(rate)).round() as usize
}

fn run(settings: &MixerSettings, shared: &Shared, output: &Port<AudioFrame>, stop: &AtomicBool) {
    let rate = settings.sample_rate;
    let channels = settings.channels;
    let ch = usize::from(channels);
    let block_frames = frames_in(settings.block, rate).max(1);
    let jitter_frames = frames_in(settings.jitter, rate);
    let block = Duration::from_secs_f64(block_frames as f64 / f64::from(rate));
    let tolerance = frames_in(TIMED_TOLERANCE, rate) as i64;
    let ahead = frames_in(TIMED_AHEAD, rate) as i64;
    let clock = &settings.clock;
    let start = clock.now();
    // Where a timed frame's first sample goes: its frame number from the start.
    let place_of = |pts: Duration| -> i64 {
        let since = pts.as_nanos() as f64 - start.as_nanos() as f64;
        (since * f64::from(rate) / 1e9).round() as i64
    };
    let mut index: u64 = 0;
    let mut mix = vec![0.0f32; block_frames * ch];
    while !stop.load(Ordering::Relaxed) {
        let due = start + block.mul_f64(index as f64);
        if !clock.wait_until(due, STOP_POLL) {
            continue;
        }
        mix.fill(0.0);
        let mut inputs = shared.inputs.lock();
        inputs.retain(|input| !input.control.removed.load(Ordering::Relaxed));
        let first = i64::try_from(index).unwrap_or(i64::MAX / 2) * block_frames as i64;
        let timing = Timing {
            rate,
            channels,
            mixing: first,
            tolerance,
            ahead,
        };
        for input in inputs.iter_mut() {
            if input.timed {
                mix_timed(input, &mut mix, &timing, block_frames, place_of, shared);
                continue;
            }
            let wanted = (jitter_frames + block_frames) * ch;
            while input.fifo.len() < wanted && !input.ended {
                match input.source.next(Duration::ZERO) {
                    Pull::Frame(frame) => input.convert(&frame, rate, channels),
                    Pull::Pending => break,
                    Pull::Ended => {
                        tracing::debug!(input = %input.name, "mixer input ended");
                        input.ended = true;
                    }
                }
            }
            if !input.primed {
                if input.fifo.len() >= wanted || (input.ended && !input.fifo.is_empty()) {
                    input.primed = true;
                } else {
                    continue;
                }
            }
            let take = input.fifo.len().min(block_frames * ch);
            if take < block_frames * ch && !input.ended {
                shared.underruns.fetch_add(1, Ordering::Relaxed);
                input.primed = false;
            }
            let gain = if input.control.muted.load(Ordering::Relaxed) {
                0.0
            } else {
                f32::from_bits(input.control.gain.load(Ordering::Relaxed))
            };
            for (out, sample) in mix.iter_mut().zip(input.fifo.drain(..take)) {
                *out += sample * gain;
            }
        }
        inputs.retain(|input| !(input.ended && input.fifo.is_empty()));
        let all_done = inputs.is_empty() && shared.had_input.load(Ordering::Relaxed);
        drop(inputs);
        for sample in &mut mix {
            *sample *= settings.master_gain;
            if settings.limiter {
                *sample = soft_limit(*sample);
            }
        }
        match AudioFrame::new(mix.clone(), rate, channels, due) {
            Ok(frame) => {
                if output.push(frame).is_err() {
                    break; // the reader closed the port
                }
            }
            Err(error) => tracing::error!(%error, "audio mixer made an invalid frame"),
        }
        shared.blocks.fetch_add(1, Ordering::Relaxed);
        index += 1;
        if all_done && settings.end_with_inputs {
            break;
        }
    }
    output.end();
}
