//! # livekit-compositor
//!
//! The scene compositor: layers of video sources rendered into canvases, on the GPU (wgpu) or
//! on a fast CPU path. It depends on `livekit-core` only.
//!
//! This crate is a placeholder until the compositor lands; the frame types it will consume and
//! produce ([`livekit_core::VideoFrame`], [`livekit_core::VideoSource`],
//! [`livekit_core::VideoTarget`]) are already in `livekit-core`.
