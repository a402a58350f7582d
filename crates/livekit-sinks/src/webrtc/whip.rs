//! WHIP (RFC 9725): sending an encode to a WebRTC service. The offer (send-only H.264, and
//! Opus when the encode has sound) is POSTed to the endpoint with the key as a bearer token;
//! the endpoint answers 201 with its SDP answer and the session's URL, which a `DELETE` ends.
//! Once answered, the connection is a [`WebRtcViewer`]'s: the same threads, queue and
//! keyframe handling, with full ICE (we are the controlling side).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use livekit_core::secret::scrub;
use livekit_core::thread::spawn_named;
use livekit_core::{Packet, StreamInfo};
use str0m::change::SdpAnswer;
use str0m::format::Codec as RtpCodec;
use str0m::media::{Direction, MediaKind};
use str0m::{Candidate, RtcConfig};

use super::{Peer, Tracks, ViewerState, WebRtcViewer, first_line, pick};
use crate::encode::KeyframeRequest;

/// How long a `DELETE` of the session may take when the stream ends.
const DELETE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a wait looks at the stop flag.
const POLL: Duration = Duration::from_millis(20);

/// Where a WHIP stream goes.
pub(crate) struct WhipTarget<'a> {
    /// The endpoint's URL (`http://` or `https://`, no user part).
    pub endpoint: &'a str,
    /// The bearer token (the destination's key), if any.
    pub token: Option<&'a str>,
    /// Verify the server's certificate (`https://`).
    pub verify: bool,
    /// CA certificates (PEM) to trust: the system's bundle, or the destination's own.
    pub ca_file: Option<&'a Path>,
}

/// Why a WHIP session could not start or went on no more. Messages never hold the token.
#[derive(Debug, Clone)]
pub(crate) struct WhipError {
    pub message: String,
    /// The endpoint refused the stream (401 or 403: a wrong or expired token).
    pub refused: bool,
}

impl WhipError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: scrub(&message.into()),
            refused: false,
        }
    }
}

/// A live WHIP session: the connection, and the session's URL to `DELETE` at the end (field
/// order: the connection ends first).
pub(crate) struct WhipSession {
    peer: WebRtcViewer,
    resource: Resource,
}

/// The session's URL on the endpoint's server, deleted when dropped.
struct Resource {
    agent: ureq::Agent,
    url: Option<String>,
    token: Option<String>,
}

impl Resource {
    fn delete(&mut self) {
        let Some(url) = self.url.take() else {
            return;
        };
        let mut request = self
            .agent
            .delete(&url)
            .config()
            .timeout_global(Some(DELETE_TIMEOUT))
            .build();
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        if let Err(error) = request.call() {
            tracing::debug!("ending the WHIP session: {}", scrub(&error.to_string()));
        }
    }
}

impl Drop for Resource {
    fn drop(&mut self) {
        self.delete();
    }
}

impl WhipSession {
    /// Offers the encode whose streams are `streams` to the endpoint, and waits until the
    /// connection is up (ICE and DTLS) or `connect_timeout` has passed. `abort` ends the wait.
    pub(crate) fn open(
        target: &WhipTarget<'_>,
        streams: &[StreamInfo],
        abort: &Arc<AtomicBool>,
        connect_timeout: Duration,
        keyframes: Option<KeyframeRequest>,
    ) -> Result<Self, WhipError> {
        let deadline = Instant::now() + connect_timeout;
        let tracks = Tracks::of(streams).map_err(|e| WhipError::new(e.to_string()))?;
        let agent = agent(target, connect_timeout)?;
        let local_ip = route_to(target.endpoint)?;
        let socket = UdpSocket::bind((local_ip, 0))
            .map_err(|e| WhipError::new(format!("cannot open a UDP socket on {local_ip}: {e}")))?;
        let local = socket
            .local_addr()
            .map_err(|e| WhipError::new(format!("cannot open a UDP socket: {e}")))?;
        let mut rtc = RtcConfig::new()
            .clear_codecs()
            // Both offered, whichever the encode makes: an endpoint that answers VP8 only
            // is told apart from one that takes no video we make.
            .enable_h264(true)
            .enable_vp8(true)
            .enable_opus(true)
            .build(Instant::now());
        let candidate = Candidate::host(local, "udp")
            .map_err(|e| WhipError::new(format!("no ICE candidate for {local}: {e}")))?;
        rtc.add_local_candidate(candidate);
        let mut changes = rtc.sdp_api();
        let video_mid = changes.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        let audio_mid = tracks
            .audio
            .as_ref()
            .map(|_| changes.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None));
        let Some((offer, pending)) = changes.apply() else {
            return Err(WhipError::new("no SDP offer could be made"));
        };

        let (answer, url) = post_offer(&agent, target, offer.to_sdp_string(), abort)?;
        // From here on, a failure ends the session on the server too.
        let resource = Resource {
            agent,
            url,
            token: target.token.map(str::to_owned),
        };
        let answer = SdpAnswer::from_sdp_string(&answer).map_err(|_| {
            WhipError::new("the WHIP endpoint's answer cannot be read as SDP".to_owned())
        })?;
        rtc.sdp_api().accept_answer(pending, answer).map_err(|e| {
            WhipError::new(format!(
                "the WHIP endpoint's answer: {}",
                first_line(&e.to_string())
            ))
        })?;
        let video = match pick(&mut rtc, video_mid, tracks.video_codec()) {
            Some(video) => video,
            None if tracks.video_codec() == RtpCodec::H264
                && pick(&mut rtc, video_mid, RtpCodec::Vp8).is_some() =>
            {
                return Err(WhipError::new(format!(
                    "{} (the stream needs a VP8 encode)",
                    super::WHIP_VP8_ONLY
                )));
            }
            None => {
                return Err(WhipError::new(match tracks.video_codec() {
                    RtpCodec::Vp8 => "the WHIP endpoint accepts no VP8 video",
                    _ => {
                        "the WHIP endpoint accepts neither H.264 (packetization-mode 1) nor VP8 video"
                    }
                }));
            }
        };
        let audio = audio_mid.and_then(|mid| Some((mid, pick(&mut rtc, mid, RtpCodec::Opus)?)));
        if tracks.audio.is_some() && audio.is_none() {
            tracing::warn!("the WHIP endpoint accepts no Opus sound: sending video only");
        }
        let peer = Peer {
            rtc,
            socket,
            local,
            tracks,
            video: (video_mid, video),
            audio,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let session = Self {
            peer: WebRtcViewer::run(peer, keyframes, left, "whip")
                .map_err(|e| WhipError::new(e.to_string()))?,
            resource,
        };
        loop {
            match session.peer.state() {
                ViewerState::Connected => return Ok(session),
                ViewerState::Closed(why) => {
                    return Err(WhipError::new(format!("cannot connect: {why}")));
                }
                ViewerState::Connecting => {}
            }
            if abort.load(Ordering::Relaxed) {
                return Err(WhipError::new(
                    "cannot connect: stopped while connecting (ICE and DTLS not done)",
                ));
            }
            if Instant::now() >= deadline {
                return Err(WhipError::new(format!(
                    "cannot connect: ICE and DTLS not done in {} s",
                    connect_timeout.as_secs_f64()
                )));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Hands one packet to the connection; an error when the connection has ended.
    /// `Ok(false)`: dropped (the connection fell behind, or video waits for a keyframe).
    pub(crate) fn write(&mut self, packet: &Packet) -> Result<bool, WhipError> {
        if let ViewerState::Closed(why) = self.peer.state() {
            return Err(WhipError::new(format!("connection lost: {why}")));
        }
        let dropped = self.peer.stats().dropped;
        self.peer.send(packet);
        Ok(self.peer.stats().dropped == dropped)
    }

    /// Payload bytes sent so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.peer.stats().bytes
    }

    /// Sends what is queued (for up to `timeout`), ends the connection and the session
    /// (`DELETE`).
    pub(crate) fn close(self, timeout: Duration) -> Result<(), WhipError> {
        let until = Instant::now() + timeout;
        while !self.peer.is_drained() && !self.peer.is_closed() && Instant::now() < until {
            std::thread::sleep(POLL);
        }
        let result = match self.peer.state() {
            ViewerState::Closed(why) if why != "closed" => {
                Err(WhipError::new(format!("connection lost: {why}")))
            }
            _ => Ok(()),
        };
        // The connection ends, then the session on the server.
        let Self { peer, mut resource } = self;
        peer.close();
        resource.delete();
        result
    }
}

/// The HTTP client for one endpoint: its TLS settings, statuses as values, a time limit.
fn agent(target: &WhipTarget<'_>, timeout: Duration) -> Result<ureq::Agent, WhipError> {
    use ureq::tls::{RootCerts, TlsConfig, TlsProvider};
    let mut tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .disable_verification(!target.verify);
    if target.endpoint.starts_with("https://") && target.verify {
        let Some(path) = target.ca_file else {
            return Err(WhipError::new(
                "no CA certificates to check the WHIP endpoint's with: give a CA file",
            ));
        };
        let pem = std::fs::read(path).map_err(|e| {
            WhipError::new(format!("cannot read the CA file {}: {e}", path.display()))
        })?;
        let certificates: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(certificate)) => Some(certificate),
                _ => None,
            })
            .collect();
        if certificates.is_empty() {
            return Err(WhipError::new(format!(
                "the CA file {} holds no certificate",
                path.display()
            )));
        }
        tls = tls.root_certs(RootCerts::Specific(Arc::new(certificates)));
    }
    Ok(ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .tls_config(tls.build())
        .build()
        .into())
}

/// The local address packets to the endpoint's host leave from: the one to offer.
fn route_to(endpoint: &str) -> Result<IpAddr, WhipError> {
    let rest = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let default_port = if endpoint.starts_with("https://") {
        443
    } else {
        80
    };
    let with_port = match authority.rsplit_once(':') {
        Some((_, port)) if !authority.ends_with(']') && port.parse::<u16>().is_ok() => {
            authority.to_owned()
        }
        _ => format!("{authority}:{default_port}"),
    };
    let address: SocketAddr = with_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .ok_or_else(|| {
            WhipError::new(format!(
                "cannot resolve the WHIP endpoint's host {authority}"
            ))
        })?;
    let unspecified: IpAddr = if address.is_ipv4() {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    };
    let probe = UdpSocket::bind((unspecified, 0))
        .and_then(|socket| socket.connect(address).map(|()| socket))
        .and_then(|socket| socket.local_addr())
        .map_err(|e| {
            WhipError::new(format!(
                "no route to the WHIP endpoint's host {authority}: {e}"
            ))
        })?;
    Ok(probe.ip())
}

/// POSTs the offer; returns the answer and the session's URL. Runs on its own thread so that
/// a stop is not held by a slow server (the request ends at its own time limit).
fn post_offer(
    agent: &ureq::Agent,
    target: &WhipTarget<'_>,
    offer: String,
    abort: &Arc<AtomicBool>,
) -> Result<(String, Option<String>), WhipError> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let agent = agent.clone();
    let endpoint = target.endpoint.to_owned();
    let token = target.token.map(str::to_owned);
    spawn_named("livekit.whip.http".to_owned(), move || {
        let _ = tx.send(exchange(&agent, &endpoint, token.as_deref(), &offer));
    })
    .map_err(|e| WhipError::new(format!("cannot start a thread: {e}")))?;
    loop {
        match rx.recv_timeout(POLL) {
            Ok(result) => return result,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                if abort.load(Ordering::Relaxed) {
                    return Err(WhipError::new(
                        "cannot connect: stopped while connecting (the WHIP endpoint had not answered)",
                    ));
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                return Err(WhipError::new(
                    "cannot connect: the request ended unanswered",
                ));
            }
        }
    }
}

fn exchange(
    agent: &ureq::Agent,
    endpoint: &str,
    token: Option<&str>,
    offer: &str,
) -> Result<(String, Option<String>), WhipError> {
    let mut request = agent
        .post(endpoint)
        .header("Content-Type", "application/sdp");
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let mut response = request
        .send(offer)
        .map_err(|e| WhipError::new(format!("cannot connect: {}", first_line(&e.to_string()))))?;
    let status = response.status();
    let body = response
        .body_mut()
        .with_config()
        .limit(256 * 1024)
        .read_to_string()
        .unwrap_or_default();
    if status.as_u16() == 401 || status.as_u16() == 403 {
        return Err(WhipError {
            message: scrub(&format!(
                "the WHIP endpoint refused the stream: HTTP {status}{} (is the key right?)",
                reason(&body)
            )),
            refused: true,
        });
    }
    if !status.is_success() {
        return Err(WhipError::new(format!(
            "the WHIP endpoint answered HTTP {status}{}",
            reason(&body)
        )));
    }
    if !body.trim_start().starts_with("v=") {
        return Err(WhipError::new(format!(
            "the WHIP endpoint answered HTTP {status} without an SDP answer"
        )));
    }
    let resource = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .map(|location| absolute(endpoint, location));
    Ok((body, resource))
}

/// The first line of an error body, shortened, as `: text`.
fn reason(body: &str) -> String {
    let line = first_line(body.trim());
    if line.is_empty() {
        return String::new();
    }
    let short: String = line.chars().take(200).collect();
    format!(": {short}")
}

/// `location` (absolute, or a path on the endpoint's server) as an absolute URL.
fn absolute(endpoint: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_owned();
    }
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("http", endpoint));
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let base = endpoint.rsplit_once('/').map_or(endpoint, |(base, _)| base);
        format!("{base}/{location}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_urls_resolve_against_the_endpoint() {
        let endpoint = "http://127.0.0.1:8889/whip/show";
        assert_eq!(
            absolute(endpoint, "/whip/show/session/1"),
            "http://127.0.0.1:8889/whip/show/session/1"
        );
        assert_eq!(
            absolute(endpoint, "session/1"),
            "http://127.0.0.1:8889/whip/session/1"
        );
        assert_eq!(absolute(endpoint, "https://other/x"), "https://other/x");
    }

    #[test]
    fn the_route_to_loopback_is_loopback() {
        assert_eq!(
            route_to("http://127.0.0.1:9/whip").unwrap(),
            IpAddr::from([127, 0, 0, 1])
        );
        assert!(route_to("http://no-such-host.invalid/whip").is_err());
    }
}
