//! Loading one plugin: `dlopen`, the entry symbol, the table checks, and safe wrappers
//! around the table's entry points.

use std::ffi::c_char;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use neurokern_abi::{
    table_size_for_minor, EntryFn, PluginTable, Status, TableHeader, ABI_MAJOR, ABI_MINOR,
    ENTRY_SYMBOL, ENTRY_SYMBOL_NUL,
};

use crate::error::{Error, Result};

/// The entry points of a checked table: every one non-null.
#[derive(Clone, Copy)]
pub(crate) struct Fns {
    pub probe: neurokern_abi::ProbeFn,
    pub device_count: neurokern_abi::DeviceCountFn,
    pub device_name: neurokern_abi::DeviceNameFn,
    pub device_open: neurokern_abi::DeviceOpenFn,
    pub device_close: neurokern_abi::DeviceCloseFn,
    pub supports: neurokern_abi::SupportsFn,
    pub buffer_alloc: neurokern_abi::BufferAllocFn,
    pub buffer_free: neurokern_abi::BufferFreeFn,
    pub buffer_write: neurokern_abi::BufferWriteFn,
    pub buffer_read: neurokern_abi::BufferReadFn,
    pub buffer_copy: neurokern_abi::BufferCopyFn,
    pub run: neurokern_abi::RunFn,
    pub synchronize: neurokern_abi::SynchronizeFn,
    pub last_error: neurokern_abi::LastErrorFn,
}

/// A loaded plugin: its file, its table's strings and entry points, what its probe said
/// and its devices. The library is never unloaded (see the crate documentation).
pub struct Plugin {
    path: PathBuf,
    name: String,
    version: String,
    build_info: String,
    abi: (u32, u32),
    pub(crate) fns: Fns,
    probe: std::result::Result<(), String>,
    devices: Vec<String>,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("path", &self.path)
            .field("abi", &self.abi)
            .field("probe", &self.probe)
            .field("devices", &self.devices)
            .finish()
    }
}

/// Reads a nul-terminated string of at most 4096 bytes.
///
/// # Safety
/// `p` is null or points to a nul-terminated string (the table contract); the bound only
/// protects against a missing terminator within readable memory.
unsafe fn table_str(path: &Path, field: &'static str, p: *const c_char) -> Result<String> {
    let bad = |problem| Error::BadString {
        path: path.to_path_buf(),
        field,
        problem,
    };
    if p.is_null() {
        return Err(bad("null"));
    }
    let mut bytes = Vec::new();
    for i in 0..4096 {
        // SAFETY: per the contract the string is nul-terminated and we stop at the nul,
        // so every byte read up to it belongs to the string.
        let b = unsafe { p.add(i).cast::<u8>().read() };
        if b == 0 {
            return String::from_utf8(bytes).map_err(|_| bad("not UTF-8"));
        }
        bytes.push(b);
    }
    Err(bad("not nul-terminated within 4096 bytes"))
}

impl Plugin {
    /// Opens `path`, checks it, probes it and lists its devices.
    pub(crate) fn load(path: &Path) -> Result<Plugin> {
        if crate::preflight::check(path)? == crate::preflight::Found::NoEntrySymbol {
            return Err(Error::NoEntrySymbol {
                path: path.to_path_buf(),
                symbol: ENTRY_SYMBOL,
            });
        }
        // SAFETY: loading a library runs its initializers; that is the point of a plugin
        // and the caller chose the file. Nothing else is assumed about it yet.
        let lib = unsafe { libloading::Library::new(path) }.map_err(|e| Error::Load {
            path: path.to_path_buf(),
            reason: crate::error::strip_path(path, &e.to_string()),
        })?;
        // Never unloaded: Rust thread-locals and `dlclose` do not mix, and handles into
        // the library may outlive every `Plugin` value.
        let lib: &'static libloading::Library = Box::leak(Box::new(lib));
        // SAFETY: the symbol's type is the ABI's entry type; a library that exports the
        // name with another type is outside the contract (nothing can detect that).
        let entry: libloading::Symbol<'static, EntryFn> = unsafe { lib.get(ENTRY_SYMBOL_NUL) }
            .map_err(|_| Error::NoEntrySymbol {
                path: path.to_path_buf(),
                symbol: ENTRY_SYMBOL,
            })?;
        // SAFETY: calling the entry symbol, which by contract only returns a pointer to a
        // static table.
        let table = unsafe { entry() };
        Self::from_table(path, table)
    }

    /// Checks a table (header first, before anything else is read or called) and wraps
    /// it.
    pub(crate) fn from_table(path: &Path, table: *const PluginTable) -> Result<Plugin> {
        let p = path.to_path_buf();
        let bad = |what| Error::BadTable {
            path: p.clone(),
            symbol: ENTRY_SYMBOL,
            what,
        };
        if table.is_null() {
            return Err(bad("null"));
        }
        if !table.is_aligned() {
            return Err(bad("misaligned"));
        }
        // SAFETY: non-null and aligned; every table version starts with the 16-byte
        // header, which is all that is read here.
        let header = unsafe { table.cast::<TableHeader>().read() };
        if header.abi_major != ABI_MAJOR {
            return Err(Error::AbiMajor {
                path: p,
                plugin_major: header.abi_major,
                plugin_minor: header.abi_minor,
                host_major: ABI_MAJOR,
                host_minor: ABI_MINOR,
            });
        }
        // A newer minor has a larger table, of which we read our prefix; an older one
        // (none exists yet) would be read up to its own size.
        #[allow(clippy::unnecessary_min_or_max)] // ABI_MINOR is 0 today
        let known = std::cmp::min(header.abi_minor, ABI_MINOR);
        let needed = table_size_for_minor(known).unwrap_or(std::mem::size_of::<PluginTable>());
        if (header.struct_size as usize) < needed {
            return Err(Error::TableTooSmall {
                path: p,
                size: header.struct_size,
                needed,
                major: header.abi_major,
                minor: header.abi_minor,
            });
        }
        // SAFETY: the plugin declares (and its version requires) at least
        // `size_of::<PluginTable>()` bytes, laid out as `PluginTable` of ABI 1.0.
        let t: &'static PluginTable = unsafe { &*table };
        // SAFETY: the strings are nul-terminated static strings per the table contract.
        let name = unsafe { table_str(path, "name", t.name) }?;
        // SAFETY: as above.
        let version = unsafe { table_str(path, "version", t.version) }?;
        // SAFETY: as above.
        let build_info = unsafe { table_str(path, "build_info", t.build_info) }?;
        macro_rules! need {
            ($f:ident) => {
                t.$f.ok_or_else(|| Error::NullEntry {
                    path: path.to_path_buf(),
                    entry: stringify!($f),
                })?
            };
        }
        let fns = Fns {
            probe: need!(probe),
            device_count: need!(device_count),
            device_name: need!(device_name),
            device_open: need!(device_open),
            device_close: need!(device_close),
            supports: need!(supports),
            buffer_alloc: need!(buffer_alloc),
            buffer_free: need!(buffer_free),
            buffer_write: need!(buffer_write),
            buffer_read: need!(buffer_read),
            buffer_copy: need!(buffer_copy),
            run: need!(run),
            synchronize: need!(synchronize),
            last_error: need!(last_error),
        };
        let mut plugin = Plugin {
            path: path.to_path_buf(),
            name,
            version,
            build_info,
            abi: (header.abi_major, header.abi_minor),
            fns,
            probe: Ok(()),
            devices: Vec::new(),
        };
        // SAFETY: a checked table's entry point, no arguments.
        let status = unsafe { (plugin.fns.probe)() };
        plugin.probe = match plugin.check("probe", status) {
            Ok(()) => Ok(()),
            Err(Error::Plugin { message, .. }) => Err(message),
            Err(e) => Err(e.to_string()),
        };
        if plugin.probe.is_ok() {
            plugin.devices = plugin.list_devices()?;
        }
        Ok(plugin)
    }

    fn list_devices(&self) -> Result<Vec<String>> {
        let mut n = 0u32;
        // SAFETY: a checked entry point; `n` is a valid out pointer.
        self.check("device_count", unsafe { (self.fns.device_count)(&mut n) })?;
        let mut names = Vec::new();
        for i in 0..n.min(1024) {
            names.push(self.string("device_name", |buf, cap, len| {
                // SAFETY: a checked entry point; `buf`/`cap`/`len` come from `string`.
                unsafe { (self.fns.device_name)(i, buf, cap, len) }
            })?);
        }
        Ok(names)
    }

    /// Fetches a string through an `snprintf`-style entry point.
    fn string(
        &self,
        entry: &'static str,
        f: impl Fn(*mut c_char, usize, *mut usize) -> Status,
    ) -> Result<String> {
        let mut len = 0usize;
        self.check(entry, f(std::ptr::null_mut(), 0, &mut len))?;
        let len = len.min(1 << 20);
        let mut buf = vec![0u8; len + 1];
        let mut len2 = 0usize;
        self.check(entry, f(buf.as_mut_ptr().cast(), buf.len(), &mut len2))?;
        buf.truncate(len.min(len2));
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// The message of the last failure on this thread.
    fn last_error(&self) -> String {
        let mut len = 0usize;
        // SAFETY: a checked entry point; null buffer with capacity 0 asks for the length.
        let s = unsafe { (self.fns.last_error)(std::ptr::null_mut(), 0, &mut len) };
        if !s.is_ok() {
            return format!("(last_error failed with status {s})");
        }
        let mut buf = vec![0u8; len.min(1 << 20) + 1];
        let mut len2 = 0usize;
        // SAFETY: `buf` holds `buf.len()` writable bytes.
        let s = unsafe { (self.fns.last_error)(buf.as_mut_ptr().cast(), buf.len(), &mut len2) };
        if !s.is_ok() {
            return format!("(last_error failed with status {s})");
        }
        buf.truncate(len2.min(buf.len() - 1));
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Turns a status into a result, fetching the message on failure.
    pub(crate) fn check(&self, entry: &'static str, status: Status) -> Result<()> {
        if status.is_ok() {
            return Ok(());
        }
        Err(Error::Plugin {
            plugin: self.name.clone(),
            path: self.path.clone(),
            entry,
            status,
            message: self.last_error(),
        })
    }

    /// The plugin's short name (`"cpu"`).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The plugin's own version.
    pub fn version(&self) -> &str {
        &self.version
    }
    /// Its build information.
    pub fn build_info(&self) -> &str {
        &self.build_info
    }
    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The ABI version it declares (`(major, minor)`).
    pub fn abi(&self) -> (u32, u32) {
        self.abi
    }
    /// `Ok` when its probe says it can run here, else the reason.
    pub fn probe(&self) -> std::result::Result<(), &str> {
        self.probe.as_ref().map(|_| ()).map_err(|s| s.as_str())
    }
    /// The names of its devices (empty when the probe failed).
    pub fn device_names(&self) -> &[String] {
        &self.devices
    }

    /// Opens device `index` of this plugin.
    pub fn open(self: &Arc<Self>, index: usize) -> Result<crate::Device> {
        if let Err(reason) = &self.probe {
            return Err(Error::Unavailable {
                plugin: self.name.clone(),
                path: self.path.clone(),
                reason: reason.clone(),
            });
        }
        crate::device::open(self, index)
    }
}
