//! The one video capture path: a libavdevice input read, decoded, converted and stamped on a
//! named thread, then pushed to the targets. Cameras, the screen and windows differ only in
//! the [`InputSpec`] they open (and a window adds a [`Watcher`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ffmpeg::format::Pixel;
use ffmpeg::software::scaling;
use ffmpeg_next as ffmpeg;
use livekit_core::thread::spawn_worker;
use livekit_core::{
    Clock, ColorMatrix, ColorRange, ColorSpace, FrameLayout, FramePool, PixelFormat, PushError,
    VideoFrame, VideoTarget,
};

use super::{CaptureEvent, Events, OutputFormat, ReopenSettings, VideoCapture};

/// How long a waiting capture thread sleeps before checking whether it should stop.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Two device timestamps further than this from the capture clock re-anchor the mapping.
const RESYNC: Duration = Duration::from_millis(250);

/// Why a capture could not start. Each variant names the device (a path, a display, a window
/// or a lavfi graph).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartCaptureError {
    /// The device does not exist.
    #[error("capture device {device}: not found")]
    NotFound {
        /// The device.
        device: String,
    },
    /// Another program holds the device.
    #[error("capture device {device}: busy (another program is using it)")]
    Busy {
        /// The device.
        device: String,
    },
    /// The user may not open the device.
    #[error("capture device {device}: permission denied (is the user in the video group?)")]
    PermissionDenied {
        /// The device.
        device: String,
    },
    /// FFmpeg's libavdevice lacks the input device this capture needs.
    #[error(
        "capture device {device}: this FFmpeg has no '{input}' input device (libavdevice built without it)"
    )]
    NoInputDevice {
        /// The device.
        device: String,
        /// The libavdevice input name (`v4l2`, `x11grab`, ...).
        input: String,
    },
    /// The device opened but could not be used.
    #[error("capture device {device}: cannot open: {detail}")]
    Open {
        /// The device.
        device: String,
        /// What FFmpeg said.
        detail: String,
    },
    /// The device gives no video.
    #[error("capture device {device}: no video stream")]
    NoVideo {
        /// The device.
        device: String,
    },
    /// The device's video could not be decoded.
    #[error("capture device {device}: cannot decode its {codec} video: {detail}")]
    Decoder {
        /// The device.
        device: String,
        /// The codec the device gives.
        codec: String,
        /// What FFmpeg said.
        detail: String,
    },
    /// A setting is out of range.
    #[error("capture device {device}: {detail}")]
    InvalidSettings {
        /// The device.
        device: String,
        /// What is wrong, naming the setting.
        detail: String,
    },
    /// Screen or window capture on a system without an X11 display.
    #[error("screen capture needs X11 (or XWayland): {reason}")]
    NoX11 {
        /// What was found instead.
        reason: String,
    },
    /// No window matched.
    #[error("window {window}: not found on X display {display}")]
    WindowNotFound {
        /// The window asked for (id or title).
        window: String,
        /// The display searched.
        display: String,
    },
    /// The window exists but is not shown (minimized or unmapped), so nothing can be captured.
    #[error("window {window}: not visible (minimized or unmapped); show it, then start again")]
    WindowHidden {
        /// The window id.
        window: String,
    },
    /// The capture thread could not be created.
    #[error("capture device {device}: could not create its thread")]
    Thread {
        /// The device.
        device: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

/// What to open: a libavdevice input by name, its URL and options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InputSpec {
    /// The libavdevice input (`v4l2`, `x11grab`, `lavfi`, `avfoundation`, `dshow`, `gdigrab`).
    pub input: &'static str,
    /// The URL handed to the input (a device path, a display, a filter graph).
    pub url: String,
    /// Input options (`video_size`, `framerate`, `input_format`, `draw_mouse`, ...).
    pub options: Vec<(String, String)>,
    /// The device as named in events and errors.
    pub label: String,
}

impl InputSpec {
    /// The X display of an x11grab URL (`:1+10,20` -> `:1`).
    pub(crate) fn url_display(&self) -> String {
        self.url.split('+').next().unwrap_or(&self.url).to_string()
    }
}

/// What a [`Watcher`] tells the capture loop.
#[derive(Debug)]
pub(crate) enum Watch {
    /// Go on as you are.
    Keep,
    /// Close the device and open this instead (a resized window).
    Reopen(InputSpec),
    /// Close the device and read nothing until told otherwise (a hidden window).
    Pause,
    /// End the stream, for this reason (a closed window).
    End(String),
}

/// Looks at the captured thing between frames and after errors (a window's geometry).
pub(crate) trait Watcher: Send + 'static {
    /// Called every [`CaptureConfig::watch_every`], after every read error, and while paused.
    fn check(&mut self, events: &Events) -> Watch;
}

/// A watcher for devices that need none.
pub(crate) struct NoWatcher;

impl Watcher for NoWatcher {
    fn check(&mut self, _events: &Events) -> Watch {
        Watch::Keep
    }
}

/// Everything the capture thread needs.
pub(crate) struct CaptureConfig {
    pub spec: InputSpec,
    pub output: OutputFormat,
    pub reopen: ReopenSettings,
    pub clock: Arc<dyn Clock>,
    pub targets: Vec<Arc<dyn VideoTarget>>,
    pub watcher: Box<dyn Watcher>,
    pub watch_every: Duration,
    pub thread_name: String,
}

/// Starts the capture thread; returns once the device is open (or with why it is not).
pub(crate) fn start(config: CaptureConfig) -> Result<VideoCapture, StartCaptureError> {
    livekit_av::ffmpeg::init();
    let label = config.spec.label.clone();
    if config.targets.is_empty() {
        return Err(StartCaptureError::InvalidSettings {
            device: label,
            detail: "no targets given".into(),
        });
    }
    let (events, rx, counters) = Events::new();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = stop.clone();
    let spec = config.spec.clone();
    let thread_events = events.clone();
    let worker = spawn_worker(
        config.thread_name.clone(),
        move || {
            let device = Device::open(&spec)?;
            thread_events.send(device.started_event());
            Ok(device)
        },
        move |device| CaptureLoop::new(config, events, stop_flag).run(device),
    )
    .map_err(|error| match error {
        livekit_core::thread::SpawnError::Start { source, .. } => source,
        livekit_core::thread::SpawnError::Os { source, .. } => StartCaptureError::Thread {
            device: label.clone(),
            source,
        },
        livekit_core::thread::SpawnError::Panicked { .. } => StartCaptureError::Open {
            device: label.clone(),
            detail: "the capture thread panicked while opening".into(),
        },
    })?;
    Ok(VideoCapture::new(label, worker, stop, rx, counters))
}

/// An open device: its demuxer and decoder.
struct Device {
    label: String,
    input: ffmpeg::format::context::Input,
    stream: usize,
    time_base: ffmpeg::Rational,
    decoder: ffmpeg::decoder::Video,
    device_format: String,
    packet: ffmpeg::Packet,
    eof_sent: bool,
}

enum ReadError {
    /// A finite source (a lavfi graph with a duration) ended.
    Eof,
    /// The device failed (unplugged, gone); the text says how.
    Failed(String),
}

fn find_input(name: &str) -> Option<ffmpeg::format::Input> {
    ffmpeg::device::input::video()
        .chain(ffmpeg::device::input::audio())
        .find_map(|format| match format {
            ffmpeg::Format::Input(input) if input.name() == name => Some(input),
            _ => None,
        })
}

fn open_error(label: &str, error: ffmpeg::Error) -> StartCaptureError {
    let device = label.to_string();
    match error {
        ffmpeg::Error::Other { errno } if errno == libc::ENOENT || errno == libc::ENODEV => {
            StartCaptureError::NotFound { device }
        }
        ffmpeg::Error::Other { errno } if errno == libc::EBUSY => {
            StartCaptureError::Busy { device }
        }
        ffmpeg::Error::Other { errno } if errno == libc::EACCES || errno == libc::EPERM => {
            StartCaptureError::PermissionDenied { device }
        }
        other => StartCaptureError::Open {
            device,
            detail: other.to_string(),
        },
    }
}

impl Device {
    fn open(spec: &InputSpec) -> Result<Self, StartCaptureError> {
        let label = spec.label.clone();
        let format = find_input(spec.input).ok_or_else(|| StartCaptureError::NoInputDevice {
            device: label.clone(),
            input: spec.input.into(),
        })?;
        let mut options = ffmpeg::Dictionary::new();
        // A live device needs no probing: what it would read while probing comes out later as
        // a burst of stale frames (two seconds of them from x11grab otherwise).
        options.set("probesize", "32");
        options.set("analyzeduration", "1");
        for (key, value) in &spec.options {
            options.set(key, value);
        }
        let context = ffmpeg::format::open_with(&spec.url, &ffmpeg::Format::Input(format), options)
            .map_err(|error| open_error(&label, error))?;
        let ffmpeg::format::context::Context::Input(input) = context else {
            return Err(StartCaptureError::Open {
                device: label,
                detail: "FFmpeg opened an output instead of an input".into(),
            });
        };
        let stream = input
            .streams()
            .best(ffmpeg::media::Type::Video)
            .ok_or_else(|| StartCaptureError::NoVideo {
                device: label.clone(),
            })?;
        let index = stream.index();
        let time_base = stream.time_base();
        let parameters = stream.parameters();
        let codec = parameters.id();
        let decoder_error = |error: ffmpeg::Error| StartCaptureError::Decoder {
            device: label.clone(),
            codec: format!("{codec:?}").to_lowercase(),
            detail: error.to_string(),
        };
        let mut context =
            ffmpeg::codec::context::Context::from_parameters(parameters).map_err(decoder_error)?;
        // Raw video and MJPEG decode one frame at a time: frame threads would only add latency.
        context.set_threading(ffmpeg::threading::Config {
            kind: ffmpeg::threading::Type::Slice,
            count: 2,
            ..Default::default()
        });
        let decoder = context.decoder().video().map_err(decoder_error)?;
        let device_format = if codec == ffmpeg::codec::Id::RAWVIDEO {
            pixel_name(decoder.format())
        } else {
            format!("{codec:?}").to_lowercase()
        };
        Ok(Self {
            label,
            input,
            stream: index,
            time_base,
            decoder,
            device_format,
            packet: ffmpeg::Packet::empty(),
            eof_sent: false,
        })
    }

    fn started_event(&self) -> CaptureEvent {
        CaptureEvent::Started {
            device: self.label.clone(),
            width: self.decoder.width(),
            height: self.decoder.height(),
            device_format: self.device_format.clone(),
        }
    }

    /// The next decoded frame; `Ok(None)` when the device had nothing yet.
    fn read(&mut self, frame: &mut ffmpeg::frame::Video) -> Result<Option<()>, ReadError> {
        loop {
            match self.decoder.receive_frame(frame) {
                Ok(()) => return Ok(Some(())),
                Err(ffmpeg::Error::Eof) => return Err(ReadError::Eof),
                Err(ffmpeg::Error::Other { errno }) if errno == libc::EAGAIN => {}
                Err(error) => return Err(ReadError::Failed(format!("decoding failed: {error}"))),
            }
            if self.eof_sent {
                return Err(ReadError::Eof);
            }
            // av_read_frame does not let go of what the packet held: a fresh packet each
            // time, or every frame the device ever gave stays in memory.
            self.packet = ffmpeg::Packet::empty();
            match self.packet.read(&mut self.input) {
                Ok(()) => {
                    if self.packet.stream() != self.stream {
                        continue;
                    }
                    if let Err(error) = self.decoder.send_packet(&self.packet) {
                        // One corrupt MJPEG frame is not a failed device: skip it.
                        tracing::debug!(device = self.label, %error, "frame skipped: corrupt");
                    }
                }
                Err(ffmpeg::Error::Eof) => {
                    self.eof_sent = true;
                    let _ = self.decoder.send_eof();
                }
                Err(ffmpeg::Error::Other { errno }) if errno == libc::EAGAIN => {
                    return Ok(None);
                }
                Err(error) => return Err(ReadError::Failed(format!("reading failed: {error}"))),
            }
        }
    }

    /// The frame's device timestamp in microseconds, if it has one.
    fn timestamp_us(&self, frame: &ffmpeg::frame::Video) -> Option<i64> {
        let ts = frame.timestamp()?;
        let tb = self.time_base;
        if tb.denominator() == 0 {
            return None;
        }
        let us =
            i128::from(ts) * i128::from(tb.numerator()) * 1_000_000 / i128::from(tb.denominator());
        i64::try_from(us).ok()
    }
}

fn pixel_name(pixel: Pixel) -> String {
    pixel
        .descriptor()
        .map(|d| d.name().to_string())
        .unwrap_or_else(|| format!("{pixel:?}").to_lowercase())
}

/// Maps device timestamps onto the capture clock: the first frame is stamped with the clock's
/// time, later ones keep the device's spacing, and a drift beyond [`RESYNC`] (or a device
/// without timestamps) falls back to the clock. Stamps always rise.
struct Stamper {
    clock: Arc<dyn Clock>,
    anchor: Option<(i64, Duration)>,
    last: Option<Duration>,
}

impl Stamper {
    fn stamp(&mut self, device_us: Option<i64>) -> Duration {
        let now = self.clock.now();
        let mapped = match (device_us, self.anchor) {
            (Some(us), Some((us0, at0))) if us >= us0 => {
                let mapped = at0 + Duration::from_micros((us - us0).unsigned_abs());
                let drift = mapped.abs_diff(now);
                (drift <= RESYNC).then_some(mapped)
            }
            _ => None,
        };
        let pts = mapped.unwrap_or_else(|| {
            self.anchor = device_us.map(|us| (us, now));
            now
        });
        let pts = match self.last {
            Some(last) if pts <= last => last + Duration::from_micros(1),
            _ => pts,
        };
        self.last = Some(pts);
        pts
    }

    fn reset(&mut self) {
        self.anchor = None;
    }
}

/// Decoded FFmpeg frames into our frames: a direct copy where the formats agree, swscale
/// otherwise, into pooled buffers.
struct Converter {
    output: OutputFormat,
    pool: Option<FramePool>,
    scaler: Option<(scaling::Context, Pixel, u32, u32)>,
    scaled: ffmpeg::frame::Video,
}

impl Converter {
    fn new(output: OutputFormat) -> Self {
        Self {
            output,
            pool: None,
            scaler: None,
            scaled: ffmpeg::frame::Video::empty(),
        }
    }

    fn target_pixel(&self) -> Pixel {
        match self.output {
            OutputFormat::I420 => Pixel::YUV420P,
            OutputFormat::Nv12 => Pixel::NV12,
            OutputFormat::Bgra8 => Pixel::BGRA,
            OutputFormat::Rgba8 => Pixel::RGBA,
        }
    }

    fn convert(
        &mut self,
        frame: &ffmpeg::frame::Video,
        pts: Duration,
    ) -> Result<VideoFrame, String> {
        let (width, height) = (frame.width(), frame.height());
        let source = frame.format();
        let direct = matches!(
            (self.output, source),
            (OutputFormat::I420, Pixel::YUV420P | Pixel::YUVJ420P)
                | (OutputFormat::Nv12, Pixel::NV12)
                | (OutputFormat::Bgra8, Pixel::BGRA | Pixel::BGRZ)
                | (OutputFormat::Rgba8, Pixel::RGBA | Pixel::RGBZ)
        );
        let source_yuv = !matches!(
            source,
            Pixel::BGRA
                | Pixel::BGRZ
                | Pixel::RGBA
                | Pixel::RGBZ
                | Pixel::RGB24
                | Pixel::BGR24
                | Pixel::ARGB
                | Pixel::ABGR
                | Pixel::ZRGB
                | Pixel::ZBGR
        );
        let matrix = if frame.color_space() == ffmpeg::color::Space::BT709 {
            ColorMatrix::Bt709
        } else {
            ColorMatrix::Bt601
        };
        let full = source == Pixel::YUVJ420P || frame.color_range() == ffmpeg::color::Range::JPEG;
        let color = if direct && full {
            ColorSpace::new(matrix, ColorRange::Full)
        } else if source_yuv {
            ColorSpace::new(matrix, ColorRange::Limited)
        } else {
            // swscale's RGB -> YUV uses BT.601 limited range unless told otherwise.
            ColorSpace::BT601_LIMITED
        };
        let format = match self.output {
            OutputFormat::I420 => PixelFormat::I420(color),
            OutputFormat::Nv12 => PixelFormat::Nv12(color),
            OutputFormat::Bgra8 => PixelFormat::Bgra8,
            OutputFormat::Rgba8 => PixelFormat::Rgba8,
        };
        let layout = FrameLayout::with_alignment(width, height, format, 32)
            .map_err(|error| format!("frame of {width}x{height}: {error}"))?;
        if self.pool.as_ref().map(FramePool::layout) != Some(&layout) {
            self.pool = Some(FramePool::new(layout));
        }
        let src = if direct {
            frame
        } else {
            let target = self.target_pixel();
            let stale = !matches!(&self.scaler,
                Some((_, f, w, h)) if *f == source && *w == width && *h == height);
            if stale {
                let context = scaling::Context::get(
                    source,
                    width,
                    height,
                    target,
                    width,
                    height,
                    scaling::Flags::BILINEAR,
                )
                .map_err(|error| {
                    format!(
                        "cannot convert {} to {}: {error}",
                        pixel_name(source),
                        pixel_name(target)
                    )
                })?;
                self.scaler = Some((context, source, width, height));
            }
            if let Some((context, ..)) = self.scaler.as_mut() {
                context
                    .run(frame, &mut self.scaled)
                    .map_err(|error| format!("conversion failed: {error}"))?;
            }
            &self.scaled
        };
        let pool = self.pool.as_ref().ok_or("no frame pool")?;
        let mut out = pool.acquire(pts);
        for plane in 0..layout.plane_count() {
            let row_bytes = layout.row_bytes(plane);
            let stride = src.stride(plane);
            let data = src.data(plane);
            for y in 0..layout.rows(plane) {
                let start = y * stride;
                let row = data
                    .get(start..start + row_bytes)
                    .ok_or("decoded frame is smaller than its size says")?;
                out.row_mut(plane, y).copy_from_slice(row);
            }
        }
        if matches!(source, Pixel::BGRZ | Pixel::RGBZ) && direct {
            // The fourth byte of bgr0 / rgb0 is padding: make it opaque.
            for y in 0..layout.rows(0) {
                for pixel in out.row_mut(0, y).chunks_exact_mut(4) {
                    pixel[3] = 255;
                }
            }
        }
        Ok(out.freeze())
    }
}

struct CaptureLoop {
    spec: InputSpec,
    reopen: ReopenSettings,
    targets: Vec<Arc<dyn VideoTarget>>,
    watcher: Box<dyn Watcher>,
    watch_every: Duration,
    events: Events,
    stop: Arc<AtomicBool>,
    stamper: Stamper,
    converter: Converter,
}

impl CaptureLoop {
    fn new(config: CaptureConfig, events: Events, stop: Arc<AtomicBool>) -> Self {
        Self {
            spec: config.spec,
            reopen: config.reopen,
            targets: config.targets,
            watcher: config.watcher,
            watch_every: config.watch_every,
            events,
            stop,
            stamper: Stamper {
                clock: config.clock,
                anchor: None,
                last: None,
            },
            converter: Converter::new(config.output),
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Sleeps `total`, waking early when asked to stop.
    fn sleep(&self, total: Duration) {
        let end = Instant::now() + total;
        while !self.stopped() {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(STOP_POLL));
        }
    }

    fn run(mut self, first: Device) {
        let reason = self.run_inner(first);
        // The event first: a reader that sees end-of-stream finds the reason already queued.
        self.events.send(CaptureEvent::Ended {
            device: self.spec.label.clone(),
            reason,
        });
        for target in &self.targets {
            target.end();
        }
    }

    fn run_inner(&mut self, first: Device) -> String {
        let mut device = Some(first);
        let mut frame = ffmpeg::frame::Video::empty();
        let mut last_watch = Instant::now();
        let mut paused = false;
        let mut failures: u32 = 0;
        let mut last_frame = Instant::now();
        let mut last_open_error: Option<String> = None;
        loop {
            if self.stopped() {
                return "stopped".into();
            }
            let watch_due = last_watch.elapsed() >= self.watch_every || device.is_none();
            if watch_due {
                last_watch = Instant::now();
                match self.watcher.check(&self.events) {
                    Watch::Keep => paused = false,
                    Watch::Reopen(spec) => {
                        self.spec = spec;
                        device = None;
                        paused = false;
                        failures = 0;
                    }
                    Watch::Pause => {
                        device = None;
                        paused = true;
                    }
                    Watch::End(reason) => return reason,
                }
            }
            if paused {
                self.sleep(self.watch_every);
                continue;
            }
            let Some(open) = device.as_mut() else {
                if failures > 0 {
                    if self.reopen.max_attempts.is_some_and(|max| failures > max) {
                        return format!("gave up after {} reopen attempts", failures - 1);
                    }
                    self.events.send(CaptureEvent::Reopening {
                        device: self.spec.label.clone(),
                        attempt: failures,
                    });
                }
                match Device::open(&self.spec) {
                    Ok(opened) => {
                        last_open_error = None;
                        self.events.send(opened.started_event());
                        self.stamper.reset();
                        failures = 0;
                        last_frame = Instant::now();
                        device = Some(opened);
                    }
                    Err(error) => {
                        // Reported once, not at every attempt (a camera unplugged for a
                        // minute would be sixty warnings).
                        let message = error.to_string();
                        if last_open_error.as_ref() != Some(&message) {
                            self.events.send(CaptureEvent::Error {
                                device: self.spec.label.clone(),
                                message: message.clone(),
                            });
                            last_open_error = Some(message);
                        } else {
                            tracing::debug!("{message} (attempt {failures} at reopening it)");
                        }
                        failures += 1;
                        self.sleep(self.reopen.interval);
                    }
                }
                continue;
            };
            match open.read(&mut frame) {
                Ok(Some(())) => {
                    last_frame = Instant::now();
                    let us = open.timestamp_us(&frame);
                    let pts = self.stamper.stamp(us);
                    match self.converter.convert(&frame, pts) {
                        Ok(video) => {
                            if !self.deliver(video) {
                                return "every target was closed".into();
                            }
                        }
                        Err(message) => self.events.send(CaptureEvent::Error {
                            device: self.spec.label.clone(),
                            message,
                        }),
                    }
                }
                Ok(None) if last_frame.elapsed() > self.reopen.stall_timeout => {
                    self.events.send(CaptureEvent::Error {
                        device: self.spec.label.clone(),
                        message: format!(
                            "no frame for {:.1} s: the device stalled",
                            last_frame.elapsed().as_secs_f64()
                        ),
                    });
                    device = None;
                    failures = 1;
                    last_frame = Instant::now();
                    self.sleep(self.reopen.interval);
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Err(ReadError::Eof) => return "end of stream".into(),
                Err(ReadError::Failed(message)) => {
                    self.events.send(CaptureEvent::Error {
                        device: self.spec.label.clone(),
                        message,
                    });
                    device = None;
                    failures = 1;
                    // Let the watcher see first why it failed (a closed window, say).
                    last_watch = Instant::now() - self.watch_every;
                    self.sleep(self.reopen.interval.min(self.watch_every));
                }
            }
        }
    }

    /// Pushes to every target; drops targets that closed. False when none is left.
    fn deliver(&mut self, frame: VideoFrame) -> bool {
        let label = &self.spec.label;
        let events = &self.events;
        self.targets
            .retain(|target| match target.push(frame.clone()) {
                Ok(()) => true,
                Err(PushError::Closed | PushError::Ended) => false,
                Err(error) => {
                    events.send(CaptureEvent::Error {
                        device: label.clone(),
                        message: format!("a target refused a frame: {error}"),
                    });
                    false
                }
            });
        self.events.frame_pushed();
        !self.targets.is_empty()
    }
}
