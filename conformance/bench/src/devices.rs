//! Opening the devices to measure, by backend name or plugin file.

use neurokern::Runtime;
use neurokern_backend_cpu::CpuBackend;
use neurokern_gpu::sim::{SimBackend, SimDevice};

use crate::cli::PluginArg;
use crate::subject::{bench, Subject};

/// The in-process reference's name.
pub const REFERENCE: &str = "reference";
/// The in-process simulated GPU's name.
pub const SIM: &str = "sim";
/// Every device: the in-process ones and every discovered plugin device.
pub const ALL: &str = "all";

/// The devices opened, and what `all` found but could not use.
#[derive(Default)]
pub struct Opened {
    /// The devices, in the order named.
    pub subjects: Vec<Box<dyn Subject>>,
    /// `(what, why)` for every plugin file or device the host rejected.
    pub skipped: Vec<(String, String)>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let labels: Vec<&str> = self.subjects.iter().map(|s| s.label()).collect();
        f.debug_struct("Opened")
            .field("subjects", &labels)
            .field("skipped", &self.skipped)
            .finish()
    }
}

const IN_PROCESS: &str = "in process";

fn in_process(name: &str) -> Option<Box<dyn Subject>> {
    match name {
        REFERENCE => Some(bench(REFERENCE, IN_PROCESS, CpuBackend::new())),
        SIM => Some(bench(SIM, IN_PROCESS, SimBackend::new(SimDevice::new()))),
        _ => None,
    }
}

/// Opens `names` (see `--backend`) and `plugins` (see `--plugin`), in that order. A name
/// that opens no device is an error naming what was found; `all` skips (and lists) what
/// cannot run.
pub fn open(names: &[String], plugins: &[PluginArg]) -> Result<Opened, String> {
    let mut out = Opened::default();
    // Discovery loads every plugin it finds: only when a name needs it.
    let rt = std::cell::OnceCell::new();
    let runtime = || rt.get_or_init(Runtime::discover);
    for name in names {
        if name == ALL {
            for n in [REFERENCE, SIM] {
                out.subjects.extend(in_process(n));
            }
            let r = runtime();
            out.skipped.extend(r.rejected());
            for dev in r.devices() {
                // The built-in device is the reference again, through the ABI.
                if dev.backend_name() == neurokern::BUILTIN {
                    continue;
                }
                let label = device_label(dev.backend_name(), dev.index());
                let origin = dev.plugin().path().display().to_string();
                out.subjects.push(bench(&label, &origin, dev));
            }
        } else if let Some(s) = in_process(name) {
            out.subjects.push(s);
        } else {
            let dev = runtime()
                .device(name)
                .map_err(|e| format!("backend `{name}`: {e}"))?;
            let origin = dev.plugin().path().display().to_string();
            out.subjects.push(bench(name, &origin, dev));
        }
    }
    for (k, p) in plugins.iter().enumerate() {
        let rt =
            Runtime::load(&p.path).map_err(|e| format!("--plugin {}: {e}", p.path.display()))?;
        let plugin = rt
            .plugins()
            .first()
            .cloned()
            .ok_or_else(|| format!("--plugin {}: no plugin loaded", p.path.display()))?;
        let dev = rt
            .device(plugin.name())
            .map_err(|e| format!("--plugin {}: {e}", p.path.display()))?;
        let label = p
            .label
            .clone()
            .unwrap_or_else(|| format!("{}@{}", plugin.name(), k + 1));
        out.subjects
            .push(bench(&label, &p.path.display().to_string(), dev));
    }
    let mut seen = std::collections::HashSet::new();
    for s in &out.subjects {
        if !seen.insert(s.label().to_string()) {
            return Err(format!(
                "device `{}` is named twice; give `--plugin` files distinct labels (LABEL=PATH)",
                s.label()
            ));
        }
    }
    if out.subjects.is_empty() {
        return Err("no device selected".into());
    }
    Ok(out)
}

/// `"opencl"` for device 0 of a plugin, `"opencl:1"` for the next.
fn device_label(backend: &str, index: usize) -> String {
    if index == 0 {
        backend.to_string()
    } else {
        format!("{backend}:{index}")
    }
}
