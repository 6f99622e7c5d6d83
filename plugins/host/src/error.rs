//! The one error type of the host crate.

use std::path::PathBuf;

use neurokern_abi::Status;
use neurokern_core::ElemType;

/// Everything that can go wrong in `neurokern`. Every message names what a user needs to
/// act on: the file, the symbol, the versions, the op and the operand.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The call was rejected by validation before anything ran (same error on every
    /// backend and the reference): wrong dims, lengths, element types, aliasing, scalars.
    #[error(transparent)]
    Invalid(#[from] neurokern_core::Error),

    /// The file could not be opened as a shared library (not a library, truncated, wrong
    /// architecture, missing dependency).
    #[error("{}: cannot be loaded as a shared library: {reason}", path.display())]
    Load {
        /// The candidate file.
        path: PathBuf,
        /// The dynamic loader's message.
        reason: String,
    },

    /// The pre-flight check (a test load in a fresh process) could not run, for a reason
    /// that is not the file's: no process could be started, the check program could not
    /// be executed, or it was killed from outside. The file was not loaded.
    #[error(
        "{}: not loaded: the pre-flight check could not run ({reason}); this says nothing \
         about the file: try again, or see the host section of the neurokern documentation",
        path.display()
    )]
    PreflightUnavailable {
        /// The candidate file.
        path: PathBuf,
        /// Why the check could not run.
        reason: String,
    },

    /// A candidate that is not a regular file of a plausible size (a directory named like
    /// a plugin, a FIFO, a device file, a symlink loop, a file over
    /// [`MAX_PLUGIN_FILE_SIZE`](crate::MAX_PLUGIN_FILE_SIZE)): skipped without being read.
    #[error("{}: skipped: {reason}", path.display())]
    NotAPluginFile {
        /// The candidate.
        path: PathBuf,
        /// What it is instead.
        reason: String,
    },

    /// The library does not export the entry symbol: it is not a neurokern plugin.
    #[error(
        "{}: no symbol `{symbol}`: not a neurokern plugin (a plugin crate calls \
         `neurokern_abi::export_plugin!`)", path.display()
    )]
    NoEntrySymbol {
        /// The library.
        path: PathBuf,
        /// The symbol looked for.
        symbol: &'static str,
    },

    /// The entry symbol returned a null or misaligned table.
    #[error("{}: `{symbol}` returned a {what} table pointer", path.display())]
    BadTable {
        /// The library.
        path: PathBuf,
        /// The entry symbol.
        symbol: &'static str,
        /// `"null"` or `"misaligned"`.
        what: &'static str,
    },

    /// The plugin was built for another major version of the ABI.
    #[error(
        "{}: plugin built for ABI {plugin_major}.{plugin_minor}, but this host speaks ABI \
         {host_major}.{host_minor}: rebuild the plugin against neurokern-abi {host_major}.x",
        path.display()
    )]
    AbiMajor {
        /// The library.
        path: PathBuf,
        /// The plugin's major.
        plugin_major: u32,
        /// The plugin's minor.
        plugin_minor: u32,
        /// The host's major.
        host_major: u32,
        /// The host's minor.
        host_minor: u32,
    },

    /// The table is smaller than its declared version requires.
    #[error(
        "{}: plugin table is {size} bytes, but ABI {major}.{minor} requires at least \
         {needed}: the table is truncated or hand-made wrongly",
        path.display()
    )]
    TableTooSmall {
        /// The library.
        path: PathBuf,
        /// `struct_size` as declared.
        size: u32,
        /// The size its version requires.
        needed: usize,
        /// Declared major.
        major: u32,
        /// Declared minor.
        minor: u32,
    },

    /// A required entry point of the table is null.
    #[error("{}: plugin table entry `{entry}` is null", path.display())]
    NullEntry {
        /// The library.
        path: PathBuf,
        /// The field.
        entry: &'static str,
    },

    /// A string of the table is null, unterminated or not UTF-8.
    #[error("{}: plugin table string `{field}` is {problem}", path.display())]
    BadString {
        /// The library.
        path: PathBuf,
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },

    /// The candidate is the same plugin as one already loaded (loaded once: the first
    /// found wins).
    #[error("{}: skipped, {why} {} (the first one found is used)", path.display(), first.display())]
    Duplicate {
        /// The skipped candidate.
        path: PathBuf,
        /// The one already loaded.
        first: PathBuf,
        /// `"same file as"`, `"same content as"` or `"same plugin name as"`.
        why: &'static str,
    },

    /// An entry point of a plugin failed.
    #[error("plugin `{plugin}` ({}): `{entry}` failed with status {status}: {message}", path.display())]
    Plugin {
        /// Plugin name.
        plugin: String,
        /// Its file.
        path: PathBuf,
        /// The entry point.
        entry: &'static str,
        /// The status it returned.
        status: Status,
        /// Its `last_error` message.
        message: String,
    },

    /// The plugin's probe says it cannot run on this machine.
    #[error("plugin `{plugin}` ({}) cannot run here: {reason}", path.display())]
    Unavailable {
        /// Plugin name.
        plugin: String,
        /// Its file.
        path: PathBuf,
        /// The probe's reason.
        reason: String,
    },

    /// A tensor of one device was passed to an op (or copy) on another.
    #[error(
        "{op}: operand `{operand}` lives on device `{got}`, but the call runs on device \
         `{expected}`: download it and upload it to `{expected}` first"
    )]
    WrongDevice {
        /// The op (or `"copy"`, `"write"`, `"read"`).
        op: &'static str,
        /// The operand.
        operand: &'static str,
        /// The device the call runs on.
        expected: String,
        /// The device the tensor belongs to.
        got: String,
    },

    /// A tensor's shape does not fit the op.
    #[error("{op}: operand `{operand}` has shape {got:?}, expected {expected}")]
    Shape {
        /// The op.
        op: &'static str,
        /// The operand.
        operand: &'static str,
        /// What was expected, e.g. `"[2, 3, 4]"` or `"(B, M, K)"`.
        expected: String,
        /// The tensor's shape.
        got: Vec<usize>,
    },

    /// The operands of a typed call do not go together (an optional output without the
    /// input that enables it, half of a pair), or a size the caller chose is out of reach;
    /// said in terms of the method's own arguments.
    #[error("{op}: {message}")]
    Usage {
        /// The op.
        op: &'static str,
        /// What is wrong and how to call it instead.
        message: String,
    },

    /// A tensor has the wrong element type for the typed call.
    #[error("{op}: operand `{operand}` has element type {got}, expected {expected}")]
    ElemType {
        /// The op.
        op: &'static str,
        /// The operand.
        operand: &'static str,
        /// Expected.
        expected: &'static str,
        /// Given.
        got: ElemType,
    },

    /// A host slice has the wrong length for an upload or download.
    #[error("{what}: the tensor holds {expected} elements of {elem}, the host slice {got}")]
    HostLength {
        /// `"upload"`, `"download"`, `"write"` or `"read"`.
        what: &'static str,
        /// Elements expected.
        expected: usize,
        /// Elements given.
        got: usize,
        /// Element type of the tensor.
        elem: ElemType,
    },

    /// No loaded plugin offers the device asked for.
    #[error("no device `{wanted}`: {available}")]
    NoSuchDevice {
        /// What was asked for (`"cpu"`, `"opencl:1"`).
        wanted: String,
        /// What exists, or why nothing does.
        available: String,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `msg` without a leading `"{path}: "` (the dynamic loader's messages start with the
/// file, which [`Error::Load`] prints already).
pub(crate) fn strip_path(path: &std::path::Path, msg: &str) -> String {
    let p = path.display().to_string();
    msg.strip_prefix(&p)
        .and_then(|r| r.strip_prefix(": "))
        .unwrap_or(msg)
        .to_string()
}
