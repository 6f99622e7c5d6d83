// The GEMM primitive (backends/gpu/src/gemm.rs):
//   C[b] = alpha·op(A[b])·op(B[b]) + (use_c ? beta·C[b] : 0)
// op(A)[i, p] = ta ? A[p·lda + i] : A[i·lda + p];  op(B)[p, j] = tb ? B[j·ldb + p] : B[p·ldb + j]
// Batch b starts at b·sa, b·sb, b·sc elements (0: shared). The epilogue is evaluated as
// written, `beta·c + alpha·acc` (the reference's `keep·w + lr·sum`), rounded once at store.
//
// Two kernels, each stamped per (ta, tb, f32 output) by extern "C" wrappers:
//
// * nk_gemm_simt_*: strict f32 on the FP32 cores (no TF32: that would break the f32
//   bound). 128×128 block tile, BK = 8, 256 threads, 8×8 outputs per thread in
//   registers, tiles of op(A) and op(B) widened to f32 in shared memory. Each output is one
//   f32 sum over k ascending with fma. Used for f32, and for f16 below sm_80.
// * nk_gemm_mma_*: f16 storage on the tensor cores, `mma.sync.m16n8k16` f16×f16→f32
//   (inline PTX). Products of two f16 values are exact in f32 and accumulation is f32.
//   128×128 block tile, BK = 32, 8 warps of 64×32, f16 tiles in shared memory (rows padded
//   so that fragment loads are free of bank conflicts). sm_80 and newer.
//
// Tails: rows and columns past M, N load zeros and are not stored; the SIMT k loop of the
// last tile stops at K, the tensor-core one adds zero products past K (+0 added to sums
// that start at +0: no bit changes).
// Grid: (column tiles, row tiles, batches), each dim walked with a grid-stride loop, so
// the host may clamp it to the hardware limits.

#define SIMT_BM 128
#define SIMT_BN 128
#define SIMT_BK 8

template <int TA, int TB, int CF32>
__device__ __forceinline__ void gemm_simt(const int M, const int N, const int K, const T* A,
                                          const int lda, const long long sa, const T* B,
                                          const int ldb, const long long sb, void* Cv,
                                          const int ldc, const long long sc, const float alpha,
                                          const float beta, const int use_c, const int batch) {
    __shared__ float As[SIMT_BK][SIMT_BM + 4];
    __shared__ float Bs[SIMT_BK][SIMT_BN + 4];
    const int tid = threadIdx.x;
    const int tx = tid % 16;
    const int ty = tid / 16;
    const int tiles_m = (M + SIMT_BM - 1) / SIMT_BM;
    const int tiles_n = (N + SIMT_BN - 1) / SIMT_BN;
    for (int bat = blockIdx.z; bat < batch; bat += gridDim.z)
    for (int tm = blockIdx.y; tm < tiles_m; tm += gridDim.y)
    for (int tn = blockIdx.x; tn < tiles_n; tn += gridDim.x) {
        const T* a = A + bat * sa;
        const T* b = B + bat * sb;
        const int m0 = tm * SIMT_BM;
        const int n0 = tn * SIMT_BN;
        float acc[8][8];
#pragma unroll
        for (int i = 0; i < 8; ++i)
#pragma unroll
            for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;
        for (int k0 = 0; k0 < K; k0 += SIMT_BK) {
            // 1024 elements of each tile, 4 per thread, coalesced along the stored
            // contiguous dim.
#pragma unroll
            for (int q = 0; q < 4; ++q) {
                const int e = tid + q * 256;
                const int r = TA ? e % SIMT_BM : e / SIMT_BK;
                const int kk = TA ? e / SIMT_BM : e % SIMT_BK;
                const int gm = m0 + r, gk = k0 + kk;
                float v = 0.0f;
                if (gm < M && gk < K) v = TA ? LD(a, (long long)gk * lda + gm) : LD(a, (long long)gm * lda + gk);
                As[kk][r] = v;
            }
#pragma unroll
            for (int q = 0; q < 4; ++q) {
                const int e = tid + q * 256;
                const int c = TB ? e / SIMT_BK : e % SIMT_BN;
                const int kk = TB ? e % SIMT_BK : e / SIMT_BN;
                const int gn = n0 + c, gk = k0 + kk;
                float v = 0.0f;
                if (gn < N && gk < K) v = TB ? LD(b, (long long)gn * ldb + gk) : LD(b, (long long)gk * ldb + gn);
                Bs[kk][c] = v;
            }
            __syncthreads();
            const int kn = min(SIMT_BK, K - k0);
            for (int kk = 0; kk < kn; ++kk) {
                float av[8], bv[8];
#pragma unroll
                for (int i = 0; i < 8; ++i) av[i] = As[kk][ty + 16 * i];
#pragma unroll
                for (int j = 0; j < 8; ++j) bv[j] = Bs[kk][tx + 16 * j];
#pragma unroll
                for (int i = 0; i < 8; ++i)
#pragma unroll
                    for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
            }
            __syncthreads();
        }
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const int m = m0 + ty + 16 * i;
            if (m >= M) continue;
#pragma unroll
            for (int j = 0; j < 8; ++j) {
                const int n = n0 + tx + 16 * j;
                if (n >= N) continue;
                const long long o = bat * sc + (long long)m * ldc + n;
                float r = alpha * acc[i][j];
                if (CF32) {
                    float* C = (float*)Cv;
                    if (use_c) r = beta * C[o] + r;
                    C[o] = r;
                } else {
                    T* C = (T*)Cv;
                    if (use_c) r = beta * LD(C, o) + r;
                    ST(C, o, r);
                }
            }
        }
    }
}

#define NK_GEMM_ARGS                                                                     \
    const int M, const int N, const int K, const T *A, const int lda, const long long sa, \
        const T *B, const int ldb, const long long sb, void *C, const int ldc,             \
        const long long sc, const float alpha, const float beta, const int use_c,          \
        const int batch
#define NK_GEMM_PASS M, N, K, A, lda, sa, B, ldb, sb, C, ldc, sc, alpha, beta, use_c, batch

#define NK_STAMP(kernel, name, ta, tb, cf)                                               \
    extern "C" __global__ void __launch_bounds__(256) name(NK_GEMM_ARGS) {              \
        kernel<ta, tb, cf>(NK_GEMM_PASS);                                                \
    }

NK_STAMP(gemm_simt, nk_gemm_simt_nn, 0, 0, 0)
NK_STAMP(gemm_simt, nk_gemm_simt_nt, 0, 1, 0)
NK_STAMP(gemm_simt, nk_gemm_simt_tn, 1, 0, 0)
NK_STAMP(gemm_simt, nk_gemm_simt_tt, 1, 1, 0)
NK_STAMP(gemm_simt, nk_gemm_simt_nn_f32out, 0, 0, 1)
NK_STAMP(gemm_simt, nk_gemm_simt_nt_f32out, 0, 1, 1)
NK_STAMP(gemm_simt, nk_gemm_simt_tn_f32out, 1, 0, 1)
NK_STAMP(gemm_simt, nk_gemm_simt_tt_f32out, 1, 1, 1)

#if NK_HALF && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800

#define MMA_BM 128
#define MMA_BN 128
#define MMA_BK 32
#define MMA_LDS (MMA_BK + 8)  // 80-byte rows: the 8×4-word fragment reads hit 32 banks

__device__ __forceinline__ void mma_16816(float* d, const u32* a, const u32* b) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

template <int TA, int TB, int CF32>
__device__ __forceinline__ void gemm_mma(const int M, const int N, const int K, const T* A,
                                         const int lda, const long long sa, const T* B,
                                         const int ldb, const long long sb, void* Cv,
                                         const int ldc, const long long sc, const float alpha,
                                         const float beta, const int use_c, const int batch) {
    // As[m][k] and Bs[n][k]: k contiguous, the layouts of the row-major A fragment and the
    // column-major B fragment.
    __shared__ __align__(16) u16 As[MMA_BM][MMA_LDS];
    __shared__ __align__(16) u16 Bs[MMA_BN][MMA_LDS];
    const int tid = threadIdx.x;
    const int warp = tid / 32, lane = tid % 32;
    const int wm = (warp / 4) * 64;  // 2 × 4 warps, 64 × 32 outputs each
    const int wn = (warp % 4) * 32;
    const int g = lane / 4, t4 = lane % 4;  // fragment group and thread in group
    const int tiles_m = (M + MMA_BM - 1) / MMA_BM;
    const int tiles_n = (N + MMA_BN - 1) / MMA_BN;
    for (int bat = blockIdx.z; bat < batch; bat += gridDim.z)
    for (int tm = blockIdx.y; tm < tiles_m; tm += gridDim.y)
    for (int tn = blockIdx.x; tn < tiles_n; tn += gridDim.x) {
        const u16* a = A + bat * sa;
        const u16* b = B + bat * sb;
        const int m0 = tm * MMA_BM;
        const int n0 = tn * MMA_BN;
        float acc[4][4][4];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j)
#pragma unroll
                for (int q = 0; q < 4; ++q) acc[i][j][q] = 0.0f;
        for (int k0 = 0; k0 < K; k0 += MMA_BK) {
            // 4096 halves per tile, 16 per thread; zeros past M, N and K.
#pragma unroll 4
            for (int q = 0; q < 16; ++q) {
                const int e = tid + q * 256;
                const int r = TA ? e % MMA_BM : e / MMA_BK;
                const int kk = TA ? e / MMA_BM : e % MMA_BK;
                const int gm = m0 + r, gk = k0 + kk;
                u16 v = 0;
                if (gm < M && gk < K) v = TA ? a[(long long)gk * lda + gm] : a[(long long)gm * lda + gk];
                As[r][kk] = v;
            }
#pragma unroll 4
            for (int q = 0; q < 16; ++q) {
                const int e = tid + q * 256;
                const int c = TB ? e / MMA_BK : e % MMA_BN;
                const int kk = TB ? e % MMA_BK : e / MMA_BN;
                const int gn = n0 + c, gk = k0 + kk;
                u16 v = 0;
                if (gn < N && gk < K) v = TB ? b[(long long)gn * ldb + gk] : b[(long long)gk * ldb + gn];
                Bs[c][kk] = v;
            }
            __syncthreads();
#pragma unroll
            for (int ks = 0; ks < MMA_BK; ks += 16) {
                u32 af[4][4], bf[4][2];
#pragma unroll
                for (int i = 0; i < 4; ++i) {
                    const int r = wm + 16 * i + g;
                    af[i][0] = *(const u32*)&As[r][ks + 2 * t4];
                    af[i][1] = *(const u32*)&As[r + 8][ks + 2 * t4];
                    af[i][2] = *(const u32*)&As[r][ks + 8 + 2 * t4];
                    af[i][3] = *(const u32*)&As[r + 8][ks + 8 + 2 * t4];
                }
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    const int c = wn + 8 * j + g;
                    bf[j][0] = *(const u32*)&Bs[c][ks + 2 * t4];
                    bf[j][1] = *(const u32*)&Bs[c][ks + 8 + 2 * t4];
                }
#pragma unroll
                for (int i = 0; i < 4; ++i)
#pragma unroll
                    for (int j = 0; j < 4; ++j) mma_16816(acc[i][j], af[i], bf[j]);
            }
            __syncthreads();
        }
        // The zero padding of the k tail adds +0 products to sums that start at +0: no
        // bit changes.
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j)
#pragma unroll
                for (int q = 0; q < 4; ++q) {
                    const int m = m0 + wm + 16 * i + g + (q >= 2 ? 8 : 0);
                    const int n = n0 + wn + 8 * j + 2 * t4 + (q & 1);
                    if (m >= M || n >= N) continue;
                    const long long o = bat * sc + (long long)m * ldc + n;
                    float r = alpha * acc[i][j][q];
                    if (CF32) {
                        float* C = (float*)Cv;
                        if (use_c) r = beta * C[o] + r;
                        C[o] = r;
                    } else {
                        T* C = (T*)Cv;
                        if (use_c) r = beta * LD(C, o) + r;
                        ST(C, o, r);
                    }
                }
    }
}

NK_STAMP(gemm_mma, nk_gemm_mma_nn, 0, 0, 0)
NK_STAMP(gemm_mma, nk_gemm_mma_nt, 0, 1, 0)
NK_STAMP(gemm_mma, nk_gemm_mma_tn, 1, 0, 0)
NK_STAMP(gemm_mma, nk_gemm_mma_tt, 1, 1, 0)
NK_STAMP(gemm_mma, nk_gemm_mma_nn_f32out, 0, 0, 1)
NK_STAMP(gemm_mma, nk_gemm_mma_nt_f32out, 0, 1, 1)
NK_STAMP(gemm_mma, nk_gemm_mma_tn_f32out, 1, 0, 1)
NK_STAMP(gemm_mma, nk_gemm_mma_tt_f32out, 1, 1, 1)

#endif
