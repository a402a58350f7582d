//! Fixed-point YUV <-> RGBA for the CPU backend (BT.601/709, limited/full range), by rows.

use livekit_core::{ColorMatrix, ColorRange, ColorSpace, PixelFormat, VideoFrame};

const SHIFT: u32 = 14;
const ONE: f32 = (1 << SHIFT) as f32;
const HALF: i32 = 1 << (SHIFT - 1);

fn weights(matrix: ColorMatrix) -> (f32, f32) {
    match matrix {
        ColorMatrix::Bt709 => (0.2126, 0.0722),
        _ => (0.299, 0.114),
    }
}

/// YUV -> RGB coefficients in fixed point.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ToRgb {
    y_offset: i32,
    y: i32,
    rv: i32,
    gu: i32,
    gv: i32,
    bu: i32,
}

impl ToRgb {
    pub(crate) fn new(cs: ColorSpace) -> Self {
        let (kr, kb) = weights(cs.matrix);
        let kg = 1.0 - kr - kb;
        let (y_offset, y_scale, c_scale) = match cs.range {
            ColorRange::Full => (0, 1.0, 1.0),
            _ => (16, 255.0 / 219.0, 255.0 / 224.0),
        };
        let f = |v: f32| (v * ONE).round() as i32;
        Self {
            y_offset,
            y: f(y_scale),
            rv: f(2.0 * (1.0 - kr) * c_scale),
            gu: f(2.0 * kb * (1.0 - kb) / kg * c_scale),
            gv: f(2.0 * kr * (1.0 - kr) / kg * c_scale),
            bu: f(2.0 * (1.0 - kb) * c_scale),
        }
    }

    #[inline(always)]
    pub(crate) fn rgba(&self, y: u8, u: u8, v: u8) -> [u8; 4] {
        let y = (i32::from(y) - self.y_offset) * self.y + HALF;
        let (u, v) = (i32::from(u) - 128, i32::from(v) - 128);
        let c = |x: i32| (x >> SHIFT).clamp(0, 255) as u8;
        [
            c(y + self.rv * v),
            c(y - self.gu * u - self.gv * v),
            c(y + self.bu * u),
            255,
        ]
    }
}

/// Converts rows `y0..y1` of a YUV or BGRA frame into packed RGBA rows in `out` (which holds
/// exactly those rows). Chroma is taken from the 2x2 block a pixel is in.
pub(crate) fn to_rgba_rows(frame: &VideoFrame, out: &mut [u8], y0: usize, y1: usize) {
    let w = frame.width() as usize;
    for (row_out, y) in out.chunks_exact_mut(w * 4).zip(y0..y1) {
        match frame.format() {
            PixelFormat::Bgra8 => {
                for (d, s) in row_out
                    .chunks_exact_mut(4)
                    .zip(frame.row(0, y).chunks_exact(4))
                {
                    d.copy_from_slice(&[s[2], s[1], s[0], s[3]]);
                }
            }
            PixelFormat::I420(cs) => {
                let k = ToRgb::new(cs);
                let (luma, us, vs) = (frame.row(0, y), frame.row(1, y / 2), frame.row(2, y / 2));
                for (x, d) in row_out.chunks_exact_mut(4).enumerate() {
                    d.copy_from_slice(&k.rgba(luma[x], us[x / 2], vs[x / 2]));
                }
            }
            PixelFormat::Nv12(cs) => {
                let k = ToRgb::new(cs);
                let (luma, uv) = (frame.row(0, y), frame.row(1, y / 2));
                for (x, d) in row_out.chunks_exact_mut(4).enumerate() {
                    let c = x / 2 * 2;
                    d.copy_from_slice(&k.rgba(luma[x], uv[c], uv[c + 1]));
                }
            }
            _ => row_out.copy_from_slice(&frame.row(0, y)[..w * 4]),
        }
    }
}

/// RGB -> YUV coefficients in fixed point.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ToYuv {
    yr: i32,
    yg: i32,
    yb: i32,
    y_offset: i32,
    ur: i32,
    ug: i32,
    ub: i32,
    vr: i32,
    vg: i32,
    vb: i32,
}

impl ToYuv {
    pub(crate) fn new(cs: ColorSpace) -> Self {
        let (kr, kb) = weights(cs.matrix);
        let kg = 1.0 - kr - kb;
        let (y_offset, y_scale, c_scale) = match cs.range {
            ColorRange::Full => (0, 1.0, 1.0),
            _ => (16, 219.0 / 255.0, 224.0 / 255.0),
        };
        let f = |v: f32| (v * ONE).round() as i32;
        let cu = c_scale / (2.0 * (1.0 - kb));
        let cv = c_scale / (2.0 * (1.0 - kr));
        Self {
            yr: f(kr * y_scale),
            yg: f(kg * y_scale),
            yb: f(kb * y_scale),
            y_offset,
            ur: f(-kr * cu),
            ug: f(-kg * cu),
            ub: f((1.0 - kb) * cu),
            vr: f((1.0 - kr) * cv),
            vg: f(-kg * cv),
            vb: f(-kb * cv),
        }
    }

    #[inline(always)]
    pub(crate) fn y(&self, r: i32, g: i32, b: i32) -> u8 {
        (((self.yr * r + self.yg * g + self.yb * b + HALF) >> SHIFT) + self.y_offset).clamp(0, 255)
            as u8
    }

    /// Chroma of an RGB sum over `1 << n_log2` pixels (1, 2 or 4).
    #[inline(always)]
    pub(crate) fn uv(&self, r: i32, g: i32, b: i32, n_log2: u32) -> (u8, u8) {
        let shift = SHIFT + n_log2;
        let round = 1 << (shift - 1);
        let u = (self.ur * r + self.ug * g + self.ub * b + round) >> shift;
        let v = (self.vr * r + self.vg * g + self.vb * b + round) >> shift;
        ((u + 128).clamp(0, 255) as u8, (v + 128).clamp(0, 255) as u8)
    }
}
