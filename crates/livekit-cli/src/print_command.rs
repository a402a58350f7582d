//! `--print-command`: an ffmpeg command line doing about what a job does, for users who want
//! to copy and paste it (as PyLivestream prints its own). Keys are always `<redacted>`.

use std::path::{Path, PathBuf};

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

/// The output part: one FLV/MPEG-TS output, or the tee muxer with per-destination isolation.
fn outputs(destinations: &[Destination]) -> Vec<String> {
    let format = |d: &Destination| match d.protocol {
        Protocol::Srt => "mpegts",
        _ => "flv",
    };
    match destinations {
        [one] => vec!["-f".into(), format(one).into(), one.redacted_url()],
        many => {
            let tee = many
                .iter()
                .map(|d| format!("[f={}:onfail=ignore]{}", format(d), d.redacted_url()))
                .collect::<Vec<_>>()
                .join("|");
            vec![
                "-flags:v".into(),
                "+global_header".into(),
                "-f".into(),
                "tee".into(),
                tee,
            ]
        }
    }
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

/// `stream-file` / `stream-files`.
pub fn for_files(
    entries: &[PathBuf],
    looping: bool,
    readrate: f64,
    settings: &EncoderSettings,
    destinations: &[Destination],
) -> String {
    let mut args: Vec<String> = vec!["ffmpeg".into()];
    args.extend(pace(readrate));
    let mut note = None;
    if looping {
        args.extend(["-stream_loop".into(), "-1".into()]);
    }
    match entries {
        [one] => args.extend(["-i".into(), one.to_string_lossy().into_owned()]),
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
    args.extend([
        "-map".into(),
        "0:v:0?".into(),
        "-map".into(),
        "0:a:0?".into(),
    ]);
    args.extend(encoding(settings));
    args.extend(outputs(destinations));
    let command = line(&args);
    match note {
        Some(note) => format!("{note}\n{command}"),
        None => command,
    }
}

/// `stream-file --copy`.
pub fn for_copy(file: &Path, readrate: f64, destinations: &[Destination]) -> String {
    let mut args: Vec<String> = vec!["ffmpeg".into()];
    args.extend(pace(readrate));
    args.extend([
        "-i".into(),
        file.to_string_lossy().into_owned(),
        "-map".into(),
        "0:v:0".into(),
        "-map".into(),
        "0:a:0?".into(),
        "-c".into(),
        "copy".into(),
    ]);
    args.extend(outputs(destinations));
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
    args.extend(outputs(destinations));
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
