//! A frame on the GPU: [`TextureKey`], the plane textures a frame needs (one for RGB, three
//! for I420, two for NV12), [`FrameTextures`], those textures with the bind group that samples
//! them (kept while the frame's size and kind stay the same), and [`Params`], the uniform that
//! tells `viewer.wgsl` how to turn the planes into RGB (the frame's matrix and range).

use livekit_core::{ColorMatrix, ColorRange, ColorSpace, PixelFormat, VideoFrame};

use super::renderer::Gpu;

/// The shader's uniform (see `viewer.wgsl`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct Params {
    r: [f32; 4],
    g: [f32; 4],
    b: [f32; 4],
    offset: [f32; 4],
    chroma_scale: [f32; 2],
    mode: u32,
    _pad: u32,
}

impl Params {
    /// For a `width` x `height` frame of `format`; the YUV coefficients are those of
    /// `livekit_core::convert` (same matrix, same ranges), in 0..1 sample units.
    pub(super) fn new(format: PixelFormat, width: u32, height: u32) -> Self {
        let (mode, color_space) = match format {
            PixelFormat::I420(cs) => (1, cs),
            PixelFormat::Nv12(cs) => (2, cs),
            _ => (0, ColorSpace::default()),
        };
        let (kr, kb) = match color_space.matrix {
            ColorMatrix::Bt601 => (0.299, 0.114),
            ColorMatrix::Bt709 => (0.2126, 0.0722),
        };
        let (y_offset, y_scale, c_scale) = match color_space.range {
            ColorRange::Limited => (16.0, 255.0 / 219.0, 255.0 / 224.0),
            ColorRange::Full => (0.0, 1.0, 1.0),
        };
        let kg = 1.0 - kr - kb;
        // r = y + 2(1-kr) v;  b = y + 2(1-kb) u;  g = (y - kr r - kb b) / kg
        let cr = 2.0 * (1.0 - kr) * c_scale;
        let cb = 2.0 * (1.0 - kb) * c_scale;
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        Self {
            r: [y_scale, 0.0, cr, 0.0],
            g: [y_scale, -kb * cb / kg, -kr * cr / kg, 0.0],
            b: [y_scale, cb, 0.0, 0.0],
            offset: [y_offset / 255.0, 128.0 / 255.0, 128.0 / 255.0, 0.0],
            chroma_scale: [
                width as f32 / 2.0 / cw as f32,
                height as f32 / 2.0 / ch as f32,
            ],
            mode,
            _pad: 0,
        }
    }
}

/// What the plane textures of a frame look like; textures are kept while it is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TextureKey {
    pub(super) width: u32,
    pub(super) height: u32,
    /// The format with its colour space left out (that only changes the uniform).
    kind: FrameKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// A frame's pixel format without its colour space.
enum FrameKind {
    Rgba,
    Bgra,
    I420,
    Nv12,
}

impl TextureKey {
    /// The key of `frame`; `None` for a pixel format the viewer cannot show.
    pub(super) fn of(frame: &VideoFrame) -> Option<Self> {
        let kind = match frame.format() {
            PixelFormat::Rgba8 => FrameKind::Rgba,
            PixelFormat::Bgra8 => FrameKind::Bgra,
            PixelFormat::I420(_) => FrameKind::I420,
            PixelFormat::Nv12(_) => FrameKind::Nv12,
            _ => return None,
        };
        Some(Self {
            width: frame.width(),
            height: frame.height(),
            kind,
        })
    }

    /// Each plane's texture format and size.
    fn planes(self) -> Vec<(wgpu::TextureFormat, u32, u32)> {
        use wgpu::TextureFormat as F;
        let (w, h) = (self.width, self.height);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        match self.kind {
            FrameKind::Rgba => vec![(F::Rgba8Unorm, w, h)],
            FrameKind::Bgra => vec![(F::Bgra8Unorm, w, h)],
            FrameKind::I420 => vec![
                (F::R8Unorm, w, h),
                (F::R8Unorm, cw, ch),
                (F::R8Unorm, cw, ch),
            ],
            FrameKind::Nv12 => vec![(F::R8Unorm, w, h), (F::Rg8Unorm, cw, ch)],
        }
    }
}

/// The textures of the frame on screen, and the bind group that samples them.
pub(super) struct FrameTextures {
    /// What they were made for.
    pub(super) key: TextureKey,
    /// One texture per plane.
    pub(super) planes: Vec<wgpu::Texture>,
    /// The planes, the sampler and the window's [`Params`] buffer.
    pub(super) bind_group: wgpu::BindGroup,
    /// What the window's [`Params`] buffer holds now (written only when it changes).
    pub(super) params: Option<Params>,
}

impl FrameTextures {
    /// Textures for frames of `key`, sampled with the uniform in `params`.
    pub(super) fn new(gpu: &Gpu, key: TextureKey, params: &wgpu::Buffer) -> Self {
        let planes: Vec<wgpu::Texture> = key
            .planes()
            .into_iter()
            .map(|(format, width, height)| {
                gpu.device.create_texture(&wgpu::TextureDescriptor {
                    label: Some("livekit.viewer.frame.plane"),
                    size: wgpu::Extent3d {
                        width,
                        height,
                        depth_or_array_layers: 1,
                    },
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D2,
                    format,
                    usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                    view_formats: &[],
                })
            })
            .collect();
        let views: Vec<wgpu::TextureView> = planes
            .iter()
            .map(|plane| {
                plane.create_view(&wgpu::TextureViewDescriptor {
                    label: Some("livekit.viewer.frame.plane.view"),
                    ..Default::default()
                })
            })
            .collect();
        // Slots a format does not use repeat its last plane (the shader ignores them).
        let view = |i: usize| &views[i.min(views.len() - 1)];
        let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("livekit.viewer.frame.bind_group"),
            layout: &gpu.bind_group_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(view(0)),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::TextureView(view(1)),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::TextureView(view(2)),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: wgpu::BindingResource::Sampler(&gpu.sampler),
                },
                wgpu::BindGroupEntry {
                    binding: 4,
                    resource: params.as_entire_binding(),
                },
            ],
        });
        Self {
            key,
            planes,
            bind_group,
            params: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// The shader's arithmetic on the CPU, in 0..255 units.
    fn shade(params: &Params, yuv: [u8; 3]) -> [u8; 3] {
        let d: Vec<f32> = yuv
            .iter()
            .zip(params.offset)
            .map(|(&s, o)| f32::from(s) / 255.0 - o)
            .collect();
        let dot = |row: [f32; 4]| (row[0] * d[0] + row[1] * d[1] + row[2] * d[2]).clamp(0.0, 1.0);
        [params.r, params.g, params.b].map(|row| (dot(row) * 255.0).round() as u8)
    }

    #[test]
    fn shader_coefficients_match_the_reference_conversion() {
        use livekit_core::{FrameLayout, VideoFrameMut};
        for cs in [
            ColorSpace::BT601_LIMITED,
            ColorSpace::BT601_FULL,
            ColorSpace::BT709_LIMITED,
            ColorSpace::BT709_FULL,
        ] {
            for yuv in [
                [16, 128, 128],
                [235, 128, 128],
                [81, 90, 240],
                [120, 80, 170],
                [200, 30, 60],
            ] {
                let format = PixelFormat::I420(cs);
                let layout = FrameLayout::new(2, 2, format).unwrap();
                let mut frame = VideoFrameMut::new(layout, Duration::ZERO);
                frame
                    .copy_from_packed(&[yuv[0], yuv[0], yuv[0], yuv[0], yuv[1], yuv[2]])
                    .unwrap();
                let reference = livekit_core::convert::to_rgba(&frame.freeze());
                let expected = reference.rgba_at(0, 0).unwrap();
                let actual = shade(&Params::new(format, 2, 2), yuv);
                for c in 0..3 {
                    assert!(
                        actual[c].abs_diff(expected[c]) <= 1,
                        "{cs:?} {yuv:?}: shader {actual:?}, reference {expected:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn chroma_scale_accounts_for_rounded_up_planes() {
        let params = Params::new(PixelFormat::I420(ColorSpace::default()), 5, 4);
        assert_eq!(params.chroma_scale, [2.5 / 3.0, 1.0]);
        assert_eq!(params.mode, 1);
        assert_eq!(Params::new(PixelFormat::Bgra8, 5, 4).mode, 0);
    }

    #[test]
    fn params_match_the_shader_layout() {
        assert_eq!(std::mem::size_of::<Params>(), 80);
    }
}
