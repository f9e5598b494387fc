//! End-to-end tests of `killchain predict`, `model train`, `eval predict`
//! and `bench predict` on fixtures we wrote (the flows of
//! crates/anticipate/tests/fixtures/flows, findings and playbooks in
//! tests/fixtures/predict), and on ../shared/data/attack-flow where noted.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn bin(data_dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_killchain"));
    c.env("KILLCHAIN_DATA_DIR", data_dir);
    c.env_remove("KILLCHAIN_KB");
    c
}

fn empty_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("killchain-predict-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/predict")
        .join(name)
}

fn flows() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../anticipate/tests/fixtures/flows")
}

/// The technique IDs `predict --json` says it observed, in its order.
fn observed_ids(v: &Value) -> Vec<&str> {
    v["observed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect()
}

fn run(cmd: &mut Command) -> (Output, String, String) {
    let out = cmd.output().expect("binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

#[test]
fn predict_from_technique_ids_prints_every_section() {
    let d = empty_dir("ids");
    let (out, stdout, stderr) = run(bin(&d)
        .args(["predict", "T1566.001", "T1059.001", "--flows"])
        .arg(flows()));
    assert!(
        out.status.code() == Some(1),
        "a bad object in fixture-b makes it 1: {stderr}"
    );
    assert!(
        stderr.contains("fixture-b.afb: action 00000000-"),
        "{stderr}"
    );
    assert!(stderr.contains("killchain predict: 3 files, 3 flows, 15 actions, 13 edges; 0 bad files skipped, 1 bad objects skipped"), "{stderr}");
    for section in [
        "Seen",
        "Next tactic",
        "Next technique",
        "Kill chain",
        "Likely adversary",
        "Countermeasures",
        "Playbooks",
    ] {
        assert!(
            stdout.contains(&format!("\n{section}\n")),
            "{section} missing:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("model: 3 flows (13 edges) from 3 files"),
        "{stdout}"
    );
    assert!(stdout.contains("follows T1059.001 in"), "{stdout}");
    assert!(
        stdout.contains("M1042 Disable or Remove Feature or Program"),
        "{stdout}"
    );
}

#[test]
fn predict_json_has_the_documented_shape() {
    let d = empty_dir("json");
    let (out, stdout, stderr) =
        run(bin(&d).args(["predict", "--json", "--top", "3", "T1566.001", "T1204.002"]));
    assert!(out.status.success(), "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "observed",
            "notes",
            "next_tactics",
            "next_techniques",
            "kill_chain",
            "adversaries",
            "countermeasures",
            "playbooks",
            "model"
        ]
    );
    assert_eq!(v["next_techniques"].as_array().unwrap().len(), 3);
    assert_eq!(
        v["model"]["flows"], 0,
        "no saved model, no --flows: kb alone"
    );
    let t = &v["next_techniques"][0];
    assert!(t["id"].as_str().unwrap().starts_with('T'));
    assert!(t["probability"].as_f64().unwrap() > 0.0);
    assert!(!t["evidence"].as_array().unwrap().is_empty());
    let g = &v["adversaries"]["groups"][0];
    assert!(g["score"].as_f64().unwrap() > 0.0 && g["kind"] == "group");
    assert_eq!(v["countermeasures"][0]["technique"], "T1566.001");
    assert_eq!(v["countermeasures"][0]["role"], "observed");
    let lm = v["kill_chain"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["model"] == "lm")
        .unwrap();
    assert_eq!(lm["current"]["id"], "exploitation");
}

#[test]
fn predict_from_findings_orders_by_time_and_skips_bad_records() {
    let d = empty_dir("findings");
    let (out, stdout, stderr) = run(bin(&d)
        .args(["predict", "--json", "--findings"])
        .arg(fixture("findings.ndjson"))
        .arg("--playbook")
        .arg(fixture("playbook-override.yaml")));
    assert_eq!(out.status.code(), Some(1), "one malformed record: {stderr}");
    assert!(stderr.contains("findings.ndjson:line 4:"), "{stderr}");
    assert!(
        stderr.contains("killchain predict: 4 findings, 3 with techniques, 1 malformed"),
        "{stderr}"
    );
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let seen = observed_ids(&v);
    assert_eq!(
        seen,
        ["T1566.001", "T1059.001", "T1071"],
        "sorted by @timestamp"
    );
    let lm = v["kill_chain"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["model"] == "lm")
        .unwrap();
    assert_eq!(lm["current"]["id"], "command-and-control");
    let c2 = v["playbooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["model"] == "lm" && p["stage"] == "current")
        .unwrap();
    assert_eq!(c2["phase"], "command-and-control");
    assert_eq!(
        c2["summary"], "Our own C2 runbook.",
        "the --playbook file replaces the built-in stage"
    );
    assert!(c2["origin"]
        .as_str()
        .unwrap()
        .ends_with("playbook-override.yaml"));
}

#[test]
fn predict_needs_input_and_names_bad_playbooks() {
    let d = empty_dir("bad");
    let (out, _, stderr) = run(bin(&d).args(["predict"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("nothing to predict from"), "{stderr}");
    let (out, _, stderr) = run(bin(&d)
        .args(["predict", "T1059", "--playbook"])
        .arg(fixture("findings.ndjson")));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("findings.ndjson: invalid playbook"),
        "{stderr}"
    );
}

#[test]
fn model_train_saves_a_model_that_predict_uses() {
    let d = empty_dir("train");
    let (out, stdout, stderr) = run(bin(&d)
        .args(["model", "train", "--flows"])
        .arg(flows())
        .arg("--flows")
        .arg(fixture("bad-flows")));
    assert_eq!(
        out.status.code(),
        Some(1),
        "bad files are reported, the rest is saved: {stderr}"
    );
    assert!(stderr.contains("truncated.afb: invalid JSON"), "{stderr}");
    assert!(
        stderr.contains("not-a-flow.json: not an Attack Flow"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "3 files, 3 flows, 15 actions, 13 edges; 2 bad files skipped, 1 bad objects skipped"
        ),
        "{stderr}"
    );
    assert!(
        stdout.contains("3 flows, 15 actions (13 with a technique"),
        "{stdout}"
    );
    assert!(d.join("anticipate/model.json").is_file());
    let (out, stdout, stderr) = run(bin(&d).args(["predict", "--json", "T1566.001"]));
    assert!(out.status.success(), "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["model"]["flows"], 3);
    assert_eq!(v["next_techniques"][0]["id"], "T1204.002");
    // --no-saved-model: back to the kb alone.
    let (_, stdout, _) = run(bin(&d).args(["predict", "--json", "--no-saved-model", "T1566.001"]));
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["model"]["flows"], 0);
}

fn timeline() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../anticipate/tests/fixtures/sequences/timeline.csv")
}

#[test]
fn model_train_reads_sequences_and_predict_uses_them() {
    let d = empty_dir("train-seq");
    // A sequence file alone is enough; a file that is no sequence is reported.
    let (out, stdout, stderr) = run(bin(&d)
        .args(["model", "train", "--sequences"])
        .arg(timeline())
        .arg("--sequences")
        .arg(fixture("bad-flows/not-a-flow.json")));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("sequences: 1 files, 1 flows, 6 actions, 6 edges; 1 bad files skipped"),
        "{stderr}"
    );
    assert!(
        stdout.contains("1 flows, 6 actions (6 with a technique"),
        "{stdout}"
    );
    assert!(
        stdout.contains("`killchain predict` uses it from now on"),
        "{stdout}"
    );
    // Saved elsewhere with --output: predict does not read that file.
    let elsewhere = d.join("elsewhere.json");
    let (out, stdout, stderr) = run(bin(&d)
        .args(["model", "train", "--sequences"])
        .arg(timeline())
        .arg("--output")
        .arg(&elsewhere));
    assert!(out.status.success(), "{stderr}");
    assert!(elsewhere.is_file());
    assert!(
        stdout.contains("(`killchain predict` reads the one in the data dir, not this file)"),
        "{stdout}"
    );
    let (out, stdout, stderr) = run(bin(&d).args(["predict", "--json", "T1204.002"]));
    assert!(out.status.success(), "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (v["model"]["flows"].as_u64(), v["model"]["edges"].as_u64()),
        (Some(1), Some(6))
    );
    // What followed T1204.002 in the timeline, with the timeline as evidence.
    let next: Vec<&str> = v["next_techniques"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            t["evidence"].as_array().unwrap().iter().any(|e| {
                e.as_str()
                    .unwrap()
                    .starts_with("follows T1204.002 in 1 flow")
            })
        })
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert!(
        next.contains(&"T1059.001") && next.contains(&"T1053.005"),
        "{stdout}"
    );
    // Neither --flows nor --sequences: a usage error.
    let (out, _, stderr) = run(bin(&d).args(["model", "train"]));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
}

#[test]
fn eval_predict_trains_on_sequences_without_scoring_them() {
    let d = empty_dir("eval-seq");
    let (_, plain, _) = run(bin(&d)
        .args(["eval", "predict", "--json", "--flows"])
        .arg(flows()));
    let (_, with, stderr) = run(bin(&d)
        .args(["eval", "predict", "--json", "--flows"])
        .arg(flows())
        .arg("--sequences")
        .arg(timeline()));
    assert!(
        stderr.contains("sequences: 1 files, 1 flows, 6 actions, 6 edges"),
        "{stderr}"
    );
    let a: Value = serde_json::from_str(plain.trim()).unwrap();
    let b: Value = serde_json::from_str(with.trim()).unwrap();
    assert_eq!(b["flows"], 3, "the sequence is not an evaluation case");
    let bigram = |v: &Value| {
        v["baselines"]["bigram"]["next_technique"]["top10"]
            .as_f64()
            .unwrap()
    };
    assert!(bigram(&b) > bigram(&a), "{plain} {with}");
}

#[test]
fn eval_predict_json_on_fixtures() {
    let d = empty_dir("eval");
    let (out, stdout, stderr) = run(bin(&d)
        .args(["eval", "predict", "--json", "--flows"])
        .arg(flows()));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["flows"], 3);
    for part in ["next_tactic", "next_technique"] {
        let keys: Vec<&str> = v[part]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["top1", "top3", "top5", "top10"]);
    }
    let b: Vec<&str> = v["baselines"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(b, ["bigram", "matrix_order", "most_frequent"]);
}

#[test]
fn eval_predict_by_file_lists_every_held_out_incident() {
    let d = empty_dir("eval-by-file");
    let (out, stdout, stderr) = run(bin(&d)
        .args(["eval", "predict", "--by-file", "--flows"])
        .arg(flows()));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let table = stdout
        .split("killchain by held-out incident")
        .nth(1)
        .unwrap_or_else(|| panic!("{stdout}"));
    let rows: Vec<&str> = table.lines().skip(2).collect();
    assert_eq!(rows.len(), 3, "{table}");
    for (row, file) in rows
        .iter()
        .zip(["fixture-a.afb", "fixture-b.afb", "fixture-c.json"])
    {
        assert!(row.starts_with(file), "{row}");
    }
    // Fixture A: 6 technique cases (docs of the fixture test).
    assert!(
        rows[0].split_whitespace().nth(6) == Some("6"),
        "{}",
        rows[0]
    );
    // Text only: not with --json.
    let (out, _, stderr) = run(bin(&d)
        .args(["eval", "predict", "--by-file", "--json", "--flows"])
        .arg(flows()));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
}

#[test]
fn eval_predict_on_the_attack_flow_corpus() {
    let Some(corpus) = killchain_testdata::shared("attack-flow/corpus") else {
        return;
    };
    let d = empty_dir("eval-real");
    let (out, stdout, stderr) = run(bin(&d)
        .args(["eval", "predict", "--json", "--flows"])
        .arg(&corpus));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("15 files, 15 flows, 391 actions, 448 edges; 0 bad files skipped"),
        "{stderr}"
    );
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["flows"], 15);
    let m = |path: &[&str]| path.iter().fold(&v, |x, k| &x[*k]).as_f64().unwrap();
    assert!(m(&["next_tactic", "top3"]) > m(&["baselines", "matrix_order", "next_tactic", "top3"]));
    assert!(
        m(&["next_technique", "top10"]) > m(&["baselines", "bigram", "next_technique", "top10"])
    );
}

#[test]
fn bench_predict_reports_rates_and_ratios() {
    let d = empty_dir("bench");
    let (out, stdout, stderr) = run(bin(&d)
        .args(["bench", "predict", "--runs", "1", "--json", "--flows"])
        .arg(flows()));
    assert!(out.status.success(), "{stderr}");
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["bench"], "predict");
    assert_eq!(v["queries"], 13, "prefixes of the flows' technique actions");
    assert!(v["predict_per_s"].as_f64().unwrap() > 0.0);
    assert!(v["predict_ratio_to_floor"].as_f64().unwrap() > 0.0);
}

/// Golden file: the exact `predict --json` output on the fixtures (flows and
/// findings), so any change to the model, the evidence or the schema shows
/// up as a diff. Update on purpose, never automatically:
/// `KILLCHAIN_UPDATE_GOLDEN=1 cargo test -p killchain --test predict golden`,
/// then review the diff before committing.
#[test]
fn golden_predict_json_on_the_fixtures() {
    let d = empty_dir("golden");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let out = bin(&d)
        .current_dir(root)
        .args([
            "predict",
            "--json",
            "--flows",
            "crates/anticipate/tests/fixtures/flows",
            "--findings",
            "crates/cli/tests/fixtures/predict/findings.ndjson",
        ])
        .output()
        .unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/predict-fixtures.json");
    if std::env::var("KILLCHAIN_UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::write(&path, &out.stdout).unwrap();
        return;
    }
    let expected =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let actual = String::from_utf8_lossy(&out.stdout);
    if let Some(i) = expected
        .lines()
        .zip(actual.lines())
        .position(|(e, a)| e != a)
    {
        panic!(
            "{} differs at line {}:\n expected: {}\n   actual: {}\n(if intended: KILLCHAIN_UPDATE_GOLDEN=1 cargo test -p killchain --test predict golden)",
            path.display(),
            i + 1,
            expected.lines().nth(i).unwrap_or(""),
            actual.lines().nth(i).unwrap_or("")
        );
    }
    assert_eq!(
        expected.lines().count(),
        actual.lines().count(),
        "{}: line count",
        path.display()
    );
}

/// Findings without an RFC 3339 `@timestamp` string cannot be ordered by
/// time: all are taken in file order, and the run says so.
#[test]
fn predict_from_findings_says_when_it_keeps_file_order() {
    let d = empty_dir("untimed");
    let f = d.join("findings.ndjson");
    std::fs::write(
        &f,
        concat!(
            r#"{"@timestamp":"2026-03-02T09:03:44Z","threat":{"technique":{"id":["T1059"]}}}"#,
            "\n",
            r#"{"@timestamp":1772442000,"threat":{"technique":{"id":["T1566"]}}}"#,
            "\n",
        ),
    )
    .unwrap();
    let (out, stdout, stderr) = run(bin(&d).args(["predict", "--json", "--findings"]).arg(&f));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("1 of 2 findings with techniques have no @timestamp string; all are taken in file order"),
        "{stderr}"
    );
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let seen = observed_ids(&v);
    assert_eq!(seen, ["T1059", "T1566"], "file order");
}
