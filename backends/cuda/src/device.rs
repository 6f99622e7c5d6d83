//! [`CudaDevice`]: the [`neurokern_gpu::Device`] of one CUDA device.
//!
//! One primary context and one non-blocking stream per device; every step is queued on
//! that stream, in order. Memory is `cuMemAlloc`ed (zero-filled on the stream) and freed
//! after the stream drains. Programs (one per storage type) are compiled on first use by
//! NVRTC for the device's compute capability, through the disk cache.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use cudarc::driver::{result, sys, CudaContext, CudaFunction, CudaModule, CudaStream};
use cudarc::nvrtc::Ptx;
use neurokern_core::FloatType;
use neurokern_gpu::gemm::Gemm;
use neurokern_gpu::kernel::{Kernel, SIGNATURES};
use neurokern_gpu::{Device, Limits};
use neurokern_kernels::cuda as src;

use crate::compile::{self, Target};
use crate::error::CudaError;
use crate::guard::guard;
use crate::launch::{self, Params, Shape};
use crate::{cache, driver_ready};

/// Set to `0` to run f16 GEMMs on the FP32 cores instead of the tensor cores (to compare
/// the two on one device).
pub const TENSOR_CORES_ENV: &str = "NEUROKERN_CUDA_TENSOR_CORES";

/// One device allocation, freed (after the stream drains) on drop. Zero bytes: no
/// allocation, a null pointer no kernel dereferences.
pub struct DevMem {
    ptr: sys::CUdeviceptr,
    bytes: usize,
    stream: Arc<CudaStream>,
}

impl fmt::Debug for DevMem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DevMem({:#x}, {} bytes)", self.ptr, self.bytes)
    }
}

impl Drop for DevMem {
    fn drop(&mut self) {
        if self.ptr == 0 {
            return;
        }
        let (ptr, stream) = (self.ptr, &self.stream);
        // A failure here leaks the allocation: nothing better can be done in drop.
        let _ = guard("cuMemFree", || {
            stream
                .context()
                .bind_to_thread()
                .map_err(|e| CudaError::driver("cuCtxSetCurrent", e))?;
            // Kernels still queued may use the memory.
            stream
                .synchronize()
                .map_err(|e| CudaError::driver("cuStreamSynchronize", e))?;
            // SAFETY: allocated by cuMemAlloc in this context, freed once, no work queued.
            unsafe { result::free_sync(ptr) }.map_err(|e| CudaError::driver("cuMemFree", e))
        });
    }
}

/// A compiled program: the module and its functions by name.
#[derive(Debug)]
struct Program {
    target: Target,
    functions: HashMap<String, CudaFunction>,
    _module: Arc<CudaModule>,
}

/// One CUDA device.
pub struct CudaDevice {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    name: String,
    arch: u32,
    total_mem: usize,
    tensor_cores: bool,
    /// f32 and f16 programs, compiled on first use; a failure is kept and reported.
    programs: [OnceLock<Result<Arc<Program>, CudaError>>; 2],
}

impl fmt::Debug for CudaDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CudaDevice")
            .field("name", &self.name)
            .field("arch", &self.arch)
            .field("total_mem", &self.total_mem)
            .finish()
    }
}

impl CudaDevice {
    /// Opens device `ordinal` (after [`crate::probe`] succeeded).
    pub fn new(ordinal: usize) -> Result<Self, CudaError> {
        driver_ready()?;
        guard(format!("opening CUDA device {ordinal}"), || {
            let ctx = CudaContext::new(ordinal).map_err(|e| CudaError::driver("cuCtx", e))?;
            let name = ctx
                .name()
                .map_err(|e| CudaError::driver("cuDeviceGetName", e))?;
            let (major, minor) = ctx
                .compute_capability()
                .map_err(|e| CudaError::driver("cuDeviceGetAttribute", e))?;
            let total_mem = ctx
                .total_mem()
                .map_err(|e| CudaError::driver("cuDeviceTotalMem", e))?;
            let stream = ctx
                .new_stream()
                .map_err(|e| CudaError::driver("cuStreamCreate", e))?;
            let tensor_cores = std::env::var(TENSOR_CORES_ENV).map_or(true, |v| v != "0");
            Ok(CudaDevice {
                ctx,
                stream,
                name,
                arch: u32::try_from(major * 10 + minor).unwrap_or(0),
                total_mem,
                tensor_cores,
                programs: [OnceLock::new(), OnceLock::new()],
            })
        })
    }

    /// Compute capability × 10 + minor (`90` on Hopper).
    pub fn arch(&self) -> u32 {
        self.arch
    }

    /// Compiles (or loads from the cache) both programs now, instead of at first use.
    pub fn warm_up(&self) -> Result<(), CudaError> {
        self.program(FloatType::F32)?;
        self.program(FloatType::F16)?;
        Ok(())
    }

    fn bind(&self) -> Result<(), CudaError> {
        self.ctx
            .bind_to_thread()
            .map_err(|e| CudaError::driver("cuCtxSetCurrent", e))
    }

    fn program(&self, dtype: FloatType) -> Result<Arc<Program>, CudaError> {
        let half = dtype == FloatType::F16;
        self.programs[usize::from(half)]
            .get_or_init(|| self.build(half).map(Arc::new))
            .clone()
    }

    fn build(&self, half: bool) -> Result<Program, CudaError> {
        let target = compile::target_for(self.arch)?;
        let source = src::program_source(half);
        let key = cache::key(&source, target, compile::version()?);
        let name = if half {
            "neurokern_f16.cu"
        } else {
            "neurokern_f32.cu"
        };
        let mut names: Vec<String> = SIGNATURES.iter().map(|s| s.name.to_string()).collect();
        names.extend(src::gemm_names(half, target.arch));
        if let Some(image) = cache::load(&key) {
            match self.load(target, image, &names) {
                Ok(p) => return Ok(p),
                Err(_) => cache::evict(&key),
            }
        }
        let image = compile::compile(&source, name, target)?;
        cache::store(&key, &image);
        self.load(target, image, &names)
    }

    fn load(&self, target: Target, image: Vec<u8>, names: &[String]) -> Result<Program, CudaError> {
        guard("loading the CUDA module", || {
            self.bind()?;
            let module = self
                .ctx
                .load_module(Ptx::from_binary(image))
                .map_err(|e| CudaError::driver("cuModuleLoadData", e))?;
            let mut functions = HashMap::new();
            for n in names {
                let f = module
                    .load_function(n)
                    .map_err(|e| CudaError::driver(format!("cuModuleGetFunction {n}"), e))?;
                functions.insert(n.clone(), f);
            }
            Ok(Program {
                target,
                functions,
                _module: module,
            })
        })
    }

    fn run(
        &self,
        p: &Program,
        name: &str,
        shape: Shape,
        mut params: Params,
    ) -> Result<(), CudaError> {
        let f = p.functions.get(name).ok_or_else(|| CudaError::Signature {
            kernel: "launch",
            what: format!("kernel `{name}` is not in the program"),
        })?;
        guard(format!("launching {name}"), || {
            self.bind()?;
            let mut ptrs = params.pointers();
            // SAFETY: the function belongs to a live module of this context; the
            // parameters match its declaration in kind, size and order (built from the
            // table's signature or the GEMM's fixed list, both tested against the
            // sources); every pointer is a live allocation of this context or null where
            // the kernel does not read it; `params` outlives the call, which copies them.
            unsafe {
                result::launch_kernel(
                    f.cu_function(),
                    shape.grid,
                    shape.block,
                    0,
                    self.stream.cu_stream(),
                    &mut ptrs,
                )
            }
            .map_err(|e| CudaError::driver(format!("cuLaunchKernel {name}"), e))
        })
    }
}

fn i32_arg(kernel: &'static str, arg: &'static str, v: usize) -> Result<i32, CudaError> {
    i32::try_from(v).map_err(|_| CudaError::TooLarge {
        kernel,
        arg,
        value: v,
    })
}

fn i64_arg(kernel: &'static str, arg: &'static str, v: usize) -> Result<i64, CudaError> {
    i64::try_from(v).map_err(|_| CudaError::TooLarge {
        kernel,
        arg,
        value: v,
    })
}

impl Device for CudaDevice {
    type Mem = DevMem;
    type Error = CudaError;

    fn name(&self) -> &str {
        &self.name
    }

    fn limits(&self) -> Limits {
        let total = self.total_mem as u64;
        Limits {
            max_alloc: total,
            score_budget: total / 4,
        }
    }

    fn alloc(&self, bytes: usize) -> Result<DevMem, CudaError> {
        if bytes == 0 {
            return Ok(DevMem {
                ptr: 0,
                bytes,
                stream: self.stream.clone(),
            });
        }
        guard("cuMemAlloc", || {
            self.bind()?;
            // SAFETY: a plain allocation in the bound context.
            let ptr = unsafe { result::malloc_sync(bytes) }
                .map_err(|e| CudaError::driver(format!("cuMemAlloc of {bytes} bytes"), e))?;
            let mem = DevMem {
                ptr,
                bytes,
                stream: self.stream.clone(),
            };
            // SAFETY: `ptr` holds `bytes` bytes; ordered before any later use on the stream.
            unsafe { result::memset_d8_async(ptr, 0, bytes, self.stream.cu_stream()) }
                .map_err(|e| CudaError::driver("cuMemsetD8Async", e))?;
            Ok(mem)
        })
    }

    fn write(&self, dst: &DevMem, src: &[u8]) -> Result<(), CudaError> {
        guard("cuMemcpyHtoD", || {
            self.bind()?;
            // SAFETY: the skeleton checked `src.len()` against the buffer's size; the
            // stream is synchronized before `src` is released.
            unsafe { result::memcpy_htod_async(dst.ptr, src, self.stream.cu_stream()) }
                .map_err(|e| CudaError::driver("cuMemcpyHtoDAsync", e))?;
            self.stream
                .synchronize()
                .map_err(|e| CudaError::driver("cuStreamSynchronize", e))
        })
    }

    fn read(&self, src: &DevMem, dst: &mut [u8]) -> Result<(), CudaError> {
        guard("cuMemcpyDtoH", || {
            self.bind()?;
            // SAFETY: as in `write`; `dst` is written before the synchronize returns.
            unsafe { result::memcpy_dtoh_async(dst, src.ptr, self.stream.cu_stream()) }
                .map_err(|e| CudaError::driver("cuMemcpyDtoHAsync", e))?;
            self.stream
                .synchronize()
                .map_err(|e| CudaError::driver("cuStreamSynchronize", e))
        })
    }

    fn copy(&self, src: &DevMem, dst: &DevMem, bytes: usize) -> Result<(), CudaError> {
        guard("cuMemcpyDtoD", || {
            self.bind()?;
            // SAFETY: both allocations hold at least `bytes` (checked by the skeleton).
            unsafe { result::memcpy_dtod_async(dst.ptr, src.ptr, bytes, self.stream.cu_stream()) }
                .map_err(|e| CudaError::driver("cuMemcpyDtoDAsync", e))
        })
    }

    fn gemm(
        &self,
        dtype: FloatType,
        g: &Gemm<&DevMem>,
        _work: [Option<&DevMem>; 2],
    ) -> Result<(), CudaError> {
        let p = self.program(dtype)?;
        let tc = dtype == FloatType::F16 && self.tensor_cores && p.target.arch >= src::MMA_MIN_ARCH;
        let name = src::gemm_name(tc, g.a.trans, g.b.trans, g.c_f32);
        const K: &str = "gemm";
        let mut params = Params::new();
        params
            .i32(i32_arg(K, "m", g.m)?)
            .i32(i32_arg(K, "n", g.n)?)
            .i32(i32_arg(K, "k", g.k)?)
            .ptr(g.a.buf.ptr)
            .i32(i32_arg(K, "lda", g.a.ld)?)
            .i64(i64_arg(K, "a.stride", g.a.stride)?)
            .ptr(g.b.buf.ptr)
            .i32(i32_arg(K, "ldb", g.b.ld)?)
            .i64(i64_arg(K, "b.stride", g.b.stride)?)
            .ptr(g.c.buf.ptr)
            .i32(i32_arg(K, "ldc", g.c.ld)?)
            .i64(i64_arg(K, "c.stride", g.c.stride)?)
            .f32(g.alpha)
            .f32(g.beta)
            .i32(i32::from(g.accumulate))
            .i32(i32_arg(K, "batch", g.batch)?);
        let (tm, tn) = src::GEMM_TILE;
        let shape = Shape {
            grid: (
                g.n.div_ceil(tn as usize).clamp(1, (1 << 31) - 1) as u32,
                g.m.div_ceil(tm as usize).clamp(1, 65_535) as u32,
                g.batch.clamp(1, 65_535) as u32,
            ),
            block: (src::GEMM_THREADS, 1, 1),
        };
        self.run(&p, &name, shape, params)
    }

    fn launch(&self, dtype: FloatType, k: &Kernel<&DevMem>) -> Result<(), CudaError> {
        let p = self.program(dtype)?;
        let params = launch::table_params(k, |m| m.ptr)?;
        self.run(&p, k.name(), launch::shape(k), params)
    }

    fn synchronize(&self) -> Result<(), CudaError> {
        guard("cuStreamSynchronize", || {
            self.bind()?;
            self.stream
                .synchronize()
                .map_err(|e| CudaError::driver("cuStreamSynchronize", e))
        })
    }
}
