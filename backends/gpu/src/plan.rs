//! A plan: what one op call runs, as a short list of primitive steps over named operands
//! and declared workspace. [`crate::lower::lower`] builds it; the skeleton
//! ([`crate::GpuBackend`]) allocates the workspace, resolves the buffers and hands each
//! step to the device.

use crate::gemm::Gemm;
use crate::kernel::Kernel;

/// A buffer a step reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Buf {
    /// An operand of the call, by its slot in [`neurokern_core::Op::operands`] (the
    /// lowering names operands; see [`crate::lower`]).
    Operand(usize),
    /// Workspace slot `i` of the plan ([`Plan::work`]).
    Work(usize),
}

/// One step of a plan.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Step<B = Buf> {
    /// A GEMM.
    Gemm(Gemm<B>),
    /// Any other kernel of the table ([`crate::kernel`]).
    Kernel(Kernel<B>),
}

impl<B> Step<B> {
    /// The same step over other buffer handles.
    pub fn try_map<C, E>(&self, f: impl FnMut(&B) -> Result<C, E>) -> Result<Step<C>, E> {
        Ok(match self {
            Step::Gemm(g) => Step::Gemm(g.try_map(f)?),
            Step::Kernel(k) => Step::Kernel(k.try_map(f)?),
        })
    }

    /// A short name for errors and profiles (`gemm`, `nk_softmax_wi`).
    pub fn name(&self) -> &'static str {
        match self {
            Step::Gemm(_) => "gemm",
            Step::Kernel(k) => k.name(),
        }
    }

    /// True when the step has nothing to do (an empty GEMM, a grid with a zero dim).
    pub fn is_empty(&self) -> bool {
        match self {
            Step::Gemm(g) => g.is_empty(),
            Step::Kernel(k) => k.grid().contains(&0),
        }
    }
}

/// Workspace a plan needs: bytes, zero-initialization not required (every step writes its
/// workspace before reading it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Work {
    /// Size in bytes.
    pub bytes: usize,
}

/// What one op call runs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// The steps, run in order (each sees the previous ones' results).
    pub steps: Vec<Step>,
    /// The workspace slots the steps name as [`Buf::Work`].
    pub work: Vec<Work>,
}

impl Plan {
    /// Declares a workspace slot of `bytes` and returns its buffer.
    pub fn work(&mut self, bytes: usize) -> Buf {
        self.work.push(Work { bytes });
        Buf::Work(self.work.len() - 1)
    }

    /// Appends a GEMM step.
    pub fn gemm(&mut self, g: Gemm<Buf>) {
        self.steps.push(Step::Gemm(g));
    }

    /// Appends a kernel step.
    pub fn kernel(&mut self, k: impl Into<Kernel<Buf>>) {
        self.steps.push(Step::Kernel(k.into()));
    }
}
