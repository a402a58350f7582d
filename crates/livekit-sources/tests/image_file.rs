//! ImageFile: formats, alpha, EXIF orientation, animation timing, bad files.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use image::codecs::gif::{GifEncoder, Repeat};
use image::codecs::jpeg::JpegEncoder;
use image::{Delay, Frame, ImageFormat, Rgba, RgbaImage};
use livekit_core::{Clock, FrameSource, ManualClock, PixelFormat, Pull, VideoFrame};
use livekit_sources::{ImageFile, ImageSettings, OpenImageError};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Makes a file with the ffmpeg CLI (an encoder independent of the `image` crate).
fn ffmpeg(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-y", "-hide_banner", "-loglevel", "error"])
        .args(args)
        .arg(&out)
        .status()
        .expect("the ffmpeg CLI runs (./dev installs it)");
    assert!(status.success(), "ffmpeg made {name}");
    out
}

fn close(got: [u8; 4], want: [u8; 4], tolerance: u8) -> bool {
    got.iter()
        .zip(want)
        .all(|(g, w)| g.abs_diff(w) <= tolerance)
}

fn manual(clock: &ManualClock, looping: bool) -> ImageSettings {
    ImageSettings {
        clock: Arc::new(clock.clone()),
        looping,
        ..ImageSettings::default()
    }
}

#[test]
fn png_alpha_is_kept_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let pixels: [[u8; 4]; 4] = [
        [255, 0, 0, 255],
        [0, 255, 0, 128],
        [10, 20, 30, 0],
        [200, 100, 50, 1],
    ];
    let mut image = RgbaImage::new(4, 1);
    for (x, p) in pixels.iter().enumerate() {
        image.put_pixel(x as u32, 0, Rgba(*p));
    }
    let path = dir.path().join("alpha.png");
    image.save(&path).unwrap();

    let file = ImageFile::open(&path).unwrap();
    assert!(!file.is_animated());
    let frame = file.frame();
    assert_eq!(frame.format(), PixelFormat::Rgba8);
    for (x, p) in pixels.iter().enumerate() {
        assert_eq!(
            frame.rgba_at(x as u32, 0),
            Some(*p),
            "pixel {x}: straight alpha, untouched"
        );
    }
}

#[test]
fn a_still_image_is_a_stream_of_one_frame() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("still.png");
    RgbaImage::from_pixel(8, 8, Rgba([1, 2, 3, 255]))
        .save(&path)
        .unwrap();
    let file = ImageFile::open(&path).unwrap();
    let first = file
        .latest()
        .frame()
        .expect("the first read gets the image");
    assert_eq!(first.pts(), Duration::ZERO);
    assert!(first.shares_buffer_with(file.frame()), "no copy per read");
    assert!(file.latest().is_ended());
    assert!(file.next(ms(10)).is_ended());

    let file = ImageFile::open(&path).unwrap();
    assert!(file.next(ms(10)).frame().is_some());
    assert!(file.next(ms(10)).is_ended());
}

/// Inserts an EXIF APP1 segment with `orientation` right after a JPEG's SOI marker.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut exif = Vec::new();
    exif.extend_from_slice(b"Exif\0\0");
    exif.extend_from_slice(b"MM\0\x2a\0\0\0\x08"); // big-endian TIFF header, IFD at 8
    exif.extend_from_slice(&1u16.to_be_bytes()); // one entry
    exif.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    exif.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    exif.extend_from_slice(&1u32.to_be_bytes()); // count
    exif.extend_from_slice(&orientation.to_be_bytes());
    exif.extend_from_slice(&[0, 0]);
    exif.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xff, 0xe1]);
    out.extend_from_slice(&(exif.len() as u16 + 2).to_be_bytes());
    out.extend_from_slice(&exif);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn jpeg_exif_orientation_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    // 32x16: left half red, right half blue.
    let image = RgbaImage::from_fn(32, 16, |x, _| {
        if x < 16 {
            Rgba([255, 0, 0, 255])
        } else {
            Rgba([0, 0, 255, 255])
        }
    });
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 95)
        .encode_image(&image::DynamicImage::ImageRgba8(image).into_rgb8())
        .unwrap();
    let (red, blue) = ([255, 0, 0, 255], [0, 0, 255, 255]);
    // (EXIF value, size after orientation, a point that must be red, one that must be blue)
    let cases = [
        (1, (32, 16), (4, 8), (28, 8)),
        (3, (32, 16), (28, 8), (4, 8)), // 180 degrees
        (6, (16, 32), (8, 4), (8, 28)), // 90 clockwise: the left edge goes to the top
        (8, (16, 32), (8, 28), (8, 4)), // 270 clockwise: the left edge goes to the bottom
        (2, (32, 16), (28, 8), (4, 8)), // mirrored
    ];
    for (orientation, size, red_at, blue_at) in cases {
        let path = dir.path().join(format!("o{orientation}.jpg"));
        std::fs::write(&path, with_exif_orientation(&jpeg, orientation)).unwrap();
        let file = ImageFile::open(&path).unwrap();
        assert_eq!(
            (file.width(), file.height()),
            size,
            "orientation {orientation}"
        );
        let frame = file.frame();
        let got_red = frame.rgba_at(red_at.0, red_at.1).unwrap();
        let got_blue = frame.rgba_at(blue_at.0, blue_at.1).unwrap();
        assert!(
            close(got_red, red, 40),
            "orientation {orientation}: {got_red:?} at {red_at:?}"
        );
        assert!(
            close(got_blue, blue, 40),
            "orientation {orientation}: {got_blue:?} at {blue_at:?}"
        );
    }
}

/// A GIF of red, green and blue frames shown for 100, 200 and 300 ms.
fn rgb_gif(path: &Path) {
    let file = std::fs::File::create(path).unwrap();
    let mut encoder = GifEncoder::new(file);
    encoder.set_repeat(Repeat::Infinite).unwrap();
    for (rgb, delay) in [
        ([255, 0, 0, 255], 100),
        ([0, 255, 0, 255], 200),
        ([0, 0, 255, 255], 300),
    ] {
        let frame = Frame::from_parts(
            RgbaImage::from_pixel(8, 8, Rgba(rgb)),
            0,
            0,
            Delay::from_numer_denom_ms(delay, 1),
        );
        encoder.encode_frame(frame).unwrap();
    }
}

fn colour(frame: &VideoFrame) -> [u8; 4] {
    frame.rgba_at(4, 4).unwrap()
}

#[test]
fn animated_gif_follows_its_own_delays_on_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rgb.gif");
    rgb_gif(&path);
    let clock = ManualClock::new();
    clock.set(Duration::from_secs(5)); // the animation starts at the first read, not at zero
    let file = ImageFile::open_with(&path, manual(&clock, true)).unwrap();
    assert!(file.is_animated());
    assert_eq!((file.frame_count(), file.period()), (3, ms(600)));

    let expect = |pull: Pull<VideoFrame>, rgb: [u8; 4], pts: u64| {
        let frame = pull.frame().expect("a new frame");
        assert_eq!((colour(&frame), frame.pts()), (rgb, ms(pts)));
    };
    expect(file.latest(), [255, 0, 0, 255], 0);
    assert!(file.latest().is_pending(), "same frame is not read twice");
    clock.advance(ms(99));
    assert!(file.latest().is_pending());
    clock.advance(ms(1));
    expect(file.latest(), [0, 255, 0, 255], 100);
    clock.advance(ms(250)); // t = 350: blue, from 300
    expect(file.latest(), [0, 0, 255, 255], 300);
    clock.advance(ms(300)); // t = 650: second pass, red again, pts keeps rising
    expect(file.latest(), [255, 0, 0, 255], 600);
    clock.advance(ms(1_000)); // t = 1650: pass 2 (1200..1800), blue from 1500
    expect(file.latest(), [0, 0, 255, 255], 1_500);
}

#[test]
fn animated_gif_next_waits_for_each_frame_and_a_non_looping_one_ends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rgb.gif");
    rgb_gif(&path);
    let clock = ManualClock::new();
    let file = Arc::new(ImageFile::open_with(&path, manual(&clock, false)).unwrap());
    assert_eq!(file.next(ms(10)).frame().map(|f| f.pts()), Some(ms(0)));
    assert!(file.next(ms(10)).is_pending(), "green is due at 100 ms");

    let reader = {
        let file = file.clone();
        livekit_core::thread::spawn_named("gif-reader", move || {
            let mut seen = Vec::new();
            loop {
                match file.next(Duration::from_secs(10)) {
                    Pull::Frame(f) => seen.push((colour(&f), f.pts())),
                    Pull::Ended => return seen,
                    Pull::Pending => panic!("the test clock stopped"),
                }
            }
        })
        .unwrap()
    };
    for _ in 0..12 {
        std::thread::sleep(ms(5));
        clock.advance(ms(50));
    }
    let seen = reader.join().unwrap();
    assert_eq!(
        seen,
        [([0, 255, 0, 255], ms(100)), ([0, 0, 255, 255], ms(300))]
    );
    assert!(clock.now() >= ms(600));
    assert!(file.latest().is_ended());
}

#[test]
fn formats_made_by_ffmpeg_decode() {
    let dir = tempfile::tempdir().unwrap();
    let red = [
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=64x48:d=1",
        "-frames:v",
        "1",
    ];
    let cases = [
        ("red.jpg", vec![]),
        ("red.bmp", vec![]),
        ("red.png", vec!["-pix_fmt", "rgba"]),
        ("red.webp", vec!["-c:v", "libwebp", "-lossless", "1"]),
        ("red.gif", vec![]),
    ];
    for (name, extra) in cases {
        let args: Vec<&str> = red.iter().copied().chain(extra).collect();
        let path = ffmpeg(dir.path(), name, &args);
        let file = ImageFile::open(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((file.width(), file.height()), (64, 48), "{name}");
        let got = file.frame().rgba_at(32, 24).unwrap();
        assert!(close(got, [255, 0, 0, 255], 12), "{name}: {got:?}");
    }
}

#[test]
fn animated_webp_and_gif_from_ffmpeg_play() {
    let dir = tempfile::tempdir().unwrap();
    let input = [
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=64x48:r=10",
        "-frames:v",
        "5",
    ];
    for (name, extra) in [
        ("anim.gif", vec![]),
        ("anim.webp", vec!["-c:v", "libwebp", "-loop", "0"]),
    ] {
        let args: Vec<&str> = input.iter().copied().chain(extra).collect();
        let path = ffmpeg(dir.path(), name, &args);
        let file = ImageFile::open(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(file.frame_count(), 5, "{name}");
        assert_eq!(file.period(), ms(500), "{name}: 5 frames at 10 fps");
    }
}

fn open_err(path: &Path) -> String {
    ImageFile::open(path).unwrap_err().to_string()
}

#[test]
fn bad_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);

    let missing = p("missing.png");
    assert_eq!(
        open_err(&missing),
        format!("image file {}: no such file", missing.display())
    );

    std::fs::write(p("empty.png"), b"").unwrap();
    assert_eq!(
        open_err(&p("empty.png")),
        format!("image file {}: the file is empty", p("empty.png").display())
    );

    std::fs::write(p("notes.png"), b"these are not pixels\n").unwrap();
    assert_eq!(
        open_err(&p("notes.png")),
        format!(
            "image file {}: not a PNG, JPEG, GIF, WebP or BMP image",
            p("notes.png").display()
        )
    );

    assert!(
        matches!(ImageFile::open(dir.path()), Err(OpenImageError::Io { .. })),
        "a folder is not an image"
    );
}

#[test]
fn truncated_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let noise = ["-f", "lavfi", "-i", "testsrc2=s=320x240", "-frames:v", "1"];
    for name in ["cut.png", "cut.jpg", "cut.gif", "cut.webp", "cut.bmp"] {
        let path = ffmpeg(dir.path(), name, &noise);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        match ImageFile::open(&path) {
            Err(OpenImageError::Corrupt { path: p, .. }) => assert_eq!(p, path),
            other => panic!("{name}: expected a corrupt-file error, got {other:?}"),
        }
        let message = open_err(&path);
        assert!(
            message.starts_with(&format!(
                "image file {}: corrupt or truncated",
                path.display()
            )),
            "{message}"
        );
    }
}

#[test]
fn images_over_the_limit_are_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wide.png");
    // 16385 x 1: one pixel over the default limit, tiny on disk.
    RgbaImage::new(16_385, 1)
        .save_with_format(&path, ImageFormat::Png)
        .unwrap();
    assert_eq!(
        open_err(&path),
        format!(
            "image file {}: 16385x1 is larger than the limit of 16384 px a side (ImageSettings::max_side)",
            path.display()
        )
    );
    // A configurable limit, for every format.
    let settings = ImageSettings {
        max_side: 100,
        ..ImageSettings::default()
    };
    for name in ["big.jpg", "big.gif", "big.webp", "big.bmp"] {
        let path = ffmpeg(
            dir.path(),
            name,
            &["-f", "lavfi", "-i", "color=s=200x50", "-frames:v", "1"],
        );
        match ImageFile::open_with(&path, settings.clone()) {
            Err(OpenImageError::TooLarge {
                width: 200,
                height: 50,
                limit: 100,
                ..
            }) => {}
            other => panic!("{name}: expected TooLarge, got {other:?}"),
        }
    }
}

#[test]
fn a_looping_animation_keeps_going_at_extreme_clock_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rgb.gif");
    rgb_gif(&path);
    let clock = ManualClock::new();
    let file = ImageFile::open_with(&path, manual(&clock, true)).unwrap();
    assert!(file.latest().frame().is_some());
    // 2^32 passes of 600 ms and then some: no overflow, still looping, pts still rising.
    clock.set(Duration::from_secs(600 * (1 << 32) / 1000 + 250) + ms(150));
    let frame = file
        .latest()
        .frame()
        .expect("a looping animation never ends");
    assert!(frame.pts() > Duration::from_secs(1 << 31));
    clock.set(Duration::MAX);
    assert!(file.latest().frame().is_some());
}

#[test]
fn a_limit_above_the_frame_maximum_still_refuses_instead_of_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("very-wide.png");
    RgbaImage::new(70_000, 1)
        .save_with_format(&path, ImageFormat::Png)
        .unwrap();
    let settings = ImageSettings {
        max_side: u32::MAX,
        ..ImageSettings::default()
    };
    match ImageFile::open_with(&path, settings) {
        Err(OpenImageError::TooLarge {
            width: 70_000,
            height: 1,
            limit: 65_536,
            ..
        }) => {}
        other => panic!("expected TooLarge, got {other:?}"),
    }
}
