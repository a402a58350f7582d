//! The playback engine behind [`Playback`](super::Playback) (so behind both
//! [`Player`](super::Player) and [`Playlist`](super::Playlist)): the state the playback thread
//! shares with its handle (state, output timeline, counters), the commands it obeys, and the
//! thread itself: it decodes a little ahead, writes frames in time order (paced in real time or
//! free-running), obeys commands and ends the targets.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use livekit_core::{AudioFrame, AudioTarget, Clock, PushError, VideoFrame, VideoTarget};
use parking_lot::{Condvar, Mutex};

use super::error::PlayError;
use super::events::{EventSink, PlayerEvent};
use super::playback::{PlayState, PlayerStats};
use super::reader::{Decoded, ns_to_duration};
use super::sequence::Sequence;
use super::settings::{Pacing, SeekTimestamps};

/// How far past its end an audio frame may be written in real time before it is dropped
/// (a frame is written [`PlayerSettings::audio_lead`](super::PlayerSettings::audio_lead)
/// early, so only a player held up for longer than that gets here).
const LATE_AUDIO: Duration = Duration::from_millis(20);

/// How often a waiting player thread looks for commands.
const POLL: Duration = Duration::from_millis(20);

/// Decoded frames kept ahead of the output, per kind: enough to put the two streams in time
/// order whatever the file's interleaving.
const VIDEO_AHEAD: usize = 3;
const AUDIO_AHEAD: usize = 48;

/// What the handle asks of the thread.
#[derive(Debug)]
pub(crate) enum Command {
    Stop,
    Pause,
    Resume,
    Seek(Duration),
    Skip(Skip),
    Looping(bool),
}

/// Where a skip goes ([`Playlist`](super::Playlist)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skip {
    /// The next entry in play order (the end of a list that does not loop).
    Next,
    /// The previous entry in play order (the first one starts again).
    Previous,
    /// The entry at this index of the list as given.
    To(usize),
}

/// What the output has been written up to: where a seek or skip goes on from when the
/// timeline keeps rising.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Written {
    /// Timestamp (ns) of the last video frame written.
    pub last_video_ns: Option<i64>,
    /// Where that frame stops showing (ns).
    pub video_end_ns: Option<i64>,
    /// Where the last audio frame written ends (ns).
    pub audio_end_ns: Option<i64>,
}

impl Written {
    /// Where the output goes on: after the last video frame and the last audio sample.
    pub(crate) fn resume_ns(&self) -> i64 {
        self.video_end_ns
            .unwrap_or(0)
            .max(self.audio_end_ns.unwrap_or(0))
    }
}

/// Where the output timeline is.
#[derive(Debug, Default)]
struct Timeline {
    /// Clock time when `at_epoch` was the position.
    epoch: Duration,
    /// Output position at `epoch`.
    at_epoch: Duration,
    paused: bool,
    running: bool,
    /// Timestamp of the last frame written.
    last_pts: Duration,
    /// Output time (ns) of the current item's media time zero (negative after a seek far
    /// into it with rising timestamps).
    item_offset_ns: i64,
}

/// What the thread and its handle share: the state, the output timeline, the counters.
pub(crate) struct Shared {
    clock: Arc<dyn Clock>,
    pacing: Pacing,
    state: Mutex<PlayState>,
    changed: Condvar,
    timeline: Mutex<Timeline>,
    stats: Mutex<PlayerStats>,
}

impl Shared {
    /// A playback in [`PlayState::Ready`], at the start of its timeline.
    pub(crate) fn new(clock: Arc<dyn Clock>, pacing: Pacing) -> Self {
        Self {
            clock,
            pacing,
            state: Mutex::new(PlayState::Ready),
            changed: Condvar::new(),
            timeline: Mutex::new(Timeline::default()),
            stats: Mutex::new(PlayerStats::default()),
        }
    }

    /// The output position now.
    pub(crate) fn position(&self) -> Duration {
        let t = self.timeline.lock();
        match self.pacing {
            Pacing::FreeRunning => t.last_pts,
            Pacing::RealTime | Pacing::Paced if t.paused || !t.running => t.at_epoch,
            Pacing::RealTime | Pacing::Paced => {
                t.at_epoch + self.clock.now().saturating_sub(t.epoch)
            }
        }
    }

    /// The time on the clock at which the output timeline is (or was) at `pts`: now for a
    /// free-running playback, which has no such time.
    pub(crate) fn clock_time(&self, pts: Duration) -> Duration {
        let t = self.timeline.lock();
        match self.pacing {
            Pacing::FreeRunning => self.clock.now(),
            Pacing::RealTime | Pacing::Paced => {
                if pts >= t.at_epoch {
                    t.epoch + (pts - t.at_epoch)
                } else {
                    t.epoch.saturating_sub(t.at_epoch - pts)
                }
            }
        }
    }

    /// Where playback is in the current item's media (within its loop pass).
    pub(crate) fn item_position(&self) -> Duration {
        let offset = self.timeline.lock().item_offset_ns;
        let now = i64::try_from(self.position().as_nanos()).unwrap_or(i64::MAX);
        ns_to_duration(now.saturating_sub(offset))
    }

    /// The output timeline starts running now.
    pub(crate) fn start_timeline(&self) {
        let mut t = self.timeline.lock();
        t.epoch = self.clock.now();
        t.running = true;
    }

    /// The position holds from now on (a pause), whenever the thread sees the command.
    pub(crate) fn hold_timeline(&self) {
        let position = self.position();
        let mut t = self.timeline.lock();
        if !t.paused {
            t.at_epoch = position;
            t.paused = true;
        }
    }

    /// The position runs again from where it held (a resume).
    pub(crate) fn release_timeline(&self) {
        let mut t = self.timeline.lock();
        if t.paused {
            t.epoch = self.clock.now();
            t.paused = false;
        }
    }

    /// The state now.
    pub(crate) fn state(&self) -> PlayState {
        *self.state.lock()
    }

    /// Sets the state and wakes whoever waits for a change.
    pub(crate) fn set_state(&self, state: PlayState) {
        *self.state.lock() = state;
        self.changed.notify_all();
    }

    /// The counters now.
    pub(crate) fn stats(&self) -> PlayerStats {
        *self.stats.lock()
    }

    /// Waits up to `timeout` for the state to become [`Ended`](PlayState::Ended) or
    /// [`Stopped`](PlayState::Stopped); returns whether it did.
    pub(crate) fn wait_finished(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now().checked_add(timeout);
        let mut state = self.state.lock();
        while !state.is_finished() {
            match deadline {
                Some(deadline) => {
                    if self.changed.wait_until(&mut state, deadline).timed_out() {
                        return state.is_finished();
                    }
                }
                None => self.changed.wait(&mut state),
            }
        }
        true
    }
}

type VideoTargets = Vec<Box<dyn VideoTarget>>;
type AudioTargets = Vec<(Box<dyn AudioTarget>, Stamp)>;

/// What an audio target's frames are stamped with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stamp {
    /// Their place on the output timeline, like the pictures.
    Timeline,
    /// The time on the player's clock at which they are due (for a mixer that places sound
    /// by time: [`Mixer::add_timed_input`](livekit_core::Mixer::add_timed_input)).
    Clock,
}

/// What the thread takes at start (built up by the handle until then).
pub(crate) struct Setup {
    pub(crate) sequence: Sequence,
    pub(crate) video: VideoTargets,
    pub(crate) audio: AudioTargets,
    pub(crate) commands: Receiver<Command>,
    pub(crate) seek_timestamps: SeekTimestamps,
}

/// Why the thread's loop ended.
enum Finish {
    Ended,
    Stopped,
    Failed(PlayError),
    TargetsGone,
}

/// The targets frames go to; one that refuses a frame gets no more.
struct Output {
    video: VideoTargets,
    audio: AudioTargets,
    had_targets: bool,
    /// Set by `stop()`: a push waiting for room in a full blocking target gives up.
    stop: Arc<AtomicBool>,
}

impl Output {
    fn video(&mut self, frame: &VideoFrame) {
        let stop = &self.stop;
        self.video.retain(|t| match t.push_unless(frame.clone(), stop) {
            // Stopping: the frame is not needed; the target stays (it gets the end).
            Ok(()) | Err(PushError::Stopped) => true,
            Err(error) => {
                tracing::debug!(%error, "a video target refused a frame; no more frames for it");
                false
            }
        });
    }

    /// Writes `frame` to every audio target; those that want clock times get it at `due`.
    fn audio(&mut self, frame: &AudioFrame, due: Duration) {
        let stop = &self.stop;
        self.audio.retain(|(t, stamp)| {
            let frame = match stamp {
                Stamp::Timeline => frame.clone(),
                Stamp::Clock => frame.clone().with_pts(due),
            };
            match t.push_unless(frame, stop) {
                // Stopping: the frame is not needed; the target stays (it gets the end).
                Ok(()) | Err(PushError::Stopped) => true,
                Err(error) => {
                    tracing::debug!(
                        %error,
                        "an audio target refused a frame; no more frames for it"
                    );
                    false
                }
            }
        });
    }

    fn all_gone(&self) -> bool {
        self.had_targets && self.video.is_empty() && self.audio.is_empty()
    }

    fn end(&self) {
        for t in &self.video {
            t.end();
        }
        for (t, _) in &self.audio {
            t.end();
        }
    }
}

/// The player thread: decodes a little ahead, writes frames in time order (paced or not),
/// obeys commands, ends the targets.
pub(crate) fn run(
    setup: Setup,
    shared: &Shared,
    events: &EventSink,
    lead: Duration,
    name: &str,
    stop: Arc<AtomicBool>,
) {
    let Setup {
        mut sequence,
        video,
        audio,
        commands,
        seek_timestamps,
    } = setup;
    let mut out = Output {
        had_targets: !video.is_empty() || !audio.is_empty(),
        video,
        audio,
        stop,
    };
    let realtime = matches!(shared.pacing, Pacing::RealTime | Pacing::Paced);
    let drop_late = shared.pacing == Pacing::RealTime;
    let lead = if realtime { lead } else { Duration::ZERO };
    let mut pending_video: VecDeque<VideoFrame> = VecDeque::with_capacity(VIDEO_AHEAD);
    let mut pending_audio: VecDeque<AudioFrame> = VecDeque::with_capacity(AUDIO_AHEAD);
    let mut feed_done = false;
    let mut paused = false;
    let mut written = Written::default();

    let finish = 'play: loop {
        // Commands: without blocking, or waiting while paused.
        loop {
            let command = if paused {
                match commands.recv_timeout(POLL) {
                    Ok(c) => c,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => break 'play Finish::Stopped,
                }
            } else {
                match commands.try_recv() {
                    Ok(c) => c,
                    Err(_) => break,
                }
            };
            match command {
                Command::Stop => break 'play Finish::Stopped,
                // The caller already moved the timeline (`Engine::pause`/`resume`).
                Command::Pause if !paused => {
                    paused = true;
                    shared.set_state(PlayState::Paused);
                }
                Command::Resume if paused => {
                    paused = false;
                    shared.set_state(PlayState::Playing);
                }
                Command::Pause | Command::Resume => {}
                Command::Seek(to) => {
                    let rising = (seek_timestamps == SeekTimestamps::Rising).then_some(written);
                    match sequence.seek(to, rising) {
                        Ok(position) => {
                            pending_video.clear();
                            pending_audio.clear();
                            feed_done = false;
                            // Rising: the output timeline runs on as it was.
                            if rising.is_none() {
                                let mut t = shared.timeline.lock();
                                t.epoch = shared.clock.now();
                                t.at_epoch = position;
                                t.last_pts = position;
                            }
                        }
                        Err(message) => events.send(PlayerEvent::Warning(message)),
                    }
                }
                Command::Skip(skip) => match sequence.skip(skip, written) {
                    Ok(()) => {
                        pending_video.clear();
                        pending_audio.clear();
                        feed_done = false;
                    }
                    Err(message) => events.send(PlayerEvent::Warning(message)),
                },
                Command::Looping(looping) => sequence.set_looping(looping),
            }
        }

        // Decode until both kinds have a frame waiting (or one kind is full, or the end).
        while !feed_done
            && pending_video.len() < VIDEO_AHEAD
            && pending_audio.len() < AUDIO_AHEAD
            && (pending_video.is_empty() || pending_audio.is_empty())
        {
            match sequence.next() {
                Some(Decoded::Video(frame)) => pending_video.push_back(frame),
                Some(Decoded::Audio(frame)) => pending_audio.push_back(frame),
                None => {
                    feed_done = true;
                    if let Some(error) = sequence.take_failure() {
                        break 'play Finish::Failed(error);
                    }
                }
            }
        }
        {
            let mut t = shared.timeline.lock();
            // Past the last item the sequence's offset is where a next one would begin: the
            // position stays in the item that ended (it read 0 s once a file had ended).
            if !feed_done {
                t.item_offset_ns = sequence.item_offset_ns();
            }
            shared.stats.lock().loops = sequence.loops();
            drop(t);
        }

        // The frame due first.
        let due_video = pending_video.front().map(VideoFrame::pts);
        let due_audio = pending_audio.front().map(|f| f.pts().saturating_sub(lead));
        let take_video = match (due_video, due_audio) {
            (None, None) => {
                if feed_done {
                    break Finish::Ended;
                }
                continue;
            }
            (Some(_), None) => true,
            (None, Some(_)) => false,
            // Sound goes first on a tie: it is written ahead of its time anyway (the lead).
            (Some(v), Some(a)) => v < a,
        };
        let due = if take_video { due_video } else { due_audio }.unwrap_or_default();

        if realtime {
            let position = shared.position();
            if due > position {
                let deadline = {
                    let t = shared.timeline.lock();
                    t.epoch + due.saturating_sub(t.at_epoch)
                };
                shared.clock.wait_until(deadline, POLL);
                continue;
            }
        }

        if take_video {
            let Some(frame) = pending_video.pop_front() else {
                continue;
            };
            if drop_late {
                let position = shared.position();
                if position >= frame.pts() + sequence.frame_duration() {
                    shared.stats.lock().late_video_dropped += 1;
                    tracing::trace!(pts = ?frame.pts(), ?position, "late video frame dropped");
                    continue;
                }
            }
            out.video(&frame);
            shared.stats.lock().video_frames += 1;
            shared.timeline.lock().last_pts = frame.pts();
            let pts_ns = duration_ns(frame.pts());
            written.last_video_ns = Some(pts_ns);
            written.video_end_ns = Some(pts_ns + duration_ns(sequence.frame_duration()));
        } else {
            let Some(frame) = pending_audio.pop_front() else {
                continue;
            };
            // Sound whose time has passed (the thread was held up: a starved machine, a slow
            // read) is dropped like late pictures, so the two stay together: written late, it
            // would reach a live mix late and stay that far behind the pictures for good.
            if drop_late && shared.position() >= frame.end_pts() + LATE_AUDIO {
                shared.stats.lock().late_audio_dropped += 1;
                tracing::trace!(pts = ?frame.pts(), "late audio frame dropped");
                continue;
            }
            out.audio(&frame, shared.clock_time(frame.pts()));
            shared.stats.lock().audio_frames += 1;
            written.audio_end_ns = Some(duration_ns(frame.end_pts()));
            let mut t = shared.timeline.lock();
            t.last_pts = t.last_pts.max(frame.pts());
        }
        if out.all_gone() {
            break Finish::TargetsGone;
        }
    };

    out.end();
    match finish {
        Finish::Ended => {
            tracing::debug!(media = name, "end of stream");
            // The last event goes out before the state changes, so whoever waits for the end
            // finds it.
            events.send(PlayerEvent::EndOfStream);
            shared.set_state(PlayState::Ended);
        }
        Finish::Failed(error) => {
            tracing::warn!(%error, "playback failed");
            events.send(PlayerEvent::Failed(error));
            shared.set_state(PlayState::Ended);
        }
        Finish::Stopped => shared.set_state(PlayState::Stopped),
        Finish::TargetsGone => {
            tracing::info!(media = name, "every target closed; stopping");
            shared.set_state(PlayState::Stopped);
        }
    }
    shared.timeline.lock().running = false;
}

fn duration_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}
