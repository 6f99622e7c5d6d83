//! Backend errors keep their category across the ABI (issue 10: a wrong byte count
//! arrived as `backend (6)`, not as the caller's invalid argument).

use neurokern_abi::export;
use neurokern_abi::{NkBuffer, NkDevice, Status};
use neurokern_core::ElemType;
use neurokern_plugin_cpu::CpuPlugin;

#[test]
fn a_wrong_byte_count_is_an_invalid_argument_and_copy_mismatch_too() {
    let mut dev: *mut NkDevice = std::ptr::null_mut();
    let mut a: *mut NkBuffer = std::ptr::null_mut();
    let mut b: *mut NkBuffer = std::ptr::null_mut();
    // SAFETY: the shims called as the ABI says: valid out pointers, live handles of this
    // plugin, a source valid for the byte count given.
    unsafe {
        assert_eq!(export::device_open::<CpuPlugin>(0, &mut dev), Status::OK);
        assert_eq!(
            export::buffer_alloc::<CpuPlugin>(dev, ElemType::F32 as u32, 4, &mut a),
            Status::OK
        );
        assert_eq!(
            export::buffer_alloc::<CpuPlugin>(dev, ElemType::F32 as u32, 5, &mut b),
            Status::OK
        );
        let bytes = [0u8; 3];
        assert_eq!(
            export::buffer_write::<CpuPlugin>(dev, a, bytes.as_ptr(), bytes.len()),
            Status::INVALID_ARGUMENT
        );
        let mut out = [0u8; 17];
        assert_eq!(
            export::buffer_read::<CpuPlugin>(dev, a, out.as_mut_ptr(), out.len()),
            Status::INVALID_ARGUMENT
        );
        assert_eq!(
            export::buffer_copy::<CpuPlugin>(dev, a, b),
            Status::INVALID_ARGUMENT
        );
        assert_eq!(export::buffer_free::<CpuPlugin>(dev, a), Status::OK);
        assert_eq!(export::buffer_free::<CpuPlugin>(dev, b), Status::OK);
        assert_eq!(export::device_close::<CpuPlugin>(dev), Status::OK);
    }
}
