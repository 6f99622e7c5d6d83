//! Tests that need no GPU: the sources agree with the kernel table, and a machine
//! without the driver gets a precise error, never a panic.

use neurokern_gpu::kernel::{Access, ArgKind, ElemClass, SIGNATURES};
use neurokern_kernels::cuda as src;

use super::*;

/// The parameter list of `extern "C" __global__ void name(...)` in `text`.
fn params_of<'a>(text: &'a str, name: &str) -> Option<Vec<&'a str>> {
    let start = text.find(&format!("__global__ void {name}("))?;
    let open = start + text[start..].find('(')? + 1;
    let close = open + text[open..].find(')')?;
    Some(
        text[open..close]
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect(),
    )
}

/// The C type a parameter of this kind must have in the CUDA sources.
fn c_type(kind: ArgKind) -> String {
    match kind {
        ArgKind::I32 | ArgKind::Flag => "const int".into(),
        ArgKind::F32 => "const float".into(),
        ArgKind::Buf { elem, access, .. } => {
            let t = match elem {
                ElemClass::T => "T",
                ElemClass::F32 => "float",
                ElemClass::I32 => "int",
            };
            match access {
                Access::Read => format!("const {t}*"),
                Access::Write | Access::ReadWrite => format!("{t}*"),
            }
        }
    }
}

#[test]
fn every_table_kernel_is_in_the_sources_with_the_tables_parameters() {
    let text = src::program_source(false);
    for sig in SIGNATURES {
        let params = params_of(&text, sig.name)
            .unwrap_or_else(|| panic!("{} is not defined in kernels/cuda", sig.name));
        assert_eq!(
            params.len(),
            sig.args.len(),
            "{}: parameter count",
            sig.name
        );
        for ((name, kind), p) in sig.args.iter().zip(&params) {
            let ty = c_type(*kind);
            assert!(
                p.starts_with(&format!("{ty} ")),
                "{}: argument `{name}` should be `{ty}`, the source has `{p}`",
                sig.name
            );
        }
    }
}

#[test]
fn the_gemm_kernels_take_the_launchers_parameters() {
    // The launcher (device.rs) passes: M, N, K, A, lda, sa, B, ldb, sb, C, ldc, sc, alpha,
    // beta, use_c, batch.
    let gemm_args = src::GEMM
        .split("#define NK_GEMM_ARGS")
        .nth(1)
        .and_then(|s| s.split("#define NK_GEMM_PASS").next())
        .expect("NK_GEMM_ARGS in gemm.cu");
    let types: Vec<String> = gemm_args
        .replace('\\', " ")
        .split(',')
        .map(|p| {
            let p = p.split_whitespace().collect::<Vec<_>>();
            p[..p.len() - 1].join(" ")
        })
        .collect();
    let want = [
        "const int",
        "const int",
        "const int",
        "const T",
        "const int",
        "const long long",
        "const T",
        "const int",
        "const long long",
        "void",
        "const int",
        "const long long",
        "const float",
        "const float",
        "const int",
        "const int",
    ];
    assert_eq!(types.len(), want.len(), "{types:?}");
    for (t, w) in types.iter().zip(want) {
        assert!(t.starts_with(w), "{t} vs {w}");
    }
}

#[test]
fn without_a_driver_every_entry_point_is_an_error_not_a_panic() {
    if driver_present().is_ok() {
        eprintln!("skipping: a CUDA driver is installed");
        return;
    }
    assert_eq!(
        probe().unwrap_err().to_string(),
        "libcuda.so.1 not found: no NVIDIA driver"
    );
    assert!(matches!(devices(), Err(CudaError::NoDriver)));
    assert!(matches!(open(0), Err(CudaError::NoDriver)));
    assert!(matches!(CudaDevice::new(0), Err(CudaError::NoDriver)));
}

#[test]
fn a_panic_inside_the_fence_is_an_error() {
    let r: Result<(), CudaError> = guard::guard("testing", || panic!("Missing symbol cuFoo"));
    let e = r.unwrap_err();
    assert!(matches!(e, CudaError::Panicked { .. }));
    assert!(e.to_string().contains("Missing symbol cuFoo"), "{e}");
}
