//! Hardware encoders that cannot open (no GPU here) fall back to libx264, and say so.
//! Its own test binary: it installs a global tracing subscriber to read the warning.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{gradient, video_source};
use livekit_sinks::{EncoderSettings, H264Encoder, Recorder, RecorderSettings, VideoSettings};
use livekit_testkit::probe::{decodes_cleanly, ffprobe};

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn take(&self) -> String {
        String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
    }
}

#[test]
fn nvenc_vaapi_and_auto_fall_back_to_x264_and_say_so() {
    let log = Log::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let dir = tempfile::tempdir().unwrap();
    for (choice, failed) in [
        (H264Encoder::Nvenc, &["h264_nvenc"][..]),
        (H264Encoder::Vaapi, &["h264_vaapi"][..]),
        (H264Encoder::Auto, &["h264_nvenc", "h264_vaapi"][..]),
    ] {
        let path = dir.path().join(format!("{choice}.mp4"));
        let (video, feed) = video_source(gradient(10));
        let settings = EncoderSettings {
            video: VideoSettings {
                width: 320,
                height: 240,
                encoder: choice,
                ..VideoSettings::default()
            },
            ..EncoderSettings::default()
        };
        let recorder = Recorder::start(RecorderSettings::new(&path), settings, video, None)
            .unwrap_or_else(|e| panic!("{choice}: {e}"));
        let encoder = recorder.encoder().unwrap();
        assert_eq!(encoder.video_encoder(), "libx264", "{choice}");
        let why = encoder.fallback().unwrap().to_owned();
        for name in failed {
            assert!(why.contains(&format!("{name} failed to open")), "{why}");
        }
        assert!(why.ends_with("using libx264"), "{why}");
        recorder.wait().unwrap();
        feed.join().unwrap();
        decodes_cleanly(&path).unwrap();
        assert_eq!(ffprobe(&path).unwrap().video().unwrap().codec_name, "h264");

        let logged = log.take();
        let line = logged
            .lines()
            .find(|l| l.contains("falling back to libx264") || l.contains("using libx264"))
            .unwrap_or_else(|| panic!("{choice}: nothing logged:\n{logged}"));
        if choice == H264Encoder::Auto {
            // Auto expects to fall back: information, not a warning.
            assert!(line.contains("INFO"), "{line}");
        } else {
            assert!(line.contains("WARN"), "{line}");
            assert!(
                line.contains(&format!("H.264 encoder {choice} is not available")),
                "{line}"
            );
        }
    }
}
