//! Where a stream goes: [`Destination`]s, built from a full URL or a site name (a preset or a
//! [`SiteConfig`] from the configuration), with their keys kept secret.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::key::{REDACTED, StreamKey, redacted_url};

/// The built-in sites: name and ingest URL (the key is appended as the last path segment).
pub const SITE_PRESETS: &[(&str, &str)] = &[
    ("youtube", "rtmp://a.rtmp.youtube.com/live2"),
    ("facebook", "rtmps://live-api-s.facebook.com:443/rtmp"),
    ("twitch", "rtmp://live.twitch.tv/app"),
    ("restream", "rtmp://live.restream.io/live"),
    ("localhost", "rtmp://127.0.0.1:1935/live"),
];

/// The longest keyframe spacing YouTube-like sites accept (they ask for 2 s and reject
/// more than 4 s).
pub const DEFAULT_MAX_KEYFRAME_INTERVAL: Duration = Duration::from_secs(4);

/// The protocol of a destination, from its URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `rtmp://`: FLV over RTMP.
    Rtmp,
    /// `rtmps://`: FLV over RTMP over TLS.
    Rtmps,
    /// `srt://`: MPEG-TS over SRT, caller mode.
    Srt,
    /// `http://` or `https://`: a WHIP endpoint (WebRTC ingest, RFC 9725): H.264 and Opus
    /// over RTP, sent by the WebRTC stack; the key is the bearer token.
    Whip,
}

impl Protocol {
    /// The container FFmpeg writes for this protocol (`flv` or `mpegts`; `rtp` for WHIP,
    /// whose packets the WebRTC stack writes, not FFmpeg).
    pub fn muxer(self) -> &'static str {
        match self {
            Self::Rtmp | Self::Rtmps => "flv",
            Self::Srt => "mpegts",
            Self::Whip => "rtp",
        }
    }

    fn from_url(url: &str) -> Option<Self> {
        let (scheme, _) = url.split_once("://")?;
        match scheme.to_ascii_lowercase().as_str() {
            "rtmp" => Some(Self::Rtmp),
            "rtmps" => Some(Self::Rtmps),
            "srt" => Some(Self::Srt),
            "http" | "https" => Some(Self::Whip),
            _ => None,
        }
    }
}

/// How an `rtmps://` destination checks the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Verify the server's certificate (chain and host name). Default `true`: a key is never
    /// sent to a server that cannot prove it is the one named in the URL. Turning it off is
    /// logged as a warning at every connection.
    pub verify: bool,
    /// The CA certificates (PEM) to trust instead of the system's store
    /// (`/etc/ssl/certs/ca-certificates.crt`). Default `None`: the system's store.
    pub ca_file: Option<PathBuf>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            verify: true,
            ca_file: None,
        }
    }
}

/// Options of an `srt://` destination (caller mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtSettings {
    /// SRT's latency (its receive buffer for retransmissions). Default 200 ms.
    pub latency: Duration,
    /// The encryption passphrase (10 to 79 characters), `None` for none. Default `None`.
    pub passphrase: Option<StreamKey>,
}

impl Default for SrtSettings {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(200),
            passphrase: None,
        }
    }
}

/// A site as the configuration describes it (for example a `[sites.NAME]` table in TOML).
/// Every field is optional; for a built-in site (see [`SITE_PRESETS`]) the preset's URL is used
/// when `url` is not set.
#[derive(Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// The ingest URL without the key (`rtmp://host/app`, `rtmps://...`, `srt://host:port`, or
    /// a WHIP endpoint `https://host/path`, whose key is sent as the bearer token).
    pub url: Option<String>,
    /// A file whose first line is the stream key (a warning is logged when other users can
    /// read it).
    pub key_file: Option<PathBuf>,
    /// The environment variable holding the stream key.
    pub key_env: Option<String>,
    /// The stream key itself (prefer `key_file` or `key_env`).
    pub key: Option<String>,
    /// Video bit rate this site wants, in kb/s.
    pub video_kbps: Option<u32>,
    /// Audio bit rate this site wants, in kb/s.
    pub audio_kbps: Option<u32>,
    /// Keyframe interval this site wants, in seconds.
    pub keyframe_sec: Option<f64>,
}

impl std::fmt::Debug for SiteConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteConfig")
            .field("url", &self.url.as_deref().map(redacted_url))
            .field("key_file", &self.key_file)
            .field("key_env", &self.key_env)
            .field("key", &self.key.as_ref().map(|_| REDACTED))
            .field("video_kbps", &self.video_kbps)
            .field("audio_kbps", &self.audio_kbps)
            .field("keyframe_sec", &self.keyframe_sec)
            .finish()
    }
}

/// Why a destination could not be made. Each variant names the site or the (redacted) URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DestinationError {
    /// The name is neither a URL nor a known site.
    #[error(
        "unknown site {name:?}: known sites are {known}; or give a rtmp://, rtmps:// or srt:// URL, or a WHIP endpoint's https:// URL"
    )]
    UnknownSite {
        /// The name given.
        name: String,
        /// The known site names, comma separated.
        known: String,
    },
    /// The URL's scheme is not one we stream to.
    #[error(
        "{url}: unsupported protocol: use rtmp://, rtmps:// or srt://, or http(s):// for a WHIP endpoint"
    )]
    UnsupportedProtocol {
        /// The URL, redacted.
        url: String,
    },
    /// The URL has no host.
    #[error("{url}: the URL has no host")]
    NoHost {
        /// The URL, redacted.
        url: String,
    },
    /// The URL's port is not a number from 1 to 65535, or an SRT URL has none.
    #[error("{url}: {problem}")]
    BadPort {
        /// The URL, redacted.
        url: String,
        /// What is wrong with the port.
        problem: String,
    },
    /// A site has no key configured.
    #[error("site {site}: no stream key: set key_file, key_env or key in its configuration")]
    NoKey {
        /// The site.
        site: String,
    },
    /// Text that is neither a site name nor a URL: a URL with its scheme mistyped or missing
    /// (shown redacted), or what looks like a stream key (not shown).
    #[error("{shown}: neither a site nor a URL: {hint}")]
    NotASite {
        /// The text, redacted.
        shown: String,
        /// What a site or a URL looks like.
        hint: &'static str,
    },
    /// A key (or a URL) holds the placeholder `<redacted>` that `livekit config show` and our
    /// messages print instead of keys: the real key was never put back.
    #[error(
        "{what} is the placeholder \"<redacted>\" (what keys are shown as), not a stream key: put the real key there"
    )]
    PlaceholderKey {
        /// Where it was: `site NAME: the key` or the redacted URL.
        what: String,
    },
    /// A site's url already ends with a stream key, and a key is configured too (the stream
    /// would go to `.../KEY/KEY`).
    #[error(
        "site {site}: its url already ends with a stream key, and key_file, key_env or key gives one too: keep only one"
    )]
    UrlHoldsKey {
        /// The site.
        site: String,
    },
    /// The key file could not be read.
    #[error("site {site}: cannot read the key file {}", path.display())]
    KeyFile {
        /// The site.
        site: String,
        /// The key file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The same destination was given twice under one name.
    #[error("{name}: given twice")]
    GivenTwice {
        /// Its label.
        name: String,
    },
    /// Two names lead to the same place (URL and key): a server would refuse the second
    /// ("already publishing") once the first connected.
    #[error("{first} and {second} are the same destination ({url}): give it once")]
    SameDestination {
        /// The first one's label.
        first: String,
        /// The second one's label.
        second: String,
        /// The URL, redacted.
        url: String,
    },
    /// The key file is empty, or its first line is blank.
    #[error("site {site}: the key file {} has no key on its first line", path.display())]
    EmptyKeyFile {
        /// The site.
        site: String,
        /// The key file.
        path: PathBuf,
    },
    /// The key's environment variable is not set (or is empty).
    #[error("site {site}: the environment variable {var} (its stream key) is {}", if *.empty { "empty" } else { "not set" })]
    KeyEnv {
        /// The site.
        site: String,
        /// The variable.
        var: String,
        /// Set, but empty (or only white space).
        empty: bool,
    },
}

/// One place a stream goes: an ingest URL, its key and its connection options.
///
/// The key is kept apart from the URL and only joined to it when the connection is opened;
/// everything shown ([`redacted_url`](Self::redacted_url), `Debug`, errors, stats) has it
/// replaced by `<redacted>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    /// The label that names it in logs, stats and errors: the site name, or (from a URL) the
    /// redacted URL. A program may set its own to tell destinations apart (the `livekit`
    /// command labels URLs by position: `#2 rtmp://host/app/<redacted>`); never any part of
    /// the key.
    pub name: String,
    /// The ingest URL without the key.
    url: String,
    key: Option<StreamKey>,
    /// The protocol, from the URL.
    pub protocol: Protocol,
    /// Certificate checks for `rtmps://`.
    pub tls: TlsSettings,
    /// Options for `srt://`.
    pub srt: SrtSettings,
    /// The longest keyframe spacing this destination accepts (for pass-through checks).
    /// Default [`DEFAULT_MAX_KEYFRAME_INTERVAL`].
    pub max_keyframe_interval: Duration,
    /// The site's wishes for the encoder: video kb/s, audio kb/s, keyframe interval (s).
    pub video_kbps: Option<u32>,
    /// Audio bit rate the site wants, in kb/s.
    pub audio_kbps: Option<u32>,
    /// Keyframe interval the site wants, in seconds.
    pub keyframe_sec: Option<f64>,
}

/// What is wrong with the port of `host` (`name`, `name:port`, `[v6]:port`), if anything.
fn port_problem(host: &str, protocol: Protocol) -> Option<String> {
    let port = match host.strip_prefix('[') {
        Some(v6) => v6
            .split_once(']')
            .and_then(|(_, rest)| rest.strip_prefix(':')),
        None => host.rsplit_once(':').map(|(_, port)| port),
    };
    match port {
        None if protocol == Protocol::Srt => {
            Some("an srt:// URL needs a port (srt://host:port)".into())
        }
        None => None,
        Some(port) => match port.parse::<u16>() {
            Ok(1..) => None,
            _ => Some(format!("port {port:?} is not a number from 1 to 65535")),
        },
    }
}

impl Destination {
    /// A destination from a full URL. For `rtmp://` and `rtmps://`, when `key` is `None` and
    /// the path has two or more segments, the last one is taken as the key
    /// (`rtmp://host/app/KEY`). For `srt://`, a key is sent as the SRT stream id. An
    /// `http://` or `https://` URL is a WHIP endpoint: the key is its bearer token, given as
    /// `key` or as the URL's user part (`https://TOKEN@host/path`).
    pub fn from_url(url: &str, key: Option<StreamKey>) -> Result<Self, DestinationError> {
        livekit_av::ffmpeg::init();
        // FFmpeg knows its protocols in lower case only: `RTMP://` is `rtmp://`.
        let url = match url.trim().split_once("://") {
            Some((scheme, rest)) => format!("{}://{rest}", scheme.to_ascii_lowercase()),
            None => url.trim().to_owned(),
        };
        let url = url.as_str();
        let protocol =
            Protocol::from_url(url).ok_or_else(|| DestinationError::UnsupportedProtocol {
                url: redacted_url(url),
            })?;
        let (_, rest) = url.split_once("://").unwrap_or(("", url));
        let host = rest.split(['/', '?']).next().unwrap_or("");
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        if host.is_empty() || host.starts_with(':') {
            return Err(DestinationError::NoHost {
                url: redacted_url(url),
            });
        }
        if let Some(problem) = port_problem(host, protocol) {
            return Err(DestinationError::BadPort {
                url: redacted_url(url),
                problem,
            });
        }
        if url.contains(REDACTED)
            || url.to_ascii_lowercase().contains("%3credacted%3e")
            || key.as_ref().is_some_and(|k| k.expose() == REDACTED)
        {
            return Err(DestinationError::PlaceholderKey {
                what: redacted_url(url),
            });
        }
        let (url, key) = match (protocol, key) {
            (Protocol::Rtmp | Protocol::Rtmps, None) => split_rtmp_key(url),
            (Protocol::Whip, key) => split_user_token(url, key),
            (_, key) => (url.trim_end_matches('/').to_owned(), key),
        };
        let mut destination = Self {
            name: String::new(),
            url,
            key,
            protocol,
            tls: TlsSettings::default(),
            srt: SrtSettings::default(),
            max_keyframe_interval: DEFAULT_MAX_KEYFRAME_INTERVAL,
            video_kbps: None,
            audio_kbps: None,
            keyframe_sec: None,
        };
        destination.name = destination.redacted_url();
        Ok(destination)
    }

    /// Resolves every name (site or URL) as [`resolve`](Self::resolve) does, refuses the same
    /// place given twice, and labels each ([`Destination::name`]): a site by its name, a URL by
    /// its position among `names` and its redacted URL (`#2 rtmp://host/app/<redacted>`), so
    /// that two URLs on one server can be told apart wherever they are shown.
    pub fn resolve_all(
        names: &[String],
        sites: &BTreeMap<String, SiteConfig>,
    ) -> Result<Vec<Self>, DestinationError> {
        let mut resolved: Vec<Self> = names
            .iter()
            .map(|name| Self::resolve(name, sites))
            .collect::<Result<_, _>>()?;
        for (i, destination) in resolved.iter().enumerate() {
            if let Some(first) = resolved[..i]
                .iter()
                .find(|d| d.url() == destination.url() && d.key() == destination.key())
            {
                if first.name == destination.name {
                    return Err(DestinationError::GivenTwice {
                        name: destination.name.clone(),
                    });
                }
                return Err(DestinationError::SameDestination {
                    first: first.name.clone(),
                    second: destination.name.clone(),
                    url: destination.redacted_url(),
                });
            }
        }
        for (position, destination) in (1..).zip(resolved.iter_mut()) {
            if destination.name == destination.redacted_url() {
                destination.name = format!("#{position} {}", destination.name);
            }
        }
        Ok(resolved)
    }

    /// A destination from a full URL (see [`from_url`](Self::from_url)) or a site name: a
    /// site of `sites` (the configuration) or a built-in one ([`SITE_PRESETS`]). A site's key
    /// comes from its `key_file`, `key_env` or `key`, in that order.
    pub fn resolve(
        name_or_url: &str,
        sites: &BTreeMap<String, SiteConfig>,
    ) -> Result<Self, DestinationError> {
        let name = name_or_url.trim();
        if name.contains("://") {
            return Self::from_url(name, None);
        }
        if name.contains(['/', ':', '?', '@']) {
            return Err(DestinationError::NotASite {
                shown: livekit_core::redact_url_like(name),
                hint: "a URL starts with rtmp://, rtmps:// or srt://",
            });
        }
        let preset = SITE_PRESETS
            .iter()
            .find(|(preset, _)| *preset == name)
            .map(|(_, url)| *url);
        let config = sites.get(name);
        let url = match (config.and_then(|c| c.url.as_deref()), preset) {
            (Some(url), _) => url.to_owned(),
            (None, Some(url)) => url.to_owned(),
            (None, None) if livekit_core::looks_like_a_key(name) => {
                return Err(DestinationError::NotASite {
                    shown: REDACTED.to_owned(),
                    hint: "this looks like a stream key: keys go in the configuration \
                           (key_file, key_env or key of a site; see `livekit config init`) \
                           or at the end of an rtmp:// URL",
                });
            }
            (None, None) => {
                let mut known: Vec<&str> = SITE_PRESETS.iter().map(|(n, _)| *n).collect();
                known.extend(sites.keys().map(String::as_str));
                known.sort_unstable();
                known.dedup();
                return Err(DestinationError::UnknownSite {
                    name: name.to_owned(),
                    known: known.join(", "),
                });
            }
        };
        let config = config.cloned().unwrap_or_default();
        let configured =
            config.key_file.is_some() || config.key_env.is_some() || config.key.is_some();
        let mut destination = if configured {
            let key = site_key(name, &config)?;
            if Self::from_url(&url, None)?.key.is_some() {
                return Err(DestinationError::UrlHoldsKey {
                    site: name.to_owned(),
                });
            }
            Self::from_url(&url, Some(key))?
        } else {
            // No key configured: the site's url may carry it (rtmp://host/app/KEY, an SRT
            // streamid in the query, a WHIP token as the user part).
            let destination = Self::from_url(&url, None)?;
            let in_query = destination.protocol == Protocol::Srt && url.contains('?');
            // A WHIP endpoint may take no token (a server on the local network).
            let keyless = destination.protocol == Protocol::Whip;
            if destination.key.is_none() && !in_query && !keyless {
                return Err(DestinationError::NoKey {
                    site: name.to_owned(),
                });
            }
            destination
        };
        destination.name = name.to_owned();
        destination.video_kbps = config.video_kbps;
        destination.audio_kbps = config.audio_kbps;
        destination.keyframe_sec = config.keyframe_sec;
        Ok(destination)
    }

    /// The ingest URL without the key.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The key, if any.
    pub fn key(&self) -> Option<&StreamKey> {
        self.key.as_ref()
    }

    /// The URL as it may be shown: `rtmp://host/app/<redacted>`.
    pub fn redacted_url(&self) -> String {
        match (&self.key, self.protocol) {
            (Some(_), Protocol::Rtmp | Protocol::Rtmps) => {
                format!("{}/{}", redacted_url(&self.url), REDACTED)
            }
            (key, Protocol::Whip) => redacted_endpoint(&self.url, key.is_some()),
            _ => redacted_url(&self.url),
        }
    }

    /// The URL handed to FFmpeg, key included. Never show it.
    pub(crate) fn secret_url(&self) -> String {
        match (&self.key, self.protocol) {
            (Some(key), Protocol::Rtmp | Protocol::Rtmps) => {
                format!("{}/{}", self.url, key.expose())
            }
            _ => self.url.clone(),
        }
    }

    /// Connection options for FFmpeg's protocol (secrets included: never show them).
    pub(crate) fn protocol_options(&self) -> Vec<(&'static str, String)> {
        let mut options = Vec::new();
        match self.protocol {
            Protocol::Rtmp => {}
            Protocol::Rtmps => {
                options.push(("tls_verify", if self.tls.verify { "1" } else { "0" }.into()));
                let ca_file = self
                    .tls
                    .ca_file
                    .clone()
                    .or_else(|| self.tls.verify.then(system_ca_file).flatten());
                if let Some(ca_file) = ca_file {
                    options.push(("ca_file", ca_file.to_string_lossy().into_owned()));
                }
            }
            Protocol::Whip => {}
            Protocol::Srt => {
                options.push(("mode", "caller".into()));
                options.push(("latency", self.srt.latency.as_micros().to_string()));
                // Closing waits (up to 1 s) for what is still in SRT's send buffer: live mode
                // drops it at once otherwise, and the end of every stream was lost. Not longer:
                // the close cannot be interrupted, and a stop on a dead link must end within
                // 3 s (SRT's close takes about a second more than the linger).
                options.push(("linger", "1".into()));
                if let Some(passphrase) = &self.srt.passphrase {
                    options.push(("passphrase", passphrase.expose().to_owned()));
                }
                if let Some(key) = &self.key {
                    options.push(("streamid", key.expose().to_owned()));
                }
            }
        }
        options
    }
}

/// The system's CA bundle, where Debian-like systems keep it. FFmpeg's GnuTLS backend falls
/// back to GnuTLS's own system trust when no file is given; naming the file makes the check
/// the same with every TLS backend.
pub(crate) fn system_ca_file() -> Option<PathBuf> {
    [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

/// `https://TOKEN@host/path` -> (`https://host/path`, TOKEN); a `key` given wins.
fn split_user_token(url: &str, key: Option<StreamKey>) -> (String, Option<StreamKey>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), key);
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            let token = user.split_once(':').map_or(user, |(name, _)| name);
            (
                format!("{scheme}://{host}{path}"),
                key.or_else(|| StreamKey::new(token)),
            )
        }
        None => (url.to_owned(), key),
    }
}

/// A WHIP endpoint as it may be shown: its token (kept apart from the URL) as `<redacted>@`,
/// path segments that look like keys (services that put the key in the path) and the query
/// redacted ([`redacted_url`] on a web URL); the rest as given, so `/whip/ingest` reads as itself.
fn redacted_endpoint(url: &str, token: bool) -> String {
    let shown = redacted_url(url);
    match shown.split_once("://") {
        Some((scheme, rest)) if token => format!("{scheme}://{REDACTED}@{rest}"),
        _ => shown,
    }
}

/// `rtmp://host/app/KEY` -> (`rtmp://host/app`, KEY).
fn split_rtmp_key(url: &str) -> (String, Option<StreamKey>) {
    let trimmed = url.trim_end_matches('/');
    let Some((_, rest)) = trimmed.split_once("://") else {
        return (trimmed.to_owned(), None);
    };
    let path = rest.split_once('/').map_or("", |(_, p)| p);
    let segments = path.split('/').filter(|s| !s.is_empty()).count();
    if segments >= 2
        && let Some((base, last)) = trimmed.rsplit_once('/')
        && let Some(key) = StreamKey::new(last)
    {
        return (base.to_owned(), Some(key));
    }
    (trimmed.to_owned(), None)
}

/// A site's key: the first of `key_file`, `key_env` and `key` that gives one. When none does,
/// the error is the first configured source's (a missing file, an unset variable).
fn site_key(site: &str, config: &SiteConfig) -> Result<StreamKey, DestinationError> {
    let key = first_site_key(site, config)?;
    if key.expose() == REDACTED {
        return Err(DestinationError::PlaceholderKey {
            what: format!("site {site}: the key"),
        });
    }
    Ok(key)
}

fn first_site_key(site: &str, config: &SiteConfig) -> Result<StreamKey, DestinationError> {
    let mut first_error = None;
    if let Some(path) = &config.key_file {
        match read_key_file(site, path) {
            Ok(key) => return Ok(key),
            Err(error) => {
                tracing::debug!("{error}; trying the next source of the key");
                first_error = Some(error);
            }
        }
    }
    if let Some(var) = &config.key_env {
        let value = std::env::var(var).ok();
        match value.as_deref().and_then(StreamKey::new) {
            Some(key) => return Ok(key),
            None => {
                first_error.get_or_insert(DestinationError::KeyEnv {
                    site: site.to_owned(),
                    var: var.clone(),
                    empty: value.is_some(),
                });
            }
        }
    }
    if let Some(key) = config.key.as_deref().and_then(StreamKey::new) {
        return Ok(key);
    }
    Err(first_error.unwrap_or_else(|| DestinationError::NoKey {
        site: site.to_owned(),
    }))
}

fn read_key_file(site: &str, path: &Path) -> Result<StreamKey, DestinationError> {
    let text = std::fs::read_to_string(path).map_err(|source| DestinationError::KeyFile {
        site: site.to_owned(),
        path: path.to_owned(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    site,
                    file = %path.display(),
                    mode = format_args!("{:o}", mode & 0o777),
                    "the stream key file can be read by other users: chmod 600 it"
                );
            }
        }
    }
    let first = text.lines().next().unwrap_or("");
    StreamKey::new(first).ok_or_else(|| DestinationError::EmptyKeyFile {
        site: site.to_owned(),
        path: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_their_key() {
        let d = Destination::from_url("rtmp://127.0.0.1:1935/live/abcd1234", None).unwrap();
        assert_eq!(d.url(), "rtmp://127.0.0.1:1935/live");
        assert_eq!(d.key().unwrap().expose(), "abcd1234");
        assert_eq!(d.redacted_url(), "rtmp://127.0.0.1:1935/live/<redacted>");
        assert_eq!(d.secret_url(), "rtmp://127.0.0.1:1935/live/abcd1234");
        assert!(!format!("{d:?}").contains("abcd1234"));
    }

    #[test]
    fn whip_endpoints_take_their_token_from_the_key_or_the_user_part() {
        let d = Destination::from_url("https://tok-4711@whip.example.com/live/show", None).unwrap();
        assert_eq!(d.protocol, Protocol::Whip);
        assert_eq!(d.url(), "https://whip.example.com/live/show");
        assert_eq!(d.key().unwrap().expose(), "tok-4711");
        assert_eq!(d.secret_url(), "https://whip.example.com/live/show");
        assert_eq!(
            d.redacted_url(),
            "https://<redacted>@whip.example.com/live/show"
        );
        assert!(!format!("{d:?}").contains("tok-4711"));
        let d = Destination::from_url("http://127.0.0.1:8889/whip", StreamKey::new("k-1")).unwrap();
        assert_eq!(d.url(), "http://127.0.0.1:8889/whip");
        assert_eq!(d.key().unwrap().expose(), "k-1");
        let d = Destination::from_url("http://127.0.0.1:8889/whip", None).unwrap();
        assert!(d.key().is_none());
        assert_eq!(d.redacted_url(), "http://127.0.0.1:8889/whip");
        // A service that puts the key in the path: that segment is hidden.
        let d = Destination::from_url(
            "https://stream.example.com/8f3c2a91d7e64b0c9a1f5e2d3c4b5a69/webRTC/publish?x=1",
            None,
        )
        .unwrap();
        assert_eq!(
            d.redacted_url(),
            "https://stream.example.com/<redacted>/webRTC/publish?<redacted>"
        );
        let mut sites = BTreeMap::new();
        sites.insert(
            "webrtc".to_owned(),
            SiteConfig {
                url: Some("https://whip.example.com/ingest".into()),
                key: Some("bearer-5150".into()),
                ..SiteConfig::default()
            },
        );
        let d = Destination::resolve("webrtc", &sites).unwrap();
        assert_eq!(d.protocol, Protocol::Whip);
        assert_eq!(d.key().unwrap().expose(), "bearer-5150");
    }

    #[test]
    fn the_redaction_placeholder_is_not_a_key() {
        let error = Destination::from_url("rtmp://127.0.0.1/live/<redacted>", None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "rtmp://127.0.0.1/live/<redacted> is the placeholder \"<redacted>\" (what keys are \
             shown as), not a stream key: put the real key there"
        );
        assert!(matches!(
            Destination::from_url("srt://127.0.0.1:9000?streamid=%3Credacted%3E", None),
            Err(DestinationError::PlaceholderKey { .. })
        ));
        assert!(matches!(
            Destination::from_url("rtmp://127.0.0.1/live", StreamKey::new("<redacted>")),
            Err(DestinationError::PlaceholderKey { .. })
        ));
        let mut sites = BTreeMap::new();
        sites.insert(
            "pasted".to_owned(),
            SiteConfig {
                url: Some("rtmp://127.0.0.1/live".into()),
                key: Some("<redacted>".into()),
                ..SiteConfig::default()
            },
        );
        let error = Destination::resolve("pasted", &sites).unwrap_err();
        assert_eq!(
            error.to_string(),
            "site pasted: the key is the placeholder \"<redacted>\" (what keys are shown as), \
             not a stream key: put the real key there"
        );
    }

    #[test]
    fn a_site_url_with_a_key_and_a_key_is_refused() {
        let mut sites = BTreeMap::new();
        sites.insert(
            "twice".to_owned(),
            SiteConfig {
                url: Some("rtmp://127.0.0.1/live/url-key-1234".into()),
                key: Some("config-key-5678".into()),
                ..SiteConfig::default()
            },
        );
        sites.insert(
            "once".to_owned(),
            SiteConfig {
                url: Some("rtmp://127.0.0.1/live/url-key-1234".into()),
                ..SiteConfig::default()
            },
        );
        let error = Destination::resolve("twice", &sites).unwrap_err();
        assert_eq!(
            error.to_string(),
            "site twice: its url already ends with a stream key, and key_file, key_env or key \
             gives one too: keep only one"
        );
        assert!(!error.to_string().contains("1234"));
        let once = Destination::resolve("once", &sites).unwrap();
        assert_eq!(once.key().unwrap().expose(), "url-key-1234");
    }

    #[test]
    fn sites_resolve() {
        let mut sites = BTreeMap::new();
        sites.insert(
            "youtube".to_owned(),
            SiteConfig {
                key: Some("yt-key-5678".into()),
                ..SiteConfig::default()
            },
        );
        sites.insert(
            "mine".to_owned(),
            SiteConfig {
                url: Some("srt://10.0.0.1:9000".into()),
                key: Some("mine-key-9".into()),
                ..SiteConfig::default()
            },
        );
        let yt = Destination::resolve("youtube", &sites).unwrap();
        assert_eq!(
            yt.secret_url(),
            "rtmp://a.rtmp.youtube.com/live2/yt-key-5678"
        );
        assert_eq!(yt.name, "youtube");
        let mine = Destination::resolve("mine", &sites).unwrap();
        assert_eq!(mine.protocol, Protocol::Srt);
        let error = Destination::resolve("nowhere", &sites).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown site \"nowhere\": known sites are facebook, localhost, mine, restream, \
             twitch, youtube; or give a rtmp://, rtmps:// or srt:// URL, or a WHIP endpoint's https:// URL"
        );
        for (typed, shown) in [
            ("rtmp:/h/live/zq-key-51", "rtmp:/h/live/<redacted>"),
            ("h:1935/live/zq-key-52", "h:1935/live/<redacted>"),
            ("abcd-efgh-ijkl-mnop-qrst", "<redacted>"),
            ("live_123456_abcdefghijklmnop", "<redacted>"),
        ] {
            let error = Destination::resolve(typed, &sites).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("{shown}: neither a site nor a URL: ")),
                "{error}"
            );
            assert!(!error.contains("zq-key"), "{error}");
        }
        // A site whose url carries its key needs no other key.
        let mut in_url = BTreeMap::new();
        in_url.insert(
            "mine".to_owned(),
            SiteConfig {
                url: Some("rtmp://h/app/zq-key-61".into()),
                ..SiteConfig::default()
            },
        );
        in_url.insert(
            "srtq".to_owned(),
            SiteConfig {
                url: Some("srt://h:9000?streamid=zq-key-62".into()),
                ..SiteConfig::default()
            },
        );
        let mine = Destination::resolve("mine", &in_url).unwrap();
        assert_eq!(mine.secret_url(), "rtmp://h/app/zq-key-61");
        assert_eq!(mine.redacted_url(), "rtmp://h/app/<redacted>");
        assert!(Destination::resolve("srtq", &in_url).is_ok());
        let error = Destination::resolve("twitch", &sites).unwrap_err();
        assert_eq!(
            error.to_string(),
            "site twitch: no stream key: set key_file, key_env or key in its configuration"
        );
        let error = Destination::from_url("ftp://x/y/secretkey", None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "ftp://x/y/<redacted>: unsupported protocol: use rtmp://, rtmps:// or srt://, or \
             http(s):// for a WHIP endpoint"
        );
    }
}
