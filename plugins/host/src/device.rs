//! [`Device`]: one opened device of a plugin, implementing core's [`Backend`] through the
//! C ABI; [`Buffer`]: its device allocation; [`Tensor`]: a buffer with a shape.

use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use neurokern_abi::{NkBuffer, NkDevice, NkOp};
use neurokern_core::backend::check_call;
use neurokern_core::operand::MAX_OPERANDS;
use neurokern_core::{f16, Backend, DeviceBuffer, ElemType, FloatType, Op, OpKind};

use crate::error::{Error, Result};
use crate::plugin::Plugin;

static SERIAL: AtomicU64 = AtomicU64::new(1);

pub(crate) struct DeviceInner {
    plugin: Arc<Plugin>,
    raw: NonNull<NkDevice>,
    index: usize,
    name: String,
    label: String,
    caps: Vec<[bool; 2]>,
}

// SAFETY: the ABI contract makes every entry point callable from any thread, concurrently
// (ABI.md, "Threads"); the device handle is only ever passed back to its plugin.
unsafe impl Send for DeviceInner {}
// SAFETY: as for `Send`: shared use only calls thread-safe entry points.
unsafe impl Sync for DeviceInner {}

impl Drop for DeviceInner {
    fn drop(&mut self) {
        // Every buffer holds an `Arc` of its device, so all are freed by now.
        // SAFETY: a live handle of this plugin, given up here and never used again.
        let s = unsafe { (self.plugin.fns.device_close)(self.raw.as_ptr()) };
        let _ = self.plugin.check("device_close", s);
    }
}

/// One device of a loaded plugin. Cheap to clone (a reference-counted handle); the device
/// is closed when the last clone and the last of its buffers are dropped.
///
/// `Device` implements [`neurokern_core::Backend`] (buffers: [`Buffer`]), so anything
/// generic over `Backend` — the conformance suite — runs on it. It validates every call
/// with [`neurokern_core::backend::check_call`] before it crosses the ABI, so a rejected
/// call gives the same [`neurokern_core::Error`] (wrapped in [`Error::Invalid`]) as the
/// reference. It also has a typed method for every op (see [`crate::ops`]).
///
/// `Device` is `Send + Sync`: the ABI requires plugins to accept calls from any thread.
#[derive(Clone)]
pub struct Device {
    pub(crate) inner: Arc<DeviceInner>,
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("label", &self.inner.label)
            .field("name", &self.inner.name)
            .field("plugin", &self.inner.plugin.name())
            .finish()
    }
}

pub(crate) fn open(plugin: &Arc<Plugin>, index: usize) -> Result<Device> {
    let idx = u32::try_from(index).map_err(|_| Error::NoSuchDevice {
        wanted: format!("{}:{index}", plugin.name()),
        available: format!(
            "plugin `{}` has {}",
            plugin.name(),
            crate::runtime::count(plugin.device_names().len(), "device")
        ),
    })?;
    let name = plugin
        .device_names()
        .get(index)
        .cloned()
        .ok_or_else(|| Error::NoSuchDevice {
            wanted: format!("{}:{index}", plugin.name()),
            available: format!(
                "plugin `{}` has {}",
                plugin.name(),
                crate::runtime::count(plugin.device_names().len(), "device")
            ),
        })?;
    let mut raw: *mut NkDevice = std::ptr::null_mut();
    // SAFETY: a checked entry point; `raw` is a valid out pointer.
    plugin.check("device_open", unsafe {
        (plugin.fns.device_open)(idx, &mut raw)
    })?;
    let raw = NonNull::new(raw).ok_or_else(|| Error::Plugin {
        plugin: plugin.name().to_string(),
        path: plugin.path().to_path_buf(),
        entry: "device_open",
        status: neurokern_abi::Status::OK,
        message: "returned OK but a null device handle".into(),
    })?;
    let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
    let mut inner = DeviceInner {
        plugin: plugin.clone(),
        raw,
        index,
        label: format!("{}:{index} {name} #{serial}", plugin.name()),
        name,
        caps: Vec::new(),
    };
    let mut caps = Vec::with_capacity(OpKind::ALL.len());
    for &k in OpKind::ALL {
        let mut row = [false; 2];
        for t in FloatType::ALL {
            let mut yes = 0u32;
            // SAFETY: a live handle of this plugin; `yes` is a valid out pointer.
            let s = unsafe { (plugin.fns.supports)(raw.as_ptr(), k as u32, t as u32, &mut yes) };
            plugin.check("supports", s)?;
            row[t as usize] = yes != 0;
        }
        caps.push(row);
    }
    inner.caps = caps;
    Ok(Device {
        inner: Arc::new(inner),
    })
}

impl Device {
    /// The device's name as its plugin reports it (`"reference"`).
    pub fn name(&self) -> &str {
        &self.inner.name
    }
    /// The plugin (backend) this device belongs to.
    pub fn plugin(&self) -> &Plugin {
        &self.inner.plugin
    }
    /// The plugin's name (`"cpu"`, `"opencl"`).
    pub fn backend_name(&self) -> &str {
        self.inner.plugin.name()
    }
    /// Its index in the plugin's device list.
    pub fn index(&self) -> usize {
        self.inner.index
    }
    /// A label unique in this process: `plugin:index name #instance`.
    pub fn label(&self) -> &str {
        &self.inner.label
    }
    /// The capability matrix: `(kind, dtype)` pairs the device runs.
    pub fn capabilities(&self) -> Vec<(OpKind, FloatType)> {
        let mut v = Vec::new();
        for (&k, row) in OpKind::ALL.iter().zip(&self.inner.caps) {
            for t in FloatType::ALL {
                if row[t as usize] {
                    v.push((k, t));
                }
            }
        }
        v
    }
    /// True when the two values are the same opened device.
    pub fn same_device(&self, other: &Device) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    fn owns(&self, b: &Buffer) -> bool {
        Arc::ptr_eq(&self.inner, &b.device)
    }

    fn foreign(&self, op: &'static str, operand: &'static str, b: &Buffer) -> Error {
        Error::WrongDevice {
            op,
            operand,
            expected: self.inner.label.clone(),
            got: b.device.label.clone(),
        }
    }

    fn plugin_check(&self, entry: &'static str, s: neurokern_abi::Status) -> Result<()> {
        self.inner.plugin.check(entry, s)
    }

    /// Waits until all work submitted to the device has finished (the same as
    /// [`Backend::synchronize`], without importing the trait).
    pub fn synchronize(&self) -> Result<()> {
        <Device as Backend>::synchronize(self)
    }

    /// A zero-filled tensor of `shape`.
    pub fn zeros(&self, elem: ElemType, shape: &[usize]) -> Result<Tensor> {
        let len = numel(shape).ok_or_else(|| Error::Shape {
            op: "alloc",
            operand: "tensor",
            expected: "a shape whose element count fits usize".into(),
            got: shape.to_vec(),
        })?;
        Ok(Tensor {
            buf: self.alloc(elem, len)?,
            shape: shape.to_vec(),
        })
    }

    /// A tensor of `shape` holding `data` (row-major).
    pub fn upload<T: Element>(&self, shape: &[usize], data: &[T]) -> Result<Tensor> {
        let t = self.zeros(T::ELEM, shape)?;
        t.write(data)?;
        Ok(t)
    }
}

/// Element types a tensor can hold on the host side: `f32`, [`f16`](struct@f16), `i32`.
pub trait Element: Copy + Default + Send + Sync + 'static + private::Sealed {
    /// The matching element type.
    const ELEM: ElemType;
}
impl Element for f32 {
    const ELEM: ElemType = ElemType::F32;
}
impl Element for f16 {
    const ELEM: ElemType = ElemType::F16;
}
impl Element for i32 {
    const ELEM: ElemType = ElemType::I32;
}
mod private {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for super::f16 {}
    impl Sealed for i32 {}
}

fn bytes_of<T: Element>(v: &[T]) -> &[u8] {
    // SAFETY: `T` is f32, f16 or i32 (sealed): no padding, every byte initialized; u8 has
    // alignment 1 and the length covers exactly the slice.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

fn bytes_of_mut<T: Element>(v: &mut [T]) -> &mut [u8] {
    // SAFETY: as in `bytes_of`; every bit pattern is a valid f32, f16 or i32.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

pub(crate) fn numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// A device allocation of a [`Device`]: element type, length, and the plugin's handle.
/// Freed on drop. Keeps its device alive.
pub struct Buffer {
    device: Arc<DeviceInner>,
    raw: NonNull<NkBuffer>,
    elem: ElemType,
    len: usize,
}

// SAFETY: the handle is only passed back to its plugin, whose entry points are
// thread-safe by the ABI contract.
unsafe impl Send for Buffer {}
// SAFETY: as for `Send`.
unsafe impl Sync for Buffer {}

impl fmt::Debug for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Buffer")
            .field("device", &self.device.label)
            .field("elem", &self.elem)
            .field("len", &self.len)
            .finish()
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: live handles of this plugin; the buffer is given up here.
        let s = unsafe {
            (self.device.plugin.fns.buffer_free)(self.device.raw.as_ptr(), self.raw.as_ptr())
        };
        let _ = self.device.plugin.check("buffer_free", s);
    }
}

impl DeviceBuffer for Buffer {
    fn elem(&self) -> ElemType {
        self.elem
    }
    fn len(&self) -> usize {
        self.len
    }
    fn id(&self) -> usize {
        self.raw.as_ptr() as usize
    }
}

impl Backend for Device {
    type Buffer = Buffer;
    type Error = Error;

    fn device_name(&self) -> &str {
        &self.inner.name
    }

    fn supports(&self, kind: OpKind, dtype: FloatType) -> bool {
        self.inner.caps[kind_index(kind)][dtype as usize]
    }

    fn alloc(&self, elem: ElemType, len: usize) -> Result<Buffer> {
        let mut raw: *mut NkBuffer = std::ptr::null_mut();
        // SAFETY: a live device handle of this plugin; `raw` is a valid out pointer.
        let s = unsafe {
            (self.inner.plugin.fns.buffer_alloc)(
                self.inner.raw.as_ptr(),
                elem as u32,
                len as u64,
                &mut raw,
            )
        };
        self.plugin_check("buffer_alloc", s)?;
        let raw = NonNull::new(raw).ok_or_else(|| Error::Plugin {
            plugin: self.backend_name().to_string(),
            path: self.plugin().path().to_path_buf(),
            entry: "buffer_alloc",
            status: neurokern_abi::Status::OK,
            message: "returned OK but a null buffer handle".into(),
        })?;
        Ok(Buffer {
            device: self.inner.clone(),
            raw,
            elem,
            len,
        })
    }

    fn write(&self, buf: &Buffer, src: &[u8]) -> Result<()> {
        if !self.owns(buf) {
            return Err(self.foreign("write", "buf", buf));
        }
        // SAFETY: live handles of this plugin; `src` is valid for `src.len()` bytes.
        let s = unsafe {
            (self.inner.plugin.fns.buffer_write)(
                self.inner.raw.as_ptr(),
                buf.raw.as_ptr(),
                src.as_ptr(),
                src.len(),
            )
        };
        self.plugin_check("buffer_write", s)
    }

    fn read(&self, buf: &Buffer, dst: &mut [u8]) -> Result<()> {
        if !self.owns(buf) {
            return Err(self.foreign("read", "buf", buf));
        }
        // SAFETY: live handles of this plugin; `dst` is valid for `dst.len()` bytes of
        // writes and not otherwise borrowed.
        let s = unsafe {
            (self.inner.plugin.fns.buffer_read)(
                self.inner.raw.as_ptr(),
                buf.raw.as_ptr(),
                dst.as_mut_ptr(),
                dst.len(),
            )
        };
        self.plugin_check("buffer_read", s)
    }

    fn copy(&self, src: &Buffer, dst: &Buffer) -> Result<()> {
        if !self.owns(src) {
            return Err(self.foreign("copy", "src", src));
        }
        if !self.owns(dst) {
            return Err(self.foreign("copy", "dst", dst));
        }
        // SAFETY: live handles of this plugin.
        let s = unsafe {
            (self.inner.plugin.fns.buffer_copy)(
                self.inner.raw.as_ptr(),
                src.raw.as_ptr(),
                dst.raw.as_ptr(),
            )
        };
        self.plugin_check("buffer_copy", s)
    }

    fn run(&self, op: &Op, dtype: FloatType, args: &[Option<&Buffer>]) -> Result<()> {
        let operands = op.operands()?;
        for (i, b) in args.iter().enumerate() {
            if let Some(b) = b {
                if !self.owns(b) {
                    let name = operands
                        .as_slice()
                        .get(i)
                        .map_or("extra argument", |s| s.name);
                    return Err(self.foreign(op.name(), name, b));
                }
            }
        }
        check_call(op, dtype, args)?;
        if !self.supports(op.kind(), dtype) {
            return Err(neurokern_core::Error::Unsupported {
                op: op.name(),
                dtype,
            }
            .into());
        }
        let mut raw = [std::ptr::null_mut::<NkBuffer>(); MAX_OPERANDS];
        for (r, b) in raw.iter_mut().zip(args) {
            if let Some(b) = b {
                *r = b.raw.as_ptr();
            }
        }
        let desc = NkOp::from_op(op);
        // SAFETY: live handles of this plugin; `desc` and `raw` outlive the call;
        // `args.len() ≤ MAX_OPERANDS` (checked by `check_call`).
        let s = unsafe {
            (self.inner.plugin.fns.run)(
                self.inner.raw.as_ptr(),
                &desc,
                dtype as u32,
                raw.as_ptr(),
                args.len() as u32,
            )
        };
        self.plugin_check("run", s)
    }

    fn synchronize(&self) -> Result<()> {
        // SAFETY: a live device handle of this plugin.
        let s = unsafe { (self.inner.plugin.fns.synchronize)(self.inner.raw.as_ptr()) };
        self.plugin_check("synchronize", s)
    }
}

fn kind_index(kind: OpKind) -> usize {
    OpKind::ALL.iter().position(|&k| k == kind).unwrap_or(0)
}

/// A tensor: a device [`Buffer`] with a row-major shape. The element type is the
/// buffer's.
///
/// `Tensor` is `Send + Sync`. Ops take outputs as `&mut Tensor`, so Rust's borrow rules
/// keep a tensor from being written by two calls at once through the typed API.
pub struct Tensor {
    buf: Buffer,
    shape: Vec<usize>,
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tensor")
            .field("shape", &self.shape)
            .field("elem", &self.buf.elem)
            .field("device", &self.buf.device.label)
            .finish()
    }
}

impl Tensor {
    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// The element type.
    pub fn elem(&self) -> ElemType {
        self.buf.elem
    }
    /// The element count.
    pub fn len(&self) -> usize {
        self.buf.len
    }
    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.buf.len == 0
    }
    /// The device buffer.
    pub fn buffer(&self) -> &Buffer {
        &self.buf
    }
    /// The device it lives on.
    pub fn device(&self) -> Device {
        Device {
            inner: self.buf.device.clone(),
        }
    }
    /// The same data under another shape with the same element count.
    pub fn reshape(mut self, shape: &[usize]) -> Result<Tensor> {
        if numel(shape) != Some(self.len()) {
            return Err(Error::Shape {
                op: "reshape",
                operand: "tensor",
                expected: format!("a shape of {} elements", self.len()),
                got: shape.to_vec(),
            });
        }
        self.shape = shape.to_vec();
        Ok(self)
    }

    fn check_host<T: Element>(&self, what: &'static str, n: usize) -> Result<()> {
        if T::ELEM != self.elem() {
            return Err(Error::ElemType {
                op: what,
                operand: "tensor",
                expected: T::ELEM.name(),
                got: self.elem(),
            });
        }
        if n != self.len() {
            return Err(Error::HostLength {
                what,
                expected: self.len(),
                got: n,
                elem: self.elem(),
            });
        }
        Ok(())
    }

    /// Copies host data in (same element type, same element count).
    pub fn write<T: Element>(&self, data: &[T]) -> Result<()> {
        self.check_host::<T>("upload", data.len())?;
        self.device().write(&self.buf, bytes_of(data))
    }

    /// Copies the data out into a new vector.
    pub fn download<T: Element>(&self) -> Result<Vec<T>> {
        let mut v = vec![T::default(); self.len()];
        self.read_into(&mut v)?;
        Ok(v)
    }

    /// Copies the data out into `dst` (same element type, same element count).
    pub fn read_into<T: Element>(&self, dst: &mut [T]) -> Result<()> {
        self.check_host::<T>("download", dst.len())?;
        self.device().read(&self.buf, bytes_of_mut(dst))
    }

    /// Copies `src` (same device, element type and element count) into this tensor.
    pub fn copy_from(&mut self, src: &Tensor) -> Result<()> {
        self.device().copy(&src.buf, &self.buf)
    }
}
