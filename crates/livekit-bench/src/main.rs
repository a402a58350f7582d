//! `livekit-bench`: the benchmarks, our figures beside a reference tool's from the same run.
//!
//! A program of its own so that the shipped `livekit` does not carry the test servers and tools
//! (`livekit-testkit`) the benchmarks use; `livekit bench ARGS...` runs this program, found next
//! to `livekit`, with the same ARGS. It follows `livekit`'s command-line conventions (the
//! `livekit_cli` library: `-v`/`-q`, `livekit: error: ...` on one line, exit code 2 for a bad
//! argument, 1 for a failure while running), so `livekit bench` answers as it always has.

mod compositor;
mod control;
mod decode;
#[cfg(target_os = "linux")]
mod ipc;
mod latency;
mod peers;
mod report;
mod results;
mod soak;
mod stamp;
mod stream;
mod studio;
mod webrtc;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use livekit_cli::{Failure, Verbosity, exit_code, parse_arguments, usage};

/// Benchmarks: our figure beside a reference tool's from the same run.
#[derive(Debug, Parser)]
#[command(name = "livekit-bench", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    verbosity: Verbosity,
    /// `livekit`'s configuration file: accepted as `livekit` accepts it (an explicit file that
    /// cannot be read is an error), though no benchmark uses it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    bench: Bench,
}

/// An explicit `--config` must be a file that can be read, as for every `livekit` command,
/// in `livekit`'s words.
fn check_config(path: &Path) -> Result<(), Failure> {
    let shown = path.display();
    if path.is_dir() {
        return Err(usage(anyhow::anyhow!(
            "{shown}: is a folder, not a configuration file"
        )));
    }
    if !path.exists() {
        return Err(usage(anyhow::anyhow!(
            "{shown}: no such configuration file"
        )));
    }
    std::fs::read(path)
        .map(drop)
        .map_err(|e| usage(anyhow::anyhow!("{shown}: cannot read: {e}")))
}

/// Benchmarks.
#[derive(Debug, Subcommand)]
enum Bench {
    /// The reference compositing scene: a 1920x1080 canvas, a full-canvas opaque input and three
    /// 640x360 inputs at opacity 0.8, each input delivering a new frame in system memory for
    /// every output frame, the output read back to system memory; as fast as possible.
    Compositor(compositor::CompositorArgs),
    /// A 720p30 H.264/AAC file streamed in real time to 1, 3 and 5 destinations on a local
    /// nginx-rtmp: CPU seconds and peak memory beside the FFmpeg tee command and PyLivestream
    /// (../shared/peers), each run checked for what every destination received.
    Stream(stream::StreamArgs),
    /// The reference scene on a Studio, recorded and streamed to 3 local nginx-rtmp
    /// destinations, beside the same scene and outputs wired directly with the library types
    /// in the same run: CPU time per encoded frame, and the command-to-frame latency (a layer
    /// change until the first frame out that shows it) p50/p99.
    Studio(studio::StudioArgs),
    /// The reference scene on a studio served over HTTP (recorded, streamed to 3 local
    /// nginx-rtmp destinations) under 200 mixed API requests a second: API latency p50/p99,
    /// frames the outputs lost with and without the load, and the MJPEG preview's CPU.
    Control(control::ControlArgs),
    /// Glass-to-player latency: a source stamps each frame with its capture time; the frames go
    /// through the compositor, the encoder and the streamer to a local nginx-rtmp (and over SRT
    /// to a local listener) and are read back by the ffmpeg CLI, which decodes the stamp.
    /// p50/p95 with the default and the low-latency (zerolatency, 1 s GOP) settings, beside the
    /// ffmpeg CLI encoding the same frames.
    Latency(latency::LatencyArgs),
    /// A show left running: test sources, a looping file and a looping playlist on a 720p30
    /// studio, recorded and streamed to 3 local destinations, one of whose server restarts
    /// every 2 minutes; resident memory, threads and descriptors sampled every 10 s; memory
    /// growth, the recording's A/V drift and what was dropped at the end.
    Soak(soak::SoakArgs),
    /// A 720p30 canvas of a `livekit studio` (stamped frames shared with it) watched in headless
    /// Chromium: glass-to-browser latency over WHEP (p50/p95), the studio's CPU with 10 WHEP
    /// viewers against 1 (alternating runs), and latency over HLS with 1 s segments (hls.js);
    /// each beside its goal (there is no reference tool for these).
    Webrtc(webrtc::WebRtcArgs),
    /// Decode a media file as fast as possible (video to frames, audio to 48 kHz stereo), beside
    /// `ffmpeg -benchmark -i FILE -f null -` on the same file.
    Decode(decode::DecodeArgs),
    /// 1920x1080 frames from a writer process to a reader process through shared memory
    /// (IpcTarget -> IpcSource): frames a second as fast as possible, latency (median, p99),
    /// beside GStreamer's shmsink -> shmsrc in the same run.
    #[cfg(target_os = "linux")]
    Ipc(ipc::IpcArgs),
    /// The performance report: reads the figures the benchmarks wrote with `--json FILE` (every
    /// `*.json` of a folder) and writes `report.md` (medians with their min-max spread, our
    /// figures beside the reference tools', the machine and the date of each) and its charts
    /// as PNG. `./dev bench` runs every benchmark and then this.
    Report(report::ReportArgs),
}

fn main() -> ExitCode {
    // SAFETY: first thing in main, before any other thread exists. (Run through `livekit
    // bench`, `livekit` has already done it.)
    unsafe { livekit_cli::quiet_graphics_stack() };
    let cli: Cli = match parse_arguments(std::env::args_os()) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    cli.verbosity.init_logging();
    if let Some(path) = &cli.config
        && let Err(error) = check_config(path)
    {
        return exit_code(Err(error));
    }
    // FFmpeg's own log can hold URLs with stream keys: route it through tracing, scrubbed.
    livekit_sinks::stream::route_ffmpeg_logs();
    let result = match &cli.bench {
        Bench::Compositor(args) => compositor::run(args),
        Bench::Stream(args) => stream::run(args),
        Bench::Decode(args) => decode::run(args),
        Bench::Studio(args) => studio::run(args),
        Bench::Control(args) => control::run(args),
        Bench::Latency(args) => latency::run(args),
        Bench::Soak(args) => soak::run(args),
        Bench::Webrtc(args) => webrtc::run(args),
        #[cfg(target_os = "linux")]
        Bench::Ipc(args) => ipc::run(args),
        Bench::Report(args) => report::run(args),
    };
    exit_code(result)
}
