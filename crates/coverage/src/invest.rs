//! The investment list: which candidate controls (planned inventory
//! controls, planned mitigations, candidate Sigma rules) add the most
//! threat-weighted protection per unit of cost.
//!
//! Greedy: the objective is `W = sum over threat techniques of weight x
//! protect`, with `protect = 1 - prod(1 - s/5)` over prevent and detect
//! controls. Each step adds the candidate with the largest gain in `W` per
//! unit cost (ties: larger gain, then id), recomputes every gain against the
//! new state, and records why it won. `W` is a weighted coverage function
//! (monotone, submodular), for which this cost-benefit greedy is the classic
//! approximation of the best budgeted choice, not a guaranteed optimum.

use killchain_kb::AttackKb;
use serde::Serialize;

use crate::analysis::Index;
use crate::control::Control;
use crate::threat::ThreatProfile;

/// Investment settings.
#[derive(Debug, Clone, Serialize)]
pub struct InvestOptions {
    /// Stop before the total cost would exceed this.
    pub budget: Option<f64>,
    pub max_steps: usize,
}

impl Default for InvestOptions {
    fn default() -> Self {
        InvestOptions {
            budget: None,
            max_steps: 10,
        }
    }
}

/// How one technique's protection changes with a step.
#[derive(Debug, Clone, Serialize)]
pub struct TechniqueGain {
    pub id: String,
    pub weight: f64,
    pub before: f64,
    pub after: f64,
}

/// One greedy step.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub step: usize,
    pub id: String,
    pub name: String,
    pub kind: crate::control::Kind,
    pub cost: f64,
    /// Gain in threat-weighted protection (units of weight).
    pub gain: f64,
    pub gain_per_cost: f64,
    pub total_cost: f64,
    /// Threat-weighted protection (0-1) before and after the step.
    pub coverage_before: f64,
    pub coverage_after: f64,
    /// The runner-up at this step, for the explanation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runner_up: Option<(String, f64)>,
    /// The techniques gaining most, largest first (up to 5).
    pub techniques: Vec<TechniqueGain>,
}

/// The investment list.
#[derive(Debug, Clone, Serialize)]
pub struct Investment {
    pub candidates: usize,
    pub options: InvestOptions,
    pub coverage_now: f64,
    /// With every candidate added.
    pub coverage_all: f64,
    pub steps: Vec<Step>,
    /// Why the list ended.
    pub stopped: String,
}

/// Builds the investment list from the planned controls of `controls`.
pub fn invest(
    kb: &AttackKb,
    controls: &[Control],
    threat: &ThreatProfile,
    opts: &InvestOptions,
) -> Investment {
    let current = Index::new(kb, controls, threat, |c| !c.planned && c.kind.stops());
    let cand_index = Index::new(kb, controls, threat, |c| c.planned && c.kind.stops());
    // Per candidate control: (technique, strength) it adds, threat techniques only.
    let mut cand: Vec<(usize, Vec<(usize, f64)>)> = Vec::new();
    {
        let mut per: std::collections::BTreeMap<usize, Vec<(usize, f64)>> = Default::default();
        for (t, list) in cand_index.by_technique.iter().enumerate() {
            if threat.weights[t] <= 0.0 {
                continue;
            }
            for &(c, s) in list {
                per.entry(c).or_default().push((t, s));
            }
        }
        cand.extend(per);
    }
    let n_candidates = controls.iter().filter(|c| c.planned).count();
    let total_w: f64 = threat
        .weights
        .iter()
        .zip(&threat.in_scope)
        .filter(|(_, s)| **s)
        .map(|(w, _)| *w)
        .sum();
    // miss[t] = prod(1 - s/5) over what is in place.
    let mut miss: Vec<f64> = current
        .by_technique
        .iter()
        .map(|l| {
            l.iter()
                .fold(1.0, |m, (_, s)| m * (1.0 - (s / 5.0).clamp(0.0, 1.0)))
        })
        .collect();
    let coverage = |miss: &[f64]| -> f64 {
        if total_w <= 0.0 {
            return 0.0;
        }
        threat
            .weights
            .iter()
            .zip(miss)
            .zip(&threat.in_scope)
            .filter(|(_, s)| **s)
            .map(|((w, m), _)| w * (1.0 - m))
            .sum::<f64>()
            / total_w
    };
    let coverage_now = coverage(&miss);
    let mut all = miss.clone();
    for (_, adds) in &cand {
        for &(t, s) in adds {
            all[t] *= 1.0 - (s / 5.0).clamp(0.0, 1.0);
        }
    }
    let coverage_all = coverage(&all);

    let gain_of = |adds: &[(usize, f64)], miss: &[f64]| -> f64 {
        adds.iter()
            .map(|&(t, s)| threat.weights[t] * miss[t] * (s / 5.0).clamp(0.0, 1.0))
            .sum()
    };
    let mut taken = vec![false; cand.len()];
    let mut steps = Vec::new();
    let mut spent = 0.0;
    let stopped;
    loop {
        if steps.len() >= opts.max_steps {
            stopped = format!("reached {} steps", opts.max_steps);
            break;
        }
        // (candidate, gain, ratio), best first.
        let mut ranked: Vec<(usize, f64, f64)> = cand
            .iter()
            .enumerate()
            .filter(|(i, _)| !taken[*i])
            .filter(|(_, (c, _))| {
                opts.budget
                    .is_none_or(|b| spent + controls[*c].cost <= b + 1e-9)
            })
            .map(|(i, (c, adds))| {
                let g = gain_of(adds, &miss);
                (i, g, g / controls[*c].cost.max(1e-9))
            })
            .filter(|(_, g, _)| *g > 1e-9)
            .collect();
        ranked.sort_by(|a, b| {
            b.2.total_cmp(&a.2)
                .then(b.1.total_cmp(&a.1))
                .then_with(|| controls[cand[a.0].0].id.cmp(&controls[cand[b.0].0].id))
        });
        let Some(&(best, gain, ratio)) = ranked.first() else {
            stopped = if opts.budget.is_some() && cand.iter().enumerate().any(|(i, _)| !taken[i]) {
                "no remaining candidate fits the budget or adds protection".into()
            } else {
                "no remaining candidate adds protection".into()
            };
            break;
        };
        let (ci, adds) = &cand[best];
        let c = &controls[*ci];
        let before = coverage(&miss);
        let mut gains: Vec<TechniqueGain> = Vec::new();
        for &(t, s) in adds {
            let b = 1.0 - miss[t];
            miss[t] *= 1.0 - (s / 5.0).clamp(0.0, 1.0);
            let a = 1.0 - miss[t];
            if a > b + 1e-12 {
                gains.push(TechniqueGain {
                    id: kb.technique(t).id.clone(),
                    weight: threat.weights[t],
                    before: b,
                    after: a,
                });
            }
        }
        gains.sort_by(|x, y| {
            (y.weight * (y.after - y.before))
                .total_cmp(&(x.weight * (x.after - x.before)))
                .then_with(|| x.id.cmp(&y.id))
        });
        gains.truncate(5);
        taken[best] = true;
        spent += c.cost;
        steps.push(Step {
            step: steps.len() + 1,
            id: c.id.clone(),
            name: c.name.clone(),
            kind: c.kind,
            cost: c.cost,
            gain,
            gain_per_cost: ratio,
            total_cost: spent,
            coverage_before: before,
            coverage_after: coverage(&miss),
            runner_up: ranked
                .get(1)
                .map(|r| (controls[cand[r.0].0].id.clone(), r.2)),
            techniques: gains,
        });
    }
    Investment {
        candidates: n_candidates,
        options: opts.clone(),
        coverage_now,
        coverage_all,
        steps,
        stopped,
    }
}
