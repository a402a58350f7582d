//! # livekit-sinks
//!
//! Where frames go. Today: [`PngWriter`] (frames to PNG files). The preview window, the
//! recorder, the multi-destination streamer and IPC follow.
//!
//! Sinks depend on `livekit-core` only.

mod png_writer;

pub use png_writer::{PngWriter, WritePngError};
