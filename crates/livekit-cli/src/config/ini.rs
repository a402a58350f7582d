//! Importing PyLivestream 1.x's `pylivestream.ini` (`--config pylivestream.ini`): a small INI
//! reader (as Python's configparser reads these files) and the mapping of its keys onto our
//! [`Config`], with a warning naming each key with no equivalent.

use std::path::{Path, PathBuf};

use super::pylivestream::warn_unmapped;
use super::{Config, ConfigError, SiteEntry, builtin_site_url};

/// An INI section: its name and its `key: value` pairs in order.
type IniSection = (String, Vec<(String, String)>);

/// Sections of an INI file in order, each with its `key: value` / `key = value` pairs
/// (`#` and `;` start comments; keys are lower-cased, as Python's configparser does).
fn parse_ini(path: &Path, text: &str) -> Result<Vec<IniSection>, ConfigError> {
    let mut sections: Vec<IniSection> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            sections.push((name.trim().to_owned(), Vec::new()));
            continue;
        }
        let split = line.find([':', '=']).ok_or_else(|| ConfigError {
            path: path.to_owned(),
            line: Some(n + 1),
            message: format!("expected `key: value`, found {line:?}"),
        })?;
        let Some(section) = sections.last_mut() else {
            return Err(ConfigError {
                path: path.to_owned(),
                line: Some(n + 1),
                message: "a key before the first [section]".into(),
            });
        };
        let key = line[..split].trim().to_ascii_lowercase();
        let value = line[split + 1..].trim().to_owned();
        section.1.push((key, value));
    }
    Ok(sections)
}

fn size_wxh(text: &str) -> Option<[u32; 2]> {
    let (w, h) = text.split_once(['x', 'X'])?;
    Some([w.trim().parse().ok()?, h.trim().parse().ok()?])
}

fn origin_xy(text: &str) -> Option<[i32; 2]> {
    let (x, y) = text.split_once(',')?;
    Some([x.trim().parse().ok()?, y.trim().parse().ok()?])
}

/// `128k` -> 128 (kb/s); `128000` -> 128.
fn kbps(text: &str) -> Option<u32> {
    let text = text.trim();
    match text.strip_suffix(['k', 'K']) {
        Some(k) => k.trim().parse().ok(),
        None => text.parse::<u32>().ok().map(|b| b / 1000),
    }
}

/// Maps a PyLivestream 1.x `pylivestream.ini`: the configuration and a warning per key with no
/// equivalent.
pub(super) fn from_pylivestream_ini(
    path: &Path,
    text: &str,
) -> Result<(Config, Vec<String>), ConfigError> {
    let mut config = Config::default();
    let mut unmapped = Vec::new();
    let bad = |section: &str, key: &str, value: &str| {
        ConfigError::new(path, format!("[{section}] {key}: cannot read {value:?}"))
    };
    for (section, pairs) in parse_ini(path, text)? {
        match section.as_str() {
            "DEFAULT" => {
                for (key, value) in pairs {
                    let linux = &mut config.capture.linux;
                    let v = value.as_str();
                    match key.as_str() {
                        "screencap_origin" => {
                            linux.screen_origin =
                                Some(origin_xy(v).ok_or_else(|| bad(&section, &key, v))?)
                        }
                        "screencap_res" => {
                            linux.screen_size =
                                Some(size_wxh(v).ok_or_else(|| bad(&section, &key, v))?)
                        }
                        "screencap_fps" => {
                            linux.screen_fps = Some(v.parse().map_err(|_| bad(&section, &key, v))?)
                        }
                        "webcam_res" => {
                            linux.camera_size =
                                Some(size_wxh(v).ok_or_else(|| bad(&section, &key, v))?)
                        }
                        "webcam_fps" => {
                            linux.camera_fps = Some(v.parse().map_err(|_| bad(&section, &key, v))?)
                        }
                        "audiofs" => {
                            config.defaults.audio_rate =
                                v.parse().map_err(|_| bad(&section, &key, v))?
                        }
                        "keyframe_sec" => {
                            config.defaults.keyframe_sec =
                                v.parse().map_err(|_| bad(&section, &key, v))?
                        }
                        "audio_bps" => {
                            config.defaults.audio_kbps =
                                kbps(v).ok_or_else(|| bad(&section, &key, v))?
                        }
                        "preset" => config.defaults.preset = v.to_owned(),
                        "timelimit" if v.is_empty() => {}
                        _ => unmapped.push(format!("[DEFAULT] {key}")),
                    }
                }
            }
            "linux" | "darwin" | "win32" => {
                let target = match section.as_str() {
                    "linux" => &mut config.capture.linux,
                    "darwin" => &mut config.capture.macos,
                    _ => &mut config.capture.windows,
                };
                for (key, value) in pairs {
                    match key.as_str() {
                        "webcamchan" => target.camera = Some(value),
                        "screenchan" => target.screen = Some(value),
                        "audiochan" => target.microphone = Some(value),
                        _ => unmapped.push(format!("[{section}] {key}")),
                    }
                }
            }
            "file" => {
                unmapped.push("[file] (to keep what is streamed: stream-file --record FILE; the screen: `livekit capture-screen FILE`)".into())
            }
            site => {
                let name = site.trim_end_matches(".io").to_owned();
                let mut entry = SiteEntry::default();
                for (key, value) in pairs {
                    let v = value.as_str();
                    match key.as_str() {
                        "server" => {
                            entry.url =
                                Some(v.trim_end_matches('/').to_owned()).filter(|u| !u.is_empty())
                        }
                        // In 1.x `key` names a file holding the key.
                        "key" => {
                            entry.key_file =
                                Some(PathBuf::from(v)).filter(|p| !p.as_os_str().is_empty())
                        }
                        "video_kbps" => {
                            entry.video_kbps = Some(v.parse().map_err(|_| bad(site, &key, v))?)
                        }
                        "audio_bps" => {
                            entry.audio_kbps = Some(kbps(v).ok_or_else(|| bad(site, &key, v))?)
                        }
                        "keyframe_sec" => {
                            entry.keyframe_sec = Some(v.parse().map_err(|_| bad(site, &key, v))?)
                        }
                        _ => unmapped.push(format!("[{site}] {key}")),
                    }
                }
                if entry.url.is_none() && builtin_site_url(&name).is_none() {
                    unmapped.push(format!("[{site}] (no server URL)"));
                    continue;
                }
                config.sites.insert(name, entry);
            }
        }
    }
    Ok((config, warn_unmapped(path, unmapped)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_helpers() {
        assert_eq!(kbps("128k"), Some(128));
        assert_eq!(kbps("96000"), Some(96));
        assert_eq!(size_wxh("640x480"), Some([640, 480]));
        assert_eq!(origin_xy("50, 30"), Some([50, 30]));
        assert_eq!(size_wxh("640"), None);
    }
}
