//! Workspace-level: a graph across crates, ImageFile -> Port -> PngWriter, through the facade.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::sync::Arc;
use std::time::Duration;

use image::{Rgba, RgbaImage};
use livekit::sinks::PngWriter;
use livekit::sources::{ImageFile, ImageSettings};
use livekit::{ManualClock, PipeEnd, Port, pipe};

#[test]
fn an_image_goes_through_a_port_into_png_files_with_alpha() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    let image = RgbaImage::from_fn(16, 8, |x, y| {
        Rgba([x as u8 * 16, y as u8 * 32, 7, (x * 16 + y) as u8])
    });
    image.save(&input).unwrap();

    let port = Port::blocking(2);
    let feed = pipe("graph-feed", ImageFile::open(&input).unwrap(), port.clone()).unwrap();
    let sink = pipe(
        "graph-sink",
        port,
        PngWriter::new(dir.path().join("out/{n}.png")),
    )
    .unwrap();
    assert_eq!(feed.join().unwrap().frames, 1);
    let report = sink.join().unwrap();
    assert!(matches!(report.end, PipeEnd::SourceEnded));
    assert_eq!(report.frames, 1);
    let written = image::open(dir.path().join("out/000000.png"))
        .unwrap()
        .into_rgba8();
    assert_eq!(written, image, "pixel for pixel, alpha included");
}

#[test]
fn an_animation_paced_by_a_manual_clock_writes_each_frame_once() {
    let dir = tempfile::tempdir().unwrap();
    let gif = dir.path().join("anim.gif");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=32x24:r=10",
            "-frames:v",
            "3",
        ])
        .arg(&gif)
        .status()
        .unwrap();
    assert!(status.success());
    let clock = ManualClock::new();
    let settings = ImageSettings {
        clock: Arc::new(clock.clone()),
        looping: false,
        ..ImageSettings::default()
    };
    let port = Port::blocking(1);
    let feed = pipe(
        "anim-feed",
        ImageFile::open_with(&gif, settings).unwrap(),
        port.clone(),
    )
    .unwrap();
    let writer = Arc::new(PngWriter::new(dir.path().join("f{n}.png")));
    let sink = pipe("anim-sink", port, writer.clone()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(writer.written(), 1, "only the first frame is due at t=0");
    for _ in 0..4 {
        clock.advance(Duration::from_millis(100));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(feed.join().unwrap().frames, 3);
    assert_eq!(sink.join().unwrap().frames, 3);
    assert_eq!(writer.written(), 3);
    assert!(dir.path().join("f000002.png").exists());
}

#[test]
fn sources_and_targets_work_as_trait_objects() {
    use livekit::{VideoFrame, VideoSource, VideoTarget};
    let source: Arc<dyn VideoSource> = Arc::new(
        ImageFile::from_memory(
            "logo.png",
            include_bytes!("../assets/logo.png"),
            ImageSettings::default(),
        )
        .unwrap(),
    );
    let port = Port::<VideoFrame>::latest();
    let target: Arc<dyn VideoTarget> = Arc::new(port.clone());
    let report = pipe("dyn-pipe", source, target).unwrap().join().unwrap();
    assert_eq!(report.frames, 1);
    let frame = livekit::FrameSource::latest(&port).frame().unwrap();
    assert_eq!(
        (frame.width(), frame.rgba_at(128, 10)),
        (256, Some([255, 140, 0, 255]))
    );
}
