//! [`probe`]: what a media file or URL holds, without decoding it.

use std::collections::BTreeMap;
use std::time::Duration;

use ff::media::Type as MediaType;
use ffmpeg_next as ff;

use super::error::ProbeError;
use super::name::Location;
use super::reader::{
    ReaderSettings, codec_name, duration_of, frame_duration_of, is_picture_stream, open_input,
    rotation_of, to_ns,
};

/// What [`probe`] found in a media file or URL.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MediaInfo {
    /// The path or the redacted URL.
    pub name: String,
    /// The container's short names as FFmpeg gives them ("mov,mp4,m4a,3gp,3g2,mj2", "flv").
    pub container: String,
    /// The duration, when the container says it (live streams do not).
    pub duration: Option<Duration>,
    /// The main video stream (cover art is not counted).
    pub video: Option<VideoInfo>,
    /// The main audio stream.
    pub audio: Option<AudioInfo>,
    /// The container's tags (title, artist, album, ...), keys in lower case.
    pub tags: BTreeMap<String, String>,
    /// The attached picture (an MP3's or M4A's cover art), if the file has one. A playlist
    /// shows it while a song without video plays.
    pub cover_art: Option<CoverArtInfo>,
    /// Every other stream (a second audio track, subtitles, data), in file order.
    pub other_streams: Vec<StreamSummary>,
    /// Whether it was opened as a URL (a stream that may be live), not a local file.
    pub is_url: bool,
}

/// A stream of a [`MediaInfo`] other than its main video, main audio and cover art.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StreamSummary {
    /// The stream's index in the file.
    pub index: usize,
    /// "video", "audio", "subtitle", "data", "attachment" or "unknown".
    pub kind: &'static str,
    /// The codec's short name ("aac", "mov_text", "subrip").
    pub codec: String,
    /// The language tag ("eng"), when the file gives one.
    pub language: Option<String>,
}

/// The cover art of a [`MediaInfo`]: an attached picture, not a video stream.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CoverArtInfo {
    /// The picture's codec ("mjpeg" for JPEG, "png").
    pub codec: String,
    /// Width in pixels (0 when the container does not say).
    pub width: u32,
    /// Height in pixels (0 when the container does not say).
    pub height: u32,
}

/// The main video stream of a [`MediaInfo`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct VideoInfo {
    /// The codec's short name ("h264", "vp9"; "none" when FFmpeg does not know it).
    pub codec: String,
    /// Whether this FFmpeg can decode the codec.
    pub decodable: bool,
    /// Width in pixels as stored (before rotation).
    pub width: u32,
    /// Height in pixels as stored (before rotation).
    pub height: u32,
    /// Frames a second (the average rate; 0 when unknown).
    pub frame_rate: f64,
    /// Whether the frame rate varies (the average and the base rate differ).
    pub variable_frame_rate: bool,
    /// Degrees clockwise the picture must turn to be upright (0, 90, 180 or 270); the players
    /// apply it.
    pub rotation: u32,
    /// The decoder's pixel format name ("yuv420p").
    pub pixel_format: String,
}

/// The main audio stream of a [`MediaInfo`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AudioInfo {
    /// The codec's short name ("aac", "mp3", "opus").
    pub codec: String,
    /// Whether this FFmpeg can decode the codec.
    pub decodable: bool,
    /// Samples a second.
    pub sample_rate: u32,
    /// Channels.
    pub channels: u16,
}

impl MediaInfo {
    /// Width and height as shown (after rotation), when there is video.
    pub fn display_size(&self) -> Option<(u32, u32)> {
        self.video.as_ref().map(|v| match v.rotation {
            90 | 270 => (v.height, v.width),
            _ => (v.width, v.height),
        })
    }

    /// A tag, case-insensitive, when present and not blank.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .get(&key.to_ascii_lowercase())
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }
}

/// Opens `path_or_url` (a file path, or a URL FFmpeg reads: `rtmp://`, `srt://`, `http(s)://`,
/// HLS) and reads what it holds: container, duration, the main video and audio streams, tags.
/// Nothing is decoded. A URL is shown redacted in the result and in errors.
///
/// ```no_run
/// let info = livekit_sources::probe("clip.mp4")?;
/// if let Some(video) = &info.video {
///     println!("{}x{} at {:.2} fps", video.width, video.height, video.frame_rate);
/// }
/// # Ok::<(), livekit_sources::ProbeError>(())
/// ```
pub fn probe(path_or_url: impl AsRef<std::path::Path>) -> Result<MediaInfo, ProbeError> {
    probe_location(&Location::from_path(path_or_url.as_ref()))
}

pub(crate) fn probe_location(location: &Location) -> Result<MediaInfo, ProbeError> {
    if let Location::File(path) = location {
        // A FIFO or a device (/dev/stdin, /dev/zero) has no length to check and may never
        // end: name it for what it is rather than open it.
        if let Ok(meta) = std::fs::metadata(path)
            && !meta.is_file()
            && !meta.is_dir()
        {
            return Err(ProbeError::Io {
                name: location.shown(),
                detail: format!("not a regular file ({})", file_kind(&meta)),
            });
        }
    }
    let (input, _interrupt) = open_input(location, &ReaderSettings::default())?;
    let name = location.shown();
    let mut main = Vec::new();
    let video = input
        .streams()
        .best(MediaType::Video)
        .filter(is_picture_stream)
        .or_else(|| input.streams().find(is_picture_stream))
        .map(|stream| {
            main.push(stream.index());
            let parameters = stream.parameters();
            let id = parameters.id();
            // SAFETY: the parameters belong to a live stream of `input`.
            let (width, height, format) = unsafe {
                let p = parameters.as_ptr();
                ((*p).width, (*p).height, (*p).format)
            };
            let avg = stream.avg_frame_rate();
            let base = stream.rate();
            let rate = |r: ff::Rational| {
                if r.numerator() > 0 && r.denominator() > 0 {
                    f64::from(r.numerator()) / f64::from(r.denominator())
                } else {
                    0.0
                }
            };
            let frame_rate = frame_duration_of(&stream).map_or(0.0, |d| {
                if rate(avg) > 0.0 {
                    rate(avg)
                } else {
                    1.0 / d.as_secs_f64()
                }
            });
            let pixel_format = pixel_format_name(format);
            VideoInfo {
                codec: codec_name(id),
                decodable: id != ff::codec::Id::None && ff::decoder::find(id).is_some(),
                width: u32::try_from(width).unwrap_or(0),
                height: u32::try_from(height).unwrap_or(0),
                frame_rate,
                variable_frame_rate: rate(avg) > 0.0
                    && rate(base) > 0.0
                    && (rate(avg) - rate(base)).abs() > 0.01 * rate(base),
                rotation: rotation_of(&stream),
                pixel_format,
            }
        });
    let audio = input.streams().best(MediaType::Audio).map(|stream| {
        main.push(stream.index());
        let parameters = stream.parameters();
        let id = parameters.id();
        // SAFETY: the parameters belong to a live stream of `input`.
        let (rate, channels) = unsafe {
            let p = parameters.as_ptr();
            ((*p).sample_rate, (*p).ch_layout.nb_channels)
        };
        AudioInfo {
            codec: codec_name(id),
            decodable: id != ff::codec::Id::None && ff::decoder::find(id).is_some(),
            sample_rate: u32::try_from(rate).unwrap_or(0),
            channels: u16::try_from(channels).unwrap_or(0),
        }
    });
    if video.is_none() && audio.is_none() {
        return Err(ProbeError::NoStreams {
            name,
            wanted: "audio or video",
        });
    }
    let mut tags: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in input.metadata().iter() {
        tags.insert(key.to_ascii_lowercase(), value.to_owned());
    }
    // Stream tags (an Ogg/Opus title lives there) fill in what the container lacks.
    for stream in input.streams() {
        for (key, value) in stream.metadata().iter() {
            let key = key.to_ascii_lowercase();
            if matches!(key.as_str(), "title" | "artist" | "album") {
                tags.entry(key).or_insert_with(|| value.to_owned());
            }
        }
    }
    let cover_art = input
        .streams()
        .find(|s| {
            s.parameters().medium() == MediaType::Video
                && s.disposition()
                    .contains(ff::format::stream::Disposition::ATTACHED_PIC)
        })
        .map(|stream| {
            main.push(stream.index());
            let parameters = stream.parameters();
            // SAFETY: the parameters belong to a live stream of `input`.
            let (width, height) = unsafe {
                let p = parameters.as_ptr();
                ((*p).width, (*p).height)
            };
            CoverArtInfo {
                codec: codec_name(parameters.id()),
                width: u32::try_from(width).unwrap_or(0),
                height: u32::try_from(height).unwrap_or(0),
            }
        });
    let mut duration = duration_of(&input);
    if duration.is_none() {
        // Some containers only know their streams' durations.
        duration = input
            .streams()
            .filter(|s| s.duration() > 0)
            .map(|s| Duration::from_nanos(to_ns(s.duration(), s.time_base()).max(0) as u64))
            .max();
    }
    let other_streams = input
        .streams()
        .filter(|stream| !main.contains(&stream.index()))
        .map(|stream| StreamSummary {
            index: stream.index(),
            kind: match stream.parameters().medium() {
                MediaType::Video => "video",
                MediaType::Audio => "audio",
                MediaType::Subtitle => "subtitle",
                MediaType::Data => "data",
                MediaType::Attachment => "attachment",
                MediaType::Unknown => "unknown",
            },
            codec: codec_name(stream.parameters().id()),
            language: stream
                .metadata()
                .get("language")
                .filter(|l| !l.trim().is_empty() && *l != "und")
                .map(str::to_owned),
        })
        .collect();
    Ok(MediaInfo {
        name,
        container: input.format().name().to_owned(),
        duration,
        video,
        audio,
        tags,
        cover_art,
        other_streams,
        is_url: location.is_url(),
    })
}

/// What a path that is not a regular file is, for messages.
fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = meta.file_type();
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    let _ = meta;
    "a special file"
}

/// The name of an `AVPixelFormat` stored as an integer ("" when unknown).
fn pixel_format_name(format: i32) -> String {
    if format < 0 || format >= ff::ffi::AVPixelFormat::AV_PIX_FMT_NB as i32 {
        return String::new();
    }
    // SAFETY: `format` is within the enum's range (checked above), and FFmpeg returns a static
    // string or null for it.
    unsafe {
        let format = std::mem::transmute::<i32, ff::ffi::AVPixelFormat>(format);
        let name = ff::ffi::av_get_pix_fmt_name(format);
        if name.is_null() {
            String::new()
        } else {
            std::ffi::CStr::from_ptr(name)
                .to_string_lossy()
                .into_owned()
        }
    }
}
