//! What media is called in logs and errors: a path as it is, a URL with its secrets hidden.

use std::path::{Path, PathBuf};

/// Where media comes from: a local file or a URL FFmpeg opens itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// A local file.
    File(PathBuf),
    /// A URL (`rtmp://`, `srt://`, `http(s)://`, ...); `shown` is the redacted form.
    Url { url: String, shown: String },
}

impl Location {
    /// A URL when `input` starts with a scheme (`xyz://`); a path otherwise (`file:` too).
    pub(crate) fn parse(input: &str) -> Self {
        if let Some(path) = input.strip_prefix("file://") {
            return Self::File(PathBuf::from(path));
        }
        match input.split_once("://") {
            Some((scheme, _))
                if !scheme.is_empty()
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-') =>
            {
                Self::Url {
                    url: input.to_owned(),
                    shown: redact_url(input),
                }
            }
            _ => Self::File(PathBuf::from(input)),
        }
    }

    /// From a path (never taken as a URL).
    pub(crate) fn from_path(path: &Path) -> Self {
        match path.to_str() {
            Some(text) if text.contains("://") => Self::parse(text),
            _ => Self::File(path.to_path_buf()),
        }
    }

    /// What FFmpeg is given.
    pub(crate) fn ffmpeg_input(&self) -> String {
        match self {
            Self::File(path) => path.to_string_lossy().into_owned(),
            Self::Url { url, .. } => url.clone(),
        }
    }

    /// The name for logs and errors (a URL redacted).
    pub(crate) fn shown(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            Self::Url { shown, .. } => shown.clone(),
        }
    }

    /// Whether this is a URL.
    pub(crate) fn is_url(&self) -> bool {
        matches!(self, Self::Url { .. })
    }
}

/// A URL with what may be a secret replaced by `<redacted>`: a password in the user part, the
/// query string (SRT `streamid`/`passphrase`, signed HTTP links) and, for RTMP, everything
/// after the application name (where stream keys live).
///
/// ```
/// use livekit_sources::redact_url;
///
/// assert_eq!(redact_url("rtmp://a.example/live2/abcd-1234"), "rtmp://a.example/live2/<redacted>");
/// assert_eq!(redact_url("srt://h:9000?streamid=secret"), "srt://h:9000?<redacted>");
/// assert_eq!(redact_url("https://u:pw@h/x.m3u8?sig=1"), "https://u:<redacted>@h/x.m3u8?<redacted>");
/// ```
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (rest, query) = match rest.split_once('?') {
        Some((before, _)) => (before, true),
        None => (rest, false),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:<redacted>@{host}"),
            None => format!("{user}@{host}"),
        },
        None => authority.to_owned(),
    };
    let path = if scheme.to_ascii_lowercase().starts_with("rtmp") {
        // rtmp://host/app/KEY: keep the application, hide the key.
        let mut parts = path.splitn(3, '/');
        let _empty = parts.next();
        match (parts.next(), parts.next()) {
            (Some(app), Some(key)) if !key.is_empty() => format!("/{app}/<redacted>"),
            _ => path.to_owned(),
        }
    } else {
        path.to_owned()
    };
    let query = if query { "?<redacted>" } else { "" };
    format!("{scheme}://{authority}{path}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_keys_passwords_and_queries() {
        assert_eq!(
            redact_url("rtmp://127.0.0.1:1935/live/test"),
            "rtmp://127.0.0.1:1935/live/<redacted>"
        );
        assert_eq!(
            redact_url("rtmps://x/app"),
            "rtmps://x/app",
            "nothing after the app"
        );
        assert_eq!(
            redact_url("srt://127.0.0.1:9000?streamid=publish:k&passphrase=p"),
            "srt://127.0.0.1:9000?<redacted>"
        );
        assert_eq!(redact_url("http://h/a.m3u8"), "http://h/a.m3u8");
        assert_eq!(redact_url("/tmp/a.mp4"), "/tmp/a.mp4");
    }

    #[test]
    fn tells_urls_from_paths() {
        assert!(Location::parse("rtmp://h/a/b").is_url());
        assert!(!Location::parse("/tmp/a:b.mp4").is_url());
        assert_eq!(
            Location::parse("file:///tmp/a.mp4"),
            Location::File(PathBuf::from("/tmp/a.mp4"))
        );
    }
}
