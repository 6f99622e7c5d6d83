// Elementwise ops, the broadcasting adds, activations, Adam, lookups, the transpose, the
// column sums and the small per-row ops of the kernel table. Names, argument order and
// arithmetic are those of kernels/opencl/elementwise.cl (the formulas are evaluated in
// the same order); the bodies are grid-stride loops (see common.cuh).

// c[r·period + j] = a[r·period + j] + b[j]; grid (period, reps).
extern "C" __global__ void nk_add(const int period, const int reps, const T* a, const T* b,
                                  T* c) {
    NK_FOR_Y(r, reps) NK_FOR_X(j, period) {
        const int i = r * period + j;
        const float v = LD(a, i) + LD(b, j);
        ST(c, i, v);
    }
}

extern "C" __global__ void nk_mul(const int n, const T* a, const T* b, T* c) {
    NK_FOR_X(i, n) {
        const float r = LD(a, i) * LD(b, i);
        ST(c, i, r);
    }
}

// y = x·(erfc(−x/√2)/2): keeps its relative accuracy for large negative x.
extern "C" __global__ void nk_gelu(const int n, const T* x, T* y) {
    NK_FOR_X(i, n) {
        const float v = LD(x, i);
        const float r = v * (0.5f * nk_erfc(-v * NK_SQRT1_2));
        ST(y, i, r);
    }
}

// dX = dY·(Φ(x) + x·φ(x)).
extern "C" __global__ void nk_gelu_backward(const int n, const T* x, const T* dy, T* dx) {
    NK_FOR_X(i, n) {
        const float v = LD(x, i);
        const float cdf = 0.5f * nk_erfc(-v * NK_SQRT1_2);
        const float pdf = expf(-0.5f * (v * v)) * 0.3989422804014327f;
        const float r = LD(dy, i) * (cdf + v * pdf);
        ST(dx, i, r);
    }
}

// 1 where x > θ, else 0 (NaN compares false).
extern "C" __global__ void nk_threshold(const int n, const float th, const T* x, T* y) {
    NK_FOR_X(i, n) {
        const float r = LD(x, i) > th ? 1.0f : 0.0f;
        ST(y, i, r);
    }
}

// Adam / AdamW; omb1 = 1−β1, omb2 = 1−β2, c1 = 1−β1ᵗ, c2 = 1−β2ᵗ from the host.
extern "C" __global__ void nk_adam(const int n, T* p, const T* g, float* m, float* v,
                                   const float lr, const float b1, const float omb1,
                                   const float b2, const float omb2, const float eps,
                                   const float wd, const float c1, const float c2,
                                   const int decoupled) {
    NK_FOR_X(i, n) {
        float pv = LD(p, i);
        float gv = LD(g, i);
        if (decoupled) {
            pv = pv - (lr * wd) * pv;
        } else {
            gv = gv + wd * pv;
        }
        const float mn = b1 * m[i] + omb1 * gv;
        const float vn = b2 * v[i] + omb2 * (gv * gv);
        pv = pv - lr * (mn / c1) / (sqrtf(vn / c2) + eps);
        m[i] = mn;
        v[i] = vn;
        ST(p, i, pv);
    }
}

// out[r, :] = table[idx[r], :], a zero row for an index outside [0, vocab); grid (dim, rows).
extern "C" __global__ void nk_embedding_lookup(const int rows, const int dim, const int vocab,
                                               const int* idx, const T* table, T* out) {
    NK_FOR_Y(r, rows) NK_FOR_X(j, dim) {
        const int i = r * dim + j;
        const int t = idx[r];
        if (t >= 0 && t < vocab) {
            out[i] = table[t * dim + j];  // a copy moves the bits, in either storage type
        } else {
            ST(out, i, 0.0f);
        }
    }
}

// (B, D1, D2, D3) → (B, D2, D1, D3): id (i, j, b) moves the D3 block x[b, i, j, :].
extern "C" __global__ void nk_transpose_12(const int d1, const int d2, const int d3,
                                           const int nb, const T* x, T* y) {
    NK_FOR_Z(b, nb) NK_FOR_Y(j, d2) NK_FOR_X(i, d1) {
        const int src = ((b * d1 + i) * d2 + j) * d3;
        const int dst = ((b * d2 + j) * d1 + i) * d3;
        for (int k = 0; k < d3; ++k) y[dst + k] = x[src + k];
    }
}

// Column sums in two deterministic passes: part[c, j] = Σ_{r in chunk c} x[r, j] (rows in
// increasing order), then y[j] = Σ_c part[c, j] (chunks in increasing order). The chunk
// count is the table's grid: max(1, ⌈rows / max(chunk, 1)⌉).
extern "C" __global__ void nk_reduce_rows_part(const int rows, const int n, const int chunk,
                                               const T* x, float* part) {
    const int ch = chunk > 0 ? chunk : 1;
    const int nch = max(1, (int)(((long long)rows + ch - 1) / ch));
    NK_FOR_Y(c, nch) NK_FOR_X(j, n) {
        const long long r0 = (long long)c * ch;
        const int r1 = (int)min((long long)rows, r0 + ch);
        float acc = 0.0f;
        for (int r = (int)min(r0, (long long)rows); r < r1; ++r) acc += LD(x, r * n + j);
        part[c * n + j] = acc;
    }
}

extern "C" __global__ void nk_reduce_rows_final(const int chunks, const int n,
                                                const float* part, T* y) {
    NK_FOR_X(j, n) {
        float acc = 0.0f;
        for (int c = 0; c < chunks; ++c) acc += part[c * n + j];
        ST(y, j, acc);
    }
}

// grad = exp(logp) − onehot(target), loss = max(0, −logp[target]) (NaN kept); a row whose
// target is outside [0, V) gets zeros. Grid (max(vocab, 1), rows): a row's loss is written
// by its column 0 even when V = 0.
extern "C" __global__ void nk_cross_entropy(const int rows, const int vocab, const T* logp,
                                            const int* target, T* grad, T* loss) {
    NK_FOR_Y(r, rows) NK_FOR_X(j, max(vocab, 1)) {
        const int t = target[r];
        const int i = r * vocab + j;
        if (t < 0 || t >= vocab) {
            if (j < vocab) ST(grad, i, 0.0f);
            if (j == 0) ST(loss, r, 0.0f);
            continue;
        }
        const float g = expf(LD(logp, i)) - (j == t ? 1.0f : 0.0f);
        ST(grad, i, g);
        if (j == 0) {
            const float nl = -LD(logp, r * vocab + t);
            const float l = (nl > 0.0f || isnan(nl)) ? nl : 0.0f;
            ST(loss, r, l);
        }
    }
}

// First maximum of each row of f32 scores (strict >, so NaN never wins), −1 and −inf
// when nothing beats −inf.
extern "C" __global__ void nk_argmax_rows(const int rows, const int cols, const float* s,
                                          int* idx, T* best, const int want_best) {
    NK_FOR_X(r, rows) {
        int arg = -1;
        float top = -NK_INF;
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
}

// Token assignment without a score matrix: per row, each similarity summed in increasing
// e, the first-max / NaN-never-wins / −1 rules of nk_argmax_rows.
extern "C" __global__ void nk_token_assign_direct(const int rows, const int nproto,
                                                  const int e, const T* act, const T* proto,
                                                  int* idx, T* best, const int want_best) {
    NK_FOR_X(r, rows) {
        int arg = -1;
        float top = -NK_INF;
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
}

// Loss shaping, one id per row.
extern "C" __global__ void nk_shape_loss(const int rows, const int vocab, const int npairs,
                                         const T* loss_in, const T* probs, const int* target,
                                         const int* pairs, T* loss_out, const float penalty,
                                         const float reward, const float threshold) {
    NK_FOR_X(r, rows) {
        const int t = target[r];
        if (t < 0 || t >= vocab) {
            loss_out[r] = loss_in[r];
            continue;
        }
        float l = LD(loss_in, r);
        int pred = -1;
        float top = -NK_INF;
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
}

// proto[t] ← keep·proto[t] + lr·sums[t]/counts[t] where counts[t] > 0.
extern "C" __global__ void nk_proto_update(const int n, const int e, const float keep,
                                           const float lr, T* proto, const T* sums,
                                           const int* counts) {
    NK_FOR_X(i, n) {
        const int c = counts[i / e];
        if (c <= 0) continue;
        const float r = keep * LD(proto, i) + lr * (LD(sums, i) / (float)c);
        ST(proto, i, r);
    }
}
