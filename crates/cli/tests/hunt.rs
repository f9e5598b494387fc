//! End-to-end tests of `killchain hunt` and `killchain rules check` on
//! fixtures we wrote (tests/fixtures/hunt): routing by logsource (a Sysmon
//! process creation and a Security 4688 through the pipeline aliases, a
//! Sysmon network event that must not reach process_creation rules), a
//! filter, a malformed line, an invalid rule, and every output format.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_killchain"));
    let d = std::env::temp_dir().join(format!("killchain-test-hunt-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    c.env("KILLCHAIN_DATA_DIR", d);
    c.env_remove("KILLCHAIN_KB");
    c
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hunt")
        .join(rel)
}

fn hunt(extra: &[&str]) -> (i32, String, String) {
    let out = bin()
        .arg("hunt")
        .arg(fixture("logs"))
        .arg("--rules")
        .arg(fixture("rules"))
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn hunt_finds_routes_filters_and_reports() {
    let (code, stdout, stderr) = hunt(&[]);
    // A malformed line: reported with file and line, counted, exit 1.
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("events.ndjson:line 6"), "{stderr}");
    // The invalid rule is reported, the others load.
    assert!(
        stderr.contains("2 loaded, 0 unsupported, 1 invalid"),
        "{stderr}"
    );
    let found: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rules: Vec<(&str, &str)> = found
        .iter()
        .map(|f| {
            (
                f["rule"]["name"].as_str().unwrap(),
                f["Hostname"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rules,
        [
            ("Whoami Execution (test rule)", "WS1.corp.local"),
            ("Whoami Execution (test rule)", "WS2.corp.local"),
            (
                "Network Logon From Remote Host (test rule)",
                "WS2.corp.local"
            ),
            (
                "Network Logon From Remote Host (test rule)",
                "WS3.corp.local"
            ),
        ]
    );
    // The foundation's schema: ATT&CK, kill chain, rule, provenance.
    let f = &found[0];
    assert_eq!(f["threat"]["technique"]["id"][0], "T1033");
    assert_eq!(f["threat"]["tactic"]["id"][0], "TA0007");
    assert_eq!(f["kill_chain"]["attack"]["phase"], "discovery");
    assert!(f["kill_chain"]["lm"]["phase"].is_string());
    assert_eq!(f["rule"]["level"], "medium");
    assert_eq!(f["host"]["name"], "WS1.corp.local");
    assert!(f["log"]["file"]["path"]
        .as_str()
        .unwrap()
        .ends_with("events.ndjson"));
    assert_eq!(f["killchain"]["record"]["line"], 1);
    let lateral = &found[2];
    assert_eq!(
        lateral["threat"]["technique"]["subtechnique"]["id"][0],
        "T1021.002"
    );
    assert_eq!(lateral["kill_chain"]["attack"]["phase"], "lateral-movement");
    // The per-host summary.
    assert!(
        stderr.contains("hunt: 1 files, 6 events, 4 findings on 3 hosts, 1 bad records"),
        "{stderr}"
    );
    assert!(stderr.contains("WS2.corp.local  2 findings"), "{stderr}");
}

#[test]
fn hunt_csv_timeline_is_sorted_by_time() {
    let (_, stdout, _) = hunt(&["--format", "csv", "--summary", "none"]);
    let rows: Vec<&str> = stdout.lines().collect();
    assert_eq!(rows[0], "time,host,user,level,rule,techniques,tactics,lm_phase,attack_phase,ukc_phase,record_id,file");
    assert_eq!(rows.len(), 5);
    // WS3's logon (09:59) comes first although it is the last line.
    assert!(
        rows[1].starts_with("2026-03-02T09:59:00Z,WS3.corp.local,carol,low,Network Logon"),
        "{}",
        rows[1]
    );
    let times: Vec<&str> = rows[1..]
        .iter()
        .map(|r| r.split(',').next().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
}

#[test]
fn hunt_filters_by_level_and_tag() {
    let (_, stdout, stderr) = hunt(&["--min-level", "medium", "--summary", "none"]);
    assert_eq!(stdout.lines().count(), 2, "{stderr}");
    // The logon rule (low) and the broken rule (no level) are left out.
    assert!(stderr.contains("2 filtered out"), "{stderr}");
    let (_, stdout, _) = hunt(&["--tag", "attack.lateral_movement", "--summary", "none"]);
    assert_eq!(stdout.lines().count(), 2);
    let (_, table, _) = hunt(&["--format", "table", "--summary", "none"]);
    assert!(table.lines().next().unwrap().starts_with("time"));
    assert_eq!(table.lines().count(), 5);
}

#[test]
fn hunt_reports_unreadable_paths_and_bad_level() {
    let out = bin()
        .args(["hunt", "/nonexistent/logs", "--rules"])
        .arg(fixture("rules"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("/nonexistent/logs: cannot read"), "{err}");
    let (code, _, err) = hunt(&["--min-level", "severe"]);
    assert_eq!(code, 2);
    assert!(err.contains("--min-level \"severe\""), "{err}");
}

#[test]
fn rules_check_lists_what_does_not_load() {
    let out = bin()
        .args(["rules", "check"])
        .arg(fixture("rules"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("invalid") && text.contains("broken.yml") && text.contains("bad regex"),
        "{text}"
    );
    assert!(text.contains("3 documents: 2 loaded"), "{text}");
}
