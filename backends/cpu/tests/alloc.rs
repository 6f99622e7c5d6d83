//! Allocation limits: a buffer no op could address is refused with an error before the
//! allocator is asked (found by the `abi` fuzz target: a huge length aborted the process).

use neurokern_backend_cpu::{CpuBackend, CpuError};
use neurokern_core::{Backend, DeviceBuffer, ElemType};

#[test]
fn buffers_past_i32_max_elements_are_refused_not_aborted() {
    let cpu = CpuBackend::new();
    for len in [
        i32::MAX as usize + 1,
        u32::MAX as usize,
        1 << 40,
        usize::MAX,
    ] {
        for elem in [ElemType::F32, ElemType::F16, ElemType::I32] {
            assert_eq!(
                cpu.alloc(elem, len).unwrap_err(),
                CpuError::TooLarge,
                "{elem} × {len}"
            );
        }
    }
    // The backend stays usable.
    let b = cpu.alloc(ElemType::F32, 3).unwrap();
    assert_eq!(b.len(), 3);
    let mut out = [1u8; 12];
    cpu.read(&b, &mut out).unwrap();
    assert_eq!(out, [0u8; 12]);
}

/// Pinned from the differential fuzzer: one empty buffer passed for an input and an
/// output is not an alias (nothing overlaps), so the call is valid and must run, not fail
/// inside the reference with a missing input.
#[test]
fn one_empty_buffer_in_several_slots_is_valid() {
    use neurokern_core::op::CrossEntropyLossGrad;
    use neurokern_core::{FloatType, Op};
    let cpu = CpuBackend::new();
    let empty = cpu.alloc(ElemType::F32, 0).unwrap();
    let target = cpu.alloc(ElemType::I32, 0).unwrap();
    let op = Op::from(CrossEntropyLossGrad { rows: 0, vocab: 5 });
    cpu.run(
        &op,
        FloatType::F32,
        &[Some(&empty), Some(&target), Some(&empty), Some(&empty)],
    )
    .unwrap();
}
