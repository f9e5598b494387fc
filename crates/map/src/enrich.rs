//! The enrichment output schema: the original record plus ECS `threat.*`,
//! `kill_chain.<model>` and, where missing, the ECS entity fields a finding
//! found elsewhere in the record. Documented in `docs/output-schema.md`.
//!
//! Nothing of the original is lost: existing fields are only replaced where
//! they are the very ATT&CK fields we rewrite in normalised form (the
//! original values stay in `killchain.evidence`), and entity fields are only
//! added when absent.
//!
//! Where each field goes:
//!
//! - A flat dotted key that already holds the whole path
//!   (`"threat.technique.id"`) is replaced in place.
//! - Otherwise the path is nested: existing objects are merged into (new
//!   keys after the record's own), missing ones are created.
//! - If an intermediate exists but is not an object (`"threat": "high"`, or
//!   null), the field goes to a flat dotted key at the root instead, so the
//!   original stays.
//! - Entity fields are written only when the record has no non-null value
//!   at the path: nested, as a flat dotted key, or a mix of the two
//!   (`{"process": {"parent.pid": 7}}` holds `process.parent.pid`).
//! - `killchain` is always written (replaced if present).
//!
//! How it is written: the record is never modified. [`Enrichment::new`]
//! decides, against the record as read, where each field goes, and keeps
//! the decisions as a small tree of edits borrowing from the record and the
//! finding; [`Enrichment::write_json`] writes the record with the edits
//! merged in, in one pass. (Building `serde_json::Value`s for the additions
//! and inserting them into the record's maps cost several times the parse
//! of the record.) [`enrich`] gives the same result as a `Value` by parsing
//! what `write_json` writes, so the rules above live only here.

use std::io::Write as _;
use std::ptr;
use std::sync::{Arc, LazyLock, Mutex};

use jiff::Timestamp;
use serde_json::Value;

use crate::finding::{Evidence, Finding, Phases, Placement, RecordRef, TechniqueHit};
use crate::node::{Node, Object};

/// `threat.framework` value, as Elastic writes it.
pub const FRAMEWORK: &str = "MITRE ATT&CK";

/// How much of the enrichment to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Detail {
    /// Everything in docs/output-schema.md.
    #[default]
    Full,
    /// Without `kill_chain.<model>.rationale` and `killchain.evidence`, the
    /// bulk of the added bytes, for SIEMs that charge per byte ingested.
    Lean,
}

/// Add the finding's enrichment to `record` (which must be a JSON object;
/// other values are left unchanged and `false` is returned).
///
/// The `Value` form of [`Enrichment`], for callers that keep working on the
/// record; writers should use [`Enrichment::write_json`] directly.
pub fn enrich(record: &mut Value, finding: &Finding) -> bool {
    if !record.is_object() {
        return false;
    }
    let mut json = Vec::new();
    let written =
        Enrichment::new(&Node::from_value(record), finding, Detail::Full).write_json(&mut json);
    let enriched = written.and_then(|()| serde_json::from_slice(&json));
    // Writing into a Vec and reading back what was written cannot fail; if
    // it did, the record would be left as it was. (Floats in the record go
    // through text and back; serde_json's default parser may read one with
    // many digits one unit in the last place off. The writer never does.)
    match enriched {
        Ok(v) => {
            *record = v;
            true
        }
        Err(_) => false,
    }
}

/// A record with a finding's enrichment planned, ready to write (see the
/// module docs).
#[derive(Debug)]
pub struct Enrichment<'a> {
    record: &'a Node<'a>,
    finding: &'a Finding,
    detail: Detail,
    /// The edit tree; `edits[ROOT]` stands for the record itself.
    edits: Vec<Edit<'a>>,
    /// The paths of [`Key::Flat`] keys.
    flat_paths: Vec<Path<'a>>,
}

/// Index of the edit standing for the record (an object) in the edit tree.
const ROOT: usize = 0;
/// No edit (end of a child list).
const NONE: usize = usize::MAX;

/// One planned change at one level of the output, linked to its siblings
/// and children (in the order planned, which is the order written).
#[derive(Debug)]
struct Edit<'a> {
    key: Key<'a>,
    what: What<'a>,
    first_child: usize,
    last_child: usize,
    next_sibling: usize,
}

/// The key an edit writes.
#[derive(Debug, Clone, Copy)]
enum Key<'a> {
    /// A key the record already has at this level, recognised when writing
    /// by identity (the very `String` in the record's map), so no key is
    /// compared or hashed twice.
    Existing(&'a str),
    /// A new key (one path segment), written after the record's own keys.
    New(&'a str),
    /// A new flat dotted key at the root: the path at this index of
    /// `flat_paths`, joined with dots. (Rare; kept out of line so edits stay small.)
    Flat(usize),
}

/// What an edit writes under its key.
#[derive(Debug, Clone, Copy)]
enum What<'a> {
    /// The record's object at this key, with the edits below it merged in.
    Merge,
    /// A new object made of the edits below it.
    Object,
    /// A value (replacing the record's, for an existing key).
    Leaf(Leaf<'a>),
}

/// A value the enrichment writes. Lists are read from the finding as they
/// are written rather than collected.
#[derive(Debug, Clone, Copy)]
enum Leaf<'a> {
    Str(&'a str),
    U64(u64),
    Time(Timestamp),
    TacticIds,
    TacticNames,
    TechniqueIds,
    TechniqueNames,
    SubtechniqueIds,
    SubtechniqueNames,
    Placement(&'a Placement),
    /// The whole `kill_chain` object, for a record without one.
    KillChain,
    /// The whole `threat` object, for a record without one.
    Threat,
    /// The `killchain` object.
    Meta,
}

/// A dotted field path as segments, none containing a dot.
#[derive(Debug, Clone, Copy)]
struct Path<'a> {
    segs: [&'a str; Path::MAX],
    len: usize,
}

impl<'a> Path<'a> {
    /// The longest path written: `threat.technique.subtechnique.id`.
    const MAX: usize = 4;

    fn new(segs: &[&'a str]) -> Self {
        let len = segs.len().min(Self::MAX);
        let mut p = Path {
            segs: [""; Self::MAX],
            len,
        };
        p.segs[..len].copy_from_slice(&segs[..len]);
        p
    }

    fn joined(&self) -> String {
        self.segs[..self.len].join(".")
    }
}

/// The index of a path's first segment, for every segment that starts a
/// path the enrichment writes. A record whose top-level keys have none of a
/// path's head (as a key, or before the first dot of a key) cannot hold
/// anything on that path, so planning it needs no look-ups in the record.
fn head_index(head: &str) -> Option<usize> {
    Some(match head {
        "threat" => 0,
        "kill_chain" => 1,
        "killchain" => 2,
        "@timestamp" => 3,
        "host" => 4,
        "user" => 5,
        "source" => 6,
        "destination" => 7,
        "process" => 8,
        "rule" => 9,
        "log" => 10,
        _ => return None,
    })
}

/// How many heads [`head_index`] knows.
const HEADS: usize = 11;

impl<'a> Enrichment<'a> {
    /// Plans the enrichment of `record` with `finding`; a record that is not
    /// an object gets none and is written unchanged.
    pub fn new(record: &'a Node<'a>, finding: &'a Finding, detail: Detail) -> Self {
        let (mut edits, mut flat_paths) = (Vec::new(), Vec::new());
        if let Node::Object(root) = record {
            let mut planner = Planner::new(root);
            if !finding.is_unmapped() {
                planner.threat(finding);
                planner.kill_chain(finding);
            }
            planner.entities(finding);
            planner.meta(finding);
            (edits, flat_paths) = (planner.edits, planner.flat_paths);
        }
        Enrichment {
            record,
            finding,
            detail,
            edits,
            flat_paths,
        }
    }

    /// Appends the enriched record to `out` as one line of compact JSON
    /// (without the newline), byte for byte what serde_json would write for
    /// the record with the fields added.
    ///
    /// Errors only if serde_json fails to write a value into a `Vec`, which
    /// it does not.
    pub fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        self.write_with(out, &mut Cache::Shared)
    }

    /// [`Enrichment::write_json`] with the caller's own cache of rendered
    /// objects instead of the process-wide one: no lock per record, for a
    /// single-threaded writer such as `killchain map`.
    pub fn write_json_cached(
        &self,
        out: &mut Vec<u8>,
        cache: &mut RenderCache,
    ) -> serde_json::Result<()> {
        self.write_with(out, &mut Cache::Own(cache))
    }

    fn write_with(&self, out: &mut Vec<u8>, cache: &mut Cache<'_>) -> serde_json::Result<()> {
        match self.record {
            Node::Object(map) if !self.edits.is_empty() => self.write_merged(out, map, ROOT, cache),
            other => write_node(out, other),
        }
    }

    /// The edits directly under `node`, in the order planned.
    fn children(&self, node: usize) -> impl Iterator<Item = (usize, &Edit<'a>)> {
        let first = self.edits.get(node).map_or(NONE, |e| e.first_child);
        std::iter::successors(self.edits.get(first).map(|e| (first, e)), |(_, e)| {
            self.edits.get(e.next_sibling).map(|n| (e.next_sibling, n))
        })
    }

    /// An object of the record with the edits under `node` merged in.
    fn write_merged(
        &self,
        out: &mut Vec<u8>,
        map: &Object<'a>,
        node: usize,
        cache: &mut Cache<'_>,
    ) -> serde_json::Result<()> {
        let edits_existing = self
            .children(node)
            .any(|(_, e)| matches!(e.key, Key::Existing(_)));
        out.push(b'{');
        let mut first = true;
        for (key, value) in map {
            comma(out, &mut first);
            write_str(out, key)?;
            out.push(b':');
            let edit = edits_existing
                .then(|| {
                    self.children(node)
                        .find(|(_, e)| matches!(e.key, Key::Existing(k) if ptr::eq(k, key)))
                })
                .flatten();
            match (edit.map(|(i, e)| (i, e.what)), value) {
                (Some((i, What::Merge)), Node::Object(map)) => {
                    self.write_merged(out, map, i, cache)?
                }
                (Some((_, What::Leaf(leaf))), _) => self.write_leaf(out, leaf, cache)?,
                // Unedited (a merge is only planned where the record has an object).
                _ => write_node(out, value)?,
            }
        }
        self.write_new(out, node, &mut first, cache)?;
        out.push(b'}');
        Ok(())
    }

    /// The new keys under `node`, after `first` tells whether any key came before.
    fn write_new(
        &self,
        out: &mut Vec<u8>,
        node: usize,
        first: &mut bool,
        cache: &mut Cache<'_>,
    ) -> serde_json::Result<()> {
        for (i, e) in self.children(node) {
            match e.key {
                Key::Existing(_) => continue,
                Key::New(k) => {
                    comma(out, first);
                    write_str(out, k)?;
                }
                Key::Flat(at) => {
                    comma(out, first);
                    let joined = self.flat_paths.get(at).map(Path::joined);
                    write_str(out, joined.as_deref().unwrap_or_default())?;
                }
            }
            out.push(b':');
            match e.what {
                What::Leaf(leaf) => self.write_leaf(out, leaf, cache)?,
                What::Object | What::Merge => {
                    out.push(b'{');
                    self.write_new(out, i, &mut true, cache)?;
                    out.push(b'}');
                }
            }
        }
        Ok(())
    }

    fn write_leaf(
        &self,
        out: &mut Vec<u8>,
        leaf: Leaf<'_>,
        cache: &mut Cache<'_>,
    ) -> serde_json::Result<()> {
        let f = self.finding;
        let subtechniques = || f.techniques.iter().filter(|t| is_subtechnique(t));
        match leaf {
            Leaf::Str(s) => write_str(out, s),
            Leaf::U64(n) => serde_json::to_writer(out, &n),
            Leaf::Time(t) => {
                // RFC 3339 text: nothing in it needs escaping.
                out.push(b'"');
                write_timestamp(out, t)?;
                out.push(b'"');
                Ok(())
            }
            Leaf::TacticIds => write_strs(out, f.tactics.iter().map(|t| &*t.id)),
            Leaf::TacticNames => write_strs(out, f.tactics.iter().map(|t| &*t.name)),
            Leaf::TechniqueIds => write_strs(out, ecs_techniques(&f.techniques).map(|(id, _)| id)),
            Leaf::TechniqueNames => write_strs(
                out,
                ecs_techniques(&f.techniques)
                    .map(|(_, name)| name)
                    .filter(|name| !name.is_empty()),
            ),
            Leaf::SubtechniqueIds => write_strs(out, subtechniques().map(|t| &*t.id)),
            Leaf::SubtechniqueNames => write_strs(out, subtechniques().map(|t| &*t.name)),
            Leaf::Placement(p) => write_placement(out, p, self.detail),
            Leaf::KillChain => {
                cache.with(|c| out.extend_from_slice(c.kill_chain(f, self.detail)));
                Ok(())
            }
            Leaf::Threat => {
                cache.with(|c| out.extend_from_slice(c.threat(f)));
                Ok(())
            }
            Leaf::Meta => self.write_meta(out),
        }
    }

    /// `killchain`: this tool's own metadata.
    fn write_meta(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let f = self.finding;
        out.extend_from_slice(if f.is_unmapped() {
            b"{\"mapped\":false"
        } else {
            b"{\"mapped\":true"
        });
        if !f.is_unmapped() {
            out.extend_from_slice(b",\"confidence\":");
            write_confidence(out, f.confidence)?;
        }
        if !f.evidence.is_empty() && self.detail == Detail::Full {
            out.extend_from_slice(b",\"evidence\":[");
            for (i, e) in f.evidence.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_evidence(out, e)?;
            }
            out.push(b']');
        }
        if !f.attributions.is_empty() {
            out.extend_from_slice(b",\"attributions\":");
            write_strs(out, f.attributions.iter().map(String::as_str))?;
        }
        write_record_ref(out, &f.record)?;
        out.push(b'}');
        Ok(())
    }
}

/// The process's rendered objects (see [`RenderCache`]) for writers
/// without their own: one cache for every thread (hunt writes findings from
/// all its workers), so its memory is bounded once, not per thread.
static RENDERED: LazyLock<Mutex<RenderCache>> = LazyLock::new(Mutex::default);

/// Which [`RenderCache`] a write uses.
enum Cache<'c> {
    /// The process-wide one, locked around each look-up.
    Shared,
    /// The caller's.
    Own(&'c mut RenderCache),
}

impl Cache<'_> {
    fn with(&mut self, f: impl FnOnce(&mut RenderCache)) {
        match self {
            // A poisoned lock only means another thread panicked while
            // inserting text rendered from immutable inputs; the map is valid.
            Cache::Shared => f(&mut RENDERED.lock().unwrap_or_else(|e| e.into_inner())),
            Cache::Own(c) => f(c),
        }
    }
}

/// `kill_chain` and `threat` objects rendered as JSON, for records that
/// have neither (see [`Enrichment::write_json_cached`]). The mapper gives
/// every finding with the same evidence and confidence one shared
/// placements map and technique and tactic lists, and a stream repeats a
/// few hundred of them: copying the text rendered once is several times
/// cheaper than writing the rationale lines, names and numbers again for
/// every record. Keyed by the shared values' addresses; each entry holds
/// clones of their `Arc`s, so an address cannot be reused by other values
/// while the entry exists.
#[derive(Default)]
pub struct RenderCache {
    map: rustc_hash::FxHashMap<(usize, bool), (Arc<Phases>, Vec<u8>)>,
    /// `threat` objects by the addresses of the shared technique and tactic
    /// lists (kept alive by the entry, as above).
    threats: rustc_hash::FxHashMap<(usize, usize), ThreatText>,
}

struct ThreatText {
    _alive: (Arc<[TechniqueHit]>, Arc<[crate::finding::TacticHit]>),
    text: Vec<u8>,
}

/// Entries of each kind kept before [`RenderCache`] starts afresh: a memory
/// bound (~6 MB) for streams with endlessly varied evidence, whose records
/// then cost about what rendering each one did before the cache.
const RENDERED_LIMIT: usize = 4096;

impl RenderCache {
    pub fn new() -> Self {
        Self::default()
    }

    fn threat(&mut self, f: &Finding) -> &[u8] {
        let key = (
            Arc::as_ptr(&f.techniques).cast::<u8>() as usize,
            Arc::as_ptr(&f.tactics).cast::<u8>() as usize,
        );
        if self.threats.len() >= RENDERED_LIMIT && !self.threats.contains_key(&key) {
            self.threats.clear();
        }
        &self
            .threats
            .entry(key)
            .or_insert_with(|| ThreatText {
                _alive: (Arc::clone(&f.techniques), Arc::clone(&f.tactics)),
                text: render_alone(f, Detail::Full, "threat", Planner::threat_fields),
            })
            .text
    }

    fn kill_chain(&mut self, f: &Finding, detail: Detail) -> &[u8] {
        let phases = &f.phases;
        let key = (Arc::as_ptr(phases) as usize, detail == Detail::Full);
        if self.map.len() >= RENDERED_LIMIT && !self.map.contains_key(&key) {
            self.map.clear();
        }
        &self
            .map
            .entry(key)
            .or_insert_with(|| {
                let text = render_alone(f, detail, "kill_chain", Planner::kill_chain_fields);
                (Arc::clone(phases), text)
            })
            .1
    }
}

/// The value `head` gets when `plan` plans its fields into a record that
/// has none: the very text the per-field path writes, rendered once for
/// [`RenderCache`]. Runs inside a cache look-up (the shared cache locked):
/// `plan` must not plan a [`Leaf::Threat`] or [`Leaf::KillChain`] itself.
fn render_alone<'f>(
    f: &'f Finding,
    detail: Detail,
    head: &str,
    plan: fn(&mut Planner<'f>, &'f Finding),
) -> Vec<u8> {
    static EMPTY: Node<'static> = Node::Object(Object::EMPTY);
    let Node::Object(root) = &EMPTY else {
        return Vec::new();
    };
    let mut planner = Planner::new(root);
    plan(&mut planner, f);
    let e = Enrichment {
        record: &EMPTY,
        finding: f,
        detail,
        edits: planner.edits,
        flat_paths: planner.flat_paths,
    };
    let mut out = Vec::with_capacity(1024);
    // Writing into a Vec cannot fail; the text is `{"<head>":<value>}`.
    let _ = e.write_json(&mut out);
    let prefix = format!("{{\"{head}\":");
    match out
        .strip_prefix(prefix.as_bytes())
        .and_then(|v| v.strip_suffix(b"}"))
    {
        Some(value) => value.to_vec(),
        None => b"{}".to_vec(),
    }
}

/// One `kill_chain.<model>` object.
fn write_placement(out: &mut Vec<u8>, p: &Placement, detail: Detail) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"phase\":");
    write_str(out, &p.phase)?;
    out.extend_from_slice(b",\"phases\":");
    write_strs(out, p.phases.iter().map(|s| &**s))?;
    out.extend_from_slice(b",\"phase_index\":");
    serde_json::to_writer(&mut *out, &p.phase_index)?;
    if detail == Detail::Full {
        out.extend_from_slice(b",\"rationale\":");
        write_strs(out, p.rationale.iter().map(|s| &**s))?;
    }
    out.extend_from_slice(b",\"confidence\":");
    write_confidence(out, p.confidence)?;
    out.push(b'}');
    Ok(())
}

fn write_evidence(out: &mut Vec<u8>, e: &Evidence) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"field\":");
    write_str(out, &e.field)?;
    out.extend_from_slice(b",\"value\":");
    write_str(out, &e.value)?;
    out.extend_from_slice(b",\"dialect\":");
    write_str(out, &e.dialect)?;
    out.push(b'}');
    Ok(())
}

/// `,"record":{file, line, index, id}` when anything is known.
fn write_record_ref(out: &mut Vec<u8>, r: &RecordRef) -> serde_json::Result<()> {
    if r.file.is_none() && r.line.is_none() && r.index.is_none() && r.record_id.is_none() {
        return Ok(());
    }
    out.extend_from_slice(b",\"record\":{");
    let mut first = true;
    if let Some(file) = &r.file {
        comma(out, &mut first);
        out.extend_from_slice(b"\"file\":");
        write_str(out, file)?;
    }
    if let Some(line) = r.line {
        comma(out, &mut first);
        out.extend_from_slice(b"\"line\":");
        serde_json::to_writer(&mut *out, &line)?;
    }
    if let Some(index) = r.index {
        comma(out, &mut first);
        out.extend_from_slice(b"\"index\":");
        serde_json::to_writer(&mut *out, &index)?;
    }
    if let Some(id) = &r.record_id {
        comma(out, &mut first);
        out.extend_from_slice(b"\"id\":");
        write_str(out, id)?;
    }
    out.push(b'}');
    Ok(())
}

/// A confidence as serde_json writes it. Findings' confidences are
/// hundredths (see `mapper::round2`): their text is taken from a table made
/// with serde_json once, instead of formatting a float four times a record.
fn write_confidence(out: &mut Vec<u8>, x: f64) -> serde_json::Result<()> {
    static HUNDREDTHS: LazyLock<Vec<String>> = LazyLock::new(|| {
        (0..=100u32)
            .map(|k| serde_json::to_string(&(f64::from(k) / 100.0)).unwrap_or_default())
            .collect()
    });
    let k = (x * 100.0).round();
    if (0.0..=100.0).contains(&k) && k / 100.0 == x {
        // In 0..=100 after the check.
        out.extend_from_slice(HUNDREDTHS[k as usize].as_bytes());
        return Ok(());
    }
    serde_json::to_writer(out, &x)
}

/// A timestamp as jiff's `Display` writes it (`2026-03-02T10:00:00.517Z`:
/// UTC, fractional seconds without trailing zeros, none when whole), for
/// years 0 to 9999 by hand, as most records without an `@timestamp` get one
/// and jiff's formatter costs several times this; other years through jiff.
fn write_timestamp(out: &mut Vec<u8>, t: Timestamp) -> serde_json::Result<()> {
    let (mut secs, mut nanos) = (t.as_second(), t.subsec_nanosecond());
    if nanos < 0 {
        secs -= 1;
        nanos += 1_000_000_000;
    }
    let (days, of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days since 1970-01-01 to the civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return write!(out, "{t}").map_err(serde_json::Error::io);
    }
    let two = |out: &mut Vec<u8>, n: i64| {
        out.extend_from_slice(&[b'0' + (n / 10) as u8, b'0' + (n % 10) as u8])
    };
    two(out, year / 100);
    two(out, year % 100);
    out.push(b'-');
    two(out, month);
    out.push(b'-');
    two(out, day);
    out.push(b'T');
    two(out, of_day / 3_600);
    out.push(b':');
    two(out, of_day / 60 % 60);
    out.push(b':');
    two(out, of_day % 60);
    if nanos > 0 {
        let mut digits = [0u8; 9];
        let mut n = nanos;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
        let len = 9 - digits.iter().rev().take_while(|&&d| d == b'0').count();
        out.push(b'.');
        out.extend_from_slice(&digits[..len]);
    }
    out.push(b'Z');
    Ok(())
}

/// A `,` before every entry but the first.
fn comma(out: &mut Vec<u8>, first: &mut bool) {
    if !std::mem::take(first) {
        out.push(b',');
    }
}

/// Writes `s` as a JSON string, exactly as serde_json does (the same
/// escapes, lowercase `\u00xx` for other control characters, nothing else
/// escaped). The runs between escapes are found eight bytes at a time and
/// copied whole: most strings (rationale lines, names, IDs) have none, and
/// Windows paths and command lines have a few; serde_json's escaper goes
/// byte by byte.
fn write_str(out: &mut Vec<u8>, s: &str) -> serde_json::Result<()> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    while let Some(at) = next_escape(&bytes[start..]) {
        let at = start + at;
        out.extend_from_slice(&bytes[start..at]);
        let b = bytes[at];
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0C => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xF)],
            ]),
        }
        start = at + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
    Ok(())
}

/// Writes a value of the record as serde_json would: strings through
/// [`write_str`], numbers as serde_json prints them.
fn write_node(out: &mut Vec<u8>, v: &Node<'_>) -> serde_json::Result<()> {
    match v {
        Node::Null => out.extend_from_slice(b"null"),
        Node::Bool(true) => out.extend_from_slice(b"true"),
        Node::Bool(false) => out.extend_from_slice(b"false"),
        Node::Number(n) => serde_json::to_writer(&mut *out, n)?,
        Node::String(s) => write_str(out, s)?,
        Node::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_node(out, item)?;
            }
            out.push(b']');
        }
        Node::Object(map) => {
            out.push(b'{');
            let mut first = true;
            for (k, item) in map {
                comma(out, &mut first);
                write_str(out, k)?;
                out.push(b':');
                write_node(out, item)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_strs<'s>(
    out: &mut Vec<u8>,
    items: impl Iterator<Item = &'s str>,
) -> serde_json::Result<()> {
    out.push(b'[');
    for (i, s) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, s)?;
    }
    out.push(b']');
    Ok(())
}

/// The position of the first byte of a JSON string that needs an escape (a
/// quote, a backslash or a control character). Eight bytes at a time, with
/// the classic "has a byte below n / equal to c" word tricks: they never
/// miss a byte, and the lowest byte they flag is always a real one (a false
/// flag only appears above a real one, from the borrow), so the first flag
/// is the answer.
fn next_escape(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGH;
    let equal = |v: u64, c: u8| below(v ^ (ONES * u64::from(c)), 1);
    let flags = |w: [u8; 8]| {
        let v = u64::from_le_bytes(w);
        below(v, 0x20) | equal(v, b'"') | equal(v, b'\\')
    };
    let mut words = bytes.chunks_exact(8);
    let mut base = 0;
    for word in &mut words {
        let mut w = [0; 8];
        w.copy_from_slice(word);
        let flagged = flags(w);
        if flagged != 0 {
            return Some(base + (flagged.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b < 0x20 || b == b'"' || b == b'\\')
        .map(|p| base + p)
}

/// What the planner knows of the record's top level for each head of
/// [`head_index`], from one pass over its keys: most records have each head
/// at most as one plain key (`"threat": {..}`), and then no path under it
/// needs the top level searched again.
struct Root<'a> {
    map: &'a Object<'a>,
    /// Heads with a top-level key, plain or dotted.
    present: u32,
    /// Heads with a dotted top-level key (`"threat.technique.id"`).
    dotted: u32,
    /// [head] -> its plain top-level key and value.
    plain: [Option<(&'a str, &'a Node<'a>)>; HEADS],
}

impl<'a> Root<'a> {
    fn new(map: &'a Object<'a>) -> Self {
        let mut root = Root {
            map,
            present: 0,
            dotted: 0,
            plain: [None; HEADS],
        };
        for (key, value) in map {
            let (head, dotted) = match key.split_once('.') {
                Some((h, _)) => (h, true),
                None => (key, false),
            };
            let Some(i) = head_index(head) else { continue };
            root.present |= 1 << i;
            if dotted {
                root.dotted |= 1 << i;
            } else {
                root.plain[i] = Some((key, value));
            }
        }
        root
    }

    /// Whether keys with this head may be at the top level (unknown heads: yes).
    fn has(&self, head: Option<usize>) -> bool {
        head.is_none_or(|i| self.present & (1 << i) != 0)
    }

    /// Whether a dotted top-level key may start with this head.
    fn has_dotted(&self, head: Option<usize>) -> bool {
        head.is_none_or(|i| self.dotted & (1 << i) != 0)
    }

    /// The top-level key-value pair for the head segment `seg`.
    fn find(&self, head: Option<usize>, seg: &str) -> Option<(&'a str, &'a Node<'a>)> {
        match head {
            Some(i) => self.plain[i],
            None => find(self.map, seg),
        }
    }

    /// [`has_path`] at the top level.
    fn has_path(&self, segs: &[&str]) -> bool {
        let Some((&first, rest)) = segs.split_first() else {
            return false;
        };
        let head = head_index(first);
        if !self.has(head) {
            return false;
        }
        if self.has_dotted(head) {
            return has_path(self.map, segs);
        }
        match (self.find(head, first), rest) {
            (Some((_, v)), []) => !v.is_null(),
            (Some((_, Node::Object(m))), _) => has_path(m, rest),
            _ => false,
        }
    }

    /// [`can_nest`] at the top level.
    fn can_nest(&self, segs: &[&str]) -> bool {
        let [first, rest @ ..] = segs else {
            return true;
        };
        if rest.is_empty() {
            return true;
        }
        match self.find(head_index(first), first) {
            None => true,
            Some((_, Node::Object(m))) => can_nest(m, rest),
            Some(_) => false,
        }
    }
}

/// Decides where each field goes; see the module docs for the rules.
///
/// Every path is planned against the record as read. That gives the same
/// result as writing the fields one after the other because no path written
/// is a prefix of another: an earlier field never changes what a later one
/// finds, except for the new objects it creates, which the planner reuses.
struct Planner<'a> {
    root: Root<'a>,
    /// [head] -> the top-level object edit planned for it (`NONE` before the
    /// first path under it): later paths go straight to it.
    head_objects: [usize; HEADS],
    edits: Vec<Edit<'a>>,
    flat_paths: Vec<Path<'a>>,
}

impl<'a> Planner<'a> {
    fn new(root: &'a Object<'a>) -> Self {
        let mut edits = Vec::with_capacity(24);
        edits.push(Edit {
            key: Key::New(""),
            what: What::Merge,
            first_child: NONE,
            last_child: NONE,
            next_sibling: NONE,
        });
        Planner {
            root: Root::new(root),
            head_objects: [NONE; HEADS],
            edits,
            flat_paths: Vec::new(),
        }
    }

    fn threat(&mut self, f: &'a Finding) {
        // A record without `threat` keys gets the whole object at once
        // (rendered once per shared technique and tactic lists); otherwise
        // each field is merged into what the record has.
        if !self.root.has(head_index("threat")) {
            self.set(&["threat"], Leaf::Threat);
            return;
        }
        self.threat_fields(f);
    }

    fn threat_fields(&mut self, f: &'a Finding) {
        self.set(&["threat", "framework"], Leaf::Str(FRAMEWORK));
        if !f.tactics.is_empty() {
            self.set(&["threat", "tactic", "id"], Leaf::TacticIds);
            self.set(&["threat", "tactic", "name"], Leaf::TacticNames);
        }
        let mut techniques = ecs_techniques(&f.techniques).peekable();
        if techniques.peek().is_some() {
            self.set(&["threat", "technique", "id"], Leaf::TechniqueIds);
            // A parent's name is unknown only if the kb lacks the parent; it
            // is left out rather than written as "".
            if techniques.any(|(_, name)| !name.is_empty()) {
                self.set(&["threat", "technique", "name"], Leaf::TechniqueNames);
            }
        }
        if f.techniques.iter().any(is_subtechnique) {
            let sub = ["threat", "technique", "subtechnique"];
            self.set(&[sub[0], sub[1], sub[2], "id"], Leaf::SubtechniqueIds);
            self.set(&[sub[0], sub[1], sub[2], "name"], Leaf::SubtechniqueNames);
        }
    }

    fn kill_chain(&mut self, f: &'a Finding) {
        // A record without `kill_chain` keys gets the whole object at once
        // (rendered once per shared placements map); otherwise each model's
        // placement is merged into what the record has.
        if !f.phases.is_empty() && !self.root.has(head_index("kill_chain")) {
            self.set(&["kill_chain"], Leaf::KillChain);
            return;
        }
        self.kill_chain_fields(f);
    }

    fn kill_chain_fields(&mut self, f: &'a Finding) {
        for (model, p) in f.phases.iter() {
            self.set(&["kill_chain", model], Leaf::Placement(p));
        }
    }

    fn entities(&mut self, f: &'a Finding) {
        if let Some(t) = f.time {
            self.set_if_absent(&["@timestamp"], Leaf::Time(t));
        }
        let e = &f.entities;
        let lists = [
            (["host", "name"], &e.hosts),
            (["user", "name"], &e.users),
            (["source", "ip"], &e.source_ips),
            (["destination", "ip"], &e.destination_ips),
        ];
        for (path, values) in lists {
            if let Some(v) = values.first() {
                self.set_if_absent(&path, Leaf::Str(v));
            }
        }
        if let Some(p) = &e.process {
            if let Some(pid) = p.pid {
                self.set_if_absent(&["process", "pid"], Leaf::U64(pid));
            }
            let strings = [
                (["process", "entity_id"], &p.entity_id),
                (["process", "executable"], &p.executable),
                (["process", "command_line"], &p.command_line),
            ];
            for (path, value) in strings {
                if let Some(v) = value {
                    self.set_if_absent(&path, Leaf::Str(v));
                }
            }
            if let Some(x) = &p.parent_executable {
                self.set_if_absent(&["process", "parent", "executable"], Leaf::Str(x));
            }
            if let Some(pid) = p.parent_pid {
                self.set_if_absent(&["process", "parent", "pid"], Leaf::U64(pid));
            }
        }
        if let Some(rule) = &f.source.rule {
            if let Some(id) = &rule.id {
                self.set_if_absent(&["rule", "id"], Leaf::Str(id));
            }
            if let Some(name) = &rule.name {
                self.set_if_absent(&["rule", "name"], Leaf::Str(name));
            }
            // Not an ECS field: the rule's own severity (Sigma `level`).
            if let Some(level) = &rule.level {
                self.set_if_absent(&["rule", "level"], Leaf::Str(level));
            }
        }
    }

    fn meta(&mut self, f: &'a Finding) {
        if let Some(file) = &f.record.file {
            self.set_if_absent(&["log", "file", "path"], Leaf::Str(file));
        }
        self.set(&["killchain"], Leaf::Meta);
    }

    fn set_if_absent(&mut self, segs: &[&'a str], leaf: Leaf<'a>) {
        if !self.root.has_path(segs) {
            self.set(segs, leaf);
        }
    }

    /// Plans writing `leaf` at the path `segs`.
    fn set(&mut self, segs: &[&'a str], leaf: Leaf<'a>) {
        let Some(&first) = segs.first() else { return };
        let head = head_index(first);
        // False: nothing in the record is on this path.
        let in_record = self.root.has(head);
        // A flat dotted key holding the whole path: replaced in place.
        if in_record && segs.len() > 1 && self.root.has_dotted(head) {
            if let Some((key, _)) = find_joined(self.root.map, segs) {
                self.push(ROOT, Key::Existing(key), What::Leaf(leaf));
                return;
            }
        }
        if in_record && !self.root.can_nest(segs) {
            self.flat_paths.push(Path::new(segs));
            self.push(ROOT, Key::Flat(self.flat_paths.len() - 1), What::Leaf(leaf));
            return;
        }
        let mut parent = ROOT;
        // The record's object at this level; None inside a new object.
        let mut level: Option<&'a Object<'a>> = None;
        for (i, &seg) in segs.iter().enumerate() {
            let found = if i == 0 {
                in_record.then(|| self.root.find(head, seg)).flatten()
            } else {
                level.and_then(|m| find(m, seg))
            };
            if i + 1 == segs.len() {
                let key = found.map_or(Key::New(seg), |(k, _)| Key::Existing(k));
                self.push(parent, key, What::Leaf(leaf));
                return;
            }
            let key = found.map_or(Key::New(seg), |(k, _)| Key::Existing(k));
            parent = match head.filter(|_| i == 0) {
                // The head's key is the same for every path under it.
                Some(h) => match self.head_objects[h] {
                    NONE => {
                        let at = self.object(parent, key);
                        self.head_objects[h] = at;
                        at
                    }
                    at => at,
                },
                None => self.object(parent, key),
            };
            // can_nest saw to it that an existing value here is an object.
            level = found.and_then(|(_, value)| value.as_object());
        }
    }

    /// The object edit for `key` under `parent` (a merge for an existing
    /// key, a new object otherwise), added unless an earlier path made it.
    fn object(&mut self, parent: usize, key: Key<'a>) -> usize {
        let mut next = self.edits[parent].first_child;
        while let Some(e) = self.edits.get(next) {
            let same = match (e.key, key) {
                (Key::Existing(a), Key::Existing(b)) => ptr::eq(a, b),
                // Mostly the same literal: compare the pointers first.
                (Key::New(a), Key::New(b)) => ptr::eq(a, b) || a == b,
                _ => false,
            };
            if same {
                return next;
            }
            next = e.next_sibling;
        }
        let what = match key {
            Key::Existing(_) => What::Merge,
            _ => What::Object,
        };
        self.push(parent, key, what)
    }

    fn push(&mut self, parent: usize, key: Key<'a>, what: What<'a>) -> usize {
        let i = self.edits.len();
        self.edits.push(Edit {
            key,
            what,
            first_child: NONE,
            last_child: NONE,
            next_sibling: NONE,
        });
        let last = std::mem::replace(&mut self.edits[parent].last_child, i);
        match self.edits.get_mut(last) {
            Some(prev) => prev.next_sibling = i,
            None => self.edits[parent].first_child = i,
        }
        i
    }
}

/// The key-value pair for `key` in `map`.
fn find<'m>(map: &'m Object<'m>, key: &str) -> Option<(&'m str, &'m Node<'m>)> {
    map.get_key_value(key)
}

/// The key-value pair whose key is `segs` joined with dots.
fn find_joined<'m>(map: &'m Object<'m>, segs: &[&str]) -> Option<(&'m str, &'m Node<'m>)> {
    match segs {
        [one] => find(map, one),
        _ => map.iter().find(|(k, _)| is_joined(k, segs)),
    }
}

/// Whether `key` is `segs` joined with dots.
fn is_joined(key: &str, segs: &[&str]) -> bool {
    let len = segs.iter().map(|s| s.len()).sum::<usize>() + segs.len().saturating_sub(1);
    if key.len() != len {
        return false;
    }
    let mut rest = key;
    for (i, seg) in segs.iter().enumerate() {
        if i > 0 {
            let Some(r) = rest.strip_prefix('.') else {
                return false;
            };
            rest = r;
        }
        let Some(r) = rest.strip_prefix(seg) else {
            return false;
        };
        rest = r;
    }
    rest.is_empty()
}

/// Does `map` already hold a non-null value at `segs`, nested, as a flat
/// dotted key, or a mix (`{"host": {"name": ..}}`, `{"host.name": ..}`)?
fn has_path(map: &Object<'_>, segs: &[&str]) -> bool {
    if find_joined(map, segs).is_some_and(|(_, v)| !v.is_null()) {
        return true;
    }
    // Try every split point: a.b.c -> (a, b.c), (a.b, c).
    (1..segs.len()).any(|i| match find_joined(map, &segs[..i]) {
        Some((_, Node::Object(m))) => has_path(m, &segs[i..]),
        _ => false,
    })
}

/// Whether every intermediate of `segs` in `map` is an object or absent.
fn can_nest(map: &Object<'_>, segs: &[&str]) -> bool {
    let mut cur = map;
    for seg in &segs[..segs.len().saturating_sub(1)] {
        match find(cur, seg) {
            None => return true,
            Some((_, Node::Object(m))) => cur = m,
            Some(_) => return false,
        }
    }
    true
}

fn is_subtechnique(t: &TechniqueHit) -> bool {
    t.id.contains('.')
}

/// A technique's own ID, or a sub-technique's parent's (`T1059` for `T1059.001`).
fn parent_id(t: &TechniqueHit) -> &str {
    t.id.split_once('.').map_or(&t.id, |(p, _)| p)
}

/// ECS `threat.technique.{id,name}`: techniques, with every sub-technique's
/// parent listed in its place (ECS lists parents as techniques), each once,
/// in order of first mention. The name is the technique's own when the
/// record names the parent itself, else the parent name the kb gave the
/// sub-technique ("" when the kb lacks the parent).
fn ecs_techniques(all: &[TechniqueHit]) -> impl Iterator<Item = (&str, &str)> {
    all.iter().enumerate().filter_map(move |(i, t)| {
        let id = parent_id(t);
        if all[..i].iter().any(|u| parent_id(u) == id) {
            return None;
        }
        let name = all
            .iter()
            .find(|u| *u.id == *id)
            .map(|u| &*u.name)
            .or(t.parent_name.as_deref())
            .unwrap_or("");
        Some((id, name))
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::finding::{Entities, Process, RuleRef, Source, TacticHit};
    use serde_json::json;

    /// The enrichment as it was written before `Enrichment` (Values built and
    /// inserted one field at a time), kept as the oracle the writer is
    /// checked against. Only the types changed (shared strings, f64
    /// confidences).
    mod reference {
        use serde_json::{Map, Value};

        use super::super::{ecs_techniques, is_subtechnique, FRAMEWORK};
        use crate::finding::Finding;

        pub fn enrich(record: &mut Value, finding: &Finding) -> bool {
            let Value::Object(obj) = record else {
                return false;
            };
            if !finding.is_unmapped() {
                write_threat(obj, finding);
                write_kill_chain(obj, finding);
            }
            write_entities(obj, finding);
            write_meta(obj, finding);
            true
        }

        fn strings<'a>(items: impl Iterator<Item = &'a str>) -> Value {
            Value::Array(items.map(|s| Value::String(s.to_string())).collect())
        }

        fn write_threat(obj: &mut Map<String, Value>, f: &Finding) {
            set_path(obj, "threat.framework", Value::String(FRAMEWORK.into()));
            if !f.tactics.is_empty() {
                set_path(
                    obj,
                    "threat.tactic.id",
                    strings(f.tactics.iter().map(|t| &*t.id)),
                );
                set_path(
                    obj,
                    "threat.tactic.name",
                    strings(f.tactics.iter().map(|t| &*t.name)),
                );
            }
            // The original loop, to check `ecs_techniques` too.
            let mut tech_ids: Vec<&str> = Vec::new();
            let mut tech_names: Vec<&str> = Vec::new();
            let mut sub_ids: Vec<&str> = Vec::new();
            let mut sub_names: Vec<&str> = Vec::new();
            for t in f.techniques.iter() {
                match t.id.split_once('.') {
                    Some((parent, _)) => {
                        sub_ids.push(&t.id);
                        sub_names.push(&t.name);
                        if !tech_ids.contains(&parent) {
                            tech_ids.push(parent);
                            tech_names.push(t.parent_name.as_deref().unwrap_or(""));
                        }
                    }
                    None => {
                        if let Some(i) = tech_ids.iter().position(|x| *x == &*t.id) {
                            tech_names[i] = &t.name;
                        } else {
                            tech_ids.push(&t.id);
                            tech_names.push(&t.name);
                        }
                    }
                }
            }
            let lazy: Vec<(&str, &str)> = ecs_techniques(&f.techniques).collect();
            let eager: Vec<(&str, &str)> = tech_ids
                .iter()
                .copied()
                .zip(tech_names.iter().copied())
                .collect();
            assert_eq!(lazy, eager);
            assert_eq!(
                sub_ids.len(),
                f.techniques.iter().filter(|t| is_subtechnique(t)).count()
            );
            if !tech_ids.is_empty() {
                set_path(
                    obj,
                    "threat.technique.id",
                    strings(tech_ids.iter().copied()),
                );
                let names: Vec<&str> = tech_names.into_iter().filter(|n| !n.is_empty()).collect();
                if !names.is_empty() {
                    set_path(obj, "threat.technique.name", strings(names.into_iter()));
                }
            }
            if !sub_ids.is_empty() {
                set_path(
                    obj,
                    "threat.technique.subtechnique.id",
                    strings(sub_ids.into_iter()),
                );
                set_path(
                    obj,
                    "threat.technique.subtechnique.name",
                    strings(sub_names.into_iter()),
                );
            }
        }

        fn write_kill_chain(obj: &mut Map<String, Value>, f: &Finding) {
            for (model, p) in f.phases.iter() {
                let mut m = Map::new();
                m.insert("phase".into(), Value::String(p.phase.to_string()));
                m.insert("phases".into(), strings(p.phases.iter().map(|s| &**s)));
                m.insert("phase_index".into(), Value::from(p.phase_index));
                m.insert(
                    "rationale".into(),
                    strings(p.rationale.iter().map(|s| &**s)),
                );
                m.insert("confidence".into(), Value::from(p.confidence));
                set_path(obj, &format!("kill_chain.{model}"), Value::Object(m));
            }
        }

        fn write_entities(obj: &mut Map<String, Value>, f: &Finding) {
            if let Some(t) = f.time {
                set_if_absent(obj, "@timestamp", Value::String(t.to_string()));
            }
            let e = &f.entities;
            let first = |v: &Vec<String>| v.first().map(|s| Value::String(s.clone()));
            if let Some(v) = first(&e.hosts) {
                set_if_absent(obj, "host.name", v);
            }
            if let Some(v) = first(&e.users) {
                set_if_absent(obj, "user.name", v);
            }
            if let Some(v) = first(&e.source_ips) {
                set_if_absent(obj, "source.ip", v);
            }
            if let Some(v) = first(&e.destination_ips) {
                set_if_absent(obj, "destination.ip", v);
            }
            if let Some(p) = &e.process {
                if let Some(pid) = p.pid {
                    set_if_absent(obj, "process.pid", Value::from(pid));
                }
                if let Some(x) = &p.entity_id {
                    set_if_absent(obj, "process.entity_id", Value::String(x.clone()));
                }
                if let Some(x) = &p.executable {
                    set_if_absent(obj, "process.executable", Value::String(x.clone()));
                }
                if let Some(x) = &p.command_line {
                    set_if_absent(obj, "process.command_line", Value::String(x.clone()));
                }
                if let Some(x) = &p.parent_executable {
                    set_if_absent(obj, "process.parent.executable", Value::String(x.clone()));
                }
                if let Some(pid) = p.parent_pid {
                    set_if_absent(obj, "process.parent.pid", Value::from(pid));
                }
            }
            if let Some(rule) = &f.source.rule {
                if let Some(id) = &rule.id {
                    set_if_absent(obj, "rule.id", Value::String(id.clone()));
                }
                if let Some(name) = &rule.name {
                    set_if_absent(obj, "rule.name", Value::String(name.clone()));
                }
                if let Some(level) = &rule.level {
                    set_if_absent(obj, "rule.level", Value::String(level.clone()));
                }
            }
        }

        fn write_meta(obj: &mut Map<String, Value>, f: &Finding) {
            if let Some(file) = &f.record.file {
                set_if_absent(obj, "log.file.path", Value::String(file.clone()));
            }
            let mut m = Map::new();
            m.insert("mapped".into(), Value::Bool(!f.is_unmapped()));
            if !f.is_unmapped() {
                m.insert("confidence".into(), Value::from(f.confidence));
            }
            if !f.evidence.is_empty() {
                m.insert(
                    "evidence".into(),
                    serde_json::to_value(&f.evidence).unwrap(),
                );
            }
            if !f.attributions.is_empty() {
                m.insert(
                    "attributions".into(),
                    strings(f.attributions.iter().map(String::as_str)),
                );
            }
            let mut rec = Map::new();
            if let Some(file) = &f.record.file {
                rec.insert("file".into(), Value::String(file.clone()));
            }
            if let Some(line) = f.record.line {
                rec.insert("line".into(), Value::from(line));
            }
            if let Some(i) = f.record.index {
                rec.insert("index".into(), Value::from(i));
            }
            if let Some(id) = &f.record.record_id {
                rec.insert("id".into(), Value::String(id.clone()));
            }
            if !rec.is_empty() {
                m.insert("record".into(), Value::Object(rec));
            }
            set_path(obj, "killchain", Value::Object(m));
        }

        fn has_path(obj: &Map<String, Value>, path: &str) -> bool {
            if obj.get(path).is_some_and(|v| !v.is_null()) {
                return true;
            }
            path.match_indices('.')
                .any(|(i, _)| match obj.get(&path[..i]) {
                    Some(Value::Object(m)) => has_path(m, &path[i + 1..]),
                    _ => false,
                })
        }

        fn set_if_absent(obj: &mut Map<String, Value>, path: &str, value: Value) {
            if !has_path(obj, path) {
                set_path(obj, path, value);
            }
        }

        pub fn set_path(obj: &mut Map<String, Value>, path: &str, value: Value) {
            if let Some(slot) = obj.get_mut(path) {
                *slot = value;
                return;
            }
            if can_nest(obj, path) {
                let mut cur = obj;
                let mut parts = path.split('.').peekable();
                while let Some(part) = parts.next() {
                    if parts.peek().is_none() {
                        cur.insert(part.to_string(), value);
                        return;
                    }
                    let next = cur
                        .entry(part.to_string())
                        .or_insert_with(|| Value::Object(Map::new()));
                    match next {
                        Value::Object(m) => cur = m,
                        _ => return,
                    }
                }
            } else {
                obj.insert(path.to_string(), value);
            }
        }

        fn can_nest(obj: &Map<String, Value>, path: &str) -> bool {
            let mut cur = obj;
            let parts: Vec<&str> = path.split('.').collect();
            for part in &parts[..parts.len().saturating_sub(1)] {
                match cur.get(*part) {
                    None => return true,
                    Some(Value::Object(m)) => cur = m,
                    Some(_) => return false,
                }
            }
            true
        }
    }

    /// What the writer writes, checked to be the same with the shared
    /// cache of rendered objects and with a cache of the caller's (twice,
    /// so the second write comes from the cache).
    fn written(record: &Value, f: &Finding, detail: Detail) -> String {
        let node = Node::from_value(record);
        let e = Enrichment::new(&node, f, detail);
        let mut out = Vec::new();
        e.write_json(&mut out).unwrap();
        let mut own = RenderCache::new();
        for _ in 0..2 {
            let mut again = Vec::new();
            e.write_json_cached(&mut again, &mut own).unwrap();
            assert_eq!(again, out);
        }
        String::from_utf8(out).unwrap()
    }

    /// Plans and writes only `leaf` at `segs` (no finding fields).
    fn set_one(record: &Value, segs: &[&str], leaf: Leaf<'_>) -> Value {
        let f = Finding::default();
        let record = Node::from_value(record);
        let mut planner = Planner::new(record.as_object().unwrap());
        planner.set(segs, leaf);
        let e = Enrichment {
            record: &record,
            finding: &f,
            detail: Detail::Full,
            edits: planner.edits,
            flat_paths: planner.flat_paths,
        };
        let mut out = Vec::new();
        e.write_json(&mut out).unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn timestamps_are_written_as_jiff_displays_them() {
        let mut rng = killchain_testdata::Rng(0x9E37_79B9_7F4A_7C15);
        let (min, max) = (Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
        let mut cases: Vec<(i64, i32)> = vec![
            (0, 0),
            (1, 500_000_000),
            (1_772_445_600, 517_000_000),
            (1_772_445_600, 1_000),
            (1_772_445_600, 123_456_789),
            (-1, -500_000_000),
            (-62_135_596_800, 0),
            (-62_135_596_801, 0),
            (-62_167_219_200, 0),
            (-62_167_219_201, 999_999_999),
            (253_402_207_200, 0),
            (min, 0),
            (max, 0),
            (951_782_400, 0),
            (4_107_542_400, 0),
        ];
        for _ in 0..20_000 {
            let span = (max - min) as u64;
            let s = min + (rng.below(span) as i64);
            let n = rng.below(1_000_000_000) as i32;
            let n = if s < 0 && rng.below(2) == 0 { -n } else { n };
            cases.push((s, if rng.below(4) == 0 { 0 } else { n }));
        }
        for (s, n) in cases {
            let Ok(t) = Timestamp::new(s, n) else {
                continue;
            };
            let mut out = Vec::new();
            write_timestamp(&mut out, t).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), t.to_string(), "{s} {n}");
        }
    }

    #[test]
    fn confidences_are_written_as_serde_json_writes_them() {
        let mut values: Vec<f64> = (0..=100).map(|k| f64::from(k) / 100.0).collect();
        values.extend([0.725, 1.5, -0.25, 1e-7, 0.1 + 0.2, f64::from(0.72f32)]);
        for x in values {
            let mut out = Vec::new();
            write_confidence(&mut out, x).unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&x).unwrap()
            );
        }
    }

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_does() {
        let mut cases: Vec<String> = (0u8..128)
            .map(|b| {
                let c = char::from(b);
                format!("{c}ab{c}cdefghijklmno{c}")
            })
            .collect();
        cases.extend(
            [
                "",
                "plain",
                "C:\\Windows\\System32\\cmd.exe /c \"echo hi\"",
                "é ü 😀 \u{7f} \u{2028}",
                "\u{1}\u{2}\u{3}\u{4}\u{5}\u{6}\u{7}\u{8}\u{9}\n\u{b}\u{c}\r\u{e}\u{f}\u{1f}",
            ]
            .map(String::from),
        );
        cases.push("x\\".repeat(100));
        for s in &cases {
            let mut out = Vec::new();
            write_str(&mut out, s).unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(s).unwrap(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn set_path_nests_merges_and_never_clobbers() {
        let mut v = json!({"threat": {"indicator": {"ip": "1.2.3.4"}}, "host": "srv1"});
        let obj = v.as_object_mut().unwrap();
        reference::set_path(obj, "threat.tactic.id", json!(["TA0002"]));
        reference::set_path(obj, "host.name", json!("srv1"));
        assert_eq!(obj["threat"]["indicator"]["ip"], "1.2.3.4");
        assert_eq!(obj["threat"]["tactic"]["id"], json!(["TA0002"]));
        // `host` is a string: it stays, the new field goes to a flat key.
        assert_eq!(obj["host"], "srv1");
        assert_eq!(obj["host.name"], "srv1");
    }

    #[test]
    fn set_path_replaces_flat_dotted_key() {
        let mut v = json!({"threat.technique.id": "T1059.001"});
        let obj = v.as_object_mut().unwrap();
        reference::set_path(obj, "threat.technique.id", json!(["T1059"]));
        assert_eq!(obj.len(), 1);
        assert_eq!(obj["threat.technique.id"], json!(["T1059"]));
    }

    #[test]
    fn planner_nests_merges_and_never_clobbers() {
        let v = json!({"threat": {"indicator": {"ip": "1.2.3.4"}}, "host": "srv1"});
        let out = set_one(&v, &["threat", "tactic", "id"], Leaf::Str("TA0002"));
        assert_eq!(out["threat"]["indicator"]["ip"], "1.2.3.4");
        assert_eq!(out["threat"]["tactic"]["id"], "TA0002");
        let out = set_one(&v, &["host", "name"], Leaf::Str("srv1"));
        assert_eq!(out["host"], "srv1");
        assert_eq!(out["host.name"], "srv1");
    }

    #[test]
    fn planner_replaces_flat_dotted_key_in_place() {
        let v = json!({"a": 1, "threat.technique.id": "T1059.001", "z": 2});
        let out = set_one(&v, &["threat", "technique", "id"], Leaf::Str("T1059"));
        assert_eq!(
            out.to_string(),
            r#"{"a":1,"threat.technique.id":"T1059","z":2}"#
        );
    }

    #[test]
    fn strings_are_escaped_as_serde_json_does() {
        let mut cases: Vec<String> = ["", "plain", " ~\u{7f}é ü 日本", "ÿÿÿÿÿÿÿÿÿ"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        // Every kind of character needing an escape, at every position of a
        // string longer than a word, among ASCII and multi-byte neighbours.
        for special in ['"', '\\', '\n', '\u{0}', '\u{1f}'] {
            for filler in ['a', 'é', ' ', '~'] {
                for at in 0..20 {
                    let mut s: String = std::iter::repeat_n(filler, 19).collect();
                    let i = s.char_indices().nth(at).map_or(s.len(), |(i, _)| i);
                    s.insert(i, special);
                    cases.push(s);
                }
            }
        }
        for s in &cases {
            let mut out = Vec::new();
            write_str(&mut out, s).unwrap();
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
    }

    fn arc(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    fn technique(id: &str, name: &str, parent: Option<&str>) -> TechniqueHit {
        TechniqueHit {
            id: arc(id),
            name: arc(name),
            parent_name: parent.map(arc),
            redirected_from: None,
        }
    }

    fn placement(phase: &str, phases: &[&str], why: &[&str], confidence: f64) -> Placement {
        Placement {
            phase: arc(phase),
            phase_index: phases.iter().position(|p| *p == phase).unwrap_or(0),
            phases: phases.iter().map(|p| arc(p)).collect(),
            rationale: why.iter().map(|w| arc(w)).collect(),
            confidence,
        }
    }

    /// Findings of every shape the writer distinguishes.
    fn findings() -> Vec<Finding> {
        let full = Finding {
            time: Some("2026-03-02T09:04:31.512Z".parse().unwrap()),
            source: Source {
                rule: Some(RuleRef {
                    id: Some("r-1".into()),
                    name: Some("Rule \"quoted\"".into()),
                    level: None,
                }),
                ..Source::default()
            },
            entities: Entities {
                hosts: vec!["WS-1".into(), "WS-2".into()],
                users: vec!["CORP\\alice".into()],
                source_ips: vec!["10.0.0.1".into()],
                destination_ips: vec!["10.0.0.2".into()],
                process: Some(Process {
                    pid: Some(42),
                    entity_id: Some("{guid}".into()),
                    executable: Some("C:\\x.exe".into()),
                    command_line: Some("x.exe -a \"b\"".into()),
                    parent_executable: Some("p.exe".into()),
                    parent_pid: Some(7),
                }),
                ..Entities::default()
            },
            techniques: vec![
                technique(
                    "T1059.001",
                    "PowerShell",
                    Some("Command and Scripting Interpreter"),
                ),
                technique("T1003.001", "LSASS Memory", Some("OS Credential Dumping")),
                technique("T1059", "Command and Scripting Interpreter", None),
            ]
            .into(),
            tactics: vec![TacticHit {
                id: arc("TA0002"),
                name: arc("Execution"),
                shortname: arc("execution"),
            }]
            .into(),
            attributions: vec!["G0016".into()],
            phases: [
                (
                    "attack",
                    placement("execution", &["execution"], &["T1059.001 via TA0002"], 0.9),
                ),
                (
                    "lm",
                    placement(
                        "exploitation",
                        &["exploitation", "installation"],
                        &["line \"one\"", "line\ttwo"],
                        0.72,
                    ),
                ),
            ]
            .into_iter()
            .map(|(m, p)| (arc(m), p))
            .collect::<crate::finding::Phases>()
            .into(),
            confidence: 0.9,
            evidence: vec![Evidence {
                field: "tags".into(),
                value: "attack.t1059.001".into(),
                dialect: "sigma-tags".into(),
            }],
            record: RecordRef {
                file: Some("/var/log/a.json".into()),
                line: Some(3),
                index: Some(2),
                record_id: Some("rid".into()),
            },
        };
        let subs_only = Finding {
            techniques: vec![
                technique("T1566.001", "Spearphishing Attachment", Some("Phishing")),
                technique("T1566.002", "Spearphishing Link", Some("Phishing")),
                // The kb lacks this parent: no name for it.
                technique("T9999.001", "Orphan", None),
            ]
            .into(),
            phases: [(
                arc("ukc"),
                placement("delivery", &["delivery"], &["why"], 0.85),
            )]
            .into_iter()
            .collect::<crate::finding::Phases>()
            .into(),
            confidence: 0.85,
            record: RecordRef {
                line: Some(1),
                ..RecordRef::default()
            },
            ..Finding::default()
        };
        let tactic_only = Finding {
            tactics: full.tactics.clone(),
            confidence: 0.8,
            ..Finding::default()
        };
        let unmapped_with_entities = Finding {
            time: full.time,
            entities: full.entities.clone(),
            source: full.source.clone(),
            record: full.record.clone(),
            ..Finding::default()
        };
        vec![
            full,
            subs_only,
            tactic_only,
            unmapped_with_entities,
            Finding::default(),
        ]
    }

    /// Records of every shape the placement rules distinguish: fields
    /// absent, nested, flat, mixed, null, non-objects in the way, existing
    /// output fields, large objects (hashed look-ups), non-objects.
    fn records() -> Vec<Value> {
        let mut big = serde_json::Map::new();
        for i in 0..20 {
            big.insert(format!("k{i}"), json!(i));
        }
        let big = Value::Object(big);
        let with = |extra: Value| {
            let mut m = big.as_object().unwrap().clone();
            m.extend(extra.as_object().unwrap().clone());
            Value::Object(m)
        };
        vec![
            json!({}),
            json!({"message": "hello", "n": 1.5, "arr": [1, {"a": null}]}),
            json!({"threat": "high"}),
            json!({"threat": null}),
            json!({"threat": {"framework": "old", "tactic": {"id": "TA0001", "x": 1}}}),
            json!({"threat": {"technique": "T1059"}, "z": 1}),
            json!({"threat": {"technique": {"subtechnique": 5, "id": "T1"}}}),
            json!({"threat": {"technique": {"subtechnique": {"id": "x", "keep": true}}}}),
            json!({"threat.tactic.id": "TA0001", "threat.technique.id": ["T1"], "x": 1}),
            json!({"threat.technique": {"id": "T1"}, "threat": {"tactic.id": "TA0001"}}),
            json!({"kill_chain": "x"}),
            json!({"kill_chain": {"lm": 1, "keep": true}}),
            json!({"kill_chain.lm": {}, "kill_chain.attack": null}),
            json!({"killchain": 1, "a": 2}),
            json!({"killchain": {"mapped": "old"}}),
            json!({"@timestamp": null}),
            json!({"@timestamp": "2020-01-01T00:00:00Z"}),
            json!({"host": "srv"}),
            json!({"host": {"name": null}}),
            json!({"host": {"name": "h", "ip": "1.1.1.1"}}),
            json!({"host.name": "flat"}),
            json!({"host.name": null, "host": {"ip": 1}}),
            json!({"user": ["alice"], "source": {"ip": []}, "destination": {"port": 443}}),
            json!({"process": {"parent.pid": 7}}),
            json!({"process": {"parent": "x"}}),
            json!({"process": 5}),
            json!({"process.parent": {"pid": 1}}),
            json!({"process": {"pid": null, "parent": {"executable": "e"}}}),
            json!({"rule": {"id": "r"}, "rule.name": "n"}),
            json!({"rule": {"name": "n", "level": 3}}),
            json!({"log": {"file": "x"}}),
            json!({"log": {"level": "info"}}),
            json!({"log.file.path": "p"}),
            json!({"logs": 1, "hostname": "h", "threatening": true, "host_x": {}}),
            with(json!({"threat.tactic.id": "TA0002", "host.name": "big", "user": {"name": "u"}})),
            with(json!({"threat": with(json!({"tactic.id": "TA0002", "technique": {"id": "T"}}))})),
            with(json!({"process": with(json!({"parent": with(json!({}))}))})),
            json!([1, 2]),
            json!("string"),
            json!(5),
            Value::Null,
        ]
    }

    #[test]
    fn writer_matches_the_value_building_semantics() {
        for f in &findings() {
            for record in records() {
                let mut expected = record.clone();
                reference::enrich(&mut expected, f);
                let expected = expected.to_string();
                // Byte for byte, so key order counts too.
                assert_eq!(
                    written(&record, f, Detail::Full),
                    expected,
                    "record {record}"
                );
                let mut value = record.clone();
                assert_eq!(enrich(&mut value, f), record.is_object());
                assert_eq!(value.to_string(), expected, "Value form, record {record}");
            }
        }
    }

    #[test]
    fn lean_leaves_out_rationale_and_evidence_only() {
        for f in &findings() {
            for record in records() {
                let mut full: Value =
                    serde_json::from_str(&written(&record, f, Detail::Full)).unwrap();
                let lean: Value = serde_json::from_str(&written(&record, f, Detail::Lean)).unwrap();
                if let Value::Object(m) = &mut full {
                    for (k, v) in m.iter_mut() {
                        let placements: Vec<&mut Value> = match (k.as_str(), v) {
                            ("kill_chain", Value::Object(kc)) => kc.values_mut().collect(),
                            (k, v) if k.starts_with("kill_chain.") => vec![v],
                            _ => vec![],
                        };
                        for p in placements {
                            if let Value::Object(p) = p {
                                p.shift_remove("rationale");
                            }
                        }
                    }
                    if let Some(Value::Object(meta)) = m.get_mut("killchain") {
                        meta.shift_remove("evidence");
                    }
                }
                assert_eq!(full.to_string(), lean.to_string(), "record {record}");
            }
        }
    }

    #[test]
    fn confidences_are_written_with_two_decimals() {
        let f = &findings()[0];
        let out = written(&json!({}), f, Detail::Full);
        assert!(out.contains(r#""confidence":0.72}"#), "{out}");
        assert!(out.contains(r#""mapped":true,"confidence":0.9,"#), "{out}");
    }
}
