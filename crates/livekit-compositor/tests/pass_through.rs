//! A canvas showing one opaque YUV picture of its own size, whole, passes it through: the
//! canvas's frame shares the picture's buffer (nothing rendered); any change that needs
//! rendering (a second layer, a move, half opacity, a picture with alpha) renders again.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use livekit_compositor::{
    BackendChoice, CanvasSettings, Color, Compositor, InputFrames, Layer, LayerSource, VideoInput,
};
use livekit_core::{ColorSpace, FrameLayout, PixelFormat, Port, VideoFrame};

fn i420(width: u32, height: u32) -> VideoFrame {
    let layout =
        FrameLayout::new(width, height, PixelFormat::I420(ColorSpace::BT709_LIMITED)).unwrap();
    let len = layout.len();
    VideoFrame::from_vec(layout, vec![128; len], Duration::ZERO).unwrap()
}

#[test]
fn one_whole_opaque_picture_is_passed_through_and_anything_else_is_rendered() {
    let mut c = Compositor::new(BackendChoice::Cpu).unwrap();
    let canvas = c.add_canvas(CanvasSettings::new(64, 36, 10)).unwrap();
    let input = VideoInput::new(Arc::new(Port::<VideoFrame>::latest()));
    let layer = c
        .add_layer(canvas, None, Layer::new(LayerSource::Video(input.clone())))
        .unwrap();
    let picture = i420(64, 36);
    let mut frames = InputFrames::new();
    frames.insert(input.id(), picture.clone());

    let at = Duration::from_millis(300);
    let out = c.render_canvas(canvas, at, &frames).unwrap();
    assert!(out.shares_buffer_with(&picture));
    assert_eq!(out.pts(), at);
    assert_eq!(out.format(), picture.format());

    // Half opacity: rendered (the background shows through).
    c.update_layer(layer, |l| l.opacity = 0.5).unwrap();
    let out = c.render_canvas(canvas, at, &frames).unwrap();
    assert!(!out.shares_buffer_with(&picture));
    c.update_layer(layer, |l| l.opacity = 1.0).unwrap();

    // Mirrored: rendered.
    c.update_layer(layer, |l| l.flip_horizontal = true).unwrap();
    assert!(
        !c.render_canvas(canvas, at, &frames)
            .unwrap()
            .shares_buffer_with(&picture)
    );
    c.update_layer(layer, |l| l.flip_horizontal = false)
        .unwrap();

    // A second layer over it: rendered.
    let logo = c
        .add_layer(
            canvas,
            None,
            Layer::color(Color::rgb(255, 0, 0))
                .rect(0.0, 0.0, 8.0, 8.0)
                .z(1),
        )
        .unwrap();
    let out = c.render_canvas(canvas, at, &frames).unwrap();
    assert!(!out.shares_buffer_with(&picture));
    assert_eq!(out.rgba_at(2, 2), Some([255, 0, 0, 255]));
    c.remove_layer(logo).unwrap();

    // A picture of another size: scaled, so rendered.
    frames.insert(input.id(), i420(32, 18));
    assert!(
        !c.render_canvas(canvas, at, &frames)
            .unwrap()
            .shares_buffer_with(&picture)
    );

    // A picture with alpha: rendered over the background.
    let rgba = VideoFrame::solid_rgba(64, 36, [0, 0, 255, 255], Duration::ZERO).unwrap();
    frames.insert(input.id(), rgba.clone());
    assert!(
        !c.render_canvas(canvas, at, &frames)
            .unwrap()
            .shares_buffer_with(&rgba)
    );

    // The same size again: passed through once more.
    frames.insert(input.id(), picture.clone());
    assert!(
        c.render_canvas(canvas, at, &frames)
            .unwrap()
            .shares_buffer_with(&picture)
    );
}
