//! How a playback is timed and read: [`PlayerSettings`] (shared by [`Player`](super::Player)
//! and, inside [`PlaylistSettings`](super::PlaylistSettings), [`Playlist`](super::Playlist)),
//! its [`Pacing`], what a seek does to timestamps ([`SeekTimestamps`]) and the defaults.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use livekit_core::{Clock, SystemClock};

use super::reader::ReaderSettings;
#[cfg(doc)]
use super::{Playback, Player, PlayerStats};

/// How far ahead of its time audio is written by default (audio consumers buffer it; video is
/// written on time).
pub const DEFAULT_AUDIO_LEAD: Duration = Duration::from_millis(100);

/// How long opening a file or URL may take by default.
pub const DEFAULT_OPEN_TIMEOUT: Duration = Duration::from_secs(15);

/// How long one read may wait for data by default (a stalled stream ends after this).
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How a player times its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pacing {
    /// Frames are written when their time comes on [`PlayerSettings::clock`]: audio
    /// [`PlayerSettings::audio_lead`] early, video on time; video frames more than one frame
    /// late are dropped and counted ([`PlayerStats::late_video_dropped`]), and so are audio
    /// frames that ended more than 20 ms ago ([`PlayerStats::late_audio_dropped`]).
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

/// What timestamps do after a [`seek`](Playback::seek).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SeekTimestamps {
    /// The output timeline keeps rising (default): after a seek, forward or back, frames go on
    /// from where the output was (video from just after the last frame written, audio from
    /// its last sample, to the sample), showing the media from the seek target. What a live
    /// output (an encoder, a stream) needs: its timestamps never go back.
    /// [`Player::position`] still says where in the media playback is.
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

    /// What the media readers of this playback open with; `stop` ends their blocking reads.
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
