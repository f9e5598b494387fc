//! Parsing only what a consumer reads. A detection engine reads a few dozen
//! named fields of an event, yet building a whole `serde_json::Value` (an
//! allocation per string, an ordered map insert per member) costs more than
//! the detection itself on wide records such as OTRF's. [`parse_selected`]
//! decodes a JSON object record but materialises only the top-level members
//! the consumer keeps; the other members' strings are handed to a callback,
//! decoded but never allocated (what keyword searches over every value
//! need), and their numbers, booleans and nulls are dropped.
//!
//! Objects and arrays are always kept whole: the names under them (`Event.
//! System.EventID`, `winlog.event_data.Image`) are only known after the
//! shape of the record is (see [`crate::windows`]). Records that are not
//! objects are parsed whole. Syntax errors are those of `serde_json`: the
//! input is validated in full either way.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Top-level members that Windows record flattening reads whatever the
/// consumer keeps: the shape markers and the sources of the names it
/// derives (`Computer` from `Hostname`, `Provider_Name` from `SourceName`,
/// ...). Keys starting with `winlog.` are kept too (ECS paths written as
/// dotted keys).
const ALWAYS_KEPT: &[&str] = &[
    "Hostname",
    "SourceName",
    "ProviderName",
    "ProviderGuid",
    "log_name",
    "event_id",
];

/// Parses one JSON record, keeping the top-level members for which `keep`
/// (given the member's name) is true, every object or array member, and
/// the members Windows flattening needs ([`crate::flatten_windows`] gives
/// the same fields for the kept names as on the whole record). The string
/// values of the members left out are passed to `skipped`, decoded.
///
/// ```
/// use killchain_ingest::parse_selected;
///
/// let line = br#"{"Image":"C:\\x.exe","Message":"long text","Level":4,"Event":{"a":1}}"#;
/// let mut seen = Vec::new();
/// let v = parse_selected(line, &|k| k == "Image", &mut |s| seen.push(s.to_string())).unwrap();
/// assert_eq!(v.to_string(), r#"{"Image":"C:\\x.exe","Event":{"a":1}}"#);
/// assert_eq!(seen, ["long text"]);
/// ```
pub fn parse_selected(
    bytes: &[u8],
    keep: &dyn Fn(&str) -> bool,
    skipped: &mut dyn FnMut(&str),
) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Record { keep, skipped }.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

struct Record<'k, 's> {
    keep: &'k dyn Fn(&str) -> bool,
    skipped: &'s mut dyn FnMut(&str),
}

impl<'de> DeserializeSeed<'de> for Record<'_, '_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Record<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        // Sized for a typical event: growing the ordered map rehashes.
        let mut out = Map::with_capacity(32);
        while let Some(key) = map.next_key_seed(Key)? {
            if (self.keep)(&key) || ALWAYS_KEPT.contains(&&*key) || key.starts_with("winlog.") {
                let v: Value = map.next_value()?;
                out.insert(key.into_owned(), v);
            } else if let Some(v) = map.next_value_seed(Skip(&mut *self.skipped))? {
                out.insert(key.into_owned(), v);
            }
        }
        Ok(Value::Object(out))
    }

    // Not an object: the record whole.
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        Value::deserialize(SeqAccessDeserializer::new(seq))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// A member name, borrowed from the input when it has no escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

/// A member left out: strings go to the callback, scalars are dropped,
/// objects and arrays come back whole.
struct Skip<'s>(&'s mut dyn FnMut(&str));

impl<'de> DeserializeSeed<'de> for Skip<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        (self.0)(v);
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Value::deserialize(MapAccessDeserializer::new(map)).map(Some)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Value::deserialize(SeqAccessDeserializer::new(seq)).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flatten_windows;

    fn flat(v: &Value) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        flatten_windows(v, &mut out);
        out.into_iter()
            .map(|(k, v)| (k.into_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn kept_fields_flatten_as_on_the_whole_record() {
        let line = br#"{"Hostname":"h1","SourceName":"Microsoft-Windows-Sysmon","EventID":1,
            "Image":"C:\\w\\cmd.exe","Message":"Process Create:\r\nImage: C:\\w\\cmd.exe",
            "Keywords":-9223372036854775808,"Flag":true,"Gone":null,"Tags":["a","b"]}"#;
        let whole: Value = serde_json::from_slice(line).unwrap();
        let wanted = ["EventID", "Image", "Computer", "Provider_Name"];
        let mut seen = Vec::new();
        let part = parse_selected(line, &|k| wanted.contains(&k), &mut |s| {
            seen.push(s.to_string())
        })
        .unwrap();
        let keep = |fields: Vec<(String, Value)>| -> Vec<(String, Value)> {
            fields
                .into_iter()
                .filter(|(k, _)| wanted.contains(&k.as_str()))
                .collect()
        };
        assert_eq!(keep(flat(&part)), keep(flat(&whole)));
        // Strings left out come decoded; arrays are kept whole.
        assert_eq!(seen, ["Process Create:\r\nImage: C:\\w\\cmd.exe"]);
        assert_eq!(part["Tags"], whole["Tags"]);
        assert!(part.get("Flag").is_none() && part.get("Keywords").is_none());
    }

    #[test]
    fn non_objects_are_whole_and_errors_are_serde_json_s() {
        let mut none = |_: &str| panic!("nothing is skipped");
        let v = parse_selected(b"[1,\"a\"]", &|_| false, &mut none).unwrap();
        assert_eq!(v, serde_json::json!([1, "a"]));
        for bad in [&b"{\"a\": }"[..], b"{\"a\":1} x", b"{\"a\":\"\\q\"}", b""] {
            let ours = parse_selected(bad, &|_| false, &mut |_| {}).unwrap_err();
            let theirs = serde_json::from_slice::<Value>(bad).unwrap_err();
            assert_eq!(ours.to_string(), theirs.to_string(), "{bad:?}");
        }
    }
}
