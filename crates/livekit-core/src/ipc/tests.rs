//! The protocol inside one process (two threads, or two ends on one thread). The two-process
//! tests are the workspace's `tests/ipc.rs`.

use std::time::{Duration, Instant};

use super::segment::{decode_format, encode_format};
use super::*;
use crate::thread::spawn_named;
use crate::{ColorSpace, FrameLayout, PixelFormat, VideoFrame, VideoFrameMut};

fn unique(test: &str) -> String {
    format!("core-test-{}-{test}", std::process::id())
}

/// A frame whose every byte depends on `n` and its position.
fn pattern(layout: FrameLayout, n: u64) -> VideoFrame {
    let mut frame = VideoFrameMut::new(layout, Duration::from_millis(n * 40));
    for (i, byte) in frame.data_mut_all().iter_mut().enumerate() {
        *byte = (n as usize).wrapping_mul(131).wrapping_add(i / 7) as u8;
    }
    frame.freeze()
}

fn poll_until(reader: &mut Reader, timeout: Duration) -> Poll {
    let deadline = Instant::now() + timeout;
    loop {
        match reader.poll().unwrap() {
            Poll::Nothing if Instant::now() < deadline => reader.wait(Duration::from_millis(20)),
            other => return other,
        }
    }
}

#[test]
fn names_are_checked() {
    assert_eq!(shm_name("cam.1_a-b").unwrap(), "/livekit-cam.1_a-b");
    let err = |n: &str| shm_name(n).unwrap_err().to_string();
    assert_eq!(err(""), "IPC name \"\" is invalid: it is empty");
    assert_eq!(err(".x"), "IPC name \".x\" is invalid: it starts with '.'");
    assert_eq!(
        err("a b"),
        "IPC name \"a b\" is invalid: only ASCII letters, digits, '.', '_' and '-' may be used"
    );
    assert!(err(&"x".repeat(201)).ends_with("is invalid: it is longer than 200 characters"));
    assert!(Writer::create("../etc").is_err());
    assert!(Reader::new("a/b").is_err());
}

#[test]
fn every_pixel_format_round_trips() {
    let formats = [
        PixelFormat::Rgba8,
        PixelFormat::Bgra8,
        PixelFormat::I420(ColorSpace::BT601_LIMITED),
        PixelFormat::I420(ColorSpace::BT709_FULL),
        PixelFormat::Nv12(ColorSpace::BT601_FULL),
        PixelFormat::Nv12(ColorSpace::BT709_LIMITED),
    ];
    for format in formats {
        assert_eq!(decode_format(encode_format(format)), Some(format));
    }
    assert_eq!(decode_format(0), None);
    assert_eq!(decode_format(3), None, "YUV without a colour space");
    assert_eq!(decode_format(1 | (1 << 24)), None);
}

#[test]
fn frames_arrive_bit_for_bit_with_layout_and_pts() {
    let name = unique("exact");
    let mut reader = Reader::new(&name).unwrap();
    assert!(matches!(reader.poll().unwrap(), Poll::Nothing));
    assert_eq!(reader.writer_state().unwrap(), WriterState::Absent);
    let mut writer = Writer::create(&name).unwrap();
    let layouts = [
        FrameLayout::new(33, 17, PixelFormat::Rgba8).unwrap(),
        FrameLayout::with_alignment(33, 17, PixelFormat::I420(ColorSpace::BT601_FULL), 64).unwrap(),
        FrameLayout::with_alignment(21, 9, PixelFormat::Nv12(ColorSpace::BT709_LIMITED), 32)
            .unwrap(),
        FrameLayout::new(5, 3, PixelFormat::Bgra8).unwrap(),
    ];
    for (n, layout) in layouts.into_iter().enumerate() {
        let sent = pattern(layout, n as u64 + 1);
        let sequence = writer.publish(&sent).unwrap();
        let Poll::Frame(got) = poll_until(&mut reader, Duration::from_secs(5)) else {
            panic!("no frame {n}");
        };
        assert_eq!(got.sequence, sequence);
        assert_eq!(got.frame.layout(), sent.layout());
        assert_eq!(got.frame.format(), layout.format());
        assert_eq!(got.frame.pts(), sent.pts());
        assert_eq!(got.frame.data(), sent.data());
        assert!(got.received >= got.sent);
    }
    assert!(matches!(
        reader.writer_state().unwrap(),
        WriterState::Live { pid, .. } if pid == std::process::id()
    ));
    assert_eq!(writer.readers(), 1);
    writer.end();
    assert!(matches!(reader.poll().unwrap(), Poll::Ended));
    assert!(matches!(
        writer.publish(&pattern(layouts_first(), 9)),
        Err(IpcError::Ended { .. })
    ));
}

fn layouts_first() -> FrameLayout {
    FrameLayout::new(4, 4, PixelFormat::Rgba8).unwrap()
}

#[test]
fn a_second_writer_is_refused_and_a_dropped_one_is_gone() {
    let name = unique("in-use");
    let writer = Writer::create(&name).unwrap();
    let err = Writer::create(&name).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "IPC {name:?}: another writer (pid {}) is using /dev/shm/livekit-{name}",
            std::process::id()
        )
    );
    let mut reader = Reader::new(&name).unwrap();
    assert!(matches!(
        reader.writer_state().unwrap(),
        WriterState::Live { .. }
    ));
    drop(writer);
    assert!(matches!(
        reader.writer_state().unwrap(),
        WriterState::Gone { .. }
    ));
    assert!(
        !std::path::Path::new(&format!("/dev/shm/livekit-{name}")).exists(),
        "a dropped writer removes its name"
    );
    // The name is free again.
    drop(Writer::create(&name).unwrap());
}

#[test]
fn a_larger_frame_moves_readers_to_a_new_segment() {
    let name = unique("grow");
    let mut writer = Writer::create(&name).unwrap();
    let mut reader = Reader::new(&name).unwrap();
    let small = FrameLayout::new(64, 32, PixelFormat::Rgba8).unwrap();
    let large = FrameLayout::new(640, 360, PixelFormat::Nv12(ColorSpace::BT709_FULL)).unwrap();
    writer.publish(&pattern(small, 1)).unwrap();
    let Poll::Frame(first) = poll_until(&mut reader, Duration::from_secs(5)) else {
        panic!()
    };
    let recreated = writer.recreated();
    writer.publish(&pattern(large, 2)).unwrap();
    assert_eq!(writer.recreated(), recreated + 1);
    let Poll::Frame(second) = poll_until(&mut reader, Duration::from_secs(5)) else {
        panic!()
    };
    assert_ne!(first.generation, second.generation);
    assert_eq!(second.frame.data(), pattern(large, 2).data());
    // Smaller again: the slots are reused.
    writer.publish(&pattern(small, 3)).unwrap();
    assert_eq!(writer.recreated(), recreated + 1);
    let Poll::Frame(third) = poll_until(&mut reader, Duration::from_secs(5)) else {
        panic!()
    };
    assert_eq!(third.generation, second.generation);
    assert_eq!(third.frame.data(), pattern(small, 3).data());
}

#[test]
fn a_fast_writer_never_shows_a_torn_frame() {
    let name = unique("torn");
    let layout = FrameLayout::new(256, 128, PixelFormat::Rgba8).unwrap();
    const FRAMES: u64 = 3000;
    let mut writer = Writer::create(&name).unwrap();
    let mut reader = Reader::new(&name).unwrap();
    let _ = reader.poll().unwrap();
    assert!(writer.wait_for_reader(Duration::from_secs(5)));
    let frames: Vec<_> = (0..8).map(|n| pattern(layout, n)).collect();
    let producer = spawn_named("ipc-test-writer", move || {
        for n in 1..=FRAMES {
            // The pixels say which frame this is: pattern n % 8, pts n.
            let frame = frames[(n % 8) as usize]
                .clone()
                .with_pts(Duration::from_nanos(n));
            writer.publish(&frame).unwrap();
        }
        writer.end();
        writer
    })
    .unwrap();
    let expected: Vec<_> = (0..8).map(|n| pattern(layout, n)).collect();
    let mut seen = 0;
    let mut last = 0;
    loop {
        match poll_until(&mut reader, Duration::from_secs(10)) {
            Poll::Frame(got) => {
                let n = got.frame.pts().as_nanos() as u64;
                assert_eq!(n, got.sequence, "pts and sequence come from one frame");
                assert!(n > last);
                last = n;
                assert!(
                    got.frame.data() == expected[(n % 8) as usize].data(),
                    "frame {n} is torn"
                );
                seen += 1;
            }
            Poll::Ended => break,
            Poll::Nothing => panic!("the writer stalled"),
        }
    }
    let writer = producer.join().unwrap();
    assert_eq!(last, FRAMES, "the last frame arrives");
    let stats = reader.stats();
    assert_eq!(stats.received, seen);
    assert_eq!(stats.received + stats.skipped, FRAMES);
    drop(writer);
    eprintln!("fast writer: {stats:?}");
}
