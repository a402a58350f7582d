//! PyLivestream's jobs: `stream-file`, `stream-files` (and the settings every streaming job
//! shares): a [`livekit_studio::Studio`] whose playlist feeds one encode for every SITE (how,
//! and why not through a canvas, is said at `stream_playlist`); `stream-file --copy` sends a
//! file's own packets to a [`Streamer`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Args;
use livekit_compositor::{BackendChoice, Color, Fit};
use livekit_core::{Packet, Port, ScaledClock, StreamInfo, SystemClock};
use livekit_sinks::stream::{
    DEFAULT_MAX_KEYFRAME_INTERVAL, DestinationState, DestinationStats, Protocol, SiteConfig,
    StartStreamError, StreamReport, copy_compatible,
};
use livekit_sinks::{
    Destination, EncoderSettings, H264Encoder, RecorderSettings, StartRecorderError, Streamer,
    StreamerSettings,
};
use livekit_sources::{Cover, PacketFile, PacketFileSettings, expand_glob, probe};
use livekit_studio::{
    AudioSettings, Command, InputSpec, LayerFields, MAIN_CANVAS, Studio, WhenFailed,
};

use crate::config::{Config, expand_home};
use crate::live::{Ended, Meter, Reading, StatusLine, StopSignal, confirm_go_live, run_until};
use crate::{Failure, usage};

/// Flags every streaming job takes.
#[derive(Debug, Clone, Args)]
pub struct LiveArgs {
    /// Go live without asking first (needed when there is no terminal to ask on).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Stop after this many seconds. Without it a file job ends when its files end, and a live
    /// job runs until Ctrl-C.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
    /// Print an equivalent ffmpeg command line (keys redacted) and exit.
    #[arg(long)]
    pub print_command: bool,
    /// Give up on a destination that has not connected after this many seconds (0: never);
    /// when every destination gave up, the job ends with exit 1. A destination that was live
    /// and lost its connection keeps retrying [default: the configuration's
    /// defaults.give_up_after, 60].
    #[arg(long, value_name = "SECONDS", value_parser = parse_give_up)]
    pub give_up_after: Option<f64>,
}

/// `--give-up-after`: a number of seconds, 0 for never.
pub fn parse_give_up(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(seconds) if (0.0..=1e7).contains(&seconds) => Ok(seconds),
        _ => Err(format!(
            "{text:?} is not a number of seconds: give 0 (never give up) to 10000000"
        )),
    }
}

/// How long a destination that never connected is tried: `flag` (`--give-up-after`), else
/// the configuration's `defaults.give_up_after`; `None` (0): for ever.
pub fn give_up_after(config: &Config, flag: Option<f64>) -> Option<Duration> {
    let seconds = flag.unwrap_or(config.defaults.give_up_after);
    (seconds > 0.0).then(|| Duration::from_secs_f64(seconds))
}

pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(seconds > 0.0 && seconds <= 1e7) {
        return Err(format!("{text}: must be above 0 and at most 10000000"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// A positive number of seconds, as a float (`--seconds 2.5`).
pub fn parse_seconds_f64(text: &str) -> Result<f64, String> {
    parse_seconds(text).map(|d| d.as_secs_f64())
}

/// `--readrate`: 0, or a number from 0.01 to 100.
pub fn parse_readrate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rate) if rate == 0.0 || (0.01..=100.0).contains(&rate) => Ok(rate),
        _ => Err(format!(
            "{text:?} is not a rate: give 0 (as fast as possible) or a number from 0.01 to 100"
        )),
    }
}

/// `--size WxH`: a picture size H.264 can take (4:2:0 halves each side for colour, so both
/// are even), 16x16 to 7680x4320.
pub fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{text:?}: expected WxH (for example 1280x720)"))?;
    let w: u32 = w
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: bad width"))?;
    let h: u32 = h
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: bad height"))?;
    if !(16..=7680).contains(&w) || !(16..=4320).contains(&h) {
        return Err(format!("{text}: must be 16x16 to 7680x4320"));
    }
    if !w.is_multiple_of(2) || !h.is_multiple_of(2) {
        return Err(format!(
            "{text}: width and height must be even (H.264 halves them for colour), such as {}x{}",
            w & !1,
            h & !1
        ));
    }
    Ok((w, h))
}

/// The picture and bit rate a job sends, as the user asked (`--size`, `--fps`, `--kbps`);
/// `None`: the job's default.
#[derive(Debug, Clone, Copy, Default)]
pub struct Output {
    pub size: Option<(u32, u32)>,
    pub fps: Option<u32>,
    pub kbps: Option<u32>,
    /// Without `size` and `fps`: keep the input's own (`stream-file` of one file) rather
    /// than the configured ones.
    pub own: bool,
}

impl Output {
    /// Refuses the flags that were given, for a job that encodes nothing (`--copy`).
    fn refuse_with(&self, why: &str) -> Result<(), Failure> {
        let given = [
            ("--size", self.size.is_some()),
            ("--fps", self.fps.is_some()),
            ("--kbps", self.kbps.is_some()),
        ];
        match given.iter().find(|(_, given)| *given) {
            Some((flag, _)) => Err(usage(anyhow!("{flag} does not go with {why}"))),
            None => Ok(()),
        }
    }
}

/// `--kbps` wins over the sites' and the configuration's bit rates.
pub fn with_kbps(mut settings: EncoderSettings, kbps: Option<u32>) -> EncoderSettings {
    if kbps.is_some() {
        settings.video.kbps = kbps;
    }
    settings
}

/// How fast the file jobs read their input.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// How fast to read the input, as a multiple of real time (like ffmpeg's -readrate): 1
    /// streams at the files' own pace, 1.05 a little faster (to fill a server's buffer), 0 as
    /// fast as the destinations take it (for servers that record rather than play). At any
    /// rate but 1 nothing is dropped for a connected destination: the slowest one sets the pace.
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0, value_parser = parse_readrate)]
    pub readrate: f64,
}

/// Recording what is streamed (the same encode).
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Also record what is sent to FILE (the same encode, no second one): MP4, MKV, MOV or FLV
    /// by the extension; finalized at the end, at Ctrl-C and at --timeout. A recording that
    /// fails (a full disk) ends with an error; the streaming goes on.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// With --record: overwrite an existing file (without it, livekit asks on a terminal and
    /// refuses without one; --yes answers only the go-live question, not this one).
    #[arg(long, requires = "record")]
    pub force: bool,
    #[command(flatten)]
    pub hls: HlsArgs,
}

/// HTTP Live Streaming beside the other outputs, from the same encode.
#[derive(Debug, Clone, Args)]
pub struct HlsArgs {
    /// Also write HTTP Live Streaming to DIR (made if missing): index.m3u8 and its segments
    /// (fMP4, one keyframe interval each: 2 s by default), from the same encode. Any web
    /// server can serve the folder; `livekit studio` and `--listen` serve it themselves at
    /// /hls/main/index.m3u8. Segments an earlier run left in DIR are removed.
    #[arg(long, value_name = "DIR")]
    pub hls: Option<PathBuf>,
    /// With --hls: segments the playlist lists, a rolling window (older segments are
    /// deleted); 0 keeps every segment (an event playlist a late viewer plays from the start).
    #[arg(long, value_name = "N", requires = "hls", default_value_t = 6)]
    pub hls_window: u32,
}

impl HlsArgs {
    /// The studio output `--hls` asks for, if any.
    pub(crate) fn output(&self) -> Option<livekit_studio::OutputSpec> {
        self.hls
            .as_ref()
            .map(|dir| livekit_studio::OutputSpec::Hls {
                dir: Some(dir.clone()),
                window: Some(self.hls_window),
                segments: livekit_studio::HlsSegmentFormat::Fmp4,
            })
    }

    /// The streamer's recording `--hls` asks for, if any.
    fn recording(&self) -> Option<RecorderSettings> {
        self.hls.as_ref().map(|dir| RecorderSettings {
            container: Some(livekit_sinks::Container::Hls),
            hls: livekit_sinks::HlsSettings {
                window: self.hls_window,
                ..livekit_sinks::HlsSettings::default()
            },
            ..RecorderSettings::new(dir.join(livekit_studio::HLS_PLAYLIST))
        })
    }
}

/// `livekit stream-file FILE SITE...`
#[derive(Debug, Args)]
pub struct StreamFileArgs {
    /// The media file (or URL) to stream; `-` reads standard input, and a FIFO is read once
    /// the same way (a stream FFmpeg reads from a pipe, such as MPEG-TS; with --copy: H.264/AAC
    /// in MPEG-TS, MKV or FLV).
    pub file: String,
    /// Where to: site names from the configuration or built in (youtube, facebook, twitch,
    /// restream, localhost), or full rtmp://, rtmps:// or srt:// URLs.
    #[arg(required = true)]
    pub sites: Vec<String>,
    /// Play the file again and again (one continuous stream).
    #[arg(long = "loop")]
    pub looping: bool,
    /// Send the file's own H.264/AAC packets without re-encoding (refused, with the reason,
    /// when its codecs, their formats or its keyframe spacing do not suit the destinations).
    #[arg(long)]
    pub copy: bool,
    /// Size sent, WxH (even numbers); the picture is scaled to fit, letterboxed [default: the
    /// file's own; standard input: the configuration's defaults.width x height, 1280x720].
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub size: Option<(u32, u32)>,
    /// Frames a second sent, at most (faster video drops frames) [default: the file's own;
    /// standard input: the configuration's defaults.fps, 30].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=240))]
    pub fps: Option<u32>,
    /// Video bit rate in kb/s, 50 to 100000 [default: the site's video_kbps, else the
    /// configuration's defaults.video_kbps, else from the size and frame rate].
    #[arg(long, value_parser = clap::value_parser!(u32).range(50..=100_000))]
    pub kbps: Option<u32>,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub record: RecordArgs,
    #[command(flatten)]
    pub live: LiveArgs,
}

/// `livekit stream-files PATH SITE...`
#[derive(Debug, Args)]
pub struct StreamFilesArgs {
    /// A folder (its files matching --glob, sorted), or one file.
    pub path: PathBuf,
    /// Where to (see `stream-file`).
    #[arg(required = true)]
    pub sites: Vec<String>,
    /// Which files of the folder: a glob pattern (`*`, `?`, `[abc]`, `[!abc]`).
    #[arg(long, default_value = "*")]
    pub glob: String,
    /// Start over at the end, for ever (one continuous stream).
    #[arg(long = "loop")]
    pub looping: bool,
    /// Random order (a new one each pass).
    #[arg(long)]
    pub shuffle: bool,
    /// Picture shown while files without video (songs) play [default: each song's own cover
    /// art, black for songs without].
    #[arg(long, value_name = "IMG")]
    pub image: Option<PathBuf>,
    /// Do not caption songs with "Title - Artist" from their tags.
    #[arg(long)]
    pub no_meta: bool,
    /// Size sent, WxH (even numbers); each file is scaled to fit, letterboxed [default: the
    /// configuration's defaults.width x height, 1280x720, whatever the files' own sizes].
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub size: Option<(u32, u32)>,
    /// Frames a second sent, at most (faster files drop frames) [default: the
    /// configuration's defaults.fps, 30].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=240))]
    pub fps: Option<u32>,
    /// Video bit rate in kb/s, 50 to 100000 [default: the site's video_kbps, else the
    /// configuration's defaults.video_kbps, else from the size and frame rate].
    #[arg(long, value_parser = clap::value_parser!(u32).range(50..=100_000))]
    pub kbps: Option<u32>,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub record: RecordArgs,
    #[command(flatten)]
    pub live: LiveArgs,
}

/// The sites of the configuration in the streamer's terms.
pub fn site_configs(config: &Config) -> BTreeMap<String, SiteConfig> {
    config
        .sites
        .iter()
        .map(|(name, site)| {
            let config = SiteConfig {
                url: site.url.clone(),
                key_file: site.key_file.as_deref().map(expand_home),
                key_env: site.key_env.clone(),
                key: site.key.clone(),
                video_kbps: site.video_kbps,
                audio_kbps: site.audio_kbps,
                keyframe_sec: site.keyframe_sec,
            };
            (name.clone(), config)
        })
        .collect()
}

/// Resolves every SITE (usage errors name the site) and labels each destination
/// ([`Destination::name`]): a site by its name, a URL by its position among the job's
/// destinations and its redacted URL (`#2 rtmp://host/app/<redacted>`), so that two URLs on one
/// server can be told apart in the status line, the summary and the logs.
pub fn destinations(config: &Config, sites: &[String]) -> Result<Vec<Destination>, Failure> {
    let resolved = Destination::resolve_all(sites, &site_configs(config)).map_err(usage)?;
    for destination in &resolved {
        if destination.key().is_none()
            && matches!(destination.protocol, Protocol::Rtmp | Protocol::Rtmps)
        {
            tracing::warn!(
                "{}: no stream key (rtmp://host/app/KEY): the server gets an empty stream name",
                shown(destination)
            );
        }
    }
    Ok(resolved)
}

/// Refuses WHIP endpoints for `stream-file --copy` (the file's own packets: AAC over RTMP and
/// SRT), naming the first and the way that works.
fn refuse_whip(destinations: &[Destination]) -> Result<(), Failure> {
    match destinations.iter().find(|d| d.protocol == Protocol::Whip) {
        Some(whip) => Err(usage(anyhow!(
            "{}: a WHIP endpoint: --copy sends the file's own packets over RTMP, RTMPS and SRT \
             only; leave out --copy to send it re-encoded for WebRTC",
            shown(whip)
        ))),
        None => Ok(()),
    }
}

/// An input (a file, or a URL with its password, query and key-like parts redacted) as the
/// user is shown it.
pub fn shown_input(input: &Path) -> String {
    let text = input.to_string_lossy();
    if text.contains("://") {
        livekit_core::redact_url(&text)
    } else {
        text.into_owned()
    }
}

/// A destination as the user is shown it: its label, with its redacted URL when the label
/// is a site name (`youtube (rtmp://a.rtmp.youtube.com/live2/<redacted>)`).
pub fn shown(destination: &Destination) -> String {
    with_url(&destination.name, &destination.redacted_url())
}

/// `label`, followed by `(url)` unless the label holds it already.
fn with_url(label: &str, url: &str) -> String {
    if label.contains(url) {
        label.to_owned()
    } else {
        format!("{label} ({url})")
    }
}

/// How far x264 may look ahead when streaming.
const STREAM_LOOKAHEAD: Duration = Duration::from_millis(200);

/// Encoder settings from the configuration, the first site's wishes and the picture.
pub fn encoder_settings(
    config: &Config,
    destinations: &[Destination],
    (width, height): (u32, u32),
    fps: (u32, u32),
) -> Result<EncoderSettings, Failure> {
    let d = &config.defaults;
    let mut settings = EncoderSettings::default();
    settings.video.width = width;
    settings.video.height = height;
    settings.video.fps = fps;
    settings.video.preset = d.preset.clone();
    settings.video.encoder = match d.encoder.as_str() {
        "auto" => H264Encoder::Auto,
        other => other.parse().map_err(usage)?,
    };
    let first = destinations.first();
    settings.video.kbps = first.and_then(|s| s.video_kbps).or(d.video_kbps);
    let keyframe = first.and_then(|s| s.keyframe_sec).unwrap_or(d.keyframe_sec);
    settings.video.keyframe_interval = Duration::from_secs_f64(keyframe);
    // Live: x264 looks 0.2 s ahead at most (6 frames at 30 fps instead of veryfast's 10): 0.13 s
    // less latency and four pictures less memory (14 MB at 720p), for 0.01-0.03 dB of PSNR.
    settings.video.max_lookahead = Some(STREAM_LOOKAHEAD);
    settings.audio.kbps = first.and_then(|s| s.audio_kbps).unwrap_or(d.audio_kbps);
    settings.audio.sample_rate = d.audio_rate;
    if destinations.iter().skip(1).any(|s| {
        s.video_kbps != first.and_then(|f| f.video_kbps)
            || s.keyframe_sec != first.and_then(|f| f.keyframe_sec)
    }) {
        tracing::warn!(
            "the sites ask for different bit rates or keyframe spacings; one encode serves all, with {}'s",
            first.map(|f| f.name.as_str()).unwrap_or_default()
        );
    }
    Ok(settings)
}

/// What every job's studio starts from: the configuration's sites, `encoder` (see
/// [`encoder_settings`]) and the reconnect give-up (`--give-up-after`, else the
/// configuration's); the caller sets the rest (backend, audio, frame limit).
pub(crate) fn studio_settings(
    config: &Config,
    name: &str,
    encoder: EncoderSettings,
    give_up: Option<Duration>,
) -> livekit_studio::StudioSettings {
    let mut streaming = StreamerSettings::new(Vec::new());
    streaming.reconnect.give_up_unconnected_after = give_up;
    livekit_studio::StudioSettings {
        name: name.into(),
        sites: site_configs(config),
        encoder,
        streaming,
        ..livekit_studio::StudioSettings::default()
    }
}

/// Decoder threads for real-time playback of `size` at `fps`: one up to 1080p30 (an H.264
/// decoder thread does that several times over; each frame thread more holds its own frames),
/// FFmpeg's choice (one per core) above.
pub fn decoder_threads((width, height): (u32, u32), fps: (u32, u32)) -> usize {
    let rate = f64::from(width) * f64::from(height) * f64::from(fps.0) / f64::from(fps.1.max(1));
    if rate <= 1920.0 * 1080.0 * 30.0 { 1 } else { 0 }
}

/// A frame rate as a ratio close to `fps` (29.97 -> 30000/1001).
pub fn fps_ratio(fps: f64) -> (u32, u32) {
    if !(fps.is_finite() && fps > 0.0) {
        return (30, 1);
    }
    let fps = fps.clamp(1.0, 240.0);
    if (fps - fps.round()).abs() < 0.01 {
        return (fps.round() as u32, 1);
    }
    let ntsc = fps * 1001.0 / 1000.0;
    if (ntsc - ntsc.round()).abs() < 0.01 {
        return (ntsc.round() as u32 * 1000, 1001);
    }
    ((fps * 1000.0).round() as u32, 1000)
}

/// Each destination for the status line: `host/app live 2500 kb/s | ...`.
pub fn describe(stats: &[DestinationStats]) -> String {
    stats
        .iter()
        .map(|d| status_part(&d.name, d.state.as_str(), d.bitrate))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// One destination in the status line: its label, state and bit rate. Short: the line must
/// fit a terminal (the scheme goes, the label stays; the key is never there).
pub fn status_part(label: &str, state: &str, bitrate: u64) -> String {
    let name = match label.split_once("://") {
        Some((before, rest)) => match before.rsplit_once(' ') {
            Some((label, _scheme)) => format!("{label} {rest}"),
            None => rest.to_owned(),
        },
        None => label.to_owned(),
    };
    format!("{name} {state} {} kb/s", bitrate / 1000)
}

/// Prints the end-of-job summary (unless `quiet`); fails (exit 1) when no destination received
/// anything, or when every destination had lost its connection by the end.
pub fn summarize(
    report: &StreamReport,
    ended: Ended,
    elapsed: Duration,
    quiet: bool,
) -> Result<(), Failure> {
    let shown = |d: &DestinationStats| with_url(&d.name, &d.url);
    // Every destination gave up without ever connecting (`--give-up-after`).
    let none_answered = report
        .destinations
        .iter()
        .all(|d| d.bytes == 0 && d.state == DestinationState::Failed);
    if !quiet {
        let how = ended.describe(if none_answered { "gave up" } else { "finished" });
        eprintln!("livekit: {how} after {:.1} s", elapsed.as_secs_f64());
        for d in &report.destinations {
            eprintln!(
                "  {}: {:.1} MB sent, {}, {} dropped{}{}",
                shown(d),
                d.bytes as f64 / 1e6,
                crate::live::count(d.reconnects, "reconnect"),
                crate::live::count(d.dropped_packets, "packet"),
                if d.bytes > 0 && !d.live_at_end {
                    ", not connected at the end"
                } else {
                    ""
                },
                d.last_error
                    .as_deref()
                    .map(|e| format!(", last error: {e}"))
                    .unwrap_or_default()
            );
        }
    }
    // "dest: last error; ..." of the destinations with an error.
    let errors = || {
        report
            .destinations
            .iter()
            .filter_map(|d| {
                d.last_error
                    .as_deref()
                    .map(|e| format!("{}: {e}", shown(d)))
            })
            .collect::<Vec<String>>()
            .join("; ")
    };
    // " (dest: last error; ...)", or nothing when no destination has an error.
    let why = || match errors() {
        errors if errors.is_empty() => errors,
        errors => format!(" ({errors})"),
    };
    if none_answered {
        return Err(anyhow!("no destination answered: {}", errors()).into());
    }
    if report.destinations.iter().all(|d| d.bytes == 0) {
        return Err(anyhow!("no destination received the stream{}", why()).into());
    }
    if report.destinations.iter().all(|d| !d.live_at_end) {
        return Err(anyhow!(
            "the stream was lost: no destination was connected at the end{}",
            why()
        )
        .into());
    }
    Ok(())
}

/// What the keys do in `stream-file` and `stream-files`.
const STREAM_KEYS: crate::keys::KeyHelp = &[
    ("p", "pause/resume"),
    ("n", "next file"),
    ("q", "stop"),
    ("?", "keys"),
];

/// Refuses a recording file that is one of the inputs: it would be overwritten while read.
fn not_an_input(record: &Path, inputs: &[PathBuf]) -> Result<(), Failure> {
    let Ok(canonical) = record.canonicalize() else {
        return Ok(()); // Not there yet: not an input.
    };
    if inputs
        .iter()
        .any(|input| input.canonicalize().is_ok_and(|input| input == canonical))
    {
        return Err(usage(anyhow!(
            "recording file {}: is also an input (it would be overwritten while it is read)",
            record.display()
        )));
    }
    Ok(())
}

/// `--record` and `--hls`: recording branches of the streamer (the same encode, each through
/// its own queue: a failed recording ends alone, the streaming goes on).
struct Recording;

impl Recording {
    /// The recordings the streamer of `--copy` makes: `--record`'s file and `--hls`'s folder.
    fn settings(record: &RecordArgs) -> Vec<RecorderSettings> {
        let file = record.record.as_deref().map(RecorderSettings::new);
        file.into_iter().chain(record.hls.recording()).collect()
    }

    /// Prints what was recorded (the streamer has finalized the file) unless `quiet`; a
    /// recording that failed is the error.
    fn finish<'a>(
        recordings: impl IntoIterator<Item = &'a livekit_sinks::stream::RecordingReport>,
        quiet: bool,
    ) -> Result<(), Failure> {
        for recording in recordings {
            warn_recording_losses(&recording.stats);
            match &recording.result {
                Ok(summary) => {
                    if !quiet {
                        eprintln!(
                            "  recorded {:.1} s to {} ({}, {:.1} MB)",
                            summary.duration.as_secs_f64(),
                            summary.path.display(),
                            summary.container,
                            summary.file_bytes as f64 / 1e6
                        );
                    }
                }
                // "recording file X: cannot write: No space left on device".
                Err(error) => return Err(Failure::Runtime(error.clone().into())),
            }
        }
        Ok(())
    }
}

/// Warns when a recording branch lost packets: in a live job its disk could not keep up, and
/// whole GOPs were left out of the file rather than holding up the stream.
pub(crate) fn warn_recording_losses(stats: &livekit_sinks::stream::RecordingStats) {
    if stats.dropped_gops > 0 {
        tracing::warn!(
            "recording file {}: {} not recorded: the disk could not keep up",
            stats.path.display(),
            crate::live::count(stats.dropped_packets, "packet")
        );
    }
}

/// Runs `--copy`'s packet reader into `streamer` until the end, Ctrl-C or `--timeout`, then
/// stops everything in order (reader first, so the files and streams end cleanly) and prints
/// the summary.
fn drive_copy(
    reader: livekit_sources::PacketReader,
    streamer: Streamer,
    live: &LiveArgs,
    quiet: bool,
    stop: &StopSignal,
    drain: Duration,
) -> Result<(), Failure> {
    let status = StatusLine::new(quiet, None);
    let keys = crate::keys::Keys::start();
    if keys.is_some() && !quiet {
        status.say("press q or Ctrl-C to stop, ? for keys");
    }
    let ended = run_until(stop, live.timeout, || {
        while let Some(key) = keys.as_ref().and_then(crate::keys::Keys::next) {
            match key {
                crate::keys::Key::Quit => stop.request(),
                crate::keys::Key::Help => status.say(&crate::keys::help_line(COPY_KEYS)),
                _ => status.say("a file sent as it is (--copy) cannot be paused or skipped"),
            }
        }
        status.update(None, describe(&streamer.stats()));
        streamer.is_finished()
            || streamer
                .stats()
                .iter()
                .all(|d| d.state == DestinationState::Failed)
    });
    status.finish();
    drop(keys);
    if ended != Ended::Finished {
        // Asked to end: a destination still trying to connect is not waited for.
        streamer.give_up_connecting();
    }
    if let Err(error) = reader.stop() {
        tracing::warn!("{error}");
    }
    // The input has ended: a destination slower than the stream gets a few seconds to catch
    // up, then is closed (what it missed is in the summary).
    let report = streamer.wait_at_most(drain);
    let streamed = summarize(&report, ended, status.elapsed(), quiet);
    let recorded = Recording::finish(&report.recordings, quiet);
    both(streamed, recorded)
}

/// The job's error: the stream's, else the recording's (both logged when both failed).
fn both(streamed: Result<(), Failure>, recorded: Result<(), Failure>) -> Result<(), Failure> {
    match (streamed, recorded) {
        (Err(error), Err(Failure::Usage(also) | Failure::Runtime(also))) => {
            tracing::error!("{also:#}");
            Err(error)
        }
        (Err(error), Ok(())) | (Ok(()), Err(error)) => Err(error),
        (Ok(()), Ok(())) => Ok(()),
    }
}

/// What the keys do in `stream-file --copy`.
const COPY_KEYS: crate::keys::KeyHelp = &[("q", "stop"), ("?", "keys")];

/// The studio ids of a file job: its playlist, and (songs with captions) the caption.
const FILES: &str = "files";
const CAPTION: &str = "caption";

/// How a file job on its studio ended.
struct FilesEnd {
    ended: Ended,
    elapsed: Duration,
    /// Video frames the playlist dropped because encoding fell behind real time.
    late: u64,
    /// Why the playlist failed, if it did.
    failed: Option<String>,
    /// The playlist played out (or stopped: no entry could be played any more).
    played_out: bool,
}

/// Runs a file job's studio until the playlist has played out (and its encode has sent it),
/// Ctrl-C, `q` or `--timeout`. Keys pause, resume and skip; songs' captions follow the
/// playlist; the status line shows where it is and how each destination does.
fn run_files(
    studio: &Studio,
    stop: &StopSignal,
    live: &LiveArgs,
    quiet: bool,
    total: Option<u64>,
    songs: bool,
) -> FilesEnd {
    let status = StatusLine::new(quiet, total);
    let keys = crate::keys::Keys::start();
    if keys.is_some() && !quiet {
        status.say("press q or Ctrl-C to stop, ? for keys");
    }
    let mut meter = Meter::default();
    let mut item = 0u64;
    let mut entry_now: Option<usize> = None;
    let mut late = 0u64;
    let mut failed = None;
    let mut played_out = false;
    let mut caption: Option<String> = None;
    let ended = run_until(stop, live.timeout, || {
        while let Some(key) = keys.as_ref().and_then(crate::keys::Keys::next) {
            if key == crate::keys::Key::Quit {
                stop.request();
            } else if let Some(said) = act_on_files(studio, key) {
                status.say(&said);
            }
        }
        let state = studio.state();
        let Some(input) = state.inputs.iter().find(|i| i.id == FILES) else {
            return true;
        };
        let playing = input.playing.clone();
        if let Some(playing) = &playing {
            // The progress counts the files begun (shuffled, an entry's place in the list
            // is not how far the job is).
            if let Some(entry) = playing.entry
                && Some(entry) != entry_now
            {
                entry_now = Some(entry);
                item += 1;
                if let Some(name) = &playing.name {
                    tracing::info!("now playing {name}");
                }
            }
            if songs && playing.caption != caption {
                caption.clone_from(&playing.caption);
                show_caption(studio, caption.as_deref());
            }
            if playing.late_frames > 0 && late == 0 {
                tracing::warn!(
                    "encoding cannot keep up with real time: video frames are being dropped \
                     (a faster preset, a smaller size or a hardware encoder helps; \
                     --readrate 0 streams every frame, not live)"
                );
            }
            late = playing.late_frames;
        }
        if let livekit_studio::InputState::Failed { error } = &input.state {
            failed = Some(error.clone());
        }
        played_out |= input.state == livekit_studio::InputState::Ended;
        let encode = if songs { MAIN_CANVAS } else { FILES };
        let mut reading = match studio.encoder_stats(encode) {
            Some((stats, _)) => Reading::encoder(&stats).with_dropped(late),
            None => Reading::default(),
        };
        if songs {
            reading = reading.with_compositor(&studio.render_stats());
        }
        let destinations: Vec<String> = state
            .outputs
            .iter()
            .flat_map(|o| &o.destinations)
            .map(|d| status_part(&d.name, &d.state, d.bitrate))
            .collect();
        status.update(
            total.map(|_| item),
            format!(
                "{:.0} s | {} | {}",
                playing.as_ref().map_or(0.0, |p| p.seconds),
                destinations.join(" | "),
                meter.line(reading)
            ),
        );
        let running = state.outputs.iter().any(|o| {
            matches!(
                o.state,
                livekit_studio::OutputState::Starting | livekit_studio::OutputState::Live
            )
        });
        // Played out (a caption canvas would otherwise keep the picture going), every output
        // done, or every destination given up.
        matches!(
            input.state,
            livekit_studio::InputState::Ended | livekit_studio::InputState::Failed { .. }
        ) || !running
            || crate::record::streams_failed(&state)
    });
    status.finish();
    FilesEnd {
        ended,
        elapsed: status.elapsed(),
        late,
        failed,
        played_out,
    }
}

/// Does what `key` asks of a file job; returns what to tell the user.
fn act_on_files(studio: &Studio, key: crate::keys::Key) -> Option<String> {
    use crate::keys::Key;
    let apply = |command: Command| studio.apply(command).map_err(|e| e.message);
    let id = || FILES.to_owned();
    let result = match key {
        Key::Pause => {
            let paused = studio
                .state()
                .inputs
                .iter()
                .any(|i| i.id == FILES && i.state == livekit_studio::InputState::Paused);
            if paused {
                apply(Command::ResumeInput { id: id() }).map(|()| "resumed")
            } else {
                apply(Command::PauseInput { id: id() }).map(|()| "paused (p resumes)")
            }
        }
        Key::Next => {
            // On the last file of a list that does not loop, `n` would end the stream: one
            // key pressed by mistake must not end a show.
            let state = studio.state();
            let last = state
                .inputs
                .iter()
                .find(|i| i.id == FILES)
                .is_some_and(|i| {
                    match (&i.input, i.playing.as_ref().and_then(|p| p.entry)) {
                        (
                            // Shuffled, the last in the list is not the last played.
                            livekit_studio::InputSpec::Playlist {
                                paths,
                                looping: false,
                                shuffle: false,
                                ..
                            },
                            Some(entry),
                        ) => entry + 1 >= paths.len(),
                        _ => false,
                    }
                });
            if last {
                Ok("this is the last file (q stops)")
            } else {
                apply(Command::SkipInput { id: id(), by: 1 }).map(|()| "next file")
            }
        }
        Key::Quit => return None,
        Key::Help | Key::Scene(_) | Key::Record => {
            return Some(crate::keys::help_line(STREAM_KEYS));
        }
    };
    Some(result.map_or_else(|error| error, str::to_owned))
}

/// Shows `caption` in the caption layer of a file job's canvas, or hides it.
fn show_caption(studio: &Studio, caption: Option<&str>) {
    let result = match caption {
        Some(text) => studio
            .apply(Command::ReplaceInput {
                id: CAPTION.to_owned(),
                input: caption_input(text),
            })
            .and_then(|()| set_caption_visible(studio, true)),
        None => set_caption_visible(studio, false),
    };
    if let Err(error) = result {
        tracing::warn!("caption: {}", error.message);
    }
}

fn set_caption_visible(studio: &Studio, visible: bool) -> Result<(), livekit_studio::CommandError> {
    studio.apply(Command::UpdateLayer(LayerFields {
        id: CAPTION.to_owned(),
        visible: Some(visible),
        ..LayerFields::default()
    }))
}

/// A song's "Title - Artist" as the caption input: white on a dark box.
fn caption_input(text: &str) -> InputSpec {
    InputSpec::Text {
        text: text.to_owned(),
        size: Some(48.0),
        color: Some(Color::rgb(255, 255, 255)),
        background: Some(Color::rgba(0, 0, 0, 170)),
    }
}

/// The canvas of a playlist with songs: the playlist's picture letterboxed, and a caption
/// layer (hidden until a song with tags plays).
fn add_caption_canvas(
    studio: &Studio,
    (width, height): (u32, u32),
    fps: (u32, u32),
) -> Result<(), livekit_studio::CommandError> {
    studio.apply(Command::AddCanvas {
        id: MAIN_CANVAS.to_owned(),
        width: (width & !1).max(2),
        height: (height & !1).max(2),
        fps: livekit_compositor::Fps::new(fps.0.div_ceil(fps.1.max(1)).max(1)),
        background: None,
    })?;
    studio.apply(Command::AddLayer(LayerFields {
        id: FILES.to_owned(),
        input: Some(FILES.to_owned()),
        fit: Some(Fit::Contain),
        ..LayerFields::default()
    }))?;
    studio.apply(Command::AddInput {
        id: CAPTION.to_owned(),
        input: caption_input("livekit"),
        audio: AudioSettings::default(),
        when_failed: WhenFailed::default(),
    })?;
    let h = height as f32;
    studio.apply(Command::AddLayer(LayerFields {
        id: CAPTION.to_owned(),
        input: Some(CAPTION.to_owned()),
        rect: Some([h * 0.05, h * 0.82, width as f32 - h * 0.1, h * 0.12]),
        fit: Some(Fit::Contain),
        z: Some(1),
        visible: Some(false),
        ..LayerFields::default()
    }))
}

/// The files of `stream-files`: a folder's files matching the glob (sorted), or one file.
fn playlist_entries(args: &StreamFilesArgs) -> Result<Vec<PathBuf>, Failure> {
    if args.path.is_file() {
        return Ok(vec![args.path.clone()]);
    }
    if !args.path.is_dir() {
        if args.path.exists() {
            // A FIFO or a device: refused in `probe`'s words ("not a regular file (a FIFO)").
            livekit_sources::probe(&args.path).map_err(usage)?;
        }
        let typed = args.path.to_string_lossy();
        if typed.contains("://") {
            return Err(usage(anyhow!(
                "{}: stream-files takes a file or a folder, then the sites (a URL goes to \
                 `livekit stream-file`)",
                livekit_core::redact_url(&typed)
            )));
        }
        return Err(usage(anyhow!(
            "{}: no such file or folder",
            livekit_core::scrub(&typed)
        )));
    }
    let pattern = args.path.join(&args.glob);
    let files = expand_glob(&pattern.to_string_lossy()).map_err(usage)?;
    let files: Vec<PathBuf> = files.into_iter().filter(|f| f.is_file()).collect();
    if files.is_empty() {
        return Err(usage(anyhow!(
            "{}: no files match {:?}",
            args.path.display(),
            args.glob
        )));
    }
    Ok(files)
}

/// `stream-file` and `stream-files`: a studio whose playlist input feeds one encode for every
/// site, `--record` and `--hls` directly (`start_output`'s `input`), not through a canvas: a
/// canvas renders on its clock, taking each input's newest frame at each tick, where these
/// jobs send every frame of the file with its own timing, at `--readrate` (other than 1, the
/// playlist waits for the slowest destination: nothing is dropped). Songs with captions are
/// the exception: their cover and caption are composed on a canvas (in real time, on a clock
/// running at `--readrate`).
#[allow(clippy::too_many_arguments)]
fn stream_playlist(
    config: &Config,
    entries: Vec<PathBuf>,
    sites: &[String],
    looping: bool,
    shuffle: bool,
    cover: Cover,
    captions: bool,
    readrate: f64,
    output: Output,
    record: &RecordArgs,
    live: &LiveArgs,
    quiet: bool,
) -> Result<(), Failure> {
    let force = record.force;
    let hls = record.hls.output();
    let record = record.record.as_deref();
    if let Some(path) = record {
        crate::record::check_recording_path(path)?;
        not_an_input(path, &entries)?;
        if !live.print_command {
            crate::record::check_overwrite(path, force)?;
        }
    }
    let destinations = destinations(config, sites)?;
    // The output picture: `--size` and `--fps`, else one file's own (`stream-file`), else the
    // configured ones (a playlist, standard input, a song alone), as PyLivestream does: a
    // playlist's look does not depend on which file sorts first.
    let own = output.own && !entries.iter().any(|e| read_once(e));
    let mut size = (config.defaults.width, config.defaults.height);
    let mut fps = (config.defaults.fps, 1);
    // Songs (entries without video) get a caption layer when captions are on. Standard input
    // and FIFOs are not probed: they can be read only once, by the player.
    let mut songs = false;
    for entry in entries.iter().filter(|e| !read_once(e)) {
        let Ok(info) = probe(entry) else { continue };
        match &info.video {
            Some(video) if own => {
                size = info.display_size().unwrap_or((video.width, video.height));
                fps = fps_ratio(video.frame_rate);
            }
            Some(_) => {}
            None => songs = info.audio.is_some(),
        }
        if songs || !captions {
            break;
        }
    }
    if let Some(chosen) = output.size {
        size = chosen;
    }
    if let Some(chosen) = output.fps {
        fps = (chosen, 1);
    }
    let songs = songs && captions;
    if songs && readrate == 0.0 {
        return Err(usage(anyhow!(
            "--readrate 0 cannot caption songs (captions follow the clock): add --no-meta or give a rate above 0"
        )));
    }
    let settings = with_kbps(
        encoder_settings(config, &destinations, size, fps)?,
        output.kbps,
    );
    let shown: Vec<String> = destinations.iter().map(shown).collect();
    if live.print_command {
        println!(
            "{}",
            crate::print_command::for_files(
                &entries,
                looping,
                readrate,
                live.timeout,
                record,
                &settings,
                &destinations
            )
        );
        return Ok(());
    }
    let what = match &entries[..] {
        [one] => shown_input(one),
        many => format!("{} files", many.len()),
    };
    confirm_go_live(live.yes, &what, &shown).map_err(usage)?;
    let stop = StopSignal::install()?;
    let mut studio = studio_settings(
        config,
        "livekit",
        settings,
        give_up_after(config, live.give_up_after),
    );
    studio.encode_size = Some(size);
    studio.drain_after = Some(Duration::from_secs_f64(config.defaults.drain_after));
    studio.decoder_threads = decoder_threads(size, fps);
    // Not live (a file read faster or slower than real time): the source waits for the
    // slowest destination instead of their dropping what they cannot send in time.
    studio.streaming.wait_for_destinations = readrate != 1.0;
    if songs {
        if readrate != 1.0 {
            studio.clock = Arc::new(ScaledClock::new(SystemClock::new(), readrate));
        }
    } else {
        // Nothing is composited: no GPU to start.
        studio.backend = BackendChoice::Cpu;
    }
    let studio = Studio::start(studio)?;
    let refused = crate::record::refused;
    studio
        .apply(Command::AddInput {
            id: FILES.to_owned(),
            input: InputSpec::Playlist {
                paths: entries.clone(),
                looping,
                shuffle,
                audio: true,
                // Songs are composed on the canvas, in real time on the studio's clock.
                readrate: (!songs).then_some(readrate),
                paused: true,
                cover: match cover {
                    Cover::Image(path) => Some(path),
                    _ => None,
                },
            },
            audio: AudioSettings::default(),
            when_failed: WhenFailed::default(),
        })
        .map_err(refused)?;
    if songs {
        add_caption_canvas(&studio, size, fps).map_err(refused)?;
    }
    let start = |id: &str, output: livekit_studio::OutputSpec| {
        studio
            .apply(Command::StartOutput {
                id: id.to_owned(),
                canvas: MAIN_CANVAS.to_owned(),
                input: (!songs).then(|| FILES.to_owned()),
                output,
            })
            .map_err(refused)
    };
    // The files first: a recording that cannot be opened fails the job before any
    // destination goes live (the input is paused: every output starts with its first frame).
    if let Some(path) = record {
        start(
            crate::record::RECORD,
            livekit_studio::OutputSpec::Record {
                path: path.to_path_buf(),
                crash_safe: false,
            },
        )?;
    }
    if let Some(hls) = hls {
        start(crate::record::HLS, hls)?;
    }
    // WHIP endpoints take an encode of their own (WebRTC's), so an output of their own.
    let (webrtc, other): (Vec<String>, Vec<String>) = sites
        .iter()
        .cloned()
        .partition(|name| studio.is_whip_destination(name));
    for (id, to) in [
        (crate::record::STREAM, other),
        (crate::record::STREAM_WEBRTC, webrtc),
    ] {
        if !to.is_empty() {
            start(id, livekit_studio::OutputSpec::Stream { to })?;
        }
    }
    studio
        .apply(Command::ResumeInput {
            id: FILES.to_owned(),
        })
        .map_err(refused)?;
    let total = (!looping && entries.len() > 1).then_some(entries.len() as u64);
    let mut end = run_files(&studio, &stop, live, quiet, total, songs);
    // A loop plays for ever: one that ended could not play its files any more (they went
    // away, a disk was unplugged). That is a failure, not a show that finished.
    if looping && end.played_out && end.failed.is_none() {
        end.failed = Some(
            "the loop ended: none of its files could be played any more (were they removed?)"
                .to_owned(),
        );
    }
    let report = studio.stop();
    if end.late > 0 && !quiet {
        eprintln!(
            "livekit: {} dropped: encoding could not keep up with real time",
            crate::live::count(end.late, "video frame")
        );
    }
    let sent_nothing = report
        .outputs
        .iter()
        .flat_map(|o| &o.destinations)
        .all(|d| d.bytes == 0);
    let summarize = || {
        crate::record::summarize_streams(&report, 0, end.ended, end.elapsed, quiet)
            .unwrap_or(Ok(()))
    };
    let streamed = match end.failed {
        // Nothing could be played: that is the error, not the empty streams.
        // A bad file (exit 2), like one that does not open.
        Some(error) if sent_nothing => Err(usage(anyhow!("{error}"))),
        // Something was sent: the summary says what, and the job fails with the reason.
        Some(error) => summarize().and(Err(Failure::Runtime(anyhow!("{error}")))),
        None => summarize(),
    };
    let recorded = Recording::finish(
        report.outputs.iter().filter_map(|o| o.recording.as_ref()),
        quiet,
    );
    // An encoder that stopped early is why the rest ended: its error is the job's.
    crate::record::encoding_failed(&report).and(both(streamed, recorded))
}

/// Input that can be read only once: standard input (`-`, FFmpeg's `pipe:`, `pipe:0`) or a
/// FIFO (or another file that is not a regular one).
pub fn read_once(entry: &Path) -> bool {
    matches!(entry.to_str(), Some("-" | "pipe:" | "pipe:0"))
        || std::fs::metadata(entry).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// The streamer of a file job, also recording the same packets to each of `recordings`
/// (branches of the streamer, from its first packet; their files are opened here: a bad path
/// is a usage error). `live`: the source runs in real time, and a destination or recording
/// that falls behind drops GOPs; otherwise (a file read faster or slower than real time) the
/// source waits for them ([`StreamerSettings::wait_for_destinations`]). `give_up`: how long a
/// destination that never connected is tried ([`give_up_after`]).
pub fn start_streamer_recording(
    destinations: Vec<Destination>,
    streams: Vec<StreamInfo>,
    packets: Port<Packet>,
    live: bool,
    give_up: Option<Duration>,
    recordings: Vec<RecorderSettings>,
) -> Result<Streamer, Failure> {
    let mut settings = StreamerSettings::new(destinations);
    settings.wait_for_destinations = !live;
    settings.reconnect.give_up_unconnected_after = give_up;
    settings.recordings = recordings;
    Streamer::start(settings, streams, packets).map_err(|error| match error {
        StartStreamError::Recording(
            error @ (StartRecorderError::Open { .. } | StartRecorderError::UnknownExtension { .. }),
        ) => usage(error),
        other => Failure::Runtime(other.into()),
    })
}

/// `livekit stream-file`.
pub fn stream_file(config: &Config, args: &StreamFileArgs, quiet: bool) -> Result<(), Failure> {
    // `-`: standard input, as with FFmpeg (`cat show.ts | livekit stream-file - SITE --yes`).
    let stdin = matches!(args.file.as_str(), "-" | "pipe:" | "pipe:0");
    if stdin && args.looping {
        return Err(usage(anyhow!(
            "--loop cannot read standard input twice: give a file"
        )));
    }
    let local = !args.file.contains("://") && !stdin;
    if local && Path::new(&args.file).is_dir() {
        return Err(usage(anyhow!(
            "{}: is a folder: `livekit stream-files` streams the files of a folder",
            args.file
        )));
    }
    if local && !Path::new(&args.file).exists() {
        // `probe`'s words.
        return Err(usage(anyhow!(
            "media file {}: no such file",
            livekit_core::scrub(&args.file)
        )));
    }
    // A FIFO or a device is read once, as standard input is; looping it is refused in
    // `probe`'s words ("not a regular file (a FIFO)").
    let special = local && !Path::new(&args.file).is_file();
    if special && args.looping {
        livekit_sources::probe(&args.file).map_err(usage)?;
    }
    let output = Output {
        size: args.size,
        fps: args.fps,
        kbps: args.kbps,
        own: true,
    };
    if args.copy {
        output.refuse_with("--copy (nothing is encoded: the file's own packets are sent)")?;
        return stream_copy(config, args, quiet);
    }
    // One file: a file FFmpeg cannot read is this job's error, not a skipped playlist entry.
    let mut looping = args.looping;
    if local && !special {
        let info = livekit_sources::probe(&args.file).map_err(usage)?;
        // A picture (PNG, JPEG, ...) is one frame: streamed, it stays on screen until Ctrl-C
        // or --timeout, as in OBS, rather than ending after a frame.
        let still = info.audio.is_none()
            && info.video.is_some()
            && info
                .duration
                .is_none_or(|d| d <= Duration::from_millis(100));
        if still && !looping {
            tracing::info!("{} is a still picture: shown until stopped", args.file);
            looping = true;
        }
    }
    stream_playlist(
        config,
        vec![PathBuf::from(&args.file)],
        &args.sites,
        looping,
        false,
        Cover::Black,
        true,
        args.read.readrate,
        output,
        &args.record,
        &args.live,
        quiet,
    )
}

/// `livekit stream-files`.
pub fn stream_files(config: &Config, args: &StreamFilesArgs, quiet: bool) -> Result<(), Failure> {
    if let Some(image) = &args.image
        && !image.is_file()
    {
        return Err(usage(anyhow!("{}: no such image", image.display())));
    }
    let entries = playlist_entries(args)?;
    let cover = match &args.image {
        Some(image) => Cover::Image(image.clone()),
        None => Cover::Black,
    };
    stream_playlist(
        config,
        entries,
        &args.sites,
        args.looping,
        args.shuffle,
        cover,
        !args.no_meta,
        args.read.readrate,
        Output {
            size: args.size,
            fps: args.fps,
            kbps: args.kbps,
            own: false,
        },
        &args.record,
        &args.live,
        quiet,
    )
}

/// `stream-file --copy`: the file's own packets, paced in real time. Not a studio
/// configuration, and it need not be: nothing is decoded, composited or encoded, so there is
/// no canvas to put it on; the packets go straight to a [`Streamer`].
fn stream_copy(config: &Config, args: &StreamFileArgs, quiet: bool) -> Result<(), Failure> {
    if let Some(path) = &args.record.record {
        crate::record::check_recording_path(path)?;
        not_an_input(path, &[PathBuf::from(&args.file)])?;
        if !args.live.print_command {
            crate::record::check_overwrite(path, args.record.force)?;
        }
    }
    let destinations = destinations(config, &args.sites)?;
    refuse_whip(&destinations)?;
    // FFmpeg's library takes standard input as `pipe:0` (its command line's `-`).
    let input = match args.file.as_str() {
        "-" | "pipe:" => "pipe:0",
        other => other,
    };
    let file = PacketFile::open(
        input,
        PacketFileSettings {
            readrate: args.read.readrate,
            looping: args.looping,
            ..PacketFileSettings::default()
        },
    )
    .map_err(usage)?;
    let limit = destinations
        .iter()
        .map(|d| d.max_keyframe_interval)
        .fold(DEFAULT_MAX_KEYFRAME_INTERVAL, Duration::min);
    copy_compatible(
        &args.file,
        file.streams(),
        file.max_keyframe_interval(),
        limit,
    )
    .map_err(usage)?;
    let shown: Vec<String> = destinations.iter().map(shown).collect();
    if args.live.print_command {
        println!(
            "{}",
            crate::print_command::for_copy(
                Path::new(&args.file),
                args.looping,
                args.read.readrate,
                args.live.timeout,
                args.record.record.as_deref(),
                &destinations
            )
        );
        return Ok(());
    }
    confirm_go_live(args.live.yes, &shown_input(Path::new(&args.file)), &shown).map_err(usage)?;
    let stop = StopSignal::install()?;
    let streams = file.streams().to_vec();
    let packets = Port::blocking(256);
    let streamer = start_streamer_recording(
        destinations,
        streams,
        packets.clone(),
        args.read.readrate == 1.0,
        give_up_after(config, args.live.give_up_after),
        Recording::settings(&args.record),
    )?;
    let reader = file
        .start(packets)
        .map_err(|e| anyhow!("{e}"))
        .context("cannot start reading packets")?;
    drive_copy(
        reader,
        streamer,
        &args.live,
        quiet,
        &stop,
        Duration::from_secs_f64(config.defaults.drain_after),
    )
}
