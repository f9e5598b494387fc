//! Errors of the knowledge base crate. Each names the input it came from.

/// Why a bundle, index or model file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KbError {
    /// The input was not valid JSON (or not the JSON shape expected).
    #[error("{input}: invalid JSON: {source}")]
    Json {
        input: String,
        #[source]
        source: serde_json::Error,
    },
    /// The input was JSON but not an ATT&CK STIX bundle we can use.
    #[error("{input}: not a usable ATT&CK STIX bundle: {reason}")]
    Bundle { input: String, reason: String },
    /// A compressed index could not be decompressed.
    #[error("{input}: cannot decompress index: {source}")]
    Compression {
        input: String,
        #[source]
        source: std::io::Error,
    },
    /// A kill chain model file is invalid.
    #[error("{input}: invalid kill chain model: {reason}")]
    Model { input: String, reason: String },
    /// A model file was not valid YAML.
    #[error("{input}: invalid YAML: {source}")]
    Yaml {
        input: String,
        #[source]
        source: yaml_serde::Error,
    },
}
