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
        // `-` (as in FFmpeg's command line) and `pipe:0`: standard input.
        if input == "-" || input == "pipe:" || input == "pipe:0" {
            return Self::Url {
                url: "pipe:0".to_owned(),
                shown: "standard input".to_owned(),
            };
        }
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
            Some(text) if text.contains("://") || matches!(text, "-" | "pipe:" | "pipe:0") => {
                Self::parse(text)
            }
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

pub use livekit_core::redact_url;

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
            Location::parse("-"),
            Location::Url {
                url: "pipe:0".into(),
                shown: "standard input".into()
            }
        );
        assert_eq!(
            Location::parse("file:///tmp/a.mp4"),
            Location::File(PathBuf::from("/tmp/a.mp4"))
        );
    }
}
