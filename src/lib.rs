#![doc = include_str!("../README.md")]

pub use livekit_core::*;

/// Where frames and packets come from: image files, media files and URLs (`Player`,
/// `Playlist`, `LazyPlayer`, `PacketFile`), capture (cameras, screen, windows, microphones) and
/// frames from another process (`IpcSource`). The `livekit-sources` crate.
pub mod sources {
    pub use livekit_sources::*;
}

/// Scene compositing: canvases of layers rendered with wgpu or the CPU backend, scene files,
/// and the runner that paces it (the `livekit-compositor` crate).
pub mod compositor {
    pub use livekit_compositor::*;
}

/// The live show as one object, changed while it runs by commands (the `livekit-studio`
/// crate).
pub mod studio {
    pub use livekit_studio::*;
}

/// Where frames and packets go: PNG snapshots, the preview window, the encoder, the recorder,
/// the streamer (RTMP/RTMPS/SRT destinations), the speaker, the virtual camera and IPC (the
/// `livekit-sinks` crate).
pub mod sinks {
    pub use livekit_sinks::*;
}

/// The FFmpeg and audio-device glue that sources and sinks share: FFmpeg's initialisation and
/// log route, the interrupt for its blocking calls, stream descriptions to and from FFmpeg's,
/// audio hosts and devices (the `livekit-av` crate).
pub mod av {
    pub use livekit_av::*;
}

/// The types most programs use, in one import: `use livekit::prelude::*;`.
///
/// Ports, frames, clocks and pipes from the core; the common sources (image files, media
/// players and playlists, packet files, cameras, screen capture, microphones), the compositor
/// with its canvases, layers and transitions, and the common sinks (PNG writer, preview window,
/// encoder, recorder, streamer with its destinations).
///
/// ```
/// use livekit::prelude::*;
///
/// let port = Port::<VideoFrame>::latest();
/// let frame = VideoFrame::solid_rgba(64, 36, [255, 0, 0, 255], std::time::Duration::ZERO)?;
/// port.push(frame)?;
/// assert_eq!(port.latest().frame().map(|f| f.width()), Some(64));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub mod prelude {
    pub use livekit_compositor::{
        BackendChoice, CanvasSettings, Color, Compositor, CompositorHandle, Layer, OutputFormat,
        RunningCompositor, Text, Transition,
    };
    pub use livekit_core::{
        AudioFrame, AudioPort, AudioSource, AudioTarget, Clock, ColorSpace, FrameSource,
        FrameTarget, ManualClock, Packet, PipeEnd, PixelFormat, Port, Pull, SystemClock,
        VideoFrame, VideoPort, VideoSource, VideoTarget, pipe,
    };
    pub use livekit_sinks::stream::{Destination, Streamer, StreamerSettings};
    pub use livekit_sinks::{
        Container, Encoder, EncoderSettings, PngWriter, Recorder, RecorderSettings, Viewer,
        ViewerSettings,
    };
    pub use livekit_sources::capture::{
        Camera, CameraDevice, CameraSettings, Microphone, MicrophoneSettings, ScreenCapture,
        ScreenSettings,
    };
    pub use livekit_sources::{
        ImageFile, PacketFile, PacketFileSettings, Player, PlayerSettings, Playlist,
        PlaylistSettings,
    };
}
