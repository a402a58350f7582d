//! [`PngWriter`]: frames to PNG files.

use std::path::{Path, PathBuf};

use image::{ImageFormat, RgbaImage};
use livekit_core::convert::to_rgba;
use livekit_core::{FrameTarget, PushError, VideoFrame};
use parking_lot::Mutex;

/// Why a PNG could not be written. Names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WritePngError {
    /// The folder could not be made or the file could not be written.
    #[error("PNG file {}: cannot write", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The encoder failed.
    #[error("PNG file {}: cannot encode", path.display())]
    Encode {
        /// The path.
        path: PathBuf,
        /// What the encoder said.
        #[source]
        source: image::ImageError,
    },
}

#[derive(Debug, Default)]
struct Progress {
    written: u64,
    last: Option<PathBuf>,
}

/// A [`VideoTarget`](livekit_core::VideoTarget) that writes each frame it is given as a PNG
/// file, on the caller's thread.
///
/// When the path contains `{n}`, each frame gets its own file with `{n}` replaced by the
/// frame's number (0, 1, ...; zero-padded to 6 digits); otherwise every frame replaces the same
/// file, so it holds the newest frame. Files are written to a temporary name and renamed, so a
/// reader never sees half a PNG. Missing folders are made. Any pixel format is accepted (YUV is
/// converted to RGB).
#[derive(Debug)]
pub struct PngWriter {
    pattern: String,
    progress: Mutex<Progress>,
}

impl PngWriter {
    /// A writer to `path` (see the type's docs for `{n}`).
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            pattern: path.as_ref().to_string_lossy().into_owned(),
            progress: Mutex::new(Progress::default()),
        }
    }

    /// Frames written so far.
    pub fn written(&self) -> u64 {
        self.progress.lock().written
    }

    /// The last file written, if any.
    pub fn last_path(&self) -> Option<PathBuf> {
        self.progress.lock().last.clone()
    }

    /// Writes one frame to `path` now.
    pub fn write(frame: &VideoFrame, path: &Path) -> Result<(), WritePngError> {
        let io = |source| WritePngError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let rgba = to_rgba(frame);
        let image = RgbaImage::from_raw(rgba.width(), rgba.height(), rgba.to_packed_vec())
            .expect("a packed RGBA frame fills its image exactly");
        let mut temp = path.as_os_str().to_owned();
        temp.push(".part");
        let temp = PathBuf::from(temp);
        image
            .save_with_format(&temp, ImageFormat::Png)
            .map_err(|source| match source {
                image::ImageError::IoError(source) => io(source),
                source => WritePngError::Encode {
                    path: path.to_path_buf(),
                    source,
                },
            })?;
        std::fs::rename(&temp, path).map_err(io)
    }
}

impl FrameTarget<VideoFrame> for PngWriter {
    fn push(&self, frame: VideoFrame) -> Result<(), PushError> {
        let mut progress = self.progress.lock();
        let path = PathBuf::from(
            self.pattern
                .replace("{n}", &format!("{:06}", progress.written)),
        );
        Self::write(&frame, &path).map_err(PushError::failed)?;
        progress.written += 1;
        progress.last = Some(path);
        Ok(())
    }

    fn end(&self) {}
}
