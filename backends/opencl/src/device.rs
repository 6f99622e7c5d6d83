//! Platforms and devices: enumeration, the properties the backend queries (nothing is
//! assumed of any implementation), selection by index or name, and `probe`.

use std::ffi::c_void;
use std::ptr;

use cl_sys::*;

use crate::error::{check, OclError};

/// What the backend knows of one device.
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    /// Position in [`devices`] (all platforms' devices, platform by platform).
    pub index: usize,
    /// Platform index.
    pub platform_index: usize,
    /// Platform name.
    pub platform: String,
    /// Device name.
    pub name: String,
    /// `CL_DEVICE_VERSION`.
    pub version: String,
    /// `CL_DEVICE_OPENCL_C_VERSION`.
    pub c_version: String,
    /// `CL_DRIVER_VERSION`: what a tuned plan is valid for.
    pub driver_version: String,
    /// True for `CL_DEVICE_TYPE_CPU`.
    pub is_cpu: bool,
    /// Compute units.
    pub compute_units: u32,
    /// `CL_DEVICE_MAX_WORK_GROUP_SIZE`.
    pub max_work_group: usize,
    /// `CL_DEVICE_MAX_WORK_ITEM_SIZES`.
    pub max_work_item_sizes: [usize; 3],
    /// `CL_DEVICE_LOCAL_MEM_SIZE` in bytes.
    pub local_mem: u64,
    /// `CL_DEVICE_GLOBAL_MEM_SIZE` in bytes.
    pub global_mem: u64,
    /// `CL_DEVICE_MAX_MEM_ALLOC_SIZE` in bytes.
    pub max_alloc: u64,
    /// `CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT`.
    pub preferred_float_width: u32,
    /// `CL_DEVICE_SINGLE_FP_CONFIG` includes correctly rounded divide and sqrt.
    pub correctly_rounded_div_sqrt: bool,
    /// `CL_DEVICE_SINGLE_FP_CONFIG` includes denormals.
    pub denormals: bool,
    /// `CL_DEVICE_SINGLE_FP_CONFIG` includes fma.
    pub fma: bool,
    /// The extension list.
    pub extensions: String,
    /// Available and with a compiler.
    pub available: bool,
    /// A compiler is available.
    pub compiler: bool,
    pub(crate) platform_id: cl_platform_id,
    pub(crate) id: cl_device_id,
}

// SAFETY: platform and device ids are plain handles owned by the ICD; OpenCL allows using
// them from any thread.
unsafe impl Send for DeviceInfo {}
// SAFETY: as above; the struct is read-only after construction.
unsafe impl Sync for DeviceInfo {}

impl DeviceInfo {
    /// True when the device lists `ext`.
    pub fn has_extension(&self, ext: &str) -> bool {
        self.extensions.split_whitespace().any(|e| e == ext)
    }

    /// What is missing for the backend to run here (empty: it can run).
    pub fn missing(&self) -> Vec<String> {
        let mut m = Vec::new();
        if !self.available {
            m.push("the device is not available".to_string());
        }
        if !self.compiler {
            m.push("the device has no OpenCL C compiler (programs are built from source)".into());
        }
        let v = parse_version(&self.version);
        if v < (1, 2) {
            m.push(format!(
                "OpenCL 1.2 or newer is needed (clEnqueueFillBuffer), the device has `{}`",
                self.version
            ));
        }
        if self.max_work_group < 1 {
            m.push("the device reports a maximum work-group size of 0".into());
        }
        m
    }
}

fn parse_version(v: &str) -> (u32, u32) {
    // "OpenCL <major>.<minor> <vendor>"
    let num = v.split_whitespace().nth(1).unwrap_or("0.0");
    let mut it = num.split('.');
    let major = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let minor = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    (major, minor)
}

fn platform_ids() -> Result<Vec<cl_platform_id>, OclError> {
    let mut n: cl_uint = 0;
    // SAFETY: querying the count only: null output array with 0 entries is allowed.
    let code = unsafe { clGetPlatformIDs(0, ptr::null_mut(), &mut n) };
    if code == -1001 || n == 0 {
        return Err(OclError::NoDevice(
            "no OpenCL platform (is an ICD installed, e.g. pocl-opencl-icd?)".into(),
        ));
    }
    check(code, "clGetPlatformIDs")?;
    let mut ids = vec![ptr::null_mut(); n as usize];
    check(
        // SAFETY: `ids` has room for `n` entries.
        unsafe { clGetPlatformIDs(n, ids.as_mut_ptr(), ptr::null_mut()) },
        "clGetPlatformIDs",
    )?;
    Ok(ids)
}

fn device_ids(p: cl_platform_id) -> Result<Vec<cl_device_id>, OclError> {
    let mut n: cl_uint = 0;
    // SAFETY: count query with a null array.
    let code = unsafe { clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, ptr::null_mut(), &mut n) };
    if code == CL_DEVICE_NOT_FOUND || n == 0 {
        return Ok(Vec::new());
    }
    check(code, "clGetDeviceIDs")?;
    let mut ids = vec![ptr::null_mut(); n as usize];
    check(
        // SAFETY: `ids` has room for `n` entries.
        unsafe { clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, n, ids.as_mut_ptr(), ptr::null_mut()) },
        "clGetDeviceIDs",
    )?;
    Ok(ids)
}

fn platform_string(p: cl_platform_id, param: cl_platform_info) -> String {
    let mut size = 0usize;
    // SAFETY: size query with a null buffer.
    if unsafe { clGetPlatformInfo(p, param, 0, ptr::null_mut(), &mut size) } != CL_SUCCESS {
        return String::new();
    }
    let mut buf = vec![0u8; size];
    // SAFETY: `buf` holds `size` bytes.
    let code =
        unsafe { clGetPlatformInfo(p, param, size, buf.as_mut_ptr().cast(), ptr::null_mut()) };
    if code != CL_SUCCESS {
        return String::new();
    }
    cstr(&buf)
}

fn cstr(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).trim().to_string()
}

pub(crate) fn device_string(d: cl_device_id, param: cl_device_info) -> String {
    let mut size = 0usize;
    // SAFETY: size query with a null buffer.
    if unsafe { clGetDeviceInfo(d, param, 0, ptr::null_mut(), &mut size) } != CL_SUCCESS {
        return String::new();
    }
    let mut buf = vec![0u8; size];
    // SAFETY: `buf` holds `size` bytes.
    let code = unsafe { clGetDeviceInfo(d, param, size, buf.as_mut_ptr().cast(), ptr::null_mut()) };
    if code != CL_SUCCESS {
        return String::new();
    }
    cstr(&buf)
}

/// Reads a fixed-size device property (`T` must be the property's C type).
fn device_value<T: Copy + Default>(d: cl_device_id, param: cl_device_info) -> T {
    let mut v = T::default();
    // SAFETY: `v` is a `T` the size passed; the caller names a property of that C type.
    let code = unsafe {
        clGetDeviceInfo(
            d,
            param,
            std::mem::size_of::<T>(),
            (&mut v as *mut T).cast::<c_void>(),
            ptr::null_mut(),
        )
    };
    if code == CL_SUCCESS {
        v
    } else {
        T::default()
    }
}

/// Every device of every platform, in platform order. Enumerated once per process (ICD
/// loaders and drivers initialize lazily and are not all safe to enumerate concurrently);
/// a failure is not cached.
pub fn devices() -> Result<Vec<DeviceInfo>, OclError> {
    static CACHE: std::sync::Mutex<Option<Vec<DeviceInfo>>> = std::sync::Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(list) = cache.as_ref() {
        return Ok(list.clone());
    }
    let list = enumerate()?;
    *cache = Some(list.clone());
    Ok(list)
}

fn enumerate() -> Result<Vec<DeviceInfo>, OclError> {
    let mut out = Vec::new();
    for (pi, p) in platform_ids()?.into_iter().enumerate() {
        let pname = platform_string(p, CL_PLATFORM_NAME);
        for d in device_ids(p)? {
            let ty: cl_device_type = device_value(d, CL_DEVICE_TYPE);
            let fp: cl_device_fp_config = device_value(d, CL_DEVICE_SINGLE_FP_CONFIG);
            let mut sizes = [0usize; 3];
            // SAFETY: CL_DEVICE_MAX_WORK_ITEM_SIZES is size_t[dims]; we pass room for 3
            // and ignore a failure (dims > 3 reports CL_INVALID_VALUE, then we keep 0s).
            let _ = unsafe {
                clGetDeviceInfo(
                    d,
                    CL_DEVICE_MAX_WORK_ITEM_SIZES,
                    std::mem::size_of_val(&sizes),
                    sizes.as_mut_ptr().cast(),
                    ptr::null_mut(),
                )
            };
            let available: cl_bool = device_value(d, CL_DEVICE_AVAILABLE);
            let compiler: cl_bool = device_value(d, CL_DEVICE_COMPILER_AVAILABLE);
            out.push(DeviceInfo {
                index: out.len(),
                platform_index: pi,
                platform: pname.clone(),
                name: device_string(d, CL_DEVICE_NAME),
                version: device_string(d, CL_DEVICE_VERSION),
                c_version: device_string(d, CL_DEVICE_OPENCL_C_VERSION),
                driver_version: device_string(d, CL_DRIVER_VERSION),
                is_cpu: ty & CL_DEVICE_TYPE_CPU != 0,
                compute_units: device_value(d, CL_DEVICE_MAX_COMPUTE_UNITS),
                max_work_group: device_value(d, CL_DEVICE_MAX_WORK_GROUP_SIZE),
                max_work_item_sizes: sizes,
                local_mem: device_value(d, CL_DEVICE_LOCAL_MEM_SIZE),
                global_mem: device_value(d, CL_DEVICE_GLOBAL_MEM_SIZE),
                max_alloc: device_value(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE),
                preferred_float_width: device_value(d, CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT),
                correctly_rounded_div_sqrt: fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT != 0,
                denormals: fp & CL_FP_DENORM != 0,
                fma: fp & CL_FP_FMA != 0,
                extensions: device_string(d, CL_DEVICE_EXTENSIONS),
                available: available != 0,
                compiler: compiler != 0,
                platform_id: p,
                id: d,
            });
        }
    }
    Ok(out)
}

/// How to pick a device.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DeviceSelector {
    /// `NEUROKERN_OPENCL_DEVICE` if set (an index or a name fragment), else the first
    /// device that can run (GPUs before other devices).
    #[default]
    Default,
    /// The device at this position of [`devices`].
    Index(usize),
    /// The first device whose platform or device name contains this (case-insensitive).
    Name(String),
}

impl DeviceSelector {
    /// Parses `"3"` as an index and anything else as a name fragment.
    pub fn parse(s: &str) -> Self {
        match s.trim().parse::<usize>() {
            Ok(i) => DeviceSelector::Index(i),
            Err(_) => DeviceSelector::Name(s.trim().to_string()),
        }
    }
}

/// Picks one device.
pub fn select(sel: &DeviceSelector) -> Result<DeviceInfo, OclError> {
    let all = devices()?;
    if all.is_empty() {
        return Err(OclError::NoDevice(
            "OpenCL platforms were found but they have no devices".into(),
        ));
    }
    let listing = || {
        all.iter()
            .map(|d| format!("#{} {} / {}", d.index, d.platform, d.name))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let sel = match sel {
        DeviceSelector::Default => match std::env::var("NEUROKERN_OPENCL_DEVICE") {
            Ok(s) if !s.trim().is_empty() => DeviceSelector::parse(&s),
            _ => DeviceSelector::Default,
        },
        other => other.clone(),
    };
    let found = match &sel {
        DeviceSelector::Index(i) => all.get(*i).cloned(),
        DeviceSelector::Name(n) => {
            let n = n.to_lowercase();
            all.iter()
                .find(|d| {
                    d.name.to_lowercase().contains(&n) || d.platform.to_lowercase().contains(&n)
                })
                .cloned()
        }
        DeviceSelector::Default => all
            .iter()
            .filter(|d| d.missing().is_empty())
            .min_by_key(|d| (d.is_cpu, d.index))
            .cloned(),
    };
    found.ok_or_else(|| {
        OclError::NoDevice(format!("no device matches {sel:?}; devices: {}", listing()))
    })
}

/// Whether the backend can run here: `Ok(description)` of the device it would use, or
/// `Err(reason)` saying what is missing.
pub fn probe(sel: &DeviceSelector) -> Result<String, String> {
    let d = select(sel).map_err(|e| e.to_string())?;
    let missing = d.missing();
    if missing.is_empty() {
        Ok(format!("{} / {} ({})", d.platform, d.name, d.version))
    } else {
        Err(format!(
            "{} / {}: {}",
            d.platform,
            d.name,
            missing.join("; ")
        ))
    }
}
