//! # livekit-sinks
//!
//! Where frames go: [`PngWriter`] (frames to PNG files), [`Viewer`] (a preview window, winit and
//! wgpu) and [`stream::Streamer`] (one packet stream to many RTMP/RTMPS/SRT destinations). The
//! recorder and IPC follow.
//!
//! Sinks depend on `livekit-core` only.

mod png_writer;
pub mod stream;
mod viewer;

pub use png_writer::{PngWriter, WritePngError};
pub use stream::{Destination, StreamKey, Streamer, StreamerSettings};
pub use viewer::{
    MAX_WINDOW_SIDE, OpenViewerError, ShowFrameError, Viewer, ViewerSettings, ViewerStats,
};
