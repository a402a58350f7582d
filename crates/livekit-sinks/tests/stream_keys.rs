#![allow(clippy::unwrap_used)]
//! Stream keys from a key file, an environment variable or the configuration; sites from
//! presets and TOML; nothing ever prints a key.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex, OnceLock};

use livekit_sinks::stream::{Destination, DestinationError, Protocol, SiteConfig};

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs() -> String {
    let buffer = LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(buffer.clone());
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        buffer
    });
    String::from_utf8_lossy(&buffer.lock().unwrap()).into_owned()
}

fn sites(toml_text: &str) -> BTreeMap<String, SiteConfig> {
    #[derive(serde::Deserialize)]
    struct Config {
        sites: BTreeMap<String, SiteConfig>,
    }
    toml::from_str::<Config>(toml_text).unwrap().sites
}

#[test]
fn key_file_first_line_and_a_warning_when_others_can_read_it() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("youtube.key");
    std::fs::write(&path, "file-key-a1b2c3d4\nsecond line ignored\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = sites(&format!(
        "[sites.youtube]\nkey_file = {:?}\nvideo_kbps = 2500\nkeyframe_sec = 2.0\n",
        path.to_str().unwrap()
    ));
    let destination = Destination::resolve("youtube", &config).unwrap();
    assert_eq!(destination.key().unwrap().expose(), "file-key-a1b2c3d4");
    assert_eq!(destination.url(), "rtmp://a.rtmp.youtube.com/live2");
    assert_eq!(
        destination.redacted_url(),
        "rtmp://a.rtmp.youtube.com/live2/<redacted>"
    );
    assert_eq!(destination.video_kbps, Some(2500));
    assert_eq!(destination.keyframe_sec, Some(2.0));
    let log = logs();
    assert!(
        log.contains("the stream key file can be read by other users: chmod 600 it"),
        "{log}"
    );
    assert!(log.contains("mode=644"), "{log}");

    // chmod 600: no warning for this file.
    let private = dir.path().join("private.key");
    std::fs::write(&private, "private-key-e5f6a7b8\n").unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = sites(&format!(
        "[sites.mine]\nurl = \"rtmps://ingest.example.com:443/app\"\nkey_file = {:?}\n",
        private.to_str().unwrap()
    ));
    let destination = Destination::resolve("mine", &config).unwrap();
    assert_eq!(destination.protocol, Protocol::Rtmps);
    assert!(!logs().contains("private.key"));

    for text in [format!("{destination:?}"), format!("{config:?}"), logs()] {
        assert!(!text.contains("file-key-a1b2c3d4"), "{text}");
        assert!(!text.contains("private-key-e5f6a7b8"), "{text}");
    }
}

#[test]
fn key_from_the_environment_or_the_config() {
    logs();
    let config = sites(
        "[sites.twitch]\nkey_env = \"LIVEKIT_TEST_TWITCH_KEY\"\n\
         [sites.restream]\nkey = \"inline-key-0f0f0f\"\n\
         [sites.unset]\nurl = \"rtmp://example.com/app\"\nkey_env = \"LIVEKIT_TEST_UNSET_KEY\"\n",
    );
    let error = Destination::resolve("unset", &config).unwrap_err();
    assert_eq!(
        error.to_string(),
        "site unset: the environment variable LIVEKIT_TEST_UNSET_KEY (its stream key) is not set"
    );
    // SAFETY: only this test reads or writes this variable.
    unsafe { std::env::set_var("LIVEKIT_TEST_TWITCH_KEY", "env-key-9a9a9a") };
    let twitch = Destination::resolve("twitch", &config).unwrap();
    assert_eq!(twitch.key().unwrap().expose(), "env-key-9a9a9a");
    assert_eq!(twitch.url(), "rtmp://live.twitch.tv/app");
    let restream = Destination::resolve("restream", &config).unwrap();
    assert_eq!(restream.key().unwrap().expose(), "inline-key-0f0f0f");
    assert!(!format!("{config:?} {twitch:?} {restream:?}").contains("-key-"));
}

#[test]
fn bad_sites_and_key_files_name_what_is_wrong() {
    logs();
    let config =
        sites("[sites.broken]\nurl = \"rtmp://example.com/app\"\nkey_file = \"/no/such.key\"\n");
    let error = Destination::resolve("broken", &config).unwrap_err();
    assert!(matches!(error, DestinationError::KeyFile { .. }));
    assert_eq!(
        error.to_string(),
        "site broken: cannot read the key file /no/such.key"
    );
    let error = Destination::resolve("youtub", &config).unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown site \"youtub\": known sites are broken, facebook, localhost, restream, \
         twitch, youtube; or give a rtmp://, rtmps:// or srt:// URL, or a WHIP endpoint's https:// URL"
    );
    let error = Destination::resolve("rtmp:///live/key-xyz-123", &config).unwrap_err();
    assert_eq!(
        error.to_string(),
        "rtmp:///live/<redacted>: the URL has no host"
    );
    for (url, said) in [
        (
            "rtmp://127.0.0.1:99999/live/key-xyz-123",
            "rtmp://127.0.0.1:99999/live/<redacted>: port \"99999\" is not a number from 1 to 65535",
        ),
        (
            "rtmps://host:0/app/key-xyz-123",
            "rtmps://host:0/app/<redacted>: port \"0\" is not a number from 1 to 65535",
        ),
        (
            "rtmp://[::1]:http/app/key-xyz-123",
            "rtmp://[::1]:http/app/<redacted>: port \"http\" is not a number from 1 to 65535",
        ),
        (
            "srt://127.0.0.1",
            "srt://127.0.0.1: an srt:// URL needs a port (srt://host:port)",
        ),
    ] {
        let error = Destination::resolve(url, &config).unwrap_err();
        assert!(matches!(error, DestinationError::BadPort { .. }), "{url}");
        assert_eq!(error.to_string(), said);
    }
    for good in [
        "rtmp://[::1]:1935/app/k",
        "rtmp://host/app/k",
        "srt://[::1]:9000",
    ] {
        assert!(Destination::resolve(good, &config).is_ok(), "{good}");
    }
    let bad: Result<toml::Table, _> = toml::from_str("[sites.x]\nkeyy = 1\n");
    let bad = bad.unwrap().get("sites").cloned().unwrap();
    let bad: Result<BTreeMap<String, SiteConfig>, _> = bad.try_into();
    assert!(
        bad.unwrap_err()
            .to_string()
            .contains("unknown field `keyy`")
    );
}
