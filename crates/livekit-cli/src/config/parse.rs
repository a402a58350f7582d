//! Reading `livekit.toml`: TOML errors that name the line and the field, and the checks every
//! configuration passes (an imported PyLivestream file too) before it is used.

use std::path::Path;

use super::{Config, ConfigError, builtin_site_url};

/// Parses our TOML; an error names the line and, when serde does not, the field
/// (`defaults.fps: invalid type ...`), in words rather than Rust types.
pub(super) fn parse_toml(path: &Path, text: &str) -> Result<Config, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let start = e.span().map(|s| s.start.min(text.len()));
        // Serde names Rust types ("expected u32"): say what to write instead.
        let mut message = e.message().trim().to_owned();
        for (rust, plain) in [
            ("expected u16", "expected a whole number"),
            ("expected u32", "expected a whole number"),
            ("expected u64", "expected a whole number"),
            ("expected i64", "expected a whole number"),
            ("expected f64", "expected a number"),
            ("expected a boolean", "expected true or false"),
        ] {
            message = message.replace(rust, plain);
        }
        // Name the field ("defaults.fps: invalid type ...") unless the message already does.
        let message = match start.and_then(|start| field_at(text, start)) {
            Some(field)
                if !message.contains(&format!("`{}`", field.rsplit('.').next().unwrap_or(""))) =>
            {
                format!("{field}: {message}")
            }
            _ => message,
        };
        ConfigError {
            path: path.to_owned(),
            line: start.map(|start| text[..start].matches('\n').count() + 1),
            message,
        }
    })
}

/// The dotted name of the `key = value` on the line holding byte `offset` of a TOML text,
/// with the `[table]` it is in: `defaults.fps`.
fn field_at(text: &str, offset: usize) -> Option<String> {
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    if key.is_empty() || key.starts_with('[') {
        return None;
    }
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && !l.starts_with("[["))
        .map(|l| l.trim_matches(['[', ']']).trim().to_owned());
    Some(match table {
        Some(table) => format!("{table}.{key}"),
        None => key.to_owned(),
    })
}

/// Checks every value against its range, and every site for a usable URL.
pub(super) fn validate(path: &Path, config: &Config) -> Result<(), ConfigError> {
    let d = &config.defaults;
    let bad = |field: &str, why: &str| Err(ConfigError::new(path, format!("{field}: {why}")));
    if !(1..=240).contains(&d.fps) {
        return bad("defaults.fps", "must be 1 to 240");
    }
    if !(16..=7680).contains(&d.width) || !(16..=4320).contains(&d.height) {
        return bad("defaults.width/height", "must be 16x16 to 7680x4320");
    }
    if !(8000..=96_000).contains(&d.audio_rate) {
        return bad("defaults.audio_rate", "must be 8000 to 96000");
    }
    if !(8..=512).contains(&d.audio_kbps) {
        return bad("defaults.audio_kbps", "must be 8 to 512");
    }
    if d.video_kbps.is_some_and(|k| !(50..=100_000).contains(&k)) {
        return bad("defaults.video_kbps", "must be 50 to 100000");
    }
    if !(d.keyframe_sec > 0.0 && d.keyframe_sec <= 20.0) {
        return bad("defaults.keyframe_sec", "must be above 0 and at most 20");
    }
    if !(d.give_up_after >= 0.0 && d.give_up_after <= 1e7) {
        return bad(
            "defaults.give_up_after",
            "must be 0 (never give up) to 10000000 seconds",
        );
    }
    if !(d.drain_after > 0.0 && d.drain_after <= 3600.0) {
        return bad(
            "defaults.drain_after",
            "must be above 0 and at most 3600 seconds",
        );
    }
    if !["auto", "x264", "nvenc", "vaapi"].contains(&d.encoder.as_str()) {
        return bad(
            "defaults.encoder",
            &format!("unknown encoder {:?} (auto, x264, nvenc, vaapi)", d.encoder),
        );
    }
    const PRESETS: [&str; 10] = [
        "ultrafast",
        "superfast",
        "veryfast",
        "faster",
        "fast",
        "medium",
        "slow",
        "slower",
        "veryslow",
        "placebo",
    ];
    if !PRESETS.contains(&d.preset.as_str()) {
        return bad(
            "defaults.preset",
            &format!(
                "unknown x264 preset {:?} ({})",
                d.preset,
                PRESETS.join(", ")
            ),
        );
    }
    for (name, site) in &config.sites {
        if site.url.is_none() && builtin_site_url(name).is_none() {
            return bad(
                &format!("sites.{name}"),
                "needs a url (rtmp://, rtmps:// or srt://): it is not a built-in site",
            );
        }
        if let Some(url) = &site.url {
            let scheme = url.split("://").next().unwrap_or_default();
            if !url.contains("://") || !["rtmp", "rtmps", "srt"].contains(&scheme) {
                return bad(
                    &format!("sites.{name}.url"),
                    "must start with rtmp://, rtmps:// or srt://",
                );
            }
        }
        if site.keyframe_sec.is_some_and(|k| !(k > 0.0 && k <= 20.0)) {
            return bad(
                &format!("sites.{name}.keyframe_sec"),
                "must be above 0 and at most 20",
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::DEFAULT_FILE;
    use super::*;

    #[test]
    fn defaults_parse_from_the_init_file() {
        let config = parse_toml(Path::new("x.toml"), DEFAULT_FILE).unwrap();
        assert_eq!(config, Config::default());
    }

    #[test]
    fn toml_errors_name_the_line() {
        let err = parse_toml(Path::new("c.toml"), "[defaults]\nfps = 30\nfpz = 3\n").unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(
            err.to_string().starts_with("c.toml:3: unknown field `fpz`"),
            "{err}"
        );
    }
}
