#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Packs one GEMM operand for nk_gemm_tex: P[off + (b·rp + r)·cp + c] = op(X[b])[r, c] as
// f32 (f16 storage widened exactly), zero past (rows, cols) up to the padded (rp, cp),
// where op(X)[r, c] is X[b·stride + r·ld + c], or X[b·stride + c·ld + r] when trans. The
// panels hold whole rows of four-float texels (cp a multiple of 4): nk_gemm_tex reads them
// through RGBA32F texel buffers. The zero padding of K meets zero padding on the other
// operand, so it adds exact zeros (never 0·inf). One invocation per element.
layout(local_size_x = 64) in;
layout(push_constant) uniform Pc {
    int rows; int cols; int rp; int cp; int ld; int stride; int trans; int batches; int off;
    NK_EXTRAS
} pc;
BUF_IN(0, X)
BUF_OUT_F32(1, P)
void main() {
    ivec3 g = GID;
    int c = g.x;
    int r = g.y;
    int b = g.z;
    if (c >= pc.cp || r >= pc.rp || b >= pc.batches) return;
    float v = 0.0;
    if (r < pc.rows && c < pc.cols) {
        int base = b * pc.stride;
        v = LD(X, pc.trans != 0 ? base + c * pc.ld + r : base + r * pc.ld + c);
    }
    P[pc.off + (b * pc.rp + r) * pc.cp + c] = v;
}
