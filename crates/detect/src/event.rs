//! How events reach the engine: the [`Event`] trait, and the per-event field
//! table the engine builds from it.
//!
//! An event is a flat list of (Sigma field name, JSON value) pairs borrowed
//! from the parsed record, so the EVTX, flat JSON and Winlogbeat shapes need
//! no copying (`killchain_ingest::windows` flattens them). The engine looks
//! each name up once per event in its field table (built from the rules at
//! compile time); rules then read fields by index, never by name.

use std::borrow::Cow;

use serde_json::{Map, Value};

/// A source of (field name, value) pairs. Names are the ones Sigma rules use
/// (`Image`, `CommandLine`, `EventID`, `Channel`, ...); a name given twice
/// keeps its first value.
pub trait Event {
    fn for_each_field<'a>(&'a self, f: &mut dyn FnMut(&str, &'a Value));
}

/// Fields already collected into a list (what `flatten_windows` produces).
#[derive(Debug, Default)]
pub struct FieldList<'a> {
    pub fields: Vec<(Cow<'a, str>, &'a Value)>,
}

impl FieldList<'_> {
    /// Empties the list and frees it from this event's borrows, keeping its
    /// allocation for the next event (an in-place collect of an empty
    /// vector: no element is converted).
    pub fn recycle<'b>(mut self) -> FieldList<'b> {
        self.fields.clear();
        FieldList {
            fields: self
                .fields
                .into_iter()
                .map(|_| unreachable!("the list is empty"))
                .collect(),
        }
    }
}

impl Event for FieldList<'_> {
    fn for_each_field<'a>(&'a self, f: &mut dyn FnMut(&str, &'a Value)) {
        for (k, v) in &self.fields {
            f(k, v);
        }
    }
}

/// A JSON object whose top-level keys are the field names. Nested objects
/// are also visited under dotted names (`winlog.event_data.Image`), so rules
/// written against nested JSON work too.
#[derive(Debug, Clone, Copy)]
pub struct JsonEvent<'v>(pub &'v Value);

impl Event for JsonEvent<'_> {
    fn for_each_field<'a>(&'a self, f: &mut dyn FnMut(&str, &'a Value)) {
        if let Value::Object(map) = self.0 {
            let mut prefix = String::new();
            visit_object(map, &mut prefix, f, 0);
        }
    }
}

/// Depth limit for dotted names: deeper structure is still reachable as the
/// value of its parent, and hostile input cannot recurse without bound.
const MAX_DEPTH: usize = 8;

fn visit_object<'a>(
    map: &'a Map<String, Value>,
    prefix: &mut String,
    f: &mut dyn FnMut(&str, &'a Value),
    depth: usize,
) {
    for (k, v) in map {
        let len = prefix.len();
        if !prefix.is_empty() {
            prefix.push('.');
        }
        prefix.push_str(k);
        f(prefix, v);
        if let (Value::Object(inner), true) = (v, depth < MAX_DEPTH) {
            visit_object(inner, prefix, f, depth + 1);
        }
        prefix.truncate(len);
    }
}

/// Calls `f` with every string inside `v` (arrays and objects included):
/// what keyword detections search.
pub(crate) fn each_string<'a>(v: &'a Value, f: &mut dyn FnMut(&'a str) -> bool) -> bool {
    match v {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().any(|x| each_string(x, f)),
        Value::Object(map) => map.values().any(|x| each_string(x, f)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_event_visits_nested_fields_with_dotted_names() {
        let v = json!({"a": 1, "winlog": {"event_data": {"Image": "x"}}});
        let mut names = Vec::new();
        JsonEvent(&v).for_each_field(&mut |k, _| names.push(k.to_string()));
        assert_eq!(
            names,
            [
                "a",
                "winlog",
                "winlog.event_data",
                "winlog.event_data.Image"
            ]
        );
    }
}
