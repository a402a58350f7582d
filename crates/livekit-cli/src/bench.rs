//! `livekit bench ...`: our figures beside the reference tools' from the same run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use livekit_compositor::{
    BackendChoice, CanvasSettings, Compositor, InputFrames, Layer, LayerSource, TestPattern,
    VideoInput, render_pattern,
};
use livekit_core::thread::spawn_named;
use livekit_core::{
    FrameLayout, FramePool, FrameSource, FrameTarget, PixelFormat, Port, Pull, VideoFrame,
};

use crate::Failure;

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum Bench {
    /// The reference compositing scene: a 1920x1080 canvas, a full-canvas opaque input and three
    /// 640x360 inputs at opacity 0.8, each input delivering a new frame in system memory for
    /// every output frame, the output read back to system memory; as fast as possible.
    Compositor(CompositorArgs),
    /// A 720p30 H.264/AAC file streamed in real time to 1, 3 and 5 destinations on a local
    /// nginx-rtmp: CPU seconds and peak memory beside the FFmpeg tee command and PyLivestream
    /// (../shared/peers), each run checked for what every destination received.
    Stream(crate::bench_stream::StreamArgs),
    /// Decode a media file as fast as possible (video to frames, audio to 48 kHz stereo), beside
    /// `ffmpeg -benchmark -i FILE -f null -` on the same file.
    Decode(DecodeArgs),
    /// 1920x1080 frames from a writer process to a reader process through shared memory
    /// (IpcTarget -> IpcSource): frames a second as fast as possible, latency (median, p99),
    /// beside GStreamer's shmsink -> shmsrc in the same run.
    #[cfg(target_os = "linux")]
    Ipc(crate::bench_ipc::IpcArgs),
}

/// `livekit bench decode` options.
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// The media file.
    file: PathBuf,
    /// Decoder threads (0: one per core, as FFmpeg does).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

/// `livekit bench compositor` options.
#[derive(Debug, Args)]
pub struct CompositorArgs {
    /// Output frames to render.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    frames: u64,
    /// auto, gpu or cpu.
    #[arg(long, default_value = "auto")]
    backend: BackendChoice,
    /// Also run GStreamer's compositor on the same scene (../shared/peers/gst-compositor.sh)
    /// and print the ratio.
    #[arg(long)]
    compare: bool,
    /// Folder of the reference tools' scripts [default: ../shared/peers beside the repository,
    /// or $LIVEKIT_PEERS_DIR].
    #[arg(long)]
    peers: Option<PathBuf>,
}

pub fn run(bench: &Bench) -> Result<(), Failure> {
    match bench {
        Bench::Compositor(args) => compositor(args),
        Bench::Stream(args) => crate::bench_stream::run(args),
        Bench::Decode(args) => decode(args),
        #[cfg(target_os = "linux")]
        Bench::Ipc(args) => crate::bench_ipc::run(args),
    }
}

const WAIT: Duration = Duration::from_secs(30);

/// A producer thread: `frames` new frames, each written in full (a fill or a copy of `pattern`).
fn producer(
    name: &str,
    width: u32,
    height: u32,
    frames: u64,
    pattern: Option<VideoFrame>,
) -> anyhow::Result<Arc<Port<VideoFrame>>> {
    let port = Arc::new(Port::blocking(2));
    let out = Arc::clone(&port);
    let layout = FrameLayout::new(width, height, PixelFormat::Rgba8)?;
    spawn_named(format!("bench-{name}"), move || {
        let pool = FramePool::new(layout);
        for n in 0..frames {
            let mut frame = pool.acquire(Duration::from_millis(n * 33));
            match &pattern {
                Some(p) => frame.plane_mut(0).copy_from_slice(p.plane(0)),
                None => {
                    for px in frame.plane_mut(0).chunks_exact_mut(4) {
                        px.copy_from_slice(&[0, 0, 255, 255]);
                    }
                }
            }
            if out.push(frame.freeze()).is_err() {
                return;
            }
        }
        out.end();
    })
    .map_err(|e| anyhow!("{e}"))?;
    Ok(port)
}

fn compositor(args: &CompositorArgs) -> Result<(), Failure> {
    let peers = if args.compare {
        Some(peers_dir(args.peers.as_deref()).map_err(crate::usage)?)
    } else {
        None
    };
    let mut c = Compositor::new(args.backend)?;
    println!("backend: {}", c.backend());
    let canvas = c.add_canvas(CanvasSettings::new(1920, 1080, 30))?;
    let smpte = render_pattern(TestPattern::Smpte, 640, 360);
    let mut inputs = Vec::new();
    let big = VideoInput::new(producer("blue", 1920, 1080, args.frames, None)?);
    c.add_layer(canvas, None, Layer::new(LayerSource::Video(big.clone())))?;
    inputs.push(big);
    for (i, x) in [40.0, 700.0, 1240.0].into_iter().enumerate() {
        let port = producer(
            &format!("smpte{i}"),
            640,
            360,
            args.frames,
            Some(smpte.clone()),
        )?;
        let input = VideoInput::new(port);
        c.add_layer(
            canvas,
            None,
            Layer::new(LayerSource::Video(input.clone()))
                .rect(x, 40.0, 640.0, 360.0)
                .opacity(0.8),
        )?;
        inputs.push(input);
    }
    let mut frames = InputFrames::new();
    let started = Instant::now();
    let mut last = None;
    for n in 0..args.frames {
        for input in &inputs {
            match input.source().next(WAIT) {
                Pull::Frame(frame) => frames.insert(input.id(), frame),
                _ => return Err(anyhow!("a bench input stopped early").into()),
            }
        }
        let out = c.render_canvas(canvas, Duration::from_millis(n * 33), &frames)?;
        last = Some(out);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let fps = args.frames as f64 / elapsed;
    // Check the picture once, so a broken render cannot pass as fast.
    let out = last.context("no frame rendered")?;
    let blue = out.rgba_at(1900, 1000);
    let blended = out.rgba_at(50, 50);
    if blue != Some([0, 0, 255, 255]) || blended != Some([153, 153, 204, 255]) {
        return Err(anyhow!("the benchmark rendered a wrong picture: {blue:?} at (1900,1000), {blended:?} at (50,50)").into());
    }
    if let Some(peers) = peers {
        let script = peers.join("gst-compositor.sh");
        println!("gstreamer: running {}", script.display());
        let output = Command::new("sh")
            .arg(&script)
            .arg(args.frames.to_string())
            .output()
            .with_context(|| format!("running {}", script.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let theirs = stdout
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("fps="))
            .and_then(|v| v.trim().parse::<f64>().ok());
        match (output.status.success(), theirs) {
            (true, Some(theirs)) => {
                println!("gstreamer compositor fps={theirs:.1}");
                println!("ratio={:.2}x (livekit / gstreamer)", fps / theirs);
            }
            _ => {
                return Err(anyhow!(
                    "{} failed ({}): {}",
                    script.display(),
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                )
                .into());
            }
        }
    }
    println!("fps={fps:.1}");
    Ok(())
}

fn peers_dir(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = match given {
        Some(dir) => dir.to_path_buf(),
        None => match std::env::var_os("LIVEKIT_PEERS_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/peers"),
        },
    };
    if !dir.join("gst-compositor.sh").is_file() {
        bail!(
            "--compare needs the reference scripts: {} has no gst-compositor.sh (give --peers DIR)",
            dir.display()
        );
    }
    Ok(dir.canonicalize().unwrap_or(dir))
}

/// Counts what a port delivers until it ends, on a thread.
fn count_frames<T: Send + 'static>(
    name: &str,
    port: Port<T>,
) -> anyhow::Result<livekit_core::thread::Worker<u64>> {
    spawn_named(format!("bench-{name}"), move || {
        let mut n = 0;
        while let Pull::Frame(frame) = port.next(WAIT) {
            drop(frame); // back to the pool at once
            n += 1;
        }
        n
    })
    .map_err(|e| anyhow!("{e}"))
}

fn decode(args: &DecodeArgs) -> Result<(), Failure> {
    use livekit_sources::{Player, PlayerEvent, PlayerSettings, probe};
    let info = probe(&args.file).map_err(crate::usage)?;
    let video = info
        .video
        .as_ref()
        .with_context(|| format!("{}: no video stream to decode", args.file.display()))
        .map_err(crate::usage)?;
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
    let player = Player::open(&args.file, settings).map_err(crate::usage)?;
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
