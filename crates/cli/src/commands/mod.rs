//! One module per subcommand; `run` dispatches.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command};

mod bench;
mod bench_hunt;
mod bench_incidents;
mod bench_predict;
mod completions;
mod coverage;
mod demo;
mod eval;
mod explain;
mod hunt;
mod incidents;
mod kb;
mod map;
mod models;
mod predict;
mod rules;
mod train;

pub fn run(cli: Cli) -> Result<ExitCode> {
    let g = &cli.global;
    match cli.command {
        Command::Demo(args) => demo::run(g, args),
        Command::Map(args) => map::run(g, args),
        Command::Hunt(args) => hunt::run(g, args),
        Command::Rules(cmd) => rules::run(g, cmd),
        Command::Explain(args) => explain::run(g, args),
        Command::Kb(cmd) => kb::run(g, cmd),
        Command::Models(cmd) => models::run(g, cmd),
        Command::Completions(args) => completions::run(args),
        Command::Bench(cmd) => bench::run(g, cmd),
        Command::Coverage(args) => coverage::run(g, args),
        Command::Predict(args) => predict::run(g, args),
        Command::Model(cmd) => train::run(g, cmd),
        Command::Eval(cmd) => eval::run(g, cmd),
        Command::Incidents(args) => incidents::run(g, args),
    }
}
