//! `livekit bench decode`: a media file decoded as fast as possible through the `Player`,
//! beside `ffmpeg -benchmark -i FILE -f null -` on the same file: frames a second and CPU time
//! per frame.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use clap::Args;
use livekit_cli::{Failure, usage};
use livekit_core::thread::spawn_named;
use livekit_core::{FrameSource, Port, Pull, VideoFrame};

use crate::results::{Better, Results, save};

/// `livekit bench decode` options.
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// The media file.
    file: PathBuf,
    /// Decoder threads (0: one per core, as FFmpeg does).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Also write the figures to FILE as JSON (for `livekit-bench report`; run it several times
    /// with a file each for medians).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

const WAIT: Duration = Duration::from_secs(30);

/// Counts what a port delivers until it ends, on a thread.
fn count_frames<T: Send + 'static>(
    name: &str,
    port: Port<T>,
) -> anyhow::Result<livekit_core::thread::Worker<u64>> {
    spawn_named(format!("livekit.bench.{name}"), move || {
        let mut n = 0;
        while let Pull::Frame(frame) = port.next(WAIT) {
            drop(frame); // back to the pool at once
            n += 1;
        }
        n
    })
    .map_err(|e| anyhow!("{e}"))
}

/// Runs the benchmark: ffmpeg first (which also brings the file into the page cache), then ours.
pub fn run(args: &DecodeArgs) -> Result<(), Failure> {
    use livekit_sources::{Player, PlayerEvent, PlayerSettings, probe};
    let info = probe(&args.file).map_err(usage)?;
    let video = info
        .video
        .as_ref()
        .with_context(|| format!("{}: no video stream to decode", args.file.display()))
        .map_err(usage)?;
    println!(
        "file: {} ({} {}x{}, {:.2} fps{})",
        args.file.display(),
        video.codec,
        video.width,
        video.height,
        video.frame_rate,
        info.audio
            .as_ref()
            .map(|a| format!(", audio {} {} Hz", a.codec, a.sample_rate))
            .unwrap_or_default()
    );

    // The reference first (it also brings the file into the page cache for both).
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-benchmark", "-i"])
        .arg(&args.file)
        .args(["-f", "null", "-"])
        .output()
        .context("running ffmpeg (is it installed?)")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(anyhow!("ffmpeg failed ({}): {}", output.status, stderr.trim()).into());
    }
    let frames_theirs = stderr
        .rsplit("frame=")
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok());
    let rtime = stderr
        .rsplit("rtime=")
        .next()
        .and_then(|rest| rest.split('s').next())
        .and_then(|t| t.trim().parse::<f64>().ok());
    let seconds_of = |key: &str| {
        stderr
            .rsplit(key)
            .next()
            .and_then(|rest| rest.split('s').next())
            .and_then(|t| t.trim().parse::<f64>().ok())
    };
    let cpu_theirs = seconds_of("utime=")
        .zip(seconds_of("stime="))
        .map(|(u, s)| u + s);
    let (Some(frames_theirs), Some(rtime)) = (frames_theirs, rtime) else {
        return Err(anyhow!(
            "could not read frames and rtime from ffmpeg -benchmark: {}",
            stderr.trim()
        )
        .into());
    };

    let settings = PlayerSettings {
        threads: args.threads,
        ..PlayerSettings::free_running()
    };
    let player = Player::open(&args.file, settings).map_err(usage)?;
    let video_port = Port::<VideoFrame>::blocking(4);
    let audio_port = Port::<livekit_core::AudioFrame>::blocking(64);
    player.add_video_target(video_port.clone())?;
    player.add_audio_target(audio_port.clone())?;
    let video_count = count_frames("video", video_port)?;
    let audio_count = count_frames("audio", audio_port)?;
    let cpu_before = process_cpu_seconds();
    let started = Instant::now();
    player.start()?;
    let frames = video_count.join()?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_ours = process_cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    let _audio_frames = audio_count.join()?;
    player.wait(WAIT);
    if let Some(PlayerEvent::Failed(error)) = player.events().try_iter().last() {
        return Err(anyhow::Error::new(error).into());
    }
    if frames == 0 {
        return Err(anyhow!("{}: no video frame decoded", args.file.display()).into());
    }
    let ours = frames as f64 / elapsed;
    let theirs = frames_theirs / rtime;
    println!("ffmpeg -benchmark: {frames_theirs} frames in {rtime:.3} s, fps={theirs:.1}");
    println!("livekit: {frames} frames in {elapsed:.3} s, fps={ours:.1}");
    println!("ratio={:.2}x (livekit / ffmpeg)", ours / theirs);
    // CPU time per frame: steadier than the rates on a busy machine.
    if let (Some(cpu_theirs), Some(cpu_ours)) = (cpu_theirs, cpu_ours) {
        let ratio = if cpu_theirs > 0.0 && cpu_ours > 0.0 {
            let ratio = (cpu_theirs / frames_theirs) / (cpu_ours / frames as f64);
            format!("{ratio:.2}x (ffmpeg cpu / livekit cpu per frame)")
        } else {
            "unknown (too short to measure: the clock counts 10 ms steps)".to_owned()
        };
        println!(
            "cpu: ffmpeg {cpu_theirs:.2} s ({:.2} ms/frame), livekit {cpu_ours:.2} s ({:.2} ms/frame), cpu_ratio={ratio}",
            cpu_theirs * 1000.0 / frames_theirs,
            cpu_ours * 1000.0 / frames as f64,
        );
    }
    save(args.json.as_deref(), || {
        let mut results = Results::new(
            "decode",
            format!(
                "{} ({} {}x{}, {:.2} fps), decoded as fast as possible, ffmpeg first",
                args.file
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                video.codec,
                video.width,
                video.height,
                video.frame_rate
            ),
        );
        results.add(
            "frames a second",
            "livekit",
            None,
            "fps",
            Better::Higher,
            ours,
        );
        results.add(
            "frames a second",
            "ffmpeg -benchmark",
            None,
            "fps",
            Better::Higher,
            theirs,
        );
        if let (Some(cpu_theirs), Some(cpu_ours)) = (cpu_theirs, cpu_ours) {
            let per_frame = "CPU per frame";
            results.add(
                per_frame,
                "livekit",
                None,
                "ms",
                Better::Lower,
                cpu_ours * 1000.0 / frames as f64,
            );
            results.add(
                per_frame,
                "ffmpeg -benchmark",
                None,
                "ms",
                Better::Lower,
                cpu_theirs * 1000.0 / frames_theirs,
            );
        }
        results
    })?;
    Ok(())
}

/// User plus system CPU seconds of this process so far (all threads), from `/proc/self/stat`
/// (Linux; in clock ticks of 1/100 s, Linux's fixed user-space tick rate); `None` elsewhere.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces): state is
    // field 3, utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
