//! The generated parts of `ABI.md`: the `nk_op` field table, derived from core's op table
//! ([`OpKind::fields`]) exactly as [`NkOp`](crate::NkOp) packs descriptors. The committed
//! file holds it between [`BEGIN`] and [`END`]; a test fails when it is stale
//! (`NEUROKERN_BLESS=1 cargo test -p neurokern-abi --test abi_md` rewrites it).

use std::format;
use std::string::String;
use std::vec::Vec;

use neurokern_core::op::{Field, FieldKind};
use neurokern_core::OpKind;

/// The line before the generated table.
pub const BEGIN: &str = "<!-- BEGIN generated nk_op fields: NEUROKERN_BLESS=1 cargo test -p neurokern-abi --test abi_md -->";
/// The line after it.
pub const END: &str = "<!-- END generated nk_op fields -->";

/// One cell: the fields of the given kinds, in slot order, with what a count or a
/// non-`bool` flag means.
fn cell(fields: &[Field], kinds: &[FieldKind]) -> String {
    let mut chosen: Vec<&Field> = fields.iter().filter(|f| kinds.contains(&f.kind)).collect();
    chosen.sort_by_key(|f| f.slot);
    let names: Vec<String> = chosen
        .iter()
        .map(|f| match (f.kind, f.set_means) {
            (FieldKind::Count, _) => format!("{} (≤ u32 max)", f.name),
            (_, Some(set)) => format!("{} (set: {set})", f.name),
            _ => String::from(f.name),
        })
        .collect();
    names.join(", ")
}

/// The `nk_op` table: one row per field list, naming every kind that has it (in catalog
/// order of first appearance), with its dims, scalars and flags in slot order.
pub fn op_field_table() -> String {
    let mut rows: Vec<(Vec<&'static str>, &'static [Field])> = Vec::new();
    for &kind in OpKind::ALL {
        match rows.iter_mut().find(|(_, f)| *f == kind.fields()) {
            Some((names, _)) => names.push(kind.name()),
            None => rows.push((Vec::from([kind.name()]), kind.fields())),
        }
    }
    let mut out = String::from("| op | dims | scalars | flags |\n|---|---|---|---|\n");
    for (names, fields) in rows {
        let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        let cells = [
            names.join(", "),
            cell(fields, &[FieldKind::Dim, FieldKind::Count]),
            cell(fields, &[FieldKind::Scalar]),
            cell(fields, &[FieldKind::Flag]),
        ];
        out.push('|');
        for c in cells {
            // An empty cell is `| |`, as hand-written Markdown tables have it.
            out += &if c.is_empty() {
                String::from(" |")
            } else {
                format!(" {c} |")
            };
        }
        out.push('\n');
    }
    out
}

/// `doc` with the text between the [`BEGIN`] and [`END`] lines replaced by
/// [`op_field_table`], or `None` when the markers are missing or out of order.
pub fn with_fresh_table(doc: &str) -> Option<String> {
    let begin = doc.find(BEGIN)? + BEGIN.len();
    let end = begin + doc[begin..].find(END)?;
    Some(format!(
        "{}\n{}{}",
        &doc[..begin],
        op_field_table(),
        &doc[end..]
    ))
}
