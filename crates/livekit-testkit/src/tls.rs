//! TLS in front of a TCP server (nginx's `stream` module with `ssl`), with certificates made
//! at test time by the openssl CLI.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::net::free_port;
use crate::process::ChildGuard;

const STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

/// A test certificate authority and a server certificate it signed for `127.0.0.1` and
/// `localhost` (PEM files in a temporary directory).
#[derive(Debug)]
pub struct TestCerts {
    dir: tempfile::TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestCerts {
    /// Makes a CA named `ca_name` and a server certificate signed by it (EC P-256, valid for
    /// two days).
    pub fn make(ca_name: &str) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory for certificates");
        let path = dir.path();
        let subject = format!("/CN={ca_name}");
        openssl(
            path,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                &subject,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        openssl(
            path,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        );
        std::fs::write(
            path.join("server.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .expect("write server.ext");
        openssl(
            path,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ],
        );
        Self { dir }
    }

    /// The CA certificate (PEM), to trust.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The server certificate (PEM).
    pub fn cert_file(&self) -> PathBuf {
        self.dir.path().join("server.pem")
    }

    /// The server's private key (PEM).
    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }
}

/// TLS on 127.0.0.1 in front of a TCP port (nginx `stream { server { listen ssl; proxy_pass }
/// }`), for `rtmps://` tests. Stopped when dropped.
#[derive(Debug)]
pub struct TlsFront {
    dir: tempfile::TempDir,
    port: u16,
    _child: ChildGuard,
}

impl TlsFront {
    /// Starts TLS with `certs`' server certificate, passing the plain stream to
    /// 127.0.0.1:`upstream`.
    pub fn start(upstream: u16, certs: &TestCerts) -> Self {
        assert!(
            Path::new(STREAM_MODULE).exists(),
            "{STREAM_MODULE} is missing: install libnginx-mod-stream (./dev setup)"
        );
        let dir = tempfile::tempdir().expect("temporary directory for nginx");
        let port = free_port();
        let conf = format!(
            "load_module {STREAM_MODULE};\n\
             daemon off; master_process off; worker_processes 1;\n\
             error_log {dir}/error.log info; pid {dir}/nginx.pid;\n\
             events {{ worker_connections 64; }}\n\
             stream {{ server {{ listen 127.0.0.1:{port} ssl;\n\
               ssl_certificate {cert}; ssl_certificate_key {key};\n\
               proxy_pass 127.0.0.1:{upstream}; }} }}\n",
            dir = dir.path().display(),
            cert = certs.cert_file().display(),
            key = certs.key_file().display(),
        );
        let guard = crate::nginx::run_nginx(dir.path(), &conf, port, "nginx (tls)");
        Self {
            dir,
            port,
            _child: guard,
        }
    }

    /// The TLS port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// nginx's error log (TLS handshake failures show here).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}
