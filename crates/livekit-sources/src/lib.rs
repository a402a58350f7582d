//! # livekit-sources
//!
//! Where frames come from. Today: [`ImageFile`] (still and animated images), media files and
//! URLs ([`probe`], [`Player`], [`LazyPlayer`], [`Playlist`]), the compressed packets of a
//! file for pass-through ([`PacketFile`]), capture ([`capture`]: cameras, screen, windows,
//! microphones) and frames from another process ([`IpcSource`], Linux).
//!
//! Sources depend on `livekit-core` and `livekit-av` (the FFmpeg and audio glue they share with
//! the sinks) only.

pub mod capture;
mod image_file;
#[cfg(target_os = "linux")]
mod ipc_source;
mod media;
mod packets;

pub use image_file::{
    DEFAULT_FRAME_DELAY, DEFAULT_MAX_ANIMATION_BYTES, DEFAULT_MAX_SIDE, ImageFile, ImageSettings,
    MIN_FRAME_DELAY, OpenImageError,
};
#[cfg(target_os = "linux")]
pub use ipc_source::{IpcSource, IpcSourceSettings, RecvIpcError};
pub use livekit_av::AudioHost;
pub use media::{
    AUDIO_CHANNELS, AUDIO_RATE, AudioInfo, ControlError, Cover, CoverArtInfo, DEFAULT_AUDIO_LEAD,
    DEFAULT_OPEN_TIMEOUT, DEFAULT_READ_TIMEOUT, LazyPlayer, LazyPlayerSettings, MediaInfo,
    NowPlaying, OpenMediaError, Pacing, PlayError, PlayState, Playback, Player, PlayerEvent,
    PlayerSettings, PlayerStats, Playlist, PlaylistSettings, ProbeError, SeekTimestamps,
    StreamSummary, VideoInfo, expand_glob, probe, redact_url,
};
pub use packets::{
    OpenPacketsError, PacketFile, PacketFileSettings, PacketReader, ReadPacketsError,
};
