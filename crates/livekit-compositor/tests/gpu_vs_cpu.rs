#![allow(clippy::unwrap_used)]
//! The GPU backend renders the same frames as the CPU backend (the reference), within a small
//! tolerance: each scene is rendered with both through the public API and compared byte by byte
//! (all planes, so YUV outputs compare Y, U and V).
//!
//! Runs on any wgpu adapter, software ones included (lavapipe from `mesa-vulkan-drivers` on
//! machines without a GPU). Set `LIVEKIT_SKIP_GPU_TESTS=1` to skip where there is no adapter.

use std::time::{Duration, Instant};

use livekit_compositor::{
    BackendChoice, BackendKind, CanvasSettings, Color, Compositor, CreateBackendError, Fit,
    InputFrames, Layer, OutputFormat, Transition,
};
use livekit_core::{ColorSpace, FrameLayout, PixelFormat, VideoFrame, VideoFrameMut};

/// Mean absolute error allowed, in 8-bit levels, over every byte of every plane. Set on
/// lavapipe (Mesa 22.3, LLVM 15), where the worst case (a fade midpoint) is 0.26: both backends
/// blend 8-bit sRGB values, and YUV is converted texel by texel the same way, so only rounding
/// and the hardware's bilinear weights differ.
const MAX_MEAN: f64 = 0.5;
/// 99th percentile of the absolute error allowed (lavapipe: 1 in every case). Single pixels on
/// the edges of rotated quads can differ a lot (coverage), which the percentile ignores.
const MAX_P99: u8 = 2;

/// A GPU compositor, or `None` when the environment says to skip GPU tests.
fn gpu() -> Option<Compositor> {
    match Compositor::new(BackendChoice::Gpu) {
        Ok(c) => {
            assert_eq!(c.backend().kind, BackendKind::Gpu);
            Some(c)
        }
        Err(e @ CreateBackendError::NoAdapter)
            if std::env::var_os("LIVEKIT_SKIP_GPU_TESTS").is_some() =>
        {
            eprintln!("skipped: {e}");
            None
        }
        Err(e) => panic!(
            "no GPU backend ({e}); install mesa-vulkan-drivers for lavapipe, or set \
             LIVEKIT_SKIP_GPU_TESTS=1"
        ),
    }
}

/// An RGBA picture with smooth gradients, sharp edges (a checkerboard of 8 px squares with a
/// diagonal line) and, if `alpha`, a left-to-right alpha ramp with a fully transparent corner.
fn rgba_image(w: u32, h: u32, alpha: bool) -> VideoFrame {
    let mut data = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..h {
        for x in 0..w {
            let checker = ((x / 8) + (y / 8)).is_multiple_of(2);
            let line = x.abs_diff(y * w / h) < 2;
            let r = (x * 255 / w.max(2).saturating_sub(1).max(1)) as u8;
            let g = (y * 255 / h.max(2).saturating_sub(1).max(1)) as u8;
            let b = if line {
                255
            } else if checker {
                200
            } else {
                30
            };
            let a = if !alpha {
                255
            } else if x < w / 8 && y < h / 8 {
                0
            } else {
                (64 + x * 191 / w) as u8
            };
            data.extend_from_slice(&[r, g, b, a]);
        }
    }
    let layout = FrameLayout::new(w, h, PixelFormat::Rgba8).unwrap();
    VideoFrame::from_vec(layout, data, Duration::ZERO).unwrap()
}

/// The same picture as BGRA.
fn bgra_image(w: u32, h: u32) -> VideoFrame {
    let rgba = rgba_image(w, h, true);
    let mut data = rgba.to_packed_vec();
    for px in data.chunks_exact_mut(4) {
        px.swap(0, 2);
    }
    let layout = FrameLayout::new(w, h, PixelFormat::Bgra8).unwrap();
    VideoFrame::from_vec(layout, data, Duration::ZERO).unwrap()
}

/// A YUV picture (I420 or NV12) with rows padded to 64 bytes, so strides differ from widths.
fn yuv_image(w: u32, h: u32, format: PixelFormat) -> VideoFrame {
    let layout = FrameLayout::with_alignment(w, h, format, 64).unwrap();
    let mut frame = VideoFrameMut::new(layout, Duration::ZERO);
    for y in 0..h as usize {
        let row = frame.row_mut(0, y);
        for (x, v) in row.iter_mut().enumerate() {
            let checker = ((x / 6) + (y / 6)).is_multiple_of(2);
            *v = (16 + (x * 200 / w as usize) + if checker { 19 } else { 0 }) as u8;
        }
    }
    let (cw, ch) = (w.div_ceil(2) as usize, h.div_ceil(2) as usize);
    for cy in 0..ch {
        let u = |cx: usize| (40 + cx * 170 / cw) as u8;
        let v = |cx: usize| {
            (220 - cy * 170 / ch - if (cx / 5).is_multiple_of(2) { 20 } else { 0 }) as u8
        };
        match format {
            PixelFormat::Nv12(_) => {
                let row = frame.row_mut(1, cy);
                for cx in 0..cw {
                    row[cx * 2] = u(cx);
                    row[cx * 2 + 1] = v(cx);
                }
            }
            _ => {
                for (cx, p) in frame.row_mut(1, cy).iter_mut().enumerate() {
                    *p = u(cx);
                }
                for (cx, p) in frame.row_mut(2, cy).iter_mut().enumerate() {
                    *p = v(cx);
                }
            }
        }
    }
    frame.freeze()
}

/// Mean and 99th percentile of the absolute differences, and the largest.
fn errors(gpu: &VideoFrame, cpu: &VideoFrame) -> (f64, u8, u8) {
    assert_eq!(gpu.layout(), cpu.layout());
    let (a, b) = (gpu.to_packed_vec(), cpu.to_packed_vec());
    let mut histogram = [0u64; 256];
    for (x, y) in a.iter().zip(&b) {
        histogram[x.abs_diff(*y) as usize] += 1;
    }
    let n = a.len() as u64;
    let sum: u64 = histogram
        .iter()
        .enumerate()
        .map(|(d, c)| d as u64 * c)
        .sum();
    let mut seen = 0;
    let mut p99 = 0;
    for (d, c) in histogram.iter().enumerate() {
        seen += c;
        if seen * 100 >= n * 99 {
            p99 = d as u8;
            break;
        }
    }
    let max = histogram.iter().rposition(|&c| c > 0).unwrap_or(0) as u8;
    (sum as f64 / n as f64, p99, max)
}

/// Builds the same scene on both backends and compares the frames rendered at `times`.
fn compare(
    name: &str,
    settings: CanvasSettings,
    build: impl Fn(&mut Compositor, livekit_compositor::CanvasId),
    times: &[Duration],
) {
    let Some(mut gpu) = gpu() else { return };
    let mut cpu = Compositor::new(BackendChoice::Cpu).unwrap();
    let g = gpu.add_canvas(settings.clone()).unwrap();
    let c = cpu.add_canvas(settings.clone()).unwrap();
    build(&mut gpu, g);
    build(&mut cpu, c);
    let inputs = InputFrames::new();
    for &time in times {
        let a = gpu.render_canvas(g, time, &inputs).unwrap();
        let b = cpu.render_canvas(c, time, &inputs).unwrap();
        assert_eq!(a.pts(), time);
        if settings.output == OutputFormat::Rgba8 {
            for y in 0..a.height() as usize {
                assert!(
                    a.row(0, y).chunks_exact(4).all(|p| p[3] == 255),
                    "{name}: GPU canvas not opaque in row {y}"
                );
            }
        }
        let (mean, p99, max) = errors(&a, &b);
        println!(
            "{name} @ {:.2}s: mean {mean:.3}, p99 {p99}, max {max} ({})",
            time.as_secs_f32(),
            a.layout()
        );
        assert!(
            mean < MAX_MEAN && p99 <= MAX_P99,
            "{name} @ {time:?}: GPU differs from CPU: mean {mean:.3} (max {MAX_MEAN}), p99 {p99} \
             (max {MAX_P99}), largest {max}"
        );
    }
}

fn canvas() -> CanvasSettings {
    CanvasSettings::new(320, 180, 30).background(Color::rgb(32, 48, 64))
}

const T0: &[Duration] = &[Duration::ZERO];

#[test]
fn solid_colours() {
    compare(
        "solid colours",
        canvas(),
        |c, id| {
            c.add_layer(
                id,
                None,
                Layer::color(Color::rgb(200, 30, 30)).rect(10.0, 10.0, 100.0, 60.0),
            )
            .unwrap();
            c.add_layer(
                id,
                None,
                Layer::color(Color::rgba(0, 255, 0, 128)).rect(50.0, 30.0, 120.0, 80.0),
            )
            .unwrap();
            c.add_layer(
                id,
                None,
                Layer::color(Color::rgb(20, 40, 250))
                    .rect(150.5, 90.25, 100.0, 70.5)
                    .opacity(0.8),
            )
            .unwrap();
        },
        T0,
    );
}

#[test]
fn image_one_to_one_and_opacity() {
    compare(
        "rgba 1:1 at (30, 20)",
        canvas(),
        |c, id| {
            c.add_layer(
                id,
                None,
                Layer::image(rgba_image(160, 90, true)).rect(30.0, 20.0, 160.0, 90.0),
            )
            .unwrap();
        },
        T0,
    );
    compare(
        "rgba 1:1, opacity 0.8",
        canvas(),
        |c, id| {
            c.add_layer(id, None, Layer::image(rgba_image(320, 180, false)))
                .unwrap();
            c.add_layer(
                id,
                None,
                Layer::image(rgba_image(160, 90, true))
                    .rect(100.0, 50.0, 160.0, 90.0)
                    .opacity(0.8),
            )
            .unwrap();
        },
        T0,
    );
    compare(
        "bgra 1:1",
        canvas(),
        |c, id| {
            c.add_layer(
                id,
                None,
                Layer::image(bgra_image(160, 90)).rect(7.0, 3.0, 160.0, 90.0),
            )
            .unwrap();
        },
        T0,
    );
}

#[test]
fn scaled_images() {
    compare(
        "rgba scaled up 160x90 -> 301x170.5",
        canvas(),
        |c, id| {
            c.add_layer(
                id,
                None,
                Layer::image(rgba_image(160, 90, true)).rect(5.5, 3.0, 301.0, 170.5),
            )
            .unwrap();
        },
        T0,
    );
    compare(
        "rgba scaled down 640x360 -> 200x100, contain",
        canvas(),
        |c, id| {
            c.add_layer(
                id,
                None,
                Layer::image(rgba_image(640, 360, false))
                    .rect(20.0, 20.0, 200.0, 150.0)
                    .fit(Fit::Contain),
            )
            .unwrap();
        },
        T0,
    );
}

#[test]
fn rotations_and_flips() {
    for degrees in [90.0, 30.0, 180.0, -90.0] {
        compare(
            &format!("rotation {degrees}"),
            canvas(),
            |c, id| {
                c.add_layer(
                    id,
                    None,
                    Layer::image(rgba_image(160, 90, true))
                        .rect(60.0, 30.0, 200.0, 120.0)
                        .rotation(degrees),
                )
                .unwrap();
            },
            T0,
        );
    }
    for (h, v) in [(true, false), (false, true), (true, true)] {
        compare(
            &format!("flip h={h} v={v}"),
            canvas(),
            |c, id| {
                c.add_layer(
                    id,
                    None,
                    Layer::image(rgba_image(160, 90, true))
                        .rect(40.0, 20.0, 160.0, 90.0)
                        .flip(h, v),
                )
                .unwrap();
            },
            T0,
        );
    }
}

#[test]
fn crop() {
    compare(
        "crop 40,20 80x50 -> 160x100",
        canvas(),
        |c, id| {
            c.add_layer(
                id,
                None,
                Layer::image(rgba_image(160, 90, true))
                    .crop(40, 20, 80, 50)
                    .rect(10.0, 10.0, 160.0, 100.0),
            )
            .unwrap();
        },
        T0,
    );
    compare(
        "crop, cover, rotation 30",
        canvas(),
        |c, id| {
            c.add_layer(
                id,
                None,
                Layer::image(rgba_image(160, 90, true))
                    .crop(10, 5, 120, 70)
                    .rect(100.0, 40.0, 150.0, 100.0)
                    .fit(Fit::Cover)
                    .rotation(30.0),
            )
            .unwrap();
        },
        T0,
    );
}

#[test]
fn yuv_inputs() {
    for (name, format) in [
        (
            "i420 bt601 limited",
            PixelFormat::I420(ColorSpace::BT601_LIMITED),
        ),
        ("i420 bt709 full", PixelFormat::I420(ColorSpace::BT709_FULL)),
        (
            "nv12 bt709 limited",
            PixelFormat::Nv12(ColorSpace::BT709_LIMITED),
        ),
        ("nv12 bt601 full", PixelFormat::Nv12(ColorSpace::BT601_FULL)),
    ] {
        compare(
            &format!("{name} 161x91 input, 1:1"),
            canvas(),
            |c, id| {
                c.add_layer(
                    id,
                    None,
                    Layer::image(yuv_image(161, 91, format)).rect(10.0, 10.0, 161.0, 91.0),
                )
                .unwrap();
            },
            T0,
        );
        compare(
            &format!("{name} 161x91 input, scaled, rotated 30, opacity 0.8"),
            canvas(),
            |c, id| {
                c.add_layer(
                    id,
                    None,
                    Layer::image(yuv_image(161, 91, format))
                        .rect(40.0, 20.0, 250.0, 140.0)
                        .rotation(30.0)
                        .opacity(0.8),
                )
                .unwrap();
            },
            T0,
        );
    }
}

#[test]
fn fade_midpoint() {
    compare(
        "fade",
        canvas(),
        |c, id| {
            c.add_layer(id, None, Layer::image(rgba_image(320, 180, false)))
                .unwrap();
            c.add_scene(id, "next").unwrap();
            c.add_layer(
                id,
                Some("next"),
                Layer::color(Color::rgb(250, 200, 10)).rect(0.0, 0.0, 200.0, 180.0),
            )
            .unwrap();
            c.add_layer(
                id,
                Some("next"),
                Layer::image(rgba_image(160, 90, true)).rect(100.0, 60.0, 160.0, 90.0),
            )
            .unwrap();
            c.switch_scene(id, "next", Transition::Fade(Duration::from_secs(1)))
                .unwrap();
        },
        &[
            Duration::ZERO,
            Duration::from_millis(250),
            Duration::from_millis(500),
            Duration::from_millis(1000),
        ],
    );
}

fn busy_scene(c: &mut Compositor, id: livekit_compositor::CanvasId) {
    c.add_layer(id, None, Layer::image(rgba_image(320, 180, false)))
        .unwrap();
    c.add_layer(
        id,
        None,
        Layer::image(yuv_image(
            161,
            91,
            PixelFormat::I420(ColorSpace::BT709_LIMITED),
        ))
        .rect(150.0, 70.0, 161.0, 91.0),
    )
    .unwrap();
    c.add_layer(
        id,
        None,
        Layer::image(rgba_image(160, 90, true))
            .rect(20.0, 20.0, 120.0, 80.0)
            .rotation(30.0)
            .opacity(0.8),
    )
    .unwrap();
}

#[test]
fn yuv_outputs() {
    for output in [
        OutputFormat::I420(ColorSpace::BT709_LIMITED),
        OutputFormat::I420(ColorSpace::BT601_FULL),
        OutputFormat::Nv12(ColorSpace::BT709_LIMITED),
        OutputFormat::Nv12(ColorSpace::BT601_FULL),
    ] {
        compare(
            &format!("{output:?} output"),
            canvas().output(output),
            busy_scene,
            T0,
        );
        compare(
            &format!("{output:?} output, odd size 321x181"),
            CanvasSettings::new(321, 181, 30).output(output),
            busy_scene,
            T0,
        );
    }
}

/// Static pictures are uploaded once; the frames stay right when they are reused, replaced
/// by a picture of another size, or when two canvases share the backend.
#[test]
fn repeated_renders_and_two_canvases() {
    let Some(mut gpu) = gpu() else { return };
    let mut cpu = Compositor::new(BackendChoice::Cpu).unwrap();
    let small = CanvasSettings::new(160, 90, 30).name("small");
    let (g1, c1) = (
        gpu.add_canvas(canvas()).unwrap(),
        cpu.add_canvas(canvas()).unwrap(),
    );
    let (g2, c2) = (
        gpu.add_canvas(small.clone()).unwrap(),
        cpu.add_canvas(small).unwrap(),
    );
    busy_scene(&mut gpu, g1);
    busy_scene(&mut cpu, c1);
    let inputs = InputFrames::new();
    for step in 0..4u32 {
        let image = rgba_image(100 + step * 10, 60, step % 2 == 0);
        let add = |c: &mut Compositor, id| {
            c.add_layer(
                id,
                None,
                Layer::image(image.clone()).rect(5.0, 5.0, 150.0, 80.0),
            )
            .unwrap()
        };
        let (lg, lc) = (add(&mut gpu, g2), add(&mut cpu, c2));
        for (g, c) in [(g1, c1), (g2, c2)] {
            let time = Duration::from_millis(u64::from(step) * 33);
            let a = gpu.render_canvas(g, time, &inputs).unwrap();
            let b = cpu.render_canvas(c, time, &inputs).unwrap();
            let (mean, p99, max) = errors(&a, &b);
            println!("step {step}, canvas {g:?}: mean {mean:.3}, p99 {p99}, max {max}");
            assert!(mean < MAX_MEAN && p99 <= MAX_P99);
        }
        gpu.remove_layer(lg).unwrap();
        cpu.remove_layer(lc).unwrap();
    }
}

/// A picture larger than the GPU's textures is an error, not a panic; the backend recovers.
#[test]
fn oversized_picture_is_an_error() {
    let Some(mut gpu) = gpu() else { return };
    let id = gpu.add_canvas(canvas()).unwrap();
    let huge = VideoFrame::from_vec(
        FrameLayout::new(65536, 1, PixelFormat::I420(ColorSpace::BT709_LIMITED)).unwrap(),
        vec![128; 65536 + 2 * 32768],
        Duration::ZERO,
    )
    .unwrap();
    let layer = gpu.add_layer(id, None, Layer::image(huge)).unwrap();
    let error = gpu
        .render_canvas(id, Duration::ZERO, &InputFrames::new())
        .unwrap_err();
    println!("{error}");
    gpu.remove_layer(layer).unwrap();
    gpu.render_canvas(id, Duration::ZERO, &InputFrames::new())
        .unwrap();
}

/// Not a timed test: prints how long the reference scene takes (1920x1080 canvas, a full-canvas
/// opaque 1080p picture and three 640x360 pictures at opacity 0.8, each a new buffer every
/// frame so uploads are paid). Run with `--ignored --nocapture`.
#[test]
#[ignore = "prints timings; run by hand"]
fn reference_scene_render_time() {
    for backend in [BackendChoice::Gpu, BackendChoice::Cpu] {
        let mut c = Compositor::new(backend).unwrap();
        let id = c.add_canvas(CanvasSettings::new(1920, 1080, 30)).unwrap();
        let big = rgba_image(1920, 1080, false);
        let small = rgba_image(640, 360, false);
        let fresh = |f: &VideoFrame| {
            VideoFrame::from_vec(*f.layout(), f.data().unwrap().to_vec(), Duration::ZERO).unwrap()
        };
        let mut layers = vec![c.add_layer(id, None, Layer::image(fresh(&big))).unwrap()];
        for x in [40.0, 700.0, 1240.0] {
            layers.push(
                c.add_layer(
                    id,
                    None,
                    Layer::image(fresh(&small))
                        .rect(x, 40.0, 640.0, 360.0)
                        .opacity(0.8),
                )
                .unwrap(),
            );
        }
        let inputs = InputFrames::new();
        c.render_canvas(id, Duration::ZERO, &inputs).unwrap();
        let frames = 30;
        let mut rendering = Duration::ZERO;
        for i in 1..=frames {
            for (n, &layer) in layers.iter().enumerate() {
                let frame = fresh(if n == 0 { &big } else { &small });
                c.update_layer(layer, |l| {
                    l.source = livekit_compositor::LayerSource::Image(frame)
                })
                .unwrap();
            }
            let start = Instant::now();
            c.render_canvas(id, Duration::from_millis(i * 33), &inputs)
                .unwrap();
            rendering += start.elapsed();
        }
        println!(
            "{}: {:.1} ms/frame over {frames} frames (uploads included)",
            c.backend(),
            rendering.as_secs_f64() * 1000.0 / frames as f64
        );
    }
}
