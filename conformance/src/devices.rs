//! The devices a run is judged on.
//!
//! The suite is generic over [`neurokern_core::Backend`]; [`BackendDevice`] turns any
//! backend into a [`DeviceUnderTest`] (an object-safe view, so devices of different
//! backends share one list). [`discover`] lists every device this build can reach:
//!
//! * `reference`: [`neurokern_backend_cpu::CpuBackend`] in process, required to be
//!   bit-identical to the reference (it *is* the reference, behind the `Backend` trait);
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
    /// A human-readable device name.
    fn name(&self) -> String;
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
            inner,
            bit_exact,
        }
    }
}

impl<B: Backend> DeviceUnderTest for BackendDevice<B> {
    fn backend(&self) -> &str {
        &self.backend
    }
    fn name(&self) -> String {
        format!("{}: {}", self.backend, self.inner.device_name())
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

/// Every device this build can reach: the in-process reference, then the plugin host's.
pub fn discover() -> Discovery {
    let mut d = Discovery::default();
    d.devices.push(Box::new(BackendDevice::new(
        "reference",
        CpuBackend::new(),
        true,
    )));
    host::discover(&mut d);
    d
}

/// The devices of the plugin host (crate `neurokern`): every plugin it discovers, each of
/// its devices wrapped in a [`BackendDevice`] (the host's `Device` implements
/// [`Backend`]). The CPU plugin is `bit_exact`.
///
/// Not connected yet: the plugin host is not part of this build. Until it is, the CPU
/// plugin is reported as skipped with that reason (and fails the run when
/// `NEUROKERN_REQUIRE` names it). Connecting it is this function's body only:
///
/// ```text
/// let rt = neurokern::Runtime::discover();
/// for (plugin, why) in rt.rejected() { d.skipped.push(Skipped { backend: plugin, reason: why }) }
/// for dev in rt.devices() {
///     let name = dev.backend_name();
///     d.devices.push(Box::new(BackendDevice::new(name, dev, name == "cpu")));
/// }
/// ```
pub mod host {
    use super::{Discovery, Skipped};

    /// Adds the plugin host's devices to `d` (see the module documentation).
    pub fn discover(d: &mut Discovery) {
        d.skipped.push(Skipped {
            backend: "cpu".to_string(),
            reason: "the plugin host (crate `neurokern`) is not connected to the suite yet, \
                     so no plugin (the CPU plugin included) can be loaded"
                .to_string(),
        });
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
