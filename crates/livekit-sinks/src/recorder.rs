//! [`Recorder`]: packets (from an [`Encoder`] or any `Port<Packet>`) into an MP4, MKV, MOV or
//! FLV file, finalized on stop.
//!
//! One thread, `livekit.recorder`, reads the packets and muxes them. The file is opened and its
//! header written before [`Recorder::start`] returns, so a bad path is reported at once.
//! [`RunningRecorder::stop`] (or dropping the recorder) writes the trailer: the file then plays
//! with the right duration. In crash-safe mode the file stays playable even if the process is
//! killed: MP4 and MOV are fragmented (`frag_keyframe+empty_moov`, a fragment a second at least),
//! and every container is flushed to disk as it goes. What a killed file holds is what was
//! written before the last second or so; its duration reads right: fragmented MP4/MOV sum
//! their fragments, an MKV's duration element is rewritten in place each time a cluster
//! reaches the file, and FLV readers take it from the last timestamp.

use std::ffi::c_int;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ff::ffi;
use ffmpeg_next as ff;
use livekit_core::thread::{SpawnError, Worker, spawn_worker};
use livekit_core::{
    AudioSource, Codec, FrameSource, Packet, Port, Pull, StreamInfo, TimeBase, VideoSource,
};

use crate::encode::{
    EncodeError, Encoder, EncoderSettings, EncoderStats, RunningEncoder, StartEncoderError,
};
use crate::mkv_duration::LiveDuration;

mod hls;

/// `whence` for a seek relative to the current position (as in C's `stdio.h`).
const SEEK_CUR: c_int = 1;

/// How long the recorder thread waits for a packet before checking for a stop.
const POLL: Duration = Duration::from_millis(20);

/// A container format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Container {
    /// MP4 (`.mp4`, `.m4v`): the moov atom moved to the front when finalized (faststart), or
    /// fragmented in crash-safe mode.
    Mp4,
    /// Matroska (`.mkv`): always crash-safe (a cluster a second, flushed as written, and the
    /// duration in the header kept up to date with them).
    Mkv,
    /// QuickTime (`.mov`): like MP4.
    Mov,
    /// Flash Video (`.flv`): what RTMP carries. Always crash-safe (flushed as written).
    Flv,
    /// HTTP Live Streaming (`.m3u8`): the path is the media playlist; segments are written
    /// beside it as they complete (see [`HlsSettings`]), so the folder is a live stream any
    /// HLS player or CDN reads. Crash-safe by nature: every listed segment is complete.
    Hls,
}

impl Container {
    /// The container for `path`'s extension (any case), if it is one of ours.
    pub fn from_path(path: &Path) -> Option<Self> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "mp4" | "m4v" => Some(Self::Mp4),
            "mkv" => Some(Self::Mkv),
            "mov" => Some(Self::Mov),
            "flv" => Some(Self::Flv),
            "m3u8" => Some(Self::Hls),
            _ => None,
        }
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Mp4 => "mp4",
            Self::Mkv => "mkv",
            Self::Mov => "mov",
            Self::Flv => "flv",
            Self::Hls => "m3u8",
        }
    }

    /// FFmpeg's muxer name.
    fn muxer(self) -> &'static str {
        match self {
            Self::Mp4 => "mp4",
            Self::Mkv => "matroska",
            Self::Mov => "mov",
            Self::Flv => "flv",
            Self::Hls => "hls",
        }
    }
}

impl fmt::Display for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Mp4 => "MP4",
            Self::Mkv => "MKV",
            Self::Mov => "MOV",
            Self::Flv => "FLV",
            Self::Hls => "HLS",
        })
    }
}

/// Where and how to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecorderSettings {
    /// The file. Its folder must exist; an existing file is replaced.
    pub path: PathBuf,
    /// The container; `None` (the default): from the file's extension (`.mp4`, `.m4v`, `.mkv`,
    /// `.mov`, `.flv`).
    pub container: Option<Container>,
    /// Keep the file playable if the process dies without stopping the recorder. Default off.
    /// MP4/MOV are then fragmented (a fragment at each keyframe and at least every second: at
    /// most about a second is lost) and flushed to disk as they go. MKV and FLV are crash-safe either way.
    pub crash_safe: bool,
    /// How an HLS recording ([`Container::Hls`]) cuts and keeps its segments; ignored by the
    /// other containers.
    pub hls: HlsSettings,
}

/// How an HLS recording cuts and keeps its segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HlsSettings {
    /// The length a segment aims at: a segment ends at the first keyframe at least this long
    /// after its start, so the encoder's keyframe interval sets the real length (1 s keyframes
    /// and 1 s here give 1 s segments). Default 1 s.
    pub segment: Duration,
    /// Segments the playlist lists: a rolling window for live viewing (older segments are
    /// deleted), or 0 to keep and list every segment (an `EVENT` playlist a late viewer can
    /// play from the start). Default 6.
    pub window: u32,
    /// What the segments are. Default fragmented MP4.
    pub segments: HlsSegments,
}

impl Default for HlsSettings {
    fn default() -> Self {
        Self {
            segment: Duration::from_secs(1),
            window: 6,
            segments: HlsSegments::Fmp4,
        }
    }
}

/// The container of HLS segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HlsSegments {
    /// Fragmented MP4 (`segment-TOKEN-00001.m4s` after one `init-TOKEN.mp4`; TOKEN is new at each start): what current players and
    /// YouTube's HLS ingest prefer.
    #[default]
    Fmp4,
    /// MPEG transport stream (`segment-TOKEN-00001.ts`): what every player, however old, plays.
    Ts,
}

impl HlsSegments {
    /// The segment files' extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Fmp4 => "m4s",
            Self::Ts => "ts",
        }
    }
}

impl RecorderSettings {
    /// Settings for `path`, with the container from its extension.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            container: None,
            crash_safe: false,
            hls: HlsSettings::default(),
        }
    }

    /// The container these settings give, or why there is none.
    pub fn resolve_container(&self) -> Result<Container, StartRecorderError> {
        match self.container {
            Some(container) => Ok(container),
            None => Container::from_path(&self.path).ok_or_else(|| {
                StartRecorderError::UnknownExtension {
                    path: self.path.clone(),
                    extension: self
                        .path
                        .extension()
                        .map(|e| e.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                }
            }),
        }
    }
}

/// Why a recording did not start. Names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartRecorderError {
    /// The extension does not say which container to use.
    #[error(
        "recording file {}: unknown container extension {extension:?} (use .mp4, .mkv, .mov, .flv or .m3u8, or choose the container)",
        path.display()
    )]
    UnknownExtension {
        /// The file.
        path: PathBuf,
        /// Its extension (empty when it has none).
        extension: String,
    },
    /// The file could not be created.
    #[error("recording file {}: cannot open for writing", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What FFmpeg said.
        #[source]
        source: ff::Error,
    },
    /// A stream cannot go in this container.
    #[error("recording file {}: stream {index} ({codec}) cannot be stored in {container}", path.display())]
    Stream {
        /// The file.
        path: PathBuf,
        /// The stream's index.
        index: usize,
        /// Its codec.
        codec: Codec,
        /// The container.
        container: Container,
    },
    /// The container refused the streams.
    #[error("recording file {}: cannot write the {container} header", path.display())]
    Header {
        /// The file.
        path: PathBuf,
        /// The container.
        container: Container,
        /// What FFmpeg said.
        #[source]
        source: ff::Error,
    },
    /// No streams were given.
    #[error("recording file {}: no streams to record", path.display())]
    NoStreams {
        /// The file.
        path: PathBuf,
    },
    /// The encoder did not start.
    #[error("recording file {}: cannot start the encoder", path.display())]
    Encoder {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: StartEncoderError,
    },
    /// The recorder thread could not be created.
    #[error("recording file {}: cannot start the recorder thread", path.display())]
    Thread {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// [`Streamer::add_recording`](crate::stream::Streamer::add_recording) came after the
    /// stream had ended.
    #[error("recording file {}: the stream has ended", path.display())]
    StreamEnded {
        /// The file (opened, with its header, and closed again).
        path: PathBuf,
    },
}

/// Why a recording ended badly. Names the file. The file is finalized as far as possible.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// A packet could not be written (disk full, file removed, ...).
    #[error("recording file {}: cannot write", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What FFmpeg said.
        #[source]
        source: ff::Error,
    },
    /// The trailer (index, duration) could not be written.
    #[error("recording file {}: cannot finalize", path.display())]
    Finalize {
        /// The file.
        path: PathBuf,
        /// What FFmpeg said.
        #[source]
        source: ff::Error,
    },
    /// The encoder failed.
    #[error("recording file {}: encoding failed", path.display())]
    Encode {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: EncodeError,
    },
    /// The recorder thread panicked.
    #[error("recording file {}: the recorder thread panicked", path.display())]
    Panicked {
        /// The file.
        path: PathBuf,
    },
    /// [`Streamer::stop_recording`](crate::stream::Streamer::stop_recording) was given a
    /// recording it does not have (stopped already, or of another streamer).
    #[error("recording {id}: no such recording in this stream")]
    NoSuchRecording {
        /// The id given.
        id: crate::stream::RecordingId,
    },
}

/// Counters of a running recorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecorderStats {
    /// Packets written.
    pub packets: u64,
    /// Compressed bytes written (without the container's own).
    pub bytes: u64,
    /// Media time recorded so far.
    pub duration: Duration,
}

/// What a finished recording holds.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingSummary {
    /// The file.
    pub path: PathBuf,
    /// Its container.
    pub container: Container,
    /// Media time recorded: from the earliest start to the latest end of any stream.
    pub duration: Duration,
    /// The file's size.
    pub file_bytes: u64,
    /// Packets written.
    pub packets: u64,
    /// The encoder's counters, when the recorder ran its own encoder.
    pub encoder: Option<EncoderStats>,
}

/// The counters a recorder thread keeps (and its stop flag), shared with whoever watches it.
#[derive(Default)]
pub(crate) struct Shared {
    stop: AtomicBool,
    packets: AtomicU64,
    bytes: AtomicU64,
    duration_nanos: AtomicU64,
}

impl Shared {
    /// The counters now.
    pub(crate) fn stats(&self) -> RecorderStats {
        RecorderStats {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            duration: Duration::from_nanos(self.duration_nanos.load(Ordering::Relaxed)),
        }
    }
}

/// The size of what a recording wrote: its file, or an HLS playlist with its segments.
pub(crate) fn written_bytes(path: &Path, container: Container) -> u64 {
    let file = std::fs::metadata(path).map_or(0, |m| m.len());
    match container {
        Container::Hls => file + hls::segment_bytes(path),
        _ => file,
    }
}

/// A start-up failure of a recorder thread, in the recorder's words.
pub(crate) fn spawn_error(
    error: SpawnError<StartRecorderError>,
    path: &Path,
) -> StartRecorderError {
    match error {
        SpawnError::Start { source, .. } => source,
        SpawnError::Os { source, .. } => StartRecorderError::Thread {
            path: path.to_path_buf(),
            source,
        },
        SpawnError::Panicked { .. } => StartRecorderError::Thread {
            path: path.to_path_buf(),
            source: std::io::Error::other("panicked while starting"),
        },
    }
}

/// Starts recordings. See [`Recorder::start`] and [`Recorder::from_packets`].
///
/// One second of a solid colour, encoded and recorded to MP4:
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use livekit_core::{FrameTarget, Port, VideoFrame, VideoSource};
/// use livekit_sinks::{EncoderSettings, Recorder, RecorderSettings};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let frames = Arc::new(Port::<VideoFrame>::blocking(30)); // file work: nothing dropped
/// for n in 0..30u64 {
///     let pts = Duration::from_millis(n * 1000 / 30);
///     frames.push(VideoFrame::solid_rgba(320, 240, [200, 30, 30, 255], pts)?)?;
/// }
/// frames.end(); // the recording ends when the source does
///
/// let mut encoder = EncoderSettings::default();
/// (encoder.video.width, encoder.video.height) = (320, 240);
/// let path = std::env::temp_dir().join("livekit-recorder-doc.mp4");
/// let recording = Recorder::start(
///     RecorderSettings::new(&path), // MP4 by the extension; faststart
///     encoder,
///     frames as Arc<dyn VideoSource>,
///     None, // no audio
/// )?;
/// let summary = recording.wait()?; // or stop(): both finalize the file
/// assert_eq!(summary.encoder.map(|e| e.video_frames), Some(30));
/// assert!(summary.duration >= Duration::from_millis(990));
/// # std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Recorder;

impl Recorder {
    /// Encodes `video` (and `audio`) with `encoder` and records the result: the whole
    /// pipeline in one call. Stops when the video source ends or on
    /// [`RunningRecorder::stop`].
    pub fn start(
        settings: RecorderSettings,
        encoder: EncoderSettings,
        video: Arc<dyn VideoSource>,
        audio: Option<Arc<dyn AudioSource>>,
    ) -> Result<RunningRecorder, StartRecorderError> {
        // A wrong extension is found before any encoding starts.
        settings.resolve_container()?;
        let running = Encoder::start(encoder, video, audio).map_err(|source| {
            StartRecorderError::Encoder {
                path: settings.path.clone(),
                source,
            }
        })?;
        let streams = running.streams().to_vec();
        let port = running.packets();
        let packets: Arc<dyn FrameSource<Packet>> = Arc::new(port.clone());
        // If the file cannot be opened, dropping `running` stops the encoder; if writing fails
        // later, the port is closed so the encoder stops instead of waiting for a reader.
        let mut recorder = Self::record(settings, streams, packets, Some(port))?;
        recorder.encoder = Some(running);
        Ok(recorder)
    }

    /// Records packets of `streams` read from `packets` (an encoder's port, a demuxer's for
    /// pass-through, one branch of a tee). Stops when the port ends, or on
    /// [`RunningRecorder::stop`] (which writes what is already queued).
    ///
    /// Timestamps are in each stream's time base; a decoding time that goes backwards is
    /// nudged forward (and a packet of an unknown stream dropped) rather than failing the file.
    ///
    /// If writing fails (a full disk), the recorder closes the port, so that its writer is
    /// not left waiting for room (its pushes fail with [`PushError::Closed`](livekit_core::PushError::Closed)),
    /// and [`RunningRecorder::stop`] reports the error.
    pub fn from_packets(
        settings: RecorderSettings,
        streams: Vec<StreamInfo>,
        packets: Port<Packet>,
    ) -> Result<RunningRecorder, StartRecorderError> {
        let source: Arc<dyn FrameSource<Packet>> = Arc::new(packets.clone());
        Self::record(settings, streams, source, Some(packets))
    }

    fn record(
        settings: RecorderSettings,
        streams: Vec<StreamInfo>,
        packets: Arc<dyn FrameSource<Packet>>,
        close_on_failure: Option<Port<Packet>>,
    ) -> Result<RunningRecorder, StartRecorderError> {
        livekit_av::ffmpeg::init();
        let container = settings.resolve_container()?;
        let path = settings.path.clone();
        if streams.is_empty() {
            return Err(StartRecorderError::NoStreams { path });
        }
        let shared = Arc::new(Shared::default());
        let worker_shared = Arc::clone(&shared);
        let worker_path = path.clone();
        let worker = spawn_worker(
            "livekit.recorder",
            move || Muxer::open(&worker_path, container, &settings, streams),
            move |muxer| {
                let result = muxer.run(&*packets, &worker_shared);
                if result.is_err()
                    && let Some(port) = close_on_failure
                {
                    port.close();
                }
                result
            },
        )
        .map_err(|error| spawn_error(error, &path))?;
        tracing::debug!("recording to {} ({container})", path.display());
        Ok(RunningRecorder {
            path,
            container,
            encoder: None,
            shared,
            worker: Some(worker),
        })
    }
}

/// A recording in progress. [`stop`](Self::stop) finalizes the file; so does dropping it.
pub struct RunningRecorder {
    path: PathBuf,
    container: Container,
    encoder: Option<RunningEncoder>,
    shared: Arc<Shared>,
    worker: Option<Worker<Result<(), RecordError>>>,
}

impl fmt::Debug for RunningRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningRecorder")
            .field("path", &self.path)
            .field("container", &self.container)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl RunningRecorder {
    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The container.
    pub fn container(&self) -> Container {
        self.container
    }

    /// The encoder, when the recorder runs its own ([`Recorder::start`]).
    pub fn encoder(&self) -> Option<&RunningEncoder> {
        self.encoder.as_ref()
    }

    /// The counters now.
    pub fn stats(&self) -> RecorderStats {
        self.shared.stats()
    }

    /// Whether the recording has ended by itself (its source ended, or writing failed).
    pub fn is_finished(&self) -> bool {
        self.worker.as_ref().is_none_or(Worker::is_finished)
    }

    /// Stops and finalizes the file. With its own encoder, what the encoder holds is encoded
    /// and written first; with [`Recorder::from_packets`], the packets already queued are.
    pub fn stop(mut self) -> Result<RecordingSummary, RecordError> {
        self.finish(true)
    }

    /// Waits for the source to end, then finalizes the file.
    pub fn wait(mut self) -> Result<RecordingSummary, RecordError> {
        self.finish(false)
    }

    fn finish(&mut self, stop: bool) -> Result<RecordingSummary, RecordError> {
        let encoded = match self.encoder.take() {
            Some(encoder) if stop => Some(encoder.stop()),
            Some(encoder) => Some(encoder.wait()),
            None => {
                if stop {
                    self.shared.stop.store(true, Ordering::SeqCst);
                }
                None
            }
        };
        let written = match self.worker.take() {
            Some(worker) => worker.join().unwrap_or_else(|_| {
                Err(RecordError::Panicked {
                    path: self.path.clone(),
                })
            }),
            None => Ok(()),
        };
        written?;
        let encoder = match encoded {
            Some(Err(source)) => {
                return Err(RecordError::Encode {
                    path: self.path.clone(),
                    source,
                });
            }
            Some(Ok(stats)) => Some(stats),
            None => None,
        };
        let stats = self.stats();
        Ok(RecordingSummary {
            path: self.path.clone(),
            container: self.container,
            duration: stats.duration,
            file_bytes: written_bytes(&self.path, self.container),
            packets: stats.packets,
            encoder,
        })
    }
}

impl Drop for RunningRecorder {
    fn drop(&mut self) {
        if self.worker.is_some()
            && let Err(error) = self.finish(true)
        {
            tracing::error!("{error}");
        }
    }
}

/// The muxer, owned by the recorder thread (of a [`Recorder`], or of a recording branch of a
/// [`Streamer`](crate::stream::Streamer)).
pub(crate) struct Muxer {
    path: PathBuf,
    output: ff::format::context::Output,
    streams: Vec<StreamInfo>,
    /// The time base the container chose for each stream.
    time_bases: Vec<ff::Rational>,
    last_dts: Vec<Option<i64>>,
    /// Earliest start and latest end seen, in nanoseconds from zero.
    start_nanos: Option<i128>,
    end_nanos: i128,
    /// MKV: the reserved `Duration`, kept current as clusters reach the file.
    live_duration: Option<LiveDuration>,
    /// Bytes the muxer had written to the file after the last packet.
    written: i64,
    /// Time zero of the file, in nanoseconds of the incoming timestamps, when the recording
    /// joins a stream already running: `Some(None)` until the first packet sets it.
    rebase: Option<Option<i128>>,
}

impl Muxer {
    pub(crate) fn open(
        path: &Path,
        container: Container,
        settings: &RecorderSettings,
        streams: Vec<StreamInfo>,
    ) -> Result<Self, StartRecorderError> {
        let open_error = |source| StartRecorderError::Open {
            path: path.to_path_buf(),
            source,
        };
        if path.as_os_str().is_empty() || path.as_os_str().as_encoded_bytes().contains(&0) {
            return Err(open_error(ff::Error::InvalidData));
        }
        if container == Container::Hls {
            hls::prepare_folder(path).map_err(|e| {
                open_error(ff::Error::Other {
                    errno: e.raw_os_error().unwrap_or(ff::util::error::EIO),
                })
            })?;
        }
        let mut output = ff::format::output_as(path, container.muxer()).map_err(open_error)?;
        for (index, info) in streams.iter().enumerate() {
            let unsupported = || StartRecorderError::Stream {
                path: path.to_path_buf(),
                index,
                codec: info.codec.clone(),
                container,
            };
            livekit_av::streams::add_stream(&mut output, info).map_err(|error| match error {
                livekit_av::streams::AddStreamError::UnknownCodec(_) => unsupported(),
                livekit_av::streams::AddStreamError::OutOfMemory => open_error(ff::Error::Other {
                    errno: ff::util::error::ENOMEM,
                }),
            })?;
        }
        // MKV and FLV are written in order, so flushing as they go is all they need to
        // survive a crash: they always do.
        let crash_safe =
            settings.crash_safe || matches!(container, Container::Mkv | Container::Flv);
        let mut options = ff::Dictionary::new();
        match container {
            Container::Hls => hls::options(path, &settings.hls, &mut options),
            Container::Mp4 | Container::Mov if crash_safe => {
                options.set("movflags", "frag_keyframe+empty_moov+default_base_moof");
                // A fragment at each keyframe, and at least every second between them.
                options.set("frag_duration", "1000000");
            }
            Container::Mp4 | Container::Mov => options.set("movflags", "+faststart"),
            Container::Mkv if crash_safe => options.set("cluster_time_limit", "1000"),
            _ => {}
        }
        if crash_safe && container != Container::Hls {
            options.set("flush_packets", "1");
        }
        output
            .write_header_with(options)
            .map_err(|source| StartRecorderError::Header {
                path: path.to_path_buf(),
                container,
                source,
            })?;
        let time_bases = output.streams().map(|s| s.time_base()).collect();
        let count = streams.len();
        let live_duration = if container == Container::Mkv {
            let found = LiveDuration::find(path);
            if found.is_none() {
                tracing::debug!(
                    "recording file {}: no reserved duration to keep current",
                    path.display()
                );
            }
            found
        } else {
            None
        };
        let mut muxer = Self {
            path: path.to_path_buf(),
            output,
            streams,
            time_bases,
            last_dts: vec![None; count],
            start_nanos: None,
            end_nanos: 0,
            live_duration,
            written: 0,
            rebase: None,
        };
        muxer.written = muxer.position();
        Ok(muxer)
    }

    /// Makes the file start at zero: the first packet's time is taken off every packet (for a
    /// recording that joins a stream already running, whose timestamps do not start at 0).
    pub(crate) fn start_at_zero(&mut self) {
        self.rebase = Some(None);
    }

    /// `packet` with the file's time zero taken off (see [`start_at_zero`](Self::start_at_zero)).
    fn rebased(&mut self, mut packet: Packet) -> Packet {
        let Some(rebase) = &mut self.rebase else {
            return packet;
        };
        let time_base = self.streams[packet.stream].time_base;
        let (num, den) = (
            i128::from(time_base.num.max(1)),
            i128::from(time_base.den.max(1)),
        );
        let zero = *rebase
            .get_or_insert(i128::from(packet.dts.min(packet.pts)) * num * 1_000_000_000 / den);
        let ticks = i64::try_from(zero * den / (num * 1_000_000_000)).unwrap_or(0);
        packet.pts = packet.pts.saturating_sub(ticks);
        packet.dts = packet.dts.saturating_sub(ticks);
        packet
    }

    /// Writes the packets of `packets` until it ends (or `shared`'s stop, once what is queued
    /// is written), then the trailer.
    pub(crate) fn run(
        mut self,
        packets: &dyn FrameSource<Packet>,
        shared: &Shared,
    ) -> Result<(), RecordError> {
        let mut result = Ok(());
        let mut unknown_streams = 0u64;
        loop {
            let stopping = shared.stop.load(Ordering::SeqCst);
            let packet = match packets.next(if stopping { Duration::ZERO } else { POLL }) {
                Pull::Frame(packet) => packet,
                Pull::Pending if stopping => break,
                Pull::Pending => continue,
                Pull::Ended => break,
            };
            if packet.stream >= self.streams.len() {
                unknown_streams += 1;
                if unknown_streams == 1 {
                    tracing::warn!(
                        "recording file {}: dropping packets of unknown stream {}",
                        self.path.display(),
                        packet.stream
                    );
                }
                continue;
            }
            let packet = self.rebased(packet);
            let bytes = packet.data.len() as u64;
            let end_before = self.end_nanos;
            if let Err(source) = self.write(&packet) {
                result = Err(RecordError::Write {
                    path: self.path.clone(),
                    source,
                });
                break;
            }
            self.after_write(end_before);
            shared.packets.fetch_add(1, Ordering::Relaxed);
            shared.bytes.fetch_add(bytes, Ordering::Relaxed);
            let duration = (self.end_nanos - self.start_nanos.unwrap_or(0).max(0)).max(0);
            shared
                .duration_nanos
                .store(duration.min(u64::MAX as i128) as u64, Ordering::Relaxed);
        }
        let finalized = self
            .output
            .write_trailer()
            .map_err(|source| RecordError::Finalize {
                path: self.path.clone(),
                source,
            });
        if let Err(error) = &result {
            let reason = std::error::Error::source(error)
                .map(|source| format!(": {source}"))
                .unwrap_or_default();
            tracing::error!("{error}{reason}");
        }
        result.and(finalized)
    }

    fn write(&mut self, packet: &Packet) -> Result<(), ff::Error> {
        let index = packet.stream;
        let info = &self.streams[index];
        let to = self.time_bases[index];
        let from = ff::Rational::new(info.time_base.num, info.time_base.den);
        self.track_time(info.time_base, packet);
        let mut out = ff::Packet::copy(&packet.data);
        out.set_stream(index);
        out.set_pts(Some(packet.pts));
        out.set_dts(Some(packet.dts));
        out.set_duration(packet.duration);
        if packet.keyframe {
            out.set_flags(ff::packet::Flags::KEY);
        }
        out.rescale_ts(from, to);
        let dts = out.dts().unwrap_or(0);
        if let Some(last) = self.last_dts[index]
            && dts <= last
        {
            let dts = last + 1;
            out.set_dts(Some(dts));
            out.set_pts(Some(out.pts().unwrap_or(dts).max(dts)));
        }
        self.last_dts[index] = out.dts();
        out.write_interleaved(&mut self.output)
    }

    /// Bytes written to the file so far (the muxer's position in it).
    fn position(&mut self) -> i64 {
        // SAFETY: the output context is open; its `pb` (when there is one) is valid, and a
        // seek by 0 from the current position only reads the position.
        unsafe {
            let pb = (*self.output.as_mut_ptr()).pb;
            if pb.is_null() {
                0
            } else {
                ffi::avio_seek(pb, 0, SEEK_CUR)
            }
        }
    }

    /// MKV: when the muxer has written another cluster to the file, the duration becomes the
    /// end of the packets before the last one (the one that started the next cluster).
    fn after_write(&mut self, end_before: i128) {
        if self.live_duration.is_none() {
            return;
        }
        let position = self.position();
        if position <= self.written {
            return;
        }
        self.written = position;
        let duration = (end_before - self.start_nanos.unwrap_or(0).min(0)).max(0);
        if let Some(live) = &self.live_duration
            && let Err(error) = live.write(u64::try_from(duration).unwrap_or(u64::MAX))
        {
            tracing::warn!(
                "recording file {}: cannot update its duration: {error}",
                self.path.display()
            );
            self.live_duration = None;
        }
    }

    fn track_time(&mut self, time_base: TimeBase, packet: &Packet) {
        let nanos = |ticks: i64| {
            i128::from(ticks) * i128::from(time_base.num) * 1_000_000_000
                / i128::from(time_base.den.max(1))
        };
        let start = nanos(packet.pts);
        let end = nanos(packet.pts.saturating_add(packet.duration.max(0)));
        self.start_nanos = Some(self.start_nanos.map_or(start, |s| s.min(start)));
        self.end_nanos = self.end_nanos.max(end);
    }
}
