//! Counts for the end-of-run summary of `killchain map` (and later commands
//! that map records): how many records, mapped, unmapped, malformed, and how
//! many landed in each phase of each model.

use killchain_kb::models::ModelSet;
use serde::{Serialize, Serializer};

use crate::finding::Finding;
use crate::mapper::Note;

/// Run totals. Phase counts are kept per model in model order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Records read (good JSON values), including non-objects.
    pub records: u64,
    /// Records with at least one usable ATT&CK or kill chain reference.
    pub mapped: u64,
    /// Records with no usable reference (passed through unchanged but for entity fields).
    pub unmapped: u64,
    /// Inputs that were not valid JSON (reported on stderr with file:line).
    pub malformed: u64,
    /// Valid JSON values that are not objects (passed through unchanged).
    pub not_objects: u64,
    /// References to revoked ATT&CK IDs that were redirected.
    pub redirected: u64,
    /// References that looked like ATT&CK but are not in the knowledge base.
    pub unknown_refs: u64,
    /// [(model ID, [(phase ID, count)])], models and phases in model order
    /// (primary phase only). Serialised as `{model: {phase: count}}`.
    #[serde(serialize_with = "ordered_maps")]
    pub phases: Vec<(String, Vec<(String, u64)>)>,
}

fn ordered_maps<S: Serializer>(
    v: &[(String, Vec<(String, u64)>)],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    struct Row<'a>(&'a [(String, u64)]);
    impl Serialize for Row<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(Some(self.0.len()))?;
            for (k, n) in self.0 {
                m.serialize_entry(k, n)?;
            }
            m.end()
        }
    }
    let mut m = s.serialize_map(Some(v.len()))?;
    for (model, rows) in v {
        m.serialize_entry(model, &Row(rows))?;
    }
    m.end()
}

impl Summary {
    /// An empty summary with a zero row for every phase of the selected models.
    pub fn new(models: &ModelSet, selected: &[usize]) -> Self {
        let phases = selected
            .iter()
            .map(|&i| {
                let m = &models.models()[i];
                (
                    m.id.clone(),
                    m.phases.iter().map(|p| (p.id.clone(), 0)).collect(),
                )
            })
            .collect();
        Summary {
            phases,
            ..Summary::default()
        }
    }

    /// Count one mapped (or unmapped) record.
    pub fn add(&mut self, finding: &Finding, notes: &[Note]) {
        self.records += 1;
        if finding.is_unmapped() {
            self.unmapped += 1;
        } else {
            self.mapped += 1;
        }
        for n in notes {
            match n {
                Note::Redirected { .. } => self.redirected += 1,
                Note::Unknown { .. } => self.unknown_refs += 1,
            }
        }
        for (model, p) in finding.phases.iter() {
            if let Some((_, rows)) = self.phases.iter_mut().find(|(m, _)| **m == **model) {
                if let Some(row) = rows.get_mut(p.phase_index) {
                    row.1 += 1;
                }
            }
        }
    }
}
