//! One encode per canvas, shared by every recording and stream of that canvas: the canvas's
//! frames and the program audio go through one H.264/AAC [`Encoder`], whose packets one
//! [`Streamer`] fans out to each destination and each recording (isolated branches, each
//! joining on a keyframe it asks the encoder for).

use std::collections::BTreeMap;
use std::sync::Arc;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use livekit_core::{AudioFrame, AudioSource, FrameSource, Port, Pull, VideoFrame, VideoSource};
use livekit_sinks::stream::{
    DestinationId, DestinationState, DestinationStats, Protocol, RecordingId, RecordingReport,
    RecordingState, RecordingStats, SiteConfig, StreamReport,
};
use livekit_sinks::{
    Destination, Encoder, EncoderSettings, EncoderStats, RecorderSettings, RunningEncoder,
    Streamer, StreamerSettings,
};

use crate::error::{CommandError, chain};
use crate::inputs::{Feed, Feeds};
use crate::outputs::Gate;
use crate::state::{DestinationStateDoc, OutputState};
use crate::webrtc::{Profile, Viewers, for_webrtc};

/// Canvas frames kept for the encoder before the oldest are dropped (it fell behind): a
/// second at 30 fps, so that a slow start of the encoder loses nothing.
pub(crate) const VIDEO_QUEUE: usize = 30;

/// A canvas's encode and its fan-out.
pub(crate) struct CanvasEncode {
    pub(crate) canvas: String,
    /// Which encode of the studio this is: a canvas's encode that ended and a later one
    /// number their branches alike, so outputs remember whose they are.
    pub(crate) serial: u64,
    /// What the compositor writes the canvas's frames to (at most the studio's frame limit).
    pub(crate) gate: Arc<Gate>,
    /// What it is made for.
    pub(crate) profile: Profile,
    video: Arc<Port<VideoFrame>>,
    audio: Option<Arc<Port<AudioFrame>>>,
    encoder: Option<RunningEncoder>,
    streamer: Option<Streamer>,
    /// WebRTC viewers (WHEP) of this encode.
    pub(crate) viewers: Viewers,
    /// The encoder's counters when it finished.
    pub(crate) final_stats: Option<EncoderStats>,
    /// An encode of an input's own frames: what feeds it.
    pub(crate) fed: Option<Fed>,
    /// How long its destinations may take to send what they hold once it ends; default as
    /// long as they need.
    pub(crate) drain: Option<Duration>,
    /// Why its encoder stopped early, once [`check_failure`](Self::check_failure) saw it.
    failure: Option<String>,
}

/// What feeds an encode of an input: the input's fan-outs (with the numbers this encode has
/// in them).
pub(crate) struct Fed {
    video: (Arc<Feed<VideoFrame>>, u64),
    audio: Option<(Arc<Feed<AudioFrame>>, u64)>,
}

impl Fed {
    /// Whether these are the fan-outs that feed it.
    pub(crate) fn is_fed_by(&self, feeds: &Feeds) -> bool {
        Arc::ptr_eq(&self.video.0, &feeds.video)
    }
}

/// Frames of an input queued for its encode: the input waits when they are there (two
/// frames of slack: every frame more is a picture's worth of memory).
const FED_VIDEO_QUEUE: usize = 2;

/// Sound blocks of an input queued for its encode.
const FED_AUDIO_QUEUE: usize = 64;

impl CanvasEncode {
    /// Starts the encoder and an empty fan-out. `settings` has the canvas's size and rate;
    /// a WebRTC encode makes them WebRTC's.
    pub(crate) fn start(
        canvas: &str,
        settings: EncoderSettings,
        profile: Profile,
        streaming: &StreamerSettings,
        audio: Option<Arc<Port<AudioFrame>>>,
        frame_limit: Option<u64>,
    ) -> Result<Self, CommandError> {
        let video = Arc::new(Port::drop_oldest(VIDEO_QUEUE));
        let (video_feed, audio_feed) = feeds(&video, audio.as_ref());
        Self::begin(
            canvas,
            settings,
            profile,
            streaming,
            (video, audio),
            (video_feed, audio_feed),
            frame_limit,
        )
    }

    /// Starts an encode of a file's or playlist's own frames and sound (`start_output`'s
    /// `input`): each frame with its own timing (at most `settings`' frame rate: faster
    /// video is thinned), none dropped; the input waits while the encoder is behind. A
    /// WebRTC encode (`profile`) makes the settings WebRTC's. With `sound`, it has a sound
    /// track: the input's, or silence for an input without (as streaming sites expect one).
    pub(crate) fn start_fed(
        input: &str,
        settings: EncoderSettings,
        profile: Profile,
        streaming: &StreamerSettings,
        feeds: &Feeds,
        sound: bool,
        frame_limit: Option<u64>,
    ) -> Result<Self, CommandError> {
        let video = Arc::new(Port::blocking(FED_VIDEO_QUEUE));
        let audio = sound.then(|| Arc::new(Port::blocking(FED_AUDIO_QUEUE)));
        let (num, den) = settings.video.fps;
        let interval = Duration::from_secs_f64(f64::from(den.max(1)) / f64::from(num.max(1)));
        let video_feed = Arc::new(AtMostRate::new(video.clone(), settings.video.fps));
        let audio_feed = audio.clone().map(|a| a as Arc<dyn AudioSource>);
        let mut encode = Self::begin(
            input,
            settings,
            profile,
            streaming,
            (video, audio.clone()),
            (video_feed, audio_feed),
            frame_limit,
        )?;
        let pictures = encode.gate.clone() as Arc<dyn livekit_core::FrameTarget<VideoFrame>>;
        let (video_target, audio) = match audio {
            // The input has no sound: silence goes with its pictures.
            Some(port) if !feeds.sound => (
                Arc::new(WithSilence::new(pictures, port, interval))
                    as Arc<dyn livekit_core::FrameTarget<VideoFrame>>,
                None,
            ),
            audio => (pictures, audio),
        };
        let video_number = feeds.video.attach(video_target);
        let audio_number = audio.map(|port| {
            feeds
                .audio
                .attach(port as Arc<dyn livekit_core::FrameTarget<AudioFrame>>)
        });
        encode.fed = Some(Fed {
            video: (feeds.video.clone(), video_number),
            audio: audio_number.map(|n| (feeds.audio.clone(), n)),
        });
        Ok(encode)
    }

    fn begin(
        canvas: &str,
        mut settings: EncoderSettings,
        profile: Profile,
        streaming: &StreamerSettings,
        (video, audio): (Arc<Port<VideoFrame>>, Option<Arc<Port<AudioFrame>>>),
        (video_feed, audio_feed): (Arc<dyn VideoSource>, Option<Arc<dyn AudioSource>>),
        frame_limit: Option<u64>,
    ) -> Result<Self, CommandError> {
        let failed = |e: &dyn std::error::Error| {
            CommandError::invalid_on("canvas", canvas, format!("cannot encode: {}", chain(e)))
        };
        if profile != Profile::Standard {
            for_webrtc(&mut settings, profile);
        }
        let encoder = Encoder::start(settings, video_feed, audio_feed).map_err(|e| failed(&e))?;
        let viewers = Viewers::default();
        let streamer = Streamer::start(
            StreamerSettings {
                destinations: Vec::new(),
                recordings: Vec::new(),
                allow_no_outputs: true,
                keyframe_request: Some(encoder.keyframe_request()),
                ..streaming.clone()
            },
            encoder.streams().to_vec(),
            viewers.tap(encoder.packets()),
        )
        .map_err(|e| failed(&e))?;
        static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Ok(Self {
            canvas: canvas.to_owned(),
            serial: SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            gate: Gate::new(video.clone(), frame_limit),
            profile,
            video,
            audio,
            encoder: Some(encoder),
            streamer: Some(streamer),
            viewers,
            final_stats: None,
            fed: None,
            drain: None,
            failure: None,
        })
    }

    fn streamer(&self) -> &Streamer {
        self.streamer
            .as_ref()
            .expect("a running encode has its streamer")
    }

    /// Starts recording to a file (it joins on the next keyframe).
    pub(crate) fn record(
        &self,
        output: &str,
        settings: RecorderSettings,
    ) -> Result<RecordingId, CommandError> {
        self.streamer()
            .add_recording(settings)
            .map_err(|e| CommandError::invalid_on("output", output, chain(&e)))
    }

    /// Answers a WebRTC viewer's SDP offer (see [`Viewers::add`]).
    pub(crate) fn add_viewer(
        &self,
        offer: &str,
        bind: std::net::IpAddr,
    ) -> Result<(String, String), CommandError> {
        let Some(encoder) = &self.encoder else {
            return Err(CommandError::conflict("the encode is ending"));
        };
        self.viewers
            .add(offer, bind, encoder.streams(), encoder.keyframe_request())
    }

    /// Starts streaming to destinations (each joins on the next keyframe). All or none.
    pub(crate) fn stream(
        &self,
        output: &str,
        destinations: Vec<Destination>,
    ) -> Result<Vec<DestinationId>, CommandError> {
        let mut ids = Vec::new();
        for destination in destinations {
            match self.streamer().add_destination(destination) {
                Ok(id) => ids.push(id),
                Err(error) => {
                    for id in ids {
                        self.streamer().remove_destination(id);
                    }
                    return Err(CommandError::invalid_on("output", output, chain(&error)));
                }
            }
        }
        Ok(ids)
    }

    /// Finalizes a recording; the stream goes on.
    pub(crate) fn stop_recording(&self, id: RecordingId) -> Option<RecordingReport> {
        self.streamer().finish_recording(id)
    }

    /// Ends some destinations (they send what they hold and close); the others go on.
    pub(crate) fn stop_stream(&self, ids: &[DestinationId]) -> Vec<DestinationStats> {
        ids.iter()
            .filter_map(|id| self.streamer().remove_destination(*id))
            .collect()
    }

    pub(crate) fn recording(&self, id: RecordingId) -> Option<RecordingStats> {
        self.streamer()
            .recording_stats()
            .into_iter()
            .find(|r| r.id == id)
    }

    pub(crate) fn destinations(&self, ids: &[DestinationId]) -> Vec<DestinationStats> {
        self.streamer()
            .stats()
            .into_iter()
            .filter(|d| ids.contains(&d.id))
            .collect()
    }

    /// Why its encoder stopped early (see [`RunningEncoder::failure`]): its outputs have
    /// failed, and it takes no new ones. The first time it is seen, what feeds the encode is
    /// let go: the canvas's frames and the program sound are no longer queued for it, an
    /// input that feeds it goes on without it (it would wait for ever on an encoder that
    /// reads nothing), and its WebRTC viewers are told it ended.
    pub(crate) fn check_failure(&mut self) -> Option<&str> {
        if self.failure.is_none() {
            // (The encoder logged it.)
            let error = self.encoder.as_ref().and_then(RunningEncoder::failure)?;
            let failure = format!("encoding stopped: {}", chain(&error));
            self.let_go_of_feeds();
            self.gate.close();
            self.video.close();
            if let Some(audio) = &self.audio {
                audio.close();
            }
            // Each viewer's `left` event, with this reason, comes from the next look at the
            // viewers (`drop_closed`): an encode with viewers is not ended before that.
            self.viewers.end_all(&failure);
            self.failure = Some(failure);
        }
        self.failure.as_deref()
    }

    /// Why its encoder stopped early, as [`check_failure`](Self::check_failure) last saw.
    pub(crate) fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Whether its encoder stopped early (seen or not yet by
    /// [`check_failure`](Self::check_failure)).
    pub(crate) fn has_failed(&self) -> bool {
        self.failure.is_some() || self.encoder.as_ref().is_some_and(|e| e.failure().is_some())
    }

    /// The input's frames no longer come here.
    fn let_go_of_feeds(&self) {
        if let Some(fed) = &self.fed {
            fed.video.0.detach(fed.video.1);
            if let Some((feed, number)) = &fed.audio {
                feed.detach(*number);
            }
        }
    }

    /// Frames the encoder was given, and dropped because it fell behind.
    pub(crate) fn frames(&self) -> (u64, u64) {
        let stats = self.video.stats();
        (stats.pushed, stats.dropped)
    }

    /// Frames it dropped because it fell behind.
    pub(crate) fn dropped_frames(&self) -> u64 {
        self.video.dropped()
    }

    /// Ends the encode: the streamer finishes every branch left (recordings finalized, their
    /// reports returned).
    pub(crate) fn stop(&mut self) -> Option<StreamReport> {
        self.let_go_of_feeds();
        // The show is over: a destination still trying to connect (or to reconnect) is not
        // waited for, before the encoder finishes: with `wait_for_destinations`, packets wait
        // for destinations that are all reconnecting, and the encoder's last packets with them.
        if let Some(streamer) = &self.streamer {
            streamer.give_up_connecting();
        }
        // The frames given so far are encoded, then the packets end.
        self.gate.close();
        livekit_core::FrameTarget::end(&*self.video);
        if let Some(encoder) = self.encoder.take() {
            let (stats, result) = encoder.wait_counted();
            self.final_stats = Some(stats);
            // A failure seen while it ran was told already.
            if let Err(error) = result
                && self.failure.is_none()
            {
                tracing::warn!(canvas = %self.canvas, "encoder: {}", chain(&error));
            }
        }
        // Closed from the reader's side: the audio copy lets it go.
        if let Some(audio) = &self.audio {
            audio.close();
        }
        let streamer = self.streamer.take()?;
        let report = match self.drain {
            Some(limit) => streamer.wait_at_most(limit),
            None => streamer.wait(),
        };
        self.viewers.close_all();
        Some(report)
    }

    /// The encoder's counters now (or when it finished).
    pub(crate) fn encoder_stats(&self) -> Option<EncoderStats> {
        self.encoder
            .as_ref()
            .map(RunningEncoder::stats)
            .or(self.final_stats)
    }

    /// The size the encoder writes.
    pub(crate) fn size(&self) -> Option<(u32, u32)> {
        self.encoder.as_ref().and_then(|e| {
            e.streams().iter().find_map(|s| match s.params {
                livekit_core::StreamParams::Video { width, height, .. } => Some((width, height)),
                _ => None,
            })
        })
    }

    /// The encoder's name and counters (while it runs).
    pub(crate) fn encoder(&self) -> Option<&RunningEncoder> {
        self.encoder.as_ref()
    }
}

impl Drop for CanvasEncode {
    fn drop(&mut self) {
        if let Some(report) = self.stop() {
            for recording in report.recordings {
                if let Err(error) = recording.result {
                    tracing::warn!(canvas = %self.canvas, "{error}");
                }
            }
        }
    }
}

/// The sources an encoder of a canvas reads: its frames, and the program audio starting with
/// the first picture encoded (a canvas whose first frame comes late, a GPU starting, would
/// otherwise begin with a gap after the sound).
pub(crate) fn feeds(
    video: &Arc<Port<VideoFrame>>,
    audio: Option<&Arc<Port<AudioFrame>>>,
) -> (Arc<dyn VideoSource>, Option<Arc<dyn AudioSource>>) {
    let start = Arc::new(AtomicU64::new(0));
    let video = Arc::new(VideoFeed {
        port: video.clone(),
        start: start.clone(),
    }) as Arc<dyn VideoSource>;
    let audio = audio.map(|port| {
        Arc::new(AudioFeed {
            port: port.clone(),
            start,
        }) as Arc<dyn AudioSource>
    });
    (video, audio)
}

/// The canvas's frames as the encoder reads them: the first one's pts is noted (plus one
/// nanosecond, so that 0 means none yet) for [`AudioFeed`].
struct VideoFeed {
    port: Arc<Port<VideoFrame>>,
    start: Arc<AtomicU64>,
}

impl VideoFeed {
    fn note(&self, pull: Pull<VideoFrame>) -> Pull<VideoFrame> {
        if let Pull::Frame(frame) = &pull {
            let nanos = u64::try_from(frame.pts().as_nanos()).unwrap_or(u64::MAX - 1);
            let _ = self
                .start
                .compare_exchange(0, nanos + 1, Ordering::SeqCst, Ordering::SeqCst);
        }
        pull
    }
}

impl FrameSource<VideoFrame> for VideoFeed {
    fn latest(&self) -> Pull<VideoFrame> {
        self.note(self.port.latest())
    }

    fn next(&self, timeout: Duration) -> Pull<VideoFrame> {
        self.note(self.port.next(timeout))
    }
}

/// The program audio as the encoder reads it: nothing until the first picture is read, then
/// from that picture's time on (earlier blocks are let go; the copy of the program audio
/// drops its oldest while it waits).
struct AudioFeed {
    port: Arc<Port<AudioFrame>>,
    start: Arc<AtomicU64>,
}

impl FrameSource<AudioFrame> for AudioFeed {
    fn latest(&self) -> Pull<AudioFrame> {
        match self.start.load(Ordering::SeqCst) {
            0 => Pull::Pending,
            _ => self.port.latest(),
        }
    }

    fn next(&self, timeout: Duration) -> Pull<AudioFrame> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let left = deadline.map_or(Duration::MAX, |d| {
                d.saturating_duration_since(Instant::now())
            });
            let start = self.start.load(Ordering::SeqCst);
            if start == 0 {
                if left.is_zero() {
                    return Pull::Pending;
                }
                std::thread::sleep(left.min(Duration::from_millis(5)));
                continue;
            }
            let start = Duration::from_nanos(start - 1);
            match self.port.next(left) {
                Pull::Frame(frame) if frame.pts() < start => continue,
                other => return other,
            }
        }
    }
}

/// Resolves a stream output's sites and URLs, and the encode they need: WHIP destinations a
/// WebRTC one, the others the canvas's standard one (`standard_suits`: the standard one suits
/// WebRTC too, so all share it). Both kinds in one output are refused.
pub(crate) fn resolve_stream(
    output: &str,
    to: &[String],
    sites: &BTreeMap<String, SiteConfig>,
    standard_suits: bool,
) -> Result<(Vec<Destination>, Profile), CommandError> {
    if to.is_empty() {
        return Err(CommandError::invalid_on(
            "output",
            output,
            "`to` names no site or URL",
        ));
    }
    let destinations = Destination::resolve_all(to, sites)
        .map_err(|e| CommandError::invalid_on("output", output, chain(&e)))?;
    let whip = destinations
        .iter()
        .filter(|d| d.protocol == Protocol::Whip)
        .count();
    let profile = match whip {
        0 => Profile::Standard,
        _ if standard_suits => Profile::Standard,
        n if n == destinations.len() => Profile::WebRtc,
        _ => {
            return Err(CommandError::invalid_on(
                "output",
                output,
                "WHIP endpoints (http:// or https://) take a WebRTC encode and the other \
                 destinations another: give them as two outputs",
            ));
        }
    };
    Ok((destinations, profile))
}

/// A recording's state as an output's.
pub(crate) fn recording_state(stats: Option<&RecordingStats>) -> OutputState {
    match stats {
        None => OutputState::Stopped,
        Some(stats) => match stats.state {
            RecordingState::Recording if stats.packets == 0 => OutputState::Starting,
            RecordingState::Recording => OutputState::Live,
            RecordingState::Finished => OutputState::Stopped,
            RecordingState::Failed => OutputState::Failed {
                error: stats
                    .error
                    .clone()
                    .unwrap_or_else(|| "writing failed".to_owned()),
            },
        },
    }
}

/// A stream's state as an output's: live while any destination is; failed when all gave up.
pub(crate) fn stream_state(destinations: &[DestinationStats]) -> OutputState {
    if destinations
        .iter()
        .any(|d| d.state == DestinationState::Live)
    {
        OutputState::Live
    } else if !destinations.is_empty()
        && destinations
            .iter()
            .all(|d| d.state == DestinationState::Failed)
    {
        OutputState::Failed {
            error: destinations
                .iter()
                .filter_map(|d| d.last_error.as_ref().map(|e| format!("{}: {e}", d.name)))
                .collect::<Vec<_>>()
                .join("; "),
        }
    } else if destinations
        .iter()
        .all(|d| d.state == DestinationState::Stopped)
    {
        OutputState::Stopped
    } else {
        OutputState::Starting
    }
}

/// A destination as the state document shows it (its key redacted).
pub(crate) fn destination_doc(stats: &DestinationStats) -> DestinationStateDoc {
    DestinationStateDoc {
        name: stats.name.clone(),
        url: stats.url.clone(),
        state: stats.state.as_str().to_owned(),
        bitrate: stats.bitrate,
        bytes: stats.bytes,
        dropped_packets: stats.dropped_packets,
        reconnects: stats.reconnects,
        last_error: stats.last_error.clone(),
    }
}

/// At most `fps` frames a second from a port, for the encoder: a frame that comes less than
/// three quarters of a frame's time after the previous slot is skipped (a 60 fps file sent at
/// 30 keeps every other frame); slower video is not padded (a 25 fps file stays at 25).
/// An input's pictures for an encode with a sound track, from an input without sound: each
/// picture goes with silence up to its end, so the track runs with the pictures.
struct WithSilence {
    pictures: Arc<dyn livekit_core::FrameTarget<VideoFrame>>,
    sound: Arc<Port<AudioFrame>>,
    interval: Duration,
    /// Where the silence written so far ends (in 48 kHz samples from the first picture).
    written: parking_lot::Mutex<Option<(Duration, u64)>>,
}

/// The rate silence is written at.
const SILENCE_RATE: u32 = 48_000;

impl WithSilence {
    fn new(
        pictures: Arc<dyn livekit_core::FrameTarget<VideoFrame>>,
        sound: Arc<Port<AudioFrame>>,
        interval: Duration,
    ) -> Self {
        Self {
            pictures,
            sound,
            interval,
            written: parking_lot::Mutex::new(None),
        }
    }
}

impl livekit_core::FrameTarget<VideoFrame> for WithSilence {
    fn push(&self, frame: VideoFrame) -> Result<(), livekit_core::PushError> {
        self.push_unless(frame, &std::sync::atomic::AtomicBool::new(false))
    }

    fn push_unless(
        &self,
        frame: VideoFrame,
        stop: &std::sync::atomic::AtomicBool,
    ) -> Result<(), livekit_core::PushError> {
        let silence = {
            let mut written = self.written.lock();
            let (start, samples) = *written.get_or_insert((frame.pts(), 0));
            let until = (frame.pts() + self.interval).saturating_sub(start);
            let total = (until.as_secs_f64() * f64::from(SILENCE_RATE)).round() as u64;
            let count = total.saturating_sub(samples);
            if count == 0 {
                None
            } else {
                *written = Some((start, total));
                let pts = start + Duration::from_secs_f64(samples as f64 / f64::from(SILENCE_RATE));
                AudioFrame::silence(count as usize, SILENCE_RATE, 2, pts).ok()
            }
        };
        if let Some(silence) = silence {
            livekit_core::FrameTarget::push_unless(&*self.sound, silence, stop)?;
        }
        self.pictures.push_unless(frame, stop)
    }

    fn end(&self) {
        livekit_core::FrameTarget::end(&*self.sound);
        self.pictures.end();
    }
}

struct AtMostRate {
    inner: Arc<Port<VideoFrame>>,
    interval: Duration,
    /// When the next frame is due.
    due: parking_lot::Mutex<Option<Duration>>,
}

impl AtMostRate {
    fn new(inner: Arc<Port<VideoFrame>>, (num, den): (u32, u32)) -> Self {
        let interval = Duration::from_secs_f64(f64::from(den.max(1)) / f64::from(num.max(1)));
        Self {
            inner,
            interval,
            due: parking_lot::Mutex::new(None),
        }
    }
}

impl FrameSource<VideoFrame> for AtMostRate {
    fn latest(&self) -> Pull<VideoFrame> {
        self.inner.latest()
    }

    fn next(&self, timeout: Duration) -> Pull<VideoFrame> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let left = deadline.map_or(Duration::MAX, |d| {
                d.saturating_duration_since(Instant::now())
            });
            let frame = match self.inner.next(left) {
                Pull::Frame(frame) => frame,
                other => return other,
            };
            let pts = frame.pts();
            let mut due = self.due.lock();
            if let Some(at) = *due
                && pts + self.interval / 4 < at
            {
                continue;
            }
            *due = Some(match *due {
                // On time: the next slot; after a gap (or at the start): from this frame.
                Some(at) if pts < at + self.interval => at + self.interval,
                _ => pts + self.interval,
            });
            return Pull::Frame(frame);
        }
    }
}
