//! [`Sequence`]: one or more media played back to back as one timeline. The feed of both
//! [`Player`](super::Player) (one item, maybe looping) and [`Playlist`](super::Playlist).
//!
//! Output timestamps keep rising across items and loops: each item starts where the longer of
//! its predecessor's streams ended. Audio timestamps come from a running sample count, so they
//! never drift from the media's; with `continuous_audio`, silence fills every gap (items
//! without audio too) and overlaps are trimmed, so audio frames follow each other exactly.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use livekit_core::{AudioFrame, VideoFrame};
use parking_lot::Mutex;

use super::engine::{Skip, Written};
use super::error::{OpenMediaError, PlayError};
use super::events::{EventSink, PlayerEvent};
use super::name::Location;
use super::playlist::NowPlaying;
use super::reader::{
    Decoded, MediaReader, ReaderSettings, ns_to_duration, ns_to_samples, samples_to_ns,
};
use super::{AUDIO_CHANNELS, AUDIO_RATE};
use crate::{ImageFile, ImageSettings};

/// Audio further than this from where the running count says it belongs is moved (silence
/// inserted or samples trimmed, or, without `continuous_audio`, the count follows it).
const AUDIO_TOLERANCE_NS: i64 = 5_000_000;

/// Audio that runs on after the last video frame by up to this much (an encoder's last
/// partial frame) does not delay the next item: its overlap with the next item's audio is
/// trimmed instead, so the video has no gap at the join.
const AUDIO_OVERHANG_NS: i64 = 100_000_000;

/// Silence is made in blocks of this many samples.
const SILENCE_BLOCK: u64 = 1024;

/// What video fills the screen while an item without video plays.
#[derive(Debug)]
pub(crate) enum CoverSource {
    /// Nothing: no video while such an item plays.
    Nothing,
    /// One picture, repeated at `interval`.
    Still {
        frame: VideoFrame,
        interval: Duration,
    },
    /// A video, looped.
    Video { location: Location },
}

/// How a [`Sequence`] plays.
#[derive(Debug)]
pub(crate) struct SequenceSettings {
    pub looping: bool,
    pub continuous_audio: bool,
    pub cover: CoverSource,
    /// Items with cover art show it instead of a still cover.
    pub album_art: bool,
    pub captions: bool,
    pub reader: ReaderSettings,
    pub shuffle: Option<u64>,
    /// A playlist: seeks are on the list's timeline and timestamps always rise.
    pub playlist: bool,
}

struct Current {
    reader: MediaReader,
    /// Position in `order`.
    slot: usize,
    /// Output time (ns) of the item's media time zero.
    offset_ns: i64,
    /// Furthest media time (ns) its video frames reached (pts + frame duration).
    video_end_ns: i64,
    /// Furthest media time (ns) its audio reached.
    audio_end_ns: i64,
    /// Whether any frame came out of it.
    played: bool,
}

/// The looping cover video of items without video.
struct CoverVideo {
    reader: MediaReader,
    /// Output time (ns) of the cover's media time zero in this loop.
    base_ns: i64,
    end_ns: i64,
    /// Media time (ns) where its next frame is due (the end of the last one read).
    next_media_ns: i64,
}

/// Items played back to back; see the module docs.
pub(crate) struct Sequence {
    items: Vec<Location>,
    settings: SequenceSettings,
    order: Vec<usize>,
    /// Next position in `order` to open.
    next_slot: usize,
    current: Option<Current>,
    /// Output time (ns) where the next item starts.
    next_offset_ns: i64,
    /// Audio samples written on the output timeline so far (timestamps come from this).
    audio_samples: u64,
    /// Whether any audio has been written (before that, the count follows the first frame).
    audio_started: bool,
    last_video_ns: Option<i64>,
    /// Frames made on the side (silence, cover frames), in time order. Small: at most a few
    /// blocks for one video frame or one audio frame.
    out: VecDeque<Decoded>,
    cover_next_ns: i64,
    cover_video: Option<CoverVideo>,
    /// The current item's cover art, shown instead of a still cover.
    item_art: Option<VideoFrame>,
    events: EventSink,
    now_playing: Arc<Mutex<Option<NowPlaying>>>,
    /// Items that played in the current pass over the list.
    played_this_pass: usize,
    /// Items that failed in a row.
    failed_in_a_row: usize,
    loops: u64,
    rng: u64,
    frame_duration: Duration,
    /// Set when the sequence ended with an error.
    failure: Option<PlayError>,
    /// Each item's duration once known (`Some(None)`: it has none, as a live URL; an item that
    /// does not open counts as zero), for seeks on the list's timeline.
    durations: Vec<Option<Option<Duration>>>,
}

impl std::fmt::Debug for Sequence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequence")
            .field("items", &self.items.len())
            .field("next_slot", &self.next_slot)
            .finish_non_exhaustive()
    }
}

impl Sequence {
    /// A sequence whose first playable item is already open (`first` is its position in
    /// `order`, counting the failed ones before it).
    pub(crate) fn new(
        items: Vec<Location>,
        order: Vec<usize>,
        first: (usize, MediaReader),
        settings: SequenceSettings,
        events: EventSink,
        now_playing: Arc<Mutex<Option<NowPlaying>>>,
    ) -> Self {
        let rng = settings.shuffle.unwrap_or(0x9e37_79b9_7f4a_7c15) | 1;
        let (slot, reader) = first;
        let durations = vec![None; items.len()];
        let mut sequence = Self {
            items,
            settings,
            order,
            next_slot: slot + 1,
            current: None,
            next_offset_ns: 0,
            audio_samples: 0,
            audio_started: false,
            last_video_ns: None,
            out: VecDeque::new(),
            cover_next_ns: 0,
            item_art: None,
            cover_video: None,
            events,
            now_playing,
            played_this_pass: 0,
            failed_in_a_row: 0,
            loops: 0,
            rng,
            frame_duration: reader.frame_duration(),
            failure: None,
            durations,
        };
        sequence.begin(slot, reader);
        sequence
    }

    /// Positions of items in play order: `0..n`, shuffled with `seed` when given.
    pub(crate) fn play_order(n: usize, seed: Option<u64>) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        if let Some(seed) = seed {
            let mut rng = seed | 1;
            shuffle(&mut order, &mut rng);
        }
        order
    }

    /// How long a video frame of the current item shows.
    pub(crate) fn frame_duration(&self) -> Duration {
        self.frame_duration
    }

    /// Output time (ns) of the current item's media time zero (where it or its loop pass
    /// began; negative after a rising seek far into it).
    pub(crate) fn item_offset_ns(&self) -> i64 {
        self.current
            .as_ref()
            .map_or(self.next_offset_ns, |c| c.offset_ns)
    }

    /// Completed loops.
    pub(crate) fn loops(&self) -> u64 {
        self.loops
    }

    /// Set when the sequence ended with an error (taken once).
    pub(crate) fn take_failure(&mut self) -> Option<PlayError> {
        self.failure.take()
    }

    /// Changes whether the sequence loops.
    pub(crate) fn set_looping(&mut self, looping: bool) {
        self.settings.looping = looping;
    }

    /// Seeks to `to`: in the current item for a one-item sequence (a player), on the list's
    /// timeline (its items back to back in play order, this pass) for a playlist.
    ///
    /// With `rising` (what the output was written up to), output timestamps go on from there;
    /// without, they jump to the item's offset plus `to`. Returns the output time where
    /// playback goes on.
    pub(crate) fn seek(
        &mut self,
        to: Duration,
        rising: Option<Written>,
    ) -> Result<Duration, String> {
        if self.settings.playlist {
            let written = rising.ok_or("playlist: timestamps always rise")?;
            return self.seek_list(to, written);
        }
        let Some(current) = &mut self.current else {
            return Err("nothing is playing".into());
        };
        current.reader.seek(to)?;
        let to_ns = duration_ns(to);
        current.video_end_ns = to_ns;
        current.audio_end_ns = to_ns;
        let out_ns = match rising {
            Some(written) => {
                let at_ns = written.resume_ns();
                current.offset_ns = at_ns - to_ns;
                self.go_on_from(written);
                at_ns
            }
            None => {
                let out_ns = current.offset_ns + to_ns;
                self.out.clear();
                self.audio_samples = ns_to_samples(out_ns);
                self.last_video_ns = None;
                self.cover_next_ns = out_ns;
                out_ns
            }
        };
        Ok(ns_to_duration(out_ns))
    }

    /// Drops what was made ahead and makes the output go on from what was `written`: audio
    /// from its last sample (silence up to where video goes on), video after its last frame.
    fn go_on_from(&mut self, written: Written) {
        let at_ns = written.resume_ns();
        self.out.clear();
        self.last_video_ns = written.last_video_ns;
        self.cover_next_ns = at_ns;
        if let Some(cover) = &mut self.cover_video {
            // The cover video goes on from its next frame, at `at_ns`.
            cover.base_ns = at_ns - cover.next_media_ns;
        }
        match written.audio_end_ns {
            Some(audio_end_ns) => {
                self.audio_started = true;
                self.audio_samples = ns_to_samples(audio_end_ns);
                self.silence_until(at_ns);
            }
            None => {
                self.audio_started = false;
                self.audio_samples = ns_to_samples(at_ns);
            }
        }
    }

    /// The list's timeline: each item's duration in play order; opens the items not opened
    /// yet to read it.
    fn duration_of(&mut self, slot: usize) -> Option<Duration> {
        let index = *self.order.get(slot)?;
        if let Some(known) = self.durations.get(index).copied().flatten() {
            return known;
        }
        let duration = match &self.current {
            Some(current) if current.slot == slot => current.reader.duration(),
            _ => {
                let location = self.items.get(index)?;
                match MediaReader::open(location, &self.settings.reader) {
                    Ok(reader) => reader.duration(),
                    // It would be skipped: it takes no time.
                    Err(_) => Some(Duration::ZERO),
                }
            }
        };
        if let Some(known) = self.durations.get_mut(index) {
            *known = Some(duration);
        }
        duration
    }

    /// Seeks on the list's timeline (the items of this pass back to back, each as long as its
    /// container says); output timestamps go on from what was `written`.
    fn seek_list(&mut self, to: Duration, written: Written) -> Result<Duration, String> {
        let mut start = Duration::ZERO;
        let mut found = None;
        for slot in 0..self.order.len() {
            let Some(length) = self.duration_of(slot) else {
                let name = self
                    .order
                    .get(slot)
                    .and_then(|&i| self.items.get(i))
                    .map_or_else(String::new, Location::shown);
                return Err(format!(
                    "playlist: cannot seek to {:.3} s: the length of {name} is unknown",
                    to.as_secs_f64()
                ));
            };
            if to < start + length {
                found = Some((slot, to - start));
                break;
            }
            start += length;
        }
        let Some((slot, local)) = found else {
            return Err(format!(
                "playlist: cannot seek to {:.3} s: the list is {:.3} s long",
                to.as_secs_f64(),
                start.as_secs_f64()
            ));
        };
        let at_ns = written.resume_ns();
        let local_ns = duration_ns(local);
        let same = self.current.as_ref().is_some_and(|c| c.slot == slot);
        if same {
            if let Some(current) = &mut self.current {
                current.reader.seek(local)?;
                current.offset_ns = at_ns - local_ns;
                current.video_end_ns = local_ns;
                current.audio_end_ns = local_ns;
            }
            self.go_on_from(written);
        } else {
            let location = self
                .order
                .get(slot)
                .and_then(|&i| self.items.get(i))
                .ok_or("playlist: no such entry")?;
            let mut reader = MediaReader::open(location, &self.settings.reader)
                .map_err(|e| format!("playlist: cannot seek into it: {e}"))?;
            if local > Duration::ZERO {
                reader.seek(local)?;
            }
            self.current = None;
            self.go_on_from(written);
            self.next_offset_ns = at_ns - local_ns;
            self.next_slot = slot + 1;
            self.begin(slot, reader);
            if let Some(current) = &mut self.current {
                current.video_end_ns = local_ns;
                current.audio_end_ns = local_ns;
            }
        }
        Ok(ns_to_duration(at_ns))
    }

    /// Ends the current item where the output is and goes on with another one; output
    /// timestamps go on from what was `written`.
    pub(crate) fn skip(&mut self, skip: Skip, written: Written) -> Result<(), String> {
        let slot = match &self.current {
            Some(current) => current.slot,
            None => self.next_slot.saturating_sub(1),
        };
        let last = self.order.len().saturating_sub(1);
        let next_slot = match skip {
            // Past the last one: the end, or the next pass when looping (`open_next`).
            Skip::Next => slot + 1,
            Skip::Previous if slot == 0 && self.settings.looping => last,
            Skip::Previous => slot.saturating_sub(1),
            Skip::To(index) => self.order.iter().position(|&i| i == index).ok_or_else(|| {
                format!(
                    "playlist: no entry {index} (the list has {})",
                    self.items.len()
                )
            })?,
        };
        self.current = None;
        self.go_on_from(written);
        self.next_offset_ns = written.resume_ns();
        self.next_slot = next_slot;
        Ok(())
    }

    fn begin(&mut self, slot: usize, reader: MediaReader) {
        let index = self.order.get(slot).copied().unwrap_or(0);
        let name = reader.name().to_owned();
        let title = reader.tag("title").map(str::to_owned);
        let artist = reader.tag("artist").map(str::to_owned);
        let caption = if self.settings.captions && !reader.has_video() {
            match (&title, &artist) {
                (Some(t), Some(a)) => Some(format!("{t} - {a}")),
                (Some(t), None) => Some(t.clone()),
                _ => None,
            }
        } else {
            None
        };
        let now = NowPlaying {
            index,
            name,
            title,
            artist,
            caption,
            has_video: reader.has_video(),
            starts_at: ns_to_duration(self.next_offset_ns),
        };
        tracing::info!(item = %now.name, index, caption = ?now.caption, "now playing");
        *self.now_playing.lock() = Some(now.clone());
        self.events.send(PlayerEvent::NowPlaying(now));
        self.frame_duration = reader.frame_duration();
        if let Some(known) = self.durations.get_mut(index) {
            *known = Some(reader.duration());
        }
        self.cover_next_ns = self.cover_next_ns.max(self.next_offset_ns);
        self.item_art = self.album_art(&reader);
        if let Some(cover) = &mut self.cover_video {
            cover.base_ns = cover.base_ns.max(self.next_offset_ns - cover.end_ns);
        }
        self.current = Some(Current {
            reader,
            slot,
            offset_ns: self.next_offset_ns,
            video_end_ns: 0,
            audio_end_ns: 0,
            played: false,
        });
        self.played_this_pass += 1;
        self.failed_in_a_row = 0;
    }

    /// Opens the next playable item; false at the end of the list (and no loop) or when a
    /// whole pass failed.
    fn open_next(&mut self) -> bool {
        loop {
            if self.next_slot >= self.order.len() {
                if !self.settings.looping {
                    return false;
                }
                if self.played_this_pass == 0 {
                    self.failure = Some(PlayError::Open(OpenMediaError::NothingPlayable {
                        detail: format!(
                            "none of the {} entries opened in a whole pass",
                            self.items.len()
                        ),
                    }));
                    return false;
                }
                self.loops += 1;
                self.events.send(PlayerEvent::Looped { count: self.loops });
                self.played_this_pass = 0;
                self.next_slot = 0;
                if self.settings.shuffle.is_some() {
                    shuffle(&mut self.order, &mut self.rng);
                }
            }
            let slot = self.next_slot;
            self.next_slot += 1;
            let Some(location) = self.order.get(slot).and_then(|&i| self.items.get(i)) else {
                continue;
            };
            match MediaReader::open(location, &self.settings.reader) {
                Ok(reader) => {
                    self.begin(slot, reader);
                    return true;
                }
                Err(error) => {
                    tracing::warn!(%error, "skipping a playlist entry");
                    self.events.send(PlayerEvent::Skipped(error));
                    self.failed_in_a_row += 1;
                    if self.failed_in_a_row > self.items.len() {
                        return false;
                    }
                }
            }
        }
    }

    /// The next frame on the output timeline; `None` at the end.
    pub(crate) fn next(&mut self) -> Option<Decoded> {
        loop {
            if let Some(out) = self.out.pop_front() {
                return Some(out);
            }
            if self.current.is_none() && !self.open_next() {
                return None;
            }
            let current = self.current.as_mut()?;
            let decoded = current.reader.next();
            for warning in current.reader.take_warnings() {
                self.events.send(PlayerEvent::Warning(warning));
            }
            match decoded {
                Some(Decoded::Video(frame)) => self.video(frame),
                Some(Decoded::Audio(frame)) => self.audio(frame),
                None => self.item_ended(),
            }
        }
    }

    fn video(&mut self, frame: VideoFrame) {
        let Some(current) = self.current.as_mut() else {
            return;
        };
        current.played = true;
        let media_ns = duration_ns(frame.pts());
        let frame_ns = duration_ns(current.reader.frame_duration());
        current.video_end_ns = current.video_end_ns.max(media_ns + frame_ns);
        let out_ns = current.offset_ns + media_ns;
        let has_audio = current.reader.has_audio();
        if self.settings.continuous_audio && !has_audio {
            self.silence_until(out_ns + frame_ns);
        }
        self.push_video(frame, out_ns);
    }

    fn push_video(&mut self, frame: VideoFrame, out_ns: i64) {
        if self.last_video_ns.is_some_and(|last| out_ns <= last) {
            tracing::debug!(out_ns, "video frame not after the previous one; dropped");
            return;
        }
        self.last_video_ns = Some(out_ns);
        let frame = frame.with_pts(ns_to_duration(out_ns));
        self.out.push_back(Decoded::Video(frame));
    }

    fn audio(&mut self, frame: AudioFrame) {
        let Some(current) = self.current.as_mut() else {
            return;
        };
        current.played = true;
        let media_ns = duration_ns(frame.pts());
        current.audio_end_ns = current.audio_end_ns.max(duration_ns(frame.end_pts()));
        let has_video = current.reader.has_video();
        let target_ns = current.offset_ns + media_ns;
        let expected_ns = samples_to_ns(self.audio_samples);
        let diff = target_ns - expected_ns;
        let mut frame = Some(frame);
        if !self.audio_started {
            self.audio_samples = ns_to_samples(target_ns);
            self.audio_started = true;
        } else if diff > AUDIO_TOLERANCE_NS {
            if self.settings.continuous_audio {
                self.silence_until(target_ns);
            } else {
                self.audio_samples = ns_to_samples(target_ns);
            }
        } else if diff < -AUDIO_TOLERANCE_NS {
            // Overlap (a join, a loop): drop the samples that are already covered.
            let skip = ns_to_samples(-diff) as usize;
            frame = frame.and_then(|f| trim_head(&f, skip));
        }
        if let Some(frame) = frame {
            let end_ns = samples_to_ns(self.audio_samples + frame.frames() as u64);
            if !has_video {
                self.cover_until(end_ns);
            }
            let pts = ns_to_duration(samples_to_ns(self.audio_samples));
            self.audio_samples += frame.frames() as u64;
            self.out.push_back(Decoded::Audio(frame.with_pts(pts)));
        }
    }

    fn item_ended(&mut self) {
        let Some(current) = self.current.take() else {
            return;
        };
        let name = current.reader.name().to_owned();
        if !current.played {
            let error = PlayError::NothingDecoded { name: name.clone() };
            if self.items.len() == 1 {
                self.failure = Some(error);
                return;
            }
            self.events
                .send(PlayerEvent::Warning(format!("{error}; skipped")));
        }
        let length_ns = if current.video_end_ns > 0 {
            current
                .video_end_ns
                .max(current.audio_end_ns - AUDIO_OVERHANG_NS)
        } else {
            current.audio_end_ns
        };
        let end_ns = current.offset_ns + length_ns;
        self.next_offset_ns = end_ns.max(self.next_offset_ns);
        if !current.reader.has_video() {
            self.cover_until(end_ns);
        }
        if self.settings.continuous_audio {
            self.silence_until(end_ns);
        }
        // One item looping: seek back instead of opening the file again.
        if self.items.len() == 1 && self.settings.looping && current.played {
            let mut reader = current.reader;
            // A URL without a duration is live: there is no start to go back to. A file over
            // HTTP has one, and loops by seeking (when the server allows ranges).
            if reader.is_url() && reader.duration().is_none() {
                self.events.send(PlayerEvent::Warning(format!(
                    "media {name}: a live stream cannot loop; ending"
                )));
                self.next_slot = usize::MAX;
                self.settings.looping = false;
                return;
            }
            match reader.seek(Duration::ZERO) {
                Ok(()) => {
                    self.loops += 1;
                    self.events.send(PlayerEvent::Looped { count: self.loops });
                    self.current = Some(Current {
                        reader,
                        slot: current.slot,
                        offset_ns: self.next_offset_ns,
                        video_end_ns: 0,
                        audio_end_ns: 0,
                        played: false,
                    });
                }
                Err(message) => {
                    self.events.send(PlayerEvent::Warning(message));
                    self.settings.looping = false;
                    self.next_slot = usize::MAX;
                }
            }
        }
    }

    /// Writes silence so that audio reaches `until_ns` on the output timeline.
    fn silence_until(&mut self, until_ns: i64) {
        if !self.audio_started {
            self.audio_started = true;
            self.audio_samples = ns_to_samples(self.current.as_ref().map_or(0, |c| c.offset_ns));
        }
        let until = ns_to_samples(until_ns);
        while self.audio_samples < until {
            let n = (until - self.audio_samples).min(SILENCE_BLOCK);
            let pts = ns_to_duration(samples_to_ns(self.audio_samples));
            if let Ok(frame) = AudioFrame::silence(n as usize, AUDIO_RATE, AUDIO_CHANNELS, pts) {
                self.out.push_back(Decoded::Audio(frame));
            }
            self.audio_samples += n;
        }
    }

    /// The cover art of `reader`'s item, decoded, when it is to be shown (a still cover, album
    /// art on, an item without video that has some). Art that does not decode is a warning.
    fn album_art(&self, reader: &MediaReader) -> Option<VideoFrame> {
        if !self.settings.album_art || !matches!(self.settings.cover, CoverSource::Still { .. }) {
            return None;
        }
        let bytes = reader.cover_art()?;
        let name = format!("{} (cover art)", reader.name());
        match ImageFile::from_memory(name, bytes, ImageSettings::default()) {
            Ok(image) => Some(image.frame().clone()),
            Err(error) => {
                self.events.send(PlayerEvent::Warning(format!(
                    "{error}; showing the usual cover instead"
                )));
                None
            }
        }
    }

    /// Writes cover frames up to `until_ns` (items without video).
    fn cover_until(&mut self, until_ns: i64) {
        match &self.settings.cover {
            CoverSource::Nothing => {}
            CoverSource::Still { frame, interval } => {
                let step = duration_ns(*interval).max(1_000_000);
                let frame = self.item_art.as_ref().unwrap_or(frame).clone();
                while self.cover_next_ns < until_ns {
                    let at = self.cover_next_ns;
                    self.cover_next_ns += step;
                    self.push_video(frame.clone(), at);
                }
            }
            CoverSource::Video { location } => {
                if self.cover_video.is_none() {
                    let settings = ReaderSettings {
                        audio: false,
                        ..self.settings.reader.clone()
                    };
                    match MediaReader::open(location, &settings) {
                        Ok(reader) => {
                            self.cover_video = Some(CoverVideo {
                                reader,
                                base_ns: self.cover_next_ns,
                                end_ns: 0,
                                next_media_ns: 0,
                            });
                        }
                        Err(error) => {
                            self.events.send(PlayerEvent::Warning(format!(
                                "{error}; playing without a cover"
                            )));
                            self.settings.cover = CoverSource::Nothing;
                            return;
                        }
                    }
                }
                let mut restarts = 0;
                while self.cover_next_ns < until_ns && restarts < 2 {
                    let Some(cover) = self.cover_video.as_mut() else {
                        return;
                    };
                    match cover.reader.next() {
                        Some(Decoded::Video(frame)) => {
                            restarts = 0;
                            let media_ns = duration_ns(frame.pts());
                            cover.end_ns = cover
                                .end_ns
                                .max(media_ns + duration_ns(cover.reader.frame_duration()));
                            let at = cover.base_ns + media_ns;
                            cover.next_media_ns =
                                media_ns + duration_ns(cover.reader.frame_duration());
                            self.cover_next_ns = at + duration_ns(cover.reader.frame_duration());
                            self.push_video(frame, at);
                        }
                        Some(Decoded::Audio(_)) => {}
                        None => {
                            restarts += 1;
                            cover.base_ns += cover.end_ns.max(1_000_000);
                            cover.end_ns = 0;
                            cover.next_media_ns = 0;
                            if cover.reader.seek(Duration::ZERO).is_err() {
                                self.settings.cover = CoverSource::Nothing;
                                return;
                            }
                        }
                    }
                }
            }
        }
    }
}

fn duration_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// `frame` without its first `skip` samples; `None` when nothing is left.
fn trim_head(frame: &AudioFrame, skip: usize) -> Option<AudioFrame> {
    if skip >= frame.frames() {
        return None;
    }
    let channels = usize::from(frame.channels());
    let pts = frame.pts() + Duration::from_nanos(samples_to_ns(skip as u64) as u64);
    AudioFrame::new(
        &frame.samples()[skip * channels..],
        frame.sample_rate(),
        frame.channels(),
        pts,
    )
    .ok()
}

/// xorshift64* steps, for shuffling without a dependency.
fn next_random(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn shuffle(order: &mut [usize], rng: &mut u64) {
    for i in (1..order.len()).rev() {
        let j = (next_random(rng) % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
}
