//! HLS recordings ([`Container::Hls`](super::Container::Hls)): FFmpeg's `hls` muxer writes the
//! media playlist at the recording's path and the segments beside it. The playlist is
//! replaced whole each time (written to a temporary file, then renamed), so a server handing
//! the folder out never serves half a playlist.

use std::path::Path;

use ffmpeg_next as ff;

use super::{HlsSegments, HlsSettings};

/// An fMP4 playlist's initialization segment is `init-TOKEN.mp4`, beside the playlist.
const INIT_PREFIX: &str = "init-";
/// Segment files are `segment-TOKEN-00000.m4s`, `segment-TOKEN-00001.m4s`, ... (or `.ts`).
///
/// TOKEN is new at every start (the start time in milliseconds, base 36), so a playlist
/// started again in the same folder never reuses a name: a player or cache that holds a
/// segment of the earlier show (segments are served as unchanging) cannot mix it into this one.
const SEGMENT_PREFIX: &str = "segment";

/// Whether `name` is a file an HLS recording writes beside its playlist.
fn is_ours(name: &str) -> bool {
    (name.starts_with(INIT_PREFIX) && name.ends_with(".mp4"))
        || (name.starts_with(SEGMENT_PREFIX)
            && [HlsSegments::Fmp4, HlsSegments::Ts]
                .iter()
                .any(|s| name.ends_with(&format!(".{}", s.extension())) || name.ends_with(".tmp")))
}

/// Makes the playlist's folder (an HLS recording is a folder of files), and removes the
/// segments a previous recording left there, so that a player never mixes two shows.
pub(crate) fn prepare_folder(playlist: &Path) -> std::io::Result<()> {
    let folder = folder(playlist);
    std::fs::create_dir_all(folder)?;
    for entry in std::fs::read_dir(folder)?.flatten() {
        let name = entry.file_name();
        if name.to_str().is_some_and(is_ours) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let _ = std::fs::remove_file(playlist);
    Ok(())
}

fn folder(playlist: &Path) -> &Path {
    match playlist.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// The `hls` muxer's options for `settings`.
pub(crate) fn options(playlist: &Path, settings: &HlsSettings, options: &mut ff::Dictionary) {
    options.set(
        "hls_time",
        &format!("{:.3}", settings.segment.as_secs_f64().max(0.1)),
    );
    options.set("hls_list_size", &settings.window.to_string());
    let mut flags = String::from("independent_segments+temp_file");
    if settings.window > 0 {
        flags.push_str("+delete_segments");
    } else {
        options.set("hls_playlist_type", "event");
    }
    options.set("hls_flags", &flags);
    options.set(
        "hls_segment_type",
        match settings.segments {
            HlsSegments::Fmp4 => "fmp4",
            HlsSegments::Ts => "mpegts",
        },
    );
    let token = start_token();
    let segments = folder(playlist).join(format!(
        "{SEGMENT_PREFIX}-{token}-%05d.{}",
        settings.segments.extension()
    ));
    options.set("hls_segment_filename", &segments.to_string_lossy());
    options.set(
        "hls_fmp4_init_filename",
        &format!("{INIT_PREFIX}{token}.mp4"),
    );
}

/// This start's part of the file names: the time in milliseconds, in base 36, and never the
/// same twice in one process.
fn start_token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let previous = LAST.fetch_max(now, Ordering::Relaxed);
    let mut n = if previous >= now {
        LAST.fetch_add(1, Ordering::Relaxed) + 1
    } else {
        now
    };
    let mut token = Vec::new();
    loop {
        token.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    token.reverse();
    String::from_utf8(token).expect("ASCII digits")
}

/// The bytes of the segments (and initialization segment) beside `playlist`.
pub(crate) fn segment_bytes(playlist: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(folder(playlist)) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(is_ours))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_files_are_ours() {
        assert!(is_ours("segment-mh3k2x1a-00012.m4s"));
        assert!(is_ours("segment-mh3k2x1a-00012.ts"));
        assert!(is_ours("init-mh3k2x1a.mp4"));
        assert!(!is_ours("holiday.mp4"));
        assert!(!is_ours("segments.txt"));
        assert!(!is_ours("index.m3u8"));
    }

    #[test]
    fn every_start_names_its_files_anew() {
        let tokens: Vec<String> = (0..100).map(|_| start_token()).collect();
        let mut unique = tokens.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), tokens.len(), "{tokens:?}");
        assert!(
            tokens
                .iter()
                .all(|t| t.bytes().all(|b| b.is_ascii_alphanumeric()))
        );
    }
}
