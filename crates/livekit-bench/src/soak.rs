//! `livekit bench soak`: a show left running. The reference scene's kind of layers (test
//! sources), a looping file and a looping playlist (both with sound) on a 720p30 studio,
//! recorded (MKV) and streamed to three local destinations, one of whose server is killed and
//! started again every `--restart-every` seconds. Every `--sample-every` seconds the process's
//! resident memory, threads and open file descriptors are sampled; at the end: memory growth
//! after the first minute, whether threads and descriptors came back to their level after each
//! restart, the recording's audio/video drift, and what was dropped.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use clap::Args;
use livekit_cli::{Failure, usage};
use livekit_compositor::BackendChoice;
use livekit_studio::{Command, Studio, StudioSettings};
use livekit_testkit::NginxRtmp;
use livekit_testkit::media::{ClipSpec, clip};
use livekit_testkit::probe::ffprobe;

use crate::results::{Better, Results, Series, save};
use crate::studio::{encoder_settings, parse_size};

/// `livekit bench soak` options.
#[derive(Debug, Args)]
pub struct SoakArgs {
    /// How long the show runs, in minutes.
    #[arg(long, default_value_t = 30.0, value_parser = parse_minutes)]
    pub(crate) minutes: f64,
    /// Seconds between restarts of the third destination's server.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(10..=3600))]
    pub(crate) restart_every: u64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub(crate) sample_every: u64,
    /// Canvas size, WIDTHxHEIGHT, at least 640x360.
    #[arg(long, default_value = "1280x720", value_parser = parse_size)]
    pub(crate) size: (u32, u32),
    /// Frames a second.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub(crate) fps: u32,
    /// The compositor's backend: auto, gpu or cpu.
    #[arg(long, default_value = "auto")]
    pub(crate) backend: BackendChoice,
    /// Also write the samples to this CSV file (seconds, resident MB, threads, descriptors).
    #[arg(long, value_name = "FILE")]
    pub(crate) csv: Option<PathBuf>,
    /// Also write the figures and the samples to FILE as JSON (for `livekit-bench report`).
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
}

fn parse_minutes(text: &str) -> Result<f64, String> {
    let minutes: f64 = text
        .parse()
        .map_err(|_| format!("{text:?}: a number of minutes"))?;
    if !(0.25..=1440.0).contains(&minutes) {
        return Err(format!("{text}: 0.25 to 1440 minutes"));
    }
    Ok(minutes)
}

/// One sample of the process.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Duration,
    resident_kb: u64,
    threads: usize,
    descriptors: usize,
}

fn sample(at: Duration) -> anyhow::Result<Sample> {
    let status = std::fs::read_to_string("/proc/self/status").context("/proc/self/status")?;
    let resident_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS in /proc/self/status"))?;
    let count = |dir: &str| std::fs::read_dir(dir).map(|d| d.count());
    Ok(Sample {
        at,
        resident_kb,
        threads: count("/proc/self/task").context("/proc/self/task")?,
        descriptors: count("/proc/self/fd").context("/proc/self/fd")?,
    })
}

fn apply(studio: &Studio, json: &str) -> anyhow::Result<()> {
    let command = Command::from_json(json).map_err(|e| anyhow!("{json}: {e}"))?;
    studio.apply(command).map_err(|e| anyhow!("{json}: {e}"))
}

/// The show: a blue background and SMPTE bars (FFmpeg test sources, as in the reference
/// scene), a looping file and a looping playlist, each with its sound.
fn show(args: &SoakArgs, dir: &std::path::Path) -> anyhow::Result<Studio> {
    let (width, height) = args.size;
    let file = dir.join("file.mp4");
    sync_clip(&file, args.fps);
    let mut playlist = Vec::new();
    for n in 0..2 {
        let path = dir.join(format!("entry-{n}.mp4"));
        clip(
            &path,
            &ClipSpec {
                seconds: 7.0,
                gop: 15,
                ..ClipSpec::default()
            },
        );
        playlist.push(format!("{:?}", path.display().to_string()));
    }
    let settings = StudioSettings {
        backend: args.backend,
        encoder: encoder_settings(args.size, args.fps),
        ..StudioSettings::default()
    };
    let studio = Studio::start(settings)?;
    let fps = args.fps;
    apply(
        &studio,
        &format!(
            r#"{{"add_canvas": {{"id": "main", "width": {width}, "height": {height}, "fps": {fps}}}}}"#
        ),
    )?;
    let (w, h) = (f64::from(width) / 3.0, f64::from(height) / 3.0);
    let inputs = [
        (
            "background",
            format!(
                r#"{{"kind": "camera", "device": "lavfi:color=c=blue:size={width}x{height}:rate={fps},realtime"}}"#
            ),
            None,
        ),
        (
            "bars",
            format!(
                r#"{{"kind": "camera", "device": "lavfi:smptebars=size=640x360:rate={fps},realtime"}}"#
            ),
            Some([20.0, 20.0, w, h]),
        ),
        (
            "file",
            format!(
                r#"{{"kind": "file", "path": {:?}, "loop": true}}"#,
                file.display().to_string()
            ),
            Some(file_rect(args.size)),
        ),
        (
            "playlist",
            format!(
                r#"{{"kind": "playlist", "paths": [{}], "loop": true}}"#,
                playlist.join(", ")
            ),
            Some([20.0, f64::from(height) - h - 20.0, w, h]),
        ),
    ];
    let only = std::env::var("SOAK_ONLY").unwrap_or_default();
    for (id, input, rect) in inputs {
        if !only.is_empty() && !only.split(',').any(|o| o == id) {
            continue;
        }
        apply(
            &studio,
            &format!(r#"{{"add_input": {{"id": "{id}", "input": {input}}}}}"#),
        )?;
        let placed = match rect {
            Some([x, y, w, h]) => format!(r#", "rect": [{x}, {y}, {w}, {h}]"#),
            None => String::new(),
        };
        apply(
            &studio,
            &format!(r#"{{"add_layer": {{"id": "{id}", "input": "{id}"{placed}}}}}"#),
        )?;
    }
    Ok(studio)
}

/// The file layer's place on the canvas: `[x, y, width, height]`, a third of the canvas at
/// its top right.
fn file_rect((width, height): (u32, u32)) -> [f64; 4] {
    let (w, h) = (f64::from(width) / 3.0, f64::from(height) / 3.0);
    [f64::from(width) - w - 20.0, 20.0, w, h]
}

/// The looping file: 20 s of 640x360 at `fps`, black but white for two frames from half of
/// each second, and silent but for a 10 ms click at 5 kHz at the same instants (each flash
/// and its click are one event, so their distance in the recording is the A/V sync).
fn sync_clip(path: &std::path::Path, fps: u32) {
    let half = fps / 2;
    let video = format!(
        "color=c=black:s=640x360:r={fps}:d=20,drawbox=c=white:t=fill:enable='between(mod(n\\,{fps})\\,{half}\\,{})'",
        half + 1
    );
    let start = f64::from(half) / f64::from(fps);
    let audio = format!(
        "aevalsrc='0.8*sin(2*PI*5000*t)*lt(mod(t+{}\\,1)\\,0.01)':s=48000:d=20",
        1.0 - start
    );
    livekit_testkit::media::ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            &video,
            "-f",
            "lavfi",
            "-i",
            &audio,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-ac",
            "2",
        ]
        .into_iter()
        .chain([path.to_str().unwrap_or_default()])
        .collect::<Vec<_>>(),
    );
}

/// The file layer's A/V sync in the recording: for each flash (its region of the picture
/// turning white), its time and the nearest click's time minus the flash's, in seconds, in order;
/// and the number of flashes.
/// Clicks are found in the first difference of the mixed sound ([`clicks`]), where the
/// playlist's 440 Hz tone is 9 times weaker than the 5 kHz click.
fn sync_offsets(
    recording: &std::path::Path,
    size: (u32, u32),
) -> anyhow::Result<(Vec<(f64, f64)>, usize)> {
    use livekit_testkit::probe::{audio_samples, frame_colours, onsets, video_frame_times};
    const RATE: u32 = 48_000;
    let [x, y, w, h] = file_rect(size);
    // The middle half of the layer, clear of its edges.
    let region = [
        (x + w / 4.0) as u32,
        (y + h / 4.0) as u32,
        (w / 2.0) as u32,
        (h / 2.0) as u32,
    ];
    let times = video_frame_times(recording).map_err(|e| anyhow!(e))?;
    let colours = frame_colours(recording, Some(region)).map_err(|e| anyhow!(e))?;
    if times.len() != colours.len() {
        return Err(anyhow!(
            "{}: {} frame times but {} frames",
            recording.display(),
            times.len(),
            colours.len()
        ));
    }
    let flashes: Vec<f64> = onsets(colours.iter().map(|c| f32::from(c[0])), 128.0, 10)
        .into_iter()
        .map(|i| times[i])
        .collect();
    let (start, samples) = audio_samples(recording, RATE).map_err(|e| anyhow!(e))?;
    let clicks: Vec<f64> = clicks(&samples, RATE)
        .into_iter()
        .map(|i| start + i as f64 / f64::from(RATE))
        .collect();
    let pairs = flashes
        .iter()
        .filter_map(|&flash| {
            clicks
                .iter()
                .map(|&click| click - flash)
                .filter(|offset| offset.abs() < 0.4)
                .min_by(|a, b| a.abs().total_cmp(&b.abs()))
                .map(|offset| (flash, offset))
        })
        .collect();
    Ok((pairs, flashes.len()))
}

/// Where each click starts (sample indices), clicks at least half a second apart. A click is
/// a 5 kHz burst: its first difference stays above 0.2 for most of its samples, where the
/// edge of a cut 440 Hz tone (a playlist entry's end, a gap the mixer filled) is one step of
/// at most 0.25 that would pass a plain threshold.
fn clicks(samples: &[f32], rate: u32) -> Vec<usize> {
    let loud: Vec<bool> = samples
        .windows(2)
        .map(|w| (w[1] - w[0]).abs() > 0.2)
        .collect();
    // A 5 ms window must hold at least 50 loud steps (a click holds about 160).
    let window = rate as usize / 200;
    let mut found: Vec<usize> = Vec::new();
    let mut count = loud.iter().take(window).filter(|&&l| l).count();
    for i in 0..loud.len().saturating_sub(window) {
        if loud[i]
            && count >= 50
            && found
                .last()
                .is_none_or(|&last| i >= last + rate as usize / 2)
        {
            found.push(i + 1);
        }
        count -= usize::from(loud[i]);
        count += usize::from(loud[i + window]);
    }
    found
}

/// The median of `values` (0 when empty).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Where the video and the audio of `path` start (first packet) and end (last packet's time
/// plus its duration), in seconds, from ffprobe: `[(video start, end), (audio start, end)]`.
fn stream_spans(path: &std::path::Path) -> anyhow::Result<[(f64, f64); 2]> {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "packet=codec_type,pts_time,duration_time",
        ])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .context("ffprobe")?;
    let (mut video, mut audio) = (None::<(f64, f64)>, None::<(f64, f64)>);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut fields = line.split(',');
        let (Some(kind), Some(pts), duration) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Ok(pts) = pts.parse::<f64>() else {
            continue;
        };
        let end = pts + duration.and_then(|d| d.parse().ok()).unwrap_or(0.0);
        let slot = match kind {
            "video" => &mut video,
            "audio" => &mut audio,
            _ => continue,
        };
        *slot = Some(slot.map_or((pts, end), |(s, e)| (s.min(pts), e.max(end))));
    }
    Ok([
        video.ok_or_else(|| anyhow!("{}: no video", path.display()))?,
        audio.ok_or_else(|| anyhow!("{}: no audio", path.display()))?,
    ])
}

/// Runs `livekit bench soak`.
pub fn run(args: &SoakArgs) -> Result<(), Failure> {
    if args.size.0 < 640 || args.size.1 < 360 {
        return Err(usage(anyhow!(
            "--size {}x{}: at least 640x360",
            args.size.0,
            args.size.1
        )));
    }
    Ok(soak(args)?)
}

fn soak(args: &SoakArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let steady = NginxRtmp::start();
    let mut flaky = NginxRtmp::start();
    let mut csv = match &args.csv {
        Some(path) => {
            Some(std::fs::File::create(path).with_context(|| format!("{}", path.display()))?)
        }
        None => None,
    };
    if let Some(csv) = csv.as_mut() {
        writeln!(csv, "seconds,resident_mb,threads,descriptors")?;
    }
    let total = Duration::from_secs_f64(args.minutes * 60.0);
    println!(
        "soak: {}x{} at {} fps, 4 layers (2 test sources, a looping file, a looping playlist), \
         recorded and streamed to 3 destinations for {:.1} min; the third's server restarts every {} s",
        args.size.0, args.size.1, args.fps, args.minutes, args.restart_every
    );
    let before = sample(Duration::ZERO)?;
    let studio = show(args, dir.path())?;
    let recording = dir.path().join("soak.mkv");
    apply(
        &studio,
        &format!(
            r#"{{"start_output": {{"id": "record", "output": {{"kind": "record", "path": {:?}}}}}}}"#,
            recording.display().to_string()
        ),
    )?;
    let to = [
        steady.url("soak-a"),
        steady.url("soak-b"),
        flaky.url("soak-restarted"),
    ]
    .map(|url| format!("{url:?}"))
    .join(", ");
    apply(
        &studio,
        &format!(
            r#"{{"start_output": {{"id": "stream", "output": {{"kind": "stream", "to": [{to}]}}}}}}"#
        ),
    )?;

    let start = Instant::now();
    let mut samples = vec![before];
    let mut restarts: Vec<Duration> = Vec::new();
    let mut next_sample = Duration::from_secs(args.sample_every);
    let mut next_restart = Duration::from_secs(args.restart_every);
    println!(
        "{:>8} {:>12} {:>8} {:>12}",
        "seconds", "resident MB", "threads", "descriptors"
    );
    while start.elapsed() < total {
        let now = start.elapsed();
        if now >= next_restart {
            flaky.kill();
            flaky.restart();
            restarts.push(now);
            println!(
                "{:>8.0} the third destination's server restarted",
                now.as_secs_f64()
            );
            next_restart += Duration::from_secs(args.restart_every);
        }
        if now >= next_sample {
            let s = sample(now)?;
            println!(
                "{:>8.0} {:>12.1} {:>8} {:>12}",
                s.at.as_secs_f64(),
                s.resident_kb as f64 / 1024.0,
                s.threads,
                s.descriptors
            );
            if let Some(csv) = csv.as_mut() {
                writeln!(
                    csv,
                    "{:.0},{:.1},{},{}",
                    s.at.as_secs_f64(),
                    s.resident_kb as f64 / 1024.0,
                    s.threads,
                    s.descriptors
                )?;
            }
            samples.push(s);
            next_sample += Duration::from_secs(args.sample_every);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let report = studio.stop();
    let ran = start.elapsed();

    // Memory: from the first sample at or after a minute (the first one if the run is
    // shorter) to the last.
    let running: Vec<&Sample> = samples.iter().skip(1).collect();
    let settled = running
        .iter()
        .find(|s| s.at >= Duration::from_secs(60))
        .or(running.first())
        .copied()
        .ok_or_else(|| anyhow!("no sample taken: run longer than --sample-every"))?;
    let last = running.last().copied().unwrap_or(settled);
    let peak = running.iter().map(|s| s.resident_kb).max().unwrap_or(0);
    let growth = (last.resident_kb as f64 / settled.resident_kb as f64 - 1.0) * 100.0;
    println!(
        "memory: {:.1} MB at {:.0} s, {:.1} MB at the end ({:+.1} %, goal under +5 % over 30 min), peak {:.1} MB",
        settled.resident_kb as f64 / 1024.0,
        settled.at.as_secs_f64(),
        last.resident_kb as f64 / 1024.0,
        growth,
        peak as f64 / 1024.0
    );
    // Threads and descriptors: the last sample before each restart against the one before the
    // first restart (the level).
    let before_restart = |at: Duration| {
        samples
            .iter()
            .rev()
            .find(|s| s.at < at && s.at > Duration::ZERO)
    };
    if let Some(level) = restarts.first().and_then(|&at| before_restart(at)) {
        let mut after: Vec<(usize, usize)> = restarts
            .iter()
            .skip(1)
            .filter_map(|&at| before_restart(at))
            .map(|s| (s.threads, s.descriptors))
            .collect();
        after.push((last.threads, last.descriptors));
        println!(
            "threads and descriptors before the first restart: {} and {}; before each later restart and at the end: {}",
            level.threads,
            level.descriptors,
            after
                .iter()
                .map(|(t, d)| format!("{t}/{d}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    } else {
        println!("threads and descriptors: no restart in this run (--restart-every is longer)");
    }
    // What was dropped, and the recording's drift.
    for output in &report.outputs {
        println!(
            "output {}: {} frames, {} dropped{}",
            output.id,
            output.frames,
            output.dropped_frames,
            output
                .destinations
                .iter()
                .map(|d| format!(
                    "; {}: {} packets dropped, {} reconnects",
                    d.url, d.dropped_packets, d.reconnects
                ))
                .collect::<String>()
        );
    }
    let probe = ffprobe(&recording).map_err(|e| anyhow!(e))?;
    let [video, audio] = stream_spans(&recording)?;
    let frame = 1.0 / f64::from(args.fps);
    println!(
        "recording: {:.2} s of a {:.2} s run; audio minus video at the start {:+.1} ms, at the \
         end {:+.1} ms (where each stream begins and ends)",
        probe.duration(),
        ran.as_secs_f64(),
        (audio.0 - video.0) * 1000.0,
        (audio.1 - video.1) * 1000.0,
    );
    // A/V sync: each of the file layer's flashes against its click, at the start and the end.
    let (pairs, flashes) = sync_offsets(&recording, args.size)?;
    let offsets: Vec<f64> = pairs.iter().map(|&(_, offset)| offset).collect();
    if offsets.len() < 4 {
        return Err(anyhow!(
            "{}: only {} flash and click pairs found in the recording",
            recording.display(),
            offsets.len()
        ));
    }
    let ends = (offsets.len() / 4).clamp(1, 5);
    let (at_start, at_end) = (
        median(&offsets[..ends]),
        median(&offsets[offsets.len() - ends..]),
    );
    let worst = offsets.iter().fold(0.0_f64, |m, o| m.max(o.abs()));
    let drift = trend(&pairs);
    println!(
        "A/V sync: {} flash and click pairs (of {flashes} flashes; a click more than 0.4 s away \
         is not paired); click minus flash {:+.1} ms at the start, {:+.1} ms at the end, {:.1} ms \
         at worst: drift {:.1} ms (goal under a frame, {:.1} ms)",
        offsets.len(),
        at_start * 1000.0,
        at_end * 1000.0,
        worst * 1000.0,
        drift * 1000.0,
        frame * 1000.0
    );
    // Where the sync moved by more than half a frame from one pair to the next.
    let moves: Vec<String> = pairs
        .windows(2)
        .filter(|w| (w[1].1 - w[0].1).abs() > frame / 2.0)
        .map(|w| {
            format!(
                "at {:.1} s from {:+.1} to {:+.1} ms",
                w[1].0,
                w[0].1 * 1000.0,
                w[1].1 * 1000.0
            )
        })
        .collect();
    if !moves.is_empty() {
        println!("A/V sync moved: {}", moves.join("; "));
    }
    let reconnects = report
        .outputs
        .iter()
        .flat_map(|o| o.destinations.iter())
        .map(|d| d.reconnects)
        .max()
        .unwrap_or(0);
    println!(
        "restarts: {}; the restarted destination reconnected {reconnects} times",
        restarts.len(),
    );
    save(args.json.as_deref(), || {
        let mut results = Results::new(
            "soak",
            format!(
                "{}x{} at {} fps, 4 layers, recorded and streamed to 3 destinations for {:.1} min, the third's server restarted every {} s, sampled every {} s",
                args.size.0,
                args.size.1,
                args.fps,
                args.minutes,
                args.restart_every,
                args.sample_every
            ),
        );
        let mb = |kb: u64| kb as f64 / 1024.0;
        let lower = Better::Lower;
        results.add(
            "resident memory after the first minute (or the first sample)",
            "livekit",
            None,
            "MB",
            lower,
            mb(settled.resident_kb),
        );
        results.add(
            "resident memory at the end",
            "livekit",
            None,
            "MB",
            lower,
            mb(last.resident_kb),
        );
        results.add(
            "memory growth (goal under +5 % over 30 min)",
            "livekit",
            None,
            "%",
            lower,
            growth,
        );
        results.add(
            "threads at the end",
            "livekit",
            None,
            "",
            Better::Neither,
            last.threads as f64,
        );
        results.add(
            "descriptors at the end",
            "livekit",
            None,
            "",
            Better::Neither,
            last.descriptors as f64,
        );
        results.add(
            "A/V drift of the recording (goal under a frame)",
            "livekit",
            None,
            "ms",
            lower,
            drift * 1000.0,
        );
        results.add(
            "A/V sync error at worst (goal under a frame)",
            "livekit",
            None,
            "ms",
            lower,
            worst * 1000.0,
        );
        results.add(
            "server restarts",
            "livekit",
            None,
            "",
            Better::Neither,
            restarts.len() as f64,
        );
        results.add(
            "reconnects of the restarted destination",
            "livekit",
            None,
            "",
            Better::Neither,
            reconnects as f64,
        );
        for output in &report.outputs {
            results.add(
                &format!("frames dropped by output {}", output.id),
                "livekit",
                None,
                "",
                lower,
                output.dropped_frames as f64,
            );
        }
        let running = samples.iter().skip(1);
        results.series.push(Series {
            name: "resident memory".to_owned(),
            unit: "MB".to_owned(),
            points: running
                .clone()
                .map(|s| (s.at.as_secs_f64(), mb(s.resident_kb)))
                .collect(),
        });
        results.series.push(Series {
            name: "threads".to_owned(),
            unit: "".to_owned(),
            points: running
                .clone()
                .map(|s| (s.at.as_secs_f64(), s.threads as f64))
                .collect(),
        });
        results.series.push(Series {
            name: "descriptors".to_owned(),
            unit: "".to_owned(),
            points: running
                .map(|s| (s.at.as_secs_f64(), s.descriptors as f64))
                .collect(),
        });
        results
    })?;
    Ok(())
}

/// How far the sync error moved over the run as a trend: the median of the slopes between
/// every two `(seconds, offset)` pairs (the Theil-Sen estimator) times the time from the first
/// pair to the last. A clock that runs apart shows as a slope; a flash shown a frame late
/// while the machine is busy (the error jumps by a frame and back) does not, where the
/// difference of the first and the last few pairs would count it whenever it fell at an end.
fn trend(pairs: &[(f64, f64)]) -> f64 {
    let mut slopes = Vec::with_capacity(pairs.len() * pairs.len() / 2);
    for (i, a) in pairs.iter().enumerate() {
        for b in &pairs[i + 1..] {
            if b.0 > a.0 {
                slopes.push((b.1 - a.1) / (b.0 - a.0));
            }
        }
    }
    let span = match (pairs.first(), pairs.last()) {
        (Some(first), Some(last)) => last.0 - first.0,
        _ => 0.0,
    };
    (median(&slopes) * span).abs()
}

#[cfg(test)]
mod tests {
    use super::trend;

    #[test]
    fn a_trend_is_drift_and_a_late_frame_is_not() {
        // The sync error grows 1 ms a second for 99 s: 99 ms of drift.
        let growing: Vec<(f64, f64)> = (0..100)
            .map(|t| (f64::from(t), f64::from(t) * 0.001))
            .collect();
        assert!(
            (trend(&growing) - 0.099).abs() < 1e-9,
            "{}",
            trend(&growing)
        );
        // Steady at +10 ms, with the last five flashes a frame late: no drift.
        let mut steady: Vec<(f64, f64)> = (0..100).map(|t| (f64::from(t), 0.010)).collect();
        for pair in &mut steady[95..] {
            pair.1 -= 1.0 / 30.0;
        }
        assert!(trend(&steady) < 0.001, "{}", trend(&steady));
    }
}
