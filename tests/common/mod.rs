//! Shared by the streamer tests: clips, log capture (every tracing event at TRACE level,
//! FFmpeg's log included) and the check that no key ever shows up in it.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use livekit::StreamInfo;
use livekit::sources::{PacketFile, PacketFileSettings};
use livekit_testkit::NginxRtmp;
use livekit_testkit::media::{ClipSpec, clip as make_clip};
use livekit_testkit::probe::{Probe, ffprobe};
use parking_lot::Mutex;

/// Everything logged by this test binary.
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures every tracing event (TRACE level, FFmpeg's log through the `ffmpeg` target) for
/// this test binary. Call first in every test.
pub fn logs() {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(buffer.clone());
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        livekit::sinks::stream::route_ffmpeg_logs();
        buffer
    });
}

/// The captured log so far.
pub fn captured() -> String {
    String::from_utf8_lossy(&LOGS.get().unwrap().lock()).into_owned()
}

/// Asserts that no key appears in anything logged so far (and that something was logged).
pub fn assert_no_secret(keys: &[&str]) {
    let text = captured();
    assert!(text.contains("ffmpeg"), "FFmpeg's log was captured");
    for key in keys {
        assert!(!text.contains(key), "the key {key} leaked into the log");
    }
}

/// A 320x240 H.264/AAC clip of `seconds`, a keyframe every `gop` frames (30 fps).
pub fn clip(dir: &Path, seconds: f64, gop: u32) -> PathBuf {
    let path = dir.join(format!("clip-{seconds}-{gop}.mp4"));
    make_clip(
        &path,
        &ClipSpec {
            seconds,
            gop,
            ..ClipSpec::default()
        },
    );
    path
}

/// The clip's packets, paced in real time, and its streams.
pub fn open_clip(path: &Path) -> (PacketFile, Vec<StreamInfo>) {
    let file = PacketFile::open(path.to_str().unwrap(), PacketFileSettings::default()).unwrap();
    let streams = file.streams().to_vec();
    (file, streams)
}

/// Waits (up to 10 s) until nginx's recording of `key` is readable with a duration of at least
/// `min_seconds`; returns every recording of the key and the probe of the last one.
pub fn wait_recording(server: &NginxRtmp, key: &str, min_seconds: f64) -> (Vec<PathBuf>, Probe) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let recordings = server.recordings(key);
        if let Some(last) = recordings.last()
            && let Ok(probe) = ffprobe(last)
            && ((probe.duration() >= min_seconds && probe.video().is_some())
                || Instant::now() > deadline)
        {
            return (recordings, probe);
        }
        assert!(
            Instant::now() < deadline,
            "no readable recording for {key}: {:?}\nnginx log:\n{}",
            server.all_recordings(),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
