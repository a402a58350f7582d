//! [`Resampler`]: streaming sample-rate conversion of interleaved f32 audio, and
//! [`remix`] between channel counts.
//!
//! A windowed-sinc interpolator (16 taps when upsampling, more when downsampling; Blackman
//! window; a table of 512 phases) with its
//! cut-off below the lower of the two Nyquist frequencies, so downsampling does not alias. It
//! keeps its history between calls: feed it blocks of any size and the output is continuous.
//! It holds back 8 input samples when upsampling (0.17 ms at 48 kHz) until the samples after them arrive; the
//! same rate passes through untouched.

use std::f64::consts::PI;

/// Taps on each side of the interpolated point when upsampling; downsampling by a factor r
/// widens the kernel r times (its cut-off is r times lower).
const HALF: usize = 8;
/// Phases of the kernel table.
const PHASES: usize = 512;

/// Streaming sample-rate converter for interleaved f32 audio.
#[derive(Clone)]
pub struct Resampler {
    from: u32,
    to: u32,
    channels: usize,
    /// Input frames per output frame.
    step: f64,
    /// Position of the next output frame, in input frames from the start of `buffer`.
    position: f64,
    /// Interleaved input not consumed yet (with `half - 1` frames of history in front).
    buffer: Vec<f32>,
    /// `PHASES + 1` rows of `2 * half` weights.
    table: Vec<f32>,
    /// Taps on each side.
    half: usize,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

impl Resampler {
    /// A converter from `from` Hz to `to` Hz for `channels` interleaved channels. Rates and
    /// channel counts of zero are taken as one.
    pub fn new(from: u32, to: u32, channels: u16) -> Self {
        let (from, to) = (from.max(1), to.max(1));
        let channels = usize::from(channels.max(1));
        // Below the lower Nyquist frequency, with a margin for the window's transition band.
        let ratio = (f64::from(to) / f64::from(from)).min(1.0);
        let cutoff = ratio * 0.92;
        let half = ((HALF as f64 / ratio).ceil() as usize).clamp(HALF, 64 * HALF);
        let mut table = Vec::with_capacity((PHASES + 1) * 2 * half);
        let mut row = vec![0.0f64; 2 * half];
        for phase in 0..=PHASES {
            let frac = phase as f64 / PHASES as f64;
            for (k, weight) in row.iter_mut().enumerate() {
                // Tap k sits at input offset (k - half + 1) from floor(position).
                let x = k as f64 - (half as f64 - 1.0) - frac;
                let sinc = if x.abs() < 1e-9 {
                    1.0
                } else {
                    (PI * cutoff * x).sin() / (PI * cutoff * x)
                };
                let t = (x + half as f64) / (2.0 * half as f64); // 0..1 across the window
                let window = 0.42 - 0.5 * (2.0 * PI * t).cos() + 0.08 * (4.0 * PI * t).cos();
                *weight = cutoff * sinc * window;
            }
            // Unity gain at DC for every phase.
            let sum: f64 = row.iter().sum();
            table.extend(row.iter().map(|w| (w / sum) as f32));
        }
        Self {
            from,
            to,
            channels,
            step: f64::from(from) / f64::from(to),
            position: half as f64 - 1.0,
            buffer: vec![0.0; (half - 1) * channels],
            table,
            half,
        }
    }

    /// The input rate.
    pub fn from_rate(&self) -> u32 {
        self.from
    }

    /// The output rate.
    pub fn to_rate(&self) -> u32 {
        self.to
    }

    /// Converts `input` (interleaved, a whole number of frames) and appends the result to
    /// `output`. Samples that need input not given yet wait for the next call.
    pub fn process(&mut self, input: &[f32], output: &mut Vec<f32>) {
        if self.from == self.to {
            output.extend_from_slice(input);
            return;
        }
        let channels = self.channels;
        self.buffer.extend_from_slice(input);
        let frames = self.buffer.len() / channels;
        let half = self.half;
        let row_len = 2 * half;
        loop {
            let base = self.position.floor();
            let index = base as usize; // position >= half - 1 >= 0
            if index + half >= frames {
                break;
            }
            let frac = self.position - base;
            let phase = (frac * PHASES as f64).round() as usize;
            let weights = &self.table[phase * row_len..(phase + 1) * row_len];
            let first = index + 1 - half;
            for channel in 0..channels {
                let mut acc = 0.0f32;
                for (k, weight) in weights.iter().enumerate() {
                    acc += weight * self.buffer[(first + k) * channels + channel];
                }
                output.push(acc);
            }
            self.position += self.step;
        }
        // Drop the input that no later output frame needs.
        let keep_from = (self.position.floor() as usize + 1)
            .saturating_sub(half)
            .min(frames);
        self.buffer.drain(..keep_from * channels);
        self.position -= keep_from as f64;
    }
}

/// Converts interleaved `input` of `from` channels to `to` channels, appending to `output`:
/// mono is copied to every channel, anything to mono is averaged, otherwise output channel
/// `j` takes input channel `j % from` (stereo to 5.1 repeats L/R; 5.1 to stereo keeps L/R).
pub fn remix(input: &[f32], from: u16, to: u16, output: &mut Vec<f32>) {
    let (from, to) = (usize::from(from.max(1)), usize::from(to.max(1)));
    if from == to {
        output.extend_from_slice(input);
        return;
    }
    for frame in input.chunks_exact(from) {
        if to == 1 {
            output.push(frame.iter().sum::<f32>() / from as f32);
        } else {
            output.extend((0..to).map(|j| frame[j % from]));
        }
    }
}
