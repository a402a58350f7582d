//! WHEP (WebRTC-HTTP Egress Protocol): a browser or any WHEP player watches a canvas with
//! sub-second latency. `POST /whep/CANVAS` with an SDP offer answers `201 Created` with the
//! SDP answer and the viewer's resource (`Location: /whep/CANVAS/ID`); `DELETE` on it ends the
//! viewer. The answer holds every candidate (the studio is ICE lite), so no trickle (`PATCH`
//! is 405). The viewers of a canvas share one encode ([`Studio::add_viewer`]).
//!
//! [`Studio::add_viewer`]: livekit_studio::Studio::add_viewer

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::Shared;
use crate::api::{ApiError, blocking};

/// Watch a canvas over WebRTC: the body is the viewer's SDP offer (`application/sdp`), the
/// answer the studio's, with the viewer's resource in `Location`.
#[utoipa::path(
    post,
    path = "/whep/{canvas}",
    tag = "whep",
    params(("canvas" = String, Path, description = "The canvas")),
    request_body(content = String, content_type = "application/sdp", description = "The SDP offer"),
    responses(
        (status = 201, description = "The SDP answer", content_type = "application/sdp", body = String,
            headers(("Location" = String, description = "The viewer's resource, for DELETE"))),
        (status = 400, description = "Not an SDP offer, or it offers neither H.264 nor VP8 video", body = ApiError),
        (status = 401, description = "No token, or a wrong one", body = ApiError),
        (status = 404, description = "No such canvas", body = ApiError),
        (status = 409, description = "The viewer could not be served now", body = ApiError),
        (status = 415, description = "The body is not application/sdp", body = ApiError),
    ),
)]
pub(crate) async fn post_whep(
    State(shared): State<Arc<Shared>>,
    Path(canvas): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    offer: String,
) -> Result<Response, ApiError> {
    let sdp = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("application/sdp"));
    if !sdp {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported",
            "a WHEP offer is sent as Content-Type: application/sdp",
        ));
    }
    let bind = media_address(shared.listen, peer);
    let studio = shared.studio.clone();
    let wanted = canvas.clone();
    let (id, answer) = blocking(move || studio.add_viewer(&wanted, &offer, bind)).await??;
    let location = format!("/whep/{canvas}/{id}");
    let mut response = (StatusCode::CREATED, answer).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/sdp"),
    );
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, value);
    }
    Ok(response)
}

/// Stop watching: ends the viewer (its WebRTC connection closes).
#[utoipa::path(
    delete,
    path = "/whep/{canvas}/{viewer}",
    tag = "whep",
    params(
        ("canvas" = String, Path, description = "The canvas"),
        ("viewer" = String, Path, description = "The viewer (from the Location of its POST)"),
    ),
    responses(
        (status = 200, description = "The viewer ended"),
        (status = 401, description = "No token, or a wrong one", body = ApiError),
        (status = 404, description = "No such canvas or viewer", body = ApiError),
    ),
)]
pub(crate) async fn delete_whep(
    State(shared): State<Arc<Shared>>,
    Path((canvas, viewer)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let studio = shared.studio.clone();
    blocking(move || studio.remove_viewer(&canvas, &viewer)).await??;
    Ok(StatusCode::OK)
}

/// The address a viewer's media is sent from: the served address, or, when the server
/// listens on every address, the one the system would use to reach the viewer.
fn media_address(listen: SocketAddr, peer: SocketAddr) -> IpAddr {
    if !listen.ip().is_unspecified() {
        return listen.ip();
    }
    let any: IpAddr = match peer.ip() {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    // Connecting a UDP socket sends nothing: it only picks the route (and so the address).
    UdpSocket::bind((any, 0))
        .and_then(|socket| {
            socket.connect((peer.ip(), 9))?;
            socket.local_addr()
        })
        .map_or(peer.ip(), |local| local.ip())
}
