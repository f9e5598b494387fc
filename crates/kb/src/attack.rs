//! The compact ATT&CK index: the serialisable facts (`AttackData`) and the
//! loaded, indexed knowledge base (`AttackKb`) with its lookups.
//!
//! `AttackData` is what the generator (`stix.rs`) writes and what is embedded
//! in the binary: IDs, names, tactics, platforms, relations. No descriptions.
//! Relations are stored once, on the side that "uses" or "mitigates"; the
//! reverse indexes (who uses T1059?) are built by `AttackKb::new`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Provenance of an index: which ATT&CK release it was generated from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Meta {
    /// ATT&CK domain, e.g. `enterprise-attack`.
    pub domain: String,
    /// ATT&CK release, e.g. `18.1` (`unknown` when the bundle did not say and none was given).
    pub version: String,
    /// STIX `spec_version` of the source bundle (`2.0` or `2.1`).
    pub stix_version: String,
    /// Latest `modified` timestamp seen in the bundle (RFC 3339), a proxy for the release date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    /// Free text: where the index came from (file name of the bundle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// An ATT&CK tactic (TA0002 Execution). `shortname` is the STIX
/// `x_mitre_shortname` used in `kill_chain_phases` and Sigma tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tactic {
    pub id: String,
    pub name: String,
    pub shortname: String,
}

/// A technique or sub-technique. `tactics` holds tactic IDs (TA....), in
/// matrix order, so a renamed tactic (TA0005 Defense Evasion -> Stealth)
/// keeps every mapping keyed on its ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Technique {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tactics: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// Parent technique ID for a sub-technique (`T1059` for `T1059.001`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub revoked: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub deprecated: bool,
    /// For a revoked technique: the ATT&CK ID that replaces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
}

impl Technique {
    /// Active = neither revoked nor deprecated.
    pub fn is_active(&self) -> bool {
        !self.revoked && !self.deprecated
    }
    pub fn is_subtechnique(&self) -> bool {
        self.parent.is_some()
    }
}

/// An ATT&CK mitigation (course-of-action) and the techniques it mitigates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mitigation {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub techniques: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub deprecated: bool,
}

/// An ATT&CK group (intrusion-set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Technique IDs the group is known to use (`uses` relations).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub techniques: Vec<String>,
    /// Software IDs (S....) the group is known to use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub software: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub deprecated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SoftwareKind {
    Malware,
    Tool,
}

/// ATT&CK software: malware or tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Software {
    pub id: String,
    pub name: String,
    pub kind: SoftwareKind,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub techniques: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub deprecated: bool,
}

/// An ATT&CK campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub techniques: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub software: Vec<String>,
    /// Group IDs the campaign is attributed to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub deprecated: bool,
}

/// An ATT&CK data component (DC....), v18 and later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataComponent {
    pub id: String,
    pub name: String,
    /// Log sources named by the data component (`WinEventLog:Security` / `EventCode=4768`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_sources: Vec<LogSource>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSource {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// An ATT&CK detection strategy (DET....), v18 and later: which techniques it
/// detects and through which analytics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectionStrategy {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub techniques: Vec<String>,
    /// Analytic IDs (AN....).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub analytics: Vec<String>,
}

/// An ATT&CK analytic (AN....), v18 and later: a platform-specific detection
/// idea and the data components (DC IDs) it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Analytic {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_components: Vec<String>,
}

/// A revoked object other than a technique (techniques carry their own
/// `revoked_by`): looking up `from` leads to `to` with a warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirect {
    pub from: String,
    pub to: String,
}

/// The whole compact index, as generated from a STIX bundle and embedded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AttackData {
    pub meta: Meta,
    /// Tactics in matrix order (from `x-mitre-matrix.tactic_refs`).
    pub tactics: Vec<Tactic>,
    /// Techniques and sub-techniques, sorted by ID; revoked and deprecated included (flagged).
    pub techniques: Vec<Technique>,
    pub mitigations: Vec<Mitigation>,
    pub groups: Vec<Group>,
    pub software: Vec<Software>,
    pub campaigns: Vec<Campaign>,
    #[serde(default)]
    pub data_components: Vec<DataComponent>,
    #[serde(default)]
    pub detection_strategies: Vec<DetectionStrategy>,
    #[serde(default)]
    pub analytics: Vec<Analytic>,
    #[serde(default)]
    pub redirects: Vec<Redirect>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Counts for `kb info` and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Counts {
    pub tactics: usize,
    pub techniques: usize,
    pub subtechniques: usize,
    pub revoked: usize,
    pub deprecated: usize,
    pub mitigations: usize,
    pub groups: usize,
    pub software: usize,
    pub campaigns: usize,
    pub data_components: usize,
    pub detection_strategies: usize,
    pub analytics: usize,
    pub relationships: usize,
}

impl AttackData {
    /// Counts of active objects (techniques and sub-techniques counted apart).
    pub fn counts(&self) -> Counts {
        let active = self.techniques.iter().filter(|t| t.is_active());
        let (subs, techs): (Vec<_>, Vec<_>) = active.partition(|t| t.is_subtechnique());
        let relationships = self
            .mitigations
            .iter()
            .map(|m| m.techniques.len())
            .chain(
                self.groups
                    .iter()
                    .map(|g| g.techniques.len() + g.software.len()),
            )
            .chain(self.software.iter().map(|s| s.techniques.len()))
            .chain(
                self.campaigns
                    .iter()
                    .map(|c| c.techniques.len() + c.software.len() + c.groups.len()),
            )
            .chain(self.detection_strategies.iter().map(|d| d.techniques.len()))
            .sum();
        Counts {
            tactics: self.tactics.len(),
            techniques: techs.len(),
            subtechniques: subs.len(),
            revoked: self.techniques.iter().filter(|t| t.revoked).count(),
            deprecated: self
                .techniques
                .iter()
                .filter(|t| t.deprecated && !t.revoked)
                .count(),
            mitigations: self.mitigations.iter().filter(|m| !m.deprecated).count(),
            groups: self.groups.iter().filter(|g| !g.deprecated).count(),
            software: self.software.iter().filter(|s| !s.deprecated).count(),
            campaigns: self.campaigns.iter().filter(|c| !c.deprecated).count(),
            data_components: self.data_components.len(),
            detection_strategies: self.detection_strategies.len(),
            analytics: self.analytics.len(),
            relationships,
        }
    }
}

/// What an ATT&CK ID, tag or name resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectRef {
    Tactic(usize),
    Technique(usize),
    Mitigation(usize),
    Group(usize),
    Software(usize),
    Campaign(usize),
    DataComponent(usize),
    DetectionStrategy(usize),
    Analytic(usize),
}

/// A successful lookup. `redirected_from` is set when the query named a
/// revoked object and the answer is its replacement: callers warn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub object: ObjectRef,
    pub redirected_from: Option<String>,
}

/// The loaded knowledge base: the data plus the indexes every lookup needs.
#[derive(Debug, Clone)]
pub struct AttackKb {
    data: AttackData,
    /// Upper-cased ATT&CK ID -> object.
    by_id: FastMap<String, ObjectRef>,
    /// Lower-cased name, alias or tactic shortname -> objects (names are not unique).
    by_name: FastMap<String, Vec<ObjectRef>>,
    /// Old ID -> new ID, for revoked objects of every kind.
    redirects: FastMap<String, String>,
    /// Technique index -> mitigations, groups, software, campaigns, detection strategies.
    mitigations_of: HashMap<usize, Vec<usize>>,
    groups_of: HashMap<usize, Vec<usize>>,
    software_of: HashMap<usize, Vec<usize>>,
    campaigns_of: HashMap<usize, Vec<usize>>,
    detections_of: HashMap<usize, Vec<usize>>,
    /// Technique index -> its active sub-techniques.
    children: HashMap<usize, Vec<usize>>,
}

/// Normalise a lookup token: trim, drop a Sigma `attack.` prefix.
fn strip_tag(q: &str) -> &str {
    let q = q.trim();
    match q.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("attack.") => &q[7..],
        _ => q,
    }
}

/// Lower-case and fold `_`, spaces and camelCase humps to `-`, so
/// `credential_access`, `Credential Access`, `CredentialAccess` (Microsoft
/// Sentinel) and `credential-access` meet.
pub fn fold_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    let mut prev_lower = false;
    for c in s.trim().chars() {
        match c {
            '_' | ' ' | '-' => {
                if !out.ends_with('-') {
                    out.push('-');
                }
                prev_lower = false;
                continue;
            }
            c if c.is_ascii_uppercase() && prev_lower => out.push('-'),
            _ => {}
        }
        prev_lower = c.is_lowercase();
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Longest ATT&CK ID we look up (`DET0001`, `T1059.001`, `TA0001`...), with room to spare.
const MAX_ID_LEN: usize = 16;

/// Maps keyed by short IDs and names, hashed with FxHash (no DoS exposure:
/// keys come from the ATT&CK bundle and records, and a collision only costs
/// a comparison).
type FastMap<K, V> = rustc_hash::FxHashMap<K, V>;

/// Tactic shortnames that ATT&CK renamed, still used by rule sets written
/// against older releases (SigmaHQ's `attack.defense_evasion`, Hayabusa's
/// `Evas`). Consulted only when the current release has no such name.
const LEGACY_TACTIC_NAMES: &[(&str, &str)] = &[("defense-evasion", "TA0005")];

impl AttackKb {
    /// Index the data. Cheap enough to run at every start (a few ms).
    pub fn new(data: AttackData) -> Self {
        let mut kb = AttackKb {
            by_id: FastMap::default(),
            by_name: FastMap::default(),
            redirects: FastMap::default(),
            mitigations_of: HashMap::new(),
            groups_of: HashMap::new(),
            software_of: HashMap::new(),
            campaigns_of: HashMap::new(),
            detections_of: HashMap::new(),
            children: HashMap::new(),
            data,
        };
        kb.build_indexes();
        kb
    }

    fn build_indexes(&mut self) {
        let d = &self.data;
        let mut by_id: FastMap<String, ObjectRef> = FastMap::default();
        let mut by_name: FastMap<String, Vec<ObjectRef>> = FastMap::default();
        let mut add_name = |name: &str, r: ObjectRef| {
            let entry = by_name.entry(fold_name(name)).or_default();
            if !entry.contains(&r) {
                entry.push(r);
            }
        };
        for (i, t) in d.tactics.iter().enumerate() {
            by_id.insert(t.id.to_ascii_uppercase(), ObjectRef::Tactic(i));
            add_name(&t.name, ObjectRef::Tactic(i));
            add_name(&t.shortname, ObjectRef::Tactic(i));
        }
        for (i, t) in d.techniques.iter().enumerate() {
            // A revoked duplicate must not shadow the active object with the same ID.
            let key = t.id.to_ascii_uppercase();
            let keep_existing = matches!(by_id.get(&key), Some(ObjectRef::Technique(j)) if d.techniques[*j].is_active());
            if !keep_existing {
                by_id.insert(key, ObjectRef::Technique(i));
            }
            if t.is_active() {
                add_name(&t.name, ObjectRef::Technique(i));
            }
            if let Some(to) = &t.revoked_by {
                self.redirects.insert(t.id.to_ascii_uppercase(), to.clone());
            }
        }
        for (i, m) in d.mitigations.iter().enumerate() {
            by_id.insert(m.id.to_ascii_uppercase(), ObjectRef::Mitigation(i));
            add_name(&m.name, ObjectRef::Mitigation(i));
        }
        for (i, g) in d.groups.iter().enumerate() {
            by_id.insert(g.id.to_ascii_uppercase(), ObjectRef::Group(i));
            add_name(&g.name, ObjectRef::Group(i));
            for a in &g.aliases {
                add_name(a, ObjectRef::Group(i));
            }
        }
        for (i, s) in d.software.iter().enumerate() {
            by_id.insert(s.id.to_ascii_uppercase(), ObjectRef::Software(i));
            add_name(&s.name, ObjectRef::Software(i));
            for a in &s.aliases {
                add_name(a, ObjectRef::Software(i));
            }
        }
        for (i, c) in d.campaigns.iter().enumerate() {
            by_id.insert(c.id.to_ascii_uppercase(), ObjectRef::Campaign(i));
            add_name(&c.name, ObjectRef::Campaign(i));
        }
        for (i, c) in d.data_components.iter().enumerate() {
            by_id.insert(c.id.to_ascii_uppercase(), ObjectRef::DataComponent(i));
            add_name(&c.name, ObjectRef::DataComponent(i));
        }
        for (i, c) in d.detection_strategies.iter().enumerate() {
            by_id.insert(c.id.to_ascii_uppercase(), ObjectRef::DetectionStrategy(i));
        }
        for (i, c) in d.analytics.iter().enumerate() {
            by_id.insert(c.id.to_ascii_uppercase(), ObjectRef::Analytic(i));
        }
        for r in &d.redirects {
            self.redirects
                .insert(r.from.to_ascii_uppercase(), r.to.clone());
        }

        // Reverse relations: technique index -> users.
        let tech = |id: &str| match by_id.get(&id.to_ascii_uppercase()) {
            Some(ObjectRef::Technique(i)) => Some(*i),
            _ => None,
        };
        let push = |map: &mut HashMap<usize, Vec<usize>>, ids: &[String], who: usize| {
            for id in ids {
                if let Some(t) = tech(id) {
                    map.entry(t).or_default().push(who);
                }
            }
        };
        for (i, m) in d.mitigations.iter().enumerate() {
            push(&mut self.mitigations_of, &m.techniques, i);
        }
        for (i, g) in d.groups.iter().enumerate() {
            push(&mut self.groups_of, &g.techniques, i);
        }
        for (i, s) in d.software.iter().enumerate() {
            push(&mut self.software_of, &s.techniques, i);
        }
        for (i, c) in d.campaigns.iter().enumerate() {
            push(&mut self.campaigns_of, &c.techniques, i);
        }
        for (i, s) in d.detection_strategies.iter().enumerate() {
            push(&mut self.detections_of, &s.techniques, i);
        }
        for (i, t) in d.techniques.iter().enumerate() {
            if let (true, Some(p)) = (t.is_active(), &t.parent) {
                if let Some(pi) = tech(p) {
                    self.children.entry(pi).or_default().push(i);
                }
            }
        }
        self.by_id = by_id;
        self.by_name = by_name;
    }

    pub fn data(&self) -> &AttackData {
        &self.data
    }
    pub fn meta(&self) -> &Meta {
        &self.data.meta
    }
    /// Tactics in matrix order.
    pub fn tactics(&self) -> &[Tactic] {
        &self.data.tactics
    }
    pub fn technique(&self, idx: usize) -> &Technique {
        &self.data.techniques[idx]
    }
    pub fn tactic(&self, idx: usize) -> &Tactic {
        &self.data.tactics[idx]
    }
    /// Active techniques and sub-techniques with their indexes.
    pub fn active_techniques(&self) -> impl Iterator<Item = (usize, &Technique)> {
        self.data
            .techniques
            .iter()
            .enumerate()
            .filter(|(_, t)| t.is_active())
    }

    /// Resolve an ATT&CK ID (any kind, case-insensitive, `attack.` prefix
    /// allowed), following revoked-by redirects.
    pub fn resolve_id(&self, query: &str) -> Option<Resolved> {
        // IDs are short: upper-case into a stack buffer, so the common case
        // (an ID found at once) allocates nothing. Longer text is no ID.
        let q = strip_tag(query).as_bytes();
        let mut buf = [0u8; MAX_ID_LEN];
        let key = buf.get_mut(..q.len())?;
        key.copy_from_slice(q);
        key.make_ascii_uppercase();
        let key = std::str::from_utf8(key).ok()?;
        let mut redirected_from: Option<String> = None;
        let mut current: std::borrow::Cow<str> = key.into();
        // Follow redirects a bounded number of times (chains are short; cycles impossible to loop on).
        for _ in 0..8 {
            let found = self.by_id.get(current.as_ref()).copied();
            let revoked_to = match found {
                Some(ObjectRef::Technique(i)) if self.data.techniques[i].revoked => {
                    self.data.techniques[i].revoked_by.as_deref()
                }
                Some(_) => None,
                None => self.redirects.get(current.as_ref()).map(String::as_str),
            };
            match (found, revoked_to) {
                (_, Some(next)) => {
                    redirected_from.get_or_insert_with(|| current.to_string());
                    current = next.to_ascii_uppercase().into();
                }
                (Some(object), None) => {
                    return Some(Resolved {
                        object,
                        redirected_from,
                    })
                }
                (None, None) => return None,
            }
        }
        None
    }

    /// Resolve a technique ID to its index (after redirects).
    pub fn technique_by_id(&self, id: &str) -> Option<(usize, Option<String>)> {
        match self.resolve_id(id)? {
            Resolved {
                object: ObjectRef::Technique(i),
                redirected_from,
            } => Some((i, redirected_from)),
            _ => None,
        }
    }

    /// Resolve a tactic from its ID (`TA0002`), shortname (`execution`,
    /// `credential_access`), name (`Credential Access`) or tag (`attack.execution`).
    pub fn tactic_by_token(&self, token: &str) -> Option<usize> {
        let q = strip_tag(token);
        if let Some(Resolved {
            object: ObjectRef::Tactic(i),
            ..
        }) = self.resolve_id(q)
        {
            return Some(i);
        }
        let folded = fold_name(q);
        let by_name = self.by_name.get(&folded).and_then(|v| {
            v.iter().find_map(|r| match r {
                ObjectRef::Tactic(i) => Some(*i),
                _ => None,
            })
        });
        by_name.or_else(|| {
            let (_, id) = LEGACY_TACTIC_NAMES.iter().find(|(n, _)| *n == folded)?;
            match self.by_id.get(*id) {
                Some(ObjectRef::Tactic(i)) => Some(*i),
                _ => None,
            }
        })
    }

    /// Look anything up: ID, Sigma tag, tactic shortname, or (exact,
    /// case-insensitive) name or alias. Names can be ambiguous, hence a list.
    pub fn lookup(&self, query: &str) -> Vec<Resolved> {
        if let Some(r) = self.resolve_id(query) {
            return vec![r];
        }
        let q = strip_tag(query);
        self.by_name
            .get(&fold_name(q))
            .map(|v| {
                v.iter()
                    .map(|o| Resolved {
                        object: *o,
                        redirected_from: None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Names containing the query (case-insensitive), for "did you mean".
    pub fn search_names(&self, query: &str, limit: usize) -> Vec<(String, ObjectRef)> {
        let q = fold_name(query);
        let mut out: Vec<(String, ObjectRef)> = self
            .by_name
            .iter()
            .filter(|(k, _)| k.contains(&q))
            .flat_map(|(k, v)| v.iter().map(move |o| (k.clone(), *o)))
            .collect();
        out.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then(a.0.cmp(&b.0)));
        out.truncate(limit);
        out
    }

    /// The ATT&CK ID and name of any object.
    pub fn describe(&self, r: ObjectRef) -> (&str, &str) {
        let d = &self.data;
        match r {
            ObjectRef::Tactic(i) => (&d.tactics[i].id, &d.tactics[i].name),
            ObjectRef::Technique(i) => (&d.techniques[i].id, &d.techniques[i].name),
            ObjectRef::Mitigation(i) => (&d.mitigations[i].id, &d.mitigations[i].name),
            ObjectRef::Group(i) => (&d.groups[i].id, &d.groups[i].name),
            ObjectRef::Software(i) => (&d.software[i].id, &d.software[i].name),
            ObjectRef::Campaign(i) => (&d.campaigns[i].id, &d.campaigns[i].name),
            ObjectRef::DataComponent(i) => (&d.data_components[i].id, &d.data_components[i].name),
            ObjectRef::DetectionStrategy(i) => (
                &d.detection_strategies[i].id,
                &d.detection_strategies[i].name,
            ),
            ObjectRef::Analytic(i) => (&d.analytics[i].id, &d.analytics[i].name),
        }
    }

    /// Tactic indexes of a technique, in matrix order.
    pub fn tactics_of(&self, technique: usize) -> Vec<usize> {
        let t = &self.data.techniques[technique];
        let mut out: Vec<usize> = t
            .tactics
            .iter()
            .filter_map(|id| match self.by_id.get(&id.to_ascii_uppercase()) {
                Some(ObjectRef::Tactic(i)) => Some(*i),
                _ => None,
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Parent technique index of a sub-technique.
    pub fn parent_of(&self, technique: usize) -> Option<usize> {
        let p = self.data.techniques[technique].parent.as_deref()?;
        match self.by_id.get(&p.to_ascii_uppercase()) {
            Some(ObjectRef::Technique(i)) => Some(*i),
            _ => None,
        }
    }

    /// Active sub-techniques of a technique.
    pub fn subtechniques_of(&self, technique: usize) -> &[usize] {
        self.children
            .get(&technique)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Mitigations of a technique (active ones).
    pub fn mitigations_for(&self, technique: usize) -> Vec<&Mitigation> {
        self.related(&self.mitigations_of, technique)
            .map(|i| &self.data.mitigations[i])
            .filter(|m| !m.deprecated)
            .collect()
    }
    /// Groups known to use exactly this technique.
    pub fn groups_using(&self, technique: usize) -> Vec<&Group> {
        self.related(&self.groups_of, technique)
            .map(|i| &self.data.groups[i])
            .filter(|g| !g.deprecated)
            .collect()
    }
    pub fn software_using(&self, technique: usize) -> Vec<&Software> {
        self.related(&self.software_of, technique)
            .map(|i| &self.data.software[i])
            .filter(|s| !s.deprecated)
            .collect()
    }
    pub fn campaigns_using(&self, technique: usize) -> Vec<&Campaign> {
        self.related(&self.campaigns_of, technique)
            .map(|i| &self.data.campaigns[i])
            .filter(|c| !c.deprecated)
            .collect()
    }
    pub fn detection_strategies_for(&self, technique: usize) -> Vec<&DetectionStrategy> {
        self.related(&self.detections_of, technique)
            .map(|i| &self.data.detection_strategies[i])
            .collect()
    }
    /// An analytic by ID.
    pub fn analytic(&self, id: &str) -> Option<&Analytic> {
        match self.by_id.get(&id.to_ascii_uppercase()) {
            Some(ObjectRef::Analytic(i)) => Some(&self.data.analytics[*i]),
            _ => None,
        }
    }
    /// A data component by ID.
    pub fn data_component(&self, id: &str) -> Option<&DataComponent> {
        match self.by_id.get(&id.to_ascii_uppercase()) {
            Some(ObjectRef::DataComponent(i)) => Some(&self.data.data_components[*i]),
            _ => None,
        }
    }

    fn related<'a>(
        &'a self,
        map: &'a HashMap<usize, Vec<usize>>,
        technique: usize,
    ) -> impl Iterator<Item = usize> + 'a {
        map.get(&technique).into_iter().flatten().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::fold_name;

    #[test]
    fn fold_name_meets_every_spelling() {
        for s in [
            "credential-access",
            "credential_access",
            "Credential Access",
            "CredentialAccess",
            " credential  access ",
        ] {
            assert_eq!(fold_name(s), "credential-access", "{s:?}");
        }
        assert_eq!(fold_name("CommandAndControl"), "command-and-control");
        assert_eq!(fold_name("APT29"), "apt29");
        assert_eq!(fold_name("T1059.001"), "t1059.001");
    }
}
