//! Sigma correlation rules (specification v2): each type, windows, group-by
//! with aliases, chaining, `generate`, conditions judged at the window's end,
//! sub-second event time, and what the load report says about bad ones.

use killchain_detect::{
    CorrelationHit, Correlator, Engine, JsonEvent, Level, Options, Outcome, Pipeline, RuleText,
    Scratch, Selection,
};
use serde_json::{json, Value};

const SEC: i64 = 1_000_000_000;

/// Base rules shared by the tests: Security 4625 (failed logon), 4624
/// (logon), and three discovery commands (Sysmon process creation).
const BASE: &str = r#"
title: Failed logon
id: 00000000-0000-0000-0000-000000004625
name: failed_logon
logsource: {product: windows, service: security}
detection:
  sel: {EventID: 4625}
  condition: sel
level: low
tags: [attack.credential-access, attack.t1110]
---
title: Successful logon
id: 00000000-0000-0000-0000-000000004624
name: successful_logon
logsource: {product: windows, service: security}
detection:
  sel: {EventID: 4624}
  condition: sel
level: informational
tags: [attack.initial-access, attack.t1078]
---
title: Whoami
name: recon_whoami
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\whoami.exe'}
  condition: sel
tags: [attack.discovery, attack.t1033]
---
title: Net group
name: recon_net
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\net.exe'}
  condition: sel
tags: [attack.discovery, attack.t1069]
---
title: Ipconfig
name: recon_ipconfig
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\ipconfig.exe'}
  condition: sel
tags: [attack.discovery, attack.t1016]
"#;

struct Run {
    engine: Engine,
    hits: Vec<CorrelationHit>,
    /// (event index, rule title) of matches reported on their own.
    standalone: Vec<(usize, String)>,
}

fn build(correlations: &str, opts: &Options) -> (Engine, killchain_detect::LoadReport) {
    let texts = [
        RuleText {
            path: "base.yml".into(),
            text: BASE.into(),
        },
        RuleText {
            path: "corr.yml".into(),
            text: correlations.into(),
        },
    ];
    Engine::build(&texts, &Pipeline::builtin(), opts)
}

/// Runs `events` (time in ns, event) in order through rules and correlator.
fn run(correlations: &str, events: &[(i64, Value)]) -> Run {
    let (engine, report) = build(correlations, &Options::default());
    let bad: Vec<_> = report
        .entries
        .iter()
        .filter(|e| e.outcome != Outcome::Loaded)
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
    let mut hits = Vec::new();
    let mut standalone = Vec::new();
    {
        let mut corr = Correlator::new(&engine);
        let mut scratch = Scratch::default();
        let mut matched = Vec::new();
        for (i, (t, ev)) in events.iter().enumerate() {
            matched.clear();
            engine.evaluate(&JsonEvent(ev), &mut scratch, &mut matched);
            for &r in &matched {
                if engine.is_standalone(r) {
                    standalone.push((i, engine.rule(r).title.clone()));
                }
                if let Some(values) = engine.observe(r, &JsonEvent(ev)) {
                    corr.push(*t, r, &values, i as u64, &mut hits);
                }
            }
        }
        corr.finish(&mut hits);
    }
    Run {
        engine,
        hits,
        standalone,
    }
}

fn security(id: u32, fields: Value) -> Value {
    let mut v = json!({"Channel": "Security", "EventID": id});
    v.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    v
}

fn sysmon_proc(image: &str, host: &str, user: &str) -> Value {
    json!({"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1,
           "Image": image, "Computer": host, "User": user})
}

fn failed(ip: &str, user: &str) -> Value {
    security(4625, json!({"IpAddress": ip, "TargetUserName": user}))
}

fn titles(r: &Run) -> Vec<String> {
    r.hits
        .iter()
        .map(|h| r.engine.correlations()[h.correlation].info.title.clone())
        .collect()
}

const BRUTE: &str = r#"
title: Brute force
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [IpAddress]
  timespan: 5m
  condition: {gte: 5}
level: high
"#;

#[test]
fn event_count_fires_once_per_burst_per_group() {
    let mut events = Vec::new();
    for i in 0..12 {
        events.push((i * 10 * SEC, failed("10.0.0.5", "alice")));
    }
    for i in 0..3 {
        events.push((i * 10 * SEC + 1, failed("10.0.0.9", "bob")));
    }
    let r = run(BRUTE, &events);
    // 12 events: a hit at the 5th and at the 10th (the window clears on a hit).
    assert_eq!(r.hits.len(), 2, "{:#?}", r.hits);
    let h = &r.hits[0];
    assert_eq!(h.value, 5);
    assert_eq!(
        h.group,
        [("IpAddress".to_string(), Some("10.0.0.5".to_string()))]
    );
    assert_eq!((h.first, h.last), (0, 40 * SEC));
    assert_eq!(h.events, [0, 1, 2, 3, 4]);
    assert_eq!(h.events_total, 5);
    // The base rule only feeds the correlation (generate defaults to false).
    assert!(r.standalone.is_empty());
    // Effective tags: the correlation has none, so its rule's.
    assert_eq!(
        r.engine.correlations()[0].effective_tags,
        ["attack.credential-access", "attack.t1110"]
    );
}

#[test]
fn event_count_window_slides() {
    // 5 events but spread over 6 minutes: never 5 within 5m.
    let events: Vec<_> = (0..5)
        .map(|i| (i * 90 * SEC, failed("10.0.0.5", "a")))
        .collect();
    assert!(run(BRUTE, &events).hits.is_empty());
    // The window includes its old end exactly (t - 5m counts).
    let events: Vec<_> = (0..5)
        .map(|i| (i * 75 * SEC, failed("10.0.0.5", "a")))
        .collect();
    assert_eq!(run(BRUTE, &events).hits.len(), 1);
}

#[test]
fn generate_true_keeps_the_rules_own_matches() {
    let rule = BRUTE.replace("level: high", "level: high\n  generate: true");
    let rule = rule.replace(
        "  condition: {gte: 5}\nlevel: high\n  generate: true",
        "  condition: {gte: 5}\n  generate: true\nlevel: high",
    );
    let events: Vec<_> = (0..5).map(|i| (i * SEC, failed("10.0.0.5", "a"))).collect();
    let r = run(&rule, &events);
    assert_eq!(r.hits.len(), 1);
    assert_eq!(r.standalone.len(), 5);
}

#[test]
fn value_count_counts_distinct_values() {
    let spray = r#"
title: Password spray
correlation:
  type: value_count
  rules: [failed_logon]
  group-by: [IpAddress]
  timespan: 10m
  condition: {field: TargetUserName, gte: 3}
"#;
    // The same user over and over is not a spray.
    let same: Vec<_> = (0..10)
        .map(|i| (i * SEC, failed("10.0.0.5", "alice")))
        .collect();
    assert!(run(spray, &same).hits.is_empty());
    let users = ["alice", "bob", "alice", "carol"];
    let events: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, u)| (i as i64 * SEC, failed("10.0.0.5", u)))
        .collect();
    let r = run(spray, &events);
    assert_eq!(r.hits.len(), 1);
    assert_eq!(r.hits[0].value, 3);
    assert_eq!(r.hits[0].events, [0, 1, 2, 3]);
}

const RECON: &str = r#"
title: Recon burst
correlation:
  type: temporal
  rules: [recon_whoami, recon_net, recon_ipconfig]
  group-by: [Computer]
  timespan: 5m
level: medium
"#;

#[test]
fn temporal_without_condition_needs_every_rule() {
    let two = vec![
        (
            0,
            sysmon_proc(r"C:\Windows\System32\whoami.exe", "ws1", "u"),
        ),
        (SEC, sysmon_proc(r"C:\Windows\System32\net.exe", "ws1", "u")),
    ];
    assert!(run(RECON, &two).hits.is_empty(), "two of three rules");
    let mut three = two.clone();
    three.push((
        2 * SEC,
        sysmon_proc(r"C:\Windows\System32\ipconfig.exe", "ws2", "u"),
    ));
    assert!(run(RECON, &three).hits.is_empty(), "third on another host");
    three.push((
        3 * SEC,
        sysmon_proc(r"C:\Windows\System32\ipconfig.exe", "ws1", "u"),
    ));
    let r = run(RECON, &three);
    assert_eq!(titles(&r), ["Recon burst"]);
    assert_eq!(r.hits[0].value, 3);
    assert_eq!(r.hits[0].events, [0, 1, 3]);
    // Any order; but not beyond the timespan.
    let late = vec![
        (0, sysmon_proc(r"C:\x\ipconfig.exe", "ws1", "u")),
        (SEC, sysmon_proc(r"C:\x\net.exe", "ws1", "u")),
        (301 * SEC, sysmon_proc(r"C:\x\whoami.exe", "ws1", "u")),
    ];
    assert!(run(RECON, &late).hits.is_empty());
}

#[test]
fn temporal_with_threshold_and_expression() {
    let two_of_three = RECON.replace("timespan: 5m", "timespan: 5m\n  condition: {gte: 2}");
    let events = vec![
        (0, sysmon_proc(r"C:\x\whoami.exe", "ws1", "u")),
        (SEC, sysmon_proc(r"C:\x\whoami.exe", "ws1", "u")),
        (2 * SEC, sysmon_proc(r"C:\x\net.exe", "ws1", "u")),
    ];
    let r = run(&two_of_three, &events);
    assert_eq!(r.hits.len(), 1);
    assert_eq!(r.hits[0].value, 2);
    // A string condition: whoami and net, but no ipconfig in the window
    // (judged when the window closes, since `not` can still be spoiled).
    let expr = RECON.replace(
        "timespan: 5m",
        "timespan: 5m\n  condition: recon_whoami and recon_net and not recon_ipconfig",
    );
    assert_eq!(run(&expr, &events).hits.len(), 1);
    let mut spoiled = events.clone();
    spoiled.push((100 * SEC, sysmon_proc(r"C:\x\ipconfig.exe", "ws1", "u")));
    assert!(run(&expr, &spoiled).hits.is_empty());
}

#[test]
fn temporal_ordered_needs_the_order() {
    let ordered = r#"
title: Logon after failures
correlation:
  type: temporal_ordered
  rules: [failed_logon, successful_logon]
  group-by: [TargetUserName]
  timespan: 10m
"#;
    let in_order = vec![
        (0, failed("10.0.0.5", "alice")),
        (5 * SEC, security(4624, json!({"TargetUserName": "alice"}))),
    ];
    assert_eq!(run(ordered, &in_order).hits.len(), 1);
    let reversed = vec![
        (0, security(4624, json!({"TargetUserName": "alice"}))),
        (5 * SEC, failed("10.0.0.5", "alice")),
    ];
    assert!(run(ordered, &reversed).hits.is_empty());
}

#[test]
fn chained_correlations_as_in_the_specification() {
    // The specification's example: many failed logons, then a success, by user.
    let chain = r#"
title: Correlation - Multiple Failed Logins Followed by Successful Login
id: b180ead8-d58f-40b2-ae54-c8940995b9b6
correlation:
  type: temporal_ordered
  rules: [multiple_failed_login, successful_logon]
  group-by: [TargetUserName]
  timespan: 10m
level: high
---
title: Multiple failed logons
name: multiple_failed_login
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [TargetUserName]
  timespan: 10m
  condition: {gte: 3}
"#;
    let mut events: Vec<_> = (0..3)
        .map(|i| (i * SEC, failed("10.0.0.5", "alice")))
        .collect();
    events.push((10 * SEC, security(4624, json!({"TargetUserName": "alice"}))));
    events.push((11 * SEC, security(4624, json!({"TargetUserName": "bob"}))));
    let r = run(chain, &events);
    assert_eq!(
        titles(&r),
        [
            "Multiple failed logons",
            "Correlation - Multiple Failed Logins Followed by Successful Login"
        ]
    );
    let outer = &r.hits[1];
    assert_eq!(outer.events, [0, 1, 2, 3]);
    assert_eq!(
        outer.group,
        [("TargetUserName".into(), Some("alice".into()))]
    );
    // The inner correlation only feeds the outer one; the outer reports.
    let inner = r
        .engine
        .correlations()
        .iter()
        .position(|c| c.info.title == "Multiple failed logons")
        .unwrap();
    assert!(!r.engine.correlation_is_standalone(inner));
    assert!(r.engine.correlation_is_standalone(1 - inner));
}

#[test]
fn aliases_group_different_fields_together() {
    // Failed logons from an address, then a process whose `User` is the
    // targeted account: grouped by one alias over two field names.
    let corr = r#"
title: Failed logons then activity as the account
correlation:
  type: temporal
  rules: [failed_logon, recon_whoami]
  group-by: [account]
  timespan: 1h
  aliases:
    account:
      failed_logon: TargetUserName
      recon_whoami: User
"#;
    let events = vec![
        (0, failed("10.0.0.5", "alice")),
        (60 * SEC, sysmon_proc(r"C:\x\whoami.exe", "ws1", "bob")),
        (120 * SEC, sysmon_proc(r"C:\x\whoami.exe", "ws1", "alice")),
    ];
    let r = run(corr, &events);
    assert_eq!(r.hits.len(), 1);
    assert_eq!(r.hits[0].group, [("account".into(), Some("alice".into()))]);
    assert_eq!(r.hits[0].events, [0, 2]);
}

#[test]
fn upper_bounds_are_judged_when_the_window_ends() {
    // "Fewer than 3 failures in 1h": decided at the end of the window, not
    // at the first event (which would always hold).
    let few = r#"
title: A few failures
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [IpAddress]
  timespan: 1h
  condition: {gte: 2, lt: 4}
"#;
    let mut events = vec![(0, failed("10.0.0.1", "a")), (SEC, failed("10.0.0.1", "a"))];
    for i in 0..5 {
        events.push((i * SEC, failed("10.0.0.2", "a")));
    }
    events.push((10 * SEC, failed("10.0.0.3", "a")));
    let r = run(few, &events);
    // Only 10.0.0.1 (2 events); .2 has 5, .3 has 1. Judged at finish.
    assert_eq!(r.hits.len(), 1, "{:#?}", r.hits);
    assert_eq!(r.hits[0].group[0].1.as_deref(), Some("10.0.0.1"));
    // A later event beyond the window closes it too, and opens a new one.
    let mut events = vec![
        (0, failed("10.0.0.1", "a")),
        (SEC, failed("10.0.0.1", "a")),
        (7200 * SEC, failed("10.0.0.1", "a")),
    ];
    let r = run(few, &events);
    assert_eq!(r.hits.len(), 1);
    assert_eq!(r.hits[0].last, SEC);
    events.push((7201 * SEC, failed("10.0.0.1", "a")));
    assert_eq!(run(few, &events).hits.len(), 2);
}

#[test]
fn event_time_has_sub_second_precision() {
    let fast = r#"
title: Burst within a second
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [IpAddress]
  timespan: 1s
  condition: {gte: 3}
"#;
    let ms = 1_000_000;
    let close: Vec<_> = (0..3)
        .map(|i| (i * 400 * ms, failed("10.0.0.5", "a")))
        .collect();
    assert_eq!(run(fast, &close).hits.len(), 1, "0, 0.4, 0.8 s");
    let apart: Vec<_> = (0..3)
        .map(|i| (i * 600 * ms, failed("10.0.0.5", "a")))
        .collect();
    assert!(run(fast, &apart).hits.is_empty(), "0, 0.6, 1.2 s");
}

#[test]
fn tumbling_and_session_windows() {
    let tumbling = BRUTE.replace("timespan: 5m", "timespan: 5m\n  window: tumbling");
    // 5 events straddling a 5-minute boundary: 3 before, 2 after.
    let events: Vec<_> = [297, 298, 299, 301, 302]
        .iter()
        .map(|&s| (s * SEC, failed("10.0.0.5", "a")))
        .collect();
    assert!(run(&tumbling, &events).hits.is_empty());
    assert_eq!(run(BRUTE, &events).hits.len(), 1, "sliding sees all five");

    let session = BRUTE.replace(
        "timespan: 5m",
        "timespan: 1h\n  window: session\n  gap: 30s",
    );
    let steady: Vec<_> = (0..5)
        .map(|i| (i * 20 * SEC, failed("10.0.0.5", "a")))
        .collect();
    assert_eq!(run(&session, &steady).hits.len(), 1);
    let gappy: Vec<_> = (0..5)
        .map(|i| (i * 40 * SEC, failed("10.0.0.5", "a")))
        .collect();
    assert!(run(&session, &gappy).hits.is_empty());
}

#[test]
fn one_event_matching_two_referenced_rules_counts_once() {
    let corr = r#"
title: Any discovery
correlation:
  type: event_count
  rules: [recon_whoami, recon_wide]
  group-by: [Computer]
  timespan: 5m
  condition: {gte: 2}
---
title: Any System32 tool
name: recon_wide
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|contains: '\System32\'}
  condition: sel
"#;
    let one = vec![(
        0,
        sysmon_proc(r"C:\Windows\System32\whoami.exe", "ws1", "u"),
    )];
    assert!(run(corr, &one).hits.is_empty());
    let mut two = one.clone();
    two.push((
        SEC,
        sysmon_proc(r"C:\Windows\System32\whoami.exe", "ws1", "u"),
    ));
    let r = run(corr, &two);
    assert_eq!(r.hits.len(), 1);
    assert_eq!(r.hits[0].value, 2);
    assert_eq!(r.hits[0].events, [0, 1]);
}

#[test]
fn group_by_follows_the_pipeline_field_aliases() {
    // Security 4688 is process_creation with NewProcessName as Image: the
    // group-by `Image` reads NewProcessName there.
    let corr = r#"
title: Same tool twice
correlation:
  type: event_count
  rules: [recon_whoami]
  group-by: [Image]
  timespan: 5m
  condition: {gte: 2}
"#;
    let ev = |t| {
        (
            t,
            json!({"Channel": "Security", "EventID": 4688,
                   "NewProcessName": r"C:\Windows\System32\whoami.exe"}),
        )
    };
    let r = run(corr, &[ev(0), ev(SEC)]);
    assert_eq!(r.hits.len(), 1);
    assert_eq!(
        r.hits[0].group[0].1.as_deref(),
        Some(r"C:\Windows\System32\whoami.exe")
    );
}

#[test]
fn missing_group_by_fields_group_together_as_absent() {
    let events: Vec<_> = (0..5)
        .map(|i| (i * SEC, security(4625, json!({"TargetUserName": "a"}))))
        .collect();
    let r = run(BRUTE, &events);
    assert_eq!(r.hits.len(), 1);
    assert_eq!(r.hits[0].group, [("IpAddress".into(), None)]);
}

#[test]
fn load_report_names_what_is_wrong() {
    let bad = r#"
title: Unknown reference
correlation:
  type: event_count
  rules: [no_such_rule]
  group-by: [IpAddress]
  timespan: 5m
  condition: {gte: 5}
---
title: Count without field
correlation:
  type: value_count
  rules: [failed_logon]
  group-by: [IpAddress]
  timespan: 5m
  condition: {gte: 5}
---
title: Cycle A
name: cycle_a
correlation:
  type: event_count
  rules: [cycle_b]
  group-by: [IpAddress]
  timespan: 5m
  condition: {gte: 1}
---
title: Cycle B
name: cycle_b
correlation:
  type: event_count
  rules: [cycle_a]
  group-by: [IpAddress]
  timespan: 5m
  condition: {gte: 1}
---
title: Sum
correlation:
  type: value_sum
  rules: [failed_logon]
  group-by: [IpAddress]
  timespan: 5m
  condition: {field: Count, gte: 5}
---
title: Depends on a bad one
correlation:
  type: temporal
  rules: [failed_logon, cycle_a]
  group-by: [IpAddress]
  timespan: 5m
"#;
    let (engine, report) = build(bad, &Options::default());
    assert!(engine.correlations().is_empty());
    let outcome = |title: &str| {
        report
            .entries
            .iter()
            .find(|e| e.title == title)
            .unwrap_or_else(|| panic!("{title} not in report"))
            .outcome
            .clone()
    };
    assert!(
        matches!(outcome("Unknown reference"), Outcome::Invalid(m) if m.contains("no_such_rule"))
    );
    assert!(matches!(outcome("Count without field"), Outcome::Invalid(m) if m.contains("field")));
    assert!(matches!(outcome("Cycle A"), Outcome::Invalid(m) if m.contains("cycle")));
    assert!(matches!(outcome("Sum"), Outcome::Unsupported(m) if m.contains("value_sum")));
    assert!(matches!(
        outcome("Depends on a bad one"),
        Outcome::Invalid(_) | Outcome::Unsupported(_)
    ));
    // Every base rule loaded and, with no correlation left, reports alone.
    assert_eq!(report.loaded(), 5);
    assert!((0..engine.len()).all(|i| engine.is_standalone(i)));
}

#[test]
fn referenced_rules_load_even_when_the_selection_leaves_them_out() {
    // --min-level high keeps the high correlation; its low base rule loads
    // as an input only.
    let opts = Options {
        selection: Selection {
            min_level: Some(Level::High),
            ..Selection::default()
        },
        ..Options::default()
    };
    let (engine, report) = build(BRUTE, &opts);
    assert_eq!(engine.correlations().len(), 1);
    assert_eq!(engine.len(), 1, "only the referenced base rule");
    assert!(!engine.is_standalone(0));
    assert_eq!(report.loaded(), 2);
    assert_eq!(report.filtered(), 4);
    // A correlation the selection leaves out takes nothing with it.
    let low = BRUTE.replace("level: high", "level: low");
    let (engine, report) = build(&low, &opts);
    assert!(engine.correlations().is_empty() && engine.is_empty());
    assert_eq!(report.filtered(), 6);
}

#[test]
fn a_referenced_rule_that_did_not_load_says_why() {
    let corr = r#"
title: Needs an unroutable rule
correlation:
  type: event_count
  rules: [odd_rule]
  group-by: [x]
  timespan: 5m
  condition: {gte: 2}
---
title: Odd logsource
name: odd_rule
logsource: {product: nosuchproduct}
detection:
  sel: {x: 1}
  condition: sel
"#;
    let (engine, report) = build(corr, &Options::default());
    assert!(engine.correlations().is_empty());
    let e = report
        .entries
        .iter()
        .find(|e| e.title == "Needs an unroutable rule")
        .unwrap();
    assert!(
        matches!(&e.outcome, Outcome::Unsupported(m) if m.contains("odd_rule") && m.contains("logsource")),
        "{e:?}"
    );
}
