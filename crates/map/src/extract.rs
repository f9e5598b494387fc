//! Finding ATT&CK references in alert records, wherever real tools put them.
//!
//! Each supported *dialect* (ECS, Elastic detection alerts, Sigma/Hayabusa
//! tags, Wazuh, Splunk ES/ESCU, STIX, plain fields) is a list of field paths
//! plus a rule for reading the values there. [`extract_references`] probes
//! them all and returns [`Reference`]s: the raw value, where it was found, and
//! what it parses to (a technique ID, a tactic ID or name, a group, a
//! software, or a phase of a non-ATT&CK kill chain). Resolving those against
//! the knowledge base is the mapper's job; this module only recognises shapes.
//!
//! As a last resort, when a record has no explicit reference at all, technique
//! IDs written inside rule names, titles and messages are picked up with low
//! confidence; when there are none either, a Suricata / Snort alert's
//! signature class or classtype may imply a technique (`signature_class.rs`),
//! taken with lower confidence still.

use std::borrow::Cow;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::LazyLock;

use crate::node::Node;
use regex::Regex;

use crate::path::{self, EntryMasks, HeadId, Heads, Present, LIVE_CAP};
use crate::signature_class::{self, ClassField, Inference, SourceAddress};

/// The family of fields a reference was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// ECS `threat.*`.
    Ecs,
    /// Elastic Security detection alerts and rules (`kibana.alert.rule.threat`, `signal.rule.threat`, `rule.threat`).
    Elastic,
    /// Sigma rule tags (`attack.t1059.001`), Hayabusa `MitreTags` / `MitreTactics`, Elastic `Tactic: X` tags.
    SigmaTags,
    /// Wazuh `rule.mitre.*`.
    Wazuh,
    /// Splunk ES / ESCU `annotations.*` and the MITRE lookup fields.
    Splunk,
    /// STIX `kill_chain_phases` and `external_references`.
    Stix,
    /// Generic fields (`technique`, `tactic`, CrowdStrike, Microsoft, Suricata metadata).
    Plain,
    /// Technique IDs inside rule names, titles and messages (last resort).
    RuleName,
    /// Techniques inferred from a Suricata / Snort alert's signature class or
    /// classtype (after the rule-name last resort; `signature_class.rs`).
    SuricataClass,
    /// Paths the user configured.
    Custom,
}

impl Dialect {
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Ecs => "ecs",
            Dialect::Elastic => "elastic",
            Dialect::SigmaTags => "sigma-tags",
            Dialect::Wazuh => "wazuh",
            Dialect::Splunk => "splunk",
            Dialect::Stix => "stix",
            Dialect::Plain => "plain",
            Dialect::RuleName => "rule-name",
            Dialect::SuricataClass => "suricata-class",
            Dialect::Custom => "custom",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a reference names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefValue {
    /// Normalised technique ID: `T1059` or `T1059.001`.
    Technique(String),
    /// Normalised tactic ID: `TA0002`.
    TacticId(String),
    /// A tactic name or shortname as given, trimmed (`Execution`,
    /// `credential_access`, `defense-evasion`).
    TacticName(String),
    /// Normalised group ID: `G0016`.
    Group(String),
    /// Normalised software ID: `S0002`.
    Software(String),
    /// A phase of a non-ATT&CK kill chain (STIX `kill_chain_phases`, Splunk
    /// `annotations.kill_chain_phases`), names as given.
    Phase { chain: String, phase: String },
    /// A technique the record does not name, inferred from an IDS
    /// signature's class (`suricata-class`): the technique ID as ATT&CK
    /// writes it, and the table row and reading that gave it.
    Inferred {
        technique: &'static str,
        from: Inference,
    },
}

/// One ATT&CK (or kill chain) reference found in a record.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub value: RefValue,
    /// The field path where it was found, in the dialect's canonical spelling
    /// (array positions are not recorded).
    pub field: String,
    /// The value as found (one token of a list or comma-separated string).
    pub raw: String,
    pub dialect: Dialect,
    /// 0..1: explicit fields 0.9, tags 0.85, plain and custom 0.8, rule
    /// names 0.5, signature classes 0.4.
    pub confidence: f32,
}

/// The STIX `kill_chain_name` Splunk's `annotations.kill_chain_phases` implies.
pub const LOCKHEED_CHAIN: &str = "lockheed-martin-cyber-kill-chain";

const CONF_EXPLICIT: f32 = 0.9;
const CONF_TAG: f32 = 0.85;
const CONF_PLAIN: f32 = 0.8;
const CONF_CUSTOM: f32 = 0.8;
const CONF_NAME: f32 = 0.5;
/// Below a technique ID in a rule name: the class of a signature is the
/// ruleset authors' filing of it, not a mapping.
const CONF_CLASS: f32 = 0.4;

/// How the values at a path are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// ATT&CK IDs (technique, tactic, group, software); anything else ignored.
    Id,
    /// An ATT&CK ID, or else a tactic name.
    Tactic,
    /// Sigma-style tags: `attack.t1059.001`, `attack.execution`, `attack.g0016`,
    /// bare `T1059`, Elastic `Tactic: Execution`; other namespaces ignored.
    Tag,
    /// Hayabusa `MitreTactics` abbreviations (`Exec`, `CredAccess`).
    HayabusaTactic,
    /// Phase names of a fixed non-ATT&CK chain.
    ChainPhase(&'static str),
    /// STIX `kill_chain_phases` objects.
    KillChainPhases,
    /// STIX `external_references` objects.
    ExternalRefs,
    /// An ECS/Elastic `threat` object (or array of them).
    Threat,
    /// Free text scanned for technique IDs (last resort).
    Name,
    /// A Suricata EVE `alert` object: its `signature` class or `category`
    /// read against the signature-class table (after `Name`).
    SignatureClass,
}

impl Kind {
    /// Which round of probing a path belongs to: explicit references (0);
    /// IDs in rule names (1) when round 0 found nothing; signature classes
    /// (2) when rounds 0 and 1 found nothing.
    fn round(self) -> u8 {
        match self {
            Kind::Name => 1,
            Kind::SignatureClass => 2,
            _ => 0,
        }
    }
}

/// The sub-fields of an ECS `threat` object and how each is read.
const THREAT_SUBFIELDS: &[(&str, Kind)] = &[
    ("tactic.id", Kind::Tactic),
    ("tactic.name", Kind::Tactic),
    ("technique.id", Kind::Id),
    ("technique.subtechnique.id", Kind::Id),
    ("group.id", Kind::Id),
    ("software.id", Kind::Id),
];

/// One path to probe.
#[derive(Debug, Clone)]
struct Probe {
    path: Cow<'static, str>,
    kind: Kind,
    dialect: Dialect,
    confidence: f32,
    head: HeadId,
    /// Field names reported for compound kinds, precomputed so extraction
    /// does not format strings: `threat` -> `threat.tactic.id`, ... in
    /// [`THREAT_SUBFIELDS`] order; `kill_chain_phases` -> `.phase_name`;
    /// `external_references` -> `.external_id`; `alert` (signature class)
    /// -> `.signature`, `.category`, `.source.ip` and the EVE record's
    /// `src_ip`.
    subfields: Box<[String]>,
}

impl Probe {
    fn new(
        heads: &mut Heads,
        path: Cow<'static, str>,
        kind: Kind,
        dialect: Dialect,
        confidence: f32,
    ) -> Probe {
        let subfields: Box<[String]> = match kind {
            Kind::Threat => THREAT_SUBFIELDS
                .iter()
                .map(|(s, _)| format!("{path}.{s}"))
                .collect(),
            Kind::KillChainPhases => Box::new([format!("{path}.phase_name")]),
            Kind::ExternalRefs => Box::new([format!("{path}.external_id")]),
            Kind::SignatureClass => {
                // The EVE record holding `alert`: its source address fields.
                let eve = path.strip_suffix("alert").unwrap_or_default();
                Box::new([
                    format!("{path}.signature"),
                    format!("{path}.category"),
                    format!("{path}.source.ip"),
                    format!("{eve}src_ip"),
                ])
            }
            _ => Box::new([]),
        };
        Probe {
            head: heads.id(&path),
            path,
            kind,
            dialect,
            confidence,
            subfields,
        }
    }
}

/// The built-in dialects: (path, kind, dialect, confidence), probed in this order.
const BUILTIN: &[(&str, Kind, Dialect, f32)] = {
    use Dialect::*;
    use Kind::*;
    &[
        // ECS: `threat` is an object or an array of objects; each holds
        // tactic.{id,name}, technique.{id,subtechnique.id}, group.id, software.id.
        ("threat", Threat, Ecs, CONF_EXPLICIT),
        // Elastic Security alerts (8.x `kibana.alert.*`, usually flat dotted
        // keys), legacy 7.x signals, and exported/saved rules.
        ("kibana.alert.rule.threat", Threat, Elastic, CONF_EXPLICIT),
        ("signal.rule.threat", Threat, Elastic, CONF_EXPLICIT),
        ("rule.threat", Threat, Elastic, CONF_EXPLICIT),
        // Wazuh alerts: rule.mitre.{id,tactic,technique} (4.x); `tactics`
        // in 3.x. `technique` holds names, not IDs: not used.
        ("rule.mitre.id", Id, Wazuh, CONF_EXPLICIT),
        ("rule.mitre.tactic", Tactic, Wazuh, CONF_EXPLICIT),
        ("rule.mitre.tactics", Tactic, Wazuh, CONF_EXPLICIT),
        // Splunk ES notables / ESCU annotations (flat multivalue keys in
        // exports, nested in ESCU YAML turned JSON) and the ES MITRE lookup.
        ("annotations.mitre_attack", Id, Splunk, CONF_EXPLICIT),
        (
            "annotations.mitre_attack.mitre_technique_id",
            Id,
            Splunk,
            CONF_EXPLICIT,
        ),
        (
            "annotations.mitre_attack.mitre_tactic_id",
            Tactic,
            Splunk,
            CONF_EXPLICIT,
        ),
        (
            "annotations.mitre_attack.mitre_tactic",
            Tactic,
            Splunk,
            CONF_EXPLICIT,
        ),
        (
            "annotations.kill_chain_phases",
            ChainPhase(LOCKHEED_CHAIN),
            Splunk,
            CONF_EXPLICIT,
        ),
        ("mitre_technique_id", Id, Splunk, CONF_EXPLICIT),
        ("mitre_tactic_id", Tactic, Splunk, CONF_EXPLICIT),
        ("mitre_tactic", Tactic, Splunk, CONF_EXPLICIT),
        // STIX 2.x objects (indicator, attack-pattern, malware, ...), alone or in a bundle.
        ("kill_chain_phases", KillChainPhases, Stix, CONF_EXPLICIT),
        ("external_references", ExternalRefs, Stix, CONF_EXPLICIT),
        (
            "objects.kill_chain_phases",
            KillChainPhases,
            Stix,
            CONF_EXPLICIT,
        ),
        (
            "objects.external_references",
            ExternalRefs,
            Stix,
            CONF_EXPLICIT,
        ),
        // Sigma rule tags as carried by Sigma engines and SIEM rule metadata;
        // Elastic's `Tactic: X` rule tags.
        ("tags", Tag, SigmaTags, CONF_TAG),
        ("rule.tags", Tag, SigmaTags, CONF_TAG),
        ("sigma.tags", Tag, SigmaTags, CONF_TAG),
        ("kibana.alert.rule.tags", Tag, SigmaTags, CONF_TAG),
        ("signal.rule.tags", Tag, SigmaTags, CONF_TAG),
        ("labels", Tag, SigmaTags, CONF_TAG),
        // Hayabusa JSON(L) timelines (verbose profiles and up).
        // `MitreTags` holds technique, group and software IDs.
        ("MitreTags", Id, SigmaTags, CONF_TAG),
        ("MitreTactics", HayabusaTactic, SigmaTags, CONF_TAG),
        // Plain fields written by scripts and smaller tools, IDs or names.
        ("technique", Id, Plain, CONF_PLAIN),
        ("techniques", Id, Plain, CONF_PLAIN),
        ("technique_id", Id, Plain, CONF_PLAIN),
        ("technique.id", Id, Plain, CONF_PLAIN),
        ("mitre_technique", Id, Plain, CONF_PLAIN),
        ("attack.technique", Id, Plain, CONF_PLAIN),
        ("tactic", Tactic, Plain, CONF_PLAIN),
        ("tactics", Tactic, Plain, CONF_PLAIN),
        ("tactic_id", Tactic, Plain, CONF_PLAIN),
        ("tactic.id", Tactic, Plain, CONF_PLAIN),
        ("tactic.name", Tactic, Plain, CONF_PLAIN),
        ("attack.tactic", Tactic, Plain, CONF_PLAIN),
        // CrowdStrike Falcon detection summaries.
        ("TechniqueId", Id, Plain, CONF_PLAIN),
        ("TacticId", Tactic, Plain, CONF_PLAIN),
        ("Tactic", Tactic, Plain, CONF_PLAIN),
        // Microsoft Defender XDR / Graph security alerts, Sentinel SecurityAlert.
        ("mitreTechniques", Id, Plain, CONF_PLAIN),
        ("Techniques", Id, Plain, CONF_PLAIN),
        ("Tactics", Tactic, Plain, CONF_PLAIN),
        // Suricata EVE: ET rule metadata (`mitre_tactic_name` is `Initial_Access`).
        (
            "alert.metadata.mitre_technique_id",
            Id,
            Plain,
            CONF_EXPLICIT,
        ),
        (
            "alert.metadata.mitre_tactic_id",
            Tactic,
            Plain,
            CONF_EXPLICIT,
        ),
        (
            "alert.metadata.mitre_tactic_name",
            Tactic,
            Plain,
            CONF_EXPLICIT,
        ),
        // Last resort, only when nothing above matched: IDs in rule names and messages.
        ("rule.name", Name, RuleName, CONF_NAME),
        ("rule_name", Name, RuleName, CONF_NAME),
        ("kibana.alert.rule.name", Name, RuleName, CONF_NAME),
        ("signal.rule.name", Name, RuleName, CONF_NAME),
        ("rule.description", Name, RuleName, CONF_NAME),
        ("title", Name, RuleName, CONF_NAME),
        ("RuleTitle", Name, RuleName, CONF_NAME),
        ("name", Name, RuleName, CONF_NAME),
        ("signature", Name, RuleName, CONF_NAME),
        ("alert.signature", Name, RuleName, CONF_NAME),
        ("search_name", Name, RuleName, CONF_NAME),
        ("message", Name, RuleName, CONF_NAME),
        // Last of all, when no rule name held an ID either: the class of a
        // Suricata / Snort signature (`ET SCAN ...`) or its classtype: EVE
        // as Suricata writes it, as Filebeat's / Elastic Agent's Suricata
        // module keeps it, and as Wazuh's Suricata decoder nests it.
        ("alert", SignatureClass, SuricataClass, CONF_CLASS),
        (
            "suricata.eve.alert",
            SignatureClass,
            SuricataClass,
            CONF_CLASS,
        ),
        ("data.alert", SignatureClass, SuricataClass, CONF_CLASS),
    ]
};

/// Where to look for references: the built-in dialects (by default) plus
/// user-configured paths. Build once and reuse; construction registers every
/// path's head so extraction can skip dialects a record cannot contain.
#[derive(Debug, Clone)]
pub struct FieldPaths {
    heads: Heads,
    /// Custom paths, probed first (the user's intent wins ties in dedup).
    custom: Vec<Probe>,
    builtin: Vec<Probe>,
    /// Probe order, derived from the above by [`FieldPaths::reindex`]:
    /// explicit probes, then the rule-name ones (a last resort), then the
    /// signature-class one (the last resort after that), each custom before
    /// built-in; `n_main` explicit ones, `n_names` explicit and rule-name ones.
    order: Vec<Probe>,
    n_main: usize,
    n_names: usize,
    masks: EntryMasks,
}

impl Default for FieldPaths {
    fn default() -> Self {
        // The fact paths' heads first, with the same IDs, so one scan of a
        // record serves facts and references (`Mapper::map_record`).
        let mut heads = crate::facts::heads().clone();
        let builtin = BUILTIN
            .iter()
            .map(|&(p, kind, dialect, conf)| {
                Probe::new(&mut heads, Cow::Borrowed(p), kind, dialect, conf)
            })
            .collect();
        let mut paths = FieldPaths {
            heads,
            custom: Vec::new(),
            builtin,
            order: Vec::new(),
            n_main: 0,
            n_names: 0,
            masks: EntryMasks::default(),
        };
        paths.reindex();
        paths
    }
}

impl FieldPaths {
    /// The head table of these paths: the fact paths' heads first (see
    /// `facts::heads`), then the reference paths'.
    pub(crate) fn heads(&self) -> &Heads {
        &self.heads
    }

    /// All built-in dialects, no custom paths.
    pub fn new() -> Self {
        Self::default()
    }

    /// No paths at all; add custom ones.
    pub fn empty() -> Self {
        let mut paths = Self::default();
        paths.only_custom();
        paths
    }

    /// Drops the built-in dialects, keeping custom paths.
    pub fn only_custom(&mut self) -> &mut Self {
        self.builtin.clear();
        self.reindex();
        self
    }

    /// A path whose values are ATT&CK IDs (`T1059.001`, `attack.t1059`, URLs, `TA0002`, `G0016`, `S0002`).
    pub fn add_technique_path(&mut self, path: &str) -> &mut Self {
        self.add(path, Kind::Id, CONF_CUSTOM)
    }

    /// A path whose values are tactic IDs or names (or any ATT&CK ID).
    pub fn add_tactic_path(&mut self, path: &str) -> &mut Self {
        self.add(path, Kind::Tactic, CONF_CUSTOM)
    }

    /// A path holding Sigma-style tags (`attack.t1059.001`, `attack.execution`).
    pub fn add_tag_path(&mut self, path: &str) -> &mut Self {
        self.add(path, Kind::Tag, CONF_CUSTOM)
    }

    /// A free-text path (rule name, title) scanned for technique IDs, only
    /// when nothing explicit is found; confidence as for rule names (0.5).
    pub fn add_name_path(&mut self, path: &str) -> &mut Self {
        self.add(path, Kind::Name, CONF_NAME)
    }

    fn add(&mut self, path: &str, kind: Kind, confidence: f32) -> &mut Self {
        let path = path.trim();
        if !path.is_empty() {
            let probe = Probe::new(
                &mut self.heads,
                Cow::Owned(path.to_string()),
                kind,
                Dialect::Custom,
                confidence,
            );
            self.custom.push(probe);
            self.reindex();
        }
        self
    }

    fn reindex(&mut self) {
        let all = || self.custom.iter().chain(&self.builtin);
        let round = |r: u8| all().filter(move |p| p.kind.round() == r);
        self.order = round(0).chain(round(1)).chain(round(2)).cloned().collect();
        self.n_main = round(0).count();
        self.n_names = self.n_main + round(1).count();
        self.masks = EntryMasks::new(self.order.iter().map(|p| p.head));
    }

    /// Every path probed, with its dialect, in probe order (for help texts and docs).
    pub fn paths(&self) -> impl Iterator<Item = (Dialect, &str)> + '_ {
        self.order.iter().map(|p| (p.dialect, p.path.as_ref()))
    }
}

/// Appends the ATT&CK references found in `record` to `out`, in the order
/// found, without duplicate (value, field) pairs. Rule-name scanning runs
/// only when nothing else was found, and the signature class only when that
/// found nothing either.
pub fn extract_references(record: &Node<'_>, paths: &FieldPaths, out: &mut Vec<Reference>) {
    extract_references_in(record, paths, &paths.heads.scan(record), out);
}

/// [`extract_references`] with the record's top level already scanned by
/// [`FieldPaths::heads`].
pub(crate) fn extract_references_in(
    record: &Node<'_>,
    paths: &FieldPaths,
    present: &Present<'_>,
    out: &mut Vec<Reference>,
) {
    let live = paths.masks.live(present);
    let mut sink = Sink {
        start: out.len(),
        out,
    };
    let run = |range: std::ops::Range<usize>, sink: &mut Sink<'_>| {
        let _ = live.each_in(range.start, range.end, |i| {
            run_probe(record, &paths.order[i], present, sink);
            ControlFlow::Continue(())
        });
        // Probes past the live mask (only with very many custom paths).
        for probe in &paths.order[LIVE_CAP.max(range.start).min(range.end)..range.end] {
            run_probe(record, probe, present, sink);
        }
    };
    run(0..paths.n_main, &mut sink);
    if sink.out.len() == sink.start {
        run(paths.n_main..paths.n_names, &mut sink);
    }
    if sink.out.len() == sink.start {
        run(paths.n_names..paths.order.len(), &mut sink);
    }
}

/// Collects references, dropping (value, field) pairs already found in this record.
struct Sink<'o> {
    out: &'o mut Vec<Reference>,
    start: usize,
}

impl Sink<'_> {
    fn push(&mut self, value: RefValue, field: &str, raw: &str, probe: &Probe) {
        if self.out[self.start..]
            .iter()
            .any(|r| r.value == value && r.field == field)
        {
            return;
        }
        self.out.push(Reference {
            value,
            field: field.to_string(),
            raw: raw.to_string(),
            dialect: probe.dialect,
            confidence: probe.confidence,
        });
    }
}

fn run_probe(record: &Node<'_>, probe: &Probe, present: &Present<'_>, sink: &mut Sink<'_>) {
    if !present.has(probe.head) {
        return;
    }
    match probe.kind {
        Kind::Threat => return run_threat(record, probe, present, sink),
        Kind::SignatureClass => return read_signature_class(record, probe, present, sink),
        _ => {}
    }
    let _ = present.visit(record, probe.head, &probe.path, &mut |v| {
        match probe.kind {
            Kind::KillChainPhases => read_kill_chain_phase(v, probe, sink),
            Kind::ExternalRefs => read_external_ref(v, probe, sink),
            kind => {
                if let Node::String(s) = v {
                    read_text(kind, s, &probe.path, probe, sink);
                }
            }
        }
        ControlFlow::Continue(())
    });
}

/// ECS `threat` objects, read one at a time so that entries naming a
/// framework other than ATT&CK can be skipped (Elastic also ships MITRE ATLAS
/// mappings, whose tactic names overlap ATT&CK's). When the record has no
/// `threat` object but flat keys (`"threat.technique.id": [..]`), the
/// sub-fields are looked up from the record directly.
fn run_threat(record: &Node<'_>, probe: &Probe, present: &Present<'_>, sink: &mut Sink<'_>) {
    let mut containers = 0usize;
    let _ = present.visit(record, probe.head, &probe.path, &mut |v| {
        if let Node::Object(obj) = v {
            containers += 1;
            let framework_ok = match obj.get("framework") {
                Some(Node::String(fw)) => {
                    contains_ignore_case(fw, "att&ck") || contains_ignore_case(fw, "attack")
                }
                _ => true,
            };
            if framework_ok {
                read_threat_fields(v, false, probe, sink);
            }
        }
        ControlFlow::Continue(())
    });
    // `exists` also sees flat keys extending the path (`threat.technique.id`
    // under `threat`): without any, the six full-path lookups can be skipped.
    if containers == 0 && path::exists(record, &probe.path) {
        read_threat_fields(record, true, probe, sink);
    }
}

/// The [`THREAT_SUBFIELDS`] of one threat object (`flat == false`), or of the
/// whole record by their full paths (`flat == true`, precomputed in `subfields`).
fn read_threat_fields(base: &Node<'_>, flat: bool, probe: &Probe, sink: &mut Sink<'_>) {
    for (&(sub, kind), field) in THREAT_SUBFIELDS.iter().zip(probe.subfields.iter()) {
        let path = if flat { field.as_str() } else { sub };
        let _ = path::visit(base, path, &mut |leaf| {
            if let Node::String(s) = leaf {
                read_text(kind, s, field, probe, sink);
            }
            ControlFlow::Continue(())
        });
    }
}

/// A Suricata alert's signature class or classtype, read against the
/// signature-class table: one inferred reference per technique of the
/// reading that applies, none for a class left unmapped.
fn read_signature_class(
    record: &Node<'_>,
    probe: &Probe,
    present: &Present<'_>,
    sink: &mut Sink<'_>,
) {
    let [signature_field, category_field, alert_source, src_ip] = &probe.subfields[..] else {
        return;
    };
    let first_str = |path: &str| {
        let mut found = None;
        let _ = present.visit(record, probe.head, path, &mut |v| match v {
            Node::String(s) => {
                found = Some(&**s);
                ControlFlow::Break(())
            }
            _ => ControlFlow::Continue(()),
        });
        found
    };
    let classified = signature_class::classify(
        first_str(signature_field),
        || first_str(category_field),
        || {
            // Suricata writes `alert.source` for rules that name their target
            // (the attacker's side, whichever way the packet went); else the
            // packet's source, which Filebeat moves to ECS `source.ip`.
            let ip = path::first_str(record, alert_source)
                .or_else(|| path::first_str(record, src_ip))
                .or_else(|| path::first_str(record, "source.ip"));
            SourceAddress::of(ip)
        },
    );
    let Some(c) = classified else { return };
    let field = match c.inference.field() {
        ClassField::Signature => signature_field,
        ClassField::Category => category_field,
    };
    for &technique in c.inference.reading().techniques {
        let value = RefValue::Inferred {
            technique,
            from: c.inference,
        };
        sink.push(value, field, c.found, probe);
    }
}

/// STIX `{kill_chain_name, phase_name}`: the ATT&CK chains give tactic
/// shortnames, any other chain a phase of that chain.
fn read_kill_chain_phase(v: &Node<'_>, probe: &Probe, sink: &mut Sink<'_>) {
    let (Some(chain), Some(phase)) = (
        v.get("kill_chain_name").and_then(Node::as_str),
        v.get("phase_name").and_then(Node::as_str),
    ) else {
        return;
    };
    let (chain, phase) = (chain.trim(), phase.trim());
    if phase.is_empty() || chain.is_empty() {
        return;
    }
    let field = probe.subfields.first().map_or("", String::as_str);
    // mitre-attack, mitre-mobile-attack, mitre-ics-attack, mitre-pre-attack.
    let value = if chain.starts_with("mitre-") && chain.ends_with("attack") {
        RefValue::TacticName(phase.to_string())
    } else {
        RefValue::Phase {
            chain: chain.to_string(),
            phase: phase.to_string(),
        }
    };
    sink.push(value, field, phase, probe);
}

/// STIX `external_references[]` entries from an ATT&CK source carry the ID.
fn read_external_ref(v: &Node<'_>, probe: &Probe, sink: &mut Sink<'_>) {
    let (Some(source), Some(id)) = (
        v.get("source_name").and_then(Node::as_str),
        v.get("external_id").and_then(Node::as_str),
    ) else {
        return;
    };
    if !(source.starts_with("mitre-") && source.ends_with("attack")) {
        return;
    }
    if let Some(value) = parse_attack_id(id) {
        let field = probe.subfields.first().map_or("", String::as_str);
        sink.push(value, field, id.trim(), probe);
    }
}

/// List separators seen in exports of multivalue fields; `¦` is Hayabusa's.
fn is_list_sep(c: char) -> bool {
    matches!(c, ',' | ';' | '|' | '¦' | '\n' | '\r')
}

/// Splits a string value into tokens, trimming whitespace and the brackets
/// and quotes of JSON-encoded lists (Sentinel stores `["T1059","T1078"]` as a string).
fn tokens(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_list_sep)
        .map(|t| t.trim_matches(|c: char| c.is_whitespace() || matches!(c, '[' | ']' | '"' | '\'')))
        .filter(|t| !t.is_empty())
}

fn read_text(kind: Kind, s: &str, field: &str, probe: &Probe, sink: &mut Sink<'_>) {
    match kind {
        Kind::Name => read_name(s, field, probe, sink),
        Kind::ChainPhase(chain) => {
            for tok in tokens(s) {
                let value = RefValue::Phase {
                    chain: chain.to_string(),
                    phase: tok.to_string(),
                };
                sink.push(value, field, tok, probe);
            }
        }
        _ => {
            for tok in tokens(s) {
                let value = match kind {
                    Kind::Id => {
                        // IDs contain no spaces: "T1059 T1078" is two of them.
                        for word in tok.split_whitespace() {
                            if let Some(v) = parse_attack_id(word) {
                                sink.push(v, field, word, probe);
                            }
                        }
                        continue;
                    }
                    Kind::Tactic => parse_attack_id(tok).or_else(|| tactic_name(tok)),
                    Kind::Tag => {
                        if tok.contains(char::is_whitespace)
                            && !starts_with_ignore_case(tok, "tactic:")
                        {
                            for word in tok.split_whitespace() {
                                if let Some(v) = parse_tag(word) {
                                    sink.push(v, field, word, probe);
                                }
                            }
                            continue;
                        }
                        parse_tag(tok)
                    }
                    Kind::HayabusaTactic => hayabusa_tactic(tok)
                        .map(|t| RefValue::TacticName(t.to_string()))
                        .or_else(|| parse_tag(tok))
                        .or_else(|| tactic_name(tok)),
                    _ => None,
                };
                if let Some(v) = value {
                    sink.push(v, field, tok, probe);
                }
            }
        }
    }
}

/// Technique IDs in rule names: `T1000`-`T1999` (every Enterprise and Mobile
/// technique), word-bounded. ASCII word boundaries keep the regex on the
/// fast DFA path.
static NAME_ID: LazyLock<Regex> = LazyLock::new(|| {
    // The pattern is a literal; it cannot fail to compile.
    #[allow(clippy::expect_used)]
    Regex::new(r"(?-u:\b)T1[0-9]{3}(?:\.[0-9]{3})?(?-u:\b)").expect("valid regex")
});

/// Longest text scanned for IDs: messages can be large, and an ID far into
/// one is more likely noise than a label.
const NAME_SCAN_MAX: usize = 4096;

fn read_name(s: &str, field: &str, probe: &Probe, sink: &mut Sink<'_>) {
    let s = truncate(s, NAME_SCAN_MAX);
    let bytes = s.as_bytes();
    for m in NAME_ID.find_iter(s) {
        let (start, end) = (m.start(), m.end());
        // Hostnames and file names: `WKS-T1234`, `srv.T1234`, `T1234-PC`, `T1234.corp.local`.
        if start > 0 && matches!(bytes[start - 1], b'-' | b'.' | b'@' | b'\\' | b'$') {
            continue;
        }
        if end + 1 < bytes.len()
            && matches!(bytes[end], b'-' | b'.' | b'@')
            && bytes[end + 1].is_ascii_alphanumeric()
        {
            continue;
        }
        // URL form `T1059/001`: take the sub-technique too.
        let sub_end = end + 4;
        let url_sub = m.len() == 5
            && bytes.get(end) == Some(&b'/')
            && bytes
                .get(end + 1..sub_end)
                .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
            && !bytes.get(sub_end).is_some_and(u8::is_ascii_digit);
        // Both ends of the slice are ASCII positions (checked above).
        let id = if url_sub {
            &s[start..sub_end]
        } else {
            m.as_str()
        };
        if let Some(v @ RefValue::Technique(_)) = parse_attack_id(id) {
            sink.push(v, field, id, probe);
        }
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Parses an ATT&CK ID in any common spelling: `T1059.001`, `t1059.001`,
/// `T1059/001`, `attack.t1059.001`, `https://attack.mitre.org/techniques/T1059/001/`,
/// `TA0002`, `G0016`, `S0002`. Returns the normalised (upper-case, `.`-separated) form.
pub fn parse_attack_id(s: &str) -> Option<RefValue> {
    let mut s = s.trim();
    // IDs are at most 16 bytes even with an `attack.` prefix; only longer
    // strings can be URLs (and searching every token is measurable).
    if s.len() > 16 {
        // Only URLs are worth searching (tactic names often run past 16 bytes).
        if !starts_with_ignore_case(s, "http") && !starts_with_ignore_case(s, "attack.mitre.org") {
            return None;
        }
        let i = s.find("attack.mitre.org/")?;
        s = &s[i..];
        let after = ["/techniques/", "/tactics/", "/groups/", "/software/"]
            .iter()
            .find_map(|seg| s.find(seg).map(|j| &s[j + seg.len()..]))?;
        s = after
            .split(['?', '#'])
            .next()
            .unwrap_or(after)
            .trim_end_matches('/');
    }
    let s = strip_prefix_ignore_case(s, "attack.").unwrap_or(s);
    let b = s.as_bytes();
    let digits = |r: &[u8]| r.iter().all(u8::is_ascii_digit);
    // Every branch below has checked the bytes it slices are ASCII, so the
    // string slices fall on char boundaries.
    let id = |parts: &[&str]| {
        let mut out = String::with_capacity(9);
        parts.iter().for_each(|p| out.push_str(p));
        out
    };
    match (b.len(), b.first().map(u8::to_ascii_uppercase)) {
        (5, Some(b'T')) if digits(&b[1..]) => Some(RefValue::Technique(id(&["T", &s[1..]]))),
        (9, Some(b'T')) if digits(&b[1..5]) && matches!(b[5], b'.' | b'/') && digits(&b[6..]) => {
            Some(RefValue::Technique(id(&["T", &s[1..5], ".", &s[6..]])))
        }
        (6, Some(b'T')) if b[1].eq_ignore_ascii_case(&b'A') && digits(&b[2..]) => {
            Some(RefValue::TacticId(id(&["TA", &s[2..]])))
        }
        (5, Some(b'G')) if digits(&b[1..]) => Some(RefValue::Group(id(&["G", &s[1..]]))),
        (5, Some(b'S')) if digits(&b[1..]) => Some(RefValue::Software(id(&["S", &s[1..]]))),
        _ => None,
    }
}

/// [`parse_attack_id`] restricted to techniques: the normalised technique ID.
pub fn parse_technique_id(s: &str) -> Option<String> {
    match parse_attack_id(s)? {
        RefValue::Technique(id) => Some(id),
        _ => None,
    }
}

/// A Sigma-style tag: `attack.<id>` or `attack.<tactic shortname>`; a bare
/// technique or tactic ID; Elastic's `Tactic: <name>`. Other namespaces
/// (`cve.`, `car.`, `detection.`, `tlp.`) and free text give nothing.
/// A bare `G`/`S` number is not taken: too likely an unrelated label.
pub fn parse_tag(tag: &str) -> Option<RefValue> {
    let tag = tag.trim();
    if let Some(rest) = strip_prefix_ignore_case(tag, "attack.") {
        if let Some(v) = parse_attack_id(rest) {
            return Some(v);
        }
        let is_shortname = !rest.is_empty()
            && rest
                .bytes()
                .all(|c| c.is_ascii_alphabetic() || c == b'_' || c == b'-');
        return is_shortname.then(|| RefValue::TacticName(rest.to_string()));
    }
    if let Some(rest) = strip_prefix_ignore_case(tag, "tactic:") {
        return tactic_name(rest.trim());
    }
    match parse_attack_id(tag)? {
        v @ (RefValue::Technique(_) | RefValue::TacticId(_)) => Some(v),
        _ => None,
    }
}

/// A tactic name worth handing to the resolver: has a letter, is not a
/// placeholder, not a sentence.
fn tactic_name(s: &str) -> Option<RefValue> {
    let s = s.trim();
    let placeholder = ["-", "n/a", "na", "none", "null", "unknown"]
        .iter()
        .any(|p| s.eq_ignore_ascii_case(p));
    if s.is_empty() || s.len() > 64 || placeholder || !s.bytes().any(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    Some(RefValue::TacticName(s.to_string()))
}

/// Hayabusa abbreviates tactics in `MitreTactics` (its
/// `config/mitre_tactics.txt`); these are the ATT&CK shortnames they stand for.
const HAYABUSA_TACTICS: &[(&str, &str)] = &[
    ("Recon", "reconnaissance"),
    ("ResDev", "resource-development"),
    ("InitAccess", "initial-access"),
    ("Exec", "execution"),
    ("Persis", "persistence"),
    ("PrivEsc", "privilege-escalation"),
    ("Evas", "defense-evasion"),
    ("CredAccess", "credential-access"),
    ("Disc", "discovery"),
    ("LatMov", "lateral-movement"),
    ("Collect", "collection"),
    ("C2", "command-and-control"),
    ("Exfil", "exfiltration"),
    ("Impact", "impact"),
];

/// The ATT&CK shortname for a Hayabusa `MitreTactics` abbreviation.
pub fn hayabusa_tactic(abbrev: &str) -> Option<&'static str> {
    HAYABUSA_TACTICS
        .iter()
        .find(|(a, _)| a.eq_ignore_ascii_case(abbrev.trim()))
        .map(|&(_, full)| full)
}

fn strip_prefix_ignore_case<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    starts_with_ignore_case(s, prefix).then(|| &s[prefix.len()..])
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    hay.as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    // The function under test reads `Node`s; the tests write `Value`s.
    fn extract_references(v: &Value, paths: &FieldPaths, out: &mut Vec<Reference>) {
        super::extract_references(&Node::from_value(v), paths, out);
    }

    fn refs(v: &Value, paths: &FieldPaths) -> Vec<Reference> {
        let mut out = Vec::new();
        extract_references(v, paths, &mut out);
        out
    }

    fn tech(s: &str) -> Option<RefValue> {
        Some(RefValue::Technique(s.into()))
    }

    #[test]
    fn technique_id_spellings() {
        assert_eq!(parse_attack_id("T1059.001"), tech("T1059.001"));
        assert_eq!(parse_attack_id(" t1059.001 "), tech("T1059.001"));
        assert_eq!(parse_attack_id("T1059/001"), tech("T1059.001"));
        assert_eq!(parse_attack_id("attack.t1059.001"), tech("T1059.001"));
        assert_eq!(parse_attack_id("ATTACK.T1059"), tech("T1059"));
        assert_eq!(parse_attack_id("T1059"), tech("T1059"));
        assert_eq!(
            parse_attack_id("https://attack.mitre.org/techniques/T1059/001/"),
            tech("T1059.001")
        );
        assert_eq!(
            parse_attack_id("https://attack.mitre.org/techniques/T1566"),
            tech("T1566")
        );
        assert_eq!(
            parse_attack_id("https://attack.mitre.org/tactics/TA0002/"),
            Some(RefValue::TacticId("TA0002".into()))
        );
        assert_eq!(
            parse_attack_id("ta0002"),
            Some(RefValue::TacticId("TA0002".into()))
        );
        assert_eq!(
            parse_attack_id("attack.g0016"),
            Some(RefValue::Group("G0016".into()))
        );
        assert_eq!(
            parse_attack_id("S0002"),
            Some(RefValue::Software("S0002".into()))
        );
        assert_eq!(
            parse_technique_id("t1003/001").as_deref(),
            Some("T1003.001")
        );
    }

    #[test]
    fn technique_id_garbage() {
        for bad in [
            "T99",
            "T1059.1",
            "T10590",
            "T1059.0001",
            "T1059.",
            "T105A",
            "TT1059",
            "T1059-001",
            "1059",
            "",
            "attack.",
            "T1059.001x",
            "xT1059",
            "T 1059",
            "https://attack.mitre.org/",
            "https://attack.mitre.org/tactics/enterprise/",
            "CVE-2021-44228",
            "T١٠٥٩",
        ] {
            assert_eq!(parse_attack_id(bad), None, "{bad:?}");
        }
        assert_eq!(parse_technique_id("TA0002"), None);
        assert_eq!(parse_technique_id("G0016"), None);
    }

    #[test]
    fn tags() {
        assert_eq!(parse_tag("attack.t1059.001"), tech("T1059.001"));
        assert_eq!(
            parse_tag("attack.execution"),
            Some(RefValue::TacticName("execution".into()))
        );
        assert_eq!(
            parse_tag("attack.credential_access"),
            Some(RefValue::TacticName("credential_access".into()))
        );
        assert_eq!(
            parse_tag("attack.defense-evasion"),
            Some(RefValue::TacticName("defense-evasion".into()))
        );
        assert_eq!(
            parse_tag("attack.g0016"),
            Some(RefValue::Group("G0016".into()))
        );
        assert_eq!(
            parse_tag("attack.s0002"),
            Some(RefValue::Software("S0002".into()))
        );
        assert_eq!(parse_tag("T1059"), tech("T1059"));
        assert_eq!(
            parse_tag("Tactic: Credential Access"),
            Some(RefValue::TacticName("Credential Access".into()))
        );
        for ignored in [
            "cve.2021-44228",
            "car.2019-04-004",
            "detection.threat-hunting",
            "tlp.amber",
            "attack.t1059.1",
            "attack.",
            "G0016",
            "S0002",
            "windows",
            "Domain: Endpoint",
        ] {
            assert_eq!(parse_tag(ignored), None, "{ignored:?}");
        }
    }

    #[test]
    fn hayabusa_abbreviations() {
        assert_eq!(hayabusa_tactic("CredAccess"), Some("credential-access"));
        assert_eq!(hayabusa_tactic("Evas"), Some("defense-evasion"));
        assert_eq!(hayabusa_tactic("C2"), Some("command-and-control"));
        assert_eq!(hayabusa_tactic("Nope"), None);
    }

    #[test]
    fn rule_name_fallback_not_used_when_explicit_reference_exists() {
        let v = json!({
            "rule": {"name": "T1003 credential dumping", "mitre": {"id": ["T1059.001"]}}
        });
        let r = refs(&v, &FieldPaths::default());
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].value, RefValue::Technique("T1059.001".into()));
        assert_eq!(r[0].dialect, Dialect::Wazuh);

        let v = json!({"rule": {"name": "T1003 credential dumping"}});
        let r = refs(&v, &FieldPaths::default());
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].value, RefValue::Technique("T1003".into()));
        assert_eq!(r[0].dialect, Dialect::RuleName);
        assert_eq!(r[0].field, "rule.name");
        assert_eq!(r[0].confidence, 0.5);
    }

    #[test]
    fn rule_name_false_positives() {
        let paths = FieldPaths::default();
        for text in [
            "Logon on WKS-T1234",
            "Logon on T1234-PC",
            "host T1234.corp.local",
            "CVE-2021-T1000x",
            "model T2000 and T0999",
            "T10590 bytes",
            "t1059 lowercase",
            "user@T1234",
        ] {
            let r = refs(&json!({ "message": text }), &paths);
            assert!(r.is_empty(), "{text:?}: {r:?}");
        }
        let r = refs(
            &json!({"message": "see https://attack.mitre.org/techniques/T1059/001/ and (T1027), T1105."}),
            &paths,
        );
        let got: Vec<_> = r.iter().map(|r| r.value.clone()).collect();
        assert_eq!(
            got,
            vec![
                RefValue::Technique("T1059.001".into()),
                RefValue::Technique("T1027".into()),
                RefValue::Technique("T1105".into())
            ]
        );
        assert_eq!(r[0].raw, "T1059/001");
    }

    #[test]
    fn custom_paths() {
        let v = json!({
            "detection": {"mitre": "T1078, TA0001", "phase": "Initial Access", "labels": ["attack.t1133"]},
            "summary": "Valid accounts abuse T1078.002",
            "threat": {"technique": {"id": "T1190"}}
        });
        let mut paths = FieldPaths::default();
        paths
            .add_technique_path("detection.mitre")
            .add_tactic_path("detection.phase")
            .add_tag_path("detection.labels")
            .add_name_path("summary");
        let r = refs(&v, &paths);
        let got: Vec<_> = r
            .iter()
            .map(|r| (r.value.clone(), r.field.as_str(), r.dialect))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    RefValue::Technique("T1078".into()),
                    "detection.mitre",
                    Dialect::Custom
                ),
                (
                    RefValue::TacticId("TA0001".into()),
                    "detection.mitre",
                    Dialect::Custom
                ),
                (
                    RefValue::TacticName("Initial Access".into()),
                    "detection.phase",
                    Dialect::Custom
                ),
                (
                    RefValue::Technique("T1133".into()),
                    "detection.labels",
                    Dialect::Custom
                ),
                (
                    RefValue::Technique("T1190".into()),
                    "threat.technique.id",
                    Dialect::Ecs
                ),
            ]
        );
        assert!(r
            .iter()
            .filter(|r| r.dialect == Dialect::Custom)
            .all(|r| r.confidence == 0.8));

        // Only custom: the ECS field is ignored, and with no explicit hit the
        // custom name path is scanned.
        paths.only_custom();
        let v = json!({"summary": "Valid accounts abuse T1078.002", "threat": {"technique": {"id": "T1190"}}});
        let r = refs(&v, &paths);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].value, RefValue::Technique("T1078.002".into()));
        assert_eq!(
            (r[0].field.as_str(), r[0].dialect),
            ("summary", Dialect::Custom)
        );

        let mut empty = FieldPaths::empty();
        assert!(refs(&v, &empty).is_empty());
        empty.add_tactic_path("  ");
        assert_eq!(empty.paths().count(), 0);
    }

    #[test]
    fn dedup_same_value_same_field_only() {
        let v = json!({
            "threat": [{"technique": {"id": ["T1059", "t1059"]}}, {"technique": {"id": "T1059"}}],
            "technique": "T1059"
        });
        let r = refs(&v, &FieldPaths::default());
        let got: Vec<_> = r.iter().map(|r| r.field.as_str()).collect();
        assert_eq!(got, vec!["threat.technique.id", "technique"]);
    }

    #[test]
    fn appends_without_touching_existing() {
        let mut out = vec![Reference {
            value: RefValue::Technique("T1059".into()),
            field: "technique".into(),
            raw: "T1059".into(),
            dialect: Dialect::Plain,
            confidence: 0.8,
        }];
        extract_references(
            &json!({"technique": "T1059"}),
            &FieldPaths::default(),
            &mut out,
        );
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn non_attack_framework_skipped() {
        let v = json!({"kibana.alert.rule.threat": [
            {"framework": "MITRE ATLAS", "tactic": {"id": "AML.TA0002", "name": "Execution"}},
            {"framework": "MITRE ATT&CK", "tactic": {"id": "TA0002", "name": "Execution"}}
        ]});
        let r = refs(&v, &FieldPaths::default());
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].value, RefValue::TacticId("TA0002".into()));
        assert_eq!(r[0].field, "kibana.alert.rule.threat.tactic.id");
    }

    #[test]
    fn flat_ecs_threat_keys() {
        let v = json!({
            "threat.framework": "MITRE ATT&CK",
            "threat.tactic.id": ["TA0005"],
            "threat.technique.id": ["T1027"],
            "threat.technique.subtechnique.id": ["T1027.010"]
        });
        let r = refs(&v, &FieldPaths::default());
        let got: Vec<_> = r
            .iter()
            .map(|r| (r.field.as_str(), r.raw.as_str(), r.dialect))
            .collect();
        assert_eq!(
            got,
            vec![
                ("threat.tactic.id", "TA0005", Dialect::Ecs),
                ("threat.technique.id", "T1027", Dialect::Ecs),
                (
                    "threat.technique.subtechnique.id",
                    "T1027.010",
                    Dialect::Ecs
                ),
            ]
        );
        // Mixed: a `threat` object with dotted keys inside.
        let v = json!({"threat": {"technique.id": "T1027", "tactic": {"name": "Defense Evasion"}}});
        let r = refs(&v, &FieldPaths::default());
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].value, RefValue::TacticName("Defense Evasion".into()));
    }

    #[test]
    fn legacy_signal_and_exported_rule() {
        let v = json!({"signal": {"rule": {"threat": [{"framework": "MITRE ATT&CK",
            "tactic": {"id": "TA0003", "name": "Persistence"},
            "technique": [{"id": "T1053", "subtechnique": [{"id": "T1053.005"}]}]}]}}});
        let r = refs(&v, &FieldPaths::default());
        let got: Vec<_> = r
            .iter()
            .map(|r| (r.field.as_str(), r.raw.as_str(), r.dialect))
            .collect();
        assert_eq!(
            got,
            vec![
                ("signal.rule.threat.tactic.id", "TA0003", Dialect::Elastic),
                (
                    "signal.rule.threat.tactic.name",
                    "Persistence",
                    Dialect::Elastic
                ),
                ("signal.rule.threat.technique.id", "T1053", Dialect::Elastic),
                (
                    "signal.rule.threat.technique.subtechnique.id",
                    "T1053.005",
                    Dialect::Elastic
                ),
            ]
        );
        let v = json!({"rule": {"threat": [{"tactic": {"id": "TA0003"}}]}});
        assert_eq!(
            refs(&v, &FieldPaths::default())[0].field,
            "rule.threat.tactic.id"
        );
    }

    #[test]
    fn plain_values_lists_and_names() {
        let v = json!({
            "Techniques": "[\"T1059\",\"T1078\"]",
            "Tactics": "Execution, Persistence",
            "tactic": ["-", "TA0004", "N/A"],
            "technique": "PowerShell"
        });
        let r = refs(&v, &FieldPaths::default());
        let got: Vec<_> = r.iter().map(|r| r.value.clone()).collect();
        assert_eq!(
            got,
            vec![
                RefValue::TacticId("TA0004".into()),
                RefValue::Technique("T1059".into()),
                RefValue::Technique("T1078".into()),
                RefValue::TacticName("Execution".into()),
                RefValue::TacticName("Persistence".into()),
            ]
        );
    }

    #[test]
    fn suricata_et_metadata() {
        let v = json!({"event_type": "alert", "alert": {"signature": "ET EXPLOIT x", "metadata": {
            "mitre_tactic_id": ["TA0001"], "mitre_tactic_name": ["Initial_Access"],
            "mitre_technique_id": ["T1190"], "mitre_technique_name": ["Exploit_Public_Facing_Application"]}}});
        let r = refs(&v, &FieldPaths::default());
        let got: Vec<_> = r
            .iter()
            .map(|r| (r.value.clone(), r.field.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    RefValue::Technique("T1190".into()),
                    "alert.metadata.mitre_technique_id"
                ),
                (
                    RefValue::TacticId("TA0001".into()),
                    "alert.metadata.mitre_tactic_id"
                ),
                (
                    RefValue::TacticName("Initial_Access".into()),
                    "alert.metadata.mitre_tactic_name"
                ),
            ]
        );
    }

    /// (technique, field, raw, dialect, confidence) of inferred references.
    fn inferred(v: &Value) -> Vec<(&'static str, String, String, Dialect, f32)> {
        refs(v, &FieldPaths::default())
            .into_iter()
            .map(|r| match r.value {
                RefValue::Inferred { technique, .. } => {
                    (technique, r.field, r.raw, r.dialect, r.confidence)
                }
                other => panic!("not inferred: {other:?}"),
            })
            .collect()
    }

    fn inference(v: &Value) -> Inference {
        match &refs(v, &FieldPaths::default())[0].value {
            RefValue::Inferred { from, .. } => *from,
            other => panic!("not inferred: {other:?}"),
        }
    }

    #[test]
    fn suricata_signature_class_is_the_last_resort() {
        let alert = |sig: &str, cat: &str, src: &str| {
            json!({"event_type": "alert", "src_ip": src, "dest_ip": "10.0.0.5",
                   "alert": {"signature_id": 1, "signature": sig, "category": cat, "severity": 2}})
        };
        // Scan: the source address decides between outside and inside.
        let scan = alert(
            "ET SCAN Potential SSH Scan",
            "Attempted Information Leak",
            "203.0.113.9",
        );
        assert_eq!(
            inferred(&scan),
            vec![(
                "T1595",
                "alert.signature".to_string(),
                "ET SCAN".to_string(),
                Dialect::SuricataClass,
                CONF_CLASS
            )]
        );
        assert_eq!(
            inferred(&alert("ET SCAN x", "Misc activity", "10.1.2.3"))[0].0,
            "T1046"
        );
        assert!(inference(&alert("ET SCAN x", "", "10.1.2.3")).from_private_source());
        assert_eq!(inferred(&alert("ET SCAN x", "", "0.0.0.0"))[0].0, "T1595");
        // `alert.source` (rules naming their target) is the attacker's side.
        let mut v = alert("ET SCAN x", "", "10.1.2.3");
        v["alert"]["source"] = json!({"ip": "198.51.100.1", "port": 4444});
        assert_eq!(inferred(&v)[0].0, "T1595");
        assert_eq!(
            inferred(&alert(
                "GPL EXPLOIT ISAPI .ida attempt",
                "Web Application Attack",
                "10.0.0.9"
            ))[0]
                .0,
            "T1190"
        );
        assert_eq!(
            inferred(&alert(
                "ET TROJAN Miuref/Boaxxe Checkin",
                "A Network Trojan was detected",
                "10.0.0.9"
            ))[0]
                .0,
            "T1071"
        );
        // Outside the naming convention, the classtype is read.
        let local = inferred(&alert(
            "LOCAL sqlmap",
            "Web Application Attack",
            "203.0.113.9",
        ));
        assert_eq!(
            local,
            vec![(
                "T1190",
                "alert.category".to_string(),
                "Web Application Attack".to_string(),
                Dialect::SuricataClass,
                CONF_CLASS
            )]
        );
        // Flat dotted keys, as some SIEM exports write EVE.
        let flat =
            json!({"alert.signature": "ET WORM TheMoon.linksys.router 1", "src_ip": "10.0.0.1"});
        assert_eq!(inferred(&flat)[0].0, "T1210");
    }

    /// The same alert as Filebeat's Suricata module keeps it (ECS around
    /// `suricata.eve.alert`, the source moved to `source.ip`) and as Wazuh's
    /// Suricata decoder nests it (`data.alert`, `data.src_ip`).
    #[test]
    fn suricata_alerts_shipped_by_filebeat_or_wazuh_are_read_too() {
        let filebeat = |src: &str| {
            json!({"event": {"module": "suricata", "kind": "alert"},
                   "source": {"ip": src}, "destination": {"ip": "10.0.0.5"},
                   "rule": {"name": "ET SCAN Potential SSH Scan"},
                   "suricata": {"eve": {"event_type": "alert", "alert": {
                       "signature": "ET SCAN Potential SSH Scan",
                       "category": "Attempted Information Leak", "severity": 2}}}})
        };
        let r = inferred(&filebeat("203.0.113.9"));
        assert_eq!(
            r,
            vec![(
                "T1595",
                "suricata.eve.alert.signature".to_string(),
                "ET SCAN".to_string(),
                Dialect::SuricataClass,
                CONF_CLASS
            )]
        );
        assert_eq!(inferred(&filebeat("10.1.2.3"))[0].0, "T1046");
        let wazuh = |src: &str| {
            json!({"rule": {"level": 3, "description": "Suricata: Alert - ET SCAN Potential SSH Scan",
                            "groups": ["ids", "suricata"]},
                   "data": {"event_type": "alert", "src_ip": src, "dest_ip": "10.0.0.5",
                            "alert": {"signature": "ET SCAN Potential SSH Scan",
                                      "category": "Attempted Information Leak"}}})
        };
        let r = inferred(&wazuh("10.1.2.3"));
        assert_eq!((r[0].0, r[0].1.as_str()), ("T1046", "data.alert.signature"));
        assert_eq!(inferred(&wazuh("203.0.113.9"))[0].0, "T1595");
        // Explicit Wazuh MITRE fields still win.
        let mut v = wazuh("10.1.2.3");
        v["rule"]["mitre"] = json!({"id": ["T1046"]});
        assert!(refs(&v, &FieldPaths::default())
            .iter()
            .all(|r| r.dialect == Dialect::Wazuh));
    }

    #[test]
    fn suricata_classes_left_unmapped_stay_unmapped() {
        for (sig, cat) in [
            (
                "ET POLICY Python-urllib/ Suspicious User Agent",
                "Attempted Information Leak",
            ),
            (
                "ET POLICY PE EXE or DLL Windows file download HTTP",
                "A Network Trojan was detected",
            ),
            (
                "ET INFO Session Traversal Utilities for NAT (STUN Binding Request)",
                "Attempted User Privilege Gain",
            ),
            (
                "ET TOR Known Tor Relay/Router (Not Exit) Node Traffic group 1",
                "Misc Attack",
            ),
            (
                "ET CINS Active Threat Intelligence Poor Reputation IP group 1",
                "Misc Attack",
            ),
            ("ET DROP Dshield Block Listed Source group 1", "Misc Attack"),
            (
                "SURICATA HTTP unable to match response to request",
                "Generic Protocol Command Decode",
            ),
            (
                "SURICATA TLS invalid record type",
                "Generic Protocol Command Decode",
            ),
            ("ET CHAT IRC NICK command", "Misc activity"),
            // Unlisted ET class: unmapped, and its web-attack classtype is not read.
            ("ET NEWCLASS something", "Web Application Attack"),
            ("LOCAL custom rule", "Misc activity"),
            ("LOCAL custom rule", "A Network Trojan was detected"),
        ] {
            let v = json!({"event_type": "alert", "src_ip": "203.0.113.9",
                           "alert": {"signature": sig, "category": cat}});
            assert!(refs(&v, &FieldPaths::default()).is_empty(), "{sig} / {cat}");
        }
        // No signature, no category: nothing to read.
        assert!(refs(&json!({"alert": {"severity": 1}}), &FieldPaths::default()).is_empty());
        assert!(refs(
            &json!({"alert": "ET SCAN as a string"}),
            &FieldPaths::default()
        )
        .is_empty());
    }

    #[test]
    fn suricata_class_not_used_when_the_record_names_attack() {
        let mut v = json!({"event_type": "alert", "src_ip": "203.0.113.9",
            "alert": {"signature": "ET SCAN Nmap Scripting Engine User-Agent Detected (Nmap Scripting Engine)",
                      "category": "Web Application Attack",
                      "metadata": {"mitre_technique_id": ["T1595.002"], "mitre_tactic_id": ["TA0043"]}}});
        let r = refs(&v, &FieldPaths::default());
        assert_eq!(r.len(), 2);
        assert!(r.iter().all(|r| r.dialect == Dialect::Plain), "{r:?}");
        assert_eq!(r[0].value, RefValue::Technique("T1595.002".into()));
        // Explicit but not a known ID: still explicit, so no inference
        // (the mapper reports it as unknown).
        v["alert"]["metadata"] = json!({"mitre_technique_id": ["T9999"]});
        assert!(refs(&v, &FieldPaths::default())
            .iter()
            .all(|r| r.dialect == Dialect::Plain));
        // A technique ID in the signature wins over its class.
        v["alert"]["metadata"] = json!({});
        v["alert"]["signature"] = json!("ET SCAN Possible T1046 sweep");
        let r = refs(&v, &FieldPaths::default());
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].dialect, &r[0].value),
            (Dialect::RuleName, &RefValue::Technique("T1046".into()))
        );
        // Any other dialect in the record also wins (here ECS).
        let v =
            json!({"threat": {"technique": {"id": "T1059"}}, "alert": {"signature": "ET SCAN x"}});
        let r = refs(&v, &FieldPaths::default());
        assert_eq!((r.len(), r[0].dialect), (1, Dialect::Ecs));
        // Only the user's paths: no built-in class table either.
        let mut paths = FieldPaths::empty();
        paths.add_technique_path("detection.mitre");
        assert!(refs(&json!({"alert": {"signature": "ET SCAN x"}}), &paths).is_empty());
    }

    #[test]
    fn confidences_order() {
        // The class is the weakest evidence of all.
        for c in [CONF_EXPLICIT, CONF_TAG, CONF_PLAIN, CONF_CUSTOM, CONF_NAME] {
            assert!(CONF_CLASS < c);
        }
        // ... probed last, in the three shapes Suricata alerts come in.
        let default = FieldPaths::default();
        let paths: Vec<(Dialect, &str)> = default.paths().collect();
        let last = &paths[paths.len() - 3..];
        assert_eq!(
            last,
            [
                (Dialect::SuricataClass, "alert"),
                (Dialect::SuricataClass, "suricata.eve.alert"),
                (Dialect::SuricataClass, "data.alert"),
            ]
        );
        assert_eq!(Dialect::SuricataClass.as_str(), "suricata-class");
    }

    #[test]
    fn stix_bundle_and_other_sources_ignored() {
        let v = json!({"type": "bundle", "objects": [
            {"type": "attack-pattern", "external_references": [
                {"source_name": "mitre-attack", "external_id": "T1566.001"},
                {"source_name": "capec", "external_id": "CAPEC-163"}],
             "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "initial-access"}]},
            {"type": "intrusion-set", "external_references": [{"source_name": "mitre-attack", "external_id": "G0016"}]}
        ]});
        let r = refs(&v, &FieldPaths::default());
        let got: Vec<_> = r
            .iter()
            .map(|r| (r.value.clone(), r.field.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    RefValue::TacticName("initial-access".into()),
                    "objects.kill_chain_phases.phase_name"
                ),
                (
                    RefValue::Technique("T1566.001".into()),
                    "objects.external_references.external_id"
                ),
                (
                    RefValue::Group("G0016".into()),
                    "objects.external_references.external_id"
                ),
            ]
        );
    }

    #[test]
    fn dialect_names() {
        assert_eq!(Dialect::SigmaTags.as_str(), "sigma-tags");
        assert_eq!(Dialect::RuleName.to_string(), "rule-name");
        assert!(FieldPaths::default()
            .paths()
            .any(|(d, p)| d == Dialect::Wazuh && p == "rule.mitre.id"));
    }
}
