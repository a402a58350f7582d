//! Turns a scene (layers + the current input frames) into a list of draws that every backend
//! renders the same way. All geometry lives here, once: fit, crop, rotation and flips become a
//! quad on the canvas and a source rectangle.
//!
//! The contract each backend implements, for each draw in order, over an opaque canvas filled
//! with the background colour:
//! - A canvas pixel (x, y) is covered when its centre (x + 0.5, y + 0.5), taken into the quad's
//!   local frame, lies in `[-hw, hw) x [-hh, hh)`.
//! - Its source position is `src` interpolated linearly across the quad (`u0` at the local left
//!   edge, `u1` at the right; `v0` top, `v1` bottom), clamped to the texel centres of `clamp`,
//!   and sampled bilinearly (texel centres at `i + 0.5`).
//! - The sample's alpha times `opacity` blends it over the canvas, in sRGB-encoded values
//!   (as OBS, GStreamer and FFmpeg do): `out = src * a + dst * (1 - a)`.

use std::time::Duration;

use livekit_core::VideoFrame;

use crate::color::Color;
use crate::scene::{Fit, Layer, OutputFormat, Rect};

/// What a draw puts on the canvas.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Content<'a> {
    /// A picture, in any pixel format.
    Frame(&'a VideoFrame),
    /// A solid colour (straight alpha).
    Solid([u8; 4]),
}

/// A rotated rectangle on the canvas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Quad {
    /// Centre, in canvas pixels.
    pub cx: f32,
    /// Centre, in canvas pixels.
    pub cy: f32,
    /// Half width in the quad's own (unrotated) frame.
    pub hw: f32,
    /// Half height in the quad's own frame.
    pub hh: f32,
    /// Cosine of the clockwise rotation (exactly 0 or +-1 for quarter turns).
    pub cos: f32,
    /// Sine of the clockwise rotation.
    pub sin: f32,
}

impl Quad {
    /// The canvas position of a point given in the quad's local frame.
    pub fn to_canvas(self, lx: f32, ly: f32) -> (f32, f32) {
        (
            self.cx + self.cos * lx - self.sin * ly,
            self.cy + self.sin * lx + self.cos * ly,
        )
    }

    /// The local position of a canvas point.
    pub fn to_local(self, x: f32, y: f32) -> (f32, f32) {
        let (dx, dy) = (x - self.cx, y - self.cy);
        (
            self.cos * dx + self.sin * dy,
            -self.sin * dx + self.cos * dy,
        )
    }

    /// Whether the quad is not rotated (or turned by 180 degrees).
    pub fn is_axis_aligned(&self) -> bool {
        self.sin == 0.0
    }
}

/// One textured (or solid) quad to blend onto the canvas.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Draw<'a> {
    pub content: Content<'a>,
    pub quad: Quad,
    /// Source positions `[u0, v0, u1, v1]` at the local left/top and right/bottom edges (flips
    /// swap them), in source pixels.
    pub src: [f32; 4],
    /// The source area samples stay in `[x0, y0, x1, y1]` (the crop), in source pixels.
    pub clamp: [f32; 4],
    /// 0..=1.
    pub opacity: f32,
}

/// Everything a backend needs to render one canvas frame.
#[derive(Debug, Clone)]
pub(crate) struct RenderJob<'a> {
    pub width: u32,
    pub height: u32,
    /// Opaque.
    pub background: [u8; 4],
    pub draws: Vec<Draw<'a>>,
    /// During a fade: the incoming scene's draws (over the same background) and how far the
    /// fade is (0..1); the result is `mix(draws, fade_draws, weight)`.
    pub fade: Option<(Vec<Draw<'a>>, f32)>,
    pub output: OutputFormat,
    pub pts: Duration,
}

/// Where a layer goes when it has no rectangle.
pub(crate) fn default_rect(layer: &Layer, natural: Option<(u32, u32)>, canvas: (u32, u32)) -> Rect {
    match (layer.position, &layer.source, natural) {
        (Some((x, y)), _, Some((w, h))) => Rect::new(x, y, w as f32, h as f32),
        (Some((x, y)), _, None) => Rect::new(x, y, canvas.0 as f32 - x, canvas.1 as f32 - y),
        (None, crate::scene::LayerSource::Text(_), Some((w, h))) => {
            Rect::new(0.0, 0.0, w as f32, h as f32)
        }
        _ => Rect::new(0.0, 0.0, canvas.0 as f32, canvas.1 as f32),
    }
}

/// Exact cosine and sine for quarter turns, and which quarter (if it is one).
fn rotation(degrees: f32) -> (f32, f32, Option<u32>) {
    let d = degrees.rem_euclid(360.0);
    for (quarter, (c, s)) in [(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)]
        .into_iter()
        .enumerate()
    {
        if (d - 90.0 * quarter as f32).abs() < 1e-4 || (quarter == 0 && (d - 360.0).abs() < 1e-4) {
            return (c, s, Some(quarter as u32));
        }
    }
    let r = d.to_radians();
    (r.cos(), r.sin(), None)
}

/// Resolves one visible layer into a draw. `content` is what the layer shows right now (`None`:
/// nothing yet, e.g. a live source that has not delivered a frame).
pub(crate) fn layer_draw<'a>(
    layer: &Layer,
    content: Content<'a>,
    canvas: (u32, u32),
    opacity_scale: f32,
) -> Option<Draw<'a>> {
    let natural = match content {
        Content::Frame(frame) => Some((frame.width(), frame.height())),
        Content::Solid(_) => None,
    };
    let rect = layer
        .rect
        .unwrap_or_else(|| default_rect(layer, natural, canvas));
    let opacity = (layer.opacity * opacity_scale).clamp(0.0, 1.0);
    if !layer.visible || opacity <= 0.0 || rect.w <= 0.0 || rect.h <= 0.0 {
        return None;
    }
    let (cos, sin, quarter) = rotation(layer.rotation);
    let odd = matches!(quarter, Some(1 | 3));

    // The source area shown: the crop clipped to the picture.
    let (mut x0, mut y0, mut x1, mut y1) = match natural {
        Some((w, h)) => match layer.crop {
            Some(c) => (
                c.x.min(w) as f32,
                c.y.min(h) as f32,
                c.x.saturating_add(c.w).min(w) as f32,
                c.y.saturating_add(c.h).min(h) as f32,
            ),
            None => (0.0, 0.0, w as f32, h as f32),
        },
        None => (0.0, 0.0, 1.0, 1.0),
    };
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    let clamp = [x0, y0, x1, y1];

    // The box on the canvas, in canvas axes.
    let (mut bx, mut by, mut bw, mut bh) = (rect.x, rect.y, rect.w, rect.h);
    if natural.is_some() && layer.fit != Fit::Stretch {
        let (cw, ch) = (x1 - x0, y1 - y0);
        let (ew, eh) = if odd { (ch, cw) } else { (cw, ch) };
        match layer.fit {
            Fit::Stretch => {}
            Fit::Contain => {
                let s = (rect.w / ew).min(rect.h / eh);
                bw = ew * s;
                bh = eh * s;
                let (ax, ay) = layer.align.factors();
                bx = rect.x + (rect.w - bw) * ax;
                by = rect.y + (rect.h - bh) * ay;
            }
            Fit::Cover => {
                let s = (rect.w / ew).max(rect.h / eh);
                let (vw, vh) = if odd {
                    (rect.h / s, rect.w / s)
                } else {
                    (rect.w / s, rect.h / s)
                };
                x0 += (cw - vw) / 2.0;
                x1 = x0 + vw;
                y0 += (ch - vh) / 2.0;
                y1 = y0 + vh;
            }
        }
    }
    let (hw, hh) = if odd {
        (bh / 2.0, bw / 2.0)
    } else {
        (bw / 2.0, bh / 2.0)
    };
    let quad = Quad {
        cx: bx + bw / 2.0,
        cy: by + bh / 2.0,
        hw,
        hh,
        cos,
        sin,
    };
    let (u0, u1) = if layer.flip_horizontal {
        (x1, x0)
    } else {
        (x0, x1)
    };
    let (v0, v1) = if layer.flip_vertical {
        (y1, y0)
    } else {
        (y0, y1)
    };
    Some(Draw {
        content,
        quad,
        src: [u0, v0, u1, v1],
        clamp,
        opacity,
    })
}

/// The background as opaque RGBA.
pub(crate) fn background(color: Color) -> [u8; 4] {
    color.opaque().to_array()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::{Layer, LayerSource};
    use livekit_core::{FrameLayout, PixelFormat};

    fn frame(w: u32, h: u32) -> VideoFrame {
        VideoFrame::solid_rgba(w, h, [0, 0, 0, 255], Duration::ZERO).expect("frame")
    }

    #[test]
    fn contain_and_cover() {
        let f = frame(200, 100);
        let layer = Layer::new(LayerSource::Image(f.clone()))
            .rect(0.0, 0.0, 100.0, 100.0)
            .fit(Fit::Contain);
        let d = layer_draw(&layer, Content::Frame(&f), (100, 100), 1.0).expect("draw");
        assert_eq!(
            (d.quad.cx, d.quad.cy, d.quad.hw, d.quad.hh),
            (50.0, 50.0, 50.0, 25.0)
        );
        assert_eq!(d.src, [0.0, 0.0, 200.0, 100.0]);
        let layer = layer.fit(Fit::Cover);
        let d = layer_draw(&layer, Content::Frame(&f), (100, 100), 1.0).expect("draw");
        assert_eq!((d.quad.hw, d.quad.hh), (50.0, 50.0));
        assert_eq!(d.src, [50.0, 0.0, 150.0, 100.0]);
        let _ = FrameLayout::new(1, 1, PixelFormat::Rgba8);
    }

    #[test]
    fn text_keeps_its_shape_in_its_rect_where_aligned() {
        // A 200x100 text picture in a 100x100 rect: half as high, at the top, left or centre.
        let f = frame(200, 100);
        let text = Layer::text(crate::Text::new("x")).rect(10.0, 20.0, 100.0, 100.0);
        let d = layer_draw(&text, Content::Frame(&f), (400, 400), 1.0).expect("draw");
        assert_eq!(
            (d.quad.cx, d.quad.cy, d.quad.hw, d.quad.hh),
            (60.0, 70.0, 50.0, 25.0)
        );
        let d = layer_draw(
            &text.clone().align(crate::Align::TopLeft),
            Content::Frame(&f),
            (400, 400),
            1.0,
        )
        .expect("draw");
        assert_eq!((d.quad.cx, d.quad.cy), (60.0, 45.0));
        let d = layer_draw(
            &text.clone().align(crate::Align::BottomRight),
            Content::Frame(&f),
            (400, 400),
            1.0,
        )
        .expect("draw");
        assert_eq!((d.quad.cx, d.quad.cy), (60.0, 95.0));
        // Stretching stays possible when asked for.
        let d =
            layer_draw(&text.fit(Fit::Stretch), Content::Frame(&f), (400, 400), 1.0).expect("draw");
        assert_eq!((d.quad.hw, d.quad.hh), (50.0, 50.0));
    }

    #[test]
    fn a_position_alone_places_the_source_in_its_own_size() {
        let f = frame(64, 36);
        let layer = Layer::new(LayerSource::Image(f.clone())).at(100.0, 50.0);
        let d = layer_draw(&layer, Content::Frame(&f), (1280, 720), 1.0).expect("draw");
        assert_eq!(
            (d.quad.cx, d.quad.cy, d.quad.hw, d.quad.hh),
            (132.0, 68.0, 32.0, 18.0)
        );
        // A colour has no size of its own: it fills the canvas from there.
        let colour = Layer::color(crate::Color::WHITE).at(1000.0, 600.0);
        let d = layer_draw(&colour, Content::Solid([255; 4]), (1280, 720), 1.0).expect("draw");
        assert_eq!(
            (d.quad.cx, d.quad.cy, d.quad.hw, d.quad.hh),
            (1140.0, 660.0, 140.0, 60.0)
        );
    }

    #[test]
    fn quarter_turns_are_exact() {
        assert_eq!(rotation(90.0), (0.0, 1.0, Some(1)));
        assert_eq!(rotation(-90.0), (0.0, -1.0, Some(3)));
        assert_eq!(rotation(720.0), (1.0, 0.0, Some(0)));
        assert_eq!(rotation(180.0), (-1.0, 0.0, Some(2)));
        assert!(rotation(45.0).2.is_none());
    }
}
