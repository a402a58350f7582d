// Converts the RGBA canvas into YUV planes: luma per pixel, chroma from the average of each 2x2
// block (for odd sizes the last block repeats the edge, which averages only the pixels that
// exist, as the CPU backend does). Outputs are unorm targets: values in 0..255 are divided by
// 255 and the store rounds and clamps them.
//
// Must match `ConvertUniforms` in mod.rs.
struct Convert {
    // Per output: weights of R, G and B, and the offset, in 0..255 units.
    y: vec4<f32>,
    u: vec4<f32>,
    v: vec4<f32>,
}

@group(0) @binding(0) var<uniform> convert: Convert;

// The canvas (bindings 1..3 of the shared layout are not used here).
@group(1) @binding(0) var canvas: texture_2d<f32>;

// One triangle that covers the whole target.
@vertex
fn vs_fullscreen(@builtin(vertex_index) index: u32) -> @builtin(position) vec4<f32> {
    let uv = vec2<f32>(f32((index << 1u) & 2u), f32(index & 2u));
    return vec4<f32>(uv.x * 2.0 - 1.0, 1.0 - uv.y * 2.0, 0.0, 1.0);
}

fn rgb_at(p: vec2<i32>) -> vec3<f32> {
    return round(textureLoad(canvas, p, 0).rgb * 255.0);
}

@fragment
fn fs_luma(@builtin(position) position: vec4<f32>) -> @location(0) vec4<f32> {
    let rgb = rgb_at(vec2<i32>(position.xy));
    return vec4<f32>((dot(convert.y.xyz, rgb) + convert.y.w) / 255.0, 0.0, 0.0, 1.0);
}

// U and V of the 2x2 block of the chroma sample at `position`, in 0..1.
fn chroma(position: vec4<f32>) -> vec2<f32> {
    let last = vec2<i32>(textureDimensions(canvas)) - 1;
    let p0 = vec2<i32>(position.xy) * 2;
    let p1 = min(p0 + 1, last);
    let sum = rgb_at(p0) + rgb_at(vec2<i32>(p1.x, p0.y)) + rgb_at(vec2<i32>(p0.x, p1.y)) + rgb_at(p1);
    let rgb = sum * 0.25;
    return vec2<f32>(dot(convert.u.xyz, rgb) + convert.u.w, dot(convert.v.xyz, rgb) + convert.v.w) / 255.0;
}

struct Planar {
    @location(0) u: vec4<f32>,
    @location(1) v: vec4<f32>,
}

// I420: U and V into two R8 targets.
@fragment
fn fs_chroma_planar(@builtin(position) position: vec4<f32>) -> Planar {
    let c = chroma(position);
    var out: Planar;
    out.u = vec4<f32>(c.x, 0.0, 0.0, 1.0);
    out.v = vec4<f32>(c.y, 0.0, 0.0, 1.0);
    return out;
}

// NV12: interleaved UV into one RG8 target.
@fragment
fn fs_chroma_nv12(@builtin(position) position: vec4<f32>) -> @location(0) vec4<f32> {
    return vec4<f32>(chroma(position), 0.0, 1.0);
}
