//! # livekit-sinks
//!
//! Where frames go: [`PngWriter`] (frames to PNG files), [`Viewer`] (a preview window with winit
//! and wgpu), [`Encoder`] (H.264 + AAC packets into a `Port<Packet>`), [`Recorder`] (packets
//! into MP4, MKV, MOV or FLV), [`stream::Streamer`] (one packet stream to many
//! RTMP/RTMPS/SRT destinations and recordings, added and removed while it runs), [`Speaker`] (audio to a sound device), [`VirtualCamera`]
//! (frames to a v4l2loopback device, a webcam for other programs) and [`IpcTarget`] (frames to other processes through shared memory,
//! Linux).
//!
//! Sinks depend on `livekit-core` and `livekit-av` (the FFmpeg and audio glue they share with
//! the sources) only.

mod encode;
#[cfg(target_os = "linux")]
mod ipc_target;
mod mkv_duration;
mod png_writer;
mod recorder;
mod speaker;
#[cfg(target_os = "linux")]
mod speaker_pulse;
pub mod stream;
mod viewer;
mod virtual_camera;
pub mod webrtc;

#[cfg(feature = "fault-injection")]
pub use encode::faults as encoder_faults;
pub use encode::{
    AudioCodec, AudioSettings, EncodeError, Encoder, EncoderSettings, EncoderStats, H264Encoder,
    KeyframeRequest, RateControl, RunningEncoder, StartEncoderError, UnknownEncoder, VideoCodec,
    VideoSettings, default_video_kbps,
};
#[cfg(target_os = "linux")]
pub use ipc_target::IpcTarget;
pub use livekit_av::AudioHost;
pub use mkv_duration::reserved_duration as matroska_reserved_duration;
pub use png_writer::{PngWriter, WritePngError};
pub use recorder::{
    Container, HlsSegments, HlsSettings, RecordError, Recorder, RecorderSettings, RecorderStats,
    RecordingSummary, RunningRecorder, StartRecorderError,
};
pub use speaker::{OpenSpeakerError, Speaker, SpeakerSettings, SpeakerStats};
pub use stream::{Destination, StreamKey, Streamer, StreamerSettings};
pub use viewer::{
    MAX_WINDOW_SIDE, OpenViewerError, ShowFrameError, Viewer, ViewerSettings, ViewerStats,
};
pub use virtual_camera::{
    MAX_VIRTUAL_CAMERA_SIDE, RunningVirtualCamera, StartVirtualCameraError, VirtualCamera,
    VirtualCameraError, VirtualCameraSettings, VirtualCameraStats,
};
