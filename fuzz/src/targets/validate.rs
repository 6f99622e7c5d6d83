//! Arbitrary descriptors, dtypes and argument slots through validation: never a panic, an
//! overflow or an unbounded allocation; validation is a pure function of its input.

use neurokern_core::ArgDesc;
use neurokern_core::ElemType;

/// One input.
pub fn run(bytes: &[u8]) {
    let mut u = arbitrary::Unstructured::new(bytes);
    let (Ok(op), Ok(dtype)) = (crate::op(&mut u), crate::dtype(&mut u)) else {
        return;
    };
    let n = u.int_in_range(0..=8usize).unwrap_or(0);
    let descs: Vec<ArgDesc> = (0..n)
        .map(|_| {
            let elem = u
                .choose(&[
                    None,
                    Some(ElemType::F32),
                    Some(ElemType::F16),
                    Some(ElemType::I32),
                ])
                .ok()
                .copied()
                .flatten();
            ArgDesc {
                elem,
                len: crate::dim(&mut u).unwrap_or(0),
                id: u.int_in_range(0..=3).unwrap_or(0),
            }
        })
        .collect();
    let first = op.check_call(dtype, &descs);
    // Compared through Debug: a rejected NaN scalar makes the errors unequal under `==`.
    assert_eq!(
        format!("{first:?}"),
        format!("{:?}", op.check_call(dtype, &descs)),
        "validation is deterministic"
    );
    if let Err(e) = first {
        // Every error names the op it is about.
        assert_eq!(e.op(), op.name());
        let _ = e.to_string();
    }
}
