//! Generated sources for the encoder and recorder tests: a moving gradient (or noise, or a
//! solid colour) in any pixel format, and a sine.

#![allow(clippy::unwrap_used, dead_code)]

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use livekit_core::thread::{Worker, spawn_named};
use livekit_core::{
    AudioFrame, AudioSource, ColorSpace, FrameLayout, FramePool, FrameTarget, PixelFormat, Port,
    VideoFrame, VideoSource,
};

/// What the video frames show.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Picture {
    /// A diagonal gradient that moves 4 px a frame.
    Gradient,
    /// Random pixels (what no encoder can compress: for bit-rate tests).
    Noise,
    /// One colour (RGB), converted to the frame's format.
    Solid([u8; 3]),
}

/// A video feed: `frames` frames at `fps`, each `size` in `format` (or per frame, by `size_at`).
pub struct VideoFeed {
    pub frames: u64,
    pub fps: u32,
    pub format: PixelFormat,
    pub picture: Picture,
    pub size_at: fn(u64) -> (u32, u32),
}

/// BT.709 limited-range YUV of an RGB colour.
pub fn yuv709(rgb: [u8; 3]) -> [u8; 3] {
    let [r, g, b] = rgb.map(|c| f64::from(c) / 255.0);
    let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    let u = (b - y) / 1.8556;
    let v = (r - y) / 1.5748;
    [
        (16.0 + 219.0 * y).round() as u8,
        (128.0 + 224.0 * u).round() as u8,
        (128.0 + 224.0 * v).round() as u8,
    ]
}

/// BT.601 limited-range YUV of an RGB colour.
pub fn yuv601(rgb: [u8; 3]) -> [u8; 3] {
    let [r, g, b] = rgb.map(|c| f64::from(c) / 255.0);
    let y = 0.299 * r + 0.587 * g + 0.114 * b;
    let u = (b - y) / 1.772;
    let v = (r - y) / 1.402;
    [
        (16.0 + 219.0 * y).round() as u8,
        (128.0 + 224.0 * u).round() as u8,
        (128.0 + 224.0 * v).round() as u8,
    ]
}

fn pixel(picture: Picture, x: u32, y: u32, n: u64, seed: &mut u32) -> [u8; 3] {
    match picture {
        Picture::Gradient => {
            let t = (n * 4) as u32;
            [
                ((x + t) % 256) as u8,
                ((y + t / 2) % 256) as u8,
                ((x + y) % 256) as u8,
            ]
        }
        Picture::Noise => {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 17;
            *seed ^= *seed << 5;
            let [a, b, c, _] = seed.to_le_bytes();
            [a, b, c]
        }
        Picture::Solid(rgb) => rgb,
    }
}

/// Frame `n` of a feed.
pub fn make_frame(feed: &VideoFeed, n: u64, seed: &mut u32) -> VideoFrame {
    let (w, h) = (feed.size_at)(n);
    let pts = Duration::from_secs_f64(n as f64 / f64::from(feed.fps));
    let layout = FrameLayout::with_alignment(w, h, feed.format, 32).unwrap();
    let pool = FramePool::new(layout);
    let mut frame = pool.acquire(pts);
    let to_yuv = |rgb: [u8; 3], cs: ColorSpace| {
        if cs == ColorSpace::BT601_LIMITED {
            yuv601(rgb)
        } else {
            yuv709(rgb)
        }
    };
    match feed.format {
        PixelFormat::Rgba8 | PixelFormat::Bgra8 => {
            let bgra = feed.format == PixelFormat::Bgra8;
            for y in 0..h {
                let row = frame.row_mut(0, y as usize);
                for x in 0..w {
                    let [r, g, b] = pixel(feed.picture, x, y, n, seed);
                    let px = if bgra { [b, g, r, 255] } else { [r, g, b, 255] };
                    row[x as usize * 4..x as usize * 4 + 4].copy_from_slice(&px);
                }
            }
        }
        PixelFormat::I420(cs) | PixelFormat::Nv12(cs) => {
            let nv12 = matches!(feed.format, PixelFormat::Nv12(_));
            let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
            let mut yplane = vec![0u8; (w * h) as usize];
            let mut u = vec![0u8; (cw * ch) as usize];
            let mut v = vec![0u8; (cw * ch) as usize];
            for y in 0..h {
                for x in 0..w {
                    let [yy, uu, vv] = to_yuv(pixel(feed.picture, x, y, n, seed), cs);
                    yplane[(y * w + x) as usize] = yy;
                    if x % 2 == 0 && y % 2 == 0 {
                        u[((y / 2) * cw + x / 2) as usize] = uu;
                        v[((y / 2) * cw + x / 2) as usize] = vv;
                    }
                }
            }
            for y in 0..h as usize {
                frame
                    .row_mut(0, y)
                    .copy_from_slice(&yplane[y * w as usize..(y + 1) * w as usize]);
            }
            for y in 0..ch as usize {
                let (cw, row) = (cw as usize, y * cw as usize);
                if nv12 {
                    let dst = frame.row_mut(1, y);
                    for x in 0..cw {
                        dst[2 * x] = u[row + x];
                        dst[2 * x + 1] = v[row + x];
                    }
                } else {
                    frame.row_mut(1, y).copy_from_slice(&u[row..row + cw]);
                    frame.row_mut(2, y).copy_from_slice(&v[row..row + cw]);
                }
            }
        }
        other => panic!("no test frames for {other}"),
    }
    frame.freeze()
}

/// Starts a thread writing the feed's frames into a blocking port, then ending it.
pub fn video_source(feed: VideoFeed) -> (Arc<dyn VideoSource>, Worker<()>) {
    let port = Port::blocking(4);
    let writer = port.clone();
    let worker = spawn_named("test-video", move || {
        let mut seed = 0x1234_5678u32;
        for n in 0..feed.frames {
            if writer.push(make_frame(&feed, n, &mut seed)).is_err() {
                break;
            }
        }
        writer.end();
    })
    .unwrap();
    (Arc::new(port), worker)
}

/// A 440 Hz sine: `seconds` long at `rate` Hz with `channels` channels, in blocks of `block`
/// sample frames, into a blocking port.
pub fn sine_source(
    seconds: f64,
    rate: u32,
    channels: u16,
    block: usize,
) -> (Arc<dyn AudioSource>, Worker<()>) {
    let port = Port::blocking(16);
    let writer = port.clone();
    let worker = spawn_named("test-audio", move || {
        let total = (seconds * f64::from(rate)) as usize;
        let mut at = 0;
        while at < total {
            let n = block.min(total - at);
            let mut samples = Vec::with_capacity(n * usize::from(channels));
            for i in at..at + n {
                let s =
                    0.5 * (2.0 * std::f64::consts::PI * 440.0 * i as f64 / f64::from(rate)).sin();
                samples.extend(std::iter::repeat_n(s as f32, usize::from(channels)));
            }
            let pts = Duration::from_secs_f64(at as f64 / f64::from(rate));
            let frame = AudioFrame::new(samples, rate, channels, pts).unwrap();
            if writer.push(frame).is_err() {
                break;
            }
            at += n;
        }
        writer.end();
    })
    .unwrap();
    (Arc::new(port), worker)
}

/// A feed of `frames` RGBA gradient frames at 30 fps, 320x240.
pub fn gradient(frames: u64) -> VideoFeed {
    VideoFeed {
        frames,
        fps: 30,
        format: PixelFormat::Rgba8,
        picture: Picture::Gradient,
        size_at: |_| (320, 240),
    }
}

/// The RGB of the pixel at (x, y) of the first video frame of `path`, decoded by the ffmpeg
/// CLI with the BT.709 matrix.
pub fn decoded_pixel(path: &std::path::Path, x: u32, y: u32) -> [u8; 3] {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args([
            "-frames:v",
            "1",
            "-vf",
            "scale=in_color_matrix=bt709:in_range=tv:out_range=pc",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let probe = livekit_testkit::probe::ffprobe(path).unwrap();
    let width = probe.video().unwrap().width.unwrap();
    let i = ((y * width + x) * 3) as usize;
    [out.stdout[i], out.stdout[i + 1], out.stdout[i + 2]]
}

/// Video bit rate in kb/s: the video packets' bytes over the stream's duration.
pub fn video_kbps(path: &std::path::Path) -> f64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=size",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let bytes: u64 = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse::<u64>().ok())
        .sum();
    let probe = livekit_testkit::probe::ffprobe(path).unwrap();
    let seconds = probe.video().unwrap().duration.unwrap_or(probe.duration());
    bytes as f64 * 8.0 / seconds / 1000.0
}
