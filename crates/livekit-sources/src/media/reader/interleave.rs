//! [`Interleave`]: packets of the video and the audio stream put back in decoding-time order.
//!
//! Many files store one stream well ahead of the other: an MPEG program stream as FFmpeg and DVD
//! authoring write it has its video about 0.7 s ahead of the sound at the same place in the
//! file, and cameras and old AVI muxers write chunks of a second or more. Decoded in file
//! order, the sound of such a file comes out long after its pictures, and a player in real time
//! finds it late. The reader holds packets of the stream that is ahead (compressed, so a few
//! seconds are cheap) until the other stream has been read as far, the way a player's demuxer
//! queues do. How far it holds is bounded (in time and in packets), so a stream that stops
//! having packets (sound that ends early, a silent stretch with no packets) delays the other by
//! at most that bound.

use std::collections::VecDeque;

use super::Which;

/// The packets of the streams being decoded, in the order they should be decoded.
#[derive(Debug)]
pub(super) struct Interleave<P> {
    /// Packets read but not yet handed out, in file order, with their decoding time (ns).
    held: VecDeque<(Which, i64, P)>,
    /// The decoding time of the last packet read of each stream (video, audio).
    read_to: [Option<i64>; 2],
    /// Which streams are decoded (a stream not decoded is never waited for).
    decoded: [bool; 2],
    /// The input has ended: everything held may go.
    ended: bool,
    /// The most decoding time held of one stream before its oldest packet goes anyway.
    max_span_ns: i64,
    /// The most packets held before the oldest goes anyway.
    max_packets: usize,
}

fn slot(which: Which) -> usize {
    match which {
        Which::Video => 0,
        Which::Audio => 1,
    }
}

impl<P> Interleave<P> {
    /// Orders the packets of the streams decoded (`video`, `audio`), holding at most
    /// `max_span_ns` of one stream's decoding time and `max_packets` packets.
    pub(super) fn new(video: bool, audio: bool, max_span_ns: i64, max_packets: usize) -> Self {
        Self {
            held: VecDeque::new(),
            read_to: [None; 2],
            decoded: [video, audio],
            ended: false,
            max_span_ns,
            max_packets: max_packets.max(1),
        }
    }

    /// A packet just read, with its decoding time in ns (`None` when it has none: it then goes
    /// with the packet before it).
    pub(super) fn push(&mut self, which: Which, dts_ns: Option<i64>, packet: P) {
        let s = slot(which);
        let dts = dts_ns.or(self.read_to[s]).unwrap_or(i64::MIN);
        self.read_to[s] = Some(self.read_to[s].map_or(dts, |r| r.max(dts)));
        self.held.push_back((which, dts, packet));
    }

    /// The input has no more packets: what is held goes, in order.
    pub(super) fn end(&mut self) {
        self.ended = true;
    }

    /// Whether the input ended and nothing is held any more.
    pub(super) fn is_done(&self) -> bool {
        self.ended && self.held.is_empty()
    }

    /// Forgets what is held (after a seek).
    pub(super) fn clear(&mut self) {
        self.held.clear();
        self.read_to = [None; 2];
        self.ended = false;
    }

    /// The next packet to decode, when one may go now; `None` when more must be read first.
    pub(super) fn pop(&mut self) -> Option<(Which, P)> {
        // The first held packet of each stream (each stream stays in file order); the one with
        // the earlier decoding time is the candidate.
        let mut firsts: [Option<(usize, i64)>; 2] = [None; 2];
        for (i, (which, dts, _)) in self.held.iter().enumerate() {
            let s = slot(*which);
            if firsts[s].is_none() {
                firsts[s] = Some((i, *dts));
                if firsts[1 - s].is_some() {
                    break;
                }
            }
        }
        let (index, dts, s) = match firsts {
            [Some((vi, vd)), Some((ai, ad))] => {
                if vd <= ad {
                    (vi, vd, 0)
                } else {
                    (ai, ad, 1)
                }
            }
            [Some((i, d)), None] => (i, d, 0),
            [None, Some((i, d))] => (i, d, 1),
            [None, None] => return None,
        };
        let other = 1 - s;
        let other_caught_up = !self.decoded[other]
            || firsts[other].is_some()
            || self.read_to[other].is_some_and(|r| r >= dts);
        let newest = self.read_to[s].unwrap_or(dts);
        let too_much =
            self.held.len() > self.max_packets || newest.saturating_sub(dts) > self.max_span_ns;
        if self.ended || other_caught_up || too_much {
            return self.held.remove(index).map(|(which, _, p)| (which, p));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    fn drain(order: &mut Interleave<u32>) -> Vec<u32> {
        std::iter::from_fn(|| order.pop().map(|(_, p)| p)).collect()
    }

    #[test]
    fn video_stored_ahead_of_the_sound_is_decoded_after_the_sound_of_its_time() {
        // As FFmpeg's MPEG-PS muxer writes it: video 0..=0.7 s, then the sound from 0.
        let mut order = Interleave::new(true, true, 5_000 * MS, 1000);
        let mut out = Vec::new();
        for (n, ms) in [0, 100, 200, 300, 400, 500, 600, 700]
            .into_iter()
            .enumerate()
        {
            order.push(Which::Video, Some(ms * MS), n as u32);
            out.extend(drain(&mut order));
        }
        // Nothing of the video goes while no sound has been read as far.
        assert_eq!(out, Vec::<u32>::new());
        for (n, ms) in [0, 50, 150, 250].into_iter().enumerate() {
            order.push(Which::Audio, Some(ms * MS), 100 + n as u32);
            out.extend(drain(&mut order));
        }
        // Audio 0 goes first (video 0 ties: video first), then each in time order up to what
        // both streams have been read to (audio 250 ms).
        assert_eq!(out, vec![0, 100, 101, 1, 102, 2, 103]);
        order.end();
        out.extend(drain(&mut order));
        assert_eq!(out, vec![0, 100, 101, 1, 102, 2, 103, 3, 4, 5, 6, 7]);
        assert!(order.is_done());
    }

    #[test]
    fn well_interleaved_packets_go_at_once() {
        let mut order = Interleave::new(true, true, 5_000 * MS, 1000);
        order.push(Which::Audio, Some(0), 1);
        assert_eq!(drain(&mut order), Vec::<u32>::new());
        order.push(Which::Video, Some(0), 2);
        assert_eq!(drain(&mut order), vec![2, 1]);
        order.push(Which::Audio, Some(21 * MS), 3);
        order.push(Which::Video, Some(33 * MS), 4);
        assert_eq!(drain(&mut order), vec![3]);
    }

    #[test]
    fn one_stream_alone_is_never_held() {
        let mut order = Interleave::new(true, false, 5_000 * MS, 1000);
        order.push(Which::Video, Some(0), 1);
        order.push(Which::Video, None, 2);
        assert_eq!(drain(&mut order), vec![1, 2]);
    }

    #[test]
    fn a_stream_without_packets_holds_the_other_at_most_the_bound() {
        let mut order = Interleave::new(true, true, 1_000 * MS, 1000);
        let mut out = Vec::new();
        for n in 0..=40u32 {
            order.push(Which::Video, Some(i64::from(n) * 40 * MS), n);
            out.extend(drain(&mut order));
        }
        // 1 s of video is held; the packets before that went.
        assert_eq!(out, (0..15).collect::<Vec<_>>());
        let mut order = Interleave::new(true, true, 60_000 * MS, 10);
        for n in 0..12u32 {
            order.push(Which::Video, Some(i64::from(n) * 40 * MS), n);
        }
        assert_eq!(drain(&mut order), vec![0, 1]);
    }

    #[test]
    fn a_seek_forgets_what_was_held() {
        let mut order = Interleave::new(true, true, 5_000 * MS, 1000);
        order.push(Which::Video, Some(0), 1);
        order.end();
        order.clear();
        assert!(!order.is_done());
        assert_eq!(drain(&mut order), Vec::<u32>::new());
        order.push(Which::Audio, Some(0), 2);
        assert_eq!(drain(&mut order), Vec::<u32>::new());
    }
}
