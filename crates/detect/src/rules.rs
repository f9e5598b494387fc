//! Rule metadata and the load report.
//!
//! Every document of every rule file ends up in the [`LoadReport`] as
//! loaded, unsupported (valid Sigma this engine does not evaluate, with the
//! reason), invalid (with the parser's or compiler's reason), or filtered
//! out by the user's level / status / tag selection. Nothing is dropped
//! silently: `killchain rules check` prints the detail, every hunt a summary.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::pipeline::LogsourceKey;

pub use killchain_kb::severity::Level;

/// A parsed rule's level in our terms.
pub(crate) fn level_of(l: rsigma_parser::Level) -> Level {
    match l {
        rsigma_parser::Level::Informational => Level::Informational,
        rsigma_parser::Level::Low => Level::Low,
        rsigma_parser::Level::Medium => Level::Medium,
        rsigma_parser::Level::High => Level::High,
        rsigma_parser::Level::Critical => Level::Critical,
    }
}

/// What a finding needs to know about the rule that produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub title: String,
    /// The rule's `name` (how correlation rules may refer to it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    pub tags: Vec<String>,
    pub logsource: LogsourceKey,
    /// The file the rule came from (as the caller named it).
    pub path: String,
    /// Whether the rule is a correlation rule.
    pub correlation: bool,
}

/// What happened to one rule document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "lowercase")]
pub enum Outcome {
    Loaded,
    Unsupported(String),
    Invalid(String),
    /// Left out by the user's selection (level, status, tag).
    Filtered(String),
}

/// One line of the load report.
#[derive(Debug, Clone, Serialize)]
pub struct LoadEntry {
    pub path: String,
    /// Title, or `document N` when the document has none.
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The load report: every document, and the counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadReport {
    pub entries: Vec<LoadEntry>,
}

impl LoadReport {
    pub fn count(&self, pred: impl Fn(&Outcome) -> bool) -> usize {
        self.entries.iter().filter(|e| pred(&e.outcome)).count()
    }
    pub fn loaded(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Loaded))
    }
    pub fn unsupported(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Unsupported(_)))
    }
    pub fn invalid(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Invalid(_)))
    }
    pub fn filtered(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Filtered(_)))
    }

    /// Reasons for unsupported and invalid documents with their counts, most
    /// frequent first (reasons are generalised: rule-specific detail after
    /// the first `:` of a detection prefix is kept, so they group).
    pub fn reasons(&self) -> Vec<(String, usize)> {
        let mut m: BTreeMap<String, usize> = BTreeMap::new();
        for e in &self.entries {
            let r = match &e.outcome {
                Outcome::Unsupported(r) => format!("unsupported: {}", generalise(r)),
                Outcome::Invalid(r) => format!("invalid: {}", generalise(r)),
                _ => continue,
            };
            *m.entry(r).or_default() += 1;
        }
        let mut v: Vec<(String, usize)> = m.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    /// One line: `rules: 3101 loaded, 12 unsupported, 2 invalid, 40 filtered`.
    pub fn summary(&self) -> String {
        format!(
            "{} loaded, {} unsupported, {} invalid, {} filtered out",
            self.loaded(),
            self.unsupported(),
            self.invalid(),
            self.filtered()
        )
    }
}

/// Strips the rule-specific parts (`detection selection: Image: `) of a reason.
fn generalise(r: &str) -> String {
    let mut s = r;
    while let Some(rest) = s.strip_prefix("detection ") {
        s = rest.split_once(": ").map_or(rest, |(_, r)| r);
    }
    // A field name prefix (`CommandLine: ...`).
    if let Some((head, rest)) = s.split_once(": ") {
        if !head.contains(' ') && !rest.is_empty() {
            s = rest;
        }
    }
    s.to_string()
}
