// One register-blocked GEMM over packed panels, stamped per output type by the host:
//   GEMM_NAME   kernel name
//   GEMM_TA     0: op(A) = A (A[m·lda + k]), 1: op(A) = Aᵀ (A[k·lda + m]),
//               2: A packed by nk_pack_a (Ap[b][mb][k][MR], f32; lda = 0, sa = panel size)
//   GEMM_CF32   0: C has the call's storage type T, 1: C is f32 (argmax scores)
// and tuned by the tile parameters (build-time defines, chosen per device):
//   GEMM_MR     rows of C per work-item
//   GEMM_NV     vector width (2, 4, 8 or 16) of the column blocks
//   GEMM_NR     column vectors per work-item (a work-item owns MR × NB outputs, NB = NR·NV)
//
//   C[b] = alpha · op(A[b]) · op(B[b]) + (use_c ? beta · C[b] : 0)
//
// B is first packed (nk_pack_b, in pack.cl) into f32 panels that the inner loop reads
// as contiguous vectors: Bp[b][nb][k][NB] = op(B)[b][k][nb·NB + j], zero-padded past N;
// packing applies B's transpose flag and widens f16, at a cost linear in B. A is read in
// place, MR scalars per k (rows past M clamped for loads, skipped for stores): MR
// sequential streams (or one, transposed). Each output element is one f32 sum over k ascending (fma), then
// the epilogue `beta·c + alpha·acc` evaluated as written: the reference's `keep·w + lr·sum`.
//
// The MR·NR accumulators are vectors of NV floats held in registers (fully unrolled
// loops): on SIMD CPUs each is one vector register; GPUs scalarize them.

#define NB (GEMM_NV * GEMM_NR)
#define VT CAT(float, GEMM_NV)
#define VLOAD CAT(vload, GEMM_NV)
#define VSTORE CAT(vstore, GEMM_NV)
#if GEMM_CF32
#define CT float
#define LDC(p, i) ((p)[i])
#define STC(p, i, v) ((p)[i] = (v))
#define STCV(p, i, v) VSTORE((v), 0, (p) + (i))
#define LDCV(p, i) VLOAD(0, (p) + (i))
#else
#define CT T
#define LDC(p, i) LD(p, i)
#define STC(p, i, v) ST(p, i, v)
#if NK_HALF
#define STCV(p, i, v)                                                   \
    do {                                                                \
        float t_[GEMM_NV];                                              \
        VSTORE((v), 0, t_);                                             \
        _Pragma("unroll") for (int v_ = 0; v_ < GEMM_NV; ++v_)          \
            ST(p, (i) + v_, t_[v_]);                                    \
    } while (0)
#define LDCV(p, i) nk_ldv_half((p) + (i))
#else
#define STCV(p, i, v) VSTORE((v), 0, (p) + (i))
#define LDCV(p, i) VLOAD(0, (p) + (i))
#endif
#endif

__kernel void GEMM_NAME(const int M, const int N, const int K,
                        __global const T* restrict A, const int lda, const long sa,
                        __global const float* restrict Bp, const long pb,
                        __global CT* C, const int ldc, const int sc,
                        const float alpha, const float beta, const int use_c) {
    const int mb = get_global_id(0);
    const int nb = get_global_id(1);
    const int bat = get_global_id(2);
    const int m0 = mb * GEMM_MR;
    const int n0 = nb * NB;
    if (m0 >= M || n0 >= N) return;
#if GEMM_TA == 2
    A = (__global const T*)((__global const float*)A + bat * sa);
#else
    A += bat * sa;
#endif
    int rows[GEMM_MR];
    _Pragma("unroll") for (int i = 0; i < GEMM_MR; ++i) rows[i] = min(m0 + i, M - 1);
    const __global float* bp = Bp + bat * pb + (long)nb * K * NB;
    C += bat * sc;
    VT acc[GEMM_MR][GEMM_NR];
    _Pragma("unroll") for (int i = 0; i < GEMM_MR; ++i)
        _Pragma("unroll") for (int j = 0; j < GEMM_NR; ++j) acc[i][j] = (VT)(0.0f);
    for (int k = 0; k < K; ++k) {
        VT b[GEMM_NR];
        _Pragma("unroll") for (int j = 0; j < GEMM_NR; ++j) b[j] = VLOAD(j, bp);
        _Pragma("unroll") for (int i = 0; i < GEMM_MR; ++i) {
#if GEMM_TA == 2
            const VT a = (VT)(((__global const float*)A)[(long)mb * K * GEMM_MR + k * GEMM_MR + i]);
#elif GEMM_TA
            const VT a = (VT)(LD(A, k * lda + rows[i]));
#else
            const VT a = (VT)(LD(A, rows[i] * lda + k));
#endif
            _Pragma("unroll") for (int j = 0; j < GEMM_NR; ++j) acc[i][j] = fma(a, b[j], acc[i][j]);
        }
        bp += NB;
    }
    const int full = n0 + NB <= N;
    _Pragma("unroll") for (int i = 0; i < GEMM_MR; ++i) {
        const int m = m0 + i;
        if (m < M) {
            _Pragma("unroll") for (int j = 0; j < GEMM_NR; ++j) {
                const int nj = n0 + j * GEMM_NV;
                if (full) {
                    VT r = alpha * acc[i][j];
                    if (use_c) r = beta * LDCV(C, m * ldc + nj) + r;
                    STCV(C, m * ldc + nj, r);
                } else {
                    float t[GEMM_NV];
                    VSTORE(acc[i][j], 0, t);
                    for (int v = 0; v < GEMM_NV; ++v) {
                        const int n = nj + v;
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
}

#undef NB
#undef VT
#undef VLOAD
#undef VSTORE
#undef CT
#undef LDC
#undef STC
#undef STCV
#undef LDCV
