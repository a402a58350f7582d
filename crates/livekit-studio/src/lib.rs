//! # livekit-studio
//!
//! The live show as one object, as OBS users know it: a [`Studio`] holds inputs by id (files,
//! playlists, cameras, screens, windows, pictures, test patterns, colours, text, frames from
//! other processes, microphones), canvases with scenes of layers showing them, the program
//! audio mix, and outputs (recordings, streams, HLS, preview windows, virtual cameras, frames
//! for other processes), all added, changed and removed while it runs.
//!
//! - One [`Command`] type (serde, versioned by [`API_VERSION`]) is the only way to change a
//!   show: the Rust API ([`Studio::apply`]), scene files and the HTTP API use the same names.
//!   A command that cannot be applied is a [`CommandError`] naming the id or field, and
//!   changes nothing.
//! - [`Studio::state`] is the whole show as one serializable document ([`StudioState`]).
//! - [`Studio::subscribe`] gives the [`Event`]s as they happen: each subscriber has a bounded
//!   queue; a slow one loses its oldest events (counted), never blocking the show.
//! - An input that fails never stops the show: its state says why, and its layers hold the
//!   last frame or show nothing ([`WhenFailed`]).
//!
//! Between the library crates (sources, sinks, compositor) and the `livekit` command.

mod audio;
mod command;
mod encode;
mod error;
mod events;
mod inputs;
mod outputs;
mod scene;
mod schema;
mod state;
mod studio;
mod webrtc;

pub use command::{
    API_VERSION, AudioSettings, Command, HLS_PLAYLIST, HlsSegmentFormat, InputSpec, LayerFields,
    MAIN_CANVAS, MAIN_SCENE, OutputSpec, TransitionSpec, WhenFailed,
};
pub use error::{CommandError, ErrorKind, Target};
pub use events::{DEFAULT_EVENT_CAPACITY, Event, Subscription, ViewerChange};
pub use inputs::InputState;
pub use scene::scene_commands;
pub use state::{
    CanvasDoc, DestinationStateDoc, InputDoc, OutputDoc, OutputReport, OutputState, PlayingDoc,
    RecordingDoc, SceneDoc, Stats, StudioReport, StudioState,
};
pub use studio::{StartStudioError, Studio, StudioSettings};
pub use webrtc::ViewerDoc;
