//! Listing V4L2 cameras: `/dev/video*` nodes that capture video, with their formats, sizes and
//! frame rates, asked with the V4L2 enumeration ioctls (read-only queries; nothing is
//! configured). Opening and reading a camera goes through libavdevice (`device.rs`).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::camera::{CameraInfo, CameraMode, ListCamerasError};

const BUF_TYPE_VIDEO_CAPTURE: u32 = 1;
const CAP_VIDEO_CAPTURE: u32 = 0x0000_0001;
const CAP_DEVICE_CAPS: u32 = 0x8000_0000;
const FRMSIZE_TYPE_DISCRETE: u32 = 1;
const FRMIVAL_TYPE_DISCRETE: u32 = 1;
/// Enumeration stops here even if a driver keeps answering.
const MAX_ENTRIES: u32 = 256;

#[repr(C)]
struct Capability {
    driver: [u8; 16],
    card: [u8; 32],
    bus_info: [u8; 32],
    version: u32,
    capabilities: u32,
    device_caps: u32,
    reserved: [u32; 3],
}

#[repr(C)]
struct FmtDesc {
    index: u32,
    kind: u32,
    flags: u32,
    description: [u8; 32],
    pixelformat: u32,
    mbus_code: u32,
    reserved: [u32; 3],
}

#[repr(C)]
struct FrmSizeEnum {
    index: u32,
    pixel_format: u32,
    kind: u32,
    /// discrete: width, height; stepwise: min_w, max_w, step_w, min_h, max_h, step_h.
    size: [u32; 6],
    reserved: [u32; 2],
}

#[repr(C)]
struct FrmIvalEnum {
    index: u32,
    pixel_format: u32,
    width: u32,
    height: u32,
    kind: u32,
    /// discrete: numerator, denominator (seconds per frame); stepwise: min, max, step.
    interval: [u32; 6],
    reserved: [u32; 2],
}

/// `_IOC(dir, 'V', nr, size)` as Linux defines it on x86, ARM and RISC-V.
const fn ioc(dir: u64, nr: u64, size: usize) -> u64 {
    (dir << 30) | ((size as u64) << 16) | ((b'V' as u64) << 8) | nr
}
const READ: u64 = 2;
const READ_WRITE: u64 = 3;
const QUERYCAP: u64 = ioc(READ, 0, size_of::<Capability>());
const ENUM_FMT: u64 = ioc(READ_WRITE, 2, size_of::<FmtDesc>());
const ENUM_FRAMESIZES: u64 = ioc(READ_WRITE, 74, size_of::<FrmSizeEnum>());
const ENUM_FRAMEINTERVALS: u64 = ioc(READ_WRITE, 75, size_of::<FrmIvalEnum>());

/// Runs one V4L2 query ioctl on `file`; false when the driver says no (the end of a list).
fn query<T>(file: &File, request: u64, arg: &mut T) -> bool {
    // SAFETY: `arg` is a live, exclusively borrowed #[repr(C)] struct whose size is encoded in
    // `request`, as the V4L2 ABI requires; the kernel writes at most that many bytes.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), request as _, std::ptr::from_mut(arg)) };
    rc == 0
}

fn text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).trim().to_string()
}

fn fourcc(code: u32) -> String {
    code.to_le_bytes()
        .iter()
        .map(|&b| if b.is_ascii_graphic() { b as char } else { ' ' })
        .collect::<String>()
        .trim()
        .to_string()
}

/// Every `/dev/video*` that captures video, in path order.
pub(crate) fn list() -> Result<Vec<CameraInfo>, ListCamerasError> {
    let dev = Path::new("/dev");
    let entries = std::fs::read_dir(dev).map_err(|source| ListCamerasError::Io {
        path: dev.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .and_then(|name| name.strip_prefix("video"))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    paths.sort_by_key(|path| {
        path.to_string_lossy()
            .trim_start_matches("/dev/video")
            .parse::<u32>()
            .unwrap_or(u32::MAX)
    });
    let mut cameras = Vec::new();
    for path in paths {
        match describe(&path) {
            Ok(Some(camera)) => cameras.push(camera),
            Ok(None) => {}
            // A node that is busy or forbidden is still a camera: list it without modes.
            Err(error) => {
                tracing::debug!(path = %path.display(), %error, "camera not queried");
                cameras.push(CameraInfo {
                    path: path.clone(),
                    name: format!("(cannot open: {error})"),
                    modes: Vec::new(),
                });
            }
        }
    }
    Ok(cameras)
}

/// The camera at `path`, or `None` when the node does not capture video (metadata nodes).
fn describe(path: &Path) -> Result<Option<CameraInfo>, std::io::Error> {
    let file = File::open(path)?;
    // SAFETY: all-zero bytes are a valid value of these plain integer structs.
    let mut cap: Capability = unsafe { std::mem::zeroed() };
    if !query(&file, QUERYCAP, &mut cap) {
        return Ok(None);
    }
    let caps = if cap.capabilities & CAP_DEVICE_CAPS != 0 {
        cap.device_caps
    } else {
        cap.capabilities
    };
    if caps & CAP_VIDEO_CAPTURE == 0 {
        return Ok(None);
    }
    let mut modes = Vec::new();
    for index in 0..MAX_ENTRIES {
        // SAFETY: as above.
        let mut fmt: FmtDesc = unsafe { std::mem::zeroed() };
        fmt.index = index;
        fmt.kind = BUF_TYPE_VIDEO_CAPTURE;
        if !query(&file, ENUM_FMT, &mut fmt) {
            break;
        }
        for size_index in 0..MAX_ENTRIES {
            // SAFETY: as above.
            let mut size: FrmSizeEnum = unsafe { std::mem::zeroed() };
            size.index = size_index;
            size.pixel_format = fmt.pixelformat;
            if !query(&file, ENUM_FRAMESIZES, &mut size) {
                break;
            }
            let sizes = if size.kind == FRMSIZE_TYPE_DISCRETE {
                vec![(size.size[0], size.size[1])]
            } else {
                // Continuous or stepwise: report the smallest and the largest.
                vec![(size.size[0], size.size[3]), (size.size[1], size.size[4])]
            };
            for (width, height) in sizes {
                let frame_rates = rates(&file, fmt.pixelformat, width, height);
                modes.push(CameraMode {
                    format: fourcc(fmt.pixelformat),
                    description: text(&fmt.description),
                    width,
                    height,
                    frame_rates,
                });
            }
            if size.kind != FRMSIZE_TYPE_DISCRETE {
                break;
            }
        }
    }
    Ok(Some(CameraInfo {
        path: path.to_path_buf(),
        name: text(&cap.card),
        modes,
    }))
}

fn rates(file: &File, pixel_format: u32, width: u32, height: u32) -> Vec<f64> {
    let mut rates = Vec::new();
    for index in 0..MAX_ENTRIES {
        // SAFETY: all-zero bytes are a valid value of this plain integer struct.
        let mut ival: FrmIvalEnum = unsafe { std::mem::zeroed() };
        ival.index = index;
        ival.pixel_format = pixel_format;
        ival.width = width;
        ival.height = height;
        if !query(file, ENUM_FRAMEINTERVALS, &mut ival) {
            break;
        }
        // Discrete: this interval; stepwise: its first (shortest) one, the fastest rate.
        let [num, den] = [ival.interval[0], ival.interval[1]];
        if num > 0 {
            rates.push(f64::from(den) / f64::from(num));
        }
        if ival.kind != FRMIVAL_TYPE_DISCRETE {
            break;
        }
    }
    rates
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request numbers and struct sizes against the values of linux/videodev2.h (there is
    /// no camera here to try them on).
    #[test]
    fn ioctl_numbers_match_videodev2() {
        assert_eq!(size_of::<Capability>(), 104);
        assert_eq!(size_of::<FmtDesc>(), 64);
        assert_eq!(size_of::<FrmSizeEnum>(), 44);
        assert_eq!(size_of::<FrmIvalEnum>(), 52);
        assert_eq!(QUERYCAP, 0x8068_5600);
        assert_eq!(ENUM_FMT, 0xc040_5602);
        assert_eq!(ENUM_FRAMESIZES, 0xc02c_564a);
        assert_eq!(ENUM_FRAMEINTERVALS, 0xc034_564b);
        assert_eq!(fourcc(u32::from_le_bytes(*b"MJPG")), "MJPG");
        assert_eq!(text(b"HD Webcam\0\0\0"), "HD Webcam");
    }
}
