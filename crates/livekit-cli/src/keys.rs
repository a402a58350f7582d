//! Single keys on a terminal act on a running job: digits switch to scene N, `r` starts or
//! stops the recording, `p` pauses or resumes files and playlists, `n` skips to the next
//! playlist entry, `q` stops cleanly (like Ctrl-C), `?` lists the keys.
//!
//! Only when standard input is a terminal and the job runs in its foreground (a job started
//! with `&` leaves the terminal alone: setting it from the background would stop the job with
//! SIGTTOU): it is put in non-canonical mode without echo (Ctrl-C still sends SIGINT) and
//! restored when the job ends, also when a second Ctrl-C ends it at once
//! ([`restore_terminal`]). A thread (`livekit.keys`) reads it while the job is in the
//! foreground (a read from the background would stop it with SIGTTIN) and hands the keys over a
//! small bounded queue (a key pressed while the queue is full is dropped).

use std::io::IsTerminal;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, bounded};
use livekit_core::thread::{Worker, spawn_named};
use parking_lot::Mutex;

/// The terminal's own settings while keys are read, for [`restore_terminal`].
static SAVED: Mutex<Option<libc::termios>> = Mutex::new(None);

/// Whether this process is in the foreground of the terminal `fd`.
fn in_foreground(fd: libc::c_int) -> bool {
    // SAFETY: plain queries of a descriptor and of this process.
    unsafe { libc::tcgetpgrp(fd) == libc::getpgrp() }
}

/// Sets the terminal's settings, also from the background (SIGTTOU blocked meanwhile on this
/// thread, so the call is allowed instead of stopping the process).
fn set_terminal(fd: libc::c_int, settings: &libc::termios) -> bool {
    // SAFETY: a signal set made empty then filled with one signal; the thread's mask is put
    // back as it was; tcsetattr gets a valid descriptor and termios.
    unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        libc::sigaddset(&mut block, libc::SIGTTOU);
        libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old);
        let done = libc::tcsetattr(fd, libc::TCSANOW, settings) == 0;
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        done
    }
}

/// Puts the terminal back as it was before keys were read (for an exit that skips the
/// [`Keys`]' drop: a second Ctrl-C). Does nothing when keys were not read.
pub fn restore_terminal() {
    if let Some(saved) = SAVED.lock().take() {
        set_terminal(std::io::stdin().as_raw_fd(), &saved);
    }
}

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
        if !in_foreground(fd) {
            return None;
        }
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
        if !set_terminal(fd, &raw) {
            return None;
        }
        *SAVED.lock() = Some(saved);
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
                    // Sent to the background meanwhile (Ctrl-Z, `bg`): not read there.
                    if !in_foreground(fd) {
                        std::thread::sleep(std::time::Duration::from_millis(100));
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
        SAVED.lock().take();
        set_terminal(std::io::stdin().as_raw_fd(), &self.saved);
    }
}
