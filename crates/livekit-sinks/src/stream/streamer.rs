//! [`Streamer`]: one packet stream fanned out to N destinations and recordings (branches),
//! each with its own thread, queue and stats; branches come and go while it runs.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use livekit_core::thread::{SpawnError, Worker, spawn_named};
use livekit_core::{FrameSource, MediaKind, Packet, Pull, StreamInfo};
use parking_lot::Mutex;

use super::destination::Destination;
use super::mux::{Connection, MuxError, check_codecs};
use super::queue::{GopQueue, Popped};
use super::recording::{
    RecordingBranch, RecordingId, RecordingReport, RecordingShared, RecordingStats,
};
use crate::encode::KeyframeRequest;
use crate::recorder::{RecordError, RecorderSettings, RecordingSummary, StartRecorderError};
use crate::webrtc::whip::{WhipSession, WhipTarget};

/// Identifies a destination of one [`Streamer`]: those of [`StreamerSettings::destinations`]
/// are 0, 1, ... in order, and each one [`Streamer::add_destination`] adds gets the next
/// number. Never reused by that streamer. Its thread is `livekit.stream.N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DestinationId(pub u64);

impl fmt::Display for DestinationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// When and how often a destination reconnects.
#[derive(Debug, Clone, PartialEq)]
pub struct ReconnectSettings {
    /// Wait before the first retry. Default 1 s.
    pub first_delay: Duration,
    /// Each further wait is the previous one times this. Default 1.5.
    pub factor: f64,
    /// The longest wait. Default 5 s.
    pub max_delay: Duration,
    /// Each wait is shortened by a random part of up to this fraction (0 to 1), so that
    /// destinations do not retry in lock step. Default 0.2.
    pub jitter: f64,
    /// Give up (state [`DestinationState::Failed`]) after this many failed attempts in a row.
    /// Default `None`: never give up while the source runs.
    pub max_retries: Option<u32>,
    /// Give up (state [`DestinationState::Failed`]) on a destination that has never connected
    /// once this long has passed since the streamer started: a wrong address or a server
    /// that is down does not keep a job retrying for a whole file. A destination that was
    /// live and lost its connection keeps retrying (see `max_retries`). Default 60 s; `None`:
    /// never.
    pub give_up_unconnected_after: Option<Duration>,
    /// The wait before trying again a server that refused the stream
    /// ([`DestinationState::Rejected`]): a refused key is not retried every few seconds.
    /// Default 30 s.
    pub after_rejection: Duration,
}

impl Default for ReconnectSettings {
    fn default() -> Self {
        Self {
            first_delay: Duration::from_secs(1),
            factor: 1.5,
            max_delay: Duration::from_secs(5),
            jitter: 0.2,
            max_retries: None,
            give_up_unconnected_after: Some(Duration::from_secs(60)),
            after_rejection: Duration::from_secs(30),
        }
    }
}

impl ReconnectSettings {
    /// The wait before retry number `attempt` (1 for the first), jitter included.
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = if self.factor.is_finite() && self.factor >= 1.0 {
            self.factor
        } else {
            1.0
        };
        let exponent = attempt.saturating_sub(1).min(64) as i32;
        let base = self.first_delay.as_secs_f64() * factor.powi(exponent);
        let capped = base.min(self.max_delay.as_secs_f64()).max(0.0);
        let jitter = self.jitter.clamp(0.0, 1.0);
        let random = (std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
            % 10_000) as f64
            / 10_000.0;
        Duration::from_secs_f64(capped * (1.0 - jitter * random))
    }
}

/// Settings of a [`Streamer`].
#[derive(Debug, Clone)]
pub struct StreamerSettings {
    /// Where the stream goes from the start (at least one, or a recording, unless
    /// `allow_no_outputs`). More can be added while it runs ([`Streamer::add_destination`]).
    pub destinations: Vec<Destination>,
    /// Recordings of the stream from its first packet on (the same packets the destinations
    /// get: no second encode), opened (header written) by [`Streamer::start`]: a bad path
    /// fails the start. Their ids are 0, 1, ... in order. More can be added while it runs
    /// ([`Streamer::add_recording`]). Default none.
    pub recordings: Vec<RecorderSettings>,
    /// Start (and go on) with no destination and no recording at all: the source is still
    /// read (and its packets let go), so the encoder never waits, until outputs are added
    /// with [`Streamer::add_destination`] and [`Streamer::add_recording`]. For a show whose
    /// outputs are started and stopped while it runs. Default `false`: [`Streamer::start`]
    /// without any output is [`StartStreamError::NoDestinations`].
    pub allow_no_outputs: bool,
    /// Whom to ask for a keyframe when a destination or recording joins the stream while it
    /// runs ([`RunningEncoder::keyframe_request`](crate::RunningEncoder::keyframe_request)):
    /// the newcomer, which starts on a keyframe, then starts at once instead of after up to a
    /// whole keyframe interval. Default `None`: it waits for the next keyframe that comes
    /// (a file's own, in pass-through).
    pub keyframe_request: Option<KeyframeRequest>,
    /// The most packets waiting for one destination or recording. Default 900 (about 10 s of 30 fps video
    /// with AAC audio). When full, whole GOPs are dropped.
    pub queue_packets: usize,
    /// The most bytes waiting for one destination or recording. Default 32 MiB.
    pub queue_bytes: usize,
    /// Reconnection timing.
    pub reconnect: ReconnectSettings,
    /// The longest a connection (TCP, TLS, RTMP handshake, SRT handshake) may take. Default
    /// 10 s.
    pub connect_timeout: Duration,
    /// A send that makes no progress for this long counts as a dead connection. Default 10 s.
    pub write_timeout: Duration,
    /// The socket send buffer of RTMP and RTMPS connections, in bytes (`None`: the system's,
    /// which on Linux grows to megabytes). Default 256 KiB: a slow destination backs up into
    /// its own queue, where whole GOPs are dropped, instead of seconds of stale video piling
    /// up in the kernel.
    pub send_buffer: Option<usize>,
    /// On [`Streamer::stop`], how long destinations may take to send what is queued and
    /// close; then their network calls are interrupted. Default 2.5 s, so that a stop ends
    /// within 3 s even when a destination's link is dead.
    pub stop_timeout: Duration,
    /// For sources that are not live (a file read faster than real time): instead of
    /// dropping GOPs, the source waits for room in the queue of every destination that is
    /// live or still making its first connection. The slowest of those destinations sets the
    /// pace. A destination that lost its connection is not waited for while others are live:
    /// it drops GOPs meanwhile and resumes on the newest keyframe, as usual. When every
    /// destination is reconnecting, the source waits for them, and a destination that dropped
    /// nothing meanwhile resumes where it was (on the next keyframe): the stream goes on
    /// without a jump. Recordings are waited for like live destinations (until one fails):
    /// a recording of a file loses nothing. Default `false` (live: never wait; a recording
    /// whose disk is too slow drops whole GOPs, counted in its [`RecordingStats`]).
    pub wait_for_destinations: bool,
}

impl StreamerSettings {
    /// Default settings for `destinations`.
    pub fn new(destinations: Vec<Destination>) -> Self {
        Self {
            destinations,
            recordings: Vec::new(),
            allow_no_outputs: false,
            keyframe_request: None,
            queue_packets: 900,
            queue_bytes: 32 << 20,
            reconnect: ReconnectSettings::default(),
            connect_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            send_buffer: Some(256 << 10),
            stop_timeout: Duration::from_millis(2500),
            wait_for_destinations: false,
        }
    }
}

/// What a destination is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationState {
    /// Opening its first connection.
    Connecting,
    /// Connected and sending.
    Live,
    /// Lost or never got its connection; waiting to try again.
    Retrying,
    /// The server took the connection and refused the stream (a wrong or expired stream key,
    /// a publish its rules do not allow); trying again slowly
    /// ([`ReconnectSettings::after_rejection`]).
    Rejected,
    /// Gave up ([`ReconnectSettings::max_retries`], or
    /// [`ReconnectSettings::give_up_unconnected_after`] without ever connecting).
    Failed,
    /// Finished: the stream ended, the streamer stopped, or the destination was removed.
    Stopped,
}

impl DestinationState {
    /// Its name in lower case (`connecting`, `live`, `retrying`, `rejected`, `failed`,
    /// `stopped`), as status
    /// lines and state documents show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Live => "live",
            Self::Retrying => "retrying",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::Stopped => "stopped",
        }
    }
}

/// Counters of one destination.
#[derive(Debug, Clone, PartialEq)]
pub struct DestinationStats {
    /// Which destination of its streamer.
    pub id: DestinationId,
    /// The destination's label ([`Destination::name`]: a site name, or a label with the
    /// redacted URL).
    pub name: String,
    /// The URL with the key redacted.
    pub url: String,
    /// What it is doing now.
    pub state: DestinationState,
    /// Bytes sent, all connections together.
    pub bytes: u64,
    /// Bits per second sent over the last second or so.
    pub bitrate: u64,
    /// Packets sent.
    pub packets: u64,
    /// Packets this destination lost: dropped from its full queue, skipped to restart on a
    /// keyframe after a reconnection, or left unsent.
    pub dropped_packets: u64,
    /// GOPs dropped because its queue was full.
    pub dropped_gops: u64,
    /// Connections made after the first one.
    pub reconnects: u64,
    /// Connection attempts that failed.
    pub failed_attempts: u64,
    /// The last error, with keys redacted.
    pub last_error: Option<String>,
    /// Whether it was receiving the stream at the end: live when the source ended or the stop
    /// was asked for, or it sent everything it had and closed (false: it had lost its
    /// connection and was retrying, had given up, or never connected). Only meaningful in the
    /// final report.
    pub live_at_end: bool,
}

/// Why a streamer could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartStreamError {
    /// No destination (nor recording) was given, and
    /// [`StreamerSettings::allow_no_outputs`] was not set.
    #[error("no destination to stream to")]
    NoDestinations,
    /// The packet source has no streams.
    #[error("no video or audio stream to send")]
    NoStreams,
    /// A destination's container cannot carry a stream's codec.
    #[error("{destination}: {reason}")]
    Codec {
        /// The destination's label ([`Destination::name`]: never its key).
        destination: String,
        /// Which codec and why.
        reason: String,
    },
    /// A thread could not be started.
    #[error("cannot start the streamer's thread {name}")]
    Thread {
        /// The thread.
        name: String,
    },
    /// A recording of [`StreamerSettings::recordings`] could not start (its message names
    /// the file).
    #[error(transparent)]
    Recording(#[from] StartRecorderError),
    /// [`Streamer::add_destination`] came after the stream had ended.
    #[error("{destination}: the stream has ended")]
    Ended {
        /// The destination's label.
        destination: String,
    },
}

/// What the streamer did, per destination and recording, when it finished.
#[derive(Debug, Clone)]
pub struct StreamReport {
    /// Final stats of each destination it still had at the end, in the order added (those
    /// removed before, [`Streamer::remove_destination`] returned).
    pub destinations: Vec<DestinationStats>,
    /// Packets read from the source.
    pub packets_in: u64,
    /// Each recording it still had at the end, finalized, in the order added (those stopped
    /// before, [`Streamer::stop_recording`] returned).
    pub recordings: Vec<RecordingReport>,
}

struct DestinationShared {
    id: DestinationId,
    stats: Mutex<DestinationStats>,
    queue: GopQueue,
    /// Interrupts this destination's network calls and ends its thread.
    abort: Arc<AtomicBool>,
}

/// Whether some destination is waiting to reconnect and none is live or connecting. Called
/// per packet in the not-live mode: no allocation, one short lock per destination.
fn all_reconnecting(branches: &[Branch]) -> bool {
    let mut retrying = false;
    for branch in branches {
        let Branch::Destination(destination) = branch else {
            continue;
        };
        match destination.stats.lock().state {
            DestinationState::Retrying | DestinationState::Rejected => retrying = true,
            DestinationState::Failed => {}
            _ => return false,
        }
    }
    retrying
}

impl DestinationShared {
    /// [`StreamerSettings::wait_for_destinations`]: waits for room while this destination is
    /// live or making its first connection (and the streamer is not stopping); otherwise the
    /// packet is offered as usual (queued, or dropped with its GOP).
    fn offer_waiting(&self, mut packet: Packet, stop: &AtomicBool) {
        loop {
            let state = self.stats.lock().state;
            let waited_for = matches!(state, DestinationState::Connecting | DestinationState::Live);
            if !waited_for || stop.load(Ordering::Relaxed) {
                self.queue.offer(packet);
                return;
            }
            match self.queue.offer_waiting(packet, Duration::from_millis(100)) {
                Ok(()) => return,
                Err(back) => packet = back,
            }
        }
    }
}

/// One branch of the fan-out: what the reader offers each packet to.
#[derive(Clone)]
enum Branch {
    Destination(Arc<DestinationShared>),
    Recording(Arc<RecordingShared>),
}

impl Branch {
    fn offer(&self, packet: Packet, wait: bool, stop: &AtomicBool) {
        match (self, wait) {
            (Self::Destination(d), true) => d.offer_waiting(packet, stop),
            (Self::Destination(d), false) => d.queue.offer(packet),
            (Self::Recording(r), true) => r.offer_waiting(packet, stop),
            (Self::Recording(r), false) => r.queue.offer(packet),
        }
    }

    /// End of the stream for this branch: what is queued is still sent or written.
    fn end(&self) {
        match self {
            Self::Destination(d) => {
                let mut stats = d.stats.lock();
                stats.live_at_end |= stats.state == DestinationState::Live;
                drop(stats);
                d.queue.end();
            }
            Self::Recording(r) => r.queue.end(),
        }
    }

    fn is(&self, other: &Branch) -> bool {
        match (self, other) {
            (Self::Destination(a), Self::Destination(b)) => Arc::ptr_eq(a, b),
            (Self::Recording(a), Self::Recording(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// The branches the reader offers packets to, shared by the reader and the streamer's
/// methods. The list is replaced (never changed in place) when a branch comes or goes, so the
/// reader holds the lock only to count a packet and take the list.
#[derive(Default)]
struct Branches {
    list: Arc<Vec<Branch>>,
    /// Packets taken from the source so far: a branch added after the first one joins on a
    /// keyframe.
    packets: u64,
    /// The reader has ended every branch: nothing more can join.
    ended: bool,
}

impl Branches {
    fn add(&mut self, branch: Branch) {
        let mut list = Vec::clone(&self.list);
        list.push(branch);
        self.list = Arc::new(list);
    }

    fn remove(&mut self, branch: &Branch) {
        let list: Vec<Branch> = self
            .list
            .iter()
            .filter(|b| !b.is(branch))
            .cloned()
            .collect();
        self.list = Arc::new(list);
    }
}

/// A destination of a running streamer: its shared part and its thread.
struct DestinationEntry {
    shared: Arc<DestinationShared>,
    worker: Option<Worker<()>>,
}

/// One encode, many destinations and recordings, added and removed while it runs.
///
/// A reader thread (`livekit.stream.in`) takes packets from the source and offers each to
/// every branch's bounded queue without waiting. Each destination has its own thread
/// (`livekit.stream.N`) with its own FFmpeg muxer and connection, so a dead or slow
/// destination never blocks the source or the others. A destination whose queue is full drops
/// whole GOPs (counted in its [`DestinationStats`]); one whose connection fails reconnects by
/// itself ([`ReconnectSettings`]) and resumes on a keyframe with the headers sent again.
///
/// Recordings ([`StreamerSettings::recordings`], [`add_recording`](Self::add_recording)) are
/// branches too, each on its own thread (`livekit.stream.rec.N`) with its own queue: a
/// recording whose disk is slow drops GOPs (counted), one that cannot write (a full disk)
/// ends with its reason ([`RecordingStats::error`]); the destinations see nothing of it.
///
/// Destinations and recordings can be added ([`add_destination`](Self::add_destination),
/// [`add_recording`](Self::add_recording)) and removed
/// ([`remove_destination`](Self::remove_destination),
/// [`stop_recording`](Self::stop_recording)) while the stream runs, without a gap for the
/// others. One that joins a running stream starts on its next video keyframe (what comes
/// before is let go, not counted as dropped); with
/// [`StreamerSettings::keyframe_request`] the encoder is asked for one at once.
///
/// End of stream from the source ends every branch cleanly (queued packets sent, trailers
/// written); [`stop`](Self::stop) ends it early.
///
/// ```no_run
/// use std::sync::Arc;
/// use livekit_core::{Port, VideoFrame, VideoSource};
/// use livekit_sinks::stream::{Destination, Streamer, StreamerSettings};
/// use livekit_sinks::{Encoder, EncoderSettings, RecorderSettings};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let canvas = Arc::new(Port::<VideoFrame>::drop_oldest(30)); // a compositor writes here
/// let encoder = Encoder::start(EncoderSettings::default(), canvas as Arc<dyn VideoSource>, None)?;
/// let sites = Default::default(); // the configuration's [sites.NAME] tables
/// let destinations = vec![
///     Destination::resolve("rtmp://127.0.0.1/live/KEY", &sites)?,
///     Destination::resolve("srt://127.0.0.1:9000", &sites)?,
/// ];
/// let mut settings = StreamerSettings::new(destinations);
/// settings.keyframe_request = Some(encoder.keyframe_request());
/// let streamer = Streamer::start(settings, encoder.streams().to_vec(), encoder.packets())?;
/// for d in streamer.stats() {
///     println!("{} {:?} {} kb/s", d.name, d.state, d.bitrate / 1000); // keys redacted
/// }
/// // Later, while it runs: one more site, and a recording of the same encode.
/// let late = streamer.add_destination(Destination::resolve("rtmp://127.0.0.1/live/KEY2", &sites)?)?;
/// let recording = streamer.add_recording(RecorderSettings::new("/tmp/show.mkv"))?;
/// let summary = streamer.stop_recording(recording)?; // finalized; the stream goes on
/// let stats = streamer.remove_destination(late); // it sent what it had, and closed
/// encoder.stop()?; // the packets end: every destination finishes cleanly
/// let report = streamer.wait();
/// # Ok(())
/// # }
/// ```
pub struct Streamer {
    streams: Arc<Vec<StreamInfo>>,
    video: Option<usize>,
    /// What new destinations and recordings are made with (its own lists are not used).
    settings: StreamerSettings,
    stop: Arc<AtomicBool>,
    /// Asked to end ([`Streamer::give_up_connecting`]): nothing waits for a destination that
    /// is not live any more, and one that loses its connection does not try again.
    ending: Arc<AtomicBool>,
    branches: Arc<Mutex<Branches>>,
    /// In the order added.
    destinations: Mutex<Vec<DestinationEntry>>,
    /// In the order added.
    recordings: Mutex<Vec<RecordingBranch>>,
    next_destination: AtomicU64,
    next_recording: AtomicU64,
    reader: Option<Worker<u64>>,
}

impl std::fmt::Debug for Streamer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streamer")
            .field("destinations", &self.stats())
            .field("recordings", &self.recording_stats())
            .finish()
    }
}

impl Streamer {
    /// Starts streaming the packets of `source` (described by `streams`) to every destination
    /// of `settings`, and recording them to each of its recordings (their files are opened
    /// before this returns). Returns at once: connections are made by the destinations'
    /// threads (watch [`stats`](Self::stats)).
    pub fn start<S>(
        settings: StreamerSettings,
        streams: Vec<StreamInfo>,
        source: S,
    ) -> Result<Self, StartStreamError>
    where
        S: FrameSource<Packet> + 'static,
    {
        livekit_av::ffmpeg::init();
        if settings.destinations.is_empty()
            && settings.recordings.is_empty()
            && !settings.allow_no_outputs
        {
            return Err(StartStreamError::NoDestinations);
        }
        if streams.is_empty() {
            return Err(StartStreamError::NoStreams);
        }
        for destination in &settings.destinations {
            check_codecs(destination.protocol, &streams).map_err(|reason| {
                StartStreamError::Codec {
                    destination: destination.name.clone(),
                    reason,
                }
            })?;
        }
        let video = streams.iter().position(|s| s.kind() == MediaKind::Video);
        let mut own = settings.clone();
        own.destinations.clear();
        own.recordings.clear();
        let streamer = Self {
            streams: Arc::new(streams),
            video,
            settings: own,
            stop: Arc::new(AtomicBool::new(false)),
            ending: Arc::new(AtomicBool::new(false)),
            branches: Arc::new(Mutex::new(Branches::default())),
            destinations: Mutex::new(Vec::new()),
            recordings: Mutex::new(Vec::new()),
            next_destination: AtomicU64::new(0),
            next_recording: AtomicU64::new(0),
            reader: None,
        };
        // Recordings first: a bad path fails the start before any connection is made.
        for recording in settings.recordings {
            streamer.open_recording(recording, false)?;
        }
        for destination in settings.destinations {
            streamer.open_destination(destination)?;
        }
        let mut streamer = streamer;
        let branches = Arc::clone(&streamer.branches);
        let stop = Arc::clone(&streamer.stop);
        let ending = Arc::clone(&streamer.ending);
        let wait = settings.wait_for_destinations;
        let reader = spawn_named("livekit.stream.in", move || {
            let mut packets = 0u64;
            loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if wait {
                    // Not live: while every destination is reconnecting, reading on would only
                    // fill their queues and drop GOPs; the file waits for them instead.
                    while !stop.load(Ordering::Relaxed)
                        && !ending.load(Ordering::Relaxed)
                        && all_reconnecting(&Arc::clone(&branches.lock().list))
                    {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                match source.next(Duration::from_millis(100)) {
                    Pull::Frame(packet) => {
                        packets += 1;
                        let list = {
                            let mut branches = branches.lock();
                            branches.packets += 1;
                            Arc::clone(&branches.list)
                        };
                        // With no branch at all the packet is let go: the source never waits.
                        for branch in list.iter() {
                            branch.offer(packet.clone(), wait, &stop);
                        }
                    }
                    Pull::Pending => {}
                    Pull::Ended => break,
                }
            }
            let list = {
                let mut branches = branches.lock();
                branches.ended = true;
                Arc::clone(&branches.list)
            };
            for branch in list.iter() {
                branch.end();
            }
            tracing::debug!(packets, "stream source finished");
            packets
        })
        .map_err(|_| StartStreamError::Thread {
            name: "livekit.stream.in".into(),
        })?;
        streamer.reader = Some(reader);
        Ok(streamer)
    }

    /// Adds a destination to the running stream: it gets its own queue and thread
    /// (`livekit.stream.N`), connects, and starts on the next video keyframe (asked for at
    /// once when [`StreamerSettings::keyframe_request`] is set); the others see nothing.
    /// Its codecs are checked as at [`start`](Self::start).
    pub fn add_destination(
        &self,
        destination: Destination,
    ) -> Result<DestinationId, StartStreamError> {
        check_codecs(destination.protocol, &self.streams).map_err(|reason| {
            StartStreamError::Codec {
                destination: destination.name.clone(),
                reason,
            }
        })?;
        self.open_destination(destination)
    }

    fn open_destination(
        &self,
        destination: Destination,
    ) -> Result<DestinationId, StartStreamError> {
        let id = DestinationId(self.next_destination.fetch_add(1, Ordering::Relaxed));
        let shared = Arc::new(DestinationShared {
            id,
            stats: Mutex::new(DestinationStats {
                id,
                name: destination.name.clone(),
                url: destination.redacted_url(),
                state: DestinationState::Connecting,
                bytes: 0,
                bitrate: 0,
                packets: 0,
                dropped_packets: 0,
                dropped_gops: 0,
                reconnects: 0,
                failed_attempts: 0,
                last_error: None,
                live_at_end: false,
            }),
            queue: GopQueue::new(
                self.video,
                self.settings.queue_packets,
                self.settings.queue_bytes,
            ),
            abort: Arc::new(AtomicBool::new(false)),
        });
        let label = destination.name.clone();
        let mut branches = self.branches.lock();
        if branches.ended {
            return Err(StartStreamError::Ended { destination: label });
        }
        let joining = branches.packets > 0;
        if joining {
            shared.queue.await_keyframe();
        }
        let sender = Sender {
            destination,
            streams: Arc::clone(&self.streams),
            shared: Arc::clone(&shared),
            abort: Arc::clone(&shared.abort),
            ending: Arc::clone(&self.ending),
            settings: self.settings.clone(),
        };
        let name = format!("livekit.stream.{}", id.0);
        let worker = spawn_named(name.clone(), move || sender.run())
            .map_err(|_: SpawnError<_>| StartStreamError::Thread { name })?;
        branches.add(Branch::Destination(Arc::clone(&shared)));
        drop(branches);
        if joining {
            self.ask_for_keyframe();
            tracing::info!(destination = %label, "joins the stream on the next keyframe");
        }
        self.destinations.lock().push(DestinationEntry {
            shared,
            worker: Some(worker),
        });
        Ok(id)
    }

    /// Removes a destination from the running stream: it gets no more packets, sends what it
    /// has queued (for up to [`StreamerSettings::stop_timeout`]; at once if it is not live),
    /// writes its trailer and closes; its thread is joined. The others see nothing (no gap,
    /// no reconnection). Returns its final stats, or `None` when this streamer has no such
    /// destination (removed already).
    pub fn remove_destination(&self, id: DestinationId) -> Option<DestinationStats> {
        let mut entry = {
            let mut destinations = self.destinations.lock();
            let index = destinations.iter().position(|d| d.shared.id == id)?;
            destinations.remove(index)
        };
        let shared = Arc::clone(&entry.shared);
        self.branches
            .lock()
            .remove(&Branch::Destination(Arc::clone(&shared)));
        if shared.stats.lock().state != DestinationState::Live {
            shared.abort.store(true, Ordering::Relaxed);
        }
        Branch::Destination(Arc::clone(&shared)).end();
        if let Some(worker) = entry.worker.take() {
            let deadline = Instant::now() + self.settings.stop_timeout;
            while !worker.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            // Past the time allowed, pending network calls are interrupted.
            shared.abort.store(true, Ordering::Relaxed);
            if worker.join().is_err() {
                tracing::error!(destination = %id, "a stream destination thread panicked");
            }
        }
        tracing::info!(destination = %shared.stats.lock().name, "removed from the stream");
        Some(shared.snapshot())
    }

    /// Records the running stream to a file: the same packets the destinations get, through
    /// its own bounded queue and thread (`livekit.stream.rec.N`). The file is opened and its
    /// header written before this returns (a bad path is an error here). A recording added
    /// before the first packet starts with it; later, it starts on the next video keyframe
    /// (asked for at once when [`StreamerSettings::keyframe_request`] is set), and the file's
    /// time starts at zero there.
    ///
    /// It is isolated like a destination: a write error (a full disk) ends this recording
    /// only (state [`RecordingState::Failed`](super::RecordingState::Failed), with its reason), and in a live stream a
    /// recording whose queue is full drops whole GOPs rather than holding up the source. With
    /// [`StreamerSettings::wait_for_destinations`] the source waits for it instead.
    pub fn add_recording(
        &self,
        settings: RecorderSettings,
    ) -> Result<RecordingId, StartRecorderError> {
        self.open_recording(settings, true)
    }

    fn open_recording(
        &self,
        settings: RecorderSettings,
        start_at_zero: bool,
    ) -> Result<RecordingId, StartRecorderError> {
        let id = RecordingId(self.next_recording.fetch_add(1, Ordering::Relaxed));
        let queue = GopQueue::new(
            self.video,
            self.settings.queue_packets,
            self.settings.queue_bytes,
        );
        // The file is opened (on the branch's thread) before the branch is visible: a slow
        // disk never holds up the reader.
        let path = settings.path.clone();
        let branch =
            RecordingBranch::start(id, settings, self.streams.to_vec(), queue, start_at_zero)?;
        let shared = Arc::clone(&branch.shared);
        let mut branches = self.branches.lock();
        if branches.ended {
            drop(branches);
            // Its header was written: the file is finalized, empty.
            let _ = branch.finish();
            return Err(StartRecorderError::StreamEnded { path });
        }
        let joining = branches.packets > 0;
        if joining {
            shared.queue.await_keyframe();
        }
        branches.add(Branch::Recording(shared));
        drop(branches);
        if joining {
            self.ask_for_keyframe();
            tracing::info!(
                "recording {id} to {} joins on the next keyframe",
                path.display()
            );
        }
        self.recordings.lock().push(branch);
        Ok(id)
    }

    /// Stops a recording while the stream goes on: it gets no more packets, writes what it
    /// has queued, then its trailer (the file plays with the right duration). Its summary,
    /// or why writing failed ([`RecordError::NoSuchRecording`] when this streamer has no such
    /// recording: stopped already).
    pub fn stop_recording(&self, id: RecordingId) -> Result<RecordingSummary, RecordError> {
        self.finish_recording(id)
            .ok_or(RecordError::NoSuchRecording { id })?
            .result
    }

    /// [`stop_recording`](Self::stop_recording), with the recording's final counters as well;
    /// `None` when this streamer has no such recording.
    pub fn finish_recording(&self, id: RecordingId) -> Option<RecordingReport> {
        let branch = {
            let mut recordings = self.recordings.lock();
            let index = recordings.iter().position(|r| r.shared.id == id)?;
            recordings.remove(index)
        };
        self.branches
            .lock()
            .remove(&Branch::Recording(Arc::clone(&branch.shared)));
        Some(branch.finish())
    }

    fn ask_for_keyframe(&self) {
        if let Some(request) = &self.settings.keyframe_request {
            request.request();
        }
    }

    /// The stats of every destination, in the order added.
    pub fn stats(&self) -> Vec<DestinationStats> {
        self.destinations
            .lock()
            .iter()
            .map(|d| d.shared.snapshot())
            .collect()
    }

    /// The counters of every recording, in the order added: path, bytes, packets, duration
    /// so far, state and error.
    pub fn recording_stats(&self) -> Vec<RecordingStats> {
        self.recordings
            .lock()
            .iter()
            .map(|r| r.shared.stats())
            .collect()
    }

    /// Whether every destination and recording has finished (the source ended, or they
    /// failed); with none, whether the source has ended.
    pub fn is_finished(&self) -> bool {
        let destinations = self.destinations.lock();
        let recordings = self.recordings.lock();
        if destinations.is_empty() && recordings.is_empty() {
            return self.reader.as_ref().is_none_or(Worker::is_finished);
        }
        destinations
            .iter()
            .all(|d| d.worker.as_ref().is_none_or(Worker::is_finished))
            && recordings.iter().all(RecordingBranch::is_finished)
    }

    /// Waits until the source ends and every destination has sent what it had (and every
    /// recording is finalized).
    pub fn wait(mut self) -> StreamReport {
        self.join()
    }

    /// Ends the connection attempts of the destinations that are not live (making their first
    /// connection, or waiting to reconnect): their threads end at once, counting what they hold
    /// as dropped, while the live ones go on (one that loses its connection afterwards does
    /// not try again, and with [`StreamerSettings::wait_for_destinations`] nothing waits for
    /// destinations that are reconnecting any more). For a job that is asked to end (Ctrl-C, a
    /// time limit) before [`wait`](Self::wait): a server that does not answer does not hold it
    /// up for the connection time-out.
    pub fn give_up_connecting(&self) {
        self.ending.store(true, Ordering::Relaxed);
        for destination in self.destinations.lock().iter() {
            let destination = &destination.shared;
            if destination.stats.lock().state != DestinationState::Live {
                destination.abort.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Stops: no more packets are taken from the source; destinations that are live send what
    /// is queued (for up to [`StreamerSettings::stop_timeout`]), write their trailers and close;
    /// the others end at once ([`give_up_connecting`](Self::give_up_connecting)). Recordings
    /// write what is queued and are finalized.
    pub fn stop(mut self) -> StreamReport {
        self.stop.store(true, Ordering::Relaxed);
        self.give_up_connecting();
        let timeout = self.settings.stop_timeout;
        self.finish_within(timeout, None)
    }

    /// Waits until the source ends, then gives the destinations at most `drain` to send what
    /// they still hold: a destination slower than the stream (a slow link) does not hold up
    /// the end of a job for long. One still sending then is closed, with what it had not sent
    /// counted in its `dropped_packets` and its `last_error` saying so; a destination still
    /// waiting to reconnect when the source ends is not waited for at all.
    /// Recordings are finalized as by [`wait`](Self::wait), never cut short.
    pub fn wait_at_most(mut self, drain: Duration) -> StreamReport {
        let packets_in = self
            .reader
            .take()
            .map(|r| r.join().unwrap_or(0))
            .unwrap_or(0);
        self.give_up_connecting();
        let message = format!(
            "still sending {} s after the end of the stream: closed",
            drain.as_secs_f64()
        );
        let mut report = self.finish_within(drain, Some(message));
        report.packets_in = packets_in;
        report
    }

    /// Joins everything; past `timeout` from now, pending network calls are interrupted (and
    /// the destinations cut off that way get `cut_off` as their last error).
    fn finish_within(&mut self, timeout: Duration, cut_off: Option<String>) -> StreamReport {
        let shared: Vec<Arc<DestinationShared>> = self
            .destinations
            .lock()
            .iter()
            .map(|d| Arc::clone(&d.shared))
            .collect();
        let deadline = Instant::now() + timeout;
        // A watchdog: past the deadline, pending network calls are interrupted. It notes the
        // destinations it cut off while they still had packets to send.
        let cut: Arc<Mutex<Vec<DestinationId>>> = Arc::default();
        let senders_done = Arc::new(AtomicBool::new(false));
        let done = senders_done.clone();
        let noted = Arc::clone(&cut);
        let watchdog = spawn_named("livekit.stream.stop", move || {
            while !done.load(Ordering::Relaxed) {
                if Instant::now() >= deadline {
                    for destination in &shared {
                        let state = destination.stats.lock().state;
                        let sending =
                            matches!(state, DestinationState::Live | DestinationState::Connecting);
                        if sending && !destination.queue.is_drained() {
                            noted.lock().push(destination.id);
                        }
                        destination.abort.store(true, Ordering::Relaxed);
                    }
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let mut report = self.join();
        senders_done.store(true, Ordering::Relaxed);
        if let Ok(watchdog) = watchdog {
            let _ = watchdog.join();
        }
        // Why they stopped short, rather than the write the interruption failed.
        if let Some(message) = cut_off {
            let cut = cut.lock();
            for destination in &mut report.destinations {
                if cut.contains(&destination.id) {
                    destination.last_error = Some(message.clone());
                }
            }
        }
        report
    }

    fn join(&mut self) -> StreamReport {
        let packets_in = self
            .reader
            .take()
            .map(|r| r.join().unwrap_or(0))
            .unwrap_or(0);
        let workers: Vec<Worker<()>> = self
            .destinations
            .lock()
            .iter_mut()
            .filter_map(|d| d.worker.take())
            .collect();
        for worker in workers {
            let name = worker.name().to_owned();
            if worker.join().is_err() {
                tracing::error!(thread = %name, "a stream destination thread panicked");
            }
        }
        let recordings: Vec<RecordingBranch> = self.recordings.lock().drain(..).collect();
        let recordings = recordings
            .into_iter()
            .map(RecordingBranch::finish)
            .collect();
        StreamReport {
            destinations: self.stats(),
            packets_in,
            recordings,
        }
    }
}

impl Drop for Streamer {
    fn drop(&mut self) {
        let running = self.reader.is_some()
            || self.destinations.lock().iter().any(|d| d.worker.is_some())
            || !self.recordings.lock().is_empty();
        if running {
            self.stop.store(true, Ordering::Relaxed);
            for destination in self.destinations.lock().iter() {
                destination.shared.abort.store(true, Ordering::Relaxed);
                destination.shared.queue.close();
            }
            let report = self.join();
            for recording in report.recordings {
                if let Err(error) = recording.result {
                    tracing::error!("{error}");
                }
            }
        }
    }
}

impl DestinationShared {
    fn snapshot(&self) -> DestinationStats {
        let mut stats = self.stats.lock().clone();
        let dropped = self.queue.dropped();
        stats.dropped_packets += dropped.packets;
        stats.dropped_gops = dropped.gops;
        stats
    }

    fn set_state(&self, state: DestinationState) {
        self.stats.lock().state = state;
    }
}

struct Sender {
    destination: Destination,
    streams: Arc<Vec<StreamInfo>>,
    shared: Arc<DestinationShared>,
    abort: Arc<AtomicBool>,
    /// The streamer's [`Streamer::give_up_connecting`]: a lost connection is not retried.
    ending: Arc<AtomicBool>,
    settings: StreamerSettings,
}

enum Session {
    /// The stream ended and everything was sent.
    Finished,
    /// The connection failed.
    Lost,
}

impl Sender {
    fn run(self) {
        // The destination's label (a site name, or `#N` and the redacted URL): never the key.
        let label = self.destination.name.clone();
        if self.destination.protocol == super::destination::Protocol::Rtmps
            && !self.destination.tls.verify
        {
            tracing::warn!(
                destination = %label,
                "TLS certificate verification is OFF: the stream key may be sent to an impostor"
            );
        }
        let started = Instant::now();
        let mut failures: u32 = 0;
        let mut attempts: u32 = 0;
        let mut connected_once = false;
        // The queue's dropped-packet count when the connection was lost.
        let mut dropped_at_loss = 0;
        loop {
            if self.abort.load(Ordering::Relaxed) {
                break;
            }
            attempts += 1;
            // Whether this attempt's server refused the stream.
            let mut rejected = false;
            tracing::debug!(destination = %label, "connecting");
            let opened = Link::open(
                &self.destination,
                &self.streams,
                &self.abort,
                &self.settings,
            );
            match opened {
                Ok(connection) => {
                    failures = 0;
                    {
                        let mut stats = self.shared.stats.lock();
                        if connected_once {
                            stats.reconnects += 1;
                        }
                        stats.state = DestinationState::Live;
                    }
                    tracing::info!(destination = %label, "live");
                    // What is queued is stale after a failure: a live stream resumes as fresh as
                    // it can. The first connection sends everything from the start instead
                    // (what was queued while it connected: a second or two), like FFmpeg, which
                    // connects before it reads: a slow server does not cost the start of a file.
                    // A stream that is not live resumes where it was, on the next keyframe,
                    // unless GOPs were dropped meanwhile (other destinations kept it going).
                    let dropped_meanwhile = self.shared.queue.dropped().packets > dropped_at_loss;
                    if attempts > 1 && (!self.settings.wait_for_destinations || dropped_meanwhile) {
                        let skipped = self.shared.queue.skip_to_newest_gop();
                        if skipped > 0 {
                            tracing::debug!(destination = %label, skipped, "skipped to the newest keyframe");
                        }
                    }
                    connected_once = true;
                    match self.send(connection, &label) {
                        Session::Finished => {
                            self.shared.stats.lock().live_at_end = true;
                            break;
                        }
                        Session::Lost => dropped_at_loss = self.shared.queue.dropped().packets,
                    }
                }
                Err(error) => {
                    failures += 1;
                    rejected = error.refused;
                    tracing::warn!(destination = %label, error = %error.message, "connection failed");
                    let mut stats = self.shared.stats.lock();
                    stats.failed_attempts += 1;
                    stats.last_error = Some(error.message);
                }
            }
            if self.shared.queue.is_ended() || self.ending.load(Ordering::Relaxed) {
                // The source is over (or we are stopping): no reconnecting for the rest.
                break;
            }
            if let Some(max) = self.settings.reconnect.max_retries
                && failures > max
            {
                {
                    self.shared.set_state(DestinationState::Failed);
                    tracing::error!(destination = %label, attempts = failures, "giving up");
                    self.drain_unsent();
                    return;
                }
            }
            if let Some(limit) = self.settings.reconnect.give_up_unconnected_after
                && !connected_once
                && started.elapsed() >= limit
            {
                let mut stats = self.shared.stats.lock();
                let last = stats.last_error.take();
                stats.last_error = Some(match last {
                    Some(last) => format!(
                        "never connected in {} s; gave up ({last})",
                        limit.as_secs_f64()
                    ),
                    None => format!("never connected in {} s; gave up", limit.as_secs_f64()),
                });
                stats.state = DestinationState::Failed;
                drop(stats);
                tracing::error!(destination = %label, attempts, "never connected: giving up");
                self.drain_unsent();
                return;
            }
            let delay = if rejected {
                self.shared.set_state(DestinationState::Rejected);
                self.settings.reconnect.after_rejection
            } else {
                self.shared.set_state(DestinationState::Retrying);
                self.settings.reconnect.delay(failures.max(1))
            };
            tracing::info!(destination = %label, delay_ms = delay.as_millis() as u64, "retrying");
            let until = Instant::now() + delay;
            while Instant::now() < until {
                if self.abort.load(Ordering::Relaxed) || self.shared.queue.is_ended() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if self.abort.load(Ordering::Relaxed) || self.shared.queue.is_ended() {
                break;
            }
        }
        self.drain_unsent();
        self.shared.set_state(DestinationState::Stopped);
    }

    /// Counts what is left in the queue as dropped.
    fn drain_unsent(&self) {
        self.shared.queue.close();
    }

    /// Sends queued packets until the stream ends or the connection fails.
    fn send(&self, mut connection: Link, label: &str) -> Session {
        let mut window_start = Instant::now();
        let mut window_bytes = connection.bytes();
        let mut last_bytes = window_bytes;
        let mut sent = 0u64;
        let mut account = |connection: &mut Link, sent: &mut u64| {
            let bytes = connection.bytes();
            let mut stats = self.shared.stats.lock();
            stats.bytes += bytes.saturating_sub(last_bytes);
            stats.packets += *sent;
            *sent = 0;
            last_bytes = bytes;
            let elapsed = window_start.elapsed();
            if elapsed >= Duration::from_secs(1) {
                stats.bitrate =
                    ((bytes - window_bytes) as f64 * 8.0 / elapsed.as_secs_f64()) as u64;
                window_start = Instant::now();
                window_bytes = bytes;
            }
        };
        loop {
            match self.shared.queue.pop(Duration::from_millis(100)) {
                Popped::Packet(packet) => match connection.write(&packet) {
                    Ok(true) => {
                        sent += 1;
                        if sent >= 16 {
                            account(&mut connection, &mut sent);
                        }
                    }
                    Ok(false) => self.shared.stats.lock().dropped_packets += 1,
                    Err(error) => {
                        account(&mut connection, &mut sent);
                        tracing::warn!(destination = %label, error = %error.message, "connection lost");
                        let mut stats = self.shared.stats.lock();
                        stats.last_error = Some(error.message);
                        stats.dropped_packets += 1;
                        stats.bitrate = 0;
                        return Session::Lost;
                    }
                },
                Popped::Empty => account(&mut connection, &mut sent),
                Popped::Ended => {
                    account(&mut connection, &mut sent);
                    let result = connection.close(self.settings.stop_timeout);
                    let mut stats = self.shared.stats.lock();
                    stats.bitrate = 0;
                    if let Err(error) = result {
                        tracing::warn!(destination = %label, error = %error.message, "closing failed");
                        stats.last_error = Some(error.message);
                    } else {
                        tracing::info!(destination = %label, "stream finished");
                    }
                    return Session::Finished;
                }
            }
        }
    }
}

/// A destination's open connection: FFmpeg's muxer (RTMP, RTMPS, SRT) or a WHIP session.
enum Link {
    Mux(Connection),
    Whip(WhipSession),
}

impl Link {
    fn open(
        destination: &Destination,
        streams: &[StreamInfo],
        abort: &Arc<AtomicBool>,
        settings: &StreamerSettings,
    ) -> Result<Self, MuxError> {
        if destination.protocol != super::destination::Protocol::Whip {
            return Connection::open(
                destination,
                streams,
                abort.clone(),
                settings.connect_timeout,
                settings.write_timeout,
                settings.send_buffer,
            )
            .map(Self::Mux);
        }
        let ca_file = destination
            .tls
            .ca_file
            .clone()
            .or_else(super::destination::system_ca_file);
        let target = WhipTarget {
            endpoint: destination.url(),
            token: destination.key().map(|k| k.expose()),
            verify: destination.tls.verify,
            ca_file: ca_file.as_deref(),
        };
        WhipSession::open(
            &target,
            streams,
            abort,
            settings.connect_timeout,
            settings.keyframe_request.clone(),
        )
        .map(Self::Whip)
        .map_err(MuxError::from)
    }

    fn bytes(&mut self) -> u64 {
        match self {
            Self::Mux(connection) => connection.bytes(),
            Self::Whip(session) => session.bytes(),
        }
    }

    fn write(&mut self, packet: &Packet) -> Result<bool, MuxError> {
        match self {
            Self::Mux(connection) => connection.write(packet),
            Self::Whip(session) => session.write(packet).map_err(MuxError::from),
        }
    }

    fn close(self, timeout: Duration) -> Result<(), MuxError> {
        match self {
            Self::Mux(connection) => connection.close(timeout),
            Self::Whip(session) => session.close(timeout).map_err(MuxError::from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_delays_grow_to_the_cap_with_jitter_below() {
        let settings = ReconnectSettings::default();
        let expected = [1.0, 1.5, 2.25, 3.375, 5.0, 5.0];
        for (attempt, full) in (1..).zip(expected) {
            for _ in 0..20 {
                let delay = settings.delay(attempt).as_secs_f64();
                assert!(delay <= full + 1e-9, "attempt {attempt}: {delay}");
                assert!(delay >= full * 0.8 - 1e-9, "attempt {attempt}: {delay}");
            }
        }
        let no_jitter = ReconnectSettings {
            jitter: 0.0,
            ..ReconnectSettings::default()
        };
        assert_eq!(no_jitter.delay(3), Duration::from_secs_f64(2.25));
        assert_eq!(no_jitter.delay(100), Duration::from_secs(5));
    }
}
