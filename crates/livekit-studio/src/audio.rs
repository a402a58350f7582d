//! The program audio: every input with sound mixed into one stream (gain and mute per input,
//! changed while live), copied to every output that encodes, and metered.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use livekit_core::thread::{Worker, spawn_named};
use livekit_core::{
    AudioFrame, Clock, FrameSource, FrameTarget, Mixer, MixerInput, MixerSettings, Port, Pull,
};
use parking_lot::Mutex;

use crate::inputs::Sound;

/// Program audio kept for an output that falls behind, before the oldest is dropped: 1 s.
const TAP_CAPACITY: usize = 100;

/// The program mix and its copies.
pub(crate) struct Program {
    mixer: Option<Mixer>,
    taps: Arc<Mutex<Vec<Arc<Port<AudioFrame>>>>>,
    peak: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    worker: Option<Worker<()>>,
}

impl Program {
    /// Starts the mix on `clock`; the copies' timestamps are the clock's time less `origin`
    /// (the canvases' time zero), so that sound and pictures share one time line.
    pub(crate) fn start(clock: Arc<dyn Clock>, origin: Duration) -> Result<Self, String> {
        let mixer = Mixer::start(MixerSettings {
            clock,
            end_with_inputs: false,
            ..MixerSettings::default()
        })
        .map_err(|e| e.to_string())?;
        let taps: Arc<Mutex<Vec<Arc<Port<AudioFrame>>>>> = Arc::default();
        let peak = Arc::new(AtomicU32::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let worker = {
            let output = mixer.output();
            let taps = taps.clone();
            let peak = peak.clone();
            let stop = stop.clone();
            spawn_named("livekit.studio.audio", move || {
                while !stop.load(Ordering::Relaxed) {
                    match output.next(Duration::from_millis(50)) {
                        Pull::Frame(frame) => {
                            let pts = frame.pts().saturating_sub(origin);
                            let frame = frame.with_pts(pts);
                            let loudest =
                                frame.samples().iter().fold(0.0f32, |m, s| m.max(s.abs()));
                            peak.fetch_max(loudest.to_bits(), Ordering::Relaxed);
                            taps.lock().retain(|tap| tap.push(frame.clone()).is_ok());
                        }
                        Pull::Pending => {}
                        Pull::Ended => break,
                    }
                }
                for tap in taps.lock().drain(..) {
                    tap.end();
                }
            })
            .map_err(|e| e.to_string())?
        };
        Ok(Self {
            mixer: Some(mixer),
            taps,
            peak,
            stop,
            worker: Some(worker),
        })
    }

    /// Adds an input's sound to the mix.
    pub(crate) fn add(&self, name: &str, sound: Sound, gain: f32) -> MixerInput {
        let mixer = self
            .mixer
            .as_ref()
            .expect("the mixer runs until the studio stops");
        match sound {
            Sound::Arrival(port) => mixer.add_input(name, port, gain),
            Sound::Timed(port) => mixer.add_timed_input(name, port, gain),
        }
    }

    /// A copy of the program audio from now on (a drop-oldest port of about a second).
    pub(crate) fn tap(&self) -> Arc<Port<AudioFrame>> {
        let tap = Arc::new(Port::drop_oldest(TAP_CAPACITY));
        self.taps.lock().push(tap.clone());
        tap
    }

    /// The loudest sample since the last call, 0 to 1 (positive floats compare as their bits).
    pub(crate) fn take_peak(&self) -> f32 {
        f32::from_bits(self.peak.swap(0, Ordering::Relaxed))
    }

    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(mixer) = self.mixer.take()
            && let Err(error) = mixer.stop()
        {
            tracing::error!("{error}");
        }
        if let Some(worker) = self.worker.take()
            && let Err(error) = worker.join()
        {
            tracing::error!("{error}");
        }
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A linear level in dBFS, -100 for silence.
pub(crate) fn decibels(level: f32) -> f64 {
    if level <= 1e-5 {
        -100.0
    } else {
        (20.0 * f64::from(level).log10()).max(-100.0)
    }
}
