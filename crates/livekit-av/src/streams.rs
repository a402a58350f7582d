//! Our stream descriptions ([`StreamInfo`]) to and from FFmpeg's: codec ids, a muxer's new
//! stream filled from a `StreamInfo` ([`add_stream`]), and a demuxed stream described as one
//! ([`stream_info`]). Numbers that do not fit FFmpeg's `int` fields are clamped.

use std::ffi::{CString, c_int};
use std::ptr;
use std::sync::Arc;

use ff::ffi;
use ffmpeg_next as ff;
use livekit_core::{Codec, StreamInfo, StreamParams, TimeBase};

/// FFmpeg's id of `codec`; `None` when this FFmpeg does not know it.
pub fn codec_id(codec: &Codec) -> Option<ffi::AVCodecID> {
    match codec {
        Codec::H264 => Some(ffi::AVCodecID::AV_CODEC_ID_H264),
        Codec::Aac => Some(ffi::AVCodecID::AV_CODEC_ID_AAC),
        other => {
            let name = CString::new(other.name()).ok()?;
            // SAFETY: a lookup by a NUL-terminated name; the descriptor table is static.
            let descriptor = unsafe { ffi::avcodec_descriptor_get_by_name(name.as_ptr()) };
            if descriptor.is_null() {
                None
            } else {
                // SAFETY: non-null descriptors are valid and static.
                Some(unsafe { (*descriptor).id })
            }
        }
    }
}

/// Why a stream could not be added to a muxer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddStreamError {
    /// This FFmpeg does not know the codec.
    #[error("FFmpeg does not know the codec {0}")]
    UnknownCodec(Codec),
    /// FFmpeg could not allocate the stream or its extradata.
    #[error("out of memory")]
    OutOfMemory,
}

fn clamp_int(value: impl TryInto<c_int>) -> c_int {
    value.try_into().unwrap_or(c_int::MAX)
}

/// Adds a stream described by `info` to `output` (before its header is written): codec,
/// time base, size and frame rate or sample rate, channels and frame size, bit rate and
/// extradata (copied into a padded FFmpeg buffer that the stream owns).
pub fn add_stream(
    output: &mut ff::format::context::Output,
    info: &StreamInfo,
) -> Result<(), AddStreamError> {
    let codec =
        codec_id(&info.codec).ok_or_else(|| AddStreamError::UnknownCodec(info.codec.clone()))?;
    // SAFETY: a valid output context; the new stream's codec parameters are ours to fill with
    // plain values; the extradata is allocated with av_mallocz (padded) and taken over by the
    // parameters, which FFmpeg frees.
    unsafe {
        let stream = ffi::avformat_new_stream(output.as_mut_ptr(), ptr::null());
        if stream.is_null() {
            return Err(AddStreamError::OutOfMemory);
        }
        (*stream).time_base = ffi::AVRational {
            num: info.time_base.num,
            den: info.time_base.den,
        };
        let par = &mut *(*stream).codecpar;
        par.codec_id = codec;
        par.bit_rate = i64::try_from(info.bit_rate).unwrap_or(i64::MAX);
        match info.params {
            StreamParams::Video {
                width,
                height,
                frame_rate,
            } => {
                par.codec_type = ffi::AVMediaType::AVMEDIA_TYPE_VIDEO;
                par.width = clamp_int(width);
                par.height = clamp_int(height);
                if frame_rate.0 > 0 && frame_rate.1 > 0 {
                    let rate = ffi::AVRational {
                        num: clamp_int(frame_rate.0),
                        den: clamp_int(frame_rate.1),
                    };
                    (*stream).avg_frame_rate = rate;
                    (*stream).r_frame_rate = rate;
                }
            }
            StreamParams::Audio {
                sample_rate,
                channels,
                frame_size,
            } => {
                par.codec_type = ffi::AVMediaType::AVMEDIA_TYPE_AUDIO;
                par.sample_rate = clamp_int(sample_rate);
                ffi::av_channel_layout_default(&mut par.ch_layout, c_int::from(channels.max(1)));
                par.frame_size = clamp_int(frame_size);
            }
        }
        if !info.extradata.is_empty() {
            let size = info.extradata.len();
            let data =
                ffi::av_mallocz(size + ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize).cast::<u8>();
            if data.is_null() {
                return Err(AddStreamError::OutOfMemory);
            }
            ptr::copy_nonoverlapping(info.extradata.as_ptr(), data, size);
            par.extradata = data;
            par.extradata_size = clamp_int(size);
        }
    }
    Ok(())
}

/// A demuxed stream described as ours; `None` for streams that are neither video nor audio.
pub fn stream_info(stream: &ff::format::stream::Stream<'_>) -> Option<StreamInfo> {
    let parameters = stream.parameters();
    let tb = stream.time_base();
    // SAFETY: `parameters` wraps the stream's valid `AVCodecParameters`, read only here.
    let (kind, width, height, sample_rate, channels, frame_size, extradata, bit_rate) = unsafe {
        let par = &*parameters.as_ptr();
        let extradata = if par.extradata.is_null() || par.extradata_size <= 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts(par.extradata, par.extradata_size as usize).to_vec()
        };
        (
            par.codec_type,
            par.width,
            par.height,
            par.sample_rate,
            par.ch_layout.nb_channels,
            par.frame_size,
            extradata,
            par.bit_rate,
        )
    };
    let params = match kind {
        ffi::AVMediaType::AVMEDIA_TYPE_VIDEO => {
            let rate = stream.avg_frame_rate();
            let rate = if rate.numerator() > 0 && rate.denominator() > 0 {
                rate
            } else {
                stream.rate()
            };
            StreamParams::Video {
                width: width.max(0) as u32,
                height: height.max(0) as u32,
                frame_rate: (
                    rate.numerator().max(0) as u32,
                    rate.denominator().max(1) as u32,
                ),
            }
        }
        ffi::AVMediaType::AVMEDIA_TYPE_AUDIO => StreamParams::Audio {
            sample_rate: sample_rate.max(0) as u32,
            channels: channels.clamp(0, i32::from(u16::MAX)) as u16,
            frame_size: frame_size.max(0) as u32,
        },
        _ => return None,
    };
    Some(StreamInfo {
        codec: Codec::from_name(parameters.id().name()),
        params,
        time_base: TimeBase::new(tb.numerator(), tb.denominator().max(1)),
        extradata: Arc::from(extradata),
        bit_rate: bit_rate.max(0) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_ids() {
        crate::ffmpeg::init();
        assert_eq!(
            codec_id(&Codec::H264),
            Some(ffi::AVCodecID::AV_CODEC_ID_H264)
        );
        assert_eq!(
            codec_id(&Codec::from_name("opus")),
            Some(ffi::AVCodecID::AV_CODEC_ID_OPUS)
        );
        assert_eq!(codec_id(&Codec::from_name("no-such-codec")), None);
    }

    #[test]
    fn a_stream_goes_into_a_muxer_and_back() {
        crate::ffmpeg::init();
        let dir = std::env::temp_dir().join(format!("livekit-av-{}.mkv", std::process::id()));
        let mut output = ff::format::output_as(&dir, "matroska").expect("matroska muxer");
        let info = StreamInfo {
            codec: Codec::Aac,
            params: StreamParams::Audio {
                sample_rate: 48_000,
                channels: 2,
                frame_size: 1024,
            },
            time_base: TimeBase::new(1, 48_000),
            extradata: Arc::from(vec![0x11u8, 0x90]),
            bit_rate: u64::MAX,
        };
        add_stream(&mut output, &info).expect("added");
        assert_eq!(
            add_stream(
                &mut output,
                &StreamInfo {
                    codec: Codec::from_name("nope"),
                    ..info.clone()
                }
            ),
            Err(AddStreamError::UnknownCodec(Codec::from_name("nope")))
        );
        let back = stream_info(&output.stream(0).expect("stream 0")).expect("audio");
        assert_eq!(back.codec, Codec::Aac);
        assert_eq!(back.params, info.params);
        assert_eq!(&*back.extradata, &[0x11, 0x90]);
        assert_eq!(back.bit_rate, i64::MAX as u64);
        let _ = std::fs::remove_file(dir);
    }
}
