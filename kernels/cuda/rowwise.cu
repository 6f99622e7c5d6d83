// Rowwise ops: one warp per row (NK_FOR_ROWS), lane-strided partial sums in increasing
// index order, then a fixed xor-butterfly across the warp (warp_sum / warp_max), so the
// bits are the same on every run. The formulas are those of kernels/opencl/rowwise.cl;
// the names and arguments are the table's (`_wi` names: the table's one-id-per-row
// kernels, which a backend may run a group per row instead).

extern "C" __global__ void nk_softmax_wi(const int rows, const int len, const T* x, T* y,
                                         const int log_out) {
    const int lane = threadIdx.x % 32;
    NK_FOR_ROWS(r, rows) {
        const int o = r * len;
        float m = -NK_INF;
        for (int i = lane; i < len; i += 32) m = nk_max(m, LD(x, o + i));
        m = warp_max(m);
        float sum = 0.0f;
        for (int i = lane; i < len; i += 32) sum += expf(LD(x, o + i) - m);
        sum = warp_sum(sum);
        if (log_out) {
            const float lse = logf(sum);
            for (int i = lane; i < len; i += 32) ST(y, o + i, (LD(x, o + i) - m) - lse);
        } else {
            for (int i = lane; i < len; i += 32) ST(y, o + i, expf(LD(x, o + i) - m) / sum);
        }
    }
}

// dX = Y ⊙ (dY − Σ_row dY⊙Y).
extern "C" __global__ void nk_softmax_backward_wi(const int rows, const int len, const T* dy,
                                                  const T* y, T* dx) {
    const int lane = threadIdx.x % 32;
    NK_FOR_ROWS(r, rows) {
        const int o = r * len;
        float d = 0.0f;
        for (int i = lane; i < len; i += 32) d += LD(dy, o + i) * LD(y, o + i);
        d = warp_sum(d);
        for (int i = lane; i < len; i += 32) ST(dx, o + i, LD(y, o + i) * (LD(dy, o + i) - d));
    }
}

// Row statistics of one warp's row: μ = Σx/L, σ² = Σ(x−μ)²/L, rstd = 1/√(σ² + eps).
__device__ __forceinline__ float2 ln_stats(const T* xr, const int len, const float eps,
                                           const int lane) {
    float sum = 0.0f;
    for (int i = lane; i < len; i += 32) sum += LD(xr, i);
    const float mean = warp_sum(sum) / (float)len;
    float sq = 0.0f;
    for (int i = lane; i < len; i += 32) {
        const float d = LD(xr, i) - mean;
        sq += d * d;
    }
    const float var = warp_sum(sq) / (float)len;
    return make_float2(mean, 1.0f / sqrtf(var + eps));
}

extern "C" __global__ void nk_layer_norm_wi(const int rows, const int len, const float eps,
                                            const T* x, const T* gamma, const T* beta, T* y,
                                            const int affine) {
    const int lane = threadIdx.x % 32;
    NK_FOR_ROWS(r, rows) {
        const int o = r * len;
        const float2 st = ln_stats(x + o, len, eps, lane);
        for (int i = lane; i < len; i += 32) {
            const float xh = (LD(x, o + i) - st.x) * st.y;
            const float v = affine ? LD(gamma, i) * xh + LD(beta, i) : xh;
            ST(y, o + i, v);
        }
    }
}

// dX = rstd/L · (L·g − Σg − x̂·Σ(g·x̂)), g = dY or dY⊙γ; writes (μ, rstd) per row for the
// column pass.
extern "C" __global__ void nk_layer_norm_backward_wi(const int rows, const int len,
                                                     const float eps, const T* dy, const T* x,
                                                     const T* gamma, T* dx, float* stats,
                                                     const int affine) {
    const int lane = threadIdx.x % 32;
    NK_FOR_ROWS(r, rows) {
        const int o = r * len;
        const float2 st = ln_stats(x + o, len, eps, lane);
        float sg = 0.0f, sgx = 0.0f;
        for (int i = lane; i < len; i += 32) {
            const float g = affine ? LD(dy, o + i) * LD(gamma, i) : LD(dy, o + i);
            const float xh = (LD(x, o + i) - st.x) * st.y;
            sg += g;
            sgx += g * xh;
        }
        sg = warp_sum(sg);
        sgx = warp_sum(sgx);
        const float lf = (float)len;
        const float scale = st.y / lf;
        for (int i = lane; i < len; i += 32) {
            const float g = affine ? LD(dy, o + i) * LD(gamma, i) : LD(dy, o + i);
            const float xh = (LD(x, o + i) - st.x) * st.y;
            ST(dx, o + i, scale * ((lf * g - sg) - xh * sgx));
        }
        if (lane == 0) {
            stats[2 * r] = st.x;
            stats[2 * r + 1] = st.y;
        }
    }
}

// dγ[j] = Σ_r dY⊙x̂, dβ[j] = Σ_r dY, rows in increasing order; grid (len).
extern "C" __global__ void nk_layer_norm_backward_cols(const int rows, const int len,
                                                       const T* dy, const T* x,
                                                       const float* stats, T* dgamma,
                                                       T* dbeta) {
    NK_FOR_X(j, len) {
        float ag = 0.0f, ab = 0.0f;
        for (int r = 0; r < rows; ++r) {
            const float d = LD(dy, r * len + j);
            const float xh = (LD(x, r * len + j) - stats[2 * r]) * stats[2 * r + 1];
            ag += d * xh;
            ab += d;
        }
        ST(dgamma, j, ag);
        ST(dbeta, j, ab);
    }
}
