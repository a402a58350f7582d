#![allow(clippy::unwrap_used)]
//! URL input: play a live stream from a local nginx-rtmp that the ffmpeg CLI publishes into.

use std::process::{Command, Stdio};
use std::time::Duration;

use livekit_core::{AudioFrame, FrameSource, Port, Pull, VideoFrame};
use livekit_sources::{ControlError, PlayState, Player, PlayerSettings, probe};
use livekit_testkit::{ChildGuard, NginxRtmp};

#[test]
fn plays_a_live_rtmp_stream() {
    let server = NginxRtmp::start();
    let url = server.url("test");
    let publisher = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=s=320x240:r=25"])
        .args(["-f", "lavfi", "-i", "sine=f=440:r=44100"])
        .args([
            "-t",
            "20",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
        ])
        .args([
            "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv", &url,
        ])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut publisher = ChildGuard::new("ffmpeg publisher", publisher);
    // Let the publish start before playing it.
    std::thread::sleep(Duration::from_millis(1500));

    let info = probe(&url).unwrap();
    assert_eq!(info.name, format!("{}/<redacted>", server.app_url()));
    assert_eq!(info.display_size(), Some((320, 240)));
    assert_eq!(info.audio.as_ref().unwrap().codec, "aac");

    let player = Player::open(&url, PlayerSettings::default()).unwrap();
    assert_eq!(player.name(), format!("{}/<redacted>", server.app_url()));
    let video = Port::<VideoFrame>::blocking(64);
    let audio = Port::<AudioFrame>::drop_oldest(256);
    player.add_video_target(video.clone()).unwrap();
    player.add_audio_target(audio.clone()).unwrap();
    player.start().unwrap();
    let mut frames = Vec::new();
    while frames.len() < 25 {
        match video.next(Duration::from_secs(10)) {
            Pull::Frame(f) => frames.push(f),
            other => panic!("no video from {url}: {other:?}"),
        }
    }
    assert!(frames.iter().all(|f| (f.width(), f.height()) == (320, 240)));
    assert!(frames.windows(2).all(|w| w[1].pts() > w[0].pts()));
    let Pull::Frame(sound) = audio.next(Duration::from_secs(5)) else {
        panic!("no audio");
    };
    assert_eq!((sound.sample_rate(), sound.channels()), (48_000, 2));
    // Live streams cannot seek.
    assert!(matches!(
        player.seek(Duration::ZERO),
        Err(ControlError::NotSeekable { .. })
    ));
    player.stop().unwrap();
    assert_eq!(player.state(), PlayState::Stopped);
    publisher.stop();
}
