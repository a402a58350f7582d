//! [`Player`]: a media file or URL decoded on its own thread into video and audio targets,
//! paced in real time or free-running. Its controls are the engine's [`Playback`]; what is
//! the player's own is opening, its name, what probing says and the positions.

use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

#[cfg(doc)]
use livekit_core::{AudioTarget, VideoTarget};
use parking_lot::Mutex;

use super::error::OpenMediaError;
use super::events::EventSink;
use super::name::Location;
use super::playback::Playback;
use super::probe::{MediaInfo, probe_location};
use super::reader::MediaReader;
use super::sequence::{CoverSource, Sequence, SequenceSettings};
use super::settings::PlayerSettings;
#[cfg(doc)]
use super::{PlayerEvent, SeekTimestamps};

/// A media file or URL played into [`VideoTarget`]s and [`AudioTarget`]s on its own thread.
///
/// Opens what FFmpeg reads (mp4, mkv, webm, mov, avi, flv, mp3, aac, m4a, wav, flac, ogg, and
/// `rtmp://`, `srt://`, `http(s)://` including HLS). Video frames keep the decoder's I420 or
/// NV12 (other formats become I420, or RGBA when they have alpha) and are turned upright when
/// the stream has rotation metadata; audio is 48 kHz stereo f32.
///
/// Timestamps start at zero and keep rising across loops and, by default, across seeks (a
/// live output never sees time go back; [`SeekTimestamps::MediaTime`] makes them follow the
/// media instead). Audio timestamps come from a sample count, so the two streams cannot drift
/// apart however long the playback.
///
/// Pacing ([`PlayerSettings::pacing`]): in real time the clock decides the position; audio is
/// written [`PlayerSettings::audio_lead`] before its time, video on time against the same
/// position (the audio clock: with audio present, the position is where the audio is), and a
/// video frame more than one frame late is dropped and counted, never queued. Free-running
/// writes everything in time order as fast as the targets take it (blocking targets: nothing
/// is lost).
///
/// The controls (targets, start, pause, seek, stop, state, events ...) are those of
/// [`Playback`], which a `Player` dereferences to. The end: [`PlayerEvent::EndOfStream`] on
/// [`events`](Playback::events) (a bounded channel that drops its oldest event when nobody
/// reads it), the targets' `end()`, and [`wait`](Playback::wait) returns.
///
/// ```no_run
/// use livekit_core::{Port, VideoFrame, AudioFrame};
/// use livekit_sources::{Player, PlayerSettings};
///
/// let video = Port::<VideoFrame>::latest();
/// let audio = Port::<AudioFrame>::drop_oldest(64);
/// let player = Player::open("clip.mp4", PlayerSettings::default())?;
/// player.add_video_target(video.clone())?;
/// player.add_audio_target(audio.clone())?;
/// player.start()?;
/// player.wait(std::time::Duration::MAX);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Player {
    playback: Playback,
    info: Option<MediaInfo>,
    duration: Option<Duration>,
}

impl Player {
    /// Opens a file or URL (an `&str`, `String`, `Path` or `PathBuf`; text with `://` is a URL).
    /// Blocks until the media is open (at most [`PlayerSettings::open_timeout`]).
    pub fn open(
        path_or_url: impl AsRef<Path>,
        settings: PlayerSettings,
    ) -> Result<Self, OpenMediaError> {
        let location = Location::from_path(path_or_url.as_ref());
        let stop = Arc::new(AtomicBool::new(false));
        let reader = MediaReader::open(&location, &settings.reader(&stop))?;
        let info = if location.is_url() {
            None
        } else {
            probe_location(&location).ok()
        };
        let duration = reader.duration();
        let seekable = !reader.is_url();
        let name = reader.name().to_owned();
        let events = EventSink::new();
        let sequence = Sequence::new(
            vec![location],
            vec![0],
            (0, reader),
            SequenceSettings {
                looping: settings.looping,
                continuous_audio: false,
                cover: CoverSource::Nothing,
                album_art: false,
                captions: false,
                reader: settings.reader(&stop),
                shuffle: None,
                playlist: false,
            },
            events.clone(),
            Arc::new(Mutex::new(None)),
        );
        let playback = Playback::new(
            name,
            sequence,
            events,
            stop,
            &settings,
            seekable,
            "livekit.player",
        );
        Ok(Self {
            playback,
            info,
            duration,
        })
    }

    /// The path or redacted URL.
    pub fn name(&self) -> &str {
        self.playback.name()
    }

    /// What [`probe`](super::probe) says about a file (`None` for URLs).
    pub fn info(&self) -> Option<&MediaInfo> {
        self.info.as_ref()
    }

    /// The media's duration, when known (not for live streams).
    pub fn duration(&self) -> Option<Duration> {
        self.duration
    }

    /// Where playback is in the media (within the current loop pass).
    pub fn position(&self) -> Duration {
        self.playback.item_position()
    }

    /// Where playback is on the output timeline (counting earlier loops).
    pub fn timeline_position(&self) -> Duration {
        self.playback.timeline_position()
    }
}

impl Deref for Player {
    type Target = Playback;

    /// The controls: targets, start, pause, resume, seek, looping, stop, state, counters,
    /// events, wait.
    fn deref(&self) -> &Playback {
        &self.playback
    }
}
