//! # livekit-sources
//!
//! Where frames come from. Today: [`ImageFile`] (still and animated images). Media files and
//! URLs, playlists, cameras, screen and window capture and microphones follow.
//!
//! Sources depend on `livekit-core` only.

pub mod capture;
mod image_file;

pub use image_file::{
    DEFAULT_FRAME_DELAY, DEFAULT_MAX_ANIMATION_BYTES, DEFAULT_MAX_SIDE, ImageFile, ImageSettings,
    MIN_FRAME_DELAY, OpenImageError,
};
