// Elementwise ops, the broadcasting adds, activations, Adam, and the small per-row ops.
// One work-item per element (or per row), global size exactly the element count.

// c[r·period + j] = a[r·period + j] + b[j]  (add, add_bias, add_broadcast_pe;
// period = len(b)); global (period, reps), no integer division.
__kernel void nk_add(const int period, const int reps, __global const T* a,
                     __global const T* b, __global T* c) {
    const int j = get_global_id(0);
    const int r = get_global_id(1);
    if (j >= period || r >= reps) return;
    const int i = r * period + j;
    const float v = LD(a, i) + LD(b, j);
    ST(c, i, v);
}

__kernel void nk_mul(const int n, __global const T* a, __global const T* b, __global T* c) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const float r = LD(a, i) * LD(b, i);
    ST(c, i, r);
}

// y = 0.5·x·(1 + erf(x/√2)) evaluated as x·(erfc(−x/√2)/2), which keeps its relative
// accuracy for large negative x (1 + erf would cancel to 0).
__kernel void nk_gelu(const int n, __global const T* x, __global T* y) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const float v = LD(x, i);
    const float r = v * (0.5f * nk_erfc(-v * M_SQRT1_2_F));
    ST(y, i, r);
}

// dX = dY·(Φ(x) + x·φ(x)).
__kernel void nk_gelu_backward(const int n, __global const T* x, __global const T* dy,
                               __global T* dx) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const float v = LD(x, i);
    const float cdf = 0.5f * nk_erfc(-v * M_SQRT1_2_F);
    const float pdf = exp(-0.5f * (v * v)) * 0.3989422804014327f;
    const float r = LD(dy, i) * (cdf + v * pdf);
    ST(dx, i, r);
}

// 1 where x > θ, else 0 (NaN compares false).
__kernel void nk_threshold(const int n, const float th, __global const T* x, __global T* y) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const float r = LD(x, i) > th ? 1.0f : 0.0f;
    ST(y, i, r);
}

// Adam / AdamW. omb1 = 1−β1, omb2 = 1−β2, c1 = 1−β1ᵗ, c2 = 1−β2ᵗ: computed by the host in
// f64 and rounded once.
__kernel void nk_adam(const int n, __global T* p, __global const T* g, __global float* m,
                      __global float* v, const float lr, const float b1, const float omb1,
                      const float b2, const float omb2, const float eps, const float wd,
                      const float c1, const float c2, const int decoupled) {
    const int i = get_global_id(0);
    if (i >= n) return;
    float pv = LD(p, i);
    float gv = LD(g, i);
    if (decoupled) {
        pv = pv - (lr * wd) * pv;
    } else {
        gv = gv + wd * pv;
    }
    const float mn = b1 * m[i] + omb1 * gv;
    const float vn = b2 * v[i] + omb2 * (gv * gv);
    pv = pv - lr * (mn / c1) / (sqrt(vn / c2) + eps);
    m[i] = mn;
    v[i] = vn;
    ST(p, i, pv);
}

// out[r, :] = table[idx[r], :] or a zero row when idx[r] is outside [0, V); global
// (dim, rows).
__kernel void nk_embedding_lookup(const int rows, const int dim, const int vocab,
                                  __global const int* idx, __global const T* table,
                                  __global T* out) {
    const int j = get_global_id(0);
    const int r = get_global_id(1);
    if (j >= dim || r >= rows) return;
    const int i = r * dim + j;
    const int t = idx[r];
    if (t >= 0 && t < vocab) {
#if NK_HALF
        // A copy is exact: move the bits.
        ((__global ushort*)out)[i] = ((__global const ushort*)table)[t * dim + j];
#else
        out[i] = table[t * dim + j];
#endif
    } else {
        ST(out, i, 0.0f);
    }
}

// (B, D1, D2, D3) → (B, D2, D1, D3): work-item (i, j, b) moves the D3 block
// x[b, i, j, :] to y[b, j, i, :]; an exact copy, no integer division.
__kernel void nk_transpose_12(const int d1, const int d2, const int d3, const int nb,
                              __global const T* x, __global T* y) {
    const int i = get_global_id(0);
    const int j = get_global_id(1);
    const int b = get_global_id(2);
    if (i >= d1 || j >= d2 || b >= nb) return;
    const int src = ((b * d1 + i) * d2 + j) * d3;
    const int dst = ((b * d2 + j) * d1 + i) * d3;
    for (int k = 0; k < d3; ++k) {
#if NK_HALF
        ((__global ushort*)y)[dst + k] = ((__global const ushort*)x)[src + k];
#else
        y[dst + k] = x[src + k];
#endif
    }
}

// Column sums in two deterministic passes, so that the work spreads over many
// work-items: part[c, j] = Σ_{r in chunk c} x[r, j] (rows in increasing order), then
// y[j] = Σ_c part[c, j] (chunks in increasing order).
__kernel void nk_reduce_rows_part(const int rows, const int n, const int chunk,
                                  __global const T* x, __global float* part) {
    const int j = get_global_id(0);
    const int c = get_global_id(1);
    if (j >= n) return;
    const int r0 = c * chunk;
    const int r1 = min(rows, r0 + chunk);
    float acc = 0.0f;
    for (int r = r0; r < r1; ++r) acc += LD(x, r * n + j);
    part[c * n + j] = acc;
}

__kernel void nk_reduce_rows_final(const int chunks, const int n, __global const float* part,
                                   __global T* y) {
    const int j = get_global_id(0);
    if (j >= n) return;
    float acc = 0.0f;
    for (int c = 0; c < chunks; ++c) acc += part[c * n + j];
    ST(y, j, acc);
}

// grad = exp(logp) − onehot(target), loss = max(0, −logp[target]) (NaN kept); a row whose
// target is outside [0, V) gets grad 0 and loss 0. One work-item per element of grad; the
// row's first work-item writes its loss.
__kernel void nk_cross_entropy(const int rows, const int vocab, __global const T* logp,
                               __global const int* target, __global T* grad,
                               __global T* loss) {
    // Launched over max(vocab, 1) columns, so a row's loss is written even when V = 0.
    const int j = get_global_id(0);
    const int r = get_global_id(1);
    if (j >= max(vocab, 1) || r >= rows) return;
    const int t = target[r];
    const int i = r * vocab + j;
    if (t < 0 || t >= vocab) {
        if (j < vocab) ST(grad, i, 0.0f);
        if (j == 0) ST(loss, r, 0.0f);
        return;
    }
    const float g = exp(LD(logp, i)) - (j == t ? 1.0f : 0.0f);
    ST(grad, i, g);
    if (j == 0) {
        const float nl = -LD(logp, r * vocab + t);
        const float l = (nl > 0.0f || isnan(nl)) ? nl : 0.0f;
        ST(loss, r, l);
    }
}

// First maximum of each row of f32 scores (strict >, so NaN never wins), −1 and −inf
// when nothing beats −inf.
__kernel void nk_argmax_rows(const int rows, const int cols, __global const float* s,
                             __global int* idx, __global T* best, const int want_best) {
    const int r = get_global_id(0);
    if (r >= rows) return;
    int arg = -1;
    float top = -INFINITY;
    for (int t = 0; t < cols; ++t) {
        const float v = s[r * cols + t];
        if (v > top) {
            top = v;
            arg = t;
        }
    }
    idx[r] = arg;
    if (want_best) ST(best, r, top);
}

// Token assignment without a score matrix (used when the (rows, T) scores would not fit
// in device memory): one work-item per row, each similarity summed in increasing e, the
// same first-max / NaN-never-wins / -1 rules as nk_argmax_rows.
__kernel void nk_token_assign_direct(const int rows, const int nproto, const int e,
                                     __global const T* act, __global const T* proto,
                                     __global int* idx, __global T* best, const int want_best) {
    const int r = get_global_id(0);
    if (r >= rows) return;
    int arg = -1;
    float top = -INFINITY;
    for (int t = 0; t < nproto; ++t) {
        float s = 0.0f;
        for (int k = 0; k < e; ++k) s += LD(act, r * e + k) * LD(proto, t * e + k);
        if (s > top) {
            top = s;
            arg = t;
        }
    }
    idx[r] = arg;
    if (want_best) ST(best, r, top);
}

// Loss shaping, one work-item per row.
__kernel void nk_shape_loss(const int rows, const int vocab, const int npairs,
                            __global const T* loss_in, __global const T* probs,
                            __global const int* target, __global const int* pairs,
                            __global T* loss_out, const float penalty, const float reward,
                            const float threshold) {
    const int r = get_global_id(0);
    if (r >= rows) return;
    const int t = target[r];
    if (t < 0 || t >= vocab) {
#if NK_HALF
        ((__global ushort*)loss_out)[r] = ((__global const ushort*)loss_in)[r];
#else
        loss_out[r] = loss_in[r];
#endif
        return;
    }
    float l = LD(loss_in, r);
    int pred = -1;
    float top = -INFINITY;
    for (int j = 0; j < vocab; ++j) {
        const float v = LD(probs, r * vocab + j);
        if (v > top) {
            top = v;
            pred = j;
        }
    }
    if (pred >= 0) {
        int confused = 0;
        for (int p = 0; p < npairs; ++p)
            if (pairs[2 * p] == t && pairs[2 * p + 1] == pred) confused = 1;
        if (confused) l = l + penalty;
        if (pred == t && LD(probs, r * vocab + t) >= threshold) l = l - reward;
    }
    ST(loss_out, r, l);
}

// proto[t] ← (1−lr)·proto[t] + lr·sums[t]/counts[t] where counts[t] > 0.
__kernel void nk_proto_update(const int n, const int e, const float keep, const float lr,
                              __global T* proto, __global const T* sums,
                              __global const int* counts) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const int c = counts[i / e];
    if (c <= 0) return;
    const float r = keep * LD(proto, i) + lr * (LD(sums, i) / (float)c);
    ST(proto, i, r);
}
