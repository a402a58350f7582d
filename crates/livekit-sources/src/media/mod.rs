//! Media files and URLs through FFmpeg: [`probe`], [`Player`], [`LazyPlayer`] and [`Playlist`].
//!
//! Everything here decodes with the system FFmpeg (through `ffmpeg-next`). Video comes out as
//! [`VideoFrame`](livekit_core::VideoFrame)s in the decoder's own I420 or NV12 when it gives
//! one (other formats are converted with swscale to I420, or to RGBA when they carry alpha),
//! audio as interleaved f32 [`AudioFrame`](livekit_core::AudioFrame)s at [`AUDIO_RATE`] Hz
//! stereo (resampled with swresample; mono and surround are mixed to stereo).

mod error;
mod lazy_player;
mod name;
mod player;
mod playlist;
mod probe;
mod reader;
mod sequence;

pub use error::{ControlError, OpenMediaError, PlayError, ProbeError};
pub use lazy_player::{LazyPlayer, LazyPlayerSettings};
pub use name::redact_url;
pub use player::{
    DEFAULT_AUDIO_LEAD, DEFAULT_OPEN_TIMEOUT, DEFAULT_READ_TIMEOUT, Pacing, PlayState, Player,
    PlayerEvent, PlayerSettings, PlayerStats, SeekTimestamps,
};
pub use playlist::{Cover, NowPlaying, Playlist, PlaylistSettings, expand_glob};
pub use probe::{AudioInfo, CoverArtInfo, MediaInfo, StreamSummary, VideoInfo, probe};

/// The sample rate of every audio frame the players write.
pub const AUDIO_RATE: u32 = 48_000;

/// The channel count of every audio frame the players write (stereo, interleaved L R).
pub const AUDIO_CHANNELS: u16 = 2;

/// Initialises FFmpeg for the process (see `livekit_av::ffmpeg::init`).
pub(crate) fn init() {
    livekit_av::ffmpeg::init();
}
