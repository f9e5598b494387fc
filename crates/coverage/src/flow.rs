//! A small reader for CTID Attack Flow builder files (`.afb`, schema
//! `attack_flow_v2`): the action nodes with their ATT&CK technique and the
//! edges between actions. Everything else in the graph (operators, conditions,
//! assets, tools, actions without a technique) is collapsed: an edge
//! A -> x -> B through such nodes becomes A -> B. Self-contained on purpose,
//! so it can be replaced by the full Attack Flow importer later.
//!
//! The builder file stores edges as `dynamic_line` objects from one latch to
//! another; a latch belongs to an anchor (`anchor.latches`), an anchor to a
//! node (`node.anchors`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;

use crate::error::{CoverageError, Issue};

/// One ATT&CK action of a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// The builder's instance id.
    pub id: String,
    pub name: String,
    /// The technique ID as written (`T1566.001`).
    pub technique: String,
}

/// A flow: actions and action -> action edges (indexes into `actions`).
#[derive(Debug, Clone, Default)]
pub struct Flow {
    pub name: String,
    pub actions: Vec<Action>,
    pub edges: Vec<(usize, usize)>,
}

#[derive(Debug, Deserialize)]
struct AfbFile {
    schema: String,
    objects: Vec<Value>,
}

fn prop<'a>(o: &'a Value, key: &str) -> Option<&'a Value> {
    o.get("properties")?
        .as_array()?
        .iter()
        .find(|p| p.get(0).and_then(Value::as_str) == Some(key))
        .and_then(|p| p.get(1))
}

fn prop_str<'a>(o: &'a Value, key: &str) -> Option<&'a str> {
    prop(o, key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The technique of an action: `technique_id`, else `ttp.technique`.
fn technique(o: &Value) -> Option<String> {
    prop_str(o, "technique_id").map(String::from).or_else(|| {
        prop(o, "ttp")?
            .as_array()?
            .iter()
            .find(|p| p.get(0).and_then(Value::as_str) == Some("technique"))
            .and_then(|p| p.get(1))
            .and_then(Value::as_str)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    })
}

/// Parses a builder file; `input` names it in errors. Problems with single
/// objects come back as issues.
pub fn parse_afb(bytes: &[u8], input: &str) -> Result<(Flow, Vec<Issue>), CoverageError> {
    let file: AfbFile = serde_json::from_slice(bytes).map_err(|source| CoverageError::Json {
        input: input.to_string(),
        source,
    })?;
    if file.schema != "attack_flow_v2" {
        return Err(CoverageError::Format {
            input: input.to_string(),
            reason: format!("schema {:?} is not attack_flow_v2", file.schema),
        });
    }
    let mut issues = Vec::new();
    let mut by_instance: BTreeMap<&str, &Value> = BTreeMap::new();
    for o in &file.objects {
        if let Some(i) = o.get("instance").and_then(Value::as_str) {
            by_instance.insert(i, o);
        }
    }
    let mut flow = Flow::default();
    // Node instance -> action index, for action nodes with a technique.
    let mut action_of: BTreeMap<&str, usize> = BTreeMap::new();
    // Actions without a technique (passed through), named once at the end.
    let mut untagged: Vec<String> = Vec::new();
    // Latch -> node instance.
    let mut latch_node: BTreeMap<&str, &str> = BTreeMap::new();
    for o in &file.objects {
        let (Some(kind), Some(inst)) = (
            o.get("id").and_then(Value::as_str),
            o.get("instance").and_then(Value::as_str),
        ) else {
            continue;
        };
        if kind == "flow" {
            flow.name = prop_str(o, "name").unwrap_or_default().to_string();
        }
        if let Some(anchors) = o.get("anchors").and_then(Value::as_object) {
            for a in anchors.values().filter_map(Value::as_str) {
                let latches = by_instance
                    .get(a)
                    .and_then(|x| x.get("latches"))
                    .and_then(Value::as_array);
                for l in latches.into_iter().flatten().filter_map(Value::as_str) {
                    latch_node.insert(l, inst);
                }
            }
        }
        if kind == "action" {
            let name = prop_str(o, "name")
                .unwrap_or("(unnamed action)")
                .to_string();
            match technique(o) {
                Some(t) => {
                    action_of.insert(inst, flow.actions.len());
                    flow.actions.push(Action {
                        id: inst.to_string(),
                        name,
                        technique: t,
                    });
                }
                None => untagged.push(name),
            }
        }
    }
    // Node -> node edges.
    let mut succ: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for o in &file.objects {
        if o.get("id").and_then(Value::as_str) != Some("dynamic_line") {
            continue;
        }
        let end = |k: &str| {
            o.get(k)
                .and_then(Value::as_str)
                .and_then(|l| latch_node.get(l).copied())
        };
        match (end("source"), end("target")) {
            (Some(s), Some(t)) => {
                succ.entry(s).or_default().insert(t);
            }
            _ => issues.push(Issue {
                input: input.to_string(),
                record: format!(
                    "line {}",
                    o.get("instance").and_then(Value::as_str).unwrap_or("?")
                ),
                reason: "an end is not attached to a node; edge ignored".into(),
                skipped: true,
            }),
        }
    }
    // Collapse: from each action, the actions reached through non-action nodes.
    let mut edges = BTreeSet::new();
    for (&inst, &a) in &action_of {
        let mut stack: Vec<&str> = succ.get(inst).into_iter().flatten().copied().collect();
        let mut seen: BTreeSet<&str> = BTreeSet::from([inst]);
        while let Some(n) = stack.pop() {
            if !seen.insert(n) {
                continue;
            }
            match action_of.get(n) {
                Some(&b) => {
                    edges.insert((a, b));
                }
                None => stack.extend(succ.get(n).into_iter().flatten().copied()),
            }
        }
    }
    flow.edges = edges.into_iter().collect();
    if !untagged.is_empty() {
        let n = untagged.len();
        untagged.truncate(3);
        issues.push(Issue {
            input: input.to_string(),
            record: format!(
                "{n} actions ({}{})",
                untagged.join(", "),
                if n > 3 { ", ..." } else { "" }
            ),
            reason: "no ATT&CK technique; passed through".into(),
            skipped: false,
        });
    }
    Ok((flow, issues))
}

impl Flow {
    /// Every path from an action without predecessors to one without
    /// successors, as action indexes; at most `limit` paths (the bool says
    /// whether paths were left out). A cycle is cut where it closes.
    pub fn paths(&self, limit: usize) -> (Vec<Vec<usize>>, bool) {
        let n = self.actions.len();
        let mut succ = vec![Vec::new(); n];
        let mut indeg = vec![0usize; n];
        for &(a, b) in &self.edges {
            succ[a].push(b);
            indeg[b] += 1;
        }
        let mut starts: Vec<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
        if starts.is_empty() && n > 0 {
            // All in cycles: start anywhere.
            starts.push(0);
        }
        let mut out = Vec::new();
        let mut truncated = false;
        let mut path = Vec::new();
        for s in starts {
            walk(s, &succ, &mut path, &mut out, limit, &mut truncated);
        }
        (out, truncated)
    }
}

fn walk(
    node: usize,
    succ: &[Vec<usize>],
    path: &mut Vec<usize>,
    out: &mut Vec<Vec<usize>>,
    limit: usize,
    truncated: &mut bool,
) {
    if out.len() >= limit {
        *truncated = true;
        return;
    }
    path.push(node);
    let next: Vec<usize> = succ[node]
        .iter()
        .copied()
        .filter(|x| !path.contains(x))
        .collect();
    if next.is_empty() {
        out.push(path.clone());
    } else {
        for x in next {
            walk(x, succ, path, out, limit, truncated);
        }
    }
    path.pop();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_enumerate_a_diamond() {
        let f = Flow {
            name: "d".into(),
            actions: (0..4)
                .map(|i| Action {
                    id: i.to_string(),
                    name: i.to_string(),
                    technique: "T1059".into(),
                })
                .collect(),
            edges: vec![(0, 1), (0, 2), (1, 3), (2, 3)],
        };
        let (p, cut) = f.paths(10);
        assert_eq!(p, vec![vec![0, 1, 3], vec![0, 2, 3]]);
        assert!(!cut);
        let (p, cut) = f.paths(1);
        assert_eq!(p.len(), 1);
        assert!(cut);
    }

    #[test]
    fn wrong_schema_is_an_error_naming_the_file() {
        let e = parse_afb(br#"{"schema":"x","objects":[]}"#, "f.afb").unwrap_err();
        assert!(e.to_string().starts_with("f.afb: schema"), "{e}");
        let e = parse_afb(b"{", "g.afb").unwrap_err();
        assert!(e.to_string().starts_with("g.afb: not valid JSON"), "{e}");
    }
}
