//! [`Microphone`]: an audio input device through cpal (PulseAudio spoken to directly where it
//! runs, ALSA otherwise), delivered as f32 frames at the rate and channel count asked for.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use crossbeam_channel::{Receiver, Sender};
use livekit_av::AudioHost;
use livekit_av::audio::{description, device_id, find_device};
use livekit_core::resample::{Resampler, remix};
use livekit_core::thread::{Worker, WorkerPanicked, spawn_worker};
use livekit_core::{AudioFrame, AudioTarget, Clock, PushError, SystemClock};

/// A timestamp further than this from the capture clock re-anchors the sample count.
const RESYNC: Duration = Duration::from_millis(200);

/// How long the capture thread waits for data before checking whether it should stop.
const POLL: Duration = Duration::from_millis(50);

/// Why audio devices could not be listed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListAudioDevicesError {
    /// The audio system could not be reached.
    #[error("listing audio devices: {host} is not available: {detail}")]
    HostUnavailable {
        /// The audio system.
        host: AudioHost,
        /// What cpal said.
        detail: String,
    },
    /// The audio system refused to list its devices.
    #[error("listing audio devices of {host}: {detail}")]
    List {
        /// The audio system.
        host: AudioHost,
        /// What cpal said.
        detail: String,
    },
}

/// Why a microphone could not be opened. Each variant names the device.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenMicrophoneError {
    /// The audio system could not be reached.
    #[error("microphone {device}: {host} is not available: {detail}")]
    HostUnavailable {
        /// The device asked for (`default` for the default one).
        device: String,
        /// The audio system.
        host: AudioHost,
        /// What cpal said.
        detail: String,
    },
    /// No input device matched.
    #[error("microphone {device}: no such input device on {host}")]
    NotFound {
        /// The device asked for.
        device: String,
        /// The audio system.
        host: AudioHost,
    },
    /// The device exists but could not be opened or started.
    #[error("microphone {device}: cannot open: {detail}")]
    Open {
        /// The device.
        device: String,
        /// What cpal said.
        detail: String,
    },
    /// A setting is out of range.
    #[error("microphone {device}: {detail}")]
    InvalidSettings {
        /// The device.
        device: String,
        /// What is wrong, naming the setting.
        detail: String,
    },
    /// The capture thread could not be created.
    #[error("microphone {device}: could not create its thread")]
    Thread {
        /// The device.
        device: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

/// An audio input found by [`list_input_devices`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputDeviceInfo {
    /// The name to open it with ([`MicrophoneSettings::device`]): PulseAudio's source name
    /// (`alsa_input.usb-...`, `nullsink.monitor`) or ALSA's PCM name (`hw:CARD=...`).
    pub id: String,
    /// A human-readable description.
    pub description: String,
    /// Whether it is the host's default input.
    pub is_default: bool,
    /// Its native sample rate, if known.
    pub sample_rate: Option<u32>,
    /// Its native channel count, if known.
    pub channels: Option<u16>,
}

/// The input devices of `host`.
pub fn list_input_devices(host: AudioHost) -> Result<Vec<InputDeviceInfo>, ListAudioDevicesError> {
    let cpal = livekit_av::audio::host(host)
        .map_err(|detail| ListAudioDevicesError::HostUnavailable { host, detail })?;
    let default = cpal.default_input_device().map(|d| device_id(&d));
    let devices = cpal
        .input_devices()
        .map_err(|error| ListAudioDevicesError::List {
            host,
            detail: error.to_string(),
        })?;
    Ok(devices
        .map(|device| {
            let config = device.default_input_config().ok();
            let id = device_id(&device);
            InputDeviceInfo {
                is_default: default.as_deref() == Some(id.as_str()),
                description: description(&device),
                sample_rate: config.as_ref().map(|c| c.sample_rate()),
                channels: config.as_ref().map(|c| c.channels()),
                id,
            }
        })
        .collect())
}

/// Settings of a [`Microphone`].
#[derive(Debug, Clone)]
pub struct MicrophoneSettings {
    /// The audio system. Default [`AudioHost::Auto`].
    pub host: AudioHost,
    /// The device: an id or description as [`list_input_devices`] gives them; `None`
    /// (default) opens the host's default input.
    pub device: Option<String>,
    /// Sample rate of the frames delivered, 8000..=192000 Hz (the device's own is converted).
    /// Default 48000.
    pub sample_rate: u32,
    /// Channels of the frames delivered, 1..=8 (mono devices are copied to every channel).
    /// Default 2.
    pub channels: u16,
    /// Length of each delivered frame, 1..=100 ms. Default 10 ms.
    pub block: Duration,
    /// The device buffer asked for, 5..=500 ms: the delay before audio reaches the capture
    /// thread. Default 40 ms. (cpal 0.18.2's PulseAudio host caps the server-side record
    /// buffer at this size too, so audio is lost whenever this process is late by more than
    /// it: 10 ms lost samples on a busy 2-core machine, 40 ms did not.)
    pub device_buffer: Duration,
    /// Device buffers held between the audio callback and the capture thread before the
    /// newest are dropped (counted in [`MicrophoneStats::dropped`]). Default 32.
    pub queue: usize,
    /// The clock frames are stamped with (default: a [`SystemClock`]).
    pub clock: Arc<dyn Clock>,
}

impl Default for MicrophoneSettings {
    fn default() -> Self {
        Self {
            host: AudioHost::Auto,
            device: None,
            sample_rate: 48_000,
            channels: 2,
            block: Duration::from_millis(10),
            device_buffer: Duration::from_millis(40),
            queue: 32,
            clock: Arc::new(SystemClock::new()),
        }
    }
}

/// Counters of a [`Microphone`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MicrophoneStats {
    /// Frames pushed to the targets.
    pub frames: u64,
    /// Device buffers dropped because the capture thread fell behind.
    pub dropped: u64,
    /// Errors the device reported while running.
    pub errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    frames: AtomicU64,
    dropped: AtomicU64,
    errors: AtomicU64,
}

/// A chunk from the audio callback: device-rate, device-channel f32 samples.
struct Chunk(Vec<f32>);

/// An audio input as a live audio source: f32 frames at [`MicrophoneSettings::sample_rate`]
/// and [`MicrophoneSettings::channels`], [`MicrophoneSettings::block`] long, stamped on the
/// capture clock, pushed to the targets from a thread named `microphone <device>`.
///
/// ```no_run
/// use std::sync::Arc;
/// use livekit_core::{AudioTarget, Port};
/// use livekit_sources::capture::{Microphone, MicrophoneSettings};
///
/// let port = Port::drop_oldest(50);
/// let targets: Vec<Arc<dyn AudioTarget>> = vec![Arc::new(port.clone())];
/// let mic = Microphone::start(MicrophoneSettings::default(), targets)?;
/// println!("recording from {} at {} Hz", mic.device(), mic.device_rate());
/// # Ok::<(), livekit_sources::capture::OpenMicrophoneError>(())
/// ```
pub struct Microphone {
    device: String,
    device_rate: u32,
    device_channels: u16,
    // Dropping it stops the callbacks; kept until `stop`.
    backend: Option<Backend>,
    stop: Arc<AtomicBool>,
    worker: Option<Worker<()>>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Microphone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Microphone")
            .field("device", &self.device)
            .field("device_rate", &self.device_rate)
            .field("device_channels", &self.device_channels)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Microphone {
    /// Opens the device and starts capturing into `targets`.
    pub fn start(
        settings: MicrophoneSettings,
        targets: Vec<Arc<dyn AudioTarget>>,
    ) -> Result<Self, OpenMicrophoneError> {
        let wanted = settings.device.clone().unwrap_or_else(|| "default".into());
        check(&settings, &wanted)?;
        if targets.is_empty() {
            return Err(OpenMicrophoneError::InvalidSettings {
                device: wanted,
                detail: "no targets given".into(),
            });
        }
        let counters = Arc::new(Counters::default());
        let (tx, rx) = crossbeam_channel::bounded::<Chunk>(settings.queue.max(1));
        let opened = open_backend(&settings, &wanted, tx, &counters)?;
        let label = opened.label.clone();
        let open_error = |detail: String| OpenMicrophoneError::Open {
            device: label.clone(),
            detail,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let capture = Capture {
            rx,
            targets,
            stop: stop.clone(),
            counters: counters.clone(),
            device_rate: opened.rate,
            device_channels: opened.channels,
            rate: settings.sample_rate,
            channels: settings.channels,
            block_frames: ((settings.block.as_secs_f64() * f64::from(settings.sample_rate)).round()
                as usize)
                .max(1),
            clock: settings.clock,
        };
        let worker = spawn_worker(
            format!("livekit.microphone.{label}"),
            || Ok::<_, std::convert::Infallible>(()),
            move |()| capture.run(),
        )
        .map_err(|error| match error {
            livekit_core::thread::SpawnError::Os { source, .. } => OpenMicrophoneError::Thread {
                device: label.clone(),
                source,
            },
            other => open_error(other.to_string()),
        })?;
        tracing::info!(
            device = label,
            rate = opened.rate,
            channels = opened.channels,
            "microphone started"
        );
        Ok(Self {
            device: label,
            device_rate: opened.rate,
            device_channels: opened.channels,
            backend: Some(opened.backend),
            stop,
            worker: Some(worker),
            counters,
        })
    }

    /// The device's id.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// The rate the device runs at (frames are converted to the settings' rate).
    pub fn device_rate(&self) -> u32 {
        self.device_rate
    }

    /// The channels the device gives.
    pub fn device_channels(&self) -> u16 {
        self.device_channels
    }

    /// The counters now.
    pub fn stats(&self) -> MicrophoneStats {
        MicrophoneStats {
            frames: self.counters.frames.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            errors: self.counters.errors.load(Ordering::Relaxed),
        }
    }

    /// Stops capturing, writes end-of-stream to the targets and waits for the thread.
    pub fn stop(mut self) -> Result<MicrophoneStats, WorkerPanicked> {
        self.stop_inner()?;
        Ok(self.stats())
    }

    fn stop_inner(&mut self) -> Result<(), WorkerPanicked> {
        drop(self.backend.take());
        self.stop.store(true, Ordering::Relaxed);
        match self.worker.take() {
            Some(worker) => worker.join(),
            None => Ok(()),
        }
    }
}

impl Drop for Microphone {
    fn drop(&mut self) {
        if let Err(error) = self.stop_inner() {
            tracing::error!(%error, device = self.device, "microphone thread panicked");
        }
    }
}

/// Where the audio comes from (one variant today; a host cpal lacks would add one).
enum Backend {
    /// Dropping the stream stops its callbacks.
    Cpal(#[allow(dead_code)] cpal::Stream),
}

struct Opened {
    backend: Backend,
    label: String,
    rate: u32,
    channels: u16,
}

fn open_backend(
    settings: &MicrophoneSettings,
    wanted: &str,
    tx: Sender<Chunk>,
    counters: &Arc<Counters>,
) -> Result<Opened, OpenMicrophoneError> {
    open_cpal(settings, wanted, tx, counters)
}

fn open_cpal(
    settings: &MicrophoneSettings,
    wanted: &str,
    tx: Sender<Chunk>,
    counters: &Arc<Counters>,
) -> Result<Opened, OpenMicrophoneError> {
    // Auto: cpal's PulseAudio host when a server runs, else ALSA (Linux), CoreAudio, WASAPI.
    let host = livekit_av::audio::host(settings.host).map_err(|detail| {
        OpenMicrophoneError::HostUnavailable {
            device: wanted.to_string(),
            host: settings.host,
            detail,
        }
    })?;
    let device = match &settings.device {
        None => host.default_input_device(),
        Some(name) => host
            .input_devices()
            .ok()
            .and_then(|devices| find_device(devices, name)),
    }
    .ok_or_else(|| OpenMicrophoneError::NotFound {
        device: wanted.to_string(),
        host: settings.host,
    })?;
    let label = device_id(&device);
    let open_error = |detail: String| OpenMicrophoneError::Open {
        device: label.clone(),
        detail,
    };
    let (mut config, format) =
        pick_config(&device, settings.sample_rate, settings.channels).map_err(&open_error)?;
    // A bounded device buffer where the host takes one (PulseAudio's default for recording
    // hands out two seconds at a time); hosts that refuse it get their default.
    let device_frames = settings.device_buffer.as_secs_f64() * f64::from(config.sample_rate);
    config.buffer_size = cpal::BufferSize::Fixed((device_frames.round() as u32).max(64));
    let stream = match build_stream(
        &device,
        &config,
        format,
        tx.clone(),
        counters.clone(),
        &label,
    ) {
        Ok(stream) => stream,
        Err(first) => {
            tracing::debug!(device = label, error = first, "fixed buffer refused");
            config.buffer_size = cpal::BufferSize::Default;
            build_stream(&device, &config, format, tx, counters.clone(), &label)
                .map_err(&open_error)?
        }
    };
    stream
        .play()
        .map_err(|error| open_error(error.to_string()))?;
    Ok(Opened {
        backend: Backend::Cpal(stream),
        label,
        rate: config.sample_rate,
        channels: config.channels,
    })
}

fn check(settings: &MicrophoneSettings, device: &str) -> Result<(), OpenMicrophoneError> {
    let bad = |detail: String| {
        Err(OpenMicrophoneError::InvalidSettings {
            device: device.to_string(),
            detail,
        })
    };
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
    let ms = Duration::from_millis;
    if settings.device_buffer < ms(5) || settings.device_buffer > ms(500) {
        return bad(format!(
            "device_buffer {:?} is outside 5..=500 ms",
            settings.device_buffer
        ));
    }
    Ok(())
}

/// F32 at the wanted rate and channels when the device offers it (PulseAudio always does and
/// converts itself), else the device's default configuration.
pub(crate) fn pick_config(
    device: &cpal::Device,
    rate: u32,
    channels: u16,
) -> Result<(cpal::StreamConfig, cpal::SampleFormat), String> {
    let offers_f32 = device.supported_input_configs().is_ok_and(|mut ranges| {
        ranges.any(|r| {
            r.sample_format() == cpal::SampleFormat::F32
                && r.channels() == channels
                && (r.min_sample_rate()..=r.max_sample_rate()).contains(&rate)
        })
    });
    if offers_f32 {
        return Ok((
            cpal::StreamConfig {
                channels,
                sample_rate: rate,
                buffer_size: cpal::BufferSize::Default,
            },
            cpal::SampleFormat::F32,
        ));
    }
    let default = device
        .default_input_config()
        .map_err(|error| error.to_string())?;
    Ok((default.config(), default.sample_format()))
}

fn to_f32(data: &cpal::Data) -> Option<Vec<f32>> {
    use cpal::SampleFormat as F;
    Some(match data.sample_format() {
        F::F32 => data.as_slice::<f32>()?.to_vec(),
        F::I16 => data
            .as_slice::<i16>()?
            .iter()
            .map(|&s| f32::from(s) / 32768.0)
            .collect(),
        F::I32 => data
            .as_slice::<i32>()?
            .iter()
            .map(|&s| s as f32 / 2_147_483_648.0)
            .collect(),
        F::U8 => data
            .as_slice::<u8>()?
            .iter()
            .map(|&s| (f32::from(s) - 128.0) / 128.0)
            .collect(),
        _ => return None,
    })
}

fn build_stream(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    format: cpal::SampleFormat,
    tx: Sender<Chunk>,
    counters: Arc<Counters>,
    label: &str,
) -> Result<cpal::Stream, String> {
    use cpal::SampleFormat as F;
    if !matches!(format, F::F32 | F::I16 | F::I32 | F::U8) {
        return Err(format!(
            "the device's sample format {format:?} is not supported"
        ));
    }
    let data_counters = counters.clone();
    let error_label = label.to_string();
    device
        .build_input_stream_raw(
            *config,
            format,
            move |data: &cpal::Data, _info: &cpal::InputCallbackInfo| {
                if let Some(samples) = to_f32(data)
                    && tx.try_send(Chunk(samples)).is_err()
                {
                    data_counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
            },
            move |error| {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(device = error_label, %error, "microphone error");
            },
            Some(Duration::from_secs(5)),
        )
        .map_err(|error| error.to_string())
}

/// The capture thread: converts device chunks into stamped frames of one block each.
struct Capture {
    rx: Receiver<Chunk>,
    targets: Vec<Arc<dyn AudioTarget>>,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    device_rate: u32,
    device_channels: u16,
    rate: u32,
    channels: u16,
    block_frames: usize,
    clock: Arc<dyn Clock>,
}

impl Capture {
    fn run(mut self) {
        let ch = usize::from(self.channels);
        let mut resampler = Resampler::new(self.device_rate, self.rate, self.channels);
        let mut remixed = Vec::new();
        let mut pending: Vec<f32> = Vec::new();
        // Hosts may split a buffer in the middle of a frame (PulseAudio does): whole frames
        // are converted, the rest waits for the next chunk.
        let device_ch = usize::from(self.device_channels.max(1));
        let mut carry: Vec<f32> = Vec::new();
        // (clock time of sample 0, samples delivered since)
        let mut anchor: Option<(Duration, u64)> = None;
        while !self.stop.load(Ordering::Relaxed) {
            let chunk = match self.rx.recv_timeout(POLL) {
                Ok(chunk) => chunk,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            };
            carry.extend_from_slice(&chunk.0);
            let whole = carry.len() - carry.len() % device_ch;
            remixed.clear();
            remix(
                &carry[..whole],
                self.device_channels,
                self.channels,
                &mut remixed,
            );
            carry.drain(..whole);
            resampler.process(&remixed, &mut pending);
            let now = self.clock.now();
            while pending.len() >= self.block_frames * ch {
                let samples: Vec<f32> = pending.drain(..self.block_frames * ch).collect();
                // The newest sample was captured about now: everything still pending and
                // this block came before it.
                let behind = (pending.len() / ch + self.block_frames) as f64 / f64::from(self.rate);
                let actual = now.saturating_sub(Duration::from_secs_f64(behind));
                let pts = match anchor {
                    Some((start, count)) => {
                        let expected =
                            start + Duration::from_secs_f64(count as f64 / f64::from(self.rate));
                        if expected.abs_diff(actual) > RESYNC {
                            anchor = Some((actual, 0));
                            actual
                        } else {
                            expected
                        }
                    }
                    None => {
                        anchor = Some((actual, 0));
                        actual
                    }
                };
                if let Some((_, count)) = anchor.as_mut() {
                    *count += self.block_frames as u64;
                }
                let frame = match AudioFrame::new(samples, self.rate, self.channels, pts) {
                    Ok(frame) => frame,
                    Err(error) => {
                        tracing::error!(%error, "microphone made an invalid frame");
                        continue;
                    }
                };
                self.targets
                    .retain(|target| match target.push(frame.clone()) {
                        Ok(()) => true,
                        Err(PushError::Closed | PushError::Ended) => false,
                        Err(error) => {
                            tracing::warn!(%error, "a microphone target failed");
                            false
                        }
                    });
                self.counters.frames.fetch_add(1, Ordering::Relaxed);
                if self.targets.is_empty() {
                    return;
                }
            }
        }
        for target in &self.targets {
            target.end();
        }
    }
}
