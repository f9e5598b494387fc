//! The `suricata-class` last resort end to end through the mapper: the
//! finding's evidence, confidence and rationale; the placement cache keeping
//! inferred and explicit placements of one technique apart; and the real
//! Suricata samples in `../shared/data` (skipped with a notice without them,
//! a failure under CI=true), where the mapped count and the technique per
//! class are what docs/signature-classes.md documents.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use killchain_kb::models::ModelSet;
use killchain_kb::{AttackData, AttackKb};
use killchain_map::extract::FieldPaths;
use killchain_map::finding::RecordRef;
use killchain_map::{Finding, Mapper, Node};
use serde_json::{json, Value};

fn kb() -> AttackKb {
    AttackKb::new(AttackData::embedded().unwrap())
}

fn map(mapper: &Mapper<'_>, v: &Value) -> Finding {
    let m = mapper.map_record(&Node::from_value(v), RecordRef::default());
    assert!(m.notes.is_empty(), "{:?}", m.notes);
    m.finding
}

fn techniques(f: &Finding) -> Vec<&str> {
    f.techniques.iter().map(|t| &*t.id).collect()
}

#[test]
fn inferred_finding_says_where_it_came_from() {
    let kb = kb();
    let models = ModelSet::new(&kb, Vec::new()).unwrap();
    let mapper = Mapper::new(&kb, &models, Vec::new(), FieldPaths::default());
    let scan = json!({"event_type": "alert", "src_ip": "10.128.0.215", "dest_ip": "10.47.8.1",
        "alert": {"signature": "ET SCAN Possible Nmap User-Agent Observed", "category": "Web Application Attack"}});
    let f = map(&mapper, &scan);
    assert_eq!(techniques(&f), ["T1046"]);
    assert_eq!(f.confidence, 0.4);
    assert_eq!(f.evidence.len(), 1);
    let e = &f.evidence[0];
    assert_eq!(
        (e.field.as_str(), e.value.as_str(), &*e.dialect),
        ("alert.signature", "ET SCAN", "suricata-class")
    );
    let lm = &f.phases["lm"];
    assert_eq!(&*lm.phase, "actions-on-objectives");
    assert_eq!(lm.confidence, 0.4);
    assert_eq!(
        &*lm.rationale[0],
        "inferred from the signature class ET SCAN (no ATT&CK ID in the alert): a scan probes for \
         live hosts and open services; from a private source address it runs inside the network, \
         which is discovery; T1046 via TA0007 Discovery -> actions-on-objectives: internal \
         discovery is post-compromise activity toward the objective"
    );
    for p in f.phases.values() {
        assert!(
            p.rationale
                .iter()
                .all(|l| l.starts_with("inferred from the signature class ET SCAN")),
            "{:?}",
            p.rationale
        );
    }

    // The same technique named explicitly: high confidence, the plain
    // rationale, even though the inferred placement is cached already.
    let explicit =
        json!({"alert": {"signature": "ET SCAN x", "metadata": {"mitre_technique_id": ["T1046"]}}});
    let g = map(&mapper, &explicit);
    assert_eq!(techniques(&g), ["T1046"]);
    assert_eq!(g.confidence, 0.9);
    assert_eq!(&*g.evidence[0].dialect, "plain");
    assert!(g.phases["lm"].rationale[0].starts_with("T1046 via TA0007"));
    // And the other way round through a fresh mapper: explicit first.
    let fresh = Mapper::new(&kb, &models, Vec::new(), FieldPaths::default());
    assert_eq!(map(&fresh, &explicit), g);
    assert_eq!(map(&fresh, &scan), f);
    // Another class entry of the same row words its rationale with its own name.
    let gpl = map(
        &fresh,
        &json!({"src_ip": "10.0.0.1", "alert": {"signature": "GPL SCAN nmap XMAS"}}),
    );
    assert_eq!(techniques(&gpl), ["T1046"]);
    assert!(
        gpl.phases["lm"].rationale[0].starts_with("inferred from the signature class GPL SCAN ")
    );
}

#[test]
fn classtype_evidence_and_unmapped_classes() {
    let kb = kb();
    let models = ModelSet::new(&kb, Vec::new()).unwrap();
    let mapper = Mapper::new(&kb, &models, Vec::new(), FieldPaths::default());
    let f = map(
        &mapper,
        &json!({"alert": {"signature": "Local rule: SQL injection on /login", "category": "Web Application Attack"}}),
    );
    assert_eq!(techniques(&f), ["T1190"]);
    let e = &f.evidence[0];
    assert_eq!(
        (e.field.as_str(), e.value.as_str(), &*e.dialect),
        ("alert.category", "Web Application Attack", "suricata-class")
    );
    assert!(f.phases["lm"].rationale[0].starts_with(
        "inferred from the classtype Web Application Attack (no ATT&CK ID in the alert): "
    ));

    let policy = map(
        &mapper,
        &json!({"alert": {"signature": "ET POLICY curl User-Agent Outbound", "category": "Attempted Information Leak"}}),
    );
    assert!(policy.is_unmapped());
    assert!(policy.evidence.is_empty());
    assert_eq!(policy.confidence, 0.0);
}

/// Every record of every sample file (JSON arrays of EVE alerts).
fn sample_records(dir: &Path) -> Vec<(PathBuf, Value)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let Value::Array(items) = serde_json::from_str(&text).unwrap() else {
            panic!("{}: not a JSON array", f.display());
        };
        out.extend(items.into_iter().map(|v| (f.clone(), v)));
    }
    out
}

#[test]
fn real_suricata_samples_map_by_signature_class() {
    let Some(dir) = killchain_testdata::shared("network/suricata-sample-data") else {
        return;
    };
    let kb = kb();
    let models = ModelSet::new(&kb, Vec::new()).unwrap();
    let mapper = Mapper::new(&kb, &models, Vec::new(), FieldPaths::default());
    let records = sample_records(&dir.join("samples"));
    assert_eq!(records.len(), 548);

    // (class as found, technique) -> alerts; and the unmapped classes.
    let mut mapped: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut unmapped: BTreeMap<String, usize> = BTreeMap::new();
    for (file, v) in &records {
        let sig = v["alert"]["signature"].as_str().unwrap();
        assert!(
            v["alert"].get("metadata").is_none(),
            "no ATT&CK metadata in the samples"
        );
        let f = map(&mapper, v);
        let class: String = sig.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        if f.is_unmapped() {
            assert!(f.evidence.is_empty());
            *unmapped.entry(class).or_default() += 1;
            continue;
        }
        let where_ = format!("{} {sig}", file.display());
        assert_eq!(f.confidence, 0.4, "{where_}");
        assert_eq!(f.evidence.len(), 1, "{where_}");
        let e = &f.evidence[0];
        assert_eq!(
            (e.field.as_str(), &*e.dialect),
            ("alert.signature", "suricata-class"),
            "{where_}"
        );
        assert_eq!(e.value, class, "{where_}");
        assert!(
            f.phases
                .values()
                .all(|p| p.rationale.iter().all(|l| l.starts_with(&format!(
                    "inferred from the signature class {class} (no ATT&CK ID in the alert): "
                )))),
            "{where_}"
        );
        let [t] = &techniques(&f)[..] else {
            panic!("{where_}: {:?}", techniques(&f));
        };
        // Scans: inside (private source) discovery, else reconnaissance.
        if class == "ET SCAN" {
            let src = v["src_ip"].as_str().unwrap();
            let private = src.starts_with("10.") || src.starts_with("192.168.");
            assert_eq!(
                *t,
                if private { "T1046" } else { "T1595" },
                "{where_} from {src}"
            );
        }
        *mapped.entry((class, t.to_string())).or_default() += 1;
    }

    let expected: BTreeMap<(String, String), usize> = [
        ("ET ATTACK_RESPONSE", "T1059", 6),
        ("ET CNC", "T1071", 2),
        ("ET DOS", "T1498", 5),
        ("ET EXPLOIT", "T1190", 29),
        ("ET MALWARE", "T1071", 5),
        ("ET SCAN", "T1046", 22),
        ("ET SCAN", "T1595", 16),
        ("ET TROJAN", "T1071", 12),
        ("ET WEB_SERVER", "T1190", 56),
        ("ET WORM", "T1210", 2),
        ("GPL ATTACK_RESPONSE", "T1059", 3),
        ("GPL EXPLOIT", "T1190", 10),
        ("GPL WEB_SERVER", "T1190", 13),
    ]
    .into_iter()
    .map(|(c, t, n)| ((c.to_string(), t.to_string()), n))
    .collect();
    assert_eq!(mapped, expected);
    assert_eq!(
        mapped.values().sum::<usize>(),
        181,
        "docs/signature-classes.md"
    );

    // The classes left unmapped by design, all of their alerts.
    for (class, n) in [
        ("ET POLICY", 111),
        ("ET TOR", 61),
        ("SURICATA HTTP", 48),
        ("ET CINS", 34),
        ("ET CURRENT_EVENTS", 23),
        ("SURICATA TLS", 21),
        ("ET CHAT", 13),
        ("ET WEB_CLIENT", 11),
        ("ET DROP", 2),
        ("ET COMPROMISED", 2),
    ] {
        assert_eq!(unmapped.get(class), Some(&n), "{class}: {unmapped:?}");
    }
    assert_eq!(unmapped.values().sum::<usize>(), 548 - 181);
}
