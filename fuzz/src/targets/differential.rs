//! The same call on a plugin loaded through the host and on the in-process reference
//! gives the same result or the same error kind. The plugin is the CPU plugin (the
//! reference behind the C ABI), built by `cargo xtask fuzz` into the main workspace's
//! `target/release`; `NEUROKERN_FUZZ_PLUGIN` names another plugin file to attack instead,
//! whose results must then equal the reference's up to NaN payloads too (a GPU backend
//! is held to its conformance bounds by the conformance suite; here every valid call of
//! the CPU plugin must be bit-identical).

use std::sync::OnceLock;

use crate::{args, bytes_of, dtype, op, run_reference, same_bits, shape_of, Data};
use neurokern::{Backend, Device, DeviceBuffer, Runtime};

fn device() -> &'static Device {
    static DEVICE: OnceLock<Device> = OnceLock::new();
    DEVICE.get_or_init(|| {
        let path = std::env::var_os("NEUROKERN_FUZZ_PLUGIN")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                let dir =
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release");
                dir.join(neurokern::dev::plugin_file_name("cpu"))
            });
        let rt =
            Runtime::load(&path).unwrap_or_else(|e| panic!("cannot load {}: {e}", path.display()));
        rt.devices()
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{} has no device that opens", path.display()))
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
    let dev = device();

    let mut expected = data.clone();
    let want = run_reference(&op, dtype, &mut expected);

    // The same slots on the device: one buffer per slot with data; `SameAs` passes the
    // named slot's buffer again (an in-place output).
    let mut bufs = Vec::with_capacity(data.len());
    for d in &data {
        bufs.push(match shape_of(d) {
            Some((elem, len)) => {
                let b = dev.alloc(elem, len).expect("allocating a small buffer");
                dev.write(&b, &bytes_of(d)).expect("uploading");
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
    let got = dev.run(&op, dtype, &slots);
    match (&want, &got) {
        (Ok(()), Ok(())) => {
            for (i, (e, b)) in expected.iter().zip(&bufs).enumerate() {
                let (Some(b), Some((elem, _))) = (b, shape_of(e)) else {
                    continue;
                };
                let mut raw = vec![0u8; b.len() * elem.size()];
                dev.read(b, &mut raw).expect("downloading");
                let got = data_from(elem, &raw);
                assert!(
                    same_bits(e, &got),
                    "{}: slot {i} differs from the reference",
                    op.name()
                );
            }
        }
        (Err(e), Err(g)) => {
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
        _ => panic!("{}: reference {want:?}, plugin {got:?}", op.name()),
    }
}

fn data_from(elem: neurokern::ElemType, raw: &[u8]) -> Data {
    use neurokern::ElemType;
    match elem {
        ElemType::F32 => Data::F32(
            raw.chunks_exact(4)
                .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        ElemType::F16 => Data::F16(
            raw.chunks_exact(2)
                .map(|c| neurokern::f16::from_bits(u16::from_ne_bytes([c[0], c[1]])))
                .collect(),
        ),
        ElemType::I32 => Data::I32(
            raw.chunks_exact(4)
                .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
    }
}
