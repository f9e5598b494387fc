//! `killchain demo`: the current pipeline on a built-in sample we wrote
//! (`crates/cli/demo/alerts.ndjson`: one intrusion seen by six tools in six
//! dialects), printed as a readable kill chain summary. It grows as
//! capabilities land.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::process::ExitCode;

use anyhow::Result;
use killchain_ingest::{Format, JsonRecords};
use killchain_map::enrich::enrich;
use killchain_map::extract::FieldPaths;
use killchain_map::finding::{Finding, RecordRef};
use killchain_map::summary::Summary;
use killchain_map::{Mapper, Node};

use crate::cli::{DemoArgs, GlobalOpts};
use crate::context;
use crate::term::{bar, summary_text};

/// The built-in sample.
pub const SAMPLE: &str = include_str!("../../demo/alerts.ndjson");
const SAMPLE_NAME: &str = "demo/alerts.ndjson";

pub fn run(global: &GlobalOpts, args: DemoArgs) -> Result<ExitCode> {
    let ctx = context::load(global)?;
    let mapper = Mapper::new(&ctx.kb, &ctx.models, Vec::new(), FieldPaths::default());
    let mut summary = Summary::new(&ctx.models, mapper.selected());
    let mut findings: Vec<Finding> = Vec::new();
    let mut warnings = Vec::new();
    for item in JsonRecords::new(Cursor::new(SAMPLE.as_bytes()), Format::Ndjson) {
        let mut rec = item.map_err(|e| anyhow::anyhow!("built-in sample {SAMPLE_NAME}:{e}"))?;
        let mapped = mapper.map_record(
            &Node::from_value(&rec.value),
            RecordRef {
                file: Some(SAMPLE_NAME.into()),
                line: Some(rec.line),
                index: Some(rec.index),
                record_id: None,
            },
        );
        for n in &mapped.notes {
            warnings.push(format!("line {}: {n}", rec.line));
        }
        summary.add(&mapped.finding, &mapped.notes);
        if args.ndjson {
            enrich(&mut rec.value, &mapped.finding);
            println!("{}", rec.value);
        }
        findings.push(mapped.finding);
    }
    if args.ndjson {
        return Ok(ExitCode::SUCCESS);
    }
    let products: std::collections::BTreeSet<&str> = findings
        .iter()
        .filter_map(|f| f.source.product.as_deref())
        .collect();
    println!(
        "killchain demo: {} alerts in {} dialects ({}), ATT&CK {} ({})\n",
        findings.len(),
        products.len(),
        products.into_iter().collect::<Vec<_>>().join(", "),
        ctx.kb.meta().version,
        ctx.kb_origin
    );

    // Kill chain bar for the Lockheed Martin model.
    let lm = ctx
        .models
        .get("lm")
        .map(|m| m.id.clone())
        .unwrap_or_else(|| "lm".into());
    if let Some((_, rows)) = summary.phases.iter().find(|(m, _)| *m == lm) {
        println!("Lockheed Martin kill chain: alerts per phase");
        let max = rows.iter().map(|r| r.1).max().unwrap_or(0);
        for (phase, n) in rows {
            println!("  {phase:<24} {n:>3} {}", bar(*n, max, 24));
        }
        println!();
    }

    // Timeline.
    let mut timeline: Vec<&Finding> = findings.iter().filter(|f| !f.is_unmapped()).collect();
    timeline.sort_by_key(|f| f.time);
    println!("Timeline");
    println!(
        "  {:<20} {:<16} {:<22} {:<20} {:<11} rule",
        "time (UTC)", "host", "lm phase", "ATT&CK tactic", "technique"
    );
    for f in &timeline {
        let time = f
            .time
            .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| "-".into());
        let host = f
            .entities
            .hosts
            .first()
            .map(|h| short_host(h))
            .unwrap_or("-");
        let phase = f.phases.get("lm").map(|p| &*p.phase).unwrap_or("-");
        let tactic = f.tactics.first().map(|t| &*t.name).unwrap_or("-");
        let tech = f.techniques.first().map(|t| &*t.id).unwrap_or("-");
        let rule = f
            .source
            .rule
            .as_ref()
            .and_then(|r| r.name.as_deref())
            .unwrap_or("-");
        println!("  {time:<20} {host:<16} {phase:<22} {tactic:<20} {tech:<11} {rule}");
    }
    println!();

    // Per host: how deep the attacker got.
    let mut hosts: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
    for f in &timeline {
        if let (Some(h), Some(p)) = (f.entities.hosts.first(), f.phases.get("lm")) {
            let e = hosts.entry(short_host(h)).or_insert((0, ""));
            if p.phase_index >= e.0 {
                *e = (p.phase_index, &*p.phase);
            }
        }
    }
    println!("Deepest Lockheed Martin phase per host");
    for (h, (_, p)) in hosts {
        println!("  {h:<16} {p}");
    }
    println!();
    for w in &warnings {
        println!("note: {w}");
    }
    print!("{}", summary_text(&summary, 0, false));
    println!("\nNext: enrich your own alerts with `killchain map FILE` (see `killchain map --help`),\nhunt Windows event logs with Sigma rules: `killchain hunt LOGS [--rules DIR]`,\npredict the next move with `killchain predict T1566.001 T1059.001`, measure your defences with
`killchain coverage --rules DIR --threat G0016`, look anything up with `killchain explain T1003.001`,
see the mapping with `killchain models show lm`.");
    Ok(ExitCode::SUCCESS)
}

/// `WS-ALICE.corp.example` -> `WS-ALICE`, so the same host reads the same.
fn short_host(h: &str) -> &str {
    h.split('.').next().unwrap_or(h)
}
