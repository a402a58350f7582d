//! Whether a file's packets can be streamed as they are (pass-through, `--copy`).

use std::time::Duration;

use livekit_core::{Codec, MediaKind, StreamInfo};

/// Why a file cannot be streamed without re-encoding. Each variant names the input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CopyError {
    /// The input has no video stream.
    #[error("{input}: cannot stream without re-encoding: no video stream")]
    NoVideo {
        /// The file or URL.
        input: String,
    },
    /// A stream is not H.264 video or AAC audio.
    #[error(
        "{input}: cannot stream without re-encoding: {kind} is {codec}, destinations take only H.264 video and AAC audio"
    )]
    Codec {
        /// The file or URL.
        input: String,
        /// `video` or `audio`.
        kind: &'static str,
        /// The codec found.
        codec: String,
    },
    /// Keyframes are further apart than the destination accepts.
    #[error(
        "{input}: cannot stream without re-encoding: keyframes are up to {found:.1} s apart, the destination accepts at most {limit:.1} s"
    )]
    KeyframeSpacing {
        /// The file or URL.
        input: String,
        /// The largest spacing found, in seconds.
        found: f64,
        /// The largest the destination accepts, in seconds.
        limit: f64,
    },
}

/// Checks that the streams of `input` can be sent as they are: H.264 video (required) and AAC
/// audio (optional), with keyframes at most `limit` apart (`max_keyframe_interval` is what
/// the demuxer measured; `None` when it could not tell).
pub fn copy_compatible(
    input: &str,
    streams: &[StreamInfo],
    max_keyframe_interval: Option<Duration>,
    limit: Duration,
) -> Result<(), CopyError> {
    let mut has_video = false;
    for stream in streams {
        let (kind, wanted) = match stream.kind() {
            MediaKind::Video => {
                has_video = true;
                ("video", Codec::H264)
            }
            MediaKind::Audio => ("audio", Codec::Aac),
        };
        if stream.codec != wanted {
            return Err(CopyError::Codec {
                input: input.to_owned(),
                kind,
                codec: stream.codec.to_string(),
            });
        }
    }
    if !has_video {
        return Err(CopyError::NoVideo {
            input: input.to_owned(),
        });
    }
    if let Some(found) = max_keyframe_interval {
        // A frame's worth of slack: "every 4 s" at 30 fps measures 4.0 s exactly.
        if found > limit + Duration::from_millis(50) {
            return Err(CopyError::KeyframeSpacing {
                input: input.to_owned(),
                found: found.as_secs_f64(),
                limit: limit.as_secs_f64(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use livekit_core::{StreamParams, TimeBase};

    use super::*;

    fn stream(codec: Codec, video: bool) -> StreamInfo {
        StreamInfo {
            codec,
            params: if video {
                StreamParams::Video {
                    width: 320,
                    height: 240,
                    frame_rate: (30, 1),
                }
            } else {
                StreamParams::Audio {
                    sample_rate: 48_000,
                    channels: 2,
                    frame_size: 1024,
                }
            },
            time_base: TimeBase::new(1, 1000),
            extradata: Arc::from(Vec::new()),
            bit_rate: 0,
        }
    }

    #[test]
    fn copy_checks() {
        let good = [stream(Codec::H264, true), stream(Codec::Aac, false)];
        let limit = Duration::from_secs(4);
        assert!(copy_compatible("a.mp4", &good, Some(Duration::from_secs(2)), limit).is_ok());
        let error =
            copy_compatible("a.mp4", &good, Some(Duration::from_secs(10)), limit).unwrap_err();
        assert_eq!(
            error.to_string(),
            "a.mp4: cannot stream without re-encoding: keyframes are up to 10.0 s apart, the destination accepts at most 4.0 s"
        );
        let hevc = [stream(Codec::Other("hevc".into()), true)];
        assert_eq!(
            copy_compatible("b.mkv", &hevc, None, limit)
                .unwrap_err()
                .to_string(),
            "b.mkv: cannot stream without re-encoding: video is hevc, destinations take only H.264 video and AAC audio"
        );
        let audio_only = [stream(Codec::Aac, false)];
        assert!(matches!(
            copy_compatible("c.m4a", &audio_only, None, limit),
            Err(CopyError::NoVideo { .. })
        ));
    }
}
