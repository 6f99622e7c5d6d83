//! Arbitrary sequences of calls through the C ABI table of the CPU plugin (linked in,
//! called exactly as a host would call it) with malformed descriptors, wrong and foreign
//! handles, wrong sizes and unknown codes: every call returns a status code, never
//! panics (a caught panic is reported as `PANIC` and fails the target) and never touches
//! memory it was not given.

use std::ptr::null_mut;

use arbitrary::Unstructured;
use neurokern_abi::{NkBuffer, NkDevice, NkOp, PluginTable, Status, NK_OP_DIMS, NK_OP_SCALARS};

fn table() -> &'static PluginTable {
    // SAFETY: the entry function returns a pointer to the plugin's static table, valid
    // for the life of the process.
    unsafe { &*neurokern_plugin_cpu::neurokern_plugin_entry() }
}

/// Checks a status: any code is fine except a caught panic.
fn ok(s: Status, what: &str) -> bool {
    assert_ne!(s, Status::PANIC, "{what}: the plugin panicked");
    s.is_ok()
}

fn raw_op(u: &mut Unstructured<'_>) -> arbitrary::Result<NkOp> {
    let mut op = NkOp {
        kind: u.int_in_range(0..=34)?,
        flags: u.int_in_range(0..=4)?,
        ..NkOp::default()
    };
    for d in op.dims.iter_mut().take(NK_OP_DIMS) {
        *d = if u.ratio(1u8, 10)? {
            u.arbitrary()?
        } else {
            crate::dim(u)? as u64 & 0xffff_ffff_ffff
        };
    }
    for s in op.scalars.iter_mut().take(NK_OP_SCALARS) {
        *s = if u.ratio(1u8, 3)? {
            0.0
        } else {
            crate::scalar(u)?
        };
    }
    Ok(op)
}

/// One input.
pub fn run(bytes: &[u8]) {
    let t = table();
    let mut u = Unstructured::new(bytes);
    let (Some(open), Some(close), Some(alloc), Some(free)) =
        (t.device_open, t.device_close, t.buffer_alloc, t.buffer_free)
    else {
        panic!("the CPU plugin's table has null entry points");
    };
    let mut devs: Vec<*mut NkDevice> = Vec::new();
    // Live buffers, each with the index of its device in `devs`.
    let mut bufs: Vec<(usize, *mut NkBuffer)> = Vec::new();
    for _ in 0..64 {
        let Ok(step) = u.int_in_range(0u8..=10) else {
            break;
        };
        // A device handle: a live one, null, or (when two are open) the other device.
        let pick_dev =
            |u: &mut Unstructured<'_>, devs: &[*mut NkDevice]| -> (Option<usize>, *mut NkDevice) {
                if devs.is_empty() || u.ratio(1u8, 8).unwrap_or(false) {
                    (None, null_mut())
                } else {
                    let i = u.choose_index(devs.len()).unwrap_or(0);
                    (Some(i), devs[i])
                }
            };
        let pick_buf =
            |u: &mut Unstructured<'_>, bufs: &[(usize, *mut NkBuffer)]| -> *mut NkBuffer {
                if bufs.is_empty() || u.ratio(1u8, 8).unwrap_or(false) {
                    null_mut()
                } else {
                    bufs[u.choose_index(bufs.len()).unwrap_or(0)].1
                }
            };
        // SAFETY (every call below): the table's entry points are called with pointers
        // that are null or valid for what they describe: handles the plugin returned and
        // that are still live (freed ones are removed from the lists), host slices of
        // exactly the byte counts passed, and out-pointers to locals.
        unsafe {
            match step {
                0 if devs.len() < 3 => {
                    let mut d = null_mut();
                    if ok(
                        open(u.int_in_range(0..=2).unwrap_or(0), &mut d),
                        "device_open",
                    ) {
                        devs.push(d);
                    }
                }
                1 => {
                    let (di, d) = pick_dev(&mut u, &devs);
                    let elem = u.int_in_range(0..=4).unwrap_or(0);
                    // Small, or past what any op can address (refused before any allocation);
                    // sizes in between would only measure this machine's memory.
                    let len: u64 = if u.ratio(1u8, 10).unwrap_or(false) {
                        *u.choose(&[u64::MAX, 1 << 40, i32::MAX as u64 + 1, u32::MAX as u64])
                            .unwrap_or(&u64::MAX)
                    } else {
                        u.int_in_range(0..=64).unwrap_or(0)
                    };
                    let mut b = null_mut();
                    if ok(alloc(d, elem, len, &mut b), "buffer_alloc") {
                        bufs.push((di.expect("alloc succeeded on a null device"), b));
                    }
                }
                2 | 3 => {
                    let (_, d) = pick_dev(&mut u, &devs);
                    let b = pick_buf(&mut u, &bufs);
                    let n = u.int_in_range(0..=300usize).unwrap_or(0);
                    let mut host = vec![0u8; n];
                    let f = if step == 2 {
                        t.buffer_write.map(|w| w(d, b, host.as_ptr(), n))
                    } else {
                        t.buffer_read.map(|r| r(d, b, host.as_mut_ptr(), n))
                    };
                    if let Some(s) = f {
                        ok(s, "buffer_write/read");
                    }
                }
                4 => {
                    let (_, d) = pick_dev(&mut u, &devs);
                    let (a, b) = (pick_buf(&mut u, &bufs), pick_buf(&mut u, &bufs));
                    if let Some(c) = t.buffer_copy {
                        ok(c(d, a, b), "buffer_copy");
                    }
                }
                5 => {
                    let (_, d) = pick_dev(&mut u, &devs);
                    let Ok(op) = raw_op(&mut u) else { break };
                    let dtype = u.int_in_range(0..=2).unwrap_or(0);
                    let n = u.int_in_range(0..=7usize).unwrap_or(0);
                    let args: Vec<*mut NkBuffer> =
                        (0..n).map(|_| pick_buf(&mut u, &bufs)).collect();
                    let op_ptr: *const NkOp = if u.ratio(1u8, 20).unwrap_or(false) {
                        std::ptr::null()
                    } else {
                        &op
                    };
                    if let Some(run) = t.run {
                        ok(run(d, op_ptr, dtype, args.as_ptr(), n as u32), "run");
                    }
                }
                6 if !bufs.is_empty() => {
                    // Free through the owning device, or try a wrong one (must be refused
                    // and leave the buffer alive).
                    let i = u.choose_index(bufs.len()).unwrap_or(0);
                    let (owner, b) = bufs[i];
                    let (di, d) = pick_dev(&mut u, &devs);
                    let s = free(d, b);
                    if di == Some(owner) {
                        assert!(
                            ok(s, "buffer_free"),
                            "freeing a live buffer through its device failed: {s}"
                        );
                        bufs.swap_remove(i);
                    } else {
                        assert!(
                            !ok(s, "buffer_free"),
                            "a buffer was freed through another device"
                        );
                    }
                }
                7 => {
                    let (_, d) = pick_dev(&mut u, &devs);
                    let mut out = 0u32;
                    if let Some(s) = t.supports {
                        ok(
                            s(
                                d,
                                u.arbitrary().unwrap_or(0),
                                u.arbitrary().unwrap_or(0),
                                &mut out,
                            ),
                            "supports",
                        );
                    }
                }
                8 => {
                    let (_, d) = pick_dev(&mut u, &devs);
                    if let Some(s) = t.synchronize {
                        ok(s(d), "synchronize");
                    }
                }
                9 | 10 => {
                    let cap = u.int_in_range(0..=40usize).unwrap_or(0);
                    let mut buf = vec![0 as std::ffi::c_char; cap];
                    let mut len = 0usize;
                    let p = if cap == 0 {
                        null_mut()
                    } else {
                        buf.as_mut_ptr()
                    };
                    let s = if step == 9 {
                        t.last_error.map(|f| f(p, cap, &mut len))
                    } else {
                        t.device_name
                            .map(|f| f(u.int_in_range(0..=3).unwrap_or(0), p, cap, &mut len))
                    };
                    if let Some(s) = s {
                        ok(s, "last_error/device_name");
                    }
                    if cap > 0 {
                        assert!(
                            buf.contains(&0),
                            "a copied string was not nul-terminated within cap"
                        );
                    }
                }
                _ => {}
            }
        }
    }
    // Release everything, owners first.
    for (di, b) in bufs {
        // SAFETY: `b` is live and `devs[di]` its device.
        unsafe { assert!(ok(free(devs[di], b), "buffer_free")) };
    }
    for d in devs {
        // SAFETY: `d` is a live device with no buffers left.
        unsafe { assert!(ok(close(d), "device_close")) };
    }
}
