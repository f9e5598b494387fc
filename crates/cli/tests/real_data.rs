//! `killchain map` on real third-party data from `../shared/data`: every
//! SigmaHQ rule's ATT&CK tags (as a Sigma engine's alert carries them), the
//! APT29 evaluation's ATT&CK v6 technique IDs (revoked since, so they must
//! redirect), and real Suricata alerts (no ATT&CK fields: all must pass
//! through intact, those of a mapped signature class placed by it). Skips
//! with a notice without ../shared; fails under CI=true.

use std::path::{Path, PathBuf};
use std::process::Command;

use killchain_testdata::shared;
use serde_json::{json, Value};

/// Run `killchain map` on `input`; returns (records out, summary JSON).
fn map(input: &Path, extra: &[&str]) -> (Vec<Value>, Value) {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_killchain"))
        .env("KILLCHAIN_DATA_DIR", data.path())
        .env_remove("KILLCHAIN_KB")
        .args(["map", "--summary", "json"])
        .args(extra)
        .arg(input)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary: Value = serde_json::from_str(stderr.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let recs = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (recs, summary)
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(p);
        }
    }
}

#[test]
fn every_sigmahq_rule_tag_maps() {
    let Some(rules) = shared("sigma/rules") else {
        return;
    };
    let mut files = Vec::new();
    yaml_files(&rules, &mut files);
    files.sort();
    assert!(files.len() > 3000, "{} rules", files.len());
    // One alert per rule, shaped as Sigma engines emit them: title, id, level, tags.
    let mut lines = String::new();
    let (mut with_attack, mut with_technique) = (0u64, 0u64);
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let Ok(rule) = yaml_serde::from_str::<Value>(text.split("\n---").next().unwrap_or(""))
        else {
            continue;
        };
        let tags: Vec<&str> = rule["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        with_attack += u64::from(tags.iter().any(|t| t.starts_with("attack.")));
        with_technique += u64::from(tags.iter().any(|t| t.starts_with("attack.t")));
        let alert = json!({"title": rule["title"], "id": rule["id"], "level": rule["level"], "tags": tags, "rule_file": f.strip_prefix(&rules).unwrap()});
        lines.push_str(&alert.to_string());
        lines.push('\n');
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("sigma-alerts.ndjson");
    std::fs::write(&input, lines).unwrap();
    let (recs, summary) = map(&input, &[]);
    assert_eq!(summary["malformed"], 0);
    assert_eq!(recs.len() as u64, summary["records"].as_u64().unwrap());
    // The snapshot predates ATT&CK v19 tags: every tag must resolve in v18.1.
    assert_eq!(summary["unknown_refs"], 0, "{summary}");
    assert_eq!(
        summary["mapped"].as_u64().unwrap(),
        with_attack,
        "{summary}"
    );
    let placed_by_technique = recs
        .iter()
        .filter(|r| {
            r["threat"]["technique"]["id"].is_array()
                && r["kill_chain"]["lm"]["phase"].is_string()
                && r["kill_chain"]["ukc"]["phase"].is_string()
        })
        .count() as u64;
    assert_eq!(placed_by_technique, with_technique);
    eprintln!(
        "SigmaHQ: {} rules, {with_attack} with ATT&CK tags, all mapped; lm phases: {}",
        recs.len(),
        summary["phases"]["lm"]
    );
}

#[test]
fn apt29_attack_v6_ids_redirect_to_their_current_techniques() {
    let Some(csv) = shared("apt29/apt29_evals_steps.derived.csv") else {
        return;
    };
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = String::new();
    let mut expected: Vec<(String, Vec<String>)> = Vec::new();
    for row in text.lines().skip(1) {
        // day,step,title,technique_ids,attack_v6_ids ; titles hold no commas in this file
        let cols: Vec<&str> = row.split(',').collect();
        let (step, current, old) = (cols[1], cols[3], cols[4]);
        for id in old.split(';').filter(|s| !s.is_empty()) {
            lines.push_str(&json!({"step": step, "technique": id}).to_string());
            lines.push('\n');
            expected.push((
                id.to_string(),
                current.split(';').map(str::to_string).collect(),
            ));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("apt29.ndjson");
    std::fs::write(&input, lines).unwrap();
    let (recs, summary) = map(&input, &[]);
    assert_eq!(recs.len(), expected.len());
    assert_eq!(
        summary["mapped"].as_u64().unwrap() as usize,
        expected.len(),
        "{summary}"
    );
    assert!(
        summary["redirected"].as_u64().unwrap() >= 5,
        "v6 IDs such as T1086, T1002 are revoked: {summary}"
    );
    // The current ID, or its parent, must be one the evaluation lists for the step.
    let mut agree = 0;
    for (r, (old, current)) in recs.iter().zip(&expected) {
        let ids: Vec<&str> = r["threat"]["technique"]["id"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let subs: Vec<&str> = r["threat"]["technique"]["subtechnique"]["id"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let hit = current.iter().any(|c| {
            subs.contains(&c.as_str())
                || ids.contains(&c.as_str())
                || ids.contains(&c.split('.').next().unwrap_or(""))
        });
        agree += usize::from(hit);
        if !hit {
            eprintln!("APT29: {old} -> {ids:?} {subs:?}; the evaluation says {current:?}");
        }
        for m in ["lm", "attack", "ukc"] {
            assert!(
                r["kill_chain"][m]["phase"].is_string(),
                "{old} not placed in {m}"
            );
        }
    }
    // 36 of 38: T1003 (step 6.A, now T1555.003) and T1048 (18.A, now T1567.002) were re-scoped, not revoked.
    assert!(agree >= 36, "{agree} of {}", expected.len());
}

#[test]
fn real_suricata_alerts_pass_through_intact() {
    let Some(dir) = shared("network/suricata-sample-data/samples") else {
        return;
    };
    // Alerts placed by their signature class, per sample (181 of 548 in
    // all; docs/signature-classes.md).
    for (sample, expect_mapped) in [
        ("wrccdc-2017", 32),
        ("wrccdc-2018", 56),
        ("honeypot-2018", 9),
        ("first-org-conf-2015", 84),
    ] {
        let f = dir.join(sample).join("alerts-only.json");
        let original: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let (recs, summary) = map(&f, &[]);
        assert_eq!(summary["malformed"], 0, "{sample}");
        assert_eq!(recs.len(), original.len(), "{sample}");
        assert_eq!(summary["mapped"], expect_mapped, "{sample}");
        for (out, orig) in recs.iter().zip(&original) {
            // Every original field is still there, unchanged.
            for (k, v) in orig.as_object().unwrap() {
                assert_eq!(&out[k], v, "{sample}: field {k}");
            }
            // No ATT&CK reference in these alerts: what maps, maps by its
            // signature class, with low confidence, and says so.
            let sig = orig["alert"]["signature"].as_str().unwrap();
            if out["killchain"]["mapped"] == true {
                assert_eq!(out["killchain"]["confidence"], 0.4, "{sig}");
                let evidence = out["killchain"]["evidence"].as_array().unwrap();
                assert_eq!(evidence.len(), 1, "{sig}");
                assert_eq!(evidence[0]["dialect"], "suricata-class", "{sig}");
                assert_eq!(evidence[0]["field"], "alert.signature", "{sig}");
                assert!(sig.starts_with(evidence[0]["value"].as_str().unwrap()));
                let why = out["kill_chain"]["lm"]["rationale"][0].as_str().unwrap();
                assert!(
                    why.starts_with("inferred from the signature class "),
                    "{why}"
                );
            } else {
                assert!(out["killchain"].get("evidence").is_none(), "{sig}");
            }
            // Concrete classes: a scan maps to a scanning technique, a
            // policy or decoder alert stays unmapped.
            let techniques = &out["threat"]["technique"]["id"];
            if sig.starts_with("ET SCAN ") {
                assert!(
                    *techniques == json!(["T1595"]) || *techniques == json!(["T1046"]),
                    "{sig}: {techniques}"
                );
            }
            if sig.starts_with("ET POLICY ") || sig.starts_with("SURICATA ") {
                assert_eq!(out["killchain"]["mapped"], false, "{sig}");
            }
            assert_eq!(
                out["source"]["ip"], orig["src_ip"],
                "ECS source.ip added from src_ip"
            );
        }
    }
}
