//! The correlator as it was before the interned entity table, the signal
//! slab and the index heap (commit d7a7ead), kept verbatim apart from names
//! as the reference the differential test compares the engine with.

#![allow(dead_code)]

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::mem;

use killchain_correlate::{
    incident_id, CommonPolicy, Commonness, Config, EntityKey, EntityKind, Lateral, RawIncident,
    Signal, Stats,
};
use rustc_hash::FxHashMap;

fn judge(p: &CommonPolicy, df: u64, hosts: usize, total: u64) -> bool {
    hosts > p.max_hosts
        || (df >= p.min_findings
            && hosts >= p.share_min_hosts
            && df as f64 > p.max_share * total as f64)
}

#[derive(Debug)]
struct EntityState {
    last_seen: i64,
    incident: u32,
    /// Host (interned) of the last finding that touched it, for lateral edges.
    host: u32,
    /// Online learning: findings seen with it, and up to max_hosts+1 hosts.
    df: u32,
    hosts: Vec<u32>,
}

#[derive(Debug)]
struct Live {
    first: (i64, String),
    last_seen: i64,
    signals: Vec<Signal>,
    merged_from: Vec<String>,
    lateral: Vec<Lateral>,
}

#[derive(Debug)]
enum Node {
    Root(Box<Live>),
    Forward(u32),
    Free,
}

/// Heap entry of the reorder buffer: smallest (time, key) first. Boxed:
/// sifting moves entries, and a pointer is cheaper to move than a signal.
struct Pending(Box<Signal>);

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap.
        (o.0.time, &o.0.key).cmp(&(self.0.time, &self.0.key))
    }
}

/// The streaming correlator. Feed signals with [`push`](Self::push), take
/// finished incidents with [`drain_closed`](Self::drain_closed), end with
/// [`finish`](Self::finish).
pub struct RefCorrelator {
    cfg: Config,
    window: i64,
    lateness: i64,
    common: Commonness,
    entities: FxHashMap<EntityKey, EntityState>,
    nodes: Vec<Node>,
    free: Vec<u32>,
    host_ids: FxHashMap<Box<str>, u32>,
    host_names: Vec<Box<str>>,
    pending: BinaryHeap<Pending>,
    max_time: Option<i64>,
    watermark: i64,
    since_sweep: u64,
    /// Watermark at the last sweep.
    last_sweep: i64,
    closed: Vec<RawIncident>,
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

impl RefCorrelator {
    pub fn new(cfg: Config, common: Commonness) -> Self {
        RefCorrelator {
            window: cfg.window_secs.saturating_mul(NS),
            lateness: cfg.lateness_secs.saturating_mul(NS),
            cfg,
            common,
            entities: FxHashMap::default(),
            nodes: Vec::new(),
            free: Vec::new(),
            host_ids: FxHashMap::default(),
            host_names: Vec::new(),
            pending: BinaryHeap::new(),
            max_time: None,
            watermark: i64::MIN,
            since_sweep: 0,
            last_sweep: i64::MIN,
            closed: Vec::new(),
            stats: Stats::default(),
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Live entities right now.
    pub fn live_entities(&self) -> usize {
        self.entities.len()
    }

    /// Estimated heap bytes of the entity table (entries, keys, host lists):
    /// what grows with live entities.
    pub fn entity_bytes(&self) -> usize {
        let entry = mem::size_of::<(EntityKey, EntityState)>() + 1;
        self.entities.capacity() * entry
            + self
                .entities
                .iter()
                .map(|(k, v)| k.heap_bytes() + v.hosts.capacity() * 4)
                .sum::<usize>()
    }

    /// Adds a signal. It is processed once the watermark passes it (or at
    /// once if it is already late).
    pub fn push(&mut self, s: Signal) {
        self.stats.signals += 1;
        let t = ns(&s);
        if t < self.watermark {
            self.stats.late += 1;
            self.process(s);
        } else {
            self.pending.push(Pending(Box::new(s)));
        }
        if self.max_time.is_none_or(|m| t > m) {
            self.max_time = Some(t);
            self.watermark = t.saturating_sub(self.lateness);
        }
        while self
            .pending
            .peek()
            .is_some_and(|p| ns(&p.0) <= self.watermark)
        {
            if let Some(Pending(s)) = self.pending.pop() {
                self.process(*s);
            }
        }
        self.since_sweep += 1;
        // Amortised: a sweep costs O(live entities), and can only free what
        // the watermark has left behind, so sweep when it moved a quarter
        // window since the last sweep (and at most every `sweep_every`).
        if self.since_sweep >= self.cfg.sweep_every
            && self.watermark.saturating_sub(self.last_sweep) >= self.window / 4
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
        while let Some(Pending(s)) = self.pending.pop() {
            self.process(*s);
        }
        self.sweep(true);
        let mut out = mem::take(&mut self.closed);
        out.sort_by(|a, b| a.id.cmp(&b.id));
        (out, self.stats)
    }

    fn host_id(&mut self, h: &str) -> u32 {
        if let Some(&id) = self.host_ids.get(h) {
            return id;
        }
        let id = self.host_names.len() as u32;
        self.host_names.push(h.into());
        self.host_ids.insert(h.into(), id);
        id
    }

    fn find(&mut self, i: u32) -> u32 {
        find_in(&mut self.nodes, i)
    }

    fn is_common(&mut self, e: &EntityKey, host_ids: &[u32]) -> bool {
        match &self.common {
            Commonness::Fixed(set) => set.contains(e),
            Commonness::Online => {
                let total = self.stats.signals;
                let policy = &self.cfg.common;
                match self.entities.get_mut(e) {
                    Some(st) => {
                        st.df = st.df.saturating_add(1);
                        for h in host_ids {
                            if st.hosts.len() <= policy.max_hosts && !st.hosts.contains(h) {
                                st.hosts.push(*h);
                            }
                        }
                        judge(policy, st.df as u64, st.hosts.len(), total)
                    }
                    None => false,
                }
            }
        }
    }

    fn process(&mut self, s: Signal) {
        let t = ns(&s);
        let host_ids: Vec<u32> = s
            .host_keys()
            .map(str::to_string)
            .collect::<Vec<_>>()
            .iter()
            .map(|h| self.host_id(h))
            .collect();
        let here = host_ids.first().copied().unwrap_or(u32::MAX);
        let mut joined: Vec<u32> = Vec::new();
        let mut lateral: Vec<Lateral> = Vec::new();
        let mut keep: Vec<bool> = Vec::with_capacity(s.entities.len());
        for e in &s.entities {
            let common = self.is_common(e, &host_ids);
            keep.push(!common);
            if common {
                if self.entities.contains_key(e) {
                    self.stats.downweighted_links += 1;
                }
                continue;
            }
            let Some(st) = self.entities.get(e) else {
                continue;
            };
            if (t - st.last_seen).abs() > self.window {
                continue;
            }
            let (inc, prev_host) = (st.incident, st.host);
            let root = self.find(inc);
            if !joined.contains(&root) {
                joined.push(root);
            }
            if e.kind == EntityKind::Ip
                && prev_host != here
                && prev_host != u32::MAX
                && here != u32::MAX
            {
                lateral.push(Lateral {
                    from: self.host_names[prev_host as usize].to_string(),
                    to: self.host_names[here as usize].to_string(),
                    via: format!("ip {}", e.value),
                    finding: s.key.clone(),
                });
            }
        }
        if here != u32::MAX {
            let to = self.host_names[here as usize].to_string();
            for src in &s.source_hosts {
                if *src != to {
                    lateral.push(Lateral {
                        from: src.clone(),
                        to: to.clone(),
                        via: "logon source".into(),
                        finding: s.key.clone(),
                    });
                }
            }
        }
        // The incident this signal ends up in.
        let root = match joined.len() {
            0 => self.new_incident(t, &s.key),
            _ => {
                let mut root = joined[0];
                for &other in &joined[1..] {
                    root = self.union(root, other);
                }
                root
            }
        };
        let mut to_insert: Vec<(EntityKey, bool)> = Vec::new();
        for (e, keep) in s.entities.iter().zip(&keep) {
            match self.entities.get_mut(e) {
                Some(st) => {
                    if *keep {
                        st.last_seen = st.last_seen.max(t);
                        st.incident = root;
                        st.host = here;
                    }
                }
                None => to_insert.push((e.clone(), *keep)),
            }
        }
        for (e, keep) in to_insert {
            let hosts = if matches!(self.common, Commonness::Online) {
                host_ids
                    .iter()
                    .copied()
                    .take(self.cfg.common.max_hosts + 1)
                    .collect()
            } else {
                Vec::new()
            };
            let _ = keep;
            self.entities.insert(
                e,
                EntityState {
                    last_seen: t,
                    incident: root,
                    host: here,
                    df: 1,
                    hosts,
                },
            );
        }
        self.stats.peak_entities = self.stats.peak_entities.max(self.entities.len());
        if let Node::Root(live) = &mut self.nodes[root as usize] {
            live.last_seen = live.last_seen.max(t);
            if (t, &s.key) < (live.first.0, &live.first.1) {
                live.first = (t, s.key.clone());
            }
            live.lateral.extend(lateral);
            live.signals.push(s);
        }
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
        let first = |n: &Node| match n {
            Node::Root(l) => Some((l.first.0, l.first.1.clone())),
            _ => None,
        };
        let (fa, fb) = (
            first(&self.nodes[a as usize]),
            first(&self.nodes[b as usize]),
        );
        let (win, lose) = if fa <= fb { (a, b) } else { (b, a) };
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

    /// Drops idle entities, closes idle incidents, frees forwarders.
    fn sweep(&mut self, all: bool) {
        self.since_sweep = 0;
        self.last_sweep = self.watermark;
        let horizon = if all {
            i64::MAX
        } else {
            self.watermark.saturating_sub(self.window)
        };
        // Compress every entity's pointer to its root, dropping idle ones.
        let nodes = &mut self.nodes;
        let mut evicted = 0u64;
        self.entities.retain(|_, st| {
            if st.last_seen < horizon {
                evicted += 1;
                false
            } else {
                st.incident = find_in(nodes, st.incident);
                true
            }
        });
        self.stats.evicted_entities += evicted;
        for i in 0..self.nodes.len() {
            let close = match &self.nodes[i] {
                Node::Root(l) => l.last_seen < horizon,
                Node::Forward(_) => true,
                Node::Free => false,
            };
            if !close {
                continue;
            }
            if let Node::Root(live) = mem::replace(&mut self.nodes[i], Node::Free) {
                self.stats.closed_incidents += 1;
                self.closed.push(close_incident(*live));
            }
            self.free.push(i as u32);
        }
        if all {
            self.entities = FxHashMap::default();
        } else {
            self.entities.shrink_to(self.entities.len() * 2);
        }
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

fn close_incident(live: Live) -> RawIncident {
    let mut signals = live.signals;
    signals.sort_by(|a, b| (a.time, &a.key).cmp(&(b.time, &b.key)));
    signals.dedup_by(|a, b| a.key == b.key);
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
