//! The fact extraction `killchain map` shipped before the single-pass
//! reader (`facts.rs` before 2026-11-25), kept verbatim as the oracle of the
//! differential tests in `facts.rs`: one gated probe per table entry, slot
//! after slot, jiff for every timestamp. Test-only.

#![allow(dead_code)]

use std::borrow::Cow;
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::sync::LazyLock;

use jiff::tz::TimeZone;
use jiff::{civil, Timestamp};

use super::{Cond, RecordFacts, Slot, Src, Test, PRODUCTS, SLOTS, TABLE, WIN_PREFIXES};
use crate::finding::{Entities, Process, RuleRef};
use crate::node::Node;
use crate::path::{self, EntryMasks, HeadId, Heads, Live, Present, LIVE_CAP};
use Src::{At, If, Win};

#[derive(Debug)]
struct Entry {
    path: Cow<'static, str>,
    head: HeadId,
    cond: Cond,
}

/// A product's alternatives, each a list of (test, head of its path) that must all hold.
type Alternatives = Vec<Vec<(Test, HeadId)>>;

/// [`TABLE`] with Windows fields expanded and heads registered, and
/// [`PRODUCTS`] with their heads, built once.
#[derive(Debug)]
struct Compiled {
    heads: Heads,
    /// Every slot's entries, slot after slot, each slot in priority order.
    entries: Vec<Entry>,
    /// Slot -> its range in `entries`.
    ranges: Vec<(usize, usize)>,
    /// Entries under each head: a record's live entries are the union over
    /// its heads, so most of the ~200 entries are never looked at.
    masks: EntryMasks,
    products: Vec<(&'static str, Alternatives)>,
    title: HeadId,
}

static COMPILED: LazyLock<Compiled> = LazyLock::new(|| {
    let mut heads = Heads::new();
    let mut entries: Vec<Entry> = Vec::new();
    let mut ranges = vec![(0, 0); SLOTS];
    for &(slot, srcs) in TABLE {
        let start = entries.len();
        for &src in srcs {
            let mut push = |path: Cow<'static, str>, cond: Cond| {
                let head = heads.id(&path);
                entries.push(Entry { path, head, cond });
            };
            match src {
                At(p) => push(Cow::Borrowed(p), Cond::None),
                If(p, cond) => push(Cow::Borrowed(p), cond),
                Win(field) => {
                    for prefix in WIN_PREFIXES {
                        let path = if prefix.is_empty() {
                            Cow::Borrowed(field)
                        } else {
                            Cow::Owned(format!("{prefix}{field}"))
                        };
                        push(path, Cond::None);
                    }
                }
            }
        }
        ranges[slot as usize] = (start, entries.len());
    }
    let products = PRODUCTS
        .iter()
        .map(|&(name, alternatives)| {
            let alternatives = alternatives
                .iter()
                .map(|all| all.iter().map(|&t| (t, heads.id(t.path()))).collect())
                .collect();
            (name, alternatives)
        })
        .collect();
    let title = heads.id("title");
    let masks = EntryMasks::new(entries.iter().map(|e| e.head));
    Compiled {
        heads,
        entries,
        ranges,
        masks,
        products,
        title,
    }
});

/// Reads facts from one record, with the head gate computed once.
struct Reader<'r> {
    record: &'r Node<'r>,
    present: Present<'r>,
    table: &'static Compiled,
    live: Live,
    has_title: bool,
}

impl<'r> Reader<'r> {
    fn new(record: &'r Node<'r>) -> Self {
        let table: &'static Compiled = &COMPILED;
        let present = table.heads.scan(record);
        let live = table.masks.live(&present);
        let has_title = present.exists(record, table.title, "title");
        Reader {
            record,
            present,
            table,
            live,
            has_title,
        }
    }

    /// Calls `f` with each value of the slot's paths, in order, until it breaks.
    fn each(&self, slot: Slot, f: &mut dyn FnMut(&'r Node<'r>) -> ControlFlow<()>) {
        let (start, end) = self.table.ranges[slot as usize];
        let flow = self
            .live
            .each_in(start, end, |i| self.probe(&self.table.entries[i], f));
        if flow.is_break() {
            return;
        }
        // Entries past the live mask (only if the table outgrows it).
        for e in &self.table.entries[LIVE_CAP.max(start).min(end)..end] {
            if self.present.has(e.head) && self.probe(e, f).is_break() {
                return;
            }
        }
    }

    fn probe(
        &self,
        e: &Entry,
        f: &mut dyn FnMut(&'r Node<'r>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let cond = e.cond;
        let cond_ok = match cond {
            Cond::WithTitle => self.has_title,
            Cond::WithoutTitle => !self.has_title,
            _ => true,
        };
        if !cond_ok {
            return ControlFlow::Continue(());
        }
        self.present.visit(self.record, e.head, &e.path, &mut |v| {
            let value_ok = match (cond, v) {
                (Cond::FilePath, Node::String(s)) => looks_like_file_path(s.trim()),
                (Cond::NotIp, Node::String(s)) => s.trim().parse::<IpAddr>().is_err(),
                (Cond::FilePath | Cond::NotIp, _) => false,
                _ => true,
            };
            if value_ok {
                f(v)
            } else {
                ControlFlow::Continue(())
            }
        })
    }

    /// The first value of the slot that `parse` accepts.
    fn first<T>(&self, slot: Slot, parse: impl Fn(&'r Node<'r>) -> Option<T>) -> Option<T> {
        let mut found = None;
        self.each(slot, &mut |v| match parse(v) {
            Some(t) => {
                found = Some(t);
                ControlFlow::Break(())
            }
            None => ControlFlow::Continue(()),
        });
        found
    }

    /// The first usable text (strings, or numbers rendered) of the slot.
    fn first_text(&self, slot: Slot) -> Option<String> {
        self.first(slot, |v| {
            let t = path::scalar_text(v)?;
            (!is_placeholder(&t)).then(|| t.into_owned())
        })
    }

    /// Every distinct accepted string of the slot, in order.
    fn all_strings(&self, slot: Slot, out: &mut Vec<String>, accept: impl Fn(&str) -> bool) {
        self.each(slot, &mut |v| {
            if let Node::String(s) = v {
                let t = s.trim();
                if !is_placeholder(t) && accept(t) && !out.iter().any(|o| o == t) {
                    out.push(t.to_string());
                }
            }
            ControlFlow::Continue(())
        });
    }
}

/// Finds time, entities, rule, product and provenance in `record`.
pub fn extract_facts(record: &Node<'_>) -> RecordFacts {
    let r = Reader::new(record);
    let mut e = Entities::default();
    r.all_strings(Slot::Host, &mut e.hosts, looks_like_host);
    r.all_strings(Slot::User, &mut e.users, |_| true);
    r.all_strings(Slot::SrcIp, &mut e.source_ips, is_ip);
    r.all_strings(Slot::DstIp, &mut e.destination_ips, is_ip);
    r.each(Slot::Hash, &mut |v| {
        if let Node::String(s) = v {
            push_hashes(s, &mut e.file_hashes);
        }
        ControlFlow::Continue(())
    });
    r.all_strings(Slot::Domain, &mut e.domains, looks_like_domain);
    r.all_strings(Slot::Url, &mut e.urls, |s| !s.contains(char::is_whitespace));

    let process = Process {
        pid: r.first(Slot::Pid, parse_pid),
        entity_id: r.first_text(Slot::EntityId),
        executable: r.first_text(Slot::Executable),
        command_line: r.first_text(Slot::CommandLine),
        parent_executable: r.first_text(Slot::ParentExecutable),
        parent_pid: r.first(Slot::ParentPid, parse_pid),
    };
    e.process = (process != Process::default()).then_some(process);

    let rule = RuleRef {
        id: r.first_text(Slot::RuleId),
        name: r.first_text(Slot::RuleName),
        level: r.first_text(Slot::RuleLevel),
    };

    RecordFacts {
        time: r.first(Slot::Time, parse_time),
        entities: e,
        rule: (rule != RuleRef::default()).then_some(rule),
        product: r.product().map(str::to_string),
        record_id: r.first_text(Slot::RecordId),
        event_code: r.first_text(Slot::EventCode),
        log_file_path: r.first_text(Slot::LogPath),
    }
}

/// The product that produced `record`, from the shape of its fields.
pub fn detect_product(record: &Node<'_>) -> Option<&'static str> {
    Reader::new(record).product()
}

impl Reader<'_> {
    fn product(&self) -> Option<&'static str> {
        let holds = |&(t, head): &(Test, HeadId)| {
            if !self.present.has(head) {
                return false;
            }
            match t {
                Test::Exists(p) => path::exists(self.record, p),
                Test::Eq(p, want) => {
                    let mut hit = false;
                    let _ = self.present.visit(self.record, head, p, &mut |v| {
                        hit = v.as_str() == Some(want);
                        if hit {
                            ControlFlow::Break(())
                        } else {
                            ControlFlow::Continue(())
                        }
                    });
                    hit
                }
                Test::AnyPrefix(p, prefix) => {
                    let mut hit = false;
                    let _ = self.present.visit(self.record, head, p, &mut |v| {
                        hit = v
                            .as_str()
                            .is_some_and(|s| s.trim_start().starts_with(prefix));
                        if hit {
                            ControlFlow::Break(())
                        } else {
                            ControlFlow::Continue(())
                        }
                    });
                    hit
                }
            }
        };
        self.table
            .products
            .iter()
            .find(|(_, alternatives)| alternatives.iter().any(|all| all.iter().all(holds)))
            .map(|&(name, _)| name)
    }
}

/// Values that mean "no value" in the wild (Windows `-`, Splunk CIM `unknown`).
fn is_placeholder(s: &str) -> bool {
    s.is_empty()
        || ["-", "null", "(null)", "n/a", "unknown"]
            .iter()
            .any(|p| s.eq_ignore_ascii_case(p))
}

fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

fn looks_like_host(s: &str) -> bool {
    s.len() <= 255 && !s.contains(char::is_whitespace)
}

fn looks_like_domain(s: &str) -> bool {
    s.len() <= 255
        && s.contains('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        && s.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Absolute Unix or Windows paths (`/var/log/x`, `C:\x`, `\\server\share`).
fn looks_like_file_path(s: &str) -> bool {
    let b = s.as_bytes();
    s.starts_with('/')
        || s.starts_with("\\\\")
        || (b.len() >= 3
            && b[0].is_ascii_alphabetic()
            && b[1] == b':'
            && matches!(b[2], b'\\' | b'/'))
}

/// File hashes from one value: a bare hex digest, or Sysmon's
/// `ALGO=digest,ALGO=digest` list (import hashes skipped: they identify a
/// build, not a file).
fn push_hashes(s: &str, out: &mut Vec<String>) {
    for part in s.split(',') {
        let (algo, digest) = match part.split_once('=') {
            Some((a, d)) => (a.trim(), d.trim()),
            None => ("", part.trim()),
        };
        if algo.eq_ignore_ascii_case("IMPHASH") {
            continue;
        }
        let hex = digest.bytes().all(|b| b.is_ascii_hexdigit());
        if hex
            && matches!(digest.len(), 32 | 40 | 64 | 96 | 128)
            && !out.iter().any(|o| o == digest)
        {
            out.push(digest.to_string());
        }
    }
}

/// A process ID: a number, a decimal string, or a `0x` hex string (Security 4688).
fn parse_pid(v: &Node<'_>) -> Option<u64> {
    match v {
        Node::Number(n) => n.as_u64(),
        Node::String(s) => {
            let s = s.trim();
            match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => s.parse().ok(),
            }
        }
        _ => None,
    }
}

/// Event times before this many seconds since the epoch (1973) are taken as
/// not-a-timestamp: durations and counters also live in fields named `time`.
const MIN_EPOCH_SECONDS: i128 = 100_000_000;

/// A timestamp from a JSON value: epoch numbers (seconds, or milli/micro/
/// nanoseconds by magnitude) or text (see [`parse_time_str`]).
pub fn parse_time(v: &Node<'_>) -> Option<Timestamp> {
    match v {
        Node::Number(n) => match n.as_i64() {
            Some(i) => epoch(i128::from(i), 0),
            None => {
                let f = n.as_f64()?;
                if !f.is_finite() || f.abs() >= 1e20 {
                    return None;
                }
                // Truncation intended: the fraction is carried separately.
                let whole = f.trunc() as i128;
                let frac = (f.fract().abs() * 1e9).round() as i128;
                epoch(whole, frac)
            }
        },
        Node::String(s) => parse_time_str(s),
        _ => None,
    }
}

/// A timestamp from text: RFC 3339 / ISO 8601 with an offset (`Z`, `+00:00`,
/// `+0000`), with a space before the offset (Hayabusa), without an offset
/// (taken as UTC: Sysmon `UtcTime`, naive exports), epoch numbers as text
/// (Splunk `_time`), and .NET `/Date(ms)/`.
pub fn parse_time_str(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    let first = *s.as_bytes().first()?;
    if first.is_ascii_digit() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        if whole.len() > 20 || frac.contains('.') {
            return None;
        }
        let whole: i128 = whole.parse().ok()?;
        // Fraction of the unit, in billionths.
        let mut nanos: i128 = 0;
        for (i, b) in frac.bytes().take(9).enumerate() {
            nanos += i128::from(b - b'0') * 10_i128.pow(8 - i as u32);
        }
        return epoch(whole, nanos);
    }
    if let Some(rest) = s.strip_prefix("/Date(") {
        let end = rest
            .char_indices()
            .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
            .map_or(rest.len(), |(i, _)| i);
        let ms: i64 = rest[..end].parse().ok()?;
        return Timestamp::from_millisecond(ms).ok();
    }
    if !first.is_ascii_digit() {
        return None;
    }
    // Pick the parser by shape: a failed parse builds an error, which costs
    // more than looking. The offset sign, if any, comes after the date.
    let b = s.as_bytes();
    let sign = b
        .iter()
        .enumerate()
        .skip(10)
        .rev()
        .find(|&(_, &c)| c == b'+' || c == b'-')
        .map(|(i, _)| i);
    let zulu = matches!(b.last(), Some(b'Z' | b'z'));
    match sign {
        // "2024-03-04 09:15:22.481 +09:00" (Hayabusa): drop the space.
        Some(i) if b[i - 1] == b' ' => {
            let mut joined = String::with_capacity(s.len());
            joined.push_str(s[..i - 1].trim_end());
            joined.push_str(&s[i..]);
            joined.parse().ok()
        }
        Some(_) => s.parse().ok(),
        None if zulu => s.parse().ok(),
        // No offset at all: UTC (Sysmon `UtcTime`, naive exports). The civil
        // parser would silently drop an offset, hence only here.
        None => {
            let dt: civil::DateTime = s.parse().ok()?;
            Some(dt.to_zoned(TimeZone::UTC).ok()?.timestamp())
        }
    }
}

/// `whole` units plus `frac` billionths of a unit since the epoch; the unit
/// is seconds, or milli/micro/nanoseconds when the number is too large to be
/// seconds (past year 5138).
fn epoch(whole: i128, frac: i128) -> Option<Timestamp> {
    let unit_nanos: i128 = match whole.abs() {
        n if n >= 100_000_000_000_000_000 => 1,
        n if n >= 100_000_000_000_000 => 1_000,
        n if n >= 100_000_000_000 => 1_000_000,
        _ => 1_000_000_000,
    };
    let nanos = whole.checked_mul(unit_nanos)? + frac * unit_nanos / 1_000_000_000;
    if nanos < MIN_EPOCH_SECONDS * 1_000_000_000 {
        return None;
    }
    Timestamp::from_nanosecond(nanos).ok()
}

/// The differential tests: [`super::extract_facts`] against the oracle above
/// on the dialect fixtures, generated variants of them (nested, flat dotted
/// and mixed spellings, arrays, big objects, placeholders, the `title`
/// condition), random records over every path of the table, and the real
/// corpora in `../shared/data` when present.
mod diff {
    use std::path::{Path, PathBuf};

    use killchain_testdata::Rng;
    use serde_json::{json, Map, Value};

    use super::super::{Src, TABLE, WIN_PREFIXES};
    use crate::node::Node;

    /// Compares both implementations on one record; `what` names it in failures.
    fn same(v: &Value, what: &str) {
        let node = Node::from_value(v);
        let want = super::extract_facts(&node);
        let got = super::super::extract_facts(&node);
        assert_eq!(got, want, "{what}: {v}");
        // The mapper's one scan with the reference paths' table extending
        // the fact heads gives the same facts.
        static PATHS: std::sync::LazyLock<crate::extract::FieldPaths> =
            std::sync::LazyLock::new(crate::extract::FieldPaths::default);
        let shared = super::super::extract_facts_in(&node, &PATHS.heads().scan(&node));
        assert_eq!(
            shared, want,
            "{what}, scanned with the reference heads: {v}"
        );
        assert_eq!(
            super::super::detect_product(&node),
            super::detect_product(&node),
            "{what}: {v}"
        );
    }

    fn fixtures() -> Vec<(&'static str, Value)> {
        [
            ("ecs", include_str!("../tests/fixtures/dialects/ecs.json")),
            (
                "elastic",
                include_str!("../tests/fixtures/dialects/elastic.json"),
            ),
            (
                "sigma",
                include_str!("../tests/fixtures/dialects/sigma.json"),
            ),
            (
                "hayabusa",
                include_str!("../tests/fixtures/dialects/hayabusa.json"),
            ),
            (
                "wazuh",
                include_str!("../tests/fixtures/dialects/wazuh.json"),
            ),
            (
                "splunk",
                include_str!("../tests/fixtures/dialects/splunk.json"),
            ),
            ("stix", include_str!("../tests/fixtures/dialects/stix.json")),
            (
                "plain",
                include_str!("../tests/fixtures/dialects/plain.json"),
            ),
            (
                "rule_name",
                include_str!("../tests/fixtures/dialects/rule_name.json"),
            ),
            (
                "suricata",
                include_str!("../tests/fixtures/dialects/suricata.json"),
            ),
        ]
        .into_iter()
        .map(|(n, t)| (n, serde_json::from_str(t).unwrap()))
        .collect()
    }

    /// Every object flattened into dotted keys, down to `depth` levels (0: all).
    fn flatten(v: &Value, depth: usize) -> Value {
        fn go(prefix: &str, v: &Value, level: usize, depth: usize, out: &mut Map<String, Value>) {
            match v {
                Value::Object(m) if !m.is_empty() && (depth == 0 || level < depth) => {
                    for (k, child) in m {
                        let key = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        };
                        go(&key, child, level + 1, depth, out);
                    }
                }
                _ => {
                    out.insert(prefix.to_string(), v.clone());
                }
            }
        }
        let Value::Object(_) = v else {
            return v.clone();
        };
        let mut out = Map::new();
        go("", v, 0, depth, &mut out);
        Value::Object(out)
    }

    /// Dotted keys turned into nested objects where nothing is in the way.
    fn nest(v: &Value) -> Value {
        let Value::Object(m) = v else {
            return v.clone();
        };
        let mut out = Map::new();
        for (k, child) in m {
            insert(&mut out, k, nest(child));
        }
        Value::Object(out)
    }

    /// Puts `value` at the dotted `path` as nested objects, or under the
    /// whole path as a flat key when a non-object is in the way.
    fn insert(out: &mut Map<String, Value>, path: &str, value: Value) {
        match path.split_once('.') {
            None => {
                out.insert(path.to_string(), value);
            }
            Some((head, rest)) => match out.get_mut(head) {
                Some(Value::Object(inner)) => insert(inner, rest, value),
                Some(_) => {
                    out.insert(path.to_string(), value);
                }
                None => {
                    let mut inner = Map::new();
                    insert(&mut inner, rest, value);
                    out.insert(head.to_string(), Value::Object(inner));
                }
            },
        }
    }

    /// Every scalar wrapped in an array (with a null and a nested array).
    fn arrays(v: &Value, rng: &mut Rng) -> Value {
        match v {
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, c)| (k.clone(), arrays(c, rng))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(|c| arrays(c, rng)).collect()),
            scalar => match rng.below(3) {
                0 => json!([scalar]),
                1 => json!([null, scalar]),
                _ => json!([[scalar], null]),
            },
        }
    }

    /// Some strings replaced by placeholders.
    fn placeholders(v: &Value, rng: &mut Rng) -> Value {
        const P: &[&str] = &[
            "-",
            "N/A",
            " unknown ",
            "",
            "NULL",
            "(null)",
            "Unknown",
            "--",
        ];
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, c)| (k.clone(), placeholders(c, rng)))
                    .collect(),
            ),
            Value::Array(items) => {
                Value::Array(items.iter().map(|c| placeholders(c, rng)).collect())
            }
            Value::String(_) if rng.below(2) == 0 => Value::from(P[rng.index(P.len())]),
            other => other.clone(),
        }
    }

    /// More than 32 (and 64) keys around the record's own, flat and plain.
    fn big(v: &Value, rng: &mut Rng) -> Value {
        let Value::Object(m) = v else {
            return v.clone();
        };
        let mut out = Map::new();
        for i in 0..rng.below(40) {
            out.insert(format!("filler{i}"), json!(i));
        }
        for (k, c) in m {
            out.insert(k.clone(), c.clone());
            if rng.below(4) == 0 {
                out.insert(format!("{k}_x{}", rng.below(9)), json!("x"));
            }
        }
        for i in 0..40 {
            out.insert(format!("pad.{i}"), json!(i));
        }
        Value::Object(out)
    }

    /// The top-level keys in reverse order (flat keys before plain ones of a head).
    fn reversed(v: &Value) -> Value {
        let Value::Object(m) = v else {
            return v.clone();
        };
        Value::Object(
            m.iter()
                .rev()
                .map(|(k, c)| (k.clone(), c.clone()))
                .collect(),
        )
    }

    fn variants(v: &Value, rng: &mut Rng) -> Vec<Value> {
        let mut out = vec![
            v.clone(),
            flatten(v, 0),
            flatten(v, 1),
            flatten(v, 2),
            nest(&flatten(v, 0)),
            reversed(&flatten(v, 1)),
            arrays(v, rng),
            arrays(&flatten(v, 0), rng),
            placeholders(v, rng),
            placeholders(&flatten(v, 0), rng),
            big(v, rng),
            big(&flatten(v, 0), rng),
            json!([v]),
        ];
        // The `title` condition both ways.
        if let Value::Object(m) = v {
            let mut with = m.clone();
            with.insert("title".into(), json!("A title"));
            with.insert("id".into(), json!("0d894093"));
            out.push(Value::Object(with));
            let mut without = m.clone();
            without.remove("title");
            without.insert("id".into(), json!(42));
            out.push(Value::Object(without));
        }
        out
    }

    /// The hand-written ISO reader against jiff (through the oracle's
    /// parser), on every combination of the parts it reads and their edges.
    #[test]
    fn times_as_jiff_reads_them() {
        let years = [
            "0999", "1000", "1970", "2000", "2024", "2100", "8999", "9000", "9999", "20x4",
        ];
        let dates = [
            "01-01", "02-28", "02-29", "02-30", "04-31", "12-31", "13-01", "00-10", "06-00", "1-01",
        ];
        let seps = ["T", "t", " ", "_", "  "];
        let clocks = [
            "00:00:00", "09:15:22", "23:59:59", "23:59:60", "24:00:00", "12:60:00", "9:15:22",
            "09:15",
        ];
        let fracs = [
            "",
            ".",
            ".4",
            ".481",
            ".481234",
            ".123456789",
            ".1234567891",
            ",481",
            ".48a",
        ];
        let zones = [
            "",
            "Z",
            "z",
            "+00:00",
            "-00:00",
            "+0000",
            "-0000",
            "+09:00",
            "-05:30",
            "+0930",
            "+23:59",
            "+24:00",
            "+09:60",
            "+9:00",
            " +09:00",
            "  +09:00",
            " Z",
            "+09",
            " -0800",
            "Zx",
            "+09:00x",
            " ",
            "+09:00:00",
        ];
        let mut n = 0;
        for y in years {
            for d in dates {
                for sep in seps {
                    for c in clocks {
                        for f in fracs {
                            for z in zones {
                                let text = format!("{y}-{d}{sep}{c}{f}{z}");
                                assert_eq!(
                                    super::super::parse_time_str(&text),
                                    super::parse_time_str(&text),
                                    "{text:?}"
                                );
                                n += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(n > 100_000);
    }

    #[test]
    fn fixtures_and_their_variants() {
        let mut rng = Rng(0x5eed_f00d_1234_5678);
        for (name, v) in fixtures() {
            for (i, variant) in variants(&v, &mut rng).iter().enumerate() {
                same(variant, &format!("{name} variant {i}"));
            }
        }
    }

    /// Every path the table probes, Windows fields expanded, plus the product tests' paths.
    fn table_paths() -> Vec<String> {
        let mut out = Vec::new();
        for &(_, srcs) in TABLE {
            for &src in srcs {
                match src {
                    Src::At(p) | Src::If(p, _) => out.push(p.to_string()),
                    Src::Win(f) => out.extend(WIN_PREFIXES.iter().map(|pre| format!("{pre}{f}"))),
                }
            }
        }
        out.extend(
            [
                "kibana.alert.uuid",
                "signal.rule.id",
                "rule.mitre.id",
                "agent.id",
                "annotations.x",
                "event_type",
                "alert.category",
                "tags",
                "type",
                "spec_version",
                "threat.technique.id",
            ]
            .map(String::from),
        );
        out
    }

    fn value(rng: &mut Rng, depth: u32) -> Value {
        const S: &[&str] = &[
            "10.0.0.5", "::ffff:10.0.0.7", "fe80::1", "1.2.3", " 192.168.1.1 ", "WS-0042", "ws 01",
            "shop.example.com", "http://x.example/a", "a b", "-", "N/A", "unknown", "", "(null)",
            "/var/log/secure", "C:\\Logs\\Security.evtx", "\\\\srv\\share", "WinEventLog:Security",
            "2024-03-04T09:15:22.481Z", "2024-03-04 09:15:22.481 +09:00", "2024-03-04 09:15:22",
            "1709543722.481", "/Date(1709543722481)/", "garbage", "0x1a2c", "4412", " 77 ",
            "SHA1=5A1A2E9B5C3F7D6E8A9B0C1D2E3F4A5B6C7D8E9F,MD5=0123456789ABCDEF0123456789ABCDEF,IMPHASH=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "0123456789abcdef0123456789abcdef", "attack.t1059", "alert", "Mimikatz", "deadbeef",
        ];
        match rng.below(if depth > 1 { 8 } else { 10 }) {
            0..=3 => Value::from(S[rng.index(S.len())]),
            4 => json!(rng.below(70_000)),
            5 => [
                json!(1709543722_i64),
                json!(1709543722481_i64),
                json!(1709543722.481_f64),
                json!(-1),
                json!(0.25),
                json!(u64::MAX),
            ][rng.index(6)]
            .clone(),
            6 => [json!(true), json!(false), Value::Null][rng.index(3)].clone(),
            7 => Value::from(format!("{:x}", rng.next_u64())),
            8 => Value::Array((0..rng.below(3)).map(|_| value(rng, depth + 1)).collect()),
            _ => {
                let mut m = Map::new();
                for _ in 0..rng.below(3) {
                    let k = ["#text", "name", "ip", "id", "pid"][rng.index(5)];
                    m.insert(k.into(), value(rng, depth + 1));
                }
                Value::Object(m)
            }
        }
    }

    /// Puts `value` at `path`, spelled nested, flat or mixed at random.
    fn put(out: &mut Map<String, Value>, path: &str, value: Value, rng: &mut Rng) {
        let cut = match rng.below(3) {
            0 => None,
            _ => path.match_indices('.').map(|(i, _)| i).nth(rng.index(4)),
        };
        match cut {
            // The first `cut` bytes as one flat key, the rest nested below it.
            Some(i) if rng.below(2) == 0 => {
                let (head, rest) = (&path[..i], &path[i + 1..]);
                match out.get_mut(head) {
                    Some(Value::Object(inner)) => put(inner, rest, value, rng),
                    Some(_) => {
                        out.insert(path.to_string(), value);
                    }
                    None => {
                        let mut inner = Map::new();
                        put(&mut inner, rest, value, rng);
                        out.insert(head.to_string(), Value::Object(inner));
                    }
                }
            }
            Some(_) => {
                out.insert(path.to_string(), value);
            }
            None => insert(out, path, value),
        }
    }

    #[test]
    fn random_records_over_every_table_path() {
        let paths = table_paths();
        let mut rng = Rng(0x0dd_ba11_cafe_f00d);
        for i in 0..20_000 {
            let mut m = Map::new();
            // A few records carry every path at once (past 64 top-level heads).
            let n = if i % 500 == 0 {
                paths.len()
            } else {
                1 + rng.index(24)
            };
            for _ in 0..n {
                let p = &paths[rng.index(paths.len())];
                let v = value(&mut rng, 0);
                put(&mut m, p, v, &mut rng);
            }
            let v = Value::Object(m);
            same(&v, &format!("random record {i}"));
            if i % 10 == 0 {
                same(&reversed(&v), &format!("random record {i} reversed"));
                same(
                    &arrays(&v, &mut rng),
                    &format!("random record {i} in arrays"),
                );
            }
        }
    }

    fn walk_files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk_files(&p, ext, out);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }

    #[test]
    fn suricata_sample_data() {
        let Some(dir) = killchain_testdata::shared("network/suricata-sample-data") else {
            return;
        };
        let mut files = Vec::new();
        walk_files(&dir, "json", &mut files);
        files.sort();
        let mut n = 0;
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            // JSON arrays of alerts, or JSON lines.
            let records: Vec<Value> = match serde_json::from_str::<Value>(&text) {
                Ok(Value::Array(items)) => items,
                Ok(v) => vec![v],
                Err(_) => text
                    .lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect(),
            };
            for (i, v) in records.iter().enumerate() {
                same(v, &format!("{} #{i}", f.display()));
                n += 1;
            }
        }
        assert!(n >= 500, "only {n} Suricata records");
    }

    #[test]
    fn otrf_events() {
        use std::io::{BufRead, BufReader};
        let Some(dir) = killchain_testdata::shared("otrf") else {
            return;
        };
        let mut zips = Vec::new();
        walk_files(&dir, "zip", &mut zips);
        zips.sort();
        let mut n = 0;
        for path in &zips {
            let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
            'members: for m in 0..z.len() {
                let member = z.by_index(m).unwrap();
                if member.is_dir() {
                    continue;
                }
                // The first 300 events of every member: every dataset's shapes, in seconds.
                for (i, line) in BufReader::new(member).split(b'\n').enumerate() {
                    let Ok(line) = line else { break };
                    if i >= 300 {
                        continue 'members;
                    }
                    let Ok(v) = serde_json::from_slice::<Value>(&line) else {
                        continue;
                    };
                    same(&v, &format!("{} line {i}", path.display()));
                    n += 1;
                }
            }
        }
        eprintln!("{n} OTRF events compared");
        assert!(n > 10_000, "only {n} OTRF events");
    }
}
