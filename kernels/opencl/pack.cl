// Packing of the GEMM's operands (see gemm.cl): f32 panels, transpose applied, zero padding.
// Work-item (panel, k-chunk, batch) copies PACK_KC consecutive k of one panel: sequential
// reads along the source's contiguous dim and sequential writes, no integer division.

#define PACK_KC 64

// Ap[b][mb][k][MR] = op(A)[b][mb·MR + i][k]; op(A)[m][k] = ta ? A[k·lda + m] : A[m·lda + k].
__kernel void nk_pack_a(const int M, const int K, __global const T* A, const int lda,
                        const int sa, const int ta, __global float* Ap, const long pa) {
    const int mb = get_global_id(0);
    const int k0 = get_global_id(1) * PACK_KC;
    const int bat = get_global_id(2);
    if (mb * GEMM_MR >= M || k0 >= K) return;
    const int k1 = min(K, k0 + PACK_KC);
    A += bat * sa;
    __global float* dst = Ap + bat * pa + (long)mb * K * GEMM_MR;
    int rows[GEMM_MR];
    _Pragma("unroll") for (int i = 0; i < GEMM_MR; ++i) rows[i] = min(mb * GEMM_MR + i, M - 1);
    for (int k = k0; k < k1; ++k) {
        _Pragma("unroll") for (int i = 0; i < GEMM_MR; ++i) {
            const float v = LD(A, ta ? k * lda + rows[i] : rows[i] * lda + k);
            dst[k * GEMM_MR + i] = mb * GEMM_MR + i < M ? v : 0.0f;
        }
    }
}

// Bp[b][nb][k][NB] = op(B)[b][k][nb·NB + j]; op(B)[k][n] = tb ? B[n·ldb + k] : B[k·ldb + n].
__kernel void nk_pack_b(const int N, const int K, __global const T* B, const int ldb,
                        const int sb, const int tb, __global float* Bp, const long pb) {
    const int cols = GEMM_NV * GEMM_NR;
    const int nb = get_global_id(0);
    const int k0 = get_global_id(1) * PACK_KC;
    const int bat = get_global_id(2);
    if (nb * cols >= N || k0 >= K) return;
    const int k1 = min(K, k0 + PACK_KC);
    B += bat * sb;
    __global float* dst = Bp + bat * pb + (long)nb * K * cols;
    const int n0 = nb * cols;
    if (!tb && n0 + cols <= N) {
        for (int k = k0; k < k1; ++k) {
            _Pragma("unroll") for (int j = 0; j < cols; ++j) dst[k * cols + j] = LD(B, k * ldb + n0 + j);
        }
    } else {
        for (int k = k0; k < k1; ++k) {
            _Pragma("unroll") for (int j = 0; j < cols; ++j) {
                const int n = min(n0 + j, N - 1);
                const float v = LD(B, tb ? n * ldb + k : k * ldb + n);
                dst[k * cols + j] = n0 + j < N ? v : 0.0f;
            }
        }
    }
}
