#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// out[r, :] = table[idx[r], :], a zero row for an index outside [0, vocab); grid (dim, rows).
layout(local_size_x = 64) in;
layout(push_constant) uniform Pc { int rows; int dim; int vocab; NK_EXTRAS } pc;
BUF_IN_I32(0, idx)
BUF_IN(1, table)
BUF_OUT(2, outp)
void main() {
    ivec3 g = GID;
    if (g.x >= pc.dim || g.y >= pc.rows) return;
    int i = g.y * pc.dim + g.x;
    int t = idx[g.y];
    if (t >= 0 && t < pc.vocab) {
        MOVE(outp, i, table, t * pc.dim + g.x);
    } else {
        ST(outp, i, 0.0);
    }
}
