//! The mapper: one JSON record in, one [`Finding`] out.
//!
//! Finds the record's ATT&CK references (`extract.rs`) and facts
//! (`facts.rs`), resolves them against the knowledge base (following
//! revoked-by redirects), and places the result in every selected kill chain
//! model (`killchain_kb::models`). Pure: no I/O, no clock.

use killchain_kb::models::{ModelSet, PlaceInput};
use killchain_kb::AttackKb;
use serde_json::Value;

use crate::extract::{extract_references, FieldPaths, RefValue, Reference};
use crate::facts::extract_facts;
use crate::finding::{
    Evidence, Finding, Placement, RecordRef, Source, SourceKind, TacticHit, TechniqueHit,
};

/// Something worth telling the user about one record, beside the finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// The record used a revoked ATT&CK ID; it was replaced.
    Redirected {
        field: String,
        from: String,
        to: String,
    },
    /// A reference that looks like ATT&CK but is not in the knowledge base.
    Unknown { field: String, value: String },
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Note::Redirected { field, from, to } => {
                write!(f, "{field}: {from} is revoked in ATT&CK, mapped as {to}")
            }
            Note::Unknown { field, value } => {
                write!(
                    f,
                    "{field}: {value:?} is not a known ATT&CK technique or tactic"
                )
            }
        }
    }
}

/// The result of mapping one record.
#[derive(Debug, Clone)]
pub struct Mapped {
    pub finding: Finding,
    pub notes: Vec<Note>,
}

/// Maps records to findings. Build once, call `map_record` per record.
#[derive(Debug)]
pub struct Mapper<'a> {
    kb: &'a AttackKb,
    models: &'a ModelSet,
    /// Indexes into `models` of the models to place findings in, in output order.
    selected: Vec<usize>,
    paths: FieldPaths,
    source_kind: SourceKind,
}

impl<'a> Mapper<'a> {
    /// `selected` are model indexes in `models` (all models when empty).
    pub fn new(
        kb: &'a AttackKb,
        models: &'a ModelSet,
        selected: Vec<usize>,
        paths: FieldPaths,
    ) -> Self {
        let selected = if selected.is_empty() {
            (0..models.models().len()).collect()
        } else {
            selected
        };
        Mapper {
            kb,
            models,
            selected,
            paths,
            source_kind: SourceKind::Alert,
        }
    }

    /// What kind of source the findings come from (default `alert`).
    pub fn with_source_kind(mut self, kind: SourceKind) -> Self {
        self.source_kind = kind;
        self
    }

    pub fn kb(&self) -> &AttackKb {
        self.kb
    }
    pub fn models(&self) -> &ModelSet {
        self.models
    }
    pub fn selected(&self) -> &[usize] {
        &self.selected
    }

    /// Map one record. `record_ref` says where it came from.
    pub fn map_record(&self, record: &Value, record_ref: RecordRef) -> Mapped {
        let mut refs = Vec::new();
        extract_references(record, &self.paths, &mut refs);
        let facts = extract_facts(record);
        let mut finding = Finding {
            time: facts.time,
            source: Source {
                kind: self.source_kind,
                product: facts.product,
                rule: facts.rule,
            },
            entities: facts.entities,
            record: RecordRef {
                record_id: record_ref.record_id.or(facts.record_id),
                ..record_ref
            },
            ..Finding::default()
        };
        let mut notes = Vec::new();
        self.resolve(&refs, &mut finding, &mut notes);
        Mapped { finding, notes }
    }

    /// Map from references already found (the Sigma engine knows its tags):
    /// resolves them and places the finding, filling `finding` in place.
    pub fn resolve(&self, refs: &[Reference], finding: &mut Finding, notes: &mut Vec<Note>) {
        let kb = self.kb;
        let mut techniques: Vec<usize> = Vec::new();
        let mut explicit_tactics: Vec<usize> = Vec::new();
        let mut named_phases: Vec<(String, String)> = Vec::new();
        let mut confidence: f32 = 0.0;
        for r in refs {
            let used = match &r.value {
                RefValue::Technique(id) => match kb.technique_by_id(id) {
                    Some((t, redirected)) => {
                        if let Some(from) = &redirected {
                            notes.push(Note::Redirected {
                                field: r.field.clone(),
                                from: from.clone(),
                                to: kb.technique(t).id.clone(),
                            });
                        }
                        if !techniques.contains(&t) {
                            techniques.push(t);
                            finding.techniques.push(TechniqueHit {
                                id: kb.technique(t).id.clone(),
                                name: kb.technique(t).name.clone(),
                                parent_name: kb.parent_of(t).map(|p| kb.technique(p).name.clone()),
                                redirected_from: redirected,
                            });
                        }
                        true
                    }
                    None => {
                        notes.push(Note::Unknown {
                            field: r.field.clone(),
                            value: r.raw.clone(),
                        });
                        false
                    }
                },
                RefValue::TacticId(tok) | RefValue::TacticName(tok) => {
                    match kb.tactic_by_token(tok) {
                        Some(t) => {
                            if !explicit_tactics.contains(&t) {
                                explicit_tactics.push(t);
                            }
                            true
                        }
                        None => {
                            notes.push(Note::Unknown {
                                field: r.field.clone(),
                                value: r.raw.clone(),
                            });
                            false
                        }
                    }
                }
                RefValue::Group(id) | RefValue::Software(id) => {
                    if kb.resolve_id(id).is_some() {
                        if !finding.attributions.contains(id) {
                            finding.attributions.push(id.clone());
                        }
                        true
                    } else {
                        notes.push(Note::Unknown {
                            field: r.field.clone(),
                            value: r.raw.clone(),
                        });
                        false
                    }
                }
                RefValue::Phase { chain, phase } => {
                    named_phases.push((chain.clone(), phase.clone()));
                    true
                }
            };
            if used {
                confidence = confidence.max(r.confidence);
                finding.evidence.push(Evidence {
                    field: r.field.clone(),
                    value: r.raw.clone(),
                    dialect: r.dialect.as_str().to_string(),
                });
            }
        }

        // Tactics on the finding: the record's own, plus each technique's
        // tactics (narrowed to the record's when they overlap).
        let mut tactics = explicit_tactics.clone();
        for &t in &techniques {
            let own = kb.tactics_of(t);
            let hinted: Vec<usize> = own
                .iter()
                .copied()
                .filter(|x| explicit_tactics.contains(x))
                .collect();
            tactics.extend(if hinted.is_empty() { own } else { hinted });
        }
        tactics.sort_unstable();
        tactics.dedup();
        finding.tactics = tactics
            .iter()
            .map(|&i| {
                let t = kb.tactic(i);
                TacticHit {
                    id: t.id.clone(),
                    name: t.name.clone(),
                    shortname: t.shortname.clone(),
                }
            })
            .collect();
        finding.confidence = confidence;

        let input = PlaceInput {
            techniques: &techniques,
            tactics: &explicit_tactics,
            named_phases: &named_phases,
        };
        for &mi in &self.selected {
            let model = &self.models.models()[mi];
            if let Some(p) = self.models.place(mi, &input) {
                // Evidence that splits across phases is less certain about the primary one.
                let ambiguity = 1.0 / (1.0 + 0.25 * (p.phases.len() as f32 - 1.0));
                finding.phases.insert(
                    model.id.clone(),
                    Placement {
                        phase: model.phases[p.primary].id.clone(),
                        phase_index: p.primary,
                        phases: p
                            .phases
                            .iter()
                            .map(|&i| model.phases[i].id.clone())
                            .collect(),
                        rationale: p.rationale,
                        confidence: round2(confidence * ambiguity),
                    },
                );
            }
        }
    }
}

fn round2(x: f32) -> f32 {
    (x * 100.0).round() / 100.0
}
