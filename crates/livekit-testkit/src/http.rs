//! A static HTTP file server (nginx) for URL playback tests (HLS).

use std::path::Path;

use crate::net::free_port;
use crate::process::ChildGuard;

/// A real HTTP server on 127.0.0.1 (nginx) serving the files of a directory, with the types
/// HLS needs (`.m3u8`, `.ts`, `.m4s`, `.mp4`). Stopped when dropped.
#[derive(Debug)]
pub struct HttpFiles {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<ChildGuard>,
}

impl HttpFiles {
    /// Serves `root` on a free port and waits until it listens.
    pub fn start(root: &Path) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory for nginx");
        let port = free_port();
        let root = root.canonicalize().expect("the directory to serve");
        let conf = format!(
            "daemon off; master_process off; worker_processes 1;\n\
             error_log {dir}/error.log info; pid {dir}/nginx.pid;\n\
             events {{ worker_connections 64; }}\n\
             http {{ access_log {dir}/access.log; sendfile on;\n\
               types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; video/iso.segment m4s; video/mp4 mp4; }}\n\
               default_type application/octet-stream;\n\
               server {{ listen 127.0.0.1:{port}; root {root}; }} }}\n",
            dir = dir.path().display(),
            root = root.display(),
        );
        let guard = crate::nginx::run_nginx(dir.path(), &conf, port, "nginx (http)");
        Self {
            dir,
            port,
            child: Some(guard),
        }
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT/PATH` (`path` relative to the served directory).
    pub fn url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }

    /// The access log: one line per request (`"GET /index.m3u8 HTTP/1.1" 200 ...`).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }
}

impl Drop for HttpFiles {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.stop();
        }
    }
}
