//! The AAC side of the encoder: resampling any input to the encoder's rate and channels,
//! re-chunking into the encoder's frame size on a gap-free timeline, and encoding.

use std::collections::VecDeque;
use std::ffi::c_int;
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

use ff::ffi;
use ffmpeg_next as ff;
use livekit_core::{AudioFrame, Codec, Packet, StreamInfo, StreamParams, TimeBase};

use super::settings::{AudioCodec, AudioSettings};
use super::video::to_packet;

/// A gap or overlap shorter than this (in seconds) is jitter: the samples are placed right
/// after the previous ones. Longer gaps are filled with silence, longer overlaps cut.
const JITTER: f64 = 0.05;
/// The longest gap filled with silence; past that the timeline jumps.
const MAX_SILENCE: Duration = Duration::from_secs(10);

/// Why an audio frame could not be resampled (the frame is skipped).
#[derive(Debug, thiserror::Error)]
#[error("cannot resample {channels}-channel audio at {rate} Hz: {source}")]
pub(crate) struct ResampleError {
    rate: u32,
    channels: u16,
    source: ff::Error,
}

/// Interleaved f32 at any rate and channel count -> planar f32 at the encoder's.
struct Resampler {
    context: *mut ffi::SwrContext,
    in_rate: u32,
    in_channels: u16,
    out_channels: usize,
}

impl Resampler {
    fn new(
        in_rate: u32,
        in_channels: u16,
        out_rate: u32,
        out_channels: u16,
    ) -> Result<Self, ResampleError> {
        let error = |source| ResampleError {
            rate: in_rate,
            channels: in_channels,
            source,
        };
        let mut context = ptr::null_mut();
        // SAFETY: the layouts are plain structs filled by FFmpeg and released below; swr
        // copies what it needs. On failure `context` stays null or is freed by `Drop`.
        unsafe {
            let mut in_layout = std::mem::zeroed::<ffi::AVChannelLayout>();
            let mut out_layout = std::mem::zeroed::<ffi::AVChannelLayout>();
            ffi::av_channel_layout_default(&mut in_layout, c_int::from(in_channels));
            ffi::av_channel_layout_default(&mut out_layout, c_int::from(out_channels));
            let made = ffi::swr_alloc_set_opts2(
                &mut context,
                &mut out_layout,
                ffi::AVSampleFormat::AV_SAMPLE_FMT_FLTP,
                c_int::try_from(out_rate).unwrap_or(c_int::MAX),
                &mut in_layout,
                ffi::AVSampleFormat::AV_SAMPLE_FMT_FLT,
                c_int::try_from(in_rate).unwrap_or(c_int::MAX),
                0,
                ptr::null_mut(),
            );
            ffi::av_channel_layout_uninit(&mut in_layout);
            ffi::av_channel_layout_uninit(&mut out_layout);
            let resampler = Self {
                context,
                in_rate,
                in_channels,
                out_channels: usize::from(out_channels),
            };
            if made < 0 || context.is_null() {
                return Err(error(ff::Error::from(made.min(-1))));
            }
            let init = ffi::swr_init(context);
            if init < 0 {
                return Err(error(ff::Error::from(init)));
            }
            Ok(resampler)
        }
    }

    /// Converts `frames` interleaved sample frames (none: drains what swr holds back).
    fn convert(&mut self, input: Option<&[f32]>, frames: usize) -> Vec<Vec<f32>> {
        let frames_in = c_int::try_from(frames).unwrap_or(c_int::MAX);
        // SAFETY: the context is valid; the output buffers hold `capacity` samples each (what
        // swr says it can produce at most); the input pointer covers `frames` interleaved frames
        // of `in_channels` samples.
        unsafe {
            let capacity = ffi::swr_get_out_samples(self.context, frames_in).max(0) as usize;
            let mut out = vec![vec![0f32; capacity]; self.out_channels];
            if capacity == 0 {
                return out;
            }
            let mut out_ptrs: Vec<*mut u8> =
                out.iter_mut().map(|c| c.as_mut_ptr().cast()).collect();
            let mut in_ptrs = [input.map_or(ptr::null(), |s| s.as_ptr().cast::<u8>())];
            let got = ffi::swr_convert(
                self.context,
                out_ptrs.as_mut_ptr(),
                capacity as c_int,
                if input.is_some() {
                    in_ptrs.as_mut_ptr()
                } else {
                    ptr::null_mut()
                },
                if input.is_some() { frames_in } else { 0 },
            );
            let got = got.max(0) as usize;
            for channel in &mut out {
                channel.truncate(got);
            }
            out
        }
    }
}

impl Drop for Resampler {
    fn drop(&mut self) {
        // SAFETY: ours (or null, which swr_free accepts).
        unsafe { ffi::swr_free(&mut self.context) };
    }
}

/// An open AAC encoder with its resampler and sample queue.
pub(crate) struct AudioEncoder {
    encoder: ff::encoder::audio::Encoder,
    settings: AudioSettings,
    frame_size: usize,
    resampler: Option<Resampler>,
    /// Planar samples waiting to fill a frame.
    queue: Vec<VecDeque<f32>>,
    /// Timeline position (output samples from the stream origin) of the queue's first sample.
    next_pts: i64,
    /// Timeline position just after the queue's last sample; `None` before the first frame.
    end: Option<i64>,
    frame: ff::frame::Audio,
    packet: ff::Packet,
    info: StreamInfo,
}

impl AudioEncoder {
    pub(crate) fn open(settings: &AudioSettings) -> Result<Self, ff::Error> {
        let (codec, format, name) = match settings.codec {
            AudioCodec::Aac => (
                ff::encoder::find(ff::codec::Id::AAC),
                ff::format::Sample::F32(ff::format::sample::Type::Planar),
                Codec::Aac,
            ),
            // libopus takes interleaved samples only.
            AudioCodec::Opus => (
                ff::encoder::find_by_name("libopus"),
                ff::format::Sample::F32(ff::format::sample::Type::Packed),
                Codec::Other("opus".into()),
            ),
        };
        let codec = codec.ok_or(ff::Error::EncoderNotFound)?;
        let mut audio = ff::codec::Context::new_with_codec(codec)
            .encoder()
            .audio()?;
        let rate = c_int::try_from(settings.sample_rate).map_err(|_| ff::Error::InvalidData)?;
        let layout = ff::ChannelLayout::default(c_int::from(settings.channels));
        audio.set_rate(rate);
        audio.set_format(format);
        audio.set_channel_layout(layout);
        audio.set_channels(c_int::from(settings.channels));
        audio.set_bit_rate(settings.kbps as usize * 1000);
        audio.set_time_base(ff::Rational::new(1, rate));
        audio.set_flags(ff::codec::Flags::GLOBAL_HEADER);
        let encoder = audio.open()?;
        let frame_size = match encoder.frame_size() {
            0 => 1024,
            n => n as usize,
        };
        let mut frame = ff::frame::Audio::new(format, frame_size, layout);
        frame.set_channels(settings.channels);
        frame.set_rate(settings.sample_rate);
        // SAFETY: reading pointer fields of a frame and a codec context we own.
        let extradata: Arc<[u8]> = unsafe {
            if (*frame.as_ptr()).data[0].is_null() {
                return Err(ff::Error::Other {
                    errno: ff::util::error::ENOMEM,
                });
            }
            let ctx = encoder.as_ptr();
            let size = usize::try_from((*ctx).extradata_size).unwrap_or(0);
            if (*ctx).extradata.is_null() || size == 0 {
                Arc::from(Vec::new())
            } else {
                Arc::from(std::slice::from_raw_parts((*ctx).extradata, size))
            }
        };
        let info = StreamInfo {
            codec: name,
            params: StreamParams::Audio {
                sample_rate: settings.sample_rate,
                channels: settings.channels,
                frame_size: frame_size as u32,
            },
            time_base: TimeBase::new(1, rate),
            extradata,
            bit_rate: u64::from(settings.kbps) * 1000,
        };
        Ok(Self {
            encoder,
            settings: settings.clone(),
            frame_size,
            resampler: None,
            queue: vec![VecDeque::new(); usize::from(settings.channels)],
            next_pts: 0,
            end: None,
            frame,
            packet: ff::Packet::empty(),
            info,
        })
    }

    /// The stream this encoder makes.
    pub(crate) fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// Places `frame` on the timeline at `at` (from the stream origin), resampled, and encodes
    /// every full frame.
    pub(crate) fn encode(
        &mut self,
        frame: &AudioFrame,
        at: Duration,
        out: &mut dyn FnMut(Packet),
    ) -> Result<Result<(), ResampleError>, ff::Error> {
        if frame.frames() == 0 {
            return Ok(Ok(()));
        }
        let reuse = self
            .resampler
            .as_ref()
            .is_some_and(|r| r.in_rate == frame.sample_rate() && r.in_channels == frame.channels());
        if !reuse {
            // A new input format: what the old resampler holds back is let out first.
            if let Some(mut old) = self.resampler.take() {
                let rest = old.convert(None, 0);
                self.push_samples(&rest, 0);
            }
            match Resampler::new(
                frame.sample_rate(),
                frame.channels(),
                self.settings.sample_rate,
                self.settings.channels,
            ) {
                Ok(r) => self.resampler = Some(r),
                Err(error) => return Ok(Err(error)),
            }
        }
        let rate = i64::from(self.settings.sample_rate);
        let position = (at.as_nanos() * rate as u128 / 1_000_000_000).min(i64::MAX as u128) as i64;
        let jitter = (JITTER * rate as f64) as i64;
        // Invariant: next_pts + queued samples == end.
        let end = match self.end {
            Some(end) => end,
            None => {
                self.next_pts = position;
                self.end = Some(position);
                position
            }
        };
        let mut skip = 0usize;
        if position > end + jitter {
            let gap = position - end;
            if gap > MAX_SILENCE.as_secs() as i64 * rate {
                // Too long to fill: encode what waits and start again at the new position.
                self.flush_queue(out)?;
                self.next_pts = position;
            } else {
                for channel in &mut self.queue {
                    channel.extend(std::iter::repeat_n(0.0, gap as usize));
                }
            }
            self.end = Some(position);
        } else if position + jitter < end {
            skip = (end - position) as usize;
        }
        let Some(resampler) = self.resampler.as_mut() else {
            return Ok(Ok(()));
        };
        let converted = resampler.convert(Some(frame.samples()), frame.frames());
        self.push_samples(&converted, skip);
        self.encode_full(out)?;
        Ok(Ok(()))
    }

    /// Encodes what is left (a short last frame) and drains the encoder.
    pub(crate) fn finish(&mut self, out: &mut dyn FnMut(Packet)) -> Result<(), ff::Error> {
        if let Some(mut resampler) = self.resampler.take() {
            let rest = resampler.convert(None, 0);
            self.push_samples(&rest, 0);
        }
        self.encode_full(out)?;
        if self.queue.first().is_some_and(|c| !c.is_empty()) {
            let left = self.queue[0].len();
            self.encode_one(left, out)?;
        }
        self.encoder.send_eof()?;
        self.drain(out)
    }

    fn push_samples(&mut self, planes: &[Vec<f32>], skip: usize) {
        let count = planes.first().map_or(0, Vec::len);
        let skip = skip.min(count);
        for (queue, plane) in self.queue.iter_mut().zip(planes) {
            queue.extend(&plane[skip..]);
        }
        if let Some(end) = &mut self.end {
            *end += (count - skip) as i64;
        }
    }

    fn encode_full(&mut self, out: &mut dyn FnMut(Packet)) -> Result<(), ff::Error> {
        while self
            .queue
            .first()
            .is_some_and(|c| c.len() >= self.frame_size)
        {
            self.encode_one(self.frame_size, out)?;
        }
        Ok(())
    }

    /// Encodes everything queued, the last frame padded with silence to a whole frame.
    fn flush_queue(&mut self, out: &mut dyn FnMut(Packet)) -> Result<(), ff::Error> {
        self.encode_full(out)?;
        let left = self.queue.first().map_or(0, VecDeque::len);
        if left > 0 {
            for channel in &mut self.queue {
                channel.extend(std::iter::repeat_n(0.0, self.frame_size - left));
            }
            self.encode_one(self.frame_size, out)?;
        }
        Ok(())
    }

    fn encode_one(&mut self, samples: usize, out: &mut dyn FnMut(Packet)) -> Result<(), ff::Error> {
        // SAFETY: the frame is ours; this gives it a buffer of its own if the encoder still
        // holds the current one.
        let made = unsafe { ffi::av_frame_make_writable(self.frame.as_mut_ptr()) };
        if made < 0 {
            return Err(ff::Error::from(made));
        }
        self.frame.set_samples(self.frame_size);
        if self.frame.is_planar() {
            for (channel, queue) in self.queue.iter_mut().enumerate() {
                let plane = self.frame.plane_mut::<f32>(channel);
                for (dst, src) in plane.iter_mut().zip(queue.drain(..samples)) {
                    *dst = src;
                }
            }
        } else {
            // Interleaved (Opus): one plane of samples, channel after channel.
            let channels = self.queue.len();
            let bytes = self.frame.data_mut(0);
            for (channel, queue) in self.queue.iter_mut().enumerate() {
                for (sample, value) in queue.drain(..samples).enumerate() {
                    let at = (sample * channels + channel) * 4;
                    if let Some(dst) = bytes.get_mut(at..at + 4) {
                        dst.copy_from_slice(&value.to_ne_bytes());
                    }
                }
            }
        }
        self.frame.set_samples(samples);
        self.frame.set_pts(Some(self.next_pts));
        self.next_pts += samples as i64;
        self.encoder.send_frame(&self.frame)?;
        self.drain(out)
    }

    fn drain(&mut self, out: &mut dyn FnMut(Packet)) -> Result<(), ff::Error> {
        loop {
            match self.encoder.receive_packet(&mut self.packet) {
                Ok(()) => out(to_packet(&self.packet, 1, self.frame_size as i64)),
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {
                    return Ok(());
                }
                Err(ff::Error::Eof) => return Ok(()),
                Err(error) => return Err(error),
            }
        }
    }
}
