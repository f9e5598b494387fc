//! End-to-end tests of `killchain coverage` on the coverage fixtures
//! (crates/coverage/tests/fixtures: inventory, DeTT&CT file, Sigma rules,
//! Attack Flows), every output format, bad input, and the real SigmaHQ
//! rules and CTID Attack Flows in ../shared/data.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_killchain"));
    let d = std::env::temp_dir().join(format!("killchain-test-coverage-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    c.env("KILLCHAIN_DATA_DIR", d);
    c.env_remove("KILLCHAIN_KB");
    c
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../coverage/tests/fixtures")
        .join(rel)
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = bin().arg("coverage").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn fixture_run(extra: &[&str]) -> (i32, String, String) {
    let rules = fixture("rules");
    let controls = fixture("controls.yaml");
    let dettect = fixture("dettect.yaml");
    let flows = fixture("flows");
    let mut args = vec![
        "--rules",
        rules.to_str().unwrap(),
        "--controls",
        controls.to_str().unwrap(),
        "--dettect",
        dettect.to_str().unwrap(),
        "--flows",
        flows.to_str().unwrap(),
        "--threat",
        "G0016,G0032",
        "--platforms",
        "Windows",
        "--collected",
        "sysmon,security",
        "--as-of",
        "2026-11-24",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn text_summary_reports_every_phase_and_every_bad_record() {
    let (code, out, err) = fixture_run(&[]);
    // Skipped records: exit 1, each named with file, record and reason.
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("controls.yaml: control BAD-STRENGTH: strength 9 is outside 0-5 (skipped)"),
        "{err}"
    );
    assert!(
        err.contains("control TYPO: unknown field `strenght`"),
        "{err}"
    );
    assert!(
        err.contains("dettect.yaml: T0000: not a technique in ATT&CK 18.1 (skipped)"),
        "{err}"
    );
    assert!(
        err.contains("old-schema.afb: (file): ")
            && err.contains("schema \"attack_flow_v1\" is not attack_flow_v2 (skipped)"),
        "{err}"
    );
    assert!(
        err.contains("rules 6 documents, 5 loaded, 0 unsupported, 1 invalid, 3 counted, 1 not collected, 1 without technique tags"),
        "{err}"
    );
    for phase in [
        "reconnaissance",
        "weaponization",
        "delivery",
        "exploitation",
        "installation",
        "command-and-control",
        "actions-on-objectives",
    ] {
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with(phase) && l.contains("layers")),
            "{phase}\n{out}"
        );
    }
    assert!(out.contains("Investment list (2 candidates"), "{out}");
    assert!(out.contains(" 1. M1042 "), "{out}");
    assert!(out.contains("flow Test intrusion"), "{out}");
    assert!(out.contains("approximates the minimum"), "{out}");
}

#[test]
fn json_is_deterministic_and_complete() {
    let (_, a, _) = fixture_run(&["--json"]);
    let (_, b, _) = fixture_run(&["--format", "json"]);
    assert_eq!(a, b);
    let v: Value = serde_json::from_str(&a).unwrap();
    assert_eq!(v["attack_version"], "18.1");
    assert_eq!(v["inputs"]["rules"]["counted"], 3);
    assert_eq!(v["threat"]["named"][0][0], "G0016");
    let phases: Vec<&str> = v["analysis"]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(phases.len(), 7);
    assert_eq!(v["analysis"]["tactics"].as_array().unwrap().len(), 14);
    let sim = &v["simulation"];
    let flow = sim["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == "Test intrusion")
        .unwrap();
    assert_eq!(flow["paths"], 2);
    // MAIL-GW blocks the phishing attachment, the first stage of both paths.
    let first = sim["paths"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["source"] == "Test intrusion")
        .unwrap();
    assert_eq!(first["first_stop"]["stage"], 1);
    assert_eq!(first["first_stop"]["outcome"], "blocked");
    assert_eq!(first["first_stop"]["controls"][0], "MAIL-GW");
    // Per-control scores are kept on each technique.
    let t = v["analysis"]["techniques"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "T1059.001")
        .unwrap();
    let ids: Vec<&str> = t["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"EDR") && ids.contains(&"6d1a1b5e-0000-4000-8000-000000000001"),
        "{ids:?}"
    );
}

#[test]
fn every_format_renders() {
    let dir = tempfile::tempdir().unwrap();
    let out = |f: &str| dir.path().join(format!("out.{f}"));
    for f in ["md", "html", "csv", "navigator"] {
        let p = out(f);
        let (code, stdout, err) = fixture_run(&["--format", f, "-o", p.to_str().unwrap()]);
        assert_eq!(code, 1, "{err}");
        assert!(stdout.is_empty());
        assert!(p.is_file(), "{f}");
    }
    let md = std::fs::read_to_string(out("md")).unwrap();
    assert!(md.starts_with("# Control coverage"));
    assert!(
        md.contains("## Kill chain (lm)") && md.contains("| delivery |"),
        "{md}"
    );
    assert!(md.contains("## Investment list") && md.contains("## Input issues"));
    let html = std::fs::read_to_string(out("html")).unwrap();
    assert!(
        html.contains("<div class=\"heat\">")
            && html.contains("T1566.001 Spearphishing Attachment")
    );
    // Self-contained: no scripts, stylesheets or images from elsewhere.
    assert!(!html.contains("<script") && !html.contains("href=") && !html.contains("src="));
    let csv = std::fs::read_to_string(out("csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "technique,name,tactics,phases,weight,prevent,detect,respond,protect,layers,layer_names,visible,controls"
    );
    let row = lines.find(|l| l.starts_with("T1566.001,")).unwrap();
    assert!(
        row.contains(",MAIL-GW,") && row.contains("MAIL-GW:prevent:3"),
        "{row}"
    );
    let nav: Value =
        serde_json::from_str(&std::fs::read_to_string(out("navigator")).unwrap()).unwrap();
    assert_eq!(nav["versions"]["layer"], "4.5");
    assert_eq!(nav["versions"]["attack"], "18");
    assert_eq!(nav["domain"], "enterprise-attack");
    assert!(nav["techniques"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["tactic"].is_string() && t["score"].is_number()));
}

#[test]
fn bad_arguments_fail_with_a_reason() {
    let (code, _, err) = run(&["--threat", "G9999"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("G9999") && err.contains("is not an ATT&CK group, campaign or software"),
        "{err}"
    );
    let (code, _, err) = run(&["--as-of", "yesterday"]);
    assert_eq!(code, 2);
    assert!(err.contains("--as-of"), "{err}");
    // --max-paths: 1 to 100000 paths per flow, said before anything is read.
    for n in ["0", "100001", "18446744073709551615", "1e9", "lots"] {
        let (code, _, err) = run(&["--threat", "G0016", "--max-paths", n]);
        assert_eq!(code, 2, "{n}: {err}");
        assert!(
            err.contains(&format!(
                "invalid value '{n}' for '--max-paths <N>': \"{n}\": expected a number of paths per flow from 1 to 100000"
            )),
            "{err}"
        );
    }
    let (code, _, err) = run(&["--threat", "G0016", "--max-paths", "100000"]);
    assert_ne!(code, 2, "{err}");
    let missing = fixture("no-such-file.yaml");
    let (code, _, err) = run(&["--controls", missing.to_str().unwrap(), "--threat", "G0016"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no-such-file.yaml: (file): cannot read"),
        "{err}"
    );
}

/// SigmaHQ rules with Sysmon, Security and PowerShell collected, APT29 on
/// Windows, and the 15 CTID Attack Flows.
#[test]
fn real_sigmahq_rules_and_attack_flows() {
    let Some(rules) = killchain_testdata::shared("sigma/rules") else {
        return;
    };
    let Some(flows) = killchain_testdata::shared("attack-flow/corpus") else {
        return;
    };
    let (code, out, err) = run(&[
        "--rules",
        rules.to_str().unwrap(),
        "--collected",
        "sysmon,security,powershell",
        "--threat",
        "G0016",
        "--platforms",
        "Windows",
        "--flows",
        flows.to_str().unwrap(),
        "--as-of",
        "2026-11-24",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let r = &v["inputs"]["rules"];
    // SigmaHQ 0e3b749e: every document loads; 921 are on log sources not collected
    // (Linux, cloud, other Windows channels), 212 have no technique tag.
    assert_eq!(r["documents"], 3132);
    assert_eq!(r["loaded"], 3132);
    assert_eq!(r["counted"], 1999);
    assert_eq!(r["not_collected"], 921);
    assert_eq!(r["without_techniques"], 212);
    let t = &v["analysis"]["totals"];
    assert_eq!(t["techniques_in_scope"], 472);
    assert_eq!(t["threat_techniques"], 50);
    assert_eq!(t["threat_techniques_covered"], 35);
    assert_eq!(t["techniques_covered"], 287);
    assert_eq!(v["inputs"]["flows"], 15);

    let techniques = v["analysis"]["techniques"].as_array().unwrap();
    let sim = &v["simulation"];
    let paths = sim["paths"].as_array().unwrap();
    // Conti Ransomware: all three paths are detected at the phishing attachment,
    // and the controls named there are Sigma rules covering T1566.001.
    let conti: Vec<&Value> = paths
        .iter()
        .filter(|p| p["source"] == "Conti Ransomware")
        .collect();
    assert_eq!(conti.len(), 3);
    let row = techniques.iter().find(|t| t["id"] == "T1566.001").unwrap();
    let covering: Vec<&str> = row["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    for p in &conti {
        let stop = &p["first_stop"];
        assert_eq!(stop["stage"], 1);
        assert_eq!(stop["label"], "T1566.001");
        assert_eq!(stop["phase"], "delivery");
        assert_eq!(stop["outcome"], "detected");
        assert_eq!(
            stop["controls_total"].as_u64().unwrap() as usize,
            covering.len()
        );
        for c in stop["controls"].as_array().unwrap() {
            assert!(covering.contains(&c.as_str().unwrap()), "{c}");
        }
    }
    // Every flow with techniques is stopped somewhere; the sources add up.
    for s in sim["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "flow")
    {
        let n = s["paths"].as_u64().unwrap();
        assert_eq!(
            s["blocked"].as_u64().unwrap()
                + s["detected"].as_u64().unwrap()
                + s["through"].as_u64().unwrap(),
            n
        );
        assert_eq!(s["through"], 0, "{s}");
    }
    let h = &sim["hitting_set"];
    assert_eq!(h["distinct_paths"], 2390);
    assert_eq!(h["stoppable"], 2389);
    let last = h["controls"].as_array().unwrap().last().unwrap();
    assert_eq!(last["stopped_total"], 2389);
}

#[test]
fn rule_cost_and_budget_must_be_numbers_at_least_zero() {
    // Like an inventory control's cost: NaN, infinite or negative values
    // made the investment list print "cost NaN" and divide by it.
    for (flag, value) in [
        ("--rule-cost", "nan"),
        ("--rule-cost", "-1"),
        ("--rule-cost", "inf"),
        ("--budget", "nan"),
        ("--budget", "-5"),
    ] {
        let arg = format!("{flag}={value}");
        let (code, _, err) = fixture_run(&[&arg]);
        assert_eq!(code, 2, "{arg}: {err}");
        assert!(err.contains(flag) && err.contains(">= 0"), "{arg}: {err}");
    }
}

/// `--flows DIR` is walked like every other input folder: `.afb` files in
/// subfolders count (it listed the folder itself only).
#[test]
fn flows_in_subfolders_are_simulated() {
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("outer/inner");
    std::fs::create_dir_all(&inner).unwrap();
    for f in ["test-intrusion.afb", "old-schema.afb"] {
        std::fs::copy(fixture("flows").join(f), inner.join(f)).unwrap();
    }
    let rules = fixture("rules");
    let outer = dir.path().join("outer");
    let (_, out, err) = run(&[
        "--flows",
        outer.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
    ]);
    assert!(out.contains("flow Test intrusion"), "{out}");
    assert!(err.contains("; 1 flows;"), "{err}");
    assert!(err.contains("inner/old-schema.afb: (file): "), "{err}");
}
