//! nginx with the RTMP module as a child process.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::net::{free_port, wait_for_addr};
use crate::netns::ImpairedLink;
use crate::process::ChildGuard;

const MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

/// A real RTMP server on 127.0.0.1 (nginx + libnginx-mod-rtmp) that records every publish
/// (`record all`, one `<key>-<time>.flv` per publish under [`record_dir`](Self::record_dir)).
/// Its application `reject` refuses every publish (`on_publish` answered 403 by the same
/// nginx's HTTP side), as a platform refuses a wrong stream key: [`rejecting_url`](Self::rejecting_url).
/// Stopped when dropped.
#[derive(Debug)]
pub struct NginxRtmp {
    dir: tempfile::TempDir,
    port: u16,
    /// The HTTP port `on_publish` asks.
    http_port: u16,
    /// The address it listens on: 127.0.0.1, or a namespace's.
    host: Ipv4Addr,
    /// The network namespace it runs in, if not this one.
    netns: Option<String>,
    child: Option<ChildGuard>,
}

impl NginxRtmp {
    /// Starts a server on a free port and waits until it listens.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory for nginx");
        let mut server = Self {
            dir,
            port: free_port(),
            http_port: free_port(),
            host: Ipv4Addr::LOCALHOST,
            netns: None,
            child: None,
        };
        server.launch();
        server
    }

    /// Starts a server inside `link`'s namespace, listening on its
    /// [`server_ip`](ImpairedLink::server_ip): reached through the (impairable) link.
    pub fn start_in(link: &ImpairedLink) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory for nginx");
        let mut server = Self {
            dir,
            port: free_port(),
            http_port: free_port(),
            host: link.server_ip(),
            netns: Some(link.namespace().to_owned()),
            child: None,
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        assert!(
            Path::new(MODULE).exists(),
            "{MODULE} is missing: install nginx-light and libnginx-mod-rtmp (./dev setup)"
        );
        let dir = self.dir.path();
        std::fs::create_dir_all(dir.join("rec")).expect("nginx record directory");
        let conf = format!(
            "load_module {MODULE};\n\
             daemon off; master_process off; worker_processes 1;\n\
             error_log {dir}/error.log info; pid {dir}/nginx.pid;\n\
             events {{ worker_connections 64; }}\n\
             http {{ access_log off; client_body_temp_path {dir}/body;\n\
               server {{ listen {host}:{http_port}; location /deny {{ return 403; }} }} }}\n\
             rtmp {{ server {{ listen {host}:{port}; chunk_size 4096;\n\
               application live {{ live on; record all; record_path {dir}/rec; record_unique on; }}\n\
               application reject {{ live on; on_publish http://{host}:{http_port}/deny; }} }} }}\n",
            dir = dir.display(),
            host = self.host,
            port = self.port,
            http_port = self.http_port
        );
        let guard = run_nginx_at(
            dir,
            &conf,
            SocketAddr::from((self.host, self.port)),
            self.netns.as_deref(),
            "nginx",
        );
        self.child = Some(guard);
    }

    /// The TCP port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `rtmp://HOST:PORT/live` (the application URL, without a key; HOST is 127.0.0.1 unless
    /// the server runs in a namespace).
    pub fn app_url(&self) -> String {
        format!("rtmp://{}:{}/live", self.host, self.port)
    }

    /// `rtmp://127.0.0.1:PORT/live/KEY`.
    pub fn url(&self, key: &str) -> String {
        format!("{}/{key}", self.app_url())
    }

    /// `rtmp://127.0.0.1:PORT/reject/KEY`: the server takes the connection and refuses the
    /// publish, as a platform refuses a wrong key.
    pub fn rejecting_url(&self, key: &str) -> String {
        format!("rtmp://{}:{}/reject/{key}", self.host, self.port)
    }

    /// Where recordings go.
    pub fn record_dir(&self) -> PathBuf {
        self.dir.path().join("rec")
    }

    /// The recordings of publishes with stream name `key`, oldest first.
    pub fn recordings(&self, key: &str) -> Vec<PathBuf> {
        let prefix = format!("{key}-");
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.record_dir())
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".flv"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        files
    }

    /// Every recording, whatever the key.
    pub fn all_recordings(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.record_dir())
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        files
    }

    /// nginx's error log (info level: connects, publishes with their names, errors).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// Stops the server with SIGTERM (recordings are closed and readable).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.stop();
        }
    }

    /// Kills the server with SIGKILL (as a crash would).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.stop_with("KILL", Duration::from_secs(5));
        }
    }

    /// Starts it again on the same port and directory (after [`stop`](Self::stop) or
    /// [`kill`](Self::kill)).
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Whether it is running.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| !c.has_exited())
    }
}

impl Drop for NginxRtmp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes `conf` as `dir/nginx.conf`, starts nginx on it (prefix `dir`) and waits until it
/// listens on 127.0.0.1:`port`; panics with its error log otherwise. `what` names it in the
/// guard and the panic.
pub(crate) fn run_nginx(dir: &Path, conf: &str, port: u16, what: &str) -> ChildGuard {
    run_nginx_at(
        dir,
        conf,
        SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        None,
        what,
    )
}

/// [`run_nginx`] listening on `addr`, inside the network namespace `netns` when given.
fn run_nginx_at(
    dir: &Path,
    conf: &str,
    addr: SocketAddr,
    netns: Option<&str>,
    what: &str,
) -> ChildGuard {
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).expect("write nginx.conf");
    let mut command = match netns {
        Some(ns) => {
            let mut command = Command::new("ip");
            command.args(["netns", "exec", ns, "nginx"]);
            command
        }
        None => Command::new("nginx"),
    };
    let child = command
        .arg("-c")
        .arg(&conf_path)
        .arg("-p")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx (install nginx-light: ./dev setup)");
    let mut guard = ChildGuard::new(what, child);
    if !wait_for_addr(addr, Duration::from_secs(10)) {
        guard.stop();
        panic!(
            "{what} did not listen on {addr} within 10 s; its log:\n{}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
    }
    guard
}
