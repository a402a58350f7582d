//! [`Interrupt`]: what FFmpeg's interrupt callback looks at, so that no blocking call (open,
//! read, seek, connect, write) outlives its deadline or a stop.

use std::ffi::{c_int, c_void};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ffmpeg_next::ffi;

/// The interrupt state of one FFmpeg context: a stop flag (shared with whoever stops the
/// work) and a deadline for the operation under way.
///
/// Arm it around each blocking call ([`arm`](Self::arm) then [`disarm`](Self::disarm)); the
/// callback FFmpeg polls ([`should_stop`](Self::should_stop)) answers true once the stop flag
/// is set or the deadline has passed, and the call returns `AVERROR_EXIT`, which
/// [`reason`](Self::reason) explains.
///
/// Give it to FFmpeg as a closure (`move || interrupt.should_stop()` with ffmpeg-next's
/// `input_with_interrupt*`) or as a raw callback ([`callback`](Self::callback)).
pub struct Interrupt {
    base: Instant,
    /// Nanoseconds since `base` after which the current operation is aborted; 0: none.
    deadline: AtomicU64,
    stop: Option<Arc<AtomicBool>>,
}

/// Why FFmpeg's call was interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterruptReason {
    /// The stop flag was set.
    Stopped,
    /// The operation's deadline passed.
    TimedOut,
}

impl Interrupt {
    /// An interrupt with no deadline, stopped when `stop` (if any) becomes true.
    pub fn new(stop: Option<Arc<AtomicBool>>) -> Self {
        Self {
            base: Instant::now(),
            deadline: AtomicU64::new(0),
            stop,
        }
    }

    /// The operation that starts now is aborted after `timeout`.
    pub fn arm(&self, timeout: Duration) {
        let at = self.base.elapsed().saturating_add(timeout);
        // Never 0 (that is "no deadline").
        let nanos = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX) | 1;
        self.deadline.store(nanos, Ordering::Relaxed);
    }

    /// No deadline (while nobody waits on the context).
    pub fn disarm(&self) {
        self.deadline.store(0, Ordering::Relaxed);
    }

    /// Aborts the current operation (and any later one until re-armed) now, without setting
    /// the stop flag.
    pub fn abort_now(&self) {
        self.deadline.store(1, Ordering::Relaxed);
    }

    /// Whether the stop flag is set.
    pub fn stopped(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
    }

    /// What the callback answers: stop now (the flag is set or the deadline passed).
    pub fn should_stop(&self) -> bool {
        if self.stopped() {
            return true;
        }
        let deadline = self.deadline.load(Ordering::Relaxed);
        deadline != 0
            && u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX) > deadline
    }

    /// Why an FFmpeg call that returned `code` was interrupted; `None` when it was not
    /// (`code` is not `AVERROR_EXIT`).
    pub fn reason(&self, code: c_int) -> Option<InterruptReason> {
        if code != ffi::AVERROR_EXIT {
            return None;
        }
        Some(if self.stopped() {
            InterruptReason::Stopped
        } else {
            InterruptReason::TimedOut
        })
    }

    /// FFmpeg's raw callback, pointing at `self`: for a context made with FFmpeg's own calls
    /// (`(*ctx).interrupt_callback = interrupt.callback()`). `self` must stay where it is (boxed
    /// or in an `Arc`) and outlive every context that holds the callback.
    pub fn callback(&self) -> ffi::AVIOInterruptCB {
        ffi::AVIOInterruptCB {
            callback: Some(interrupt_callback),
            opaque: self as *const Self as *mut c_void,
        }
    }
}

impl fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interrupt")
            .field("stopped", &self.stopped())
            .field("armed", &(self.deadline.load(Ordering::Relaxed) != 0))
            .finish()
    }
}

unsafe extern "C" fn interrupt_callback(opaque: *mut c_void) -> c_int {
    // SAFETY: `opaque` is the `Interrupt` given to `callback`, which its caller keeps alive
    // while the context that calls this exists.
    let interrupt = unsafe { &*(opaque as *const Interrupt) };
    c_int::from(interrupt.should_stop())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_and_stops() {
        let stop = Arc::new(AtomicBool::new(false));
        let interrupt = Interrupt::new(Some(stop.clone()));
        assert!(!interrupt.should_stop());
        interrupt.arm(Duration::from_secs(60));
        assert!(!interrupt.should_stop());
        interrupt.arm(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(2));
        assert!(interrupt.should_stop());
        assert_eq!(
            interrupt.reason(ffi::AVERROR_EXIT),
            Some(InterruptReason::TimedOut)
        );
        interrupt.disarm();
        assert!(!interrupt.should_stop());
        interrupt.abort_now();
        assert!(interrupt.should_stop());
        interrupt.disarm();
        stop.store(true, Ordering::Relaxed);
        assert!(interrupt.should_stop());
        assert_eq!(
            interrupt.reason(ffi::AVERROR_EXIT),
            Some(InterruptReason::Stopped)
        );
        assert_eq!(interrupt.reason(ffi::AVERROR_EOF), None);
    }

    #[test]
    fn the_raw_callback_reads_the_state() {
        let interrupt = Box::new(Interrupt::new(None));
        let callback = interrupt.callback();
        let call = callback.callback.expect("set");
        // SAFETY: the opaque pointer is the boxed interrupt, alive here.
        assert_eq!(unsafe { call(callback.opaque) }, 0);
        interrupt.abort_now();
        // SAFETY: as above.
        assert_eq!(unsafe { call(callback.opaque) }, 1);
    }
}
