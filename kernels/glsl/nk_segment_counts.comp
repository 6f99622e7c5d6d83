#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// counts[s] = offs[s + 1] − offs[s].
layout(local_size_x = 64) in;
layout(push_constant) uniform Pc { int segs; NK_EXTRAS } pc;
BUF_IN_I32(0, offs)
BUF_OUT_I32(1, counts)
void main() {
    int s = GID.x;
    if (s >= pc.segs) return;
    counts[s] = offs[s + 1] - offs[s];
}
