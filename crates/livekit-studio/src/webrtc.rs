//! WebRTC outputs of a canvas: WHEP viewers and WHIP destinations share one more encode of
//! the canvas made as WebRTC peers expect it (H.264 constrained baseline: no B-frames, no
//! look-ahead; Opus sound), started with the first of them and ended after the last. The
//! thread that reads the encode's packets for its streamer hands each one to every viewer,
//! none of which can hold it (each has its own bounded queue, and drops its own packets when
//! it falls behind).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use livekit_core::{FrameSource, Packet, Port, Pull, StreamInfo};
use livekit_sinks::webrtc::{ViewerState, ViewerStats, WebRtcError, WebRtcSettings, WebRtcViewer};
use livekit_sinks::{AudioCodec, EncoderSettings, KeyframeRequest};
use parking_lot::Mutex;

use crate::error::{CommandError, chain};

/// One viewer, by id.
struct Viewer {
    id: String,
    viewer: WebRtcViewer,
}

/// A viewer as the state document shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ViewerDoc {
    /// Its id (the end of its WHEP resource URL).
    pub id: String,
    /// `connecting`, `connected` or `closed`.
    pub state: String,
    /// Packets sent to it.
    pub packets: u64,
    /// Bytes sent to it.
    pub bytes: u64,
    /// Packets it dropped (it fell behind, or waited for a keyframe).
    pub dropped: u64,
}

impl ViewerDoc {
    fn of(id: &str, stats: &ViewerStats) -> Self {
        Self {
            id: id.to_owned(),
            state: match stats.state {
                ViewerState::Connecting => "connecting",
                ViewerState::Connected => "connected",
                ViewerState::Closed(_) => "closed",
            }
            .to_owned(),
            packets: stats.packets,
            bytes: stats.bytes,
            dropped: stats.dropped,
        }
    }
}

/// What an encode is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Profile {
    /// The studio's settings: recordings, HLS, RTMP and SRT destinations.
    Standard,
    /// What every WebRTC peer decodes: WHEP viewers and WHIP destinations.
    WebRtc,
    /// VP8 and Opus, for WHEP viewers that offer no H.264.
    WebRtcVp8,
}

/// Makes `settings` what every WebRTC peer decodes: no B-frames (baseline), nothing held back
/// (zerolatency), a keyframe every 2 s (and whenever a viewer joins or asks), Opus sound.
pub(crate) fn for_webrtc(settings: &mut EncoderSettings, profile: Profile) {
    if profile == Profile::WebRtcVp8 {
        settings.video.codec = livekit_sinks::VideoCodec::Vp8;
    }
    settings.video.profile = Some("baseline".into());
    settings.video.tune = Some("zerolatency".into());
    // No lookahead at all: a cap the studio's streaming settings give (200 ms) would be set
    // as x264's rc-lookahead over zerolatency's 0, and hold every frame back 6 frames.
    settings.video.max_lookahead = Some(Duration::ZERO);
    settings.video.keyframe_interval = Duration::from_secs(2);
    settings.audio.codec = AudioCodec::Opus;
    settings.audio.kbps = 96;
    settings.audio.sample_rate = 48_000;
}

/// Whether an encode made with `settings` already suits WebRTC peers (Opus sound, no
/// B-frames): then WebRTC outputs share it instead of one more encode.
pub(crate) fn suits_webrtc(settings: &EncoderSettings) -> bool {
    settings.audio.codec == AudioCodec::Opus
        && settings.video.profile.as_deref() == Some("baseline")
}

/// The WebRTC viewers of one encode. The encode's packets reach them through [`ViewerTap`]
/// (on the thread that reads the encode's packets), each viewer's own bounded queue taking
/// them without waiting.
#[derive(Clone, Default)]
pub(crate) struct Viewers {
    list: Arc<Mutex<Vec<Viewer>>>,
}

/// The number of the last viewer: ids are unique in the process, not only in one encode, so
/// that a viewer of an encode that ended (its WHEP resource deleted late by its player) is
/// never taken for a viewer of the next encode of the canvas.
static LAST_VIEWER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The most WebRTC viewers of one encode.
pub(crate) const MAX_VIEWERS: usize = 256;

impl Viewers {
    /// Answers a viewer's SDP offer for an encode of `streams`: its id and the SDP answer.
    pub(crate) fn add(
        &self,
        offer: &str,
        bind: IpAddr,
        streams: &[StreamInfo],
        keyframes: KeyframeRequest,
    ) -> Result<(String, String), CommandError> {
        // Each viewer holds a socket and two threads: a flood of offers must not take them all.
        if self.list.lock().len() >= MAX_VIEWERS {
            return Err(CommandError::conflict(format!(
                "{MAX_VIEWERS} viewers are watching already: no more are taken"
            )));
        }
        let (viewer, answer) =
            WebRtcViewer::answer(offer, streams, &WebRtcSettings::new(bind), Some(keyframes))
                .map_err(|error| match error {
                    WebRtcError::BadOffer(_) | WebRtcError::NoCodec(_) => {
                        CommandError::invalid(error.to_string())
                    }
                    other => CommandError::conflict(chain(&other)),
                })?;
        let n = LAST_VIEWER.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let id = format!("v{n}");
        self.list.lock().push(Viewer {
            id: id.clone(),
            viewer,
        });
        Ok((id, answer))
    }

    /// Ends viewer `id`; false when there is no such viewer.
    pub(crate) fn remove(&self, id: &str) -> bool {
        let removed = {
            let mut viewers = self.list.lock();
            viewers
                .iter()
                .position(|v| v.id == id)
                .map(|index| viewers.remove(index))
        };
        match removed {
            Some(viewer) => {
                viewer.viewer.close();
                true
            }
            None => false,
        }
    }

    /// Lets go of the viewers that have gone (left, timed out or failed): their ids and why.
    pub(crate) fn drop_closed(&self, canvas: &str) -> Vec<(String, String)> {
        let closed: Vec<Viewer> = {
            let mut viewers = self.list.lock();
            let (closed, open) = std::mem::take(&mut *viewers)
                .into_iter()
                .partition(|v| v.viewer.is_closed());
            *viewers = open;
            closed
        };
        closed
            .into_iter()
            .map(|viewer| {
                let why = match viewer.viewer.state() {
                    livekit_sinks::webrtc::ViewerState::Closed(why) => why,
                    other => format!("{other:?}"),
                };
                tracing::debug!(canvas, "viewer {} left: {why}", viewer.id);
                viewer.viewer.close();
                (viewer.id, why)
            })
            .collect()
    }

    /// The viewers now, as the state document shows them.
    pub(crate) fn docs(&self) -> Vec<ViewerDoc> {
        self.list
            .lock()
            .iter()
            .map(|v| ViewerDoc::of(&v.id, &v.viewer.stats()))
            .collect()
    }

    /// Whether there is none.
    pub(crate) fn is_empty(&self) -> bool {
        self.list.lock().is_empty()
    }

    /// Ends every viewer with `why`, without letting go of them: the next
    /// [`drop_closed`](Self::drop_closed) tells each one's leaving, with that reason.
    pub(crate) fn end_all(&self, why: &str) {
        for viewer in self.list.lock().iter() {
            viewer.viewer.end(why);
        }
    }

    /// Ends every viewer.
    pub(crate) fn close_all(&self) {
        for viewer in std::mem::take(&mut *self.list.lock()) {
            viewer.viewer.close();
        }
    }

    /// The encode's packets as the streamer reads them, each handed to every viewer first.
    pub(crate) fn tap(&self, packets: Port<Packet>) -> ViewerTap {
        ViewerTap {
            packets,
            viewers: self.list.clone(),
        }
    }
}

/// An encode's packets, handed to its viewers as they are read.
pub(crate) struct ViewerTap {
    packets: Port<Packet>,
    viewers: Arc<Mutex<Vec<Viewer>>>,
}

impl ViewerTap {
    fn hand(&self, pull: Pull<Packet>) -> Pull<Packet> {
        if let Pull::Frame(packet) = &pull {
            for viewer in self.viewers.lock().iter() {
                viewer.viewer.send(packet);
            }
        }
        pull
    }
}

impl FrameSource<Packet> for ViewerTap {
    fn latest(&self) -> Pull<Packet> {
        self.hand(self.packets.latest())
    }

    fn next(&self, timeout: Duration) -> Pull<Packet> {
        self.hand(self.packets.next(timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webrtc_encode_looks_ahead_no_frame_whatever_the_studio_streams_with() {
        let mut settings = EncoderSettings::default();
        settings.video.max_lookahead = Some(Duration::from_millis(200));
        assert_eq!(settings.video.x264_lookahead(), Some(6));
        for_webrtc(&mut settings, Profile::WebRtc);
        assert_eq!(settings.video.x264_lookahead(), Some(0));
    }
}
