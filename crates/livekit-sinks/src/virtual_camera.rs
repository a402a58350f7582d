//! [`VirtualCamera`]: frames out to a V4L2 output device (a v4l2loopback "virtual camera"), so
//! browsers and video-call programs can pick a canvas as if it were a webcam. OBS calls this
//! "Start Virtual Camera".
//!
//! One thread, `livekit.virtual-camera`, reads the source in order, fits each frame into the
//! device's size as YUV 4:2:0 (I420, BT.601 limited range, what webcam readers assume; scaled keeping its aspect ratio,
//! black bars around) and writes it through FFmpeg's `v4l2` output device. The device is opened
//! and its format set before [`VirtualCamera::start`] returns, so a missing device, one that is
//! not a video output, or one we may not write to is reported at once, naming it.
//!
//! The device comes from the v4l2loopback kernel module:
//!
//! ```sh
//! sudo modprobe v4l2loopback exclusive_caps=1 video_nr=10 card_label="livekit"
//! ```

use std::ffi::{CString, c_int};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ff::Rescale;
use ff::ffi;
use ffmpeg_next as ff;
use livekit_core::thread::{SpawnError, Worker, spawn_worker};
use livekit_core::{ColorMatrix, Pull, VideoFrame, VideoSource};

use crate::encode::{Fitter, new_frame};

/// How long the thread waits for a frame before checking for a stop.
const POLL: Duration = Duration::from_millis(20);

/// The largest side a virtual camera accepts (v4l2loopback's own limit is 8192).
pub const MAX_VIRTUAL_CAMERA_SIDE: u32 = 8192;

/// Where and at what size a [`VirtualCamera`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualCameraSettings {
    /// The V4L2 output device (`/dev/video10`).
    pub device: PathBuf,
    /// Width of the pictures the device gets (odd sizes are rounded down to even). Frames of
    /// another size are scaled to fit, keeping their aspect ratio.
    pub width: u32,
    /// Height of the pictures the device gets (rounded down to even).
    pub height: u32,
    /// Frames a second announced to the device, as a fraction. Default 30/1. Frames are
    /// written as they come; this is only what readers are told.
    pub frame_rate: (u32, u32),
}

impl VirtualCameraSettings {
    /// Settings for `device` at `width` x `height`, 30 frames a second.
    pub fn new(device: impl Into<PathBuf>, width: u32, height: u32) -> Self {
        Self {
            device: device.into(),
            width,
            height,
            frame_rate: (30, 1),
        }
    }

    fn size(&self) -> (u32, u32) {
        (self.width & !1, self.height & !1)
    }
}

/// Why a virtual camera did not start. Names the device, in one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartVirtualCameraError {
    /// The device does not exist: the v4l2loopback module is not loaded, or has another number.
    #[error(
        "virtual camera {}: no such device (load v4l2loopback: sudo modprobe v4l2loopback exclusive_caps=1 video_nr=10)",
        device.display()
    )]
    NotFound {
        /// The device.
        device: PathBuf,
    },
    /// The path is not a device (a regular file, a directory).
    #[error("virtual camera {}: not a video device", device.display())]
    NotADevice {
        /// The path.
        device: PathBuf,
    },
    /// The device could not be opened for writing (permissions: the `video` group).
    #[error("virtual camera {}: cannot open it for writing", device.display())]
    Open {
        /// The device.
        device: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The device opened but does not take video output (a real camera, `/dev/null`).
    #[error(
        "virtual camera {}: not a V4L2 output device (a v4l2loopback device is one)",
        device.display()
    )]
    NotOutput {
        /// The device.
        device: PathBuf,
        /// What FFmpeg's v4l2 output said.
        source: ff::Error,
    },
    /// A side is below 2 or above [`MAX_VIRTUAL_CAMERA_SIDE`].
    #[error(
        "virtual camera {}: invalid size {width}x{height} (each side must be 2..={MAX_VIRTUAL_CAMERA_SIDE})",
        device.display()
    )]
    InvalidSize {
        /// The device.
        device: PathBuf,
        /// The width asked for.
        width: u32,
        /// The height asked for.
        height: u32,
    },
    /// This FFmpeg has no `v4l2` output device, or the system has no V4L2 (not Linux).
    #[error("virtual camera {}: {reason}", device.display())]
    Unsupported {
        /// The device.
        device: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// The thread could not be created, or panicked while opening the device.
    #[error("virtual camera {}: cannot start its thread", device.display())]
    Thread {
        /// The device.
        device: PathBuf,
    },
}

/// Why a running virtual camera stopped badly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VirtualCameraError {
    /// Writing a picture failed (the device went away).
    #[error("virtual camera {}: writing a frame failed", device.display())]
    Write {
        /// The device.
        device: PathBuf,
        /// What FFmpeg said.
        source: ff::Error,
    },
    /// The thread panicked.
    #[error("virtual camera {}: its thread panicked", device.display())]
    Panicked {
        /// The device.
        device: PathBuf,
    },
}

/// Counters of a virtual camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VirtualCameraStats {
    /// Pictures written to the device.
    pub frames: u64,
    /// Frames that could not be converted (an unsupported pixel format), skipped.
    pub skipped: u64,
}

#[derive(Debug, Default)]
struct Shared {
    frames: AtomicU64,
    skipped: AtomicU64,
    stop: AtomicBool,
}

/// Starts virtual cameras. See [`VirtualCamera::start`].
///
/// ```no_run
/// use std::sync::Arc;
/// use livekit_core::{Port, VideoFrame};
/// use livekit_sinks::{VirtualCamera, VirtualCameraSettings};
///
/// let frames = Arc::new(Port::<VideoFrame>::latest()); // a compositor target, a player's...
/// let camera = VirtualCamera::start(
///     VirtualCameraSettings::new("/dev/video10", 1280, 720),
///     frames.clone(),
/// )?;
/// // ... push frames; ending the port (or `stop`) ends the camera.
/// let stats = camera.stop()?;
/// println!("{} frames to {}", stats.frames, "/dev/video10");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct VirtualCamera;

impl VirtualCamera {
    /// Opens the device, sets its format (`width` x `height` YUV 4:2:0) and starts writing
    /// the frames of `source` to it, in order, until the source ends or
    /// [`RunningVirtualCamera::stop`]. Feed it from a keep-latest or drop-oldest port: a
    /// virtual camera is live, old frames are worth nothing.
    pub fn start(
        settings: VirtualCameraSettings,
        source: Arc<dyn VideoSource>,
    ) -> Result<RunningVirtualCamera, StartVirtualCameraError> {
        livekit_av::ffmpeg::init();
        let device = settings.device.clone();
        let (width, height) = settings.size();
        if !(2..=MAX_VIRTUAL_CAMERA_SIDE).contains(&width)
            || !(2..=MAX_VIRTUAL_CAMERA_SIDE).contains(&height)
        {
            return Err(StartVirtualCameraError::InvalidSize {
                device,
                width: settings.width,
                height: settings.height,
            });
        }
        check_device(&device)?;
        let shared = Arc::new(Shared::default());
        let worker_shared = Arc::clone(&shared);
        let worker = spawn_worker(
            "livekit.virtual-camera",
            move || Output::open(&settings),
            move |output| output.run(&*source, &worker_shared),
        )
        .map_err(|error| match error {
            SpawnError::Start { source, .. } => source,
            SpawnError::Os { .. } | SpawnError::Panicked { .. } => {
                StartVirtualCameraError::Thread {
                    device: device.clone(),
                }
            }
        })?;
        tracing::debug!("virtual camera {} at {width}x{height}", device.display());
        Ok(RunningVirtualCamera {
            device,
            shared,
            worker: Some(worker),
        })
    }
}

/// Refuses, before FFmpeg is involved, what is plainly not a device we can write to.
fn check_device(device: &Path) -> Result<(), StartVirtualCameraError> {
    if !cfg!(target_os = "linux") {
        return Err(StartVirtualCameraError::Unsupported {
            device: device.to_path_buf(),
            reason: "virtual cameras need V4L2 (Linux)".into(),
        });
    }
    let metadata = match std::fs::metadata(device) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(StartVirtualCameraError::NotFound {
                device: device.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(StartVirtualCameraError::Open {
                device: device.to_path_buf(),
                source,
            });
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if !metadata.file_type().is_char_device() {
            return Err(StartVirtualCameraError::NotADevice {
                device: device.to_path_buf(),
            });
        }
    }
    #[cfg(not(unix))]
    let _ = metadata;
    // Permissions are checked here so that FFmpeg's failures below all mean "not an output".
    std::fs::OpenOptions::new()
        .write(true)
        .open(device)
        .map(drop)
        .map_err(|source| StartVirtualCameraError::Open {
            device: device.to_path_buf(),
            source,
        })
}

/// A running virtual camera. [`stop`](Self::stop) (or dropping it) stops writing and closes
/// the device; readers then see no more frames.
pub struct RunningVirtualCamera {
    device: PathBuf,
    shared: Arc<Shared>,
    worker: Option<Worker<Result<(), VirtualCameraError>>>,
}

impl fmt::Debug for RunningVirtualCamera {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningVirtualCamera")
            .field("device", &self.device)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl RunningVirtualCamera {
    /// The device.
    pub fn device(&self) -> &Path {
        &self.device
    }

    /// The counters now.
    pub fn stats(&self) -> VirtualCameraStats {
        VirtualCameraStats {
            frames: self.shared.frames.load(Ordering::Relaxed),
            skipped: self.shared.skipped.load(Ordering::Relaxed),
        }
    }

    /// Whether it has ended by itself (the source ended, or writing failed).
    pub fn is_finished(&self) -> bool {
        self.worker.as_ref().is_none_or(Worker::is_finished)
    }

    /// Stops after the frame being written and closes the device.
    pub fn stop(mut self) -> Result<VirtualCameraStats, VirtualCameraError> {
        self.finish(true)
    }

    /// Waits for the source to end, then closes the device.
    pub fn wait(mut self) -> Result<VirtualCameraStats, VirtualCameraError> {
        self.finish(false)
    }

    fn finish(&mut self, stop: bool) -> Result<VirtualCameraStats, VirtualCameraError> {
        if stop {
            self.shared.stop.store(true, Ordering::SeqCst);
        }
        if let Some(worker) = self.worker.take() {
            worker.join().unwrap_or_else(|_| {
                Err(VirtualCameraError::Panicked {
                    device: self.device.clone(),
                })
            })?;
        }
        Ok(self.stats())
    }
}

impl Drop for RunningVirtualCamera {
    fn drop(&mut self) {
        if self.worker.is_some()
            && let Err(error) = self.finish(true)
        {
            tracing::error!("{error}");
        }
    }
}

/// FFmpeg's v4l2 output, owned by the thread.
struct Output {
    device: PathBuf,
    output: ff::format::context::Output,
    time_base: ff::Rational,
    fitter: Fitter,
    picture: ff::frame::Video,
    /// The picture packed without row padding, as V4L2 takes it.
    packed: Vec<u8>,
    last_pts: Option<i64>,
}

impl Output {
    fn open(settings: &VirtualCameraSettings) -> Result<Self, StartVirtualCameraError> {
        let device = settings.device.clone();
        let (width, height) = settings.size();
        let unsupported = |reason: &str| StartVirtualCameraError::Unsupported {
            device: device.clone(),
            reason: reason.to_owned(),
        };
        let path = CString::new(device.as_os_str().as_encoded_bytes())
            .map_err(|_| unsupported("the path holds a NUL byte"))?;
        let format = c"v4l2";
        let mut context = std::ptr::null_mut();
        // SAFETY: plain FFmpeg allocation; on success the context is ours and wrapped at once
        // (the v4l2 device opens the file itself: no AVIOContext is opened).
        let made = unsafe {
            ffi::avformat_alloc_output_context2(
                &mut context,
                std::ptr::null_mut(),
                format.as_ptr(),
                path.as_ptr(),
            )
        };
        if made < 0 || context.is_null() {
            return Err(unsupported("this FFmpeg has no v4l2 output device"));
        }
        // SAFETY: a fresh context from avformat_alloc_output_context2, owned from here on.
        let mut output = unsafe { ff::format::context::Output::wrap(context) };
        let no_memory = |device: &PathBuf| StartVirtualCameraError::NotOutput {
            device: device.clone(),
            source: ff::Error::Other {
                errno: ff::util::error::ENOMEM,
            },
        };
        // SAFETY: the context is ours; the new stream's codec parameters are plain values.
        unsafe {
            let stream = ffi::avformat_new_stream(output.as_mut_ptr(), std::ptr::null());
            if stream.is_null() {
                return Err(no_memory(&device));
            }
            (*stream).time_base = ffi::AVRational {
                num: 1,
                den: 1_000_000,
            };
            let rate = ffi::AVRational {
                num: c_int::try_from(settings.frame_rate.0.max(1)).unwrap_or(30),
                den: c_int::try_from(settings.frame_rate.1.max(1)).unwrap_or(1),
            };
            (*stream).avg_frame_rate = rate;
            (*stream).r_frame_rate = rate;
            let par = (*stream).codecpar;
            (*par).codec_type = ffi::AVMediaType::AVMEDIA_TYPE_VIDEO;
            (*par).codec_id = ffi::AVCodecID::AV_CODEC_ID_RAWVIDEO;
            (*par).format = ffi::AVPixelFormat::AV_PIX_FMT_YUV420P as c_int;
            (*par).width = width as c_int;
            (*par).height = height as c_int;
        }
        output
            .write_header()
            .map_err(|source| StartVirtualCameraError::NotOutput {
                device: device.clone(),
                source,
            })?;
        let time_base = output
            .stream(0)
            .map_or(ff::Rational::new(1, 1_000_000), |s| s.time_base());
        let mut picture =
            new_frame(ff::format::Pixel::YUV420P, width, height).map_err(|_| no_memory(&device))?;
        picture.set_color_space(ff::color::Space::BT470BG); // BT.601
        let (w, h) = (width as usize, height as usize);
        Ok(Self {
            device,
            output,
            time_base,
            fitter: Fitter::new(width, height, ColorMatrix::Bt601),
            picture,
            packed: Vec::with_capacity(w * h + 2 * (w / 2) * (h / 2)),
            last_pts: None,
        })
    }

    fn run(mut self, source: &dyn VideoSource, shared: &Shared) -> Result<(), VirtualCameraError> {
        let mut result = Ok(());
        loop {
            if shared.stop.load(Ordering::SeqCst) {
                break;
            }
            let frame = match source.next(POLL) {
                Pull::Frame(frame) => frame,
                Pull::Pending => continue,
                Pull::Ended => break,
            };
            match self.write(&frame) {
                Ok(true) => {
                    shared.frames.fetch_add(1, Ordering::Relaxed);
                }
                Ok(false) => {
                    if shared.skipped.fetch_add(1, Ordering::Relaxed) == 0 {
                        tracing::warn!(
                            "virtual camera {}: skipping {} frames (cannot convert them)",
                            self.device.display(),
                            frame.format()
                        );
                    }
                }
                Err(source) => {
                    result = Err(VirtualCameraError::Write {
                        device: self.device.clone(),
                        source,
                    });
                    break;
                }
            }
        }
        if let Err(error) = self.output.write_trailer() {
            tracing::debug!("virtual camera {}: closing: {error}", self.device.display());
        }
        if let Err(error) = &result {
            tracing::error!("{error}");
        }
        result
    }

    /// Writes one picture; `Ok(false)` when the frame could not be converted.
    fn write(&mut self, frame: &VideoFrame) -> Result<bool, ff::Error> {
        // SAFETY: the frame is ours; this gives it a buffer of its own if needed.
        let made = unsafe { ffi::av_frame_make_writable(self.picture.as_mut_ptr()) };
        if made < 0 {
            return Err(ff::Error::from(made));
        }
        if self.fitter.fill(frame, &mut self.picture).is_err() {
            return Ok(false);
        }
        self.packed.clear();
        for plane in 0..3 {
            let (width, rows) = if plane == 0 {
                (self.picture.width(), self.picture.height())
            } else {
                (self.picture.width() / 2, self.picture.height() / 2)
            };
            let stride = self.picture.stride(plane);
            let data = self.picture.data(plane);
            for y in 0..rows as usize {
                self.packed
                    .extend_from_slice(&data[y * stride..y * stride + width as usize]);
            }
        }
        let micros = i64::try_from(frame.pts().as_micros()).unwrap_or(i64::MAX);
        let mut pts = micros.rescale(ff::Rational::new(1, 1_000_000), self.time_base);
        if let Some(last) = self.last_pts
            && pts <= last
        {
            pts = last + 1;
        }
        self.last_pts = Some(pts);
        let mut packet = ff::Packet::copy(&self.packed);
        packet.set_stream(0);
        packet.set_pts(Some(pts));
        packet.set_dts(Some(pts));
        packet.set_flags(ff::packet::Flags::KEY);
        packet.write(&mut self.output)?;
        Ok(true)
    }
}
