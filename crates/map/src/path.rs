//! Dotted field paths over arbitrary JSON records.
//!
//! Real alert records spell the same field three ways: nested objects
//! (`{"threat": {"technique": {"id": ..}}}`), flat dotted keys
//! (`{"threat.technique.id": ..}`, how Elastic stores `kibana.alert.*` and how
//! Splunk exports `annotations.mitre_attack.*`), and mixes of the two
//! (`{"threat": {"technique.id": ..}}`). Arrays may appear at any level
//! (`kibana.alert.rule.threat` is an array of objects whose `technique` is an
//! array). [`lookup`] resolves a path against all of these, flattening arrays,
//! without cloning anything.
//!
//! This runs for every probe of every record, and most probes miss, so the
//! walk is allocation-free, and callers with tables of paths gate them:
//! [`Heads::scan`] looks at a record's top-level keys once and returns a
//! [`Present`] that skips paths whose first segment the record lacks and
//! starts the others at the right top-level value; [`EntryMasks`] turns that
//! into the set of table entries worth probing at all.

use std::borrow::Cow;
use std::ops::ControlFlow;

use crate::node::{Node, Object};

/// Calls `f` for every value at `path` in `record`, arrays flattened, nulls
/// skipped; stops early when `f` breaks. The empty path is the record itself.
pub fn visit<'a, F>(record: &'a Node<'a>, path: &str, f: &mut F) -> ControlFlow<()>
where
    F: FnMut(&'a Node<'a>) -> ControlFlow<()>,
{
    if path.is_empty() {
        return emit(record, f);
    }
    walk(record, path, f)
}

/// Appends every value at `path` in `record` to `out` (arrays flattened into
/// their elements, nulls skipped).
pub fn lookup<'a>(record: &'a Node<'a>, path: &str, out: &mut Vec<&'a Node<'a>>) {
    let _ = visit(record, path, &mut |v| {
        out.push(v);
        ControlFlow::Continue(())
    });
}

/// The first value at `path` (arrays flattened, nulls skipped).
pub fn first<'a>(record: &'a Node<'a>, path: &str) -> Option<&'a Node<'a>> {
    let mut found = None;
    let _ = visit(record, path, &mut |v| {
        found = Some(v);
        ControlFlow::Break(())
    });
    found
}

/// The first string at `path`, skipping values of other types.
pub fn first_str<'a>(record: &'a Node<'a>, path: &str) -> Option<&'a str> {
    let mut found = None;
    let _ = visit(record, path, &mut |v| match v {
        Node::String(s) => {
            found = Some(&**s);
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    });
    found
}

/// The first scalar (string, number or bool) at `path`, as text.
pub fn first_text<'a>(record: &'a Node<'a>, path: &str) -> Option<Cow<'a, str>> {
    let mut found = None;
    let _ = visit(record, path, &mut |v| match scalar_text(v) {
        Some(t) => {
            found = Some(t);
            ControlFlow::Break(())
        }
        None => ControlFlow::Continue(()),
    });
    found
}

/// Whether anything is at `path`: a value (objects included, nulls not), or
/// flat keys below it (`{"kibana.alert.uuid": ..}` has `kibana.alert`).
pub fn exists(record: &Node<'_>, path: &str) -> bool {
    if path.is_empty() {
        return !record.is_null();
    }
    exists_in(record, path)
}

fn exists_in(v: &Node<'_>, rest: &str) -> bool {
    match v {
        Node::Object(map) => map.iter().any(|(key, child)| match match_key(rest, key) {
            KeyMatch::Leaf => !child.is_null(),
            KeyMatch::Prefix(tail) => exists_in(child, tail),
            // A flat key extending the path: `rest` = `kibana.alert`, key = `kibana.alert.uuid`.
            KeyMatch::No => {
                key.len() > rest.len()
                    && key.as_bytes()[rest.len()] == b'.'
                    && key.as_bytes().starts_with(rest.as_bytes())
            }
        }),
        Node::Array(items) => items.iter().any(|item| exists_in(item, rest)),
        _ => false,
    }
}

/// A scalar rendered as text: strings borrowed and trimmed, numbers and bools
/// formatted. `None` for null, arrays and objects.
pub fn scalar_text<'v>(v: &'v Node<'_>) -> Option<Cow<'v, str>> {
    match v {
        Node::String(s) => Some(Cow::Borrowed(s.trim())),
        Node::Number(n) => Some(Cow::Owned(n.to_string())),
        Node::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

fn emit<'a, F>(v: &'a Node<'a>, f: &mut F) -> ControlFlow<()>
where
    F: FnMut(&'a Node<'a>) -> ControlFlow<()>,
{
    match v {
        Node::Null => ControlFlow::Continue(()),
        Node::Array(items) => {
            for item in items {
                emit(item, f)?;
            }
            ControlFlow::Continue(())
        }
        _ => f(v),
    }
}

fn walk<'a, F>(v: &'a Node<'a>, rest: &str, f: &mut F) -> ControlFlow<()>
where
    F: FnMut(&'a Node<'a>) -> ControlFlow<()>,
{
    match v {
        Node::Object(map) => walk_object(map, rest, f),
        Node::Array(items) => {
            for item in items {
                walk(item, rest, f)?;
            }
            ControlFlow::Continue(())
        }
        // A scalar with path left over: the path does not exist here.
        _ => ControlFlow::Continue(()),
    }
}

fn walk_object<'a, F>(map: &'a Object<'a>, rest: &str, f: &mut F) -> ControlFlow<()>
where
    F: FnMut(&'a Node<'a>) -> ControlFlow<()>,
{
    // One pass over the keys finds every key that is a dotted prefix of
    // `rest` (`threat`, `threat.technique`, `threat.technique.id`).
    for (key, child) in map {
        match match_key(rest, key) {
            KeyMatch::No => {}
            KeyMatch::Leaf => emit(child, f)?,
            KeyMatch::Prefix(tail) => walk(child, tail, f)?,
        }
    }
    ControlFlow::Continue(())
}

enum KeyMatch<'r> {
    No,
    /// The key is the whole remaining path.
    Leaf,
    /// The key is a dotted prefix of the path; this is what is left.
    Prefix(&'r str),
}

/// How `key` relates to the remaining path. Cheap rejections (length, first
/// byte, the byte after the key) come before the full comparison: most keys
/// of most objects are not on the path.
#[inline]
fn match_key<'r>(rest: &'r str, key: &str) -> KeyMatch<'r> {
    let (r, k) = (rest.as_bytes(), key.as_bytes());
    if k.len() > r.len() || k.first() != r.first() {
        return KeyMatch::No;
    }
    if k.len() == r.len() {
        return if r == k { KeyMatch::Leaf } else { KeyMatch::No };
    }
    if r[k.len()] != b'.' || !r.starts_with(k) {
        return KeyMatch::No;
    }
    // `k.len()` is followed by an ASCII '.', so both are char boundaries.
    KeyMatch::Prefix(&rest[k.len() + 1..])
}

/// The first `.` in a path or key. A plain loop: these are short, and
/// memchr's setup costs more than it saves.
#[inline]
fn dot(s: &str) -> Option<usize> {
    s.bytes().position(|b| b == b'.')
}

/// The first segment of a dotted path or key (`threat` for `threat.technique.id`).
pub fn head(path: &str) -> &str {
    match dot(path) {
        Some(i) => &path[..i],
        None => path,
    }
}

/// Identifies a path's first segment in a [`Heads`] table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadId(u16);

impl HeadId {
    /// The head's index in its table, `None` for a head past the table's
    /// capacity (never gated).
    pub fn index(self) -> Option<usize> {
        let i = usize::from(self.0);
        (i < MAX_HEADS).then_some(i)
    }
}

/// A path registered in a [`Heads`] table, split once: probing it per
/// record then skips finding its head again.
#[derive(Debug, Clone)]
pub struct HeadPath {
    path: Cow<'static, str>,
    head: HeadId,
    /// Length of the first segment (the whole path when it has no `.`).
    head_len: usize,
}

impl HeadPath {
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn head(&self) -> HeadId {
        self.head
    }
}

/// More distinct heads than this are never gated (always probed): correct, only slower.
const MAX_HEADS: usize = 256;

/// A table of path heads (first segments) for cheap "can this path exist in
/// this record" checks: [`Heads::scan`] looks at each top-level key of a
/// record once, and then every path whose head is absent can be skipped
/// without touching the record again. A top-level key `kibana.alert.uuid`
/// counts as head `kibana`, so flat dotted records are gated correctly.
#[derive(Debug, Clone, Default)]
pub struct Heads {
    index: rustc_hash::FxHashMap<Box<str>, u16>,
}

impl Heads {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the head of `path` and returns its ID.
    pub fn id(&mut self, path: &str) -> HeadId {
        let h = head(path);
        if let Some(&i) = self.index.get(h) {
            return HeadId(i);
        }
        if self.index.len() >= MAX_HEADS {
            return HeadId(u16::MAX);
        }
        let i = self.index.len() as u16;
        self.index.insert(h.into(), i);
        HeadId(i)
    }

    /// Registers the head of `path` and keeps the path split for [`Present::visit_path`].
    pub fn path(&mut self, path: Cow<'static, str>) -> HeadPath {
        HeadPath {
            head: self.id(&path),
            head_len: head(&path).len(),
            path,
        }
    }

    /// Which registered heads `record` has, remembering where each one is.
    /// A record that is not an object (an array of records, say) is reported
    /// as having every head.
    pub fn scan<'a>(&self, record: &'a Node<'a>) -> Present<'a> {
        let mut present = Present {
            bits: [0; MAX_HEADS / 64],
            general: [0; MAX_HEADS / 64],
            exact: [0; MAX_HEADS],
            values: [None; MAX_EXACT],
            n_values: 0,
            flat: [(0, 0, 0); MAX_FLAT_HEADS],
            n_flat: 0,
            overflow: false,
            all: false,
        };
        let Node::Object(map) = record else {
            present.all = true;
            return present;
        };
        // Flat records repeat a head over many consecutive keys
        // (`kibana.alert.*`, `annotations.*`): remember the last answer.
        let mut last: Option<(&str, Option<u16>)> = None;
        for (pos, (key, value)) in map.iter().enumerate() {
            let h = head(key);
            let found = match last {
                Some((prev, found)) if prev == h => found,
                _ => self.index.get(h).copied(),
            };
            last = Some((h, found));
            let Some(i) = found else { continue };
            let (word, bit) = (usize::from(i / 64), 1u64 << (i % 64));
            present.bits[word] |= bit;
            if h.len() == key.len() {
                if present.n_values < MAX_EXACT {
                    present.values[present.n_values] = Some(value);
                    present.n_values += 1;
                    // `n_values` <= MAX_EXACT (64) fits in a u8.
                    present.exact[usize::from(i)] = present.n_values as u8;
                } else {
                    present.overflow = true;
                }
                continue;
            }
            // A flat dotted key: paths under this head must also look at the
            // flat keys, which are remembered as a range of positions.
            present.general[word] |= bit;
            let Ok(pos) = u16::try_from(pos) else {
                present.overflow = true;
                continue;
            };
            let n = present.n_flat;
            match present.flat[..n].iter_mut().find(|f| f.0 == i) {
                Some(range) => range.2 = pos,
                None if n < MAX_FLAT_HEADS => {
                    present.flat[n] = (i, pos, pos);
                    present.n_flat += 1;
                }
                None => present.overflow = true,
            }
        }
        present
    }
}

/// Exact top-level keys remembered per record by [`Heads::scan`].
const MAX_EXACT: usize = 64;
/// Heads with flat dotted keys remembered per record.
const MAX_FLAT_HEADS: usize = 16;

/// The result of [`Heads::scan`] for one record: which heads it has; for
/// heads present as a plain top-level key, that key's value, so probes under
/// it start there instead of hashing their way in again; for heads with flat
/// dotted keys (`kibana.alert.*`), where those keys are.
#[derive(Debug, Clone)]
pub struct Present<'a> {
    bits: [u64; MAX_HEADS / 64],
    /// Heads with at least one flat dotted key.
    general: [u64; MAX_HEADS / 64],
    /// Head -> 1-based index into `values` (0: not cached).
    exact: [u8; MAX_HEADS],
    values: [Option<&'a Node<'a>>; MAX_EXACT],
    n_values: usize,
    /// (head, first, last position) of the head's flat dotted keys.
    flat: [(u16, u16, u16); MAX_FLAT_HEADS],
    n_flat: usize,
    /// Something did not fit: every gated visit takes the plain walk.
    overflow: bool,
    all: bool,
}

impl<'a> Present<'a> {
    /// Whether a path with this head may exist in the record.
    pub fn has(&self, id: HeadId) -> bool {
        if self.all || usize::from(id.0) >= MAX_HEADS {
            return true;
        }
        self.bits[usize::from(id.0 / 64)] & (1 << (id.0 % 64)) != 0
    }

    /// [`visit`] for a path whose head is `id` (as registered from that
    /// same path): nothing when the head is absent; otherwise a direct start
    /// at the cached top-level value, then the head's flat dotted keys.
    pub fn visit<F>(
        &self,
        record: &'a Node<'a>,
        id: HeadId,
        path: &str,
        f: &mut F,
    ) -> ControlFlow<()>
    where
        F: FnMut(&'a Node<'a>) -> ControlFlow<()>,
    {
        self.visit_split(record, id, path, head(path).len(), f)
    }

    /// [`Present::visit`] for a path split once at registration ([`Heads::path`]).
    #[inline]
    pub fn visit_path<F>(&self, record: &'a Node<'a>, path: &HeadPath, f: &mut F) -> ControlFlow<()>
    where
        F: FnMut(&'a Node<'a>) -> ControlFlow<()>,
    {
        self.visit_split(record, path.head, &path.path, path.head_len, f)
    }

    /// The walk behind [`Present::visit`]; `head_len` is the length of the
    /// path's first segment.
    fn visit_split<F>(
        &self,
        record: &'a Node<'a>,
        id: HeadId,
        path: &str,
        head_len: usize,
        f: &mut F,
    ) -> ControlFlow<()>
    where
        F: FnMut(&'a Node<'a>) -> ControlFlow<()>,
    {
        if !self.has(id) {
            return ControlFlow::Continue(());
        }
        let i = usize::from(id.0);
        if self.all || self.overflow || i >= MAX_HEADS {
            return visit(record, path, f);
        }
        let exact = self
            .values
            .get(usize::from(self.exact[i]).wrapping_sub(1))
            .copied()
            .flatten();
        let general = self.general[i / 64] & (1 << (i % 64)) != 0;
        if let Some(value) = exact {
            match path.get(head_len + 1..) {
                None => emit(value, f)?,
                Some(tail) => walk(value, tail, f)?,
            }
        }
        if general {
            let Node::Object(map) = record else {
                return visit(record, path, f);
            };
            let Some(&(_, first, last)) = self.flat[..self.n_flat].iter().find(|r| r.0 == id.0)
            else {
                return ControlFlow::Continue(());
            };
            let (first, last) = (usize::from(first), usize::from(last));
            for (key, child) in map.iter().skip(first).take(last + 1 - first) {
                // Only the dotted keys: the plain one was handled above.
                if key.len() == head_len {
                    continue;
                }
                match match_key(path, key) {
                    KeyMatch::No => {}
                    KeyMatch::Leaf => emit(child, f)?,
                    KeyMatch::Prefix(tail) => walk(child, tail, f)?,
                }
            }
        }
        ControlFlow::Continue(())
    }

    /// True when every head counts as present (the record is not an object).
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// Calls `f` with the index of every head present (none when [`Present::is_all`]).
    pub fn for_each_head(&self, mut f: impl FnMut(usize)) {
        for (w, &word) in self.bits.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                f(w * 64 + bits.trailing_zeros() as usize);
                bits &= bits - 1;
            }
        }
    }

    /// [`exists`], skipping records without the head.
    pub fn exists(&self, record: &Node<'_>, id: HeadId, path: &str) -> bool {
        self.has(id) && exists(record, path)
    }
}

/// Entries (paths in a caller's table) tracked by [`EntryMasks`]; entries
/// past this are the caller's to check one by one.
pub const LIVE_CAP: usize = 512;
const LIVE_WORDS: usize = LIVE_CAP / 64;

/// For a table of paths (entries, each with the [`HeadId`] of its path):
/// which entries sit under each head. Per record, [`EntryMasks::live`]
/// unions the masks of the heads the record has, so a caller walks only the
/// entries that can match instead of testing hundreds of absent ones.
#[derive(Debug, Clone, Default)]
pub struct EntryMasks {
    /// Head index -> entries under it.
    by_head: Vec<[u64; LIVE_WORDS]>,
    /// Entries whose head is past the head table's capacity: always live.
    always: [u64; LIVE_WORDS],
}

impl EntryMasks {
    /// `heads[i]` is the head of entry `i`.
    pub fn new(heads: impl IntoIterator<Item = HeadId>) -> Self {
        let mut masks = EntryMasks::default();
        for (i, h) in heads.into_iter().enumerate().take(LIVE_CAP) {
            let (w, bit) = (i / 64, 1u64 << (i % 64));
            match h.index() {
                Some(h) => {
                    if masks.by_head.len() <= h {
                        masks.by_head.resize(h + 1, [0; LIVE_WORDS]);
                    }
                    masks.by_head[h][w] |= bit;
                }
                None => masks.always[w] |= bit,
            }
        }
        masks
    }

    /// The entries that may match in the record `present` describes.
    pub fn live(&self, present: &Present<'_>) -> Live {
        if present.all {
            return Live([u64::MAX; LIVE_WORDS]);
        }
        let mut live = self.always;
        present.for_each_head(|h| {
            if let Some(mask) = self.by_head.get(h) {
                live.iter_mut().zip(mask).for_each(|(l, m)| *l |= m);
            }
        });
        Live(live)
    }
}

/// A set of live entry indexes (below [`LIVE_CAP`]), from [`EntryMasks::live`].
#[derive(Debug, Clone, Copy)]
pub struct Live([u64; LIVE_WORDS]);

impl Live {
    /// Calls `f` with each live index in `start..end` (clipped to
    /// [`LIVE_CAP`]), in order, until it breaks.
    pub fn each_in(
        &self,
        start: usize,
        end: usize,
        mut f: impl FnMut(usize) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let end = end.min(LIVE_CAP);
        let mut i = start;
        while i < end {
            let (w, b) = (i / 64, i % 64);
            let span = (end - i).min(64 - b);
            let mut bits = self.0[w] >> b;
            if span < 64 {
                bits &= (1u64 << span) - 1;
            }
            while bits != 0 {
                let tz = bits.trailing_zeros() as usize;
                f(i + tz)?;
                bits &= bits - 1;
            }
            i += span;
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// The tests write records as `Value`s; the walks take `Node`s.
    fn node(v: &Value) -> Node<'_> {
        Node::from_value(v)
    }

    fn all<'a>(v: &'a Node<'a>, p: &str) -> Vec<&'a Node<'a>> {
        let mut out = Vec::new();
        lookup(v, p, &mut out);
        out
    }

    #[test]
    fn nested_flat_and_mixed() {
        let nested = json!({"threat": {"technique": {"id": "T1059"}}});
        let flat = json!({"threat.technique.id": "T1059"});
        let mixed = json!({"threat": {"technique.id": "T1059"}});
        let mixed2 = json!({"threat.technique": {"id": "T1059"}});
        for v in [&nested, &flat, &mixed, &mixed2] {
            assert_eq!(
                all(&node(v), "threat.technique.id"),
                vec![&json!("T1059")],
                "{v}"
            );
        }
    }

    #[test]
    fn nested_and_flat_in_one_record_both_found() {
        let v = json!({"a": {"b": 1}, "a.b": 2});
        assert_eq!(all(&node(&v), "a.b"), vec![&json!(1), &json!(2)]);
    }

    #[test]
    fn arrays_flattened_at_every_level() {
        let v = json!({"kibana.alert.rule.threat": [
            {"tactic": {"id": "TA0002"}, "technique": [{"id": "T1059", "subtechnique": [{"id": "T1059.001"}]}, {"id": "T1047"}]},
            {"tactic": {"id": "TA0003"}, "technique": [[{"id": "T1053"}], {"id": ["T1543", ["T1547"]]}]}
        ]});
        assert_eq!(
            all(&node(&v), "kibana.alert.rule.threat.technique.id"),
            vec![
                &json!("T1059"),
                &json!("T1047"),
                &json!("T1053"),
                &json!("T1543"),
                &json!("T1547")
            ]
        );
        assert_eq!(
            all(
                &node(&v),
                "kibana.alert.rule.threat.technique.subtechnique.id"
            ),
            vec![&json!("T1059.001")]
        );
        assert_eq!(
            all(&node(&v), "kibana.alert.rule.threat.tactic.id").len(),
            2
        );
    }

    #[test]
    fn missing_paths_and_scalars_in_the_way() {
        let v = json!({"a": {"b": "x"}, "n": null, "arr": [null, 1]});
        assert!(all(&node(&v), "a.c").is_empty());
        assert!(all(&node(&v), "a.b.c").is_empty());
        assert!(all(&node(&v), "zzz").is_empty());
        assert!(all(&node(&v), "n").is_empty());
        assert_eq!(all(&node(&v), "arr"), vec![&json!(1)]);
        assert!(all(&node(&json!("scalar")), "a").is_empty());
        assert_eq!(all(&node(&v), "").len(), 1);
    }

    #[test]
    fn prefix_that_is_not_a_segment_does_not_match() {
        let v = json!({"rule": {"id": 1}, "rule_name": "x", "ruleset": {"id": 2}});
        assert_eq!(all(&node(&v), "rule.id"), vec![&json!(1)]);
    }

    #[test]
    fn large_objects_found_in_key_order_as_small_ones() {
        let mut m = serde_json::Map::new();
        for i in 0..40 {
            m.insert(format!("kibana.alert.f{i}"), json!(i));
        }
        m.insert("kibana.alert.rule.name".into(), json!("flat"));
        m.insert(
            "kibana".into(),
            json!({"alert": {"rule": {"name": "nested"}}}),
        );
        let v = Value::Object(m);
        assert_eq!(
            all(&node(&v), "kibana.alert.rule.name"),
            vec![&json!("flat"), &json!("nested")]
        );
        assert_eq!(all(&node(&v), "kibana.alert.f7"), vec![&json!(7)]);
    }

    #[test]
    fn first_helpers() {
        let v = json!({"a": [null, 5, "x", "y"], "b": true, "s": "  padded "});
        assert_eq!(first(&node(&v), "a").map(Node::to_value), Some(json!(5)));
        assert_eq!(first_str(&node(&v), "a"), Some("x"));
        assert_eq!(first_text(&node(&v), "a").as_deref(), Some("5"));
        assert_eq!(first_text(&node(&v), "b").as_deref(), Some("true"));
        assert_eq!(first_text(&node(&v), "s").as_deref(), Some("padded"));
        assert_eq!(first_str(&node(&v), "none"), None);
    }

    #[test]
    fn live_entries_follow_heads() {
        let mut heads = Heads::new();
        let paths: Vec<String> = (0..150)
            .map(|i| {
                if i % 3 == 0 {
                    format!("a.x{i}")
                } else {
                    format!("b{i}.y")
                }
            })
            .collect();
        let ids: Vec<HeadId> = paths.iter().map(|p| heads.id(p)).collect();
        let masks = EntryMasks::new(ids.iter().copied());
        let v = json!({"a": {}, "b4.z": 1});
        let v = node(&v);
        let live = masks.live(&heads.scan(&v));
        let mut got = Vec::new();
        let _ = live.each_in(2, 140, |i| {
            got.push(i);
            ControlFlow::Continue(())
        });
        let want: Vec<usize> = (2..140).filter(|i| i % 3 == 0 || *i == 4).collect();
        assert_eq!(got, want);
        let mut first = None;
        let _ = live.each_in(0, 150, |i| {
            first = Some(i);
            ControlFlow::Break(())
        });
        assert_eq!(first, Some(0));
        let arr = json!([]);
        let mut n = 0;
        let _ = masks.live(&heads.scan(&node(&arr))).each_in(0, 150, |_| {
            n += 1;
            ControlFlow::Continue(())
        });
        assert_eq!(n, 150);
    }

    #[test]
    fn exists_covers_objects_and_flat_keys() {
        let v = json!({"kibana.alert.uuid": "x", "rule": {"mitre": {"id": []}, "n": null}, "a": [{"b": {}}]});
        assert!(exists(&node(&v), "kibana.alert"));
        assert!(exists(&node(&v), "kibana"));
        assert!(exists(&node(&v), "kibana.alert.uuid"));
        assert!(!exists(&node(&v), "kibana.alert.rule"));
        assert!(exists(&node(&v), "rule.mitre"));
        assert!(!exists(&node(&v), "rule.n"));
        assert!(exists(&node(&v), "a.b"));
        assert!(!exists(&node(&v), "a.c"));
        assert!(!exists(&node(&v), "kib"));
    }

    #[test]
    fn heads_gate_nested_and_flat_keys() {
        let mut heads = Heads::new();
        let threat = heads.id("threat.technique.id");
        let kibana = heads.id("kibana.alert.rule.threat");
        let rule = heads.id("rule.mitre.id");
        assert_eq!(heads.id("threat.tactic.id"), threat);
        let v = json!({"threat": {"technique": {"id": "T1"}}, "kibana.alert.uuid": "x", "rule.mitre.id": "T2"});
        let v = node(&v);
        let p = heads.scan(&v);
        assert!(p.has(threat));
        assert!(p.has(kibana));
        assert!(p.has(rule));
        let other = heads.id("other");
        assert!(!p.has(other));
        let arr = json!([1]);
        assert!(heads.scan(&node(&arr)).has(other));

        // Gated visits agree with plain lookups: cached exact key, flat keys, absent head.
        let gated = |id, path: &str| {
            let mut out = Vec::new();
            let _ = p.visit(&v, id, path, &mut |x| {
                out.push(x);
                ControlFlow::Continue(())
            });
            out
        };
        assert_eq!(
            gated(threat, "threat.technique.id"),
            all(&v, "threat.technique.id")
        );
        assert_eq!(gated(threat, "threat").len(), 1);
        assert_eq!(gated(kibana, "kibana.alert.uuid"), vec![&json!("x")]);
        assert_eq!(gated(rule, "rule.mitre.id"), vec![&json!("T2")]);
        assert!(gated(other, "other").is_empty());
        assert!(p.exists(&v, threat, "threat.technique"));

        // Plain and flat keys of one head, interleaved with other heads, in
        // a big object: same values as the plain walk (plain key first).
        let mut m = serde_json::Map::new();
        m.insert("kibana.alert.rule.name".into(), json!("flat1"));
        for i in 0..20 {
            m.insert(format!("other{i}"), json!(i));
        }
        m.insert(
            "kibana".into(),
            json!({"alert": {"rule": {"name": "nested"}}}),
        );
        m.insert("threat".into(), json!({"technique": {"id": "T9"}}));
        m.insert("kibana.alert".into(), json!({"rule.name": "flat2"}));
        let big = Value::Object(m);
        let big = node(&big);
        let p = heads.scan(&big);
        let mut got = Vec::new();
        let _ = p.visit(&big, kibana, "kibana.alert.rule.name", &mut |x| {
            got.push(x);
            ControlFlow::Continue(())
        });
        assert_eq!(
            got,
            vec![&json!("nested"), &json!("flat1"), &json!("flat2")]
        );
        let mut want = all(&big, "kibana.alert.rule.name");
        want.sort_by_key(|v| v.to_string());
        got.sort_by_key(|v| v.to_string());
        assert_eq!(got, want);
        assert!(!p.exists(&v, other, "other"));
    }
}
