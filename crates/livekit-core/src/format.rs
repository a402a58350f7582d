//! Pixel formats and the colour spaces that YUV formats carry.

use std::fmt;

/// The YUV -> RGB matrix of a YUV format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ColorMatrix {
    /// ITU-R BT.601 (standard definition, most webcams and JPEG).
    Bt601,
    /// ITU-R BT.709 (HD video; the default for anything 720p and up).
    #[default]
    Bt709,
}

/// The value range of a YUV format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ColorRange {
    /// "TV" range: Y in 16..=235, U/V in 16..=240 (what video encoders expect).
    #[default]
    Limited,
    /// "PC" range: all of 0..=255 (JPEG, many webcams' MJPEG).
    Full,
}

/// The colour space of a YUV frame: its matrix and its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ColorSpace {
    /// Which YUV -> RGB matrix applies.
    pub matrix: ColorMatrix,
    /// Which value range the samples use.
    pub range: ColorRange,
}

impl ColorSpace {
    /// BT.601, limited range.
    pub const BT601_LIMITED: Self = Self::new(ColorMatrix::Bt601, ColorRange::Limited);
    /// BT.601, full range (JPEG / MJPEG).
    pub const BT601_FULL: Self = Self::new(ColorMatrix::Bt601, ColorRange::Full);
    /// BT.709, limited range: what H.264 encoders expect for HD.
    pub const BT709_LIMITED: Self = Self::new(ColorMatrix::Bt709, ColorRange::Limited);
    /// BT.709, full range.
    pub const BT709_FULL: Self = Self::new(ColorMatrix::Bt709, ColorRange::Full);

    /// A colour space from its parts.
    pub const fn new(matrix: ColorMatrix, range: ColorRange) -> Self {
        Self { matrix, range }
    }
}

/// The layout of the pixels of a [`VideoFrame`](crate::VideoFrame).
///
/// RGB formats are 8 bits per channel, sRGB encoded, with straight (not premultiplied) alpha.
/// YUV formats are 8 bits per sample with 4:2:0 chroma subsampling; for odd sizes the chroma
/// planes are rounded up (`(width + 1) / 2`). They carry their [`ColorSpace`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PixelFormat {
    /// One plane, 4 bytes a pixel: R, G, B, A.
    Rgba8,
    /// One plane, 4 bytes a pixel: B, G, R, A (what many window systems and capture APIs give).
    Bgra8,
    /// Three planes: Y, then U and V at half width and half height.
    I420(ColorSpace),
    /// Two planes: Y, then interleaved U/V at half width and half height.
    Nv12(ColorSpace),
}

impl PixelFormat {
    /// How many planes a frame of this format has.
    pub const fn plane_count(self) -> usize {
        match self {
            Self::Rgba8 | Self::Bgra8 => 1,
            Self::I420(_) => 3,
            Self::Nv12(_) => 2,
        }
    }

    /// The colour space of a YUV format; `None` for RGB formats (which are sRGB).
    pub const fn color_space(self) -> Option<ColorSpace> {
        match self {
            Self::Rgba8 | Self::Bgra8 => None,
            Self::I420(cs) | Self::Nv12(cs) => Some(cs),
        }
    }

    /// Whether the format stores YUV samples.
    pub const fn is_yuv(self) -> bool {
        self.color_space().is_some()
    }

    /// Whether the format has an alpha channel.
    pub const fn has_alpha(self) -> bool {
        matches!(self, Self::Rgba8 | Self::Bgra8)
    }

    /// The size of plane `plane` of a `width` x `height` frame: (bytes in one row with no
    /// padding, number of rows). Panics if `plane >= plane_count()`.
    pub const fn plane_size(self, plane: usize, width: u32, height: u32) -> (usize, usize) {
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        match (self, plane) {
            (Self::Rgba8 | Self::Bgra8, 0) => (w * 4, h),
            (Self::I420(_) | Self::Nv12(_), 0) => (w, h),
            (Self::I420(_), 1 | 2) => (cw, ch),
            (Self::Nv12(_), 1) => (cw * 2, ch),
            _ => panic!("plane index out of range for this pixel format"),
        }
    }
}

impl fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let describe = |f: &mut fmt::Formatter<'_>, name: &str, cs: &ColorSpace| {
            let matrix = match cs.matrix {
                ColorMatrix::Bt601 => "bt601",
                ColorMatrix::Bt709 => "bt709",
            };
            let range = match cs.range {
                ColorRange::Limited => "limited",
                ColorRange::Full => "full",
            };
            write!(f, "{name} ({matrix}, {range})")
        };
        match self {
            Self::Rgba8 => f.write_str("rgba8"),
            Self::Bgra8 => f.write_str("bgra8"),
            Self::I420(cs) => describe(f, "i420", cs),
            Self::Nv12(cs) => describe(f, "nv12", cs),
        }
    }
}
