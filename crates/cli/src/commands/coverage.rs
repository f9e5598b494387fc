//! `killchain coverage` and `killchain bench coverage`: the I/O edge of the
//! coverage engine (`killchain-coverage`). Reads rule folders (through
//! `rules::read_rule_texts`, loaded by the detect engine), inventory and
//! DeTT&CT files, Attack Flow files and the collected-log list; hands texts
//! and values to the engine; writes the report in the format asked for.
//! Problems with one record or file are printed on stderr and counted; the
//! run goes on and the exit status is 1.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use killchain_coverage::control::Control;
use killchain_coverage::simulate::{self as sim, AttackPath};
use killchain_coverage::{
    analyse, dettect, flow, inventory, invest, navigator, render, rule_controls, simulate,
    AnalysisOptions, Collected, InputSummary, Inputs, InvestOptions, Issue, Report, RuleOptions,
    RulesSummary, TestPolicy, ThreatProfile, ThreatSummary,
};
use killchain_detect::correlation::Source;
use killchain_detect::pipeline::LogsourceKey;
use killchain_detect::{builtin_rules, Engine, LoadReport, Options, Pipeline, RuleText};
use serde_json::json;

use crate::cli::{BenchCoverageArgs, CoverageArgs, CoverageFormat, GlobalOpts};
use crate::commands::rules::{load_pipeline, read_rule_texts};
use crate::context::{self, Context};
use crate::walk::files_below;

/// Rules are loaded without logsource routing: coverage asks what a rule
/// detects wherever the organisation runs it, so a Linux or cloud rule is
/// not "unsupported" for want of a Windows pipeline entry. Whether its log
/// source is collected is decided by `--collected`.
fn rule_options() -> Options {
    Options {
        routing: false,
        ..Options::default()
    }
}

/// Rules loaded from folders: the load report and the controls.
fn load_rules(
    ctx: &Context,
    texts: &[RuleText],
    mut report: LoadReport,
    pipeline: &Pipeline,
    collected: &Collected,
    opts: &RuleOptions,
    summary: &mut RulesSummary,
) -> Vec<Control> {
    let (engine, r) = Engine::build(texts, pipeline, &rule_options());
    report.entries.extend(r.entries);
    // What reports on its own counts: rules that only feed a correlation
    // do not; correlation rules do, with their own tags (else their rules')
    // on the log source of the rules they build on.
    let mut infos: Vec<_> = engine
        .rules()
        .enumerate()
        .filter(|(i, _)| engine.is_standalone(*i))
        .map(|(_, r)| r.clone())
        .collect();
    for (i, c) in engine.correlations().iter().enumerate() {
        if !engine.correlation_is_standalone(i) {
            continue;
        }
        let mut info = c.info.clone();
        info.tags = c.effective_tags.clone();
        if let Some(ls) = correlation_logsource(&engine, i) {
            info.logsource = ls;
        }
        infos.push(info);
    }
    let (controls, rr) = rule_controls(&infos, &ctx.kb, pipeline, collected, opts);
    if opts.planned {
        summary.candidates += rr.counted;
        return controls;
    }
    summary.documents += report.entries.len();
    summary.loaded += report.loaded();
    summary.unsupported += report.unsupported();
    summary.invalid += report.invalid();
    summary.filtered += report.filtered();
    summary.counted += rr.counted;
    summary.not_collected += rr.not_collected.len();
    summary.without_techniques += rr.without_techniques.len();
    summary.unknown_tags += rr.unknown_tags.len();
    controls
}

/// The log source of the first rule a correlation builds on.
fn correlation_logsource(engine: &Engine, c: usize) -> Option<LogsourceKey> {
    engine.correlations()[c].sources().find_map(|s| match s {
        Source::Rule(r) => Some(engine.rule(r).logsource.clone()),
        Source::Correlation(x) => correlation_logsource(engine, x),
    })
}

fn collected_from(arg: Option<&str>) -> Result<Collected> {
    let Some(a) = arg else {
        return Ok(Collected::default());
    };
    let p = Path::new(a);
    if p.is_file() {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
        return Ok(Collected::from_yaml(&text, &p.display().to_string())?);
    }
    Ok(Collected::from_list(a))
}

/// `.afb` files named, or below the given folders (the shared walk:
/// recursive, sorted, symlinks followed); what the walk skips is an issue.
fn flow_files(paths: &[PathBuf], issues: &mut Vec<Issue>) -> Vec<PathBuf> {
    let afb = |f: &Path| f.extension().is_some_and(|x| x.eq_ignore_ascii_case("afb"));
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            match files_below(p, &afb) {
                Ok(walked) => {
                    out.extend(walked.files);
                    for s in walked.skipped {
                        issues.push(file_issue(&s.path, &format!("{} (skipped)", s.reason)));
                    }
                }
                Err(e) => issues.push(file_issue(p, &format!("cannot read folder: {e}"))),
            }
        } else {
            out.push(p.clone());
        }
    }
    out
}

/// An engine error's text without the input name it starts with (the
/// issue names the input already).
fn error_text(e: &killchain_coverage::CoverageError, input: &str) -> String {
    let s = e.to_string();
    s.strip_prefix(input)
        .and_then(|r| r.strip_prefix(": "))
        .map(String::from)
        .unwrap_or(s)
}

fn file_issue(p: &Path, reason: &str) -> Issue {
    Issue {
        input: p.display().to_string(),
        record: "(file)".into(),
        reason: reason.to_string(),
        skipped: true,
    }
}

/// Everything read, ready for the engine.
struct Loaded {
    controls: Vec<Control>,
    summary: InputSummary,
    threat: ThreatProfile,
    sources: Vec<(Vec<AttackPath>, bool)>,
}

struct LoadArgs<'a> {
    rules: &'a [PathBuf],
    with_builtin: bool,
    candidate_rules: &'a [PathBuf],
    controls: &'a [PathBuf],
    dettect: &'a [PathBuf],
    flows: &'a [PathBuf],
    threat: &'a [String],
    platforms: &'a [String],
    collected: Collected,
    rule_opts: RuleOptions,
    as_of: Option<jiff::civil::Date>,
    model: usize,
    max_paths: usize,
}

fn load_all(ctx: &Context, pipeline: &Pipeline, a: LoadArgs<'_>) -> Result<Loaded> {
    let mut summary = InputSummary {
        collected: a.collected.tokens.clone(),
        ..InputSummary::default()
    };
    let mut controls: Vec<Control> = Vec::new();
    // Rules in use.
    if !a.rules.is_empty() || a.with_builtin {
        let (mut texts, unreadable) = read_rule_texts(a.rules);
        if a.with_builtin {
            texts.extend(builtin_rules());
        }
        let report = LoadReport {
            entries: unreadable,
        };
        controls.extend(load_rules(
            ctx,
            &texts,
            report,
            pipeline,
            &a.collected,
            &a.rule_opts,
            &mut summary.rules,
        ));
    }
    if !a.candidate_rules.is_empty() {
        let (texts, unreadable) = read_rule_texts(a.candidate_rules);
        for u in unreadable {
            summary.issues.push(Issue {
                input: u.path,
                record: "(file)".into(),
                reason: format!("{:?}", u.outcome),
                skipped: true,
            });
        }
        let opts = RuleOptions {
            planned: true,
            ..a.rule_opts.clone()
        };
        let mut cands = load_rules(
            ctx,
            &texts,
            LoadReport::default(),
            pipeline,
            &a.collected,
            &opts,
            &mut summary.rules,
        );
        // A candidate already deployed is no candidate.
        cands.retain(|c| !controls.iter().any(|d| d.id == c.id));
        for c in &mut cands {
            c.id = format!("candidate:{}", c.id);
        }
        controls.extend(cands);
    }
    // Inventory and DeTT&CT.
    let resolver = inventory::Resolver {
        kb: &ctx.kb,
        models: &ctx.models,
    };
    let load_opts = inventory::LoadOptions {
        tests: TestPolicy::default(),
        as_of: a.as_of,
    };
    for p in a.controls {
        let text = match std::fs::read_to_string(p) {
            Ok(t) => t,
            Err(e) => {
                summary
                    .issues
                    .push(file_issue(p, &format!("cannot read: {e}")));
                continue;
            }
        };
        match inventory::load_inventory(&text, &p.display().to_string(), &resolver, &load_opts) {
            Ok((cs, issues)) => {
                summary.issues.extend(issues);
                add_controls(&mut controls, cs, &mut summary, p);
            }
            Err(e) => summary
                .issues
                .push(file_issue(p, &error_text(&e, &p.display().to_string()))),
        }
    }
    for p in a.dettect {
        let text = match std::fs::read_to_string(p) {
            Ok(t) => t,
            Err(e) => {
                summary
                    .issues
                    .push(file_issue(p, &format!("cannot read: {e}")));
                continue;
            }
        };
        match dettect::load_dettect(
            &text,
            &p.display().to_string(),
            &ctx.kb,
            &load_opts.tests,
            a.as_of,
        ) {
            Ok((cs, issues)) => {
                summary.issues.extend(issues);
                add_controls(&mut controls, cs, &mut summary, p);
            }
            Err(e) => summary
                .issues
                .push(file_issue(p, &error_text(&e, &p.display().to_string()))),
        }
    }
    // Threat.
    let threat = if a.threat.is_empty() {
        ThreatProfile::all(&ctx.kb, a.platforms)
    } else {
        ThreatProfile::selected(&ctx.kb, a.threat, a.platforms)?
    };
    // Paths: flows, then the named actors.
    let mut sources = Vec::new();
    for f in flow_files(a.flows, &mut summary.issues) {
        let name = f.display().to_string();
        let bytes = match std::fs::read(&f) {
            Ok(b) => b,
            Err(e) => {
                summary
                    .issues
                    .push(file_issue(&f, &format!("cannot read: {e}")));
                continue;
            }
        };
        let file = match killchain_anticipate::flow::parse_flow_file(&bytes, &name) {
            Ok(file) => file,
            Err(e) => {
                summary.issues.push(file_issue(&f, &e.to_string()));
                continue;
            }
        };
        summary.issues.extend(file.warnings.iter().map(|w| Issue {
            input: w.file.clone(),
            record: w.object.clone(),
            reason: w.reason.clone(),
            skipped: false,
        }));
        for imported in &file.flows {
            let (fl, issues) = flow::from_attack_flow(imported, &name);
            summary.issues.extend(issues);
            summary.flows += 1;
            let (paths, truncated, issues) = sim::flow_paths(&ctx.kb, &fl, &name, a.max_paths);
            summary.issues.extend(issues);
            if truncated {
                summary.issues.push(Issue {
                    input: name.clone(),
                    record: "(flow)".into(),
                    reason: format!(
                        "more than {} paths; the first {} replayed",
                        a.max_paths, a.max_paths
                    ),
                    skipped: false,
                });
            }
            if paths.is_empty() {
                summary.issues.push(Issue {
                    input: name.clone(),
                    record: "(flow)".into(),
                    reason: "no action with an ATT&CK technique; nothing to replay".into(),
                    skipped: false,
                });
            }
            sources.push((paths, truncated));
        }
    }
    if threat.mode == "selected" {
        for p in sim::actor_paths(&ctx.models, a.model, &ctx.kb, &threat) {
            sources.push((vec![p], false));
        }
    }
    Ok(Loaded {
        controls,
        summary,
        threat,
        sources,
    })
}

fn add_controls(all: &mut Vec<Control>, new: Vec<Control>, summary: &mut InputSummary, p: &Path) {
    for c in new {
        if all.iter().any(|x| x.id == c.id) {
            summary.issues.push(Issue {
                input: p.display().to_string(),
                record: format!("control {}", c.id),
                reason: "an earlier input already has a control with this id".into(),
                skipped: true,
            });
            continue;
        }
        summary.inventory_controls += 1;
        all.push(c);
    }
}

fn as_of(arg: Option<&str>) -> Result<jiff::civil::Date> {
    match arg {
        Some(s) => s
            .parse()
            .with_context(|| format!("--as-of {s:?} is not a date (YYYY-MM-DD)")),
        None => Ok(jiff::Zoned::now().date()),
    }
}

/// Builds the report.
fn build_report(
    ctx: &Context,
    loaded: Loaded,
    collected: &Collected,
    opts: &AnalysisOptions,
    inv: &InvestOptions,
    model: usize,
) -> Report {
    let inputs = Inputs {
        kb: &ctx.kb,
        models: &ctx.models,
        controls: &loaded.controls,
        threat: &loaded.threat,
        collected,
    };
    let analysis = analyse(&inputs, opts);
    let investment = invest(&ctx.kb, &loaded.controls, &loaded.threat, inv);
    let simulation = (!loaded.sources.is_empty()).then(|| {
        simulate(
            &ctx.kb,
            &ctx.models,
            model,
            &loaded.controls,
            &loaded.sources,
            opts.min_strength,
        )
    });
    Report {
        attack_version: ctx.kb.meta().version.clone(),
        inputs: loaded.summary,
        threat: ThreatSummary::from(&loaded.threat),
        analysis,
        investment,
        simulation,
    }
}

pub fn run(global: &GlobalOpts, args: CoverageArgs) -> Result<ExitCode> {
    let ctx = context::load(global)?;
    let model = context::select_models(&ctx.models, std::slice::from_ref(&args.model))?[0];
    if !(0.0..=5.0).contains(&args.min_strength) {
        bail!("--min-strength {} is outside 0-5", args.min_strength);
    }
    // As for an inventory control's cost; an infinite budget is no limit.
    if !(args.rule_cost.is_finite() && args.rule_cost >= 0.0) {
        bail!("--rule-cost {} must be a number >= 0", args.rule_cost);
    }
    if let Some(b) = args.budget.filter(|b| b.is_nan() || *b < 0.0) {
        bail!("--budget {b} must be a number >= 0");
    }
    let pipeline = load_pipeline(global, &args.pipelines)?;
    let collected = collected_from(args.collected.as_deref())?;
    let day = as_of(args.as_of.as_deref())?;
    let loaded = load_all(
        &ctx,
        &pipeline,
        LoadArgs {
            rules: &args.rules,
            with_builtin: args.with_builtin,
            candidate_rules: &args.candidate_rules,
            controls: &args.controls,
            dettect: &args.dettect,
            flows: &args.flows,
            threat: &args.threat,
            platforms: &args.platforms,
            collected: collected.clone(),
            rule_opts: RuleOptions {
                parent_covers_subtechniques: args.parent_covers_subtechniques,
                cost: args.rule_cost,
                planned: false,
            },
            as_of: Some(day),
            model,
            max_paths: args.max_paths,
        },
    )?;
    if loaded.controls.is_empty() {
        eprintln!("killchain: warning: no controls loaded (give --rules, --controls or --dettect)");
    }
    let opts = AnalysisOptions {
        min_strength: args.min_strength,
        model: ctx.models.models()[model].id.clone(),
    };
    let inv = InvestOptions {
        budget: args.budget,
        max_steps: args.steps,
    };
    let report = build_report(&ctx, loaded, &collected, &opts, &inv, model);
    let format = if args.json {
        CoverageFormat::Json
    } else {
        args.format
    };
    let out = match format {
        CoverageFormat::Text => text(&report, args.top),
        CoverageFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
        CoverageFormat::Md => render::markdown(&report, args.top),
        CoverageFormat::Html => render::html(&report, args.top),
        CoverageFormat::Csv => render::csv(&report),
        CoverageFormat::Navigator => {
            serde_json::to_string_pretty(&navigator::layer(&report, "killchain coverage"))? + "\n"
        }
    };
    match &args.output {
        Some(p) => {
            std::fs::write(p, out).with_context(|| format!("cannot write {}", p.display()))?
        }
        None => {
            use std::io::Write;
            std::io::stdout().write_all(out.as_bytes())?;
        }
    }
    for i in &report.inputs.issues {
        eprintln!("killchain: {i}");
    }
    let skipped = report.inputs.issues.iter().filter(|i| i.skipped).count();
    let r = &report.inputs.rules;
    eprintln!(
        "killchain coverage: rules {} documents, {} loaded, {} unsupported, {} invalid, {} counted, {} not collected, {} without technique tags; {} inventory controls; {} flows; {} input issues ({} records skipped)",
        r.documents,
        r.loaded,
        r.unsupported,
        r.invalid,
        r.counted,
        r.not_collected,
        r.without_techniques,
        report.inputs.inventory_controls,
        report.inputs.flows,
        report.inputs.issues.len(),
        skipped
    );
    Ok(if skipped > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn pct(x: f64) -> String {
    format!("{:>3.0}%", x * 100.0)
}

/// The terminal summary: the kill chain bar with depth per stage, then the
/// short lists.
fn text(r: &Report, top: usize) -> String {
    let a = &r.analysis;
    let mut s = String::new();
    let _ = writeln!(s, "killchain coverage: {}\n", render::headline(r));
    let t = &a.totals;
    let _ = writeln!(
        s,
        "Threat techniques {} of {} in scope; {} have a prevent or detect layer; threat-weighted protect {} (prevent {}, detect {}, respond {})\n",
        t.threat_techniques,
        t.techniques_in_scope,
        t.threat_techniques_covered,
        pct(t.weighted.protect).trim(),
        pct(t.weighted.prevent).trim(),
        pct(t.weighted.detect).trim(),
        pct(t.weighted.respond).trim()
    );
    let _ = writeln!(
        s,
        "Kill chain ({}): threat-weighted protection, layers (mean / min), gaps (no layer), single layer"
        , a.model
    );
    for p in &a.phases {
        let filled = (p.weighted.protect * 20.0).round() as usize;
        let _ = writeln!(
            s,
            "  {:<24} {}{} {}  layers {:.1} / {}  gaps {:>3}  single {:>3}  [prevent {} detect {} respond {}]  {} threat techniques",
            p.id,
            "█".repeat(filled),
            "░".repeat(20 - filled.min(20)),
            pct(p.weighted.protect),
            p.depth_mean,
            p.depth_min,
            p.gaps,
            p.single_layer,
            pct(p.weighted.prevent).trim(),
            pct(p.weighted.detect).trim(),
            pct(p.weighted.respond).trim(),
            p.threat_techniques
        );
    }
    let list = |s: &mut String, title: String, rows: Vec<String>| {
        let _ = writeln!(s, "\n{title}");
        if rows.is_empty() {
            let _ = writeln!(s, "  (none)");
        }
        for r in rows {
            let _ = writeln!(s, "  {r}");
        }
    };
    list(
        &mut s,
        format!("Top gaps (weight x (1 - protect)), {} in all", a.gaps.len()),
        a.gaps
            .iter()
            .take(top)
            .map(|g| {
                format!(
                    "{:<10} {:<44} weight {:>3}  protect {}  layers {}  {}",
                    g.id,
                    trunc(&g.name, 44),
                    g.weight,
                    pct(g.protect),
                    g.depth,
                    if g.visible { "visible" } else { "" }
                )
            })
            .collect(),
    );
    list(
        &mut s,
        format!(
            "Single points of failure (one layer), {} in all",
            a.single_points.len()
        ),
        a.single_points
            .iter()
            .take(top)
            .map(|p| {
                format!(
                    "{:<10} {:<44} weight {:>3}  only {}",
                    p.id,
                    trunc(&p.name, 44),
                    p.weight,
                    p.layer
                )
            })
            .collect(),
    );
    list(
        &mut s,
        format!(
            "Visible but not detected, {} in all",
            a.visible_not_detected.len()
        ),
        a.visible_not_detected
            .iter()
            .take(top)
            .map(|v| {
                format!(
                    "{:<10} {:<44} weight {:>3}  {}",
                    v.id,
                    trunc(&v.name, 44),
                    v.weight,
                    v.visibility.join(", ")
                )
            })
            .collect(),
    );
    let inv = &r.investment;
    list(
        &mut s,
        format!(
            "Investment list ({} candidates; protect {} now, {} with all; {})",
            inv.candidates,
            pct(inv.coverage_now).trim(),
            pct(inv.coverage_all).trim(),
            inv.stopped
        ),
        inv.steps
            .iter()
            .map(|st| {
                format!(
                    "{:>2}. {} ({}, cost {}): +{:.2} weighted ({:.3}/cost), protect {} -> {}; gains {}",
                    st.step,
                    st.id,
                    trunc(&st.name, 40),
                    st.cost,
                    st.gain,
                    st.gain_per_cost,
                    pct(st.coverage_before).trim(),
                    pct(st.coverage_after).trim(),
                    st.techniques
                        .iter()
                        .map(|t| format!("{} {}->{}", t.id, pct(t.before).trim(), pct(t.after).trim()))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect(),
    );
    if let Some(sim) = &r.simulation {
        list(
            &mut s,
            "Attack-path simulation (first stop; robust = stopped whatever single control fails)".into(),
            sim.sources
                .iter()
                .map(|x| {
                    format!(
                        "{:<45} paths {:>5}{}  blocked {:>4}  detected {:>4}  through {:>4}  robust {:>4}  first stop: {}",
                        trunc(&format!("{} {}", x.kind, x.source), 45),
                        x.paths,
                        if x.truncated { "+" } else { " " },
                        x.blocked,
                        x.detected,
                        x.through,
                        x.robust,
                        if x.first_stop_phases.is_empty() {
                            "-".to_string()
                        } else {
                            x.first_stop_phases
                                .iter()
                                .map(|(p, n)| format!("{p} {n}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    )
                })
                .collect(),
        );
        let h = &sim.hitting_set;
        list(
            &mut s,
            format!(
                "Controls that stop every path: {} chosen for {} stoppable of {} distinct paths (greedy; approximates the minimum)",
                h.controls.len(),
                h.stoppable,
                h.distinct_paths
            ),
            h.controls
                .iter()
                .take(top)
                .map(|c| format!("{} ({}): +{} paths, {} stopped", c.id, trunc(&c.name, 50), c.newly_stopped, c.stopped_total))
                .collect(),
        );
    }
    s
}

fn trunc(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// `killchain bench coverage`: the full analysis (rule load, controls,
/// analysis, investment, simulation) against the floor of loading the same
/// rules alone, in the same run, best of N; file reading is outside both.
pub fn bench(global: &GlobalOpts, args: BenchCoverageArgs) -> Result<ExitCode> {
    let ctx = context::load(global)?;
    let pipeline = load_pipeline(global, &[])?;
    let (texts, _) = read_rule_texts(&args.rules);
    if texts.is_empty() {
        bail!("no rules found in {:?}", args.rules);
    }
    let model = ctx.models.index_of("lm").unwrap_or(0);
    let collected = Collected::default();
    let mut floor = f64::MAX;
    let mut full = f64::MAX;
    let mut counted = 0;
    let mut paths = 0;
    let mut techniques = 0;
    for _ in 0..args.runs.max(1) {
        let t = Instant::now();
        let (engine, _) = Engine::build(&texts, &pipeline, &rule_options());
        std::hint::black_box(engine.len());
        floor = floor.min(t.elapsed().as_secs_f64());

        let t = Instant::now();
        let mut summary = RulesSummary::default();
        let mut controls = load_rules(
            &ctx,
            &texts,
            LoadReport::default(),
            &pipeline,
            &collected,
            &RuleOptions {
                cost: 1.0,
                ..RuleOptions::default()
            },
            &mut summary,
        );
        let rest = load_all(
            &ctx,
            &pipeline,
            LoadArgs {
                rules: &[],
                with_builtin: false,
                candidate_rules: &[],
                controls: &args.controls,
                dettect: &[],
                flows: &args.flows,
                threat: &args.threat,
                platforms: &[],
                collected: collected.clone(),
                rule_opts: RuleOptions::default(),
                as_of: None,
                model,
                max_paths: 5000,
            },
        )?;
        controls.extend(rest.controls);
        let loaded = Loaded {
            controls,
            summary: rest.summary,
            threat: rest.threat,
            sources: rest.sources,
        };
        let report = build_report(
            &ctx,
            loaded,
            &collected,
            &AnalysisOptions::default(),
            &InvestOptions::default(),
            model,
        );
        full = full.min(t.elapsed().as_secs_f64());
        counted = summary.counted;
        techniques = report.analysis.totals.techniques_covered;
        paths = report.simulation.as_ref().map_or(0, |s| s.paths.len());
    }
    let ratio = floor / full;
    if args.json {
        println!(
            "{}",
            json!({"bench": "coverage", "rules": texts.len(), "rules_counted": counted, "paths": paths,
                   "techniques_covered": techniques, "runs": args.runs,
                   "floor_seconds": floor, "coverage_seconds": full, "ratio_to_floor": ratio})
        );
    } else {
        println!(
            "bench coverage: {} rule files, {counted} rules counted, {paths} paths replayed, best of {} runs, 1 thread",
            texts.len(),
            args.runs.max(1)
        );
        println!("  floor (load the rules alone)          {:>8.3} s", floor);
        println!(
            "  killchain coverage (everything)       {:>8.3} s  ({techniques} techniques covered)",
            full
        );
        println!(
            "  ratio to floor                        {:>7.0}%",
            ratio * 100.0
        );
    }
    Ok(ExitCode::SUCCESS)
}
