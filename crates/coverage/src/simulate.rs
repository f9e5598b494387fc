//! Attack-path simulation: replay attack paths against the controls in use.
//!
//! A path is a sequence of stages; a stage is a set of alternative
//! techniques, any one of which gets the attacker through it.
//!
//! - An Attack Flow gives one path per route from a first action to a last
//!   one, one technique per stage (operators collapsed: an AND branch is
//!   simulated as its own path, which is conservative).
//! - A group, campaign or software profile gives one path through the
//!   report model's phases in order; each stage offers every technique the
//!   actor is known to use in that phase, because an attacker picks the
//!   way that is not watched.
//!
//! A stage is stopped when every alternative is prevented or detected by a
//! control of strength >= `min_strength` (blocked when all are prevented).
//! For each path: the first stage that stops it; the single controls whose
//! failure lets it through (n-1); and over all paths a small set of controls
//! that stops every stoppable path, chosen greedily (most newly stopped
//! paths first): an approximation of the minimum hitting set, which is
//! NP-hard, not the minimum itself.

use std::collections::{BTreeMap, BTreeSet};

use killchain_kb::models::ModelSet;
use killchain_kb::AttackKb;
use serde::Serialize;

use crate::control::{Control, Kind};
use crate::error::Issue;
use crate::flow::Flow;
use crate::threat::ThreatProfile;

/// One stage of a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Stage {
    /// Technique ID (flows) or phase id (actor profiles).
    pub label: String,
    /// Alternatives: kb technique indexes (`None`: not in the kb, never stopped).
    pub alternatives: Vec<Option<usize>>,
    /// Their IDs as written.
    pub ids: Vec<String>,
}

/// A path to replay.
#[derive(Debug, Clone)]
pub struct AttackPath {
    /// `flow` or the actor kind (`group`, `campaign`, `software`).
    pub kind: String,
    /// Flow name or actor ID.
    pub source: String,
    pub stages: Vec<Stage>,
}

/// The most paths [`flow_paths`] replays from one flow (`killchain coverage
/// --max-paths` refuses more): a flow's routes can grow exponentially with
/// its branches, each path is kept and replayed against every control, and
/// 100,000 is twenty times the default of 5,000.
pub const MAX_FLOW_PATHS: usize = 100_000;

/// Paths of an Attack Flow (at most `limit`, itself at most
/// [`MAX_FLOW_PATHS`]), and issues (unknown techniques, paths left out).
pub fn flow_paths(
    kb: &AttackKb,
    flow: &Flow,
    input: &str,
    limit: usize,
) -> (Vec<AttackPath>, bool, Vec<Issue>) {
    let mut issues = Vec::new();
    let resolved: Vec<Option<usize>> = flow
        .actions
        .iter()
        .map(|a| {
            let r = kb.technique_by_id(&a.technique).map(|(i, _)| i);
            if r.is_none() {
                issues.push(Issue {
                    input: input.to_string(),
                    record: format!("action {:?}", a.name),
                    reason: format!(
                        "technique {} is not in ATT&CK {}; its stage can never be stopped",
                        a.technique,
                        kb.meta().version
                    ),
                    skipped: false,
                });
            }
            r
        })
        .collect();
    let (paths, truncated) = flow.paths(limit.min(MAX_FLOW_PATHS));
    let name = if flow.name.is_empty() {
        input.to_string()
    } else {
        flow.name.clone()
    };
    let out = paths
        .into_iter()
        .map(|p| AttackPath {
            kind: "flow".into(),
            source: name.clone(),
            stages: p
                .into_iter()
                .map(|a| {
                    let id = resolved[a]
                        .map(|i| kb.technique(i).id.clone())
                        .unwrap_or_else(|| flow.actions[a].technique.clone());
                    Stage {
                        label: id.clone(),
                        alternatives: vec![resolved[a]],
                        ids: vec![id],
                    }
                })
                .collect(),
        })
        .collect();
    (out, truncated, issues)
}

/// One path per actor of the threat profile, through the model's phases.
pub fn actor_paths(
    models: &ModelSet,
    model: usize,
    kb: &AttackKb,
    threat: &ThreatProfile,
) -> Vec<AttackPath> {
    let m = &models.models()[model];
    threat
        .actors
        .iter()
        .map(|a| AttackPath {
            kind: a.kind.to_string(),
            source: a.id.clone(),
            stages: m
                .phases
                .iter()
                .filter_map(|p| {
                    let alts: Vec<usize> = a
                        .techniques
                        .iter()
                        .copied()
                        .filter(|&t| {
                            models
                                .technique_assignments(model, t)
                                .iter()
                                .any(|x| m.phases[x.phase].id == p.id)
                        })
                        .collect();
                    (!alts.is_empty()).then(|| Stage {
                        label: p.id.clone(),
                        ids: alts.iter().map(|&t| kb.technique(t).id.clone()).collect(),
                        alternatives: alts.into_iter().map(Some).collect(),
                    })
                })
                .collect(),
        })
        .filter(|p| !p.stages.is_empty())
        .collect()
}

/// Where a path was first stopped.
#[derive(Debug, Clone, Serialize)]
pub struct Stop {
    /// 1-based stage number.
    pub stage: usize,
    pub label: String,
    /// Kill chain phase (report model) of the stage.
    pub phase: String,
    /// `blocked` or `detected`.
    pub outcome: &'static str,
    /// Controls stopping it there (up to 5, strongest first) and how many in all.
    pub controls: Vec<String>,
    pub controls_total: usize,
}

/// One replayed path.
#[derive(Debug, Clone, Serialize)]
pub struct PathResult {
    pub kind: String,
    pub source: String,
    /// Stage labels joined by ` > `.
    pub path: String,
    pub stages: usize,
    pub first_stop: Option<Stop>,
    /// Stages stopped (of `stages`).
    pub stopped_stages: usize,
    /// Controls whose failure alone lets the path through.
    pub single_points: Vec<String>,
    /// The single failure that moves the first stop furthest (`None` stage:
    /// the path gets through).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst_failure: Option<(String, Option<usize>)>,
}

/// Per flow or actor.
#[derive(Debug, Clone, Serialize)]
pub struct SourceSummary {
    pub kind: String,
    pub source: String,
    pub paths: usize,
    pub truncated: bool,
    pub blocked: usize,
    pub detected: usize,
    pub through: usize,
    /// Paths still stopped whatever single control fails.
    pub robust: usize,
    /// Report-model phase of the first stop -> paths.
    pub first_stop_phases: BTreeMap<String, usize>,
    /// Earliest first stop over the paths (stage number), if any.
    pub earliest_stop: Option<usize>,
}

/// One control of the hitting set.
#[derive(Debug, Clone, Serialize)]
pub struct HitStep {
    pub id: String,
    pub name: String,
    pub kind: Kind,
    /// Distinct paths this choice stopped that no earlier choice did.
    pub newly_stopped: usize,
    pub stopped_total: usize,
}

/// A small set of controls that stops every stoppable path.
#[derive(Debug, Clone, Serialize)]
pub struct HittingSet {
    /// Distinct paths (identical stage sequences counted once).
    pub distinct_paths: usize,
    /// Of those, stoppable with the controls in use.
    pub stoppable: usize,
    pub controls: Vec<HitStep>,
    /// Distinct paths no control in use can stop (up to 20).
    pub unstoppable: Vec<String>,
    pub method: &'static str,
}

/// The simulation.
#[derive(Debug, Clone, Serialize)]
pub struct Simulation {
    pub min_strength: f64,
    pub sources: Vec<SourceSummary>,
    pub paths: Vec<PathResult>,
    pub hitting_set: HittingSet,
}

/// Per technique: controls in use that stop it, strongest first.
struct Stoppers {
    by_technique: Vec<Vec<(usize, f64)>>,
}

impl Stoppers {
    fn new(kb: &AttackKb, controls: &[Control], min_strength: f64) -> Stoppers {
        let mut by_technique = vec![Vec::new(); kb.data().techniques.len()];
        for (ci, c) in controls.iter().enumerate() {
            if c.planned || !c.kind.stops() {
                continue;
            }
            for cov in &c.covers {
                if cov.effective >= min_strength
                    && c.applies_to(&kb.technique(cov.technique).platforms)
                {
                    by_technique[cov.technique].push((ci, cov.effective));
                }
            }
        }
        for l in &mut by_technique {
            l.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        }
        Stoppers { by_technique }
    }
    fn of(&self, alt: Option<usize>) -> &[(usize, f64)] {
        alt.map(|t| self.by_technique[t].as_slice()).unwrap_or(&[])
    }
    /// Whether a stage is stopped with `failed` out of service.
    fn stage_stopped(&self, s: &Stage, failed: Option<usize>) -> bool {
        !s.alternatives.is_empty()
            && s.alternatives
                .iter()
                .all(|&a| self.of(a).iter().any(|(c, _)| Some(*c) != failed))
    }
}

/// Replays the paths against the controls in use.
pub fn simulate(
    kb: &AttackKb,
    models: &ModelSet,
    model: usize,
    controls: &[Control],
    sources: &[(Vec<AttackPath>, bool)],
    min_strength: f64,
) -> Simulation {
    let stoppers = Stoppers::new(kb, controls, min_strength);
    let m = &models.models()[model];
    let phase_of = |s: &Stage| -> String {
        if m.phases.iter().any(|p| p.id == s.label) {
            return s.label.clone();
        }
        s.alternatives
            .iter()
            .flatten()
            .find_map(|&t| models.technique_assignments(model, t).first())
            .map(|a| m.phases[a.phase].id.clone())
            .unwrap_or_else(|| "-".into())
    };
    let mut results = Vec::new();
    let mut summaries = Vec::new();
    for (paths, truncated) in sources {
        let Some(first) = paths.first() else {
            continue;
        };
        let mut sum = SourceSummary {
            kind: first.kind.clone(),
            source: first.source.clone(),
            paths: paths.len(),
            truncated: *truncated,
            blocked: 0,
            detected: 0,
            through: 0,
            robust: 0,
            first_stop_phases: BTreeMap::new(),
            earliest_stop: None,
        };
        for p in paths {
            let r = replay(p, &stoppers, controls, &phase_of);
            match &r.first_stop {
                Some(s) => {
                    if s.outcome == "blocked" {
                        sum.blocked += 1;
                    } else {
                        sum.detected += 1;
                    }
                    *sum.first_stop_phases.entry(s.phase.clone()).or_default() += 1;
                    sum.earliest_stop = Some(sum.earliest_stop.map_or(s.stage, |e| e.min(s.stage)));
                    if r.single_points.is_empty() {
                        sum.robust += 1;
                    }
                }
                None => sum.through += 1,
            }
            results.push(r);
        }
        summaries.push(sum);
    }
    let all: Vec<&AttackPath> = sources.iter().flat_map(|(p, _)| p.iter()).collect();
    let hitting_set = hitting_set(&all, &stoppers, controls);
    Simulation {
        min_strength,
        sources: summaries,
        paths: results,
        hitting_set,
    }
}

fn replay(
    p: &AttackPath,
    stoppers: &Stoppers,
    controls: &[Control],
    phase_of: &dyn Fn(&Stage) -> String,
) -> PathResult {
    let stopped: Vec<usize> = (0..p.stages.len())
        .filter(|&i| stoppers.stage_stopped(&p.stages[i], None))
        .collect();
    let first_stop = stopped.first().map(|&i| {
        let s = &p.stages[i];
        let blocked = s.alternatives.iter().all(|&a| {
            stoppers
                .of(a)
                .iter()
                .any(|(c, _)| controls[*c].kind == Kind::Prevent)
        });
        let mut names: Vec<(usize, f64)> = Vec::new();
        for &a in &s.alternatives {
            for &(c, st) in stoppers.of(a) {
                if !names.iter().any(|(x, _)| *x == c) {
                    names.push((c, st));
                }
            }
        }
        names.sort_by(|a, b| {
            b.1.total_cmp(&a.1)
                .then_with(|| controls[a.0].id.cmp(&controls[b.0].id))
        });
        Stop {
            stage: i + 1,
            label: s.label.clone(),
            phase: phase_of(s),
            outcome: if blocked { "blocked" } else { "detected" },
            controls: names
                .iter()
                .take(5)
                .map(|(c, _)| controls[*c].id.clone())
                .collect(),
            controls_total: names.len(),
        }
    });
    // n-1: every control that stops some stage, failed alone.
    let mut involved: BTreeSet<usize> = BTreeSet::new();
    for &i in &stopped {
        for &a in &p.stages[i].alternatives {
            involved.extend(stoppers.of(a).iter().map(|(c, _)| *c));
        }
    }
    let mut single_points = Vec::new();
    let mut worst: Option<(usize, Option<usize>)> = None;
    for &c in &involved {
        let next = stopped
            .iter()
            .copied()
            .find(|&i| stoppers.stage_stopped(&p.stages[i], Some(c)));
        if next.is_none() {
            single_points.push(controls[c].id.clone());
        }
        let later = |a: Option<usize>, b: Option<usize>| match (a, b) {
            (None, Some(_)) => true,
            (Some(x), Some(y)) => x > y,
            _ => false,
        };
        let better = match worst {
            None => true,
            Some((w, ws)) => later(next, ws) || (next == ws && controls[c].id < controls[w].id),
        };
        if better {
            worst = Some((c, next));
        }
    }
    single_points.sort();
    PathResult {
        kind: p.kind.clone(),
        source: p.source.clone(),
        path: p
            .stages
            .iter()
            .map(|s| s.label.as_str())
            .collect::<Vec<_>>()
            .join(" > "),
        stages: p.stages.len(),
        first_stop,
        stopped_stages: stopped.len(),
        single_points,
        worst_failure: worst.map(|(c, s)| (controls[c].id.clone(), s.map(|x| x + 1))),
    }
}

/// Greedy hitting set over the distinct paths.
fn hitting_set(paths: &[&AttackPath], stoppers: &Stoppers, controls: &[Control]) -> HittingSet {
    // Distinct paths by their stage alternatives.
    let mut distinct: BTreeMap<Vec<Vec<Option<usize>>>, String> = BTreeMap::new();
    for p in paths {
        let key: Vec<Vec<Option<usize>>> =
            p.stages.iter().map(|s| s.alternatives.clone()).collect();
        distinct.entry(key).or_insert_with(|| {
            format!(
                "{} {}: {}",
                p.kind,
                p.source,
                p.stages
                    .iter()
                    .map(|s| s.label.as_str())
                    .collect::<Vec<_>>()
                    .join(" > ")
            )
        });
    }
    let distinct: Vec<(Vec<Vec<Option<usize>>>, String)> = distinct.into_iter().collect();
    let stoppable: Vec<bool> = distinct
        .iter()
        .map(|(stages, _)| {
            stages
                .iter()
                .any(|alts| !alts.is_empty() && alts.iter().all(|&a| !stoppers.of(a).is_empty()))
        })
        .collect();
    let unstoppable: Vec<String> = distinct
        .iter()
        .zip(&stoppable)
        .filter(|(_, s)| !**s)
        .map(|((_, l), _)| l.clone())
        .take(20)
        .collect();
    // covered[path][stage][alt]: some chosen control stops it.
    let mut covered: Vec<Vec<Vec<bool>>> = distinct
        .iter()
        .map(|(stages, _)| stages.iter().map(|a| vec![false; a.len()]).collect())
        .collect();
    let mut done: Vec<bool> = stoppable.iter().map(|s| !s).collect();
    let mut chosen: BTreeSet<usize> = BTreeSet::new();
    let mut steps = Vec::new();
    let n_stoppable = stoppable.iter().filter(|s| **s).count();
    let mut total = 0;
    while done.iter().any(|d| !d) {
        // control -> (paths newly stopped, alternatives newly covered)
        let mut score: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
        for (pi, (stages, _)) in distinct.iter().enumerate() {
            if done[pi] {
                continue;
            }
            let mut stops_path: BTreeSet<usize> = BTreeSet::new();
            for (si, alts) in stages.iter().enumerate() {
                if alts.iter().any(|&a| stoppers.of(a).is_empty()) {
                    continue;
                }
                let missing: Vec<usize> =
                    (0..alts.len()).filter(|&k| !covered[pi][si][k]).collect();
                let mut per: BTreeMap<usize, usize> = BTreeMap::new();
                for &k in &missing {
                    for &(c, _) in stoppers.of(alts[k]) {
                        if !chosen.contains(&c) {
                            *per.entry(c).or_default() += 1;
                        }
                    }
                }
                for (c, n) in per {
                    score.entry(c).or_default().1 += n;
                    if n == missing.len() {
                        stops_path.insert(c);
                    }
                }
            }
            for c in stops_path {
                score.entry(c).or_default().0 += 1;
            }
        }
        let best = score.into_iter().max_by(|(a, (pa, na)), (b, (pb, nb))| {
            pa.cmp(pb)
                .then(na.cmp(nb))
                .then_with(|| controls[*b].cost.total_cmp(&controls[*a].cost))
                .then_with(|| controls[*b].id.cmp(&controls[*a].id))
        });
        let Some((c, _)) = best else {
            break;
        };
        chosen.insert(c);
        let mut newly = 0;
        for (pi, (stages, _)) in distinct.iter().enumerate() {
            if done[pi] {
                continue;
            }
            for (si, alts) in stages.iter().enumerate() {
                for (k, &a) in alts.iter().enumerate() {
                    if stoppers.of(a).iter().any(|(x, _)| *x == c) {
                        covered[pi][si][k] = true;
                    }
                }
            }
            if covered[pi]
                .iter()
                .any(|s| !s.is_empty() && s.iter().all(|x| *x))
            {
                done[pi] = true;
                newly += 1;
            }
        }
        total += newly;
        steps.push(HitStep {
            id: controls[c].id.clone(),
            name: controls[c].name.clone(),
            kind: controls[c].kind,
            newly_stopped: newly,
            stopped_total: total,
        });
    }
    HittingSet {
        distinct_paths: distinct.len(),
        stoppable: n_stoppable,
        controls: steps,
        unstoppable,
        method: "greedy (most newly stopped paths, then most newly covered techniques, then lower cost, then id); approximates the minimum set, which is NP-hard to find",
    }
}
