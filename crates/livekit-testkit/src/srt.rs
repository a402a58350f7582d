//! An SRT listener (`srt-live-transmit` from Debian's `srt-tools`) that writes what it
//! receives to a file.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::netns::ImpairedLink;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::net::free_udp_port;
use crate::process::ChildGuard;

/// A real SRT listener on a UDP port of 127.0.0.1 that writes the stream it receives (MPEG-TS)
/// to [`output`](Self::output) and exits when the caller disconnects. Stopped when dropped.
#[derive(Debug)]
pub struct SrtListener {
    dir: tempfile::TempDir,
    port: u16,
    passphrase: Option<String>,
    /// How many times it was started (each run writes its own file).
    runs: usize,
    /// The address callers reach it on: 127.0.0.1, or a namespace's.
    host: Ipv4Addr,
    /// The network namespace it runs in, if not this one.
    netns: Option<String>,
    child: Option<ChildGuard>,
}

impl SrtListener {
    /// Starts a listener, with an encryption `passphrase` when given, and waits until its UDP
    /// port is open.
    pub fn start(passphrase: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory for srt-live-transmit");
        let mut listener = Self {
            dir,
            port: free_udp_port(),
            passphrase: passphrase.map(str::to_owned),
            runs: 0,
            host: Ipv4Addr::LOCALHOST,
            netns: None,
            child: None,
        };
        listener.launch();
        listener
    }

    /// Starts a listener inside `link`'s namespace, reached on its
    /// [`server_ip`](ImpairedLink::server_ip) through the (impairable) link.
    pub fn start_in(link: &ImpairedLink, passphrase: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory for srt-live-transmit");
        let mut listener = Self {
            dir,
            port: free_udp_port(),
            passphrase: passphrase.map(str::to_owned),
            runs: 0,
            host: link.server_ip(),
            netns: Some(link.namespace().to_owned()),
            child: None,
        };
        listener.launch();
        listener
    }

    fn launch(&mut self) {
        let port = self.port;
        let mut source = format!("srt://:{port}?mode=listener");
        if let Some(passphrase) = &self.passphrase {
            source.push_str(&format!("&passphrase={passphrase}"));
        }
        self.runs += 1;
        let output = std::fs::File::create(self.output()).expect("output file");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("srt.log"))
            .expect("log file");
        let mut command = match &self.netns {
            Some(ns) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", ns, "srt-live-transmit"]);
                command
            }
            None => Command::new("srt-live-transmit"),
        };
        let child = command
            .args(["-a:no", "-ll:note", &source, "file://con"])
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(log)
            .spawn()
            .expect("start srt-live-transmit (install srt-tools: ./dev setup)");
        let pid = child.id();
        let guard = ChildGuard::new("srt-live-transmit", child);
        let deadline = Instant::now() + Duration::from_secs(5);
        // The child's own view of the UDP table: its namespace's.
        while !udp_port_bound_in(port, &format!("/proc/{pid}/net")) {
            assert!(
                Instant::now() < deadline,
                "srt-live-transmit did not open UDP port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(guard);
    }

    /// Kills the listener (SIGKILL: the caller is not told) and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.stop_with("KILL", Duration::from_secs(5));
        }
    }

    /// Starts it again on the same port, writing to a new [`output`](Self::output) file (the
    /// earlier ones stay in [`outputs`](Self::outputs)).
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// The UDP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `srt://HOST:PORT` (HOST is 127.0.0.1 unless it runs in a namespace).
    pub fn url(&self) -> String {
        format!("srt://{}:{}", self.host, self.port)
    }

    /// The file the current (or last) run writes the received stream to.
    pub fn output(&self) -> PathBuf {
        self.run_output(self.runs)
    }

    /// Every run's file, first run first.
    pub fn outputs(&self) -> Vec<PathBuf> {
        (1..=self.runs).map(|run| self.run_output(run)).collect()
    }

    fn run_output(&self, run: usize) -> PathBuf {
        match run {
            0 | 1 => self.dir.path().join("received.ts"),
            n => self.dir.path().join(format!("received-{n}.ts")),
        }
    }

    /// What srt-live-transmit printed.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("srt.log")).unwrap_or_default()
    }

    /// Waits up to `timeout` for the listener to exit by itself (it does when the caller
    /// disconnects); stops it after that. Returns whether it exited by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while let Some(child) = self.child.as_mut() {
            if child.has_exited() {
                self.child = None;
                return true;
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(mut child) = self.child.take() {
            child.stop_with("INT", Duration::from_secs(2));
        }
        false
    }
}

/// A real SRT listener that serves a stream: MPEG-TS sent over UDP to
/// [`input_url`](Self::input_url) (by the ffmpeg CLI) goes out to the SRT caller that
/// connects to [`url`](Self::url) (`srt-live-transmit udp://:IN srt://:OUT?mode=listener`).
/// It serves one caller and exits when that caller leaves. Stopped when dropped.
#[derive(Debug)]
pub struct SrtRelay {
    dir: tempfile::TempDir,
    input_port: u16,
    port: u16,
    child: Option<ChildGuard>,
}

impl SrtRelay {
    /// Starts the relay and waits until both of its UDP ports are open.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory for srt-live-transmit");
        let input_port = free_udp_port();
        let mut port = free_udp_port();
        while port == input_port {
            port = free_udp_port();
        }
        let log = std::fs::File::create(dir.path().join("srt.log")).expect("log file");
        let child = Command::new("srt-live-transmit")
            .args(["-a:no", "-ll:note"])
            .arg(format!("udp://127.0.0.1:{input_port}"))
            .arg(format!("srt://:{port}?mode=listener"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start srt-live-transmit (install srt-tools: ./dev setup)");
        let guard = ChildGuard::new("srt-live-transmit", child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !(udp_port_bound(port) && udp_port_bound(input_port)) {
            assert!(
                Instant::now() < deadline,
                "srt-live-transmit did not open UDP ports {input_port} and {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            dir,
            input_port,
            port,
            child: Some(guard),
        }
    }

    /// Where to send MPEG-TS: `udp://127.0.0.1:IN?pkt_size=1316`.
    pub fn input_url(&self) -> String {
        format!("udp://127.0.0.1:{}?pkt_size=1316", self.input_port)
    }

    /// Where an SRT caller reads it: `srt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("srt://127.0.0.1:{}", self.port)
    }

    /// What srt-live-transmit printed.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("srt.log")).unwrap_or_default()
    }
}

impl Drop for SrtRelay {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.stop_with("INT", Duration::from_secs(2));
        }
    }
}

/// Whether something has UDP port `port` bound (from /proc/net/udp).
fn udp_port_bound(port: u16) -> bool {
    udp_port_bound_in(port, "/proc/net")
}

/// Whether UDP `port` is bound in the tables under `net` (`/proc/net`, or `/proc/PID/net` for
/// another process's namespace).
fn udp_port_bound_in(port: u16, net: &str) -> bool {
    let needle = format!(":{port:04X} ");
    ["udp", "udp6"].iter().any(|table| {
        std::fs::read_to_string(format!("{net}/{table}")).is_ok_and(|text| {
            text.lines().skip(1).any(|line| {
                line.split_whitespace()
                    .nth(1)
                    .is_some_and(|l| format!("{l} ").ends_with(&needle))
            })
        })
    })
}

impl Drop for SrtListener {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.stop_with("INT", Duration::from_secs(2));
        }
    }
}
