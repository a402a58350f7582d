//! What the fuzz targets (`fuzz/`, run with `cargo fuzz`) feed arbitrary bytes to, shared with
//! the regular test that replays their corpora (`tests/fuzz_corpus.rs`), so that CI keeps every
//! input a fuzzer ever found fixed.
//!
//! Each entry point takes any bytes and must return: a panic, a hang or a sanitizer report is
//! the bug. Some also check a property the input must not break (a stream key never in an
//! error message or a redacted URL; an imported configuration that loads again).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use livekit_compositor::SceneFile;
use livekit_sinks::stream::SiteConfig;
use livekit_sinks::{Destination, StreamKey};
use livekit_studio::Command;

use crate::config;

/// A fuzz target's entry point: takes any bytes, and panics only on a bug.
pub type Entry = fn(&[u8]);

/// The fuzz targets by name (the file names under `fuzz/fuzz_targets/` and the corpus folders
/// under `fuzz/corpus/`), each with its entry point.
pub const TARGETS: &[(&str, Entry)] = &[
    ("scene_file", scene_file),
    ("config", config_toml),
    ("pylivestream_json", pylivestream_json),
    ("pylivestream_ini", pylivestream_ini),
    ("destination", destination),
    ("ipc_segment", ipc_segment),
    ("mkv_header", mkv_header),
    ("studio_command", studio_command),
];

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// A scene file (TOML): parsed as `compose` and `studio` read it, then turned into the
/// Studio's commands, each of which must survive its own JSON form.
pub fn scene_file(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let Ok(file) = SceneFile::parse(Path::new("fuzz.toml"), text) else {
        return;
    };
    let Ok(commands) = livekit_studio::scene_commands(&file) else {
        return;
    };
    for command in commands {
        let json = command.to_json();
        assert!(
            Command::from_json(&json).is_ok(),
            "a scene file's command does not read back: {json}"
        );
    }
}

/// Reads `text` as the configuration file `name` (its extension picks the format); when it
/// loads, an import writes it as TOML, which must load again.
fn config_as(name: &str, data: &[u8]) {
    let Some(text) = text(data) else { return };
    let Ok(loaded) = config::from_text(Path::new(name), text) else {
        return;
    };
    let _ = config::show(&loaded.config);
    if let Ok(toml) = toml::to_string(&loaded.config) {
        let again = config::from_text(Path::new("imported.toml"), &toml);
        assert!(
            again.is_ok(),
            "a configuration that loaded does not load again as TOML: {:?}\n{toml}",
            again.err().map(|e| e.to_string())
        );
    }
}

/// `livekit.toml`.
pub fn config_toml(data: &[u8]) {
    config_as("livekit.toml", data);
}

/// PyLivestream 2.x's `pylivestream.json`, as `config import` and `--config` read it.
pub fn pylivestream_json(data: &[u8]) {
    config_as("pylivestream.json", data);
}

/// PyLivestream 1.x's `pylivestream.ini`.
pub fn pylivestream_ini(data: &[u8]) {
    config_as("pylivestream.ini", data);
}

/// How often `needle` is in `haystack` (overlapping matches counted once each start).
fn occurrences(haystack: &str, needle: &str) -> usize {
    (0..haystack.len())
        .filter(|&i| haystack.is_char_boundary(i) && haystack[i..].starts_with(needle))
        .count()
}

/// Every letter and digit of `text` replaced by the next one of its kind (`z` by `a`, `9` by
/// `0`): a string of the same shape, so that it takes the same paths.
fn shifted(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'z' => 'a',
            'Z' => 'A',
            '9' => '0',
            'a'..='y' | 'A'..='Y' | '0'..='8' => char::from(c as u8 + 1),
            other => other,
        })
        .collect()
}

/// What resolving `name` (with a configured site of that name holding `key` and `url`, when a
/// key is given) shows: the destination's label, redacted URL and debug form, or the error.
fn shown_for(name: &str, key: Option<&str>, url: Option<&str>) -> String {
    let mut sites = BTreeMap::new();
    if let Some(key) = key {
        sites.insert(
            name.trim().to_owned(),
            SiteConfig {
                url: url.map(str::to_owned),
                key: Some(key.to_owned()),
                ..SiteConfig::default()
            },
        );
    }
    match Destination::resolve(name, &sites) {
        Ok(destination) => format!(
            "{} {} {destination:?}",
            destination.name,
            destination.redacted_url()
        ),
        Err(e) => e.to_string(),
    }
}

/// A site name or URL as given on the command line (first line), with a configured site of
/// that name whose key is the second line (and URL the third). Whatever is resolved or
/// refused, the key (or the key-like last segment of an RTMP URL) is not shown: what is shown
/// holds it no more often than when the same input carries a different key of the same shape
/// (a message's own words may look like a key; a shown key would change with it).
pub fn destination(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let mut lines = text.splitn(3, '\n');
    let name = lines.next().unwrap_or("");
    let key = lines.next().filter(|k| k.trim().len() >= 8);
    let url = lines.next();
    let shown = shown_for(name, key, url);
    // The secret the input holds: the configured key, or an RTMP URL's last path segment.
    let secret = key.map(|k| k.trim().to_owned()).or_else(|| {
        let lower = name.trim().to_ascii_lowercase();
        let rtmp = lower.starts_with("rtmp://") || lower.starts_with("rtmps://");
        // By RTMP's convention the last of two or more path segments is the key (a lone one
        // is the application).
        let path = name.trim().split_once("://")?.1.split_once('/')?.1;
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let segment = path.rsplit('/').next()?;
        (rtmp && segments.len() >= 2 && segment.len() >= 8 && !segment.contains(['?', '#']))
            .then(|| segment.to_owned())
    });
    if let Some(secret) = secret {
        let other = shifted(&secret);
        if other != secret {
            let other_shown = match key {
                Some(key) => shown_for(name, Some(&key.replace(&secret, &other)), url),
                None => {
                    // The URL's last segment, and only it, becomes the other key.
                    let at = name.rfind(&secret).unwrap_or(0);
                    let renamed = format!("{}{other}{}", &name[..at], &name[at + secret.len()..]);
                    shown_for(&renamed, None, url)
                }
            };
            assert!(
                occurrences(&shown, &secret) <= occurrences(&other_shown, &secret),
                "the key {secret:?} is shown: {shown}"
            );
        }
    }
    // A key's own forms are the same whatever the key (a key may be spelled like part of
    // the placeholder they show).
    if let Some(key) = key.and_then(StreamKey::new)
        && let Some(other) = StreamKey::new(&shifted(key.expose()))
    {
        assert_eq!(format!("{key:?} {key}"), format!("{other:?} {other}"));
    }
}

/// The IPC reader facing a segment written by a hostile process: a real segment's layout
/// (made by our writer) with the input written over its control page, from the start (first
/// byte even) or after the fixed header (odd: magic, version and sizes stay valid, so the
/// slot descriptions are reached). The writer's lock is held, as a live writer holds it.
pub fn ipc_segment(data: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    use std::os::fd::AsFd;

    let Some((&mode, overlay)) = data.split_first() else {
        return;
    };
    let template = ipc_template();
    let name = format!("fuzz-ipc-{}", std::process::id());
    let path = Path::new("/dev/shm").join(format!("livekit-{name}"));
    let Ok(mut file) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
    else {
        return;
    };
    let start = if mode & 1 == 0 { 0 } else { 32 };
    let mut bytes = template.clone();
    let end = (start + overlay.len()).min(4096);
    bytes[start..end].copy_from_slice(&overlay[..end - start]);
    if file.write_all(&bytes).is_err() || file.seek(SeekFrom::Start(0)).is_err() {
        let _ = std::fs::remove_file(&path);
        return;
    }
    let _ = lock_exclusive(file.as_fd());
    if let Ok(mut reader) = livekit_core::ipc::Reader::new(&name) {
        for _ in 0..4 {
            if reader.poll().is_err() {
                break;
            }
            reader.wait(Duration::ZERO);
        }
        let _ = reader.writer_state();
    }
    drop(file);
    let _ = std::fs::remove_file(&path);
}

/// Holds an exclusive lock on `fd`, as a live writer does (released when the file closes).
fn lock_exclusive(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a valid, open descriptor borrowed for the call.
    let rc = unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The bytes of a real segment holding one small frame, made once by our own writer.
fn ipc_template() -> &'static Vec<u8> {
    static TEMPLATE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    TEMPLATE.get_or_init(|| {
        use livekit_core::{FrameLayout, PixelFormat, VideoFrameMut};
        let name = format!("fuzz-template-{}", std::process::id());
        let mut writer = livekit_core::ipc::Writer::create(&name).expect("an IPC writer");
        let layout = FrameLayout::new(16, 16, PixelFormat::Rgba8).expect("a layout");
        let mut frame = VideoFrameMut::new(layout, Duration::from_millis(40));
        frame.data_mut_all().fill(0x80);
        writer.publish(&frame.freeze()).expect("a published frame");
        let bytes = std::fs::read(format!("/dev/shm/livekit-{name}")).expect("the segment");
        drop(writer);
        let _ = livekit_core::ipc::remove_stale(&name);
        bytes
    })
}

/// The start of a Matroska file, as the recorder's live `Duration` patcher reads it.
pub fn mkv_header(data: &[u8]) {
    if let Some((offset, scale)) = livekit_sinks::matroska_reserved_duration(data) {
        assert!(scale > 0, "a zero TimestampScale was accepted");
        assert!(
            offset + 11 <= data.len() as u64,
            "the reserved element at {offset} is past the bytes read ({})",
            data.len()
        );
    }
}

/// A Studio command in JSON, as the HTTP API receives it. One that reads must read back from
/// its own JSON form as the same command.
pub fn studio_command(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let Ok(command) = Command::from_json(text) else {
        return;
    };
    let json = command.to_json();
    let again = Command::from_json(&json);
    assert!(
        again.as_ref().is_ok_and(|c| same(c, &command)),
        "{text} read as {json}, which reads back as {again:?}"
    );
}

/// Equal, or equal in JSON (a NaN is not equal to itself).
fn same(a: &Command, b: &Command) -> bool {
    a == b || a.to_json() == b.to_json()
}
