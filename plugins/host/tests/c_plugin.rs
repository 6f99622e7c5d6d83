//! A plugin written in C against the generated header (`tests/fixtures/c_plugin`), built
//! with the system C compiler and loaded by the host: the header and the ABI work from
//! another language. Skipped (with a message) where no C compiler is installed.

mod common;

use std::path::PathBuf;
use std::process::Command;

use neurokern::{ElemType, Error, Runtime};

fn build_c_plugin() -> Option<PathBuf> {
    let cc = ["cc", "gcc", "clang"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("tests/fixtures/c_plugin/c_plugin.c");
    let include = root.join("../abi/include");
    let out = common::temp_dir("c-plugin").join(neurokern::dev::plugin_file_name("c_example"));
    let status = Command::new(cc)
        .args([
            "-std=c11", "-Wall", "-Werror", "-shared", "-fPIC", "-O1", "-I",
        ])
        .arg(&include)
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("run the C compiler");
    assert!(status.success(), "the C plugin does not compile");
    Some(out)
}

#[test]
fn a_plugin_written_in_c_loads_and_runs() {
    let Some(path) = build_c_plugin() else {
        eprintln!("no C compiler found: skipping the C plugin test");
        return;
    };
    let rt = Runtime::load(&path).unwrap();
    let p = rt.plugin("c-example").unwrap();
    assert_eq!(p.version(), "0.1.0");
    assert_eq!(p.build_info(), "written in C");
    assert_eq!(p.device_names(), ["c-device"]);
    let dev = rt.device("c-example").unwrap();
    assert_eq!(
        dev.capabilities(),
        [(neurokern::OpKind::Add, neurokern::FloatType::F32)]
    );
    let a = dev.upload(&[4], &[1.0f32, 2.0, 3.0, 4.0]).unwrap();
    let b = dev
        .upload(&[4], &[0.5f32, 0.25, -3.0, f32::INFINITY])
        .unwrap();
    let mut c = dev.zeros(ElemType::F32, &[4]).unwrap();
    dev.add_into(&a, &b, &mut c).unwrap();
    assert_eq!(
        c.download::<f32>().unwrap(),
        vec![1.5, 2.25, 0.0, f32::INFINITY]
    );
    // What the device does not support is refused by the host before the call.
    let mut y = dev.zeros(ElemType::F32, &[4]).unwrap();
    let err = dev.gelu_into(&a, &mut y).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid(neurokern_core::Error::Unsupported { op: "gelu", .. })
        ),
        "{err}"
    );
    // A plugin error message crosses the ABI.
    let err = a.write(&[1.0f32; 4]).and_then(|_| {
        use neurokern::Backend;
        dev.write(a.buffer(), &[0u8; 3])
    });
    match err.unwrap_err() {
        Error::Plugin {
            plugin,
            entry,
            status,
            message,
            ..
        } => {
            assert_eq!(plugin, "c-example");
            assert_eq!(entry, "buffer_write");
            assert_eq!(status, neurokern::Status(6));
            assert_eq!(message, "wrong byte count");
        }
        e => panic!("expected a plugin error, got {e}"),
    }
}
