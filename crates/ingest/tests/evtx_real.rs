//! The EVTX reader and the Windows flattening over real logs: the 281 files
//! of EVTX-to-MITRE-Attack in `../shared/data` (Security, Sysmon, System,
//! PowerShell, Defender, forwarded events, ...), and damaged copies of them.
//!
//! Without `../shared` the tests print `SKIP: ...` and pass, except on CI
//! (`CI=true`), where a missing corpus is a failure.

use std::borrow::Cow;
use std::fs;
use std::path::{Path, PathBuf};

use killchain_ingest::evtx::{find_evtx_files, EvtxError, EvtxFile, EvtxRecord};
use killchain_ingest::windows::{detect_shape, flatten_windows, WinShape};
use serde_json::Value;

/// The first event of this file is checked field by field.
const SYSMON_WMIEXEC: &str =
    "TA0002-Execution/T1047-Windows Management Instrumentation/ID1-WMIexec process execution.evtx";

/// Twelve chunks of Security events (about 90 records each): for the
/// damaged copies.
const MULTI_CHUNK: &str =
    "TA0002-Execution/T1047-Windows Management Instrumentation/ID4688-5145-WMIexec execution via SMB.evtx";

fn corpus() -> Option<PathBuf> {
    killchain_testdata::shared("evtx/EVTX-to-MITRE-Attack")
}

/// Every item of the file, records and errors, with the given threads.
fn read_all(path: &Path, threads: usize) -> (Vec<EvtxRecord>, Vec<EvtxError>) {
    let mut file = EvtxFile::open(path).unwrap_or_else(|err| panic!("{err}"));
    let mut records = Vec::new();
    let mut errors = Vec::new();
    for item in file.records(threads) {
        match item {
            Ok(record) => records.push(record),
            Err(err) => errors.push(err),
        }
    }
    (records, errors)
}

fn field<'v>(fields: &[(Cow<'_, str>, &'v Value)], name: &str) -> Option<&'v Value> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
}

/// EventID as a number, whether rendered as one or as text (forwarded events).
fn number(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

#[test]
fn every_real_file_reads_and_flattens() {
    let Some(dir) = corpus() else { return };
    let started = std::time::Instant::now();
    let (files, errors) = find_evtx_files(&[dir]);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(files.len(), 281, "the corpus has 281 logs");

    let mut total = 0_usize;
    let mut sysmon_process_creations = 0_usize;
    let mut without_channel = Vec::new();
    for path in &files {
        let (records, errors) = read_all(path, 2);
        // The corpus is clean: any error here is a reader regression.
        assert!(errors.is_empty(), "{}", errors[0]);
        assert!(!records.is_empty(), "{}: no records", path.display());
        total += records.len();
        for record in &records {
            assert_eq!(detect_shape(&record.value), WinShape::EventXml);
            let mut fields = Vec::new();
            flatten_windows(&record.value, &mut fields);
            let event_id = number(field(&fields, "EventID"));
            assert!(
                event_id.is_some(),
                "{}: record {}: no EventID",
                path.display(),
                record.record_id
            );
            if field(&fields, "Channel").is_none() {
                without_channel.push(field(&fields, "Provider_Name").cloned());
            }
            assert!(record.timestamp.is_some(), "{}", path.display());
            let provider = field(&fields, "Provider_Name").and_then(Value::as_str);
            if event_id == Some(1) && provider == Some("Microsoft-Windows-Sysmon") {
                sysmon_process_creations += 1;
                for name in ["Image", "CommandLine", "ParentImage", "ProcessId"] {
                    assert!(
                        field(&fields, name).and_then(Value::as_str).is_some()
                            || field(&fields, name).is_some_and(Value::is_number),
                        "{}: record {}: Sysmon 1 without {name}",
                        path.display(),
                        record.record_id
                    );
                }
            }
        }
    }
    eprintln!(
        "{} files, {total} records, {sysmon_process_creations} Sysmon process creations in {:?}",
        files.len(),
        started.elapsed()
    );
    assert!(total > 10_000, "{total}");
    assert!(sysmon_process_creations >= 10, "{sysmon_process_creations}");
    // One event has no Channel: an Event Forwarding subscription bookmark,
    // which Windows writes without one.
    assert_eq!(
        without_channel,
        [Some(Value::from("Microsoft-Windows-EventForwarder"))]
    );
}

#[test]
fn a_known_first_event() {
    let Some(dir) = corpus() else { return };
    let path = dir.join(SYSMON_WMIEXEC);
    let mut file = EvtxFile::open(&path).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(file.path(), path);
    let first = file
        .records(1)
        .next()
        .expect("a record")
        .unwrap_or_else(|err| panic!("{err}"));
    // An exported log: the header numbers records from 1 and has no time.
    assert_eq!(first.header_record_id, 1);
    assert_eq!(first.record_id, 191_969);
    assert_eq!(
        first.timestamp,
        Some("2021-04-26T15:03:05.9922307Z".parse().expect("timestamp"))
    );
    let mut fields = Vec::new();
    flatten_windows(&first.value, &mut fields);
    assert_eq!(number(field(&fields, "EventID")), Some(1));
    assert_eq!(
        field(&fields, "Channel"),
        Some(&Value::from("Microsoft-Windows-Sysmon/Operational"))
    );
    assert_eq!(
        field(&fields, "Computer"),
        Some(&Value::from("fs02.offsec.lan"))
    );
    assert_eq!(
        field(&fields, "Image"),
        Some(&Value::from("C:\\Windows\\System32\\cmd.exe"))
    );
    assert_eq!(
        field(&fields, "CommandLine"),
        Some(&Value::from(
            "C:\\Windows\\system32\\cmd.exe  /Q /c C:\\Windows\\TEMP\\execute.bat "
        ))
    );
    assert_eq!(
        field(&fields, "ParentImage"),
        Some(&Value::from("C:\\Windows\\System32\\cmd.exe"))
    );
    assert_eq!(field(&fields, "EventRecordID"), Some(&Value::from(191_969)));
}

#[test]
fn threads_do_not_change_the_records_or_their_order() {
    let Some(dir) = corpus() else { return };
    let path = dir.join(MULTI_CHUNK);
    let (one, errors_one) = read_all(&path, 1);
    let (many, errors_many) = read_all(&path, 0);
    assert!(errors_one.is_empty() && errors_many.is_empty());
    assert!(one.len() > 100, "{}", one.len());
    assert_eq!(one, many);
    // Reading again starts from the beginning.
    let mut file = EvtxFile::open(&path).unwrap_or_else(|err| panic!("{err}"));
    let first_pass = file.records(2).count();
    let second_pass = file.records(2).count();
    assert_eq!((first_pass, second_pass), (one.len(), one.len()));
}

fn errors_name(errors: &[EvtxError], path: &Path) {
    for err in errors {
        assert_eq!(err.path(), path);
        let text = err.to_string();
        assert!(text.starts_with(&format!("{}: ", path.display())), "{text}");
    }
}

#[test]
fn a_truncated_copy_reports_the_cut_after_the_records_before_it() {
    let Some(dir) = corpus() else { return };
    let original = dir.join(MULTI_CHUNK);
    let (clean, _) = read_all(&original, 1);
    let bytes = fs::read(&original).expect("read corpus file");
    let tmp = tempfile::tempdir().expect("tempdir");
    let cut = tmp.path().join("cut.evtx");
    fs::write(&cut, &bytes[..70_000]).expect("write copy");

    let (records, errors) = read_all(&cut, 2);
    // The first chunk survives whole, in order.
    assert!(!records.is_empty());
    assert!(records.len() < clean.len());
    assert_eq!(records[..], clean[..records.len()]);
    errors_name(&errors, &cut);
    assert_eq!(errors.len(), 1, "{errors:?}");
    match &errors[0] {
        EvtxError::Chunk { chunk, reason, .. } => {
            assert_eq!(*chunk, 1);
            assert!(reason.contains("cut short"), "{reason}");
        }
        other => panic!("expected a chunk error, got {other}"),
    }
    // And the error comes after the records, where the file ends.
    let mut file = EvtxFile::open(&cut).unwrap_or_else(|err| panic!("{err}"));
    assert!(matches!(
        file.records(1).last(),
        Some(Err(EvtxError::Chunk { .. }))
    ));
}

/// Deterministic noise, so a failure can be reproduced.
fn garble(bytes: &mut [u8], mut seed: u64) {
    for byte in bytes {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        *byte = (seed >> 56) as u8;
    }
}

#[test]
fn garbled_chunks_report_records_and_chunks_and_keep_the_rest() {
    let Some(dir) = corpus() else { return };
    let original = dir.join(MULTI_CHUNK);
    let (clean, _) = read_all(&original, 1);
    let mut bytes = fs::read(&original).expect("read corpus file");
    let chunk_at = |n: usize| 4096 + n * 65_536;
    // Noise in the middle of the second chunk's records, and a fifth chunk
    // whose header magic is gone.
    garble(&mut bytes[chunk_at(1) + 30_000..chunk_at(1) + 32_000], 7);
    bytes[chunk_at(4)..chunk_at(4) + 8].copy_from_slice(b"garbage!");
    let tmp = tempfile::tempdir().expect("tempdir");
    let garbled = tmp.path().join("garbled.evtx");
    fs::write(&garbled, &bytes).expect("write copy");

    let (records, errors) = read_all(&garbled, 2);
    errors_name(&errors, &garbled);
    let mut record_errors = 0;
    let mut chunk_errors = Vec::new();
    for err in &errors {
        match err {
            EvtxError::Record { chunk, record, .. } => {
                assert!(chunk.is_some() || record.is_some(), "{err}");
                record_errors += 1;
            }
            EvtxError::Chunk { chunk, reason, .. } => {
                assert!(reason.contains("ElfChnk"), "{err}");
                chunk_errors.push(*chunk);
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(record_errors >= 1, "the noise went unnoticed: {errors:?}");
    assert_eq!(chunk_errors, [4]);

    // What survives is unchanged and in order: a subsequence of the clean
    // read, missing only records of the damaged chunks. (One record error can
    // stand for several records: past a damaged record header the parser
    // resumes at the next intact record.)
    let records_of = |n: usize| {
        let header_number = |at: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(word)
        };
        header_number(chunk_at(n) + 8)..=header_number(chunk_at(n) + 16)
    };
    let (noisy, headless) = (records_of(1), records_of(4));
    let mut survivors = records.iter().peekable();
    let (mut lost_to_noise, mut lost_with_chunk) = (0, 0);
    for record in &clean {
        if survivors.peek() == Some(&record) {
            survivors.next();
        } else if noisy.contains(&record.header_record_id) {
            lost_to_noise += 1;
        } else {
            assert!(
                headless.contains(&record.header_record_id),
                "record {} of an intact chunk is missing",
                record.header_record_id
            );
            lost_with_chunk += 1;
        }
    }
    assert_eq!(survivors.next(), None, "records that are not in the log");
    assert!(
        (record_errors..20).contains(&lost_to_noise),
        "{lost_to_noise} records lost to {record_errors} errors"
    );
    assert_eq!(lost_with_chunk, headless.count());
    assert_eq!(records.first(), clean.first());
    assert_eq!(records.last(), clean.last());
}
