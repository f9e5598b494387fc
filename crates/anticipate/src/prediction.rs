//! The result types of a prediction: what `killchain predict --json`
//! prints, and what the incident engine and the server reuse. The schema is
//! documented in docs/prediction.md; fields are only added, never renamed.
//! Every list is sorted (probability or score descending, ties by ID).

use serde::{Deserialize, Serialize};

use crate::model::{EntityKind, TrainingInfo};
use crate::respond::StagePlaybook;

/// What was seen, in time order (oldest first). Technique and tactic are
/// ATT&CK IDs (a technique may be revoked: it is redirected, with a note).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    pub steps: Vec<ObservedStep>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub technique: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tactic: Option<String>,
}

impl Observed {
    /// Technique IDs in time order.
    pub fn techniques<S: AsRef<str>>(ids: &[S]) -> Self {
        Observed {
            steps: ids
                .iter()
                .map(|t| ObservedStep {
                    technique: Some(t.as_ref().to_string()),
                    tactic: None,
                })
                .collect(),
        }
    }
}

/// An ATT&CK object by ID and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Named {
    pub id: String,
    pub name: String,
}

impl Named {
    pub fn new(id: &str, name: &str) -> Self {
        Named {
            id: id.to_string(),
            name: name.to_string(),
        }
    }
}

/// The whole answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Distinct techniques seen, in the order first seen.
    pub observed: Vec<ObservedTechnique>,
    /// Input problems: unknown IDs (left out), revoked IDs (redirected).
    pub notes: Vec<String>,
    pub next_tactics: Vec<ScoredTactic>,
    pub next_techniques: Vec<ScoredTechnique>,
    /// Per kill chain model: the stage reached and the likely next stages.
    pub kill_chain: Vec<PhaseOutlook>,
    pub adversaries: Adversaries,
    /// For every observed technique, then the top predicted ones.
    pub countermeasures: Vec<Countermeasure>,
    /// For the current and the most likely next stage of each model that has playbooks.
    pub playbooks: Vec<PlaybookAttachment>,
    /// What the model was trained on.
    pub model: TrainingInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedTechnique {
    pub id: String,
    pub name: String,
    pub tactics: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredTactic {
    pub id: String,
    pub name: String,
    pub probability: f64,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredTechnique {
    pub id: String,
    pub name: String,
    /// Its tactic IDs in ATT&CK.
    pub tactics: Vec<String>,
    pub probability: f64,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseOutlook {
    /// Model ID (`lm`, `attack`, `ukc`, custom).
    pub model: String,
    /// The deepest phase the observed techniques reached (None: nothing placed).
    pub current: Option<Named>,
    /// Next phases, with probabilities (summed over the predicted techniques).
    pub next: Vec<ScoredPhase>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredPhase {
    pub id: String,
    pub name: String,
    pub probability: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Adversaries {
    pub groups: Vec<AdversaryMatch>,
    pub campaigns: Vec<AdversaryMatch>,
    pub software: Vec<AdversaryMatch>,
}

/// A group, campaign or software whose techniques match what was seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdversaryMatch {
    pub id: String,
    pub name: String,
    pub kind: EntityKind,
    /// 0..1: 0.7 x IDF-weighted coverage of what was seen + 0.3 x IDF-weighted cosine (src/adversary.rs).
    pub score: f64,
    /// Observed techniques it is known to use (exactly, or a technique of
    /// the same parent: those are marked `~`).
    pub matched: Vec<String>,
    /// Techniques it is known to use, in all.
    pub techniques: usize,
    /// One line: the overlap explained.
    pub explanation: String,
}

/// Whether a technique was seen or is predicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Observed,
    Predicted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Countermeasure {
    pub technique: String,
    pub name: String,
    pub role: Role,
    pub mitigations: Vec<Named>,
    /// Set when the technique has no mitigations of its own and these are its parent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mitigations_via_parent: Option<String>,
    pub detection_strategies: Vec<Named>,
    /// Data components to watch (from the detection strategies' analytics).
    pub data_components: Vec<Named>,
}

/// Whether a playbook is for the stage reached or the predicted next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Current,
    Next,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaybookAttachment {
    pub stage: Stage,
    pub phase_name: String,
    #[serde(flatten)]
    pub playbook: StagePlaybook,
}
