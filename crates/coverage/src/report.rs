//! The whole result of one coverage run, as one serialisable value: what
//! was read (rules counted and set aside, controls, issues), the threat
//! profile, the analysis, the investment list and the simulation. Every
//! output format (JSON, Markdown, HTML, CSV, Navigator) renders this.

use serde::Serialize;

use crate::analysis::Analysis;
use crate::error::Issue;
use crate::invest::Investment;
use crate::simulate::Simulation;
use crate::threat::ThreatProfile;

/// What happened to the Sigma rules.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RulesSummary {
    /// Rule documents read.
    pub documents: usize,
    pub loaded: usize,
    pub unsupported: usize,
    pub invalid: usize,
    pub filtered: usize,
    /// Loaded rules counted as controls.
    pub counted: usize,
    /// Loaded rules whose log source is not collected.
    pub not_collected: usize,
    /// Loaded rules without an ATT&CK technique tag.
    pub without_techniques: usize,
    /// Technique tags the kb does not know.
    pub unknown_tags: usize,
    /// Candidate rules (investment options), counted.
    pub candidates: usize,
}

/// The inputs, summarised.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InputSummary {
    pub rules: RulesSummary,
    /// Inventory and DeTT&CT controls loaded (rules not included).
    pub inventory_controls: usize,
    pub collected: Vec<String>,
    pub flows: usize,
    /// Every problem with a record, in input order.
    pub issues: Vec<Issue>,
}

/// The threat profile, summarised.
#[derive(Debug, Clone, Serialize)]
pub struct ThreatSummary {
    pub mode: &'static str,
    pub platforms: Vec<String>,
    pub actors: usize,
    /// (id, name, kind, techniques in scope), named actors only.
    pub named: Vec<(String, String, &'static str, usize)>,
}

impl From<&ThreatProfile> for ThreatSummary {
    fn from(t: &ThreatProfile) -> Self {
        ThreatSummary {
            mode: t.mode,
            platforms: t.platforms.clone(),
            actors: t.actors.len(),
            named: if t.mode == "selected" {
                t.actors
                    .iter()
                    .map(|a| (a.id.clone(), a.name.clone(), a.kind, a.techniques.len()))
                    .collect()
            } else {
                Vec::new()
            },
        }
    }
}

/// One coverage run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub attack_version: String,
    pub inputs: InputSummary,
    pub threat: ThreatSummary,
    pub analysis: Analysis,
    pub investment: Investment,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simulation: Option<Simulation>,
}
