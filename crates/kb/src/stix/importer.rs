//! The importer: picks the live objects of a parsed bundle, checks them, builds
//! the index entries of each kind, folds relationships onto them, resolves
//! sub-technique parents and follows `revoked-by` chains to replacements.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde_json::Value;

use super::issues::{
    Issues, BAD_FIELD, BAD_REF, DEPRECATED, DUP_ATTACK_ID, DUP_STIX_ID, LEGACY_MITIGATION,
    MALFORMED, MATRIX_REF, NOT_OBJECT, NO_TYPE_ID, OTHER_MATRIX_TACTIC, PARENT, REL_DANGLING,
    REL_MALFORMED, REL_RETIRED, REL_UNINDEXED, REL_UNSUPPORTED, REVOCATION, REVOKED, UNKNOWN_PHASE,
};
use super::raw::{json_kind, mitre_attack_id, Entry, Field, RawObject, Shape};
use super::{ImportOptions, ImportReport};
use crate::attack::{
    Analytic, AttackData, Campaign, DataComponent, DetectionStrategy, Group, LogSource, Meta,
    Mitigation, Redirect, Software, SoftwareKind, Tactic, Technique,
};
use crate::error::KbError;

/// STIX types that are bundle plumbing, not ATT&CK content: ignored without a word.
const PLUMBING_TYPES: &[&str] = &["identity", "marking-definition", "x-mitre-collection"];

/// STIX types the index is built from.
const INDEXED_TYPES: &[&str] = &[
    "x-mitre-matrix",
    "x-mitre-tactic",
    "attack-pattern",
    "course-of-action",
    "intrusion-set",
    "malware",
    "tool",
    "campaign",
    "x-mitre-data-component",
    "x-mitre-detection-strategy",
    "x-mitre-analytic",
    "relationship",
];

/// A live STIX object: its raw properties, type and id.
#[derive(Clone, Copy)]
struct Obj<'a> {
    raw: &'a RawObject,
    ty: &'a str,
    id: &'a str,
}

impl<'a> Obj<'a> {
    /// A string property; `None` when absent or not a string.
    fn str(&self, field: Field) -> Option<&'a str> {
        self.raw.get(field).and_then(Value::as_str)
    }

    /// Reports a property, or an element of a list property, of the wrong JSON type.
    fn bad_field(
        &self,
        issues: &mut Issues,
        field: Field,
        value: &Value,
        expected: &str,
        outcome: &str,
    ) {
        issues.note(
            BAD_FIELD,
            format!(
                "{}: {} has {}, expected {expected}; {outcome}",
                self.id,
                field.key(),
                json_kind(value)
            ),
        );
    }

    /// A string property that may be absent; a non-string is reported.
    fn opt_str(&self, field: Field, issues: &mut Issues) -> Option<&'a str> {
        match self.raw.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(other) => {
                self.bad_field(issues, field, other, "a string", "ignored");
                None
            }
        }
    }

    /// A boolean property: `None` when absent; a non-boolean is reported and
    /// read as absent.
    fn opt_flag(&self, field: Field, issues: &mut Issues) -> Option<bool> {
        match self.raw.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                self.bad_field(issues, field, other, "a boolean", "read as false");
                None
            }
        }
    }

    fn flag(&self, field: Field, issues: &mut Issues) -> bool {
        self.opt_flag(field, issues).unwrap_or(false)
    }

    /// The elements of a list property that `pick` accepts; other elements
    /// (or a property that is not a list) are reported and left out.
    fn list<T>(
        &self,
        field: Field,
        issues: &mut Issues,
        expected: &str,
        pick: impl Fn(&'a Value) -> Option<T>,
    ) -> Vec<T> {
        match self.raw.get(field) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|item| {
                    let picked = pick(item);
                    if picked.is_none() {
                        self.bad_field(issues, field, item, expected, "left out");
                    }
                    picked
                })
                .collect(),
            Some(other) => {
                self.bad_field(issues, field, other, "a list", "ignored");
                Vec::new()
            }
        }
    }

    /// A list-of-strings property, repeats dropped, bundle order kept.
    fn strings(&self, field: Field, issues: &mut Issues) -> Vec<&'a str> {
        let all = self.list(field, issues, "a string", Value::as_str);
        let mut unique: Vec<&'a str> = Vec::with_capacity(all.len());
        for s in all {
            if !unique.contains(&s) {
                unique.push(s);
            }
        }
        unique
    }

    /// A list property whose elements are objects (kill chain phases, log sources).
    fn object_list(
        &self,
        field: Field,
        issues: &mut Issues,
    ) -> Vec<&'a serde_json::Map<String, Value>> {
        self.list(field, issues, "an object", Value::as_object)
    }

    fn attack_id(&self) -> Option<&'a str> {
        self.raw
            .get(Field::ExternalReferences)
            .and_then(mitre_attack_id)
    }
}

/// What an index entry is; with `Node::idx`, where it lives in `AttackData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Technique,
    Mitigation,
    Group,
    Software,
    Campaign,
    DataComponent,
    DetectionStrategy,
    Analytic,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Kind::Technique => "technique",
            Kind::Mitigation => "mitigation",
            Kind::Group => "group",
            Kind::Software => "software",
            Kind::Campaign => "campaign",
            Kind::DataComponent => "data component",
            Kind::DetectionStrategy => "detection strategy",
            Kind::Analytic => "analytic",
        })
    }
}

/// An object that made it into the index: its kind and position in the
/// (not yet sorted) output list of that kind.
#[derive(Debug, Clone, Copy)]
struct Node {
    kind: Kind,
    idx: usize,
}

/// An ATT&CK object that passed the common checks (STIX id, ATT&CK ID, name)
/// and won over any other object with the same ATT&CK ID.
struct Cand<'a> {
    obj: Obj<'a>,
    att_id: &'a str,
    name: &'a str,
    revoked: bool,
    deprecated: bool,
}

impl Cand<'_> {
    fn is_active(&self) -> bool {
        !self.revoked && !self.deprecated
    }

    /// `STIX id (ATT&CK ID)`, for messages.
    fn label(&self) -> String {
        format!("{} ({})", self.obj.id, self.att_id)
    }
}

/// Where a chain of `revoked-by` relationships ends.
#[derive(Debug, PartialEq, Eq)]
enum ChainEnd<'a> {
    /// The start has no `revoked-by` relationship.
    NoLink,
    /// The last object reached: not revoked, or revoked with no further link.
    Reached(&'a str),
    /// The chain loops back; the object where the loop was detected.
    Cycle(&'a str),
}

/// Follows `revoked-by` links from `start` until an object that is not revoked,
/// a dead end, or a cycle.
fn follow_revocations<'a>(
    start: &'a str,
    next: impl Fn(&str) -> Option<&'a str>,
    is_revoked: impl Fn(&str) -> bool,
) -> ChainEnd<'a> {
    let mut seen: HashSet<&str> = HashSet::from([start]);
    let mut current = start;
    loop {
        let Some(target) = next(current) else {
            return if current == start {
                ChainEnd::NoLink
            } else {
                ChainEnd::Reached(current)
            };
        };
        if !seen.insert(target) {
            return ChainEnd::Cycle(target);
        }
        current = target;
        if !is_revoked(current) {
            return ChainEnd::Reached(current);
        }
    }
}

/// Sorts a list of IDs and drops repeats.
fn sort_ids(ids: &mut Vec<String>) {
    ids.sort_unstable();
    ids.dedup();
}

/// Aliases without the object's own name (ATT&CK lists it first) and repeats.
fn aliases(list: &[&str], name: &str) -> Vec<String> {
    list.iter()
        .filter(|alias| **alias != name)
        .map(|alias| (*alias).to_owned())
        .collect()
}

fn owned(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

pub(super) struct Importer<'a> {
    opts: &'a ImportOptions,
    issues: Issues,
    /// Live objects (one per STIX id) in bundle order, grouped by STIX type.
    by_type: HashMap<&'a str, Vec<Obj<'a>>>,
    /// Every STIX id in the bundle, to tell "not in the bundle" from "not indexed".
    all_ids: HashSet<&'a str>,
    /// STIX id -> index entry, for every object that made it into the index.
    nodes: HashMap<&'a str, Node>,
    /// Revoked objects left out of the index (non-techniques), in bundle
    /// order, with their ATT&CK IDs: the sources of redirects.
    revoked_out: Vec<(&'a str, &'a str)>,
    revoked_out_ids: HashSet<&'a str>,
    /// `revoked-by` relationships: source STIX id -> target STIX id.
    revoked_by: HashMap<&'a str, &'a str>,
    /// Shortname -> position in `data.tactics`.
    tactic_pos: HashMap<&'a str, usize>,
    /// Per technique (parallel to `data.techniques` before sorting).
    tech_stix: Vec<&'a str>,
    tech_is_sub: Vec<bool>,
    tech_rel_parent: Vec<Option<String>>,
    data: AttackData,
}

impl<'a> Importer<'a> {
    pub(super) fn new(opts: &'a ImportOptions, entries: &'a [Entry]) -> Self {
        let mut issues = Issues::default();
        let mut all_ids = HashSet::with_capacity(entries.len());
        let mut live: Vec<Obj<'a>> = Vec::with_capacity(entries.len());
        // STIX id -> position in `live`. A bundle may carry several versions
        // of one object; the latest `modified` wins.
        let mut position: HashMap<&'a str, usize> = HashMap::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let raw = match entry {
                Shape::Map(raw) => raw,
                other => {
                    issues.skip(
                        NOT_OBJECT,
                        format!("objects[{i}] is {}, not an object", other.describe()),
                    );
                    continue;
                }
            };
            let (Some(ty), Some(id)) = (
                raw.get(Field::Type).and_then(Value::as_str),
                raw.get(Field::Id).and_then(Value::as_str),
            ) else {
                issues.skip(
                    NO_TYPE_ID,
                    format!("objects[{i}] has no string \"type\" and \"id\""),
                );
                continue;
            };
            let obj = Obj { raw, ty, id };
            all_ids.insert(id);
            match position.get(id) {
                None => {
                    position.insert(id, live.len());
                    live.push(obj);
                }
                Some(&p) => {
                    let newer = obj.str(Field::Modified) > live[p].str(Field::Modified);
                    issues.skip(
                        DUP_STIX_ID,
                        format!(
                            "{id}: appears more than once; kept the version modified {}",
                            if newer { obj } else { live[p] }
                                .str(Field::Modified)
                                .unwrap_or("(unknown)")
                        ),
                    );
                    if newer {
                        live[p] = obj;
                    }
                }
            }
        }

        let mut by_type: HashMap<&'a str, Vec<Obj<'a>>> = HashMap::new();
        for obj in live {
            by_type.entry(obj.ty).or_default().push(obj);
        }

        Importer {
            opts,
            issues,
            by_type,
            all_ids,
            nodes: HashMap::new(),
            revoked_out: Vec::new(),
            revoked_out_ids: HashSet::new(),
            revoked_by: HashMap::new(),
            tactic_pos: HashMap::new(),
            tech_stix: Vec::new(),
            tech_is_sub: Vec::new(),
            tech_rel_parent: Vec::new(),
            data: AttackData::default(),
        }
    }

    /// Live objects of one STIX type, in bundle order.
    fn bucket(&self, ty: &str) -> Vec<Obj<'a>> {
        self.by_type.get(ty).cloned().unwrap_or_default()
    }

    pub(super) fn run(
        mut self,
        bundle_spec: Option<&Value>,
    ) -> Result<(AttackData, ImportReport), KbError> {
        let matrix = self.choose_matrix()?;
        self.data.meta = self.meta(matrix, bundle_spec);
        self.report_unindexed_types();
        self.tactics(matrix);
        self.techniques();
        self.mitigations();
        self.groups();
        self.software();
        self.campaigns();
        self.data_components();
        self.analytics();
        self.detection_strategies();
        self.relationships();
        self.parents();
        self.revocations();
        self.finish_lists();
        Ok((self.data, self.issues.finish()))
    }

    /// The `x-mitre-matrix` whose ID is `enterprise-attack`, else the first.
    fn choose_matrix(&mut self) -> Result<Obj<'a>, KbError> {
        let matrices = self.bucket("x-mitre-matrix");
        let chosen = matrices
            .iter()
            .find(|m| m.attack_id() == Some("enterprise-attack"))
            .or_else(|| matrices.first())
            .copied()
            .ok_or_else(|| KbError::Bundle {
                input: self.opts.input_name.clone(),
                reason: "no x-mitre-matrix object (is this an ATT&CK bundle?)".to_owned(),
            })?;
        if matrices.len() > 1 {
            let others: Vec<&str> = matrices
                .iter()
                .filter(|m| m.id != chosen.id)
                .map(|m| m.attack_id().unwrap_or(m.id))
                .collect();
            self.issues.warn(format!(
                "{} matrices in the bundle: using {} ({}), ignoring {}",
                matrices.len(),
                chosen.attack_id().unwrap_or("no ATT&CK ID"),
                chosen.id,
                others.join(", ")
            ));
        }
        Ok(chosen)
    }

    fn meta(&mut self, matrix: Obj<'a>, bundle_spec: Option<&Value>) -> Meta {
        let domain = match matrix.attack_id() {
            Some(domain) => domain.to_owned(),
            None => {
                self.issues.warn(format!(
                    "{}: the matrix has no mitre-attack external_id; domain recorded as \"unknown\"",
                    matrix.id
                ));
                "unknown".to_owned()
            }
        };

        // Release: the collection's x_mitre_version, unless overridden.
        let collections = self.bucket("x-mitre-collection");
        let mut bundle_version: Option<&str> = None;
        for collection in &collections {
            let Some(version) = collection.opt_str(Field::Version, &mut self.issues) else {
                continue;
            };
            match bundle_version {
                None => bundle_version = Some(version),
                Some(first) if first != version => self.issues.warn(format!(
                    "{}: x-mitre-collection version {version} differs from {first} (first collection); using {first}",
                    collection.id
                )),
                Some(_) => {}
            }
        }
        let version = match (&self.opts.version_override, bundle_version) {
            (Some(given), found) => {
                if let Some(found) = found.filter(|found| found != given) {
                    self.issues.warn(format!(
                        "ATT&CK version {given} (override) replaces the bundle's x-mitre-collection version {found}"
                    ));
                }
                given.clone()
            }
            (None, Some(found)) => found.to_owned(),
            (None, None) => {
                self.issues.warn(
                    "ATT&CK version unknown: the bundle has no x-mitre-collection version and none was given (recorded as \"unknown\")"
                        .to_owned(),
                );
                "unknown".to_owned()
            }
        };

        // STIX version: on the bundle (2.0) or on the objects (2.1).
        let mut object_specs: Vec<&str> = Vec::new();
        let mut modified: Option<&str> = None;
        for obj in self.by_type.values().flatten() {
            if let Some(spec) = obj.str(Field::SpecVersion) {
                if !object_specs.contains(&spec) {
                    object_specs.push(spec);
                }
            }
            // ATT&CK timestamps are all RFC 3339 UTC with the same precision,
            // so the string order is the time order.
            if let Some(m) = obj.str(Field::Modified) {
                if modified.is_none_or(|max| m > max) {
                    modified = Some(m);
                }
            }
        }
        object_specs.sort_unstable();
        let stix_version = match (bundle_spec.and_then(Value::as_str), object_specs.last()) {
            (Some(spec), _) => spec.to_owned(),
            (None, Some(highest)) => {
                if object_specs.len() > 1 {
                    self.issues.warn(format!(
                        "objects mix STIX spec_versions {}; recorded {highest}",
                        object_specs.join(", ")
                    ));
                }
                (*highest).to_owned()
            }
            (None, None) => {
                self.issues.warn(
                    "no spec_version on the bundle or its objects; STIX version recorded as \"unknown\""
                        .to_owned(),
                );
                "unknown".to_owned()
            }
        };

        Meta {
            domain,
            version,
            stix_version,
            modified: modified.map(str::to_owned),
            source: Some(self.opts.input_name.clone()).filter(|s| !s.is_empty()),
        }
    }

    /// One line naming the object types that carry no index content, so that
    /// a new ATT&CK object type is noticed rather than silently dropped.
    fn report_unindexed_types(&mut self) {
        let mut unindexed: Vec<(&str, usize)> = self
            .by_type
            .iter()
            .filter(|(ty, _)| !INDEXED_TYPES.contains(ty) && !PLUMBING_TYPES.contains(ty))
            .map(|(ty, objs)| (*ty, objs.len()))
            .collect();
        if unindexed.is_empty() {
            return;
        }
        unindexed.sort_unstable();
        let list: Vec<String> = unindexed
            .iter()
            .map(|(ty, n)| format!("{ty} ({n})"))
            .collect();
        self.issues.warn(format!(
            "object types not covered by the index were ignored: {}",
            list.join(", ")
        ));
    }

    /// Tactics in the order of the matrix's `tactic_refs`.
    fn tactics(&mut self, matrix: Obj<'a>) {
        let tactic_objs = self.bucket("x-mitre-tactic");
        let by_stix: HashMap<&str, Obj<'a>> = tactic_objs.iter().map(|t| (t.id, *t)).collect();
        let mut used: HashSet<&str> = HashSet::new();
        for tactic_ref in matrix.strings(Field::TacticRefs, &mut self.issues) {
            let Some(obj) = by_stix.get(tactic_ref).copied() else {
                self.issues.note(
                    MATRIX_REF,
                    format!(
                        "{}: tactic_refs names {tactic_ref}, which is not an x-mitre-tactic in the bundle",
                        matrix.id
                    ),
                );
                continue;
            };
            used.insert(obj.id);
            let (Some(id), Some(name), Some(shortname)) = (
                obj.attack_id(),
                obj.str(Field::Name),
                obj.str(Field::Shortname),
            ) else {
                self.issues.skip(
                    MALFORMED,
                    format!(
                        "{}: tactic without a mitre-attack external_id, name or x_mitre_shortname",
                        obj.id
                    ),
                );
                continue;
            };
            if self.tactic_pos.contains_key(shortname)
                || self.data.tactics.iter().any(|t| t.id == id)
            {
                self.issues.skip(
                    DUP_ATTACK_ID,
                    format!(
                        "{} ({id}): tactic ID or shortname {shortname:?} already in the matrix",
                        obj.id
                    ),
                );
                continue;
            }
            self.tactic_pos.insert(shortname, self.data.tactics.len());
            self.data.tactics.push(Tactic {
                id: id.to_owned(),
                name: name.to_owned(),
                shortname: shortname.to_owned(),
            });
        }
        for obj in tactic_objs.iter().filter(|t| !used.contains(t.id)) {
            self.issues.skip(
                OTHER_MATRIX_TACTIC,
                format!(
                    "{} ({}): not in the tactic_refs of the matrix {}",
                    obj.id,
                    obj.attack_id().unwrap_or("no ATT&CK ID"),
                    matrix.id
                ),
            );
        }
        if self.data.tactics.is_empty() {
            self.issues
                .warn(format!("{}: the matrix lists no usable tactics", matrix.id));
        }
    }

    /// The ATT&CK objects of one STIX type that have a STIX id, an ATT&CK ID
    /// and a name, one per ATT&CK ID (active beats retired, then the latest
    /// `modified`, then the first in the bundle).
    fn candidates(&mut self, ty: &str) -> Vec<Cand<'a>> {
        let mut out: Vec<Cand<'a>> = Vec::new();
        let mut position: HashMap<&'a str, usize> = HashMap::new();
        for obj in self.bucket(ty) {
            let Some(att_id) = obj.attack_id() else {
                self.issues.skip(
                    MALFORMED,
                    format!(
                        "{}: no mitre-attack external_id in external_references",
                        obj.id
                    ),
                );
                continue;
            };
            let Some(name) = obj.str(Field::Name) else {
                self.issues
                    .skip(MALFORMED, format!("{} ({att_id}): no name", obj.id));
                continue;
            };
            let cand = Cand {
                obj,
                att_id,
                name,
                revoked: obj.flag(Field::Revoked, &mut self.issues),
                deprecated: obj.flag(Field::Deprecated, &mut self.issues),
            };
            let Some(&p) = position.get(att_id) else {
                position.insert(att_id, out.len());
                out.push(cand);
                continue;
            };
            let rank = |c: &Cand<'a>| (c.is_active(), c.obj.str(Field::Modified));
            let dropped = if rank(&cand) > rank(&out[p]) {
                std::mem::replace(&mut out[p], cand).obj.id
            } else {
                cand.obj.id
            };
            self.issues.skip(
                DUP_ATTACK_ID,
                format!(
                    "{dropped}: shares {att_id} with {}, which is kept (more current)",
                    out[p].obj.id
                ),
            );
        }
        out
    }

    /// Notes a revoked non-technique as left out; it becomes a redirect later.
    fn leave_out_revoked(&mut self, cand: &Cand<'a>) {
        self.revoked_out.push((cand.obj.id, cand.att_id));
        self.revoked_out_ids.insert(cand.obj.id);
        self.issues.skip(
            REVOKED,
            format!("{}: revoked, left out of the index", cand.label()),
        );
    }

    fn register(&mut self, cand: &Cand<'a>, kind: Kind, idx: usize) {
        self.nodes.insert(cand.obj.id, Node { kind, idx });
    }

    fn techniques(&mut self) {
        for cand in self.candidates("attack-pattern") {
            let obj = cand.obj;
            // Tactics: mitre-attack kill chain phases, by shortname, in matrix order.
            let mut positions: Vec<usize> = Vec::new();
            for phase in obj.object_list(Field::KillChainPhases, &mut self.issues) {
                if phase.get("kill_chain_name").and_then(Value::as_str) != Some("mitre-attack") {
                    continue; // another framework's chain (e.g. old PRE-ATT&CK): not ours
                }
                let Some(shortname) = phase.get("phase_name").and_then(Value::as_str) else {
                    self.issues.note(
                        BAD_FIELD,
                        format!("{}: a kill chain phase has no phase_name", cand.label()),
                    );
                    continue;
                };
                match self.tactic_pos.get(shortname) {
                    Some(&pos) => positions.push(pos),
                    None => self.issues.note(
                        UNKNOWN_PHASE,
                        format!(
                            "{}: kill chain phase {shortname:?} is not a tactic of the matrix; left out",
                            cand.label()
                        ),
                    ),
                }
            }
            positions.sort_unstable();
            positions.dedup();

            // A sub-technique by flag or by dotted ID; they should agree.
            let dotted = cand.att_id.contains('.');
            let flagged = obj.opt_flag(Field::IsSubtechnique, &mut self.issues);
            if flagged.is_some_and(|flag| flag != dotted) {
                self.issues.note(
                    PARENT,
                    format!(
                        "{}: x_mitre_is_subtechnique does not match the ID's form; treated as a sub-technique",
                        cand.label()
                    ),
                );
            }

            let idx = self.data.techniques.len();
            self.register(&cand, Kind::Technique, idx);
            self.tech_stix.push(obj.id);
            self.tech_is_sub.push(dotted || flagged == Some(true));
            self.tech_rel_parent.push(None);
            self.data.techniques.push(Technique {
                id: cand.att_id.to_owned(),
                name: cand.name.to_owned(),
                tactics: positions
                    .iter()
                    .map(|&p| self.data.tactics[p].id.clone())
                    .collect(),
                platforms: owned(&obj.strings(Field::Platforms, &mut self.issues)),
                parent: None,
                revoked: cand.revoked,
                deprecated: cand.deprecated,
                revoked_by: None,
            });
        }
    }

    fn mitigations(&mut self) {
        for cand in self.candidates("course-of-action") {
            // Before v7, every technique had a same-named course-of-action
            // with the technique's own ID; all deprecated, none of them a
            // real mitigation (M....).
            if !cand.att_id.starts_with('M') {
                self.issues
                    .skip(LEGACY_MITIGATION, format!("{}: not an M-ID", cand.label()));
                continue;
            }
            if cand.revoked {
                self.leave_out_revoked(&cand);
                continue;
            }
            let idx = self.data.mitigations.len();
            self.register(&cand, Kind::Mitigation, idx);
            self.data.mitigations.push(Mitigation {
                id: cand.att_id.to_owned(),
                name: cand.name.to_owned(),
                techniques: Vec::new(),
                deprecated: cand.deprecated,
            });
        }
    }

    fn groups(&mut self) {
        for cand in self.candidates("intrusion-set") {
            if cand.revoked {
                self.leave_out_revoked(&cand);
                continue;
            }
            let idx = self.data.groups.len();
            self.register(&cand, Kind::Group, idx);
            let alias_list = cand.obj.strings(Field::Aliases, &mut self.issues);
            self.data.groups.push(Group {
                id: cand.att_id.to_owned(),
                name: cand.name.to_owned(),
                aliases: aliases(&alias_list, cand.name),
                techniques: Vec::new(),
                software: Vec::new(),
                deprecated: cand.deprecated,
            });
        }
    }

    fn software(&mut self) {
        // Malware and tools share the S-ID space; one ID across both types is
        // a duplicate like any other.
        let mut cands: Vec<(Cand<'a>, SoftwareKind)> = Vec::new();
        let mut seen: HashMap<&'a str, &'a str> = HashMap::new(); // ATT&CK ID -> STIX id
        for (ty, kind) in [
            ("malware", SoftwareKind::Malware),
            ("tool", SoftwareKind::Tool),
        ] {
            for cand in self.candidates(ty) {
                if let Some(kept) = seen.get(cand.att_id) {
                    self.issues.skip(
                        DUP_ATTACK_ID,
                        format!(
                            "{}: shares {} with {kept}, which is kept",
                            cand.obj.id, cand.att_id
                        ),
                    );
                    continue;
                }
                seen.insert(cand.att_id, cand.obj.id);
                cands.push((cand, kind));
            }
        }
        for (cand, kind) in cands {
            if cand.revoked {
                self.leave_out_revoked(&cand);
                continue;
            }
            let idx = self.data.software.len();
            self.register(&cand, Kind::Software, idx);
            let alias_list = cand.obj.strings(Field::MitreAliases, &mut self.issues);
            let platforms = cand.obj.strings(Field::Platforms, &mut self.issues);
            self.data.software.push(Software {
                id: cand.att_id.to_owned(),
                name: cand.name.to_owned(),
                kind,
                aliases: aliases(&alias_list, cand.name),
                platforms: owned(&platforms),
                techniques: Vec::new(),
                deprecated: cand.deprecated,
            });
        }
    }

    fn campaigns(&mut self) {
        for cand in self.candidates("campaign") {
            if cand.revoked {
                self.leave_out_revoked(&cand);
                continue;
            }
            let idx = self.data.campaigns.len();
            self.register(&cand, Kind::Campaign, idx);
            let obj = cand.obj;
            let alias_list = obj.strings(Field::Aliases, &mut self.issues);
            let first_seen = obj.opt_str(Field::FirstSeen, &mut self.issues);
            let last_seen = obj.opt_str(Field::LastSeen, &mut self.issues);
            self.data.campaigns.push(Campaign {
                id: cand.att_id.to_owned(),
                name: cand.name.to_owned(),
                aliases: aliases(&alias_list, cand.name),
                techniques: Vec::new(),
                software: Vec::new(),
                groups: Vec::new(),
                first_seen: first_seen.map(str::to_owned),
                last_seen: last_seen.map(str::to_owned),
                deprecated: cand.deprecated,
            });
        }
    }

    /// Candidates of a v18 type whose index entry has no deprecated flag:
    /// revoked and deprecated ones are left out (with a warning).
    fn current_candidates(&mut self, ty: &str) -> Vec<Cand<'a>> {
        let mut out = Vec::new();
        for cand in self.candidates(ty) {
            if cand.revoked {
                self.leave_out_revoked(&cand);
            } else if cand.deprecated {
                self.issues.skip(
                    DEPRECATED,
                    format!("{}: deprecated {ty}, left out of the index", cand.label()),
                );
            } else {
                out.push(cand);
            }
        }
        out
    }

    fn data_components(&mut self) {
        for cand in self.current_candidates("x-mitre-data-component") {
            let mut log_sources: Vec<LogSource> = Vec::new();
            for source in cand.obj.object_list(Field::LogSources, &mut self.issues) {
                let Some(name) = source.get("name").and_then(Value::as_str) else {
                    self.issues.note(
                        BAD_FIELD,
                        format!("{}: a log source has no name; left out", cand.label()),
                    );
                    continue;
                };
                let log_source = LogSource {
                    name: name.to_owned(),
                    channel: source
                        .get("channel")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                };
                if !log_sources.contains(&log_source) {
                    log_sources.push(log_source);
                }
            }
            let idx = self.data.data_components.len();
            self.register(&cand, Kind::DataComponent, idx);
            self.data.data_components.push(DataComponent {
                id: cand.att_id.to_owned(),
                name: cand.name.to_owned(),
                log_sources,
            });
        }
    }

    /// The ATT&CK ID of the index entry a STIX id refers to, if it is of `kind`.
    fn resolve(&self, stix_id: &str, kind: Kind) -> Option<String> {
        self.nodes
            .get(stix_id)
            .filter(|node| node.kind == kind)
            .map(|node| self.att_id(*node).to_owned())
    }

    fn analytics(&mut self) {
        for cand in self.current_candidates("x-mitre-analytic") {
            let mut data_components = Vec::new();
            for reference in cand
                .obj
                .object_list(Field::LogSourceReferences, &mut self.issues)
            {
                let Some(dc_ref) = reference
                    .get("x_mitre_data_component_ref")
                    .and_then(Value::as_str)
                else {
                    self.issues.note(
                        BAD_FIELD,
                        format!(
                            "{}: a log source reference has no x_mitre_data_component_ref",
                            cand.label()
                        ),
                    );
                    continue;
                };
                match self.resolve(dc_ref, Kind::DataComponent) {
                    Some(dc) => data_components.push(dc),
                    None => self.issues.note(
                        BAD_REF,
                        format!(
                            "{}: data component {dc_ref} is not in the index; left out",
                            cand.label()
                        ),
                    ),
                }
            }
            let platforms = cand.obj.strings(Field::Platforms, &mut self.issues);
            let idx = self.data.analytics.len();
            self.register(&cand, Kind::Analytic, idx);
            self.data.analytics.push(Analytic {
                id: cand.att_id.to_owned(),
                name: cand.name.to_owned(),
                platforms: owned(&platforms),
                data_components,
            });
        }
    }

    fn detection_strategies(&mut self) {
        for cand in self.current_candidates("x-mitre-detection-strategy") {
            let mut analytics = Vec::new();
            for an_ref in cand.obj.strings(Field::AnalyticRefs, &mut self.issues) {
                match self.resolve(an_ref, Kind::Analytic) {
                    Some(an) => analytics.push(an),
                    None => self.issues.note(
                        BAD_REF,
                        format!(
                            "{}: analytic {an_ref} is not in the index; left out",
                            cand.label()
                        ),
                    ),
                }
            }
            let idx = self.data.detection_strategies.len();
            self.register(&cand, Kind::DetectionStrategy, idx);
            self.data.detection_strategies.push(DetectionStrategy {
                id: cand.att_id.to_owned(),
                name: cand.name.to_owned(),
                techniques: Vec::new(),
                analytics,
            });
        }
    }

    fn att_id(&self, node: Node) -> &str {
        let d = &self.data;
        match node.kind {
            Kind::Technique => &d.techniques[node.idx].id,
            Kind::Mitigation => &d.mitigations[node.idx].id,
            Kind::Group => &d.groups[node.idx].id,
            Kind::Software => &d.software[node.idx].id,
            Kind::Campaign => &d.campaigns[node.idx].id,
            Kind::DataComponent => &d.data_components[node.idx].id,
            Kind::DetectionStrategy => &d.detection_strategies[node.idx].id,
            Kind::Analytic => &d.analytics[node.idx].id,
        }
    }

    /// Whether a STIX id names a revoked object (in the index or left out).
    fn is_revoked(&self, stix_id: &str) -> bool {
        match self.nodes.get(stix_id) {
            Some(node) if node.kind == Kind::Technique => self.data.techniques[node.idx].revoked,
            Some(_) => false,
            None => self.revoked_out_ids.contains(stix_id),
        }
    }

    /// Folds every relationship onto the index entries it links.
    fn relationships(&mut self) {
        for rel in self.bucket("relationship") {
            let (Some(rtype), Some(src), Some(dst)) = (
                rel.str(Field::RelationshipType),
                rel.str(Field::SourceRef),
                rel.str(Field::TargetRef),
            ) else {
                self.issues.skip(
                    REL_MALFORMED,
                    format!(
                        "{}: missing relationship_type, source_ref or target_ref",
                        rel.id
                    ),
                );
                continue;
            };
            // Retired relationships are history, not current knowledge.
            if rel.flag(Field::Revoked, &mut self.issues)
                || rel.flag(Field::Deprecated, &mut self.issues)
            {
                self.issues.skip(
                    REL_RETIRED,
                    format!(
                        "{}: {rtype} {src} -> {dst} is revoked or deprecated",
                        rel.id
                    ),
                );
                continue;
            }
            if rtype == "revoked-by" {
                self.record_revocation(rel.id, src, dst);
                continue;
            }
            let (source, target) = match (self.nodes.get(src), self.nodes.get(dst)) {
                (Some(&s), Some(&t)) => (s, t),
                _ => {
                    self.skip_dangling(rel.id, rtype, src, dst);
                    continue;
                }
            };
            let target_id = self.att_id(target).to_owned();
            let d = &mut self.data;
            let list = match (rtype, source.kind, target.kind) {
                ("subtechnique-of", Kind::Technique, Kind::Technique) => {
                    let slot = &mut self.tech_rel_parent[source.idx];
                    if let Some(previous) = slot.as_ref().filter(|p| **p != target_id) {
                        self.issues.note(
                            PARENT,
                            format!(
                                "{}: {} is also subtechnique-of {previous}; using {target_id}",
                                rel.id, d.techniques[source.idx].id
                            ),
                        );
                    }
                    *slot = Some(target_id);
                    continue;
                }
                ("uses", Kind::Group, Kind::Technique) => &mut d.groups[source.idx].techniques,
                ("uses", Kind::Group, Kind::Software) => &mut d.groups[source.idx].software,
                ("uses", Kind::Software, Kind::Technique) => &mut d.software[source.idx].techniques,
                ("uses", Kind::Campaign, Kind::Technique) => {
                    &mut d.campaigns[source.idx].techniques
                }
                ("uses", Kind::Campaign, Kind::Software) => &mut d.campaigns[source.idx].software,
                ("attributed-to", Kind::Campaign, Kind::Group) => {
                    &mut d.campaigns[source.idx].groups
                }
                ("mitigates", Kind::Mitigation, Kind::Technique) => {
                    &mut d.mitigations[source.idx].techniques
                }
                ("detects", Kind::DetectionStrategy, Kind::Technique) => {
                    &mut d.detection_strategies[source.idx].techniques
                }
                _ => {
                    let source_id = self.att_id(source).to_owned();
                    self.issues.skip(
                        REL_UNSUPPORTED,
                        format!(
                            "{}: {rtype} from {} {source_id} to {} {target_id}",
                            rel.id, source.kind, target.kind
                        ),
                    );
                    continue;
                }
            };
            list.push(target_id);
        }
    }

    fn record_revocation(&mut self, rel_id: &str, src: &'a str, dst: &'a str) {
        if !self.all_ids.contains(src) {
            self.issues.skip(
                REL_DANGLING,
                format!("{rel_id}: revoked-by source {src} is not in the bundle"),
            );
        } else if !self.is_revoked(src) {
            self.issues.skip(
                REVOCATION,
                format!(
                    "{rel_id}: {src} is revoked-by {dst} but is not itself revoked (or was left out); ignored"
                ),
            );
        } else if let Some(previous) = self.revoked_by.get(src).filter(|p| **p != dst) {
            self.issues.skip(
                REVOCATION,
                format!("{rel_id}: {src} is also revoked-by {dst}; keeping {previous}"),
            );
        } else {
            self.revoked_by.insert(src, dst);
        }
    }

    fn skip_dangling(&mut self, rel_id: &str, rtype: &str, src: &str, dst: &str) {
        let mut reasons = Vec::new();
        let mut outside = false;
        for (end, stix_id) in [("source", src), ("target", dst)] {
            if self.nodes.contains_key(stix_id) {
                continue;
            }
            if self.all_ids.contains(stix_id) {
                reasons.push(format!("{end} {stix_id} is not in the index"));
            } else {
                outside = true;
                reasons.push(format!("{end} {stix_id} is not in the bundle"));
            }
        }
        self.issues.skip(
            if outside { REL_DANGLING } else { REL_UNINDEXED },
            format!("{rel_id}: {rtype}: {}", reasons.join(", ")),
        );
    }

    /// Parents of sub-techniques: the `subtechnique-of` relationship, else the
    /// ID before the dot.
    fn parents(&mut self) {
        let known: HashSet<String> = self.data.techniques.iter().map(|t| t.id.clone()).collect();
        for idx in 0..self.data.techniques.len() {
            let rel_parent = self.tech_rel_parent[idx].take();
            let technique = &self.data.techniques[idx];
            let label = format!("{} ({})", self.tech_stix[idx], technique.id);
            let prefix = technique.id.split_once('.').map(|(p, _)| p.to_owned());
            let parent = if !self.tech_is_sub[idx] {
                if let Some(rel_parent) = rel_parent {
                    self.issues.note(
                        PARENT,
                        format!("{label}: subtechnique-of {rel_parent} but not a sub-technique; ignored"),
                    );
                }
                None
            } else {
                match (rel_parent, prefix) {
                    (Some(rel), Some(prefix)) if rel != prefix => {
                        self.issues.note(
                            PARENT,
                            format!("{label}: subtechnique-of {rel}, which is not the ID's prefix; using {rel}"),
                        );
                        Some(rel)
                    }
                    (Some(rel), _) => Some(rel),
                    (None, Some(prefix)) => {
                        // Revoked sub-techniques often lost the relationship; the
                        // ID's prefix is the documented fallback.
                        if technique.is_active() {
                            self.issues.note(
                                PARENT,
                                format!("{label}: no subtechnique-of relationship; parent {prefix} taken from the ID"),
                            );
                        }
                        Some(prefix)
                    }
                    (None, None) => {
                        self.issues.note(
                            PARENT,
                            format!("{label}: sub-technique with neither a subtechnique-of relationship nor a dotted ID; kept as a technique"),
                        );
                        None
                    }
                }
            };
            if let Some(p) = parent.as_ref().filter(|p| !known.contains(*p)) {
                self.issues.note(
                    PARENT,
                    format!("{label}: parent {p} is not a technique in the index"),
                );
            }
            self.data.techniques[idx].parent = parent;
        }
    }

    fn follow(&self, start: &'a str) -> ChainEnd<'a> {
        follow_revocations(
            start,
            |id| self.revoked_by.get(id).copied(),
            |id| self.is_revoked(id),
        )
    }

    /// `revoked_by` of revoked techniques and `redirects` for the other
    /// revoked objects, following chains to the final replacement.
    fn revocations(&mut self) {
        for idx in 0..self.data.techniques.len() {
            if !self.data.techniques[idx].revoked {
                continue;
            }
            let stix_id = self.tech_stix[idx];
            let label = format!("{stix_id} ({})", self.data.techniques[idx].id);
            let replacement = match self.follow(stix_id) {
                ChainEnd::NoLink => {
                    self.issues.note(
                        REVOCATION,
                        format!("{label}: revoked without a revoked-by relationship"),
                    );
                    None
                }
                ChainEnd::Cycle(at) => {
                    self.issues.note(
                        REVOCATION,
                        format!("{label}: revoked-by chain loops at {at}; no replacement recorded"),
                    );
                    None
                }
                ChainEnd::Reached(end) => {
                    match self.nodes.get(end) {
                        Some(node) if node.kind == Kind::Technique => {
                            let target = &self.data.techniques[node.idx];
                            if target.revoked {
                                self.issues.note(
                                    REVOCATION,
                                    format!(
                                        "{label}: revoked-by chain ends at {}, itself revoked",
                                        target.id
                                    ),
                                );
                            }
                            Some(target.id.clone())
                        }
                        _ => {
                            self.issues.note(
                            REVOCATION,
                            format!("{label}: revoked-by {end}, which is not a technique in the index"),
                        );
                            None
                        }
                    }
                }
            };
            self.data.techniques[idx].revoked_by = replacement;
        }

        for &(stix_id, att_id) in &self.revoked_out {
            let label = format!("{stix_id} ({att_id})");
            let message = match self.follow(stix_id) {
                ChainEnd::NoLink => format!("{label}: revoked without a revoked-by relationship; no redirect"),
                ChainEnd::Cycle(at) => format!("{label}: revoked-by chain loops at {at}; no redirect"),
                ChainEnd::Reached(end) => match self.nodes.get(end) {
                    Some(&node) => {
                        self.data.redirects.push(Redirect {
                            from: att_id.to_owned(),
                            to: self.att_id(node).to_owned(),
                        });
                        continue;
                    }
                    None => format!("{label}: revoked-by chain ends at {end}, which is not in the index; no redirect"),
                },
            };
            self.issues.note(REVOCATION, message);
        }
    }

    /// Sorts everything by ID and removes repeated relations.
    fn finish_lists(&mut self) {
        let d = &mut self.data;
        d.techniques.sort_by(|a, b| a.id.cmp(&b.id));
        for m in &mut d.mitigations {
            sort_ids(&mut m.techniques);
        }
        d.mitigations.sort_by(|a, b| a.id.cmp(&b.id));
        for g in &mut d.groups {
            sort_ids(&mut g.techniques);
            sort_ids(&mut g.software);
        }
        d.groups.sort_by(|a, b| a.id.cmp(&b.id));
        for s in &mut d.software {
            sort_ids(&mut s.techniques);
        }
        d.software.sort_by(|a, b| a.id.cmp(&b.id));
        for c in &mut d.campaigns {
            sort_ids(&mut c.techniques);
            sort_ids(&mut c.software);
            sort_ids(&mut c.groups);
        }
        d.campaigns.sort_by(|a, b| a.id.cmp(&b.id));
        d.data_components.sort_by(|a, b| a.id.cmp(&b.id));
        for det in &mut d.detection_strategies {
            sort_ids(&mut det.techniques);
            sort_ids(&mut det.analytics);
        }
        d.detection_strategies.sort_by(|a, b| a.id.cmp(&b.id));
        for an in &mut d.analytics {
            sort_ids(&mut an.data_components);
        }
        d.analytics.sort_by(|a, b| a.id.cmp(&b.id));
        d.redirects.sort_by(|a, b| a.from.cmp(&b.from));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocation_chains_are_followed_and_cycles_stopped() {
        let links: HashMap<&str, &str> =
            HashMap::from([("a", "b"), ("b", "c"), ("x", "y"), ("y", "x")]);
        let revoked = ["a", "b", "x", "y", "d"];
        let follow = |start| {
            follow_revocations(
                start,
                |id| links.get(id).copied(),
                |id| revoked.contains(&id),
            )
        };
        assert_eq!(follow("a"), ChainEnd::Reached("c"));
        assert_eq!(follow("b"), ChainEnd::Reached("c"));
        assert_eq!(follow("c"), ChainEnd::NoLink);
        assert_eq!(follow("d"), ChainEnd::NoLink);
        assert_eq!(follow("x"), ChainEnd::Cycle("x"));
        // A revoked object whose replacement is revoked with no further link.
        let dead_end = follow_revocations("p", |id| (id == "p").then_some("q"), |_| true);
        assert_eq!(dead_end, ChainEnd::Reached("q"));
    }

    #[test]
    fn aliases_drop_the_own_name() {
        assert_eq!(
            aliases(&["APT29", "Cozy Bear", "NOBELIUM"], "APT29"),
            ["Cozy Bear", "NOBELIUM"]
        );
    }
}
