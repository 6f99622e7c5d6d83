// Work-group reductions of the per-row kernels: one work-group of WG invocations per row,
// strided partial results per invocation, then a fixed-shape tree in shared memory (the
// same bits on every run). Strided loops keep each invocation's loop count at len/WG,
// far below lavapipe's 65 535 iterations per invocation for the rows the backend accepts.

shared float nk_sf[WG];
shared int nk_si[WG];

float wg_sum(float v) {
    nk_sf[LID] = v;
    barrier();
    for (int o = WG / 2; o > 0; o >>= 1) {
        if (LID < o) {
            precise float s = nk_sf[LID] + nk_sf[LID + o];
            nk_sf[LID] = s;
        }
        barrier();
    }
    float r = nk_sf[0];
    barrier();
    return r;
}

float wg_max(float v) {
    nk_sf[LID] = v;
    barrier();
    for (int o = WG / 2; o > 0; o >>= 1) {
        if (LID < o) nk_sf[LID] = nk_max(nk_sf[LID], nk_sf[LID + o]);
        barrier();
    }
    float r = nk_sf[0];
    barrier();
    return r;
}

int wg_or(int v) {
    nk_si[LID] = v;
    barrier();
    for (int o = WG / 2; o > 0; o >>= 1) {
        if (LID < o) nk_si[LID] = nk_si[LID] | nk_si[LID + o];
        barrier();
    }
    int r = nk_si[0];
    barrier();
    return r;
}

// The first maximum of a row (strict >, so NaN and −inf never win; −1 when nothing beats
// −inf) from each invocation's first maximum over its strided columns: a larger value
// wins, an equal one goes to the smaller column.
void wg_argmax(inout float top, inout int arg) {
    nk_sf[LID] = top;
    nk_si[LID] = arg;
    barrier();
    for (int o = WG / 2; o > 0; o >>= 1) {
        if (LID < o) {
            float bv = nk_sf[LID + o];
            int bi = nk_si[LID + o];
            float av = nk_sf[LID];
            int ai = nk_si[LID];
            if (bi >= 0 && (bv > av || (bv == av && (ai < 0 || bi < ai)))) {
                nk_sf[LID] = bv;
                nk_si[LID] = bi;
            }
        }
        barrier();
    }
    top = nk_sf[0];
    arg = nk_si[0];
    barrier();
}
