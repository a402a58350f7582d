//! [`Streamer`]: one packet stream fanned out to N destinations, each with its own thread,
//! queue, reconnection and stats.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use livekit_core::thread::{SpawnError, Worker, spawn_named};
use livekit_core::{FrameSource, MediaKind, Packet, Pull, StreamInfo};
use parking_lot::Mutex;

use super::destination::Destination;
use super::mux::{Connection, check_codecs};
use super::queue::{GopQueue, Popped};

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
    /// Where the stream goes (at least one).
    pub destinations: Vec<Destination>,
    /// The most packets waiting for one destination. Default 900 (about 10 s of 30 fps video
    /// with AAC audio). When full, whole GOPs are dropped.
    pub queue_packets: usize,
    /// The most bytes waiting for one destination. Default 32 MiB.
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
    /// close. Default 3 s.
    pub stop_timeout: Duration,
    /// For sources that are not live (a file read faster than real time): instead of
    /// dropping GOPs, the source waits for room in the queue of every destination that is
    /// live or still making its first connection. The slowest of those destinations sets the
    /// pace. A destination that lost its connection is not waited for while others are live:
    /// it drops GOPs meanwhile and resumes on the newest keyframe, as usual. When every
    /// destination is reconnecting, the source waits for them, and a destination that dropped
    /// nothing meanwhile resumes where it was (on the next keyframe): the stream goes on
    /// without a jump. Default `false` (live: never wait).
    pub wait_for_destinations: bool,
}

impl StreamerSettings {
    /// Default settings for `destinations`.
    pub fn new(destinations: Vec<Destination>) -> Self {
        Self {
            destinations,
            queue_packets: 900,
            queue_bytes: 32 << 20,
            reconnect: ReconnectSettings::default(),
            connect_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            send_buffer: Some(256 << 10),
            stop_timeout: Duration::from_secs(3),
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
    /// Gave up ([`ReconnectSettings::max_retries`], or
    /// [`ReconnectSettings::give_up_unconnected_after`] without ever connecting).
    Failed,
    /// Finished: the stream ended or the streamer stopped.
    Stopped,
}

/// Counters of one destination.
#[derive(Debug, Clone, PartialEq)]
pub struct DestinationStats {
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
    /// No destination was given.
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
}

/// What the streamer did, per destination, when it finished.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamReport {
    /// Final stats of each destination, in the order given.
    pub destinations: Vec<DestinationStats>,
    /// Packets read from the source.
    pub packets_in: u64,
}

struct DestinationShared {
    stats: Mutex<DestinationStats>,
    queue: GopQueue,
    /// Interrupts this destination's network calls and ends its thread.
    abort: Arc<AtomicBool>,
}

/// Whether some destination is waiting to reconnect and none is live or connecting. Called
/// per packet in the not-live mode: no allocation, one short lock per destination.
fn all_reconnecting(destinations: &[Arc<DestinationShared>]) -> bool {
    let mut retrying = false;
    for destination in destinations {
        match destination.stats.lock().state {
            DestinationState::Retrying => retrying = true,
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

/// One encode, many destinations.
///
/// A reader thread (`livekit.stream.in`) takes packets from the source and offers each to
/// every destination's bounded queue without waiting; each destination has its own thread
/// (`livekit.stream.N`) with its own FFmpeg muxer and connection, so a dead or slow destination
/// never blocks the source or the others. A destination whose queue is full drops whole GOPs
/// (counted in its [`DestinationStats`]); one whose connection fails reconnects by itself
/// ([`ReconnectSettings`]) and resumes on a keyframe with the headers sent again.
///
/// End of stream from the source ends every destination cleanly (queued packets sent, trailer
/// written); [`stop`](Self::stop) ends it early.
///
/// ```no_run
/// use std::sync::Arc;
/// use livekit_core::{Port, VideoFrame, VideoSource};
/// use livekit_sinks::stream::{Destination, Streamer, StreamerSettings};
/// use livekit_sinks::{Encoder, EncoderSettings};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let canvas = Arc::new(Port::<VideoFrame>::drop_oldest(30)); // a compositor writes here
/// let encoder = Encoder::start(EncoderSettings::default(), canvas as Arc<dyn VideoSource>, None)?;
/// let sites = Default::default(); // the configuration's [sites.NAME] tables
/// let destinations = vec![
///     Destination::resolve("rtmp://127.0.0.1/live/KEY", &sites)?,
///     Destination::resolve("srt://127.0.0.1:9000", &sites)?,
/// ];
/// let streamer = Streamer::start(
///     StreamerSettings::new(destinations),
///     encoder.streams().to_vec(),
///     encoder.packets(),
/// )?;
/// for d in streamer.stats() {
///     println!("{} {:?} {} kb/s", d.name, d.state, d.bitrate / 1000); // keys redacted
/// }
/// encoder.stop()?; // the packets end: every destination finishes cleanly
/// let report = streamer.wait();
/// # Ok(())
/// # }
/// ```
pub struct Streamer {
    shared: Vec<Arc<DestinationShared>>,
    stop: Arc<AtomicBool>,
    stop_timeout: Duration,
    reader: Option<Worker<u64>>,
    senders: Vec<Worker<()>>,
}

impl std::fmt::Debug for Streamer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streamer")
            .field("destinations", &self.stats())
            .finish()
    }
}

impl Streamer {
    /// Starts streaming the packets of `source` (described by `streams`) to every destination
    /// of `settings`. Returns at once: connections are made by the destinations' threads
    /// (watch [`stats`](Self::stats)).
    pub fn start<S>(
        settings: StreamerSettings,
        streams: Vec<StreamInfo>,
        source: S,
    ) -> Result<Self, StartStreamError>
    where
        S: FrameSource<Packet> + 'static,
    {
        livekit_av::ffmpeg::init();
        if settings.destinations.is_empty() {
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
        let streams = Arc::new(streams);
        let stop = Arc::new(AtomicBool::new(false));
        let shared: Vec<Arc<DestinationShared>> = settings
            .destinations
            .iter()
            .map(|d| {
                Arc::new(DestinationShared {
                    stats: Mutex::new(DestinationStats {
                        name: d.name.clone(),
                        url: d.redacted_url(),
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
                    queue: GopQueue::new(video, settings.queue_packets, settings.queue_bytes),
                    abort: Arc::new(AtomicBool::new(false)),
                })
            })
            .collect();

        let mut streamer = Self {
            shared: shared.clone(),
            stop: stop.clone(),
            stop_timeout: settings.stop_timeout,
            reader: None,
            senders: Vec::new(),
        };
        for (index, destination) in settings.destinations.iter().enumerate() {
            let sender = Sender {
                destination: destination.clone(),
                streams: streams.clone(),
                shared: shared[index].clone(),
                abort: shared[index].abort.clone(),
                settings: settings.clone(),
            };
            let name = format!("livekit.stream.{index}");
            let worker = spawn_named(name.clone(), move || sender.run())
                .map_err(|_: SpawnError<_>| StartStreamError::Thread { name })?;
            streamer.senders.push(worker);
        }
        let queues = shared.clone();
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
                    while !stop.load(Ordering::Relaxed) && all_reconnecting(&queues) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                match source.next(Duration::from_millis(100)) {
                    Pull::Frame(packet) => {
                        packets += 1;
                        for destination in &queues {
                            if wait {
                                destination.offer_waiting(packet.clone(), &stop);
                            } else {
                                destination.queue.offer(packet.clone());
                            }
                        }
                    }
                    Pull::Pending => {}
                    Pull::Ended => break,
                }
            }
            for destination in &queues {
                let mut stats = destination.stats.lock();
                stats.live_at_end |= stats.state == DestinationState::Live;
                drop(stats);
                destination.queue.end();
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

    /// The stats of every destination, in the order given.
    pub fn stats(&self) -> Vec<DestinationStats> {
        self.shared.iter().map(|d| d.snapshot()).collect()
    }

    /// Whether every destination has finished (the source ended, or they failed).
    pub fn is_finished(&self) -> bool {
        self.senders.iter().all(|s| s.is_finished())
    }

    /// Waits until the source ends and every destination has sent what it had.
    pub fn wait(mut self) -> StreamReport {
        self.join()
    }

    /// Ends the connection attempts of the destinations that are not live (making their first
    /// connection, or waiting to reconnect): their threads end at once, counting what they hold
    /// as dropped, while the live ones go on. For a job that is asked to end (Ctrl-C, a time
    /// limit) before [`wait`](Self::wait): a server that does not answer does not hold it up
    /// for the connection time-out.
    pub fn give_up_connecting(&self) {
        for destination in &self.shared {
            if destination.stats.lock().state != DestinationState::Live {
                destination.abort.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Stops: no more packets are taken from the source; destinations that are live send what
    /// is queued (for up to [`StreamerSettings::stop_timeout`]), write their trailers and close;
    /// the others end at once ([`give_up_connecting`](Self::give_up_connecting)).
    pub fn stop(mut self) -> StreamReport {
        self.stop.store(true, Ordering::Relaxed);
        self.give_up_connecting();
        let shared = self.shared.clone();
        let timeout = self.stop_timeout;
        let deadline = Instant::now() + timeout;
        // A watchdog: past the deadline, pending network calls are interrupted.
        let senders_done = Arc::new(AtomicBool::new(false));
        let done = senders_done.clone();
        let watchdog = spawn_named("livekit.stream.stop", move || {
            while !done.load(Ordering::Relaxed) {
                if Instant::now() >= deadline {
                    for destination in &shared {
                        destination.abort.store(true, Ordering::Relaxed);
                    }
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let report = self.join();
        senders_done.store(true, Ordering::Relaxed);
        if let Ok(watchdog) = watchdog {
            let _ = watchdog.join();
        }
        report
    }

    fn join(&mut self) -> StreamReport {
        let packets_in = self
            .reader
            .take()
            .map(|r| r.join().unwrap_or(0))
            .unwrap_or(0);
        for sender in self.senders.drain(..) {
            let name = sender.name().to_owned();
            if sender.join().is_err() {
                tracing::error!(thread = %name, "a stream destination thread panicked");
            }
        }
        StreamReport {
            destinations: self.stats(),
            packets_in,
        }
    }
}

impl Drop for Streamer {
    fn drop(&mut self) {
        if self.reader.is_some() || !self.senders.is_empty() {
            self.stop.store(true, Ordering::Relaxed);
            for destination in &self.shared {
                destination.abort.store(true, Ordering::Relaxed);
                destination.queue.close();
            }
            self.join();
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
            tracing::debug!(destination = %label, "connecting");
            let opened = Connection::open(
                &self.destination,
                &self.streams,
                self.abort.clone(),
                self.settings.connect_timeout,
                self.settings.write_timeout,
                self.settings.send_buffer,
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
                    tracing::warn!(destination = %label, error = %error.message, "connection failed");
                    let mut stats = self.shared.stats.lock();
                    stats.failed_attempts += 1;
                    stats.last_error = Some(error.message);
                }
            }
            if self.shared.queue.is_ended() {
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
            self.shared.set_state(DestinationState::Retrying);
            let delay = self.settings.reconnect.delay(failures.max(1));
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
    fn send(&self, mut connection: Connection, label: &str) -> Session {
        let mut window_start = Instant::now();
        let mut window_bytes = connection.bytes();
        let mut last_bytes = window_bytes;
        let mut sent = 0u64;
        let mut account = |connection: &mut Connection, sent: &mut u64| {
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
