//! The live preview of a canvas: JPEG pictures of its frames, small and a few a second, as an
//! MJPEG stream (`multipart/x-mixed-replace`, what an `<img>` plays) and as single snapshots.
//!
//! One thread per canvas being watched (`livekit.control.preview`) takes the canvas's frames
//! through a one-frame drop-oldest port, encodes at most [`PreviewSettings::fps`] pictures a
//! second and publishes the newest; every viewer reads the newest (a slow viewer skips
//! pictures, it never holds the others or the show). The thread stops a few seconds after its
//! last viewer leaves.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use livekit_core::thread::spawn_named;
use livekit_core::{FrameSource, Pull, VideoFrame};
use livekit_studio::{CommandError, Studio};
use parking_lot::Mutex;
use tokio::sync::watch;

/// How previews are made.
#[derive(Debug, Clone)]
pub struct PreviewSettings {
    /// The largest picture: frames are scaled down to fit (their shape kept). Default 640x360.
    pub max_size: (u32, u32),
    /// Pictures a second at most. Default 10.
    pub fps: u32,
    /// JPEG quality, 1 to 100. Default 70.
    pub quality: u8,
}

impl Default for PreviewSettings {
    fn default() -> Self {
        Self {
            max_size: (640, 360),
            fps: 10,
            quality: 70,
        }
    }
}

/// How long a preview thread goes on without viewers.
const IDLE: Duration = Duration::from_secs(3);

struct Feed {
    pictures: watch::Receiver<Option<Bytes>>,
    stop: Arc<AtomicBool>,
}

/// The previews being watched, by canvas.
pub(crate) struct Previews {
    settings: PreviewSettings,
    feeds: Arc<Mutex<HashMap<String, Feed>>>,
}

impl Previews {
    pub(crate) fn new(settings: PreviewSettings) -> Self {
        Self {
            settings,
            feeds: Arc::default(),
        }
    }

    /// The newest pictures of `canvas`, starting its preview if nobody watches it yet.
    pub(crate) fn watch(
        &self,
        studio: &Studio,
        canvas: &str,
    ) -> Result<watch::Receiver<Option<Bytes>>, CommandError> {
        let mut feeds = self.feeds.lock();
        if let Some(feed) = feeds.get(canvas)
            && !feed.stop.load(Ordering::Relaxed)
        {
            return Ok(feed.pictures.clone());
        }
        let frames = studio.frames(canvas, 1)?;
        let (sender, pictures) = watch::channel(None);
        let stop = Arc::new(AtomicBool::new(false));
        let settings = self.settings.clone();
        let thread_stop = stop.clone();
        let thread_feeds = self.feeds.clone();
        let name = canvas.to_owned();
        let spawned = spawn_named("livekit.control.preview", move || {
            let interval = Duration::from_secs_f64(1.0 / f64::from(settings.fps.max(1)));
            let mut last: Option<Instant> = None;
            let mut unwatched_since: Option<Instant> = None;
            while !thread_stop.load(Ordering::Relaxed) {
                // Only this thread's own receiver left: nobody watches.
                if sender.receiver_count() <= 1 {
                    let since = *unwatched_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= IDLE {
                        break;
                    }
                } else {
                    unwatched_since = None;
                }
                let frame = match frames.next(Duration::from_millis(200)) {
                    Pull::Frame(frame) => frame,
                    Pull::Pending => continue,
                    Pull::Ended => break,
                };
                if last.is_some_and(|t| t.elapsed() < interval) {
                    continue;
                }
                last = Some(Instant::now());
                match jpeg(&frame, &settings) {
                    Ok(picture) => {
                        sender.send_replace(Some(Bytes::from(picture)));
                    }
                    Err(error) => tracing::warn!("preview of canvas {name:?}: {error}"),
                }
            }
            thread_stop.store(true, Ordering::Relaxed);
            frames.close();
            let mut feeds = thread_feeds.lock();
            if feeds
                .get(&name)
                .is_some_and(|feed| Arc::ptr_eq(&feed.stop, &thread_stop))
            {
                feeds.remove(&name);
            }
        });
        if let Err(error) = spawned {
            return Err(CommandError {
                kind: livekit_studio::ErrorKind::Conflict,
                message: format!("cannot start the preview of canvas {canvas:?}: {error}"),
            });
        }
        feeds.insert(
            canvas.to_owned(),
            Feed {
                pictures: pictures.clone(),
                stop,
            },
        );
        Ok(pictures)
    }

    /// Ends every preview (their threads notice within a fifth of a second).
    pub(crate) fn stop_all(&self) {
        for feed in self.feeds.lock().values() {
            feed.stop.store(true, Ordering::Relaxed);
        }
    }
}

/// A frame as a JPEG picture no larger than the settings allow.
pub(crate) fn jpeg(frame: &VideoFrame, settings: &PreviewSettings) -> Result<Vec<u8>, String> {
    let rgba = livekit_core::convert::to_rgba(frame);
    let (width, height) = (rgba.width(), rgba.height());
    let image = image::RgbaImage::from_raw(width, height, rgba.to_packed_vec())
        .ok_or_else(|| "a frame of the wrong size".to_owned())?;
    let (max_w, max_h) = settings.max_size;
    let scale = f64::min(
        f64::from(max_w) / f64::from(width),
        f64::from(max_h) / f64::from(height),
    )
    .min(1.0);
    let image = if scale < 1.0 {
        let w = ((f64::from(width) * scale).round() as u32).max(1);
        let h = ((f64::from(height) * scale).round() as u32).max(1);
        image::imageops::thumbnail(&image, w, h)
    } else {
        image
    };
    let rgb = image::DynamicImage::ImageRgba8(image).to_rgb8();
    let mut out = Vec::with_capacity(32 * 1024);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, settings.quality.clamp(1, 100))
        .encode_image(&rgb)
        .map_err(|e| e.to_string())?;
    Ok(out)
}
