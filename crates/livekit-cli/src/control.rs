//! `--listen ADDR` and `--token-file FILE` (`livekit studio`, `compose --listen`): the studio
//! served over HTTP and WebSocket by `livekit-control`, with its control page.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::anyhow;
use clap::Args;
use livekit_control::{ControlServer, ControlSettings, Token};
use livekit_studio::Studio;

use crate::{Failure, usage};

/// The environment variable that can hold the token instead of `--token-file`.
pub const TOKEN_ENV: &str = "LIVEKIT_TOKEN";

/// How the studio is served.
#[derive(Debug, Clone, Args)]
pub struct ControlArgs {
    /// Serve the control API, its WebSocket events, /metrics and the control page at this
    /// address (HOST:PORT; port 0 picks a free one). An address other than loopback needs a
    /// token.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// A file holding the token every request must carry (Authorization: Bearer TOKEN; the page
    /// asks for it once). The environment variable LIVEKIT_TOKEN works too.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

impl ControlArgs {
    /// The token from `--token-file`, else from `LIVEKIT_TOKEN`.
    fn token(&self) -> Result<Option<Token>, Failure> {
        if let Some(path) = &self.token_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| usage(anyhow!("--token-file {}: {e}", path.display())))?;
            return Token::new(&text)
                .map(Some)
                .map_err(|e| usage(anyhow!("--token-file {}: {e}", path.display())));
        }
        match std::env::var(TOKEN_ENV) {
            Ok(text) if !text.trim().is_empty() => Token::new(&text)
                .map(Some)
                .map_err(|e| usage(anyhow!("{TOKEN_ENV}: {e}"))),
            _ => Ok(None),
        }
    }

    /// Starts serving `studio` at `--listen` (else at `default`, if given); `None` when there
    /// is nowhere to listen.
    pub fn start(
        &self,
        studio: &Arc<Studio>,
        default: Option<SocketAddr>,
    ) -> Result<Option<ControlServer>, Failure> {
        let Some(listen) = self.listen.or(default) else {
            if self.token_file.is_some() {
                return Err(usage(anyhow!("--token-file needs --listen")));
            }
            return Ok(None);
        };
        let settings = ControlSettings {
            listen,
            token: self.token()?,
            ..ControlSettings::default()
        };
        ControlServer::start(studio.clone(), settings)
            .map(Some)
            .map_err(|e| usage(anyhow!(e)))
    }
}

/// Stops the server (if any) and hands the studio back whole, to be stopped.
pub fn take_back(studio: Arc<Studio>, server: Option<ControlServer>) -> Result<Studio, Failure> {
    if let Some(server) = server {
        server.stop();
    }
    Arc::into_inner(studio).ok_or_else(|| {
        Failure::Runtime(anyhow!(
            "the control server still held the studio at stop (outputs not finalized)"
        ))
    })
}
