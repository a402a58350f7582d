//! Test media made with the ffmpeg CLI.

use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `ffmpeg -hide_banner -loglevel error -y ARGS...`; panics with ffmpeg's stderr on failure.
pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ffmpeg (install it: ./dev setup)");
    assert!(
        out.status.success(),
        "ffmpeg {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What [`clip`] makes.
#[derive(Debug, Clone)]
pub struct ClipSpec {
    /// Length in seconds.
    pub seconds: f64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// A 440 Hz sine at 48 kHz stereo, or no audio.
    pub audio: bool,
    /// Keyframe interval in frames.
    pub gop: u32,
}

impl Default for ClipSpec {
    /// 2 s of 320x240 at 30 fps with audio, a keyframe every second.
    fn default() -> Self {
        Self {
            seconds: 2.0,
            width: 320,
            height: 240,
            fps: 30,
            audio: true,
            gop: 30,
        }
    }
}

/// Writes a clip (testsrc2 video in H.264, sine audio in AAC) to `path`; the container follows
/// the extension (`.mp4`, `.mkv`, `.flv`, ...).
pub fn clip(path: &Path, spec: &ClipSpec) {
    let video = format!(
        "testsrc2=size={}x{}:rate={}",
        spec.width, spec.height, spec.fps
    );
    let seconds = spec.seconds.to_string();
    let gop = spec.gop.to_string();
    let path = path.to_str().expect("UTF-8 path");
    let mut args = vec!["-f", "lavfi", "-i", &video];
    if spec.audio {
        args.extend(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]);
    }
    args.extend([
        "-t",
        &seconds,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        &gop,
    ]);
    if spec.audio {
        args.extend(["-c:a", "aac", "-ac", "2"]);
    }
    args.push(path);
    ffmpeg(&args);
}
