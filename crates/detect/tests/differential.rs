//! Differential test: killchain's Sigma engine against rsigma-eval (the
//! oracle) on the SigmaHQ Windows rules over the OTRF Windows host logs in
//! `../shared/data`. Logsource routing is off on both sides, so every rule
//! meets every event and the comparison covers the detection logic alone.
//!
//! Every (event, rule) pair where the two disagree must be listed, with its
//! reason, in `tests/differential-known.txt` (intended differences: where
//! killchain follows the Sigma specification / pySigma and rsigma does
//! not). An unlisted difference fails the test; so does a listed one that
//! no longer occurs (the list stays true).
//!
//! `KILLCHAIN_DIFF_EVENTS` sets the events taken per dataset (default 1500).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use killchain_detect::{Engine, JsonEvent, Options, Outcome, Pipeline, Scratch};

#[test]
fn sigmahq_windows_rules_agree_with_rsigma_on_otrf_logs() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let per_dataset: usize = std::env::var("KILLCHAIN_DIFF_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1500);
    let sigma = data.join("sigma");
    let texts = common::rule_texts(&sigma.join("rules/windows"), &sigma);

    // Ours, without routing; all statuses so the rule sets are the same.
    let opts = Options {
        routing: false,
        selection: killchain_detect::Selection::everything(),
    };
    let (ours, report) = Engine::build(&texts, &Pipeline::builtin(), &opts);

    // The oracle.
    let mut oracle = rsigma_eval::Engine::new();
    let mut oracle_ids = BTreeSet::new();
    for t in &texts {
        let Ok(c) = rsigma_parser::parse_sigma_yaml(&t.text) else {
            continue;
        };
        for r in &c.rules {
            if oracle.add_rule(r).is_ok() {
                if let Some(id) = &r.id {
                    oracle_ids.insert(id.clone());
                }
            }
        }
    }
    let ours_ids: BTreeSet<String> = ours.rules().filter_map(|r| r.id.clone()).collect();
    let common_ids: BTreeSet<&String> = ours_ids.intersection(&oracle_ids).collect();
    eprintln!(
        "differential: {} rule documents, ours {} ({}), oracle {} loaded, compared {}",
        report.entries.len(),
        ours.len(),
        report.summary(),
        oracle_ids.len(),
        common_ids.len()
    );
    for e in &report.entries {
        if let Outcome::Unsupported(r) | Outcome::Invalid(r) = &e.outcome {
            eprintln!("  not loaded: {} ({}): {r}", e.path, e.title);
        }
    }
    // Rules the oracle loads and we do not must be explained in the report.
    assert!(
        ours.len() * 100 >= oracle_ids.len() * 99,
        "we load {} rules, rsigma {}",
        ours.len(),
        oracle_ids.len()
    );

    let known = known_differences();
    let mut seen_known: BTreeSet<String> = BTreeSet::new();
    let mut unexplained: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut events = 0usize;
    let mut agreed = 0usize;
    let mut scratch = Scratch::default();
    let mut hits = Vec::new();
    for zip in common::otrf_windows_zips(&data) {
        let name = zip.file_name().unwrap().to_string_lossy().into_owned();
        for (n, ev) in common::zip_events(&zip, per_dataset).iter().enumerate() {
            events += 1;
            hits.clear();
            ours.evaluate(&JsonEvent(ev), &mut scratch, &mut hits);
            let a: BTreeSet<&str> = hits
                .iter()
                .filter_map(|&i| ours.rule(i).id.as_deref())
                .filter(|id| common_ids.contains(&id.to_string()))
                .collect();
            let b: BTreeSet<String> = oracle
                .evaluate(&rsigma_eval::event::JsonEvent::borrow(ev))
                .into_iter()
                .filter_map(|m| m.header.rule_id)
                .filter(|id| common_ids.contains(id))
                .collect();
            let b: BTreeSet<&str> = b.iter().map(String::as_str).collect();
            agreed += a.intersection(&b).count();
            for (id, side) in a
                .difference(&b)
                .map(|id| (id, "killchain only"))
                .chain(b.difference(&a).map(|id| (id, "rsigma only")))
            {
                if known.contains_key(*id) {
                    seen_known.insert(id.to_string());
                } else {
                    unexplained
                        .entry(format!("{id} ({side})"))
                        .or_default()
                        .push(format!("{name} event {n}"));
                }
            }
        }
    }
    eprintln!(
        "differential: {events} events, {agreed} matches agreed, {} known differences seen, {} unexplained",
        seen_known.len(),
        unexplained.len()
    );
    for (rule, where_) in &unexplained {
        let title = ours
            .rules()
            .find(|r| rule.starts_with(r.id.as_deref().unwrap_or("-")))
            .map(|r| r.title.clone())
            .unwrap_or_default();
        eprintln!(
            "  {rule} {title}: {} events, e.g. {}",
            where_.len(),
            where_[0]
        );
    }
    assert!(events > 10_000, "too few events: {events}");
    assert!(agreed > 100, "too few matches to compare: {agreed}");
    assert!(
        unexplained.is_empty(),
        "unexplained differences (see stderr)"
    );
    // With the default sample every listed difference must still occur.
    if per_dataset == 1500 {
        let stale: Vec<&String> = known.keys().filter(|k| !seen_known.contains(*k)).collect();
        assert!(
            stale.is_empty(),
            "known differences that no longer occur: {stale:?}"
        );
    }
}

/// `tests/differential-known.txt`: `<rule id> <reason>` per line.
fn known_differences() -> HashMap<String, String> {
    include_str!("differential-known.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .map(|(id, why)| (id.to_string(), why.trim().to_string()))
        .collect()
}
