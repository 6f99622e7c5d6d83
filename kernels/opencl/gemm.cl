// One register-blocked GEMM, stamped per variant by the host:
//   GEMM_NAME   kernel name
//   GEMM_TA     0: op(A) = A  (A[m*lda + k]),  1: op(A) = Aᵀ (A[k*lda + m])
//   GEMM_CF32   0: C has the call's storage type T, 1: C is f32 (argmax scores)
// and tuned by the tile parameters (build-time defines, chosen per device):
//   GEMM_MR     rows of C per work-item
//   GEMM_NV     vector width (2, 4, 8 or 16) of the column blocks
//   GEMM_NR     column vectors per work-item (a work-item owns MR × NR·NV outputs)
//
// C[b] = alpha · op(A[b]) · B[b] + (use_c ? beta · C[b] : 0), with batch strides sa, sb,
// sc (0 shares an operand across batches). B is K×N row-major with row stride ldb.
// Each output element is one f32 sum over k ascending (fma), then the epilogue
// `beta·c + alpha·acc` evaluated as written: the reference's `keep·w + lr·sum`.
//
// Work-item (i, j, b) owns rows [i·MR, i·MR + MR) and columns [j·NB, j·NB + NB). Rows past
// M are clamped for loads and skipped for stores; a ragged last column block takes an
// element-wise path. The accumulators are MR·NR vectors of NV floats, held in registers:
// on SIMD CPUs each is one vector register, on GPUs the compiler scalarizes them.

#define NB (GEMM_NV * GEMM_NR)
#define VT CAT(float, GEMM_NV)
#if NK_HALF
#define LDV(p, i) CAT(vload_half, GEMM_NV)(0, (p) + (i))
#else
#define LDV(p, i) CAT(vload, GEMM_NV)(0, (p) + (i))
#endif
#if GEMM_CF32
#define CT float
#define LDC(p, i) ((p)[i])
#define STC(p, i, v) ((p)[i] = (v))
#define STCV(p, i, v) CAT(vstore, GEMM_NV)((v), 0, (p) + (i))
#define LDCV(p, i) CAT(vload, GEMM_NV)(0, (p) + (i))
#else
#define CT T
#define LDC(p, i) LD(p, i)
#define STC(p, i, v) ST(p, i, v)
#if NK_HALF
#define STCV(p, i, v) CAT(CAT(vstore_half, GEMM_NV), _rte)((v), 0, (p) + (i))
#define LDCV(p, i) CAT(vload_half, GEMM_NV)(0, (p) + (i))
#else
#define STCV(p, i, v) CAT(vstore, GEMM_NV)((v), 0, (p) + (i))
#define LDCV(p, i) CAT(vload, GEMM_NV)(0, (p) + (i))
#endif
#endif
#if GEMM_TA
#define AIDX(m, k) ((k) * lda + (m))
#else
#define AIDX(m, k) ((m) * lda + (k))
#endif

__kernel void GEMM_NAME(const int M, const int N, const int K,
                        __global const T* restrict A, const int lda, const int sa,
                        __global const T* restrict B, const int ldb, const int sb,
                        __global CT* C, const int ldc, const int sc,
                        const float alpha, const float beta, const int use_c) {
    const int m0 = get_global_id(0) * GEMM_MR;
    const int n0 = get_global_id(1) * NB;
    const int bat = get_global_id(2);
    if (m0 >= M || n0 >= N) return;
    A += bat * sa;
    B += bat * sb;
    C += bat * sc;
    int rows[GEMM_MR];
    for (int i = 0; i < GEMM_MR; ++i) rows[i] = min(m0 + i, M - 1);
    VT acc[GEMM_MR][GEMM_NR];
    for (int i = 0; i < GEMM_MR; ++i)
        for (int j = 0; j < GEMM_NR; ++j) acc[i][j] = (VT)(0.0f);
    const int full = n0 + NB <= N;
    if (full) {
        for (int k = 0; k < K; ++k) {
            VT b[GEMM_NR];
            for (int j = 0; j < GEMM_NR; ++j) b[j] = LDV(B, k * ldb + n0 + j * GEMM_NV);
            for (int i = 0; i < GEMM_MR; ++i) {
                const VT a = (VT)(LD(A, AIDX(rows[i], k)));
                for (int j = 0; j < GEMM_NR; ++j) acc[i][j] = fma(a, b[j], acc[i][j]);
            }
        }
    } else {
        for (int k = 0; k < K; ++k) {
            VT b[GEMM_NR];
            for (int j = 0; j < GEMM_NR; ++j) {
                float t[GEMM_NV];
                for (int v = 0; v < GEMM_NV; ++v) {
                    const int n = min(n0 + j * GEMM_NV + v, N - 1);
                    t[v] = LD(B, k * ldb + n);
                }
                b[j] = CAT(vload, GEMM_NV)(0, t);
            }
            for (int i = 0; i < GEMM_MR; ++i) {
                const VT a = (VT)(LD(A, AIDX(rows[i], k)));
                for (int j = 0; j < GEMM_NR; ++j) acc[i][j] = fma(a, b[j], acc[i][j]);
            }
        }
    }
    for (int i = 0; i < GEMM_MR; ++i) {
        const int m = m0 + i;
        if (m >= M) break;
        for (int j = 0; j < GEMM_NR; ++j) {
            const int nb = n0 + j * GEMM_NV;
            if (full) {
                VT r = alpha * acc[i][j];
                if (use_c) r = beta * LDCV(C, m * ldc + nb) + r;
                STCV(C, m * ldc + nb, r);
            } else {
                float t[GEMM_NV];
                CAT(vstore, GEMM_NV)(acc[i][j], 0, t);
                for (int v = 0; v < GEMM_NV; ++v) {
                    const int n = nb + v;
                    if (n < N) {
                        float r = alpha * t[v];
                        if (use_c) r = beta * LDC(C, m * ldc + n) + r;
                        STC(C, m * ldc + n, r);
                    }
                }
            }
        }
    }
}

#undef NB
#undef VT
#undef LDV
#undef CT
#undef LDC
#undef STC
#undef STCV
#undef LDCV
#undef AIDX
