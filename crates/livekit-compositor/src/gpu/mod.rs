//! The wgpu backend: draws the plan's quads into an `Rgba8Unorm` canvas texture (not an sRGB
//! format: blending happens on sRGB-encoded values, as in the CPU backend), converts the canvas
//! to YUV on the GPU when the canvas asks for YUV, and reads the result back into a pooled frame.
//!
//! Pipelines, bind group layouts and the sampler are built once, in [`GpuBackend::new`]. A frame
//! uploads the pictures that changed (the same buffer as last time is not uploaded again),
//! writes one uniform buffer (one slot per draw, bound at a dynamic offset), records its passes,
//! and waits for the read-back; then unused textures go back to their pool (prepare -> render ->
//! trim). wgpu errors are caught with error scopes and become [`RenderError::Gpu`].

mod resources;

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use bytemuck::{Pod, Zeroable};
use livekit_core::VideoFrame;
use livekit_core::{ColorMatrix, ColorRange, ColorSpace, PixelFormat};
use parking_lot::Mutex;

use self::resources::{PooledTexture, Source, SourceCache, TextureKey, TexturePool};
use crate::backend::{Backend, BackendInfo, BackendKind, CreateBackendError, RenderError};
use crate::plan::{Content, Draw, RenderJob};
use crate::scene::OutputFormat;

/// The canvas format: 8-bit sRGB-encoded values, blended as they are.
const CANVAS_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

/// How long a frame may wait for the GPU before it counts as failed.
const GPU_TIMEOUT: Duration = Duration::from_secs(10);

/// A canvas's uploaded pictures are dropped after this many renders without it.
const KEEP_CANVAS_RENDERS: u64 = 300;

/// At most this many read-back buffers (one per output size) are kept.
const MAX_READBACK_BUFFERS: usize = 8;

/// Per-draw uniforms; must match `Draw` in `draw.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct DrawUniforms {
    corners: [[f32; 4]; 4],
    clamp: [f32; 4],
    color: [f32; 4],
    size: [f32; 4],
    yuv0: [f32; 4],
    yuv1: [f32; 4],
}

/// RGB -> YUV uniforms; must match `Convert` in `convert.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct ConvertUniforms {
    y: [f32; 4],
    u: [f32; 4],
    v: [f32; 4],
}

/// The size of the uniform binding: the larger of the two structs.
const UNIFORM_SIZE: u64 = {
    let (a, b) = (
        size_of::<DrawUniforms>() as u64,
        size_of::<ConvertUniforms>() as u64,
    );
    if a > b { a } else { b }
};

/// What the device reported outside of an error scope.
#[derive(Default)]
struct Faults {
    lost: Mutex<Option<String>>,
    uncaptured: Mutex<Option<String>>,
}

/// Everything built once: layouts, the sampler, the pipelines.
struct Pipelines {
    uniform_layout: wgpu::BindGroupLayout,
    texture_layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
    solid: wgpu::RenderPipeline,
    rgba: wgpu::RenderPipeline,
    rgba_whole: wgpu::RenderPipeline,
    yuv: wgpu::RenderPipeline,
    luma: wgpu::RenderPipeline,
    chroma_planar: wgpu::RenderPipeline,
    chroma_nv12: wgpu::RenderPipeline,
}

impl Pipelines {
    fn new(device: &wgpu::Device) -> Self {
        let uniform_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("livekit.compositor.uniforms.bind_group_layout"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: true,
                    min_binding_size: NonZeroU64::new(UNIFORM_SIZE),
                },
                count: None,
            }],
        });
        let texture = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable: true },
                view_dimension: wgpu::TextureViewDimension::D2,
                multisampled: false,
            },
            count: None,
        };
        let texture_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("livekit.compositor.planes.bind_group_layout"),
            entries: &[
                texture(0),
                texture(1),
                texture(2),
                wgpu::BindGroupLayoutEntry {
                    binding: 3,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
            ],
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("livekit.compositor.linear.sampler"),
            address_mode_u: wgpu::AddressMode::ClampToEdge,
            address_mode_v: wgpu::AddressMode::ClampToEdge,
            address_mode_w: wgpu::AddressMode::ClampToEdge,
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            mipmap_filter: wgpu::MipmapFilterMode::Nearest,
            ..Default::default()
        });
        let draw_shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("livekit.compositor.draw.shader"),
            source: wgpu::ShaderSource::Wgsl(include_str!("draw.wgsl").into()),
        });
        let convert_shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("livekit.compositor.convert.shader"),
            source: wgpu::ShaderSource::Wgsl(include_str!("convert.wgsl").into()),
        });
        let solid_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("livekit.compositor.solid.pipeline_layout"),
            bind_group_layouts: &[Some(&uniform_layout)],
            immediate_size: 0,
        });
        let planes_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("livekit.compositor.planes.pipeline_layout"),
            bind_group_layouts: &[Some(&uniform_layout), Some(&texture_layout)],
            immediate_size: 0,
        });
        // Source over, on the stored (sRGB-encoded) values; the canvas alpha stays 1.
        let blend = wgpu::BlendState {
            color: wgpu::BlendComponent {
                src_factor: wgpu::BlendFactor::SrcAlpha,
                dst_factor: wgpu::BlendFactor::OneMinusSrcAlpha,
                operation: wgpu::BlendOperation::Add,
            },
            alpha: wgpu::BlendComponent {
                src_factor: wgpu::BlendFactor::Zero,
                dst_factor: wgpu::BlendFactor::One,
                operation: wgpu::BlendOperation::Add,
            },
        };
        let target = |format, blend| {
            Some(wgpu::ColorTargetState {
                format,
                blend,
                write_mask: wgpu::ColorWrites::ALL,
            })
        };
        let pipeline = |label: &str,
                        layout: &wgpu::PipelineLayout,
                        module: &wgpu::ShaderModule,
                        (vertex, fragment): (&str, &str),
                        topology,
                        targets: &[Option<wgpu::ColorTargetState>]| {
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some(label),
                layout: Some(layout),
                vertex: wgpu::VertexState {
                    module,
                    entry_point: Some(vertex),
                    compilation_options: Default::default(),
                    buffers: &[],
                },
                primitive: wgpu::PrimitiveState {
                    topology,
                    ..Default::default()
                },
                depth_stencil: None,
                multisample: wgpu::MultisampleState::default(),
                fragment: Some(wgpu::FragmentState {
                    module,
                    entry_point: Some(fragment),
                    compilation_options: Default::default(),
                    targets,
                }),
                multiview_mask: None,
                cache: None,
            })
        };
        let strip = wgpu::PrimitiveTopology::TriangleStrip;
        let list = wgpu::PrimitiveTopology::TriangleList;
        let r8 = wgpu::TextureFormat::R8Unorm;
        let canvas = [target(CANVAS_FORMAT, Some(blend))];
        Self {
            solid: pipeline(
                "livekit.compositor.draw.solid.pipeline",
                &solid_layout,
                &draw_shader,
                ("vs_main", "fs_solid"),
                strip,
                &canvas,
            ),
            rgba: pipeline(
                "livekit.compositor.draw.rgba.pipeline",
                &planes_layout,
                &draw_shader,
                ("vs_main", "fs_rgba"),
                strip,
                &canvas,
            ),
            rgba_whole: pipeline(
                "livekit.compositor.draw.rgba_whole.pipeline",
                &planes_layout,
                &draw_shader,
                ("vs_main", "fs_rgba_whole"),
                strip,
                &canvas,
            ),
            yuv: pipeline(
                "livekit.compositor.draw.yuv.pipeline",
                &planes_layout,
                &draw_shader,
                ("vs_main", "fs_yuv"),
                strip,
                &canvas,
            ),
            luma: pipeline(
                "livekit.compositor.convert.luma.pipeline",
                &planes_layout,
                &convert_shader,
                ("vs_fullscreen", "fs_luma"),
                list,
                &[target(r8, None)],
            ),
            chroma_planar: pipeline(
                "livekit.compositor.convert.chroma_planar.pipeline",
                &planes_layout,
                &convert_shader,
                ("vs_fullscreen", "fs_chroma_planar"),
                list,
                &[target(r8, None), target(r8, None)],
            ),
            chroma_nv12: pipeline(
                "livekit.compositor.convert.chroma_nv12.pipeline",
                &planes_layout,
                &convert_shader,
                ("vs_fullscreen", "fs_chroma_nv12"),
                list,
                &[target(wgpu::TextureFormat::Rg8Unorm, None)],
            ),
            uniform_layout,
            texture_layout,
            sampler,
        }
    }

    /// A bind group sampling `planes` (missing planes repeat the first).
    fn planes_group(
        &self,
        device: &wgpu::Device,
        planes: &[&wgpu::TextureView],
    ) -> wgpu::BindGroup {
        let view = |i: usize| planes.get(i).or(planes.first()).copied();
        let mut entries = Vec::with_capacity(4);
        for (binding, view) in (0..3).filter_map(|i| view(i).map(|v| (i as u32, v))) {
            entries.push(wgpu::BindGroupEntry {
                binding,
                resource: wgpu::BindingResource::TextureView(view),
            });
        }
        entries.push(wgpu::BindGroupEntry {
            binding: 3,
            resource: wgpu::BindingResource::Sampler(&self.sampler),
        });
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("livekit.compositor.planes.bind_group"),
            layout: &self.texture_layout,
            entries: &entries,
        })
    }
}

/// The frame's uniforms: one slot of `stride` bytes per draw, in one buffer bound at dynamic
/// offsets. The buffer grows (to a power of two) when a frame needs more slots.
struct Uniforms {
    stride: u64,
    capacity: u64,
    buffer: wgpu::Buffer,
    group: wgpu::BindGroup,
    staging: Vec<u8>,
}

impl Uniforms {
    fn new(device: &wgpu::Device, layout: &wgpu::BindGroupLayout) -> Self {
        let align = u64::from(device.limits().min_uniform_buffer_offset_alignment).max(1);
        let stride = UNIFORM_SIZE.next_multiple_of(align);
        let capacity = 16;
        let (buffer, group) = Self::create(device, layout, stride, capacity);
        Self {
            stride,
            capacity,
            buffer,
            group,
            staging: Vec::new(),
        }
    }

    fn create(
        device: &wgpu::Device,
        layout: &wgpu::BindGroupLayout,
        stride: u64,
        capacity: u64,
    ) -> (wgpu::Buffer, wgpu::BindGroup) {
        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("livekit.compositor.uniforms.buffer"),
            size: stride * capacity,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("livekit.compositor.uniforms.bind_group"),
            layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &buffer,
                    offset: 0,
                    size: NonZeroU64::new(UNIFORM_SIZE),
                }),
            }],
        });
        (buffer, group)
    }

    /// Adds one slot; returns its dynamic offset.
    fn push<T: Pod>(&mut self, value: &T) -> Result<u32, String> {
        let offset = self.staging.len();
        self.staging.extend_from_slice(bytemuck::bytes_of(value));
        self.staging.resize(offset + self.stride as usize, 0);
        u32::try_from(offset).map_err(|_| "too many draws for one uniform buffer".to_owned())
    }

    /// Writes the slots pushed since the last upload (growing the buffer when needed).
    fn upload(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        layout: &wgpu::BindGroupLayout,
    ) {
        let needed = (self.staging.len() as u64).div_ceil(self.stride);
        if needed > self.capacity {
            self.capacity = needed.next_power_of_two();
            (self.buffer, self.group) = Self::create(device, layout, self.stride, self.capacity);
        }
        if !self.staging.is_empty() {
            queue.write_buffer(&self.buffer, 0, &self.staging);
        }
        self.staging.clear();
    }
}

/// Which pipeline a draw uses.
#[derive(Clone, Copy)]
enum Kind {
    Solid,
    /// RGBA or BGRA, clamped to a crop.
    Rgba,
    /// RGBA or BGRA shown whole: the sampler's clamp-to-edge is the clamp.
    RgbaWhole,
    Yuv,
}

/// One recorded draw: its pipeline, uniform slot and (for pictures) planes.
struct DrawOp {
    kind: Kind,
    offset: u32,
    planes: Option<wgpu::BindGroup>,
}

/// A texture to copy into the read-back buffer: texture, bytes per texel.
struct Readback<'a> {
    texture: &'a PooledTexture,
    texel_bytes: u32,
}

pub(crate) struct GpuBackend {
    name: String,
    device: wgpu::Device,
    queue: wgpu::Queue,
    max_texture: u32,
    faults: Arc<Faults>,
    pipelines: Pipelines,
    uniforms: Uniforms,
    textures: TexturePool,
    /// Uploaded pictures, by canvas name.
    sources: HashMap<String, SourceCache>,
    /// Read-back buffers by size.
    readback: HashMap<u64, wgpu::Buffer>,
    frames: crate::pools::FramePools,
    renders: u64,
}

impl GpuBackend {
    /// Opens the high-performance adapter (any backend wgpu finds, `WGPU_BACKEND` and friends
    /// respected). A software rasterizer is accepted only with `allow_software`.
    pub(crate) fn new(allow_software: bool) -> Result<Self, CreateBackendError> {
        let adapter = request_adapter().ok_or(CreateBackendError::NoAdapter)?;
        let info = adapter.get_info();
        let name = format!("{} ({:?})", info.name, info.backend);
        if info.device_type == wgpu::DeviceType::Cpu && !allow_software {
            return Err(CreateBackendError::SoftwareOnly { adapter: name });
        }
        let device_error = |reason: String| CreateBackendError::Device {
            adapter: name.clone(),
            reason,
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("livekit.compositor.device"),
            // The adapter's limits: canvases and inputs can be as large as it allows.
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|e| device_error(e.to_string()))?;

        let faults = Arc::new(Faults::default());
        let lost = Arc::clone(&faults);
        device.set_device_lost_callback(move |reason, message| {
            tracing::error!("the GPU device was lost ({reason:?}): {message}");
            *lost.lost.lock() = Some(format!("{reason:?}: {message}"));
        });
        let uncaptured = Arc::clone(&faults);
        device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
            tracing::error!("wgpu error: {error}");
            *uncaptured.uncaptured.lock() = Some(error.to_string());
        }));

        let scopes = error_scopes(&device);
        let pipelines = Pipelines::new(&device);
        let uniforms = Uniforms::new(&device, &pipelines.uniform_layout);
        if let Some(reason) = pop_scopes(scopes) {
            return Err(device_error(reason));
        }
        let max_texture = device.limits().max_texture_dimension_2d;
        tracing::info!("GPU compositor on {name}");
        Ok(Self {
            name,
            device,
            queue,
            max_texture,
            faults,
            pipelines,
            uniforms,
            textures: TexturePool::default(),
            sources: HashMap::new(),
            readback: HashMap::new(),
            frames: crate::pools::FramePools::default(),
            renders: 0,
        })
    }

    /// Forgets every pooled resource (after an error their state is unknown).
    fn reset(&mut self) {
        self.textures.clear();
        self.sources.clear();
        self.readback.clear();
        self.uniforms.staging.clear();
    }

    fn check_size(&self, width: u32, height: u32, what: &str) -> Result<(), String> {
        if width > self.max_texture || height > self.max_texture {
            return Err(format!(
                "{what} is {width}x{height}, larger than the GPU's textures ({} pixels a side)",
                self.max_texture
            ));
        }
        Ok(())
    }

    /// Uploads the pictures of `frames` that are not on the GPU yet; returns the bind group of
    /// each.
    fn prepare_sources(
        &mut self,
        canvas: &str,
        frames: &[&VideoFrame],
    ) -> Result<Vec<wgpu::BindGroup>, String> {
        for frame in frames {
            self.check_size(frame.width(), frame.height(), "a picture")?;
        }
        let Self {
            device,
            queue,
            pipelines,
            textures,
            sources,
            renders,
            ..
        } = self;
        if !sources.contains_key(canvas) {
            sources.insert(canvas.to_owned(), SourceCache::default());
        }
        let cache = sources
            .get_mut(canvas)
            .ok_or_else(|| "source cache missing".to_owned())?;
        cache.last_render = *renders;
        for source in &mut cache.sources {
            source.used = false;
        }
        let same_buffer = |cache: &SourceCache, frame: &VideoFrame| {
            cache.sources.iter().position(|s| {
                s.frame.shares_buffer_with(frame) && s.frame.layout() == frame.layout()
            })
        };
        let mut found: Vec<Option<usize>> = Vec::with_capacity(frames.len());
        // The same buffer as in an earlier render: nothing to upload.
        for frame in frames {
            let index = same_buffer(cache, frame);
            if let Some(i) = index {
                cache.sources[i].used = true;
            }
            found.push(index);
        }
        for (frame, found) in frames.iter().zip(&mut found) {
            if found.is_some() {
                continue;
            }
            // Uploaded a moment ago for another draw of this render.
            if let Some(i) = same_buffer(cache, frame) {
                *found = Some(i);
                continue;
            }
            let planes = resources::plane_textures(frame.format(), frame.width(), frame.height())
                .ok_or_else(|| format!("unsupported pixel format {}", frame.format()))?;
            // New pixels: into textures of the same shape that this render does not use, or
            // into new ones.
            let reuse = cache.sources.iter().position(|s| {
                !s.used
                    && resources::plane_textures(
                        s.frame.format(),
                        s.frame.width(),
                        s.frame.height(),
                    )
                    .as_ref()
                        == Some(&planes)
            });
            let index = match reuse {
                Some(i) => i,
                None => {
                    let textures: Vec<PooledTexture> = planes
                        .iter()
                        .map(|&(width, height, format)| {
                            textures.acquire(
                                device,
                                TextureKey {
                                    width,
                                    height,
                                    format,
                                    usage: wgpu::TextureUsages::TEXTURE_BINDING
                                        | wgpu::TextureUsages::COPY_DST,
                                },
                                "livekit.compositor.source.texture",
                            )
                        })
                        .collect();
                    let views: Vec<&wgpu::TextureView> = textures.iter().map(|t| &t.view).collect();
                    let group = pipelines.planes_group(device, &views);
                    cache.sources.push(Source {
                        frame: (*frame).clone(),
                        planes: textures,
                        group,
                        used: false,
                    });
                    cache.sources.len() - 1
                }
            };
            let source = &mut cache.sources[index];
            upload(queue, &source.planes, frame)?;
            source.frame = (*frame).clone();
            source.used = true;
            *found = Some(index);
        }
        found
            .into_iter()
            .map(|i| {
                i.map(|i| cache.sources[i].group.clone())
                    .ok_or_else(|| "a picture was not uploaded".to_owned())
            })
            .collect()
    }

    /// The uniform slots and pipelines of `draws`; `groups` holds the planes of each picture,
    /// in order.
    fn plan_draws(
        &mut self,
        draws: &[Draw<'_>],
        groups: &mut impl Iterator<Item = wgpu::BindGroup>,
        size: (u32, u32),
    ) -> Result<Vec<DrawOp>, String> {
        let mut ops = Vec::with_capacity(draws.len());
        for draw in draws {
            let mut uniforms = quad_uniforms(draw, size);
            let (kind, planes) = match draw.content {
                Content::Solid(c) => {
                    let [r, g, b, a] = c.map(|v| f32::from(v) / 255.0);
                    uniforms.color = [r, g, b, a * draw.opacity];
                    (Kind::Solid, None)
                }
                Content::Frame(frame) => {
                    uniforms.color = [1.0, 1.0, 1.0, draw.opacity];
                    let (w, h) = (frame.width() as f32, frame.height() as f32);
                    let kind = match frame.format() {
                        PixelFormat::I420(cs) => {
                            (uniforms.yuv0, uniforms.yuv1) = to_rgb(cs);
                            uniforms.size = [w, h, 0.0, 0.0];
                            Kind::Yuv
                        }
                        PixelFormat::Nv12(cs) => {
                            (uniforms.yuv0, uniforms.yuv1) = to_rgb(cs);
                            uniforms.size = [w, h, 1.0, 0.0];
                            Kind::Yuv
                        }
                        _ if draw.clamp == [0.0, 0.0, w, h] => {
                            uniforms.size = [w, h, 0.0, 0.0];
                            Kind::RgbaWhole
                        }
                        _ => {
                            uniforms.size = [w, h, 0.0, 0.0];
                            Kind::Rgba
                        }
                    };
                    let group = groups
                        .next()
                        .ok_or_else(|| "a picture has no textures".to_owned())?;
                    (kind, Some(group))
                }
            };
            ops.push(DrawOp {
                kind,
                offset: self.uniforms.push(&uniforms)?,
                planes,
            });
        }
        Ok(ops)
    }

    fn canvas_texture(&mut self, width: u32, height: u32) -> PooledTexture {
        let key = TextureKey {
            width,
            height,
            format: CANVAS_FORMAT,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT
                | wgpu::TextureUsages::TEXTURE_BINDING
                | wgpu::TextureUsages::COPY_SRC,
        };
        let mut texture =
            self.textures
                .acquire(&self.device, key, "livekit.compositor.canvas.texture");
        if texture.group.is_none() {
            texture.group = Some(self.pipelines.planes_group(&self.device, &[&texture.view]));
        }
        texture
    }

    fn target_texture(
        &mut self,
        width: u32,
        height: u32,
        format: wgpu::TextureFormat,
    ) -> PooledTexture {
        let key = TextureKey {
            width,
            height,
            format,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
        };
        self.textures
            .acquire(&self.device, key, "livekit.compositor.output.texture")
    }

    /// Renders one frame; any error is a message for [`RenderError::Gpu`].
    fn render_frame(&mut self, canvas: &str, job: &RenderJob<'_>) -> Result<VideoFrame, String> {
        let (width, height) = (job.width, job.height);
        self.check_size(width, height, "the canvas")?;
        self.renders += 1;
        self.uniforms.staging.clear();

        // Prepare: uploads and uniforms.
        let fade_draws: &[Draw<'_>] = job.fade.as_ref().map_or(&[], |(d, _)| d);
        let frames: Vec<&VideoFrame> = job
            .draws
            .iter()
            .chain(fade_draws)
            .filter_map(|d| match d.content {
                Content::Frame(frame) => Some(frame),
                Content::Solid(_) => None,
            })
            .collect();
        let groups = self.prepare_sources(canvas, &frames)?;
        let mut groups = groups.into_iter();
        let size = (width, height);
        let main_ops = self.plan_draws(&job.draws, &mut groups, size)?;
        let fade_ops = match &job.fade {
            Some((draws, weight)) => {
                let ops = self.plan_draws(draws, &mut groups, size)?;
                let full = [0.0, 0.0, width as f32, height as f32];
                let corner =
                    |x: f32, y: f32| [x * 2.0 - 1.0, 1.0 - y * 2.0, x * full[2], y * full[3]];
                let composite = DrawUniforms {
                    corners: [
                        corner(0.0, 0.0),
                        corner(1.0, 0.0),
                        corner(0.0, 1.0),
                        corner(1.0, 1.0),
                    ],
                    clamp: full,
                    color: [1.0, 1.0, 1.0, weight.clamp(0.0, 1.0)],
                    size: [full[2], full[3], 0.0, 0.0],
                    ..Zeroable::zeroed()
                };
                Some((ops, self.uniforms.push(&composite)?))
            }
            None => None,
        };
        let convert = match job.output {
            OutputFormat::Rgba8 => None,
            OutputFormat::I420(cs) | OutputFormat::Nv12(cs) => {
                Some(self.uniforms.push(&to_yuv(cs))?)
            }
        };
        self.uniforms
            .upload(&self.device, &self.queue, &self.pipelines.uniform_layout);

        // Render.
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("livekit.compositor.frame.encoder"),
            });
        let [r, g, b, _] = job.background.map(|v| f64::from(v) / 255.0);
        let background = wgpu::Color { r, g, b, a: 1.0 };
        let canvas_texture = self.canvas_texture(width, height);
        self.draw_pass(
            &mut encoder,
            &canvas_texture.view,
            background,
            &main_ops,
            "main",
        );
        let mut used = vec![];
        if let Some((ops, composite)) = fade_ops {
            let incoming = self.canvas_texture(width, height);
            self.draw_pass(&mut encoder, &incoming.view, background, &ops, "incoming");
            let mut pass = begin_pass(
                &mut encoder,
                "livekit.compositor.fade.pass",
                &[&canvas_texture.view],
                None,
            );
            pass.set_pipeline(&self.pipelines.rgba_whole);
            pass.set_bind_group(0, &self.uniforms.group, &[composite]);
            pass.set_bind_group(1, incoming.group.as_ref(), &[]);
            pass.draw(0..4, 0..1);
            drop(pass);
            used.push(incoming);
        }
        let (format, outputs) = match (job.output, convert) {
            (OutputFormat::I420(cs), Some(offset)) => {
                let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
                let r8 = wgpu::TextureFormat::R8Unorm;
                let planes = vec![
                    self.target_texture(width, height, r8),
                    self.target_texture(cw, ch, r8),
                    self.target_texture(cw, ch, r8),
                ];
                self.convert_passes(&mut encoder, &canvas_texture, &planes, offset, false);
                (PixelFormat::I420(cs), planes)
            }
            (OutputFormat::Nv12(cs), Some(offset)) => {
                let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
                let planes = vec![
                    self.target_texture(width, height, wgpu::TextureFormat::R8Unorm),
                    self.target_texture(cw, ch, wgpu::TextureFormat::Rg8Unorm),
                ];
                self.convert_passes(&mut encoder, &canvas_texture, &planes, offset, true);
                (PixelFormat::Nv12(cs), planes)
            }
            _ => (PixelFormat::Rgba8, vec![]),
        };
        let copies: Vec<Readback<'_>> = if outputs.is_empty() {
            vec![Readback {
                texture: &canvas_texture,
                texel_bytes: 4,
            }]
        } else {
            outputs
                .iter()
                .map(|texture| Readback {
                    texture,
                    texel_bytes: texture.key.format.block_copy_size(None).unwrap_or(1),
                })
                .collect()
        };
        let frame = self.read_back(encoder, &copies, format, job.pts);
        drop(copies);

        // Trim: targets back to the pool, unused uploads dropped.
        self.textures.release(canvas_texture);
        used.into_iter()
            .chain(outputs)
            .for_each(|t| self.textures.release(t));
        if let Some(cache) = self.sources.get_mut(canvas) {
            cache.drop_unused(&mut self.textures);
        }
        let now = self.renders;
        let stale: Vec<String> = self
            .sources
            .iter()
            .filter(|(_, c)| now - c.last_render > KEEP_CANVAS_RENDERS)
            .map(|(name, _)| name.clone())
            .collect();
        for name in stale {
            if let Some(cache) = self.sources.remove(&name) {
                cache.release_all(&mut self.textures);
            }
        }
        self.textures.trim();
        frame
    }

    fn draw_pass(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        target: &wgpu::TextureView,
        background: wgpu::Color,
        ops: &[DrawOp],
        what: &str,
    ) {
        let label = format!("livekit.compositor.{what}.pass");
        let mut pass = begin_pass(encoder, &label, &[target], Some(background));
        for op in ops {
            pass.set_pipeline(match op.kind {
                Kind::Solid => &self.pipelines.solid,
                Kind::Rgba => &self.pipelines.rgba,
                Kind::RgbaWhole => &self.pipelines.rgba_whole,
                Kind::Yuv => &self.pipelines.yuv,
            });
            pass.set_bind_group(0, &self.uniforms.group, &[op.offset]);
            if let Some(planes) = &op.planes {
                pass.set_bind_group(1, planes, &[]);
            }
            pass.draw(0..4, 0..1);
        }
    }

    /// Luma into `planes[0]`, chroma into `planes[1..]` (U and V, or interleaved UV).
    fn convert_passes(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        canvas: &PooledTexture,
        planes: &[PooledTexture],
        offset: u32,
        nv12: bool,
    ) {
        let p = &self.pipelines;
        let [luma, chroma @ ..] = planes else {
            return;
        };
        let mut pass = begin_pass(
            encoder,
            "livekit.compositor.convert.luma.pass",
            &[&luma.view],
            None,
        );
        pass.set_pipeline(&p.luma);
        pass.set_bind_group(0, &self.uniforms.group, &[offset]);
        pass.set_bind_group(1, canvas.group.as_ref(), &[]);
        pass.draw(0..3, 0..1);
        drop(pass);
        let views: Vec<&wgpu::TextureView> = chroma.iter().map(|t| &t.view).collect();
        let mut pass = begin_pass(
            encoder,
            "livekit.compositor.convert.chroma.pass",
            &views,
            None,
        );
        pass.set_pipeline(if nv12 {
            &p.chroma_nv12
        } else {
            &p.chroma_planar
        });
        pass.set_bind_group(0, &self.uniforms.group, &[offset]);
        pass.set_bind_group(1, canvas.group.as_ref(), &[]);
        pass.draw(0..3, 0..1);
    }

    /// Copies `copies` (the planes of the output, in order) into a read-back buffer, submits,
    /// waits, and repacks the rows into a pooled frame.
    fn read_back(
        &mut self,
        mut encoder: wgpu::CommandEncoder,
        copies: &[Readback<'_>],
        format: PixelFormat,
        pts: Duration,
    ) -> Result<VideoFrame, String> {
        // (offset, padded bytes per row) of each plane in the buffer.
        let mut places = Vec::with_capacity(copies.len());
        let mut size = 0u64;
        for copy in copies {
            let key = copy.texture.key;
            let row = u64::from(key.width) * u64::from(copy.texel_bytes);
            let padded = row.next_multiple_of(u64::from(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT));
            places.push((size, padded));
            size += padded * u64::from(key.height);
        }
        if !self.readback.contains_key(&size) && self.readback.len() >= MAX_READBACK_BUFFERS {
            self.readback.clear();
        }
        let device = &self.device;
        let buffer = self.readback.entry(size).or_insert_with(|| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("livekit.compositor.readback.buffer"),
                size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        let buffer = &buffer.clone();
        for (copy, &(offset, padded)) in copies.iter().zip(&places) {
            let key = copy.texture.key;
            encoder.copy_texture_to_buffer(
                wgpu::TexelCopyTextureInfo {
                    texture: &copy.texture.texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d::ZERO,
                    aspect: wgpu::TextureAspect::All,
                },
                wgpu::TexelCopyBufferInfo {
                    buffer,
                    layout: wgpu::TexelCopyBufferLayout {
                        offset,
                        bytes_per_row: Some(to_u32(padded)?),
                        rows_per_image: Some(key.height),
                    },
                },
                wgpu::Extent3d {
                    width: key.width,
                    height: key.height,
                    depth_or_array_layers: 1,
                },
            );
        }
        let submission = self.queue.submit([encoder.finish()]);
        let slice = buffer.slice(..);
        let mapped = Arc::new(Mutex::new(None));
        let done = Arc::clone(&mapped);
        slice.map_async(wgpu::MapMode::Read, move |result| {
            *done.lock() = Some(result);
        });
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(submission),
                timeout: Some(GPU_TIMEOUT),
            })
            .map_err(|e| format!("waiting for the GPU: {e}"))?;
        let result = mapped.lock().take();
        match result {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(format!("reading the frame back: {e}")),
            None => return Err("the frame's read-back did not complete".to_owned()),
        }

        let (width, height) = copies
            .first()
            .map(|c| (c.texture.key.width, c.texture.key.height))
            .ok_or_else(|| "nothing to read back".to_owned())?;
        let mut out = self
            .frames
            .acquire(width, height, format, pts)
            .map_err(|e| e.to_string())?;
        let result = slice
            .get_mapped_range()
            .map_err(|e| format!("reading the frame back: {e}"))
            .and_then(|mapped| {
                let layout = *out.layout();
                if places.len() != layout.plane_count() {
                    return Err(format!("read back {} planes for {format}", places.len()));
                }
                for (plane, &(offset, padded)) in places.iter().enumerate() {
                    let (stride, row_bytes) = (layout.stride(plane), layout.row_bytes(plane));
                    let src = mapped.get(offset as usize..).unwrap_or_default();
                    for (dst, src) in out
                        .plane_mut(plane)
                        .chunks_mut(stride)
                        .zip(src.chunks(padded as usize))
                        .take(layout.rows(plane))
                    {
                        let (Some(dst), Some(src)) =
                            (dst.get_mut(..row_bytes), src.get(..row_bytes))
                        else {
                            return Err("the read-back buffer is shorter than the frame".to_owned());
                        };
                        dst.copy_from_slice(src);
                    }
                }
                Ok(())
            });
        buffer.unmap();
        result.map(|()| out.freeze())
    }
}

impl Backend for GpuBackend {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: BackendKind::Gpu,
            name: self.name.clone(),
        }
    }

    fn render(&mut self, canvas: &str, job: &RenderJob<'_>) -> Result<VideoFrame, RenderError> {
        let fail = |reason: String| RenderError::Gpu {
            canvas: canvas.to_owned(),
            reason,
        };
        if let Some(reason) = self.faults.lost.lock().clone() {
            return Err(fail(format!("the GPU device was lost: {reason}")));
        }
        let scopes = error_scopes(&self.device);
        let result = self.render_frame(canvas, job);
        let scoped = pop_scopes(scopes);
        let lost = self.faults.lost.lock().clone();
        let uncaptured = self.faults.uncaptured.lock().take();
        let error = lost
            .map(|r| format!("the GPU device was lost: {r}"))
            .or(scoped)
            .or(uncaptured);
        match (result, error) {
            (Ok(frame), None) => Ok(frame),
            (_, Some(reason)) | (Err(reason), None) => {
                self.reset();
                Err(fail(reason))
            }
        }
    }
}

/// The high-performance adapter among the backends the environment allows (`WGPU_BACKEND`,
/// default all).
fn request_adapter() -> Option<wgpu::Adapter> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        force_fallback_adapter: false,
        compatible_surface: None,
        apply_limit_buckets: false,
    }))
    .ok()
}

/// Pushes error scopes for every kind of error; pop them with [`pop_scopes`].
fn error_scopes(device: &wgpu::Device) -> [wgpu::ErrorScopeGuard; 3] {
    [
        wgpu::ErrorFilter::Validation,
        wgpu::ErrorFilter::OutOfMemory,
        wgpu::ErrorFilter::Internal,
    ]
    .map(|filter| device.push_error_scope(filter))
}

/// Pops the scopes (innermost first); the first error caught, if any.
fn pop_scopes(scopes: [wgpu::ErrorScopeGuard; 3]) -> Option<String> {
    let mut first = None;
    for scope in scopes.into_iter().rev() {
        if let Some(error) = pollster::block_on(scope.pop()) {
            first.get_or_insert_with(|| error.to_string());
        }
    }
    first
}

fn begin_pass<'e>(
    encoder: &'e mut wgpu::CommandEncoder,
    label: &str,
    targets: &[&wgpu::TextureView],
    clear: Option<wgpu::Color>,
) -> wgpu::RenderPass<'e> {
    let attachments: Vec<Option<wgpu::RenderPassColorAttachment<'_>>> = targets
        .iter()
        .map(|view| {
            Some(wgpu::RenderPassColorAttachment {
                view,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: clear.map_or(wgpu::LoadOp::Load, wgpu::LoadOp::Clear),
                    store: wgpu::StoreOp::Store,
                },
            })
        })
        .collect();
    encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
        label: Some(label),
        color_attachments: &attachments,
        depth_stencil_attachment: None,
        timestamp_writes: None,
        occlusion_query_set: None,
        multiview_mask: None,
    })
}

/// Writes the planes of `frame` into `planes`, honouring its strides.
fn upload(queue: &wgpu::Queue, planes: &[PooledTexture], frame: &VideoFrame) -> Result<(), String> {
    for (plane, texture) in planes.iter().enumerate() {
        queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &texture.texture,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            frame.plane(plane),
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(to_u32(frame.stride(plane) as u64)?),
                rows_per_image: None,
            },
            wgpu::Extent3d {
                width: texture.key.width,
                height: texture.key.height,
                depth_or_array_layers: 1,
            },
        );
    }
    Ok(())
}

fn to_u32(value: u64) -> Result<u32, String> {
    u32::try_from(value).map_err(|_| format!("{value} bytes is too large for a GPU copy"))
}

/// The corners (clip space and source texels) and the clamp area of a draw.
fn quad_uniforms(draw: &Draw<'_>, (width, height): (u32, u32)) -> DrawUniforms {
    let q = &draw.quad;
    let [u0, v0, u1, v1] = draw.src;
    let (w, h) = (width as f32, height as f32);
    let corner = |lx: f32, ly: f32, u: f32, v: f32| {
        let (x, y) = q.to_canvas(lx, ly);
        [x / w * 2.0 - 1.0, 1.0 - y / h * 2.0, u, v]
    };
    DrawUniforms {
        corners: [
            corner(-q.hw, -q.hh, u0, v0),
            corner(q.hw, -q.hh, u1, v0),
            corner(-q.hw, q.hh, u0, v1),
            corner(q.hw, q.hh, u1, v1),
        ],
        clamp: draw.clamp,
        ..Zeroable::zeroed()
    }
}

/// Luma and chroma weights (kr, kb) of a matrix.
fn weights(matrix: ColorMatrix) -> (f32, f32) {
    match matrix {
        ColorMatrix::Bt709 => (0.2126, 0.0722),
        _ => (0.299, 0.114),
    }
}

/// YUV -> RGB for `draw.wgsl`, in 0..255 units: (y offset, y scale, r from v, g from u),
/// (g from v, b from u, 0, 0). The same formulas as the CPU backend's `ToRgb`.
fn to_rgb(cs: ColorSpace) -> ([f32; 4], [f32; 4]) {
    let (kr, kb) = weights(cs.matrix);
    let kg = 1.0 - kr - kb;
    let (y_offset, y_scale, c_scale) = match cs.range {
        ColorRange::Full => (0.0, 1.0, 1.0),
        _ => (16.0, 255.0 / 219.0, 255.0 / 224.0),
    };
    (
        [
            y_offset,
            y_scale,
            2.0 * (1.0 - kr) * c_scale,
            2.0 * kb * (1.0 - kb) / kg * c_scale,
        ],
        [
            2.0 * kr * (1.0 - kr) / kg * c_scale,
            2.0 * (1.0 - kb) * c_scale,
            0.0,
            0.0,
        ],
    )
}

/// RGB -> YUV for `convert.wgsl`, in 0..255 units. The same formulas as the CPU backend's
/// `ToYuv`.
fn to_yuv(cs: ColorSpace) -> ConvertUniforms {
    let (kr, kb) = weights(cs.matrix);
    let kg = 1.0 - kr - kb;
    let (y_offset, y_scale, c_scale) = match cs.range {
        ColorRange::Full => (0.0, 1.0, 1.0),
        _ => (16.0, 219.0 / 255.0, 224.0 / 255.0),
    };
    let cu = c_scale / (2.0 * (1.0 - kb));
    let cv = c_scale / (2.0 * (1.0 - kr));
    ConvertUniforms {
        y: [kr * y_scale, kg * y_scale, kb * y_scale, y_offset],
        u: [-kr * cu, -kg * cu, (1.0 - kb) * cu, 128.0],
        v: [(1.0 - kr) * cv, -kg * cv, -kb * cv, 128.0],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Quad;

    fn job(draws: Vec<Draw<'_>>, output: OutputFormat) -> RenderJob<'_> {
        RenderJob {
            width: 64,
            height: 36,
            background: [10, 20, 30, 255],
            draws,
            fade: None,
            output,
            pts: Duration::from_millis(40),
        }
    }

    fn solid(color: [u8; 4]) -> Draw<'static> {
        Draw {
            content: Content::Solid(color),
            quad: Quad {
                cx: 16.0,
                cy: 18.0,
                hw: 16.0,
                hh: 18.0,
                cos: 1.0,
                sin: 0.0,
            },
            src: [0.0, 0.0, 1.0, 1.0],
            clamp: [0.0, 0.0, 1.0, 1.0],
            opacity: 1.0,
        }
    }

    fn backend() -> Option<GpuBackend> {
        match GpuBackend::new(true) {
            Ok(b) => Some(b),
            Err(CreateBackendError::NoAdapter) => {
                eprintln!("skipped: no GPU adapter");
                None
            }
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn renders_and_reuses_its_resources() {
        let Some(mut gpu) = backend() else { return };
        assert!(gpu.info().name.contains('('), "{}", gpu.info().name);
        for _ in 0..3 {
            let frame = gpu
                .render(
                    "test",
                    &job(vec![solid([200, 100, 50, 255])], OutputFormat::Rgba8),
                )
                .expect("render");
            assert_eq!(frame.pts(), Duration::from_millis(40));
            assert_eq!(frame.rgba_at(0, 0), Some([200, 100, 50, 255]));
            assert_eq!(frame.rgba_at(63, 35), Some([10, 20, 30, 255]));
        }
        // One canvas texture, free between renders; no source textures.
        assert_eq!(gpu.textures.free.values().map(Vec::len).sum::<usize>(), 1);
        assert_eq!(gpu.readback.len(), 1);
    }

    /// A lost device is an error for every later frame, never a panic.
    #[test]
    fn lost_device_is_an_error() {
        let Some(mut gpu) = backend() else { return };
        gpu.device.destroy();
        for output in [
            OutputFormat::Rgba8,
            OutputFormat::I420(ColorSpace::BT709_LIMITED),
        ] {
            let error = gpu
                .render("lost", &job(vec![solid([1, 2, 3, 255])], output))
                .expect_err("a destroyed device cannot render");
            let RenderError::Gpu { canvas, reason } = error else {
                panic!("unexpected error {error:?}");
            };
            assert_eq!(canvas, "lost");
            println!("{reason}");
        }
    }
}
