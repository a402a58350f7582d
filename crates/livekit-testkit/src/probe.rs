//! What ffprobe reads back.

use std::path::Path;
use std::process::{Command, Stdio};

use serde::Deserialize;

/// ffprobe's view of a file or URL.
#[derive(Debug, Clone, Deserialize)]
pub struct Probe {
    /// The container.
    pub format: Format,
    /// The streams.
    #[serde(default)]
    pub streams: Vec<Stream>,
}

/// The container part of [`Probe`].
#[derive(Debug, Clone, Deserialize)]
pub struct Format {
    /// Demuxer name(s), like `mov,mp4,m4a,3gp,3g2,mj2` or `flv`.
    pub format_name: String,
    /// Duration in seconds, when known.
    #[serde(default, deserialize_with = "number_string")]
    pub duration: Option<f64>,
}

/// One stream of [`Probe`].
#[derive(Debug, Clone, Deserialize)]
pub struct Stream {
    /// `video` or `audio` (or `data`, ...).
    pub codec_type: String,
    /// `h264`, `aac`, ...
    #[serde(default)]
    pub codec_name: String,
    /// Video width.
    pub width: Option<u32>,
    /// Video height.
    pub height: Option<u32>,
    /// Audio sample rate.
    #[serde(default, deserialize_with = "number_string")]
    pub sample_rate: Option<f64>,
    /// Audio channels.
    pub channels: Option<u32>,
    /// Average frame rate as ffprobe prints it (`30/1`).
    #[serde(default)]
    pub avg_frame_rate: String,
    /// Stream duration in seconds, when known.
    #[serde(default, deserialize_with = "number_string")]
    pub duration: Option<f64>,
    /// Frames counted by decoding (only with [`ffprobe_count`]).
    #[serde(default, deserialize_with = "number_string")]
    pub nb_read_frames: Option<f64>,
}

impl Probe {
    /// The first video stream.
    pub fn video(&self) -> Option<&Stream> {
        self.streams.iter().find(|s| s.codec_type == "video")
    }

    /// The first audio stream.
    pub fn audio(&self) -> Option<&Stream> {
        self.streams.iter().find(|s| s.codec_type == "audio")
    }

    /// The container duration in seconds (0 when unknown).
    pub fn duration(&self) -> f64 {
        self.format.duration.unwrap_or(0.0)
    }
}

fn number_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match value {
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        _ => None,
    })
}

fn run(target: &str, extra: &[&str]) -> Result<Probe, String> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .args(extra)
        .arg(target)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ffprobe: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ffprobe {target}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("ffprobe {target}: bad JSON: {e}"))
}

/// ffprobe's view of `path`, or ffprobe's error.
pub fn ffprobe(path: &Path) -> Result<Probe, String> {
    run(&path.to_string_lossy(), &[])
}

/// Like [`ffprobe`], also decoding every frame to count them (`nb_read_frames`).
pub fn ffprobe_count(path: &Path) -> Result<Probe, String> {
    run(&path.to_string_lossy(), &["-count_frames"])
}

/// Decodes every frame of every stream with ffprobe (`-count_frames`); `Err` with its messages
/// when anything fails to demux or decode, or when nothing decodes. A playable-file check.
/// (Decoding with `ffmpeg ... -f null -` is not used: its null muxer also complains about
/// variable-frame-rate timestamps that are valid, as live capture produces.)
pub fn decodes_cleanly(path: &Path) -> Result<(), String> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ffprobe: {e}"))?;
    let errors = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if !out.status.success() || !errors.is_empty() {
        return Err(format!("{}: {errors}", path.display()));
    }
    let probe: Probe = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("{}: bad ffprobe JSON: {e}", path.display()))?;
    let frames: f64 = probe.streams.iter().filter_map(|s| s.nb_read_frames).sum();
    if frames < 1.0 {
        return Err(format!("{}: no frame decodes", path.display()));
    }
    Ok(())
}

/// The flags of each video packet of `path` as ffprobe prints them (`"K__"` for a keyframe,
/// `"___"` for others), in order.
pub fn video_packet_flags(path: &Path) -> Result<Vec<String>, String> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "packet=flags", "-of", "csv=p=0"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ffprobe: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ffprobe {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect())
}

/// Whether a packet's flags (from [`video_packet_flags`]) mark a keyframe.
pub fn is_keyframe(flags: &str) -> bool {
    flags.starts_with('K')
}

/// What ffmpeg's `volumedetect` measures of a file's audio, in dBFS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Volume {
    /// The mean (RMS) level.
    pub mean_db: f64,
    /// The loudest sample.
    pub max_db: f64,
}

/// The levels of `path`'s audio (ffmpeg's `volumedetect` over the whole file).
pub fn volume(path: &Path) -> Result<Volume, String> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-i"])
        .arg(path)
        .args(["-af", "volumedetect", "-f", "null", "-"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ffmpeg: {e}"))?;
    let text = String::from_utf8_lossy(&out.stderr);
    let level = |key: &str| {
        text.lines()
            .find_map(|l| l.split(key).nth(1))
            .and_then(|v| v.trim().trim_end_matches("dB").trim().parse::<f64>().ok())
            .ok_or_else(|| format!("no {key} for {}:\n{text}", path.display()))
    };
    Ok(Volume {
        mean_db: level("mean_volume:")?,
        max_db: level("max_volume:")?,
    })
}

/// The mean colour (RGB) of each video frame of `path`, in order; with `region`
/// (`[x, y, width, height]` in the video's pixels), of that part only.
pub fn frame_colours(path: &Path, region: Option<[u32; 4]>) -> Result<Vec<[u8; 3]>, String> {
    let filter = match region {
        Some([x, y, w, h]) => format!("crop={w}:{h}:{x}:{y},scale=1:1"),
        None => "scale=1:1".to_owned(),
    };
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
        .arg(path)
        .args(["-vf", &filter, "-fps_mode", "passthrough"])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ffmpeg: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ffmpeg {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out
        .stdout
        .chunks_exact(3)
        .map(|c| [c[0], c[1], c[2]])
        .collect())
}

/// The time (seconds, the container's clock) of each video frame of `path`, in decoding
/// order, as ffprobe reads them; [`frame_colours`] gives the frames in the same order.
pub fn video_frame_times(path: &Path) -> Result<Vec<f64>, String> {
    entries(path, "v:0", "frame=pts_time")?
        .iter()
        .map(|l| {
            l.parse()
                .map_err(|_| format!("{}: bad frame time {l:?}", path.display()))
        })
        .collect()
}

/// The first audio stream of `path` decoded to mono samples at `rate` Hz, and the time
/// (seconds, the container's clock) of its first sample.
pub fn audio_samples(path: &Path, rate: u32) -> Result<(f64, Vec<f32>), String> {
    let start = entries(path, "a:0", "stream=start_time")?
        .first()
        .and_then(|l| l.parse::<f64>().ok())
        .ok_or_else(|| format!("{}: no audio start time", path.display()))?;
    let rate = rate.to_string();
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
        .arg(path)
        .args([
            "-map", "0:a:0", "-ac", "1", "-ar", &rate, "-f", "f32le", "-",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ffmpeg: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ffmpeg {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let samples = out
        .stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok((start, samples))
}

/// ffprobe's `-show_entries` for one stream, a line each.
fn entries(path: &Path, stream: &str, what: &str) -> Result<Vec<String>, String> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            stream,
            "-show_entries",
            what,
        ])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ffprobe: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ffprobe {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().trim_end_matches(',').to_owned())
        .filter(|l| !l.is_empty())
        .collect())
}

/// Where each run of values above `threshold` starts (indices), runs at least `gap` apart: the
/// flashes in a series of frame brightnesses, the beeps in a series of sample magnitudes.
pub fn onsets(values: impl Iterator<Item = f32>, threshold: f32, gap: usize) -> Vec<usize> {
    let mut found: Vec<usize> = Vec::new();
    for (i, v) in values.enumerate() {
        if v > threshold && found.last().is_none_or(|&last| i >= last + gap) {
            found.push(i);
        }
    }
    found
}
