//! The committed C header is what `neurokern_abi::header::c_header()` generates.
//! Regenerate with `NEUROKERN_BLESS=1 cargo test -p neurokern-abi --test header`.

use std::path::PathBuf;
use std::process::Command;

fn header_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("include/neurokern_plugin.h")
}

#[test]
fn c_header_is_fresh() {
    let want = neurokern_abi::header::c_header();
    let path = header_path();
    if std::env::var_os("NEUROKERN_BLESS").is_some() {
        std::fs::write(&path, &want).expect("write the header");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is stale: regenerate it with `NEUROKERN_BLESS=1 cargo test -p neurokern-abi --test header`",
        path.display()
    );
}

/// Where a C compiler is installed, the header compiles and its layout assertions hold.
#[test]
fn c_header_compiles() {
    let Some(cc) = ["cc", "gcc", "clang"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }) else {
        eprintln!("no C compiler found: skipping the compile check of the header");
        return;
    };
    let dir = std::env::temp_dir().join(format!("nk-header-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("check.c");
    std::fs::write(
        &src,
        "#include \"neurokern_plugin.h\"\nint main(void) { nk_op op = {0}; (void)op; return 0; }\n",
    )
    .unwrap();
    let inc = header_path().parent().unwrap().to_path_buf();
    let out = Command::new(cc)
        .args(["-std=c11", "-Wall", "-Werror", "-fsyntax-only", "-I"])
        .arg(&inc)
        .arg(&src)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "the C header does not compile: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
