//! Secrets (stream keys, passphrases) kept out of everything shown: a process-wide list of
//! known secrets, [`scrub`] to remove them from any text, and [`redact_url`] for URLs.
//!
//! Sinks register every stream key they are given; sources redact the URLs they name in
//! errors; FFmpeg's log is scrubbed before it reaches `tracing`.

use std::collections::BTreeSet;

use parking_lot::RwLock;

/// What a redacted secret is shown as.
pub const REDACTED: &str = "<redacted>";

static SECRETS: RwLock<BTreeSet<String>> = RwLock::new(BTreeSet::new());

/// Secrets shorter than this are not scrubbed from free text (they would match ordinary
/// words); they are still never put in our own messages.
const MIN_SCRUB_LEN: usize = 4;

/// Remembers `secret` (for the life of the process) so that [`scrub`] removes it from any text.
pub fn register_secret(secret: &str) {
    let secret = secret.trim();
    if secret.len() < MIN_SCRUB_LEN || SECRETS.read().contains(secret) {
        return;
    }
    SECRETS.write().insert(secret.to_owned());
}

/// `text` with every registered secret replaced by `<redacted>`.
pub fn scrub(text: &str) -> String {
    let secrets = SECRETS.read();
    let mut out = text.to_owned();
    // Longest first, so a secret containing another one is removed whole.
    let mut sorted: Vec<&String> = secrets.iter().collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in sorted {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), REDACTED);
        }
    }
    out
}

/// A URL as it may be shown: user info, the query string (SRT `streamid`/`passphrase`, signed
/// links) and, when the path has two or more segments, the last one (the stream key, by RTMP
/// convention; a URL typed by mistake may carry one too) replaced by `<redacted>`; then every
/// registered secret scrubbed. Text that is not a URL is only scrubbed.
///
/// ```
/// use livekit_core::redact_url;
///
/// assert_eq!(redact_url("rtmp://a.example/live2/abcd-1234"), "rtmp://a.example/live2/<redacted>");
/// assert_eq!(redact_url("rtmp://127.0.0.1/live"), "rtmp://127.0.0.1/live");
/// assert_eq!(redact_url("srt://h:9000?streamid=secret"), "srt://h:9000?<redacted>");
/// assert_eq!(redact_url("https://u:pw@h/x.m3u8?sig=1"), "https://<redacted>@h/x.m3u8?<redacted>");
/// assert_eq!(redact_url("http://h/hls/x.m3u8"), "http://h/hls/<redacted>");
/// ```
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return scrub(url);
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, _)) => (rest, true),
        None => (rest, false),
    };
    let (authority, path) = match rest.split_once('/') {
        Some((authority, path)) => (authority, Some(path)),
        None => (rest, None),
    };
    let mut out = match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://{REDACTED}@{host}"),
        None => format!("{scheme}://{authority}"),
    };
    if let Some(path) = path {
        let segments: Vec<&str> = path.split('/').collect();
        let redact_last = segments.iter().filter(|s| !s.is_empty()).count() >= 2;
        for (i, segment) in segments.iter().enumerate() {
            out.push('/');
            if redact_last && i + 1 == segments.len() && !segment.is_empty() {
                out.push_str(REDACTED);
            } else {
                out.push_str(segment);
            }
        }
    }
    if query {
        out.push('?');
        out.push_str(REDACTED);
    }
    scrub(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("rtmps://u:p@h:443/rtmp/k?x=y"),
            "rtmps://<redacted>@h:443/rtmp/<redacted>?<redacted>"
        );
        assert_eq!(redact_url("rtmps://x/app"), "rtmps://x/app");
        assert_eq!(redact_url("http://h/b.m3u8"), "http://h/b.m3u8");
        assert_eq!(redact_url("/tmp/a.mp4"), "/tmp/a.mp4");
    }

    #[test]
    fn registered_secrets_are_scrubbed() {
        register_secret("zq-test-secret-77");
        assert_eq!(
            scrub("publish zq-test-secret-77 now"),
            "publish <redacted> now"
        );
        assert_eq!(
            redact_url("srt://h:1/zq-test-secret-77"),
            "srt://h:1/<redacted>"
        );
        register_secret("abc");
        assert_eq!(scrub("abc"), "abc", "too short to scrub from free text");
    }
}
