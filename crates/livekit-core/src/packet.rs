//! Compressed media: [`Packet`]s and the [`StreamInfo`] describing the stream they belong to.
//!
//! An encoder (or a demuxer, for pass-through) writes packets into a `Port<Packet>`; recorders
//! and streamers read them. These types hold plain data (no FFmpeg handles), so every crate can
//! pass them around without depending on FFmpeg.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A rational number of seconds per tick (`1/1000` is milliseconds), as containers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeBase {
    /// Numerator (above 0).
    pub num: i32,
    /// Denominator (above 0).
    pub den: i32,
}

impl TimeBase {
    /// `num/den` seconds per tick.
    pub const fn new(num: i32, den: i32) -> Self {
        Self { num, den }
    }

    /// Ticks in this time base to a duration (negative ticks give zero).
    pub fn to_duration(self, ticks: i64) -> Duration {
        if ticks <= 0 || self.num <= 0 || self.den <= 0 {
            return Duration::ZERO;
        }
        let nanos = ticks as i128 * self.num as i128 * 1_000_000_000 / self.den as i128;
        Duration::from_nanos(nanos.min(u64::MAX as i128) as u64)
    }

    /// A duration to ticks in this time base (rounded down).
    pub fn from_duration(self, duration: Duration) -> i64 {
        if self.num <= 0 || self.den <= 0 {
            return 0;
        }
        let ticks =
            duration.as_nanos() as i128 * self.den as i128 / (self.num as i128 * 1_000_000_000);
        ticks.min(i64::MAX as i128) as i64
    }
}

impl fmt::Display for TimeBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

/// Video or audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// Pictures.
    Video,
    /// Sound.
    Audio,
}

/// A compressed format.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// H.264 / AVC.
    H264,
    /// AAC (any profile).
    Aac,
    /// Anything else, by FFmpeg's codec name (`"hevc"`, `"opus"`, ...).
    Other(String),
}

impl Codec {
    /// FFmpeg's name for the codec (`h264`, `aac`, ...).
    pub fn name(&self) -> &str {
        match self {
            Self::H264 => "h264",
            Self::Aac => "aac",
            Self::Other(name) => name,
        }
    }

    /// The codec with FFmpeg's name `name`.
    pub fn from_name(name: &str) -> Self {
        match name {
            "h264" => Self::H264,
            "aac" => Self::Aac,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What kind of stream, with the numbers a muxer needs for it.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamParams {
    /// A video stream.
    Video {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Nominal frame rate as frames per `den` seconds: `(30, 1)`, `(30000, 1001)`.
        frame_rate: (u32, u32),
    },
    /// An audio stream.
    Audio {
        /// Samples per second.
        sample_rate: u32,
        /// Channel count.
        channels: u16,
        /// Samples per channel in each packet (1024 for AAC), 0 when it varies.
        frame_size: u32,
    },
}

impl StreamParams {
    /// Video or audio.
    pub fn kind(&self) -> MediaKind {
        match self {
            Self::Video { .. } => MediaKind::Video,
            Self::Audio { .. } => MediaKind::Audio,
        }
    }
}

/// Everything a muxer needs to write a stream's headers.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamInfo {
    /// The compressed format.
    pub codec: Codec,
    /// Video or audio, with its sizes and rates.
    pub params: StreamParams,
    /// The time base of the packets' `pts`, `dts` and `duration`.
    pub time_base: TimeBase,
    /// The codec's global header (H.264 `avcC`, AAC `AudioSpecificConfig`); empty when the
    /// stream carries its headers in band.
    pub extradata: Arc<[u8]>,
    /// Average bit rate in bits per second, 0 when unknown.
    pub bit_rate: u64,
}

impl StreamInfo {
    /// Video or audio.
    pub fn kind(&self) -> MediaKind {
        self.params.kind()
    }
}

/// One compressed packet of one stream. Cloning is O(1): clones share the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Packet {
    /// Index of the stream (into the [`StreamInfo`] list that came with the packets).
    pub stream: usize,
    /// The compressed bytes.
    pub data: Arc<[u8]>,
    /// Presentation time, in the stream's time base.
    pub pts: i64,
    /// Decoding time, in the stream's time base.
    pub dts: i64,
    /// Duration, in the stream's time base (0 when unknown).
    pub duration: i64,
    /// Whether decoding can start at this packet (a keyframe; every audio packet is one).
    pub keyframe: bool,
}

impl fmt::Debug for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packet")
            .field("stream", &self.stream)
            .field("bytes", &self.data.len())
            .field("pts", &self.pts)
            .field("dts", &self.dts)
            .field("duration", &self.duration)
            .field("keyframe", &self.keyframe)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_base_round_trips() {
        let tb = TimeBase::new(1, 90_000);
        assert_eq!(tb.to_duration(90_000), Duration::from_secs(1));
        assert_eq!(tb.from_duration(Duration::from_millis(500)), 45_000);
        assert_eq!(tb.to_duration(-5), Duration::ZERO);
        let ntsc = TimeBase::new(1001, 30_000);
        assert_eq!(ntsc.to_duration(30), Duration::from_nanos(1_001_000_000));
    }

    #[test]
    fn codec_names() {
        assert_eq!(Codec::from_name("h264"), Codec::H264);
        assert_eq!(Codec::from_name("opus"), Codec::Other("opus".into()));
        assert_eq!(Codec::Aac.to_string(), "aac");
    }
}
