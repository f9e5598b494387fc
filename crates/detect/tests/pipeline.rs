//! Logsource pipelines: the built-in Windows pipeline loads and is
//! consistent, events reach the rules their logsource names (and no
//! others), user pipeline files override and extend it, broken files are
//! reported with their name, and every SigmaHQ `product: windows` rule
//! routes somewhere.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use killchain_detect::pipeline::{LogsourceKey, WINDOWS_PIPELINE};
use killchain_detect::{
    Engine, JsonEvent, Options, Outcome, Pipeline, PipelineError, PipelineFile, RuleText, Scratch,
};
use serde_json::{json, Value};

const SYSMON: &str = "Microsoft-Windows-Sysmon/Operational";

fn rule(title: &str, logsource: &str, detection: &str) -> RuleText {
    let mut text = format!("title: {title}\nstatus: test\nlogsource: {logsource}\ndetection:\n");
    for line in detection.lines() {
        text.push_str("  ");
        text.push_str(line);
        text.push('\n');
    }
    RuleText {
        path: format!("{title}.yml"),
        text,
    }
}

fn routed(rules: &[RuleText], pipeline: &Pipeline) -> Engine {
    let (engine, report) = Engine::build(rules, pipeline, &Options::default());
    assert_eq!(
        report.loaded(),
        rules.len(),
        "not every rule loaded: {:?}",
        report.entries
    );
    engine
}

fn hits(engine: &Engine, event: &Value) -> Vec<usize> {
    let mut out = Vec::new();
    engine.evaluate(&JsonEvent(event), &mut Scratch::default(), &mut out);
    out
}

/// Checks (event, expected hit) pairs; fails listing every wrong one.
fn check(engine: &Engine, cases: &[(Value, bool)]) {
    let failures: Vec<String> = cases
        .iter()
        .filter(|(e, want)| hits(engine, e).is_empty() == *want)
        .map(|(e, want)| {
            format!(
                "  event {e} -> expected {}",
                if *want { "MATCH" } else { "NO MATCH" }
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
}

fn whoami_rule() -> RuleText {
    rule(
        "whoami",
        "{product: windows, category: process_creation}",
        "sel:\n  Image|endswith: '\\whoami.exe'\ncondition: sel",
    )
}

fn key(product: &str, category: Option<&str>, service: Option<&str>) -> LogsourceKey {
    LogsourceKey {
        product: Some(product.into()),
        category: category.map(Into::into),
        service: service.map(Into::into),
    }
}

// ---------------------------------------------------------------------------
// The built-in pipeline
// ---------------------------------------------------------------------------

#[test]
fn builtin_pipeline_loads_and_is_consistent() {
    // The file as written: ids unique, every referenced id defined.
    let file = PipelineFile::from_yaml(WINDOWS_PIPELINE, "windows.yaml").expect("parses");
    let mut ids = HashSet::new();
    for s in &file.sources {
        assert!(ids.insert(s.id.as_str()), "source id {:?} twice", s.id);
    }
    for l in &file.logsources {
        assert!(
            !l.sources.is_empty(),
            "logsource {} has no source",
            l.logsource
        );
        for id in &l.sources {
            assert!(
                ids.contains(id.as_str()),
                "logsource {} names unknown source {id:?}",
                l.logsource
            );
        }
    }
    let mut keys = HashSet::new();
    for l in &file.logsources {
        assert!(keys.insert(&l.logsource), "logsource {} twice", l.logsource);
    }

    // Merged.
    let p = Pipeline::builtin();
    assert_eq!(p.sources.len(), file.sources.len());
    assert_eq!(p.logsources.len(), file.logsources.len());
    let merged: HashSet<&str> = p.sources.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(merged.len(), p.sources.len(), "source ids unique");
    for (k, idx) in &p.logsources {
        assert!(!idx.is_empty(), "{k}");
        assert!(idx.iter().all(|&i| i < p.sources.len()), "{k}");
    }
    // Every source has at least one condition (or it would take every event).
    for s in &p.sources {
        assert!(!s.conditions.is_empty(), "source {} has no condition", s.id);
    }
}

#[test]
fn builtin_routes_the_main_logsources() {
    let p = Pipeline::builtin();
    let ids = |k: &LogsourceKey| -> Vec<String> {
        p.route(k)
            .unwrap_or_else(|| panic!("{k} does not route"))
            .into_iter()
            .map(|i| p.sources[i].id.clone())
            .collect()
    };
    let pc = ids(&key("windows", Some("process_creation"), None));
    assert!(
        pc.contains(&"sysmon-process-creation".to_string()),
        "{pc:?}"
    );
    assert!(
        pc.contains(&"security-process-creation".to_string()),
        "{pc:?}"
    );
    assert_eq!(ids(&key("windows", None, Some("security"))), ["security"]);
    // Logsource values compare case-insensitively.
    assert!(p
        .route(&key("Windows", Some("Process_Creation"), None))
        .is_some());
    // An unknown category falls back to the least specific entry that
    // applies, `product: windows` alone (documented in windows.yaml).
    assert_eq!(
        p.route(&key("windows", Some("no_such_category"), None)),
        p.route(&key("windows", None, None))
    );
    assert!(ids(&key("windows", None, None)).contains(&"sysmon".to_string()));
    // No entry: no route.
    assert!(p
        .route(&key("linux", Some("process_creation"), None))
        .is_none());
    assert!(p.route(&key("plan9", None, None)).is_none());
}

// ---------------------------------------------------------------------------
// Routing events
// ---------------------------------------------------------------------------

#[test]
fn process_creation_rule_sees_sysmon_1_and_security_4688() {
    let engine = routed(&[whoami_rule()], &Pipeline::builtin());
    let img = "C:\\Windows\\System32\\whoami.exe";
    check(
        &engine,
        &[
            // Sysmon 1.
            (json!({"Channel": SYSMON, "EventID": 1, "Image": img}), true),
            // Security 4688 through the alias Image -> NewProcessName.
            (
                json!({"Channel": "Security", "EventID": 4688, "NewProcessName": img}),
                true,
            ),
            // Other Sysmon events, other channels, no channel: not process creation.
            (
                json!({"Channel": SYSMON, "EventID": 3, "Image": img}),
                false,
            ),
            (
                json!({"Channel": SYSMON, "EventID": 11, "Image": img}),
                false,
            ),
            (
                json!({"Channel": "Security", "EventID": 4624, "NewProcessName": img}),
                false,
            ),
            (
                json!({"Channel": "Application", "EventID": 1, "Image": img}),
                false,
            ),
            (
                json!({"Channel": "System", "EventID": 4688, "NewProcessName": img}),
                false,
            ),
            (json!({"EventID": 1, "Image": img}), false),
            (json!({"Image": img}), false),
            // The rule's own logic still applies.
            (
                json!({"Channel": SYSMON, "EventID": 1, "Image": "C:\\x\\cmd.exe"}),
                false,
            ),
            (
                json!({"Channel": "Security", "EventID": 4688, "NewProcessName": "C:\\x\\cmd.exe"}),
                false,
            ),
        ],
    );
}

#[test]
fn an_event_field_under_the_rule_name_wins_over_the_alias() {
    let engine = routed(&[whoami_rule()], &Pipeline::builtin());
    // 4688 carrying an `Image` of its own: the alias does not override it.
    let e = json!({"Channel": "Security", "EventID": 4688,
                   "Image": "C:\\x\\cmd.exe", "NewProcessName": "C:\\x\\whoami.exe"});
    assert!(hits(&engine, &e).is_empty());
}

#[test]
fn channel_names_compare_case_insensitively() {
    let engine = routed(&[whoami_rule()], &Pipeline::builtin());
    let img = "C:\\Windows\\System32\\whoami.exe";
    check(
        &engine,
        &[
            (
                json!({"Channel": "microsoft-windows-sysmon/operational", "EventID": 1, "Image": img}),
                true,
            ),
            (
                json!({"Channel": "MICROSOFT-WINDOWS-SYSMON/OPERATIONAL", "EventID": 1, "Image": img}),
                true,
            ),
            (
                json!({"Channel": "SECURITY", "EventID": 4688, "NewProcessName": img}),
                true,
            ),
            (
                json!({"Channel": "security", "EventID": 4688, "NewProcessName": img}),
                true,
            ),
        ],
    );
}

#[test]
fn event_id_as_a_string_routes_like_the_number() {
    let engine = routed(&[whoami_rule()], &Pipeline::builtin());
    let img = "C:\\Windows\\System32\\whoami.exe";
    check(
        &engine,
        &[
            (
                json!({"Channel": SYSMON, "EventID": "1", "Image": img}),
                true,
            ),
            (
                json!({"Channel": "Security", "EventID": "4688", "NewProcessName": img}),
                true,
            ),
            (
                json!({"Channel": SYSMON, "EventID": "3", "Image": img}),
                false,
            ),
            (
                json!({"Channel": SYSMON, "EventID": "01x", "Image": img}),
                false,
            ),
        ],
    );
}

#[test]
fn security_service_rule_sees_every_security_event() {
    let r = rule(
        "any security event",
        "{product: windows, service: security}",
        "sel:\n  EventID|gte: 0\ncondition: sel",
    );
    let engine = routed(&[r], &Pipeline::builtin());
    let mut cases: Vec<(Value, bool)> = [4624, 4625, 4688, 4657, 5156, 1102, 4769]
        .iter()
        .map(|id| (json!({"Channel": "Security", "EventID": id}), true))
        .collect();
    cases.push((json!({"Channel": "security", "EventID": 4624}), true));
    cases.push((json!({"Channel": "System", "EventID": 7045}), false));
    cases.push((json!({"Channel": SYSMON, "EventID": 1}), false));
    cases.push((json!({"Channel": "Application", "EventID": 4624}), false));
    cases.push((json!({"EventID": 4624}), false));
    check(&engine, &cases);
}

#[test]
fn rules_with_several_sources_fire_once_per_event() {
    // registry_event covers Sysmon 12/13/14 and Security 4657.
    let r = rule(
        "run key",
        "{product: windows, category: registry_event}",
        "sel:\n  TargetObject|contains: '\\CurrentVersion\\Run'\ncondition: sel",
    );
    let engine = routed(&[r], &Pipeline::builtin());
    let e = json!({"Channel": SYSMON, "EventID": 13,
                   "TargetObject": "HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\x"});
    assert_eq!(hits(&engine, &e), [0]);
}

/// Candidates are gathered source by source (a security service rule
/// before a process_creation one for a 4688 event, say) and not sorted;
/// the matches still come in rule order.
#[test]
fn matches_come_in_rule_order_across_sources() {
    let sel = "sel:\n  NewProcessName|endswith: '\\whoami.exe'\ncondition: sel";
    let rules = [
        rule(
            "creation 1",
            "{product: windows, category: process_creation}",
            "sel:\n  Image|endswith: '\\whoami.exe'\ncondition: sel",
        ),
        rule("security 1", "{product: windows, service: security}", sel),
        rule(
            "creation 2",
            "{product: windows, category: process_creation}",
            "sel:\n  Image|contains: 'whoami'\ncondition: sel",
        ),
        rule("security 2", "{product: windows, service: security}", sel),
    ];
    let engine = routed(&rules, &Pipeline::builtin());
    let e = json!({"Channel": "Security", "EventID": 4688,
                   "NewProcessName": "C:\\Windows\\System32\\whoami.exe"});
    assert_eq!(hits(&engine, &e), [0, 1, 2, 3]);
}

#[test]
fn a_rule_without_a_route_is_unsupported() {
    let r = rule(
        "nowhere",
        "{product: plan9, category: no_such_category}",
        "sel:\n  A: x\ncondition: sel",
    );
    let (engine, report) = Engine::build(&[r], &Pipeline::builtin(), &Options::default());
    assert!(engine.is_empty());
    match &report.entries[0].outcome {
        Outcome::Unsupported(m) => assert!(m.contains("no pipeline source"), "{m}"),
        o => panic!("expected unsupported, got {o:?}"),
    }
    // Without routing the same rule loads.
    let r = rule(
        "nowhere",
        "{product: plan9, category: no_such_category}",
        "sel:\n  A: x\ncondition: sel",
    );
    let opts = Options {
        routing: false,
        ..Default::default()
    };
    let (engine, _) = Engine::build(&[r], &Pipeline::builtin(), &opts);
    assert_eq!(engine.len(), 1);
}

// The alias supplies the event's NewProcessName as the rule's Image; the
// rule compares case-insensitively (Sigma's default), so an upper-case path
// must match like a lower-case one (it does on Sysmon's own Image field).
#[test]
fn aliased_fields_match_case_insensitively() {
    let engine = routed(&[whoami_rule()], &Pipeline::builtin());
    let img = "C:\\WINDOWS\\SYSTEM32\\WHOAMI.EXE";
    check(
        &engine,
        &[
            (json!({"Channel": SYSMON, "EventID": 1, "Image": img}), true),
            (
                json!({"Channel": "Security", "EventID": 4688, "NewProcessName": img}),
                true,
            ),
        ],
    );
}

// ---------------------------------------------------------------------------
// User pipeline files
// ---------------------------------------------------------------------------

const USER_PIPELINE: &str = r#"
name: site
description: Sysmon forwarded under another channel name; auditd process events.
sources:
  - id: sysmon-process-creation
    description: Sysmon 1, forwarded
    where: {Channel: [Forwarded-Sysmon], EventID: [1]}
  - id: auditd-execve
    where: {type: [EXECVE]}
    aliases: {CommandLine: cmdline}
logsources:
  - logsource: {product: linux, category: process_creation}
    sources: [auditd-execve]
"#;

#[test]
fn user_pipeline_overrides_a_source_by_id_and_adds_logsources() {
    let mut p = Pipeline::builtin();
    let before = p.sources.len();
    let file = PipelineFile::from_yaml(USER_PIPELINE, "site.yaml").expect("parses");
    p.add(file, "site.yaml").expect("adds");
    // One source replaced, one added.
    assert_eq!(p.sources.len(), before + 1);
    assert_eq!(
        p.sources
            .iter()
            .filter(|s| s.id == "sysmon-process-creation")
            .count(),
        1
    );
    assert!(p
        .route(&key("linux", Some("process_creation"), None))
        .is_some());

    let linux = rule(
        "linux whoami",
        "{product: linux, category: process_creation}",
        "sel:\n  CommandLine|contains: 'whoami'\ncondition: sel",
    );
    let engine = routed(&[whoami_rule(), linux], &p);
    let img = "C:\\Windows\\System32\\whoami.exe";
    let cases = [
        // The overridden source: the new channel, not the old one.
        (
            json!({"Channel": "Forwarded-Sysmon", "EventID": 1, "Image": img}),
            vec![0],
        ),
        (
            json!({"Channel": SYSMON, "EventID": 1, "Image": img}),
            vec![],
        ),
        // The other source of the logsource is untouched.
        (
            json!({"Channel": "Security", "EventID": 4688, "NewProcessName": img}),
            vec![0],
        ),
        // The added logsource, with its alias.
        (
            json!({"type": "EXECVE", "cmdline": "/usr/bin/whoami"}),
            vec![1],
        ),
        (
            json!({"type": "SYSCALL", "cmdline": "/usr/bin/whoami"}),
            vec![],
        ),
    ];
    for (e, want) in cases {
        assert_eq!(hits(&engine, &e), want, "event {e}");
    }
}

#[test]
fn user_pipeline_replaces_a_logsource_entry() {
    let mut p = Pipeline::builtin();
    let file = PipelineFile::from_yaml(
        "name: only-sysmon\nlogsources:\n  - logsource: {product: windows, category: process_creation}\n    sources: [sysmon-process-creation]\n",
        "only-sysmon.yaml",
    )
    .expect("parses");
    p.add(file, "only-sysmon.yaml").expect("adds");
    let engine = routed(&[whoami_rule()], &p);
    let img = "C:\\Windows\\System32\\whoami.exe";
    check(
        &engine,
        &[
            (json!({"Channel": SYSMON, "EventID": 1, "Image": img}), true),
            (
                json!({"Channel": "Security", "EventID": 4688, "NewProcessName": img}),
                false,
            ),
        ],
    );
}

#[test]
fn unknown_source_id_is_an_error_naming_the_file() {
    let text = "name: broken\nlogsources:\n  - logsource: {product: windows, category: process_creation}\n    sources: [no-such-source]\n";
    let file = PipelineFile::from_yaml(text, "/etc/killchain/broken.yaml").expect("parses");
    let mut p = Pipeline::builtin();
    let err = p
        .add(file, "/etc/killchain/broken.yaml")
        .expect_err("unknown source id");
    assert!(
        matches!(err, PipelineError::UnknownSource { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("/etc/killchain/broken.yaml"), "{msg}");
    assert!(msg.contains("no-such-source"), "{msg}");
}

#[test]
fn duplicate_source_id_is_an_error_naming_the_file() {
    let text = r#"
name: dup
sources:
  - id: my-source
    where: {Channel: [A]}
  - id: my-source
    where: {Channel: [B]}
"#;
    let err = PipelineFile::from_yaml(text, "dup.yaml").expect_err("duplicate id");
    assert!(
        matches!(err, PipelineError::DuplicateSource { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("dup.yaml"), "{msg}");
    assert!(msg.contains("my-source"), "{msg}");
}

#[test]
fn malformed_pipeline_is_an_error_naming_the_file() {
    for text in [
        "name: x\nsources:\n  - id: a\n    wehre: {Channel: [A]}\n",
        "sources: []\n",
        "name: [not, a, string]\n",
    ] {
        let err = PipelineFile::from_yaml(text, "bad.yaml").expect_err(text);
        assert!(matches!(err, PipelineError::Yaml { .. }), "{err:?}");
        assert!(err.to_string().contains("bad.yaml"), "{err}");
    }
}

// ---------------------------------------------------------------------------
// SigmaHQ rules
// ---------------------------------------------------------------------------

fn shared_data() -> Option<PathBuf> {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data"));
    if p.is_dir() {
        return Some(p);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("../shared/data not found and CI=true: this test must run in CI");
    }
    eprintln!("SKIP: ../shared/data not found (set up ../shared to run this test)");
    None
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(p);
        }
    }
}

#[test]
fn every_sigmahq_windows_rule_routes() {
    let Some(data) = shared_data() else {
        return;
    };
    let rules_dir = data.join("sigma/rules");
    assert!(rules_dir.is_dir(), "{} missing", rules_dir.display());
    let mut files = Vec::new();
    yaml_files(&rules_dir, &mut files);
    files.sort();

    let p = Pipeline::builtin();
    let mut windows = 0usize;
    let mut unrouted: Vec<String> = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let Ok(collection) = rsigma_parser::parse_sigma_yaml(&text) else {
            continue;
        };
        for r in &collection.rules {
            let ls = &r.logsource;
            if !ls
                .product
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case("windows"))
            {
                continue;
            }
            windows += 1;
            let k = LogsourceKey {
                product: ls.product.clone(),
                category: ls.category.clone(),
                service: ls.service.clone(),
            };
            if p.route(&k).is_none() {
                unrouted.push(format!(
                    "  {} ({k})",
                    f.strip_prefix(&data).unwrap_or(f).display()
                ));
            }
        }
    }
    eprintln!(
        "SigmaHQ: {} files, {windows} product: windows rules, {} without a route",
        files.len(),
        unrouted.len()
    );
    assert!(windows > 1000, "only {windows} windows rules found");
    assert!(
        unrouted.is_empty(),
        "{} product: windows rules do not route:\n{}",
        unrouted.len(),
        unrouted.join("\n")
    );
}

/// Whether a pipeline entry applies to a rule logsource (every field the
/// entry names equals the rule's, case-insensitively).
fn entry_applies(entry: &LogsourceKey, rule: &LogsourceKey) -> bool {
    let eq = |a: &Option<String>, b: &Option<String>| match a {
        None => true,
        Some(x) => b.as_deref().is_some_and(|y| y.eq_ignore_ascii_case(x)),
    };
    eq(&entry.product, &rule.product)
        && eq(&entry.category, &rule.category)
        && eq(&entry.service, &rule.service)
}

/// Stricter than routing: a rule naming a category or service must be
/// routed by an entry for that category or service, not only by the
/// `product: windows` fallback (which takes every Windows channel).
#[test]
fn every_sigmahq_windows_rule_with_a_category_or_service_has_its_own_entry() {
    let Some(data) = shared_data() else {
        return;
    };
    let mut files = Vec::new();
    yaml_files(&data.join("sigma/rules"), &mut files);
    files.sort();
    let p = Pipeline::builtin();
    let mut fallback_only: Vec<String> = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let Ok(collection) = rsigma_parser::parse_sigma_yaml(&text) else {
            continue;
        };
        for r in &collection.rules {
            let ls = &r.logsource;
            let windows = ls
                .product
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case("windows"));
            if !windows || (ls.category.is_none() && ls.service.is_none()) {
                continue;
            }
            let k = LogsourceKey {
                product: ls.product.clone(),
                category: ls.category.clone(),
                service: ls.service.clone(),
            };
            let own = p.logsources.iter().any(|(e, _)| {
                entry_applies(e, &k) && (e.category.is_some() || e.service.is_some())
            });
            if !own {
                fallback_only.push(format!(
                    "  {} ({k})",
                    f.strip_prefix(&data).unwrap_or(f).display()
                ));
            }
        }
    }
    assert!(
        fallback_only.is_empty(),
        "{} product: windows rules route only through the `product: windows` fallback:\n{}",
        fallback_only.len(),
        fallback_only.join("\n")
    );
}

#[test]
fn a_log_cleared_event_routes_by_its_own_channel_and_rules_see_the_cleared_one() {
    // Event 104 as EVTX renders it: System/Channel is "System", and
    // UserData/LogFileCleared/Channel names the log that was cleared.
    let cleared = |log: &str| {
        json!({"Event": {
            "System": {"Provider": {"#attributes": {"Name": "Microsoft-Windows-Eventlog"}},
                       "EventID": 104, "Channel": "System", "Computer": "ws1"},
            "UserData": {"LogFileCleared": {"#attributes": {"xmlns": "x"},
                         "SubjectUserName": "eve", "Channel": log}}}})
    };
    let rules = [
        rule(
            "important log cleared",
            "{product: windows, service: system}",
            "sel:\n  EventID: 104\n  Channel: [Security, System]\ncondition: sel",
        ),
        rule(
            "other log cleared",
            "{product: windows, service: system}",
            "sel:\n  EventID: 104\nfilter:\n  Channel: [Security, System]\ncondition: sel and not filter",
        ),
        rule(
            "security service",
            "{product: windows, service: security}",
            "sel:\n  EventID: 104\ncondition: sel",
        ),
    ];
    let engine = routed(&rules, &Pipeline::builtin());
    let fired = |ev: &Value| {
        let mut fields = Vec::new();
        killchain_ingest::flatten_windows(ev, &mut fields);
        let mut out = Vec::new();
        engine.evaluate(
            &killchain_detect::FieldList { fields },
            &mut Scratch::default(),
            &mut out,
        );
        out
    };
    // Routed as a System event (never to security rules), matched on the
    // cleared log's name.
    assert_eq!(fired(&cleared("Security")), [0]);
    assert_eq!(
        fired(&cleared("Microsoft-Windows-TaskScheduler/Operational")),
        [1]
    );
}
