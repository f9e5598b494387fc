//! The lenient raw model: the few STIX properties the importer reads, parsed
//! straight from the input without building a full JSON tree.
//!
//! serde_json drives these visitors directly over the input, so fields we do not
//! name (descriptions, citations, x_mitre_mutable_elements, ...) go to
//! `IgnoredAny` and are never allocated. Every shape is accepted: a non-object
//! where an object belongs becomes `Shape::Scalar`/`Shape::Seq` for the importer
//! to report instead of a parse failure.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// A JSON value classified by shape: a map read as `M`, an array read as `S`,
/// or a scalar (kept as the name of its JSON type for messages).
pub(super) enum Shape<M, S> {
    Map(M),
    Seq(S),
    Scalar(&'static str),
}

impl<M, S> Shape<M, S> {
    pub(super) fn describe(&self) -> &'static str {
        match self {
            Shape::Map(_) => "an object",
            Shape::Seq(_) => "an array",
            Shape::Scalar(kind) => kind,
        }
    }
}

/// Something built from a JSON object's entries.
trait FromMap<'de>: Sized {
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
}

/// Something built from a JSON array's elements.
trait FromSeq<'de>: Sized {
    fn from_seq<A: SeqAccess<'de>>(seq: A) -> Result<Self, A::Error>;
}

/// The shape we do not want: consumed and dropped.
pub(super) struct Ignored;

impl<'de> FromMap<'de> for Ignored {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Ignored)
    }
}

impl<'de> FromSeq<'de> for Ignored {
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Ignored)
    }
}

impl<'de, T: Deserialize<'de>> FromSeq<'de> for Vec<T> {
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        // The hint comes from the input, so cap the pre-allocation.
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
        while let Some(item) = seq.next_element()? {
            out.push(item);
        }
        Ok(out)
    }
}

impl<'de, M: FromMap<'de>, S: FromSeq<'de>> Deserialize<'de> for Shape<M, S> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ShapeVisitor<M, S>(PhantomData<(M, S)>);

        impl<'de, M: FromMap<'de>, S: FromSeq<'de>> Visitor<'de> for ShapeVisitor<M, S> {
            type Value = Shape<M, S>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                M::from_map(map).map(Shape::Map)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                S::from_seq(seq).map(Shape::Seq)
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Shape::Scalar("a string"))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Shape::Scalar("a boolean"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Shape::Scalar("a number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Shape::Scalar("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Shape::Scalar("a number"))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Shape::Scalar("null"))
            }
        }

        deserializer.deserialize_any(ShapeVisitor(PhantomData))
    }
}

/// The STIX properties the importer reads. Everything else is skipped unparsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Type,
    Id,
    SpecVersion,
    Modified,
    Name,
    Revoked,
    Deprecated,
    ExternalReferences,
    KillChainPhases,
    Platforms,
    IsSubtechnique,
    Shortname,
    TacticRefs,
    Version,
    Aliases,
    MitreAliases,
    FirstSeen,
    LastSeen,
    RelationshipType,
    SourceRef,
    TargetRef,
    LogSources,
    AnalyticRefs,
    LogSourceReferences,
    /// Only meaningful at the bundle level.
    Objects,
}

impl Field {
    /// Number of fields stored on a [`RawObject`] (all but `Objects`).
    const STORED: usize = Field::Objects as usize;

    fn from_key(key: &str) -> Option<Field> {
        Some(match key {
            "type" => Field::Type,
            "id" => Field::Id,
            "spec_version" => Field::SpecVersion,
            "modified" => Field::Modified,
            "name" => Field::Name,
            "revoked" => Field::Revoked,
            "x_mitre_deprecated" => Field::Deprecated,
            "external_references" => Field::ExternalReferences,
            "kill_chain_phases" => Field::KillChainPhases,
            "x_mitre_platforms" => Field::Platforms,
            "x_mitre_is_subtechnique" => Field::IsSubtechnique,
            "x_mitre_shortname" => Field::Shortname,
            "tactic_refs" => Field::TacticRefs,
            "x_mitre_version" => Field::Version,
            "aliases" => Field::Aliases,
            "x_mitre_aliases" => Field::MitreAliases,
            "first_seen" => Field::FirstSeen,
            "last_seen" => Field::LastSeen,
            "relationship_type" => Field::RelationshipType,
            "source_ref" => Field::SourceRef,
            "target_ref" => Field::TargetRef,
            "x_mitre_log_sources" => Field::LogSources,
            "x_mitre_analytic_refs" => Field::AnalyticRefs,
            "x_mitre_log_source_references" => Field::LogSourceReferences,
            "objects" => Field::Objects,
            _ => return None,
        })
    }

    /// The STIX property name, for messages.
    pub(super) fn key(self) -> &'static str {
        match self {
            Field::Type => "type",
            Field::Id => "id",
            Field::SpecVersion => "spec_version",
            Field::Modified => "modified",
            Field::Name => "name",
            Field::Revoked => "revoked",
            Field::Deprecated => "x_mitre_deprecated",
            Field::ExternalReferences => "external_references",
            Field::KillChainPhases => "kill_chain_phases",
            Field::Platforms => "x_mitre_platforms",
            Field::IsSubtechnique => "x_mitre_is_subtechnique",
            Field::Shortname => "x_mitre_shortname",
            Field::TacticRefs => "tactic_refs",
            Field::Version => "x_mitre_version",
            Field::Aliases => "aliases",
            Field::MitreAliases => "x_mitre_aliases",
            Field::FirstSeen => "first_seen",
            Field::LastSeen => "last_seen",
            Field::RelationshipType => "relationship_type",
            Field::SourceRef => "source_ref",
            Field::TargetRef => "target_ref",
            Field::LogSources => "x_mitre_log_sources",
            Field::AnalyticRefs => "x_mitre_analytic_refs",
            Field::LogSourceReferences => "x_mitre_log_source_references",
            Field::Objects => "objects",
        }
    }
}

/// An object key: one of our [`Field`]s or something to skip.
struct Key(Option<Field>);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl Visitor<'_> for KeyVisitor {
            type Value = Key;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_str<E>(self, key: &str) -> Result<Key, E> {
                Ok(Key(Field::from_key(key)))
            }
        }

        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// The top level of the document, if it is an object.
#[derive(Default)]
pub(super) struct RawBundle {
    pub(super) ty: Option<Value>,
    pub(super) spec_version: Option<Value>,
    pub(super) objects: Option<Shape<Ignored, Vec<Entry>>>,
}

impl<'de> FromMap<'de> for RawBundle {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut bundle = RawBundle::default();
        // Duplicate keys: the last one wins, as in most JSON readers.
        while let Some(Key(field)) = map.next_key()? {
            match field {
                Some(Field::Type) => bundle.ty = Some(map.next_value()?),
                Some(Field::SpecVersion) => bundle.spec_version = Some(map.next_value()?),
                Some(Field::Objects) => bundle.objects = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(bundle)
    }
}

/// One element of the bundle's `objects` array.
pub(super) type Entry = Shape<RawObject, Ignored>;

/// A STIX object reduced to the properties in [`Field`], each kept as raw JSON
/// so that a wrong type is reported rather than fatal.
pub(super) struct RawObject {
    fields: [Option<Value>; Field::STORED],
}

impl RawObject {
    pub(super) fn get(&self, field: Field) -> Option<&Value> {
        self.fields.get(field as usize).and_then(Option::as_ref)
    }
}

impl<'de> FromMap<'de> for RawObject {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut obj = RawObject {
            fields: std::array::from_fn(|_| None),
        };
        while let Some(Key(field)) = map.next_key()? {
            match field.and_then(|f| obj.fields.get_mut(f as usize)) {
                Some(slot) => *slot = Some(map.next_value()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(obj)
    }
}

/// The name of a JSON value's type, for messages.
pub(super) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The ATT&CK ID in an `external_references` array: the `external_id` of the
/// first entry whose `source_name` is `mitre-attack`.
pub(super) fn mitre_attack_id(refs: &Value) -> Option<&str> {
    refs.as_array()?.iter().find_map(|r| {
        let r = r.as_object()?;
        if r.get("source_name")?.as_str()? != "mitre-attack" {
            return None;
        }
        let id = r.get("external_id")?.as_str()?.trim();
        (!id.is_empty()).then_some(id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mitre_attack_id_takes_the_first_mitre_attack_reference() {
        let refs = serde_json::json!([
            {"source_name": "capec", "external_id": "CAPEC-1"},
            {"source_name": "mitre-attack", "external_id": " T1059.001 "},
            {"source_name": "mitre-attack", "external_id": "T9999"},
        ]);
        assert_eq!(mitre_attack_id(&refs), Some("T1059.001"));
        let none = serde_json::json!([{"source_name": "mitre-attack", "external_id": ""}, 3]);
        assert_eq!(mitre_attack_id(&none), None);
        assert_eq!(mitre_attack_id(&serde_json::json!({"x": 1})), None);
    }

    #[test]
    fn field_keys_round_trip() {
        for key in [
            "type",
            "x_mitre_deprecated",
            "x_mitre_log_source_references",
            "objects",
        ] {
            assert_eq!(Field::from_key(key).map(Field::key), Some(key));
        }
        assert_eq!(Field::from_key("description"), None);
    }

    #[test]
    fn raw_objects_keep_only_known_fields_and_any_shape() {
        let entries: Vec<Entry> = serde_json::from_str(
            r#"[{"type": "tool", "id": "tool--1", "description": "long text", "revoked": "yes"},
                [1, 2], "s", 1.5, null, true]"#,
        )
        .expect("parses");
        let kinds: Vec<&str> = entries.iter().map(Shape::describe).collect();
        assert_eq!(
            kinds,
            [
                "an object",
                "an array",
                "a string",
                "a number",
                "null",
                "a boolean"
            ]
        );
        let Shape::Map(raw) = &entries[0] else {
            panic!("first entry is an object")
        };
        assert_eq!(raw.get(Field::Id).and_then(Value::as_str), Some("tool--1"));
        assert_eq!(raw.get(Field::Revoked), Some(&Value::from("yes")));
        assert!(raw.get(Field::Name).is_none());
    }
}
