//! Live capture: cameras, the screen, one window, microphones.
//!
//! Video capture (camera, screen, window) goes through one path (the private `device` module): FFmpeg's
//! libavdevice opens an input device by name (`v4l2`, `x11grab`, `lavfi`, and on other systems
//! `avfoundation`, `dshow`, `gdigrab`), a named thread reads, decodes and converts each frame,
//! stamps it with the capture clock and pushes it to the targets. The per-platform part is only
//! *which* device name, URL and options an `InputSpec` holds, so macOS and
//! Windows add a `cfg` arm in `camera.rs` / `screen.rs`, not a new pipeline.
//!
//! Microphones use cpal (its PulseAudio host where PulseAudio runs, ALSA otherwise).
//!
//! A device that fails mid-stream (unplugged, gone, silent) does not end the stream: the
//! capture reports it ([`CaptureEvent::Error`]), reopens the same device every
//! [`ReopenSettings::interval`] ([`CaptureEvent::Reopening`]) and goes on when it is back
//! ([`CaptureEvent::Started`], [`CaptureEvent::AudioStarted`]). Meanwhile a video capture's
//! targets keep their last frame (nothing is pushed) and a microphone pushes silence.

pub(crate) mod device;

mod camera;
mod microphone;
mod screen;
#[cfg(target_os = "linux")]
mod v4l2;
mod window;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use livekit_core::thread::{Worker, WorkerPanicked};

pub use camera::{
    Camera, CameraDevice, CameraFormat, CameraInfo, CameraMode, CameraSettings, ListCamerasError,
    list_cameras,
};
pub use device::StartCaptureError;
pub use livekit_av::AudioHost;
pub use microphone::{
    InputDeviceInfo, ListAudioDevicesError, Microphone, MicrophoneSettings, MicrophoneStats,
    OpenMicrophoneError, list_input_devices,
};
pub use screen::{Region, ScreenCapture, ScreenSettings, x11_display};
pub use window::{
    DisplayInfo, WindowCapture, WindowInfo, WindowSelector, WindowSettings, describe_display,
};

/// How many events a capture keeps for a reader that does not read them; newer events are
/// dropped (and counted in [`CaptureStats::events_dropped`]) when the queue is full.
pub const EVENT_QUEUE: usize = 64;

/// The pixel format capture frames are delivered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Planar YUV 4:2:0. A device that already gives 4:2:0 (most MJPEG cameras after decoding,
    /// lavfi sources) is copied as it is, keeping its range and matrix; anything else is
    /// converted by swscale to BT.601 limited range.
    #[default]
    I420,
    /// Semi-planar YUV 4:2:0 (what hardware encoders like), same rules as [`Self::I420`].
    Nv12,
    /// Packed B, G, R, A (what X11 gives: screen capture is copied without conversion).
    Bgra8,
    /// Packed R, G, B, A.
    Rgba8,
}

/// How a capture (video or a microphone) retries after its device fails (unplugged, busy,
/// gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReopenSettings {
    /// The wait between two attempts. Default 1 s.
    pub interval: Duration,
    /// How many attempts in a row before the capture gives up and ends its stream; `None`
    /// retries until it is stopped ([`VideoCapture::stop`], [`Microphone::stop`]). Default
    /// `None`.
    pub max_attempts: Option<u32>,
    /// A device that answers but gives no frame for this long counts as failed (a lost X
    /// display makes x11grab answer "try again" for ever; PulseAudio through ALSA's plugin
    /// may just stop calling back). Default 3 s ([`MicrophoneSettings`]: 2 s).
    pub stall_timeout: Duration,
}

impl Default for ReopenSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            max_attempts: None,
            stall_timeout: Duration::from_secs(3),
        }
    }
}

/// Something that happened to a running capture. Read them from [`VideoCapture::events`] or
/// [`Microphone::events`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CaptureEvent {
    /// The device was opened (again) and delivers frames of this size.
    Started {
        /// The device (path, display, window or lavfi graph).
        device: String,
        /// Width of the frames.
        width: u32,
        /// Height of the frames.
        height: u32,
        /// The device's own pixel format or codec (`yuyv422`, `mjpeg`, `bgr0`, ...).
        device_format: String,
    },
    /// A microphone was opened (again) and delivers sound.
    AudioStarted {
        /// The device's id.
        device: String,
        /// The device's own sample rate.
        sample_rate: u32,
        /// The device's own channel count.
        channels: u16,
    },
    /// Reading failed (or a microphone was lost); the capture tries to reopen the device (see
    /// [`ReopenSettings`]).
    Error {
        /// The device.
        device: String,
        /// What went wrong, in one line.
        message: String,
    },
    /// One more attempt at opening the device after an error.
    Reopening {
        /// The device.
        device: String,
        /// 1 for the first retry.
        attempt: u32,
    },
    /// The captured window changed size; capture goes on at the new size.
    WindowResized {
        /// The X11 window id.
        window: u32,
        /// New width.
        width: u32,
        /// New height.
        height: u32,
    },
    /// The captured window was minimized or unmapped; no frames come until it is shown again.
    WindowHidden {
        /// The X11 window id.
        window: u32,
    },
    /// The captured window is shown again.
    WindowShown {
        /// The X11 window id.
        window: u32,
    },
    /// The captured window was closed (destroyed); the stream ends.
    WindowClosed {
        /// The X11 window id.
        window: u32,
    },
    /// The capture ended and wrote end-of-stream to its targets.
    Ended {
        /// The device.
        device: String,
        /// Why, in one line.
        reason: String,
    },
}

/// Counters of a running capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CaptureStats {
    /// Frames pushed to the targets.
    pub frames: u64,
    /// Times the device failed while running.
    pub errors: u64,
    /// Events not queued because nobody read them.
    pub events_dropped: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    frames: AtomicU64,
    errors: AtomicU64,
    events_dropped: AtomicU64,
}

/// Sends events without ever blocking the capture thread.
#[derive(Debug, Clone)]
pub(crate) struct Events {
    tx: Sender<CaptureEvent>,
    counters: Arc<Counters>,
}

impl Events {
    pub(crate) fn new() -> (Self, Receiver<CaptureEvent>, Arc<Counters>) {
        let (tx, rx) = crossbeam_channel::bounded(EVENT_QUEUE);
        let counters = Arc::new(Counters::default());
        (
            Self {
                tx,
                counters: counters.clone(),
            },
            rx,
            counters,
        )
    }

    pub(crate) fn send(&self, event: CaptureEvent) {
        match &event {
            CaptureEvent::Error { device, message } => {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                // The one report of it: whoever reads the events need not log it again
                // (and a capture whose events nobody reads still shows its errors).
                tracing::warn!("{device}: {message}");
            }
            other => tracing::debug!(event = ?other, "capture event"),
        }
        if self.tx.try_send(event).is_err() {
            self.counters.events_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn frame_pushed(&self) {
        self.counters.frames.fetch_add(1, Ordering::Relaxed);
    }
}

/// A running video capture (camera, screen or window): frames flow to its targets until
/// [`stop`](Self::stop), the end of a finite source, or a closed window.
#[derive(Debug)]
pub struct VideoCapture {
    name: String,
    worker: Option<Worker<()>>,
    stop: Arc<AtomicBool>,
    events: Receiver<CaptureEvent>,
    counters: Arc<Counters>,
}

impl VideoCapture {
    pub(crate) fn new(
        name: String,
        worker: Worker<()>,
        stop: Arc<AtomicBool>,
        events: Receiver<CaptureEvent>,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            name,
            worker: Some(worker),
            stop,
            events,
            counters,
        }
    }

    /// The device this capture reads, as shown in events and errors.
    pub fn device(&self) -> &str {
        &self.name
    }

    /// The events of this capture (errors, reopen attempts, window changes, the end).
    pub fn events(&self) -> &Receiver<CaptureEvent> {
        &self.events
    }

    /// The counters now.
    pub fn stats(&self) -> CaptureStats {
        CaptureStats {
            frames: self.counters.frames.load(Ordering::Relaxed),
            errors: self.counters.errors.load(Ordering::Relaxed),
            events_dropped: self.counters.events_dropped.load(Ordering::Relaxed),
        }
    }

    /// Whether the capture thread has finished (the source ended or the window closed).
    pub fn is_finished(&self) -> bool {
        self.worker.as_ref().is_none_or(Worker::is_finished)
    }

    /// Stops capturing after the frame being read, writes end-of-stream to the targets and
    /// waits for the thread.
    pub fn stop(mut self) -> Result<CaptureStats, WorkerPanicked> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<CaptureStats, WorkerPanicked> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(worker) = self.worker.take() {
            worker.join()?;
        }
        Ok(self.stats())
    }
}

impl Drop for VideoCapture {
    fn drop(&mut self) {
        if let Err(error) = self.stop_inner() {
            tracing::error!(%error, device = self.name, "capture thread panicked");
        }
    }
}
