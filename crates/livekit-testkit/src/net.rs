//! Ports on 127.0.0.1.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// A UDP port on 127.0.0.1 that was free a moment ago (for SRT).
pub fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind udp 127.0.0.1:0");
    socket.local_addr().expect("local address").port()
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`; false on time-out.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    wait_for_addr(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), timeout)
}

/// Waits until something accepts TCP connections on `addr`; false on time-out.
pub fn wait_for_addr(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
