//! Partial evaluation (`Engine::evaluate_partial`): an event parsed with
//! only the fields the engine reads (`killchain_ingest::parse_selected`),
//! the other values noted for keyword selections, must give exactly the
//! matches of the whole event, or say it cannot (then the caller evaluates
//! the whole event). Fixtures first, then every OTRF Windows dataset in
//! `../shared/data` with the SigmaHQ Windows rules and the built-in pack,
//! routing on and off.

mod common;

use killchain_detect::{
    builtin_rules, Engine, FieldList, LeftOut, Options, Pipeline, RuleText, Scratch, Selection,
};
use killchain_ingest::{flatten_windows, parse_selected};
use serde_json::Value;

/// The matches of the whole record.
fn whole(engine: &Engine, line: &[u8], scratch: &mut Scratch) -> Option<Vec<usize>> {
    let v: Value = serde_json::from_slice(line).ok()?;
    let mut ev = FieldList::default();
    flatten_windows(&v, &mut ev.fields);
    let mut out = Vec::new();
    engine.evaluate(&ev, scratch, &mut out);
    Some(out)
}

/// The matches of the partial record, or `Some(None)` when the engine asks
/// for the whole record; `None` when the line is not JSON.
fn partial(engine: &Engine, line: &[u8], scratch: &mut Scratch) -> Option<Option<Vec<usize>>> {
    let mut notes = LeftOut::default();
    let v = parse_selected(line, &|k| engine.reads_field(k), &mut |s| {
        engine.note_left_out(s, &mut notes)
    })
    .ok()?;
    let mut ev = FieldList::default();
    flatten_windows(&v, &mut ev.fields);
    let mut out = Vec::new();
    let complete = engine.evaluate_partial(&ev, &mut notes, scratch, &mut out);
    Some(complete.then_some(out))
}

fn rule(id: &str, detection: &str) -> RuleText {
    RuleText {
        path: format!("{id}.yml"),
        text: format!(
            "title: {id}\nid: {id}\nstatus: test\nlevel: high\nlogsource:\n  product: windows\ndetection:\n{detection}"
        ),
    }
}

#[test]
fn fixtures_agree_and_keyword_hits_ask_for_the_whole_record() {
    let texts = [
        rule(
            "00000000-0000-0000-0000-000000000001",
            "  sel:\n    Image|endswith: '\\evil.exe'\n  condition: sel\n",
        ),
        rule(
            "00000000-0000-0000-0000-000000000002",
            "  keywords:\n    - 'sekurlsa::'\n  condition: keywords\n",
        ),
        rule(
            "00000000-0000-0000-0000-000000000003",
            "  sel:\n    Computer: 'WS1'\n  condition: sel\n",
        ),
    ];
    let (engine, report) = Engine::build(&texts, &Pipeline::builtin(), &Options::default());
    assert_eq!(report.loaded(), 3, "{}", report.summary());
    assert!(engine.supports_partial());
    let mut scratch = Scratch::default();
    let lines: [&[u8]; 4] = [
        // A kept field matches; the keyword only in a left-out field.
        br#"{"EventID":1,"Channel":"Security","Image":"C:\\t\\evil.exe","Message":"ran sekurlsa::logonpasswords"}"#,
        // Nothing for the rules, and a long left-out message.
        br#"{"EventID":1,"Channel":"Security","Image":"C:\\t\\ok.exe","Message":"nothing to see"}"#,
        // Computer comes from Hostname (a flattening alias).
        br#"{"EventID":4624,"Channel":"Security","Hostname":"WS1","Other":"x"}"#,
        // Not an object.
        br#"[1,2]"#,
    ];
    let mut asked = 0;
    for line in lines {
        let expected = whole(&engine, line, &mut scratch).unwrap();
        match partial(&engine, line, &mut scratch).unwrap() {
            Some(got) => assert_eq!(got, expected, "{}", String::from_utf8_lossy(line)),
            None => {
                asked += 1;
                // Only the record with the keyword asks, and it does match.
                assert!(expected.contains(&1), "{}", String::from_utf8_lossy(line));
            }
        }
    }
    assert_eq!(asked, 1);
    assert_eq!(whole(&engine, lines[0], &mut scratch).unwrap(), [0, 1]);
    assert_eq!(whole(&engine, lines[2], &mut scratch).unwrap(), [2]);
}

#[test]
fn otrf_partial_evaluation_agrees_with_whole_records() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let sigma = data.join("sigma");
    let mut texts = common::rule_texts(&sigma.join("rules/windows"), &sigma);
    texts.extend(builtin_rules());
    let zips = common::otrf_windows_zips(&data);
    let lines: Vec<Vec<u8>> = zips
        .iter()
        .flat_map(|z| common::zip_lines(z, 400))
        .collect();
    for routing in [true, false] {
        let opts = Options {
            routing,
            selection: Selection::everything(),
        };
        let (engine, _) = Engine::build(&texts, &Pipeline::builtin(), &opts);
        assert!(engine.supports_partial());
        let mut scratch = Scratch::default();
        let (mut events, mut matches, mut asked) = (0usize, 0usize, 0usize);
        for line in &lines {
            let Some(expected) = whole(&engine, line, &mut scratch) else {
                assert!(partial(&engine, line, &mut scratch).is_none());
                continue;
            };
            events += 1;
            matches += expected.len();
            match partial(&engine, line, &mut scratch).unwrap() {
                Some(got) => assert_eq!(got, expected, "{}", String::from_utf8_lossy(line)),
                None => asked += 1,
            }
        }
        eprintln!(
            "partial (routing {routing}): {events} events from {} datasets, {matches} matches, \
             {asked} evaluated whole on the engine's request",
            zips.len()
        );
        assert!(events > 10_000 && matches > 100);
        // Routed (the normal mode), the partial path must be the norm. Not
        // routed, every event meets the keyword rules of every log, some of
        // which pass the prefilter on a field literal and must then read
        // every value: those events are asked for whole.
        if routing {
            assert!(
                asked * 100 < events,
                "{asked} of {events} needed the whole record"
            );
        }
    }
}
