//! The wgpu side of the window thread: [`Gpu`], what every window shares (the device, one
//! shader, sampler and bind group layout, one pipeline per surface format), and
//! [`ViewerWindow`], one window's surface and how it redraws: the newest frame uploaded (see
//! [`textures`](super::textures)), letterboxed into the window, presented. The shader is
//! `viewer.wgsl`, next to this file.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use livekit_core::{FrameSource, Pull, VideoFrame};
use winit::window::Window;

use super::link::Slot;
use super::textures::{FrameTextures, Params, TextureKey};
use super::{OpenViewerError, cause};

/// Consecutive failures to get a surface texture after which a window stops asking for redraws
/// until its next event (resize, new frame).
const MAX_SURFACE_RETRIES: u32 = 5;

/// What the window thread shares between windows.
pub(super) struct Gpu {
    adapter: wgpu::Adapter,
    pub(super) device: wgpu::Device,
    pub(super) queue: wgpu::Queue,
    shader: wgpu::ShaderModule,
    /// The frame's planes, the sampler and [`Params`].
    pub(super) bind_group_layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    pub(super) sampler: wgpu::Sampler,
    /// One per surface (view) format; in practice one.
    pipelines: HashMap<wgpu::TextureFormat, wgpu::RenderPipeline>,
    /// The largest texture side: frames and surfaces must fit.
    pub(super) max_side: u32,
}

impl Gpu {
    /// The device, made for an adapter that can draw to `surface`.
    pub(super) fn new(
        instance: &wgpu::Instance,
        surface: &wgpu::Surface<'_>,
    ) -> Result<Self, OpenViewerError> {
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            compatible_surface: Some(surface),
            ..Default::default()
        }))
        .map_err(|error| OpenViewerError::NoAdapter {
            source: cause(error),
        })?;
        let info = adapter.get_info();
        tracing::info!(adapter = %info.name, backend = ?info.backend, "viewer GPU");
        let limits = wgpu::Limits::downlevel_webgl2_defaults().using_resolution(adapter.limits());
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("livekit.viewer.device"),
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|error| OpenViewerError::Device {
            source: cause(error),
        })?;
        // Log wgpu errors instead of panicking on the window thread.
        device.on_uncaptured_error(Arc::new(|error| {
            tracing::error!(%error, "wgpu error in the viewer");
        }));
        device.set_device_lost_callback(|reason, message| {
            tracing::error!(?reason, %message, "the viewer's GPU device was lost");
        });
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("livekit.viewer.shader"),
            source: wgpu::ShaderSource::Wgsl(include_str!("viewer.wgsl").into()),
        });
        let texture_entry = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable: true },
                view_dimension: wgpu::TextureViewDimension::D2,
                multisampled: false,
            },
            count: None,
        };
        let bind_group_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("livekit.viewer.bind_group_layout"),
            entries: &[
                texture_entry(0),
                texture_entry(1),
                texture_entry(2),
                wgpu::BindGroupLayoutEntry {
                    binding: 3,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 4,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: wgpu::BufferSize::new(
                            std::mem::size_of::<Params>() as u64
                        ),
                    },
                    count: None,
                },
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("livekit.viewer.pipeline_layout"),
            bind_group_layouts: &[Some(&bind_group_layout)],
            immediate_size: 0,
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("livekit.viewer.sampler"),
            address_mode_u: wgpu::AddressMode::ClampToEdge,
            address_mode_v: wgpu::AddressMode::ClampToEdge,
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        Ok(Self {
            adapter,
            device,
            queue,
            shader,
            bind_group_layout,
            pipeline_layout,
            sampler,
            pipelines: HashMap::new(),
            max_side: limits.max_texture_dimension_2d,
        })
    }

    fn ensure_pipeline(&mut self, format: wgpu::TextureFormat) {
        if self.pipelines.contains_key(&format) {
            return;
        }
        let pipeline = self
            .device
            .create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some("livekit.viewer.pipeline"),
                layout: Some(&self.pipeline_layout),
                vertex: wgpu::VertexState {
                    module: &self.shader,
                    entry_point: Some("vs_main"),
                    compilation_options: Default::default(),
                    buffers: &[],
                },
                primitive: wgpu::PrimitiveState::default(),
                depth_stencil: None,
                multisample: wgpu::MultisampleState::default(),
                fragment: Some(wgpu::FragmentState {
                    module: &self.shader,
                    entry_point: Some("fs_main"),
                    compilation_options: Default::default(),
                    targets: &[Some(wgpu::ColorTargetState {
                        format,
                        blend: None,
                        write_mask: wgpu::ColorWrites::ALL,
                    })],
                }),
                multiview_mask: None,
                cache: None,
            });
        self.pipelines.insert(format, pipeline);
    }
}

/// The surface format, and the format to render through: frames hold sRGB-encoded bytes that
/// must reach the screen unchanged, so a non-sRGB format is preferred; if the surface only has
/// sRGB formats, it is viewed as its non-sRGB twin.
fn choose_surface_format(
    formats: &[wgpu::TextureFormat],
) -> Option<(wgpu::TextureFormat, wgpu::TextureFormat)> {
    let preferred = [
        wgpu::TextureFormat::Bgra8Unorm,
        wgpu::TextureFormat::Rgba8Unorm,
    ];
    preferred
        .into_iter()
        .find(|format| formats.contains(format))
        .or_else(|| formats.iter().copied().find(|format| !format.is_srgb()))
        .map(|format| (format, format))
        .or_else(|| {
            let format = *formats.first()?;
            Some((format, format.remove_srgb_suffix()))
        })
}

/// One viewer's window on the window thread.
pub(super) struct ViewerWindow {
    pub(super) id: u64,
    pub(super) slot: Arc<Slot>,
    // Dropped before `window`: the surface draws into it.
    surface: wgpu::Surface<'static>,
    window: Arc<Window>,
    config: wgpu::SurfaceConfiguration,
    view_format: wgpu::TextureFormat,
    params: wgpu::Buffer,
    frame: Option<FrameTextures>,
    /// A frame was uploaded but not presented yet (counted in `shown` once it is).
    unshown: bool,
    /// Consecutive failures to get a surface texture.
    failures: u32,
}

impl ViewerWindow {
    /// Viewer `id`'s window, drawn into through `surface`: picks the surface format, configures
    /// it for the window's size, makes sure `gpu` has a pipeline for it, and asks for the first
    /// redraw.
    pub(super) fn new(
        gpu: &mut Gpu,
        id: u64,
        slot: Arc<Slot>,
        window: Arc<Window>,
        surface: wgpu::Surface<'static>,
    ) -> Result<Self, OpenViewerError> {
        if !gpu.adapter.is_surface_supported(&surface) {
            return Err(OpenViewerError::Surface {
                reason: "the GPU adapter cannot present to this window".into(),
                source: None,
            });
        }
        let caps = surface.get_capabilities(&gpu.adapter);
        let (format, view_format) =
            choose_surface_format(&caps.formats).ok_or_else(|| OpenViewerError::Surface {
                reason: "the surface offers no colour format".into(),
                source: None,
            })?;
        let alpha_mode = if caps.alpha_modes.contains(&wgpu::CompositeAlphaMode::Opaque) {
            wgpu::CompositeAlphaMode::Opaque
        } else {
            wgpu::CompositeAlphaMode::Auto
        };
        let size = window.inner_size();
        let config = wgpu::SurfaceConfiguration {
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
            format,
            color_space: wgpu::SurfaceColorSpace::Auto,
            width: size.width.clamp(1, gpu.max_side),
            height: size.height.clamp(1, gpu.max_side),
            present_mode: wgpu::PresentMode::AutoVsync,
            desired_maximum_frame_latency: 2,
            alpha_mode,
            view_formats: if view_format == format {
                Vec::new()
            } else {
                vec![view_format]
            },
        };
        surface.configure(&gpu.device, &config);
        gpu.ensure_pipeline(view_format);
        let params = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("livekit.viewer.params"),
            size: std::mem::size_of::<Params>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        tracing::debug!(viewer = id, ?format, ?view_format, "viewer surface ready");
        window.request_redraw();
        Ok(Self {
            id,
            slot,
            surface,
            window,
            config,
            view_format,
            params,
            frame: None,
            unshown: false,
            failures: 0,
        })
    }

    /// Asks the window system for a redraw (a new frame is waiting).
    pub(super) fn request_redraw(&self) {
        self.window.request_redraw();
    }

    /// After the window was resized: a new swap chain, and a redraw.
    pub(super) fn resize(&mut self, gpu: &Gpu, width: u32, height: u32) {
        if self.configure(gpu, width, height) {
            self.failures = 0;
            self.window.request_redraw();
        }
    }

    /// Configures the surface for `width` x `height`; false when minimized (nothing to draw
    /// until it comes back).
    fn configure(&mut self, gpu: &Gpu, width: u32, height: u32) -> bool {
        if width == 0 || height == 0 {
            return false;
        }
        self.config.width = width.min(gpu.max_side);
        self.config.height = height.min(gpu.max_side);
        self.surface.configure(&gpu.device, &self.config);
        true
    }

    /// Configures the surface for the window's size now (no redraw asked).
    fn reconfigure(&mut self, gpu: &Gpu) {
        let size = self.window.inner_size();
        self.configure(gpu, size.width, size.height);
    }

    fn upload(&mut self, gpu: &Gpu, frame: &VideoFrame) {
        let Some(key) = TextureKey::of(frame) else {
            tracing::warn!(format = %frame.format(), "the viewer cannot show this pixel format");
            return;
        };
        if frame.width() > gpu.max_side || frame.height() > gpu.max_side {
            tracing::warn!(layout = %frame.layout(), "frame too large for the viewer's GPU");
            return;
        }
        if self.frame.as_ref().map(|textures| textures.key) != Some(key) {
            self.frame = Some(FrameTextures::new(gpu, key, &self.params));
        }
        let Some(textures) = self.frame.as_mut() else {
            return;
        };
        for (plane, texture) in textures.planes.iter().enumerate() {
            let (Ok(bytes_per_row), Ok(rows)) = (
                u32::try_from(frame.stride(plane)),
                u32::try_from(frame.layout().rows(plane)),
            ) else {
                tracing::warn!(layout = ?frame.layout(), "frame strides too large for the viewer");
                return;
            };
            gpu.queue.write_texture(
                wgpu::TexelCopyTextureInfo {
                    texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d::ZERO,
                    aspect: wgpu::TextureAspect::All,
                },
                frame.plane(plane),
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(bytes_per_row),
                    rows_per_image: Some(rows),
                },
                texture.size(),
            );
        }
        let params = Params::new(frame.format(), frame.width(), frame.height());
        if textures.params != Some(params) {
            gpu.queue
                .write_buffer(&self.params, 0, bytemuck::bytes_of(&params));
            textures.params = Some(params);
        }
        self.unshown = true;
    }

    fn retry(&mut self) {
        self.failures += 1;
        if self.failures < MAX_SURFACE_RETRIES {
            self.window.request_redraw();
        } else {
            tracing::warn!(viewer = self.id, "cannot get the window's surface; waiting");
        }
    }

    pub(super) fn redraw(&mut self, gpu: &Gpu, instance: &wgpu::Instance) {
        if let Pull::Frame(frame) = self.slot.port.latest() {
            self.upload(gpu, &frame);
        }
        let size = self.window.inner_size();
        if size.width == 0 || size.height == 0 {
            return;
        }
        let (texture, suboptimal) = match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(texture) => (texture, false),
            wgpu::CurrentSurfaceTexture::Suboptimal(texture) => (texture, true),
            wgpu::CurrentSurfaceTexture::Timeout => return self.retry(),
            wgpu::CurrentSurfaceTexture::Occluded => return,
            wgpu::CurrentSurfaceTexture::Outdated => {
                self.reconfigure(gpu);
                return self.retry();
            }
            wgpu::CurrentSurfaceTexture::Lost => {
                match instance.create_surface(self.window.clone()) {
                    Ok(surface) => {
                        self.surface = surface;
                        self.reconfigure(gpu);
                    }
                    Err(error) => tracing::error!(%error, "cannot make the viewer's surface again"),
                }
                return self.retry();
            }
            wgpu::CurrentSurfaceTexture::Validation => {
                tracing::error!(viewer = self.id, "surface texture validation error");
                return;
            }
        };
        self.failures = 0;
        let view = texture.texture.create_view(&wgpu::TextureViewDescriptor {
            label: Some("livekit.viewer.surface.view"),
            format: Some(self.view_format),
            ..Default::default()
        });
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("livekit.viewer.encoder"),
            });
        {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("livekit.viewer.pass"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                ..Default::default()
            });
            if let (Some(textures), Some(pipeline)) =
                (&self.frame, gpu.pipelines.get(&self.view_format))
            {
                let [x, y, width, height] = letterbox(
                    (textures.key.width, textures.key.height),
                    (self.config.width, self.config.height),
                );
                pass.set_viewport(x, y, width, height, 0.0, 1.0);
                pass.set_pipeline(pipeline);
                pass.set_bind_group(0, &textures.bind_group, &[]);
                pass.draw(0..3, 0..1);
            }
        }
        gpu.queue.submit([encoder.finish()]);
        self.window.pre_present_notify();
        gpu.queue.present(texture);
        if self.unshown {
            self.unshown = false;
            self.slot.shown.fetch_add(1, Ordering::AcqRel);
        }
        if suboptimal {
            self.reconfigure(gpu);
        }
    }
}

/// The rectangle `[x, y, width, height]` (whole pixels) in which a `frame` sized picture fits
/// `target` with its aspect ratio kept, centred; the rest is the black bars.
fn letterbox(frame: (u32, u32), target: (u32, u32)) -> [f32; 4] {
    let (fw, fh) = (f64::from(frame.0), f64::from(frame.1));
    let (tw, th) = (f64::from(target.0), f64::from(target.1));
    let scale = (tw / fw).min(th / fh);
    let width = (fw * scale).round().clamp(1.0, tw);
    let height = (fh * scale).round().clamp(1.0, th);
    let x = ((tw - width) / 2.0).floor();
    let y = ((th - height) / 2.0).floor();
    [x as f32, y as f32, width as f32, height as f32]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_keeps_the_aspect_ratio_and_centres() {
        assert_eq!(letterbox((320, 240), (320, 240)), [0.0, 0.0, 320.0, 240.0]);
        // 2:1 into 1:1: bars top and bottom.
        assert_eq!(letterbox((480, 240), (240, 240)), [0.0, 60.0, 240.0, 120.0]);
        // 1:2 into 4:3: bars left and right.
        assert_eq!(
            letterbox((100, 200), (400, 300)),
            [125.0, 0.0, 150.0, 300.0]
        );
        // Tiny targets still get a pixel.
        assert_eq!(letterbox((10_000, 1), (10, 10)), [0.0, 4.0, 10.0, 1.0]);
    }

    #[test]
    fn surface_format_prefers_non_srgb() {
        use wgpu::TextureFormat as F;
        assert_eq!(
            choose_surface_format(&[F::Bgra8UnormSrgb, F::Bgra8Unorm]),
            Some((F::Bgra8Unorm, F::Bgra8Unorm))
        );
        assert_eq!(
            choose_surface_format(&[F::Rgba8UnormSrgb]),
            Some((F::Rgba8UnormSrgb, F::Rgba8Unorm))
        );
        assert_eq!(choose_surface_format(&[]), None);
    }
}
