//! Differential test of Sigma correlation rules: killchain's correlator
//! against rsigma-eval's correlation engine (the oracle) on the OTRF Windows
//! host logs in `../shared/data`, dataset by dataset in event-time order.
//!
//! The rules below cover every correlation type, group-by on one and two
//! fields, and chaining. rsigma runs with `action: reset` (a hit clears the
//! group's window, as killchain always does) and both sides get event time in
//! whole seconds (rsigma's resolution; killchain keeps nanoseconds).
//! Conditions stay within what both define alike (lower bounds; explicit
//! temporal conditions): docs/sigma-correlation.md lists the intended
//! differences (upper bounds judged at the window's end, `temporal` without
//! a condition, one event matching two referenced rules counted once).
//! Every rule has an `id`: rsigma links matches to correlations by id only
//! (killchain also by `name`).

mod common;

use std::collections::BTreeMap;

use killchain_detect::{
    Correlator, Engine, JsonEvent, Options, Outcome, Pipeline, RuleText, Scratch,
};
use rsigma_eval::{CorrelationAction, CorrelationConfig, CorrelationEngine};
use serde_json::Value;

const RULES: &str = r#"
title: Sysmon process
id: 00000000-0000-4000-8000-000000000001
name: proc_sysmon
logsource: {product: windows}
detection:
  sel: {EventID: 1, Channel: Microsoft-Windows-Sysmon/Operational}
  condition: sel
---
title: Security process
id: 00000000-0000-4000-8000-000000000002
name: proc_security
logsource: {product: windows}
detection:
  sel: {EventID: 4688}
  condition: sel
---
title: Network logon
id: 00000000-0000-4000-8000-000000000003
name: logon_network
logsource: {product: windows}
detection:
  sel: {EventID: 4624, LogonType: 3}
  condition: sel
---
title: Logon
id: 00000000-0000-4000-8000-000000000004
name: logon
logsource: {product: windows}
detection:
  sel: {EventID: 4624}
  condition: sel
---
title: Special privileges
id: 00000000-0000-4000-8000-000000000005
name: special_privileges
logsource: {product: windows}
detection:
  sel: {EventID: 4672}
  condition: sel
---
title: Network connection
id: 00000000-0000-4000-8000-000000000006
name: net_connection
logsource: {product: windows}
detection:
  sel: {EventID: 3, Channel: Microsoft-Windows-Sysmon/Operational}
  condition: sel
---
title: Registry value set
id: 00000000-0000-4000-8000-000000000007
name: registry_set
logsource: {product: windows}
detection:
  sel: {EventID: 13, Channel: Microsoft-Windows-Sysmon/Operational}
  condition: sel
---
title: File created
id: 00000000-0000-4000-8000-000000000008
name: file_created
logsource: {product: windows}
detection:
  sel: {EventID: 11, Channel: Microsoft-Windows-Sysmon/Operational}
  condition: sel
---
title: Script block
id: 00000000-0000-4000-8000-000000000009
name: script_block
logsource: {product: windows}
detection:
  sel: {EventID: 4104}
  condition: sel
---
title: C1 process burst
id: 00000000-0000-4000-8000-000000000010
name: c1
correlation:
  type: event_count
  rules: [proc_sysmon]
  group-by: [Hostname]
  timespan: 1m
  condition: {gte: 8}
---
title: C2 many images
id: 00000000-0000-4000-8000-000000000011
name: c2
correlation:
  type: value_count
  rules: [proc_sysmon]
  group-by: [Hostname]
  timespan: 5m
  condition: {field: Image, gte: 10}
---
title: C3 accounts per source
id: 00000000-0000-4000-8000-000000000012
correlation:
  type: value_count
  rules: [logon]
  group-by: [IpAddress]
  timespan: 10m
  condition: {field: TargetUserName, gte: 2}
---
title: C4 privileged logon
id: 00000000-0000-4000-8000-000000000013
correlation:
  type: temporal
  rules: [special_privileges, logon]
  group-by: [Hostname, SubjectLogonId]
  timespan: 10s
  condition: {gte: 2}
---
title: C5 network logon then process
id: 00000000-0000-4000-8000-000000000014
correlation:
  type: temporal_ordered
  rules: [logon_network, proc_security]
  group-by: [Hostname]
  timespan: 1m
  condition: {gte: 2}
---
title: C6 connections to one destination
id: 00000000-0000-4000-8000-000000000015
correlation:
  type: event_count
  rules: [net_connection]
  group-by: [Hostname, DestinationIp]
  timespan: 30s
  condition: {gte: 10}
---
title: C7 persistence-like mix
id: 00000000-0000-4000-8000-000000000016
correlation:
  type: temporal
  rules: [registry_set, file_created, script_block]
  group-by: [Hostname]
  timespan: 1m
  condition: {gte: 2}
---
title: C8 repeated bursts
id: 00000000-0000-4000-8000-000000000017
correlation:
  type: event_count
  rules: [c1]
  group-by: [Hostname]
  timespan: 1h
  condition: {gte: 2}
  generate: true
---
title: C9 bursts and many images
id: 00000000-0000-4000-8000-000000000018
correlation:
  type: temporal
  rules: [c1, c2]
  group-by: [Hostname]
  timespan: 1h
  condition: {gte: 2}
  generate: true
"#;

/// (event index, correlation title, group as field=value pairs).
type Fire = (usize, String, Vec<(String, String)>);

#[test]
fn correlations_agree_with_rsigma_on_otrf_logs() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let text = RuleText {
        path: "differential-correlations.yml".into(),
        text: RULES.into(),
    };
    let opts = Options {
        routing: false,
        ..Options::default()
    };
    let (ours, report) = Engine::build(std::slice::from_ref(&text), &Pipeline::builtin(), &opts);
    let bad: Vec<_> = report
        .entries
        .iter()
        .filter(|e| e.outcome != Outcome::Loaded)
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
    assert_eq!(ours.correlations().len(), 9);
    let collection = rsigma_parser::parse_sigma_yaml(RULES).unwrap();

    let mut agreed: BTreeMap<String, usize> = BTreeMap::new();
    let mut differences = Vec::new();
    let mut events_total = 0;
    for zip in common::otrf_windows_zips(&data) {
        let name = zip.file_name().unwrap().to_string_lossy().into_owned();
        let mut events: Vec<(i64, Value)> = common::zip_events(&zip, 5000)
            .into_iter()
            .filter_map(|v| {
                let t = v
                    .get("@timestamp")?
                    .as_str()?
                    .parse::<jiff::Timestamp>()
                    .ok()?;
                Some((t.as_second(), v))
            })
            .collect();
        events.sort_by_key(|(t, _)| *t);
        events_total += events.len();

        let ours_fires = run_ours(&ours, &events);
        let oracle_fires = run_oracle(&collection, &events);
        let mut a = ours_fires.clone();
        let mut b = oracle_fires.clone();
        a.sort();
        b.sort();
        for f in &a {
            if b.contains(f) {
                *agreed.entry(f.1.clone()).or_default() += 1;
            } else {
                differences.push(format!("{name}: killchain only {f:?}"));
            }
        }
        for f in &b {
            if !a.contains(f) {
                differences.push(format!("{name}: rsigma only {f:?}"));
            }
        }
    }
    eprintln!(
        "correlation differential: {events_total} events; hits agreed per correlation: {agreed:?}"
    );
    for d in differences.iter().take(30) {
        eprintln!("  {d}");
    }
    assert!(events_total > 50_000, "too few events: {events_total}");
    // Every correlation type must have been exercised.
    for t in ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8"] {
        assert!(
            agreed.keys().any(|k| k.starts_with(t)),
            "{t} never fired on both sides: {agreed:?}"
        );
    }
    assert!(
        differences.is_empty(),
        "{} differences (see stderr)",
        differences.len()
    );
}

fn run_ours(engine: &Engine, events: &[(i64, Value)]) -> Vec<Fire> {
    let mut corr = Correlator::new(engine);
    let mut scratch = Scratch::default();
    let mut matched = Vec::new();
    let mut hits = Vec::new();
    let mut fires = Vec::new();
    for (i, (t, ev)) in events.iter().enumerate() {
        matched.clear();
        engine.evaluate(&JsonEvent(ev), &mut scratch, &mut matched);
        for &r in &matched {
            if let Some(values) = engine.observe(r, &JsonEvent(ev)) {
                corr.push(t * 1_000_000_000, r, &values, i as u64, &mut hits);
            }
        }
        for h in hits.drain(..) {
            let c = &engine.correlations()[h.correlation];
            let group = h
                .group
                .into_iter()
                .filter_map(|(k, v)| Some((k, v?)))
                .collect();
            fires.push((i, c.info.title.clone(), group));
        }
    }
    fires
}

fn run_oracle(collection: &rsigma_parser::SigmaCollection, events: &[(i64, Value)]) -> Vec<Fire> {
    let config = CorrelationConfig {
        action_on_match: CorrelationAction::Reset,
        ..CorrelationConfig::default()
    };
    let mut engine = CorrelationEngine::new(config);
    engine.add_collection(collection).unwrap();
    let mut fires = Vec::new();
    for (i, (t, ev)) in events.iter().enumerate() {
        for r in engine.process_event_at(&rsigma_eval::event::JsonEvent::borrow(ev), *t) {
            if let Some(c) = r.as_correlation() {
                fires.push((i, r.header.rule_title.clone(), c.group_key.clone()));
            }
        }
    }
    fires
}
