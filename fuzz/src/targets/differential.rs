//! The same call on a plugin loaded through the host and on the in-process reference
//! gives the same result within the conformance suite's bounds, or the same error kind.
//!
//! The plugin is the CPU plugin (the reference behind the C ABI), built by
//! `cargo xtask fuzz` into the main workspace's `target/release`; its results must
//! moreover be the reference's bits (NaN payloads aside). `NEUROKERN_FUZZ_PLUGIN` names
//! another plugin file to attack instead (e.g. the OpenCL plugin), held to the bounds.

use std::sync::OnceLock;

use neurokern::{Device, Runtime};
use neurokern_conformance::cases::Case;
use neurokern_conformance::data::HostData;
use neurokern_conformance::run::{compare, execute, prepare};

use crate::{args, dtype, op, run_reference, same_bits, Data};

/// The device under test, and whether it is the CPU plugin (held to bit identity).
fn device() -> &'static (Device, bool) {
    static DEVICE: OnceLock<(Device, bool)> = OnceLock::new();
    DEVICE.get_or_init(|| {
        let other = std::env::var_os("NEUROKERN_FUZZ_PLUGIN").map(std::path::PathBuf::from);
        let cpu = other.is_none();
        let path = other.unwrap_or_else(|| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release");
            dir.join(neurokern::dev::plugin_file_name("cpu"))
        });
        // A driver may install its own crash handlers when a device opens (PoCL does):
        // put the harness's back, so that a crash still saves the input.
        let dev = crate::artifact::keeping_signal_handlers(|| {
            let rt = Runtime::load(&path)
                .unwrap_or_else(|e| panic!("cannot load {}: {e}", path.display()));
            // A device of the file, never the built-in CPU device the runtime adds after it.
            rt.devices()
                .into_iter()
                .find(|d| d.plugin().name() != neurokern::BUILTIN)
                .unwrap_or_else(|| panic!("{} has no device that opens", path.display()))
        });
        (dev, cpu)
    })
}

/// One input.
pub fn run(bytes: &[u8]) {
    let mut u = arbitrary::Unstructured::new(bytes);
    let (Ok(op), Ok(dtype)) = (op(&mut u), dtype(&mut u)) else {
        return;
    };
    let Ok(data) = args(&mut u, &op, dtype) else {
        return;
    };
    let (dev, cpu) = device();

    let mut expected = data.clone();
    let want = run_reference(&op, dtype, &mut expected);

    // A valid call: judged by the suite, like any conformance case, on this data.
    if want.is_ok() {
        let Ok(operands) = op.operands() else {
            panic!("{}: a call that ran has invalid operands", op.name())
        };
        let mut alias = None;
        let slots: Vec<Option<HostData>> = data
            .iter()
            .zip(operands.iter())
            .enumerate()
            .map(|(i, (d, spec))| {
                // Only an enabled output names a real buffer with `SameAs` (the reference
                // accepted the call, so it is the op's one in-place pair); on a disabled
                // operand it names none.
                if let (Data::SameAs(j), true) = (d, spec.present) {
                    alias = Some((i, *j));
                }
                if !spec.present || spec.role == neurokern_core::Role::Output {
                    return None;
                }
                match d {
                    Data::F32(v) => Some(HostData::F32(v.clone())),
                    Data::F16(v) => Some(HostData::F16(v.clone())),
                    Data::I32(v) => Some(HostData::I32(v.clone())),
                    Data::Absent | Data::SameAs(_) => None,
                }
            })
            .collect();
        let case = Case::custom(format!("fuzz/{}", op.name()), op, dtype, slots, alias);
        let prepared = prepare(&case).unwrap_or_else(|e| panic!("{}: {e}", op.name()));
        let got = execute(dev, &prepared, 0).unwrap_or_else(|e| {
            panic!(
                "{}: the reference ran the call, the plugin said {e}",
                op.name()
            )
        });
        let verdict = compare(&prepared, &got, false);
        assert_eq!(
            verdict.failed,
            0,
            "{}: {} elements outside the conformance bounds: {:?}",
            op.name(),
            verdict.failed,
            verdict.failures
        );
        if *cpu {
            for (i, (e, g)) in expected.iter().zip(&got).enumerate() {
                let g = match g {
                    Some(HostData::F32(v)) => Data::F32(v.clone()),
                    Some(HostData::F16(v)) => Data::F16(v.clone()),
                    Some(HostData::I32(v)) => Data::I32(v.clone()),
                    None => continue,
                };
                let e = match e {
                    Data::SameAs(j) => &expected[*j],
                    other => other,
                };
                assert!(
                    same_bits(e, &g),
                    "{}: slot {i} differs from the reference's bits",
                    op.name()
                );
            }
        }
        return;
    }

    // An invalid call: the device must reject it with the same kind of error. The same
    // slots as buffers; `SameAs` passes the named slot's buffer again.
    let mut bufs = Vec::with_capacity(data.len());
    for d in &data {
        bufs.push(match crate::shape_of(d) {
            Some((elem, len)) => {
                let b =
                    neurokern::Backend::alloc(dev, elem, len).expect("allocating a small buffer");
                neurokern::Backend::write(dev, &b, &crate::bytes_of(d)).expect("uploading");
                Some(b)
            }
            None => None,
        });
    }
    let slots: Vec<Option<&neurokern::Buffer>> = data
        .iter()
        .enumerate()
        .map(|(i, d)| match d {
            Data::SameAs(j) => bufs.get(*j).and_then(Option::as_ref),
            _ => bufs[i].as_ref(),
        })
        .collect();
    let got = neurokern::Backend::run(dev, &op, dtype, &slots);
    let (Err(e), Err(g)) = (&want, &got) else {
        panic!("{}: reference {want:?}, plugin {got:?}", op.name())
    };
    let kind = match g {
        neurokern::Error::Invalid(c) => Some(c.kind_name()),
        _ => None,
    };
    assert_eq!(
        Some(e.kind_name()),
        kind,
        "{}: reference says {e}, plugin says {g}",
        op.name()
    );
}
