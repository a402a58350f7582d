//! The glue between livekit and the media libraries that both its sources and its sinks use,
//! kept in one place so that neither copies it (they never depend on each other):
//!
//! - [`ffmpeg`]: FFmpeg initialised once per process ([`ffmpeg::init`]), with its log routed
//!   through `tracing` and scrubbed of every known secret; the last error FFmpeg logged on a
//!   thread ([`ffmpeg::take_last_error`]).
//! - [`Interrupt`]: the one interrupt callback state for FFmpeg's blocking I/O (a stop flag and
//!   a deadline per operation).
//! - [`streams`]: our stream descriptions ([`StreamInfo`](livekit_core::StreamInfo)) to and
//!   from FFmpeg's codec parameters, and codec ids.
//! - [`audio`]: which audio system to use ([`AudioHost`]) and the cpal host and device helpers
//!   of the microphone and the speaker.
//!
//! `livekit-core` stays free of media libraries; this crate is where they start.

pub mod audio;
pub mod ffmpeg;
mod interrupt;
pub mod streams;

pub use audio::AudioHost;
pub use interrupt::{Interrupt, InterruptReason};
