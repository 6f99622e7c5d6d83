#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// dst[s, j] = Σ src[order[p], j] over the segment's rows, in increasing row order; grid
// (width, segs). Passes over positions [lo, hi) of each segment (nk_p1, nk_p2); with more
// than one pass (nk_p0 = 1) the running sum lives in the f32 scratch binding between
// passes, so the result is the bits of one sequential loop.
layout(local_size_x = 64) in;
layout(push_constant) uniform Pc { int width; int segs; NK_EXTRAS } pc;
BUF_IN(0, src)
BUF_IN_I32(1, offs)
BUF_IN_I32(2, order)
BUF_OUT(3, dst)
BUF_OUT_F32(4, scratch)
void main() {
    ivec3 g = GID;
    int j = g.x;
    int s = g.y;
    if (j >= pc.width || s >= pc.segs) return;
    int start = offs[s];
    int end = offs[s + 1];
    int lo = start + pc.nk_p1;
    if (lo > end || (pc.nk_p1 > 0 && lo == end)) return;
    int hi = start + min(pc.nk_p2, end - start);
    bool multi = pc.nk_p0 != 0;
    int o = s * pc.width + j;
    precise float acc = (multi && pc.nk_p1 > 0) ? scratch[o] : 0.0;
    for (int p = lo; p < hi; ++p) acc += LD(src, order[p] * pc.width + j);
    if (hi >= end) {
        ST(dst, o, acc);
    } else {
        scratch[o] = acc;
    }
}
