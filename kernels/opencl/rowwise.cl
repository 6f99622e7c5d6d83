// Rowwise ops: one work-group per row, get_local_size(0) a power of two, strided partial
// sums per work-item, then a fixed-shape tree in local memory (deterministic).

__kernel void nk_softmax(const int len, __global const T* x, __global T* y,
                         __local float* s, const int log_out) {
    const int r = get_group_id(0);
    const int l = get_local_id(0);
    const int n = get_local_size(0);
    __global const T* xr = x + r * len;
    float m = -INFINITY;
    for (int i = l; i < len; i += n) m = nk_max(m, LD(xr, i));
    m = wg_max(s, m);
    float sum = 0.0f;
    for (int i = l; i < len; i += n) sum += exp(LD(xr, i) - m);
    sum = wg_sum(s, sum);
    if (log_out) {
        const float lse = log(sum);
        for (int i = l; i < len; i += n) ST(y, r * len + i, (LD(xr, i) - m) - lse);
    } else {
        for (int i = l; i < len; i += n) ST(y, r * len + i, exp(LD(xr, i) - m) / sum);
    }
}

// dX = Y ⊙ (dY − Σ_row dY⊙Y).
__kernel void nk_softmax_backward(const int len, __global const T* dy, __global const T* y,
                                  __global T* dx, __local float* s) {
    const int r = get_group_id(0);
    const int l = get_local_id(0);
    const int n = get_local_size(0);
    const int o = r * len;
    float d = 0.0f;
    for (int i = l; i < len; i += n) d += LD(dy, o + i) * LD(y, o + i);
    d = wg_sum(s, d);
    for (int i = l; i < len; i += n) ST(dx, o + i, LD(y, o + i) * (LD(dy, o + i) - d));
}

// Row statistics: μ = Σx/L, σ² = Σ(x−μ)²/L, rstd = 1/√(σ² + eps).
__attribute__((always_inline)) inline float2 ln_stats(__global const T* xr, const int len, const float eps,
                       __local float* s) {
    const int l = get_local_id(0);
    const int n = get_local_size(0);
    float sum = 0.0f;
    for (int i = l; i < len; i += n) sum += LD(xr, i);
    const float mean = wg_sum(s, sum) / (float)len;
    float sq = 0.0f;
    for (int i = l; i < len; i += n) {
        const float d = LD(xr, i) - mean;
        sq += d * d;
    }
    const float var = wg_sum(s, sq) / (float)len;
    return (float2)(mean, 1.0f / sqrt(var + eps));
}

__kernel void nk_layer_norm(const int len, const float eps, __global const T* x,
                            __global const T* gamma, __global const T* beta, __global T* y,
                            __local float* s, const int affine) {
    const int r = get_group_id(0);
    const int l = get_local_id(0);
    const int n = get_local_size(0);
    const int o = r * len;
    const float2 st = ln_stats(x + o, len, eps, s);
    for (int i = l; i < len; i += n) {
        const float xh = (LD(x, o + i) - st.x) * st.y;
        const float v = affine ? LD(gamma, i) * xh + LD(beta, i) : xh;
        ST(y, o + i, v);
    }
}

// dX = rstd/L · (L·g − Σg − x̂·Σ(g·x̂)), g = dY or dY⊙γ. Writes (μ, rstd) per row for the
// column pass.
__kernel void nk_layer_norm_backward(const int len, const float eps, __global const T* dy,
                                     __global const T* x, __global const T* gamma,
                                     __global T* dx, __global float* stats,
                                     __local float* s, const int affine) {
    const int r = get_group_id(0);
    const int l = get_local_id(0);
    const int n = get_local_size(0);
    const int o = r * len;
    const float2 st = ln_stats(x + o, len, eps, s);
    float sg = 0.0f, sgx = 0.0f;
    for (int i = l; i < len; i += n) {
        const float g = affine ? LD(dy, o + i) * LD(gamma, i) : LD(dy, o + i);
        const float xh = (LD(x, o + i) - st.x) * st.y;
        sg += g;
        sgx += g * xh;
    }
    sg = wg_sum(s, sg);
    sgx = wg_sum(s, sgx);
    const float lf = (float)len;
    const float scale = st.y / lf;
    for (int i = l; i < len; i += n) {
        const float g = affine ? LD(dy, o + i) * LD(gamma, i) : LD(dy, o + i);
        const float xh = (LD(x, o + i) - st.x) * st.y;
        ST(dx, o + i, scale * ((lf * g - sg) - xh * sgx));
    }
    if (l == 0) {
        stats[2 * r] = st.x;
        stats[2 * r + 1] = st.y;
    }
}

// dγ[j] = Σ_r dY⊙x̂, dβ[j] = Σ_r dY, rows in increasing order.
__kernel void nk_layer_norm_backward_cols(const int rows, const int len, __global const T* dy,
                                          __global const T* x, __global const float* stats,
                                          __global T* dgamma, __global T* dbeta) {
    const int j = get_global_id(0);
    if (j >= len) return;
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

// The same rowwise ops with one work-item per row and serial loops in increasing index
// order: the form for CPU devices, whose OpenCL compilers vectorize across work-items and
// pay for every work-group barrier.

__kernel void nk_softmax_wi(const int rows, const int len, __global const T* x,
                            __global T* y, const int log_out) {
    const int r = get_global_id(0);
    if (r >= rows) return;
    const int o = r * len;
    float m = -INFINITY;
    for (int i = 0; i < len; ++i) m = nk_max(m, LD(x, o + i));
    float sum = 0.0f;
    for (int i = 0; i < len; ++i) sum += exp(LD(x, o + i) - m);
    if (log_out) {
        const float lse = log(sum);
        for (int i = 0; i < len; ++i) ST(y, o + i, (LD(x, o + i) - m) - lse);
    } else {
        for (int i = 0; i < len; ++i) ST(y, o + i, exp(LD(x, o + i) - m) / sum);
    }
}

__kernel void nk_softmax_backward_wi(const int rows, const int len, __global const T* dy,
                                     __global const T* y, __global T* dx) {
    const int r = get_global_id(0);
    if (r >= rows) return;
    const int o = r * len;
    float d = 0.0f;
    for (int i = 0; i < len; ++i) d += LD(dy, o + i) * LD(y, o + i);
    for (int i = 0; i < len; ++i) ST(dx, o + i, LD(y, o + i) * (LD(dy, o + i) - d));
}

__attribute__((always_inline)) inline float2 ln_stats_wi(__global const T* xr, const int len, const float eps) {
    float sum = 0.0f;
    for (int i = 0; i < len; ++i) sum += LD(xr, i);
    const float mean = sum / (float)len;
    float sq = 0.0f;
    for (int i = 0; i < len; ++i) {
        const float d = LD(xr, i) - mean;
        sq += d * d;
    }
    const float var = sq / (float)len;
    return (float2)(mean, 1.0f / sqrt(var + eps));
}

__kernel void nk_layer_norm_wi(const int rows, const int len, const float eps,
                               __global const T* x, __global const T* gamma,
                               __global const T* beta, __global T* y, const int affine) {
    const int r = get_global_id(0);
    if (r >= rows) return;
    const int o = r * len;
    const float2 st = ln_stats_wi(x + o, len, eps);
    for (int i = 0; i < len; ++i) {
        const float xh = (LD(x, o + i) - st.x) * st.y;
        const float v = affine ? LD(gamma, i) * xh + LD(beta, i) : xh;
        ST(y, o + i, v);
    }
}

__kernel void nk_layer_norm_backward_wi(const int rows, const int len, const float eps,
                                        __global const T* dy, __global const T* x,
                                        __global const T* gamma, __global T* dx,
                                        __global float* stats, const int affine) {
    const int r = get_global_id(0);
    if (r >= rows) return;
    const int o = r * len;
    const float2 st = ln_stats_wi(x + o, len, eps);
    float sg = 0.0f, sgx = 0.0f;
    for (int i = 0; i < len; ++i) {
        const float g = affine ? LD(dy, o + i) * LD(gamma, i) : LD(dy, o + i);
        const float xh = (LD(x, o + i) - st.x) * st.y;
        sg += g;
        sgx += g * xh;
    }
    const float lf = (float)len;
    const float scale = st.y / lf;
    for (int i = 0; i < len; ++i) {
        const float g = affine ? LD(dy, o + i) * LD(gamma, i) : LD(dy, o + i);
        const float xh = (LD(x, o + i) - st.x) * st.y;
        ST(dx, o + i, scale * ((lf * g - sg) - xh * sgx));
    }
    stats[2 * r] = st.x;
    stats[2 * r + 1] = st.y;
}
