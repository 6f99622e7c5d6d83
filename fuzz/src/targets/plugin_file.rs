//! Arbitrary bytes written to a file named like a plugin and offered to the host give an
//! error, never a crash of the host. A crash in the loader (a signal in `dlopen`, a
//! sanitizer report) is caught and reported by libFuzzer with the input that caused it.

use std::io::Write;
use std::sync::OnceLock;

use neurokern::Runtime;

fn dir() -> &'static std::path::Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d =
            std::env::temp_dir().join(format!("neurokern-fuzz-plugin-file-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d); // a leftover of an earlier process with this id
        std::fs::create_dir_all(&d).expect("creating a scratch directory");
        d
    })
}

/// One input.
pub fn run(bytes: &[u8]) {
    // A fresh file every time: an input that happens to be a loadable library stays
    // mapped (the host never unloads), and rewriting a mapped file in place would crash
    // any process that has it loaded — the file system's rule, not the loader's.
    static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // One directory per input, so that concurrent callers (test threads) never see each
    // other's files.
    let sub = dir().join(n.to_string());
    std::fs::create_dir_all(&sub).expect("creating a scratch directory");
    let path = sub.join(neurokern::dev::plugin_file_name("fuzz"));
    {
        let mut f = std::fs::File::create(&path).expect("creating the candidate file");
        f.write_all(bytes).expect("writing the candidate file");
    }
    // Through discovery (a directory scan, without the built-in CPU device) and through
    // an explicit load.
    let rt = Runtime::builder()
        .only_explicit()
        .builtin(false)
        .path(&sub)
        .build();
    assert!(rt.plugins().is_empty(), "garbage was accepted as a plugin");
    assert_eq!(rt.candidates().len(), 1, "{:?}", rt.candidates());
    assert!(
        Runtime::load(&path).is_err(),
        "garbage was accepted as a plugin"
    );
    let _ = std::fs::remove_dir_all(&sub);
}
