//! WebRTC viewers: [`WebRtcViewer`] sends one encode's H.264 and Opus packets to one peer
//! (a browser watching through WHEP), with sub-second latency.
//!
//! The WebRTC stack is [str0m](https://docs.rs/str0m): ICE (lite: we answer, the viewer
//! checks), DTLS, SRTP and RTP packetizing, sans-IO. A viewer owns its UDP socket and two
//! named threads: `livekit.whep.N.net` reads the socket, `livekit.whep.N` runs the connection
//! (the packets it is given, the datagrams read, str0m's timers). Between them and the encode,
//! bounded queues: a viewer that stalls or loses packets drops its own packets (and asks for
//! a keyframe to start again cleanly), never holding the encode or the other viewers.

mod h264;
pub(crate) mod whip;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded, select};
use livekit_core::thread::{Worker, spawn_named};
use livekit_core::{Codec, Packet, StreamInfo, StreamParams};
use parking_lot::Mutex;
use str0m::change::SdpOffer;
use str0m::format::Codec as RtpCodec;
use str0m::media::{MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};

use crate::encode::KeyframeRequest;
use h264::AnnexB;

/// Packets a viewer holds before it drops (about two seconds of 30 fps video with its sound).
const PACKET_QUEUE: usize = 256;
/// Datagrams read and not yet handled before more are dropped.
const DATAGRAM_QUEUE: usize = 256;
/// The longest a viewer's thread sleeps between looks at its stop flag.
const TICK: Duration = Duration::from_millis(100);
/// Keyframes asked for by one viewer: at most one a second.
const KEYFRAME_EVERY: Duration = Duration::from_secs(1);

/// How viewers are served.
#[derive(Debug, Clone)]
pub struct WebRtcSettings {
    /// The address the viewers' UDP sockets bind to, which the answer names as the candidate:
    /// an address the viewer reaches (the one its HTTP request came to).
    pub bind: IpAddr,
    /// A viewer that has not connected (ICE and DTLS) after this long is closed. Default 15 s.
    pub connect_timeout: Duration,
}

impl WebRtcSettings {
    /// Viewers reached at `bind`.
    pub fn new(bind: IpAddr) -> Self {
        Self {
            bind,
            connect_timeout: Duration::from_secs(15),
        }
    }
}

/// Why a viewer could not be answered. The offer's fault is [`BadOffer`](Self::BadOffer) or
/// [`NoCodec`](Self::NoCodec) (a 400 for a WHEP server); the rest are the server's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebRtcError {
    /// The SDP offer cannot be read or accepted.
    #[error("the SDP offer is not valid: {0}")]
    BadOffer(String),
    /// The offer has no codec in common with the stream.
    #[error("the SDP offer has no usable codec: {0}")]
    NoCodec(String),
    /// The streams are not H.264 or VP8 (and Opus).
    #[error("WebRTC viewers need H.264 or VP8 video (and Opus sound), not {0}")]
    Streams(String),
    /// The UDP socket could not be made.
    #[error("cannot open a UDP socket on {address}")]
    Socket {
        /// Where.
        address: IpAddr,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A thread could not be started.
    #[error("cannot start the viewer's threads")]
    Thread(#[source] std::io::Error),
}

/// What a viewer is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewerState {
    /// Answered; ICE and DTLS not done yet.
    Connecting,
    /// Receiving.
    Connected,
    /// Gone: it left, timed out or failed (the reason).
    Closed(String),
}

/// Counters of one viewer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerStats {
    /// What it is doing.
    pub state: ViewerState,
    /// Packets (video access units and sound frames) handed to the connection.
    pub packets: u64,
    /// Payload bytes handed to the connection.
    pub bytes: u64,
    /// Packets dropped: its queue was full (it fell behind), or video waiting for a keyframe.
    pub dropped: u64,
    /// Keyframes it asked the encoder for (on joining, after drops, or its own requests).
    pub keyframe_requests: u64,
}

struct Shared {
    state: Mutex<ViewerState>,
    stop: AtomicBool,
    packets: AtomicU64,
    bytes: AtomicU64,
    dropped: AtomicU64,
    keyframe_requests: AtomicU64,
    /// Set when a packet was dropped: video waits for the next keyframe.
    resync: AtomicBool,
}

impl Shared {
    fn close(&self, why: impl Into<String>) {
        let mut state = self.state.lock();
        if !matches!(*state, ViewerState::Closed(_)) {
            *state = ViewerState::Closed(why.into());
        }
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One WebRTC peer receiving an encode's packets.
pub struct WebRtcViewer {
    shared: Arc<Shared>,
    packets: Sender<Packet>,
    workers: Vec<Worker<()>>,
    local: SocketAddr,
}

impl std::fmt::Debug for WebRtcViewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebRtcViewer")
            .field("local", &self.local)
            .field("state", &*self.shared.state.lock())
            .finish()
    }
}

/// Which of the encode's streams is the video and which the sound, and how to send them.
#[derive(Clone)]
pub(crate) struct Tracks {
    /// The video stream: its index, the H.264 rewriting (none for VP8), its info.
    video: Option<(usize, Option<AnnexB>, StreamInfo)>,
    audio: Option<(usize, StreamInfo)>,
}

impl Tracks {
    pub(crate) fn of(streams: &[StreamInfo]) -> Result<Self, WebRtcError> {
        let mut tracks = Self {
            video: None,
            audio: None,
        };
        for (index, stream) in streams.iter().enumerate() {
            match (&stream.codec, &stream.params) {
                (Codec::H264, StreamParams::Video { .. }) => {
                    let annex = AnnexB::new(&stream.extradata);
                    tracks.video = Some((index, Some(annex), stream.clone()));
                }
                (Codec::Other(name), StreamParams::Video { .. }) if name == "vp8" => {
                    tracks.video = Some((index, None, stream.clone()));
                }
                (Codec::Other(name), StreamParams::Audio { .. }) if name == "opus" => {
                    tracks.audio = Some((index, stream.clone()));
                }
                _ => {}
            }
        }
        if tracks.video.is_none() {
            let codecs: Vec<&str> = streams.iter().map(|s| s.codec.name()).collect();
            return Err(WebRtcError::Streams(codecs.join(" and ")));
        }
        Ok(tracks)
    }

    /// The RTP codec of the video track (H.264 or VP8).
    pub(crate) fn video_codec(&self) -> RtpCodec {
        match &self.video {
            Some((_, None, _)) => RtpCodec::Vp8,
            _ => RtpCodec::H264,
        }
    }
}

/// How a WHIP destination's error begins when the endpoint answered an offer of H.264 and
/// VP8 with VP8 only: the destination needs a VP8 encode (a studio moves its output to one).
pub const WHIP_VP8_ONLY: &str = "the WHIP endpoint takes VP8 video, not H.264";

/// The video codecs a WebRTC SDP offer can receive that an encode here can make: H.264
/// (packetization mode 1) and VP8, as `(h264, vp8)`. What a studio looks at to choose the
/// encode a viewer is given.
pub fn offered_video_codecs(offer: &str) -> (bool, bool) {
    let mut video = false;
    let (mut h264_pts, mut vp8) = (Vec::new(), false);
    let mut mode_1 = Vec::new();
    for line in offer.lines().map(str::trim) {
        if let Some(media) = line.strip_prefix("m=") {
            video = media.starts_with("video");
            continue;
        }
        if !video {
            continue;
        }
        if let Some(map) = line.strip_prefix("a=rtpmap:") {
            let (pt, codec) = map.split_once(' ').unwrap_or((map, ""));
            let name = codec.split('/').next().unwrap_or("").to_ascii_uppercase();
            match name.as_str() {
                "H264" => h264_pts.push(pt.to_owned()),
                "VP8" => vp8 = true,
                _ => {}
            }
        } else if let Some(fmtp) = line.strip_prefix("a=fmtp:") {
            let (pt, params) = fmtp.split_once(' ').unwrap_or((fmtp, ""));
            if params
                .split(';')
                .any(|p| p.trim().eq_ignore_ascii_case("packetization-mode=1"))
            {
                mode_1.push(pt.to_owned());
            }
        }
    }
    (h264_pts.iter().any(|pt| mode_1.contains(pt)), vp8)
}

/// A negotiated connection, not started yet: the connection, its socket and address, and the
/// media (mid and payload type) each track goes to.
pub(crate) struct Peer {
    pub(crate) rtc: Rtc,
    pub(crate) socket: UdpSocket,
    pub(crate) local: SocketAddr,
    pub(crate) tracks: Tracks,
    pub(crate) video: (Mid, str0m::format::PayloadParams),
    pub(crate) audio: Option<(Mid, str0m::format::PayloadParams)>,
}

/// Reads an SDP offer (without answering it): an error says why it is not one.
pub fn check_offer(offer: &str) -> Result<(), WebRtcError> {
    SdpOffer::from_sdp_string(offer)
        .map(|_| ())
        .map_err(|_| WebRtcError::BadOffer("it cannot be read as SDP".into()))
}

impl WebRtcViewer {
    /// Answers a viewer's SDP `offer` for the encode whose streams are `streams` (H.264, and
    /// Opus for sound): the viewer starts, and the answer (SDP) goes back to the peer.
    /// `keyframes` asks the encoder for a keyframe when the viewer joins or needs one.
    pub fn answer(
        offer: &str,
        streams: &[StreamInfo],
        settings: &WebRtcSettings,
        keyframes: Option<KeyframeRequest>,
    ) -> Result<(Self, String), WebRtcError> {
        let tracks = Tracks::of(streams)?;
        let offer = SdpOffer::from_sdp_string(offer)
            .map_err(|_| WebRtcError::BadOffer("it cannot be read as SDP".into()))?;
        let mut rtc = RtcConfig::new()
            .set_ice_lite(true)
            .clear_codecs()
            .enable_h264(tracks.video_codec() == RtpCodec::H264)
            .enable_vp8(tracks.video_codec() == RtpCodec::Vp8)
            .enable_opus(true)
            .build(Instant::now());
        let socket = UdpSocket::bind((settings.bind, 0)).map_err(|source| WebRtcError::Socket {
            address: settings.bind,
            source,
        })?;
        let local = socket.local_addr().map_err(|source| WebRtcError::Socket {
            address: settings.bind,
            source,
        })?;
        let candidate = Candidate::host(local, "udp")
            .map_err(|e| WebRtcError::BadOffer(format!("no candidate for {local}: {e}")))?;
        rtc.add_local_candidate(candidate);
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| WebRtcError::BadOffer(first_line(&e.to_string())))?;
        let answer = answer.to_sdp_string();
        // The media the answer accepts (str0m reports them as events only once connected).
        let medias = answered_media(&answer);
        loop {
            match rtc.poll_output() {
                Ok(Output::Event(_)) => {}
                Ok(Output::Transmit(transmit)) => {
                    let _ = socket.send_to(&transmit.contents, transmit.destination);
                }
                Ok(Output::Timeout(_)) => break,
                Err(error) => return Err(WebRtcError::BadOffer(first_line(&error.to_string()))),
            }
        }
        let video_pt = medias
            .iter()
            .filter(|(_, kind)| *kind == MediaKind::Video)
            .find_map(|(mid, _)| Some((*mid, pick(&mut rtc, *mid, tracks.video_codec())?)));
        let Some(video) = video_pt else {
            return Err(WebRtcError::NoCodec(match tracks.video_codec() {
                RtpCodec::Vp8 => "it offers no VP8 video to receive".into(),
                _ => "it offers no H.264 video (packetization-mode 1) to receive".into(),
            }));
        };
        let audio = medias
            .iter()
            .filter(|(_, kind)| *kind == MediaKind::Audio)
            .find_map(|(mid, _)| Some((*mid, pick(&mut rtc, *mid, RtpCodec::Opus)?)));

        let viewer = Self::run(
            Peer {
                rtc,
                socket,
                local,
                tracks,
                video,
                audio,
            },
            keyframes,
            settings.connect_timeout,
            "whep",
        )?;
        tracing::debug!("WebRTC viewer answered on {local}");
        Ok((viewer, answer))
    }

    /// Starts the threads of a negotiated peer: `livekit.KIND.N` and `livekit.KIND.N.net`.
    pub(crate) fn run(
        peer: Peer,
        keyframes: Option<KeyframeRequest>,
        connect_timeout: Duration,
        kind: &str,
    ) -> Result<Self, WebRtcError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let Peer {
            rtc,
            socket,
            local,
            tracks,
            video,
            audio,
        } = peer;
        let shared = Arc::new(Shared {
            state: Mutex::new(ViewerState::Connecting),
            stop: AtomicBool::new(false),
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            keyframe_requests: AtomicU64::new(0),
            resync: AtomicBool::new(true),
        });
        let (packet_tx, packet_rx) = bounded(PACKET_QUEUE);
        let (datagram_tx, datagram_rx) = bounded(DATAGRAM_QUEUE);
        socket
            .set_read_timeout(Some(TICK))
            .map_err(WebRtcError::Thread)?;
        let reader_socket = socket.try_clone().map_err(WebRtcError::Thread)?;
        let reader_shared = shared.clone();
        let reader = spawn_named(format!("livekit.{kind}.{n}.net"), move || {
            read_datagrams(&reader_socket, &datagram_tx, &reader_shared);
        })
        .map_err(|e| WebRtcError::Thread(std::io::Error::other(e.to_string())))?;
        let connection = Connection {
            rtc,
            socket,
            local,
            tracks,
            video,
            audio,
            shared: shared.clone(),
            keyframes,
            last_keyframe_request: None,
            connect_by: Instant::now() + connect_timeout,
            connected: false,
        };
        let runner = spawn_named(format!("livekit.{kind}.{n}"), move || {
            connection.run(&packet_rx, &datagram_rx);
        })
        .map_err(|error| {
            shared.close("could not start");
            WebRtcError::Thread(std::io::Error::other(error.to_string()))
        })?;
        Ok(Self {
            shared,
            packets: packet_tx,
            workers: vec![runner, reader],
            local,
        })
    }

    /// Hands the viewer one packet of the encode, never waiting: a viewer that fell behind
    /// drops it (counted) and starts again at the next keyframe.
    pub fn send(&self, packet: &Packet) {
        if self.shared.stop.load(Ordering::Relaxed) {
            return;
        }
        match self.packets.try_send(packet.clone()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                self.shared.resync.store(true, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// What it is doing.
    pub fn state(&self) -> ViewerState {
        self.shared.state.lock().clone()
    }

    /// Whether it is gone (it left, timed out, failed, or was closed).
    pub fn is_closed(&self) -> bool {
        matches!(self.state(), ViewerState::Closed(_))
    }

    /// Its counters now.
    pub fn stats(&self) -> ViewerStats {
        ViewerStats {
            state: self.state(),
            packets: self.shared.packets.load(Ordering::Relaxed),
            bytes: self.shared.bytes.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            keyframe_requests: self.shared.keyframe_requests.load(Ordering::Relaxed),
        }
    }

    /// The UDP address it receives on (the answer's candidate).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Ends it now, without waiting, with `why` as its [`ViewerState::Closed`] reason (the
    /// encode it watched stopped): it takes no more packets and its threads end; the owner
    /// then lets go of it with [`close`](Self::close).
    pub fn end(&self, why: &str) {
        self.shared.close(why);
    }

    /// Ends it (the peer is told, if connected) and waits for its threads.
    pub fn close(mut self) -> ViewerStats {
        self.shutdown();
        self.stats()
    }

    /// Whether everything handed to it has been given to the connection.
    pub(crate) fn is_drained(&self) -> bool {
        self.packets.is_empty()
    }

    fn shutdown(&mut self) {
        self.shared.close("closed");
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

impl Drop for WebRtcViewer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The payload type of the negotiated `codec` for media `mid` (H.264: packetization mode 1,
/// constrained baseline preferred, as the encode makes).
pub(crate) fn pick(
    rtc: &mut Rtc,
    mid: Mid,
    codec: RtpCodec,
) -> Option<str0m::format::PayloadParams> {
    let writer = rtc.writer(mid)?;
    let mut found: Vec<_> = writer
        .payload_params()
        .filter(|p| p.spec().codec == codec)
        .filter(|p| codec != RtpCodec::H264 || p.spec().format.packetization_mode == Some(1))
        .cloned()
        .collect();
    // Constrained baseline (0x42e0..), then baseline (0x4200..), then the rest.
    found.sort_by_key(
        |p| match p.spec().format.profile_level_id.map(|id| id >> 8) {
            Some(0x42e0) => 0,
            Some(0x4200) => 1,
            _ => 2,
        },
    );
    found.into_iter().next()
}

/// The media sections an SDP answer accepts (port not 0): their mid and kind.
fn answered_media(answer: &str) -> Vec<(Mid, MediaKind)> {
    let mut found = Vec::new();
    let mut section: Option<MediaKind> = None;
    for line in answer.lines() {
        if let Some(media) = line.strip_prefix("m=") {
            let mut fields = media.split_whitespace();
            let kind = fields.next();
            let accepted = fields.next().is_some_and(|port| port != "0");
            section = match kind {
                Some("video") if accepted => Some(MediaKind::Video),
                Some("audio") if accepted => Some(MediaKind::Audio),
                _ => None,
            };
        } else if let (Some(kind), Some(mid)) = (section, line.strip_prefix("a=mid:")) {
            found.push((Mid::from(mid.trim()), kind));
        }
    }
    found
}

pub(crate) fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").to_owned()
}

fn read_datagrams(socket: &UdpSocket, out: &Sender<(Vec<u8>, SocketAddr)>, shared: &Shared) {
    let mut buffer = vec![0u8; 2000];
    while !shared.stop.load(Ordering::Relaxed) {
        match socket.recv_from(&mut buffer) {
            Ok((n, from)) => {
                // A full queue drops the datagram, as the network may.
                if let Err(TrySendError::Disconnected(_)) =
                    out.try_send((buffer[..n].to_vec(), from))
                {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(error) => {
                shared.close(format!("cannot read its socket: {error}"));
                return;
            }
        }
    }
}

/// The connection's side, on its own thread.
struct Connection {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    tracks: Tracks,
    video: (Mid, str0m::format::PayloadParams),
    audio: Option<(Mid, str0m::format::PayloadParams)>,
    shared: Arc<Shared>,
    keyframes: Option<KeyframeRequest>,
    last_keyframe_request: Option<Instant>,
    connect_by: Instant,
    connected: bool,
}

impl Connection {
    fn run(mut self, packets: &Receiver<Packet>, datagrams: &Receiver<(Vec<u8>, SocketAddr)>) {
        let why = loop {
            let timeout = match self.drive() {
                Ok(timeout) => timeout,
                Err(why) => break why,
            };
            if self.shared.stop.load(Ordering::Relaxed) {
                break "closed".to_owned();
            }
            if !self.rtc.is_alive() {
                break "the connection ended".to_owned();
            }
            if !self.connected && Instant::now() > self.connect_by {
                break "it never connected (ICE or DTLS timed out)".to_owned();
            }
            let wait = timeout.saturating_duration_since(Instant::now()).min(TICK);
            let result = select! {
                recv(datagrams) -> datagram => match datagram {
                    Ok((data, source)) => self.receive(&data, source),
                    Err(_) => Err("its socket closed".to_owned()),
                },
                recv(packets) -> packet => match packet {
                    Ok(packet) => {
                        self.write(packet);
                        Ok(())
                    }
                    Err(_) => Err("the encode ended".to_owned()),
                },
                default(wait) => self
                    .rtc
                    .handle_input(Input::Timeout(Instant::now()))
                    .map_err(|e| e.to_string()),
            };
            if let Err(why) = result {
                break why;
            }
        };
        self.rtc.disconnect();
        let _ = self.drive();
        tracing::debug!("WebRTC viewer on {} ended: {why}", self.local);
        self.shared.close(why);
    }

    /// Sends what the connection has to send and handles its events; returns when it next
    /// needs a timeout.
    fn drive(&mut self) -> Result<Instant, String> {
        loop {
            match self.rtc.poll_output().map_err(|e| e.to_string())? {
                Output::Timeout(at) => return Ok(at),
                Output::Transmit(transmit) => {
                    // A send that fails (a full buffer) is a lost datagram, as on any network.
                    let _ = self
                        .socket
                        .send_to(&transmit.contents, transmit.destination);
                }
                Output::Event(event) => self.event(event)?,
            }
        }
    }

    fn event(&mut self, event: Event) -> Result<(), String> {
        match event {
            Event::Connected => {
                self.connected = true;
                *self.shared.state.lock() = ViewerState::Connected;
                self.shared.resync.store(true, Ordering::Relaxed);
                self.ask_keyframe(true);
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                return Err("the peer went away (ICE disconnected)".into());
            }
            Event::KeyframeRequest(_) => self.ask_keyframe(false),
            Event::Closed => return Err("the peer closed the connection".into()),
            _ => {}
        }
        Ok(())
    }

    fn ask_keyframe(&mut self, now: bool) {
        let Some(keyframes) = &self.keyframes else {
            return;
        };
        let due = self
            .last_keyframe_request
            .is_none_or(|last| last.elapsed() >= KEYFRAME_EVERY);
        if now || due {
            keyframes.request();
            self.last_keyframe_request = Some(Instant::now());
            self.shared
                .keyframe_requests
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    fn receive(&mut self, data: &[u8], source: SocketAddr) -> Result<(), String> {
        let Ok(contents) = data.try_into() else {
            return Ok(()); // not STUN, DTLS or SRTP: ignored
        };
        let input = Input::Receive(
            Instant::now(),
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.local,
                contents,
            },
        );
        if self.rtc.accepts(&input) {
            self.rtc.handle_input(input).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn write(&mut self, packet: Packet) {
        if !self.connected {
            return;
        }
        let now = Instant::now();
        if let Some((index, annex, info)) = &self.tracks.video
            && packet.stream == *index
        {
            if self.shared.resync.load(Ordering::Relaxed) {
                if !packet.keyframe {
                    self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                    self.ask_keyframe(false);
                    return;
                }
                self.shared.resync.store(false, Ordering::Relaxed);
            }
            let time = media_time(packet.pts, info, 90_000);
            let (mid, params) = (self.video.0, self.video.1.pt());
            match annex {
                Some(annex) => {
                    let data = annex.convert(&packet.data, packet.keyframe);
                    self.send_to(mid, params, now, time, data);
                }
                // VP8 goes as the encoder made it (str0m cuts it into RTP packets).
                None => self.send_to(mid, params, now, time, packet.data),
            }
            return;
        }
        if let (Some((index, info)), Some((mid, params))) = (&self.tracks.audio, &self.audio)
            && packet.stream == *index
        {
            let time = media_time(packet.pts, info, 48_000);
            // The encoder's own buffer: no copy.
            self.send_to(*mid, params.pt(), now, time, packet.data);
        }
    }

    fn send_to(
        &mut self,
        mid: Mid,
        pt: str0m::media::Pt,
        now: Instant,
        time: MediaTime,
        data: impl Into<Arc<[u8]>>,
    ) {
        let data: Arc<[u8]> = data.into();
        let Some(writer) = self.rtc.writer(mid) else {
            return;
        };
        let bytes = data.len() as u64;
        match writer.write(pt, now, time, data) {
            Ok(()) => {
                self.shared.packets.fetch_add(1, Ordering::Relaxed);
                self.shared.bytes.fetch_add(bytes, Ordering::Relaxed);
            }
            Err(error) => tracing::debug!("WebRTC viewer on {}: {error}", self.local),
        }
    }
}

/// `pts` (in the stream's time base) as RTP media time at `rate` Hz.
fn media_time(pts: i64, info: &StreamInfo, rate: u32) -> MediaTime {
    let (num, den) = (
        i128::from(info.time_base.num.max(1)),
        i128::from(info.time_base.den.max(1)),
    );
    let ticks = (i128::from(pts.max(0)) * num * i128::from(rate) / den).max(0);
    let frequency =
        str0m::media::Frequency::new(rate).unwrap_or(str0m::media::Frequency::NINETY_KHZ);
    MediaTime::new(u64::try_from(ticks).unwrap_or(0), frequency)
}

#[cfg(test)]
mod tests {
    use super::offered_video_codecs;

    #[test]
    fn offers_are_read_for_the_video_codecs_an_encode_can_make() {
        let offer = |video: &str| {
            format!(
                "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n\
                 m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\n{video}"
            )
        };
        let both = offer(
            "a=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\n\
             a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n",
        );
        assert_eq!(offered_video_codecs(&both), (true, true));
        let vp8 = offer("a=rtpmap:96 VP8/90000\r\n");
        assert_eq!(offered_video_codecs(&vp8), (false, true));
        // H.264 in packetization mode 0 only: not what the encode's packets need.
        let mode_0 = offer(
            "a=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=0;profile-level-id=42e01f\r\n",
        );
        assert_eq!(offered_video_codecs(&mode_0), (false, false));
        // Codecs of the audio section do not count.
        let audio_only = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n";
        assert_eq!(offered_video_codecs(audio_only), (false, false));
    }
}
