//! The `livekit` configuration: `livekit.toml`, its lookup order, and PyLivestream's files.
//!
//! Lookup: `--config FILE`, then `./livekit.toml`, then `$XDG_CONFIG_HOME/livekit/livekit.toml`
//! (`~/.config/...` without the variable), then the built-in defaults. A `--config` file ending
//! in `.json` or `.ini` is read as PyLivestream's `pylivestream.json` (2.x) or
//! `pylivestream.ini` (1.x): its keys are mapped and each key with no equivalent is named in a
//! warning.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Encoding and canvas defaults.
    pub defaults: Defaults,
    /// Capture settings, per platform.
    pub capture: Capture,
    /// Sites by name; built-in presets are used for names not listed here.
    pub sites: BTreeMap<String, SiteEntry>,
}

/// `[defaults]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Defaults {
    /// Frames per second of what livekit draws (stills, songs, the screen); a video file is
    /// sent at its own rate.
    pub fps: u32,
    /// Output width for jobs that compose (stills, audio-only files, screen).
    pub width: u32,
    /// Output height for jobs that compose.
    pub height: u32,
    /// Audio sample rate of what is sent.
    pub audio_rate: u32,
    /// AAC bit rate, kb/s.
    pub audio_kbps: u32,
    /// Video bit rate, kb/s; unset: from the output height and frame rate.
    pub video_kbps: Option<u32>,
    /// x264 preset.
    pub preset: String,
    /// Video encoder: `auto`, `x264`, `nvenc` or `vaapi`.
    pub encoder: String,
    /// Seconds between keyframes.
    pub keyframe_sec: f64,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            fps: 30,
            width: 1280,
            height: 720,
            audio_rate: 44_100,
            audio_kbps: 128,
            video_kbps: None,
            preset: "veryfast".into(),
            encoder: "auto".into(),
            keyframe_sec: 2.0,
        }
    }
}

/// `[capture.linux]`, `[capture.macos]`, `[capture.windows]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Capture {
    /// Linux (X11, V4L2, PulseAudio/ALSA).
    pub linux: PlatformCapture,
    /// macOS.
    pub macos: PlatformCapture,
    /// Windows.
    pub windows: PlatformCapture,
}

impl Capture {
    /// The section for the platform this runs on.
    pub fn current(&self) -> &PlatformCapture {
        if cfg!(target_os = "macos") {
            &self.macos
        } else if cfg!(windows) {
            &self.windows
        } else {
            &self.linux
        }
    }
}

/// Capture settings of one platform; unset fields use the device's defaults.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlatformCapture {
    /// The screen to capture (`:0.0` on X11).
    pub screen: Option<String>,
    /// Top-left corner of the captured region, `[x, y]`.
    pub screen_origin: Option<[i32; 2]>,
    /// Size of the captured region, `[width, height]`.
    pub screen_size: Option<[u32; 2]>,
    /// Screen capture frame rate.
    pub screen_fps: Option<u32>,
    /// The camera (`/dev/video0`).
    pub camera: Option<String>,
    /// Requested camera size, `[width, height]`.
    pub camera_size: Option<[u32; 2]>,
    /// Requested camera frame rate.
    pub camera_fps: Option<u32>,
    /// The microphone (a device name; `default`).
    pub microphone: Option<String>,
}

/// `[sites.NAME]`: where a site is and where its key comes from.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SiteEntry {
    /// The ingest URL without the key (`rtmp://a.rtmp.youtube.com/live2`); a built-in
    /// site's URL when unset.
    pub url: Option<String>,
    /// A file whose first line is the stream key.
    pub key_file: Option<PathBuf>,
    /// An environment variable holding the stream key.
    pub key_env: Option<String>,
    /// The stream key itself (prefer `key_file` or `key_env`: this file may be shared).
    pub key: Option<String>,
    /// Video bit rate for this site, kb/s.
    pub video_kbps: Option<u32>,
    /// Audio bit rate for this site, kb/s.
    pub audio_kbps: Option<u32>,
    /// Seconds between keyframes for this site.
    pub keyframe_sec: Option<f64>,
}

/// A configuration that cannot be used; the message names the file (and line, for TOML).
#[derive(Debug, thiserror::Error)]
#[error("{path}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default(), path = path.display())]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// The line (1-based), when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    fn new(path: &Path, message: impl Into<String>) -> Self {
        Self {
            path: path.to_owned(),
            line: None,
            message: message.into(),
        }
    }
}

/// A configuration and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// The file it was read from; `None` for the built-in defaults.
    pub path: Option<PathBuf>,
    /// Warnings (keys of an imported PyLivestream file that have no equivalent, ...).
    pub warnings: Vec<String>,
}

/// Where `livekit config init` writes and the last place looked up:
/// `$XDG_CONFIG_HOME/livekit/livekit.toml`, or `~/.config/livekit/livekit.toml`.
pub fn user_config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("livekit").join("livekit.toml"))
}

/// Finds and reads the configuration: `explicit` (must exist), `./livekit.toml`, the user's
/// file, or the defaults.
pub fn load(explicit: Option<&Path>) -> Result<Loaded, ConfigError> {
    if let Some(path) = explicit {
        if path.is_dir() {
            return Err(ConfigError::new(
                path,
                "is a folder, not a configuration file",
            ));
        }
        if !path.exists() {
            return Err(ConfigError::new(path, "no such configuration file"));
        }
        return read(path);
    }
    let local = PathBuf::from("livekit.toml");
    if local.is_file() {
        return read(&local);
    }
    if let Some(user) = user_config_path().filter(|p| p.is_file()) {
        return read(&user);
    }
    Ok(Loaded {
        config: Config::default(),
        path: None,
        warnings: Vec::new(),
    })
}

/// Reads one file: TOML, or PyLivestream JSON/INI by extension.
pub fn read(path: &Path) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(path, format!("cannot read: {e}")))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let (config, warnings) = match ext.as_deref() {
        Some("json") => from_pylivestream_json(path, &text)?,
        Some("ini") => from_pylivestream_ini(path, &text)?,
        _ => (parse_toml(path, &text)?, Vec::new()),
    };
    validate(path, &config)?;
    let mut config = config;
    // A relative key file is next to the configuration file, wherever livekit runs from.
    let folder = path.parent().unwrap_or(Path::new(""));
    for site in config.sites.values_mut() {
        if let Some(key_file) = &mut site.key_file
            && key_file.is_relative()
            && !key_file.starts_with("~")
        {
            *key_file = folder.join(&*key_file);
        }
    }
    Ok(Loaded {
        config,
        path: Some(path.to_owned()),
        warnings,
    })
}

fn parse_toml(path: &Path, text: &str) -> Result<Config, ConfigError> {
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

fn validate(path: &Path, config: &Config) -> Result<(), ConfigError> {
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

/// The commented file `livekit config init` writes.
pub const DEFAULT_FILE: &str = r#"# livekit configuration. Looked up in: --config FILE, ./livekit.toml,
# $XDG_CONFIG_HOME/livekit/livekit.toml (~/.config/livekit/livekit.toml), then built-in defaults.

[defaults]
fps = 30               # frames per second of what livekit draws (stills, songs, screen);
                       # a video file is sent at its own rate
width = 1280           # output size for jobs that compose (stills, audio-only files, screen)
height = 720
audio_rate = 44100     # Hz
audio_kbps = 128
# video_kbps = 2500    # unset: chosen from the output height and frame rate
preset = "veryfast"    # x264 preset
encoder = "auto"       # auto | x264 | nvenc | vaapi (hardware falls back to x264, with a message)
keyframe_sec = 2.0

[capture.linux]
# screen = ":0.0"
# screen_origin = [0, 0]
# screen_size = [1280, 720]
# screen_fps = 30
# camera = "/dev/video0"
# camera_size = [1280, 720]
# camera_fps = 30
# microphone = "default"

# Sites. Built in: youtube, facebook, twitch, restream, localhost (their URLs are known; add a
# key). Any other name needs a url. A SITE on the command line can also be a full rtmp://,
# rtmps:// or srt:// URL.
#
# The key comes from (first found): key_file (its first line; keep it private: chmod 600; a
# relative path is next to this file), key_env (an environment variable), or key (this file;
# not recommended).
#
# [sites.youtube]
# key_file = "~/.config/livekit/youtube.key"
#
# [sites.twitch]
# key_env = "TWITCH_STREAM_KEY"
# video_kbps = 4500
#
# [sites.myserver]
# url = "rtmps://live.example.com/app"
# key_file = "~/.config/livekit/myserver.key"
# keyframe_sec = 2
"#;

/// Writes [`DEFAULT_FILE`] to `path` (creating its folder); refuses to overwrite unless `force`.
pub fn init(path: &Path, force: bool) -> Result<(), ConfigError> {
    if path.is_dir() {
        return Err(ConfigError::new(
            path,
            format!(
                "is a folder (give a file name, such as {})",
                path.join("livekit.toml").display()
            ),
        ));
    }
    if path.exists() && !force {
        return Err(ConfigError::new(
            path,
            "already exists (use --force to overwrite)",
        ));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| ConfigError::new(dir, format!("cannot create the folder: {e}")))?;
    }
    std::fs::write(path, DEFAULT_FILE)
        .map_err(|e| ConfigError::new(path, format!("cannot write: {e}")))
}

/// Expands a leading `~/` to the home directory.
#[allow(dead_code)] // the stream jobs use it
pub fn expand_home(path: &Path) -> PathBuf {
    if let Ok(rest) = path.strip_prefix("~")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    path.to_owned()
}

// ---------------------------------------------------------------------------------------------
// PyLivestream import

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

/// Maps a PyLivestream 2.x `pylivestream.json`.
fn from_pylivestream_json(path: &Path, text: &str) -> Result<(Config, Vec<String>), ConfigError> {
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

fn warn_unmapped(path: &Path, unmapped: Vec<String>) -> Vec<String> {
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

/// Sections of an INI file in order, each with its `key: value` / `key = value` pairs
/// (`#` and `;` start comments; keys are lower-cased, as Python's configparser does).
/// An INI section: its name and its `key: value` pairs in order.
type IniSection = (String, Vec<(String, String)>);

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

/// Maps a PyLivestream 1.x `pylivestream.ini`.
fn from_pylivestream_ini(path: &Path, text: &str) -> Result<(Config, Vec<String>), ConfigError> {
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
                if entry.url.is_none() && crate::config::builtin_site_url(&name).is_none() {
                    unmapped.push(format!("[{site}] (no server URL)"));
                    continue;
                }
                config.sites.insert(name, entry);
            }
        }
    }
    Ok((config, warn_unmapped(path, unmapped)))
}

/// The built-in sites: name and ingest URL (without the key).
pub const BUILTIN_SITES: &[(&str, &str)] = &[
    ("youtube", "rtmp://a.rtmp.youtube.com/live2"),
    ("facebook", "rtmps://live-api-s.facebook.com:443/rtmp"),
    ("twitch", "rtmp://live.twitch.tv/app"),
    ("restream", "rtmp://live.restream.io/live"),
    ("localhost", "rtmp://127.0.0.1:1935/live"),
];

/// The URL of a built-in site.
pub fn builtin_site_url(name: &str) -> Option<&'static str> {
    BUILTIN_SITES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, url)| *url)
}

/// The configuration as TOML, with any key replaced by `<redacted>` (for `livekit config show`).
pub fn show(config: &Config) -> String {
    let mut shown = config.clone();
    for site in shown.sites.values_mut() {
        if site.key.is_some() {
            site.key = Some("<redacted>".into());
        }
        // A URL may carry a key too (rtmp://host/app/KEY, srt://host:port?streamid=KEY).
        if let Some(url) = &mut site.url {
            *url = livekit_core::redact_url(url);
        }
    }
    let mut out = String::new();
    // Not `to_string_pretty`: that spreads `[0, 0]` over four lines.
    match toml::to_string(&shown) {
        Ok(text) => out.push_str(&text),
        Err(e) => {
            let _ = writeln!(out, "# cannot show the configuration: {e}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
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

    #[test]
    fn ini_helpers() {
        assert_eq!(kbps("128k"), Some(128));
        assert_eq!(kbps("96000"), Some(96));
        assert_eq!(size_wxh("640x480"), Some([640, 480]));
        assert_eq!(origin_xy("50, 30"), Some([50, 30]));
        assert_eq!(size_wxh("640"), None);
    }
}
