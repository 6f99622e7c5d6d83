// Deterministic segmented sums (embedding_backward, proto_segmented_sum) in
// O(rows·width + segments·width): a stable counting sort of the row indices into
// CSR form (offsets per segment, rows in increasing order), then one work-item per
// (segment, column) summing its rows in that fixed order. No float atomics.

// Stable counting sort, by one work-item: offs[S+1], order[M] (rows whose index is in
// [0, S), grouped by segment, increasing within a segment), cursor[S] scratch.
__kernel void nk_bucket(const int m, const int segs, __global const int* idx,
                        __global int* offs, __global int* order, __global int* cursor) {
    if (get_global_id(0) != 0) return;
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

// dst[s, j] = Σ_{p in segment s} src[order[p], j], in increasing row order.
__kernel void nk_segment_sum(const int width, const int segs, __global const T* src,
                             __global const int* offs, __global const int* order,
                             __global T* dst) {
    const int j = get_global_id(0);
    const int s = get_global_id(1);
    if (j >= width || s >= segs) return;
    float acc = 0.0f;
    const int end = offs[s + 1];
    for (int p = offs[s]; p < end; ++p) acc += LD(src, order[p] * width + j);
    ST(dst, s * width + j, acc);
}

__kernel void nk_segment_counts(const int segs, __global const int* offs,
                                __global int* counts) {
    const int s = get_global_id(0);
    if (s >= segs) return;
    counts[s] = offs[s + 1] - offs[s];
}
