//! What was seen before each action of a flow, for all actions at once.
//!
//! Training (`model::repeat_rates`), the weight fit and the evaluation need,
//! for every edge `a -> b`, the history of `a`: its ancestors, farthest
//! first (by BFS distance, then index), then `a` ([`model::history`]). One
//! BFS and sort per edge made a flow of n actions cost O(n²) (a 32k-action
//! chain took seconds). [`Histories`] builds all histories in one pass and
//! walks them with one shared buffer, so the histories of a chain cost O(n):
//!
//! - in a DAG, if every predecessor of `a` has the same strict history
//!   (the same *trail*), `a`'s strict history is that trail plus its
//!   predecessors in index order: they are all at distance 1 and the rest
//!   one farther than from any of them. A chain (one predecessor each) and
//!   a sequence timeline (every action of a row linked to every action of
//!   the next) are built entirely this way, one trail per step or row;
//! - any other action (predecessors with different pasts, a cycle) gets its
//!   history from the BFS, as before, as a trail of its own.
//!
//! Trails form a forest; a depth-first walk pushes each trail's actions on
//! entry and pops them on exit, so each history is a slice of one buffer.
//! `tests` check every action's history against the BFS on generated flows.
//!
//! [`model::history`]: crate::model::history

use std::collections::HashMap;

use crate::model::{ancestors, predecessors, ResolvedFlow, Step};

/// A run of actions appended to a parent trail: the strict history of the
/// actions that own it is the parent's actions, then these.
#[derive(Debug)]
struct Trail {
    parent: Option<usize>,
    actions: Vec<usize>,
    children: Vec<usize>,
    /// Actions whose strict history this trail is.
    owners: Vec<usize>,
}

/// The histories of every action of one flow.
#[derive(Debug)]
pub struct Histories<'f> {
    flow: &'f ResolvedFlow,
    trails: Vec<Trail>,
    /// Actions with nothing before them (in index order).
    roots: Vec<usize>,
    /// Actions pushed on the trails plus actions visited by fallback BFS:
    /// the work of building, for tests and benches.
    work: usize,
}

/// One action's history during a walk: the steps (oldest first, the
/// action itself last) and where each technique was last met.
#[derive(Debug)]
pub struct History<'w> {
    steps: &'w [Step],
    last: &'w HashMap<usize, Vec<usize>>,
    distinct: usize,
}

impl<'w> History<'w> {
    /// The steps, oldest first; the last is the action itself.
    pub fn steps(&self) -> &'w [Step] {
        self.steps
    }
    /// Steps back (0 = the action itself) of the most recent occurrence of
    /// `technique`, if it occurs.
    pub fn back(&self, technique: usize) -> Option<usize> {
        let pos = *self.last.get(&technique)?.last()?;
        Some(self.steps.len() - 1 - pos)
    }
    /// Distinct techniques in the history.
    pub fn distinct(&self) -> usize {
        self.distinct
    }
}

impl<'f> Histories<'f> {
    /// Build the trails of `flow` (near-linear for chains and timelines).
    pub fn new(flow: &'f ResolvedFlow) -> Self {
        let n = flow.steps.len();
        let preds = predecessors(flow);
        // Kahn's topological order; actions on or after a cycle stay out.
        let mut indegree: Vec<usize> = preds.iter().map(Vec::len).collect();
        let mut succ = vec![Vec::new(); n];
        for (b, ps) in preds.iter().enumerate() {
            for &a in ps {
                succ[a].push(b);
            }
        }
        let mut order: Vec<usize> = (0..n).filter(|&a| indegree[a] == 0).collect();
        let mut i = 0;
        while let Some(&x) = order.get(i) {
            i += 1;
            for &s in &succ[x] {
                indegree[s] -= 1;
                if indegree[s] == 0 {
                    order.push(s);
                }
            }
        }
        let mut h = Histories {
            flow,
            trails: Vec::new(),
            roots: Vec::new(),
            work: 0,
        };
        // Strict history of each action: None = empty (no predecessors).
        let mut prefix: Vec<Option<usize>> = vec![None; n];
        let mut done = vec![false; n];
        let mut memo: HashMap<(Option<usize>, Vec<usize>), usize> = HashMap::new();
        for &a in &order {
            done[a] = true;
            let mut p = preds[a].clone();
            p.sort_unstable();
            p.dedup();
            let Some(&first) = p.first() else {
                h.roots.push(a);
                continue;
            };
            let g = prefix[first];
            let t = if p.iter().all(|&x| prefix[x] == g) {
                match memo.get(&(g, p.clone())) {
                    Some(&t) => t,
                    None => {
                        let t = h.add_trail(g, p.clone());
                        memo.insert((g, p), t);
                        t
                    }
                }
            } else {
                h.fallback(&preds, a)
            };
            prefix[a] = Some(t);
            h.trails[t].owners.push(a);
        }
        for a in (0..n).filter(|&a| !done[a]) {
            let t = h.fallback(&preds, a);
            h.trails[t].owners.push(a);
        }
        h
    }

    fn add_trail(&mut self, parent: Option<usize>, actions: Vec<usize>) -> usize {
        let t = self.trails.len();
        self.work += actions.len();
        if let Some(p) = parent {
            self.trails[p].children.push(t);
        }
        self.trails.push(Trail {
            parent,
            actions,
            children: Vec::new(),
            owners: Vec::new(),
        });
        t
    }

    /// A trail of its own for `a`, from the BFS.
    fn fallback(&mut self, preds: &[Vec<usize>], a: usize) -> usize {
        let anc = ancestors(preds, a);
        self.work += anc.len();
        self.add_trail(None, anc)
    }

    /// Work done building (actions pushed on trails, including by BFS):
    /// about n for a chain or a timeline of n actions, up to n² when every
    /// action merges different pasts.
    pub fn work(&self) -> usize {
        self.work
    }

    /// Call `f(action, history)` for every action, in walk order (not
    /// index order).
    pub fn walk(&self, mut f: impl FnMut(usize, &History)) {
        let steps = &self.flow.steps;
        let mut w = Walker::default();
        for &a in &self.roots {
            w.push(steps[a]);
            f(a, &w.view());
            w.pop();
        }
        enum Ev {
            Enter(usize),
            Exit(usize),
        }
        let mut stack: Vec<Ev> = (0..self.trails.len())
            .rev()
            .filter(|&t| self.trails[t].parent.is_none())
            .map(Ev::Enter)
            .collect();
        while let Some(ev) = stack.pop() {
            match ev {
                Ev::Enter(t) => {
                    let trail = &self.trails[t];
                    trail.actions.iter().for_each(|&i| w.push(steps[i]));
                    for &a in &trail.owners {
                        w.push(steps[a]);
                        f(a, &w.view());
                        w.pop();
                    }
                    stack.push(Ev::Exit(t));
                    stack.extend(trail.children.iter().rev().map(|&c| Ev::Enter(c)));
                }
                Ev::Exit(t) => self.trails[t].actions.iter().for_each(|_| w.pop()),
            }
        }
    }
}

/// The shared buffer of a walk and where each technique was last pushed.
#[derive(Default)]
struct Walker {
    buf: Vec<Step>,
    last: HashMap<usize, Vec<usize>>,
    distinct: usize,
}

impl Walker {
    fn push(&mut self, s: Step) {
        if let Some(t) = s.technique {
            let v = self.last.entry(t).or_default();
            self.distinct += usize::from(v.is_empty());
            v.push(self.buf.len());
        }
        self.buf.push(s);
    }
    fn pop(&mut self) {
        let Some(s) = self.buf.pop() else { return };
        if let Some(v) = s.technique.and_then(|t| self.last.get_mut(&t)) {
            v.pop();
            self.distinct -= usize::from(v.is_empty());
        }
    }
    fn view(&self) -> History<'_> {
        History {
            steps: &self.buf,
            last: &self.last,
            distinct: self.distinct,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::history;

    fn flow(n: usize, edges: Vec<(usize, usize)>) -> ResolvedFlow {
        ResolvedFlow {
            source: "f".into(),
            name: "f".into(),
            steps: (0..n)
                .map(|i| Step {
                    technique: (i % 5 != 4).then_some(i % 7),
                    tactic: Some(i),
                })
                .collect(),
            edges,
        }
    }

    /// Every action's walked history equals the BFS one, and `back` /
    /// `distinct` agree with a scan of it.
    fn check(f: &ResolvedFlow) -> usize {
        let preds = predecessors(f);
        let h = Histories::new(f);
        let mut seen = vec![false; f.steps.len()];
        h.walk(|a, hist| {
            assert!(!seen[a], "action {a} walked twice");
            seen[a] = true;
            let want = history(f, &preds, a);
            assert_eq!(hist.steps(), want.as_slice(), "action {a} of {:?}", f.edges);
            let mut distinct: Vec<usize> = want.iter().filter_map(|s| s.technique).collect();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(hist.distinct(), distinct.len());
            for t in 0..8 {
                let back = want.iter().rev().position(|s| s.technique == Some(t));
                assert_eq!(hist.back(t), back, "technique {t}, action {a}");
            }
        });
        assert!(seen.iter().all(|&x| x), "every action is walked");
        h.work()
    }

    #[test]
    fn walked_histories_equal_the_bfs_on_generated_flows() {
        // Chains, timelines with parallel rows, diamonds, skips, cycles,
        // self-loops, duplicates, and edges out of range.
        let mut r = killchain_testdata::Rng(0x9e37_79b9_7f4a_7c15);
        let mut rnd = |m: usize| r.index(m);
        for case in 0..400 {
            let n = 1 + rnd(14);
            let mut edges = Vec::new();
            for _ in 0..rnd(2 * n + 1) {
                let a = rnd(n + 1);
                let b = if case % 3 == 0 {
                    a + 1 + rnd(2)
                } else {
                    rnd(n + 1)
                };
                edges.push((a, b));
            }
            check(&flow(n, edges));
        }
        check(&flow(
            6,
            vec![(0, 2), (1, 2), (0, 3), (1, 3), (2, 4), (3, 4), (2, 5)],
        ));
        check(&flow(4, vec![(0, 1), (1, 2), (2, 1), (2, 3)]));
    }

    #[test]
    fn a_chain_and_a_timeline_cost_linear_work() {
        let n = 20_000;
        let chain = flow(n, (1..n).map(|i| (i - 1, i)).collect());
        let h = Histories::new(&chain);
        assert_eq!(h.work(), n - 1, "one trail step per action");
        let mut total = 0;
        h.walk(|a, hist| {
            assert_eq!(hist.steps().len(), a + 1);
            total += 1;
        });
        assert_eq!(total, n);
        // Rows of three parallel actions, each linked to every action of the next row.
        let rows = 3000;
        let mut edges = Vec::new();
        for r in 1..rows {
            for a in 0..3 {
                for b in 0..3 {
                    edges.push((3 * (r - 1) + a, 3 * r + b));
                }
            }
        }
        let timeline = flow(3 * rows, edges);
        assert_eq!(Histories::new(&timeline).work(), 3 * (rows - 1));
        // Small ones against the BFS too.
        check(&flow(60, (1..60).map(|i| (i - 1, i)).collect()));
        let small: Vec<(usize, usize)> = timeline
            .edges
            .iter()
            .copied()
            .filter(|&(_, b)| b < 30)
            .collect();
        check(&flow(30, small));
    }
}
