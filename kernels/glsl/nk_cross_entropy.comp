#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// grad = exp(logp) − onehot(target), loss = max(0, −logp[target]) (NaN kept); rows whose
// target is outside [0, vocab) get zeros. Grid (max(vocab, 1), rows).
layout(local_size_x = 64) in;
layout(push_constant) uniform Pc { int rows; int vocab; NK_EXTRAS } pc;
BUF_IN(0, logp)
BUF_IN_I32(1, target)
BUF_OUT(2, grad)
BUF_OUT(3, loss)
void main() {
    ivec3 g = GID;
    int j = g.x;
    int r = g.y;
    if (j >= max(pc.vocab, 1) || r >= pc.rows) return;
    int t = target[r];
    int i = r * pc.vocab + j;
    if (t < 0 || t >= pc.vocab) {
        if (j < pc.vocab) ST(grad, i, 0.0);
        if (j == 0) ST(loss, r, 0.0);
        return;
    }
    precise float gv = nk_exp(LD(logp, i)) - (j == t ? 1.0 : 0.0);
    ST(grad, i, gv);
    if (j == 0) {
        float nl = -LD(logp, r * pc.vocab + t);
        float l = (nl > 0.0 || nk_isnan(nl)) ? nl : 0.0;
        ST(loss, r, l);
    }
}
