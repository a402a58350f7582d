#![allow(clippy::unwrap_used)]
//! The Streamer over SRT (to a real srt-live-transmit listener) and RTMPS (TLS made by nginx's
//! stream module in front of nginx-rtmp, with certificates made by openssl at test time).

mod common;

use std::time::Duration;

use common::{assert_no_secret, captured, clip, logs, open_clip, wait_recording};
use livekit::sinks::stream::{
    Destination, DestinationState, ReconnectSettings, StreamKey, Streamer, StreamerSettings,
};
use livekit_testkit::probe::{decodes_cleanly, ffprobe};
use livekit_testkit::{NginxRtmp, SrtListener, TestCerts, TlsFront};

fn stream_clip(
    seconds: f64,
    destinations: Vec<Destination>,
    max_retries: Option<u32>,
) -> Vec<livekit::sinks::stream::DestinationStats> {
    let dir = tempfile::tempdir().unwrap();
    let path = clip(dir.path(), seconds, 30);
    let (file, streams) = open_clip(&path);
    let mut settings = StreamerSettings::new(destinations);
    settings.reconnect = ReconnectSettings {
        max_retries,
        ..ReconnectSettings::default()
    };
    let port = livekit::Port::blocking(64);
    let reader = file.start(port.clone()).unwrap();
    let report = Streamer::start(settings, streams, port).unwrap().wait();
    reader.join().unwrap();
    report.destinations
}

#[test]
fn srt_with_passphrase_reaches_a_listener() {
    logs();
    let passphrase = "srt-passphrase-3141592";
    let mut listener = SrtListener::start(Some(passphrase));
    let mut destination = Destination::from_url(&listener.url(), None).unwrap();
    destination.srt.passphrase = StreamKey::new(passphrase);
    destination.srt.latency = Duration::from_millis(120);
    let stats = stream_clip(3.0, vec![destination], None);
    assert_eq!(stats[0].state, DestinationState::Stopped, "{:?}", stats[0]);
    assert!(stats[0].last_error.is_none(), "{:?}", stats[0]);
    assert!(
        listener.wait_exit(Duration::from_secs(5)),
        "{}",
        listener.log()
    );

    let output = listener.output();
    let probe = ffprobe(&output).unwrap();
    assert_eq!(probe.format.format_name, "mpegts");
    let video = probe.video().unwrap();
    assert_eq!(video.codec_name, "h264");
    assert_eq!((video.width, video.height), (Some(320), Some(240)));
    assert_eq!(probe.audio().unwrap().codec_name, "aac");
    assert!(
        (2.6..=3.4).contains(&probe.duration()),
        "{}",
        probe.duration()
    );
    decodes_cleanly(&output).unwrap();
    // All 90 frames, the last ones too: SRT's send buffer is drained before closing (live
    // mode dropped the last half second).
    let counted = livekit_testkit::probe::ffprobe_count(&output).unwrap();
    assert_eq!(counted.video().unwrap().nb_read_frames, Some(90.0));
    assert_no_secret(&[passphrase]);
}

#[test]
fn rtmps_with_the_configured_ca_arrives() {
    logs();
    let server = NginxRtmp::start();
    let certs = TestCerts::make("livekit test CA");
    let front = TlsFront::start(server.port(), &certs);
    let key = "rtmps-trusted-key-8e8e";
    let mut destination = Destination::from_url(
        &format!("rtmps://127.0.0.1:{}/live/{key}", front.port()),
        None,
    )
    .unwrap();
    destination.tls.ca_file = Some(certs.ca_file());
    let stats = stream_clip(2.0, vec![destination], Some(0));
    assert_eq!(stats[0].state, DestinationState::Stopped, "{:?}", stats[0]);
    assert!(stats[0].last_error.is_none(), "{:?}", stats[0]);
    let (recordings, probe) = wait_recording(&server, key, 1.7);
    assert_eq!(recordings.len(), 1);
    assert_eq!(probe.video().unwrap().codec_name, "h264");
    assert_eq!(probe.audio().unwrap().codec_name, "aac");
    assert_no_secret(&[key]);
}

#[test]
fn rtmps_refuses_an_untrusted_certificate_and_sends_no_key() {
    logs();
    let server = NginxRtmp::start();
    let impostor = TestCerts::make("impostor CA");
    let front = TlsFront::start(server.port(), &impostor);
    let key = "rtmps-secret-key-never-sent-4b4b";
    let url = format!("rtmps://127.0.0.1:{}/live/{key}", front.port());
    // Default settings: verified against the system's CA store, which does not know the
    // impostor's CA. One attempt only.
    let stats = stream_clip(
        1.0,
        vec![Destination::from_url(&url, None).unwrap()],
        Some(0),
    );
    assert_eq!(stats[0].state, DestinationState::Failed, "{:?}", stats[0]);
    assert_eq!(stats[0].bytes, 0);
    let error = stats[0].last_error.clone().unwrap();
    assert_eq!(
        error,
        "cannot connect: Input/output error (Peer certificate failed verification)"
    );
    // The RTMP server behind the TLS front never saw a publish, let alone the key.
    std::thread::sleep(Duration::from_millis(300));
    assert!(server.all_recordings().is_empty());
    assert!(!server.log().contains(key));
    assert!(!server.log().contains("publish"), "{}", server.log());

    // With a different, wrong CA configured: refused too.
    let other = TestCerts::make("some other CA");
    let mut destination = Destination::from_url(&url, None).unwrap();
    destination.tls.ca_file = Some(other.ca_file());
    let stats = stream_clip(1.0, vec![destination], Some(0));
    assert_eq!(stats[0].state, DestinationState::Failed, "{:?}", stats[0]);
    assert!(server.all_recordings().is_empty());

    // Verification off, explicitly: it goes through, with a warning.
    let mut destination = Destination::from_url(&url, None).unwrap();
    destination.tls.verify = false;
    let stats = stream_clip(2.0, vec![destination], Some(0));
    assert!(stats[0].last_error.is_none(), "{:?}", stats[0]);
    wait_recording(&server, key, 1.5);
    assert!(captured().contains("TLS certificate verification is OFF"));
    assert_no_secret(&[key]);
}
