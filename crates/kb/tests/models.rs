#![cfg(feature = "embedded")]
//! Kill chain models against the built-in ATT&CK v18.1 index: the mapping
//! tables cover every active technique, overrides and tactic defaults land
//! where the models say, and bad model files are rejected with the reason.

use killchain_kb::models::{Model, ModelSet, Origin, PlaceInput};
use killchain_kb::{AttackData, AttackKb, KbError};

fn kb() -> AttackKb {
    AttackKb::new(AttackData::embedded().expect("embedded index decodes"))
}

/// Primary phase and all phases of `techniques` (+ tactic hints) in `model`.
fn place(
    kb: &AttackKb,
    set: &ModelSet,
    model: &str,
    techniques: &[&str],
    tactics: &[&str],
) -> (String, Vec<String>) {
    let mi = set.index_of(model).unwrap();
    let t: Vec<usize> = techniques
        .iter()
        .map(|id| kb.technique_by_id(id).unwrap().0)
        .collect();
    let ta: Vec<usize> = tactics
        .iter()
        .map(|id| kb.tactic_by_token(id).unwrap())
        .collect();
    let p = set
        .place(
            mi,
            &PlaceInput {
                techniques: &t,
                tactics: &ta,
                named_phases: &[],
            },
        )
        .unwrap();
    let m = &set.models()[mi];
    (
        m.phases[p.primary].id.clone(),
        p.phases.iter().map(|&i| m.phases[i].id.clone()).collect(),
    )
}

#[test]
fn built_in_models_are_lm_attack_ukc_with_expected_phases() {
    let kb = kb();
    let set = ModelSet::new(&kb, vec![]).unwrap();
    let ids: Vec<&str> = set.models().iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["lm", "attack", "ukc"]);
    let lm: Vec<&str> = set
        .get("lm")
        .unwrap()
        .phases
        .iter()
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(
        lm,
        [
            "reconnaissance",
            "weaponization",
            "delivery",
            "exploitation",
            "installation",
            "command-and-control",
            "actions-on-objectives"
        ]
    );
    let ukc = set.get("ukc").unwrap();
    assert_eq!(ukc.phases.len(), 18);
    let groups: Vec<usize> = ["in", "through", "out"]
        .iter()
        .map(|g| {
            ukc.phases
                .iter()
                .filter(|p| p.group.as_deref() == Some(g))
                .count()
        })
        .collect();
    assert_eq!(groups, [8, 6, 4]);
    // The attack model follows the kb's matrix order.
    let attack: Vec<&str> = set
        .get("attack")
        .unwrap()
        .phases
        .iter()
        .map(|p| p.id.as_str())
        .collect();
    let tactics: Vec<&str> = kb.tactics().iter().map(|t| t.shortname.as_str()).collect();
    assert_eq!(attack, tactics);
}

#[test]
fn every_active_technique_maps_in_every_built_in_model() {
    let kb = kb();
    let set = ModelSet::new(&kb, vec![]).unwrap();
    let unmapped = set.unmapped(&kb);
    assert!(unmapped.is_empty(), "unmapped: {unmapped:?}");
    assert_eq!(kb.active_techniques().count(), 216 + 475);
    // Every rationale names the technique it explains.
    let lm = set.index_of("lm").unwrap();
    for (ti, t) in kb.active_techniques() {
        for a in set.technique_assignments(lm, ti) {
            assert!(a.rationale.starts_with(&t.id), "{}: {}", t.id, a.rationale);
        }
    }
}

#[test]
fn overrides_and_tactic_defaults_place_techniques_as_documented() {
    let kb = kb();
    let set = ModelSet::new(&kb, vec![]).unwrap();
    let lm = |t: &str| place(&kb, &set, "lm", &[t], &[]).0;
    assert_eq!(lm("T1566"), "delivery");
    assert_eq!(
        lm("T1566.001"),
        "delivery",
        "sub-technique inherits the override"
    );
    assert_eq!(lm("T1190"), "exploitation");
    assert_eq!(lm("T1203"), "exploitation");
    assert_eq!(lm("T1583"), "weaponization", "Resource Development");
    assert_eq!(lm("T1547.001"), "installation", "Persistence");
    assert_eq!(lm("T1041"), "actions-on-objectives", "Exfiltration");
    assert_eq!(lm("T1486"), "actions-on-objectives", "Impact");
    assert_eq!(lm("T1071.001"), "command-and-control");
    assert_eq!(lm("T1595"), "reconnaissance");
    // Multi-phase override: both phases, the first primary.
    let (primary, all) = place(&kb, &set, "lm", &["T1189"], &[]);
    assert_eq!(
        (primary.as_str(), all),
        (
            "delivery",
            vec!["delivery".to_string(), "exploitation".to_string()]
        )
    );
    // UKC: phishing is social engineering and delivery; Proxy is pivoting.
    assert_eq!(
        place(&kb, &set, "ukc", &["T1566.002"], &[]).0,
        "social-engineering"
    );
    assert!(place(&kb, &set, "ukc", &["T1090"], &[])
        .1
        .contains(&"pivoting".to_string()));
    assert_eq!(
        place(&kb, &set, "attack", &["T1003.001"], &[]).0,
        "credential-access"
    );
}

#[test]
fn a_tactic_named_by_the_record_narrows_a_multi_tactic_technique() {
    let kb = kb();
    let set = ModelSet::new(&kb, vec![]).unwrap();
    // T1053.005 Scheduled Task is Execution, Persistence and Privilege Escalation.
    let (_, all) = place(&kb, &set, "lm", &["T1053.005"], &[]);
    assert_eq!(all, ["exploitation", "installation"]);
    let (primary, all) = place(&kb, &set, "lm", &["T1053.005"], &["TA0003"]);
    assert_eq!((primary.as_str(), all.len()), ("installation", 1));
    // A tactic the technique does not have is added, not ignored.
    let (_, all) = place(&kb, &set, "lm", &["T1053.005"], &["TA0011"]);
    assert!(all.contains(&"command-and-control".to_string()));
}

#[test]
fn tactic_only_and_named_phases_place_too() {
    let kb = kb();
    let set = ModelSet::new(&kb, vec![]).unwrap();
    assert_eq!(
        place(&kb, &set, "lm", &[], &["lateral_movement"]).0,
        "actions-on-objectives"
    );
    let lm = set.index_of("lm").unwrap();
    let named = vec![(
        "lockheed-martin-cyber-kill-chain".to_string(),
        "actions-on-objective".to_string(),
    )];
    let p = set
        .place(
            lm,
            &PlaceInput {
                techniques: &[],
                tactics: &[],
                named_phases: &named,
            },
        )
        .unwrap();
    assert_eq!(
        set.models()[lm].phases[p.primary].id,
        "actions-on-objectives",
        "singular alias accepted"
    );
    assert!(set.place(lm, &PlaceInput::default()).is_none());
}

#[test]
fn user_models_add_or_replace() {
    let kb = kb();
    let custom = r#"
id: mini
name: Three-stage model
phases:
  - {id: get-in, name: Get in}
  - {id: stay, name: Stay}
  - {id: act, name: Act}
mapping:
  tactics:
    - {tactic: initial-access, phases: [get-in], rationale: entry}
    - {tactic: TA0003, phases: [stay], rationale: foothold}
    - {tactic: TA0040, phases: [act], rationale: damage}
  techniques:
    - {technique: T1486, phases: [act, stay], rationale: ransomware}
"#;
    let m = Model::from_yaml(custom, "mini.yaml", Origin::File("mini.yaml".into())).unwrap();
    let set = ModelSet::new(&kb, vec![m]).unwrap();
    assert_eq!(set.models().len(), 4);
    assert_eq!(
        place(&kb, &set, "mini", &["T1190"], &[]).0,
        "get-in",
        "tactic by shortname"
    );
    assert_eq!(
        place(&kb, &set, "mini", &["T1486"], &[]).1,
        ["stay", "act"],
        "model order"
    );
    // Tactics without a default are reported, and their techniques are unmapped.
    assert!(set
        .warnings
        .iter()
        .any(|w| w.contains("mini") && w.contains("TA0007")));
    assert!(set.unmapped(&kb).iter().any(|(m, _)| m == "mini"));
    // Same id as a built-in: replaces it.
    let lm2 = custom.replace("id: mini", "id: lm");
    let m = Model::from_yaml(&lm2, "lm.yaml", Origin::File("lm.yaml".into())).unwrap();
    let set = ModelSet::new(&kb, vec![m]).unwrap();
    assert_eq!(set.models().len(), 3);
    assert_eq!(set.get("lm").unwrap().phases.len(), 3);
}

#[test]
fn bad_model_files_say_what_is_wrong() {
    let bad = |yaml: &str| match Model::from_yaml(yaml, "bad.yaml", Origin::Builtin) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted: {yaml}"),
    };
    let e = bad("id: x\nname: X\nphases: []\n");
    assert!(
        e.contains("bad.yaml") && e.contains("at least one phase"),
        "{e}"
    );
    let e = bad("id: x\nname: X\nphases: [{id: a, name: A}]\nmapping: {tactics: [{tactic: TA0001, phases: [b], rationale: r}]}\n");
    assert!(e.contains("unknown phase \"b\""), "{e}");
    let e = bad("id: x\nname: X\nphases: [{id: a, name: A}, {id: b, name: B, aliases: [a]}]\n");
    assert!(e.contains("used by both"), "{e}");
    // Two phases with the same id: the second could never be placed in.
    let e = bad("id: x\nname: X\nphases: [{id: a, name: A}, {id: a, name: A2}]\n");
    assert!(e.contains("used by both"), "{e}");
    let e = bad("id: x\nname: X\nphases: [{id: a, name: A}, {id: A, name: A2}]\n");
    assert!(e.contains("used by both"), "{e}");
    let e = bad("id: x\nname: X\nphases: [{id: a, name: A, colour: red}]\n");
    assert!(e.contains("colour"), "{e}");
    assert!(matches!(
        Model::from_yaml("id: [", "y.yaml", Origin::Builtin),
        Err(KbError::Yaml { .. })
    ));
}

#[test]
fn lookups_by_id_tag_name_and_revoked_redirect() {
    let kb = kb();
    let (t, redirected) = kb.technique_by_id("attack.t1059.001").unwrap();
    assert_eq!(
        (kb.technique(t).name.as_str(), redirected),
        ("PowerShell", None)
    );
    let (t, redirected) = kb.technique_by_id("T1086").unwrap();
    assert_eq!(kb.technique(t).id, "T1059.001");
    assert_eq!(redirected.as_deref(), Some("T1086"));
    for q in [
        "TA0006",
        "credential-access",
        "credential_access",
        "Credential Access",
        "attack.credential_access",
    ] {
        assert_eq!(
            kb.tactic(kb.tactic_by_token(q).unwrap()).id,
            "TA0006",
            "{q}"
        );
    }
    let g = kb.lookup("attack.g0016");
    assert_eq!(kb.describe(g[0].object), ("G0016", "APT29"));
    assert_eq!(
        kb.describe(kb.lookup("Cozy Bear")[0].object).0,
        "G0016",
        "alias"
    );
    assert_eq!(
        kb.describe(kb.lookup("lsass memory")[0].object).0,
        "T1003.001",
        "name"
    );
    assert!(kb.lookup("T9999").is_empty());
    assert!(!kb
        .mitigations_for(kb.technique_by_id("T1003.001").unwrap().0)
        .is_empty());
}

#[test]
fn renamed_tactic_shortnames_still_resolve_in_a_v19_kb() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/attack-v19-mini.json"
    ))
    .unwrap();
    let opts = killchain_kb::stix::ImportOptions {
        input_name: "v19".into(),
        version_override: None,
    };
    let (data, _) = killchain_kb::stix::import_bundle(&bytes, &opts).unwrap();
    let kb = AttackKb::new(data);
    let stealth = kb.tactic_by_token("stealth").unwrap();
    assert_eq!(kb.tactic(stealth).id, "TA0005");
    // Rules written against v18 say defense_evasion; it is the same tactic.
    assert_eq!(kb.tactic_by_token("attack.defense_evasion"), Some(stealth));
    assert_eq!(
        kb.tactic(kb.tactic_by_token("DefenseImpairment").unwrap())
            .id,
        "TA0112"
    );
    // Every technique of the v19 fixture maps in every built-in model.
    let set = ModelSet::new(&kb, vec![]).unwrap();
    assert!(set.unmapped(&kb).is_empty(), "{:?}", set.unmapped(&kb));
}
