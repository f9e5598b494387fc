//! `killchain bench map`: throughput of `map` (read, extract, resolve, place,
//! enrich, write) on generated alerts next to the parse-only floor
//! (serde_json parse and write of the same records) measured in the same run.
//! The ratio is what `docs/benchmarks.md` records; absolute numbers depend on
//! the machine.
//!
//! The floor parses each record into a `serde_json::Value` (with
//! `preserve_order`, keys kept in order as `map` keeps them), what a plain
//! serde_json filter does; `map` parses into its own borrowing
//! `killchain_map::Node`, which costs about half as much, as `killchain map`
//! does. Both write each record the same way: serialised into a reused line
//! buffer, then through a 64 KiB
//! `BufWriter` into a sink that counts bytes, so neither side pays for
//! holding hundreds of MB of output in memory. Runs alternate (floor, map,
//! map --lean) and the best of each is kept, so machine drift during the run
//! does not favour one side.

use std::io::{self, BufWriter, Cursor, Write};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use killchain_ingest::{Format, JsonRecords};
use killchain_map::enrich::{Detail, Enrichment, RenderCache};
use killchain_map::extract::FieldPaths;
use killchain_map::finding::RecordRef;
use killchain_map::summary::Summary;
use killchain_map::{Mapper, Node};
use serde_json::{json, Value};

use crate::cli::{BenchCommand, GlobalOpts};
use crate::context;

pub fn run(global: &GlobalOpts, cmd: BenchCommand) -> Result<ExitCode> {
    let (records, runs, json) = match cmd {
        BenchCommand::Map {
            records,
            runs,
            json,
        } => (records, runs, json),
        BenchCommand::Hunt {
            events,
            rules,
            limit,
            runs,
            json,
        } => return super::bench_hunt::run(global, &events, &rules, limit, runs, json),
        BenchCommand::Coverage(args) => return super::coverage::bench(global, args),
        BenchCommand::Predict(args) => return super::bench_predict::run(global, args),
        BenchCommand::Incidents(a) => return super::bench_incidents::run(&a),
    };
    let ctx = context::load(global)?;
    let techniques: Vec<String> = ctx
        .kb
        .active_techniques()
        .map(|(_, t)| t.id.clone())
        .collect();
    let input = generate(records, &techniques);
    let mb = input.len() as f64 / 1e6;
    let runs = runs.max(1);
    let mapper = Mapper::new(&ctx.kb, &ctx.models, Vec::new(), FieldPaths::default());

    let mut floor = Best::default();
    let mut full = Best::default();
    let mut lean = Best::default();
    let mut read = Best::default();
    let mut read_map = Best::default();
    let mut mapped = 0;
    for _ in 0..runs {
        floor.time(|| floor_pass(&input))?;
        full.time(|| map_pass(&mapper, &input, Detail::Full, &mut mapped))?;
        lean.time(|| map_pass(&mapper, &input, Detail::Lean, &mut mapped))?;
        let mut m = 0;
        read.time(|| stage_pass(&mapper, &input, Detail::Full, Stage::Read, &mut m))?;
        read_map.time(|| stage_pass(&mapper, &input, Detail::Full, Stage::Map, &mut m))?;
    }
    let n = records as f64;
    let ratio = floor.seconds / full.seconds;
    let lean_ratio = floor.seconds / lean.seconds;
    if json {
        let side = |b: &Best| json!({"seconds": b.seconds, "records_per_s": n / b.seconds, "mb_per_s": mb / b.seconds, "output_bytes": b.bytes});
        println!(
            "{}",
            json!({
                "bench": "map", "records": records, "input_mb": mb, "runs": runs, "mapped": mapped,
                "floor": side(&floor), "map": side(&full), "map_lean": side(&lean),
                "stages": {"read": side(&read), "read_map": side(&read_map)},
                "ratio_to_floor": ratio, "lean_ratio_to_floor": lean_ratio,
            })
        );
    } else {
        println!(
            "bench map: {records} generated alerts, {mb:.1} MB, best of {runs} runs, 1 thread"
        );
        let row = |name: &str, b: &Best, note: &str| {
            println!(
                "  {name:<32} {:>10.0} records/s {:>7.1} MB/s {:>7.1} MB out{note}",
                n / b.seconds,
                mb / b.seconds,
                b.bytes as f64 / 1e6
            );
        };
        row("floor (serde_json parse + write)", &floor, "");
        row("killchain map", &full, &format!("  ({mapped} mapped)"));
        row("killchain map --lean", &lean, "");
        println!("  ratio to floor                   {:>9.0}%", ratio * 100.0);
        println!(
            "  ratio to floor, --lean           {:>9.0}%",
            lean_ratio * 100.0
        );
        // Cumulative stages, per record: where map's time goes.
        let us = |b: &Best| b.seconds / n * 1e6;
        println!(
            "  per record: floor {:.2} us; map {:.2} us = read {:.2} + map {:.2} + write {:.2}",
            us(&floor),
            us(&full),
            us(&read),
            us(&read_map) - us(&read),
            us(&full) - us(&read_map)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The best (shortest) of several timed passes, and the bytes it wrote.
#[derive(Debug)]
struct Best {
    seconds: f64,
    bytes: u64,
}

impl Default for Best {
    fn default() -> Self {
        Best {
            seconds: f64::MAX,
            bytes: 0,
        }
    }
}

impl Best {
    fn time(&mut self, pass: impl FnOnce() -> Result<u64>) -> Result<()> {
        let t = Instant::now();
        self.bytes = pass()?;
        self.seconds = self.seconds.min(t.elapsed().as_secs_f64());
        Ok(())
    }
}

/// Floor: parse every line into a Value and write it back. Returns bytes written.
fn floor_pass(input: &[u8]) -> Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 16, Counter(0));
    let mut line_buf = Vec::with_capacity(4096);
    for line in input.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: Value = serde_json::from_slice(line)?;
        line_buf.clear();
        serde_json::to_writer(&mut line_buf, &v)?;
        line_buf.push(b'\n');
        out.write_all(&line_buf)?;
    }
    Ok(out.into_inner().map_err(|e| e.into_error())?.0)
}

/// What `killchain map` does per record (see `commands/map.rs`), on the
/// generated input. Returns bytes written.
fn map_pass(mapper: &Mapper<'_>, input: &[u8], detail: Detail, mapped: &mut u64) -> Result<u64> {
    stage_pass(mapper, input, detail, Stage::Write, mapped)
}

/// How far a [`stage_pass`] goes per record: the stages of `map`, timed
/// cumulatively to show where its time goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    /// Read the record (JSON lines into a `Node`) only.
    Read,
    /// Read, then find the ATT&CK references and place them (the finding).
    Map,
    /// Everything: read, map, write the enriched record.
    Write,
}

fn stage_pass(
    mapper: &Mapper<'_>,
    input: &[u8],
    detail: Detail,
    stage: Stage,
    mapped: &mut u64,
) -> Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 16, Counter(0));
    let mut line_buf = Vec::with_capacity(4096);
    let mut summary = Summary::new(mapper.models(), mapper.selected());
    let mut rendered = RenderCache::new();
    let mut records = JsonRecords::new(Cursor::new(input), Format::Auto);
    // As `map` does: each record a `Node` borrowing from the reader's buffer.
    while let Some(item) = records.next_with(|bytes, line, index| {
        let rec: Node<'_> = serde_json::from_slice(bytes)?;
        if stage == Stage::Read {
            std::hint::black_box(&rec);
            return Ok(Ok(()));
        }
        let m = mapper.map_record(
            &rec,
            RecordRef {
                file: None,
                line: Some(line),
                index: Some(index),
                record_id: None,
            },
        );
        summary.add(&m.finding, &m.notes);
        if stage == Stage::Map {
            std::hint::black_box(&m);
            return Ok(Ok(()));
        }
        line_buf.clear();
        Enrichment::new(&rec, &m.finding, detail)
            .write_json_cached(&mut line_buf, &mut rendered)?;
        line_buf.push(b'\n');
        Ok(out.write_all(&line_buf))
    }) {
        item.map_err(|e| anyhow::anyhow!("generated input:{e}"))??;
    }
    *mapped = summary.mapped;
    Ok(out.into_inner().map_err(|e| e.into_error())?.0)
}

/// A writer that only counts what it is given.
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Deterministic generator of alerts in the dialects `map` reads, ~1 KB each.
fn generate(n: usize, techniques: &[String]) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        // xorshift64*: fast and deterministic; quality is irrelevant here.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut out = Vec::with_capacity(n * 900);
    for i in 0..n {
        let r = next();
        let t = &techniques[(r % techniques.len() as u64) as usize];
        let host = format!("WS-{:04}.corp.example", (r >> 8) % 500);
        let user = format!("CORP\\user{}", (r >> 20) % 2000);
        let ts = format!(
            "2026-03-02T{:02}:{:02}:{:02}.{:03}Z",
            (i / 3600) % 24,
            (i / 60) % 60,
            i % 60,
            r % 1000
        );
        let ip = format!(
            "10.{}.{}.{}",
            (r >> 30) % 256,
            (r >> 38) % 256,
            (r >> 46) % 254 + 1
        );
        let cmd = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe -NoProfile -ExecutionPolicy Bypass -Command \"Get-Process | Where-Object { $_.CPU -gt 100 }\"";
        let v = match r % 8 {
            0 => {
                json!({"@timestamp": ts, "event": {"kind": "alert", "code": "4688"}, "threat": {"framework": "MITRE ATT&CK", "technique": {"id": [t]}}, "host": {"name": host}, "user": {"name": user}, "process": {"pid": r % 65536, "command_line": cmd}, "rule": {"name": "Suspicious activity", "id": "r-1"}, "message": "Process creation observed on endpoint with elevated token"})
            }
            1 => {
                json!({"@timestamp": ts, "kibana.alert.rule.name": "Elastic rule", "kibana.alert.severity": "high", "kibana.alert.rule.threat": [{"framework": "MITRE ATT&CK", "tactic": {"id": "TA0002", "name": "Execution"}, "technique": [{"id": t, "name": "x"}]}], "host": {"name": host}, "source": {"ip": ip}, "process": {"command_line": cmd}})
            }
            2 => {
                json!({"title": "Sigma rule", "id": "0f06a3a5-6a09-413f-8743-e6cf35561297", "level": "high", "tags": [format!("attack.{}", t.to_lowercase()), "attack.execution"], "Computer": host, "User": user, "CommandLine": cmd, "Image": "C:\\Windows\\System32\\cmd.exe", "EventID": 1, "UtcTime": "2026-03-02 10:00:00.000"})
            }
            3 => {
                json!({"timestamp": "2026-03-02T10:00:00.000+0000", "rule": {"level": 10, "description": "Wazuh rule", "id": "92000", "mitre": {"id": [t], "tactic": ["Execution"]}}, "agent": {"id": "001", "name": host, "ip": ip}, "data": {"win": {"eventdata": {"commandLine": cmd}}}, "location": "EventChannel"})
            }
            4 => {
                json!({"_time": "1772445600", "search_name": "ESCU rule", "dest": host, "user": user, "annotations": {"mitre_attack": {"mitre_technique_id": [t], "mitre_tactic_id": ["TA0002"]}}, "process": cmd, "urgency": "high"})
            }
            5 => {
                json!({"Timestamp": "2026-03-02 10:00:00.000 +00:00", "Computer": host, "Channel": "Security", "EventID": 4688, "Level": "med", "MitreTactics": ["Exec"], "MitreTags": [t], "RuleTitle": "Hayabusa rule", "Details": cmd})
            }
            6 => {
                json!({"timestamp": ts, "event_type": "alert", "src_ip": ip, "dest_ip": "203.0.113.7", "dest_port": 443, "proto": "TCP", "alert": {"signature_id": 2000001, "signature": "ET POLICY something", "category": "Potentially Bad Traffic", "severity": 2}})
            }
            _ => {
                json!({"timestamp": ts, "rule_name": format!("Custom detection {t} on endpoint"), "hostname": host, "user": user, "severity": "medium", "details": cmd})
            }
        };
        // Serialising a json! literal into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, &v);
        out.push(b'\n');
    }
    out
}
