#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// 1 where x > θ, else 0 (NaN compares false). y may be x.
layout(local_size_x = 64) in;
layout(push_constant) uniform Pc { int n; float theta; NK_EXTRAS } pc;
BUF_IN(0, x)
BUF_OUT(1, y)
void main() {
    int i = GID.x;
    if (i >= pc.n) return;
    float v = LD(x, i);
    float r = (!nk_isnan(v) && v > pc.theta) ? 1.0 : 0.0;
    ST(y, i, r);
}
