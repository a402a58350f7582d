//! Frame layouts, shared planes, formats and the reference conversion.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use livekit_core::convert::to_rgba;
use livekit_core::{
    AudioFrame, AudioFrameError, ColorSpace, ExternalPlanes, FrameError, FrameLayout, PixelFormat,
    VideoFrame, VideoFrameMut,
};

#[test]
fn i420_layout_of_an_odd_size_rounds_chroma_up() {
    let layout = FrameLayout::new(5, 3, PixelFormat::I420(ColorSpace::BT709_LIMITED)).unwrap();
    assert_eq!(layout.plane_count(), 3);
    assert_eq!((layout.stride(0), layout.rows(0)), (5, 3));
    assert_eq!((layout.stride(1), layout.rows(1)), (3, 2));
    assert_eq!((layout.offset(1), layout.offset(2)), (15, 21));
    assert_eq!(layout.len(), 15 + 6 + 6);
}

#[test]
fn nv12_and_aligned_layouts() {
    let layout =
        FrameLayout::with_alignment(100, 10, PixelFormat::Nv12(ColorSpace::BT601_FULL), 64)
            .unwrap();
    assert_eq!(layout.stride(0), 128);
    assert_eq!(layout.row_bytes(1), 100);
    assert_eq!(layout.stride(1), 128);
    assert_eq!(layout.len(), 128 * 10 + 128 * 5);
    let rgba = FrameLayout::with_alignment(3, 2, PixelFormat::Rgba8, 256).unwrap();
    assert_eq!(rgba.stride(0), 256);
}

#[test]
fn bad_layouts_are_errors() {
    assert_eq!(
        FrameLayout::new(0, 10, PixelFormat::Rgba8).unwrap_err(),
        FrameError::InvalidSize {
            width: 0,
            height: 10
        }
    );
    assert_eq!(
        FrameLayout::with_alignment(4, 4, PixelFormat::Rgba8, 3).unwrap_err(),
        FrameError::InvalidAlignment(3)
    );
    let err = FrameLayout::with_strides(10, 2, PixelFormat::Rgba8, &[39]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "stride 39 of plane 0 is invalid for rgba8 at width 10 (needs at least 40 bytes)"
    );
    let i420 = PixelFormat::I420(ColorSpace::BT709_LIMITED);
    assert!(matches!(
        FrameLayout::with_strides(10, 2, i420, &[10, 5]),
        Err(FrameError::InvalidStride {
            plane: 2,
            stride: 0,
            ..
        })
    ));
    let layout = FrameLayout::new(2, 2, PixelFormat::Rgba8).unwrap();
    assert_eq!(
        VideoFrame::from_vec(layout, vec![0; 15], Duration::ZERO)
            .unwrap_err()
            .to_string(),
        "frame data is 15 bytes but a 2x2 rgba8 frame needs 16"
    );
}

#[test]
fn clones_share_planes_and_debug_prints_no_pixels() {
    let frame = VideoFrame::solid_rgba(64, 64, [1, 2, 3, 4], Duration::from_millis(40)).unwrap();
    let clone = frame.clone().with_pts(Duration::from_millis(80));
    assert!(frame.shares_buffer_with(&clone));
    assert_eq!(clone.pts(), Duration::from_millis(80));
    assert_eq!(frame.pts(), Duration::from_millis(40));
    let debug = format!("{frame:?}");
    assert!(debug.contains("64x64 rgba8"), "{debug}");
    assert!(debug.len() < 200, "{debug}");
    // Shared frames cannot be written; a unique one can.
    let frame = frame.try_into_mut().unwrap_err();
    drop(clone);
    let mut writable = frame.try_into_mut().unwrap();
    writable.row_mut(0, 0)[..4].copy_from_slice(&[9, 9, 9, 9]);
    assert_eq!(writable.freeze().rgba_at(0, 0), Some([9, 9, 9, 9]));
}

/// Planes kept apart, as a decoder's picture is; counts its drops.
struct Picture {
    planes: Vec<Vec<u8>>,
    dropped: Arc<AtomicUsize>,
}

impl ExternalPlanes for Picture {
    fn plane(&self, plane: usize) -> &[u8] {
        &self.planes[plane]
    }
}

impl Drop for Picture {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn external_planes_are_shared_without_a_copy_and_dropped_with_the_last_frame() {
    // 4x2 I420 with padded rows (stride 8 for luma, 4 for chroma), each plane its own Vec.
    let i420 = PixelFormat::I420(ColorSpace::BT709_LIMITED);
    let layout = FrameLayout::with_strides(4, 2, i420, &[8, 4, 4]).unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    let picture = Arc::new(Picture {
        planes: vec![(0..16).collect(), vec![100; 4], vec![200; 4]],
        dropped: dropped.clone(),
    });
    let frame = VideoFrame::from_external(layout, picture, Duration::from_millis(40)).unwrap();
    assert!(frame.is_external());
    assert_eq!(frame.row(0, 1), &[8, 9, 10, 11]);
    assert_eq!(frame.row(1, 0), &[100, 100]);
    assert_eq!(frame.plane(2), &[200; 4]);
    assert_eq!(frame.to_packed_vec()[..8], [0, 1, 2, 3, 8, 9, 10, 11]);
    // No single buffer, and never writable.
    assert_eq!(frame.data(), None);
    let clone = frame.clone().with_pts(Duration::from_millis(80));
    assert!(clone.shares_buffer_with(&frame));
    let frame = frame.try_into_mut().unwrap_err();
    drop(clone);
    let frame = frame.try_into_mut().unwrap_err();
    // The reference conversion reads it like any frame.
    assert_eq!(to_rgba(&frame).width(), 4);
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    drop(frame);
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the owner goes with the last frame"
    );
}

#[test]
fn external_planes_shorter_than_the_layout_are_an_error() {
    let layout = FrameLayout::with_strides(4, 2, PixelFormat::Rgba8, &[16]).unwrap();
    let picture = Arc::new(Picture {
        planes: vec![vec![0; 20]],
        dropped: Arc::new(AtomicUsize::new(0)),
    });
    assert_eq!(
        VideoFrame::from_external(layout, picture, Duration::ZERO)
            .unwrap_err()
            .to_string(),
        "plane 0 is 20 bytes but a 4x2 rgba8 frame needs 32 there"
    );
}

#[test]
fn strided_rows_skip_padding() {
    let layout = FrameLayout::with_alignment(3, 2, PixelFormat::Bgra8, 32).unwrap();
    let mut frame = VideoFrameMut::new(layout, Duration::ZERO);
    frame
        .copy_from_packed(&(0..24).collect::<Vec<u8>>())
        .unwrap();
    let frame = frame.freeze();
    assert_eq!(frame.row(0, 1), &(12..24).collect::<Vec<u8>>()[..]);
    assert_eq!(frame.to_packed_vec(), (0..24).collect::<Vec<u8>>());
    assert_eq!(
        frame.rgba_at(1, 0),
        Some([6, 5, 4, 7]),
        "BGRA read back as RGBA"
    );
    assert_eq!(frame.rgba_at(3, 0), None);
}

fn yuv_frame(format: PixelFormat, y: u8, u: u8, v: u8) -> VideoFrame {
    let layout = FrameLayout::new(4, 2, format).unwrap();
    let mut frame = VideoFrameMut::new(layout, Duration::ZERO);
    frame.plane_mut(0).fill(y);
    match format {
        PixelFormat::I420(_) => {
            frame.plane_mut(1).fill(u);
            frame.plane_mut(2).fill(v);
        }
        _ => {
            for pair in frame.plane_mut(1).chunks_exact_mut(2) {
                pair.copy_from_slice(&[u, v]);
            }
        }
    }
    frame.freeze()
}

#[test]
fn yuv_converts_to_rgb_with_its_own_colour_space() {
    let cases = [
        // (format, y, u, v, expected rgb)
        (
            PixelFormat::I420(ColorSpace::BT709_LIMITED),
            235,
            128,
            128,
            [255, 255, 255],
        ),
        (
            PixelFormat::I420(ColorSpace::BT709_LIMITED),
            16,
            128,
            128,
            [0, 0, 0],
        ),
        (
            PixelFormat::I420(ColorSpace::BT709_FULL),
            128,
            128,
            128,
            [128, 128, 128],
        ),
        // Pure red in BT.709 limited range: Y 63, U 102, V 240.
        (
            PixelFormat::Nv12(ColorSpace::BT709_LIMITED),
            63,
            102,
            240,
            [255, 0, 0],
        ),
        // Pure red in BT.601 full range (JPEG): Y 76, U 85, V 255.
        (
            PixelFormat::Nv12(ColorSpace::BT601_FULL),
            76,
            85,
            255,
            [254, 0, 0],
        ),
        // The same samples read as BT.709 give another colour: the matrix matters.
        (
            PixelFormat::Nv12(ColorSpace::BT709_FULL),
            76,
            85,
            255,
            [255, 25, 0],
        ),
    ];
    for (format, y, u, v, rgb) in cases {
        let rgba = to_rgba(&yuv_frame(format, y, u, v));
        let got = rgba.rgba_at(3, 1).unwrap();
        for c in 0..3 {
            assert!(
                got[c].abs_diff(rgb[c]) <= 1,
                "{format}: {y},{u},{v} -> {got:?}, expected {rgb:?}"
            );
        }
        assert_eq!(got[3], 255);
    }
}

#[test]
fn audio_frames_check_their_shape() {
    let frame = AudioFrame::new(vec![0.0; 960], 48_000, 2, Duration::from_secs(1)).unwrap();
    assert_eq!(frame.frames(), 480);
    assert_eq!(frame.end_pts(), Duration::from_millis(1010));
    assert_eq!(
        AudioFrame::new(vec![0.0; 3], 48_000, 2, Duration::ZERO).unwrap_err(),
        AudioFrameError::Ragged {
            samples: 3,
            channels: 2
        }
    );
    assert_eq!(
        AudioFrame::new(vec![], 0, 2, Duration::ZERO).unwrap_err(),
        AudioFrameError::ZeroRate
    );
    assert_eq!(
        AudioFrame::new(vec![], 48_000, 0, Duration::ZERO).unwrap_err(),
        AudioFrameError::ZeroChannels
    );
}

#[test]
fn rgba_at_on_yuv_is_none_and_huge_strides_are_errors() {
    let frame = yuv_frame(PixelFormat::I420(ColorSpace::BT709_LIMITED), 16, 128, 128);
    assert_eq!(frame.rgba_at(2, 0), None);
    assert_eq!(
        FrameLayout::with_strides(1, 2, PixelFormat::Rgba8, &[usize::MAX / 2 + 1]).unwrap_err(),
        FrameError::TooLarge
    );
    assert_eq!(
        FrameLayout::with_alignment(3, 2, PixelFormat::Rgba8, 1 << 63).unwrap_err(),
        FrameError::TooLarge
    );
}
