#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Column sums, first pass: part[c, j] = Σ_{r in chunk c} x[r, j], rows in increasing
// order. Run as passes over rows [lo, hi) of each chunk (nk_p1, nk_p2), the running sum
// kept in part between passes (f32, so the result is the bits of one sequential loop),
// so no invocation loops past lavapipe's limit.
layout(local_size_x = 64) in;
layout(push_constant) uniform Pc { int rows; int n; int chunk; NK_EXTRAS } pc;
BUF_IN(0, x)
BUF_OUT_F32(1, part)
void main() {
    ivec3 g = GID;
    int j = g.x;
    int c = g.y;
    if (j >= pc.n) return;
    int lo = pc.nk_p1;
    int hi = min(pc.nk_p2, pc.chunk);
    int r0 = c * pc.chunk;
    int r1 = min(pc.rows, r0 + hi);
    precise float acc = lo == 0 ? 0.0 : part[c * pc.n + j];
    for (int r = r0 + lo; r < r1; ++r) acc += LD(x, r * pc.n + j);
    part[c * pc.n + j] = acc;
}
