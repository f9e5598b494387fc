//! Mixture weights learned from the training flows, not chosen by hand:
//! leave-one-file-out inside the training set (each training incident is
//! predicted by a model of the other training incidents), then EM on the
//! mixture weights to maximise the likelihood of what really came next.
//! The evaluation fits the weights inside each of its folds, so the
//! held-out incident never influences the weights used to predict it.
//!
//! Two fits, in order: the new-technique mixture on the cases whose next
//! technique was not seen before (a repeat has its own learned rates, see
//! `model.rs`), then the tactic mixture, whose last component is the
//! tactics of the technique distribution mixed with the weights just fitted.

use killchain_kb::AttackKb;

use crate::history::Histories;
use crate::model::{Components, Predictor, ResolvedFlow, Step, Weights};

/// EM iterations (the likelihood is flat well before this).
const ITERATIONS: usize = 100;
/// No component's weight goes below this: a component silent in the
/// training flows may still help on new ones.
const FLOOR: f64 = 0.01;

/// Fit the technique and tactic mixture weights on `flows` (grouped by
/// source file), starting from `start`. Fewer than two files: `start`.
pub fn fit_weights(kb: &AttackKb, flows: &[ResolvedFlow], start: Weights) -> Weights {
    let mut files: Vec<&str> = flows.iter().map(|f| f.source.as_str()).collect();
    files.sort_unstable();
    files.dedup();
    if files.len() < 2 {
        return start;
    }
    // The model of the other files, for each file.
    let predictors: Vec<Predictor> = files
        .iter()
        .map(|file| {
            let train: Vec<ResolvedFlow> = flows
                .iter()
                .filter(|f| f.source != *file)
                .cloned()
                .collect();
            Predictor::train(kb, &train, start)
        })
        .collect();
    // Two passes over the cases, each keeping only what EM reads (the
    // components' probabilities of what really came next): the tactic
    // cases need the technique weights fitted first. Holding every case's
    // dense components instead took ~70 KB a case (gigabytes for long
    // timelines); computing them twice costs time, not memory.
    let tech_cases = cases(flows, &files, &predictors, |_, c, to| {
        let t = to.technique?;
        // A repeat is the repeat rates' case, not the mixture's.
        if c.repeat.iter().any(|x| x.0 == t) {
            return None;
        }
        Some(std::array::from_fn(|k| c.tech[k].as_ref().map(|v| v[t])))
    });
    let fitted = start.with_technique_weights(em(&tech_cases, start.technique_weights()));
    let tac_cases = cases(flows, &files, &predictors, |p, c, to| {
        let t = to.tactic?;
        let from_tech = p.tactics_of_distribution(&p.mix(c, &fitted).techniques);
        Some([
            c.tac[0].as_ref().map(|v| v[t]),
            c.tac[1].as_ref().map(|v| v[t]),
            c.tac[2].as_ref().map(|v| v[t]),
            Some(from_tech[t]),
        ])
    });
    let wc = em(&tac_cases, start.tactic_weights());
    Weights {
        tactic_direct: wc[0],
        tactic_repeat: wc[1],
        tactic_offset: wc[2],
        ..fitted
    }
}

/// What `per_case` makes of every training case (an edge whose follower has
/// a technique or a tactic), each predicted by the model of the other files
/// (`predictors[i]` for `files[i]`), in a fixed order: files sorted, flows
/// in order, edges in order (EM sums over the cases in that order). The
/// components are computed once per action, from one walk of the flow's
/// histories, and dropped as soon as its cases are made.
fn cases<T>(
    flows: &[ResolvedFlow],
    files: &[&str],
    predictors: &[Predictor],
    mut per_case: impl FnMut(&Predictor, &Components, Step) -> Option<T>,
) -> Vec<T> {
    let mut out = Vec::new();
    for (file, p) in files.iter().zip(predictors) {
        for flow in flows.iter().filter(|f| f.source == *file) {
            // The cases of each action, by edge number.
            let mut of_action: Vec<Vec<(usize, Step)>> = vec![Vec::new(); flow.steps.len()];
            for (e, &(a, b)) in flow.edges.iter().enumerate() {
                let Some(&to) = flow.steps.get(b) else {
                    continue;
                };
                if a < flow.steps.len() && (to.technique.is_some() || to.tactic.is_some()) {
                    of_action[a].push((e, to));
                }
            }
            let mut by_edge: Vec<Option<T>> = (0..flow.edges.len()).map(|_| None).collect();
            Histories::new(flow).walk(|a, h| {
                if of_action[a].is_empty() {
                    return;
                }
                let c = p.components(h.steps());
                for &(e, to) in &of_action[a] {
                    by_edge[e] = per_case(p, &c, to);
                }
            });
            out.extend(by_edge.into_iter().flatten());
        }
    }
    out
}

/// EM for the weights of a mixture whose components may be absent in some
/// cases (then the present ones are renormalised): responsibilities per
/// case, each weight re-estimated from the cases where its component is present.
fn em<const K: usize>(cases: &[[Option<f64>; K]], init: [f64; K]) -> [f64; K] {
    let normalise = |w: &mut [f64; K]| {
        w.iter_mut().for_each(|x| *x = x.max(FLOOR));
        let s: f64 = w.iter().sum();
        w.iter_mut().for_each(|x| *x /= s);
    };
    let mut w = init;
    normalise(&mut w);
    if cases.is_empty() {
        return w;
    }
    for _ in 0..ITERATIONS {
        let mut resp = [0.0; K];
        let mut present = [0.0; K];
        for c in cases {
            let z: f64 = (0..K).filter_map(|k| c[k].map(|p| w[k] * p)).sum();
            if z <= 0.0 {
                continue;
            }
            for k in 0..K {
                if let Some(p) = c[k] {
                    resp[k] += w[k] * p / z;
                    present[k] += 1.0;
                }
            }
        }
        let mut next = [0.0; K];
        for k in 0..K {
            next[k] = if present[k] > 0.0 {
                resp[k] / present[k]
            } else {
                w[k]
            };
        }
        normalise(&mut next);
        w = next;
    }
    w
}

#[cfg(test)]
mod tests {
    use super::{em, fit_weights, FLOOR};
    use crate::model::{ResolvedFlow, Step, Weights};
    use killchain_kb::{AttackData, AttackKb};

    #[test]
    fn flows_that_always_take_the_same_path_put_the_weight_on_edges() {
        let kb = AttackKb::new(AttackData::embedded().unwrap());
        let ids = ["T1566.001", "T1204.002", "T1059.001", "T1105", "T1082"];
        let flow = |source: &str| ResolvedFlow {
            source: source.into(),
            name: source.into(),
            steps: ids
                .iter()
                .map(|id| Step {
                    technique: Some(kb.technique_by_id(id).unwrap().0),
                    tactic: None,
                })
                .collect(),
            edges: (1..ids.len()).map(|i| (i - 1, i)).collect(),
        };
        let flows: Vec<ResolvedFlow> = ["a", "b", "c", "d"].iter().map(|s| flow(s)).collect();
        let w = fit_weights(&kb, &flows, Weights::default());
        let t = w.technique_weights();
        assert!((t.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{t:?}");
        // The floor holds before the final normalisation: about FLOOR.
        assert!(t.iter().all(|&x| x > FLOOR / 2.0), "{t:?}");
        // Every other file says what follows: the edge component explains it.
        let best = (0..t.len()).max_by(|&a, &b| t[a].total_cmp(&t[b])).unwrap();
        assert!(best == 0 || best == 1, "edge or history: {t:?}");
        // One file: nothing to fit on.
        assert_eq!(
            fit_weights(&kb, &flows[..1], Weights::default()),
            Weights::default()
        );
    }

    #[test]
    fn em_finds_the_component_that_explains_the_data() {
        // Component 0 gives the truth 0.9, component 1 gives it 0.1.
        let cases = vec![[Some(0.9), Some(0.1)]; 50];
        let w = em(&cases, [0.5, 0.5]);
        assert!(w[0] > 0.95 && (w[0] + w[1] - 1.0).abs() < 1e-9, "{w:?}");
        // A mixture that fits half-and-half data keeps both.
        let mut cases = vec![[Some(0.9), Some(0.1)]; 50];
        cases.extend(vec![[Some(0.1), Some(0.9)]; 50]);
        let w = em(&cases, [0.8, 0.2]);
        assert!((w[0] - 0.5).abs() < 0.05, "{w:?}");
        // A component absent from every case keeps a share for new data.
        let w = em(&[[Some(0.5), None]], [0.5, 0.5]);
        assert!(w[1] > 0.0 && (w[0] + w[1] - 1.0).abs() < 1e-9, "{w:?}");
    }
}
