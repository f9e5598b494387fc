//! `killchain bench incidents`: correlation alone (the streaming correlator:
//! reorder buffer, entity look-ups, union-find, eviction), single-threaded,
//! in findings per second, next to the floor of parsing the same findings as
//! NDJSON with serde_json, measured in the same run, alternating, best of N;
//! and the memory the entity table holds per live entity.
//!
//! The findings are generated: a fleet of 2,000 hosts and 5,000 users, one
//! finding every 50 ms of event time on a random host, mostly with one of
//! the host's two users (one in 500 another user), with a
//! process GUID and parent GUID, a logon ID, a source IP (some of another
//! host) and a hash; a few SYSTEM findings across the fleet. Signals are
//! built before timing (reading findings is what the floor measures).

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use killchain_correlate::{Commonness, Config, Correlator, Signal};
use killchain_map::finding::{Entities, Finding, Process, RecordRef};
use killchain_map::Node;
use serde_json::{json, Value};

use crate::cli::BenchIncidentsArgs;

/// A small deterministic generator (xorshift), so every run sees the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn generate(n: usize) -> (Vec<Signal>, Vec<Vec<u8>>) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut signals = Vec::with_capacity(n);
    let mut lines = Vec::with_capacity(n);
    let t0 = 1_700_000_000_000i64; // ms
    for i in 0..n {
        let host = rng.below(2000);
        let system = rng.below(20) == 0;
        // Mostly the host's own user, sometimes another (roaming admins).
        let user = if system {
            "NT AUTHORITY\\SYSTEM".to_string()
        } else if rng.below(500) == 0 {
            format!("CORP\\user{}", rng.below(5000))
        } else {
            format!("CORP\\user{}", host * 2 + rng.below(2))
        };
        // Nearly sorted: up to 2 s of jitter.
        let ms = t0 + i as i64 * 50 + rng.below(2000) as i64;
        let time = jiff::Timestamp::from_millisecond(ms).unwrap_or_default();
        let guid = format!(
            "{{{:08x}-0000-0000-0000-{:012x}}}",
            host,
            rng.below(1 << 40)
        );
        let parent = format!(
            "{{{:08x}-0000-0000-0000-{:012x}}}",
            host,
            rng.below(1 << 20)
        );
        // The host's own address, or (one in 200) another host's.
        let ip_host = if rng.below(200) == 0 {
            rng.below(2000)
        } else {
            host
        };
        let src = format!("10.0.{}.{}", ip_host / 250, ip_host % 250);
        let raw = json!({
            "@timestamp": time.to_string(),
            "host": {"name": format!("ws{host:04}.corp.local")},
            "user": {"name": user},
            "source": {"ip": src},
            "ProcessGuid": guid,
            "ParentProcessGuid": parent,
            "SubjectLogonId": format!("0x{:x}", rng.below(1 << 24)),
            "rule": {"id": format!("r{}", rng.below(300)), "name": "generated", "level": "high"},
            "kill_chain": {"lm": {"phase": "installation", "phase_index": 4}},
            "killchain": {"record": {"file": "bench.evtx", "id": i.to_string()}},
        });
        let finding = Finding {
            time: Some(time),
            entities: Entities {
                hosts: vec![format!("ws{host:04}.corp.local")],
                users: vec![user],
                source_ips: vec![src],
                process: Some(Process {
                    entity_id: Some(guid),
                    ..Process::default()
                }),
                file_hashes: vec![format!("{:064x}", host * 16 + rng.below(16))],
                ..Entities::default()
            },
            record: RecordRef {
                file: Some("bench.evtx".into()),
                record_id: Some(i.to_string()),
                ..RecordRef::default()
            },
            ..Finding::default()
        };
        if let Ok(s) = Signal::from_finding(&finding, Some(&Node::from_value(&raw))) {
            signals.push(s);
        }
        lines.push(serde_json::to_vec(&raw).unwrap_or_default());
    }
    (signals, lines)
}

pub fn run(args: &BenchIncidentsArgs) -> Result<ExitCode> {
    let (signals, lines) = generate(args.findings.max(1));
    let n = signals.len() as f64;
    let mut floor = f64::MAX;
    let mut corr = f64::MAX;
    let mut per_entity = 0.0f64;
    let mut peak_entities = 0usize;
    let mut incidents = 0usize;
    // Kernel time and page faults of the best correlation run.
    let mut kernel = (0.0f64, 0u64);
    // A 15-minute window: with a finding every 50 ms that is ~18k findings
    // in the window, so state is evicted as the stream goes.
    let cfg = Config {
        window_secs: 900,
        ..Config::default()
    };
    for _ in 0..args.runs.max(1) {
        let t = Instant::now();
        let mut parsed = 0usize;
        for l in &lines {
            if serde_json::from_slice::<Value>(l).is_ok() {
                parsed += 1;
            }
        }
        floor = floor.min(t.elapsed().as_secs_f64());
        std::hint::black_box(parsed);

        let input = signals.clone();
        let usage = Usage::now();
        let t = Instant::now();
        let mut c = Correlator::new(cfg.clone(), Commonness::Online);
        let mut closed = 0usize;
        for (i, s) in input.into_iter().enumerate() {
            c.push(s);
            if i % 8192 == 0 {
                // Memory sample (cheap: once per 8k findings).
                let live = c.live_entities();
                if live > peak_entities {
                    peak_entities = live;
                    per_entity = c.entity_bytes() as f64 / live as f64;
                }
            }
            closed += c.drain_closed().len();
        }
        let (rest, _) = c.finish();
        let secs = t.elapsed().as_secs_f64();
        if secs < corr {
            corr = secs;
            kernel = usage.since();
        }
        incidents = closed + rest.len();
    }
    let floor_rate = n / floor;
    let corr_rate = n / corr;
    if args.json {
        println!(
            "{}",
            json!({
                "findings": signals.len(),
                "parse_floor_findings_per_s": floor_rate.round(),
                "correlation_findings_per_s": corr_rate.round(),
                "ratio_to_floor": (corr_rate / floor_rate * 100.0).round() / 100.0,
                "correlation_kernel_seconds": kernel.0,
                "correlation_page_faults": kernel.1,
                "peak_live_entities": peak_entities,
                "bytes_per_live_entity": per_entity.round(),
                "incidents": incidents,
            })
        );
    } else {
        println!(
            "bench incidents: {} generated findings, 1 thread, best of {}",
            signals.len(),
            args.runs.max(1)
        );
        println!(
            "  floor (serde_json parse of the findings NDJSON)  {:>12.0} findings/s",
            floor_rate
        );
        println!(
            "  correlation (stream: push, evict, finish)         {:>12.0} findings/s  ({:.2}x the floor)",
            corr_rate,
            corr_rate / floor_rate
        );
        println!(
            "  of which in the kernel: {:.0} ms ({:.0}%), {} page faults",
            kernel.0 * 1e3,
            kernel.0 / corr * 100.0,
            kernel.1
        );
        println!(
            "  memory: {:.0} bytes per live entity at {} live entities (entity table estimate)",
            per_entity, peak_entities
        );
        println!("  {incidents} incidents");
    }
    Ok(ExitCode::SUCCESS)
}

/// The process's kernel (system) time and minor page faults so far
/// (`getrusage`): the allocator's page faults show up here, not in the
/// engine's profile.
struct Usage {
    sys: f64,
    faults: u64,
}

impl Usage {
    fn now() -> Usage {
        // SAFETY: getrusage writes into the zeroed struct we pass.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: a valid pointer to an rusage; RUSAGE_SELF always exists.
        let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } == 0;
        if !ok {
            return Usage {
                sys: 0.0,
                faults: 0,
            };
        }
        Usage {
            sys: ru.ru_stime.tv_sec as f64 + ru.ru_stime.tv_usec as f64 / 1e6,
            faults: ru.ru_minflt as u64,
        }
    }

    /// Kernel seconds and page faults since `self`.
    fn since(&self) -> (f64, u64) {
        let now = Usage::now();
        (
            (now.sys - self.sys).max(0.0),
            now.faults.saturating_sub(self.faults),
        )
    }
}
