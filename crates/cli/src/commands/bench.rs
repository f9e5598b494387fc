//! `killchain bench map`: throughput of `map` (read, extract, resolve, place,
//! enrich, write) on generated alerts next to the parse-only floor
//! (serde_json parse and write of the same records) measured in the same run.
//! The ratio is what `docs/benchmarks.md` records; absolute numbers depend on
//! the machine.

use std::io::Cursor;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use killchain_ingest::{Format, JsonRecords};
use killchain_map::enrich::enrich;
use killchain_map::extract::FieldPaths;
use killchain_map::finding::RecordRef;
use killchain_map::Mapper;
use serde_json::{json, Value};

use crate::cli::{BenchCommand, GlobalOpts};
use crate::context;

pub fn run(global: &GlobalOpts, cmd: BenchCommand) -> Result<ExitCode> {
    let BenchCommand::Map {
        records,
        runs,
        json,
    } = cmd;
    let ctx = context::load(global)?;
    let techniques: Vec<String> = ctx
        .kb
        .active_techniques()
        .map(|(_, t)| t.id.clone())
        .collect();
    let input = generate(records, &techniques);
    let mb = input.len() as f64 / 1e6;
    let runs = runs.max(1);

    // Floor: parse every line into a Value and write it back.
    let mut floor_best = f64::MAX;
    let mut sink = Vec::with_capacity(input.len() * 2);
    for _ in 0..runs {
        sink.clear();
        let t = Instant::now();
        for line in input.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let v: Value = serde_json::from_slice(line)?;
            serde_json::to_writer(&mut sink, &v)?;
            sink.push(b'\n');
        }
        floor_best = floor_best.min(t.elapsed().as_secs_f64());
    }
    let floor_out = sink.len();

    let mapper = Mapper::new(&ctx.kb, &ctx.models, Vec::new(), FieldPaths::default());
    let mut map_best = f64::MAX;
    let mut mapped = 0usize;
    for _ in 0..runs {
        sink.clear();
        mapped = 0;
        let t = Instant::now();
        for item in JsonRecords::new(Cursor::new(&input[..]), Format::Auto) {
            let mut rec = item.map_err(|e| anyhow::anyhow!("generated input:{e}"))?;
            let m = mapper.map_record(
                &rec.value,
                RecordRef {
                    file: None,
                    line: Some(rec.line),
                    index: Some(rec.index),
                    record_id: None,
                },
            );
            mapped += usize::from(!m.finding.is_unmapped());
            enrich(&mut rec.value, &m.finding);
            serde_json::to_writer(&mut sink, &rec.value)?;
            sink.push(b'\n');
        }
        map_best = map_best.min(t.elapsed().as_secs_f64());
    }
    let n = records as f64;
    let ratio = floor_best / map_best;
    if json {
        println!(
            "{}",
            json!({
                "bench": "map", "records": records, "input_mb": mb, "runs": runs, "mapped": mapped,
                "floor": {"seconds": floor_best, "records_per_s": n / floor_best, "mb_per_s": mb / floor_best, "output_bytes": floor_out},
                "map": {"seconds": map_best, "records_per_s": n / map_best, "mb_per_s": mb / map_best, "output_bytes": sink.len()},
                "ratio_to_floor": ratio,
            })
        );
    } else {
        println!(
            "bench map: {records} generated alerts, {mb:.1} MB, best of {runs} runs, 1 thread"
        );
        println!(
            "  floor (serde_json parse + write) {:>10.0} records/s {:>7.1} MB/s",
            n / floor_best,
            mb / floor_best
        );
        println!(
            "  killchain map                    {:>10.0} records/s {:>7.1} MB/s  ({mapped} mapped)",
            n / map_best,
            mb / map_best
        );
        println!("  ratio to floor                   {:>9.0}%", ratio * 100.0);
    }
    Ok(ExitCode::SUCCESS)
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
