//! HLS recordings ([`Container::Hls`](super::Container::Hls)): FFmpeg's `hls` muxer writes the
//! media playlist at the recording's path and the segments beside it. The playlist is
//! replaced whole each time (written to a temporary file, then renamed), so a server handing
//! the folder out never serves half a playlist.

use std::path::Path;

use ffmpeg_next as ff;

use super::{HlsSegments, HlsSettings};

/// The name of an fMP4 playlist's initialization segment, beside the playlist.
pub(crate) const INIT: &str = "init.mp4";
/// Segment files are `segment00000.m4s`, `segment00001.m4s`, ... (or `.ts`).
const SEGMENT_PREFIX: &str = "segment";

/// Whether `name` is a file an HLS recording writes beside its playlist.
fn is_ours(name: &str) -> bool {
    name == INIT
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
    let segments = folder(playlist).join(format!(
        "{SEGMENT_PREFIX}%05d.{}",
        settings.segments.extension()
    ));
    options.set("hls_segment_filename", &segments.to_string_lossy());
    options.set("hls_fmp4_init_filename", INIT);
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
        assert!(is_ours("segment00012.m4s"));
        assert!(is_ours("segment00012.ts"));
        assert!(is_ours("init.mp4"));
        assert!(!is_ours("holiday.mp4"));
        assert!(!is_ours("segments.txt"));
        assert!(!is_ours("index.m3u8"));
    }
}
