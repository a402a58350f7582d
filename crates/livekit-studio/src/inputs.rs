//! Inputs: opening what an [`InputSpec`] names, the slot its layers read through (so an input
//! can be replaced without touching its layers), and its state.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use livekit_compositor::{LayerSource, Text, VideoInput};
use livekit_core::{
    AudioFrame, Clock, FrameSource, FrameTarget, MixerInput, Port, Pull, PushError, ScaledClock,
    VideoFrame, VideoSource, VideoTarget,
};
use livekit_sources::capture::{
    CameraDevice, CameraSettings, CaptureEvent, Microphone, MicrophoneSettings, OutputFormat,
    Region, ScreenCapture, ScreenSettings, VideoCapture, WindowCapture, WindowSelector,
    WindowSettings,
};
use livekit_sources::{
    Cover, ImageFile, ImageSettings, IpcSource, IpcSourceSettings, Pacing, PlayState, Player,
    PlayerEvent, PlayerSettings, Playlist, PlaylistSettings,
};
use parking_lot::Mutex;
use serde::Serialize;
use utoipa::ToSchema;

use crate::command::{AudioSettings, InputSpec, WhenFailed};
use crate::error::{CommandError, chain};

/// Where an input is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum InputState {
    /// Opened; its first frame (or sound) has not come yet.
    Starting,
    /// Delivering.
    Live,
    /// Paused (a file or playlist).
    Paused,
    /// Finished (a file played to its end, a closed window).
    Ended,
    /// Failed (a file or stream that could not be read on); its layers hold their last frame
    /// or show nothing ([`WhenFailed`]).
    Failed {
        /// What went wrong, in one line.
        error: String,
    },
    /// A capture whose device went away or stopped delivering (a camera unplugged, a
    /// microphone's PulseAudio module unloaded, a lost display): its layers hold their last
    /// frame or show nothing ([`WhenFailed`]), its sound is silence, and the same device is
    /// reopened every second; live again when it is back.
    Lost {
        /// Why, in one line.
        error: String,
    },
}

impl InputState {
    /// Its name, as the JSON's `state` field has it (`live`, `lost`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Live => "live",
            Self::Paused => "paused",
            Self::Ended => "ended",
            Self::Failed { .. } => "failed",
            Self::Lost { .. } => "lost",
        }
    }
}

/// What an input's layers read: the current source, swapped on replace; while hidden (failed
/// with [`WhenFailed::Hide`]) a transparent frame.
pub(crate) struct Slot {
    source: Mutex<Arc<dyn VideoSource>>,
    hidden: AtomicBool,
    transparent: VideoFrame,
}

impl Slot {
    fn new(source: Arc<dyn VideoSource>) -> Arc<Self> {
        Arc::new(Self {
            source: Mutex::new(source),
            hidden: AtomicBool::new(false),
            transparent: VideoFrame::solid_rgba(2, 2, [0, 0, 0, 0], Duration::ZERO)
                .expect("a 2x2 frame is valid"),
        })
    }

    fn replace(&self, source: Arc<dyn VideoSource>) {
        *self.source.lock() = source;
        self.hidden.store(false, Ordering::Relaxed);
    }

    pub(crate) fn set_hidden(&self, hidden: bool) {
        self.hidden.store(hidden, Ordering::Relaxed);
    }
}

impl FrameSource<VideoFrame> for Slot {
    fn latest(&self) -> Pull<VideoFrame> {
        if self.hidden.load(Ordering::Relaxed) {
            return Pull::Frame(self.transparent.clone());
        }
        let source = self.source.lock().clone();
        source.latest()
    }

    fn next(&self, timeout: Duration) -> Pull<VideoFrame> {
        let source = self.source.lock().clone();
        source.next(timeout)
    }
}

/// What keeps an input running (dropped: stopped).
pub(crate) enum Running {
    /// Drawn by the compositor itself, or read on the compositor's thread (image, IPC).
    Nothing,
    Player(Box<Player>),
    Playlist(Box<Playlist>),
    Capture(VideoCapture),
    /// Dropping it stops the capture.
    Microphone(Microphone),
    /// Held: dropping it stops the tone.
    Tone(#[allow(dead_code)] Tone),
}

/// A test tone's thread (`livekit.studio.tone`), stopped when dropped.
pub(crate) struct Tone {
    stop: Arc<AtomicBool>,
    worker: Option<livekit_core::thread::Worker<()>>,
}

/// Sample rate of a test tone.
const TONE_RATE: u32 = 48_000;

/// How far ahead of its clock a test tone is made.
const TONE_AHEAD: Duration = Duration::from_millis(100);

impl Tone {
    /// A sine of `frequency` Hz at `level` in 10 ms stereo blocks into `out`, paced by
    /// `clock` (at most [`TONE_AHEAD`] ahead of it, so a busy machine does not starve the mix),
    /// each block stamped with its time on the clock (the mix places it there).
    fn start(
        frequency: f64,
        level: f32,
        clock: Arc<dyn Clock>,
        out: Arc<Port<AudioFrame>>,
    ) -> Result<Self, String> {
        const BLOCK: u64 = TONE_RATE as u64 / 100;
        let stop = Arc::new(AtomicBool::new(false));
        let worker = {
            let stop = stop.clone();
            livekit_core::thread::spawn_named("livekit.studio.tone", move || {
                let start = clock.now();
                let mut n: u64 = 0;
                while !stop.load(Ordering::Relaxed) {
                    let pts = Duration::from_secs_f64(n as f64 / f64::from(TONE_RATE));
                    let due = (start + pts).saturating_sub(TONE_AHEAD);
                    if !clock.wait_until(due, Duration::from_millis(50)) {
                        continue;
                    }
                    let mut samples = Vec::with_capacity(BLOCK as usize * 2);
                    for i in 0..BLOCK {
                        let t = (n + i) as f64 / f64::from(TONE_RATE);
                        let s = (t * frequency * std::f64::consts::TAU).sin() as f32 * level;
                        samples.extend([s, s]);
                    }
                    let Ok(frame) = AudioFrame::new(samples, TONE_RATE, 2, start + pts) else {
                        break;
                    };
                    if livekit_core::FrameTarget::push(&*out, frame).is_err() {
                        break;
                    }
                    n += BLOCK;
                }
                livekit_core::FrameTarget::end(&*out);
            })
            .map_err(|e| e.to_string())?
        };
        Ok(Self {
            stop,
            worker: Some(worker),
        })
    }
}

impl Drop for Tone {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// An opened input: what its layers show and what makes its sound.
pub(crate) struct Opened {
    pub(crate) running: Running,
    /// What its layers show (builtins), or the video source for its slot.
    pub(crate) picture: Picture,
    /// Its sound, for the program mix.
    pub(crate) sound: Option<Sound>,
    /// A file's or playlist's frames and sound for the outputs it feeds directly.
    pub(crate) feeds: Option<Feeds>,
    /// Whether it is live at once (builtins, pictures).
    pub(crate) live_at_once: bool,
}

pub(crate) enum Picture {
    None,
    Builtin(LayerSource),
    Video(Arc<dyn VideoSource>),
}

/// One input of a studio.
pub(crate) struct Input {
    pub(crate) id: String,
    pub(crate) spec: InputSpec,
    pub(crate) running: Running,
    /// Builtin inputs: what layers show.
    builtin: Option<LayerSource>,
    /// Video inputs: the slot and the compositor input over it (shared by all its layers).
    slot: Option<(Arc<Slot>, VideoInput)>,
    pub(crate) audio: AudioSettings,
    pub(crate) mix: Option<MixerInput>,
    pub(crate) when_failed: WhenFailed,
    pub(crate) state: InputState,
    /// The size of its pictures, once known (a capture's when it starts, a file's).
    pub(crate) size: Option<(u32, u32)>,
    /// A file's or playlist's frames for the outputs it feeds directly.
    pub(crate) feeds: Option<Feeds>,
}

/// An input's sound for the program mix, and how the mix places it.
#[derive(Clone)]
pub(crate) enum Sound {
    /// As it comes (a microphone).
    Arrival(Arc<Port<AudioFrame>>),
    /// By its frames' times on the studio's clock (a file or playlist read in real time,
    /// whose sound must stay with its pictures however late its thread runs; a tone).
    Timed(Arc<Port<AudioFrame>>),
}

/// Sound buffered between an input and the mixer: 2 s of 10 ms blocks (decoders write ahead).
const SOUND_CAPACITY: usize = 200;

impl Input {
    pub(crate) fn new(
        id: String,
        spec: InputSpec,
        opened: Opened,
        audio: AudioSettings,
        when_failed: WhenFailed,
    ) -> Self {
        let mut input = Self {
            id,
            spec,
            running: Running::Nothing,
            builtin: None,
            slot: None,
            audio,
            mix: None,
            when_failed,
            state: InputState::Starting,
            size: None,
            feeds: None,
        };
        input.take(opened);
        input
    }

    /// Takes over `opened` (a new input, or a replacement): the slot is kept if there is one.
    /// The sound is the caller's to wire.
    pub(crate) fn take(&mut self, opened: Opened) {
        self.running = opened.running;
        self.feeds = opened.feeds;
        self.size = match &self.running {
            Running::Player(player) => player.info().and_then(|i| i.display_size()),
            _ => None,
        };
        self.state = if opened.live_at_once {
            InputState::Live
        } else {
            InputState::Starting
        };
        match opened.picture {
            Picture::None => {
                self.builtin = None;
                self.slot = None;
            }
            Picture::Builtin(source) => {
                self.builtin = Some(source);
                self.slot = None;
            }
            Picture::Video(source) => {
                self.builtin = None;
                match &self.slot {
                    Some((slot, _)) => slot.replace(source),
                    None => {
                        let slot = Slot::new(source);
                        let input = VideoInput::new(slot.clone() as Arc<dyn VideoSource>);
                        self.slot = Some((slot, input));
                    }
                }
            }
        }
    }

    /// What a layer of this input shows; `None` for inputs without a picture (a microphone).
    pub(crate) fn layer_source(&self) -> Option<LayerSource> {
        if let Some(builtin) = &self.builtin {
            return Some(builtin.clone());
        }
        self.slot
            .as_ref()
            .map(|(_, input)| LayerSource::Video(input.clone()))
    }

    /// Where a file's or playlist's playback is.
    pub(crate) fn playing(&self) -> Option<crate::state::PlayingDoc> {
        let (playback, now) = match &self.running {
            Running::Player(player) => (&***player, None),
            Running::Playlist(playlist) => (&***playlist, playlist.now_playing()),
            _ => return None,
        };
        let position = match &self.running {
            Running::Player(player) => player.position(),
            Running::Playlist(playlist) => playlist.position(),
            _ => Duration::ZERO,
        };
        Some(crate::state::PlayingDoc {
            seconds: position.as_secs_f64(),
            entry: now.as_ref().map(|n| n.index),
            name: now.as_ref().map(|n| n.name.clone()),
            caption: now.and_then(|n| n.caption),
            late_frames: playback.stats().late_video_dropped,
        })
    }

    /// Looks at the running source and updates the state; returns the new state when it
    /// changed.
    pub(crate) fn poll(&mut self) -> Option<InputState> {
        let state = match &self.running {
            Running::Nothing | Running::Tone(_) => None,
            Running::Microphone(microphone) => microphone_state(microphone),
            Running::Player(player) => play_state(player, &self.state),
            Running::Playlist(playlist) => play_state(playlist, &self.state),
            Running::Capture(capture) => capture_state(capture, &self.state, &mut self.size),
        };
        let state = match state {
            Some(state) => state,
            None if self.state == InputState::Starting => InputState::Live,
            None => return None,
        };
        if state == self.state {
            return None;
        }
        if let Some((slot, _)) = &self.slot {
            slot.set_hidden(
                matches!(state, InputState::Failed { .. } | InputState::Lost { .. })
                    && self.when_failed == WhenFailed::Hide,
            );
        }
        self.state = state.clone();
        Some(state)
    }
}

fn play_state(playback: &livekit_sources::Playback, now: &InputState) -> Option<InputState> {
    let mut failed = None;
    while let Ok(event) = playback.events().try_recv() {
        if let PlayerEvent::Failed(error) = event {
            failed = Some(error.to_string());
        }
    }
    if let Some(error) = failed {
        return Some(InputState::Failed { error });
    }
    if matches!(now, InputState::Failed { .. }) {
        return None;
    }
    Some(match playback.state() {
        PlayState::Ready => InputState::Starting,
        PlayState::Playing
            if playback.stats().video_frames + playback.stats().audio_frames == 0 =>
        {
            InputState::Starting
        }
        PlayState::Playing => InputState::Live,
        PlayState::Paused => InputState::Paused,
        PlayState::Ended | PlayState::Stopped => InputState::Ended,
    })
}

fn capture_state(
    capture: &VideoCapture,
    now: &InputState,
    size: &mut Option<(u32, u32)>,
) -> Option<InputState> {
    let mut state = None;
    while let Ok(event) = capture.events().try_recv() {
        state = match event {
            CaptureEvent::Started { width, height, .. } => {
                *size = Some((width, height));
                Some(InputState::Live)
            }
            CaptureEvent::WindowShown { .. } => Some(InputState::Live),
            CaptureEvent::Reopening { device, attempt } => {
                tracing::info!("{device}: reopening (attempt {attempt})");
                state
            }
            // Logged by the capture itself, once, as a warning. The capture reopens its
            // device: lost, not failed.
            CaptureEvent::Error { message, .. } => Some(InputState::Lost { error: message }),
            CaptureEvent::WindowClosed { .. } | CaptureEvent::Ended { .. } => {
                Some(InputState::Ended)
            }
            _ => state,
        };
    }
    if state.is_none() && *now == InputState::Starting && capture.stats().frames > 0 {
        return Some(InputState::Live);
    }
    state
}

/// A microphone's state from its events: live when (re)opened, lost (silence) until it is
/// back, ended when it gave up.
fn microphone_state(microphone: &Microphone) -> Option<InputState> {
    let mut state = None;
    while let Ok(event) = microphone.events().try_recv() {
        state = match event {
            CaptureEvent::AudioStarted { .. } => Some(InputState::Live),
            CaptureEvent::Reopening { device, attempt } => {
                tracing::debug!("{device}: reopening (attempt {attempt})");
                state
            }
            // Logged by the microphone itself, once, as a warning.
            CaptureEvent::Error { message, .. } => Some(InputState::Lost { error: message }),
            CaptureEvent::Ended { .. } => Some(InputState::Ended),
            _ => state,
        };
    }
    state
}

/// How the studio opens files and playlists.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decoding {
    /// Frames a second of a playlist's still covers (the studio's encode rate).
    pub(crate) cover_frame_rate: u32,
    /// Decoder threads (0: FFmpeg's choice).
    pub(crate) threads: usize,
}

/// Opens what `spec` names, on `clock`.
pub(crate) fn open(
    id: &str,
    spec: &InputSpec,
    clock: &Arc<dyn Clock>,
    decoding: Decoding,
) -> Result<Opened, CommandError> {
    let failed =
        |error: &dyn std::error::Error| CommandError::invalid_on("input", id, chain(error));
    let live_port = || Arc::new(Port::<VideoFrame>::latest());
    let sound_port = || Arc::new(Port::<AudioFrame>::drop_oldest(SOUND_CAPACITY));
    let builtin = |source: LayerSource| Opened {
        running: Running::Nothing,
        picture: Picture::Builtin(source),
        sound: None,
        feeds: None,
        live_at_once: true,
    };
    match spec {
        InputSpec::Color { color } => Ok(builtin(LayerSource::Color(*color))),
        InputSpec::Pattern { pattern } => Ok(builtin(LayerSource::Pattern(*pattern))),
        InputSpec::Text {
            text,
            size,
            color,
            background,
        } => {
            let mut t = Text::new(text.clone());
            if let Some(size) = size {
                if !(1.0..=livekit_compositor::MAX_TEXT_SIZE).contains(size) {
                    return Err(CommandError::invalid_on(
                        "input",
                        id,
                        format!(
                            "size {size} is out of range (1 to {})",
                            livekit_compositor::MAX_TEXT_SIZE
                        ),
                    ));
                }
                t = t.size(*size);
            }
            if let Some(color) = color {
                t.color = *color;
            }
            t.background = *background;
            Ok(builtin(LayerSource::Text(t)))
        }
        InputSpec::Image { path } => {
            let settings = ImageSettings {
                clock: Arc::clone(clock),
                ..ImageSettings::default()
            };
            let image = ImageFile::open_with(path, settings).map_err(|e| failed(&e))?;
            Ok(Opened {
                running: Running::Nothing,
                picture: Picture::Video(Arc::new(image)),
                sound: None,
                feeds: None,
                live_at_once: true,
            })
        }
        InputSpec::Ipc { name } => {
            let source =
                IpcSource::open(name, IpcSourceSettings::default()).map_err(|e| failed(&e))?;
            Ok(Opened {
                running: Running::Nothing,
                picture: Picture::Video(Arc::new(source)),
                sound: None,
                feeds: None,
                live_at_once: true,
            })
        }
        InputSpec::File {
            path,
            looping,
            audio,
            readrate,
            paused,
        } => {
            let (pacing, clock) = pacing(id, *readrate, clock)?;
            let settings = PlayerSettings {
                clock,
                pacing,
                looping: *looping,
                audio: *audio,
                threads: decoding.threads,
                ..PlayerSettings::default()
            };
            let player = Player::open(path, settings).map_err(|e| failed(&e))?;
            let has_video = player.info().is_some_and(|i| i.video.is_some());
            let has_audio = *audio && player.info().is_some_and(|i| i.audio.is_some());
            // Layers may show a file without a picture (a song): they show nothing.
            let video = live_port();
            let feeds = Feeds::new(&video, has_video, has_audio.then(sound_port), pacing);
            if has_video {
                player
                    .add_video_target(feeds.video.clone())
                    .map_err(|e| failed(&e))?;
            }
            if has_audio {
                player
                    .add_audio_target(feeds.audio.clone())
                    .map_err(|e| failed(&e))?;
                if let Some(mixed) = &feeds.mixed {
                    player
                        .add_clock_audio_target(Arc::clone(mixed))
                        .map_err(|e| failed(&e))?;
                }
            }
            if !*paused {
                player.start().map_err(|e| failed(&e))?;
            }
            Ok(Opened {
                running: Running::Player(Box::new(player)),
                picture: Picture::Video(video),
                sound: feeds.mixed.clone().map(Sound::Timed),
                feeds: Some(feeds),
                live_at_once: false,
            })
        }
        InputSpec::Playlist {
            paths,
            looping,
            shuffle,
            audio,
            readrate,
            paused,
            cover,
        } => {
            if paths.is_empty() {
                return Err(CommandError::invalid_on("input", id, "paths is empty"));
            }
            let (pacing, clock) = pacing(id, *readrate, clock)?;
            let settings = PlaylistSettings {
                player: PlayerSettings {
                    clock,
                    pacing,
                    looping: *looping,
                    audio: *audio,
                    threads: decoding.threads,
                    ..PlayerSettings::default()
                },
                shuffle: *shuffle,
                // A picture given is shown for every song; otherwise a song's own cover art.
                album_art: cover.is_none(),
                cover: cover
                    .as_ref()
                    .map_or(Cover::Black, |path| Cover::Image(path.clone())),
                cover_frame_rate: decoding.cover_frame_rate,
                ..PlaylistSettings::default()
            };
            let playlist = Playlist::new(paths, settings).map_err(|e| failed(&e))?;
            let video = live_port();
            // A playlist always has a picture: songs show their cover (or black).
            let feeds = Feeds::new(&video, true, audio.then(sound_port), pacing);
            playlist
                .add_video_target(feeds.video.clone())
                .map_err(|e| failed(&e))?;
            if *audio {
                playlist
                    .add_audio_target(feeds.audio.clone())
                    .map_err(|e| failed(&e))?;
                if let Some(mixed) = &feeds.mixed {
                    playlist
                        .add_clock_audio_target(Arc::clone(mixed))
                        .map_err(|e| failed(&e))?;
                }
            }
            if !*paused {
                playlist.start().map_err(|e| failed(&e))?;
            }
            Ok(Opened {
                running: Running::Playlist(Box::new(playlist)),
                picture: Picture::Video(video),
                sound: feeds.mixed.clone().map(Sound::Timed),
                feeds: Some(feeds),
                live_at_once: false,
            })
        }
        InputSpec::Camera { device, size, fps } => {
            let port = live_port();
            let capture = livekit_sources::capture::Camera::start(
                CameraSettings {
                    device: CameraDevice::parse(device),
                    size: size.map(|[w, h]| (w, h)),
                    frame_rate: *fps,
                    clock: Arc::clone(clock),
                    ..CameraSettings::default()
                },
                vec![Arc::clone(&port) as Arc<dyn VideoTarget>],
            )
            .map_err(|e| failed(&e))?;
            Ok(capture_opened(capture, port))
        }
        InputSpec::Screen {
            display,
            region,
            fps,
            cursor,
            yuv,
        } => {
            let port = live_port();
            let defaults = ScreenSettings::default();
            let capture = ScreenCapture::start(
                ScreenSettings {
                    display: display.clone(),
                    region: region.map(|[x, y, width, height]| Region {
                        x,
                        y,
                        width,
                        height,
                    }),
                    frame_rate: fps.unwrap_or(defaults.frame_rate),
                    show_cursor: *cursor,
                    output: if *yuv {
                        OutputFormat::I420
                    } else {
                        defaults.output
                    },
                    clock: Arc::clone(clock),
                    ..defaults
                },
                vec![Arc::clone(&port) as Arc<dyn VideoTarget>],
            )
            .map_err(|e| failed(&e))?;
            Ok(capture_opened(capture, port))
        }
        InputSpec::Window { title } => {
            let port = live_port();
            let capture = WindowCapture::start(
                WindowSettings {
                    clock: Arc::clone(clock),
                    ..WindowSettings::new(WindowSelector::Title(title.clone()))
                },
                vec![Arc::clone(&port) as Arc<dyn VideoTarget>],
            )
            .map_err(|e| failed(&e))?;
            Ok(capture_opened(capture, port))
        }
        InputSpec::Microphone { device } => {
            let sound = sound_port();
            let microphone = Microphone::start(
                MicrophoneSettings {
                    device: device.clone(),
                    clock: Arc::clone(clock),
                    ..MicrophoneSettings::default()
                },
                vec![Arc::clone(&sound) as Arc<dyn livekit_core::AudioTarget>],
            )
            .map_err(|e| failed(&e))?;
            Ok(Opened {
                running: Running::Microphone(microphone),
                picture: Picture::None,
                sound: Some(Sound::Arrival(sound)),
                feeds: None,
                live_at_once: true,
            })
        }
        InputSpec::Tone { frequency, level } => tone_opened(id, *frequency, *level, clock),
    }
}

/// The highest `readrate` taken.
const MAX_READRATE: f64 = 100.0;

/// How a file or playlist read at `readrate` is paced, and on what clock.
fn pacing(
    id: &str,
    readrate: Option<f64>,
    clock: &Arc<dyn Clock>,
) -> Result<(Pacing, Arc<dyn Clock>), CommandError> {
    match readrate {
        None => Ok((Pacing::RealTime, Arc::clone(clock))),
        Some(1.0) => Ok((Pacing::RealTime, Arc::clone(clock))),
        Some(0.0) => Ok((Pacing::FreeRunning, Arc::clone(clock))),
        Some(rate) if rate.is_finite() && rate > 0.0 && rate <= MAX_READRATE => Ok((
            Pacing::Paced,
            Arc::new(ScaledClock::new(Arc::clone(clock), rate)),
        )),
        Some(rate) => Err(CommandError::invalid_on(
            "input",
            id,
            format!("readrate {rate} is out of range (0 to {MAX_READRATE})"),
        )),
    }
}

/// A file's or playlist's pictures and sound, each fanned out: to what its layers read and
/// to the program mix (neither ever waits), and to the encodes of the outputs it feeds
/// directly (`start_output`'s `input`), which make it wait when they are full.
pub(crate) struct Feeds {
    pub(crate) video: Arc<Feed<VideoFrame>>,
    pub(crate) audio: Arc<Feed<AudioFrame>>,
    /// Whether it has sound (a file without any feeds none: its encodes get silence).
    pub(crate) sound: bool,
    /// Whether it has pictures (a song's file has none: it feeds no encode).
    pub(crate) picture: bool,
    /// The sound for the program mix: none when the input has none, or is not read in real
    /// time (its sound would come too fast or too slow to mix).
    pub(crate) mixed: Option<Arc<Port<AudioFrame>>>,
}

impl Feeds {
    fn new(
        layers: &Arc<Port<VideoFrame>>,
        picture: bool,
        sound: Option<Arc<Port<AudioFrame>>>,
        pacing: Pacing,
    ) -> Self {
        let has_sound = sound.is_some();
        let mixed = sound.filter(|_| pacing == Pacing::RealTime);
        Self {
            video: Feed::new(Some(Arc::clone(layers))),
            audio: Feed::new(None),
            sound: has_sound,
            picture,
            mixed,
        }
    }
}

/// Targets by number.
type Targets<T> = Vec<(u64, Arc<dyn FrameTarget<T>>)>;

/// One fan-out of an input's frames (see [`Feeds`]).
pub(crate) struct Feed<T> {
    /// What never waits: the layers' port, the mix's.
    own: Option<Arc<Port<T>>>,
    /// The encodes fed, by number.
    encodes: Mutex<Targets<T>>,
    next: std::sync::atomic::AtomicU64,
    ended: AtomicBool,
}

impl<T: Clone + Send + 'static> Feed<T> {
    fn new(own: Option<Arc<Port<T>>>) -> Arc<Self> {
        Arc::new(Self {
            own,
            encodes: Mutex::new(Vec::new()),
            next: std::sync::atomic::AtomicU64::new(0),
            ended: AtomicBool::new(false),
        })
    }

    /// Feeds `target` from the next frame on (ended at once if the input has ended); returns
    /// its number for [`detach`](Self::detach).
    pub(crate) fn attach(&self, target: Arc<dyn FrameTarget<T>>) -> u64 {
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        let mut encodes = self.encodes.lock();
        if self.ended.load(Ordering::SeqCst) {
            target.end();
        } else {
            encodes.push((number, target));
        }
        number
    }

    /// Whether the input has ended (it feeds nothing more).
    pub(crate) fn has_ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    /// Stops feeding target `number`.
    pub(crate) fn detach(&self, number: u64) {
        self.encodes.lock().retain(|(n, _)| *n != number);
    }
}

impl<T: Clone + Send + 'static> FrameTarget<T> for Feed<T> {
    fn push(&self, frame: T) -> Result<(), PushError> {
        self.push_unless(frame, &AtomicBool::new(false))
    }

    fn push_unless(&self, frame: T, stop: &AtomicBool) -> Result<(), PushError> {
        if let Some(own) = &self.own {
            // Never waits; a closed port (the studio stopping) is no reason to stop the rest.
            let _ = livekit_core::FrameTarget::push(&**own, frame.clone());
        }
        // Pushed outside the lock: an encode that is slow must not hold up its detaching.
        let encodes = self.encodes.lock().clone();
        for (number, target) in encodes {
            match target.push_unless(frame.clone(), stop) {
                Ok(()) => {}
                Err(PushError::Stopped) => return Err(PushError::Stopped),
                // That encode ended or stopped: the others go on.
                Err(_) => self.detach(number),
            }
        }
        Ok(())
    }

    fn end(&self) {
        let encodes = {
            let mut encodes = self.encodes.lock();
            self.ended.store(true, Ordering::SeqCst);
            std::mem::take(&mut *encodes)
        };
        if let Some(own) = &self.own {
            livekit_core::FrameTarget::end(&**own);
        }
        for (_, target) in encodes {
            target.end();
        }
    }
}

fn tone_opened(
    id: &str,
    frequency: f64,
    level: f32,
    clock: &Arc<dyn Clock>,
) -> Result<Opened, CommandError> {
    if !(frequency.is_finite() && (1.0..=20_000.0).contains(&frequency)) {
        return Err(CommandError::invalid(format!(
            "input {id:?}: frequency {frequency} is out of range (1 to 20000 Hz)"
        )));
    }
    if !(level.is_finite() && (0.0..=1.0).contains(&level)) {
        return Err(CommandError::invalid(format!(
            "input {id:?}: level {level} is out of range (0 to 1)"
        )));
    }
    let sound = Arc::new(Port::<AudioFrame>::drop_oldest(SOUND_CAPACITY));
    let tone = Tone::start(frequency, level, Arc::clone(clock), Arc::clone(&sound))
        .map_err(|e| CommandError::invalid(format!("input {id:?}: {e}")))?;
    Ok(Opened {
        running: Running::Tone(tone),
        picture: Picture::None,
        sound: Some(Sound::Timed(sound)),
        feeds: None,
        live_at_once: true,
    })
}

fn capture_opened(capture: VideoCapture, port: Arc<Port<VideoFrame>>) -> Opened {
    Opened {
        running: Running::Capture(capture),
        picture: Picture::Video(port),
        sound: None,
        feeds: None,
        live_at_once: false,
    }
}
