//! A failing input is saved even when nothing but the panic hook runs, and a plugin's
//! driver cannot keep the harness's fatal-signal handlers (see `src/artifact.rs`). Its
//! own test binary: the panic hook is process-wide.

use neurokern_fuzz::artifact;

#[test]
fn a_panic_saves_the_input_and_signal_handlers_come_back() {
    let dir = std::env::temp_dir().join(format!("neurokern-fuzz-artifacts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::env::set_var("NEUROKERN_FUZZ_ARTIFACTS", &dir);

    // A panic while an input is recorded writes it, under libFuzzer's name.
    let input = b"a failing input".to_vec();
    artifact::keep("test", &input);
    let r = std::panic::catch_unwind(|| panic!("the property failed"));
    assert!(r.is_err());
    let path = dir.join(artifact::file_name(&input));
    assert_eq!(std::fs::read(&path).expect("the artifact"), input);
    assert_eq!(
        artifact::file_name(b""),
        "crash-da39a3ee5e6b4b0d3255bfef95601890afd80709"
    );
    let _ = std::fs::remove_dir_all(&dir);

    // A driver that installs its own SIGABRT handler while a device opens loses it again.
    extern "C" fn harness(_: libc::c_int) {}
    extern "C" fn driver(_: libc::c_int) {}
    let addr = |h: extern "C" fn(libc::c_int)| h as *const () as usize;
    let install = |h: extern "C" fn(libc::c_int)| {
        // SAFETY: a zeroed sigaction with a plain handler is a valid action.
        let mut a: libc::sigaction = unsafe { std::mem::zeroed() };
        a.sa_sigaction = addr(h);
        // SAFETY: installing a valid action for SIGABRT.
        assert_eq!(
            unsafe { libc::sigaction(libc::SIGABRT, &a, std::ptr::null_mut()) },
            0
        );
    };
    let current = || {
        // SAFETY: querying only.
        let mut a: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: querying into a valid out pointer.
        unsafe { libc::sigaction(libc::SIGABRT, std::ptr::null(), &mut a) };
        a.sa_sigaction
    };
    install(harness);
    let inside = artifact::keeping_signal_handlers(|| {
        install(driver);
        current()
    });
    assert_eq!(inside, addr(driver));
    assert_eq!(current(), addr(harness));
}
