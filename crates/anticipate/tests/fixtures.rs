//! The engine on small flows we wrote (tests/fixtures/flows): import, the
//! model's counts and evidence, the saved model, the evaluation shape.

use std::path::Path;

use killchain_anticipate::eval::{evaluate, evaluate_with, WeightPolicy};
use killchain_anticipate::flow::{parse_flow_file, Flow};
use killchain_anticipate::model::{resolve_flows, Predictor, SavedModel, Weights};
use killchain_anticipate::sequence::parse_sequence_file;
use killchain_anticipate::{Anticipator, Observed, Playbooks, PredictOptions};
use killchain_kb::models::ModelSet;
use killchain_kb::{AttackData, AttackKb};

fn read(name: &str) -> killchain_anticipate::flow::FlowFile {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/flows")
        .join(name);
    parse_flow_file(&std::fs::read(&p).unwrap(), name).unwrap()
}

fn all_flows() -> Vec<Flow> {
    ["fixture-a.afb", "fixture-b.afb", "fixture-c.json"]
        .iter()
        .flat_map(|n| read(n).flows)
        .collect()
}

fn techniques(f: &Flow) -> Vec<&str> {
    f.actions
        .iter()
        .map(|a| a.technique.as_deref().unwrap_or("-"))
        .collect()
}

#[test]
fn builder_file_collapses_operators_and_conditions_and_keeps_backward_edges() {
    let f = read("fixture-a.afb");
    assert!(f.warnings.is_empty(), "{:?}", f.warnings);
    let flow = &f.flows[0];
    assert_eq!(flow.name, "Fixture A: phishing to C2");
    assert_eq!(
        techniques(flow),
        [
            "T1566.001",
            "T1204.002",
            "T1059.001",
            "T1053.005",
            "T1071.001",
            "T1082"
        ]
    );
    // ps -AND-> st, c2; c2 -condition-> d; d -> ps goes backwards; ps -> asset is no edge.
    assert_eq!(
        flow.edges,
        vec![(0, 1), (1, 2), (2, 3), (2, 4), (4, 5), (5, 2)]
    );
}

#[test]
fn builder_ttp_only_actions_and_bad_ids_warn_with_file_and_object() {
    let f = read("fixture-b.afb");
    let flow = &f.flows[0];
    assert_eq!(
        techniques(flow),
        ["T1566.001", "T1204.002", "T1059.003", "-", "T1041", "-"]
    );
    assert_eq!(flow.actions[3].tactic.as_deref(), Some("TA0008"));
    assert_eq!(flow.edges.len(), 5);
    assert_eq!(f.warnings.len(), 1);
    let w = f.warnings[0].to_string();
    assert!(w.starts_with("fixture-b.afb: action 00000000-"), "{w}");
    assert!(
        w.ends_with("technique \"T10\" is not an ATT&CK technique ID (left out)"),
        "{w}"
    );
}

#[test]
fn stix_bundle_is_read_like_a_builder_file() {
    let f = read("fixture-c.json");
    let flow = &f.flows[0];
    assert_eq!(flow.name, "Fixture C: STIX");
    assert_eq!(techniques(flow), ["T1566.001", "T1204.002", "T1059.005"]);
    assert_eq!(flow.edges, vec![(0, 1), (0, 2)]);
}

#[test]
fn the_model_learns_the_fixture_edges_and_says_why() {
    let kb = AttackKb::new(AttackData::embedded().unwrap());
    let models = ModelSet::new(&kb, vec![]).unwrap();
    let (resolved, stats) = resolve_flows(&kb, &all_flows());
    assert_eq!(stats.actions, 15);
    assert_eq!(stats.with_technique, 13);
    let p = Predictor::train(&kb, &resolved, Weights::default());
    assert_eq!((p.info().files, p.info().flows, p.info().edges), (3, 3, 13));
    let a = Anticipator::new(p, &models, Playbooks::builtin(), PredictOptions::default());
    let pred = a.predict(&Observed::techniques(&["T1566.001"]));
    // T1566.001 is followed by T1204.002 in all three fixture flows.
    let first = &pred.next_techniques[0];
    assert_eq!(first.id, "T1204.002", "{:?}", pred.next_techniques);
    assert!(
        first.evidence[0].starts_with("follows T1566.001 in 3 flows (3 edges)"),
        "{:?}",
        first.evidence
    );
    assert!(first
        .evidence
        .iter()
        .any(|e| e.contains("groups") && e.contains("that also used what you saw")));
    assert_eq!(pred.next_tactics[0].id, "TA0002");
    assert!(pred.next_tactics[0].evidence[0].starts_with("follows Initial Access in 3 flows"));
    let lm = pred.kill_chain.iter().find(|k| k.model == "lm").unwrap();
    assert_eq!(lm.current.as_ref().unwrap().id, "delivery");
    assert_eq!(lm.next[0].id, "exploitation");
    // Probabilities are sorted and sum to at most 1.
    assert!(pred
        .next_techniques
        .windows(2)
        .all(|w| w[0].probability >= w[1].probability));
    assert!(
        pred.next_techniques
            .iter()
            .map(|t| t.probability)
            .sum::<f64>()
            <= 1.0 + 1e-9
    );
    // Playbooks for the stage reached and the next one.
    let stages: Vec<(&str, &str)> = pred
        .playbooks
        .iter()
        .map(|p| (p.playbook.model.as_str(), p.playbook.phase.as_str()))
        .collect();
    assert!(
        stages.contains(&("lm", "delivery")) && stages.contains(&("lm", "exploitation")),
        "{stages:?}"
    );
}

/// A parent technique (one with sub-techniques) says what share of its
/// family's probability it gets from how the flows write the family; other
/// techniques do not.
#[test]
fn a_parent_technique_explains_its_share_of_the_family() {
    let kb = AttackKb::new(AttackData::embedded().unwrap());
    let models = ModelSet::new(&kb, vec![]).unwrap();
    // Three incidents whose authors write T1059, T1071 and T1027 at parent level.
    let csv = "incident,technique_id\n\
               a,T1566.001\na,T1204.002\na,T1059\na,T1071\n\
               b,T1566.001\nb,T1204.002\nb,T1059\nb,T1027\n\
               c,T1566.001\nc,T1059\nc,T1071\n";
    let flows = parse_sequence_file(csv.as_bytes(), "parents.csv")
        .unwrap()
        .flows;
    let (resolved, _) = resolve_flows(&kb, &flows);
    let a = Anticipator::new(
        Predictor::train(&kb, &resolved, Weights::default()),
        &models,
        Playbooks::builtin(),
        PredictOptions {
            top: 40,
            ..PredictOptions::default()
        },
    );
    let pred = a.predict(&Observed::techniques(&["T1566.001", "T1204.002"]));
    let mut parents = 0;
    for t in &pred.next_techniques {
        let (i, _) = kb.technique_by_id(&t.id).unwrap();
        let is_parent = !kb.subtechniques_of(i).is_empty();
        let said = t
            .evidence
            .iter()
            .find(|e| e.contains("family's probability"));
        assert_eq!(said.is_some(), is_parent, "{}: {:?}", t.id, t.evidence);
        if let Some(e) = said {
            parents += 1;
            assert!(
                e.starts_with("gets ") && e.contains(&format!("of the {} family's", t.id)),
                "{e}"
            );
        }
    }
    assert!(parents > 0, "{:?}", pred.next_techniques);
    // T1059 leads, as the flows write it: the parent itself.
    assert_eq!(
        pred.next_techniques[0].id, "T1059",
        "{:?}",
        pred.next_techniques
    );
}

#[test]
fn predictions_are_deterministic_and_unknown_ids_are_noted() {
    let kb = AttackKb::new(AttackData::embedded().unwrap());
    let models = ModelSet::new(&kb, vec![]).unwrap();
    let (resolved, _) = resolve_flows(&kb, &all_flows());
    let a = Anticipator::new(
        Predictor::train(&kb, &resolved, Weights::default()),
        &models,
        Playbooks::builtin(),
        PredictOptions::default(),
    );
    let obs = Observed::techniques(&["T1086", "T9999", "T1059.001"]);
    let one = serde_json::to_string(&a.predict(&obs)).unwrap();
    let two = serde_json::to_string(&a.predict(&obs)).unwrap();
    assert_eq!(one, two);
    let p = a.predict(&obs);
    assert_eq!(
        p.observed.len(),
        1,
        "T1086 is revoked for T1059.001: one technique"
    );
    assert!(
        p.notes
            .contains(&"T1086 is revoked in ATT&CK, read as T1059.001".to_string()),
        "{:?}",
        p.notes
    );
    assert!(p
        .notes
        .contains(&"unknown technique \"T9999\" (left out)".to_string()));
    // Nothing usable: still an answer (the prior), no panic.
    let empty = a.predict(&Observed::default());
    assert_eq!(empty.next_techniques.len(), 5);
    assert!(empty.observed.is_empty() && empty.adversaries.groups.is_empty());
}

#[test]
fn saved_model_round_trips_and_bad_ones_are_named() {
    let m = SavedModel::new("18.1", all_flows(), Some(Weights::default()));
    let back = SavedModel::from_json(&m.to_json(), "model.json").unwrap();
    assert_eq!(back.flows, m.flows);
    assert_eq!(back.weights, Some(Weights::default()));
    let e = SavedModel::from_json(
        b"{\"format\": 99, \"attack_version\": \"x\", \"flows\": []}",
        "m.json",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("m.json: invalid next-move model: format 99"),
        "{e}"
    );
}

#[test]
fn evaluation_holds_each_file_out() {
    let kb = AttackKb::new(AttackData::embedded().unwrap());
    let (resolved, _) = resolve_flows(&kb, &all_flows());
    let (report, details) = evaluate(&kb, &resolved, WeightPolicy::Fitted(Weights::default()));
    assert_eq!(report.flows, 3);
    assert_eq!(details.files, 3);
    assert_eq!(details.edges, 13);
    // Followers with a technique: A 6, B 3 (lm and bad have none), C 2.
    assert_eq!(details.technique_cases, 11);
    let names: Vec<&str> = report.baselines.keys().map(String::as_str).collect();
    assert_eq!(names, ["bigram", "matrix_order", "most_frequent"]);
    // Held out, fixture C's T1566.001 -> T1204.002 is still learned from A and B:
    // the model gets at least those right at top 10.
    assert!(report.next_technique.top10 > 0.0);
    // Per held-out file: files sorted, cases adding up, and the hits of
    // every file adding up to the overall rate.
    let files: Vec<&str> = details.by_file.iter().map(|f| f.file.as_str()).collect();
    assert_eq!(files, ["fixture-a.afb", "fixture-b.afb", "fixture-c.json"]);
    let cases: usize = details.by_file.iter().map(|f| f.technique_cases).sum();
    assert_eq!(cases, details.technique_cases);
    assert_eq!(
        details
            .by_file
            .iter()
            .map(|f| f.tactic_cases)
            .sum::<usize>(),
        details.tactic_cases
    );
    let hits: f64 = details
        .by_file
        .iter()
        .map(|f| f.next_technique.top10 * f.technique_cases as f64)
        .sum();
    assert!((hits / cases as f64 - report.next_technique.top10).abs() < 1e-9);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["flows", "next_tactic", "next_technique", "baselines"]
    );
}

fn timeline() -> Vec<Flow> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sequences/timeline.csv");
    let f = parse_sequence_file(&std::fs::read(p).unwrap(), "timeline.csv").unwrap();
    assert!(f.warnings.is_empty(), "{:?}", f.warnings);
    f.flows
}

#[test]
fn a_sequence_file_is_a_linear_flow_the_model_learns_from() {
    let kb = AttackKb::new(AttackData::embedded().unwrap());
    let flows = timeline();
    assert_eq!(flows.len(), 1);
    assert_eq!(
        techniques(&flows[0]),
        [
            "T1566.001",
            "T1204.002",
            "T1059.001",
            "T1053.005",
            "T1071.001",
            "T1082"
        ]
    );
    // 1 + 2 (into the parallel step) + 2 (out of it) + 1.
    assert_eq!(flows[0].edges.len(), 6);
    let (resolved, stats) = resolve_flows(&kb, &flows);
    // Tactics by ID, by shortname, and from single-tactic techniques.
    assert!(stats.unknown_tactics.is_empty(), "{stats:?}");
    let tactic = |i: usize| resolved[0].steps[i].tactic.map(|t| kb.tactic(t).id.clone());
    assert_eq!(tactic(4).as_deref(), Some("TA0011"));
    assert_eq!(tactic(5).as_deref(), Some("TA0007"));
    let p = Predictor::train(&kb, &resolved, Weights::default());
    assert_eq!((p.info().files, p.info().edges), (1, 6));
}

#[test]
fn evaluation_trains_on_sequences_in_every_fold_and_never_scores_them() {
    let kb = AttackKb::new(AttackData::embedded().unwrap());
    let (resolved, _) = resolve_flows(&kb, &all_flows());
    let (extra, _) = resolve_flows(&kb, &timeline());
    let policy = WeightPolicy::Fixed(Weights::default());
    let (without, d0) = evaluate(&kb, &resolved, policy);
    let (with, d1) = evaluate_with(&kb, &resolved, &extra, policy);
    // The same cases: the sequence is training data, never held out.
    assert_eq!(
        (with.flows, d1.files, d1.edges),
        (without.flows, d0.files, d0.edges)
    );
    assert_eq!(
        (d1.tactic_cases, d1.technique_cases),
        (d0.tactic_cases, d0.technique_cases)
    );
    // Held out, fixture A's T1059.001 -> T1053.005 and T1071.001 -> T1082
    // are known only from the timeline: the bigram baseline finds them.
    let bigram =
        |r: &killchain_anticipate::eval::EvalReport| r.baselines["bigram"].next_technique.top10;
    assert!(bigram(&with) > bigram(&without), "{with:?} {without:?}");
}

/// A poor man's fuzz target: every truncation and a few thousand corrupted
/// copies of the fixtures parse to a flow or to an error, never a panic, and
/// whatever parses has edges only between its own actions.
#[test]
fn damaged_flow_files_never_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flows");
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let check = |bytes: &[u8]| {
        if let Ok(f) = parse_flow_file(bytes, "damaged") {
            for flow in &f.flows {
                assert!(flow
                    .edges
                    .iter()
                    .all(|&(a, b)| a < flow.actions.len() && b < flow.actions.len() && a != b));
            }
        }
    };
    let seq = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sequences/timeline.csv"),
    )
    .unwrap();
    let check_seq = |bytes: &[u8]| {
        if let Ok(f) = parse_sequence_file(bytes, "damaged") {
            for flow in &f.flows {
                assert!(flow
                    .edges
                    .iter()
                    .all(|&(a, b)| a < b && b < flow.actions.len()));
            }
            // Warnings name the file and a line.
            assert!(f
                .warnings
                .iter()
                .all(|w| w.file == "damaged" && w.object.starts_with("line ")));
        }
    };
    for cut in 0..seq.len() {
        check_seq(&seq[..cut]);
        check_seq(&seq[cut..]);
    }
    // Corrupted copies of the CSV: stray quotes, line breaks, commas, bytes
    // that are not UTF-8.
    for _ in 0..2000 {
        let mut bytes = seq.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() % bytes.len() as u64) as usize;
            bytes[at] = [b'"', b'\r', b'\n', b',', 0xff, 0xc3, 0x80, 0][(next() % 8) as usize];
        }
        check_seq(&bytes);
    }
    for name in ["fixture-a.afb", "fixture-b.afb", "fixture-c.json"] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        for cut in (0..bytes.len()).step_by(97) {
            check(&bytes[..cut]);
        }
        let text = String::from_utf8(bytes).unwrap();
        // Swap JSON tokens for others of different types.
        let swaps = [
            ("\"", "'"),
            ("[", "{"),
            ("]", "}"),
            (":", ","),
            ("\"T", "5"),
            ("null", "[]"),
            ("\"action\"", "\"condition\""),
        ];
        for _ in 0..1500 {
            let (from, to) = swaps[(next() % swaps.len() as u64) as usize];
            let hits: Vec<usize> = text.match_indices(from).map(|(i, _)| i).collect();
            if hits.is_empty() {
                continue;
            }
            let at = hits[(next() % hits.len() as u64) as usize];
            let damaged = format!("{}{}{}", &text[..at], to, &text[at + from.len()..]);
            check(damaged.as_bytes());
        }
    }
}
