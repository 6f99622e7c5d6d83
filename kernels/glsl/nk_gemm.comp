#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// The GEMM primitive: C[b] = alpha·op(A[b])·op(B[b]) + (accumulate ? beta·C[b] : 0),
// the epilogue evaluated as written (beta·c + alpha·acc). Each invocation owns a 4×4 block
// of C and sums its products over k in increasing order, in f32.
//
// Specialization constants: TA, TB (read A / B transposed), CF32 (C is the f32 binding 3
// instead of the storage-type binding 2: score matrices).
//
// K is split into slices of at most a few thousand iterations (nk_p1, nk_p2), one
// dispatch each, so that no invocation loops past lavapipe's 65 535 iterations: with more
// than one slice (nk_p0 = 1) the running sums live in the f32 workspace W (binding 4,
// batch·m·n) between slices and the last slice runs the epilogue. The sums are the bits of
// one sequential loop either way.
layout(local_size_x = 8, local_size_y = 8) in;
layout(constant_id = 0) const int TA = 0;
layout(constant_id = 1) const int TB = 0;
layout(constant_id = 2) const int CF32 = 0;
layout(push_constant) uniform Pc {
    int m; int n; int k; int batch; int lda; int sa; int ldb; int sb; int ldc; int sc;
    float alpha; float beta; int accumulate; NK_EXTRAS
} pc;
BUF_IN(0, A)
BUF_IN(1, B)
BUF_OUT(2, C)
BUF_OUT_F32(3, CF)
BUF_OUT_F32(4, W)

float lda_(int base, int i, int p) {
    return TA != 0 ? LD(A, base + p * pc.lda + i) : LD(A, base + i * pc.lda + p);
}
float ldb_(int base, int p, int j) {
    return TB != 0 ? LD(B, base + j * pc.ldb + p) : LD(B, base + p * pc.ldb + j);
}

void main() {
    ivec3 g = GID;
    int i0 = g.y * 4;
    int j0 = g.x * 4;
    int b = g.z;
    if (i0 >= pc.m || j0 >= pc.n || b >= pc.batch) return;
    // Rows and columns past the edge read the last valid one (never out of bounds) and
    // are not stored.
    ivec4 ii = min(ivec4(i0, i0 + 1, i0 + 2, i0 + 3), ivec4(pc.m - 1));
    ivec4 jj = min(ivec4(j0, j0 + 1, j0 + 2, j0 + 3), ivec4(pc.n - 1));
    int ab = b * pc.sa;
    int bb = b * pc.sb;
    bool multi = pc.nk_p0 != 0;
    int k0 = pc.nk_p1;
    int k1 = min(pc.nk_p2, pc.k);
    int wb = b * pc.m * pc.n;
    vec4 acc[4];
    for (int r = 0; r < 4; ++r) {
        acc[r] = vec4(0.0);
        if (multi && k0 > 0) {
            for (int c = 0; c < 4; ++c) acc[r][c] = W[wb + ii[r] * pc.n + jj[c]];
        }
    }
    for (int p = k0; p < k1; ++p) {
        vec4 bv = vec4(ldb_(bb, p, jj.x), ldb_(bb, p, jj.y), ldb_(bb, p, jj.z), ldb_(bb, p, jj.w));
        acc[0] += lda_(ab, ii.x, p) * bv;
        acc[1] += lda_(ab, ii.y, p) * bv;
        acc[2] += lda_(ab, ii.z, p) * bv;
        acc[3] += lda_(ab, ii.w, p) * bv;
    }
    bool last = !multi || k1 >= pc.k;
    for (int r = 0; r < 4; ++r) {
        int i = i0 + r;
        if (i >= pc.m) break;
        for (int c = 0; c < 4; ++c) {
            int j = j0 + c;
            if (j >= pc.n) break;
            if (!last) {
                W[wb + i * pc.n + j] = acc[r][c];
                continue;
            }
            int o = b * pc.sc + i * pc.ldc + j;
            precise float v = pc.alpha * acc[r][c];
            if (CF32 != 0) {
                if (pc.accumulate != 0) v = pc.beta * CF[o] + v;
                CF[o] = v;
            } else {
                if (pc.accumulate != 0) v = pc.beta * LD(C, o) + v;
                ST(C, o, v);
            }
        }
    }
}
