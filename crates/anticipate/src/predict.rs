//! The prediction API: [`Anticipator::predict`] turns what was seen
//! ([`Observed`]: technique / tactic IDs in time order, from technique IDs, a
//! findings file or, later, an incident) into a [`Prediction`]: next tactics,
//! techniques and kill chain phases with probabilities and evidence, likely
//! adversaries, countermeasures and playbooks.
//!
//! ```
//! use killchain_anticipate::{Anticipator, Observed, PredictOptions, Playbooks};
//! use killchain_anticipate::model::{Predictor, Weights};
//! use killchain_kb::{models::ModelSet, AttackData, AttackKb};
//! let kb = AttackKb::new(AttackData::embedded().unwrap());
//! let models = ModelSet::new(&kb, vec![]).unwrap();
//! let predictor = Predictor::train(&kb, &[], Weights::default()); // kb alone
//! let a = Anticipator::new(predictor, &models, Playbooks::builtin(), PredictOptions::default());
//! let p = a.predict(&Observed::techniques(&["T1566.001", "T1059.001"]));
//! assert_eq!(p.next_techniques.len(), 5);
//! assert!(p.adversaries.groups.len() <= 5);
//! ```

use killchain_kb::models::{ModelSet, PlaceInput};

use crate::adversary::likely_adversaries;
use crate::model::{parent_level, Count, EntityKind, Predictor, Step};
use crate::prediction::*;
use crate::respond::{countermeasures, Playbooks};

/// "3 flows (5 edges)", "1 flow (1 edge)".
fn flows(c: Count) -> String {
    let s = |n: u32| if n == 1 { "" } else { "s" };
    format!(
        "{} flow{} ({} edge{})",
        c.flows,
        s(c.flows),
        c.edges,
        s(c.edges)
    )
}

/// How much to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PredictOptions {
    /// Next tactics, techniques and phases to list.
    pub top: usize,
    /// Groups, campaigns and software to list (each).
    pub adversaries: usize,
    /// Predicted techniques that get countermeasures (observed ones always do).
    pub countermeasures_for: usize,
    /// Predicted techniques whose phases make up the phase outlook.
    pub phase_candidates: usize,
}

impl Default for PredictOptions {
    fn default() -> Self {
        PredictOptions {
            top: 5,
            adversaries: 5,
            countermeasures_for: 3,
            phase_candidates: 50,
        }
    }
}

/// The trained predictor with the models and playbooks it answers with.
#[derive(Debug, Clone)]
pub struct Anticipator<'k> {
    predictor: Predictor<'k>,
    models: &'k ModelSet,
    playbooks: Playbooks,
    options: PredictOptions,
    /// [model][technique] -> (tactic, primary phase) for each of its
    /// ATT&CK tactics: the phase outlook places dozens of candidates per
    /// prediction, so they are placed once here.
    placed: Vec<Vec<Vec<(usize, usize)>>>,
}

impl<'k> Anticipator<'k> {
    pub fn new(
        predictor: Predictor<'k>,
        models: &'k ModelSet,
        playbooks: Playbooks,
        options: PredictOptions,
    ) -> Self {
        let kb = predictor.kb();
        let placed = (0..models.models().len())
            .map(|m| {
                (0..kb.data().techniques.len())
                    .map(|t| {
                        kb.tactics_of(t)
                            .into_iter()
                            .filter_map(|tac| {
                                let input = PlaceInput {
                                    techniques: &[t],
                                    tactics: &[tac],
                                    named_phases: &[],
                                };
                                models.place(m, &input).map(|pl| (tac, pl.primary))
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        Anticipator {
            predictor,
            models,
            playbooks,
            options,
            placed,
        }
    }

    pub fn predictor(&self) -> &Predictor<'k> {
        &self.predictor
    }

    /// Resolve the observation against the kb: steps, distinct techniques
    /// (first-seen order) and notes on what could not be used.
    pub fn resolve(&self, observed: &Observed) -> (Vec<Step>, Vec<usize>, Vec<String>) {
        let kb = self.predictor.kb();
        let mut notes = Vec::new();
        let mut steps = Vec::new();
        let mut distinct = Vec::new();
        for s in &observed.steps {
            let technique = s
                .technique
                .as_deref()
                .and_then(|id| match kb.technique_by_id(id) {
                    Some((t, redirected)) => {
                        if let Some(from) = redirected {
                            let note = format!(
                                "{from} is revoked in ATT&CK, read as {}",
                                kb.technique(t).id
                            );
                            if !notes.contains(&note) {
                                notes.push(note);
                            }
                        }
                        Some(t)
                    }
                    None => {
                        let note = format!("unknown technique {id:?} (left out)");
                        if !notes.contains(&note) {
                            notes.push(note);
                        }
                        None
                    }
                });
            let own = s.tactic.as_deref().and_then(|id| {
                let r = kb.tactic_by_token(id);
                if r.is_none() {
                    let note = format!("unknown tactic {id:?} (left out)");
                    if !notes.contains(&note) {
                        notes.push(note);
                    }
                }
                r
            });
            let tactic = own.or_else(|| match technique.map(|t| kb.tactics_of(t)) {
                Some(v) if v.len() == 1 => Some(v[0]),
                _ => None,
            });
            if technique.is_none() && tactic.is_none() {
                continue;
            }
            if let Some(t) = technique {
                if !distinct.contains(&t) {
                    distinct.push(t);
                }
            }
            steps.push(Step { technique, tactic });
        }
        (steps, distinct, notes)
    }

    /// Predict from what was seen.
    pub fn predict(&self, observed: &Observed) -> Prediction {
        let p = &self.predictor;
        let kb = p.kb();
        let o = self.options;
        let (steps, distinct, notes) = self.resolve(observed);
        let ranking = p.rank(&steps);
        let top_tech = ranking.top_techniques(kb, o.top.max(o.phase_candidates));
        let top_tac = ranking.top_tactics(kb, o.top);

        let mut seen_parents: Vec<usize> =
            distinct.iter().map(|&t| p.procedures().parent(t)).collect();
        seen_parents.sort_unstable();
        seen_parents.dedup();
        let similar: Vec<u32> = if seen_parents.is_empty() {
            Vec::new()
        } else {
            p.procedures()
                .similar(&seen_parents)
                .into_iter()
                .take(p.weights().neighbours)
                .map(|(e, _)| e)
                .collect()
        };

        let next_techniques: Vec<ScoredTechnique> = top_tech
            .iter()
            .take(o.top)
            .map(|&(t, prob)| {
                let tech = kb.technique(t);
                ScoredTechnique {
                    id: tech.id.clone(),
                    name: tech.name.clone(),
                    tactics: kb
                        .tactics_of(t)
                        .iter()
                        .map(|&i| kb.tactic(i).id.clone())
                        .collect(),
                    probability: prob,
                    evidence: self.technique_evidence(&steps, &distinct, &similar, t),
                }
            })
            .collect();
        let observed_tactics: Vec<usize> = steps.iter().filter_map(|s| s.tactic).collect();
        let next_tactics: Vec<ScoredTactic> = top_tac
            .iter()
            .map(|&(tac, prob)| {
                let t = kb.tactic(tac);
                let mut evidence = Vec::new();
                if let Some(last) = steps.last().and_then(|s| s.tactic) {
                    if let Some(c) = p.by_tactic.get(&last).and_then(|f| f.tactics.get(&tac)) {
                        evidence.push(format!("follows {} in {}", kb.tactic(last).name, flows(*c)));
                    }
                }
                let via: Vec<&str> = top_tech
                    .iter()
                    .take(10)
                    .filter(|(x, _)| kb.tactics_of(*x).contains(&tac))
                    .map(|(x, _)| kb.technique(*x).id.as_str())
                    .collect();
                if !via.is_empty() {
                    evidence.push(format!("likely techniques under it: {}", via.join(", ")));
                }
                if observed_tactics.contains(&tac) {
                    evidence.push("already reached in this incident".into());
                }
                ScoredTactic {
                    id: t.id.clone(),
                    name: t.name.clone(),
                    probability: prob,
                    evidence,
                }
            })
            .collect();

        let kill_chain = self.phase_outlook(&steps, &top_tech);
        let adversaries = likely_adversaries(kb, p.procedures(), &distinct, o.adversaries);
        let mut cms: Vec<Countermeasure> = distinct
            .iter()
            .map(|&t| countermeasures(kb, t, Role::Observed))
            .collect();
        cms.extend(
            top_tech
                .iter()
                .filter(|(t, _)| !distinct.contains(t))
                .take(o.countermeasures_for)
                .map(|&(t, _)| countermeasures(kb, t, Role::Predicted)),
        );
        let playbooks = self.attach_playbooks(&kill_chain);
        Prediction {
            observed: distinct
                .iter()
                .map(|&t| ObservedTechnique {
                    id: kb.technique(t).id.clone(),
                    name: kb.technique(t).name.clone(),
                    tactics: kb
                        .tactics_of(t)
                        .iter()
                        .map(|&i| kb.tactic(i).id.clone())
                        .collect(),
                })
                .collect(),
            notes,
            next_tactics,
            next_techniques,
            kill_chain,
            adversaries,
            countermeasures: cms,
            playbooks,
            model: p.info().clone(),
        }
    }

    fn technique_evidence(
        &self,
        steps: &[Step],
        distinct: &[usize],
        similar: &[u32],
        t: usize,
    ) -> Vec<String> {
        let p = &self.predictor;
        let kb = p.kb();
        let mut ev = Vec::new();
        if let Some(&last) = steps.last() {
            match p.follow_count(last, t) {
                [_, _, Some(c)] => ev.push(format!(
                    "follows {} in {}",
                    kb.technique(last.technique.unwrap_or_default()).id,
                    flows(c)
                )),
                [_, Some(c), None] => ev.push(format!(
                    "follows {} or its sub-techniques in {}",
                    kb.technique(parent_level(kb, last.technique.unwrap_or_default()))
                        .id,
                    flows(c)
                )),
                [Some(c), None, None] => ev.push(format!(
                    "follows {} actions in {}",
                    kb.tactic(last.tactic.unwrap_or_default()).name,
                    flows(c)
                )),
                _ => {}
            }
            let last_t = last.technique;
            let earlier = steps.iter().rev().skip(1).find_map(|s| {
                let h = s.technique.filter(|&h| Some(h) != last_t)?;
                p.by_technique.get(&h)?.techniques.get(&t).map(|c| (h, *c))
            });
            if let Some((h, c)) = earlier {
                ev.push(format!(
                    "follows {} (seen earlier) in {}",
                    kb.technique(h).id,
                    flows(c)
                ));
            }
        }
        let procs = p.procedures();
        let users: Vec<&crate::model::Entity> = similar
            .iter()
            .map(|&e| &procs.entities[e as usize])
            .filter(|e| e.techniques.binary_search(&t).is_ok())
            .collect();
        if !users.is_empty() {
            let count = |k: EntityKind| users.iter().filter(|e| e.kind == k).count();
            let (g, c, s) = (
                count(EntityKind::Group),
                count(EntityKind::Campaign),
                count(EntityKind::Software),
            );
            let names: Vec<&str> = users
                .iter()
                .filter(|e| e.kind == EntityKind::Group)
                .take(3)
                .map(|e| e.name.as_str())
                .collect();
            let eg = if names.is_empty() {
                String::new()
            } else {
                format!(" (most alike: {})", names.join(", "))
            };
            ev.push(format!(
                "used by {g} groups, {c} campaigns and {s} software that also used what you saw{eg}"
            ));
        } else {
            ev.push(format!(
                "used by {} groups, campaigns and software in ATT&CK",
                procs.df.get(t).copied().unwrap_or(0)
            ));
        }
        // Co-usage: the seen technique whose users most often use `t` too.
        let best = distinct
            .iter()
            .filter(|&&s| s != t)
            .map(|&s| (s, procs.cousage_share(s, t)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((s, share)) = best.filter(|x| x.1 >= 0.05) {
            ev.push(format!(
                "used with {} (or its family) by {:.0}% of the groups, campaigns and software that use it",
                kb.technique(s).id,
                share * 100.0
            ));
        }
        let back = steps.iter().rev().position(|s| s.technique == Some(t));
        if let Some(share) = p.parent_share(t).filter(|_| back.is_none()) {
            ev.push(format!(
                "gets {:.0}% of the {} family's probability: how often the training flows write the parent technique rather than a sub-technique",
                share * 100.0,
                kb.technique(t).id
            ));
        }
        if let Some(back) = back {
            ev.push(match p.repeat_rate(back) {
                Some(r) => format!(
                    "already seen in this incident, {back} step{} back (in the training flows {:.0}% of next techniques repeat the one seen that far back)",
                    if back == 1 { "" } else { "s" },
                    r * 100.0
                ),
                None => "already seen in this incident (attackers repeat techniques)".into(),
            });
        }
        ev
    }

    /// Per model: the deepest phase reached and the next phases.
    fn phase_outlook(&self, steps: &[Step], top_tech: &[(usize, f64)]) -> Vec<PhaseOutlook> {
        let p = &self.predictor;
        let place = |m: usize, t: Option<usize>, tac: Option<usize>| {
            let techniques: Vec<usize> = t.into_iter().collect();
            let tactics: Vec<usize> = tac.into_iter().collect();
            self.models
                .place(
                    m,
                    &PlaceInput {
                        techniques: &techniques,
                        tactics: &tactics,
                        named_phases: &[],
                    },
                )
                .map(|pl| pl.primary)
        };
        self.models
            .models()
            .iter()
            .enumerate()
            .map(|(m, model)| {
                let current = steps
                    .iter()
                    .filter_map(|s| place(m, s.technique, s.tactic))
                    .max()
                    .map(|ph| Named::new(&model.phases[ph].id, &model.phases[ph].name));
                let mut probs = vec![0.0; model.phases.len()];
                for &(t, pt) in top_tech {
                    let placed = &self.placed[m][t];
                    p.tactic_split(t, |tac, share| {
                        let ph = match placed.iter().find(|(x, _)| *x == tac) {
                            Some(&(_, ph)) => Some(ph),
                            // A tactic flows gave it that ATT&CK does not list.
                            None => place(m, Some(t), Some(tac)),
                        };
                        if let Some(ph) = ph {
                            probs[ph] += pt * share;
                        }
                    });
                }
                let sum: f64 = probs.iter().sum();
                if sum > 0.0 {
                    probs.iter_mut().for_each(|x| *x /= sum);
                }
                let mut next: Vec<ScoredPhase> = probs
                    .iter()
                    .enumerate()
                    .filter(|(_, &x)| x > 0.0)
                    .map(|(i, &x)| ScoredPhase {
                        id: model.phases[i].id.clone(),
                        name: model.phases[i].name.clone(),
                        probability: x,
                    })
                    .collect();
                next.sort_by(|a, b| {
                    b.probability
                        .total_cmp(&a.probability)
                        .then_with(|| a.id.cmp(&b.id))
                });
                next.truncate(self.options.top);
                PhaseOutlook {
                    model: model.id.clone(),
                    current,
                    next,
                }
            })
            .collect()
    }

    /// The playbook of the current stage and of the most likely next stage
    /// other than the current one, for each model that has them.
    fn attach_playbooks(&self, outlook: &[PhaseOutlook]) -> Vec<PlaybookAttachment> {
        let mut out = Vec::new();
        for o in outlook {
            let current = o.current.as_ref();
            let next = o
                .next
                .iter()
                .find(|n| current.is_none_or(|c| c.id != n.id))
                .map(|n| Named::new(&n.id, &n.name));
            for (stage, phase) in [(Stage::Current, current.cloned()), (Stage::Next, next)] {
                let Some(phase) = phase else { continue };
                if let Some(pb) = self.playbooks.get(&o.model, &phase.id) {
                    out.push(PlaybookAttachment {
                        stage,
                        phase_name: phase.name.clone(),
                        playbook: pb.clone(),
                    });
                }
            }
        }
        out
    }
}
