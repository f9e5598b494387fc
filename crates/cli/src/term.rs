//! Terminal rendering shared by commands: the end-of-run summary and the
//! kill chain bar.

use std::fmt::Write;

use killchain_map::summary::Summary;

/// A horizontal bar of `n` out of `max`, `width` cells wide.
pub fn bar(n: u64, max: u64, width: usize) -> String {
    if n == 0 || max == 0 {
        return "·".to_string();
    }
    let cells = ((n as f64 / max as f64) * width as f64).ceil() as usize;
    "█".repeat(cells.clamp(1, width))
}

/// The human summary `map` prints on stderr.
pub fn summary_text(s: &Summary, failed_inputs: u64, per_phase: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "killchain map: {} records, {} mapped, {} unmapped, {} malformed{}{}{}{}",
        s.records,
        s.mapped,
        s.unmapped,
        s.malformed,
        if s.not_objects > 0 {
            format!(", {} not objects", s.not_objects)
        } else {
            String::new()
        },
        if s.redirected > 0 {
            format!(", {} revoked IDs redirected", s.redirected)
        } else {
            String::new()
        },
        if s.unknown_refs > 0 {
            format!(", {} unknown references", s.unknown_refs)
        } else {
            String::new()
        },
        if failed_inputs > 0 {
            format!(", {failed_inputs} inputs unreadable")
        } else {
            String::new()
        },
    );
    for (model, rows) in s.phases.iter().filter(|_| per_phase) {
        let max = rows.iter().map(|r| r.1).max().unwrap_or(0);
        if max == 0 {
            continue;
        }
        let _ = writeln!(out, "  {model}:");
        for (phase, n) in rows {
            let _ = writeln!(out, "    {phase:<24} {n:>8} {}", bar(*n, max, 30));
        }
    }
    out
}
