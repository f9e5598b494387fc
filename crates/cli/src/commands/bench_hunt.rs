//! `killchain bench hunt`: single-thread Sigma detection throughput on real
//! events (parse what the rules read + flatten + route + evaluate every
//! loaded rule, as `killchain hunt` does) next to the
//! parse-only floor (serde_json parsing the same events into the same
//! `Value`) measured in the same run, alternating, best of N. Events are
//! loaded into memory first so neither side pays for I/O or decompression.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Result};
use killchain_detect::{Engine, FieldList, LeftOut, Options, Scratch};
use killchain_ingest::{flatten_windows, for_each_zip_member, open_input};
use serde_json::{json, Value};

use crate::cli::GlobalOpts;
use crate::commands::hunt::{evaluate_selected, parse_for_rules};
use crate::commands::rules::{load_pipeline, read_rule_texts};

pub fn run(
    global: &GlobalOpts,
    events: &[PathBuf],
    rules: &[PathBuf],
    limit: usize,
    runs: usize,
    as_json: bool,
) -> Result<ExitCode> {
    let pipeline = load_pipeline(global, &[])?;
    let (texts, _) = read_rule_texts(rules);
    let t = Instant::now();
    let (engine, report) = Engine::build(&texts, &pipeline, &Options::default());
    let load_s = t.elapsed().as_secs_f64();

    let mut lines: Vec<Vec<u8>> = Vec::new();
    for p in events {
        load_lines(p, limit, &mut lines)?;
        if lines.len() >= limit {
            break;
        }
    }
    if lines.is_empty() {
        bail!("no events found in {events:?}");
    }
    let bytes: usize = lines.iter().map(Vec::len).sum();
    let n = lines.len() as f64;
    let mb = bytes as f64 / 1e6;

    let mut floor = f64::MAX;
    let mut hunt = f64::MAX;
    let mut matches = 0u64;
    let mut scratch = Scratch::default();
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let mut parsed = 0u64;
        for l in &lines {
            if let Ok(v) = serde_json::from_slice::<Value>(l) {
                parsed += u64::from(v.is_object());
            }
        }
        floor = floor.min(t.elapsed().as_secs_f64());
        std::hint::black_box(parsed);

        let t = Instant::now();
        let mut hits = Vec::new();
        let mut spare = FieldList::default();
        let mut notes = LeftOut::default();
        let mut m = 0u64;
        for l in &lines {
            m += hunt_line(&engine, l, &mut spare, &mut notes, &mut scratch, &mut hits) as u64;
        }
        hunt = hunt.min(t.elapsed().as_secs_f64());
        matches = m;
    }
    let ratio = floor / hunt;
    if as_json {
        println!(
            "{}",
            json!({
                "bench": "hunt", "events": lines.len(), "input_mb": mb, "runs": runs,
                "rules_loaded": report.loaded(), "rules_not_loaded": report.unsupported() + report.invalid(),
                "rule_load_seconds": load_s, "matches": matches,
                "floor": {"seconds": floor, "events_per_s": n / floor, "mb_per_s": mb / floor},
                "hunt": {"seconds": hunt, "events_per_s": n / hunt, "mb_per_s": mb / hunt},
                "ratio_to_floor": ratio,
            })
        );
    } else {
        println!(
            "bench hunt: {} events ({mb:.1} MB), {} rules loaded in {load_s:.2} s, best of {runs} runs, 1 thread",
            lines.len(),
            report.loaded()
        );
        println!(
            "  floor (serde_json parse)          {:>10.0} events/s {:>7.1} MB/s",
            n / floor,
            mb / floor
        );
        println!(
            "  killchain hunt (detection)        {:>10.0} events/s {:>7.1} MB/s  ({matches} matches)",
            n / hunt,
            mb / hunt
        );
        println!(
            "  ratio to floor                    {:>9.0}%",
            ratio * 100.0
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What `killchain hunt` does with one JSON line (its own functions): the
/// members the rules read parsed, the others' strings noted for keyword
/// selections; the whole record only when a keyword selection must read
/// it. Returns the number of matches.
// Out of line so a profile can isolate it: valgrind --tool=callgrind --toggle-collect='*hunt_line*'
#[inline(never)]
fn hunt_line(
    engine: &Engine,
    line: &[u8],
    spare: &mut FieldList<'static>,
    notes: &mut LeftOut,
    scratch: &mut Scratch,
    hits: &mut Vec<usize>,
) -> usize {
    hits.clear();
    if engine.supports_partial() {
        let Ok(v) = parse_for_rules(engine, line, notes) else {
            return 0;
        };
        if evaluate_selected(engine, &v, notes, spare, scratch, hits) {
            return hits.len();
        }
    }
    let Ok(v) = serde_json::from_slice::<Value>(line) else {
        return 0;
    };
    let mut ev = std::mem::take(spare).recycle();
    flatten_windows(&v, &mut ev.fields);
    engine.evaluate(&ev, scratch, hits);
    *spare = ev.recycle();
    hits.len()
}

/// Non-empty lines of JSON / NDJSON / gzip / zip files under `p`, up to `limit` in all.
fn load_lines(p: &Path, limit: usize, out: &mut Vec<Vec<u8>>) -> Result<()> {
    if p.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            if out.len() >= limit {
                break;
            }
            load_lines(&e, limit, out)?;
        }
        return Ok(());
    }
    let name = p.to_string_lossy().to_ascii_lowercase();
    let mut take = |r: &mut dyn BufRead| -> std::io::Result<()> {
        for line in r.split(b'\n') {
            let line = line?;
            if out.len() >= limit {
                break;
            }
            if line.iter().any(|b| !b.is_ascii_whitespace()) {
                out.push(line);
            }
        }
        Ok(())
    };
    let loaded = if name.ends_with(".zip") {
        for_each_zip_member::<std::io::Error>(p, |_, r| take(r))
    } else if [".json", ".ndjson", ".jsonl", ".gz"]
        .iter()
        .any(|x| name.ends_with(x))
    {
        open_input(p).and_then(|mut r| take(&mut r))
    } else {
        Ok(())
    };
    // A damaged file still gives the lines before the damage; say so and go on.
    if let Err(e) = loaded {
        eprintln!(
            "killchain: {}: {e} (lines read before it are used)",
            p.display()
        );
    }
    Ok(())
}
