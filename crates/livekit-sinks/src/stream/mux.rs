//! One connection to one destination: an FFmpeg output context (FLV or MPEG-TS) writing to
//! the destination's URL, with an interrupt callback so that no network call blocks longer
//! than its deadline or past a stop.

use std::ffi::{CString, c_int};
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use ffmpeg::ffi;
use ffmpeg_next as ffmpeg;
use livekit_av::ffmpeg::take_last_error as take_last_ffmpeg_error;
use livekit_av::streams::{add_stream, codec_id};
use livekit_av::{Interrupt, InterruptReason};
use livekit_core::{Packet, StreamInfo, StreamParams, TimeBase};

use super::destination::{Destination, Protocol};
use super::key::scrub;

/// FFmpeg's AVERROR(EIO): an I/O error (EIO is 5 on Linux and the BSDs).
const AVERROR_EIO: c_int = -5;

/// Why a connection failed: FFmpeg's error with FFmpeg's last logged reason, scrubbed.
#[derive(Debug, Clone)]
pub(crate) struct MuxError {
    pub message: String,
    /// The server took the connection and refused the stream (an RTMP publish answered with an
    /// error or a hang-up: nginx-rtmp's `on_publish` saying no, a platform that does not know
    /// the key).
    pub refused: bool,
}

impl From<crate::webrtc::whip::WhipError> for MuxError {
    fn from(error: crate::webrtc::whip::WhipError) -> Self {
        Self {
            message: error.message,
            refused: error.refused,
        }
    }
}

impl MuxError {
    fn ffmpeg(what: &str, code: c_int) -> Self {
        Self::interrupted(what, code, None)
    }

    fn interrupted(what: &str, code: c_int, interrupt: Option<&Interrupt>) -> Self {
        if let Some(reason) = interrupt.and_then(|i| i.reason(code)) {
            let _ = take_last_ffmpeg_error();
            let reason = match reason {
                // Stopped before the connection was made: nothing was left unsent by it.
                InterruptReason::Stopped if what == "cannot connect" => {
                    "stopped while connecting (the server had not answered)"
                }
                InterruptReason::Stopped => "stopped before everything was sent",
                InterruptReason::TimedOut => "timed out",
            };
            return Self {
                message: format!("{what}: {reason}"),
                refused: false,
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
            refused: false,
        }
    }

    fn other(message: impl Into<String>) -> Self {
        Self {
            message: scrub(&message.into()),
            refused: false,
        }
    }
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

/// Whether `protocol`'s container can carry every stream.
pub(crate) fn check_codecs(protocol: Protocol, streams: &[StreamInfo]) -> Result<(), String> {
    if protocol == Protocol::Whip {
        // What WebRTC peers decode: H.264 or VP8 video, Opus sound.
        let is_video =
            |s: &&StreamInfo| s.codec == livekit_core::Codec::H264 || s.codec.name() == "vp8";
        let video = streams.iter().any(|s| is_video(&s));
        let other = streams
            .iter()
            .find(|s| !is_video(s) && s.codec.name() != "opus");
        return match (video, other) {
            (true, None) => Ok(()),
            (_, Some(other)) => Err(format!(
                "WHIP cannot carry {} (WebRTC takes H.264 or VP8 video and Opus sound)",
                other.codec
            )),
            (false, None) => Err("WHIP needs H.264 or VP8 video".into()),
        };
    }
    let Ok(muxer) = CString::new(protocol.muxer()) else {
        return Err("bad muxer name".into());
    };
    // SAFETY: a valid C string; output formats are static.
    let format = unsafe { ffi::av_guess_format(muxer.as_ptr(), ptr::null(), ptr::null()) };
    if format.is_null() {
        return Err(format!("FFmpeg has no {} muxer", protocol.muxer()));
    }
    for stream in streams {
        // 1: supported, 0: not, negative: the muxer cannot tell (MPEG-TS), so it is tried.
        // SAFETY: `format` is a valid static output format.
        let ok = codec_id(&stream.codec).is_some_and(|id| unsafe {
            ffi::avformat_query_codec(format, id, ffi::FF_COMPLIANCE_NORMAL) != 0
        });
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
        let interrupt = Box::new(Interrupt::new(Some(abort)));
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
            (*ps).interrupt_callback = connection.interrupt.callback();
        }
        for info in streams {
            add_stream(&mut ctx, info).map_err(|error| {
                MuxError::other(format!(
                    "cannot add a {} stream to the muxer: {error}",
                    info.codec
                ))
            })?;
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
            let timed_out_or_stopped = connection.interrupt.reason(ret).is_some();
            let mut error =
                MuxError::interrupted("cannot connect", ret, Some(&connection.interrupt));
            // RTMP: a server that is down refuses the TCP connection (ECONNREFUSED) or does
            // not answer (timed out); one that took the connection and then answered the
            // publish with an error ("Server error: ...") or a hang-up (nothing said) gives
            // EIO: it refused this stream. EIO with another reason (a TLS certificate that
            // fails verification) is not a refusal.
            let said = error.message.split_once(" (").map(|(_, reason)| reason);
            if matches!(destination.protocol, Protocol::Rtmp | Protocol::Rtmps)
                && !timed_out_or_stopped
                && ret == AVERROR_EIO
                && said.is_none_or(|reason| reason.starts_with("Server error"))
            {
                error.refused = true;
                error.message = scrub(&format!(
                    "the server refused the stream (is the stream key right?): {}",
                    error.message
                ));
            }
            return Err(error);
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

fn libc_seek_cur() -> c_int {
    1 // SEEK_CUR
}

fn ticks(tb: TimeBase, duration: Duration) -> i64 {
    tb.from_duration(duration)
}
