//! What a first-time user meets (issue 10, "What a first-time user hit"): a device with no
//! plugin built, the same device on every `rt.device`, allocating ops, one shape rule,
//! shapes in the caller's rank, messages in the caller's terms, error categories that
//! survive the ABI.

use neurokern::op::MatMul;
use neurokern::{Backend, ElemType, Error, FloatType, OpKind, Runtime, Status};

fn rt() -> Runtime {
    // No plugin file anywhere: only the built-in device.
    Runtime::builder().only_explicit().build()
}

#[test]
fn a_runtime_without_plugins_has_the_builtin_cpu_device() {
    let rt = rt();
    let dev = rt
        .device("cpu")
        .expect("`cpu` falls back to the built-in device");
    assert_eq!(dev.backend_name(), neurokern::BUILTIN);
    assert!(rt.device(neurokern::BUILTIN).unwrap().same_device(&dev));
    assert!(rt.default_device().unwrap().same_device(&dev));
    assert_eq!(rt.devices().len(), 1);
    assert!(rt.rejected().is_empty());
    // Without importing the trait.
    assert!(neurokern::Device::supports(
        &dev,
        OpKind::MatMul,
        FloatType::F16
    ));
}

#[test]
fn device_returns_the_same_device_and_devices_does_not_reopen() {
    let rt = rt();
    let a = rt.device("cpu").unwrap();
    let b = rt.device("cpu").unwrap();
    assert!(a.same_device(&b), "{} vs {}", a.label(), b.label());
    let x = a.upload(&[2], &[1.0f32, -1.0]).unwrap();
    // A tensor of one call's device fits the next call's.
    let y = b.gelu(&x).unwrap();
    assert_eq!(y.shape(), &[2]);
    let first: Vec<String> = rt.devices().iter().map(|d| d.label().to_string()).collect();
    let again: Vec<String> = rt.devices().iter().map(|d| d.label().to_string()).collect();
    assert_eq!(first, again);
    let _ = rt.rejected();
    assert_eq!(rt.devices()[0].label(), a.label());
}

#[test]
fn allocating_forms_and_rowwise_leading_dims() {
    let rt = rt();
    let dev = rt.device("cpu").unwrap();
    // (2,2,3)·(3,1): leading dims are rows; the result keeps them.
    let a = dev
        .upload(
            &[2, 2, 3],
            &[
                1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0,
            ],
        )
        .unwrap();
    let w = dev.upload(&[3, 1], &[1.0f32, 1.0, 1.0]).unwrap();
    let c = dev.matmul(&a, &w).unwrap();
    assert_eq!(c.shape(), &[2, 2, 1]);
    assert_eq!(c.download::<f32>().unwrap(), vec![6.0, 15.0, 1.0, 1.0]);
    // cross_entropy_loss_grad: (B,S,V) log-probabilities with (B,S) targets.
    let logp = dev.upload(&[2, 2, 3], &[-1.0986123f32; 12]).unwrap();
    let target = dev.upload(&[2, 2], &[0i32, 1, 2, -1]).unwrap();
    let (grad, loss) = dev.cross_entropy_loss_grad(&logp, &target).unwrap();
    assert_eq!(grad.shape(), &[2, 2, 3]);
    assert_eq!(loss.shape(), &[2, 2]);
    // add_bias and reduce_sum_01 on 4 dims, like softmax and gelu.
    let x = dev.upload(&[1, 2, 2, 2], &[1.0f32; 8]).unwrap();
    let bias = dev.upload(&[2], &[1.0f32, 2.0]).unwrap();
    let y = dev.add_bias(&x, &bias).unwrap();
    assert_eq!(y.download::<f32>().unwrap(), [2.0, 3.0].repeat(4));
    let s = dev.reduce_sum_01(&y).unwrap();
    assert_eq!(s.download::<f32>().unwrap(), vec![8.0, 12.0]);
    // Index tensors of any shape.
    let table = dev
        .upload(&[3, 2], &[0.0f32, 0.5, 1.0, 1.5, 2.0, 2.5])
        .unwrap();
    let idx = dev.upload(&[2, 1, 2], &[0i32, 1, 2, 0]).unwrap();
    let e = dev.embedding_lookup(&idx, &table).unwrap();
    assert_eq!(e.shape(), &[2, 1, 2, 2]);
    let ids = dev.dynamic_token_assignment(&e, &table).unwrap();
    assert_eq!(ids.shape(), &[2, 1, 2]);
    assert_eq!(ids.elem(), ElemType::I32);
}

#[test]
fn shape_errors_show_the_callers_shapes() {
    let rt = rt();
    let dev = rt.device("cpu").unwrap();
    let a = dev.upload(&[2, 3], &[0.0f32; 6]).unwrap();
    let w = dev.upload(&[3, 2], &[0.0f32; 6]).unwrap();
    let mut c = dev.zeros(ElemType::F32, &[2, 3]).unwrap();
    let err = dev.matmul_into(&a, &w, &mut c).unwrap_err().to_string();
    assert!(
        err.contains("has shape [2, 3], expected [2, 2]"),
        "the expected shape is in the caller's rank: {err}"
    );
}

#[test]
fn messages_name_only_what_the_caller_passed() {
    let rt = rt();
    let dev = rt.device("cpu").unwrap();
    let x = dev.upload(&[2, 2], &[1.0f32, 2.0, 3.0, 4.0]).unwrap();
    let d_y = dev.upload(&[2, 2], &[1.0f32; 4]).unwrap();
    let mut d_x = dev.zeros(ElemType::F32, &[2, 2]).unwrap();
    let mut d_gamma = dev.zeros(ElemType::F32, &[2]).unwrap();
    let mut d_beta = dev.zeros(ElemType::F32, &[2]).unwrap();
    let err = dev
        .layer_norm_backward_into(
            &d_y,
            &x,
            None,
            &mut d_x,
            Some(&mut d_gamma),
            Some(&mut d_beta),
            1e-5,
        )
        .unwrap_err();
    assert!(matches!(err, Error::Usage { .. }), "{err}");
    assert!(!err.to_string().contains("descriptor"), "{err}");
    // 46341 × 46341 similarities do not fit i32: said in terms of act and prototypes.
    let act = dev.zeros(ElemType::F32, &[46_341, 0]).unwrap();
    let proto = dev.zeros(ElemType::F32, &[46_341, 0]).unwrap();
    let err = dev.dynamic_token_assignment(&act, &proto).unwrap_err();
    assert!(!err.to_string().contains("scores"), "{err}");
    assert!(err.to_string().contains("prototypes"), "{err}");
}

#[test]
fn a_wrong_byte_count_crosses_the_abi_as_an_invalid_argument() {
    let rt = rt();
    let dev = rt.device("cpu").unwrap();
    let b = dev.alloc(ElemType::F32, 4).unwrap();
    let err = dev.write(&b, &[0u8; 3]).unwrap_err();
    match err {
        Error::Plugin { status, .. } => assert_eq!(status, Status::INVALID_ARGUMENT),
        e => panic!("{e}"),
    }
    // The lower-level API with the re-exported descriptors, no second crate.
    let op: neurokern::Op = MatMul {
        b: 1,
        m: 1,
        k: 1,
        n: 1,
    }
    .into();
    let x = dev.alloc(ElemType::F32, 1).unwrap();
    let y = dev.alloc(ElemType::F32, 1).unwrap();
    let z = dev.alloc(ElemType::F32, 1).unwrap();
    dev.run(&op, FloatType::F32, &[Some(&x), Some(&y), Some(&z)])
        .unwrap();
}

#[test]
fn counts_are_in_words() {
    let rt = rt();
    let err = rt.device("opencl").unwrap_err().to_string();
    assert!(err.contains("builtin (1 device)"), "{err}");
    assert!(!err.contains("1 devices"), "{err}");
}
