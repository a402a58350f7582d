//! The recorder: generated frames and a sine, encoded and written to every container, read back
//! with ffprobe and the ffmpeg CLI.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{
    Picture, VideoFeed, decoded_pixel, gradient, make_frame, sine_source, video_kbps, video_source,
};
use livekit_core::{ColorSpace, FrameTarget, PixelFormat, Port, VideoFrame};
use livekit_sinks::{
    Container, Encoder, EncoderSettings, RateControl, Recorder, RecorderSettings,
    StartRecorderError, VideoSettings,
};
use livekit_testkit::probe::{decodes_cleanly, ffprobe, ffprobe_count};

fn settings(width: u32, height: u32) -> EncoderSettings {
    EncoderSettings {
        video: VideoSettings {
            width,
            height,
            fps: (30, 1),
            preset: "ultrafast".into(),
            ..VideoSettings::default()
        },
        ..EncoderSettings::default()
    }
}

/// Records `frames` gradient frames at 30 fps plus a sine of the same length to `path`.
fn record(path: &Path, frames: u64, crash_safe: bool) -> livekit_sinks::RecordingSummary {
    let (video, video_feed) = video_source(gradient(frames));
    let (audio, audio_feed) = sine_source(frames as f64 / 30.0, 48_000, 2, 960);
    let recorder = Recorder::start(
        RecorderSettings {
            crash_safe,
            ..RecorderSettings::new(path)
        },
        settings(320, 240),
        video,
        Some(audio),
    )
    .unwrap();
    let summary = recorder.wait().unwrap();
    video_feed.join().unwrap();
    audio_feed.join().unwrap();
    summary
}

/// Checks what every recording of [`record`] must hold.
fn check(path: &Path, format: &str, seconds: f64) {
    decodes_cleanly(path).unwrap();
    let probe = ffprobe_count(path).unwrap();
    assert!(
        probe.format.format_name.contains(format),
        "{}",
        probe.format.format_name
    );
    let video = probe.video().unwrap();
    assert_eq!(video.codec_name, "h264");
    assert_eq!((video.width, video.height), (Some(320), Some(240)));
    assert_eq!(video.nb_read_frames, Some((seconds * 30.0).round()));
    let audio = probe.audio().expect("an audio stream");
    assert_eq!(audio.codec_name, "aac");
    assert_eq!(audio.sample_rate, Some(48_000.0));
    assert_eq!(audio.channels, Some(2));
    // Within two frames.
    let duration = probe.duration();
    assert!(
        (duration - seconds).abs() <= 2.0 / 30.0,
        "{path:?}: duration {duration} s, expected {seconds} s"
    );
}

#[test]
fn mp4_holds_h264_and_aac_with_the_right_duration_and_moov_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.mp4");
    let summary = record(&path, 60, false);
    check(&path, "mp4", 2.0);
    assert_eq!(summary.container, Container::Mp4);
    assert!(
        (summary.duration.as_secs_f64() - 2.0).abs() < 0.07,
        "{summary:?}"
    );
    assert_eq!(summary.encoder.unwrap().video_frames, 60);
    assert_eq!(summary.file_bytes, std::fs::metadata(&path).unwrap().len());
    // faststart: the index comes before the media data.
    let bytes = std::fs::read(&path).unwrap();
    let at = |tag: &[u8]| bytes.windows(4).position(|w| w == tag).unwrap();
    assert!(at(b"moov") < at(b"mdat"));
}

#[test]
fn mkv_mov_and_flv_by_extension() {
    let dir = tempfile::tempdir().unwrap();
    for (name, format, container) in [
        ("out.mkv", "matroska", Container::Mkv),
        ("out.MOV", "mov", Container::Mov),
        ("out.flv", "flv", Container::Flv),
    ] {
        let path = dir.path().join(name);
        let summary = record(&path, 30, false);
        assert_eq!(summary.container, container);
        check(&path, format, 1.0);
    }
}

#[test]
fn crash_safe_mp4_is_fragmented_and_plays() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("safe.mp4");
    record(&path, 45, true);
    check(&path, "mp4", 1.5);
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.windows(4).any(|w| w == b"moof"), "not fragmented");
}

#[test]
fn the_container_can_be_chosen_whatever_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recording.bin");
    let (video, feed) = video_source(gradient(15));
    let recorder = Recorder::start(
        RecorderSettings {
            container: Some(Container::Mkv),
            ..RecorderSettings::new(&path)
        },
        settings(320, 240),
        video,
        None,
    )
    .unwrap();
    recorder.wait().unwrap();
    feed.join().unwrap();
    let probe = ffprobe(&path).unwrap();
    assert!(probe.format.format_name.contains("matroska"));
    assert!(probe.audio().is_none());
}

#[test]
fn odd_sizes_and_size_changes_never_fail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.mp4");
    // 321x241 I420 frames for a 321x241 output: encoded at 320x240.
    let (video, feed) = video_source(VideoFeed {
        frames: 20,
        fps: 30,
        format: PixelFormat::I420(ColorSpace::BT709_LIMITED),
        picture: Picture::Gradient,
        size_at: |_| (321, 241),
    });
    let recorder = Recorder::start(
        RecorderSettings::new(&path),
        settings(321, 241),
        video,
        None,
    )
    .unwrap();
    recorder.wait().unwrap();
    feed.join().unwrap();
    decodes_cleanly(&path).unwrap();
    let probe = ffprobe_count(&path).unwrap();
    let stream = probe.video().unwrap();
    assert_eq!((stream.width, stream.height), (Some(320), Some(240)));
    assert_eq!(stream.nb_read_frames, Some(20.0));

    // Frames whose size changes mid-stream (odd, tiny, larger, other aspect) are scaled.
    let path = dir.path().join("changing.mkv");
    let (video, feed) = video_source(VideoFeed {
        frames: 24,
        fps: 30,
        format: PixelFormat::Nv12(ColorSpace::BT709_LIMITED),
        picture: Picture::Gradient,
        size_at: |n| match n / 6 {
            0 => (320, 240),
            1 => (1, 1),
            2 => (643, 361),
            _ => (99, 301),
        },
    });
    let recorder = Recorder::start(
        RecorderSettings::new(&path),
        settings(320, 240),
        video,
        None,
    )
    .unwrap();
    let summary = recorder.wait().unwrap();
    feed.join().unwrap();
    assert_eq!(summary.encoder.unwrap().skipped_frames, 0);
    decodes_cleanly(&path).unwrap();
    let probe = ffprobe_count(&path).unwrap();
    assert_eq!(probe.video().unwrap().nb_read_frames, Some(24.0));
}

#[test]
fn every_pixel_format_keeps_its_colours() {
    let dir = tempfile::tempdir().unwrap();
    // A saturated green: BT.601 and BT.709 differ by ~20 levels of luma for it.
    let colour = [20, 220, 40];
    for format in [
        PixelFormat::Rgba8,
        PixelFormat::Bgra8,
        PixelFormat::I420(ColorSpace::BT709_LIMITED),
        PixelFormat::Nv12(ColorSpace::BT709_LIMITED),
        PixelFormat::I420(ColorSpace::BT601_LIMITED),
    ] {
        let path = dir.path().join("colour.mp4");
        let (video, feed) = video_source(VideoFeed {
            frames: 3,
            fps: 30,
            format,
            picture: Picture::Solid(colour),
            size_at: |_| (64, 48),
        });
        let recorder =
            Recorder::start(RecorderSettings::new(&path), settings(64, 48), video, None).unwrap();
        recorder.wait().unwrap();
        feed.join().unwrap();
        let got = decoded_pixel(&path, 32, 24);
        for (g, want) in got.iter().zip(colour) {
            assert!(
                g.abs_diff(want) <= 6,
                "{format}: decoded {got:?}, expected {colour:?}"
            );
        }
    }
}

#[test]
fn i420_of_the_output_size_is_encoded_from_its_own_planes_and_let_go() {
    // Limited-range BT.709 I420 of the output size goes to x264 without a copy of ours: the
    // planes are lent to FFmpeg. Rows padded past the width (stride 64 for 50 pixels) must
    // come out unsheared, and FFmpeg must give every lent frame back.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lent.mp4");
    let feed = VideoFeed {
        frames: 3,
        fps: 30,
        format: PixelFormat::I420(ColorSpace::BT709_LIMITED),
        picture: Picture::Gradient,
        size_at: |_| (50, 40),
    };
    let mut seed = 1;
    let frames: Vec<VideoFrame> = (0..3).map(|n| make_frame(&feed, n, &mut seed)).collect();
    assert!(frames[0].stride(0) > 50 && frames[0].stride(1) > 25);
    let port = Port::<VideoFrame>::blocking(4);
    for frame in &frames {
        port.push(frame.clone()).unwrap();
    }
    port.end();
    let recorder = Recorder::start(
        RecorderSettings::new(&path),
        settings(50, 40),
        Arc::new(port),
        None,
    )
    .unwrap();
    let summary = recorder.wait().unwrap();
    assert_eq!(summary.encoder.unwrap().video_frames, 3);
    for (n, frame) in frames.into_iter().enumerate() {
        assert!(
            frame.try_into_mut().is_ok(),
            "frame {n} is still held after the recording ended"
        );
    }
    // The gradient of frame 0 is (x, y, x + y).
    for (x, y) in [(6u32, 4u32), (44, 34), (30, 10)] {
        let got = decoded_pixel(&path, x, y);
        let want = [x, y, x + y].map(|c| c as u8);
        for (g, w) in got.iter().zip(want) {
            assert!(
                g.abs_diff(w) <= 10,
                "pixel ({x}, {y}): decoded {got:?}, expected {want:?}"
            );
        }
    }
}

#[test]
fn bit_rate_is_roughly_honoured() {
    let dir = tempfile::tempdir().unwrap();
    for (rate_control, kbps, low, high) in [
        (RateControl::Cbr, 400, 0.8, 1.2),
        (
            RateControl::Vbr {
                max_kbps: Some(600),
                bufsize_kbits: Some(600),
            },
            300,
            0.6,
            2.2,
        ),
    ] {
        let path = dir.path().join("rate.mp4");
        let (video, feed) = video_source(VideoFeed {
            frames: 90,
            fps: 30,
            format: PixelFormat::Rgba8,
            picture: Picture::Noise,
            size_at: |_| (320, 240),
        });
        let mut encoder = settings(320, 240);
        encoder.video.kbps = Some(kbps);
        encoder.video.rate_control = rate_control;
        let recorder = Recorder::start(RecorderSettings::new(&path), encoder, video, None).unwrap();
        recorder.wait().unwrap();
        feed.join().unwrap();
        let measured = video_kbps(&path);
        let ratio = measured / f64::from(kbps);
        assert!(
            (low..=high).contains(&ratio),
            "{rate_control:?} at {kbps} kb/s: measured {measured:.0} kb/s"
        );
    }
}

#[test]
fn bad_paths_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let start = |path: &Path| {
        let (video, _feed) = video_source(gradient(5));
        Recorder::start(RecorderSettings::new(path), settings(64, 48), video, None).unwrap_err()
    };
    let missing = dir.path().join("no/such/folder/out.mp4");
    let error = start(&missing);
    assert!(matches!(error, StartRecorderError::Open { .. }));
    assert_eq!(
        format!("{}: {}", error, std::error::Error::source(&error).unwrap()),
        format!(
            "recording file {}: cannot open for writing: No such file or directory",
            missing.display()
        )
    );
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let under_file = file.join("out.mkv");
    let error = start(&under_file);
    assert_eq!(
        format!("{}: {}", error, std::error::Error::source(&error).unwrap()),
        format!(
            "recording file {}: cannot open for writing: Not a directory",
            under_file.display()
        )
    );
    let avi = dir.path().join("out.avi");
    assert_eq!(
        start(&avi).to_string(),
        format!(
            "recording file {}: unknown container extension \"avi\" (use .mp4, .mkv, .mov, .flv or .m3u8, or choose the container)",
            avi.display()
        )
    );
    assert!(!avi.exists());
}

#[test]
fn one_encode_feeds_a_recorder_through_its_packet_port() {
    // The streamer's way: start an encoder, hand its streams and packets to a recorder.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("from-packets.flv");
    let (video, feed) = video_source(gradient(30));
    let (audio, audio_feed) = sine_source(1.0, 44_100, 1, 441);
    let encoder = Encoder::start(settings(320, 240), video, Some(audio)).unwrap();
    let recorder = Recorder::from_packets(
        RecorderSettings::new(&path),
        encoder.streams().to_vec(),
        encoder.packets(),
    )
    .unwrap();
    let stats = encoder.wait().unwrap();
    let summary = recorder.wait().unwrap();
    feed.join().unwrap();
    audio_feed.join().unwrap();
    assert_eq!(summary.packets, stats.packets);
    check(&path, "flv", 1.0);
}

#[test]
fn a_recorder_from_packets_that_fails_lets_its_writer_go() {
    // One encode into a recorder's port; the file is /dev/full. When writing fails the recorder
    // closes the port: the encoder's pushes fail instead of waiting for room for ever, so the
    // encoder finishes. (Its own feed is then left blocked: nobody reads the encoder's input.)
    let (video, _feed) = video_source(gradient(300));
    let encoder = Encoder::start(settings(320, 240), video, None).unwrap();
    let recorder = Recorder::from_packets(
        RecorderSettings {
            container: Some(Container::Mkv),
            ..RecorderSettings::new("/dev/full")
        },
        encoder.streams().to_vec(),
        encoder.packets(),
    )
    .unwrap();
    let waiting = livekit_core::thread::spawn_named("encoder-wait", move || {
        let _ = encoder.wait();
    })
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !waiting.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "the encoder is still waiting on the failed recorder's port"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    waiting.join().unwrap();
    let error = recorder.wait().unwrap_err();
    assert_eq!(
        format!("{}: {}", error, std::error::Error::source(&error).unwrap()),
        "recording file /dev/full: cannot write: No space left on device"
    );
}

#[test]
fn a_full_disk_is_an_error_naming_the_file_not_a_hang() {
    // /dev/full takes the header, then every write fails with ENOSPC.
    // The feed is left blocked once the encoder stops reading (its port is not closed).
    let (video, _feed) = video_source(gradient(60));
    let recorder = Recorder::start(
        RecorderSettings {
            container: Some(Container::Mkv),
            ..RecorderSettings::new("/dev/full")
        },
        settings(320, 240),
        video,
        None,
    )
    .unwrap();
    let error = recorder.wait().unwrap_err();
    assert_eq!(
        format!("{}: {}", error, std::error::Error::source(&error).unwrap()),
        "recording file /dev/full: cannot write: No space left on device"
    );
}
