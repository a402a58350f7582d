#![allow(clippy::unwrap_used)]
//! The Streamer on a bad network: the impaired destination's server (nginx-rtmp, or an
//! srt-live-transmit listener) runs in a network namespace of the test's own, behind a veth
//! link made lossy, slow, narrow or dead (`livekit_testkit::ImpairedLink`), while a steady destination streams
//! on 127.0.0.1. The steady one must lose nothing; the impaired one must carry on, or recover
//! by itself when the link does; nothing may hang at the end; no key may appear in any log.
//!
//! Making namespaces needs root (or CAP_NET_ADMIN), iproute2 and iptables with netfilter's queue: where the
//! test cannot make one, it says why and passes without running.

mod common;

use std::time::{Duration, Instant};

use common::{assert_no_secret, logs, open_clip, wait_recording};
use livekit::sinks::stream::{
    Destination, DestinationState, DestinationStats, StreamKey, Streamer, StreamerSettings,
};
use livekit_testkit::media::{ClipSpec, clip};
use livekit_testkit::probe::{decodes_cleanly, ffprobe};
use livekit_testkit::{ImpairedLink, Impairment, NginxRtmp, SrtListener};

/// The link, or `None` (with the reason printed) where namespaces cannot be made here.
fn link() -> Option<ImpairedLink> {
    match ImpairedLink::create() {
        Ok(link) => Some(link),
        Err(why) => {
            eprintln!(
                "skipped: cannot make a network namespace with an impaired link here ({why})"
            );
            None
        }
    }
}

fn wait_for(streamer: &Streamer, timeout: Duration, what: impl Fn(&[DestinationStats]) -> bool) {
    let deadline = Instant::now() + timeout;
    while !what(&streamer.stats()) {
        assert!(
            Instant::now() < deadline,
            "timed out: {:#?}",
            streamer.stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A clip of `seconds` at `width`x`height`, 30 fps, a keyframe every second, with audio.
fn test_clip(dir: &std::path::Path, seconds: f64, width: u32, height: u32) -> std::path::PathBuf {
    let path = dir.join(format!("clip-{width}x{height}-{seconds}.mp4"));
    clip(
        &path,
        &ClipSpec {
            seconds,
            width,
            height,
            ..ClipSpec::default()
        },
    );
    path
}

/// The steady destination's report and recording: everything, in one publish, no loss.
fn assert_steady_got_everything(
    stats: &DestinationStats,
    server: &NginxRtmp,
    key: &str,
    seconds: f64,
) {
    assert_eq!(
        (stats.reconnects, stats.dropped_packets),
        (0, 0),
        "{stats:?}"
    );
    assert!(stats.live_at_end, "{stats:?}");
    let (recordings, probe) = wait_recording(server, key, seconds - 0.5);
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    let duration = probe.duration();
    assert!(
        (seconds - 0.5..=seconds + 0.5).contains(&duration),
        "the steady destination received {duration} s of {seconds}"
    );
}

/// An SRT destination to `listener` with a passphrase, the key as its stream id, and
/// `latency` (the receive buffer SRT retransmits within).
fn srt_destination(
    listener: &SrtListener,
    key: &str,
    passphrase: &str,
    latency: Duration,
) -> Destination {
    let mut destination =
        Destination::from_url(&listener.url(), Some(StreamKey::new(key).unwrap())).unwrap();
    destination.srt.passphrase = StreamKey::new(passphrase);
    destination.srt.latency = latency;
    destination
}

/// RTMP to a server 100 ms (±25 ms) away each way, a 200 ms round trip, on a link that loses
/// 5% of its packets each way, with a stream of about 1 Mbit/s: TCP retransmits, and slows
/// down. The impaired destination carries on (dropping whole GOPs, if ever, rather than falling
/// ever further behind), and what reaches its server plays; the steady one gets everything.
#[test]
fn rtmp_on_a_lossy_distant_link_carries_on_and_the_steady_one_loses_nothing() {
    logs();
    let Some(link) = link() else { return };
    let dir = tempfile::tempdir().unwrap();
    let seconds = 10.0;
    let path = test_clip(dir.path(), seconds, 320, 240);
    let (file, streams) = open_clip(&path);
    let steady = NginxRtmp::start();
    let far = NginxRtmp::start_in(&link);
    link.impair(Impairment {
        loss: 0.05,
        delay: Duration::from_millis(100),
        jitter: Duration::from_millis(25),
        rate_kbit: None,
    })
    .unwrap();
    let keys = ["steady-key-netem-1a1a", "lossy-key-netem-2b2b"];
    let destinations = vec![
        Destination::from_url(&steady.url(keys[0]), None).unwrap(),
        Destination::from_url(&far.url(keys[1]), None).unwrap(),
    ];
    let port = livekit::Port::blocking(64);
    let reader = file.start(port.clone()).unwrap();
    let streamer = Streamer::start(StreamerSettings::new(destinations), streams, port).unwrap();
    wait_for(&streamer, Duration::from_secs(8), |s| {
        s[1].state == DestinationState::Live
    });
    let report = streamer.wait();
    reader.join().unwrap();
    let (steady_stats, lossy) = (&report.destinations[0], &report.destinations[1]);
    eprintln!("{steady_stats:?}\n{lossy:?}");
    assert_steady_got_everything(steady_stats, &steady, keys[0], seconds);
    // The link lost packets (about 5% of thousands), and the lossy destination carried on:
    // it sent the stream, or whole GOPs of it, and counted what it left out.
    assert!(
        link.dropped_packets() >= 20,
        "{} lost",
        link.dropped_packets()
    );
    assert!(lossy.live_at_end && lossy.packets > 0, "{lossy:?}");
    assert!(
        lossy.dropped_packets == 0 || lossy.dropped_gops >= 1,
        "packets were lost without a whole GOP being dropped: {lossy:?}"
    );
    link.clear();
    let recordings = far.recordings(keys[1]);
    assert!(!recordings.is_empty(), "{}", far.log());
    for recording in &recordings {
        let probe = ffprobe(recording).unwrap();
        assert_eq!(probe.video().unwrap().codec_name, "h264");
        decodes_cleanly(recording).unwrap();
    }
    assert_no_secret(&keys);
}

/// RTMP to a server behind a 1 Mbit/s link, with a stream of about 2.7 Mbit/s: the impaired
/// destination cannot keep up and drops whole GOPs (what arrives plays); the steady one gets
/// everything.
#[test]
fn rtmp_behind_a_1_mbit_link_drops_whole_gops_and_the_steady_one_loses_nothing() {
    logs();
    let Some(link) = link() else { return };
    let dir = tempfile::tempdir().unwrap();
    let seconds = 8.0;
    let path = test_clip(dir.path(), seconds, 640, 480);
    let (file, streams) = open_clip(&path);
    let steady = NginxRtmp::start();
    let far = NginxRtmp::start_in(&link);
    link.impair(Impairment {
        rate_kbit: Some(1000),
        ..Impairment::default()
    })
    .unwrap();
    let keys = ["steady-key-netem-3c3c", "narrow-key-netem-4d4d"];
    let destinations = vec![
        Destination::from_url(&steady.url(keys[0]), None).unwrap(),
        Destination::from_url(&far.url(keys[1]), None).unwrap(),
    ];
    // About 2.5 s of packets may wait for a destination; at the end, 2 s to send them.
    let mut settings = StreamerSettings::new(destinations);
    settings.queue_packets = 190;
    let port = livekit::Port::blocking(64);
    let reader = file.start(port.clone()).unwrap();
    let streamer = Streamer::start(settings, streams, port).unwrap();
    let report = streamer.wait_at_most(Duration::from_secs(2));
    reader.join().unwrap();
    let (steady_stats, narrow) = (&report.destinations[0], &report.destinations[1]);
    eprintln!("{steady_stats:?}\n{narrow:?}");
    assert_steady_got_everything(steady_stats, &steady, keys[0], seconds);
    assert!(narrow.dropped_gops >= 1, "{narrow:?}");
    assert!(narrow.packets > 0, "{narrow:?}");
    // Sent at about the link's rate, never more: 1 Mbit/s is 125,000 bytes a second, for the
    // clip and the 2 s after it, plus what the socket's send buffer (256 KiB, which the kernel
    // doubles) and the link's queue hold.
    assert!(
        narrow.bytes <= 125_000 * (seconds as u64 + 2) + 2 * (256 << 10) + (64 << 10),
        "{} bytes through a 1 Mbit/s link in {seconds} s",
        narrow.bytes
    );
    link.clear();
    let recordings = far.recordings(keys[1]);
    assert!(!recordings.is_empty(), "{}", far.log());
    decodes_cleanly(recordings.last().unwrap()).unwrap();
    assert_no_secret(&keys);
}

/// RTMP to a server whose link goes dead (every packet lost) for 10 s: the impaired
/// destination notices, and streams again by itself once the link is back; its server has
/// the end of the stream; the steady one gets everything.
#[test]
fn rtmp_destination_recovers_by_itself_after_the_link_is_down_for_10_s() {
    logs();
    let Some(link) = link() else { return };
    let dir = tempfile::tempdir().unwrap();
    let seconds = 24.0;
    let path = test_clip(dir.path(), seconds, 320, 240);
    let (file, streams) = open_clip(&path);
    let steady = NginxRtmp::start();
    let far = NginxRtmp::start_in(&link);
    let keys = ["steady-key-netem-5e5e", "outage-key-netem-6f6f"];
    let destinations = vec![
        Destination::from_url(&steady.url(keys[0]), None).unwrap(),
        Destination::from_url(&far.url(keys[1]), None).unwrap(),
    ];
    let port = livekit::Port::blocking(64);
    let reader = file.start(port.clone()).unwrap();
    let streamer = Streamer::start(StreamerSettings::new(destinations), streams, port).unwrap();
    wait_for(&streamer, Duration::from_secs(5), |s| {
        s[1].state == DestinationState::Live && s[1].bytes > 50_000
    });
    std::thread::sleep(Duration::from_secs(1));
    link.cut();
    let down = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let during = streamer.stats()[1].clone();
    link.clear();
    let back = Instant::now();
    let bytes_at_return = streamer.stats()[1].bytes;
    // Live again and sending: on the same connection (TCP retransmits) or on a new one.
    wait_for(&streamer, Duration::from_secs(10), |s| {
        s[1].state == DestinationState::Live && s[1].bytes > bytes_at_return + 100_000
    });
    let recovered_after = back.elapsed();
    eprintln!(
        "during the outage: {during:?}\nrecovered {recovered_after:?} after the link came back ({:?} after it went down)",
        down.elapsed()
    );
    assert_eq!(streamer.stats()[0].state, DestinationState::Live);

    let report = streamer.wait();
    reader.join().unwrap();
    let (steady_stats, outage) = (&report.destinations[0], &report.destinations[1]);
    eprintln!("{steady_stats:?}\n{outage:?}");
    assert_steady_got_everything(steady_stats, &steady, keys[0], seconds);
    // Ten seconds could not all be sent: whole GOPs were left out, and it was live at the end.
    assert!(outage.dropped_packets > 0, "{outage:?}");
    assert!(outage.live_at_end, "{outage:?}");
    if let Some(error) = &outage.last_error {
        assert!(!error.contains(keys[1]), "{error}");
    }
    // Its server has the stream's end: the last recording plays and reaches the last seconds.
    let recordings = far.recordings(keys[1]);
    assert!(!recordings.is_empty(), "{}", far.log());
    let last = recordings.last().unwrap();
    decodes_cleanly(last).unwrap();
    let probe = ffprobe(last).unwrap();
    assert!(probe.duration() >= 2.0, "{}", probe.duration());
    assert_no_secret(&keys);
}

/// A job whose destinations sit behind a dead link (RTMP and SRT) is stopped: the stop
/// returns within 3 s, though neither can send what it holds.
#[test]
fn a_job_on_a_dead_link_stops_within_3_s() {
    logs();
    let Some(link) = link() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = test_clip(dir.path(), 20.0, 320, 240);
    let (file, streams) = open_clip(&path);
    let far = NginxRtmp::start_in(&link);
    let passphrase = "dead-link-passphrase-8080";
    let listener = SrtListener::start_in(&link, Some(passphrase));
    let keys = ["dead-rtmp-key-7a7a", "dead-srt-key-8b8b"];
    let destinations = vec![
        Destination::from_url(&far.url(keys[0]), None).unwrap(),
        srt_destination(&listener, keys[1], passphrase, Duration::from_millis(120)),
    ];
    let port = livekit::Port::blocking(64);
    let reader = file.start(port.clone()).unwrap();
    let streamer = Streamer::start(StreamerSettings::new(destinations), streams, port).unwrap();
    wait_for(&streamer, Duration::from_secs(5), |s| {
        s.iter()
            .all(|d| d.state == DestinationState::Live && d.bytes > 20_000)
    });
    link.cut();
    std::thread::sleep(Duration::from_secs(2));
    let asked = Instant::now();
    let report = streamer.stop();
    let took = asked.elapsed();
    eprintln!("{:#?}", report.destinations);
    eprintln!("the stop took {took:?}");
    assert!(took < Duration::from_secs(3), "the stop took {took:?}");
    for stats in &report.destinations {
        assert_eq!(stats.state, DestinationState::Stopped, "{stats:?}");
    }
    drop(reader);
    assert_no_secret(&[keys[0], keys[1], passphrase]);
}

/// SRT to a listener 25 ms away each way on a link that loses 5% of its packets each way, with
/// a latency of 1 s (well over four round trips): SRT retransmits what was lost in time, the
/// listener receives the whole stream, and it decodes without an error.
#[test]
fn srt_rides_out_5_percent_loss_within_its_latency() {
    logs();
    let Some(link) = link() else { return };
    let dir = tempfile::tempdir().unwrap();
    let seconds = 8.0;
    let path = test_clip(dir.path(), seconds, 320, 240);
    let (file, streams) = open_clip(&path);
    let steady = NginxRtmp::start();
    let passphrase = "lossy-srt-passphrase-4242";
    let mut listener = SrtListener::start_in(&link, Some(passphrase));
    let keys = ["steady-key-netem-9c9c", "lossy-srt-key-0d0d"];
    let destinations = vec![
        Destination::from_url(&steady.url(keys[0]), None).unwrap(),
        srt_destination(&listener, keys[1], passphrase, Duration::from_secs(1)),
    ];
    let port = livekit::Port::blocking(64);
    let reader = file.start(port.clone()).unwrap();
    let streamer = Streamer::start(StreamerSettings::new(destinations), streams, port).unwrap();
    // The loss begins once SRT is connected. libsrt (1.5.1 here) fails a connection whose
    // last handshake answer was lost (Haivision/srt#1648, #2771: the listener has accepted
    // it and ignores the caller's repeats), and the listener here (srt-live-transmit -a:no)
    // takes one connection only, so a lost answer failed this test now and then (04:23 on 2026-12-06,
    // `failed_attempts: 2`): that is libsrt's handshake, not SRT riding out loss.
    wait_for(&streamer, Duration::from_secs(5), |s| {
        s[1].state == DestinationState::Live
    });
    link.impair(Impairment {
        loss: 0.05,
        delay: Duration::from_millis(25),
        jitter: Duration::from_millis(5),
        rate_kbit: None,
    })
    .unwrap();
    let report = streamer.wait();
    reader.join().unwrap();
    let (steady_stats, srt) = (&report.destinations[0], &report.destinations[1]);
    eprintln!("{steady_stats:?}\n{srt:?}");
    assert_steady_got_everything(steady_stats, &steady, keys[0], seconds);
    assert_eq!((srt.reconnects, srt.dropped_packets), (0, 0), "{srt:?}");
    assert!(srt.live_at_end, "{srt:?}");
    assert!(
        link.dropped_packets() >= 20,
        "{} lost",
        link.dropped_packets()
    );
    assert!(
        listener.wait_exit(Duration::from_secs(5)),
        "{}",
        listener.log()
    );
    link.clear();
    let received = listener.output();
    let probe = ffprobe(&received).unwrap();
    assert_eq!(probe.video().unwrap().codec_name, "h264");
    assert_eq!(probe.audio().unwrap().codec_name, "aac");
    let duration = probe.duration();
    assert!(
        (seconds - 0.5..=seconds + 0.5).contains(&duration),
        "the SRT listener received {duration} s of {seconds}"
    );
    decodes_cleanly(&received).unwrap();
    assert_no_secret(&[keys[0], keys[1], passphrase]);
}

/// SRT to a listener whose link goes dead for 10 s: SRT's peer time-out ends the connection,
/// the destination retries, and it streams again by itself once the link is back (the
/// listener, like a real server, listens again meanwhile); the steady one gets everything.
#[test]
fn srt_destination_recovers_by_itself_after_the_link_is_down_for_10_s() {
    logs();
    let Some(link) = link() else { return };
    let dir = tempfile::tempdir().unwrap();
    let seconds = 24.0;
    let path = test_clip(dir.path(), seconds, 320, 240);
    let (file, streams) = open_clip(&path);
    let steady = NginxRtmp::start();
    let passphrase = "outage-srt-passphrase-1357";
    let mut listener = SrtListener::start_in(&link, Some(passphrase));
    let keys = ["steady-key-netem-ae1e", "outage-srt-key-bf2f"];
    let destinations = vec![
        Destination::from_url(&steady.url(keys[0]), None).unwrap(),
        srt_destination(&listener, keys[1], passphrase, Duration::from_millis(200)),
    ];
    let port = livekit::Port::blocking(64);
    let reader = file.start(port.clone()).unwrap();
    let streamer = Streamer::start(StreamerSettings::new(destinations), streams, port).unwrap();
    wait_for(&streamer, Duration::from_secs(5), |s| {
        s[1].state == DestinationState::Live && s[1].bytes > 50_000
    });
    link.cut();
    // SRT gives a silent peer 5 s: the destination notices within that and retries.
    wait_for(&streamer, Duration::from_secs(8), |s| {
        s[1].state == DestinationState::Retrying
    });
    // The listener saw its caller vanish too, and exited: a server listens again.
    listener.restart();
    std::thread::sleep(Duration::from_secs(4));
    link.clear();
    let back = Instant::now();
    wait_for(&streamer, Duration::from_secs(10), |s| {
        s[1].reconnects == 1 && s[1].state == DestinationState::Live
    });
    eprintln!("reconnected {:?} after the link came back", back.elapsed());
    assert_eq!(streamer.stats()[0].state, DestinationState::Live);

    let report = streamer.wait();
    reader.join().unwrap();
    let (steady_stats, srt) = (&report.destinations[0], &report.destinations[1]);
    eprintln!("{steady_stats:?}\n{srt:?}");
    assert_steady_got_everything(steady_stats, &steady, keys[0], seconds);
    assert_eq!(srt.reconnects, 1, "{srt:?}");
    assert!(srt.live_at_end, "{srt:?}");
    let error = srt.last_error.as_deref().unwrap();
    assert!(
        !error.contains(keys[1]) && !error.contains(passphrase),
        "{error}"
    );
    assert!(
        listener.wait_exit(Duration::from_secs(5)),
        "{}",
        listener.log()
    );
    // The listener's second run received the rest of the stream, from a keyframe, playable.
    let received = listener.output();
    let probe = ffprobe(&received).unwrap();
    assert_eq!(probe.video().unwrap().codec_name, "h264");
    assert!(probe.duration() >= 3.0, "{}", probe.duration());
    decodes_cleanly(&received).unwrap();
    assert_no_secret(&[keys[0], keys[1], passphrase]);
}
