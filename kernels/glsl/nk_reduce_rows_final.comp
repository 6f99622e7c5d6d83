#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Column sums, second pass: y[j] = Σ_c part[c, j], chunks in increasing order (at most
// 64 chunks: the lowering's choice).
layout(local_size_x = 64) in;
layout(push_constant) uniform Pc { int chunks; int n; NK_EXTRAS } pc;
BUF_IN_F32(0, part)
BUF_OUT(1, y)
void main() {
    int j = GID.x;
    if (j >= pc.n) return;
    precise float acc = 0.0;
    for (int c = 0; c < pc.chunks; ++c) acc += part[c * pc.n + j];
    ST(y, j, acc);
}
