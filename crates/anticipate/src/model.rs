//! The next-move model: what it learns and how it ranks.
//!
//! Three sources, all data:
//!
//! 1. **Attack Flow edges** (`train`): for every action -> action edge, the
//!    follower's technique and tactic are counted under three contexts of the
//!    action before it: its exact technique, its technique at parent level
//!    (sub-technique -> parent back-off), and its tactic. Nothing assumes
//!    forward progress: a backward edge (Discovery after Collection) counts
//!    like any other.
//! 2. **ATT&CK procedures** (from the kb): every group, software and
//!    campaign with its technique set. What you saw selects the entities that
//!    used the same techniques (weighted by rarity, IDF); the techniques those
//!    entities also used are the candidates ("used by 12 groups that also
//!    used what you saw").
//! 3. **The user's own flows**: `killchain model train --flows DIR` saves
//!    them as a [`SavedModel`]; they join the counts in (1).
//!
//! Ranking (`Predictor::rank`): a mixture of
//! - `edge`: P(next | last step), interpolated Witten-Bell over the contexts
//!   exact technique -> parent -> tactic -> all edges -> kb prior;
//! - `history`: the same distribution for the earlier steps, by recency;
//! - `procedures`: the kb co-occurrence distribution above;
//! - `prior`: how many ATT&CK entities use each technique.
//!
//! The next tactic mixes a Witten-Bell tactic model over the same contexts
//! with the tactics of the predicted techniques. Weights are in
//! [`Weights`]; docs/prediction.md says how they were chosen.

use std::collections::{BTreeMap, HashMap, VecDeque};

use killchain_kb::AttackKb;
use serde::{Deserialize, Serialize};

use crate::flow::Flow;
use crate::AnticipateError;

/// One action of a flow resolved against the kb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Step {
    /// Technique kb index.
    pub technique: Option<usize>,
    /// Tactic kb index: the action's own, else the technique's when it has only one.
    pub tactic: Option<usize>,
}

/// A flow resolved against the kb.
#[derive(Debug, Clone)]
pub struct ResolvedFlow {
    pub source: String,
    pub name: String,
    pub steps: Vec<Step>,
    pub edges: Vec<(usize, usize)>,
}

/// Counts of what resolution could not use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ResolveStats {
    pub actions: usize,
    pub with_technique: usize,
    pub with_tactic: usize,
    /// Technique IDs the kb does not know (sorted, deduplicated).
    pub unknown_techniques: Vec<String>,
    pub unknown_tactics: Vec<String>,
}

/// Resolve flows against the kb (revoked techniques follow their replacement).
pub fn resolve_flows(kb: &AttackKb, flows: &[Flow]) -> (Vec<ResolvedFlow>, ResolveStats) {
    let mut stats = ResolveStats::default();
    let out = flows
        .iter()
        .map(|f| ResolvedFlow {
            source: f.source.clone(),
            name: f.name.clone(),
            steps: f
                .actions
                .iter()
                .map(|a| {
                    stats.actions += 1;
                    let technique = a.technique.as_deref().and_then(|t| {
                        let r = kb.technique_by_id(t).map(|(i, _)| i);
                        if r.is_none() {
                            stats.unknown_techniques.push(t.to_string());
                        }
                        r
                    });
                    let own = a.tactic.as_deref().and_then(|t| {
                        let r = kb.tactic_by_token(t);
                        if r.is_none() {
                            stats.unknown_tactics.push(t.to_string());
                        }
                        r
                    });
                    let tactic = own.or_else(|| match technique.map(|t| kb.tactics_of(t)) {
                        Some(v) if v.len() == 1 => Some(v[0]),
                        _ => None,
                    });
                    stats.with_technique += usize::from(technique.is_some());
                    stats.with_tactic += usize::from(tactic.is_some());
                    Step { technique, tactic }
                })
                .collect(),
            edges: f.edges.clone(),
        })
        .collect();
    for v in [&mut stats.unknown_techniques, &mut stats.unknown_tactics] {
        v.sort();
        v.dedup();
    }
    (out, stats)
}

/// What `killchain model train` saves: the imported flows (IDs, not kb
/// indexes, so a model outlives a kb upgrade). The counts are derived at
/// load, in milliseconds, by the same code the evaluation uses.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedModel {
    /// Format version of this file.
    pub format: u32,
    /// ATT&CK release the flows were checked against when saved.
    pub attack_version: String,
    /// Mixture weights fitted on these flows (`fit::fit_weights`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Weights>,
    pub flows: Vec<Flow>,
}

impl SavedModel {
    pub const FORMAT: u32 = 1;

    pub fn new(attack_version: &str, flows: Vec<Flow>, weights: Option<Weights>) -> Self {
        SavedModel {
            format: Self::FORMAT,
            attack_version: attack_version.to_string(),
            weights,
            flows,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Plain structs into a Vec: cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8], input: &str) -> Result<SavedModel, AnticipateError> {
        let m: SavedModel = serde_json::from_slice(bytes).map_err(|e| AnticipateError::Model {
            input: input.to_string(),
            reason: e.to_string(),
        })?;
        if m.format != Self::FORMAT {
            return Err(AnticipateError::Model {
                input: input.to_string(),
                reason: format!(
                    "format {} is not {} (retrain with `killchain model train`)",
                    m.format,
                    Self::FORMAT
                ),
            });
        }
        Ok(m)
    }
}

/// Mixture weights of the ranking components (each a distribution).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    pub edge: f64,
    pub history: f64,
    pub procedures: f64,
    /// Techniques already seen, by recency (attackers repeat themselves).
    pub repeat: f64,
    pub prior: f64,
    /// Next tactic: share of the direct tactic model.
    pub tactic_direct: f64,
    /// Next tactic: share of the tactics already seen, by recency (the rest
    /// comes from the tactics of the predicted techniques).
    pub tactic_repeat: f64,
    /// Next tactic: share of the learned step in matrix order (how far,
    /// forward or back, the next tactic lies from the current one).
    pub tactic_offset: f64,
    /// Earlier steps kept for the history component (most recent first).
    pub history_len: usize,
    /// Most similar ATT&CK entities (groups, campaigns, software) the
    /// procedure component draws from.
    pub neighbours: usize,
}

impl Weights {
    /// Technique mixture weights: edge, history, procedures, repeat, prior.
    pub fn technique_weights(&self) -> [f64; 5] {
        [
            self.edge,
            self.history,
            self.procedures,
            self.repeat,
            self.prior,
        ]
    }
    /// Tactic mixture weights: direct, repeat, offset, from the techniques.
    pub fn tactic_weights(&self) -> [f64; 4] {
        let rest = (1.0 - self.tactic_direct - self.tactic_repeat - self.tactic_offset).max(0.0);
        [
            self.tactic_direct,
            self.tactic_repeat,
            self.tactic_offset,
            rest,
        ]
    }
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            edge: 0.1,
            history: 0.1,
            procedures: 0.7,
            repeat: 0.08,
            prior: 0.02,
            tactic_direct: 0.2,
            tactic_repeat: 0.2,
            tactic_offset: 0.3,
            history_len: 12,
            neighbours: 1000,
        }
    }
}

/// How often something followed a context: edges and distinct flows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    pub edges: u32,
    pub flows: u32,
    last_flow: u32,
}

impl Count {
    fn add(&mut self, flow: u32) {
        self.edges += 1;
        if self.flows == 0 || self.last_flow != flow {
            self.flows += 1;
            self.last_flow = flow;
        }
    }
}

/// What followed one context.
#[derive(Debug, Clone, Default)]
pub struct Followers {
    pub techniques: BTreeMap<usize, Count>,
    pub tactics: BTreeMap<usize, Count>,
    tech_total: u32,
    tac_total: u32,
}

impl Followers {
    fn add(&mut self, next: Step, flow: u32) {
        if let Some(t) = next.technique {
            self.techniques.entry(t).or_default().add(flow);
            self.tech_total += 1;
        }
        if let Some(t) = next.tactic {
            self.tactics.entry(t).or_default().add(flow);
            self.tac_total += 1;
        }
    }
}

/// Witten-Bell interpolation of `p` (a distribution) with the counts of one
/// context: p'(x) = (c(x) + T p(x)) / (N + T), T = distinct followers.
fn witten_bell(p: &mut [f64], counts: &BTreeMap<usize, Count>, total: u32) {
    if total == 0 {
        return;
    }
    let n = f64::from(total);
    let t = counts.len() as f64;
    let keep = t / (n + t);
    p.iter_mut().for_each(|x| *x *= keep);
    for (&i, c) in counts {
        if let Some(x) = p.get_mut(i) {
            *x += f64::from(c.edges) / (n + t);
        }
    }
}

fn normalise(p: &mut [f64]) {
    let s: f64 = p.iter().sum();
    if s > 0.0 {
        p.iter_mut().for_each(|x| *x /= s);
    }
}

/// The kind of an ATT&CK procedure entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityKind {
    Group,
    Campaign,
    Software,
}

/// A group, campaign or software with its techniques.
#[derive(Debug, Clone)]
pub struct Entity {
    pub kind: EntityKind,
    /// Index in the kb's groups / campaigns / software.
    pub index: usize,
    pub id: String,
    pub name: String,
    /// Technique kb indexes, sorted.
    pub techniques: Vec<usize>,
    /// The same at parent level, sorted, deduplicated.
    pub parents: Vec<usize>,
}

/// The kb's procedure knowledge, indexed for co-occurrence.
#[derive(Debug, Clone)]
pub struct Procedures {
    pub entities: Vec<Entity>,
    /// Parent-level technique -> entities using it (or a sub-technique of it).
    pub(crate) by_parent: Vec<Vec<u32>>,
    /// Exact technique -> number of entities using it.
    pub df: Vec<u32>,
    /// Parent-level technique -> number of entities.
    pub df_parent: Vec<u32>,
    /// Entity -> IDF norm of its parent-level technique set.
    pub(crate) norm: Vec<f64>,
    /// Technique -> itself or its parent (the kb lookup hashes a string).
    parent: Vec<usize>,
    /// Parent-level technique -> IDF (see `idf_parent`).
    idf: Vec<f64>,
}

impl Procedures {
    pub fn new(kb: &AttackKb) -> Self {
        let n = kb.data().techniques.len();
        let d = kb.data();
        let resolve = |ids: &[String]| -> Vec<usize> {
            let mut v: Vec<usize> = ids
                .iter()
                .filter_map(|id| kb.technique_by_id(id).map(|(i, _)| i))
                .filter(|&i| kb.technique(i).is_active())
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let mut entities = Vec::new();
        let mut push = |kind, index, id: &str, name: &str, techs: &[String]| {
            let techniques = resolve(techs);
            if techniques.is_empty() {
                return;
            }
            let mut parents: Vec<usize> = techniques.iter().map(|&t| parent_level(kb, t)).collect();
            parents.sort_unstable();
            parents.dedup();
            entities.push(Entity {
                kind,
                index,
                id: id.to_string(),
                name: name.to_string(),
                techniques,
                parents,
            });
        };
        for (i, g) in d.groups.iter().enumerate().filter(|(_, g)| !g.deprecated) {
            push(EntityKind::Group, i, &g.id, &g.name, &g.techniques);
        }
        for (i, c) in d
            .campaigns
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.deprecated)
        {
            push(EntityKind::Campaign, i, &c.id, &c.name, &c.techniques);
        }
        for (i, s) in d.software.iter().enumerate().filter(|(_, s)| !s.deprecated) {
            push(EntityKind::Software, i, &s.id, &s.name, &s.techniques);
        }
        let mut by_parent = vec![Vec::new(); n];
        let mut df = vec![0u32; n];
        let mut df_parent = vec![0u32; n];
        for (ei, e) in entities.iter().enumerate() {
            for &t in &e.techniques {
                df[t] += 1;
            }
            for &p in &e.parents {
                df_parent[p] += 1;
                by_parent[p].push(ei as u32);
            }
        }
        let total = entities.len() as f64;
        let idf = df_parent
            .iter()
            .map(|&d| (total / (1.0 + f64::from(d))).ln().max(0.0) + 0.1)
            .collect();
        let mut p = Procedures {
            entities,
            by_parent,
            df,
            df_parent,
            norm: Vec::new(),
            parent: (0..n).map(|t| parent_level(kb, t)).collect(),
            idf,
        };
        p.norm = p
            .entities
            .iter()
            .map(|e| {
                e.parents
                    .iter()
                    .map(|&t| p.idf_parent(t).powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            .collect();
        p
    }

    /// Inverse document frequency of a parent-level technique over entities.
    /// ln(entities / (1 + entities using it)), floored at 0, plus 0.1 so a
    /// technique everyone uses still counts a little.
    pub fn idf_parent(&self, parent: usize) -> f64 {
        self.idf.get(parent).copied().unwrap_or(0.1)
    }

    /// The technique itself, or its parent for a sub-technique (precomputed).
    pub fn parent(&self, technique: usize) -> usize {
        self.parent.get(technique).copied().unwrap_or(technique)
    }

    /// Entities sharing parent-level techniques with `seen` (sorted,
    /// deduplicated parent-level indexes), with their IDF-weighted cosine
    /// similarity, most similar first (ties by entity order).
    pub fn similar(&self, seen: &[usize]) -> Vec<(u32, f64)> {
        let mut dot = vec![0.0; self.entities.len()];
        let mut seen_norm = 0.0;
        for &p in seen {
            let w = self.idf_parent(p);
            seen_norm += w * w;
            for &e in self.by_parent.get(p).into_iter().flatten() {
                dot[e as usize] += w * w;
            }
        }
        let seen_norm = seen_norm.sqrt();
        let mut v: Vec<(u32, f64)> = dot
            .iter()
            .enumerate()
            .filter(|(_, &d)| d > 0.0)
            .map(|(e, &d)| {
                (
                    e as u32,
                    d / (seen_norm * self.norm[e]).max(f64::MIN_POSITIVE),
                )
            })
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }
}

/// The technique itself, or its parent for a sub-technique.
pub fn parent_level(kb: &AttackKb, technique: usize) -> usize {
    kb.parent_of(technique).unwrap_or(technique)
}

/// Which training data a predictor was built from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// Distinct source files (incidents).
    pub files: usize,
    pub flows: usize,
    pub actions: usize,
    /// Action -> action edges learned from.
    pub edges: usize,
    /// Groups, campaigns and software with techniques in the kb.
    pub procedures: usize,
    pub attack_version: String,
}

/// The component distributions of one ranking (see [`Weights`]): technique
/// components edge, history, procedures, repeat, prior; tactic components
/// direct (edge and history), repeat, offset (the fourth, the tactics of the
/// mixed technique distribution, is computed when mixing).
#[derive(Debug, Clone)]
pub struct Components {
    pub tech: [Option<Vec<f64>>; 5],
    pub tac: [Option<Vec<f64>>; 3],
}

/// Dense ranking over the kb: next technique and next tactic distributions.
#[derive(Debug, Clone)]
pub struct Ranking {
    /// Technique kb index -> probability (sums to 1).
    pub techniques: Vec<f64>,
    /// Tactic kb index -> probability (sums to 1).
    pub tactics: Vec<f64>,
}

impl Ranking {
    /// The `k` most likely techniques (probability, then ID, descending / ascending).
    pub fn top_techniques(&self, kb: &AttackKb, k: usize) -> Vec<(usize, f64)> {
        top_k(&self.techniques, k, |i| kb.technique(i).id.as_str())
    }
    pub fn top_tactics(&self, kb: &AttackKb, k: usize) -> Vec<(usize, f64)> {
        top_k(&self.tactics, k, |i| kb.tactic(i).id.as_str())
    }
}

/// Top `k` of a dense distribution, ties broken by ID.
pub fn top_k<'a>(p: &[f64], k: usize, id: impl Fn(usize) -> &'a str) -> Vec<(usize, f64)> {
    let mut v: Vec<(usize, f64)> = p
        .iter()
        .enumerate()
        .filter(|(_, &x)| x > 0.0)
        .map(|(i, &x)| (i, x))
        .collect();
    let cmp =
        |a: &(usize, f64), b: &(usize, f64)| b.1.total_cmp(&a.1).then_with(|| id(a.0).cmp(id(b.0)));
    if v.len() > k {
        v.select_nth_unstable_by(k, cmp);
        v.truncate(k);
    }
    v.sort_by(cmp);
    v
}

/// The trained next-move model bound to a kb.
#[derive(Debug, Clone)]
pub struct Predictor<'k> {
    pub(crate) kb: &'k AttackKb,
    pub(crate) weights: Weights,
    pub(crate) info: TrainingInfo,
    pub(crate) by_technique: HashMap<usize, Followers>,
    pub(crate) by_parent: HashMap<usize, Followers>,
    pub(crate) by_tactic: HashMap<usize, Followers>,
    pub(crate) all: Followers,
    /// Tactic labels of each technique where it was a follower: P(tactic | technique).
    pub(crate) tactic_of_target: HashMap<usize, BTreeMap<usize, u32>>,
    pub(crate) procedures: Procedures,
    /// Edges by tactic offset in matrix order (index: offset + tactics - 1).
    pub(crate) offsets: Vec<f64>,
    /// Popularity prior over techniques (1 + entities using it, active only).
    pub(crate) prior: Vec<f64>,
    /// Tactic prior: ATT&CK techniques per tactic.
    pub(crate) tactic_prior: Vec<f64>,
    /// Technique -> its ATT&CK tactics (kb indexes), computed once: ranking
    /// asks for every candidate's tactics.
    pub(crate) technique_tactics: Vec<Vec<usize>>,
}

impl<'k> Predictor<'k> {
    /// Train from resolved flows (may be empty: kb procedures alone).
    pub fn train(kb: &'k AttackKb, flows: &[ResolvedFlow], weights: Weights) -> Self {
        let n = kb.data().techniques.len();
        let procedures = Procedures::new(kb);
        let mut prior = vec![0.0; n];
        for (i, _) in kb.active_techniques() {
            prior[i] = 1.0 + f64::from(procedures.df[i]);
        }
        normalise(&mut prior);
        let mut tactic_prior = vec![1.0; kb.tactics().len()];
        for (i, _) in kb.active_techniques() {
            for t in kb.tactics_of(i) {
                tactic_prior[t] += 1.0;
            }
        }
        normalise(&mut tactic_prior);
        let mut p = Predictor {
            kb,
            weights,
            info: TrainingInfo {
                procedures: procedures.entities.len(),
                attack_version: kb.meta().version.clone(),
                ..Default::default()
            },
            by_technique: HashMap::new(),
            by_parent: HashMap::new(),
            by_tactic: HashMap::new(),
            all: Followers::default(),
            tactic_of_target: HashMap::new(),
            procedures,
            offsets: vec![1.0; 2 * kb.tactics().len()],
            prior,
            tactic_prior,
            technique_tactics: (0..n).map(|t| kb.tactics_of(t)).collect(),
        };
        let n_tac = kb.tactics().len();
        let mut files: Vec<&str> = Vec::new();
        for (fi, f) in flows.iter().enumerate() {
            let fi = fi as u32;
            files.push(&f.source);
            p.info.flows += 1;
            p.info.actions += f.steps.len();
            for &(a, b) in &f.edges {
                let (Some(&from), Some(&to)) = (f.steps.get(a), f.steps.get(b)) else {
                    continue;
                };
                p.info.edges += 1;
                p.all.add(to, fi);
                if let Some(t) = from.technique {
                    p.by_technique.entry(t).or_default().add(to, fi);
                    // The whole family (parent and sub-techniques): the back-off context.
                    p.by_parent
                        .entry(parent_level(kb, t))
                        .or_default()
                        .add(to, fi);
                }
                if let Some(t) = from.tactic {
                    p.by_tactic.entry(t).or_default().add(to, fi);
                }
                if let (Some(a), Some(b)) = (from.tactic, to.tactic) {
                    p.offsets[b + n_tac - 1 - a] += 1.0;
                }
                if let (Some(t), Some(tac)) = (to.technique, to.tactic) {
                    *p.tactic_of_target
                        .entry(t)
                        .or_default()
                        .entry(tac)
                        .or_default() += 1;
                }
            }
        }
        files.sort_unstable();
        files.dedup();
        p.info.files = files.len();
        p
    }

    pub fn kb(&self) -> &'k AttackKb {
        self.kb
    }
    pub fn info(&self) -> &TrainingInfo {
        &self.info
    }
    pub fn weights(&self) -> Weights {
        self.weights
    }
    pub fn procedures(&self) -> &Procedures {
        &self.procedures
    }

    /// Followers of a step at each context, general to specific: tactic,
    /// parent technique, exact technique.
    pub(crate) fn contexts(&self, s: Step) -> [Option<&Followers>; 3] {
        let exact = s.technique.and_then(|t| self.by_technique.get(&t));
        let parent = s
            .technique
            .and_then(|t| self.by_parent.get(&self.procedures.parent(t)));
        let tactic = s.tactic.and_then(|t| self.by_tactic.get(&t));
        [tactic, parent, exact]
    }

    /// P(next technique | step): Witten-Bell over the contexts of `s`, on the
    /// distribution of all followers, on the kb prior.
    fn edge_techniques(&self, s: Option<Step>) -> Vec<f64> {
        let mut p = self.prior.clone();
        witten_bell(&mut p, &self.all.techniques, self.all.tech_total);
        if let Some(s) = s {
            for f in self.contexts(s).into_iter().flatten() {
                witten_bell(&mut p, &f.techniques, f.tech_total);
            }
        }
        p
    }

    fn edge_tactics(&self, s: Option<Step>) -> Vec<f64> {
        let mut p = self.tactic_prior.clone();
        witten_bell(&mut p, &self.all.tactics, self.all.tac_total);
        if let Some(s) = s {
            for f in self.contexts(s).into_iter().flatten() {
                witten_bell(&mut p, &f.tactics, f.tac_total);
            }
        }
        p
    }

    /// P(next technique) from ATT&CK procedures: the techniques of the
    /// entities most similar to what was seen, weighted by similarity.
    fn procedure_techniques(&self, seen_parents: &[usize]) -> Vec<f64> {
        let mut p = vec![0.0; self.prior.len()];
        for (e, s) in self
            .procedures
            .similar(seen_parents)
            .into_iter()
            .take(self.weights.neighbours)
        {
            let e = &self.procedures.entities[e as usize];
            for &t in &e.techniques {
                p[t] += s;
            }
        }
        normalise(&mut p);
        if p.iter().all(|&x| x == 0.0) {
            p.clone_from(&self.prior);
        }
        p
    }

    /// Rank the next technique and tactic after `steps` (oldest first, the
    /// last is the most recent).
    pub fn rank(&self, steps: &[Step]) -> Ranking {
        self.mix(&self.components(steps), &self.weights)
    }

    /// The component distributions for `steps`, before mixing (`None`:
    /// the component has nothing to say, e.g. no flows were learned, no
    /// earlier step).
    pub(crate) fn components(&self, steps: &[Step]) -> Components {
        let w = self.weights;
        let has_flows = self.all.tech_total > 0;
        let last = steps.last().copied();
        let mut seen_parents: Vec<usize> = steps
            .iter()
            .filter_map(|s| s.technique)
            .map(|t| self.procedures.parent(t))
            .collect();
        seen_parents.sort_unstable();
        seen_parents.dedup();
        let n_tac = self.tactic_prior.len();
        let add = |dst: &mut [f64], src: &[f64], weight: f64| {
            dst.iter_mut().zip(src).for_each(|(d, s)| *d += weight * s);
        };
        // Earlier steps, most recent first, weight 1 / rank.
        let earlier: Vec<Step> = steps
            .iter()
            .rev()
            .skip(1)
            .filter(|s| s.technique.is_some() || s.tactic.is_some())
            .take(w.history_len)
            .copied()
            .collect();
        let (mut edge, mut history, mut direct) = (None, None, None);
        if has_flows {
            let e_tac = self.edge_tactics(last);
            let e = self.edge_techniques(last);
            let mut d = vec![0.0; n_tac];
            add(&mut d, &e_tac, w.edge.max(1e-9));
            // Nothing earlier: history falls back to the last step.
            if earlier.is_empty() {
                history = Some(e.clone());
                add(&mut d, &e_tac, w.history);
            }
            edge = Some(e);
            if !earlier.is_empty() {
                let norm: f64 = (1..=earlier.len()).map(|r| 1.0 / r as f64).sum();
                let mut h = vec![0.0; self.prior.len()];
                let mut h_tac = vec![0.0; n_tac];
                for (r, s) in earlier.iter().enumerate() {
                    let f = 1.0 / ((r + 1) as f64 * norm);
                    add(&mut h, &self.edge_techniques(Some(*s)), f);
                    add(&mut h_tac, &self.edge_tactics(Some(*s)), f);
                }
                history = Some(h);
                add(&mut d, &h_tac, w.history);
            }
            normalise(&mut d);
            direct = Some(d);
        }
        let mut rep = vec![0.0; self.prior.len()];
        let mut tac_rep = vec![0.0; n_tac];
        for (r, s) in steps.iter().rev().enumerate() {
            let f = 1.0 / (r + 1) as f64;
            if let Some(t) = s.technique {
                rep[t] += f;
            }
            if let Some(t) = s.tactic {
                tac_rep[t] += f;
            }
        }
        let some_if = |mut v: Vec<f64>| {
            normalise(&mut v);
            v.iter().any(|&x| x > 0.0).then_some(v)
        };
        let offset = match last.and_then(|s| s.tactic) {
            Some(cur) if has_flows => {
                let v = (0..n_tac)
                    .map(|b| self.offsets[b + n_tac - 1 - cur])
                    .collect();
                some_if(v)
            }
            _ => None,
        };
        Components {
            tech: [
                edge,
                history,
                Some(self.procedure_techniques(&seen_parents)),
                some_if(rep),
                Some(self.prior.clone()),
            ],
            tac: [direct, some_if(tac_rep), offset],
        }
    }

    /// Mix components with weights (renormalised over the components present).
    pub(crate) fn mix(&self, c: &Components, w: &Weights) -> Ranking {
        let mut tech = vec![0.0; self.prior.len()];
        let wt = w.technique_weights();
        let total: f64 = c
            .tech
            .iter()
            .zip(wt)
            .filter(|(x, _)| x.is_some())
            .map(|(_, w)| w)
            .sum();
        for (comp, wk) in c.tech.iter().zip(wt) {
            if let Some(v) = comp {
                let f = wk / total.max(f64::MIN_POSITIVE);
                tech.iter_mut().zip(v).for_each(|(d, s)| *d += f * s);
            }
        }
        normalise(&mut tech);
        let from_tech = self.tactics_of_distribution(&tech);
        let wt = w.tactic_weights();
        let mut tactics = vec![0.0; self.tactic_prior.len()];
        let comps = [
            c.tac[0].as_ref(),
            c.tac[1].as_ref(),
            c.tac[2].as_ref(),
            Some(&from_tech),
        ];
        let total: f64 = comps
            .iter()
            .zip(wt)
            .filter(|(x, _)| x.is_some())
            .map(|(_, w)| w)
            .sum();
        for (comp, wk) in comps.iter().zip(wt) {
            if let Some(v) = comp {
                let f = wk / total.max(f64::MIN_POSITIVE);
                tactics
                    .iter_mut()
                    .zip(v.iter())
                    .for_each(|(d, s)| *d += f * s);
            }
        }
        normalise(&mut tactics);
        Ranking {
            techniques: tech,
            tactics,
        }
    }

    /// The tactics of a technique distribution (via `tactic_split`).
    pub(crate) fn tactics_of_distribution(&self, tech: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.tactic_prior.len()];
        for (t, &pt) in tech.iter().enumerate().filter(|(_, &p)| p > 0.0) {
            self.tactic_split(t, |tac, share| out[tac] += pt * share);
        }
        normalise(&mut out);
        out
    }

    /// P(tactic | technique): the tactics flows labelled it with, smoothed
    /// with the kb's tactics of the technique.
    pub(crate) fn tactic_split(&self, technique: usize, mut f: impl FnMut(usize, f64)) {
        let kb_tactics = self
            .technique_tactics
            .get(technique)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let labelled = self.tactic_of_target.get(&technique);
        let total: u32 = labelled.map(|m| m.values().sum()).unwrap_or(0);
        let k = kb_tactics.len() as f64;
        let denom = f64::from(total) + 1.0;
        if k > 0.0 {
            for &tac in kb_tactics {
                f(tac, 1.0 / (k * denom));
            }
        }
        if let Some(m) = labelled {
            for (&tac, &c) in m {
                let share = if k > 0.0 {
                    f64::from(c) / denom
                } else {
                    f64::from(c) / f64::from(total)
                };
                f(tac, share);
            }
        }
    }

    /// Counts behind a (context, next technique) pair, for evidence.
    pub(crate) fn follow_count(&self, from: Step, next: usize) -> [Option<Count>; 3] {
        let get = |f: Option<&Followers>| f.and_then(|f| f.techniques.get(&next).copied());
        let [tac, parent, exact] = self.contexts(from);
        [get(tac), get(parent), get(exact)]
    }
}

/// What was seen before edge `a -> ?` in a flow: the ancestors of `a` (farthest first, then by index), then `a`.
pub fn history(flow: &ResolvedFlow, preds: &[Vec<usize>], a: usize) -> Vec<Step> {
    let mut dist = vec![usize::MAX; flow.steps.len()];
    dist[a] = 0;
    let mut q = VecDeque::from([a]);
    while let Some(x) = q.pop_front() {
        for &p in &preds[x] {
            if dist[p] == usize::MAX {
                dist[p] = dist[x] + 1;
                q.push_back(p);
            }
        }
    }
    let mut anc: Vec<(usize, usize)> = dist
        .iter()
        .enumerate()
        .filter(|&(i, &d)| d != usize::MAX && i != a)
        .map(|(i, &d)| (d, i))
        .collect();
    anc.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
    anc.iter()
        .map(|&(_, i)| flow.steps[i])
        .chain([flow.steps[a]])
        .collect()
}

/// Predecessors of every action of a flow.
pub fn predecessors(flow: &ResolvedFlow) -> Vec<Vec<usize>> {
    let mut preds = vec![Vec::new(); flow.steps.len()];
    for &(a, b) in &flow.edges {
        if let Some(v) = preds.get_mut(b) {
            v.push(a);
        }
    }
    preds
}
