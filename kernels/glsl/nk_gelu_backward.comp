#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// dx = dy·(Φ(x) + x·φ(x)).
layout(local_size_x = 64) in;
layout(push_constant) uniform Pc { int n; NK_EXTRAS } pc;
BUF_IN(0, x)
BUF_IN(1, dy)
BUF_OUT(2, dx)
void main() {
    int i = GID.x;
    if (i >= pc.n) return;
    float v = LD(x, i);
    precise float cdf = 0.5 * nk_erfc(-v * 0.70710678118654752);
    precise float pdf = nk_exp(-0.5 * (v * v)) * 0.3989422804014327;
    precise float r = LD(dy, i) * (cdf + v * pdf);
    ST(dx, i, r);
}
