//! `Incident`: the finished product of correlation, the shape `incidents
//! --json`, the store and `incident show` use (docs/incidents.md has the
//! schema). Built from a [`RawIncident`] by [`build`]: hosts, users, time
//! span, progression per model for the incident and per host, flags,
//! lateral movement edges, severity and one evidence line per finding.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::engine::{Lateral, RawIncident};
use crate::progress::{insider_flag, parallel_flag, progression, Flag, ModelPhases, Progression};
use crate::severity::{severity, Severity, SeverityOptions};
use crate::signal::{EntityKind, Level, Signal, SignalRecord};

/// What building incidents needs besides the signals.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Models in display order; the first one named `lm` (else the first)
    /// is the main model of the severity.
    pub models: Vec<ModelPhases>,
    pub severity: SeverityOptions,
}

/// Where a finding came from, as `incidents --json` names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingRef {
    pub time: Timestamp,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub techniques: Vec<String>,
    /// Model -> primary phase.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub phases: BTreeMap<String, String>,
    #[serde(
        rename = "log.file.path",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub log_file_path: Option<String>,
    /// `killchain.record` of the finding: line, index, record id.
    pub record: SignalRecord,
}

/// An incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
    pub hosts: Vec<String>,
    pub users: Vec<String>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Number of findings.
    pub findings: usize,
    /// Distinct rules.
    pub rules: usize,
    /// Tactic names, in tactic ID order.
    pub tactics: Vec<String>,
    /// Tactic IDs (`TA0002`), sorted.
    pub tactic_ids: Vec<String>,
    pub techniques: Vec<String>,
    pub severity: Severity,
    /// Model -> progression of the whole incident.
    pub kill_chain: BTreeMap<String, Progression>,
    /// Host -> model -> progression on that host.
    pub hosts_kill_chain: BTreeMap<String, BTreeMap<String, Progression>>,
    /// Kinds of every flag raised in any model, sorted.
    pub flags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lateral: Vec<Lateral>,
    /// Every finding, in time order.
    pub evidence: Vec<FindingRef>,
}

fn sorted_unique(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

/// Builds the incident from what correlation left.
pub fn build(raw: RawIncident, opts: &BuildOptions) -> Incident {
    let signals = &raw.signals;
    let hosts = sorted_unique(
        signals
            .iter()
            .flat_map(|s| s.host_keys().map(String::from))
            .collect(),
    );
    let users = sorted_unique(
        signals
            .iter()
            .flat_map(|s| s.entities.iter())
            .filter(|e| e.kind == EntityKind::User)
            .map(|e| e.value.to_string())
            .collect(),
    );
    let all: Vec<&Signal> = signals.iter().collect();
    let mut per_host: BTreeMap<String, Vec<&Signal>> = BTreeMap::new();
    for s in signals {
        for h in s.host_keys() {
            per_host.entry(h.to_string()).or_default().push(s);
        }
    }
    let mut kill_chain = BTreeMap::new();
    let mut hosts_kill_chain: BTreeMap<String, BTreeMap<String, Progression>> = BTreeMap::new();
    let mut kinds: Vec<String> = Vec::new();
    for m in &opts.models {
        let mut p = progression(&all, m);
        if per_host.len() > 1 {
            p.flags.extend(parallel_flag(&per_host, m));
        }
        p.flags.extend(insider_flag(&all, m));
        for f in &p.flags {
            kinds.push(flag_name(f));
        }
        kill_chain.insert(m.id.clone(), p);
        for (h, v) in &per_host {
            hosts_kill_chain
                .entry(h.clone())
                .or_default()
                .insert(m.id.clone(), progression(v, m));
        }
    }
    let main = opts
        .models
        .iter()
        .find(|m| m.id == "lm")
        .or(opts.models.first())
        .and_then(|m| {
            kill_chain
                .get(&m.id)
                .map(|p| (m.id.as_str(), p, m.phases.len()))
        });
    let sev = severity(signals, main, &hosts, &opts.severity);
    let mut tactics: Vec<(String, String)> =
        signals.iter().flat_map(|s| s.tactics.clone()).collect();
    tactics.sort();
    tactics.dedup();
    let rules = sorted_unique(
        signals
            .iter()
            .map(|s| {
                s.rule_id
                    .clone()
                    .or(s.rule_name.clone())
                    .unwrap_or_default()
            })
            .collect(),
    )
    .len();
    let evidence = signals
        .iter()
        .map(|s| FindingRef {
            time: s.time,
            key: s.key.clone(),
            rule_id: s.rule_id.clone(),
            rule: s.rule_name.clone(),
            level: s.level,
            hosts: s.hosts.clone(),
            users: s.users.clone(),
            techniques: s.techniques.clone(),
            phases: s
                .phases
                .iter()
                .map(|p| (p.model.to_string(), p.phase.to_string()))
                .collect(),
            log_file_path: s.record.file.clone(),
            record: s.record.clone(),
        })
        .collect();
    let first_seen = signals.first().map_or(Timestamp::UNIX_EPOCH, |s| s.time);
    let last_seen = signals.iter().map(|s| s.time).max().unwrap_or(first_seen);
    Incident {
        id: raw.id,
        merged_from: raw.merged_from,
        hosts,
        users,
        first_seen,
        last_seen,
        findings: signals.len(),
        rules,
        tactic_ids: tactics.iter().map(|t| t.0.clone()).collect(),
        tactics: tactics.into_iter().map(|t| t.1).collect(),
        techniques: sorted_unique(signals.iter().flat_map(|s| s.techniques.clone()).collect()),
        severity: sev,
        kill_chain,
        hosts_kill_chain,
        flags: sorted_unique(kinds),
        lateral: raw.lateral,
        evidence,
    }
}

fn flag_name(f: &Flag) -> String {
    serde_json::to_value(f.kind)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// Continuity with an earlier run: an ID of `previous` that no incident
/// carries any more went into the incident holding the finding it was
/// named after (an incident's ID is the hash of its earliest finding's
/// key); that incident records it in `merged_from`. Returns how many IDs
/// were carried.
pub fn carry_ids(previous: &[String], incidents: &mut [Incident]) -> usize {
    let current: std::collections::BTreeSet<&str> =
        incidents.iter().map(|i| i.id.as_str()).collect();
    let gone: std::collections::BTreeSet<&String> = previous
        .iter()
        .filter(|p| !current.contains(p.as_str()))
        .collect();
    if gone.is_empty() {
        return 0;
    }
    let mut carried = 0;
    for inc in incidents.iter_mut() {
        let mut add: Vec<String> = inc
            .evidence
            .iter()
            .map(|e| crate::engine::incident_id(&e.key))
            .filter(|id| gone.contains(id) && !inc.merged_from.contains(id))
            .collect();
        add.sort();
        add.dedup();
        carried += add.len();
        inc.merged_from.extend(add);
        inc.merged_from.sort();
    }
    carried
}
