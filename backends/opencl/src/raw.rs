//! Safe owners of OpenCL objects (release on drop) and the few calls the backend makes,
//! each returning a typed error.

use std::ffi::{c_void, CString};
use std::ptr;

use cl_sys::*;

use crate::error::{check, status_to_error, OclError};
use crate::memory::Reservation;

/// An owned `cl_context`.
#[derive(Debug)]
pub(crate) struct Context(pub(crate) cl_context);

impl Context {
    pub(crate) fn new(platform: cl_platform_id, device: cl_device_id) -> Result<Self, OclError> {
        let props: [cl_context_properties; 3] = [
            CL_CONTEXT_PLATFORM as cl_context_properties,
            platform as cl_context_properties,
            0,
        ];
        let mut code = 0;
        // SAFETY: `props` is a zero-terminated property list, `device` a valid id of
        // `platform`, no callback; `code` receives the status.
        let ctx = unsafe {
            clCreateContext(props.as_ptr(), 1, &device, None, ptr::null_mut(), &mut code)
        };
        check(code, "clCreateContext")?;
        Ok(Context(ctx))
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: we own one reference to this context.
        unsafe { clReleaseContext(self.0) };
    }
}

/// An owned in-order `cl_command_queue`.
#[derive(Debug)]
pub(crate) struct Queue(pub(crate) cl_command_queue);

impl Queue {
    pub(crate) fn new(ctx: &Context, device: cl_device_id) -> Result<Self, OclError> {
        let mut code = 0;
        // SAFETY: valid context and device; properties 0 (in order, no profiling).
        #[allow(deprecated)]
        let q = unsafe { clCreateCommandQueue(ctx.0, device, 0, &mut code) };
        check(code, "clCreateCommandQueue")?;
        Ok(Queue(q))
    }

    pub(crate) fn finish(&self) -> Result<(), OclError> {
        // SAFETY: valid queue.
        let code = unsafe { clFinish(self.0) };
        check(code, "clFinish")
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: we own one reference to this queue; finish first so no command refers to
        // objects released after it.
        unsafe {
            clFinish(self.0);
            clReleaseCommandQueue(self.0);
        }
    }
}

/// An owned `cl_mem` (or none, for an empty buffer): the OpenCL backend's memory handle.
#[derive(Debug)]
pub struct Mem {
    pub(crate) mem: cl_mem,
    pub(crate) bytes: usize,
    /// The bytes counted against the device's memory, given back when the buffer drops
    /// (after the `cl_mem` is released: fields drop after `Drop::drop`).
    _reservation: Option<Reservation>,
}

// SAFETY: a cl_mem is a reference-counted handle that OpenCL allows to be used from any
// thread; the reservation is an atomic count.
unsafe impl Send for Mem {}
// SAFETY: as above; reads and writes go through the device's queue.
unsafe impl Sync for Mem {}

impl Mem {
    /// Size in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Mem {
    /// An empty buffer (no `cl_mem`).
    pub(crate) fn empty() -> Self {
        Mem {
            mem: ptr::null_mut(),
            bytes: 0,
            _reservation: None,
        }
    }

    /// Creates a buffer of `bytes` (not 0) with `flags`, holding `reservation` (its bytes
    /// counted against the device) for its life. Sizes over the device's `max_alloc` are
    /// refused up front with [`OclError::OutOfMemory`].
    pub(crate) fn new(
        ctx: &Context,
        bytes: usize,
        flags: cl_mem_flags,
        max_alloc: u64,
        reservation: Reservation,
    ) -> Result<Self, OclError> {
        if bytes as u64 > max_alloc {
            return Err(OclError::OutOfMemory {
                bytes,
                detail: format!(
                    "larger than the device's largest allocation (CL_DEVICE_MAX_MEM_ALLOC_SIZE = {max_alloc})"
                ),
            });
        }
        let mut code = 0;
        // SAFETY: valid context, no host pointer (the flags never ask to use or copy
        // one), nonzero size; `code` receives the status.
        let mem = unsafe { clCreateBuffer(ctx.0, flags, bytes, ptr::null_mut(), &mut code) };
        if code != CL_SUCCESS {
            return Err(status_to_error(code, "clCreateBuffer", bytes));
        }
        Ok(Mem {
            mem,
            bytes,
            _reservation: Some(reservation),
        })
    }
}

impl Drop for Mem {
    fn drop(&mut self) {
        if !self.mem.is_null() {
            // SAFETY: we own one reference; OpenCL defers the release until enqueued
            // commands that use the buffer have finished.
            unsafe { clReleaseMemObject(self.mem) };
        }
    }
}

/// An owned, built `cl_program`.
#[derive(Debug)]
pub(crate) struct Program(pub(crate) cl_program);

impl Program {
    /// Compiles `src` for `device`; a failure carries the build log.
    pub(crate) fn build(
        ctx: &Context,
        device: cl_device_id,
        name: &str,
        src: &str,
        options: &str,
    ) -> Result<Self, OclError> {
        let csrc = CString::new(src).map_err(|_| OclError::Build {
            program: name.into(),
            code: CL_INVALID_VALUE,
            log: "the source contains a NUL byte".into(),
        })?;
        let copts = CString::new(options).map_err(|_| OclError::Build {
            program: name.into(),
            code: CL_INVALID_BUILD_OPTIONS,
            log: "the options contain a NUL byte".into(),
        })?;
        // Some OpenCL compilers are not reentrant across contexts: builds are serialized
        // process-wide (they are rare: once per program and context).
        static BUILD_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let mut code = 0;
        let p_src = csrc.as_ptr();
        // SAFETY: one NUL-terminated string (lengths null), valid context.
        let prog = unsafe { clCreateProgramWithSource(ctx.0, 1, &p_src, ptr::null(), &mut code) };
        check(code, "clCreateProgramWithSource")?;
        let program = Program(prog);
        // SAFETY: valid program and device; options NUL-terminated; synchronous build.
        let code =
            unsafe { clBuildProgram(program.0, 1, &device, copts.as_ptr(), None, ptr::null_mut()) };
        if code != CL_SUCCESS {
            return Err(OclError::Build {
                program: name.into(),
                code,
                log: program.build_log(device),
            });
        }
        Ok(program)
    }

    fn build_log(&self, device: cl_device_id) -> String {
        let mut size = 0usize;
        // SAFETY: size query with a null buffer.
        let code = unsafe {
            clGetProgramBuildInfo(
                self.0,
                device,
                CL_PROGRAM_BUILD_LOG,
                0,
                ptr::null_mut(),
                &mut size,
            )
        };
        if code != CL_SUCCESS || size == 0 {
            return String::from("(no build log)");
        }
        let mut buf = vec![0u8; size];
        // SAFETY: `buf` holds `size` bytes.
        let code = unsafe {
            clGetProgramBuildInfo(
                self.0,
                device,
                CL_PROGRAM_BUILD_LOG,
                size,
                buf.as_mut_ptr().cast(),
                ptr::null_mut(),
            )
        };
        if code != CL_SUCCESS {
            return String::from("(no build log)");
        }
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { clReleaseProgram(self.0) };
    }
}

/// An owned `cl_kernel` and its work-group limit on the device.
#[derive(Debug)]
pub(crate) struct Kernel {
    pub(crate) k: cl_kernel,
    pub(crate) max_wg: usize,
}

impl Kernel {
    pub(crate) fn new(p: &Program, name: &str, device: cl_device_id) -> Result<Self, OclError> {
        let cname = CString::new(name).expect("kernel names have no NUL");
        let mut code = 0;
        // SAFETY: built program, NUL-terminated name.
        let k = unsafe { clCreateKernel(p.0, cname.as_ptr(), &mut code) };
        check(code, &format!("clCreateKernel({name})"))?;
        let kernel = Kernel { k, max_wg: 1 };
        let mut wg: usize = 0;
        // SAFETY: valid kernel and device; the value is one size_t.
        let code = unsafe {
            clGetKernelWorkGroupInfo(
                kernel.k,
                device,
                CL_KERNEL_WORK_GROUP_SIZE,
                std::mem::size_of::<usize>(),
                (&mut wg as *mut usize).cast(),
                ptr::null_mut(),
            )
        };
        check(code, "clGetKernelWorkGroupInfo")?;
        let mut kernel = kernel;
        kernel.max_wg = wg.max(1);
        Ok(kernel)
    }
}

impl Kernel {
    /// The number of arguments the kernel declares (`CL_KERNEL_NUM_ARGS`).
    pub(crate) fn num_args(&self) -> Result<u32, OclError> {
        let mut n: cl_uint = 0;
        // SAFETY: valid kernel; the value is one cl_uint.
        let code = unsafe {
            clGetKernelInfo(
                self.k,
                CL_KERNEL_NUM_ARGS,
                std::mem::size_of::<cl_uint>(),
                (&mut n as *mut cl_uint).cast(),
                ptr::null_mut(),
            )
        };
        check(code, "clGetKernelInfo(CL_KERNEL_NUM_ARGS)")?;
        Ok(n)
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { clReleaseKernel(self.k) };
    }
}

/// One kernel argument.
#[derive(Clone, Copy, Debug)]
pub(crate) enum KArg {
    /// A buffer (null for an absent optional operand; the kernel does not touch it).
    Mem(cl_mem),
    /// An `int`.
    I32(i32),
    /// A `float`.
    F32(f32),
    /// A `long`.
    I64(i64),
    /// `__local` memory of this many bytes.
    Local(usize),
}

/// Sets the arguments and enqueues `k` over `global` (work-items per dim) with optional
/// `local` sizes. A zero global size enqueues nothing.
///
/// The caller holds the backend's lock: `clSetKernelArg` on one kernel is not thread-safe.
///
/// # Safety
///
/// `args` must match the kernel's declaration in number, order and kind (an `int` for
/// [`KArg::I32`], a `long` for [`KArg::I64`], a `float`, a `__global` pointer for
/// [`KArg::Mem`] — a buffer large enough for every index the kernel computes from the
/// other arguments and the grid —, a `__local` pointer for [`KArg::Local`]); OpenCL does
/// not check the kinds, and a wrong one makes the kernel read or write out of bounds.
pub(crate) unsafe fn launch(
    q: &Queue,
    k: &Kernel,
    name: &str,
    args: &[KArg],
    global: &[usize],
    local: Option<&[usize]>,
) -> Result<(), OclError> {
    if global.contains(&0) {
        return Ok(());
    }
    for (i, a) in args.iter().enumerate() {
        let i = i as cl_uint;
        // SAFETY: each value pointer points to a live value of the size passed, of the
        // type the kernel declares for argument i (the call sites mirror the .cl
        // signatures); a null cl_mem is allowed for a __global pointer argument.
        let code = unsafe {
            match a {
                KArg::Mem(m) => clSetKernelArg(
                    k.k,
                    i,
                    std::mem::size_of::<cl_mem>(),
                    (m as *const cl_mem).cast::<c_void>(),
                ),
                KArg::I32(v) => clSetKernelArg(k.k, i, 4, (v as *const i32).cast::<c_void>()),
                KArg::F32(v) => clSetKernelArg(k.k, i, 4, (v as *const f32).cast::<c_void>()),
                KArg::I64(v) => clSetKernelArg(k.k, i, 8, (v as *const i64).cast::<c_void>()),
                KArg::Local(bytes) => clSetKernelArg(k.k, i, *bytes, ptr::null()),
            }
        };
        check(code, &format!("clSetKernelArg({name}, {i})"))?;
    }
    let dims = global.len() as cl_uint;
    let lp = local.map_or(ptr::null(), |l| l.as_ptr());
    // SAFETY: valid queue and kernel with all arguments set; `global` (and `local` when
    // given) hold `dims` entries.
    let code = unsafe {
        clEnqueueNDRangeKernel(
            q.0,
            k.k,
            dims,
            ptr::null(),
            global.as_ptr(),
            lp,
            0,
            ptr::null(),
            ptr::null_mut(),
        )
    };
    if code != CL_SUCCESS {
        return Err(status_to_error(
            code,
            &format!("clEnqueueNDRangeKernel({name})"),
            0,
        ));
    }
    Ok(())
}
