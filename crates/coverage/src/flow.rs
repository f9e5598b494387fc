//! Attack Flows as paths to replay: the actions with an ATT&CK technique and
//! the edges between them. Files are read by the Attack Flow importer of
//! `killchain_anticipate::flow` (builder `.afb` files and STIX bundles, AND /
//! OR operators and conditions collapsed); here actions without a technique
//! are passed through (A -> x -> B becomes A -> B) and paths are enumerated.

use std::collections::BTreeSet;

use crate::error::Issue;

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

/// The replayable part of an imported Attack Flow (`killchain_anticipate`
/// reads `.afb` builder files and STIX bundles, operators collapsed): the
/// actions with an ATT&CK technique, and edges between them, passing through
/// actions without one. `input` names the file in the issue that lists the
/// actions passed through.
pub fn from_attack_flow(f: &killchain_anticipate::flow::Flow, input: &str) -> (Flow, Vec<Issue>) {
    let mut flow = Flow {
        name: f.name.clone(),
        ..Flow::default()
    };
    let mut index = vec![None; f.actions.len()];
    let mut untagged: Vec<&str> = Vec::new();
    for (i, a) in f.actions.iter().enumerate() {
        match &a.technique {
            Some(t) => {
                index[i] = Some(flow.actions.len());
                flow.actions.push(Action {
                    id: a.id.clone(),
                    name: a.name.clone(),
                    technique: t.clone(),
                });
            }
            None => untagged.push(&a.name),
        }
    }
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); f.actions.len()];
    for &(a, b) in &f.edges {
        succ[a].push(b);
    }
    let mut edges = BTreeSet::new();
    for (a, from) in index.iter().enumerate() {
        let Some(from) = *from else { continue };
        let mut stack: Vec<usize> = succ[a].clone();
        let mut seen = vec![false; f.actions.len()];
        seen[a] = true;
        while let Some(n) = stack.pop() {
            if std::mem::replace(&mut seen[n], true) {
                continue;
            }
            match index[n] {
                Some(to) => {
                    edges.insert((from, to));
                }
                None => stack.extend(&succ[n]),
            }
        }
    }
    flow.edges = edges.into_iter().collect();
    let mut issues = Vec::new();
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
    (flow, issues)
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
        for s in starts {
            walk(s, &succ, &mut out, limit, &mut truncated);
        }
        (out, truncated)
    }
}

/// Depth-first from `start`: every simple path to a node with no unvisited
/// successor, in successor order, until `limit` paths. Iterative, with an
/// on-path mark per node: flows of any length (a recursive walk overflowed
/// the stack on a chain of some 100,000 actions).
fn walk(
    start: usize,
    succ: &[Vec<usize>],
    out: &mut Vec<Vec<usize>>,
    limit: usize,
    truncated: &mut bool,
) {
    let mut path: Vec<usize> = Vec::new();
    let mut on_path = vec![false; succ.len()];
    // Per node on the path: its successors off the path and how many of
    // them have been entered.
    let mut frames: Vec<(Vec<usize>, usize)> = Vec::new();
    let mut enter = Some(start);
    loop {
        if let Some(node) = enter.take() {
            if out.len() >= limit {
                *truncated = true;
            } else {
                path.push(node);
                on_path[node] = true;
                let next: Vec<usize> = succ[node]
                    .iter()
                    .copied()
                    .filter(|&x| !on_path[x])
                    .collect();
                if next.is_empty() {
                    out.push(path.clone());
                    on_path[node] = false;
                    path.pop();
                } else {
                    frames.push((next, 0));
                }
            }
        }
        let Some((next, entered)) = frames.last_mut() else {
            break;
        };
        if let Some(&x) = next.get(*entered) {
            *entered += 1;
            enter = Some(x);
        } else {
            frames.pop();
            if let Some(node) = path.pop() {
                on_path[node] = false;
            }
        }
    }
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
    fn a_long_chain_is_one_path_without_overflowing_the_stack() {
        let n = 200_000;
        let f = Flow {
            name: "chain".into(),
            actions: (0..n)
                .map(|i| Action {
                    id: i.to_string(),
                    name: i.to_string(),
                    technique: "T1059".into(),
                })
                .collect(),
            edges: (1..n).map(|i| (i - 1, i)).collect(),
        };
        let (p, cut) = f.paths(10);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].len(), n);
        assert!(!cut);
    }

    #[test]
    fn actions_without_a_technique_are_passed_through() {
        use killchain_anticipate::flow as af;
        let action = |id: &str, t: Option<&str>| af::Action {
            id: id.into(),
            name: id.into(),
            technique: t.map(String::from),
            tactic: None,
        };
        let f = af::Flow {
            name: "f".into(),
            source: "f.afb".into(),
            actions: vec![
                action("a", Some("T1566.001")),
                action("x", None),
                action("b", Some("T1059.001")),
            ],
            edges: vec![(0, 1), (1, 2)],
        };
        let (flow, issues) = from_attack_flow(&f, "f.afb");
        assert_eq!(flow.actions.len(), 2);
        assert_eq!(flow.edges, vec![(0, 1)]);
        assert_eq!(issues.len(), 1);
        assert!(
            issues[0].to_string().contains("passed through"),
            "{}",
            issues[0]
        );
    }
}
