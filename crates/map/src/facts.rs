//! Facts about an alert record besides its ATT&CK references: when it
//! happened, the entities it touches (hosts, users, IPs, the process, hashes,
//! domains, URLs), the rule that fired, the product that produced it, and
//! where it came from (record ID, event code, log file).
//!
//! Everything is table-driven: each fact has an ordered list of field paths
//! covering ECS / Elastic, Windows event logs (Sysmon and Security, as
//! Winlogbeat, evtx_dump, Zircolite and flat exports spell them), Wazuh,
//! Splunk CIM / ES notables, Suricata EVE, Zeek, Hayabusa, CrowdStrike and
//! CloudTrail. For single-valued facts the first path that yields a usable
//! value wins; list facts collect every distinct value, in table order.

use std::borrow::Cow;
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::sync::LazyLock;

use crate::node::Node;
use jiff::tz::TimeZone;
use jiff::{civil, Timestamp};

use crate::finding::{Entities, Process, RuleRef};
use crate::path::{self, EntryMasks, HeadId, HeadPath, Heads, Present, LIVE_CAP};

/// Everything [`extract_facts`] finds in one record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordFacts {
    pub time: Option<Timestamp>,
    pub entities: Entities,
    pub rule: Option<RuleRef>,
    /// `elastic`, `wazuh`, `splunk`, `suricata`, `hayabusa`, `sigma`, `stix`, `ecs`.
    pub product: Option<String>,
    pub record_id: Option<String>,
    pub event_code: Option<String>,
    pub log_file_path: Option<String>,
}

/// The facts a path can feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Time,
    Host,
    User,
    SrcIp,
    DstIp,
    Pid,
    EntityId,
    Executable,
    CommandLine,
    ParentExecutable,
    ParentPid,
    Hash,
    Domain,
    Url,
    RuleId,
    RuleName,
    RuleLevel,
    RecordId,
    EventCode,
    LogPath,
}

const SLOTS: usize = Slot::LogPath as usize + 1;

/// Extra conditions on a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cond {
    None,
    /// Only when the value looks like a file path (Splunk's `source` is
    /// often `WinEventLog:Security` or a search name).
    FilePath,
    /// Only when the record has a `title` (a Sigma rule's `id` is the rule ID).
    WithTitle,
    /// Only when the record has no `title` (otherwise `id` is the rule's).
    WithoutTitle,
    /// Only when the value is not an IP address (Splunk CIM `dest` is a host
    /// name or an IP; IPs go to the IP lists).
    NotIp,
}

/// A path in the table.
#[derive(Debug, Clone, Copy)]
enum Src {
    /// Exactly this path.
    At(&'static str),
    /// A Windows event data field, wherever the exporters put it: top level
    /// (flat exports, Chainsaw-less tools), `winlog.event_data.` (Winlogbeat),
    /// `Event.EventData.` (evtx_dump / python-evtx JSON), `matches.` (Zircolite).
    Win(&'static str),
    /// This path, under a condition.
    If(&'static str, Cond),
}

/// Prefixes a [`Src::Win`] field is looked up under, in this order.
const WIN_PREFIXES: &[&str] = &["", "winlog.event_data.", "Event.EventData.", "matches."];

use Src::{At, If, Win};

/// Fact -> paths, in priority order.
const TABLE: &[(Slot, &[Src])] = &[
    (
        Slot::Time,
        &[
            At("@timestamp"),
            At("timestamp"),
            At("event.created"),
            // Splunk: ISO text in REST/JSON exports, epoch seconds in some.
            At("_time"),
            At("Event.System.TimeCreated.#attributes.SystemTime"),
            // PowerShell Get-WinEvent | ConvertTo-Json: "/Date(1709543722481)/".
            At("TimeCreated"),
            Win("UtcTime"),
            // NXLog.
            At("EventTime"),
            At("time"),
            // Zeek: epoch seconds.
            At("ts"),
            // CloudTrail.
            At("eventTime"),
            // Hayabusa: "2024-03-04 09:15:22.481 +00:00".
            At("Timestamp"),
            // Zircolite / flattened evtx.
            Win("SystemTime"),
        ],
    ),
    (
        Slot::Host,
        &[
            At("host.name"),
            At("host.hostname"),
            // Wazuh: the agent is the monitored host.
            At("agent.name"),
            At("hostname"),
            At("Hostname"),
            At("Computer"),
            At("computer_name"),
            At("Event.System.Computer"),
            At("winlog.computer_name"),
            At("data.win.system.computer"),
            At("matches.Computer"),
            // CrowdStrike, Microsoft Defender.
            At("ComputerName"),
            At("DeviceName"),
            At("dest_host"),
            // Splunk CIM: a string `host` (ECS `host` is an object: skipped).
            At("host"),
            If("dest", Cond::NotIp),
        ],
    ),
    (
        Slot::User,
        &[
            At("user.name"),
            At("user"),
            Win("User"),
            Win("SubjectUserName"),
            Win("TargetUserName"),
            // Wazuh's Windows decoder lower-camel-cases event data.
            At("data.win.eventdata.targetUserName"),
            At("data.win.eventdata.subjectUserName"),
            At("data.win.eventdata.user"),
            At("data.srcuser"),
            At("data.dstuser"),
            At("src_user"),
            At("username"),
            At("user_name"),
            At("userName"),
            At("UserName"),
            At("AccountName"),
            At("userIdentity.userName"),
            At("Details.User"),
            At("Details.TgtUser"),
            At("Details.SrcUser"),
        ],
    ),
    (
        Slot::SrcIp,
        &[
            At("source.ip"),
            At("src_ip"),
            At("src"),
            Win("SourceIp"),
            Win("IpAddress"),
            At("data.srcip"),
            At("data.win.eventdata.sourceIp"),
            At("data.win.eventdata.ipAddress"),
            // Zeek conn/dns/http logs.
            At("id.orig_h"),
            At("client.ip"),
            At("sourceIPAddress"),
            At("Details.SrcIP"),
        ],
    ),
    (
        Slot::DstIp,
        &[
            At("destination.ip"),
            At("dest_ip"),
            At("dest"),
            Win("DestinationIp"),
            At("data.dstip"),
            At("data.win.eventdata.destinationIp"),
            At("id.resp_h"),
            At("server.ip"),
            At("Details.TgtIP"),
        ],
    ),
    (
        Slot::Pid,
        &[
            At("process.pid"),
            // 4688: NewProcessId is the new process (hex); ProcessId is its creator.
            Win("NewProcessId"),
            Win("ProcessId"),
            At("data.win.eventdata.processId"),
            At("process_id"),
            At("Details.PID"),
        ],
    ),
    (
        Slot::EntityId,
        &[
            At("process.entity_id"),
            Win("ProcessGuid"),
            At("data.win.eventdata.processGuid"),
            At("process_guid"),
        ],
    ),
    (
        Slot::Executable,
        &[
            At("process.executable"),
            Win("Image"),
            Win("NewProcessName"),
            At("data.win.eventdata.image"),
            At("process_path"),
            At("ImageFileName"),
            At("Details.Proc"),
        ],
    ),
    (
        Slot::CommandLine,
        &[
            At("process.command_line"),
            Win("CommandLine"),
            At("data.win.eventdata.commandLine"),
            // Splunk CIM Endpoint.Processes: `process` is the command line.
            At("process"),
            At("Details.Cmdline"),
        ],
    ),
    (
        Slot::ParentExecutable,
        &[
            At("process.parent.executable"),
            Win("ParentImage"),
            Win("ParentProcessName"),
            At("data.win.eventdata.parentImage"),
            At("parent_process_path"),
        ],
    ),
    (
        Slot::ParentPid,
        &[
            At("process.parent.pid"),
            Win("ParentProcessId"),
            At("data.win.eventdata.parentProcessId"),
            At("parent_process_id"),
            At("Details.ParentPID"),
        ],
    ),
    (
        Slot::Hash,
        &[
            At("file.hash.sha256"),
            At("file.hash.sha1"),
            At("file.hash.md5"),
            At("process.hash.sha256"),
            At("process.hash.sha1"),
            At("process.hash.md5"),
            // Sysmon: "SHA1=..,MD5=..,SHA256=..,IMPHASH=..".
            Win("Hashes"),
            At("data.win.eventdata.hashes"),
            At("Details.Hashes"),
            // CrowdStrike.
            At("SHA256HashData"),
            At("SHA1HashData"),
            At("MD5HashData"),
            // Suricata fileinfo.
            At("fileinfo.sha256"),
            At("fileinfo.sha1"),
            At("fileinfo.md5"),
            // Splunk CIM.
            At("file_hash"),
            At("sha256"),
            At("sha1"),
            At("md5"),
        ],
    ),
    (
        Slot::Domain,
        &[
            At("dns.question.name"),
            At("url.domain"),
            At("destination.domain"),
            Win("QueryName"),
            At("data.win.eventdata.queryName"),
            // Suricata EVE (v2 and v1 dns formats), Zeek dns.log / ssl.log.
            At("dns.query.rrname"),
            At("dns.rrname"),
            At("http.hostname"),
            At("tls.sni"),
            At("query"),
            At("server_name"),
        ],
    ),
    (
        Slot::Url,
        &[
            At("url.full"),
            At("url.original"),
            At("url"),
            At("data.url"),
        ],
    ),
    (
        Slot::RuleId,
        &[
            At("rule.id"),
            At("kibana.alert.rule.uuid"),
            At("kibana.alert.rule.rule_id"),
            At("signal.rule.id"),
            // Suricata.
            At("alert.signature_id"),
            // A Sigma rule (or a Sigma engine's match, e.g. Zircolite).
            If("id", Cond::WithTitle),
            At("rule_id"),
            // Hayabusa super-verbose.
            At("RuleID"),
        ],
    ),
    (
        Slot::RuleName,
        &[
            At("rule.name"),
            At("kibana.alert.rule.name"),
            At("signal.rule.name"),
            // Wazuh names its rules in `rule.description`.
            At("rule.description"),
            At("alert.signature"),
            At("search_name"),
            At("title"),
            At("RuleTitle"),
            At("signature"),
            At("rule_name"),
            At("DetectName"),
            At("AlertName"),
        ],
    ),
    (
        Slot::RuleLevel,
        &[
            At("rule.level"),
            At("kibana.alert.severity"),
            At("signal.rule.severity"),
            At("alert.severity"),
            At("level"),
            At("Level"),
            At("severity"),
            At("event.severity"),
            At("urgency"),
            // Zircolite.
            At("rule_level"),
            At("Severity"),
        ],
    ),
    (
        Slot::RecordId,
        &[
            At("event.id"),
            At("EventRecordID"),
            At("Event.System.EventRecordID"),
            At("winlog.record_id"),
            // Splunk.
            At("_cd"),
            If("id", Cond::WithoutTitle),
            At("kibana.alert.uuid"),
            // Suricata.
            At("flow_id"),
            // Hayabusa.
            At("RecordID"),
            At("data.win.system.eventRecordID"),
        ],
    ),
    (
        Slot::EventCode,
        &[
            At("event.code"),
            At("EventID"),
            At("Event.System.EventID"),
            // evtx_dump when the EventID carries Qualifiers: {"#attributes": .., "#text": 7045}.
            At("Event.System.EventID.#text"),
            At("winlog.event_id"),
            At("data.win.system.eventID"),
            At("matches.EventID"),
        ],
    ),
    (
        Slot::LogPath,
        &[
            At("log.file.path"),
            If("source", Cond::FilePath),
            // Wazuh: the log file, or `EventChannel` / `journald`.
            At("location"),
            // Hayabusa, Zircolite.
            At("EvtxFile"),
            Win("OriginalLogfile"),
        ],
    ),
];

/// One test for [`PRODUCTS`].
#[derive(Debug, Clone, Copy)]
enum Test {
    /// Something is at this path (objects and flat keys below it count).
    Exists(&'static str),
    /// The string at this path equals this value.
    Eq(&'static str, &'static str),
    /// A string at this path starts with this prefix.
    AnyPrefix(&'static str, &'static str),
}

impl Test {
    fn path(self) -> &'static str {
        match self {
            Test::Exists(p) | Test::Eq(p, _) | Test::AnyPrefix(p, _) => p,
        }
    }
}

/// Product -> alternatives, each a list of tests that must all hold. First
/// product matching wins. Elastic before Wazuh: an Elastic alert raised on
/// Wazuh data carries both shapes, and Elastic produced it.
const PRODUCTS: &[(&str, &[&[Test]])] = &[
    (
        "elastic",
        &[
            &[Test::Exists("kibana.alert")],
            &[Test::Exists("signal.rule")],
        ],
    ),
    (
        "wazuh",
        &[
            &[Test::Exists("rule.mitre")],
            &[Test::Exists("agent"), Test::Exists("rule.level")],
        ],
    ),
    (
        "splunk",
        &[
            &[Test::Exists("annotations")],
            &[Test::Exists("search_name")],
            &[Test::Exists("_time")],
        ],
    ),
    (
        "suricata",
        &[&[Test::Eq("event_type", "alert"), Test::Exists("alert")]],
    ),
    ("hayabusa", &[&[Test::Exists("RuleTitle")]]),
    ("sigma", &[&[Test::AnyPrefix("tags", "attack.")]]),
    (
        "stix",
        &[&[Test::Exists("type"), Test::Exists("spec_version")]],
    ),
    ("ecs", &[&[Test::Exists("threat")]]),
];

/// A compiled path: where to look, which head gates it, which fact it feeds.
#[derive(Debug)]
struct Entry {
    path: HeadPath,
    slot: Slot,
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
    /// Entries under each head: a record's live entries are the union over
    /// its heads, so most of the ~200 entries are never looked at.
    masks: EntryMasks,
    products: Vec<(&'static str, Alternatives)>,
    title: HeadId,
}

static COMPILED: LazyLock<Compiled> = LazyLock::new(|| {
    let mut heads = Heads::new();
    let mut entries: Vec<Entry> = Vec::new();
    for &(slot, srcs) in TABLE {
        for &src in srcs {
            let mut push = |path: Cow<'static, str>, cond: Cond| {
                let path = heads.path(path);
                entries.push(Entry { path, slot, cond });
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
    let masks = EntryMasks::new(entries.iter().map(|e| e.path.head()));
    Compiled {
        heads,
        entries,
        masks,
        products,
        title,
    }
});

/// The facts of one record as [`extract_facts`] fills them: the table's
/// live entries are probed in one pass, in table order (slot after slot,
/// each slot in priority order), and every value goes to its entry's slot.
/// A single-valued slot is done at its first usable value; the entries left
/// for it are skipped, as a probe per slot stopping there would.
#[derive(Default)]
struct Filler {
    /// Single-valued slots already filled, one bit per [`Slot`].
    done: u32,
    time: Option<Timestamp>,
    entities: Entities,
    pid: Option<u64>,
    parent_pid: Option<u64>,
    /// The text slots' values, by slot (the others stay `None`).
    texts: [Option<String>; SLOTS],
}

impl Filler {
    fn probe<'r>(
        &mut self,
        record: &'r Node<'r>,
        present: &Present<'r>,
        e: &Entry,
        has_title: bool,
    ) {
        let bit = 1u32 << e.slot as u32;
        if self.done & bit != 0 {
            return;
        }
        let cond_ok = match e.cond {
            Cond::WithTitle => has_title,
            Cond::WithoutTitle => !has_title,
            _ => true,
        };
        if !cond_ok {
            return;
        }
        let _ = present.visit_path(record, &e.path, &mut |v| {
            let value_ok = match (e.cond, v) {
                (Cond::FilePath, Node::String(s)) => looks_like_file_path(s.trim()),
                (Cond::NotIp, Node::String(s)) => !is_ip(s.trim()),
                (Cond::FilePath | Cond::NotIp, _) => false,
                _ => true,
            };
            if value_ok {
                self.take(e.slot, bit, v)
            } else {
                ControlFlow::Continue(())
            }
        });
    }

    /// One value for `slot`: breaks when it fills a single-valued slot.
    fn take(&mut self, slot: Slot, bit: u32, v: &Node<'_>) -> ControlFlow<()> {
        let e = &mut self.entities;
        match slot {
            Slot::Time => {
                if let Some(t) = parse_time(v) {
                    self.time = Some(t);
                    return self.filled(bit);
                }
            }
            Slot::Pid | Slot::ParentPid => {
                if let Some(pid) = parse_pid(v) {
                    match slot {
                        Slot::Pid => self.pid = Some(pid),
                        _ => self.parent_pid = Some(pid),
                    }
                    return self.filled(bit);
                }
            }
            Slot::Host => push_string(v, &mut e.hosts, looks_like_host),
            Slot::User => push_string(v, &mut e.users, |_| true),
            Slot::SrcIp => push_string(v, &mut e.source_ips, is_ip),
            Slot::DstIp => push_string(v, &mut e.destination_ips, is_ip),
            Slot::Domain => push_string(v, &mut e.domains, looks_like_domain),
            Slot::Url => push_string(v, &mut e.urls, |s| !s.contains(char::is_whitespace)),
            Slot::Hash => {
                if let Node::String(s) = v {
                    push_hashes(s, &mut e.file_hashes);
                }
            }
            Slot::EntityId
            | Slot::Executable
            | Slot::CommandLine
            | Slot::ParentExecutable
            | Slot::RuleId
            | Slot::RuleName
            | Slot::RuleLevel
            | Slot::RecordId
            | Slot::EventCode
            | Slot::LogPath => {
                if let Some(t) = path::scalar_text(v).filter(|t| !is_placeholder(t)) {
                    self.texts[slot as usize] = Some(t.into_owned());
                    return self.filled(bit);
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn filled(&mut self, bit: u32) -> ControlFlow<()> {
        self.done |= bit;
        ControlFlow::Break(())
    }

    fn text(&mut self, slot: Slot) -> Option<String> {
        self.texts[slot as usize].take()
    }
}

/// Appends `v` (a string, trimmed) to `out` unless it is a placeholder,
/// fails `accept` or is there already.
fn push_string(v: &Node<'_>, out: &mut Vec<String>, accept: impl Fn(&str) -> bool) {
    if let Node::String(s) = v {
        let t = s.trim();
        if !is_placeholder(t) && accept(t) && !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
}

/// Finds time, entities, rule, product and provenance in `record`.
pub fn extract_facts(record: &Node<'_>) -> RecordFacts {
    extract_facts_in(record, &COMPILED.heads.scan(record))
}

/// The head table of the fact paths. A table that starts as a clone of it
/// and registers more heads after (the reference paths do, see
/// `FieldPaths`) gives the same IDs to these heads, so one scan of a record
/// serves both ([`extract_facts_in`]).
pub(crate) fn heads() -> &'static Heads {
    &COMPILED.heads
}

/// [`extract_facts`] with the record's top level already scanned, by
/// [`heads`] or a table extending it.
pub(crate) fn extract_facts_in(record: &Node<'_>, present: &Present<'_>) -> RecordFacts {
    let table: &'static Compiled = &COMPILED;
    let has_title = present.exists(record, table.title, "title");
    let mut f = Filler::default();
    let n = table.entries.len();
    let _ = table.masks.live(present).each_in(0, n, |i| {
        f.probe(record, present, &table.entries[i], has_title);
        ControlFlow::Continue(())
    });
    // Entries past the live mask (only if the table outgrows it); they come
    // after every entry below it, so slot order holds.
    for e in &table.entries[LIVE_CAP.min(n)..] {
        if present.has(e.path.head()) {
            f.probe(record, present, e, has_title);
        }
    }

    let process = Process {
        pid: f.pid,
        entity_id: f.text(Slot::EntityId),
        executable: f.text(Slot::Executable),
        command_line: f.text(Slot::CommandLine),
        parent_executable: f.text(Slot::ParentExecutable),
        parent_pid: f.parent_pid,
    };
    let rule = RuleRef {
        id: f.text(Slot::RuleId),
        name: f.text(Slot::RuleName),
        level: f.text(Slot::RuleLevel),
    };
    let mut entities = std::mem::take(&mut f.entities);
    entities.process = (process != Process::default()).then_some(process);
    RecordFacts {
        time: f.time,
        entities,
        rule: (rule != RuleRef::default()).then_some(rule),
        product: product(table, present, record).map(str::to_string),
        record_id: f.text(Slot::RecordId),
        event_code: f.text(Slot::EventCode),
        log_file_path: f.text(Slot::LogPath),
    }
}

/// The product that produced `record`, from the shape of its fields.
pub fn detect_product(record: &Node<'_>) -> Option<&'static str> {
    let table: &'static Compiled = &COMPILED;
    product(table, &table.heads.scan(record), record)
}

fn product<'r>(
    table: &Compiled,
    present: &Present<'r>,
    record: &'r Node<'r>,
) -> Option<&'static str> {
    let holds = |&(t, head): &(Test, HeadId)| {
        if !present.has(head) {
            return false;
        }
        match t {
            Test::Exists(p) => path::exists(record, p),
            Test::Eq(p, want) => {
                let mut hit = false;
                let _ = present.visit(record, head, p, &mut |v| {
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
                let _ = present.visit(record, head, p, &mut |v| {
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
    table
        .products
        .iter()
        .find(|(_, alternatives)| alternatives.iter().any(|all| all.iter().all(holds)))
        .map(|&(name, _)| name)
}

/// Values that mean "no value" in the wild (Windows `-`, Splunk CIM `unknown`).
/// By length first: most values are none of these, and each length has one
/// candidate.
fn is_placeholder(s: &str) -> bool {
    let candidate = match s.len() {
        0 => return true,
        1 => "-",
        3 => "n/a",
        4 => "null",
        6 => "(null)",
        7 => "unknown",
        _ => return false,
    };
    s.eq_ignore_ascii_case(candidate)
}

/// Whether `s` is an IPv4 or IPv6 address. Host names and paths are
/// refused at their first byte that no address contains (std's parser takes
/// only digits, hex letters, `.` and `:`), before the parse.
fn is_ip(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':')
        && s.parse::<IpAddr>().is_ok()
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
    if let Some(t) = parse_iso_common(s) {
        return Some(t);
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

/// The shapes nearly every record's time has, read without jiff (whose
/// parse was most of fact extraction's cost per value):
/// `YYYY-MM-DD[T ]HH:MM:SS[.fraction]` then nothing (UTC), `Z`, or an
/// offset `+HH:MM` / `+HHMM`, optionally after one space (Hayabusa). `None`
/// means "not one of these", never "invalid": the caller then asks jiff,
/// which gives the same answer for these shapes (a differential test holds
/// the two together). Years outside 1000-8999, leap seconds, `-00:00` and
/// impossible dates are left to jiff.
fn parse_iso_common(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let two = |i: usize| -> Option<i64> {
        let (hi, lo) = (b[i].wrapping_sub(b'0'), b[i + 1].wrapping_sub(b'0'));
        (hi < 10 && lo < 10).then(|| i64::from(hi * 10 + lo))
    };
    let year = two(0)? * 100 + two(2)?;
    let (month, day) = (two(5)?, two(8)?);
    let (hour, minute, second) = (two(11)?, two(14)?, two(17)?);
    let shape_ok = b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b' ')
        && b[13] == b':'
        && b[16] == b':';
    if !shape_ok
        || !(1000..9000).contains(&year)
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut i = 19;
    let mut nanos: i64 = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            nanos = nanos * 10 + i64::from(b[i] - b'0');
            i += 1;
        }
        let digits = i - start;
        if digits == 0 || digits > 9 {
            return None;
        }
        // 9 - digits < 9: the scale fits.
        nanos *= 10_i64.pow((9 - digits) as u32);
    }
    let offset = match &b[i..] {
        [] | [b'Z'] => 0,
        [b' ', rest @ ..] | rest => {
            let (sign, hh, mm) = match rest {
                [sign, h1, h2, b':', m1, m2] | [sign, h1, h2, m1, m2] => {
                    (*sign, [*h1, *h2], [*m1, *m2])
                }
                _ => return None,
            };
            let digit = |c: u8| c.is_ascii_digit().then(|| i64::from(c - b'0'));
            let hours = digit(hh[0])? * 10 + digit(hh[1])?;
            let minutes = digit(mm[0])? * 10 + digit(mm[1])?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3600 + minutes * 60;
            match sign {
                b'+' => seconds,
                b'-' if seconds != 0 => -seconds,
                _ => return None,
            }
        }
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    // Within 1000-8999 plus a day either way: always in jiff's range.
    Timestamp::new(secs, i32::try_from(nanos).ok()?).ok()
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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

#[cfg(test)]
#[path = "facts_oracle.rs"]
mod oracle;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    // The functions under test read `Node`s; the tests write `Value`s.
    fn extract_facts(v: &Value) -> RecordFacts {
        super::extract_facts(&Node::from_value(v))
    }
    fn parse_time(v: &Value) -> Option<Timestamp> {
        super::parse_time(&Node::from_value(v))
    }
    fn parse_pid(v: &Value) -> Option<u64> {
        super::parse_pid(&Node::from_value(v))
    }
    fn detect_product(v: &Value) -> Option<&'static str> {
        super::detect_product(&Node::from_value(v))
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn time_formats() {
        let want = ts("2024-03-04T09:15:22.481Z");
        for s in [
            "2024-03-04T09:15:22.481Z",
            "2024-03-04T09:15:22.481+00:00",
            "2024-03-04T09:15:22.481+0000",
            "2024-03-04T10:15:22.481+01:00",
            "2024-03-04 09:15:22.481",
            "2024-03-04T09:15:22.481",
            "2024-03-04 09:15:22.481 +00:00",
            "2024-03-04 18:15:22.481 +09:00",
            "1709543722.481",
            "1709543722481",
            "/Date(1709543722481)/",
            " 2024-03-04T09:15:22.481Z ",
        ] {
            assert_eq!(parse_time_str(s), Some(want), "{s:?}");
        }
        assert_eq!(parse_time(&json!(1709543722481_i64)), Some(want));
        assert_eq!(
            parse_time(&json!(1709543722)),
            Some(ts("2024-03-04T09:15:22Z"))
        );
        assert_eq!(
            parse_time(&json!("1709543722")),
            Some(ts("2024-03-04T09:15:22Z"))
        );
        // Zeek: float seconds (f64 precision: within a microsecond).
        let zeek = parse_time(&json!(1709543722.481234)).unwrap();
        let diff = zeek.as_nanosecond() - ts("2024-03-04T09:15:22.481234Z").as_nanosecond();
        assert!(diff.abs() < 1_000, "{zeek}");
        assert_eq!(
            parse_time(&json!(1709543722481234_i64)),
            Some(ts("2024-03-04T09:15:22.481234Z"))
        );
        assert_eq!(
            parse_time_str("2024-03-04T09:15:21.9876543Z"),
            Some(ts("2024-03-04T09:15:21.9876543Z"))
        );
        for bad in [
            "",
            "-",
            "5ms",
            "yesterday",
            "0",
            "12",
            "1.2.3",
            "2024-13-45T00:00:00Z",
            "Mon Mar 4",
        ] {
            assert_eq!(parse_time_str(bad), None, "{bad:?}");
        }
        assert_eq!(parse_time(&json!(0.25)), None);
        assert_eq!(parse_time(&json!(true)), None);
    }

    #[test]
    fn common_time_shapes_skip_jiff() {
        for s in [
            "2026-03-02T10:00:00.000Z",
            "2026-03-02T10:00:00.000+0000",
            "2026-03-02 10:00:00.000 +00:00",
            "2026-03-02 10:00:00.000",
            "2026-03-02T10:00:00-05:30",
        ] {
            assert_eq!(
                parse_iso_common(s),
                s.replace(" +", "+").parse::<Timestamp>().ok().or_else(|| {
                    let dt: civil::DateTime = s.parse().ok()?;
                    Some(dt.to_zoned(TimeZone::UTC).ok()?.timestamp())
                }),
                "{s}"
            );
            assert!(parse_iso_common(s).is_some(), "{s}");
        }
        // Left to jiff: a leap second, lower-case separators, `-00:00`.
        for s in [
            "2016-12-31T23:59:60Z",
            "2024-03-04t09:15:22z",
            "2024-03-04T09:15:22-00:00",
        ] {
            assert_eq!(parse_iso_common(s), None, "{s}");
        }
    }

    #[test]
    fn time_priority_skips_unparseable() {
        let v = json!({"@timestamp": "garbage", "timestamp": "2024-03-04T09:15:22Z", "time": 1});
        assert_eq!(extract_facts(&v).time, Some(ts("2024-03-04T09:15:22Z")));
        let v = json!({"Event": {"System": {"TimeCreated": {"#attributes": {"SystemTime": "2024-03-04T09:15:22.1234567Z"}}}}});
        assert_eq!(
            extract_facts(&v).time,
            Some(ts("2024-03-04T09:15:22.1234567Z"))
        );
    }

    #[test]
    fn hashes() {
        let mut out = Vec::new();
        push_hashes(
            "SHA1=5A1A2E9B5C3F7D6E8A9B0C1D2E3F4A5B6C7D8E9F,MD5=0123456789ABCDEF0123456789ABCDEF,IMPHASH=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &mut out,
        );
        push_hashes("0123456789ABCDEF0123456789ABCDEF", &mut out);
        push_hashes("not-a-hash", &mut out);
        assert_eq!(
            out,
            vec![
                "5A1A2E9B5C3F7D6E8A9B0C1D2E3F4A5B6C7D8E9F",
                "0123456789ABCDEF0123456789ABCDEF"
            ]
        );
    }

    #[test]
    fn pids() {
        assert_eq!(parse_pid(&json!(4412)), Some(4412));
        assert_eq!(parse_pid(&json!("4412")), Some(4412));
        assert_eq!(parse_pid(&json!("0x1a2c")), Some(0x1a2c));
        assert_eq!(parse_pid(&json!("-")), None);
        assert_eq!(parse_pid(&json!(-1)), None);
    }

    #[test]
    fn conditions_on_id_source_and_dest() {
        let sigma = json!({"title": "Mimikatz", "id": "0d894093-71bc-43c3-8c4d-ecfa28dcadcb"});
        let f = extract_facts(&sigma);
        assert_eq!(
            f.rule.and_then(|r| r.id).as_deref(),
            Some("0d894093-71bc-43c3-8c4d-ecfa28dcadcb")
        );
        assert_eq!(f.record_id, None);

        let other = json!({"id": 42, "source": "WinEventLog:Security", "dest": "ws-0042"});
        let f = extract_facts(&other);
        assert_eq!(f.rule, None);
        assert_eq!(f.record_id.as_deref(), Some("42"));
        assert_eq!(f.log_file_path, None);
        assert_eq!(f.entities.hosts, vec!["ws-0042"]);
        assert!(f.entities.destination_ips.is_empty());

        let f = extract_facts(&json!({"source": "/var/log/secure", "dest": "10.0.0.5"}));
        assert_eq!(f.log_file_path.as_deref(), Some("/var/log/secure"));
        assert!(f.entities.hosts.is_empty());
        assert_eq!(f.entities.destination_ips, vec!["10.0.0.5"]);
        let f = extract_facts(&json!({"source": "C:\\Logs\\Security.evtx"}));
        assert_eq!(f.log_file_path.as_deref(), Some("C:\\Logs\\Security.evtx"));
        // ECS `source` is an object: never a log path.
        assert_eq!(
            extract_facts(&json!({"source": {"ip": "1.2.3.4"}})).log_file_path,
            None
        );
    }

    #[test]
    fn placeholders_and_invalid_ips_skipped() {
        let v = json!({
            "SubjectUserName": "-", "TargetUserName": "bob", "user": "unknown",
            "IpAddress": "-", "src_ip": "not-an-ip", "src": "::ffff:10.0.0.7",
            "host": {"name": "h1"}, "hostname": "h1"
        });
        let f = extract_facts(&v);
        assert_eq!(f.entities.users, vec!["bob"]);
        assert_eq!(f.entities.source_ips, vec!["::ffff:10.0.0.7"]);
        assert_eq!(f.entities.hosts, vec!["h1"]);
    }

    #[test]
    fn windows_event_data_containers() {
        let v = json!({"Event": {
            "System": {"Computer": "DC01", "EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 7045}, "EventRecordID": 991},
            "EventData": {"SubjectUserName": "alice", "NewProcessName": "C:\\x.exe", "NewProcessId": "0x10", "ParentProcessName": "C:\\p.exe"}
        }});
        let f = extract_facts(&v);
        assert_eq!(f.entities.hosts, vec!["DC01"]);
        assert_eq!(f.entities.users, vec!["alice"]);
        assert_eq!(f.event_code.as_deref(), Some("7045"));
        assert_eq!(f.record_id.as_deref(), Some("991"));
        let p = f.entities.process.unwrap();
        assert_eq!(
            (p.pid, p.executable.as_deref()),
            (Some(16), Some("C:\\x.exe"))
        );
        assert_eq!(p.parent_executable.as_deref(), Some("C:\\p.exe"));
    }

    #[test]
    fn products() {
        assert_eq!(
            detect_product(&json!({"kibana.alert.uuid": "x", "rule": {"mitre": {}}})),
            Some("elastic")
        );
        assert_eq!(
            detect_product(&json!({"signal": {"rule": {"id": "x"}}})),
            Some("elastic")
        );
        assert_eq!(
            detect_product(&json!({"rule": {"mitre": {"id": []}}})),
            Some("wazuh")
        );
        assert_eq!(
            detect_product(&json!({"agent": {"id": "001"}, "rule": {"level": 3}})),
            Some("wazuh")
        );
        assert_eq!(
            detect_product(&json!({"agent": {"id": "001"}, "rule": {"name": "x"}})),
            None
        );
        assert_eq!(detect_product(&json!({"_time": "1"})), Some("splunk"));
        assert_eq!(
            detect_product(&json!({"event_type": "alert", "alert": {}})),
            Some("suricata")
        );
        assert_eq!(
            detect_product(&json!({"event_type": "dns", "alert": {}})),
            None
        );
        assert_eq!(detect_product(&json!({"RuleTitle": "x"})), Some("hayabusa"));
        assert_eq!(
            detect_product(&json!({"tags": ["windows", "attack.t1059"]})),
            Some("sigma")
        );
        assert_eq!(detect_product(&json!({"tags": ["windows"]})), None);
        assert_eq!(
            detect_product(&json!({"type": "indicator", "spec_version": "2.1"})),
            Some("stix")
        );
        assert_eq!(
            detect_product(&json!({"threat.technique.id": "T1059"})),
            Some("ecs")
        );
        assert_eq!(detect_product(&json!({})), None);
    }

    #[test]
    fn table_fits_the_live_mask() {
        let t = &*COMPILED;
        assert!(t.entries.len() <= LIVE_CAP, "{} entries", t.entries.len());
        assert!(t.entries.iter().all(|e| e.path.head().index().is_some()));
    }

    #[test]
    fn empty_record_gives_nothing() {
        assert_eq!(extract_facts(&json!({})), RecordFacts::default());
        assert_eq!(extract_facts(&json!("x")), RecordFacts::default());
    }
}
