// Shared prelude of every neurokern OpenCL program.
//
// The host prepends `#define NK_HALF 0|1` (storage type of the call's float operands),
// the GEMM tile parameters, and nothing else. f16 is storage only: values are widened
// exactly and rounded once, to nearest-even, when stored (nk_half_to_float and
// nk_float_to_half below, the semantics of vload_half / vstore_half_rte); all arithmetic
// is f32. No cl_khr_fp16 is needed (`half` is only used as a pointer target).
//
// Contraction of a*b+c into fma is off: the formulas are evaluated as written, as the
// reference does; the GEMM inner loop asks for fma explicitly (more accurate, within the
// dot-product bound either way).
#pragma OPENCL FP_CONTRACT OFF

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

// binary16 ↔ f32 by integer arithmetic and selects, so that compilers can vectorize it
// (some implement vload_half / vstore_half_rte as opaque scalar routines). Widening is
// exact; narrowing rounds to nearest-even, overflows to ±inf, keeps NaN a NaN, and rounds
// into the subnormal range with rint (round-to-nearest-even, the default mode). Neither
// depends on f32 denormal support: f16 subnormals are built with an integer conversion.
__attribute__((always_inline)) inline float nk_half_to_float(const uint h) {
    const uint sign = (h & 0x8000u) << 16;
    const uint em = h & 0x7fffu;
    float f = as_float((em << 13) + 0x38000000u);        // normal: rebias 15 → 127
    f = em < 0x0400u ? (float)em * 0x1p-24f : f;          // zero and subnormal: exact
    f = em >= 0x7c00u ? as_float((em << 13) | 0x7f800000u) : f;  // inf, NaN (payload kept)
    return as_float(as_uint(f) | sign);
}

__attribute__((always_inline)) inline ushort nk_float_to_half(const float v) {
    const uint x = as_uint(v);
    const uint sign = (x >> 16) & 0x8000u;
    const uint ax = x & 0x7fffffffu;
    // Normal range: drop 13 mantissa bits with round-to-nearest-even (the carry may move
    // the value up to the next binade, which is right).
    uint h = (ax - 0x38000000u + 0x0fffu + ((ax >> 13) & 1u)) >> 13;
    // Below 2^-14: subnormal or zero; |v|·2^24 < 1024 is exact, rint rounds it.
    h = ax < 0x38800000u ? (uint)rint(as_float(ax) * 0x1p24f) : h;
    // 65520 and above round to infinity; inf stays inf; NaN stays a (quiet) NaN.
    h = ax >= 0x477ff000u ? 0x7c00u : h;
    h = ax > 0x7f800000u ? (0x7e00u | ((ax >> 13) & 0x3ffu)) : h;
    return (ushort)(h | sign);
}

#if NK_HALF
// GEMM_NV consecutive f16 values, widened (the GEMM's epilogue reads C with it).
__attribute__((always_inline)) inline CAT(float, GEMM_NV) nk_ldv_half(__global const half* p) {
    float t[GEMM_NV];
    _Pragma("unroll") for (int v = 0; v < GEMM_NV; ++v)
        t[v] = nk_half_to_float(((__global const ushort*)p)[v]);
    return CAT(vload, GEMM_NV)(0, t);
}
#endif

#if NK_HALF
typedef half T;
#define LD(p, i) nk_half_to_float(((__global const ushort*)(p))[i])
#define ST(p, i, v) (((__global ushort*)(p))[i] = nk_float_to_half(v))
#else
typedef float T;
#define LD(p, i) ((p)[i])
#define ST(p, i, v) ((p)[i] = (v))
#endif

// NaN-propagating maximum (the reference's row_max): any NaN wins.
__attribute__((always_inline)) inline float nk_max(float a, float b) {
    if (isnan(a)) return a;
    if (isnan(b)) return b;
    return a > b ? a : b;
}

// Work-group tree reductions over a __local scratch of get_local_size(0) floats (a power
// of two). Fixed shape, so the result is the same bits on every run.
__attribute__((always_inline)) inline float wg_sum(__local float* s, float v) {
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

__attribute__((always_inline)) inline float wg_max(__local float* s, float v) {
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
__attribute__((always_inline)) inline float nk_erfc(const float x) {
    const float z = fabs(x);
    const float t = 1.0f / (1.0f + 0.5f * z);
    const float p = t * (1.00002368f + t * (0.37409196f + t * (0.09678418f +
                    t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f +
                    t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
    const float r = t * exp((-z * z - 1.26551223f) + p);
    return x >= 0.0f ? r : 2.0f - r;
}
