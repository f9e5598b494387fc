//! Attack Flow import: CTID Attack Flow builder files (`.afb`, schema
//! `attack_flow_v2`) and STIX 2.1 bundles with the attack-flow extension,
//! reduced to what the next-move model learns from: the actions (technique
//! and tactic IDs) and the edges between them.
//!
//! Operators (AND / OR) and conditions sit between actions in both formats;
//! they are collapsed into direct action -> action edges (an action leads to
//! every action reachable through operators and conditions only). Assets,
//! observables and notes are not part of the action graph and are ignored.
//!
//! Errors: a file that is not JSON or not an Attack Flow is an `Err` naming
//! the file; a bad object inside a usable file (an action with a malformed
//! technique ID, an edge to nowhere) is a [`FlowWarning`] naming the file, the
//! object and the reason, and the rest of the file is kept.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::AnticipateError;

/// One attack flow: actions and the action -> action edges between them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    /// The flow's name (the builder's `flow` object, the STIX `attack-flow`),
    /// else the file name.
    pub name: String,
    /// The file it came from: flows of one file are one incident, held out
    /// together in evaluation.
    pub source: String,
    pub actions: Vec<Action>,
    /// (from, to) indexes into `actions`, sorted, without duplicates or self-loops.
    pub edges: Vec<(usize, usize)>,
}

/// One attack action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// The object ID in the file (builder instance UUID, STIX id).
    pub id: String,
    pub name: String,
    /// Technique ID, normalised (`T1059.001`; `1598.003` becomes `T1598.003`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub technique: Option<String>,
    /// Tactic ID (`TA0002`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tactic: Option<String>,
}

/// A bad object inside a usable flow file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowWarning {
    pub file: String,
    /// The object's ID (or `objects[N]` when it has none).
    pub object: String,
    pub reason: String,
}

impl std::fmt::Display for FlowWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.object, self.reason)
    }
}

/// What one file yielded.
#[derive(Debug, Clone, Default)]
pub struct FlowFile {
    pub flows: Vec<Flow>,
    pub warnings: Vec<FlowWarning>,
}

/// Parse an Attack Flow file, builder (`.afb`) or STIX bundle, told apart by
/// content. `file` names it in flows, errors and warnings.
pub fn parse_flow_file(bytes: &[u8], file: &str) -> Result<FlowFile, AnticipateError> {
    let root: Value = serde_json::from_slice(bytes).map_err(|source| AnticipateError::Json {
        input: file.to_string(),
        source,
    })?;
    let not_a_flow = |reason: &str| AnticipateError::NotAFlow {
        input: file.to_string(),
        reason: reason.to_string(),
    };
    let obj = root
        .as_object()
        .ok_or_else(|| not_a_flow("the top level is not a JSON object"))?;
    if let Some(schema) = obj.get("schema").and_then(Value::as_str) {
        if !schema.starts_with("attack_flow") {
            return Err(not_a_flow(&format!(
                "builder schema {schema:?} is not attack_flow_v2"
            )));
        }
        return parse_afb(&root, file);
    }
    if obj.get("type").and_then(Value::as_str) == Some("bundle") {
        return parse_stix(&root, file);
    }
    Err(not_a_flow(
        "neither an Attack Flow builder file (\"schema\": \"attack_flow_v2\") nor a STIX bundle",
    ))
}

/// `T1059.001`, `t1059.001`, `1059.001` -> `T1059.001`; anything else is not a technique ID.
pub fn normalise_technique(raw: &str) -> Option<String> {
    let s = raw.trim().to_ascii_uppercase();
    let s = if s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("T{s}")
    } else {
        s
    };
    let rest = s.strip_prefix('T')?;
    let (base, sub) = match rest.split_once('.') {
        Some((b, s)) => (b, Some(s)),
        None => (rest, None),
    };
    let digits = |x: &str, n: usize| x.len() == n && x.bytes().all(|b| b.is_ascii_digit());
    (digits(base, 4) && sub.is_none_or(|x| digits(x, 3))).then_some(s)
}

/// `TA0002` (any case) -> `TA0002`; anything else is not a tactic ID.
pub fn normalise_tactic(raw: &str) -> Option<String> {
    let s = raw.trim().to_ascii_uppercase();
    let rest = s.strip_prefix("TA")?;
    (rest.len() == 4 && rest.bytes().all(|b| b.is_ascii_digit())).then_some(s)
}

/// Node kinds between actions that edges are collapsed through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Action(usize),
    /// Operator or condition: passed through.
    Link,
    /// Anything else (asset, observable, note): a dead end.
    Other,
}

/// Collapse a graph over nodes into action -> action edges: from each action,
/// every action reachable through `Link` nodes only.
fn collapse(
    nodes: &HashMap<String, Node>,
    succ: &HashMap<String, Vec<String>>,
) -> Vec<(usize, usize)> {
    let mut edges = BTreeSet::new();
    for (id, node) in nodes {
        let Node::Action(from) = *node else { continue };
        let mut stack: Vec<&str> = succ
            .get(id)
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        while let Some(x) = stack.pop() {
            if !seen.insert(x) {
                continue;
            }
            match nodes.get(x) {
                Some(Node::Action(to)) if *to != from => {
                    edges.insert((from, *to));
                }
                Some(Node::Link) => {
                    stack.extend(succ.get(x).into_iter().flatten().map(String::as_str));
                }
                _ => {}
            }
        }
    }
    edges.into_iter().collect()
}

/// Technique and tactic of an action from explicit fields, checked; a
/// malformed value is a warning and left out.
fn checked_ids(
    technique: Option<&str>,
    tactic: Option<&str>,
    file: &str,
    object: &str,
    warnings: &mut Vec<FlowWarning>,
) -> (Option<String>, Option<String>) {
    let mut warn = |reason: String| {
        warnings.push(FlowWarning {
            file: file.to_string(),
            object: object.to_string(),
            reason,
        })
    };
    let technique = technique.filter(|s| !s.trim().is_empty()).and_then(|t| {
        let n = normalise_technique(t);
        if n.is_none() {
            warn(format!(
                "technique {t:?} is not an ATT&CK technique ID (left out)"
            ));
        }
        n
    });
    let tactic = tactic.filter(|s| !s.trim().is_empty()).and_then(|t| {
        let n = normalise_tactic(t);
        if n.is_none() {
            warn(format!(
                "tactic {t:?} is not an ATT&CK tactic ID (left out)"
            ));
        }
        n
    });
    (technique, tactic)
}

/// One object of a builder file (the fields we use).
#[derive(Debug, Deserialize)]
struct AfbObject {
    id: String,
    instance: String,
    /// `[[key, value], ...]`.
    #[serde(default)]
    properties: Vec<(String, Value)>,
    /// Anchor angle -> anchor instance.
    #[serde(default)]
    anchors: BTreeMap<String, String>,
    /// Anchor objects: the latches attached to them.
    #[serde(default)]
    latches: Vec<String>,
    /// Lines: source and target latch.
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    target: Option<String>,
}

impl AfbObject {
    fn prop(&self, key: &str) -> Option<&Value> {
        self.properties
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }
    fn prop_str(&self, key: &str) -> Option<&str> {
        self.prop(key).and_then(Value::as_str)
    }
    /// `ttp: [["tactic", "TA0001"], ["technique", "T1566.001"]]`.
    fn ttp(&self, key: &str) -> Option<&str> {
        self.prop("ttp")?
            .as_array()?
            .iter()
            .filter_map(Value::as_array)
            .find(|pair| pair.first().and_then(Value::as_str) == Some(key))?
            .get(1)?
            .as_str()
    }
}

/// Builder files: objects are nodes (action, condition, AND_operator,
/// OR_operator, asset, ...), each with anchors; anchors hold latches; a
/// `dynamic_line` joins a source latch to a target latch.
fn parse_afb(root: &Value, file: &str) -> Result<FlowFile, AnticipateError> {
    // Version 1 builder files are laid out differently: refuse, do not guess.
    if let Some(schema) = root.get("schema").and_then(Value::as_str) {
        if schema != "attack_flow_v2" {
            return Err(AnticipateError::NotAFlow {
                input: file.to_string(),
                reason: format!("schema {schema:?} is not attack_flow_v2"),
            });
        }
    }
    let raw = root
        .get("objects")
        .and_then(Value::as_array)
        .ok_or_else(|| AnticipateError::NotAFlow {
            input: file.to_string(),
            reason: "builder file without an \"objects\" array".into(),
        })?;
    let mut warnings = Vec::new();
    let mut objects = Vec::with_capacity(raw.len());
    for (i, v) in raw.iter().enumerate() {
        match AfbObject::deserialize(v) {
            Ok(o) => objects.push(o),
            Err(e) => warnings.push(FlowWarning {
                file: file.to_string(),
                object: object_name(v, i),
                reason: format!("unreadable object: {e}"),
            }),
        }
    }
    let mut name = None;
    let mut actions = Vec::new();
    let mut nodes: HashMap<String, Node> = HashMap::new();
    let mut anchor_owner: HashMap<&str, &str> = HashMap::new();
    let mut latch_anchor: HashMap<&str, &str> = HashMap::new();
    let mut instances: BTreeSet<&str> = BTreeSet::new();
    for o in &objects {
        // A second object with an instance ID already used would take over
        // the first one's anchors and node without a word.
        if !instances.insert(&o.instance) {
            warnings.push(FlowWarning {
                file: file.to_string(),
                object: format!("{} {}", o.id, o.instance),
                reason: "has the instance ID of an earlier object (left out)".into(),
            });
            continue;
        }
        for a in o.anchors.values() {
            anchor_owner.insert(a, &o.instance);
        }
        for l in &o.latches {
            latch_anchor.insert(l, &o.instance);
        }
        let node = match o.id.as_str() {
            "flow" => {
                name = o.prop_str("name").map(str::to_string);
                continue;
            }
            "action" => {
                let (technique, tactic) = checked_ids(
                    o.prop_str("technique_id").or_else(|| o.ttp("technique")),
                    o.prop_str("tactic_id").or_else(|| o.ttp("tactic")),
                    file,
                    &format!("action {}", o.instance),
                    &mut warnings,
                );
                actions.push(Action {
                    id: o.instance.clone(),
                    name: o.prop_str("name").unwrap_or_default().to_string(),
                    technique,
                    tactic,
                });
                Node::Action(actions.len() - 1)
            }
            "condition" | "AND_operator" | "OR_operator" | "asset" => Node::Link,
            "dynamic_line" | "generic_latch" | "generic_handle" | "horizontal_anchor"
            | "vertical_anchor" => continue,
            _ => Node::Other,
        };
        nodes.insert(o.instance.clone(), node);
    }
    let owner = |latch: &str| latch_anchor.get(latch).and_then(|a| anchor_owner.get(a));
    let mut succ: HashMap<String, Vec<String>> = HashMap::new();
    for o in objects.iter().filter(|o| o.id == "dynamic_line") {
        let from = o.source.as_deref().and_then(owner);
        let to = o.target.as_deref().and_then(owner);
        match (from, to) {
            (Some(f), Some(t)) => succ.entry(f.to_string()).or_default().push(t.to_string()),
            _ => warnings.push(FlowWarning {
                file: file.to_string(),
                object: format!("line {}", o.instance),
                reason: format!(
                    "{} end is not attached to any object (edge left out)",
                    if from.is_none() { "source" } else { "target" }
                ),
            }),
        }
    }
    Ok(single_flow(file, name, actions, &nodes, &succ, warnings))
}

/// STIX bundles: `attack-action` (technique_id, tactic_id, effect_refs),
/// `attack-condition` (on_true_refs, on_false_refs), `attack-operator`
/// (effect_refs), `attack-flow` (name). All actions of a bundle form one flow.
fn parse_stix(root: &Value, file: &str) -> Result<FlowFile, AnticipateError> {
    let raw = root
        .get("objects")
        .and_then(Value::as_array)
        .ok_or_else(|| AnticipateError::NotAFlow {
            input: file.to_string(),
            reason: "STIX bundle without an \"objects\" array".into(),
        })?;
    let mut warnings = Vec::new();
    let mut name = None;
    let mut actions = Vec::new();
    let mut nodes: HashMap<String, Node> = HashMap::new();
    let mut succ: HashMap<String, Vec<String>> = HashMap::new();
    let mut saw_flow = false;
    for (i, v) in raw.iter().enumerate() {
        let (Some(kind), Some(id)) = (
            v.get("type").and_then(Value::as_str),
            v.get("id").and_then(Value::as_str),
        ) else {
            warnings.push(FlowWarning {
                file: file.to_string(),
                object: object_name(v, i),
                reason: "STIX object without a string \"type\" and \"id\" (left out)".into(),
            });
            continue;
        };
        // A second object with an ID already used would replace the first
        // one's edges without a word.
        if kind != "attack-flow" && nodes.contains_key(id) {
            warnings.push(FlowWarning {
                file: file.to_string(),
                object: id.to_string(),
                reason: format!("objects[{i}] has the ID of an earlier object (left out)"),
            });
            continue;
        }
        let refs = |keys: &[&str]| -> Vec<String> {
            keys.iter()
                .filter_map(|k| v.get(*k).and_then(Value::as_array))
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        };
        let node = match kind {
            "attack-flow" => {
                saw_flow = true;
                if name.is_none() {
                    name = v.get("name").and_then(Value::as_str).map(str::to_string);
                }
                continue;
            }
            "attack-action" => {
                let (technique, tactic) = checked_ids(
                    v.get("technique_id").and_then(Value::as_str),
                    v.get("tactic_id").and_then(Value::as_str),
                    file,
                    id,
                    &mut warnings,
                );
                actions.push(Action {
                    id: id.to_string(),
                    name: v
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    technique,
                    tactic,
                });
                succ.insert(id.to_string(), refs(&["effect_refs"]));
                Node::Action(actions.len() - 1)
            }
            "attack-condition" => {
                succ.insert(id.to_string(), refs(&["on_true_refs", "on_false_refs"]));
                Node::Link
            }
            "attack-operator" => {
                succ.insert(id.to_string(), refs(&["effect_refs"]));
                Node::Link
            }
            _ => Node::Other,
        };
        nodes.insert(id.to_string(), node);
    }
    if !saw_flow && actions.is_empty() {
        return Err(AnticipateError::NotAFlow {
            input: file.to_string(),
            reason: "STIX bundle without attack-flow or attack-action objects".into(),
        });
    }
    let mut dangling: Vec<(&String, &String)> = succ
        .iter()
        .flat_map(|(from, tos)| tos.iter().map(move |t| (from, t)))
        .filter(|(_, t)| !nodes.contains_key(*t))
        .collect();
    dangling.sort();
    for (from, to) in dangling {
        warnings.push(FlowWarning {
            file: file.to_string(),
            object: from.clone(),
            reason: format!("refers to {to}, which is not in the bundle (edge left out)"),
        });
    }
    Ok(single_flow(file, name, actions, &nodes, &succ, warnings))
}

fn object_name(v: &Value, i: usize) -> String {
    ["instance", "id"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .map(str::to_string)
        .unwrap_or_else(|| format!("objects[{i}]"))
}

/// A file holding one flow: its actions, the collapsed edges, and the
/// warnings met while reading it; unnamed flows take the file's stem.
fn single_flow(
    file: &str,
    name: Option<String>,
    actions: Vec<Action>,
    nodes: &HashMap<String, Node>,
    succ: &HashMap<String, Vec<String>>,
    warnings: Vec<FlowWarning>,
) -> FlowFile {
    FlowFile {
        flows: vec![Flow {
            name: name.unwrap_or_else(|| file_stem(file)),
            source: file.to_string(),
            actions,
            edges: collapse(nodes, succ),
        }],
        warnings,
    }
}

fn file_stem(file: &str) -> String {
    let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
    base.rsplit_once('.')
        .map_or(base, |(stem, _)| stem)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn technique_ids_are_normalised_or_refused() {
        assert_eq!(
            normalise_technique("t1059.001").as_deref(),
            Some("T1059.001")
        );
        assert_eq!(
            normalise_technique("1598.003").as_deref(),
            Some("T1598.003")
        );
        assert_eq!(normalise_technique(" T1190 ").as_deref(), Some("T1190"));
        assert_eq!(normalise_technique("T11900"), None);
        assert_eq!(normalise_technique("T1059.01"), None);
        assert_eq!(normalise_technique("Phishing"), None);
        assert_eq!(normalise_tactic("ta0002").as_deref(), Some("TA0002"));
        assert_eq!(normalise_tactic("TA02"), None);
    }

    #[test]
    fn not_json_and_not_a_flow_name_the_file() {
        let e = parse_flow_file(b"{", "x.afb").unwrap_err().to_string();
        assert!(e.starts_with("x.afb: invalid JSON"), "{e}");
        let e = parse_flow_file(b"[1]", "y.json").unwrap_err().to_string();
        assert!(e.contains("y.json: not an Attack Flow"), "{e}");
        let e = parse_flow_file(br#"{"schema":"other"}"#, "z.afb")
            .unwrap_err()
            .to_string();
        assert!(e.contains("attack_flow_v2"), "{e}");
    }

    #[test]
    fn stix_operators_and_conditions_collapse() {
        let bundle = br#"{"type":"bundle","id":"bundle--1","objects":[
          {"type":"attack-flow","id":"attack-flow--1","name":"F","start_refs":["attack-action--a"]},
          {"type":"attack-action","id":"attack-action--a","technique_id":"T1566.001","tactic_id":"TA0001","effect_refs":["attack-condition--c"]},
          {"type":"attack-condition","id":"attack-condition--c","on_true_refs":["attack-operator--o"],"on_false_refs":["attack-action--d"]},
          {"type":"attack-operator","id":"attack-operator--o","operator":"AND","effect_refs":["attack-action--b","attack-asset--x"]},
          {"type":"attack-asset","id":"attack-asset--x"},
          {"type":"attack-action","id":"attack-action--b","technique_id":"1059.001","effect_refs":["attack-action--missing"]},
          {"type":"attack-action","id":"attack-action--d","technique_id":"bogus"}
        ]}"#;
        let f = parse_flow_file(bundle, "b.json").unwrap();
        let flow = &f.flows[0];
        assert_eq!(flow.name, "F");
        assert_eq!(flow.actions.len(), 3);
        assert_eq!(flow.actions[1].technique.as_deref(), Some("T1059.001"));
        assert_eq!(flow.actions[2].technique, None);
        assert_eq!(flow.edges, vec![(0, 1), (0, 2)]);
        let w: Vec<String> = f.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w
            .iter()
            .any(|w| w.contains("b.json: attack-action--d: technique \"bogus\"")));
        assert!(w.iter().any(|w| w.contains("attack-action--missing")));
    }

    #[test]
    fn a_repeated_stix_id_is_a_warning_and_the_first_object_stays() {
        let bundle = br#"{"type":"bundle","id":"bundle--1","objects":[
          {"type":"attack-flow","id":"attack-flow--1","name":"F"},
          {"type":"attack-action","id":"attack-action--a","technique_id":"T1566.001","effect_refs":["attack-action--b"]},
          {"type":"attack-action","id":"attack-action--b","technique_id":"T1059.001"},
          {"type":"attack-action","id":"attack-action--a","technique_id":"T1003.001"}
        ]}"#;
        let f = parse_flow_file(bundle, "dup.json").unwrap();
        let flow = &f.flows[0];
        assert_eq!(flow.actions.len(), 2);
        assert_eq!(flow.actions[0].technique.as_deref(), Some("T1566.001"));
        assert_eq!(flow.edges, vec![(0, 1)]);
        let w: Vec<String> = f.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("dup.json: attack-action--a:"), "{w:?}");
        assert!(w[0].contains("ID of an earlier object"), "{w:?}");
    }
}
