//! PngWriter: what is written reads back pixel for pixel.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::time::Duration;

use livekit_core::{
    ColorSpace, FrameLayout, FrameTarget, PixelFormat, PushError, VideoFrame, VideoFrameMut,
};
use livekit_sinks::PngWriter;

#[test]
fn frames_are_written_and_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let writer = PngWriter::new(dir.path().join("sub/frame-{n}.png"));
    let layout = FrameLayout::with_alignment(3, 2, PixelFormat::Bgra8, 64).unwrap();
    for i in 0..2u8 {
        let mut frame = VideoFrameMut::new(layout, Duration::ZERO);
        // B, G, R, A per pixel.
        frame.copy_from_packed(&[i, 20, 30, 128].repeat(6)).unwrap();
        writer.push(frame.freeze()).unwrap();
    }
    assert_eq!(writer.written(), 2);
    let last = writer.last_path().unwrap();
    assert_eq!(last, dir.path().join("sub/frame-000001.png"));
    let image = image::open(&last).unwrap().into_rgba8();
    assert_eq!(image.dimensions(), (3, 2));
    assert!(
        image.pixels().all(|p| p.0 == [30, 20, 1, 128]),
        "BGRA stored as RGBA, alpha kept"
    );
    assert!(!dir.path().join("sub/frame-000001.png.part").exists());
}

#[test]
fn yuv_frames_are_converted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grey.png");
    let layout = FrameLayout::new(5, 3, PixelFormat::I420(ColorSpace::BT709_FULL)).unwrap();
    let mut frame = VideoFrameMut::new(layout, Duration::ZERO);
    frame.plane_mut(0).fill(100);
    frame.plane_mut(1).fill(128);
    frame.plane_mut(2).fill(128);
    PngWriter::new(&path).push(frame.freeze()).unwrap();
    let image = image::open(&path).unwrap().into_rgba8();
    assert_eq!(image.get_pixel(4, 2).0, [100, 100, 100, 255]);
}

#[test]
fn an_unwritable_path_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), b"").unwrap();
    let path = dir.path().join("file/under-a-file.png");
    let frame = VideoFrame::solid_rgba(2, 2, [0; 4], Duration::ZERO).unwrap();
    let error = PngWriter::new(&path).push(frame).unwrap_err();
    assert!(matches!(error, PushError::Failed(_)));
    assert_eq!(
        error.to_string(),
        format!("PNG file {}: cannot write", path.display())
    );
}
