//! The mapper: one JSON record in, one [`Finding`] out.
//!
//! Finds the record's ATT&CK references (`extract.rs`) and facts
//! (`facts.rs`), resolves them against the knowledge base (following
//! revoked-by redirects), and places the result in every selected kill chain
//! model (`killchain_kb::models`). A finding placed through techniques
//! inferred from a signature class (`signature_class.rs`) says so at the
//! start of every rationale line. Pure: no I/O, no clock.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use killchain_kb::models::{ModelSet, PlaceInput};
use killchain_kb::AttackKb;

use crate::extract::{extract_references_in, FieldPaths, RefValue, Reference};
use crate::facts::extract_facts_in;
use crate::finding::{
    Evidence, Finding, Phases, Placement, RecordRef, Source, SourceKind, TacticHit, TechniqueHit,
};
use crate::node::Node;
use crate::signature_class::Inference;

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
    /// The kb's names as findings carry them, built once and shared (`Arc`)
    /// by every finding: copying them per record was much of mapping's cost.
    shared: Shared,
    /// Placements, techniques and tactics by evidence (see `cached`).
    cache: Mutex<rustc_hash::FxHashMap<PlaceKey, Cached>>,
}

/// One evidence's placements in the cache, and the finding maps made of
/// them for the confidences met so far.
#[derive(Debug)]
struct Cached {
    placed: Box<[Placed]>,
    /// The finding's techniques (without revoked-ID redirects) and tactics.
    techniques: Arc<[TechniqueHit]>,
    tactics: Arc<[TacticHit]>,
    /// (confidence as f32 bits, the map findings with it share).
    phases: Vec<(u32, Arc<Phases>)>,
}

/// What findings with the same evidence share.
struct SharedParts {
    techniques: Arc<[TechniqueHit]>,
    tactics: Arc<[TacticHit]>,
    phases: Arc<Phases>,
}

/// Distinct confidences kept per evidence (a reference's confidence comes
/// from a handful of fixed levels; more would be unusual input).
const CONFIDENCES_KEPT: usize = 8;

/// Strings every finding shares, by kb and model index.
#[derive(Debug)]
struct Shared {
    /// [technique index] -> the hit a finding gets (without a redirect).
    techniques: Vec<TechniqueHit>,
    /// [tactic index] -> the hit a finding gets.
    tactics: Vec<TacticHit>,
    /// [technique index] -> its tactics, as `AttackKb::tactics_of` gives them.
    technique_tactics: Vec<Vec<usize>>,
    /// [model index] -> the model's ID and its phase IDs.
    models: Vec<(Arc<str>, Vec<Arc<str>>)>,
}

impl Shared {
    fn new(kb: &AttackKb, models: &ModelSet) -> Self {
        let arc = |s: &str| Arc::<str>::from(s);
        let names: Vec<Arc<str>> = kb.data().techniques.iter().map(|t| arc(&t.name)).collect();
        let techniques = kb
            .data()
            .techniques
            .iter()
            .enumerate()
            .map(|(i, t)| TechniqueHit {
                id: arc(&t.id),
                name: Arc::clone(&names[i]),
                parent_name: kb.parent_of(i).map(|p| Arc::clone(&names[p])),
                redirected_from: None,
            })
            .collect();
        let tactics = kb
            .tactics()
            .iter()
            .map(|t| TacticHit {
                id: arc(&t.id),
                name: arc(&t.name),
                shortname: arc(&t.shortname),
            })
            .collect();
        let technique_tactics = (0..kb.data().techniques.len())
            .map(|t| kb.tactics_of(t))
            .collect();
        let models = models
            .models()
            .iter()
            .map(|m| (arc(&m.id), m.phases.iter().map(|p| arc(&p.id)).collect()))
            .collect();
        Shared {
            techniques,
            tactics,
            technique_tactics,
            models,
        }
    }
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
            shared: Shared::new(kb, models),
            cache: Mutex::default(),
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
    pub fn map_record(&self, record: &Node<'_>, record_ref: RecordRef) -> Mapped {
        let mut refs = Vec::new();
        // One scan of the record's top level for references and facts.
        let present = self.paths.heads().scan(record);
        extract_references_in(record, &self.paths, &present, &mut refs);
        let facts = extract_facts_in(record, &present);
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
        self.resolve(refs, &mut finding, &mut notes);
        Mapped { finding, notes }
    }

    /// Map from references already found (the Sigma engine knows its tags):
    /// resolves them and places the finding, filling `finding` in place: its
    /// techniques, tactics, placements and confidence are set (the lists
    /// shared with other findings of the same evidence), evidence and
    /// attributions appended. The references are consumed: their field paths
    /// and values move into the finding's evidence.
    pub fn resolve(&self, refs: Vec<Reference>, finding: &mut Finding, notes: &mut Vec<Note>) {
        let kb = self.kb;
        // Most records carry one to three references: room for them up front
        // instead of growing each list one push at a time.
        let mut techniques: Vec<usize> = Vec::with_capacity(refs.len());
        // (position in `techniques`, the revoked ID the record used).
        let mut redirects: Vec<(usize, String)> = Vec::new();
        let mut explicit_tactics: Vec<usize> = Vec::with_capacity(refs.len());
        finding.evidence.reserve(refs.len());
        let mut named_phases: Vec<(String, String)> = Vec::new();
        // The signature class the techniques were inferred from, if they were.
        let mut inferred: Option<Inference> = None;
        // The best reference confidence, in f32 as references give it (see `round2`).
        let mut confidence: f32 = 0.0;
        for r in refs {
            let used = match r.value {
                RefValue::Technique(id) => match kb.technique_by_id(&id) {
                    Some((t, redirected)) => {
                        if let Some(from) = &redirected {
                            notes.push(Note::Redirected {
                                field: r.field.clone(),
                                from: from.clone(),
                                to: kb.technique(t).id.clone(),
                            });
                        }
                        if !techniques.contains(&t) {
                            if let Some(from) = redirected {
                                redirects.push((techniques.len(), from));
                            }
                            techniques.push(t);
                        }
                        true
                    }
                    None => false,
                },
                RefValue::Inferred { technique, from } => {
                    // The table's IDs are current in the embedded ATT&CK
                    // (tested); one missing from an older imported release
                    // is dropped without a note: the record never named it.
                    let Some((t, _)) = kb.technique_by_id(technique) else {
                        continue;
                    };
                    if !techniques.contains(&t) {
                        techniques.push(t);
                    }
                    inferred.get_or_insert(from);
                    true
                }
                RefValue::TacticId(tok) | RefValue::TacticName(tok) => {
                    match kb.tactic_by_token(&tok) {
                        Some(t) => {
                            if !explicit_tactics.contains(&t) {
                                explicit_tactics.push(t);
                            }
                            true
                        }
                        None => false,
                    }
                }
                RefValue::Group(id) | RefValue::Software(id) => {
                    if kb.resolve_id(&id).is_some() {
                        if !finding.attributions.contains(&id) {
                            finding.attributions.push(id);
                        }
                        true
                    } else {
                        false
                    }
                }
                RefValue::Phase { chain, phase } => {
                    named_phases.push((chain, phase));
                    true
                }
            };
            if used {
                confidence = confidence.max(r.confidence);
                finding.evidence.push(Evidence {
                    field: r.field,
                    value: r.raw,
                    dialect: Cow::Borrowed(r.dialect.as_str()),
                });
            } else {
                notes.push(Note::Unknown {
                    field: r.field,
                    value: r.raw,
                });
            }
        }

        finding.confidence = round2(confidence);
        if named_phases.is_empty() {
            if let Some(key) = PlaceKey::new(&techniques, &explicit_tactics, inferred.as_ref()) {
                let shared = self.cached(
                    key,
                    &techniques,
                    &explicit_tactics,
                    inferred.as_ref(),
                    confidence,
                );
                finding.phases = shared.phases;
                finding.tactics = shared.tactics;
                finding.techniques = if redirects.is_empty() {
                    shared.techniques
                } else {
                    self.technique_hits(&techniques, &redirects)
                };
                return;
            }
        }
        finding.techniques = self.technique_hits(&techniques, &redirects);
        finding.tactics = self.tactic_hits(&techniques, &explicit_tactics);
        let placed = self.place(
            &techniques,
            &explicit_tactics,
            &named_phases,
            inferred.as_ref(),
        );
        finding.phases = Arc::new(phases_of(&placed, confidence));
    }

    /// The finding's techniques: the kb's shared hits, with the revoked IDs
    /// the record used.
    fn technique_hits(
        &self,
        techniques: &[usize],
        redirects: &[(usize, String)],
    ) -> Arc<[TechniqueHit]> {
        techniques
            .iter()
            .enumerate()
            .map(|(i, &t)| TechniqueHit {
                redirected_from: redirects
                    .iter()
                    .find(|(at, _)| *at == i)
                    .map(|(_, from)| from.clone()),
                ..self.shared.techniques[t].clone()
            })
            .collect()
    }

    /// Tactics on the finding: the record's own, plus each technique's
    /// tactics (narrowed to the record's when they overlap), in matrix order.
    fn tactic_hits(&self, techniques: &[usize], explicit_tactics: &[usize]) -> Arc<[TacticHit]> {
        let mut tactics = explicit_tactics.to_vec();
        for &t in techniques {
            let own = &self.shared.technique_tactics[t];
            let hinted = |x: &usize| explicit_tactics.contains(x);
            let any_hinted = own.iter().any(hinted);
            tactics.extend(own.iter().copied().filter(|x| !any_hinted || hinted(x)));
        }
        tactics.sort_unstable();
        tactics.dedup();
        tactics
            .iter()
            .map(|&i| self.shared.tactics[i].clone())
            .collect()
    }

    /// The finding's placements for this evidence and confidence from the
    /// cache, computing and storing them on a miss. Alerts repeat: a SIEM
    /// stream carries the same few hundred rule / technique combinations
    /// over and over; placing was a fifth of mapping's cost before the
    /// cache, and building each finding's own map (a B-tree node and a dozen
    /// reference counts) much of the rest, so findings share one.
    fn cached(
        &self,
        key: PlaceKey,
        techniques: &[usize],
        tactics: &[usize],
        inferred: Option<&Inference>,
        confidence: f32,
    ) -> SharedParts {
        // A poisoned lock only means another thread panicked mid-insert of a
        // value computed from immutable inputs; the map is still valid.
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_LIMIT && !cache.contains_key(&key) {
            cache.clear();
        }
        let entry = cache.entry(key).or_insert_with(|| Cached {
            placed: self.place(techniques, tactics, &[], inferred).into(),
            techniques: self.technique_hits(techniques, &[]),
            tactics: self.tactic_hits(techniques, tactics),
            phases: Vec::new(),
        });
        let bits = confidence.to_bits();
        let phases = match entry.phases.iter().find(|(b, _)| *b == bits) {
            Some((_, phases)) => Arc::clone(phases),
            None => {
                let phases = Arc::new(phases_of(&entry.placed, confidence));
                if entry.phases.len() < CONFIDENCES_KEPT {
                    entry.phases.push((bits, Arc::clone(&phases)));
                }
                phases
            }
        };
        SharedParts {
            techniques: Arc::clone(&entry.techniques),
            tactics: Arc::clone(&entry.tactics),
            phases,
        }
    }

    /// Places the evidence in every selected model; confidence left at 0.
    /// Techniques inferred from a signature class get rationale lines that
    /// say so, with the class and the reason it implies them.
    fn place(
        &self,
        techniques: &[usize],
        tactics: &[usize],
        named_phases: &[(String, String)],
        inferred: Option<&Inference>,
    ) -> Vec<Placed> {
        let prefix = inferred.map(Inference::rationale_prefix);
        let input = PlaceInput {
            techniques,
            tactics,
            named_phases,
        };
        let mut out = Vec::with_capacity(self.selected.len());
        for &mi in &self.selected {
            let (model_id, phase_ids) = &self.shared.models[mi];
            if let Some(p) = self.models.place(mi, &input) {
                out.push(Placed {
                    model: Arc::clone(model_id),
                    // Evidence that splits across phases is less certain about the primary one.
                    ambiguity: 1.0 / (1.0 + 0.25 * (p.phases.len() as f32 - 1.0)),
                    placement: Placement {
                        phase: Arc::clone(&phase_ids[p.primary]),
                        phase_index: p.primary,
                        phases: p
                            .phases
                            .iter()
                            .map(|&i| Arc::clone(&phase_ids[i]))
                            .collect(),
                        rationale: match &prefix {
                            None => p.rationale.into(),
                            Some(prefix) => p
                                .rationale
                                .iter()
                                .map(|line| Arc::from(format!("{prefix}{line}")))
                                .collect(),
                        },
                        confidence: 0.0,
                    },
                });
            }
        }
        out
    }
}

/// One model's placement of some evidence, before the finding's confidence
/// is applied.
#[derive(Debug)]
struct Placed {
    model: Arc<str>,
    /// Factor on the finding's confidence for this model's primary phase.
    ambiguity: f32,
    placement: Placement,
}

/// A finding's placements: each model's, with the finding's confidence
/// lowered where the placement is ambiguous.
fn phases_of(placed: &[Placed], confidence: f32) -> Phases {
    placed
        .iter()
        .map(|p| {
            (
                Arc::clone(&p.model),
                Placement {
                    confidence: round2(confidence * p.ambiguity),
                    ..p.placement.clone()
                },
            )
        })
        .collect()
}

/// Entries kept in the placement cache before it starts afresh: bounds
/// memory on streams with endlessly varied technique combinations.
const CACHE_LIMIT: usize = 1 << 14;

/// The placement cache's key: technique indexes in record order, a
/// separator, then the record's tactic indexes (order matters: the first
/// reference gives the primary phase), and the signature class the
/// techniques were inferred from (0: none), which words the rationale.
/// Evidence with more references than fit is placed without the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PlaceKey {
    len: u8,
    ids: [u16; 15],
    inferred: u32,
}

impl PlaceKey {
    fn new(
        techniques: &[usize],
        tactics: &[usize],
        inferred: Option<&Inference>,
    ) -> Option<PlaceKey> {
        let n = techniques.len() + 1 + tactics.len();
        if n > 15 {
            return None;
        }
        let mut ids = [0u16; 15];
        for (slot, &x) in ids
            .iter_mut()
            .zip(techniques.iter().chain(&[u16::MAX as usize]).chain(tactics))
        {
            *slot = u16::try_from(x).ok()?;
        }
        Some(PlaceKey {
            len: n as u8,
            ids,
            inferred: inferred.map_or(0, Inference::key),
        })
    }
}

/// A confidence rounded to two decimals, as the f64 closest to that decimal
/// (so it prints as `0.72`, where widening the f32 would print
/// `0.7200000286102295`). The arithmetic stays in f32, as reference
/// confidences are, so the decimal chosen is the same either way.
fn round2(x: f32) -> f64 {
    f64::from((x * 100.0).round()) / 100.0
}
