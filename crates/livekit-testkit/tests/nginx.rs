#![allow(clippy::unwrap_used)]
//! The test kit's own check: a clip published to nginx-rtmp with the ffmpeg CLI is recorded, and
//! ffprobe reads the recording back; a restart keeps the port.

use livekit_testkit::NginxRtmp;
use livekit_testkit::media::{ClipSpec, clip, ffmpeg};
use livekit_testkit::probe::ffprobe;

#[test]
fn nginx_records_a_publish_and_restarts_on_the_same_port() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clip.flv");
    clip(
        &file,
        &ClipSpec {
            seconds: 1.0,
            ..ClipSpec::default()
        },
    );
    let mut server = NginxRtmp::start();
    let port = server.port();
    ffmpeg(&[
        "-i",
        file.to_str().unwrap(),
        "-c",
        "copy",
        "-f",
        "flv",
        &server.url("k1"),
    ]);
    server.stop();
    let recs = server.recordings("k1");
    assert_eq!(
        recs.len(),
        1,
        "recordings: {:?}\nlog:\n{}",
        server.all_recordings(),
        server.log()
    );
    let probe = ffprobe(&recs[0]).unwrap();
    assert_eq!(probe.video().unwrap().codec_name, "h264");
    assert_eq!(probe.video().unwrap().width, Some(320));
    assert_eq!(probe.audio().unwrap().codec_name, "aac");
    assert!(
        (probe.duration() - 1.0).abs() < 0.2,
        "duration {}",
        probe.duration()
    );
    server.restart();
    assert_eq!(server.port(), port);
    assert!(server.is_running());
    assert!(server.log().contains("k1"));
}
