//! One realistic record per product / dialect (tests/fixtures/dialects/*.json):
//! the exact ATT&CK references found (value, field, dialect) and the key facts.

use jiff::Timestamp;
use killchain_map::extract::{extract_references, Dialect, FieldPaths, RefValue, Reference};
use killchain_map::facts::{extract_facts, RecordFacts};
use killchain_map::Node;
use serde_json::Value;

fn fixture(name: &str) -> Node<'static> {
    let text = match name {
        "ecs" => include_str!("fixtures/dialects/ecs.json"),
        "elastic" => include_str!("fixtures/dialects/elastic.json"),
        "sigma" => include_str!("fixtures/dialects/sigma.json"),
        "hayabusa" => include_str!("fixtures/dialects/hayabusa.json"),
        "wazuh" => include_str!("fixtures/dialects/wazuh.json"),
        "splunk" => include_str!("fixtures/dialects/splunk.json"),
        "stix" => include_str!("fixtures/dialects/stix.json"),
        "plain" => include_str!("fixtures/dialects/plain.json"),
        "rule_name" => include_str!("fixtures/dialects/rule_name.json"),
        "suricata" => include_str!("fixtures/dialects/suricata.json"),
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).unwrap()
}

fn refs(name: &str) -> Vec<Reference> {
    let mut out = Vec::new();
    extract_references(&fixture(name), &FieldPaths::default(), &mut out);
    out
}

/// (value, field, dialect) triples, the shape the assertions compare.
fn triples(refs: &[Reference]) -> Vec<(RefValue, &str, Dialect)> {
    refs.iter()
        .map(|r| (r.value.clone(), r.field.as_str(), r.dialect))
        .collect()
}

fn t(id: &str) -> RefValue {
    RefValue::Technique(id.into())
}
fn ta(id: &str) -> RefValue {
    RefValue::TacticId(id.into())
}
fn tn(name: &str) -> RefValue {
    RefValue::TacticName(name.into())
}
fn ts(s: &str) -> Option<Timestamp> {
    Some(s.parse().unwrap())
}
fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}
fn rule(f: &RecordFacts) -> (Option<&str>, Option<&str>, Option<&str>) {
    let r = f.rule.as_ref().expect("rule");
    (r.id.as_deref(), r.name.as_deref(), r.level.as_deref())
}

#[test]
fn ecs() {
    let r = refs("ecs");
    assert_eq!(
        triples(&r),
        vec![
            (ta("TA0002"), "threat.tactic.id", Dialect::Ecs),
            (tn("Execution"), "threat.tactic.name", Dialect::Ecs),
            (t("T1059"), "threat.technique.id", Dialect::Ecs),
            (
                t("T1059.001"),
                "threat.technique.subtechnique.id",
                Dialect::Ecs
            ),
        ]
    );
    assert!(r.iter().all(|r| r.confidence == 0.9));

    let f = extract_facts(&fixture("ecs"));
    assert_eq!(f.time, ts("2024-03-04T09:15:22.481Z"));
    assert_eq!(f.entities.hosts, strs(&["ws-0042", "WS-0042"]));
    assert_eq!(f.entities.users, strs(&["alice"]));
    let p = f.entities.process.as_ref().unwrap();
    assert_eq!(p.pid, Some(4412));
    assert_eq!(p.parent_pid, Some(3120));
    assert_eq!(
        p.executable.as_deref(),
        Some("C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe")
    );
    assert_eq!(
        p.parent_executable.as_deref(),
        Some("C:\\Windows\\explorer.exe")
    );
    assert_eq!(
        p.entity_id.as_deref(),
        Some("{6f1c6a8e-9d2b-65e5-7a04-000000002f00}")
    );
    assert!(p
        .command_line
        .as_deref()
        .unwrap()
        .starts_with("powershell.exe -NoP"));
    assert_eq!(
        f.entities.file_hashes,
        strs(&[
            "de96a6e69944335375dc1ac238336066889d9ffc7d73628ef4fe1b1b160ab32c",
            "7353f60b1739074eb17c5f4dddefe239"
        ])
    );
    assert_eq!(
        rule(&f),
        (
            Some("b3d5e1c2-3f7a-4c1e-9a0d-2f6e1c0b7a11"),
            Some("Suspicious PowerShell Encoded Command"),
            Some("73")
        )
    );
    assert_eq!(f.product.as_deref(), Some("ecs"));
    assert_eq!(f.record_id.as_deref(), Some("Kx3v8Y4BWlC1pZ0QmT9a"));
    assert_eq!(f.event_code.as_deref(), Some("1"));
    assert_eq!(
        f.log_file_path.as_deref(),
        Some("C:\\ProgramData\\detector\\alerts.ndjson")
    );
}

#[test]
fn elastic() {
    let r = refs("elastic");
    assert_eq!(
        triples(&r),
        vec![
            (
                ta("TA0006"),
                "kibana.alert.rule.threat.tactic.id",
                Dialect::Elastic
            ),
            (
                tn("Credential Access"),
                "kibana.alert.rule.threat.tactic.name",
                Dialect::Elastic
            ),
            (
                t("T1003"),
                "kibana.alert.rule.threat.technique.id",
                Dialect::Elastic
            ),
            (
                t("T1003.001"),
                "kibana.alert.rule.threat.technique.subtechnique.id",
                Dialect::Elastic
            ),
            (
                tn("Credential Access"),
                "kibana.alert.rule.tags",
                Dialect::SigmaTags
            ),
        ]
    );
    assert_eq!(r[4].raw, "Tactic: Credential Access");

    let f = extract_facts(&fixture("elastic"));
    assert_eq!(f.time, ts("2024-03-04T09:16:05.912Z"));
    assert_eq!(f.entities.hosts, strs(&["dc01", "DC01"]));
    assert_eq!(f.entities.users, strs(&["SYSTEM"]));
    assert_eq!(f.entities.process.as_ref().unwrap().pid, Some(7124));
    assert_eq!(
        rule(&f),
        (
            Some("3e1c5a90-0b6f-11ee-9f4b-0f2d7d1b4c8e"),
            Some("Potential Credential Access via Renamed COM+ Services DLL"),
            Some("high")
        )
    );
    assert_eq!(f.product.as_deref(), Some("elastic"));
    assert_eq!(
        f.record_id.as_deref(),
        Some("5f2a9c0e8d1b4a7f93c6e2d1b0a98765f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9")
    );
}

#[test]
fn sigma_zircolite() {
    let r = refs("sigma");
    assert_eq!(
        triples(&r),
        vec![
            (tn("credential-access"), "tags", Dialect::SigmaTags),
            (t("T1003.001"), "tags", Dialect::SigmaTags),
            (t("T1003.002"), "tags", Dialect::SigmaTags),
            (
                RefValue::Software("S0002".into()),
                "tags",
                Dialect::SigmaTags
            ),
            (RefValue::Group("G0016".into()), "tags", Dialect::SigmaTags),
        ]
    );
    assert_eq!(r[1].raw, "attack.t1003.001");
    assert!(r.iter().all(|r| r.confidence == 0.85));

    let f = extract_facts(&fixture("sigma"));
    // `UtcTime` (naive, UTC) outranks `SystemTime`.
    assert_eq!(f.time, ts("2024-03-04T09:17:40.551Z"));
    assert_eq!(f.entities.hosts, strs(&["WS-0042.corp.local"]));
    assert_eq!(f.entities.users, strs(&["CORP\\alice"]));
    let p = f.entities.process.as_ref().unwrap();
    assert_eq!((p.pid, p.parent_pid), (Some(8120), Some(4412)));
    assert_eq!(
        p.executable.as_deref(),
        Some("C:\\Users\\alice\\AppData\\Local\\Temp\\m.exe")
    );
    assert_eq!(
        f.entities.file_hashes.len(),
        3,
        "{:?}",
        f.entities.file_hashes
    );
    assert_eq!(
        rule(&f),
        (
            Some("a642964e-bead-4bed-8910-1bb4d63e3b4d"),
            Some("HackTool - Mimikatz Execution"),
            Some("high")
        )
    );
    assert_eq!(f.product.as_deref(), Some("sigma"));
    // A Sigma rule's `id` is the rule's, not a record ID.
    assert_eq!(f.record_id, None);
    assert_eq!(f.event_code.as_deref(), Some("1"));
    assert_eq!(
        f.log_file_path.as_deref(),
        Some("Microsoft-Windows-Sysmon%4Operational.evtx")
    );
}

#[test]
fn hayabusa() {
    let r = refs("hayabusa");
    assert_eq!(
        triples(&r),
        vec![
            (t("T1003.006"), "MitreTags", Dialect::SigmaTags),
            (
                RefValue::Software("S0002".into()),
                "MitreTags",
                Dialect::SigmaTags
            ),
            (tn("credential-access"), "MitreTactics", Dialect::SigmaTags),
            (
                tn("privilege-escalation"),
                "MitreTactics",
                Dialect::SigmaTags
            ),
        ]
    );
    assert_eq!(r[2].raw, "CredAccess");

    let f = extract_facts(&fixture("hayabusa"));
    assert_eq!(f.time, ts("2024-03-04T09:20:11.307Z"));
    assert_eq!(f.entities.hosts, strs(&["DC01.corp.local"]));
    assert_eq!(f.entities.users, strs(&["alice"]));
    assert_eq!(rule(&f), (None, Some("Mimikatz DC Sync"), Some("high")));
    assert_eq!(f.product.as_deref(), Some("hayabusa"));
    assert_eq!(f.record_id.as_deref(), Some("1920331"));
    assert_eq!(f.event_code.as_deref(), Some("4662"));
    assert_eq!(
        f.log_file_path.as_deref(),
        Some("C:\\Cases\\DC01\\Security.evtx")
    );
}

#[test]
fn wazuh() {
    let r = refs("wazuh");
    assert_eq!(
        triples(&r),
        vec![
            (t("T1059.003"), "rule.mitre.id", Dialect::Wazuh),
            (tn("Execution"), "rule.mitre.tactic", Dialect::Wazuh),
        ]
    );

    let f = extract_facts(&fixture("wazuh"));
    assert_eq!(f.time, ts("2024-03-04T09:15:22.481Z"));
    assert_eq!(f.entities.hosts, strs(&["WS-0042", "WS-0042.corp.local"]));
    // Wazuh doubles backslashes in Windows event data; kept as seen.
    assert_eq!(f.entities.users, strs(&["CORP\\\\alice"]));
    let p = f.entities.process.as_ref().unwrap();
    assert_eq!((p.pid, p.parent_pid), (Some(6620), Some(4412)));
    assert_eq!(
        p.executable.as_deref(),
        Some("C:\\\\Windows\\\\System32\\\\cmd.exe")
    );
    assert_eq!(
        p.entity_id.as_deref(),
        Some("{6f1c6a8e-9d2c-65e5-7b04-000000002f00}")
    );
    assert_eq!(f.entities.file_hashes.len(), 3);
    assert_eq!(
        rule(&f),
        (
            Some("92057"),
            Some("Powershell process spawned Windows command shell instance"),
            Some("12")
        )
    );
    assert_eq!(f.product.as_deref(), Some("wazuh"));
    assert_eq!(f.record_id.as_deref(), Some("1709543722.2345678"));
    assert_eq!(f.event_code.as_deref(), Some("1"));
    assert_eq!(f.log_file_path.as_deref(), Some("EventChannel"));
}

#[test]
fn splunk_notable() {
    let r = refs("splunk");
    assert_eq!(
        triples(&r),
        vec![
            (t("T1027"), "annotations.mitre_attack", Dialect::Splunk),
            (t("T1059.001"), "annotations.mitre_attack", Dialect::Splunk),
            (
                t("T1027"),
                "annotations.mitre_attack.mitre_technique_id",
                Dialect::Splunk
            ),
            (
                t("T1059.001"),
                "annotations.mitre_attack.mitre_technique_id",
                Dialect::Splunk
            ),
            (
                ta("TA0005"),
                "annotations.mitre_attack.mitre_tactic_id",
                Dialect::Splunk
            ),
            (
                ta("TA0002"),
                "annotations.mitre_attack.mitre_tactic_id",
                Dialect::Splunk
            ),
            (
                tn("defense-evasion"),
                "annotations.mitre_attack.mitre_tactic",
                Dialect::Splunk
            ),
            (
                tn("execution"),
                "annotations.mitre_attack.mitre_tactic",
                Dialect::Splunk
            ),
            (
                RefValue::Phase {
                    chain: "lockheed-martin-cyber-kill-chain".into(),
                    phase: "Installation".into()
                },
                "annotations.kill_chain_phases",
                Dialect::Splunk
            ),
        ]
    );

    let f = extract_facts(&fixture("splunk"));
    assert_eq!(f.time, ts("2024-03-04T09:15:22Z"));
    assert_eq!(f.entities.hosts, strs(&["ws-0042.corp.local"]));
    assert_eq!(f.entities.users, strs(&["CORP\\alice"]));
    let p = f.entities.process.as_ref().unwrap();
    assert_eq!((p.pid, p.parent_pid), (Some(4412), Some(3120)));
    assert!(p.command_line.as_deref().unwrap().contains("-enc"));
    assert_eq!(
        rule(&f),
        (
            None,
            Some("ESCU - Malicious PowerShell Process - Encoded Command - Rule"),
            Some("high")
        )
    );
    assert_eq!(f.product.as_deref(), Some("splunk"));
    assert_eq!(f.record_id.as_deref(), Some("412:1234567"));
    // `source` here is the search name, not a file.
    assert_eq!(f.log_file_path, None);
}

#[test]
fn stix_indicator() {
    let r = refs("stix");
    assert_eq!(
        triples(&r),
        vec![
            (
                RefValue::Phase {
                    chain: "lockheed-martin-cyber-kill-chain".into(),
                    phase: "delivery".into()
                },
                "kill_chain_phases.phase_name",
                Dialect::Stix
            ),
            (
                tn("initial-access"),
                "kill_chain_phases.phase_name",
                Dialect::Stix
            ),
            (
                t("T1566.001"),
                "external_references.external_id",
                Dialect::Stix
            ),
        ]
    );

    let f = extract_facts(&fixture("stix"));
    assert_eq!(f.time, None);
    assert_eq!(f.product.as_deref(), Some("stix"));
    assert_eq!(
        f.record_id.as_deref(),
        Some("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")
    );
    assert!(f.entities.is_empty());
}

#[test]
fn plain() {
    let r = refs("plain");
    assert_eq!(
        triples(&r),
        vec![
            (t("T1190"), "technique", Dialect::Plain),
            (t("T1505.003"), "technique", Dialect::Plain),
            (tn("Initial Access"), "tactic", Dialect::Plain),
            (ta("TA0003"), "tactic", Dialect::Plain),
        ]
    );
    assert!(r.iter().all(|r| r.confidence == 0.8));

    let f = extract_facts(&fixture("plain"));
    assert_eq!(f.time, ts("2024-03-04T09:15:22Z"));
    assert_eq!(f.entities.hosts, strs(&["web-01"]));
    assert_eq!(f.entities.users, strs(&["www-data"]));
    assert_eq!(f.entities.source_ips, strs(&["203.0.113.7"]));
    assert_eq!(f.entities.destination_ips, strs(&["10.0.0.10"]));
    assert_eq!(
        f.entities.urls,
        strs(&["https://shop.example.com/uploads/cmd.php"])
    );
    assert_eq!(rule(&f), (None, None, Some("critical")));
    assert_eq!(f.product, None);
}

#[test]
fn rule_name_last_resort() {
    let r = refs("rule_name");
    assert_eq!(
        triples(&r),
        vec![(t("T1003.001"), "rule.name", Dialect::RuleName)]
    );
    assert_eq!(r[0].confidence, 0.5);
    assert_eq!(r[0].raw, "T1003.001");

    let f = extract_facts(&fixture("rule_name"));
    assert_eq!(f.entities.hosts, strs(&["T1000-SRV"]));
    assert_eq!(f.entities.source_ips, strs(&["10.0.0.5"]));
    assert_eq!(
        rule(&f),
        (
            Some("lsass-comsvcs-01"),
            Some("[T1003.001] LSASS memory dump via comsvcs.dll"),
            Some("high")
        )
    );
    assert_eq!(f.log_file_path, None);
}

#[test]
fn suricata_alert_without_attack_metadata() {
    // No ATT&CK fields: only the signature class (`ET EXPLOIT`), inferred
    // with the lowest confidence.
    let r = refs("suricata");
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(
        matches!(
            r[0].value,
            RefValue::Inferred {
                technique: "T1190",
                ..
            }
        ),
        "{r:?}"
    );
    assert_eq!(
        (r[0].field.as_str(), r[0].raw.as_str(), r[0].dialect),
        ("alert.signature", "ET EXPLOIT", Dialect::SuricataClass)
    );
    assert_eq!(r[0].confidence, 0.4);

    let f = extract_facts(&fixture("suricata"));
    assert_eq!(f.time, ts("2024-03-04T09:15:22.481234Z"));
    assert_eq!(f.entities.source_ips, strs(&["198.51.100.23"]));
    assert_eq!(f.entities.destination_ips, strs(&["10.0.0.10"]));
    assert_eq!(f.entities.domains, strs(&["shop.example.com"]));
    assert!(f.entities.hosts.is_empty());
    assert_eq!(
        rule(&f),
        (
            Some("2034647"),
            Some("ET EXPLOIT Apache log4j RCE Attempt (http ldap) (CVE-2021-44228)"),
            Some("1")
        )
    );
    assert_eq!(f.product.as_deref(), Some("suricata"));
    assert_eq!(f.record_id.as_deref(), Some("1234567890123456"));
}

#[test]
fn rule_name_not_scanned_when_explicit_reference_exists() {
    // The Wazuh record's Sysmon RuleName says technique_id=T1059 in free text;
    // the explicit rule.mitre fields win and nothing else is scanned.
    assert!(refs("wazuh").iter().all(|r| r.dialect != Dialect::RuleName));
    // And the ECS fixture's rule name is not scanned either.
    let mut v = fixture("ecs").to_value();
    v["rule"]["name"] = Value::from("T1105 ingress tool transfer");
    let mut out = Vec::new();
    extract_references(&Node::from_value(&v), &FieldPaths::default(), &mut out);
    assert!(out.iter().all(|r| r.dialect == Dialect::Ecs));
}

/// Rough per-record cost, release build:
/// `cargo test --release -p killchain-map --test extract_dialects -- --ignored --nocapture`
#[test]
#[ignore]
fn timing() {
    let names = [
        "ecs",
        "elastic",
        "sigma",
        "hayabusa",
        "wazuh",
        "splunk",
        "stix",
        "plain",
        "rule_name",
        "suricata",
    ];
    let paths = FieldPaths::default();
    let mut out = Vec::new();
    // Best of several rounds: the machine may be busy with other builds.
    let best = |f: &mut dyn FnMut()| {
        (0..7)
            .map(|_| {
                let n = 5_000;
                let start = std::time::Instant::now();
                for _ in 0..n {
                    f();
                }
                start.elapsed() / n
            })
            .min()
            .unwrap()
    };
    let only = std::env::var("KC_FIXTURE").ok();
    for name in names {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let v = fixture(name);
        let refs = best(&mut || {
            out.clear();
            extract_references(std::hint::black_box(&v), &paths, &mut out);
        });
        if std::env::var("KC_PART").is_ok_and(|p| p == "refs") {
            println!("{name:10} refs {refs:?}");
            continue;
        }
        let facts = best(&mut || {
            std::hint::black_box(extract_facts(std::hint::black_box(&v)));
        });
        println!(
            "{name:10} refs {refs:?}  facts {facts:?}  total {:?}",
            refs + facts
        );
    }
}
