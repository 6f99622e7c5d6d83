//! Tuned plans: what `nk-tune` found fastest (and correct) on a device, stored in a cache
//! file and applied when the device is opened.
//!
//! * **Keys.** An entry is valid for one device (platform and device name), one driver
//!   (`CL_DRIVER_VERSION`) and one set of kernel sources ([`kernel_hash`]): a new driver or
//!   changed kernels can move the optimum or break a plan, so such an entry is ignored at
//!   open, with a note on stderr, until the device is tuned again.
//! * **One plan per device.** The GEMM tile is a build-time define of the program, so one
//!   plan serves every shape. The entry keeps each shape class's own best plan and its
//!   measurements, and [`Entry::plan`], the plan applied at open: the winner over all
//!   classes weighted by their share (chosen by the tuner).
//! * **Where.** `NEUROKERN_TUNE_CACHE=PATH` (or `off`), else
//!   `$XDG_CACHE_HOME/neurokern/opencl-tune.json`, else `~/.cache/neurokern/opencl-tune.json`.
//!   Explicit settings win over the cache: `NEUROKERN_OPENCL_GEMM`,
//!   `NEUROKERN_OPENCL_GEMM_LOCAL` and `NEUROKERN_OPENCL_PACK_A` keep their field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::backend::OpenClDevice;
use crate::config::{default_gemm, default_gemm_local, GemmParams, PackA};
use crate::device::DeviceInfo;

/// The cache file's format version; a file of another version is ignored.
pub const FORMAT: u32 = 1;

/// The environment variable naming the cache file (`off` disables it).
pub const CACHE_ENV: &str = "NEUROKERN_TUNE_CACHE";

/// A hash of every OpenCL kernel source (FNV-1a, 64 bits, hex): stable across builds and
/// platforms, changed by any edit of the kernels.
pub fn kernel_hash() -> String {
    use neurokern_kernels::opencl as k;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for src in [
        k::COMMON,
        k::GEMM,
        k::PACK,
        k::ELEMENTWISE,
        k::ROWWISE,
        k::SCATTER,
    ] {
        // The length first, so that moving text between files changes the hash.
        for b in (src.len() as u64)
            .to_le_bytes()
            .iter()
            .chain(src.as_bytes())
        {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// The `A`-packing policy as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackPolicy {
    /// [`PackA::Always`].
    Always,
    /// [`PackA::Never`].
    Never,
    /// [`PackA::Transposed`].
    Transposed,
}

impl From<PackA> for PackPolicy {
    fn from(p: PackA) -> Self {
        match p {
            PackA::Always => PackPolicy::Always,
            PackA::Never => PackPolicy::Never,
            PackA::Transposed => PackPolicy::Transposed,
        }
    }
}

impl From<PackPolicy> for PackA {
    fn from(p: PackPolicy) -> Self {
        match p {
            PackPolicy::Always => PackA::Always,
            PackPolicy::Never => PackA::Never,
            PackPolicy::Transposed => PackA::Transposed,
        }
    }
}

/// Every per-device choice the tuner searches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Plan {
    /// GEMM rows per work-item.
    pub mr: u32,
    /// GEMM vector width.
    pub nv: u32,
    /// GEMM column vectors per work-item.
    pub nr: u32,
    /// GEMM work-group shape (`None`: the implementation's choice).
    pub local: Option<[usize; 2]>,
    /// When `A` is packed.
    pub pack_a: PackPolicy,
    /// Rowwise ops with one work-item per row.
    pub rows_per_item: bool,
}

impl Plan {
    /// The backend's own choice for `info`, environment overrides included.
    pub fn default_for(info: &DeviceInfo) -> Plan {
        let g = default_gemm(info);
        Plan {
            mr: g.mr,
            nv: g.nv,
            nr: g.nr,
            local: default_gemm_local(info),
            pack_a: PackA::from_env().into(),
            rows_per_item: info.is_cpu,
        }
    }

    /// The GEMM tile.
    pub fn gemm(&self) -> GemmParams {
        GemmParams {
            mr: self.mr,
            nv: self.nv,
            nr: self.nr,
        }
    }

    /// `device` with every choice of this plan.
    pub fn apply(&self, device: OpenClDevice) -> OpenClDevice {
        device
            .with_gemm_params(self.gemm())
            .with_gemm_local(self.local)
            .with_pack_a(self.pack_a.into())
            .with_rows_per_item(self.rows_per_item)
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let local = match self.local {
            Some([a, b]) => format!("{a}x{b}"),
            None => "auto".into(),
        };
        let pack = match self.pack_a {
            PackPolicy::Always => "always",
            PackPolicy::Never => "never",
            PackPolicy::Transposed => "transposed",
        };
        write!(
            f,
            "tile {},{},{} local {local} pack_a {pack} rows {}",
            self.mr,
            self.nv,
            self.nr,
            if self.rows_per_item {
                "per-item"
            } else {
                "per-group"
            }
        )
    }
}

/// What the tuner measured for one shape class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassResult {
    /// The best plan for this class alone.
    pub best: Plan,
    /// Its median ms.
    pub best_ms: f64,
    /// The default plan's median ms, timed in the same run.
    pub default_ms: f64,
    /// The applied plan's ([`Entry::plan`]) median ms.
    pub plan_ms: f64,
    /// The class's weight in the choice of [`Entry::plan`].
    pub weight: f64,
}

/// The tuned plan of one device, driver and kernel source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Platform name.
    pub platform: String,
    /// Device name.
    pub device: String,
    /// `CL_DRIVER_VERSION`.
    pub driver: String,
    /// [`kernel_hash`] when tuned.
    pub kernel_hash: String,
    /// The plan applied at open.
    pub plan: Plan,
    /// Per shape class (`"f32 matmul 1024x1024x1024"`): its best plan and measurements.
    pub classes: BTreeMap<String, ClassResult>,
    /// Seconds the tuning run took.
    pub tuning_s: f64,
    /// When, in seconds since the Unix epoch.
    pub tuned_at: u64,
}

impl Entry {
    /// True when the entry is for `info`'s device (driver and kernels aside).
    pub fn is_for(&self, info: &DeviceInfo) -> bool {
        self.platform == info.platform && self.device == info.name
    }

    /// `Err(why)` when the driver or the kernels changed since the entry was made.
    pub fn freshness(&self, info: &DeviceInfo) -> Result<(), String> {
        if self.driver != info.driver_version {
            return Err(format!(
                "tuned with driver `{}`, the device now has `{}`",
                self.driver, info.driver_version
            ));
        }
        let now = kernel_hash();
        if self.kernel_hash != now {
            return Err(format!(
                "tuned with kernel sources {}, they are now {now}",
                self.kernel_hash
            ));
        }
        Ok(())
    }
}

/// The cache file: every tuned device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cache {
    /// [`FORMAT`].
    pub format: u32,
    /// One entry per device (the latest tuning).
    pub entries: Vec<Entry>,
}

impl Default for Cache {
    fn default() -> Self {
        Cache {
            format: FORMAT,
            entries: Vec::new(),
        }
    }
}

/// What the cache holds for one device.
#[derive(Debug)]
pub enum Lookup<'c> {
    /// An entry made with this driver and these kernels.
    Fresh(&'c Entry),
    /// An entry that no longer applies, and why.
    Stale(&'c Entry, String),
    /// None.
    Missing,
}

impl Cache {
    /// Reads `path`; a missing file is an empty cache.
    pub fn load(path: &Path) -> Result<Cache, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Cache::default()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let cache: Cache = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a tuning cache: {e}", path.display()))?;
        if cache.format != FORMAT {
            return Err(format!(
                "{}: format {} (this build reads {FORMAT})",
                path.display(),
                cache.format
            ));
        }
        Ok(cache)
    }

    /// Writes the cache to `path` (creating its directory), through a temporary file so
    /// that a reader never sees half a file.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The entry for `info`'s device, and whether it still applies.
    pub fn lookup(&self, info: &DeviceInfo) -> Lookup<'_> {
        match self.entries.iter().find(|e| e.is_for(info)) {
            None => Lookup::Missing,
            Some(e) => match e.freshness(info) {
                Ok(()) => Lookup::Fresh(e),
                Err(why) => Lookup::Stale(e, why),
            },
        }
    }

    /// Replaces the entry of the same device, or adds it.
    pub fn insert(&mut self, entry: Entry) {
        self.entries
            .retain(|e| !(e.platform == entry.platform && e.device == entry.device));
        self.entries.push(entry);
    }
}

/// The cache file in use: `NEUROKERN_TUNE_CACHE` (`None` when `off` or empty), else the
/// per-user cache directory (`None` when neither `XDG_CACHE_HOME` nor `HOME` is set).
pub fn cache_path() -> Option<PathBuf> {
    match std::env::var_os(CACHE_ENV) {
        Some(v) if v == "off" || v.is_empty() => None,
        Some(v) => Some(PathBuf::from(v)),
        None => {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
            Some(base.join("neurokern").join("opencl-tune.json"))
        }
    }
}

/// The plan to apply to `info`'s device from the cache at `path`: `None` when there is
/// no fresh entry (a stale entry or an unreadable file is noted on stderr).
pub fn plan_from(path: &Path, info: &DeviceInfo) -> Option<Plan> {
    let cache = match Cache::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("neurokern-opencl: tuning cache ignored: {e}");
            return None;
        }
    };
    match cache.lookup(info) {
        Lookup::Fresh(e) => Some(e.plan),
        Lookup::Stale(e, why) => {
            eprintln!(
                "neurokern-opencl: the tuned plan for {} / {} is ignored ({why}); run `cargo \
                 xtask tune --backend opencl` again",
                e.platform, e.device
            );
            None
        }
        Lookup::Missing => None,
    }
}

/// The hook of [`OpenClDevice::from_info`]: `device` with its cached plan, except the
/// fields an environment variable sets explicitly.
pub(crate) fn at_open(device: OpenClDevice) -> OpenClDevice {
    let Some(path) = cache_path() else {
        return device;
    };
    let Some(plan) = plan_from(&path, device.info()) else {
        return device;
    };
    let set = |v: &str| std::env::var_os(v).is_some();
    let mut device = device;
    if !set("NEUROKERN_OPENCL_GEMM") {
        device = device.with_gemm_params(plan.gemm());
    }
    if !set("NEUROKERN_OPENCL_GEMM_LOCAL") {
        device = device.with_gemm_local(plan.local);
    }
    if !set("NEUROKERN_OPENCL_PACK_A") {
        device = device.with_pack_a(plan.pack_a.into());
    }
    device.with_rows_per_item(plan.rows_per_item)
}
