//! The `livekit` configuration: `livekit.toml`, its lookup order, and PyLivestream's files.
//!
//! Lookup: `--config FILE`, then `./livekit.toml`, then `$XDG_CONFIG_HOME/livekit/livekit.toml`
//! (`~/.config/...` without the variable), then the built-in defaults. A `--config` file ending
//! in `.json` or `.ini` is read as PyLivestream's `pylivestream.json` (2.x) or
//! `pylivestream.ini` (1.x): its keys are mapped and each key with no equivalent is named in a
//! warning.
//!
//! Here: the types, the lookup, the built-in sites and defaults, `livekit config init` and
//! `livekit config show`. `parse.rs` reads and checks our TOML, `pylivestream.rs` imports the
//! JSON file and `ini.rs` the INI file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use ini::from_pylivestream_ini;
use parse::{parse_toml, validate};
use pylivestream::from_pylivestream_json;

mod ini;
mod parse;
mod pylivestream;

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
    /// Frames per second sent by playlists (`stream-files`), standard input and what livekit
    /// draws (stills, songs, `stream-microphone`'s picture, the screen); one video file
    /// (`stream-file`) is sent at its own rate. `--fps` overrides.
    pub fps: u32,
    /// Output width of playlists, standard input and what livekit draws; one video file is
    /// sent at its own size. `--size` overrides.
    pub width: u32,
    /// Output height (see `width`).
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
    /// Seconds a destination that has never connected is tried before it is given up (a job
    /// whose destinations all gave up ends with exit 1); 0: never give up. A destination that
    /// was live and lost its connection keeps retrying. `--give-up-after` overrides.
    pub give_up_after: f64,
    /// Seconds the destinations of a job whose input has ended may take to send what they
    /// still hold; a slower one is then closed and what it missed reported.
    pub drain_after: f64,
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
            give_up_after: 60.0,
            drain_after: 5.0,
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
    from_text(path, &text)
}

/// Reads `text` as the file `path` (its extension picks TOML, PyLivestream JSON or INI), as
/// [`read`] does with what it reads.
pub fn from_text(path: &Path, text: &str) -> Result<Loaded, ConfigError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let (config, mut warnings) = match ext.as_deref() {
        Some("json") => from_pylivestream_json(path, text)?,
        Some("ini") => from_pylivestream_ini(path, text)?,
        _ => (parse_toml(path, text)?, Vec::new()),
    };
    // A PyLivestream file used as it is: what it lacks is said once, at `config import`, not
    // on every run.
    if !warnings.is_empty() {
        let settings = match warnings.len() {
            1 => "1 of its settings has".to_owned(),
            n => format!("{n} of its settings have"),
        };
        warnings = vec![format!(
            "{}: {settings} no livekit equivalent (ignored); `livekit config import {}` \
             names them and writes a livekit.toml once",
            path.display(),
            path.display()
        )];
    }
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

/// The commented file `livekit config init` writes.
pub const DEFAULT_FILE: &str = r#"# livekit configuration. Looked up in: --config FILE, ./livekit.toml,
# $XDG_CONFIG_HOME/livekit/livekit.toml (~/.config/livekit/livekit.toml), then built-in defaults.

[defaults]
fps = 30               # frames per second of playlists (stream-files), standard input and
                       # what livekit draws (stills, songs, microphone picture); one video
                       # file (stream-file) is sent at its own rate; --fps overrides
width = 1280           # output size of the same (one video file keeps its own); --size
height = 720           # overrides
audio_rate = 44100     # Hz
audio_kbps = 128
# video_kbps = 2500    # unset: chosen from the output height and frame rate; --kbps overrides
preset = "veryfast"    # x264 preset
encoder = "auto"       # auto | x264 | nvenc | vaapi (hardware falls back to x264, with a message)
keyframe_sec = 2.0
give_up_after = 60     # seconds a destination that never connected is tried (0: for ever)
drain_after = 5        # seconds destinations may take to send what they hold once the input ends

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

/// What `livekit config import` wrote: the configuration file, the key files, and a warning
/// per setting of the imported file that livekit has no equivalent for.
#[derive(Debug)]
pub struct Imported {
    /// The configuration file.
    pub config: PathBuf,
    /// The key files (mode 600), one per site that had a key.
    pub key_files: Vec<PathBuf>,
    /// Settings with no equivalent, ignored.
    pub warnings: Vec<String>,
}

/// `livekit config import FILE --out OUT`: converts PyLivestream's `pylivestream.json` (or
/// `.ini`) into our TOML at `out`, each site's key moved into `NAME.key` beside it (mode 600,
/// referenced by the site's `key_file`; never in the TOML). Refuses to overwrite the output or
/// a key file unless `force`; checks everything before writing anything.
pub fn import(from: &Path, out: &Path, force: bool) -> anyhow::Result<Imported> {
    let text = std::fs::read_to_string(from).map_err(|e| {
        let why = if from.is_dir() {
            "is a folder, not a PyLivestream file".to_owned()
        } else if !from.exists() {
            "no such file".to_owned()
        } else {
            format!("cannot read: {e}")
        };
        ConfigError::new(from, why)
    })?;
    let ext = |path: &Path| {
        path.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
    };
    let (mut config, warnings) = match ext(from).as_deref() {
        Some("json") => from_pylivestream_json(from, &text)?,
        Some("ini") => from_pylivestream_ini(from, &text)?,
        _ => {
            return Err(ConfigError::new(
                from,
                "not a PyLivestream file: expected pylivestream.json (2.x) or pylivestream.ini (1.x)",
            )
            .into());
        }
    };
    validate(from, &config)?;
    if ext(out).as_deref() != Some("toml") {
        return Err(ConfigError::new(out, "the configuration file must end in .toml").into());
    }
    if out.is_dir() {
        return Err(
            ConfigError::new(out, "is a folder (give a file name, such as livekit.toml)").into(),
        );
    }
    let folder = out.parent().unwrap_or(Path::new(""));
    // Each site's key: out of the TOML, into NAME.key beside it.
    let mut keys = Vec::new();
    for (name, site) in &mut config.sites {
        let Some(key) = site.key.take() else { continue };
        let file: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let file = format!("{file}.key");
        site.key_file = Some(PathBuf::from(&file));
        keys.push((folder.join(file), key));
    }
    let exists = |path: &Path, what: &str| {
        if path.exists() && !force {
            // The recorder's words.
            Err(anyhow::anyhow!(
                "{what} {}: already exists (add --force to overwrite it)",
                path.display()
            ))
        } else {
            Ok(())
        }
    };
    exists(out, "configuration file")?;
    for (path, _) in &keys {
        exists(path, "key file")?;
    }
    let body = toml::to_string(&config)
        .map_err(|e| ConfigError::new(out, format!("cannot write: {e}")))?;
    let header = format!(
        "# livekit configuration, imported from {} by `livekit config import`.\n\
         # Keys are in the key files named below (mode 600), never in this file.\n\n",
        from.display()
    );
    if !folder.as_os_str().is_empty() {
        std::fs::create_dir_all(folder)
            .map_err(|e| ConfigError::new(folder, format!("cannot create the folder: {e}")))?;
    }
    let mut key_files = Vec::new();
    for (path, key) in keys {
        write_private(&path, &format!("{key}\n"))
            .map_err(|e| ConfigError::new(&path, format!("cannot write: {e}")))?;
        key_files.push(path);
    }
    std::fs::write(out, header + &body)
        .map_err(|e| ConfigError::new(out, format!("cannot write: {e}")))?;
    Ok(Imported {
        config: out.to_owned(),
        key_files,
        warnings,
    })
}

/// Writes `text` to `path`, readable by its owner only (mode 600, also when it existed).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let mut file = options.open(path)?;
        // An existing file keeps its mode on open: set it.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(text.as_bytes())
    }
    #[cfg(not(unix))]
    {
        options.open(path)?.write_all(text.as_bytes())
    }
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
