//! `killchain completions SHELL`: print a completion script.

use std::process::ExitCode;

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};

pub fn run(args: CompletionsArgs) -> Result<ExitCode> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "killchain", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
