use std::process::Child;
use std::time::{Duration, Instant};

/// A child process that is stopped (SIGTERM, then SIGKILL after 5 s) when dropped.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
    name: String,
}

impl ChildGuard {
    /// Guards `child`; `name` is used in panic messages.
    pub fn new(name: impl Into<String>, child: Child) -> Self {
        Self {
            child: Some(child),
            name: name.into(),
        }
    }

    /// The process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends `signal` (a name for `kill -s`, like `TERM`, `KILL`, `INT`).
    pub fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let _ = std::process::Command::new("kill")
                .args(["-s", signal, &child.id().to_string()])
                .status();
        }
    }

    /// Whether the process has exited.
    pub fn has_exited(&mut self) -> bool {
        match &mut self.child {
            Some(child) => !matches!(child.try_wait(), Ok(None)),
            None => true,
        }
    }

    /// Sends `signal` and waits up to `timeout` for the exit (SIGKILL after that); returns the
    /// exit status when there was one.
    pub fn stop_with(
        &mut self,
        signal: &str,
        timeout: Duration,
    ) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        if matches!(child.try_wait(), Ok(None)) {
            let _ = std::process::Command::new("kill")
                .args(["-s", signal, &child.id().to_string()])
                .status();
        }
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    eprintln!(
                        "testkit: {} did not stop on SIG{signal}; killing it",
                        self.name
                    );
                    let _ = child.kill();
                    return child.wait().ok();
                }
            }
        }
    }

    /// SIGTERM and wait (SIGKILL after 5 s).
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        self.stop_with("TERM", Duration::from_secs(5))
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// This process's resident memory in KiB (`VmRSS` of `/proc/self/status`).
pub fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .expect("/proc/self/status")
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// Threads of this process whose name starts with `prefix` (Linux cuts names at 15 bytes).
pub fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}
