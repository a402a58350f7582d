//! Audio frames: interleaved f32 samples with a rate, a channel count and a timestamp.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Why an audio frame could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AudioFrameError {
    /// A sample rate of zero.
    #[error("audio sample rate must be above 0")]
    ZeroRate,
    /// A channel count of zero.
    #[error("audio channel count must be above 0")]
    ZeroChannels,
    /// A sample count that is not a whole number of frames.
    #[error("{samples} samples are not a whole number of {channels}-channel frames")]
    Ragged {
        /// Samples given.
        samples: usize,
        /// Channel count.
        channels: u16,
    },
}

/// A block of audio: interleaved f32 samples (nominally -1.0..=1.0), sample rate, channel count
/// and the presentation time of its first sample.
///
/// Cloning is O(1): clones share the samples. `Debug` prints sizes, not samples.
#[derive(Clone)]
pub struct AudioFrame {
    samples: Arc<[f32]>,
    sample_rate: u32,
    channels: u16,
    pts: Duration,
}

impl AudioFrame {
    /// A frame from interleaved samples.
    pub fn new(
        samples: impl Into<Arc<[f32]>>,
        sample_rate: u32,
        channels: u16,
        pts: Duration,
    ) -> Result<Self, AudioFrameError> {
        let samples = samples.into();
        if sample_rate == 0 {
            return Err(AudioFrameError::ZeroRate);
        }
        if channels == 0 {
            return Err(AudioFrameError::ZeroChannels);
        }
        if samples.len() % channels as usize != 0 {
            return Err(AudioFrameError::Ragged {
                samples: samples.len(),
                channels,
            });
        }
        Ok(Self {
            samples,
            sample_rate,
            channels,
            pts,
        })
    }

    /// `frames` frames of silence.
    pub fn silence(
        frames: usize,
        sample_rate: u32,
        channels: u16,
        pts: Duration,
    ) -> Result<Self, AudioFrameError> {
        Self::new(
            vec![0.0; frames * channels as usize],
            sample_rate,
            channels,
            pts,
        )
    }

    /// Interleaved samples.
    pub fn samples(&self) -> &[f32] {
        &self.samples
    }

    /// Samples a second, per channel.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Number of channels.
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// Number of sample frames (samples per channel).
    pub fn frames(&self) -> usize {
        self.samples.len() / self.channels as usize
    }

    /// Presentation time of the first sample.
    pub fn pts(&self) -> Duration {
        self.pts
    }

    /// The same samples with another timestamp (O(1)).
    pub fn with_pts(mut self, pts: Duration) -> Self {
        self.pts = pts;
        self
    }

    /// How long the frame plays.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.frames() as f64 / f64::from(self.sample_rate))
    }

    /// The presentation time just after the last sample.
    pub fn end_pts(&self) -> Duration {
        self.pts + self.duration()
    }
}

impl fmt::Debug for AudioFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AudioFrame")
            .field("frames", &self.frames())
            .field("sample_rate", &self.sample_rate)
            .field("channels", &self.channels)
            .field("pts", &self.pts)
            .finish()
    }
}
