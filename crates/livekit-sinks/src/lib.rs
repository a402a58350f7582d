//! # livekit-sinks
//!
//! Where frames go: [`PngWriter`] (frames to PNG files) and [`Viewer`] (a preview window, winit
//! + wgpu). The recorder, the multi-destination streamer and IPC follow.
//!
//! Sinks depend on `livekit-core` only.

mod png_writer;
mod speaker;
#[cfg(target_os = "linux")]
mod speaker_pulse;
mod viewer;

pub use png_writer::{PngWriter, WritePngError};
pub use speaker::{OpenSpeakerError, Speaker, SpeakerSettings, SpeakerStats};
pub use viewer::{
    MAX_WINDOW_SIDE, OpenViewerError, ShowFrameError, Viewer, ViewerSettings, ViewerStats,
};
