use killchain_anticipate::eval::evaluate;
use killchain_anticipate::flow::parse_flow_file;
use killchain_anticipate::model::{resolve_flows, Weights};
use killchain_kb::{AttackData, AttackKb};
use std::fs;

#[test]
#[ignore]
fn grid() {
    let dir = killchain_testdata::shared("attack-flow/corpus").unwrap();
    let mut flows = Vec::new();
    let mut paths: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for p in paths {
        flows.extend(
            parse_flow_file(&fs::read(&p).unwrap(), &p.display().to_string())
                .unwrap()
                .flows,
        );
    }
    let kb = AttackKb::new(AttackData::embedded().unwrap());
    let (resolved, _) = resolve_flows(&kb, &flows);
    let spec = std::env::var("GRID").unwrap_or_default();
    for line in spec.split(';').filter(|s| !s.is_empty()) {
        let v: Vec<f64> = line.split(',').map(|x| x.parse().unwrap()).collect();
        let w = Weights {
            edge: v[0],
            history: v[1],
            procedures: v[2],
            repeat: v[3],
            prior: v[4],
            tactic_direct: v[5],
            tactic_repeat: v[6],
            history_len: v[7] as usize,
            neighbours: v[8] as usize,
            tactic_offset: v[9],
        };
        let (r, _) = evaluate(&kb, &resolved, w);
        let t = r.next_tactic;
        let q = r.next_technique;
        eprintln!(
            "{line:<30} tac {:.3} {:.3} {:.3} {:.3} | tech {:.3} {:.3} {:.3} {:.3}",
            t.top1, t.top3, t.top5, t.top10, q.top1, q.top3, q.top5, q.top10
        );
    }
}
