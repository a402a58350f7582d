//! The live preview of a canvas: JPEG pictures of its frames, small and a few a second, as an
//! MJPEG stream (`multipart/x-mixed-replace`, what an `<img>` plays) and as single snapshots.
//!
//! One thread per canvas being watched (`livekit.preview`) takes the canvas's frames
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
use livekit_core::{FrameSource, PixelFormat, Pull, VideoFrame};
use livekit_studio::Studio;

use crate::api::ApiError;
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
    ) -> Result<watch::Receiver<Option<Bytes>>, ApiError> {
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
        let spawned = spawn_named("livekit.preview", move || {
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
            return Err(ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("cannot start the preview of canvas {canvas:?}: {error}"),
            ));
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

/// The size a `width` x `height` frame is shown at: scaled down to fit `max`, its shape kept.
fn fitted((width, height): (u32, u32), (max_w, max_h): (u32, u32)) -> (u32, u32) {
    let scale = f64::min(
        f64::from(max_w) / f64::from(width),
        f64::from(max_h) / f64::from(height),
    )
    .min(1.0);
    (
        ((f64::from(width) * scale).round() as u32).max(1),
        ((f64::from(height) * scale).round() as u32).max(1),
    )
}

/// An RGBA or BGRA frame sampled down to `size` (the nearest pixel: a monitor's picture, read
/// straight from the frame with no full-size conversion); `None` for other formats.
fn sampled(frame: &VideoFrame, (width, height): (u32, u32)) -> Option<image::RgbImage> {
    let bgra = match frame.format() {
        PixelFormat::Rgba8 => false,
        PixelFormat::Bgra8 => true,
        _ => return None,
    };
    let (source_w, source_h) = (u64::from(frame.width()), u64::from(frame.height()));
    // The centre of each output pixel, in source pixels.
    let columns: Vec<usize> = (0..u64::from(width))
        .map(|x| ((2 * x + 1) * source_w / (2 * u64::from(width))) as usize * 4)
        .collect();
    let mut out = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..u64::from(height) {
        let row = frame.row(
            0,
            ((2 * y + 1) * source_h / (2 * u64::from(height))) as usize,
        );
        for &i in &columns {
            let p = row.get(i..i + 4)?;
            if bgra {
                out.extend_from_slice(&[p[2], p[1], p[0]]);
            } else {
                out.extend_from_slice(&p[..3]);
            }
        }
    }
    image::RgbImage::from_raw(width, height, out)
}

/// A frame as a JPEG picture no larger than the settings allow.
pub(crate) fn jpeg(frame: &VideoFrame, settings: &PreviewSettings) -> Result<Vec<u8>, String> {
    let size = fitted((frame.width(), frame.height()), settings.max_size);
    let rgb = match sampled(frame, size) {
        Some(rgb) => rgb,
        None => {
            // YUV: converted whole, then scaled.
            let rgba = livekit_core::convert::to_rgba(frame);
            let image =
                image::RgbaImage::from_raw(rgba.width(), rgba.height(), rgba.to_packed_vec())
                    .ok_or_else(|| "a frame of the wrong size".to_owned())?;
            let image = if size == (rgba.width(), rgba.height()) {
                image
            } else {
                image::imageops::thumbnail(&image, size.0, size.1)
            };
            image::DynamicImage::ImageRgba8(image).to_rgb8()
        }
    };
    let mut out = Vec::with_capacity(32 * 1024);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, settings.quality.clamp(1, 100))
        .encode_image(&rgb)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_fitted_and_sampled_in_their_colours() {
        assert_eq!(fitted((1920, 1080), (640, 360)), (640, 360));
        assert_eq!(fitted((1080, 1920), (640, 360)), (203, 360));
        assert_eq!(fitted((320, 180), (640, 360)), (320, 180));
        let frame =
            VideoFrame::solid_rgba(1920, 1080, [10, 200, 30, 255], std::time::Duration::ZERO)
                .expect("a frame");
        let rgb = sampled(&frame, (640, 360)).expect("RGBA is sampled");
        assert_eq!(rgb.dimensions(), (640, 360));
        assert_eq!(rgb.get_pixel(639, 359).0, [10, 200, 30]);
        let picture = jpeg(&frame, &PreviewSettings::default()).expect("a JPEG");
        let decoded = image::load_from_memory(&picture)
            .expect("decodes")
            .to_rgb8();
        assert_eq!(decoded.dimensions(), (640, 360));
        let p = decoded.get_pixel(320, 180).0;
        assert!(p[1] > 180 && p[0] < 40 && p[2] < 60, "{p:?}");
    }
}
