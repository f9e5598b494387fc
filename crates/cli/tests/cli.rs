//! End-to-end tests of the `killchain` binary: real subcommands on fixtures
//! we wrote (and on ../shared/data where noted), checking output, the error
//! reports for bad input and the exit codes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use killchain_testdata::shared;
use serde_json::Value;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_killchain"));
    // An empty data dir: tests never see an index the developer installed.
    c.env("KILLCHAIN_DATA_DIR", empty_data_dir());
    c.env_remove("KILLCHAIN_KB");
    c
}

fn empty_data_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("killchain-test-empty-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn run(cmd: &mut Command) -> (Output, String, String) {
    let out = cmd.output().expect("binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("output line is JSON"))
        .collect()
}

#[test]
fn demo_prints_a_kill_chain_summary() {
    let (out, stdout, _) = run(bin().arg("demo"));
    assert!(out.status.success());
    for want in [
        "Lockheed Martin kill chain",
        "delivery",
        "actions-on-objectives",
        "WS-ALICE",
        "FS01",
        "T1003.001",
        "12 records, 11 mapped, 1 unmapped, 0 malformed",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
    assert!(
        stdout.contains("T1086 is revoked in ATT&CK, mapped as T1059.001"),
        "{stdout}"
    );
}

#[test]
fn map_enriches_every_dialect_of_the_demo_sample() {
    let (out, stdout, stderr) = run(bin()
        .args(["map", "crates/cli/demo/alerts.ndjson"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")));
    assert!(out.status.success(), "{stderr}");
    let recs = lines(&stdout);
    assert_eq!(recs.len(), 12);
    let lm: Vec<&str> = recs
        .iter()
        .map(|r| r["kill_chain"]["lm"]["phase"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(
        lm,
        [
            "delivery",
            "exploitation",
            "installation",
            "installation",
            "command-and-control",
            "actions-on-objectives",
            "actions-on-objectives",
            "exploitation",
            "actions-on-objectives",
            "actions-on-objectives",
            "actions-on-objectives",
            "-"
        ]
    );
    // ECS threat fields: technique parents and sub-techniques apart.
    let r = &recs[2];
    assert_eq!(r["threat"]["technique"]["id"], serde_json::json!(["T1053"]));
    assert_eq!(
        r["threat"]["technique"]["subtechnique"]["id"],
        serde_json::json!(["T1053.005"])
    );
    assert_eq!(r["threat"]["tactic"]["id"], serde_json::json!(["TA0003"]));
    assert_eq!(r["kill_chain"]["attack"]["phase"], "persistence");
    // Original fields survive; evidence keeps what the record said.
    assert_eq!(
        r["kibana.alert.rule.name"],
        "Scheduled Task Created by PowerShell"
    );
    assert!(r["killchain"]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["dialect"] == "elastic"));
    // The unmapped record passes through, flagged.
    assert_eq!(recs[11]["killchain"]["mapped"], false);
    assert!(
        stderr.contains("12 records, 11 mapped, 1 unmapped, 0 malformed"),
        "{stderr}"
    );
}

#[test]
fn malformed_input_is_reported_with_file_and_line_and_the_rest_flows() {
    let f = fixture("malformed.ndjson");
    let (out, stdout, stderr) = run(bin().arg("map").arg(&f));
    assert_eq!(
        out.status.code(),
        Some(1),
        "malformed input gives exit 1: {stderr}"
    );
    let name = f.display().to_string();
    assert!(stderr.contains(&format!("{name}:line 2:")), "{stderr}");
    assert!(stderr.contains(&format!("{name}:line 5:")), "{stderr}");
    assert!(
        stderr.contains("\"T9999\" is not a known ATT&CK technique"),
        "{stderr}"
    );
    assert!(stderr.contains("not a JSON object"), "{stderr}");
    let recs = lines(&stdout);
    assert_eq!(recs.len(), 5, "good records all come out: {stdout}");
    assert_eq!(recs[1]["kill_chain"]["lm"]["phase"], "exploitation");
    assert_eq!(recs[1]["killchain"]["record"]["line"], 4);
    assert!(
        stderr.contains("5 records, 2 mapped, 3 unmapped, 2 malformed, 1 not objects"),
        "{stderr}"
    );
}

#[test]
fn strict_stops_at_the_first_bad_record() {
    let (out, _, stderr) = run(bin()
        .args(["map", "--strict"])
        .arg(fixture("malformed.ndjson")));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("line 2"), "{stderr}");
}

#[test]
fn json_arrays_gzip_and_stdin() {
    let (out, stdout, stderr) = run(bin()
        .args(["map", "--model", "lm,ukc"])
        .arg(fixture("alerts-array.json")));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let recs = lines(&stdout);
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["kill_chain"]["lm"]["phase"], "delivery");
    assert_eq!(recs[0]["kill_chain"]["ukc"]["phase"], "social-engineering");
    assert!(
        recs[0]["kill_chain"].get("attack").is_none(),
        "only the selected models"
    );
    assert_eq!(
        recs[1]["kill_chain"]["lm"]["phase"],
        "actions-on-objectives"
    );
    assert!(
        stderr.contains("alerts-array.json:line 13: expected value"),
        "{stderr}"
    );

    // gzip, detected by its magic bytes.
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("alerts.bin");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(br#"{"tags":["attack.t1566.001"]}"#).unwrap();
    enc.finish().unwrap();
    let (out, stdout, _) = run(bin().arg("map").arg(&gz));
    assert!(out.status.success());
    assert_eq!(lines(&stdout)[0]["kill_chain"]["lm"]["phase"], "delivery");

    // stdin.
    let mut child = bin()
        .args(["map", "--summary", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"rule\":{\"mitre\":{\"id\":[\"T1021.001\"]}}}\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let rec = lines(&String::from_utf8_lossy(&out.stdout))[0].clone();
    assert_eq!(rec["kill_chain"]["ukc"]["phase"], "lateral-movement");
    let summary: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(summary["mapped"], 1);
}

#[test]
fn unreadable_input_is_reported_and_the_others_still_run() {
    let (out, stdout, stderr) = run(bin()
        .args(["map", "/nonexistent/alerts.json"])
        .arg(fixture("alerts-array.json")));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("/nonexistent/alerts.json: cannot open"),
        "{stderr}"
    );
    assert!(stderr.contains("1 inputs unreadable"), "{stderr}");
    assert_eq!(lines(&stdout).len(), 2);
}

#[test]
fn custom_field_paths_and_drop_unmapped() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("custom.ndjson");
    std::fs::write(&f, "{\"detection\":{\"mitre\":\"T1003.001\"}}\n{\"x\":1}\n").unwrap();
    let (out, stdout, _) = run(bin()
        .args([
            "map",
            "--technique-field",
            "detection.mitre",
            "--unmapped",
            "drop",
        ])
        .arg(&f));
    assert!(out.status.success());
    let recs = lines(&stdout);
    assert_eq!(recs.len(), 1);
    assert_eq!(
        recs[0]["kill_chain"]["lm"]["phase"],
        "actions-on-objectives"
    );
    assert_eq!(
        recs[0]["killchain"]["evidence"][0]["field"],
        "detection.mitre"
    );
}

#[test]
fn explain_a_technique_tag_group_and_unknowns() {
    let (out, stdout, _) = run(bin().args(["explain", "T1003.001"]));
    assert!(out.status.success());
    for want in [
        "LSASS Memory",
        "sub-technique of T1003 OS Credential Dumping",
        "TA0006 Credential Access",
        "lm      actions-on-objectives",
        "ukc     credential-access",
        "Mitigations",
        "Groups known to use it",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
    let (out, stdout, _) = run(bin().args(["explain", "--json", "attack.g0016"]));
    assert!(out.status.success());
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["name"], "APT29");
    assert!(v["techniques"].as_array().unwrap().len() > 50);
    assert!(v["kill_chain_profile"]["lm"]["delivery"].as_u64().unwrap() > 0);
    let (out, _, stderr) = run(bin().args(["explain", "T1086"]));
    assert!(out.status.success());
    assert!(stderr.contains("T1086 is revoked"), "{stderr}");
    let (out, _, stderr) = run(bin().args(["explain", "credential dump"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("did you mean") && stderr.contains("T1003"),
        "{stderr}"
    );
}

#[test]
fn models_show_list_check_and_completions() {
    let (out, stdout, _) = run(bin().args(["models", "show", "lm"]));
    assert!(out.status.success());
    assert!(
        stdout.contains("T1566") && stdout.contains("the phishing message carries the weapon"),
        "{stdout}"
    );
    let (out, stdout, _) = run(bin().args(["models", "list"]));
    assert!(out.status.success());
    assert!(
        stdout.contains("ukc") && stdout.contains("18 phases"),
        "{stdout}"
    );
    let (out, stdout, _) = run(bin().args(["models", "check"]));
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains(": 0 unmapped"), "{stdout}");
    let (out, stdout, _) = run(bin().args(["completions", "bash"]));
    assert!(out.status.success() && stdout.contains("killchain"));
    let (out, _, stderr) = run(bin().args(["models", "show", "nope"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("unknown model \"nope\""), "{stderr}");
}

#[test]
fn kb_info_and_import_of_a_v19_shaped_bundle() {
    let (out, stdout, _) = run(bin().args(["kb", "info"]));
    assert!(out.status.success());
    assert!(
        stdout.contains("enterprise-attack 18.1 (built-in)"),
        "{stdout}"
    );
    assert!(stdout.contains("216") && stdout.contains("475"), "{stdout}");

    let data = tempfile::tempdir().unwrap();
    let v19 =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../kb/tests/fixtures/attack-v19-mini.json");
    let mut cmd = bin();
    cmd.env("KILLCHAIN_DATA_DIR", data.path())
        .args(["kb", "import"])
        .arg(&v19);
    let (out, stdout, stderr) = run(&mut cmd);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("19.0"), "{stdout}");
    let mut cmd = bin();
    let (_, stdout, _) = run(cmd
        .env("KILLCHAIN_DATA_DIR", data.path())
        .args(["kb", "info"]));
    assert!(stdout.contains("19.0 (installed"), "{stdout}");
    assert!(
        stdout.contains("Stealth") && stdout.contains("Defense Impairment"),
        "{stdout}"
    );
    // Defense Impairment maps through the tables' TA0112 rows, from data alone.
    let mut cmd = bin();
    let (out, stdout, _) = run(cmd
        .env("KILLCHAIN_DATA_DIR", data.path())
        .args(["explain", "--json", "TA0112"]));
    assert!(out.status.success());
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["kill_chain"]["lm"][0]["phase"], "installation");
    assert_eq!(v["kill_chain"]["attack"][0]["phase"], "defense-impairment");
    let mut cmd = bin();
    let (out, stdout, _) = run(cmd
        .env("KILLCHAIN_DATA_DIR", data.path())
        .args(["models", "check"]));
    assert!(out.status.success(), "{stdout}");
    let mut cmd = bin();
    let (out, stdout, _) = run(cmd
        .env("KILLCHAIN_DATA_DIR", data.path())
        .args(["kb", "reset"]));
    assert!(
        out.status.success() && stdout.contains("removed"),
        "{stdout}"
    );
}

#[test]
fn kb_import_of_the_real_v18_bundle_matches_the_built_in_index() {
    let Some(bundle) = shared("attack/enterprise-attack.json") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("index.json.gz");
    let (out, stdout, stderr) = run(bin()
        .args(["kb", "import", "--attack-version", "18.1", "--output"])
        .arg(&out_file)
        .arg(&bundle));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("14 tactics, 216 techniques, 475 sub-techniques"),
        "{stdout}"
    );
    // The committed embedded index is exactly what the generator makes from the bundle.
    let built =
        killchain_kb::AttackData::from_index_bytes(&std::fs::read(&out_file).unwrap(), "test")
            .unwrap();
    let embedded = killchain_kb::AttackData::embedded().unwrap();
    assert_eq!(
        built, embedded,
        "regenerate crates/kb/data with examples/generate.rs"
    );
    let (out, stdout, _) = run(bin().arg("--kb").arg(&out_file).args(["kb", "info"]));
    assert!(out.status.success() && stdout.contains("--kb"), "{stdout}");
}

#[test]
fn bad_bundles_are_rejected_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("not-a-bundle.json");
    std::fs::write(&f, "{\"type\":\"indicator\"}").unwrap();
    let (out, _, stderr) = run(bin()
        .env("KILLCHAIN_DATA_DIR", dir.path())
        .args(["kb", "import"])
        .arg(&f));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("not-a-bundle.json") && stderr.contains("not a usable ATT&CK STIX bundle"),
        "{stderr}"
    );
    assert!(!dir.path().join("attack").exists(), "nothing installed");
}

/// A failed write to the output (disk full) is fatal at once and names the
/// output; it is not blamed on the input being read, and the other inputs
/// are not mapped into a broken output.
#[cfg(target_os = "linux")]
#[test]
fn map_output_write_failure_is_fatal_and_names_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("alerts.ndjson");
    // More than the 64 KiB output buffer, so the write fails while mapping.
    std::fs::write(&input, "{\"technique\":\"T1059\"}\n".repeat(5000)).unwrap();
    let (out, _, err) = run(bin().args([
        "map",
        input.to_str().unwrap(),
        input.to_str().unwrap(),
        "-o",
        "/dev/full",
    ]));
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot write /dev/full"), "{err}");
    assert_eq!(err.matches("No space left on device").count(), 1, "{err}");
}

/// Runs `cmd` for at most a minute; None if it was still running.
#[cfg(unix)]
fn run_within_a_minute(cmd: &mut Command) -> Option<(i32, String)> {
    use std::io::Read;
    use std::time::{Duration, Instant};
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > std::time::Duration::from_secs(60) {
            child.kill().unwrap();
            let _ = child.wait();
            return None;
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
    Some((status.code().unwrap_or(-1), err))
}

/// A two-action STIX Attack Flow for the folder-walk tests.
const TWO_ACTION_FLOW: &str = r#"{"type":"bundle","id":"bundle--1","objects":[
    {"type":"attack-action","id":"attack-action--1","technique_id":"T1566.001","effect_refs":["attack-action--2"]},
    {"type":"attack-action","id":"attack-action--2","technique_id":"T1059.001"}]}"#;

/// A FIFO named like a flow or a rule inside a searched folder used to be
/// opened and block for ever; it is reported and skipped.
#[cfg(unix)]
#[test]
fn fifos_in_flow_and_rule_folders_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(flows.join("one.json"), TWO_ACTION_FLOW).unwrap();
    std::fs::copy(fixture("hunt/rules/whoami.yml"), rules.join("whoami.yml")).unwrap();
    for fifo in [
        flows.join("pipe.json"),
        flows.join("pipe.afb"),
        rules.join("pipe.yml"),
    ] {
        assert!(Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
    }
    let model = dir.path().join("model.json");
    let (f, r, m) = (
        flows.to_str().unwrap(),
        rules.to_str().unwrap(),
        model.to_str().unwrap(),
    );
    for args in [
        vec!["model", "train", "--flows", f, "--output", m],
        vec!["coverage", "--flows", f, "--rules", r],
        vec!["rules", "check", r],
    ] {
        let (code, err) =
            run_within_a_minute(bin().args(&args)).unwrap_or_else(|| panic!("{args:?} blocked"));
        assert!(code == 0 || code == 1, "{args:?}: {code} {err}");
        if args[0] != "rules" {
            assert!(err.contains("pipe."), "{args:?}: {err}");
            assert!(err.contains("not a regular file"), "{args:?}: {err}");
        }
    }
}

/// A symlink from inside a flow or rule folder back to the folder used to
/// make the walk read everything again at every level until the OS gave up
/// (40 copies of each flow trained on, each rule counted 40 times).
#[cfg(unix)]
#[test]
fn a_symlink_loop_in_a_folder_reads_each_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    let rules = dir.path().join("rules");
    for d in [&flows, &rules] {
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::os::unix::fs::symlink("..", d.join("sub/up")).unwrap();
    }
    std::fs::write(flows.join("one.json"), TWO_ACTION_FLOW).unwrap();
    std::fs::copy(fixture("hunt/rules/whoami.yml"), rules.join("whoami.yml")).unwrap();
    let model = dir.path().join("model.json");
    let (_, _, err) = run(bin().args([
        "model",
        "train",
        "--flows",
        flows.to_str().unwrap(),
        "--output",
        model.to_str().unwrap(),
    ]));
    assert!(err.contains("1 files, 1 flows"), "{err}");
    let (_, _, err) = run(bin().args(["coverage", "--rules", rules.to_str().unwrap()]));
    assert!(err.contains("rules 1 documents"), "{err}");
}
