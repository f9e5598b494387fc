//! `killchain incidents FINDINGS...`, `killchain incident show ID` and
//! `killchain hunt --incidents`: findings into incidents, persisted in the
//! SQLite store.
//!
//! Findings are read back from the NDJSON `hunt` and `map` write
//! (docs/output-schema.md): each record is mapped again by the same mapper
//! (entities, rule, ATT&CK references), its `kill_chain.<model>` placements
//! win over the recomputed ones, and `killchain.record` says where the
//! finding's event came from. The original event fields still in the record
//! give logon IDs, process GUIDs, SIDs and logon workstations. A bad record
//! is reported as `FILE:line N: reason`, skipped and counted.
//!
//! The run then adds the new signals to the store (deduplicated by finding
//! key), correlates every stored signal (deterministic, order-free), keeps
//! IDs that later merges absorbed reachable, saves and prints the incidents.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use killchain_correlate::{
    build, carry_ids, correlate_batch, AssetConfig, Assets, BuildOptions, Config, Incident,
    ModelPhases, PhaseAt, Preset, SeverityOptions, Signal,
};
use killchain_ingest::{open_input, Format, JsonRecords, RecordError};
use killchain_map::extract::FieldPaths;
use killchain_map::finding::RecordRef;
use killchain_map::{Mapper, Node};
use killchain_store::Store;

use crate::cli::{GlobalOpts, IncidentOpts, IncidentsArgs, IncidentsCommand, SeverityPreset};
use crate::context::{self, Context};

pub fn run(global: &GlobalOpts, args: IncidentsArgs) -> Result<ExitCode> {
    match args.command {
        Some(IncidentsCommand::Show {
            id,
            db,
            model,
            json,
        }) => show(global, &id, db.as_deref(), &model, json),
        None => {
            if args.findings.is_empty() {
                bail!("give findings files (NDJSON from `killchain hunt` or `killchain map`)");
            }
            let ctx = context::load(global)?;
            let mapper = Mapper::new(&ctx.kb, &ctx.models, Vec::new(), FieldPaths::default());
            let mut reader = Reader::default();
            for p in &args.findings {
                reader.read_file(p, &mapper);
            }
            finish(global, &ctx, &args.opts, reader)
        }
    }
}

/// `hunt --incidents`: the NDJSON lines hunt produced, correlated like
/// `killchain incidents` would correlate them from a file.
pub fn after_hunt<'a>(
    global: &GlobalOpts,
    opts: &IncidentOpts,
    lines: impl Iterator<Item = &'a [u8]>,
) -> Result<ExitCode> {
    let ctx = context::load(global)?;
    let mapper = Mapper::new(&ctx.kb, &ctx.models, Vec::new(), FieldPaths::default());
    let mut reader = Reader::default();
    for (i, line) in lines.enumerate() {
        match serde_json::from_slice::<Node<'_>>(line) {
            Ok(v) => reader.record(&v, "hunt", i as u64 + 1, &mapper),
            Err(e) => reader.bad(format!("hunt:line {}: {e}", i + 1)),
        }
    }
    finish(global, &ctx, opts, reader)
}

/// Signals read so far, and what could not be read.
#[derive(Default)]
struct Reader {
    signals: Vec<Signal>,
    records: u64,
    bad: u64,
}

impl Reader {
    fn bad(&mut self, msg: String) {
        eprintln!("killchain: {msg}");
        self.bad += 1;
    }

    fn read_file(&mut self, path: &Path, mapper: &Mapper<'_>) {
        let label = path.display().to_string();
        let reader = match open_input(path) {
            Ok(r) => r,
            Err(e) => return self.bad(format!("{label}: cannot open: {e}")),
        };
        let mut records = JsonRecords::new(reader, Format::Auto);
        // Each record a `Node` borrowing the reader's buffer, as `map` reads.
        while let Some(item) = records.next_with(|bytes, line, _| {
            let v: Node<'_> = serde_json::from_slice(bytes)?;
            self.record(&v, &label, line, mapper);
            Ok(())
        }) {
            match item {
                Ok(()) => {}
                Err(e @ RecordError::Io { .. }) => return self.bad(format!("{label}:{e}")),
                Err(e) => self.bad(format!("{label}:{e}")),
            }
        }
    }

    fn record(&mut self, v: &Node<'_>, label: &str, line: u64, mapper: &Mapper<'_>) {
        self.records += 1;
        match signal_of(v, label, line, mapper) {
            Ok(s) => self.signals.push(s),
            Err(reason) => self.bad(format!("{label}:line {line}: {reason}")),
        }
    }
}

/// One findings record as a signal.
fn signal_of(v: &Node<'_>, label: &str, line: u64, mapper: &Mapper<'_>) -> Result<Signal, String> {
    if !v.is_object() {
        return Err("not a JSON object".into());
    }
    let kc = v.pointer("/killchain/record");
    let get_str = |k: &str| {
        kc.and_then(|r| r.get(k)).and_then(|x| match x {
            Node::String(s) => Some(s.to_string()),
            Node::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    let file = get_str("file")
        .or_else(|| {
            v.pointer("/log/file/path")
                .and_then(Node::as_str)
                .map(String::from)
        })
        .or_else(|| {
            v.get("log.file.path")
                .and_then(Node::as_str)
                .map(String::from)
        });
    let rref = match (kc, file) {
        (Some(r), file) => RecordRef {
            file,
            line: r.get("line").and_then(Node::as_u64),
            index: r.get("index").and_then(Node::as_u64),
            record_id: get_str("id").or_else(|| get_str("record_id")),
        },
        // Not written by killchain: the findings file is the record's place.
        (None, file) => RecordRef {
            file: file.or_else(|| Some(label.to_string())),
            line: Some(line),
            ..RecordRef::default()
        },
    };
    let mapped = mapper.map_record(v, rref);
    let mut s = Signal::from_finding(&mapped.finding, Some(v))
        .map_err(|e| format!("{e} (no @timestamp or other time field)"))?;
    // The placements the producer wrote win over the recomputed ones.
    if let Some(Node::Object(models)) = v.get("kill_chain") {
        for (m, p) in models {
            let (Some(phase), Some(index)) = (
                p.get("phase").and_then(Node::as_str),
                p.get("phase_index").and_then(Node::as_u64),
            ) else {
                continue;
            };
            s.phases.retain(|x| &*x.model != m);
            s.phases.push(PhaseAt {
                model: Arc::from(m),
                phase: Arc::from(phase),
                index: index as usize,
            });
        }
        s.phases.sort_by(|a, b| a.model.cmp(&b.model));
    }
    Ok(s)
}

fn model_phases(ctx: &Context) -> Vec<ModelPhases> {
    let mut v: Vec<ModelPhases> = ctx
        .models
        .models()
        .iter()
        .map(|m| ModelPhases {
            id: m.id.clone(),
            phases: m.phases.iter().map(|p| p.id.clone()).collect(),
        })
        .collect();
    // lm first: the main model of severity and of the list.
    v.sort_by_key(|m| (m.id != "lm", m.id != "attack", m.id != "ukc", m.id.clone()));
    v
}

pub fn config(opts: &IncidentOpts) -> Config {
    let mut cfg = Config::default();
    if let Some(w) = opts.window {
        cfg.window_secs = w.as_secs() as i64;
    }
    if let Some(s) = opts.max_share {
        cfg.common.max_share = s;
    }
    if let Some(h) = opts.max_hosts {
        cfg.common.max_hosts = h;
    }
    cfg
}

fn build_options(ctx: &Context, opts: &IncidentOpts) -> Result<BuildOptions> {
    let assets = match &opts.assets {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            if let Err(reason) = killchain_kb::yaml_depth::check(&text) {
                bail!("{}: not an asset config: {reason}", p.display());
            }
            let cfg: AssetConfig = yaml_serde::from_str(&text)
                .with_context(|| format!("{}: not an asset config", p.display()))?;
            Assets::new(&cfg).with_context(|| p.display().to_string())?
        }
        None => Assets::default(),
    };
    Ok(BuildOptions {
        models: model_phases(ctx),
        severity: SeverityOptions {
            preset: match opts.preset {
                SeverityPreset::Killchain => Preset::Killchain,
                SeverityPreset::Splunk => Preset::Splunk,
            },
            assets,
            half_life_secs: None,
        },
    })
}

fn db_path(global: &GlobalOpts, db: Option<&Path>) -> Result<PathBuf> {
    match db {
        Some(p) => Ok(p.to_path_buf()),
        None => {
            let dir = context::data_dir(global)?;
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            Ok(dir.join("incidents.sqlite"))
        }
    }
}

fn finish(
    global: &GlobalOpts,
    ctx: &Context,
    opts: &IncidentOpts,
    reader: Reader,
) -> Result<ExitCode> {
    let cfg = config(opts);
    let bopts = build_options(ctx, opts)?;
    let read = reader.signals.len();
    // The store: previous incident IDs, where it is, the connection.
    let mut store: Option<(Vec<String>, PathBuf, Store)> = None;
    let (signals, added) = if opts.no_store {
        // A repeated finding (same key) is one finding, as in the store.
        let mut signals = reader.signals;
        signals.sort_by(|a, b| a.key.cmp(&b.key));
        signals.dedup_by(|a, b| a.key == b.key);
        let unique = signals.len();
        (signals, unique)
    } else {
        let path = db_path(global, opts.db.as_deref())?;
        let mut st =
            Store::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        let added = st.add_signals(&reader.signals)?;
        let all = st.signals()?;
        store = Some((st.incident_ids()?, path, st));
        (all, added)
    };
    let total = signals.len();
    let (raw, stats, common) = correlate_batch(signals, &cfg);
    let mut incidents: Vec<Incident> = raw.into_iter().map(|r| build(r, &bopts)).collect();
    if let Some((prev, _, st)) = store.as_mut() {
        carry_ids(prev, &mut incidents);
        st.save_incidents(&incidents)?;
    }
    incidents.sort_by(|a, b| {
        b.severity
            .score
            .total_cmp(&a.severity.score)
            .then(a.first_seen.cmp(&b.first_seen))
            .then(a.id.cmp(&b.id))
    });
    let mut out = io::stdout().lock();
    if opts.json {
        serde_json::to_writer_pretty(&mut out, &incidents)?;
        writeln!(out)?;
    } else {
        write_list(&mut out, &incidents, &bopts.models)?;
    }
    out.flush()?;
    let reduction = if incidents.is_empty() {
        0.0
    } else {
        total as f64 / incidents.len() as f64
    };
    eprintln!(
        "incidents: {} records read, {} findings ({} new in the store, {} in all), {} incidents ({reduction:.1} findings per incident), {} bad records skipped",
        reader.records, read, added, total, incidents.len(), reader.bad
    );
    eprintln!(
        "incidents: {} merges, {} links through common entities ignored, {} late",
        stats.merges, stats.downweighted_links, stats.late
    );
    if !common.is_empty() {
        let top: Vec<String> = common
            .iter()
            .take(5)
            .map(|c| format!("{} ({} findings, {} hosts)", c.entity, c.findings, c.hosts))
            .collect();
        eprintln!(
            "incidents: {} entities too common to join on, e.g. {}",
            common.len(),
            top.join(", ")
        );
    }
    if let Some((_, path, _)) = &store {
        eprintln!("incidents: store {}", path.display());
    }
    Ok(if reader.bad > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `█` for a reached phase, `·` otherwise.
fn bar(counts: &[usize]) -> String {
    counts
        .iter()
        .map(|n| if *n > 0 { '█' } else { '·' })
        .collect()
}

fn short_time(t: jiff::Timestamp) -> String {
    let s = t.to_string();
    s.chars().take(19).collect::<String>().replace('T', " ")
}

fn write_list(out: &mut impl Write, incidents: &[Incident], models: &[ModelPhases]) -> Result<()> {
    if incidents.is_empty() {
        writeln!(out, "no incidents")?;
        return Ok(());
    }
    for inc in incidents {
        writeln!(
            out,
            "{}  {:<8} {:>5.1}  {} findings  {} .. {}",
            inc.id,
            inc.severity.level,
            inc.severity.score,
            inc.findings,
            short_time(inc.first_seen),
            short_time(inc.last_seen)
        )?;
        let list = |v: &[String]| {
            if v.is_empty() {
                "-".to_string()
            } else if v.len() > 6 {
                format!("{}, ... ({} in all)", v[..6].join(", "), v.len())
            } else {
                v.join(", ")
            }
        };
        writeln!(
            out,
            "  hosts: {}   users: {}",
            list(&inc.hosts),
            list(&inc.users)
        )?;
        for m in models {
            let Some(p) = inc.kill_chain.get(&m.id) else {
                continue;
            };
            if p.path.is_empty() {
                continue;
            }
            writeln!(
                out,
                "  {:<6} [{}] current {}, deepest {}",
                m.id,
                bar(&p.bar),
                p.current_phase.as_deref().unwrap_or("-"),
                p.deepest_phase.as_deref().unwrap_or("-"),
            )?;
        }
        if !inc.flags.is_empty() {
            let details: Vec<String> = inc
                .kill_chain
                .get(models.first().map_or("lm", |m| m.id.as_str()))
                .map(|p| p.flags.iter().map(|f| f.detail.clone()).collect())
                .unwrap_or_default();
            writeln!(out, "  flags: {}", inc.flags.join(", "))?;
            for d in details {
                writeln!(out, "    {d}")?;
            }
        }
        for l in inc.lateral.iter().take(3) {
            writeln!(out, "  lateral: {} -> {} via {}", l.from, l.to, l.via)?;
        }
        if !inc.merged_from.is_empty() {
            writeln!(out, "  merged: {}", inc.merged_from.join(", "))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// `killchain incident show ID`: the incident's timeline grouped by phase.
fn show(
    global: &GlobalOpts,
    id: &str,
    db: Option<&Path>,
    model: &str,
    json: bool,
) -> Result<ExitCode> {
    let path = db_path(global, db)?;
    if !path.exists() {
        bail!(
            "no incident store at {} (run `killchain incidents FINDINGS` first)",
            path.display()
        );
    }
    let store = Store::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    let Some(inc) = store.incident(id)? else {
        bail!("no incident {id:?} in {}", path.display());
    };
    // What comes next: the anticipator over the incident's techniques in
    // time order (the same model and playbooks as `killchain predict`).
    let ctx = context::load(global)?;
    let (anticipator, _) = super::predict::build_anticipator(global, &ctx, &[], true, &[], 5)?;
    let prediction = anticipator.predict(&observed_steps(&inc));
    let mut out = io::stdout().lock();
    if json {
        let mut v = serde_json::to_value(&inc)?;
        v["prediction"] = serde_json::to_value(&prediction)?;
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{}  severity {} ({:.1}, {:?} preset)  {} findings  {} .. {}",
        inc.id,
        inc.severity.level,
        inc.severity.score,
        inc.severity.preset,
        inc.findings,
        inc.first_seen,
        inc.last_seen
    )?;
    if inc.id != id && !inc.id.starts_with(id) {
        writeln!(out, "  ({id} was merged into this incident)")?;
    }
    writeln!(out, "  hosts: {}", inc.hosts.join(", "))?;
    writeln!(out, "  users: {}", inc.users.join(", "))?;
    writeln!(out, "  tactics: {}", inc.tactics.join(", "))?;
    writeln!(out, "\nSeverity")?;
    for p in &inc.severity.parts {
        writeln!(
            out,
            "  {:<18} {:>5.1} / {:<5} {}",
            p.name, p.points, p.max, p.why
        )?;
    }
    if let Some(p) = inc.kill_chain.get(model) {
        writeln!(
            out,
            "\nKill chain ({model}): [{}] current {}, deepest {}",
            bar(&p.bar),
            p.current_phase.as_deref().unwrap_or("-"),
            p.deepest_phase.as_deref().unwrap_or("-")
        )?;
        let path: Vec<String> = p
            .path
            .iter()
            .map(|s| format!("{} ({})", s.phase, s.findings))
            .collect();
        writeln!(out, "  path: {}", path.join(" -> "))?;
        for f in &p.flags {
            writeln!(out, "  flag {:?}: {}", f.kind, f.detail)?;
            for e in &f.evidence {
                writeln!(out, "    evidence: {e}")?;
            }
        }
    }
    for l in &inc.lateral {
        writeln!(
            out,
            "  lateral: {} -> {} via {} ({})",
            l.from, l.to, l.via, l.finding
        )?;
    }
    // Timeline grouped by phase, phases in model order.
    let mut groups: BTreeMap<(usize, String), Vec<&killchain_correlate::FindingRef>> =
        BTreeMap::new();
    let index = |phase: &str| {
        inc.kill_chain
            .get(model)
            .and_then(|p| p.path.iter().find(|s| s.phase == phase).map(|s| s.index))
            .unwrap_or(usize::MAX)
    };
    for e in &inc.evidence {
        let phase = e
            .phases
            .get(model)
            .cloned()
            .unwrap_or_else(|| "(unplaced)".into());
        groups.entry((index(&phase), phase)).or_default().push(e);
    }
    writeln!(out, "\nTimeline by {model} phase")?;
    for ((_, phase), items) in &groups {
        let secs = inc
            .kill_chain
            .get(model)
            .and_then(|p| p.time_in_phase.get(phase))
            .copied()
            .unwrap_or(0);
        writeln!(
            out,
            "  {phase}  ({} findings, {secs} s in phase)",
            items.len()
        )?;
        for e in items {
            let place = match (&e.record.record_id, e.record.line) {
                (Some(r), _) => format!("record {r}"),
                (None, Some(l)) => format!("line {l}"),
                _ => "-".into(),
            };
            writeln!(
                out,
                "    {}  {:<16} {:<8} {:<12} {}  [{}:{}]",
                short_time(e.time),
                e.hosts.first().map_or("-", String::as_str),
                e.level.map_or("-", |l| l.as_str()),
                e.techniques.first().map_or("-", String::as_str),
                e.rule.as_deref().unwrap_or("-"),
                e.log_file_path.as_deref().unwrap_or("-"),
                place
            )?;
        }
    }
    writeln!(
        out,
        "\nNext moves, likely adversary, countermeasures and playbooks"
    )?;
    super::predict::write_report(&mut out, &prediction)?;
    Ok(ExitCode::SUCCESS)
}

/// The techniques of an incident's findings, oldest first (a technique
/// repeated by consecutive findings counts once).
fn observed_steps(inc: &Incident) -> killchain_anticipate::Observed {
    let mut evidence: Vec<&killchain_correlate::FindingRef> = inc.evidence.iter().collect();
    evidence.sort_by_key(|e| e.time);
    let mut steps: Vec<killchain_anticipate::prediction::ObservedStep> = Vec::new();
    for e in evidence {
        for t in &e.techniques {
            if steps.last().and_then(|s| s.technique.as_ref()) != Some(t) {
                steps.push(killchain_anticipate::prediction::ObservedStep {
                    technique: Some(t.clone()),
                    tactic: None,
                });
            }
        }
    }
    killchain_anticipate::Observed { steps }
}
