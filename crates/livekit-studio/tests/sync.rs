//! A/V sync through a studio: a file layer whose clip flashes and clicks at the same instants,
//! recorded; in the recording each flash and its click are within one frame interval.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use livekit_compositor::BackendChoice;
use livekit_studio::{Command, Studio, StudioSettings};
use livekit_testkit::media::ffmpeg;
use livekit_testkit::probe::{audio_samples, frame_colours, onsets, video_frame_times};

const FPS: f64 = 25.0;
const RATE: u32 = 48_000;

fn apply(studio: &Studio, json: &str) {
    studio
        .apply(Command::from_json(json).unwrap())
        .unwrap_or_else(|e| panic!("{json}: {e}"));
}

#[test]
fn a_flash_and_its_click_stay_within_one_frame_in_the_recording() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("flash.mp4");
    // 4 s at 25 fps: black, white for two frames from 0.52 s of each second (frames 13 and
    // 14); silence, a 10 ms 1 kHz click from 0.52 s of each second.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=black:s=160x90:r=25:d=4,drawbox=c=white:t=fill:enable='between(mod(n\\,25)\\,13\\,14)'",
        "-f",
        "lavfi",
        "-i",
        "aevalsrc='0.8*sin(2*PI*1000*t)*lt(mod(t+0.48\\,1)\\,0.01)':s=48000:d=4",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-ac",
        "2",
        clip.to_str().unwrap(),
    ]);
    let recording = dir.path().join("sync.mkv");
    let studio = Studio::start(StudioSettings {
        backend: BackendChoice::Cpu,
        frame_limit: Some(100),
        ..StudioSettings::default()
    })
    .unwrap();
    apply(
        &studio,
        r#"{"add_canvas": {"id": "main", "width": 160, "height": 90, "fps": 25}}"#,
    );
    let clip_json = serde_json::to_string(&clip).unwrap();
    apply(
        &studio,
        &format!(
            r#"{{"add_input": {{"id": "clip", "input": {{"kind": "file", "path": {clip_json}, "loop": true}}}}}}"#
        ),
    );
    apply(&studio, r#"{"add_layer": {"id": "full", "input": "clip"}}"#);
    let rec_json = serde_json::to_string(&recording).unwrap();
    apply(
        &studio,
        &format!(
            r#"{{"start_output": {{"id": "rec", "output": {{"kind": "record", "path": {rec_json}}}}}}}"#
        ),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !studio.is_idle() {
        assert!(Instant::now() < deadline, "the recording never finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    studio.stop();

    // Flashes: the first bright frame of each run, at its time in the file.
    let times = video_frame_times(&recording).unwrap();
    let colours = frame_colours(&recording, None).unwrap();
    assert_eq!(times.len(), colours.len());
    let flashes: Vec<f64> = onsets(colours.iter().map(|c| f32::from(c[0])), 128.0, 10)
        .into_iter()
        .map(|i| times[i])
        .collect();
    // Clicks: the first loud sample of each burst.
    let (start, samples) = audio_samples(&recording, RATE).unwrap();
    let clicks: Vec<f64> = onsets(samples.iter().map(|s| s.abs()), 0.2, RATE as usize / 2)
        .into_iter()
        .map(|i| start + i as f64 / f64::from(RATE))
        .collect();
    assert!(flashes.len() >= 3, "flashes at {flashes:?}");
    for flash in &flashes {
        let nearest = clicks
            .iter()
            .copied()
            .min_by(|a, b| (a - flash).abs().total_cmp(&(b - flash).abs()))
            .unwrap_or_else(|| panic!("no click at all; flashes at {flashes:?}"));
        assert!(
            (nearest - flash).abs() <= 1.0 / FPS + 1e-3,
            "a flash at {flash:.3} s, its click at {nearest:.3} s (flashes {flashes:?}, clicks {clicks:?})"
        );
    }
}
