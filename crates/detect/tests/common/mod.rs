//! Shared helpers for tests over `../shared/data`: locating the data, the
//! skip-or-fail policy, reading rule folders and OTRF zips.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use killchain_detect::RuleText;

pub use killchain_testdata::shared_data;

/// Every `.yml` under `dir`, sorted, as rule texts named relative to `base`.
pub fn rule_texts(dir: &Path, base: &Path) -> Vec<RuleText> {
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| RuleText {
            path: p
                .strip_prefix(base)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned(),
            text: std::fs::read_to_string(&p).unwrap(),
        })
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(p);
        }
    }
}

/// The OTRF Windows host datasets (zips), sorted.
pub fn otrf_windows_zips(data: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk_zips(&data.join("otrf"), &mut out);
    out.retain(|p| {
        let s = p.to_string_lossy();
        s.contains("/windows/") && s.contains("/host/")
    });
    out.sort();
    out
}

fn walk_zips(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk_zips(&p, out);
        } else if p.extension().is_some_and(|x| x == "zip") {
            out.push(p);
        }
    }
}

/// Up to `limit` JSON events from every member of a zip (lines that do not
/// parse are skipped: the corpus has a few truncated lines).
pub fn zip_events(path: &Path, limit: usize) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    each_zip_line(path, |line| {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line) {
            if v.is_object() {
                out.push(v);
            }
        }
        out.len() < limit
    });
    out
}

/// Up to `limit` non-blank lines from every member of a zip, as bytes (what
/// a reader hands a parser), damaged ones included.
pub fn zip_lines(path: &Path, limit: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    each_zip_line(path, |line| {
        if line.iter().any(|b| !b.is_ascii_whitespace()) {
            out.push(line);
        }
        out.len() < limit
    });
    out
}

/// Every line of every member of a zip, until `take` says stop.
fn each_zip_line(path: &Path, mut take: impl FnMut(Vec<u8>) -> bool) {
    let f = std::fs::File::open(path).unwrap();
    let mut z = zip::ZipArchive::new(f).unwrap();
    for i in 0..z.len() {
        let member = z.by_index(i).unwrap();
        if member.is_dir() {
            continue;
        }
        for line in BufReader::new(member).split(b'\n') {
            let Ok(line) = line else { break };
            if !take(line) {
                return;
            }
        }
    }
}
