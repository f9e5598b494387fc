//! The `killchain` binary: parse arguments, dispatch to a subcommand, turn
//! errors into exit codes. Each subcommand lives in `commands/<name>.rs` with
//! `run(args) -> anyhow::Result<ExitCode>`.

use std::process::ExitCode;

use clap::Parser;

mod allocator;
mod cli;
mod commands;
mod context;
mod term;
mod walk;

// mimalloc instead of the system allocator: the hot paths (hunt, map,
// incidents) allocate many short-lived small strings and maps per record,
// where glibc malloc spent 15-20% of hunt's instructions (callgrind).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    restore_sigpipe();
    allocator::tune();
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

/// Rust ignores SIGPIPE, so `killchain ... | head` would make every print
/// fail (and `println!` panic). Restore the default: the process ends quietly
/// when the reader goes away, like any Unix filter.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; only
    // resets a signal disposition to its default.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
