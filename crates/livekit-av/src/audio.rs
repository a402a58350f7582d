//! Audio devices through cpal, for the microphone (a source) and the speaker (a sink):
//! [`AudioHost`] says which audio system, [`host`] opens it, and devices are named and found
//! the same way on both sides ([`device_id`], [`description`], [`find_device`]).

use std::fmt;

use cpal::traits::DeviceTrait;

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

/// The cpal host for `which`; the error says why it is not available.
pub fn host(which: AudioHost) -> Result<cpal::Host, String> {
    match which {
        AudioHost::Auto => Ok(cpal::default_host()),
        #[cfg(target_os = "linux")]
        AudioHost::PulseAudio => {
            cpal::host_from_id(cpal::HostId::PulseAudio).map_err(|error| error.to_string())
        }
        #[cfg(target_os = "linux")]
        AudioHost::Alsa => {
            cpal::host_from_id(cpal::HostId::Alsa).map_err(|error| error.to_string())
        }
        #[allow(unreachable_patterns)]
        other => Err(format!("{other} is not available on this system")),
    }
}

/// A device's id as its audio system names it (`?` when it has none).
pub fn device_id(device: &cpal::Device) -> String {
    device
        .id()
        .map(|id| id.id().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// A device's human-readable description (empty when it has none).
pub fn description(device: &cpal::Device) -> String {
    device
        .description()
        .map(|d| d.name().to_string())
        .unwrap_or_default()
}

/// Finds `name` among `devices`: an exact id, then an exact description, then a description
/// containing it.
pub fn find_device(
    devices: impl Iterator<Item = cpal::Device>,
    name: &str,
) -> Option<cpal::Device> {
    let devices: Vec<_> = devices.collect();
    let by = |pick: &dyn Fn(&cpal::Device) -> bool| devices.iter().find(|d| pick(d)).cloned();
    by(&|d| device_id(d) == name)
        .or_else(|| by(&|d| description(d) == name))
        .or_else(|| by(&|d| description(d).contains(name)))
}
