//! # livekit-sinks
//!
//! Where frames go: [`PngWriter`] (frames to PNG files), [`Viewer`] (a preview window with winit
//! and wgpu), [`Encoder`] (H.264 + AAC packets into a `Port<Packet>`), [`Recorder`] (packets
//! into MP4, MKV, MOV or FLV) and [`stream::Streamer`] (one packet stream to many
//! RTMP/RTMPS/SRT destinations). IPC follows.
//!
//! Sinks depend on `livekit-core` only.

mod encode;
mod ffmpeg_log;
mod mkv_duration;
mod png_writer;
mod recorder;
mod speaker;
#[cfg(target_os = "linux")]
mod speaker_pulse;
pub mod stream;
mod viewer;

pub use encode::{
    AudioSettings, EncodeError, Encoder, EncoderSettings, EncoderStats, H264Encoder, RateControl,
    RunningEncoder, StartEncoderError, UnknownEncoder, VideoSettings, default_video_kbps,
};
pub use png_writer::{PngWriter, WritePngError};
pub use recorder::{
    Container, RecordError, Recorder, RecorderSettings, RecorderStats, RecordingSummary,
    RunningRecorder, StartRecorderError,
};
pub use speaker::{OpenSpeakerError, Speaker, SpeakerSettings, SpeakerStats};
pub use stream::{Destination, StreamKey, Streamer, StreamerSettings};
pub use viewer::{
    MAX_WINDOW_SIDE, OpenViewerError, ShowFrameError, Viewer, ViewerSettings, ViewerStats,
};
