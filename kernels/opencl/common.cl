// Shared prelude of every neurokern OpenCL program.
//
// The host prepends `#define NK_HALF 0|1` (storage type of the call's float operands),
// the GEMM tile parameters, and nothing else. f16 is storage only: values are widened
// with vload_half and rounded once, to nearest-even, with vstore_half_rte; all arithmetic
// is f32. No cl_khr_fp16 is needed (`half` is only used as a pointer target).
//
// Contraction of a*b+c into fma is off: the formulas are evaluated as written, as the
// reference does; the GEMM inner loop asks for fma explicitly (more accurate, within the
// dot-product bound either way).
#pragma OPENCL FP_CONTRACT OFF

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

#if NK_HALF
typedef half T;
#define LD(p, i) vload_half((i), (p))
#define ST(p, i, v) vstore_half_rte((v), (i), (p))
#else
typedef float T;
#define LD(p, i) ((p)[i])
#define ST(p, i, v) ((p)[i] = (v))
#endif

// NaN-propagating maximum (the reference's row_max): any NaN wins.
inline float nk_max(float a, float b) {
    if (isnan(a)) return a;
    if (isnan(b)) return b;
    return a > b ? a : b;
}

// Work-group tree reductions over a __local scratch of get_local_size(0) floats (a power
// of two). Fixed shape, so the result is the same bits on every run.
inline float wg_sum(__local float* s, float v) {
    const int l = get_local_id(0);
    const int n = get_local_size(0);
    s[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int o = n >> 1; o > 0; o >>= 1) {
        if (l < o) s[l] = s[l] + s[l + o];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float r = s[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

inline float wg_max(__local float* s, float v) {
    const int l = get_local_id(0);
    const int n = get_local_size(0);
    s[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int o = n >> 1; o > 0; o >>= 1) {
        if (l < o) s[l] = nk_max(s[l], s[l + o]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float r = s[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}
