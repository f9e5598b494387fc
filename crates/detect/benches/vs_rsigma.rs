//! Throughput of the detection engine next to rsigma-eval 0.23 on the same
//! events, in one run (`cargo bench -p killchain-detect --bench vs_rsigma`).
//!
//! The SigmaHQ Windows rules over the first `KILLCHAIN_BENCH_EVENTS` (default
//! 50,000) OTRF Windows host events from `../shared/data`, single thread,
//! events parsed once beforehand (parsing is measured separately by
//! `killchain bench hunt`). Rows: killchain with logsource routing (its
//! normal mode), killchain without routing, and rsigma-eval with its cross-rule
//! Aho-Corasick and bloom prefilters on (no logsource routing: its
//! `evaluate_with_logsource` needs a logsource per event, which these JSON
//! events do not carry). Prints events/s and the matches each counted.

use std::time::Instant;

use killchain_detect::{Engine, FieldList, Options, Pipeline, Scratch, Selection};
use killchain_ingest::flatten_windows;

#[path = "../tests/common/mod.rs"]
mod common;

fn main() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let limit: usize = std::env::var("KILLCHAIN_BENCH_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50_000);
    let sigma = data.join("sigma");
    let texts = common::rule_texts(&sigma.join("rules/windows"), &sigma);
    let mut events = Vec::new();
    for zip in common::otrf_windows_zips(&data) {
        events.extend(common::zip_events(&zip, limit - events.len()));
        if events.len() >= limit {
            break;
        }
    }
    let n = events.len() as f64;
    println!(
        "vs_rsigma: {} events, {} rule files",
        events.len(),
        texts.len()
    );

    for routing in [true, false] {
        let opts = Options {
            routing,
            selection: Selection::everything(),
        };
        let (engine, _) = Engine::build(&texts, &Pipeline::builtin(), &opts);
        let mut scratch = Scratch::default();
        let mut hits = Vec::new();
        let mut best = f64::MAX;
        let mut matches = 0;
        for _ in 0..3 {
            let t = Instant::now();
            let mut m = 0;
            for ev in &events {
                let mut fields = Vec::new();
                flatten_windows(ev, &mut fields);
                hits.clear();
                engine.evaluate(&FieldList { fields }, &mut scratch, &mut hits);
                m += hits.len();
            }
            best = best.min(t.elapsed().as_secs_f64());
            matches = m;
        }
        println!(
            "  killchain ({})  {:>9.0} events/s  {matches} matches",
            if routing { "routing   " } else { "no routing" },
            n / best
        );
    }

    let mut oracle = rsigma_eval::Engine::new();
    oracle.set_cross_rule_ac(true);
    oracle.set_bloom_prefilter(true);
    for t in &texts {
        if let Ok(c) = rsigma_parser::parse_sigma_yaml(&t.text) {
            for r in &c.rules {
                let _ = oracle.add_rule(r);
            }
        }
    }
    let mut best = f64::MAX;
    let mut matches = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let mut m = 0;
        for ev in &events {
            m += oracle
                .evaluate(&rsigma_eval::event::JsonEvent::borrow(ev))
                .len();
        }
        best = best.min(t.elapsed().as_secs_f64());
        matches = m;
    }
    println!(
        "  rsigma-eval (AC + bloom)  {:>9.0} events/s  {matches} matches",
        n / best
    );
}
