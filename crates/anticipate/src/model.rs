//! The next-move model: what it learns and how it ranks.
//!
//! Three sources, all data:
//!
//! 1. **Attack Flow edges** (`train`): for every action -> action edge, the
//!    follower's technique and tactic are counted under three contexts of the
//!    action before it: its exact technique, its technique at parent level
//!    (sub-technique -> parent back-off), and its tactic. Nothing assumes
//!    forward progress: a backward edge (Discovery after Collection) counts
//!    like any other. The same edges teach how often the next technique
//!    repeats one seen d steps back (the repeat rates).
//! 2. **ATT&CK procedures** (from the kb, `procedures.rs`): every group,
//!    software and campaign with its technique set: which entities look like
//!    what you saw (cosine), which techniques are used together (co-usage),
//!    and who is likely acting (a posterior over the entities and the
//!    training incidents).
//! 3. **The user's own flows**: `killchain model train --flows DIR` saves
//!    them as a [`SavedModel`]; they join the counts in (1).
//!
//! Ranking (`Predictor::rank`) splits the next technique into two cases:
//!
//! - **a repeat** of a technique already seen: P(next = the technique first
//!   met d steps back) = the rate learned for d from the training edges (by
//!   recency, with share `Weights::repeat`, when there are no flows);
//! - **a new technique**, with the rest of the probability: a mixture of
//!   distributions over the techniques not seen yet:
//!   - `edge`: P(next | last step), interpolated Witten-Bell over the
//!     contexts exact technique -> parent -> tactic -> all edges -> kb prior;
//!   - `history`: the same distribution for the earlier steps, by recency;
//!   - `procedures`: the techniques of the entities most like what was seen;
//!   - `cousage`: techniques used together with the seen ones;
//!   - `posterior`: the techniques of who is likely acting;
//!   - `prior`: how many ATT&CK entities use each technique.
//!
//! The split matters for top-k: a component that likes the seen techniques
//! (every entity that used them did) no longer spends the top ranks on
//! them; repeats get exactly the probability the flows say they have.
//!
//! The next tactic mixes a Witten-Bell tactic model over the same contexts
//! with the tactics of the predicted techniques. Weights are in
//! [`Weights`], fitted by `fit.rs`; docs/prediction.md says how.

use std::collections::{BTreeMap, HashMap, VecDeque};

use killchain_kb::AttackKb;
use serde::{Deserialize, Serialize};

use crate::flow::Flow;
use crate::history::Histories;
use crate::AnticipateError;

pub use crate::procedures::{parent_level, Entity, EntityKind, Procedures, TechniqueSet};

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
    /// 2: the weights of the repeat / new-technique split (format 1 files
    /// are read, their weights dropped: the caller fits them again).
    pub const FORMAT: u32 = 2;

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
        let err = |reason: String| AnticipateError::Model {
            input: input.to_string(),
            reason,
        };
        #[derive(Deserialize)]
        struct Header {
            format: u32,
        }
        /// Format 1: the same flows; its weights belong to the old mixture.
        #[derive(Deserialize)]
        struct V1 {
            attack_version: String,
            flows: Vec<Flow>,
        }
        let h: Header = serde_json::from_slice(bytes).map_err(|e| err(e.to_string()))?;
        match h.format {
            Self::FORMAT => serde_json::from_slice(bytes).map_err(|e| err(e.to_string())),
            1 => {
                let v: V1 = serde_json::from_slice(bytes).map_err(|e| err(e.to_string()))?;
                Ok(SavedModel::new(&v.attack_version, v.flows, None))
            }
            f => Err(err(format!(
                "format {f} is not {} (retrain with `killchain model train`)",
                Self::FORMAT
            ))),
        }
    }
}

/// Mixture weights of the ranking components (each a distribution).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    /// New technique: P(next | last step) from flow edges.
    pub edge: f64,
    /// New technique: the same for the earlier steps, by recency.
    pub history: f64,
    /// New technique: the entities most like what was seen (cosine).
    pub procedures: f64,
    /// New technique: co-usage with the seen techniques.
    pub cousage: f64,
    /// New technique: the posterior over who is acting.
    pub posterior: f64,
    /// New technique: how many ATT&CK entities use it.
    pub prior: f64,
    /// Without flows only: the share of a repeat of a technique already
    /// seen (spread by recency). With flows the repeat rates are learned.
    pub repeat: f64,
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

/// The new-technique components, in [`Weights::technique_weights`] order.
pub const TECHNIQUE_COMPONENTS: [&str; 6] = [
    "edge",
    "history",
    "procedures",
    "cousage",
    "posterior",
    "prior",
];

impl Weights {
    /// New-technique mixture weights, in [`TECHNIQUE_COMPONENTS`] order.
    pub fn technique_weights(&self) -> [f64; 6] {
        [
            self.edge,
            self.history,
            self.procedures,
            self.cousage,
            self.posterior,
            self.prior,
        ]
    }
    /// The same weights replaced (the order of [`Weights::technique_weights`]).
    pub fn with_technique_weights(self, w: [f64; 6]) -> Self {
        Weights {
            edge: w[0],
            history: w[1],
            procedures: w[2],
            cousage: w[3],
            posterior: w[4],
            prior: w[5],
            ..self
        }
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
    /// Round numbers, not tuned on any evaluation: where the fit starts, and
    /// what the kb alone (fewer than two flow files) uses. Co-usage leads
    /// because it is the kb signal that does not need flows; the flow
    /// components get a share to start from.
    fn default() -> Self {
        Weights {
            edge: 0.1,
            history: 0.1,
            procedures: 0.2,
            cousage: 0.4,
            posterior: 0.15,
            prior: 0.05,
            repeat: 0.1,
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

/// The component distributions of one ranking (see [`Weights`]).
#[derive(Debug, Clone)]
pub struct Components {
    /// New-technique components in [`TECHNIQUE_COMPONENTS`] order, each a
    /// distribution over the techniques not seen yet (`None`: nothing to
    /// say, e.g. no flows learned).
    pub tech: [Option<Vec<f64>>; 6],
    /// Repeats: (seen technique, probability that it comes next); the new
    /// technique gets the rest.
    pub repeat: Vec<(usize, f64)>,
    /// Tactic components direct (edge and history), repeat, offset (the
    /// fourth, the tactics of the mixed technique distribution, is computed
    /// when mixing).
    pub tac: [Option<Vec<f64>>; 3],
}

impl Components {
    /// Probability that the next technique is one already seen.
    pub fn repeat_mass(&self) -> f64 {
        self.repeat.iter().map(|x| x.1).sum()
    }
}

/// Repeat rates are learned for the first `REPEAT_DEPTH - 1` distances;
/// the last one pools everything farther back.
const REPEAT_DEPTH: usize = 16;
/// The repeat share never exceeds this: something new stays possible.
const MAX_REPEAT: f64 = 0.95;

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
    /// P(next technique = the one first met d steps back | a technique was
    /// first met d steps back), learned from the training edges (index:
    /// d, the last pools the farther ones); empty without flows.
    pub(crate) repeat_rates: Vec<f64>,
    /// The training incidents' technique sets (one per file): the posterior
    /// weighs them with the ATT&CK entities.
    pub(crate) flow_sets: Vec<TechniqueSet>,
    /// How the training flows write each technique family that has
    /// sub-techniques (see [`Granularity`]); `None` without such actions.
    pub(crate) granularity: Option<Granularity>,
}

/// How often flows write a family's parent ID (T1071) rather than one of
/// its sub-techniques (T1071.001). Authors of incident flows write the
/// parent when the report does not say which (in the CTID corpus about half
/// of the actions in such families), while ATT&CK's groups and software list
/// mostly sub-techniques, so the kb components leave a parent ID little
/// probability. The new-technique mixture's mass of each family is split
/// between the parent and its sub-techniques in this proportion.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Granularity {
    /// (parent, its active sub-techniques, share written at parent level):
    /// the family's count, shrunk towards `pooled` by one pseudo-action.
    families: Vec<(usize, Vec<usize>, f64)>,
}

impl Granularity {
    /// Learned from every technique-bearing action of `flows`; `None` when
    /// none of them is in a family with sub-techniques.
    fn learn(kb: &AttackKb, flows: &[ResolvedFlow]) -> Option<Granularity> {
        // parent -> (actions written at parent level, actions of the family)
        let mut counts: HashMap<usize, (f64, f64)> = HashMap::new();
        for t in flows
            .iter()
            .flat_map(|f| f.steps.iter().filter_map(|s| s.technique))
        {
            let parent = parent_level(kb, t);
            if kb.subtechniques_of(parent).is_empty() {
                continue;
            }
            let c = counts.entry(parent).or_default();
            c.0 += f64::from(u8::from(t == parent));
            c.1 += 1.0;
        }
        let (at_parent, all) = counts
            .values()
            .fold((0.0, 0.0), |(p, n), c| (p + c.0, n + c.1));
        if all == 0.0 {
            return None;
        }
        // Add-one on both outcomes: a corpus that never (or always) writes
        // the parent still leaves the other possible.
        let pooled = (at_parent + 1.0) / (all + 2.0);
        let families = kb
            .active_techniques()
            .filter(|(i, _)| kb.parent_of(*i).is_none())
            .filter_map(|(i, _)| {
                let subs = kb.subtechniques_of(i);
                (!subs.is_empty()).then(|| {
                    let (c, n) = counts.get(&i).copied().unwrap_or((0.0, 0.0));
                    (i, subs.to_vec(), (c + pooled) / (n + 1.0))
                })
            })
            .collect();
        Some(Granularity { families })
    }

    /// The share of its family's probability a parent technique gets, when
    /// it has sub-techniques.
    pub(crate) fn parent_share(&self, parent: usize) -> Option<f64> {
        self.families.iter().find(|f| f.0 == parent).map(|f| f.2)
    }

    /// Split each family's probability in `p` between its parent and its
    /// sub-techniques, leaving the techniques marked in `seen` as they are
    /// (a family whose parent was seen keeps its split).
    fn apply(&self, p: &mut [f64], seen: &[bool]) {
        let seen = |t: usize| seen.get(t).copied().unwrap_or(false);
        for (parent, subs, share) in &self.families {
            let parent = *parent;
            if seen(parent) || parent >= p.len() {
                continue;
            }
            let n = p.len();
            let open = || subs.iter().copied().filter(|&s| s < n && !seen(s));
            let sub_mass: f64 = open().map(|s| p[s]).sum();
            let mass = p[parent] + sub_mass;
            let n_open = open().count();
            if mass <= 0.0 || n_open == 0 {
                continue;
            }
            p[parent] = share * mass;
            let rest = (1.0 - share) * mass;
            for s in open() {
                p[s] = if sub_mass > 0.0 {
                    rest * p[s] / sub_mass
                } else {
                    rest / n_open as f64
                };
            }
        }
    }
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
            repeat_rates: Vec::new(),
            flow_sets: Vec::new(),
            granularity: Granularity::learn(kb, flows),
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
        p.flow_sets = files
            .iter()
            .map(|file| {
                let techniques = flows
                    .iter()
                    .filter(|f| f.source == *file)
                    .flat_map(|f| f.steps.iter().filter_map(|s| s.technique));
                TechniqueSet::new(&p.procedures, techniques)
            })
            .collect();
        p.repeat_rates = repeat_rates(flows);
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
    /// The share of its family's new-technique probability the parent
    /// technique `t` gets (learned from how the training flows write the
    /// family); `None` without flows or when `t` has no sub-techniques.
    pub fn parent_share(&self, t: usize) -> Option<f64> {
        self.granularity.as_ref()?.parent_share(t)
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
        let n_tac = self.tactic_prior.len();
        let add = |dst: &mut [f64], src: &[f64], weight: f64| {
            dst.iter_mut().zip(src).for_each(|(d, s)| *d += weight * s);
        };
        // Seen techniques, first occurrence from the most recent: (technique,
        // steps back).
        // (A mark per technique: a long history would make a search of
        // `seen` per step quadratic.)
        let mut seen: Vec<(usize, usize)> = Vec::new();
        let mut met = vec![false; self.prior.len()];
        for (d, s) in steps.iter().rev().enumerate() {
            if let Some(t) = s.technique {
                match met.get_mut(t) {
                    Some(m) if !*m => {
                        *m = true;
                        seen.push((t, d));
                    }
                    Some(_) => {}
                    // Not a kb index (cannot come from `resolve`): searched.
                    None if !seen.iter().any(|x| x.0 == t) => seen.push((t, d)),
                    None => {}
                }
            }
        }
        let mut seen_parents: Vec<usize> = seen
            .iter()
            .map(|&(t, _)| self.procedures.parent(t))
            .collect();
        seen_parents.sort_unstable();
        seen_parents.dedup();
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
        // Co-usage: every step's technique, weight 1 / steps back.
        let cousage_seen: Vec<(usize, f64)> = steps
            .iter()
            .rev()
            .enumerate()
            .filter_map(|(d, s)| s.technique.map(|t| (t, 1.0 / (d + 1) as f64)))
            .collect();
        let distinct: Vec<usize> = seen.iter().map(|x| x.0).collect();
        let posterior = (!distinct.is_empty()).then(|| {
            self.procedures
                .posterior(&distinct, &self.flow_sets, &self.prior)
        });
        let new_only = |v: Option<Vec<f64>>| {
            let mut v = v?;
            for &(t, _) in &seen {
                v[t] = 0.0;
            }
            normalise(&mut v);
            v.iter().any(|&x| x > 0.0).then_some(v)
        };
        let mut tac_rep = vec![0.0; n_tac];
        for (r, s) in steps.iter().rev().enumerate() {
            if let Some(t) = s.tactic {
                tac_rep[t] += 1.0 / (r + 1) as f64;
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
                new_only(edge),
                new_only(history),
                new_only(Some(self.procedure_techniques(&seen_parents))),
                new_only(self.procedures.cousage(&cousage_seen)),
                new_only(posterior),
                new_only(Some(self.prior.clone())),
            ],
            repeat: self.repeats(&seen),
            tac: [direct, some_if(tac_rep), offset],
        }
    }

    /// The learned repeat rate for a technique first met `back` steps back
    /// (`None` without flows).
    pub fn repeat_rate(&self, back: usize) -> Option<f64> {
        let last = self.repeat_rates.len().checked_sub(1)?;
        self.repeat_rates.get(back.min(last)).copied()
    }

    /// P(next = each seen technique): the learned rate of its distance
    /// (first occurrence, steps back); without flows, `Weights::repeat`
    /// spread by recency.
    fn repeats(&self, seen: &[(usize, usize)]) -> Vec<(usize, f64)> {
        let mut v: Vec<(usize, f64)> = if self.repeat_rates.is_empty() {
            let norm: f64 = seen.iter().map(|&(_, d)| 1.0 / (d + 1) as f64).sum();
            seen.iter()
                .map(|&(t, d)| (t, self.weights.repeat / ((d + 1) as f64 * norm)))
                .collect()
        } else {
            let last = self.repeat_rates.len() - 1;
            seen.iter()
                .map(|&(t, d)| (t, self.repeat_rates[d.min(last)]))
                .collect()
        };
        let total: f64 = v.iter().map(|x| x.1).sum();
        if total > MAX_REPEAT {
            v.iter_mut().for_each(|x| x.1 *= MAX_REPEAT / total);
        }
        v
    }

    /// Mix components with weights: the repeats, then the new-technique
    /// mixture (renormalised over the components present) on the rest.
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
        let new_share = 1.0 - c.repeat_mass();
        for (comp, wk) in c.tech.iter().zip(wt) {
            if let Some(v) = comp {
                let f = new_share * wk / total.max(f64::MIN_POSITIVE);
                tech.iter_mut().zip(v).for_each(|(d, s)| *d += f * s);
            }
        }
        if let Some(g) = &self.granularity {
            // The new-technique mass only: a repeat is an exact ID already.
            let mut seen = vec![false; tech.len()];
            for &(t, _) in &c.repeat {
                if let Some(s) = seen.get_mut(t) {
                    *s = true;
                }
            }
            g.apply(&mut tech, &seen);
        }
        for &(t, p) in &c.repeat {
            tech[t] += p;
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

/// How often the next technique repeats the one first met d steps back,
/// over every edge of `flows` whose follower has a technique: hits / chances
/// per distance, each shrunk towards the pooled rate by one pseudo-chance
/// (a distance seen rarely gets about the average rate). Empty without
/// such edges.
///
/// Each distinct technique of the edge's history (`history`) is one chance,
/// at the distance of its most recent occurrence. Only the nearest
/// `REPEAT_DEPTH - 1` distances are told apart, so only that many steps of a
/// history are read; the farther chances are the distinct techniques left
/// (`Histories` keeps the count), and the whole is linear in a chain's length.
pub fn repeat_rates(flows: &[ResolvedFlow]) -> Vec<f64> {
    repeat_rates_counted(flows).0
}

/// [`repeat_rates`] and the work it did: trail actions built, actions
/// walked and history steps read (tests check it stays linear).
fn repeat_rates_counted(flows: &[ResolvedFlow]) -> (Vec<f64>, usize) {
    let mut hits = [0u64; REPEAT_DEPTH];
    let mut chances = [0u64; REPEAT_DEPTH];
    let mut work = 0;
    for flow in flows {
        let mut out = vec![Vec::new(); flow.steps.len()];
        for &(a, b) in &flow.edges {
            if let (Some(v), Some(next)) =
                (out.get_mut(a), flow.steps.get(b).and_then(|s| s.technique))
            {
                v.push(next);
            }
        }
        let histories = Histories::new(flow);
        work += histories.work();
        histories.walk(|a, h| {
            let steps = h.steps();
            work += 1;
            for &next in &out[a] {
                let mut near = 0;
                for (d, s) in steps.iter().rev().take(REPEAT_DEPTH - 1).enumerate() {
                    work += 1;
                    if s.technique.is_some_and(|t| h.back(t) == Some(d)) {
                        chances[d] += 1;
                        near += 1;
                    }
                }
                chances[REPEAT_DEPTH - 1] += (h.distinct() - near) as u64;
                if let Some(d) = h.back(next) {
                    hits[d.min(REPEAT_DEPTH - 1)] += 1;
                }
            }
        });
    }
    // Counts are exact integers, so the order edges are visited in does not matter.
    let hits = hits.map(|x| x as f64);
    let chances = chances.map(|x| x as f64);
    let total: f64 = chances.iter().sum();
    if total == 0.0 {
        return (Vec::new(), work);
    }
    let pooled = hits.iter().sum::<f64>() / total;
    let rates = hits
        .iter()
        .zip(&chances)
        .map(|(h, c)| (h + pooled) / (c + 1.0))
        .collect();
    (rates, work)
}

/// What was seen before edge `a -> ?` in a flow: the ancestors of `a` (farthest first, then by index), then `a`.
///
/// One BFS: O(flow) per call. To visit the histories of every action use
/// [`Histories`], which shares the work.
pub fn history(flow: &ResolvedFlow, preds: &[Vec<usize>], a: usize) -> Vec<Step> {
    ancestors(preds, a)
        .iter()
        .map(|&i| flow.steps[i])
        .chain([flow.steps[a]])
        .collect()
}

/// The ancestors of `a`, farthest first (BFS distance), then by index.
pub(crate) fn ancestors(preds: &[Vec<usize>], a: usize) -> Vec<usize> {
    let mut dist = vec![usize::MAX; preds.len()];
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
    anc.into_iter().map(|(_, i)| i).collect()
}

/// Predecessors of every action of a flow (edges from or to an index
/// outside the flow are left out).
pub fn predecessors(flow: &ResolvedFlow) -> Vec<Vec<usize>> {
    let n = flow.steps.len();
    let mut preds = vec![Vec::new(); n];
    for &(a, b) in &flow.edges {
        if let Some(v) = preds.get_mut(b).filter(|_| a < n) {
            v.push(a);
        }
    }
    preds
}

#[cfg(test)]
mod tests {
    use super::*;
    use killchain_kb::AttackData;

    fn kb() -> AttackKb {
        AttackKb::new(AttackData::embedded().unwrap())
    }

    /// A chain flow of these techniques, edges i -> i + 1.
    fn chain(kb: &AttackKb, source: &str, ids: &[&str]) -> ResolvedFlow {
        ResolvedFlow {
            source: source.into(),
            name: source.into(),
            steps: ids
                .iter()
                .map(|id| {
                    let t = kb.technique_by_id(id).unwrap().0;
                    let tac = kb.tactics_of(t);
                    Step {
                        technique: Some(t),
                        tactic: tac.first().copied(),
                    }
                })
                .collect(),
            edges: (1..ids.len()).map(|i| (i - 1, i)).collect(),
        }
    }

    #[test]
    fn granularity_follows_how_the_flows_write_a_family() {
        let kb = kb();
        let t = |id: &str| kb.technique_by_id(id).unwrap().0;
        // Flows that write T1071 at parent level three times and T1071.001
        // once; T1059 only as sub-techniques.
        let flows = [
            chain(&kb, "a", &["T1566.001", "T1071", "T1059.001"]),
            chain(&kb, "b", &["T1566.001", "T1071", "T1059.003"]),
            chain(&kb, "c", &["T1071", "T1071.001", "T1059.001"]),
        ];
        let g = Granularity::learn(&kb, &flows).unwrap();
        let share = |parent: usize| g.families.iter().find(|f| f.0 == parent).unwrap().2;
        // Pooled over the families (T1566.001 is in one too): 3 of 9
        // actions at parent level, add-one on both outcomes: 4 / 11; each
        // family shrunk towards it by one pseudo-action.
        let pooled = 4.0 / 11.0;
        assert!((share(t("T1071")) - (3.0 + pooled) / 5.0).abs() < 1e-12);
        assert!((share(t("T1059")) - pooled / 4.0).abs() < 1e-12);
        // A family no flow names gets the pooled share.
        assert!((share(t("T1003")) - pooled).abs() < 1e-12);
        // A technique without sub-techniques is not a family.
        assert!(g.families.iter().all(|f| f.0 != t("T1190")));

        // Applying it keeps each family's mass and splits it; the subs keep
        // their proportions; seen techniques are left as they are.
        let n = kb.data().techniques.len();
        let mut p = vec![0.0; n];
        let (c2, web, dns) = (t("T1071"), t("T1071.001"), t("T1071.004"));
        p[web] = 0.3;
        p[dns] = 0.1;
        p[t("T1190")] = 0.6;
        let mut seen = vec![false; n];
        g.apply(&mut p, &seen);
        let q = share(c2);
        assert!((p[c2] - q * 0.4).abs() < 1e-12);
        assert!((p[web] - (1.0 - q) * 0.3).abs() < 1e-12);
        assert!((p[dns] - (1.0 - q) * 0.1).abs() < 1e-12);
        assert_eq!(p[t("T1190")], 0.6);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // The parent seen: the family stays as it was.
        let before = p.clone();
        seen[c2] = true;
        g.apply(&mut p, &seen);
        assert_eq!(p, before);
        // A seen sub-technique keeps its probability; the others share the rest.
        let mut p = vec![0.0; n];
        p[web] = 0.5;
        p[dns] = 0.5;
        let mut seen = vec![false; n];
        seen[web] = true;
        g.apply(&mut p, &seen);
        assert_eq!(p[web], 0.5);
        assert!((p[c2] + p[dns] - 0.5).abs() < 1e-12);
        assert!((p[c2] - q * 0.5).abs() < 1e-12);

        // Without flows, or with no family action, nothing is learned.
        assert!(Granularity::learn(&kb, &[]).is_none());
        assert!(Granularity::learn(&kb, &[chain(&kb, "d", &["T1190", "T1105"])]).is_none());
    }

    #[test]
    fn a_parent_written_flows_model_ranks_the_parent_id() {
        // Training flows that always write T1071 at parent level, as their
        // first action: no edge leads to it, so the kb's components, which
        // know T1071.001 far better than T1071, decide the family's mass.
        let kb = kb();
        let t = |id: &str| kb.technique_by_id(id).unwrap().0;
        let flows: Vec<ResolvedFlow> = (0..4)
            .map(|i| chain(&kb, &format!("f{i}"), &["T1071", "T1190", "T1505.003"]))
            .collect();
        let with = Predictor::train(&kb, &flows, Weights::default());
        let mut without = with.clone();
        without.granularity = None;
        let seen = ["T1566.001", "T1204.002", "T1105"].map(|id| Step {
            technique: Some(t(id)),
            tactic: None,
        });
        let family = |r: &Ranking| {
            let subs: f64 = kb
                .subtechniques_of(t("T1071"))
                .iter()
                .map(|&s| r.techniques[s])
                .sum();
            (r.techniques[t("T1071")], subs)
        };
        let (parent_without, subs_without) = family(&without.rank(&seen));
        let (parent_with, subs_with) = family(&with.rank(&seen));
        // Before: the parent has a small part of its family.
        assert!(parent_without < 0.2 * (parent_without + subs_without));
        // After: the family's mass is kept and the parent has the learned share.
        let mass = parent_with + subs_with;
        assert!((mass - (parent_without + subs_without)).abs() < 1e-9);
        let share = with
            .granularity
            .as_ref()
            .unwrap()
            .families
            .iter()
            .find(|f| f.0 == t("T1071"))
            .unwrap()
            .2;
        assert!(share > 0.7);
        assert!((parent_with / mass - share).abs() < 1e-9);
        assert!(
            parent_with
                > kb.subtechniques_of(t("T1071"))
                    .iter()
                    .map(|&s| with.rank(&seen).techniques[s])
                    .fold(0.0, f64::max)
        );
        // The kb alone writes what the kb writes: no regrouping.
        let kb_only = Predictor::train(&kb, &[], Weights::default());
        assert!(kb_only.granularity.is_none());
    }

    /// `repeat_rates` as it was first written: a BFS history per edge, read
    /// whole (quadratic in a chain's length); the reference for the fast one.
    fn repeat_rates_per_edge(flows: &[ResolvedFlow]) -> Vec<f64> {
        let mut hits = [0.0f64; REPEAT_DEPTH];
        let mut chances = [0.0f64; REPEAT_DEPTH];
        for flow in flows {
            let preds = predecessors(flow);
            for &(a, b) in &flow.edges {
                let Some(next) = flow.steps.get(b).and_then(|s| s.technique) else {
                    continue;
                };
                if a >= flow.steps.len() {
                    continue;
                }
                let mut met: Vec<usize> = Vec::new();
                for (d, s) in history(flow, &preds, a).iter().rev().enumerate() {
                    let Some(t) = s.technique.filter(|t| !met.contains(t)) else {
                        continue;
                    };
                    met.push(t);
                    let d = d.min(REPEAT_DEPTH - 1);
                    chances[d] += 1.0;
                    hits[d] += f64::from(u8::from(t == next));
                }
            }
        }
        let total: f64 = chances.iter().sum();
        if total == 0.0 {
            return Vec::new();
        }
        let pooled = hits.iter().sum::<f64>() / total;
        hits.iter()
            .zip(&chances)
            .map(|(h, c)| (h + pooled) / (c + 1.0))
            .collect()
    }

    /// Techniques for generated flows: a small alphabet, so that repeats
    /// at every distance happen.
    const ALPHABET: [&str; 9] = [
        "T1566.001",
        "T1059.001",
        "T1105",
        "T1003.001",
        "T1021.002",
        "T1071",
        "T1486",
        "T1082",
        "T1059",
    ];

    /// A flow of `n` actions from the alphabet, some without a technique.
    fn generated(
        kb: &AttackKb,
        source: &str,
        n: usize,
        rnd: &mut impl FnMut(usize) -> usize,
    ) -> ResolvedFlow {
        ResolvedFlow {
            source: source.into(),
            name: source.into(),
            steps: (0..n)
                .map(|_| {
                    let k = rnd(ALPHABET.len() + 1);
                    let technique = ALPHABET.get(k).map(|id| kb.technique_by_id(id).unwrap().0);
                    Step {
                        technique,
                        tactic: technique.and_then(|t| kb.tactics_of(t).first().copied()),
                    }
                })
                .collect(),
            edges: Vec::new(),
        }
    }

    fn xorshift(seed: u64) -> impl FnMut(usize) -> usize {
        let mut r = killchain_testdata::Rng(seed);
        move |m| r.index(m)
    }

    #[test]
    fn repeat_rates_equal_the_per_edge_reference_on_generated_flows() {
        let kb = kb();
        let mut rnd = xorshift(0x2545_f491_4f6c_dd1d);
        let mut flows = Vec::new();
        for i in 0..200 {
            let n = 1 + rnd(40);
            let mut f = generated(&kb, &format!("f{}", i % 7), n, &mut rnd);
            f.edges = match i % 4 {
                // A chain, a timeline of rows of two, a random DAG, a random graph.
                0 => (1..n).map(|j| (j - 1, j)).collect(),
                1 => (2..n)
                    .flat_map(|j| [(j - 2 - (j % 2), j), (j - 1 - (j % 2), j)])
                    .filter(|&(a, b)| a < b)
                    .collect(),
                2 => (0..2 * n)
                    .map(|_| (rnd(n), rnd(n)))
                    .filter(|&(a, b)| a < b)
                    .collect(),
                _ => (0..2 * n).map(|_| (rnd(n + 1), rnd(n + 1))).collect(),
            };
            f.edges.sort_unstable();
            f.edges.dedup();
            flows.push(f);
        }
        let want = repeat_rates_per_edge(&flows);
        assert!(!want.is_empty());
        // Same counts, so the same floating-point results, bit for bit.
        assert_eq!(repeat_rates(&flows), want);
    }

    #[test]
    fn a_20k_action_chain_trains_and_predicts_with_linear_work() {
        // The old repeat rates read 2 * 10^8 history steps here (a BFS and a
        // walk of the whole history per edge); the bound is linear.
        let kb = kb();
        let n = 20_000;
        let mut rnd = xorshift(7);
        let mut chain = generated(&kb, "long.csv", n, &mut rnd);
        chain.edges = (1..n).map(|i| (i - 1, i)).collect();
        let flows = [chain];
        let (rates, work) = repeat_rates_counted(&flows);
        assert_eq!(rates.len(), REPEAT_DEPTH);
        assert!(
            work <= (REPEAT_DEPTH + 2) * n,
            "work {work} for {n} actions"
        );
        let p = Predictor::train(&kb, &flows, Weights::default());
        assert_eq!(p.info().edges, n - 1);
        assert_eq!(p.repeat_rates, rates);
        // The prediction after the whole chain reads it once.
        let r = p.rank(&flows[0].steps);
        let sum: f64 = r.techniques.iter().sum();
        assert!((sum - 1.0).abs() < 1e-9, "{sum}");
        assert!(r.top_techniques(&kb, 1)[0].1 > 0.0);
    }

    #[test]
    fn repeat_rates_count_hits_per_distance() {
        let kb = kb();
        // A B A B, edges 0->1, 1->2, 2->3. Histories (most recent first) and
        // followers: [A] -> B: A at 0 misses; [B, A] -> A: B at 0 misses, A
        // at 1 hits; [A, B] -> B (A's first occurrence from the end is at 0):
        // A at 0 misses, B at 1 hits. Distance 0: 0 of 3, distance 1: 2 of 2,
        // pooled 2 of 5; each shrunk by one pseudo-chance at the pooled rate.
        let f = chain(&kb, "a", &["T1059.001", "T1105", "T1059.001", "T1105"]);
        let r = repeat_rates(&[f]);
        assert_eq!(r.len(), REPEAT_DEPTH);
        let pooled = 2.0 / 5.0;
        assert!((r[0] - pooled / 4.0).abs() < 1e-12, "{r:?}");
        assert!((r[1] - (2.0 + pooled) / 3.0).abs() < 1e-12, "{r:?}");
        // Never met that far back: the pooled rate.
        assert!((r[5] - pooled).abs() < 1e-12);
        assert!(repeat_rates(&[]).is_empty());
    }

    #[test]
    fn a_seen_technique_gets_its_repeat_rate_and_the_rest_is_new() {
        let kb = kb();
        let flows = [
            chain(
                &kb,
                "a",
                &["T1566.001", "T1204.002", "T1059.001", "T1204.002"],
            ),
            chain(&kb, "b", &["T1566.001", "T1204.002", "T1105", "T1059.003"]),
        ];
        let p = Predictor::train(&kb, &flows, Weights::default());
        assert_eq!(p.flow_sets.len(), 2);
        let seen = chain(&kb, "q", &["T1566.001", "T1204.002"]).steps;
        let c = p.components(&seen);
        let (phish, file) = (seen[0].technique.unwrap(), seen[1].technique.unwrap());
        // The new-technique components say nothing about seen techniques.
        for comp in c.tech.iter().flatten() {
            assert_eq!((comp[phish], comp[file]), (0.0, 0.0));
            assert!((comp.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
        // Repeats: the learned rates of their distances (file 0 steps back,
        // phish 1), and the mixture keeps them exactly.
        assert_eq!(
            c.repeat,
            vec![
                (file, p.repeat_rate(0).unwrap()),
                (phish, p.repeat_rate(1).unwrap())
            ]
        );
        let r = p.mix(&c, &p.weights());
        assert!((r.techniques[file] - p.repeat_rate(0).unwrap()).abs() < 1e-9);
        assert!((r.techniques.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        // Without flows the repeat share is Weights::repeat, by recency.
        let kb_only = Predictor::train(&kb, &[], Weights::default());
        let c = kb_only.components(&seen);
        assert!((c.repeat_mass() - Weights::default().repeat).abs() < 1e-9);
        assert!(c.repeat[0].1 > c.repeat[1].1, "the most recent first");
        assert!(
            c.tech[0].is_none() && c.tech[1].is_none(),
            "no flows: no edges"
        );
    }

    #[test]
    fn a_format_1_model_keeps_its_flows_and_drops_its_weights() {
        let v1 = br#"{"format": 1, "attack_version": "18.1", "weights": {"edge": 0.1, "history": 0.1, "procedures": 0.7, "repeat": 0.08, "prior": 0.02, "tactic_direct": 0.2, "tactic_repeat": 0.2, "tactic_offset": 0.3, "history_len": 12, "neighbours": 1000}, "flows": []}"#;
        let m = SavedModel::from_json(v1, "model.json").unwrap();
        assert_eq!(
            (m.format, m.weights, m.flows.len()),
            (SavedModel::FORMAT, None, 0)
        );
        let v2 = SavedModel::new("18.1", Vec::new(), Some(Weights::default()));
        let back = SavedModel::from_json(&v2.to_json(), "model.json").unwrap();
        assert_eq!(back.weights, Some(Weights::default()));
    }
}
