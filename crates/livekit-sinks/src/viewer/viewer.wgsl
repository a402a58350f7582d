// The Viewer's only shader: draws one frame over the letterboxed viewport.
//
// A full-viewport triangle samples up to three planes. RGB frames use plane0 only (an Rgba8Unorm
// or Bgra8Unorm texture: sampling gives R, G, B, A either way). YUV frames keep their planes in
// R8 textures (I420: Y, U, V) or R8 + RG8 (NV12: Y, interleaved UV) and are converted here with
// the frame's own matrix and range, passed in `params`. Values stay sRGB-encoded end to end: the
// surface is a non-sRGB format, so what the frame holds is what the window shows.

struct Params {
    // rgb = (r, g, b) . (yuv - offset), one row per output channel (w unused).
    r: vec4<f32>,
    g: vec4<f32>,
    b: vec4<f32>,
    // Black level of Y and the zero of U and V, in 0..1 sample units (w unused).
    offset: vec4<f32>,
    // Chroma texture coordinates = frame coordinates * chroma_scale (odd sizes round the chroma
    // planes up, so half a luma pixel must map onto a slightly smaller chroma extent).
    chroma_scale: vec2<f32>,
    // 0: RGB in plane0; 1: I420 (Y, U, V in plane0..2); 2: NV12 (Y in plane0, UV in plane1).
    mode: u32,
    _pad: u32,
}

@group(0) @binding(0) var plane0: texture_2d<f32>;
@group(0) @binding(1) var plane1: texture_2d<f32>;
@group(0) @binding(2) var plane2: texture_2d<f32>;
@group(0) @binding(3) var frame_sampler: sampler;
@group(0) @binding(4) var<uniform> params: Params;

struct VertexOut {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
}

@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOut {
    // (0, 0), (2, 0), (0, 2): one triangle that covers the viewport; uv's y points down.
    let uv = vec2<f32>(f32((index << 1u) & 2u), f32(index & 2u));
    var out: VertexOut;
    out.position = vec4<f32>(uv.x * 2.0 - 1.0, 1.0 - uv.y * 2.0, 0.0, 1.0);
    out.uv = uv;
    return out;
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    // Sample every plane before branching: textureSample needs uniform control flow.
    let chroma_uv = in.uv * params.chroma_scale;
    let s0 = textureSample(plane0, frame_sampler, in.uv);
    let s1 = textureSample(plane1, frame_sampler, chroma_uv);
    let s2 = textureSample(plane2, frame_sampler, chroma_uv);
    if params.mode == 0u {
        // Straight alpha shown over black.
        return vec4<f32>(s0.rgb * s0.a, 1.0);
    }
    var yuv = vec3<f32>(s0.r, s1.r, s2.r);
    if params.mode == 2u {
        yuv = vec3<f32>(s0.r, s1.r, s1.g);
    }
    let d = yuv - params.offset.xyz;
    let rgb = vec3<f32>(dot(params.r.xyz, d), dot(params.g.xyz, d), dot(params.b.xyz, d));
    return vec4<f32>(clamp(rgb, vec3<f32>(0.0), vec3<f32>(1.0)), 1.0);
}
