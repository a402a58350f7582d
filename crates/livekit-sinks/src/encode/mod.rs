//! [`Encoder`]: video (and audio) frames in, H.264 (and AAC) [`Packet`]s out, for the recorder,
//! the streamer, or anything else that reads a `Port<Packet>`.
//!
//! Threads: `livekit.encode.video` and `livekit.encode.audio` each read their source and
//! encode; `livekit.encode.mux` interleaves their packets in decoding order into the output
//! port (blocking: nothing is lost, a slow reader slows the encoder).

mod audio;
pub(crate) mod avc;
#[cfg(feature = "fault-injection")]
pub mod faults;
#[cfg(not(feature = "fault-injection"))]
mod faults;
mod hw;
mod settings;
mod video;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use livekit_core::thread::{SpawnError, Worker, spawn_named, spawn_worker};
use livekit_core::{
    AudioFrame, AudioSource, FrameTarget, Packet, Port, Pull, StreamInfo, TimeBase, VideoFrame,
    VideoSource,
};

pub use settings::{
    AudioCodec, AudioSettings, EncoderSettings, H264Encoder, RateControl, UnknownEncoder,
    VideoCodec, VideoSettings, default_video_kbps,
};

use audio::AudioEncoder;
use video::VideoEncoder;
pub(crate) use video::{Fitter, new_frame};

/// How long a worker waits for a frame before checking whether it should stop.
const POLL: Duration = Duration::from_millis(20);
/// How long the interleaver holds a packet waiting for the other stream before sending it
/// anyway (a stalled source must not stall the output).
const MAX_INTERLEAVE_WAIT: Duration = Duration::from_secs(2);

/// Why an encoder did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartEncoderError {
    /// A setting is out of range.
    #[error("encoder settings: {0}")]
    Settings(String),
    /// No H.264 encoder could be opened (after the fallback to libx264, if any).
    #[error("H.264 encoder {encoder}: cannot open at {width}x{height}")]
    OpenVideo {
        /// FFmpeg's name of the last encoder tried.
        encoder: String,
        /// Width asked for.
        width: u32,
        /// Height asked for.
        height: u32,
        /// What FFmpeg said.
        #[source]
        source: ffmpeg_next::Error,
    },
    /// The AAC encoder could not be opened.
    #[error("AAC encoder: cannot open at {sample_rate} Hz, {channels} channels, {kbps} kb/s")]
    OpenAudio {
        /// Sample rate asked for.
        sample_rate: u32,
        /// Channels asked for.
        channels: u16,
        /// Bit rate asked for.
        kbps: u32,
        /// What FFmpeg said.
        #[source]
        source: ffmpeg_next::Error,
    },
    /// A worker thread could not be created.
    #[error("could not start encoder thread {name}")]
    Thread {
        /// The thread's name.
        name: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

/// Why encoding stopped early.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The video encoder failed.
    #[error("H.264 encoder {encoder}: encoding failed")]
    Video {
        /// FFmpeg's name of the encoder.
        encoder: String,
        /// What FFmpeg said.
        #[source]
        source: ffmpeg_next::Error,
    },
    /// The audio encoder failed.
    #[error("AAC encoder: encoding failed")]
    Audio {
        /// What FFmpeg said.
        #[source]
        source: ffmpeg_next::Error,
    },
    /// A worker thread panicked.
    #[error("encoder thread {0} panicked")]
    Panicked(String),
}

/// Counters of a running encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EncoderStats {
    /// Video frames encoded.
    pub video_frames: u64,
    /// Video frames skipped because they could not be converted (each logged).
    pub skipped_frames: u64,
    /// Audio frames (blocks of samples, as the source gave them) taken.
    pub audio_frames: u64,
    /// Packets written to the output port.
    pub packets: u64,
    /// Compressed bytes written to the output port.
    pub bytes: u64,
    /// Media time encoded: the presentation time of the last video frame plus one frame.
    pub duration: Duration,
    /// Wall time spent encoding video frames (conversion, the encoder and handing its packets
    /// on), summed: divided by `video_frames`, the time a frame takes.
    pub video_encode_time: Duration,
}

/// A request for a keyframe on the encoder's next video frame: a cheap handle (clone it freely)
/// from [`RunningEncoder::keyframe_request`].
///
/// [`request`](Self::request) marks the next frame the video thread takes as a picture to
/// encode as a keyframe (an IDR frame: a decoder can start there), so that a viewer or a
/// recording that joins mid-stream does not wait a whole keyframe interval. Requests made
/// before that frame is taken count as one. The regular keyframe interval then goes on from
/// the forced keyframe.
#[derive(Debug, Clone, Default)]
pub struct KeyframeRequest(Arc<AtomicBool>);

impl KeyframeRequest {
    /// A request not tied to an encoder yet (tests, or an encoder made elsewhere that reads
    /// [`take`](Self::take)).
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks for a keyframe on the next video frame.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a keyframe was asked for and not taken yet.
    pub fn is_pending(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Takes the request: true (once) when a keyframe was asked for since the last take.
    /// What the encoder's video thread calls per frame.
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// Set to make the next video frame a keyframe.
    keyframe: KeyframeRequest,
    /// The pts of the first frame of either kind: time zero of the output.
    origin: OnceLock<Duration>,
    /// Set when the video thread has finished; audio then ends at `video_end`.
    video_done: AtomicBool,
    /// Nanoseconds from the origin to the end of the last video frame.
    video_end_nanos: AtomicU64,
    video_frames: AtomicU64,
    skipped_frames: AtomicU64,
    video_encode_nanos: AtomicU64,
    audio_frames: AtomicU64,
    packets: AtomicU64,
    bytes: AtomicU64,
    /// The error that ended encoding early, for [`RunningEncoder::failure`].
    failure: parking_lot::Mutex<Option<EncodeError>>,
    /// A failure a test asked for (`faults`; never without the `fault-injection` feature).
    fault: Option<faults::Fault>,
}

impl Shared {
    /// Records a fatal error of one encoder and stops the other: an encode that lost its
    /// sound (or its pictures) must not go on as if nothing happened.
    fn fail(&self, error: &EncodeError) {
        match std::error::Error::source(error) {
            Some(cause) => tracing::error!("{error}: {cause}"),
            None => tracing::error!("{error}"),
        }
        self.failure.lock().get_or_insert_with(|| error.clone());
        self.stop.store(true, Ordering::SeqCst);
    }

    /// The failure a test asked for, when `frames` frames of `kind` were encoded (a panic,
    /// when it asked for one).
    fn injected(&self, kind: faults::Kind, frames: u64) -> Option<ffmpeg_next::Error> {
        let fault = self
            .fault
            .filter(|f| f.kind == kind && frames >= f.after_frames)?;
        assert!(!fault.panic, "injected panic of the {kind:?} encoder");
        Some(ffmpeg_next::Error::Other {
            errno: faults::ERRNO,
        })
    }

    fn stats(&self) -> EncoderStats {
        EncoderStats {
            video_frames: self.video_frames.load(Ordering::Relaxed),
            skipped_frames: self.skipped_frames.load(Ordering::Relaxed),
            audio_frames: self.audio_frames.load(Ordering::Relaxed),
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            duration: Duration::from_nanos(self.video_end_nanos.load(Ordering::Relaxed)),
            video_encode_time: Duration::from_nanos(
                self.video_encode_nanos.load(Ordering::Relaxed),
            ),
        }
    }
}

/// Fails the encode when the thread that holds it panics (a bug in a codec binding, memory
/// running out in an allocation that panics): the other threads stop, and the owner is told
/// through [`RunningEncoder::failure`], as for an encoder's error. Without it the other
/// encoder went on alone and the owner saw nothing until it joined the threads.
struct PanicGuard<'a> {
    shared: &'a Shared,
    thread: &'static str,
}

impl<'a> PanicGuard<'a> {
    fn new(shared: &'a Shared, thread: &'static str) -> Self {
        Self { shared, thread }
    }
}

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.shared
                .fail(&EncodeError::Panicked(self.thread.to_owned()));
        }
    }
}

/// Starts encoders. See [`Encoder::start`].
#[derive(Debug)]
pub struct Encoder;

impl Encoder {
    /// Starts encoding `video` (and `audio`, if given) on worker threads.
    ///
    /// Frames may come in any livekit pixel format and size: they are converted (and scaled
    /// to fit the output size, keeping their aspect ratio) only when needed. Audio may come at
    /// any rate and channel count. Timestamps are the frames' own, counted from the first
    /// frame of either kind; gaps in audio are filled with silence.
    ///
    /// Stream 0 of [`RunningEncoder::streams`] is the H.264 video, stream 1 the AAC audio
    /// (when `audio` is given). Both have their global headers in `extradata`.
    ///
    /// Encoding ends when the video source ends or [`RunningEncoder::stop`] is called; the
    /// packet port then ends too. If the audio source ends first, the video goes on alone.
    /// Once stopped the encoder no longer reads its sources: a writer blocked on a full
    /// blocking port must be released by its owner (`Port::close`).
    pub fn start(
        settings: EncoderSettings,
        video: Arc<dyn VideoSource>,
        audio: Option<Arc<dyn AudioSource>>,
    ) -> Result<RunningEncoder, StartEncoderError> {
        livekit_av::ffmpeg::init();
        check(&settings)?;
        let shared = Arc::new(Shared {
            fault: faults::take(),
            ..Shared::default()
        });
        let packets = Port::blocking(settings.packet_queue.max(1));

        // Video: open (with the hardware fallback) on its thread, report what opened.
        let (video_tx, video_rx) = crossbeam_channel::bounded::<Packet>(64);
        let (info_tx, info_rx) = crossbeam_channel::bounded(1);
        let video_settings = settings.video.clone();
        let video_shared = Arc::clone(&shared);
        let video_worker = spawn_worker(
            "livekit.encode.video",
            move || {
                let opened = VideoEncoder::open(&video_settings).map_err(|(backend, source)| {
                    StartEncoderError::OpenVideo {
                        encoder: backend.codec_name().to_owned(),
                        width: video_settings.width,
                        height: video_settings.height,
                        source,
                    }
                })?;
                let _ = info_tx.send((
                    opened.encoder.info().clone(),
                    opened.encoder.name(),
                    opened.fallback,
                ));
                Ok::<_, StartEncoderError>(opened.encoder)
            },
            move |encoder| {
                let _guard = PanicGuard::new(&video_shared, "livekit.encode.video");
                run_video(encoder, &*video, &video_shared, &video_tx)
            },
        )
        .map_err(spawn_error)?;
        let Ok((video_info, video_encoder, fallback)) = info_rx.recv() else {
            return Err(StartEncoderError::Thread {
                name: "livekit.encode.video".into(),
                source: std::io::Error::other("the video thread did not report its encoder"),
            });
        };
        let mut workers = vec![video_worker];
        let mut streams = vec![video_info];
        let mut inputs = vec![(video_rx, streams[0].time_base)];

        if let Some(audio) = audio {
            let (audio_tx, audio_rx) = crossbeam_channel::bounded::<Packet>(256);
            let (info_tx, info_rx) = crossbeam_channel::bounded(1);
            let audio_settings = settings.audio.clone();
            let audio_shared = Arc::clone(&shared);
            let started = spawn_worker(
                "livekit.encode.audio",
                move || {
                    let encoder = AudioEncoder::open(&audio_settings).map_err(|source| {
                        StartEncoderError::OpenAudio {
                            sample_rate: audio_settings.sample_rate,
                            channels: audio_settings.channels,
                            kbps: audio_settings.kbps,
                            source,
                        }
                    })?;
                    let _ = info_tx.send(encoder.info().clone());
                    Ok::<_, StartEncoderError>(encoder)
                },
                move |encoder| {
                    let _guard = PanicGuard::new(&audio_shared, "livekit.encode.audio");
                    run_audio(encoder, &*audio, &audio_shared, &audio_tx)
                },
            );
            match started.map_err(spawn_error).and_then(|worker| {
                info_rx
                    .recv()
                    .map(|info| (worker, info))
                    .map_err(|_| StartEncoderError::Thread {
                        name: "livekit.encode.audio".into(),
                        source: std::io::Error::other(
                            "the audio thread did not report its encoder",
                        ),
                    })
            }) {
                Ok((worker, info)) => {
                    workers.push(worker);
                    inputs.push((audio_rx, info.time_base));
                    streams.push(info);
                }
                Err(error) => {
                    shared.stop.store(true, Ordering::SeqCst);
                    drop(inputs);
                    for worker in workers {
                        let _ = worker.join();
                    }
                    return Err(error);
                }
            }
        }

        let mux_shared = Arc::clone(&shared);
        let out = packets.clone();
        let mux = spawn_named("livekit.encode.mux", move || {
            let _guard = PanicGuard::new(&mux_shared, "livekit.encode.mux");
            interleave(inputs, &out, &mux_shared);
            Ok::<(), EncodeError>(())
        });
        match mux {
            Ok(worker) => workers.push(worker),
            Err(error) => {
                shared.stop.store(true, Ordering::SeqCst);
                for worker in workers {
                    let _ = worker.join();
                }
                return Err(spawn_error(error));
            }
        }
        Ok(RunningEncoder {
            streams,
            packets,
            shared,
            video_encoder,
            fallback,
            workers,
        })
    }
}

fn check(settings: &EncoderSettings) -> Result<(), StartEncoderError> {
    let video = &settings.video;
    let audio = &settings.audio;
    let problem = if video.fps.0 == 0 || video.fps.1 == 0 {
        Some(format!(
            "frame rate {}/{} must be above 0",
            video.fps.0, video.fps.1
        ))
    } else if video.width == 0 || video.height == 0 {
        Some(format!(
            "video size {}x{} must be above 0",
            video.width, video.height
        ))
    } else if video.kbps == Some(0) {
        Some("video bit rate must be above 0 kb/s".to_owned())
    } else if audio.sample_rate == 0 || audio.sample_rate > 384_000 {
        Some(format!(
            "audio sample rate {} Hz is out of range (1..=384000)",
            audio.sample_rate
        ))
    } else if !(1..=2).contains(&audio.channels) {
        Some(format!(
            "audio channels {} is out of range (1 or 2)",
            audio.channels
        ))
    } else if audio.kbps == 0 {
        Some("audio bit rate must be above 0 kb/s".to_owned())
    } else {
        None
    };
    match problem {
        Some(problem) => Err(StartEncoderError::Settings(problem)),
        None => Ok(()),
    }
}

fn spawn_error<E: Into<StartEncoderError>>(error: SpawnError<E>) -> StartEncoderError {
    match error {
        SpawnError::Os { name, source } => StartEncoderError::Thread { name, source },
        SpawnError::Start { source, .. } => source.into(),
        SpawnError::Panicked { name } => StartEncoderError::Thread {
            name,
            source: std::io::Error::other("panicked while starting"),
        },
    }
}

impl From<std::convert::Infallible> for StartEncoderError {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

/// A running encoder. Read its packets from [`packets`](Self::packets); [`stop`](Self::stop)
/// (or the video source ending) ends them. Dropping it closes the packet port and stops.
pub struct RunningEncoder {
    streams: Vec<StreamInfo>,
    packets: Port<Packet>,
    shared: Arc<Shared>,
    video_encoder: &'static str,
    fallback: Option<String>,
    workers: Vec<Worker<Result<(), EncodeError>>>,
}

impl std::fmt::Debug for RunningEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningEncoder")
            .field("video_encoder", &self.video_encoder)
            .field("streams", &self.streams.len())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl RunningEncoder {
    /// The streams: 0 is H.264 video, 1 AAC audio when there is audio.
    pub fn streams(&self) -> &[StreamInfo] {
        &self.streams
    }

    /// The packets, in decoding order across streams (as well as the sources allow), with
    /// timestamps in each stream's time base. A blocking port: read it steadily, or the
    /// encoder waits. It ends after the last packet.
    pub fn packets(&self) -> Port<Packet> {
        self.packets.clone()
    }

    /// FFmpeg's name of the H.264 encoder in use (`libx264`, `h264_nvenc`, `h264_vaapi`).
    pub fn video_encoder(&self) -> &'static str {
        self.video_encoder
    }

    /// When the encoder in use is not the one asked for: which failed and why.
    pub fn fallback(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// The counters now.
    pub fn stats(&self) -> EncoderStats {
        self.shared.stats()
    }

    /// A handle that asks for a keyframe on the next video frame (see [`KeyframeRequest`]):
    /// give it to a [`Streamer`](crate::stream::Streamer)
    /// ([`StreamerSettings::keyframe_request`](crate::stream::StreamerSettings::keyframe_request))
    /// so that destinations and recordings added while live start at once.
    pub fn keyframe_request(&self) -> KeyframeRequest {
        self.shared.keyframe.clone()
    }

    /// The error that ended encoding early, once one did (a fatal error of either encoder:
    /// a hardware encoder whose device was lost, memory running out). Both encoders then
    /// stop, and the packets end after what was encoded: readers finish cleanly (a
    /// recording is finalized), and the owner tells its users why. `None` while encoding
    /// goes well, and after a clean end.
    pub fn failure(&self) -> Option<EncodeError> {
        self.shared.failure.lock().clone()
    }

    /// Whether every worker has finished (the video source ended, or a failure).
    pub fn is_finished(&self) -> bool {
        self.workers.iter().all(Worker::is_finished)
    }

    /// Stops taking frames, encodes what the encoders hold, ends the packet port and waits for
    /// the workers. The packets must still be read (by a recorder, a streamer) for this to
    /// finish; [`Port::close`] the port first to throw them away.
    pub fn stop(mut self) -> Result<EncoderStats, EncodeError> {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.join()
    }

    /// Waits for the video source to end and the encoders to finish.
    pub fn wait(mut self) -> Result<EncoderStats, EncodeError> {
        self.join()
    }

    /// [`wait`](Self::wait), with the counters also when it failed: what was encoded before
    /// a failure was still sent (a summary must not say nothing was).
    pub fn wait_counted(mut self) -> (EncoderStats, Result<(), EncodeError>) {
        let result = self.join().map(|_| ());
        (self.shared.stats(), result)
    }

    fn join(&mut self) -> Result<EncoderStats, EncodeError> {
        let mut result = Ok(());
        for worker in self.workers.drain(..) {
            let name = worker.name().to_owned();
            let outcome = worker
                .join()
                .map_err(|_| EncodeError::Panicked(name))
                .and_then(|r| r);
            if result.is_ok() {
                result = outcome;
            }
        }
        result.map(|()| self.shared.stats())
    }
}

impl Drop for RunningEncoder {
    fn drop(&mut self) {
        if self.workers.is_empty() {
            return;
        }
        self.shared.stop.store(true, Ordering::SeqCst);
        self.packets.close();
        if let Err(error) = self.join() {
            tracing::error!("{error}");
        }
    }
}

fn send(tx: &Sender<Packet>, shared: &Shared, packet: Packet) {
    if tx.send(packet).is_err() {
        // The interleaver is gone (its reader closed the port): stop.
        shared.stop.store(true, Ordering::SeqCst);
    }
}

fn run_video(
    mut encoder: VideoEncoder,
    source: &dyn VideoSource,
    shared: &Shared,
    tx: &Sender<Packet>,
) -> Result<(), EncodeError> {
    let name = encoder.name();
    let failed = |source| EncodeError::Video {
        encoder: name.to_owned(),
        source,
    };
    let time_base = encoder.info().time_base;
    let frame_ticks = video::frame_duration(time_base, frame_rate(encoder.info()));
    let mut last: Option<i64> = None;
    let mut result = Ok(());
    let mut out = |packet: Packet| send(tx, shared, packet);
    while !shared.stop.load(Ordering::SeqCst) {
        let frame: VideoFrame = match source.next(POLL) {
            Pull::Frame(frame) => frame,
            Pull::Pending => continue,
            Pull::Ended => break,
        };
        let origin = *shared.origin.get_or_init(|| frame.pts());
        let mut pts = time_base.from_duration(frame.pts().saturating_sub(origin));
        if let Some(last) = last
            && pts <= last
        {
            pts = last + 1;
        }
        let started = Instant::now();
        let keyframe = shared.keyframe.take();
        if keyframe {
            tracing::debug!("keyframe asked for: this frame is one");
        }
        let encoded = match shared.injected(
            faults::Kind::Video,
            shared.video_frames.load(Ordering::Relaxed),
        ) {
            Some(error) => Err(error),
            None => encoder.encode(&frame, pts, keyframe, &mut out),
        };
        shared
            .video_encode_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        match encoded {
            Ok(Ok(())) => {
                last = Some(pts);
                shared.video_frames.fetch_add(1, Ordering::Relaxed);
                let end = time_base.to_duration(pts + frame_ticks);
                shared
                    .video_end_nanos
                    .store(end.as_nanos() as u64, Ordering::Relaxed);
            }
            Ok(Err(error)) => {
                let skipped = shared.skipped_frames.fetch_add(1, Ordering::Relaxed);
                if skipped.is_power_of_two() || skipped == 0 {
                    tracing::warn!("video frame skipped ({} so far): {error}", skipped + 1);
                }
            }
            Err(error) => {
                // Told (and the other encoder stopped) before the flush below, which a
                // device that is gone may hold up.
                let error = failed(error);
                shared.fail(&error);
                result = Err(error);
                break;
            }
        }
    }
    // What the encoder holds is sent even after a failure (the frames before it are whole;
    // a device that is gone fails this too, and the first error is the one told).
    let finished = encoder.finish(&mut out).map_err(failed);
    if result.is_ok() {
        if let Err(error) = &finished {
            shared.fail(error);
        }
        result = finished;
    }
    shared.video_done.store(true, Ordering::SeqCst);
    result
}

fn run_audio(
    mut encoder: AudioEncoder,
    source: &dyn AudioSource,
    shared: &Shared,
    tx: &Sender<Packet>,
) -> Result<(), EncodeError> {
    let failed = |source| EncodeError::Audio { source };
    let mut result = Ok(());
    let mut out = |packet: Packet| send(tx, shared, packet);
    // A stop from outside is not checked here: the audio goes on until the video thread has
    // finished, then ends where the video ends.
    let mut video_seen = (0u64, Instant::now());
    loop {
        let done = shared.video_done.load(Ordering::SeqCst);
        let frame: AudioFrame = match source.next(POLL) {
            Pull::Frame(frame) => frame,
            Pull::Pending if done => break,
            Pull::Pending => continue,
            Pull::Ended => break,
        };
        let origin = *shared.origin.get_or_init(|| frame.pts());
        let at = frame.pts().saturating_sub(origin);
        if done {
            let video_end = Duration::from_nanos(shared.video_end_nanos.load(Ordering::SeqCst));
            if at >= video_end {
                break;
            }
        }
        wait_for_video(shared, at, &mut video_seen);
        let taken = shared.audio_frames.fetch_add(1, Ordering::Relaxed);
        let encoded = match shared.injected(faults::Kind::Audio, taken) {
            Some(error) => Err(error),
            None => encoder.encode(&frame, at, &mut out),
        };
        match encoded {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!("audio frame skipped: {error}"),
            Err(error) => {
                // Told (and the other encoder stopped) before the flush below, which a
                // device that is gone may hold up.
                let error = failed(error);
                shared.fail(&error);
                result = Err(error);
                break;
            }
        }
    }
    // What the encoder holds is sent even after a failure (the frames before it are whole;
    // a device that is gone fails this too, and the first error is the one told).
    let finished = encoder.finish(&mut out).map_err(failed);
    if result.is_ok() {
        if let Err(error) = &finished {
            shared.fail(error);
        }
        result = finished;
    }
    result
}

/// How far the sound may be encoded ahead of the pictures encoded so far.
const AUDIO_AHEAD: Duration = Duration::from_millis(50);
/// Pictures that have not moved on for this long are not waited for (a still source, a
/// video track that ended before the sound).
const VIDEO_STALLED: Duration = Duration::from_millis(500);

/// Holds the sound at `at` back while the pictures lag behind it by more than
/// [`AUDIO_AHEAD`] and keep coming: a slow renderer or video encoder (a software GPU, a busy
/// machine) would otherwise end a recording with its sound longer than its pictures, since
/// what was encoded cannot be taken back when the video ends. `seen`: the video's end as last
/// seen, and when it last moved.
fn wait_for_video(shared: &Shared, at: Duration, seen: &mut (u64, Instant)) {
    loop {
        if shared.video_done.load(Ordering::SeqCst) || shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let end = shared.video_end_nanos.load(Ordering::SeqCst);
        if end != seen.0 {
            *seen = (end, Instant::now());
        }
        if at <= Duration::from_nanos(end) + AUDIO_AHEAD || seen.1.elapsed() > VIDEO_STALLED {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn frame_rate(info: &StreamInfo) -> (u32, u32) {
    match info.params {
        livekit_core::StreamParams::Video { frame_rate, .. } => frame_rate,
        livekit_core::StreamParams::Audio { .. } => (30, 1),
    }
}

/// One input of the interleaver.
struct Input {
    rx: Receiver<Packet>,
    time_base: TimeBase,
    head: Option<Packet>,
    open: bool,
}

/// `dts` of `packet` in seconds, as a fraction comparable across time bases.
fn earlier(a: &Packet, a_tb: TimeBase, b: &Packet, b_tb: TimeBase) -> bool {
    let left = i128::from(a.dts) * i128::from(a_tb.num) * i128::from(b_tb.den);
    let right = i128::from(b.dts) * i128::from(b_tb.num) * i128::from(a_tb.den);
    left <= right
}

/// Merges the encoders' packets in dts order into `out`, then ends it.
fn interleave(inputs: Vec<(Receiver<Packet>, TimeBase)>, out: &Port<Packet>, shared: &Shared) {
    let mut inputs: Vec<Input> = inputs
        .into_iter()
        .map(|(rx, time_base)| Input {
            rx,
            time_base,
            head: None,
            open: true,
        })
        .collect();
    let mut stalled_since: Option<Instant> = None;
    loop {
        for input in inputs.iter_mut().filter(|i| i.open && i.head.is_none()) {
            match input.rx.try_recv() {
                Ok(packet) => input.head = Some(packet),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => input.open = false,
            }
        }
        let waiting = inputs.iter().any(|i| i.open && i.head.is_none());
        let have_any = inputs.iter().any(|i| i.head.is_some());
        if !have_any && !waiting {
            break;
        }
        if !waiting {
            stalled_since = None;
        }
        let overdue = stalled_since.is_some_and(|since| since.elapsed() >= MAX_INTERLEAVE_WAIT);
        if have_any && (!waiting || overdue) {
            // The earliest head goes out.
            let mut best: Option<usize> = None;
            for (i, input) in inputs.iter().enumerate() {
                let Some(head) = &input.head else { continue };
                let better = best.is_none_or(|b| {
                    let other = &inputs[b];
                    other
                        .head
                        .as_ref()
                        .is_none_or(|o| !earlier(o, other.time_base, head, input.time_base))
                });
                if better {
                    best = Some(i);
                }
            }
            if let Some(packet) = best.and_then(|b| inputs[b].head.take()) {
                let bytes = packet.data.len() as u64;
                if out.push(packet).is_err() {
                    // The reader closed the port: stop the encoders.
                    shared.stop.store(true, Ordering::SeqCst);
                    break;
                }
                shared.packets.fetch_add(1, Ordering::Relaxed);
                shared.bytes.fetch_add(bytes, Ordering::Relaxed);
            }
            continue;
        }
        if have_any && stalled_since.is_none() {
            stalled_since = Some(Instant::now());
        }
        // Wait for a packet from an input we need one from.
        let mut select = crossbeam_channel::Select::new();
        for input in inputs.iter().filter(|i| i.open && i.head.is_none()) {
            select.recv(&input.rx);
        }
        let _ = select.ready_timeout(POLL);
    }
    out.end();
}
