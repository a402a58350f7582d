//! The control API over real HTTP and WebSocket against a running studio: every family of
//! calls, the errors (400/404/409/413 naming what is wrong), the token, the origin and host
//! checks, a scene switch asked over HTTP showing in the next frames of an IPC output, a
//! destination added over HTTP playing at a local nginx-rtmp while a recording stays whole,
//! and a late WebSocket client getting the state first.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use livekit_compositor::BackendChoice;
use livekit_control::{ControlServer, ControlSettings, StartControlError, Token};
use livekit_core::{FrameSource, Pull, VideoFrame};
use livekit_sources::{IpcSource, IpcSourceSettings};
use livekit_studio::{Studio, StudioSettings};
use livekit_testkit::NginxRtmp;
use livekit_testkit::probe::ffprobe;
use livekit_testkit::webrtc::whep_offer;
use serde_json::{Value, json};
use tungstenite::client::IntoClientRequest;

struct Served {
    studio: Arc<Studio>,
    server: Option<ControlServer>,
    agent: ureq::Agent,
    base: String,
    addr: SocketAddr,
}

impl Served {
    fn start(token: Option<&str>) -> Self {
        let studio = Arc::new(
            Studio::start(StudioSettings {
                backend: BackendChoice::Cpu,
                ..StudioSettings::default()
            })
            .unwrap(),
        );
        let settings = ControlSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            token: token.map(|t| Token::new(t).unwrap()),
            ..ControlSettings::default()
        };
        let server = ControlServer::start(studio.clone(), settings).unwrap();
        let addr = server.local_addr();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into();
        Self {
            studio,
            server: Some(server),
            agent,
            base: format!("http://{addr}"),
            addr,
        }
    }

    /// A show of two scenes: `one` all red, `two` all blue.
    fn with_scenes() -> Self {
        let served = Self::start(None);
        for command in [
            json!({"add_canvas": {"id": "main", "width": 160, "height": 90, "fps": 30}}),
            json!({"add_input": {"id": "red", "input": {"kind": "color", "color": "#ff0000"}}}),
            json!({"add_input": {"id": "blue", "input": {"kind": "color", "color": "#0000ff"}}}),
            json!({"add_scene": {"scene": "one"}}),
            json!({"add_scene": {"scene": "two"}}),
            json!({"add_layer": {"id": "r", "scene": "one", "input": "red"}}),
            json!({"add_layer": {"id": "b", "scene": "two", "input": "blue"}}),
            json!({"switch_scene": {"scene": "one"}}),
        ] {
            let (status, body) = served.command(&command);
            assert_eq!(status, 200, "{command}: {body}");
        }
        served
    }

    fn command(&self, command: &Value) -> (u16, Value) {
        self.post("/api/command", &command.to_string(), &[])
    }

    fn post(&self, path: &str, body: &str, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request.send(body).unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        let mut request = self.agent.get(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request.call().unwrap();
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(50 << 20)
            .read_to_string()
            .unwrap_or_default();
        (status, text)
    }

    fn get_bytes(&self, path: &str) -> (u16, Vec<u8>) {
        let mut response = self
            .agent
            .get(format!("{}{path}", self.base))
            .call()
            .unwrap();
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(50 << 20)
            .read_to_vec()
            .unwrap_or_default();
        (status, bytes)
    }

    fn state(&self) -> Value {
        let (status, text) = self.get("/api/state", &[]);
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).unwrap()
    }

    fn websocket(
        &self,
        headers: &[(&str, &str)],
    ) -> Result<
        tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
        tungstenite::Error,
    > {
        let mut request = format!("ws://{}/api/events", self.addr)
            .into_client_request()
            .unwrap();
        for (name, value) in headers {
            request.headers_mut().insert(
                tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let (socket, _) = tungstenite::connect(request)?;
        if let tungstenite::stream::MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
        }
        Ok(socket)
    }

    fn stop(self) -> livekit_studio::StudioReport {
        let Self { studio, server, .. } = self;
        server.unwrap().stop();
        Arc::into_inner(studio)
            .map(Studio::stop)
            .expect("the server let go of the studio")
    }
}

fn next_json(
    socket: &mut tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
) -> Value {
    loop {
        match socket.read().unwrap() {
            tungstenite::Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            tungstenite::Message::Close(_) => panic!("the socket closed"),
            _ => {}
        }
    }
}

fn next_plain(socket: &mut tungstenite::WebSocket<std::net::TcpStream>) -> Value {
    loop {
        match socket.read().unwrap() {
            tungstenite::Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            tungstenite::Message::Close(_) => panic!("the socket closed"),
            _ => {}
        }
    }
}

fn centre(frame: &VideoFrame) -> [u8; 3] {
    let rgba = livekit_core::convert::to_rgba(frame);
    let p = rgba.rgba_at(rgba.width() / 2, rgba.height() / 2).unwrap();
    [p[0], p[1], p[2]]
}

fn is_red(c: [u8; 3]) -> bool {
    c[0] > 200 && c[1] < 50 && c[2] < 50
}

fn is_blue(c: [u8; 3]) -> bool {
    c[2] > 200 && c[0] < 50 && c[1] < 50
}

#[test]
fn a_scene_switch_over_http_shows_in_the_next_frames_of_an_ipc_output() {
    let served = Served::with_scenes();
    let name = format!("lk-control-{}", std::process::id());
    let (status, body) = served.command(
        &json!({"start_output": {"id": "shared", "output": {"kind": "ipc", "name": name}}}),
    );
    assert_eq!(status, 200, "{body}");
    let source = IpcSource::open(&name, IpcSourceSettings::default()).unwrap();
    let next = || loop {
        match source.next(Duration::from_secs(5)) {
            Pull::Frame(frame) => return frame,
            Pull::Pending => continue,
            Pull::Ended => panic!("the IPC output ended"),
        }
    };
    // Red until the switch.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !is_red(centre(&next())) {
        assert!(Instant::now() < deadline, "the IPC output never showed red");
    }
    let (status, body) = served.command(&json!({"switch_scene": {"scene": "two"}}));
    assert_eq!((status, body), (200, json!({"applied": "switch_scene"})));
    // The frame being rendered as the command landed may still be red (and the IPC reader
    // gives the newest it has); every one after is blue.
    let colours: Vec<[u8; 3]> = (0..6).map(|_| centre(&next())).collect();
    assert!(
        colours[2..].iter().all(|&c| is_blue(c)),
        "frames after the switch: {colours:?}"
    );
    assert_eq!(served.state()["canvases"][0]["scene"], "two");
    served.stop();
}

#[test]
fn a_destination_added_over_http_plays_and_stopping_it_leaves_the_recording_whole() {
    let nginx = NginxRtmp::start();
    let dir = tempfile::tempdir().unwrap();
    let served = Served::with_scenes();
    let recording = dir.path().join("show.mkv");
    let (status, body) = served.command(&json!({"start_output": {"id": "rec", "output": {
        "kind": "record", "path": recording}}}));
    assert_eq!(status, 200, "{body}");
    let url = nginx.url("secretkey0123");
    let (status, body) = served.command(
        &json!({"start_output": {"id": "live", "output": {"kind": "stream", "to": [url]}}}),
    );
    assert_eq!(status, 200, "{body}");
    // Live at nginx, as the state says.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let state = served.state();
        let live = state["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["id"] == "live")
            .unwrap();
        if live["destinations"][0]["state"] == "live"
            && live["destinations"][0]["bytes"].as_u64() > Some(20_000)
        {
            break;
        }
        assert!(Instant::now() < deadline, "never live: {live}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The key is never read back: not in the state, the metrics, nor the events.
    for path in ["/api/state", "/metrics"] {
        let (status, text) = served.get(path, &[]);
        assert_eq!(status, 200);
        assert!(
            !text.contains("secretkey0123"),
            "{path} shows the key: {text}"
        );
        assert!(text.contains("live"), "{path}: {text}");
    }
    let (status, body) = served.command(&json!({"stop_output": {"id": "live"}}));
    assert_eq!(status, 200, "{body}");
    // The recording goes on after the stream stopped.
    std::thread::sleep(Duration::from_secs(2));
    let (status, body) = served.command(&json!({"stop_output": {"id": "live"}}));
    assert_eq!(status, 409, "stopping a stopped output: {body}");
    let report = served.stop();
    let rec = report.outputs.iter().find(|o| o.id == "rec").unwrap();
    assert!(rec.recording.as_ref().unwrap().result.is_ok());
    let received = nginx.recordings("secretkey0123");
    assert_eq!(received.len(), 1, "one publish: {received:?}");
    let streamed = ffprobe(&received[0]).unwrap();
    assert_eq!(streamed.video().unwrap().codec_name, "h264");
    assert!(streamed.duration() > 0.5, "{}", streamed.duration());
    let recorded = ffprobe(&recording).unwrap();
    assert!(
        recorded.duration() > streamed.duration() + 1.0,
        "the recording ({} s) outlasts the stream ({} s)",
        recorded.duration(),
        streamed.duration()
    );
}

/// The segments an HLS media playlist lists, with their durations.
fn hls_segments(playlist: &str) -> Vec<(String, f64)> {
    let mut segments = Vec::new();
    let mut duration = None;
    for line in playlist.lines() {
        if let Some(value) = line.strip_prefix("#EXTINF:") {
            duration = value.split(',').next().and_then(|v| v.parse().ok());
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            segments.push((line.trim().to_owned(), duration.take().unwrap_or(0.0)));
        }
    }
    segments
}

#[test]
fn an_hls_output_is_served_growing_and_plays_the_scene_switched_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::with_scenes();
    let folder = dir.path().join("hls");
    let (status, body) = served.command(&json!({"start_output": {"id": "web", "output": {
        "kind": "hls", "dir": folder, "window": 0, "segments": "ts"}}}));
    assert_eq!(status, 200, "{body}");
    let state = served.state();
    let web = state["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == "web")
        .unwrap();
    assert_eq!(web["output"]["kind"], "hls", "{web}");
    assert_eq!(web["output"]["dir"], folder.to_str().unwrap(), "{web}");

    // The playlist over HTTP, growing segment by segment.
    let playlist = |served: &Served| {
        let (status, text) = served.get("/hls/main/index.m3u8", &[]);
        (status == 200).then(|| hls_segments(&text))
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        if let Some(segments) = playlist(&served).filter(|s| s.len() >= 2) {
            break segments;
        }
        assert!(Instant::now() < deadline, "no two segments in 30 s");
        std::thread::sleep(Duration::from_millis(200));
    };
    let total = |segments: &[(String, f64)]| segments.iter().map(|s| s.1).sum::<f64>();
    for (name, duration) in &first {
        assert!(name.ends_with(".ts"), "{name}: MPEG-TS segments, as asked");
        assert!(
            (0.5..=2.5).contains(duration),
            "{name}: {duration} s (segments last one keyframe interval, 2 s)"
        );
        let (status, bytes) = served.get_bytes(&format!("/hls/main/{name}"));
        assert_eq!(status, 200, "{name}");
        assert!(bytes.len() > 100, "{name}: {} bytes", bytes.len());
    }
    let url = format!("{}/hls/main/index.m3u8", served.base);
    let live = ffprobe(std::path::Path::new(&url)).unwrap();
    assert_eq!(live.video().unwrap().codec_name, "h264");
    assert_eq!(live.audio().unwrap().codec_name, "aac");
    assert_eq!(live.video().unwrap().width, Some(160));

    // A scene switched over HTTP shows in the segments that follow.
    let (status, body) = served.command(&json!({"switch_scene": {"scene": "two"}}));
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let grown = loop {
        let segments = playlist(&served).unwrap();
        if segments.len() >= first.len() + 2 {
            break segments;
        }
        assert!(Instant::now() < deadline, "the playlist stopped growing");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(total(&grown) > total(&first) + 1.0, "{grown:?}");
    let (status, body) = served.command(&json!({"stop_output": {"id": "web"}}));
    assert_eq!(status, 200, "{body}");

    // Stopped: the playlist ends, and plays whole from the server: red, then blue.
    let (status, text) = served.get("/hls/main/index.m3u8", &[]);
    assert_eq!(status, 200);
    assert!(text.contains("#EXT-X-ENDLIST"), "{text}");
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:EVENT"), "{text}");
    let whole = ffprobe(std::path::Path::new(&url)).unwrap();
    let listed = total(&hls_segments(&text));
    assert!(
        (whole.duration() - listed).abs() < 0.5,
        "ffprobe reads {} s, the playlist lists {listed} s",
        whole.duration()
    );
    let colours = livekit_testkit::probe::frame_colours(std::path::Path::new(&url), None).unwrap();
    assert!(is_red(colours[0]), "first frame {:?}", colours[0]);
    assert!(
        is_blue(*colours.last().unwrap()),
        "last frame {:?}",
        colours.last()
    );

    // Names that are not ours, and canvases without HLS.
    let (status, text) = served.get("/hls/main/..%2F..%2Fetc%2Fpasswd", &[]);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("not a playlist or segment name"), "{text}");
    let (status, text) = served.get("/hls/main/notes.txt", &[]);
    assert_eq!(status, 400, "{text}");
    let (status, text) = served.get("/hls/other/index.m3u8", &[]);
    assert_eq!(status, 404, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["message"], "canvas \"other\" has no HLS output");
    let (status, text) = served.get("/hls/main/segment99999.m4s", &[]);
    assert_eq!(status, 404, "{text}");
    served.stop();
}

/// Posts a WHEP offer for canvas `main`: the status, the viewer's `Location` and the body.
fn post_whep(served: &Served) -> (u16, Option<String>, String) {
    let mut response = served
        .agent
        .post(format!("{}/whep/main", served.base))
        .header("Content-Type", "application/sdp")
        .send(whep_offer())
        .unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("Location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (
        status,
        location,
        response.body_mut().read_to_string().unwrap(),
    )
}

/// WHEP viewers joining and leaving in a loop (100 of them, beside one that stays) leave no
/// thread and no memory behind; when the last one leaves, the WebRTC encode ends too.
#[test]
fn a_hundred_whep_viewers_joining_and_leaving_leave_nothing_behind() {
    let served = Served::with_scenes();
    let post = |served: &Served| {
        let (status, location, answer) = post_whep(served);
        assert_eq!(status, 201, "{answer}");
        assert!(answer.contains("a=candidate:"), "{answer}");
        assert!(answer.contains("H264"), "{answer}");
        location.unwrap()
    };
    let delete = |served: &Served, location: &str| {
        let response = served
            .agent
            .delete(format!("{}{location}", served.base))
            .call()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "DELETE {location}");
    };
    // The WebRTC threads: each viewer's two (the encode's packets reach the viewers on the
    // thread that reads them for its streamer).
    let threads = || livekit_testkit::threads_named("livekit.whep");
    assert_eq!(threads(), 0);
    let events = served.studio.subscribe_with(4096);
    let stays = post(&served);
    let mut level = None;
    let mut memory = None;
    for round in 0..100 {
        let location = post(&served);
        delete(&served, &location);
        if round == 9 {
            level = Some(threads());
            memory = Some(livekit_testkit::resident_kib());
        }
    }
    let (level, memory) = (level.unwrap(), memory.unwrap());
    assert_eq!(
        threads(),
        level,
        "threads after 100 viewers, against after 10"
    );
    assert_eq!(level, 2, "one viewer's two threads");
    let grown = livekit_testkit::resident_kib().saturating_sub(memory);
    assert!(
        grown < 8 * 1024,
        "resident memory grew {grown} kB over 90 viewers"
    );
    let state = served.state();
    assert_eq!(
        state["canvases"][0]["viewers"].as_array().unwrap().len(),
        1,
        "{state}"
    );
    let (status, metrics) = served.get("/metrics", &[]);
    assert_eq!(status, 200);
    assert!(
        metrics.contains("livekit_whep_viewers{canvas=\"main\",state=\"connecting\"} 1"),
        "{metrics}"
    );
    delete(&served, &stays);
    let deadline = Instant::now() + Duration::from_secs(5);
    while threads() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} WebRTC threads left after the last viewer",
            threads()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Every viewer's coming and going was an event.
    let (mut joined, mut left) = (0, 0);
    while let Some(event) = events.next(Duration::from_millis(500)) {
        if let livekit_studio::Event::Viewer {
            canvas,
            change,
            reason,
            ..
        } = event
        {
            assert_eq!(canvas, "main");
            match change {
                livekit_studio::ViewerChange::Joined => joined += 1,
                livekit_studio::ViewerChange::Left => {
                    assert!(reason.unwrap().contains("DELETE"));
                    left += 1;
                }
            }
        }
    }
    assert_eq!((joined, left), (101, 101), "lost {}", events.lost());
    served.stop();
}

#[test]
fn a_late_websocket_client_gets_the_state_first_then_events() {
    let served = Served::with_scenes();
    let mut socket = served.websocket(&[]).unwrap();
    let first = next_json(&mut socket);
    assert_eq!(first["type"], "state", "{first}");
    assert_eq!(
        first["state"]["canvases"][0]["scenes"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(first["state"]["canvases"][0]["scene"], "one");
    let (status, _) = served.command(&json!({"switch_scene": {"scene": "two"}}));
    assert_eq!(status, 200);
    // The command and the switch, in order (stats may come between).
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < 2 && Instant::now() < deadline {
        let message = next_json(&mut socket);
        assert_eq!(message["type"], "event", "{message}");
        match message["event"].as_str().unwrap() {
            "stats" => assert!(message["fps"].is_number(), "{message}"),
            other => seen.push((other.to_owned(), message)),
        }
    }
    assert_eq!(seen[0].0, "command_applied");
    assert_eq!(seen[0].1["command"], "switch_scene");
    assert_eq!(seen[1].0, "scene_switched");
    assert_eq!(seen[1].1["scene"], "two");
    drop(socket);
    served.stop();
}

#[test]
fn refused_calls_answer_400_404_409_413_naming_what_is_wrong() {
    let served = Served::with_scenes();
    let before = served.state();
    let cases = [
        (
            "{\"add_layer\": {\"id\": 3}}",
            400,
            "malformed",
            "add_layer.id",
        ),
        ("{not json", 400, "malformed", "key must be a string"),
        ("{\"fly\": {}}", 400, "malformed", "unknown variant `fly`"),
        (
            "{\"add_canvas\": [\"x\", 64, 36]}",
            400,
            "malformed",
            "add_canvas: expected an object of fields",
        ),
        (
            "{\"update_layer\": {\"id\": \"nope\", \"visible\": false}}",
            404,
            "not_found",
            "nope",
        ),
        (
            "{\"switch_scene\": {\"scene\": \"nowhere\"}}",
            404,
            "not_found",
            "nowhere",
        ),
        (
            "{\"add_layer\": {\"id\": \"r\", \"input\": \"red\"}}",
            409,
            "conflict",
            "\"r\"",
        ),
        (
            "{\"pause_input\": {\"id\": \"red\"}}",
            409,
            "conflict",
            "red",
        ),
    ];
    for (body, status, kind, names) in cases {
        let (got, answer) = served.post("/api/command", body, &[]);
        assert_eq!(got, status, "{body}: {answer}");
        assert_eq!(answer["kind"], kind, "{body}: {answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains(names), "{body}: {message}");
        assert!(!message.contains('\n'), "one line: {message}");
    }
    let huge = format!(
        "{{\"add_input\": {{\"id\": \"t\", \"input\": {{\"kind\": \"text\", \"text\": \"{}\"}}}}}}",
        "x".repeat(100_000)
    );
    let (got, answer) = served.post("/api/command", &huge, &[]);
    assert_eq!(got, 413, "{answer}");
    assert_eq!(answer["kind"], "too_large");
    let (got, answer) = served.post("/api/nothing", "{}", &[]);
    assert_eq!(got, 404, "{answer}");
    // Nothing changed (but the count of commands and the statistics).
    let after = served.state();
    assert_eq!(before["canvases"], after["canvases"]);
    assert_eq!(before["inputs"], after["inputs"]);
    assert_eq!(before["commands_applied"], after["commands_applied"]);
    served.stop();
}

#[test]
fn other_origins_and_host_names_are_refused() {
    let served = Served::with_scenes();
    let switch = json!({"switch_scene": {"scene": "two"}}).to_string();
    let (status, answer) = served.post(
        "/api/command",
        &switch,
        &[("Origin", "http://evil.example")],
    );
    assert_eq!(status, 403, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("cross-origin"));
    // A page's own origin may.
    let own = format!("http://{}", served.addr);
    let (status, answer) = served.post("/api/command", &switch, &[("Origin", &own)]);
    assert_eq!(status, 200, "{answer}");
    // DNS rebinding: a name of the attacker's that resolves to 127.0.0.1.
    let (status, _) = served.get("/api/state", &[("Host", "evil.example")]);
    assert_eq!(status, 403);
    let (status, _) = served.get(
        "/api/state",
        &[("Host", &format!("localhost:{}", served.addr.port()))],
    );
    assert_eq!(status, 200);
    // The WebSocket checks the origin too.
    let refused = served.websocket(&[("Origin", "http://evil.example")]);
    match refused {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!(
            "a cross-origin WebSocket was not refused: {:?}",
            other.map(|_| ())
        ),
    }
    served.stop();
}

#[test]
fn a_token_is_needed_for_every_call_and_off_loopback() {
    // No token on an address other than loopback: refused before anything is served.
    let studio = Arc::new(
        Studio::start(StudioSettings {
            backend: BackendChoice::Cpu,
            ..StudioSettings::default()
        })
        .unwrap(),
    );
    let error = ControlServer::start(
        studio.clone(),
        ControlSettings {
            listen: "0.0.0.0:0".parse().unwrap(),
            ..ControlSettings::default()
        },
    )
    .unwrap_err();
    assert!(matches!(error, StartControlError::TokenNeeded(_)));
    assert_eq!(
        error.to_string(),
        "--listen 0.0.0.0:0: not a loopback address, so a token is needed (--token-file FILE or LIVEKIT_TOKEN)"
    );
    Arc::into_inner(studio).unwrap().stop();

    let token = "letmein-0123456789";
    let served = Served::start(Some(token));
    let canvas = json!({"add_canvas": {"id": "main", "width": 64, "height": 36}}).to_string();
    // (A wrong token makes the address wait 100 ms before its next one is looked at.)
    let pause = || std::thread::sleep(Duration::from_millis(150));
    for headers in [vec![], vec![("Authorization", "Bearer wrong-token-xyz")]] {
        let (status, answer) = served.post("/api/command", &canvas, &headers);
        assert_eq!(status, 401, "{answer}");
        pause();
        let (status, _) = served.get("/api/state", &headers);
        assert_eq!(status, 401);
        pause();
        let (status, _) = served.get("/metrics", &headers);
        assert_eq!(status, 401);
        pause();
        match served.websocket(&headers) {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
            other => panic!("a WebSocket without the token: {:?}", other.map(|_| ())),
        }
        pause();
    }
    let bearer = format!("Bearer {token}");
    let (status, answer) = served.post("/api/command", &canvas, &[("Authorization", &bearer)]);
    assert_eq!(status, 200, "{answer}");
    let mut socket = served.websocket(&[("Authorization", &bearer)]).unwrap();
    assert_eq!(next_json(&mut socket)["type"], "state");
    // The page's login: a wrong token is 401, the right one sets the cookie, which works.
    let (status, _) = served.post(
        "/api/login",
        &json!({"token": "nope-nope-nope"}).to_string(),
        &[],
    );
    assert_eq!(status, 401);
    pause();
    let mut response = served
        .agent
        .post(format!("{}/api/login", served.base))
        .header("Content-Type", "application/json")
        .send(json!({"token": token}).to_string())
        .unwrap();
    assert_eq!(response.status(), 204);
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let _ = response.body_mut().read_to_string();
    let pair = cookie.split(';').next().unwrap();
    let (status, _) = served.get("/api/state", &[("Cookie", pair)]);
    assert_eq!(status, 200);
    // Guessing is slow: after a wrong token, the same address is answered 429 for 100 ms
    // without its token being looked at (ten guesses a second at most), the login too.
    let started = Instant::now();
    let mut looked_at = 0;
    for n in 0..40 {
        let guess = format!("Bearer guess-{n:04}-abcdef");
        match served.get("/api/state", &[("Authorization", &guess)]).0 {
            401 => looked_at += 1,
            429 => {}
            other => panic!("a guess answered {other}"),
        }
    }
    let limit = started.elapsed().as_millis() / 100 + 1;
    assert!(
        looked_at <= limit,
        "{looked_at} guesses looked at in {:?}",
        started.elapsed()
    );
    assert!(looked_at < 40);
    let (status, _) = served.post(
        "/api/login",
        &json!({"token": "a-guess-1234"}).to_string(),
        &[],
    );
    assert!(status == 429 || status == 401, "{status}");
    // A moment later, the right token is let in.
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(
        served.get("/api/state", &[("Authorization", &bearer)]).0,
        200
    );
    // The page itself and the OpenAPI document hold no data: served to anyone.
    let (status, page) = served.get("/", &[]);
    assert_eq!(status, 200);
    assert!(page.contains("livekit studio"));
    let (status, _) = served.get("/openapi.json", &[]);
    assert_eq!(status, 200);
    drop(socket);
    served.stop();
}

#[test]
fn stats_metrics_preview_and_the_openapi_document() {
    let served = Served::with_scenes();
    // Statistics move once a second: wait (up to 10 s) until they show the show running.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, text) = served.get("/api/stats", &[]);
        assert_eq!(status, 200);
        let stats: Value = serde_json::from_str(&text).unwrap();
        if stats["fps"].as_f64().unwrap() > 5.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the frame rate stays low: {stats}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, metrics) = served.get("/metrics", &[]);
    assert_eq!(status, 200);
    for line in [
        "# TYPE livekit_fps gauge",
        "livekit_input_state{input=\"red\",kind=\"color\",state=\"live\"} 1",
        "livekit_commands_applied_total 8",
    ] {
        assert!(metrics.contains(line), "no {line:?} in:\n{metrics}");
    }
    // A snapshot: a JPEG of the live scene (red).
    let mut response = served
        .agent
        .get(format!("{}/api/canvases/main/snapshot.jpg", served.base))
        .call()
        .unwrap();
    assert_eq!(response.status(), 200);
    let jpeg = response.body_mut().read_to_vec().unwrap();
    let picture = image::load_from_memory(&jpeg).unwrap().to_rgb8();
    assert_eq!(picture.dimensions(), (160, 90));
    let p = picture.get_pixel(80, 45).0;
    assert!(is_red(p), "{p:?}");
    let (status, answer) = served.get("/api/canvases/nope/snapshot.jpg", &[]);
    assert_eq!(status, 404, "{answer}");
    // The MJPEG stream: parts of JPEG pictures.
    let mut response = served
        .agent
        .get(format!("{}/api/canvases/main/preview.mjpeg", served.base))
        .call()
        .unwrap();
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "multipart/x-mixed-replace; boundary=livekit-frame"
    );
    let mut reader = response.body_mut().as_reader();
    let mut head = vec![0u8; 4096];
    let mut got = 0;
    while got < head.len() {
        let n = std::io::Read::read(&mut reader, &mut head[got..]).unwrap();
        assert!(n > 0, "the preview stream ended");
        got += n;
    }
    let text = String::from_utf8_lossy(&head);
    assert!(
        text.starts_with("--livekit-frame\r\nContent-Type: image/jpeg\r\n"),
        "{text}"
    );
    drop(reader);
    // The OpenAPI document names every call, with the commands' schema.
    let (status, text) = served.get("/openapi.json", &[]);
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&text).unwrap();
    for path in [
        "/api/command",
        "/api/state",
        "/api/stats",
        "/api/events",
        "/api/canvases/{canvas}/preview.mjpeg",
        "/api/canvases/{canvas}/snapshot.jpg",
        "/api/login",
        "/api/scene",
        "/metrics",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    // The show as a scene file, which loads back.
    let (status, toml) = served.get("/api/scene", &[]);
    assert_eq!(status, 200);
    assert!(
        toml.contains("[canvas]") && toml.contains("#0000ff"),
        "{toml}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exported.toml");
    std::fs::write(&path, &toml).unwrap();
    let again = Studio::start(StudioSettings {
        backend: BackendChoice::Cpu,
        ..StudioSettings::default()
    })
    .unwrap();
    again.load_scene_file(&path).unwrap();
    let state = again.state();
    let scenes: Vec<&str> = state.canvases[0]
        .scenes
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(scenes, ["main", "one", "two"]);
    again.stop();
    let schemas = &doc["components"]["schemas"];
    for name in [
        "Command",
        "StudioState",
        "InputSpec",
        "OutputSpec",
        "LayerFields",
        "Stats",
    ] {
        assert!(schemas[name].is_object(), "schema {name} missing");
    }
    served.stop();
}

#[test]
fn a_websocket_client_that_does_not_read_loses_old_events_and_the_show_goes_on() {
    let served = Served::with_scenes();
    // A client whose socket holds little: what it does not read stays on the server's side.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&served.addr.into()).unwrap();
    let stream: std::net::TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!("ws://{}/api/events", served.addr)
        .into_client_request()
        .unwrap();
    let (mut slow, _) = tungstenite::client(request, stream).unwrap();
    assert_eq!(next_plain(&mut slow)["type"], "state");
    let frames_before = served.state()["stats"]["frames"].as_u64().unwrap();
    // Far more events than a client's queue keeps (each command is two: applied, switched),
    // while the slow client reads nothing.
    for n in 0..1500 {
        let scene = if n % 2 == 0 { "two" } else { "one" };
        let (status, body) = served.command(&json!({"switch_scene": {"scene": scene}}));
        assert_eq!(status, 200, "{body}");
    }
    // The show goes on meanwhile: 20 more frames within 10 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = served.state();
        if state["stats"]["frames"].as_u64().unwrap() > frames_before + 20 {
            break;
        }
        assert!(Instant::now() < deadline, "the show stalled: {state}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The client is told what it lost, then gets the newest events.
    let mut lost = 0;
    let mut events = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && (lost == 0 || events == 0) {
        let message = next_plain(&mut slow);
        match message["type"].as_str().unwrap() {
            "lost" => lost += message["count"].as_u64().unwrap(),
            "event" => events += 1,
            other => panic!("unexpected {other}: {message}"),
        }
    }
    assert!(lost > 0, "no loss reported ({events} events read)");
    let (status, metrics) = served.get("/metrics", &[]);
    assert_eq!(status, 200);
    let counted = metrics
        .lines()
        .find_map(|l| l.strip_prefix("livekit_control_events_lost_total "))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap();
    assert!(
        counted >= lost as f64,
        "metrics count {counted}, client saw {lost}"
    );
    drop(slow);
    served.stop();
}

/// A WebSocket frame is bounded like a message (64 KiB): a client announcing a frame of
/// 15 MiB is closed at the frame's header instead of having it buffered whole (eight such
/// clients made the server hold about 130 MB).
#[test]
fn a_websocket_frame_too_big_is_refused_before_it_is_read() {
    use std::io::Write;
    let served = Served::with_scenes();
    let chunk = vec![0u8; 1 << 20];
    let before = livekit_testkit::resident_kib();
    let mut sockets = Vec::new();
    for _ in 0..8 {
        let mut socket = served.websocket(&[]).unwrap();
        assert_eq!(next_json(&mut socket)["type"], "state");
        let tungstenite::stream::MaybeTlsStream::Plain(stream) = socket.get_mut() else {
            panic!("a plain connection");
        };
        // A masked binary frame of 15 MiB (mask key 0: the bytes as they are), sent in 1 MiB
        // pieces of one buffer (this process holds the server too: its memory is measured).
        let mut header = vec![0x82, 0xFF];
        header.extend_from_slice(&(15u64 << 20).to_be_bytes());
        header.extend_from_slice(&[0, 0, 0, 0]);
        let mut sent = stream.write_all(&header).is_ok();
        for _ in 0..15 {
            sent = sent && stream.write_all(&chunk).is_ok();
        }
        sockets.push((socket, sent));
    }
    std::thread::sleep(Duration::from_millis(500));
    let grown = livekit_testkit::resident_kib().saturating_sub(before);
    // Each connection was closed before the frame could be sent whole, and the server kept
    // none of it (with 16 MiB frames allowed: every frame sent, 32 MB more after 0.5 s).
    assert!(
        sockets.iter().all(|(_, sent)| !sent),
        "a 15 MiB frame was taken"
    );
    assert!(grown < 16 << 10, "the server grew by {grown} KiB");
    // The show goes on.
    assert_eq!(served.get("/api/state", &[]).0, 200);
    drop(sockets);
    served.stop();
}

/// WHEP viewers of a canvas are bounded (each holds a socket and two threads): past 256 an
/// offer is refused with 409 and why; when one leaves, the next is taken.
#[test]
fn whep_viewers_are_bounded() {
    let served = Served::with_scenes();
    let post = post_whep;
    let mut watching = Vec::new();
    for _ in 0..256 {
        let (status, location, answer) = post(&served);
        assert_eq!(status, 201, "{answer}");
        watching.push(location.unwrap());
    }
    let (status, _, refusal) = post(&served);
    assert_eq!(status, 409, "{refusal}");
    assert!(
        refusal.contains("256 viewers are watching already: no more are taken"),
        "{refusal}"
    );
    let response = served
        .agent
        .delete(format!("{}{}", served.base, watching[0]))
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(post(&served).0, 201);
    served.stop();
}

/// A client that starts a request and never finishes its headers does not hold a connection
/// for ever: it is closed after 10 s (it was still open, and answered, after 36 s).
#[test]
fn a_request_whose_headers_never_end_is_closed() {
    use std::io::{Read, Write};
    let served = Served::with_scenes();
    let mut stream = std::net::TcpStream::connect(served.addr).unwrap();
    stream
        .write_all(b"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let asked = Instant::now();
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    let waited = asked.elapsed();
    // Closed by the server (end of stream, perhaps after a 408), neither answered as a request
    // nor left open until this side's 20 s.
    assert!(read.is_ok(), "{read:?} after {waited:?}");
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(15),
        "closed after {waited:?}"
    );
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
    // Others are served meanwhile and after.
    assert_eq!(served.get("/api/state", &[]).0, 200);
    served.stop();
}
