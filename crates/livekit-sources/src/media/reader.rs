//! [`MediaReader`]: one opened file or URL, decoded frame by frame on the caller's thread.
//!
//! Everything the players share: opening (with a time limit and a stop flag), picking the
//! streams, decoding with frame threads, converting video to our pixel formats through a
//! [`FramePool`] and audio to 48 kHz stereo f32, seeking with sample-exact trimming, and
//! timestamps that start at zero.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ff::format::Pixel;
use ff::media::Type as MediaType;
use ffmpeg_next as ff;
use livekit_core::{
    AudioFrame, ColorMatrix, ColorRange, ColorSpace, ExternalPlanes, FrameLayout, FramePool,
    MAX_PLANES, PixelFormat, VideoFrame,
};

use super::error::OpenMediaError;
use super::name::Location;
use super::{AUDIO_CHANNELS, AUDIO_RATE};

/// The frame duration assumed when a stream does not say its frame rate.
pub(crate) const FALLBACK_FRAME_DURATION: Duration = Duration::from_millis(40);

/// At most this many warnings wait to be taken; more are only logged.
const MAX_WARNINGS: usize = 32;

/// Audio timestamps further than this from the sample count are taken as a jump in time.
const AUDIO_RESYNC_NS: i64 = 100_000_000;

/// Packets in a row that fail to demux before the reader gives up.
const MAX_BAD_PACKETS: u32 = 1000;

/// How a [`MediaReader`] opens its media.
#[derive(Debug, Clone)]
pub(crate) struct ReaderSettings {
    /// Decode the video stream.
    pub video: bool,
    /// Decode the audio stream.
    pub audio: bool,
    /// Decoder threads (0: FFmpeg picks, one per core).
    pub threads: usize,
    /// The most time opening may take.
    pub open_timeout: Duration,
    /// The most time one read may wait for data.
    pub read_timeout: Duration,
    /// When set, blocking reads give up as soon as it turns true.
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for ReaderSettings {
    fn default() -> Self {
        Self {
            video: true,
            audio: true,
            threads: 0,
            open_timeout: super::DEFAULT_OPEN_TIMEOUT,
            read_timeout: super::DEFAULT_READ_TIMEOUT,
            stop: None,
        }
    }
}

/// What FFmpeg's interrupt callback looks at: a stop flag and a deadline.
#[derive(Debug)]
struct Interrupt {
    origin: Instant,
    /// Milliseconds from `origin`; `u64::MAX` for none.
    deadline_ms: AtomicU64,
    stop: Option<Arc<AtomicBool>>,
}

impl Interrupt {
    fn arm(&self, timeout: Duration) {
        let at = self.origin.elapsed().saturating_add(timeout);
        let ms = u64::try_from(at.as_millis()).unwrap_or(u64::MAX);
        self.deadline_ms.store(ms, Ordering::Relaxed);
    }

    fn should_stop(&self) -> bool {
        if self
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
        {
            return true;
        }
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        now > self.deadline_ms.load(Ordering::Relaxed)
    }

    fn stopped(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
    }
}

/// Opens the container (no decoders yet). Checks local files first so that a missing or empty
/// file gets its own error.
pub(crate) fn open_input(
    location: &Location,
    settings: &ReaderSettings,
) -> Result<(ff::format::context::Input, Arc<InterruptHandle>), OpenMediaError> {
    super::init();
    let name = location.shown();
    if let Location::File(path) = location {
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(OpenMediaError::NotFound { name });
            }
            Err(e) => {
                return Err(OpenMediaError::Io {
                    name,
                    detail: e.to_string(),
                });
            }
            Ok(meta) if meta.is_dir() => {
                return Err(OpenMediaError::Io {
                    name,
                    detail: "it is a directory".into(),
                });
            }
            // A FIFO or a device has no length: FFmpeg reads it.
            Ok(meta) if meta.is_file() && meta.len() == 0 => {
                return Err(OpenMediaError::Empty { name });
            }
            Ok(_) => {}
        }
    }
    let interrupt = Arc::new(Interrupt {
        origin: Instant::now(),
        deadline_ms: AtomicU64::new(u64::MAX),
        stop: settings.stop.clone(),
    });
    interrupt.arm(settings.open_timeout);
    let callback = interrupt.clone();
    let mut options = ff::Dictionary::new();
    if location.is_url() {
        // Live inputs: keep the probing short so playback starts quickly.
        options.set("analyzeduration", "2000000");
    }
    let opened = ff::format::input_with_interrupt_and_dictionary(
        &location.ffmpeg_input(),
        move || callback.should_stop(),
        options,
    );
    let input = opened.map_err(|error| match error {
        ff::Error::Exit => OpenMediaError::TimedOut {
            name: name.clone(),
            after: settings.open_timeout,
        },
        ff::Error::Eof if !location.is_url() => OpenMediaError::EndsEarly { name: name.clone() },
        ff::Error::InvalidData | ff::Error::Eof => OpenMediaError::NotMedia {
            name: name.clone(),
            detail: error.to_string(),
        },
        ff::Error::Other { errno } if errno == libc_enoent() && !location.is_url() => {
            OpenMediaError::NotFound { name: name.clone() }
        }
        other if location.is_url() => OpenMediaError::Unreachable {
            name: name.clone(),
            detail: other.to_string(),
        },
        other => OpenMediaError::NotMedia {
            name: name.clone(),
            detail: other.to_string(),
        },
    })?;
    // No deadline while nobody reads; `MediaReader` arms it around each read.
    interrupt.deadline_ms.store(u64::MAX, Ordering::Relaxed);
    Ok((input, Arc::new(InterruptHandle(interrupt))))
}

const fn libc_enoent() -> i32 {
    2
}

/// The interrupt state of an opened input (kept alive with it).
#[derive(Debug)]
pub(crate) struct InterruptHandle(Arc<Interrupt>);

/// Container start time in nanoseconds (0 when unknown).
pub(crate) fn start_time_ns(input: &ff::format::context::Input) -> i64 {
    // SAFETY: the pointer is the live format context owned by `input`.
    let start = unsafe { (*input.as_ptr()).start_time };
    if start == ff::ffi::AV_NOPTS_VALUE {
        0
    } else {
        start.saturating_mul(1000)
    }
}

/// The media time that becomes zero: the start of the video stream when there is one (audio
/// before it, such as an encoder's priming samples, is trimmed), else of the audio stream,
/// else of the container.
fn zero_of(input: &ff::format::context::Input, video: Option<usize>, audio: Option<usize>) -> i64 {
    [video, audio]
        .into_iter()
        .flatten()
        .filter_map(|index| input.stream(index))
        .find(|s| s.start_time() != ff::ffi::AV_NOPTS_VALUE)
        .map_or_else(
            || start_time_ns(input),
            |s| to_ns(s.start_time(), s.time_base()),
        )
}

/// The container duration, when known.
pub(crate) fn duration_of(input: &ff::format::context::Input) -> Option<Duration> {
    let d = input.duration();
    (d > 0).then(|| Duration::from_micros(d as u64))
}

/// The video streams worth showing: not cover art.
pub(crate) fn is_picture_stream(stream: &ff::format::stream::Stream) -> bool {
    stream.parameters().medium() == MediaType::Video
        && !stream
            .disposition()
            .contains(ff::format::stream::Disposition::ATTACHED_PIC)
}

/// The encoded picture of an attached-picture stream (cover art), if `stream` is one.
fn attached_picture(stream: &ff::format::stream::Stream) -> Option<Vec<u8>> {
    if !stream
        .disposition()
        .contains(ff::format::stream::Disposition::ATTACHED_PIC)
    {
        return None;
    }
    // SAFETY: the stream belongs to an open input; FFmpeg fills `attached_pic` when it opens
    // the file and keeps it until the input is closed. `data` holds `size` bytes.
    unsafe {
        let packet = &(*stream.as_ptr()).attached_pic;
        if packet.data.is_null() || packet.size <= 0 {
            return None;
        }
        Some(std::slice::from_raw_parts(packet.data, packet.size as usize).to_vec())
    }
}

/// The codec name FFmpeg gives a codec id ("none" for an unknown one).
pub(crate) fn codec_name(id: ff::codec::Id) -> String {
    if id == ff::codec::Id::None {
        return "none".into();
    }
    id.name().to_owned()
}

/// `ts` in `time_base` as nanoseconds.
pub(crate) fn to_ns(ts: i64, time_base: ff::Rational) -> i64 {
    let (num, den) = (
        i128::from(time_base.numerator()),
        i128::from(time_base.denominator()),
    );
    if den == 0 {
        return 0;
    }
    let ns = i128::from(ts) * num * 1_000_000_000 / den;
    ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Nanoseconds (may be negative) as a `Duration`, negative as zero.
pub(crate) fn ns_to_duration(ns: i64) -> Duration {
    Duration::from_nanos(ns.max(0) as u64)
}

/// The frame rate a stream announces, as a frame duration.
pub(crate) fn frame_duration_of(stream: &ff::format::stream::Stream) -> Option<Duration> {
    [stream.avg_frame_rate(), stream.rate()]
        .into_iter()
        .find(|r| r.numerator() > 0 && r.denominator() > 0)
        .map(|r| Duration::from_secs_f64(f64::from(r.denominator()) / f64::from(r.numerator())))
        .filter(|d| *d >= Duration::from_micros(500) && *d <= Duration::from_secs(10))
}

/// A decoded and converted frame, with its time from the start of the media.
#[derive(Debug, Clone)]
pub(crate) enum Decoded {
    /// A video frame.
    Video(VideoFrame),
    /// 48 kHz stereo f32 audio.
    Audio(AudioFrame),
}

impl Decoded {
    /// The frame's presentation time.
    pub(crate) fn pts(&self) -> Duration {
        match self {
            Self::Video(f) => f.pts(),
            Self::Audio(f) => f.pts(),
        }
    }
}

/// swscale's context, moved between threads.
struct Scaler(ff::software::scaling::Context);

// SAFETY: an SwsContext holds no thread-affine state; it is only ever used by the one thread
// that owns the reader at the time (the reader is not shared: `&mut self` for every use).
unsafe impl Send for Scaler {}

struct VideoState {
    index: usize,
    decoder: ff::decoder::Video,
    time_base: ff::Rational,
    frame: ff::frame::Video,
    frame_duration: Duration,
    /// The pool of the current output layout.
    pool: Option<FramePool>,
    /// The scaler for formats we do not keep, with its input (format, width, height).
    scaler: Option<(Scaler, Pixel, u32, u32, Pixel)>,
    scaled: ff::frame::Video,
    /// The last pts handed out (for frames without one).
    last_ns: Option<i64>,
    /// Degrees clockwise the picture must turn to be upright (0, 90, 180, 270).
    rotation: u32,
}

struct Resampler {
    ctx: ff::software::resampling::Context,
    input: (ff::format::Sample, u64, u32),
}

struct AudioState {
    index: usize,
    decoder: ff::decoder::Audio,
    time_base: ff::Rational,
    frame: ff::frame::Audio,
    resampler: Option<Resampler>,
    /// Time of sample 0 of the current run, in ns; `None` until the first frame after a start or
    /// a seek.
    base_ns: Option<i64>,
    /// Samples (at 48 kHz) handed out since `base_ns`.
    samples: u64,
    buffer: Vec<f32>,
}

impl AudioState {
    fn next_ns(&self) -> Option<i64> {
        self.base_ns.map(|base| base + samples_to_ns(self.samples))
    }
}

/// Samples at [`AUDIO_RATE`] as nanoseconds.
pub(crate) fn samples_to_ns(samples: u64) -> i64 {
    (i128::from(samples) * 1_000_000_000 / i128::from(AUDIO_RATE)) as i64
}

/// Nanoseconds as samples at [`AUDIO_RATE`], rounded to nearest.
pub(crate) fn ns_to_samples(ns: i64) -> u64 {
    ((i128::from(ns.max(0)) * i128::from(AUDIO_RATE) + 500_000_000) / 1_000_000_000) as u64
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Reading,
    /// End of input: decoders were sent end-of-stream and are being drained.
    Draining,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Video,
    Audio,
}

/// One opened media, decoded on the caller's thread.
pub(crate) struct MediaReader {
    name: String,
    is_url: bool,
    input: ff::format::context::Input,
    interrupt: Arc<InterruptHandle>,
    read_timeout: Duration,
    start_ns: i64,
    duration: Option<Duration>,
    video: Option<VideoState>,
    audio: Option<AudioState>,
    phase: Phase,
    /// The decoder that may have more frames for the packet just sent.
    draining: Option<Which>,
    /// Frames before this time (ns) are decoded but not handed out (after a seek).
    skip_before_ns: i64,
    warnings: Vec<String>,
    decode_errors: u64,
    /// Furthest time (ns) handed out.
    reached_ns: i64,
    handed_out: u64,
    tags: Vec<(String, String)>,
    /// The encoded picture of the file's cover art (an attached picture: JPEG or PNG, as MP3
    /// and M4A files carry), kept for files without a video stream.
    cover_art: Option<Vec<u8>>,
}

impl std::fmt::Debug for MediaReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaReader")
            .field("name", &self.name)
            .field("video", &self.video.is_some())
            .field("audio", &self.audio.is_some())
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl MediaReader {
    /// Opens `location` and the decoders of its best video and audio streams (those asked for).
    pub(crate) fn open(
        location: &Location,
        settings: &ReaderSettings,
    ) -> Result<Self, OpenMediaError> {
        let name = location.shown();
        let (input, interrupt) = open_input(location, settings)?;
        let wanted = match (settings.video, settings.audio) {
            (true, true) => "audio or video",
            (true, false) => "video",
            _ => "audio",
        };
        let mut unsupported: Option<OpenMediaError> = None;
        let mut video = None;
        if settings.video
            && let Some(stream) = input
                .streams()
                .best(MediaType::Video)
                .filter(is_picture_stream)
                .or_else(|| input.streams().find(is_picture_stream))
        {
            match open_video(&name, &stream, settings.threads) {
                Ok(state) => video = Some(state),
                Err(error) => unsupported = Some(error),
            }
        }
        let mut audio = None;
        if settings.audio
            && let Some(stream) = input.streams().best(MediaType::Audio)
        {
            match open_audio(&name, &stream) {
                Ok(state) => audio = Some(state),
                Err(error) => {
                    if unsupported.is_none() {
                        unsupported = Some(error);
                    }
                }
            }
        }
        let mut warnings = Vec::new();
        if video.is_none() && audio.is_none() {
            return Err(unsupported.unwrap_or(OpenMediaError::NoStreams { name, wanted }));
        }
        if let Some(error) = unsupported {
            tracing::warn!(%error, "playing the other stream only");
            warnings.push(format!("{error}; playing the other stream only"));
        }
        let tags = input
            .metadata()
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let cover_art = if video.is_none() {
            input.streams().find_map(|s| attached_picture(&s))
        } else {
            None
        };
        Ok(Self {
            start_ns: zero_of(
                &input,
                video.as_ref().map(|v| v.index),
                audio.as_ref().map(|a| a.index),
            ),
            duration: duration_of(&input),
            name,
            is_url: location.is_url(),
            input,
            interrupt,
            read_timeout: settings.read_timeout,
            video,
            audio,
            phase: Phase::Reading,
            draining: None,
            skip_before_ns: 0,
            warnings,
            decode_errors: 0,
            reached_ns: 0,
            handed_out: 0,
            tags,
            cover_art,
        })
    }

    /// The encoded bytes of the cover art of a file without video, if it has any.
    pub(crate) fn cover_art(&self) -> Option<&[u8]> {
        self.cover_art.as_deref()
    }

    /// The path or redacted URL.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Whether a video stream is decoded.
    pub(crate) fn has_video(&self) -> bool {
        self.video.is_some()
    }

    /// Whether an audio stream is decoded.
    pub(crate) fn has_audio(&self) -> bool {
        self.audio.is_some()
    }

    /// The container's duration, when known.
    pub(crate) fn duration(&self) -> Option<Duration> {
        self.duration
    }

    /// How long one video frame shows (from the stream's frame rate).
    pub(crate) fn frame_duration(&self) -> Duration {
        self.video
            .as_ref()
            .map_or(FALLBACK_FRAME_DURATION, |v| v.frame_duration)
    }

    /// A container tag, case-insensitive.
    pub(crate) fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    /// Whether this is a URL (live inputs cannot loop or seek reliably).
    pub(crate) fn is_url(&self) -> bool {
        self.is_url
    }

    /// Warnings since the last call (bad packets, a truncated end).
    pub(crate) fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Keeps a warning for [`take_warnings`](Self::take_warnings) (a player sends and logs
    /// it as a [`PlayerEvent::Warning`](super::PlayerEvent::Warning)).
    fn warn(&mut self, message: String) {
        tracing::debug!("{message}");
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(message);
        }
    }

    /// Seeks so that the next frames start at `to` (video from the frame shown at `to` on,
    /// audio trimmed to the sample).
    pub(crate) fn seek(&mut self, to: Duration) -> Result<(), String> {
        let target_ns = i64::try_from(to.as_nanos()).unwrap_or(i64::MAX);
        let ts = (target_ns.saturating_add(self.start_ns)) / 1000; // AV_TIME_BASE: microseconds
        self.interrupt.0.arm(self.read_timeout);
        let result = self.input.seek(ts, ..ts);
        self.interrupt
            .0
            .deadline_ms
            .store(u64::MAX, Ordering::Relaxed);
        result.map_err(|e| format!("media {}: cannot seek to {to:?}: {e}", self.name))?;
        if let Some(v) = &mut self.video {
            v.decoder.flush();
            v.last_ns = None;
        }
        if let Some(a) = &mut self.audio {
            a.decoder.flush();
            a.base_ns = None;
            a.samples = 0;
            // Drop what the resampler still holds from before the seek.
            a.resampler = None;
        }
        self.phase = Phase::Reading;
        self.draining = None;
        // Keep the video frame that is on screen at `to` (it starts up to a frame earlier).
        self.skip_before_ns = target_ns;
        self.reached_ns = target_ns;
        Ok(())
    }

    /// The next frame in decoding order (video and audio interleaved, each in time order);
    /// `None` at the end.
    pub(crate) fn next(&mut self) -> Option<Decoded> {
        loop {
            if let Some(which) = self.draining {
                if let Some(out) = self.receive(which) {
                    return Some(out);
                }
                self.draining = None;
            }
            match self.phase {
                Phase::Done => return None,
                Phase::Draining => {
                    // Drain video, then audio (with the resampler's tail).
                    if let Some(out) = self.receive(Which::Video) {
                        return Some(out);
                    }
                    if let Some(out) = self.receive(Which::Audio) {
                        return Some(out);
                    }
                    if let Some(out) = self.flush_resampler() {
                        return Some(out);
                    }
                    self.phase = Phase::Done;
                    self.check_truncated();
                    return None;
                }
                Phase::Reading => self.read_packet(),
            }
        }
    }

    fn read_packet(&mut self) {
        let mut bad = 0;
        loop {
            let mut packet = ff::Packet::empty();
            self.interrupt.0.arm(self.read_timeout);
            let result = packet.read(&mut self.input);
            self.interrupt
                .0
                .deadline_ms
                .store(u64::MAX, Ordering::Relaxed);
            match result {
                Ok(()) => {
                    let index = packet.stream();
                    let which = match (&mut self.video, &mut self.audio) {
                        (Some(v), _) if v.index == index => v
                            .decoder
                            .send_packet(&packet)
                            .err()
                            .map(|e| (Which::Video, e)),
                        (_, Some(a)) if a.index == index => a
                            .decoder
                            .send_packet(&packet)
                            .err()
                            .map(|e| (Which::Audio, e)),
                        _ => continue,
                    };
                    let sent_to = if index == self.video.as_ref().map_or(usize::MAX, |v| v.index) {
                        Which::Video
                    } else {
                        Which::Audio
                    };
                    if let Some((_, error)) = which {
                        self.decode_error(&error);
                    }
                    self.draining = Some(sent_to);
                    return;
                }
                Err(ff::Error::Eof) => break,
                Err(ff::Error::InvalidData) if bad < MAX_BAD_PACKETS => {
                    bad += 1;
                }
                Err(ff::Error::Exit) => {
                    if !self.interrupt.0.stopped() {
                        let message = format!(
                            "media {}: no data for {:?}; ending",
                            self.name, self.read_timeout
                        );
                        self.warn(message);
                    }
                    break;
                }
                Err(error) => {
                    let message = format!(
                        "media {}: read error at {:.1} s: {error}; playing what was decoded",
                        self.name,
                        self.reached_ns as f64 / 1e9
                    );
                    self.warn(message);
                    break;
                }
            }
        }
        if let Some(v) = &mut self.video {
            let _ = v.decoder.send_eof();
        }
        if let Some(a) = &mut self.audio {
            let _ = a.decoder.send_eof();
        }
        self.phase = Phase::Draining;
    }

    fn decode_error(&mut self, error: &ff::Error) {
        self.decode_errors += 1;
        if self.decode_errors == 1 {
            let message = format!(
                "media {}: corrupt data at {:.1} s ({error}); skipping it",
                self.name,
                self.reached_ns as f64 / 1e9
            );
            self.warn(message);
        }
    }

    fn check_truncated(&mut self) {
        if self.is_url {
            return;
        }
        if let Some(duration) = self.duration {
            let reached = ns_to_duration(self.reached_ns);
            let short_by = duration.saturating_sub(reached);
            if short_by > Duration::from_millis(500).max(duration / 20) {
                let message = format!(
                    "media {}: ended at {:.1} s of {:.1} s (the file is truncated or damaged); played what decoded",
                    self.name,
                    reached.as_secs_f64(),
                    duration.as_secs_f64()
                );
                self.warn(message);
            }
        }
    }

    /// One frame from `which`'s decoder, converted; `None` when it needs more input.
    fn receive(&mut self, which: Which) -> Option<Decoded> {
        loop {
            let out = match which {
                Which::Video => {
                    let v = self.video.as_mut()?;
                    match v.decoder.receive_frame(&mut v.frame) {
                        Ok(()) => self.convert_video(),
                        Err(ff::Error::Eof) => return None,
                        Err(ff::Error::Other { errno }) if errno == ff::ffi::EAGAIN => {
                            return None;
                        }
                        Err(error) => {
                            self.decode_error(&error);
                            return None;
                        }
                    }
                }
                Which::Audio => {
                    let a = self.audio.as_mut()?;
                    match a.decoder.receive_frame(&mut a.frame) {
                        Ok(()) => self.convert_audio(),
                        Err(ff::Error::Eof) => return None,
                        Err(ff::Error::Other { errno }) if errno == ff::ffi::EAGAIN => {
                            return None;
                        }
                        Err(error) => {
                            self.decode_error(&error);
                            return None;
                        }
                    }
                }
            };
            if let Some(out) = out {
                let end_ns = i64::try_from(out.pts().as_nanos()).unwrap_or(i64::MAX);
                self.reached_ns = self.reached_ns.max(end_ns);
                self.handed_out += 1;
                return Some(out);
            }
            // Skipped (before a seek target, or unusable): take the next one.
        }
    }

    fn convert_video(&mut self) -> Option<Decoded> {
        let start_ns = self.start_ns;
        let skip_before = self.skip_before_ns;
        let name = &self.name;
        let v = self.video.as_mut()?;
        let frame_ns = i64::try_from(v.frame_duration.as_nanos()).unwrap_or(i64::MAX);
        let ts = v.frame.timestamp().or_else(|| v.frame.pts());
        let t_ns = match ts {
            Some(ts) => to_ns(ts, v.time_base) - start_ns,
            None => v.last_ns.map_or(0, |last| last + frame_ns),
        };
        v.last_ns = Some(t_ns);
        // Keep the frame that is showing at the seek target (it may start up to one frame
        // before it); drop the earlier ones.
        if t_ns + frame_ns <= skip_before {
            return None;
        }
        let pts = ns_to_duration(t_ns);
        match v.convert_frame(pts) {
            Ok(frame) => Some(Decoded::Video(frame)),
            Err(detail) => {
                let message = format!("media {name}: cannot convert a video frame: {detail}");
                tracing::debug!("{message}");
                if self.warnings.len() < MAX_WARNINGS {
                    self.warnings.push(message);
                }
                None
            }
        }
    }

    fn convert_audio(&mut self) -> Option<Decoded> {
        let start_ns = self.start_ns;
        let skip_before = self.skip_before_ns.max(0);
        let a = self.audio.as_mut()?;
        let ts = a.frame.timestamp().or_else(|| a.frame.pts());
        let frame_ns = ts.map(|ts| to_ns(ts, a.time_base) - start_ns);
        match (a.next_ns(), frame_ns) {
            (None, t) => {
                a.base_ns = Some(t.unwrap_or(0));
                a.samples = 0;
            }
            (Some(expected), Some(t)) if (t - expected).abs() > AUDIO_RESYNC_NS => {
                tracing::debug!(expected, t, "audio timestamps jump; following them");
                a.base_ns = Some(t);
                a.samples = 0;
            }
            _ => {}
        }
        let count = a.resample().ok()?;
        self.audio_chunk(count, skip_before)
    }

    /// Hands out the `count` samples in the audio buffer, trimmed so nothing is before
    /// `skip_before` ns.
    fn audio_chunk(&mut self, count: usize, skip_before: i64) -> Option<Decoded> {
        let a = self.audio.as_mut()?;
        let pts_ns = a.next_ns()?;
        a.samples += count as u64;
        let skip = if pts_ns < skip_before {
            usize::try_from(ns_to_samples(skip_before - pts_ns))
                .unwrap_or(usize::MAX)
                .min(count)
        } else {
            0
        };
        if skip == count {
            return None;
        }
        let channels = usize::from(AUDIO_CHANNELS);
        let samples = &a.buffer[skip * channels..count * channels];
        let pts = ns_to_duration(pts_ns + samples_to_ns(skip as u64));
        AudioFrame::new(samples, AUDIO_RATE, AUDIO_CHANNELS, pts)
            .ok()
            .map(Decoded::Audio)
    }

    fn flush_resampler(&mut self) -> Option<Decoded> {
        let skip_before = self.skip_before_ns.max(0);
        let a = self.audio.as_mut()?;
        a.base_ns?;
        let count = a.flush().ok()?;
        if count == 0 {
            return None;
        }
        self.audio_chunk(count, skip_before)
    }
}

fn open_video(
    name: &str,
    stream: &ff::format::stream::Stream,
    threads: usize,
) -> Result<VideoState, OpenMediaError> {
    let parameters = stream.parameters();
    let id = parameters.id();
    let codec = codec_name(id);
    if id == ff::codec::Id::None || ff::decoder::find(id).is_none() {
        return Err(OpenMediaError::UnsupportedCodec {
            name: name.to_owned(),
            kind: "video",
            codec,
        });
    }
    let decoder_error = |e: ff::Error| OpenMediaError::Decoder {
        name: name.to_owned(),
        kind: "video",
        codec: codec.clone(),
        detail: e.to_string(),
    };
    let context = ff::codec::Context::from_parameters(parameters).map_err(decoder_error)?;
    let mut decoder = context.decoder();
    decoder.set_packet_time_base(stream.time_base());
    // As the ffmpeg CLI does: FFmpeg's default thread types (frame and slice: codecs without
    // frame threads still use slices) and `threads` of them, 0 meaning one per core.
    let mut options = ff::Dictionary::new();
    options.set("threads", &threads.to_string());
    let codec = ff::decoder::find(id).ok_or(ff::Error::DecoderNotFound);
    let decoder = codec
        .and_then(|codec| decoder.open_as_with(codec, options))
        .and_then(|opened| opened.video())
        .map_err(decoder_error)?;
    Ok(VideoState {
        index: stream.index(),
        decoder,
        time_base: stream.time_base(),
        frame: ff::frame::Video::empty(),
        frame_duration: frame_duration_of(stream).unwrap_or(FALLBACK_FRAME_DURATION),
        pool: None,
        scaler: None,
        scaled: ff::frame::Video::empty(),
        last_ns: None,
        rotation: rotation_of(stream),
    })
}

fn open_audio(
    name: &str,
    stream: &ff::format::stream::Stream,
) -> Result<AudioState, OpenMediaError> {
    let parameters = stream.parameters();
    let id = parameters.id();
    let codec = codec_name(id);
    if id == ff::codec::Id::None || ff::decoder::find(id).is_none() {
        return Err(OpenMediaError::UnsupportedCodec {
            name: name.to_owned(),
            kind: "audio",
            codec,
        });
    }
    let decoder_error = |e: ff::Error| OpenMediaError::Decoder {
        name: name.to_owned(),
        kind: "audio",
        codec: codec.clone(),
        detail: e.to_string(),
    };
    let context = ff::codec::Context::from_parameters(parameters).map_err(decoder_error)?;
    let mut decoder = context.decoder();
    decoder.set_packet_time_base(stream.time_base());
    let decoder = decoder.audio().map_err(decoder_error)?;
    Ok(AudioState {
        index: stream.index(),
        decoder,
        time_base: stream.time_base(),
        frame: ff::frame::Audio::empty(),
        resampler: None,
        base_ns: None,
        samples: 0,
        buffer: Vec::new(),
    })
}

/// Degrees clockwise a stream's pictures must turn to be upright, from its display matrix.
pub(crate) fn rotation_of(stream: &ff::format::stream::Stream) -> u32 {
    for side in stream.side_data() {
        if side.kind() == ff::codec::packet::side_data::Type::DisplayMatrix {
            let data = side.data();
            if data.len() >= 36 {
                let mut matrix = [0i32; 9];
                for (i, m) in matrix.iter_mut().enumerate() {
                    let bytes = [
                        data[i * 4],
                        data[i * 4 + 1],
                        data[i * 4 + 2],
                        data[i * 4 + 3],
                    ];
                    *m = i32::from_ne_bytes(bytes);
                }
                // SAFETY: `matrix` is the 3x3 display matrix FFmpeg reads nine i32 from.
                let ccw = unsafe { ff::ffi::av_display_rotation_get(matrix.as_ptr()) };
                if ccw.is_nan() {
                    return 0;
                }
                // FFmpeg gives counter-clockwise degrees; turning clockwise by the negation
                // makes the picture upright.
                let clockwise = (-ccw).round() as i64;
                return (((clockwise % 360) + 360) % 360) as u32 / 90 * 90;
            }
        }
    }
    0
}

fn color_space_of(frame: &ff::frame::Video, full: bool) -> ColorSpace {
    use ff::color::Space;
    let matrix = match frame.color_space() {
        Space::BT709 => ColorMatrix::Bt709,
        Space::BT470BG | Space::SMPTE170M | Space::FCC | Space::SMPTE240M => ColorMatrix::Bt601,
        _ if frame.height() >= 720 => ColorMatrix::Bt709,
        _ => ColorMatrix::Bt601,
    };
    let range = if full || frame.color_range() == ff::color::Range::JPEG {
        ColorRange::Full
    } else {
        ColorRange::Limited
    };
    ColorSpace::new(matrix, range)
}

fn has_alpha(format: Pixel) -> bool {
    format.descriptor().is_some_and(|d| {
        // SAFETY: the descriptor points to FFmpeg's static table entry for `format`.
        let flags = unsafe { (*d.as_ptr()).flags };
        flags & ff::ffi::AV_PIX_FMT_FLAG_ALPHA as u64 != 0
    }) || format == Pixel::PAL8
}

/// A decoded picture shared by the frames made from it, without a copy. FFmpeg's frames are
/// reference-counted: when the last [`VideoFrame`] drops this, `av_frame_free` gives the
/// buffers back to the decoder's pool. The decoder never writes a picture it has output.
struct DecodedPicture(ff::frame::Video);

impl ExternalPlanes for DecodedPicture {
    fn plane(&self, plane: usize) -> &[u8] {
        if plane < self.0.planes() {
            self.0.data(plane)
        } else {
            &[]
        }
    }
}

impl VideoState {
    /// The decoded picture itself as a [`VideoFrame`] of `format` (no copy); `None` when it
    /// cannot be shared (not reference-counted, planes missing, strides negative or odd), and
    /// then it is copied.
    fn share_frame(&mut self, format: PixelFormat, pts: Duration) -> Option<VideoFrame> {
        let planes = format.plane_count();
        if self.frame.planes() < planes {
            return None;
        }
        // SAFETY: `self.frame` is a valid AVFrame; only its fields are read.
        let (counted, pointers) = unsafe {
            let f = &*self.frame.as_ptr();
            (
                !f.buf[0].is_null(),
                f.data[..planes].iter().all(|d| !d.is_null()),
            )
        };
        if !counted || !pointers {
            return None;
        }
        let mut strides = [0usize; MAX_PLANES];
        for (plane, stride) in strides.iter_mut().enumerate().take(planes) {
            // A negative line size (a picture stored bottom up) reads as a huge usize.
            *stride = self.frame.stride(plane);
            if *stride > i32::MAX as usize {
                return None;
            }
        }
        let (width, height) = (self.frame.width(), self.frame.height());
        let layout = FrameLayout::with_strides(width, height, format, &strides[..planes]).ok()?;
        let picture = std::mem::replace(&mut self.frame, ff::frame::Video::empty());
        VideoFrame::from_external(layout, Arc::new(DecodedPicture(picture)), pts).ok()
    }

    /// The decoded frame as a [`VideoFrame`]: I420/NV12 shared as they are (no copy), other
    /// formats through swscale into a pooled frame.
    fn convert_frame(&mut self, pts: Duration) -> Result<VideoFrame, String> {
        let (width, height) = (self.frame.width(), self.frame.height());
        let format = self.frame.format();
        let (direct, out_format) = match format {
            Pixel::YUV420P => (true, PixelFormat::I420(color_space_of(&self.frame, false))),
            Pixel::YUVJ420P => (true, PixelFormat::I420(color_space_of(&self.frame, true))),
            Pixel::NV12 => (true, PixelFormat::Nv12(color_space_of(&self.frame, false))),
            Pixel::None => return Err("the decoder gave a frame without a pixel format".into()),
            other => {
                let (target, out) = if has_alpha(other) {
                    (Pixel::RGBA, PixelFormat::Rgba8)
                } else {
                    // swscale keeps the YUV matrix between YUV formats and uses BT.601 from RGB.
                    let cs = if other.descriptor().is_some_and(|d| d.nb_components() >= 3)
                        && is_yuv_name(other)
                    {
                        color_space_of(&self.frame, false)
                    } else {
                        ColorSpace::BT601_LIMITED
                    };
                    (Pixel::YUV420P, PixelFormat::I420(cs))
                };
                let fresh = !matches!(&self.scaler, Some((_, f, w, h, t)) if *f == other && *w == width && *h == height && *t == target);
                if fresh {
                    let ctx = ff::software::scaling::Context::get(
                        other,
                        width,
                        height,
                        target,
                        width,
                        height,
                        ff::software::scaling::Flags::BILINEAR,
                    )
                    .map_err(|e| {
                        format!("swscale cannot convert {other:?} {width}x{height}: {e}")
                    })?;
                    self.scaler = Some((Scaler(ctx), other, width, height, target));
                    self.scaled = ff::frame::Video::empty();
                }
                let Some((scaler, ..)) = &mut self.scaler else {
                    return Err("no scaler".into());
                };
                scaler
                    .0
                    .run(&self.frame, &mut self.scaled)
                    .map_err(|e| format!("swscale failed: {e}"))?;
                (false, out)
            }
        };
        if direct && let Some(frame) = self.share_frame(out_format, pts) {
            return Ok(match self.rotation {
                0 => frame,
                degrees => rotate(&frame, degrees),
            });
        }
        let source = if direct { &self.frame } else { &self.scaled };
        let layout = FrameLayout::new(width, height, out_format).map_err(|e| e.to_string())?;
        let pool = match &self.pool {
            Some(pool) if *pool.layout() == layout => pool,
            // Frames in flight: the player's look-ahead, the targets' queues, the reader's hand.
            _ => self.pool.insert(FramePool::with_max_idle(layout, 16)),
        };
        let mut out = pool.acquire(pts);
        for plane in 0..layout.plane_count() {
            let rows = layout.rows(plane);
            let row_bytes = layout.row_bytes(plane);
            let dst_stride = layout.stride(plane);
            let src_stride = source.stride(plane);
            let src = source.data(plane);
            let dst = out.plane_mut(plane);
            if src_stride == dst_stride && src.len() >= dst.len() {
                let len = dst.len();
                dst.copy_from_slice(&src[..len]);
                continue;
            }
            for y in 0..rows {
                let s = &src[y * src_stride..y * src_stride + row_bytes];
                dst[y * dst_stride..y * dst_stride + row_bytes].copy_from_slice(s);
            }
        }
        let frame = out.freeze();
        Ok(match self.rotation {
            0 => frame,
            degrees => rotate(&frame, degrees),
        })
    }
}

fn is_yuv_name(format: Pixel) -> bool {
    format
        .descriptor()
        .is_some_and(|d| d.name().starts_with("yuv") || d.name().starts_with("nv"))
}

/// `frame` turned clockwise by 90, 180 or 270 degrees (I420 and RGBA; NV12 keeps its pairs).
pub(crate) fn rotate(frame: &VideoFrame, degrees: u32) -> VideoFrame {
    let (w, h) = (frame.width(), frame.height());
    let (ow, oh) = if degrees == 180 { (w, h) } else { (h, w) };
    let Ok(layout) = FrameLayout::new(ow, oh, frame.format()) else {
        return frame.clone();
    };
    let mut out = livekit_core::VideoFrameMut::new(layout, frame.pts());
    for plane in 0..layout.plane_count() {
        // Bytes a sample: 4 for RGBA, 2 for NV12's UV pairs, 1 otherwise.
        let bpp = match (frame.format(), plane) {
            (PixelFormat::Rgba8 | PixelFormat::Bgra8, _) => 4,
            (PixelFormat::Nv12(_), 1) => 2,
            _ => 1,
        };
        let src_rows = frame.layout().rows(plane);
        let src_cols = frame.layout().row_bytes(plane) / bpp;
        let dst_rows = layout.rows(plane);
        let dst_cols = layout.row_bytes(plane) / bpp;
        for y in 0..dst_rows {
            let row = out.row_mut(plane, y);
            for x in 0..dst_cols {
                let (sx, sy) = match degrees {
                    90 => (y, src_rows.saturating_sub(1 + x)),
                    180 => (
                        src_cols.saturating_sub(1 + x),
                        src_rows.saturating_sub(1 + y),
                    ),
                    _ => (src_cols.saturating_sub(1 + y), x),
                };
                let (sx, sy) = (sx.min(src_cols - 1), sy.min(src_rows - 1));
                let src = &frame.row(plane, sy)[sx * bpp..sx * bpp + bpp];
                row[x * bpp..x * bpp + bpp].copy_from_slice(src);
            }
        }
    }
    out.freeze()
}

impl AudioState {
    /// Converts the decoded frame into `buffer`; returns the number of stereo samples.
    fn resample(&mut self) -> Result<usize, ()> {
        let format = self.frame.format();
        let channels = self.frame.channels();
        let rate = self.frame.rate();
        if channels == 0 || rate == 0 || self.frame.samples() == 0 {
            return Err(());
        }
        let mut layout = self.frame.channel_layout();
        if layout.bits() == 0 || layout.channels() != i32::from(channels) {
            layout = ff::ChannelLayout::default(i32::from(channels));
        }
        let key = (format, layout.bits(), rate);
        if self.resampler.as_ref().is_none_or(|r| r.input != key) {
            let ctx = ff::software::resampling::Context::get(
                format,
                layout,
                rate,
                ff::format::Sample::F32(ff::format::sample::Type::Packed),
                ff::ChannelLayout::STEREO,
                AUDIO_RATE,
            )
            .map_err(|error| {
                tracing::warn!(%error, ?format, channels, rate, "swresample refused the audio");
            })?;
            self.resampler = Some(Resampler { ctx, input: key });
        }
        let in_samples = i32::try_from(self.frame.samples()).map_err(|_| ())?;
        // SAFETY: the frame's extended_data holds `channels` planes (or one packed plane) of
        // `in_samples` samples in the format the resampler was made for.
        let input = unsafe { (*self.frame.as_ptr()).extended_data as *mut *const u8 };
        self.convert(input, in_samples)
    }

    /// What the resampler still holds, at the end.
    fn flush(&mut self) -> Result<usize, ()> {
        if self.resampler.is_none() {
            return Ok(0);
        }
        self.convert(std::ptr::null_mut(), 0)
    }

    fn convert(&mut self, input: *mut *const u8, in_samples: i32) -> Result<usize, ()> {
        let Some(resampler) = &mut self.resampler else {
            return Err(());
        };
        // SAFETY: the context is initialised; asking for the output size has no other effect.
        let capacity =
            unsafe { ff::ffi::swr_get_out_samples(resampler.ctx.as_mut_ptr(), in_samples.max(0)) };
        let capacity = usize::try_from(capacity).map_err(|_| ())?.max(1);
        let channels = usize::from(AUDIO_CHANNELS);
        if self.buffer.len() < capacity * channels {
            self.buffer.resize(capacity * channels, 0.0);
        }
        let mut out = [self.buffer.as_mut_ptr().cast::<u8>()];
        // SAFETY: `out` points to room for `capacity` packed stereo f32 samples; `input` is
        // either null (flush) or valid for `in_samples` samples (see `resample`).
        let done = unsafe {
            ff::ffi::swr_convert(
                resampler.ctx.as_mut_ptr(),
                out.as_mut_ptr(),
                i32::try_from(capacity).unwrap_or(i32::MAX),
                input,
                in_samples,
            )
        };
        usize::try_from(done).map_err(|_| ())
    }
}
