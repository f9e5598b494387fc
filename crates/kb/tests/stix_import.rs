//! Tests of the STIX bundle importer (`killchain_kb::stix`): the real ATT&CK
//! v18.1 Enterprise bundle, a hand-written v19-shaped bundle (renamed and new
//! tactics, STIX 2.1, collection version), and the error and lenience paths.

use std::path::PathBuf;

use killchain_kb::attack::{AttackData, SoftwareKind, Technique};
use killchain_kb::stix::{import_bundle, ImportOptions, ImportReport};
use killchain_kb::KbError;
use serde_json::{json, Value};

const FIXTURE: &str = include_str!("fixtures/attack-v19-mini.json");

fn opts(name: &str) -> ImportOptions {
    ImportOptions::new(name)
}

fn technique<'d>(data: &'d AttackData, id: &str) -> &'d Technique {
    data.techniques
        .iter()
        .find(|t| t.id == id)
        .unwrap_or_else(|| panic!("technique {id} missing"))
}

fn import_value(bundle: &Value) -> Result<(AttackData, ImportReport), KbError> {
    let bytes = serde_json::to_vec(bundle).expect("serialise test bundle");
    import_bundle(&bytes, &opts("test.json"))
}

fn fixture() -> Value {
    serde_json::from_str(FIXTURE).expect("fixture is JSON")
}

fn objects(bundle: &mut Value) -> &mut Vec<Value> {
    bundle["objects"].as_array_mut().expect("fixture objects")
}

fn assert_sorted<T>(items: &[T], key: impl Fn(&T) -> &str, what: &str) {
    assert!(
        items.windows(2).all(|w| key(&w[0]) < key(&w[1])),
        "{what} not sorted by ID"
    );
}

// ---------------------------------------------------------------------------
// The real ATT&CK v18.1 Enterprise bundle.
// ---------------------------------------------------------------------------

/// Reads the shared bundle, or explains why the test is skipped.
fn real_bundle() -> Option<Vec<u8>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/attack/enterprise-attack.json");
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "CI=true but the ATT&CK bundle {} cannot be read: {e}",
            path.display()
        ),
        Err(e) => {
            eprintln!(
                "SKIP: real ATT&CK bundle test: cannot read {}: {e}",
                path.display()
            );
            None
        }
    }
}

#[test]
fn real_enterprise_bundle() {
    let Some(bytes) = real_bundle() else { return };
    let options = ImportOptions {
        input_name: "enterprise-attack.json".to_owned(),
        version_override: Some("18.1".to_owned()),
    };
    let (data, report) = import_bundle(&bytes, &options).expect("the v18.1 bundle imports");

    // Meta. The mitre/cti bundle is STIX 2.0 with no x-mitre-collection, so
    // the version comes from the override.
    assert_eq!(data.meta.domain, "enterprise-attack");
    assert_eq!(data.meta.version, "18.1");
    assert_eq!(data.meta.stix_version, "2.0");
    assert_eq!(
        data.meta.modified.as_deref(),
        Some("2025-11-12T22:03:39.105Z")
    );
    assert_eq!(data.meta.source.as_deref(), Some("enterprise-attack.json"));

    // Expected numbers computed with python3 from the bundle (json.load, then
    // counting objects by type / revoked / x_mitre_deprecated / mitre-attack
    // external_id):
    // - attack-pattern 835 = 691 active + 132 revoked + 12 deprecated; active:
    //   216 without and 475 with x_mitre_is_subtechnique.
    // - course-of-action 268 = 44 M-IDs (all active) + 224 legacy T-named.
    // - intrusion-set 187 = 172 active + 9 deprecated + 6 revoked.
    // - malware 696 (693 active, 1 deprecated, 2 revoked) + tool 91 -> 784 active.
    // - campaign 52; x-mitre-data-component 109 = 106 + 3 deprecated;
    //   x-mitre-detection-strategy 691; x-mitre-analytic 1739.
    // - relationships stored: uses 17270 + mitigates 1445 + detects 691 +
    //   attributed-to 25 = 19431 (subtechnique-of 477 and revoked-by 140 are
    //   folded into parent / revoked_by / redirects).
    let counts = data.counts();
    assert_eq!(counts.tactics, 14);
    assert_eq!(counts.techniques, 216);
    assert_eq!(counts.subtechniques, 475);
    assert_eq!(counts.revoked, 132);
    assert_eq!(counts.deprecated, 12);
    assert_eq!(counts.mitigations, 44);
    assert_eq!(counts.groups, 172);
    assert_eq!(counts.software, 784);
    assert_eq!(counts.campaigns, 52);
    assert_eq!(counts.data_components, 106);
    assert_eq!(counts.detection_strategies, 691);
    assert_eq!(counts.analytics, 1739);
    assert_eq!(counts.relationships, 19431);
    assert_eq!(data.techniques.len(), 835);
    assert_eq!(
        data.groups.len(),
        181,
        "deprecated groups are kept, flagged"
    );
    assert_eq!(data.software.len(), 785);

    // Tactics in matrix order, straight from tactic_refs.
    let order: Vec<&str> = data.tactics.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        order,
        [
            "TA0043", "TA0042", "TA0001", "TA0002", "TA0003", "TA0004", "TA0005", "TA0006",
            "TA0007", "TA0008", "TA0009", "TA0011", "TA0010", "TA0040"
        ]
    );
    assert_eq!(data.tactics[0].name, "Reconnaissance");
    assert_eq!(data.tactics[1].name, "Resource Development");
    assert_eq!(data.tactics[6].shortname, "defense-evasion");
    assert_eq!(data.tactics[13].name, "Impact");

    // Techniques.
    let powershell = technique(&data, "T1059.001");
    assert_eq!(powershell.name, "PowerShell");
    assert_eq!(powershell.parent.as_deref(), Some("T1059"));
    assert_eq!(powershell.tactics, ["TA0002"]);
    assert_eq!(powershell.platforms, ["Windows"]);
    assert!(powershell.is_active());
    let old_powershell = technique(&data, "T1086");
    assert!(old_powershell.revoked);
    assert_eq!(old_powershell.revoked_by.as_deref(), Some("T1059.001"));
    // Chain: T1150 -> T1547.011 (itself revoked) -> T1647.
    assert_eq!(
        technique(&data, "T1150").revoked_by.as_deref(),
        Some("T1647")
    );
    // Tactics of a multi-tactic technique come in matrix order.
    assert_eq!(
        technique(&data, "T1078").tactics,
        ["TA0001", "TA0003", "TA0004", "TA0005"]
    );
    assert_sorted(&data.techniques, |t| &t.id, "techniques");

    // Redirects for revoked groups and software (6 + 2).
    let redirect = |from: &str| {
        data.redirects
            .iter()
            .find(|r| r.from == from)
            .map(|r| r.to.as_str())
    };
    assert_eq!(data.redirects.len(), 8);
    assert_eq!(redirect("G0118"), Some("G0016")); // UNC2452 -> APT29
    assert_eq!(redirect("S9000"), Some("S0508")); // malware Ngrok -> tool ngrok
    assert!(data.groups.iter().all(|g| g.id != "G0118"));

    // Groups, software, campaigns, mitigations.
    let apt29 = data.groups.iter().find(|g| g.id == "G0016").expect("G0016");
    assert_eq!(apt29.name, "APT29");
    assert!(apt29.techniques.iter().any(|t| t == "T1059.001"));
    assert!(apt29.software.iter().any(|s| s == "S0002"));
    assert!(apt29.aliases.iter().any(|a| a == "Cozy Bear"));
    assert!(
        apt29.aliases.iter().all(|a| a != "APT29"),
        "own name is not an alias"
    );
    let mimikatz = data
        .software
        .iter()
        .find(|s| s.id == "S0002")
        .expect("S0002");
    assert_eq!(mimikatz.kind, SoftwareKind::Tool);
    let cobalt = data
        .software
        .iter()
        .find(|s| s.id == "S0154")
        .expect("S0154");
    assert_eq!(cobalt.kind, SoftwareKind::Malware);
    let solarwinds = data
        .campaigns
        .iter()
        .find(|c| c.id == "C0024")
        .expect("C0024");
    assert_eq!(solarwinds.groups, ["G0016"]);
    assert!(solarwinds.first_seen.is_some());
    let m1038 = data
        .mitigations
        .iter()
        .find(|m| m.id == "M1038")
        .expect("M1038");
    assert_eq!(m1038.name, "Execution Prevention");
    assert_eq!(m1038.techniques.len(), 80);
    assert!(m1038.techniques.iter().any(|t| t == "T1059"));
    assert!(data.mitigations.iter().all(|m| m.id.starts_with('M')));

    // v18 detection content.
    let det = data
        .detection_strategies
        .iter()
        .find(|d| d.id == "DET0001")
        .expect("DET0001");
    assert_eq!(det.techniques, ["T1552.005"]);
    assert_eq!(det.analytics, ["AN0001"]);
    let an = data
        .analytics
        .iter()
        .find(|a| a.id == "AN0001")
        .expect("AN0001");
    assert_eq!(an.platforms, ["IaaS"]);
    assert_eq!(an.data_components, ["DC0070", "DC0082", "DC0085"]);
    let dc = data
        .data_components
        .iter()
        .find(|d| d.id == "DC0084")
        .expect("DC0084");
    assert!(dc.log_sources.iter().any(
        |l| l.name == "WinEventLog:Security" && l.channel.as_deref() == Some("EventCode=4768")
    ));

    // Everything left out is accounted for: 224 legacy mitigations, 8 revoked
    // groups/software, 3 deprecated data components.
    assert_eq!(report.skipped, 235);
    assert!(report.warnings.iter().any(|w| w.starts_with("224 ")));
    assert!(report
        .warnings
        .iter()
        .any(|w| w.contains("x-mitre-data-source (38)")));
}

// ---------------------------------------------------------------------------
// A v19-shaped bundle: everything must come from the data.
// ---------------------------------------------------------------------------

#[test]
fn v19_fixture_comes_from_the_data() {
    let (data, report) =
        import_bundle(FIXTURE.as_bytes(), &opts("attack-v19-mini.json")).expect("fixture imports");

    assert_eq!(data.meta.version, "19.0", "version from x-mitre-collection");
    assert_eq!(
        data.meta.stix_version, "2.1",
        "spec_version from the objects"
    );
    assert_eq!(data.meta.domain, "enterprise-attack");
    assert_eq!(
        data.meta.modified.as_deref(),
        Some("2026-04-20T12:00:00.000Z")
    );

    let tactics: Vec<(&str, &str, &str)> = data
        .tactics
        .iter()
        .map(|t| (t.id.as_str(), t.name.as_str(), t.shortname.as_str()))
        .collect();
    assert_eq!(
        tactics,
        [
            ("TA0001", "Initial Access", "initial-access"),
            ("TA0002", "Execution", "execution"),
            ("TA0005", "Stealth", "stealth"),
            ("TA0112", "Defense Impairment", "defense-impairment"),
            ("TA0040", "Impact", "impact"),
        ]
    );

    // A technique new in v19, only under the new tactic.
    assert_eq!(technique(&data, "T1685").tactics, ["TA0112"]);
    // Phases listed defense-impairment first come out in matrix order.
    assert_eq!(technique(&data, "T1562").tactics, ["TA0005", "TA0112"]);
    assert_eq!(technique(&data, "T1027").tactics, ["TA0005"]);
    assert_eq!(
        technique(&data, "T1566.001").parent.as_deref(),
        Some("T1566")
    );
    assert_eq!(
        technique(&data, "T1086").revoked_by.as_deref(),
        Some("T1059.001")
    );
    // T1089 is deprecated and tagged with a shortname the matrix no longer
    // has: kept, flagged, with a warning and no tactic.
    let t1089 = technique(&data, "T1089");
    assert!(t1089.deprecated && t1089.tactics.is_empty());
    assert!(report
        .warnings
        .iter()
        .any(|w| w.contains("T1089") && w.contains("\"defense-evasion\"")));

    let counts = data.counts();
    assert_eq!((counts.techniques, counts.subtechniques), (6, 2));
    assert_eq!((counts.revoked, counts.deprecated), (1, 1));
    assert_eq!(counts.groups, 1);
    assert_eq!(counts.software, 2);
    assert_eq!(counts.campaigns, 1);
    assert_eq!(counts.mitigations, 1);
    assert_eq!(
        (
            counts.data_components,
            counts.detection_strategies,
            counts.analytics
        ),
        (1, 1, 1)
    );

    let group = &data.groups[0];
    assert_eq!(group.id, "G9001");
    assert_eq!(group.aliases, ["FIXTURE-1"]);
    assert_eq!(group.techniques, ["T1059.001", "T1566.001", "T1685"]);
    assert_eq!(group.software, ["S9001", "S9002"]);
    assert_eq!(data.software[0].kind, SoftwareKind::Malware);
    assert_eq!(data.software[1].kind, SoftwareKind::Tool);
    assert_eq!(data.software[0].techniques, ["T1027", "T1562"]);
    assert_eq!(data.campaigns[0].groups, ["G9001"]);
    assert_eq!(data.campaigns[0].software, ["S9001"]);
    assert_eq!(data.mitigations[0].techniques, ["T1059.001", "T1685"]);
    assert_eq!(data.redirects.len(), 1);
    assert_eq!(
        (
            data.redirects[0].from.as_str(),
            data.redirects[0].to.as_str()
        ),
        ("G9002", "G9001")
    );
    assert_eq!(data.detection_strategies[0].analytics, ["AN0001"]);
    assert_eq!(data.detection_strategies[0].techniques, ["T1059.001"]);
    assert_eq!(
        data.analytics[0].data_components,
        ["DC0001"],
        "deduplicated"
    );
    assert_eq!(data.data_components[0].log_sources.len(), 2);
    // The revoked group is the only object left out.
    assert_eq!(report.skipped, 1, "{:#?}", report.warnings);
}

#[test]
fn import_is_deterministic_and_round_trips() {
    let (first, _) = import_bundle(FIXTURE.as_bytes(), &opts("a")).expect("imports");
    let (second, _) = import_bundle(FIXTURE.as_bytes(), &opts("a")).expect("imports");
    let bytes = serde_json::to_vec(&first).expect("serialises");
    assert_eq!(bytes, serde_json::to_vec(&second).expect("serialises"));
    let back: AttackData = serde_json::from_slice(&bytes).expect("deserialises");
    assert_eq!(back, first);
}

#[test]
fn version_override_wins_over_the_collection() {
    let options = ImportOptions {
        input_name: "v19".to_owned(),
        version_override: Some("19.1".to_owned()),
    };
    let (data, report) = import_bundle(FIXTURE.as_bytes(), &options).expect("imports");
    assert_eq!(data.meta.version, "19.1");
    assert!(report
        .warnings
        .iter()
        .any(|w| w.contains("19.1") && w.contains("19.0")));
}

#[test]
fn missing_version_is_unknown_with_a_warning() {
    let mut bundle = fixture();
    objects(&mut bundle).retain(|o| o["type"] != "x-mitre-collection");
    let (data, report) = import_value(&bundle).expect("imports");
    assert_eq!(data.meta.version, "unknown");
    assert!(report
        .warnings
        .iter()
        .any(|w| w.contains("version unknown")));
}

// ---------------------------------------------------------------------------
// Errors and lenience.
// ---------------------------------------------------------------------------

#[test]
fn not_json_is_a_json_error() {
    let err = import_bundle(b"this is not JSON", &opts("junk.txt")).unwrap_err();
    assert!(
        matches!(&err, KbError::Json { input, .. } if input == "junk.txt"),
        "{err:?}"
    );
    let err = import_bundle(br#"{"type": "bundle", "objects": ["#, &opts("cut.json")).unwrap_err();
    assert!(matches!(err, KbError::Json { .. }), "{err:?}");
}

#[test]
fn json_that_is_not_a_bundle_is_a_bundle_error() {
    let cases: &[(&[u8], &str)] = &[
        (b"[1, 2, 3]", "array"),
        (b"\"bundle\"", "string"),
        (br#"{"type": "indicator", "objects": []}"#, "\"indicator\""),
        (br#"{"objects": []}"#, "type"),
        (br#"{"type": "bundle"}"#, "objects"),
        (br#"{"type": "bundle", "objects": {}}"#, "array"),
        (br#"{"type": "bundle", "objects": []}"#, "empty"),
    ];
    for (input, expected) in cases {
        let err = import_bundle(input, &opts("x.json")).unwrap_err();
        match &err {
            KbError::Bundle { input, reason } => {
                assert_eq!(input, "x.json");
                assert!(reason.contains(expected), "{reason:?} lacks {expected:?}");
            }
            other => panic!("expected a Bundle error, got {other:?}"),
        }
        assert!(err.to_string().starts_with("x.json: "), "{err}");
    }
}

#[test]
fn bundle_without_matrix_is_a_bundle_error() {
    let mut bundle = fixture();
    objects(&mut bundle).retain(|o| o["type"] != "x-mitre-matrix");
    let err = import_value(&bundle).unwrap_err();
    assert!(
        matches!(&err, KbError::Bundle { reason, .. } if reason.contains("x-mitre-matrix")),
        "{err:?}"
    );
}

#[test]
fn malformed_attack_pattern_is_a_warning() {
    let mut bundle = fixture();
    let bad_id = "attack-pattern--00000000-0000-4000-8000-000000000001";
    objects(&mut bundle).push(json!({
        "type": "attack-pattern",
        "spec_version": "2.1",
        "id": bad_id,
        "name": "No external references",
        "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "execution"}]
    }));
    let (data, report) = import_value(&bundle).expect("import continues");
    assert_eq!(
        report.skipped, 2,
        "the revoked fixture group and the bad pattern"
    );
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains(bad_id) && w.contains("external_id")),
        "{:#?}",
        report.warnings
    );
    assert_eq!(data.techniques.len(), 10);
}

#[test]
fn odd_entries_and_fields_never_fail_the_import() {
    let mut bundle = fixture();
    let objs = objects(&mut bundle);
    objs.push(json!(42));
    objs.push(json!({"no": "type"}));
    objs.push(json!({"type": "x-mitre-something-new", "id": "x-mitre-something-new--1", "answer": [1, {"a": null}]}));
    objs.push(json!({
        "type": "relationship", "id": "relationship--dangling",
        "relationship_type": "uses",
        "source_ref": "intrusion-set--not-there", "target_ref": "attack-pattern--not-there"
    }));
    for o in objs.iter_mut() {
        if o["type"] == "attack-pattern" && o["external_references"][0]["external_id"] == "T1027" {
            o["revoked"] = json!("no"); // wrong type: read as false, warned
            o["x_mitre_platforms"] = json!(["Windows", 7, "Windows"]);
            o["unknown_field"] = json!({"deep": [[[]]]});
        }
    }
    let (data, report) = import_value(&bundle).expect("lenient import");
    let t1027 = technique(&data, "T1027");
    assert!(!t1027.revoked);
    assert_eq!(t1027.platforms, ["Windows"]);
    let has = |needle: &str| report.warnings.iter().any(|w| w.contains(needle));
    assert!(has("objects["), "{:#?}", report.warnings);
    assert!(has("x-mitre-something-new (1)"), "{:#?}", report.warnings);
    assert!(has("relationship--dangling"), "{:#?}", report.warnings);
    assert!(has("expected a boolean"), "{:#?}", report.warnings);
    // Revoked group + non-object entry + typeless entry + dangling relationship.
    assert_eq!(report.skipped, 4, "{:#?}", report.warnings);
}

#[test]
fn duplicate_attack_ids_prefer_the_active_object() {
    let mut bundle = fixture();
    let objs = objects(&mut bundle);
    let mut stale = objs
        .iter()
        .find(|o| {
            o["type"] == "attack-pattern" && o["external_references"][0]["external_id"] == "T1059"
        })
        .cloned()
        .expect("T1059 in fixture");
    stale["id"] = json!("attack-pattern--00000000-0000-4000-8000-0000000000aa");
    stale["revoked"] = json!(true);
    stale["name"] = json!("Stale copy");
    // The stale copy comes first, so keeping it would be the naive choice.
    objs.insert(0, stale);
    let (data, report) = import_value(&bundle).expect("imports");
    let t1059 = technique(&data, "T1059");
    assert_eq!(t1059.name, "Command and Scripting Interpreter");
    assert!(!t1059.revoked);
    assert!(report
        .warnings
        .iter()
        .any(|w| w.contains("0000000000aa") && w.contains("T1059")));
}

#[test]
fn retired_relationships_are_ignored() {
    let mut bundle = fixture();
    for o in objects(&mut bundle).iter_mut() {
        if o["type"] == "relationship" && o["relationship_type"] == "mitigates" {
            o["x_mitre_deprecated"] = json!(true);
        }
    }
    let (data, report) = import_value(&bundle).expect("imports");
    assert!(data.mitigations[0].techniques.is_empty());
    assert_eq!(
        report.skipped, 3,
        "revoked group + 2 deprecated relationships"
    );
}

#[test]
fn stix_20_bundle_without_v18_objects() {
    // An older-style bundle: spec_version on the bundle, no collection, no
    // detection strategies, analytics or data components.
    let mut bundle = fixture();
    bundle["spec_version"] = json!("2.0");
    objects(&mut bundle).retain(|o| {
        let ty = o["type"].as_str().unwrap_or_default();
        !ty.starts_with("x-mitre-d") && ty != "x-mitre-analytic" && ty != "x-mitre-collection"
    });
    for o in objects(&mut bundle).iter_mut() {
        o.as_object_mut().expect("object").remove("spec_version");
    }
    let options = ImportOptions {
        input_name: "old.json".to_owned(),
        version_override: Some("15.1".to_owned()),
    };
    let bytes = serde_json::to_vec(&bundle).expect("serialises");
    let (data, report) = import_bundle(&bytes, &options).expect("imports");
    assert_eq!(data.meta.stix_version, "2.0");
    assert_eq!(data.meta.version, "15.1");
    assert!(data.detection_strategies.is_empty());
    assert!(data.analytics.is_empty());
    assert!(data.data_components.is_empty());
    // The `detects` relationship lost its source: reported, not fatal.
    assert!(report
        .warnings
        .iter()
        .any(|w| w.contains("not in the bundle")));
}
