//! A network namespace behind a veth pair whose link can be made bad: packets lost, delayed
//! with jitter, squeezed through a rate cap, or all lost (a dead link), for servers that should
//! sit on a bad network.
//!
//! Loss and delay are applied in user space: every packet into and out of the namespace goes
//! through an NFQUEUE (iptables, in the namespace) to a thread here that holds its verdict for
//! the delay or drops it. That needs only netfilter's queue, which kernels without `tc netem`
//! (this project's CI machines) still have. The rate cap is a `tc` token bucket (`tbf`) on the
//! way in.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the link does to packets. Loss and delay apply each way; the rate cap applies on the
/// way to the namespace (the uplink of a sender on this side).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Impairment {
    /// Share of packets lost each way, 0.0 (none) to 1.0 (a dead link).
    pub loss: f64,
    /// Added one-way delay: a round trip takes twice this.
    pub delay: Duration,
    /// Each packet's delay varies uniformly by up to this much either side of `delay`;
    /// packets are not reordered.
    pub jitter: Duration,
    /// The most the link carries to the namespace, in kbit/s.
    pub rate_kbit: Option<u32>,
}

/// A network namespace of its own, joined to this one by a veth pair on a private /30 of
/// 198.18.0.0/15 (the benchmarking range, never routed): this side is
/// [`host_ip`](Self::host_ip), the namespace's side [`server_ip`](Self::server_ip). Servers
/// started in it ([`command`](Self::command), `NginxRtmp::start_in`, `SrtListener::start_in`)
/// are reached through the link, which [`impair`](Self::impair) and [`cut`](Self::cut) make
/// bad. Needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN), iproute2 and iptables; removed when
/// dropped.
#[derive(Debug)]
pub struct ImpairedLink {
    ns: String,
    host_if: String,
    ns_if: String,
    host_ip: Ipv4Addr,
    server_ip: Ipv4Addr,
    /// What the queue threads apply now.
    impairment: Arc<Mutex<Impairment>>,
    /// Packets the queue threads dropped (both ways).
    dropped: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn run(what: &str, command: &mut Command) -> Result<(), String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ip(args: &[&str]) -> Command {
    let mut command = Command::new("ip");
    command.args(args);
    command
}

/// The NFQUEUE numbers (per namespace): packets to the namespace's servers, and from them.
const QUEUE_IN: u16 = 0;
const QUEUE_OUT: u16 = 1;

impl ImpairedLink {
    /// Makes the namespace and the link, unimpaired. `Err` says why it cannot be made here
    /// (not root, no iproute2 or iptables, no netfilter queue): a test prints it and skips.
    pub fn create() -> Result<Self, String> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let tag = format!("{}{n}", pid % 100_000);
        // One /30 per link: pid and counter pick it, so parallel test processes differ.
        let index = (pid.wrapping_mul(4).wrapping_add(n)) % (1 << 15);
        let base = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + index * 4;
        let mut link = Self {
            ns: format!("livekit-test-{tag}"),
            host_if: format!("lkh{tag}"),
            ns_if: format!("lkn{tag}"),
            host_ip: Ipv4Addr::from(base + 1),
            server_ip: Ipv4Addr::from(base + 2),
            impairment: Arc::default(),
            dropped: Arc::default(),
            stop: Arc::default(),
            threads: Vec::new(),
        };
        // On an error, dropping `link` removes what was made.
        link.build()?;
        Ok(link)
    }

    fn build(&mut self) -> Result<(), String> {
        let (ns, host_if, ns_if) = (&self.ns, &self.host_if, &self.ns_if);
        run("ip netns add", &mut ip(&["netns", "add", ns]))?;
        run(
            "ip link add veth",
            &mut ip(&[
                "link", "add", host_if, "type", "veth", "peer", "name", ns_if, "netns", ns,
            ]),
        )?;
        run(
            "ip addr add",
            &mut ip(&[
                "addr",
                "add",
                &format!("{}/30", self.host_ip),
                "dev",
                host_if,
            ]),
        )?;
        run("ip link set up", &mut ip(&["link", "set", host_if, "up"]))?;
        let in_ns = |program: &str, args: &[&str]| {
            let mut command = ip(&["netns", "exec", ns, program]);
            command.args(args);
            command
        };
        run(
            "ip addr add (namespace)",
            &mut in_ns(
                "ip",
                &[
                    "addr",
                    "add",
                    &format!("{}/30", self.server_ip),
                    "dev",
                    ns_if,
                ],
            ),
        )?;
        run(
            "ip link set up (namespace)",
            &mut in_ns("ip", &["link", "set", ns_if, "up"]),
        )?;
        run(
            "ip link set lo up",
            &mut in_ns("ip", &["link", "set", "lo", "up"]),
        )?;
        // Everything crossing the link goes through a queue thread.
        for (chain, direction, queue) in [("INPUT", "-i", QUEUE_IN), ("OUTPUT", "-o", QUEUE_OUT)] {
            run(
                "iptables NFQUEUE (install iptables: ./dev setup)",
                &mut in_ns(
                    "iptables",
                    &[
                        "-A",
                        chain,
                        direction,
                        ns_if,
                        "-j",
                        "NFQUEUE",
                        "--queue-num",
                        &queue.to_string(),
                    ],
                ),
            )?;
        }
        for (queue, name) in [(QUEUE_IN, "netns-queue-in"), (QUEUE_OUT, "netns-queue-out")] {
            let thread = self.start_queue(queue, name)?;
            self.threads.push(thread);
        }
        Ok(())
    }

    /// Starts the thread that serves `queue` from inside the namespace; returns once it is
    /// bound (or why it could not be).
    fn start_queue(&self, queue: u16, name: &str) -> Result<JoinHandle<()>, String> {
        let netns = std::fs::File::open(format!("/run/netns/{}", self.ns))
            .map_err(|e| format!("/run/netns/{}: {e}", self.ns))?;
        let impairment = self.impairment.clone();
        let dropped = self.dropped.clone();
        let stop = self.stop.clone();
        let (ready_tx, ready) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                // SAFETY: setns on an open namespace file; it moves only this thread.
                if unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    let error = std::io::Error::last_os_error();
                    let _ = ready_tx.send(Err(format!("setns: {error}")));
                    return;
                }
                let opened = nfq::Queue::open().and_then(|mut q| {
                    q.bind(queue)?;
                    q.set_nonblocking(true);
                    Ok(q)
                });
                match opened {
                    Ok(q) => {
                        let _ = ready_tx.send(Ok(()));
                        serve_queue(q, &impairment, &dropped, &stop);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("netfilter queue {queue}: {e}")));
                    }
                }
            })
            .map_err(|e| format!("thread {name}: {e}"))?;
        match ready.recv() {
            Ok(Ok(())) => Ok(thread),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!("thread {name} ended")),
        }
    }

    /// The namespace's name.
    pub fn namespace(&self) -> &str {
        &self.ns
    }

    /// This side's address.
    pub fn host_ip(&self) -> Ipv4Addr {
        self.host_ip
    }

    /// The address servers in the namespace listen on.
    pub fn server_ip(&self) -> Ipv4Addr {
        self.server_ip
    }

    /// `program` to be run inside the namespace (`ip netns exec NS program`; the child's pid
    /// is the program's).
    pub fn command(&self, program: &str) -> Command {
        let mut command = ip(&["netns", "exec", &self.ns, program]);
        command.stdin(Stdio::null());
        command
    }

    /// Makes the link do `impairment` from now on (replacing what it did).
    pub fn impair(&self, impairment: Impairment) -> Result<(), String> {
        match impairment.rate_kbit {
            Some(kbit) => {
                // A bucket of a few packets: the link never bursts far over its rate.
                let mut tc = Command::new("tc");
                tc.args(["qdisc", "replace", "dev", &self.host_if, "root", "tbf"])
                    .args(["rate", &format!("{kbit}kbit"), "burst", "16kb"])
                    .args(["latency", "500ms"]);
                run("tc qdisc replace tbf", &mut tc)?;
            }
            None => {
                let mut tc = Command::new("tc");
                tc.args(["qdisc", "del", "dev", &self.host_if, "root"]);
                // No qdisc of ours is fine.
                let _ = run("tc qdisc del", &mut tc);
            }
        }
        *self.impairment.lock().unwrap_or_else(|e| e.into_inner()) = impairment;
        Ok(())
    }

    /// A dead link: every packet lost, both ways (the interfaces stay up, as when a route
    /// somewhere beyond them fails).
    pub fn cut(&self) {
        self.impair(Impairment {
            loss: 1.0,
            ..Impairment::default()
        })
        .expect("cut the link");
    }

    /// Removes every impairment.
    pub fn clear(&self) {
        self.impair(Impairment::default()).expect("clear the link");
    }

    /// How many packets the link has lost so far (both ways): a test's proof that it was
    /// lossy.
    pub fn dropped_packets(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Serves one queue until `stop`: each packet is dropped (loss) or held for its delay and then
/// accepted, in order.
fn serve_queue(
    mut queue: nfq::Queue,
    impairment: &Mutex<Impairment>,
    dropped: &AtomicU64,
    stop: &AtomicBool,
) {
    let mut held: VecDeque<(Instant, nfq::Message)> = VecDeque::new();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        while held.front().is_some_and(|(due, _)| *due <= now) {
            if let Some((_, message)) = held.pop_front()
                && queue.verdict(message).is_err()
            {
                return;
            }
        }
        match queue.recv() {
            Ok(mut message) => {
                let now_impairment = *impairment.lock().unwrap_or_else(|e| e.into_inner());
                if now_impairment.loss > 0.0 && fastrand::f64() < now_impairment.loss {
                    message.set_verdict(nfq::Verdict::Drop);
                    dropped.fetch_add(1, Ordering::Relaxed);
                    if queue.verdict(message).is_err() {
                        return;
                    }
                    continue;
                }
                message.set_verdict(nfq::Verdict::Accept);
                let jitter = now_impairment.jitter.as_secs_f64();
                let delay = (now_impairment.delay.as_secs_f64()
                    + (fastrand::f64() * 2.0 - 1.0) * jitter)
                    .max(0.0);
                let mut due = Instant::now() + Duration::from_secs_f64(delay);
                // Never before the packet ahead of it: jitter without reordering.
                if let Some((last, _)) = held.back() {
                    due = due.max(*last);
                }
                if due <= Instant::now() && held.is_empty() {
                    if queue.verdict(message).is_err() {
                        return;
                    }
                } else {
                    held.push_back((due, message));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
    // Whatever is still held goes on: the namespace is being removed anyway.
    for (_, message) in held {
        let _ = queue.verdict(message);
    }
}

impl Drop for ImpairedLink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        // Deleting the namespace deletes its end of the veth pair, and with it this end.
        let _ = run("ip netns del", &mut ip(&["netns", "del", &self.ns]));
        let _ = run("ip link del", &mut ip(&["link", "del", &self.host_if]));
    }
}
