// Draws one quad of the plan (see plan.rs) onto the canvas: a solid colour, or a picture whose
// source position is interpolated across the quad, clamped to the texel centres of the crop and
// sampled bilinearly. Blending (src-alpha over, on sRGB-encoded values) is the pipeline's.
//
// Must match `DrawUniforms` in mod.rs.
struct Draw {
    // Per corner of the quad (its own top-left, top-right, bottom-left, bottom-right):
    // xy = clip-space position, zw = source position in texels.
    corners: array<vec4<f32>, 4>,
    // The area samples stay in, in texels: x0, y0, x1, y1 (the crop).
    clamp_rect: vec4<f32>,
    // Solid draws: the colour, straight alpha with the opacity folded in.
    // Pictures: a = opacity (rgb unused).
    color: vec4<f32>,
    // xy: the size of plane 0 in texels; z: 1 for NV12 (interleaved chroma), 0 for I420.
    size: vec4<f32>,
    // YUV -> RGB in 0..255 units: (y offset, y scale, r from v, g from u), (g from v, b from u, -, -).
    yuv0: vec4<f32>,
    yuv1: vec4<f32>,
}

@group(0) @binding(0) var<uniform> draw: Draw;

// RGBA/BGRA pictures use plane0 and the sampler; YUV pictures read planes 0..2 texel by texel.
@group(1) @binding(0) var plane0: texture_2d<f32>;
@group(1) @binding(1) var plane1: texture_2d<f32>;
@group(1) @binding(2) var plane2: texture_2d<f32>;
@group(1) @binding(3) var linear_sampler: sampler;

struct VertexOut {
    @builtin(position) position: vec4<f32>,
    @location(0) src: vec2<f32>,
}

// A triangle strip of four vertices: the quad's corners in the order of `corners`.
@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOut {
    let corner = draw.corners[index];
    var out: VertexOut;
    out.position = vec4<f32>(corner.xy, 0.0, 1.0);
    out.src = corner.zw;
    return out;
}

@fragment
fn fs_solid() -> @location(0) vec4<f32> {
    return draw.color;
}

// The source position clamped to the texel centres of the crop.
fn clamped(src: vec2<f32>) -> vec2<f32> {
    return clamp(src, draw.clamp_rect.xy + 0.5, draw.clamp_rect.zw - 0.5);
}

// Pictures shown whole (no crop): clamping to the texel centres of the whole texture is what
// the clamp-to-edge sampler does anyway, and software rasterizers run this much faster.
@fragment
fn fs_rgba_whole(in: VertexOut) -> @location(0) vec4<f32> {
    let c = textureSample(plane0, linear_sampler, in.src / draw.size.xy);
    return vec4<f32>(c.rgb, c.a * draw.color.a);
}

@fragment
fn fs_rgba(in: VertexOut) -> @location(0) vec4<f32> {
    let p = clamped(in.src);
    let c = textureSampleLevel(plane0, linear_sampler, p / draw.size.xy, 0.0);
    return vec4<f32>(c.rgb, c.a * draw.color.a);
}

// One texel of a YUV picture as RGB in 0..255, rounded as the CPU backend rounds: chroma from
// the 2x2 block the texel is in.
fn yuv_texel(p: vec2<i32>) -> vec3<f32> {
    let y = round(textureLoad(plane0, p, 0).r * 255.0);
    let c = p / 2;
    var uv: vec2<f32>;
    if draw.size.z > 0.5 {
        uv = textureLoad(plane1, c, 0).rg;
    } else {
        uv = vec2<f32>(textureLoad(plane1, c, 0).r, textureLoad(plane2, c, 0).r);
    }
    let u = round(uv.x * 255.0) - 128.0;
    let v = round(uv.y * 255.0) - 128.0;
    let l = (y - draw.yuv0.x) * draw.yuv0.y;
    let rgb = vec3<f32>(
        l + draw.yuv0.z * v,
        l - draw.yuv0.w * u - draw.yuv1.x * v,
        l + draw.yuv1.y * u,
    );
    return round(clamp(rgb, vec3<f32>(0.0), vec3<f32>(255.0)));
}

// YUV pictures: converted texel by texel, then interpolated with weights in 1/256 steps, which
// is what the CPU backend does (it converts to RGBA first). All values stay below 2^24, so the
// arithmetic is exact in f32.
@fragment
fn fs_yuv(in: VertexOut) -> @location(0) vec4<f32> {
    let f = clamped(in.src) - 0.5;
    let i = floor(f);
    let w = round((f - i) * 256.0);
    let last = vec2<i32>(draw.clamp_rect.zw) - 1;
    let p0 = vec2<i32>(i);
    let p1 = min(p0 + 1, last);
    let top = yuv_texel(p0) * (256.0 - w.x) + yuv_texel(vec2<i32>(p1.x, p0.y)) * w.x;
    let bottom = yuv_texel(vec2<i32>(p0.x, p1.y)) * (256.0 - w.x) + yuv_texel(p1) * w.x;
    let rgb = floor((top * (256.0 - w.y) + bottom * w.y + 32768.0) / 65536.0);
    return vec4<f32>(rgb / 255.0, draw.color.a);
}
