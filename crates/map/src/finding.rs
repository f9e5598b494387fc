//! `Finding`: the one record type every stage after detection speaks.
//!
//! A finding is "something an attacker did, placed on ATT&CK and on each kill
//! chain model": when, seen by what, on which entities, which techniques and
//! tactics, which phase in each model and why, how sure we are, the evidence,
//! and a pointer back to the original record. `map` builds findings from
//! alerts; `hunt` (Sigma) will build them from raw events; the incident engine
//! and the server consume them. Serialised as JSON in this shape by the store
//! and the server; the NDJSON enrichment output is a different, ECS-shaped
//! view (see `enrich.rs`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Where a finding came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Source {
    /// What produced it: `alert` (a SIEM / EDR alert mapped by `killchain map`),
    /// `sigma` (a Sigma rule match from `hunt`), `ioc`, `intel`.
    pub kind: SourceKind,
    /// Product or dialect that produced the record when known (`wazuh`, `elastic`, `splunk`, `sigma`, `suricata`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// The rule that fired, when the record names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    #[default]
    Alert,
    Sigma,
    Ioc,
    Intel,
}

/// The detection rule behind a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RuleRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Severity as the source states it (`high`, `12`, `critical`), kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
}

/// The entities a finding touches: what the incident engine joins on.
/// Values are as seen (trimmed); normalisation (DOMAIN\user vs UPN, ...) is the
/// correlator's job, which needs the raw forms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Entities {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_ips: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_ips: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_hashes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

impl Entities {
    pub fn is_empty(&self) -> bool {
        self == &Entities::default()
    }
}

/// The process a finding is about (ECS `process.*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Process {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_line: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_executable: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_pid: Option<u64>,
}

/// A technique on a finding, resolved against the knowledge base. Names and
/// IDs are shared with the mapper's copy of the kb (`Arc<str>`), as for
/// [`Placement`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TechniqueHit {
    /// Current ATT&CK ID (after any revoked-by redirect).
    pub id: Arc<str>,
    pub name: Arc<str>,
    /// For a sub-technique: its parent technique's name (ECS lists parents as techniques).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_name: Option<Arc<str>>,
    /// The revoked ID the record used, when it was redirected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirected_from: Option<String>,
}

/// A tactic on a finding (strings shared, as in [`TechniqueHit`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TacticHit {
    pub id: Arc<str>,
    pub name: Arc<str>,
    pub shortname: Arc<str>,
}

/// Where a finding sits in one kill chain model.
///
/// Phase IDs and rationale lines are shared (`Arc<str>`) with the model
/// tables they come from: every finding placed in a phase names the same
/// few strings, and copying them per record was a large part of mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// Primary phase ID (see `killchain_kb::models` for how it is chosen).
    pub phase: Arc<str>,
    /// Position of the primary phase in the model (0-based).
    pub phase_index: usize,
    /// Every phase the evidence supports, in model order. Shared (`Arc`):
    /// findings with the same evidence share one list.
    pub phases: Arc<[Arc<str>]>,
    /// One line per phase: which technique or tactic put it there and why.
    pub rationale: Arc<[Arc<str>]>,
    /// 0..1, two decimals: the finding's confidence, lowered when the phase
    /// is ambiguous.
    pub confidence: f64,
}

/// A piece of evidence: the field of the original record that gave an ATT&CK
/// reference, and the value found there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub field: String,
    pub value: String,
    /// The dialect that field belongs to (`ecs`, `sigma-tags`, `wazuh`, ...);
    /// borrowed from the dialect table when mapped, owned when deserialised.
    pub dialect: Cow<'static, str>,
}

/// Pointer back to the original record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RecordRef {
    /// File path, or `-` for stdin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line where the record starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// 0-based position of the record in its input (array element or line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// Record ID inside the source (EVTX EventRecordID, alert ID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
}

/// Something an attacker did, placed on ATT&CK and every selected kill chain model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Finding {
    /// Event time, when the record carries one. Never the wall clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Timestamp>,
    pub source: Source,
    #[serde(default, skip_serializing_if = "Entities::is_empty")]
    pub entities: Entities,
    /// Shared (`Arc`) like `phases`: findings with the same evidence get
    /// the same list from the mapper.
    #[serde(default, skip_serializing_if = "slice_empty")]
    pub techniques: Arc<[TechniqueHit]>,
    #[serde(default, skip_serializing_if = "slice_empty")]
    pub tactics: Arc<[TacticHit]>,
    /// ATT&CK groups and software (G/S IDs) the record itself names (Sigma tags `attack.g0016`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributions: Vec<String>,
    /// Model ID (`lm`, `attack`, `ukc`, custom) -> placement. Shared
    /// (`Arc`): the mapper gives every finding with the same evidence and
    /// confidence the same map; change one with `Arc::make_mut`.
    #[serde(default, skip_serializing_if = "phases_empty")]
    pub phases: Arc<Phases>,
    /// 0..1, two decimals: how sure we are of the ATT&CK reference (explicit
    /// field > tag > rule name > signature class).
    pub confidence: f64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
    pub record: RecordRef,
}

/// A finding's placements by model ID.
pub type Phases = BTreeMap<Arc<str>, Placement>;

fn phases_empty(p: &Arc<Phases>) -> bool {
    p.is_empty()
}

fn slice_empty<T>(s: &Arc<[T]>) -> bool {
    s.is_empty()
}

impl Finding {
    /// True when the record carried no usable ATT&CK or kill chain reference.
    pub fn is_unmapped(&self) -> bool {
        self.techniques.is_empty() && self.tactics.is_empty() && self.phases.is_empty()
    }
}
