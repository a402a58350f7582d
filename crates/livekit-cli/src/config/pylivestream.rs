//! Importing PyLivestream 2.x's `pylivestream.json` (`--config pylivestream.json`): its keys
//! mapped onto our [`Config`], and a warning naming each key with no equivalent.

use std::path::Path;

use super::{Config, ConfigError, SiteEntry};

fn encoder_from_codec(codec: &str) -> Option<&'static str> {
    match codec {
        "libx264" | "h264" => Some("x264"),
        "h264_nvenc" => Some("nvenc"),
        "h264_vaapi" => Some("vaapi"),
        _ => None,
    }
}

fn pair<T: Copy + TryFrom<i64>>(value: &serde_json::Value) -> Option<[T; 2]> {
    let items = value.as_array()?;
    if items.len() != 2 {
        return None;
    }
    let a = T::try_from(items[0].as_i64()?).ok()?;
    let b = T::try_from(items[1].as_i64()?).ok()?;
    Some([a, b])
}

fn number<T: TryFrom<i64>>(value: &serde_json::Value) -> Option<T> {
    value
        .as_i64()
        .or_else(|| value.as_f64().map(|f| f as i64))
        .and_then(|n| T::try_from(n).ok())
}

/// Maps a PyLivestream 2.x `pylivestream.json`: the configuration and a warning per key with
/// no equivalent.
pub(super) fn from_pylivestream_json(
    path: &Path,
    text: &str,
) -> Result<(Config, Vec<String>), ConfigError> {
    let root: serde_json::Value = serde_json::from_str(text).map_err(|e| ConfigError {
        path: path.to_owned(),
        line: Some(e.line()),
        message: format!("not valid JSON: {e}"),
    })?;
    let Some(root) = root.as_object() else {
        return Err(ConfigError::new(path, "expected a JSON object at the top"));
    };
    let mut config = Config::default();
    let mut unmapped = Vec::new();
    let bad = |key: &str| ConfigError::new(path, format!("{key}: unexpected value"));
    for (key, value) in root {
        let linux = &mut config.capture.linux;
        match key.as_str() {
            "screencap_origin" => linux.screen_origin = Some(pair(value).ok_or_else(|| bad(key))?),
            "screencap_size" => linux.screen_size = Some(pair(value).ok_or_else(|| bad(key))?),
            "screencap_fps" => linux.screen_fps = Some(number(value).ok_or_else(|| bad(key))?),
            "camera_size" => linux.camera_size = Some(pair(value).ok_or_else(|| bad(key))?),
            "camera_fps" => linux.camera_fps = Some(number(value).ok_or_else(|| bad(key))?),
            "audio_rate" => config.defaults.audio_rate = number(value).ok_or_else(|| bad(key))?,
            "audio_bps" => {
                config.defaults.audio_kbps = number::<u32>(value).ok_or_else(|| bad(key))? / 1000
            }
            "preset" => config.defaults.preset = value.as_str().ok_or_else(|| bad(key))?.to_owned(),
            "video_codec" => match value.as_str().and_then(encoder_from_codec) {
                Some(encoder) => config.defaults.encoder = encoder.to_owned(),
                None => unmapped.push(format!("{key} = {value} (livekit encodes H.264)")),
            },
            "audio_codec" => {
                if value.as_str() != Some("aac") {
                    unmapped.push(format!("{key} = {value} (livekit encodes AAC)"));
                }
            }
            "linux" | "darwin" | "win32" => {
                let section = match key.as_str() {
                    "linux" => &mut config.capture.linux,
                    "darwin" => &mut config.capture.macos,
                    _ => &mut config.capture.windows,
                };
                let Some(object) = value.as_object() else {
                    return Err(bad(key));
                };
                for (k, v) in object {
                    let text = v.as_str().map(str::to_owned);
                    match k.as_str() {
                        "camera_chan" => section.camera = text,
                        "screen_chan" => section.screen = text,
                        "audio_chan" => section.microphone = text,
                        _ => unmapped.push(format!("{key}.{k}")),
                    }
                }
            }
            "sites" => {
                let Some(object) = value.as_object() else {
                    return Err(bad(key));
                };
                for (name, site) in object {
                    if name == "file" {
                        unmapped.push(
                            "sites.file (to keep what is streamed: stream-file --record FILE; the screen: `livekit capture-screen FILE`)".into(),
                        );
                        continue;
                    }
                    let Some(fields) = site.as_object() else {
                        return Err(bad(&format!("sites.{name}")));
                    };
                    let mut entry = SiteEntry::default();
                    for (k, v) in fields {
                        match k.as_str() {
                            "url" => {
                                entry.url = v.as_str().map(|u| u.trim_end_matches('/').to_owned())
                            }
                            "streamid" => {
                                entry.key = v
                                    .as_str()
                                    .filter(|s| {
                                        !s.is_empty() && !s.chars().all(|c| c == 'x' || c == '-')
                                    })
                                    .map(str::to_owned)
                            }
                            "keyframe_sec" => entry.keyframe_sec = v.as_f64(),
                            "video_kbps" => entry.video_kbps = number(v),
                            "audio_bps" => entry.audio_kbps = number::<u32>(v).map(|b| b / 1000),
                            _ => unmapped.push(format!("sites.{name}.{k}")),
                        }
                    }
                    config.sites.insert(name.clone(), entry);
                }
            }
            _ => unmapped.push(key.clone()),
        }
    }
    Ok((config, warn_unmapped(path, unmapped)))
}

/// One warning per key of an imported file that livekit has no equivalent for (both
/// PyLivestream imports).
pub(super) fn warn_unmapped(path: &Path, unmapped: Vec<String>) -> Vec<String> {
    unmapped
        .into_iter()
        .map(|key| {
            format!(
                "{}: {key} has no livekit equivalent; ignored",
                path.display()
            )
        })
        .collect()
}
