#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// c = a ⊙ b. c may be a.
layout(local_size_x = 64) in;
layout(push_constant) uniform Pc { int n; NK_EXTRAS } pc;
BUF_IN(0, a)
BUF_IN(1, b)
BUF_OUT(2, c)
void main() {
    int i = GID.x;
    if (i >= pc.n) return;
    precise float v = LD(a, i) * LD(b, i);
    ST(c, i, v);
}
