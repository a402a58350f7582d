//! Clocks: the time base that paces sources and runners. Tests use [`ManualClock`] and step it
//! instead of sleeping.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// A monotonic time base, counted from the clock's own origin.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Time since the clock's origin.
    fn now(&self) -> Duration;

    /// Waits until [`now`](Self::now) reaches `deadline`, but for at most `timeout` of real
    /// time (so a waiting thread can check whether it should stop). Returns whether the
    /// deadline was reached.
    fn wait_until(&self, deadline: Duration, timeout: Duration) -> bool;
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Duration {
        (**self).now()
    }
    fn wait_until(&self, deadline: Duration, timeout: Duration) -> bool {
        (**self).wait_until(deadline, timeout)
    }
}

/// The machine's monotonic clock, with its origin when it was made.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn wait_until(&self, deadline: Duration, timeout: Duration) -> bool {
        let now = self.now();
        let left = deadline.saturating_sub(now);
        std::thread::sleep(left.min(timeout));
        left <= timeout
    }
}

#[derive(Debug, Default)]
struct ManualShared {
    now: Mutex<Duration>,
    moved: Condvar,
}

/// A clock that moves only when told to, for tests. Cheap to clone: clones are the same clock.
/// Threads waiting on it wake when it is advanced.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    shared: Arc<ManualShared>,
}

impl ManualClock {
    /// A clock at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `step`.
    pub fn advance(&self, step: Duration) {
        *self.shared.now.lock() += step;
        self.shared.moved.notify_all();
    }

    /// Sets the clock to `now`; a time earlier than the current one is ignored (clocks are
    /// monotonic).
    pub fn set(&self, now: Duration) {
        let mut current = self.shared.now.lock();
        if now > *current {
            *current = now;
        }
        drop(current);
        self.shared.moved.notify_all();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        *self.shared.now.lock()
    }

    fn wait_until(&self, deadline: Duration, timeout: Duration) -> bool {
        let real_deadline = Instant::now().checked_add(timeout);
        let mut now = self.shared.now.lock();
        while *now < deadline {
            match real_deadline {
                Some(real) => {
                    if self.shared.moved.wait_until(&mut now, real).timed_out() {
                        return *now >= deadline;
                    }
                }
                None => self.shared.moved.wait(&mut now),
            }
        }
        true
    }
}

/// Another clock sped up or slowed down: `rate` 2.0 runs twice as fast as `inner`, 0.5 at
/// half its speed. A player paced on it reads its input at that multiple of real time (like
/// `ffmpeg -readrate`).
#[derive(Debug, Clone)]
pub struct ScaledClock<C> {
    inner: C,
    rate: f64,
}

impl<C: Clock> ScaledClock<C> {
    /// `inner` at `rate` times its speed.
    ///
    /// # Panics
    /// When `rate` is not a finite number above zero.
    pub fn new(inner: C, rate: f64) -> Self {
        assert!(
            rate.is_finite() && rate > 0.0,
            "a clock's rate must be a finite number above 0, not {rate}"
        );
        Self { inner, rate }
    }

    /// How many times as fast as the inner clock this one runs.
    pub fn rate(&self) -> f64 {
        self.rate
    }
}

impl<C: Clock> Clock for ScaledClock<C> {
    fn now(&self) -> Duration {
        self.inner.now().mul_f64(self.rate)
    }

    fn wait_until(&self, deadline: Duration, timeout: Duration) -> bool {
        self.inner.wait_until(deadline.div_f64(self.rate), timeout);
        // Rounding may leave `now` a nanosecond short: the caller then waits once more.
        self.now() >= deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scaled_clock_runs_at_its_rate_of_the_inner_one() {
        let inner = ManualClock::new();
        let fast = ScaledClock::new(inner.clone(), 2.0);
        let slow = ScaledClock::new(inner.clone(), 0.25);
        inner.advance(Duration::from_secs(3));
        assert_eq!(fast.now(), Duration::from_secs(6));
        assert_eq!(slow.now(), Duration::from_millis(750));
        assert_eq!(fast.rate(), 2.0);
    }

    #[test]
    fn waiting_on_a_scaled_clock_ends_when_its_own_time_comes() {
        let inner = ManualClock::new();
        let slow = ScaledClock::new(inner.clone(), 0.5);
        // 1 s of the slow clock is 2 s of the inner one: not reached at 1.5 s.
        inner.advance(Duration::from_millis(1500));
        assert!(!slow.wait_until(Duration::from_secs(1), Duration::from_millis(10)));
        let waiter = {
            let slow = slow.clone();
            crate::thread::spawn_named("clock-test", move || {
                slow.wait_until(Duration::from_secs(1), Duration::from_secs(30))
            })
            .unwrap()
        };
        inner.advance(Duration::from_millis(500));
        assert!(waiter.join().unwrap());
        assert!(slow.now() >= Duration::from_secs(1));
    }

    #[test]
    #[should_panic(expected = "a clock's rate must be a finite number above 0, not 0")]
    fn a_clock_cannot_stop() {
        let _ = ScaledClock::new(SystemClock::new(), 0.0);
    }
}
