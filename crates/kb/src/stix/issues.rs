//! Warnings: the collector that turns oddities and left-out objects into the
//! [`ImportReport`], listing small categories line by line and summarising
//! large ones.

use super::ImportReport;

/// A category with at most this many entries is listed line by line; a larger
/// one is summarised.
const MAX_DETAILS: usize = 8;
/// Examples quoted in a summary line.
const EXAMPLES: usize = 3;

// Warning categories. The text is the plural noun phrase used in summaries.
pub(super) const NOT_OBJECT: &str = "bundle entries that are not JSON objects skipped";
pub(super) const NO_TYPE_ID: &str = "objects without a string \"type\" and \"id\" skipped";
pub(super) const DUP_STIX_ID: &str = "objects repeating a STIX id skipped (latest version kept)";
pub(super) const MALFORMED: &str = "malformed ATT&CK objects skipped";
pub(super) const DUP_ATTACK_ID: &str = "objects repeating an ATT&CK ID skipped";
pub(super) const LEGACY_MITIGATION: &str =
    "course-of-action objects named by a technique ID (pre-v7 mitigations, deprecated) skipped";
pub(super) const REVOKED: &str = "revoked objects skipped (redirected to their replacement)";
pub(super) const DEPRECATED: &str =
    "deprecated objects skipped (the index has no deprecated flag for their kind)";
pub(super) const OTHER_MATRIX_TACTIC: &str = "tactics not in the matrix skipped";
pub(super) const MATRIX_REF: &str = "matrix tactic_refs that do not resolve";
pub(super) const UNKNOWN_PHASE: &str = "kill chain phases naming no tactic of the matrix";
pub(super) const BAD_FIELD: &str = "fields with an unexpected JSON type";
pub(super) const BAD_REF: &str = "references to objects not in the index";
pub(super) const PARENT: &str = "sub-technique parent anomalies";
pub(super) const REVOCATION: &str = "revocation anomalies";
pub(super) const REL_MALFORMED: &str = "malformed relationships skipped";
pub(super) const REL_RETIRED: &str = "revoked or deprecated relationships skipped";
pub(super) const REL_DANGLING: &str = "relationships with an end not in the bundle skipped";
pub(super) const REL_UNINDEXED: &str = "relationships with an end not in the index skipped";
pub(super) const REL_UNSUPPORTED: &str = "relationships of a kind the index does not store skipped";

/// Collects warnings: single notes, and categorised ones that are summarised
/// when there are many of the same kind.
#[derive(Default)]
pub(super) struct Issues {
    notes: Vec<String>,
    categories: Vec<Category>,
    skipped: usize,
}

struct Category {
    what: &'static str,
    count: usize,
    details: Vec<String>,
}

impl Issues {
    /// A one-off warning.
    pub(super) fn warn(&mut self, message: String) {
        self.notes.push(message);
    }

    /// An oddity of a kind that may repeat. `detail` must stand on its own
    /// (name the STIX id and the reason): it is shown as is when the category
    /// stays small.
    pub(super) fn note(&mut self, what: &'static str, detail: String) {
        let index = match self.categories.iter().position(|c| c.what == what) {
            Some(index) => index,
            None => {
                self.categories.push(Category {
                    what,
                    count: 0,
                    details: Vec::new(),
                });
                self.categories.len() - 1
            }
        };
        let category = &mut self.categories[index];
        category.count += 1;
        if category.details.len() < MAX_DETAILS + 1 {
            category.details.push(detail);
        }
    }

    /// A left-out object or relationship: noted and counted.
    pub(super) fn skip(&mut self, what: &'static str, detail: String) {
        self.skipped += 1;
        self.note(what, detail);
    }

    pub(super) fn finish(self) -> ImportReport {
        let mut warnings = self.notes;
        for category in self.categories {
            if category.count <= MAX_DETAILS {
                warnings.extend(category.details);
            } else {
                let examples: Vec<&str> = category
                    .details
                    .iter()
                    .take(EXAMPLES)
                    .map(String::as_str)
                    .collect();
                warnings.push(format!(
                    "{} {}, e.g. {}",
                    category.count,
                    category.what,
                    examples.join("; ")
                ));
            }
        }
        ImportReport {
            warnings,
            skipped: self.skipped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_are_listed_when_few_and_summarised_when_many() {
        let mut issues = Issues::default();
        issues.warn("one-off".to_owned());
        for i in 0..MAX_DETAILS {
            issues.skip(MALFORMED, format!("object-{i}: bad"));
        }
        for i in 0..=MAX_DETAILS {
            issues.note(BAD_REF, format!("ref-{i}: dangling"));
        }
        let report = issues.finish();
        assert_eq!(report.skipped, MAX_DETAILS);
        assert_eq!(report.warnings[0], "one-off");
        assert_eq!(report.warnings.len(), 1 + MAX_DETAILS + 1);
        let summary = report
            .warnings
            .last()
            .map(String::as_str)
            .unwrap_or_default();
        assert!(summary.starts_with(&format!(
            "{} {BAD_REF}, e.g. ref-0: dangling; ",
            MAX_DETAILS + 1
        )));
    }
}
