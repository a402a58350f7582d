//! The H.264 side of the encoder: opening an encoder (with the hardware fallback), converting
//! livekit frames to what it takes, and turning its output into [`Packet`]s.

use std::ffi::{c_int, c_void};
use std::sync::Arc;

use ff::ffi;
use ffmpeg_next as ff;
use livekit_core::{
    Codec, ColorMatrix, ColorRange, ColorSpace, Packet, PixelFormat, StreamInfo, StreamParams,
    TimeBase, VideoFrame,
};

use super::avc;
use super::hw::HwFrames;
use super::settings::{H264Encoder, RateControl, VideoCodec, VideoSettings};

/// The time base of video packets: 90 kHz, as MPEG streams use.
pub(crate) const VIDEO_TIME_BASE: TimeBase = TimeBase::new(1, 90_000);

/// One video encoder implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    X264,
    Nvenc,
    Vaapi,
    /// libvpx's VP8.
    Vp8,
}

impl Backend {
    pub(crate) fn codec_name(self) -> &'static str {
        match self {
            Self::X264 => "libx264",
            Self::Nvenc => "h264_nvenc",
            Self::Vaapi => "h264_vaapi",
            Self::Vp8 => "libvpx",
        }
    }

    /// What to try, in order, for `settings`.
    fn candidates(settings: &VideoSettings) -> &'static [Backend] {
        if settings.codec == VideoCodec::Vp8 {
            return &[Self::Vp8];
        }
        match settings.encoder {
            H264Encoder::X264 => &[Self::X264],
            H264Encoder::Nvenc => &[Self::Nvenc, Self::X264],
            H264Encoder::Vaapi => &[Self::Vaapi, Self::X264],
            H264Encoder::Auto => &[Self::Nvenc, Self::Vaapi, Self::X264],
        }
    }
}

/// Why a frame could not be converted for the encoder (the frame is skipped).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConvertError {
    #[error("frames in pixel format {0} are not supported by the encoder")]
    Format(PixelFormat),
    #[error("cannot convert {from} frames to {to_width}x{to_height}: {source}")]
    Scaler {
        from: String,
        to_width: u32,
        to_height: u32,
        source: ff::Error,
    },
    #[error("cannot get a frame buffer from the encoder: {0}")]
    Buffer(ff::Error),
}

/// A converter from one input size/format to the encoder's frames.
struct Scaler {
    key: (u32, u32, PixelFormat),
    context: ff::software::scaling::Context,
    /// Where the picture goes in the output (x, y, width, height), keeping its aspect ratio.
    rect: (u32, u32, u32, u32),
}

/// An open H.264 encoder.
pub(crate) struct VideoEncoder {
    encoder: ff::encoder::video::Encoder,
    backend: Backend,
    frame_ticks: i64,
    /// The frame handed to the encoder (YUV 4:2:0 in system memory: I420, or NV12 for VA-API).
    frame: ff::frame::Video,
    fitter: Fitter,
    hw: Option<HwFrames>,
    packet: ff::Packet,
    info: StreamInfo,
    /// Whether the encoder emits Annex B (converted to length-prefixed NAL units).
    annex_b: bool,
}

/// A usable encoder plus, when it is not the one asked for, why.
pub(crate) struct Opened {
    pub(crate) encoder: VideoEncoder,
    pub(crate) fallback: Option<String>,
}

impl VideoEncoder {
    /// Opens the encoder `settings` asks for, falling back to libx264 when a hardware one
    /// cannot be opened. Returns the last error when nothing opens.
    pub(crate) fn open(settings: &VideoSettings) -> Result<Opened, (Backend, ff::Error)> {
        let candidates = Backend::candidates(settings);
        let mut failures = Vec::new();
        let mut last_error = (Backend::X264, ff::Error::EncoderNotFound);
        for &backend in candidates {
            match Self::open_one(backend, settings) {
                Ok(encoder) => {
                    let fallback = if failures.is_empty() {
                        None
                    } else {
                        let why = failures.join("; ");
                        let note = format!("{why}; using {}", backend.codec_name());
                        if settings.encoder == H264Encoder::Auto {
                            tracing::info!("H.264 encoder: {note}");
                        } else {
                            tracing::warn!(
                                "H.264 encoder {} is not available ({why}); falling back to {}",
                                settings.encoder,
                                backend.codec_name()
                            );
                        }
                        Some(note)
                    };
                    tracing::debug!(
                        "H.264 encoder {} open at {}x{}",
                        backend.codec_name(),
                        encoder.fitter.width,
                        encoder.fitter.height
                    );
                    return Ok(Opened { encoder, fallback });
                }
                Err(error) => {
                    tracing::debug!(
                        "H.264 encoder {} failed to open: {error}",
                        backend.codec_name()
                    );
                    failures.push(format!("{} failed to open: {error}", backend.codec_name()));
                    last_error = (backend, error);
                }
            }
        }
        Err(last_error)
    }

    fn open_one(backend: Backend, settings: &VideoSettings) -> Result<Self, ff::Error> {
        let (width, height) = settings.encoded_size();
        let codec =
            ff::encoder::find_by_name(backend.codec_name()).ok_or(ff::Error::EncoderNotFound)?;
        // VA-API needs its device before anything else: without one there is nothing to try.
        let hw = match backend {
            Backend::Vaapi => Some(HwFrames::vaapi(width, height)?),
            _ => None,
        };
        let mut video = ff::codec::Context::new_with_codec(codec)
            .encoder()
            .video()?;
        video.set_width(width);
        video.set_height(height);
        video.set_time_base(ff::Rational::new(VIDEO_TIME_BASE.num, VIDEO_TIME_BASE.den));
        let (fps_num, fps_den) = settings.fps;
        let fps_rational = ff::Rational::new(
            i32::try_from(fps_num).unwrap_or(i32::MAX),
            i32::try_from(fps_den).unwrap_or(i32::MAX),
        );
        video.set_frame_rate(Some(fps_rational));
        let gop = settings.gop_frames();
        video.set_gop(gop);
        // Closed GOPs: every keyframe is an IDR frame, where a viewer can join, a player can
        // seek and a segmenter can cut (libx264 here otherwise makes open-GOP I frames after the
        // first).
        video.set_flags(ff::codec::Flags::GLOBAL_HEADER | ff::codec::Flags::CLOSED_GOP);
        video.set_colorspace(ff::color::Space::BT709);
        video.set_color_range(ff::color::Range::MPEG);
        video.set_color_primaries(ff::color::Primaries::BT709);
        video.set_color_transfer_characteristic(ff::color::TransferCharacteristic::BT709);
        let bits = |kbps: u32| u64::from(kbps) * 1000;
        let target = bits(settings.target_kbps());
        let (max_rate, buffer) = match settings.rate_control {
            RateControl::Cbr => (target, target),
            RateControl::Vbr {
                max_kbps,
                bufsize_kbits,
            } => {
                let max = max_kbps.map_or(target, bits).max(target);
                (max, bufsize_kbits.map_or(2 * max, bits))
            }
        };
        video.set_bit_rate(target as usize);
        video.set_max_bit_rate(max_rate as usize);
        let pixel = match &hw {
            Some(hw) => hw.pixel_format(),
            None => ff::format::Pixel::YUV420P,
        };
        video.set_format(pixel);
        // SAFETY: plain fields of the codec context we own, set before it is opened; the
        // hardware frames reference is a new reference the context takes over (and unrefs).
        unsafe {
            let ctx = video.as_mut_ptr();
            (*ctx).keyint_min = gop as c_int;
            (*ctx).rc_buffer_size = c_int::try_from(buffer).unwrap_or(c_int::MAX);
            if settings.rate_control == RateControl::Cbr {
                (*ctx).rc_min_rate = target as i64;
            }
            let threads = match backend {
                Backend::X264 => settings.x264_threads(),
                _ => settings.threads,
            };
            (*ctx).thread_count = c_int::try_from(threads).unwrap_or(0);
            if let Some(hw) = &hw {
                (*ctx).hw_frames_ctx = hw.new_reference()?;
            }
        }
        let options = options(backend, settings);
        let encoder = video.open_with(options)?;
        let frame = match &hw {
            Some(hw) => hw.new_upload_frame()?,
            None => new_frame(ff::format::Pixel::YUV420P, width, height)?,
        };
        // SAFETY: reading the extradata the opened encoder owns (copied out at once).
        let extradata: Arc<[u8]> = unsafe {
            let ctx = encoder.as_ptr();
            let size = usize::try_from((*ctx).extradata_size).unwrap_or(0);
            if (*ctx).extradata.is_null() || size == 0 {
                Arc::from(Vec::new())
            } else {
                Arc::from(std::slice::from_raw_parts((*ctx).extradata, size))
            }
        };
        // Containers (and livekit's `Packet`s) carry avcC + length-prefixed NAL units.
        let annex_b = avc::is_annex_b(&extradata);
        let extradata: Arc<[u8]> = if annex_b {
            Arc::from(avc::avcc_from_annex_b(&extradata).ok_or(ff::Error::InvalidData)?)
        } else {
            extradata
        };
        let time_base = {
            let tb = encoder.time_base();
            if tb.numerator() > 0 && tb.denominator() > 0 {
                TimeBase::new(tb.numerator(), tb.denominator())
            } else {
                VIDEO_TIME_BASE
            }
        };
        let frame_ticks = frame_duration(time_base, settings.fps);
        let info = StreamInfo {
            codec: match backend {
                Backend::Vp8 => Codec::Other("vp8".into()),
                _ => Codec::H264,
            },
            params: StreamParams::Video {
                width,
                height,
                frame_rate: settings.fps,
            },
            time_base,
            extradata,
            bit_rate: target,
        };
        Ok(Self {
            encoder,
            backend,
            frame_ticks,
            frame,
            fitter: Fitter::new(width, height, ColorMatrix::Bt709),
            hw,
            packet: ff::Packet::empty(),
            info,
            annex_b,
        })
    }

    /// The FFmpeg name of the encoder in use (`libx264`, `h264_nvenc`, `h264_vaapi`).
    pub(crate) fn name(&self) -> &'static str {
        self.backend.codec_name()
    }

    /// The stream this encoder makes.
    pub(crate) fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// Converts `frame` (any size and format) and encodes it with presentation time `pts`
    /// (in the stream's time base; the caller keeps it strictly increasing), as a keyframe
    /// (IDR) when `keyframe` is set. Packets that come out go to `out`.
    pub(crate) fn encode(
        &mut self,
        frame: &VideoFrame,
        pts: i64,
        keyframe: bool,
        out: &mut dyn FnMut(Packet),
    ) -> Result<Result<(), ConvertError>, ff::Error> {
        // Every encoder we open takes a frame whose picture type is I as an order for an IDR
        // frame (libx264 and NVENC with `forced-idr`, VA-API always); otherwise it decides.
        let kind = if keyframe {
            ff::picture::Type::I
        } else {
            ff::picture::Type::None
        };
        if self.hw.is_none() && self.fitter.passes_through(frame, self.frame.format()) {
            // Already what the encoder takes: lend it the frame's own planes (x264 copies
            // them into its own picture; no copy of ours before that).
            let mut lent = lend(frame)?;
            lent.set_pts(Some(pts));
            lent.set_kind(kind);
            self.encoder.send_frame(&lent)?;
        } else {
            if let Err(error) = self.fill(frame) {
                return Ok(Err(error));
            }
            self.frame.set_pts(Some(pts));
            self.frame.set_kind(kind);
            match &self.hw {
                Some(hw) => {
                    let mut uploaded = hw.upload(&self.frame)?;
                    uploaded.set_kind(kind);
                    self.encoder.send_frame(&uploaded)?;
                }
                None => self.encoder.send_frame(&self.frame)?,
            }
        }
        self.drain(out)?;
        Ok(Ok(()))
    }

    /// Ends the stream: encodes what the encoder still holds.
    pub(crate) fn finish(&mut self, out: &mut dyn FnMut(Packet)) -> Result<(), ff::Error> {
        self.encoder.send_eof()?;
        self.drain(out)
    }

    fn drain(&mut self, out: &mut dyn FnMut(Packet)) -> Result<(), ff::Error> {
        loop {
            match self.encoder.receive_packet(&mut self.packet) {
                Ok(()) => {
                    let mut packet = to_packet(&self.packet, 0, self.frame_ticks);
                    if self.annex_b {
                        packet.data = Arc::from(avc::to_length_prefixed(&packet.data));
                    }
                    out(packet);
                }
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {
                    return Ok(());
                }
                Err(ff::Error::Eof) => return Ok(()),
                Err(error) => return Err(error),
            }
        }
    }

    /// Writes `src` into the encoder's frame (see [`Fitter::fill`]).
    fn fill(&mut self, src: &VideoFrame) -> Result<(), ConvertError> {
        // SAFETY: the frame is ours; this gives it a buffer of its own if the encoder still
        // holds a reference to the current one.
        let made = unsafe { ffi::av_frame_make_writable(self.frame.as_mut_ptr()) };
        if made < 0 {
            return Err(ConvertError::Buffer(ff::Error::from(made)));
        }
        self.fitter.fill(src, &mut self.frame)
    }
}

/// Writes livekit frames of any size and format into FFmpeg YUV 4:2:0 frames (I420 or NV12)
/// of one size, limited range: used by the encoder (BT.709) and the virtual camera (BT.601,
/// what webcam readers assume).
pub(crate) struct Fitter {
    width: u32,
    height: u32,
    matrix: ColorMatrix,
    scaler: Option<Scaler>,
}

impl Fitter {
    /// A fitter to `width` x `height` frames with `matrix`, limited range.
    pub(crate) fn new(width: u32, height: u32, matrix: ColorMatrix) -> Self {
        Self {
            width,
            height,
            matrix,
            scaler: None,
        }
    }

    /// Whether `src` already is what a `target` frame of this fitter holds (limited-range
    /// I420 of the right size and matrix into an I420 frame): nothing to convert.
    pub(crate) fn passes_through(&self, src: &VideoFrame, target: ff::format::Pixel) -> bool {
        src.width() == self.width
            && src.height() == self.height
            && src.format() == PixelFormat::I420(ColorSpace::new(self.matrix, ColorRange::Limited))
            && target == ff::format::Pixel::YUV420P
    }

    /// Writes `src` into `dst` (writable, `width` x `height`, YUV420P or NV12): a plain copy
    /// when it [passes through](Self::passes_through), otherwise through swscale (scaled to
    /// fit, keeping its aspect ratio, with black bars where it does not fill the picture).
    pub(crate) fn fill(
        &mut self,
        src: &VideoFrame,
        dst_frame: &mut ff::frame::Video,
    ) -> Result<(), ConvertError> {
        let target = dst_frame.format();
        let (width, height) = (self.width, self.height);
        if self.passes_through(src, target) {
            for plane in 0..3 {
                let stride = dst_frame.stride(plane);
                let rows = src.layout().rows(plane);
                let dst = dst_frame.data_mut(plane);
                for y in 0..rows {
                    let row = src.row(plane, y);
                    dst[y * stride..y * stride + row.len()].copy_from_slice(row);
                }
            }
            return Ok(());
        }
        let key = (src.width(), src.height(), src.format());
        if self.scaler.as_ref().is_none_or(|s| s.key != key) {
            self.scaler = Some(Scaler::new(key, target, width, height, self.matrix)?);
        }
        let Some(scaler) = self.scaler.as_mut() else {
            return Ok(());
        };
        let (x, y, w, h) = scaler.rect;
        if (w, h) != (width, height) {
            fill_black(dst_frame, target);
        }
        let mut src_data = [std::ptr::null::<u8>(); 4];
        let mut src_strides = [0 as c_int; 4];
        for plane in 0..src.layout().plane_count() {
            src_data[plane] = src.plane(plane).as_ptr();
            src_strides[plane] = c_int::try_from(src.stride(plane)).unwrap_or(c_int::MAX);
        }
        // SAFETY: the source pointers and strides describe `src`'s planes (alive for this
        // call); the destination pointers point into our writable frame, offset to (x, y)
        // (both even, so the chroma offsets are whole samples) for a w x h picture that fits
        // in it; the scaler was made for exactly these sizes and formats.
        unsafe {
            let dst = dst_frame.as_mut_ptr();
            let mut dst_data = [std::ptr::null_mut::<u8>(); 4];
            let mut dst_strides = [0 as c_int; 4];
            let planes = if target == ff::format::Pixel::NV12 {
                2
            } else {
                3
            };
            for plane in 0..planes {
                let (px, py) = if plane == 0 {
                    (x as usize, y as usize)
                } else if target == ff::format::Pixel::NV12 {
                    (x as usize, y as usize / 2)
                } else {
                    (x as usize / 2, y as usize / 2)
                };
                let stride = (*dst).linesize[plane];
                dst_data[plane] = (*dst).data[plane].add(py * stride as usize + px);
                dst_strides[plane] = stride;
            }
            ffi::sws_scale(
                scaler.context.as_mut_ptr(),
                src_data.as_ptr(),
                src_strides.as_ptr(),
                0,
                src.height() as c_int,
                dst_data.as_ptr(),
                dst_strides.as_ptr(),
            );
        }
        Ok(())
    }
}

impl Scaler {
    fn new(
        key: (u32, u32, PixelFormat),
        target: ff::format::Pixel,
        width: u32,
        height: u32,
        matrix: ColorMatrix,
    ) -> Result<Self, ConvertError> {
        let (src_w, src_h, format) = key;
        let (pixel, colors) = match format {
            PixelFormat::Rgba8 => (ff::format::Pixel::RGBA, None),
            PixelFormat::Bgra8 => (ff::format::Pixel::BGRA, None),
            PixelFormat::I420(cs) => (ff::format::Pixel::YUV420P, Some(cs)),
            PixelFormat::Nv12(cs) => (ff::format::Pixel::NV12, Some(cs)),
            other => return Err(ConvertError::Format(other)),
        };
        let rect = fit(src_w, src_h, width, height);
        let context = ff::software::scaling::Context::get(
            pixel,
            src_w,
            src_h,
            target,
            rect.2,
            rect.3,
            ff::software::scaling::Flags::BILINEAR,
        )
        .map_err(|source| ConvertError::Scaler {
            from: format!("{src_w}x{src_h} {format}"),
            to_width: width,
            to_height: height,
            source,
        })?;
        let mut scaler = Self { key, context, rect };
        let (src_matrix, src_full) = match colors {
            Some(cs) => (cs.matrix, cs.range == ColorRange::Full),
            None => (ColorMatrix::Bt709, true),
        };
        let coefficients = |matrix| match matrix {
            ColorMatrix::Bt601 => ffi::SWS_CS_ITU601 as c_int,
            ColorMatrix::Bt709 => ffi::SWS_CS_ITU709 as c_int,
        };
        // SAFETY: the tables come from swscale itself; the context is ours.
        unsafe {
            ffi::sws_setColorspaceDetails(
                scaler.context.as_mut_ptr(),
                ffi::sws_getCoefficients(coefficients(src_matrix)),
                c_int::from(src_full),
                ffi::sws_getCoefficients(coefficients(matrix)),
                0,
                0,
                1 << 16,
                1 << 16,
            );
        }
        Ok(scaler)
    }
}

/// Where a `w` x `h` picture goes in a `width` x `height` frame, scaled to fit with its aspect
/// ratio kept and centred: (x, y, width, height), all even. Bars of 2 pixels or less (rounding)
/// are not worth it: the picture is stretched over them.
fn fit(w: u32, h: u32, width: u32, height: u32) -> (u32, u32, u32, u32) {
    let (w, h, width64, height64) = (
        u64::from(w),
        u64::from(h),
        u64::from(width),
        u64::from(height),
    );
    let (mut fw, mut fh) = if w * height64 <= h * width64 {
        // Taller than the frame: full height.
        ((w * height64 / h) as u32, height)
    } else {
        (width, (h * width64 / w) as u32)
    };
    fw = (fw & !1).max(2).min(width);
    fh = (fh & !1).max(2).min(height);
    if width - fw <= 2 {
        fw = width;
    }
    if height - fh <= 2 {
        fh = height;
    }
    (((width - fw) / 2) & !1, ((height - fh) / 2) & !1, fw, fh)
}

/// Fills a YUV 4:2:0 frame with limited-range black.
fn fill_black(frame: &mut ff::frame::Video, format: ff::format::Pixel) {
    frame.data_mut(0).fill(16);
    frame.data_mut(1).fill(128);
    if format != ff::format::Pixel::NV12 {
        frame.data_mut(2).fill(128);
    }
}

/// Frees what [`lend`] gave FFmpeg to hold: one clone of the lent frame.
unsafe extern "C" fn release_lent(opaque: *mut c_void, _data: *mut u8) {
    // SAFETY: `opaque` is the box `lend` made for this buffer, freed exactly once (FFmpeg
    // calls this when the buffer's last reference goes).
    drop(unsafe { Box::from_raw(opaque.cast::<VideoFrame>()) });
}

/// An FFmpeg frame whose planes are `src`'s (limited-range BT.709 I420), not a copy: each
/// plane's buffer holds a clone of `src` (O(1)) until FFmpeg lets go of it. The buffers are
/// read-only, as livekit frames are immutable.
fn lend(src: &VideoFrame) -> Result<ff::frame::Video, ff::Error> {
    let mut frame = ff::frame::Video::empty();
    frame.set_format(ff::format::Pixel::YUV420P);
    frame.set_width(src.width());
    frame.set_height(src.height());
    frame.set_color_space(ff::color::Space::BT709);
    frame.set_color_range(ff::color::Range::MPEG);
    for plane in 0..3 {
        let bytes = src.plane(plane);
        let stride = c_int::try_from(src.stride(plane)).map_err(|_| ff::Error::InvalidData)?;
        let keep = Box::into_raw(Box::new(src.clone()));
        // SAFETY: the buffer covers the plane's bytes, which stay valid and unchanged while
        // `keep` (a clone of the frame) lives; FFmpeg frees `keep` through `release_lent`
        // when the buffer's last reference goes, and never writes to a read-only buffer.
        // The frame is ours; every plane gets its buffer, data pointer and stride.
        unsafe {
            let buffer = ffi::av_buffer_create(
                bytes.as_ptr().cast_mut(),
                bytes.len(),
                Some(release_lent),
                keep.cast(),
                ffi::AV_BUFFER_FLAG_READONLY,
            );
            if buffer.is_null() {
                drop(Box::from_raw(keep));
                return Err(ff::Error::Other {
                    errno: ff::util::error::ENOMEM,
                });
            }
            let raw = frame.as_mut_ptr();
            (*raw).buf[plane] = buffer;
            (*raw).data[plane] = bytes.as_ptr().cast_mut();
            (*raw).linesize[plane] = stride;
        }
    }
    Ok(frame)
}

/// A new frame with its own buffer.
pub(crate) fn new_frame(
    format: ff::format::Pixel,
    width: u32,
    height: u32,
) -> Result<ff::frame::Video, ff::Error> {
    let mut frame = ff::frame::Video::new(format, width, height);
    // SAFETY: reading a pointer field of the frame we own.
    if unsafe { (*frame.as_ptr()).data[0].is_null() } {
        return Err(ff::Error::Other {
            errno: ff::util::error::ENOMEM,
        });
    }
    frame.set_color_space(ff::color::Space::BT709);
    frame.set_color_range(ff::color::Range::MPEG);
    Ok(frame)
}

/// Ticks of one frame at `fps` in `time_base` (at least 1).
pub(crate) fn frame_duration(time_base: TimeBase, fps: (u32, u32)) -> i64 {
    let (num, den) = (i128::from(fps.0.max(1)), i128::from(fps.1.max(1)));
    let ticks = den * i128::from(time_base.den) / (num * i128::from(time_base.num.max(1)));
    (ticks.max(1)).min(i128::from(i64::MAX)) as i64
}

/// An FFmpeg packet as a livekit [`Packet`] of stream `stream`.
pub(crate) fn to_packet(packet: &ff::Packet, stream: usize, default_duration: i64) -> Packet {
    let pts = packet.pts().or(packet.dts()).unwrap_or(0);
    let duration = if packet.duration() > 0 {
        packet.duration()
    } else {
        default_duration
    };
    Packet {
        stream,
        data: Arc::from(packet.data().unwrap_or(&[])),
        pts,
        dts: packet.dts().unwrap_or(pts),
        duration,
        keyframe: packet.is_key(),
    }
}

/// Encoder options for `backend`.
fn options(backend: Backend, settings: &VideoSettings) -> ff::Dictionary<'static> {
    let mut options = ff::Dictionary::new();
    let zerolatency = settings.tune.as_deref() == Some("zerolatency");
    let cbr = settings.rate_control == RateControl::Cbr;
    match backend {
        Backend::X264 => {
            options.set("preset", &settings.preset);
            if let Some(tune) = &settings.tune {
                options.set("tune", tune);
            }
            if let Some(profile) = &settings.profile {
                options.set("profile", profile);
            }
            // Keyframes at the interval only, not on scene cuts.
            options.set("sc_threshold", "0");
            // A frame marked I (a keyframe asked for) becomes an IDR frame, where a decoder
            // joining mid-stream can start.
            options.set("forced-idr", "1");
            if cbr {
                options.set("nal-hrd", "cbr");
            }
            if let Some(frames) = settings.x264_lookahead() {
                options.set("x264-params", &format!("rc-lookahead={frames}"));
            }
        }
        Backend::Nvenc => {
            let preset = match settings.preset.as_str() {
                "ultrafast" | "superfast" => "p1",
                "veryfast" => "p2",
                "faster" => "p3",
                "fast" => "p4",
                "medium" => "p5",
                "slow" => "p6",
                _ => "p7",
            };
            options.set("preset", preset);
            if zerolatency {
                options.set("tune", "ll");
                options.set("zerolatency", "1");
                options.set("delay", "0");
            }
            if let Some(profile) = &settings.profile {
                options.set("profile", profile);
            }
            options.set("rc", if cbr { "cbr" } else { "vbr" });
            options.set("no-scenecut", "1");
            options.set("forced-idr", "1");
        }
        Backend::Vaapi => {
            if let Some(profile) = &settings.profile {
                options.set("profile", profile);
            }
            options.set("rc_mode", if cbr { "CBR" } else { "VBR" });
        }
        Backend::Vp8 => {
            // Real time: the fastest speed, no frames held back (no alternate reference
            // frames), and a stream a receiver that lost packets can pick up again.
            options.set("deadline", "realtime");
            options.set("cpu-used", "8");
            options.set("lag-in-frames", "0");
            options.set("auto-alt-ref", "0");
            options.set("error-resilient", "1");
            options.set("static-thresh", "0");
        }
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_the_aspect_ratio() {
        assert_eq!(fit(1280, 720, 1280, 720), (0, 0, 1280, 720));
        assert_eq!(fit(321, 241, 320, 240), (0, 0, 320, 240));
        assert_eq!(fit(640, 480, 1280, 720), (160, 0, 960, 720));
        assert_eq!(fit(1920, 800, 1280, 720), (0, 94, 1280, 532));
        assert_eq!(fit(1, 1, 2, 2), (0, 0, 2, 2));
        assert_eq!(fit(1, 65536, 1280, 720), (638, 0, 2, 720));
    }

    #[test]
    fn frame_durations() {
        assert_eq!(frame_duration(VIDEO_TIME_BASE, (30, 1)), 3000);
        assert_eq!(frame_duration(VIDEO_TIME_BASE, (30000, 1001)), 3003);
        assert_eq!(frame_duration(TimeBase::new(1, 1000), (30, 1)), 33);
        assert_eq!(frame_duration(TimeBase::new(1, 10), (1000, 1)), 1);
    }
}
