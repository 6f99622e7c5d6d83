//! The committed `ABI.md` holds the `nk_op` field table that
//! `neurokern_abi::abi_md::op_field_table()` generates from core's op table.
//! Regenerate with `NEUROKERN_BLESS=1 cargo test -p neurokern-abi --test abi_md`.

use std::path::PathBuf;

use neurokern_abi::abi_md;

#[test]
fn the_field_table_of_abi_md_is_fresh() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ABI.md");
    let have = std::fs::read_to_string(&path).expect("read ABI.md");
    let want = abi_md::with_fresh_table(&have).unwrap_or_else(|| {
        panic!(
            "{} lacks the markers of the generated table:\n{}\n{}",
            path.display(),
            abi_md::BEGIN,
            abi_md::END
        )
    });
    if std::env::var_os("NEUROKERN_BLESS").is_some() {
        std::fs::write(&path, &want).expect("write ABI.md");
        return;
    }
    assert!(
        have == want,
        "the nk_op field table in {} is stale: regenerate it with \
         `NEUROKERN_BLESS=1 cargo test -p neurokern-abi --test abi_md`",
        path.display()
    );
}

#[test]
fn every_kind_is_in_the_table_once() {
    let table = abi_md::op_field_table();
    for kind in neurokern_core::OpKind::ALL {
        let name = format!("`{}`", kind.name());
        assert_eq!(table.matches(&name).count(), 1, "{name}");
    }
}
