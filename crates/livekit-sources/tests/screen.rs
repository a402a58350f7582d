//! Screen, region and window capture on private Xvfb servers started by each test. Windows
//! of known colours are made with x11rb (no window manager runs, so they sit where they are
//! put), captured through x11grab, and checked by pixel.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use livekit_core::convert::to_rgba;
use livekit_core::{FrameSource, Port, Pull, VideoFrame, VideoTarget};
use livekit_sources::capture::{
    CaptureEvent, OutputFormat, Region, ReopenSettings, ScreenCapture, ScreenSettings,
    StartCaptureError, VideoCapture, WindowCapture, WindowSelector, WindowSettings,
};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{self, ConnectionExt as _};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

const BLUE: u32 = 0x3366cc;
const RED: u32 = 0xff0000;
const GREEN: u32 = 0x00c000;

fn rgb(pixel: u32) -> [u8; 3] {
    [(pixel >> 16) as u8, (pixel >> 8) as u8, pixel as u8]
}

/// A private Xvfb, killed on drop.
struct Xvfb {
    display: String,
    child: Child,
}

impl Xvfb {
    fn start(width: u32, height: u32) -> Self {
        Self::start_on(None, width, height)
    }

    /// On display `number`, or on a free one that Xvfb picks itself (`-displayfd`).
    fn start_on(number: Option<u32>, width: u32, height: u32) -> Self {
        use std::io::BufRead as _;
        let mut command = Command::new("Xvfb");
        match number {
            Some(n) => command.arg(format!(":{n}")),
            None => command.args(["-displayfd", "1"]),
        };
        let mut child = command
            .args(["-screen", "0", &format!("{width}x{height}x24")])
            // -noreset: no server reset when the last client leaves (a probe connection would
            // otherwise make the next client see the server go away mid-handshake)
            .args(["-nolisten", "tcp", "-noreset"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb is not installed: run ./dev setup");
        let display = match number {
            Some(n) => format!(":{n}"),
            None => {
                let mut line = String::new();
                let stdout = child.stdout.take().unwrap();
                std::io::BufReader::new(stdout)
                    .read_line(&mut line)
                    .unwrap();
                format!(":{}", line.trim())
            }
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("Xvfb {display} exited: {status}");
            }
            if x11rb::connect(Some(&display)).is_ok() {
                return Self { display, child };
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("Xvfb {display} did not start");
    }

    fn connect(&self) -> RustConnection {
        x11rb::connect(Some(&self.display)).unwrap().0
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        self.kill();
    }
}

fn root(conn: &RustConnection) -> u32 {
    conn.setup().roots[0].root
}

fn paint_root(conn: &RustConnection, pixel: u32) {
    let root = root(conn);
    conn.change_window_attributes(
        root,
        &xproto::ChangeWindowAttributesAux::new().background_pixel(pixel),
    )
    .unwrap();
    conn.clear_area(false, root, 0, 0, 0, 0).unwrap();
    conn.sync().unwrap();
}

/// A mapped window of one colour with a title.
fn window(conn: &RustConnection, at: (i16, i16), size: (u16, u16), pixel: u32, title: &str) -> u32 {
    let id = conn.generate_id().unwrap();
    conn.create_window(
        x11rb::COPY_DEPTH_FROM_PARENT,
        id,
        root(conn),
        at.0,
        at.1,
        size.0,
        size.1,
        0,
        xproto::WindowClass::INPUT_OUTPUT,
        x11rb::COPY_FROM_PARENT,
        &xproto::CreateWindowAux::new().background_pixel(pixel),
    )
    .unwrap();
    conn.change_property8(
        xproto::PropMode::REPLACE,
        id,
        xproto::AtomEnum::WM_NAME,
        xproto::AtomEnum::STRING,
        title.as_bytes(),
    )
    .unwrap();
    conn.map_window(id).unwrap();
    conn.sync().unwrap();
    // Give the server a moment to paint the background.
    std::thread::sleep(Duration::from_millis(100));
    id
}

fn targets(port: &Port<VideoFrame>) -> Vec<Arc<dyn VideoTarget>> {
    vec![Arc::new(port.clone())]
}

fn next(port: &Port<VideoFrame>) -> VideoFrame {
    match port.next(Duration::from_secs(10)) {
        Pull::Frame(frame) => frame,
        other => panic!("no frame: {other:?}"),
    }
}

/// The newest frame after `settle` (skips frames captured before a change took effect).
fn fresh(port: &Port<VideoFrame>, settle: Duration) -> VideoFrame {
    std::thread::sleep(settle);
    while let Pull::Frame(_) = port.latest() {}
    next(port)
}

fn pixel(frame: &VideoFrame, x: u32, y: u32) -> [u8; 3] {
    let [r, g, b, _] = to_rgba(frame).rgba_at(x, y).unwrap();
    [r, g, b]
}

fn assert_close(got: [u8; 3], want: [u8; 3], tolerance: u8, what: &str) {
    assert!(
        got.iter()
            .zip(want)
            .all(|(&a, b)| a.abs_diff(b) <= tolerance),
        "{what}: got {got:?}, want {want:?}"
    );
}

fn settings(xvfb: &Xvfb) -> ScreenSettings {
    ScreenSettings {
        display: Some(xvfb.display.clone()),
        show_cursor: false,
        frame_rate: 20,
        ..Default::default()
    }
}

fn wait_event(capture: &VideoCapture, what: &str, matches: impl Fn(&CaptureEvent) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(event) = capture.events().recv_timeout(Duration::from_millis(100)) {
            if matches(&event) {
                return;
            }
            seen.push(event);
        }
    }
    panic!("no {what} event; saw {seen:?}");
}

#[test]
fn whole_screen_of_a_known_colour() {
    let xvfb = Xvfb::start(320, 240);
    let conn = xvfb.connect();
    paint_root(&conn, BLUE);
    for output in [OutputFormat::Bgra8, OutputFormat::Rgba8, OutputFormat::I420] {
        let port = Port::latest();
        let capture = ScreenCapture::start(
            ScreenSettings {
                output,
                ..settings(&xvfb)
            },
            targets(&port),
        )
        .unwrap();
        let frame = next(&port);
        assert_eq!((frame.width(), frame.height()), (320, 240));
        // BGRA/RGBA are copied as X11 gives them: exact. I420 goes through swscale.
        let tolerance = if output == OutputFormat::I420 { 4 } else { 0 };
        for (x, y) in [(0, 0), (160, 120), (319, 239)] {
            assert_close(
                pixel(&frame, x, y),
                rgb(BLUE),
                tolerance,
                &format!("{output:?}"),
            );
        }
        if output == OutputFormat::Bgra8 {
            assert_eq!(
                frame.row(0, 0)[..4],
                [0xcc, 0x66, 0x33, 255],
                "B, G, R, opaque"
            );
        }
        capture.stop().unwrap();
    }
}

#[test]
fn a_region_is_captured_from_its_origin() {
    let xvfb = Xvfb::start(320, 240);
    let conn = xvfb.connect();
    paint_root(&conn, BLUE);
    window(&conn, (40, 30), (100, 80), RED, "red");
    let port = Port::latest();
    let region = Region {
        x: 20,
        y: 10,
        width: 160,
        height: 120,
    };
    let capture = ScreenCapture::start(
        ScreenSettings {
            region: Some(region),
            ..settings(&xvfb)
        },
        targets(&port),
    )
    .unwrap();
    let frame = fresh(&port, Duration::from_millis(100));
    assert_eq!((frame.width(), frame.height()), (160, 120));
    // The red window spans x 40..140, y 30..110 of the screen: 20..120, 20..100 of the region.
    assert_close(pixel(&frame, 19, 19), rgb(BLUE), 0, "left of the window");
    assert_close(pixel(&frame, 20, 20), rgb(RED), 0, "window's top-left");
    assert_close(pixel(&frame, 119, 99), rgb(RED), 0, "window's bottom-right");
    assert_close(pixel(&frame, 120, 100), rgb(BLUE), 0, "past the window");
    assert!(
        capture.device().contains("region 160x120+20+10"),
        "{}",
        capture.device()
    );
    capture.stop().unwrap();
}

#[test]
fn a_region_outside_the_screen_is_refused() {
    let xvfb = Xvfb::start(320, 240);
    let port = Port::latest();
    let error = ScreenCapture::start(
        ScreenSettings {
            region: Some(Region {
                x: 300,
                y: 0,
                width: 100,
                height: 100,
            }),
            ..settings(&xvfb)
        },
        targets(&port),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "capture device {}: region 100x100 at (300, 0) does not fit the 320x240 screen",
            xvfb.display
        )
    );
    let error = ScreenCapture::start(
        ScreenSettings {
            display: Some(":199".into()),
            ..settings(&xvfb)
        },
        targets(&port),
    );
    // :199 is not running here (Xvfb's from these tests use :140 upwards and stop early).
    if let Err(error) = error {
        assert!(
            error.to_string().starts_with(
                "screen capture needs X11 (or XWayland): cannot connect to X display :199"
            ),
            "{error}"
        );
    }
}

#[test]
fn the_cursor_is_drawn_only_when_asked() {
    let xvfb = Xvfb::start(320, 240);
    let conn = xvfb.connect();
    paint_root(&conn, BLUE);
    conn.warp_pointer(x11rb::NONE, root(&conn), 0, 0, 0, 0, 100, 100)
        .unwrap();
    conn.sync().unwrap();
    let mut differing = Vec::new();
    for show_cursor in [false, true] {
        let port = Port::latest();
        let capture = ScreenCapture::start(
            ScreenSettings {
                show_cursor,
                ..settings(&xvfb)
            },
            targets(&port),
        )
        .unwrap();
        let frame = next(&port);
        capture.stop().unwrap();
        let mut count = 0;
        for y in 85..115 {
            for x in 85..115 {
                if pixel(&frame, x, y) != rgb(BLUE) {
                    count += 1;
                }
            }
        }
        differing.push(count);
    }
    assert_eq!(
        differing[0], 0,
        "cursor hidden: the patch is all background"
    );
    assert!(
        differing[1] > 10,
        "cursor shown: {} pixels differ",
        differing[1]
    );
}

#[test]
fn frames_come_at_the_asked_rate() {
    let xvfb = Xvfb::start(160, 120);
    let port = Port::drop_oldest(64);
    let capture = ScreenCapture::start(
        ScreenSettings {
            frame_rate: 10,
            ..settings(&xvfb)
        },
        targets(&port),
    )
    .unwrap();
    let start = Instant::now();
    let mut frames = Vec::new();
    while start.elapsed() < Duration::from_millis(1500) {
        if let Pull::Frame(frame) = port.next(Duration::from_millis(100)) {
            frames.push(frame);
        }
    }
    capture.stop().unwrap();
    let frames = &frames[2..];
    let span = frames.last().unwrap().pts() - frames[0].pts();
    let rate = (frames.len() - 1) as f64 / span.as_secs_f64();
    assert!((8.5..=11.5).contains(&rate), "{rate:.1} fps");
    assert!(frames.windows(2).all(|p| p[1].pts() > p[0].pts()));
}

#[test]
fn a_window_by_title_and_by_id_shows_its_own_content() {
    let xvfb = Xvfb::start(320, 240);
    let conn = xvfb.connect();
    paint_root(&conn, BLUE);
    let id = window(
        &conn,
        (50, 40),
        (120, 90),
        GREEN,
        "livekit green test window",
    );
    for selector in [
        WindowSelector::Title("green test".into()),
        WindowSelector::Id(id),
    ] {
        let port = Port::latest();
        let settings = WindowSettings {
            display: Some(xvfb.display.clone()),
            show_cursor: false,
            ..WindowSettings::new(selector.clone())
        };
        let capture = WindowCapture::start(settings, targets(&port)).unwrap();
        assert_eq!(
            capture.device(),
            format!("window 0x{id:x} on {}", xvfb.display)
        );
        let frame = next(&port);
        assert_eq!((frame.width(), frame.height()), (120, 90), "{selector}");
        for (x, y) in [(0, 0), (60, 45), (119, 89)] {
            assert_close(pixel(&frame, x, y), rgb(GREEN), 0, &selector.to_string());
        }
        capture.stop().unwrap();
    }
    let port = Port::latest();
    let error = WindowCapture::start(
        WindowSettings {
            display: Some(xvfb.display.clone()),
            ..WindowSettings::new(WindowSelector::Title("no such window".into()))
        },
        targets(&port),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "window titled 'no such window': not found on X display {}",
            xvfb.display
        )
    );
}

#[test]
fn a_window_resized_hidden_shown_and_closed_gives_events_not_a_crash() {
    let xvfb = Xvfb::start(320, 240);
    let conn = xvfb.connect();
    paint_root(&conn, BLUE);
    let id = window(&conn, (0, 0), (100, 60), RED, "changing");
    let port = Port::drop_oldest(4);
    let settings = WindowSettings {
        display: Some(xvfb.display.clone()),
        show_cursor: false,
        watch_interval: Duration::from_millis(100),
        ..WindowSettings::new(WindowSelector::Id(id))
    };
    let capture = WindowCapture::start(settings, targets(&port)).unwrap();
    assert_eq!(next(&port).width(), 100);

    conn.configure_window(
        id,
        &xproto::ConfigureWindowAux::new().width(200).height(150),
    )
    .unwrap();
    conn.sync().unwrap();
    wait_event(
        &capture,
        "resize",
        |e| matches!(e, CaptureEvent::WindowResized { window, width: 200, height: 150 } if *window == id),
    );
    let frame = fresh(&port, Duration::from_millis(300));
    assert_eq!((frame.width(), frame.height()), (200, 150));
    assert_close(pixel(&frame, 150, 120), rgb(RED), 0, "the grown part");

    conn.unmap_window(id).unwrap();
    conn.sync().unwrap();
    wait_event(&capture, "hidden", |e| {
        matches!(e, CaptureEvent::WindowHidden { .. })
    });
    conn.map_window(id).unwrap();
    conn.sync().unwrap();
    wait_event(&capture, "shown", |e| {
        matches!(e, CaptureEvent::WindowShown { .. })
    });
    let frame = fresh(&port, Duration::from_millis(300));
    assert_close(pixel(&frame, 10, 10), rgb(RED), 0, "shown again");

    conn.destroy_window(id).unwrap();
    conn.sync().unwrap();
    wait_event(&capture, "closed", |e| {
        matches!(e, CaptureEvent::WindowClosed { .. })
    });
    wait_event(
        &capture,
        "ended",
        |e| matches!(e, CaptureEvent::Ended { reason, .. } if reason.contains("was closed")),
    );
    // End-of-stream reached the port.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !port.next(Duration::from_millis(50)).is_ended() {
        assert!(Instant::now() < deadline, "no end of stream");
    }
    while !capture.is_finished() {
        assert!(Instant::now() < deadline, "the capture thread goes on");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_lost_display_is_reported_and_reopened() {
    // A fixed number well above the ones Xvfb picks for the other tests (from :0 up), so that
    // nobody takes it while it is down.
    let number = 150 + std::process::id() % 40;
    let mut xvfb = Xvfb::start_on(Some(number), 160, 120);
    let port = Port::drop_oldest(4);
    let capture = ScreenCapture::start(
        ScreenSettings {
            reopen: ReopenSettings {
                interval: Duration::from_millis(200),
                max_attempts: None,
                stall_timeout: Duration::from_millis(500),
            },
            ..settings(&xvfb)
        },
        targets(&port),
    )
    .unwrap();
    next(&port);
    xvfb.kill();
    wait_event(
        &capture,
        "error",
        |e| matches!(e, CaptureEvent::Error { device, .. } if *device == xvfb.display),
    );
    wait_event(&capture, "reopening", |e| {
        matches!(e, CaptureEvent::Reopening { .. })
    });
    // The "camera" is plugged back in.
    let again = Xvfb::start_on(Some(number), 160, 120);
    wait_event(&capture, "started again", |e| {
        matches!(e, CaptureEvent::Started { .. })
    });
    fresh(&port, Duration::from_millis(100));
    assert!(capture.stats().errors >= 1);
    capture.stop().unwrap();
    drop(again);
}

#[test]
fn no_x11_is_a_clear_error() {
    let port: Port<VideoFrame> = Port::latest();
    let error = ScreenCapture::start(
        ScreenSettings {
            display: Some(":198".into()),
            ..Default::default()
        },
        targets(&port),
    )
    .unwrap_err();
    // The display is reached first, so the error names it (not FFmpeg's "Input/output error").
    assert!(matches!(error, StartCaptureError::NoX11 { .. }), "{error}");
    assert!(
        error.to_string().starts_with(
            "screen capture needs X11 (or XWayland): cannot connect to X display :198"
        ),
        "{error}"
    );
    let error = WindowCapture::start(
        WindowSettings {
            display: Some(":198".into()),
            ..WindowSettings::new(WindowSelector::Id(1))
        },
        targets(&port),
    )
    .unwrap_err();
    assert!(
        error.to_string().starts_with(
            "screen capture needs X11 (or XWayland): cannot connect to X display :198"
        ),
        "{error}"
    );
}
