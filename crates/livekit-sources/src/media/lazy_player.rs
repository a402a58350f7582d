//! [`LazyPlayer`]: a video file as a [`VideoSource`](livekit_core::VideoSource) that decodes on
//! the reader's thread, only as far as the reader's clock.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use livekit_core::{Clock, FrameSource, Pull, SystemClock, VideoFrame};
use parking_lot::Mutex;

use super::error::{ControlError, OpenMediaError};
use super::name::Location;
use super::reader::{Decoded, MediaReader, ReaderSettings};

/// A jump ahead longer than this is done with a seek rather than by decoding every frame.
const SEEK_INSTEAD: Duration = Duration::from_secs(3);

/// Settings of a [`LazyPlayer`].
#[derive(Debug, Clone)]
pub struct LazyPlayerSettings {
    /// The clock that says which frame is current (default: a [`SystemClock`]). Its time at
    /// the first read is the start of the media.
    pub clock: Arc<dyn Clock>,
    /// Decoder threads; 0 (default) lets FFmpeg use one per core.
    pub threads: usize,
    /// How long opening may take (default [`DEFAULT_OPEN_TIMEOUT`](super::DEFAULT_OPEN_TIMEOUT)).
    pub open_timeout: Duration,
}

impl Default for LazyPlayerSettings {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock::new()),
            threads: 0,
            open_timeout: super::DEFAULT_OPEN_TIMEOUT,
        }
    }
}

#[derive(Debug)]
struct State {
    reader: MediaReader,
    /// Clock time of the first read (or of the last seek) and the media time it stands for.
    anchor: Option<(Duration, Duration)>,
    /// The newest frame at or before the reader's time.
    held: Option<VideoFrame>,
    /// A decoded frame whose time has not come.
    ahead: Option<VideoFrame>,
    ended: bool,
    /// The pts of the frame handed out last.
    given: Option<Duration>,
    /// Media time a seek asked for, applied at the next read.
    seek_to: Option<Duration>,
}

/// A video file as a [`VideoSource`](livekit_core::VideoSource) with no thread of its own: each
/// read decodes, on the reader's thread, up to the frame for the reader's clock
/// ([`LazyPlayerSettings::clock`]) and no further. Video only; the frames are the
/// [`Player`](super::Player)'s (I420/NV12 kept, rotation applied), with the media's timestamps.
///
/// [`latest`](FrameSource::latest) gives the frame showing now (once; [`Pull::Pending`] until
/// the next one is due). At the end the last frame is held: `latest` keeps answering
/// `Pending` and [`current`](Self::current) returns it; [`next`](FrameSource::next) (frames in
/// order, each waited for until its time) returns [`Pull::Ended`].
///
/// ```no_run
/// use std::time::Duration;
/// use livekit_core::{FrameSource, Pull};
/// use livekit_sources::{LazyPlayer, LazyPlayerSettings};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let video = LazyPlayer::open("clip.mp4", LazyPlayerSettings::default())?; // system clock
/// video.seek(Duration::from_secs(10))?;
/// // A compositor (or any reader) asks for the frame showing now, on its own thread.
/// if let Pull::Frame(frame) = video.latest() {
///     println!("{}x{} at {:?}", frame.width(), frame.height(), frame.pts());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct LazyPlayer {
    name: String,
    clock: Arc<dyn Clock>,
    duration: Option<Duration>,
    state: Mutex<State>,
}

impl LazyPlayer {
    /// Opens a video file or URL.
    pub fn open(
        path_or_url: impl AsRef<Path>,
        settings: LazyPlayerSettings,
    ) -> Result<Self, OpenMediaError> {
        let location = Location::from_path(path_or_url.as_ref());
        let reader = MediaReader::open(
            &location,
            &ReaderSettings {
                video: true,
                audio: false,
                threads: settings.threads,
                open_timeout: settings.open_timeout,
                ..ReaderSettings::default()
            },
        )?;
        Ok(Self {
            name: reader.name().to_owned(),
            duration: reader.duration(),
            clock: settings.clock,
            state: Mutex::new(State {
                reader,
                anchor: None,
                held: None,
                ahead: None,
                ended: false,
                given: None,
                seek_to: None,
            }),
        })
    }

    /// The path or redacted URL.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The media's duration, when known.
    pub fn duration(&self) -> Option<Duration> {
        self.duration
    }

    /// The frame showing now (the last one at the end), decoding up to it.
    pub fn current(&self) -> Option<VideoFrame> {
        let mut state = self.state.lock();
        let now = self.media_time(&mut state);
        self.advance(&mut state, now);
        state.held.clone()
    }

    /// Whether the last frame has been reached (it is held).
    pub fn is_finished(&self) -> bool {
        let state = self.state.lock();
        state.ended && state.ahead.is_none()
    }

    /// Makes `to` (media time) the current time at the next read: the clock's time then stands
    /// for `to`.
    pub fn seek(&self, to: Duration) -> Result<(), ControlError> {
        if self.state.lock().reader.is_url() {
            return Err(ControlError::NotSeekable {
                name: self.name.clone(),
            });
        }
        self.state.lock().seek_to = Some(to);
        Ok(())
    }

    /// The media time for the clock now (anchoring at the first read, applying a seek).
    fn media_time(&self, state: &mut State) -> Duration {
        let now = self.clock.now();
        if let Some(to) = state.seek_to.take() {
            self.jump(state, to);
            state.anchor = Some((now, to));
        }
        let (clock_at, media_at) = *state.anchor.get_or_insert((now, Duration::ZERO));
        media_at + now.saturating_sub(clock_at)
    }

    fn jump(&self, state: &mut State, to: Duration) {
        match state.reader.seek(to) {
            Ok(()) => {
                state.held = None;
                state.ahead = None;
                state.ended = false;
                state.given = None;
            }
            Err(message) => tracing::warn!("{message}"),
        }
    }

    /// Decodes until the frame after `now` is in hand (or the end).
    fn advance(&self, state: &mut State, now: Duration) {
        let behind = state
            .held
            .as_ref()
            .or(state.ahead.as_ref())
            .map_or(Duration::ZERO, VideoFrame::pts);
        // Seek ahead only within the media: past its end the last frame must still come.
        let inside = self.duration.is_some_and(|d| now + SEEK_INSTEAD < d);
        if inside && now > behind + SEEK_INSTEAD && !state.ended && !state.reader.is_url() {
            self.jump(state, now);
        }
        loop {
            if let Some(ahead) = &state.ahead {
                if ahead.pts() > now {
                    return;
                }
                state.held = state.ahead.take();
                continue;
            }
            if state.ended {
                return;
            }
            match state.reader.next() {
                Some(Decoded::Video(frame)) => state.ahead = Some(frame),
                Some(Decoded::Audio(_)) => {}
                None => state.ended = true,
            }
        }
    }
}

impl FrameSource<VideoFrame> for LazyPlayer {
    fn latest(&self) -> Pull<VideoFrame> {
        let mut state = self.state.lock();
        let now = self.media_time(&mut state);
        self.advance(&mut state, now);
        match state.held.clone() {
            Some(frame) if state.given != Some(frame.pts()) => {
                state.given = Some(frame.pts());
                Pull::Frame(frame)
            }
            _ => Pull::Pending,
        }
    }

    fn next(&self, timeout: Duration) -> Pull<VideoFrame> {
        let mut state = self.state.lock();
        let now = self.media_time(&mut state);
        // The next frame in order, whatever the time.
        let frame = loop {
            if let Some(held) = &state.held
                && state.given.is_none_or(|g| held.pts() > g)
            {
                break held.clone();
            }
            if let Some(ahead) = state.ahead.take() {
                state.held = Some(ahead);
                continue;
            }
            if state.ended {
                return Pull::Ended;
            }
            match state.reader.next() {
                Some(Decoded::Video(frame)) => state.ahead = Some(frame),
                Some(Decoded::Audio(_)) => {}
                None => state.ended = true,
            }
        };
        if frame.pts() > now {
            let Some((clock_at, media_at)) = state.anchor else {
                return Pull::Pending;
            };
            let deadline = clock_at + frame.pts().saturating_sub(media_at);
            drop(state);
            if !self.clock.wait_until(deadline, timeout) {
                return Pull::Pending;
            }
            state = self.state.lock();
        }
        state.given = Some(frame.pts());
        Pull::Frame(frame)
    }
}
