//! Golden images: each scene is rendered by the CPU backend and by the GPU backend (lavapipe in
//! CI) and compared with the same PNG in `tests/golden/`. On a mismatch the test writes
//! `actual`, `expected` and `diff` PNGs to `target/golden-failures/` and says where.
//! `LIVEKIT_UPDATE_GOLDEN=1` rewrites the references from the CPU backend.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use livekit_compositor::{
    BackendChoice, CanvasSettings, Color, Compositor, Fit, InputFrames, Layer, OutputFormat,
    TestPattern, Text, Transition,
};
use livekit_core::{ColorSpace, FrameLayout, PixelFormat, VideoFrame, VideoFrameMut, convert};

const W: u32 = 192;
const H: u32 = 108;

/// Tolerances. The references are the CPU backend's output (which matches them exactly). Set
/// against lavapipe (Mesa 22.3.6, llvmpipe, LLVM 15), which came within mean 0.05 and p99 2
/// (max 4, on a chroma edge of the YUV read-back) on every scene here: both backends blend
/// 8-bit sRGB values and sample with 1/256 weights, so only rounding and rasterization at
/// edges differ. The margin is for hardware GPUs, whose filtering precision varies by vendor.
/// Mean absolute error per channel, over all pixels.
const MAX_MEAN: f64 = 0.5;
/// The 99th percentile of the per-pixel largest channel error.
const MAX_P99: u8 = 4;

/// A 64x48 RGBA card: four coloured quadrants, a white border, a half-transparent stripe and
/// a diagonal, so crops, flips and rotations are all visible.
fn card() -> VideoFrame {
    let (w, h) = (64u32, 48u32);
    let mut data = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..h {
        for x in 0..w {
            let mut px = match (x < w / 2, y < h / 2) {
                (true, true) => [230, 40, 40, 255],
                (false, true) => [40, 200, 60, 255],
                (true, false) => [40, 80, 230, 255],
                (false, false) => [240, 220, 40, 255],
            };
            if x == 0 || y == 0 || x == w - 1 || y == h - 1 {
                px = [255, 255, 255, 255];
            }
            if (20..28).contains(&y) {
                px[3] = 128;
            }
            if x == y {
                px = [0, 0, 0, 255];
            }
            data.extend_from_slice(&px);
        }
    }
    VideoFrame::from_vec(
        FrameLayout::new(w, h, PixelFormat::Rgba8).unwrap(),
        data,
        Duration::ZERO,
    )
    .unwrap()
}

/// The card's colours in YUV (2x2 blocks of the card are one colour except on its lines).
fn yuv_card(format: PixelFormat) -> VideoFrame {
    let rgba = card();
    let cs = format.color_space().unwrap();
    let (kr, kb) = match cs.matrix {
        livekit_core::ColorMatrix::Bt709 => (0.2126f32, 0.0722f32),
        _ => (0.299, 0.114),
    };
    let limited = cs.range == livekit_core::ColorRange::Limited;
    let (w, h) = (rgba.width() as usize, rgba.height() as usize);
    let yuv = |x: usize, y: usize| {
        let p = rgba.rgba_at(x as u32, y as u32).unwrap();
        let (r, g, b) = (f32::from(p[0]), f32::from(p[1]), f32::from(p[2]));
        let l = kr * r + (1.0 - kr - kb) * g + kb * b;
        let (u, v) = ((b - l) / (2.0 * (1.0 - kb)), (r - l) / (2.0 * (1.0 - kr)));
        if limited {
            (
                16.0 + l * 219.0 / 255.0,
                128.0 + u * 224.0 / 255.0,
                128.0 + v * 224.0 / 255.0,
            )
        } else {
            (l, 128.0 + u, 128.0 + v)
        }
    };
    let layout = FrameLayout::new(w as u32, h as u32, format).unwrap();
    let mut frame = VideoFrameMut::new(layout, Duration::ZERO);
    for y in 0..h {
        for x in 0..w {
            frame.row_mut(0, y)[x] = yuv(x, y).0.round() as u8;
        }
    }
    for cy in 0..h / 2 {
        for cx in 0..w / 2 {
            let (_, u, v) = yuv(cx * 2 + 1, cy * 2 + 1);
            match format {
                PixelFormat::I420(_) => {
                    frame.row_mut(1, cy)[cx] = u.round() as u8;
                    frame.row_mut(2, cy)[cx] = v.round() as u8;
                }
                _ => {
                    frame.row_mut(1, cy)[cx * 2] = u.round() as u8;
                    frame.row_mut(1, cy)[cx * 2 + 1] = v.round() as u8;
                }
            }
        }
    }
    frame.freeze()
}

fn backends() -> Vec<BackendChoice> {
    vec![BackendChoice::Cpu, BackendChoice::Gpu]
}

fn compositor(backend: BackendChoice) -> Compositor {
    Compositor::new(backend).unwrap_or_else(|e| {
        panic!("{backend} backend: {e} (CI installs lavapipe: run ./dev setup)")
    })
}

fn canvas(c: &mut Compositor, output: OutputFormat) -> livekit_compositor::CanvasId {
    c.add_canvas(
        CanvasSettings::new(W, H, 30)
            .background(Color::rgb(20, 20, 30))
            .output(output),
    )
    .unwrap()
}

fn render(backend: BackendChoice, layers: &[Layer]) -> VideoFrame {
    let mut c = compositor(backend);
    let id = canvas(&mut c, OutputFormat::Rgba8);
    for layer in layers {
        c.add_layer(id, None, layer.clone()).unwrap();
    }
    c.render_canvas(id, Duration::ZERO, &InputFrames::new())
        .unwrap()
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn save(frame: &VideoFrame, path: &std::path::Path) {
    let rgba = convert::to_rgba(frame);
    image::RgbaImage::from_raw(rgba.width(), rgba.height(), rgba.to_packed_vec())
        .unwrap()
        .save(path)
        .unwrap();
}

/// Compares with the reference; returns (mean, p99).
fn check(name: &str, backend: BackendChoice, frame: &VideoFrame) {
    let path = dir().join(format!("{name}.png"));
    if std::env::var_os("LIVEKIT_UPDATE_GOLDEN").is_some() && backend == BackendChoice::Cpu {
        save(frame, &path);
        return;
    }
    let expected = image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (LIVEKIT_UPDATE_GOLDEN=1 makes it)", path.display()))
        .to_rgba8();
    let actual = convert::to_rgba(frame);
    assert_eq!(
        (actual.width(), actual.height()),
        expected.dimensions(),
        "{name}"
    );
    let a = actual.to_packed_vec();
    let e = expected.as_raw();
    let mut sum = 0u64;
    let mut errors: Vec<u8> = Vec::with_capacity(a.len() / 4);
    let mut diff = Vec::with_capacity(a.len());
    for (pa, pe) in a.chunks_exact(4).zip(e.chunks_exact(4)) {
        let mut worst = 0u8;
        for c in 0..4 {
            let d = pa[c].abs_diff(pe[c]);
            sum += u64::from(d);
            worst = worst.max(d);
        }
        errors.push(worst);
        let v = worst.saturating_mul(8);
        diff.extend_from_slice(&[v, v, v, 255]);
    }
    let mean = sum as f64 / a.len() as f64;
    errors.sort_unstable();
    let p99 = errors[errors.len() * 99 / 100];
    eprintln!(
        "{name} [{backend}]: mean {mean:.3}, p99 {p99}, max {}",
        errors[errors.len() - 1]
    );
    if mean > MAX_MEAN || p99 > MAX_P99 {
        let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/golden-failures");
        std::fs::create_dir_all(&out).unwrap();
        let stem = format!("{name}-{backend}");
        save(frame, &out.join(format!("{stem}-actual.png")));
        std::fs::copy(&path, out.join(format!("{stem}-expected.png"))).unwrap();
        image::RgbaImage::from_raw(actual.width(), actual.height(), diff)
            .unwrap()
            .save(out.join(format!("{stem}-diff.png")))
            .unwrap();
        panic!(
            "{name} [{backend}]: mean error {mean:.3} (max {MAX_MEAN}), p99 {p99} (max {MAX_P99}); \
             see {}/{stem}-*.png",
            out.display()
        );
    }
}

fn golden(name: &str, layers: Vec<Layer>) {
    for backend in backends() {
        let frame = render(backend, &layers);
        check(name, backend, &frame);
    }
}

#[test]
fn stacking_and_z_ties() {
    golden(
        "stacking",
        vec![
            // Added first, drawn on top: z 1.
            Layer::color(Color::rgb(250, 0, 0))
                .rect(10.0, 10.0, 80.0, 60.0)
                .z(1),
            // Equal z: insertion order, so yellow is over green.
            Layer::color(Color::rgb(0, 200, 0)).rect(50.0, 30.0, 80.0, 60.0),
            Layer::color(Color::rgb(250, 220, 0)).rect(90.0, 20.0, 80.0, 60.0),
            Layer::color(Color::rgb(0, 0, 250))
                .rect(0.0, 0.0, 40.0, 40.0)
                .z(-1),
            // Hidden: not drawn.
            Layer::color(Color::WHITE).visible(false),
        ],
    );
}

#[test]
fn opacity() {
    golden(
        "opacity",
        vec![
            Layer::image(card()).rect(0.0, 0.0, 64.0, 48.0),
            Layer::color(Color::rgb(255, 255, 255))
                .rect(32.0, 24.0, 64.0, 48.0)
                .opacity(0.8),
            Layer::image(card())
                .rect(100.0, 30.0, 64.0, 48.0)
                .opacity(0.5),
            Layer::color(Color::rgba(255, 0, 0, 128)).rect(120.0, 0.0, 60.0, 20.0),
        ],
    );
}

#[test]
fn crop() {
    golden(
        "crop",
        vec![
            Layer::image(card())
                .crop(16, 12, 32, 24)
                .rect(10.0, 10.0, 32.0, 24.0),
            Layer::image(card())
                .crop(40, 0, 100, 30)
                .rect(60.0, 10.0, 96.0, 60.0),
        ],
    );
}

#[test]
fn fit_modes() {
    let wide = || Layer::image(card()).crop(0, 0, 64, 24);
    golden(
        "fit",
        vec![
            wide().rect(4.0, 10.0, 56.0, 56.0).fit(Fit::Stretch),
            wide().rect(68.0, 10.0, 56.0, 56.0).fit(Fit::Contain),
            wide().rect(132.0, 10.0, 56.0, 56.0).fit(Fit::Cover),
        ],
    );
}

#[test]
fn rotation() {
    golden(
        "rotation",
        vec![
            Layer::image(card())
                .rect(4.0, 10.0, 48.0, 64.0)
                .rotation(90.0),
            Layer::image(card())
                .rect(60.0, 10.0, 64.0, 48.0)
                .rotation(180.0),
            Layer::image(card())
                .rect(130.0, 30.0, 48.0, 36.0)
                .rotation(30.0),
            Layer::image(card())
                .rect(20.0, 80.0, 40.0, 20.0)
                .rotation(-90.0)
                .fit(Fit::Contain),
        ],
    );
}

#[test]
fn flip() {
    golden(
        "flip",
        vec![
            Layer::image(card())
                .rect(0.0, 0.0, 64.0, 48.0)
                .flip(true, false),
            Layer::image(card())
                .rect(64.0, 0.0, 64.0, 48.0)
                .flip(false, true),
            Layer::image(card())
                .rect(128.0, 0.0, 64.0, 48.0)
                .flip(true, true),
            Layer::image(card())
                .rect(40.0, 50.0, 100.0, 56.0)
                .flip(true, false)
                .rotation(90.0),
        ],
    );
}

#[test]
fn scaled() {
    golden(
        "scaled",
        vec![
            Layer::image(card()).rect(0.0, 0.0, 150.0, 100.0),
            Layer::image(card()).rect(150.0, 60.0, 32.0, 24.0),
            Layer::pattern(TestPattern::Smpte).rect(152.0, 4.0, 36.0, 24.0),
        ],
    );
}

#[test]
fn text() {
    golden(
        "text",
        vec![
            Layer::color(Color::rgb(40, 90, 160)).rect(0.0, 50.0, 192.0, 58.0),
            Layer::text(
                Text::new("Live 42")
                    .size(28.0)
                    .color(Color::rgb(255, 220, 0)),
            ),
            Layer::text(
                Text::new("on air")
                    .size(18.0)
                    .color(Color::WHITE)
                    .background(Color::rgba(200, 0, 0, 200)),
            )
            .rect(100.0, 60.0, 80.0, 30.0)
            .fit(Fit::Contain),
        ],
    );
}

#[test]
fn yuv_inputs() {
    golden(
        "yuv_inputs",
        vec![
            Layer::image(yuv_card(PixelFormat::I420(ColorSpace::BT601_LIMITED)))
                .rect(0.0, 0.0, 64.0, 48.0),
            Layer::image(yuv_card(PixelFormat::Nv12(ColorSpace::BT709_FULL)))
                .rect(64.0, 0.0, 64.0, 48.0),
            Layer::image(yuv_card(PixelFormat::I420(ColorSpace::BT709_LIMITED)))
                .rect(128.0, 0.0, 64.0, 48.0)
                .opacity(0.7),
            Layer::image(yuv_card(PixelFormat::Nv12(ColorSpace::BT601_FULL)))
                .rect(10.0, 50.0, 120.0, 56.0),
        ],
    );
}

#[test]
fn fade_midpoint() {
    for backend in backends() {
        let mut c = compositor(backend);
        let id = canvas(&mut c, OutputFormat::Rgba8);
        c.add_layer(id, None, Layer::image(card()).rect(0.0, 0.0, 192.0, 108.0))
            .unwrap();
        c.add_scene(id, "next").unwrap();
        c.add_layer(id, Some("next"), Layer::color(Color::rgb(255, 255, 255)))
            .unwrap();
        c.add_layer(
            id,
            Some("next"),
            Layer::pattern(TestPattern::Bars).rect(40.0, 20.0, 112.0, 68.0),
        )
        .unwrap();
        let inputs = InputFrames::new();
        c.switch_scene(id, "next", Transition::Fade(Duration::from_secs(1)))
            .unwrap();
        assert_eq!(c.active_scene(id).unwrap(), "next");
        // The fade starts at the first frame after the switch...
        let start = c
            .render_canvas(id, Duration::from_secs(10), &inputs)
            .unwrap();
        check("fade_start", backend, &start);
        // ...is half way half a second later...
        let mid = c
            .render_canvas(id, Duration::from_millis(10_500), &inputs)
            .unwrap();
        check("fade_mid", backend, &mid);
        // ...and done after a second.
        let end = c
            .render_canvas(id, Duration::from_secs(11), &inputs)
            .unwrap();
        assert_eq!(end.rgba_at(2, 2), Some([255, 255, 255, 255]), "{backend}");
    }
}

#[test]
fn yuv_readback() {
    for (output, name) in [
        (
            OutputFormat::I420(ColorSpace::BT709_LIMITED),
            "readback_i420",
        ),
        (OutputFormat::Nv12(ColorSpace::BT601_FULL), "readback_nv12"),
    ] {
        for backend in backends() {
            let mut c = compositor(backend);
            let id = canvas(&mut c, output);
            c.add_layer(id, None, Layer::image(card()).rect(0.0, 0.0, 96.0, 72.0))
                .unwrap();
            c.add_layer(
                id,
                None,
                Layer::pattern(TestPattern::Bars).rect(96.0, 0.0, 96.0, 108.0),
            )
            .unwrap();
            let frame = c
                .render_canvas(id, Duration::ZERO, &InputFrames::new())
                .unwrap();
            let expected_format = match output {
                OutputFormat::I420(cs) => PixelFormat::I420(cs),
                OutputFormat::Nv12(cs) => PixelFormat::Nv12(cs),
                OutputFormat::Rgba8 => PixelFormat::Rgba8,
            };
            assert_eq!(frame.format(), expected_format);
            check(name, backend, &frame);
        }
    }
}
