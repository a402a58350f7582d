//! Video: opening the decoder, the stream's frame rate and rotation, and turning decoded
//! pictures into [`VideoFrame`]s: I420/NV12 shared without a copy (the `AVFrame` wrapped as
//! [`ExternalPlanes`]), other formats converted with swscale into pooled frames, turned upright.

use std::sync::Arc;
use std::time::Duration;

use ff::format::Pixel;
use ffmpeg_next as ff;
use livekit_core::{
    ColorMatrix, ColorRange, ColorSpace, ExternalPlanes, FrameLayout, FramePool, MAX_PLANES,
    PixelFormat, VideoFrame,
};

use super::{
    Decoded, FALLBACK_FRAME_DURATION, MAX_WARNINGS, MediaReader, decoder_for, ns_to_duration, to_ns,
};
use crate::media::error::OpenMediaError;

/// The frame rate a stream announces, as a frame duration.
pub(crate) fn frame_duration_of(stream: &ff::format::stream::Stream) -> Option<Duration> {
    [stream.avg_frame_rate(), stream.rate()]
        .into_iter()
        .find(|r| r.numerator() > 0 && r.denominator() > 0)
        .map(|r| Duration::from_secs_f64(f64::from(r.denominator()) / f64::from(r.numerator())))
        .filter(|d| *d >= Duration::from_micros(500) && *d <= Duration::from_secs(10))
}

/// swscale's context, moved between threads.
struct Scaler(ff::software::scaling::Context);

// SAFETY: an SwsContext holds no thread-affine state; it is only ever used by the one thread
// that owns the reader at the time (the reader is not shared: `&mut self` for every use).
unsafe impl Send for Scaler {}

/// The video stream being decoded, and how its pictures become frames.
pub(super) struct VideoState {
    pub(super) index: usize,
    pub(super) decoder: ff::decoder::Video,
    pub(super) time_base: ff::Rational,
    pub(super) frame: ff::frame::Video,
    pub(super) frame_duration: Duration,
    /// The pool of the current output layout.
    pool: Option<FramePool>,
    /// The scaler for formats we do not keep, with its input (format, width, height).
    scaler: Option<(Scaler, Pixel, u32, u32, Pixel)>,
    scaled: ff::frame::Video,
    /// The last pts handed out (for frames without one).
    last_ns: Option<i64>,
    /// Degrees clockwise the picture must turn to be upright (0, 90, 180, 270).
    rotation: u32,
}

impl MediaReader {
    /// The picture the video decoder just gave, as a frame timed from the start of the media;
    /// `None` when it is skipped (before a seek target) or cannot be converted (a warning).
    pub(super) fn convert_video(&mut self) -> Option<Decoded> {
        let start_ns = self.start_ns;
        let skip_before = self.skip_before_ns;
        let name = &self.name;
        let v = self.video.as_mut()?;
        let frame_ns = i64::try_from(v.frame_duration.as_nanos()).unwrap_or(i64::MAX);
        let ts = v.frame.timestamp().or_else(|| v.frame.pts());
        let t_ns = match ts {
            Some(ts) => to_ns(ts, v.time_base) - start_ns,
            None => v.last_ns.map_or(0, |last| last + frame_ns),
        };
        v.last_ns = Some(t_ns);
        // Keep the frame that is showing at the seek target (it may start up to one frame
        // before it); drop the earlier ones.
        if t_ns + frame_ns <= skip_before {
            return None;
        }
        let pts = ns_to_duration(t_ns);
        match v.convert_frame(pts) {
            Ok(frame) => Some(Decoded::Video(frame)),
            Err(detail) => {
                let message = format!("media {name}: cannot convert a video frame: {detail}");
                tracing::debug!("{message}");
                if self.warnings.len() < MAX_WARNINGS {
                    self.warnings.push(message);
                }
                None
            }
        }
    }
}

pub(super) fn open_video(
    name: &str,
    stream: &ff::format::stream::Stream,
    threads: usize,
) -> Result<VideoState, OpenMediaError> {
    let (decoder, decoder_error) = decoder_for(name, stream, "video")?;
    // As the ffmpeg CLI does: FFmpeg's default thread types (frame and slice: codecs without
    // frame threads still use slices) and `threads` of them, 0 meaning one per core.
    let mut options = ff::Dictionary::new();
    options.set("threads", &threads.to_string());
    let codec = ff::decoder::find(decoder.id()).ok_or(ff::Error::DecoderNotFound);
    let decoder = codec
        .and_then(|codec| decoder.open_as_with(codec, options))
        .and_then(|opened| opened.video())
        .map_err(decoder_error)?;
    Ok(VideoState {
        index: stream.index(),
        decoder,
        time_base: stream.time_base(),
        frame: ff::frame::Video::empty(),
        frame_duration: frame_duration_of(stream).unwrap_or(FALLBACK_FRAME_DURATION),
        pool: None,
        scaler: None,
        scaled: ff::frame::Video::empty(),
        last_ns: None,
        rotation: rotation_of(stream),
    })
}

/// Degrees clockwise a stream's pictures must turn to be upright, from its display matrix.
pub(crate) fn rotation_of(stream: &ff::format::stream::Stream) -> u32 {
    for side in stream.side_data() {
        if side.kind() == ff::codec::packet::side_data::Type::DisplayMatrix {
            let data = side.data();
            if data.len() >= 36 {
                let mut matrix = [0i32; 9];
                for (i, m) in matrix.iter_mut().enumerate() {
                    let bytes = [
                        data[i * 4],
                        data[i * 4 + 1],
                        data[i * 4 + 2],
                        data[i * 4 + 3],
                    ];
                    *m = i32::from_ne_bytes(bytes);
                }
                // SAFETY: `matrix` is the 3x3 display matrix FFmpeg reads nine i32 from.
                let ccw = unsafe { ff::ffi::av_display_rotation_get(matrix.as_ptr()) };
                if ccw.is_nan() {
                    return 0;
                }
                // FFmpeg gives counter-clockwise degrees; turning clockwise by the negation
                // makes the picture upright.
                let clockwise = (-ccw).round() as i64;
                return (((clockwise % 360) + 360) % 360) as u32 / 90 * 90;
            }
        }
    }
    0
}

fn color_space_of(frame: &ff::frame::Video, full: bool) -> ColorSpace {
    use ff::color::Space;
    let matrix = match frame.color_space() {
        Space::BT709 => ColorMatrix::Bt709,
        Space::BT470BG | Space::SMPTE170M | Space::FCC | Space::SMPTE240M => ColorMatrix::Bt601,
        _ if frame.height() >= 720 => ColorMatrix::Bt709,
        _ => ColorMatrix::Bt601,
    };
    let range = if full || frame.color_range() == ff::color::Range::JPEG {
        ColorRange::Full
    } else {
        ColorRange::Limited
    };
    ColorSpace::new(matrix, range)
}

fn has_alpha(format: Pixel) -> bool {
    format.descriptor().is_some_and(|d| {
        // SAFETY: the descriptor points to FFmpeg's static table entry for `format`.
        let flags = unsafe { (*d.as_ptr()).flags };
        flags & ff::ffi::AV_PIX_FMT_FLAG_ALPHA as u64 != 0
    }) || format == Pixel::PAL8
}

/// A decoded picture shared by the frames made from it, without a copy. FFmpeg's frames are
/// reference-counted: when the last [`VideoFrame`] drops this, `av_frame_free` gives the
/// buffers back to the decoder's pool. The decoder never writes a picture it has output.
struct DecodedPicture(ff::frame::Video);

impl ExternalPlanes for DecodedPicture {
    fn plane(&self, plane: usize) -> &[u8] {
        if plane < self.0.planes() {
            self.0.data(plane)
        } else {
            &[]
        }
    }
}

impl VideoState {
    /// Forgets the decoder's state after a seek.
    pub(super) fn restart(&mut self) {
        self.decoder.flush();
        self.last_ns = None;
    }

    /// The decoded picture itself as a [`VideoFrame`] of `format` (no copy); `None` when it
    /// cannot be shared (not reference-counted, planes missing, strides negative or odd), and
    /// then it is copied.
    fn share_frame(&mut self, format: PixelFormat, pts: Duration) -> Option<VideoFrame> {
        let planes = format.plane_count();
        if self.frame.planes() < planes {
            return None;
        }
        // SAFETY: `self.frame` is a valid AVFrame; only its fields are read.
        let (counted, pointers) = unsafe {
            let f = &*self.frame.as_ptr();
            (
                !f.buf[0].is_null(),
                f.data[..planes].iter().all(|d| !d.is_null()),
            )
        };
        if !counted || !pointers {
            return None;
        }
        let mut strides = [0usize; MAX_PLANES];
        for (plane, stride) in strides.iter_mut().enumerate().take(planes) {
            // A negative line size (a picture stored bottom up) reads as a huge usize.
            *stride = self.frame.stride(plane);
            if *stride > i32::MAX as usize {
                return None;
            }
        }
        let (width, height) = (self.frame.width(), self.frame.height());
        let layout = FrameLayout::with_strides(width, height, format, &strides[..planes]).ok()?;
        let picture = std::mem::replace(&mut self.frame, ff::frame::Video::empty());
        VideoFrame::from_external(layout, Arc::new(DecodedPicture(picture)), pts).ok()
    }

    /// The decoded frame as a [`VideoFrame`]: I420/NV12 shared as they are (no copy), other
    /// formats through swscale into a pooled frame.
    fn convert_frame(&mut self, pts: Duration) -> Result<VideoFrame, String> {
        let (width, height) = (self.frame.width(), self.frame.height());
        let format = self.frame.format();
        let (direct, out_format) = match format {
            Pixel::YUV420P => (true, PixelFormat::I420(color_space_of(&self.frame, false))),
            Pixel::YUVJ420P => (true, PixelFormat::I420(color_space_of(&self.frame, true))),
            Pixel::NV12 => (true, PixelFormat::Nv12(color_space_of(&self.frame, false))),
            Pixel::None => return Err("the decoder gave a frame without a pixel format".into()),
            other => {
                let (target, out) = if has_alpha(other) {
                    (Pixel::RGBA, PixelFormat::Rgba8)
                } else {
                    // swscale keeps the YUV matrix between YUV formats and uses BT.601 from RGB.
                    let cs = if other.descriptor().is_some_and(|d| d.nb_components() >= 3)
                        && is_yuv_name(other)
                    {
                        color_space_of(&self.frame, false)
                    } else {
                        ColorSpace::BT601_LIMITED
                    };
                    (Pixel::YUV420P, PixelFormat::I420(cs))
                };
                let fresh = !matches!(&self.scaler, Some((_, f, w, h, t)) if *f == other && *w == width && *h == height && *t == target);
                if fresh {
                    let ctx = ff::software::scaling::Context::get(
                        other,
                        width,
                        height,
                        target,
                        width,
                        height,
                        ff::software::scaling::Flags::BILINEAR,
                    )
                    .map_err(|e| {
                        format!("swscale cannot convert {other:?} {width}x{height}: {e}")
                    })?;
                    self.scaler = Some((Scaler(ctx), other, width, height, target));
                    self.scaled = ff::frame::Video::empty();
                }
                let Some((scaler, ..)) = &mut self.scaler else {
                    return Err("no scaler".into());
                };
                scaler
                    .0
                    .run(&self.frame, &mut self.scaled)
                    .map_err(|e| format!("swscale failed: {e}"))?;
                (false, out)
            }
        };
        if direct && let Some(frame) = self.share_frame(out_format, pts) {
            return Ok(match self.rotation {
                0 => frame,
                degrees => rotate(&frame, degrees),
            });
        }
        let source = if direct { &self.frame } else { &self.scaled };
        let layout = FrameLayout::new(width, height, out_format).map_err(|e| e.to_string())?;
        let pool = match &self.pool {
            Some(pool) if *pool.layout() == layout => pool,
            // Frames in flight: the player's look-ahead, the targets' queues, the reader's hand.
            _ => self.pool.insert(FramePool::with_max_idle(layout, 16)),
        };
        let mut out = pool.acquire(pts);
        for plane in 0..layout.plane_count() {
            let rows = layout.rows(plane);
            let row_bytes = layout.row_bytes(plane);
            let dst_stride = layout.stride(plane);
            let src_stride = source.stride(plane);
            let src = source.data(plane);
            let dst = out.plane_mut(plane);
            if src_stride == dst_stride && src.len() >= dst.len() {
                let len = dst.len();
                dst.copy_from_slice(&src[..len]);
                continue;
            }
            for y in 0..rows {
                let s = &src[y * src_stride..y * src_stride + row_bytes];
                dst[y * dst_stride..y * dst_stride + row_bytes].copy_from_slice(s);
            }
        }
        let frame = out.freeze();
        Ok(match self.rotation {
            0 => frame,
            degrees => rotate(&frame, degrees),
        })
    }
}

fn is_yuv_name(format: Pixel) -> bool {
    format
        .descriptor()
        .is_some_and(|d| d.name().starts_with("yuv") || d.name().starts_with("nv"))
}

/// `frame` turned clockwise by 90, 180 or 270 degrees (I420 and RGBA; NV12 keeps its pairs).
fn rotate(frame: &VideoFrame, degrees: u32) -> VideoFrame {
    let (w, h) = (frame.width(), frame.height());
    let (ow, oh) = if degrees == 180 { (w, h) } else { (h, w) };
    let Ok(layout) = FrameLayout::new(ow, oh, frame.format()) else {
        return frame.clone();
    };
    let mut out = livekit_core::VideoFrameMut::new(layout, frame.pts());
    for plane in 0..layout.plane_count() {
        // Bytes a sample: 4 for RGBA, 2 for NV12's UV pairs, 1 otherwise.
        let bpp = match (frame.format(), plane) {
            (PixelFormat::Rgba8 | PixelFormat::Bgra8, _) => 4,
            (PixelFormat::Nv12(_), 1) => 2,
            _ => 1,
        };
        let src_rows = frame.layout().rows(plane);
        let src_cols = frame.layout().row_bytes(plane) / bpp;
        let dst_rows = layout.rows(plane);
        let dst_cols = layout.row_bytes(plane) / bpp;
        for y in 0..dst_rows {
            let row = out.row_mut(plane, y);
            for x in 0..dst_cols {
                let (sx, sy) = match degrees {
                    90 => (y, src_rows.saturating_sub(1 + x)),
                    180 => (
                        src_cols.saturating_sub(1 + x),
                        src_rows.saturating_sub(1 + y),
                    ),
                    _ => (src_cols.saturating_sub(1 + y), x),
                };
                let (sx, sy) = (sx.min(src_cols - 1), sy.min(src_rows - 1));
                let src = &frame.row(plane, sy)[sx * bpp..sx * bpp + bpp];
                row[x * bpp..x * bpp + bpp].copy_from_slice(src);
            }
        }
    }
    out.freeze()
}
