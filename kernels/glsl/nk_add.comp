#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// c[r·period + j] = a[r·period + j] + b[j] (add, add_bias, add_broadcast_pe); grid
// (period, reps). c may be a.
layout(local_size_x = 64) in;
layout(push_constant) uniform Pc { int period; int reps; NK_EXTRAS } pc;
BUF_IN(0, a)
BUF_IN(1, b)
BUF_OUT(2, c)
void main() {
    ivec3 g = GID;
    if (g.x >= pc.period || g.y >= pc.reps) return;
    int i = g.y * pc.period + g.x;
    precise float v = LD(a, i) + LD(b, g.x);
    ST(c, i, v);
}
