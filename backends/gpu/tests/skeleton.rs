//! What the skeleton guarantees for every GPU backend, shown on the simulated device:
//! buffers of another instance are typed errors (in process, as through the ABI),
//! validation errors are the reference's, host copies are checked.

use neurokern_backend_cpu::CpuBackend;
use neurokern_core::op::{Gelu, MatMul, Softmax};
use neurokern_core::{Backend, ElemType, FloatType, Op};
use neurokern_gpu::sim::SimBackend;
use neurokern_gpu::GpuError;

/// Buffers to allocate for a call's slots: element type and length, or none.
type Slots = Vec<Option<(ElemType, usize)>>;

#[test]
fn a_buffer_of_another_instance_is_a_typed_error() {
    let (a, b) = (SimBackend::default(), SimBackend::default());
    let x = a.alloc(ElemType::F32, 4).unwrap();
    let y = b.alloc(ElemType::F32, 4).unwrap();
    let op = Op::Gelu(Gelu { n: 4 });
    match a.run(&op, FloatType::F32, &[Some(&x), Some(&y)]) {
        Err(GpuError::ForeignBuffer { op, operand, .. }) => {
            assert_eq!((op, operand), ("gelu", "y"))
        }
        other => panic!("expected ForeignBuffer, got {other:?}"),
    }
    assert!(matches!(
        a.read(&y, &mut [0; 16]),
        Err(GpuError::ForeignBuffer { .. })
    ));
    assert!(matches!(
        a.write(&y, &[0; 16]),
        Err(GpuError::ForeignBuffer { .. })
    ));
    assert!(matches!(
        a.copy(&x, &y),
        Err(GpuError::ForeignBuffer { .. })
    ));
    // The instance's own buffers still work.
    let z = a.alloc(ElemType::F32, 4).unwrap();
    a.run(&op, FloatType::F32, &[Some(&x), Some(&z)]).unwrap();
}

#[test]
fn validation_errors_are_the_references() {
    let sim = SimBackend::default();
    let cpu = CpuBackend::new();
    let calls: Vec<(Op, Slots)> = vec![
        // wrong length
        (
            Op::MatMul(MatMul {
                b: 1,
                m: 2,
                k: 3,
                n: 4,
            }),
            vec![
                Some((ElemType::F32, 6)),
                Some((ElemType::F32, 11)),
                Some((ElemType::F32, 8)),
            ],
        ),
        // wrong element type
        (
            Op::Gelu(Gelu { n: 3 }),
            vec![Some((ElemType::F16, 3)), Some((ElemType::F32, 3))],
        ),
        // missing operand
        (
            Op::Softmax(Softmax { rows: 2, len: 2 }),
            vec![Some((ElemType::F32, 4)), None],
        ),
        // too many slots
        (Op::Gelu(Gelu { n: 1 }), vec![None; 9]),
    ];
    for (op, slots) in calls {
        let sb: Vec<_> = slots
            .iter()
            .map(|s| s.map(|(e, n)| sim.alloc(e, n).unwrap()))
            .collect();
        let cb: Vec<_> = slots
            .iter()
            .map(|s| s.map(|(e, n)| cpu.alloc(e, n).unwrap()))
            .collect();
        let sa: Vec<_> = sb.iter().map(Option::as_ref).collect();
        let ca: Vec<_> = cb.iter().map(Option::as_ref).collect();
        let want = cpu.run(&op, FloatType::F32, &ca).unwrap_err().to_string();
        match sim.run(&op, FloatType::F32, &sa) {
            Err(e @ GpuError::Invalid(_)) => assert_eq!(e.to_string(), want, "{}", op.name()),
            other => panic!("{}: expected {want}, got {other:?}", op.name()),
        }
    }
    // Aliasing where the op does not allow it.
    let x = sim.alloc(ElemType::F32, 4).unwrap();
    let r = sim.run(
        &Op::Softmax(Softmax { rows: 2, len: 2 }),
        FloatType::F32,
        &[Some(&x), Some(&x)],
    );
    assert!(
        matches!(
            r,
            Err(GpuError::Invalid(neurokern_core::Error::Alias { .. }))
        ),
        "{r:?}"
    );
}

#[test]
fn host_copies_and_allocations_are_checked() {
    let sim = SimBackend::default();
    let x = sim.alloc(ElemType::F16, 3).unwrap();
    assert!(matches!(
        sim.write(&x, &[0; 5]),
        Err(GpuError::Bytes {
            op: "write",
            expected: 6,
            got: 5
        })
    ));
    assert!(matches!(
        sim.read(&x, &mut [0; 8]),
        Err(GpuError::Bytes { op: "read", .. })
    ));
    let y = sim.alloc(ElemType::F32, 3).unwrap();
    assert!(matches!(
        sim.copy(&x, &y),
        Err(GpuError::CopyMismatch { .. })
    ));
    assert!(matches!(
        sim.alloc(ElemType::F32, i32::MAX as usize + 1),
        Err(GpuError::TooLarge { .. })
    ));
}
