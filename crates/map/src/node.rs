//! [`Node`]: a JSON value that borrows its strings from the bytes it was
//! parsed from. The record type of the mapping pipeline.
//!
//! `serde_json::Value` copies every key and string into its own `String`
//! and hashes every key into an `IndexMap` (SipHash): for an alert of a few
//! hundred bytes that is most of the parse, and `map` reads each record
//! once, probes a few dozen paths and writes it back. A `Node` parsed with
//! `serde_json::from_slice` borrows every string without escapes from the
//! input and keeps objects as a plain list of entries, which is about half
//! the cost of a `Value` (`killchain bench map`; docs/benchmarks.md).
//!
//! It behaves like a `Value` read with serde_json's `preserve_order`: keys
//! stay in input order, a repeated key keeps the position of its first
//! occurrence and the value of its last, numbers are serde_json's `Number`
//! (so they print the same), nesting deeper than serde_json's recursion
//! limit is an error. [`Node::from_value`] borrows a `Value` the same way,
//! for callers that already hold one (hunt's events, findings files).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Number, Value};

/// A JSON value borrowing from its input (see the module docs).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Node<'a> {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    Object(Object<'a>),
}

/// A JSON object: its entries in input order, keys unique.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object<'a> {
    entries: Vec<(Cow<'a, str>, Node<'a>)>,
}

/// Objects up to this size are checked for repeated keys pair by pair;
/// bigger ones through a hash set.
const PAIRWISE_MAX: usize = 16;

impl<'a> Object<'a> {
    /// `{}`.
    pub const EMPTY: Object<'a> = Object {
        entries: Vec::new(),
    };

    /// An object of these entries; a repeated key keeps its first position
    /// and its last value, as serde_json's `Map` does.
    pub fn from_entries(mut entries: Vec<(Cow<'a, str>, Node<'a>)>) -> Self {
        if has_repeats(&entries) {
            let mut kept: Vec<(Cow<'a, str>, Node<'a>)> = Vec::with_capacity(entries.len());
            for (key, value) in entries.drain(..) {
                match kept.iter_mut().find(|(k, _)| *k == key) {
                    Some(slot) => slot.1 = value,
                    None => kept.push((key, value)),
                }
            }
            entries = kept;
        }
        Object { entries }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Node<'a>)> + Clone {
        self.entries.iter().map(|(k, v)| (&**k, v))
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| &**k)
    }

    /// The value at `key` (a linear scan: records' objects are small, and
    /// the callers that probe big ones gate their probes first).
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        self.get_key_value(key).map(|(_, v)| v)
    }

    /// The key as stored and the value at `key`.
    pub fn get_key_value(&self, key: &str) -> Option<(&str, &Node<'a>)> {
        self.entries
            .iter()
            .find(|(k, _)| k.len() == key.len() && **k == *key)
            .map(|(k, v)| (&**k, v))
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

/// An entry of an object, as its iterator gives it.
type EntryRef<'o, 'a> = (&'o str, &'o Node<'a>);

impl<'o, 'a> IntoIterator for &'o Object<'a> {
    type Item = EntryRef<'o, 'a>;
    type IntoIter = std::iter::Map<
        std::slice::Iter<'o, (Cow<'a, str>, Node<'a>)>,
        fn(&'o (Cow<'a, str>, Node<'a>)) -> EntryRef<'o, 'a>,
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (&**k, v))
    }
}

/// Whether any key appears twice.
fn has_repeats(entries: &[(Cow<'_, str>, Node<'_>)]) -> bool {
    if entries.len() <= PAIRWISE_MAX {
        return entries
            .iter()
            .enumerate()
            .any(|(i, (k, _))| entries[..i].iter().any(|(p, _)| p == k));
    }
    let mut seen = rustc_hash::FxHashSet::default();
    !entries.iter().all(|(k, _)| seen.insert(&**k))
}

impl<'a> Node<'a> {
    /// Borrows `value` as a `Node` (strings and keys borrowed, numbers copied).
    pub fn from_value(value: &'a Value) -> Node<'a> {
        match value {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(*b),
            Value::Number(n) => Node::Number(n.clone()),
            Value::String(s) => Node::String(Cow::Borrowed(s)),
            Value::Array(items) => Node::Array(items.iter().map(Node::from_value).collect()),
            // A Map has unique keys already.
            Value::Object(map) => Node::Object(Object {
                entries: map
                    .iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Node::from_value(v)))
                    .collect(),
            }),
        }
    }

    /// An owned `Value` with the same content.
    pub fn to_value(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Number(n) => Value::Number(n.clone()),
            Node::String(s) => Value::String(s.to_string()),
            Node::Array(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            Node::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect(),
            ),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Node::Null)
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Node::Object(_))
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Node::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Object<'a>> {
        match self {
            Node::Object(map) => Some(map),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Node<'a>]> {
        match self {
            Node::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The value at `key` of an object (`None` for other values).
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        self.as_object()?.get(key)
    }

    /// The value at a JSON Pointer (RFC 6901: `/killchain/record`, `~1` for
    /// `/` and `~0` for `~` in keys, array elements by index), as
    /// `serde_json::Value::pointer` finds it.
    pub fn pointer(&self, pointer: &str) -> Option<&Node<'a>> {
        if pointer.is_empty() {
            return Some(self);
        }
        let rest = pointer.strip_prefix('/')?;
        rest.split('/').try_fold(self, |node, token| {
            let token: Cow<'_, str> = if token.contains('~') {
                Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
            } else {
                Cow::Borrowed(token)
            };
            match node {
                Node::Object(map) => map.get(&token),
                Node::Array(items) => parse_index(&token).and_then(|i| items.get(i)),
                _ => None,
            }
        })
    }
}

/// An array index in a JSON Pointer: digits, no leading zero (serde_json's rule).
fn parse_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
}

/// Compares content with a `Value` (for tests and callers holding both).
impl PartialEq<Value> for Node<'_> {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Node::Null, Value::Null) => true,
            (Node::Bool(a), Value::Bool(b)) => a == b,
            (Node::Number(a), Value::Number(b)) => a == b,
            (Node::String(a), Value::String(b)) => a == b,
            (Node::Array(a), Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
            }
            (Node::Object(a), Value::Object(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| v == w))
            }
            _ => false,
        }
    }
}

impl fmt::Display for Node<'_> {
    /// Compact JSON, as `Value`'s `Display`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl Serialize for Node<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => s.serialize_unit(),
            Node::Bool(b) => s.serialize_bool(*b),
            Node::Number(n) => n.serialize(s),
            Node::String(text) => s.serialize_str(text),
            Node::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Object(map) => {
                let mut m = s.serialize_map(Some(map.len()))?;
                for (k, v) in map.iter() {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
    }
}

/// A key or string: borrowed from the input when it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(TextVisitor)
    }
}

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
        Node::deserialize(d)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(b))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Node<'de>, E> {
        Ok(Node::Number(n.into()))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Node<'de>, E> {
        Ok(Node::Number(n.into()))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Node<'de>, E> {
        // serde_json never hands over a non-finite float; `Value` would
        // make one null too.
        Ok(Number::from_f64(x).map_or(Node::Null, Node::Number))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        // serde_json gives no size hint: start where most alerts' arrays end.
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(2).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        // As for arrays: room for a typical object without growing.
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(8).min(64));
        while let Some((Text(key), value)) = map.next_entry::<Text<'de>, Node<'de>>()? {
            entries.push((key, value));
        }
        Ok(Node::Object(Object::from_entries(entries)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Node<'_> {
        serde_json::from_str(text).expect("valid JSON")
    }

    #[test]
    fn same_content_and_text_as_value() {
        let text = r#"{"a":1,"b":[true,null,-2,1.5,"x\"y"],"c":{"d":"e","f":{}},"g":18446744073709551615,"h":1e300}"#;
        let node = parse(text);
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(node, value);
        assert_eq!(node.to_value(), value);
        assert_eq!(node.to_string(), value.to_string());
        assert_eq!(Node::from_value(&value), node);
    }

    #[test]
    fn strings_without_escapes_are_borrowed() {
        let node = parse(r#"{"plain":"abc","esc":"a\nb"}"#);
        let Node::Object(map) = &node else { panic!() };
        let entries: Vec<_> = map.entries.iter().collect();
        assert!(matches!(entries[0].0, Cow::Borrowed("plain")));
        assert!(matches!(entries[0].1, Node::String(Cow::Borrowed("abc"))));
        assert!(matches!(&entries[1].1, Node::String(Cow::Owned(s)) if s == "a\nb"));
    }

    #[test]
    fn repeated_keys_keep_first_position_and_last_value() {
        for n in [3, 40] {
            let mut text = String::from("{\"k\":1");
            for i in 0..n {
                text.push_str(&format!(",\"x{i}\":{i}"));
            }
            text.push_str(",\"k\":2}");
            let node = parse(&text);
            let value: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(node.to_string(), value.to_string(), "{n} keys");
            assert_eq!(node.get("k"), Some(&Node::Number(2.into())));
            assert_eq!(node.as_object().unwrap().len(), n + 1);
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(serde_json::from_str::<Node<'_>>(&deep).is_err());
    }

    #[test]
    fn pointers_find_what_value_pointers_find() {
        let v = json!({"a": {"b/c": [10, {"d~e": "x"}]}, "": 1, "n": null});
        let node = Node::from_value(&v);
        for p in [
            "",
            "/a",
            "/a/b~1c",
            "/a/b~1c/0",
            "/a/b~1c/1/d~0e",
            "/a/b~1c/01",
            "/a/b~1c/+1",
            "/a/b~1c/2",
            "/",
            "/n",
            "/n/x",
            "a",
            "/a/missing",
        ] {
            assert_eq!(
                node.pointer(p).map(Node::to_value),
                v.pointer(p).cloned(),
                "{p:?}"
            );
        }
    }

    #[test]
    fn accessors() {
        let v = json!({"s": "x", "n": 7, "o": {"k": [1]}, "z": null});
        let node = Node::from_value(&v);
        assert_eq!(node.get("s").and_then(Node::as_str), Some("x"));
        assert_eq!(node.get("n").and_then(Node::as_u64), Some(7));
        assert!(node.get("o").is_some_and(Node::is_object));
        assert_eq!(
            node.get("o")
                .and_then(|o| o.get("k"))
                .and_then(Node::as_array)
                .map(<[_]>::len),
            Some(1)
        );
        assert!(node.get("z").is_some_and(Node::is_null));
        assert!(node.get("missing").is_none());
        assert!(node.as_object().unwrap().contains_key("o"));
    }
}
