//! The generator: a MITRE ATT&CK STIX bundle (bytes) -> the compact [`AttackData`] index.
//!
//! [`import_bundle`] reads a STIX 2.0 or 2.1 bundle as MITRE publishes it
//! (`enterprise-attack.json`: one JSON object with an `objects` array) and builds
//! the index the rest of killchain works from: tactics in matrix order,
//! techniques with their tactics, parents and replacements, mitigations, groups,
//! software, campaigns and (ATT&CK v18 and later) data components, detection
//! strategies and analytics. Relationships are folded onto the side that uses,
//! mitigates, detects or is attributed.
//!
//! Design points:
//! - **Nothing about ATT&CK's content is hard-coded.** Tactic names, their order
//!   and the release number all come from the bundle, so a later release (v19
//!   renames TA0005 and adds tactics) imports without code changes.
//! - **Lenient reading.** Only the fields the index needs are parsed, each into a
//!   `serde_json::Value` that is checked afterwards, so unknown fields, unknown
//!   object types and oddly typed values never abort the import. Everything else
//!   (descriptions are most of the 45 MB) is skipped without being allocated,
//!   which is also what keeps the import fast.
//! - **Nothing is dropped silently.** Every object or relationship that is left
//!   out, and every oddity, becomes a warning in the [`ImportReport`] naming the
//!   STIX id and the reason. Large groups of the same kind (the 224 legacy
//!   mitigations, thousands of dangling relationships in a hand-cut bundle) are
//!   summarised to one line with a few examples.
//! - **Deterministic output.** Lists are sorted by ATT&CK ID (tactics keep
//!   matrix order); warnings follow bundle order.
//! - **Pure.** No file or network I/O: the caller hands in bytes.

mod importer;
mod issues;
mod raw;

use crate::attack::AttackData;
use crate::error::KbError;

use importer::Importer;
use raw::{json_kind, Ignored, RawBundle, Shape};

/// How to import a bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// Name of the input, usually the bundle's file name: used in error
    /// messages and recorded as `Meta.source`.
    pub input_name: String,
    /// ATT&CK release to record (e.g. `18.1`). STIX 2.0 bundles from mitre/cti
    /// carry no `x-mitre-collection`, so the release must be given; when the
    /// bundle does say, the override still wins (with a warning if they differ).
    pub version_override: Option<String>,
}

impl ImportOptions {
    /// Options naming the input, with no version override.
    pub fn new(input_name: impl Into<String>) -> Self {
        ImportOptions {
            input_name: input_name.into(),
            version_override: None,
        }
    }
}

/// What an import left out or found odd.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// One line per oddity, naming the STIX id (and ATT&CK ID when known) and
    /// the reason. Groups of more than a few of the same kind are summarised to
    /// one line with the count and the first examples.
    pub warnings: Vec<String>,
    /// Number of STIX objects and relationships left out of the index
    /// (malformed, revoked non-techniques, legacy mitigations, dangling or
    /// unsupported relationships, ...). Objects of types the index does not
    /// cover at all (identity, x-mitre-data-source, ...) are not counted.
    pub skipped: usize,
}

/// Imports an ATT&CK STIX 2.0/2.1 bundle into the compact index.
///
/// Fails only when the input is not JSON ([`KbError::Json`]) or not a usable
/// ATT&CK bundle ([`KbError::Bundle`]: not a bundle, no objects, no
/// `x-mitre-matrix`). Anything wrong with individual objects is reported in the
/// returned [`ImportReport`] and the import carries on.
pub fn import_bundle(
    json: &[u8],
    opts: &ImportOptions,
) -> Result<(AttackData, ImportReport), KbError> {
    let input = opts.input_name.as_str();
    let bundle_error = |reason: String| KbError::Bundle {
        input: input.to_owned(),
        reason,
    };
    let top: Shape<RawBundle, Ignored> =
        serde_json::from_slice(json).map_err(|source| KbError::Json {
            input: input.to_owned(),
            source,
        })?;
    let bundle = match top {
        Shape::Map(bundle) => bundle,
        other => {
            return Err(bundle_error(format!(
                "the document is {}, not a STIX bundle object",
                other.describe()
            )))
        }
    };
    match bundle.ty.as_ref().map(|v| (v.as_str(), v)) {
        Some((Some("bundle"), _)) => {}
        Some((Some(other), _)) => {
            return Err(bundle_error(format!(
                "\"type\" is {other:?}, expected \"bundle\""
            )))
        }
        Some((None, v)) => {
            return Err(bundle_error(format!(
                "\"type\" is {}, expected \"bundle\"",
                json_kind(v)
            )))
        }
        None => {
            return Err(bundle_error(
                "no \"type\": \"bundle\" at the top level".to_owned(),
            ))
        }
    }
    let entries = match bundle.objects {
        Some(Shape::Seq(entries)) => entries,
        Some(other) => {
            return Err(bundle_error(format!(
                "\"objects\" is {}, expected an array",
                other.describe()
            )))
        }
        None => {
            return Err(bundle_error(
                "the bundle has no \"objects\" array".to_owned(),
            ))
        }
    };
    if entries.is_empty() {
        return Err(bundle_error(
            "the bundle's \"objects\" array is empty".to_owned(),
        ));
    }
    Importer::new(opts, &entries).run(bundle.spec_version.as_ref())
}
