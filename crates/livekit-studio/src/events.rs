//! Events: what happened to a show, for any number of subscribers. Each subscriber has its own
//! bounded queue: a slow one loses its oldest events (counted), and never blocks the show.

use std::sync::{Arc, Weak};
use std::time::Duration;

use livekit_core::{FrameSource, FrameTarget, Port, Pull};
use parking_lot::Mutex;
use serde::Serialize;
use utoipa::ToSchema;

use crate::inputs::InputState;
use crate::state::{DestinationStateDoc, OutputState, Stats};

/// Something that happened to a show. Its JSON form is an object whose `"event"` field names
/// it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A command was applied (number `seq` since the studio started).
    CommandApplied {
        /// 1 for the first command applied.
        seq: u64,
        /// The command's name.
        command: String,
    },
    /// An input changed state.
    Input {
        /// The input.
        id: String,
        /// Its state now.
        #[serde(flatten)]
        state: InputState,
    },
    /// An output changed state.
    Output {
        /// The output.
        id: String,
        /// Its state now.
        #[serde(flatten)]
        state: OutputState,
    },
    /// A destination of a stream output changed state.
    Destination {
        /// The output.
        output: String,
        /// The destination, as [`DestinationStateDoc`] shows it (key redacted).
        #[serde(flatten)]
        destination: DestinationStateDoc,
    },
    /// A canvas switched scene.
    SceneSwitched {
        /// The canvas.
        canvas: String,
        /// The scene it shows now.
        scene: String,
    },
    /// A WebRTC (WHEP) viewer of a canvas joined or left.
    Viewer {
        /// The canvas it watches.
        canvas: String,
        /// The viewer's id (the last part of its WHEP resource URL).
        id: String,
        /// `joined` (its offer was answered) or `left` (it ended the session, timed out,
        /// or its connection failed).
        change: ViewerChange,
        /// Why it left, in one line.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The running statistics, once a second.
    Stats(Stats),
}

/// What happened to a viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ViewerChange {
    /// Its offer was answered.
    Joined,
    /// It is gone.
    Left,
}

/// Events kept for a subscriber that does not read them, unless it asks for another number.
pub const DEFAULT_EVENT_CAPACITY: usize = 256;

/// A subscriber's end: read with [`next`](Self::next). Dropping it unsubscribes.
pub struct Subscription {
    port: Arc<Port<Event>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("lost", &self.lost())
            .finish()
    }
}

impl Subscription {
    /// The next event, waiting up to `timeout`; `None` on time-out or once the studio has
    /// stopped and every event was read.
    pub fn next(&self, timeout: Duration) -> Option<Event> {
        match self.port.next(timeout) {
            Pull::Frame(event) => Some(event),
            Pull::Pending | Pull::Ended => None,
        }
    }

    /// Events this subscriber lost because it did not read them in time (the oldest go first).
    pub fn lost(&self) -> u64 {
        self.port.dropped()
    }

    /// Whether the studio has stopped and every event was read.
    pub fn is_finished(&self) -> bool {
        self.port.is_finished()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.port.close();
    }
}

/// The sending side: every subscriber's queue.
#[derive(Default)]
pub(crate) struct Hub {
    subscribers: Mutex<Vec<Weak<Port<Event>>>>,
}

impl Hub {
    pub(crate) fn subscribe(&self, capacity: usize) -> Subscription {
        let port = Arc::new(Port::drop_oldest(capacity.max(1)));
        self.subscribers.lock().push(Arc::downgrade(&port));
        Subscription { port }
    }

    /// Gives `event` to every subscriber; never waits.
    pub(crate) fn send(&self, event: Event) {
        let mut subscribers = self.subscribers.lock();
        subscribers.retain(|port| match port.upgrade() {
            Some(port) => port.push(event.clone()).is_ok(),
            None => false,
        });
    }

    /// Ends every subscription (the studio stopped).
    pub(crate) fn end(&self) {
        for port in self.subscribers.lock().drain(..) {
            if let Some(port) = port.upgrade() {
                port.end();
            }
        }
    }
}
