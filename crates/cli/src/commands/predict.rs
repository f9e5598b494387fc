//! `killchain predict`: the I/O edge of the anticipate engine. Reads technique
//! IDs or findings files, Attack Flow files, the saved model and playbook
//! files; calls `Anticipator::predict`; prints the report or JSON. The
//! helpers here (reading flows, loading the predictor) are shared with
//! `model train`, `eval predict` and `bench predict`.

use std::fs;
use std::io::{Read as _, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use killchain_anticipate::fit::fit_weights;
use killchain_anticipate::flow::{parse_flow_file, Flow, FlowFile};
use killchain_anticipate::model::{resolve_flows, Predictor, SavedModel, Weights};
use killchain_anticipate::prediction::{ObservedStep, Role, Stage};
use killchain_anticipate::sequence::{ecs_step, parse_sequence_file, EcsStep};
use killchain_anticipate::{Anticipator, Observed, Playbooks, PredictOptions, Prediction};
use killchain_ingest::{open_input, Format, JsonRecords};

use crate::cli::{GlobalOpts, PredictArgs};
use crate::context::{self, Context};
use crate::walk::files_below;

/// The saved model inside the data directory.
pub const SAVED_MODEL: &str = "anticipate/model.json";

/// Flows read from files and folders, with what went wrong.
#[derive(Debug, Default)]
pub struct FlowsRead {
    pub flows: Vec<Flow>,
    pub files: usize,
    /// Files that could not be used (reported on stderr).
    pub bad_files: usize,
    /// Bad objects inside usable files (reported on stderr).
    pub warnings: usize,
}

/// Read Attack Flow files: `.afb` and `.json` files, folders recursively
/// (sorted, so runs are deterministic). A bad file is reported and skipped.
pub fn read_flows(paths: &[PathBuf]) -> Result<FlowsRead> {
    let files = expand(paths, &["afb", "json"])?;
    Ok(read_each(files, |f, name| {
        let b = fs::read(f).map_err(|e| anyhow::anyhow!("{name}: cannot read: {e}"))?;
        Ok(parse_flow_file(&b, name)?)
    }))
}

/// Parses each file with `parse`, reporting its warnings, or the error
/// that made it unusable (the file is then skipped), and counts both.
fn read_each(files: Vec<PathBuf>, parse: impl Fn(&Path, &str) -> Result<FlowFile>) -> FlowsRead {
    let mut out = FlowsRead::default();
    for f in files {
        match parse(&f, &f.display().to_string()) {
            Ok(ff) => {
                out.files += 1;
                for w in &ff.warnings {
                    eprintln!("killchain: warning: {w}");
                }
                out.warnings += ff.warnings.len();
                out.flows.extend(ff.flows);
            }
            Err(e) => {
                eprintln!("killchain: error: {e:#} (file skipped)");
                out.bad_files += 1;
            }
        }
    }
    out
}

/// Read sequence files (incident timelines as CSV or JSON records, one step
/// a row, oldest first; `killchain_anticipate::sequence`): files, folders
/// recursively (`.csv`, `.json`, `.ndjson`, `.jsonl`, gzip detected),
/// sorted. A bad file is reported and skipped.
pub fn read_sequences(paths: &[PathBuf]) -> Result<FlowsRead> {
    let files = expand(paths, &["csv", "json", "ndjson", "jsonl", "gz"])?;
    Ok(read_each(files, |f, name| {
        let mut b = Vec::new();
        open_input(f)
            .and_then(|mut r| r.read_to_end(&mut b))
            .map_err(|e| anyhow::anyhow!("{name}: cannot read: {e}"))?;
        Ok(parse_sequence_file(&b, name)?)
    }))
}

/// The files named, and in folders those with one of `exts`, recursively,
/// sorted (so runs are deterministic). A path that does not exist is an
/// error.
fn expand(paths: &[PathBuf], exts: &[&str]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            collect_ext(p, exts, &mut files)
                .with_context(|| format!("cannot read folder {}", p.display()))?;
        } else if p.exists() {
            files.push(p.clone());
        } else {
            bail!("{}: no such file or folder", p.display());
        }
    }
    Ok(files)
}

fn collect_ext(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let wanted = |p: &Path| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| exts.contains(&e))
    };
    let walked = files_below(dir, &wanted)?;
    for s in &walked.skipped {
        eprintln!("killchain: warning: {s}");
    }
    out.extend(walked.files);
    Ok(())
}

/// One line on stderr about the flows read.
pub fn flows_summary(what: &str, r: &FlowsRead) -> String {
    format!(
        "killchain {what}: {} files, {} flows, {} actions, {} edges; {} bad files skipped, {} bad objects skipped",
        r.files,
        r.flows.len(),
        r.flows.iter().map(|f| f.actions.len()).sum::<usize>(),
        r.flows.iter().map(|f| f.edges.len()).sum::<usize>(),
        r.bad_files,
        r.warnings
    )
}

/// The flows the predictor learns from: the saved model (unless told not
/// to), then the flows given now; and the weights to use: the saved
/// model's when no flows are added (None: fit them, or the defaults for the
/// kb alone).
pub fn training_flows(
    global: &GlobalOpts,
    extra: &[PathBuf],
    use_saved: bool,
) -> Result<(Vec<Flow>, FlowsRead, Option<Weights>)> {
    let mut flows = Vec::new();
    let mut weights = None;
    if use_saved {
        if let Ok(dir) = context::data_dir(global) {
            let path = dir.join(SAVED_MODEL);
            if path.is_file() {
                let name = path.display().to_string();
                let bytes = fs::read(&path).with_context(|| format!("cannot read {name}"))?;
                let saved = SavedModel::from_json(&bytes, &name)?;
                weights = saved.weights;
                flows.extend(saved.flows);
            }
        }
    }
    let read = if extra.is_empty() {
        FlowsRead::default()
    } else {
        weights = None;
        read_flows(extra)?
    };
    flows.extend(read.flows.iter().cloned());
    Ok((flows, read, weights))
}

/// Playbooks: built-in, then `<data dir>/playbooks/*.yaml` (sorted), then `--playbook` files.
pub fn load_playbooks(global: &GlobalOpts, files: &[PathBuf], ctx: &Context) -> Result<Playbooks> {
    let mut pb = Playbooks::builtin();
    let mut paths = Vec::new();
    if let Ok(dir) = context::data_dir(global) {
        if let Ok(entries) = fs::read_dir(dir.join("playbooks")) {
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
                .collect();
            found.sort();
            paths.extend(found);
        }
    }
    paths.extend(files.iter().cloned());
    for p in paths {
        let name = p.display().to_string();
        let text =
            fs::read_to_string(&p).with_context(|| format!("cannot read playbook {name}"))?;
        pb.add_yaml(&text, &name)?;
    }
    pb.check(&ctx.models);
    for w in &pb.warnings {
        eprintln!("killchain: warning: {w}");
    }
    Ok(pb)
}

/// Findings read from NDJSON: what was seen, in time order.
#[derive(Debug, Default)]
pub struct FindingsRead {
    pub observed: Observed,
    pub records: usize,
    pub with_techniques: usize,
    pub malformed: usize,
}

/// Read findings files (`map` / `hunt` output, docs/output-schema.md).
/// Each record gives its sub-techniques, and parent techniques no listed
/// sub-technique accounts for, with its tactic when it names exactly one.
pub fn read_findings(paths: &[PathBuf]) -> Result<FindingsRead> {
    let mut out = FindingsRead::default();
    let mut timed: Vec<(Option<String>, Vec<ObservedStep>)> = Vec::new();
    for p in paths {
        let name = p.display().to_string();
        let reader = open_input(p).with_context(|| format!("cannot read findings {name}"))?;
        for item in JsonRecords::new(reader, Format::Auto) {
            let rec = match item {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("killchain: warning: {name}:{e} (record skipped)");
                    out.malformed += 1;
                    continue;
                }
            };
            out.records += 1;
            if !rec.value.is_object() {
                eprintln!(
                    "killchain: warning: {name}:line {}: not a JSON object (record skipped)",
                    rec.line
                );
                out.malformed += 1;
                continue;
            }
            let EcsStep {
                techniques,
                tactics,
                timestamp: ts,
            } = ecs_step(&rec.value);
            let tactic = (tactics.len() == 1).then(|| tactics[0].clone());
            if techniques.is_empty() && tactic.is_none() {
                continue;
            }
            out.with_techniques += usize::from(!techniques.is_empty());
            let steps = if techniques.is_empty() {
                vec![ObservedStep {
                    technique: None,
                    tactic,
                }]
            } else {
                techniques
                    .into_iter()
                    .map(|t| ObservedStep {
                        technique: Some(t),
                        tactic: tactic.clone(),
                    })
                    .collect()
            };
            timed.push((ts, steps));
        }
    }
    let untimed = timed.iter().filter(|(t, _)| t.is_none()).count();
    if untimed == 0 {
        // RFC 3339 UTC timestamps (what map writes) sort as strings; stable for ties.
        timed.sort_by(|a, b| a.0.cmp(&b.0));
    } else if timed.len() > 1 {
        eprintln!(
            "killchain: note: {untimed} of {} findings with techniques have no @timestamp string; all are taken in file order",
            timed.len()
        );
    }
    out.observed.steps = timed.into_iter().flat_map(|(_, s)| s).collect();
    Ok(out)
}

pub fn run(global: &GlobalOpts, args: PredictArgs) -> Result<ExitCode> {
    if args.techniques.is_empty() && args.findings.is_empty() {
        bail!("nothing to predict from: give technique IDs (killchain predict T1566.001 T1059.001) or --findings FILE");
    }
    let ctx = context::load(global)?;
    let mut observed = Observed::techniques(&args.techniques);
    let mut bad = 0;
    if !args.findings.is_empty() {
        let f = read_findings(&args.findings)?;
        eprintln!(
            "killchain predict: {} findings, {} with techniques, {} malformed",
            f.records, f.with_techniques, f.malformed
        );
        bad += f.malformed;
        observed.steps.extend(f.observed.steps);
    }
    let (anticipator, read) = build_anticipator(
        global,
        &ctx,
        &args.flows,
        !args.no_saved_model,
        &args.playbooks,
        args.top,
    )?;
    if !args.flows.is_empty() {
        eprintln!("{}", flows_summary("predict", &read));
    }
    bad += read.bad_files + read.warnings;
    let prediction = anticipator.predict(&observed);
    for n in &prediction.notes {
        eprintln!("killchain: note: {n}");
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &prediction)?;
        writeln!(out)?;
    } else {
        write_report(&mut out, &prediction)?;
    }
    if prediction.observed.is_empty() {
        eprintln!("killchain predict: no known technique seen; the prediction is the ATT&CK prior");
    }
    Ok(if bad > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn pct(p: f64) -> String {
    format!("{:>5.1}%", p * 100.0)
}

/// The anticipator `predict` and `incident show` use: trained on the saved
/// model's flows (unless `use_saved` is false) plus `flows`, with the
/// playbooks (built-in, data dir, `playbooks`); `top` items per list.
pub fn build_anticipator<'k>(
    global: &GlobalOpts,
    ctx: &'k Context,
    flows: &[PathBuf],
    use_saved: bool,
    playbooks: &[PathBuf],
    top: usize,
) -> Result<(Anticipator<'k>, FlowsRead)> {
    let (all, read, saved_weights) = training_flows(global, flows, use_saved)?;
    let (resolved, _) = resolve_flows(&ctx.kb, &all);
    let weights =
        saved_weights.unwrap_or_else(|| fit_weights(&ctx.kb, &resolved, Weights::default()));
    let predictor = Predictor::train(&ctx.kb, &resolved, weights);
    let playbooks = load_playbooks(global, playbooks, ctx)?;
    let options = PredictOptions {
        top: top.max(1),
        ..PredictOptions::default()
    };
    Ok((
        Anticipator::new(predictor, &ctx.models, playbooks, options),
        read,
    ))
}

/// The terminal report.
pub fn write_report(out: &mut impl Write, p: &Prediction) -> std::io::Result<()> {
    let m = &p.model;
    writeln!(
        out,
        "killchain predict: {} techniques seen; model: {} flows ({} edges) from {} files + {} ATT&CK groups, campaigns and software (ATT&CK {})",
        p.observed.len(),
        m.flows,
        m.edges,
        m.files,
        m.procedures,
        m.attack_version
    )?;
    writeln!(out, "\nSeen")?;
    for o in &p.observed {
        writeln!(out, "  {:<10} {} [{}]", o.id, o.name, o.tactics.join(", "))?;
    }
    writeln!(out, "\nNext tactic")?;
    for t in &p.next_tactics {
        writeln!(
            out,
            "  {} {:<7} {:<22} {}",
            pct(t.probability),
            t.id,
            t.name,
            t.evidence.join("; ")
        )?;
    }
    writeln!(out, "\nNext technique")?;
    for t in &p.next_techniques {
        writeln!(out, "  {} {:<10} {}", pct(t.probability), t.id, t.name)?;
        for e in &t.evidence {
            writeln!(out, "                     {e}")?;
        }
    }
    writeln!(out, "\nKill chain")?;
    for k in &p.kill_chain {
        let next: Vec<String> = k
            .next
            .iter()
            .take(3)
            .map(|n| format!("{} {}", n.id, pct(n.probability).trim()))
            .collect();
        writeln!(
            out,
            "  {:<7} now: {:<22} next: {}",
            k.model,
            k.current.as_ref().map_or("-", |c| c.id.as_str()),
            next.join(", ")
        )?;
    }
    writeln!(out, "\nLikely adversary")?;
    for (label, list) in [
        ("group", &p.adversaries.groups),
        ("campaign", &p.adversaries.campaigns),
        ("software", &p.adversaries.software),
    ] {
        for a in list {
            writeln!(
                out,
                "  {label:<8} {:<6} {:<28} {:.2}  {}",
                a.id, a.name, a.score, a.explanation
            )?;
        }
    }
    writeln!(out, "\nCountermeasures")?;
    for c in &p.countermeasures {
        let role = match c.role {
            Role::Observed => "seen",
            Role::Predicted => "next",
        };
        let mits: Vec<String> = c
            .mitigations
            .iter()
            .map(|m| format!("{} {}", m.id, m.name))
            .collect();
        let dcs: Vec<&str> = c.data_components.iter().map(|d| d.name.as_str()).collect();
        writeln!(out, "  [{role}] {} {}", c.technique, c.name)?;
        if !mits.is_empty() {
            let via = c
                .mitigations_via_parent
                .as_ref()
                .map(|p| format!(" (via {p})"))
                .unwrap_or_default();
            writeln!(out, "      mitigate{via}: {}", mits.join("; "))?;
        }
        if !dcs.is_empty() {
            writeln!(out, "      watch: {}", dcs.join("; "))?;
        }
    }
    writeln!(out, "\nPlaybooks")?;
    for a in &p.playbooks {
        let stage = match a.stage {
            Stage::Current => "now",
            Stage::Next => "next",
        };
        let summary = a
            .playbook
            .summary
            .as_deref()
            .map(|s| format!(": {s}"))
            .unwrap_or_default();
        writeln!(
            out,
            "  {} {} ({stage}){summary}",
            a.playbook.model, a.phase_name
        )?;
        for (h, items) in [
            ("contain", &a.playbook.containment),
            ("eradicate", &a.playbook.eradication),
            ("recover", &a.playbook.recovery),
        ] {
            for i in items {
                writeln!(out, "      {h:<9} {i}")?;
            }
        }
    }
    Ok(())
}
