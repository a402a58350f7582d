//! # livekit-sinks
//!
//! Where frames go: [`PngWriter`] (frames to PNG files) and [`Viewer`] (a preview window, winit
//! + wgpu). The recorder, the multi-destination streamer and IPC follow.
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
