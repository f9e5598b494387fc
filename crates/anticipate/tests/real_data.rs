//! Real data: the CTID Attack Flow corpus in ../shared/data/attack-flow.

use std::fs;

use killchain_anticipate::eval::evaluate;
use killchain_anticipate::flow::{parse_flow_file, Flow};
use killchain_anticipate::model::{resolve_flows, Weights};
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
fn eval_on_the_corpus() {
    let Some(flows) = corpus() else { return };
    let kb = AttackKb::new(AttackData::embedded().unwrap());
    let (resolved, _) = resolve_flows(&kb, &flows);
    let (report, details) = evaluate(&kb, &resolved, Weights::default());
    eprintln!("{}", serde_json::to_string_pretty(&report).unwrap());
    eprintln!("{details:?}");
}
