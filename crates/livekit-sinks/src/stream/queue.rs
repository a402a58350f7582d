//! The bounded packet queue in front of each destination: a live source never waits on it, and
//! when it is full whole GOPs are dropped (up to the next keyframe) and counted. A source that
//! is not live (a file read as fast as possible) may wait for room instead
//! ([`GopQueue::offer_waiting`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use livekit_core::Packet;
use parking_lot::{Condvar, Mutex};

/// What [`GopQueue::pop`] returns.
pub(crate) enum Popped {
    Packet(Packet),
    /// Nothing within the time-out.
    Empty,
    /// End of stream (everything before it was delivered) or closed.
    Ended,
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Dropped {
    pub packets: u64,
    pub gops: u64,
}

struct State {
    packets: VecDeque<Packet>,
    bytes: usize,
    /// Dropping every packet until the next GOP starts.
    dropping: bool,
    /// A branch added mid-stream: everything before the first GOP start is let go, not
    /// counted as dropped (it never was this branch's).
    awaiting_keyframe: bool,
    ended: bool,
    closed: bool,
    dropped: Dropped,
    /// Packets queued since the reader was last woken.
    unannounced: usize,
}

/// The most non-video packets queued before the reader is woken for them (4 AAC packets:
/// about 90 ms). Video packets wake it at once.
const WAKE_AFTER: usize = 4;

pub(crate) struct GopQueue {
    /// The video stream whose keyframes start GOPs; `None`: every keyframe does.
    video: Option<usize>,
    max_packets: usize,
    max_bytes: usize,
    state: Mutex<State>,
    readable: Condvar,
    /// Signalled when a packet leaves (or the queue closes): for [`GopQueue::offer_waiting`].
    writable: Condvar,
}

impl GopQueue {
    pub fn new(video: Option<usize>, max_packets: usize, max_bytes: usize) -> Self {
        let max_packets = max_packets.max(1);
        Self {
            video,
            max_packets,
            max_bytes: max_bytes.max(1),
            state: Mutex::new(State {
                packets: VecDeque::with_capacity(max_packets),
                bytes: 0,
                dropping: false,
                awaiting_keyframe: false,
                ended: false,
                closed: false,
                dropped: Dropped::default(),
                unannounced: 0,
            }),
            readable: Condvar::new(),
            writable: Condvar::new(),
        }
    }

    /// Lets every packet before the next GOP start go without counting it: for a branch that
    /// joins a stream already running, whose first packet must be a keyframe.
    pub fn await_keyframe(&self) {
        self.state.lock().awaiting_keyframe = true;
    }

    fn starts_gop(&self, packet: &Packet) -> bool {
        packet.keyframe && self.video.is_none_or(|video| video == packet.stream)
    }

    /// Offers a packet without waiting: queued, or dropped (with the rest of its GOP) when the
    /// queue is full.
    pub fn offer(&self, packet: Packet) {
        self.queue(packet);
    }

    /// Queues a packet once there is room for it, waiting up to `timeout`; gives it back when
    /// the queue is still full then (the caller decides whether to wait longer or
    /// [`offer`](Self::offer) it). A closed or ended queue takes (and ignores) everything.
    pub fn offer_waiting(&self, packet: Packet, timeout: Duration) -> Result<(), Packet> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock();
        loop {
            let full = !state.packets.is_empty()
                && (state.packets.len() >= self.max_packets
                    || state.bytes + packet.data.len() > self.max_bytes);
            if !full || state.ended || state.closed {
                break;
            }
            if self.writable.wait_until(&mut state, deadline).timed_out() {
                return Err(packet);
            }
        }
        drop(state);
        self.queue(packet);
        Ok(())
    }

    /// [`offer`](Self::offer), saying whether the reader was woken.
    fn queue(&self, packet: Packet) -> bool {
        let starts_gop = self.starts_gop(&packet);
        let mut state = self.state.lock();
        if state.ended || state.closed {
            return false;
        }
        if state.awaiting_keyframe {
            if !starts_gop {
                return false;
            }
            state.awaiting_keyframe = false;
        }
        let full = state.packets.len() >= self.max_packets
            || state.bytes + packet.data.len() > self.max_bytes;
        if state.dropping && starts_gop && !full {
            state.dropping = false;
        }
        if !state.dropping && full {
            state.dropping = true;
            state.dropped.gops += 1;
        } else if state.dropping && starts_gop {
            // Still full when the next GOP starts: that one goes too.
            state.dropped.gops += 1;
        }
        if state.dropping {
            state.dropped.packets += 1;
            return false;
        }
        // The reader is woken for each video packet (with the audio queued before it), not
        // for every packet: with several destinations, a thread woken per audio packet costs
        // more CPU (a wake-up per packet per destination) than the sending itself.
        let wake = self.video.is_none_or(|video| video == packet.stream)
            || state.unannounced + 1 >= WAKE_AFTER;
        state.bytes += packet.data.len();
        state.packets.push_back(packet);
        if wake {
            state.unannounced = 0;
            drop(state);
            self.readable.notify_one();
        } else {
            state.unannounced += 1;
        }
        wake
    }

    /// Next packet, waiting up to `timeout`.
    pub fn pop(&self, timeout: Duration) -> Popped {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock();
        loop {
            if state.closed {
                return Popped::Ended;
            }
            if let Some(packet) = state.packets.pop_front() {
                state.bytes -= packet.data.len();
                drop(state);
                self.writable.notify_one();
                return Popped::Packet(packet);
            }
            if state.ended {
                return Popped::Ended;
            }
            if self.readable.wait_until(&mut state, deadline).timed_out() {
                return Popped::Empty;
            }
        }
    }

    /// Drops every queued packet before the newest GOP start (all of them when no GOP start is
    /// queued), so that a (re)connection starts as fresh as it can, on a keyframe. Audio
    /// queued ahead of the first keyframe is kept when no video is (the start of a stream).
    /// Returns how many packets went.
    pub fn skip_to_newest_gop(&self) -> u64 {
        let mut state = self.state.lock();
        let is_video = |p: &Packet| self.video.is_none_or(|video| video == p.stream);
        let keep_from = state.packets.iter().rposition(|p| self.starts_gop(p));
        let end = keep_from.unwrap_or(state.packets.len());
        let video_before = state.packets.iter().take(end).any(is_video);
        let drop_count = if video_before { end } else { 0 };
        let mut bytes = 0;
        for packet in state.packets.drain(..drop_count) {
            bytes += packet.data.len();
        }
        state.bytes -= bytes;
        state.dropped.packets += drop_count as u64;
        drop(state);
        self.writable.notify_all();
        drop_count as u64
    }

    /// End of stream: what is queued is still delivered.
    pub fn end(&self) {
        self.state.lock().ended = true;
        self.readable.notify_all();
    }

    /// Whether end of stream was written.
    pub fn is_ended(&self) -> bool {
        let state = self.state.lock();
        state.ended || state.closed
    }

    /// Whether nothing is left to send.
    pub fn is_drained(&self) -> bool {
        self.state.lock().packets.is_empty()
    }

    /// Closes: queued packets are dropped, readers see the end.
    pub fn close(&self) {
        let mut state = self.state.lock();
        state.closed = true;
        let count = state.packets.len() as u64;
        state.dropped.packets += count;
        state.packets.clear();
        state.bytes = 0;
        drop(state);
        self.readable.notify_all();
        self.writable.notify_all();
    }

    pub fn dropped(&self) -> Dropped {
        self.state.lock().dropped
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use livekit_core::thread::{Worker, spawn_named};

    use super::*;

    fn packet(stream: usize, keyframe: bool, dts: i64) -> Packet {
        Packet {
            stream,
            data: Arc::from(vec![0u8; 10]),
            pts: dts,
            dts,
            duration: 1,
            keyframe,
        }
    }

    fn drain(queue: &GopQueue) -> Vec<i64> {
        let mut out = Vec::new();
        while let Popped::Packet(p) = queue.pop(Duration::ZERO) {
            out.push(p.dts);
        }
        out
    }

    #[test]
    fn full_queue_drops_to_the_next_keyframe() {
        let queue = GopQueue::new(Some(0), 4, 1 << 20);
        queue.offer(packet(0, true, 0));
        queue.offer(packet(1, true, 1)); // audio, never starts a GOP
        queue.offer(packet(0, false, 2));
        queue.offer(packet(0, false, 3));
        // Full: this one and the rest of its GOP go.
        queue.offer(packet(0, false, 4));
        queue.offer(packet(1, true, 5));
        assert_eq!(drain(&queue), vec![0, 1, 2, 3]);
        queue.offer(packet(0, false, 6));
        queue.offer(packet(0, true, 7));
        queue.offer(packet(0, false, 8));
        assert_eq!(drain(&queue), vec![7, 8]);
        let dropped = queue.dropped();
        assert_eq!((dropped.packets, dropped.gops), (3, 1));
    }

    /// A thread waiting (up to 5 s) for the queue's next packet: its dts.
    fn waiting(queue: &Arc<GopQueue>) -> Worker<Option<i64>> {
        let reader = Arc::clone(queue);
        spawn_named("waiting", move || {
            match reader.pop(Duration::from_secs(5)) {
                Popped::Packet(p) => Some(p.dts),
                _ => None,
            }
        })
        .unwrap()
    }

    #[test]
    fn the_reader_is_woken_per_video_packet_not_per_audio_packet() {
        let queue = Arc::new(GopQueue::new(Some(0), 100, 1 << 20));
        assert!(
            !queue.queue(packet(1, true, 0)),
            "woken for one audio packet"
        );
        assert!(queue.queue(packet(0, true, 1)), "not woken for video");
        let woken: Vec<bool> = (2..2 + WAKE_AFTER as i64)
            .map(|dts| queue.queue(packet(1, true, dts)))
            .collect();
        let mut expected = vec![false; WAKE_AFTER];
        expected[WAKE_AFTER - 1] = true;
        assert_eq!(woken, expected);
        assert_eq!(
            drain(&queue),
            (0..2 + WAKE_AFTER as i64).collect::<Vec<_>>()
        );
        // A reader waiting on audio that no video follows still gets it.
        let waiter = waiting(&queue);
        std::thread::sleep(Duration::from_millis(50));
        for dts in 10..10 + WAKE_AFTER as i64 {
            queue.offer(packet(1, true, dts));
        }
        assert_eq!(waiter.join().unwrap(), Some(10));
        // Without a video stream, every packet wakes the reader.
        let audio_only = GopQueue::new(None, 100, 1 << 20);
        assert!(audio_only.queue(packet(0, true, 0)));
        assert!(audio_only.queue(packet(0, true, 1)));
    }

    #[test]
    fn a_branch_that_joins_late_starts_on_a_keyframe_and_counts_nothing_before_it() {
        let queue = GopQueue::new(Some(0), 100, 1 << 20);
        queue.await_keyframe();
        queue.offer(packet(1, true, 0)); // audio
        queue.offer(packet(0, false, 1));
        queue.offer(packet(0, true, 2));
        queue.offer(packet(1, true, 3));
        queue.offer(packet(0, false, 4));
        assert_eq!(drain(&queue), vec![2, 3, 4]);
        assert_eq!(queue.dropped().packets, 0);
    }

    #[test]
    fn reconnect_starts_at_the_newest_gop() {
        let queue = GopQueue::new(Some(0), 100, 1 << 20);
        for (i, key) in [true, false, true, false, false].into_iter().enumerate() {
            queue.offer(packet(0, key, i as i64));
        }
        assert_eq!(queue.skip_to_newest_gop(), 2);
        assert_eq!(drain(&queue), vec![2, 3, 4]);
        queue.offer(packet(0, false, 5));
        assert_eq!(queue.skip_to_newest_gop(), 1);
        // Audio ahead of the first keyframe stays.
        queue.offer(packet(1, true, 6));
        queue.offer(packet(0, true, 7));
        assert_eq!(queue.skip_to_newest_gop(), 0);
        assert_eq!(drain(&queue), vec![6, 7]);
        queue.end();
        assert!(matches!(queue.pop(Duration::ZERO), Popped::Ended));
    }

    #[test]
    fn a_waiting_offer_queues_once_the_reader_makes_room() {
        let queue = Arc::new(GopQueue::new(Some(0), 2, 1 << 20));
        queue.offer(packet(0, true, 0));
        queue.offer(packet(0, false, 1));
        // Full, and nobody reads: the packet comes back, nothing is dropped.
        let back = queue.offer_waiting(packet(0, false, 2), Duration::from_millis(20));
        assert_eq!(back.map_err(|p| p.dts), Err(2));
        assert_eq!(queue.dropped().packets, 0);
        // A reader takes one: the waiting writer gets in.
        let writer = {
            let queue = Arc::clone(&queue);
            spawn_named("writer", move || {
                queue
                    .offer_waiting(packet(0, false, 2), Duration::from_secs(5))
                    .is_ok()
            })
            .unwrap()
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(matches!(queue.pop(Duration::ZERO), Popped::Packet(p) if p.dts == 0));
        assert!(writer.join().unwrap());
        assert_eq!(drain(&queue), vec![1, 2]);
        assert_eq!(queue.dropped().packets, 0);
        // A closed queue never makes a writer wait.
        queue.offer(packet(0, true, 3));
        queue.offer(packet(0, false, 4));
        queue.close();
        assert!(
            queue
                .offer_waiting(packet(0, false, 5), Duration::from_secs(5))
                .is_ok()
        );
    }
}
