//! [`EncoderSettings`] and the default bit rate table.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Which H.264 encoder to use.
///
/// Hardware encoders fall back to libx264 when they cannot be opened (no GPU, no driver, an
/// unsupported size), with a warning saying why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum H264Encoder {
    /// libx264 (software). The default.
    #[default]
    X264,
    /// NVIDIA NVENC (`h264_nvenc`).
    Nvenc,
    /// VA-API (`h264_vaapi`: Intel and AMD GPUs on Linux), on the first render node.
    Vaapi,
    /// NVENC, else VA-API, else libx264 (what was tried is logged at debug level).
    Auto,
}

impl H264Encoder {
    /// The name used in settings and on the command line (`x264`, `nvenc`, `vaapi`, `auto`).
    pub fn name(self) -> &'static str {
        match self {
            Self::X264 => "x264",
            Self::Nvenc => "nvenc",
            Self::Vaapi => "vaapi",
            Self::Auto => "auto",
        }
    }
}

impl fmt::Display for H264Encoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An encoder name that is not `x264`, `nvenc`, `vaapi` or `auto`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown H.264 encoder {0:?} (choose x264, nvenc, vaapi or auto)")]
pub struct UnknownEncoder(pub String);

impl FromStr for H264Encoder {
    type Err = UnknownEncoder;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "x264" | "libx264" => Ok(Self::X264),
            "nvenc" | "h264_nvenc" => Ok(Self::Nvenc),
            "vaapi" | "h264_vaapi" => Ok(Self::Vaapi),
            "auto" => Ok(Self::Auto),
            _ => Err(UnknownEncoder(s.to_owned())),
        }
    }
}

/// How the video bit rate is controlled. The target is [`VideoSettings::kbps`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateControl {
    /// Constant bit rate: the stream never goes under or over the target (x264 adds filler
    /// data, `nal-hrd=cbr`), with a one-second VBV buffer. What most streaming sites ask for.
    Cbr,
    /// Variable bit rate averaging the target, peaks capped at `max_kbps` with a VBV buffer of
    /// `bufsize_kbits`.
    Vbr {
        /// Peak rate in kb/s; `None`: the target (a capped VBR, like FFmpeg's `-maxrate`
        /// equal to `-b:v`).
        max_kbps: Option<u32>,
        /// VBV buffer in kbit; `None`: twice the peak rate (two seconds).
        bufsize_kbits: Option<u32>,
    },
}

impl Default for RateControl {
    /// A VBR capped at the target with a two-second buffer.
    fn default() -> Self {
        Self::Vbr {
            max_kbps: None,
            bufsize_kbits: None,
        }
    }
}

/// Video encoding settings.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoSettings {
    /// Output width. Default 1280. Odd widths are rounded down to even (H.264 4:2:0 needs
    /// even sizes), and frames of any other size are scaled to the output size.
    pub width: u32,
    /// Output height. Default 720. Rounded down to even like the width.
    pub height: u32,
    /// Nominal frame rate as `(frames, per seconds)`: `(30, 1)` (the default), `(30000, 1001)`.
    /// Frames keep their own timestamps; the rate sets the keyframe spacing, the rate control
    /// and the containers' nominal rate.
    pub fps: (u32, u32),
    /// The video codec. Default [`VideoCodec::H264`].
    pub codec: VideoCodec,
    /// Which H.264 encoder. Default [`H264Encoder::X264`].
    pub encoder: H264Encoder,
    /// x264 preset (`ultrafast` .. `veryslow`). Default `veryfast`. Hardware encoders get the
    /// nearest preset of theirs.
    pub preset: String,
    /// x264 tune (`zerolatency`, `film`, `animation`, ...). Default none. `zerolatency` also
    /// turns hardware encoders to low latency.
    pub tune: Option<String>,
    /// H.264 profile (`baseline`, `main`, `high`). Default none: the encoder's choice (high).
    pub profile: Option<String>,
    /// Target bit rate in kb/s; `None` (the default): [`default_video_kbps`] for the height
    /// and frame rate.
    pub kbps: Option<u32>,
    /// How the bit rate is held. Default [`RateControl::default`] (VBR capped at the target).
    pub rate_control: RateControl,
    /// Time from one keyframe to the next. Default 2 s (what streaming sites ask for).
    /// Keyframes come at exactly this spacing (no extra ones on scene cuts).
    pub keyframe_interval: Duration,
    /// Encoder threads; 0 (the default): for x264, as many as the picture size, frame rate
    /// and preset need (see [`x264_threads`](Self::x264_threads)); hardware encoders choose
    /// their own.
    pub threads: usize,
    /// The most time x264 may look ahead for frame types and rate control; `None` (the
    /// default): as far as the preset looks (10 frames at `veryfast`, 40 at `medium`). Each
    /// frame looked ahead is a frame of latency and a picture in memory (about 3.5 MB at
    /// 720p); a cap only ever lowers the preset's.
    pub max_lookahead: Option<Duration>,
}

/// The video codec an encoder makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VideoCodec {
    /// H.264 (with the encoder [`VideoSettings::encoder`] names): what RTMP, SRT, MP4, HLS
    /// and most WebRTC peers take.
    #[default]
    H264,
    /// VP8 (libvpx, real-time): for WebRTC peers that offer no H.264 (a Firefox without its
    /// OpenH264 plug-in, Chromium builds without H.264). The `encoder`, `preset`, `tune` and
    /// `profile` settings are H.264's and do not apply.
    Vp8,
}

/// Pixels a second one x264 thread is given at the fastest presets (720p at 30 fps). One
/// thread encodes that several times faster than real time at `veryfast` on a current desktop
/// core; each further frame thread keeps several more frames in flight (about 10 MB each
/// at 720p), so threads are only added where the work needs them.
const X264_PIXELS_PER_THREAD: f64 = 1280.0 * 720.0 * 30.0;

impl Default for VideoSettings {
    fn default() -> Self {
        Self {
            width: 1280,
            height: 720,
            fps: (30, 1),
            codec: VideoCodec::default(),
            encoder: H264Encoder::default(),
            preset: "veryfast".to_owned(),
            tune: None,
            profile: None,
            kbps: None,
            rate_control: RateControl::default(),
            keyframe_interval: Duration::from_secs(2),
            threads: 0,
            max_lookahead: None,
        }
    }
}

impl VideoSettings {
    /// The size frames are encoded at: each side rounded down to even, at least 2.
    pub fn encoded_size(&self) -> (u32, u32) {
        let even = |side: u32| (side & !1).max(2);
        (even(self.width), even(self.height))
    }

    /// The frame rate as a number.
    pub fn fps_f64(&self) -> f64 {
        if self.fps.1 == 0 {
            return 0.0;
        }
        f64::from(self.fps.0) / f64::from(self.fps.1)
    }

    /// The target bit rate: [`kbps`](Self::kbps), or the default for the size and rate.
    pub fn target_kbps(&self) -> u32 {
        self.kbps
            .unwrap_or_else(|| default_video_kbps(self.encoded_size().1, self.fps_f64()))
    }

    /// The x264 threads to use: [`threads`](Self::threads) when set, otherwise one per 720p30
    /// of work (pixels a second, times how much slower than `veryfast` the preset is), at
    /// most one per core. 720p30 at `veryfast` gets one thread, 1080p30 three (given three cores).
    pub fn x264_threads(&self) -> usize {
        if self.threads > 0 {
            return self.threads;
        }
        // How much slower than `veryfast` a preset is, roughly (x264's own speed table).
        let cost = match self.preset.as_str() {
            "ultrafast" | "superfast" | "veryfast" => 1.0,
            "faster" | "fast" => 2.0,
            "medium" => 3.0,
            _ => 6.0,
        };
        let (width, height) = self.encoded_size();
        let pixels = f64::from(width) * f64::from(height) * self.fps_f64() * cost;
        let wanted = (pixels / X264_PIXELS_PER_THREAD - 0.01).ceil();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if wanted.is_finite() && wanted >= 1.0 {
            (wanted as usize).min(cores.max(1))
        } else {
            1
        }
    }

    /// The x264 lookahead in frames when [`max_lookahead`](Self::max_lookahead) lowers the
    /// preset's (`None`: the preset's stands).
    pub fn x264_lookahead(&self) -> Option<u32> {
        let cap = self.max_lookahead?;
        // x264's presets (common/base.c).
        let preset = match self.preset.as_str() {
            "ultrafast" | "superfast" => 0,
            "veryfast" => 10,
            "faster" => 20,
            "fast" => 30,
            "medium" => 40,
            "slow" => 50,
            _ => 60,
        };
        let frames = (cap.as_secs_f64() * self.fps_f64()).round();
        let frames = if frames.is_finite() && frames >= 0.0 {
            frames.min(f64::from(u16::MAX)) as u32
        } else {
            0
        };
        (frames < preset).then_some(frames)
    }

    /// Frames from one keyframe to the next (at least 1).
    pub fn gop_frames(&self) -> u32 {
        let frames = (self.keyframe_interval.as_secs_f64() * self.fps_f64()).round();
        if frames.is_finite() && frames >= 1.0 {
            frames.min(f64::from(u16::MAX)) as u32
        } else {
            1
        }
    }
}

/// AAC audio encoding settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioSettings {
    /// The codec. Default AAC.
    pub codec: AudioCodec,
    /// Bit rate in kb/s. Default 128.
    pub kbps: u32,
    /// Output sample rate. Default 48000. Input at any rate is resampled.
    pub sample_rate: u32,
    /// Output channels (1 or 2). Default 2. Input with any channel count is remixed.
    pub channels: u16,
}

impl Default for AudioSettings {
    fn default() -> Self {
        Self {
            codec: AudioCodec::Aac,
            kbps: 128,
            sample_rate: 48_000,
            channels: 2,
        }
    }
}

/// An audio codec the [`Encoder`](crate::Encoder) makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AudioCodec {
    /// AAC-LC: what RTMP, SRT (MPEG-TS), MP4 and HLS carry.
    #[default]
    Aac,
    /// Opus (libopus, 20 ms frames; 48, 24, 16, 12 or 8 kHz): what WebRTC peers take.
    Opus,
}

/// Everything an [`Encoder`](crate::Encoder) needs.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderSettings {
    /// H.264 video.
    pub video: VideoSettings,
    /// AAC audio (used when an audio source is given).
    pub audio: AudioSettings,
    /// How many packets may wait for the reader of [`packets`](crate::RunningEncoder::packets)
    /// before the encoder waits (the port blocks: nothing is lost). Default 256 (several
    /// seconds at live rates).
    pub packet_queue: usize,
}

impl Default for EncoderSettings {
    fn default() -> Self {
        Self {
            video: VideoSettings::default(),
            audio: AudioSettings::default(),
            packet_queue: 256,
        }
    }
}

/// PyLivestream's table (height, kb/s), 30 fps.
const KBPS_30: [(u32, u32); 7] = [
    (240, 300),
    (360, 400),
    (480, 500),
    (720, 2500),
    (1080, 3000),
    (1440, 6000),
    (2160, 13000),
];
/// 60 fps (heights below 720 use the 30 fps rows).
const KBPS_60: [(u32, u32); 4] = [(720, 2250), (1080, 4500), (1440, 9000), (2160, 20000)];
/// Stills and slide shows (under 20 fps; heights below 480 use the 30 fps rows).
const KBPS_STILL: [(u32, u32); 3] = [(480, 400), (720, 800), (1080, 1200)];

/// The default video bit rate in kb/s for a picture `height` pixels high at `fps` frames a
/// second, from PyLivestream's table:
///
/// | height | under 20 fps | 30 fps | 60 fps |
/// |-------:|-------------:|-------:|-------:|
/// | 240    |              | 300    |        |
/// | 360    |              | 400    |        |
/// | 480    | 400          | 500    |        |
/// | 720    | 800          | 2500   | 2250   |
/// | 1080   | 1200         | 3000   | 4500   |
/// | 1440   |              | 6000   | 9000   |
/// | 2160   |              | 13000  | 20000  |
///
/// Frame rates under 20 use the stills column, 20 up to 45 the 30 fps one, 45 and up the
/// 60 fps one. A column's empty rows below its first entry take the 30 fps values. Heights
/// between two rows are interpolated linearly; heights below 240 or above the last row scale
/// with the pixel count (height squared) from the nearest row, never under 100 kb/s.
///
/// ```
/// use livekit_sinks::default_video_kbps;
/// assert_eq!(default_video_kbps(720, 30.0), 2500);
/// assert_eq!(default_video_kbps(1080, 60.0), 4500);
/// assert_eq!(default_video_kbps(900, 30.0), 2750);
/// ```
pub fn default_video_kbps(height: u32, fps: f64) -> u32 {
    let column: Vec<(u32, u32)> = {
        let own: &[(u32, u32)] = if fps < 20.0 {
            &KBPS_STILL
        } else if fps < 45.0 {
            &KBPS_30
        } else {
            &KBPS_60
        };
        let first = own.first().map_or(0, |row| row.0);
        KBPS_30
            .iter()
            .filter(|row| row.0 < first)
            .chain(own)
            .copied()
            .collect()
    };
    let (Some(&(low_h, low_kbps)), Some(&(high_h, high_kbps))) = (column.first(), column.last())
    else {
        return 100;
    };
    let by_area = |kbps: u32, from: u32| -> u32 {
        let scaled = u128::from(kbps) * u128::from(height) * u128::from(height)
            / (u128::from(from) * u128::from(from));
        scaled.clamp(100, u128::from(u32::MAX)) as u32
    };
    if height <= low_h {
        return by_area(low_kbps, low_h).min(low_kbps);
    }
    if height >= high_h {
        return by_area(high_kbps, high_h);
    }
    for pair in column.windows(2) {
        let ((h0, k0), (h1, k1)) = (pair[0], pair[1]);
        if (h0..=h1).contains(&height) {
            let (h0, k0, h1, k1, h) = (
                i64::from(h0),
                i64::from(k0),
                i64::from(h1),
                i64::from(k1),
                i64::from(height),
            );
            return (k0 + (k1 - k0) * (h - h0) / (h1 - h0)) as u32;
        }
    }
    high_kbps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_of_the_table() {
        for (h, kbps) in KBPS_30 {
            assert_eq!(default_video_kbps(h, 30.0), kbps, "{h}p30");
            assert_eq!(default_video_kbps(h, 29.97), kbps, "{h}p29.97");
            assert_eq!(default_video_kbps(h, 25.0), kbps, "{h}p25");
        }
        for (h, kbps) in KBPS_60 {
            assert_eq!(default_video_kbps(h, 60.0), kbps, "{h}p60");
            assert_eq!(default_video_kbps(h, 59.94), kbps, "{h}p59.94");
            assert_eq!(default_video_kbps(h, 50.0), kbps, "{h}p50");
        }
        for (h, kbps) in KBPS_STILL {
            assert_eq!(default_video_kbps(h, 1.0), kbps, "{h}p stills");
            assert_eq!(default_video_kbps(h, 15.0), kbps, "{h}p15");
        }
    }

    #[test]
    fn heights_between_rows_are_interpolated() {
        // 540p: a quarter of the way from 480 (500) to 720 (2500).
        assert_eq!(default_video_kbps(540, 30.0), 1000);
        // 900p: halfway from 720 (2500) to 1080 (3000).
        assert_eq!(default_video_kbps(900, 30.0), 2750);
        assert_eq!(default_video_kbps(900, 60.0), 3375);
        assert_eq!(default_video_kbps(900, 10.0), 1000);
        assert_eq!(default_video_kbps(300, 30.0), 350);
        assert_eq!(default_video_kbps(1800, 30.0), 9500);
        // Rows a column lacks come from the 30 fps column.
        assert_eq!(default_video_kbps(480, 60.0), 500);
        assert_eq!(default_video_kbps(600, 60.0), 1375);
        assert_eq!(default_video_kbps(360, 5.0), 400);
        // Between the borrowed 360 row (400) and the stills' own 480 row (400).
        assert_eq!(default_video_kbps(420, 5.0), 400);
    }

    #[test]
    fn heights_outside_the_table_scale_with_area() {
        assert_eq!(default_video_kbps(4320, 30.0), 52000);
        assert_eq!(default_video_kbps(4320, 60.0), 80000);
        assert_eq!(default_video_kbps(2160, 1.0), 4800);
        assert_eq!(default_video_kbps(120, 30.0), 100);
        assert_eq!(default_video_kbps(180, 30.0), 168);
        assert_eq!(default_video_kbps(1, 30.0), 100);
        assert_eq!(default_video_kbps(u32::MAX, 30.0), u32::MAX);
    }

    #[test]
    fn encoder_names_parse() {
        assert_eq!("x264".parse(), Ok(H264Encoder::X264));
        assert_eq!("NVENC".parse(), Ok(H264Encoder::Nvenc));
        assert_eq!("h264_vaapi".parse(), Ok(H264Encoder::Vaapi));
        assert_eq!("auto".parse(), Ok(H264Encoder::Auto));
        assert_eq!(
            "x265".parse::<H264Encoder>().unwrap_err().to_string(),
            "unknown H.264 encoder \"x265\" (choose x264, nvenc, vaapi or auto)"
        );
    }

    #[test]
    fn x264_threads_follow_the_work() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut video = VideoSettings::default();
        assert_eq!(video.x264_threads(), 1);
        video.fps = (30000, 1001);
        assert_eq!(video.x264_threads(), 1);
        video.fps = (60, 1);
        assert_eq!(video.x264_threads(), 2.min(cores));
        (video.width, video.height, video.fps) = (1920, 1080, (30, 1));
        assert_eq!(video.x264_threads(), 3.min(cores));
        video.preset = "medium".into();
        assert_eq!(video.x264_threads(), 7.min(cores));
        video.threads = 5;
        assert_eq!(video.x264_threads(), 5);
        video = VideoSettings {
            width: 320,
            height: 240,
            ..VideoSettings::default()
        };
        assert_eq!(video.x264_threads(), 1);
    }

    #[test]
    fn a_lookahead_cap_only_lowers_the_presets() {
        let mut video = VideoSettings::default();
        assert_eq!(video.x264_lookahead(), None);
        video.max_lookahead = Some(Duration::from_millis(200));
        assert_eq!(video.x264_lookahead(), Some(6));
        video.fps = (60, 1);
        assert_eq!(video.x264_lookahead(), None);
        video.preset = "medium".into();
        assert_eq!(video.x264_lookahead(), Some(12));
        video.preset = "ultrafast".into();
        assert_eq!(video.x264_lookahead(), None);
    }

    #[test]
    fn sizes_and_gop() {
        let settings = VideoSettings {
            width: 321,
            height: 241,
            fps: (30000, 1001),
            ..VideoSettings::default()
        };
        assert_eq!(settings.encoded_size(), (320, 240));
        assert_eq!(settings.gop_frames(), 60);
        let tiny = VideoSettings {
            width: 1,
            height: 1,
            keyframe_interval: Duration::ZERO,
            ..VideoSettings::default()
        };
        assert_eq!(tiny.encoded_size(), (2, 2));
        assert_eq!(tiny.gop_frames(), 1);
        assert_eq!(VideoSettings::default().target_kbps(), 2500);
    }
}
