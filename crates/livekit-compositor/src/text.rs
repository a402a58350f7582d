//! Text layers, drawn with the font bundled in this crate (DejaVu Sans Bold), so captions work
//! on a machine with no fonts installed.

use std::sync::OnceLock;
use std::time::Duration;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use livekit_core::{FrameLayout, PixelFormat, VideoFrame, VideoFrameMut};

use crate::color::Color;

/// The bundled font (DejaVu Sans Bold; licence in `fonts/DejaVu-LICENSE.txt`).
const FONT_BYTES: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

/// The largest text size accepted, in pixels.
pub const MAX_TEXT_SIZE: f32 = 1024.0;
/// The longest text accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 10_000;

fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| {
        // The bytes are ours and checked by a test; a broken file is a build defect.
        FontRef::try_from_slice(FONT_BYTES).expect("the bundled font parses")
    })
}

/// A text layer's content and style.
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    /// The text; `\n` starts a new line.
    pub text: String,
    /// Height of a line in pixels (the font's em size), 1..=1024.
    pub size: f32,
    /// Colour of the letters (its alpha is kept).
    pub color: Color,
    /// A box drawn behind the text, if any.
    pub background: Option<Color>,
    /// Space between the text and the edge of its box, in pixels.
    pub padding: u32,
}

impl Text {
    /// White text of 48 pixels, no box, padding of a quarter of the size.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            size: 48.0,
            color: Color::WHITE,
            background: None,
            padding: 12,
        }
    }

    /// Sets the size in pixels (and the padding to a quarter of it).
    pub fn size(mut self, size: f32) -> Self {
        self.size = size;
        self.padding = (size / 4.0).round().max(0.0) as u32;
        self
    }

    /// Sets the colour.
    pub fn color(mut self, color: Color) -> Self {
        self.color = color;
        self
    }

    /// Draws a box of this colour behind the text.
    pub fn background(mut self, color: Color) -> Self {
        self.background = Some(color);
        self
    }

    /// Sets the padding.
    pub fn padding(mut self, padding: u32) -> Self {
        self.padding = padding;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(self.size.is_finite() && (1.0..=MAX_TEXT_SIZE).contains(&self.size)) {
            return Err(format!(
                "size must be between 1 and {MAX_TEXT_SIZE} pixels (got {})",
                self.size
            ));
        }
        if self.text.chars().count() > MAX_TEXT_CHARS {
            return Err(format!("longer than {MAX_TEXT_CHARS} characters"));
        }
        if self.padding > 4096 {
            return Err(format!(
                "padding must be at most 4096 (got {})",
                self.padding
            ));
        }
        Ok(())
    }

    /// Draws the text into a new RGBA frame just large enough for it and its padding
    /// (straight alpha: transparent around the letters unless there is a box).
    pub fn render(&self) -> VideoFrame {
        let font = font().as_scaled(PxScale::from(self.size.clamp(1.0, MAX_TEXT_SIZE)));
        let line_height = font.height() + font.line_gap();
        let lines: Vec<&str> = self.text.split('\n').collect();

        // Lay out glyphs line by line, with kerning.
        let mut glyphs = Vec::new();
        let mut width = 0f32;
        for (row, line) in lines.iter().enumerate() {
            let baseline = font.ascent() + row as f32 * line_height;
            let mut x = 0f32;
            let mut previous = None;
            for ch in line.chars() {
                let id = font.glyph_id(ch);
                if let Some(prev) = previous {
                    x += font.kern(prev, id);
                }
                glyphs.push(id.with_scale_and_position(font.scale(), ab_glyph::point(x, baseline)));
                x += font.h_advance(id);
                previous = Some(id);
            }
            width = width.max(x);
        }
        let pad = self.padding as f32;
        let text_height = line_height * lines.len() as f32 - font.line_gap();
        let w = (width + 2.0 * pad).ceil().clamp(1.0, 16384.0) as u32;
        let h = (text_height + 2.0 * pad).ceil().clamp(1.0, 16384.0) as u32;

        let layout = FrameLayout::new(w, h, PixelFormat::Rgba8).expect("size clamped to valid");
        let mut frame = VideoFrameMut::new(layout, Duration::ZERO);
        let background = self.background.unwrap_or(Color::TRANSPARENT).to_array();
        let data = frame.plane_mut(0);
        for pixel in data.chunks_exact_mut(4) {
            pixel.copy_from_slice(&background);
        }
        let stride = w as usize * 4;
        let color = self.color;
        for glyph in glyphs {
            let Some(outline) = font.outline_glyph(glyph) else {
                continue;
            };
            let bounds = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                let x = bounds.min.x + pad + gx as f32;
                let y = bounds.min.y + pad + gy as f32;
                if x < 0.0 || y < 0.0 || x >= w as f32 || y >= h as f32 {
                    return;
                }
                let i = y as usize * stride + x as usize * 4;
                let alpha = coverage.clamp(0.0, 1.0) * f32::from(color.a) / 255.0;
                blend_straight(&mut data[i..i + 4], color, alpha);
            });
        }
        frame.freeze()
    }
}

/// Source-over of a colour with coverage `alpha` onto a straight-alpha pixel.
fn blend_straight(dst: &mut [u8], color: Color, alpha: f32) {
    if alpha <= 0.0 {
        return;
    }
    let da = f32::from(dst[3]) / 255.0;
    let out_a = alpha + da * (1.0 - alpha);
    if out_a <= 0.0 {
        return;
    }
    let src = [color.r, color.g, color.b];
    for c in 0..3 {
        let value = (f32::from(src[c]) * alpha + f32::from(dst[c]) * da * (1.0 - alpha)) / out_a;
        dst[c] = value.round().clamp(0.0, 255.0) as u8;
    }
    dst[3] = (out_a * 255.0).round().clamp(0.0, 255.0) as u8;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_letters_in_the_colour() {
        let frame = Text::new("Hi")
            .size(40.0)
            .color(Color::rgb(255, 0, 0))
            .render();
        assert!(frame.width() > 40 && frame.height() >= 40, "{frame:?}");
        let data = frame.plane(0);
        let solid = data.chunks_exact(4).filter(|p| p[3] == 255).count();
        assert!(solid > 100, "too few solid pixels: {solid}");
        assert!(
            data.chunks_exact(4)
                .filter(|p| p[3] == 255)
                .all(|p| p[..3] == [255, 0, 0])
        );
        // Transparent at the padding.
        assert_eq!(frame.rgba_at(0, 0), Some([0, 0, 0, 0]));
    }

    #[test]
    fn box_and_lines() {
        let one = Text::new("x").background(Color::rgb(0, 0, 255)).render();
        let two = Text::new("x\nx").background(Color::rgb(0, 0, 255)).render();
        assert!(two.height() > one.height() * 3 / 2);
        assert_eq!(one.rgba_at(0, 0), Some([0, 0, 255, 255]));
    }
}
