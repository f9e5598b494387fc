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
//! walk is allocation-free; [`Heads`] lets a caller skip whole groups of
//! paths whose first segment the record does not have at all.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::ControlFlow;

use serde_json::{Map, Value};

/// Objects up to this size are matched by scanning their keys (one pass
/// covers every dotted prefix); bigger ones are probed by hashing each prefix.
const LINEAR_MAX: usize = 16;

/// Calls `f` for every value at `path` in `record`, arrays flattened, nulls
/// skipped; stops early when `f` breaks. The empty path is the record itself.
pub fn visit<'a, F>(record: &'a Value, path: &str, f: &mut F) -> ControlFlow<()>
where
    F: FnMut(&'a Value) -> ControlFlow<()>,
{
    if path.is_empty() {
        return emit(record, f);
    }
    walk(record, path, f)
}

/// Appends every value at `path` in `record` to `out` (arrays flattened into
/// their elements, nulls skipped).
pub fn lookup<'a>(record: &'a Value, path: &str, out: &mut Vec<&'a Value>) {
    let _ = visit(record, path, &mut |v| {
        out.push(v);
        ControlFlow::Continue(())
    });
}

/// The first value at `path` (arrays flattened, nulls skipped).
pub fn first<'a>(record: &'a Value, path: &str) -> Option<&'a Value> {
    let mut found = None;
    let _ = visit(record, path, &mut |v| {
        found = Some(v);
        ControlFlow::Break(())
    });
    found
}

/// The first string at `path`, skipping values of other types.
pub fn first_str<'a>(record: &'a Value, path: &str) -> Option<&'a str> {
    let mut found = None;
    let _ = visit(record, path, &mut |v| match v {
        Value::String(s) => {
            found = Some(s.as_str());
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    });
    found
}

/// The first scalar (string, number or bool) at `path`, as text.
pub fn first_text<'a>(record: &'a Value, path: &str) -> Option<Cow<'a, str>> {
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
pub fn exists(record: &Value, path: &str) -> bool {
    if path.is_empty() {
        return !record.is_null();
    }
    exists_in(record, path)
}

fn exists_in(v: &Value, rest: &str) -> bool {
    match v {
        Value::Object(map) => map.iter().any(|(key, child)| {
            if let Some(tail) = rest.strip_prefix(key.as_str()) {
                if tail.is_empty() {
                    return !child.is_null();
                }
                if let Some(tail) = tail.strip_prefix('.') {
                    return exists_in(child, tail);
                }
            }
            // A flat key extending the path: `rest` = `kibana.alert`, key = `kibana.alert.uuid`.
            key.strip_prefix(rest).is_some_and(|t| t.starts_with('.'))
        }),
        Value::Array(items) => items.iter().any(|item| exists_in(item, rest)),
        _ => false,
    }
}

/// A scalar rendered as text: strings borrowed and trimmed, numbers and bools
/// formatted. `None` for null, arrays and objects.
pub fn scalar_text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s.trim())),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

fn emit<'a, F>(v: &'a Value, f: &mut F) -> ControlFlow<()>
where
    F: FnMut(&'a Value) -> ControlFlow<()>,
{
    match v {
        Value::Null => ControlFlow::Continue(()),
        Value::Array(items) => {
            for item in items {
                emit(item, f)?;
            }
            ControlFlow::Continue(())
        }
        _ => f(v),
    }
}

fn walk<'a, F>(v: &'a Value, rest: &str, f: &mut F) -> ControlFlow<()>
where
    F: FnMut(&'a Value) -> ControlFlow<()>,
{
    match v {
        Value::Object(map) => walk_object(map, rest, f),
        Value::Array(items) => {
            for item in items {
                walk(item, rest, f)?;
            }
            ControlFlow::Continue(())
        }
        // A scalar with path left over: the path does not exist here.
        _ => ControlFlow::Continue(()),
    }
}

fn walk_object<'a, F>(map: &'a Map<String, Value>, rest: &str, f: &mut F) -> ControlFlow<()>
where
    F: FnMut(&'a Value) -> ControlFlow<()>,
{
    if map.len() <= LINEAR_MAX {
        // One pass over the keys finds every key that is a dotted prefix of
        // `rest` (`threat`, `threat.technique`, `threat.technique.id`).
        for (key, child) in map {
            let Some(tail) = rest.strip_prefix(key.as_str()) else {
                continue;
            };
            if tail.is_empty() {
                emit(child, f)?;
            } else if let Some(tail) = tail.strip_prefix('.') {
                walk(child, tail, f)?;
            }
        }
        return ControlFlow::Continue(());
    }
    // Large object: hash each dotted prefix, shortest first.
    let mut from = 0;
    while let Some(i) = rest[from..].find('.') {
        let end = from + i;
        if let Some(child) = map.get(&rest[..end]) {
            walk(child, &rest[end + 1..], f)?;
        }
        from = end + 1;
    }
    match map.get(rest) {
        Some(child) => emit(child, f),
        None => ControlFlow::Continue(()),
    }
}

/// The first segment of a dotted path or key (`threat` for `threat.technique.id`).
pub fn head(path: &str) -> &str {
    match path.find('.') {
        Some(i) => &path[..i],
        None => path,
    }
}

/// Identifies a path's first segment in a [`Heads`] table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadId(u16);

/// More distinct heads than this are never gated (always probed): correct, only slower.
const MAX_HEADS: usize = 256;

/// A table of path heads (first segments) for cheap "can this path exist in
/// this record" checks: [`Heads::scan`] looks at each top-level key of a
/// record once, and then every path whose head is absent can be skipped
/// without touching the record again. A top-level key `kibana.alert.uuid`
/// counts as head `kibana`, so flat dotted records are gated correctly.
#[derive(Debug, Clone, Default)]
pub struct Heads {
    index: HashMap<Box<str>, u16, BuildHasherDefault<Fnv>>,
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

    /// Which registered heads `record` has. A record that is not an object
    /// (an array of records, say) is reported as having every head.
    pub fn scan(&self, record: &Value) -> Present {
        let mut present = Present {
            bits: [0; MAX_HEADS / 64],
            all: false,
        };
        match record {
            Value::Object(map) => {
                for key in map.keys() {
                    if let Some(&i) = self.index.get(head(key)) {
                        present.bits[usize::from(i / 64)] |= 1 << (i % 64);
                    }
                }
            }
            _ => present.all = true,
        }
        present
    }
}

/// The result of [`Heads::scan`] for one record.
#[derive(Debug, Clone, Copy)]
pub struct Present {
    bits: [u64; MAX_HEADS / 64],
    all: bool,
}

impl Present {
    /// Whether a path with this head may exist in the record.
    pub fn has(&self, id: HeadId) -> bool {
        if self.all || usize::from(id.0) >= MAX_HEADS {
            return true;
        }
        self.bits[usize::from(id.0 / 64)] & (1 << (id.0 % 64)) != 0
    }
}

/// FNV-1a: the head table is hit once per top-level key of every record, and
/// its keys are short field names, where SipHash's setup cost dominates.
/// Not exposed to untrusted keys in a way that matters: a collision only
/// costs a comparison.
#[derive(Debug, Clone, Copy)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn all<'a>(v: &'a Value, p: &str) -> Vec<&'a Value> {
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
            assert_eq!(all(v, "threat.technique.id"), vec![&json!("T1059")], "{v}");
        }
    }

    #[test]
    fn nested_and_flat_in_one_record_both_found() {
        let v = json!({"a": {"b": 1}, "a.b": 2});
        assert_eq!(all(&v, "a.b"), vec![&json!(1), &json!(2)]);
    }

    #[test]
    fn arrays_flattened_at_every_level() {
        let v = json!({"kibana.alert.rule.threat": [
            {"tactic": {"id": "TA0002"}, "technique": [{"id": "T1059", "subtechnique": [{"id": "T1059.001"}]}, {"id": "T1047"}]},
            {"tactic": {"id": "TA0003"}, "technique": [[{"id": "T1053"}], {"id": ["T1543", ["T1547"]]}]}
        ]});
        assert_eq!(
            all(&v, "kibana.alert.rule.threat.technique.id"),
            vec![
                &json!("T1059"),
                &json!("T1047"),
                &json!("T1053"),
                &json!("T1543"),
                &json!("T1547")
            ]
        );
        assert_eq!(
            all(&v, "kibana.alert.rule.threat.technique.subtechnique.id"),
            vec![&json!("T1059.001")]
        );
        assert_eq!(all(&v, "kibana.alert.rule.threat.tactic.id").len(), 2);
    }

    #[test]
    fn missing_paths_and_scalars_in_the_way() {
        let v = json!({"a": {"b": "x"}, "n": null, "arr": [null, 1]});
        assert!(all(&v, "a.c").is_empty());
        assert!(all(&v, "a.b.c").is_empty());
        assert!(all(&v, "zzz").is_empty());
        assert!(all(&v, "n").is_empty());
        assert_eq!(all(&v, "arr"), vec![&json!(1)]);
        assert!(all(&json!("scalar"), "a").is_empty());
        assert_eq!(all(&v, "").len(), 1);
    }

    #[test]
    fn prefix_that_is_not_a_segment_does_not_match() {
        let v = json!({"rule": {"id": 1}, "rule_name": "x", "ruleset": {"id": 2}});
        assert_eq!(all(&v, "rule.id"), vec![&json!(1)]);
    }

    #[test]
    fn large_objects_use_hashed_prefixes() {
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
            all(&v, "kibana.alert.rule.name"),
            vec![&json!("nested"), &json!("flat")]
        );
        assert_eq!(all(&v, "kibana.alert.f7"), vec![&json!(7)]);
    }

    #[test]
    fn first_helpers() {
        let v = json!({"a": [null, 5, "x", "y"], "b": true, "s": "  padded "});
        assert_eq!(first(&v, "a"), Some(&json!(5)));
        assert_eq!(first_str(&v, "a"), Some("x"));
        assert_eq!(first_text(&v, "a").as_deref(), Some("5"));
        assert_eq!(first_text(&v, "b").as_deref(), Some("true"));
        assert_eq!(first_text(&v, "s").as_deref(), Some("padded"));
        assert_eq!(first_str(&v, "none"), None);
    }

    #[test]
    fn exists_covers_objects_and_flat_keys() {
        let v = json!({"kibana.alert.uuid": "x", "rule": {"mitre": {"id": []}, "n": null}, "a": [{"b": {}}]});
        assert!(exists(&v, "kibana.alert"));
        assert!(exists(&v, "kibana"));
        assert!(exists(&v, "kibana.alert.uuid"));
        assert!(!exists(&v, "kibana.alert.rule"));
        assert!(exists(&v, "rule.mitre"));
        assert!(!exists(&v, "rule.n"));
        assert!(exists(&v, "a.b"));
        assert!(!exists(&v, "a.c"));
        assert!(!exists(&v, "kib"));
    }

    #[test]
    fn heads_gate_nested_and_flat_keys() {
        let mut heads = Heads::new();
        let threat = heads.id("threat.technique.id");
        let kibana = heads.id("kibana.alert.rule.threat");
        let rule = heads.id("rule.mitre.id");
        assert_eq!(heads.id("threat.tactic.id"), threat);
        let p = heads.scan(&json!({"threat": {}, "kibana.alert.uuid": "x"}));
        assert!(p.has(threat));
        assert!(p.has(kibana));
        assert!(!p.has(rule));
        assert!(heads.scan(&json!([1])).has(rule));
    }
}
