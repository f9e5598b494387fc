//! `killchain model train --flows DIR --sequences FILE`: read Attack Flows
//! and sequence files (incident timelines, read as linear flows), check them against
//! the kb, and save them as the next-move model in the data directory
//! (`<data dir>/anticipate/model.json`) with the mixture weights fitted on
//! them (`killchain_anticipate::fit`), which `predict` then uses.

use std::fs;
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use killchain_anticipate::fit::fit_weights;
use killchain_anticipate::model::{resolve_flows, SavedModel, Weights, TECHNIQUE_COMPONENTS};

use super::predict::{flows_summary, read_flows, read_sequences, SAVED_MODEL};
use crate::cli::{GlobalOpts, ModelCommand};
use crate::context;

pub fn run(global: &GlobalOpts, cmd: ModelCommand) -> Result<ExitCode> {
    let ModelCommand::Train {
        flows,
        sequences,
        output,
    } = cmd;
    let (kb, _) = context::load_kb(global)?;
    let mut read = read_flows(&flows)?;
    if !flows.is_empty() {
        eprintln!("{}", flows_summary("model train", &read));
    }
    if !sequences.is_empty() {
        let seq = read_sequences(&sequences)?;
        eprintln!("{}", flows_summary("model train: sequences", &seq));
        read.files += seq.files;
        read.bad_files += seq.bad_files;
        read.warnings += seq.warnings;
        read.flows.extend(seq.flows);
    }
    if read.flows.is_empty() {
        bail!("no usable Attack Flow or sequence in {flows:?} {sequences:?}; nothing saved");
    }
    let (_, stats) = resolve_flows(&kb, &read.flows);
    if !stats.unknown_techniques.is_empty() {
        eprintln!(
            "killchain: warning: {} technique IDs not in ATT&CK {} (their actions count without a technique): {}",
            stats.unknown_techniques.len(),
            kb.meta().version,
            stats.unknown_techniques.join(", ")
        );
    }
    if !stats.unknown_tactics.is_empty() {
        eprintln!(
            "killchain: warning: {} tactics not in ATT&CK {} (their actions take their technique's tactic when it has one): {}",
            stats.unknown_tactics.len(),
            kb.meta().version,
            stats.unknown_tactics.join(", ")
        );
    }
    // `predict` reads the model from the data dir only.
    const USED: &str = "`killchain predict` uses it from now on";
    let (path, used) = match output {
        None => (context::data_dir(global)?.join(SAVED_MODEL), USED),
        Some(p) => {
            let in_data_dir = context::data_dir(global).is_ok_and(|d| d.join(SAVED_MODEL) == p);
            let used = if in_data_dir {
                USED
            } else {
                "(`killchain predict` reads the one in the data dir, not this file)"
            };
            (p, used)
        }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let (resolved, _) = resolve_flows(&kb, &read.flows);
    let weights = fit_weights(&kb, &resolved, Weights::default());
    let model = SavedModel::new(&kb.meta().version, read.flows, Some(weights));
    fs::write(&path, model.to_json())
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "saved {}: {} flows, {} actions ({} with a technique, {} with a tactic); {used}",
        path.display(),
        model.flows.len(),
        stats.actions,
        stats.with_technique,
        stats.with_tactic
    );
    let tech: Vec<String> = TECHNIQUE_COMPONENTS
        .iter()
        .zip(weights.technique_weights())
        .map(|(name, w)| format!("{name} {w:.2}"))
        .collect();
    let tac = weights.tactic_weights();
    println!(
        "weights fitted on these flows: new technique: {}; next tactic: direct {:.2}, repeat {:.2}, offset {:.2}, from techniques {:.2} (repeats of seen techniques: rates learned from the flows)",
        tech.join(", "),
        tac[0],
        tac[1],
        tac[2],
        tac[3]
    );
    Ok(if read.bad_files + read.warnings > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
