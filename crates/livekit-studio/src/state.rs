//! The state document: the whole show as one serializable value ([`Studio::state`]).
//!
//! [`Studio::state`]: crate::Studio::state

use serde::Serialize;
use utoipa::ToSchema;

use crate::command::{AudioSettings, InputSpec, LayerFields, OutputSpec, WhenFailed};
use crate::inputs::InputState;

/// The whole show. Keys never appear in it (destinations show redacted URLs).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StudioState {
    /// [`API_VERSION`](crate::API_VERSION).
    pub version: u32,
    /// Commands applied so far.
    pub commands_applied: u64,
    /// The inputs, in the order they were added.
    pub inputs: Vec<InputDoc>,
    /// The canvases, in the order they were added.
    pub canvases: Vec<CanvasDoc>,
    /// The outputs, in the order they were started.
    pub outputs: Vec<OutputDoc>,
    /// Video encodes running: one per canvas that has recordings or streams, however many
    /// it has.
    pub encodes: usize,
    /// Running statistics.
    pub stats: Stats,
}

/// One input.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct InputDoc {
    /// Its id.
    pub id: String,
    /// What it is, as given.
    pub input: InputSpec,
    /// Where it is.
    #[serde(flatten)]
    pub state: InputState,
    /// Its place in the program mix (`None`: it has no sound).
    pub audio: Option<AudioSettings>,
    /// What its layers show if it fails.
    pub when_failed: WhenFailed,
    /// Its layers' ids.
    pub layers: Vec<String>,
    /// `[width, height]` of its pictures, once known: a capture's from when it starts, a
    /// file's (its display size); `None` for the others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<[u32; 2]>,
    /// A file or playlist: where its playback is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub playing: Option<PlayingDoc>,
}

/// Where a file's or playlist's playback is.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PlayingDoc {
    /// Its position, in seconds (a playlist's from the start of its first entry).
    pub seconds: f64,
    /// A playlist: the entry playing (0 for the first of the list as given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<usize>,
    /// A playlist: the entry's path (a URL's key redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A playlist: a song's "Title - Artist" from its tags, while a song plays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// Video frames dropped because they came too late for real time (the machine or an
    /// output it feeds could not keep up).
    pub late_frames: u64,
}

/// One canvas.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CanvasDoc {
    /// Its id.
    pub id: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames a second.
    pub fps: f64,
    /// The background colour.
    pub background: String,
    /// The scene it shows now.
    pub scene: String,
    /// Its scenes, in the order they were added.
    pub scenes: Vec<SceneDoc>,
    /// Who watches it over WebRTC (WHEP), sharing one encode.
    pub viewers: Vec<crate::webrtc::ViewerDoc>,
}

/// One scene.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SceneDoc {
    /// Its name.
    pub name: String,
    /// Its layers, back to front, with all their settings (defaults included; `canvas` and
    /// `scene` left out).
    pub layers: Vec<LayerFields>,
}

/// Where an output is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum OutputState {
    /// Started; nothing delivered yet.
    Starting,
    /// Delivering.
    Live,
    /// Stopped by a command, or the studio stopped.
    Stopped,
    /// Ended by a failure (a full disk, a closed window).
    Failed {
        /// What went wrong, in one line.
        error: String,
    },
}

impl OutputState {
    /// Its name, as the JSON's `state` field has it (`live`, `failed`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Live => "live",
            Self::Stopped => "stopped",
            Self::Failed { .. } => "failed",
        }
    }
}

/// One output.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OutputDoc {
    /// Its id.
    pub id: String,
    /// The canvas it shows (empty for an output fed by an input).
    pub canvas: String,
    /// The input it encodes instead of a canvas (`start_output`'s `input`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// What it is, as given.
    pub output: OutputSpec,
    /// Where it is.
    #[serde(flatten)]
    pub state: OutputState,
    /// Frames it was given.
    pub frames: u64,
    /// Frames it dropped (it fell behind).
    pub dropped_frames: u64,
    /// Stream outputs: each destination.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<DestinationStateDoc>,
    /// Recording outputs: what is written so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording: Option<RecordingDoc>,
    /// Recordings and streams: the video encoder of their canvas's encode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoder: Option<String>,
}

/// What a recording output has written.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RecordingDoc {
    /// The file.
    pub path: String,
    /// Compressed bytes written.
    pub bytes: u64,
    /// Media time recorded, in seconds.
    pub seconds: f64,
    /// Packets lost because the disk fell behind.
    pub dropped_packets: u64,
}

/// One destination of a stream output.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DestinationStateDoc {
    /// Its label: a site name, or `#N` and the redacted URL.
    pub name: String,
    /// The URL with its key redacted.
    pub url: String,
    /// `connecting`, `live`, `retrying`, `failed` or `stopped`.
    pub state: String,
    /// Bits a second over the last second.
    pub bitrate: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Packets it lost (queue full, reconnections).
    pub dropped_packets: u64,
    /// Connections after the first.
    pub reconnects: u64,
    /// The last error, key redacted.
    pub last_error: Option<String>,
}

/// Running statistics of a studio.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default, ToSchema)]
pub struct Stats {
    /// Seconds since the studio started (its clock).
    pub uptime_seconds: f64,
    /// Canvas frames rendered, all canvases.
    pub frames: u64,
    /// Canvas frames a second over the last second, all canvases.
    pub fps: f64,
    /// Mean time a frame took to render over the last second, in milliseconds.
    pub render_ms: f64,
    /// Canvas frames skipped because rendering fell behind.
    pub late_frames: u64,
    /// Peak level of the program audio over the last second, in dBFS (-100 for silence).
    pub audio_peak_db: f64,
}

/// How a studio's outputs ended ([`Studio::stop`](crate::Studio::stop)), for a summary.
#[derive(Debug, Clone)]
pub struct StudioReport {
    /// Every output the studio had, in the order started (stopped ones included).
    pub outputs: Vec<OutputReport>,
    /// The statistics at the end.
    pub stats: Stats,
}

/// How one output ended.
#[derive(Debug, Clone)]
pub struct OutputReport {
    /// Its id.
    pub id: String,
    /// Its canvas.
    pub canvas: String,
    /// What it was (keys redacted).
    pub output: OutputSpec,
    /// How it ended ([`OutputState::Stopped`] or [`OutputState::Failed`]).
    pub state: OutputState,
    /// Frames it delivered: encoded (recordings, streams), sent (a virtual camera), or given.
    pub frames: u64,
    /// Frames it dropped because it fell behind.
    pub dropped_frames: u64,
    /// Recordings and streams: the size encoded.
    pub size: Option<(u32, u32)>,
    /// Streams: each destination's final counters (keys redacted).
    pub destinations: Vec<livekit_sinks::stream::DestinationStats>,
    /// Recordings: the finished file, or why writing it failed.
    pub recording: Option<livekit_sinks::stream::RecordingReport>,
    /// Recordings and streams: the video encoder used.
    pub encoder: Option<String>,
    /// Recordings and streams: why their encoder stopped early, when that ended them (the
    /// output then [failed](OutputState::Failed) with it; what was encoded before was sent
    /// or written).
    pub encoding_error: Option<String>,
}

#[cfg(test)]
mod names {
    use super::OutputState;
    use crate::InputState;

    /// The names metrics and the CLI use are the JSON's.
    #[test]
    fn state_names_are_the_json_names() {
        let error = || "x".to_owned();
        for state in [
            InputState::Starting,
            InputState::Live,
            InputState::Paused,
            InputState::Ended,
            InputState::Failed { error: error() },
            InputState::Lost { error: error() },
        ] {
            let json = serde_json::to_value(&state).unwrap();
            assert_eq!(json["state"], state.as_str());
        }
        for state in [
            OutputState::Starting,
            OutputState::Live,
            OutputState::Stopped,
            OutputState::Failed { error: error() },
        ] {
            let json = serde_json::to_value(&state).unwrap();
            assert_eq!(json["state"], state.as_str());
        }
    }
}
