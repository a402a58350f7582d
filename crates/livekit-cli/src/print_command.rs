//! `--print-command`: an ffmpeg command line doing about what a job does, for users who want
//! to copy and paste it (as PyLivestream prints its own). Keys are always `<redacted>`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use livekit_sources::MediaInfo;

use livekit_sinks::stream::Protocol;
use livekit_sinks::{Destination, EncoderSettings, RateControl};

/// Quotes `text` for a POSIX shell when it needs it.
fn quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=+,@%".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The list file `stream-files` prints a command for.
const CONCAT_LIST: &str = "livekit-list.txt";

/// A command line from its arguments, each quoted for a POSIX shell where it needs it.
fn line(args: &[String]) -> String {
    args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

/// A path as FFmpeg's concat list wants it: in single quotes, a quote as `'\''`.
fn concat_quote(path: &str) -> String {
    format!("'{}'", path.replace('\'', r"'\''"))
}

/// A destination's URL as FFmpeg takes it, secrets redacted: for SRT, caller mode, the
/// latency, the stream id (the key) and the passphrase as URL options, as livekit sets them.
fn shown_url(destination: &Destination) -> String {
    let url = destination.redacted_url();
    if destination.protocol != Protocol::Srt {
        return url;
    }
    let mut options = vec![
        "mode=caller".to_owned(),
        format!("latency={}", destination.srt.latency.as_micros()),
    ];
    if destination.key().is_some() {
        options.push(format!("streamid={}", livekit_core::REDACTED));
    }
    if destination.srt.passphrase.is_some() {
        options.push(format!("passphrase={}", livekit_core::REDACTED));
    }
    // A query typed in the URL is shown redacted as it is, after ours.
    match url.split_once('?') {
        Some((base, query)) => format!("{base}?{}&{query}", options.join("&")),
        None => format!("{url}?{}", options.join("&")),
    }
}

/// The output part: one FLV/MPEG-TS output, or the tee muxer with per-destination isolation;
/// `-t` for a `--timeout`.
fn outputs(
    destinations: &[Destination],
    timeout: Option<Duration>,
    record: Option<&Path>,
) -> Vec<String> {
    let format = |d: &Destination| match d.protocol {
        Protocol::Srt => "mpegts",
        _ => "flv",
    };
    let mut args = Vec::new();
    if let Some(timeout) = timeout {
        args.extend(["-t".to_owned(), format!("{}", timeout.as_secs_f64())]);
    }
    args.extend(match (destinations, record) {
        ([one], None) => vec!["-f".into(), format(one).into(), shown_url(one)],
        (many, record) => {
            let mut outputs: Vec<String> = many
                .iter()
                .map(|d| format!("[f={}:onfail=ignore]{}", format(d), shown_url(d)))
                .collect();
            // --record: the file is one more output of the tee.
            if let Some(path) = record {
                let extension = path
                    .extension()
                    .map(|e| e.to_string_lossy().to_ascii_lowercase())
                    .unwrap_or_default();
                let muxer = match extension.as_str() {
                    "mkv" => "matroska",
                    "mov" => "mov:movflags=+faststart",
                    "flv" => "flv",
                    _ => "mp4:movflags=+faststart",
                };
                outputs.push(format!("[f={muxer}]{}", path.display()));
            }
            let tee = outputs.join("|");
            vec![
                "-flags:v".into(),
                "+global_header".into(),
                "-f".into(),
                "tee".into(),
                tee,
            ]
        }
    });
    args
}

/// Encoding options equivalent to `settings`.
fn encoding(settings: &EncoderSettings) -> Vec<String> {
    let v = &settings.video;
    let (width, height) = v.encoded_size();
    let kbps = v.target_kbps();
    let mut args: Vec<String> = vec![
        "-vf".into(),
        format!(
            "scale={width}:{height}:force_original_aspect_ratio=decrease,pad={width}:{height}:(ow-iw)/2:(oh-ih)/2"
        ),
        "-r".into(),
        format!("{}/{}", v.fps.0, v.fps.1),
        "-c:v".into(),
        "libx264".into(),
        "-preset".into(),
        v.preset.clone(),
        "-pix_fmt".into(),
        "yuv420p".into(),
        "-b:v".into(),
        format!("{kbps}k"),
    ];
    match v.rate_control {
        RateControl::Cbr => args.extend([
            "-minrate".into(),
            format!("{kbps}k"),
            "-maxrate".into(),
            format!("{kbps}k"),
            "-bufsize".into(),
            format!("{kbps}k"),
            "-x264-params".into(),
            "nal-hrd=cbr".into(),
        ]),
        RateControl::Vbr {
            max_kbps,
            bufsize_kbits,
        } => {
            let max = max_kbps.unwrap_or(kbps);
            args.extend([
                "-maxrate".into(),
                format!("{max}k"),
                "-bufsize".into(),
                format!("{}k", bufsize_kbits.unwrap_or(max * 2)),
            ]);
        }
    }
    if let Some(tune) = &v.tune {
        args.extend(["-tune".into(), tune.clone()]);
    }
    let gop = v.gop_frames().to_string();
    args.extend([
        "-g".into(),
        gop.clone(),
        "-keyint_min".into(),
        gop,
        "-sc_threshold".into(),
        "0".into(),
        "-c:a".into(),
        "aac".into(),
        "-b:a".into(),
        format!("{}k", settings.audio.kbps),
        "-ar".into(),
        settings.audio.sample_rate.to_string(),
        "-ac".into(),
        settings.audio.channels.to_string(),
    ]);
    args
}

/// FFmpeg's input pacing for a `--readrate`: `-re` at 1, `-readrate R` at other rates,
/// nothing at 0 (as fast as possible).
fn pace(readrate: f64) -> Vec<String> {
    if readrate == 1.0 {
        vec!["-re".into()]
    } else if readrate > 0.0 {
        vec!["-readrate".into(), readrate.to_string()]
    } else {
        Vec::new()
    }
}

/// Standard input or a FIFO: not probed, it can be read only once.
fn stdin(entry: &Path) -> bool {
    crate::jobs::read_once(entry)
}

/// `stream-file` / `stream-files`. Entries FFmpeg cannot read are left out (the job skips
/// them); a single file without video gets the black picture the job sends, one without audio
/// the silent track.
#[allow(clippy::too_many_arguments)]
pub fn for_files(
    entries: &[PathBuf],
    looping: bool,
    readrate: f64,
    timeout: Option<Duration>,
    record: Option<&Path>,
    settings: &EncoderSettings,
    destinations: &[Destination],
) -> String {
    let infos: Vec<(PathBuf, Option<MediaInfo>)> = entries
        .iter()
        // Standard input and FIFOs are not probed: they can be read only once.
        .map(|e| {
            (
                e.clone(),
                (!stdin(e))
                    .then(|| livekit_sources::probe(e).ok())
                    .flatten(),
            )
        })
        .collect();
    let playable: Vec<PathBuf> = infos
        .iter()
        .filter(|(e, info)| info.is_some() || e.to_string_lossy().contains("://") || stdin(e))
        .map(|(e, _)| e.clone())
        .collect();
    let entries = if playable.is_empty() {
        entries
    } else {
        &playable[..]
    };
    let mut args: Vec<String> = vec!["ffmpeg".into()];
    args.extend(pace(readrate));
    let mut note = None;
    if looping {
        args.extend(["-stream_loop".into(), "-1".into()]);
    }
    let mut maps = vec!["0:v:0?".to_owned(), "0:a:0?".to_owned()];
    match entries {
        [one] => {
            // A URL's password or key is not printed.
            args.extend(["-i".into(), crate::jobs::shown_input(one)]);
            let info = infos
                .iter()
                .find(|(e, _)| e == one)
                .and_then(|(_, info)| info.as_ref());
            let (width, height) = settings.video.encoded_size();
            let (num, den) = settings.video.fps;
            let mut generated = 0;
            if let Some(info) = info
                && info.video.is_none()
            {
                generated += 1;
                args.extend([
                    "-f".into(),
                    "lavfi".into(),
                    "-i".into(),
                    format!("color=c=black:s={width}x{height}:r={num}/{den}"),
                ]);
                maps[0] = format!("{generated}:v");
            }
            if let Some(info) = info
                && info.audio.is_none()
            {
                generated += 1;
                args.extend([
                    "-f".into(),
                    "lavfi".into(),
                    "-i".into(),
                    format!(
                        "anullsrc=r={}:cl={}",
                        settings.audio.sample_rate,
                        if settings.audio.channels == 1 {
                            "mono"
                        } else {
                            "stereo"
                        }
                    ),
                ]);
                maps[1] = format!("{generated}:a");
            }
            if generated > 0 {
                // The generated input runs for ever: the file's own stream sets the end.
                args.push("-shortest".into());
            }
        }
        many => {
            // FFmpeg's concat demuxer reads a list file: the first line writes it.
            let mut list = vec!["printf".to_owned(), "%s\\n".to_owned()];
            list.extend(
                many.iter()
                    .map(|f| format!("file {}", concat_quote(&f.to_string_lossy()))),
            );
            note = Some(format!("{} > {CONCAT_LIST}", line(&list)));
            args.extend([
                "-f".into(),
                "concat".into(),
                "-safe".into(),
                "0".into(),
                "-i".into(),
                CONCAT_LIST.into(),
            ]);
        }
    }
    for map in maps {
        args.extend(["-map".into(), map]);
    }
    args.extend(encoding(settings));
    args.extend(outputs(destinations, timeout, record));
    let command = line(&args);
    match note {
        Some(note) => format!("{note}\n{command}"),
        None => command,
    }
}

/// `stream-file --copy`.
pub fn for_copy(
    file: &Path,
    looping: bool,
    readrate: f64,
    timeout: Option<Duration>,
    record: Option<&Path>,
    destinations: &[Destination],
) -> String {
    let mut args: Vec<String> = vec!["ffmpeg".into()];
    args.extend(pace(readrate));
    if looping {
        args.extend(["-stream_loop".into(), "-1".into()]);
    }
    args.extend([
        "-i".into(),
        crate::jobs::shown_input(file),
        "-map".into(),
        "0:v:0".into(),
        "-map".into(),
        "0:a:0?".into(),
        "-c".into(),
        "copy".into(),
    ]);
    args.extend(outputs(destinations, timeout, record));
    line(&args)
}

/// Any job whose input is an FFmpeg device (`-f x11grab -i :0.0`, ...).
pub fn for_device(
    input: &[String],
    settings: &EncoderSettings,
    destinations: &[Destination],
) -> String {
    let mut args: Vec<String> = vec!["ffmpeg".into()];
    args.extend(input.iter().cloned());
    args.extend(encoding(settings));
    args.extend(outputs(destinations, None, None));
    line(&args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("a/b.mp4"), "a/b.mp4");
        assert_eq!(quote("my file's.mp4"), r"'my file'\''s.mp4'");
        assert_eq!(quote("0:a:0?"), "'0:a:0?'");
        assert_eq!(quote("pad=2:2:(ow-iw)/2"), "'pad=2:2:(ow-iw)/2'");
        assert_eq!(concat_quote("it's.mp4"), r"'it'\''s.mp4'");
    }
}
