//! Shared by the media tests: clips made with the ffmpeg CLI, and collectors that read a
//! player's ports on their own threads and keep what the tests check (timestamps, sizes,
//! flashes, beeps).
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use livekit_core::thread::spawn_named;
use livekit_core::{AudioFrame, FrameSource, PixelFormat, Port, Pull, VideoFrame};
use livekit_testkit::media::ffmpeg;

/// A clip with a white flash (one frame) and a 1 kHz beep (100 ms) at each whole second, on
/// black and silence. H.264 + AAC in `name`'s container.
pub fn av_sync_clip(dir: &Path, name: &str, seconds: u32, size: (u32, u32), fps: u32) -> PathBuf {
    let path = dir.join(name);
    let flash = 1.0 / f64::from(fps) * 0.9;
    let video = format!(
        "color=c=black:s={}x{}:r={fps}:d={seconds},drawbox=c=white:t=fill:enable='lt(mod(t\\,1)\\,{flash})'",
        size.0, size.1
    );
    // Evaluated per sample, so the beep starts exactly on the second.
    let audio = format!("aevalsrc='0.2*sin(2*PI*1000*t)*lt(mod(t\\,1)\\,0.1)':s=48000:d={seconds}");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &video,
        "-f",
        "lavfi",
        "-i",
        &audio,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        &fps.to_string(),
        "-c:a",
        "aac",
        "-ac",
        "2",
        "-shortest",
        path.to_str().unwrap(),
    ]);
    path
}

/// What a collector kept of one video frame.
#[derive(Debug, Clone, Copy)]
pub struct Shot {
    pub pts: Duration,
    pub width: u32,
    pub height: u32,
    pub format: PixelFormat,
    /// Mean of the first plane (luma for YUV, red for RGBA).
    pub level: f32,
}

/// What a collector kept of the audio.
#[derive(Debug, Clone, Default)]
pub struct Heard {
    /// (pts, samples per channel, sample rate, channels) of each frame.
    pub frames: Vec<(Duration, usize, u32, u16)>,
    /// Times where a sound starts after at least 200 ms of silence.
    pub onsets: Vec<Duration>,
    /// Largest absolute sample.
    pub peak: f32,
}

fn level(frame: &VideoFrame) -> f32 {
    let mut sum = 0u64;
    let h = frame.layout().rows(0);
    let step = if frame.format() == PixelFormat::Rgba8 {
        4
    } else {
        1
    };
    let mut n = 0u64;
    for y in 0..h {
        for v in frame.row(0, y).iter().step_by(step) {
            sum += u64::from(*v);
            n += 1;
        }
    }
    sum as f32 / n.max(1) as f32
}

/// What a collector keeps of `frame`.
pub fn shot(frame: &VideoFrame) -> Shot {
    Shot {
        pts: frame.pts(),
        width: frame.width(),
        height: frame.height(),
        format: frame.format(),
        level: level(frame),
    }
}

/// Reads `port` to its end on a thread; returns a handle giving the shots.
pub fn collect_video(port: Port<VideoFrame>) -> livekit_core::thread::Worker<Vec<Shot>> {
    spawn_named("test-video", move || {
        let mut shots = Vec::new();
        loop {
            match port.next(Duration::from_secs(30)) {
                Pull::Frame(f) => shots.push(shot(&f)),
                Pull::Ended => break,
                Pull::Pending => panic!("no video for 30 s"),
            }
        }
        shots
    })
    .unwrap()
}

/// Reads `port` to its end on a thread; returns a handle giving what was heard.
pub fn collect_audio(port: Port<AudioFrame>) -> livekit_core::thread::Worker<Heard> {
    spawn_named("test-audio", move || {
        let mut heard = Heard::default();
        let mut quiet = u64::MAX / 2;
        loop {
            match port.next(Duration::from_secs(30)) {
                Pull::Frame(f) => {
                    // A jump in time (a seek) starts a new stretch: what follows may be an onset.
                    if let Some(&(pts, n, rate, _)) = heard.frames.last() {
                        let end = pts + Duration::from_secs_f64(n as f64 / f64::from(rate));
                        if f.pts().abs_diff(end) > Duration::from_millis(1) {
                            quiet = u64::MAX / 2;
                        }
                    }
                    heard
                        .frames
                        .push((f.pts(), f.frames(), f.sample_rate(), f.channels()));
                    let ch = usize::from(f.channels());
                    for (i, s) in f.samples().chunks_exact(ch).enumerate() {
                        let a = s.iter().fold(0f32, |m, x| m.max(x.abs()));
                        heard.peak = heard.peak.max(a);
                        if a > 0.03 {
                            if quiet >= 9600 {
                                heard.onsets.push(
                                    f.pts()
                                        + Duration::from_secs_f64(
                                            i as f64 / f64::from(f.sample_rate()),
                                        ),
                                );
                            }
                            quiet = 0;
                        } else if a < 0.005 {
                            quiet += 1;
                        }
                    }
                }
                Pull::Ended => break,
                Pull::Pending => panic!("no audio for 30 s"),
            }
        }
        heard
    })
    .unwrap()
}

/// Flash onsets: frames brighter than mid-grey after a dark one.
pub fn flashes(shots: &[Shot]) -> Vec<Duration> {
    let mut out = Vec::new();
    let mut was_bright = false;
    for s in shots {
        let bright = s.level > 128.0;
        if bright && !was_bright {
            out.push(s.pts);
        }
        was_bright = bright;
    }
    out
}

/// Asserts every flash has a beep within `tolerance` and the counts match.
pub fn assert_in_sync(flashes: &[Duration], beeps: &[Duration], tolerance: Duration) {
    assert!(!flashes.is_empty(), "no flash seen");
    assert_eq!(
        flashes.len(),
        beeps.len(),
        "flashes {flashes:?} vs beeps {beeps:?}"
    );
    for (f, b) in flashes.iter().zip(beeps) {
        let off = f.abs_diff(*b);
        assert!(
            off <= tolerance,
            "flash at {f:?} but beep at {b:?}: {off:?} apart (more than {tolerance:?})"
        );
    }
}

/// Audio frames follow each other with no gap and no overlap (to the sample, 1 µs slack).
pub fn assert_audio_continuous(heard: &Heard) {
    for pair in heard.frames.windows(2) {
        let (pts, n, rate, _) = pair[0];
        let end = pts + Duration::from_secs_f64(n as f64 / f64::from(rate));
        let next = pair[1].0;
        let gap = next.abs_diff(end);
        assert!(
            gap <= Duration::from_micros(30),
            "audio not continuous: a frame ends at {end:?}, the next starts at {next:?}"
        );
    }
}
