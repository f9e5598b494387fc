//! `killchain hunt`: Sigma rules over Windows event logs, findings mapped
//! onto ATT&CK and the kill chain models.
//!
//! Inputs are expanded into files (EVTX, JSON / NDJSON / gzip, zip), which
//! are processed in parallel (rayon; one worker per file, or across EVTX
//! chunks when there is one file) and taken in input order as they finish,
//! so output is deterministic whatever the thread count; NDJSON output
//! writes each file's findings and lets them go (CSV and the table sort all
//! findings by time, --incidents correlates them all: those keep them). Each event is flattened
//! (`killchain_ingest::windows`), evaluated by the engine
//! (`killchain_detect`), and every match becomes a [`Finding`] through the
//! same mapper `killchain map` uses, with the rule's tags as references.
//!
//! JSON records are parsed selectively (`killchain_ingest::parse_selected`):
//! only the members the rules read become values, the other members'
//! strings go to the engine's keyword notes. A record is parsed whole only
//! when it matches (its finding needs every field) or when a keyword
//! selection passes the prefilter (it reads every value).
//!
//! Sigma correlation rules: matches of the rules they reference are kept as
//! observations (event time, the group-by values, the record) while files are
//! scanned; once all are done the observations are sorted by event time
//! (input order breaking ties) and run through the correlator, so the result
//! does not depend on file order or thread count. Correlation hits become
//! findings like any other, written after the per-file ones.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use anyhow::{bail, Context as _, Result};
use indicatif::{ProgressBar, ProgressStyle};
use jiff::Timestamp;
use killchain_detect::{
    CorrelationHit, Correlator, Engine, FieldList, LeftOut, Level, Options, RuleInfo, Scratch,
    Selection,
};
use killchain_ingest::{
    flatten_windows, for_each_zip_member, not_log_member, open_input, parse_selected, EvtxFile,
    Format, JsonRecords, RecordError,
};
use killchain_map::enrich::{Detail, Enrichment};
use killchain_map::extract::{parse_tag, Dialect, FieldPaths, Reference};
use killchain_map::facts::extract_facts;
use killchain_map::finding::{Entities, Finding, RecordRef, RuleRef, Source, SourceKind};
use killchain_map::Mapper;
use killchain_map::Node;
use rayon::prelude::*;
use serde_json::{json, Value};

use crate::cli::{GlobalOpts, HuntArgs, HuntFormat, SummaryFormat};
use crate::commands::rules::{load_pipeline, read_rule_texts, report_text};
use crate::context;
use crate::walk::files_below;

/// Confidence of a finding from a Sigma rule's own tags.
const TAG_CONFIDENCE: f32 = 0.85;

pub fn run(global: &GlobalOpts, args: HuntArgs) -> Result<ExitCode> {
    let ctx = context::load(global)?;
    let selected = context::select_models(&ctx.models, &args.models)?;
    let mapper = Mapper::new(&ctx.kb, &ctx.models, selected, FieldPaths::default())
        .with_source_kind(SourceKind::Sigma);

    // Rules.
    let (mut texts, unreadable) = read_rule_texts(&args.rules);
    if args.rules.is_empty() || args.with_builtin {
        texts.extend(builtin_texts());
    }
    let pipeline = load_pipeline(global, &args.pipelines)?;
    let min_level = match &args.min_level {
        Some(l) => Some(Level::parse(l).with_context(|| {
            format!("--min-level {l:?}: expected informational, low, medium, high or critical")
        })?),
        None => None,
    };
    let opts = Options {
        routing: !args.no_routing,
        selection: Selection {
            min_level,
            statuses: args.status.clone(),
            tags: args.tags.clone(),
        },
    };
    let (engine, mut report) = Engine::build(&texts, &pipeline, &opts);
    report.entries.extend(unreadable);
    eprint!("killchain: {}", report_text(&report, false));
    if report.unsupported() + report.invalid() > 0 {
        eprintln!("killchain: `killchain rules check DIR` lists the rules not loaded and why");
    }
    if engine.is_empty() {
        bail!("no rule loaded: nothing to hunt with");
    }

    // Inputs.
    let (files, mut missing) = expand_inputs(&args.paths);
    for m in &missing {
        eprintln!("killchain: {m}");
    }
    if files.is_empty() {
        bail!("no input file found in {:?}", args.paths);
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .context("cannot start worker threads")?;
    let progress = progress_bar(&args, files.len());
    let detail = if args.lean {
        Detail::Lean
    } else {
        Detail::Full
    };
    let inner_threads = if files.len() == 1 { threads } else { 1 };
    let events_seen = AtomicU64::new(0);

    let out: Box<dyn Write> = match &args.output {
        Some(p) => {
            Box::new(File::create(p).with_context(|| format!("cannot create {}", p.display()))?)
        }
        None if args.incidents.incidents => Box::new(io::sink()),
        None => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 16, out);
    // A failed write (disk full, say) is fatal and names the output.
    let cannot_write = || match &args.output {
        Some(p) => format!("cannot write {}", p.display()),
        None => "cannot write <stdout>".to_string(),
    };
    let mut taken = Taken {
        // CSV and the table are sorted by time over all files, and
        // --incidents correlates all findings: they keep every finding to
        // the end. NDJSON alone writes each file's and lets them go.
        keep_hits: args.format != HuntFormat::Ndjson || args.incidents.incidents,
        ndjson: args.format == HuntFormat::Ndjson,
        ..Taken::default()
    };
    // Files are hunted in parallel and taken in input order as they finish
    // (a file that finishes early waits for the ones before it), so the
    // output is the same whatever the thread count, and memory holds the
    // findings of the files not yet taken, not of the whole run.
    let cancel = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, FileResult)>();
    let streamed: Result<()> = std::thread::scope(|s| {
        let (files, engine, mapper) = (&files, &engine, &mapper);
        let (pool, progress, events_seen, cancel) = (&pool, &progress, &events_seen, &cancel);
        s.spawn(move || {
            pool.install(|| {
                files.par_iter().enumerate().for_each_init(
                    || (Scratch::default(), tx.clone()),
                    |(scratch, tx), (i, f)| {
                        if cancel.load(Ordering::Relaxed) {
                            return;
                        }
                        let r = hunt_file(
                            f,
                            engine,
                            mapper,
                            scratch,
                            detail,
                            inner_threads,
                            events_seen,
                        );
                        progress.inc(1);
                        progress
                            .set_message(format!("{} events", events_seen.load(Ordering::Relaxed)));
                        // The receiver is gone only when output failed.
                        let _ = tx.send((i, r));
                    },
                );
            });
            drop(tx);
        });
        let mut waiting: BTreeMap<usize, FileResult> = BTreeMap::new();
        let mut next = 0;
        for (i, r) in rx.iter() {
            waiting.insert(i, r);
            while let Some(r) = waiting.remove(&next) {
                if let Err(e) = taken.take(next, r, &mut out, &mut missing) {
                    cancel.store(true, Ordering::Relaxed);
                    return Err(e.context(cannot_write()));
                }
                next += 1;
            }
        }
        Ok(())
    });
    progress.finish_and_clear();
    streamed?;
    let observations = std::mem::take(&mut taken.observations);
    let correlated = correlate(observations, &engine, &mapper, detail, files.len());
    for h in &correlated.hits {
        taken.add(h, &mut out).with_context(cannot_write)?;
    }
    let Taken {
        mut totals,
        hosts,
        hits: kept,
        ..
    } = taken;
    let mut all: Vec<&Hit> = Vec::new();
    if args.format != HuntFormat::Ndjson {
        all.extend(kept.iter().chain(&correlated.hits));
    }
    if correlated.untimed > 0 {
        eprintln!(
            "killchain: {} matches of rules that feed correlations had no event time and were left out of correlation",
            correlated.untimed
        );
    }
    totals.correlation_findings = correlated.hits.len() as u64;
    if args.format != HuntFormat::Ndjson {
        all.sort_by(|a, b| {
            a.finding
                .time
                .cmp(&b.finding.time)
                .then(a.order.cmp(&b.order))
        });
        match args.format {
            HuntFormat::Csv => write_csv(&mut out, &all, &engine),
            _ => write_table(&mut out, &all, &engine),
        }
        .with_context(cannot_write)?;
    }
    out.flush().with_context(cannot_write)?;

    totals.failed_inputs = missing.len() as u64;
    totals.files = files.len() as u64;
    match args.summary {
        SummaryFormat::Text => eprint!("{}", summary_text(&totals, &hosts, &engine)),
        SummaryFormat::Json => eprintln!("{}", summary_json(&totals, &hosts, &engine, &report)),
        SummaryFormat::None => {}
    }
    if args.incidents.incidents {
        let lines = kept.iter().chain(&correlated.hits);
        super::incidents::after_hunt(global, &args.incidents.opts, lines.map(|h| &h.line[..]))?;
    }
    Ok(if totals.bad_records > 0 || totals.failed_inputs > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The built-in stage-indicator rules.
fn builtin_texts() -> Vec<killchain_detect::RuleText> {
    killchain_detect::builtin_rules()
}

/// What kind of input a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Evtx,
    Json,
    Zip,
}

#[derive(Debug, Clone)]
struct InputFile {
    path: PathBuf,
    kind: Kind,
}

fn kind_of(p: &Path) -> Option<Kind> {
    let name = p.file_name()?.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".evtx") {
        Some(Kind::Evtx)
    } else if name.ends_with(".zip") {
        Some(Kind::Zip)
    } else if [
        ".json",
        ".ndjson",
        ".jsonl",
        ".json.gz",
        ".ndjson.gz",
        ".jsonl.gz",
        ".log",
        ".log.gz",
    ]
    .iter()
    .any(|x| name.ends_with(x))
    {
        Some(Kind::Json)
    } else {
        None
    }
}

/// Files named directly are taken whatever their extension (JSON unless
/// `.evtx` / `.zip`); folders are searched for the known extensions.
fn expand_inputs(paths: &[PathBuf]) -> (Vec<InputFile>, Vec<String>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_file() => files.push(InputFile {
                kind: kind_of(p).unwrap_or(Kind::Json),
                path: p.clone(),
            }),
            Ok(_) => match files_below(p, &|f| kind_of(f).is_some()) {
                Ok(walked) => {
                    files.extend(walked.files.into_iter().filter_map(|path| {
                        Some(InputFile {
                            kind: kind_of(&path)?,
                            path,
                        })
                    }));
                    errors.extend(walked.skipped.iter().map(ToString::to_string));
                }
                Err(e) => errors.push(format!("{}: cannot read folder: {e}", p.display())),
            },
            Err(e) => errors.push(format!("{}: cannot read: {e}", p.display())),
        }
    }
    (files, errors)
}

/// What produced a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Producer {
    Rule(usize),
    Correlation(usize),
}

impl Producer {
    fn info(self, engine: &Engine) -> &RuleInfo {
        match self {
            Producer::Rule(r) => engine.rule(r),
            Producer::Correlation(c) => &engine.correlations()[c].info,
        }
    }
}

/// One finding, rendered.
struct Hit {
    finding: Finding,
    rule: Producer,
    /// The NDJSON line.
    line: Vec<u8>,
    /// Position in the input, to keep equal times in input order.
    order: (usize, u64),
}

/// A match of a rule that feeds a correlation, kept for after the scan.
struct Observation {
    time: Option<Timestamp>,
    rule: usize,
    values: Vec<Option<Box<str>>>,
    record: RecordRef,
    hosts: Vec<String>,
    users: Vec<String>,
    /// (file, position in the file): input order, for ties in time.
    order: (usize, u64),
}

#[derive(Default)]
struct FileResult {
    hits: Vec<Hit>,
    observations: Vec<Observation>,
    events: u64,
    /// Bad records, each naming file and place.
    errors: Vec<String>,
    /// Archive members left out because they are not logs (named).
    skipped: Vec<String>,
    /// The file as a whole could not be read.
    fatal: Option<String>,
}

#[allow(clippy::too_many_arguments)]
fn hunt_file(
    f: &InputFile,
    engine: &Engine,
    mapper: &Mapper<'_>,
    scratch: &mut Scratch,
    detail: Detail,
    threads: usize,
    seen: &AtomicU64,
) -> FileResult {
    let mut r = FileResult::default();
    let name = f.path.display().to_string();
    // The field list's allocation, kept empty between events.
    let mut spare = FieldList::default();
    let mut hits = Vec::new();
    let mut on_event = |rec: Rec<'_>, rref: RecordRef, r: &mut FileResult| {
        r.events += 1;
        let whole: Value;
        let value = match rec {
            Rec::Whole(value) => value,
            Rec::Partial { value, raw, notes } => {
                let done = evaluate_selected(engine, value, notes, &mut spare, scratch, &mut hits);
                if done && hits.is_empty() {
                    return;
                }
                // A match (its finding reads every field) or a keyword
                // selection to evaluate: the record whole, evaluated again.
                match serde_json::from_slice(raw) {
                    Ok(v) => whole = v,
                    Err(e) => {
                        r.errors
                            .push(format!("{}: {e}", rref.file.as_deref().unwrap_or("")));
                        return;
                    }
                }
                &whole
            }
        };
        let mut event = std::mem::take(&mut spare).recycle();
        flatten_windows(value, &mut event.fields);
        hits.clear();
        engine.evaluate(&event, scratch, &mut hits);
        for &rule in &hits {
            if engine.is_standalone(rule) {
                r.hits.push(make_hit(
                    value, &rref, engine, rule, mapper, detail, r.events,
                ));
            }
            if let Some(values) = engine.observe(rule, &event) {
                let facts = extract_facts(&Node::from_value(value));
                r.observations.push(Observation {
                    time: facts.time,
                    rule,
                    values,
                    record: RecordRef {
                        record_id: rref.record_id.clone().or(facts.record_id),
                        ..rref.clone()
                    },
                    hosts: facts.entities.hosts,
                    users: facts.entities.users,
                    order: (0, r.events),
                });
            }
        }
        spare = event.recycle();
    };
    let outcome: Result<()> = match f.kind {
        Kind::Evtx => (|| {
            let mut file = EvtxFile::open(&f.path)?;
            for item in file.records(threads) {
                match item {
                    Ok(rec) => {
                        let rref = RecordRef {
                            file: Some(name.clone()),
                            line: None,
                            index: None,
                            record_id: Some(rec.record_id.to_string()),
                        };
                        on_event(Rec::Whole(&rec.value), rref, &mut r);
                    }
                    Err(e) => r.errors.push(e.to_string()),
                }
            }
            Ok(())
        })(),
        Kind::Json => (|| {
            let mut reader = open_input(&f.path).with_context(|| format!("{name}: cannot open"))?;
            json_records(&mut reader, &name, &name, engine, &mut r, &mut on_event)
        })(),
        Kind::Zip => for_each_zip_member::<anyhow::Error>(&f.path, |member, reader| {
            let label = format!("{name}:{member}");
            // Archives of log datasets also carry captures and binaries:
            // say so once per member instead of one error per line.
            if let Some(ext) = not_log_member(member) {
                r.skipped
                    .push(format!("{label}: skipped: a .{ext} member is not JSON"));
                return Ok(());
            }
            json_records(reader, &label, &name, engine, &mut r, &mut on_event)
        }),
    };
    if let Err(e) = outcome {
        r.fatal = Some(format!("{e:#}"));
    }
    seen.fetch_add(r.events, Ordering::Relaxed);
    r
}

/// A record as the JSON and EVTX readers hand it over.
enum Rec<'a> {
    /// Every field (EVTX records; JSON when the engine cannot evaluate
    /// partial events).
    Whole(&'a Value),
    /// The members the rules read (see [`parse_selected`]), the others'
    /// strings in `notes`, and the record's bytes for a whole parse.
    Partial {
        value: &'a Value,
        raw: &'a [u8],
        notes: &'a mut LeftOut,
    },
}

/// A JSON record parsed for the rules: the members they read as values,
/// the other members' strings noted for keyword selections (the notes are
/// forgotten when the record does not parse).
pub(crate) fn parse_for_rules(
    engine: &Engine,
    bytes: &[u8],
    notes: &mut LeftOut,
) -> serde_json::Result<Value> {
    let parsed = parse_selected(bytes, &|k| engine.reads_field(k), &mut |s| {
        engine.note_left_out(s, notes)
    });
    if parsed.is_err() {
        notes.clear();
    }
    parsed
}

/// Evaluates a record parsed by [`parse_for_rules`] into `hits`. False when
/// that is not enough (a keyword selection passed the prefilter): evaluate
/// the whole record instead. `spare` lends its allocation to the event.
pub(crate) fn evaluate_selected(
    engine: &Engine,
    value: &Value,
    notes: &mut LeftOut,
    spare: &mut FieldList<'static>,
    scratch: &mut Scratch,
    hits: &mut Vec<usize>,
) -> bool {
    let mut event = std::mem::take(spare).recycle();
    flatten_windows(value, &mut event.fields);
    hits.clear();
    let done = engine.evaluate_partial(&event, notes, scratch, hits);
    *spare = event.recycle();
    done
}

fn json_records(
    reader: &mut dyn io::BufRead,
    label: &str,
    file: &str,
    engine: &Engine,
    r: &mut FileResult,
    on_event: &mut dyn FnMut(Rec<'_>, RecordRef, &mut FileResult),
) -> Result<()> {
    let rref = |line, index| RecordRef {
        file: Some(file.to_string()),
        line: Some(line),
        index: Some(index),
        record_id: None,
    };
    if !engine.supports_partial() {
        for item in JsonRecords::new(reader, Format::Auto) {
            match item {
                Ok(rec) => on_event(Rec::Whole(&rec.value), rref(rec.line, rec.index), r),
                Err(e @ RecordError::Io { .. }) => bail!("{label}:{e}"),
                Err(e) => r.errors.push(format!("{label}:{e}")),
            }
        }
        return Ok(());
    }
    // The parser keeps the record's bytes and notes the left-out strings;
    // both are read back once the record is yielded (never at once).
    let last = std::cell::RefCell::new((Vec::<u8>::new(), LeftOut::default()));
    let parse = |bytes: &[u8]| {
        let mut last = last.borrow_mut();
        let (raw, notes) = &mut *last;
        raw.clear();
        raw.extend_from_slice(bytes);
        parse_for_rules(engine, bytes, notes)
    };
    for item in JsonRecords::with_parser(reader, Format::Auto, parse) {
        match item {
            Ok(rec) => {
                let mut last = last.borrow_mut();
                let (raw, notes) = &mut *last;
                let partial = Rec::Partial {
                    value: &rec.value,
                    raw,
                    notes,
                };
                on_event(partial, rref(rec.line, rec.index), r);
            }
            Err(e @ RecordError::Io { .. }) => bail!("{label}:{e}"),
            Err(e) => r.errors.push(format!("{label}:{e}")),
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn make_hit(
    value: &Value,
    rref: &RecordRef,
    engine: &Engine,
    rule: usize,
    mapper: &Mapper<'_>,
    detail: Detail,
    position: u64,
) -> Hit {
    let info = engine.rule(rule);
    // The map crate reads records as borrowed `Node`s; hunt's events are `Value`s.
    let record = Node::from_value(value);
    let facts = extract_facts(&record);
    let mut finding = Finding {
        time: facts.time,
        source: Source {
            kind: SourceKind::Sigma,
            product: Some("sigma".into()),
            rule: Some(RuleRef {
                id: info.id.clone(),
                name: Some(info.title.clone()),
                level: info.level.map(|l| l.as_str().to_string()),
            }),
        },
        entities: facts.entities,
        record: RecordRef {
            record_id: rref.record_id.clone().or(facts.record_id),
            ..rref.clone()
        },
        ..Finding::default()
    };
    map_tags(&info.tags, mapper, &mut finding);
    let line = render(&record, &finding, detail);
    Hit {
        finding,
        rule: Producer::Rule(rule),
        line,
        order: (0, position),
    }
}

/// Places a finding through its rule's ATT&CK tags.
fn map_tags(tags: &[String], mapper: &Mapper<'_>, finding: &mut Finding) {
    let refs: Vec<Reference> = tags
        .iter()
        .filter_map(|t| {
            parse_tag(t).map(|value| Reference {
                value,
                field: "rule.tags".into(),
                raw: t.clone(),
                dialect: Dialect::SigmaTags,
                confidence: TAG_CONFIDENCE,
            })
        })
        .collect();
    let mut notes = Vec::new();
    mapper.resolve(refs, finding, &mut notes);
}

/// The NDJSON line of a finding over its source record.
fn render(record: &Node<'_>, finding: &Finding, detail: Detail) -> Vec<u8> {
    let mut line = Vec::with_capacity(1024);
    // Writing into a Vec cannot fail for I/O; a serialisation error would be
    // a bug in the writer, and leaves the line empty rather than aborting.
    if Enrichment::new(record, finding, detail)
        .write_json(&mut line)
        .is_ok()
    {
        line.push(b'\n');
    } else {
        line.clear();
    }
    line
}

/// What `run` keeps of the files as it takes them in input order.
#[derive(Default)]
struct Taken {
    totals: Totals,
    hosts: BTreeMap<String, HostSummary>,
    /// Every finding, when the output or --incidents needs them at the end.
    hits: Vec<Hit>,
    keep_hits: bool,
    /// Write each finding's NDJSON line as its file is taken.
    ndjson: bool,
    /// Matches of rules that feed correlation rules, for the end.
    observations: Vec<Observation>,
}

impl Taken {
    /// Takes file number `i` (input order): reports its errors, counts it,
    /// writes its findings (NDJSON) and keeps what the end needs.
    fn take(
        &mut self,
        i: usize,
        mut r: FileResult,
        out: &mut impl Write,
        missing: &mut Vec<String>,
    ) -> Result<()> {
        self.totals.events += r.events;
        self.totals.bad_records += r.errors.len() as u64;
        for e in &r.errors {
            eprintln!("killchain: {e}");
        }
        for s in &r.skipped {
            eprintln!("killchain: note: {s}");
        }
        self.totals.skipped_members += r.skipped.len() as u64;
        if let Some(e) = &r.fatal {
            eprintln!("killchain: {e}");
            missing.push(e.clone());
        }
        for o in &mut r.observations {
            o.order.0 = i;
        }
        self.observations.append(&mut r.observations);
        for h in &mut r.hits {
            h.order.0 = i;
            self.add(h, out)?;
        }
        if self.keep_hits {
            self.hits.append(&mut r.hits);
        }
        Ok(())
    }

    /// Counts one finding (totals, its host's summary) and writes its
    /// NDJSON line.
    fn add(&mut self, h: &Hit, out: &mut impl Write) -> io::Result<()> {
        self.totals.findings += 1;
        self.hosts.entry(host_of(h)).or_default().add(h);
        if self.ndjson {
            out.write_all(&h.line)?;
        }
        Ok(())
    }
}

/// The host a finding is counted under in the per-host summary.
fn host_of(h: &Hit) -> String {
    h.finding
        .entities
        .hosts
        .first()
        .cloned()
        .unwrap_or_else(|| "(no host)".into())
}

/// Findings from Sigma correlation rules.
struct Correlated {
    hits: Vec<Hit>,
    /// Observations without an event time (they cannot be placed in a window).
    untimed: u64,
}

/// Runs the observations of all files through the correlation rules, in
/// event-time order, and renders each reported hit as a finding.
fn correlate(
    mut obs: Vec<Observation>,
    engine: &Engine,
    mapper: &Mapper<'_>,
    detail: Detail,
    files: usize,
) -> Correlated {
    let before = obs.len();
    obs.retain(|o| o.time.is_some());
    let untimed = (before - obs.len()) as u64;
    obs.sort_by(|a, b| a.time.cmp(&b.time).then(a.order.cmp(&b.order)));
    let mut hits: Vec<CorrelationHit> = Vec::new();
    if !engine.correlations().is_empty() {
        let mut correlator = Correlator::new(engine);
        for (i, o) in obs.iter().enumerate() {
            let t = o.time.map_or(0, |t| t.as_nanosecond() as i64);
            correlator.push(t, o.rule, &o.values, i as u64, &mut hits);
        }
        correlator.finish(&mut hits);
    }
    let hits = hits
        .into_iter()
        .filter(|h| engine.correlation_is_standalone(h.correlation))
        .enumerate()
        .map(|(n, h)| correlation_hit(&h, &obs, engine, mapper, detail, (files, n as u64)))
        .collect();
    Correlated { hits, untimed }
}

/// A correlation hit as a finding: the correlation's rule reference and
/// level, its own tags (else its rules'), the hosts and users of its events,
/// and the events themselves (file and record) under `sigma.correlation`.
fn correlation_hit(
    h: &CorrelationHit,
    obs: &[Observation],
    engine: &Engine,
    mapper: &Mapper<'_>,
    detail: Detail,
    order: (usize, u64),
) -> Hit {
    let corr = &engine.correlations()[h.correlation];
    let info = &corr.info;
    let evidence: Vec<&Observation> = h.events.iter().map(|&i| &obs[i as usize]).collect();
    let mut entities = Entities::default();
    for o in &evidence {
        for x in &o.hosts {
            if !entities.hosts.contains(x) {
                entities.hosts.push(x.clone());
            }
        }
        for x in &o.users {
            if !entities.users.contains(x) {
                entities.users.push(x.clone());
            }
        }
    }
    let time = |ns: i64| Timestamp::from_nanosecond(ns as i128).ok();
    let last = evidence
        .last()
        .map(|o| o.record.clone())
        .unwrap_or_default();
    let mut finding = Finding {
        time: time(h.last),
        source: Source {
            kind: SourceKind::Sigma,
            product: Some("sigma".into()),
            rule: Some(RuleRef {
                id: info.id.clone(),
                name: Some(info.title.clone()),
                level: info.level.map(|l| l.as_str().to_string()),
            }),
        },
        entities,
        record: last,
        ..Finding::default()
    };
    map_tags(&corr.effective_tags, mapper, &mut finding);
    let group: serde_json::Map<String, Value> = h
        .group
        .iter()
        .map(|(k, v)| (k.clone(), v.as_deref().map_or(Value::Null, Value::from)))
        .collect();
    let events: Vec<Value> = evidence
        .iter()
        .map(|o| {
            let mut e = serde_json::Map::new();
            e.insert("@timestamp".into(), json!(o.time.map(|t| t.to_string())));
            e.insert("rule".into(), json!(engine.rule(o.rule).title));
            // Where to find the event: file plus record id or line.
            for (k, v) in [
                ("log.file.path", o.record.file.as_ref().map(|f| json!(f))),
                ("record_id", o.record.record_id.as_ref().map(|r| json!(r))),
                ("line", o.record.line.map(|l| json!(l))),
            ] {
                if let Some(v) = v {
                    e.insert(k.into(), v);
                }
            }
            Value::Object(e)
        })
        .collect();
    let record = json!({
        "@timestamp": finding.time.map(|t| t.to_string()),
        "sigma": {"correlation": {
            "type": corr.kind.as_str(),
            "title": info.title,
            "id": info.id,
            "group": group,
            "value": h.value,
            "condition": corr.condition_text(),
            "timespan": corr.timespan,
            "first_seen": time(h.first).map(|t| t.to_string()),
            "last_seen": time(h.last).map(|t| t.to_string()),
            "events_total": h.events_total,
            "events": events,
        }},
    });
    let line = render(&Node::from_value(&record), &finding, detail);
    Hit {
        finding,
        rule: Producer::Correlation(h.correlation),
        line,
        order,
    }
}

fn progress_bar(args: &HuntArgs, files: usize) -> ProgressBar {
    if args.no_progress || !io::stderr().is_terminal() || files < 2 {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(files as u64);
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} files, {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

#[derive(Debug, Default)]
struct Totals {
    files: u64,
    events: u64,
    findings: u64,
    /// Of `findings`, those from correlation rules.
    correlation_findings: u64,
    /// Archive members that are not logs.
    skipped_members: u64,
    bad_records: u64,
    failed_inputs: u64,
}

/// Per host: the kill chain as the findings show it.
#[derive(Debug, Default)]
struct HostSummary {
    findings: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    /// LM phase index -> (phase id, findings).
    phases: BTreeMap<usize, (String, u64)>,
    /// Rule or correlation -> findings.
    rules: BTreeMap<Producer, u64>,
}

impl HostSummary {
    fn add(&mut self, h: &Hit) {
        self.findings += 1;
        if let Some(t) = h.finding.time {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
        }
        if let Some(p) = h.finding.phases.get("lm") {
            self.phases
                .entry(p.phase_index)
                .or_insert_with(|| (p.phase.to_string(), 0))
                .1 += 1;
        }
        *self.rules.entry(h.rule).or_default() += 1;
    }

    fn top_rules(&self, n: usize) -> Vec<(Producer, u64)> {
        let mut v: Vec<(Producer, u64)> = self.rules.iter().map(|(r, c)| (*r, *c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }
}

fn summary_text(t: &Totals, hosts: &BTreeMap<String, HostSummary>, engine: &Engine) -> String {
    let correlations = if t.correlation_findings > 0 {
        format!(" ({} from correlation rules)", t.correlation_findings)
    } else {
        String::new()
    };
    let mut s = format!(
        "hunt: {} files, {} events, {} findings{correlations} on {} hosts, {} bad records, {} unreadable inputs{}\n",
        t.files,
        t.events,
        t.findings,
        hosts.len(),
        t.bad_records,
        t.failed_inputs,
        if t.skipped_members > 0 {
            format!(", {} archive members skipped (not logs)", t.skipped_members)
        } else {
            String::new()
        }
    );
    for (host, h) in hosts {
        let span = match (h.first, h.last) {
            (Some(a), Some(b)) => format!("{a} .. {b}"),
            _ => "time unknown".into(),
        };
        s.push_str(&format!("\n  {host}  {} findings  {span}\n", h.findings));
        let stages: Vec<String> = h
            .phases
            .values()
            .map(|(p, n)| format!("{p} ({n})"))
            .collect();
        s.push_str(&format!(
            "    kill chain (lm): {}\n",
            if stages.is_empty() {
                "-".into()
            } else {
                stages.join(" -> ")
            }
        ));
        for (r, n) in h.top_rules(3) {
            let info = r.info(engine);
            s.push_str(&format!(
                "    {n:>6}  {} [{}]\n",
                info.title,
                info.level.map_or("-", Level::as_str)
            ));
        }
    }
    s
}

fn summary_json(
    t: &Totals,
    hosts: &BTreeMap<String, HostSummary>,
    engine: &Engine,
    report: &killchain_detect::LoadReport,
) -> Value {
    let hosts: Vec<Value> = hosts
        .iter()
        .map(|(host, h)| {
            json!({
                "host": host,
                "findings": h.findings,
                "first_seen": h.first.map(|t| t.to_string()),
                "last_seen": h.last.map(|t| t.to_string()),
                "lm_phases": h.phases.values().map(|(p, n)| json!({"phase": p, "findings": n})).collect::<Vec<_>>(),
                "top_rules": h.top_rules(5).iter().map(|(r, n)| rule_json(r.info(engine), *n)).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "files": t.files, "events": t.events, "findings": t.findings,
        "correlation_findings": t.correlation_findings,
        "skipped_members": t.skipped_members,
        "bad_records": t.bad_records, "failed_inputs": t.failed_inputs,
        "rules": {"loaded": report.loaded(), "unsupported": report.unsupported(),
                  "invalid": report.invalid(), "filtered": report.filtered()},
        "hosts": hosts,
    })
}

fn rule_json(info: &RuleInfo, n: u64) -> Value {
    json!({"id": info.id, "title": info.title, "level": info.level.map(Level::as_str), "findings": n})
}

/// CSV timeline columns.
const CSV_HEADER: [&str; 12] = [
    "time",
    "host",
    "user",
    "level",
    "rule",
    "techniques",
    "tactics",
    "lm_phase",
    "attack_phase",
    "ukc_phase",
    "record_id",
    "file",
];

fn row(h: &Hit, engine: &Engine) -> [String; 12] {
    let f = &h.finding;
    let info = h.rule.info(engine);
    let phase = |m: &str| {
        f.phases
            .get(m)
            .map(|p| p.phase.to_string())
            .unwrap_or_default()
    };
    [
        f.time.map(|t| t.to_string()).unwrap_or_default(),
        f.entities.hosts.first().cloned().unwrap_or_default(),
        f.entities.users.first().cloned().unwrap_or_default(),
        info.level.map_or("", Level::as_str).to_string(),
        info.title.clone(),
        f.techniques
            .iter()
            .map(|t| &*t.id)
            .collect::<Vec<_>>()
            .join(" "),
        f.tactics
            .iter()
            .map(|t| &*t.shortname)
            .collect::<Vec<_>>()
            .join(" "),
        phase("lm"),
        phase("attack"),
        phase("ukc"),
        f.record
            .record_id
            .clone()
            .or_else(|| f.record.line.map(|l| format!("line {l}")))
            .unwrap_or_default(),
        f.record.file.clone().unwrap_or_default(),
    ]
}

/// The CSV timeline, sorted rows under [`CSV_HEADER`].
fn write_csv(out: &mut impl Write, hits: &[&Hit], engine: &Engine) -> io::Result<()> {
    write_csv_records(out, &CSV_HEADER, hits.iter().map(|h| row(h, engine)))
}

/// A header and rows as CSV, with `csv`'s writer: a field is quoted only
/// when it needs it (a comma, a double quote, a line break), a quote in it
/// doubled, `\n` after each record.
fn write_csv_records(
    out: &mut impl Write,
    header: &[&str],
    rows: impl IntoIterator<Item = [String; 12]>,
) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(header).map_err(csv_io)?;
    for r in rows {
        w.write_record(&r).map_err(csv_io)?;
    }
    w.flush()
}

/// A CSV write error as the I/O error it is (a closed pipe stays a closed
/// pipe); csv's own `From` makes every error `ErrorKind::Other`.
fn csv_io(e: csv::Error) -> io::Error {
    if !e.is_io_error() {
        return io::Error::other(e);
    }
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        kind => io::Error::other(format!("{kind:?}")),
    }
}

fn write_table(out: &mut impl Write, hits: &[&Hit], engine: &Engine) -> io::Result<()> {
    const COLS: [(usize, usize); 6] = [(0, 24), (1, 18), (3, 8), (7, 22), (5, 16), (4, 60)];
    let cut = |s: &str, w: usize| -> String {
        if s.chars().count() <= w {
            format!("{s:<w$}")
        } else {
            let t: String = s.chars().take(w.saturating_sub(1)).collect();
            format!("{t}~")
        }
    };
    let header = ["time", "host", "level", "lm phase", "techniques", "rule"];
    let line: Vec<String> = COLS
        .iter()
        .zip(header)
        .map(|((_, w), h)| cut(h, *w))
        .collect();
    writeln!(out, "{}", line.join("  ").trim_end())?;
    for h in hits {
        let r = row(h, engine);
        let line: Vec<String> = COLS.iter().map(|(i, w)| cut(&r[*i], *w)).collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written quoting the `csv` writer replaced, as the oracle:
    /// hunt's CSV bytes must not change.
    fn former_line(fields: &[String]) -> String {
        let field = |s: &String| {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.clone()
            }
        };
        fields.iter().map(field).collect::<Vec<_>>().join(",")
    }

    #[test]
    fn csv_bytes_are_those_of_the_former_hand_written_writer() {
        let cells = [
            "plain",
            "",
            " spaced ",
            "a,b",
            "say \"x\"",
            "\"",
            ",",
            "two\nlines",
            "cr\rhere",
            "crlf\r\n",
            "naïve ü – ✓",
            "tab\there",
            "#hash",
            "'single'",
            "semi;colon",
            "back\\slash",
        ];
        // Every cell in every column, and a row of empty fields.
        let mut rows: Vec<[String; 12]> = (0..cells.len())
            .map(|i| std::array::from_fn(|c| cells[(i + c) % cells.len()].to_string()))
            .collect();
        rows.push(Default::default());
        let mut out = Vec::new();
        write_csv_records(&mut out, &CSV_HEADER, rows.clone()).unwrap();
        let mut expected = CSV_HEADER.join(",") + "\n";
        for r in &rows {
            expected += &former_line(r);
            expected.push('\n');
        }
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }
}
