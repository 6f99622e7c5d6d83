//! The kernels every GPU backend provides besides the GEMM, as data.
//!
//! Each kernel is declared once, in the `kernels!` table below: its name in the kernel
//! sources (`nk_gelu`), its arguments in the order the sources declare them (dims, flags,
//! scalars and buffers, each with its kind), and its logical grid (the work-items it is
//! launched over; every kernel returns early for ids past its bounds). The table
//! generates, per kernel, a plain struct with named fields generic over the buffer type
//! (the lowering builds them with [`crate::plan::Buf`]s, the skeleton resolves those to a
//! backend's memory handles), the [`Kernel`] enum, the signature list [`SIGNATURES`] and
//! the generic launch form ([`Kernel::args`]) that kernel-source backends (OpenCL, CUDA,
//! Vulkan's bindings and push constants) use without any per-kernel code of their own.
//! The simulated device matches on the typed enum instead, by field name.
//!
//! Grids: a grid dim may exceed what an API launches in one go (65 535 work-groups in
//! CUDA's y and z, Vulkan's `maxComputeWorkGroupCount`); a backend covers the whole grid
//! anyway, by grid-stride loops in its kernels or by chunked dispatches with an offset.
//!
//! Element types: `T` is the call's storage type (`f32` or `f16`, arithmetic in f32 and
//! one rounding at store), `F32` and `I32` are fixed.

use neurokern_core::ElemType;

/// The element type of a kernel's buffer argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ElemClass {
    /// The call's storage type (`f32` or `f16`).
    T,
    /// Always `f32` (Adam moments, f32 scratch, score matrices).
    F32,
    /// Always `i32` (indices, counts).
    I32,
}

impl ElemClass {
    /// The element type in a call whose storage type is `t`.
    pub fn resolve(self, t: ElemType) -> ElemType {
        match self {
            ElemClass::T => t,
            ElemClass::F32 => ElemType::F32,
            ElemClass::I32 => ElemType::I32,
        }
    }
}

/// How a kernel uses a buffer argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Read only.
    Read,
    /// Written only.
    Write,
    /// Read and written (in-place updates).
    ReadWrite,
}

/// The kind of one kernel argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgKind {
    /// A 32-bit signed integer (a dim or a count; validation keeps dims within `i32::MAX`).
    I32,
    /// A 0/1 flag passed as a 32-bit integer.
    Flag,
    /// An `f32` scalar.
    F32,
    /// A buffer; `optional` ones may be absent (a null handle, or a dummy binding).
    Buf {
        /// Element type.
        elem: ElemClass,
        /// Read, written or both.
        access: Access,
        /// May be absent.
        optional: bool,
    },
}

/// One kernel's signature: its name in the sources and its arguments in order.
#[derive(Debug)]
pub struct Sig {
    /// The kernel's name in the sources (`nk_gelu`).
    pub name: &'static str,
    /// The arguments in declaration order: field name and kind.
    pub args: &'static [(&'static str, ArgKind)],
}

impl Sig {
    /// The buffer arguments, in order.
    pub fn buffers(&self) -> impl Iterator<Item = (&'static str, ArgKind)> + '_ {
        self.args
            .iter()
            .copied()
            .filter(|(_, k)| matches!(k, ArgKind::Buf { .. }))
    }
}

/// One argument of a launch, in the generic form.
#[derive(Debug)]
pub enum Arg<'a, B> {
    /// A 32-bit integer (dims and flags).
    I32(i32),
    /// An `f32` scalar.
    F32(f32),
    /// A buffer, `None` when an optional one is absent.
    Buf(Option<&'a B>),
}

/// A dim that does not fit a kernel's 32-bit argument (validation prevents it; this is
/// the last line of defence before a kernel indexes with it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DimTooLarge {
    /// The kernel.
    pub kernel: &'static str,
    /// The argument.
    pub arg: &'static str,
    /// Its value.
    pub value: usize,
}

pub mod kinds {
    //! Field types by argument kind: `<kinds::in_t as FieldKind<B>>::Ty` is `B`. One
    //! marker type per argument kind of the [`kernels!`](super) table.
    #![allow(non_camel_case_types, missing_debug_implementations)]

    /// The Rust type of a field of this kind, over buffer handles `B`.
    pub trait FieldKind<B> {
        /// The field's type.
        type Ty;
    }
    macro_rules! kind {
        ($($k:ident => $t:ty;)*) => {$(
            #[doc = concat!("The `", stringify!($k), "` argument kind.")]
            pub struct $k;
            impl<B> FieldKind<B> for $k {
                type Ty = $t;
            }
        )*};
    }
    kind! {
        i32 => usize;
        flag => bool;
        f32 => ::core::primitive::f32;
        in_t => B;
        out_t => B;
        io_t => B;
        in_f32 => B;
        out_f32 => B;
        io_f32 => B;
        in_i32 => B;
        out_i32 => B;
        opt_in_t => Option<B>;
        opt_out_t => Option<B>;
    }
}

/// Argument kinds by name.
macro_rules! arg_kind {
    (i32) => { ArgKind::I32 };
    (flag) => { ArgKind::Flag };
    (f32) => { ArgKind::F32 };
    (in_t) => { arg_kind!(@b T, Read, false) };
    (out_t) => { arg_kind!(@b T, Write, false) };
    (io_t) => { arg_kind!(@b T, ReadWrite, false) };
    (in_f32) => { arg_kind!(@b F32, Read, false) };
    (out_f32) => { arg_kind!(@b F32, Write, false) };
    (io_f32) => { arg_kind!(@b F32, ReadWrite, false) };
    (in_i32) => { arg_kind!(@b I32, Read, false) };
    (out_i32) => { arg_kind!(@b I32, Write, false) };
    (opt_in_t) => { arg_kind!(@b T, Read, true) };
    (opt_out_t) => { arg_kind!(@b T, Write, true) };
    (@b $e:ident, $a:ident, $o:literal) => {
        ArgKind::Buf { elem: ElemClass::$e, access: Access::$a, optional: $o }
    };
}

/// Mapping one field to another buffer type.
macro_rules! map_field {
    (i32, $v:expr, $f:ident) => { *$v };
    (flag, $v:expr, $f:ident) => { *$v };
    (f32, $v:expr, $f:ident) => { *$v };
    (opt_in_t, $v:expr, $f:ident) => { map_field!(@opt $v, $f) };
    (opt_out_t, $v:expr, $f:ident) => { map_field!(@opt $v, $f) };
    (@opt $v:expr, $f:ident) => {
        match $v {
            Some(b) => Some($f(b)?),
            None => None,
        }
    };
    ($k:ident, $v:expr, $f:ident) => { $f($v)? };
}

/// One field in the generic launch form.
macro_rules! arg_of {
    (i32, $v:expr, $k:expr, $n:expr) => {
        Arg::I32(i32::try_from(*$v).map_err(|_| DimTooLarge {
            kernel: $k,
            arg: $n,
            value: *$v,
        })?)
    };
    (flag, $v:expr, $k:expr, $n:expr) => {
        Arg::I32(i32::from(*$v))
    };
    (f32, $v:expr, $k:expr, $n:expr) => {
        Arg::F32(*$v)
    };
    (opt_in_t, $v:expr, $k:expr, $n:expr) => {
        Arg::Buf($v.as_ref())
    };
    (opt_out_t, $v:expr, $k:expr, $n:expr) => {
        Arg::Buf($v.as_ref())
    };
    ($kind:ident, $v:expr, $k:expr, $n:expr) => {
        Arg::Buf(Some($v))
    };
}

macro_rules! kernels {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $kname:literal ( $( $field:ident : $kind:ident ),* $(,)? )
            grid [ $($g:expr),+ ];
    )*) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Copy, Debug, PartialEq)]
            #[allow(missing_docs)]
            pub struct $variant<B> {
                $( pub $field: <kinds::$kind as kinds::FieldKind<B>>::Ty, )*
            }
        )*

        /// Every kernel besides the GEMM, with its arguments.
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub enum Kernel<B> {
            $( $(#[$doc])* $variant($variant<B>), )*
        }

        $(
            impl<B> From<$variant<B>> for Kernel<B> {
                fn from(k: $variant<B>) -> Self {
                    Kernel::$variant(k)
                }
            }
        )*

        /// Every kernel's signature, in table order.
        pub static SIGNATURES: &[Sig] = &[
            $( Sig { name: $kname, args: &[ $( (stringify!($field), arg_kind!($kind)), )* ] }, )*
        ];

        impl<B> Kernel<B> {
            /// The kernel's signature.
            pub fn sig(&self) -> &'static Sig {
                let mut i = 0usize;
                $(
                    if let Kernel::$variant(_) = self {
                        return &SIGNATURES[i];
                    }
                    i += 1;
                )*
                unreachable!("{i} kernels, every variant listed")
            }

            /// The kernel's name in the sources.
            pub fn name(&self) -> &'static str {
                self.sig().name
            }

            /// The logical grid: up to three dims of work-items (trailing dims 1). A grid
            /// with a zero dim launches nothing.
            pub fn grid(&self) -> [usize; 3] {
                match self {
                    $(
                        #[allow(unused_variables)]
                        Kernel::$variant($variant { $($field),* }) => {
                            let g = [$($g),+];
                            let mut out = [1usize; 3];
                            out[..g.len()].copy_from_slice(&g);
                            out
                        }
                    )*
                }
            }

            /// The arguments in the sources' order (the generic launch form).
            pub fn args(&self) -> Result<Vec<Arg<'_, B>>, DimTooLarge> {
                match self {
                    $(
                        Kernel::$variant($variant { $($field),* }) => Ok(vec![
                            $( arg_of!($kind, $field, $kname, stringify!($field)), )*
                        ]),
                    )*
                }
            }

            /// The same kernel over other buffer handles (`f` resolves each present one).
            pub fn try_map<C, E>(
                &self,
                mut f: impl FnMut(&B) -> Result<C, E>,
            ) -> Result<Kernel<C>, E> {
                Ok(match self {
                    $(
                        Kernel::$variant($variant { $($field),* }) => {
                            Kernel::$variant($variant { $( $field: map_field!($kind, $field, f), )* })
                        }
                    )*
                })
            }
        }
    };
}

kernels! {
    /// `c[r·period + j] = a[r·period + j] + b[j]`: `add` (`reps = 1`), `add_bias` and
    /// `add_broadcast_pe` (`b` repeats). `c` may be `a`.
    Add = "nk_add"(period: i32, reps: i32, a: in_t, b: in_t, c: out_t) grid [*period, *reps];
    /// `c = a ⊙ b`. `c` may be `a`.
    Mul = "nk_mul"(n: i32, a: in_t, b: in_t, c: out_t) grid [*n];
    /// `y = 0.5·x·(1 + erf(x/√2))`. `y` may be `x`.
    Gelu = "nk_gelu"(n: i32, x: in_t, y: out_t) grid [*n];
    /// `dx = dy·(Φ(x) + x·φ(x))`.
    GeluBackward = "nk_gelu_backward"(n: i32, x: in_t, dy: in_t, dx: out_t) grid [*n];
    /// `y = x > theta ? 1 : 0`. `y` may be `x`.
    Threshold = "nk_threshold"(n: i32, theta: f32, x: in_t, y: out_t) grid [*n];
    /// One Adam / AdamW step in place; `c1 = 1 − β1ᵗ`, `c2 = 1 − β2ᵗ` (computed once, on
    /// the host, in f64 and rounded to f32).
    Adam = "nk_adam"(
        n: i32, p: io_t, g: in_t, m: io_f32, v: io_f32, lr: f32, beta1: f32,
        one_minus_beta1: f32, beta2: f32, one_minus_beta2: f32, eps: f32,
        weight_decay: f32, c1: f32, c2: f32, decoupled: flag,
    ) grid [*n];
    /// `out[r, j] = table[idx[r], j]`, a zero row for an index outside `[0, vocab)`.
    Gather = "nk_embedding_lookup"(
        rows: i32, dim: i32, vocab: i32, idx: in_i32, table: in_t, out: out_t,
    ) grid [*dim, *rows];
    /// `y (B, D2, D1, D3) ← x (B, D1, D2, D3)`.
    Transpose = "nk_transpose_12"(
        d1: i32, d2: i32, d3: i32, batches: i32, x: in_t, y: out_t,
    ) grid [*d1, *d2, *batches];
    /// First pass of column sums: `part[c, j] = Σ_{r in chunk c} x[r, j]`, rows in order.
    ColumnSumsPartial = "nk_reduce_rows_part"(
        rows: i32, n: i32, chunk: i32, x: in_t, part: out_f32,
    ) grid [*n, rows.div_ceil((*chunk).max(1)).max(1)];
    /// Second pass: `y[j] = Σ_c part[c, j]`, chunks in order.
    ColumnSumsFinal = "nk_reduce_rows_final"(chunks: i32, n: i32, part: in_f32, y: out_t)
        grid [*n];
    /// `grad = exp(logp) − onehot(target)`, `loss = max(0, −logp[target])`; rows whose
    /// target is outside `[0, vocab)` get zeros. Over `max(vocab, 1)` columns, so a row's
    /// loss is written when `vocab = 0`.
    CrossEntropy = "nk_cross_entropy"(
        rows: i32, vocab: i32, logp: in_t, target: in_i32, grad: out_t, loss: out_t,
    ) grid [(*vocab).max(1), *rows];
    /// Row argmax of an f32 score matrix (first maximum; NaN never wins; −1 when nothing
    /// beats −inf), with the winning score when `want_best`.
    ArgmaxRows = "nk_argmax_rows"(
        rows: i32, cols: i32, scores: in_f32, idx: out_i32, best: opt_out_t, want_best: flag,
    ) grid [*rows];
    /// Token assignment without a score matrix: per row, the dot products with each
    /// prototype in turn (f32, increasing `e`), argmax as [`ArgmaxRows`].
    TokenAssignDirect = "nk_token_assign_direct"(
        rows: i32, protos: i32, e: i32, act: in_t, proto: in_t, idx: out_i32,
        best: opt_out_t, want_best: flag,
    ) grid [*rows];
    /// `shape_loss`: per row with a valid target, `+penalty` for a listed (target,
    /// prediction) pair, `−reward` for a confident correct prediction.
    ShapeLoss = "nk_shape_loss"(
        rows: i32, vocab: i32, pairs: i32, loss_in: in_t, probs: in_t, target: in_i32,
        pair_list: in_i32, loss_out: out_t, penalty: f32, reward: f32, threshold: f32,
    ) grid [*rows];
    /// `proto[t] ← keep·proto[t] + lr·sums[t]/counts[t]` where `counts[t] > 0`.
    ProtoUpdate = "nk_proto_update"(
        n: i32, e: i32, keep: f32, lr: f32, proto: io_t, sums: in_t, counts: in_i32,
    ) grid [*n];
    /// Rowwise softmax (`log`: log-softmax) of `x (rows, len)`.
    Softmax = "nk_softmax_wi"(rows: i32, len: i32, x: in_t, y: out_t, log: flag) grid [*rows];
    /// `dx = y ⊙ (dy − Σ_row dy⊙y)`.
    SoftmaxBackward = "nk_softmax_backward_wi"(
        rows: i32, len: i32, dy: in_t, y: in_t, dx: out_t,
    ) grid [*rows];
    /// Rowwise layer norm, affine when `affine` (`gamma`, `beta` present).
    LayerNorm = "nk_layer_norm_wi"(
        rows: i32, len: i32, eps: f32, x: in_t, gamma: opt_in_t, beta: opt_in_t, y: out_t,
        affine: flag,
    ) grid [*rows];
    /// Layer-norm backward per row; writes each row's mean and rstd to `stats (rows, 2)`.
    LayerNormBackward = "nk_layer_norm_backward_wi"(
        rows: i32, len: i32, eps: f32, dy: in_t, x: in_t, gamma: opt_in_t, dx: out_t,
        stats: out_f32, affine: flag,
    ) grid [*rows];
    /// `dγ = Σ_rows dy⊙x̂`, `dβ = Σ_rows dy`, rows in order, from the row statistics.
    LayerNormBackwardCols = "nk_layer_norm_backward_cols"(
        rows: i32, len: i32, dy: in_t, x: in_t, stats: in_f32, dgamma: out_t, dbeta: out_t,
    ) grid [*len];
    /// A stable counting sort of `idx (rows)` into `segs` segments: `offs (segs + 1)`
    /// segment starts, `order (rows)` row numbers by segment, `cursor (segs)` scratch.
    /// Indices outside `[0, segs)` are left out. One work-item: O(rows + segs).
    Bucket = "nk_bucket"(
        rows: i32, segs: i32, idx: in_i32, offs: out_i32, order: out_i32, cursor: out_i32,
    ) grid [1];
    /// `dst[s, j] = Σ src[order[r], j]` over the segment's rows, in increasing row order.
    SegmentSum = "nk_segment_sum"(
        width: i32, segs: i32, src: in_t, offs: in_i32, order: in_i32, dst: out_t,
    ) grid [*width, *segs];
    /// `counts[s] = offs[s + 1] − offs[s]`.
    SegmentCounts = "nk_segment_counts"(segs: i32, offs: in_i32, counts: out_i32)
        grid [*segs];
}

impl<B> Kernel<B> {
    /// True for the rowwise reductions a backend may run one work-group per row instead of
    /// one work-item per row (same arguments).
    pub fn is_rowwise(&self) -> bool {
        matches!(
            self,
            Kernel::Softmax(_)
                | Kernel::SoftmaxBackward(_)
                | Kernel::LayerNorm(_)
                | Kernel::LayerNormBackward(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_unique_and_match_the_enum() {
        let mut names: Vec<_> = SIGNATURES.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SIGNATURES.len());
        let k: Kernel<u32> = Kernel::Gelu(Gelu { n: 5, x: 1, y: 2 });
        assert_eq!(k.name(), "nk_gelu");
        assert_eq!(k.grid(), [5, 1, 1]);
        let args = k.args().unwrap();
        assert_eq!(args.len(), k.sig().args.len());
        assert!(matches!(args[0], Arg::I32(5)));
        assert!(matches!(args[2], Arg::Buf(Some(&2))));
    }

    #[test]
    fn a_dim_past_i32_is_refused_not_truncated() {
        let k: Kernel<u32> = Kernel::Gelu(Gelu {
            n: 1 << 31,
            x: 1,
            y: 2,
        });
        let e = k.args().unwrap_err();
        assert_eq!((e.kernel, e.arg), ("nk_gelu", "n"));
    }

    #[test]
    fn mapping_resolves_every_present_buffer() {
        let k: Kernel<u32> = Kernel::ArgmaxRows(ArgmaxRows {
            rows: 2,
            cols: 3,
            scores: 7,
            idx: 8,
            best: None,
            want_best: false,
        });
        let mut seen = vec![];
        let m = k
            .try_map(|b| {
                seen.push(*b);
                Ok::<_, ()>(u64::from(*b) * 10)
            })
            .unwrap();
        assert_eq!(seen, [7, 8]);
        match m {
            Kernel::ArgmaxRows(a) => assert_eq!((a.scores, a.idx, a.best), (70, 80, None)),
            _ => unreachable!(),
        }
    }
}
