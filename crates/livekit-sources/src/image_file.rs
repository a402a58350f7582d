//! [`ImageFile`]: a still or animated image as a video source.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use image::codecs::gif::GifDecoder;
use image::codecs::png::PngDecoder;
use image::codecs::webp::WebPDecoder;
use image::error::{ImageError, LimitErrorKind};
use image::metadata::Orientation;
use image::{
    AnimationDecoder, DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbaImage,
};
use livekit_core::{
    Clock, FrameLayout, FrameSource, MAX_DIMENSION, PixelFormat, Pull, SystemClock, VideoFrame,
};
use parking_lot::Mutex;

/// The default largest width or height of an image, in pixels.
pub const DEFAULT_MAX_SIDE: u32 = 16384;

/// The default most memory the decoded frames of one animation may take.
pub const DEFAULT_MAX_ANIMATION_BYTES: u64 = 1 << 30;

/// Frame delays below this (in a GIF, 0 or 1 hundredths of a second) are shown for
/// [`DEFAULT_FRAME_DELAY`], as web browsers do.
pub const MIN_FRAME_DELAY: Duration = Duration::from_millis(20);

/// The delay used for animation frames that ask for less than [`MIN_FRAME_DELAY`].
pub const DEFAULT_FRAME_DELAY: Duration = Duration::from_millis(100);

/// Why an image file could not be opened. Each variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenImageError {
    /// There is no file at the path.
    #[error("image file {}: no such file", path.display())]
    NotFound {
        /// The path.
        path: PathBuf,
    },
    /// The file could not be read.
    #[error("image file {}: cannot read", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("image file {}: the file is empty", path.display())]
    Empty {
        /// The path.
        path: PathBuf,
    },
    /// The content is not an image format we read.
    #[error("image file {}: not a PNG, JPEG, GIF, WebP or BMP image", path.display())]
    UnknownFormat {
        /// The path.
        path: PathBuf,
    },
    /// The image format or a feature of it is not supported.
    #[error("image file {}: unsupported: {detail}", path.display())]
    Unsupported {
        /// The path.
        path: PathBuf,
        /// What is unsupported.
        detail: String,
    },
    /// The data is corrupt or the file is cut short.
    #[error("image file {}: corrupt or truncated {format} data: {detail}", path.display())]
    Corrupt {
        /// The path.
        path: PathBuf,
        /// The format the file claims to be.
        format: String,
        /// What the decoder said.
        detail: String,
    },
    /// The image is larger than [`ImageSettings::max_side`].
    #[error("image file {}: {width}x{height} is larger than the limit of {limit} px a side (ImageSettings::max_side)", path.display())]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// The image's width.
        width: u32,
        /// The image's height.
        height: u32,
        /// The limit.
        limit: u32,
    },
    /// The decoded animation would take more than [`ImageSettings::max_animation_bytes`].
    #[error("image file {}: the decoded animation needs more than {limit_mib} MiB (ImageSettings::max_animation_bytes)", path.display())]
    AnimationTooLarge {
        /// The path.
        path: PathBuf,
        /// The limit in MiB.
        limit_mib: u64,
    },
}

/// Settings of an [`ImageFile`].
#[derive(Debug, Clone)]
pub struct ImageSettings {
    /// Images wider or taller than this are refused with [`OpenImageError::TooLarge`] before
    /// they are decoded (they are never scaled down silently). Default [`DEFAULT_MAX_SIDE`];
    /// values above [`MAX_DIMENSION`] act as [`MAX_DIMENSION`].
    pub max_side: u32,
    /// The most memory the decoded frames of an animation may take. Default
    /// [`DEFAULT_MAX_ANIMATION_BYTES`] (1 GiB).
    pub max_animation_bytes: u64,
    /// Whether an animation starts over after its last frame (default `true`). When `false`,
    /// the source ends after the last frame's delay.
    pub looping: bool,
    /// The clock that times an animation (default: a [`SystemClock`]). Its time at the first
    /// read is the animation's start.
    pub clock: Arc<dyn Clock>,
}

impl Default for ImageSettings {
    fn default() -> Self {
        Self {
            max_side: DEFAULT_MAX_SIDE,
            max_animation_bytes: DEFAULT_MAX_ANIMATION_BYTES,
            looping: true,
            clock: Arc::new(SystemClock::new()),
        }
    }
}

/// One frame of an animation and how long it shows.
#[derive(Debug, Clone)]
struct Timed {
    frame: VideoFrame,
    /// When the frame starts, from the start of one pass of the animation.
    offset: Duration,
}

#[derive(Debug, Default)]
struct ReadState {
    /// Clock time of the first read.
    start: Option<Duration>,
    /// Absolute number (counting every pass) of the next frame `next` returns.
    next: u64,
    /// Absolute number of the last frame returned, if any.
    last: Option<u64>,
}

/// An image file as a [`VideoSource`](livekit_core::VideoSource) of RGBA8 frames.
///
/// PNG, JPEG, GIF, WebP and BMP are read with the `image` crate. Alpha is kept (straight, not
/// premultiplied), the EXIF orientation of JPEG (and PNG/WebP) images is applied, and images
/// larger than [`ImageSettings::max_side`] are refused, never scaled down.
///
/// A still image is a stream of one frame (pts 0): the first read returns it, later reads
/// return [`Pull::Ended`]; [`frame`](Self::frame) gives it at any time. An animated GIF, WebP
/// or PNG (APNG) plays with its own frame delays on [`ImageSettings::clock`]:
/// [`latest`](FrameSource::latest) returns the frame for the clock's time (once),
/// [`next`](FrameSource::next) waits for the next frame's time. Timestamps keep rising across
/// loops.
///
/// ```no_run
/// use livekit_sources::ImageFile;
///
/// let logo = ImageFile::open("logo.png")?;
/// println!("{}x{}, animated: {}", logo.width(), logo.height(), logo.is_animated());
/// # Ok::<(), livekit_sources::OpenImageError>(())
/// ```
#[derive(Debug)]
pub struct ImageFile {
    path: PathBuf,
    frames: Vec<Timed>,
    /// One pass of the animation (zero for a still).
    period: Duration,
    looping: bool,
    clock: Arc<dyn Clock>,
    cursor: Mutex<ReadState>,
}

impl ImageFile {
    /// Opens an image with the default [`ImageSettings`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OpenImageError> {
        Self::open_with(path, ImageSettings::default())
    }

    /// Opens an image with `settings`.
    pub fn open_with(
        path: impl AsRef<Path>,
        settings: ImageSettings,
    ) -> Result<Self, OpenImageError> {
        let path = path.as_ref().to_path_buf();
        let bytes = std::fs::read(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => OpenImageError::NotFound { path: path.clone() },
            _ => OpenImageError::Io {
                path: path.clone(),
                source,
            },
        })?;
        Self::from_memory(path, &bytes, settings)
    }

    /// Decodes an image held in memory (an embedded asset, say); `name` stands for the file in
    /// errors and in [`path`](Self::path).
    pub fn from_memory(
        name: impl Into<PathBuf>,
        bytes: &[u8],
        settings: ImageSettings,
    ) -> Result<Self, OpenImageError> {
        let path = name.into();
        let frames = decode(&path, bytes, &settings)?;
        let mut offset = Duration::ZERO;
        let frames: Vec<Timed> = frames
            .into_iter()
            .map(|(frame, delay)| {
                let timed = Timed {
                    frame: frame.with_pts(offset),
                    offset,
                };
                offset += delay;
                timed
            })
            .collect();
        let period = if frames.len() > 1 {
            offset
        } else {
            Duration::ZERO
        };
        tracing::debug!(path = %path.display(), frames = frames.len(), ?period, "image opened");
        Ok(Self {
            path,
            frames,
            period,
            looping: settings.looping,
            clock: settings.clock,
            cursor: Mutex::new(ReadState::default()),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Width in pixels (after EXIF orientation).
    pub fn width(&self) -> u32 {
        self.frames[0].frame.width()
    }

    /// Height in pixels (after EXIF orientation).
    pub fn height(&self) -> u32 {
        self.frames[0].frame.height()
    }

    /// Whether the image has more than one frame.
    pub fn is_animated(&self) -> bool {
        self.frames.len() > 1
    }

    /// The first (for a still, the only) frame, RGBA8 with pts 0.
    pub fn frame(&self) -> &VideoFrame {
        &self.frames[0].frame
    }

    /// Number of frames in one pass of the animation (1 for a still).
    pub fn frame_count(&self) -> usize {
        self.frames.len()
    }

    /// How long one pass of the animation lasts (zero for a still).
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Frame `n` counting every pass, and its timestamp; `None` past the end of a
    /// non-looping animation.
    fn nth(&self, n: u64) -> Option<VideoFrame> {
        let count = self.frames.len() as u64;
        if (!self.looping || count == 1) && n >= count {
            return None;
        }
        let timed = &self.frames[(n % count) as usize];
        let pts = self.period.as_nanos() * u128::from(n / count) + timed.offset.as_nanos();
        Some(timed.frame.clone().with_pts(duration_from_nanos(pts)))
    }

    /// The absolute number of the frame showing at `elapsed` from the start.
    fn index_at(&self, elapsed: Duration) -> u64 {
        let count = self.frames.len() as u64;
        if count == 1 || self.period.is_zero() {
            return 0;
        }
        let period = self.period.as_nanos();
        let passes = elapsed.as_nanos() / period;
        if !self.looping && passes > 0 {
            return count; // past the end
        }
        let within = duration_from_nanos(elapsed.as_nanos() % period);
        let i = self
            .frames
            .partition_point(|t| t.offset <= within)
            .saturating_sub(1);
        u64::try_from(passes)
            .unwrap_or(u64::MAX)
            .saturating_mul(count)
            .saturating_add(i as u64)
    }

    fn started(&self, cursor: &mut ReadState) -> Duration {
        *cursor.start.get_or_insert_with(|| self.clock.now())
    }
}

impl FrameSource<VideoFrame> for ImageFile {
    fn latest(&self) -> Pull<VideoFrame> {
        let mut cursor = self.cursor.lock();
        let start = self.started(&mut cursor);
        let n = self.index_at(self.clock.now().saturating_sub(start));
        if cursor.last.is_some_and(|last| last >= n) {
            return if self.frames.len() == 1 {
                Pull::Ended
            } else {
                Pull::Pending
            };
        }
        match self.nth(n) {
            Some(frame) => {
                cursor.last = Some(n);
                cursor.next = n.saturating_add(1);
                Pull::Frame(frame)
            }
            None => Pull::Ended,
        }
    }

    fn next(&self, timeout: Duration) -> Pull<VideoFrame> {
        let mut cursor = self.cursor.lock();
        let start = self.started(&mut cursor);
        let n = cursor.next;
        let Some(frame) = self.nth(n) else {
            // A non-looping animation ends when its last frame's time is over.
            if self.frames.len() > 1
                && !self
                    .clock
                    .wait_until(start.saturating_add(self.period), timeout)
            {
                return Pull::Pending;
            }
            return Pull::Ended;
        };
        if !self
            .clock
            .wait_until(start.saturating_add(frame.pts()), timeout)
        {
            return Pull::Pending;
        }
        cursor.last = Some(n);
        cursor.next = n.saturating_add(1);
        Pull::Frame(frame)
    }
}

fn decode(
    path: &Path,
    bytes: &[u8],
    settings: &ImageSettings,
) -> Result<Vec<(VideoFrame, Duration)>, OpenImageError> {
    if bytes.is_empty() {
        return Err(OpenImageError::Empty {
            path: path.to_path_buf(),
        });
    }
    let format = image::guess_format(bytes).map_err(|_| OpenImageError::UnknownFormat {
        path: path.to_path_buf(),
    })?;
    // A frame cannot be larger than MAX_DIMENSION a side, whatever the setting says.
    let max_side = settings.max_side.min(MAX_DIMENSION);
    let fail = |error: ImageError| map_error(path, format, error, max_side);
    let mut limits = Limits::default();
    limits.max_image_width = Some(max_side);
    limits.max_image_height = Some(max_side);
    // Sizes are bounded by `max_side`: allow the decoder twice the largest RGBA frame.
    limits.max_alloc = Some(8 * u64::from(max_side).pow(2));

    let check = |(width, height): (u32, u32)| {
        if width > max_side || height > max_side {
            return Err(OpenImageError::TooLarge {
                path: path.to_path_buf(),
                width,
                height,
                limit: max_side,
            });
        }
        Ok(())
    };

    let animation = match format {
        ImageFormat::Gif => {
            let mut decoder = GifDecoder::new(Cursor::new(bytes)).map_err(fail)?;
            check(decoder.dimensions())?;
            decoder.set_limits(limits.clone()).map_err(fail)?;
            Some(decoder.into_frames())
        }
        ImageFormat::WebP => {
            let mut decoder = WebPDecoder::new(Cursor::new(bytes)).map_err(fail)?;
            check(decoder.dimensions())?;
            if decoder.has_animation() {
                decoder.set_limits(limits.clone()).map_err(fail)?;
                Some(decoder.into_frames())
            } else {
                None
            }
        }
        ImageFormat::Png => {
            let decoder = PngDecoder::new(Cursor::new(bytes)).map_err(fail)?;
            check(decoder.dimensions())?;
            if decoder.is_apng().map_err(fail)? {
                Some(decoder.apng().map_err(fail)?.into_frames())
            } else {
                None
            }
        }
        _ => None,
    };

    if let Some(frames) = animation {
        let mut out = Vec::new();
        let mut total: u64 = 0;
        for frame in frames {
            let frame = frame.map_err(fail)?;
            let (numer, denom) = frame.delay().numer_denom_ms();
            let mut delay =
                Duration::from_secs_f64(f64::from(numer) / f64::from(denom.max(1)) / 1000.0);
            if delay < MIN_FRAME_DELAY {
                delay = DEFAULT_FRAME_DELAY;
            }
            let buffer = frame.into_buffer();
            total += buffer.as_raw().len() as u64;
            if total > settings.max_animation_bytes {
                return Err(OpenImageError::AnimationTooLarge {
                    path: path.to_path_buf(),
                    limit_mib: settings.max_animation_bytes >> 20,
                });
            }
            out.push((to_frame(buffer), delay));
        }
        if !out.is_empty() {
            return Ok(out);
        }
        // An animation with no frames: fall back to the still image below.
    }

    // Read the size from the header first, so that an image over the limit is refused with its
    // size before anything is decoded.
    let mut header = ImageReader::with_format(Cursor::new(bytes), format);
    header.no_limits();
    check(header.into_dimensions().map_err(fail)?)?;
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        // The JPEG decoder fills a cut-off image with grey instead of failing.
        return Err(fail(ImageError::IoError(
            std::io::ErrorKind::UnexpectedEof.into(),
        )));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(fail)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(fail)?;
    image.apply_orientation(orientation);
    Ok(vec![(to_frame(image.into_rgba8()), Duration::ZERO)])
}

/// Whether a JPEG's marker segments run all the way to its end-of-image marker (a file cut
/// short ends inside a segment or inside entropy-coded data).
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    const SOS: u8 = 0xda;
    const EOI: u8 = 0xd9;
    let mut i = 2; // after SOI
    while i + 1 < bytes.len() {
        if bytes[i] != 0xff {
            return false;
        }
        let marker = bytes[i + 1];
        match marker {
            EOI => return true,
            0xff => i += 1,               // fill byte
            0x01 | 0xd0..=0xd7 => i += 2, // markers without a length
            _ => {
                let Some(len) = bytes.get(i + 2..i + 4) else {
                    return false;
                };
                i += 2 + usize::from(u16::from_be_bytes([len[0], len[1]]));
                if marker == SOS {
                    // Entropy-coded data: runs until a 0xff that is not stuffing (00) or a
                    // restart marker (d0..d7).
                    loop {
                        match bytes.get(i..i + 2) {
                            None => return false,
                            Some([0xff, 0x00 | 0xd0..=0xd7]) => i += 2,
                            Some([0xff, _]) => break,
                            Some(_) => i += 1,
                        }
                    }
                }
            }
        }
    }
    false
}

fn to_frame(image: RgbaImage) -> VideoFrame {
    let (width, height) = image.dimensions();
    // The dimensions were checked against `max_side` (<= MAX_DIMENSION) and the buffer is
    // exactly width * height * 4 bytes, so both calls succeed.
    let layout =
        FrameLayout::new(width, height, PixelFormat::Rgba8).expect("image size was checked");
    VideoFrame::from_vec(layout, image.into_raw(), Duration::ZERO)
        .expect("RGBA buffer matches its layout")
}

/// A duration from nanoseconds, saturating (u128 nanoseconds outlast `Duration`).
fn duration_from_nanos(nanos: u128) -> Duration {
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    Duration::new(secs, (nanos % 1_000_000_000) as u32)
}

/// A decoder's message on one line (some end with a newline or span several).
fn one_line(message: impl std::fmt::Display) -> String {
    message
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn map_error(path: &Path, format: ImageFormat, error: ImageError, max_side: u32) -> OpenImageError {
    let path = path.to_path_buf();
    let format = format!("{format:?}").to_uppercase();
    match error {
        ImageError::Limits(limit) => match limit.kind() {
            LimitErrorKind::DimensionError => OpenImageError::TooLarge {
                path,
                width: 0,
                height: 0,
                limit: max_side,
            },
            _ => OpenImageError::Corrupt {
                path,
                format,
                detail: one_line(limit),
            },
        },
        ImageError::Unsupported(e) => OpenImageError::Unsupported {
            path,
            detail: one_line(e),
        },
        ImageError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            OpenImageError::Corrupt {
                path,
                format,
                detail: "the file ends too early".into(),
            }
        }
        other => OpenImageError::Corrupt {
            path,
            format,
            detail: one_line(other),
        },
    }
}
