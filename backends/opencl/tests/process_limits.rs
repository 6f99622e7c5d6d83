//! Allocation accounting, allocation under an address-space limit, and invalid settings.
//! One test, alone in its binary: it changes process-wide state (the memory count of the
//! device, `RLIMIT_AS`, environment variables) that other tests must not see.

mod common;

use neurokern_backend_opencl::{open_default, OclError, OpenClBackend, OpenClDevice};
use neurokern_core::{Backend, ElemType};
use neurokern_gpu::GpuError;

const MIB: usize = 1 << 20;

fn oom<T: std::fmt::Debug>(r: &Result<T, neurokern_backend_opencl::Error>) -> bool {
    matches!(
        r,
        Err(GpuError::Device {
            source: OclError::OutOfMemory { .. },
            ..
        })
    )
}

fn vm_size() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = s
        .lines()
        .find(|l| l.starts_with("VmSize:"))
        .expect("VmSize");
    let kb: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// Sets the soft address-space limit; returns the previous one.
fn set_soft_as_limit(bytes: libc::rlim_t) -> libc::rlimit {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid out pointer.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut old) }, 0);
    let new = libc::rlimit {
        rlim_cur: bytes.min(old.rlim_max),
        rlim_max: old.rlim_max,
    };
    // SAFETY: valid pointer; lowering the soft limit (or restoring it below the hard one).
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &new) }, 0);
    old
}

#[test]
fn allocations_are_accounted_and_fail_cleanly() {
    let Some(dev) = common::or_skip(OpenClDevice::new(&Default::default())) else {
        return;
    };

    // 1. The budget: the device's global memory by default; buffers count until dropped.
    let global = dev.info().global_mem;
    assert_eq!(dev.memory(), (global, 0));
    let b = OpenClBackend::new(dev.with_memory_budget(100 * MIB as u64));
    let first = b.alloc(ElemType::F32, 40 * MIB / 4).unwrap();
    let second = b.alloc(ElemType::F32, 40 * MIB / 4).unwrap();
    assert_eq!(b.device().memory().1, 80 * MIB as u64);
    let r = b.alloc(ElemType::F32, 40 * MIB / 4);
    assert!(oom(&r), "{r:?}");
    let msg = r.unwrap_err().to_string();
    assert!(
        msg.contains("out of device memory") && msg.contains("CL_DEVICE_GLOBAL_MEM_SIZE"),
        "{msg}"
    );
    drop(first);
    let third = b.alloc(ElemType::F16, 40 * MIB / 2).unwrap();
    // Zero-filled, after the buffer it replaced held data.
    let mut bytes = vec![0xffu8; 40 * MIB];
    b.read(&third, &mut bytes).unwrap();
    assert!(bytes.iter().all(|&x| x == 0));
    drop((second, third, bytes));
    assert_eq!(b.device().memory().1, 0);
    // Another backend on the same device shares the count.
    let other = open_default().unwrap();
    let held = other.alloc(ElemType::F32, 90 * MIB / 4).unwrap();
    assert!(oom(&b.alloc(ElemType::F32, 20 * MIB / 4)));
    drop(held);

    // 2. Under an address-space limit an allocation the host cannot back is the typed
    //    error, not an abort in the driver (PoCL asserted in `clEnqueueFillBuffer`'s
    //    migration). The device is warmed up first: its threads exist before the limit.
    let warm = b.alloc(ElemType::F32, 1024).unwrap();
    b.write(&warm, &[0u8; 4096]).unwrap();
    b.synchronize().unwrap();
    let b = {
        let mut b = b;
        let d = std::mem::replace(
            b.device_mut(),
            OpenClDevice::new(&Default::default()).unwrap(),
        );
        drop(warm);
        OpenClBackend::new(d.with_memory_budget(global))
    };
    let old = set_soft_as_limit((vm_size() + 256 * MIB) as libc::rlim_t);
    let big = b.alloc(ElemType::F32, 1024 * MIB / 4);
    let small = b.alloc(ElemType::F32, MIB / 4).map(|s| {
        let mut out = vec![1u8; MIB];
        b.read(&s, &mut out).map(|()| out.iter().all(|&x| x == 0))
    });
    // SAFETY: restoring the limit read above.
    unsafe { libc::setrlimit(libc::RLIMIT_AS, &old) };
    assert!(oom(&big), "{big:?}");
    assert!(matches!(small, Ok(Ok(true))), "{small:?}");
    drop(big);
    assert_eq!(b.device().memory().1, 0);

    // 3. An invalid setting stops the device from opening, naming the variable and the
    //    accepted form.
    for (var, bad, form) in [
        ("NEUROKERN_OPENCL_GEMM", "6,7", "mr,nv,nr"),
        ("NEUROKERN_OPENCL_GEMM_LOCAL", "big", "x,y"),
    ] {
        std::env::set_var(var, bad);
        let r = OpenClDevice::new(&Default::default());
        std::env::remove_var(var);
        match r {
            Err(e @ OclError::Config(_)) => {
                let m = e.to_string();
                assert!(
                    m.contains(var) && m.contains(bad) && m.contains(form),
                    "{m}"
                );
            }
            other => panic!("{var}={bad}: expected a configuration error, got {other:?}"),
        }
    }
    // NEUROKERN_OPENCL_MEMORY lowers the budget, and the score matrix's with it.
    std::env::set_var("NEUROKERN_OPENCL_MEMORY", "64M");
    let capped = OpenClDevice::new(&Default::default());
    std::env::set_var("NEUROKERN_OPENCL_MEMORY", "lots");
    let bad = OpenClDevice::new(&Default::default());
    std::env::remove_var("NEUROKERN_OPENCL_MEMORY");
    let capped = capped.unwrap();
    assert_eq!(capped.memory().0, 64 << 20);
    assert_eq!(
        neurokern_gpu::Device::limits(&capped).score_budget,
        16 << 20
    );
    assert!(matches!(bad, Err(OclError::Config(m)) if m.contains("NEUROKERN_OPENCL_MEMORY")));
    std::env::set_var("NEUROKERN_OPENCL_GEMM", "4,4,2");
    let ok = OpenClDevice::new(&Default::default());
    std::env::remove_var("NEUROKERN_OPENCL_GEMM");
    assert_eq!(ok.unwrap().gemm_params().nr, 2);
}
