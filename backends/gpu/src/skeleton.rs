//! [`GpuBackend`]: `neurokern_core::Backend`, implemented once for every [`Device`].
//!
//! What it does for every backend: validation (core's `check_call`, so errors are the
//! reference's), calls with nothing to write, buffer ownership (a buffer of another
//! backend instance is an error, not a foreign handle handed to a driver), byte counts of
//! host copies, the `i32::MAX` element limit of buffers, capability checks, the lowering
//! ([`crate::lower`]), and a workspace arena that keeps scratch buffers between calls.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use neurokern_core::backend::{check_bytes, check_call};
use neurokern_core::{Backend, DeviceBuffer, ElemType, FloatType, Op, OpKind, Operands};

use crate::device::{Device, Limits};
use crate::gemm::Gemm;
use crate::kernel::{ArgKind, ElemClass, Kernel};
use crate::lower::lower;
use crate::plan::{Buf, Plan, Step};

/// Workspace slots larger than this are released after the call that needed them,
/// instead of being kept for the next call.
const KEEP_BYTES: usize = 64 << 20;

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

fn next_id() -> usize {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// Errors of a [`GpuBackend`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GpuError<E> {
    /// The call was rejected by validation (the same error as the reference's).
    #[error(transparent)]
    Invalid(#[from] neurokern_core::Error),
    /// A buffer of another backend instance was passed.
    #[error("{op}: operand `{operand}` is a buffer of another device instance, not of `{device}`")]
    ForeignBuffer {
        /// The op, or `read`/`write`/`copy`.
        op: &'static str,
        /// The operand.
        operand: &'static str,
        /// This backend's device name.
        device: String,
    },
    /// A host copy had the wrong byte count.
    #[error("{op}: the buffer holds {expected} bytes, the host slice {got}")]
    Bytes {
        /// `read` or `write`.
        op: &'static str,
        /// Bytes the buffer holds.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// A copy between buffers of different element types or lengths.
    #[error("copy: source is {src_len} × {src_elem}, destination {dst_len} × {dst_elem}")]
    CopyMismatch {
        /// Source element type.
        src_elem: ElemType,
        /// Source length.
        src_len: usize,
        /// Destination element type.
        dst_elem: ElemType,
        /// Destination length.
        dst_len: usize,
    },
    /// An allocation the backend refuses before asking the device.
    #[error("alloc: {len} × {elem} is more than any op can use (at most i32::MAX elements)")]
    TooLarge {
        /// Element type.
        elem: ElemType,
        /// Elements asked for.
        len: usize,
    },
    /// The device does not implement the op in this dtype.
    #[error("{op} in {dtype} is not supported on `{device}`: {reason}")]
    Unsupported {
        /// The op.
        op: &'static str,
        /// The storage type.
        dtype: FloatType,
        /// The device.
        device: String,
        /// Why.
        reason: String,
    },
    /// The lowering produced a step the skeleton cannot run: a bug in `lower.rs`, reported
    /// instead of handing a device a wrong buffer.
    #[error("{op}: internal lowering error in step `{step}`: {what}")]
    Lowering {
        /// The op.
        op: &'static str,
        /// The step.
        step: &'static str,
        /// What is wrong.
        what: String,
    },
    /// The device failed.
    #[error("{during}: {source}")]
    Device {
        /// What was being done (`alloc`, `matmul: gemm`, …).
        during: String,
        /// The API's error.
        source: E,
    },
}

impl<E> GpuError<E> {
    /// The device's own error, when this is one.
    pub fn device_error(&self) -> Option<&E> {
        match self {
            GpuError::Device { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A buffer of a [`GpuBackend`].
#[derive(Debug)]
pub struct GpuBuffer<M> {
    mem: M,
    elem: ElemType,
    len: usize,
    id: usize,
    owner: usize,
}

impl<M> GpuBuffer<M> {
    /// The device memory.
    pub fn mem(&self) -> &M {
        &self.mem
    }

    fn bytes(&self) -> usize {
        self.len * self.elem.size()
    }
}

impl<M> DeviceBuffer for GpuBuffer<M> {
    fn elem(&self) -> ElemType {
        self.elem
    }
    fn len(&self) -> usize {
        self.len
    }
    fn id(&self) -> usize {
        self.id
    }
}

/// One kept workspace allocation.
#[derive(Debug)]
struct Slot<M> {
    mem: M,
    bytes: usize,
}

/// A lowering: how an op (validated, with its operand list) becomes a plan on a device
/// with these limits. [`lower`] is the one every backend uses; tests plant faults by
/// wrapping it ([`GpuBackend::with_lowering`]).
pub type Lowering = fn(&Op, &Operands, &Limits) -> Plan;

/// Every GPU backend: a [`Device`] behind `neurokern_core::Backend`.
#[derive(Debug)]
pub struct GpuBackend<D: Device> {
    device: D,
    instance: usize,
    lowering: Lowering,
    /// Workspace slots by index; held for the whole of a call's submission, which also
    /// orders the calls that share workspace.
    arena: Mutex<Vec<Option<Slot<D::Mem>>>>,
}

type Result<T, D> = std::result::Result<T, GpuError<<D as Device>::Error>>;

impl<D: Device> GpuBackend<D> {
    /// Wraps a device.
    pub fn new(device: D) -> Self {
        GpuBackend {
            device,
            instance: next_id(),
            lowering: lower,
            arena: Mutex::new(Vec::new()),
        }
    }

    /// Replaces the lowering (for tests that prove a broken lowering is caught, and for
    /// experiments with other plans); the default is [`lower`].
    pub fn with_lowering(mut self, lowering: Lowering) -> Self {
        self.lowering = lowering;
        self
    }

    /// The device.
    pub fn device(&self) -> &D {
        &self.device
    }

    /// The device, mutably (to reconfigure it; the workspace is dropped).
    pub fn device_mut(&mut self) -> &mut D {
        self.arena_lock().clear();
        &mut self.device
    }

    /// The plan `op` lowers to on this device (for tests and profiles).
    pub fn plan(&self, op: &Op) -> std::result::Result<Plan, neurokern_core::Error> {
        let operands = op.validate()?;
        Ok((self.lowering)(op, &operands, &self.device.limits()))
    }

    fn arena_lock(&self) -> MutexGuard<'_, Vec<Option<Slot<D::Mem>>>> {
        // A panic under the lock leaves at worst fewer kept slots, which stays valid.
        self.arena.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn dev_err(&self, during: impl Into<String>) -> impl FnOnce(D::Error) -> GpuError<D::Error> {
        let during = during.into();
        move |source| GpuError::Device { during, source }
    }

    fn own(&self, op: &'static str, operand: &'static str, b: &GpuBuffer<D::Mem>) -> Result<(), D> {
        if b.owner == self.instance {
            Ok(())
        } else {
            Err(GpuError::ForeignBuffer {
                op,
                operand,
                device: self.device.name().to_string(),
            })
        }
    }

    /// Makes sure slot `i` holds at least `bytes`.
    fn ensure(
        &self,
        arena: &mut Vec<Option<Slot<D::Mem>>>,
        i: usize,
        bytes: usize,
    ) -> Result<(), D> {
        if arena.len() <= i {
            arena.resize_with(i + 1, || None);
        }
        if arena[i].as_ref().is_some_and(|s| s.bytes >= bytes) {
            return Ok(());
        }
        // Free the old slot first: its memory may be what the new one needs. Growing to a
        // power of two keeps a sequence of growing calls from reallocating each time.
        arena[i] = None;
        let max = usize::try_from(self.device.limits().max_alloc).unwrap_or(usize::MAX);
        let want = match bytes {
            0 => 0,
            _ => bytes
                .checked_next_power_of_two()
                .unwrap_or(bytes)
                .min(max)
                .max(bytes),
        };
        let mem = self
            .device
            .alloc(want)
            .map_err(self.dev_err(format!("workspace of {bytes} bytes")))?;
        arena[i] = Some(Slot { mem, bytes: want });
        Ok(())
    }

    fn submit(
        &self,
        op: &Op,
        dtype: FloatType,
        args: &[Option<&GpuBuffer<D::Mem>>],
        plan: &Plan,
    ) -> Result<(), D> {
        let name = op.name();
        let mut arena = self.arena_lock();
        // Workspace: the plan's slots, then two per GEMM step for the device's packing.
        let nwork = plan.work.len();
        for (i, w) in plan.work.iter().enumerate() {
            self.ensure(&mut arena, i, w.bytes)?;
        }
        let mut gemm_work = Vec::new();
        for (s, step) in plan.steps.iter().enumerate() {
            if let Step::Gemm(g) = step {
                let need = self.device.gemm_workspace(dtype, &g.shape());
                let base = nwork + 2 * gemm_work.len();
                for (j, &bytes) in need.iter().enumerate() {
                    if bytes > 0 {
                        self.ensure(&mut arena, base + j, bytes)?;
                    }
                }
                gemm_work.push((s, need));
            }
        }
        let elem = dtype.elem();
        let mut gemm_seen = 0;
        for step in &plan.steps {
            let step_name = step.name();
            let resolve = |b: &Buf| -> Result<&D::Mem, D> {
                match *b {
                    Buf::Operand(slot) => match args.get(slot).copied().flatten() {
                        Some(buf) => Ok(&buf.mem),
                        None => Err(GpuError::Lowering {
                            op: name,
                            step: step_name,
                            what: format!("operand slot {slot} is absent"),
                        }),
                    },
                    Buf::Work(i) => arena.get(i).and_then(Option::as_ref).map(|s| &s.mem).ok_or(
                        GpuError::Lowering {
                            op: name,
                            step: step_name,
                            what: format!("workspace slot {i} was not declared"),
                        },
                    ),
                }
            };
            match step {
                Step::Gemm(g) => {
                    let base = nwork + 2 * gemm_seen;
                    let need = gemm_work[gemm_seen].1;
                    gemm_seen += 1;
                    if g.is_empty() {
                        continue;
                    }
                    check_gemm_elems(name, g, args, elem)?;
                    let gm = g.try_map(resolve)?;
                    let work = [0, 1].map(|j| {
                        (need[j] > 0)
                            .then(|| arena[base + j].as_ref().map(|s| &s.mem))
                            .flatten()
                    });
                    self.device
                        .gemm(dtype, &gm, work)
                        .map_err(self.dev_err("gemm"))?;
                }
                Step::Kernel(k) => {
                    if step.is_empty() {
                        continue;
                    }
                    check_kernel_elems(name, k, args, elem)?;
                    let km = k.try_map(resolve)?;
                    self.device
                        .launch(dtype, &km)
                        .map_err(self.dev_err(k.name()))?;
                }
            }
        }
        // Release very large workspace now rather than keeping it for the next call.
        if arena.iter().flatten().any(|s| s.bytes > KEEP_BYTES) {
            self.device
                .synchronize()
                .map_err(self.dev_err("synchronize"))?;
            for s in arena.iter_mut() {
                if s.as_ref().is_some_and(|s| s.bytes > KEEP_BYTES) {
                    *s = None;
                }
            }
        }
        Ok(())
    }
}

/// The element type an operand buffer must have for a kernel argument.
fn check_elem<M>(
    op: &'static str,
    step: &'static str,
    arg: &str,
    class: ElemClass,
    b: &Buf,
    args: &[Option<&GpuBuffer<M>>],
    t: ElemType,
) -> std::result::Result<(), String> {
    let _ = (op, step);
    if let Buf::Operand(slot) = *b {
        if let Some(Some(buf)) = args.get(slot) {
            let want = class.resolve(t);
            if buf.elem != want {
                return Err(format!(
                    "argument `{arg}` needs {want}, operand slot {slot} is {}",
                    buf.elem
                ));
            }
        }
    }
    Ok(())
}

fn check_kernel_elems<M, E>(
    op: &'static str,
    k: &Kernel<Buf>,
    args: &[Option<&GpuBuffer<M>>],
    t: ElemType,
) -> std::result::Result<(), GpuError<E>> {
    let sig = k.sig();
    let vals = k.args().map_err(|e| GpuError::Lowering {
        op,
        step: sig.name,
        what: format!("argument `{}` = {} does not fit 32 bits", e.arg, e.value),
    })?;
    for ((arg, kind), v) in sig.args.iter().zip(&vals) {
        if let (ArgKind::Buf { elem, optional, .. }, crate::kernel::Arg::Buf(b)) = (kind, v) {
            match b {
                Some(b) => check_elem(op, sig.name, arg, *elem, b, args, t),
                None if *optional => Ok(()),
                None => Err(format!("required argument `{arg}` is absent")),
            }
            .map_err(|what| GpuError::Lowering {
                op,
                step: sig.name,
                what,
            })?;
        }
    }
    Ok(())
}

fn check_gemm_elems<M, E>(
    op: &'static str,
    g: &Gemm<Buf>,
    args: &[Option<&GpuBuffer<M>>],
    t: ElemType,
) -> std::result::Result<(), GpuError<E>> {
    let c = if g.c_f32 {
        ElemClass::F32
    } else {
        ElemClass::T
    };
    [
        ("a", ElemClass::T, &g.a.buf),
        ("b", ElemClass::T, &g.b.buf),
        ("c", c, &g.c.buf),
    ]
    .into_iter()
    .try_for_each(|(arg, class, b)| check_elem(op, "gemm", arg, class, b, args, t))
    .map_err(|what| GpuError::Lowering {
        op,
        step: "gemm",
        what,
    })
}

impl<D: Device> Backend for GpuBackend<D> {
    type Buffer = GpuBuffer<D::Mem>;
    type Error = GpuError<D::Error>;

    fn device_name(&self) -> &str {
        self.device.name()
    }

    fn supports(&self, kind: OpKind, dtype: FloatType) -> bool {
        self.device.supports(kind, dtype)
    }

    fn alloc(&self, elem: ElemType, len: usize) -> Result<Self::Buffer, D> {
        // No operand of any op has more than i32::MAX elements (validation rejects it), so
        // a larger buffer could never be used: refused here, on every backend alike.
        if len > i32::MAX as usize {
            return Err(GpuError::TooLarge { elem, len });
        }
        let bytes = len * elem.size();
        let mem = self
            .device
            .alloc(bytes)
            .map_err(self.dev_err(format!("alloc of {len} × {elem}")))?;
        Ok(GpuBuffer {
            mem,
            elem,
            len,
            id: next_id(),
            owner: self.instance,
        })
    }

    fn write(&self, buf: &Self::Buffer, src: &[u8]) -> Result<(), D> {
        self.own("write", "buffer", buf)?;
        check_bytes(buf.elem, buf.len, src.len()).map_err(|(expected, got)| GpuError::Bytes {
            op: "write",
            expected,
            got,
        })?;
        if src.is_empty() {
            return Ok(());
        }
        self.device
            .write(&buf.mem, src)
            .map_err(self.dev_err("write"))
    }

    fn read(&self, buf: &Self::Buffer, dst: &mut [u8]) -> Result<(), D> {
        self.own("read", "buffer", buf)?;
        check_bytes(buf.elem, buf.len, dst.len()).map_err(|(expected, got)| GpuError::Bytes {
            op: "read",
            expected,
            got,
        })?;
        if dst.is_empty() {
            return Ok(());
        }
        self.device
            .read(&buf.mem, dst)
            .map_err(self.dev_err("read"))
    }

    fn copy(&self, src: &Self::Buffer, dst: &Self::Buffer) -> Result<(), D> {
        self.own("copy", "src", src)?;
        self.own("copy", "dst", dst)?;
        if src.elem != dst.elem || src.len != dst.len {
            return Err(GpuError::CopyMismatch {
                src_elem: src.elem,
                src_len: src.len,
                dst_elem: dst.elem,
                dst_len: dst.len,
            });
        }
        if src.id == dst.id || src.len == 0 {
            return Ok(());
        }
        self.device
            .copy(&src.mem, &dst.mem, src.bytes())
            .map_err(self.dev_err("copy"))
    }

    fn run(&self, op: &Op, dtype: FloatType, args: &[Option<&Self::Buffer>]) -> Result<(), D> {
        let operands = check_call(op, dtype, args)?;
        for (spec, a) in operands.iter().zip(args) {
            if let Some(b) = a {
                self.own(op.name(), spec.name, b)?;
            }
        }
        if !self.device.supports(op.kind(), dtype) {
            return Err(GpuError::Unsupported {
                op: op.name(),
                dtype,
                device: self.device.name().to_string(),
                reason: self
                    .device
                    .unsupported_reason(op.kind(), dtype)
                    .unwrap_or_else(|| "the device lacks it".into()),
            });
        }
        if !op.has_work()? {
            return Ok(());
        }
        let plan = (self.lowering)(op, &operands, &self.device.limits());
        self.submit(op, dtype, args, &plan)
    }

    fn synchronize(&self) -> Result<(), D> {
        self.device
            .synchronize()
            .map_err(self.dev_err("synchronize"))
    }
}
