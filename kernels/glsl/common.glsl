// Shared prelude of every neurokern GLSL compute shader (included first).
//
// Variants are compiled by `cargo xtask kernels` with -D defines:
//   NK_HALF      0|1  storage type of the call's float operands (f32 or f16). f16 is
//                     storage only: 16-bit words (GL_EXT_shader_16bit_storage), widened
//                     exactly and rounded once, to nearest-even, at store by integer
//                     arithmetic (nk_h2f / nk_f2h), so the rounding does not depend on the
//                     driver's conversion mode. All arithmetic is f32.
//   NK_PRESERVE  0|1  declares SignedZeroInfNanPreserve (SPV_KHR_float_controls) for
//                     devices that support it, so that no optimization may assume
//                     operands are finite. NaN tests never rely on it: nk_isnan reads
//                     the bits.
//
// Kernel arguments follow the kernel table of neurokern-gpu: buffers are the storage
// buffer bindings in order; i32, flag and f32 scalars are the push constants in order,
// followed by NK_EXTRAS (the chunk base of the grid, and three words a kernel may use to
// run in several passes).

#if NK_HALF
#extension GL_EXT_shader_16bit_storage : require
#endif
#if NK_PRESERVE
#extension GL_EXT_spirv_intrinsics : require
spirv_execution_mode(extensions = ["SPV_KHR_float_controls"], capabilities = [4466], 4461, 32);
#endif

// The chunk base (added to the global id, so grids larger than maxComputeWorkGroupCount
// run as several dispatches) and the pass words.
#define NK_EXTRAS int nk_bx; int nk_by; int nk_bz; int nk_p0; int nk_p1; int nk_p2;
#define GID (ivec3(gl_GlobalInvocationID) + ivec3(pc.nk_bx, pc.nk_by, pc.nk_bz))
// Kernels run one work-group per row: the row.
#define GROUP_ROW (int(gl_WorkGroupID.x) + pc.nk_bx)
#define LID int(gl_LocalInvocationID.x)

// Work-group width of the per-row kernels (a power of two).
#define WG 256

#if NK_HALF
#define TS uint16_t
#define LD(b, i) nk_h2f(uint(b[i]))
#define ST(b, i, v) b[i] = uint16_t(nk_f2h(v))
#else
#define TS float
#define LD(b, i) (b[i])
#define ST(b, i, v) b[i] = (v)
#endif
// An exact copy of a storage element (the bits move).
#define MOVE(d, i, s, j) d[i] = s[j]

#define BUF_IN(n, name) layout(std430, binding = n) readonly buffer NkB##n { TS name[]; };
#define BUF_OUT(n, name) layout(std430, binding = n) buffer NkB##n { TS name[]; };
#define BUF_IN_F32(n, name) layout(std430, binding = n) readonly buffer NkB##n { float name[]; };
#define BUF_OUT_F32(n, name) layout(std430, binding = n) buffer NkB##n { float name[]; };
#define BUF_IN_I32(n, name) layout(std430, binding = n) readonly buffer NkB##n { int name[]; };
#define BUF_OUT_I32(n, name) layout(std430, binding = n) buffer NkB##n { int name[]; };

#define NK_INF uintBitsToFloat(0x7f800000u)

bool nk_isnan(float x) {
    return (floatBitsToUint(x) & 0x7fffffffu) > 0x7f800000u;
}

// binary16 bits → f32, exact (subnormals are built by an integer conversion, so f32
// denormal support does not matter).
float nk_h2f(uint h) {
    uint sign = (h & 0x8000u) << 16;
    uint em = h & 0x7fffu;
    float f = uintBitsToFloat((em << 13) + 0x38000000u);
    f = em < 0x0400u ? float(em) * 5.9604644775390625e-8 : f;
    f = em >= 0x7c00u ? uintBitsToFloat((em << 13) | 0x7f800000u) : f;
    return uintBitsToFloat(floatBitsToUint(f) | sign);
}

// f32 → binary16 bits, round to nearest-even; overflow to ±inf, NaN stays a quiet NaN.
uint nk_f2h(float v) {
    uint x = floatBitsToUint(v);
    uint sign = (x >> 16) & 0x8000u;
    uint ax = x & 0x7fffffffu;
    uint h = (ax - 0x38000000u + 0x0fffu + ((ax >> 13) & 1u)) >> 13;
    // Below 2^-14: |v|·2^24 < 1024 is exact, roundEven rounds it (an f32 denormal input,
    // flushed or not, rounds to a zero of the same sign either way).
    h = ax < 0x38800000u ? uint(roundEven(uintBitsToFloat(ax) * 16777216.0)) : h;
    h = ax >= 0x477ff000u ? 0x7c00u : h;
    h = ax > 0x7f800000u ? (0x7e00u | ((ax >> 13) & 0x3ffu)) : h;
    return h | sign;
}

// NaN-propagating maximum (the reference's row max): any NaN wins.
float nk_max(float a, float b) {
    if (nk_isnan(a)) return a;
    if (nk_isnan(b)) return b;
    return a > b ? a : b;
}

// exp(x) from + and × only (Vulkan's exp is allowed 3 + 2|x| ulp, which is useless for
// softmax and erfc arguments of size 10-100). x = n·ln2 + r with a Cody-Waite split (n·LN2_HI
// is exact for |n| ≤ 256: LN2_HI has 16 significant bits), |r| ≤ ln2/2, exp(r) by its
// degree-7 Taylor polynomial (truncation < 5.2e-9 relative), scaled by 2^n in two exact
// ldexp steps. Error bound: 4 ulp of the result over the normal range (tested in the
// backend's tests over a sweep; the measured maximum is stated there). Results below
// 2^-126 are denormal and flushed to zero on devices that do not preserve f32 denormals.
float nk_exp(float x) {
    if (nk_isnan(x)) return x;
    if (x > 88.72284f) return NK_INF;
    if (x < -103.97208f) return 0.0;
    precise float n = roundEven(x * 1.44269504088896341);
    precise float r = (x - n * 0.693145751953125) - n * 1.42860682030941723212e-6;
    precise float p = 1.0 + r * (1.0 + r * (0.5 + r * (0.16666667163372039795 +
                      r * (0.041666667908430099487 + r * (0.0083333337679505348206 +
                      r * (0.0013888889225199818611 + r * 0.00019841270113829523325))))));
    int ni = int(n);
    int h = ni / 2;
    return ldexp(ldexp(p, h), ni - h);
}

// log(x) from +, ×, one divide (2.5 ulp in Vulkan) and exact exponent manipulation:
// x = 2^e·f with f in [√½, √2), log f = 2·atanh(s), s = (f − 1)/(f + 1), |s| ≤ 0.1716,
// series to s^9 (truncation < 2e-9 relative). Bound: 8 ulp of the result (tested in the
// backend's tests; the measured maximum is stated there). log(0) = −inf, log(x<0) = NaN,
// log(inf) = inf, NaN stays NaN. Denormal inputs read as 0 where the device flushes.
float nk_log(float x) {
    if (nk_isnan(x) || x < 0.0) return uintBitsToFloat(0x7fc00000u);
    if (x == 0.0) return -NK_INF;
    if (x == NK_INF) return NK_INF;
    uint b = floatBitsToUint(x);
    int e = int(b >> 23) - 127;
    precise float f = uintBitsToFloat((b & 0x007fffffu) | 0x3f800000u);
    if (e == -127) {
        // A denormal the device kept: renormalize exactly.
        precise float y = x * 8388608.0;
        b = floatBitsToUint(y);
        e = int(b >> 23) - 127 - 23;
        f = uintBitsToFloat((b & 0x007fffffu) | 0x3f800000u);
    }
    if (f > 1.41421356237) {
        f = f * 0.5;
        e = e + 1;
    }
    precise float s = (f - 1.0) / (f + 1.0);
    precise float s2 = s * s;
    precise float t = s2 * (0.66666666666666667 + s2 * (0.4 + s2 * (0.28571428571428571 +
                      s2 * 0.22222222222222222)));
    precise float lf = (s + s) + s * t;
    precise float ef = float(e);
    return ef * 0.693145751953125 + (ef * 1.42860682030941723212e-6 + lf);
}

// erfc(x): the Chebyshev fit of Numerical Recipes' erfcc (fractional error < 1.2e-7 for
// every x in exact arithmetic), t·exp(−z² + P(t)), t = 1/(1 + z/2), z = |x|,
// erfc(−z) = 2 − erfc(z); the same formula as the OpenCL kernels, with nk_exp. Error
// bound of this f32 evaluation: see nk_erfc's test in the Vulkan backend (relative error
// of gelu and its derivative against an f64 reference).
float nk_erfc(float x) {
    precise float z = abs(x);
    precise float t = 1.0 / (1.0 + 0.5 * z);
    precise float p = t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
                      t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 +
                      t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    precise float r = t * nk_exp((-z * z - 1.26551223) + p);
    return x >= 0.0 ? r : 2.0 - r;
}
