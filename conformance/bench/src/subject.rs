//! The one generic piece: [`bench()`] turns any [`Backend`] into a [`Subject`], a device
//! the runner can prepare cases on. Everything after that (interleaving, statistics,
//! reports) works on subjects, so devices of different backend types run side by side.

use neurokern_core::{Backend, FloatType, Op};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::cases::{Case, Work};
use crate::data;
use crate::measure::{Outcome, Workload};
use crate::model::Model;

/// A device under benchmark.
pub trait Subject {
    /// Its label in the report (`"opencl"`, `"before"`).
    fn label(&self) -> &str;

    /// The device's own name (`"pthread-AMD EPYC 7B13"`).
    fn device_name(&self) -> &str;

    /// Where it comes from (`"in process"`, a plugin file).
    fn origin(&self) -> &str;

    /// Allocates and fills what `case` needs in `dtype`, with data drawn from `seed`:
    /// [`Outcome::Unsupported`] when the device lacks the op in `dtype`,
    /// [`Outcome::Failed`] when allocation or upload fails.
    fn prepare(
        &self,
        case: &Case,
        dtype: FloatType,
        seed: u64,
    ) -> Result<Box<dyn Workload + '_>, Outcome>;
}

/// A [`Subject`] over backend `B`.
#[derive(Debug)]
struct Bench<B> {
    label: String,
    origin: String,
    backend: B,
}

/// The benchmark subject for `backend`, reported as `label`, from `origin`.
pub fn bench<B>(label: &str, origin: &str, backend: B) -> Box<dyn Subject>
where
    B: Backend + 'static,
{
    Box::new(Bench {
        label: label.to_string(),
        origin: origin.to_string(),
        backend,
    })
}

fn failed(e: impl std::fmt::Display) -> Outcome {
    Outcome::Failed(e.to_string())
}

impl<B: Backend> Subject for Bench<B> {
    fn label(&self) -> &str {
        &self.label
    }

    fn device_name(&self) -> &str {
        self.backend.device_name()
    }

    fn origin(&self) -> &str {
        &self.origin
    }

    fn prepare(
        &self,
        case: &Case,
        dtype: FloatType,
        seed: u64,
    ) -> Result<Box<dyn Workload + '_>, Outcome> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let b = &self.backend;
        match &case.work {
            Work::Op(op) => {
                if !b.supports(op.kind(), dtype) {
                    return Err(Outcome::Unsupported);
                }
                let bufs = data::operands(b, op, dtype, &mut rng).map_err(failed)?;
                Ok(Box::new(OpCall {
                    backend: b,
                    op: *op,
                    dtype,
                    bufs,
                }))
            }
            Work::Step => {
                let model = Model::new(b, dtype, &mut rng).map_err(failed)?;
                Ok(Box::new(StepCall {
                    backend: b,
                    dtype,
                    model,
                }))
            }
        }
    }
}

/// One op on its buffers.
struct OpCall<'a, B: Backend> {
    backend: &'a B,
    op: Op,
    dtype: FloatType,
    bufs: Vec<Option<B::Buffer>>,
}

impl<B: Backend> Workload for OpCall<'_, B> {
    fn call(&mut self) -> Result<(), String> {
        let args: Vec<Option<&B::Buffer>> = self.bufs.iter().map(Option::as_ref).collect();
        self.backend
            .run(&self.op, self.dtype, &args)
            .and_then(|()| self.backend.synchronize())
            .map_err(|e| e.to_string())
    }
}

/// The seed model's training step.
struct StepCall<'a, B: Backend> {
    backend: &'a B,
    dtype: FloatType,
    model: Model<B::Buffer>,
}

impl<B: Backend> Workload for StepCall<'_, B> {
    fn call(&mut self) -> Result<(), String> {
        self.model
            .step(self.backend, self.dtype)
            .map_err(|e| e.to_string())
    }

    fn profile(&mut self) -> Option<Result<Vec<(&'static str, f64)>, String>> {
        Some(
            self.model
                .step_profiled(self.backend, self.dtype)
                .map_err(|e| e.to_string()),
        )
    }
}
