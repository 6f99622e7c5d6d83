//! The plugin side of the ABI: the [`Plugin`] trait and the generic shims that
//! [`export_plugin!`](crate::export_plugin) instantiates for it.
//!
//! Every shim body runs inside `catch_unwind`: a panic becomes [`Status::PANIC`] with the
//! panic message in `last_error`, never an unwind across `extern "C"`. (A plugin built
//! with `panic = "abort"` still aborts: build plugins with the default `unwind`.)
//! Handles are boxes that start with a [`HandleHeader`]: a device is tagged with its
//! plugin, a buffer with its device, and every shim checks the tags before it uses a
//! handle.

use std::boxed::Box;
use std::cell::RefCell;
use std::ffi::CStr;
use std::format;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::string::{String, ToString};
use std::vec::Vec;

use core::ffi::{c_char, c_void};

use neurokern_core::backend::check_call;
use neurokern_core::operand::MAX_OPERANDS;
use neurokern_core::{Backend, DeviceBuffer, OpKind};

use crate::{
    elem_type_from_u32, float_type_from_u32, HandleHeader, NkBuffer, NkDevice, NkOp, PluginTable,
    Status, ABI_MAJOR, ABI_MINOR, BUFFER_MAGIC, DEAD_MAGIC, DEVICE_MAGIC,
};

/// What a plugin crate implements; [`export_plugin!`](crate::export_plugin) does the rest.
///
/// Every function may be called from any thread, concurrently: hence the `Send + Sync`
/// bounds on the backend and its buffers.
pub trait Plugin: 'static {
    /// The device type: one instance per opened device.
    type Backend: Backend<Buffer: Send + Sync> + Send + Sync + 'static;

    /// The plugin's short name (`c"cpu"`, `c"opencl"`).
    const NAME: &'static CStr;

    /// Whether the plugin can run on this machine; when not, why ("libcuda.so.1 not
    /// found", "no OpenCL platform"). No silent fallback.
    fn probe() -> Result<(), String>;

    /// The names of the devices this plugin offers, in index order (empty when none).
    fn devices() -> Vec<String>;

    /// Opens device `index` (an index into [`Plugin::devices`]).
    fn open(index: usize) -> Result<Self::Backend, String>;

    /// The status a backend error crosses the ABI with, so that its category survives:
    /// [`Status::INVALID_ARGUMENT`] for a caller's mistake the backend caught (a wrong
    /// byte count), [`Status::VALIDATION`] for core's validation,
    /// [`Status::OUT_OF_MEMORY`], … The default, [`Status::BACKEND`], says only that the
    /// backend failed; a plugin whose error type tells these apart should override it.
    fn error_status(e: &<Self::Backend as Backend>::Error) -> Status {
        let _ = e;
        Status::BACKEND
    }
}

/// A device handle as a Rust plugin lays it out.
#[repr(C)]
struct DeviceBox<P: Plugin> {
    header: HandleHeader,
    backend: P::Backend,
}

/// A buffer handle as a Rust plugin lays it out.
#[repr(C)]
struct BufferBox<P: Plugin> {
    header: HandleHeader,
    buf: <P::Backend as Backend>::Buffer,
}

/// A failed call: its status and message.
struct Fail(Status, String);

impl Fail {
    fn null(what: &str) -> Fail {
        Fail(
            Status::INVALID_ARGUMENT,
            format!("`{what}` is a null pointer"),
        )
    }
}

std::thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_last_error(msg: String) {
    // `try_with`/`try_borrow_mut`: never panic here (we may be outside `catch_unwind`,
    // or the thread may be shutting down).
    let _ = LAST_ERROR.try_with(|e| {
        if let Ok(mut e) = e.try_borrow_mut() {
            *e = msg;
        }
    });
}

fn panic_message(p: &(dyn core::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic payload that is not a string)".to_string()
    }
}

/// Runs a shim body: catches panics, records the message of a failure.
fn guard<P: Plugin>(entry: &str, body: impl FnOnce() -> Result<(), Fail>) -> Status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => Status::OK,
        Ok(Err(Fail(status, msg))) => {
            set_last_error(msg);
            status
        }
        Err(payload) => {
            // Formatting the message can panic only on allocation failure; stay inside a
            // second guard so nothing unwinds out.
            let msg = catch_unwind(AssertUnwindSafe(|| {
                format!(
                    "plugin `{}` panicked in `{entry}`: {}",
                    P::NAME.to_string_lossy(),
                    panic_message(&*payload)
                )
            }))
            .unwrap_or_else(|_| String::from("plugin panicked"));
            set_last_error(msg);
            Status::PANIC
        }
    }
}

/// The identity of plugin `P` in this library: the address of a function monomorphized
/// for it (distinct in every loaded copy of a library).
fn plugin_tag<P: Plugin>() -> *const c_void {
    plugin_tag::<P> as *const () as *const c_void
}

/// # Safety
/// `p` is null or a handle obtained from some plugin of this ABI and not yet closed or
/// freed (every such handle starts with a [`HandleHeader`]).
unsafe fn device<'a, P: Plugin>(p: *mut NkDevice) -> Result<&'a DeviceBox<P>, Fail> {
    if p.is_null() {
        return Err(Fail::null("device"));
    }
    if !p.cast::<HandleHeader>().is_aligned() {
        return Err(Fail(
            Status::WRONG_HANDLE,
            "not a device handle (misaligned)".into(),
        ));
    }
    // SAFETY: per this function's contract, `p` points to a live handle that starts with
    // a `HandleHeader`, and it is aligned (checked above).
    let h = unsafe { &*p.cast::<HandleHeader>() };
    if h.magic != DEVICE_MAGIC {
        return Err(Fail(Status::WRONG_HANDLE, "not a device handle".into()));
    }
    if h.owner != plugin_tag::<P>() {
        return Err(Fail(
            Status::WRONG_HANDLE,
            format!(
                "a device handle of another plugin was passed to plugin `{}`",
                P::NAME.to_string_lossy()
            ),
        ));
    }
    // SAFETY: the magic and owner say this plugin made the handle with `device_open`,
    // as a `Box<DeviceBox<P>>` that is still alive.
    Ok(unsafe { &*p.cast::<DeviceBox<P>>() })
}

/// # Safety
/// As for [`device`]; `dev` is this plugin's live device.
unsafe fn buffer<'a, P: Plugin>(
    dev: &DeviceBox<P>,
    p: *mut NkBuffer,
    what: &str,
) -> Result<&'a BufferBox<P>, Fail> {
    if p.is_null() {
        return Err(Fail::null(what));
    }
    if !p.cast::<HandleHeader>().is_aligned() {
        return Err(Fail(
            Status::WRONG_HANDLE,
            format!("`{what}` is not a buffer handle"),
        ));
    }
    // SAFETY: per the contract, a live handle starting with an aligned `HandleHeader`.
    let h = unsafe { &*p.cast::<HandleHeader>() };
    if h.magic != BUFFER_MAGIC {
        return Err(Fail(
            Status::WRONG_HANDLE,
            format!("`{what}` is not a buffer handle"),
        ));
    }
    if h.owner != dev as *const DeviceBox<P> as *const c_void {
        return Err(Fail(
            Status::WRONG_HANDLE,
            format!("`{what}` is a buffer of another device"),
        ));
    }
    // SAFETY: the tags say `buffer_alloc` of this device made it as a live
    // `Box<BufferBox<P>>`; only this plugin's device writes BUFFER_MAGIC with this owner.
    Ok(unsafe { &*p.cast::<BufferBox<P>>() })
}

/// Writes `*out = v` after a null check.
///
/// # Safety
/// `out` is null or valid for a write of `T`.
unsafe fn put<T>(out: *mut T, v: T, what: &str) -> Result<(), Fail> {
    if out.is_null() {
        return Err(Fail::null(what));
    }
    // SAFETY: non-null, and valid for writes per the contract.
    unsafe { out.write_unaligned(v) };
    Ok(())
}

/// Copies a string out, `snprintf` style.
///
/// # Safety
/// `buf` is valid for `cap` bytes of writes (or `cap` is 0); `len` is null or valid.
unsafe fn copy_str(s: &str, buf: *mut c_char, cap: usize, len: *mut usize) -> Result<(), Fail> {
    if cap > 0 {
        if buf.is_null() {
            return Err(Fail::null("buf"));
        }
        let n = s.len().min(cap - 1);
        // SAFETY: `buf` holds `cap > n` bytes; `s` holds at least `n`; they cannot
        // overlap (ours is a Rust string, theirs a caller buffer).
        unsafe {
            core::ptr::copy_nonoverlapping(s.as_ptr(), buf.cast::<u8>(), n);
            buf.add(n).write(0);
        }
    }
    if !len.is_null() {
        // SAFETY: non-null, valid for a write per the contract.
        unsafe { len.write_unaligned(s.len()) };
    }
    Ok(())
}

/// A backend error as a failure: the plugin's status for it ([`Plugin::error_status`])
/// and the message, prefixed with the entry point or op.
fn backend_fail<P: Plugin>(what: &str, e: <P::Backend as Backend>::Error) -> Fail {
    Fail(P::error_status(&e), format!("{what}: {e}"))
}

/// `probe`.
///
/// # Safety
/// The arguments follow the ABI contract (`ABI.md`): handles are null or live handles of
/// some plugin of this ABI (their tags are checked), and every other pointer is null or
/// valid for the sizes given.
pub unsafe extern "C" fn probe<P: Plugin>() -> Status {
    guard::<P>("probe", || {
        P::probe().map_err(|m| Fail(Status::UNAVAILABLE, m))
    })
}

/// `device_count`.
///
/// # Safety
/// The arguments follow the ABI contract (`ABI.md`): handles are null or live handles of
/// some plugin of this ABI (their tags are checked), and every other pointer is null or
/// valid for the sizes given.
pub unsafe extern "C" fn device_count<P: Plugin>(out: *mut u32) -> Status {
    guard::<P>("device_count", || {
        let n = u32::try_from(P::devices().len()).unwrap_or(u32::MAX);
        // SAFETY: the caller passes a valid `out` (or null, which `put` rejects).
        unsafe { put(out, n, "out") }
    })
}

/// `device_name`.
///
/// # Safety
/// The arguments follow the ABI contract (`ABI.md`): handles are null or live handles of
/// some plugin of this ABI (their tags are checked), and every other pointer is null or
/// valid for the sizes given.
pub unsafe extern "C" fn device_name<P: Plugin>(
    index: u32,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> Status {
    guard::<P>("device_name", || {
        let names = P::devices();
        let name = names.get(index as usize).ok_or_else(|| {
            Fail(
                Status::NO_DEVICE,
                format!("no device {index}: the plugin has {}", names.len()),
            )
        })?;
        // SAFETY: the caller passes `buf` valid for `cap` bytes and a valid `len`.
        unsafe { copy_str(name, buf, cap, len) }
    })
}

/// `device_open`.
///
/// # Safety
/// The arguments follow the ABI contract (`ABI.md`): handles are null or live handles of
/// some plugin of this ABI (their tags are checked), and every other pointer is null or
/// valid for the sizes given.
pub unsafe extern "C" fn device_open<P: Plugin>(index: u32, out: *mut *mut NkDevice) -> Status {
    guard::<P>("device_open", || {
        if out.is_null() {
            return Err(Fail::null("out"));
        }
        let count = P::devices().len();
        if index as usize >= count {
            return Err(Fail(
                Status::NO_DEVICE,
                format!("no device {index}: the plugin has {count}"),
            ));
        }
        let backend = P::open(index as usize).map_err(|m| Fail(Status::UNAVAILABLE, m))?;
        let b = Box::new(DeviceBox::<P> {
            header: HandleHeader {
                magic: DEVICE_MAGIC,
                owner: plugin_tag::<P>(),
            },
            backend,
        });
        let raw = Box::into_raw(b).cast::<NkDevice>();
        // SAFETY: `out` is non-null (checked) and valid for a write per the contract.
        unsafe { put(out, raw, "out") }
    })
}

/// `device_close`.
///
/// # Safety
/// The arguments follow the ABI contract (`ABI.md`): handles are null or live handles of
/// some plugin of this ABI (their tags are checked), and every other pointer is null or
/// valid for the sizes given.
pub unsafe extern "C" fn device_close<P: Plugin>(dev: *mut NkDevice) -> Status {
    guard::<P>("device_close", || {
        // SAFETY: the caller passes a live handle; `device` checks its tags.
        unsafe { device::<P>(dev) }?;
        let p = dev.cast::<DeviceBox<P>>();
        // SAFETY: checked above: a live `Box<DeviceBox<P>>` made by `device_open`, which
        // the caller gives up with this call.
        let mut b = unsafe { Box::from_raw(p) };
        b.header.magic = DEAD_MAGIC;
        drop(b);
        Ok(())
    })
}

/// `supports`.
///
/// # Safety
/// The arguments follow the ABI contract (`ABI.md`): handles are null or live handles of
/// some plugin of this ABI (their tags are checked), and every other pointer is null or
/// valid for the sizes given.
pub unsafe extern "C" fn supports<P: Plugin>(
    dev: *mut NkDevice,
    kind: u32,
    dtype: u32,
    out: *mut u32,
) -> Status {
    guard::<P>("supports", || {
        // SAFETY: the caller passes a live handle; `device` checks its tags.
        let d = unsafe { device::<P>(dev) }?;
        let yes = match (OpKind::from_u32(kind), float_type_from_u32(dtype)) {
            (Some(k), Some(t)) => d.backend.supports(k, t),
            _ => false,
        };
        // SAFETY: the caller passes a valid `out`.
        unsafe { put(out, yes as u32, "out") }
    })
}

/// `buffer_alloc`.
///
/// # Safety
/// The arguments follow the ABI contract (`ABI.md`): handles are null or live handles of
/// some plugin of this ABI (their tags are checked), and every other pointer is null or
/// valid for the sizes given.
pub unsafe extern "C" fn buffer_alloc<P: Plugin>(
    dev: *mut NkDevice,
    elem: u32,
    len: u64,
    out: *mut *mut NkBuffer,
) -> Status {
    guard::<P>("buffer_alloc", || {
        // SAFETY: the caller passes a live handle; `device` checks its tags.
        let d = unsafe { device::<P>(dev) }?;
        if out.is_null() {
            return Err(Fail::null("out"));
        }
        let elem = elem_type_from_u32(elem).ok_or_else(|| {
            Fail(
                Status::INVALID_ARGUMENT,
                format!("unknown element type code {elem}"),
            )
        })?;
        let len = usize::try_from(len).map_err(|_| {
            Fail(
                Status::OUT_OF_MEMORY,
                format!("{len} elements do not fit this host"),
            )
        })?;
        let buf = d.backend.alloc(elem, len).map_err(|e| {
            // An allocation failure is out-of-memory unless the plugin says otherwise.
            let status = match P::error_status(&e) {
                Status::BACKEND => Status::OUT_OF_MEMORY,
                s => s,
            };
            Fail(status, format!("alloc of {len} {elem}: {e}"))
        })?;
        let b = Box::new(BufferBox::<P> {
            header: HandleHeader {
                magic: BUFFER_MAGIC,
                owner: d as *const DeviceBox<P> as *const c_void,
            },
            buf,
        });
        // SAFETY: `out` is non-null (checked) and valid for a write per the contract.
        unsafe { put(out, Box::into_raw(b).cast::<NkBuffer>(), "out") }
    })
}

/// `buffer_free`.
///
/// # Safety
/// The arguments follow the ABI contract (`ABI.md`): handles are null or live handles of
/// some plugin of this ABI (their tags are checked), and every other pointer is null or
/// valid for the sizes given.
pub unsafe extern "C" fn buffer_free<P: Plugin>(dev: *mut NkDevice, buf: *mut NkBuffer) -> Status {
    guard::<P>("buffer_free", || {
        // SAFETY: the caller passes live handles; `device` and `buffer` check their tags.
        let d = unsafe { device::<P>(dev) }?;
        // SAFETY: as above.
        unsafe { buffer::<P>(d, buf, "buf") }?;
        // SAFETY: checked: a live `Box<BufferBox<P>>` of this device, which the caller
        // gives up with this call.
        let mut b = unsafe { Box::from_raw(buf.cast::<BufferBox<P>>()) };
        b.header.magic = DEAD_MAGIC;
        drop(b);
        Ok(())
    })
}

/// `buffer_write`.
///
/// # Safety
/// The arguments follow the ABI contract (`ABI.md`): handles are null or live handles of
/// some plugin of this ABI (their tags are checked), and every other pointer is null or
/// valid for the sizes given.
pub unsafe extern "C" fn buffer_write<P: Plugin>(
    dev: *mut NkDevice,
    buf: *mut NkBuffer,
    src: *const u8,
    bytes: usize,
) -> Status {
    guard::<P>("buffer_write", || {
        // SAFETY: the caller passes live handles; the tags are checked.
        let d = unsafe { device::<P>(dev) }?;
        // SAFETY: as above.
        let b = unsafe { buffer::<P>(d, buf, "buf") }?;
        let src: &[u8] = if bytes == 0 {
            &[]
        } else if src.is_null() {
            return Err(Fail::null("src"));
        } else {
            // SAFETY: the caller passes `src` valid for `bytes` bytes of reads.
            unsafe { core::slice::from_raw_parts(src, bytes) }
        };
        d.backend
            .write(&b.buf, src)
            .map_err(|e| backend_fail::<P>("buffer_write", e))
    })
}

/// `buffer_read`.
///
/// # Safety
/// The arguments follow the ABI contract (`ABI.md`): handles are null or live handles of
/// some plugin of this ABI (their tags are checked), and every other pointer is null or
/// valid for the sizes given.
pub unsafe extern "C" fn buffer_read<P: Plugin>(
    dev: *mut NkDevice,
    buf: *mut NkBuffer,
    dst: *mut u8,
    bytes: usize,
) -> Status {
    guard::<P>("buffer_read", || {
        // SAFETY: the caller passes live handles; the tags are checked.
        let d = unsafe { device::<P>(dev) }?;
        // SAFETY: as above.
        let b = unsafe { buffer::<P>(d, buf, "buf") }?;
        let dst: &mut [u8] = if bytes == 0 {
            &mut []
        } else if dst.is_null() {
            return Err(Fail::null("dst"));
        } else {
            // SAFETY: the caller passes `dst` valid for `bytes` bytes of writes, not
            // aliased during the call.
            unsafe { core::slice::from_raw_parts_mut(dst, bytes) }
        };
        d.backend
            .read(&b.buf, dst)
            .map_err(|e| backend_fail::<P>("buffer_read", e))
    })
}

/// `buffer_copy`.
///
/// # Safety
/// The arguments follow the ABI contract (`ABI.md`): handles are null or live handles of
/// some plugin of this ABI (their tags are checked), and every other pointer is null or
/// valid for the sizes given.
pub unsafe extern "C" fn buffer_copy<P: Plugin>(
    dev: *mut NkDevice,
    src: *mut NkBuffer,
    dst: *mut NkBuffer,
) -> Status {
    guard::<P>("buffer_copy", || {
        // SAFETY: the caller passes live handles; the tags are checked.
        let d = unsafe { device::<P>(dev) }?;
        // SAFETY: as above.
        let s = unsafe { buffer::<P>(d, src, "src") }?;
        // SAFETY: as above.
        let t = unsafe { buffer::<P>(d, dst, "dst") }?;
        if s.buf.elem() != t.buf.elem() || s.buf.len() != t.buf.len() {
            return Err(Fail(
                Status::INVALID_ARGUMENT,
                format!(
                    "buffer_copy: source is {} × {}, destination {} × {}",
                    s.buf.len(),
                    s.buf.elem(),
                    t.buf.len(),
                    t.buf.elem()
                ),
            ));
        }
        d.backend
            .copy(&s.buf, &t.buf)
            .map_err(|e| backend_fail::<P>("buffer_copy", e))
    })
}

/// `run`.
///
/// # Safety
/// The arguments follow the ABI contract (`ABI.md`): handles are null or live handles of
/// some plugin of this ABI (their tags are checked), and every other pointer is null or
/// valid for the sizes given.
pub unsafe extern "C" fn run<P: Plugin>(
    dev: *mut NkDevice,
    op: *const NkOp,
    dtype: u32,
    args: *const *mut NkBuffer,
    nargs: u32,
) -> Status {
    guard::<P>("run", || {
        // SAFETY: the caller passes a live handle; the tags are checked.
        let d = unsafe { device::<P>(dev) }?;
        if op.is_null() {
            return Err(Fail::null("op"));
        }
        // SAFETY: non-null; the caller passes a valid `NkOp` (read unaligned: a C caller
        // may pack it anywhere).
        let raw = unsafe { op.read_unaligned() };
        let op = raw
            .to_op()
            .map_err(|e| Fail(Status::INVALID_ARGUMENT, e.to_string()))?;
        let dtype = float_type_from_u32(dtype).ok_or_else(|| {
            Fail(
                Status::INVALID_ARGUMENT,
                format!("{}: unknown dtype code {dtype}", op.name()),
            )
        })?;
        let n = nargs as usize;
        if n > MAX_OPERANDS {
            return Err(Fail(
                Status::INVALID_ARGUMENT,
                format!("{}: {n} argument slots, at most {MAX_OPERANDS}", op.name()),
            ));
        }
        let slots: &[*mut NkBuffer] = if n == 0 {
            &[]
        } else if args.is_null() {
            return Err(Fail::null("args"));
        } else {
            // SAFETY: the caller passes `args` valid for `nargs` pointer reads.
            unsafe { core::slice::from_raw_parts(args, n) }
        };
        let operands = op
            .operands()
            .map_err(|e| Fail(Status::VALIDATION, format!("[{}] {e}", e.kind_name())))?;
        let mut bufs: [Option<&<P::Backend as Backend>::Buffer>; MAX_OPERANDS] =
            [None; MAX_OPERANDS];
        for (i, (&p, slot)) in slots.iter().zip(bufs.iter_mut()).enumerate() {
            if !p.is_null() {
                let name = operands
                    .as_slice()
                    .get(i)
                    .map_or("extra argument", |s| s.name);
                // SAFETY: the caller passes live handles (or null); the tags are checked.
                *slot = Some(&unsafe { buffer::<P>(d, p, name) }?.buf);
            }
        }
        if !d.backend.supports(op.kind(), dtype) {
            return Err(Fail(
                Status::UNSUPPORTED,
                format!(
                    "{}: not supported for dtype {dtype} by device `{}`",
                    op.name(),
                    d.backend.device_name()
                ),
            ));
        }
        check_call(&op, dtype, &bufs[..n])
            .map_err(|e| Fail(Status::VALIDATION, format!("[{}] {e}", e.kind_name())))?;
        d.backend
            .run(&op, dtype, &bufs[..n])
            .map_err(|e| backend_fail::<P>(op.name(), e))
    })
}

/// `synchronize`.
///
/// # Safety
/// The arguments follow the ABI contract (`ABI.md`): handles are null or live handles of
/// some plugin of this ABI (their tags are checked), and every other pointer is null or
/// valid for the sizes given.
pub unsafe extern "C" fn synchronize<P: Plugin>(dev: *mut NkDevice) -> Status {
    guard::<P>("synchronize", || {
        // SAFETY: the caller passes a live handle; the tags are checked.
        let d = unsafe { device::<P>(dev) }?;
        d.backend
            .synchronize()
            .map_err(|e| backend_fail::<P>("synchronize", e))
    })
}

/// `last_error`.
///
/// # Safety
/// The arguments follow the ABI contract (`ABI.md`): handles are null or live handles of
/// some plugin of this ABI (their tags are checked), and every other pointer is null or
/// valid for the sizes given.
pub unsafe extern "C" fn last_error<P: Plugin>(
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> Status {
    // Not through `guard`: that would overwrite the message it is asked for on failure.
    let r = catch_unwind(AssertUnwindSafe(|| {
        LAST_ERROR
            .try_with(|e| e.try_borrow().map(|s| s.clone()).unwrap_or_default())
            .unwrap_or_default()
    }));
    let msg = match r {
        Ok(m) => m,
        Err(_) => return Status::PANIC,
    };
    // SAFETY: the caller passes `buf` valid for `cap` bytes and a valid `len`.
    match unsafe { copy_str(&msg, buf, cap, len) } {
        Ok(()) => Status::OK,
        Err(Fail(s, _)) => s,
    }
}

/// The table of plugin `P`, with its version and build information (nul-terminated
/// byte strings; [`export_plugin!`](crate::export_plugin) passes the plugin crate's).
///
/// Panics (at compile time, in a `static`) if a string is not nul-terminated.
pub const fn table<P: Plugin>(version: &'static [u8], build_info: &'static [u8]) -> PluginTable {
    assert!(
        !version.is_empty() && version[version.len() - 1] == 0,
        "version must be nul-terminated"
    );
    assert!(
        !build_info.is_empty() && build_info[build_info.len() - 1] == 0,
        "build info must be nul-terminated"
    );
    PluginTable {
        struct_size: core::mem::size_of::<PluginTable>() as u32,
        abi_major: ABI_MAJOR,
        abi_minor: ABI_MINOR,
        flags: 0,
        name: P::NAME.as_ptr(),
        version: version.as_ptr().cast::<c_char>(),
        build_info: build_info.as_ptr().cast::<c_char>(),
        probe: Some(probe::<P>),
        device_count: Some(device_count::<P>),
        device_name: Some(device_name::<P>),
        device_open: Some(device_open::<P>),
        device_close: Some(device_close::<P>),
        supports: Some(supports::<P>),
        buffer_alloc: Some(buffer_alloc::<P>),
        buffer_free: Some(buffer_free::<P>),
        buffer_write: Some(buffer_write::<P>),
        buffer_read: Some(buffer_read::<P>),
        buffer_copy: Some(buffer_copy::<P>),
        run: Some(run::<P>),
        synchronize: Some(synchronize::<P>),
        last_error: Some(last_error::<P>),
    }
}

/// Turns a type implementing [`Plugin`] into a plugin: emits its static
/// [`PluginTable`] and the entry symbol
/// [`neurokern_plugin_entry`](crate::ENTRY_SYMBOL). Use it once, in a `cdylib` crate.
///
/// ```ignore
/// neurokern_abi::export_plugin!(CpuPlugin);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(debug_assertions)]
        const __NEUROKERN_BUILD_INFO: &[u8] = concat!(
            env!("CARGO_PKG_NAME"),
            " ",
            env!("CARGO_PKG_VERSION"),
            " (debug build)\0"
        )
        .as_bytes();
        #[cfg(not(debug_assertions))]
        const __NEUROKERN_BUILD_INFO: &[u8] = concat!(
            env!("CARGO_PKG_NAME"),
            " ",
            env!("CARGO_PKG_VERSION"),
            " (release build)\0"
        )
        .as_bytes();

        static __NEUROKERN_PLUGIN_TABLE: $crate::PluginTable = $crate::export::table::<$plugin>(
            concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
            __NEUROKERN_BUILD_INFO,
        );

        /// The neurokern plugin entry point: returns this plugin's static table.
        #[unsafe(no_mangle)]
        pub extern "C" fn neurokern_plugin_entry() -> *const $crate::PluginTable {
            &__NEUROKERN_PLUGIN_TABLE
        }
    };
}
