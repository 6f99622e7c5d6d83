#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// y = 0.5·x·(1 + erf(x/√2)) evaluated as x·(erfc(−x/√2)/2), which keeps its relative
// accuracy for large negative x (1 + erf would cancel to 0). y may be x.
layout(local_size_x = 64) in;
layout(push_constant) uniform Pc { int n; NK_EXTRAS } pc;
BUF_IN(0, x)
BUF_OUT(1, y)
void main() {
    int i = GID.x;
    if (i >= pc.n) return;
    float v = LD(x, i);
    precise float r = v * (0.5 * nk_erfc(-v * 0.70710678118654752));
    ST(y, i, r);
}
