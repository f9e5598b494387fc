//! Evaluation of incident correlation on the OTRF Security-Datasets
//! (`../shared/data/otrf`): for each Windows dataset with host logs here,
//! `killchain hunt --incidents --json` with the built-in pack and the
//! SigmaHQ Windows rules, then: how many incidents it becomes (ideal 1), the
//! share of its labelled tactics (`_metadata/*.yaml` `attack_mappings`) the
//! main incident (most findings) holds, the share any finding holds (the
//! detection ceiling), and findings per incident. Prints the table that
//! docs/incidents.md keeps.
//!
//! Slow (a hunt per dataset): `cargo test -p killchain --test incidents_eval -- --ignored --nocapture`.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

#[derive(Debug, Default)]
struct Row {
    id: String,
    title: String,
    findings: usize,
    incidents: usize,
    labelled: usize,
    main_share: f64,
    any_share: f64,
}

#[test]
#[ignore = "slow: one hunt per OTRF dataset; run with --ignored --nocapture"]
fn otrf_incidents_table() {
    let Some(otrf) = killchain_testdata::shared("otrf") else {
        return;
    };
    let Some(rules) = killchain_testdata::shared("sigma/rules/windows") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let mut rows: Vec<Row> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for kind in ["atomic", "compound"] {
        let meta_dir = otrf.join(kind).join("_metadata");
        let mut metas: Vec<_> = std::fs::read_dir(&meta_dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        metas.sort();
        for m in metas {
            let text = std::fs::read_to_string(&m).unwrap();
            let Ok(meta) = yaml_serde::from_str::<Value>(&text) else {
                skipped.push(format!("{}: unreadable metadata", m.display()));
                continue;
            };
            let id = meta["id"].as_str().unwrap_or("?").to_string();
            let labelled: BTreeSet<String> = meta["attack_mappings"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|a| a["tactics"].as_array().cloned().unwrap_or_default())
                .filter_map(|t| t.as_str().map(String::from))
                .collect();
            let files: Vec<_> = meta["files"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|f| f["type"].as_str() == Some("Host"))
                .filter_map(|f| f["link"].as_str())
                .filter_map(|l| l.split("/datasets/").nth(1))
                .map(|rel| {
                    let stem = rel.trim_end_matches(".tar.gz").trim_end_matches(".zip");
                    otrf.join(format!("{stem}.zip"))
                })
                .filter(|p| p.exists())
                .collect();
            if files.is_empty() || labelled.is_empty() {
                skipped.push(format!("{id}: no host logs here or no labelled tactics"));
                continue;
            }
            let out = Command::new(env!("CARGO_BIN_EXE_killchain"))
                .env("KILLCHAIN_DATA_DIR", data.path())
                .arg("hunt")
                .args(&files)
                .arg("--rules")
                .arg(&rules)
                .args(["--with-builtin", "--incidents", "--json", "--no-store"])
                .args(["--no-progress", "--summary", "none"])
                .output()
                .unwrap();
            let Ok(Value::Array(inc)) = serde_json::from_slice::<Value>(&out.stdout) else {
                skipped.push(format!(
                    "{id}: hunt failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
                ));
                continue;
            };
            let tactics = |i: &Value| -> BTreeSet<String> {
                i["tactic_ids"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            };
            let main = inc
                .iter()
                .max_by_key(|i| i["findings"].as_u64().unwrap_or(0));
            let share = |got: &BTreeSet<String>| {
                labelled.intersection(got).count() as f64 / labelled.len() as f64
            };
            let any: BTreeSet<String> = inc.iter().flat_map(tactics).collect();
            rows.push(Row {
                id,
                title: meta["title"]
                    .as_str()
                    .unwrap_or("")
                    .chars()
                    .take(48)
                    .collect(),
                findings: inc
                    .iter()
                    .map(|i| i["findings"].as_u64().unwrap_or(0) as usize)
                    .sum(),
                incidents: inc.len(),
                labelled: labelled.len(),
                main_share: main.map_or(0.0, |m| share(&tactics(m))),
                any_share: share(&any),
            });
        }
    }
    println!("| dataset | title | findings | incidents | labelled tactics | main incident holds | any finding holds |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {:.0}% | {:.0}% |",
            r.id,
            r.title,
            r.findings,
            r.incidents,
            r.labelled,
            r.main_share * 100.0,
            r.any_share * 100.0
        );
    }
    let with = rows.iter().filter(|r| r.findings > 0).count();
    let one = rows.iter().filter(|r| r.incidents == 1).count();
    let findings: usize = rows.iter().map(|r| r.findings).sum();
    let incidents: usize = rows.iter().map(|r| r.incidents).sum();
    let mean = |f: &dyn Fn(&Row) -> f64| {
        let v: Vec<f64> = rows.iter().filter(|r| r.findings > 0).map(f).collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    let ok80 = rows
        .iter()
        .filter(|r| r.findings > 0 && r.main_share >= 0.8)
        .count();
    println!(
        "\n{} datasets evaluated, {} with findings; {} become exactly 1 incident; {} findings -> {} incidents ({:.1}x reduction); \
         main incident holds {:.0}% of labelled tactics on average (>= 80% in {} of {}); any finding holds {:.0}% on average",
        rows.len(), with, one, findings, incidents,
        findings as f64 / incidents.max(1) as f64,
        mean(&|r| r.main_share) * 100.0, ok80, with, mean(&|r| r.any_share) * 100.0
    );
    for s in &skipped {
        println!("skipped: {s}");
    }
    assert!(!rows.is_empty(), "no OTRF dataset evaluated");
}
