#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Adam / AdamW in place. omb1 = 1−β1, omb2 = 1−β2, c1 = 1−β1ᵗ, c2 = 1−β2ᵗ (host, f64,
// rounded once). Uses Vulkan's divide (2.5 ulp, twice) and sqrt (as 1/inversesqrt).
layout(local_size_x = 64) in;
layout(push_constant) uniform Pc {
    int n; float lr; float beta1; float omb1; float beta2; float omb2; float eps;
    float wd; float c1; float c2; int decoupled; NK_EXTRAS
} pc;
BUF_OUT(0, p)
BUF_IN(1, g)
BUF_OUT_F32(2, m)
BUF_OUT_F32(3, v)
void main() {
    int i = GID.x;
    if (i >= pc.n) return;
    precise float pv = LD(p, i);
    precise float gv = LD(g, i);
    if (pc.decoupled != 0) {
        pv = pv - (pc.lr * pc.wd) * pv;
    } else {
        gv = gv + pc.wd * pv;
    }
    precise float mn = pc.beta1 * m[i] + pc.omb1 * gv;
    precise float vn = pc.beta2 * v[i] + pc.omb2 * (gv * gv);
    precise float r = pv - pc.lr * (mn / pc.c1) / (sqrt(vn / pc.c2) + pc.eps);
    m[i] = mn;
    v[i] = vn;
    ST(p, i, r);
}
