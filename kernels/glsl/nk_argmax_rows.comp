#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "group.glsl"
// Row argmax of f32 scores (first maximum; NaN never wins; −1 and −inf when nothing beats
// −inf), with the winning score when want_best; one work-group per row.
layout(local_size_x = WG) in;
layout(push_constant) uniform Pc { int rows; int cols; int want_best; NK_EXTRAS } pc;
BUF_IN_F32(0, s)
BUF_OUT_I32(1, idx)
BUF_OUT(2, best)
void main() {
    int r = GROUP_ROW;
    if (r >= pc.rows) return;
    int arg = -1;
    float top = -NK_INF;
    for (int t = LID; t < pc.cols; t += WG) {
        float v = s[r * pc.cols + t];
        if (v > top) {
            top = v;
            arg = t;
        }
    }
    wg_argmax(top, arg);
    if (LID == 0) {
        idx[r] = arg;
        if (pc.want_best != 0) ST(best, r, top);
    }
}
