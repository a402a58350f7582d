//! Single keys on a terminal act on a running job: digits switch to scene N, `r` starts or
//! stops the recording, `p` pauses or resumes files and playlists, `n` skips to the next
//! playlist entry, `q` stops cleanly (like Ctrl-C), `?` lists the keys.
//!
//! Only when standard input is a terminal: it is put in non-canonical mode without echo (Ctrl-C
//! still sends SIGINT) and restored when the job ends. A thread (`livekit.keys`) reads it and
//! hands the keys over a small bounded queue (a key pressed while the queue is full is
//! dropped).

use std::io::IsTerminal;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, bounded};
use livekit_core::thread::{Worker, spawn_named};

/// A key and what it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// `1` to `9`: switch to that scene (in the scene file's order).
    Scene(usize),
    /// `r`: start or stop the recording.
    Record,
    /// `p`: pause or resume.
    Pause,
    /// `n`: the next playlist entry.
    Next,
    /// `q`: stop cleanly.
    Quit,
    /// `?` (or `h`): list the keys.
    Help,
}

impl Key {
    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            b'1'..=b'9' => Some(Self::Scene(usize::from(byte - b'0'))),
            b'r' | b'R' => Some(Self::Record),
            b'p' | b'P' | b' ' => Some(Self::Pause),
            b'n' | b'N' => Some(Self::Next),
            b'q' | b'Q' => Some(Self::Quit),
            b'?' | b'h' | b'H' => Some(Self::Help),
            _ => None,
        }
    }
}

/// The keys a job understands, for its `?` list, as `(key, what it does)`.
pub type KeyHelp = &'static [(&'static str, &'static str)];

/// The keys a job understands, in one line (`keys: 1-9 scene, r record, ...`).
pub fn help_line(help: KeyHelp) -> String {
    let list: Vec<String> = help
        .iter()
        .map(|(key, what)| format!("{key} {what}"))
        .collect();
    format!("keys: {}", list.join(", "))
}

/// Reads keys from the terminal while it lives.
pub struct Keys {
    keys: Receiver<Key>,
    stop: Arc<AtomicBool>,
    worker: Option<Worker<()>>,
    saved: libc::termios,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").finish_non_exhaustive()
    }
}

impl Keys {
    /// Starts reading single keys, if standard input is a terminal (`None` otherwise, or if
    /// the terminal cannot be set up).
    pub fn start() -> Option<Self> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let fd = stdin.as_raw_fd();
        // SAFETY: tcgetattr fills a termios for a valid descriptor; a zeroed termios is a
        // valid value to be overwritten.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return None;
        }
        let mut raw = saved;
        // Keys one by one, not echoed; signals (Ctrl-C) kept.
        raw.c_lflag &= !(libc::ICANON | libc::ECHO);
        raw.c_cc[libc::VMIN] = 1;
        raw.c_cc[libc::VTIME] = 0;
        // SAFETY: a valid descriptor and a termios made from the terminal's own.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return None;
        }
        let (tx, rx) = bounded(16);
        let stop = Arc::new(AtomicBool::new(false));
        let worker = {
            let stop = Arc::clone(&stop);
            spawn_named("livekit.keys", move || {
                while !stop.load(Ordering::Relaxed) {
                    let mut poll = libc::pollfd {
                        fd,
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    // SAFETY: one valid pollfd; waits at most 100 ms.
                    let ready = unsafe { libc::poll(&mut poll, 1, 100) };
                    if ready <= 0 {
                        continue;
                    }
                    let mut byte = 0u8;
                    // SAFETY: reads at most one byte into a valid buffer.
                    let read = unsafe { libc::read(fd, (&raw mut byte).cast(), 1) };
                    if read <= 0 {
                        // End of input (the terminal went away): no more keys.
                        break;
                    }
                    if let Some(key) = Key::from_byte(byte) {
                        let _ = tx.try_send(key);
                    }
                }
            })
            .ok()?
        };
        Some(Self {
            keys: rx,
            stop,
            worker: Some(worker),
            saved,
        })
    }

    /// The next key pressed, if any (never waits).
    pub fn next(&self) -> Option<Key> {
        self.keys.try_recv().ok()
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
        let fd = std::io::stdin().as_raw_fd();
        // SAFETY: restores the terminal's own settings, read at the start.
        unsafe {
            libc::tcsetattr(fd, libc::TCSANOW, &self.saved);
        }
    }
}
