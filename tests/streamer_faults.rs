#![allow(clippy::unwrap_used)]
//! The Streamer when destinations fail: a server killed and restarted mid-stream, a
//! destination that refuses from the start (each over RTMP and over SRT), a slow destination.
//! Real nginx-rtmp servers and srt-live-transmit listeners on 127.0.0.1; the healthy destination must receive everything, and no key may appear in any
//! log line (everything is captured at TRACE level, FFmpeg's log included).

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{assert_no_secret, clip, logs, open_clip, wait_recording};
use livekit::sinks::stream::{
    Destination, DestinationState, DestinationStats, StreamKey, Streamer, StreamerSettings,
};
use livekit::thread::spawn_named;
use livekit_testkit::net::{free_port, free_udp_port};
use livekit_testkit::probe::{decodes_cleanly, ffprobe};
use livekit_testkit::{NginxRtmp, SrtListener};

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

#[test]
fn server_killed_and_restarted_mid_stream() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let path = clip(dir.path(), 8.0, 30);
    let (file, streams) = open_clip(&path);
    let steady = NginxRtmp::start();
    let mut flaky = NginxRtmp::start();
    let keys = ["steady-key-1a2b3c", "flaky-key-4d5e6f"];
    let destinations = vec![
        Destination::from_url(&steady.url(keys[0]), None).unwrap(),
        Destination::from_url(&flaky.url(keys[1]), None).unwrap(),
    ];
    let port = livekit::Port::blocking(64);
    let reader = file.start(port.clone()).unwrap();
    let streamer = Streamer::start(StreamerSettings::new(destinations), streams, port).unwrap();

    wait_for(&streamer, Duration::from_secs(5), |s| {
        s[1].state == DestinationState::Live && s[1].bytes > 50_000
    });
    std::thread::sleep(Duration::from_millis(1500));
    flaky.kill();
    wait_for(&streamer, Duration::from_secs(15), |s| {
        s[1].state == DestinationState::Retrying
    });
    std::thread::sleep(Duration::from_millis(500));
    flaky.restart();
    let back = Instant::now();
    wait_for(&streamer, Duration::from_secs(8), |s| s[1].reconnects == 1);
    let reconnected_after = back.elapsed();
    assert!(
        reconnected_after <= Duration::from_millis(5500),
        "reconnected {reconnected_after:?} after the server came back"
    );
    assert_eq!(streamer.stats()[0].state, DestinationState::Live);

    let report = streamer.wait();
    reader.join().unwrap();
    let (steady_stats, flaky_stats) = (&report.destinations[0], &report.destinations[1]);
    assert_eq!(steady_stats.reconnects, 0, "{steady_stats:?}");
    assert_eq!(steady_stats.dropped_packets, 0, "{steady_stats:?}");
    assert_eq!(flaky_stats.reconnects, 1, "{flaky_stats:?}");
    let error = flaky_stats.last_error.as_deref().unwrap();
    assert!(!error.contains(keys[1]));

    // The steady destination got the whole stream in one publish.
    let (recordings, probe) = wait_recording(&steady, keys[0], 7.5);
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    assert!(
        (7.5..=8.5).contains(&probe.duration()),
        "{}",
        probe.duration()
    );
    assert_eq!(probe.audio().unwrap().codec_name, "aac");
    // The restarted one got a second publish, starting on a keyframe, until the end.
    let (recordings, probe) = wait_recording(&flaky, keys[1], 1.0);
    assert_eq!(recordings.len(), 2, "{recordings:?}");
    assert_eq!(probe.video().unwrap().codec_name, "h264");
    assert!(probe.audio().is_some());
    livekit_testkit::probe::decodes_cleanly(recordings.last().unwrap()).unwrap();
    assert_no_secret(&keys);
}

#[test]
fn refusing_destination_retries_while_others_stream() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let path = clip(dir.path(), 4.0, 30);
    let (file, streams) = open_clip(&path);
    let server = NginxRtmp::start();
    let keys = ["good-key-77aa88", "refused-key-99bb00"];
    let closed = free_port();
    let destinations = vec![
        Destination::from_url(&server.url(keys[0]), None).unwrap(),
        Destination::from_url(&format!("rtmp://127.0.0.1:{closed}/live/{}", keys[1]), None)
            .unwrap(),
    ];
    let port = livekit::Port::blocking(64);
    let reader = file.start(port.clone()).unwrap();
    let streamer = Streamer::start(StreamerSettings::new(destinations), streams, port).unwrap();
    wait_for(&streamer, Duration::from_secs(5), |s| {
        s[1].state == DestinationState::Retrying && s[1].failed_attempts >= 2
    });
    let stats = streamer.stats();
    assert_eq!(stats[0].state, DestinationState::Live);
    let error = stats[1].last_error.clone().unwrap();
    assert!(
        error.starts_with("cannot connect: Connection refused"),
        "{error}"
    );
    assert_eq!(stats[1].bytes, 0);

    let report = streamer.wait();
    reader.join().unwrap();
    assert_eq!(report.destinations[0].dropped_packets, 0);
    assert_eq!(report.destinations[1].state, DestinationState::Stopped);
    let (recordings, probe) = wait_recording(&server, keys[0], 3.5);
    assert_eq!(recordings.len(), 1);
    assert!(
        (3.5..=4.5).contains(&probe.duration()),
        "{}",
        probe.duration()
    );
    assert_no_secret(&keys);
}

#[test]
fn a_destination_that_never_answers_is_given_up_while_others_stream() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let path = clip(dir.path(), 5.0, 30);
    let (file, streams) = open_clip(&path);
    let server = NginxRtmp::start();
    let keys = ["good-key-31cc42", "never-key-53dd64"];
    let closed = free_port();
    let destinations = vec![
        Destination::from_url(&server.url(keys[0]), None).unwrap(),
        Destination::from_url(&format!("rtmp://127.0.0.1:{closed}/live/{}", keys[1]), None)
            .unwrap(),
    ];
    let mut settings = StreamerSettings::new(destinations);
    settings.reconnect.give_up_unconnected_after = Some(Duration::from_secs(2));
    let port = livekit::Port::blocking(64);
    let reader = file.start(port.clone()).unwrap();
    let streamer = Streamer::start(settings, streams, port).unwrap();
    wait_for(&streamer, Duration::from_secs(4), |s| {
        s[1].state == DestinationState::Failed
    });
    let stats = streamer.stats();
    assert_eq!(stats[0].state, DestinationState::Live);
    let error = stats[1].last_error.clone().unwrap();
    assert!(
        error.starts_with("never connected in 2 s; gave up (cannot connect: Connection refused"),
        "{error}"
    );
    let report = streamer.wait();
    reader.join().unwrap();
    assert_eq!(report.destinations[0].dropped_packets, 0);
    assert!(report.destinations[0].live_at_end);
    assert_eq!(report.destinations[1].state, DestinationState::Failed);
    assert!(!report.destinations[1].live_at_end);
    let (recordings, probe) = wait_recording(&server, keys[0], 4.5);
    assert_eq!(recordings.len(), 1);
    assert!(
        (4.5..=5.5).contains(&probe.duration()),
        "{}",
        probe.duration()
    );
    assert_no_secret(&keys);
}

/// A TCP proxy to `upstream` that passes at most `bytes_per_sec` from the client on, with a
/// small receive buffer: a slow destination.
struct SlowProxy {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl SlowProxy {
    fn start(upstream: u16, bytes_per_sec: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // Accepted sockets inherit a tiny receive buffer: the kernel cannot soak up the
        // stream on the proxy's behalf (localhost buffers otherwise grow to megabytes).
        let size: libc::c_int = 4096;
        // SAFETY: a valid socket and a c_int option value of the right size.
        let ret = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&listener),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(ret, 0);
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        spawn_named("slow-proxy", move || {
            while !stopped.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                let server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
                let (mut from_server, mut to_client) =
                    (server.try_clone().unwrap(), client.try_clone().unwrap());
                spawn_named("slow-proxy-down", move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = from_server.read(&mut buf) {
                        if to_client.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to_client.shutdown(Shutdown::Both);
                })
                .unwrap();
                let stop_up = stopped.clone();
                spawn_named("slow-proxy-up", move || {
                    let (mut client, mut server) = (client, server);
                    let chunk = (bytes_per_sec / 20).max(1);
                    let mut buf = vec![0u8; chunk];
                    while !stop_up.load(Ordering::Relaxed) {
                        match client.read(&mut buf) {
                            Ok(n @ 1..) => {
                                if server.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                            _ => break,
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    let _ = server.shutdown(Shutdown::Both);
                    let _ = client.shutdown(Shutdown::Both);
                })
                .unwrap();
            }
        })
        .unwrap();
        Self { port, stop }
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn slow_destination_drops_gops_while_others_get_everything() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let path = clip(dir.path(), 6.0, 30);
    let (file, streams) = open_clip(&path);
    let server = NginxRtmp::start();
    let proxy = SlowProxy::start(server.port(), 16_000);
    let keys = ["fast-key-0c0c0c", "slow-key-5e5e5e"];
    let destinations = vec![
        Destination::from_url(&server.url(keys[0]), None).unwrap(),
        Destination::from_url(
            &format!("rtmp://127.0.0.1:{}/live/{}", proxy.port, keys[1]),
            None,
        )
        .unwrap(),
    ];
    let mut settings = StreamerSettings::new(destinations);
    // About a second of packets: a slow destination starts dropping soon.
    settings.queue_packets = 80;
    settings.stop_timeout = Duration::from_secs(1);
    settings.send_buffer = Some(16 << 10);
    let port = livekit::Port::blocking(64);
    let reader = file.start(port.clone()).unwrap();
    let streamer = Streamer::start(settings, streams, port.clone()).unwrap();
    reader.join().unwrap();
    while !port.is_finished() {
        std::thread::sleep(Duration::from_millis(10));
    }
    // The fast one has everything; the slow one is still behind.
    wait_for(&streamer, Duration::from_secs(5), |s| {
        s[0].state == DestinationState::Stopped
    });
    let stopped = Instant::now();
    let report = streamer.stop();
    assert!(
        stopped.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        stopped.elapsed()
    );
    let (fast, slow) = (&report.destinations[0], &report.destinations[1]);
    eprintln!("{fast:?}\n{slow:?}");
    assert_eq!(fast.dropped_packets, 0, "{fast:?}");
    assert_eq!(fast.dropped_gops, 0, "{fast:?}");
    assert!(slow.dropped_gops >= 1, "{slow:?}");
    assert!(slow.dropped_packets > slow.dropped_gops, "{slow:?}");
    assert!(slow.packets > 0, "{slow:?}");
    assert_eq!(slow.state, DestinationState::Stopped);
    assert_eq!(
        slow.last_error.as_deref(),
        Some("send failed: stopped before everything was sent")
    );

    let (recordings, probe) = wait_recording(&server, keys[0], 5.5);
    assert_eq!(recordings.len(), 1);
    assert!(
        (5.5..=6.5).contains(&probe.duration()),
        "{}",
        probe.duration()
    );
    drop(proxy);
    assert_no_secret(&keys);
}

/// A TCP proxy to `upstream` that holds each connection for `delay` before passing anything
/// on: a server that is slow to answer (far away, busy).
struct LateProxy {
    port: u16,
}

impl LateProxy {
    fn start(upstream: u16, delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        spawn_named("late-proxy", move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                std::thread::sleep(delay);
                let server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    spawn_named("late-proxy-copy", move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                    })
                    .unwrap();
                }
            }
        })
        .unwrap();
        Self { port }
    }
}

#[test]
fn a_slow_first_connection_still_gets_the_start_of_the_stream() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    // A keyframe every second, read in real time: the server answers 2.5 s late.
    let path = clip(dir.path(), 6.0, 30);
    let (file, streams) = open_clip(&path);
    let server = NginxRtmp::start();
    let proxy = LateProxy::start(server.port(), Duration::from_millis(2500));
    let key = "late-key-3b3b3b";
    let destination =
        Destination::from_url(&format!("rtmp://127.0.0.1:{}/live/{key}", proxy.port), None)
            .unwrap();
    let port = livekit::Port::blocking(64);
    let reader = file.start(port.clone()).unwrap();
    let streamer =
        Streamer::start(StreamerSettings::new(vec![destination]), streams, port).unwrap();
    let report = streamer.wait();
    reader.join().unwrap();
    let stats = &report.destinations[0];
    assert_eq!(
        (stats.dropped_packets, stats.reconnects),
        (0, 0),
        "{stats:?}"
    );
    // Everything from the first frame on, not from the keyframe current at connection time.
    let (recordings, probe) = wait_recording(&server, key, 5.5);
    assert_eq!(recordings.len(), 1);
    let duration = probe.duration();
    assert!((5.7..=6.3).contains(&duration), "{duration} s arrived");
    assert_no_secret(&[key]);
}

/// An SRT destination to `listener`'s port with a passphrase and a stream id (the key).
fn srt_destination(port: u16, key: &str, passphrase: &str) -> Destination {
    let mut destination = Destination::from_url(
        &format!("srt://127.0.0.1:{port}"),
        Some(StreamKey::new(key).unwrap()),
    )
    .unwrap();
    destination.srt.passphrase = StreamKey::new(passphrase);
    destination.srt.latency = Duration::from_millis(120);
    destination
}

#[test]
fn srt_listener_killed_and_restarted_mid_stream() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let path = clip(dir.path(), 16.0, 30);
    let (file, streams) = open_clip(&path);
    let steady = NginxRtmp::start();
    let passphrase = "srt-fault-passphrase-2718";
    let mut listener = SrtListener::start(Some(passphrase));
    let keys = ["steady-key-srt-1f1f1f", "srt-streamid-key-6a6a6a"];
    let destinations = vec![
        Destination::from_url(&steady.url(keys[0]), None).unwrap(),
        srt_destination(listener.port(), keys[1], passphrase),
    ];
    let port = livekit::Port::blocking(64);
    let reader = file.start(port.clone()).unwrap();
    let streamer = Streamer::start(StreamerSettings::new(destinations), streams, port).unwrap();

    wait_for(&streamer, Duration::from_secs(5), |s| {
        s[1].state == DestinationState::Live && s[1].bytes > 50_000
    });
    std::thread::sleep(Duration::from_millis(1000));
    // SIGKILL: the caller is not told; SRT notices when the peer stays silent.
    listener.kill();
    wait_for(&streamer, Duration::from_secs(10), |s| {
        s[1].state == DestinationState::Retrying
    });
    listener.restart();
    let back = Instant::now();
    wait_for(&streamer, Duration::from_secs(8), |s| {
        s[1].reconnects == 1 && s[1].state == DestinationState::Live
    });
    let reconnected_after = back.elapsed();
    assert!(
        reconnected_after <= Duration::from_millis(5500),
        "reconnected {reconnected_after:?} after the listener came back"
    );
    assert_eq!(streamer.stats()[0].state, DestinationState::Live);

    let report = streamer.wait();
    reader.join().unwrap();
    let (steady_stats, srt_stats) = (&report.destinations[0], &report.destinations[1]);
    assert_eq!(steady_stats.reconnects, 0, "{steady_stats:?}");
    assert_eq!(steady_stats.dropped_packets, 0, "{steady_stats:?}");
    assert_eq!(srt_stats.reconnects, 1, "{srt_stats:?}");
    assert_eq!(srt_stats.state, DestinationState::Stopped, "{srt_stats:?}");
    let error = srt_stats.last_error.as_deref().unwrap();
    assert!(!error.contains(keys[1]) && !error.contains(passphrase));

    // The RTMP destination got the whole stream in one publish.
    let (recordings, probe) = wait_recording(&steady, keys[0], 15.5);
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    assert!(
        (15.5..=16.5).contains(&probe.duration()),
        "{}",
        probe.duration()
    );
    assert_eq!(probe.audio().unwrap().codec_name, "aac");
    // The listener's second run received a playable stream, from a keyframe to the end.
    assert!(
        listener.wait_exit(Duration::from_secs(5)),
        "{}",
        listener.log()
    );
    let outputs = listener.outputs();
    assert_eq!(outputs.len(), 2);
    let first = ffprobe(&outputs[0]).unwrap();
    assert_eq!(first.video().unwrap().codec_name, "h264");
    let second = ffprobe(&outputs[1]).unwrap();
    assert_eq!(second.format.format_name, "mpegts");
    assert_eq!(second.video().unwrap().codec_name, "h264");
    assert_eq!(second.audio().unwrap().codec_name, "aac");
    assert!(second.duration() >= 2.0, "{}", second.duration());
    decodes_cleanly(&outputs[1]).unwrap();
    assert_no_secret(&[keys[0], keys[1], passphrase]);
}

#[test]
fn srt_destination_with_no_listener_retries_while_others_stream() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let path = clip(dir.path(), 8.0, 30);
    let (file, streams) = open_clip(&path);
    let server = NginxRtmp::start();
    let keys = ["good-key-srt-3c3c3c", "srt-nobody-key-4d4d4d"];
    let passphrase = "srt-nobody-passphrase-1618";
    let destinations = vec![
        Destination::from_url(&server.url(keys[0]), None).unwrap(),
        srt_destination(free_udp_port(), keys[1], passphrase),
    ];
    let port = livekit::Port::blocking(64);
    let reader = file.start(port.clone()).unwrap();
    let streamer = Streamer::start(StreamerSettings::new(destinations), streams, port).unwrap();
    wait_for(&streamer, Duration::from_secs(7), |s| {
        s[1].state == DestinationState::Retrying && s[1].failed_attempts >= 1
    });
    let stats = streamer.stats();
    assert_eq!(stats[0].state, DestinationState::Live);
    let error = stats[1].last_error.clone().unwrap();
    assert!(error.starts_with("cannot connect: "), "{error}");
    assert_eq!(stats[1].bytes, 0);

    let report = streamer.wait();
    reader.join().unwrap();
    assert_eq!(report.destinations[0].dropped_packets, 0);
    assert_eq!(report.destinations[0].reconnects, 0);
    assert_eq!(report.destinations[1].state, DestinationState::Stopped);
    assert_eq!(report.destinations[1].bytes, 0);
    let (recordings, probe) = wait_recording(&server, keys[0], 7.5);
    assert_eq!(recordings.len(), 1);
    assert!(
        (7.5..=8.5).contains(&probe.duration()),
        "{}",
        probe.duration()
    );
    assert_no_secret(&[keys[0], keys[1], passphrase]);
}

/// A server that accepts the connection and never answers holds its destination in its first
/// connection (for the 10 s connection time-out). A job asked to end gives up on it at once:
/// `give_up_connecting` ends that attempt, while the live destination sends what it has.
#[test]
fn a_silent_server_does_not_hold_up_a_stop() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let path = clip(dir.path(), 3.0, 30);
    let (file, streams) = open_clip(&path);
    let server = NginxRtmp::start();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = listener.local_addr().unwrap().port();
    let keys = ["heard-key-5c5c5c", "silent-key-6d6d6d"];
    let destinations = vec![
        Destination::from_url(&server.url(keys[0]), None).unwrap(),
        Destination::from_url(
            &format!("rtmp://127.0.0.1:{silent_port}/live/{}", keys[1]),
            None,
        )
        .unwrap(),
    ];
    let port = livekit::Port::blocking(64);
    let reader = file.start(port.clone()).unwrap();
    let streamer = Streamer::start(StreamerSettings::new(destinations), streams, port).unwrap();
    wait_for(&streamer, Duration::from_secs(5), |s| {
        s[0].state == DestinationState::Live
    });
    // The file plays out (3 s); the silent destination is still in its first connection.
    reader.join().unwrap();
    assert_eq!(streamer.stats()[1].state, DestinationState::Connecting);
    let asked = Instant::now();
    streamer.give_up_connecting();
    let report = streamer.wait();
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(2), "the stop took {took:?}");
    let (heard, silent) = (&report.destinations[0], &report.destinations[1]);
    assert!(heard.live_at_end && heard.dropped_packets == 0, "{heard:?}");
    assert!(!silent.live_at_end && silent.bytes == 0, "{silent:?}");
    assert_eq!(
        silent.last_error.as_deref(),
        Some("cannot connect: stopped while connecting (the server had not answered)")
    );
    let (_, probe) = wait_recording(&server, keys[0], 2.5);
    assert!(probe.duration() > 2.7, "{}", probe.duration());
    assert_no_secret(&keys);
    drop(listener);
}

/// A job whose input has ended gives a destination slower than the stream a few seconds to
/// send what it holds, then closes it and says what it missed; the fast one has everything.
#[test]
fn the_end_waits_at_most_the_drain_time_for_a_slow_destination() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let path = clip(dir.path(), 6.0, 30);
    let (file, streams) = open_clip(&path);
    let server = NginxRtmp::start();
    let proxy = SlowProxy::start(server.port(), 16_000);
    let keys = ["fast-key-1d1d1d", "slow-key-6f6f6f"];
    let destinations = vec![
        Destination::from_url(&server.url(keys[0]), None).unwrap(),
        Destination::from_url(
            &format!("rtmp://127.0.0.1:{}/live/{}", proxy.port, keys[1]),
            None,
        )
        .unwrap(),
    ];
    // The default queue (about 10 s): the slow destination holds most of the file at the end.
    let mut settings = StreamerSettings::new(destinations);
    settings.send_buffer = Some(16 << 10);
    let port = livekit::Port::blocking(64);
    let reader = file.start(port.clone()).unwrap();
    let streamer = Streamer::start(settings, streams, port.clone()).unwrap();
    reader.join().unwrap();
    let ended = Instant::now();
    let report = streamer.wait_at_most(Duration::from_secs(2));
    assert!(
        ended.elapsed() < Duration::from_secs(6),
        "the end took {:?}",
        ended.elapsed()
    );
    let (fast, slow) = (&report.destinations[0], &report.destinations[1]);
    eprintln!("{fast:?}\n{slow:?}");
    assert!(fast.live_at_end && fast.dropped_packets == 0, "{fast:?}");
    // What it missed is counted.
    assert!(slow.dropped_packets > 0, "{slow:?}");
    assert_eq!(
        slow.last_error.as_deref(),
        Some("still sending 2 s after the end of the stream: closed")
    );
    assert!(report.packets_in > 0);
    let (recordings, probe) = wait_recording(&server, keys[0], 5.5);
    assert_eq!(recordings.len(), 1);
    assert!(
        (5.5..=6.5).contains(&probe.duration()),
        "{}",
        probe.duration()
    );
    drop(proxy);
    assert_no_secret(&keys);
}
