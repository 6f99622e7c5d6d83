//! Any call that validates runs on the reference without a panic or an out-of-bounds
//! access (any call that does not validates returns its error), with values biased to
//! NaN, ±inf, ±0, subnormals, 65504 and extreme or negative indices.

/// One input.
pub fn run(bytes: &[u8]) {
    let mut u = arbitrary::Unstructured::new(bytes);
    let (Ok(op), Ok(dtype)) = (crate::op(&mut u), crate::dtype(&mut u)) else {
        return;
    };
    let Ok(mut data) = crate::args(&mut u, &op, dtype) else {
        return;
    };
    let _ = crate::run_reference(&op, dtype, &mut data);
}
