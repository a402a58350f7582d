//! One connection to one destination: an FFmpeg output context (FLV or MPEG-TS) writing to
//! the destination's URL, with an interrupt callback so that no network call blocks longer
//! than its deadline or past a stop.

use std::ffi::{CString, c_int, c_void};
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ffmpeg::ffi;
use ffmpeg_next as ffmpeg;
use livekit_core::{Codec, Packet, StreamInfo, StreamParams, TimeBase};

use super::destination::{Destination, Protocol};
use super::key::{scrub, take_last_ffmpeg_error};

/// Why a connection failed: FFmpeg's error with FFmpeg's last logged reason, scrubbed.
#[derive(Debug, Clone)]
pub(crate) struct MuxError {
    pub message: String,
}

impl MuxError {
    fn ffmpeg(what: &str, code: c_int) -> Self {
        Self::interrupted(what, code, None)
    }

    fn interrupted(what: &str, code: c_int, interrupt: Option<&Interrupt>) -> Self {
        if let Some(reason) = interrupt.and_then(|i| i.reason(code)) {
            let _ = take_last_ffmpeg_error();
            // Stopped before the connection was made: nothing was left unsent by it.
            let reason = match reason {
                "stopped before everything was sent" if what == "cannot connect" => {
                    "stopped while connecting (the server had not answered)"
                }
                reason => reason,
            };
            return Self {
                message: format!("{what}: {reason}"),
            };
        }
        let error = ffmpeg::Error::from(code);
        let reason = take_last_ffmpeg_error();
        let message = match reason {
            Some(reason) if !reason.is_empty() => format!("{what}: {error} ({reason})"),
            _ => format!("{what}: {error}"),
        };
        Self {
            message: scrub(&message),
        }
    }

    fn other(message: impl Into<String>) -> Self {
        Self {
            message: scrub(&message.into()),
        }
    }
}

/// Shared with FFmpeg's interrupt callback: abort when asked to, or when the current
/// operation's deadline has passed.
pub(crate) struct Interrupt {
    base: Instant,
    /// Nanoseconds since `base` after which the current operation is aborted; 0: none.
    deadline: AtomicU64,
    /// Abort everything now.
    pub abort: Arc<AtomicBool>,
}

impl Interrupt {
    fn new(abort: Arc<AtomicBool>) -> Self {
        Self {
            base: Instant::now(),
            deadline: AtomicU64::new(0),
            abort,
        }
    }

    fn arm(&self, timeout: Duration) {
        let at = self.base.elapsed() + timeout;
        self.deadline.store(
            at.as_nanos().min(u64::MAX as u128) as u64 | 1,
            Ordering::Relaxed,
        );
    }

    /// Why FFmpeg's call was interrupted, if it was.
    fn reason(&self, code: c_int) -> Option<&'static str> {
        if code != ffi::AVERROR_EXIT {
            return None;
        }
        if self.abort.load(Ordering::Relaxed) {
            Some("stopped before everything was sent")
        } else {
            Some("timed out")
        }
    }

    fn should_stop(&self) -> bool {
        if self.abort.load(Ordering::Relaxed) {
            return true;
        }
        let deadline = self.deadline.load(Ordering::Relaxed);
        deadline != 0 && self.base.elapsed().as_nanos() as u64 > deadline
    }
}

unsafe extern "C" fn interrupt_callback(opaque: *mut c_void) -> c_int {
    // SAFETY: `opaque` is the `Interrupt` boxed in the `Connection`, which outlives the
    // format context that calls this.
    let interrupt = unsafe { &*(opaque as *const Interrupt) };
    c_int::from(interrupt.should_stop())
}

/// An open, live connection: headers written, packets go in.
pub(crate) struct Connection {
    // Field order matters: the context (which may call the interrupt callback while closing)
    // is dropped before the interrupt state it points to.
    ctx: Option<ffmpeg::format::context::Output>,
    interrupt: Box<Interrupt>,
    /// Source time base per stream.
    source_tb: Vec<TimeBase>,
    /// Per stream: the offset (in that stream's source time base) subtracted so that this
    /// connection starts at 0, set from the first packet written.
    offset: Option<Duration>,
    write_timeout: Duration,
    /// The video stream, while its first keyframe on this connection has not been written.
    awaiting_keyframe: Option<usize>,
}

// SAFETY: the context is used by one thread at a time (the destination's thread); the boxed
// interrupt state is only read through atomics.
unsafe impl Send for Connection {}

fn codec_id(codec: &Codec) -> ffi::AVCodecID {
    match codec {
        Codec::H264 => ffi::AVCodecID::AV_CODEC_ID_H264,
        Codec::Aac => ffi::AVCodecID::AV_CODEC_ID_AAC,
        other => {
            let Ok(name) = CString::new(other.name()) else {
                return ffi::AVCodecID::AV_CODEC_ID_NONE;
            };
            // SAFETY: a valid C string; the descriptor table is static.
            let descriptor = unsafe { ffi::avcodec_descriptor_get_by_name(name.as_ptr()) };
            if descriptor.is_null() {
                ffi::AVCodecID::AV_CODEC_ID_NONE
            } else {
                // SAFETY: non-null descriptors are valid.
                unsafe { (*descriptor).id }
            }
        }
    }
}

/// Whether `protocol`'s container can carry every stream.
pub(crate) fn check_codecs(protocol: Protocol, streams: &[StreamInfo]) -> Result<(), String> {
    let Ok(muxer) = CString::new(protocol.muxer()) else {
        return Err("bad muxer name".into());
    };
    // SAFETY: a valid C string; output formats are static.
    let format = unsafe { ffi::av_guess_format(muxer.as_ptr(), ptr::null(), ptr::null()) };
    if format.is_null() {
        return Err(format!("FFmpeg has no {} muxer", protocol.muxer()));
    }
    for stream in streams {
        let id = codec_id(&stream.codec);
        // 1: supported, 0: not, negative: the muxer cannot tell (MPEG-TS), so it is tried.
        // SAFETY: `format` is a valid static output format.
        let ok = id != ffi::AVCodecID::AV_CODEC_ID_NONE
            && unsafe { ffi::avformat_query_codec(format, id, ffi::FF_COMPLIANCE_NORMAL) } != 0;
        if !ok {
            return Err(format!(
                "{} cannot carry {} (use H.264 video and AAC audio)",
                protocol.muxer(),
                stream.codec
            ));
        }
    }
    Ok(())
}

impl Connection {
    /// Connects to `destination` and writes the stream headers.
    pub fn open(
        destination: &Destination,
        streams: &[StreamInfo],
        abort: Arc<AtomicBool>,
        connect_timeout: Duration,
        write_timeout: Duration,
        send_buffer: Option<usize>,
    ) -> Result<Self, MuxError> {
        let _ = take_last_ffmpeg_error();
        let interrupt = Box::new(Interrupt::new(abort));
        let url = CString::new(destination.secret_url())
            .map_err(|_| MuxError::other("the URL contains a NUL byte"))?;
        let muxer = CString::new(destination.protocol.muxer())
            .map_err(|_| MuxError::other("bad muxer name"))?;
        let mut ps: *mut ffi::AVFormatContext = ptr::null_mut();
        // SAFETY: valid C strings; `ps` receives a new context or stays null.
        let ret = unsafe {
            ffi::avformat_alloc_output_context2(
                &mut ps,
                ptr::null_mut(),
                muxer.as_ptr(),
                url.as_ptr(),
            )
        };
        if ret < 0 || ps.is_null() {
            return Err(MuxError::ffmpeg("cannot make the muxer", ret));
        }
        // SAFETY: `ps` is a fresh output context without I/O; wrapping it hands its cleanup
        // (avio_close on a null pb is a no-op, then avformat_free_context) to ffmpeg-next.
        let mut ctx = unsafe { ffmpeg::format::context::Output::wrap(ps) };
        let mut connection = Self {
            ctx: None,
            interrupt,
            source_tb: streams.iter().map(|s| s.time_base).collect(),
            offset: None,
            write_timeout,
            awaiting_keyframe: streams
                .iter()
                .position(|s| matches!(s.params, StreamParams::Video { .. })),
        };
        // SAFETY: the interrupt state is boxed and owned by `connection`, which drops the
        // context first.
        unsafe {
            (*ps).interrupt_callback = ffi::AVIOInterruptCB {
                callback: Some(interrupt_callback),
                opaque: &*connection.interrupt as *const Interrupt as *mut c_void,
            };
        }
        for info in streams {
            add_stream(&mut ctx, info)?;
        }

        let mut options = ffmpeg::Dictionary::new();
        for (name, value) in destination.protocol_options() {
            options.set(name, &value);
        }
        if let Some(bytes) = send_buffer
            && destination.protocol != Protocol::Srt
        {
            options.set("send_buffer_size", &bytes.to_string());
        }
        connection.interrupt.arm(connect_timeout);
        // SAFETY: `ps` is valid; avio_open2 sets `pb` on success; `opts` is ours to free.
        let ret = unsafe {
            let mut opts = options.disown();
            let ret = ffi::avio_open2(
                &mut (*ps).pb,
                url.as_ptr(),
                ffi::AVIO_FLAG_WRITE,
                &(*ps).interrupt_callback,
                &mut opts,
            );
            let left = ffmpeg::Dictionary::own(opts);
            for (name, _) in left.iter() {
                tracing::debug!(option = name, "the protocol did not use this option");
            }
            ret
        };
        if ret < 0 {
            return Err(MuxError::interrupted(
                "cannot connect",
                ret,
                Some(&connection.interrupt),
            ));
        }
        let mut muxer_options = ffmpeg::Dictionary::new();
        if destination.protocol.muxer() == "flv" {
            // Live: there is no file to seek back to for duration and size.
            muxer_options.set("flvflags", "no_duration_filesize");
        }
        if let Err(error) = ctx.write_header_with(muxer_options) {
            let code: c_int = error.into();
            return Err(MuxError::interrupted(
                "cannot write the stream headers",
                code,
                Some(&connection.interrupt),
            ));
        }
        connection.interrupt.arm(write_timeout);
        connection.ctx = Some(ctx);
        Ok(connection)
    }

    /// Bytes sent so far.
    pub fn bytes(&mut self) -> u64 {
        let Some(ctx) = self.ctx.as_mut() else {
            return 0;
        };
        // SAFETY: a valid context with an open `pb`; SEEK_CUR by 0 only reads the position.
        unsafe {
            let pb = (*ctx.as_mut_ptr()).pb;
            if pb.is_null() {
                return 0;
            }
            ffi::avio_seek(pb, 0, libc_seek_cur()).max(0) as u64
        }
    }

    /// Writes one packet (its timestamps shifted so that this connection starts at 0).
    /// Returns `Ok(false)` for a packet skipped: video before the first keyframe, or a packet
    /// older than the start.
    pub fn write(&mut self, packet: &Packet) -> Result<bool, MuxError> {
        if let Some(video) = self.awaiting_keyframe
            && packet.stream == video
        {
            if !packet.keyframe {
                return Ok(false);
            }
            self.awaiting_keyframe = None;
        }
        let Some(ctx) = self.ctx.as_mut() else {
            return Err(MuxError::other("the connection is closed"));
        };
        let Some(&source_tb) = self.source_tb.get(packet.stream) else {
            return Ok(false);
        };
        let time = source_tb.to_duration(packet.dts.max(0));
        let offset = *self
            .offset
            .get_or_insert(if packet.dts < 0 { Duration::ZERO } else { time });
        let shift = ticks(source_tb, offset);
        if packet.dts - shift < -ticks(source_tb, Duration::from_millis(500)) {
            return Ok(false);
        }
        // SAFETY: the stream exists (one per StreamInfo, added at open).
        let stream_tb = unsafe {
            let stream = *(*ctx.as_ptr()).streams.add(packet.stream);
            (*stream).time_base
        };
        let mut av = ffmpeg::Packet::copy(&packet.data);
        let src = ffi::AVRational {
            num: source_tb.num,
            den: source_tb.den,
        };
        let rescale = |ts: i64| {
            // SAFETY: pure arithmetic.
            unsafe { ffi::av_rescale_q_rnd(ts, src, stream_tb, ffi::AVRounding::AV_ROUND_NEAR_INF) }
        };
        av.set_stream(packet.stream);
        av.set_pts(Some(rescale(packet.pts - shift)));
        av.set_dts(Some(rescale(packet.dts - shift)));
        av.set_duration(if packet.duration > 0 {
            rescale(packet.duration)
        } else {
            0
        });
        if packet.keyframe {
            av.set_flags(ffmpeg::codec::packet::Flags::KEY);
        }
        self.interrupt.arm(self.write_timeout);
        let _ = take_last_ffmpeg_error();
        let interrupt = &self.interrupt;
        av.write_interleaved(ctx).map_err(|error| {
            let code: c_int = error.into();
            MuxError::interrupted("send failed", code, Some(interrupt))
        })?;
        Ok(true)
    }

    /// Writes the trailer and closes, within `timeout`.
    pub fn close(mut self, timeout: Duration) -> Result<(), MuxError> {
        let Some(mut ctx) = self.ctx.take() else {
            return Ok(());
        };
        self.interrupt.arm(timeout);
        let interrupt = &self.interrupt;
        let result = ctx.write_trailer().map_err(|error| {
            let code: c_int = error.into();
            MuxError::interrupted("cannot finish the stream", code, Some(interrupt))
        });
        drop(ctx);
        result
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(ctx) = self.ctx.take() {
            // Closing without a trailer (the connection failed): do not wait on the network.
            self.interrupt.abort_now();
            drop(ctx);
        }
    }
}

impl Interrupt {
    fn abort_now(&self) {
        self.deadline.store(1, Ordering::Relaxed);
    }
}

fn libc_seek_cur() -> c_int {
    1 // SEEK_CUR
}

fn ticks(tb: TimeBase, duration: Duration) -> i64 {
    tb.from_duration(duration)
}

fn add_stream(
    ctx: &mut ffmpeg::format::context::Output,
    info: &StreamInfo,
) -> Result<(), MuxError> {
    // SAFETY: a valid output context; the new stream's codecpar is valid and ours to fill;
    // extradata is allocated with av_mallocz (padded) so FFmpeg can free it.
    unsafe {
        let stream = ffi::avformat_new_stream(ctx.as_mut_ptr(), ptr::null());
        if stream.is_null() {
            return Err(MuxError::other("cannot add a stream to the muxer"));
        }
        (*stream).time_base = ffi::AVRational {
            num: info.time_base.num,
            den: info.time_base.den,
        };
        let par = &mut *(*stream).codecpar;
        par.codec_id = codec_id(&info.codec);
        par.bit_rate = info.bit_rate.min(i64::MAX as u64) as i64;
        match info.params {
            StreamParams::Video {
                width,
                height,
                frame_rate,
            } => {
                par.codec_type = ffi::AVMediaType::AVMEDIA_TYPE_VIDEO;
                par.width = width.min(i32::MAX as u32) as c_int;
                par.height = height.min(i32::MAX as u32) as c_int;
                if frame_rate.0 > 0 && frame_rate.1 > 0 {
                    let rate = ffi::AVRational {
                        num: frame_rate.0.min(i32::MAX as u32) as c_int,
                        den: frame_rate.1.min(i32::MAX as u32) as c_int,
                    };
                    (*stream).avg_frame_rate = rate;
                    (*stream).r_frame_rate = rate;
                }
            }
            StreamParams::Audio {
                sample_rate,
                channels,
                frame_size,
            } => {
                par.codec_type = ffi::AVMediaType::AVMEDIA_TYPE_AUDIO;
                par.sample_rate = sample_rate.min(i32::MAX as u32) as c_int;
                ffi::av_channel_layout_default(&mut par.ch_layout, c_int::from(channels.max(1)));
                par.frame_size = frame_size.min(i32::MAX as u32) as c_int;
            }
        }
        if !info.extradata.is_empty() {
            let size = info.extradata.len();
            let data =
                ffi::av_mallocz(size + ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize) as *mut u8;
            if data.is_null() {
                return Err(MuxError::other("out of memory"));
            }
            ptr::copy_nonoverlapping(info.extradata.as_ptr(), data, size);
            par.extradata = data;
            par.extradata_size = size as c_int;
        }
    }
    Ok(())
}
