//! Errors of the coverage engine. Whole-input failures (a file that is not
//! YAML or JSON, an unknown threat ID) are `CoverageError`s; problems with
//! one record of an input (one control, one DeTT&CT technique, one flow edge)
//! are [`Issue`]s: reported with the input and the record, the rest of the
//! input keeps flowing.

use serde::Serialize;

/// A failure that stops one whole input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoverageError {
    #[error("{input}: not valid YAML: {source}")]
    Yaml {
        input: String,
        #[source]
        source: yaml_serde::Error,
    },
    #[error("{input}: not valid JSON: {source}")]
    Json {
        input: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{input}: {reason}")]
    Format { input: String, reason: String },
    #[error("threat profile: {query:?} is not an ATT&CK group, campaign or software in ATT&CK {version}")]
    UnknownThreat { query: String, version: String },
}

/// A problem with one record of an input: the record was skipped (or the
/// part of it named in `reason`), the rest was used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// The input (file name as the caller gave it).
    pub input: String,
    /// The record: control id, `controls[3]`, technique id, flow node...
    pub record: String,
    pub reason: String,
    /// Whether the whole record was skipped (else only part of it).
    pub skipped: bool,
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}: {}{}",
            self.input,
            self.record,
            self.reason,
            if self.skipped { " (skipped)" } else { "" }
        )
    }
}
