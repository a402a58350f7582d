//! Clocks, named workers and pipes.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::time::{Duration, Instant};

use livekit_core::thread::{SpawnError, spawn_worker};
use livekit_core::{
    Clock, FrameSource, FrameTarget, ManualClock, PipeEnd, Port, Pull, SystemClock, pipe,
};

#[test]
fn manual_clock_wakes_waiters_when_advanced() {
    let clock = ManualClock::new();
    let waiter = {
        let clock = clock.clone();
        spawn_worker(
            "waiter",
            || Ok::<_, ()>(()),
            move |()| {
                let reached = clock.wait_until(Duration::from_secs(3600), Duration::from_secs(30));
                (reached, clock.now())
            },
        )
        .unwrap()
    };
    std::thread::sleep(Duration::from_millis(30));
    assert!(!waiter.is_finished());
    clock.advance(Duration::from_secs(1800));
    std::thread::sleep(Duration::from_millis(30));
    assert!(!waiter.is_finished(), "half way is not there yet");
    clock.set(Duration::from_secs(3600));
    assert_eq!(waiter.join().unwrap(), (true, Duration::from_secs(3600)));
    clock.set(Duration::from_secs(1)); // never goes back
    assert_eq!(clock.now(), Duration::from_secs(3600));
    // A wait that is not reached times out in real time and says so.
    let started = Instant::now();
    assert!(!clock.wait_until(Duration::from_secs(7200), Duration::from_millis(20)));
    assert!(started.elapsed() >= Duration::from_millis(20));
}

#[test]
fn system_clock_waits_for_real() {
    let clock = SystemClock::new();
    assert!(clock.wait_until(Duration::from_millis(20), Duration::from_secs(1)));
    assert!(clock.now() >= Duration::from_millis(20));
    assert!(!clock.wait_until(Duration::from_secs(60), Duration::from_millis(5)));
}

#[test]
fn workers_are_named_and_report_start_up() {
    let worker = spawn_worker(
        "lk-named",
        || Ok::<_, std::io::Error>(std::thread::current().name().map(str::to_owned)),
        |start_name| (start_name, std::thread::current().name().map(str::to_owned)),
    )
    .unwrap();
    assert_eq!(worker.name(), "lk-named");
    let (a, b) = worker.join().unwrap();
    assert_eq!(
        (a.as_deref(), b.as_deref()),
        (Some("lk-named"), Some("lk-named"))
    );

    let err = spawn_worker(
        "lk-open",
        || std::fs::File::open("/nonexistent/camera0"),
        |_| (),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "thread lk-open failed to start");
    assert!(
        matches!(&err, SpawnError::Start { name, source } if name == "lk-open" && source.kind() == std::io::ErrorKind::NotFound)
    );

    let err =
        spawn_worker("lk-panic", || -> Result<(), ()> { panic!("boom") }, |()| ()).unwrap_err();
    assert!(matches!(err, SpawnError::Panicked { name } if name == "lk-panic"));

    let panicked = spawn_worker("lk-late", || Ok::<_, ()>(()), |()| panic!("late")).unwrap();
    assert_eq!(
        panicked.join().unwrap_err().to_string(),
        "thread lk-late panicked"
    );
}

#[test]
fn pipe_moves_everything_and_passes_end_of_stream_on() {
    let input = Port::<u64>::blocking(2);
    let output = Port::<u64>::blocking(2);
    let running = pipe("pipe-test", input.clone(), output.clone()).unwrap();
    let writer = spawn_worker("feeder", || Ok::<_, ()>(()), {
        let input = input.clone();
        move |()| {
            for i in 0..100 {
                input.push(i).unwrap();
            }
            input.end();
        }
    })
    .unwrap();
    let got: Vec<u64> =
        std::iter::from_fn(|| output.next(Duration::from_secs(10)).frame()).collect();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    assert_eq!(output.next(Duration::from_secs(1)), Pull::Ended);
    writer.join().unwrap();
    let report = running.join().unwrap();
    assert_eq!(report.frames, 100);
    assert!(matches!(report.end, PipeEnd::SourceEnded));
}

#[test]
fn pipe_stops_on_request_and_when_the_target_closes() {
    let input = Port::<u64>::latest();
    let output = Port::<u64>::latest();
    let running = pipe("pipe-stop", input.clone(), output.clone()).unwrap();
    input.push(7).unwrap();
    assert_eq!(output.next(Duration::from_secs(10)), Pull::Frame(7));
    let report = running.stop().unwrap();
    assert!(matches!(report.end, PipeEnd::Stopped));
    assert!(
        output.next(Duration::from_secs(1)).is_ended(),
        "stopping ends the target"
    );

    let input = Port::<u64>::blocking(4);
    let output = Port::<u64>::blocking(1);
    let running = pipe("pipe-close", input.clone(), output.clone()).unwrap();
    output.close();
    input.push(1).unwrap();
    let report = running.join().unwrap();
    assert!(matches!(
        report.end,
        PipeEnd::Target(livekit_core::PushError::Closed)
    ));
}
