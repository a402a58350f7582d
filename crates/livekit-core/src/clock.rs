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
