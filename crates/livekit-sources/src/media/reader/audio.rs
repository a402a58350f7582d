//! Audio: opening the decoder, timestamps counted in samples, and resampling with swresample
//! to 48 kHz stereo f32 (mono and surround mixed to stereo), trimmed to the sample after a
//! seek.

use ffmpeg_next as ff;
use livekit_core::AudioFrame;

use super::{Decoded, MediaReader, decoder_for, ns_to_duration, to_ns};
use crate::media::error::OpenMediaError;
use crate::media::{AUDIO_CHANNELS, AUDIO_RATE};

/// Audio timestamps further than this from the sample count are taken as a jump in time.
const AUDIO_RESYNC_NS: i64 = 100_000_000;

/// swresample's context, with the input it was made for (format, channel layout, rate).
struct Resampler {
    ctx: ff::software::resampling::Context,
    input: (ff::format::Sample, u64, u32),
}

/// The audio stream being decoded, and where its samples are.
pub(super) struct AudioState {
    pub(super) index: usize,
    pub(super) decoder: ff::decoder::Audio,
    pub(super) time_base: ff::Rational,
    pub(super) frame: ff::frame::Audio,
    resampler: Option<Resampler>,
    /// Time of sample 0 of the current run, in ns; `None` until the first frame after a start or
    /// a seek.
    base_ns: Option<i64>,
    /// Samples (at 48 kHz) handed out since `base_ns`.
    samples: u64,
    buffer: Vec<f32>,
}

impl AudioState {
    /// Forgets the decoder's state after a seek: the next frame starts a new run of samples.
    pub(super) fn restart(&mut self) {
        self.decoder.flush();
        self.base_ns = None;
        self.samples = 0;
        // Drop what the resampler still holds from before the seek.
        self.resampler = None;
    }

    fn next_ns(&self) -> Option<i64> {
        self.base_ns.map(|base| base + samples_to_ns(self.samples))
    }
}

/// Samples at [`AUDIO_RATE`] as nanoseconds.
pub(crate) fn samples_to_ns(samples: u64) -> i64 {
    (i128::from(samples) * 1_000_000_000 / i128::from(AUDIO_RATE)) as i64
}

/// Nanoseconds as samples at [`AUDIO_RATE`], rounded to nearest.
pub(crate) fn ns_to_samples(ns: i64) -> u64 {
    ((i128::from(ns.max(0)) * i128::from(AUDIO_RATE) + 500_000_000) / 1_000_000_000) as u64
}

impl MediaReader {
    /// The samples the audio decoder just gave, resampled, as a frame timed by the sample
    /// count; `None` when they are all before a seek target or cannot be resampled.
    pub(super) fn convert_audio(&mut self) -> Option<Decoded> {
        let start_ns = self.start_ns;
        let skip_before = self.skip_before_ns.max(0);
        let a = self.audio.as_mut()?;
        let ts = a.frame.timestamp().or_else(|| a.frame.pts());
        let frame_ns = ts.map(|ts| to_ns(ts, a.time_base) - start_ns);
        match (a.next_ns(), frame_ns) {
            (None, t) => {
                a.base_ns = Some(t.unwrap_or(0));
                a.samples = 0;
            }
            (Some(expected), Some(t)) if (t - expected).abs() > AUDIO_RESYNC_NS => {
                tracing::debug!(expected, t, "audio timestamps jump; following them");
                a.base_ns = Some(t);
                a.samples = 0;
            }
            _ => {}
        }
        let count = a.resample().ok()?;
        self.audio_chunk(count, skip_before)
    }

    /// Hands out the `count` samples in the audio buffer, trimmed so nothing is before
    /// `skip_before` ns.
    fn audio_chunk(&mut self, count: usize, skip_before: i64) -> Option<Decoded> {
        let a = self.audio.as_mut()?;
        let pts_ns = a.next_ns()?;
        a.samples += count as u64;
        let skip = if pts_ns < skip_before {
            usize::try_from(ns_to_samples(skip_before - pts_ns))
                .unwrap_or(usize::MAX)
                .min(count)
        } else {
            0
        };
        if skip == count {
            return None;
        }
        let channels = usize::from(AUDIO_CHANNELS);
        let samples = &a.buffer[skip * channels..count * channels];
        let pts = ns_to_duration(pts_ns + samples_to_ns(skip as u64));
        AudioFrame::new(samples, AUDIO_RATE, AUDIO_CHANNELS, pts)
            .ok()
            .map(Decoded::Audio)
    }

    /// What the resampler still holds at the end, as a last frame.
    pub(super) fn flush_resampler(&mut self) -> Option<Decoded> {
        let skip_before = self.skip_before_ns.max(0);
        let a = self.audio.as_mut()?;
        a.base_ns?;
        let count = a.flush().ok()?;
        if count == 0 {
            return None;
        }
        self.audio_chunk(count, skip_before)
    }
}

pub(super) fn open_audio(
    name: &str,
    stream: &ff::format::stream::Stream,
) -> Result<AudioState, OpenMediaError> {
    let (decoder, decoder_error) = decoder_for(name, stream, "audio")?;
    let decoder = decoder.audio().map_err(decoder_error)?;
    Ok(AudioState {
        index: stream.index(),
        decoder,
        time_base: stream.time_base(),
        frame: ff::frame::Audio::empty(),
        resampler: None,
        base_ns: None,
        samples: 0,
        buffer: Vec::new(),
    })
}

impl AudioState {
    /// Converts the decoded frame into `buffer`; returns the number of stereo samples.
    fn resample(&mut self) -> Result<usize, ()> {
        let format = self.frame.format();
        let channels = self.frame.channels();
        let rate = self.frame.rate();
        if channels == 0 || rate == 0 || self.frame.samples() == 0 {
            return Err(());
        }
        let mut layout = self.frame.channel_layout();
        if layout.bits() == 0 || layout.channels() != i32::from(channels) {
            layout = ff::ChannelLayout::default(i32::from(channels));
        }
        let key = (format, layout.bits(), rate);
        if self.resampler.as_ref().is_none_or(|r| r.input != key) {
            let ctx = ff::software::resampling::Context::get(
                format,
                layout,
                rate,
                ff::format::Sample::F32(ff::format::sample::Type::Packed),
                ff::ChannelLayout::STEREO,
                AUDIO_RATE,
            )
            .map_err(|error| {
                tracing::warn!(%error, ?format, channels, rate, "swresample refused the audio");
            })?;
            self.resampler = Some(Resampler { ctx, input: key });
        }
        let in_samples = i32::try_from(self.frame.samples()).map_err(|_| ())?;
        // SAFETY: the frame's extended_data holds `channels` planes (or one packed plane) of
        // `in_samples` samples in the format the resampler was made for.
        let input = unsafe { (*self.frame.as_ptr()).extended_data as *mut *const u8 };
        self.convert(input, in_samples)
    }

    /// What the resampler still holds, at the end.
    fn flush(&mut self) -> Result<usize, ()> {
        if self.resampler.is_none() {
            return Ok(0);
        }
        self.convert(std::ptr::null_mut(), 0)
    }

    fn convert(&mut self, input: *mut *const u8, in_samples: i32) -> Result<usize, ()> {
        let Some(resampler) = &mut self.resampler else {
            return Err(());
        };
        // SAFETY: the context is initialised; asking for the output size has no other effect.
        let capacity =
            unsafe { ff::ffi::swr_get_out_samples(resampler.ctx.as_mut_ptr(), in_samples.max(0)) };
        let capacity = usize::try_from(capacity).map_err(|_| ())?.max(1);
        let channels = usize::from(AUDIO_CHANNELS);
        if self.buffer.len() < capacity * channels {
            self.buffer.resize(capacity * channels, 0.0);
        }
        let mut out = [self.buffer.as_mut_ptr().cast::<u8>()];
        // SAFETY: `out` points to room for `capacity` packed stereo f32 samples; `input` is
        // either null (flush) or valid for `in_samples` samples (see `resample`).
        let done = unsafe {
            ff::ffi::swr_convert(
                resampler.ctx.as_mut_ptr(),
                out.as_mut_ptr(),
                i32::try_from(capacity).unwrap_or(i32::MAX),
                input,
                in_samples,
            )
        };
        usize::try_from(done).map_err(|_| ())
    }
}
