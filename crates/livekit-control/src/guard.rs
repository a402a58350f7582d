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
        match given_token(headers) {
            Some(given) if token.matches(given) => {}
            given => {
                let why = if given.is_some() {
                    "wrong token"
                } else {
                    "no token"
                };
                tracing::warn!("refused {path} from {peer}: {why}");
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
