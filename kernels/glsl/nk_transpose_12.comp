#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// y (B, D2, D1, D3) ← x (B, D1, D2, D3), an exact copy. The Vulkan launch is one
// invocation per element of y (grid (d1·d2·d3·B)), not per D3 block as the table's grid:
// a D3 loop per invocation could pass lavapipe's 65 535 loop iterations.
layout(local_size_x = 64) in;
layout(push_constant) uniform Pc { int d1; int d2; int d3; int nb; NK_EXTRAS } pc;
BUF_IN(0, x)
BUF_OUT(1, y)
void main() {
    int o = GID.x;
    if (o >= pc.d1 * pc.d2 * pc.d3 * pc.nb) return;
    int k = o % pc.d3;
    int t = o / pc.d3;
    int i = t % pc.d1;
    t = t / pc.d1;
    int j = t % pc.d2;
    int b = t / pc.d2;
    MOVE(y, o, x, ((b * pc.d1 + i) * pc.d2 + j) * pc.d3 + k);
}
