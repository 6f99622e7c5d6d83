#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// proto[t] ← keep·proto[t] + lr·sums[t]/counts[t] where counts[t] > 0 (Vulkan's divide).
layout(local_size_x = 64) in;
layout(push_constant) uniform Pc { int n; int e; float keep; float lr; NK_EXTRAS } pc;
BUF_OUT(0, proto)
BUF_IN(1, sums)
BUF_IN_I32(2, counts)
void main() {
    int i = GID.x;
    if (i >= pc.n) return;
    int c = counts[i / pc.e];
    if (c <= 0) return;
    precise float r = pc.keep * LD(proto, i) + pc.lr * (LD(sums, i) / float(c));
    ST(proto, i, r);
}
