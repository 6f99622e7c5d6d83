//! Plugin discovery: [`Runtime`] and its [`RuntimeBuilder`].

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::device::Device;
use crate::error::{Error, Result};
use crate::plugin::Plugin;

/// The environment variable that lists plugin files or directories (separated like
/// `PATH`: `:` on Unix, `;` on Windows).
pub const PLUGIN_PATH_ENV: &str = "NEUROKERN_PLUGIN_PATH";

/// The largest file discovery reads as a candidate (256 MiB; the CPU plugin is a few
/// MiB, a driver-sized plugin with debug information tens of MiB). Larger files are listed
/// as skipped, unread.
pub const MAX_PLUGIN_FILE_SIZE: u64 = 256 << 20;

/// The command that builds plugin `name` in the neurokern workspace.
pub(crate) fn build_command(name: &str) -> String {
    format!("cargo build --release -p neurokern-plugin-{name}")
}

/// A path and how it was found.
type Found = (PathBuf, Source);

/// Where a candidate came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Given to [`RuntimeBuilder::path`].
    Explicit,
    /// Listed in [`PLUGIN_PATH_ENV`].
    EnvVar,
    /// The running executable's directory.
    ExeDir,
    /// The cargo target directory (profile directory) the executable was built in.
    TargetDir,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Explicit => "explicit path",
            Source::EnvVar => PLUGIN_PATH_ENV,
            Source::ExeDir => "executable's directory",
            Source::TargetDir => "target directory",
        })
    }
}

/// One file the runtime considered, and what became of it.
#[derive(Debug)]
pub struct Candidate {
    /// The file.
    pub path: PathBuf,
    /// How it was found.
    pub source: Source,
    /// The loaded plugin, or why it was rejected.
    pub outcome: Result<Arc<Plugin>>,
}

/// The file name a plugin library has in a directory search:
/// `{DLL_PREFIX}neurokern_plugin_*{DLL_SUFFIX}` (`libneurokern_plugin_cpu.so`). Explicit
/// paths and files listed in the environment variable may have any name.
pub fn is_plugin_file_name(name: &str) -> bool {
    let prefix = format!("{}neurokern_plugin_", std::env::consts::DLL_PREFIX);
    name.starts_with(&prefix)
        && name.ends_with(std::env::consts::DLL_SUFFIX)
        && name.len() > prefix.len() + std::env::consts::DLL_SUFFIX.len()
}

/// How to find plugins. [`Runtime::discover`] is `RuntimeBuilder::default().build()`.
#[derive(Debug, Clone)]
pub struct RuntimeBuilder {
    explicit: Vec<PathBuf>,
    env: Option<Option<OsString>>,
    exe_dir: bool,
    target_dir: bool,
    builtin: bool,
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        RuntimeBuilder {
            explicit: Vec::new(),
            env: None,
            exe_dir: true,
            target_dir: true,
            builtin: true,
        }
    }
}

impl RuntimeBuilder {
    /// Adds an explicit plugin file, or a directory to search. Explicit paths come first,
    /// in the order given.
    pub fn path(mut self, p: impl Into<PathBuf>) -> Self {
        self.explicit.push(p.into());
        self
    }

    /// Uses `value` instead of the environment variable [`PLUGIN_PATH_ENV`] (`None`: as
    /// if unset). Tests use this instead of mutating the process environment.
    pub fn env_path(mut self, value: Option<OsString>) -> Self {
        self.env = Some(value);
        self
    }

    /// Searches the executable's directory (default: yes).
    pub fn exe_dir(mut self, yes: bool) -> Self {
        self.exe_dir = yes;
        self
    }

    /// Searches the cargo target directory the executable lives in (default: yes).
    pub fn target_dir(mut self, yes: bool) -> Self {
        self.target_dir = yes;
        self
    }

    /// Adds the built-in CPU device (plugin [`BUILTIN`](crate::BUILTIN), default: yes): the
    /// reference, in process, through the same C ABI shims as a plugin file.
    pub fn builtin(mut self, yes: bool) -> Self {
        self.builtin = yes;
        self
    }

    /// Only the explicit paths: no environment variable, no executable or target dir.
    pub fn only_explicit(self) -> Self {
        self.env_path(None).exe_dir(false).target_dir(false)
    }

    /// Lists the candidates in order (explicit, environment, executable dir, target dir
    /// and its `deps/`; entries of a directory sorted by name), without loading or reading
    /// anything. In a directory every entry named like a plugin is listed, whatever its
    /// type: [`build`](Self::build) rejects what is not a regular file, with the reason.
    pub fn candidates(&self) -> Vec<(PathBuf, Source)> {
        self.search().0
    }

    /// The candidates, and every directory searched (with why it was).
    fn search(&self) -> (Vec<Found>, Vec<Found>) {
        let mut out = Vec::new();
        let mut dirs = Vec::new();
        for p in &self.explicit {
            push_path(&mut out, &mut dirs, p, Source::Explicit);
        }
        let env = match &self.env {
            Some(v) => v.clone(),
            None => std::env::var_os(PLUGIN_PATH_ENV),
        };
        if let Some(v) = env {
            for p in std::env::split_paths(&v) {
                if !p.as_os_str().is_empty() {
                    push_path(&mut out, &mut dirs, &p, Source::EnvVar);
                }
            }
        }
        let exe = std::env::current_exe().ok();
        if self.exe_dir {
            if let Some(dir) = exe.as_deref().and_then(Path::parent) {
                push_dir(&mut out, &mut dirs, dir, Source::ExeDir);
            }
        }
        if self.target_dir {
            if let Some(dir) = exe.as_deref().and_then(target_profile_dir) {
                push_dir(&mut out, &mut dirs, &dir, Source::TargetDir);
                // A plugin crate that a dependent crate lists in its [dependencies] is
                // built into `deps/`: found there with plain `cargo build`.
                push_dir(&mut out, &mut dirs, &dir.join("deps"), Source::TargetDir);
            }
        }
        // The same path reached twice (the executable's directory is often the target
        // directory) is listed once, where it was first found.
        let mut seen = std::collections::HashSet::new();
        out.retain(|(p, _)| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
        let mut seen = std::collections::HashSet::new();
        dirs.retain(|(p, _)| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
        (out, dirs)
    }

    /// Loads every candidate. Never fails: rejections are recorded in
    /// [`Runtime::candidates`].
    pub fn build(self) -> Runtime {
        let (paths, searched) = self.search();
        let mut candidates: Vec<Candidate> = Vec::new();
        let mut plugins: Vec<Arc<Plugin>> = Vec::new();
        let mut by_file: HashMap<(u64, u64), PathBuf> = HashMap::new();
        let mut by_content: HashMap<(u64, u64), PathBuf> = HashMap::new();
        let mut by_name: HashMap<String, PathBuf> = HashMap::new();
        for (path, source) in paths {
            let outcome = (|| {
                let (file, bytes) = read_candidate(&path)?;
                if let Some(first) = by_file.get(&file) {
                    return Err(Error::Duplicate {
                        path: path.clone(),
                        first: first.clone(),
                        why: "same file as",
                    });
                }
                by_file.insert(file, path.clone());
                let key = content_key(&path, &bytes)?;
                drop(bytes);
                if let Some(first) = by_content.get(&key) {
                    return Err(Error::Duplicate {
                        path: path.clone(),
                        first: first.clone(),
                        why: "same content as",
                    });
                }
                by_content.insert(key, path.clone());
                let plugin = Plugin::load(&path)?;
                if let Some(first) = by_name.get(plugin.name()) {
                    return Err(Error::Duplicate {
                        path: path.clone(),
                        first: first.clone(),
                        why: "same plugin name as",
                    });
                }
                by_name.insert(plugin.name().to_string(), path.clone());
                let plugin = Arc::new(plugin);
                plugins.push(plugin.clone());
                Ok(plugin)
            })();
            candidates.push(Candidate {
                path,
                source,
                outcome,
            });
        }
        if self.builtin {
            if let Ok(p) = crate::builtin::plugin() {
                plugins.push(p);
            }
        }
        let opened = plugins
            .iter()
            .map(|p| {
                (0..p.device_names().len().max(1))
                    .map(|_| OnceLock::new())
                    .collect()
            })
            .collect();
        Runtime {
            plugins,
            candidates,
            searched,
            opened,
        }
    }
}

fn push_path(
    out: &mut Vec<(PathBuf, Source)>,
    dirs: &mut Vec<(PathBuf, Source)>,
    p: &Path,
    source: Source,
) {
    if p.is_dir() {
        push_dir(out, dirs, p, source);
    } else {
        // Kept even when missing or not a file: the rejection says what it is.
        out.push((p.to_path_buf(), source));
    }
}

fn push_dir(
    out: &mut Vec<(PathBuf, Source)>,
    dirs: &mut Vec<(PathBuf, Source)>,
    dir: &Path,
    source: Source,
) {
    dirs.push((dir.to_path_buf(), source));
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_str().is_some_and(is_plugin_file_name))
        .map(|e| e.path())
        .collect();
    files.sort();
    out.extend(files.into_iter().map(|p| (p, source)));
}

/// Reads a candidate if it is a regular file of at most [`MAX_PLUGIN_FILE_SIZE`] bytes:
/// its identity `(device, inode)` and its content. Anything else is rejected unread, with
/// what it is: opening a FIFO for reading would block, a device file like `/dev/zero`
/// would read until memory runs out. The file is opened non-blocking and checked on the
/// open descriptor, so it cannot be swapped for a FIFO between the check and the read.
fn read_candidate(path: &Path) -> Result<((u64, u64), Vec<u8>)> {
    use std::io::Read as _;
    let skip = |reason: String| Error::NotAPluginFile {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| {
        skip(match e.raw_os_error() {
            #[cfg(unix)]
            Some(libc::ELOOP) => "a symbolic link loop".to_string(),
            _ if e.kind() == std::io::ErrorKind::NotFound => {
                if std::fs::symlink_metadata(path).is_ok() {
                    "a symbolic link to nothing".to_string()
                } else {
                    "no such file".to_string()
                }
            }
            _ => format!("cannot be examined: {e}"),
        })
    })?;
    check_kind(&meta).map_err(skip)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let f = opts
        .open(path)
        .map_err(|e| skip(format!("cannot be opened: {e}")))?;
    let meta = f
        .metadata()
        .map_err(|e| skip(format!("cannot be examined: {e}")))?;
    check_kind(&meta).map_err(skip)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.take(MAX_PLUGIN_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| skip(format!("cannot be read: {e}")))?;
    if bytes.len() as u64 > MAX_PLUGIN_FILE_SIZE {
        return Err(skip(format!(
            "grew past {} MiB while being read",
            MAX_PLUGIN_FILE_SIZE >> 20
        )));
    }
    Ok((file_identity(&meta, path), bytes))
}

/// `Ok` for a regular file within the size limit; else what it is.
fn check_kind(meta: &std::fs::Metadata) -> std::result::Result<(), String> {
    let ft = meta.file_type();
    if ft.is_dir() {
        return Err("a directory, not a plugin file".into());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let what = if ft.is_fifo() {
            Some("a FIFO (named pipe)")
        } else if ft.is_char_device() {
            Some("a character device")
        } else if ft.is_block_device() {
            Some("a block device")
        } else if ft.is_socket() {
            Some("a socket")
        } else {
            None
        };
        if let Some(w) = what {
            return Err(format!("{w}, not a regular file"));
        }
    }
    if !ft.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MAX_PLUGIN_FILE_SIZE {
        return Err(format!(
            "{} bytes, over the {} MiB limit for a plugin file",
            meta.len(),
            MAX_PLUGIN_FILE_SIZE >> 20
        ));
    }
    Ok(())
}

/// The file's identity: hard links and symbolic links to one file are the same file.
fn file_identity(meta: &std::fs::Metadata, path: &Path) -> (u64, u64) {
    #[cfg(unix)]
    {
        let _ = path;
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in canon.to_string_lossy().bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        (0, h)
    }
}

/// The cargo profile directory (`target/debug`, `target/release`, or the same under a
/// custom target dir) that `exe` was built into: `deps/` and `examples/` are walked up
/// from, and a profile directory is recognised by the `CACHEDIR.TAG` cargo writes in the
/// target directory above it.
pub fn target_profile_dir(exe: &Path) -> Option<PathBuf> {
    let mut dir = exe.parent()?;
    loop {
        let parent = dir.parent()?;
        if parent.join("CACHEDIR.TAG").is_file() {
            return Some(dir.to_path_buf());
        }
        // A cross-compiled layout: target/<triple>/<profile>.
        if let Some(gp) = parent.parent() {
            if gp.join("CACHEDIR.TAG").is_file()
                && !matches!(dir.file_name()?.to_str()?, "deps" | "examples" | "build")
            {
                return Some(dir.to_path_buf());
            }
        }
        dir = parent;
    }
}

/// Checks that an ELF file is not truncated: the program headers, every segment's file
/// image and the section headers lie within the file. `dlopen` maps segments beyond the
/// end of a truncated file and the process dies of `SIGBUS` when the loader touches them,
/// so this is checked before. Files that are not ELF are left to the dynamic loader.
pub(crate) fn check_elf(bytes: &[u8]) -> std::result::Result<(), String> {
    if bytes.len() < 4 || &bytes[..4] != b"\x7fELF" {
        return Ok(());
    }
    let len = bytes.len() as u64;
    let short = || format!("truncated ELF file ({len} bytes)");
    if bytes.len() < 0x34 {
        return Err(short());
    }
    let is64 = match bytes[4] {
        1 => false,
        2 => true,
        c => return Err(format!("ELF file of unknown class {c}")),
    };
    let le = match bytes[5] {
        1 => true,
        2 => false,
        d => return Err(format!("ELF file of unknown data encoding {d}")),
    };
    let rd = |off: u64, n: usize| -> std::result::Result<u64, String> {
        let o = usize::try_from(off).map_err(|_| short())?;
        let b = bytes
            .get(o..o.checked_add(n).ok_or_else(short)?)
            .ok_or_else(short)?;
        let mut v = 0u64;
        for i in 0..n {
            let byte = if le { b[n - 1 - i] } else { b[i] };
            v = (v << 8) | u64::from(byte);
        }
        Ok(v)
    };
    let (phoff, shoff, phentsize, phnum, shentsize, shnum) = if is64 {
        (
            rd(0x20, 8)?,
            rd(0x28, 8)?,
            rd(0x36, 2)?,
            rd(0x38, 2)?,
            rd(0x3a, 2)?,
            rd(0x3c, 2)?,
        )
    } else {
        (
            rd(0x1c, 4)?,
            rd(0x20, 4)?,
            rd(0x2a, 2)?,
            rd(0x2c, 2)?,
            rd(0x2e, 2)?,
            rd(0x30, 2)?,
        )
    };
    let within = |off: u64, size: u64, what: &str| -> std::result::Result<(), String> {
        match off.checked_add(size) {
            Some(end) if end <= len => Ok(()),
            _ => Err(format!(
                "truncated ELF file: {what} ends past the end of the file ({len} bytes)"
            )),
        }
    };
    within(
        phoff,
        phentsize.saturating_mul(phnum),
        "the program header table",
    )?;
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let (off, filesz) = if is64 {
            (rd(ph + 8, 8)?, rd(ph + 32, 8)?)
        } else {
            (rd(ph + 4, 4)?, rd(ph + 16, 4)?)
        };
        within(off, filesz, &format!("segment {i}"))?;
    }
    if shnum > 0 {
        within(
            shoff,
            shentsize.saturating_mul(shnum),
            "the section header table",
        )?;
    }
    Ok(())
}

/// File size and a 64-bit FNV-1a hash of the content, after the ELF sanity check.
fn content_key(path: &Path, bytes: &[u8]) -> Result<(u64, u64)> {
    check_elf(bytes).map_err(|reason| Error::Load {
        path: path.to_path_buf(),
        reason,
    })?;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    Ok((bytes.len() as u64, h))
}

/// The loaded plugins, and every candidate file with the reason it was accepted or
/// rejected.
///
/// Discovery order: explicit paths ([`RuntimeBuilder::path`]), then the entries of
/// [`PLUGIN_PATH_ENV`], then the executable's directory, then the cargo target directory
/// the executable was built in and its `deps/`. In a directory only entries named like
/// `libneurokern_plugin_*.so` (platform prefix and suffix) are candidates, sorted by name;
/// only regular files of at most [`MAX_PLUGIN_FILE_SIZE`] bytes are read, anything else is
/// listed as skipped with what it is. The same plugin is loaded once: a candidate that is
/// the same file, has the same content, or declares the same plugin name as one loaded
/// before is skipped, and the first one found wins — deterministic for a given set of
/// files. After them comes the built-in CPU device ([`BUILTIN`](crate::BUILTIN)), so a
/// runtime always has a device.
///
/// Devices are opened once per runtime: [`Runtime::device`] and [`Runtime::devices`]
/// return the same device every time (tensors of one call fit the next).
///
/// `Runtime` is `Send + Sync`; plugins are never unloaded.
#[derive(Debug)]
pub struct Runtime {
    plugins: Vec<Arc<Plugin>>,
    candidates: Vec<Candidate>,
    searched: Vec<(PathBuf, Source)>,
    /// Per plugin, per device index: the device opened once (index 0 of a plugin that
    /// cannot run holds its `Unavailable` error).
    opened: Vec<Vec<OnceLock<Result<Device>>>>,
}

impl Runtime {
    /// Discovers plugins from every default source.
    pub fn discover() -> Runtime {
        RuntimeBuilder::default().build()
    }

    /// A builder to choose the sources.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// Loads exactly one plugin file, failing with the reason it was rejected. The
    /// built-in CPU device comes after it.
    pub fn load(path: impl Into<PathBuf>) -> Result<Runtime> {
        let mut rt = Runtime::builder().only_explicit().path(path).build();
        match rt.candidates.pop() {
            Some(Candidate {
                outcome: Err(e), ..
            }) => Err(e),
            Some(c) => {
                rt.candidates.push(c);
                Ok(rt)
            }
            None => Err(Error::NoSuchDevice {
                wanted: "a plugin".into(),
                available: "the path names no plugin file".into(),
            }),
        }
    }

    /// The loaded plugins, in discovery order; the built-in one last.
    pub fn plugins(&self) -> &[Arc<Plugin>] {
        &self.plugins
    }

    /// Every candidate considered, in order, with its outcome.
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// Every directory searched, in order, and why it was.
    pub fn searched(&self) -> &[(PathBuf, Source)] {
        &self.searched
    }

    /// The loaded plugin called `name`.
    pub fn plugin(&self, name: &str) -> Option<&Arc<Plugin>> {
        self.plugins.iter().find(|p| p.name() == name)
    }

    /// Device `index` of plugin number `p`, opened on first use.
    fn slot(&self, p: usize, index: usize) -> Result<Device> {
        let plugin = &self.plugins[p];
        match self.opened[p].get(index) {
            Some(cell) => cell.get_or_init(|| plugin.open(index)).clone(),
            None => plugin.open(index), // out of range: the error names the count
        }
    }

    /// The device `spec` names: `"cpu"` (device 0 of plugin `cpu`) or `"cpu:1"`; the same
    /// device on every call (opened on the first). `"cpu"` is the CPU plugin when one was
    /// loaded, else the built-in CPU device (the same code: results are bit-identical);
    /// `"builtin"` is always the built-in one.
    pub fn device(&self, spec: &str) -> Result<Device> {
        let (name, index) = match spec.rsplit_once(':') {
            Some((n, i)) => match i.parse::<usize>() {
                Ok(i) => (n, i),
                Err(_) => (spec, 0),
            },
            None => (spec, 0),
        };
        let found = self
            .plugins
            .iter()
            .position(|p| p.name() == name)
            .or_else(|| {
                (name == "cpu")
                    .then(|| self.plugins.iter().position(|p| p.name() == crate::BUILTIN))
                    .flatten()
            });
        match found {
            Some(p) => self.slot(p, index),
            None => Err(Error::NoSuchDevice {
                wanted: spec.to_string(),
                available: self.summary(name),
            }),
        }
    }

    /// The first device of a loaded plugin file that opens, else the built-in CPU device;
    /// `None` only for a runtime built without the built-in device and without a plugin.
    pub fn default_device(&self) -> Option<Device> {
        self.devices().into_iter().next()
    }

    /// Every device of every plugin that can run here, in discovery order (the built-in
    /// CPU device last); what cannot be opened is left out (see [`Runtime::open_all`] and
    /// [`Runtime::rejected`]). Each device is opened once per runtime.
    pub fn devices(&self) -> Vec<Device> {
        self.open_all()
            .into_iter()
            .filter_map(|(_, d)| d.ok())
            .collect()
    }

    /// Every device of every loaded plugin, opened on first use: `("plugin:index",
    /// result)`. A plugin whose probe failed contributes one entry, `("plugin",
    /// Err(Unavailable))`.
    pub fn open_all(&self) -> Vec<(String, Result<Device>)> {
        let mut v = Vec::new();
        for (i, p) in self.plugins.iter().enumerate() {
            if p.probe().is_err() {
                v.push((p.name().to_string(), self.slot(i, 0)));
                continue;
            }
            for d in 0..p.device_names().len() {
                v.push((format!("{}:{d}", p.name()), self.slot(i, d)));
            }
        }
        v
    }

    /// What could not be used, and why: every candidate file that was rejected or skipped
    /// (named by its file; duplicates of a loaded plugin are not listed), every plugin that
    /// cannot run here and every device that failed to open (named by plugin, or
    /// `plugin:index`).
    pub fn rejected(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        for c in &self.candidates {
            match &c.outcome {
                Err(Error::Duplicate { .. }) | Ok(_) => {}
                Err(e) => v.push((c.path.display().to_string(), e.to_string())),
            }
        }
        for (name, d) in self.open_all() {
            if let Err(e) = d {
                v.push((name, e.to_string()));
            }
        }
        v
    }

    /// Why no plugin `wanted` is here: what was loaded, every directory searched, every
    /// rejection, and how to build the plugin.
    fn summary(&self, wanted: &str) -> String {
        let mut s = String::new();
        let loaded: Vec<String> = self
            .plugins
            .iter()
            .map(|p| format!("{} ({})", p.name(), count(p.device_names().len(), "device")))
            .collect();
        if loaded.is_empty() {
            s.push_str("no plugin loaded");
        } else {
            s.push_str(&format!("loaded plugins: {}", loaded.join(", ")));
        }
        if self.searched.is_empty() {
            s.push_str("; no directory searched");
        } else {
            let dirs: Vec<String> = self
                .searched
                .iter()
                .map(|(d, src)| format!("{} ({src})", d.display()))
                .collect();
            s.push_str(&format!("; directories searched: {}", dirs.join(", ")));
        }
        if self.searched.iter().all(|(_, src)| *src != Source::EnvVar) {
            s.push_str(&format!("; {PLUGIN_PATH_ENV} is not set"));
        }
        for c in &self.candidates {
            if let Err(e) = &c.outcome {
                if !matches!(e, Error::Duplicate { .. }) {
                    s.push_str(&format!("; {e}"));
                }
            }
        }
        let name = if wanted.is_empty() || wanted.contains(['/', ' ']) {
            "NAME"
        } else {
            wanted
        };
        s.push_str(&format!(
            ". To get plugin `{name}`: `{}` in the neurokern workspace, then put the library \
             ({}) in one of these directories or name it in {PLUGIN_PATH_ENV}; or add \
             `neurokern-plugin-{name}` to your crate's [dependencies] (plain `cargo build` \
             puts it in target/<profile>/deps, which is searched)",
            build_command(name),
            crate::dev::plugin_file_name(name),
        ));
        s
    }
}

/// `"1 device"`, `"2 devices"`.
pub(crate) fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_file_names() {
        let f = |n: &str| {
            format!(
                "{}{n}{}",
                std::env::consts::DLL_PREFIX,
                std::env::consts::DLL_SUFFIX
            )
        };
        assert!(is_plugin_file_name(&f("neurokern_plugin_cpu")));
        assert!(!is_plugin_file_name(&f("neurokern_plugin_")));
        assert!(!is_plugin_file_name(&f("neurokern_test_fixture")));
        assert!(!is_plugin_file_name("neurokern_plugin_cpu.d"));
    }

    #[test]
    fn profile_dir_is_found_from_deps_examples_and_the_profile_dir() {
        let root = std::env::temp_dir().join(format!("nk-profile-{}", std::process::id()));
        let profile = root.join("target/debug");
        std::fs::create_dir_all(profile.join("deps")).unwrap();
        std::fs::create_dir_all(profile.join("examples")).unwrap();
        std::fs::write(root.join("target/CACHEDIR.TAG"), b"").unwrap();
        for exe in ["deps/t-123", "examples/e", "neurokern"] {
            assert_eq!(
                target_profile_dir(&profile.join(exe)),
                Some(profile.clone()),
                "{exe}"
            );
        }
        assert_eq!(target_profile_dir(Path::new("/usr/bin/true")), None);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn elf_checks() {
        assert!(
            check_elf(b"not an elf at all").is_ok(),
            "left to the loader"
        );
        assert!(check_elf(b"\x7fELF").is_err());
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        if exe.starts_with(b"\x7fELF") {
            assert!(check_elf(&exe).is_ok());
            for cut in [20, 100, 1000, exe.len() / 3, exe.len() - 1] {
                assert!(check_elf(&exe[..cut]).is_err(), "cut at {cut}");
            }
        }
    }
}
