//! The `killchain` binary: parse arguments, dispatch to a subcommand, turn
//! errors into exit codes. Each subcommand lives in `commands/<name>.rs` with
//! `run(args) -> anyhow::Result<ExitCode>`.

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod commands;
mod context;
mod term;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match commands::run(args) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`killchain map ... | head`) is not an error worth a message.
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
            }
            eprintln!("killchain: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
