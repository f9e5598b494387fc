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
use crate::model::{Components, Predictor, ResolvedFlow, Weights};

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
    // (model of the other files, components, next technique, next tactic)
    let mut cases: Vec<(usize, Components, Option<usize>, Option<usize>)> = Vec::new();
    let mut predictors = Vec::with_capacity(files.len());
    for file in &files {
        let train: Vec<ResolvedFlow> = flows
            .iter()
            .filter(|f| f.source != *file)
            .cloned()
            .collect();
        let p = Predictor::train(kb, &train, start);
        for flow in flows.iter().filter(|f| f.source == *file) {
            // Components once per action with followers, from one walk of
            // the flow's histories; the cases stay in edge order (EM sums
            // over them in that order).
            let case = |&(a, b): &(usize, usize)| {
                let to = *flow.steps.get(b)?;
                (a < flow.steps.len() && (to.technique.is_some() || to.tactic.is_some()))
                    .then_some((a, to))
            };
            // Cases per action: its components are moved into the last one.
            let mut uses = vec![0usize; flow.steps.len()];
            flow.edges
                .iter()
                .filter_map(case)
                .for_each(|(a, _)| uses[a] += 1);
            let mut of_action: Vec<Option<Components>> = vec![None; flow.steps.len()];
            Histories::new(flow).walk(|a, h| {
                if uses[a] > 0 {
                    of_action[a] = Some(p.components(h.steps()));
                }
            });
            for (a, to) in flow.edges.iter().filter_map(case) {
                uses[a] -= 1;
                let c = if uses[a] == 0 {
                    of_action[a].take()
                } else {
                    of_action[a].clone()
                };
                if let Some(c) = c {
                    cases.push((predictors.len(), c, to.technique, to.tactic));
                }
            }
        }
        predictors.push(p);
    }
    let tech_cases: Vec<[Option<f64>; 6]> = cases
        .iter()
        .filter_map(|(_, c, t, _)| {
            let t = (*t)?;
            // A repeat is the repeat rates' case, not the mixture's.
            if c.repeat.iter().any(|x| x.0 == t) {
                return None;
            }
            Some(std::array::from_fn(|k| c.tech[k].as_ref().map(|v| v[t])))
        })
        .collect();
    let fitted = start.with_technique_weights(em(&tech_cases, start.technique_weights()));
    let tac_cases: Vec<[Option<f64>; 4]> = cases
        .iter()
        .filter_map(|(i, c, _, t)| {
            let t = (*t)?;
            let p = &predictors[*i];
            let from_tech = p.tactics_of_distribution(&p.mix(c, &fitted).techniques);
            Some([
                c.tac[0].as_ref().map(|v| v[t]),
                c.tac[1].as_ref().map(|v| v[t]),
                c.tac[2].as_ref().map(|v| v[t]),
                Some(from_tech[t]),
            ])
        })
        .collect();
    let wc = em(&tac_cases, start.tactic_weights());
    Weights {
        tactic_direct: wc[0],
        tactic_repeat: wc[1],
        tactic_offset: wc[2],
        ..fitted
    }
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
