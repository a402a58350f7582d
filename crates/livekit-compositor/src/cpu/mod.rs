//! The CPU backend: the same draws as the GPU backend, rendered with integer arithmetic on a
//! pool of named threads, one band of rows per task. It skips whatever an opaque layer covers,
//! composites the bottom layer straight against the background (no separate fill), and copies
//! instead of blending where the source is opaque and drawn 1:1.

mod yuv;

use std::time::Duration;

use livekit_core::{FrameError, PixelFormat, VideoFrame, VideoFrameMut};
use rayon::prelude::*;

use crate::backend::{Backend, BackendInfo, BackendKind, CreateBackendError, RenderError};
use crate::plan::{Content, Draw, RenderJob};
use crate::scene::OutputFormat;

/// Rows per parallel task.
const BAND_ROWS: usize = 16;

/// A draw's pixels, ready for the compositing loops.
#[derive(Clone, Copy)]
enum Pixels<'a> {
    /// Packed RGBA rows.
    Rgba {
        data: &'a [u8],
        stride: usize,
        width: usize,
        height: usize,
        /// Known to have no transparent pixel (converted from YUV).
        opaque: bool,
    },
    Solid([u8; 4]),
}

pub(crate) struct CpuBackend {
    threads: rayon::ThreadPool,
    thread_count: usize,
    pools: crate::pools::FramePools,
}

impl CpuBackend {
    pub(crate) fn new() -> Result<Self, CreateBackendError> {
        let thread_count = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = rayon::ThreadPoolBuilder::new()
            .num_threads(thread_count)
            .thread_name(|i| format!("livekit.compositor.cpu.{i}"))
            .build()
            .map_err(|e| CreateBackendError::Threads(e.to_string()))?;
        Ok(Self {
            threads,
            thread_count,
            pools: crate::pools::FramePools::default(),
        })
    }

    /// RGBA versions of the draws' non-RGBA frames.
    fn convert(&mut self, draws: &[Draw<'_>]) -> Result<Vec<Option<VideoFrame>>, FrameError> {
        let mut out = Vec::with_capacity(draws.len());
        for draw in draws {
            let converted = match draw.content {
                Content::Frame(frame) if frame.format() != PixelFormat::Rgba8 => {
                    let (w, h) = (frame.width(), frame.height());
                    let mut rgba = self.pools.acquire(w, h, PixelFormat::Rgba8, frame.pts())?;
                    let row_bytes = w as usize * 4;
                    self.threads.install(|| {
                        rgba.plane_mut(0)
                            .par_chunks_mut(row_bytes * BAND_ROWS)
                            .enumerate()
                            .for_each(|(band, chunk)| {
                                let y0 = band * BAND_ROWS;
                                let y1 = y0 + chunk.len() / row_bytes;
                                yuv::to_rgba_rows(frame, chunk, y0, y1);
                            });
                    });
                    Some(rgba.freeze())
                }
                _ => None,
            };
            out.push(converted);
        }
        Ok(out)
    }

    fn composite(
        &mut self,
        job: &RenderJob<'_>,
        draws: &[Draw<'_>],
        pts: Duration,
    ) -> Result<VideoFrameMut, FrameError> {
        let converted = self.convert(draws)?;
        let pixels: Vec<Pixels<'_>> = draws
            .iter()
            .zip(&converted)
            .map(|(draw, conv)| match draw.content {
                Content::Solid(c) => Pixels::Solid(c),
                Content::Frame(frame) => {
                    let source = conv.as_ref().unwrap_or(frame);
                    Pixels::Rgba {
                        data: source.plane(0),
                        stride: source.stride(0),
                        width: source.width() as usize,
                        height: source.height() as usize,
                        opaque: !frame.format().has_alpha(),
                    }
                }
            })
            .collect();
        let mut out = self
            .pools
            .acquire(job.width, job.height, PixelFormat::Rgba8, pts)?;
        let width = job.width as usize;
        let row_bytes = width * 4;
        let background = job.background;
        self.threads.install(|| {
            out.plane_mut(0)
                .par_chunks_mut(row_bytes * BAND_ROWS)
                .enumerate()
                .for_each(|(band, chunk)| {
                    let y0 = band * BAND_ROWS;
                    let rows = chunk.len() / row_bytes;
                    render_band(chunk, width, y0, rows, background, draws, &pixels);
                });
        });
        Ok(out)
    }
}

impl Backend for CpuBackend {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: BackendKind::Cpu,
            name: format!("CPU, {} threads", self.thread_count),
        }
    }

    fn render(&mut self, _canvas: &str, job: &RenderJob<'_>) -> Result<VideoFrame, RenderError> {
        let mut out = self.composite(job, &job.draws, job.pts)?;
        if let Some((incoming, weight)) = &job.fade {
            let next = self.composite(job, incoming, job.pts)?;
            let w = (weight.clamp(0.0, 1.0) * 256.0).round() as u32;
            let src = next.freeze();
            self.threads.install(|| {
                out.plane_mut(0)
                    .par_chunks_mut(1 << 16)
                    .zip(src.plane(0).par_chunks(1 << 16))
                    .for_each(|(d, s)| {
                        for (d, s) in d.iter_mut().zip(s) {
                            *d = ((u32::from(*d) * (256 - w) + u32::from(*s) * w + 128) >> 8) as u8;
                        }
                    });
            });
        }
        let rgba = out.freeze();
        Ok(match job.output {
            OutputFormat::Rgba8 => rgba,
            OutputFormat::I420(cs) | OutputFormat::Nv12(cs) => {
                let format = match job.output {
                    OutputFormat::I420(_) => PixelFormat::I420(cs),
                    _ => PixelFormat::Nv12(cs),
                };
                let mut yuv = self.pools.acquire(job.width, job.height, format, job.pts)?;
                to_yuv(&self.threads, &rgba, &mut yuv, yuv::ToYuv::new(cs));
                yuv.freeze()
            }
        })
    }
}

/// Converts an RGBA canvas into a YUV frame (2x2 chroma average), by pairs of rows.
fn to_yuv(threads: &rayon::ThreadPool, rgba: &VideoFrame, out: &mut VideoFrameMut, k: yuv::ToYuv) {
    let layout = *out.layout();
    let (w, h) = (layout.width() as usize, layout.height() as usize);
    let nv12 = matches!(layout.format(), PixelFormat::Nv12(_));
    let (ys, cs) = (layout.stride(0), layout.stride(1));
    let data = out.data_mut_all();
    let (y_plane, rest) = data.split_at_mut(layout.offset(1));
    let chroma_rows = h.div_ceil(2);
    let (u_plane, v_plane) = if nv12 {
        (rest, &mut [][..])
    } else {
        rest.split_at_mut(layout.offset(2) - layout.offset(1))
    };
    threads.install(|| {
        // Luma, by rows.
        y_plane
            .par_chunks_mut(ys)
            .take(h)
            .enumerate()
            .for_each(|(y, row)| {
                for (x, px) in rgba.row(0, y).chunks_exact(4).take(w).enumerate() {
                    row[x] = k.y(i32::from(px[0]), i32::from(px[1]), i32::from(px[2]));
                }
            });
        // Chroma, by pairs of rows.
        let chroma = |cy: usize, u_row: &mut [u8], mut v_row: Option<&mut [u8]>| {
            let rows = if cy * 2 + 1 < h { 2 } else { 1 };
            for cx in 0..w.div_ceil(2) {
                let cols = if cx * 2 + 1 < w { 2 } else { 1 };
                let (mut r, mut g, mut b) = (0, 0, 0);
                for dy in 0..rows {
                    let row = rgba.row(0, cy * 2 + dy);
                    for dx in 0..cols {
                        let p = &row[(cx * 2 + dx) * 4..];
                        r += i32::from(p[0]);
                        g += i32::from(p[1]);
                        b += i32::from(p[2]);
                    }
                }
                let n_log2 = (rows * cols).trailing_zeros();
                let (u, v) = k.uv(r, g, b, n_log2);
                match v_row.as_deref_mut() {
                    Some(v_row) => {
                        u_row[cx] = u;
                        v_row[cx] = v;
                    }
                    None => {
                        u_row[cx * 2] = u;
                        u_row[cx * 2 + 1] = v;
                    }
                }
            }
        };
        if nv12 {
            u_plane
                .par_chunks_mut(cs)
                .take(chroma_rows)
                .enumerate()
                .for_each(|(cy, u_row)| chroma(cy, u_row, None));
        } else {
            u_plane
                .par_chunks_mut(cs)
                .zip(v_plane.par_chunks_mut(layout.stride(2)))
                .take(chroma_rows)
                .enumerate()
                .for_each(|(cy, (u_row, v_row))| chroma(cy, u_row, Some(v_row)));
        }
    });
}

/// `x * 255 / 255`-style division, exact for `0..=255 * 255`.
#[inline(always)]
fn div255(x: u32) -> u32 {
    let x = x + 128;
    (x + (x >> 8)) >> 8
}

/// The columns `[xa, xb)` of row `y` whose centres lie in the quad.
fn row_span(draw: &Draw<'_>, y: usize, width: usize) -> (usize, usize) {
    let q = &draw.quad;
    let dy = y as f32 + 0.5 - q.cy;
    let (mut lo, mut hi) = (f32::NEG_INFINITY, f32::INFINITY);
    // lx = cos*dx + sin*dy in [-hw, hw); ly = -sin*dx + cos*dy in [-hh, hh).
    for (a, b, half) in [(q.cos, q.sin * dy, q.hw), (-q.sin, q.cos * dy, q.hh)] {
        if a == 0.0 {
            if b < -half || b >= half {
                return (0, 0);
            }
        } else {
            let (p, r) = ((-half - b) / a, (half - b) / a);
            let (p, r) = if a > 0.0 { (p, r) } else { (r, p) };
            lo = lo.max(p);
            hi = hi.min(r);
        }
    }
    let xa = (lo + q.cx - 0.5).ceil().max(0.0);
    let xb = (hi + q.cx - 0.5).ceil().clamp(0.0, width as f32);
    if xb <= xa {
        return (0, 0);
    }
    (xa as usize, xb as usize)
}

/// Whether a draw covers every pixel of rows `y0..y1`.
fn covers_band(draw: &Draw<'_>, y0: usize, y1: usize, width: usize) -> bool {
    draw.quad.is_axis_aligned()
        && row_span(draw, y0, width) == (0, width)
        && row_span(draw, y1 - 1, width) == (0, width)
}

fn is_opaque(draw: &Draw<'_>, pixels: &Pixels<'_>) -> bool {
    draw.opacity >= 1.0
        && match pixels {
            Pixels::Solid(c) => c[3] == 255,
            Pixels::Rgba { opaque, .. } => *opaque,
        }
}

fn render_band(
    band: &mut [u8],
    width: usize,
    y0: usize,
    rows: usize,
    background: [u8; 4],
    draws: &[Draw<'_>],
    pixels: &[Pixels<'_>],
) {
    let y1 = y0 + rows;
    // Start at the topmost opaque draw covering the band: nothing below it shows.
    let start = (0..draws.len())
        .rev()
        .find(|&i| is_opaque(&draws[i], &pixels[i]) && covers_band(&draws[i], y0, y1, width))
        .unwrap_or(0);
    let first_covers = draws
        .get(start)
        .is_some_and(|d| covers_band(d, y0, y1, width));
    if !first_covers {
        for px in band.chunks_exact_mut(4) {
            px.copy_from_slice(&background);
        }
    }
    for (i, (draw, pix)) in draws.iter().zip(pixels).enumerate().skip(start) {
        let over_background = first_covers && i == start;
        for (r, row) in band.chunks_exact_mut(width * 4).enumerate() {
            let y = y0 + r;
            let (xa, xb) = row_span(draw, y, width);
            if xa >= xb {
                continue;
            }
            let dst = &mut row[xa * 4..xb * 4];
            draw_span(draw, pix, dst, xa, y, over_background.then_some(background));
        }
    }
}

/// Blends one draw over `dst` (columns `xa..`, row `y`). With `background`, `dst` is not read:
/// the draw is composited over that colour instead.
fn draw_span(
    draw: &Draw<'_>,
    pixels: &Pixels<'_>,
    dst: &mut [u8],
    xa: usize,
    y: usize,
    background: Option<[u8; 4]>,
) {
    let op = (draw.opacity * 255.0).round() as u32;
    match *pixels {
        Pixels::Solid(c) => {
            if let Some(bg) = background {
                for px in dst.chunks_exact_mut(4) {
                    px.copy_from_slice(&bg);
                }
            }
            let a = div255(u32::from(c[3]) * op);
            if a == 255 {
                for px in dst.chunks_exact_mut(4) {
                    px.copy_from_slice(&[c[0], c[1], c[2], 255]);
                }
            } else if a > 0 {
                let pre = [c[0], c[1], c[2]].map(|v| u32::from(v) * a);
                for px in dst.chunks_exact_mut(4) {
                    for ch in 0..3 {
                        px[ch] = div255(pre[ch] + u32::from(px[ch]) * (255 - a)) as u8;
                    }
                    px[3] = 255;
                }
            }
        }
        Pixels::Rgba {
            data,
            stride,
            width,
            height,
            opaque,
        } => {
            let n = dst.len() / 4;
            if let Some((sx, sy)) = one_to_one(draw, xa, y, width, height)
                .filter(|&(sx, sy)| sx + n <= width && sy < height)
            {
                let src = &data[sy * stride + sx * 4..sy * stride + (sx + n) * 4];
                blend_row(dst, src, op, opaque, background);
            } else {
                if let Some(bg) = background {
                    for px in dst.chunks_exact_mut(4) {
                        px.copy_from_slice(&bg);
                    }
                }
                sample_row(draw, data, stride, dst, xa, y, op);
            }
        }
    }
}

/// When the draw maps canvas pixels to source texel centres 1:1 (unscaled, unrotated, not
/// mirrored left-right, whole-pixel offsets), the source column and row of canvas (xa, y).
fn one_to_one(
    draw: &Draw<'_>,
    xa: usize,
    y: usize,
    width: usize,
    height: usize,
) -> Option<(usize, usize)> {
    let q = &draw.quad;
    let [u0, v0, u1, v1] = draw.src;
    if q.cos != 1.0 || q.sin != 0.0 || u1 - u0 != 2.0 * q.hw || (v1 - v0).abs() != 2.0 * q.hh {
        return None;
    }
    let left = q.cx - q.hw;
    let offset = u0 - left;
    if offset.fract() != 0.0 {
        return None;
    }
    let sv = (v1 - v0).signum();
    let v = v0 + (y as f32 + 0.5 - (q.cy - q.hh)) * sv;
    let sx = xa as f32 + offset;
    if v.fract() != 0.5 || sx < 0.0 || v < 0.0 {
        return None;
    }
    let (sx, sy) = (sx as usize, v.floor() as usize);
    (sx < width && sy < height).then_some((sx, sy))
}

/// Blends a row of RGBA over `dst` 1:1; copies runs of opaque pixels at full opacity.
fn blend_row(dst: &mut [u8], src: &[u8], op: u32, opaque: bool, background: Option<[u8; 4]>) {
    if op == 255 && opaque {
        dst.copy_from_slice(src);
        return;
    }
    let bg = background.map(|b| b.map(u32::from));
    for (d, s) in dst.chunks_exact_mut(32).zip(src.chunks_exact(32)) {
        if op == 255 && s.chunks_exact(4).all(|p| p[3] == 255) {
            d.copy_from_slice(s);
        } else {
            blend_pixels(d, s, op, bg);
        }
    }
    let done = dst.len() / 32 * 32;
    blend_pixels(&mut dst[done..], &src[done..], op, bg);
}

#[inline(always)]
fn blend_pixels(dst: &mut [u8], src: &[u8], op: u32, bg: Option<[u32; 4]>) {
    for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
        let a = div255(u32::from(s[3]) * op);
        let under = bg.unwrap_or([u32::from(d[0]), u32::from(d[1]), u32::from(d[2]), 255]);
        for ch in 0..3 {
            d[ch] = div255(u32::from(s[ch]) * a + under[ch] * (255 - a)) as u8;
        }
        d[3] = 255;
    }
}

/// Samples the source bilinearly for each pixel of the span and blends it.
fn sample_row(
    draw: &Draw<'_>,
    data: &[u8],
    stride: usize,
    dst: &mut [u8],
    xa: usize,
    y: usize,
    op: u32,
) {
    let q = &draw.quad;
    let [u0, v0, u1, v1] = draw.src;
    let [cx0, cy0, cx1, cy1] = draw.clamp;
    let (su, sv) = ((u1 - u0) / (2.0 * q.hw), (v1 - v0) / (2.0 * q.hh));
    let (lx, ly) = q.to_local(xa as f32 + 0.5, y as f32 + 0.5);
    let mut u = u0 + (lx + q.hw) * su;
    let mut v = v0 + (ly + q.hh) * sv;
    // Moving one pixel right moves (cos, -sin) in the local frame.
    let (du, dv) = (q.cos * su, -q.sin * sv);
    let (last_x, last_y) = (cx1 as usize - 1, cy1 as usize - 1);
    for d in dst.chunks_exact_mut(4) {
        let fx = u.clamp(cx0 + 0.5, cx1 - 0.5) - 0.5;
        let fy = v.clamp(cy0 + 0.5, cy1 - 0.5) - 0.5;
        u += du;
        v += dv;
        let (ix, iy) = (fx.floor(), fy.floor());
        let wx = ((fx - ix) * 256.0).round() as u32;
        let wy = ((fy - iy) * 256.0).round() as u32;
        let (ix, iy) = (ix as usize, iy as usize);
        let (ix1, iy1) = ((ix + 1).min(last_x), (iy + 1).min(last_y));
        let (r0, r1) = (iy * stride, iy1 * stride);
        let (p00, p10, p01, p11) = (
            &data[r0 + ix * 4..r0 + ix * 4 + 4],
            &data[r0 + ix1 * 4..r0 + ix1 * 4 + 4],
            &data[r1 + ix * 4..r1 + ix * 4 + 4],
            &data[r1 + ix1 * 4..r1 + ix1 * 4 + 4],
        );
        let mut s = [0u32; 4];
        for ch in 0..4 {
            let top = u32::from(p00[ch]) * (256 - wx) + u32::from(p10[ch]) * wx;
            let bottom = u32::from(p01[ch]) * (256 - wx) + u32::from(p11[ch]) * wx;
            s[ch] = (top * (256 - wy) + bottom * wy + (1 << 15)) >> 16;
        }
        let a = div255(s[3] * op);
        for ch in 0..3 {
            d[ch] = div255(s[ch] * a + u32::from(d[ch]) * (255 - a)) as u8;
        }
        d[3] = 255;
    }
}
