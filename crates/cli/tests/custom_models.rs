//! Custom kill chain models from the command line: `--model-file` adds a
//! model (or replaces a built-in one) for every command, and a broken model
//! file is refused with the file named and the reason.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

const MINI: &str = r#"
id: mini
name: Three-stage model
phases:
  - {id: get-in, name: Get in}
  - {id: stay, name: Stay}
  - {id: act, name: Act}
mapping:
  tactics:
    - {tactic: TA0001, phases: [get-in], rationale: entry into the environment}
    - {tactic: TA0003, phases: [stay], rationale: foothold}
    - {tactic: TA0040, phases: [act], rationale: damage}
  techniques:
    - {technique: T1486, phases: [act], rationale: ransomware encryption is the goal}
"#;

fn bin(data: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_killchain"));
    c.env("KILLCHAIN_DATA_DIR", data).env_remove("KILLCHAIN_KB");
    c
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_model_file_adds_a_model_to_map_and_explain() {
    let dir = tempfile::tempdir().unwrap();
    let model = write(dir.path(), "mini.yaml", MINI);
    let input = write(
        dir.path(),
        "in.ndjson",
        "{\"tags\":[\"attack.t1486\"]}\n{\"tags\":[\"attack.t1003.001\"]}\n",
    );
    let out = bin(dir.path())
        .arg("--model-file")
        .arg(&model)
        .args(["map", "--model", "mini,lm"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs[0]["kill_chain"]["mini"]["phase"], "act");
    assert_eq!(
        recs[0]["kill_chain"]["mini"]["rationale"][0],
        "T1486 -> act: ransomware encryption is the goal"
    );
    assert_eq!(
        recs[0]["kill_chain"]["lm"]["phase"],
        "actions-on-objectives"
    );
    // Credential Access has no row in `mini`: no placement there, the others still come.
    assert!(recs[1]["kill_chain"].get("mini").is_none());
    assert_eq!(
        recs[1]["kill_chain"]["lm"]["phase"],
        "actions-on-objectives"
    );

    // The data directory's models/ folder works the same way, for every command.
    std::fs::create_dir_all(dir.path().join("models")).unwrap();
    std::fs::copy(&model, dir.path().join("models/mini.yaml")).unwrap();
    let out = bin(dir.path())
        .args(["explain", "--json", "T1486"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kill_chain"]["mini"][0]["phase"], "act");
    let out = bin(dir.path()).args(["models", "check"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "mini leaves techniques unmapped, and check says so"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("unmapped: model mini: technique T1003"));
}

#[test]
fn a_model_file_can_replace_a_built_in_model() {
    let dir = tempfile::tempdir().unwrap();
    let model = write(dir.path(), "lm.yaml", &MINI.replace("id: mini", "id: lm"));
    let out = bin(dir.path())
        .arg("--model-file")
        .arg(&model)
        .args(["models", "list"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("lm       Three-stage model (3 phases,"),
        "{text}"
    );
}

#[test]
fn a_broken_model_file_is_refused_with_its_name_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let model = write(
        dir.path(),
        "broken.yaml",
        &MINI.replace("phases: [act]", "phases: [finish]"),
    );
    let out = bin(dir.path())
        .arg("--model-file")
        .arg(&model)
        .args(["models", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.yaml") && err.contains("unknown phase \"finish\""),
        "{err}"
    );
    let out = bin(dir.path())
        .arg("--model-file")
        .arg(dir.path().join("missing.yaml"))
        .args(["models", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read model file"));
}
