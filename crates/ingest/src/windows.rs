//! Windows event records as Sigma rules see them: one flat list of
//! `(field name, value)` pairs per record, under the names SigmaHQ's windows
//! rules use (`EventID`, `Channel`, `Provider_Name`, `Image`, ...), whatever
//! JSON shape the record came in.
//!
//! This module owns the three shapes ([`WinShape`]), telling them apart
//! ([`detect_shape`]) and the flattening ([`flatten_windows`]). It is pure: no
//! I/O, no allocation of values. Every value is borrowed from the record, so a
//! rule engine can look fields up without copying the event; names are
//! borrowed too, except where they must be built (dotted paths, the
//! `<Element>_<Attribute>` names of System attributes other than the common
//! ones).
//!
//! The output is a list, not a map: in the record's order (Winlogbeat's
//! Sigma names first, Flat's aliases last), and a name can occur twice when
//! the record has it in two places (an EventData field named like a System
//! one, say). A rule engine that wants one value per name takes the first.
//!
//! ```
//! use std::borrow::Cow;
//! use killchain_ingest::windows::flatten_windows;
//!
//! let record = serde_json::json!({"Event": {
//!     "System": {"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational",
//!                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}}},
//!     "EventData": {"Image": "C:\\Windows\\System32\\cmd.exe"}}});
//! let mut fields: Vec<(Cow<str>, &serde_json::Value)> = Vec::new();
//! flatten_windows(&record, &mut fields);
//! let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_ref()).collect();
//! assert_eq!(names, ["EventID", "Channel", "Provider_Name", "Image"]);
//! ```

use std::borrow::Cow;

use serde_json::{Map, Value};

/// Which JSON shape a Windows event record has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WinShape {
    /// The event's fields at the top level, System and EventData side by
    /// side (OTRF/Mordor, NXLog, Zircolite-like exports): `Channel`,
    /// `EventID`, `Hostname`, `Image`, ...
    Flat,
    /// The event XML as JSON, as the `evtx` crate renders it: `Event.System`
    /// plus `Event.EventData` or `Event.UserData`, XML attributes under
    /// `#attributes`, element text under `#text` when there are attributes
    /// too. Also without the outer `Event` (a top-level `System` object).
    EventXml,
    /// Winlogbeat / Elastic Common Schema: `winlog.event_data.*`,
    /// `winlog.channel`, ... next to ECS fields (`process.command_line`,
    /// `host.name`). Winlogbeat 6's top-level `event_data` / `log_name` is
    /// read as this shape too.
    Winlogbeat,
}

/// Deeper objects are handed out whole instead of being walked: serde_json
/// never parses past 128 levels, but a value can be built deeper, and the
/// walk must not overflow the stack on any input.
const MAX_DEPTH: usize = 64;

/// What an empty `<Data Name="X"/>` points at.
static NULL: Value = Value::Null;

/// Tells which shape `record` has. Anything that is not recognisably
/// [`EventXml`](WinShape::EventXml) or [`Winlogbeat`](WinShape::Winlogbeat)
/// (including a non-object) is [`Flat`](WinShape::Flat).
pub fn detect_shape(record: &Value) -> WinShape {
    let Some(obj) = record.as_object() else {
        return WinShape::Flat;
    };
    if event_xml_root(obj).is_some() {
        WinShape::EventXml
    } else if obj.get("winlog").is_some_and(Value::is_object)
        || (obj.get("event_data").is_some_and(Value::is_object)
            && (obj.contains_key("log_name") || obj.contains_key("event_id")))
        // Exports that write ECS paths as literal dotted keys.
        || obj.keys().any(|key| key.starts_with("winlog."))
    {
        WinShape::Winlogbeat
    } else {
        WinShape::Flat
    }
}

/// Appends the record's fields, flat, under the names Sigma rules use,
/// borrowing values from `record`. The shape is found with [`detect_shape`].
///
/// Never panics; a record that is not a JSON object adds nothing, and
/// structure this module does not know is flattened with dots (`a.b.c`),
/// arrays kept whole as one value.
pub fn flatten_windows<'a>(record: &'a Value, out: &mut Vec<(Cow<'a, str>, &'a Value)>) {
    flatten_windows_as(detect_shape(record), record, out);
}

/// [`flatten_windows`] for a record whose shape the caller already knows (an
/// EVTX reader's records are always [`WinShape::EventXml`]), which skips
/// detection.
///
/// What each shape emits:
///
/// - [`Flat`](WinShape::Flat): every top-level key as it is, nested objects
///   with dots; then, when absent, `Computer` from `Hostname`,
///   `Provider_Name` from `SourceName` or `ProviderName`, and
///   `Provider_Guid` from `ProviderGuid`.
/// - [`EventXml`](WinShape::EventXml): the System children by name
///   (`EventID`, `Channel`, `Computer`, `EventRecordID`, `Level`, `Task`,
///   `Opcode`, `Keywords`, `Version`), an element's `#text` under the
///   element's name (`EventID` with `Qualifiers`), its attributes as
///   `<Element>_<Attribute>` (`Provider_Name`, `Provider_Guid`,
///   `Security_UserID`, `Correlation_ActivityID`) except `SystemTime` (of
///   `TimeCreated`) and `Execution<Attribute>` (`ExecutionProcessID`,
///   `ExecutionThreadID`); every EventData field by name (named `Data`
///   elements by their `Name`, unnamed ones as `Data`); UserData's fields by
///   name, below its one wrapper element (`LogFileCleared`, `EventXML`, ...).
///   Other children of `Event` (`RenderingInfo`, ...) with dots.
/// - [`Winlogbeat`](WinShape::Winlogbeat): first the Sigma names:
///   `winlog.event_data.*` and `winlog.user_data.*` by name, `EventID` from
///   `winlog.event_id` or else `event.code`, `Channel`, `Provider_Name`,
///   `Provider_Guid`, `Computer` (from `winlog.computer_name` or else
///   `host.name`), `EventRecordID`, `ExecutionProcessID`,
///   `ExecutionThreadID`, `Security_UserID`; then every field of the record
///   with dots, `winlog.*` included, so rules written against ECS or
///   Winlogbeat names match as well.
pub fn flatten_windows_as<'a>(
    shape: WinShape,
    record: &'a Value,
    out: &mut Vec<(Cow<'a, str>, &'a Value)>,
) {
    let Some(obj) = record.as_object() else {
        return;
    };
    match shape {
        WinShape::Flat => flat(obj, out),
        WinShape::EventXml => event_xml(obj, out),
        WinShape::Winlogbeat => winlogbeat(obj, out),
    }
}

// ---------------------------------------------------------------- Flat

fn flat<'a>(obj: &'a Map<String, Value>, out: &mut Vec<(Cow<'a, str>, &'a Value)>) {
    for (key, value) in obj {
        dotted(Cow::Borrowed(key), value, 0, out);
    }
    // NXLog and the OTRF datasets name the System fields after the Windows
    // API (`Hostname`, `SourceName`) rather than the XML Sigma is written
    // against.
    alias(obj, "Computer", &["Hostname"], out);
    alias(obj, "Provider_Name", &["SourceName", "ProviderName"], out);
    alias(obj, "Provider_Guid", &["ProviderGuid"], out);
}

/// Emits `target` from the first of `sources` present, unless the record has
/// `target` itself.
fn alias<'a>(
    obj: &'a Map<String, Value>,
    target: &'static str,
    sources: &[&str],
    out: &mut Vec<(Cow<'a, str>, &'a Value)>,
) {
    if obj.contains_key(target) {
        return;
    }
    if let Some(value) = sources.iter().find_map(|source| obj.get(*source)) {
        out.push((Cow::Borrowed(target), value));
    }
}

/// Plain JSON flattening: objects walked with dotted names, everything else
/// (arrays included) one value. An empty object is kept as a value so that
/// the field still exists.
fn dotted<'a>(
    name: Cow<'a, str>,
    value: &'a Value,
    depth: usize,
    out: &mut Vec<(Cow<'a, str>, &'a Value)>,
) {
    match value {
        Value::Object(map) if !map.is_empty() && depth < MAX_DEPTH => {
            for (key, child) in map {
                dotted(join(&name, key), child, depth + 1, out);
            }
        }
        _ => out.push((name, value)),
    }
}

fn join<'a>(prefix: &str, key: &str) -> Cow<'a, str> {
    Cow::Owned(format!("{prefix}.{key}"))
}

// ---------------------------------------------------------------- EventXml

/// The object holding `System` / `EventData` / `UserData`: the `Event`
/// wrapper's, or the record's own when it has no wrapper.
fn event_xml_root(obj: &Map<String, Value>) -> Option<&Map<String, Value>> {
    if let Some(Value::Object(event)) = obj.get("Event") {
        if event.get("System").is_some_and(Value::is_object)
            || event.contains_key("EventData")
            || event.contains_key("UserData")
        {
            return Some(event);
        }
    }
    obj.get("System")
        .is_some_and(Value::is_object)
        .then_some(obj)
}

fn event_xml<'a>(obj: &'a Map<String, Value>, out: &mut Vec<(Cow<'a, str>, &'a Value)>) {
    let root = event_xml_root(obj).unwrap_or(obj);
    for (key, value) in root {
        match key.as_str() {
            // Only the xmlns.
            "#attributes" => {}
            "System" => system(value, out),
            "EventData" => event_data(value, out),
            "UserData" => user_data(value, out),
            _ => element(Naming::Data, Cow::Borrowed(key), value, 1, out),
        }
    }
    // Fields a tool put next to the `Event` wrapper (a source file name,
    // say) are kept, with dots.
    if !std::ptr::eq(root, obj) {
        for (key, value) in obj {
            if key != "Event" {
                dotted(Cow::Borrowed(key), value, 0, out);
            }
        }
    }
}

/// Which names the attributes of an element get.
#[derive(Clone, Copy)]
enum Naming {
    /// System's conventions: `SystemTime`, `ExecutionProcessID`, else
    /// `<Element>_<Attribute>`.
    System,
    /// `<Element>_<Attribute>`.
    Data,
}

fn system<'a>(value: &'a Value, out: &mut Vec<(Cow<'a, str>, &'a Value)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                element(Naming::System, Cow::Borrowed(key), child, 1, out);
            }
        }
        _ => out.push((Cow::Borrowed("System"), value)),
    }
}

/// One XML element rendered as JSON: a scalar, array or null is its value;
/// an object has its text under `#text` (emitted under the element's own
/// name), its attributes under `#attributes` and child elements as members
/// (emitted with dots).
fn element<'a>(
    naming: Naming,
    name: Cow<'a, str>,
    value: &'a Value,
    depth: usize,
    out: &mut Vec<(Cow<'a, str>, &'a Value)>,
) {
    let map = match value {
        Value::Object(map) if !map.is_empty() && depth < MAX_DEPTH => map,
        _ => {
            out.push((name, value));
            return;
        }
    };
    for (key, child) in map {
        match key.as_str() {
            "#text" => out.push((name.clone(), child)),
            "#attributes" => match child {
                Value::Object(attributes) => {
                    for (attribute, attribute_value) in attributes {
                        out.push((attribute_name(naming, &name, attribute), attribute_value));
                    }
                }
                _ => out.push((join(&name, key), child)),
            },
            _ => element(naming, join(&name, key), child, depth + 1, out),
        }
    }
}

/// The Sigma name of attribute `attribute` of element `element`. The
/// common System ones are static strings, so the hot path allocates nothing.
fn attribute_name<'a>(naming: Naming, element: &str, attribute: &str) -> Cow<'a, str> {
    let fixed = match (naming, element, attribute) {
        (Naming::System, "Provider", "Name") => "Provider_Name",
        (Naming::System, "Provider", "Guid") => "Provider_Guid",
        (Naming::System, "Provider", "EventSourceName") => "Provider_EventSourceName",
        (Naming::System, "TimeCreated", "SystemTime") => "SystemTime",
        (Naming::System, "Execution", "ProcessID") => "ExecutionProcessID",
        (Naming::System, "Execution", "ThreadID") => "ExecutionThreadID",
        (Naming::System, "Security", "UserID") => "Security_UserID",
        (Naming::System, "Correlation", "ActivityID") => "Correlation_ActivityID",
        (Naming::System, "EventID", "Qualifiers") => "EventID_Qualifiers",
        (Naming::System, "Execution", _) => {
            return Cow::Owned(format!("Execution{attribute}"));
        }
        _ => return Cow::Owned(format!("{element}_{attribute}")),
    };
    Cow::Borrowed(fixed)
}

fn event_data<'a>(value: &'a Value, out: &mut Vec<(Cow<'a, str>, &'a Value)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match key.as_str() {
                    // E.g. the DNS server's `Name="DNS_EVENT_PLUGIN_INIT_FAILED"`:
                    // describes the template, not the event.
                    "#attributes" => {}
                    "#text" => out.push((Cow::Borrowed("EventData"), child)),
                    "Data" => data(child, out),
                    _ => {
                        element(Naming::Data, Cow::Borrowed(key), child, 1, out);
                        // Defender writes `Threat Name`, `New Value`; Sigma
                        // rules say `ThreatName`, `NewValue`: give both.
                        if key.contains(' ') {
                            out.push((Cow::Owned(key.replace(' ', "")), child));
                        }
                    }
                }
            }
        }
        // `<EventData />`: nothing to emit.
        Value::Null => {}
        _ => out.push((Cow::Borrowed("EventData"), value)),
    }
}

/// An EventData `Data` member. evtx 0.15 writes named `Data` elements as
/// EventData members directly and unnamed ones as `Data: {"#text": value or
/// [values]}`; other renderers keep `Data` as a list of `{"#attributes":
/// {"Name": N}, "#text": V}`. Both come out the same way: named values by
/// name, unnamed ones as `Data`.
fn data<'a>(value: &'a Value, out: &mut Vec<(Cow<'a, str>, &'a Value)>) {
    match value {
        Value::Array(items) => {
            let mut unnamed = false;
            for item in items {
                match named_data(item) {
                    Some((name, value)) => out.push((Cow::Borrowed(name), value)),
                    None => unnamed = true,
                }
            }
            if unnamed {
                out.push((Cow::Borrowed("Data"), value));
            }
        }
        Value::Object(map) => {
            if let Some((name, value)) = named_data(value) {
                out.push((Cow::Borrowed(name), value));
            } else if let Some(text) = map.get("#text") {
                out.push((Cow::Borrowed("Data"), text));
            } else {
                element(Naming::Data, Cow::Borrowed("Data"), value, 2, out);
            }
        }
        _ => out.push((Cow::Borrowed("Data"), value)),
    }
}

/// `{"#attributes": {"Name": N}, "#text": V}` as `(N, V)`; an element with
/// no text is null.
fn named_data(item: &Value) -> Option<(&str, &Value)> {
    let map = item.as_object()?;
    let name = map.get("#attributes")?.get("Name")?.as_str()?;
    if name.is_empty() {
        return None;
    }
    Some((name, map.get("#text").unwrap_or(&NULL)))
}

/// UserData holds one element named after the event's template
/// (`LogFileCleared`, `EventXML`, `DriverAdded`, ...) with an xmlns; its
/// children are the fields.
fn user_data<'a>(value: &'a Value, out: &mut Vec<(Cow<'a, str>, &'a Value)>) {
    match value {
        Value::Object(map) => {
            for (wrapper_name, wrapper) in map {
                if wrapper_name == "#attributes" {
                    continue;
                }
                let Value::Object(fields) = wrapper else {
                    out.push((Cow::Borrowed(wrapper_name), wrapper));
                    continue;
                };
                for (key, child) in fields {
                    match key.as_str() {
                        "#attributes" => {}
                        "#text" => out.push((Cow::Borrowed(wrapper_name), child)),
                        _ => element(Naming::Data, Cow::Borrowed(key), child, 2, out),
                    }
                }
            }
        }
        Value::Null => {}
        _ => out.push((Cow::Borrowed("UserData"), value)),
    }
}

// ---------------------------------------------------------------- Winlogbeat

/// Sigma name, then the record paths it is read from, first present wins.
/// The second paths are ECS fallbacks (`event.code`, `host.name`) or
/// Winlogbeat 6 names (`log_name`, `source_name`, ...).
const WINLOGBEAT_FIELDS: &[(&str, &[&str])] = &[
    ("EventID", &["winlog.event_id", "event.code", "event_id"]),
    ("Channel", &["winlog.channel", "log_name"]),
    ("Provider_Name", &["winlog.provider_name", "source_name"]),
    ("Provider_Guid", &["winlog.provider_guid", "provider_guid"]),
    (
        "Computer",
        &["winlog.computer_name", "computer_name", "host.name"],
    ),
    ("EventRecordID", &["winlog.record_id", "record_number"]),
    ("ExecutionProcessID", &["winlog.process.pid", "process_id"]),
    (
        "ExecutionThreadID",
        &["winlog.process.thread.id", "thread_id"],
    ),
    (
        "Security_UserID",
        &["winlog.user.identifier", "user.identifier"],
    ),
];

/// Where the event's own fields are; each member is emitted by its name.
const WINLOGBEAT_DATA: &[&str] = &[
    "winlog.event_data",
    "winlog.user_data",
    "event_data",
    "user_data",
];

fn winlogbeat<'a>(obj: &'a Map<String, Value>, out: &mut Vec<(Cow<'a, str>, &'a Value)>) {
    for path in WINLOGBEAT_DATA {
        if let Some(Value::Object(fields)) = lookup(obj, path) {
            for (key, value) in fields {
                dotted(Cow::Borrowed(key), value, 1, out);
            }
        }
    }
    // Exports that flattened the document already: `"winlog.event_data.Image"`.
    for (key, value) in obj {
        let rest = key
            .strip_prefix("winlog.event_data.")
            .or_else(|| key.strip_prefix("winlog.user_data."));
        if let Some(rest) = rest.filter(|rest| !rest.is_empty()) {
            dotted(Cow::Borrowed(rest), value, 1, out);
        }
    }
    for (target, paths) in WINLOGBEAT_FIELDS {
        if let Some(value) = paths.iter().find_map(|path| lookup(obj, path)) {
            out.push((Cow::Borrowed(target), value));
        }
    }
    for (key, value) in obj {
        dotted(Cow::Borrowed(key), value, 0, out);
    }
}

/// The value at dotted `path`, whether the record nests it
/// (`{"winlog": {"channel": ..}}`), writes it as one dotted key
/// (`{"winlog.channel": ..}`) or mixes the two.
fn lookup<'a>(obj: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(value) = obj.get(path) {
        return Some(value);
    }
    for (dot, _) in path.match_indices('.') {
        if let Some(Value::Object(child)) = obj.get(&path[..dot]) {
            if let Some(value) = lookup(child, &path[dot + 1..]) {
                return Some(value);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
