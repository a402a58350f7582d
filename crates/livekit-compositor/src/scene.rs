//! The scene model: canvases, scenes, layers and what a layer shows.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use livekit_core::{ColorSpace, VideoFrame, VideoSource};

use crate::color::Color;
use crate::text::Text;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// A live video input shared by layers: the same `VideoInput` (or a clone of it) used by several
/// layers or canvases is read once per frame.
#[derive(Clone)]
pub struct VideoInput {
    id: InputId,
    source: Arc<dyn VideoSource>,
}

impl VideoInput {
    /// Wraps a source.
    pub fn new(source: Arc<dyn VideoSource>) -> Self {
        Self {
            id: InputId(next_id()),
            source,
        }
    }

    /// This input's id (the key of its frames in [`InputFrames`](crate::InputFrames)).
    pub fn id(&self) -> InputId {
        self.id
    }

    /// The source frames are read from.
    pub fn source(&self) -> &Arc<dyn VideoSource> {
        &self.source
    }
}

impl fmt::Debug for VideoInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("VideoInput").field(&self.id.0).finish()
    }
}

/// Identifies a [`VideoInput`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InputId(pub(crate) u64);

/// Identifies a layer, unique across canvases and scenes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LayerId(pub(crate) u64);

impl LayerId {
    pub(crate) fn fresh() -> Self {
        Self(next_id())
    }
}

impl fmt::Display for LayerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "layer {}", self.0)
    }
}

/// Identifies a canvas of a [`Compositor`](crate::Compositor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CanvasId(pub(crate) usize);

/// A built-in test pattern. Its name in scene files and studio commands is in lower case
/// (`"smpte"`, `"bars"`, `"gradient"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestPattern {
    /// SMPTE colour bars (seven bars over the castellations and the PLUGE row).
    Smpte,
    /// Eight full-height bars: white, yellow, cyan, green, magenta, red, blue, black.
    Bars,
    /// A horizontal black-to-white ramp over a vertical red ramp.
    Gradient,
}

/// What a layer shows.
#[derive(Clone)]
#[non_exhaustive]
pub enum LayerSource {
    /// The latest frame of a live source (a camera, a player, another canvas).
    Video(VideoInput),
    /// A solid colour (its alpha multiplies the layer's opacity).
    Color(Color),
    /// Text drawn with the bundled font.
    Text(Text),
    /// A still picture.
    Image(VideoFrame),
    /// A generated test pattern, drawn at the layer's size.
    Pattern(TestPattern),
}

impl LayerSource {
    /// A live source (shorthand for `LayerSource::Video(VideoInput::new(source))`).
    pub fn video(source: Arc<dyn VideoSource>) -> Self {
        Self::Video(VideoInput::new(source))
    }
}

impl fmt::Debug for LayerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Video(input) => input.fmt(f),
            Self::Color(color) => write!(f, "Color({color})"),
            Self::Text(text) => f.debug_tuple("Text").field(&text.text).finish(),
            Self::Image(frame) => f.debug_tuple("Image").field(frame).finish(),
            Self::Pattern(pattern) => f.debug_tuple("Pattern").field(pattern).finish(),
        }
    }
}

/// A rectangle on the canvas, in canvas pixels (may reach outside the canvas).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Rect {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width, > 0.
    pub w: f32,
    /// Height, > 0.
    pub h: f32,
}

impl Rect {
    /// A rectangle.
    pub const fn new(x: f32, y: f32, w: f32, h: f32) -> Self {
        Self { x, y, w, h }
    }
}

/// The part of a source to show, in source pixels (clipped to the source's size when drawn).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Crop {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width, > 0.
    pub w: u32,
    /// Height, > 0.
    pub h: u32,
}

impl Crop {
    /// A crop rectangle.
    pub const fn new(x: u32, y: u32, w: u32, h: u32) -> Self {
        Self { x, y, w, h }
    }
}

/// How a source fills its layer's rectangle when their shapes differ. Its name in scene files
/// and studio commands is in lower case (`"stretch"`, `"contain"`, `"cover"`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// Fill the rectangle exactly, distorting the picture if the shapes differ (the default, as in
    /// GStreamer's and FFmpeg's compositors).
    #[default]
    Stretch,
    /// Show the whole picture, as large as fits, centred; the rest of the rectangle shows what is
    /// below.
    Contain,
    /// Fill the rectangle, keeping the shape: the picture is centred and its overflow cut off.
    Cover,
}

/// Where a source that does not fill its layer's rectangle ([`Fit::Contain`]) sits in it. Its
/// name in scene files and studio commands is as in [`Align::NAMES`] (`"top-left"`, ...).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Align {
    /// Top left corner.
    TopLeft,
    /// Top edge, centred.
    Top,
    /// Top right corner.
    TopRight,
    /// Left edge, centred.
    Left,
    /// Centred both ways (the default).
    #[default]
    Center,
    /// Right edge, centred.
    Right,
    /// Bottom left corner.
    BottomLeft,
    /// Bottom edge, centred.
    Bottom,
    /// Bottom right corner.
    BottomRight,
}

impl Align {
    /// All of them with their scene-file names.
    pub const NAMES: [(&'static str, Align); 9] = [
        ("top-left", Align::TopLeft),
        ("top", Align::Top),
        ("top-right", Align::TopRight),
        ("left", Align::Left),
        ("center", Align::Center),
        ("right", Align::Right),
        ("bottom-left", Align::BottomLeft),
        ("bottom", Align::Bottom),
        ("bottom-right", Align::BottomRight),
    ];

    /// How far along the free space the source sits: 0 (left/top), 0.5 or 1 (right/bottom).
    pub(crate) fn factors(self) -> (f32, f32) {
        let x = match self {
            Self::TopLeft | Self::Left | Self::BottomLeft => 0.0,
            Self::Top | Self::Center | Self::Bottom => 0.5,
            Self::TopRight | Self::Right | Self::BottomRight => 1.0,
        };
        let y = match self {
            Self::TopLeft | Self::Top | Self::TopRight => 0.0,
            Self::Left | Self::Center | Self::Right => 0.5,
            Self::BottomLeft | Self::Bottom | Self::BottomRight => 1.0,
        };
        (x, y)
    }
}

/// One layer of a scene.
#[derive(Debug, Clone)]
pub struct Layer {
    /// What the layer shows.
    pub source: LayerSource,
    /// Where it goes on the canvas. `None`: at [`position`](Self::position) in its own size
    /// when that is set, else the whole canvas (text: its own size at the top left).
    pub rect: Option<Rect>,
    /// Where its top left corner goes when it has no [`rect`](Self::rect): the layer then has
    /// its source's own size (a colour, which has none, fills the canvas from there).
    pub position: Option<(f32, f32)>,
    /// The part of the source shown. `None`: all of it.
    pub crop: Option<Crop>,
    /// Stacking order: higher is in front; equal values keep the order layers were added in.
    pub z: i32,
    /// 0 (invisible) to 1 (opaque); multiplies the source's own alpha.
    pub opacity: f32,
    /// How the source fills [`rect`](Self::rect). [`Fit::Stretch`] by default, but
    /// [`Fit::Contain`] for text, which keeps its proportions.
    pub fit: Fit,
    /// Where the source sits in [`rect`](Self::rect) when it does not fill it
    /// ([`Fit::Contain`]). Default [`Align::Center`].
    pub align: Align,
    /// Clockwise rotation in degrees about the rectangle's centre. Multiples of 90 are exact, and
    /// for 90 and 270 the fit uses the turned picture's shape.
    pub rotation: f32,
    /// Mirror left-right.
    pub flip_horizontal: bool,
    /// Mirror top-bottom.
    pub flip_vertical: bool,
    /// Hidden layers are kept but not drawn.
    pub visible: bool,
}

impl Layer {
    /// A layer over the whole canvas: opaque, visible, z 0, stretched, unrotated.
    pub fn new(source: LayerSource) -> Self {
        Self {
            source,
            rect: None,
            position: None,
            crop: None,
            z: 0,
            opacity: 1.0,
            fit: Fit::Stretch,
            align: Align::Center,
            rotation: 0.0,
            flip_horizontal: false,
            flip_vertical: false,
            visible: true,
        }
    }

    /// A layer showing a live source.
    pub fn video(source: Arc<dyn VideoSource>) -> Self {
        Self::new(LayerSource::video(source))
    }

    /// A layer of solid colour.
    pub fn color(color: Color) -> Self {
        Self::new(LayerSource::Color(color))
    }

    /// A text layer: its own size at the top left, or placed in a [`rect`](Self::rect)
    /// keeping its proportions ([`Fit::Contain`], centred: see [`align`](Self::align)).
    pub fn text(text: Text) -> Self {
        Self::new(LayerSource::Text(text)).fit(Fit::Contain)
    }

    /// A still picture.
    pub fn image(frame: VideoFrame) -> Self {
        Self::new(LayerSource::Image(frame))
    }

    /// A test pattern.
    pub fn pattern(pattern: TestPattern) -> Self {
        Self::new(LayerSource::Pattern(pattern))
    }

    /// Sets [`rect`](Self::rect).
    pub fn rect(mut self, x: f32, y: f32, w: f32, h: f32) -> Self {
        self.rect = Some(Rect::new(x, y, w, h));
        self
    }

    /// Places the layer at `(x, y)` in its source's own size (see [`position`](Self::position)).
    pub fn at(mut self, x: f32, y: f32) -> Self {
        self.position = Some((x, y));
        self
    }

    /// Sets [`align`](Self::align).
    pub fn align(mut self, align: Align) -> Self {
        self.align = align;
        self
    }

    /// Sets [`crop`](Self::crop).
    pub fn crop(mut self, x: u32, y: u32, w: u32, h: u32) -> Self {
        self.crop = Some(Crop::new(x, y, w, h));
        self
    }

    /// Sets [`z`](Self::z).
    pub fn z(mut self, z: i32) -> Self {
        self.z = z;
        self
    }

    /// Sets [`opacity`](Self::opacity).
    pub fn opacity(mut self, opacity: f32) -> Self {
        self.opacity = opacity;
        self
    }

    /// Sets [`fit`](Self::fit).
    pub fn fit(mut self, fit: Fit) -> Self {
        self.fit = fit;
        self
    }

    /// Sets [`rotation`](Self::rotation) in degrees, clockwise.
    pub fn rotation(mut self, degrees: f32) -> Self {
        self.rotation = degrees;
        self
    }

    /// Sets the flips.
    pub fn flip(mut self, horizontal: bool, vertical: bool) -> Self {
        self.flip_horizontal = horizontal;
        self.flip_vertical = vertical;
        self
    }

    /// Sets [`visible`](Self::visible).
    pub fn visible(mut self, visible: bool) -> Self {
        self.visible = visible;
        self
    }

    /// Checks the numbers: a finite rectangle with positive size, a non-empty crop, an opacity
    /// in 0..=1, a finite rotation.
    pub fn validate(&self) -> Result<(), InvalidLayer> {
        if let Some(r) = self.rect {
            if ![r.x, r.y, r.w, r.h].iter().all(|v| v.is_finite()) {
                return Err(InvalidLayer::new("rect", "must be finite numbers"));
            }
            if r.w <= 0.0 || r.h <= 0.0 {
                return Err(InvalidLayer::new(
                    "rect",
                    format!("width and height must be > 0 (got {} x {})", r.w, r.h),
                ));
            }
        }
        if let Some((x, y)) = self.position
            && !(x.is_finite() && y.is_finite())
        {
            return Err(InvalidLayer::new("position", "must be finite numbers"));
        }
        if let Some(c) = self.crop
            && (c.w == 0 || c.h == 0)
        {
            return Err(InvalidLayer::new(
                "crop",
                format!("width and height must be > 0 (got {} x {})", c.w, c.h),
            ));
        }
        if !(0.0..=1.0).contains(&self.opacity) {
            return Err(InvalidLayer::new(
                "opacity",
                format!("must be between 0 and 1 (got {})", self.opacity),
            ));
        }
        if !self.rotation.is_finite() {
            return Err(InvalidLayer::new("rotation", "must be a finite number"));
        }
        if let LayerSource::Text(text) = &self.source {
            text.validate()
                .map_err(|reason| InvalidLayer::new("text", reason))?;
        }
        Ok(())
    }
}

/// A layer whose numbers make no sense.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("layer {field}: {reason}")]
pub struct InvalidLayer {
    /// The field at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl InvalidLayer {
    pub(crate) fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// Frames per second as a ratio (`30/1`, `30000/1001`). In scene files and studio commands
/// (serde) a whole number (`30`) or the text `"30000/1001"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "FpsText", into = "FpsText")]
pub struct Fps {
    /// Numerator, > 0.
    pub num: u32,
    /// Denominator, > 0.
    pub den: u32,
}

/// [`Fps`] as written: a whole number or `"num/den"`.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum FpsText {
    Whole(u32),
    Ratio(String),
}

impl TryFrom<FpsText> for Fps {
    type Error = String;

    fn try_from(text: FpsText) -> Result<Self, String> {
        let fps = match text {
            FpsText::Whole(fps) => Fps::new(fps),
            FpsText::Ratio(text) => text.parse()?,
        };
        if fps.num == 0 || fps.den == 0 || fps.as_f64() > 240.0 {
            return Err(format!("fps {fps} is out of range (above 0, at most 240)"));
        }
        Ok(fps)
    }
}

impl From<Fps> for FpsText {
    fn from(fps: Fps) -> Self {
        if fps.den == 1 {
            FpsText::Whole(fps.num)
        } else {
            FpsText::Ratio(fps.to_string())
        }
    }
}

impl std::str::FromStr for Fps {
    type Err = String;

    /// `"30"` or `"30000/1001"`.
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("invalid frame rate {text:?}: expected 30 or \"30000/1001\"");
        let (num, den) = match text.split_once('/') {
            Some((num, den)) => (num.trim(), den.trim()),
            None => (text.trim(), "1"),
        };
        let num: u32 = num.parse().map_err(|_| bad())?;
        let den: u32 = den.parse().map_err(|_| bad())?;
        Ok(Fps::ratio(num, den))
    }
}

impl Fps {
    /// A whole number of frames per second.
    pub const fn new(fps: u32) -> Self {
        Self { num: fps, den: 1 }
    }

    /// A ratio, such as `Fps::ratio(30000, 1001)` for 29.97.
    pub const fn ratio(num: u32, den: u32) -> Self {
        Self { num, den }
    }

    /// The time of frame `index`, exact to the nanosecond (no drift).
    pub fn frame_time(self, index: u64) -> Duration {
        let nanos = u128::from(index) * u128::from(self.den) * 1_000_000_000 / u128::from(self.num);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The index of the last frame due at `time`.
    pub fn frame_index(self, time: Duration) -> u64 {
        let index = time.as_nanos() * u128::from(self.num) / (u128::from(self.den) * 1_000_000_000);
        u64::try_from(index).unwrap_or(u64::MAX)
    }

    /// As a float.
    pub fn as_f64(self) -> f64 {
        f64::from(self.num) / f64::from(self.den)
    }
}

impl fmt::Display for Fps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

/// The pixel format a canvas is read back in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OutputFormat {
    /// Packed RGBA8 (opaque).
    #[default]
    Rgba8,
    /// Planar YUV 4:2:0 in the given colour space, converted by the compositor (on the GPU when
    /// it renders on one). Odd sizes round the chroma planes up.
    I420(ColorSpace),
    /// Semi-planar YUV 4:2:0 (interleaved UV).
    Nv12(ColorSpace),
}

/// A canvas: one output picture of the compositor, with its own size, rate and scenes.
#[derive(Debug, Clone, PartialEq)]
pub struct CanvasSettings {
    /// A name for logs and errors.
    pub name: String,
    /// Width in pixels, > 0.
    pub width: u32,
    /// Height in pixels, > 0.
    pub height: u32,
    /// Frame rate.
    pub fps: Fps,
    /// What shows where no layer covers (made opaque).
    pub background: Color,
    /// The pixel format of the canvas's frames.
    pub output: OutputFormat,
}

impl CanvasSettings {
    /// A canvas of `width` x `height` at `fps` frames per second, black, read back as RGBA.
    pub fn new(width: u32, height: u32, fps: u32) -> Self {
        Self {
            name: format!("{width}x{height}"),
            width,
            height,
            fps: Fps::new(fps),
            background: Color::BLACK,
            output: OutputFormat::Rgba8,
        }
    }

    /// Sets the name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the background colour.
    pub fn background(mut self, color: Color) -> Self {
        self.background = color;
        self
    }

    /// Sets the output pixel format.
    pub fn output(mut self, output: OutputFormat) -> Self {
        self.output = output;
        self
    }

    /// Sets the frame rate as a ratio.
    pub fn fps(mut self, fps: Fps) -> Self {
        self.fps = fps;
        self
    }
}

/// How the picture changes when the canvas switches scene.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transition {
    /// At once, on the next frame.
    #[default]
    Cut,
    /// A cross-fade over this long, starting at the next frame.
    Fade(Duration),
}
