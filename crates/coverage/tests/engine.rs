//! The coverage engine on fixtures we wrote (tests/fixtures): a control
//! inventory with good and bad controls, a DeTT&CT file, six Sigma rules
//! (one invalid, one without tags, one on Linux), and a small Attack Flow
//! with an OR operator, an action without a technique and an asset.
//! Checks scores, layers, issues, the investment order and the simulation
//! against values worked out by hand.

use std::path::{Path, PathBuf};

use killchain_coverage::control::{Control, Kind};
use killchain_coverage::simulate::{actor_paths, flow_paths};
use killchain_coverage::{
    analyse, dettect, flow, inventory, invest, navigator, rule_controls, simulate, AnalysisOptions,
    Collected, Inputs, InvestOptions, Report, RuleOptions, TestPolicy, ThreatProfile,
};
use killchain_detect::{Engine, Options, Pipeline, RuleText};
use killchain_kb::models::ModelSet;
use killchain_kb::{AttackData, AttackKb};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(fixture(rel)).unwrap()
}

struct World {
    kb: AttackKb,
    models: ModelSet,
}

fn world() -> World {
    let kb = AttackKb::new(AttackData::embedded().unwrap());
    let models = ModelSet::new(&kb, vec![]).unwrap();
    World { kb, models }
}

fn day(s: &str) -> Option<jiff::civil::Date> {
    s.parse().ok()
}

fn load_inventory(w: &World) -> (Vec<Control>, Vec<killchain_coverage::Issue>) {
    let resolver = inventory::Resolver {
        kb: &w.kb,
        models: &w.models,
    };
    let opts = inventory::LoadOptions {
        tests: TestPolicy::default(),
        as_of: day("2026-11-24"),
    };
    inventory::load_inventory(&read("controls.yaml"), "controls.yaml", &resolver, &opts).unwrap()
}

fn rules(
    w: &World,
    collected: &Collected,
) -> (Vec<Control>, killchain_coverage::rules::RuleReport, usize) {
    let dir = fixture("rules");
    let mut texts: Vec<RuleText> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            RuleText {
                path: p.file_name().unwrap().to_string_lossy().into_owned(),
                text: std::fs::read_to_string(&p).unwrap(),
            }
        })
        .collect();
    texts.sort_by(|a, b| a.path.cmp(&b.path));
    let pipeline = Pipeline::builtin();
    let (engine, report) = Engine::build(
        &texts,
        &pipeline,
        &Options {
            routing: false,
            ..Options::default()
        },
    );
    let infos: Vec<_> = engine.rules().cloned().collect();
    let (c, r) = rule_controls(&infos, &w.kb, &pipeline, collected, &RuleOptions::default());
    (c, r, report.invalid())
}

fn control<'a>(cs: &'a [Control], id: &str) -> &'a Control {
    cs.iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no control {id}"))
}

fn covers(w: &World, c: &Control, technique: &str) -> Option<f64> {
    let (t, _) = w.kb.technique_by_id(technique).unwrap();
    c.covers
        .iter()
        .find(|x| x.technique == t)
        .map(|x| x.effective)
}

#[test]
fn inventory_loads_good_controls_and_names_bad_ones() {
    let w = world();
    let (cs, issues) = load_inventory(&w);
    let ids: Vec<&str> = cs.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "EDR",
            "MAIL-GW",
            "IR-RETAINER",
            "NET-LOGS",
            "APPLOCKER",
            "PARTLY",
            "M1026",
            "M1042"
        ]
    );
    let text: Vec<String> = issues.iter().map(|i| i.to_string()).collect();
    assert!(
        text.contains(
            &"controls.yaml: control BAD-STRENGTH: strength 9 is outside 0-5 (skipped)".to_string()
        ),
        "{text:#?}"
    );
    assert!(
        text.iter().any(
            |t| t.starts_with("controls.yaml: control TYPO: unknown field `strenght`")
                && t.ends_with("(skipped)")
        ),
        "{text:#?}"
    );
    assert!(text.contains(&"controls.yaml: control PARTLY: covers[0]: technique T9999 is not in ATT&CK 18.1; entry skipped".to_string()), "{text:#?}");
    assert_eq!(issues.len(), 3);

    // Parent vs sub-technique is explicit.
    let edr = control(&cs, "EDR");
    assert_eq!(covers(&w, edr, "T1003"), Some(4.0));
    assert_eq!(covers(&w, edr, "T1003.001"), Some(4.0));
    assert_eq!(covers(&w, edr, "T1003.002"), None);
    // `subtechniques: true` with its own strength; tested this year: factor 1.
    assert_eq!(covers(&w, edr, "T1059"), Some(3.0));
    assert_eq!(covers(&w, edr, "T1059.001"), Some(3.0));
    assert_eq!(covers(&w, edr, "T1059.003"), Some(3.0));
    assert_eq!(edr.layer, "endpoint");
    // Never tested: 0.75 of the declared strength.
    assert_eq!(
        covers(&w, control(&cs, "IR-RETAINER"), "T1003.001"),
        Some(1.5)
    );
    // A phase expands to every technique the model puts there.
    assert!(control(&cs, "IR-RETAINER").covers.len() > 100);
    // Mitigations expand through the kb, default strength 3, prevent.
    let m = control(&cs, "M1026");
    assert_eq!(m.name, "Privileged Account Management");
    assert_eq!(m.kind, Kind::Prevent);
    assert_eq!(covers(&w, m, "T1078"), Some(3.0 * 0.75));
    assert!(control(&cs, "M1042").planned);
    assert!(control(&cs, "APPLOCKER").planned);
    assert!(!control(&cs, "EDR").planned);
}

#[test]
fn inventory_yaml_errors_name_the_file() {
    let w = world();
    let resolver = inventory::Resolver {
        kb: &w.kb,
        models: &w.models,
    };
    let e = inventory::load_inventory("controls: [", "bad.yaml", &resolver, &Default::default())
        .unwrap_err();
    assert!(e.to_string().starts_with("bad.yaml: not valid YAML"), "{e}");
    let (cs, issues) = inventory::load_inventory(
        "controls:\n  - {id: A, kind: detect, strength: 2, covers: [{tactic: no-such-tactic}]}\n  - {id: A, kind: detect, strength: 2, covers: [{phase: delivery, model: nope}]}\n  - {id: B, kind: guess, strength: 2, covers: [{technique: T1059}]}\n  - {id: C, kind: detect, strength: 2, covers: [{technique: T1059, tactic: execution}]}\n",
        "x.yaml",
        &resolver,
        &Default::default(),
    )
    .unwrap();
    let text: Vec<String> = issues.iter().map(|i| i.to_string()).collect();
    assert_eq!(cs.len(), 2, "{text:#?}");
    assert!(
        text[0].contains("control A: covers[0]: tactic no-such-tactic is not in ATT&CK"),
        "{text:#?}"
    );
    assert!(
        text[1].contains("control A: covers no technique"),
        "{text:#?}"
    );
    assert!(
        text[2].contains("control A: duplicate id (skipped)"),
        "{text:#?}"
    );
    assert!(
        text[3].contains("control B: unknown variant `guess`"),
        "{text:#?}"
    );
    assert!(
        text[4].contains("control C: covers[0]: each covers entry names exactly one"),
        "{text:#?}"
    );
}

#[test]
fn dettect_import_takes_the_latest_score_per_location() {
    let w = world();
    let (cs, issues) = dettect::load_dettect(
        &read("dettect.yaml"),
        "dettect.yaml",
        &w.kb,
        &TestPolicy::default(),
        day("2026-11-24"),
    )
    .unwrap();
    let ids: Vec<&str> = cs.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "dettect:EDR:all",
            "dettect:SIEM:all",
            "dettect:visibility:all"
        ]
    );
    let siem = control(&cs, "dettect:SIEM:all");
    // 2025-06-01 score 3 is the latest (not 1); more than a year before as_of: 0.9.
    assert_eq!(siem.kind, Kind::Detect);
    assert!((covers(&w, siem, "T1053.005").unwrap() - 2.7).abs() < 1e-9);
    // Detection -1 is no detection; visibility 2 of 4 scales to 2.5 of 5.
    assert_eq!(covers(&w, siem, "T1021.001"), None);
    let vis = control(&cs, "dettect:visibility:all");
    assert!((covers(&w, vis, "T1021.001").unwrap() - 2.5 * 0.9).abs() < 1e-9);
    // The revoked T1086 is counted as T1059.001.
    assert!(covers(&w, control(&cs, "dettect:EDR:all"), "T1059.001").is_some());
    let text: Vec<String> = issues.iter().map(|i| i.to_string()).collect();
    assert_eq!(
        text,
        [
            "dettect.yaml: T1086: T1086 is revoked, counted as T1059.001",
            "dettect.yaml: T0000: not a technique in ATT&CK 18.1 (skipped)",
            "dettect.yaml: techniques[4]: missing field `technique_id` (skipped)",
        ]
    );
    let e = dettect::load_dettect(
        "file_type: group-administration\n",
        "g.yaml",
        &w.kb,
        &TestPolicy::default(),
        None,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("only DeTT&CT technique-administration"),
        "{e}"
    );
}

#[test]
fn rules_count_by_tags_level_status_and_collected_log_sources() {
    let w = world();
    let (cs, report, invalid) = rules(&w, &Collected::default());
    assert_eq!(invalid, 1, "broken.yml");
    assert_eq!(report.counted, 4);
    assert_eq!(report.without_techniques.len(), 1);
    // high (4) x stable (1.0); medium (3) x experimental (0.75).
    let ps = control(&cs, "6d1a1b5e-0000-4000-8000-000000000001");
    assert_eq!(covers(&w, ps, "T1059.001"), Some(4.0));
    assert_eq!(ps.platforms, ["Windows"]);
    let lsass = control(&cs, "6d1a1b5e-0000-4000-8000-000000000002");
    assert_eq!(covers(&w, lsass, "T1003.001"), Some(2.25));
    assert_eq!(lsass.layer, "sigma");

    // Sysmon and Security: the Linux rule is not collected.
    let (cs, report, _) = rules(&w, &Collected::from_list("sysmon,security"));
    assert_eq!(report.counted, 3);
    assert_eq!(report.not_collected.len(), 1);
    assert_eq!(report.not_collected[0].0, "cron_linux.yml");
    assert!(report.not_collected[0].2.contains("not collected"));
    assert_eq!(cs.len(), 3);
    // Security alone: process_access routes only to Sysmon, process_creation to both.
    let (cs, report, _) = rules(&w, &Collected::from_list("security"));
    let kept: Vec<&str> = cs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        kept,
        [
            "Encoded PowerShell Command Line (test rule)",
            "Scheduled Task Created (test rule)"
        ]
    );
    assert!(report
        .not_collected
        .iter()
        .any(|(p, _, why)| p == "lsass_access.yml" && why.contains("sysmon-process-access")));
    // A logsource product token works for non-Windows rules.
    let (_, report, _) = rules(&w, &Collected::from_list("linux"));
    assert_eq!(report.counted, 1);
}

fn all_controls(w: &World) -> Vec<Control> {
    let (mut cs, _) = load_inventory(w);
    cs.extend(rules(w, &Collected::default()).0);
    cs.extend(
        dettect::load_dettect(
            &read("dettect.yaml"),
            "dettect.yaml",
            &w.kb,
            &TestPolicy::default(),
            day("2026-11-24"),
        )
        .unwrap()
        .0,
    );
    cs
}

#[test]
fn analysis_scores_layers_and_single_points() {
    let w = world();
    let cs = all_controls(&w);
    let threat = ThreatProfile::selected(
        &w.kb,
        &["G0016".into(), "G0032".into()],
        &["Windows".into()],
    )
    .unwrap();
    let collected = Collected::default();
    let inputs = Inputs {
        kb: &w.kb,
        models: &w.models,
        controls: &cs,
        threat: &threat,
        collected: &collected,
    };
    let a = analyse(&inputs, &AnalysisOptions::default());
    let row = |id: &str| a.techniques.iter().find(|t| t.id == id).unwrap();

    // T1059.001: EDR 3 (endpoint), rule 4 (sigma), DeTT&CT EDR 2 x 0.9 (dettect:EDR)
    // detect; M1026 (ATT&CK says it mitigates T1059.001) 3 x 0.75 untested prevents;
    // planned APPLOCKER not counted.
    let ps = row("T1059.001");
    assert_eq!(ps.layers, ["M1026", "dettect:EDR", "endpoint", "sigma"]);
    let detect = 1.0 - (1.0 - 0.6) * (1.0 - 0.8) * (1.0 - 0.36);
    assert!(
        (ps.scores.detect - detect).abs() < 1e-9,
        "{}",
        ps.scores.detect
    );
    assert!(
        (ps.scores.prevent - 0.45).abs() < 1e-9,
        "{}",
        ps.scores.prevent
    );
    let protect = 1.0 - (1.0 - detect) * (1.0 - 0.45);
    assert!((ps.scores.protect - protect).abs() < 1e-9);
    assert!(ps.controls.iter().all(|c| c.id != "APPLOCKER"));
    assert_eq!(ps.controls[0].strength, 4.0, "strongest first");
    // Spearphishing attachment: one prevent layer; a single point for both groups' delivery.
    let sp = row("T1566.001");
    assert_eq!(sp.layers, ["MAIL-GW"]);
    assert!((sp.scores.prevent - 0.6).abs() < 1e-9);
    assert!(a
        .single_points
        .iter()
        .any(|s| s.id == "T1566.001" && s.controls == ["MAIL-GW"]));
    // Respond kept apart: IR retainer on actions-on-objectives, not a layer.
    let lsass = row("T1003.001");
    assert!((lsass.scores.respond - 0.3).abs() < 1e-9);
    assert!(!lsass.layers.contains(&"IR-RETAINER".to_string()));
    // Visible but not detected: C2 from the network logs. RDP is visible
    // through DeTT&CT (M1026 prevents it, so it is not in the list).
    let vnd: Vec<&str> = a
        .visible_not_detected
        .iter()
        .map(|v| v.id.as_str())
        .collect();
    assert!(row("T1021.001")
        .visibility
        .contains(&"dettect:visibility".to_string()));
    assert_eq!(row("T1021.001").layers, ["M1026"]);
    assert!(vnd.contains(&"T1071.001"), "{vnd:?}");
    assert!(!vnd.contains(&"T1059.001"));
    // Out-of-scope platforms: the Linux cron rule does not count on a Windows scope.
    assert!(a.techniques.iter().all(|t| t.id != "T1053.003"));
    // Phases: weights and gaps add up to the technique rows.
    for p in &a.phases {
        let rows: Vec<_> = a
            .techniques
            .iter()
            .filter(|t| t.phases.contains(&p.id) && t.weight > 0.0)
            .collect();
        assert_eq!(p.threat_techniques, rows.len(), "{}", p.id);
        assert_eq!(
            p.gaps,
            rows.iter().filter(|t| t.layers.is_empty()).count(),
            "{}",
            p.id
        );
        let w: f64 = rows.iter().map(|t| t.weight).sum();
        assert!((p.weight - w).abs() < 1e-9);
    }
    // Gaps ranked by residual, ties by id.
    for pair in a.gaps.windows(2) {
        assert!(
            pair[0].residual > pair[1].residual
                || (pair[0].residual == pair[1].residual && pair[0].id < pair[1].id)
        );
    }
    // Per actor and phase: APT29's delivery has MAIL-GW alone or nothing.
    assert!(a
        .stage_single_points
        .iter()
        .any(|s| s.actor == "G0016" && s.phase == "command-and-control" && s.layer.is_none()));
    // Deterministic.
    let again = analyse(&inputs, &AnalysisOptions::default());
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&again).unwrap()
    );
}

#[test]
fn investment_is_greedy_per_cost_and_respects_the_budget() {
    let w = world();
    let cs = all_controls(&w);
    let threat = ThreatProfile::selected(
        &w.kb,
        &["G0016".into(), "G0032".into()],
        &["Windows".into()],
    )
    .unwrap();
    let inv = invest(&w.kb, &cs, &threat, &InvestOptions::default());
    assert_eq!(inv.candidates, 2);
    let order: Vec<&str> = inv.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(order, ["M1042", "APPLOCKER"]);
    assert!(inv.steps[0].gain_per_cost >= inv.steps[1].gain_per_cost);
    assert_eq!(inv.steps[0].runner_up.as_ref().unwrap().0, "APPLOCKER");
    assert!(inv.coverage_all > inv.coverage_now);
    assert!((inv.steps[1].coverage_after - inv.coverage_all).abs() < 1e-9);
    // APPLOCKER lifts Malicious File (T1204.002) from 0 to 60%.
    let g = inv.steps[1]
        .techniques
        .iter()
        .find(|t| t.id == "T1204.002")
        .unwrap();
    assert!((g.after - 0.6).abs() < 1e-9 && g.before == 0.0);
    // A budget of 5 leaves room for M1042 (3) only.
    let inv = invest(
        &w.kb,
        &cs,
        &threat,
        &InvestOptions {
            budget: Some(5.0),
            max_steps: 10,
        },
    );
    assert_eq!(inv.steps.len(), 1);
    assert!(inv.stopped.contains("budget"), "{}", inv.stopped);
}

/// A flow file through the Attack Flow importer, as `killchain coverage`
/// reads it: the importer's warnings first, then the conversion's issues.
fn read_flow(bytes: &[u8], name: &str) -> (flow::Flow, Vec<String>) {
    let file = killchain_anticipate::flow::parse_flow_file(bytes, name).unwrap();
    let mut issues: Vec<String> = file.warnings.iter().map(|w| w.to_string()).collect();
    let (f, more) = flow::from_attack_flow(&file.flows[0], name);
    issues.extend(more.iter().map(|i| i.to_string()));
    (f, issues)
}

#[test]
fn flow_reader_collapses_operators_and_non_actions() {
    let w = world();
    let bytes = std::fs::read(fixture("flows/test-intrusion.afb")).unwrap();
    let (f, issues) = read_flow(&bytes, "test-intrusion.afb");
    assert_eq!(f.name, "Test intrusion");
    let t: Vec<&str> = f.actions.iter().map(|a| a.technique.as_str()).collect();
    assert_eq!(
        t,
        [
            "T1566.001",
            "T1204.002",
            "T1059.001",
            "T1053.005",
            "T1003.001",
            "T1021.001"
        ]
    );
    assert_eq!(f.edges, [(0, 1), (1, 2), (1, 3), (2, 4), (3, 4), (4, 5)]);
    let text = issues;
    assert_eq!(
        text,
        [
            "test-intrusion.afb: line line-dangling: source end is not attached to any object (edge left out)",
            "test-intrusion.afb: 1 actions (Wait for the operator): no ATT&CK technique; passed through",
        ]
    );
    let (paths, truncated, _) = flow_paths(&w.kb, &f, "test-intrusion.afb", 100);
    assert!(!truncated);
    let labels: Vec<String> = paths
        .iter()
        .map(|p| {
            p.stages
                .iter()
                .map(|s| s.label.as_str())
                .collect::<Vec<_>>()
                .join(" > ")
        })
        .collect();
    assert_eq!(
        labels,
        [
            "T1566.001 > T1204.002 > T1059.001 > T1003.001 > T1021.001",
            "T1566.001 > T1204.002 > T1053.005 > T1003.001 > T1021.001",
        ]
    );
}

#[test]
fn simulation_finds_first_stop_single_points_and_a_hitting_set() {
    let w = world();
    let resolver = inventory::Resolver {
        kb: &w.kb,
        models: &w.models,
    };
    // Two controls: EDR detects PowerShell and LSASS; a task monitor detects scheduled tasks.
    let yaml = "controls:\n  - {id: EDR, kind: detect, strength: 4, tested: true, covers: [{technique: T1059.001}, {technique: T1003.001}]}\n  - {id: TASKS, kind: detect, strength: 3, tested: true, covers: [{technique: T1053.005}]}\n  - {id: WEAK, kind: detect, strength: 0.5, tested: true, covers: [{technique: T1566.001}]}\n";
    let (cs, issues) =
        inventory::load_inventory(yaml, "sim.yaml", &resolver, &Default::default()).unwrap();
    assert!(issues.is_empty(), "{issues:?}");
    let bytes = std::fs::read(fixture("flows/test-intrusion.afb")).unwrap();
    let (f, _) = read_flow(&bytes, "f");
    let (paths, _, _) = flow_paths(&w.kb, &f, "f", 100);
    let lm = w.models.index_of("lm").unwrap();
    let sim = simulate(&w.kb, &w.models, lm, &cs, &[(paths, false)], 1.0);
    let p0 = &sim.paths[0];
    let stop = p0.first_stop.as_ref().unwrap();
    // WEAK (0.5 < 1.0) does not stop delivery; EDR detects PowerShell at stage 3.
    assert_eq!(
        (stop.stage, stop.label.as_str(), stop.outcome),
        (3, "T1059.001", "detected")
    );
    assert_eq!(stop.phase, "exploitation");
    assert_eq!(stop.controls, ["EDR"]);
    // EDR also catches LSASS later: EDR's failure lets the path through.
    assert_eq!(p0.single_points, ["EDR"]);
    assert_eq!(p0.worst_failure, Some(("EDR".to_string(), None)));
    let p1 = &sim.paths[1];
    assert_eq!(p1.first_stop.as_ref().unwrap().controls, ["TASKS"]);
    assert_eq!(p1.first_stop.as_ref().unwrap().stage, 3);
    // Failing TASKS moves the first stop to LSASS (stage 4); failing EDR leaves TASKS.
    assert!(p1.single_points.is_empty());
    assert_eq!(p1.worst_failure, Some(("TASKS".to_string(), Some(4))));
    assert_eq!(sim.sources[0].robust, 1);
    // EDR stops both paths: the hitting set is EDR alone.
    let h = &sim.hitting_set;
    assert_eq!(h.distinct_paths, 2);
    assert_eq!(h.stoppable, 2);
    let chosen: Vec<&str> = h.controls.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(chosen, ["EDR"]);

    // An actor profile: APT29 gets through a stage unless every technique of it is covered.
    let threat = ThreatProfile::selected(&w.kb, &["G0016".into()], &[]).unwrap();
    let ap = actor_paths(&w.models, lm, &w.kb, &threat);
    assert_eq!(ap.len(), 1);
    assert!(ap[0]
        .stages
        .iter()
        .all(|s| w.models.models()[lm].phase_by_name(&s.label).is_some()));
    let sim = simulate(&w.kb, &w.models, lm, &cs, &[(ap, false)], 1.0);
    assert!(
        sim.paths[0].first_stop.is_none(),
        "{:?}",
        sim.paths[0].first_stop
    );
    assert_eq!(sim.hitting_set.stoppable, 0);
}

#[test]
fn navigator_layer_has_the_4_5_shape() {
    let w = world();
    let cs = all_controls(&w);
    let threat = ThreatProfile::selected(&w.kb, &["G0016".into()], &[]).unwrap();
    let collected = Collected::default();
    let inputs = Inputs {
        kb: &w.kb,
        models: &w.models,
        controls: &cs,
        threat: &threat,
        collected: &collected,
    };
    let report = Report {
        attack_version: "18.1".into(),
        inputs: Default::default(),
        threat: (&threat).into(),
        analysis: analyse(&inputs, &AnalysisOptions::default()),
        investment: invest(&w.kb, &cs, &threat, &InvestOptions::default()),
        simulation: None,
    };
    let l = navigator::layer(&report, "test");
    assert_eq!(l["versions"]["layer"], "4.5");
    assert_eq!(l["versions"]["attack"], "18");
    assert_eq!(l["domain"], "enterprise-attack");
    assert_eq!(l["gradient"]["maxValue"], 100);
    assert!(!l["legendItems"].as_array().unwrap().is_empty());
    let shortnames: Vec<&str> =
        w.kb.tactics()
            .iter()
            .map(|t| t.shortname.as_str())
            .collect();
    let ts = l["techniques"].as_array().unwrap();
    assert!(ts.len() > 691, "one entry per technique and tactic");
    for t in ts {
        assert!(shortnames.contains(&t["tactic"].as_str().unwrap()), "{t}");
        let s = t["score"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&s));
    }
    let ps = ts.iter().find(|t| t["techniqueID"] == "T1059.001").unwrap();
    assert_eq!(ps["tactic"], "execution");
    let meta: Vec<&str> = ps["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(
        meta.contains(&"EDR") && meta.contains(&"6d1a1b5e-0000-4000-8000-000000000001"),
        "{meta:?}"
    );
    let t1059 = ts.iter().find(|t| t["techniqueID"] == "T1059").unwrap();
    assert_eq!(t1059["showSubtechniques"], true);
}
