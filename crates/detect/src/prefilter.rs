//! The cross-rule prefilter: for most rules some literal must occur in some
//! field for the rule to match at all (`CommandLine|contains: 'mimikatz'`).
//! Those literals are gathered per field into one Aho-Corasick automaton;
//! per event, each field is scanned once and only rules whose literal was
//! seen (plus rules with no such literal) are evaluated.
//!
//! A requirement is a set of (field, literal) pairs of which at least one
//! must occur, derived from the condition: `and` keeps the most selective
//! side, `or` / `1 of` unions both sides (or gives up when a side has none),
//! `not` gives up. It is a necessary condition only; the rule's full logic
//! still decides. Literals are lower-cased: for case-sensitive (`cased`)
//! values, lower-case containment is still necessary.

use aho_corasick::{packed, AhoCorasick, AhoCorasickKind, MatchKind, Span};
use rayon::prelude::*;

use crate::compile::{Cond, Det, Item, ItemTest, Logic, Need};
use crate::matcher::{lower, FieldId, Matcher, StrOp};

/// The pseudo-field of keyword selections: "any string value of the event".
/// No event field has this name; its scan covers every value.
pub(crate) const KEYWORDS_FIELD: &str = "\u{1}keywords";

/// At least one of these (field, lower-cased literal) must occur.
pub(crate) type Requirement = Vec<(FieldId, Box<str>)>;

/// The requirement of a rule's logic, if it has one.
/// `kw` is the id of [`KEYWORDS_FIELD`]: keyword selections need one of
/// their literals in some value of the event.
pub(crate) fn requirement(logic: &Logic, kw: FieldId) -> Option<Requirement> {
    union(logic.conds.iter().map(|c| cond_req(c, logic, kw)))
}

fn cond_req(c: &Cond, logic: &Logic, kw: FieldId) -> Option<Requirement> {
    match c {
        Cond::Det(i) => det_req(&logic.dets[*i], kw),
        Cond::And(xs) => best(xs.iter().map(|x| cond_req(x, logic, kw))),
        Cond::Or(xs) => union(xs.iter().map(|x| cond_req(x, logic, kw))),
        Cond::Not(_) => None,
        Cond::Of { need, dets } => {
            let reqs = dets.iter().map(|&d| det_req(&logic.dets[d], kw));
            match need {
                Need::All => best(reqs),
                Need::Any | Need::AtLeast(_) => union(reqs),
            }
        }
    }
}

fn det_req(d: &Det, kw: FieldId) -> Option<Requirement> {
    match d {
        Det::All(items) => best(items.iter().map(item_req)),
        Det::Any(ds) => union(ds.iter().map(|d| det_req(d, kw))),
        Det::And(ds) => best(ds.iter().map(|d| det_req(d, kw))),
        Det::Keywords(m) => Some(matcher_lits(m)?.into_iter().map(|l| (kw, l)).collect()),
    }
}

fn item_req(item: &Item) -> Option<Requirement> {
    let ItemTest::Match(m) = &item.test else {
        return None;
    };
    let lits = matcher_lits(m)?;
    Some(lits.into_iter().map(|l| (item.field, l)).collect())
}

/// Literals one of which the matcher needs in the text.
fn matcher_lits(m: &Matcher) -> Option<Vec<Box<str>>> {
    let lit = |s: &str| -> Option<Vec<Box<str>>> { (!s.is_empty()).then(|| vec![lower(s).into()]) };
    match m {
        Matcher::Str { op, needle, .. } => match op {
            StrOp::Exact | StrOp::Contains | StrOp::StartsWith | StrOp::EndsWith => lit(needle),
        },
        Matcher::Contains { finder, .. } => std::str::from_utf8(finder.needle()).ok().and_then(lit),
        Matcher::Glob { glob, .. } => glob.longest_literal().and_then(lit),
        Matcher::Any(ms) => {
            let mut out = Vec::new();
            for m in ms {
                out.extend(matcher_lits(m)?);
            }
            Some(out)
        }
        // Every value must match: any single one's literals are necessary.
        Matcher::All(ms) => ms.iter().filter_map(matcher_lits).max_by_key(|l| score(l)),
        _ => None,
    }
}

/// How selective a set of alternatives is: its shortest literal's length
/// (a short literal matches almost anything), then fewer alternatives.
fn score(lits: &[Box<str>]) -> (usize, std::cmp::Reverse<usize>) {
    let shortest = lits.iter().map(|l| l.len()).min().unwrap_or(0);
    (shortest.min(16), std::cmp::Reverse(lits.len()))
}

fn best(reqs: impl Iterator<Item = Option<Requirement>>) -> Option<Requirement> {
    reqs.flatten().max_by_key(|r| {
        let lits: Vec<Box<str>> = r.iter().map(|(_, l)| l.clone()).collect();
        score(&lits)
    })
}

fn union(reqs: impl Iterator<Item = Option<Requirement>>) -> Option<Requirement> {
    let mut out = Vec::new();
    for r in reqs {
        out.extend(r?);
    }
    out.sort();
    out.dedup();
    (!out.is_empty()).then_some(out)
}

/// Finds every literal of a set that occurs in a text (overlapping ones
/// too). Up to a few dozen literals, aho-corasick's packed SIMD searcher
/// (Teddy) finds candidate positions many times faster than an automaton
/// walking every byte; it reports leftmost matches only, so each position
/// it stops at is checked against every literal and the search resumes one
/// byte further. Larger sets use an overlapping automaton.
#[derive(Debug, Clone)]
pub(crate) enum LiteralScan {
    Packed {
        searcher: packed::Searcher,
        literals: Vec<Box<[u8]>>,
    },
    Automaton(AhoCorasick),
}

impl LiteralScan {
    /// `None` when `literals` is empty or the automaton cannot be built.
    pub(crate) fn new(literals: &[&str]) -> Option<LiteralScan> {
        if literals.is_empty() {
            return None;
        }
        let packed = packed::Config::new()
            .match_kind(packed::MatchKind::LeftmostFirst)
            .builder()
            .extend(literals)
            .build();
        if let Some(searcher) = packed {
            return Some(LiteralScan::Packed {
                searcher,
                literals: literals.iter().map(|l| l.as_bytes().into()).collect(),
            });
        }
        // A DFA scans fastest; it is worth its build time only up to a size.
        let kind = if literals.len() <= 400 {
            AhoCorasickKind::DFA
        } else {
            AhoCorasickKind::ContiguousNFA
        };
        AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(kind))
            .build(literals)
            .or_else(|_| AhoCorasick::new(literals))
            .ok()
            .map(LiteralScan::Automaton)
    }

    /// Calls `found` with the index of every literal occurring in `text`
    /// (possibly more than once per literal).
    #[inline]
    pub(crate) fn each_present(&self, text: &str, mut found: impl FnMut(usize)) {
        let hay = text.as_bytes();
        match self {
            LiteralScan::Packed { searcher, literals } => {
                let mut at = 0;
                while at < hay.len() {
                    let Some(m) = searcher.find_in(hay, Span::from(at..hay.len())) else {
                        break;
                    };
                    let start = m.start();
                    for (i, lit) in literals.iter().enumerate() {
                        if hay[start..].starts_with(lit) {
                            found(i);
                        }
                    }
                    at = start + 1;
                }
            }
            LiteralScan::Automaton(automaton) => {
                for m in automaton.find_overlapping_iter(hay) {
                    found(m.pattern().as_usize());
                }
            }
        }
    }
}

/// Per field: one scanner over every rule's literals for that field.
#[derive(Debug, Clone)]
pub(crate) struct FieldScan {
    pub(crate) field: FieldId,
    pub(crate) scan: LiteralScan,
    /// Literal index -> rules needing it.
    pub(crate) rules: Vec<Vec<u32>>,
    /// Every rule that needs some literal of this field (for non-string values).
    pub(crate) all_rules: Vec<u32>,
}

/// Builds the per-field scanners from (rule, requirement) pairs. Scanners
/// are case-sensitive over lower-cased literals: the engine scans
/// lower-cased text (keywords included: all of an event's strings are
/// lower-cased into one buffer), which lets aho-corasick use its fast
/// literal searchers (an ASCII-case-insensitive automaton cannot).
pub(crate) fn build(reqs: &[(u32, Requirement)]) -> Vec<FieldScan> {
    use std::collections::BTreeMap;
    let mut by_field: BTreeMap<FieldId, BTreeMap<Box<str>, Vec<u32>>> = BTreeMap::new();
    for (rule, req) in reqs {
        for (field, lit) in req {
            by_field
                .entry(*field)
                .or_default()
                .entry(lit.clone())
                .or_default()
                .push(*rule);
        }
    }
    // One scanner per field, built in parallel (they are independent; the
    // largest fields dominate rule loading).
    let fields: Vec<_> = by_field.into_iter().collect();
    fields
        .into_par_iter()
        .filter_map(|(field, lits)| {
            let patterns: Vec<&str> = lits.keys().map(|k| &**k).collect();
            let scan = LiteralScan::new(&patterns)?;
            let mut rules: Vec<Vec<u32>> = lits.into_values().collect();
            for r in &mut rules {
                r.sort_unstable();
                r.dedup();
            }
            let mut all_rules: Vec<u32> = rules.iter().flatten().copied().collect();
            all_rules.sort_unstable();
            all_rules.dedup();
            Some(FieldScan {
                field,
                scan,
                rules,
                all_rules,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn present(lits: &[&str], text: &str) -> Vec<usize> {
        let scan = LiteralScan::new(lits).unwrap();
        let mut out = Vec::new();
        scan.each_present(text, |i| out.push(i));
        out.sort_unstable();
        out.dedup();
        out
    }

    #[test]
    fn finds_overlapping_and_same_start_literals() {
        // Few literals: the packed searcher; many: the automaton. Both must
        // report literals hidden inside or starting with another.
        let few = ["lsadump::", "lsa", "dump", "sekurlsa::"];
        assert_eq!(present(&few, "x sekurlsa::lsadump:: y"), [0, 1, 2, 3]);
        assert_eq!(present(&few, "nothing here"), Vec::<usize>::new());
        let many: Vec<String> = (0..300).map(|i| format!("lit{i:03}x")).collect();
        let mut lits: Vec<&str> = many.iter().map(String::as_str).collect();
        lits.extend(few);
        assert!(matches!(
            LiteralScan::new(&lits).unwrap(),
            LiteralScan::Automaton(_)
        ));
        assert_eq!(
            present(&lits, "sekurlsa::lsadump:: lit007x"),
            [7, 300, 301, 302, 303]
        );
    }
}
