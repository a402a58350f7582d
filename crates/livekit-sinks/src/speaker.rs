//! [`Speaker`]: an audio output device as an [`AudioTarget`](livekit_core::AudioTarget), with
//! bounded latency that does not creep. PulseAudio is spoken to directly
//! (`speaker_pulse.rs`); other systems go through cpal (ALSA, CoreAudio, WASAPI).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use livekit_av::AudioHost;
use livekit_av::audio::{device_id, find_device};
use livekit_core::resample::{Resampler, remix};
use livekit_core::{AudioFrame, FrameTarget, PushError, WhenFull};
use parking_lot::{Condvar, Mutex};

/// How long a blocked push waits before checking again whether the speaker was closed.
const BLOCK_POLL: Duration = Duration::from_millis(50);

/// Why a speaker could not be opened. Each variant names the device.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenSpeakerError {
    /// The audio system could not be reached.
    #[error("speaker {device}: {host} is not available: {detail}")]
    HostUnavailable {
        /// The device asked for (`default` for the default one).
        device: String,
        /// The audio system.
        host: AudioHost,
        /// What cpal said.
        detail: String,
    },
    /// No output device matched.
    #[error("speaker {device}: no such output device on {host}")]
    NotFound {
        /// The device asked for.
        device: String,
        /// The audio system.
        host: AudioHost,
    },
    /// The device exists but could not be opened or started.
    #[error("speaker {device}: cannot open: {detail}")]
    Open {
        /// The device.
        device: String,
        /// What cpal said.
        detail: String,
    },
    /// A setting is out of range.
    #[error("speaker {device}: {detail}")]
    InvalidSettings {
        /// The device.
        device: String,
        /// What is wrong, naming the setting.
        detail: String,
    },
}

/// Settings of a [`Speaker`].
#[derive(Debug, Clone)]
pub struct SpeakerSettings {
    /// The audio system. Default [`AudioHost::Auto`]: PulseAudio when a server runs (spoken to
    /// directly, see `speaker_pulse.rs` for why not through cpal), else cpal's host for the
    /// system (ALSA on Linux).
    pub host: AudioHost,
    /// The device: its id (PulseAudio sink name such as `nullsink`, ALSA PCM name) or
    /// description; `None` (default) plays on the host's default output.
    pub device: Option<String>,
    /// The device buffer asked for, 5..=200 ms (hosts that cannot honour it use their default).
    /// Default 20 ms.
    pub buffer: Duration,
    /// Audio queued here before playback starts, and again after running dry, so that small
    /// gaps in arrival do not crackle. 0..=`max_latency`. Default 40 ms.
    pub start_latency: Duration,
    /// The most audio queued here. With [`WhenFull::DropOldest`] (default) a push beyond it
    /// drops the oldest audio back down to `start_latency`, so the delay of a live monitor
    /// stays bounded and does not creep; with [`WhenFull::Block`] a push waits for room (a
    /// player feeding ahead of time). 10 ms..=5 s. Default 150 ms.
    pub max_latency: Duration,
    /// What a push into a full queue does. Default [`WhenFull::DropOldest`].
    pub when_full: WhenFull,
}

impl Default for SpeakerSettings {
    fn default() -> Self {
        Self {
            host: AudioHost::Auto,
            device: None,
            buffer: Duration::from_millis(20),
            start_latency: Duration::from_millis(40),
            max_latency: Duration::from_millis(150),
            when_full: WhenFull::DropOldest,
        }
    }
}

/// Counters of a [`Speaker`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SpeakerStats {
    /// Sample frames (one sample per channel) handed to the device.
    pub played: u64,
    /// Sample frames dropped to keep the latency bounded.
    pub dropped: u64,
    /// Times the device asked for audio and the queue ran dry.
    pub underruns: u64,
    /// Errors the device reported.
    pub errors: u64,
    /// Audio queued now (the latency this speaker adds, on top of the device buffer).
    pub queued: Duration,
}

#[derive(Debug, Default)]
struct Counters {
    played: AtomicU64,
    dropped: AtomicU64,
    underruns: AtomicU64,
    errors: AtomicU64,
}

struct Queue {
    samples: VecDeque<f32>,
    playing: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Samples queued before playback (re)starts; set once the device's rate is known.
    start_samples: AtomicUsize,
    room: Condvar,
    counters: Counters,
    ended: AtomicBool,
    closed: AtomicBool,
}

/// Plays [`AudioFrame`]s on an output device. Frames of any rate and channel count are
/// converted to the device's. Push from one thread (the frames are one stream).
///
/// ```no_run
/// use std::time::Duration;
/// use livekit_core::{AudioFrame, FrameTarget};
/// use livekit_sinks::{Speaker, SpeakerSettings};
///
/// let speaker = Speaker::open(SpeakerSettings::default())?;
/// let beep: Vec<f32> = (0..4800).map(|n| 0.2 * (n as f32 * 0.057).sin()).collect();
/// speaker.push(AudioFrame::new(beep, 48_000, 1, Duration::ZERO).unwrap()).unwrap();
/// # Ok::<(), livekit_sinks::OpenSpeakerError>(())
/// ```
pub struct Speaker {
    device: String,
    rate: u32,
    channels: u16,
    start_samples: usize,
    max_samples: usize,
    when_full: WhenFull,
    shared: Arc<Shared>,
    converter: Mutex<Option<Resampler>>,
    backend: Mutex<Option<Backend>>,
}

/// Where the audio goes.
enum Backend {
    /// Dropping the stream stops its callbacks.
    Cpal(#[allow(dead_code)] cpal::Stream),
    #[cfg(target_os = "linux")]
    Pulse(#[allow(dead_code)] crate::speaker_pulse::PulsePlayer),
}

struct Opened {
    backend: Backend,
    label: String,
    rate: u32,
    channels: u16,
}

fn open_backend(
    settings: &SpeakerSettings,
    wanted: &str,
    shared: &Arc<Shared>,
) -> Result<Opened, OpenSpeakerError> {
    #[cfg(target_os = "linux")]
    {
        use crate::speaker_pulse::{self, PulseError, Sink};
        let try_pulse = match settings.host {
            AudioHost::PulseAudio => true,
            AudioHost::Auto => speaker_pulse::available(),
            _ => false,
        };
        if try_pulse {
            let opened = Sink::find(settings.device.as_deref()).and_then(|sink| {
                let (label, rate) = (sink.name(), sink.rate());
                let fill_shared = shared.clone();
                let player = sink.play(settings.buffer, move |out| fill(&fill_shared, out))?;
                Ok(Opened {
                    backend: Backend::Pulse(player),
                    label,
                    rate,
                    channels: 2,
                })
            });
            match opened {
                Ok(opened) => return Ok(opened),
                Err(PulseError::NotFound) => {
                    return Err(OpenSpeakerError::NotFound {
                        device: wanted.to_string(),
                        host: AudioHost::PulseAudio,
                    });
                }
                Err(PulseError::Open(detail)) => {
                    return Err(OpenSpeakerError::Open {
                        device: wanted.to_string(),
                        detail,
                    });
                }
                Err(PulseError::Unavailable(detail)) if settings.host == AudioHost::PulseAudio => {
                    return Err(OpenSpeakerError::HostUnavailable {
                        device: wanted.to_string(),
                        host: AudioHost::PulseAudio,
                        detail,
                    });
                }
                Err(PulseError::Unavailable(detail)) => {
                    tracing::info!(detail, "PulseAudio not reachable; using the system's audio");
                }
            }
        }
    }
    open_cpal(settings, wanted, shared)
}

fn open_cpal(
    settings: &SpeakerSettings,
    wanted: &str,
    shared: &Arc<Shared>,
) -> Result<Opened, OpenSpeakerError> {
    let host = livekit_av::audio::host(settings.host).map_err(|detail| {
        OpenSpeakerError::HostUnavailable {
            device: wanted.to_string(),
            host: settings.host,
            detail,
        }
    })?;
    let device = match &settings.device {
        None => host.default_output_device(),
        Some(name) => host
            .output_devices()
            .ok()
            .and_then(|devices| find_device(devices, name)),
    }
    .ok_or_else(|| OpenSpeakerError::NotFound {
        device: wanted.to_string(),
        host: settings.host,
    })?;
    let label = device_id(&device);
    let open_error = |detail: String| OpenSpeakerError::Open {
        device: label.clone(),
        detail,
    };
    let default = device
        .default_output_config()
        .map_err(|error| open_error(error.to_string()))?;
    let (rate, channels) = (default.sample_rate(), default.channels());
    let offers_f32 = device.supported_output_configs().is_ok_and(|mut ranges| {
        ranges.any(|r| {
            r.sample_format() == cpal::SampleFormat::F32
                && r.channels() == channels
                && (r.min_sample_rate()..=r.max_sample_rate()).contains(&rate)
        })
    });
    let format = if offers_f32 {
        cpal::SampleFormat::F32
    } else {
        default.sample_format()
    };
    if !matches!(format, cpal::SampleFormat::F32 | cpal::SampleFormat::I16) {
        return Err(open_error(format!(
            "the device's sample format {format:?} is not supported"
        )));
    }
    let buffer = (settings.buffer.as_secs_f64() * f64::from(rate)).round() as u32;
    let mut config = cpal::StreamConfig {
        channels,
        sample_rate: rate,
        buffer_size: cpal::BufferSize::Fixed(buffer.max(1)),
    };
    let stream = match build(&device, &config, format, shared) {
        Ok(stream) => stream,
        Err(first) => {
            tracing::debug!(device = label, error = first, "fixed buffer refused");
            config.buffer_size = cpal::BufferSize::Default;
            build(&device, &config, format, shared).map_err(&open_error)?
        }
    };
    stream
        .play()
        .map_err(|error| open_error(error.to_string()))?;
    Ok(Opened {
        backend: Backend::Cpal(stream),
        label,
        rate,
        channels,
    })
}

impl std::fmt::Debug for Speaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Speaker")
            .field("device", &self.device)
            .field("rate", &self.rate)
            .field("channels", &self.channels)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Speaker {
    /// Opens the output device and starts it (playing silence until frames come).
    pub fn open(settings: SpeakerSettings) -> Result<Self, OpenSpeakerError> {
        let wanted = settings.device.clone().unwrap_or_else(|| "default".into());
        check(&settings, &wanted)?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                samples: VecDeque::new(),
                playing: false,
            }),
            start_samples: AtomicUsize::new(usize::MAX),
            room: Condvar::new(),
            counters: Counters::default(),
            ended: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        let opened = open_backend(&settings, &wanted, &shared)?;
        let (label, rate, channels) = (opened.label, opened.rate, opened.channels);
        let frames = |d: Duration| (d.as_secs_f64() * f64::from(rate)).round() as usize;
        let start_samples = frames(settings.start_latency) * usize::from(channels);
        shared.start_samples.store(start_samples, Ordering::Relaxed);
        tracing::info!(device = label, rate, channels, "speaker opened");
        Ok(Self {
            device: label,
            rate,
            channels,
            start_samples,
            max_samples: frames(settings.max_latency) * usize::from(channels),
            when_full: settings.when_full,
            shared,
            converter: Mutex::new(None),
            backend: Mutex::new(Some(opened.backend)),
        })
    }

    /// The device's id.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// The device's sample rate.
    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// The device's channel count.
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// The counters now.
    pub fn stats(&self) -> SpeakerStats {
        let queued = self.shared.queue.lock().samples.len() / usize::from(self.channels);
        let c = &self.shared.counters;
        SpeakerStats {
            played: c.played.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            underruns: c.underruns.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            queued: Duration::from_secs_f64(queued as f64 / f64::from(self.rate)),
        }
    }

    /// Waits until everything queued has been handed to the device, for at most `timeout`;
    /// returns whether it has.
    pub fn drain(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut queue = self.shared.queue.lock();
        while !queue.samples.is_empty() {
            if self
                .shared
                .room
                .wait_until(&mut queue, deadline)
                .timed_out()
            {
                return queue.samples.is_empty();
            }
        }
        true
    }

    /// Stops the device now (what is queued is not played).
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::Relaxed);
        drop(self.backend.lock().take());
        self.shared.room.notify_all();
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        self.close();
    }
}

fn check(settings: &SpeakerSettings, device: &str) -> Result<(), OpenSpeakerError> {
    let bad = |detail: String| {
        Err(OpenSpeakerError::InvalidSettings {
            device: device.to_string(),
            detail,
        })
    };
    let ms = Duration::from_millis;
    if settings.buffer < ms(5) || settings.buffer > ms(200) {
        return bad(format!(
            "buffer {:?} is outside 5..=200 ms",
            settings.buffer
        ));
    }
    if settings.max_latency < ms(10) || settings.max_latency > ms(5000) {
        return bad(format!(
            "max_latency {:?} is outside 10 ms..=5 s",
            settings.max_latency
        ));
    }
    if settings.start_latency > settings.max_latency {
        return bad(format!(
            "start_latency {:?} is above max_latency {:?}",
            settings.start_latency, settings.max_latency
        ));
    }
    Ok(())
}

/// Takes what the device asks for from the queue; silence while (re)buffering.
fn fill(shared: &Shared, out: &mut [f32]) {
    let start_samples = shared.start_samples.load(Ordering::Relaxed);
    let mut queue = shared.queue.lock();
    let ready = queue.samples.len() >= start_samples.max(1)
        || (!queue.samples.is_empty() && shared.ended.load(Ordering::Relaxed));
    if !queue.playing && ready {
        queue.playing = true;
    }
    let take = if queue.playing {
        queue.samples.len().min(out.len())
    } else {
        0
    };
    for (slot, sample) in out.iter_mut().zip(queue.samples.drain(..take)) {
        *slot = sample;
    }
    out[take..].fill(0.0);
    if queue.playing && take < out.len() {
        queue.playing = false;
        if !shared.ended.load(Ordering::Relaxed) {
            shared.counters.underruns.fetch_add(1, Ordering::Relaxed);
        }
    }
    drop(queue);
    shared
        .counters
        .played
        .fetch_add(take as u64, Ordering::Relaxed);
    shared.room.notify_all();
}

fn build(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    format: cpal::SampleFormat,
    shared: &Arc<Shared>,
) -> Result<cpal::Stream, String> {
    let data_shared = shared.clone();
    let error_shared = shared.clone();
    let mut scratch: Vec<f32> = Vec::new();
    device
        .build_output_stream_raw(
            *config,
            format,
            move |data: &mut cpal::Data, _info: &cpal::OutputCallbackInfo| {
                if let Some(out) = data.as_slice_mut::<f32>() {
                    fill(&data_shared, out);
                } else if let Some(out) = data.as_slice_mut::<i16>() {
                    scratch.resize(out.len(), 0.0);
                    fill(&data_shared, &mut scratch);
                    for (slot, sample) in out.iter_mut().zip(&scratch) {
                        *slot = (sample.clamp(-1.0, 1.0) * 32767.0) as i16;
                    }
                }
            },
            move |error| {
                error_shared.counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, "speaker error");
            },
            Some(Duration::from_secs(5)),
        )
        .map_err(|error| error.to_string())
}

impl FrameTarget<AudioFrame> for Speaker {
    fn push(&self, frame: AudioFrame) -> Result<(), PushError> {
        if self.shared.closed.load(Ordering::Relaxed) {
            return Err(PushError::Closed);
        }
        if self.shared.ended.load(Ordering::Relaxed) {
            return Err(PushError::Ended);
        }
        let mut remixed = Vec::with_capacity(frame.frames() * usize::from(self.channels));
        remix(
            frame.samples(),
            frame.channels(),
            self.channels,
            &mut remixed,
        );
        let mut converted = Vec::with_capacity(remixed.len() + 64);
        {
            let mut converter = self.converter.lock();
            let stale = converter
                .as_ref()
                .is_none_or(|r| r.from_rate() != frame.sample_rate());
            if stale {
                *converter = Some(Resampler::new(
                    frame.sample_rate(),
                    self.rate,
                    self.channels,
                ));
            }
            if let Some(resampler) = converter.as_mut() {
                resampler.process(&remixed, &mut converted);
            }
        }
        let mut queue = self.shared.queue.lock();
        if self.when_full == WhenFull::Block {
            while queue.samples.len() + converted.len() > self.max_samples
                && !queue.samples.is_empty()
            {
                if self.shared.closed.load(Ordering::Relaxed) {
                    return Err(PushError::Closed);
                }
                self.shared.room.wait_for(&mut queue, BLOCK_POLL);
            }
        }
        queue.samples.extend(converted);
        if queue.samples.len() > self.max_samples {
            // Back down to the start latency: the delay stays bounded instead of creeping.
            let keep = self.start_samples.min(self.max_samples);
            let excess = queue.samples.len() - keep;
            let excess = excess - excess % usize::from(self.channels);
            queue.samples.drain(..excess);
            self.shared.counters.dropped.fetch_add(
                (excess / usize::from(self.channels)) as u64,
                Ordering::Relaxed,
            );
        }
        Ok(())
    }

    fn end(&self) {
        self.shared.ended.store(true, Ordering::Relaxed);
    }
}
