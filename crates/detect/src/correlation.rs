//! Sigma correlation rules: meta-rules over the matches of other rules
//! (Sigma correlation specification v2: `event_count`, `value_count`,
//! `temporal`, `temporal_ordered`, with `group-by`, `aliases`, `generate`
//! and chaining), evaluated on event time at nanosecond precision.
//!
//! Not to be confused with the incident engine (`crates/correlate`): this is
//! the Sigma rule type, part of detection.
//!
//! How it fits: [`Engine::build`](crate::Engine::build) compiles correlation
//! documents next to the rules they reference. While scanning, the caller
//! asks [`Engine::observe`](crate::Engine::observe) for the group-by values of
//! each match of a referenced rule (read from the event while it is still at
//! hand), then feeds those observations, in event-time order, to a
//! [`Correlator`], which keeps a window per (correlation, group) and reports a
//! [`CorrelationHit`] when a condition holds.
//!
//! Semantics (docs/sigma-correlation.md has the details and the differences
//! from rsigma, the test oracle):
//! - windows are sliding by default (`(t - timespan, t]` counted inclusively
//!   at the old end, as rsigma does), or `tumbling` / `session` (rsigma's
//!   `window:` extension);
//! - conditions with only lower bounds (`gt`, `gte`) are checked as each
//!   match arrives; a hit clears the group's window, so a burst gives one
//!   hit, not one per further event;
//! - conditions with an upper bound (`lt`, `lte`, `eq`, `neq`, ranges) can
//!   only be decided when the window is over: the window opens at the group's
//!   first match and is judged when it closes (a later match beyond it, an
//!   idle sweep, or [`Correlator::finish`]);
//! - `event_count` counts events: one event matching two referenced rules
//!   counts once;
//! - `temporal` without a condition requires every referenced rule (the
//!   specification's "all events defined by the rules"); with a condition it
//!   counts distinct rules; a string condition (`rule_a and not rule_b`) is
//!   a boolean over the referenced rules' names;
//! - `temporal_ordered` needs the referenced rules in the listed order
//!   (non-decreasing times).

use std::collections::VecDeque;
use std::sync::Arc;

use rsigma_parser::{ConditionExpr, ConditionOperator, CorrelationType, WindowMode};
use rustc_hash::FxHashMap;

use crate::rules::RuleInfo;

/// The correlation types the specification defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationKind {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
}

impl CorrelationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CorrelationKind::EventCount => "event_count",
            CorrelationKind::ValueCount => "value_count",
            CorrelationKind::Temporal => "temporal",
            CorrelationKind::TemporalOrdered => "temporal_ordered",
        }
    }
    pub(crate) fn from_parsed(t: CorrelationType) -> Option<CorrelationKind> {
        Some(match t {
            CorrelationType::EventCount => CorrelationKind::EventCount,
            CorrelationType::ValueCount => CorrelationKind::ValueCount,
            CorrelationType::Temporal => CorrelationKind::Temporal,
            CorrelationType::TemporalOrdered => CorrelationKind::TemporalOrdered,
            _ => return None,
        })
    }
}

/// A comparison of the correlation condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Lte,
    Gt,
    Gte,
    Eq,
    Neq,
}

impl Op {
    pub(crate) fn from_parsed(o: ConditionOperator) -> Op {
        match o {
            ConditionOperator::Lt => Op::Lt,
            ConditionOperator::Lte => Op::Lte,
            ConditionOperator::Gt => Op::Gt,
            ConditionOperator::Gte => Op::Gte,
            ConditionOperator::Eq => Op::Eq,
            ConditionOperator::Neq => Op::Neq,
        }
    }
    fn holds(self, v: u64, n: u64) -> bool {
        match self {
            Op::Lt => v < n,
            Op::Lte => v <= n,
            Op::Gt => v > n,
            Op::Gte => v >= n,
            Op::Eq => v == n,
            Op::Neq => v != n,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Eq => "eq",
            Op::Neq => "neq",
        }
    }
}

/// The time window of a correlation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Sliding,
    Tumbling,
    /// Extends while matches come within `gap` nanoseconds of each other,
    /// up to the timespan.
    Session {
        gap: i64,
    },
}

impl Window {
    pub(crate) fn from_parsed(w: WindowMode, gap_ns: Option<i64>) -> Result<Window, String> {
        match (w, gap_ns) {
            (WindowMode::Sliding, None) => Ok(Window::Sliding),
            (WindowMode::Tumbling, None) => Ok(Window::Tumbling),
            (WindowMode::Session, Some(gap)) => Ok(Window::Session { gap }),
            (WindowMode::Session, None) => Err("a session window needs a `gap`".into()),
            (_, Some(_)) => Err("`gap` is only valid with `window: session`".into()),
        }
    }
}

/// A boolean over referenced rules (a `temporal` string condition), by
/// position in the correlation's `rules` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RefExpr {
    Ref(usize),
    And(Vec<RefExpr>),
    Or(Vec<RefExpr>),
    Not(Box<RefExpr>),
}

impl RefExpr {
    /// Compiles a parsed condition; identifiers must name referenced rules.
    pub(crate) fn compile(e: &ConditionExpr, names: &[Vec<String>]) -> Result<RefExpr, String> {
        Ok(match e {
            ConditionExpr::Identifier(id) => RefExpr::Ref(
                names
                    .iter()
                    .position(|ns| ns.iter().any(|n| n == id))
                    .ok_or_else(|| format!("condition names {id:?}, which is not in `rules`"))?,
            ),
            ConditionExpr::And(xs) => RefExpr::And(
                xs.iter()
                    .map(|x| RefExpr::compile(x, names))
                    .collect::<Result<_, _>>()?,
            ),
            ConditionExpr::Or(xs) => RefExpr::Or(
                xs.iter()
                    .map(|x| RefExpr::compile(x, names))
                    .collect::<Result<_, _>>()?,
            ),
            ConditionExpr::Not(x) => RefExpr::Not(Box::new(RefExpr::compile(x, names)?)),
            ConditionExpr::Selector { .. } => {
                return Err("`N of` selectors in a correlation condition".into())
            }
        })
    }
    fn eval(&self, seen: &[u32]) -> bool {
        match self {
            RefExpr::Ref(i) => seen[*i] > 0,
            RefExpr::And(xs) => xs.iter().all(|x| x.eval(seen)),
            RefExpr::Or(xs) => xs.iter().any(|x| x.eval(seen)),
            RefExpr::Not(x) => !x.eval(seen),
        }
    }
}

/// What a correlation's condition asks for.
#[derive(Debug, Clone)]
pub(crate) enum Condition {
    /// All comparisons must hold for the aggregate.
    Threshold(Vec<(Op, u64)>),
    Expr(RefExpr),
}

/// Where a correlation input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// Matches of base rule `i` (see [`crate::Engine::rule`]).
    Rule(usize),
    /// Hits of correlation `i` (chaining).
    Correlation(usize),
}

/// How one referenced source feeds a correlation: for each group-by field
/// (and the `value_count` field), its position among the source's values.
#[derive(Debug, Clone)]
pub(crate) struct Feed {
    pub source: Source,
    pub group: Vec<Option<usize>>,
    pub value: Option<usize>,
}

/// A compiled correlation rule.
#[derive(Debug, Clone)]
pub struct Correlation {
    pub info: RuleInfo,
    pub kind: CorrelationKind,
    /// `group-by` as written (alias names included).
    pub group_by: Vec<String>,
    /// The `value_count` field.
    pub field: Option<String>,
    /// `timespan` as written (`5m`) and in nanoseconds.
    pub timespan: String,
    pub(crate) span: i64,
    pub(crate) window: Window,
    pub(crate) condition: Condition,
    /// Judged when the window closes (the condition has an upper bound).
    pub(crate) at_close: bool,
    /// One per entry of `rules`, in order.
    pub(crate) feeds: Vec<Feed>,
    /// Tags to map a hit with: its own, else the union of its sources'.
    pub effective_tags: Vec<String>,
}

impl Correlation {
    /// The referenced sources, in `rules` order.
    pub fn sources(&self) -> impl Iterator<Item = Source> + '_ {
        self.feeds.iter().map(|f| f.source)
    }

    /// The condition in words: `gte 10`, `gt 2 and lte 5`, `all rules`, or
    /// the boolean expression.
    pub fn condition_text(&self) -> String {
        match &self.condition {
            Condition::Threshold(ps) => ps
                .iter()
                .map(|(op, n)| format!("{} {n}", op.as_str()))
                .collect::<Vec<_>>()
                .join(" and "),
            Condition::Expr(_) => "expression over the referenced rules".into(),
        }
    }
}

/// An opaque reference to the event (or events) behind an observation,
/// chosen by the caller (an index into its own table, say).
pub type Handle = u64;

/// Evidence of an entry: one event, or the events of a chained hit.
#[derive(Debug, Clone)]
enum Evidence {
    One(Handle),
    Many(Arc<[Handle]>),
}

/// At most this many event handles are listed per hit (the count is exact).
pub const MAX_EVIDENCE: usize = 100;

/// A correlation that fired.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationHit {
    /// Index into [`crate::Engine::correlations`].
    pub correlation: usize,
    /// The group: each `group-by` name with its value (None: field absent).
    pub group: Vec<(String, Option<String>)>,
    /// Event time of the first and last contributing match (ns since epoch).
    pub first: i64,
    pub last: i64,
    /// The aggregate: events, distinct values, or referenced rules seen.
    pub value: u64,
    /// Contributing events (at most [`MAX_EVIDENCE`], in time order).
    pub events: Vec<Handle>,
    /// How many contributing events there were.
    pub events_total: u64,
}

#[derive(Debug, Clone)]
struct Entry {
    t: i64,
    feed: u16,
    value: Option<Box<str>>,
    ev: Evidence,
}

#[derive(Debug, Default)]
struct Group {
    entries: VecDeque<Entry>,
    /// value_count: distinct value -> occurrences in the window.
    distinct: FxHashMap<Box<str>, u32>,
    /// Per feed: entries in the window.
    seen: Vec<u32>,
    /// event_count: distinct events in the window.
    events: u64,
    /// Window start (first entry, or tumbling bucket start).
    opened: i64,
    latest: i64,
}

impl Group {
    fn clear(&mut self) {
        self.entries.clear();
        self.distinct.clear();
        self.seen.iter_mut().for_each(|s| *s = 0);
        self.events = 0;
    }
    fn pop_front(&mut self) {
        if let Some(e) = self.entries.pop_front() {
            self.forget(&e);
            // The next entry starts a new event unless it shares the handle.
            if let Some(next) = self.entries.front() {
                if same_event(&e.ev, &next.ev) {
                    self.events += 1;
                }
            }
        }
    }
    fn forget(&mut self, e: &Entry) {
        self.seen[e.feed as usize] -= 1;
        self.events -= 1;
        if let Some(v) = &e.value {
            if let Some(n) = self.distinct.get_mut(v) {
                *n -= 1;
                if *n == 0 {
                    self.distinct.remove(v);
                }
            }
        }
    }
    fn push(&mut self, e: Entry) {
        if self.entries.is_empty() {
            self.opened = e.t;
        }
        self.latest = self.latest.max(e.t);
        self.seen[e.feed as usize] += 1;
        let repeat = self
            .entries
            .back()
            .is_some_and(|b| same_event(&b.ev, &e.ev));
        if !repeat {
            self.events += 1;
        }
        if let Some(v) = &e.value {
            *self.distinct.entry(v.clone()).or_default() += 1;
        }
        self.entries.push_back(e);
    }
}

/// Two entries from the same event (one event matching two referenced rules).
fn same_event(a: &Evidence, b: &Evidence) -> bool {
    matches!((a, b), (Evidence::One(x), Evidence::One(y)) if x == y)
}

/// Correlation state over a stream of observations in (nearly) event-time
/// order. One per scan; pure and deterministic.
#[derive(Debug)]
pub struct Correlator<'e> {
    correlations: &'e [Correlation],
    /// Per source: (correlation, feed position) that it feeds.
    rule_feeds: FxHashMap<Source, Vec<(usize, usize)>>,
    groups: FxHashMap<StateKey, Group>,
    now: i64,
    pushes: u64,
}

/// The values of a group (one per `group-by` field; None: absent).
type GroupKey = Box<[Option<Box<str>>]>;
/// A window's key: (correlation, group).
type StateKey = (u32, GroupKey);

/// Idle groups are swept every this many observations.
const SWEEP_EVERY: u64 = 4096;

impl<'e> Correlator<'e> {
    pub fn new(engine: &'e crate::Engine) -> Correlator<'e> {
        let correlations = engine.correlations();
        let mut rule_feeds: FxHashMap<Source, Vec<(usize, usize)>> = FxHashMap::default();
        for (c, corr) in correlations.iter().enumerate() {
            for (p, f) in corr.feeds.iter().enumerate() {
                rule_feeds.entry(f.source).or_default().push((c, p));
            }
        }
        Correlator {
            correlations,
            rule_feeds,
            groups: FxHashMap::default(),
            now: i64::MIN,
            pushes: 0,
        }
    }

    /// Live (correlation, group) windows.
    pub fn live_groups(&self) -> usize {
        self.groups.len()
    }

    /// One match of base rule `rule` at `time` (ns since the epoch) with the
    /// values [`crate::Engine::observe`] read from its event; hits go to `out`.
    pub fn push(
        &mut self,
        time: i64,
        rule: usize,
        values: &[Option<Box<str>>],
        handle: Handle,
        out: &mut Vec<CorrelationHit>,
    ) {
        self.feed(
            Source::Rule(rule),
            time,
            &|pos| values.get(pos).cloned().flatten(),
            Evidence::One(handle),
            out,
        );
        self.pushes += 1;
        if self.pushes.is_multiple_of(SWEEP_EVERY) {
            self.sweep(out);
        }
    }

    /// Judges every open window whose condition waits for its end, and
    /// clears all state. Call once the input is over.
    pub fn finish(&mut self, out: &mut Vec<CorrelationHit>) {
        let keys: Vec<_> = self.groups.keys().cloned().collect();
        self.retire(keys, out);
    }

    /// Drops these groups, in key order, judging those whose condition
    /// waits for the window's end.
    fn retire(&mut self, mut keys: Vec<StateKey>, out: &mut Vec<CorrelationHit>) {
        keys.sort();
        for key in keys {
            if let Some(mut g) = self.groups.remove(&key) {
                self.close(key.0 as usize, &key.1, &mut g, out);
            }
        }
    }

    fn feed(
        &mut self,
        source: Source,
        time: i64,
        value_at: &dyn Fn(usize) -> Option<Box<str>>,
        ev: Evidence,
        out: &mut Vec<CorrelationHit>,
    ) {
        self.now = self.now.max(time);
        let Some(targets) = self.rule_feeds.get(&source).cloned() else {
            return;
        };
        let corrs = self.correlations;
        for (c, p) in targets {
            let corr = &corrs[c];
            let feed = &corr.feeds[p];
            let key: Box<[Option<Box<str>>]> = feed
                .group
                .iter()
                .map(|pos| pos.and_then(value_at))
                .collect();
            let value = feed.value.and_then(value_at);
            if corr.kind == CorrelationKind::ValueCount && value.is_none() {
                // Nothing to count: the event lacks the field.
                continue;
            }
            let entry = Entry {
                t: time,
                feed: p as u16,
                value,
                ev: ev.clone(),
            };
            self.add(c, key, entry, out);
        }
    }

    fn add(
        &mut self,
        c: usize,
        key: Box<[Option<Box<str>>]>,
        entry: Entry,
        out: &mut Vec<CorrelationHit>,
    ) {
        let corrs = self.correlations;
        let corr = &corrs[c];
        let map_key = (c as u32, key);
        let mut g = self.groups.remove(&map_key).unwrap_or_else(|| Group {
            seen: vec![0; corr.feeds.len()],
            ..Group::default()
        });
        let t = entry.t;
        let span = corr.span;
        if !g.entries.is_empty() {
            match corr.window {
                Window::Tumbling if span > 0 => {
                    let bucket = |x: i64| x - x.rem_euclid(span);
                    if bucket(t) > bucket(g.latest) {
                        self.close(c, &map_key.1, &mut g, out);
                    } else if bucket(t) < bucket(g.latest) {
                        // A late match from an earlier bucket: it must not
                        // disturb the current one.
                        self.groups.insert(map_key, g);
                        return;
                    }
                }
                Window::Session { gap } => {
                    if t - g.latest > gap || t - g.opened > span {
                        self.close(c, &map_key.1, &mut g, out);
                    }
                }
                _ if corr.at_close => {
                    if t - g.opened > span {
                        self.close(c, &map_key.1, &mut g, out);
                    }
                }
                _ => {
                    let cutoff = t - span;
                    while g.entries.front().is_some_and(|e| e.t < cutoff) {
                        g.pop_front();
                    }
                }
            }
        }
        if g.entries.is_empty() && corr.window == Window::Tumbling && span > 0 {
            g.push(entry);
            g.opened = t - t.rem_euclid(span);
        } else {
            g.push(entry);
        }
        if !corr.at_close && self.holds(c, &g) {
            self.fire(c, &map_key.1, &mut g, out);
        }
        self.groups.insert(map_key, g);
    }

    /// The window is over: judge it if it waits for its end, then clear it.
    fn close(
        &mut self,
        c: usize,
        key: &[Option<Box<str>>],
        g: &mut Group,
        out: &mut Vec<CorrelationHit>,
    ) {
        if self.correlations[c].at_close {
            self.judge(c, key, g, out);
        }
        g.clear();
    }

    fn judge(
        &mut self,
        c: usize,
        key: &[Option<Box<str>>],
        g: &mut Group,
        out: &mut Vec<CorrelationHit>,
    ) {
        if self.holds(c, g) {
            self.fire(c, key, g, out);
        }
    }

    fn aggregate(&self, c: usize, g: &Group) -> u64 {
        let corr = &self.correlations[c];
        match corr.kind {
            CorrelationKind::EventCount => g.events,
            CorrelationKind::ValueCount => g.distinct.len() as u64,
            CorrelationKind::Temporal => g.seen.iter().filter(|&&n| n > 0).count() as u64,
            CorrelationKind::TemporalOrdered => {
                if in_order(g, corr.feeds.len()) {
                    corr.feeds.len() as u64
                } else {
                    0
                }
            }
        }
    }

    fn holds(&self, c: usize, g: &Group) -> bool {
        if g.entries.is_empty() {
            return false;
        }
        match &self.correlations[c].condition {
            Condition::Threshold(ps) => {
                let v = self.aggregate(c, g);
                ps.iter().all(|(op, n)| op.holds(v, *n))
            }
            Condition::Expr(e) => {
                e.eval(&g.seen)
                    && (self.correlations[c].kind != CorrelationKind::TemporalOrdered
                        || in_order(g, self.correlations[c].feeds.len()))
            }
        }
    }

    /// Reports a hit, clears the window, and feeds correlations chained on
    /// this one.
    fn fire(
        &mut self,
        c: usize,
        key: &[Option<Box<str>>],
        g: &mut Group,
        out: &mut Vec<CorrelationHit>,
    ) {
        let corrs = self.correlations;
        let corr = &corrs[c];
        let mut handles: Vec<Handle> = Vec::new();
        let mut total = 0u64;
        let mut last_one: Option<Handle> = None;
        for e in &g.entries {
            match &e.ev {
                Evidence::One(h) => {
                    if last_one != Some(*h) {
                        total += 1;
                        if handles.len() < MAX_EVIDENCE {
                            handles.push(*h);
                        }
                    }
                    last_one = Some(*h);
                }
                Evidence::Many(hs) => {
                    last_one = None;
                    total += hs.len() as u64;
                    for h in hs.iter() {
                        if handles.len() < MAX_EVIDENCE {
                            handles.push(*h);
                        }
                    }
                }
            }
        }
        let first = g.entries.iter().map(|e| e.t).min().unwrap_or(g.opened);
        let last = g.entries.iter().map(|e| e.t).max().unwrap_or(g.latest);
        let hit = CorrelationHit {
            correlation: c,
            group: corr
                .group_by
                .iter()
                .cloned()
                .zip(key.iter().map(|v| v.as_deref().map(str::to_string)))
                .collect(),
            first,
            last,
            value: self.aggregate(c, g),
            events: handles,
            events_total: total,
        };
        g.clear();
        // Chaining: the hit is an input of the correlations that reference it.
        let group = hit.group.clone();
        let evidence = Evidence::Many(hit.events.clone().into());
        out.push(hit);
        let value_at = |pos: usize| {
            group
                .get(pos)
                .and_then(|(_, v)| v.as_deref().map(Box::from))
        };
        self.feed(Source::Correlation(c), last, &value_at, evidence, out);
    }

    /// Drops groups that can no longer fire without new matches, judging
    /// those that wait for their window's end.
    fn sweep(&mut self, out: &mut Vec<CorrelationHit>) {
        let now = self.now;
        let idle: Vec<StateKey> = self
            .groups
            .iter()
            .filter(|((c, _), g)| {
                let corr = &self.correlations[*c as usize];
                let end = match corr.window {
                    Window::Session { gap } => {
                        (g.latest.saturating_add(gap)).min(g.opened.saturating_add(corr.span))
                    }
                    Window::Tumbling => g.opened.saturating_add(corr.span),
                    Window::Sliding if corr.at_close => g.opened.saturating_add(corr.span),
                    Window::Sliding => g.latest.saturating_add(corr.span),
                };
                g.entries.is_empty() || end < now
            })
            .map(|(k, _)| k.clone())
            .collect();
        self.retire(idle, out);
    }
}

/// Whether the window holds the feeds in order: for each in turn, a match no
/// earlier than the one chosen for the previous (earliest choice is optimal).
fn in_order(g: &Group, feeds: usize) -> bool {
    let mut after = i64::MIN;
    for p in 0..feeds {
        match g
            .entries
            .iter()
            .filter(|e| e.feed as usize == p && e.t >= after)
            .map(|e| e.t)
            .min()
        {
            Some(t) => after = t,
            None => return false,
        }
    }
    true
}

// ---------------------------------------------------------------------------
// Compilation (called by `Engine::build`).
// ---------------------------------------------------------------------------

/// A correlation document as parsed, with where it came from.
pub(crate) struct Parsed {
    pub rule: rsigma_parser::CorrelationRule,
    pub path: String,
    /// A `temporal` rule written without a condition (rsigma-parser fills in
    /// `gte: 1`; the specification means "all rules").
    pub condition_absent: bool,
}

/// What compiling the correlations gives the engine.
pub(crate) struct Compiled {
    pub correlations: Vec<Correlation>,
    /// Per base rule: the values correlations need from its events, each as
    /// candidate event field names (the rule's name first, then the names
    /// the pipeline's sources alias it to).
    pub needs: Vec<Vec<Vec<Box<str>>>>,
    /// Per base rule: it reports its own matches.
    pub rule_standalone: Vec<bool>,
    /// Per correlation: it reports its own hits.
    pub standalone: Vec<bool>,
}

impl Parsed {
    pub fn info(&self) -> RuleInfo {
        let r = &self.rule;
        RuleInfo {
            id: r.id.clone(),
            title: r.title.clone(),
            name: r.name.clone(),
            level: r.level.map(crate::rules::level_of),
            status: r.status.map(|s| format!("{s:?}").to_lowercase()),
            tags: r.tags.clone(),
            logsource: crate::pipeline::LogsourceKey::default(),
            path: self.path.clone(),
            correlation: true,
        }
    }
    fn is(&self, reference: &str) -> bool {
        self.rule.id.as_deref() == Some(reference) || self.rule.name.as_deref() == Some(reference)
    }
}

/// Titles of the `temporal` / `temporal_ordered` documents of a rule file
/// that have no `condition` (the parser cannot tell them from `gte: 1`).
pub(crate) fn conditionless_titles(text: &str) -> Vec<String> {
    use serde::Deserialize;
    let mut titles = Vec::new();
    for doc in yaml_serde::Deserializer::from_str(text) {
        let Ok(v) = yaml_serde::Value::deserialize(doc) else {
            continue;
        };
        let Some(corr) = v.get("correlation") else {
            continue;
        };
        if corr.get("condition").is_none() {
            if let Some(t) = v.get("title").and_then(|t| t.as_str()) {
                titles.push(t.to_string());
            }
        }
    }
    titles
}

/// Indexes of the correlations to compile: those `selected`, and every
/// correlation they reference, transitively. Also the references (ids or
/// names) they make, so referenced base rules load even when the user's
/// selection leaves them out.
pub(crate) fn closure(parsed: &[Parsed], selected: &[bool]) -> (Vec<bool>, Vec<String>) {
    let mut needed = selected.to_vec();
    let mut stack: Vec<usize> = (0..parsed.len()).filter(|&i| selected[i]).collect();
    let mut refs = Vec::new();
    while let Some(i) = stack.pop() {
        for r in &parsed[i].rule.rules {
            refs.push(r.clone());
            for (j, p) in parsed.iter().enumerate() {
                if !needed[j] && p.is(r) {
                    needed[j] = true;
                    stack.push(j);
                }
            }
        }
    }
    refs.sort();
    refs.dedup();
    (needed, refs)
}

/// A resolved reference of a correlation candidate.
#[derive(Clone, Copy)]
enum Target {
    Rule(usize),
    Cand(usize),
}

/// What [`compile_all`] works from.
pub(crate) struct Inputs<'a> {
    pub parsed: &'a [Parsed],
    /// Per parsed correlation: to compile (selected, or needed by one that is).
    pub needed: &'a [bool],
    /// Per parsed correlation: kept by the user's selection.
    pub selected: &'a [bool],
    /// The loaded base rules, and whether the selection kept each.
    pub rules: &'a [RuleInfo],
    pub rule_selected: &'a [bool],
    /// `aliases(rule, field)`: the event field names the pipeline's sources
    /// of the rule map `field` to.
    pub aliases: &'a dyn Fn(usize, &str) -> Vec<String>,
    /// Why a referenced rule (id or name) did not load, if it did not.
    pub not_loaded: &'a dyn Fn(&str) -> Option<String>,
}

/// Compiles the needed correlations against the loaded base rules; a report
/// entry is appended for each.
pub(crate) fn compile_all(inputs: Inputs<'_>, report: &mut crate::rules::LoadReport) -> Compiled {
    use crate::rules::{LoadEntry, Outcome};
    let Inputs {
        parsed,
        needed,
        selected,
        rules,
        rule_selected,
        aliases,
        not_loaded,
    } = inputs;
    let cands: Vec<usize> = (0..parsed.len()).filter(|&i| needed[i]).collect();
    // Resolve references; a failure is the candidate's outcome.
    let mut targets: Vec<Vec<Target>> = Vec::with_capacity(cands.len());
    let mut failure: Vec<Option<Outcome>> = vec![None; cands.len()];
    for (k, &i) in cands.iter().enumerate() {
        let p = &parsed[i];
        let mut ts = Vec::new();
        for r in &p.rule.rules {
            let by_rule = rules
                .iter()
                .position(|info| info.id.as_deref() == Some(r) || info.name.as_deref() == Some(r));
            let by_corr = cands.iter().position(|&j| parsed[j].is(r));
            match (by_rule, by_corr) {
                (Some(x), _) => ts.push(Target::Rule(x)),
                (None, Some(x)) => ts.push(Target::Cand(x)),
                (None, None) => {
                    failure[k] = Some(match not_loaded(r) {
                        Some(why) => Outcome::Unsupported(format!(
                            "references rule {r:?}, which did not load ({why})"
                        )),
                        None => Outcome::Invalid(format!(
                            "references {r:?}, which is no rule or correlation of this set"
                        )),
                    });
                    break;
                }
            }
        }
        if failure[k].is_none() {
            failure[k] = check(p).err();
        }
        if let (None, rsigma_parser::CorrelationCondition::Extended(e)) =
            (&failure[k], &p.rule.condition)
        {
            let names = names_of(p, &ts, rules, parsed, &cands);
            if let Err(why) = RefExpr::compile(e, &names) {
                failure[k] = Some(Outcome::Unsupported(why));
            }
        }
        targets.push(ts);
    }
    // Cycles fail; failures spread to the correlations that build on them.
    for (k, f) in failure.iter_mut().enumerate() {
        if f.is_none() && in_cycle(k, &targets) {
            *f = Some(Outcome::Invalid(
                "correlation rules reference each other in a cycle".into(),
            ));
        }
    }
    loop {
        let mut changed = false;
        for k in 0..cands.len() {
            if failure[k].is_some() {
                continue;
            }
            if let Some(bad) = targets[k].iter().find_map(|t| match t {
                Target::Cand(j) if failure[*j].is_some() => Some(*j),
                _ => None,
            }) {
                failure[k] = Some(Outcome::Unsupported(format!(
                    "references correlation {:?}, which did not load",
                    parsed[cands[bad]].rule.title
                )));
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // Final indexes, in document order.
    let mut index = vec![usize::MAX; cands.len()];
    let mut n = 0;
    for k in 0..cands.len() {
        if failure[k].is_none() {
            index[k] = n;
            n += 1;
        }
    }
    let mut needs: Vec<Vec<Vec<Box<str>>>> = vec![Vec::new(); rules.len()];
    let mut need = |rule: usize, field: &str| -> usize {
        let mut names: Vec<Box<str>> = vec![field.into()];
        for a in aliases(rule, field) {
            if !names.iter().any(|n| **n == *a) {
                names.push(a.into());
            }
        }
        let list = &mut needs[rule];
        match list.iter().position(|x| *x == names) {
            Some(p) => p,
            None => {
                list.push(names);
                list.len() - 1
            }
        }
    };
    let mut correlations: Vec<Correlation> = Vec::with_capacity(n);
    for (k, &i) in cands.iter().enumerate() {
        let p = &parsed[i];
        let entry = |outcome| LoadEntry {
            path: p.path.clone(),
            title: p.rule.title.clone(),
            id: p.rule.id.clone(),
            outcome,
        };
        if let Some(o) = failure[k].take() {
            report.entries.push(entry(o));
            continue;
        }
        report.entries.push(entry(Outcome::Loaded));
        let r = &p.rule;
        let (predicates, field) = match &r.condition {
            rsigma_parser::CorrelationCondition::Threshold {
                predicates, field, ..
            } => (
                predicates
                    .iter()
                    .map(|(o, n)| (Op::from_parsed(*o), *n))
                    .collect::<Vec<_>>(),
                field.as_ref().and_then(|f| f.first().cloned()),
            ),
            rsigma_parser::CorrelationCondition::Extended(_) => (Vec::new(), None),
        };
        let kind = CorrelationKind::from_parsed(r.correlation_type).expect("checked");
        // Per reference: the names a group-by field may go by.
        let ref_names = names_of(p, &targets[k], rules, parsed, &cands);
        let field_for = |group: &str, names: &[String]| -> String {
            r.aliases
                .iter()
                .find(|a| a.alias == group)
                .and_then(|a| names.iter().find_map(|n| a.mapping.get(n)))
                .cloned()
                .unwrap_or_else(|| group.to_string())
        };
        let mut feeds = Vec::with_capacity(r.rules.len());
        for (t, names) in targets[k].iter().zip(&ref_names) {
            let fields: Vec<String> = r.group_by.iter().map(|g| field_for(g, names)).collect();
            let feed = match *t {
                Target::Rule(x) => Feed {
                    source: Source::Rule(x),
                    group: fields.iter().map(|f| Some(need(x, f))).collect(),
                    value: field.as_deref().map(|f| need(x, f)),
                },
                Target::Cand(x) => {
                    let inner = &parsed[cands[x]].rule.group_by;
                    Feed {
                        source: Source::Correlation(index[x]),
                        group: fields
                            .iter()
                            .map(|f| inner.iter().position(|g| g == f))
                            .collect(),
                        value: field
                            .as_deref()
                            .and_then(|f| inner.iter().position(|g| g == f)),
                    }
                }
            };
            feeds.push(feed);
        }
        let condition = match &r.condition {
            rsigma_parser::CorrelationCondition::Extended(e) => {
                Condition::Expr(RefExpr::compile(e, &ref_names).expect("checked"))
            }
            _ if p.condition_absent => Condition::Threshold(vec![(Op::Gte, r.rules.len() as u64)]),
            _ => Condition::Threshold(predicates.clone()),
        };
        let at_close = match &condition {
            Condition::Threshold(ps) => ps
                .iter()
                .any(|(o, _)| matches!(o, Op::Lt | Op::Lte | Op::Eq | Op::Neq)),
            Condition::Expr(e) => has_not(e),
        };
        let window = Window::from_parsed(r.window, r.gap.as_ref().map(|g| secs_to_ns(g.seconds)))
            .expect("checked");
        correlations.push(Correlation {
            info: p.info(),
            kind,
            group_by: r.group_by.clone(),
            field: if kind == CorrelationKind::ValueCount {
                field
            } else {
                None
            },
            timespan: r.timespan.original.clone(),
            span: secs_to_ns(r.timespan.seconds),
            window,
            condition,
            at_close,
            feeds,
            effective_tags: Vec::new(),
        });
    }
    // Effective tags, in dependency order (sources before dependents).
    for _ in 0..correlations.len() {
        for c in 0..correlations.len() {
            if !correlations[c].info.tags.is_empty() {
                correlations[c].effective_tags = correlations[c].info.tags.clone();
                continue;
            }
            let mut tags: Vec<String> = Vec::new();
            for s in correlations[c].sources() {
                let from: &[String] = match s {
                    Source::Rule(x) => &rules[x].tags,
                    Source::Correlation(x) => &correlations[x].effective_tags,
                };
                for t in from {
                    if !tags.contains(t) {
                        tags.push(t.clone());
                    }
                }
            }
            correlations[c].effective_tags = tags;
        }
    }
    // Who reports on its own: selected, and not only an input of a
    // correlation that does not `generate` its rules.
    let mut rule_standalone = rule_selected.to_vec();
    let mut standalone: Vec<bool> = cands
        .iter()
        .enumerate()
        .filter(|(k, _)| index[*k] != usize::MAX)
        .map(|(_, &i)| selected[i])
        .collect();
    let generates: Vec<bool> = cands
        .iter()
        .enumerate()
        .filter(|(k, _)| index[*k] != usize::MAX)
        .map(|(_, &i)| parsed[i].rule.generate)
        .collect();
    for (c, corr) in correlations.iter().enumerate() {
        if generates[c] {
            continue;
        }
        for s in corr.sources() {
            match s {
                Source::Rule(x) => rule_standalone[x] = false,
                Source::Correlation(x) => standalone[x] = false,
            }
        }
    }
    Compiled {
        correlations,
        needs,
        rule_standalone,
        standalone,
    }
}

/// Per reference of `p`: the names it goes by (as written, the target's id
/// and name), for aliases and string conditions.
fn names_of(
    p: &Parsed,
    targets: &[Target],
    rules: &[RuleInfo],
    parsed: &[Parsed],
    cands: &[usize],
) -> Vec<Vec<String>> {
    p.rule
        .rules
        .iter()
        .zip(targets)
        .map(|(written, t)| {
            let mut ns = vec![written.clone()];
            let (id, name) = match t {
                Target::Rule(x) => (rules[*x].id.clone(), rules[*x].name.clone()),
                Target::Cand(x) => (
                    parsed[cands[*x]].rule.id.clone(),
                    parsed[cands[*x]].rule.name.clone(),
                ),
            };
            ns.extend(id);
            ns.extend(name);
            ns
        })
        .collect()
}

fn secs_to_ns(s: u64) -> i64 {
    (s as i64).saturating_mul(1_000_000_000)
}

fn has_not(e: &RefExpr) -> bool {
    match e {
        RefExpr::Ref(_) => false,
        RefExpr::Not(_) => true,
        RefExpr::And(xs) | RefExpr::Or(xs) => xs.iter().any(has_not),
    }
}

/// What this engine cannot evaluate in a parsed correlation, or what is wrong
/// with it.
fn check(p: &Parsed) -> Result<(), crate::rules::Outcome> {
    use crate::rules::Outcome;
    let r = &p.rule;
    let Some(kind) = CorrelationKind::from_parsed(r.correlation_type) else {
        return Err(Outcome::Unsupported(format!(
            "correlation type {} is not in the Sigma specification (rsigma extension)",
            r.correlation_type.as_str()
        )));
    };
    if r.rules.is_empty() {
        return Err(Outcome::Invalid("correlation without `rules`".into()));
    }
    if r.timespan.seconds == 0 {
        return Err(Outcome::Invalid(
            "correlation `timespan` must be positive".into(),
        ));
    }
    Window::from_parsed(r.window, r.gap.as_ref().map(|g| secs_to_ns(g.seconds)))
        .map_err(Outcome::Invalid)?;
    match &r.condition {
        rsigma_parser::CorrelationCondition::Threshold { field, .. } => {
            if kind == CorrelationKind::ValueCount && field.as_ref().is_none_or(|f| f.is_empty()) {
                return Err(Outcome::Invalid(
                    "value_count needs `condition.field`".into(),
                ));
            }
        }
        rsigma_parser::CorrelationCondition::Extended(e) => {
            if !matches!(
                kind,
                CorrelationKind::Temporal | CorrelationKind::TemporalOrdered
            ) {
                return Err(Outcome::Invalid(
                    "a string condition is only valid for temporal correlations".into(),
                ));
            }
            let _ = e; // compiled once the references are resolved
        }
    }
    Ok(())
}

fn in_cycle(start: usize, targets: &[Vec<Target>]) -> bool {
    let mut stack: Vec<usize> = targets[start]
        .iter()
        .filter_map(|t| match t {
            Target::Cand(j) => Some(*j),
            _ => None,
        })
        .collect();
    let mut seen = vec![false; targets.len()];
    while let Some(k) = stack.pop() {
        if k == start {
            return true;
        }
        if std::mem::replace(&mut seen[k], true) {
            continue;
        }
        stack.extend(targets[k].iter().filter_map(|t| match t {
            Target::Cand(j) => Some(*j),
            _ => None,
        }));
    }
    false
}
