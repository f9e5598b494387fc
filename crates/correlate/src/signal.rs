//! `Signal`: what the correlator needs of one finding, and the entity keys
//! it joins on.
//!
//! A [`Signal`] is built from a [`Finding`] plus, when there is one, the
//! original record (`from_finding`): the finding gives time, rule, hosts,
//! users, IPs, process, hashes, domains, URLs and kill chain placements; the
//! record gives what a `Finding` does not carry but joining needs (logon IDs,
//! process and parent GUIDs, SIDs, the source workstation of a logon).
//! Entities are normalised here, once, into typed [`EntityKey`]s:
//!
//! - host: lower case, first DNS label (`WS01.corp.local` = `ws01`); IPs stay IPs;
//! - user: lower case account name with the domain dropped (`CORP\Alice`,
//!   `alice@corp.local` and `alice` are one user); SIDs are their own key;
//!   machine accounts (`WS01$`) are not users (the host is already an entity);
//! - logon ID: scoped by host (`0x3e7` on two hosts are two keys);
//! - process: the GUID when there is one, else PID scoped by host (the time
//!   window stands in for the start time); the parent GUID / PID is a process
//!   key too, so a child joins its parent (ancestry);
//! - IP: parsed and printed canonically (source and destination share one key,
//!   so a connection from A to B's address joins findings on A and B);
//! - hash, domain, URL: lower case.
//!
//! Values that identify nothing are dropped by rule (`-`, empty, `0x0`,
//! loopback and unspecified addresses, `NULL SID`); values that are real but
//! too common to mean anything (SYSTEM, a domain controller's address) are
//! down-weighted by the correlator from their frequency in the data.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use jiff::Timestamp;
use killchain_map::finding::Finding;
use killchain_map::path::first_text;
use killchain_map::Node;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::CorrelateError;

/// What an entity is. Ordered: the order keys print and sort in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Host,
    User,
    Sid,
    Logon,
    Process,
    Ip,
    Hash,
    Domain,
    Url,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Host => "host",
            EntityKind::User => "user",
            EntityKind::Sid => "sid",
            EntityKind::Logon => "logon",
            EntityKind::Process => "process",
            EntityKind::Ip => "ip",
            EntityKind::Hash => "hash",
            EntityKind::Domain => "domain",
            EntityKind::Url => "url",
        }
    }
}

/// A normalised entity: kind plus value. Host-scoped kinds (logon IDs,
/// PIDs) carry the host in the value as `host/value`, so the key stays one
/// flat string and hashing is cheap.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntityKey {
    pub kind: EntityKind,
    pub value: Box<str>,
}

impl EntityKey {
    pub fn new(kind: EntityKind, value: impl Into<Box<str>>) -> Self {
        EntityKey {
            kind,
            value: value.into(),
        }
    }

    /// Heap bytes this key owns (for the memory estimate).
    pub fn heap_bytes(&self) -> usize {
        self.value.len()
    }
}

impl fmt::Display for EntityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.value)
    }
}

/// Severity of the rule behind a signal (Sigma's levels; numbers are read
/// on the source product's scale, [`Level::parse_from`]).
pub use killchain_kb::severity::Level;

/// Where the signal sits in one kill chain model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseAt {
    pub model: Arc<str>,
    pub phase: Arc<str>,
    pub index: usize,
}

/// Pointer back to the original record (as `killchain.record`, plus the
/// file): the finding's own record reference.
pub type SignalRecord = killchain_map::finding::RecordRef;

/// One finding as the correlator sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Stable finding key: file + record id (or line) + rule id + time. Two
    /// signals with the same key are the same finding (replays dedupe on it).
    pub key: String,
    /// Event time.
    pub time: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    /// Hosts as seen (first DNS label kept as written), for display.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Users as seen, for display (machine and well-known service accounts included).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// Technique IDs (most specific first as given).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub techniques: Vec<String>,
    /// Tactic IDs (`TA0002`) and names, in matrix order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tactics: Vec<(String, String)>,
    /// Primary placement in each model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<PhaseAt>,
    /// Normalised entities, sorted, no duplicates.
    pub entities: Vec<EntityKey>,
    /// Hosts this signal says the activity came from (logon workstation,
    /// remote-execution source): the lateral movement edges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_hosts: Vec<String>,
    pub record: SignalRecord,
}

impl Signal {
    /// The signal's placement in `model`.
    pub fn phase(&self, model: &str) -> Option<&PhaseAt> {
        self.phases.iter().find(|p| &*p.model == model)
    }

    /// Normalised host keys of the signal.
    pub fn host_keys(&self) -> impl Iterator<Item = &str> {
        self.entities
            .iter()
            .filter(|e| e.kind == EntityKind::Host)
            .map(|e| &*e.value)
    }

    /// Builds a signal from a finding and, when available, the record it was
    /// made from (for logon IDs, GUIDs, SIDs and logon workstations). Errors
    /// when the finding has no event time: a signal must sit in a window.
    pub fn from_finding(f: &Finding, raw: Option<&Node<'_>>) -> Result<Signal, CorrelateError> {
        let time = f.time.ok_or(CorrelateError::NoTime)?;
        let rule = f.source.rule.as_ref();
        let mut b = Builder::default();
        let hosts: Vec<String> = f.entities.hosts.clone();
        let host_key = hosts.iter().find_map(|h| norm_host(h));
        for h in &hosts {
            if let Some(h) = norm_host(h) {
                b.push(EntityKind::Host, h);
            }
        }
        let mut users: Vec<String> = f.entities.users.clone();
        for ip in f
            .entities
            .source_ips
            .iter()
            .chain(&f.entities.destination_ips)
        {
            if let Some(ip) = norm_ip(ip) {
                b.push(EntityKind::Ip, ip);
            }
        }
        for x in &f.entities.file_hashes {
            for h in split_hashes(x) {
                b.push(EntityKind::Hash, h);
            }
        }
        for d in &f.entities.domains {
            if let Some(d) = norm_simple(d) {
                b.push(EntityKind::Domain, d.trim_end_matches('.').to_string());
            }
        }
        for u in &f.entities.urls {
            if let Some(u) = norm_simple(u) {
                b.push(EntityKind::Url, u);
            }
        }
        let hk = host_key.as_deref().unwrap_or("?");
        if let Some(p) = &f.entities.process {
            if let Some(g) = p.entity_id.as_deref().and_then(norm_guid) {
                b.push(EntityKind::Process, g);
            } else if let Some(pid) = p.pid {
                b.push(EntityKind::Process, format!("{hk}/{pid}"));
            }
            if let Some(pid) = p.parent_pid {
                b.push(EntityKind::Process, format!("{hk}/{pid}"));
            }
        }
        let mut source_hosts = Vec::new();
        if let Some(raw) = raw {
            raw_entities(raw, hk, &mut b, &mut users);
            if is_remote(f, raw) {
                for field in WORKSTATION_FIELDS {
                    if let Some(w) = win_text(raw, field).and_then(|w| norm_host(&w)) {
                        if Some(&w) != host_key.as_ref() && !source_hosts.contains(&w) {
                            source_hosts.push(w.clone());
                            b.push(EntityKind::Host, w);
                        }
                    }
                }
            }
        }
        for u in &users {
            match norm_user(u) {
                Some(UserKey::User(u)) => b.push(EntityKind::User, u),
                Some(UserKey::Sid(s)) => b.push(EntityKind::Sid, s),
                None => {}
            }
        }
        users.sort();
        users.dedup();
        let mut entities = b.keys;
        entities.sort();
        entities.dedup();
        let record = SignalRecord {
            file: f.record.file.clone(),
            line: f.record.line,
            index: f.record.index,
            record_id: f.record.record_id.clone(),
        };
        let key = finding_key(&record, rule.and_then(|r| r.id.as_deref()), time);
        Ok(Signal {
            key,
            time,
            rule_id: rule.and_then(|r| r.id.clone()),
            rule_name: rule.and_then(|r| r.name.clone()),
            level: rule
                .and_then(|r| r.level.as_deref())
                .and_then(|l| Level::parse_from(l, f.source.product.as_deref())),
            hosts,
            users,
            techniques: f.techniques.iter().map(|t| t.id.to_string()).collect(),
            tactics: f
                .tactics
                .iter()
                .map(|t| (t.id.to_string(), t.name.to_string()))
                .collect(),
            phases: f
                .phases
                .iter()
                .map(|(m, p)| PhaseAt {
                    model: m.clone(),
                    phase: p.phase.clone(),
                    index: p.phase_index,
                })
                .collect(),
            entities,
            source_hosts,
            record,
        })
    }
}

/// The stable finding key: `file|record id or line or index|rule id|time`.
pub fn finding_key(r: &SignalRecord, rule_id: Option<&str>, time: Timestamp) -> String {
    let pos = match (&r.record_id, r.line, r.index) {
        (Some(id), _, _) => format!("r{id}"),
        (None, Some(l), _) => format!("l{l}"),
        (None, None, Some(i)) => format!("i{i}"),
        _ => "-".into(),
    };
    format!(
        "{}|{pos}|{}|{}",
        r.file.as_deref().unwrap_or("-"),
        rule_id.unwrap_or("-"),
        time.as_nanosecond()
    )
}

#[derive(Default)]
struct Builder {
    keys: Vec<EntityKey>,
}

impl Builder {
    fn push(&mut self, kind: EntityKind, value: impl Into<Box<str>>) {
        self.keys.push(EntityKey::new(kind, value));
    }
}

/// Prefixes Windows event data fields appear under (flat, Winlogbeat, evtx_dump).
const WIN_PREFIXES: &[&str] = &["", "winlog.event_data.", "Event.EventData."];

/// Every field `win_text` reads, with its paths under each prefix, built once
/// (formatting the paths per lookup was a third of the correlation time).
static WIN_PATHS: LazyLock<FxHashMap<&'static str, Vec<String>>> = LazyLock::new(|| {
    let fields = LOGON_FIELDS
        .iter()
        .chain(GUID_FIELDS)
        .chain(SID_FIELDS)
        .chain(USER_FIELDS)
        .chain(IP_FIELDS)
        .chain(WORKSTATION_FIELDS)
        .chain(DOMAIN_FIELDS)
        .chain(&["EventID"]);
    fields
        .map(|f| (*f, WIN_PREFIXES.iter().map(|p| format!("{p}{f}")).collect()))
        .collect()
});

fn win_text(raw: &Node<'_>, field: &str) -> Option<String> {
    let text = |path: &str| first_text(raw, path).map(|c| c.trim().to_string());
    match WIN_PATHS.get(field) {
        Some(paths) => paths.iter().find_map(|p| text(p)),
        None => WIN_PREFIXES
            .iter()
            .find_map(|p| text(&format!("{p}{field}"))),
    }
}

const LOGON_FIELDS: &[&str] = &["SubjectLogonId", "TargetLogonId", "LogonId"];
const GUID_FIELDS: &[&str] = &[
    "ProcessGuid",
    "ParentProcessGuid",
    "SourceProcessGUID",
    "SourceProcessGuid",
];
const SID_FIELDS: &[&str] = &["SubjectUserSid", "TargetUserSid", "UserSid"];
const USER_FIELDS: &[&str] = &["SubjectUserName", "TargetUserName", "User", "AccountName"];
const IP_FIELDS: &[&str] = &[
    "IpAddress",
    "SourceIp",
    "DestinationIp",
    "SourceAddress",
    "DestAddress",
    "ClientAddress",
];
const WORKSTATION_FIELDS: &[&str] = &["WorkstationName", "Workstation", "SourceHostname"];
const DOMAIN_FIELDS: &[&str] = &["QueryName", "DestinationHostname"];
/// Windows events of a logon from elsewhere (the workstation field names the source).
const LOGON_EVENTS: &[&str] = &["4624", "4625", "4648", "4768", "4769", "4771", "4776"];
/// Techniques of remote execution: the source named by the event is where it came from.
const REMOTE_TECHNIQUES: &[&str] = &["T1021", "T1047", "T1569.002"];

fn raw_entities(raw: &Node<'_>, host: &str, b: &mut Builder, users: &mut Vec<String>) {
    for f in LOGON_FIELDS {
        if let Some(v) = win_text(raw, f).and_then(|v| norm_simple(&v)) {
            if v != "0x0" && v != "0" {
                b.push(EntityKind::Logon, format!("{host}/{v}"));
            }
        }
    }
    for f in GUID_FIELDS {
        if let Some(g) = win_text(raw, f).and_then(|v| norm_guid(&v)) {
            b.push(EntityKind::Process, g);
        }
    }
    for f in SID_FIELDS {
        if let Some(s) = win_text(raw, f) {
            if !users.contains(&s) {
                users.push(s);
            }
        }
    }
    for f in USER_FIELDS {
        if let Some(u) = win_text(raw, f) {
            if !u.is_empty() && !users.contains(&u) {
                users.push(u);
            }
        }
    }
    for f in IP_FIELDS {
        if let Some(ip) = win_text(raw, f).and_then(|v| norm_ip(&v)) {
            b.push(EntityKind::Ip, ip);
        }
    }
    for f in DOMAIN_FIELDS {
        if let Some(d) = win_text(raw, f).and_then(|v| norm_simple(&v)) {
            if norm_ip(&d).is_none() {
                b.push(EntityKind::Domain, d.trim_end_matches('.').to_string());
            }
        }
    }
}

/// A logon event or a remote-execution technique: its workstation / source
/// host names where the activity came from.
fn is_remote(f: &Finding, raw: &Node<'_>) -> bool {
    let logon = win_text(raw, "EventID").is_some_and(|id| LOGON_EVENTS.contains(&id.as_str()));
    logon
        || f.techniques.iter().any(|t| {
            REMOTE_TECHNIQUES
                .iter()
                .any(|r| &*t.id == *r || t.id.starts_with(&format!("{r}.")))
        })
}

/// Values that identify nothing.
fn is_null(s: &str) -> bool {
    matches!(
        s,
        "" | "-" | "?" | "null" | "none" | "n/a" | "unknown" | "localhost" | "(null)"
    )
}

fn norm_simple(s: &str) -> Option<String> {
    let s = s.trim().to_lowercase();
    (!is_null(&s)).then_some(s)
}

/// Host: lower case, first DNS label; an IP address is kept whole.
pub fn norm_host(s: &str) -> Option<String> {
    let s = s.trim().trim_start_matches('\\').to_lowercase();
    if is_null(&s) {
        return None;
    }
    if let Some(ip) = norm_ip(&s) {
        return Some(ip);
    }
    if s.parse::<IpAddr>().is_ok() {
        return None; // loopback / unspecified
    }
    let first = s.split('.').next().unwrap_or(&s);
    (!first.is_empty()).then(|| first.to_string())
}

/// IP: canonical text; loopback, unspecified and link-local-less junk dropped.
pub fn norm_ip(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s.strip_prefix("::ffff:").unwrap_or(s);
    let ip: IpAddr = s.parse().ok()?;
    if ip.is_loopback() || ip.is_unspecified() {
        return None;
    }
    Some(ip.to_string())
}

/// Process GUID: braces and case dropped; the all-zero GUID is no process.
fn norm_guid(s: &str) -> Option<String> {
    let g = s.trim().trim_matches(['{', '}']).to_ascii_lowercase();
    if is_null(&g) || g.chars().all(|c| c == '0' || c == '-') {
        return None;
    }
    Some(g)
}

enum UserKey {
    User(String),
    Sid(String),
}

/// `CORP\Alice`, `alice@corp.local`, `Alice` -> `alice`; `S-1-5-21-...` -> a SID
/// key; machine accounts (`WS01$`) and nulls -> none.
fn norm_user(s: &str) -> Option<UserKey> {
    let s = s.trim();
    if s.len() > 4 && s[..4].eq_ignore_ascii_case("s-1-") {
        let sid = s.to_ascii_uppercase();
        return (sid != "S-1-0-0").then_some(UserKey::Sid(sid));
    }
    let s = s.rsplit('\\').next().unwrap_or(s);
    let s = s.split('@').next().unwrap_or(s).to_lowercase();
    if is_null(&s) || s.ends_with('$') {
        return None;
    }
    Some(UserKey::User(s))
}

/// Sysmon `SHA1=..,MD5=..` lists split into their hashes; a bare hash kept.
fn split_hashes(s: &str) -> Vec<String> {
    s.split([',', ';'])
        .filter_map(|part| {
            let v = part.rsplit('=').next().unwrap_or(part).trim();
            (v.len() >= 32 && v.chars().all(|c| c.is_ascii_hexdigit()))
                .then(|| v.to_ascii_lowercase())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_normalise_across_forms() {
        let u = |s| match norm_user(s) {
            Some(UserKey::User(u)) => Some(u),
            _ => None,
        };
        assert_eq!(u("CORP\\Alice").as_deref(), Some("alice"));
        assert_eq!(u("alice@corp.local").as_deref(), Some("alice"));
        assert_eq!(u("ALICE").as_deref(), Some("alice"));
        assert_eq!(u("WS01$"), None);
        assert_eq!(u("-"), None);
        assert!(
            matches!(norm_user("s-1-5-21-1-2-3-500"), Some(UserKey::Sid(s)) if s == "S-1-5-21-1-2-3-500")
        );
    }

    #[test]
    fn hosts_and_ips_normalise() {
        assert_eq!(norm_host("WS01.corp.local").as_deref(), Some("ws01"));
        assert_eq!(norm_host("10.0.0.5").as_deref(), Some("10.0.0.5"));
        assert_eq!(norm_host("127.0.0.1"), None);
        assert_eq!(norm_ip("::1"), None);
        assert_eq!(norm_ip("::ffff:10.1.2.3").as_deref(), Some("10.1.2.3"));
        assert_eq!(norm_ip("-"), None);
    }

    #[test]
    fn sysmon_hashes_split() {
        let h = split_hashes("SHA1=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,MD5=BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB,IMPHASH=x");
        assert_eq!(h.len(), 2);
        assert!(h[0].starts_with("aaaa"));
    }
}
