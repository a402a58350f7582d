#![doc = include_str!("../README.md")]

pub use livekit_core::*;

/// Where frames come from: image files today; media files, playlists, cameras, screen, window
/// and microphone capture as they land (the `livekit-sources` crate).
pub mod sources {
    pub use livekit_sources::*;
}

/// Scene compositing: canvases of layers rendered with wgpu or the CPU backend (the
/// `livekit-compositor` crate).
pub mod compositor {
    pub use livekit_compositor::*;
}

/// Where frames go: PNG snapshots today; preview window, recorder, streamer and IPC as they land
/// (the `livekit-sinks` crate).
pub mod sinks {
    pub use livekit_sinks::*;
}
