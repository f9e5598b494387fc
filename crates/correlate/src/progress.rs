//! Kill chain progression of a set of signals in one model: the ordered
//! path of phases, the phases reached, the current (latest) and deepest
//! phase, the time spent in each, and the flags that say the attack was not
//! a straight line: skipped stages, loop-backs, parallel paths across hosts,
//! and the insider pattern.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::signal::Signal;

/// A kill chain model as progression needs it: ID and phase IDs in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelPhases {
    pub id: String,
    pub phases: Vec<String>,
}

/// One step of the path: a run of consecutive findings in one phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub phase: String,
    pub index: usize,
    pub from: Timestamp,
    pub to: Timestamp,
    pub findings: usize,
}

/// What kind of non-linearity a flag reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    /// Phases between the first and the deepest reached that no finding shows.
    Skipped,
    /// A phase earlier than one already reached, after it (discovery again
    /// after lateral movement).
    LoopBack,
    /// Hosts at different phases at the same time.
    Parallel,
    /// Actions on objectives from a valid account with no delivery or
    /// exploitation seen.
    Insider,
}

/// A flag with its evidence (finding keys) and a one-line explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    pub kind: FlagKind,
    pub detail: String,
    /// How many times the pattern occurs (loop-backs: every one).
    pub count: usize,
    /// Keys of the findings that show it (at most a few).
    pub evidence: Vec<String>,
}

/// The progression of an incident (or one host of it) in one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progression {
    /// Phases reached, in model order.
    pub phases_reached: Vec<String>,
    /// Phase of the latest finding.
    pub current_phase: Option<String>,
    /// Deepest phase reached (highest model index).
    pub deepest_phase: Option<String>,
    /// The ordered path: runs of findings in one phase.
    pub path: Vec<Step>,
    /// Seconds spent in each phase (from entering it to entering the next
    /// step; the last step lasts until its last finding).
    pub time_in_phase: BTreeMap<String, i64>,
    pub flags: Vec<Flag>,
    /// Model phases with the finding count, for the kill chain bar: 0 = not reached.
    pub bar: Vec<usize>,
}

const MAX_EVIDENCE: usize = 5;

/// Progression of `signals` (sorted by time) in `model`.
pub fn progression(signals: &[&Signal], model: &ModelPhases) -> Progression {
    let mut path: Vec<Step> = Vec::new();
    let mut keys: Vec<&str> = Vec::new(); // first finding key of each step
    let mut bar = vec![0usize; model.phases.len()];
    for s in signals {
        let Some(p) = s.phase(&model.id) else {
            continue;
        };
        if let Some(b) = bar.get_mut(p.index) {
            *b += 1;
        }
        match path.last_mut() {
            Some(step) if step.index == p.index => {
                step.to = s.time;
                step.findings += 1;
            }
            _ => {
                path.push(Step {
                    phase: p.phase.to_string(),
                    index: p.index,
                    from: s.time,
                    to: s.time,
                    findings: 1,
                });
                keys.push(&s.key);
            }
        }
    }
    let mut time_in_phase: BTreeMap<String, i64> = BTreeMap::new();
    for (i, step) in path.iter().enumerate() {
        let end = path.get(i + 1).map_or(step.to, |n| n.from);
        *time_in_phase.entry(step.phase.clone()).or_default() +=
            end.duration_since(step.from).as_secs();
    }
    let name = |i: usize| {
        model
            .phases
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("#{i}"))
    };
    let phases_reached: Vec<String> = bar
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(i, _)| name(i))
        .collect();
    let deepest = path.iter().map(|s| s.index).max();
    let mut flags = Vec::new();

    // Skipped: unreached phases between the first reached and the deepest,
    // evidenced by the first step that jumped over them.
    if let (Some(lo), Some(hi)) = (bar.iter().position(|n| *n > 0), deepest) {
        let missing: Vec<String> = (lo..hi).filter(|i| bar[*i] == 0).map(name).collect();
        if !missing.is_empty() {
            let evidence: Vec<String> = path
                .windows(2)
                .zip(keys.iter().skip(1))
                .filter(|(w, _)| w[1].index > w[0].index + 1)
                .filter(|(w, _)| (w[0].index + 1..w[1].index).any(|i| bar[i] == 0))
                .map(|(_, k)| k.to_string())
                .take(MAX_EVIDENCE)
                .collect();
            flags.push(Flag {
                kind: FlagKind::Skipped,
                detail: format!(
                    "no finding in {} between {} and {}",
                    missing.join(", "),
                    name(lo),
                    name(hi)
                ),
                count: missing.len(),
                evidence,
            });
        }
    }
    // Loop-backs: a step earlier than the deepest reached before it.
    let mut deepest_so_far: Option<usize> = None;
    let mut loops: Vec<(usize, usize, &str)> = Vec::new();
    for (step, key) in path.iter().zip(&keys) {
        if let Some(d) = deepest_so_far {
            if step.index < d {
                loops.push((d, step.index, key));
            }
        }
        deepest_so_far = Some(deepest_so_far.map_or(step.index, |d| d.max(step.index)));
    }
    if let Some((d, back, _)) = loops.first() {
        flags.push(Flag {
            kind: FlagKind::LoopBack,
            detail: format!(
                "{} again after {} ({} loop-back{})",
                name(*back),
                name(*d),
                loops.len(),
                if loops.len() == 1 { "" } else { "s" }
            ),
            count: loops.len(),
            evidence: loops
                .iter()
                .take(MAX_EVIDENCE)
                .map(|l| l.2.to_string())
                .collect(),
        });
    }
    Progression {
        current_phase: path.last().map(|s| s.phase.clone()),
        deepest_phase: deepest.map(name),
        phases_reached,
        path,
        time_in_phase,
        flags,
        bar,
    }
}

/// A finding on a host's timeline: time, phase index, finding key.
type Moment<'a> = (Timestamp, usize, &'a str);

/// Parallel paths: two hosts active at the same time (their activity spans
/// overlap) whose phase at that moment differs. One flag per model, listing
/// the first host pairs.
pub fn parallel_flag(
    per_host: &BTreeMap<String, Vec<&Signal>>,
    model: &ModelPhases,
) -> Option<Flag> {
    let name = |i: usize| {
        model
            .phases
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("#{i}"))
    };
    // Each host's timeline of (time, phase index, key).
    let lines: Vec<(&String, Vec<Moment<'_>>)> = per_host
        .iter()
        .map(|(h, v)| {
            let l = v
                .iter()
                .filter_map(|s| {
                    s.phase(&model.id)
                        .map(|p| (s.time, p.index, s.key.as_str()))
                })
                .collect::<Vec<_>>();
            (h, l)
        })
        .filter(|(_, l)| !l.is_empty())
        .collect();
    let mut pairs: Vec<String> = Vec::new();
    let mut evidence: Vec<String> = Vec::new();
    for (i, (ha, la)) in lines.iter().enumerate() {
        for (hb, lb) in &lines[i + 1..] {
            let (a0, a1) = (la[0].0, la[la.len() - 1].0);
            let (b0, b1) = (lb[0].0, lb[lb.len() - 1].0);
            if a1 < b0 || b1 < a0 {
                continue;
            }
            // At each finding of b inside a's span: a's phase then vs b's.
            let hit = lb.iter().find_map(|(t, pb, kb)| {
                if *t < a0 || *t > a1 {
                    return None;
                }
                let pa = la.iter().rev().find(|x| x.0 <= *t)?;
                (pa.1 != *pb).then_some((pa.2, *kb, pa.1, *pb))
            });
            if let Some((ka, kb, pa, pb)) = hit {
                pairs.push(format!("{ha} ({}) / {hb} ({})", name(pa), name(pb)));
                if evidence.len() < MAX_EVIDENCE {
                    evidence.push(ka.to_string());
                    evidence.push(kb.to_string());
                }
            }
        }
    }
    (!pairs.is_empty()).then(|| Flag {
        kind: FlagKind::Parallel,
        detail: format!(
            "hosts at different phases at the same time: {}{}",
            pairs.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
            if pairs.len() > 3 { ", ..." } else { "" }
        ),
        count: pairs.len(),
        evidence,
    })
}

/// Insider pattern, in a model that has actions on objectives and entry
/// phases: objectives reached by findings naming a user, and none of the
/// entry phases (`delivery`, `exploitation` in lm; `initial-access` in
/// attack; the UKC's `delivery`, `exploitation` too).
pub fn insider_flag(signals: &[&Signal], model: &ModelPhases) -> Option<Flag> {
    const OBJECTIVES: &[&str] = &[
        "actions-on-objectives",
        "exfiltration",
        "impact",
        "collection",
        "objectives",
    ];
    const ENTRY: &[&str] = &[
        "delivery",
        "exploitation",
        "initial-access",
        "weaponization",
        "social-engineering",
    ];
    let in_model = |set: &[&str]| model.phases.iter().any(|p| set.contains(&p.as_str()));
    if !in_model(OBJECTIVES) || !in_model(ENTRY) {
        return None;
    }
    let mut entry = false;
    let mut evidence = Vec::new();
    for s in signals {
        let Some(p) = s.phase(&model.id) else {
            continue;
        };
        if ENTRY.contains(&&*p.phase) {
            entry = true;
        }
        if OBJECTIVES.contains(&&*p.phase) && !s.users.is_empty() && evidence.len() < MAX_EVIDENCE {
            evidence.push(s.key.clone());
        }
    }
    (!entry && !evidence.is_empty()).then(|| Flag {
        kind: FlagKind::Insider,
        detail: "actions on objectives by a valid account, with no delivery or exploitation seen"
            .into(),
        count: evidence.len(),
        evidence,
    })
}
