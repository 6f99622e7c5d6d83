#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "group.glsl"
// dx = y ⊙ (dy − Σ_row dy⊙y), one work-group per row.
layout(local_size_x = WG) in;
layout(push_constant) uniform Pc { int rows; int len; NK_EXTRAS } pc;
BUF_IN(0, dy)
BUF_IN(1, y)
BUF_OUT(2, dx)
void main() {
    int r = GROUP_ROW;
    if (r >= pc.rows) return;
    int o = r * pc.len;
    precise float d = 0.0;
    for (int i = LID; i < pc.len; i += WG) d += LD(dy, o + i) * LD(y, o + i);
    d = wg_sum(d);
    for (int i = LID; i < pc.len; i += WG) {
        precise float v = LD(y, o + i) * (LD(dy, o + i) - d);
        ST(dx, o + i, v);
    }
}
