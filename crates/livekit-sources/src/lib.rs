//! # livekit-sources
//!
//! Where frames come from. Today: [`ImageFile`] (still and animated images). Media files and
//! URLs, playlists, cameras, screen and window capture and microphones follow.
//!
//! Sources depend on `livekit-core` only.

mod image_file;
mod packets;

pub use image_file::{
    DEFAULT_FRAME_DELAY, DEFAULT_MAX_ANIMATION_BYTES, DEFAULT_MAX_SIDE, ImageFile, ImageSettings,
    MIN_FRAME_DELAY, OpenImageError,
};
pub use packets::{
    OpenPacketsError, PacketFile, PacketFileSettings, PacketReader, ReadPacketsError,
};
