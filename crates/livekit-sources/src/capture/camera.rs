//! [`Camera`]: a webcam (V4L2 on Linux) or FFmpeg's lavfi virtual device, through
//! libavdevice.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use livekit_core::{Clock, SystemClock, VideoTarget};

use super::device::{self, CaptureConfig, InputSpec, NoWatcher, StartCaptureError};
use super::{OutputFormat, ReopenSettings, VideoCapture};

/// Which camera to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraDevice {
    /// The n-th camera: `/dev/video<n>` on Linux, the n-th AVFoundation device on macOS.
    Index(u32),
    /// A device path (`/dev/video2`, `/dev/v4l/by-id/usb-...`); on Windows a DirectShow name.
    Path(PathBuf),
    /// A virtual camera: an FFmpeg lavfi filter graph such as
    /// `testsrc2=size=320x240:rate=30,realtime` (add `realtime` for a live pace; without it a
    /// graph runs as fast as it can). Goes through the same capture path as a real camera; for
    /// tests and demos.
    Lavfi(String),
}

impl CameraDevice {
    /// A camera as people write it: an index (`0`), `lavfi:GRAPH`, or a device path.
    pub fn parse(text: &str) -> Self {
        if let Ok(index) = text.parse::<u32>() {
            Self::Index(index)
        } else if let Some(graph) = text.strip_prefix("lavfi:") {
            Self::Lavfi(graph.to_owned())
        } else {
            Self::Path(PathBuf::from(text))
        }
    }
}

impl Default for CameraDevice {
    fn default() -> Self {
        Self::Index(0)
    }
}

/// The format to ask the camera for (what travels over USB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CameraFormat {
    /// Motion JPEG: high resolutions at full frame rate on USB 2 cameras.
    Mjpeg,
    /// Packed YUV 4:2:2 (YUYV), uncompressed.
    Yuyv,
    /// NV12, uncompressed.
    Nv12,
    /// Planar YUV 4:2:0, uncompressed.
    Yuv420,
    /// H.264 from cameras that encode on board.
    H264,
}

impl CameraFormat {
    /// The name libavdevice's `input_format` option takes.
    fn ffmpeg_name(self) -> &'static str {
        match self {
            Self::Mjpeg => "mjpeg",
            Self::Yuyv => "yuyv422",
            Self::Nv12 => "nv12",
            Self::Yuv420 => "yuv420p",
            Self::H264 => "h264",
        }
    }
}

/// Settings of a [`Camera`]. Sizes, rate and format are requests: the driver picks the
/// nearest it supports, and the [`CaptureEvent::Started`](super::CaptureEvent::Started) event
/// says what it picked.
#[derive(Debug, Clone)]
pub struct CameraSettings {
    /// Which camera. Default: the first (`/dev/video0`).
    pub device: CameraDevice,
    /// Requested frame size; `None` (default) keeps the driver's current size.
    pub size: Option<(u32, u32)>,
    /// Requested frames a second; `None` (default) keeps the driver's current rate.
    pub frame_rate: Option<u32>,
    /// Requested transfer format; `None` (default) lets the driver choose.
    pub format: Option<CameraFormat>,
    /// The format frames are delivered in. Default [`OutputFormat::I420`].
    pub output: OutputFormat,
    /// What happens when the camera is unplugged or fails. Default: retry every second for ever.
    pub reopen: ReopenSettings,
    /// The clock frames are stamped with (default: a [`SystemClock`] started when the settings
    /// were made). Share one clock between all sources of a graph.
    pub clock: Arc<dyn Clock>,
}

impl Default for CameraSettings {
    fn default() -> Self {
        Self {
            device: CameraDevice::default(),
            size: None,
            frame_rate: None,
            format: None,
            output: OutputFormat::default(),
            reopen: ReopenSettings::default(),
            clock: Arc::new(SystemClock::new()),
        }
    }
}

/// One way a camera can deliver frames.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraMode {
    /// The V4L2 four-character code (`MJPG`, `YUYV`, ...).
    pub format: String,
    /// The driver's description of the format.
    pub description: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames a second offered at this size (empty when the driver does not say).
    pub frame_rates: Vec<f64>,
}

/// A camera found by [`list_cameras`].
#[derive(Debug, Clone, PartialEq)]
pub struct CameraInfo {
    /// The device path to open it with ([`CameraDevice::Path`]).
    pub path: PathBuf,
    /// The driver's name for it.
    pub name: String,
    /// Formats and sizes it offers (empty when it could not be queried, for example busy).
    pub modes: Vec<CameraMode>,
}

/// Why cameras could not be listed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListCamerasError {
    /// The device directory could not be read.
    #[error("listing cameras: cannot read {}", path.display())]
    Io {
        /// The directory.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// Listing is not written for this system yet.
    #[error("listing cameras is not supported on this system yet")]
    Unsupported,
}

/// The cameras of this machine with their formats, sizes and rates. On Linux: every
/// `/dev/video*` node that captures video (queried with the V4L2 enumeration ioctls). An empty
/// list is not an error.
pub fn list_cameras() -> Result<Vec<CameraInfo>, ListCamerasError> {
    #[cfg(target_os = "linux")]
    {
        super::v4l2::list()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(ListCamerasError::Unsupported)
    }
}

/// A camera as a live video source: frames go to the targets with capture timestamps, on a
/// thread named `camera <device>`.
///
/// ```no_run
/// use std::sync::Arc;
/// use livekit_core::{Port, VideoTarget};
/// use livekit_sources::capture::{Camera, CameraDevice, CameraSettings, CameraFormat};
///
/// let preview = Port::latest();
/// let settings = CameraSettings {
///     device: CameraDevice::Index(0),
///     size: Some((1280, 720)),
///     frame_rate: Some(30),
///     format: Some(CameraFormat::Mjpeg),
///     ..Default::default()
/// };
/// let targets: Vec<Arc<dyn VideoTarget>> = vec![Arc::new(preview.clone())];
/// let capture = Camera::start(settings, targets)?;
/// # Ok::<(), livekit_sources::capture::StartCaptureError>(())
/// ```
#[derive(Debug)]
pub struct Camera;

impl Camera {
    /// Opens the camera and starts capturing into `targets`. Returns once the device is open,
    /// or with why it could not be (naming the device). Later failures (unplugged, busy) become
    /// [`CaptureEvent::Error`](super::CaptureEvent::Error) events followed by reopen attempts.
    pub fn start(
        settings: CameraSettings,
        targets: Vec<Arc<dyn VideoTarget>>,
    ) -> Result<VideoCapture, StartCaptureError> {
        let spec = spec(&settings)?;
        device::start(CaptureConfig {
            thread_name: format!("livekit.camera.{}", spec.label),
            spec,
            output: settings.output,
            reopen: settings.reopen,
            clock: settings.clock,
            targets,
            watcher: Box::new(NoWatcher),
            watch_every: Duration::from_secs(1),
        })
    }
}

fn spec(settings: &CameraSettings) -> Result<InputSpec, StartCaptureError> {
    if let CameraDevice::Lavfi(graph) = &settings.device {
        return Ok(InputSpec {
            input: "lavfi",
            url: graph.clone(),
            options: Vec::new(),
            label: format!("lavfi:{graph}"),
        });
    }
    let mut options = Vec::new();
    if let Some((width, height)) = settings.size {
        if width == 0 || height == 0 {
            return Err(StartCaptureError::InvalidSettings {
                device: describe(&settings.device),
                detail: format!("size {width}x{height}: each side must be above 0"),
            });
        }
        options.push(("video_size".to_string(), format!("{width}x{height}")));
    }
    if let Some(rate) = settings.frame_rate {
        if rate == 0 {
            return Err(StartCaptureError::InvalidSettings {
                device: describe(&settings.device),
                detail: "frame_rate 0: must be above 0".into(),
            });
        }
        options.push(("framerate".to_string(), rate.to_string()));
    }
    platform_spec(&settings.device, settings.format, options)
}

/// `spec()` handles lavfi graphs before the platform code; this keeps that code total.
fn lavfi_here(graph: &str) -> StartCaptureError {
    StartCaptureError::InvalidSettings {
        device: format!("lavfi:{graph}"),
        detail: "a lavfi graph is not a platform camera".into(),
    }
}

fn describe(device: &CameraDevice) -> String {
    match device {
        CameraDevice::Index(n) => format!("camera #{n}"),
        CameraDevice::Path(path) => path.display().to_string(),
        CameraDevice::Lavfi(graph) => format!("lavfi:{graph}"),
    }
}

#[cfg(target_os = "linux")]
fn platform_spec(
    device: &CameraDevice,
    format: Option<CameraFormat>,
    mut options: Vec<(String, String)>,
) -> Result<InputSpec, StartCaptureError> {
    let path = match device {
        CameraDevice::Index(n) => PathBuf::from(format!("/dev/video{n}")),
        CameraDevice::Path(path) => path.clone(),
        CameraDevice::Lavfi(graph) => return Err(lavfi_here(graph)),
    };
    if !path.exists() {
        return Err(StartCaptureError::NotFound {
            device: path.display().to_string(),
        });
    }
    if let Some(format) = format {
        options.push(("input_format".to_string(), format.ffmpeg_name().to_string()));
    }
    Ok(InputSpec {
        input: "v4l2",
        url: path.display().to_string(),
        options,
        label: path.display().to_string(),
    })
}

#[cfg(target_os = "macos")]
fn platform_spec(
    device: &CameraDevice,
    format: Option<CameraFormat>,
    mut options: Vec<(String, String)>,
) -> Result<InputSpec, StartCaptureError> {
    // Untested: AVFoundation names devices by index ("0:none" = video 0, no audio).
    let url = match device {
        CameraDevice::Index(n) => format!("{n}:none"),
        CameraDevice::Path(path) => format!("{}:none", path.display()),
        CameraDevice::Lavfi(graph) => return Err(lavfi_here(graph)),
    };
    if let Some(format) = format {
        options.push(("pixel_format".to_string(), format.ffmpeg_name().to_string()));
    }
    Ok(InputSpec {
        input: "avfoundation",
        label: format!("avfoundation:{url}"),
        url,
        options,
    })
}

#[cfg(target_os = "windows")]
fn platform_spec(
    device: &CameraDevice,
    format: Option<CameraFormat>,
    mut options: Vec<(String, String)>,
) -> Result<InputSpec, StartCaptureError> {
    // Untested: DirectShow opens cameras by name; an index picks among same-named devices.
    let url = match device {
        CameraDevice::Path(path) => format!("video={}", path.display()),
        CameraDevice::Index(n) => {
            options.push(("video_device_number".to_string(), n.to_string()));
            "video=".to_string()
        }
        CameraDevice::Lavfi(graph) => return Err(lavfi_here(graph)),
    };
    if let Some(format) = format {
        let key = if format == CameraFormat::Mjpeg || format == CameraFormat::H264 {
            "vcodec"
        } else {
            "pixel_format"
        };
        options.push((key.to_string(), format.ffmpeg_name().to_string()));
    }
    Ok(InputSpec {
        input: "dshow",
        label: format!("dshow:{url}"),
        url,
        options,
    })
}

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
fn platform_spec(
    device: &CameraDevice,
    _format: Option<CameraFormat>,
    _options: Vec<(String, String)>,
) -> Result<InputSpec, StartCaptureError> {
    Err(StartCaptureError::NoInputDevice {
        device: describe(device),
        input: "camera".into(),
    })
}
