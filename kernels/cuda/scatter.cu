// Deterministic segmented sums (embedding_backward, proto_segmented_sum), as in
// kernels/opencl/scatter.cl: a stable counting sort of the row indices into CSR form, then
// one id per (segment, column) summing its rows in increasing row order. No atomics.

// Stable counting sort by one thread: offs[S+1], order[M] (rows whose index is in [0, S),
// grouped by segment, increasing within a segment), cursor[S] scratch. Grid [1].
extern "C" __global__ void nk_bucket(const int m, const int segs, const int* idx, int* offs,
                                     int* order, int* cursor) {
    NK_FOR_X(once, 1) {
        for (int s = 0; s <= segs; ++s) offs[s] = 0;
        for (int r = 0; r < m; ++r) {
            const int v = idx[r];
            if (v >= 0 && v < segs) offs[v + 1] += 1;
        }
        for (int s = 0; s < segs; ++s) {
            offs[s + 1] += offs[s];
            cursor[s] = offs[s];
        }
        for (int r = 0; r < m; ++r) {
            const int v = idx[r];
            if (v >= 0 && v < segs) order[cursor[v]++] = r;
        }
    }
}

// dst[s, j] = Σ_{p in segment s} src[order[p], j], in increasing row order; grid (width, segs).
extern "C" __global__ void nk_segment_sum(const int width, const int segs, const T* src,
                                          const int* offs, const int* order, T* dst) {
    NK_FOR_Y(s, segs) NK_FOR_X(j, width) {
        float acc = 0.0f;
        const int end = offs[s + 1];
        for (int p = offs[s]; p < end; ++p) acc += LD(src, order[p] * width + j);
        ST(dst, s * width + j, acc);
    }
}

extern "C" __global__ void nk_segment_counts(const int segs, const int* offs, int* counts) {
    NK_FOR_X(s, segs) counts[s] = offs[s + 1] - offs[s];
}
