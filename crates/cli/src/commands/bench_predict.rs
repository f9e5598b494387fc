//! `killchain bench predict`: next-move predictions per second, single
//! thread, next to a floor measured in the same run: a bigram predictor
//! (resolve the IDs, look up the followers of the last technique in a hash
//! map, sort them), the cheapest learned predictor there is. Measured:
//! `rank` (the next tactic and technique distributions) and the full
//! `predict` (plus phases, adversaries, countermeasures, playbooks, evidence).
//! Queries are the prefixes (up to 12 actions) of the flows given, in file
//! order. Runs alternate and the best of each is kept.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Result};
use killchain_anticipate::fit::fit_weights;
use killchain_anticipate::model::{resolve_flows, Predictor, Weights};
use killchain_anticipate::{Anticipator, Observed, PredictOptions};
use serde_json::json;

use super::predict::{load_playbooks, read_flows};
use crate::cli::{BenchPredictArgs, GlobalOpts};
use crate::context;

pub fn run(global: &GlobalOpts, args: BenchPredictArgs) -> Result<ExitCode> {
    let ctx = context::load(global)?;
    let kb = &ctx.kb;
    let read = read_flows(&args.flows)?;
    let queries: Vec<Observed> = read
        .flows
        .iter()
        .flat_map(|f| {
            let ids: Vec<&str> = f
                .actions
                .iter()
                .filter_map(|a| a.technique.as_deref())
                .collect();
            (1..=ids.len().min(12))
                .map(|n| Observed::techniques(&ids[..n]))
                .collect::<Vec<_>>()
        })
        .collect();
    if queries.is_empty() {
        bail!(
            "no queries: the flows in {:?} have no actions with techniques",
            args.flows
        );
    }
    let (resolved, _) = resolve_flows(kb, &read.flows);
    let weights = fit_weights(kb, &resolved, Weights::default());
    let t = Instant::now();
    let predictor = Predictor::train(kb, &resolved, weights);
    let train_s = t.elapsed().as_secs_f64();
    let anticipator = Anticipator::new(
        predictor,
        &ctx.models,
        load_playbooks(global, &[], &ctx)?,
        PredictOptions::default(),
    );
    // The floor's model: technique -> follower counts.
    let mut bigram: HashMap<usize, HashMap<usize, u32>> = HashMap::new();
    for f in &resolved {
        for &(a, b) in &f.edges {
            if let (Some(x), Some(y)) = (f.steps[a].technique, f.steps[b].technique) {
                *bigram.entry(x).or_default().entry(y).or_default() += 1;
            }
        }
    }
    let n = queries.len() as f64;
    let (mut floor, mut rank, mut full) = (f64::MAX, f64::MAX, f64::MAX);
    let mut sink = 0usize;
    for _ in 0..args.runs.max(1) {
        let t = Instant::now();
        for q in &queries {
            let last = q
                .steps
                .iter()
                .rev()
                .find_map(|s| s.technique.as_deref().and_then(|id| kb.technique_by_id(id)));
            let mut v: Vec<(usize, u32)> = last
                .and_then(|(t, _)| bigram.get(&t))
                .map(|m| m.iter().map(|(&k, &c)| (k, c)).collect())
                .unwrap_or_default();
            v.sort_by(|a, b| {
                b.1.cmp(&a.1)
                    .then_with(|| kb.technique(a.0).id.cmp(&kb.technique(b.0).id))
            });
            v.truncate(10);
            sink += v.len();
        }
        floor = floor.min(t.elapsed().as_secs_f64());

        let t = Instant::now();
        for q in &queries {
            let (steps, _, _) = anticipator.resolve(q);
            let r = anticipator.predictor().rank(&steps);
            sink += r.top_techniques(kb, 10).len() + r.top_tactics(kb, 10).len();
        }
        rank = rank.min(t.elapsed().as_secs_f64());

        let t = Instant::now();
        for q in &queries {
            sink += anticipator.predict(q).next_techniques.len();
        }
        full = full.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(sink);
    let info = anticipator.predictor().info().clone();
    if args.json {
        println!(
            "{}",
            json!({
                "bench": "predict", "queries": queries.len(), "runs": args.runs.max(1),
                "flows": info.flows, "edges": info.edges, "train_seconds": train_s,
                "floor_per_s": n / floor, "rank_per_s": n / rank, "predict_per_s": n / full,
                "rank_ratio_to_floor": floor / rank, "predict_ratio_to_floor": floor / full,
            })
        );
    } else {
        println!(
            "bench predict: {} queries (flow prefixes), model of {} flows / {} edges + {} ATT&CK entities, trained in {:.1} ms, best of {} runs, 1 thread",
            queries.len(),
            info.flows,
            info.edges,
            info.procedures,
            train_s * 1e3,
            args.runs.max(1)
        );
        println!(
            "  {:<44} {:>12.0} predictions/s",
            "floor (bigram lookup + sort)",
            n / floor
        );
        println!(
            "  {:<44} {:>12.0} predictions/s  ({:.2}% of floor)",
            "rank (next tactic + technique distributions)",
            n / rank,
            floor / rank * 100.0
        );
        println!(
            "  {:<44} {:>12.0} predictions/s  ({:.2}% of floor)",
            "predict (full report, no JSON)",
            n / full,
            floor / full * 100.0
        );
    }
    Ok(ExitCode::SUCCESS)
}
