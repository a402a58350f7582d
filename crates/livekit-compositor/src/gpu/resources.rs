//! Pools for the GPU backend: textures keyed by their description, and per-canvas caches of the
//! frames already uploaded (a static image is uploaded once, not every frame).

use std::collections::HashMap;

use livekit_core::{PixelFormat, VideoFrame};

/// How many renders a free texture is kept before it is dropped.
const KEEP_FREE_RENDERS: u64 = 120;

/// What makes two textures interchangeable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct TextureKey {
    pub width: u32,
    pub height: u32,
    pub format: wgpu::TextureFormat,
    pub usage: wgpu::TextureUsages,
}

/// A texture with its default view and, for canvases that are sampled later (fades, YUV
/// output), a bind group for the draw layout.
pub(super) struct PooledTexture {
    pub key: TextureKey,
    pub texture: wgpu::Texture,
    pub view: wgpu::TextureView,
    pub group: Option<wgpu::BindGroup>,
}

/// Free textures by key, each with the render it was given back at.
#[derive(Default)]
pub(super) struct TexturePool {
    pub(super) free: HashMap<TextureKey, Vec<(PooledTexture, u64)>>,
    renders: u64,
}

impl TexturePool {
    /// A texture of `key`: a free one when there is one, a new one otherwise.
    pub fn acquire(
        &mut self,
        device: &wgpu::Device,
        key: TextureKey,
        label: &str,
    ) -> PooledTexture {
        if let Some((texture, _)) = self.free.get_mut(&key).and_then(Vec::pop) {
            return texture;
        }
        let texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some(label),
            size: wgpu::Extent3d {
                width: key.width,
                height: key.height,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: key.format,
            usage: key.usage,
            view_formats: &[],
        });
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        PooledTexture {
            key,
            texture,
            view,
            group: None,
        }
    }

    /// Gives a texture back for reuse.
    pub fn release(&mut self, texture: PooledTexture) {
        self.free
            .entry(texture.key)
            .or_default()
            .push((texture, self.renders));
    }

    /// Counts a render and drops the textures nobody asked for in a while.
    pub fn trim(&mut self) {
        self.renders += 1;
        let now = self.renders;
        self.free.retain(|_, list| {
            list.retain(|(_, released)| now - released <= KEEP_FREE_RENDERS);
            !list.is_empty()
        });
    }

    /// Drops every free texture (after an error, when their state is unknown).
    pub fn clear(&mut self) {
        self.free.clear();
    }
}

/// A frame uploaded into textures, with the bind group that samples them.
pub(super) struct Source {
    /// A clone of the frame (it keeps the buffer, so the same buffer means the same pixels).
    pub frame: VideoFrame,
    pub planes: Vec<PooledTexture>,
    pub group: wgpu::BindGroup,
    /// Whether this render uses it.
    pub used: bool,
}

/// The uploaded frames of one canvas.
#[derive(Default)]
pub(super) struct SourceCache {
    pub sources: Vec<Source>,
    /// The last render (of any canvas) this cache was used in.
    pub last_render: u64,
}

impl SourceCache {
    /// Gives the textures of the sources this render did not use back to `pool`.
    pub fn drop_unused(&mut self, pool: &mut TexturePool) {
        let (keep, drop): (Vec<Source>, Vec<Source>) = std::mem::take(&mut self.sources)
            .into_iter()
            .partition(|s| s.used);
        self.sources = keep;
        for source in drop {
            source.planes.into_iter().for_each(|t| pool.release(t));
        }
    }

    /// Gives every texture back to `pool`.
    pub fn release_all(self, pool: &mut TexturePool) {
        for source in self.sources {
            source.planes.into_iter().for_each(|t| pool.release(t));
        }
    }
}

/// The textures a frame of `format` is uploaded into: (width, height, format) per plane.
pub(super) fn plane_textures(
    format: PixelFormat,
    width: u32,
    height: u32,
) -> Option<Vec<(u32, u32, wgpu::TextureFormat)>> {
    let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
    Some(match format {
        PixelFormat::Rgba8 => vec![(width, height, wgpu::TextureFormat::Rgba8Unorm)],
        PixelFormat::Bgra8 => vec![(width, height, wgpu::TextureFormat::Bgra8Unorm)],
        PixelFormat::I420(_) => vec![
            (width, height, wgpu::TextureFormat::R8Unorm),
            (cw, ch, wgpu::TextureFormat::R8Unorm),
            (cw, ch, wgpu::TextureFormat::R8Unorm),
        ],
        PixelFormat::Nv12(_) => vec![
            (width, height, wgpu::TextureFormat::R8Unorm),
            (cw, ch, wgpu::TextureFormat::Rg8Unorm),
        ],
        _ => return None,
    })
}
