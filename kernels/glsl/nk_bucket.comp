#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// A stable counting sort of idx (rows) into segs segments: offs (segs + 1) segment
// starts, order (rows) row numbers by segment (increasing within a segment), cursor
// (segs) scratch; indices outside [0, segs) are left out. Four phases (nk_p0), each a
// dispatch; the serial ones run over [nk_p1, nk_p2) per dispatch so that no invocation
// loops past lavapipe's limit, their state living in offs and cursor:
//   0: offs = 0 (one invocation per entry)
//   1: offs[v + 1] += 1 per row (integer atomics: the counts do not depend on order)
//   2: one invocation: running sum of offs over [lo, hi), cursor = segment starts
//   3: one invocation: rows [lo, hi) in order to order[cursor[v]++]
layout(local_size_x = 64) in;
layout(push_constant) uniform Pc { int rows; int segs; NK_EXTRAS } pc;
BUF_IN_I32(0, idx)
BUF_OUT_I32(1, offs)
BUF_OUT_I32(2, order)
BUF_OUT_I32(3, cursor)
void main() {
    int i = GID.x;
    int phase = pc.nk_p0;
    if (phase == 0) {
        if (i <= pc.segs) offs[i] = 0;
    } else if (phase == 1) {
        if (i < pc.rows) {
            int v = idx[i];
            if (v >= 0 && v < pc.segs) atomicAdd(offs[v + 1], 1);
        }
    } else if (phase == 2) {
        if (i != 0) return;
        int hi = min(pc.nk_p2, pc.segs);
        for (int s = pc.nk_p1; s < hi; ++s) {
            int start = offs[s];
            offs[s + 1] += start;
            cursor[s] = start;
        }
    } else {
        if (i != 0) return;
        int hi = min(pc.nk_p2, pc.rows);
        for (int r = pc.nk_p1; r < hi; ++r) {
            int v = idx[r];
            if (v >= 0 && v < pc.segs) {
                int c = cursor[v];
                order[c] = r;
                cursor[v] = c + 1;
            }
        }
    }
}
