//! A [`Studio`] served over the network: an HTTP JSON API (every [`Command`], the state
//! document, statistics), events over a WebSocket, an OpenAPI document generated from the same
//! types (`/openapi.json`), Prometheus metrics (`/metrics`), a live preview of each canvas
//! (MJPEG) and a browser control page (`/`), all from files built into the binary.
//!
//! ```no_run
//! use std::sync::Arc;
//! use livekit_control::{ControlServer, ControlSettings};
//! use livekit_studio::{Studio, StudioSettings};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let studio = Arc::new(Studio::start(StudioSettings::default())?);
//! let server = ControlServer::start(studio.clone(), ControlSettings::default())?;
//! println!("control page: {}", server.url());
//! // ... the show runs; commands arrive over HTTP ...
//! server.stop();
//! if let Some(studio) = Arc::into_inner(studio) {
//!     studio.stop();
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Security: the server binds loopback by default; any other address needs a [`Token`]
//! (`Authorization: Bearer TOKEN`, or the cookie the page gets from `POST /api/login`).
//! Requests from another origin are refused on the WebSocket and on every call that changes
//! something, and on loopback without a token only loopback host names are served (a web page
//! cannot reach the studio through a name of its own that resolves to 127.0.0.1). Stream keys
//! can be given in commands but never come back: the state, events, metrics and logs show them
//! redacted.
//!
//! Threads: the server's (`livekit.api`, a small Tokio runtime), one reading the studio's
//! events for every WebSocket client (`livekit.api.events`), and one per canvas with
//! preview viewers (`livekit.preview`), stopped when its last viewer leaves. A client
//! that reads slowly loses old events (it is told how many); the show never waits for it.
//!
//! [`Command`]: livekit_studio::Command

mod api;
mod guard;
mod metrics;
mod page;
mod preview;
mod socket;
mod whep;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use livekit_studio::Studio;

pub use api::openapi;
pub use preview::PreviewSettings;

/// The address `livekit studio` listens on by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The largest request body accepted by default (a command is a few hundred bytes).
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// A bearer token that every request must carry. Its `Debug` form hides it, and it is
/// registered as a secret, so log lines never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// A token that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Empty (or only spaces).
    #[error("the token is empty")]
    Empty,
    /// Shorter than [`Token::MIN_LEN`].
    #[error("the token is too short: at least {} characters", Token::MIN_LEN)]
    TooShort,
    /// A space, a control character or something that is not ASCII in it (it travels in a
    /// header and a cookie).
    #[error("the token may only hold printable ASCII characters without spaces")]
    BadCharacter,
}

impl Token {
    /// The fewest characters a token may have.
    pub const MIN_LEN: usize = 8;

    /// A token from its text (surrounding white space, such as a file's last newline, is
    /// ignored).
    pub fn new(text: &str) -> Result<Self, TokenError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(TokenError::Empty);
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) || text.contains([';', ',', '"']) {
            return Err(TokenError::BadCharacter);
        }
        if text.len() < Self::MIN_LEN {
            return Err(TokenError::TooShort);
        }
        livekit_core::secret::register_secret(text);
        Ok(Self(text.to_owned()))
    }

    /// Whether `given` is this token (compared in constant time).
    pub(crate) fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ControlSettings {
    /// Where to listen. Default [`DEFAULT_LISTEN`]; port 0 picks a free port
    /// ([`ControlServer::local_addr`] says which).
    pub listen: SocketAddr,
    /// The token every request needs. Required unless `listen` is a loopback address.
    pub token: Option<Token>,
    /// The largest request body, in bytes (larger ones are answered 413).
    pub body_limit: usize,
    /// API requests handled at once; more wait their turn.
    pub max_requests: usize,
    /// The preview of the canvases.
    pub preview: PreviewSettings,
}

impl Default for ControlSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            token: None,
            body_limit: DEFAULT_BODY_LIMIT,
            max_requests: 32,
            preview: PreviewSettings::default(),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartControlError {
    /// A non-loopback address without a token.
    #[error(
        "--listen {0}: not a loopback address, so a token is needed (--token-file FILE or LIVEKIT_TOKEN)"
    )]
    TokenNeeded(SocketAddr),
    /// The address could not be bound.
    #[error("--listen {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A thread could not be started.
    #[error("cannot start the control server: {0}")]
    Start(std::io::Error),
}

/// Each connection's kernel send buffer: what a client that does not read can leave queued
/// in the kernel (it inherits it from the listening socket). The rest waits in its event queue,
/// where it is counted when lost.
const SEND_BUFFER: usize = 64 * 1024;

/// The listening socket, non-blocking, its connections' send buffers bounded.
fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_send_buffer_size(SEND_BUFFER)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// What the handlers share.
pub(crate) struct Shared {
    pub(crate) studio: Arc<Studio>,
    /// The address served (WebRTC viewers' media is sent from its IP when it names one).
    pub(crate) listen: SocketAddr,
    pub(crate) events: socket::EventFeed,
    pub(crate) previews: preview::Previews,
}

/// A running control server. [`stop`](Self::stop) it before stopping its studio: once `stop`
/// returns, the server holds no reference to the studio any more.
pub struct ControlServer {
    runtime: Option<tokio::runtime::Runtime>,
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for ControlServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl ControlServer {
    /// Serves `studio` at `settings.listen`.
    pub fn start(
        studio: Arc<Studio>,
        settings: ControlSettings,
    ) -> Result<Self, StartControlError> {
        if !settings.listen.ip().is_loopback() && settings.token.is_none() {
            return Err(StartControlError::TokenNeeded(settings.listen));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(16)
            .thread_name("livekit.api")
            .enable_all()
            .build()
            .map_err(StartControlError::Start)?;
        let bind_error = |source| StartControlError::Bind {
            addr: settings.listen,
            source,
        };
        let listener = listen(settings.listen).map_err(bind_error)?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener).map_err(bind_error)?
        };
        let addr = listener
            .local_addr()
            .map_err(|source| StartControlError::Bind {
                addr: settings.listen,
                source,
            })?;
        let events = socket::EventFeed::start(&studio).map_err(StartControlError::Start)?;
        let shared = Arc::new(Shared {
            listen: addr,
            previews: preview::Previews::new(settings.preview.clone()),
            studio,
            events,
        });
        let router = api::router(shared.clone(), &settings, addr);
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        runtime.spawn(serve(listener, router, stopped));
        tracing::info!("control server listening on http://{addr}/");
        Ok(Self {
            runtime: Some(runtime),
            shared,
            addr,
            shutdown: Some(shutdown),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The control page's address (`http://ADDR/`).
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Stops serving: open connections close, the event and preview threads end. The studio
    /// goes on; afterwards the server holds no reference to it.
    pub fn stop(mut self) {
        self.shutdown_now();
    }

    fn shutdown_now(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.shared.events.stop();
        self.shared.previews.stop_all();
        if let Some(runtime) = self.runtime.take() {
            // WebSocket and preview streams end when their feeds do; what is left is dropped.
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// Time a client has to send a request's headers (on a new connection, or between requests on
/// one kept alive): one that never finishes them does not hold a connection for ever.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once; more wait to be accepted (the descriptors the show needs for
/// its files, sockets and devices are not all taken by clients).
const MAX_CONNECTIONS: usize = 512;

/// Serves `router` on `listener` until `stopped`: each connection on its own task, with the
/// peer's address for [`ConnectInfo`](axum::extract::ConnectInfo), WebSocket upgrades, and
/// [`HEADER_TIMEOUT`]; at most [`MAX_CONNECTIONS`] at once.
async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    stopped: tokio::sync::oneshot::Receiver<()>,
) {
    use tower::Service;
    let connections = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut stopped = stopped;
    loop {
        let Ok(permit) = Arc::clone(&connections).acquire_owned().await else {
            return;
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, or a connection reset before it was taken: wait a
                    // little rather than spin.
                    tracing::debug!("control server: accept: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stopped => return,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                router.clone().call(request)
            },
        );
        tokio::spawn(async move {
            let mut builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            builder
                .http1()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(error) = builder.serve_connection_with_upgrades(io, service).await {
                tracing::trace!("control server: connection from {peer}: {error}");
            }
            drop(permit);
        });
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}
