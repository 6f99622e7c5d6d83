//! `conformance`: the neurokern conformance suite on every device found (see the crate
//! documentation of `neurokern-conformance`). Exits non-zero on any failure.

use std::process::ExitCode;

use clap::Parser;
use neurokern_conformance::cli::{run, Args};

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("conformance: {e}");
            ExitCode::from(2)
        }
    }
}
