#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "group.glsl"
// Token assignment without a score matrix: one work-group per row, each invocation scans
// prototypes LID, LID + WG, … with its own dot products (f32, increasing e), then the
// first-maximum rules of nk_argmax_rows.
layout(local_size_x = WG) in;
layout(push_constant) uniform Pc { int rows; int nproto; int e; int want_best; NK_EXTRAS } pc;
BUF_IN(0, act)
BUF_IN(1, proto)
BUF_OUT_I32(2, idx)
BUF_OUT(3, best)
void main() {
    int r = GROUP_ROW;
    if (r >= pc.rows) return;
    int arg = -1;
    float top = -NK_INF;
    for (int t = LID; t < pc.nproto; t += WG) {
        precise float s = 0.0;
        for (int k = 0; k < pc.e; ++k) s += LD(act, r * pc.e + k) * LD(proto, t * pc.e + k);
        if (s > top) {
            top = s;
            arg = t;
        }
    }
    wg_argmax(top, arg);
    if (LID == 0) {
        idx[r] = arg;
        if (pc.want_best != 0) ST(best, r, top);
    }
}
