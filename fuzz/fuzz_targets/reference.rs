//! Any call that validates runs on the reference without a panic or an out-of-bounds
//! access (any call that does not validates returns its error), with values biased to
//! NaN, ±inf, ±0, subnormals, 65504 and extreme or negative indices.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let mut u = arbitrary::Unstructured::new(bytes);
    let (Ok(op), Ok(dtype)) = (neurokern_fuzz::op(&mut u), neurokern_fuzz::dtype(&mut u)) else {
        return;
    };
    let Ok(mut data) = neurokern_fuzz::args(&mut u, &op, dtype) else {
        return;
    };
    let _ = neurokern_fuzz::run_reference(&op, dtype, &mut data);
});
