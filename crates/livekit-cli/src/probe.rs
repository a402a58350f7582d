//! `livekit probe FILE [--json]`: what a media file or URL holds.

use std::path::PathBuf;

use clap::Args;
use livekit_sources::{MediaInfo, probe};
use serde_json::json;

use crate::Failure;

/// `livekit probe` options.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// A media file or URL (rtmp://, srt://, http(s)://, HLS).
    file: PathBuf,
    /// Print JSON (one object) instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &ProbeArgs) -> Result<(), Failure> {
    let info = probe(&args.file).map_err(crate::usage)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&to_json(&info))?);
    } else {
        print!("{}", to_text(&info));
    }
    Ok(())
}

fn to_json(info: &MediaInfo) -> serde_json::Value {
    json!({
        "name": info.name,
        "container": info.container,
        "duration_seconds": info.duration.map(|d| d.as_secs_f64()),
        "video": info.video.as_ref().map(|v| json!({
            "codec": v.codec,
            "decodable": v.decodable,
            "width": v.width,
            "height": v.height,
            "display_width": info.display_size().map(|s| s.0),
            "display_height": info.display_size().map(|s| s.1),
            "frame_rate": v.frame_rate,
            "variable_frame_rate": v.variable_frame_rate,
            "rotation": v.rotation,
            "pixel_format": v.pixel_format,
        })),
        "audio": info.audio.as_ref().map(|a| json!({
            "codec": a.codec,
            "decodable": a.decodable,
            "sample_rate": a.sample_rate,
            "channels": a.channels,
        })),
        "cover_art": info.cover_art.as_ref().map(|c| json!({
            "codec": c.codec,
            "width": c.width,
            "height": c.height,
        })),
        "other_streams": info.other_streams.iter().map(|s| json!({
            "index": s.index,
            "kind": s.kind,
            "codec": s.codec,
            "language": s.language,
        })).collect::<Vec<_>>(),
        "tags": info.tags,
    })
}

/// The duration line's value when the container gives none.
fn unknown_duration(info: &MediaInfo) -> &'static str {
    let still =
        info.audio.is_none() && (info.container.ends_with("_pipe") || info.container == "image2");
    if info.is_url {
        "unknown (live)"
    } else if still {
        "none (a still image)"
    } else {
        "unknown"
    }
}

fn to_text(info: &MediaInfo) -> String {
    let mut out = format!("{}\n  container: {}\n", info.name, info.container);
    match info.duration {
        Some(d) => out += &format!("  duration: {:.3} s\n", d.as_secs_f64()),
        None => out += &format!("  duration: {}\n", unknown_duration(info)),
    }
    match &info.video {
        Some(v) => {
            out += &format!(
                "  video: {} {}x{} {:.3} fps{}{}{}{}\n",
                v.codec,
                v.width,
                v.height,
                v.frame_rate,
                if v.pixel_format.is_empty() {
                    String::new()
                } else {
                    format!(" {}", v.pixel_format)
                },
                if v.variable_frame_rate {
                    " (variable frame rate)"
                } else {
                    ""
                },
                if v.rotation == 0 {
                    String::new()
                } else {
                    format!(", rotated {} degrees", v.rotation)
                },
                if v.decodable {
                    ""
                } else {
                    " (no decoder in this FFmpeg)"
                },
            );
        }
        None => out += "  video: none\n",
    }
    match &info.audio {
        Some(a) => {
            out += &format!(
                "  audio: {} {} Hz, {} channel{}{}\n",
                a.codec,
                a.sample_rate,
                a.channels,
                if a.channels == 1 { "" } else { "s" },
                if a.decodable {
                    ""
                } else {
                    " (no decoder in this FFmpeg)"
                },
            );
        }
        None => out += "  audio: none\n",
    }
    if let Some(cover) = &info.cover_art {
        out += &format!(
            "  cover art: {} {}x{}\n",
            cover.codec, cover.width, cover.height
        );
    }
    if !info.other_streams.is_empty() {
        out += "  other streams:\n";
        for stream in &info.other_streams {
            out += &format!(
                "    #{} {} {}{}\n",
                stream.index,
                stream.kind,
                stream.codec,
                stream
                    .language
                    .as_ref()
                    .map(|l| format!(" ({l})"))
                    .unwrap_or_default()
            );
        }
    }
    for (key, value) in &info.tags {
        out += &format!("  {key}: {value}\n");
    }
    out
}
