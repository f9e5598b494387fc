//! Ordered attack sequences: incident timelines as CSV or JSON, each row
//! (record) one step, oldest first, read as linear flows (step i -> step
//! i + 1 an edge) that the next-move model learns from like Attack Flows.
//!
//! What a row gives:
//!
//! - **techniques**: one or several technique IDs (separated by `;`, `,`,
//!   `|` or spaces) in the first column (key) that exists of `technique_ids`,
//!   `technique_id`, `techniques`, `technique`, `attack_ids`, `attack_id`;
//!   in JSON also ECS `threat.technique.subtechnique.id` and the
//!   `threat.technique.id` entries no listed sub-technique accounts for
//!   (what `killchain map` and `hunt` write);
//! - **tactic** (optional): `tactic_id`, `tactic`, `tactics` (ECS
//!   `threat.tactic.id` in JSON), an ID (`TA0002`) or a name or shortname
//!   (`execution`), resolved against the kb when the flows are resolved;
//!   used only when the row names exactly one;
//! - **incident** (optional): `incident_id`, `incident`, `sequence_id`,
//!   `sequence`: rows with the same value form one incident (in first-seen
//!   order); without the column the whole file is one incident.
//!
//! Several techniques in one row are one step done together: parallel
//! actions, each linked to every action of the next step. A row with
//! neither a technique nor a tactic is skipped (the sequence goes on). In
//! JSON, records are ordered by `@timestamp` when every record with a
//! technique or tactic has one (string order: RFC 3339 UTC, what `map`
//! writes), else kept in file order; CSV rows are kept in file order.
//!
//! Errors: a file that is neither CSV with a technique column nor JSON
//! records, or where no row names a technique or tactic, is an `Err`
//! naming the file (and the line, for a CSV header that is not UTF-8); a
//! malformed technique ID or a malformed record (a JSON line that does not
//! parse, a CSV record that is not UTF-8) is a [`FlowWarning`] naming the
//! file and the row (`line N`, the line the record starts on), and the rest
//! is kept. A CSV quoted field that never closes properly (a stray `"`:
//! unclosed at the end of the file, or closed by a later quote that is not
//! at the end of a field) is one warning naming the line of the opening
//! quote; the records before its record are kept, the rest of the file is
//! skipped (the `csv` crate would read the lines between as one field).

use serde_json::Value;

use crate::flow::{normalise_tactic, normalise_technique, Action, Flow, FlowFile, FlowWarning};
use crate::AnticipateError;

/// Technique columns (keys), most specific first.
const TECHNIQUE_KEYS: [&str; 6] = [
    "technique_ids",
    "technique_id",
    "techniques",
    "technique",
    "attack_ids",
    "attack_id",
];
const TACTIC_KEYS: [&str; 3] = ["tactic_id", "tactic", "tactics"];
const INCIDENT_KEYS: [&str; 4] = ["incident_id", "incident", "sequence_id", "sequence"];

/// One row: where it starts, its incident, techniques (raw) and tactic (raw).
#[derive(Debug, Default)]
struct Row {
    line: usize,
    incident: Option<String>,
    techniques: Vec<String>,
    tactic: Option<String>,
}

/// Parse a sequence file, CSV with a header row or JSON (one object per line,
/// or an array of objects), told apart by content. `file` names it in flows,
/// errors and warnings.
pub fn parse_sequence_file(bytes: &[u8], file: &str) -> Result<FlowFile, AnticipateError> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let mut warnings = Vec::new();
    let rows = match std::str::from_utf8(bytes) {
        Ok(text) if matches!(text.trim_start().chars().next(), Some('{' | '[')) => {
            json_rows(text, file, &mut warnings)?
        }
        // JSON must be UTF-8 text as a whole; CSV is checked record by
        // record, so that a bad record is reported on its line.
        Err(e) if matches!(bytes.trim_ascii_start().first(), Some(b'{' | b'[')) => {
            return Err(AnticipateError::NotASequence {
                input: file.to_string(),
                reason: format!("not UTF-8 text: {e}"),
            })
        }
        _ => csv_rows(bytes, file, &mut warnings)?,
    };
    let flows = flows_of(rows, file, &mut warnings);
    if flows.is_empty() && warnings.is_empty() {
        return Err(AnticipateError::NotASequence {
            input: file.to_string(),
            reason: "no row names a technique or a tactic".into(),
        });
    }
    Ok(FlowFile { flows, warnings })
}

/// Split a cell into IDs.
fn split_ids(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| matches!(c, ';' | ',' | '|') || c.is_whitespace())
        .filter(|x| !x.is_empty())
}

/// Header names compared case-insensitively, spaces and hyphens as `_`.
fn header_key(s: &str) -> String {
    s.trim().to_ascii_lowercase().replace([' ', '-'], "_")
}

/// CSV (RFC 4180, read with the `csv` crate): a header row, then one row
/// per record. Fields in double quotes may hold commas, line breaks and
/// `""`; rows may have fewer or more fields than the header; blank rows
/// (empty, or only whitespace and commas) are skipped. A record that is not
/// UTF-8 is a warning on its line (the record is skipped), a header that is
/// not, an error. A quoted field that never closes properly
/// ([`unterminated_quote`]) would swallow the lines after it: it is one
/// warning on the quote's line, and the records from its record to the end
/// are skipped (in the header: an error).
fn csv_rows(
    bytes: &[u8],
    file: &str,
    warnings: &mut Vec<FlowWarning>,
) -> Result<Vec<Row>, AnticipateError> {
    let not = |reason: String| AnticipateError::NotASequence {
        input: file.to_string(),
        reason,
    };
    // The line a record starts on. csv's position is where the reader stood
    // before the record: the empty lines it skipped to reach the record
    // come first.
    let start_line = |pos: &csv::Position| {
        let at = usize::try_from(pos.byte()).unwrap_or(usize::MAX);
        let skipped = bytes
            .get(at..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .filter(|&&b| b == b'\n')
            .count();
        usize::try_from(pos.line())
            .unwrap_or(usize::MAX)
            .saturating_add(skipped)
    };
    // A stray quote swallows the lines after it into one field, silently
    // (the csv crate closes the field at the next quote or the end of the
    // input). Found first: the records before its record are read, the
    // rest of the file is skipped with one warning naming the quote's line.
    let unterminated = unterminated_quote(bytes);
    let readable = unterminated.map_or(bytes, |(record, _)| &bytes[..record]);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(readable);
    let mut record = csv::StringRecord::new();
    let mut header: Option<Vec<String>> = None;
    let mut records: Vec<(usize, csv::StringRecord)> = Vec::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) if record.iter().all(|f| f.trim().is_empty()) => {}
            Ok(true) => {
                let line = record.position().map_or(0, start_line);
                if header.is_none() {
                    header = Some(record.iter().map(header_key).collect());
                } else {
                    records.push((line, std::mem::take(&mut record)));
                }
            }
            Err(e) => {
                let line = e.position().map_or(0, start_line);
                match e.kind() {
                    csv::ErrorKind::Utf8 { err, .. } if header.is_some() => {
                        warnings.push(FlowWarning {
                            file: file.to_string(),
                            object: format!("line {line}"),
                            reason: format!(
                                "field {} is not UTF-8 text (record skipped)",
                                err.field() + 1
                            ),
                        })
                    }
                    csv::ErrorKind::Utf8 { err, .. } => {
                        return Err(not(format!(
                            "line {line}: header field {} is not UTF-8 text",
                            err.field() + 1
                        )))
                    }
                    _ => return Err(not(format!("line {line}: invalid CSV: {e}"))),
                }
            }
        }
    }
    let Some(header) = header else {
        return Err(not(match unterminated {
            Some((_, quote)) => format!(
                "line {}: a quoted field in the header never closes properly (a stray \" ?)",
                line_of(bytes, quote)
            ),
            None => "empty file".into(),
        }));
    };
    if let Some((record, quote)) = unterminated {
        let (from, last) = (
            line_of(bytes, record),
            line_of(bytes, bytes.trim_ascii_end().len()),
        );
        warnings.push(FlowWarning {
            file: file.to_string(),
            object: format!("line {}", line_of(bytes, quote)),
            reason: format!(
                "a quoted field opens here and never closes properly (a stray \" ?); lines {from}-{last}, from its record to the end of the file, are skipped"
            ),
        });
    }
    let col = |keys: &[&str]| keys.iter().find_map(|k| header.iter().position(|h| h == k));
    let tech = col(&TECHNIQUE_KEYS).ok_or_else(|| {
        not(format!(
            "no technique column in the header (one of {})",
            TECHNIQUE_KEYS.join(", ")
        ))
    })?;
    let tactic = col(&TACTIC_KEYS);
    let incident = col(&INCIDENT_KEYS);
    let cell = |r: &csv::StringRecord, c: Option<usize>| {
        c.and_then(|c| r.get(c))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    Ok(records
        .iter()
        .map(|(line, r)| Row {
            line: *line,
            incident: cell(r, incident),
            techniques: cell(r, Some(tech))
                .map(|s| split_ids(&s).map(str::to_string).collect())
                .unwrap_or_default(),
            tactic: cell(r, tactic),
        })
        .collect())
}

/// Where the quoting of a CSV file breaks, as (byte offset of the record,
/// byte offset of the opening quote): a quoted field that is never closed,
/// or one that runs over a line break and whose closing quote is followed
/// by something other than a comma or a line break (a stray quote paired
/// with a later one: `5" disk` ... `,"ok"`). Either way the `csv` crate
/// would read the lines between as one field. `None` if the quoting holds.
/// The `csv` crate's defaults: a quote opens a field only as its first
/// byte, `""` inside is a quote, after the closing quote the field runs on
/// unquoted (so `"a"b` on one line is `ab`, and not reported).
fn unterminated_quote(bytes: &[u8]) -> Option<(usize, usize)> {
    #[derive(PartialEq)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let (mut state, mut record, mut quote, mut lines) = (State::FieldStart, 0, 0, false);
    for (i, &b) in bytes.iter().enumerate() {
        state = match (state, b) {
            (State::Quoted, b'"') => State::QuoteInQuoted,
            (State::Quoted, b) => {
                lines |= matches!(b, b'\r' | b'\n');
                State::Quoted
            }
            (State::QuoteInQuoted, b'"') => State::Quoted,
            (State::QuoteInQuoted, b) if lines && !matches!(b, b',' | b'\r' | b'\n') => {
                return Some((record, quote))
            }
            (State::FieldStart, b'"') => {
                (quote, lines) = (i, false);
                State::Quoted
            }
            (_, b',') => State::FieldStart,
            (_, b'\r' | b'\n') => {
                record = i + 1;
                State::FieldStart
            }
            _ => State::Unquoted,
        };
    }
    (state == State::Quoted).then_some((record, quote))
}

/// The 1-based line of a byte offset.
fn line_of(bytes: &[u8], at: usize) -> usize {
    1 + bytes[..at.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// A field by dotted path: nested objects, or a flat dotted key.
fn field<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    v.get(path)
        .or_else(|| path.split('.').try_fold(v, |cur, k| cur.get(k)))
}

/// Strings of a string, a number or an array of them.
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Number(n)) => vec![n.to_string()],
        Some(Value::Array(a)) => a.iter().flat_map(|x| strings(Some(x))).collect(),
        _ => Vec::new(),
    }
}

/// What a finding record says was done, read from its ECS fields as `map`
/// and `hunt` write them (docs/output-schema.md): the sub-techniques, then
/// the parent techniques no listed sub-technique accounts for; the tactic
/// IDs; `@timestamp` as written. Shared by the sequence reader and
/// `killchain predict --findings`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EcsStep {
    pub techniques: Vec<String>,
    pub tactics: Vec<String>,
    pub timestamp: Option<String>,
}

/// See [`EcsStep`]. Fields may be nested or flat dotted keys.
pub fn ecs_step(record: &Value) -> EcsStep {
    let subs = strings(field(record, "threat.technique.subtechnique.id"));
    let mut techniques = subs.clone();
    for t in strings(field(record, "threat.technique.id")) {
        if !subs.iter().any(|s| s.starts_with(&format!("{t}."))) && !techniques.contains(&t) {
            techniques.push(t);
        }
    }
    EcsStep {
        techniques,
        tactics: strings(field(record, "threat.tactic.id")),
        timestamp: field(record, "@timestamp")
            .and_then(Value::as_str)
            .map(str::to_string),
    }
}

fn json_rows(
    text: &str,
    file: &str,
    warnings: &mut Vec<FlowWarning>,
) -> Result<Vec<Row>, AnticipateError> {
    // (line, record)
    let records: Vec<(usize, Value)> = if text.trim_start().starts_with('[') {
        let v: Value = serde_json::from_str(text).map_err(|source| AnticipateError::Json {
            input: file.to_string(),
            source,
        })?;
        match v {
            Value::Array(a) => a.into_iter().map(|x| (0, x)).collect(),
            _ => Vec::new(),
        }
    } else {
        let mut out = Vec::new();
        for (i, l) in text.lines().enumerate() {
            if l.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(l) {
                Ok(v) => out.push((i + 1, v)),
                Err(e) => warnings.push(FlowWarning {
                    file: file.to_string(),
                    object: format!("line {}", i + 1),
                    reason: format!("invalid JSON: {e} (record skipped)"),
                }),
            }
        }
        out
    };
    let mut rows: Vec<(Option<String>, Row)> = Vec::new();
    for (n, (line, v)) in records.iter().enumerate() {
        let object = if *line > 0 {
            format!("line {line}")
        } else {
            format!("[{n}]")
        };
        if !v.is_object() {
            warnings.push(FlowWarning {
                file: file.to_string(),
                object,
                reason: "not a JSON object (record skipped)".into(),
            });
            continue;
        }
        let first = |keys: &[&str]| {
            keys.iter()
                .map(|k| strings(field(v, k)))
                .find(|s| !s.is_empty())
                .unwrap_or_default()
        };
        let mut techniques: Vec<String> = first(&TECHNIQUE_KEYS)
            .iter()
            .flat_map(|s| split_ids(s).map(str::to_string).collect::<Vec<_>>())
            .collect();
        let ecs = ecs_step(v);
        if techniques.is_empty() {
            techniques = ecs.techniques;
        }
        let mut tactics = first(&TACTIC_KEYS);
        if tactics.is_empty() {
            tactics = ecs.tactics;
        }
        let ts = ecs.timestamp;
        rows.push((
            ts,
            Row {
                line: *line,
                incident: first(&INCIDENT_KEYS).into_iter().next(),
                techniques,
                tactic: (tactics.len() == 1).then(|| tactics[0].clone()),
            },
        ));
    }
    rows.retain(|(_, r)| !r.techniques.is_empty() || r.tactic.is_some());
    if rows.iter().all(|(t, _)| t.is_some()) {
        // Stable: ties keep file order.
        rows.sort_by(|a, b| a.0.cmp(&b.0));
    }
    Ok(rows.into_iter().map(|(_, r)| r).collect())
}

/// An incident being built: its key, actions, and steps as action ranges.
type Incident = (Option<String>, Vec<Action>, Vec<(usize, usize)>);

/// Rows into one linear flow per incident: each row a step of parallel
/// actions, every action of a step linked to every action of the next.
fn flows_of(rows: Vec<Row>, file: &str, warnings: &mut Vec<FlowWarning>) -> Vec<Flow> {
    // Incidents in first-seen order.
    let mut incidents: Vec<Incident> = Vec::new();
    for row in rows {
        let object = if row.line > 0 {
            format!("line {}", row.line)
        } else {
            "row".to_string()
        };
        let mut techniques: Vec<String> = Vec::new();
        for raw in &row.techniques {
            match normalise_technique(raw) {
                Some(t) if !techniques.contains(&t) => techniques.push(t),
                Some(_) => {}
                None => warnings.push(FlowWarning {
                    file: file.to_string(),
                    object: object.clone(),
                    reason: format!("technique {raw:?} is not an ATT&CK technique ID (left out)"),
                }),
            }
        }
        // A tactic ID is normalised; a name or shortname is kept for the kb.
        let tactic = row
            .tactic
            .as_deref()
            .map(|t| normalise_tactic(t).unwrap_or_else(|| t.trim().to_string()));
        if techniques.is_empty() && tactic.is_none() {
            continue;
        }
        let i = match incidents.iter().position(|x| x.0 == row.incident) {
            Some(i) => i,
            None => {
                incidents.push((row.incident.clone(), Vec::new(), Vec::new()));
                incidents.len() - 1
            }
        };
        let (_, actions, steps) = &mut incidents[i];
        let start = actions.len();
        let mut push = |technique: Option<String>| {
            actions.push(Action {
                id: format!("{object}#{}", actions.len() - start + 1),
                name: technique.clone().unwrap_or_default(),
                technique,
                tactic: tactic.clone(),
            })
        };
        if techniques.is_empty() {
            push(None);
        } else {
            techniques.into_iter().for_each(|t| push(Some(t)));
        }
        steps.push((start, actions.len()));
    }
    let single = incidents.len() == 1;
    incidents
        .into_iter()
        .map(|(key, actions, steps)| {
            let edges = steps
                .windows(2)
                .flat_map(|w| {
                    let ((a0, a1), (b0, b1)) = (w[0], w[1]);
                    (a0..a1).flat_map(move |a| (b0..b1).map(move |b| (a, b)))
                })
                .collect();
            let (name, source) = match key {
                Some(k) if !single => (k.clone(), format!("{file}#{k}")),
                Some(k) => (k, file.to_string()),
                None => (file.to_string(), file.to_string()),
            };
            Flow {
                name,
                source,
                actions,
                edges,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> FlowFile {
        parse_sequence_file(text.as_bytes(), "t.csv").unwrap()
    }
    fn techniques(f: &Flow) -> Vec<&str> {
        f.actions
            .iter()
            .map(|a| a.technique.as_deref().unwrap_or("-"))
            .collect()
    }

    #[test]
    fn csv_rows_are_steps_and_a_row_of_several_techniques_is_parallel() {
        // Quoted fields with commas and a line break; the technique column
        // is found by name, whatever its position; a row without a
        // technique or tactic is skipped and the chain goes on.
        let f = parse(
            "step,title,technique_ids,tactic\n\
             1,\"Phish, then run\",T1566.001,TA0001\n\
             2,\"Two things\nat once\",\"T1059.001; t1105\",\n\
             3,nothing here,,\n\
             4,dump,1003.001,credential-access\n",
        );
        assert!(f.warnings.is_empty(), "{:?}", f.warnings);
        assert_eq!(f.flows.len(), 1);
        let flow = &f.flows[0];
        assert_eq!(
            (flow.source.as_str(), flow.name.as_str()),
            ("t.csv", "t.csv")
        );
        assert_eq!(
            techniques(flow),
            ["T1566.001", "T1059.001", "T1105", "T1003.001"]
        );
        // 0 -> both of the second step, both -> the fourth row's action.
        assert_eq!(flow.edges, [(0, 1), (0, 2), (1, 3), (2, 3)]);
        assert_eq!(flow.actions[0].tactic.as_deref(), Some("TA0001"));
        assert_eq!(flow.actions[1].tactic, None);
        // A name is kept for the kb to resolve.
        assert_eq!(flow.actions[3].tactic.as_deref(), Some("credential-access"));
        // The rows' lines name the actions (the quoted line break counts).
        assert_eq!(flow.actions[3].id, "line 6#1");
    }

    #[test]
    fn an_unclosed_quote_is_one_warning_on_its_line_and_the_rest_is_skipped() {
        // A stray quote in row 3's title used to pair with the first quote
        // of row 5: rows 3 to 5 became one garbled row, T1105 and T1003
        // vanished without a word.
        let f = parse(
            "technique,title\n\
             T1566.001,\"closed, \"\"quoted\"\"\nover two lines\"\n\
             T1059.001,\"stray quote\n\
             T1105,ok\n\
             T1003,\"ok\"\n",
        );
        assert_eq!(techniques(&f.flows[0]), ["T1566.001"]);
        let w: Vec<String> = f.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            w,
            ["t.csv: line 4: a quoted field opens here and never closes properly (a stray \" ?); lines 4-6, from its record to the end of the file, are skipped"]
        );
        // Never closed at all: the same, from its line.
        let f = parse("technique,title\nT1566.001,ok\nT1105,\"stray\nT1003,ok\n");
        assert_eq!(techniques(&f.flows[0]), ["T1566.001"]);
        assert_eq!(f.warnings.len(), 1);
        assert!(f.warnings[0]
            .to_string()
            .starts_with("t.csv: line 3: a quoted field opens here and never closes properly"));
        // In the header: an error naming the line.
        let e = parse_sequence_file(b"\ntechnique,\"title\nT1105,x\n", "x.csv").unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.csv: not a sequence file: line 2: a quoted field in the header never closes properly (a stray \" ?)"
        );
        // Quotes inside an unquoted field, doubled quotes and a quote closed
        // on the last byte are not unclosed.
        for ok in [
            "technique,title\nT1105,5\" disk\n",
            "technique,title\nT1105,\"a \"\"b\"\"\"",
            "technique,title\nT1105,\"a\"b\n",
        ] {
            assert_eq!(unterminated_quote(ok.as_bytes()), None, "{ok:?}");
            assert!(parse(ok).warnings.is_empty(), "{ok:?}");
        }
    }

    #[test]
    fn an_incident_column_splits_a_file_into_incidents() {
        let f = parse(
            "Incident ID,Technique\n\
             a,T1566.001\n\
             b,T1190\n\
             a,T1204.002\n\
             b,T1505.003\n\
             b,T1003\n",
        );
        let got: Vec<(&str, Vec<&str>, usize)> = f
            .flows
            .iter()
            .map(|x| (x.source.as_str(), techniques(x), x.edges.len()))
            .collect();
        assert_eq!(
            got,
            [
                ("t.csv#a", vec!["T1566.001", "T1204.002"], 1),
                ("t.csv#b", vec!["T1190", "T1505.003", "T1003"], 2),
            ]
        );
    }

    #[test]
    fn bad_ids_are_warnings_and_a_file_without_a_technique_column_is_an_error() {
        let f = parse("technique\nT1059.001\nPowerShell\nT1105\n");
        assert_eq!(techniques(&f.flows[0]), ["T1059.001", "T1105"]);
        assert_eq!(f.flows[0].edges, [(0, 1)]);
        assert_eq!(f.warnings.len(), 1);
        assert_eq!(
            f.warnings[0].to_string(),
            "t.csv: line 3: technique \"PowerShell\" is not an ATT&CK technique ID (left out)"
        );
        let e = parse_sequence_file(b"step,name\n1,phish\n", "x.csv").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("x.csv: not a sequence file: no technique column"),
            "{e}"
        );
        assert!(parse_sequence_file(b"", "x.csv").is_err());
        let e = parse_sequence_file(b"technique\n\n", "x.csv").unwrap_err();
        assert!(
            e.to_string()
                .ends_with("no row names a technique or a tactic"),
            "{e}"
        );
        let e = parse_sequence_file(br#"{"type": "bundle"}"#, "x.json").unwrap_err();
        assert!(
            e.to_string()
                .ends_with("no row names a technique or a tactic"),
            "{e}"
        );
    }

    #[test]
    fn csv_lines_blank_rows_bom_crlf_and_ragged_rows() {
        // A BOM, CRLF line ends, blank and whitespace-only lines (before the
        // header too), rows shorter and longer than the header, a doubled
        // quote, a last row without a line end: every warning names the
        // line its record starts on.
        let f = parse(
            "\u{feff}\r\n , \r\nTechnique,Tactic\r\nT1566.001\r\n\r\n\r\nbad1,,x,y\r\n\"say \"\"hi\"\"\"\r\n\
             \n   \nT1105,TA0011,extra\nbad2",
        );
        let warned: Vec<String> = f.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            warned,
            [
                "t.csv: line 7: technique \"bad1\" is not an ATT&CK technique ID (left out)",
                "t.csv: line 8: technique \"say\" is not an ATT&CK technique ID (left out)",
                "t.csv: line 8: technique \"\\\"hi\\\"\" is not an ATT&CK technique ID (left out)",
                "t.csv: line 12: technique \"bad2\" is not an ATT&CK technique ID (left out)",
            ]
        );
        assert_eq!(techniques(&f.flows[0]), ["T1566.001", "T1105"]);
        assert_eq!(f.flows[0].actions[0].id, "line 4#1");
        assert_eq!(f.flows[0].actions[1].id, "line 11#1");
        assert_eq!(f.flows[0].actions[1].tactic.as_deref(), Some("TA0011"));
        // Only blank lines: empty.
        let e = parse_sequence_file(b"\n \n,,\n", "x.csv").unwrap_err();
        assert!(e.to_string().ends_with("empty file"), "{e}");
    }

    #[test]
    fn a_csv_record_that_is_not_utf8_is_a_warning_on_its_line() {
        let f = parse_sequence_file(
            b"technique,note\nT1059.001,\"two\nlines\"\nT1105,caf\xe9\nT1003\n",
            "t.csv",
        )
        .unwrap();
        let warned: Vec<String> = f.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            warned,
            ["t.csv: line 4: field 2 is not UTF-8 text (record skipped)"]
        );
        assert_eq!(techniques(&f.flows[0]), ["T1059.001", "T1003"]);
        assert_eq!(f.flows[0].actions[1].id, "line 5#1");
        // Every record bad: warnings, no flow, not an error.
        let f = parse_sequence_file(b"technique\n\xff\n", "t.csv").unwrap();
        assert!(f.flows.is_empty());
        assert_eq!(f.warnings[0].object, "line 2");
        // A header that is not UTF-8 is an error naming file and line.
        let e = parse_sequence_file(b"\n\ntechn\xffque\nT1105\n", "x.csv").unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.csv: not a sequence file: line 3: header field 1 is not UTF-8 text"
        );
        // JSON still has to be UTF-8 as a whole.
        let e = parse_sequence_file(b"{\"technique\": \"T1105\xff\"}", "x.json").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("x.json: not a sequence file: not UTF-8 text"),
            "{e}"
        );
    }

    #[test]
    fn json_records_are_ordered_by_timestamp_and_read_ecs_findings() {
        // The findings `map` writes (ECS), out of order; a bad line is a
        // warning; a record without techniques or tactic is no step.
        let text = r#"{"@timestamp": "2026-03-02T09:04:10Z", "threat": {"technique": {"id": ["T1059"], "subtechnique": {"id": ["T1059.001"]}}, "tactic": {"id": ["TA0002"]}}}
{"@timestamp": "2026-03-02T08:55:12Z", "threat.technique.id": "T1566", "threat.technique.subtechnique.id": "T1566.001"}
not json
{"@timestamp": "2026-03-02T09:00:00Z", "message": "nothing mapped"}
{"@timestamp": "2026-03-02T09:14:00Z", "technique": "T1003.001", "tactic": "TA0006"}
"#;
        let f = parse_sequence_file(text.as_bytes(), "f.ndjson").unwrap();
        assert_eq!(f.warnings.len(), 1, "{:?}", f.warnings);
        assert_eq!(f.warnings[0].object, "line 3");
        let flow = &f.flows[0];
        assert_eq!(techniques(flow), ["T1566.001", "T1059.001", "T1003.001"]);
        assert_eq!(flow.edges, [(0, 1), (1, 2)]);
        assert_eq!(flow.actions[1].tactic.as_deref(), Some("TA0002"));
        // A JSON array, file order without timestamps, an incident key.
        let arr = r#"[{"incident": "x", "techniques": ["T1190", "T1505.003"]}, {"incident": "x", "technique_id": "T1003"}]"#;
        let f = parse_sequence_file(arr.as_bytes(), "a.json").unwrap();
        assert_eq!(f.flows.len(), 1);
        assert_eq!(f.flows[0].name, "x");
        assert_eq!(techniques(&f.flows[0]), ["T1190", "T1505.003", "T1003"]);
        assert_eq!(f.flows[0].edges, [(0, 2), (1, 2)]);
    }
}
