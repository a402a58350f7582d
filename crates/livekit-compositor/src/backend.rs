//! Backends: who renders a [`RenderJob`]. The GPU backend (wgpu) and the CPU backend produce the
//! same frames within the golden tests' tolerance.

use std::fmt;
use std::str::FromStr;

use livekit_core::VideoFrame;

use crate::plan::RenderJob;

/// Which backend to render with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BackendChoice {
    /// A hardware GPU when there is one; otherwise (no adapter, or only a software rasterizer
    /// such as lavapipe/llvmpipe) the CPU backend, which is faster than a software GPU.
    #[default]
    Auto,
    /// wgpu on any adapter, software rasterizers included (an error if there is none).
    Gpu,
    /// The CPU backend (multi-threaded by rows).
    Cpu,
}

impl FromStr for BackendChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "auto" => Ok(Self::Auto),
            "gpu" => Ok(Self::Gpu),
            "cpu" => Ok(Self::Cpu),
            other => Err(format!(
                "unknown backend {other:?}: expected auto, gpu or cpu"
            )),
        }
    }
}

impl fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Gpu => "gpu",
            Self::Cpu => "cpu",
        })
    }
}

/// The kind of backend a compositor renders with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// wgpu.
    Gpu,
    /// The CPU backend.
    Cpu,
}

/// What a compositor renders with, for logs and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendInfo {
    /// GPU or CPU.
    pub kind: BackendKind,
    /// The adapter (`"NVIDIA GeForce ... (Vulkan)"`) or `"CPU, N threads"`.
    pub name: String,
}

impl fmt::Display for BackendInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            BackendKind::Gpu => write!(f, "gpu: {}", self.name),
            BackendKind::Cpu => write!(f, "cpu: {}", self.name),
        }
    }
}

/// A backend could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateBackendError {
    /// `--backend gpu` but wgpu found no adapter.
    #[error("no GPU adapter found (wgpu found no Vulkan, Metal, DX12 or GL adapter)")]
    NoAdapter,
    /// Only a software rasterizer was found and `auto` prefers the CPU backend then.
    #[error("the only GPU adapter is a software rasterizer ({adapter})")]
    SoftwareOnly {
        /// The adapter's name.
        adapter: String,
    },
    /// The adapter would not give a device.
    #[error("the GPU adapter {adapter} refused to open a device: {reason}")]
    Device {
        /// The adapter's name.
        adapter: String,
        /// wgpu's message.
        reason: String,
    },
    /// The CPU backend's worker threads could not start.
    #[error("could not start the CPU compositor's threads: {0}")]
    Threads(String),
}

/// Rendering a frame failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The GPU reported an error (device lost, out of memory, validation).
    #[error("GPU error while rendering canvas {canvas}: {reason}")]
    Gpu {
        /// The canvas being rendered.
        canvas: String,
        /// wgpu's message.
        reason: String,
    },
    /// A frame for the result could not be made (a size beyond what frames can hold).
    #[error("cannot make a frame: {0}")]
    Frame(#[from] livekit_core::FrameError),
    /// No such canvas.
    #[error("no canvas with id {0}")]
    UnknownCanvas(usize),
}

/// A renderer of jobs.
pub(crate) trait Backend: Send {
    /// What this is.
    fn info(&self) -> BackendInfo;

    /// Renders one canvas frame. `canvas` names it in errors.
    fn render(&mut self, canvas: &str, job: &RenderJob<'_>) -> Result<VideoFrame, RenderError>;
}

/// Creates the backend for `choice`.
pub(crate) fn create(choice: BackendChoice) -> Result<Box<dyn Backend>, CreateBackendError> {
    match choice {
        BackendChoice::Cpu => Ok(Box::new(crate::cpu::CpuBackend::new()?)),
        BackendChoice::Gpu => Ok(Box::new(crate::gpu::GpuBackend::new(true)?)),
        BackendChoice::Auto => match crate::gpu::GpuBackend::new(false) {
            Ok(gpu) => Ok(Box::new(gpu)),
            Err(error) => {
                tracing::info!("using the CPU compositor: {error}");
                Ok(Box::new(crate::cpu::CpuBackend::new()?))
            }
        },
    }
}
