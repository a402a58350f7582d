//! Compositor -> Encoder -> Streamer: one encode of a live scene sent to several RTMP, RTMPS or
//! SRT URLs at once.
//!
//! Each destination has its own thread, queue and connection, so a slow or dead one never holds
//! up the others. Without URLs, the example starts a local nginx-rtmp (from the test kit),
//! streams to two keys on it, and then prints what each one received, read back with ffprobe.
//! Stream keys are shown as `<redacted>` everywhere.
//!
//! ```sh
//! cargo run --example stream_multi -- [URL...] [--frames N] [--seconds N]
//! cargo run --example stream_multi -- rtmp://a.rtmp.youtube.com/live2/KEY srt://host:9000 --seconds 60
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Parser;
use livekit::compositor::{
    BackendChoice, CanvasSettings, Color, Compositor, Layer, OutputFormat, TestPattern, Text,
};
use livekit::sinks::stream::{Destination, DestinationState, Streamer, StreamerSettings};
use livekit::sinks::{Encoder, EncoderSettings, VideoSettings};
use livekit::{ColorSpace, FrameSource, FrameTarget, Port, Pull, SystemClock, VideoFrame, scrub};
use livekit_testkit::NginxRtmp;
use livekit_testkit::probe::ffprobe_count;

#[derive(Parser)]
struct Args {
    /// Where to stream: rtmp://host/app/KEY, rtmps://..., srt://host:port (default: two keys
    /// on a local nginx-rtmp started for the purpose).
    urls: Vec<String>,
    /// Frames to stream (default 150, 5 s).
    #[arg(long)]
    frames: Option<u64>,
    /// Seconds to stream.
    #[arg(long)]
    seconds: Option<f64>,
}

/// The local server's stream keys (they never appear in the output).
const LOCAL_KEYS: [&str; 2] = ["alpha-3f9c2e", "beta-7d1e4a"];

fn main() -> std::process::ExitCode {
    // Errors in one line, with their causes: `error: ...: ...`.
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let mut local = None;
    let urls = if args.urls.is_empty() {
        let nginx = NginxRtmp::start();
        println!(
            "no URL given: streaming to a local nginx-rtmp on 127.0.0.1:{}, two keys",
            nginx.port()
        );
        let urls = LOCAL_KEYS.iter().map(|key| nginx.url(key)).collect();
        local = Some(nginx);
        urls
    } else {
        args.urls.clone()
    };
    let destinations = urls
        .iter()
        .map(|url| Destination::from_url(url, None)) // rtmp://host/app/KEY: the key is split off
        .collect::<Result<Vec<_>, _>>()?;
    for destination in &destinations {
        println!("destination {}", destination.redacted_url()); // never the key
    }

    let mut compositor = Compositor::new(BackendChoice::Auto)?;
    let canvas = compositor.add_canvas(
        CanvasSettings::new(640, 360, 30).output(OutputFormat::I420(ColorSpace::BT709_LIMITED)),
    )?;
    compositor.add_layer(canvas, None, Layer::pattern(TestPattern::Smpte))?;
    compositor.add_layer(
        canvas,
        None,
        Layer::text(
            Text::new("livekit stream_multi")
                .size(28.0)
                .background(Color::rgba(0, 0, 0, 180)),
        )
        .rect(20.0, 20.0, 320.0, 44.0)
        .z(1),
    )?;
    let output = Arc::new(Port::<VideoFrame>::drop_oldest(8));
    compositor.add_target(canvas, "stream", output.clone())?;

    // One encode for every destination.
    let to_encoder = Arc::new(Port::<VideoFrame>::blocking(8));
    let encoder = Encoder::start(
        EncoderSettings {
            video: VideoSettings {
                width: 640,
                height: 360,
                tune: Some("zerolatency".into()),
                ..VideoSettings::default()
            },
            ..EncoderSettings::default()
        },
        to_encoder.clone(),
        None,
    )?;
    let streamer = Streamer::start(
        StreamerSettings::new(destinations),
        encoder.streams().to_vec(),
        encoder.packets(),
    )?;
    let running = compositor.start(Arc::new(SystemClock::new()))?;

    let started = Instant::now();
    let limit = args.seconds.map(Duration::from_secs_f64);
    let frames = args
        .frames
        .unwrap_or(if limit.is_some() { u64::MAX } else { 150 });
    let mut sent = 0;
    while sent < frames && limit.is_none_or(|l| started.elapsed() < l) {
        match output.next(Duration::from_secs(5)) {
            Pull::Frame(frame) => {
                to_encoder.push(frame)?;
                sent += 1;
            }
            other => bail!("no frame from the compositor: {other:?}"),
        }
    }
    to_encoder.end(); // the encoder flushes; the streamer sends what is queued and closes
    running.stop().map_err(|e| anyhow::anyhow!("{e}"))?;
    let encoded = encoder.wait()?;
    let report = streamer.wait();
    println!(
        "encoded {} frames once ({} bytes)",
        encoded.video_frames, encoded.bytes
    );
    for stats in &report.destinations {
        let state = match stats.state {
            DestinationState::Stopped if stats.bytes > 0 => "sent".to_owned(),
            state => format!("{state:?}"),
        };
        println!(
            "  {}: {state}, {} packets, {} bytes{}",
            stats.url,
            stats.packets,
            stats.bytes,
            stats
                .last_error
                .as_deref()
                .map(|e| format!(" (last error: {e})"))
                .unwrap_or_default()
        );
    }

    if let Some(mut nginx) = local {
        // nginx may still be reading what was sent (a busy machine): stopping it now would
        // cut its recordings short. Wait (at most 5 s) until they stop growing.
        let sizes = |nginx: &livekit_testkit::NginxRtmp| -> Vec<u64> {
            LOCAL_KEYS
                .iter()
                .flat_map(|key| nginx.recordings(key))
                .map(|path| std::fs::metadata(path).map_or(0, |m| m.len()))
                .collect()
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut last = sizes(&nginx);
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(300));
            let now = sizes(&nginx);
            if now == last && now.len() == LOCAL_KEYS.len() && now.iter().all(|&n| n > 13) {
                break;
            }
            last = now;
        }
        nginx.stop(); // closes the recordings
        println!("what nginx received (ffprobe):");
        for (index, key) in LOCAL_KEYS.iter().enumerate() {
            let Some(recording) = nginx.recordings(key).pop() else {
                bail!("nginx recorded nothing for destination {}", index + 1);
            };
            let probe = ffprobe_count(&recording).map_err(|e| anyhow::anyhow!(scrub(&e)))?;
            let Some(video) = probe.video() else {
                bail!("destination {}: no video stream arrived", index + 1);
            };
            println!(
                "  destination {}: {} {}x{}, {} frames, {:.2} s",
                index + 1,
                video.codec_name,
                video.width.unwrap_or(0),
                video.height.unwrap_or(0),
                video.nb_read_frames.unwrap_or(0.0),
                probe.duration()
            );
        }
    } else if report.destinations.iter().all(|d| d.bytes == 0) {
        bail!("no destination received the stream");
    }
    Ok(())
}
