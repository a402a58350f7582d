//! # livekit-core
//!
//! What every livekit crate shares: frames ([`VideoFrame`], [`AudioFrame`]) and their
//! [`PixelFormat`]s, a [`FramePool`] that recycles buffers, the [`FrameSource`] /
//! [`FrameTarget`] traits with their video and audio names ([`VideoSource`], [`VideoTarget`],
//! [`VideoPort`], [`AudioSource`], ...), bounded [`Port`]s with an explicit [`Policy`], the
//! [`Clock`] that paces everything, and [`thread::spawn_worker`] for named threads. On Linux,
//! [`ipc`] defines how frames are shared between processes.
//!
//! A graph is sources writing into ports and sinks reading from them:
//!
//! ```
//! use std::time::Duration;
//! use livekit_core::{FramePool, FrameLayout, FrameSource, FrameTarget, PixelFormat, Port, Pull};
//! use livekit_core::thread::spawn_named;
//!
//! let port = Port::blocking(4); // file work: never lose a frame
//! let writer = port.clone();
//! let producer = spawn_named("producer", move || {
//!     let pool = FramePool::new(FrameLayout::new(64, 36, PixelFormat::Rgba8).unwrap());
//!     for i in 0..10u64 {
//!         let mut frame = pool.acquire(Duration::from_millis(i * 40));
//!         frame.plane_mut(0).fill(i as u8);
//!         writer.push(frame.freeze()).unwrap();
//!     }
//!     writer.end();
//! })
//! .unwrap();
//! let mut seen = 0;
//! while let Pull::Frame(frame) = port.next(Duration::from_secs(5)) {
//!     assert_eq!(frame.plane(0)[0], seen);
//!     seen += 1;
//! }
//! producer.join().unwrap();
//! assert_eq!(seen, 10);
//! ```

mod audio;
mod clock;
pub mod convert;
mod format;
mod frame;
#[cfg(target_os = "linux")]
pub mod ipc;
mod mixer;
mod packet;
mod pipe;
mod pool;
mod port;
pub mod resample;
pub mod secret;
pub mod thread;

pub use audio::{AudioFrame, AudioFrameError};
pub use clock::{Clock, ManualClock, ScaledClock, SystemClock};
pub use format::{ColorMatrix, ColorRange, ColorSpace, PixelFormat};
pub use frame::{
    ExternalPlanes, FrameError, FrameLayout, MAX_DIMENSION, MAX_PLANES, VideoFrame, VideoFrameMut,
};
pub use mixer::{
    LIMITER_THRESHOLD, Mixer, MixerInput, MixerSettings, MixerStats, StartMixerError, soft_limit,
};
pub use packet::{Codec, MediaKind, Packet, StreamInfo, StreamParams, TimeBase};
pub use pipe::{Pipe, PipeEnd, PipeReport, pipe};
pub use pool::{DEFAULT_MAX_IDLE, FramePool};
pub use port::{
    AudioPort, AudioSource, AudioTarget, FrameSource, FrameTarget, Policy, Port, PortStats, Pull,
    PushError, VideoPort, VideoSource, VideoTarget, WhenFull,
};
pub use secret::{
    REDACTED, looks_like_a_key, redact_url, redact_url_like, register_url_secrets, scrub,
};
