//! [`Microphone`]: an audio input device through cpal (PulseAudio spoken to directly where it
//! runs, ALSA otherwise), delivered as f32 frames at the rate and channel count asked for; a
//! device that goes away mid-stream is silence until it is back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use livekit_av::AudioHost;
use livekit_av::audio::{description, device_id, find_device};
use livekit_core::resample::{Resampler, remix};
use livekit_core::thread::{SpawnError, Worker, WorkerPanicked, spawn_named, spawn_worker};
use livekit_core::{AudioFrame, AudioTarget, Clock, PushError, SystemClock};
use parking_lot::Mutex;

use super::{CaptureEvent, Events, ReopenSettings};

/// A timestamp further than this from the capture clock re-anchors the sample count.
const RESYNC: Duration = Duration::from_millis(200);

/// How long a device just opened may take to deliver its first sound before it counts as
/// lost (when [`ReopenSettings::stall_timeout`] is shorter): PulseAudio's idle null sink, read
/// through ALSA's plugin, first finishes a 2 s block.
const FIRST_SOUND: Duration = Duration::from_secs(5);

/// How long a stopping microphone waits for a reopen attempt in progress before leaving it to
/// end by itself.
const OPENER_WAIT: Duration = Duration::from_secs(1);

/// How long the capture thread waits for data before checking whether it should stop (and
/// whether the device failed or went silent).
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
    /// What happens when the device goes away (unplugged, its PulseAudio module unloaded) or
    /// stops delivering for [`ReopenSettings::stall_timeout`] (100..=60000 ms; a device just
    /// opened has at least 5 s for its first sound): the stream
    /// goes on with silence and the same device is reopened every
    /// [`ReopenSettings::interval`] (10..=60000 ms). Default: every second for ever, a device
    /// silent for 2 s counts as lost.
    pub reopen: ReopenSettings,
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
            reopen: ReopenSettings {
                stall_timeout: Duration::from_secs(2),
                ..ReopenSettings::default()
            },
            clock: Arc::new(SystemClock::new()),
        }
    }
}

/// Counters of a [`Microphone`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct MicrophoneStats {
    /// Frames pushed to the targets (silent ones included).
    pub frames: u64,
    /// Device buffers dropped because the capture thread fell behind.
    pub dropped: u64,
    /// Errors the device reported while running (a lost device's and passing ones, such as
    /// overruns).
    pub errors: u64,
    /// Times the device was lost (it failed, went away or went silent).
    pub lost: u64,
    /// Frames of silence pushed while the device was lost.
    pub silent_frames: u64,
    /// Events not queued because nobody read them.
    pub events_dropped: u64,
}

#[derive(Debug, Default)]
struct Counters {
    frames: AtomicU64,
    dropped: AtomicU64,
    errors: AtomicU64,
    lost: AtomicU64,
    silent_frames: AtomicU64,
}

/// What the capture thread tells the [`Microphone`] about the device it has open now.
#[derive(Debug, Default)]
struct Opening {
    label: Mutex<String>,
    rate: AtomicU32,
    channels: AtomicU32,
}

impl Opening {
    fn set(&self, link: &Link) {
        *self.label.lock() = link.label.clone();
        self.rate.store(link.rate, Ordering::Relaxed);
        self.channels
            .store(u32::from(link.channels), Ordering::Relaxed);
    }
}

/// A chunk from the audio callback: device-rate, device-channel f32 samples.
struct Chunk(Vec<f32>);

/// An audio input as a live audio source: f32 frames at [`MicrophoneSettings::sample_rate`]
/// and [`MicrophoneSettings::channels`], [`MicrophoneSettings::block`] long, stamped on the
/// capture clock, pushed to the targets from a thread named `livekit.microphone.<device>`.
///
/// A device that fails, goes away or stops delivering is *lost*, not the end: the
/// [`CaptureEvent::Error`] event says why, the stream goes on with silence paced by the clock,
/// and the same device is reopened (a [`CaptureEvent::Reopening`] event each attempt, see
/// [`MicrophoneSettings::reopen`]) until it is back ([`CaptureEvent::AudioStarted`] again).
/// Loss is seen both ways: cpal's error callback, and no sound for
/// [`ReopenSettings::stall_timeout`] (PulseAudio through ALSA's plugin may just go quiet).
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
    opening: Arc<Opening>,
    stop: Arc<AtomicBool>,
    worker: Option<Worker<()>>,
    counters: Arc<Counters>,
    events: Receiver<CaptureEvent>,
    event_counters: Arc<super::Counters>,
}

impl std::fmt::Debug for Microphone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Microphone")
            .field("device", &self.device)
            .field("device_rate", &self.device_rate())
            .field("device_channels", &self.device_channels())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Microphone {
    /// Opens the device and starts capturing into `targets`. The device is opened on the
    /// capture thread; this returns once it is open, or with why it is not.
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
        let opening = Arc::new(Opening::default());
        let (events, events_rx, event_counters) = Events::new();
        let stop = Arc::new(AtomicBool::new(false));
        let capture = Capture {
            block_frames: ((settings.block.as_secs_f64() * f64::from(settings.sample_rate)).round()
                as usize)
                .max(1),
            settings,
            wanted: wanted.clone(),
            targets,
            stop: stop.clone(),
            counters: counters.clone(),
            opening: opening.clone(),
            events,
            anchor: None,
        };
        let worker = spawn_worker(
            format!("livekit.microphone.{wanted}"),
            {
                let (settings, wanted, counters, opening) = (
                    capture.settings.clone(),
                    wanted.clone(),
                    counters.clone(),
                    opening.clone(),
                );
                move || {
                    let link = open_link(&settings, &wanted, &counters)?;
                    opening.set(&link);
                    Ok(link)
                }
            },
            move |link| capture.run(link),
        )
        .map_err(|error| match error {
            SpawnError::Start { source, .. } => source,
            SpawnError::Os { source, .. } => OpenMicrophoneError::Thread {
                device: wanted.clone(),
                source,
            },
            SpawnError::Panicked { .. } => OpenMicrophoneError::Open {
                device: wanted.clone(),
                detail: "the capture thread panicked while opening".into(),
            },
        })?;
        let device = opening.label.lock().clone();
        tracing::info!(
            device,
            rate = opening.rate.load(Ordering::Relaxed),
            channels = opening.channels.load(Ordering::Relaxed),
            "microphone started"
        );
        Ok(Self {
            device,
            opening,
            stop,
            worker: Some(worker),
            counters,
            events: events_rx,
            event_counters,
        })
    }

    /// The device's id (as first opened).
    pub fn device(&self) -> &str {
        &self.device
    }

    /// The rate the device runs at (frames are converted to the settings' rate); that of the
    /// last opening when it was reopened.
    pub fn device_rate(&self) -> u32 {
        self.opening.rate.load(Ordering::Relaxed)
    }

    /// The channels the device gives (those of the last opening).
    pub fn device_channels(&self) -> u16 {
        u16::try_from(self.opening.channels.load(Ordering::Relaxed)).unwrap_or(u16::MAX)
    }

    /// The events of this microphone: [`CaptureEvent::AudioStarted`] when it is (re)opened,
    /// [`CaptureEvent::Error`] when it is lost, [`CaptureEvent::Reopening`] for each attempt,
    /// [`CaptureEvent::Ended`] at the end. A full queue drops the newest (counted in
    /// [`MicrophoneStats::events_dropped`]).
    pub fn events(&self) -> &Receiver<CaptureEvent> {
        &self.events
    }

    /// Whether the capture thread has finished (stopped, every target closed, or it gave up
    /// reopening the device).
    pub fn is_finished(&self) -> bool {
        self.worker.as_ref().is_none_or(Worker::is_finished)
    }

    /// The counters now.
    pub fn stats(&self) -> MicrophoneStats {
        MicrophoneStats {
            frames: self.counters.frames.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            errors: self.counters.errors.load(Ordering::Relaxed),
            lost: self.counters.lost.load(Ordering::Relaxed),
            silent_frames: self.counters.silent_frames.load(Ordering::Relaxed),
            events_dropped: self.event_counters.events_dropped.load(Ordering::Relaxed),
        }
    }

    /// Stops capturing, writes end-of-stream to the targets and waits for the thread.
    pub fn stop(mut self) -> Result<MicrophoneStats, WorkerPanicked> {
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

/// One opening of the device: its stream, the channel its callback fills, and the error
/// that made it fail, if one did. Dropping it closes the device.
struct Link {
    // Dropped first: its callbacks hold the channel's sender.
    _backend: Backend,
    rx: Receiver<Chunk>,
    failure: Arc<Mutex<Option<String>>>,
    label: String,
    rate: u32,
    channels: u16,
}

fn open_link(
    settings: &MicrophoneSettings,
    wanted: &str,
    counters: &Arc<Counters>,
) -> Result<Link, OpenMicrophoneError> {
    // A channel per opening: nothing a closed stream still sends reaches the next one.
    let (tx, rx) = crossbeam_channel::bounded::<Chunk>(settings.queue.max(1));
    let failure = Arc::new(Mutex::new(None));
    let opened = open_cpal(settings, wanted, tx, counters, &failure)?;
    Ok(Link {
        _backend: opened.backend,
        rx,
        failure,
        label: opened.label,
        rate: opened.rate,
        channels: opened.channels,
    })
}

struct Opened {
    backend: Backend,
    label: String,
    rate: u32,
    channels: u16,
}

fn open_cpal(
    settings: &MicrophoneSettings,
    wanted: &str,
    tx: Sender<Chunk>,
    counters: &Arc<Counters>,
    failure: &Arc<Mutex<Option<String>>>,
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
    let callbacks = Callbacks {
        tx,
        counters: counters.clone(),
        failure: failure.clone(),
        label: label.clone(),
    };
    let stream = match build_stream(&device, &config, format, callbacks.clone()) {
        Ok(stream) => stream,
        Err(first) => {
            tracing::debug!(device = label, error = first, "fixed buffer refused");
            config.buffer_size = cpal::BufferSize::Default;
            build_stream(&device, &config, format, callbacks).map_err(&open_error)?
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
    let reopen = &settings.reopen;
    if reopen.interval < ms(10) || reopen.interval > ms(60_000) {
        return bad(format!(
            "reopen.interval {:?} is outside 10..=60000 ms",
            reopen.interval
        ));
    }
    if reopen.stall_timeout < ms(100) || reopen.stall_timeout > ms(60_000) {
        return bad(format!(
            "reopen.stall_timeout {:?} is outside 100..=60000 ms",
            reopen.stall_timeout
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

/// Whether an error cpal reports while running means the stream is gone (the device went
/// away, the server killed the stream) rather than a passing glitch the stream survives.
fn is_fatal(kind: cpal::ErrorKind) -> bool {
    use cpal::ErrorKind as K;
    !matches!(kind, K::Xrun | K::RealtimeDenied | K::DeviceChanged)
}

/// What a stream's callbacks hold.
#[derive(Clone)]
struct Callbacks {
    tx: Sender<Chunk>,
    counters: Arc<Counters>,
    failure: Arc<Mutex<Option<String>>>,
    label: String,
}

fn build_stream(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    format: cpal::SampleFormat,
    callbacks: Callbacks,
) -> Result<cpal::Stream, String> {
    use cpal::SampleFormat as F;
    if !matches!(format, F::F32 | F::I16 | F::I32 | F::U8) {
        return Err(format!(
            "the device's sample format {format:?} is not supported"
        ));
    }
    let Callbacks {
        tx,
        counters,
        failure,
        label,
    } = callbacks;
    let data_counters = counters.clone();
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
            move |error: cpal::Error| {
                if is_fatal(error.kind()) {
                    // The capture thread reports the first (once) when it sees it; ALSA's
                    // worker repeats its error until the stream is closed: counted once.
                    let mut failure = failure.lock();
                    if failure.is_none() {
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                        *failure = Some(error.to_string());
                    }
                } else {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(device = label, %error, "microphone glitch");
                }
            },
            Some(Duration::from_secs(5)),
        )
        .map_err(|error| error.to_string())
}

/// The capture thread: converts device chunks into stamped frames of one block each, and
/// while the device is lost, makes silence and reopens it.
struct Capture {
    settings: MicrophoneSettings,
    /// The device as asked for (`default` for the default input).
    wanted: String,
    targets: Vec<Arc<dyn AudioTarget>>,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    opening: Arc<Opening>,
    events: Events,
    block_frames: usize,
    /// (clock time of sample 0, samples delivered since), sound and silence alike.
    anchor: Option<(Duration, u64)>,
}

/// What the capture loop does next.
enum Next {
    /// Go on.
    Go,
    /// The device is lost, for this reason.
    Lost(String),
    /// End the stream, for this reason.
    End(String),
}

/// Converts one opening's chunks into blocks at the output rate and channels.
struct Conversion {
    resampler: Resampler,
    device_channels: u16,
    /// Samples of a frame split between two chunks (PulseAudio splits them).
    carry: Vec<f32>,
    remixed: Vec<f32>,
    /// Converted samples not yet a whole block.
    pending: Vec<f32>,
}

impl Conversion {
    fn new(link: &Link, rate: u32, channels: u16) -> Self {
        Self {
            resampler: Resampler::new(link.rate, rate, channels),
            device_channels: link.channels.max(1),
            carry: Vec::new(),
            remixed: Vec::new(),
            pending: Vec::new(),
        }
    }
}

impl Capture {
    fn run(mut self, first: Link) {
        let reason = self.run_inner(first);
        // The event first: a reader that sees end-of-stream finds the reason already queued.
        self.events.send(CaptureEvent::Ended {
            device: self.wanted.clone(),
            reason,
        });
        for target in &self.targets {
            target.end();
        }
    }

    fn started(&self, link: &Link) {
        self.opening.set(link);
        self.events.send(CaptureEvent::AudioStarted {
            device: link.label.clone(),
            sample_rate: link.rate,
            channels: link.channels,
        });
    }

    fn run_inner(&mut self, first: Link) -> String {
        self.started(&first);
        let mut link = Some(first);
        loop {
            let next = match &link {
                Some(open) => self.capture(open),
                None => self.reopen(&mut link),
            };
            match next {
                Next::Go => {}
                Next::End(reason) => return reason,
                Next::Lost(reason) => {
                    // Closed first, so that a reopen finds the device free.
                    drop(link.take());
                    self.counters.lost.fetch_add(1, Ordering::Relaxed);
                    self.events.send(CaptureEvent::Error {
                        device: self.wanted.clone(),
                        message: format!("lost: {reason}"),
                    });
                    // Silence from now on, not from when the sound stopped: silence for the
                    // past would arrive as a burst and delay the sound after it.
                    self.anchor = Some((self.settings.clock.now(), 0));
                }
            }
        }
    }

    /// Captures from an open device until it is lost, the stream ends or it is stopped.
    fn capture(&mut self, link: &Link) -> Next {
        let mut conversion =
            Conversion::new(link, self.settings.sample_rate, self.settings.channels);
        let stall = self.settings.reopen.stall_timeout;
        let mut last_sound = Instant::now();
        let mut heard = false;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Next::End("stopped".into());
            }
            if let Some(error) = link.failure.lock().take() {
                return Next::Lost(error);
            }
            match link.rx.recv_timeout(POLL) {
                Ok(chunk) => {
                    last_sound = Instant::now();
                    heard = true;
                    if !self.convert(&mut conversion, &chunk) {
                        return Next::End("every target was closed".into());
                    }
                }
                Err(RecvTimeoutError::Timeout)
                    if last_sound.elapsed()
                        > if heard { stall } else { stall.max(FIRST_SOUND) } =>
                {
                    return Next::Lost(format!(
                        "no sound for {:.1} s",
                        last_sound.elapsed().as_secs_f64()
                    ));
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Next::Lost("the device's stream ended".into());
                }
            }
        }
    }

    /// While the device is lost: silence, paced by the clock, and an attempt at reopening it
    /// every [`ReopenSettings::interval`]. Each attempt runs on a thread of its own
    /// (`livekit.microphone.<device>.open`): opening waits for the device's first sound (up to
    /// 2 s for PulseAudio's idle null sink), and the silence must not wait with it.
    fn reopen(&mut self, link: &mut Option<Link>) -> Next {
        let reopen = self.settings.reopen;
        let mut attempts: u32 = 0;
        let mut last_error = String::new();
        let mut next_attempt = Instant::now() + reopen.interval;
        let mut pending: Option<Worker<Result<Link, OpenMicrophoneError>>> = None;
        let block = Duration::from_secs_f64(
            self.block_frames as f64 / f64::from(self.settings.sample_rate),
        );
        let next = loop {
            if self.stop.load(Ordering::Relaxed) {
                break Next::End("stopped".into());
            }
            if !self.silence() {
                break Next::End("every target was closed".into());
            }
            if let Some(attempt) = pending.take_if(|attempt| attempt.is_finished()) {
                match attempt.join() {
                    Ok(Ok(opened)) => {
                        tracing::info!(
                            device = opened.label,
                            attempts,
                            "microphone is back: capturing again"
                        );
                        self.started(&opened);
                        *link = Some(opened);
                        break Next::Go;
                    }
                    Ok(Err(error)) => {
                        let error = error.to_string();
                        if error != last_error {
                            tracing::info!("{error} (attempt {attempts} at reopening it)");
                            last_error = error;
                        }
                    }
                    Err(error) => tracing::error!("{error}"),
                }
                next_attempt = Instant::now() + reopen.interval;
            }
            if pending.is_none() && Instant::now() >= next_attempt {
                attempts += 1;
                if reopen.max_attempts.is_some_and(|max| attempts > max) {
                    break Next::End(format!("gave up after {} reopen attempts", attempts - 1));
                }
                self.events.send(CaptureEvent::Reopening {
                    device: self.wanted.clone(),
                    attempt: attempts,
                });
                let (settings, wanted, counters) = (
                    self.settings.clone(),
                    self.wanted.clone(),
                    self.counters.clone(),
                );
                match spawn_named(format!("livekit.microphone.{wanted}.open"), move || {
                    open_link(&settings, &wanted, &counters)
                }) {
                    Ok(worker) => pending = Some(worker),
                    Err(error) => {
                        tracing::warn!("{error}");
                        next_attempt = Instant::now() + reopen.interval;
                    }
                }
            }
            let now = self.settings.clock.now();
            let _ = self.settings.clock.wait_until(now + block, POLL);
        };
        // Stopped while an attempt runs: it ends by itself (found, refused or opened, and then
        // closed). Opening waits for the device's first sound, which a suspended PulseAudio
        // source never gives: after OPENER_WAIT it is left to end on its own, so that `stop`
        // returns.
        if let Some(attempt) = pending {
            let deadline = Instant::now() + OPENER_WAIT;
            while !attempt.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if attempt.is_finished() {
                if let Err(error) = attempt.join() {
                    tracing::error!("{error}");
                }
            } else {
                tracing::warn!(
                    "microphone {}: stopped while an attempt at reopening it still waits for \
                     the device; it ends by itself",
                    self.wanted
                );
            }
        }
        next
    }

    /// Pushes the blocks of silence due by the clock now. False when no target is left.
    fn silence(&mut self) -> bool {
        let rate = f64::from(self.settings.sample_rate);
        let now = self.settings.clock.now();
        let (start, count) = *self.anchor.get_or_insert((now, 0));
        let mut count = count;
        let block = self.block_frames as u64;
        let mut alive = true;
        while alive && start + Duration::from_secs_f64((count + block) as f64 / rate) <= now {
            let pts = start + Duration::from_secs_f64(count as f64 / rate);
            let samples = vec![0.0; self.block_frames * usize::from(self.settings.channels)];
            count += block;
            alive = self.push(samples, pts);
            self.counters.silent_frames.fetch_add(1, Ordering::Relaxed);
        }
        self.anchor = Some((start, count));
        alive
    }

    /// Converts one chunk and pushes the whole blocks it completes. False when no target is
    /// left.
    fn convert(&mut self, conversion: &mut Conversion, chunk: &Chunk) -> bool {
        let ch = usize::from(self.settings.channels);
        let rate = self.settings.sample_rate;
        let device_ch = usize::from(conversion.device_channels);
        conversion.carry.extend_from_slice(&chunk.0);
        let whole = conversion.carry.len() - conversion.carry.len() % device_ch;
        conversion.remixed.clear();
        remix(
            &conversion.carry[..whole],
            conversion.device_channels,
            self.settings.channels,
            &mut conversion.remixed,
        );
        conversion.carry.drain(..whole);
        conversion
            .resampler
            .process(&conversion.remixed, &mut conversion.pending);
        let now = self.settings.clock.now();
        while conversion.pending.len() >= self.block_frames * ch {
            let samples: Vec<f32> = conversion.pending.drain(..self.block_frames * ch).collect();
            // The newest sample was captured about now: everything still pending and this
            // block came before it.
            let behind =
                (conversion.pending.len() / ch + self.block_frames) as f64 / f64::from(rate);
            let actual = now.saturating_sub(Duration::from_secs_f64(behind));
            let pts = match self.anchor {
                Some((start, count)) => {
                    let expected = start + Duration::from_secs_f64(count as f64 / f64::from(rate));
                    if expected.abs_diff(actual) > RESYNC {
                        self.anchor = Some((actual, 0));
                        actual
                    } else {
                        expected
                    }
                }
                None => {
                    self.anchor = Some((actual, 0));
                    actual
                }
            };
            if let Some((_, count)) = self.anchor.as_mut() {
                *count += self.block_frames as u64;
            }
            if !self.push(samples, pts) {
                return false;
            }
        }
        true
    }

    /// Pushes one block to every target; drops targets that closed. False when none is left.
    fn push(&mut self, samples: Vec<f32>, pts: Duration) -> bool {
        let frame = match AudioFrame::new(
            samples,
            self.settings.sample_rate,
            self.settings.channels,
            pts,
        ) {
            Ok(frame) => frame,
            Err(error) => {
                tracing::error!(%error, "microphone made an invalid frame");
                return true;
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
        !self.targets.is_empty()
    }
}
