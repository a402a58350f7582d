//! A plain (reference) conversion of any frame to RGBA8, for snapshots and tests. Fast paths
//! live where frames are hot (the compositor converts on the GPU or with SIMD).

use crate::format::{ColorMatrix, ColorRange, PixelFormat};
use crate::frame::{FrameLayout, VideoFrame, VideoFrameMut};

/// Converts `frame` to packed RGBA8 (straight alpha; opaque for YUV). An RGBA8 frame is
/// returned as it is (O(1)).
pub fn to_rgba(frame: &VideoFrame) -> VideoFrame {
    let (width, height) = (frame.width(), frame.height());
    let format = frame.format();
    if format == PixelFormat::Rgba8 {
        return frame.clone();
    }
    // Same size as a valid frame: cannot fail.
    let layout = FrameLayout::new(width, height, PixelFormat::Rgba8).expect("valid size");
    let mut out = VideoFrameMut::new(layout, frame.pts());
    for y in 0..height as usize {
        let row = out.row_mut(0, y);
        match format {
            PixelFormat::Rgba8 => unreachable!("returned above"),
            PixelFormat::Bgra8 => {
                for (dst, src) in row.chunks_exact_mut(4).zip(frame.row(0, y).chunks_exact(4)) {
                    dst.copy_from_slice(&[src[2], src[1], src[0], src[3]]);
                }
            }
            PixelFormat::I420(cs) | PixelFormat::Nv12(cs) => {
                let k = Coefficients::new(cs.matrix, cs.range);
                let luma = frame.row(0, y);
                for (x, dst) in row.chunks_exact_mut(4).enumerate() {
                    let (u, v) = match format {
                        PixelFormat::I420(_) => {
                            (frame.row(1, y / 2)[x / 2], frame.row(2, y / 2)[x / 2])
                        }
                        _ => {
                            let uv = frame.row(1, y / 2);
                            (uv[x / 2 * 2], uv[x / 2 * 2 + 1])
                        }
                    };
                    let [r, g, b] = k.rgb(luma[x], u, v);
                    dst.copy_from_slice(&[r, g, b, 255]);
                }
            }
        }
    }
    out.freeze()
}

/// YUV -> RGB coefficients for one matrix and range.
#[derive(Debug, Clone, Copy)]
struct Coefficients {
    y_offset: f32,
    y_scale: f32,
    c_scale: f32,
    kr: f32,
    kb: f32,
}

impl Coefficients {
    fn new(matrix: ColorMatrix, range: ColorRange) -> Self {
        let (kr, kb) = match matrix {
            ColorMatrix::Bt601 => (0.299, 0.114),
            ColorMatrix::Bt709 => (0.2126, 0.0722),
        };
        let (y_offset, y_scale, c_scale) = match range {
            ColorRange::Limited => (16.0, 255.0 / 219.0, 255.0 / 224.0),
            ColorRange::Full => (0.0, 1.0, 1.0),
        };
        Self {
            y_offset,
            y_scale,
            c_scale,
            kr,
            kb,
        }
    }

    fn rgb(&self, y: u8, u: u8, v: u8) -> [u8; 3] {
        let y = (f32::from(y) - self.y_offset) * self.y_scale;
        let u = (f32::from(u) - 128.0) * self.c_scale;
        let v = (f32::from(v) - 128.0) * self.c_scale;
        let kg = 1.0 - self.kr - self.kb;
        let r = y + 2.0 * (1.0 - self.kr) * v;
        let b = y + 2.0 * (1.0 - self.kb) * u;
        let g = (y - self.kr * r - self.kb * b) / kg;
        [r, g, b].map(|c| c.round().clamp(0.0, 255.0) as u8)
    }
}
