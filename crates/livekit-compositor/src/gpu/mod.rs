//! The wgpu backend (being written).

use livekit_core::VideoFrame;

use crate::backend::{Backend, BackendInfo, BackendKind, CreateBackendError, RenderError};
use crate::plan::RenderJob;

pub(crate) struct GpuBackend {
    name: String,
}

impl GpuBackend {
    pub(crate) fn new(allow_software: bool) -> Result<Self, CreateBackendError> {
        let _ = allow_software;
        Err(CreateBackendError::NoAdapter)
    }
}

impl Backend for GpuBackend {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: BackendKind::Gpu,
            name: self.name.clone(),
        }
    }

    fn render(&mut self, _canvas: &str, _job: &RenderJob<'_>) -> Result<VideoFrame, RenderError> {
        unimplemented!()
    }
}
