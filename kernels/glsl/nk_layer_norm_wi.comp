#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "group.glsl"
#include "ln_stats.glsl"
// Rowwise layer norm, affine when affine (gamma, beta bound), one work-group per row.
layout(local_size_x = WG) in;
layout(push_constant) uniform Pc { int rows; int len; float eps; int affine; NK_EXTRAS } pc;
BUF_IN(0, x)
BUF_IN(1, gamma)
BUF_IN(2, beta)
BUF_OUT(3, y)
void main() {
    int r = GROUP_ROW;
    if (r >= pc.rows) return;
    int o = r * pc.len;
    precise float mean, rstd;
    LN_STATS(x, o, pc.len, pc.eps, mean, rstd)
    for (int i = LID; i < pc.len; i += WG) {
        precise float xh = (LD(x, o + i) - mean) * rstd;
        precise float v = pc.affine != 0 ? LD(gamma, i) * xh + LD(beta, i) : xh;
        ST(y, o + i, v);
    }
}
