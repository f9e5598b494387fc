//! The correlator: signals into incidents by shared entities within a time
//! window, with union-find over incidents, a watermark for late events and
//! idle-state eviction.
//!
//! Each live entity remembers when it was last seen and which incident it
//! belongs to. A signal at time `t` joins every incident one of its
//! (non-common) entities was seen in within `window` of `t`; when it joins
//! several, they merge (union-find: the absorbed incidents forward to the
//! survivor until the next sweep compresses the pointers). The survivor is
//! the incident whose earliest finding is earliest (time, then key), so an
//! incident's ID, a hash of its earliest finding's key, does not depend on
//! the order signals arrived in; the absorbed IDs are kept in `merged_from`.
//!
//! Streaming: signals go into a reorder buffer and are released in (time,
//! key) order once the watermark (latest time seen minus `lateness`) passes
//! them, so a nearly sorted stream gives the same incidents as a sorted one.
//! A signal older than the watermark is processed at once and counted as
//! late. Every `sweep_every` signals, entities idle for longer than `window`
//! before the watermark are dropped and incidents idle as long are closed
//! and handed out (`drain_closed`), so memory holds live state only.
//!
//! Down-weighting: an entity that is too common to mean anything stops
//! gluing. What "too common" is, is learned from the data (see [`Commonness`]):
//! seen in more than `max_share` of all findings (with at least
//! `min_findings` findings and on at least `share_min_hosts` hosts), or on
//! more than `max_hosts` distinct hosts. Batch callers learn it from the whole
//! input first ([`learn_common`]); a stream learns it as it goes.

use std::collections::BTreeMap;
use std::mem;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use crate::entities::{key_hash, EntityTable, NewEntity};
use crate::held::{renumbered, Held, Reorder};
use crate::signal::{EntityKey, EntityKind, Signal};

/// How findings are joined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Two findings sharing an entity join when they are at most this far
    /// apart (seconds).
    pub window_secs: i64,
    /// Allowed lateness of the stream (seconds): the watermark trails the
    /// latest event time by this much.
    pub lateness_secs: i64,
    /// Sweep idle state every this many signals.
    pub sweep_every: u64,
    pub common: CommonPolicy,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            window_secs: 2 * 3600,
            lateness_secs: 300,
            sweep_every: 4096,
            common: CommonPolicy::default(),
        }
    }
}

/// When an entity is too common to glue findings together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommonPolicy {
    /// Share of all findings above which an entity is common...
    pub max_share: f64,
    /// ...when it has at least this many findings...
    pub min_findings: u64,
    /// ...and is seen on at least this many hosts (a host, or a user on one
    /// machine, is where the attack is, not noise).
    pub share_min_hosts: usize,
    /// Seen on more hosts than this: common whatever its share (SYSTEM across
    /// a fleet, a domain controller's address, a host everyone logs on to).
    pub max_hosts: usize,
}

impl Default for CommonPolicy {
    fn default() -> Self {
        CommonPolicy {
            max_share: 0.4,
            min_findings: 20,
            share_min_hosts: 3,
            max_hosts: 8,
        }
    }
}

impl CommonPolicy {
    fn judge(&self, df: u64, hosts: usize, total: u64, kind: EntityKind) -> bool {
        // A host key's "hosts" are the hosts it shares findings with: its
        // peers. Counting itself, a host has at least one.
        let _ = kind;
        hosts > self.max_hosts
            || (df >= self.min_findings
                && hosts >= self.share_min_hosts
                && df as f64 > self.max_share * total as f64)
    }
}

/// One entity found too common, with the numbers that made it so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommonEntity {
    pub entity: String,
    pub findings: u64,
    pub hosts: usize,
}

/// Commonness: learned from the whole input (batch) or as the stream goes.
#[derive(Debug, Clone, Default)]
pub enum Commonness {
    /// Learned from the stream so far (per live entity).
    #[default]
    Online,
    /// Fixed set, learned beforehand by [`learn_common`].
    Fixed(FxHashSet<EntityKey>),
}

/// Learns which entities are common in `signals` under `policy`: counts
/// findings and distinct hosts per entity across the whole input. Returns
/// the set and the list (most findings first) for reports.
pub fn learn_common(
    signals: &[Signal],
    policy: &CommonPolicy,
) -> (FxHashSet<EntityKey>, Vec<CommonEntity>) {
    let mut df: FxHashMap<&EntityKey, (u64, FxHashSet<&str>)> = FxHashMap::default();
    for s in signals {
        for e in &s.entities {
            let entry = df.entry(e).or_default();
            entry.0 += 1;
            if entry.1.len() <= policy.max_hosts {
                for h in s.host_keys() {
                    entry.1.insert(h);
                }
            }
        }
    }
    let total = signals.len() as u64;
    let mut list: Vec<CommonEntity> = Vec::new();
    let mut set = FxHashSet::default();
    for (e, (n, hosts)) in df {
        if policy.judge(n, hosts.len(), total, e.kind) {
            set.insert(e.clone());
            list.push(CommonEntity {
                entity: e.to_string(),
                findings: n,
                hosts: hosts.len(),
            });
        }
    }
    list.sort_by(|a, b| b.findings.cmp(&a.findings).then(a.entity.cmp(&b.entity)));
    (set, list)
}

/// A lateral movement edge: activity on `to` that came from `from`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Lateral {
    pub from: String,
    pub to: String,
    /// `logon source` (workstation of a logon / remote execution) or `ip <addr>`.
    pub via: String,
    /// Key of the finding on `to`.
    pub finding: String,
}

/// An incident as correlation leaves it: the signals, sorted by (time, key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawIncident {
    pub id: String,
    /// IDs of incidents merged into this one, sorted.
    pub merged_from: Vec<String>,
    pub signals: Vec<Signal>,
    pub lateral: Vec<Lateral>,
}

/// Counters for the end-of-run summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub signals: u64,
    /// Signals older than the watermark when they arrived.
    pub late: u64,
    /// Joins skipped because the entity was common.
    pub downweighted_links: u64,
    pub merges: u64,
    pub evicted_entities: u64,
    pub closed_incidents: u64,
    /// Most entities alive at once.
    pub peak_entities: usize,
}

#[derive(Debug)]
struct Live {
    first: (i64, String),
    last_seen: i64,
    /// Slab indices of the signals (see [`Held`]), in no particular order:
    /// sorted when the incident closes.
    signals: Vec<u32>,
    merged_from: Vec<String>,
    lateral: Vec<Lateral>,
}

#[derive(Debug)]
enum Node {
    Root(Box<Live>),
    Forward(u32),
    Free,
}

/// One entity of the signal being processed.
#[derive(Debug, Clone, Copy)]
struct Seen {
    hash: u64,
    /// Its id when it was live before this signal.
    id: Option<u32>,
    /// Not down-weighted: the signal updates it.
    keep: bool,
}

/// Per-signal working vectors, kept between signals so `process` does not
/// allocate.
#[derive(Debug, Default)]
struct Scratch {
    hosts: Vec<u32>,
    seen: Vec<Seen>,
    joined: Vec<u32>,
    lateral: Vec<Lateral>,
}

/// Hosts interned for good (lateral edges name them; there are few).
#[derive(Debug, Default)]
struct HostNames {
    ids: FxHashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl HostNames {
    fn id(&mut self, h: &str) -> u32 {
        if let Some(&id) = self.ids.get(h) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(h.into());
        self.ids.insert(h.into(), id);
        id
    }

    fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", |n| n)
    }
}

/// The streaming correlator. Feed signals with [`push`](Self::push), take
/// finished incidents with [`drain_closed`](Self::drain_closed), end with
/// [`finish`](Self::finish).
pub struct Correlator {
    lateness: i64,
    /// Signals held (pending or in open incidents), by index.
    held: Held,
    pending: Reorder,
    max_time: Option<i64>,
    watermark: i64,
    since_sweep: u64,
    /// Watermark at the last sweep.
    last_sweep: i64,
    closed: Vec<RawIncident>,
    core: Core,
}

/// Entities and incidents: what processing a signal changes (apart from
/// the slab it reads the signal from).
struct Core {
    cfg: Config,
    window: i64,
    common: Commonness,
    entities: EntityTable,
    nodes: Vec<Node>,
    free: Vec<u32>,
    hosts: HostNames,
    scratch: Scratch,
    stats: Stats,
}

const NS: i64 = 1_000_000_000;

fn ns(s: &Signal) -> i64 {
    // Times beyond ±292 years saturate; they still order correctly.
    i64::try_from(s.time.as_nanosecond()).unwrap_or(if s.time.as_nanosecond() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

impl Correlator {
    pub fn new(cfg: Config, common: Commonness) -> Self {
        Correlator {
            lateness: cfg.lateness_secs.saturating_mul(NS),
            held: Held::default(),
            pending: Reorder::default(),
            max_time: None,
            watermark: i64::MIN,
            since_sweep: 0,
            last_sweep: i64::MIN,
            closed: Vec::new(),
            core: Core {
                window: cfg.window_secs.saturating_mul(NS),
                cfg,
                common,
                entities: EntityTable::default(),
                nodes: Vec::new(),
                free: Vec::new(),
                hosts: HostNames::default(),
                scratch: Scratch::default(),
                stats: Stats::default(),
            },
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.core.stats
    }

    /// Live entities right now.
    pub fn live_entities(&self) -> usize {
        self.core.entities.len()
    }

    /// Estimated heap bytes of the entity table (id table, state slots with
    /// their host lists, key text): what grows with live entities.
    pub fn entity_bytes(&self) -> usize {
        self.core.entities.heap_bytes()
    }

    /// Adds a signal. It is processed once the watermark passes it (or at
    /// once if it is already late).
    pub fn push(&mut self, s: Signal) {
        self.core.stats.signals += 1;
        let t = ns(&s);
        let i = self.held.insert(s);
        if t < self.watermark {
            self.core.stats.late += 1;
            self.process(i);
        } else {
            self.pending.push((t, i), &self.held);
        }
        if self.max_time.is_none_or(|m| t > m) {
            self.max_time = Some(t);
            self.watermark = t.saturating_sub(self.lateness);
        }
        while self
            .pending
            .peek()
            .is_some_and(|(t, _)| t <= self.watermark)
        {
            if let Some((_, i)) = self.pending.pop(&self.held) {
                self.process(i);
            }
        }
        self.since_sweep += 1;
        // Amortised: a sweep costs O(live entities), and can only free what
        // the watermark has left behind, so sweep when it moved a quarter
        // window since the last sweep (and at most every `sweep_every`).
        if self.since_sweep >= self.core.cfg.sweep_every
            && self.watermark.saturating_sub(self.last_sweep) >= self.core.window / 4
        {
            self.sweep(false);
        }
    }

    /// Incidents closed so far (idle longer than the window before the watermark).
    pub fn drain_closed(&mut self) -> Vec<RawIncident> {
        mem::take(&mut self.closed)
    }

    /// Ends the stream: everything pending is processed and every incident
    /// closed. Returned sorted by ID.
    pub fn finish(mut self) -> (Vec<RawIncident>, Stats) {
        while let Some((_, i)) = self.pending.pop(&self.held) {
            self.process(i);
        }
        self.sweep(true);
        let mut out = mem::take(&mut self.closed);
        out.sort_by(|a, b| a.id.cmp(&b.id));
        (out, self.core.stats)
    }

    fn process(&mut self, i: u32) {
        if let Some(s) = self.held.get(i) {
            self.core.process(s, i);
        }
    }

    /// Drops idle entities, closes idle incidents, frees forwarders.
    fn sweep(&mut self, all: bool) {
        self.since_sweep = 0;
        self.last_sweep = self.watermark;
        let horizon = if all {
            i64::MAX
        } else {
            self.watermark.saturating_sub(self.core.window)
        };
        let core = &mut self.core;
        // Compress every entity's pointer to its root, dropping idle ones.
        let nodes = &mut core.nodes;
        let evicted = core.entities.evict(horizon, |st| {
            st.incident = find_in(nodes, st.incident);
        });
        core.stats.evicted_entities += evicted;
        for i in 0..core.nodes.len() {
            let close = match &core.nodes[i] {
                // At the end every incident closes, even one whose last
                // time saturated to i64::MAX (past 2262).
                Node::Root(l) => all || l.last_seen < horizon,
                Node::Forward(_) => true,
                Node::Free => false,
            };
            if !close {
                continue;
            }
            if let Node::Root(live) = mem::replace(&mut core.nodes[i], Node::Free) {
                core.stats.closed_incidents += 1;
                self.closed.push(close_incident(*live, &mut self.held));
            }
            core.free.push(i as u32);
        }
        if all {
            core.entities = EntityTable::default();
            self.held.clear();
        } else {
            core.entities.shrink();
            if let Some(map) = self.held.compact() {
                self.pending.renumber(&map);
                for node in &mut core.nodes {
                    if let Node::Root(live) = node {
                        for i in &mut live.signals {
                            *i = renumbered(&map, *i);
                        }
                    }
                }
            }
        }
    }
}

impl Core {
    fn find(&mut self, i: u32) -> u32 {
        find_in(&mut self.nodes, i)
    }

    /// Whether entity `e` (live as `id`) is too common to join on; online,
    /// counts this finding and its hosts first.
    fn is_common(&mut self, e: &EntityKey, id: Option<u32>, hosts: &[u32]) -> bool {
        match &self.common {
            Commonness::Fixed(set) => set.contains(e),
            Commonness::Online => {
                let total = self.stats.signals;
                let policy = &self.cfg.common;
                match id {
                    Some(id) => {
                        let st = self.entities.slot_mut(id);
                        st.df = st.df.saturating_add(1);
                        for h in hosts {
                            if st.hosts.len() <= policy.max_hosts && !st.hosts.contains(h) {
                                st.hosts.push(*h);
                            }
                        }
                        policy.judge(st.df as u64, st.hosts.len(), total, e.kind)
                    }
                    None => false,
                }
            }
        }
    }

    /// Joins signal `s` (held as `i`) to the incidents its live entities
    /// were seen in within the window, merging them (or opens one), updates
    /// or adds its entities, and files it under the incident.
    fn process(&mut self, s: &Signal, i: u32) {
        let t = ns(s);
        // Taken for the call so its vectors can be filled while `self` changes.
        let mut scratch = mem::take(&mut self.scratch);
        scratch.hosts.clear();
        scratch.seen.clear();
        scratch.joined.clear();
        scratch.lateral.clear();
        for h in s.host_keys() {
            scratch.hosts.push(self.hosts.id(h));
        }
        let here = scratch.hosts.first().copied().unwrap_or(u32::MAX);
        for e in &s.entities {
            let hash = key_hash(e.kind, &e.value);
            let id = self.entities.find(hash, e.kind, &e.value);
            let common = self.is_common(e, id, &scratch.hosts);
            scratch.seen.push(Seen {
                hash,
                id,
                keep: !common,
            });
            let Some(id) = id else {
                continue;
            };
            if common {
                self.stats.downweighted_links += 1;
                continue;
            }
            let st = self.entities.slot(id);
            if (t - st.last_seen).abs() > self.window {
                continue;
            }
            let (inc, prev_host) = (st.incident, st.host);
            let root = self.find(inc);
            if !scratch.joined.contains(&root) {
                scratch.joined.push(root);
            }
            if e.kind == EntityKind::Ip
                && prev_host != here
                && prev_host != u32::MAX
                && here != u32::MAX
            {
                scratch.lateral.push(Lateral {
                    from: self.hosts.name(prev_host).to_string(),
                    to: self.hosts.name(here).to_string(),
                    via: format!("ip {}", e.value),
                    finding: s.key.clone(),
                });
            }
        }
        if here != u32::MAX {
            let to = self.hosts.name(here);
            for src in &s.source_hosts {
                if src != to {
                    scratch.lateral.push(Lateral {
                        from: src.clone(),
                        to: to.to_string(),
                        via: "logon source".into(),
                        finding: s.key.clone(),
                    });
                }
            }
        }
        // The incident this signal ends up in.
        let root = match scratch.joined.split_first() {
            None => self.new_incident(t, &s.key),
            Some((&first, rest)) => {
                let mut root = first;
                for &other in rest {
                    root = self.union(root, other);
                }
                root
            }
        };
        let online = matches!(self.common, Commonness::Online);
        let max_hosts = self.cfg.common.max_hosts;
        for (n, (e, seen)) in s.entities.iter().zip(&scratch.seen).enumerate() {
            match seen.id {
                Some(id) => {
                    if seen.keep {
                        let st = self.entities.slot_mut(id);
                        st.last_seen = st.last_seen.max(t);
                        st.incident = root;
                        st.host = here;
                    }
                }
                None => {
                    // Entities are sorted and unique in signals built here;
                    // a repeat (a hand-made signal) was just added with the
                    // same state.
                    let repeat = scratch.seen[..n]
                        .iter()
                        .zip(&s.entities)
                        .any(|(o, oe)| o.id.is_none() && o.hash == seen.hash && oe == e);
                    if repeat {
                        continue;
                    }
                    let hosts: &[u32] = if online {
                        let n = scratch.hosts.len().min(max_hosts.saturating_add(1));
                        &scratch.hosts[..n]
                    } else {
                        &[]
                    };
                    self.entities.insert_new(
                        seen.hash,
                        e.kind,
                        &e.value,
                        NewEntity {
                            last_seen: t,
                            incident: root,
                            host: here,
                            hosts,
                        },
                    );
                }
            }
        }
        self.stats.peak_entities = self.stats.peak_entities.max(self.entities.len());
        if let Node::Root(live) = &mut self.nodes[root as usize] {
            live.last_seen = live.last_seen.max(t);
            if (t, &s.key) < (live.first.0, &live.first.1) {
                live.first = (t, s.key.clone());
            }
            live.lateral.append(&mut scratch.lateral);
            live.signals.push(i);
        }
        self.scratch = scratch;
    }

    fn new_incident(&mut self, t: i64, key: &str) -> u32 {
        let live = Box::new(Live {
            first: (t, key.to_string()),
            last_seen: t,
            signals: Vec::new(),
            merged_from: Vec::new(),
            lateral: Vec::new(),
        });
        match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = Node::Root(live);
                i
            }
            None => {
                self.nodes.push(Node::Root(live));
                (self.nodes.len() - 1) as u32
            }
        }
    }

    /// Merges two roots; the one with the earlier first finding survives.
    fn union(&mut self, a: u32, b: u32) -> u32 {
        if a == b {
            return a;
        }
        fn first(n: &Node) -> Option<(i64, &str)> {
            match n {
                Node::Root(l) => Some((l.first.0, l.first.1.as_str())),
                _ => None,
            }
        }
        let (win, lose) = if first(&self.nodes[a as usize]) <= first(&self.nodes[b as usize]) {
            (a, b)
        } else {
            (b, a)
        };
        let Node::Root(loser) = mem::replace(&mut self.nodes[lose as usize], Node::Forward(win))
        else {
            return win;
        };
        self.stats.merges += 1;
        if let Node::Root(w) = &mut self.nodes[win as usize] {
            w.merged_from.push(incident_id(&loser.first.1));
            w.merged_from.extend(loser.merged_from);
            // Union by size for the storage: append the smaller vector to the
            // larger (order does not matter, signals are sorted at close).
            let mut small = loser.signals;
            if small.len() > w.signals.len() {
                mem::swap(&mut small, &mut w.signals);
            }
            w.signals.append(&mut small);
            w.lateral.extend(loser.lateral);
            w.last_seen = w.last_seen.max(loser.last_seen);
        }
        win
    }
}

/// Union-find root of `i`, compressing the path.
fn find_in(nodes: &mut [Node], mut i: u32) -> u32 {
    let start = i;
    while let Node::Forward(next) = nodes[i as usize] {
        i = next;
    }
    let mut j = start;
    while let Node::Forward(next) = nodes[j as usize] {
        nodes[j as usize] = Node::Forward(i);
        j = next;
    }
    i
}

/// The finished incident: its signals taken out of the slab in (time, key)
/// order, duplicates (replays) dropped, merged IDs and lateral edges sorted.
fn close_incident(live: Live, held: &mut Held) -> RawIncident {
    let mut order: Vec<(i64, u32)> = live
        .signals
        .iter()
        .map(|&i| (held.get(i).map_or(i64::MIN, ns), i))
        .collect();
    // Stable, as the sort of the signals themselves was.
    order.sort_by(|&a, &b| held.order(a, b));
    let mut signals: Vec<Signal> = Vec::with_capacity(order.len());
    for (_, i) in order {
        let Some(s) = held.take(i) else {
            continue;
        };
        if signals.last().is_some_and(|p| p.key == s.key) {
            continue;
        }
        signals.push(s);
    }
    let mut merged = live.merged_from;
    merged.sort();
    merged.dedup();
    let mut lateral = live.lateral;
    lateral.sort();
    lateral.dedup_by(|a, b| a.from == b.from && a.to == b.to && a.via == b.via);
    let id = signals
        .first()
        .map_or_else(|| incident_id(&live.first.1), |s| incident_id(&s.key));
    merged.retain(|m| *m != id);
    RawIncident {
        id,
        merged_from: merged,
        signals,
        lateral,
    }
}

/// Incident ID: `INC-` and 12 hex digits of the FNV-1a hash of the earliest
/// finding's key. FNV-1a is written out because an ID format must not change
/// with a hasher crate's release.
pub fn incident_id(first_key: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in first_key.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("INC-{:012x}", h >> 16)
}

/// Batch correlation: learns commonness from all `signals`, sorts them by
/// (time, key), dedupes by key and correlates. The result depends only on
/// the set of signals, never on their input order.
pub fn correlate_batch(
    mut signals: Vec<Signal>,
    cfg: &Config,
) -> (Vec<RawIncident>, Stats, Vec<CommonEntity>) {
    signals.sort_by(|a, b| (a.time, &a.key).cmp(&(b.time, &b.key)));
    signals.dedup_by(|a, b| a.key == b.key);
    let (set, list) = learn_common(&signals, &cfg.common);
    let mut c = Correlator::new(cfg.clone(), Commonness::Fixed(set));
    for s in signals {
        c.push(s);
    }
    let (inc, stats) = c.finish();
    (inc, stats, list)
}

/// Hosts of an incident's signals per normalised host, first-seen order.
pub fn hosts_of(signals: &[Signal]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for s in signals {
        for h in s.host_keys() {
            *m.entry(h.to_string()).or_insert(0) += 1;
        }
    }
    m
}
