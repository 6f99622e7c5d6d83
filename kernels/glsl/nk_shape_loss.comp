#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "group.glsl"
// shape_loss, one work-group per row: the row's prediction (first maximum of probs), then
// +penalty when (target, prediction) is a listed pair, −reward for a confident correct
// prediction; rows with a target outside [0, vocab) copy their loss.
layout(local_size_x = WG) in;
layout(push_constant) uniform Pc {
    int rows; int vocab; int npairs; float penalty; float reward; float threshold; NK_EXTRAS
} pc;
BUF_IN(0, loss_in)
BUF_IN(1, probs)
BUF_IN_I32(2, target)
BUF_IN_I32(3, pairs)
BUF_OUT(4, loss_out)
void main() {
    int r = GROUP_ROW;
    if (r >= pc.rows) return;
    int t = target[r];
    if (t < 0 || t >= pc.vocab) {
        if (LID == 0) MOVE(loss_out, r, loss_in, r);
        return;
    }
    int pred = -1;
    float top = -NK_INF;
    for (int j = LID; j < pc.vocab; j += WG) {
        float v = LD(probs, r * pc.vocab + j);
        if (v > top) {
            top = v;
            pred = j;
        }
    }
    wg_argmax(top, pred);
    int confused = 0;
    if (pred >= 0) {
        for (int p = LID; p < pc.npairs; p += WG)
            if (pairs[2 * p] == t && pairs[2 * p + 1] == pred) confused = 1;
    }
    confused = wg_or(confused);
    if (LID == 0) {
        precise float l = LD(loss_in, r);
        if (pred >= 0) {
            if (confused != 0) l = l + pc.penalty;
            if (pred == t && LD(probs, r * pc.vocab + t) >= pc.threshold) l = l - pc.reward;
        }
        ST(loss_out, r, l);
    }
}
