//! [`PacketFile`]: the compressed packets of a media file or URL, without decoding them.
//!
//! This is the pass-through ("copy") source: a file that is already H.264/AAC is demuxed and
//! its packets written into a `Port<Packet>` as an encoder would write them, paced in real time
//! (like `ffmpeg -re`) or as fast as the port takes them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ffmpeg::media::Type as MediaType;
use ffmpeg_next as ffmpeg;
use livekit_av::Interrupt;
use livekit_av::streams::stream_info;
use livekit_core::thread::{SpawnError, Worker, spawn_named};
use livekit_core::{FrameTarget, Packet, PushError, StreamInfo, StreamParams};

/// How a [`PacketFile`] reads.
#[derive(Debug, Clone, PartialEq)]
pub struct PacketFileSettings {
    /// The pace packets are written at, as a multiple of real time: 1.0 (the default) at the
    /// pace of their timestamps, as a live encoder would (like `ffmpeg -re`), 2.0 twice as
    /// fast; 0 (or anything not above 0) as fast as the target takes them.
    pub readrate: f64,
    /// How much of the start of the input is read at open to measure the keyframe spacing
    /// ([`PacketFile::max_keyframe_interval`]). Default 10 s. The packets read are kept and
    /// written first, so nothing is lost and the input never has to seek.
    pub probe: Duration,
    /// The most bytes of packets kept from the probe. Default 64 MiB.
    pub max_probe_bytes: usize,
    /// At the end, start over from the beginning, for ever (like FFmpeg's `-stream_loop -1`):
    /// the timestamps of each pass go on from the end of the one before, so the packets form
    /// one continuous stream. Default `false`. A file whose start cannot be sought back to
    /// (a URL of a live stream) ends instead.
    pub looping: bool,
}

impl Default for PacketFileSettings {
    fn default() -> Self {
        Self {
            readrate: 1.0,
            probe: Duration::from_secs(10),
            max_probe_bytes: 64 << 20,
            looping: false,
        }
    }
}

/// Why a media file or URL could not be opened for its packets. Each variant names the input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenPacketsError {
    /// FFmpeg could not open or probe the input.
    #[error("{input}: cannot open: {error}")]
    Open {
        /// The file or URL.
        input: String,
        /// What FFmpeg said.
        error: ffmpeg::Error,
    },
    /// The input has neither a video nor an audio stream.
    #[error("{input}: no video or audio stream")]
    NoStreams {
        /// The file or URL.
        input: String,
    },
    /// Reading the first packets failed.
    #[error("{input}: cannot read: {error}")]
    Read {
        /// The file or URL.
        input: String,
        /// What FFmpeg said.
        error: ffmpeg::Error,
    },
}

/// Why reading packets stopped early.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ReadPacketsError {
    /// Demuxing failed midway.
    #[error("{input}: read failed: {error}")]
    Read {
        /// The file or URL.
        input: String,
        /// What FFmpeg said.
        error: ffmpeg::Error,
    },
    /// The reader thread panicked.
    #[error("{input}: the packet reader thread panicked")]
    Panicked {
        /// The file or URL.
        input: String,
    },
    /// The target refused a packet.
    #[error("{input}: the packet target failed")]
    Target {
        /// The file or URL.
        input: String,
        /// The target's error.
        #[source]
        source: PushError,
    },
}

/// The packets of one media file or URL: its video and audio streams (the best of each) as
/// [`StreamInfo`]s, and a reader thread ([`PacketFile::start`]) that writes their
/// [`Packet`]s into a target.
pub struct PacketFile {
    input_name: String,
    input: ffmpeg::format::context::Input,
    streams: Vec<StreamInfo>,
    /// Input stream index -> index into `streams`.
    map: Vec<Option<usize>>,
    probed: VecDeque<Packet>,
    max_keyframe_interval: Option<Duration>,
    settings: PacketFileSettings,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for PacketFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketFile")
            .field("input", &self.input_name)
            .field("streams", &self.streams)
            .field("max_keyframe_interval", &self.max_keyframe_interval)
            .finish()
    }
}

impl PacketFile {
    /// Opens `input` (a path or a URL FFmpeg reads), picks its best video and audio streams
    /// and reads its first [`PacketFileSettings::probe`] seconds to measure the keyframe
    /// spacing.
    pub fn open(input: &str, settings: PacketFileSettings) -> Result<Self, OpenPacketsError> {
        let input_name = input.to_owned();
        livekit_av::ffmpeg::init();
        let stop = Arc::new(AtomicBool::new(false));
        let interrupt = Interrupt::new(Some(stop.clone()));
        let ctx = ffmpeg::format::input_with_interrupt(input, move || interrupt.should_stop())
            .map_err(|error| OpenPacketsError::Open {
                input: input_name.clone(),
                error,
            })?;
        let best_video = ctx.streams().best(MediaType::Video).map(|s| s.index());
        let best_audio = ctx.streams().best(MediaType::Audio).map(|s| s.index());
        let mut map = vec![None; ctx.nb_streams() as usize];
        let mut streams = Vec::new();
        for index in [best_video, best_audio].into_iter().flatten() {
            let Some(stream) = ctx.stream(index) else {
                continue;
            };
            if let Some(info) = stream_info(&stream) {
                map[index] = Some(streams.len());
                streams.push(info);
            }
        }
        if streams.is_empty() {
            return Err(OpenPacketsError::NoStreams { input: input_name });
        }
        let mut file = Self {
            input_name,
            input: ctx,
            streams,
            map,
            probed: VecDeque::new(),
            max_keyframe_interval: None,
            settings,
            stop,
        };
        file.probe()?;
        Ok(file)
    }

    /// The streams, in the order packets refer to them ([`Packet::stream`]): video first
    /// when there is one.
    pub fn streams(&self) -> &[StreamInfo] {
        &self.streams
    }

    /// The longest time between two video keyframes seen in the probed start of the input
    /// (the time from the last keyframe to the end of the probe counts too, so an input with
    /// one keyframe in 10 s reports at least 10 s). `None` when there is no video.
    pub fn max_keyframe_interval(&self) -> Option<Duration> {
        self.max_keyframe_interval
    }

    /// The file or URL as given.
    pub fn input(&self) -> &str {
        &self.input_name
    }

    fn video_index(&self) -> Option<usize> {
        self.streams
            .iter()
            .position(|s| matches!(s.params, StreamParams::Video { .. }))
    }

    fn probe(&mut self) -> Result<(), OpenPacketsError> {
        let video = self.video_index();
        let mut bytes = 0usize;
        let mut first: Option<Duration> = None;
        let mut last_key: Option<Duration> = None;
        let mut last_time = Duration::ZERO;
        let mut max_gap = Duration::ZERO;
        loop {
            let packet = match self.read_one() {
                Ok(Some(packet)) => packet,
                Ok(None) => break,
                Err(error) => {
                    return Err(OpenPacketsError::Read {
                        input: self.input_name.clone(),
                        error,
                    });
                }
            };
            let time = self.streams[packet.stream]
                .time_base
                .to_duration(packet.dts.max(packet.pts));
            let first = *first.get_or_insert(time);
            bytes += packet.data.len();
            if Some(packet.stream) == video {
                last_time = last_time.max(time);
                if packet.keyframe {
                    if let Some(previous) = last_key {
                        max_gap = max_gap.max(time.saturating_sub(previous));
                    }
                    last_key = Some(time);
                }
            }
            self.probed.push_back(packet);
            if time.saturating_sub(first) >= self.settings.probe
                || bytes >= self.settings.max_probe_bytes
            {
                break;
            }
        }
        if video.is_some() {
            let tail = match last_key {
                Some(key) => last_time.saturating_sub(key),
                None => last_time.saturating_sub(first.unwrap_or_default()),
            };
            self.max_keyframe_interval = Some(max_gap.max(tail));
        }
        Ok(())
    }

    /// The next packet of a kept stream; `None` at the end.
    fn read_one(&mut self) -> Result<Option<Packet>, ffmpeg::Error> {
        loop {
            // A fresh packet each time: av_read_frame does not let go of what one held (a
            // skipped stream's packet would stay in memory).
            let mut packet = ffmpeg::Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) => {}
                Err(ffmpeg::Error::Eof) => return Ok(None),
                Err(ffmpeg::Error::InvalidData) => continue,
                Err(error) => return Err(error),
            }
            let Some(Some(stream)) = self.map.get(packet.stream()).copied() else {
                continue;
            };
            let Some(data) = packet.data() else {
                continue;
            };
            let pts = packet.pts().or(packet.dts()).unwrap_or(0);
            let dts = packet.dts().unwrap_or(pts);
            return Ok(Some(Packet {
                stream,
                data: Arc::from(data),
                pts,
                dts,
                duration: packet.duration(),
                keyframe: packet.is_key(),
            }));
        }
    }

    /// Starts the reader thread (`livekit.packets`): it writes every packet into `target`
    /// (paced as [`PacketFileSettings::readrate`] says), then end-of-stream.
    pub fn start<T>(
        mut self,
        target: T,
    ) -> Result<PacketReader, SpawnError<std::convert::Infallible>>
    where
        T: FrameTarget<Packet> + 'static,
    {
        let stop = self.stop.clone();
        let input = self.input_name.clone();
        let worker = spawn_named("livekit.packets", move || {
            let result = self.run(&target);
            target.end();
            result
        })?;
        Ok(PacketReader {
            input,
            stop,
            worker,
        })
    }

    fn run<T: FrameTarget<Packet>>(&mut self, target: &T) -> Result<u64, ReadPacketsError> {
        let started = Instant::now();
        let mut origin: Option<Duration> = None;
        let mut written = 0u64;
        // Looping: the first timestamp of the input, the end of the pass so far and what is
        // added to the timestamps of this pass, all in nanoseconds.
        let mut first_ns: Option<i128> = None;
        let mut end_ns: i128 = i128::MIN;
        let mut offset_ns: i128 = 0;
        while !self.stop.load(Ordering::Relaxed) {
            let packet = match self.probed.pop_front() {
                Some(packet) => packet,
                None => match self.read_one() {
                    Ok(Some(packet)) => packet,
                    Ok(None) if self.settings.looping => {
                        let length = end_ns - first_ns.unwrap_or(end_ns);
                        if length <= 0 {
                            break;
                        }
                        if let Err(error) = self.input.seek(0, ..) {
                            tracing::warn!(input = %self.input_name, %error, "cannot seek back to the start to loop; ending");
                            break;
                        }
                        offset_ns += length;
                        end_ns = i128::MIN;
                        continue;
                    }
                    Ok(None) => break,
                    Err(_) if self.stop.load(Ordering::Relaxed) => break,
                    Err(error) => {
                        return Err(ReadPacketsError::Read {
                            input: self.input_name.clone(),
                            error,
                        });
                    }
                },
            };
            let mut packet = packet;
            if self.settings.looping {
                let tb = self.streams[packet.stream].time_base;
                let to_ns = |ticks: i64| {
                    i128::from(ticks) * i128::from(tb.num) * 1_000_000_000
                        / i128::from(tb.den.max(1))
                };
                let to_ticks = |ns: i128| {
                    (ns * i128::from(tb.den) / (i128::from(tb.num.max(1)) * 1_000_000_000))
                        .clamp(i128::from(i64::MIN), i128::from(i64::MAX))
                        as i64
                };
                if offset_ns == 0 {
                    let start = to_ns(packet.pts.min(packet.dts));
                    first_ns = Some(first_ns.map_or(start, |f| f.min(start)));
                }
                end_ns = end_ns.max(to_ns(packet.pts + packet.duration.max(0)));
                if offset_ns > 0 {
                    let shift = to_ticks(offset_ns);
                    packet.pts += shift;
                    packet.dts += shift;
                }
            }
            let rate = self.settings.readrate;
            if rate.is_finite() && rate > 0.0 {
                let time = self.streams[packet.stream]
                    .time_base
                    .to_duration(packet.dts);
                let origin = *origin.get_or_insert(time);
                let due = started + time.saturating_sub(origin).div_f64(rate);
                while !self.stop.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    if now >= due {
                        break;
                    }
                    std::thread::sleep((due - now).min(Duration::from_millis(50)));
                }
            }
            match target.push(packet) {
                Ok(()) => written += 1,
                Err(PushError::Closed) => break,
                Err(source) => {
                    return Err(ReadPacketsError::Target {
                        input: self.input_name.clone(),
                        source,
                    });
                }
            }
        }
        tracing::debug!(input = %self.input_name, packets = written, "packets read");
        Ok(written)
    }
}

/// The running reader thread of a [`PacketFile`].
#[derive(Debug)]
pub struct PacketReader {
    input: String,
    stop: Arc<AtomicBool>,
    worker: Worker<Result<u64, ReadPacketsError>>,
}

impl PacketReader {
    /// Whether the reader has finished (end of input, error or stop).
    pub fn is_finished(&self) -> bool {
        self.worker.is_finished()
    }

    /// Waits for the end of the input; returns how many packets were written.
    pub fn join(self) -> Result<u64, ReadPacketsError> {
        let input = self.input;
        self.worker
            .join()
            .unwrap_or(Err(ReadPacketsError::Panicked { input }))
    }

    /// Stops reading (end-of-stream is still written) and waits for the thread.
    pub fn stop(self) -> Result<u64, ReadPacketsError> {
        self.stop.store(true, Ordering::Relaxed);
        self.join()
    }
}
