//! IPC between two real processes: this test binary runs itself as the writer (the test
//! `writer_process`, told what to do through environment variables) and reads in the test's
//! own process, comparing every frame bit for bit with the frame the writer made.
//!
//! A lock-step writer reads one line from its stdin before each frame, so the reader sees every
//! frame of a plan whatever the machine's load; the other writers run free.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::io::{BufRead, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use livekit::ipc::{IpcError, WriterState};
use livekit::sinks::IpcTarget;
use livekit::sources::{IpcSource, IpcSourceSettings, RecvIpcError};
use livekit::{
    ColorSpace, FrameLayout, FrameSource, FrameTarget, PixelFormat, Pull, VideoFrame, VideoFrameMut,
};

const PLAN: &str = "LIVEKIT_IPC_TEST_PLAN";
const NAME: &str = "LIVEKIT_IPC_TEST_NAME";
const WAIT: Duration = Duration::from_secs(10);

/// Frame `sequence` of writer `tag`: every byte depends on both and on its position, so a
/// frame made of two writes, or from the other writer, cannot match.
fn pattern(layout: FrameLayout, sequence: u64, tag: u8) -> VideoFrame {
    let mut frame = VideoFrameMut::new(layout, Duration::from_millis(sequence * 40));
    let seed = (sequence as u32).wrapping_mul(2_654_435_761) ^ u32::from(tag) << 24;
    for (i, chunk) in frame.data_mut_all().chunks_mut(4).enumerate() {
        let word = seed.wrapping_add(i as u32).to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
    frame.freeze()
}

/// The layout of frame `sequence` (from 1) in the size-change plan: sizes go up (new
/// segments) and down (slots reused), through every pixel format, padded strides included.
fn sizes_layout(sequence: u64) -> FrameLayout {
    match (sequence - 1) / 3 {
        0 => FrameLayout::new(160, 90, PixelFormat::Rgba8).unwrap(),
        1 => FrameLayout::new(1280, 720, PixelFormat::I420(ColorSpace::BT601_FULL)).unwrap(),
        2 => {
            FrameLayout::with_alignment(641, 361, PixelFormat::Nv12(ColorSpace::BT709_LIMITED), 64)
                .unwrap()
        }
        _ => FrameLayout::new(1920, 1080, PixelFormat::Bgra8).unwrap(),
    }
}
const SIZES_FRAMES: u64 = 12;

fn exact_layout() -> FrameLayout {
    FrameLayout::new(320, 180, PixelFormat::Rgba8).unwrap()
}
const EXACT_FRAMES: u64 = 20;

const FAST_FRAMES: u64 = 2000;
fn fast_layout() -> FrameLayout {
    FrameLayout::new(640, 360, PixelFormat::Rgba8).unwrap()
}

/// The writer side, started by the other tests as a second process (`--ignored`).
#[test]
#[ignore = "the writer process of the other tests; they start it"]
fn writer_process() {
    let plan = std::env::var(PLAN).expect("started by another test, with LIVEKIT_IPC_TEST_PLAN");
    let name = std::env::var(NAME).expect("started by another test, with LIVEKIT_IPC_TEST_NAME");
    let target = IpcTarget::create(&name).unwrap();
    let mut stdin = std::io::stdin().lock();
    let mut step = || {
        let mut line = String::new();
        stdin.read_line(&mut line).unwrap() > 0
    };
    match plan.as_str() {
        "exact" => {
            for n in 1..=EXACT_FRAMES {
                assert!(step());
                target.push(pattern(exact_layout(), n, 1)).unwrap();
            }
            target.end();
        }
        "sizes" => {
            for n in 1..=SIZES_FRAMES {
                assert!(step());
                target.push(pattern(sizes_layout(n), n, 1)).unwrap();
            }
            target.end();
        }
        "fast" => {
            assert!(target.wait_for_reader(WAIT));
            let frames: Vec<_> = (0..8).map(|k| pattern(fast_layout(), k, 1)).collect();
            for n in 1..=FAST_FRAMES {
                let frame = frames[(n % 8) as usize]
                    .clone()
                    .with_pts(Duration::from_nanos(n));
                target.push(frame).unwrap();
            }
            target.end();
            // Stay until the reader is done: the name goes away with this process.
            step();
        }
        forever => {
            // "forever-TAG": 100 frames a second until killed.
            let tag: u8 = forever.strip_prefix("forever-").unwrap().parse().unwrap();
            for n in 1.. {
                target.push(pattern(exact_layout(), n, tag)).unwrap();
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// A writer process; killed when dropped.
struct Writer(Child);

impl Writer {
    fn start(plan: &str, name: &str) -> Self {
        let child = Command::new(std::env::current_exe().unwrap())
            .args([
                "writer_process",
                "--exact",
                "--ignored",
                "--nocapture",
                "--quiet",
            ])
            .env(PLAN, plan)
            .env(NAME, name)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Self(child)
    }

    /// Lets a lock-step writer write its next frame.
    fn step(&mut self) {
        writeln!(self.0.stdin.as_mut().unwrap()).unwrap();
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Waits for the writer to finish; asserts it succeeded.
    fn finish(mut self) {
        drop(self.0.stdin.take());
        let status = self.0.wait().unwrap();
        assert!(status.success(), "the writer failed: {status}");
    }

    fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn unique(test: &str) -> String {
    format!("test-{}-{test}", std::process::id())
}

fn source(name: &str) -> IpcSource {
    IpcSource::open(name, IpcSourceSettings::default()).unwrap()
}

#[test]
fn frames_cross_processes_bit_for_bit() {
    let name = unique("exact");
    let source = source(&name);
    let mut writer = Writer::start("exact", &name);
    for n in 1..=EXACT_FRAMES {
        writer.step();
        let got = source.recv(WAIT).unwrap();
        assert_eq!(got.sequence, n);
        let expected = pattern(exact_layout(), n, 1);
        assert_eq!(got.frame.layout(), expected.layout());
        assert_eq!(got.frame.pts(), expected.pts());
        assert!(got.frame.data() == expected.data(), "frame {n} differs");
    }
    assert!(matches!(source.next(WAIT), Pull::Ended));
    let err = source.recv(WAIT).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("IPC {name:?}: the writer ended the stream")
    );
    writer.finish();
    let stats = source.stats();
    assert_eq!((stats.received, stats.skipped), (EXACT_FRAMES, 0));
}

#[test]
fn frame_size_and_format_change_mid_stream() {
    let name = unique("sizes");
    let source = source(&name);
    let mut writer = Writer::start("sizes", &name);
    let mut generations = Vec::new();
    for n in 1..=SIZES_FRAMES {
        writer.step();
        let got = source.recv(WAIT).unwrap();
        assert_eq!(got.sequence, n);
        let expected = pattern(sizes_layout(n), n, 1);
        assert_eq!(got.frame.layout(), expected.layout(), "frame {n}");
        assert_eq!(got.frame.format(), sizes_layout(n).format());
        assert!(got.frame.data() == expected.data(), "frame {n} differs");
        if generations.last() != Some(&got.generation) {
            generations.push(got.generation);
        }
    }
    assert!(matches!(source.next(WAIT), Pull::Ended));
    writer.finish();
    // A segment for the first frame, one for 720p I420, one for 1080p BGRA; the NV12 frames
    // fit the 720p slots.
    assert_eq!(generations.len(), 3, "{generations:?}");
}

#[test]
fn a_fast_writer_never_shows_a_torn_frame() {
    let name = unique("fast");
    let source = source(&name);
    let writer = Writer::start("fast", &name);
    let expected: Vec<_> = (0..8).map(|k| pattern(fast_layout(), k, 1)).collect();
    let mut last = 0;
    loop {
        match source.recv(WAIT) {
            Ok(got) => {
                let n = got.frame.pts().as_nanos() as u64;
                assert_eq!(n, got.sequence, "pts and sequence come from one frame");
                assert!(n > last, "frames come newest-first, never twice");
                last = n;
                assert!(
                    got.frame.data() == expected[(n % 8) as usize].data(),
                    "frame {n} is torn"
                );
            }
            Err(RecvIpcError::Ended { .. }) => break,
            Err(e) => panic!("{e}"),
        }
    }
    writer.finish();
    assert_eq!(last, FAST_FRAMES, "the last frame arrives");
    let stats = source.stats();
    assert_eq!(stats.received + stats.skipped, FAST_FRAMES);
    eprintln!("fast writer, 640x360 RGBA: {stats:?}");
}

#[test]
fn the_reader_follows_a_restarted_writer() {
    let name = unique("restart");
    let source = source(&name);
    let first = Writer::start("forever-1", &name);
    let first_pid = first.pid();
    let got = source.recv(WAIT).unwrap();
    assert!(got.frame.data() == pattern(exact_layout(), got.sequence, 1).data());
    let first_generation = got.generation;
    assert_eq!(
        source.writer_state().unwrap(),
        WriterState::Live {
            pid: first_pid,
            generation: first_generation
        }
    );

    // A second writer is refused while the first lives.
    let err = IpcTarget::create(&name).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("IPC {name:?}: another writer (pid {first_pid}) is using /dev/shm/livekit-{name}")
    );
    assert!(matches!(err, IpcError::InUse { .. }));

    first.kill();
    assert_eq!(
        source.writer_state().unwrap(),
        WriterState::Gone { pid: first_pid }
    );
    // Whatever it had published and we had not read yet may still come; then the reader says
    // the writer is gone.
    let err = loop {
        match source.recv(Duration::from_millis(200)) {
            Ok(got) => assert_eq!(got.generation, first_generation),
            Err(e) => break e,
        }
    };
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "IPC {name:?}: the writer (pid {first_pid}) is gone and no new writer came in 0."
        )),
        "{message}"
    );
    assert!(matches!(
        source.next(Duration::from_millis(50)),
        Pull::Pending
    ));

    let second = Writer::start("forever-2", &name);
    let deadline = Instant::now() + WAIT;
    let got = loop {
        let got = source.recv(WAIT).unwrap();
        if got.generation != first_generation {
            break got;
        }
        assert!(Instant::now() < deadline, "the reader never moved");
    };
    assert!(
        got.frame.data() == pattern(exact_layout(), got.sequence, 2).data(),
        "the frame is the new writer's"
    );
    assert!(matches!(
        source.writer_state().unwrap(),
        WriterState::Live { pid, .. } if pid == second.pid()
    ));
    // It keeps reading the new writer.
    let next = source.recv(WAIT).unwrap();
    assert!(next.sequence > got.sequence);
    assert!(next.frame.data() == pattern(exact_layout(), next.sequence, 2).data());
    second.kill();
    // A killed writer leaves its segment behind: clear it.
    livekit::ipc::remove_stale(&name).unwrap();
    assert!(!std::path::Path::new(&format!("/dev/shm/livekit-{name}")).exists());
}

#[test]
fn a_reader_without_a_writer_times_out_with_a_clear_error() {
    let name = unique("nobody");
    let source = source(&name);
    assert!(source.latest().is_pending());
    assert!(source.next(Duration::from_millis(100)).is_pending());
    assert_eq!(source.writer_state().unwrap(), WriterState::Absent);
    let started = Instant::now();
    let message = source
        .recv(Duration::from_millis(300))
        .unwrap_err()
        .to_string();
    assert!(started.elapsed() >= Duration::from_millis(300));
    let prefix = format!("IPC {name:?}: no writer (nothing at /dev/shm/livekit-{name}) after 0.");
    assert!(
        message.starts_with(&prefix) && message.ends_with(" s"),
        "{message}"
    );
}

#[test]
fn bad_names_are_refused_with_the_reason() {
    let target = |name: &str| IpcTarget::create(name).unwrap_err().to_string();
    let source = |name: &str| {
        IpcSource::open(name, IpcSourceSettings::default())
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        target("a/b"),
        "IPC name \"a/b\" is invalid: only ASCII letters, digits, '.', '_' and '-' may be used"
    );
    assert_eq!(source(""), "IPC name \"\" is invalid: it is empty");
    assert_eq!(
        target(".."),
        "IPC name \"..\" is invalid: it starts with '.'"
    );
    assert!(source(&"n".repeat(201)).ends_with("is invalid: it is longer than 200 characters"));
    // Not a livekit segment under our prefix: the reader says so instead of reading garbage.
    let name = unique("foreign");
    let path = format!("/dev/shm/livekit-{name}");
    std::fs::write(&path, vec![0x55; 8192]).unwrap();
    let reader = IpcSource::open(&name, IpcSourceSettings::default()).unwrap();
    let message = reader
        .recv(Duration::from_millis(100))
        .unwrap_err()
        .to_string();
    let _ = std::fs::remove_file(&path);
    assert_eq!(
        message,
        format!(
            "IPC {name:?}: /dev/shm/livekit-{name} is not a livekit IPC segment: it does not start with LIVEKIT"
        )
    );
}

#[test]
fn pushing_after_the_end_is_an_error() {
    let target = IpcTarget::create(&unique("after-end")).unwrap();
    target
        .push(VideoFrame::solid_rgba(8, 8, [1, 2, 3, 4], Duration::ZERO).unwrap())
        .unwrap();
    target.end();
    assert!(matches!(
        target.push(VideoFrame::solid_rgba(8, 8, [1, 2, 3, 4], Duration::ZERO).unwrap()),
        Err(livekit::PushError::Ended)
    ));
}

#[test]
fn a_source_that_outlives_the_writer_waits_for_the_next_one() {
    // Both ends in this process: what is checked is the source's settings, not the transport.
    let name = unique("outlive");
    let source = IpcSource::open(
        &name,
        IpcSourceSettings {
            end_with_writer: false,
        },
    )
    .unwrap();
    let first = IpcTarget::create(&name).unwrap();
    first.push(pattern(exact_layout(), 1, 1)).unwrap();
    let Pull::Frame(frame) = source.next(WAIT) else {
        panic!("no first frame")
    };
    assert!(frame.data() == pattern(exact_layout(), 1, 1).data());
    first.end();
    drop(first);
    assert!(
        source.next(Duration::from_millis(100)).is_pending(),
        "the end of one writer is not the end of the source"
    );
    let second = IpcTarget::create(&name).unwrap();
    second.push(pattern(exact_layout(), 1, 2)).unwrap();
    let Pull::Frame(frame) = source.next(WAIT) else {
        panic!("no frame from the second writer")
    };
    assert!(frame.data() == pattern(exact_layout(), 1, 2).data());
}
