//! Video frames: a [`FrameLayout`] describes the planes, a [`VideoFrame`] shares them.

use std::fmt;
use std::sync::{Arc, LazyLock, Weak};
use std::time::Duration;

use crate::format::PixelFormat;
use crate::pool::PoolShared;

/// The most planes any [`PixelFormat`] has.
pub const MAX_PLANES: usize = 3;

/// The largest width or height a frame may have.
pub const MAX_DIMENSION: u32 = 1 << 16;

/// Why a frame could not be described or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Width or height is zero or larger than [`MAX_DIMENSION`].
    #[error("invalid frame size {width}x{height} (each side must be 1..={MAX_DIMENSION})")]
    InvalidSize {
        /// The width asked for.
        width: u32,
        /// The height asked for.
        height: u32,
    },
    /// A row alignment that is not a power of two.
    #[error("row alignment {0} is not a power of two")]
    InvalidAlignment(usize),
    /// Fewer or more strides than the format has planes, or a stride shorter than a row.
    #[error(
        "stride {stride} of plane {plane} is invalid for {format} at width {width} (needs at least {min} bytes)"
    )]
    InvalidStride {
        /// The plane index.
        plane: usize,
        /// The stride given (0 when it was missing).
        stride: usize,
        /// The shortest stride that holds one row.
        min: usize,
        /// The pixel format.
        format: PixelFormat,
        /// The frame width.
        width: u32,
    },
    /// The strides make the frame larger than memory can address.
    #[error("frame strides make the frame larger than memory can address")]
    TooLarge,
    /// The data given does not have the length the layout needs.
    #[error("frame data is {actual} bytes but a {layout} frame needs {expected}")]
    DataLength {
        /// Bytes needed.
        expected: usize,
        /// Bytes given.
        actual: usize,
        /// The layout, as text.
        layout: String,
    },
    /// A plane of [`ExternalPlanes`] is shorter than its stride times its rows.
    #[error("plane {plane} is {actual} bytes but a {layout} frame needs {expected} there")]
    PlaneLength {
        /// The plane index.
        plane: usize,
        /// Bytes needed.
        expected: usize,
        /// Bytes given.
        actual: usize,
        /// The layout, as text.
        layout: String,
    },
}

/// Everything about a frame but its pixels and timestamp: size, format, and where each plane
/// starts and how long its rows are (strides include any padding).
///
/// Planes are stored one after the other in one buffer (frames over [`ExternalPlanes`] use the
/// size, format and strides only).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameLayout {
    width: u32,
    height: u32,
    format: PixelFormat,
    strides: [usize; MAX_PLANES],
    offsets: [usize; MAX_PLANES],
    len: usize,
}

impl FrameLayout {
    /// Rows packed with no padding.
    pub fn new(width: u32, height: u32, format: PixelFormat) -> Result<Self, FrameError> {
        Self::with_alignment(width, height, format, 1)
    }

    /// Each row of each plane padded so that it starts at a multiple of `align` bytes (a power
    /// of two: 32 or 64 suit SIMD code, 256 suits GPU copies).
    pub fn with_alignment(
        width: u32,
        height: u32,
        format: PixelFormat,
        align: usize,
    ) -> Result<Self, FrameError> {
        if !align.is_power_of_two() {
            return Err(FrameError::InvalidAlignment(align));
        }
        check_size(width, height)?;
        let mut strides = [0; MAX_PLANES];
        for (plane, stride) in strides.iter_mut().enumerate().take(format.plane_count()) {
            *stride = format
                .plane_size(plane, width, height)
                .0
                .checked_next_multiple_of(align)
                .ok_or(FrameError::InvalidAlignment(align))?;
        }
        Self::with_strides(width, height, format, &strides[..format.plane_count()])
    }

    /// Explicit strides, one per plane (for example the line sizes a decoder hands out).
    pub fn with_strides(
        width: u32,
        height: u32,
        format: PixelFormat,
        strides: &[usize],
    ) -> Result<Self, FrameError> {
        check_size(width, height)?;
        let planes = format.plane_count();
        let mut layout = Self {
            width,
            height,
            format,
            strides: [0; MAX_PLANES],
            offsets: [0; MAX_PLANES],
            len: 0,
        };
        for plane in 0..planes.max(strides.len()) {
            let min = if plane < planes {
                format.plane_size(plane, width, height).0
            } else {
                0
            };
            let stride = strides.get(plane).copied().unwrap_or(0);
            if plane >= planes || stride < min {
                return Err(FrameError::InvalidStride {
                    plane,
                    stride,
                    min,
                    format,
                    width,
                });
            }
            let rows = format.plane_size(plane, width, height).1;
            layout.strides[plane] = stride;
            layout.offsets[plane] = layout.len;
            layout.len = stride
                .checked_mul(rows)
                .and_then(|bytes| bytes.checked_add(layout.len))
                .ok_or(FrameError::TooLarge)?;
        }
        Ok(layout)
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The pixel format.
    pub fn format(&self) -> PixelFormat {
        self.format
    }

    /// Number of planes.
    pub fn plane_count(&self) -> usize {
        self.format.plane_count()
    }

    /// Bytes from the start of one row of `plane` to the next.
    pub fn stride(&self, plane: usize) -> usize {
        self.strides[plane]
    }

    /// Byte offset of `plane` in the frame's buffer.
    pub fn offset(&self, plane: usize) -> usize {
        self.offsets[plane]
    }

    /// Rows in `plane`.
    pub fn rows(&self, plane: usize) -> usize {
        self.format.plane_size(plane, self.width, self.height).1
    }

    /// Bytes of pixels in one row of `plane`, without padding.
    pub fn row_bytes(&self, plane: usize) -> usize {
        self.format.plane_size(plane, self.width, self.height).0
    }

    /// Total bytes of the buffer.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a layout has at least one pixel. (Present for API symmetry with `len`.)
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn plane_range(&self, plane: usize) -> std::ops::Range<usize> {
        assert!(plane < self.plane_count(), "plane {plane} out of range");
        let start = self.offsets[plane];
        start..start + self.plane_len(plane)
    }

    /// Bytes of `plane`: stride times rows.
    fn plane_len(&self, plane: usize) -> usize {
        self.strides[plane] * self.rows(plane)
    }
}

impl fmt::Debug for FrameLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        let strides = &self.strides[..self.plane_count()];
        write!(f, " strides={strides:?} len={}", self.len)
    }
}

impl fmt::Display for FrameLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{} {}", self.width, self.height, self.format)
    }
}

fn check_size(width: u32, height: u32) -> Result<(), FrameError> {
    if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(FrameError::InvalidSize { width, height });
    }
    Ok(())
}

/// The bytes behind a frame. Pooled buffers go back to their pool when the last frame that
/// shares them is dropped.
pub(crate) struct Buffer {
    pub(crate) data: Vec<u8>,
    pub(crate) home: Weak<PoolShared>,
}

/// Planes that live outside livekit's buffers, shared by frames without a copy: for example a
/// decoder's reference-counted picture (`livekit-sources` wraps FFmpeg's `AVFrame` in one).
///
/// A frame made with [`VideoFrame::from_external`] keeps the value alive (in an `Arc`) for as
/// long as the frame or a clone of it lives, and drops it after the last one; the owner's own
/// `Drop` hands the memory back where it came from.
///
/// # Invariants
///
/// - [`plane`](Self::plane) returns the same bytes every time it is called, and those bytes do
///   not change while the value lives (frames are immutable and may be read from any thread).
/// - Plane `p` starts at its first row and is at least `stride(p) * rows(p)` bytes long for the
///   [`FrameLayout`] the frame is made with (checked once by
///   [`from_external`](VideoFrame::from_external); a shorter slice later would make reads
///   panic).
pub trait ExternalPlanes: Send + Sync + 'static {
    /// The bytes of plane `plane` (`0..layout.plane_count()`), from its first row on.
    fn plane(&self, plane: usize) -> &[u8];
}

/// Where a frame's pixels are: one buffer of ours (maybe pooled), or someone else's planes.
#[derive(Clone)]
enum Storage {
    Owned(Arc<Buffer>),
    External(Arc<dyn ExternalPlanes>),
}

/// Stands in for a buffer that was moved out in `Drop` (cloning it only bumps a count).
static EMPTY_BUFFER: LazyLock<Arc<Buffer>> = LazyLock::new(|| {
    Arc::new(Buffer {
        data: Vec::new(),
        home: Weak::new(),
    })
});

/// Takes `buffer` out of its holder and, when no one else shares it, gives it back to its pool.
fn release(slot: &mut Arc<Buffer>) {
    let mut buffer = std::mem::replace(slot, EMPTY_BUFFER.clone());
    if Arc::get_mut(&mut buffer).is_some()
        && let Some(pool) = buffer.home.upgrade()
    {
        pool.give_back(buffer);
    }
}

/// A video frame: layout, shared planes and a presentation timestamp.
///
/// Cloning is O(1): clones share the pixel buffer. Frames are immutable; build one with
/// [`VideoFrameMut`] (or a [`FramePool`](crate::FramePool)) and [`freeze`](VideoFrameMut::freeze) it.
/// ```
/// use std::time::Duration;
/// use livekit_core::{FrameLayout, PixelFormat, VideoFrame, VideoFrameMut};
///
/// # fn main() -> Result<(), livekit_core::FrameError> {
/// let layout = FrameLayout::new(64, 48, PixelFormat::Rgba8)?;
/// let mut frame = VideoFrameMut::new(layout, Duration::ZERO);
/// frame.row_mut(0, 0)[..4].copy_from_slice(&[255, 0, 0, 255]); // the top-left pixel, red
/// let frame: VideoFrame = frame.freeze();
/// let copy = frame.clone(); // O(1): the same pixels
/// assert!(copy.shares_buffer_with(&frame));
/// assert_eq!(frame.rgba_at(0, 0), Some([255, 0, 0, 255]));
/// # Ok(())
/// # }
/// ```
/// `Debug` prints the layout, never the pixels.
#[derive(Clone)]
pub struct VideoFrame {
    layout: FrameLayout,
    storage: Storage,
    pts: Duration,
}

impl VideoFrame {
    /// Wraps `data` laid out as `layout` (its length must be `layout.len()`).
    pub fn from_vec(layout: FrameLayout, data: Vec<u8>, pts: Duration) -> Result<Self, FrameError> {
        if data.len() != layout.len() {
            return Err(FrameError::DataLength {
                expected: layout.len(),
                actual: data.len(),
                layout: layout.to_string(),
            });
        }
        let buffer = Arc::new(Buffer {
            data,
            home: Weak::new(),
        });
        Ok(Self {
            layout,
            storage: Storage::Owned(buffer),
            pts,
        })
    }

    /// A frame over planes owned by `planes` (no copy): `layout` gives the size, format and
    /// strides (`FrameLayout::with_strides` with the owner's line sizes); its offsets and
    /// length are not used. Fails when a plane is shorter than
    /// `stride * rows` ([`FrameError::PlaneLength`]). See [`ExternalPlanes`] for what the owner
    /// promises.
    pub fn from_external(
        layout: FrameLayout,
        planes: Arc<dyn ExternalPlanes>,
        pts: Duration,
    ) -> Result<Self, FrameError> {
        for plane in 0..layout.plane_count() {
            let expected = layout.plane_len(plane);
            let actual = planes.plane(plane).len();
            if actual < expected {
                return Err(FrameError::PlaneLength {
                    plane,
                    expected,
                    actual,
                    layout: layout.to_string(),
                });
            }
        }
        Ok(Self {
            layout,
            storage: Storage::External(planes),
            pts,
        })
    }

    /// A frame of one colour, packed RGBA8 (`rgba` is straight alpha).
    pub fn solid_rgba(
        width: u32,
        height: u32,
        rgba: [u8; 4],
        pts: Duration,
    ) -> Result<Self, FrameError> {
        let layout = FrameLayout::new(width, height, PixelFormat::Rgba8)?;
        let data = rgba.repeat(width as usize * height as usize);
        Self::from_vec(layout, data, pts)
    }

    /// The layout.
    pub fn layout(&self) -> &FrameLayout {
        &self.layout
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.layout.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.layout.height
    }

    /// The pixel format.
    pub fn format(&self) -> PixelFormat {
        self.layout.format
    }

    /// Presentation time from the start of the stream.
    pub fn pts(&self) -> Duration {
        self.pts
    }

    /// The same pixels with another timestamp (O(1)).
    pub fn with_pts(mut self, pts: Duration) -> Self {
        self.pts = pts;
        self
    }

    /// Bytes from one row of `plane` to the next.
    pub fn stride(&self, plane: usize) -> usize {
        self.layout.stride(plane)
    }

    /// All bytes of `plane`, rows and padding. Panics if `plane` is out of range.
    pub fn plane(&self, plane: usize) -> &[u8] {
        match &self.storage {
            Storage::Owned(buffer) => &buffer.data[self.layout.plane_range(plane)],
            Storage::External(planes) => {
                let len = self.layout.plane_range(plane).len();
                &planes.plane(plane)[..len]
            }
        }
    }

    /// Row `y` of `plane` without padding. Panics if either is out of range.
    pub fn row(&self, plane: usize, y: usize) -> &[u8] {
        assert!(y < self.layout.rows(plane), "row {y} out of range");
        let start = y * self.layout.stride(plane);
        &self.plane(plane)[start..start + self.layout.row_bytes(plane)]
    }

    /// The whole buffer: all planes one after the other, as described by [`layout`](Self::layout);
    /// `None` for a frame over [`ExternalPlanes`] (its planes are apart: read them with
    /// [`plane`](Self::plane)).
    pub fn data(&self) -> Option<&[u8]> {
        match &self.storage {
            Storage::Owned(buffer) => Some(&buffer.data),
            Storage::External(_) => None,
        }
    }

    /// Whether the pixels are [`ExternalPlanes`] (for example a decoder's picture) rather than
    /// a buffer of ours.
    pub fn is_external(&self) -> bool {
        matches!(self.storage, Storage::External(_))
    }

    /// The pixel at (x, y) as RGBA for RGB formats; `None` for YUV formats or outside the frame.
    pub fn rgba_at(&self, x: u32, y: u32) -> Option<[u8; 4]> {
        if x >= self.width() || y >= self.height() {
            return None;
        }
        let i = x as usize * 4;
        let pixel = || -> Option<[u8; 4]> { self.row(0, y as usize)[i..i + 4].try_into().ok() };
        match self.format() {
            PixelFormat::Rgba8 => pixel(),
            PixelFormat::Bgra8 => pixel().map(|[b, g, r, a]| [r, g, b, a]),
            _ => None,
        }
    }

    /// Copies the pixels into rows with no padding (all planes one after the other).
    pub fn to_packed_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.layout.len);
        for plane in 0..self.layout.plane_count() {
            for y in 0..self.layout.rows(plane) {
                out.extend_from_slice(self.row(plane, y));
            }
        }
        out
    }

    /// Whether `other` shares this frame's buffer (it is a clone, not a copy).
    pub fn shares_buffer_with(&self, other: &VideoFrame) -> bool {
        match (&self.storage, &other.storage) {
            (Storage::Owned(a), Storage::Owned(b)) => Arc::ptr_eq(a, b),
            (Storage::External(a), Storage::External(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Gets the frame back for writing when no clone shares it; otherwise (and always for
    /// [`ExternalPlanes`], which are read-only) returns it unchanged.
    pub fn try_into_mut(mut self) -> Result<VideoFrameMut, Self> {
        let Storage::Owned(buffer) = &mut self.storage else {
            return Err(self);
        };
        if Arc::get_mut(buffer).is_none() {
            return Err(self);
        }
        let buffer = std::mem::replace(buffer, EMPTY_BUFFER.clone());
        Ok(VideoFrameMut {
            layout: self.layout,
            buffer,
            pts: self.pts,
        })
    }
}

impl Drop for VideoFrame {
    fn drop(&mut self) {
        if let Storage::Owned(buffer) = &mut self.storage {
            release(buffer);
        }
    }
}

impl fmt::Debug for VideoFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VideoFrame")
            .field("layout", &self.layout)
            .field("pts", &self.pts)
            .finish_non_exhaustive()
    }
}

/// A frame being written: it owns its buffer alone until [`freeze`](Self::freeze) makes it a
/// shareable [`VideoFrame`]. Its pixels are unspecified until written when it comes from a pool.
pub struct VideoFrameMut {
    layout: FrameLayout,
    buffer: Arc<Buffer>,
    pts: Duration,
}

impl VideoFrameMut {
    /// A new zeroed frame, not from a pool.
    pub fn new(layout: FrameLayout, pts: Duration) -> Self {
        let buffer = Arc::new(Buffer {
            data: vec![0; layout.len()],
            home: Weak::new(),
        });
        Self {
            layout,
            buffer,
            pts,
        }
    }

    pub(crate) fn from_buffer(layout: FrameLayout, buffer: Arc<Buffer>, pts: Duration) -> Self {
        Self {
            layout,
            buffer,
            pts,
        }
    }

    /// The layout.
    pub fn layout(&self) -> &FrameLayout {
        &self.layout
    }

    /// Presentation time from the start of the stream.
    pub fn pts(&self) -> Duration {
        self.pts
    }

    /// Sets the presentation time.
    pub fn set_pts(&mut self, pts: Duration) {
        self.pts = pts;
    }

    fn data_mut(&mut self) -> &mut [u8] {
        // Invariant: a VideoFrameMut is the only holder of its buffer (see the constructors).
        &mut Arc::get_mut(&mut self.buffer)
            .expect("a VideoFrameMut owns its buffer alone")
            .data
    }

    /// All bytes of `plane` for writing, rows and padding.
    pub fn plane_mut(&mut self, plane: usize) -> &mut [u8] {
        let range = self.layout.plane_range(plane);
        &mut self.data_mut()[range]
    }

    /// Row `y` of `plane` for writing, without padding.
    pub fn row_mut(&mut self, plane: usize, y: usize) -> &mut [u8] {
        assert!(y < self.layout.rows(plane), "row {y} out of range");
        let start = y * self.layout.stride(plane);
        let len = self.layout.row_bytes(plane);
        &mut self.plane_mut(plane)[start..start + len]
    }

    /// The whole buffer for writing.
    pub fn data_mut_all(&mut self) -> &mut [u8] {
        self.data_mut()
    }

    /// Copies packed rows (no padding, planes one after the other) into the frame.
    /// `packed` must hold exactly the frame's pixels.
    pub fn copy_from_packed(&mut self, packed: &[u8]) -> Result<(), FrameError> {
        let layout = self.layout;
        let expected: usize = (0..layout.plane_count())
            .map(|p| layout.row_bytes(p) * layout.rows(p))
            .sum();
        if packed.len() != expected {
            return Err(FrameError::DataLength {
                expected,
                actual: packed.len(),
                layout: layout.to_string(),
            });
        }
        let mut src = packed;
        for plane in 0..layout.plane_count() {
            let row_bytes = layout.row_bytes(plane);
            for y in 0..layout.rows(plane) {
                let (row, rest) = src.split_at(row_bytes);
                self.row_mut(plane, y).copy_from_slice(row);
                src = rest;
            }
        }
        Ok(())
    }

    /// Makes the frame shareable (O(1)).
    pub fn freeze(mut self) -> VideoFrame {
        let buffer = std::mem::replace(&mut self.buffer, EMPTY_BUFFER.clone());
        VideoFrame {
            layout: self.layout,
            storage: Storage::Owned(buffer),
            pts: self.pts,
        }
    }
}

impl Drop for VideoFrameMut {
    fn drop(&mut self) {
        release(&mut self.buffer);
    }
}

impl fmt::Debug for VideoFrameMut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VideoFrameMut")
            .field("layout", &self.layout)
            .field("pts", &self.pts)
            .finish_non_exhaustive()
    }
}
