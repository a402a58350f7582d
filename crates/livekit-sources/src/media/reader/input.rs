//! Opening a file or URL: the checks of a local file, FFmpeg's input with its interrupt
//! callback (a deadline per open or read, and the stop flag), and what the container says
//! before decoding (its start, duration, cover art, stream kinds, codec names).

use std::sync::Arc;
use std::time::Duration;

use ff::media::Type as MediaType;
use ffmpeg_next as ff;
use livekit_av::Interrupt;

use super::{ReaderSettings, to_ns};
use crate::media::error::OpenMediaError;
use crate::media::name::Location;

/// Opens the container (no decoders yet). Checks local files first so that a missing or empty
/// file gets its own error.
pub(crate) fn open_input(
    location: &Location,
    settings: &ReaderSettings,
) -> Result<(ff::format::context::Input, Arc<Interrupt>), OpenMediaError> {
    livekit_av::ffmpeg::init();
    let name = location.shown();
    if let Location::File(path) = location {
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(OpenMediaError::NotFound { name });
            }
            Err(e) => {
                return Err(OpenMediaError::Io {
                    name,
                    detail: e.to_string(),
                });
            }
            Ok(meta) if meta.is_dir() => {
                return Err(OpenMediaError::Io {
                    name,
                    detail: "it is a directory".into(),
                });
            }
            // A FIFO or a device has no length: FFmpeg reads it.
            Ok(meta) if meta.is_file() && meta.len() == 0 => {
                return Err(OpenMediaError::Empty { name });
            }
            Ok(_) => {}
        }
    }
    let interrupt = Arc::new(Interrupt::new(settings.stop.clone()));
    interrupt.arm(settings.open_timeout);
    let callback = interrupt.clone();
    let mut options = ff::Dictionary::new();
    if location.is_url() {
        // Live inputs: keep the probing short so playback starts quickly.
        options.set("analyzeduration", "2000000");
    }
    let opened = ff::format::input_with_interrupt_and_dictionary(
        &location.ffmpeg_input(),
        move || callback.should_stop(),
        options,
    );
    let input = opened.map_err(|error| match error {
        ff::Error::Exit => OpenMediaError::TimedOut {
            name: name.clone(),
            after: settings.open_timeout,
        },
        ff::Error::Eof if !location.is_url() => OpenMediaError::EndsEarly { name: name.clone() },
        ff::Error::InvalidData | ff::Error::Eof => OpenMediaError::NotMedia {
            name: name.clone(),
            detail: error.to_string(),
        },
        ff::Error::Other { errno } if errno == libc_enoent() && !location.is_url() => {
            OpenMediaError::NotFound { name: name.clone() }
        }
        other if location.is_url() => OpenMediaError::Unreachable {
            name: name.clone(),
            detail: other.to_string(),
        },
        other => OpenMediaError::NotMedia {
            name: name.clone(),
            detail: other.to_string(),
        },
    })?;
    // No deadline while nobody reads; `MediaReader` arms it around each read.
    interrupt.disarm();
    Ok((input, interrupt))
}

const fn libc_enoent() -> i32 {
    2
}

/// Container start time in nanoseconds (0 when unknown).
fn start_time_ns(input: &ff::format::context::Input) -> i64 {
    // SAFETY: the pointer is the live format context owned by `input`.
    let start = unsafe { (*input.as_ptr()).start_time };
    if start == ff::ffi::AV_NOPTS_VALUE {
        0
    } else {
        start.saturating_mul(1000)
    }
}

/// The media time that becomes zero: the start of the video stream when there is one (audio
/// before it, such as an encoder's priming samples, is trimmed), else of the audio stream,
/// else of the container.
pub(super) fn zero_of(
    input: &ff::format::context::Input,
    video: Option<usize>,
    audio: Option<usize>,
) -> i64 {
    [video, audio]
        .into_iter()
        .flatten()
        .filter_map(|index| input.stream(index))
        .find(|s| s.start_time() != ff::ffi::AV_NOPTS_VALUE)
        .map_or_else(
            || start_time_ns(input),
            |s| to_ns(s.start_time(), s.time_base()),
        )
}

/// The container duration, when known.
pub(crate) fn duration_of(input: &ff::format::context::Input) -> Option<Duration> {
    let d = input.duration();
    (d > 0).then(|| Duration::from_micros(d as u64))
}

/// The video streams worth showing: not cover art.
pub(crate) fn is_picture_stream(stream: &ff::format::stream::Stream) -> bool {
    stream.parameters().medium() == MediaType::Video
        && !stream
            .disposition()
            .contains(ff::format::stream::Disposition::ATTACHED_PIC)
}

/// The encoded picture of an attached-picture stream (cover art), if `stream` is one.
pub(super) fn attached_picture(stream: &ff::format::stream::Stream) -> Option<Vec<u8>> {
    if !stream
        .disposition()
        .contains(ff::format::stream::Disposition::ATTACHED_PIC)
    {
        return None;
    }
    // SAFETY: the stream belongs to an open input; FFmpeg fills `attached_pic` when it opens
    // the file and keeps it until the input is closed. `data` holds `size` bytes.
    unsafe {
        let packet = &(*stream.as_ptr()).attached_pic;
        if packet.data.is_null() || packet.size <= 0 {
            return None;
        }
        Some(std::slice::from_raw_parts(packet.data, packet.size as usize).to_vec())
    }
}

/// A decoder for `stream` of `name` (`kind`: "video" or "audio"), not yet opened: its codec
/// found, its parameters and packet time base set. With it, the error that a failure to open
/// it becomes, naming the media, the kind and the codec.
pub(crate) fn decoder_for(
    name: &str,
    stream: &ff::format::stream::Stream,
    kind: &'static str,
) -> Result<
    (
        ff::decoder::Decoder,
        impl Fn(ff::Error) -> OpenMediaError + use<>,
    ),
    OpenMediaError,
> {
    let parameters = stream.parameters();
    let id = parameters.id();
    let codec = codec_name(id);
    if id == ff::codec::Id::None || ff::decoder::find(id).is_none() {
        return Err(OpenMediaError::UnsupportedCodec {
            name: name.to_owned(),
            kind,
            codec,
        });
    }
    let name = name.to_owned();
    let decoder_error = move |e: ff::Error| OpenMediaError::Decoder {
        name: name.clone(),
        kind,
        codec: codec.clone(),
        detail: e.to_string(),
    };
    let context = ff::codec::Context::from_parameters(parameters).map_err(&decoder_error)?;
    let mut decoder = context.decoder();
    decoder.set_packet_time_base(stream.time_base());
    Ok((decoder, decoder_error))
}

/// The codec name FFmpeg gives a codec id ("none" for an unknown one).
pub(crate) fn codec_name(id: ff::codec::Id) -> String {
    if id == ff::codec::Id::None {
        return "none".into();
    }
    id.name().to_owned()
}
