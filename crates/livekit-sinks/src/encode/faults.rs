//! Failures on demand, for tests only (feature `fault-injection`): the fatal encoder errors
//! that cannot be caused on purpose (a hardware encoder whose GPU was reset, memory running
//! out), so that what an owner does about them can be tested.
//!
//! [`fail_next_encoder`] arms one failure; the next [`Encoder::start`](super::Encoder::start)
//! in the process takes it. Keep a test that arms one in a test binary of its own (or run
//! tests a process each, as cargo-nextest does), so that no other test's encoder takes it.
//! A program built with the feature (the `livekit` binary its tests run) arms one from the
//! environment at its first encoder: `LIVEKIT_ENCODER_FAULT=video:15` (or `audio:N`; with
//! `-panic`, `video-panic:15`, the encoder's thread panics instead).
//! Without the feature nothing here is public and no encoder ever fails on purpose.

/// The encoder that is to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The H.264 video encoder.
    Video,
    /// The AAC audio encoder.
    Audio,
}

/// An armed failure.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fault {
    pub(crate) kind: Kind,
    pub(crate) after_frames: u64,
    /// The thread panics instead of the encoder failing.
    pub(crate) panic: bool,
}

/// The error an injected failure gives: EIO, "Input/output error", as a device that went
/// away gives it.
pub(crate) const ERRNO: i32 = 5;

#[cfg(feature = "fault-injection")]
static ARMED: parking_lot::Mutex<Option<Fault>> = parking_lot::Mutex::new(None);

/// Makes the next encoder started fail fatally in its `kind` encoder after `after_frames`
/// frames of that kind (video frames, or blocks of sound), as FFmpeg's EIO.
#[cfg(feature = "fault-injection")]
pub fn fail_next_encoder(kind: Kind, after_frames: u64) {
    arm(Fault {
        kind,
        after_frames,
        panic: false,
    });
}

/// Makes the next encoder started panic in its `kind` encoder's thread after `after_frames`
/// frames of that kind.
#[cfg(feature = "fault-injection")]
pub fn panic_next_encoder(kind: Kind, after_frames: u64) {
    arm(Fault {
        kind,
        after_frames,
        panic: true,
    });
}

#[cfg(feature = "fault-injection")]
fn arm(fault: Fault) {
    *ARMED.lock() = Some(fault);
}

/// The armed failure, for the encoder starting now.
pub(crate) fn take() -> Option<Fault> {
    #[cfg(feature = "fault-injection")]
    {
        static FROM_ENVIRONMENT: std::sync::Once = std::sync::Once::new();
        FROM_ENVIRONMENT.call_once(|| {
            let armed = std::env::var("LIVEKIT_ENCODER_FAULT").ok().and_then(|v| {
                let (kind, frames) = v.split_once(':')?;
                let (kind, panic) = match kind {
                    "video" => (Kind::Video, false),
                    "audio" => (Kind::Audio, false),
                    "video-panic" => (Kind::Video, true),
                    "audio-panic" => (Kind::Audio, true),
                    _ => return None,
                };
                Some(Fault {
                    kind,
                    after_frames: frames.parse().ok()?,
                    panic,
                })
            });
            if let Some(fault) = armed {
                arm(fault);
            }
        });
        ARMED.lock().take()
    }
    #[cfg(not(feature = "fault-injection"))]
    None
}
