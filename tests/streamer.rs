#![allow(clippy::unwrap_used)]
//! The Streamer against real servers on 127.0.0.1: nginx-rtmp with `record all` (what each
//! destination received is read back with ffprobe), with packets from a clip made by the
//! ffmpeg CLI and demuxed by `PacketFile` (pass-through).

mod common;

use std::time::{Duration, Instant};

use common::{assert_no_secret, clip, logs, open_clip, wait_recording};
use livekit::sinks::stream::{Destination, DestinationState, Streamer, StreamerSettings};
use livekit_testkit::NginxRtmp;

#[test]
fn fans_out_to_three_destinations() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let path = clip(dir.path(), 3.0, 30);
    let (file, streams) = open_clip(&path);
    let a = NginxRtmp::start();
    let b = NginxRtmp::start();
    let keys = [
        "fanout-key-one-7f3a",
        "fanout-key-two-91bc",
        "fanout-key-three-c2d4",
    ];
    let destinations = vec![
        Destination::from_url(&a.url(keys[0]), None).unwrap(),
        Destination::from_url(&a.url(keys[1]), None).unwrap(),
        Destination::from_url(&b.url(keys[2]), None).unwrap(),
    ];
    let port = livekit::Port::blocking(64);
    let reader = file.start(port.clone()).unwrap();
    let streamer = Streamer::start(StreamerSettings::new(destinations), streams, port).unwrap();
    let report = streamer.wait();
    reader.join().unwrap();

    for (stats, key) in report.destinations.iter().zip(keys) {
        assert_eq!(stats.state, DestinationState::Stopped, "{stats:?}");
        assert_eq!(stats.reconnects, 0, "{stats:?}");
        assert_eq!(stats.dropped_packets, 0, "{stats:?}");
        assert!(stats.bytes > 10_000, "{stats:?}");
        assert!(stats.last_error.is_none(), "{stats:?}");
        assert!(stats.url.ends_with("/live/<redacted>"), "{}", stats.url);
        assert!(!format!("{stats:?}").contains(key));
    }
    for (server, key) in [(&a, keys[0]), (&a, keys[1]), (&b, keys[2])] {
        let (recordings, probe) = wait_recording(server, key, 2.5);
        assert_eq!(recordings.len(), 1, "one publish for {key}: {recordings:?}");
        let video = probe.video().unwrap();
        assert_eq!(video.codec_name, "h264");
        assert_eq!((video.width, video.height), (Some(320), Some(240)));
        let audio = probe.audio().expect("audio arrived");
        assert_eq!(audio.codec_name, "aac");
        assert_eq!(audio.sample_rate, Some(48_000.0));
        let duration = probe.duration();
        assert!((2.7..=3.3).contains(&duration), "{key}: {duration} s");
    }
    assert_no_secret(&keys);
}

#[test]
fn a_source_that_waits_for_its_destinations_loses_nothing_however_fast_it_reads() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let path = clip(dir.path(), 6.0, 30);
    // Read as fast as possible into queues of 8 packets: without waiting, nearly all of it
    // would be dropped (or skipped at connection time).
    let file = livekit::sources::PacketFile::open(
        path.to_str().unwrap(),
        livekit::sources::PacketFileSettings {
            readrate: 0.0,
            ..Default::default()
        },
    )
    .unwrap();
    let streams = file.streams().to_vec();
    let server = NginxRtmp::start();
    let keys = ["waited-for-one-5e1d", "waited-for-two-0a9c"];
    let destinations = keys
        .iter()
        .map(|k| Destination::from_url(&server.url(k), None).unwrap())
        .collect();
    let mut settings = StreamerSettings::new(destinations);
    settings.queue_packets = 8;
    settings.wait_for_destinations = true;
    let port = livekit::Port::blocking(8);
    let reader = file.start(port.clone()).unwrap();
    let streamer = Streamer::start(settings, streams, port).unwrap();
    let report = streamer.wait();
    reader.join().unwrap();
    for stats in &report.destinations {
        assert_eq!(stats.state, DestinationState::Stopped, "{stats:?}");
        assert_eq!(
            (stats.dropped_packets, stats.dropped_gops),
            (0, 0),
            "{stats:?}"
        );
    }
    for key in keys {
        let (recordings, probe) = wait_recording(&server, key, 5.5);
        assert_eq!(recordings.len(), 1, "{key}: {recordings:?}");
        let duration = probe.duration();
        assert!((5.7..=6.3).contains(&duration), "{key}: {duration} s");
        assert!(probe.audio().is_some(), "{key}");
    }
}

#[test]
fn end_of_stream_before_any_packet_ends_cleanly() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let path = clip(dir.path(), 1.0, 30);
    let (_file, streams) = open_clip(&path);
    let server = NginxRtmp::start();
    let port = livekit::Port::<livekit::Packet>::blocking(8);
    let destination = Destination::from_url(&server.url("empty-stream-key-55"), None).unwrap();
    let streamer = Streamer::start(
        StreamerSettings::new(vec![destination]),
        streams,
        port.clone(),
    )
    .unwrap();
    livekit::FrameTarget::end(&port);
    let started = Instant::now();
    let report = streamer.wait();
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(report.packets_in, 0);
    assert_eq!(report.destinations[0].state, DestinationState::Stopped);
}

#[test]
fn pass_through_checks_codecs_and_keyframe_spacing() {
    use livekit::sinks::stream::{DEFAULT_MAX_KEYFRAME_INTERVAL, copy_compatible};
    logs();
    let dir = tempfile::tempdir().unwrap();
    // A keyframe every second: fine.
    let good = clip(dir.path(), 3.0, 30);
    let (file, streams) = open_clip(&good);
    assert_eq!(streams.len(), 2);
    let interval = file.max_keyframe_interval().unwrap();
    assert!(
        (Duration::from_millis(900)..=Duration::from_millis(1100)).contains(&interval),
        "{interval:?}"
    );
    copy_compatible(
        file.input(),
        &streams,
        Some(interval),
        DEFAULT_MAX_KEYFRAME_INTERVAL,
    )
    .unwrap();

    // One keyframe in 6 s: refused, naming the file.
    let sparse = clip(dir.path(), 6.0, 600);
    let (file, streams) = open_clip(&sparse);
    let interval = file.max_keyframe_interval().unwrap();
    assert!(interval >= Duration::from_millis(5800), "{interval:?}");
    let error = copy_compatible(
        file.input(),
        &streams,
        Some(interval),
        DEFAULT_MAX_KEYFRAME_INTERVAL,
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "{}: cannot stream without re-encoding: keyframes are up to ",
            sparse.display()
        )),
        "{message}"
    );
    assert!(
        message.ends_with("s apart, the destination accepts at most 4.0 s"),
        "{message}"
    );

    // Not H.264: refused.
    let vp9 = dir.path().join("vp9.webm");
    livekit_testkit::media::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=10",
        "-t",
        "1",
        "-c:v",
        "libvpx-vp9",
        "-deadline",
        "realtime",
        vp9.to_str().unwrap(),
    ]);
    let (file, streams) = open_clip(&vp9);
    let error = copy_compatible(
        file.input(),
        &streams,
        file.max_keyframe_interval(),
        DEFAULT_MAX_KEYFRAME_INTERVAL,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: cannot stream without re-encoding: video is vp9, destinations take only H.264 video and AAC audio",
            vp9.display()
        )
    );
}

#[test]
fn missing_file_is_a_clear_error() {
    let error = livekit::sources::PacketFile::open(
        "/no/such/clip.mp4",
        livekit::sources::PacketFileSettings::default(),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "/no/such/clip.mp4: cannot open: No such file or directory"
    );
}

#[test]
fn stop_mid_stream_closes_cleanly() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let path = clip(dir.path(), 10.0, 30);
    let (file, streams) = open_clip(&path);
    let server = NginxRtmp::start();
    let key = "stop-midway-key-3c3c";
    let port = livekit::Port::blocking(64);
    let reader = file.start(port.clone()).unwrap();
    let destination = Destination::from_url(&server.url(key), None).unwrap();
    let streamer = Streamer::start(
        StreamerSettings::new(vec![destination]),
        streams,
        port.clone(),
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let stats = streamer.stats();
    assert_eq!(stats[0].state, DestinationState::Live);
    assert!(stats[0].bitrate > 0, "{stats:?}");
    let report = streamer.stop();
    // Nobody reads the port any more: close it so that the file reader stops.
    port.close();
    reader.stop().unwrap();
    assert_eq!(report.destinations[0].state, DestinationState::Stopped);
    assert!(report.destinations[0].last_error.is_none(), "{report:?}");
    let (recordings, probe) = wait_recording(&server, key, 1.5);
    assert_eq!(recordings.len(), 1);
    assert!(
        (1.5..=3.0).contains(&probe.duration()),
        "{}",
        probe.duration()
    );
    livekit_testkit::probe::decodes_cleanly(&recordings[0]).unwrap();
    assert_no_secret(&[key]);
}
