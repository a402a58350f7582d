//! WebRTC viewers of a canvas (WHEP): one more encode of the canvas for all of them together,
//! as WebRTC peers expect it (H.264 constrained baseline: no B-frames, no look-ahead; Opus
//! sound), started with the first viewer and ended when the last one has gone. One thread,
//! `livekit.whep.fanout.CANVAS`, hands each packet to every viewer, none of which can hold it
//! (each has its own bounded queue, and drops its own packets when it falls behind).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use livekit_core::thread::{Worker, spawn_named};
use livekit_core::{AudioFrame, FrameSource, Port, Pull, StreamInfo, VideoFrame};
use livekit_sinks::webrtc::{ViewerState, ViewerStats, WebRtcError, WebRtcSettings, WebRtcViewer};
use livekit_sinks::{AudioCodec, Encoder, EncoderSettings, KeyframeRequest, RunningEncoder};
use parking_lot::Mutex;

use crate::error::{CommandError, chain};
use crate::outputs::Gate;

/// How long the fan-out waits for a packet before looking at its viewers again.
const TICK: Duration = Duration::from_millis(200);

/// One viewer, by id.
struct Viewer {
    id: String,
    viewer: WebRtcViewer,
}

/// A canvas's WebRTC encode and its viewers.
pub(crate) struct WebRtcEncode {
    pub(crate) canvas: String,
    /// What the compositor writes the canvas's frames to.
    pub(crate) gate: Arc<Gate>,
    video: Arc<Port<VideoFrame>>,
    audio: Option<Arc<Port<AudioFrame>>>,
    encoder: Option<RunningEncoder>,
    streams: Vec<StreamInfo>,
    keyframes: KeyframeRequest,
    viewers: Arc<Mutex<Vec<Viewer>>>,
    fanout: Option<Worker<()>>,
    next: u64,
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

impl WebRtcEncode {
    /// Starts the encode (`settings` has the canvas's size and rate; it is made WebRTC's) and
    /// its fan-out, with no viewer yet.
    pub(crate) fn start(
        canvas: &str,
        mut settings: EncoderSettings,
        audio: Option<Arc<Port<AudioFrame>>>,
    ) -> Result<Self, CommandError> {
        // What every WebRTC peer decodes: no B-frames (baseline), nothing held back
        // (zerolatency), a keyframe whenever a viewer joins or asks (and every 2 s).
        settings.video.profile = Some("baseline".into());
        settings.video.tune = Some("zerolatency".into());
        settings.video.keyframe_interval = Duration::from_secs(2);
        settings.audio.codec = AudioCodec::Opus;
        settings.audio.kbps = 96;
        settings.audio.sample_rate = 48_000;
        let video = Arc::new(Port::drop_oldest(crate::encode::VIDEO_QUEUE));
        let (video_feed, audio_feed) = crate::encode::feeds(&video, audio.as_ref());
        let encoder = Encoder::start(settings, video_feed, audio_feed).map_err(|e| {
            CommandError::invalid_on(
                "canvas",
                canvas,
                format!("cannot encode for WebRTC: {}", chain(&e)),
            )
        })?;
        let streams = encoder.streams().to_vec();
        let keyframes = encoder.keyframe_request();
        let viewers: Arc<Mutex<Vec<Viewer>>> = Arc::new(Mutex::new(Vec::new()));
        let packets = encoder.packets();
        let fed = viewers.clone();
        let fanout = spawn_named(format!("livekit.whep.fanout.{canvas}"), move || {
            loop {
                match packets.next(TICK) {
                    Pull::Frame(packet) => {
                        for viewer in fed.lock().iter() {
                            viewer.viewer.send(&packet);
                        }
                    }
                    Pull::Pending => {}
                    Pull::Ended => return,
                }
            }
        })
        .map_err(|e| CommandError::invalid_on("canvas", canvas, e.to_string()))?;
        Ok(Self {
            canvas: canvas.to_owned(),
            gate: Gate::new(video.clone(), None),
            video,
            audio,
            encoder: Some(encoder),
            streams,
            keyframes,
            viewers,
            fanout: Some(fanout),
            next: 0,
        })
    }

    /// Answers a viewer's SDP offer: its id and the SDP answer.
    pub(crate) fn add_viewer(
        &mut self,
        offer: &str,
        bind: IpAddr,
    ) -> Result<(String, String), CommandError> {
        let (viewer, answer) = WebRtcViewer::answer(
            offer,
            &self.streams,
            &WebRtcSettings::new(bind),
            Some(self.keyframes.clone()),
        )
        .map_err(|error| match error {
            WebRtcError::BadOffer(_) | WebRtcError::NoCodec(_) => {
                CommandError::invalid(error.to_string())
            }
            other => CommandError::conflict(chain(&other)),
        })?;
        self.next += 1;
        let id = format!("v{}", self.next);
        self.viewers.lock().push(Viewer {
            id: id.clone(),
            viewer,
        });
        Ok((id, answer))
    }

    /// Ends viewer `id`; false when there is no such viewer.
    pub(crate) fn remove_viewer(&mut self, id: &str) -> bool {
        let removed = {
            let mut viewers = self.viewers.lock();
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

    /// Lets go of the viewers that have gone (left, timed out or failed).
    pub(crate) fn drop_closed(&mut self) {
        let closed: Vec<Viewer> = {
            let mut viewers = self.viewers.lock();
            let (closed, open) = std::mem::take(&mut *viewers)
                .into_iter()
                .partition(|v| v.viewer.is_closed());
            *viewers = open;
            closed
        };
        for viewer in closed {
            tracing::debug!(canvas = %self.canvas, "viewer {} left: {:?}", viewer.id, viewer.viewer.state());
            viewer.viewer.close();
        }
    }

    /// Its viewers now.
    pub(crate) fn viewers(&self) -> Vec<ViewerDoc> {
        self.viewers
            .lock()
            .iter()
            .map(|v| ViewerDoc::of(&v.id, &v.viewer.stats()))
            .collect()
    }

    /// Whether it has no viewer left.
    pub(crate) fn is_idle(&self) -> bool {
        self.viewers.lock().is_empty()
    }

    /// Ends the viewers and the encode.
    pub(crate) fn stop(&mut self) {
        for viewer in std::mem::take(&mut *self.viewers.lock()) {
            viewer.viewer.close();
        }
        self.gate.close();
        livekit_core::FrameTarget::end(&*self.video);
        if let Some(encoder) = self.encoder.take()
            && let Err(error) = encoder.wait()
        {
            tracing::warn!(canvas = %self.canvas, "WebRTC encoder: {error}");
        }
        if let Some(audio) = &self.audio {
            audio.close();
        }
        if let Some(fanout) = self.fanout.take() {
            let _ = fanout.join();
        }
    }
}

impl Drop for WebRtcEncode {
    fn drop(&mut self) {
        self.stop();
    }
}
