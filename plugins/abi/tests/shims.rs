//! The export shims, called in process (no `dlopen`): handles are checked, garbage is
//! refused with a status and a message, panics are caught.

use std::ffi::CStr;
use std::ptr::{null, null_mut};

use neurokern_abi::export::{self as x, Plugin};
use neurokern_abi::{NkBuffer, NkDevice, NkOp, Status};
use neurokern_backend_cpu::CpuBackend;
use neurokern_core::op::{Add, MatMul};
use neurokern_core::{ElemType, FloatType, Op, OpKind};

struct A;
impl Plugin for A {
    type Backend = CpuBackend;
    const NAME: &'static CStr = c"a";
    fn probe() -> Result<(), String> {
        Ok(())
    }
    fn devices() -> Vec<String> {
        vec!["a0".into(), "a1 with a long name".into()]
    }
    fn open(_: usize) -> Result<CpuBackend, String> {
        Ok(CpuBackend::new())
    }
}

struct B;
impl Plugin for B {
    type Backend = CpuBackend;
    const NAME: &'static CStr = c"b";
    fn probe() -> Result<(), String> {
        Err("no such hardware".into())
    }
    fn devices() -> Vec<String> {
        vec!["b0".into()]
    }
    fn open(_: usize) -> Result<CpuBackend, String> {
        panic!("open panics")
    }
}

fn last_error() -> String {
    let mut len = 0;
    // SAFETY: null buffer with capacity 0, valid `len`.
    assert!(unsafe { x::last_error::<A>(null_mut(), 0, &mut len) }.is_ok());
    let mut buf = vec![0u8; len + 1];
    // SAFETY: `buf` holds `len + 1` bytes.
    assert!(unsafe { x::last_error::<A>(buf.as_mut_ptr().cast(), buf.len(), &mut len) }.is_ok());
    buf.truncate(len);
    String::from_utf8(buf).unwrap()
}

fn open<P: Plugin>(i: u32) -> *mut NkDevice {
    let mut d = null_mut();
    // SAFETY: valid out pointer.
    assert_eq!(unsafe { x::device_open::<P>(i, &mut d) }, Status::OK);
    d
}

fn alloc<P: Plugin>(d: *mut NkDevice, elem: ElemType, len: u64) -> *mut NkBuffer {
    let mut b = null_mut();
    // SAFETY: a live device of P, valid out pointer.
    let s = unsafe { x::buffer_alloc::<P>(d, elem as u32, len, &mut b) };
    assert_eq!(s, Status::OK);
    b
}

#[test]
fn strings_probe_and_device_enumeration() {
    let mut n = 0;
    // SAFETY: valid out pointer.
    assert!(unsafe { x::device_count::<A>(&mut n) }.is_ok());
    assert_eq!(n, 2);
    let mut buf = [0x55u8; 5];
    let mut len = 0;
    // SAFETY: `buf` holds 5 bytes.
    let s = unsafe { x::device_name::<A>(1, buf.as_mut_ptr().cast(), buf.len(), &mut len) };
    assert!(s.is_ok());
    assert_eq!(len, "a1 with a long name".len());
    assert_eq!(&buf, b"a1 w\0", "truncated to cap − 1 bytes and a nul");
    // SAFETY: as above.
    let s = unsafe { x::device_name::<A>(7, buf.as_mut_ptr().cast(), buf.len(), &mut len) };
    assert_eq!(s, Status::NO_DEVICE);
    assert!(last_error().contains("no device 7"));
    // SAFETY: no arguments.
    assert_eq!(unsafe { x::probe::<B>() }, Status::UNAVAILABLE);
    assert_eq!(last_error(), "no such hardware");
    let mut d = null_mut();
    // SAFETY: valid out pointer.
    assert_eq!(unsafe { x::device_open::<B>(0, &mut d) }, Status::PANIC);
    assert!(d.is_null());
    let msg = last_error();
    assert!(
        msg.contains("plugin `b` panicked in `device_open`: open panics"),
        "{msg}"
    );
    // Null out-pointers are refused, not written.
    // SAFETY: null is allowed and refused.
    let s = unsafe { x::device_count::<A>(null_mut()) };
    assert_eq!(s, Status::INVALID_ARGUMENT);
}

#[test]
fn handles_of_other_devices_and_plugins_are_refused() {
    let a0 = open::<A>(0);
    let a1 = open::<A>(1);
    // B cannot open devices (its `open` panics): A's device stands for a handle of
    // another plugin when passed to B's shims.
    let b = a0;
    let buf0 = alloc::<A>(a0, ElemType::F32, 4);
    let buf1 = alloc::<A>(a1, ElemType::F32, 4);
    let bytes = [0u8; 16];
    // A buffer of device a1 used on device a0.
    // SAFETY: live handles; the shim checks the tags.
    let s = unsafe { x::buffer_write::<A>(a0, buf1, bytes.as_ptr(), 16) };
    assert_eq!(s, Status::WRONG_HANDLE);
    assert!(last_error().contains("buffer of another device"));
    // A device of plugin A passed to plugin B's shims.
    // SAFETY: a live handle of A; B's shim checks the tag.
    assert_eq!(unsafe { x::synchronize::<B>(b) }, Status::WRONG_HANDLE);
    assert!(last_error().contains("another plugin"));
    // A buffer handle where a device is expected, and the reverse.
    // SAFETY: live handles; the tags are checked.
    let s = unsafe { x::synchronize::<A>(buf0.cast()) };
    assert_eq!(s, Status::WRONG_HANDLE);
    // SAFETY: as above.
    let s = unsafe { x::buffer_free::<A>(a0, a1.cast()) };
    assert_eq!(s, Status::WRONG_HANDLE);
    // A run with a foreign buffer.
    let op = NkOp::from_op(&Op::from(Add { n: 4 }));
    let args = [buf0, buf1, buf0];
    // SAFETY: live handles, valid descriptor and argument array.
    let s = unsafe { x::run::<A>(a0, &op, FloatType::F32 as u32, args.as_ptr(), 3) };
    assert_eq!(s, Status::WRONG_HANDLE);
    assert!(last_error().contains("`b` is a buffer of another device"));
    // SAFETY: live handles of their devices, freed once.
    unsafe {
        assert!(x::buffer_free::<A>(a0, buf0).is_ok());
        assert!(x::buffer_free::<A>(a1, buf1).is_ok());
        assert!(x::device_close::<A>(a0).is_ok());
        assert!(x::device_close::<A>(a1).is_ok());
    }
}

#[test]
fn garbage_calls_are_refused_with_a_status() {
    let d = open::<A>(0);
    let a = alloc::<A>(d, ElemType::F32, 6);
    let w = alloc::<A>(d, ElemType::F32, 12);
    let c = alloc::<A>(d, ElemType::F32, 8);
    let good = NkOp::from_op(&Op::from(MatMul {
        b: 1,
        m: 2,
        k: 3,
        n: 4,
    }));
    let args = [a, w, c];
    let run = |op: *const NkOp, dtype: u32, args: *const *mut NkBuffer, n: u32| {
        // SAFETY: live handles; the remaining pointers are valid or null.
        unsafe { x::run::<A>(d, op, dtype, args, n) }
    };
    assert_eq!(run(&good, 0, args.as_ptr(), 3), Status::OK);
    assert_eq!(run(null(), 0, args.as_ptr(), 3), Status::INVALID_ARGUMENT);
    assert_eq!(run(&good, 7, args.as_ptr(), 3), Status::INVALID_ARGUMENT);
    assert!(last_error().contains("unknown dtype code 7"));
    assert_eq!(run(&good, 0, null(), 3), Status::INVALID_ARGUMENT);
    assert_eq!(run(&good, 0, args.as_ptr(), 99), Status::INVALID_ARGUMENT);
    let mut bad = good;
    bad.kind = 1000;
    assert_eq!(run(&bad, 0, args.as_ptr(), 3), Status::INVALID_ARGUMENT);
    assert!(last_error().contains("unknown op kind code 1000"));
    bad = good;
    bad.dims[5] = 1;
    assert_eq!(run(&bad, 0, args.as_ptr(), 3), Status::INVALID_ARGUMENT);
    // Validation: wrong length, alias, too few slots.
    bad = good;
    bad.dims[3] = 5;
    assert_eq!(run(&bad, 0, args.as_ptr(), 3), Status::VALIDATION);
    assert!(last_error().starts_with("[length] matmul"));
    let alias = [a, w, a];
    assert_eq!(run(&good, 0, alias.as_ptr(), 3), Status::VALIDATION);
    assert_eq!(run(&good, 0, args.as_ptr(), 2), Status::VALIDATION);
    // f16 buffers for an f32 call.
    assert_eq!(
        run(&good, FloatType::F16 as u32, args.as_ptr(), 3),
        Status::VALIDATION
    );
    assert!(last_error().contains("element type f16"));
    // Capability query with unknown codes answers "no", not an error.
    let mut yes = 7;
    // SAFETY: live handle, valid out pointer.
    assert!(unsafe { x::supports::<A>(d, 5000, 0, &mut yes) }.is_ok());
    assert_eq!(yes, 0);
    // SAFETY: as above.
    assert!(unsafe { x::supports::<A>(d, OpKind::Gelu as u32, 1, &mut yes) }.is_ok());
    assert_eq!(yes, 1);
    // Unknown element type, wrong byte count, mismatched copy.
    let mut b = null_mut();
    // SAFETY: live handle, valid out pointer.
    let s = unsafe { x::buffer_alloc::<A>(d, 9, 1, &mut b) };
    assert_eq!(s, Status::INVALID_ARGUMENT);
    let bytes = [0u8; 3];
    // SAFETY: live handles, `bytes` valid for 3 bytes.
    let s = unsafe { x::buffer_write::<A>(d, a, bytes.as_ptr(), 3) };
    assert_eq!(s, Status::BACKEND);
    // SAFETY: live handles.
    let s = unsafe { x::buffer_copy::<A>(d, a, w) };
    assert_eq!(s, Status::INVALID_ARGUMENT);
    // SAFETY: live handles, freed once.
    unsafe {
        for buf in [a, w, c] {
            assert!(x::buffer_free::<A>(d, buf).is_ok());
        }
        assert!(x::device_close::<A>(d).is_ok());
    }
}
