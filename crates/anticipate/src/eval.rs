//! Leave-one-incident-out evaluation of the next-move model against
//! baselines computed in the same run.
//!
//! Flows are grouped by source file (one file = one incident); each group is
//! held out in turn, the model and the baselines are trained on the other
//! files (plus the kb, which holds no flow), and every action -> action edge
//! of the held-out flows is one prediction case: given the action and
//! everything before it in its flow (its ancestors, farthest first), is the
//! follower's tactic / technique in the top k? A follower without a tactic
//! (or technique) is not a tactic (technique) case. Techniques are compared
//! exactly (after revoked IDs are redirected): predicting T1059 for
//! T1059.001 is a miss.
//!
//! Baselines:
//! - `most_frequent`: the followers most frequent over all training edges;
//! - `bigram`: the followers of the same technique (for techniques) or the
//!   same tactic (for tactics) in training edges, then `most_frequent`;
//! - `matrix_order`: the tactics after the current one in ATT&CK matrix
//!   order (wrapping), and for techniques the most frequent training
//!   followers of those tactics, in that order.

use std::collections::BTreeMap;

use killchain_kb::AttackKb;
use serde::Serialize;

use crate::fit::fit_weights;
use crate::history::Histories;
use crate::model::{Followers, Predictor, ResolvedFlow, Step, Weights};

/// The k of top-k accuracy.
pub const KS: [usize; 4] = [1, 3, 5, 10];

/// Top-k accuracy (0..1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct TopK {
    pub top1: f64,
    pub top3: f64,
    pub top5: f64,
    pub top10: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Scores {
    pub next_tactic: TopK,
    pub next_technique: TopK,
}

/// `killchain eval predict --json`: exactly this shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    pub flows: usize,
    pub next_tactic: TopK,
    pub next_technique: TopK,
    pub baselines: BTreeMap<String, Scores>,
}

/// Counts behind the report, for the text output.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EvalDetails {
    /// Incidents (files) held out in turn.
    pub files: usize,
    pub tactic_cases: usize,
    pub technique_cases: usize,
    pub edges: usize,
    /// The model's accuracy on each held-out incident, files sorted.
    pub by_file: Vec<FileScores>,
}

/// The model's accuracy on one held-out incident (file).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileScores {
    pub file: String,
    pub tactic_cases: usize,
    pub technique_cases: usize,
    pub next_tactic: TopK,
    pub next_technique: TopK,
}

/// Hits per k, and cases.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    hits: [usize; 4],
    cases: usize,
}

impl Tally {
    fn add(&mut self, ranked: &[usize], target: usize) {
        self.cases += 1;
        if let Some(pos) = ranked.iter().position(|&x| x == target) {
            for (h, k) in self.hits.iter_mut().zip(KS) {
                *h += usize::from(pos < k);
            }
        }
    }
    fn top_k(&self) -> TopK {
        let r = |h: usize| {
            if self.cases == 0 {
                0.0
            } else {
                h as f64 / self.cases as f64
            }
        };
        TopK {
            top1: r(self.hits[0]),
            top3: r(self.hits[1]),
            top5: r(self.hits[2]),
            top10: r(self.hits[3]),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Pair {
    tactic: Tally,
    technique: Tally,
}

const BASELINES: [&str; 3] = ["bigram", "matrix_order", "most_frequent"];

/// Counts ranked by count, ties by ID.
fn ranked(counts: impl Iterator<Item = (usize, u32)>, id: impl Fn(usize) -> String) -> Vec<usize> {
    let mut v: Vec<(usize, u32, String)> = counts.map(|(i, c)| (i, c, id(i))).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.2.cmp(&b.2)));
    v.into_iter().map(|(i, _, _)| i).collect()
}

/// `first`, then `fill` without repeats, cut to `n`.
fn padded(first: &[usize], fill: &[usize], n: usize) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::with_capacity(n);
    for &x in first.iter().chain(fill) {
        if out.len() == n {
            break;
        }
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

/// How the model's mixture weights are set in each fold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WeightPolicy {
    /// These weights in every fold.
    Fixed(Weights),
    /// Fitted on the fold's training flows only ([`fit_weights`]), from these.
    Fitted(Weights),
}

/// Run the evaluation. `flows` are resolved against `kb`.
pub fn evaluate(
    kb: &AttackKb,
    flows: &[ResolvedFlow],
    policy: WeightPolicy,
) -> (EvalReport, EvalDetails) {
    evaluate_with(kb, flows, &[], policy)
}

/// [`evaluate`] with `extra` training flows (e.g. sequences): in the
/// training data of every fold (and of the weight fit inside it), never
/// held out, never a case.
pub fn evaluate_with(
    kb: &AttackKb,
    flows: &[ResolvedFlow],
    extra: &[ResolvedFlow],
    policy: WeightPolicy,
) -> (EvalReport, EvalDetails) {
    let mut files: Vec<&str> = flows.iter().map(|f| f.source.as_str()).collect();
    files.sort_unstable();
    files.dedup();
    let kmax = KS[KS.len() - 1];
    let tech_id = |i: usize| kb.technique(i).id.clone();
    let tac_id = |i: usize| kb.tactic(i).id.clone();
    let n_tac = kb.tactics().len();

    let mut model = Pair::default();
    let mut base: BTreeMap<&str, Pair> = BASELINES.iter().map(|b| (*b, Pair::default())).collect();
    let mut details = EvalDetails {
        files: files.len(),
        ..Default::default()
    };
    for file in &files {
        let train: Vec<ResolvedFlow> = flows
            .iter()
            .filter(|f| f.source != *file)
            .chain(extra)
            .cloned()
            .collect();
        let weights = match policy {
            WeightPolicy::Fixed(w) => w,
            WeightPolicy::Fitted(w) => fit_weights(kb, &train, w),
        };
        let p = Predictor::train(kb, &train, weights);
        let followers = |f: Option<&Followers>| f.cloned().unwrap_or_default();
        let all = followers(Some(&p.all));
        let freq_tech = ranked(all.techniques.iter().map(|(&i, c)| (i, c.edges)), tech_id);
        let freq_tac = ranked(all.tactics.iter().map(|(&i, c)| (i, c.edges)), tac_id);
        // Most frequent followers per tactic, for the matrix-order technique baseline.
        let freq_tech_of_tactic: Vec<Vec<usize>> = (0..n_tac)
            .map(|tac| {
                freq_tech
                    .iter()
                    .copied()
                    .filter(|&t| kb.tactics_of(t).contains(&tac))
                    .collect()
            })
            .collect();

        let mut this_file = Pair::default();
        for flow in flows.iter().filter(|f| f.source == *file) {
            // The cases by action: every follower of `a` is ranked from the
            // same history, walked once for the whole flow (`Histories`).
            let mut followers_of: Vec<Vec<Step>> = vec![Vec::new(); flow.steps.len()];
            for &(a, b) in &flow.edges {
                let (Some(_), Some(&to)) = (flow.steps.get(a), flow.steps.get(b)) else {
                    continue;
                };
                details.edges += 1;
                if to.technique.is_none() && to.tactic.is_none() {
                    continue;
                }
                followers_of[a].push(to);
            }
            // Tallies are counts: the walk's order does not change them.
            Histories::new(flow).walk(|a, h| {
                if followers_of[a].is_empty() {
                    return;
                }
                let from = flow.steps[a];
                let r = p.rank(h.steps());
                let m_tech: Vec<usize> = r
                    .top_techniques(kb, kmax)
                    .into_iter()
                    .map(|x| x.0)
                    .collect();
                let m_tac: Vec<usize> = r.top_tactics(kb, kmax).into_iter().map(|x| x.0).collect();

                let bigram_tech = from
                    .technique
                    .and_then(|t| p.by_technique.get(&t))
                    .map(|f| ranked(f.techniques.iter().map(|(&i, c)| (i, c.edges)), tech_id))
                    .unwrap_or_default();
                let bigram_tac = from
                    .tactic
                    .and_then(|t| p.by_tactic.get(&t))
                    .map(|f| ranked(f.tactics.iter().map(|(&i, c)| (i, c.edges)), tac_id))
                    .unwrap_or_default();
                let order_tac: Vec<usize> = match from.tactic {
                    Some(t) => (1..=n_tac).map(|d| (t + d) % n_tac).collect(),
                    None => freq_tac.clone(),
                };
                let order_tech: Vec<usize> = order_tac
                    .iter()
                    .flat_map(|&tac| freq_tech_of_tactic[tac].iter().copied())
                    .collect();
                let lists = [
                    (
                        "bigram",
                        padded(&bigram_tac, &freq_tac, kmax),
                        padded(&bigram_tech, &freq_tech, kmax),
                    ),
                    (
                        "matrix_order",
                        padded(&order_tac, &[], kmax),
                        padded(&order_tech, &freq_tech, kmax),
                    ),
                    (
                        "most_frequent",
                        padded(&freq_tac, &[], kmax),
                        padded(&freq_tech, &[], kmax),
                    ),
                ];
                for &to in &followers_of[a] {
                    if let Some(t) = to.tactic {
                        details.tactic_cases += 1;
                        model.tactic.add(&m_tac, t);
                        this_file.tactic.add(&m_tac, t);
                        for (name, tac, _) in &lists {
                            if let Some(b) = base.get_mut(name) {
                                b.tactic.add(tac, t);
                            }
                        }
                    }
                    if let Some(t) = to.technique {
                        details.technique_cases += 1;
                        model.technique.add(&m_tech, t);
                        this_file.technique.add(&m_tech, t);
                        for (name, _, tech) in &lists {
                            if let Some(b) = base.get_mut(name) {
                                b.technique.add(tech, t);
                            }
                        }
                    }
                }
            });
        }
        details.by_file.push(FileScores {
            file: file.to_string(),
            tactic_cases: this_file.tactic.cases,
            technique_cases: this_file.technique.cases,
            next_tactic: this_file.tactic.top_k(),
            next_technique: this_file.technique.top_k(),
        });
    }
    let report = EvalReport {
        flows: flows.len(),
        next_tactic: model.tactic.top_k(),
        next_technique: model.technique.top_k(),
        baselines: base
            .into_iter()
            .map(|(name, b)| {
                (
                    name.to_string(),
                    Scores {
                        next_tactic: b.tactic.top_k(),
                        next_technique: b.technique.top_k(),
                    },
                )
            })
            .collect(),
    };
    (report, details)
}
