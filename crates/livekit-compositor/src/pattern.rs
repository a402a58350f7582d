//! Test patterns, drawn at any size.

use std::time::Duration;

use livekit_core::{FrameLayout, PixelFormat, VideoFrame, VideoFrameMut};

use crate::scene::TestPattern;

const WHITE75: [u8; 3] = [191, 191, 191];
const BARS75: [[u8; 3]; 7] = [
    WHITE75,
    [191, 191, 0],
    [0, 191, 191],
    [0, 191, 0],
    [191, 0, 191],
    [191, 0, 0],
    [0, 0, 191],
];

/// Draws `pattern` as an opaque RGBA frame of `width` x `height` (each at least 1).
pub fn render(pattern: TestPattern, width: u32, height: u32) -> VideoFrame {
    let (w, h) = (width.max(1), height.max(1));
    let layout = FrameLayout::new(w, h, PixelFormat::Rgba8).expect("size checked by the caller");
    let mut frame = VideoFrameMut::new(layout, Duration::ZERO);
    for y in 0..h {
        let row = frame.row_mut(0, y as usize);
        for (x, px) in row.chunks_exact_mut(4).enumerate() {
            let x = x as u32;
            let rgb = match pattern {
                TestPattern::Bars => {
                    const FULL: [[u8; 3]; 8] = [
                        [255, 255, 255],
                        [255, 255, 0],
                        [0, 255, 255],
                        [0, 255, 0],
                        [255, 0, 255],
                        [255, 0, 0],
                        [0, 0, 255],
                        [0, 0, 0],
                    ];
                    FULL[(x as usize * 8 / w as usize).min(7)]
                }
                TestPattern::Gradient => {
                    let g = (x * 255 / (w - 1).max(1)) as u8;
                    let r = (y * 255 / (h - 1).max(1)) as u8;
                    [r.max(g), g, g]
                }
                TestPattern::Smpte => smpte(x, y, w, h),
            };
            px.copy_from_slice(&[rgb[0], rgb[1], rgb[2], 255]);
        }
    }
    frame.freeze()
}

fn smpte(x: u32, y: u32, w: u32, h: u32) -> [u8; 3] {
    let bar = (x as usize * 7 / w as usize).min(6);
    if y < h * 2 / 3 {
        BARS75[bar]
    } else if y < h * 3 / 4 {
        // Castellations: the bars in reverse order with black between.
        match bar {
            0 => [0, 0, 191],
            2 => [191, 0, 191],
            4 => [0, 191, 191],
            6 => WHITE75,
            _ => [19, 19, 19],
        }
    } else {
        // PLUGE row: -I, white, +Q, black, then the near-black steps.
        let sixth = (x as usize * 6 / w as usize).min(5);
        match sixth {
            0 => [0, 33, 76],
            1 => [255, 255, 255],
            2 => [50, 0, 106],
            3 => [19, 19, 19],
            _ => {
                let step = (x as usize * 21 / w as usize).min(20);
                match step {
                    15 => [9, 9, 9],
                    17 => [29, 29, 29],
                    _ => [19, 19, 19],
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_where_expected() {
        let f = render(TestPattern::Bars, 80, 10);
        assert_eq!(f.rgba_at(5, 5), Some([255, 255, 255, 255]));
        assert_eq!(f.rgba_at(75, 5), Some([0, 0, 0, 255]));
        let s = render(TestPattern::Smpte, 700, 300);
        assert_eq!(s.rgba_at(650, 10), Some([0, 0, 191, 255]));
        let g = render(TestPattern::Gradient, 256, 2);
        assert_eq!(g.rgba_at(255, 0), Some([255, 255, 255, 255]));
    }
}
