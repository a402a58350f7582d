//! [`AudioHost`]: which audio system the microphone and the speaker use. Plain data here, so
//! that sources and sinks (which never depend on each other) agree on it.

use std::fmt;

/// The audio system behind a microphone or a speaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AudioHost {
    /// PulseAudio (or PipeWire's PulseAudio server) when one runs, otherwise the system's
    /// own (ALSA on Linux, CoreAudio on macOS, WASAPI on Windows).
    #[default]
    Auto,
    /// PulseAudio, spoken to directly (not through ALSA's pulse plugin, whose playback stalls
    /// on Debian 12).
    PulseAudio,
    /// ALSA, for machines without a sound server.
    Alsa,
}

impl fmt::Display for AudioHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "the default audio system",
            Self::PulseAudio => "PulseAudio",
            Self::Alsa => "ALSA",
        })
    }
}
