//! [`Player`]: a media file or URL decoded on its own thread into video and audio targets,
//! paced in real time or free-running. The engine here also drives [`Playlist`](super::Playlist).

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};
use livekit_core::thread::{Worker, spawn_named};
use livekit_core::{
    AudioFrame, AudioTarget, Clock, PushError, SystemClock, VideoFrame, VideoTarget,
};
use parking_lot::{Condvar, Mutex};

use super::error::{ControlError, OpenMediaError, PlayError};
use super::name::Location;
use super::playlist::NowPlaying;
use super::probe::{MediaInfo, probe_location};
use super::reader::{Decoded, MediaReader, ReaderSettings, ns_to_duration};
use super::sequence::{CoverSource, Sequence, SequenceSettings};

/// How far ahead of its time audio is written by default (audio consumers buffer it; video is
/// written on time).
pub const DEFAULT_AUDIO_LEAD: Duration = Duration::from_millis(100);

/// How long opening a file or URL may take by default.
pub const DEFAULT_OPEN_TIMEOUT: Duration = Duration::from_secs(15);

/// How long one read may wait for data by default (a stalled stream ends after this).
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Events kept for a reader that does not read them; older ones are dropped first.
const EVENT_CAPACITY: usize = 64;

const COMMAND_CAPACITY: usize = 16;

/// How often a waiting player thread looks for commands.
const POLL: Duration = Duration::from_millis(20);

/// Decoded frames kept ahead of the output, per kind: enough to put the two streams in time
/// order whatever the file's interleaving.
const VIDEO_AHEAD: usize = 3;
const AUDIO_AHEAD: usize = 48;

/// How a player times its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pacing {
    /// Frames are written when their time comes on [`PlayerSettings::clock`]: audio
    /// [`PlayerSettings::audio_lead`] early, video on time; video frames more than one frame
    /// late are dropped and counted ([`PlayerStats::late_video_dropped`]).
    #[default]
    RealTime,
    /// Frames are written as fast as the targets take them, in time order; nothing is
    /// dropped. Use blocking targets ([`Port::blocking`](livekit_core::Port::blocking)).
    FreeRunning,
    /// Frames are written no earlier than their time on [`PlayerSettings::clock`] (audio
    /// [`PlayerSettings::audio_lead`] early), but none is dropped for being late: when the
    /// targets are slower, playback falls behind the clock and catches up as fast as they
    /// allow, like FFmpeg's `-re` and `-readrate`. Use blocking targets.
    Paced,
}

/// What timestamps do after a [`Player::seek`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SeekTimestamps {
    /// The output timeline keeps rising (default): after a seek, forward or back, frames go on
    /// from where the output was (video from just after the last frame written, audio from
    /// its last sample, to the sample), showing the media from the seek target. What a live
    /// output (an encoder, a stream) needs: its timestamps never go back. [`Player::position`]
    /// still says where in the media playback is.
    #[default]
    Rising,
    /// Timestamps follow the media: after a seek to `t` they continue from `t` (plus the
    /// loops before), so they go back after a backward seek. For offline work that wants the
    /// media's own times.
    MediaTime,
}

/// Settings of a [`Player`].
#[derive(Debug, Clone)]
pub struct PlayerSettings {
    /// Real time (default) or free-running.
    pub pacing: Pacing,
    /// The clock of real-time pacing (default: a [`SystemClock`]). Tests pass a
    /// [`ManualClock`](livekit_core::ManualClock).
    pub clock: Arc<dyn Clock>,
    /// Start again at the end, for ever (default `false`). Timestamps keep rising.
    pub looping: bool,
    /// Decode the video stream (default `true`).
    pub video: bool,
    /// Decode the audio stream (default `true`).
    pub audio: bool,
    /// How far ahead of its time audio is written in real time (default
    /// [`DEFAULT_AUDIO_LEAD`]).
    pub audio_lead: Duration,
    /// Decoder threads; 0 (default) lets FFmpeg use one per core.
    pub threads: usize,
    /// Timestamps after a seek (default [`SeekTimestamps::Rising`]; a
    /// [`Playlist`](super::Playlist) always rises).
    pub seek_timestamps: SeekTimestamps,
    /// How long opening may take (default [`DEFAULT_OPEN_TIMEOUT`]).
    pub open_timeout: Duration,
    /// How long a read may wait for data before the stream is taken as ended (default
    /// [`DEFAULT_READ_TIMEOUT`]).
    pub read_timeout: Duration,
}

impl Default for PlayerSettings {
    fn default() -> Self {
        Self {
            pacing: Pacing::RealTime,
            clock: Arc::new(SystemClock::new()),
            looping: false,
            video: true,
            audio: true,
            audio_lead: DEFAULT_AUDIO_LEAD,
            threads: 0,
            seek_timestamps: SeekTimestamps::Rising,
            open_timeout: DEFAULT_OPEN_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
        }
    }
}

impl PlayerSettings {
    /// Default settings with [`Pacing::FreeRunning`].
    pub fn free_running() -> Self {
        Self {
            pacing: Pacing::FreeRunning,
            ..Self::default()
        }
    }

    pub(crate) fn reader(&self, stop: &Arc<AtomicBool>) -> ReaderSettings {
        ReaderSettings {
            video: self.video,
            audio: self.audio,
            threads: self.threads,
            open_timeout: self.open_timeout,
            read_timeout: self.read_timeout,
            stop: Some(stop.clone()),
        }
    }
}

/// Where a player is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayState {
    /// Opened, not started: targets can be added.
    Ready,
    /// Writing frames.
    Playing,
    /// Paused: nothing is written.
    Paused,
    /// The media ended (or failed: see [`PlayerEvent::Failed`]); the targets were ended.
    Ended,
    /// [`stop`](Player::stop) was called, or every target closed; the targets were ended.
    Stopped,
}

impl PlayState {
    fn is_finished(self) -> bool {
        matches!(self, Self::Ended | Self::Stopped)
    }
}

/// What a player reports on its event channel ([`Player::events`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PlayerEvent {
    /// An item began (a player's file at the start; each playlist entry).
    NowPlaying(NowPlaying),
    /// A playlist entry could not be opened and was skipped.
    Skipped(OpenMediaError),
    /// Something the viewer may notice: corrupt data skipped, a truncated file, a stalled
    /// stream. Each names the file or URL. The player logs it too (a `tracing` warning).
    Warning(String),
    /// The media (or list) started over; `count` loops so far.
    Looped {
        /// Loops so far.
        count: u64,
    },
    /// Everything was played; the targets were ended. The last event of a player that was not
    /// stopped or failed.
    EndOfStream,
    /// Playback could not go on; the targets were ended. The last event.
    Failed(PlayError),
}

/// Counters of a player.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlayerStats {
    /// Video frames written.
    pub video_frames: u64,
    /// Audio frames written.
    pub audio_frames: u64,
    /// Video frames dropped because their time had passed by more than one frame (real-time
    /// pacing only).
    pub late_video_dropped: u64,
    /// Completed loops.
    pub loops: u64,
}

/// The sending side of the event channel: bounded, and when full the oldest event goes.
#[derive(Debug, Clone)]
pub(crate) struct EventSink {
    tx: Sender<PlayerEvent>,
    rx: Receiver<PlayerEvent>,
}

impl EventSink {
    pub(crate) fn new() -> Self {
        let (tx, rx) = bounded(EVENT_CAPACITY);
        Self { tx, rx }
    }

    /// Sends `event`, dropping the oldest unread one when the channel is full. A warning is
    /// also logged here, once (whoever reads the events need not log it again).
    pub(crate) fn send(&self, event: PlayerEvent) {
        if let PlayerEvent::Warning(message) = &event {
            tracing::warn!("{message}");
        }
        if let Err(TrySendError::Full(event)) = self.tx.try_send(event) {
            let _ = self.rx.try_recv();
            let _ = self.tx.try_send(event);
        }
    }
}

#[derive(Debug)]
enum Command {
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

struct Shared {
    clock: Arc<dyn Clock>,
    pacing: Pacing,
    state: Mutex<PlayState>,
    changed: Condvar,
    timeline: Mutex<Timeline>,
    stats: Mutex<PlayerStats>,
}

impl Shared {
    /// The output position now.
    fn position(&self) -> Duration {
        let t = self.timeline.lock();
        match self.pacing {
            Pacing::FreeRunning => t.last_pts,
            Pacing::RealTime | Pacing::Paced if t.paused || !t.running => t.at_epoch,
            Pacing::RealTime | Pacing::Paced => {
                t.at_epoch + self.clock.now().saturating_sub(t.epoch)
            }
        }
    }

    fn set_state(&self, state: PlayState) {
        *self.state.lock() = state;
        self.changed.notify_all();
    }
}

type VideoTargets = Vec<Box<dyn VideoTarget>>;
type AudioTargets = Vec<Box<dyn AudioTarget>>;

/// What the thread takes at start.
struct Setup {
    sequence: Sequence,
    video: VideoTargets,
    audio: AudioTargets,
    commands: Receiver<Command>,
    seek_timestamps: SeekTimestamps,
}

/// The thread and controls shared by [`Player`] and [`Playlist`](super::Playlist).
pub(crate) struct Engine {
    name: String,
    shared: Arc<Shared>,
    commands: Sender<Command>,
    events: EventSink,
    setup: Mutex<Option<Setup>>,
    worker: Mutex<Option<Worker<()>>>,
    stop: Arc<AtomicBool>,
    audio_lead: Duration,
    seekable: bool,
    thread_name: &'static str,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("name", &self.name)
            .field("state", &*self.shared.state.lock())
            .finish_non_exhaustive()
    }
}

impl Engine {
    pub(crate) fn new(
        name: String,
        sequence: Sequence,
        events: EventSink,
        stop: Arc<AtomicBool>,
        settings: &PlayerSettings,
        seekable: bool,
        thread_name: &'static str,
    ) -> Self {
        let seek_timestamps = settings.seek_timestamps;
        let (commands, commands_rx) = bounded(COMMAND_CAPACITY);
        Self {
            name,
            shared: Arc::new(Shared {
                clock: settings.clock.clone(),
                pacing: settings.pacing,
                state: Mutex::new(PlayState::Ready),
                changed: Condvar::new(),
                timeline: Mutex::new(Timeline::default()),
                stats: Mutex::new(PlayerStats::default()),
            }),
            commands,
            events,
            setup: Mutex::new(Some(Setup {
                sequence,
                video: Vec::new(),
                audio: Vec::new(),
                commands: commands_rx,
                seek_timestamps,
            })),
            worker: Mutex::new(None),
            stop,
            audio_lead: settings.audio_lead,
            seekable,
            thread_name,
        }
    }

    pub(crate) fn add_video_target(
        &self,
        target: Box<dyn VideoTarget>,
    ) -> Result<(), ControlError> {
        match &mut *self.setup.lock() {
            Some(setup) => {
                setup.video.push(target);
                Ok(())
            }
            None => Err(ControlError::Running {
                name: self.name.clone(),
            }),
        }
    }

    pub(crate) fn add_audio_target(
        &self,
        target: Box<dyn AudioTarget>,
    ) -> Result<(), ControlError> {
        match &mut *self.setup.lock() {
            Some(setup) => {
                setup.audio.push(target);
                Ok(())
            }
            None => Err(ControlError::Running {
                name: self.name.clone(),
            }),
        }
    }

    pub(crate) fn start(&self) -> Result<(), ControlError> {
        let Some(setup) = self.setup.lock().take() else {
            return Err(ControlError::AlreadyStarted {
                name: self.name.clone(),
            });
        };
        {
            let mut t = self.shared.timeline.lock();
            t.epoch = self.shared.clock.now();
            t.running = true;
        }
        self.shared.set_state(PlayState::Playing);
        let shared = self.shared.clone();
        let events = self.events.clone();
        let lead = self.audio_lead;
        let name = self.name.clone();
        let stop = self.stop.clone();
        let worker = spawn_named(self.thread_name, move || {
            run(setup, &shared, &events, lead, &name, stop);
        })
        .map_err(|e| {
            self.shared.set_state(PlayState::Stopped);
            ControlError::Thread {
                name: self.name.clone(),
                detail: e.to_string(),
            }
        })?;
        *self.worker.lock() = Some(worker);
        Ok(())
    }

    fn command(&self, command: Command) -> Result<(), ControlError> {
        let state = self.state();
        if state == PlayState::Ready {
            return Err(ControlError::NotStarted {
                name: self.name.clone(),
            });
        }
        if state.is_finished() {
            return Err(ControlError::Finished {
                name: self.name.clone(),
            });
        }
        // A full command queue means the thread is blocked in a push; the command waits.
        self.commands
            .send(command)
            .map_err(|_| ControlError::Finished {
                name: self.name.clone(),
            })
    }

    pub(crate) fn pause(&self) -> Result<(), ControlError> {
        self.command(Command::Pause)?;
        // The position holds from now on, whenever the thread sees the command.
        let position = self.shared.position();
        let mut t = self.shared.timeline.lock();
        if !t.paused {
            t.at_epoch = position;
            t.paused = true;
        }
        Ok(())
    }

    pub(crate) fn resume(&self) -> Result<(), ControlError> {
        self.command(Command::Resume)?;
        let mut t = self.shared.timeline.lock();
        if t.paused {
            t.epoch = self.shared.clock.now();
            t.paused = false;
        }
        Ok(())
    }

    pub(crate) fn seek(&self, to: Duration) -> Result<(), ControlError> {
        if !self.seekable {
            return Err(ControlError::NotSeekable {
                name: self.name.clone(),
            });
        }
        self.command(Command::Seek(to))
    }

    pub(crate) fn skip(&self, skip: Skip) -> Result<(), ControlError> {
        self.command(Command::Skip(skip))
    }

    pub(crate) fn set_looping(&self, looping: bool) -> Result<(), ControlError> {
        if let Some(setup) = &mut *self.setup.lock() {
            setup.sequence.set_looping(looping);
            return Ok(());
        }
        self.command(Command::Looping(looping))
    }

    pub(crate) fn stop(&self) -> Result<(), ControlError> {
        self.stop.store(true, Ordering::Relaxed);
        if self.setup.lock().take().is_some() {
            self.shared.set_state(PlayState::Stopped);
            return Ok(());
        }
        let _ = self.commands.try_send(Command::Stop);
        let worker = self.worker.lock().take();
        if let Some(worker) = worker {
            worker.join().map_err(|_| ControlError::Panicked {
                name: self.name.clone(),
            })?;
        }
        Ok(())
    }

    pub(crate) fn state(&self) -> PlayState {
        *self.shared.state.lock()
    }

    pub(crate) fn position(&self) -> Duration {
        let offset = self.shared.timeline.lock().item_offset_ns;
        let now = i64::try_from(self.shared.position().as_nanos()).unwrap_or(i64::MAX);
        ns_to_duration(now.saturating_sub(offset))
    }

    pub(crate) fn timeline_position(&self) -> Duration {
        self.shared.position()
    }

    pub(crate) fn stats(&self) -> PlayerStats {
        *self.shared.stats.lock()
    }

    pub(crate) fn events(&self) -> Receiver<PlayerEvent> {
        self.events.rx.clone()
    }

    pub(crate) fn wait(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now().checked_add(timeout);
        let mut state = self.shared.state.lock();
        while !state.is_finished() {
            match deadline {
                Some(deadline) => {
                    if self
                        .shared
                        .changed
                        .wait_until(&mut state, deadline)
                        .timed_out()
                    {
                        return state.is_finished();
                    }
                }
                None => self.shared.changed.wait(&mut state),
            }
        }
        true
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Ask the thread to finish; do not wait (it may be blocked on a full target).
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.commands.try_send(Command::Stop);
    }
}

/// Why the thread's loop ended.
enum Finish {
    Ended,
    Stopped,
    Failed(PlayError),
    TargetsGone,
}

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

    fn audio(&mut self, frame: &AudioFrame) {
        let stop = &self.stop;
        self.audio.retain(|t| match t.push_unless(frame.clone(), stop) {
            // Stopping: the frame is not needed; the target stays (it gets the end).
            Ok(()) | Err(PushError::Stopped) => true,
            Err(error) => {
                tracing::debug!(%error, "an audio target refused a frame; no more frames for it");
                false
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
        for t in &self.audio {
            t.end();
        }
    }
}

/// The player thread: decodes a little ahead, writes frames in time order (paced or not),
/// obeys commands, ends the targets.
fn run(
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
            t.item_offset_ns = sequence.item_offset_ns();
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
            (Some(v), Some(a)) => v <= a,
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
            out.audio(&frame);
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

/// A media file or URL played into [`VideoTarget`]s and [`AudioTarget`]s on its own thread.
///
/// Opens what FFmpeg reads (mp4, mkv, webm, mov, avi, flv, mp3, aac, m4a, wav, flac, ogg, and
/// `rtmp://`, `srt://`, `http(s)://` including HLS). Video frames keep the decoder's I420 or
/// NV12 (other formats become I420, or RGBA when they have alpha) and are turned upright when
/// the stream has rotation metadata; audio is 48 kHz stereo f32.
///
/// Timestamps start at zero and keep rising across loops and, by default, across seeks (a
/// live output never sees time go back; [`SeekTimestamps::MediaTime`] makes them follow the
/// media instead). Audio timestamps come from a sample count, so the two streams cannot drift
/// apart however long the playback.
///
/// Pacing ([`PlayerSettings::pacing`]): in real time the clock decides the position; audio is
/// written [`PlayerSettings::audio_lead`] before its time, video on time against the same
/// position (the audio clock: with audio present, the position is where the audio is), and a
/// video frame more than one frame late is dropped and counted, never queued. Free-running
/// writes everything in time order as fast as the targets take it (blocking targets: nothing
/// is lost).
///
/// The end: [`PlayerEvent::EndOfStream`] on [`events`](Self::events) (a bounded channel that
/// drops its oldest event when nobody reads it), the targets' `end()`, and
/// [`wait`](Self::wait) returns.
///
/// ```no_run
/// use livekit_core::{Port, VideoFrame, AudioFrame};
/// use livekit_sources::{Player, PlayerSettings};
///
/// let video = Port::<VideoFrame>::latest();
/// let audio = Port::<AudioFrame>::drop_oldest(64);
/// let player = Player::open("clip.mp4", PlayerSettings::default())?;
/// player.add_video_target(video.clone())?;
/// player.add_audio_target(audio.clone())?;
/// player.start()?;
/// player.wait(std::time::Duration::MAX);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Player {
    engine: Engine,
    info: Option<MediaInfo>,
    duration: Option<Duration>,
}

impl Player {
    /// Opens a file or URL (an `&str`, `String`, `Path` or `PathBuf`; text with `://` is a URL).
    /// Blocks until the media is open (at most [`PlayerSettings::open_timeout`]).
    pub fn open(
        path_or_url: impl AsRef<Path>,
        settings: PlayerSettings,
    ) -> Result<Self, OpenMediaError> {
        let location = Location::from_path(path_or_url.as_ref());
        let stop = Arc::new(AtomicBool::new(false));
        let reader = MediaReader::open(&location, &settings.reader(&stop))?;
        let info = if location.is_url() {
            None
        } else {
            probe_location(&location).ok()
        };
        let duration = reader.duration();
        let seekable = !reader.is_url();
        let name = reader.name().to_owned();
        let events = EventSink::new();
        let sequence = Sequence::new(
            vec![location],
            vec![0],
            (0, reader),
            SequenceSettings {
                looping: settings.looping,
                continuous_audio: false,
                cover: CoverSource::Nothing,
                album_art: false,
                captions: false,
                reader: settings.reader(&stop),
                shuffle: None,
                playlist: false,
            },
            events.clone(),
            Arc::new(Mutex::new(None)),
        );
        let engine = Engine::new(
            name,
            sequence,
            events,
            stop,
            &settings,
            seekable,
            "livekit-player",
        );
        Ok(Self {
            engine,
            info,
            duration,
        })
    }

    /// The path or redacted URL.
    pub fn name(&self) -> &str {
        self.engine.name()
    }

    /// What [`probe`](super::probe) says about a file (`None` for URLs).
    pub fn info(&self) -> Option<&MediaInfo> {
        self.info.as_ref()
    }

    /// Adds a video target (before [`start`](Self::start)). Every target gets every frame.
    pub fn add_video_target(&self, target: impl VideoTarget + 'static) -> Result<(), ControlError> {
        self.engine.add_video_target(Box::new(target))
    }

    /// Adds an audio target (before [`start`](Self::start)). Every target gets every frame.
    pub fn add_audio_target(&self, target: impl AudioTarget + 'static) -> Result<(), ControlError> {
        self.engine.add_audio_target(Box::new(target))
    }

    /// Starts the playback thread (`livekit-player`). Once only.
    pub fn start(&self) -> Result<(), ControlError> {
        self.engine.start()
    }

    /// Pauses: nothing is written and the position holds until [`resume`](Self::resume).
    pub fn pause(&self) -> Result<(), ControlError> {
        self.engine.pause()
    }

    /// Resumes after [`pause`](Self::pause).
    pub fn resume(&self) -> Result<(), ControlError> {
        self.engine.resume()
    }

    /// Jumps to `to` (media time). Video restarts at the frame showing at `to`, audio at the
    /// sample; the timestamps go on rising or jump to `to` as
    /// [`PlayerSettings::seek_timestamps`] says. Files only (live URLs give
    /// [`ControlError::NotSeekable`]). A seek that fails (an unreadable spot) is a
    /// [`PlayerEvent::Warning`] and playback goes on.
    pub fn seek(&self, to: Duration) -> Result<(), ControlError> {
        self.engine.seek(to)
    }

    /// Turns looping on or off, also while playing.
    pub fn set_looping(&self, looping: bool) -> Result<(), ControlError> {
        self.engine.set_looping(looping)
    }

    /// Stops and waits for the thread; the targets are ended. A thread blocked on a full
    /// blocking target finishes once that target is read or closed.
    pub fn stop(&self) -> Result<(), ControlError> {
        self.engine.stop()
    }

    /// Where playback is in the media (within the current loop pass).
    pub fn position(&self) -> Duration {
        self.engine.position()
    }

    /// Where playback is on the output timeline (counting earlier loops).
    pub fn timeline_position(&self) -> Duration {
        self.engine.timeline_position()
    }

    /// The media's duration, when known (not for live streams).
    pub fn duration(&self) -> Option<Duration> {
        self.duration
    }

    /// The state now.
    pub fn state(&self) -> PlayState {
        self.engine.state()
    }

    /// Counters.
    pub fn stats(&self) -> PlayerStats {
        self.engine.stats()
    }

    /// The event channel (bounded; when nobody reads it the oldest events are dropped).
    pub fn events(&self) -> Receiver<PlayerEvent> {
        self.engine.events()
    }

    /// Waits up to `timeout` for the player to end or stop; returns whether it did.
    pub fn wait(&self, timeout: Duration) -> bool {
        self.engine.wait(timeout)
    }
}
