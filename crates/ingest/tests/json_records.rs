//! Behaviour tests for the record reader: NDJSON and array mode, error
//! recovery and positions, gzip/plain inputs, and a randomized comparison
//! against serde_json parsing the whole input.

use std::io::{BufReader, Read, Write};

use killchain_ingest::{open_input, Format, JsonRecords, RecordError};
use serde_json::{json, Value};

/// A record or error reduced to something comparable.
type Item = Result<(Value, u64, u64), String>;

fn collect<R: std::io::BufRead>(records: JsonRecords<R>) -> Vec<Item> {
    records
        .map(|item| match item {
            Ok(r) => Ok((r.value, r.line, r.index)),
            Err(e) => Err(e.to_string()),
        })
        .collect()
}

/// Reads `input` with reader buffers of several sizes (so records, strings,
/// escapes and the BOM get split across chunks) and checks they all agree.
fn read(input: &[u8], format: Format) -> Vec<Item> {
    let expected = collect(JsonRecords::new(input, format));
    for capacity in [1, 2, 3, 5, 7, 16, 64] {
        let reader = BufReader::with_capacity(capacity, input);
        assert_eq!(
            collect(JsonRecords::new(reader, format)),
            expected,
            "buffer capacity {capacity}"
        );
    }
    expected
}

fn auto(input: &str) -> Vec<Item> {
    read(input.as_bytes(), Format::Auto)
}

fn ok(value: Value, line: u64, index: u64) -> Item {
    Ok((value, line, index))
}

fn err(message: &str) -> Item {
    Err(message.to_owned())
}

// ---------------------------------------------------------------- NDJSON

#[test]
fn ndjson_good_lines() {
    let items = auto("{\"a\":1}\n{\"b\":[1,2]}\n{\"c\":\"x\"}\n");
    assert_eq!(
        items,
        [
            ok(json!({"a": 1}), 1, 0),
            ok(json!({"b": [1, 2]}), 2, 1),
            ok(json!({"c": "x"}), 3, 2),
        ]
    );
}

#[test]
fn ndjson_blank_lines_crlf_and_no_final_newline() {
    let items = auto("\n  \n{\"a\":1}\r\n\r\n \t \r\n{\"a\":2}\r\n\n{\"a\":3}");
    assert_eq!(
        items,
        [
            ok(json!({"a": 1}), 3, 0),
            ok(json!({"a": 2}), 6, 1),
            ok(json!({"a": 3}), 8, 2),
        ]
    );
}

#[test]
fn ndjson_malformed_line_in_the_middle() {
    let items = auto("{\"a\":1}\n\n{\"a\": }\n{\"a\":3}\n{\"a\":\n{\"a\":5}\n");
    assert_eq!(
        items,
        [
            ok(json!({"a": 1}), 1, 0),
            err("line 3: expected value at column 7"),
            ok(json!({"a": 3}), 4, 2),
            err("line 5: EOF while parsing a value at column 5"),
            ok(json!({"a": 5}), 6, 4),
        ]
    );
}

#[test]
fn ndjson_error_variant_fields() {
    let errors: Vec<RecordError> = JsonRecords::new(&b"{}\n{\"a\" 1}\n"[..], Format::Ndjson)
        .filter_map(Result::err)
        .collect();
    assert_eq!(errors.len(), 1);
    let error = &errors[0];
    assert!(matches!(
        error,
        RecordError::Malformed { line: 2, index: 1, reason } if reason == "expected `:` at column 6"
    ));
    assert_eq!(error.line(), 2);
    assert_eq!(error.index(), Some(1));
    assert!(error.is_recoverable());
}

#[test]
fn ndjson_non_object_values_are_records() {
    let items = auto("5\n\"x\"\n[1]\nnull\n");
    assert_eq!(
        items,
        [
            ok(json!(5), 1, 0),
            ok(json!("x"), 2, 1),
            ok(json!([1]), 3, 2),
            ok(Value::Null, 4, 3),
        ]
    );
}

#[test]
fn ndjson_trailing_data_on_a_line_is_malformed() {
    let items = auto("{\"a\":1} {\"b\":2}\n{}\n");
    assert_eq!(
        items,
        [
            err("line 1: trailing characters at column 9"),
            ok(json!({}), 2, 1)
        ]
    );
}

#[test]
fn ndjson_invalid_utf8_is_malformed_and_skipped() {
    let mut input = b"{\"a\":\"ok\"}\n{\"a\":\"".to_vec();
    input.extend_from_slice(b"\xff\xfe");
    input.extend_from_slice(b"\"}\n{\"a\":\"caf\xc3\xa9\"}\n");
    let items = read(&input, Format::Auto);
    assert_eq!(items.len(), 3);
    assert_eq!(items[0], ok(json!({"a": "ok"}), 1, 0));
    let Err(message) = &items[1] else {
        panic!("expected an error, got {:?}", items[1]);
    };
    assert!(message.starts_with("line 2: "), "{message}");
    assert_eq!(items[2], ok(json!({"a": "café"}), 3, 2));
}

#[test]
fn ndjson_very_long_line() {
    let long = "x".repeat(3 * 1024 * 1024);
    let input = format!("{{\"a\":1}}\n{{\"long\":\"{long}\"}}\n{{\"a\":2}}\n");
    let items = collect(JsonRecords::new(input.as_bytes(), Format::Auto));
    assert_eq!(
        items,
        [
            ok(json!({"a": 1}), 1, 0),
            ok(json!({"long": long}), 2, 1),
            ok(json!({"a": 2}), 3, 2),
        ]
    );
}

/// Reads `input` with several reader buffer sizes and a maximum record size.
fn read_capped(input: &str, max: usize) -> Vec<Item> {
    let expected = collect(JsonRecords::new(input.as_bytes(), Format::Auto).with_max_record(max));
    for capacity in [1, 2, 3, 5, 7, 16, 64] {
        let reader = BufReader::with_capacity(capacity, input.as_bytes());
        assert_eq!(
            collect(JsonRecords::new(reader, Format::Auto).with_max_record(max)),
            expected,
            "buffer capacity {capacity}"
        );
    }
    expected
}

#[test]
fn records_longer_than_the_maximum_are_reported_and_skipped() {
    let big = "x".repeat(100);
    let too_long = "line 2: record longer than 50 bytes (the most read at once); skipped";
    // NDJSON: the long line is skipped whole, the next line is read.
    let ndjson = format!("{{\"a\":1}}\n{{\"big\":\"{big}\"}}\n{{\"b\":2}}\n");
    assert_eq!(
        read_capped(&ndjson, 50),
        [
            ok(json!({"a": 1}), 1, 0),
            err(too_long),
            ok(json!({"b": 2}), 3, 2)
        ]
    );
    // Array: an element with nested brackets, a comma and a bracket inside
    // strings, and a line break, in the middle and as the last element.
    let element = format!("{{\"big\": \"{big},]\", \"n\": [1, [2]],\n \"m\": {{}}}}");
    let array = format!("[{{\"a\":1}},\n {element},\n {{\"b\":2}},\n {element}]\n[{{\"c\":3}}]");
    assert_eq!(
        read_capped(&array, 50),
        [
            ok(json!({"a": 1}), 1, 0),
            err(too_long),
            ok(json!({"b": 2}), 4, 2),
            err("line 5: record longer than 50 bytes (the most read at once); skipped"),
            ok(json!({"c": 3}), 7, 4),
        ]
    );
    // The same inputs under the default maximum: everything is read.
    assert!(read(ndjson.as_bytes(), Format::Auto)
        .iter()
        .all(Result::is_ok));
    assert!(read(array.as_bytes(), Format::Auto)
        .iter()
        .all(Result::is_ok));
    // A long element cut off by the end of the input is truncated.
    let cut = format!("[{{\"a\":1}}, {{\"big\": \"{big}");
    let items = read_capped(&cut, 50);
    assert_eq!(items.len(), 2);
    assert!(
        items[1].as_ref().is_err_and(|e| e.contains("line 1")),
        "{items:?}"
    );
}

#[test]
fn explicit_ndjson_reads_arrays_as_values() {
    let items = read(b"[1,2]\n[3]\n", Format::Ndjson);
    assert_eq!(items, [ok(json!([1, 2]), 1, 0), ok(json!([3]), 2, 1)]);
}

// ---------------------------------------------------------------- arrays

#[test]
fn array_pretty_printed_start_lines() {
    let input = "[\n  {\n    \"a\": 1,\n    \"b\": [\n      2\n    ]\n  },\n  {\n    \"c\": 3\n  }\n  ,  \"s\"\n]\n";
    assert_eq!(
        auto(input),
        [
            ok(json!({"a": 1, "b": [2]}), 2, 0),
            ok(json!({"c": 3}), 8, 1),
            ok(json!("s"), 11, 2),
        ]
    );
}

#[test]
fn array_nested_brackets_and_tricky_strings() {
    let input =
        r#"[{"a": "]}", "b": [[1, {"c": ","}], []], "d": "\"]", "e": "\\"}, "[{\"", {"f": {}}]"#;
    let whole: Value = serde_json::from_str(input).unwrap();
    let expected: Vec<Item> = whole
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, v)| ok(v.clone(), 1, i as u64))
        .collect();
    assert_eq!(auto(input), expected);
}

#[test]
fn array_malformed_element_is_skipped() {
    let input = "[\n  {\"a\": 1},\n  {\"a\": },\n  {\"a\":\n    [1 2]},\n  {\"a\": 4}\n]\n";
    assert_eq!(
        auto(input),
        [
            ok(json!({"a": 1}), 2, 0),
            err("line 3: expected value at column 9"),
            err("line 4: expected `,` or `]` at line 5 column 8"),
            ok(json!({"a": 4}), 6, 3),
        ]
    );
}

#[test]
fn array_mismatched_brackets_recover() {
    // The stray `}` stays with its element; the next element parses.
    let items = auto("[{\"a\":1}}, {\"b\":2}]");
    assert_eq!(items.len(), 2);
    assert!(matches!(&items[0], Err(m) if m.starts_with("line 1: trailing characters")));
    assert_eq!(items[1], ok(json!({"b": 2}), 1, 1));
}

#[test]
fn array_stray_commas() {
    assert_eq!(
        auto("[1,,2]"),
        [
            ok(json!(1), 1, 0),
            err("line 1: expected a value, found `,`"),
            ok(json!(2), 1, 2),
        ]
    );
    assert_eq!(
        auto("[1,\n]"),
        [
            ok(json!(1), 1, 0),
            err("line 2: expected a value after `,`, found `]`"),
        ]
    );
    assert_eq!(
        auto("[,1]"),
        [
            err("line 1: expected a value, found `,`"),
            ok(json!(1), 1, 1)
        ]
    );
}

#[test]
fn array_truncated_inside_element() {
    let input = "[\n  {\"a\": 1},\n  {\"b\": [1,\n   2\n";
    assert_eq!(
        auto(input),
        [
            ok(json!({"a": 1}), 2, 0),
            err("line 3: input ended inside the record that starts here"),
        ]
    );
    // Unterminated string.
    assert_eq!(
        auto("[\"ab"),
        [err(
            "line 1: input ended inside the record that starts here"
        )]
    );
    // A number not followed by `,` or `]` may itself be cut short.
    assert_eq!(
        auto("[1, 23"),
        [
            ok(json!(1), 1, 0),
            err("line 1: input ended inside the record that starts here"),
        ]
    );
    // A `}` typed for the closing `]`: the element is complete but the
    // stray `}` makes it malformed; then the array is unclosed.
    assert_eq!(
        auto("[{\"a\": 1}, {\"b\": 2}}"),
        [
            ok(json!({"a": 1}), 1, 0),
            err("line 1: trailing characters at column 20"),
            err("line 1: input ended before the JSON array opened here was closed"),
        ]
    );
    let errors: Vec<_> = JsonRecords::new(&b"[{"[..], Format::Auto)
        .filter_map(Result::err)
        .collect();
    assert!(matches!(
        errors[..],
        [RecordError::Truncated { line: 1, index: 0 }]
    ));
}

#[test]
fn array_missing_closing_bracket() {
    assert_eq!(
        auto("\n[{\"a\": 1},\n{\"a\": 2}\n"),
        [
            ok(json!({"a": 1}), 2, 0),
            ok(json!({"a": 2}), 3, 1),
            err("line 2: input ended before the JSON array opened here was closed"),
        ]
    );
    // A complete last element is still returned.
    assert_eq!(
        auto("[{\"a\": 1},\n  \"b\" \n\n"),
        [
            ok(json!({"a": 1}), 1, 0),
            ok(json!("b"), 2, 1),
            err("line 1: input ended before the JSON array opened here was closed"),
        ]
    );
    assert_eq!(
        auto("[1,"),
        [
            ok(json!(1), 1, 0),
            err("line 1: input ended before the JSON array opened here was closed"),
        ]
    );
    assert_eq!(
        auto("["),
        [err(
            "line 1: input ended before the JSON array opened here was closed"
        )]
    );
}

#[test]
fn array_trailing_garbage_reported_once() {
    assert_eq!(
        auto("[1, 2]\n\nnot json ] [ {\n"),
        [
            ok(json!(1), 1, 0),
            ok(json!(2), 1, 1),
            err("line 3: unexpected data outside a JSON array (expected `[`); the rest of the input is not read"),
        ]
    );
}

#[test]
fn explicit_array_format_on_non_array_input() {
    let items = read(b"{\"a\":1}\n", Format::JsonArray);
    assert_eq!(
        items,
        [err(
            "line 1: unexpected data outside a JSON array (expected `[`); the rest of the input is not read"
        )]
    );
}

#[test]
fn concatenated_arrays() {
    assert_eq!(
        auto("[1][2, 3]\n[]\n[\"x\"]\n"),
        [
            ok(json!(1), 1, 0),
            ok(json!(2), 1, 1),
            ok(json!(3), 1, 2),
            ok(json!("x"), 3, 3),
        ]
    );
}

#[test]
fn empty_inputs() {
    for input in ["", " \n\t\r\n", "[]", "[ ]", " [\n]\n", "[][]"] {
        assert_eq!(auto(input), [], "{input:?}");
        assert_eq!(read(input.as_bytes(), Format::JsonArray), [], "{input:?}");
    }
    assert_eq!(read(b"", Format::Ndjson), []);
    assert_eq!(read(b"\xEF\xBB\xBF", Format::Auto), []);
}

#[test]
fn byte_order_mark_is_skipped() {
    assert_eq!(
        read(b"\xEF\xBB\xBF[{\"a\":1}]", Format::Auto),
        [ok(json!({"a": 1}), 1, 0)]
    );
    assert_eq!(
        read(b"\xEF\xBB\xBF{\"a\":1}\n{\"a\" }\n", Format::Auto),
        [
            ok(json!({"a": 1}), 1, 0),
            err("line 2: expected `:` at column 6")
        ]
    );
    assert_eq!(
        read(b"\xEF\xBB\xBF\n{\"a\":1}\n", Format::Ndjson),
        [ok(json!({"a": 1}), 2, 0)]
    );
}

#[test]
fn partial_byte_order_mark_is_reported() {
    let items = read(b"\xEF\xBB{\"a\":1}\n", Format::Auto);
    assert_eq!(
        items,
        [
            err("line 1: incomplete byte order mark at the start of the input"),
            ok(json!({"a": 1}), 1, 1),
        ]
    );
}

#[test]
fn array_invalid_utf8_element_is_skipped() {
    let input = b"[{\"a\":\"\xc3\x28\"}, {\"a\":\"ok\"}]";
    let items = read(input, Format::Auto);
    assert_eq!(items.len(), 2);
    assert!(matches!(&items[0], Err(m) if m.starts_with("line 1: ")));
    assert_eq!(items[1], ok(json!({"a": "ok"}), 1, 1));
}

#[test]
fn array_very_long_element() {
    let long = "y]\\\"".repeat(512 * 1024);
    let element = json!({"long": long, "n": [1, 2, 3]});
    let input = format!("[{element}, 7]");
    let items = collect(JsonRecords::new(input.as_bytes(), Format::Auto));
    assert_eq!(items, [ok(element, 1, 0), ok(json!(7), 1, 1)]);
}

/// A reader that fails after handing out some bytes.
struct FailingReader {
    data: &'static [u8],
}

impl Read for FailingReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.data.is_empty() {
            return Err(std::io::Error::other("disk on fire"));
        }
        let n = out.len().min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn read_errors_end_iteration() {
    for (data, line) in [
        (&b"{\"a\":1}\n{\"a\":"[..], 2),
        (&b"[\n{\"a\":1},\n{\"a\""[..], 3),
    ] {
        let reader = BufReader::with_capacity(4, FailingReader { data });
        let items: Vec<_> = JsonRecords::new(reader, Format::Auto).collect();
        assert_eq!(items.len(), 2, "{items:?}");
        assert_eq!(items[0].as_ref().unwrap().value, json!({"a": 1}));
        let Err(error) = &items[1] else {
            panic!("expected an error");
        };
        assert_eq!(error.line(), line);
        assert!(matches!(error, RecordError::Io { .. }), "{error}");
        assert_eq!(
            error.to_string(),
            format!("line {line}: read error: disk on fire")
        );
        assert!(!error.is_recoverable());
    }
}

#[test]
fn format_names() {
    assert_eq!("auto".parse(), Ok(Format::Auto));
    assert_eq!("NDJSON".parse(), Ok(Format::Ndjson));
    assert_eq!("jsonl".parse(), Ok(Format::Ndjson));
    assert_eq!("json".parse(), Ok(Format::JsonArray));
    assert_eq!("array".parse(), Ok(Format::JsonArray));
    assert!("yaml".parse::<Format>().is_err());
    assert_eq!(Format::default(), Format::Auto);
}

// ---------------------------------------------------------------- open_input

fn gzip(data: &[u8]) -> Vec<u8> {
    use flate2::write::GzEncoder;
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn open_input_plain_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let body = b"[{\"a\":1},\n{\"a\":2}]\n";
    let plain = dir.path().join("alerts.json");
    std::fs::write(&plain, body).unwrap();
    // Gzip is detected by magic bytes, whatever the name says.
    let gz = dir.path().join("alerts.data");
    std::fs::write(&gz, gzip(body)).unwrap();

    let expected = [ok(json!({"a": 1}), 1, 0), ok(json!({"a": 2}), 2, 1)];
    for path in [&plain, &gz] {
        let reader = open_input(path).unwrap();
        assert_eq!(collect(JsonRecords::new(reader, Format::Auto)), expected);
    }
}

#[test]
fn open_input_concatenated_gzip_members() {
    // As produced by `cat a.gz b.gz`.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("multi.ndjson.gz");
    let mut data = gzip(b"{\"a\":1}\n{\"a\":2}\n");
    data.extend(gzip(b"{\"a\":3}\n"));
    std::fs::write(&path, data).unwrap();
    let reader = open_input(&path).unwrap();
    assert_eq!(
        collect(JsonRecords::new(reader, Format::Auto)),
        [
            ok(json!({"a": 1}), 1, 0),
            ok(json!({"a": 2}), 2, 1),
            ok(json!({"a": 3}), 3, 2),
        ]
    );
}

#[test]
fn open_input_small_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in [("empty", ""), ("one", "7"), ("gzip-lookalike", "\u{1f}")] {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        let mut contents = String::new();
        open_input(&path)
            .unwrap()
            .read_to_string(&mut contents)
            .unwrap();
        assert_eq!(contents, body);
    }
    let missing = open_input(&dir.path().join("missing.json"));
    assert_eq!(
        missing.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::NotFound)
    );
}

#[test]
fn open_input_corrupt_gzip_is_a_read_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.gz");
    std::fs::write(&path, b"\x1f\x8b\x08\x00garbage garbage garbage").unwrap();
    let items: Vec<_> = JsonRecords::new(open_input(&path).unwrap(), Format::Auto).collect();
    assert_eq!(items.len(), 1);
    assert!(matches!(items[0], Err(RecordError::Io { line: 1, .. })));
}

// ---------------------------------------------------------------- randomized

/// Deterministic xorshift64* generator; no extra dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Random whitespace, sometimes with newlines (`multiline`) or CRs.
fn whitespace(rng: &mut Rng, multiline: bool) -> String {
    let choices: &[&str] = if multiline {
        &["", "", " ", "\n", "  \n  ", "\t", "\r\n", "\n\n"]
    } else {
        &["", "", " ", "\t", "  "]
    };
    rng.pick(choices).to_owned()
}

fn random_string(rng: &mut Rng) -> String {
    let pieces = [
        "a",
        "key",
        "]",
        "[",
        "}",
        "{",
        ",",
        "\"",
        "\\",
        "\\\"",
        "\n",
        "é",
        "日本",
        "\u{1F600}",
        " ",
        ":",
        "\u{7f}",
        "\u{1}",
        "/",
    ];
    (0..rng.below(6)).map(|_| rng.pick(&pieces)).collect()
}

fn random_value(rng: &mut Rng, depth: u32) -> Value {
    let kind = if depth >= 4 {
        rng.below(5)
    } else {
        rng.below(7)
    };
    match kind {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 => json!(rng.next() as i64 >> rng.below(64)),
        3 => json!((rng.next() % 1_000_000) as f64 / 7.0),
        4 => Value::String(random_string(rng)),
        5 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => random_object(rng, depth + 1),
    }
}

fn random_object(rng: &mut Rng, depth: u32) -> Value {
    let mut map = serde_json::Map::new();
    for _ in 0..rng.below(5) {
        map.insert(random_string(rng), random_value(rng, depth + 1));
    }
    Value::Object(map)
}

/// Serializes `value` with random whitespace between all tokens.
fn write_spaced(rng: &mut Rng, value: &Value, multiline: bool, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&whitespace(rng, multiline));
                    out.push(',');
                }
                out.push_str(&whitespace(rng, multiline));
                write_spaced(rng, item, multiline, out);
            }
            out.push_str(&whitespace(rng, multiline));
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&whitespace(rng, multiline));
                out.push_str(&serde_json::to_string(key).unwrap());
                out.push_str(&whitespace(rng, multiline));
                out.push(':');
                out.push_str(&whitespace(rng, multiline));
                write_spaced(rng, item, multiline, out);
                out.push_str(&whitespace(rng, multiline));
            }
            out.push('}');
        }
        scalar => out.push_str(&serde_json::to_string(scalar).unwrap()),
    }
}

fn line_of(text: &str) -> u64 {
    text.bytes().filter(|&b| b == b'\n').count() as u64 + 1
}

#[test]
fn randomized_inputs_match_serde_json() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..20 {
        let values: Vec<Value> = (0..rng.below(40) + (round % 2) * 20)
            .map(|_| {
                if rng.below(8) == 0 {
                    random_value(&mut rng, 0)
                } else {
                    random_object(&mut rng, 0)
                }
            })
            .collect();

        // As a JSON array with random whitespace everywhere.
        let mut array = whitespace(&mut rng, true);
        array.push('[');
        let mut lines = Vec::new();
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                array.push_str(&whitespace(&mut rng, true));
                array.push(',');
            }
            array.push_str(&whitespace(&mut rng, true));
            lines.push(line_of(&array));
            write_spaced(&mut rng, value, true, &mut array);
        }
        array.push_str(&whitespace(&mut rng, true));
        array.push(']');
        array.push_str(&whitespace(&mut rng, true));

        // (Not compared with `values`: serde_json's default float parsing
        // does not round-trip every f64 exactly.)
        let whole: Vec<Value> = serde_json::from_str(&array).unwrap();
        assert_eq!(whole.len(), values.len());
        let expected: Vec<Item> = whole
            .into_iter()
            .zip(&lines)
            .enumerate()
            .map(|(i, (v, &line))| ok(v, line, i as u64))
            .collect();
        assert_eq!(read(array.as_bytes(), Format::Auto), expected, "{array}");
        assert_eq!(read(array.as_bytes(), Format::JsonArray), expected);

        // As NDJSON with random blank lines and line endings.
        let mut ndjson = String::new();
        let mut expected = Vec::new();
        for (i, value) in values.iter().enumerate() {
            if rng.below(4) == 0 {
                ndjson.push_str(rng.pick(&["\n", "  \n", "\r\n", "\t \r\n"]));
            }
            let line = line_of(&ndjson);
            let mut text = whitespace(&mut rng, false);
            write_spaced(&mut rng, value, false, &mut text);
            text.push_str(&whitespace(&mut rng, false));
            ndjson.push_str(&text);
            ndjson.push_str(rng.pick(&["\n", "\r\n"]));
            expected.push(ok(serde_json::from_str(&text).unwrap(), line, i as u64));
        }
        let streamed: Vec<Item> = serde_json::Deserializer::from_str(&ndjson)
            .into_iter()
            .zip(&expected)
            .map(|(v, e)| ok(v.unwrap(), e.as_ref().unwrap().1, e.as_ref().unwrap().2))
            .collect();
        assert_eq!(streamed, expected);
        // Top-level arrays would switch Auto to array mode; NDJSON is explicit.
        let format = if values.first().is_some_and(Value::is_array) {
            Format::Ndjson
        } else {
            Format::Auto
        };
        assert_eq!(read(ndjson.as_bytes(), format), expected, "{ndjson}");
        assert_eq!(read(ndjson.as_bytes(), Format::Ndjson), expected);
    }
}

#[test]
fn randomized_corruption_accounts_for_every_record() {
    // Damage random bytes of valid input. Iteration must end without
    // panicking, and the records and per-record errors must together carry
    // the indices 0, 1, 2, ... in order: nothing is skipped silently.
    let mut rng = Rng(42);
    for _ in 0..300 {
        let values: Vec<Value> = (0..10).map(|_| random_object(&mut rng, 0)).collect();
        let mut text = if rng.below(2) == 0 {
            serde_json::to_vec_pretty(&values).unwrap()
        } else {
            values
                .iter()
                .flat_map(|v| {
                    let mut line = serde_json::to_vec(v).unwrap();
                    line.push(b'\n');
                    line
                })
                .collect()
        };
        for _ in 0..rng.below(3) + 1 {
            let at = rng.below(text.len() as u64) as usize;
            text[at] = b"{}[]\",\\x\n\xff"[rng.below(10) as usize];
        }
        if rng.below(4) == 0 {
            text.truncate(rng.below(text.len() as u64) as usize);
        }
        for format in [Format::Auto, Format::Ndjson, Format::JsonArray] {
            let indices: Vec<u64> = JsonRecords::new(&text[..], format)
                .filter_map(|item| match item {
                    Ok(record) => Some(record.index),
                    Err(error) => error.index(),
                })
                .collect();
            let expected: Vec<u64> = (0..indices.len() as u64).collect();
            assert_eq!(indices, expected, "{}", String::from_utf8_lossy(&text));
            // And the chunking does not matter.
            read(&text, format);
        }
    }
}
