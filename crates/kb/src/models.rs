//! Kill chain models as data, and the ATT&CK -> phase mapping.
//!
//! A model (`lm`, `ukc`, custom) is a YAML file: ordered phases plus a mapping
//! with a default phase per ATT&CK tactic and overrides per technique where a
//! tactic is too coarse (Phishing is LM delivery although Initial Access
//! techniques include exploits). The `attack` model is generated from the
//! knowledge base: one phase per tactic, in matrix order, so new tactics
//! (ATT&CK v19's Defense Impairment) appear without code changes.
//!
//! `ModelSet::new` binds the models to a knowledge base and precomputes, for
//! every technique and tactic, the phases it maps to in every model together
//! with a one-line rationale; placing a finding is then table look-ups.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::attack::{fold_name, AttackKb};
use crate::KbError;

/// The built-in model files, embedded. `attack` is generated from the kb.
pub const BUILTIN_MODEL_FILES: &[(&str, &str)] = &[
    ("lm.yaml", include_str!("../models/lm.yaml")),
    ("ukc.yaml", include_str!("../models/ukc.yaml")),
];

/// One stage of a kill chain model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Phase {
    pub id: String,
    pub name: String,
    /// 0-based position in the model.
    pub index: usize,
    /// Phase group (`in`, `through`, `out` in the Unified Kill Chain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

/// A named group of phases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseGroup {
    pub id: String,
    pub name: String,
}

/// Where a model came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "path")]
pub enum Origin {
    Builtin,
    /// Generated from the ATT&CK knowledge base (the `attack` model).
    Kb,
    File(String),
}

/// A mapping row: a tactic's default phases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TacticRule {
    /// As written in the model: a tactic ID (preferred) or shortname.
    pub tactic: String,
    pub phases: Vec<usize>,
    pub rationale: String,
}

/// A mapping row: a technique override.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TechniqueRule {
    pub technique: String,
    pub phases: Vec<usize>,
    pub rationale: String,
    /// Whether sub-techniques inherit this override (default true).
    pub subtechniques: bool,
}

/// A kill chain model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Model {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub phases: Vec<Phase>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<PhaseGroup>,
    /// STIX `kill_chain_name` values whose phases name this model's phases directly.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stix_chain_names: Vec<String>,
    pub tactic_rules: Vec<TacticRule>,
    pub technique_rules: Vec<TechniqueRule>,
    pub origin: Origin,
}

// ---- YAML file shape -------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    id: String,
    name: String,
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    stix_chain_names: Vec<String>,
    phases: Vec<PhaseSpec>,
    #[serde(default)]
    groups: Vec<PhaseGroup>,
    #[serde(default)]
    mapping: MappingSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PhaseSpec {
    id: String,
    name: String,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingSpec {
    #[serde(default)]
    tactics: Vec<TacticRuleSpec>,
    #[serde(default)]
    techniques: Vec<TechniqueRuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TacticRuleSpec {
    tactic: String,
    phases: Vec<String>,
    rationale: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TechniqueRuleSpec {
    technique: String,
    phases: Vec<String>,
    rationale: String,
    #[serde(default = "yes")]
    subtechniques: bool,
}

fn yes() -> bool {
    true
}

impl Model {
    /// Parse a model from YAML. `input` names the file in errors.
    pub fn from_yaml(text: &str, input: &str, origin: Origin) -> Result<Model, KbError> {
        crate::yaml_depth::check(text).map_err(|reason| KbError::Model {
            input: input.to_string(),
            reason,
        })?;
        let file: ModelFile = yaml_serde::from_str(text).map_err(|source| KbError::Yaml {
            input: input.to_string(),
            source,
        })?;
        let _ = &file.description; // accepted for documentation; not used by the engine
        let err = |reason: String| KbError::Model {
            input: input.to_string(),
            reason,
        };
        if file.id.trim().is_empty() || file.id.contains(|c: char| c.is_whitespace() || c == '.') {
            return Err(err(format!(
                "model id {:?} must be a non-empty word without spaces or dots",
                file.id
            )));
        }
        if file.phases.is_empty() {
            return Err(err("a model needs at least one phase".into()));
        }
        let mut phases = Vec::with_capacity(file.phases.len());
        for (index, p) in file.phases.into_iter().enumerate() {
            if let Some(g) = &p.group {
                if !file.groups.iter().any(|x| &x.id == g) {
                    return Err(err(format!(
                        "phase {:?} names group {:?}, which `groups` does not define",
                        p.id, g
                    )));
                }
            }
            phases.push(Phase {
                id: p.id,
                name: p.name,
                index,
                group: p.group,
                aliases: p.aliases,
            });
        }
        let mut model = Model {
            id: file.id,
            name: file.name,
            reference: file.reference,
            phases,
            groups: file.groups,
            stix_chain_names: file.stix_chain_names,
            tactic_rules: Vec::new(),
            technique_rules: Vec::new(),
            origin,
        };
        // Phase IDs and aliases must be unambiguous.
        // Keyed by phase position: two phases with the same id clash too.
        let mut seen = HashMap::new();
        for p in &model.phases {
            for name in std::iter::once(&p.id).chain(&p.aliases) {
                if let Some(other) = seen
                    .insert(fold_name(name), p.index)
                    .filter(|&o| o != p.index)
                {
                    return Err(err(format!(
                        "phase name {name:?} is used by both {:?} (phase {}) and {:?} (phase {})",
                        model.phases[other].id,
                        other + 1,
                        p.id,
                        p.index + 1
                    )));
                }
            }
        }
        let resolve = |model: &Model, names: &[String], row: &str| -> Result<Vec<usize>, KbError> {
            if names.is_empty() {
                return Err(err(format!("{row}: `phases` is empty")));
            }
            names
                .iter()
                .map(|n| {
                    model
                        .phase_by_name(n)
                        .ok_or_else(|| err(format!("{row}: unknown phase {n:?}")))
                })
                .collect()
        };
        for r in file.mapping.tactics {
            let phases = resolve(&model, &r.phases, &format!("tactic {}", r.tactic))?;
            model.tactic_rules.push(TacticRule {
                tactic: r.tactic.trim().to_string(),
                phases,
                rationale: r.rationale,
            });
        }
        for r in file.mapping.techniques {
            let phases = resolve(&model, &r.phases, &format!("technique {}", r.technique))?;
            model.technique_rules.push(TechniqueRule {
                technique: r.technique.trim().to_ascii_uppercase(),
                phases,
                rationale: r.rationale,
                subtechniques: r.subtechniques,
            });
        }
        Ok(model)
    }

    /// The `attack` model: one phase per tactic, in matrix order.
    pub fn attack_from_kb(kb: &AttackKb) -> Model {
        let phases = kb
            .tactics()
            .iter()
            .enumerate()
            .map(|(index, t)| Phase {
                id: t.shortname.clone(),
                name: t.name.clone(),
                index,
                group: None,
                aliases: vec![t.id.clone()],
            })
            .collect();
        let tactic_rules = kb
            .tactics()
            .iter()
            .enumerate()
            .map(|(i, t)| TacticRule {
                tactic: t.id.clone(),
                phases: vec![i],
                rationale: format!("ATT&CK lists it under the {} tactic", t.name),
            })
            .collect();
        Model {
            id: "attack".into(),
            name: "MITRE ATT&CK tactics".into(),
            reference: Some("https://attack.mitre.org/tactics/enterprise/".into()),
            phases,
            groups: Vec::new(),
            stix_chain_names: vec!["mitre-attack".into()],
            tactic_rules,
            technique_rules: Vec::new(),
            origin: Origin::Kb,
        }
    }

    /// A phase by ID or alias, case-insensitive, `_`/space/`-` folded.
    pub fn phase_by_name(&self, name: &str) -> Option<usize> {
        let q = fold_name(name);
        self.phases
            .iter()
            .position(|p| fold_name(&p.id) == q || p.aliases.iter().any(|a| fold_name(a) == q))
    }
}

/// One reason a technique or tactic lands in a phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub phase: usize,
    /// The tactic (kb index) whose default produced it; `None` for a technique override.
    pub tactic: Option<usize>,
    /// One line: what put it there and why. Shared: every finding placed by
    /// this assignment carries the same line, so placing one is a reference
    /// count increment rather than a copy.
    pub rationale: Arc<str>,
}

/// Where some evidence lands in one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPlacement {
    /// Primary phase: the first phase of the first assignment (see `ModelSet::place`).
    pub primary: usize,
    /// All phases, in model order, deduplicated.
    pub phases: Vec<usize>,
    /// One rationale line per assignment kept, primary first (shared with
    /// the assignments; see [`Assignment::rationale`]).
    pub rationale: Vec<Arc<str>>,
}

/// What one finding offers for placement: technique and tactic kb indexes,
/// and phases named directly by the record (STIX kill chain phases).
#[derive(Debug, Clone, Default)]
pub struct PlaceInput<'a> {
    pub techniques: &'a [usize],
    pub tactics: &'a [usize],
    /// (kill_chain_name, phase_name) pairs naming non-ATT&CK chains.
    pub named_phases: &'a [(String, String)],
}

/// Models bound to a knowledge base, with precomputed assignments.
#[derive(Debug, Clone)]
pub struct ModelSet {
    models: Vec<Model>,
    /// [model][technique index] -> assignments.
    by_technique: Vec<Vec<Vec<Assignment>>>,
    /// [model][tactic index] -> assignments.
    by_tactic: Vec<Vec<Vec<Assignment>>>,
    /// [technique index] -> its tactics (kb indexes).
    technique_tactics: Vec<Vec<usize>>,
    /// Problems found while binding (tactics the kb does not know, ...).
    pub warnings: Vec<String>,
}

impl ModelSet {
    /// The built-in models (`lm`, `attack`, `ukc`) followed by user models;
    /// a user model with a built-in ID replaces it.
    pub fn new(kb: &AttackKb, user_models: Vec<Model>) -> Result<ModelSet, KbError> {
        let mut models = Vec::new();
        for (name, text) in BUILTIN_MODEL_FILES {
            models.push(Model::from_yaml(text, name, Origin::Builtin)?);
        }
        models.insert(1, Model::attack_from_kb(kb));
        for m in user_models {
            match models.iter_mut().find(|x| x.id == m.id) {
                Some(slot) => *slot = m,
                None => models.push(m),
            }
        }
        Ok(Self::bind(kb, models))
    }

    /// Bind an explicit list of models.
    pub fn bind(kb: &AttackKb, models: Vec<Model>) -> ModelSet {
        let mut warnings = Vec::new();
        let mut by_technique = Vec::with_capacity(models.len());
        let mut by_tactic = Vec::with_capacity(models.len());
        for m in &models {
            // Tactic index -> rule.
            let mut tactic_rule: Vec<Option<&TacticRule>> = vec![None; kb.tactics().len()];
            for r in &m.tactic_rules {
                match kb.tactic_by_token(&r.tactic) {
                    Some(i) => tactic_rule[i] = Some(r),
                    None => warnings.push(format!(
                        "model {}: tactic {} is not in ATT&CK {} (rule inactive)",
                        m.id,
                        r.tactic,
                        kb.meta().version
                    )),
                }
            }
            for (i, t) in kb.tactics().iter().enumerate() {
                if tactic_rule[i].is_none() {
                    warnings.push(format!(
                        "model {}: no default phase for tactic {} {}",
                        m.id, t.id, t.name
                    ));
                }
            }
            let tactic_table: Vec<Vec<Assignment>> = (0..kb.tactics().len())
                .map(|ti| {
                    let t = kb.tactic(ti);
                    tactic_rule[ti]
                        .map(|r| {
                            r.phases
                                .iter()
                                .map(|&phase| Assignment {
                                    phase,
                                    tactic: Some(ti),
                                    rationale: format!(
                                        "{} {} -> {}: {}",
                                        t.id, t.name, m.phases[phase].id, r.rationale
                                    )
                                    .into(),
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .collect();
            let overrides: HashMap<&str, &TechniqueRule> = m
                .technique_rules
                .iter()
                .map(|r| (r.technique.as_str(), r))
                .collect();
            for r in &m.technique_rules {
                if kb.technique_by_id(&r.technique).is_none() {
                    warnings.push(format!(
                        "model {}: technique {} is not in ATT&CK {} (override inactive)",
                        m.id,
                        r.technique,
                        kb.meta().version
                    ));
                }
            }
            let tech_table = kb
                .data()
                .techniques
                .iter()
                .enumerate()
                .map(|(ti, t)| {
                    let own = overrides.get(t.id.as_str()).map(|r| (*r, None));
                    let inherited = || {
                        let p = t.parent.as_deref()?;
                        let r = overrides.get(p).filter(|r| r.subtechniques)?;
                        Some((*r, Some(p)))
                    };
                    if let Some((rule, via)) = own.or_else(inherited) {
                        let via = via
                            .map(|p| format!(" (override for {p})"))
                            .unwrap_or_default();
                        return rule
                            .phases
                            .iter()
                            .map(|&phase| Assignment {
                                phase,
                                tactic: None,
                                rationale: format!(
                                    "{}{} -> {}: {}",
                                    t.id, via, m.phases[phase].id, rule.rationale
                                )
                                .into(),
                            })
                            .collect();
                    }
                    kb.tactics_of(ti)
                        .into_iter()
                        .flat_map(|tac| tactic_table[tac].iter().cloned())
                        .map(|mut a| {
                            a.rationale = format!("{} via {}", t.id, a.rationale).into();
                            a
                        })
                        .collect()
                })
                .collect();
            by_technique.push(tech_table);
            by_tactic.push(tactic_table);
        }
        let technique_tactics = (0..kb.data().techniques.len())
            .map(|t| kb.tactics_of(t))
            .collect();
        ModelSet {
            models,
            by_technique,
            by_tactic,
            technique_tactics,
            warnings,
        }
    }

    pub fn models(&self) -> &[Model] {
        &self.models
    }

    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.models
            .iter()
            .position(|m| m.id.eq_ignore_ascii_case(id))
    }

    pub fn get(&self, id: &str) -> Option<&Model> {
        self.index_of(id).map(|i| &self.models[i])
    }

    /// The assignments of one technique in one model.
    pub fn technique_assignments(&self, model: usize, technique: usize) -> &[Assignment] {
        &self.by_technique[model][technique]
    }

    /// The assignments of one tactic in one model.
    pub fn tactic_assignments(&self, model: usize, tactic: usize) -> &[Assignment] {
        &self.by_tactic[model][tactic]
    }

    /// Place evidence in one model.
    ///
    /// - Each technique contributes its override, else its tactics' defaults;
    ///   when the record also names tactics that the technique belongs to,
    ///   only those tactics' defaults are kept (a technique under Persistence
    ///   and Privilege Escalation, alerted as Persistence, is installation).
    /// - Tactics the record names that no technique accounts for contribute
    ///   their defaults (tactic-only alerts).
    /// - Phases the record names for this model's STIX chain are taken as is.
    ///
    /// The primary phase is the first phase of the first assignment, in the
    /// order the record gave its references; the ambiguity is visible in
    /// `phases` and lowers the confidence the caller reports.
    pub fn place(&self, model: usize, input: &PlaceInput<'_>) -> Option<ModelPlacement> {
        let m = &self.models[model];
        let mut primary = None;
        let mut phases: Vec<usize> = Vec::new();
        let mut rationale: Vec<Arc<str>> = Vec::new();
        let mut add = |phase: usize, why: &Arc<str>| {
            primary.get_or_insert(phase);
            phases.push(phase);
            if !rationale.contains(why) {
                rationale.push(Arc::clone(why));
            }
        };
        // Phases named directly first, then technique assignments, then the
        // defaults of tactics no technique accounts for.
        for (chain, phase) in input.named_phases {
            if m.stix_chain_names
                .iter()
                .any(|c| fold_name(c) == fold_name(chain))
            {
                if let Some(p) = m.phase_by_name(phase) {
                    add(
                        p,
                        &format!("record names {} phase {:?} directly", chain, phase).into(),
                    );
                }
            }
        }
        for &t in input.techniques {
            for a in self.kept_assignments(model, t, input.tactics) {
                add(a.phase, &a.rationale);
            }
        }
        for &tac in input.tactics {
            if !self.covered(model, input, tac) {
                for a in &self.by_tactic[model][tac] {
                    add(a.phase, &a.rationale);
                }
            }
        }
        let primary = primary?;
        phases.sort_unstable();
        phases.dedup();
        Some(ModelPlacement {
            primary,
            phases,
            rationale,
        })
    }

    /// A technique's assignments in `place`: all of them, or only those of
    /// the tactics the record names, when it names any of them.
    fn kept_assignments<'s>(
        &'s self,
        model: usize,
        technique: usize,
        tactics: &'s [usize],
    ) -> impl Iterator<Item = &'s Assignment> {
        let all = &self.by_technique[model][technique];
        let hinted = move |a: &Assignment| a.tactic.is_some_and(|x| tactics.contains(&x));
        let any_hinted = all.iter().any(hinted);
        all.iter().filter(move |a| !any_hinted || hinted(a))
    }

    /// Whether a technique of `input` accounts for tactic `tac` in `place`:
    /// one of its kept assignments comes from that tactic, or it has an
    /// override (which accounts for every tactic of the technique).
    fn covered(&self, model: usize, input: &PlaceInput<'_>, tac: usize) -> bool {
        input.techniques.iter().any(|&t| {
            self.kept_assignments(model, t, input.tactics)
                .any(|a| a.tactic == Some(tac))
                || (self.by_technique[model][t]
                    .iter()
                    .any(|a| a.tactic.is_none())
                    && self.technique_tactics[t].contains(&tac))
        })
    }

    /// Active techniques with no phase in some model: (model id, technique id).
    pub fn unmapped(&self, kb: &AttackKb) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (mi, m) in self.models.iter().enumerate() {
            for (ti, t) in kb.active_techniques() {
                if self.by_technique[mi][ti].is_empty() {
                    out.push((m.id.clone(), t.id.clone()));
                }
            }
        }
        out
    }
}
