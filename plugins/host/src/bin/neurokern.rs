//! `neurokern devices [PATH…]`: every plugin found, its devices and capabilities, and why
//! any candidate was rejected or cannot run (like `clinfo`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use neurokern::{FloatType, OpKind, Runtime};

const USAGE: &str = "usage: neurokern devices [PLUGIN_FILE_OR_DIR…]\n\
    Lists every neurokern plugin found (explicit paths, NEUROKERN_PLUGIN_PATH, the \
    executable's directory, the cargo target directory), its devices and capabilities, and \
    why any candidate was rejected or cannot run.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("devices") => devices(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::FAILURE
        }
    }
}

fn devices(paths: &[String]) -> ExitCode {
    let mut b = Runtime::builder();
    for p in paths {
        b = b.path(p);
    }
    let rt = b.build();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "neurokern host ABI {}.{}; {} candidate file(s), {} plugin(s) loaded",
        neurokern::ABI_MAJOR,
        neurokern::ABI_MINOR,
        rt.candidates().len(),
        rt.plugins().len()
    );
    for dir in rt.searched() {
        let _ = writeln!(out, "searched {} [{}]", dir.0.display(), dir.1);
    }
    for c in rt.candidates() {
        out.push('\n');
        let _ = writeln!(out, "{} [{}]", c.path.display(), c.source);
        let plugin = match &c.outcome {
            Ok(p) => p,
            Err(e) => {
                let _ = writeln!(out, "  rejected: {e}");
                continue;
            }
        };
        let _ = writeln!(
            out,
            "  plugin {} {} (ABI {}.{}; {})",
            plugin.name(),
            plugin.version(),
            plugin.abi().0,
            plugin.abi().1,
            plugin.build_info()
        );
        if let Err(why) = plugin.probe() {
            let _ = writeln!(out, "  cannot run here: {why}");
            continue;
        }
        if plugin.device_names().is_empty() {
            let _ = writeln!(out, "  no devices");
        }
        for (i, name) in plugin.device_names().iter().enumerate() {
            match plugin.open(i) {
                Ok(dev) => {
                    let caps = dev.capabilities();
                    let all = OpKind::ALL.len() * FloatType::ALL.len();
                    let _ = writeln!(
                        out,
                        "  device {i}: {name} — {} of {all} op×dtype pairs",
                        caps.len()
                    );
                    for t in FloatType::ALL {
                        let missing: Vec<&str> = OpKind::ALL
                            .iter()
                            .filter(|&&k| !caps.contains(&(k, t)))
                            .map(|k| k.name())
                            .collect();
                        let n = OpKind::ALL.len() - missing.len();
                        if missing.is_empty() {
                            let _ = writeln!(out, "    {t}: all {n} ops");
                        } else {
                            let _ =
                                writeln!(out, "    {t}: {n} ops; missing: {}", missing.join(", "));
                        }
                    }
                }
                Err(e) => {
                    let _ = writeln!(out, "  device {i}: {name} — cannot open: {e}");
                }
            }
        }
    }
    if let Some(b) = rt.plugin(neurokern::BUILTIN) {
        let _ = writeln!(
            out,
            "\n{} [built in]\n  plugin {} {} (ABI {}.{}; {}): device 0: {} — the reference, \
             in process; `cpu` names it when no CPU plugin is loaded",
            b.path().display(),
            b.name(),
            b.version(),
            b.abi().0,
            b.abi().1,
            b.build_info(),
            b.device_names().first().map_or("-", String::as_str)
        );
    }
    if rt.candidates().is_empty() {
        let _ = writeln!(
            out,
            "\nno plugin file found: build one in the neurokern workspace (cargo build --release \
             -p neurokern-plugin-cpu, or -opencl), pass its path, set {}, or add the plugin \
             crate to your [dependencies] (found in target/<profile>/deps)",
            neurokern::PLUGIN_PATH_ENV
        );
    }
    // Written at once; a closed pipe (`| head`) is not an error worth a panic.
    let _ = std::io::stdout().write_all(out.as_bytes());
    ExitCode::SUCCESS
}
