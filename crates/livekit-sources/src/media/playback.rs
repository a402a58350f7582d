//! [`Playback`]: the controls a [`Player`] and a [`Playlist`] share, implemented once over the
//! engine (targets, start, pause, resume, seek, looping, stop, state, counters, events, wait),
//! with the [`PlayState`] and [`PlayerStats`] they report.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded};
use livekit_core::thread::{Worker, spawn_named};
use livekit_core::{AudioTarget, VideoTarget};
use parking_lot::Mutex;

use super::engine::{Command, Setup, Shared, Skip, Stamp, run};
use super::error::ControlError;
use super::events::{EventSink, PlayerEvent};
use super::sequence::Sequence;
use super::settings::PlayerSettings;
#[cfg(doc)]
use super::{Player, Playlist};

/// Commands queued for the thread; a full queue means the thread is blocked in a push.
const COMMAND_CAPACITY: usize = 16;

/// Where a playback is.
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
    /// [`stop`](Playback::stop) was called, or every target closed; the targets were ended.
    Stopped,
}

impl PlayState {
    /// Whether playback is over ([`Ended`](Self::Ended) or [`Stopped`](Self::Stopped)).
    pub(crate) fn is_finished(self) -> bool {
        matches!(self, Self::Ended | Self::Stopped)
    }
}

/// Counters of a playback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlayerStats {
    /// Video frames written.
    pub video_frames: u64,
    /// Audio frames written.
    pub audio_frames: u64,
    /// Video frames dropped because their time had passed by more than one frame (real-time
    /// pacing only).
    pub late_video_dropped: u64,
    /// Audio frames dropped because their end had passed by more than 20 ms (real-time pacing
    /// only: the player was held up for longer than its audio lead).
    pub late_audio_dropped: u64,
    /// Completed loops.
    pub loops: u64,
}

/// The controls of a playback thread, the same for a [`Player`] and a [`Playlist`]: both
/// dereference to a `Playback`, so `player.pause()` and `playlist.stats()` are these methods,
/// and code that only controls playback can take a `&Playback` of either.
///
/// Targets are added before [`start`](Self::start), which starts the thread; then
/// [`pause`](Self::pause), [`resume`](Self::resume), [`seek`](Self::seek),
/// [`set_looping`](Self::set_looping) and [`stop`](Self::stop) steer it, and
/// [`state`](Self::state), [`stats`](Self::stats), [`events`](Self::events) and
/// [`wait`](Self::wait) say where it is. Controls sent before `start` or after the end are a
/// [`ControlError`] naming the media.
///
/// ```no_run
/// use livekit_sources::{Playback, Player, PlayerSettings};
///
/// fn report(playback: &Playback) {
///     println!("{:?}: {:?}", playback.state(), playback.stats());
/// }
///
/// let player = Player::open("clip.mp4", PlayerSettings::default())?;
/// player.start()?;
/// report(&player);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Playback {
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

impl std::fmt::Debug for Playback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Playback")
            .field("name", &self.name)
            .field("state", &self.shared.state())
            .finish_non_exhaustive()
    }
}

impl Playback {
    /// A playback of `sequence`, ready for targets; its thread will be called `thread_name`.
    /// `stop` is the flag its readers watch; `seekable` says whether [`seek`](Self::seek) is
    /// allowed.
    pub(crate) fn new(
        name: String,
        sequence: Sequence,
        events: EventSink,
        stop: Arc<AtomicBool>,
        settings: &PlayerSettings,
        seekable: bool,
        thread_name: &'static str,
    ) -> Self {
        let (commands, commands_rx) = bounded(COMMAND_CAPACITY);
        Self {
            name,
            shared: Arc::new(Shared::new(settings.clock.clone(), settings.pacing)),
            commands,
            events,
            setup: Mutex::new(Some(Setup {
                sequence,
                video: Vec::new(),
                audio: Vec::new(),
                commands: commands_rx,
                seek_timestamps: settings.seek_timestamps,
            })),
            worker: Mutex::new(None),
            stop,
            audio_lead: settings.audio_lead,
            seekable,
            thread_name,
        }
    }

    /// Adds a video target (before [`start`](Self::start)). Every target gets every frame.
    pub fn add_video_target(&self, target: impl VideoTarget + 'static) -> Result<(), ControlError> {
        match &mut *self.setup.lock() {
            Some(setup) => {
                setup.video.push(Box::new(target));
                Ok(())
            }
            None => Err(ControlError::Running {
                name: self.name.clone(),
            }),
        }
    }

    /// Adds an audio target (before [`start`](Self::start)). Every target gets every frame.
    pub fn add_audio_target(&self, target: impl AudioTarget + 'static) -> Result<(), ControlError> {
        self.add_stamped_audio_target(Box::new(target), Stamp::Timeline)
    }

    /// Adds an audio target whose frames carry, instead of their place on the output
    /// timeline, the time on the player's clock ([`PlayerSettings::clock`]) at which they are
    /// due: give it to [`Mixer::add_timed_input`](livekit_core::Mixer::add_timed_input) on
    /// the same clock, and the sound stays with the pictures however late the player or the
    /// mixer runs (a sound written late is not heard late: it is mixed where it belongs, and
    /// what is already past is left out). In real time, frames are written
    /// [`PlayerSettings::audio_lead`] before that time. Before [`start`](Self::start).
    pub fn add_clock_audio_target(
        &self,
        target: impl AudioTarget + 'static,
    ) -> Result<(), ControlError> {
        self.add_stamped_audio_target(Box::new(target), Stamp::Clock)
    }

    fn add_stamped_audio_target(
        &self,
        target: Box<dyn AudioTarget>,
        stamp: Stamp,
    ) -> Result<(), ControlError> {
        match &mut *self.setup.lock() {
            Some(setup) => {
                setup.audio.push((target, stamp));
                Ok(())
            }
            None => Err(ControlError::Running {
                name: self.name.clone(),
            }),
        }
    }

    /// Starts the playback thread (`livekit.player` for a [`Player`], `livekit.playlist` for a
    /// [`Playlist`]). Once only.
    pub fn start(&self) -> Result<(), ControlError> {
        let Some(setup) = self.setup.lock().take() else {
            return Err(ControlError::AlreadyStarted {
                name: self.name.clone(),
            });
        };
        self.shared.start_timeline();
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

    /// Pauses: nothing is written and the position holds until [`resume`](Self::resume).
    pub fn pause(&self) -> Result<(), ControlError> {
        self.command(Command::Pause)?;
        self.shared.hold_timeline();
        Ok(())
    }

    /// Resumes after [`pause`](Self::pause).
    pub fn resume(&self) -> Result<(), ControlError> {
        self.command(Command::Resume)?;
        self.shared.release_timeline();
        Ok(())
    }

    /// Jumps to `to`. A seek that fails (an unreadable spot, a target past the end) is a
    /// [`PlayerEvent::Warning`] and playback goes on.
    ///
    /// In a [`Player`], `to` is media time: video restarts at the frame showing at `to`, audio
    /// at the sample; the timestamps go on rising or jump to `to` as
    /// [`PlayerSettings::seek_timestamps`] says. Files only (live URLs give
    /// [`ControlError::NotSeekable`]).
    ///
    /// In a [`Playlist`], `to` is on the list's timeline: its entries back to back in play
    /// order (this pass), each as long as its container says (entries not opened yet are
    /// opened to read it; those that fail take no time). The output timestamps keep rising:
    /// the entry at `to` plays from there on without a break. A target past the end, or past
    /// an entry of unknown length (a live URL), is a warning.
    pub fn seek(&self, to: Duration) -> Result<(), ControlError> {
        if !self.seekable {
            return Err(ControlError::NotSeekable {
                name: self.name.clone(),
            });
        }
        self.command(Command::Seek(to))
    }

    /// Turns looping (of a player's media, of a playlist's whole list) on or off, also while
    /// playing.
    pub fn set_looping(&self, looping: bool) -> Result<(), ControlError> {
        if let Some(setup) = &mut *self.setup.lock() {
            setup.sequence.set_looping(looping);
            return Ok(());
        }
        self.command(Command::Looping(looping))
    }

    /// Stops and waits for the thread; the targets are ended. A thread blocked on a full
    /// blocking target finishes once that target is read or closed.
    pub fn stop(&self) -> Result<(), ControlError> {
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

    /// The state now.
    pub fn state(&self) -> PlayState {
        self.shared.state()
    }

    /// Counters.
    pub fn stats(&self) -> PlayerStats {
        self.shared.stats()
    }

    /// The event channel (bounded; when nobody reads it the oldest events are dropped): a
    /// [`PlayerEvent::NowPlaying`] at each item (a playlist's entries), skips, warnings, loops,
    /// the end.
    pub fn events(&self) -> Receiver<PlayerEvent> {
        self.events.receiver()
    }

    /// Waits up to `timeout` for playback to end or stop; returns whether it did.
    pub fn wait(&self, timeout: Duration) -> bool {
        self.shared.wait_finished(timeout)
    }

    /// Goes to another entry (a [`Playlist`]'s skips).
    pub(crate) fn skip(&self, skip: Skip) -> Result<(), ControlError> {
        self.command(Command::Skip(skip))
    }

    /// The path or redacted URL (a playlist: "playlist of N").
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Where playback is in the current item's media (within the current loop pass).
    pub(crate) fn item_position(&self) -> Duration {
        self.shared.item_position()
    }

    /// Where playback is on the output timeline (counting earlier loops and items).
    pub(crate) fn timeline_position(&self) -> Duration {
        self.shared.position()
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
        // A full command queue means the thread is blocked in a push (an output that waits
        // for a destination): the caller is told, not held up with it.
        self.commands
            .try_send(command)
            .map_err(|error| match error {
                crossbeam_channel::TrySendError::Full(_) => ControlError::Busy {
                    name: self.name.clone(),
                },
                crossbeam_channel::TrySendError::Disconnected(_) => ControlError::Finished {
                    name: self.name.clone(),
                },
            })
    }
}

impl Drop for Playback {
    fn drop(&mut self) {
        // Ask the thread to finish; do not wait (it may be blocked on a full target).
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.commands.try_send(Command::Stop);
    }
}
