//! The harness, not the times: argument parsing, device selection errors, and a tiny
//! run on the in-process reference that writes both reports. No test asserts a time.

use clap::Parser;
use neurokern_bench::cli::{Dtype, PluginArg};
use neurokern_bench::Cli;
use neurokern_core::FloatType;

fn cli(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("nk-bench").chain(args.iter().copied()))
}

#[test]
fn defaults() {
    let c = cli(&[]).unwrap();
    assert_eq!(c.backend_names(), ["all"]);
    assert_eq!(c.dtypes(), FloatType::ALL.to_vec());
    assert!(c.wanted("anything"));
    assert_eq!(c.anchor_threads, 2);
    assert!(!c.profile && !c.quick);
}

#[test]
fn backends_plugins_and_filters() {
    let c = cli(&[
        "--backend",
        "reference,sim",
        "--backend=opencl:1",
        "--plugin",
        "before=old-build/libneurokern_plugin_opencl.so",
        "--plugin",
        "./libneurokern_plugin_opencl.so",
        "--dtype",
        "f16",
        "--only",
        "matmul",
        "--only",
        "gelu",
        "--profile",
        "--baseline",
        "before",
    ])
    .unwrap();
    assert_eq!(c.backend_names(), ["reference", "sim", "opencl:1"]);
    assert_eq!(
        c.plugins,
        [
            PluginArg {
                label: Some("before".into()),
                path: "old-build/libneurokern_plugin_opencl.so".into()
            },
            PluginArg {
                label: None,
                path: "./libneurokern_plugin_opencl.so".into()
            },
        ]
    );
    assert_eq!(c.dtype, [Dtype::F16]);
    assert_eq!(c.dtypes(), [FloatType::F16]);
    assert!(c.wanted("matmul 4096x128x384") && c.wanted("gelu_backward 4096x384"));
    assert!(!c.wanted("softmax 4096x96"));
    assert_eq!(c.baseline.as_deref(), Some("before"));
    // Plugins alone select no backend by name.
    assert!(cli(&["--plugin", "x.so"])
        .unwrap()
        .backend_names()
        .is_empty());
}

#[test]
fn bad_arguments_are_errors() {
    assert!(cli(&["--dtype", "f64"]).is_err());
    assert!(cli(&["--plugin", "=x.so"]).is_err());
    assert!(cli(&["--plugin", "label="]).is_err());
    assert!(cli(&["--budget-ms", "soon"]).is_err());
    assert!(cli(&["--frobnicate"]).is_err());
}

#[test]
fn device_selection_errors_name_the_problem() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let run = |args: &[&str]| {
        let mut a = args.to_vec();
        // Should one of these run, it runs little.
        a.extend([
            "--out",
            o,
            "--no-anchors",
            "--dtype",
            "f32",
            "--quick",
            "--budget-ms",
            "0",
        ]);
        neurokern_bench::run(&cli(&a).unwrap(), Vec::new()).unwrap_err()
    };
    let e = run(&["--backend", "no-such-backend"]);
    assert!(e.contains("no-such-backend"), "{e}");
    let e = run(&["--backend", "reference,reference"]);
    assert!(e.contains("named twice"), "{e}");
    let e = run(&["--backend", "reference", "--baseline", "sim"]);
    assert!(e.contains("--baseline sim"), "{e}");
    let e = run(&["--backend", "reference", "--only", "no such benchmark"]);
    assert!(e.contains("selects no benchmark"), "{e}");
    let e = run(&["--plugin", "/nonexistent/libneurokern_plugin_x.so"]);
    assert!(e.contains("/nonexistent/libneurokern_plugin_x.so"), "{e}");
}

/// One cheap op on the reference, with an anchor interpreter that does not exist: the
/// run succeeds, says why the anchors did not run, and writes JSON and Markdown.
#[test]
fn tiny_run_on_the_reference() {
    let out = tempfile::tempdir().unwrap();
    let args = [
        "--backend",
        "reference",
        "--only",
        "add 4096x384",
        "--only",
        "transpose 4096x384",
        "--dtype",
        "f32",
        "--quick",
        "--budget-ms",
        "0",
        "--python",
        "/nonexistent/python3",
        "--name",
        "tiny",
        "--out",
        out.path().to_str().unwrap(),
    ];
    let c = cli(&args).unwrap();
    let w = neurokern_bench::run(&c, args.iter().map(|s| s.to_string()).collect()).unwrap();
    assert_eq!(w.json, out.path().join("tiny.json"));

    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&w.json).unwrap()).unwrap();
    assert_eq!(j["baseline"], "reference");
    assert_eq!(j["devices"][0]["label"], "reference");
    // RFC 3339, UTC.
    let date = j["date"].as_str().unwrap();
    assert!(humantime_like(date), "{date}");
    let results = j["results"].as_array().unwrap();
    let names: Vec<&str> = results
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["add 4096x384", "transpose 4096x384"]);
    for r in results {
        assert_eq!(r["dtype"], "f32");
        let cell = &r["cells"][0];
        assert_eq!(cell["status"], "ok", "{cell}");
        assert_eq!(
            cell["stats"]["reps"], 3,
            "--quick: 3 rounds at least, none more at 0 ms"
        );
        assert_eq!(cell["ratio"], 1.0, "the baseline against itself");
        assert!(cell["gbs"].is_number(), "a memory-bound op reports GB/s");
    }
    let anchors = j["anchors"].as_array().unwrap();
    let numpy = anchors.iter().find(|a| a["name"] == "numpy").unwrap();
    assert_eq!(numpy["ran"], false);
    assert!(numpy["detail"]
        .as_str()
        .unwrap()
        .contains("/nonexistent/python3"));
    // The training step is not selected: no JAX anchor, no profile.
    assert!(anchors.iter().all(|a| a["name"] != "jax"));
    assert!(j["profiles"].as_array().unwrap().is_empty());

    let md = std::fs::read_to_string(&w.markdown).unwrap();
    assert!(md.contains("| add 4096x384 | f32 |"), "{md}");
    assert!(md.contains("not run: `/nonexistent/python3`"), "{md}");
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
fn humantime_like(s: &str) -> bool {
    humantime::parse_rfc3339(s).is_ok() && s.ends_with('Z')
}
