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

// erfc(x) in f32 without a libm call (vectorizable): the Chebyshev fit of Numerical
// Recipes' erfcc, fractional error < 1.2e-7 (about 2 ulp) for every x, evaluated as
// t·exp(−z² + P(t)), t = 1/(1 + z/2), z = |x|; erfc(−z) = 2 − erfc(z). The f32 evaluation
// adds a few ulp, plus the conditioning of exp(−z²) (relative z²·u), well inside the
// 16-ulp limit OpenCL gives erfc over the range where gelu needs it.
inline float nk_erfc(const float x) {
    const float z = fabs(x);
    const float t = 1.0f / (1.0f + 0.5f * z);
    const float p = t * (1.00002368f + t * (0.37409196f + t * (0.09678418f +
                    t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f +
                    t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
    const float r = t * exp((-z * z - 1.26551223f) + p);
    return x >= 0.0f ? r : 2.0f - r;
}
