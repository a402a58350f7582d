//! Who may ask what: the token, the origin of a browser's request, the host name asked for.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::Token;
use crate::api::ApiError;

/// The cookie the page's login sets (the token itself, `HttpOnly`, `SameSite=Strict`).
pub(crate) const COOKIE: &str = "livekit_token";

/// The rules of one server.
pub(crate) struct Guard {
    pub(crate) token: Option<Token>,
    /// Serving loopback without a token: only loopback host names are answered.
    pub(crate) loopback_only: bool,
    /// When each address last sent a wrong token (see [`Guard::too_soon`]).
    pub(crate) wrong:
        parking_lot::Mutex<std::collections::HashMap<std::net::IpAddr, std::time::Instant>>,
}

/// After a wrong token, the same address is answered 429 for this long before its next token
/// is even looked at: ten guesses a second at most from one address. Other addresses (the
/// users) are not held up, and nothing waits: a guesser holds no connection.
const WRONG_TOKEN_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// Addresses remembered at most (older ones are forgotten first).
const WRONG_TOKEN_ADDRESSES: usize = 4096;

impl Guard {
    pub(crate) fn new(token: Option<Token>, loopback_only: bool) -> Self {
        Self {
            token,
            loopback_only,
            wrong: parking_lot::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Whether `ip` sent a wrong token less than [`WRONG_TOKEN_PAUSE`] ago.
    pub(crate) fn too_soon(&self, ip: std::net::IpAddr) -> bool {
        self.wrong
            .lock()
            .get(&ip)
            .is_some_and(|at| at.elapsed() < WRONG_TOKEN_PAUSE)
    }

    /// `ip` sent a wrong token now.
    pub(crate) fn wrong_from(&self, ip: std::net::IpAddr) {
        let mut wrong = self.wrong.lock();
        if wrong.len() >= WRONG_TOKEN_ADDRESSES {
            wrong.retain(|_, at| at.elapsed() < WRONG_TOKEN_PAUSE);
        }
        if wrong.len() < WRONG_TOKEN_ADDRESSES {
            wrong.insert(ip, std::time::Instant::now());
        }
    }

    /// The answer to an address that guesses too fast.
    pub(crate) fn too_many() -> Response {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many",
            "a wrong token was sent from this address a moment ago: try again in a second",
        )
        .into_response()
    }
}

/// Paths anyone may read: the page's own files (they hold no data; the page asks for the token
/// when the API answers 401), the OpenAPI document and the login.
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/" | "/index.html" | "/app.js" | "/style.css" | "/openapi.json" | "/api/login"
    )
}

/// The host part of a `Host` header or an origin's authority (`[::1]:8080` -> `[::1]`).
fn host_name(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .split_once(']')
            .map_or(authority, |(h, _)| &h[1..]);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

fn is_loopback_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The token a request carries: a bearer header, else the page's cookie.
pub(crate) fn given_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(header::AUTHORIZATION)
        && let Ok(value) = value.to_str()
        && let Some(token) = value.strip_prefix("Bearer ")
    {
        return Some(token.trim());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

fn changes_something(method: &Method, headers: &HeaderMap) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || headers
            .get(header::UPGRADE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
}

pub(crate) async fn check(
    State(guard): State<Arc<Guard>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let path = request.uri().path().to_owned();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if guard.loopback_only && !is_loopback_name(host_name(host)) {
        tracing::warn!("refused {path} from {peer}: host {host:?} is not a loopback name");
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this studio only answers loopback host names (localhost, 127.0.0.1, [::1])",
        )
        .into_response();
    }
    if changes_something(request.method(), headers)
        && let Some(origin) = headers.get(header::ORIGIN)
    {
        let origin = origin.to_str().unwrap_or("");
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .unwrap_or("");
        if authority.is_empty() || !authority.eq_ignore_ascii_case(host) {
            tracing::warn!("refused {path} from {peer}: cross-origin request from {origin:?}");
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("cross-origin request refused (origin {origin:?})"),
            )
            .into_response();
        }
    }
    if let Some(token) = &guard.token
        && !is_public(&path)
    {
        let given = given_token(headers);
        if given.is_some() && guard.too_soon(peer.ip()) {
            return Guard::too_many();
        }
        match given {
            Some(given) if token.matches(given) => {}
            given => {
                let why = if given.is_some() {
                    "wrong token"
                } else {
                    "no token"
                };
                tracing::warn!("refused {path} from {peer}: {why}");
                if given.is_some() {
                    guard.wrong_from(peer.ip());
                }
                let mut response = ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    format!("{why}: send Authorization: Bearer TOKEN"),
                )
                .into_response();
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
                return response;
            }
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        assert_eq!(host_name("127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(host_name("[::1]:8080"), "::1");
        assert_eq!(host_name("localhost"), "localhost");
        assert!(is_loopback_name("LOCALHOST"));
        assert!(is_loopback_name("::1"));
        assert!(is_loopback_name("127.0.0.2"));
        assert!(!is_loopback_name("evil.example"));
        assert!(!is_loopback_name("192.168.1.2"));
    }

    #[test]
    fn tokens_from_header_or_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=b; livekit_token=abcdefgh".parse().unwrap(),
        );
        assert_eq!(given_token(&headers), Some("abcdefgh"));
        headers.insert(header::AUTHORIZATION, "Bearer zzzzzzzz".parse().unwrap());
        assert_eq!(given_token(&headers), Some("zzzzzzzz"));
    }
}
