//! Errors of the anticipate crate. Each names the input (file) it came from
//! and, where there is one, the object inside it.

/// Why a flow file, model file or playbook could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnticipateError {
    /// The input was not valid JSON.
    #[error("{input}: invalid JSON: {source}")]
    Json {
        input: String,
        #[source]
        source: serde_json::Error,
    },
    /// The input was JSON but not an Attack Flow (builder file or STIX bundle).
    #[error("{input}: not an Attack Flow: {reason}")]
    NotAFlow { input: String, reason: String },
    /// The input was not a sequence file (CSV with a technique column, or JSON records).
    #[error("{input}: not a sequence file: {reason}")]
    NotASequence { input: String, reason: String },
    /// A saved next-move model could not be used.
    #[error("{input}: invalid next-move model: {reason}")]
    Model { input: String, reason: String },
    /// A playbook file was not valid YAML or not a playbook.
    #[error("{input}: invalid playbook: {reason}")]
    Playbook { input: String, reason: String },
}
