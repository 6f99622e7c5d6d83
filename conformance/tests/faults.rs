//! The suite catches faults: deliberately broken backends (the reference behind the
//! `Backend` trait, with one fault each) must each be flagged by the right op, and only
//! by it; the unbroken backend, and one that legitimately sums in another order, must
//! pass everything.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use neurokern_backend_cpu::{CpuBackend, CpuBuffer, CpuError};
use neurokern_conformance::cases::Tier;
use neurokern_conformance::data::HostData;
use neurokern_conformance::devices::{BackendDevice, DeviceUnderTest};
use neurokern_conformance::suite::{run_all, select, CaseResult, Filter, Status};
use neurokern_core::backend::check_call;
use neurokern_core::op::{EmbeddingBackward, MatMul, ReduceSum01};
use neurokern_core::reference::{self, Arg};
use neurokern_core::{f16, Backend, ElemType, FloatType, Op, OpKind};

/// One fault per fixture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    /// No fault: must pass everything.
    None,
    /// A legitimate difference: GEMM, reduction and scatter sums run in reverse order
    /// (always the same order, so deterministic). Must pass everything.
    Reordered,
    /// `matmul` drops the last term of every dot product (a loop bound `k < K − 1`).
    OffByOne,
    /// `gelu` stores f16 by truncation instead of rounding to nearest.
    TruncateF16,
    /// `reduce_sum_01` accumulates in f16 instead of f32.
    SumInF16,
    /// `cross_entropy_loss_grad` leaves `exp(logp)` as the gradient of padding rows (the
    /// seed's behaviour).
    PaddingGrad,
    /// `dynamic_token_assignment`: the last maximum wins instead of the first.
    LastMaxWins,
    /// `embedding_backward` sums in reverse order on every other call.
    Nondeterministic,
    /// `threshold_spike` gives 1 for NaN.
    NanSpike,
    /// `dynamic_token_assignment`: a NaN similarity wins.
    NanWinsArgmax,
    /// `add` flushes f16 subnormal results to zero.
    FlushF16Subnormals,
    /// `softmax` computes `exp(x) / Σ exp(x)` without subtracting the row maximum.
    NoMaxSubtraction,
    /// `transpose` never writes the last element of its output (a grid one short).
    UnwrittenTail,
}

impl Fault {
    /// The op that must flag it (and the dtypes it shows in).
    fn target(self) -> Option<(OpKind, &'static [FloatType])> {
        const BOTH: &[FloatType] = &[FloatType::F32, FloatType::F16];
        const F16: &[FloatType] = &[FloatType::F16];
        match self {
            Fault::None | Fault::Reordered => None,
            Fault::OffByOne => Some((OpKind::MatMul, BOTH)),
            Fault::TruncateF16 => Some((OpKind::Gelu, F16)),
            Fault::SumInF16 => Some((OpKind::ReduceSum01, F16)),
            Fault::PaddingGrad => Some((OpKind::CrossEntropyLossGrad, BOTH)),
            Fault::LastMaxWins => Some((OpKind::DynamicTokenAssignment, BOTH)),
            Fault::Nondeterministic => Some((OpKind::EmbeddingBackward, BOTH)),
            Fault::NanSpike => Some((OpKind::ThresholdSpike, BOTH)),
            Fault::NanWinsArgmax => Some((OpKind::DynamicTokenAssignment, BOTH)),
            Fault::FlushF16Subnormals => Some((OpKind::Add, F16)),
            Fault::NoMaxSubtraction => Some((OpKind::Softmax, BOTH)),
            Fault::UnwrittenTail => Some((OpKind::Transpose, BOTH)),
        }
    }

    const ALL: [Fault; 13] = [
        Fault::None,
        Fault::Reordered,
        Fault::OffByOne,
        Fault::TruncateF16,
        Fault::SumInF16,
        Fault::PaddingGrad,
        Fault::LastMaxWins,
        Fault::Nondeterministic,
        Fault::NanSpike,
        Fault::NanWinsArgmax,
        Fault::FlushF16Subnormals,
        Fault::NoMaxSubtraction,
        Fault::UnwrittenTail,
    ];
}

/// The reference behind the `Backend` trait, with one fault.
#[derive(Debug)]
struct Faulty {
    inner: CpuBackend,
    fault: Fault,
    calls: AtomicU64,
}

impl Faulty {
    fn new(fault: Fault) -> Self {
        Faulty {
            inner: CpuBackend::new(),
            fault,
            calls: AtomicU64::new(0),
        }
    }

    fn get(&self, b: &CpuBuffer) -> Result<HostData, CpuError> {
        use neurokern_core::DeviceBuffer;
        let mut bytes = vec![0u8; b.len() * b.elem().size()];
        self.inner.read(b, &mut bytes)?;
        Ok(HostData::from_bytes(b.elem(), &bytes))
    }

    fn put(&self, b: &CpuBuffer, d: &HostData) -> Result<(), CpuError> {
        self.inner.write(b, &d.to_bytes())
    }

    /// Runs the faulty version of `op` when this fixture's fault concerns it; returns
    /// `false` to fall through to the reference.
    fn faulty(
        &self,
        op: &Op,
        dtype: FloatType,
        args: &[Option<&CpuBuffer>],
    ) -> Result<bool, CpuError> {
        let arg = |i: usize| args[i].expect("present operand");
        match (self.fault, op) {
            (Fault::Reordered, Op::MatMul(d)) if d.k > 1 => {
                let (a, w) = (self.get(arg(0))?, self.get(arg(1))?);
                let a = permute(&a, |i| {
                    let (r, k) = (i / d.k, i % d.k);
                    r * d.k + (d.k - 1 - k)
                });
                let w = permute(&w, |i| {
                    let (k, n) = (i / d.n, i % d.n);
                    (d.k - 1 - k) * d.n + n
                });
                let out = host_run(op, dtype, vec![Some(a), Some(w), None])?;
                self.put(arg(2), out[2].as_ref().expect("c"))?;
                Ok(true)
            }
            (Fault::Reordered, Op::ReduceSum01(d)) if d.b * d.m > 1 => {
                let rows = d.b * d.m;
                let x = permute(&self.get(arg(0))?, |i| {
                    let (r, n) = (i / d.n, i % d.n);
                    (rows - 1 - r) * d.n + n
                });
                let out = host_run(op, dtype, vec![Some(x), None])?;
                self.put(arg(1), out[1].as_ref().expect("y"))?;
                Ok(true)
            }
            (Fault::Reordered, Op::DynamicTokenAssignment(d)) if d.e > 1 => {
                // Similarities summed over the width in reverse: near ties may resolve
                // the other way, which the suite must accept.
                let rev = |x: HostData| {
                    permute(&x, |i| {
                        let (r, j) = (i / d.e, i % d.e);
                        r * d.e + (d.e - 1 - j)
                    })
                };
                let (act, proto) = (rev(self.get(arg(0))?), rev(self.get(arg(1))?));
                let out = host_run(op, dtype, vec![Some(act), Some(proto), None, None])?;
                self.put(arg(2), out[2].as_ref().expect("idx"))?;
                if let (Some(b), Some(best)) = (args[3], out[3].as_ref()) {
                    self.put(b, best)?;
                }
                Ok(true)
            }
            (Fault::Reordered, Op::EmbeddingBackward(d)) => {
                self.embedding_reversed(d, op, dtype, args)?;
                Ok(true)
            }
            (Fault::Nondeterministic, Op::EmbeddingBackward(d)) => {
                if self.calls.fetch_add(1, Ordering::Relaxed) % 2 == 1 {
                    self.embedding_reversed(d, op, dtype, args)?;
                    return Ok(true);
                }
                Ok(false)
            }
            (Fault::OffByOne, Op::MatMul(d)) if d.k > 0 => {
                let (a, w) = (self.get(arg(0))?, self.get(arg(1))?);
                let k1 = d.k - 1;
                let a = select_elems(&a, (0..a.len()).filter(|i| i % d.k < k1));
                let w = select_elems(&w, 0..k1 * d.n);
                let short = Op::from(MatMul { k: k1, ..*d });
                let out = host_run(&short, dtype, vec![Some(a), Some(w), None])?;
                self.put(arg(2), out[2].as_ref().expect("c"))?;
                Ok(true)
            }
            (Fault::TruncateF16, Op::Gelu(_)) if dtype == FloatType::F16 => {
                let x = self.get(arg(0))?.to_f32();
                let out = host_run(op, FloatType::F32, vec![Some(x), None])?;
                let y = out[1].as_ref().and_then(HostData::as_f32).expect("y");
                let t = HostData::F16(y.iter().map(|&v| truncate_f16(v)).collect());
                self.put(arg(1), &t)?;
                Ok(true)
            }
            (Fault::SumInF16, Op::ReduceSum01(ReduceSum01 { n, .. }))
                if dtype == FloatType::F16 =>
            {
                let x = self.get(arg(0))?;
                let mut acc = vec![f16::ZERO; *n];
                for i in 0..x.len() {
                    let j = i % n;
                    acc[j] = f16::from_f32(acc[j].to_f32() + x.get(i) as f32);
                }
                self.put(arg(1), &HostData::F16(acc))?;
                Ok(true)
            }
            (Fault::PaddingGrad, Op::CrossEntropyLossGrad(d)) => {
                self.inner.run(op, dtype, args)?;
                let (lp, target, mut grad) =
                    (self.get(arg(0))?, self.get(arg(1))?, self.get(arg(2))?);
                for r in 0..d.rows {
                    let t = target.get(r);
                    if t >= 0.0 && t < d.vocab as f64 {
                        continue;
                    }
                    for j in r * d.vocab..(r + 1) * d.vocab {
                        set(&mut grad, j, lp.get(j).exp());
                    }
                }
                self.put(arg(2), &grad)?;
                Ok(true)
            }
            (Fault::FlushF16Subnormals, Op::Add(_)) if dtype == FloatType::F16 => {
                self.inner.run(op, dtype, args)?;
                let mut c = self.get(arg(2))?;
                for i in 0..c.len() {
                    let v = c.get(i);
                    if v != 0.0 && v.abs() < 6.103_515_625e-5 {
                        set(&mut c, i, 0.0);
                    }
                }
                self.put(arg(2), &c)?;
                Ok(true)
            }
            (Fault::NoMaxSubtraction, Op::Softmax(d)) if d.len > 0 => {
                let x = self.get(arg(0))?;
                let mut y = HostData::zeros(dtype.elem(), x.len());
                for r in 0..d.rows {
                    let row = r * d.len..(r + 1) * d.len;
                    let e: Vec<f32> = row.clone().map(|i| x.get(i).exp() as f32).collect();
                    let sum: f32 = e.iter().sum();
                    for (i, ev) in row.zip(e) {
                        set(&mut y, i, f64::from(ev / sum));
                    }
                }
                self.put(arg(1), &y)?;
                Ok(true)
            }
            (Fault::UnwrittenTail, Op::Transpose(d)) if d.rows * d.cols > 0 => {
                let x = self.get(arg(0))?;
                let out = host_run(op, dtype, vec![Some(x), None])?;
                let y = out[1].as_ref().expect("y");
                let mut dev = self.get(arg(1))?; // whatever the buffer held before
                for i in 0..y.len() - 1 {
                    set(&mut dev, i, y.get(i));
                }
                self.put(arg(1), &dev)?;
                Ok(true)
            }
            (Fault::NanSpike, Op::ThresholdSpike(_)) => {
                let x = self.get(arg(0))?;
                self.inner.run(op, dtype, args)?;
                let mut y = self.get(arg(1))?;
                for i in 0..x.len() {
                    if x.is_nan(i) {
                        set(&mut y, i, 1.0);
                    }
                }
                self.put(arg(1), &y)?;
                Ok(true)
            }
            (Fault::LastMaxWins | Fault::NanWinsArgmax, Op::DynamicTokenAssignment(d)) => {
                let (act, proto) = (self.get(arg(0))?, self.get(arg(1))?);
                let rows = d.b * d.s;
                let mut idx = vec![-1i32; rows];
                let mut best = HostData::zeros(dtype.elem(), rows);
                for (r, slot) in idx.iter_mut().enumerate() {
                    let mut top = f32::NEG_INFINITY;
                    for t in 0..d.t {
                        let mut s = 0.0f32;
                        for j in 0..d.e {
                            s += act.get(r * d.e + j) as f32 * proto.get(t * d.e + j) as f32;
                        }
                        let wins = match self.fault {
                            Fault::LastMaxWins => s >= top,
                            // The fault: NaN compares as a win.
                            _ => s.is_nan() || s > top,
                        };
                        if wins {
                            top = s;
                            *slot = t as i32;
                        }
                    }
                    set(&mut best, r, f64::from(top));
                }
                self.put(arg(2), &HostData::I32(idx))?;
                if let Some(b) = args[3] {
                    self.put(b, &best)?;
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// `embedding_backward` with the positions summed in decreasing order.
    fn embedding_reversed(
        &self,
        d: &EmbeddingBackward,
        op: &Op,
        dtype: FloatType,
        args: &[Option<&CpuBuffer>],
    ) -> Result<(), CpuError> {
        let arg = |i: usize| args[i].expect("present operand");
        let (d_out, idx) = (self.get(arg(0))?, self.get(arg(1))?);
        let pos = d.b * d.s;
        let d_out = permute(&d_out, |i| {
            let (p, j) = (i / d.dim.max(1), i % d.dim.max(1));
            (pos - 1 - p) * d.dim + j
        });
        let idx = permute(&idx, |p| pos - 1 - p);
        let out = host_run(op, dtype, vec![Some(d_out), Some(idx), None])?;
        self.put(arg(2), out[2].as_ref().expect("d_table"))
    }
}

/// `y[i] = x[src(i)]`.
fn permute(x: &HostData, src: impl Fn(usize) -> usize) -> HostData {
    select_elems(x, (0..x.len()).map(src))
}

fn select_elems(x: &HostData, idx: impl Iterator<Item = usize>) -> HostData {
    match x {
        HostData::F32(v) => HostData::F32(idx.map(|i| v[i]).collect()),
        HostData::F16(v) => HostData::F16(idx.map(|i| v[i]).collect()),
        HostData::I32(v) => HostData::I32(idx.map(|i| v[i]).collect()),
    }
}

fn set(d: &mut HostData, i: usize, v: f64) {
    match d {
        HostData::F32(x) => x[i] = v as f32,
        HostData::F16(x) => x[i] = f16::from_f64(v),
        HostData::I32(x) => x[i] = v as i32,
    }
}

/// Rounds toward zero to f16 (the fault: truncation instead of rounding to nearest).
fn truncate_f16(v: f32) -> f16 {
    let h = f16::from_f32(v);
    if h.is_nan() || h.to_f32() == v || h.to_bits() & 0x7fff == 0 {
        return h;
    }
    if h.to_f32().abs() > v.abs() {
        f16::from_bits(h.to_bits() - 1) // one step toward zero (also from ±inf to ±max)
    } else {
        h
    }
}

/// Runs the reference on host data (outputs allocated here); returns every slot.
fn host_run(
    op: &Op,
    dtype: FloatType,
    mut slots: Vec<Option<HostData>>,
) -> Result<Vec<Option<HostData>>, CpuError> {
    let operands = op.validate()?;
    for (s, spec) in slots.iter_mut().zip(operands.iter()) {
        if s.is_none() && spec.present {
            *s = Some(HostData::zeros(spec.elem.resolve(dtype), spec.len));
        }
    }
    let mut scratch = vec![0.0f32; reference::scratch_len(op, dtype)?];
    {
        let mut args: Vec<Arg<'_>> = slots
            .iter_mut()
            .map(|s| s.as_mut().map_or(Arg::Absent, HostData::arg_mut))
            .collect();
        reference::run(op, dtype, &mut args, &mut scratch)?;
    }
    Ok(slots)
}

/// The buffer half of a test backend: every one here keeps its buffers in the wrapped
/// `CpuBackend` (field `$f`) and only changes `supports` or `run`.
macro_rules! forward_buffers {
    ($f:tt) => {
        fn alloc(&self, elem: ElemType, len: usize) -> Result<CpuBuffer, CpuError> {
            self.$f.alloc(elem, len)
        }
        fn write(&self, buf: &CpuBuffer, src: &[u8]) -> Result<(), CpuError> {
            self.$f.write(buf, src)
        }
        fn read(&self, buf: &CpuBuffer, dst: &mut [u8]) -> Result<(), CpuError> {
            self.$f.read(buf, dst)
        }
        fn copy(&self, src: &CpuBuffer, dst: &CpuBuffer) -> Result<(), CpuError> {
            self.$f.copy(src, dst)
        }
    };
}

impl Backend for Faulty {
    type Buffer = CpuBuffer;
    type Error = CpuError;

    fn device_name(&self) -> &str {
        "reference with an injected fault"
    }
    fn supports(&self, _kind: OpKind, _dtype: FloatType) -> bool {
        true
    }
    forward_buffers!(inner);
    fn run(&self, op: &Op, dtype: FloatType, args: &[Option<&CpuBuffer>]) -> Result<(), CpuError> {
        check_call(op, dtype, args)?;
        if self.faulty(op, dtype, args)? {
            return Ok(());
        }
        self.inner.run(op, dtype, args)
    }
    fn synchronize(&self) -> Result<(), CpuError> {
        Ok(())
    }
}

/// A backend that supports nothing: every case must be "unsupported", never failed.
#[derive(Debug)]
struct Nothing(CpuBackend);

impl Backend for Nothing {
    type Buffer = CpuBuffer;
    type Error = CpuError;
    fn device_name(&self) -> &str {
        "supports nothing"
    }
    fn supports(&self, _kind: OpKind, _dtype: FloatType) -> bool {
        false
    }
    forward_buffers!(0);
    fn run(&self, op: &Op, dtype: FloatType, args: &[Option<&CpuBuffer>]) -> Result<(), CpuError> {
        self.0.run(op, dtype, args)
    }
    fn synchronize(&self) -> Result<(), CpuError> {
        Ok(())
    }
}

fn name(f: Fault) -> String {
    format!("{f:?}").to_lowercase()
}

fn quick() -> Filter {
    Filter {
        max_tier: Some(Tier::Typical),
        ..Filter::default()
    }
}

#[test]
fn every_fault_is_flagged_by_its_op_and_only_by_it() {
    let devices: Vec<Box<dyn DeviceUnderTest>> = Fault::ALL
        .iter()
        .map(|&f| Box::new(BackendDevice::new(&name(f), Faulty::new(f), false)) as Box<_>)
        .collect();
    let cases = select(&quick());
    let results = run_all(&devices, &cases, true);
    let mut problems = Vec::new();
    for f in Fault::ALL {
        let mine: Vec<&CaseResult> = results.iter().filter(|r| r.backend == name(f)).collect();
        let failed: BTreeSet<(String, String)> = mine
            .iter()
            .filter(|r| r.status == Status::Fail)
            .map(|r| (r.op.clone(), r.dtype.clone()))
            .collect();
        let expected: BTreeSet<(String, String)> = match f.target() {
            None => BTreeSet::new(),
            Some((op, dtypes)) => dtypes
                .iter()
                .map(|d| (op.name().to_string(), d.name().to_string()))
                .collect(),
        };
        let flagged: Vec<String> = mine
            .iter()
            .filter(|r| r.status == Status::Fail)
            .map(|r| {
                let worst = r.worst.map_or("-".into(), |w| format!("{w:.3e}"));
                format!("{} (worst/bound {worst})", r.id)
            })
            .collect();
        println!(
            "{f:?}: {} failing case(s): {}",
            flagged.len(),
            flagged.join(", ")
        );
        if failed != expected {
            let detail: Vec<String> = mine
                .iter()
                .filter(|r| r.status == Status::Fail)
                .take(5)
                .map(|r| format!("{}: {}", r.id, r.message.as_deref().unwrap_or("")))
                .collect();
            problems.push(format!(
                "{f:?}: flagged {failed:?}, expected {expected:?}\n    {}",
                detail.join("\n    ")
            ));
        }
        if f == Fault::Nondeterministic {
            // Caught by the determinism check alone: reversed sums are within bounds.
            for r in mine.iter().filter(|r| r.status == Status::Fail) {
                let msg = r.message.as_deref().unwrap_or("");
                if !msg.starts_with("not deterministic") {
                    problems.push(format!("{}: {msg}", r.id));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn unsupported_ops_are_counted_not_failed() {
    let devices: Vec<Box<dyn DeviceUnderTest>> = vec![Box::new(BackendDevice::new(
        "nothing",
        Nothing(CpuBackend::new()),
        false,
    ))];
    let filter = Filter {
        ops: vec![OpKind::Add, OpKind::Softmax],
        ..quick()
    };
    let results = run_all(&devices, &select(&filter), true);
    assert!(!results.is_empty());
    assert!(results.iter().all(|r| r.status == Status::Unsupported));
}

/// A backend whose `run` panics: the case fails with the panic's message, the run goes on.
#[derive(Debug)]
struct Panics(CpuBackend);

impl Backend for Panics {
    type Buffer = CpuBuffer;
    type Error = CpuError;
    fn device_name(&self) -> &str {
        "panics"
    }
    fn supports(&self, _kind: OpKind, _dtype: FloatType) -> bool {
        true
    }
    forward_buffers!(0);
    fn run(
        &self,
        op: &Op,
        _dtype: FloatType,
        _args: &[Option<&CpuBuffer>],
    ) -> Result<(), CpuError> {
        panic!("deliberate panic in {}", op.name())
    }
    fn synchronize(&self) -> Result<(), CpuError> {
        Ok(())
    }
}

#[test]
fn a_panicking_backend_fails_its_cases_and_the_run_goes_on() {
    let devices: Vec<Box<dyn DeviceUnderTest>> = vec![Box::new(BackendDevice::new(
        "panics",
        Panics(CpuBackend::new()),
        false,
    ))];
    let filter = Filter {
        ops: vec![OpKind::Add],
        ..quick()
    };
    let results = run_all(&devices, &select(&filter), true);
    assert!(results.len() > 1);
    for r in &results {
        assert_eq!(r.status, Status::Fail, "{}", r.id);
        let msg = r.message.as_deref().unwrap_or("");
        assert!(msg.contains("deliberate panic in add"), "{}: {msg}", r.id);
    }
}

/// The lowering with one planted fault: `matmul_backward`'s `dA = dC·Wᵀ` reads `W` without
/// its transpose (a flag lost in `lower.rs`). Every GPU backend runs this lowering, so
/// the simulated device must catch it, in that op only.
fn lowering_without_a_transpose(
    op: &Op,
    operands: &neurokern_core::Operands,
    limits: &neurokern_gpu::Limits,
) -> neurokern_gpu::Plan {
    let mut plan = neurokern_gpu::lower::lower(op, operands, limits);
    if let Op::MatMulBackward(d) = op {
        for step in &mut plan.steps {
            if let neurokern_gpu::Step::Gemm(g) = step {
                // The dA product is the one whose B operand is W, read transposed.
                if g.b.trans && g.k == d.n {
                    g.b.trans = false;
                    g.b.ld = d.k;
                }
            }
        }
    }
    plan
}

#[test]
fn a_fault_in_the_shared_lowering_is_caught_on_the_simulated_device() {
    use neurokern_gpu::sim::SimBackend;
    let broken = SimBackend::default().with_lowering(lowering_without_a_transpose);
    let devices: Vec<Box<dyn DeviceUnderTest>> =
        vec![Box::new(BackendDevice::new("sim-broken", broken, false))];
    let results = run_all(&devices, &select(&quick()), true);
    let failed: BTreeSet<String> = results
        .iter()
        .filter(|r| r.status == Status::Fail)
        .map(|r| r.op.clone())
        .collect();
    assert_eq!(
        failed,
        BTreeSet::from([OpKind::MatMulBackward.name().to_string()]),
        "{:?}",
        results
            .iter()
            .filter(|r| r.status == Status::Fail)
            .map(|r| format!("{}: {}", r.id, r.message.as_deref().unwrap_or("")))
            .collect::<Vec<_>>()
    );
}
