//! Viewer: real windows on a private Xvfb, drawn by wgpu (lavapipe here), read back from the
//! X server's screen with ImageMagick's `import`.
//!
//! One Xvfb serves each test process (nextest runs every test in a process of its own), on a
//! display it picks itself. winit connects to the display once per process and Xlib ends the
//! process when that server goes away, so the server must outlive every test: a small shell
//! watcher kills it when this process ends (a `Drop` cannot, as the server lives in
//! a static). `DISPLAY` is process-wide, so every test holds `LOCK` while it runs.
//!
//! Windows open at (0, 0): no window manager runs.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use livekit_core::convert::to_rgba;
use livekit_core::{
    ColorSpace, FrameLayout, FrameTarget, PixelFormat, Port, PushError, VideoFrame, VideoFrameMut,
};
use livekit_sinks::{OpenViewerError, Viewer, ViewerSettings};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{self, ConnectionExt as _};

const SCREEN: (u32, u32) = (1280, 720);
const RED: [u8; 3] = [255, 0, 0];
const BLUE: [u8; 3] = [0, 0, 255];
const BLACK: [u8; 3] = [0, 0, 0];
/// Largest per-channel difference accepted. RGB frames come back exact on lavapipe; YUV is
/// converted in f32 on the GPU against the f32 reference in `livekit_core::convert` (off by at
/// most 1 on lavapipe).
const TOLERANCE: u8 = 2;
/// Generous: lavapipe on 2 cores compiles the pipeline on first use.
const TIMEOUT: Duration = Duration::from_secs(30);

static LOCK: Mutex<()> = Mutex::new(());

struct Xvfb {
    display: String,
    _runtime_dir: tempfile::TempDir,
    /// Never waited for: it outlives this process by the moment it takes to kill Xvfb.
    _watcher: std::process::Child,
    /// Where Xvfb said its display (kept open: Xvfb may write there again).
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

static XVFB: OnceLock<Xvfb> = OnceLock::new();

fn require(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found || Path::new(tool).is_file(),
        "{tool} is not installed: run ./dev setup (it installs xvfb, x11-utils, imagemagick and \
         mesa-vulkan-drivers)"
    );
}

fn start_xvfb() -> Xvfb {
    require("Xvfb");
    require("import");
    // Xvfb picks a free display itself and writes its number (`-displayfd`): each test runs in
    // a process of its own (nextest), and two of them scanning for a free display at once
    // could both take the same one, then lose it when the other process ended.
    // The watcher: runs Xvfb, and kills it when this test process is gone (or when told to
    // with SIGTERM).
    let script = r#"Xvfb -displayfd 1 -screen 0 1280x720x24 -nolisten tcp -noreset -br 2>/dev/null &
xvfb=$!
trap 'kill "$xvfb" 2>/dev/null; exit 1' TERM
while kill -0 "$1" 2>/dev/null && kill -0 "$xvfb" 2>/dev/null; do sleep 0.2; done
kill "$xvfb" 2>/dev/null"#;
    let mut watcher = Command::new("sh")
        .args(["-c", script, "xvfb-watcher"])
        .arg(std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut number = String::new();
    let mut stdout = std::io::BufReader::new(watcher.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut stdout, &mut number).unwrap();
    let number: u32 = number
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("Xvfb did not start (it said {number:?})"));
    let display = format!(":{number}");
    let runtime_dir = tempfile::tempdir().unwrap(); // mode 0700
    // SAFETY: set before any viewer exists, while LOCK is held by the only test running
    // viewer code; no other thread reads the environment now.
    unsafe {
        std::env::set_var("DISPLAY", &display);
        std::env::set_var("XDG_RUNTIME_DIR", runtime_dir.path());
        std::env::remove_var("WAYLAND_DISPLAY");
        std::env::remove_var("WAYLAND_SOCKET");
    }
    Xvfb {
        display,
        _runtime_dir: runtime_dir,
        _watcher: watcher,
        _stdout: stdout,
    }
}

/// Holds the test lock and makes sure Xvfb runs and DISPLAY names it.
fn session() -> (MutexGuard<'static, ()>, &'static str) {
    // Warnings and errors of the window thread (wgpu errors among them) show in the output;
    // RUST_LOG=livekit_sinks=debug shows more.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,winit=error".into()),
        )
        .try_init();
    let guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let xvfb = XVFB.get_or_init(start_xvfb);
    (guard, &xvfb.display)
}

fn settings(title: &str, width: u32, height: u32) -> ViewerSettings {
    ViewerSettings {
        title: title.into(),
        width,
        height,
        ..Default::default()
    }
}

/// The whole screen as packed RGB.
struct Screen(Vec<u8>);

impl Screen {
    fn grab(display: &str) -> Self {
        let output = Command::new("import")
            .args([
                "-display", display, "-window", "root", "-depth", "8", "rgb:-",
            ])
            .output()
            .unwrap();
        assert!(output.status.success(), "import failed: {output:?}");
        assert_eq!(output.stdout.len(), (SCREEN.0 * SCREEN.1 * 3) as usize);
        Self(output.stdout)
    }

    fn at(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * SCREEN.0 + x) * 3) as usize;
        [self.0[i], self.0[i + 1], self.0[i + 2]]
    }

    /// Writes the screen as a PNG next to the test binary's temp files; returns the path.
    fn save(&self, name: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("livekit-viewer-{name}.png"));
        let image = image::RgbImage::from_raw(SCREEN.0, SCREEN.1, self.0.clone()).unwrap();
        image.save(&path).unwrap();
        path
    }
}

fn close_to(actual: [u8; 3], expected: [u8; 3]) -> bool {
    actual
        .iter()
        .zip(expected)
        .all(|(a, e)| a.abs_diff(e) <= TOLERANCE)
}

/// Waits until every `(x, y, colour)` is on screen; on time-out saves the screen and fails.
fn expect_pixels(display: &str, name: &str, points: &[(u32, u32, [u8; 3])]) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let screen = Screen::grab(display);
        let wrong: Vec<String> = points
            .iter()
            .filter(|&&(x, y, colour)| !close_to(screen.at(x, y), colour))
            .map(|&(x, y, colour)| {
                format!("({x}, {y}) is {:?}, expected {colour:?}", screen.at(x, y))
            })
            .collect();
        if wrong.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            let path = screen.save(name);
            panic!(
                "{name}: {} (screen saved to {})",
                wrong.join("; "),
                path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_shown(viewer: &Viewer, count: u64) {
    let deadline = Instant::now() + TIMEOUT;
    while viewer.stats().shown < count {
        assert!(
            Instant::now() < deadline,
            "frame not shown in time: {:?}",
            viewer.stats()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A `width` x `height` RGBA or BGRA frame: left half `left`, right half `right`, rows padded.
fn halves(
    width: u32,
    height: u32,
    format: PixelFormat,
    left: [u8; 3],
    right: [u8; 3],
) -> VideoFrame {
    let layout = FrameLayout::with_alignment(width, height, format, 256).unwrap();
    let mut frame = VideoFrameMut::new(layout, Duration::ZERO);
    for y in 0..height as usize {
        for (x, pixel) in frame.row_mut(0, y).chunks_exact_mut(4).enumerate() {
            let [r, g, b] = if (x as u32) < width / 2 { left } else { right };
            let bytes = if format == PixelFormat::Bgra8 {
                [b, g, r, 255]
            } else {
                [r, g, b, 255]
            };
            pixel.copy_from_slice(&bytes);
        }
    }
    frame.freeze()
}

/// A YUV frame (I420 or NV12): left half `left`, right half `right` (Y, U, V samples).
fn yuv_halves(
    width: u32,
    height: u32,
    format: PixelFormat,
    left: [u8; 3],
    right: [u8; 3],
) -> VideoFrame {
    let layout = FrameLayout::with_alignment(width, height, format, 64).unwrap();
    let mut frame = VideoFrameMut::new(layout, Duration::ZERO);
    let pick = |x: u32, w: u32| if x < w / 2 { left } else { right };
    for y in 0..height as usize {
        for (x, luma) in frame.row_mut(0, y).iter_mut().enumerate() {
            *luma = pick(x as u32, width)[0];
        }
    }
    let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
    for y in 0..ch as usize {
        match format {
            PixelFormat::I420(_) => {
                for plane in 1..=2 {
                    for (x, sample) in frame.row_mut(plane, y).iter_mut().enumerate() {
                        *sample = pick(x as u32, cw)[plane];
                    }
                }
            }
            _ => {
                for (x, uv) in frame.row_mut(1, y).chunks_exact_mut(2).enumerate() {
                    let [_, u, v] = pick(x as u32, cw);
                    uv.copy_from_slice(&[u, v]);
                }
            }
        }
    }
    frame.freeze()
}

fn rgb_of(frame: &VideoFrame, x: u32, y: u32) -> [u8; 3] {
    let [r, g, b, _] = to_rgba(frame).rgba_at(x, y).unwrap();
    [r, g, b]
}

/// The top-level X window whose WM_NAME is `title`.
fn find_window(display: &str, title: &str) -> Option<xproto::Window> {
    let (conn, screen) = x11rb::connect(Some(display)).unwrap();
    let root = conn.setup().roots[screen].root;
    let tree = conn.query_tree(root).unwrap().reply().unwrap();
    tree.children.into_iter().find(|&window| {
        conn.get_property(
            false,
            window,
            xproto::AtomEnum::WM_NAME,
            xproto::AtomEnum::ANY,
            0,
            1024,
        )
        .unwrap()
        .reply()
        .is_ok_and(|reply| reply.value == title.as_bytes())
    })
}

/// What a window manager does when the user clicks the close button.
fn send_close_request(display: &str, window: xproto::Window) {
    let (conn, _) = x11rb::connect(Some(display)).unwrap();
    let atom = |name: &str| {
        conn.intern_atom(false, name.as_bytes())
            .unwrap()
            .reply()
            .unwrap()
            .atom
    };
    let event = xproto::ClientMessageEvent::new(
        32,
        window,
        atom("WM_PROTOCOLS"),
        [atom("WM_DELETE_WINDOW"), x11rb::CURRENT_TIME, 0, 0, 0],
    );
    conn.send_event(false, window, xproto::EventMask::NO_EVENT, event)
        .unwrap();
    // A round trip: the event is sent before this connection closes.
    conn.get_input_focus().unwrap().reply().unwrap();
}

/// What a user dragging the window's border does.
fn resize_window(display: &str, window: xproto::Window, width: u32, height: u32) {
    let (conn, _) = x11rb::connect(Some(display)).unwrap();
    let aux = xproto::ConfigureWindowAux::new()
        .width(width)
        .height(height);
    conn.configure_window(window, &aux).unwrap();
    // A round trip: the request is done before this connection closes.
    let geometry = conn.get_geometry(window).unwrap().reply().unwrap();
    assert_eq!(
        (u32::from(geometry.width), u32::from(geometry.height)),
        (width, height)
    );
}

#[test]
fn no_display_is_a_clear_error() {
    let _guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let saved: Vec<_> = ["DISPLAY", "WAYLAND_DISPLAY", "WAYLAND_SOCKET"]
        .into_iter()
        .map(|name| (name, std::env::var_os(name)))
        .collect();
    // SAFETY: LOCK is held; no viewer code runs meanwhile.
    unsafe {
        for (name, _) in &saved {
            std::env::remove_var(name);
        }
    }
    let result = Viewer::open(settings("no display", 320, 240));
    unsafe {
        for (name, value) in &saved {
            if let Some(value) = value {
                std::env::set_var(name, value);
            }
        }
    }
    let error = result.unwrap_err();
    assert!(matches!(error, OpenViewerError::NoDisplay), "{error:?}");
    assert_eq!(
        error.to_string(),
        "cannot open a preview window: no display (DISPLAY and WAYLAND_DISPLAY are not set)"
    );
}

#[test]
fn invalid_size_is_refused_before_any_window() {
    let (_guard, _display) = session();
    let error = Viewer::open(settings("zero", 0, 240)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot open a preview window: invalid size 0x240 (each side must be 1..=16384)"
    );
}

#[test]
fn rgb_frames_are_shown_in_place() {
    let (_guard, display) = session();
    let title = "livekit viewer rgb";
    let viewer = Viewer::open(settings(title, 320, 240)).unwrap();
    let window = find_window(display, title).expect("the window exists on the X server");

    viewer
        .push(halves(320, 240, PixelFormat::Rgba8, RED, BLUE))
        .unwrap();
    wait_shown(&viewer, 1);
    expect_pixels(
        display,
        "rgba",
        &[
            (10, 10, RED),
            (80, 120, RED),
            (240, 120, BLUE),
            (310, 230, BLUE),
        ],
    );

    // BGRA, swapped halves: new textures for the new format, same places.
    viewer
        .push(halves(320, 240, PixelFormat::Bgra8, BLUE, RED))
        .unwrap();
    wait_shown(&viewer, 2);
    expect_pixels(display, "bgra", &[(80, 120, BLUE), (240, 120, RED)]);

    // Resizing (what dragging the border does): the frame is scaled to the new size.
    resize_window(display, window, 640, 480);
    expect_pixels(
        display,
        "resized",
        &[(160, 240, BLUE), (480, 240, RED), (630, 470, RED)],
    );
    assert!(!viewer.is_closed());
    drop(viewer);
    assert!(
        find_window(display, title).is_none(),
        "drop takes the window down"
    );
}

#[test]
fn letterbox_bars_are_black() {
    let (_guard, display) = session();
    let title = "livekit viewer letterbox";
    let viewer = Viewer::open(settings(title, 240, 240)).unwrap();
    // 2:1 into 1:1: the picture is 240x120 at y = 60; bars above and below.
    viewer
        .push(halves(480, 240, PixelFormat::Rgba8, RED, BLUE))
        .unwrap();
    wait_shown(&viewer, 1);
    expect_pixels(
        display,
        "letterbox",
        &[
            (120, 5, BLACK),
            (120, 55, BLACK),
            (60, 65, RED),
            (180, 120, BLUE),
            (60, 175, RED),
            (120, 185, BLACK),
            (120, 235, BLACK),
        ],
    );
    // 1:2 into a 400x300 window: 150x300 at x = 125; bars left and right.
    let window = find_window(display, title).unwrap();
    resize_window(display, window, 400, 300);
    viewer
        .push(halves(100, 200, PixelFormat::Rgba8, RED, BLUE))
        .unwrap();
    wait_shown(&viewer, 2);
    expect_pixels(
        display,
        "pillarbox",
        &[
            (5, 150, BLACK),
            (120, 150, BLACK),
            (130, 150, RED),
            (270, 150, BLUE),
            (280, 150, BLACK),
            (395, 150, BLACK),
        ],
    );
}

#[test]
fn yuv_frames_are_converted_with_their_colour_space() {
    let (_guard, display) = session();
    let viewer = Viewer::open(settings("livekit viewer yuv", 320, 240)).unwrap();
    let cases = [
        // (format, left YUV, right YUV)
        (
            PixelFormat::I420(ColorSpace::BT709_LIMITED),
            [120, 80, 170],
            [81, 90, 240],
        ),
        (
            PixelFormat::I420(ColorSpace::BT601_FULL),
            [200, 30, 60],
            [60, 200, 100],
        ),
        (
            PixelFormat::Nv12(ColorSpace::BT601_LIMITED),
            [81, 90, 240],
            [145, 54, 34],
        ),
        (
            PixelFormat::Nv12(ColorSpace::BT709_FULL),
            [100, 160, 90],
            [220, 110, 140],
        ),
    ];
    for (shown, (format, left, right)) in (1..).zip(cases) {
        let frame = yuv_halves(320, 240, format, left, right);
        let (expected_left, expected_right) = (rgb_of(&frame, 80, 120), rgb_of(&frame, 240, 120));
        assert_ne!(expected_left, expected_right);
        viewer.push(frame).unwrap();
        wait_shown(&viewer, shown);
        expect_pixels(
            display,
            &format!("{format}").replace([' ', '(', ')', ','], ""),
            &[
                (80, 120, expected_left),
                (20, 20, expected_left),
                (240, 120, expected_right),
                (300, 220, expected_right),
            ],
        );
    }
}

#[test]
fn closing_tells_the_caller() {
    let (_guard, display) = session();

    // close(): the window goes at once and pushes fail.
    let viewer = Viewer::open(settings("livekit viewer close", 320, 240)).unwrap();
    viewer
        .push(halves(320, 240, PixelFormat::Rgba8, RED, BLUE))
        .unwrap();
    wait_shown(&viewer, 1);
    viewer.close();
    assert!(viewer.is_closed());
    assert!(viewer.wait_closed(Duration::ZERO));
    assert!(matches!(
        viewer.push(halves(320, 240, PixelFormat::Rgba8, RED, BLUE)),
        Err(PushError::Closed)
    ));
    assert!(find_window(display, "livekit viewer close").is_none());
    viewer.close(); // twice is fine

    // end() (end of stream into the viewer as a target) closes it too.
    let viewer = Viewer::open(settings("livekit viewer end", 320, 240)).unwrap();
    viewer.end();
    assert!(viewer.is_closed());
    assert!(matches!(
        viewer.push(halves(8, 8, PixelFormat::Rgba8, RED, BLUE)),
        Err(PushError::Closed)
    ));

    // The user closes the window: the caller is told.
    let title = "livekit viewer user close";
    let viewer = Viewer::open(settings(title, 320, 240)).unwrap();
    viewer
        .push(halves(320, 240, PixelFormat::Rgba8, RED, BLUE))
        .unwrap();
    wait_shown(&viewer, 1);
    assert!(!viewer.wait_closed(Duration::from_millis(100)));
    send_close_request(display, find_window(display, title).unwrap());
    assert!(
        viewer.wait_closed(TIMEOUT),
        "the close request reached the viewer"
    );
    assert!(matches!(
        viewer.push(halves(320, 240, PixelFormat::Rgba8, RED, BLUE)),
        Err(PushError::Closed)
    ));
    assert!(find_window(display, title).is_none());

    // And a new viewer opens after all that (one event loop serves the process).
    let viewer = Viewer::open(settings("livekit viewer again", 320, 240)).unwrap();
    viewer
        .push(halves(320, 240, PixelFormat::Rgba8, BLUE, RED))
        .unwrap();
    wait_shown(&viewer, 1);
    expect_pixels(display, "again", &[(80, 120, BLUE), (240, 120, RED)]);
}

#[test]
fn show_feeds_a_source_and_keeps_the_last_frame() {
    let (_guard, display) = session();
    let port = Port::<VideoFrame>::blocking(4);
    let title = "livekit viewer show";
    let viewer = Viewer::show(port.clone(), settings(title, 320, 240)).unwrap();
    port.push(halves(320, 240, PixelFormat::Rgba8, RED, RED))
        .unwrap();
    port.push(halves(320, 240, PixelFormat::Rgba8, BLUE, RED))
        .unwrap();
    port.end();
    // The newest frame is what stays on screen after the source ended.
    expect_pixels(display, "show", &[(80, 120, BLUE), (240, 120, RED)]);
    assert!(!viewer.is_closed());
    assert!(viewer.stats().pushed >= 1);
    viewer.close();
    assert!(find_window(display, title).is_none());
}

#[test]
fn the_shader_is_valid_wgsl() {
    let source = include_str!("../src/viewer/viewer.wgsl");
    let module = naga::front::wgsl::parse_str(source).unwrap();
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::empty(),
    )
    .validate(&module)
    .unwrap();
}
