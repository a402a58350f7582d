//! [`MediaReader`]: one opened file or URL, decoded frame by frame on the caller's thread.
//!
//! Everything the players share: opening (with a time limit and a stop flag: `input.rs`),
//! picking the streams, demuxing and decoding with frame threads (here), converting video to
//! our pixel formats through a [`FramePool`](livekit_core::FramePool) or without a copy
//! (`video.rs`) and audio to 48 kHz stereo f32 (`audio.rs`), seeking with sample-exact
//! trimming, and timestamps that start at zero.

mod audio;
mod input;
mod interleave;
mod video;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use ff::media::Type as MediaType;
use ffmpeg_next as ff;
use livekit_core::{AudioFrame, VideoFrame};

use self::audio::{AudioState, open_audio};
use self::input::{attached_picture, decoder_for, zero_of};
use self::interleave::Interleave;
use self::video::{VideoState, open_video};
use super::error::OpenMediaError;
use super::name::Location;

pub(crate) use self::audio::{ns_to_samples, samples_to_ns};
pub(crate) use self::input::{codec_name, duration_of, is_picture_stream, open_input};
pub(crate) use self::video::{frame_duration_of, rotation_of};

/// The frame duration assumed when a stream does not say its frame rate.
pub(crate) const FALLBACK_FRAME_DURATION: Duration = Duration::from_millis(40);

/// At most this many warnings wait to be taken; more are only logged.
const MAX_WARNINGS: usize = 32;

/// Packets in a row that fail to demux before the reader gives up.
const MAX_BAD_PACKETS: u32 = 1000;

/// How far one stream of a file is read ahead of the other to decode both in time order (see
/// [`Interleave`]); a URL (live) is held less, since holding delays what it shows.
const MAX_INTERLEAVE_FILE: Duration = Duration::from_secs(5);
const MAX_INTERLEAVE_URL: Duration = Duration::from_millis(500);
/// At most this many packets are held for it.
const MAX_INTERLEAVE_PACKETS: usize = 4096;

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
    /// The input's interrupt (armed around each read and seek; kept alive with the input).
    interrupt: Arc<livekit_av::Interrupt>,
    read_timeout: Duration,
    start_ns: i64,
    duration: Option<Duration>,
    video: Option<VideoState>,
    audio: Option<AudioState>,
    phase: Phase,
    /// Packets read, held until they are due (both streams decoded in time order).
    order: Interleave<ff::Packet>,
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
        let hold = if location.is_url() {
            MAX_INTERLEAVE_URL
        } else {
            MAX_INTERLEAVE_FILE
        };
        let order = Interleave::new(
            video.is_some(),
            audio.is_some(),
            i64::try_from(hold.as_nanos()).unwrap_or(i64::MAX),
            MAX_INTERLEAVE_PACKETS,
        );
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
            order,
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
        self.interrupt.arm(self.read_timeout);
        let result = self.input.seek(ts, ..ts);
        self.interrupt.disarm();
        result.map_err(|e| format!("media {}: cannot seek to {to:?}: {e}", self.name))?;
        if let Some(v) = &mut self.video {
            v.restart();
        }
        if let Some(a) = &mut self.audio {
            a.restart();
        }
        self.phase = Phase::Reading;
        self.order.clear();
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
            if let Some((which, packet)) = self.order.pop() {
                let sent = match which {
                    Which::Video => self.video.as_mut().map(|v| v.decoder.send_packet(&packet)),
                    Which::Audio => self.audio.as_mut().map(|a| a.decoder.send_packet(&packet)),
                };
                if let Some(Err(error)) = sent {
                    self.decode_error(&error);
                }
                self.draining = Some(which);
                return;
            }
            if self.order.is_done() {
                break;
            }
            let mut packet = ff::Packet::empty();
            self.interrupt.arm(self.read_timeout);
            let result = packet.read(&mut self.input);
            self.interrupt.disarm();
            match result {
                Ok(()) => {
                    let index = packet.stream();
                    let (which, time_base) = match (&self.video, &self.audio) {
                        (Some(v), _) if v.index == index => (Which::Video, v.time_base),
                        (_, Some(a)) if a.index == index => (Which::Audio, a.time_base),
                        _ => continue,
                    };
                    let dts_ns = packet
                        .dts()
                        .or_else(|| packet.pts())
                        .map(|ts| to_ns(ts, time_base));
                    self.order.push(which, dts_ns, packet);
                    bad = 0;
                }
                Err(ff::Error::Eof) => self.order.end(),
                Err(ff::Error::InvalidData) if bad < MAX_BAD_PACKETS => {
                    bad += 1;
                }
                Err(ff::Error::Exit) => {
                    if !self.interrupt.stopped() {
                        let message = format!(
                            "media {}: no data for {:?}; ending",
                            self.name, self.read_timeout
                        );
                        self.warn(message);
                    }
                    self.order.end();
                }
                Err(error) => {
                    let message = format!(
                        "media {}: read error at {:.1} s: {error}; playing what was decoded",
                        self.name,
                        self.reached_ns as f64 / 1e9
                    );
                    self.warn(message);
                    self.order.end();
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
}
