//! # livekit-testkit
//!
//! Test support shared by the livekit crates' tests (a dev-dependency only, never published):
//!
//! - [`NginxRtmp`]: a real nginx with the RTMP module, started as a child process on 127.0.0.1
//!   with `record all`, so a test can check with ffprobe what each publish delivered.
//! - [`media`]: test media made at test time with the ffmpeg CLI (independent of our own code).
//! - [`probe`]: what ffprobe reads back from a file or URL.
//! - [`net`]: free ports and waiting for a listener.
//! - [`SrtListener`]: a real SRT listener (srt-live-transmit) writing what it receives to a file;
//!   [`SrtRelay`]: one serving what it gets over UDP to an SRT caller.
//! - [`HttpFiles`]: a static HTTP server (nginx) for a directory (HLS playback).
//! - [`TlsFront`] and [`TestCerts`]: TLS (nginx `stream` + `ssl`) in front of a TCP server,
//!   with a CA and server certificate made by the openssl CLI.
//! - [`ImpairedLink`]: a network namespace behind a link made lossy, slow or dead with
//!   `tc netem`, for servers on a bad network.
//! - [`pulse`]: a private PulseAudio server with a null sink, for microphone and speaker tests.
//! - [`webrtc`]: a WHEP player's SDP offer.
//!
//! Helpers panic with a message on failure: they are for tests only.

mod http;
pub mod media;
pub mod net;
mod netns;
mod nginx;
pub mod probe;
mod process;
pub mod pulse;
mod srt;
mod tls;
pub mod webrtc;

pub use http::HttpFiles;
pub use netns::{ImpairedLink, Impairment};
pub use nginx::NginxRtmp;
pub use process::{ChildGuard, resident_kib, threads_named};
pub use srt::{SrtListener, SrtRelay};
pub use tls::{TestCerts, TlsFront};
