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

#[test]
fn rules_nested_too_deep_are_refused_before_the_yaml_parser() {
    // 50,000 `[` kept rsigma-parser busy for seconds per file; now the file
    // is invalid with the line where it gets too deep, next to a good rule.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("rules/whoami.yml"), dir.path().join("whoami.yml")).unwrap();
    let deep = format!(
        "title: deep\nlogsource:\n  product: windows\ndetection: {}\n",
        "[".repeat(50_000)
    );
    std::fs::write(dir.path().join("deep.yml"), deep).unwrap();
    let out = bin()
        .args(["rules", "check"])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("deep.yml")
            && text.contains("line 4: collections nested more than 128 levels deep"),
        "{text}"
    );
    assert!(
        text.contains("loaded") && !text.contains(" 0 loaded"),
        "{text}"
    );
}

/// `hunt` over `files` (in this order) with the correlation fixture rules.
fn hunt_correlation(files: &[&str], extra: &[&str]) -> (i32, String, String) {
    let mut cmd = bin();
    cmd.arg("hunt");
    for f in files {
        cmd.arg(fixture(&format!("correlation/{f}")));
    }
    let out = cmd
        .arg("--rules")
        .arg(fixture("correlation/rules.yml"))
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
fn hunt_evaluates_correlation_rules_across_files_in_event_time() {
    // The burst (4 failures for admin from 10.9.9.9 within 4 s) is split over
    // two files, its later half in the file given first.
    let (code, stdout, stderr) = hunt_correlation(&["late.ndjson", "early.ndjson"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The input rule does not report on its own (generate: false): one finding.
    assert_eq!(lines.len(), 1, "{stdout}");
    let f = &lines[0];
    let c = &f["sigma"]["correlation"];
    assert_eq!(c["type"], "event_count");
    assert_eq!(c["value"], 4);
    assert_eq!(c["events_total"], 4);
    assert_eq!(c["group"]["IpAddress"], "10.9.9.9");
    assert_eq!(c["group"]["TargetUserName"], "admin");
    assert_eq!(c["first_seen"], "2026-03-02T10:00:10.25Z");
    assert_eq!(c["last_seen"], "2026-03-02T10:00:14.25Z");
    // Evidence in time order, from both files, each with its line.
    let evidence: Vec<(String, u64)> = c["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let file = e["log.file.path"].as_str().unwrap();
            (
                Path::new(file)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                e["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        evidence,
        [
            ("early.ndjson".to_string(), 1),
            ("early.ndjson".to_string(), 2),
            ("late.ndjson".to_string(), 1),
            ("late.ndjson".to_string(), 2),
        ]
    );
    // Mapped like any finding: the correlation's tags, its level, its host.
    assert_eq!(
        f["threat"]["technique"]["subtechnique"]["id"][0],
        "T1110.001"
    );
    assert_eq!(f["rule"]["name"], "Brute force (test correlation)");
    assert_eq!(f["rule"]["level"], "high");
    assert_eq!(f["host"]["name"], "DC1.corp.local");
    assert!(f["kill_chain"]["lm"]["phase"].is_string(), "{f}");
    // Never silent: the untimed match is counted, the summary names the source.
    assert!(
        stderr.contains("1 matches of rules that feed correlations had no event time"),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 findings (1 from correlation rules)"),
        "{stderr}"
    );

    // The same in the other file order, and on one thread.
    let (_, other_order, _) = hunt_correlation(&["early.ndjson", "late.ndjson"], &["-j", "1"]);
    assert_eq!(other_order, stdout);
}

#[test]
fn hunt_correlation_generate_reports_the_input_rule_too() {
    let rules = std::fs::read_to_string(fixture("correlation/rules.yml")).unwrap();
    let dir = std::env::temp_dir().join(format!("killchain-corr-gen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rules.yml");
    std::fs::write(
        &path,
        rules.replace("        gte: 4\n", "        gte: 4\n    generate: true\n"),
    )
    .unwrap();
    let out = bin()
        .arg("hunt")
        .arg(fixture("correlation"))
        .arg("--rules")
        .arg(&path)
        .args(["--format", "csv"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // 6 timed and 1 untimed failed logons, plus the correlation hit.
    assert_eq!(stdout.lines().count(), 1 + 7 + 1, "{stdout}");
    assert_eq!(stdout.matches("Brute force (test correlation)").count(), 1);
}

/// Files are hunted in parallel and taken in input order as they finish:
/// NDJSON output is each file's findings in turn, the same bytes whatever
/// the thread count, and the summary and --incidents still see them all.
#[test]
fn hunt_streams_many_files_in_input_order_whatever_the_threads() {
    let dir = std::env::temp_dir().join(format!("killchain-test-hunt-many-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let events = std::fs::read_to_string(fixture("logs/events.ndjson")).unwrap();
    // Twelve files, the malformed line left out; later files hold fewer
    // events, so they tend to finish first.
    let lines: Vec<&str> = events
        .lines()
        .filter(|l| serde_json::from_str::<Value>(l).is_ok())
        .collect();
    for i in 0..12 {
        let n = lines.len() - i % lines.len();
        std::fs::write(dir.join(format!("f{i:02}.ndjson")), lines[..n].join("\n")).unwrap();
    }
    let run = |threads: &str, extra: &[&str]| {
        let out = bin()
            .arg("hunt")
            .arg(&dir)
            .arg("--rules")
            .arg(fixture("rules"))
            .args(["--threads", threads, "--summary", "json"])
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, one, err) = run("1", &[]);
    assert_eq!(code, Some(0), "{err}");
    let (_, four, _) = run("4", &[]);
    assert_eq!(one, four);
    let files: Vec<String> = one
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let p = v["log"]["file"]["path"].as_str().unwrap().to_string();
            Path::new(&p)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let mut sorted = files.clone();
    sorted.sort();
    assert_eq!(files, sorted, "findings in input (file) order");
    assert_eq!(files.first().map(String::as_str), Some("f00.ndjson"));
    assert_eq!(files.last().map(String::as_str), Some("f11.ndjson"));
    // Every finding counted in the summary.
    let summary: Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    assert_eq!(
        summary["findings"].as_u64(),
        Some(files.len() as u64),
        "{err}"
    );
    // --incidents sees them all too (one incident per host here, at least one).
    let (code, _, err) = run("4", &["--incidents", "--no-store", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A FIFO (or socket, device) named like a log inside a folder blocked the
/// hunt for ever on open; it is reported and skipped, the rest is read.
#[cfg(unix)]
#[test]
fn hunt_skips_a_fifo_found_in_a_folder() {
    use std::io::Read;
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("logs/events.ndjson"),
        dir.path().join("events.ndjson"),
    )
    .unwrap();
    let fifo = dir.path().join("pipe.json");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let mut child = bin()
        .arg("hunt")
        .arg(dir.path())
        .arg("--rules")
        .arg(fixture("rules"))
        .arg("--no-progress")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("hunt blocked on the FIFO");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("pipe.json: not a regular file"), "{err}");
    assert!(err.contains("6 events"), "{err}");
}

/// Event folders are walked like every other input folder (crates/cli/src/walk.rs):
/// a symlinked folder is followed, a link back up the tree is read once.
#[cfg(unix)]
#[test]
fn hunt_follows_a_symlinked_folder_and_reads_a_loop_once() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(logs.join("sub")).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::copy(
        fixture("logs/events.ndjson"),
        elsewhere.join("events.ndjson"),
    )
    .unwrap();
    std::os::unix::fs::symlink(&elsewhere, logs.join("linked")).unwrap();
    std::os::unix::fs::symlink("..", logs.join("sub/up")).unwrap();
    let out = bin()
        .arg("hunt")
        .arg(&logs)
        .arg("--rules")
        .arg(fixture("rules"))
        .arg("--no-progress")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // The fixture's 6 events once, through the link: not skipped, not
    // twice (its one bad record makes the exit status 1).
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("hunt: 1 files, 6 events"), "{err}");
    assert!(err.contains("1 bad records, 0 unreadable inputs"), "{err}");
}

/// A failed write to the output (a full disk) is fatal and names the output.
#[test]
fn hunt_names_the_output_it_cannot_write() {
    if !Path::new("/dev/full").exists() {
        eprintln!("NOTICE: no /dev/full on this system; test skipped");
        return;
    }
    let (code, _, stderr) = hunt(&["-o", "/dev/full", "--summary", "none"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("cannot write /dev/full: No space left on device"),
        "{stderr}"
    );
}
