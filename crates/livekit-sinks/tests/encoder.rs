//! The encoder on its own: what comes out of its packet port.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{VideoFeed, gradient, make_frame, sine_source, video_source};
use livekit_core::thread::spawn_named;
use livekit_core::{
    Codec, FrameSource, FrameTarget, Packet, PixelFormat, Port, Pull, StreamParams, VideoFrame,
};
use livekit_sinks::{Encoder, EncoderSettings, StartEncoderError, VideoSettings};

fn small() -> EncoderSettings {
    EncoderSettings {
        video: VideoSettings {
            width: 160,
            height: 120,
            preset: "ultrafast".into(),
            ..VideoSettings::default()
        },
        ..EncoderSettings::default()
    }
}

fn drain(port: &Port<Packet>) -> Vec<Packet> {
    let mut packets = Vec::new();
    loop {
        match port.next(Duration::from_secs(10)) {
            Pull::Frame(packet) => packets.push(packet),
            Pull::Pending => panic!("no packet for 10 s"),
            Pull::Ended => return packets,
        }
    }
}

fn seconds(ticks: i64, time_base: livekit_core::TimeBase) -> f64 {
    ticks as f64 * f64::from(time_base.num) / f64::from(time_base.den)
}

#[test]
fn packets_are_interleaved_with_a_keyframe_every_two_seconds() {
    let (video, feed) = video_source(VideoFeed {
        size_at: |_| (160, 120),
        ..gradient(150)
    });
    // 44.1 kHz mono in: resampled to the encoder's 48 kHz stereo.
    let (audio, audio_feed) = sine_source(5.0, 44_100, 1, 512);
    let encoder = Encoder::start(small(), video, Some(audio)).unwrap();
    assert_eq!(encoder.video_encoder(), "libx264");
    assert_eq!(encoder.fallback(), None);
    let streams = encoder.streams().to_vec();
    assert_eq!(streams.len(), 2);
    assert_eq!(streams[0].codec, Codec::H264);
    assert_eq!(
        streams[0].params,
        StreamParams::Video {
            width: 160,
            height: 120,
            frame_rate: (30, 1)
        }
    );
    // The default bit rate for 120p30 (scaled down from 240p's 300 kb/s, at least 100).
    assert_eq!(streams[0].bit_rate, 100_000);
    assert_eq!(streams[1].codec, Codec::Aac);
    assert_eq!(
        streams[1].params,
        StreamParams::Audio {
            sample_rate: 48_000,
            channels: 2,
            frame_size: 1024
        }
    );
    // Global headers: avcC (version 1, 4-byte NAL lengths, one SPS) and the
    // AudioSpecificConfig (AAC-LC, object type 2).
    let avcc = &streams[0].extradata;
    assert_eq!((avcc[0], avcc[4], avcc[5]), (1, 0xff, 0xe1));
    assert!(streams[1].extradata.len() >= 2);
    assert_eq!(streams[1].extradata[0] >> 3, 2);

    let packets = drain(&encoder.packets());
    let stats = encoder.wait().unwrap();
    feed.join().unwrap();
    audio_feed.join().unwrap();
    assert_eq!(stats.video_frames, 150);
    assert_eq!(stats.packets, packets.len() as u64);
    assert_eq!(
        stats.bytes,
        packets.iter().map(|p| p.data.len() as u64).sum::<u64>()
    );
    assert_eq!(stats.duration, Duration::from_secs(5));

    let video: Vec<&Packet> = packets.iter().filter(|p| p.stream == 0).collect();
    let audio: Vec<&Packet> = packets.iter().filter(|p| p.stream == 1).collect();
    assert_eq!(video.len(), 150);
    let keyframes: Vec<f64> = video
        .iter()
        .filter(|p| p.keyframe)
        .map(|p| seconds(p.pts, streams[0].time_base))
        .collect();
    assert_eq!(keyframes, [0.0, 2.0, 4.0]);
    // Length-prefixed NAL units that fill each packet exactly; every keyframe is an IDR
    // picture (NAL type 5: closed GOPs, where a viewer can join and a segmenter cut), and no
    // other packet is.
    for packet in &video {
        let mut at = 0;
        let mut idr = false;
        while at < packet.data.len() {
            let len = u32::from_be_bytes(packet.data[at..at + 4].try_into().unwrap()) as usize;
            idr |= packet.data[at + 4] & 0x1f == 5;
            at += 4 + len;
        }
        assert_eq!(at, packet.data.len());
        assert_eq!(idr, packet.keyframe, "packet at {}", packet.pts);
    }
    for stream in [&video, &audio] {
        assert!(stream.windows(2).all(|w| w[0].dts < w[1].dts));
        assert!(stream.iter().all(|p| p.duration > 0 && !p.data.is_empty()));
    }
    assert!(audio.iter().all(|p| p.keyframe));
    // Audio covers the video's five seconds (to within a frame of 1024 samples).
    let audio_end = audio
        .last()
        .map(|p| seconds(p.pts + p.duration, streams[1].time_base))
        .unwrap();
    assert!((audio_end - 5.0).abs() < 0.03, "audio ends at {audio_end}");
    // In decoding order across streams.
    let times: Vec<f64> = packets
        .iter()
        .map(|p| seconds(p.dts, streams[p.stream].time_base))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "packets out of order"
    );
}

#[test]
fn stop_ends_a_live_source_and_the_packet_port() {
    // A source that never ends by itself.
    let port = Port::<VideoFrame>::blocking(2);
    let writer = port.clone();
    let producer = spawn_named("endless", move || {
        let feed = gradient(u64::MAX);
        let mut seed = 1;
        let mut n = 0;
        while writer.push(make_frame(&feed, n, &mut seed)).is_ok() {
            n += 1;
        }
    })
    .unwrap();
    let encoder = Encoder::start(small(), Arc::new(port.clone()), None).unwrap();
    let packets = encoder.packets();
    let reader = spawn_named("reader", move || drain(&packets)).unwrap();
    while encoder.stats().video_frames < 20 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let stats = encoder.stop().unwrap();
    let packets = reader.join().unwrap();
    // Every frame taken was encoded and flushed out.
    assert_eq!(packets.len() as u64, stats.video_frames);
    port.close();
    producer.join().unwrap();
}

#[test]
fn settings_out_of_range_are_refused() {
    let start = |settings: EncoderSettings| {
        let (video, _feed) = video_source(gradient(1));
        Encoder::start(settings, video, None).unwrap_err()
    };
    let mut settings = small();
    settings.video.fps = (0, 1);
    assert_eq!(
        start(settings).to_string(),
        "encoder settings: frame rate 0/1 must be above 0"
    );
    let mut settings = small();
    settings.audio.channels = 6;
    assert_eq!(
        start(settings).to_string(),
        "encoder settings: audio channels 6 is out of range (1 or 2)"
    );
    let mut settings = small();
    settings.video.preset = "warp-speed".into();
    let error = start(settings);
    assert!(matches!(error, StartEncoderError::OpenVideo { .. }));
    assert_eq!(
        error.to_string(),
        "H.264 encoder libx264: cannot open at 160x120"
    );
}

#[test]
fn mixed_pixel_formats_and_colour_spaces_in_one_stream_all_encode() {
    let port = Port::<VideoFrame>::blocking(4);
    let writer = port.clone();
    let producer = spawn_named("mixed", move || {
        let mut seed = 1;
        for (n, format) in [
            PixelFormat::Rgba8,
            PixelFormat::Bgra8,
            PixelFormat::I420(livekit_core::ColorSpace::BT601_FULL),
            PixelFormat::Nv12(livekit_core::ColorSpace::BT709_FULL),
        ]
        .into_iter()
        .enumerate()
        {
            let feed = VideoFeed {
                format,
                ..gradient(4)
            };
            writer.push(make_frame(&feed, n as u64, &mut seed)).unwrap();
        }
        writer.end();
    })
    .unwrap();
    let encoder = Encoder::start(small(), Arc::new(port), None).unwrap();
    let packets = drain(&encoder.packets());
    let stats = encoder.wait().unwrap();
    producer.join().unwrap();
    assert_eq!((stats.video_frames, stats.skipped_frames), (4, 0));
    assert_eq!(packets.len(), 4);
}

#[test]
fn zerolatency_baseline_has_no_reordering() {
    let (video, feed) = video_source(VideoFeed {
        size_at: |_| (160, 120),
        ..gradient(30)
    });
    let mut settings = small();
    settings.video.tune = Some("zerolatency".into());
    settings.video.profile = Some("baseline".into());
    let encoder = Encoder::start(settings, video, None).unwrap();
    // avcC byte 1 is the SPS's profile_idc: 66 is baseline.
    assert_eq!(encoder.streams()[0].extradata[1], 66);
    let packets = drain(&encoder.packets());
    encoder.wait().unwrap();
    feed.join().unwrap();
    assert_eq!(packets.len(), 30);
    // No B-frames, no lookahead: decoding order is presentation order.
    assert!(packets.iter().all(|p| p.pts == p.dts));
    assert_eq!(packets[0].pts, 0);
}

/// VP8 (for WebRTC peers without H.264): every frame a packet in order, a keyframe at the
/// interval (each starting with VP8's key-frame start code), and a frame VP8 decodes.
#[test]
fn vp8_packets_come_in_order_with_keyframes_at_the_interval() {
    let (video, feed) = video_source(VideoFeed {
        size_at: |_| (160, 120),
        ..gradient(90)
    });
    let mut settings = small();
    settings.video.codec = livekit_sinks::VideoCodec::Vp8;
    settings.video.keyframe_interval = Duration::from_secs(1);
    let encoder = Encoder::start(settings, video, None).unwrap();
    assert_eq!(encoder.video_encoder(), "libvpx");
    let streams = encoder.streams().to_vec();
    assert_eq!(streams[0].codec.name(), "vp8");
    let packets = drain(&encoder.packets());
    encoder.wait().unwrap();
    feed.join().unwrap();
    assert_eq!(packets.len(), 90);
    assert!(packets.iter().all(|p| p.pts == p.dts && !p.data.is_empty()));
    let keyframes: Vec<f64> = packets
        .iter()
        .filter(|p| p.keyframe)
        .map(|p| seconds(p.pts, streams[0].time_base))
        .collect();
    assert_eq!(keyframes, [0.0, 1.0, 2.0]);
    for packet in &packets {
        // The frame tag's first bit is 0 for a key frame, which carries the start code
        // 9d 01 2a after the 3-byte tag.
        let key = packet.data[0] & 1 == 0;
        assert_eq!(key, packet.keyframe, "packet at {}", packet.pts);
        if key {
            assert_eq!(&packet.data[3..6], [0x9d, 0x01, 0x2a]);
        }
    }
}
