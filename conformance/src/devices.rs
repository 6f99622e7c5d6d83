//! The devices a run is judged on.
//!
//! The suite is generic over [`neurokern_core::Backend`]; [`BackendDevice`] turns any
//! backend into a [`DeviceUnderTest`] (an object-safe view, so devices of different
//! backends share one list). [`discover`] lists every device this build can reach:
//!
//! * `reference`: [`neurokern_backend_cpu::CpuBackend`] in process, required to be
//!   bit-identical to the reference (it *is* the reference, behind the `Backend` trait);
//! * `sim`: the simulated GPU device of `neurokern-gpu` in process: the shared lowering
//!   and skeleton of every GPU backend over primitives written in plain Rust, so a
//!   lowering bug shows here on every machine, without a GPU;
//! * the plugin host's devices ([`host`]): every plugin found at run time, the CPU plugin
//!   among them (bit-identical to the in-process reference: that proves the C ABI).

use neurokern_backend_cpu::CpuBackend;
use neurokern_core::{Backend, FloatType, OpKind};

use crate::data::HostData;
use crate::run::{execute, Prepared};

/// A device the suite runs cases on.
pub trait DeviceUnderTest {
    /// The backend's short name (`reference`, `cpu`, `opencl`, …): what `--backend` and
    /// `NEUROKERN_REQUIRE` name.
    fn backend(&self) -> &str;
    /// A short name unique in the run (`reference`, `cpu:0`, `opencl:1`): the device
    /// column of the report.
    fn id(&self) -> String {
        self.backend().to_string()
    }
    /// A human-readable device name.
    fn name(&self) -> String;
    /// The API whose device error model judges this device (from the backend name: the
    /// plugin ABI carries no capabilities; see [`crate::bounds::Api`]).
    fn api(&self) -> crate::bounds::Api {
        crate::bounds::Api::for_backend(self.backend())
    }
    /// True when the results must be the reference's bits exactly (the reference itself
    /// and the CPU plugin).
    fn bit_exact(&self) -> bool;
    /// Whether the device implements `kind` in `dtype`.
    fn supports(&self, kind: OpKind, dtype: FloatType) -> bool;
    /// Runs a prepared case (see [`execute`]).
    fn execute(&self, p: &Prepared, poison: u32) -> Result<Vec<Option<HostData>>, String>;
}

/// Any [`Backend`] as a device under test.
#[derive(Debug)]
pub struct BackendDevice<B> {
    /// The backend's short name.
    pub backend: String,
    /// The device's short name in reports (the backend's name unless set).
    pub id: String,
    /// The backend.
    pub inner: B,
    /// Whether results must be bit-identical to the reference.
    pub bit_exact: bool,
}

impl<B: Backend> BackendDevice<B> {
    /// Wraps `inner` under the backend name `backend`.
    pub fn new(backend: &str, inner: B, bit_exact: bool) -> Self {
        BackendDevice {
            backend: backend.to_string(),
            id: backend.to_string(),
            inner,
            bit_exact,
        }
    }

    /// Sets the device's short name in reports (e.g. `opencl:1`).
    pub fn with_id(mut self, id: String) -> Self {
        self.id = id;
        self
    }
}

impl<B: Backend> DeviceUnderTest for BackendDevice<B> {
    fn backend(&self) -> &str {
        &self.backend
    }
    fn id(&self) -> String {
        self.id.clone()
    }
    fn name(&self) -> String {
        self.inner.device_name().to_string()
    }
    fn bit_exact(&self) -> bool {
        self.bit_exact
    }
    fn supports(&self, kind: OpKind, dtype: FloatType) -> bool {
        self.inner.supports(kind, dtype)
    }
    fn execute(&self, p: &Prepared, poison: u32) -> Result<Vec<Option<HostData>>, String> {
        execute(&self.inner, p, poison)
    }
}

/// A device that was found but cannot run, and why.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Skipped {
    /// The backend's short name.
    pub backend: String,
    /// Why it cannot run here.
    pub reason: String,
}

/// What [`discover`] found.
#[derive(Default)]
pub struct Discovery {
    /// Devices that can run.
    pub devices: Vec<Box<dyn DeviceUnderTest>>,
    /// Devices (or whole backends) that cannot, with the reason.
    pub skipped: Vec<Skipped>,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.devices.iter().map(|d| d.name()).collect();
        f.debug_struct("Discovery")
            .field("devices", &names)
            .field("skipped", &self.skipped)
            .finish()
    }
}

/// The simulated GPU device's backend name.
pub const SIM: &str = "sim";

/// Every device this build can reach: the in-process reference and simulated device, then
/// the plugin host's.
pub fn discover() -> Discovery {
    let mut d = Discovery::default();
    d.devices.push(Box::new(BackendDevice::new(
        "reference",
        CpuBackend::new(),
        true,
    )));
    d.devices.push(Box::new(BackendDevice::new(
        SIM,
        neurokern_gpu::sim::SimBackend::default(),
        false,
    )));
    host::discover(&mut d);
    d
}

/// The devices of the plugin host (crate `neurokern`): every plugin it discovers (explicit
/// `NEUROKERN_PLUGIN_PATH` entries, the executable's directory, the cargo target
/// directory), each opened device wrapped in a [`BackendDevice`] (the host's `Device`
/// implements [`Backend`]). The CPU plugin must be bit-identical to the in-process
/// reference: that proves the C ABI carries every op faithfully.
pub mod host {
    use super::{BackendDevice, Discovery, Skipped};

    /// The CPU plugin's backend name.
    pub const CPU: &str = "cpu";

    /// Adds the plugin host's devices to `d`, and every plugin or file it rejected (with
    /// the reason) to `d.skipped`.
    pub fn discover(d: &mut Discovery) {
        // The built-in device is the CPU plugin's code behind the same ABI shims, minus the
        // file: the CPU plugin's bit-identity run covers it.
        let rt = neurokern::Runtime::builder().builtin(false).build();
        for (what, why) in rt.rejected() {
            d.skipped.push(Skipped {
                backend: what,
                reason: why,
            });
        }
        for dev in rt.devices() {
            let backend = dev.backend_name().to_string();
            let exact = backend == CPU;
            let id = format!("{backend}:{}", dev.index());
            d.devices.push(Box::new(
                BackendDevice::new(&backend, dev, exact).with_id(id),
            ));
        }
        let cpu_seen = d.devices.iter().any(|x| x.backend() == CPU)
            || d.skipped.iter().any(|s| s.backend.starts_with(CPU));
        if !cpu_seen {
            d.skipped.push(Skipped {
                backend: CPU.to_string(),
                reason: format!(
                    "the CPU plugin ({}) was not found next to the executable, in its cargo \
                     target directory or on NEUROKERN_PLUGIN_PATH: build it with \
                     `cargo build -p neurokern-plugin-cpu` (`cargo xtask conformance` does)",
                    neurokern::dev::plugin_file_name(CPU)
                ),
            });
        }
    }
}

/// The backends `NEUROKERN_REQUIRE` names (comma separated, case-insensitive).
pub fn required() -> Vec<String> {
    std::env::var("NEUROKERN_REQUIRE")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}
