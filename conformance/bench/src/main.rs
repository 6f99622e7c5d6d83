//! `nk-bench`: see the crate documentation, or `nk-bench --help`.

use std::process::ExitCode;

use clap::Parser;
use neurokern_bench::Cli;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cli = Cli::parse();
    let result = if cli.list {
        neurokern_bench::list(&cli)
    } else {
        neurokern_bench::run(&cli, args).map(|w| {
            println!("{}", w.report.markdown());
            println!("wrote {} and {}", w.json.display(), w.markdown.display());
        })
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nk-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
