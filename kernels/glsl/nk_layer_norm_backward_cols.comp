#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// dγ[j] = Σ_r dy⊙x̂, dβ[j] = Σ_r dy, rows in increasing order, from the row statistics.
// Passes over rows [lo, hi) (nk_p1, nk_p2); with more than one pass (nk_p0 = 1) the two
// running sums live in the f32 scratch binding between passes, so the result is the bits
// of one sequential loop.
layout(local_size_x = 64) in;
layout(push_constant) uniform Pc { int rows; int len; NK_EXTRAS } pc;
BUF_IN(0, dy)
BUF_IN(1, x)
BUF_IN_F32(2, stats)
BUF_OUT(3, dgamma)
BUF_OUT(4, dbeta)
BUF_OUT_F32(5, scratch)
void main() {
    int j = GID.x;
    if (j >= pc.len) return;
    int lo = pc.nk_p1;
    int hi = min(pc.nk_p2, pc.rows);
    bool multi = pc.nk_p0 != 0;
    precise float ag = 0.0, ab = 0.0;
    if (multi && lo > 0) {
        ag = scratch[2 * j];
        ab = scratch[2 * j + 1];
    }
    for (int r = lo; r < hi; ++r) {
        float d = LD(dy, r * pc.len + j);
        precise float xh = (LD(x, r * pc.len + j) - stats[2 * r]) * stats[2 * r + 1];
        ag += d * xh;
        ab += d;
    }
    if (hi >= pc.rows) {
        ST(dgamma, j, ag);
        ST(dbeta, j, ab);
    } else {
        scratch[2 * j] = ag;
        scratch[2 * j + 1] = ab;
    }
}
