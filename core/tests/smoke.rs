use neurokern_core::op::{Add, MatMul};
use neurokern_core::reference::{run, Arg};
use neurokern_core::{Error, FloatType, Op};

#[test]
fn matmul_2x2() {
    let a = [1.0f32, 2.0, 3.0, 4.0];
    let w = [5.0f32, 6.0, 7.0, 8.0];
    let mut c = [0.0f32; 4];
    let op = Op::from(MatMul {
        b: 1,
        m: 2,
        k: 2,
        n: 2,
    });
    run(
        &op,
        FloatType::F32,
        &mut [Arg::F32(&a), Arg::F32(&w), Arg::F32Mut(&mut c)],
        &mut [],
    )
    .unwrap();
    assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
}

#[test]
fn add_in_place_and_bad_length() {
    let mut a = [1.0f32, 2.0];
    let b = [10.0f32, 20.0];
    let op = Op::from(Add { n: 2 });
    run(
        &op,
        FloatType::F32,
        &mut [Arg::F32Mut(&mut a), Arg::F32(&b), Arg::SameAs(0)],
        &mut [],
    )
    .unwrap();
    assert_eq!(a, [11.0, 22.0]);
    let mut c = [0.0f32; 3];
    let err = run(
        &op,
        FloatType::F32,
        &mut [Arg::F32(&a), Arg::F32(&b), Arg::F32Mut(&mut c)],
        &mut [],
    )
    .unwrap_err();
    assert_eq!(
        err,
        Error::Length {
            op: "add",
            operand: "c",
            expected: 2,
            got: 3
        }
    );
}
