//! The Streamer as a live fan-out: destinations and recordings added and removed while it
//! runs, a recording whose disk fails, forced keyframes. Real components only: frames paced
//! in real time, encoded by libx264, sent to nginx-rtmp (`record all`), read back with
//! ffprobe.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{VideoFeed, gradient, make_frame, video_source};
use livekit_core::thread::{Worker, spawn_named};
use livekit_core::{FrameSource, FrameTarget, Packet, Port, Pull, VideoFrame, VideoSource};
use livekit_sinks::stream::{
    Destination, DestinationState, RecordingState, StartStreamError, Streamer, StreamerSettings,
};
use livekit_sinks::{
    Encoder, EncoderSettings, H264Encoder, RecorderSettings, RunningEncoder, VideoSettings,
};
use livekit_testkit::NginxRtmp;
use livekit_testkit::probe::{
    decodes_cleanly, ffprobe, ffprobe_count, is_keyframe, video_packet_flags,
};

const FPS: u32 = 30;

/// 160x120 libx264 without delay (every frame in gives its packet out), a keyframe every
/// `keyframe_interval`.
fn settings(keyframe_interval: Duration) -> EncoderSettings {
    EncoderSettings {
        video: VideoSettings {
            width: 160,
            height: 120,
            fps: (FPS, 1),
            encoder: H264Encoder::X264,
            preset: "ultrafast".into(),
            tune: Some("zerolatency".into()),
            keyframe_interval,
            ..VideoSettings::default()
        },
        ..EncoderSettings::default()
    }
}

/// A live source: `seconds` of 160x120 frames at 30 fps, each pushed when its time comes.
fn live_source(seconds: f64) -> (Arc<dyn VideoSource>, Worker<()>) {
    let port = Port::blocking(8);
    let writer = port.clone();
    let feed = VideoFeed {
        size_at: |_| (160, 120),
        ..gradient((seconds * f64::from(FPS)) as u64)
    };
    let worker = spawn_named("test-live-video", move || {
        let mut seed = 7u32;
        let started = Instant::now();
        for n in 0..feed.frames {
            let due = Duration::from_secs_f64(n as f64 / f64::from(FPS));
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
            if writer.push(make_frame(&feed, n, &mut seed)).is_err() {
                break;
            }
        }
        writer.end();
    })
    .unwrap();
    (Arc::new(port), worker)
}

/// A live encode of `seconds` with keyframes `keyframe_interval` apart.
fn live_encode(seconds: f64, keyframe_interval: Duration) -> (RunningEncoder, Worker<()>) {
    let (video, feed) = live_source(seconds);
    let encoder = Encoder::start(settings(keyframe_interval), video, None).unwrap();
    (encoder, feed)
}

/// Waits (up to 60 s) until the encoder has encoded `seconds` of media; returns how much it
/// has.
fn wait_encoded(encoder: &RunningEncoder, seconds: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let encoded = encoder.stats().duration.as_secs_f64();
        if encoded >= seconds {
            return encoded;
        }
        assert!(Instant::now() < deadline, "encoded only {encoded} s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The only recording nginx made of `key` (one publish), once it is readable.
fn recording_of(server: &NginxRtmp, key: &str) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let recordings = server.recordings(key);
        if let [only] = recordings.as_slice()
            && ffprobe(only).is_ok_and(|p| p.video().is_some())
        {
            return only.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{key}: {recordings:?}\nnginx log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn destination(server: &NginxRtmp, key: &str) -> Destination {
    Destination::from_url(&server.url(key), None).unwrap()
}

#[test]
fn a_destination_added_while_live_starts_at_once_on_a_keyframe() {
    let server = NginxRtmp::start();
    // A keyframe every 10 s: without a forced one, the late destination would get nothing
    // of this 8 s stream.
    let (encoder, feed) = live_encode(8.0, Duration::from_secs(10));
    let mut settings = StreamerSettings::new(vec![destination(&server, "first-key-a1")]);
    settings.keyframe_request = Some(encoder.keyframe_request());
    let streamer =
        Streamer::start(settings, encoder.streams().to_vec(), encoder.packets()).unwrap();
    let added_at = wait_encoded(&encoder, 2.5);
    let late = streamer
        .add_destination(destination(&server, "late-key-b2"))
        .unwrap();
    assert_ne!(late, streamer.stats()[0].id);
    let report = streamer.wait();
    encoder.wait().unwrap();
    feed.join().unwrap();

    assert_eq!(report.destinations.len(), 2);
    for stats in &report.destinations {
        assert_eq!(stats.state, DestinationState::Stopped, "{stats:?}");
        assert_eq!(stats.dropped_packets, 0, "{stats:?}");
        assert!(stats.live_at_end, "{stats:?}");
    }
    assert_eq!(report.destinations[1].id, late);

    let first = ffprobe(&recording_of(&server, "first-key-a1")).unwrap();
    assert!(
        (7.5..=8.5).contains(&first.duration()),
        "{}",
        first.duration()
    );

    let joined = recording_of(&server, "late-key-b2");
    let flags = video_packet_flags(&joined).unwrap();
    assert!(is_keyframe(&flags[0]), "first video packet: {flags:?}");
    let probe = ffprobe_count(&joined).unwrap();
    let frames = probe.video().unwrap().nb_read_frames.unwrap_or(0.0);
    assert!(frames > 0.0, "no frame decodes");
    // It started soon after it was added, not at the next natural keyframe (10 s).
    let expected = 8.0 - added_at;
    assert!(
        probe.duration() > expected - 1.5 && probe.duration() <= expected + 0.5,
        "{} s, added at {added_at} s",
        probe.duration()
    );
    assert!(
        frames > (expected - 1.5) * f64::from(FPS),
        "{frames} frames"
    );
}

#[test]
fn a_destination_removed_while_live_leaves_the_other_whole() {
    let server = NginxRtmp::start();
    let (encoder, feed) = live_encode(8.0, Duration::from_secs(1));
    let settings = StreamerSettings::new(vec![
        destination(&server, "stays-key-c3"),
        destination(&server, "leaves-key-d4"),
    ]);
    let streamer =
        Streamer::start(settings, encoder.streams().to_vec(), encoder.packets()).unwrap();
    let leaving = streamer.stats()[1].id;
    wait_encoded(&encoder, 3.5);
    let removed = streamer.remove_destination(leaving).unwrap();
    assert_eq!(removed.id, leaving);
    assert_eq!(removed.state, DestinationState::Stopped, "{removed:?}");
    assert!(removed.live_at_end, "{removed:?}");
    assert!(removed.last_error.is_none(), "{removed:?}");
    assert!(streamer.remove_destination(leaving).is_none());
    assert_eq!(streamer.stats().len(), 1);
    let report = streamer.wait();
    encoder.wait().unwrap();
    feed.join().unwrap();

    assert_eq!(report.destinations.len(), 1);
    let stays = &report.destinations[0];
    assert_eq!(stays.state, DestinationState::Stopped, "{stays:?}");
    assert_eq!(
        (stays.dropped_packets, stays.reconnects),
        (0, 0),
        "{stays:?}"
    );
    let whole = ffprobe(&recording_of(&server, "stays-key-c3")).unwrap();
    assert!(
        (7.5..=8.5).contains(&whole.duration()),
        "{}",
        whole.duration()
    );

    let left = recording_of(&server, "leaves-key-d4");
    decodes_cleanly(&left).unwrap();
    let part = ffprobe(&left).unwrap().duration();
    assert!((2.5..=5.0).contains(&part), "{part} s");
}

#[test]
fn a_recording_started_and_stopped_mid_stream_has_the_right_length() {
    let server = NginxRtmp::start();
    let dir = tempfile::tempdir().unwrap();
    let (encoder, feed) = live_encode(8.0, Duration::from_secs(10));
    let mut settings = StreamerSettings::new(vec![destination(&server, "goes-on-key-e5")]);
    settings.keyframe_request = Some(encoder.keyframe_request());
    let streamer =
        Streamer::start(settings, encoder.streams().to_vec(), encoder.packets()).unwrap();
    let path = dir.path().join("middle.mp4");
    let started_at = wait_encoded(&encoder, 2.0);
    let id = streamer
        .add_recording(RecorderSettings::new(&path))
        .unwrap();
    // The header is written before add_recording returns.
    assert!(path.exists());
    let stopped_at = wait_encoded(&encoder, 5.0);
    let live = streamer.recording_stats();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].id, id);
    assert_eq!(live[0].state, RecordingState::Recording);
    assert_eq!(live[0].path, path);
    let summary = streamer.stop_recording(id).unwrap();
    assert!(streamer.stop_recording(id).is_err());
    assert!(streamer.recording_stats().is_empty());
    let report = streamer.wait();
    encoder.wait().unwrap();
    feed.join().unwrap();
    assert!(report.recordings.is_empty());

    let expected = stopped_at - started_at;
    let recorded = summary.duration.as_secs_f64();
    assert!(
        (recorded - expected).abs() < 0.7,
        "{recorded} s recorded, {expected} s expected"
    );
    decodes_cleanly(&path).unwrap();
    let probe = ffprobe(&path).unwrap();
    assert!(
        (probe.duration() - recorded).abs() < 0.2,
        "ffprobe {} s, summary {recorded} s",
        probe.duration()
    );
    assert!(is_keyframe(&video_packet_flags(&path).unwrap()[0]));

    let stream = ffprobe(&recording_of(&server, "goes-on-key-e5")).unwrap();
    assert!(
        (7.5..=8.5).contains(&stream.duration()),
        "{}",
        stream.duration()
    );
}

#[test]
fn a_recording_whose_disk_fails_ends_alone_and_the_stream_goes_on() {
    let server = NginxRtmp::start();
    let dir = tempfile::tempdir().unwrap();
    // /dev/full takes the header, then every write fails with ENOSPC: a full disk.
    let full = dir.path().join("full.mkv");
    std::os::unix::fs::symlink("/dev/full", &full).unwrap();
    let (encoder, feed) = live_encode(4.0, Duration::from_secs(1));
    let mut settings = StreamerSettings::new(vec![destination(&server, "unharmed-key-f6")]);
    settings.recordings = vec![RecorderSettings::new(&full)];
    let streamer =
        Streamer::start(settings, encoder.streams().to_vec(), encoder.packets()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while streamer.recording_stats()[0].state == RecordingState::Recording {
        assert!(Instant::now() < deadline, "the recording never failed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let failed = streamer.recording_stats().remove(0);
    let reason = format!(
        "recording file {}: cannot write: No space left on device",
        full.display()
    );
    assert_eq!(failed.state, RecordingState::Failed);
    assert_eq!(failed.error.as_deref(), Some(reason.as_str()));
    let report = streamer.wait();
    encoder.wait().unwrap();
    feed.join().unwrap();

    let stays = &report.destinations[0];
    assert_eq!(stays.state, DestinationState::Stopped, "{stays:?}");
    assert_eq!(stays.dropped_packets, 0, "{stays:?}");
    let whole = ffprobe(&recording_of(&server, "unharmed-key-f6")).unwrap();
    assert!(
        (3.5..=4.5).contains(&whole.duration()),
        "{}",
        whole.duration()
    );

    assert_eq!(report.recordings.len(), 1);
    let ended = &report.recordings[0];
    assert_eq!(ended.stats.state, RecordingState::Failed);
    let error = ended.result.as_ref().unwrap_err();
    assert_eq!(
        format!("{}: {}", error, std::error::Error::source(error).unwrap()),
        reason
    );
}

#[test]
fn a_forced_keyframe_is_the_next_video_packet() {
    let frames = Arc::new(Port::<VideoFrame>::blocking(2));
    let encoder = Encoder::start(
        settings(Duration::from_secs(10)),
        Arc::clone(&frames) as Arc<dyn VideoSource>,
        None,
    )
    .unwrap();
    let packets = encoder.packets();
    let feed = VideoFeed {
        size_at: |_| (160, 120),
        ..gradient(40)
    };
    let mut seed = 1u32;
    // Each frame in, its packet out (zerolatency: no delay in the encoder).
    let mut encode = |n: u64| -> Packet {
        frames.push(make_frame(&feed, n, &mut seed)).unwrap();
        match packets.next(Duration::from_secs(20)) {
            Pull::Frame(packet) => packet,
            other => panic!("frame {n}: no packet ({:?})", matches!(other, Pull::Ended)),
        }
    };
    let first = encode(0);
    assert!(first.keyframe);
    for n in 1..20 {
        assert!(!encode(n).keyframe, "frame {n}: a keyframe 10 s apart?");
    }
    let request = encoder.keyframe_request();
    request.request();
    assert!(request.is_pending());
    let forced = encode(20);
    assert!(
        forced.keyframe,
        "the frame after the request is not a keyframe"
    );
    assert!(!request.is_pending());
    assert!(idr(&forced.data), "a keyframe but not an IDR picture");
    for n in 21..30 {
        assert!(
            !encode(n).keyframe,
            "frame {n}: the request was taken twice"
        );
    }
    frames.end();
    encoder.wait().unwrap();
}

/// Whether a length-prefixed (AVCC) H.264 access unit holds an IDR slice (NAL type 5).
fn idr(mut data: &[u8]) -> bool {
    while data.len() >= 5 {
        let size = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
        if data[4] & 0x1f == 5 {
            return true;
        }
        data = &data[(4 + size).min(data.len())..];
    }
    false
}

#[test]
fn a_streamer_without_outputs_drains_its_source_and_takes_none_after_the_end() {
    let (video, feed) = video_source(VideoFeed {
        size_at: |_| (160, 120),
        ..gradient(90)
    });
    let encoder = Encoder::start(settings(Duration::from_secs(1)), video, None).unwrap();
    let streams = encoder.streams().to_vec();
    // Without the setting, no output is an error, as before.
    let refused = Streamer::start(
        StreamerSettings::new(Vec::new()),
        streams.clone(),
        Port::<Packet>::blocking(1),
    );
    assert!(matches!(refused, Err(StartStreamError::NoDestinations)));
    let settings = StreamerSettings {
        allow_no_outputs: true,
        ..StreamerSettings::new(Vec::new())
    };
    let streamer = Streamer::start(settings, streams, encoder.packets()).unwrap();
    // Nothing reads the packets but the streamer: the encoder finishes all the same.
    let encoded = encoder.wait().unwrap();
    feed.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !streamer.is_finished() {
        assert!(Instant::now() < deadline, "the reader never saw the end");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Nothing joins a stream that has ended.
    let server = NginxRtmp::start();
    let late = streamer.add_destination(destination(&server, "too-late-key-g7"));
    assert!(
        matches!(&late, Err(StartStreamError::Ended { destination }) if !destination.contains("too-late-key")),
        "{late:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let too_late = streamer.add_recording(RecorderSettings::new(dir.path().join("late.mkv")));
    assert!(
        matches!(
            too_late,
            Err(livekit_sinks::StartRecorderError::StreamEnded { .. })
        ),
        "{too_late:?}"
    );
    let report = streamer.wait();
    assert_eq!(report.packets_in, encoded.packets);
    assert!(report.destinations.is_empty() && report.recordings.is_empty());
}

#[test]
fn a_recording_of_a_file_read_fast_loses_nothing() {
    // Not live (a file read as fast as it can be): the source waits for the recording, even
    // with a queue of 8 packets.
    let dir = tempfile::tempdir().unwrap();
    let (video, feed) = video_source(VideoFeed {
        size_at: |_| (160, 120),
        ..gradient(150)
    });
    let encoder = Encoder::start(settings(Duration::from_secs(1)), video, None).unwrap();
    let path = dir.path().join("all.mkv");
    let mut settings = StreamerSettings::new(Vec::new());
    settings.recordings = vec![RecorderSettings::new(&path)];
    settings.wait_for_destinations = true;
    settings.queue_packets = 8;
    let streamer =
        Streamer::start(settings, encoder.streams().to_vec(), encoder.packets()).unwrap();
    let encoded = encoder.wait().unwrap();
    feed.join().unwrap();
    let report = streamer.wait();
    let recording = &report.recordings[0];
    assert_eq!(recording.stats.dropped_packets, 0, "{:?}", recording.stats);
    let summary = recording.result.as_ref().unwrap();
    assert_eq!(summary.packets, encoded.packets);
    assert!(
        (summary.duration.as_secs_f64() - 5.0).abs() < 0.1,
        "{summary:?}"
    );
    let probe = ffprobe_count(&path).unwrap();
    assert_eq!(probe.video().unwrap().nb_read_frames, Some(150.0));
}

#[test]
fn outputs_come_and_go_on_a_streamer_that_began_with_none() {
    // A show: the encode runs from the start, its outputs start and stop while it runs.
    let server = NginxRtmp::start();
    let dir = tempfile::tempdir().unwrap();
    let (encoder, feed) = live_encode(6.0, Duration::from_secs(10));
    let settings = StreamerSettings {
        allow_no_outputs: true,
        keyframe_request: Some(encoder.keyframe_request()),
        ..StreamerSettings::new(Vec::new())
    };
    let streamer =
        Streamer::start(settings, encoder.streams().to_vec(), encoder.packets()).unwrap();
    let path = dir.path().join("segment.mkv");
    let recording_from = wait_encoded(&encoder, 1.5);
    let recording = streamer
        .add_recording(RecorderSettings::new(&path))
        .unwrap();
    let streaming_from = wait_encoded(&encoder, 2.5);
    streamer
        .add_destination(destination(&server, "joins-show-key-h8"))
        .unwrap();
    let recording_to = wait_encoded(&encoder, 4.5);
    let summary = streamer.stop_recording(recording).unwrap();
    let report = streamer.wait();
    encoder.wait().unwrap();
    feed.join().unwrap();

    let expected = recording_to - recording_from;
    let recorded = summary.duration.as_secs_f64();
    assert!(
        (recorded - expected).abs() < 0.7,
        "{recorded} s recorded, {expected} s expected"
    );
    decodes_cleanly(&path).unwrap();
    assert!(is_keyframe(&video_packet_flags(&path).unwrap()[0]));

    assert_eq!(report.destinations.len(), 1);
    assert_eq!(report.destinations[0].state, DestinationState::Stopped);
    let sent = recording_of(&server, "joins-show-key-h8");
    assert!(is_keyframe(&video_packet_flags(&sent).unwrap()[0]));
    let expected = 6.0 - streaming_from;
    let duration = ffprobe(&sent).unwrap().duration();
    assert!(
        duration > expected - 1.5 && duration <= expected + 0.5,
        "{duration} s sent, from {streaming_from} s"
    );
}

#[test]
fn a_destination_whose_key_is_refused_is_rejected_retries_slowly_and_the_other_is_whole() {
    let server = NginxRtmp::start();
    let (encoder, feed) = live_encode(6.0, Duration::from_secs(1));
    let refused = Destination::from_url(&server.rejecting_url("wrong-key-e5"), None).unwrap();
    let mut settings = StreamerSettings::new(vec![destination(&server, "good-key-e6"), refused]);
    settings.reconnect.after_rejection = Duration::from_secs(2);
    let streamer =
        Streamer::start(settings, encoder.streams().to_vec(), encoder.packets()).unwrap();
    // Rejected, said once it is known, with the reason.
    let deadline = Instant::now() + Duration::from_secs(10);
    let seen = loop {
        let stats = streamer.stats();
        if stats[1].state == DestinationState::Rejected {
            break stats[1].clone();
        }
        assert!(Instant::now() < deadline, "never rejected: {:?}", stats[1]);
        std::thread::sleep(Duration::from_millis(50));
    };
    let said = seen.last_error.clone().unwrap_or_default();
    assert!(
        said.starts_with("the server refused the stream (is the stream key right?)"),
        "{said}"
    );
    assert!(
        !said.contains("wrong-key-e5"),
        "the key in a message: {said}"
    );
    let report = streamer.wait();
    encoder.wait().unwrap();
    feed.join().unwrap();
    let rejected = &report.destinations[1];
    // Over 6 s, tried every 2 s (not every second or faster, as a server that is down is).
    assert!(
        (2..=4).contains(&rejected.failed_attempts),
        "{} attempts: {rejected:?}",
        rejected.failed_attempts
    );
    assert_eq!(rejected.bytes, 0);
    let good = &report.destinations[0];
    assert_eq!((good.dropped_packets, good.reconnects), (0, 0), "{good:?}");
    let whole = ffprobe(&recording_of(&server, "good-key-e6")).unwrap();
    assert!(
        (5.5..=6.5).contains(&whole.duration()),
        "{}",
        whole.duration()
    );
}
