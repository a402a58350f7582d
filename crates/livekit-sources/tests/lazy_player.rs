#![allow(clippy::unwrap_used)]
//! LazyPlayer: decodes on the reader's thread up to the reader's clock; seek; holds the last
//! frame at the end.

mod common;

use std::sync::Arc;
use std::time::Duration;

use livekit_core::{FrameSource, ManualClock, Pull};
use livekit_sources::{LazyPlayer, LazyPlayerSettings};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn frames_follow_the_readers_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clip = common::av_sync_clip(dir.path(), "lazy.mp4", 2, (160, 120), 25);
    let clock = ManualClock::new();
    let lazy = LazyPlayer::open(
        &clip,
        LazyPlayerSettings {
            clock: Arc::new(clock.clone()),
            ..LazyPlayerSettings::default()
        },
    )
    .unwrap();
    let pts = |pull: Pull<livekit_core::VideoFrame>| match pull {
        Pull::Frame(f) => Some(f.pts()),
        _ => None,
    };
    assert_eq!(pts(lazy.latest()), Some(ms(0)));
    assert_eq!(
        pts(lazy.latest()),
        None,
        "nothing new until the clock moves"
    );
    clock.advance(ms(30));
    assert_eq!(pts(lazy.latest()), None);
    clock.advance(ms(10));
    assert_eq!(pts(lazy.latest()), Some(ms(40)));
    // A jump: the frame for the new time, the ones in between skipped.
    clock.set(ms(1010));
    let flash = match lazy.latest() {
        Pull::Frame(f) => f,
        other => panic!("{other:?}"),
    };
    assert_eq!(flash.pts(), ms(1000));
    assert!(flash.row(0, 60)[80] > 200, "the flash frame");
    // Seek: the clock's time now stands for 0.5 s.
    lazy.seek(ms(500)).unwrap();
    assert_eq!(
        pts(lazy.latest()),
        Some(ms(480)),
        "the frame showing at 0.5 s"
    );
    clock.advance(ms(20));
    assert_eq!(pts(lazy.latest()), Some(ms(520)));
    // Past the end: the last frame, once, then it is held.
    clock.advance(Duration::from_secs(10));
    assert_eq!(pts(lazy.latest()), Some(ms(1960)));
    assert_eq!(pts(lazy.latest()), None);
    assert!(lazy.is_finished());
    assert_eq!(lazy.current().unwrap().pts(), ms(1960));
    assert!(matches!(lazy.next(Duration::ZERO), Pull::Ended));
}

#[test]
fn next_waits_for_each_frames_time() {
    let dir = tempfile::tempdir().unwrap();
    let clip = common::av_sync_clip(dir.path(), "lazy.mkv", 1, (64, 48), 25);
    let clock = ManualClock::new();
    let lazy = LazyPlayer::open(
        &clip,
        LazyPlayerSettings {
            clock: Arc::new(clock.clone()),
            ..LazyPlayerSettings::default()
        },
    )
    .unwrap();
    assert!(matches!(lazy.next(ms(10)), Pull::Frame(f) if f.pts() == ms(0)));
    assert!(
        matches!(lazy.next(ms(10)), Pull::Pending),
        "40 ms not reached"
    );
    let mut seen = 1;
    while seen < 25 {
        clock.advance(ms(40));
        match lazy.next(Duration::from_secs(5)) {
            Pull::Frame(f) => assert_eq!(f.pts(), ms(40 * seen)),
            other => panic!("{other:?}"),
        }
        seen += 1;
    }
    assert!(matches!(lazy.next(Duration::from_secs(5)), Pull::Ended));
    assert_eq!(lazy.duration().map(|d| d.as_millis() / 100), Some(10));
}
