//! Path discovery, opening files that are not EVTX, and the pure helpers of
//! the reader. Reading real logs is in `tests/evtx_real.rs`.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::*;

fn touch(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create test folder");
    }
    fs::write(path, bytes).expect("write test file");
}

/// A tree of logs as an incident responder collects them: nested folders,
/// extensions in any case, and files that are not logs.
fn collection(root: &Path) {
    touch(&root.join("dc01/Security.evtx"), b"ElfFile\0 rest");
    touch(&root.join("dc01/System.EVTX"), b"ElfFile\0");
    touch(
        &root.join("dc01/Microsoft-Windows-Sysmon%4Operational.Evtx"),
        b"",
    );
    touch(&root.join("ws01/logs/deep/Application.evtx"), b"");
    touch(&root.join("ws01/notes.txt"), b"ElfFile\0");
    touch(&root.join("ws01/events.json"), b"{}");
    touch(&root.join("ws01/evtx"), b"ElfFile\0");
    touch(&root.join("ws01/Security.evtx.bak"), b"ElfFile\0");
    fs::create_dir_all(root.join("empty")).expect("create folder");
    fs::create_dir_all(root.join("folder.evtx")).expect("create folder");
}

#[test]
fn finds_evtx_files_recursively_in_any_case_sorted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    collection(root);
    let (files, errors) = find_evtx_files(&[root.to_path_buf()]);
    assert!(errors.is_empty(), "{errors:?}");
    let expected: Vec<PathBuf> = [
        "dc01/Microsoft-Windows-Sysmon%4Operational.Evtx",
        "dc01/Security.evtx",
        "dc01/System.EVTX",
        "ws01/logs/deep/Application.evtx",
    ]
    .iter()
    .map(|name| root.join(name))
    .collect();
    assert_eq!(files, expected);
}

#[test]
fn missing_paths_are_reported_and_the_rest_still_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    collection(root);
    let missing = root.join("no-such-host");
    let (files, errors) = find_evtx_files(&[missing.clone(), root.join("dc01")]);
    assert_eq!(files.len(), 3);
    assert_eq!(errors.len(), 1);
    let err = &errors[0];
    assert_eq!(err.path(), missing);
    match err {
        EvtxError::Io { source, .. } => assert_eq!(source.kind(), io::ErrorKind::NotFound),
        other => panic!("expected an Io error, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with(&format!("{}: ", missing.display())),
        "{err}"
    );
}

#[test]
fn named_files_are_taken_by_extension_or_magic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    collection(root);
    let renamed = root.join("ws01/Security.evtx.bak");
    let not_a_log = root.join("ws01/events.json");
    let short = root.join("short.dat");
    touch(&short, b"Elf");
    let upper = root.join("dc01/System.EVTX");
    let (files, errors) = find_evtx_files(&[
        not_a_log,
        renamed.clone(),
        short,
        upper.clone(),
        // Twice, and once more through its folder: listed once.
        upper.clone(),
        root.join("dc01"),
    ]);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        files,
        [
            root.join("dc01/Microsoft-Windows-Sysmon%4Operational.Evtx"),
            root.join("dc01/Security.evtx"),
            upper,
            renamed,
        ]
    );
}

#[test]
fn empty_input_finds_nothing() {
    let (files, errors) = find_evtx_files(&[]);
    assert!(files.is_empty() && errors.is_empty());
}

#[cfg(unix)]
#[test]
fn symlinks_to_files_are_followed_to_folders_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    touch(&root.join("logs/a.evtx"), b"");
    touch(&root.join("elsewhere/b.evtx"), b"");
    std::os::unix::fs::symlink(root.join("elsewhere/b.evtx"), root.join("logs/link.evtx"))
        .expect("symlink");
    // A cycle: logs/loop -> logs.
    std::os::unix::fs::symlink(root.join("logs"), root.join("logs/loop")).expect("symlink");
    std::os::unix::fs::symlink(root.join("gone.evtx"), root.join("logs/dangling.evtx"))
        .expect("symlink");
    let (files, errors) = find_evtx_files(&[root.join("logs")]);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        files,
        [root.join("logs/a.evtx"), root.join("logs/link.evtx")]
    );
}

#[test]
fn opening_a_file_that_is_not_evtx_names_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("events.evtx");
    touch(&json, &[b'{'; 8192]);
    let err = EvtxFile::open(&json).expect_err("not EVTX");
    assert!(matches!(err, EvtxError::Header { .. }), "{err:?}");
    assert_eq!(err.path(), json);
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{}: not a readable EVTX file: ", json.display())),
        "{text}"
    );
    assert!(text.contains("ElfFile"), "{text}");

    let empty = dir.path().join("empty.evtx");
    touch(&empty, b"");
    let err = EvtxFile::open(&empty).expect_err("empty");
    assert!(matches!(err, EvtxError::Header { .. }), "{err:?}");

    let missing = dir.path().join("missing.evtx");
    let err = EvtxFile::open(&missing).expect_err("missing");
    match &err {
        EvtxError::Io { path, source } => {
            assert_eq!(path, &missing);
            assert_eq!(source.kind(), io::ErrorKind::NotFound);
        }
        other => panic!("expected an Io error, got {other:?}"),
    }
}

#[test]
fn error_messages_name_file_chunk_and_record() {
    let path = PathBuf::from("logs/Security.evtx");
    let record = EvtxError::Record {
        path: path.clone(),
        chunk: Some(3),
        record: Some(1207),
        offset: Some(0x2a0),
        reason: "Offset 0x00000310: Tried to read an invalid byte `0x7e` as binxml token"
            .to_owned(),
    };
    assert_eq!(
        record.to_string(),
        "logs/Security.evtx: record 1207 (chunk 3, offset 0x2a0): Offset 0x00000310: Tried to read an invalid byte `0x7e` as binxml token"
    );
    let record = EvtxError::Record {
        path: path.clone(),
        chunk: None,
        record: Some(12),
        offset: None,
        reason: "x".to_owned(),
    };
    assert_eq!(record.to_string(), "logs/Security.evtx: record 12: x");
    let record = EvtxError::Record {
        path: path.clone(),
        chunk: Some(0),
        record: None,
        offset: Some(0x200),
        reason: "x".to_owned(),
    };
    assert_eq!(
        record.to_string(),
        "logs/Security.evtx: record (chunk 0, offset 0x200): x"
    );
    let chunk = EvtxError::Chunk {
        path,
        chunk: 7,
        reason: "Failed to parse chunk header".to_owned(),
    };
    assert_eq!(
        chunk.to_string(),
        "logs/Security.evtx: chunk 7: Failed to parse chunk header"
    );
}

#[test]
fn parser_errors_keep_where_they_happened() {
    let path = Path::new("x.evtx");
    let err = record_error(
        path,
        ParserError::FailedToReadRecordAt {
            chunk: Some(2),
            offset: 0x1f8,
            source: Box::new(ParserError::InvalidDataSize {
                length: 3,
                expected: 28,
            }),
        },
    );
    match err {
        EvtxError::Record {
            chunk,
            record,
            offset,
            reason,
            ..
        } => {
            assert_eq!((chunk, record, offset), (Some(2), None, Some(0x1f8)));
            assert_eq!(
                reason,
                "Invalid EVTX record data size, should be equals or greater than 28, found `3`"
            );
        }
        other => panic!("{other:?}"),
    }
    let err = record_error(
        path,
        with_record_id(
            41,
            ParserError::SerializationError(SerializationError::JsonStructureError {
                message: "unbalanced".to_owned(),
            }),
        ),
    );
    assert_eq!(
        err.to_string(),
        "x.evtx: record 41: Building a JSON document failed with message: unbalanced"
    );
}

#[test]
fn truncation_is_found_from_size_and_header() {
    let header = 4096;
    let chunk = CHUNK_SIZE;
    // Whole files, including preallocated empty chunks past the header's count.
    assert_eq!(truncation(header + chunk, header, 1), None);
    assert_eq!(truncation(header + 17 * chunk, header, 3), None);
    assert_eq!(truncation(header, header, 0), None);
    // The first 70,000 bytes of a three-chunk log.
    let (first_missing, reason) = truncation(70_000, header, 3).expect("truncated");
    assert_eq!(first_missing, 1);
    assert_eq!(
        reason,
        "the file is cut short: it ends after 1 complete chunk and 368 bytes of the next, \
         its header lists 3 chunks; records from here on are lost"
    );
    // Cut on a chunk boundary.
    let (first_missing, reason) = truncation(header + 2 * chunk, header, 3).expect("truncated");
    assert_eq!(first_missing, 2);
    assert!(reason.contains("its header lists 3 chunks"), "{reason}");
    // A partial chunk past the header's count is still a cut file.
    assert!(truncation(header + chunk + 10, header, 1).is_some());
    // Smaller than its header block.
    assert!(truncation(100, header, 1).is_some());
}

#[test]
fn event_record_ids_as_numbers_or_text() {
    assert_eq!(event_record_id(&json!(191969)), Some(191969));
    assert_eq!(event_record_id(&json!("6433")), Some(6433));
    assert_eq!(event_record_id(&json!(" 7 ")), Some(7));
    assert_eq!(event_record_id(&json!("0x10")), None);
    assert_eq!(event_record_id(&json!(-1)), None);
    assert_eq!(event_record_id(&json!(null)), None);
}

#[test]
fn the_filetime_epoch_is_not_a_time() {
    let epoch: jiff::Timestamp = "1601-01-01T00:00:00Z".parse().expect("timestamp");
    assert_eq!(usable_time(epoch), None);
    let real: jiff::Timestamp = "2021-04-26T15:03:05.9922307Z".parse().expect("timestamp");
    assert_eq!(usable_time(real), Some(real));
}

#[test]
fn panic_messages_are_read_from_either_payload() {
    let text: Box<dyn std::any::Any + Send> = Box::new("index out of bounds");
    assert_eq!(panic_message(&*text), "index out of bounds");
    let owned: Box<dyn std::any::Any + Send> = Box::new(String::from("bad template"));
    assert_eq!(panic_message(&*owned), "bad template");
    let other: Box<dyn std::any::Any + Send> = Box::new(5_u8);
    assert_eq!(panic_message(&*other), "no message");
}

/// A hunt reads files on several threads: the reader's types must move.
#[test]
fn reader_types_are_send() {
    fn send<T: Send>() {}
    send::<EvtxFile>();
    send::<EvtxRecord>();
    send::<EvtxError>();
    fn sync<T: Sync>() {}
    sync::<EvtxRecord>();
    sync::<EvtxError>();
}
