#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "group.glsl"
#include "ln_stats.glsl"
// dx = rstd/L · (L·g − Σg − x̂·Σ(g·x̂)), g = dy or dy⊙γ; writes (μ, rstd) per row.
layout(local_size_x = WG) in;
layout(push_constant) uniform Pc { int rows; int len; float eps; int affine; NK_EXTRAS } pc;
BUF_IN(0, dy)
BUF_IN(1, x)
BUF_IN(2, gamma)
BUF_OUT(3, dx)
BUF_OUT_F32(4, stats)
void main() {
    int r = GROUP_ROW;
    if (r >= pc.rows) return;
    int o = r * pc.len;
    precise float mean, rstd;
    LN_STATS(x, o, pc.len, pc.eps, mean, rstd)
    precise float sg = 0.0, sgx = 0.0;
    for (int i = LID; i < pc.len; i += WG) {
        precise float g = pc.affine != 0 ? LD(dy, o + i) * LD(gamma, i) : LD(dy, o + i);
        precise float xh = (LD(x, o + i) - mean) * rstd;
        sg += g;
        sgx += g * xh;
    }
    sg = wg_sum(sg);
    sgx = wg_sum(sgx);
    precise float lf = float(pc.len);
    precise float scale = rstd / lf;
    for (int i = LID; i < pc.len; i += WG) {
        precise float g = pc.affine != 0 ? LD(dy, o + i) * LD(gamma, i) : LD(dy, o + i);
        precise float xh = (LD(x, o + i) - mean) * rstd;
        precise float v = scale * ((lf * g - sg) - xh * sgx);
        ST(dx, o + i, v);
    }
    if (LID == 0) {
        stats[2 * r] = mean;
        stats[2 * r + 1] = rstd;
    }
}
