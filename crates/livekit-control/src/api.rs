//! The HTTP API: its routes, their handlers and the OpenAPI document made from them.
//!
//! | route | what |
//! |---|---|
//! | `POST /api/command` | applies one [`Command`] (its JSON form) |
//! | `GET /api/state` | the state document |
//! | `GET /api/stats` | the running statistics |
//! | `GET /api/scene` | the show as a scene file (TOML) |
//! | `GET /api/events` | events over a WebSocket, the state document first |
//! | `GET /api/canvases/{canvas}/preview.mjpeg` | the live preview (MJPEG) |
//! | `GET /api/canvases/{canvas}/snapshot.jpg` | one preview picture |
//! | `GET /hls/{canvas}/{file}` | the canvas's HLS output (or that of an input of that id): `index.m3u8` and its segments |
//! | `POST /whep/{canvas}`, `DELETE /whep/{canvas}/{viewer}` | watch a canvas over WebRTC (WHEP) |
//! | `POST /api/login` | sets the page's cookie from a token |
//! | `GET /metrics` | Prometheus metrics |
//! | `GET /openapi.json` | this API's OpenAPI document |
//! | `GET /` | the control page |

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use livekit_studio::{Command, CommandError, Stats, StudioState};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::guard::{COOKIE, Guard};
use crate::{ControlSettings, Shared};

/// An error answer: what kind, and one line saying what is wrong (naming the id or field).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ApiError {
    /// `malformed`, `invalid`, `not_found`, `conflict` (a command that was not applied; the
    /// show is unchanged), `unauthorized`, `forbidden`, `too_large` or `unsupported`.
    kind: String,
    /// What is wrong.
    message: String,
    #[serde(skip)]
    status: StatusCode,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> Self {
        Self {
            kind: kind.to_owned(),
            message: message.into(),
            status,
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(error: CommandError) -> Self {
        let kind = serde_json::to_value(error.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let status =
            StatusCode::from_u16(error.kind.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        Self::new(status, &kind, error.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}

/// A command was applied.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Applied {
    /// The command's name (`switch_scene`, ...).
    applied: String,
}

/// `POST /api/login`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Login {
    /// The studio's token.
    token: String,
}

fn body_error(rejection: BytesRejection) -> ApiError {
    let status = rejection.status();
    let kind = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "too_large"
    } else {
        "malformed"
    };
    ApiError::new(status, kind, rejection.body_text())
}

/// Runs `work` off the server's threads (it takes the studio's lock).
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the studio is stopping",
        )
    })
}

/// Applies one command: the same names and JSON as the Rust API and scene files. A command
/// that cannot be applied changes nothing.
#[utoipa::path(
    post,
    path = "/api/command",
    tag = "commands",
    request_body(content = Command, content_type = "application/json"),
    responses(
        (status = 200, description = "Applied; it shows in the next frame", body = Applied),
        (status = 400, description = "Malformed JSON, a wrong type, an unknown field, or a value out of range", body = ApiError),
        (status = 401, description = "No token, or a wrong one", body = ApiError),
        (status = 403, description = "A request from another origin", body = ApiError),
        (status = 404, description = "An unknown id", body = ApiError),
        (status = 409, description = "It cannot be applied now (an id taken, a wrong state)", body = ApiError),
        (status = 413, description = "The body is too large", body = ApiError),
    ),
)]
async fn post_command(
    State(shared): State<Arc<Shared>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Applied>, ApiError> {
    let body = body.map_err(body_error)?;
    let text = std::str::from_utf8(&body).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            "the body is not UTF-8 text",
        )
    })?;
    let command = Command::from_json(text)?;
    let name = command.name();
    // What is applied is logged with its keys redacted (Command's Debug form).
    tracing::debug!("command over HTTP: {command:?}");
    let studio = shared.studio.clone();
    blocking(move || studio.apply(command)).await??;
    Ok(Json(Applied {
        applied: name.to_owned(),
    }))
}

/// The whole show: inputs, canvases, scenes, layers, outputs with each destination's state,
/// and the running statistics. Stream keys are redacted.
#[utoipa::path(
    get,
    path = "/api/state",
    tag = "state",
    responses(
        (status = 200, description = "The state document", body = StudioState),
        (status = 401, description = "No token, or a wrong one", body = ApiError),
    ),
)]
async fn get_state(State(shared): State<Arc<Shared>>) -> Result<Json<StudioState>, ApiError> {
    let studio = shared.studio.clone();
    Ok(Json(blocking(move || studio.state()).await?))
}

/// The show as a scene file (TOML): its main canvas, inputs, scenes, layers and running
/// outputs. `livekit studio FILE` (or `compose FILE`) loads it back. Keys are left out: a
/// stream keeps the sites it names, whose keys come from the configuration.
#[utoipa::path(
    get,
    path = "/api/scene",
    tag = "state",
    responses(
        (status = 200, description = "A scene file", content_type = "application/toml"),
        (status = 401, description = "No token, or a wrong one", body = ApiError),
    ),
)]
async fn get_scene(State(shared): State<Arc<Shared>>) -> Result<Response, ApiError> {
    let studio = shared.studio.clone();
    let toml = blocking(move || studio.scene_file()).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/toml"),
            (
                header::CONTENT_DISPOSITION,
                "inline; filename=\"scene.toml\"",
            ),
        ],
        toml,
    )
        .into_response())
}

/// The running statistics: fps, render time, late frames, the program audio's peak.
#[utoipa::path(
    get,
    path = "/api/stats",
    tag = "state",
    responses(
        (status = 200, description = "The statistics", body = Stats),
        (status = 401, description = "No token, or a wrong one", body = ApiError),
    ),
)]
async fn get_stats(State(shared): State<Arc<Shared>>) -> Result<Json<Stats>, ApiError> {
    let studio = shared.studio.clone();
    Ok(Json(blocking(move || studio.state().stats).await?))
}

/// Events as they happen, over a WebSocket: first `{"type": "state", "state": ...}`, then
/// `{"type": "event", "event": NAME, ...}` for each, and `{"type": "lost", "count": N}` when
/// this client read too slowly and lost its oldest events.
#[utoipa::path(
    get,
    path = "/api/events",
    tag = "events",
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket request", body = ApiError),
        (status = 401, description = "No token, or a wrong one", body = ApiError),
        (status = 403, description = "A request from another origin", body = ApiError),
    ),
)]
async fn get_events(
    State(shared): State<Arc<Shared>>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        // A frame is read whole before the message limit applies: both are bounded.
        Ok(upgrade) => upgrade
            .max_message_size(64 * 1024)
            .max_frame_size(64 * 1024)
            .on_upgrade(move |socket| crate::socket::serve(socket, shared)),
        Err(rejection) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            format!("not a WebSocket request: {}", rejection.body_text()),
        )
        .into_response(),
    }
}

const BOUNDARY: &str = "livekit-frame";

/// The live preview of a canvas as MJPEG (`multipart/x-mixed-replace`): what an `<img>` plays.
/// Pictures are scaled down (640x360 at most) and come a few times a second.
#[utoipa::path(
    get,
    path = "/api/canvases/{canvas}/preview.mjpeg",
    tag = "preview",
    params(("canvas" = String, Path, description = "The canvas")),
    responses(
        (status = 200, description = "JPEG pictures, each a part", content_type = "multipart/x-mixed-replace"),
        (status = 401, description = "No token, or a wrong one", body = ApiError),
        (status = 404, description = "No such canvas", body = ApiError),
        (status = 503, description = "The preview could not start", body = ApiError),
    ),
)]
async fn get_preview(
    State(shared): State<Arc<Shared>>,
    Path(canvas): Path<String>,
) -> Result<Response, ApiError> {
    let pictures = {
        let shared = shared.clone();
        blocking(move || shared.previews.watch(&shared.studio, &canvas)).await??
    };
    // The picture there is now (if any), then each new one; the stream ends with the preview
    // (the server stops, the canvas's frames end). A slow viewer skips pictures.
    let stream =
        futures_util::stream::unfold((pictures, true), |(mut pictures, first)| async move {
            if !first || pictures.borrow().is_none() {
                loop {
                    pictures.changed().await.ok()?;
                    if pictures.borrow().is_some() {
                        break;
                    }
                }
            }
            let picture = pictures.borrow_and_update().clone()?;
            let mut part = format!(
                "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                picture.len()
            )
            .into_bytes();
            part.extend_from_slice(&picture);
            part.extend_from_slice(b"\r\n");
            Some((
                Ok::<_, std::io::Error>(Bytes::from(part)),
                (pictures, false),
            ))
        });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("multipart/x-mixed-replace; boundary=livekit-frame"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// One picture of a canvas's preview (JPEG), the newest.
#[utoipa::path(
    get,
    path = "/api/canvases/{canvas}/snapshot.jpg",
    tag = "preview",
    params(("canvas" = String, Path, description = "The canvas")),
    responses(
        (status = 200, description = "A JPEG picture", content_type = "image/jpeg"),
        (status = 401, description = "No token, or a wrong one", body = ApiError),
        (status = 404, description = "No such canvas", body = ApiError),
        (status = 503, description = "The canvas gave no frame in time", body = ApiError),
    ),
)]
async fn get_snapshot(
    State(shared): State<Arc<Shared>>,
    Path(canvas): Path<String>,
) -> Result<Response, ApiError> {
    let mut pictures = {
        let shared = shared.clone();
        blocking(move || shared.previews.watch(&shared.studio, &canvas)).await??
    };
    // The next picture made after this request (not one from before it).
    let waited = tokio::time::timeout(Duration::from_secs(3), async {
        pictures.borrow_and_update();
        pictures.changed().await.ok()?;
        pictures.borrow().clone()
    })
    .await;
    match waited {
        Ok(Some(picture)) => Ok((
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            picture,
        )
            .into_response()),
        _ => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the canvas gave no frame in 3 s",
        )),
    }
}

/// Sets the page's cookie (`HttpOnly`, `SameSite=Strict`) when the token is right, so the page
/// asks for the token once.
#[utoipa::path(
    post,
    path = "/api/login",
    tag = "security",
    request_body(content = Login, content_type = "application/json"),
    responses(
        (status = 204, description = "The token is right; the cookie is set"),
        (status = 400, description = "Not a login", body = ApiError),
        (status = 401, description = "A wrong token", body = ApiError),
        (status = 429, description = "A wrong token came from this address a moment ago", body = ApiError),
    ),
)]
async fn post_login(
    State(guard): State<Arc<Guard>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if guard.token.is_some() && guard.too_soon(peer.ip()) {
        return Ok(Guard::too_many());
    }
    let body = body.map_err(body_error)?;
    let malformed = |message: String| ApiError::new(StatusCode::BAD_REQUEST, "malformed", message);
    // An object, as documented (serde alone would also take `["TOKEN"]`).
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| malformed(e.to_string()))?;
    if !value.is_object() {
        return Err(malformed("expected an object {\"token\": ...}".to_owned()));
    }
    let login: Login = serde_json::from_value(value).map_err(|e| malformed(e.to_string()))?;
    let Some(token) = &guard.token else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    if !token.matches(login.token.trim()) {
        tracing::warn!("refused a login from {peer}: wrong token");
        guard.wrong_from(peer.ip());
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "wrong token",
        ));
    }
    let cookie = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
        token.as_str()
    );
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// Prometheus metrics (text format): fps, render time, late frames, each input's and
/// output's state, each destination's state, bitrate, bytes, drops and reconnects.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "state",
    responses(
        (status = 200, description = "The metrics", content_type = "text/plain"),
        (status = 401, description = "No token, or a wrong one", body = ApiError),
    ),
)]
async fn get_metrics(State(shared): State<Arc<Shared>>) -> Result<Response, ApiError> {
    let studio = shared.studio.clone();
    let state = blocking(move || studio.state()).await?;
    let lost = shared
        .events
        .lost
        .load(std::sync::atomic::Ordering::Relaxed);
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(&state, lost),
    )
        .into_response())
}

/// The API's routes, with their OpenAPI description.
/// A file of a canvas's HLS output (an `hls` output started on it): the media playlist
/// `index.m3u8`, the fMP4 initialization segment `init-TOKEN.mp4`, and the segments. Any HLS player
/// plays `/hls/CANVAS/index.m3u8`.
#[utoipa::path(
    get,
    path = "/hls/{canvas}/{file}",
    tag = "hls",
    params(
        ("canvas" = String, Path, description = "The canvas"),
        ("file" = String, Path, description = "`index.m3u8`, `init-TOKEN.mp4` or a segment"),
    ),
    responses(
        (status = 200, description = "The playlist or a segment", content(
            (String = "application/vnd.apple.mpegurl"),
            (Vec<u8> = "video/mp4"),
            (Vec<u8> = "video/iso.segment"),
            (Vec<u8> = "video/mp2t"),
        )),
        (status = 400, description = "Not a file name an HLS output writes", body = ApiError),
        (status = 401, description = "No token, or a wrong one", body = ApiError),
        (status = 404, description = "No HLS output on that canvas (or fed by that input), or no such file (yet)", body = ApiError),
    ),
)]
async fn get_hls(
    State(shared): State<Arc<Shared>>,
    Path((canvas, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let kind = hls_content_type(&file).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("file {file:?}: not a playlist or segment name"),
        )
    })?;
    // The playlist changes with every segment; a segment never changes once listed.
    let cache = if file.ends_with(".m3u8") {
        "no-cache"
    } else {
        "max-age=300"
    };
    let studio = shared.studio.clone();
    let read = blocking(move || {
        let Some(folder) = studio.hls_folder(&canvas) else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("canvas {canvas:?} has no HLS output"),
            ));
        };
        std::fs::read(folder.join(&file)).map_err(|_| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("canvas {canvas:?}: HLS file {file:?} does not exist (yet)"),
            )
        })
    })
    .await??;
    Ok((
        [(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, cache)],
        read,
    )
        .into_response())
}

/// The content type of a file an HLS output writes, or `None` for any other name (a path, a
/// hidden file, a name outside the folder).
fn hls_content_type(file: &str) -> Option<&'static str> {
    let plain = !file.is_empty()
        && !file.starts_with('.')
        && file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !plain {
        return None;
    }
    let (_, extension) = file.rsplit_once('.')?;
    match extension {
        "m3u8" => Some("application/vnd.apple.mpegurl"),
        "mp4" => Some("video/mp4"),
        "m4s" => Some("video/iso.segment"),
        "ts" => Some("video/mp2t"),
        _ => None,
    }
}

fn api_router() -> OpenApiRouter<Arc<Shared>> {
    OpenApiRouter::new()
        .routes(routes!(post_command))
        .routes(routes!(get_state))
        .routes(routes!(get_stats))
        .routes(routes!(get_scene))
        .routes(routes!(get_events))
        .routes(routes!(get_preview))
        .routes(routes!(get_snapshot))
        .routes(routes!(get_metrics))
        .routes(routes!(get_hls))
        .routes(routes!(crate::whep::post_whep))
        .routes(routes!(crate::whep::delete_whep))
}

fn login_router() -> OpenApiRouter<Arc<Guard>> {
    OpenApiRouter::new().routes(routes!(post_login))
}

/// The OpenAPI document of the control API, made from the same handlers and types the server
/// runs (as served at `/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api_router().into_openapi();
    doc.merge(login_router().into_openapi());
    doc.info.title = "livekit studio".into();
    doc.info.version = livekit_studio::API_VERSION.to_string();
    doc.info.description = Some(
        "Drive a running livekit studio: apply commands, read its state, follow its events. \
         With a token, send `Authorization: Bearer TOKEN`."
            .into(),
    );
    doc.info.license = None;
    doc.info.contact = None;
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    doc
}

/// The whole server: the API, the page, the OpenAPI document, behind the guard.
pub(crate) fn router(
    shared: Arc<Shared>,
    settings: &ControlSettings,
    addr: SocketAddr,
) -> axum::Router {
    let guard = Arc::new(Guard::new(
        settings.token.clone(),
        settings.token.is_none() && addr.ip().is_loopback(),
    ));
    let doc = serde_json::to_string(&openapi()).unwrap_or_default();
    let api = axum::Router::from(api_router())
        // One limit for the whole API (a per-route layer would give each route its own).
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            settings.max_requests.max(1),
        ))
        .with_state(shared);
    let login = axum::Router::from(login_router()).with_state(guard.clone());
    axum::Router::new()
        .merge(api)
        .merge(login)
        .merge(crate::page::router())
        .route(
            "/openapi.json",
            axum::routing::get(move || async move {
                ([(header::CONTENT_TYPE, "application/json")], doc)
            }),
        )
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such page or API call",
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            guard,
            crate::guard::check,
        ))
        .layer(DefaultBodyLimit::max(settings.body_limit))
}
