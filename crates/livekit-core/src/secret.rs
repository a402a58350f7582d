//! Secrets (stream keys, passphrases) kept out of everything shown: a process-wide list of
//! known secrets, [`scrub`] to remove them from any text, and [`redact_url`] for URLs.
//!
//! Sinks register every stream key they are given; sources redact the URLs they name in
//! errors; FFmpeg's log is scrubbed before it reaches `tracing`.

use std::collections::BTreeSet;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};
use parking_lot::RwLock;

/// What a redacted secret is shown as.
pub const REDACTED: &str = "<redacted>";

/// The registered secrets, and a matcher for all of them, made again at the first scrub after
/// a secret was added (secrets come a few at a time; text is scrubbed at every log line).
static SECRETS: RwLock<Secrets> = RwLock::new(Secrets {
    set: BTreeSet::new(),
    matcher: None,
    stale: false,
});

struct Secrets {
    set: BTreeSet<String>,
    matcher: Option<Arc<AhoCorasick>>,
    /// Secrets were added since the matcher was made.
    stale: bool,
}

impl Secrets {
    fn matcher(&mut self) -> Option<Arc<AhoCorasick>> {
        if self.stale {
            // Leftmost-longest: a secret that contains another is removed whole.
            self.matcher = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(self.set.iter())
                .ok()
                .map(Arc::new);
            self.stale = false;
        }
        self.matcher.clone()
    }
}

/// Secrets shorter than this are not scrubbed from free text (they would match ordinary
/// words); they are still never put in our own messages.
const MIN_SCRUB_LEN: usize = 4;

/// Remembers `secret` (for the life of the process) so that [`scrub`] removes it from any text.
pub fn register_secret(secret: &str) {
    let secret = secret.trim();
    if secret.len() < MIN_SCRUB_LEN || SECRETS.read().set.contains(secret) {
        return;
    }
    let mut secrets = SECRETS.write();
    if secrets.set.insert(secret.to_owned()) {
        secrets.stale = true;
    }
}

/// `text` with every registered secret replaced by `<redacted>`.
pub fn scrub(text: &str) -> String {
    let matcher = {
        let secrets = SECRETS.read();
        if secrets.stale {
            drop(secrets);
            SECRETS.write().matcher()
        } else {
            secrets.matcher.clone()
        }
    };
    match matcher {
        Some(matcher) => {
            let mut out = String::with_capacity(text.len());
            matcher.replace_all_with(text, &mut out, |_, _, out| {
                out.push_str(REDACTED);
                true
            });
            out
        }
        None => text.to_owned(),
    }
}

/// A URL as it may be shown: user info, the query string (SRT `streamid`/`passphrase`, signed
/// links) and, when the path has two or more segments, the last one (the stream key, by RTMP
/// convention; a URL typed by mistake may carry one too) replaced by `<redacted>`; then every
/// registered secret scrubbed. Text that is not a URL is only scrubbed.
///
/// The secret parts of the URL are also registered (see [`register_url_secrets`]), so FFmpeg's
/// own messages about it ("Connection to srt://h:9000?streamid=... failed") are scrubbed too.
///
/// ```
/// use livekit_core::redact_url;
///
/// assert_eq!(redact_url("rtmp://a.example/live2/abcd-1234"), "rtmp://a.example/live2/<redacted>");
/// assert_eq!(redact_url("rtmp://127.0.0.1/live"), "rtmp://127.0.0.1/live");
/// assert_eq!(redact_url("srt://h:9000?streamid=secret"), "srt://h:9000?<redacted>");
/// assert_eq!(redact_url("https://u:pw@h/x.m3u8?sig=1"), "https://<redacted>@h/x.m3u8?<redacted>");
/// assert_eq!(redact_url("http://h/hls/x.m3u8"), "http://h/hls/x.m3u8");
/// assert_eq!(redact_url("https://h/8f3c2a91d7e64b0c9a1f/whip"), "https://h/<redacted>/whip");
/// ```
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return scrub(url);
    };
    register_url_secrets(url);
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
        let non_empty: Vec<&&str> = segments.iter().filter(|s| !s.is_empty()).collect();
        // The last of two or more segments is the key by RTMP convention; a lone segment is
        // the application, unless it looks like a key (the application left out by mistake).
        let redact_last = !web_scheme(scheme)
            && (non_empty.len() >= 2
                || (streaming_scheme(scheme)
                    && non_empty.first().is_some_and(|only| looks_like_a_key(only))));
        for (i, segment) in segments.iter().enumerate() {
            out.push('/');
            if (redact_last && i + 1 == segments.len() && !segment.is_empty())
                || (web_scheme(scheme) && web_key(segment))
            {
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

/// Registers the parts of `url` that may be secret, so that [`scrub`] removes them from any text:
/// the user info (`user:password@`), the values of the query string (SRT `streamid` and
/// `passphrase`, signed links' tokens; numbers and SRT's mode names excepted) and, when the
/// path has two or more segments, the last one (the RTMP stream key). Text without `://` is
/// left alone.
pub fn register_url_secrets(url: &str) {
    let Some((scheme, rest)) = url.trim().split_once("://") else {
        return;
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if let Some((user_info, _)) = authority.rsplit_once('@') {
        register_secret(user_info);
        if let Some((_, password)) = user_info.split_once(':') {
            register_secret(password);
        }
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if web_scheme(scheme) {
        // A WHIP endpoint: its key is a bearer token; a path segment is a secret only when
        // it looks like one (services that put the key in the path).
        for segment in segments.iter().filter(|s| web_key(s)) {
            register_secret(segment);
        }
    } else if let Some(last) = segments.last()
        && (segments.len() >= 2 || (streaming_scheme(scheme) && looks_like_a_key(last)))
    {
        register_secret(last);
    }
    for pair in query.unwrap_or("").split(['&', '#']) {
        let value = pair.split_once('=').map_or(pair, |(_, value)| value);
        let ordinary = value.parse::<f64>().is_ok()
            || matches!(
                value.to_ascii_lowercase().as_str(),
                "caller" | "listener" | "rendezvous" | "true" | "false" | "live" | "file"
            );
        if !ordinary {
            register_secret(value);
        }
    }
}

/// Whether a URL scheme is the web's (`http`, `https`: WHIP endpoints), whose path segments
/// are names unless they look like keys.
fn web_scheme(scheme: &str) -> bool {
    matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https")
}

/// Whether a path segment of a web URL is a key: it looks like one and is not a file name
/// (`episode-2024-12.mp4`).
fn web_key(segment: &str) -> bool {
    looks_like_a_key(segment) && !segment.contains('.')
}

/// Whether a URL scheme is one a stream is sent with (where a lone path segment may be a key).
fn streaming_scheme(scheme: &str) -> bool {
    matches!(
        scheme.to_ascii_lowercase().as_str(),
        "rtmp" | "rtmps" | "rtmpt" | "rtmpe" | "srt"
    )
}

/// Whether `text` (a lone URL path segment, a name given as a site) looks more like a stream
/// key than a name: long; shaped like the keys sites hand out (`abcd-efgh-ijkl-mnop`,
/// `live_123_xyz`); or twelve characters or more mixing letters and digits (application and
/// site names are short words: `live`, `live2`, `app`, `youtube`).
pub fn looks_like_a_key(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    let dashed = groups.len() >= 4
        && groups
            .iter()
            .all(|g| g.len() == 4 && g.chars().all(|c| c.is_ascii_alphanumeric()));
    let mixed = text.chars().count() >= 12
        && text.chars().any(|c| c.is_ascii_digit())
        && text.chars().any(|c| c.is_alphabetic());
    text.chars().count() > 20 || text.starts_with("live_") || dashed || mixed
}

/// Text that names a destination but is not a proper URL (`rtmp:/host/app/KEY` with a slash
/// missing, `host/app/KEY` without a scheme), as it may be shown: when it has two or more
/// `/`-separated parts the last one is replaced by `<redacted>`, as is a query string; then
/// every registered secret is scrubbed. A proper URL goes through [`redact_url`].
pub fn redact_url_like(text: &str) -> String {
    if text.contains("://") {
        return redact_url(text);
    }
    let (rest, query) = match text.split_once('?') {
        Some((rest, _)) => (rest, true),
        None => (text, false),
    };
    let parts: Vec<&str> = rest.split('/').collect();
    // `twitch:KEY` (a site and its key joined by mistake): what follows the colon goes,
    // unless it is a port.
    if parts.len() == 1
        && let Some((before, after)) = rest.rsplit_once(':')
        && !after.chars().all(|c| c.is_ascii_digit())
    {
        let mut out = format!("{before}:{REDACTED}");
        if query {
            out.push('?');
            out.push_str(REDACTED);
        }
        return scrub(&out);
    }
    let mut out = if parts.iter().filter(|p| !p.is_empty()).count() >= 2 {
        let last = parts.iter().rposition(|p| !p.is_empty()).unwrap_or(0);
        parts
            .iter()
            .enumerate()
            .map(|(i, p)| if i == last { REDACTED } else { p })
            .collect::<Vec<_>>()
            .join("/")
    } else {
        rest.to_owned()
    };
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
    fn the_longest_secret_wins_among_thousands() {
        for n in 0..5000 {
            register_secret(&format!("bulk-secret-{n:05}"));
        }
        register_secret("zq-inner-7781");
        register_secret("outer-zq-inner-7781-more");
        assert_eq!(
            scrub("a outer-zq-inner-7781-more b zq-inner-7781 c bulk-secret-04999 d"),
            "a <redacted> b <redacted> c <redacted> d"
        );
        assert_eq!(scrub("nothing here"), "nothing here");
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("rtmps://u:p@h:443/rtmp/k?x=y"),
            "rtmps://<redacted>@h:443/rtmp/<redacted>?<redacted>"
        );
        assert_eq!(redact_url("rtmps://x/app"), "rtmps://x/app");
        assert_eq!(redact_url("rtmp://x/live2"), "rtmp://x/live2");
        // The application left out: a lone segment that looks like a key is one.
        assert_eq!(redact_url("rtmp://x/ZQKEY12345678"), "rtmp://x/<redacted>");
        assert_eq!(
            redact_url("rtmp://x/abcd-1234-efgh-5678-ijkl"),
            "rtmp://x/<redacted>"
        );
        assert_eq!(redact_url("http://h/b.m3u8"), "http://h/b.m3u8");
        assert_eq!(
            redact_url("http://h/episode-2024-12.mp4"),
            "http://h/episode-2024-12.mp4"
        );
        assert_eq!(redact_url("/tmp/a.mp4"), "/tmp/a.mp4");
    }

    #[test]
    fn the_secret_parts_of_a_url_are_remembered() {
        let url = "srt://h:9000?streamid=zq-srt-id-41&passphrase=zq-pass-phrase-42&mode=caller&latency=200000";
        assert_eq!(redact_url(url), "srt://h:9000?<redacted>");
        assert_eq!(
            scrub("Connection to srt://h:9000?streamid=zq-srt-id-41 failed (zq-pass-phrase-42)"),
            "Connection to srt://h:9000?streamid=<redacted> failed (<redacted>)"
        );
        // Ordinary option values are not secrets.
        assert_eq!(
            scrub("caller mode, latency 200000"),
            "caller mode, latency 200000"
        );
        register_url_secrets("rtmp://zq-user:zq-password-43@h/app/zq-key-44");
        assert_eq!(
            scrub("zq-user:zq-password-43 zq-key-44"),
            "<redacted> <redacted>"
        );
    }

    #[test]
    fn url_like_text_is_redacted() {
        assert_eq!(
            redact_url_like("rtmp:/127.0.0.1/live/abc-key"),
            "rtmp:/127.0.0.1/live/<redacted>"
        );
        assert_eq!(
            redact_url_like("127.0.0.1:1935/live/abc-key/"),
            "127.0.0.1:1935/live/<redacted>/"
        );
        assert_eq!(redact_url_like("h/app?k=v"), "h/<redacted>?<redacted>");
        assert_eq!(redact_url_like("youtub"), "youtub");
        assert_eq!(redact_url_like("twitch:abc-key"), "twitch:<redacted>");
        assert_eq!(redact_url_like("localhost:1935"), "localhost:1935");
        assert_eq!(
            redact_url_like("rtmp://h/app/abc-key"),
            "rtmp://h/app/<redacted>"
        );
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
