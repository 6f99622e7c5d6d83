//! Error bounds derived from the arithmetic, per op and per output element.
//!
//! # The model
//!
//! Both sides of a comparison compute from the same (exactly widened) inputs: the
//! reference, in its documented order, and the device, in any order. Neither is exact, so
//! the bound on their difference is the sum of two forward-error bounds, each on the
//! distance from the exact real result `y`:
//!
//! * `δ_ref`: the reference's error (f32 accumulation, `f64` functions rounded once);
//! * `δ_dev`: a device's error, allowing any summation order and the accuracy of each
//!   function it uses under its API's rules ([`Api`], chosen per device from its backend
//!   name; `+`, `−`, `×` correctly rounded everywhere):
//!   * OpenCL ([`Model::DEVICE`], also the model of the simulated device and of any backend
//!     not named below): the full-profile limits, `exp`, `log` 3 ulp, `sqrt` 3 ulp, divide
//!     2.5 ulp, `erf`/`erfc` 16 ulp, `pow` 16 ulp.
//!   * Vulkan ([`Model::VULKAN`]): what the neurokern shaders compute with Vulkan's rules
//!     ("Precision of Individual Operations": divide 2.5 ulp, `inversesqrt` 2 ulp, `sqrt`
//!     as `1/inversesqrt`, every non-GEMM expression `precise`). `exp` is the shaders' own
//!     `nk_exp` (+, ×, `ldexp`: 4 ulp; Vulkan's `exp` allows 3 + 2|x| ulp), `log` their own
//!     `nk_log` (8 ulp), `1/√x` in layer norm is `inversesqrt` (2 ulp), `sqrt` (Adam only)
//!     is `1/inversesqrt` (2 + 2.5 ulp, 4.6 with the product of the two), `β^t` comes
//!     from the host in f64 (one rounding), and `Φ` is only ever the erfc form with
//!     `nk_erfc`: relative error `1.2e-7 + (8 + 5·z²)·2⁻²⁴` at argument `z` (the fit's
//!     1.2e-7, its f32 evaluation, and the conditioning of `exp(−z² + …)`), each term
//!     tested by the Vulkan backend's tests. Devices that do not preserve f32 denormals
//!     (lavapipe reports `shaderDenormPreserveFloat32 = false`) get the *flush allowance*
//!     below.
//!   * CUDA ([`Model::CUDA`], kernels compiled with `--prec-div=true --prec-sqrt=true
//!     --fmad=false --ftz=false`): divide and `sqrt` correctly rounded (0.5 ulp); `expf` 2
//!     ulp, `logf` 1 ulp (CUDA C++ Programming Guide, appendix "Mathematical Functions",
//!     table "Single-Precision Mathematical Standard Library Functions with Maximum ULP
//!     Error", which also lists `erfcf` 4 ulp and `powf` 4 ulp; NVIDIA states these from
//!     extensive but not exhaustive tests). The kernels use neither `erfcf` nor `powf`:
//!     `Φ` is the same `nk_erfc` fit with `expf` (the Vulkan bound holds: `expf`'s 2 ulp
//!     and the correctly rounded divide are inside the 8 ulp of the evaluation), `β^t`
//!     comes from the host, and `1/√x` is `1.0f / sqrtf(x)`.
//!
//! The API is chosen from the backend name alone: the plugin ABI carries no device
//! capabilities today, so a `vulkan` device is conservatively assumed to flush f32
//! denormals (true of lavapipe; a device that preserves them is within the same bound).
//!
//! **Flush allowance** (Vulkan): an f32 *input* below `2⁻¹²⁶` in magnitude may read as
//! zero, so it enters the model as a value with an absolute error of its own magnitude
//! (less than `2⁻¹²⁶`), propagated like any other error (in a product with a large factor
//! it is amplified: that is the point of propagating it); in a sum or dot product the terms
//! with a subnormal factor add their magnitudes `Σ|a·b|` (an element where a subnormal
//! meets an infinite factor, `0·inf = NaN` after a flush, is unbounded); a correctly
//! rounded elementwise op on f32 data is judged within `2⁻¹²⁶` (plus, for a product, the
//! flushed factor times the other) instead of bit for bit. f16 data never holds f32
//! subnormals (f16's smallest subnormal, `2⁻²⁴`, is a normal f32, and the shaders convert
//! f16 by integer arithmetic), so the f16 checks are unchanged.
//!
//! The element-wise bound is `δ = δ_ref + δ_dev`, applied around the reference's value
//! *before its final store* (for an `f32` output the output itself; for an `f16` output
//! the reference run in `f32` on the widened inputs, which is exactly the f16 run before
//! its one rounding). A device's `f16` output must then lie in
//! `[fl16(c − δ), fl16(c + δ)]`: rounding to nearest is monotone, so this is exactly the
//! set of values a device within `δ` can store. It is at most one f16 ulp wider than the
//! `f32` interval (f16's subnormal spacing near zero, `+inf` past 65520), and it is *zero*
//! ulps wide where both sides compute the same exact value: a device that truncates
//! instead of rounding is caught there.
//!
//! Each bound is computed by running the formula on [`E`] values: an ideal value (in
//! `f64`) with an absolute error bound, propagated rigorously through every operation
//! (`|x̂ŷ − xy| ≤ |x|e_y + |y|e_x + e_x e_y`, and so on), each operation adding its own
//! rounding: `u·|result|` with `u = 2⁻²⁴` for f32 arithmetic and `2·n·u·|result|` for a
//! function accurate to `n` ulp (one ulp is at most `2u` of the value). Every operation also
//! adds `2⁻¹²⁶` (the smallest normal f32), which covers a device that flushes f32
//! subnormals to zero.
//!
//! Sums and dot products of `K` terms in any order: `|ŝ − s| ≤ γ_K·Σ|terms|`,
//! `γ_K = K·u/(1 − K·u)` (the products' own roundings included), plus the terms'
//! propagated errors. When every term is an integer and `Σ|terms| ≤ 2²⁴`, every partial
//! sum is exact in any order, and the bound is 0.
//!
//! # Derivations per op (`2β` means "both sides", `β = γ_K·Σ|terms|`)
//!
//! * `matmul`, `matmul_batched`, their backward products, `pairwise_similarity`,
//!   `reduce_sum_01`, `embedding_backward`, the sums of `proto_segmented_sum`:
//!   `2γ_K·Σ|terms|` (0 for exact integer sums).
//! * `hebbian_update`: `w' = (1−decay)·w + lr·s`: the sum's `2β` scaled by `|lr|`, plus
//!   one rounding for each of `1−decay`, `(1−decay)·w`, `lr·s` and the add, on each side.
//!   Where the sum's finite terms can overflow f32 the element is [`ORDER_DEPENDENT`], as
//!   in `matmul`.
//! * `softmax`: `e_j = exp(x_j − m)` (the subtraction's rounding `u|x_j − m|` becomes a
//!   relative error of `e_j`, plus exp's 3 ulp), `S = Σe_j` (`γ_L` plus the terms'
//!   errors), `y = e_i / S` (propagated quotient error plus 2.5 ulp).
//! * `log_softmax`: `y = (x − m) − ln S`: the sum's error becomes an absolute error
//!   `e_S/S` of `ln S`, plus log's 3 ulp and two subtraction roundings; the device side
//!   also covers the other association `x − (m + ln S)`.
//! * `softmax_backward`: `dx = y·(dy − Σ dy⊙y)`: the dot product's `β`, the subtraction
//!   and the product (and, for a device, the distributed form `y·dy − y·dot`).
//! * `cross_entropy_loss_grad`: `grad = exp(lp) − onehot`: exp's 3 ulp (an absolute error
//!   `6u·p` that survives the cancellation near `p = 1`) and one subtraction rounding;
//!   `loss = max(0, −lp)` and padding rows are exact.
//! * `gelu`: `x·Φ(x)`, `Φ(x) = 0.5·(1 + erf(x·(1/√2)))` or, equally exact,
//!   `0.5·erfc(−x·(1/√2))`: the scaling's rounding moves the argument (times the slope
//!   `2/√π·e^(−z²)`), the function's 16 ulp, the add and the products. The bound is the
//!   larger of the two forms' (large negative `x` is ill-conditioned in the erf form,
//!   where `1 + erf` cancels; erfc's 16 ulp at values near 1 dominate for small `|x|`).
//! * `gelu_backward`: `dy·(Φ(x) + x·φ(x))`, `Φ` as in gelu, `φ = exp(−x²/2)/√(2π)`:
//!   the square's rounding moves exp's argument, exp's 3 ulp, the sum and the products.
//! * `layer_norm`: `μ = Σx/L` (`γ_L`, divide), `σ² = Σ(x−μ̂)²/L` (the mean's error
//!   propagated through every square, `γ_L`, divide), `rstd = 1/√(σ² + eps)` (sqrt 3
//!   ulp, divide 2.5 ulp), `x̂ = (x − μ̂)·rstd`, `y = γ·x̂ + β`. A one-pass variance
//!   (`E[x²] − μ²`) is a different, less stable algorithm and is not covered.
//! * `layer_norm_backward`: the same row statistics, then
//!   `dx = rstd/L·((L·g − Σg) − x̂·Σ(g·x̂))` with `g = dy⊙γ`; `dγ = Σ dy⊙x̂`, `dβ = Σ dy`
//!   over rows (`γ_R` plus the propagated errors of `x̂`).
//! * `adam_update`: the update formula step by step, `β^t` with pow's 16 ulp (or exact),
//!   the bias corrections as divisions, sqrt, the `eps` add; `m`, `v` and `p` each bounded.
//! * `proto_update_step`: `(1−lr)·p + lr·(s/c)`: the divide's 2.5 ulp and four roundings.
//! * `shape_loss`: `loss_in + penalty − reward` (two roundings); the argmax is exact.
//! * `add`, `mul`, `mul_backward`, `add_bias`, `add_broadcast_pe`: one correctly rounded
//!   operation: f32 outputs must be identical; an f16 output may be the reference's
//!   single rounding or the double rounding through f32 (`fl16(fl32(x))`), nothing else.
//! * Exact: transposes, `embedding_lookup`, `threshold_spike`, counts, indices.
//! * `dynamic_token_assignment`: an index that differs from the reference is accepted
//!   only when the two similarities are within the sum of their dot-product bounds (a
//!   near tie), and never when both similarities are exact (integer data) or the two
//!   prototypes are identical: then the first maximum must win. `best` is bounded around
//!   the exact similarity of the index the device chose.

use neurokern_core::op::{
    AdamUpdate, CrossEntropyLossGrad, DynamicTokenAssignment, HebbianUpdate, LayerNorm,
    LayerNormBackward, ProtoUpdateStep, ShapeLoss,
};
use neurokern_core::reference::special::erf;
use neurokern_core::Op;

/// f32 unit roundoff, `2⁻²⁴`.
pub const U: f64 = 1.0 / 16_777_216.0;
/// The smallest normal f32, `2⁻¹²⁶`: the most a flush of a subnormal to zero can change.
pub const TINY: f64 = 1.175_494_350_822_287_5e-38;

/// `γ_K = K·u / (1 − K·u)`.
pub fn gamma(k: usize) -> f64 {
    let ku = k as f64 * U;
    if ku >= 1.0 {
        f64::INFINITY
    } else {
        ku / (1.0 - ku)
    }
}

/// Function accuracies, in ulp of the result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Model {
    /// `exp`.
    pub exp: f64,
    /// `log`.
    pub ln: f64,
    /// Division.
    pub div: f64,
    /// `sqrt`.
    pub sqrt: f64,
    /// `erf`.
    pub erf: f64,
    /// `pow`.
    pub pow: f64,
    /// `1/√x` as one function (`inversesqrt`) of this many ulp; `None`: a divide of a
    /// `sqrt`.
    pub rsqrt: Option<f64>,
    /// Ulp of `erfc` per `z²` at argument `z` (the conditioning of `exp(−z² + …)` inside
    /// an erfc evaluated in f32), on top of [`Model::erf`].
    pub erfc_z2: f64,
    /// Whether the kernels may compute `Φ` in the erf form `0.5·(1 + erf(x/√2))` (else
    /// only the erfc form).
    pub erf_form: bool,
    /// Whether f32 inputs below `2⁻¹²⁶` may read as zero (the flush allowance).
    pub flush_inputs: bool,
}

impl Model {
    /// A device: the OpenCL full-profile limits.
    pub const DEVICE: Model = Model {
        exp: 3.0,
        ln: 3.0,
        div: 2.5,
        sqrt: 3.0,
        erf: 16.0,
        pow: 16.0,
        rsqrt: None,
        erfc_z2: 0.0,
        erf_form: true,
        flush_inputs: false,
    };
    /// The neurokern shaders under Vulkan's rules (see the module docs).
    pub const VULKAN: Model = Model {
        exp: 4.0,
        ln: 8.0,
        div: 2.5,
        sqrt: 4.6,
        // erfc: 1.2e-7 (the fit) + 8·2⁻²⁴ (the evaluation), in ulp of 2·2⁻²⁴.
        erf: 1.2e-7 / (2.0 * U) + 4.0,
        pow: 0.5,
        rsqrt: Some(2.0),
        erfc_z2: 2.5,
        erf_form: false,
        flush_inputs: true,
    };
    /// The neurokern CUDA kernels (see the module docs).
    pub const CUDA: Model = Model {
        exp: 2.0,
        ln: 1.0,
        div: 0.5,
        sqrt: 0.5,
        erf: 1.2e-7 / (2.0 * U) + 4.0,
        pow: 0.5,
        rsqrt: None,
        erfc_z2: 2.5,
        erf_form: false,
        flush_inputs: false,
    };
    /// The reference: functions in `f64`, rounded once (half an ulp).
    pub const REFERENCE: Model = Model {
        exp: 0.5,
        ln: 0.5,
        div: 0.5,
        sqrt: 0.5,
        erf: 0.5,
        pow: 0.5,
        rsqrt: None,
        erfc_z2: 0.0,
        erf_form: true,
        flush_inputs: false,
    };
}

/// The device APIs whose error models differ ([`Model`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Api {
    /// OpenCL full profile: also the model of the in-process devices and of any backend
    /// not named here.
    OpenCl,
    /// Vulkan (the neurokern shaders).
    Vulkan,
    /// CUDA (the neurokern kernels with `--prec-div`, `--prec-sqrt`).
    Cuda,
}

impl Api {
    /// The API of a backend, by its short name (`vulkan`, `cuda`; anything else is judged
    /// by the OpenCL model, which every existing backend was checked against).
    pub fn for_backend(name: &str) -> Api {
        match name {
            "vulkan" => Api::Vulkan,
            "cuda" => Api::Cuda,
            _ => Api::OpenCl,
        }
    }

    /// The device model of this API.
    pub fn model(self) -> Model {
        match self {
            Api::OpenCl => Model::DEVICE,
            Api::Vulkan => Model::VULKAN,
            Api::Cuda => Model::CUDA,
        }
    }

    /// The API's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Api::OpenCl => "opencl",
            Api::Vulkan => "vulkan",
            Api::Cuda => "cuda",
        }
    }
}

/// An ideal value and a bound on the absolute error of its computed counterpart.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct E {
    /// The exact value (evaluated in `f64`).
    pub v: f64,
    /// Bound on `|computed − v|`.
    pub e: f64,
}

/// `x·e`, with `x·0 = 0` (an exact operand adds no error, whatever the other's size)
/// and `0·e = 0` for a finite `e`. An unbounded `e` stays unbounded even when `x = 0`: it
/// marks a value that may be ±inf on a device computing in f32, and `0·inf` is NaN there
/// (found by the differential fuzzer: `adam_update` with `lr = 0` and `m = 3e38`, whose
/// `m/(1 − β1ᵗ)` overflows f32 while the f64 reference stays finite).
fn mz(x: f64, e: f64) -> f64 {
    if e == 0.0 {
        0.0
    } else if e == f64::INFINITY {
        f64::INFINITY
    } else if x == 0.0 {
        0.0
    } else {
        x * e
    }
}

impl E {
    /// An exact value (an input, a scalar).
    pub fn x(v: f64) -> E {
        E { v, e: 0.0 }
    }

    /// A computed value that can reach f32's range limit may be ±inf on a device that
    /// computes in f32 (OPS.md allows f32 arithmetic), while the exact value is finite:
    /// from there on nothing bounds the result (found by the differential fuzzer:
    /// `adam_update` with `g = 3e38`, whose `g²` overflows in f32 but not in f64).
    fn overflow(self) -> E {
        if self.v.is_finite() && self.v.abs() + self.e >= f64::from(f32::MAX) {
            E {
                v: self.v,
                e: f64::INFINITY,
            }
        } else {
            self
        }
    }

    fn fix(self) -> E {
        // IEEE special values are exact — unless an operand was already unbounded (an
        // f32 overflow may have happened on the way), which stays unbounded; an undefined
        // error is unbounded.
        if !self.v.is_finite() {
            let e = if self.e == f64::INFINITY {
                f64::INFINITY
            } else {
                0.0
            };
            E { v: self.v, e }
        } else if self.e.is_nan() {
            E {
                v: self.v,
                e: f64::INFINITY,
            }
        } else {
            self
        }
    }
}

/// Error propagation under a [`Model`].
#[derive(Clone, Copy, Debug)]
pub struct Ar(pub Model);

impl Ar {
    /// An input value: exact, unless the model flushes f32 subnormal inputs, when one
    /// below `2⁻¹²⁶` carries its own magnitude as error (it may read as zero).
    pub fn inp(&self, v: f64) -> E {
        E {
            v,
            e: if self.0.flush_inputs {
                subnormal(v)
            } else {
                0.0
            },
        }
    }

    /// `1/√a`: one function ([`Model::rsqrt`]) or a divide of a `sqrt`.
    pub fn rsqrt(&self, a: E) -> E {
        match self.0.rsqrt {
            None => self.div(E::x(1.0), self.sqrt(a)),
            Some(ulp) => {
                // 1/√ is decreasing and convex: the farthest computed argument is the low
                // end of the interval.
                let v = 1.0 / a.v.sqrt();
                let e = if a.e == 0.0 {
                    0.0
                } else if a.e >= a.v {
                    f64::INFINITY
                } else {
                    1.0 / (a.v - a.e).sqrt() - v
                };
                self.round(v, e, 2.0 * U * ulp)
            }
        }
    }

    /// A result `v` with propagated error `e`, rounded with relative error `rel`.
    fn round(&self, v: f64, e: f64, rel: f64) -> E {
        E {
            v,
            e: e + rel * (v.abs() + e) + TINY,
        }
        .fix()
        .overflow()
    }

    /// `a + b`.
    pub fn add(&self, a: E, b: E) -> E {
        self.round(a.v + b.v, a.e + b.e, U)
    }

    /// `a − b`.
    pub fn sub(&self, a: E, b: E) -> E {
        self.round(a.v - b.v, a.e + b.e, U)
    }

    /// `a · b`.
    pub fn mul(&self, a: E, b: E) -> E {
        let e = mz(a.v.abs(), b.e) + mz(b.v.abs(), a.e) + mz(a.e, b.e);
        self.round(a.v * b.v, e, U)
    }

    /// `a / b`.
    pub fn div(&self, a: E, b: E) -> E {
        let v = a.v / b.v;
        let e = if a.e == 0.0 && b.e == 0.0 {
            0.0
        } else if b.e >= b.v.abs() {
            f64::INFINITY
        } else {
            (a.e + mz(v.abs(), b.e)) / (b.v.abs() - b.e)
        };
        self.round(v, e, 2.0 * U * self.0.div)
    }

    /// `exp(a)`.
    pub fn exp(&self, a: E) -> E {
        let v = a.v.exp();
        let e = if a.e == 0.0 { 0.0 } else { v * a.e.exp_m1() };
        self.round(v, e, 2.0 * U * self.0.exp)
    }

    /// `ln(a)`.
    pub fn ln(&self, a: E) -> E {
        let v = a.v.ln();
        let e = if a.e == 0.0 {
            0.0
        } else if a.e >= a.v {
            f64::INFINITY
        } else {
            -(-a.e / a.v).ln_1p()
        };
        self.round(v, e, 2.0 * U * self.0.ln)
    }

    /// `√a`.
    pub fn sqrt(&self, a: E) -> E {
        let v = a.v.max(0.0).sqrt();
        let e = if a.e == 0.0 {
            0.0
        } else if v > 0.0 {
            a.e.sqrt().min(a.e / v)
        } else {
            a.e.sqrt()
        };
        self.round(v, e, 2.0 * U * self.0.sqrt)
    }

    /// `erf(a)`.
    pub fn erf(&self, a: E) -> E {
        self.round(erf(a.v), erf_slope_error(a), 2.0 * U * self.0.erf)
    }

    /// `erfc(a)` (the same slope as `erf`, and the same ulp limit plus
    /// [`Model::erfc_z2`] per `z²`).
    pub fn erfc(&self, a: E) -> E {
        let v = neurokern_core::reference::special::erfc(a.v);
        let ulp = self.0.erf + self.0.erfc_z2 * a.v * a.v;
        self.round(v, erf_slope_error(a), 2.0 * U * ulp)
    }

    /// `b^t` for an exact base (the device may also compute it exactly).
    pub fn pow(&self, b: f64, t: f64) -> E {
        self.round(b.powf(t), 0.0, 2.0 * U * self.0.pow)
    }

    /// A constant rounded to f32 (e.g. `1/√2`).
    pub fn konst(&self, v: f64) -> E {
        self.round(v, 0.0, U)
    }

    /// A sum of `terms` in any order.
    pub fn sum(&self, terms: impl IntoIterator<Item = E>) -> E {
        let (mut v, mut e, mut a, mut k) = (0.0, 0.0, 0.0, 0usize);
        for t in terms {
            v += t.v;
            e += t.e;
            a += t.v.abs();
            k += 1;
        }
        if k <= 1 {
            return E { v, e }.fix();
        }
        E {
            v,
            e: e + gamma(k) * (a + e) + k as f64 * TINY,
        }
        .fix()
        .overflow()
    }
}

/// The error an argument error `a.e` causes in `erf` (or `erfc`): at most the largest
/// slope `2/√π·e^(−z²)` over `[a.v − a.e, a.v + a.e]` times `a.e`, and never more than 2.
fn erf_slope_error(a: E) -> f64 {
    if a.e == 0.0 {
        return 0.0;
    }
    let z = (a.v.abs() - a.e).max(0.0);
    (std::f64::consts::FRAC_2_SQRT_PI * (-z * z).exp() * a.e).min(2.0)
}

/// The magnitude of a nonzero f32 subnormal (below `2⁻¹²⁶`), else 0.
fn subnormal(v: f64) -> f64 {
    if v != 0.0 && v.abs() < TINY {
        v.abs()
    } else {
        0.0
    }
}

/// The OpenCL device propagator (see [`Api`] for the others).
pub const DEV: Ar = Ar(Model::DEVICE);
/// The reference propagator.
pub const REF: Ar = Ar(Model::REFERENCE);

/// How one output operand of a case is judged.
#[derive(Clone, Debug)]
pub enum Check {
    /// Not an output of this call (an input, or an absent optional operand).
    NotWritten,
    /// Must match bit for bit (any NaN matches any NaN).
    Exact,
    /// One correctly rounded operation: f32 identical; f16 the single or the double
    /// rounding.
    Rounded,
    /// Per-element bound `δ` around the reference's pre-store value.
    Bound(Vec<f64>),
    /// The index output of an argmax op.
    Argmax(Argmax),
    /// The winning-similarity output of an argmax op (judged with [`Check::Argmax`]).
    ArgmaxBest,
}

/// What judging an argmax needs: the widened operands.
#[derive(Clone, Debug)]
pub struct Argmax {
    /// `act (R, E)`.
    pub act: Vec<f64>,
    /// `proto (T, E)`.
    pub proto: Vec<f64>,
    /// Row width `E`.
    pub e: usize,
    /// Prototypes `T`.
    pub t: usize,
}

impl Argmax {
    /// The exact similarity of row `r` with prototype `t`, and the one-sided dot-product
    /// bound of a computed one (0 when the sum is exact in any order).
    pub fn sim(&self, r: usize, t: usize) -> (f64, f64) {
        let a = &self.act[r * self.e..(r + 1) * self.e];
        let p = &self.proto[t * self.e..(t + 1) * self.e];
        let (mut s, mut abs, mut int) = (0.0, 0.0, true);
        for (x, y) in a.iter().zip(p) {
            s += x * y;
            abs += (x * y).abs();
            int &= is_int(*x) && is_int(*y);
        }
        let b = if int && abs <= 16_777_216.0 {
            0.0
        } else {
            gamma(self.e) * abs + self.e as f64 * TINY
        };
        (s, b)
    }

    /// True when the similarity of row `r` and prototype `t` depends on the summation
    /// order beyond any bound: its finite terms can overflow f32, with no NaN term and no
    /// opposite infinities (see [`ORDER_DEPENDENT`]).
    pub fn order_dependent(&self, r: usize, t: usize) -> bool {
        let a = &self.act[r * self.e..(r + 1) * self.e];
        let p = &self.proto[t * self.e..(t + 1) * self.e];
        let (mut nan, mut pos, mut neg, mut finite) = (false, false, false, 0.0f64);
        for (x, y) in a.iter().zip(p) {
            let v = x * y;
            if v.is_nan() {
                nan = true;
            } else if v == f64::INFINITY {
                pos = true;
            } else if v == f64::NEG_INFINITY {
                neg = true;
            } else {
                finite += v.abs();
            }
        }
        !(nan || (pos && neg)) && finite * (1.0 + gamma(self.e)) >= f64::from(f32::MAX)
    }

    /// True when prototypes `a` and `b` are identical.
    pub fn same_proto(&self, a: usize, b: usize) -> bool {
        let e = self.e;
        self.proto[a * e..(a + 1) * e]
            .iter()
            .zip(&self.proto[b * e..(b + 1) * e])
            .all(|(x, y)| x.to_bits() == y.to_bits())
    }
}

fn is_int(x: f64) -> bool {
    x.is_finite() && x.fract() == 0.0
}

/// One-sided bounds `γ_K·Σ_k |a[i,k]|·|b[k,j]|` of a product `(M,K)·(K,N)` of row-major
/// operands (0 where row `i` and column `j` are all integers and the sum stays below 2²⁴).
pub fn gemm_bound(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut out = vec![0.0; m * n];
    if k == 0 {
        return out;
    }
    let int_col: Vec<bool> = (0..n)
        .map(|j| (0..k).all(|kk| is_int(b[kk * n + j])))
        .collect();
    let babs: Vec<f64> = b.iter().map(|x| x.abs()).collect();
    let g = gamma(k);
    for i in 0..m {
        let row = &a[i * k..(i + 1) * k];
        let int_row = row.iter().all(|&x| is_int(x));
        let acc = &mut out[i * n..(i + 1) * n];
        for (kk, &av) in row.iter().enumerate() {
            let av = av.abs();
            if av == 0.0 {
                continue;
            }
            for (s, bv) in acc.iter_mut().zip(&babs[kk * n..(kk + 1) * n]) {
                *s += av * bv;
            }
        }
        for (j, s) in acc.iter_mut().enumerate() {
            *s = if !s.is_finite() {
                // An infinite or NaN term: the result is that IEEE special value in every
                // order (no error to bound), unless finite terms can overflow too, which
                // `gemm_check` marks.
                0.0
            } else if int_row && int_col[j] && *s <= 16_777_216.0 {
                0.0
            } else {
                g * *s + k as f64 * TINY
            };
        }
    }
    out
}

/// Row-major transpose of an `(r, c)` matrix.
fn transposed(x: &[f64], r: usize, c: usize) -> Vec<f64> {
    let mut y = vec![0.0; x.len()];
    for i in 0..r {
        for j in 0..c {
            y[j * r + i] = x[i * c + j];
        }
    }
    y
}

/// A δ that marks an element whose f32 evaluation is order-dependent beyond any bound:
/// its finite terms can overflow f32 in some summation order, so every result — ±inf,
/// NaN (an overflowed partial sum meeting an infinity of the other sign), or a finite
/// value — is the IEEE result of some order, and any order is allowed (OPS.md). Found by
/// the differential fuzzer: a device summing `[−3e38, −3e38, +inf]` from the other end
/// gets +inf where the reference's order gets NaN.
pub const ORDER_DEPENDENT: f64 = f64::NEG_INFINITY;

/// [`gemm_bound`] with the elements whose result depends on the order beyond any bound
/// marked [`ORDER_DEPENDENT`]: no NaN term and no pair of opposite infinite terms (those
/// give NaN in every order), but finite terms whose magnitudes sum past `f32::MAX`.
pub fn gemm_check(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut out = gemm_bound(a, b, m, k, n);
    let g = gamma(k);
    // Per output row: whether a NaN, +inf or −inf term occurs, and Σ|finite terms|.
    let (mut nan, mut pos, mut neg) = (vec![false; n], vec![false; n], vec![false; n]);
    let mut finite = vec![0.0f64; n];
    for i in 0..m {
        nan.fill(false);
        pos.fill(false);
        neg.fill(false);
        finite.fill(0.0);
        for kk in 0..k {
            let av = a[i * k + kk];
            for (j, bv) in b[kk * n..(kk + 1) * n].iter().enumerate() {
                let t = av * bv;
                if t.is_nan() {
                    nan[j] = true;
                } else if t == f64::INFINITY {
                    pos[j] = true;
                } else if t == f64::NEG_INFINITY {
                    neg[j] = true;
                } else {
                    finite[j] += t.abs();
                }
            }
        }
        for j in 0..n {
            if !(nan[j] || (pos[j] && neg[j])) && finite[j] * (1.0 + g) >= f64::from(f32::MAX) {
                out[i * n + j] = ORDER_DEPENDENT;
            }
        }
    }
    out
}

/// [`gemm_check`] plus, where f32 subnormal inputs may read as zero (`flush`), the flush
/// allowance: `Σ|a·b|` over the terms with a subnormal factor, and an unbounded element
/// where a subnormal meets an infinite factor (`0·inf` is NaN once flushed).
pub fn gemm_check_for(a: &[f64], b: &[f64], m: usize, k: usize, n: usize, flush: bool) -> Vec<f64> {
    let mut out = gemm_check(a, b, m, k, n);
    if !flush || !a.iter().chain(b).any(|&x| subnormal(x) > 0.0) {
        return out;
    }
    for i in 0..m {
        for kk in 0..k {
            let av = a[i * k + kk];
            let a_sub = subnormal(av) > 0.0;
            for j in 0..n {
                let bv = b[kk * n + j];
                let b_sub = subnormal(bv) > 0.0;
                if !(a_sub || b_sub) {
                    continue;
                }
                let o = &mut out[i * n + j];
                if *o == ORDER_DEPENDENT {
                    continue;
                }
                let t = (av * bv).abs();
                let other_inf = (a_sub && bv.is_infinite()) || (b_sub && av.is_infinite());
                *o = if other_inf || !t.is_finite() {
                    f64::INFINITY
                } else {
                    *o + t
                };
            }
        }
    }
    out
}

fn twice(mut v: Vec<f64>) -> Vec<f64> {
    v.iter_mut().for_each(|x| *x *= 2.0);
    v
}

/// One-sided bounds of segment sums: `dst[s, j] = Σ_{rows r with idx[r] = s} src[r, j]`.
fn segment_bound(src: &[f64], idx: &[f64], width: usize, segments: usize) -> Vec<f64> {
    let mut abs = vec![0.0; segments * width];
    let mut cnt = vec![0usize; segments];
    let mut int = vec![true; segments * width];
    for (r, &i) in idx.iter().enumerate() {
        if i < 0.0 || i >= segments as f64 {
            continue;
        }
        let s = i as usize;
        cnt[s] += 1;
        for j in 0..width {
            let v = src[r * width + j];
            abs[s * width + j] += v.abs();
            int[s * width + j] &= is_int(v);
        }
    }
    (0..segments * width)
        .map(|p| {
            let k = cnt[p / width.max(1)];
            if !abs[p].is_finite() || (int[p] && abs[p] <= 16_777_216.0) {
                0.0
            } else {
                gamma(k) * abs[p] + k as f64 * TINY
            }
        })
        .collect()
}

/// The check of a correctly rounded elementwise op `c[i] = a[i] ∘ b[i mod |b|]` (a product
/// for `mul` and `mul_backward`, else a sum): [`Check::Rounded`], unless f32 subnormals may
/// flush (`flush`) and one occurs among its inputs or exact results. Then each element is
/// bounded by what a flush can move it: `2⁻¹²⁶` (a flushed sum term or result), plus a
/// flushed factor times the other factor; unbounded where a subnormal meets an infinite
/// factor. Only f32 data can hold f32 subnormals, so the bound is never applied to f16.
fn rounded_flush(flush: bool, op: &Op, a: &[f64], b: &[f64]) -> Check {
    if !flush || b.is_empty() {
        return Check::Rounded;
    }
    let product = matches!(op, Op::Mul(_) | Op::MulBackward(_));
    let mut any = false;
    let delta: Vec<f64> = a
        .iter()
        .enumerate()
        .map(|(i, &av)| {
            let bv = b[i % b.len()];
            let r = if product { av * bv } else { av + bv };
            let (sa, sb) = (subnormal(av), subnormal(bv));
            if sa == 0.0 && sb == 0.0 && subnormal(r) == 0.0 {
                return 0.0;
            }
            any = true;
            if !product {
                return TINY;
            }
            if (sa > 0.0 && bv.is_infinite()) || (sb > 0.0 && av.is_infinite()) {
                return f64::INFINITY;
            }
            TINY + sa * bv.abs() + av.abs() * sb
        })
        .collect();
    if any {
        Check::Bound(delta)
    } else {
        Check::Rounded
    }
}

/// `δ_dev + δ_ref` of an element computed by `f` under each model.
fn both(dev: &Ar, f: impl Fn(&Ar) -> E) -> f64 {
    f(dev).e + f(&REF).e
}

/// The widened data of slot `i` (inputs and in/out operands).
fn slot(w: &[Option<Vec<f64>>], i: usize) -> &[f64] {
    w.get(i).and_then(|s| s.as_deref()).unwrap_or(&[])
}

/// The checks of every operand slot of `op`, from the widened inputs `w` (one entry per
/// slot; `None` for outputs and absent operands), under the OpenCL device model.
pub fn checks(op: &Op, w: &[Option<Vec<f64>>]) -> Vec<Check> {
    checks_for(op, w, Api::OpenCl)
}

/// [`checks`] under the device model of `api`.
pub fn checks_for(op: &Op, w: &[Option<Vec<f64>>], api: Api) -> Vec<Check> {
    let dev = &Ar(api.model());
    let flush = dev.0.flush_inputs;
    let gemm_check =
        |a: &[f64], b: &[f64], m: usize, k: usize, n: usize| gemm_check_for(a, b, m, k, n, flush);
    let operands = match op.operands() {
        Ok(o) => o,
        Err(_) => return Vec::new(),
    };
    let mut out: Vec<Check> = operands
        .iter()
        .map(|s| {
            if s.present && s.role.is_written() {
                Check::Exact
            } else {
                Check::NotWritten
            }
        })
        .collect();
    // Nothing written (every output empty): nothing to bound. Besides saving time, this
    // keeps the cost bounded by the buffers, as in the reference: `matmul { b: 2³¹−1,
    // m: 1, k: 0, n: 0 }` has only empty operands but 2³¹ rows (found by the fuzzer).
    if !op.has_work().unwrap_or(false) {
        return out;
    }
    let x = |i: usize| slot(w, i);
    match op {
        Op::MatMul(d) => {
            out[2] = Check::Bound(twice(gemm_check(x(0), x(1), d.b * d.m, d.k, d.n)));
        }
        Op::MatMulBatched(d) => {
            let mut all = Vec::with_capacity(d.b * d.m * d.n);
            let (sa, sw) = (d.m * d.k, d.k * d.n);
            for b in 0..d.b {
                let a = &x(0)[b * sa..(b + 1) * sa];
                let ww = &x(1)[b * sw..(b + 1) * sw];
                all.extend(gemm_check(a, ww, d.m, d.k, d.n));
            }
            out[2] = Check::Bound(twice(all));
        }
        Op::MatMulBackward(d) => {
            let rows = d.b * d.m;
            if d.want_d_a {
                let wt = transposed(x(1), d.k, d.n);
                out[3] = Check::Bound(twice(gemm_check(x(2), &wt, rows, d.n, d.k)));
            }
            if d.want_d_w {
                let at = transposed(x(0), rows, d.k);
                out[4] = Check::Bound(twice(gemm_check(&at, x(2), d.k, rows, d.n)));
            }
        }
        Op::MatMulBatchedBackward(d) => {
            let (sa, sw, sc) = (d.m * d.k, d.k * d.n, d.m * d.n);
            let (mut da, mut dw) = (Vec::new(), Vec::new());
            for b in 0..d.b {
                let a = &x(0)[b * sa..(b + 1) * sa];
                let ww = &x(1)[b * sw..(b + 1) * sw];
                let dc = &x(2)[b * sc..(b + 1) * sc];
                if d.want_d_a {
                    da.extend(gemm_check(dc, &transposed(ww, d.k, d.n), d.m, d.n, d.k));
                }
                if d.want_d_w {
                    dw.extend(gemm_check(&transposed(a, d.m, d.k), dc, d.k, d.m, d.n));
                }
            }
            if d.want_d_a {
                out[3] = Check::Bound(twice(da));
            }
            if d.want_d_w {
                out[4] = Check::Bound(twice(dw));
            }
        }
        Op::PairwiseSimilarity(d) => {
            let xt = transposed(x(0), d.n, d.d);
            out[1] = Check::Bound(twice(gemm_check(x(0), &xt, d.n, d.d, d.n)));
        }
        Op::HebbianUpdate(d) => out[2] = Check::Bound(hebbian(dev, d, x(0), x(1), x(2))),
        Op::ReduceSum01(d) => {
            let rows = d.b * d.m;
            let ones = vec![1.0; rows];
            out[1] = Check::Bound(twice(gemm_check(&ones, x(0), 1, rows, d.n)));
        }
        Op::EmbeddingBackward(d) => {
            // A flushed subnormal term moves the sum by less than 2⁻¹²⁶: inside the sum's
            // k·2⁻¹²⁶, under every model.
            out[2] = Check::Bound(twice(segment_bound(x(0), x(1), d.dim, d.vocab)));
        }
        Op::ProtoSegmentedSum(d) => {
            out[2] = Check::Bound(twice(segment_bound(x(0), x(1), d.e, d.t)));
        }
        Op::Softmax(d) => out[1] = Check::Bound(softmax(dev, x(0), d.len, false)),
        Op::LogSoftmax(d) => out[1] = Check::Bound(softmax(dev, x(0), d.len, true)),
        Op::SoftmaxBackward(d) => out[2] = Check::Bound(softmax_backward(dev, x(0), x(1), d.len)),
        Op::CrossEntropyLossGrad(d) => {
            out[2] = Check::Bound(cross_entropy(dev, d, x(0), x(1)));
            out[3] = Check::Bound(vec![0.0; d.rows]);
        }
        Op::Gelu(_) => {
            // `y` may alias `x`: the input data is in slot 0 either way.
            out[1] = Check::Bound(x(0).iter().map(|&v| both(dev, |a| gelu(a, v))).collect());
        }
        Op::GeluBackward(_) => {
            let b = x(0)
                .iter()
                .zip(x(1))
                .map(|(&v, &g)| both(dev, |a| gelu_backward(a, v, g)))
                .collect();
            out[2] = Check::Bound(b);
        }
        Op::Add(_) | Op::Mul(_) | Op::AddBias(_) | Op::AddBroadcastPe(_) => {
            out[2] = rounded_flush(flush, op, x(0), x(1));
        }
        Op::MulBackward(d) => {
            // d_a = d_c ⊙ b, d_b = d_c ⊙ a.
            if d.want_d_a {
                out[3] = rounded_flush(flush, op, x(0), x(2));
            }
            if d.want_d_b {
                out[4] = rounded_flush(flush, op, x(0), x(1));
            }
        }
        Op::LayerNorm(d) => out[3] = Check::Bound(layer_norm(dev, d, x(0), x(1), x(2))),
        Op::LayerNormBackward(d) => {
            let (dx, dg, db) = layer_norm_backward(dev, d, x(0), x(1), x(2));
            out[3] = Check::Bound(dx);
            if d.affine {
                out[4] = Check::Bound(dg);
                out[5] = Check::Bound(db);
            }
        }
        Op::AdamUpdate(d) => {
            let (p, m, v) = adam(d, x(0), x(1), x(2), x(3), dev);
            out[0] = Check::Bound(p);
            out[2] = Check::Bound(m);
            out[3] = Check::Bound(v);
        }
        Op::ProtoUpdateStep(d) => out[0] = Check::Bound(proto_update(dev, d, x(0), x(1), x(2))),
        Op::ShapeLoss(d) => out[4] = Check::Bound(shape_loss(dev, d, x(0), x(1), x(2), x(3))),
        Op::DynamicTokenAssignment(d) => out[2] = Check::Argmax(argmax(d, x(0), x(1))),
        Op::Transpose(_)
        | Op::TransposeBatched(_)
        | Op::Transpose12(_)
        | Op::EmbeddingLookup(_)
        | Op::ThresholdSpike(_) => {}
    }
    if let Op::DynamicTokenAssignment(d) = op {
        if d.want_best {
            out[3] = Check::ArgmaxBest;
        }
    }
    out
}

fn argmax(d: &DynamicTokenAssignment, act: &[f64], proto: &[f64]) -> Argmax {
    Argmax {
        act: act.to_vec(),
        proto: proto.to_vec(),
        e: d.e,
        t: d.t,
    }
}

fn hebbian(dev: &Ar, d: &HebbianUpdate, pre: &[f64], post: &[f64], w: &[f64]) -> Vec<f64> {
    let rows = d.b * d.m;
    let pt = transposed(pre, rows, d.k);
    // The sum is a GEMM's: where its finite terms can overflow f32 the result depends on
    // the order (and on fused or separate products) beyond any bound, and neither `lr` nor
    // the `keep·w` term can bring it back (found by the differential fuzzer: the reference
    // rounded `3e38·2` and `3e38·(−2)` to ±inf and got NaN, a device's fused multiply-add
    // got +inf; the exact sum is 0).
    let beta = gemm_check_for(&pt, post, d.k, rows, d.n, dev.0.flush_inputs);
    // The exact sums, for the magnitudes of the products.
    let mut s = vec![0.0; d.k * d.n];
    for r in 0..rows {
        for kk in 0..d.k {
            let p = pre[r * d.k + kk];
            if p == 0.0 {
                continue;
            }
            for (o, q) in s[kk * d.n..(kk + 1) * d.n]
                .iter_mut()
                .zip(&post[r * d.n..(r + 1) * d.n])
            {
                *o += p * q;
            }
        }
    }
    let (lr, decay) = (f64::from(d.lr), f64::from(d.decay));
    (0..d.k * d.n)
        .map(|i| {
            if beta[i] == ORDER_DEPENDENT {
                return ORDER_DEPENDENT;
            }
            let f = |a: &Ar| {
                let keep = a.sub(E::x(1.0), E::x(decay));
                let sum = E {
                    v: s[i],
                    e: beta[i],
                };
                a.add(a.mul(keep, a.inp(w[i])), a.mul(E::x(lr), sum))
            };
            both(dev, f)
        })
        .collect()
}

fn row_max(row: &[f64]) -> f64 {
    row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v))
}

/// Softmax (or log-softmax) bounds of every element.
fn softmax(dev: &Ar, x: &[f64], len: usize, log: bool) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len());
    if len == 0 {
        return out;
    }
    for row in x.chunks_exact(len) {
        let m = row_max(row);
        let per = |a: &Ar| {
            let e: Vec<E> = row
                .iter()
                .map(|&v| a.exp(a.sub(a.inp(v), a.inp(m))))
                .collect();
            let s = a.sum(e.iter().copied());
            (e, s)
        };
        let (ed, sd) = per(dev);
        let (er, sr) = per(&REF);
        for (i, &v) in row.iter().enumerate() {
            let b = if log {
                let f = |a: &Ar, s: E, dev: bool| {
                    let lse = a.ln(s);
                    let y = a.sub(a.sub(a.inp(v), a.inp(m)), lse);
                    // Either association of the two subtractions.
                    let extra = if dev {
                        U * (m.abs() + lse.v.abs())
                    } else {
                        0.0
                    };
                    y.e + extra
                };
                f(dev, sd, true) + f(&REF, sr, false)
            } else {
                dev.div(ed[i], sd).e + REF.div(er[i], sr).e
            };
            out.push(b);
        }
    }
    out
}

fn softmax_backward(dev: &Ar, dy: &[f64], y: &[f64], len: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(dy.len());
    if len == 0 {
        return out;
    }
    for (dr, yr) in dy.chunks_exact(len).zip(y.chunks_exact(len)) {
        let (mut dot, mut abs) = (0.0, 0.0);
        for (a, b) in dr.iter().zip(yr) {
            dot += a * b;
            abs += (a * b).abs();
        }
        let dot_e = E {
            v: dot,
            e: gamma(len) * abs + len as f64 * TINY,
        };
        for (&g, &p) in dr.iter().zip(yr) {
            let f = |a: &Ar| a.mul(a.inp(p), a.sub(a.inp(g), dot_e));
            let distributed = U * p.abs() * (g.abs() + dot.abs());
            out.push(f(dev).e + distributed + f(&REF).e);
        }
    }
    out
}

fn cross_entropy(dev: &Ar, d: &CrossEntropyLossGrad, lp: &[f64], target: &[f64]) -> Vec<f64> {
    let v = d.vocab;
    let mut out = vec![0.0; d.rows * v];
    for (r, &t) in target.iter().enumerate() {
        if t < 0.0 || t >= v as f64 {
            continue; // padding: grad 0, exact
        }
        for j in 0..v {
            let onehot = if j as f64 == t { 1.0 } else { 0.0 };
            let x = lp[r * v + j];
            out[r * v + j] = both(dev, |a| a.sub(a.exp(a.inp(x)), E::x(onehot)));
        }
    }
    out
}

/// `Φ(x)` in either exact form: `0.5·(1 + erf(x/√2))` or `0.5·erfc(−x/√2)`, each with
/// its function's 16 ulp; the bound is the larger of the two (an implementation may choose
/// either: the erf form loses relative accuracy for large negative `x`, the erfc form
/// carries erfc's ulp at values near 1 for small `|x|`).
fn cdf(a: &Ar, x: f64) -> E {
    let z = a.mul(a.inp(x), a.konst(std::f64::consts::FRAC_1_SQRT_2));
    let via_erf = a.mul(E::x(0.5), a.add(E::x(1.0), a.erf(z)));
    let via_erfc = a.mul(E::x(0.5), a.erfc(E { v: -z.v, e: z.e }));
    if a.0.erf_form && via_erf.e >= via_erfc.e {
        via_erf
    } else {
        via_erfc
    }
}

/// `x·Φ(x)`, `Φ` in either form (see [`cdf`]).
fn gelu(a: &Ar, x: f64) -> E {
    a.mul(a.inp(x), cdf(a, x))
}

/// `dy·(Φ(x) + x·φ(x))`.
fn gelu_backward(a: &Ar, x: f64, dy: f64) -> E {
    let cdf = cdf(a, x);
    let xi = a.inp(x);
    let sq = a.mul(E::x(-0.5), a.mul(xi, xi));
    let pdf = a.mul(a.exp(sq), a.konst(0.398_942_280_401_432_7));
    a.mul(a.inp(dy), a.add(cdf, a.mul(xi, pdf)))
}

/// Row statistics `(μ, rstd)` and `x̂` of one row under a model.
fn ln_row(a: &Ar, row: &[f64], eps: f64) -> (E, Vec<E>) {
    let l = E::x(row.len() as f64);
    let mean = a.div(a.sum(row.iter().map(|&v| a.inp(v))), l);
    let d: Vec<E> = row.iter().map(|&v| a.sub(a.inp(v), mean)).collect();
    let var = a.div(a.sum(d.iter().map(|&t| a.mul(t, t))), l);
    let rstd = a.rsqrt(a.add(var, E::x(eps)));
    let xhat = d.iter().map(|&t| a.mul(t, rstd)).collect();
    (rstd, xhat)
}

fn layer_norm(dev: &Ar, d: &LayerNorm, x: &[f64], gamma_: &[f64], beta: &[f64]) -> Vec<f64> {
    let l = d.len;
    let mut out = Vec::with_capacity(x.len());
    if l == 0 {
        return out;
    }
    let eps = f64::from(d.eps);
    for row in x.chunks_exact(l) {
        let f = |a: &Ar| -> Vec<f64> {
            let (_, xhat) = ln_row(a, row, eps);
            xhat.iter()
                .enumerate()
                .map(|(j, &h)| {
                    if d.affine {
                        a.add(a.mul(a.inp(gamma_[j]), h), a.inp(beta[j])).e
                    } else {
                        h.e
                    }
                })
                .collect()
        };
        out.extend(f(dev).iter().zip(f(&REF)).map(|(p, q)| p + q));
    }
    out
}

fn layer_norm_backward(
    dev: &Ar,
    d: &LayerNormBackward,
    dy: &[f64],
    x: &[f64],
    gm: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let l = d.len;
    let mut dx = Vec::with_capacity(x.len());
    let (mut dg, mut db) = (vec![0.0; l], vec![0.0; l]);
    if l == 0 {
        return (dx, dg, db);
    }
    let eps = f64::from(d.eps);
    let rows = d.rows;
    for (pass, a) in [*dev, REF].iter().enumerate() {
        // dγ, dβ column accumulators: Σ v, Σ e, Σ |v|.
        let mut g_acc = vec![(0.0, 0.0, 0.0); l];
        let mut b_abs = vec![0.0; l];
        for (r, (dyr, xr)) in dy.chunks_exact(l).zip(x.chunks_exact(l)).enumerate() {
            let (rstd, xhat) = ln_row(a, xr, eps);
            let g: Vec<E> = (0..l)
                .map(|j| {
                    if d.affine {
                        a.mul(a.inp(dyr[j]), a.inp(gm[j]))
                    } else {
                        a.inp(dyr[j])
                    }
                })
                .collect();
            let sum_g = a.sum(g.iter().copied());
            let sum_gx = a.sum(g.iter().zip(&xhat).map(|(&p, &q)| a.mul(p, q)));
            let lf = E::x(l as f64);
            let scale = a.div(rstd, lf);
            for j in 0..l {
                let inner = a.sub(a.sub(a.mul(lf, g[j]), sum_g), a.mul(xhat[j], sum_gx));
                let e = a.mul(scale, inner).e;
                if pass == 0 {
                    dx.push(e);
                } else {
                    dx[r * l + j] += e;
                }
                let t = a.mul(a.inp(dyr[j]), xhat[j]);
                g_acc[j].0 += t.v;
                g_acc[j].1 += t.e;
                g_acc[j].2 += t.v.abs();
                b_abs[j] += dyr[j].abs();
            }
        }
        let gr = gamma(rows);
        for j in 0..l {
            let (_, e, abs) = g_acc[j];
            dg[j] += e + gr * (abs + e) + rows as f64 * TINY;
            db[j] += gr * b_abs[j] + rows as f64 * TINY;
        }
    }
    (dx, dg, db)
}

fn adam(
    d: &AdamUpdate,
    p: &[f64],
    g: &[f64],
    m: &[f64],
    v: &[f64],
    dev: &Ar,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (lr, b1, b2) = (f64::from(d.lr), f64::from(d.beta1), f64::from(d.beta2));
    let (eps, wd, t) = (f64::from(d.eps), f64::from(d.weight_decay), f64::from(d.t));
    let step = |a: &Ar, i: usize| -> (E, E, E) {
        let (pi, gi) = (E::x(p[i]), E::x(g[i]));
        let (p1, g1) = if d.decoupled {
            (a.sub(pi, a.mul(a.mul(E::x(lr), E::x(wd)), pi)), gi)
        } else {
            (pi, a.add(gi, a.mul(E::x(wd), pi)))
        };
        let mn = a.add(
            a.mul(E::x(b1), E::x(m[i])),
            a.mul(a.sub(E::x(1.0), E::x(b1)), g1),
        );
        let vn = a.add(
            a.mul(E::x(b2), E::x(v[i])),
            a.mul(a.sub(E::x(1.0), E::x(b2)), a.mul(g1, g1)),
        );
        let c1 = a.sub(E::x(1.0), a.pow(b1, t));
        let c2 = a.sub(E::x(1.0), a.pow(b2, t));
        let den = a.add(a.sqrt(a.div(vn, c2)), E::x(eps));
        let upd = a.mul(E::x(lr), a.div(a.div(mn, c1), den));
        (a.sub(p1, upd), mn, vn)
    };
    let (mut bp, mut bm, mut bv) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..p.len() {
        let (pd, md, vd) = step(dev, i);
        let (pr, mr, vr) = step(&REF, i);
        bp.push(pd.e + pr.e);
        bm.push(md.e + mr.e);
        bv.push(vd.e + vr.e);
    }
    (bp, bm, bv)
}

fn proto_update(
    dev: &Ar,
    d: &ProtoUpdateStep,
    proto: &[f64],
    sums: &[f64],
    counts: &[f64],
) -> Vec<f64> {
    let e = d.e;
    let lr = f64::from(d.lr);
    let mut out = vec![0.0; proto.len()];
    for (t, &c) in counts.iter().enumerate() {
        if c <= 0.0 {
            continue; // unchanged: exact
        }
        for j in t * e..(t + 1) * e {
            out[j] = both(dev, |a| {
                let keep = a.sub(E::x(1.0), E::x(lr));
                let q = a.div(a.inp(sums[j]), E::x(c));
                a.add(a.mul(keep, a.inp(proto[j])), a.mul(E::x(lr), q))
            });
        }
    }
    out
}

/// The first maximum of a row (strict `>`, NaN never wins).
pub fn argmax_first(row: &[f64]) -> Option<usize> {
    let (mut best, mut top) = (None, f64::NEG_INFINITY);
    for (i, &v) in row.iter().enumerate() {
        if v > top {
            top = v;
            best = Some(i);
        }
    }
    best
}

fn shape_loss(
    dev: &Ar,
    d: &ShapeLoss,
    loss_in: &[f64],
    probs: &[f64],
    target: &[f64],
    pairs: &[f64],
) -> Vec<f64> {
    let v = d.vocab;
    (0..d.rows)
        .map(|r| {
            let t = target[r];
            if t < 0.0 || t >= v as f64 {
                return 0.0;
            }
            let row = &probs[r * v..(r + 1) * v];
            let Some(pred) = argmax_first(row) else {
                return 0.0;
            };
            let confused = pairs
                .chunks_exact(2)
                .any(|p| p[0] == t && p[1] == pred as f64);
            let rewarded = pred as f64 == t && row[pred] >= f64::from(d.threshold);
            both(dev, |a| {
                let mut l = a.inp(loss_in[r]);
                if confused {
                    l = a.add(l, E::x(f64::from(d.penalty)));
                }
                if rewarded {
                    l = a.sub(l, E::x(f64::from(d.reward)));
                }
                l
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use neurokern_core::op::{AdamUpdate, HebbianUpdate};

    impl Check {
        fn clone_bound(&self) -> f64 {
            bound(self)[0]
        }
    }

    fn bound(c: &Check) -> &[f64] {
        match c {
            Check::Bound(b) => b,
            other => panic!("expected a bound, got {other:?}"),
        }
    }

    #[test]
    fn hebbian_terms_that_overflow_f32_are_order_dependent() {
        let op = |lr| {
            Op::HebbianUpdate(HebbianUpdate {
                b: 1,
                m: 2,
                k: 1,
                n: 1,
                lr,
                decay: 0.0,
            })
        };
        // 3e38·2 + 3e38·(−2): exactly 0, but ±inf, NaN or 0 in f32 depending on the order
        // and on fused products.
        let w = |pre: [f64; 2]| vec![Some(pre.to_vec()), Some(vec![2.0, -2.0]), Some(vec![0.0])];
        for lr in [1.0, 1e-30] {
            let c = checks(&op(lr), &w([3e38, 3e38]));
            assert_eq!(bound(&c[2]), &[ORDER_DEPENDENT], "lr = {lr}");
        }
        // Small terms keep a finite bound; a NaN term still requires NaN (bound 0 around it).
        let c = checks(&op(1.0), &w([3.0, 3.0]));
        assert!(bound(&c[2])[0].is_finite() && bound(&c[2])[0] >= 0.0);
        let c = checks(&op(1.0), &w([f64::NAN, 3e38]));
        assert_eq!(bound(&c[2]), &[0.0]);
    }

    #[test]
    fn the_api_is_chosen_by_backend_name() {
        assert_eq!(Api::for_backend("vulkan"), Api::Vulkan);
        assert_eq!(Api::for_backend("cuda"), Api::Cuda);
        for other in ["opencl", "sim", "cpu", "reference", "someday"] {
            assert_eq!(Api::for_backend(other), Api::OpenCl);
        }
        assert_eq!(Api::OpenCl.model(), Model::DEVICE);
    }

    #[test]
    fn a_flushed_subnormal_factor_is_bounded_only_where_the_model_flushes() {
        use neurokern_core::op::{MatMul, Mul};
        // 1e-40 · 1e30 = 1e-10, or 0 where the subnormal reads as 0.
        let mm = Op::MatMul(MatMul {
            b: 1,
            m: 1,
            k: 2,
            n: 1,
        });
        let w = vec![Some(vec![1e-40, 0.0]), Some(vec![1e30, 0.0]), None];
        let ocl = bound(&checks(&mm, &w)[2])[0];
        let vk = bound(&checks_for(&mm, &w, Api::Vulkan)[2])[0];
        assert!(ocl < 1e-10 && vk >= 1e-10, "opencl {ocl:e}, vulkan {vk:e}");
        assert_eq!(checks_for(&mm, &w, Api::Cuda)[2].clone_bound(), ocl);
        // A subnormal meeting an infinity: 0·inf = NaN once flushed: unbounded.
        let w = vec![Some(vec![1e-40, 1.0]), Some(vec![f64::INFINITY, 1.0]), None];
        assert_eq!(
            bound(&checks_for(&mm, &w, Api::Vulkan)[2])[0],
            f64::INFINITY
        );

        let mul = Op::Mul(Mul { n: 3 });
        let w = |a: Vec<f64>| vec![Some(a), Some(vec![1e30, 2.0, 3.0]), None];
        assert!(matches!(
            checks_for(&mul, &w(vec![1.0, 2.0, 3.0]), Api::Vulkan)[2],
            Check::Rounded
        ));
        assert!(matches!(
            checks(&mul, &w(vec![1e-40, 2.0, 3.0]))[2],
            Check::Rounded
        ));
        let c = checks_for(&mul, &w(vec![1e-40, 2.0, 3.0]), Api::Vulkan);
        let b = bound(&c[2]);
        assert!(b[0] >= 0.999e-10 && b[1] == 0.0 && b[2] == 0.0, "{b:?}");
    }

    #[test]
    fn vulkan_layer_norm_uses_inversesqrt_and_erfc_grows_with_z() {
        // 1/√x as one 2-ulp function is tighter than sqrt (4.6 ulp) then divide (2.5 ulp).
        let vk = Ar(Model::VULKAN);
        let x = E { v: 2.0, e: 1e-7 };
        assert!(vk.rsqrt(x).e < vk.div(E::x(1.0), vk.sqrt(x)).e);
        // The OpenCL model keeps the divide of a sqrt.
        assert_eq!(DEV.rsqrt(x), DEV.div(E::x(1.0), DEV.sqrt(x)));
        // erfc's relative error grows with z² under Vulkan, not under OpenCL.
        let rel = |a: &Ar, z: f64| {
            let r = a.erfc(E::x(z));
            (r.e - TINY) / r.v
        };
        assert!(rel(&vk, 6.0) > 10.0 * rel(&vk, 0.5));
        assert!((rel(&DEV, 6.0) - rel(&DEV, 0.5)).abs() < 1e-9);
    }

    #[test]
    fn zero_times_a_value_that_may_overflow_is_unbounded() {
        // m/(1 − β1) = 3e41 overflows f32; lr·inf is NaN on a device in f32.
        let op = |lr| {
            Op::AdamUpdate(AdamUpdate {
                n: 1,
                lr,
                beta1: 0.999,
                beta2: 0.999,
                eps: 0.001,
                weight_decay: 0.0,
                t: 1,
                decoupled: false,
            })
        };
        let w = |m: f64| {
            vec![
                Some(vec![-65504.0]),
                Some(vec![5.96e-8]),
                Some(vec![m]),
                Some(vec![5.96e-8]),
            ]
        };
        assert_eq!(bound(&checks(&op(0.0), &w(3e38))[0]), &[f64::INFINITY]);
        // Without the overflow, lr = 0 leaves p exact but for its own rounding.
        assert!(bound(&checks(&op(0.0), &w(1.0))[0])[0] < 1.0);
        // An exact zero still adds no error to a finite one.
        assert_eq!(mz(0.0, 5.0), 0.0);
        assert_eq!(mz(0.0, f64::INFINITY), f64::INFINITY);
        assert_eq!(mz(3.0, 0.0), 0.0);
    }
}
