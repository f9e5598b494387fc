//! `killchain models list | show | check`: the kill chain models and their
//! ATT&CK mapping tables.

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use serde_json::json;

use crate::cli::{GlobalOpts, ModelsCommand};
use crate::context;

pub fn run(global: &GlobalOpts, cmd: ModelsCommand) -> Result<ExitCode> {
    let ctx = context::load(global)?;
    let (kb, models) = (&ctx.kb, &ctx.models);
    match cmd {
        ModelsCommand::List { json } => {
            if json {
                println!("{}", serde_json::to_string_pretty(models.models())?);
            } else {
                for m in models.models() {
                    let origin = match &m.origin {
                        killchain_kb::models::Origin::Builtin => "built-in".to_string(),
                        killchain_kb::models::Origin::Kb => {
                            format!("from ATT&CK {}", kb.meta().version)
                        }
                        killchain_kb::models::Origin::File(p) => p.clone(),
                    };
                    println!(
                        "{:<8} {} ({} phases, {origin})",
                        m.id,
                        m.name,
                        m.phases.len()
                    );
                    let phases: Vec<&str> = m.phases.iter().map(|p| p.id.as_str()).collect();
                    println!("         {}", phases.join(" > "));
                }
            }
        }
        ModelsCommand::Show {
            id,
            techniques,
            json,
        } => {
            let mi = models.index_of(&id).with_context(|| {
                let known: Vec<&str> = models.models().iter().map(|m| m.id.as_str()).collect();
                format!("unknown model {id:?}; known: {}", known.join(", "))
            })?;
            let m = &models.models()[mi];
            if techniques {
                let rows: Vec<_> = kb
                    .active_techniques()
                    .map(|(ti, t)| {
                        let a = models.technique_assignments(mi, ti);
                        let mut phases: Vec<usize> = a.iter().map(|x| x.phase).collect();
                        phases.sort_unstable();
                        phases.dedup();
                        (
                            t,
                            phases
                                .into_iter()
                                .map(|p| m.phases[p].id.clone())
                                .collect::<Vec<_>>(),
                            a,
                        )
                    })
                    .collect();
                if json {
                    let v: Vec<_> = rows
                        .iter()
                        .map(|(t, p, a)| json!({"technique": t.id, "name": t.name, "phases": p, "rationale": a.iter().map(|x| x.rationale.clone()).collect::<Vec<_>>()}))
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&v)?);
                } else {
                    for (t, p, _) in rows {
                        println!(
                            "{:<10} {:<60} {}",
                            t.id,
                            truncate(&t.name, 60),
                            p.join(", ")
                        );
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(m)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{} ({}): {}",
                m.id,
                m.name,
                m.reference.as_deref().unwrap_or("")
            );
            println!("\nPhases");
            for p in &m.phases {
                let group = p
                    .group
                    .as_deref()
                    .map(|g| format!("  [{g}]"))
                    .unwrap_or_default();
                println!("  {:>2}  {:<24} {}{group}", p.index + 1, p.id, p.name);
            }
            println!("\nTactic defaults (ATT&CK {})", kb.meta().version);
            for r in &m.tactic_rules {
                let name = kb
                    .tactic_by_token(&r.tactic)
                    .map(|i| kb.tactic(i).name.clone())
                    .unwrap_or_else(|| format!("(not in v{})", kb.meta().version));
                let phases: Vec<&str> = r.phases.iter().map(|&p| m.phases[p].id.as_str()).collect();
                println!(
                    "  {:<7} {:<22} -> {:<28} {}",
                    r.tactic,
                    truncate(&name, 22),
                    phases.join(", "),
                    r.rationale
                );
            }
            if !m.technique_rules.is_empty() {
                println!(
                    "\nTechnique overrides (sub-techniques inherit unless they have their own)"
                );
                for r in &m.technique_rules {
                    let name = kb
                        .technique_by_id(&r.technique)
                        .map(|(i, _)| kb.technique(i).name.clone())
                        .unwrap_or_else(|| format!("(not in v{})", kb.meta().version));
                    let phases: Vec<&str> =
                        r.phases.iter().map(|&p| m.phases[p].id.as_str()).collect();
                    println!(
                        "  {:<7} {:<22} -> {:<28} {}",
                        r.technique,
                        truncate(&name, 22),
                        phases.join(", "),
                        r.rationale
                    );
                }
            }
            let mut counts = vec![0usize; m.phases.len()];
            for (ti, _) in kb.active_techniques() {
                let mut ps: Vec<usize> = models
                    .technique_assignments(mi, ti)
                    .iter()
                    .map(|a| a.phase)
                    .collect();
                ps.sort_unstable();
                ps.dedup();
                for p in ps {
                    counts[p] += 1;
                }
            }
            println!("\nActive techniques per phase (a technique can be in several)");
            for (p, c) in m.phases.iter().zip(counts) {
                println!("  {:<24} {c}", p.id);
            }
        }
        ModelsCommand::Check => {
            for w in &models.warnings {
                println!("note: {w}");
            }
            let unmapped = models.unmapped(kb);
            for (model, t) in &unmapped {
                println!("unmapped: model {model}: technique {t}");
            }
            let active = kb.active_techniques().count();
            println!(
                "{} models, {} active techniques in ATT&CK {}: {} unmapped technique/model pairs",
                models.models().len(),
                active,
                kb.meta().version,
                unmapped.len()
            );
            if !unmapped.is_empty() {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}
