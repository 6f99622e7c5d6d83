//! The conformance suite on OpenCL devices configured the ways the default device run
//! does not reach (`cargo xtask conformance` runs the default configuration through the
//! plugin): one work-group per row with tree reductions (the non-CPU rowwise shape), the
//! direct token-assignment path (no score matrix), and another GEMM register tile with
//! `A` always packed and the implementation's work-group shape.
//!
//! Each configuration is a new context, whose programs PoCL compiles anew (tens of
//! seconds), so configurations that share programs share a device.

use neurokern_backend_opencl::{
    DeviceSelector, GemmParams, OclError, OpenClBackend, OpenClDevice, PackA,
};

fn device() -> Result<OpenClDevice, OclError> {
    OpenClDevice::new(&DeviceSelector::Default)
}

neurokern_conformance::conformance_tests! {
    /// Work-group rowwise kernels, and token assignment past its memory budget.
    work_groups_and_direct_assignment: || device().map(|d| {
        OpenClBackend::new(d.with_rows_per_item(false).with_score_budget(0))
    }),
        ops = [Softmax, LogSoftmax, SoftmaxBackward, LayerNorm, LayerNormBackward,
               DynamicTokenAssignment];
    /// Another register tile, `A` always packed, the implementation's work-group shape.
    gemm_tile_packed: || device().map(|d| {
        OpenClBackend::new(
            d.with_gemm_params(GemmParams { mr: 3, nv: 4, nr: 2 })
                .with_pack_a(PackA::Always)
                .with_gemm_local(None),
        )
    }),
        ops = [MatMul, MatMulBackward, MatMulBatched, MatMulBatchedBackward, HebbianUpdate,
               PairwiseSimilarity, DynamicTokenAssignment], tier = Edge;
}
