//! [`Playlist`]: files played back to back as one continuous stream.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use livekit_core::{ColorSpace, FrameError, FrameLayout, PixelFormat, VideoFrame};
use parking_lot::Mutex;

use super::engine::Skip;
use super::error::{ControlError, OpenMediaError};
use super::events::{EventSink, PlayerEvent};
use super::name::Location;
use super::playback::Playback;
use super::reader::{MediaReader, ReaderSettings};
use super::sequence::{CoverSource, Sequence, SequenceSettings};
use super::settings::{PlayerSettings, SeekTimestamps};
use crate::ImageFile;

/// What a [`Playlist`] shows while an entry without video (a song) plays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Cover {
    /// A black 1280x720 picture (default; BT.709 I420, what encoders take as it is).
    #[default]
    Black,
    /// Nothing: no video frames while such an entry plays.
    Nothing,
    /// A still image (PNG, JPEG, GIF, WebP, BMP; the first frame of an animation).
    Image(PathBuf),
    /// A video, looped for as long as the entry plays (its audio is not used).
    Video(PathBuf),
}

/// Settings of a [`Playlist`].
#[derive(Debug, Clone)]
pub struct PlaylistSettings {
    /// Pacing, clock, decoding and time limits, and `looping`: start the list over at its end,
    /// for ever (default `false`).
    pub player: PlayerSettings,
    /// Play the entries in a random order (a new one each pass) instead of the given (or, for
    /// a glob, sorted) order. Default `false`.
    pub shuffle: bool,
    /// The shuffle's seed, for a repeatable order; `None` (default) takes one from the time.
    pub seed: Option<u64>,
    /// What entries without video show (default [`Cover::Black`]).
    pub cover: Cover,
    /// Frames a second of a still cover (default 30).
    pub cover_frame_rate: u32,
    /// Entries without video that carry cover art (the picture MP3 and M4A files embed)
    /// show it instead of a still cover ([`Cover::Black`] or [`Cover::Image`]). Default
    /// `true`. Art that cannot be decoded is a warning, and the usual cover shows.
    pub album_art: bool,
    /// Give entries without video a caption "Title - Artist" from their tags (default `true`);
    /// see [`NowPlaying::caption`].
    pub captions: bool,
}

impl Default for PlaylistSettings {
    fn default() -> Self {
        Self {
            player: PlayerSettings::default(),
            shuffle: false,
            seed: None,
            cover: Cover::Black,
            cover_frame_rate: 30,
            album_art: true,
            captions: true,
        }
    }
}

/// The entry playing now ([`Playlist::now_playing`], [`PlayerEvent::NowPlaying`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NowPlaying {
    /// The entry's position in the list as given (or as sorted, for a glob).
    pub index: usize,
    /// Its path or redacted URL.
    pub name: String,
    /// Its `title` tag.
    pub title: Option<String>,
    /// Its `artist` tag.
    pub artist: Option<String>,
    /// For an entry without video (with [`PlaylistSettings::captions`]): "Title - Artist" (or
    /// the title alone). Show it in a text layer of the compositor: the `livekit` command puts
    /// it in a text layer over the cover and changes its text at each
    /// [`PlayerEvent::NowPlaying`].
    pub caption: Option<String>,
    /// Whether the entry has video of its own.
    pub has_video: bool,
    /// Where on the output timeline it starts.
    pub starts_at: Duration,
}

/// Files (or URLs) played back to back as ONE stream: timestamps keep rising across entries,
/// audio is continuous (silence where an entry has none, overlaps trimmed), and a change of
/// size or frame rate between entries goes straight through (the frames just have another
/// size): nothing restarts between songs.
///
/// Entries without video show the [`Cover`]; their tags give a caption
/// ([`now_playing`](Self::now_playing)). Entries that cannot be opened are skipped with a
/// [`PlayerEvent::Skipped`] (and a warning in the log) naming them; a list with nothing
/// playable is an error ([`OpenMediaError::NothingPlayable`]) from [`new`](Self::new).
///
/// The thread, pacing, events and controls are the [`Player`](super::Player)'s: a `Playlist`
/// dereferences to a [`Playback`] too, whose [`seek`](Playback::seek) goes to a point on the
/// list's timeline. Its own are [`skip_next`](Self::skip_next),
/// [`skip_previous`](Self::skip_previous) and [`skip_to`](Self::skip_to); none of them breaks
/// the output's timeline.
///
/// ```no_run
/// use livekit_core::{AudioFrame, Port, VideoFrame};
/// use livekit_sources::{Playlist, PlaylistSettings};
///
/// let mut settings = PlaylistSettings::default();
/// settings.player.looping = true;
/// let list = Playlist::from_glob("music/*.mp3", settings)?;
/// list.add_video_target(Port::<VideoFrame>::latest())?;
/// list.add_audio_target(Port::<AudioFrame>::drop_oldest(64))?;
/// list.start()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Playlist {
    playback: Playback,
    now_playing: Arc<Mutex<Option<NowPlaying>>>,
    len: usize,
}

impl Playlist {
    /// A playlist of `entries` (paths, or URLs as text), in this order. Opens entries until one
    /// plays (skipping those that fail); fails when none does.
    pub fn new<P: AsRef<Path>>(
        entries: impl IntoIterator<Item = P>,
        settings: PlaylistSettings,
    ) -> Result<Self, OpenMediaError> {
        let items: Vec<Location> = entries
            .into_iter()
            .map(|p| Location::from_path(p.as_ref()))
            .collect();
        if items.is_empty() {
            return Err(OpenMediaError::NothingPlayable {
                detail: "the list is empty".into(),
            });
        }
        let cover = match &settings.cover {
            Cover::Nothing => CoverSource::Nothing,
            Cover::Black => CoverSource::Still {
                frame: black_frame().map_err(|e| OpenMediaError::Cover {
                    detail: e.to_string(),
                })?,
                interval: frame_interval(settings.cover_frame_rate),
            },
            Cover::Image(path) => {
                let image = ImageFile::open(path).map_err(|e| OpenMediaError::Cover {
                    detail: e.to_string(),
                })?;
                CoverSource::Still {
                    frame: image.frame().clone(),
                    interval: frame_interval(settings.cover_frame_rate),
                }
            }
            Cover::Video(path) => {
                let location = Location::from_path(path);
                // Check it now, so a bad cover is an error here and not a surprise later.
                MediaReader::open(
                    &location,
                    &ReaderSettings {
                        audio: false,
                        ..Default::default()
                    },
                )
                .map_err(|e| OpenMediaError::Cover {
                    detail: e.to_string(),
                })?;
                CoverSource::Video { location }
            }
        };
        let seed = settings.shuffle.then(|| {
            settings.seed.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            })
        });
        let order = Sequence::play_order(items.len(), seed);
        let stop = Arc::new(AtomicBool::new(false));
        let reader_settings = settings.player.reader(&stop);
        let events = EventSink::new();
        let mut failures = Vec::new();
        let mut first = None;
        for (slot, &index) in order.iter().enumerate() {
            let Some(location) = items.get(index) else {
                continue;
            };
            match MediaReader::open(location, &reader_settings) {
                Ok(reader) => {
                    first = Some((slot, reader));
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "skipping a playlist entry");
                    failures.push(error.to_string());
                    events.send(PlayerEvent::Skipped(error));
                }
            }
        }
        let Some(first) = first else {
            return Err(OpenMediaError::NothingPlayable {
                detail: failures.join("; "),
            });
        };
        let now_playing = Arc::new(Mutex::new(None));
        let len = items.len();
        let sequence = Sequence::new(
            items,
            order,
            first,
            SequenceSettings {
                looping: settings.player.looping,
                continuous_audio: settings.player.audio,
                cover,
                album_art: settings.album_art,
                captions: settings.captions,
                reader: reader_settings,
                shuffle: seed,
                playlist: true,
            },
            events.clone(),
            now_playing.clone(),
        );
        // One stream: its timestamps always rise.
        let player = PlayerSettings {
            seek_timestamps: SeekTimestamps::Rising,
            ..settings.player.clone()
        };
        let playback = Playback::new(
            format!("playlist of {len}"),
            sequence,
            events,
            stop,
            &player,
            true,
            "livekit.playlist",
        );
        Ok(Self {
            playback,
            now_playing,
            len,
        })
    }

    /// A playlist of the files matching `pattern` (`*` and `?` in the file name part, e.g.
    /// `music/*.mp3`), sorted by name; see [`expand_glob`].
    pub fn from_glob(pattern: &str, settings: PlaylistSettings) -> Result<Self, OpenMediaError> {
        Self::new(expand_glob(pattern)?, settings)
    }

    /// Entries in the list.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a playlist has at least one entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entry playing now, with its caption.
    pub fn now_playing(&self) -> Option<NowPlaying> {
        self.now_playing.lock().clone()
    }

    /// Goes on with the next entry in play order now (at the end of a list that does not
    /// loop, the playlist ends). The output goes on without a break: timestamps keep rising
    /// and the next entry starts at its first frame.
    pub fn skip_next(&self) -> Result<(), ControlError> {
        self.playback.skip(Skip::Next)
    }

    /// Goes back to the previous entry in play order, from its start (on the first entry: that
    /// one again, or the last one when the list loops). Timestamps keep rising.
    pub fn skip_previous(&self) -> Result<(), ControlError> {
        self.playback.skip(Skip::Previous)
    }

    /// Goes on with the entry at `index` of the list (as given, or as sorted for a glob), from
    /// its start; play continues in play order after it. Timestamps keep rising. An index out
    /// of range is [`ControlError::NoSuchEntry`].
    pub fn skip_to(&self, index: usize) -> Result<(), ControlError> {
        if index >= self.len {
            return Err(ControlError::NoSuchEntry {
                name: self.playback.name().to_owned(),
                index,
                len: self.len,
            });
        }
        self.playback.skip(Skip::To(index))
    }

    /// Where playback is on the output timeline.
    pub fn position(&self) -> Duration {
        self.playback.timeline_position()
    }
}

impl Deref for Playlist {
    type Target = Playback;

    /// The controls: targets, start, pause, resume, seek (on the list's timeline), looping
    /// (of the whole list), stop, state, counters, events, wait.
    fn deref(&self) -> &Playback {
        &self.playback
    }
}

fn frame_interval(rate: u32) -> Duration {
    Duration::from_secs_f64(1.0 / f64::from(rate.clamp(1, 240)))
}

/// The files matching `pattern`, sorted by name as a person numbers them (`2.mp4` before
/// `10.mp4`, `a` with `A`). The last part of the path is a glob
/// pattern (`dir/*.mp3`: `*` any run of characters, `?` one, `[abc]` / `[a-z]` / `[!abc]` one
/// of a set); the directory part is taken as it is. No match, or a pattern that is not one
/// (`[` left open), is an error naming the pattern.
pub fn expand_glob(pattern: &str) -> Result<Vec<PathBuf>, OpenMediaError> {
    let path = Path::new(pattern);
    let error = |detail: String| OpenMediaError::Glob {
        pattern: pattern.to_owned(),
        detail,
    };
    let file_pattern = path
        .file_name()
        .and_then(|f| f.to_str())
        .ok_or_else(|| error("no file name part".into()))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if dir.to_string_lossy().contains(['*', '?']) {
        return Err(error(
            "wildcards work in the file name only, not in directories".into(),
        ));
    }
    let matcher =
        glob::Pattern::new(file_pattern).map_err(|e| error(format!("not a pattern: {}", e.msg)))?;
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| error(format!("cannot list {}: {e}", dir.display())))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()))
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_owned();
            matcher.matches(&name).then(|| dir.join(name))
        })
        .collect();
    found.sort_by(|a, b| natural_order(&a.to_string_lossy(), &b.to_string_lossy()));
    if found.is_empty() {
        return Err(error("no file matches".into()));
    }
    Ok(found)
}

/// File names in the order a person numbers them: runs of digits compare as numbers
/// (`2.mp4` before `10.mp4`), letters without regard to case, then as given.
fn natural_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut digits = None;
        for (i, c) in s.char_indices() {
            let is_digit = c.is_ascii_digit();
            if digits.is_some_and(|d| d != is_digit) {
                out.push((digits == Some(true), &s[start..i]));
                start = i;
            }
            digits = Some(is_digit);
        }
        if start < s.len() {
            out.push((digits == Some(true), &s[start..]));
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(&cb) {
        let order = match (x, y) {
            ((true, x), (true, y)) => {
                let (tx, ty) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                tx.len().cmp(&ty.len()).then_with(|| tx.cmp(ty))
            }
            ((_, x), (_, y)) => x.to_lowercase().cmp(&y.to_lowercase()),
        };
        if order.is_ne() {
            return order;
        }
    }
    ca.len().cmp(&cb.len()).then_with(|| a.cmp(b))
}

/// The black cover: 1280x720 BT.709 limited-range I420 (a third of the memory of RGBA, and the
/// encoder's own format).
fn black_frame() -> Result<VideoFrame, FrameError> {
    let layout = FrameLayout::new(1280, 720, PixelFormat::I420(ColorSpace::BT709_LIMITED))?;
    let mut data = vec![128u8; layout.len()];
    let luma = layout.offset(0)..layout.offset(0) + layout.stride(0) * layout.rows(0);
    data[luma].fill(16);
    VideoFrame::from_vec(layout, data, Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::natural_order;

    #[test]
    fn names_sort_as_people_number_them() {
        let mut names = vec![
            "d/10.mp3",
            "d/2.mp3",
            "d/B.mp3",
            "d/1.mp3",
            "d/a.mp3",
            "d/ep02b.mp4",
            "d/ep2a.mp4",
            "d/ep10.mp4",
            "d/007.mp3",
        ];
        names.sort_by(|a, b| natural_order(a, b));
        assert_eq!(
            names,
            [
                "d/1.mp3",
                "d/2.mp3",
                "d/007.mp3",
                "d/10.mp3",
                "d/a.mp3",
                "d/B.mp3",
                "d/ep2a.mp4",
                "d/ep02b.mp4",
                "d/ep10.mp4"
            ]
        );
    }
}
