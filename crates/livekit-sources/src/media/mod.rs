//! Media files and URLs through FFmpeg: [`probe`], [`Player`], [`LazyPlayer`] and [`Playlist`].
//!
//! The files: `reader/` opens and decodes one media (used by all of them); `engine.rs` is the
//! playback thread (pacing, commands) behind [`Playback`], the one control handle that
//! [`Player`] (`player.rs`) and [`Playlist`] (`playlist.rs`, its entries played in turn by
//! `sequence.rs`) dereference to; `settings.rs` and `events.rs` hold what they are given and
//! what they report.
//!
//! Everything here decodes with the system FFmpeg (through `ffmpeg-next`). Video comes out as
//! [`VideoFrame`](livekit_core::VideoFrame)s in the decoder's own I420 or NV12 when it gives
//! one (other formats are converted with swscale to I420, or to RGBA when they carry alpha),
//! audio as interleaved f32 [`AudioFrame`](livekit_core::AudioFrame)s at [`AUDIO_RATE`] Hz
//! stereo (resampled with swresample; mono and surround are mixed to stereo).

mod engine;
mod error;
mod events;
mod lazy_player;
mod name;
mod playback;
mod player;
mod playlist;
mod probe;
mod reader;
mod sequence;
mod settings;

pub use error::{ControlError, OpenMediaError, PlayError, ProbeError};
pub use events::PlayerEvent;
pub use lazy_player::{LazyPlayer, LazyPlayerSettings};
pub use name::redact_url;
pub use playback::{PlayState, Playback, PlayerStats};
pub use player::Player;
pub use playlist::{Cover, NowPlaying, Playlist, PlaylistSettings, expand_glob};
pub use probe::{AudioInfo, CoverArtInfo, MediaInfo, StreamSummary, VideoInfo, probe};
pub use settings::{
    DEFAULT_AUDIO_LEAD, DEFAULT_OPEN_TIMEOUT, DEFAULT_READ_TIMEOUT, Pacing, PlayerSettings,
    SeekTimestamps,
};

/// The sample rate of every audio frame the players write.
pub const AUDIO_RATE: u32 = 48_000;

/// The channel count of every audio frame the players write (stereo, interleaved L R).
pub const AUDIO_CHANNELS: u16 = 2;
