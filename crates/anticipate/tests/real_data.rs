//! Real data: the CTID Attack Flow corpus in ../shared/data/attack-flow.

use std::fs;

use killchain_anticipate::eval::{evaluate, WeightPolicy};
use killchain_anticipate::flow::{parse_flow_file, Flow};
use killchain_anticipate::model::{resolve_flows, Weights};
use killchain_anticipate::sequence::parse_sequence_file;
use killchain_kb::{AttackData, AttackKb};

fn corpus() -> Option<Vec<Flow>> {
    let dir = killchain_testdata::shared("attack-flow/corpus")?;
    let mut paths: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "afb"))
        .collect();
    paths.sort();
    let mut flows = Vec::new();
    for p in paths {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let f = parse_flow_file(&fs::read(&p).unwrap(), &name).unwrap();
        flows.extend(f.flows);
    }
    Some(flows)
}

#[test]
fn the_corpus_parses_completely() {
    let Some(flows) = corpus() else { return };
    assert_eq!(flows.len(), 15);
    let actions: usize = flows.iter().map(|f| f.actions.len()).sum();
    let edges: usize = flows.iter().map(|f| f.edges.len()).sum();
    assert_eq!((actions, edges), (391, 448));
    let kb = AttackKb::new(AttackData::embedded().unwrap());
    let (resolved, stats) = resolve_flows(&kb, &flows);
    assert_eq!(resolved.len(), 15);
    // 315 actions name a technique; two name T0834, from ATT&CK for ICS, not Enterprise.
    assert_eq!(stats.with_technique, 313, "{stats:?}");
    assert_eq!(stats.unknown_techniques, ["T0834"]);
    // About a third of the edges go backwards in ATT&CK matrix order.
    let (mut back, mut both) = (0, 0);
    for f in &resolved {
        for &(a, b) in &f.edges {
            if let (Some(x), Some(y)) = (f.steps[a].tactic, f.steps[b].tactic) {
                both += 1;
                back += usize::from(y < x);
            }
        }
    }
    let share = back as f64 / both as f64;
    eprintln!("{back} of {both} edges between actions with tactics go backwards");
    assert!(
        (0.2..0.45).contains(&share),
        "{back} of {both} edges go backwards"
    );
}

#[test]
fn the_stix_example_parses() {
    let Some(p) = killchain_testdata::shared("attack-flow/stix/attack-flow-example.json") else {
        return;
    };
    let f = parse_flow_file(&fs::read(&p).unwrap(), "attack-flow-example.json").unwrap();
    let flow = &f.flows[0];
    assert_eq!(flow.name, "Example Flow");
    assert_eq!(flow.actions.len(), 5);
    // Three actions lead through conditions and an AND operator to the phishing
    // action ("1598.003" without its T, normalised), which leads to T1190.
    assert!(flow
        .actions
        .iter()
        .any(|a| a.technique.as_deref() == Some("T1598.003")));
    assert_eq!(flow.edges.len(), 4, "{:?}", flow.edges);
}

#[test]
fn eval_on_the_corpus_beats_the_matrix_order_baseline() {
    let Some(flows) = corpus() else { return };
    let kb = AttackKb::new(AttackData::embedded().unwrap());
    let (resolved, _) = resolve_flows(&kb, &flows);
    let (report, details) = evaluate(&kb, &resolved, WeightPolicy::Fitted(Weights::default()));
    eprintln!("{}", serde_json::to_string_pretty(&report).unwrap());
    assert_eq!(report.flows, 15);
    assert_eq!(details.files, 15);
    assert_eq!((details.tactic_cases, details.technique_cases), (380, 363));
    let order = &report.baselines["matrix_order"];
    let bigram = &report.baselines["bigram"];
    assert!(report.next_tactic.top3 > order.next_tactic.top3);
    assert!(report.next_technique.top10 > order.next_technique.top10);
    assert!(report.next_technique.top10 > bigram.next_technique.top10);
    assert!(report.next_tactic.top5 > bigram.next_tactic.top5);
    // Floors just under the numbers docs/prediction.md reports (technique
    // top-5 17.9%, top-10 26.7%, tactic top-5 70.5%; the model before the
    // repeat / new-technique split had 13.5%, 24.5%, 67.9%, and before the
    // parent / sub-technique split 17.4%, 25.6%): a change that loses
    // either gain fails here.
    assert!(report.next_technique.top5 > 0.17, "{report:?}");
    assert!(report.next_technique.top10 > 0.26, "{report:?}");
    assert!(report.next_tactic.top5 > 0.69, "{report:?}");
    let frequent = &report.baselines["most_frequent"];
    assert!(report.next_technique.top5 > frequent.next_technique.top5);
    for k in [report.next_tactic, report.next_technique] {
        assert!(k.top1 <= k.top3 && k.top3 <= k.top5 && k.top5 <= k.top10 && k.top10 <= 1.0);
    }
}

/// The APT29 evaluation's steps and procedure steps (ordered technique IDs,
/// CSV) read as sequences: every row a step, nothing malformed.
#[test]
fn the_apt29_step_tables_read_as_sequences() {
    let Some(dir) = killchain_testdata::shared("apt29") else {
        return;
    };
    let kb = AttackKb::new(AttackData::embedded().unwrap());
    let none: &[&str] = &[];
    for (name, actions, edges, unknown_tactics) in [
        // 49 steps, some of several techniques (2.A: T1119;T1005;T1560.001),
        // without tactics.
        ("apt29_evals_steps.derived.csv", 63, 78, none),
        // 79 procedure steps, one technique each, with tactic names, two of
        // them not ATT&CK's (the technique's tactic is used when it has one).
        (
            "apt29_step_technique_map.derived.csv",
            79,
            78,
            &["defensive-evasion", "stage-capabilities"],
        ),
    ] {
        let f = parse_sequence_file(&fs::read(dir.join(name)).unwrap(), name).unwrap();
        assert!(f.warnings.is_empty(), "{name}: {:?}", f.warnings);
        assert_eq!(f.flows.len(), 1, "{name}: one file, one incident");
        let flow = &f.flows[0];
        let (resolved, stats) = resolve_flows(&kb, &f.flows);
        eprintln!(
            "{name}: {} actions, {} edges, {stats:?}",
            flow.actions.len(),
            flow.edges.len()
        );
        assert_eq!(
            (flow.actions.len(), flow.edges.len()),
            (actions, edges),
            "{name}"
        );
        assert_eq!(stats.with_technique, actions, "{name}: {stats:?}");
        assert_eq!(stats.unknown_tactics, unknown_tactics, "{name}");
        assert_eq!(resolved[0].steps.len(), actions);
    }
}
