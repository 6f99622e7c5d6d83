// Shared prelude of every neurokern CUDA program (NVRTC, no headers).
//
// The host prepends `#define NK_HALF 0|1`: the storage type `T` of the call's float
// operands. f16 is storage only: widened exactly with `cvt.f32.f16`, rounded once, to
// nearest-even, with `cvt.rn.f16.f32` at store (inline PTX: the NVRTC package has no
// cuda_fp16.h); all arithmetic is f32. The host compiles with --ftz=false
// --prec-div=true --prec-sqrt=true --fmad=false: every +, -, *, / and sqrt is one IEEE
// operation, as the formulas are written (the reference's order); the GEMMs ask for fma
// explicitly.
//
// Launch convention (backends/cuda/src/launch.rs): a kernel of the table runs over its
// logical grid (the table's `grid`, up to three dims) with grid-stride loops over every
// dim (NK_FOR_X/Y/Z below), so the host may clamp the CUDA grid to the hardware limits
// (65 535 blocks in y and z) without losing work. The rowwise kernels run one warp per
// row, NK_ROWS_PER_BLOCK rows per block of 32·NK_ROWS_PER_BLOCK threads, looping over rows.

typedef unsigned short u16;
typedef unsigned int u32;

#define NK_ROWS_PER_BLOCK 8
#define NK_INF __int_as_float(0x7f800000)

__device__ __forceinline__ float nk_h2f(const u16 h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

__device__ __forceinline__ u16 nk_f2h(const float f) {
    u16 h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

#if NK_HALF
typedef u16 T;
#define LD(p, i) nk_h2f((p)[i])
#define ST(p, i, v) ((p)[i] = nk_f2h(v))
#else
typedef float T;
#define LD(p, i) ((p)[i])
#define ST(p, i, v) ((p)[i] = (v))
#endif

// Grid-stride loops over one dim of the logical grid. The counter is 64-bit so that the
// last stride past a bound near 2^31 cannot wrap; the body sees an int. `continue` works
// (it ends this id); `break` must not be used.
#define NK_FOR(i, n, d)                                                               \
    for (long long i##_l = (long long)blockIdx.d * blockDim.d + threadIdx.d;        \
         i##_l < (long long)(n); i##_l += (long long)gridDim.d * blockDim.d)           \
        for (int i = (int)i##_l, i##_once = 1; i##_once; i##_once = 0)
#define NK_FOR_X(i, n) NK_FOR(i, n, x)
#define NK_FOR_Y(i, n) NK_FOR(i, n, y)
#define NK_FOR_Z(i, n) NK_FOR(i, n, z)

// One warp per row: `r` walks this warp's rows, `lane` is its lane.
#define NK_FOR_ROWS(r, rows)                                                          \
    for (long long r##_l = (long long)blockIdx.x * NK_ROWS_PER_BLOCK + threadIdx.x / 32; \
         r##_l < (long long)(rows); r##_l += (long long)gridDim.x * NK_ROWS_PER_BLOCK)  \
        for (int r = (int)r##_l, r##_once = 1; r##_once; r##_once = 0)

// NaN-propagating maximum (the reference's row_max): any NaN wins.
__device__ __forceinline__ float nk_max(const float a, const float b) {
    if (isnan(a)) return a;
    if (isnan(b)) return b;
    return a > b ? a : b;
}

// Warp reductions by xor butterfly: every lane ends with the same bits (each step adds
// the same two values on both lanes, and + is commutative), and the shape is fixed, so
// the result is the same on every run.
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = v + __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = nk_max(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// erfc(x) in f32: the same fit and evaluation as kernels/opencl/common.cl (Numerical
// Recipes' erfcc, fractional error < 1.2e-7), so that both backends share one bound:
// t·exp(−z² + P(t)), t = 1/(1 + z/2), z = |x|; erfc(−z) = 2 − erfc(z).
__device__ __forceinline__ float nk_erfc(const float x) {
    const float z = fabsf(x);
    const float t = 1.0f / (1.0f + 0.5f * z);
    const float p = t * (1.00002368f + t * (0.37409196f + t * (0.09678418f +
                    t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f +
                    t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
    const float r = t * expf((-z * z - 1.26551223f) + p);
    return x >= 0.0f ? r : 2.0f - r;
}

#define NK_SQRT1_2 0.70710678118654752440f
