//! What a playback reports on its event channel ([`PlayerEvent`]), and the sending side of
//! that channel: bounded, dropping the oldest event when nobody reads it.

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use super::error::{OpenMediaError, PlayError};
use super::playlist::NowPlaying;

/// Events kept for a reader that does not read them; older ones are dropped first.
const EVENT_CAPACITY: usize = 64;

/// What a player reports on its event channel ([`Playback::events`](super::Playback::events)).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PlayerEvent {
    /// An item began (a player's file at the start; each playlist entry).
    NowPlaying(NowPlaying),
    /// A playlist entry could not be opened and was skipped.
    Skipped(OpenMediaError),
    /// Something the viewer may notice: corrupt data skipped, a truncated file, a stalled
    /// stream. Each names the file or URL. The player logs it too (a `tracing` warning).
    Warning(String),
    /// The media (or list) started over; `count` loops so far.
    Looped {
        /// Loops so far.
        count: u64,
    },
    /// Everything was played; the targets were ended. The last event of a player that was not
    /// stopped or failed.
    EndOfStream,
    /// Playback could not go on; the targets were ended. The last event.
    Failed(PlayError),
}

/// The sending side of the event channel: bounded, and when full the oldest event goes.
#[derive(Debug, Clone)]
pub(crate) struct EventSink {
    tx: Sender<PlayerEvent>,
    rx: Receiver<PlayerEvent>,
}

impl EventSink {
    pub(crate) fn new() -> Self {
        let (tx, rx) = bounded(EVENT_CAPACITY);
        Self { tx, rx }
    }

    /// Sends `event`, dropping the oldest unread one when the channel is full. A warning is
    /// also logged here, once (whoever reads the events need not log it again).
    pub(crate) fn send(&self, event: PlayerEvent) {
        if let PlayerEvent::Warning(message) = &event {
            tracing::warn!("{message}");
        }
        if let Err(TrySendError::Full(event)) = self.tx.try_send(event) {
            let _ = self.rx.try_recv();
            let _ = self.tx.try_send(event);
        }
    }

    /// A receiver of the events (every clone takes from the same channel).
    pub(crate) fn receiver(&self) -> Receiver<PlayerEvent> {
        self.rx.clone()
    }
}
