//! Whether a file's packets can be streamed as they are (pass-through, `--copy`).

use std::time::Duration;

use livekit_core::{Codec, MediaKind, StreamInfo, StreamParams};

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
    /// The codec is right but the format is not one sites and players take: H.264 that is
    /// not 8-bit 4:2:0 (High 10, 4:2:2, 4:4:4), AAC at a rate other than 44.1 or 48 kHz or
    /// with more than two channels.
    #[error("{input}: cannot stream without re-encoding: {what}")]
    Format {
        /// The file or URL.
        input: String,
        /// What is wrong, and what is wanted.
        what: String,
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
        if let Some(what) = unsuitable_format(stream) {
            return Err(CopyError::Format {
                input: input.to_owned(),
                what,
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

/// What makes an H.264 or AAC stream unfit to send as it is, if anything.
fn unsuitable_format(stream: &StreamInfo) -> Option<String> {
    match stream.params {
        StreamParams::Video { .. } => {
            let profile = h264_profile(&stream.extradata)?;
            let name = match profile {
                110 => "High 10",
                122 => "High 4:2:2",
                244 => "High 4:4:4",
                44 => "CAVLC 4:4:4",
                _ => return None,
            };
            Some(format!(
                "video is H.264 {name} (profile {profile}); sites and players take 8-bit 4:2:0 \
                 (Baseline, Main or High)"
            ))
        }
        StreamParams::Audio {
            sample_rate,
            channels,
            ..
        } => {
            if ![44_100, 48_000].contains(&sample_rate) {
                Some(format!(
                    "audio is AAC at {sample_rate} Hz; sites take 44.1 or 48 kHz"
                ))
            } else if channels > 2 {
                Some(format!(
                    "audio is AAC with {channels} channels; sites take mono or stereo"
                ))
            } else {
                None
            }
        }
    }
}

/// The `profile_idc` of H.264 global headers: the second byte of the avcC record (Annex B
/// headers are made into one first). `None` when there are none (in-band headers).
fn h264_profile(extradata: &[u8]) -> Option<u8> {
    if crate::encode::avc::is_annex_b(extradata) {
        return crate::encode::avc::avcc_from_annex_b(extradata)?
            .get(1)
            .copied();
    }
    (extradata.first() == Some(&1))
        .then(|| extradata.get(1).copied())
        .flatten()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use livekit_core::TimeBase;

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
        // High 4:4:4 (avcC, profile 244) and High 10 (Annex B SPS, profile 110).
        let mut high444 = stream(Codec::H264, true);
        high444.extradata = Arc::from(vec![1, 244, 0, 30, 0xff, 0xe1]);
        assert_eq!(
            copy_compatible("d.mp4", &[high444], None, limit)
                .unwrap_err()
                .to_string(),
            "d.mp4: cannot stream without re-encoding: video is H.264 High 4:4:4 (profile 244); sites and players take 8-bit 4:2:0 (Baseline, Main or High)"
        );
        let mut high10 = stream(Codec::H264, true);
        high10.extradata = Arc::from(vec![0, 0, 0, 1, 0x67, 110, 0, 30]);
        assert!(matches!(
            copy_compatible("e.ts", &[high10], None, limit),
            Err(CopyError::Format { .. })
        ));
        let mut high = stream(Codec::H264, true);
        high.extradata = Arc::from(vec![1, 100, 0, 31, 0xff, 0xe1]);
        let mut surround = stream(Codec::Aac, false);
        surround.params = StreamParams::Audio {
            sample_rate: 48_000,
            channels: 6,
            frame_size: 1024,
        };
        assert_eq!(
            copy_compatible("f.mp4", &[high.clone(), surround], None, limit)
                .unwrap_err()
                .to_string(),
            "f.mp4: cannot stream without re-encoding: audio is AAC with 6 channels; sites take mono or stereo"
        );
        let mut hifi = stream(Codec::Aac, false);
        hifi.params = StreamParams::Audio {
            sample_rate: 96_000,
            channels: 2,
            frame_size: 1024,
        };
        assert!(matches!(
            copy_compatible("g.mp4", &[high.clone(), hifi], None, limit),
            Err(CopyError::Format { .. })
        ));
        assert!(copy_compatible("h.mp4", &[high], None, limit).is_ok());
        let audio_only = [stream(Codec::Aac, false)];
        assert!(matches!(
            copy_compatible("c.m4a", &audio_only, None, limit),
            Err(CopyError::NoVideo { .. })
        ));
    }
}
