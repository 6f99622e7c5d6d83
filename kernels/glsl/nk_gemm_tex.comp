#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// The GEMM primitive for large products, where storage-buffer loads are slow (lavapipe
// loads them one lane at a time with bounds branches; texel fetches are branch-free
// 16-byte loads): C[b] = alpha·op(A[b])·op(B[b]) + (accumulate ? beta·C[b] : 0) from
// panels packed by nk_gemm_pack, read as RGBA32F texel buffers:
//   AP: op(A) as rows of kq texels (K padded to 4·kq with zeros), its rows padded with
//       zero rows to a multiple of 32, batch b at b·sa texels;
//   BP: op(B) as 4·kq rows (past K: zero rows) of nq texels (N padded with zeros to a
//       multiple of 16, nq a multiple of 4), batch b at b·sb texels.
// Each invocation owns a 32×16 block of C (128 vec4 accumulators) and walks K four at a
// time: per step 32 A texels and 16 B texels, each accumulator gaining the sum of four
// products (no fma: llvmpipe has none and splits it; a short sum per add amortizes the
// accumulator's reload). The products' order differs from nk_gemm's, which the any-order
// dot-product bound allows; the order is fixed, so results are deterministic. The body
// is written out (no inner loops): lavapipe counts every loop iteration of an invocation
// against its 65 535 cap, and the K loop alone (at most GEMM_K_SLICE / 4 steps per
// dispatch) must stay well inside it.
//
// Split K as in nk_gemm: nk_p0 = 1 keeps the running sums in the f32 workspace W between
// slices [nk_p1, nk_p2) (multiples of 4), the last slice runs the epilogue. CF32: C is the
// f32 binding 3 (score matrices).
layout(local_size_x = 8) in;
layout(constant_id = 0) const int CF32 = 0;
layout(push_constant) uniform Pc {
    int m; int n; int k; int batch; int kq; int nq; int sa; int sb; int ldc; int sc;
    float alpha; float beta; int accumulate; NK_EXTRAS
} pc;
layout(binding = 0) uniform samplerBuffer AP;
layout(binding = 1) uniform samplerBuffer BP;
BUF_OUT(2, C)
BUF_OUT_F32(3, CF)
BUF_OUT_F32(4, W)

#define TM 32
vec4 acc[TM * 4];

// Row r of the block: one A texel (four k) against the four B texel rows.
#define ROW(r) { \
    vec4 a = texelFetch(AP, ar + r * pc.kq + q); \
    acc[r * 4 + 0] += a.x * b0[0] + a.y * b1[0] + a.z * b2[0] + a.w * b3[0]; \
    acc[r * 4 + 1] += a.x * b0[1] + a.y * b1[1] + a.z * b2[1] + a.w * b3[1]; \
    acc[r * 4 + 2] += a.x * b0[2] + a.y * b1[2] + a.z * b2[2] + a.w * b3[2]; \
    acc[r * 4 + 3] += a.x * b0[3] + a.y * b1[3] + a.z * b2[3] + a.w * b3[3]; \
}

// The running sums of row i, columns j..j+3 (clamped: past the edge they are not stored).
vec4 w4(int wb, int i, int j) {
    int o = wb + min(i, pc.m - 1) * pc.n;
    return vec4(W[o + min(j, pc.n - 1)], W[o + min(j + 1, pc.n - 1)],
                W[o + min(j + 2, pc.n - 1)], W[o + min(j + 3, pc.n - 1)]);
}
#define INIT(r) { int i_ = i0 + r; \
    acc[r * 4 + 0] = w4(wb, i_, j0); acc[r * 4 + 1] = w4(wb, i_, j0 + 4); \
    acc[r * 4 + 2] = w4(wb, i_, j0 + 8); acc[r * 4 + 3] = w4(wb, i_, j0 + 12); }

// Stores one sum: to the workspace between K slices, else through the epilogue.
void put(int b, int wb, int i, int j, float s, bool last) {
    if (j >= pc.n) return;
    if (!last) {
        W[wb + i * pc.n + j] = s;
        return;
    }
    int o = b * pc.sc + i * pc.ldc + j;
    precise float v = pc.alpha * s;
    if (CF32 != 0) {
        if (pc.accumulate != 0) v = pc.beta * CF[o] + v;
        CF[o] = v;
    } else {
        if (pc.accumulate != 0) v = pc.beta * LD(C, o) + v;
        ST(C, o, v);
    }
}
void put4(int b, int wb, int i, int j, vec4 s, bool last) {
    put(b, wb, i, j, s.x, last);
    put(b, wb, i, j + 1, s.y, last);
    put(b, wb, i, j + 2, s.z, last);
    put(b, wb, i, j + 3, s.w, last);
}
#define OUT(r) if (i0 + r < pc.m) { int i_ = i0 + r; \
    put4(b, wb, i_, j0, acc[r * 4 + 0], last); put4(b, wb, i_, j0 + 4, acc[r * 4 + 1], last); \
    put4(b, wb, i_, j0 + 8, acc[r * 4 + 2], last); put4(b, wb, i_, j0 + 12, acc[r * 4 + 3], last); }

void main() {
    ivec3 g = GID;
    int i0 = g.y * TM;
    int j0 = g.x * 16;
    int b = g.z;
    if (i0 >= pc.m || j0 >= pc.n || b >= pc.batch) return;
    // The panels are padded with zeros to whole blocks (A's rows to a multiple of 32,
    // B's columns to a multiple of 16): every fetch is inside them; only elements below
    // (m, n) are stored.
    int ar = b * pc.sa + i0 * pc.kq;
    int jq = j0 / 4;
    ivec4 bc = ivec4(jq, jq + 1, jq + 2, jq + 3);
    int bb = b * pc.sb;
    bool multi = pc.nk_p0 != 0;
    int k0 = pc.nk_p1;
    int k1 = min(pc.nk_p2, pc.k);
    int wb = b * pc.m * pc.n;
    // Every accumulator index is a constant (no loops over acc): an indexed access would
    // be lowered to a ladder over all 128 entries.
    if (multi && k0 > 0) {
        INIT(0)
        INIT(1)
        INIT(2)
        INIT(3)
        INIT(4)
        INIT(5)
        INIT(6)
        INIT(7)
        INIT(8)
        INIT(9)
        INIT(10)
        INIT(11)
        INIT(12)
        INIT(13)
        INIT(14)
        INIT(15)
        INIT(16)
        INIT(17)
        INIT(18)
        INIT(19)
        INIT(20)
        INIT(21)
        INIT(22)
        INIT(23)
        INIT(24)
        INIT(25)
        INIT(26)
        INIT(27)
        INIT(28)
        INIT(29)
        INIT(30)
        INIT(31)
    } else {
        acc[0] = vec4(0.0); acc[1] = vec4(0.0); acc[2] = vec4(0.0); acc[3] = vec4(0.0);
        acc[4] = vec4(0.0); acc[5] = vec4(0.0); acc[6] = vec4(0.0); acc[7] = vec4(0.0);
        acc[8] = vec4(0.0); acc[9] = vec4(0.0); acc[10] = vec4(0.0); acc[11] = vec4(0.0);
        acc[12] = vec4(0.0); acc[13] = vec4(0.0); acc[14] = vec4(0.0); acc[15] = vec4(0.0);
        acc[16] = vec4(0.0); acc[17] = vec4(0.0); acc[18] = vec4(0.0); acc[19] = vec4(0.0);
        acc[20] = vec4(0.0); acc[21] = vec4(0.0); acc[22] = vec4(0.0); acc[23] = vec4(0.0);
        acc[24] = vec4(0.0); acc[25] = vec4(0.0); acc[26] = vec4(0.0); acc[27] = vec4(0.0);
        acc[28] = vec4(0.0); acc[29] = vec4(0.0); acc[30] = vec4(0.0); acc[31] = vec4(0.0);
        acc[32] = vec4(0.0); acc[33] = vec4(0.0); acc[34] = vec4(0.0); acc[35] = vec4(0.0);
        acc[36] = vec4(0.0); acc[37] = vec4(0.0); acc[38] = vec4(0.0); acc[39] = vec4(0.0);
        acc[40] = vec4(0.0); acc[41] = vec4(0.0); acc[42] = vec4(0.0); acc[43] = vec4(0.0);
        acc[44] = vec4(0.0); acc[45] = vec4(0.0); acc[46] = vec4(0.0); acc[47] = vec4(0.0);
        acc[48] = vec4(0.0); acc[49] = vec4(0.0); acc[50] = vec4(0.0); acc[51] = vec4(0.0);
        acc[52] = vec4(0.0); acc[53] = vec4(0.0); acc[54] = vec4(0.0); acc[55] = vec4(0.0);
        acc[56] = vec4(0.0); acc[57] = vec4(0.0); acc[58] = vec4(0.0); acc[59] = vec4(0.0);
        acc[60] = vec4(0.0); acc[61] = vec4(0.0); acc[62] = vec4(0.0); acc[63] = vec4(0.0);
        acc[64] = vec4(0.0); acc[65] = vec4(0.0); acc[66] = vec4(0.0); acc[67] = vec4(0.0);
        acc[68] = vec4(0.0); acc[69] = vec4(0.0); acc[70] = vec4(0.0); acc[71] = vec4(0.0);
        acc[72] = vec4(0.0); acc[73] = vec4(0.0); acc[74] = vec4(0.0); acc[75] = vec4(0.0);
        acc[76] = vec4(0.0); acc[77] = vec4(0.0); acc[78] = vec4(0.0); acc[79] = vec4(0.0);
        acc[80] = vec4(0.0); acc[81] = vec4(0.0); acc[82] = vec4(0.0); acc[83] = vec4(0.0);
        acc[84] = vec4(0.0); acc[85] = vec4(0.0); acc[86] = vec4(0.0); acc[87] = vec4(0.0);
        acc[88] = vec4(0.0); acc[89] = vec4(0.0); acc[90] = vec4(0.0); acc[91] = vec4(0.0);
        acc[92] = vec4(0.0); acc[93] = vec4(0.0); acc[94] = vec4(0.0); acc[95] = vec4(0.0);
        acc[96] = vec4(0.0); acc[97] = vec4(0.0); acc[98] = vec4(0.0); acc[99] = vec4(0.0);
        acc[100] = vec4(0.0); acc[101] = vec4(0.0); acc[102] = vec4(0.0); acc[103] = vec4(0.0);
        acc[104] = vec4(0.0); acc[105] = vec4(0.0); acc[106] = vec4(0.0); acc[107] = vec4(0.0);
        acc[108] = vec4(0.0); acc[109] = vec4(0.0); acc[110] = vec4(0.0); acc[111] = vec4(0.0);
        acc[112] = vec4(0.0); acc[113] = vec4(0.0); acc[114] = vec4(0.0); acc[115] = vec4(0.0);
        acc[116] = vec4(0.0); acc[117] = vec4(0.0); acc[118] = vec4(0.0); acc[119] = vec4(0.0);
        acc[120] = vec4(0.0); acc[121] = vec4(0.0); acc[122] = vec4(0.0); acc[123] = vec4(0.0);
        acc[124] = vec4(0.0); acc[125] = vec4(0.0); acc[126] = vec4(0.0); acc[127] = vec4(0.0);
    }
    int q1 = (k1 + 3) / 4;
    for (int q = k0 / 4; q < q1; ++q) {
        int br = bb + 4 * q * pc.nq;
        vec4 b0[4], b1[4], b2[4], b3[4];
        b0[0] = texelFetch(BP, br + bc.x); b0[1] = texelFetch(BP, br + bc.y);
        b0[2] = texelFetch(BP, br + bc.z); b0[3] = texelFetch(BP, br + bc.w);
        br += pc.nq;
        b1[0] = texelFetch(BP, br + bc.x); b1[1] = texelFetch(BP, br + bc.y);
        b1[2] = texelFetch(BP, br + bc.z); b1[3] = texelFetch(BP, br + bc.w);
        br += pc.nq;
        b2[0] = texelFetch(BP, br + bc.x); b2[1] = texelFetch(BP, br + bc.y);
        b2[2] = texelFetch(BP, br + bc.z); b2[3] = texelFetch(BP, br + bc.w);
        br += pc.nq;
        b3[0] = texelFetch(BP, br + bc.x); b3[1] = texelFetch(BP, br + bc.y);
        b3[2] = texelFetch(BP, br + bc.z); b3[3] = texelFetch(BP, br + bc.w);
    ROW(0)
    ROW(1)
    ROW(2)
    ROW(3)
    ROW(4)
    ROW(5)
    ROW(6)
    ROW(7)
    ROW(8)
    ROW(9)
    ROW(10)
    ROW(11)
    ROW(12)
    ROW(13)
    ROW(14)
    ROW(15)
    ROW(16)
    ROW(17)
    ROW(18)
    ROW(19)
    ROW(20)
    ROW(21)
    ROW(22)
    ROW(23)
    ROW(24)
    ROW(25)
    ROW(26)
    ROW(27)
    ROW(28)
    ROW(29)
    ROW(30)
    ROW(31)
    }
    bool last = !multi || k1 >= pc.k;
    OUT(0)
    OUT(1)
    OUT(2)
    OUT(3)
    OUT(4)
    OUT(5)
    OUT(6)
    OUT(7)
    OUT(8)
    OUT(9)
    OUT(10)
    OUT(11)
    OUT(12)
    OUT(13)
    OUT(14)
    OUT(15)
    OUT(16)
    OUT(17)
    OUT(18)
    OUT(19)
    OUT(20)
    OUT(21)
    OUT(22)
    OUT(23)
    OUT(24)
    OUT(25)
    OUT(26)
    OUT(27)
    OUT(28)
    OUT(29)
    OUT(30)
    OUT(31)
}
