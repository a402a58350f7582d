//! `livekit bench control`: the reference scene on a studio served by `livekit-control`,
//! recorded and streamed to 3 local nginx-rtmp destinations, under a steady load of mixed API
//! requests. Prints the API's latency (p50/p99), the frames the outputs dropped with and
//! without the load, and the CPU the MJPEG preview costs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use clap::Args;
use livekit_cli::{Failure, usage};
use livekit_compositor::BackendChoice;
use livekit_control::{ControlServer, ControlSettings};
use livekit_studio::{Command, Studio};
use livekit_testkit::NginxRtmp;

use crate::results::{Better, Results, save};
use crate::studio::{StudioArgs, scene_on_studio, spent, thread_cpu};

/// `livekit bench control` options.
#[derive(Debug, Args)]
pub struct ControlArgs {
    /// Seconds of load (and of each quiet phase around it).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(3..=3600))]
    seconds: u64,
    /// Requests a second, all clients together.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=5000))]
    rate: u32,
    /// Canvas size, WIDTHxHEIGHT (the reference scene needs at least 1880x400).
    #[arg(long, default_value = "1920x1080", value_parser = crate::studio::parse_size)]
    size: (u32, u32),
    /// Frames a second.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=120))]
    fps: u32,
    /// auto, gpu or cpu.
    #[arg(long, default_value = "auto")]
    backend: BackendChoice,
    /// Also write the figures to FILE as JSON (for `livekit-bench report`).
    #[arg(long, value_name = "FILE")]
    json: Option<std::path::PathBuf>,
}

/// Frames the studio's outputs have lost so far: skipped by the renderer, dropped on the way to
/// the encoder, and by each output.
fn frames_lost(studio: &Studio) -> u64 {
    let state = studio.state();
    let outputs: u64 = state.outputs.iter().map(|o| o.dropped_frames).sum();
    let encoder = studio
        .encoder_stats(livekit_studio::MAIN_CANVAS)
        .map_or(0, |(_, dropped)| dropped);
    state.stats.late_frames + outputs + encoder
}

/// One client's share of the load: requests at its pace, each one's latency.
fn client(
    base: &str,
    n: usize,
    interval: Duration,
    until: Instant,
    stop: &AtomicBool,
) -> (Vec<Duration>, u64) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut times = Vec::new();
    let mut errors = 0;
    let mut next = Instant::now();
    let mut i = n;
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now < next {
            std::thread::sleep(next - now);
        }
        next += interval;
        i += 1;
        // The mix: half reads (state, stats), half commands (move a layer, hide/show one,
        // switch scenes, and one refused).
        let started = Instant::now();
        let result = match i % 10 {
            0..=3 => agent.get(format!("{base}/api/state")).call(),
            4 => agent.get(format!("{base}/api/stats")).call(),
            5 | 6 => {
                let x = 40 + (i % 20) * 10;
                agent.post(format!("{base}/api/command")).send(format!(
                    r#"{{"update_layer": {{"id": "in1", "rect": [{x}, 40, 640, 360]}}}}"#
                ))
            }
            7 => agent.post(format!("{base}/api/command")).send(format!(
                r#"{{"update_layer": {{"id": "in2", "visible": {}}}}}"#,
                i % 20 < 10
            )),
            8 => agent.post(format!("{base}/api/command")).send(format!(
                r#"{{"update_layer": {{"id": "in3", "opacity": {}}}}}"#,
                0.5 + (i % 5) as f64 / 10.0
            )),
            _ => agent
                .post(format!("{base}/api/command"))
                .send(r#"{"update_layer": {"id": "nowhere", "visible": true}}"#),
        };
        match result {
            Ok(mut response) => {
                let _ = response.body_mut().read_to_vec();
                let expected = if i % 10 == 9 { 404 } else { 200 };
                if response.status().as_u16() != expected {
                    errors += 1;
                }
                times.push(started.elapsed());
            }
            Err(_) => errors += 1,
        }
    }
    (times, errors)
}

pub fn run(args: &ControlArgs) -> Result<(), Failure> {
    if args.size.0 < 1880 || args.size.1 < 400 {
        return Err(usage(anyhow!(
            "--size {}x{}: the reference scene's layers need at least 1880x400",
            args.size.0,
            args.size.1
        )));
    }
    let nginx = NginxRtmp::start();
    let dir = tempfile::tempdir()?;
    let scene = StudioArgs {
        seconds: args.seconds,
        size: args.size,
        fps: args.fps,
        backend: args.backend,
        pairs: 1,
        changes: 5,
        json: None,
    };
    let studio = Arc::new(scene_on_studio(&scene)?);
    let to: Vec<String> = (0..3)
        .map(|n| format!("{:?}", nginx.url(&format!("control-{n}"))))
        .collect();
    for json in [
        format!(
            r#"{{"start_output": {{"id": "stream", "output": {{"kind": "stream", "to": [{}]}}}}}}"#,
            to.join(", ")
        ),
        format!(
            r#"{{"start_output": {{"id": "record", "output": {{"kind": "record", "path": {:?}}}}}}}"#,
            dir.path().join("control.mkv").display().to_string()
        ),
    ] {
        studio
            .apply(Command::from_json(&json)?)
            .map_err(|e| anyhow!(e))?;
    }
    let server = ControlServer::start(
        studio.clone(),
        ControlSettings {
            listen: "127.0.0.1:0".parse()?,
            ..ControlSettings::default()
        },
    )
    .map_err(|e| anyhow!(e))?;
    let base = format!("http://{}", server.local_addr());
    println!(
        "reference scene {}x{} at {} fps on a studio, recorded (MKV) and streamed to 3 local nginx-rtmp destinations; {} s quiet, {} s at {} requests/s, {} s with one preview viewer",
        args.size.0, args.size.1, args.fps, args.seconds, args.seconds, args.rate, args.seconds
    );
    // Settle (encoder start, destinations connecting), then a quiet phase.
    std::thread::sleep(Duration::from_secs(3));
    let lost_before = frames_lost(&studio);
    std::thread::sleep(Duration::from_secs(args.seconds));
    let lost_quiet = frames_lost(&studio) - lost_before;

    // The load: 4 clients, each its share of the rate.
    let clients = 4usize;
    let interval = Duration::from_secs_f64(clients as f64 / f64::from(args.rate));
    let until = Instant::now() + Duration::from_secs(args.seconds);
    let stop = Arc::new(AtomicBool::new(false));
    let lost_before = frames_lost(&studio);
    let started = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|n| {
            let base = base.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(format!("bench.client.{n}"))
                .spawn(move || client(&base, n, interval, until, &stop))
        })
        .collect::<Result<_, _>>()?;
    let mut times = Vec::new();
    let mut errors = 0;
    for handle in handles {
        let (t, e) = handle
            .join()
            .map_err(|_| anyhow!("a client thread panicked"))?;
        times.extend(t);
        errors += e;
    }
    let elapsed = started.elapsed();
    let lost_loaded = frames_lost(&studio) - lost_before;
    times.sort();
    if times.is_empty() {
        return Err(Failure::Runtime(anyhow!("no request was answered")));
    }
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];

    // The preview: one viewer reading the MJPEG stream; the preview thread's CPU.
    let viewing = Arc::new(AtomicBool::new(true));
    let viewer = {
        let url = format!("{base}/api/canvases/main/preview.mjpeg");
        let viewing = viewing.clone();
        std::thread::Builder::new()
            .name("bench.viewer".into())
            .spawn(move || -> u64 {
                let Ok(mut response) = ureq::get(&url).call() else {
                    return 0;
                };
                let mut reader = response.body_mut().as_reader();
                let mut buffer = vec![0u8; 64 * 1024];
                let mut bytes = 0u64;
                while viewing.load(Ordering::Relaxed) {
                    match std::io::Read::read(&mut reader, &mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => bytes += n as u64,
                    }
                }
                bytes
            })?
    };
    std::thread::sleep(Duration::from_secs(1));
    let before = thread_cpu();
    std::thread::sleep(Duration::from_secs(args.seconds));
    let preview_cpu = spent(&before, &thread_cpu())
        .into_iter()
        .filter(|(name, _)| name == "livekit.preview")
        .map(|(_, time)| time)
        .sum::<Duration>();
    viewing.store(false, Ordering::Relaxed);
    server.stop();
    let viewed = viewer
        .join()
        .map_err(|_| anyhow!("the viewer thread panicked"))?;
    let studio = Arc::into_inner(studio).ok_or_else(|| anyhow!("the studio is still shared"))?;
    let report = studio.stop();
    if let Some(stream) = report.outputs.iter().find(|o| o.id == "stream")
        && stream.destinations.iter().any(|d| d.bytes == 0)
    {
        return Err(Failure::Runtime(anyhow!(
            "a destination received nothing: {stream:?}"
        )));
    }

    println!(
        "api: {} requests in {:.1} s ({:.0}/s, {} errors): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (goal p99 <= 20 ms)",
        times.len(),
        elapsed.as_secs_f64(),
        times.len() as f64 / elapsed.as_secs_f64(),
        errors,
        at(0.5).as_secs_f64() * 1000.0,
        at(0.99).as_secs_f64() * 1000.0,
        at(1.0).as_secs_f64() * 1000.0,
    );
    println!(
        "frames lost by the outputs: {lost_quiet} in the quiet {} s, {lost_loaded} under load (goal 0 more under load)",
        args.seconds
    );
    println!(
        "preview (at most 640x360, 10 a second, {:.1} MB sent): {:.1}% of one core (goal <= 10%)",
        viewed as f64 / 1e6,
        preview_cpu.as_secs_f64() * 100.0 / args.seconds as f64
    );
    save(args.json.as_deref(), || {
        let mut results = Results::new(
            "control",
            format!(
                "the reference scene {}x{} at {} fps on a studio served over HTTP, recorded and streamed to 3 local destinations; {} s quiet, {} s at {} requests/s, {} s with one MJPEG preview viewer",
                args.size.0,
                args.size.1,
                args.fps,
                args.seconds,
                args.seconds,
                args.rate,
                args.seconds
            ),
        );
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let lower = Better::Lower;
        results.add(
            "API latency p50 (goal p99 <= 20 ms)",
            "livekit",
            None,
            "ms",
            lower,
            ms(at(0.5)),
        );
        results.add(
            "API latency p99 (goal <= 20 ms)",
            "livekit",
            None,
            "ms",
            lower,
            ms(at(0.99)),
        );
        results.add(
            "API requests answered a second",
            "livekit",
            None,
            "/s",
            Better::Higher,
            times.len() as f64 / elapsed.as_secs_f64(),
        );
        results.add("API errors", "livekit", None, "", lower, errors as f64);
        results.add(
            "frames lost by the outputs, quiet",
            "livekit",
            None,
            "",
            lower,
            lost_quiet as f64,
        );
        results.add(
            "frames lost by the outputs, under load",
            "livekit",
            None,
            "",
            lower,
            lost_loaded as f64,
        );
        results.add(
            "MJPEG preview CPU (goal <= 10 % of a core)",
            "livekit",
            None,
            "% of a core",
            lower,
            preview_cpu.as_secs_f64() * 100.0 / args.seconds as f64,
        );
        results
    })?;
    Ok(())
}
