//! End-to-end tests of `killchain incidents`, `incident show` and
//! `hunt --incidents` on findings we wrote (tests/fixtures/incidents): a
//! phishing intrusion on ws01 that moves to srv02 by an admin-share logon,
//! an unrelated host hours later, a malformed line and a record without time.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn bin(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_killchain"));
    c.env("KILLCHAIN_DATA_DIR", data);
    c.env_remove("KILLCHAIN_KB");
    c
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/incidents/findings.ndjson")
}

fn run(data: &Path, args: &[&str]) -> (i32, String, String) {
    let out = bin(data).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn incidents_json(data: &Path, file: &Path, extra: &[&str]) -> (i32, Vec<Value>, String) {
    let mut args = vec!["incidents", file.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let (code, out, err) = run(data, &args);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (code, v.as_array().unwrap().clone(), err)
}

#[test]
fn intrusion_becomes_one_incident_with_lateral_movement() {
    let dir = tempfile::tempdir().unwrap();
    let (code, inc, err) = incidents_json(dir.path(), &fixture(), &[]);
    assert_eq!(code, 1, "bad records make exit status 1: {err}");
    assert!(err.contains("findings.ndjson:line 5"), "{err}");
    assert!(
        err.contains("findings.ndjson:line 8: no event time"),
        "{err}"
    );
    assert!(err.contains("2 bad records skipped"), "{err}");
    assert_eq!(inc.len(), 2, "{inc:#?}");
    let main = inc
        .iter()
        .find(|i| i["findings"] == 5)
        .expect("the intrusion");
    assert_eq!(main["hosts"], serde_json::json!(["srv02", "ws01"]));
    assert_eq!(main["users"], serde_json::json!(["alice", "svc_backup"]));
    assert_eq!(main["first_seen"], "2026-03-02T10:00:00Z");
    assert_eq!(main["last_seen"], "2026-03-02T10:25:00Z");
    let lm = &main["kill_chain"]["lm"];
    assert_eq!(
        lm["phases_reached"],
        serde_json::json!([
            "delivery",
            "exploitation",
            "installation",
            "actions-on-objectives"
        ])
    );
    assert_eq!(lm["current_phase"], "actions-on-objectives");
    assert_eq!(lm["deepest_phase"], "actions-on-objectives");
    assert_eq!(lm["path"].as_array().unwrap().len(), 4);
    assert!(main["flags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "skipped"));
    assert_eq!(main["lateral"][0]["from"], "ws01");
    assert_eq!(main["lateral"][0]["to"], "srv02");
    let ev = &main["evidence"][0];
    assert_eq!(ev["log.file.path"], "logs/WS01.corp.local.evtx");
    assert_eq!(ev["record"]["record_id"], "11");
    assert!(main["severity"]["score"].as_f64().unwrap() > 30.0);
    assert_eq!(main["severity"]["parts"].as_array().unwrap().len(), 6);
    // The other host is its own incident.
    let other = inc.iter().find(|i| i["findings"] == 1).unwrap();
    assert_eq!(other["hosts"], serde_json::json!(["ws09"]));
}

#[test]
fn store_continues_and_replay_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_, first, _) = incidents_json(dir.path(), &fixture(), &[]);
    let (_, again, err) = incidents_json(dir.path(), &fixture(), &[]);
    assert!(err.contains("(0 new in the store, 6 in all)"), "{err}");
    let ids = |v: &[Value]| {
        let mut x: Vec<String> = v
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect();
        x.sort();
        x
    };
    assert_eq!(ids(&first), ids(&again));
    // A later file with an earlier finding on srv02: it joins and takes the
    // incident's ID over; the old ID is recorded as merged and still found.
    let later = dir.path().join("later.ndjson");
    std::fs::write(
        &later,
        r#"{"@timestamp":"2026-03-02T09:50:00Z","host":{"name":"srv02"},"user":{"name":"CORP\\svc_backup"},"rule":{"id":"recon","level":"low"},"kill_chain":{"lm":{"phase":"reconnaissance","phase_index":0}},"killchain":{"record":{"file":"logs/SRV02.evtx","id":"1"}}}"#,
    )
    .unwrap();
    let (_, third, err) = incidents_json(dir.path(), &later, &[]);
    assert!(err.contains("(1 new in the store, 7 in all)"), "{err}");
    let old_main = first.iter().find(|i| i["findings"] == 5).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let main = third.iter().find(|i| i["findings"] == 6).expect("joined");
    assert_ne!(main["id"], old_main.as_str());
    assert_eq!(main["merged_from"], serde_json::json!([old_main]));
    let (code, out, err) = run(dir.path(), &["incident", "show", &old_main]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("was merged into this incident"), "{out}");
    assert!(out.contains("Timeline by lm phase"), "{out}");
    assert!(out.contains("  reconnaissance  (1 findings"), "{out}");
    assert!(
        out.contains("[logs/WS01.corp.local.evtx:record 11]"),
        "{out}"
    );
    // What comes next, from the incident's techniques (killchain predict).
    assert!(out.contains("Next moves, likely adversary"), "{out}");
    assert!(out.contains("Next tactic"), "{out}");
    assert!(out.contains("Playbook"), "{out}");
    let (code, json, err) = run(dir.path(), &["incident", "show", &old_main, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&json).unwrap();
    let seen = v["prediction"]["observed"]
        .as_array()
        .expect("prediction.observed");
    assert!(!seen.is_empty(), "{json}");
    assert!(
        v["prediction"]["next_tactics"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "{json}"
    );
}

#[test]
fn any_file_order_gives_the_same_incidents() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture()).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.reverse();
    let rev = dir.path().join("reversed.ndjson");
    std::fs::write(&rev, lines.join("\n")).unwrap();
    let (_, a, _) = incidents_json(dir.path(), &fixture(), &["--no-store"]);
    let (_, b, _) = incidents_json(dir.path(), &rev, &["--no-store"]);
    let strip = |v: &[Value]| -> Vec<(Value, Value, Value)> {
        v.iter()
            .map(|i| (i["id"].clone(), i["hosts"].clone(), i["kill_chain"].clone()))
            .collect()
    };
    assert_eq!(strip(&a), strip(&b));
}

#[test]
fn text_list_and_splunk_preset() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture();
    let (_, out, _) = run(
        dir.path(),
        &["incidents", f.to_str().unwrap(), "--no-store"],
    );
    assert!(
        out.contains("hosts: srv02, ws01   users: alice, svc_backup"),
        "{out}"
    );
    assert!(
        out.contains("lm     [··███·█] current actions-on-objectives"),
        "{out}"
    );
    assert!(
        out.contains("lateral: ws01 -> srv02 via logon source"),
        "{out}"
    );
    let (_, inc, _) = incidents_json(dir.path(), &f, &["--no-store", "--preset", "splunk"]);
    let main = inc.iter().find(|i| i["findings"] == 5).unwrap();
    assert_eq!(main["severity"]["preset"], "splunk");
    // alice: 3 tactics but 3 rules, no; host ws01 (with the logon from it
    // on srv02): 4 tactics, 4 rules -> the RBA rule fires.
    assert_eq!(main["severity"]["level"], "high", "{:#?}", main["severity"]);
    assert!(main["severity"]["parts"][0]["why"]
        .as_str()
        .unwrap()
        .starts_with("host:ws01: 4 distinct tactics"));
    let other = inc.iter().find(|i| i["findings"] == 1).unwrap();
    assert_eq!(other["severity"]["level"], "low");
}

#[test]
fn hunt_with_incidents_prints_incidents_not_findings() {
    let dir = tempfile::tempdir().unwrap();
    let hunt = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hunt");
    let (_, out, err) = run(
        dir.path(),
        &[
            "hunt",
            hunt.join("logs").to_str().unwrap(),
            "--rules",
            hunt.join("rules").to_str().unwrap(),
            "--incidents",
            "--json",
            "--no-store",
        ],
    );
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let inc = v.as_array().unwrap();
    assert!(!inc.is_empty(), "{err}");
    let findings: u64 = inc.iter().map(|i| i["findings"].as_u64().unwrap()).sum();
    assert!(err.contains(&format!("{findings} findings (")), "{err}");
    for i in inc {
        assert!(i["evidence"][0]["log.file.path"]
            .as_str()
            .unwrap()
            .contains("logs"));
    }
}

#[test]
fn asset_config_with_unknown_keys_is_an_error_naming_the_file() {
    // A misspelt key (`asset:` for `assets:`) used to be ignored: every
    // host silently got the default criticality.
    let dir = tempfile::tempdir().unwrap();
    let assets = dir.path().join("assets.yaml");
    let with_assets = |yaml: &str| {
        std::fs::write(&assets, yaml).unwrap();
        run(
            dir.path(),
            &[
                "incidents",
                fixture().to_str().unwrap(),
                "--no-store",
                "--assets",
                assets.to_str().unwrap(),
            ],
        )
    };
    let (code, _, err) = with_assets("asset:\n  - pattern: dc*\n    criticality: critical\n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("assets.yaml"), "{err}");
    assert!(err.contains("unknown field `asset`"), "{err}");
    // The same for a key misspelt inside a rule.
    let (code, _, err) =
        with_assets("assets:\n  - pattern: dc*\n    criticality: critical\n    owner: it\n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown field `owner`"), "{err}");
}

#[test]
fn no_store_counts_a_repeated_finding_once() {
    // The same findings file twice: the repeats are the same findings
    // (same file, record, rule and time), counted once as with the store,
    // not announced as new findings that no incident then holds.
    let dir = tempfile::tempdir().unwrap();
    let f = fixture();
    let f = f.to_str().unwrap();
    let (_, out, err) = run(dir.path(), &["incidents", f, f, "--no-store", "--json"]);
    let inc: Vec<Value> = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    let held: u64 = inc.iter().map(|i| i["findings"].as_u64().unwrap()).sum();
    assert_eq!(held, 6, "{err}");
    assert!(
        err.contains("12 findings (6 new in the store, 6 in all)"),
        "{err}"
    );
}

#[test]
fn max_share_must_be_a_share() {
    // NaN made every comparison false: no entity was ever too common, and
    // the run said nothing.
    let dir = tempfile::tempdir().unwrap();
    for v in ["nan", "1.5", "inf"] {
        let arg = format!("--max-share={v}");
        let (code, _, err) = run(
            dir.path(),
            &["incidents", fixture().to_str().unwrap(), "--no-store", &arg],
        );
        assert_eq!(code, 2, "{arg}: {err}");
        assert!(err.contains("between 0 and 1"), "{arg}: {err}");
    }
}
