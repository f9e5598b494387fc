//! `killchain map`: stream alerts from files or stdin, enrich each with
//! ATT&CK and kill chain context, write NDJSON. Bad records are reported with
//! file:line and counted; the run goes on (unless `--strict`).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use killchain_ingest::{open_input, Format, JsonRecords, RecordError};
use killchain_map::enrich::{Detail, Enrichment, RenderCache};
use killchain_map::extract::FieldPaths;
use killchain_map::finding::RecordRef;
use killchain_map::summary::Summary;
use killchain_map::{Mapper, Node};

use crate::cli::{GlobalOpts, InputFormat, MapArgs, SummaryFormat, UnmappedPolicy};
use crate::context;
use crate::term;

/// Field paths from the command line on top of (or instead of) the built-in dialects.
pub fn field_paths(args: &MapArgs) -> FieldPaths {
    let mut paths = if args.only_custom_fields {
        FieldPaths::empty()
    } else {
        FieldPaths::default()
    };
    for p in &args.technique_fields {
        paths.add_technique_path(p);
    }
    for p in &args.tactic_fields {
        paths.add_tactic_path(p);
    }
    for p in &args.tag_fields {
        paths.add_tag_path(p);
    }
    for p in &args.name_fields {
        paths.add_name_path(p);
    }
    paths
}

pub fn run(global: &GlobalOpts, args: MapArgs) -> Result<ExitCode> {
    let ctx = context::load(global)?;
    let selected = context::select_models(&ctx.models, &args.models)?;
    let mapper = Mapper::new(&ctx.kb, &ctx.models, selected, field_paths(&args));
    let out: Box<dyn Write> = match &args.output {
        Some(p) => {
            Box::new(File::create(p).with_context(|| format!("cannot create {}", p.display()))?)
        }
        None => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let inputs = if args.inputs.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        args.inputs.clone()
    };
    let format = match args.format {
        InputFormat::Auto => Format::Auto,
        InputFormat::Ndjson => Format::Ndjson,
        InputFormat::Array => Format::JsonArray,
    };
    let mut summary = Summary::new(&ctx.models, mapper.selected());
    let mut failed_inputs = 0u64;
    for input in &inputs {
        if let Err(e) = map_input(&mapper, input, format, &args, &mut summary, &mut out) {
            if e.downcast_ref::<WriteFailed>().is_some() {
                return Err(e);
            }
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            {
                return Err(e);
            }
            if args.strict {
                return Err(e);
            }
            eprintln!("killchain: {e:#}");
            failed_inputs += 1;
        }
    }
    out.flush().with_context(|| WriteFailed::of(&args))?;
    match args.summary {
        SummaryFormat::Text => eprint!("{}", term::summary_text(&summary, failed_inputs, true)),
        SummaryFormat::Json => {
            let mut v = serde_json::to_value(&summary)?;
            v["failed_inputs"] = failed_inputs.into();
            eprintln!("{v}");
        }
        SummaryFormat::None => {}
    }
    Ok(if summary.malformed > 0 || failed_inputs > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Context of a failed write to the output (disk full, say): fatal for the
/// whole run, not the fault of the input being mapped.
#[derive(Debug)]
struct WriteFailed(String);

impl WriteFailed {
    fn of(args: &MapArgs) -> Self {
        WriteFailed(match &args.output {
            Some(p) => p.display().to_string(),
            None => "<stdout>".into(),
        })
    }
}

impl std::fmt::Display for WriteFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot write {}", self.0)
    }
}

fn display_name(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".into()
    } else {
        path.display().to_string()
    }
}

/// Map one input. Errors returned here are about the input as a whole
/// (cannot open, I/O failure, `--strict` and a bad record).
fn map_input(
    mapper: &Mapper<'_>,
    path: &Path,
    format: Format,
    args: &MapArgs,
    summary: &mut Summary,
    out: &mut impl Write,
) -> Result<()> {
    let name = display_name(path);
    let reader = open_input(path).with_context(|| format!("{name}: cannot open"))?;
    let file = (path != Path::new("-")).then(|| path.display().to_string());
    let mut line_buf = Vec::with_capacity(4096);
    let detail = if args.lean {
        Detail::Lean
    } else {
        Detail::Full
    };
    // This thread's own cache of rendered threat / kill_chain objects.
    let mut rendered = RenderCache::new();
    let mut records = JsonRecords::new(reader, format);
    // Each record is decoded as a `Node` borrowing from the reader's buffer
    // and mapped and written before the next is read.
    while let Some(item) = records.next_with(|bytes, line, index| {
        let record: Node<'_> = serde_json::from_slice(bytes)?;
        let record_ref = RecordRef {
            file: file.clone(),
            line: Some(line),
            index: Some(index),
            record_id: None,
        };
        let mapped = mapper.map_record(&record, record_ref);
        for note in &mapped.notes {
            eprintln!("killchain: {name}:{line}: warning: {note}");
        }
        summary.add(&mapped.finding, &mapped.notes);
        if !record.is_object() {
            summary.not_objects += 1;
            eprintln!("killchain: {name}:{line}: not a JSON object; passed through unchanged");
        }
        if mapped.finding.is_unmapped() && args.unmapped == UnmappedPolicy::Drop {
            return Ok(Ok(()));
        }
        line_buf.clear();
        Enrichment::new(&record, &mapped.finding, detail)
            .write_json_cached(&mut line_buf, &mut rendered)?;
        line_buf.push(b'\n');
        let mut written = out.write_all(&line_buf);
        if args.line_buffered {
            written = written.and_then(|()| out.flush());
        }
        Ok(written)
    }) {
        match item {
            Ok(written) => written.with_context(|| WriteFailed::of(args))?,
            Err(e) => {
                if matches!(e, RecordError::Io { .. }) {
                    bail!("{name}:{e}");
                }
                summary.malformed += 1;
                if args.strict {
                    bail!("{name}:{e}");
                }
                eprintln!("killchain: {name}:{e}");
            }
        }
    }
    Ok(())
}
