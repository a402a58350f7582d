//! Port policies under concurrent writers and readers.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use livekit_core::thread::spawn_named;
use livekit_core::{FrameSource, FrameTarget, Port, Pull, PushError, VideoFrame};

const WAIT: Duration = Duration::from_secs(10);

/// Writer `w`'s `i`th item.
fn item(w: u64, i: u64) -> u64 {
    w << 32 | i
}

#[test]
fn latest_never_blocks_and_returns_the_newest() {
    let port = Port::<u64>::latest();
    // No reader at all: pushes still complete.
    for i in 0..10_000 {
        port.push(i).unwrap();
    }
    assert_eq!(port.latest(), Pull::Frame(9_999));
    assert_eq!(port.latest(), Pull::Pending, "a frame is read once");
    let stats = port.stats();
    assert_eq!(
        (stats.pushed, stats.delivered, stats.dropped),
        (10_000, 1, 9_999)
    );
}

#[test]
fn latest_under_concurrent_writers_and_a_reader() {
    let port = Port::<u64>::latest();
    let writers: Vec<_> = (0..2u64)
        .map(|w| {
            let port = port.clone();
            spawn_named(format!("writer-{w}"), move || {
                for i in 0..50_000 {
                    port.push(item(w, i)).unwrap();
                }
            })
            .unwrap()
        })
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (port, done) = (port.clone(), done.clone());
        spawn_named("reader", move || {
            let mut newest = [None::<u64>; 2];
            let mut reads = 0u64;
            while !done.load(Ordering::Acquire) {
                if let Pull::Frame(v) = port.latest() {
                    let (w, i) = ((v >> 32) as usize, v & 0xffff_ffff);
                    assert!(
                        newest[w].is_none_or(|n| i > n),
                        "writer {w}: {i} after {newest:?}"
                    );
                    newest[w] = Some(i);
                    reads += 1;
                }
            }
            reads
        })
        .unwrap()
    };
    for writer in writers {
        writer.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let reads = reader.join().unwrap();
    let stats = port.stats();
    assert_eq!(stats.pushed, 100_000);
    assert_eq!(stats.delivered, reads);
    // Whatever is left is the very last frame pushed by one of the writers.
    let left = stats.queued as u64;
    assert_eq!(stats.delivered + stats.dropped + left, 100_000);
    if let Pull::Frame(v) = port.latest() {
        assert_eq!(v & 0xffff_ffff, 49_999);
    }
}

#[test]
fn block_loses_nothing_and_keeps_each_writers_order() {
    let port = Port::<u64>::blocking(4);
    let writers: Vec<_> = (0..3u64)
        .map(|w| {
            let port = port.clone();
            spawn_named(format!("writer-{w}"), move || {
                for i in 0..2_000 {
                    port.push(item(w, i)).unwrap();
                }
            })
            .unwrap()
        })
        .collect();
    let mut next_expected = [0u64; 3];
    let mut received = 0;
    while received < 6_000 {
        match port.next(WAIT) {
            Pull::Frame(v) => {
                let (w, i) = ((v >> 32) as usize, v & 0xffff_ffff);
                assert_eq!(i, next_expected[w], "writer {w} out of order");
                next_expected[w] += 1;
                received += 1;
                assert!(port.stats().queued <= 4, "the queue is bounded");
            }
            other => panic!("expected a frame, got {other:?}"),
        }
    }
    for writer in writers {
        writer.join().unwrap();
    }
    port.end();
    assert_eq!(port.next(WAIT), Pull::Ended);
    assert_eq!(port.dropped(), 0);
    assert_eq!(next_expected, [2_000; 3]);
}

#[test]
fn block_makes_the_writer_wait_for_room() {
    let port = Port::<u64>::blocking(2);
    port.push(1).unwrap();
    port.push(2).unwrap();
    let writer = {
        let port = port.clone();
        spawn_named("blocked-writer", move || {
            let started = Instant::now();
            port.push(3).unwrap();
            started.elapsed()
        })
        .unwrap()
    };
    std::thread::sleep(Duration::from_millis(200));
    assert!(!writer.is_finished(), "a full Block queue holds the writer");
    assert_eq!(port.next(WAIT), Pull::Frame(1));
    assert!(writer.join().unwrap() >= Duration::from_millis(150));
    assert_eq!(port.next(WAIT), Pull::Frame(2));
    assert_eq!(port.next(WAIT), Pull::Frame(3));
}

#[test]
fn drop_oldest_drops_and_counts() {
    let port = Port::<u64>::drop_oldest(3);
    for i in 0..10 {
        port.push(i).unwrap();
    }
    port.end();
    assert_eq!(port.dropped(), 7);
    let got: Vec<u64> = std::iter::from_fn(|| port.next(WAIT).frame()).collect();
    assert_eq!(got, [7, 8, 9]);
    assert_eq!(port.next(WAIT), Pull::Ended);
}

#[test]
fn drop_oldest_under_a_concurrent_slow_reader() {
    let port = Port::<u64>::drop_oldest(8);
    let writer = {
        let port = port.clone();
        spawn_named("fast-writer", move || {
            for i in 0..20_000 {
                port.push(i).unwrap();
            }
            port.end();
        })
        .unwrap()
    };
    let mut last = None;
    let mut delivered = 0u64;
    loop {
        match port.next(WAIT) {
            Pull::Frame(v) => {
                assert!(last.is_none_or(|l| v > l), "order kept");
                last = Some(v);
                delivered += 1;
                std::thread::sleep(Duration::from_micros(50));
            }
            Pull::Ended => break,
            Pull::Pending => panic!("timed out"),
        }
    }
    writer.join().unwrap();
    assert_eq!(last, Some(19_999), "the newest frame always arrives");
    assert_eq!(delivered + port.dropped(), 20_000);
}

#[test]
fn end_of_stream_reaches_a_waiting_reader_after_queued_frames() {
    let port = Port::<VideoFrame>::blocking(4);
    let reader = {
        let port = port.clone();
        spawn_named("reader", move || {
            let mut pts = Vec::new();
            loop {
                match port.next(Duration::MAX) {
                    Pull::Frame(f) => pts.push(f.pts().as_millis()),
                    Pull::Ended => return pts,
                    Pull::Pending => panic!("next(Duration::MAX) never times out"),
                }
            }
        })
        .unwrap()
    };
    for ms in [0, 40, 80] {
        let frame = VideoFrame::solid_rgba(2, 2, [0; 4], Duration::from_millis(ms)).unwrap();
        port.push(frame).unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    port.end();
    assert_eq!(reader.join().unwrap(), [0, 40, 80]);
    assert!(matches!(
        port.push(VideoFrame::solid_rgba(2, 2, [0; 4], Duration::ZERO).unwrap()),
        Err(PushError::Ended)
    ));
}

#[test]
fn close_wakes_a_blocked_writer() {
    let port = Port::<u64>::blocking(1);
    port.push(0).unwrap();
    let writer = {
        let port = port.clone();
        spawn_named("writer", move || port.push(1)).unwrap()
    };
    std::thread::sleep(Duration::from_millis(50));
    port.close();
    assert!(matches!(writer.join().unwrap(), Err(PushError::Closed)));
    assert_eq!(port.next(WAIT), Pull::Ended);
    assert_eq!(
        port.dropped(),
        1,
        "the frame left in the queue counts as dropped"
    );
}

#[test]
fn next_times_out_with_pending() {
    let port = Port::<u64>::latest();
    let started = Instant::now();
    assert_eq!(port.next(Duration::from_millis(30)), Pull::Pending);
    assert!(started.elapsed() >= Duration::from_millis(30));
}

#[test]
fn latest_on_a_queue_skips_to_the_newest() {
    let port = Port::<u64>::blocking(8);
    for i in 0..5 {
        port.push(i).unwrap();
    }
    assert_eq!(port.latest(), Pull::Frame(4));
    assert_eq!(port.dropped(), 4);
    assert_eq!(port.latest(), Pull::Pending);
}

#[test]
fn audio_frames_go_through_ports_too() {
    use livekit_core::{AudioFrame, AudioSource, AudioTarget};
    let port = Port::<AudioFrame>::blocking(2);
    let target: &dyn AudioTarget = &port;
    target
        .push(AudioFrame::silence(480, 48_000, 2, Duration::ZERO).unwrap())
        .unwrap();
    target.end();
    let source: &dyn AudioSource = &port;
    let frame = source.next(WAIT).frame().unwrap();
    assert_eq!(
        (frame.frames(), frame.duration()),
        (480, Duration::from_millis(10))
    );
    assert!(source.next(WAIT).is_ended());
}

#[test]
fn latest_on_a_full_blocking_queue_wakes_every_blocked_writer() {
    let port = Port::<u64>::blocking(4);
    for i in 0..4 {
        port.push(i).unwrap();
    }
    let writers: Vec<_> = (0..3u64)
        .map(|w| {
            let port = port.clone();
            spawn_named(format!("blocked-{w}"), move || port.push(100 + w).unwrap()).unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    assert!(writers.iter().all(|w| !w.is_finished()));
    assert_eq!(
        port.latest(),
        Pull::Frame(3),
        "skips to the newest, freeing all four slots"
    );
    for writer in writers {
        writer.join().unwrap(); // hangs if only one writer were woken
    }
    assert_eq!(port.stats().queued, 3);
}

#[test]
fn a_writer_blocked_on_a_full_port_gives_up_when_told_to_stop() {
    let port = Port::<u64>::blocking(1);
    port.push(0).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (port, stop) = (port.clone(), stop.clone());
        spawn_named("stoppable-writer", move || {
            // Room comes once: the first push goes in, the second waits until told to stop.
            let first = port.push_unless(1, &stop);
            let second = port.push_unless(2, &stop);
            (first, second)
        })
        .unwrap()
    };
    assert_eq!(port.next(WAIT), Pull::Frame(0));
    std::thread::sleep(Duration::from_millis(200));
    assert!(!writer.is_finished(), "the second push waits for room");
    let asked = Instant::now();
    stop.store(true, Ordering::Relaxed);
    let (first, second) = writer.join().unwrap();
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    assert!(first.is_ok());
    assert!(matches!(second, Err(PushError::Stopped)), "{second:?}");
    assert_eq!(port.next(WAIT), Pull::Frame(1));
    assert_eq!(port.stats().pushed, 2);
}
