//! `killchain eval predict --flows DIR [--sequences FILE] [--json | --by-file]`: leave-one-incident-out
//! evaluation of the next-move model next to baselines computed in the same
//! run (`killchain_anticipate::eval` says exactly what is measured). The
//! model's mixture weights are fitted inside each fold on its training
//! flows only.

use std::process::ExitCode;

use anyhow::{bail, Result};
use killchain_anticipate::eval::{evaluate_with, FileScores, TopK, WeightPolicy};
use killchain_anticipate::model::{resolve_flows, Weights};

use super::predict::{flows_summary, read_flows, read_sequences};
use crate::cli::{EvalCommand, GlobalOpts};
use crate::context;

pub fn run(global: &GlobalOpts, cmd: EvalCommand) -> Result<ExitCode> {
    let EvalCommand::Predict {
        flows,
        sequences,
        json,
        by_file,
    } = cmd;
    let (kb, _) = context::load_kb(global)?;
    let read = read_flows(&flows)?;
    eprintln!("{}", flows_summary("eval predict", &read));
    let (resolved, _) = resolve_flows(&kb, &read.flows);
    let seq = read_sequences(&sequences)?;
    if !sequences.is_empty() {
        eprintln!("{}", flows_summary("eval predict: sequences", &seq));
    }
    let (extra, _) = resolve_flows(&kb, &seq.flows);
    let mut sources: Vec<&str> = resolved.iter().map(|f| f.source.as_str()).collect();
    sources.sort_unstable();
    sources.dedup();
    if sources.len() < 2 {
        bail!(
            "leave-one-out needs flows from at least 2 files; got {}",
            sources.len()
        );
    }
    let (report, details) = evaluate_with(
        &kb,
        &resolved,
        &extra,
        WeightPolicy::Fitted(Weights::default()),
    );
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "eval predict: {} flows from {} files held out one file at a time; {} edges: {} next-tactic and {} next-technique cases (ATT&CK {})",
            report.flows,
            details.files,
            details.edges,
            details.tactic_cases,
            details.technique_cases,
            kb.meta().version
        );
        println!(
            "\n{:<16} {:>28}   {:>28}",
            "", "next tactic", "next technique"
        );
        println!(
            "{:<16} {:>6} {:>6} {:>6} {:>6}   {:>6} {:>6} {:>6} {:>6}",
            "", "top1", "top3", "top5", "top10", "top1", "top3", "top5", "top10"
        );
        let row = |name: &str, a: &TopK, b: &TopK| {
            println!("{name:<16} {}   {}", cells(a, true), cells(b, true));
        };
        row("killchain", &report.next_tactic, &report.next_technique);
        // For reference: the default weights in every fold (the fit's start;
        // their tactic part was chosen by looking at this evaluation, see
        // docs/prediction.md).
        let (fixed, _) = evaluate_with(
            &kb,
            &resolved,
            &extra,
            WeightPolicy::Fixed(Weights::default()),
        );
        row("(fixed weights)", &fixed.next_tactic, &fixed.next_technique);
        for (name, s) in &report.baselines {
            row(name, &s.next_tactic, &s.next_technique);
        }
        if by_file {
            print_by_file(&details.by_file);
        }
    }
    Ok(
        if read.bad_files + read.warnings + seq.bad_files + seq.warnings > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        },
    )
}

/// `--by-file`: the model's top-k on each held-out incident, with its case
/// counts (an incident without cases of a kind shows `-`).
fn print_by_file(files: &[FileScores]) {
    let name = |f: &FileScores| {
        std::path::Path::new(&f.file)
            .file_name()
            .map_or(f.file.clone(), |n| n.to_string_lossy().into_owned())
    };
    let width = files
        .iter()
        .map(|f| name(f).chars().count())
        .max()
        .unwrap_or(0);
    println!(
        "\nkillchain by held-out incident\n{:<width$} {:>5} {:>6} {:>6} {:>6} {:>6}   {:>5} {:>6} {:>6} {:>6} {:>6}",
        "", "cases", "top1", "top3", "top5", "top10", "cases", "top1", "top3", "top5", "top10"
    );
    for f in files {
        println!(
            "{:<width$} {:>5} {}   {:>5} {}",
            name(f),
            f.tactic_cases,
            cells(&f.next_tactic, f.tactic_cases > 0),
            f.technique_cases,
            cells(&f.next_technique, f.technique_cases > 0)
        );
    }
}

/// Top-1 / 3 / 5 / 10 as four right-aligned percentages; `-` each when
/// there were no cases to score.
fn cells(k: &TopK, scored: bool) -> String {
    let f = |x: f64| {
        if scored {
            format!("{:.1}%", x * 100.0)
        } else {
            "-".to_string()
        }
    };
    format!(
        "{:>6} {:>6} {:>6} {:>6}",
        f(k.top1),
        f(k.top3),
        f(k.top5),
        f(k.top10)
    )
}
