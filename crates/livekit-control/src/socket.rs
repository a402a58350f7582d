//! Events over a WebSocket (`/api/events`): the studio's events as JSON, one message each.
//! A client first gets the state document, then every event from the moment it connected.
//!
//! One thread (`livekit.api.events`) reads the studio's subscription and hands each
//! event, serialized once, to a broadcast queue of [`EVENTS_KEPT`]; each client reads it at its
//! own pace. A client that falls further behind loses its oldest events and is sent
//! `{"type": "lost", "count": N}`: the show never waits for a client.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use livekit_core::thread::{Worker, spawn_named};
use livekit_studio::Studio;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::Shared;

/// Events kept for a client that reads slowly.
pub const EVENTS_KEPT: usize = 256;

/// A message on the socket. Its JSON form has a `"type"`: `state` (the whole show, first),
/// `event` (an [`Event`](livekit_studio::Event)'s fields beside it) or `lost`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum SocketMessage<'a> {
    /// The state document, sent first.
    State {
        /// The whole show.
        state: &'a livekit_studio::StudioState,
    },
    /// This client read too slowly: `count` events were lost.
    Lost {
        /// Events lost.
        count: u64,
    },
}

/// What a client joining gets: the state document as JSON, then the events after it.
type Joined = (String, broadcast::Receiver<Utf8Bytes>);

/// The studio's events, serialized once, for every client.
pub(crate) struct EventFeed {
    /// Clients asking to join; the feed's thread answers each between two events, so the state
    /// a client gets first is never older than the events that follow it.
    joins: crossbeam_channel::Sender<tokio::sync::oneshot::Sender<Joined>>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<Worker<()>>>,
    /// Events lost by slow clients, all together.
    pub(crate) lost: Arc<AtomicU64>,
}

impl EventFeed {
    pub(crate) fn start(studio: &Arc<Studio>) -> std::io::Result<Self> {
        let (sender, _) = broadcast::channel::<Utf8Bytes>(EVENTS_KEPT);
        let subscription = studio.subscribe();
        // Bounded: a flood of connecting clients waits its turn.
        let (joins, joining) =
            crossbeam_channel::bounded::<tokio::sync::oneshot::Sender<Joined>>(64);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            let studio = studio.clone();
            spawn_named("livekit.api.events", move || {
                let forward = |event: livekit_studio::Event| {
                    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(&event) else {
                        return;
                    };
                    let mut message = serde_json::Map::new();
                    message.insert("type".into(), "event".into());
                    message.extend(fields);
                    let text = serde_json::Value::Object(message).to_string();
                    // No client: nothing to do (send fails only then).
                    let _ = sender.send(Utf8Bytes::from(text));
                };
                while !stop.load(Ordering::Relaxed) {
                    while let Ok(reply) = joining.try_recv() {
                        // Every event that happened so far goes out first; the client's
                        // queue starts after them, with the state as it is now.
                        while let Some(event) = subscription.next(Duration::ZERO) {
                            forward(event);
                        }
                        let events = sender.subscribe();
                        let state = studio.state();
                        let first = serde_json::to_string(&SocketMessage::State { state: &state })
                            .unwrap_or_default();
                        let _ = reply.send((first, events));
                    }
                    match subscription.next(Duration::from_millis(20)) {
                        Some(event) => forward(event),
                        None if subscription.is_finished() => break,
                        None => {}
                    }
                }
                // Dropping the sender ends every client's stream.
                drop(sender);
            })
            .map_err(|e| std::io::Error::other(e.to_string()))?
        };
        Ok(Self {
            joins,
            stop,
            thread: Mutex::new(Some(thread)),
            lost: Arc::new(AtomicU64::new(0)),
        })
    }

    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.lock().take()
            && let Err(error) = thread.join()
        {
            tracing::error!("{error}");
        }
    }

    /// Joins a new client: the state document (JSON) and its queue of the events after it;
    /// `None` once the server stops.
    async fn join(&self) -> Option<Joined> {
        let (reply, joined) = tokio::sync::oneshot::channel();
        self.joins.try_send(reply).ok()?;
        joined.await.ok()
    }
}

/// Serves one client until it leaves or the server stops.
pub(crate) async fn serve(mut socket: WebSocket, shared: Arc<Shared>) {
    let Some((first, mut events)) = shared.events.join().await else {
        return;
    };
    if socket.send(Message::Text(first.into())).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            event = events.recv() => {
                let message = match event {
                    Ok(text) => Message::Text(text),
                    Err(broadcast::error::RecvError::Lagged(count)) => {
                        shared.events.lost.fetch_add(count, Ordering::Relaxed);
                        let text = serde_json::to_string(&SocketMessage::Lost { count })
                            .unwrap_or_default();
                        Message::Text(text.into())
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                if socket.send(message).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                // Clients only listen; pings are answered by the library.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}
