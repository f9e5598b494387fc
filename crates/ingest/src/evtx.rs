//! Reading Windows EVTX files: finding them ([`find_evtx_files`]), opening
//! one ([`EvtxFile`]) and streaming its records as JSON ([`EvtxRecord`]),
//! with every problem reported as an [`EvtxError`] that names the file and,
//! where it is known, the chunk and record.
//!
//! Parsing is the `evtx` crate's. This module owns what a hunt over
//! collected logs needs around it:
//!
//! - **Bounded memory.** Records stream chunk by chunk (64 KiB of file
//!   each); at most `2 × threads` chunks are decoded at once, so a
//!   multi-gigabyte log costs a few megabytes.
//! - **Damage is reported, not fatal.** A record that cannot be decoded, or
//!   a chunk whose header is unreadable, is one error item; the next record
//!   follows. A file cut short (a partial last chunk, or fewer chunks than
//!   its header lists) ends with an error saying so, after the records that
//!   survived. A panic inside the parser is caught and reported as an error
//!   too. Checksums are not enforced: a chunk whose CRC is off is still read,
//!   since most of its records usually are intact.
//! - **The event's own identity.** Logs exported or forwarded from another
//!   machine renumber the record headers from 1 and may zero their
//!   timestamps (1601-01-01); [`EvtxRecord::record_id`] and
//!   [`EvtxRecord::timestamp`] come from `System/EventRecordID` and
//!   `System/TimeCreated/@SystemTime` when the event has them.
//!
//! The JSON is the evtx crate's rendering of the event XML
//! ([`WinShape::EventXml`](crate::windows::WinShape::EventXml)); hand it to
//! [`flatten_windows`](crate::windows::flatten_windows) for Sigma field
//! names.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use ::evtx::err::{EvtxError as ParserError, InputError, SerializationError};
use ::evtx::{EvtxParser, ParserSettings};
use serde_json::Value;

/// Size of an EVTX chunk, the unit the format is written and read in.
const CHUNK_SIZE: u64 = 64 * 1024;

/// The magic at the start of every EVTX file.
const FILE_MAGIC: &[u8; 8] = b"ElfFile\0";

/// After this many parser panics in a row, the rest of the file is given up:
/// the parser evidently makes no progress.
const MAX_PANICS_IN_A_ROW: u32 = 8;

/// A problem with an EVTX file, a chunk or a record. Every variant names the
/// file; the [`Display`](fmt::Display) form is `path: where: reason`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvtxError {
    /// The path could not be opened, listed or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file is not an EVTX file, or its header cannot be read; nothing
    /// of it is read.
    #[error("{}: not a readable EVTX file: {reason}", path.display())]
    Header {
        /// The file.
        path: PathBuf,
        /// What is wrong, e.g. the magic it found instead of `ElfFile`.
        reason: String,
    },
    /// A chunk that could not be read: its records are lost, the next chunk
    /// follows. Also reported once at the end of a file that is cut short,
    /// for the first chunk missing.
    #[error("{}: chunk {chunk}: {reason}", path.display())]
    Chunk {
        /// The file.
        path: PathBuf,
        /// 0-based number of the chunk in the file.
        chunk: u64,
        /// What is wrong.
        reason: String,
    },
    /// A record that could not be decoded; the next record follows.
    #[error("{}: {}: {reason}", .path.display(), RecordLocation { chunk: *.chunk, record: *.record, offset: *.offset })]
    Record {
        /// The file.
        path: PathBuf,
        /// 0-based number of the chunk in the file, when the parser knows it.
        chunk: Option<u64>,
        /// The number in the record's header, when it could be read. In an
        /// exported log this is the record's 1-based position in the file,
        /// not the event's `EventRecordID` (which cannot be read from a
        /// record that does not decode).
        record: Option<u64>,
        /// Byte offset of the record in its chunk, when known.
        offset: Option<u64>,
        /// What is wrong.
        reason: String,
    },
}

impl EvtxError {
    /// The file (or folder) the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Io { path, .. }
            | Self::Header { path, .. }
            | Self::Chunk { path, .. }
            | Self::Record { path, .. } => path,
        }
    }
}

/// `record 12 (chunk 3, offset 0x2a0)`, with the parts that are known.
struct RecordLocation {
    chunk: Option<u64>,
    record: Option<u64>,
    offset: Option<u64>,
}

impl fmt::Display for RecordLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.record {
            Some(record) => write!(f, "record {record}")?,
            None => f.write_str("record")?,
        }
        let mut parts = Vec::new();
        if let Some(chunk) = self.chunk {
            parts.push(format!("chunk {chunk}"));
        }
        if let Some(offset) = self.offset {
            parts.push(format!("offset {offset:#x}"));
        }
        if !parts.is_empty() {
            write!(f, " ({})", parts.join(", "))?;
        }
        Ok(())
    }
}

/// One event of an EVTX file.
#[derive(Debug, Clone, PartialEq)]
pub struct EvtxRecord {
    /// The event as JSON, in the evtx crate's rendering of the event XML:
    /// `{"Event": {"#attributes": {..}, "System": {..}, "EventData": {..}}}`
    /// (or `UserData`), attributes under `#attributes`, an element's text
    /// under `#text` when it also has attributes (`EventID` with
    /// `Qualifiers`). Forwarded events can have every System value as a
    /// string.
    pub value: Value,
    /// `System/EventRecordID` (a number, or a string of digits in forwarded
    /// events); the record header's number when the event has none.
    pub record_id: u64,
    /// The record header's number: the record's position in this file for
    /// an exported log (see [`EvtxError::Record::record`]).
    pub header_record_id: u64,
    /// `System/TimeCreated/@SystemTime`; the record header's time when that
    /// is missing or unreadable. `None` only when neither is usable (an
    /// exported log can zero the header's time to 1601-01-01, which is not
    /// taken).
    pub timestamp: Option<jiff::Timestamp>,
}

/// An EVTX file opened for reading; [`records`](Self::records) streams its
/// events.
pub struct EvtxFile {
    path: PathBuf,
    /// Always `Some` between calls: `records` takes the parser out to
    /// reconfigure it (the evtx API consumes it) and puts it back at once.
    parser: Option<EvtxParser<File>>,
    /// The error to end every pass with when the file is cut short.
    truncated: Option<(u64, String)>,
}

impl fmt::Debug for EvtxFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvtxFile")
            .field("path", &self.path)
            .field("truncated", &self.truncated)
            .finish_non_exhaustive()
    }
}

impl EvtxFile {
    /// Opens `path` and reads its file header.
    ///
    /// Fails with [`EvtxError::Io`] if the file cannot be opened and
    /// [`EvtxError::Header`] if it is not an EVTX file. A header whose
    /// checksum is wrong is accepted: the chunks do not depend on it.
    pub fn open(path: impl AsRef<Path>) -> Result<EvtxFile, EvtxError> {
        let path = path.as_ref().to_path_buf();
        let parser = EvtxParser::from_path(&path).map_err(|err| match err {
            ParserError::InputError(InputError::FailedToOpenFile { source, .. }) => EvtxError::Io {
                path: path.clone(),
                source,
            },
            ParserError::IoError(source) => EvtxError::Io {
                path: path.clone(),
                source,
            },
            other => EvtxError::Header {
                path: path.clone(),
                reason: describe(&other),
            },
        })?;
        let len = fs::metadata(&path)
            .map_err(|source| EvtxError::Io {
                path: path.clone(),
                source,
            })?
            .len();
        let header = parser.header();
        let truncated = truncation(
            len,
            u64::from(header.header_block_size),
            u64::from(header.chunk_count),
        );
        Ok(EvtxFile {
            path,
            parser: Some(parser),
            truncated,
        })
    }

    /// The path the file was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Streams the file's records, oldest first, from the start of the file
    /// (each call reads the file again).
    ///
    /// `threads` is how many chunks are decoded in parallel on the rayon
    /// global pool: `1` decodes on the calling thread, `0` uses as many as
    /// the pool has threads. Records come out in file order either way.
    ///
    /// Errors are items of the stream, and the stream goes on after each of
    /// them (see the module documentation for what is reported).
    pub fn records(
        &mut self,
        threads: usize,
    ) -> impl Iterator<Item = Result<EvtxRecord, EvtxError>> + '_ {
        let settings = ParserSettings::new()
            .num_threads(threads)
            .separate_json_attributes(false)
            // The JSON is parsed again at once; indentation would only cost.
            .indent(false);
        if let Some(parser) = self.parser.take() {
            self.parser = Some(parser.with_configuration(settings));
        }
        let inner: Box<dyn Iterator<Item = ::evtx::err::Result<EvtxRecord>> + '_> = Box::new(
            self.parser
                .iter_mut()
                .flat_map(|parser| parser.serialized_records(decode)),
        );
        Records {
            path: &self.path,
            inner: Some(inner),
            truncated: self.truncated.clone(),
            panics_in_a_row: 0,
        }
    }
}

/// The iterator [`EvtxFile::records`] returns: the parser's stream with its
/// errors given the path, panics caught, and the truncation error at the end.
struct Records<'f> {
    path: &'f Path,
    /// `None` once the parser's stream is over.
    inner: Option<Box<dyn Iterator<Item = ::evtx::err::Result<EvtxRecord>> + 'f>>,
    truncated: Option<(u64, String)>,
    panics_in_a_row: u32,
}

impl Iterator for Records<'_> {
    type Item = Result<EvtxRecord, EvtxError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(inner) = self.inner.as_mut() {
            // The parser is not expected to panic, but a hunt must not die
            // on one bad file: its pipeline moves on to the next chunk before
            // a worker's panic reaches us, so the stream can go on.
            match panic::catch_unwind(AssertUnwindSafe(|| inner.next())) {
                Ok(Some(Ok(record))) => {
                    self.panics_in_a_row = 0;
                    return Some(Ok(record));
                }
                Ok(Some(Err(err))) => {
                    self.panics_in_a_row = 0;
                    return Some(Err(record_error(self.path, err)));
                }
                Ok(None) => self.inner = None,
                Err(payload) => {
                    self.panics_in_a_row += 1;
                    if self.panics_in_a_row >= MAX_PANICS_IN_A_ROW {
                        self.inner = None;
                    }
                    return Some(Err(EvtxError::Record {
                        path: self.path.to_path_buf(),
                        chunk: None,
                        record: None,
                        offset: None,
                        reason: format!("the EVTX parser panicked: {}", panic_message(&payload)),
                    }));
                }
            }
        }
        let (chunk, reason) = self.truncated.take()?;
        Some(Err(EvtxError::Chunk {
            path: self.path.to_path_buf(),
            chunk,
            reason,
        }))
    }
}

/// Renders one parsed record and reads its identity; runs on the parser's
/// worker threads. A panic here costs only this record.
fn decode(record: ::evtx::err::Result<::evtx::EvtxRecord<'_>>) -> ::evtx::err::Result<EvtxRecord> {
    let record = record?;
    let header_record_id = record.event_record_id;
    let header_time = record.timestamp;
    let rendered = panic::catch_unwind(AssertUnwindSafe(|| record.into_json_bytes()))
        .unwrap_or_else(|payload| {
            Err(ParserError::IoError(io::Error::other(format!(
                "the EVTX renderer panicked: {}",
                panic_message(&payload)
            ))))
        })
        .map_err(|err| with_record_id(header_record_id, err))?;
    let value: Value = serde_json::from_slice(&rendered.data).map_err(|source| {
        with_record_id(
            header_record_id,
            ParserError::SerializationError(SerializationError::JsonError { source }),
        )
    })?;
    let system = &value["Event"]["System"];
    let record_id = event_record_id(&system["EventRecordID"]).unwrap_or(header_record_id);
    let timestamp = system["TimeCreated"]["#attributes"]["SystemTime"]
        .as_str()
        .and_then(|text| text.parse::<jiff::Timestamp>().ok())
        .or_else(|| usable_time(header_time));
    Ok(EvtxRecord {
        value,
        record_id,
        header_record_id,
        timestamp,
    })
}

fn with_record_id(record_id: u64, err: ParserError) -> ParserError {
    match err {
        ParserError::FailedToParseRecord { .. } => err,
        other => ParserError::FailedToParseRecord {
            record_id,
            source: Box::new(other),
        },
    }
}

/// `EventRecordID` as written: a number, or digits in a string (forwarded
/// events render every System value as text).
fn event_record_id(value: &Value) -> Option<u64> {
    match value {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// The header's time unless it is the FILETIME epoch, which exported logs
/// write instead of the real time.
fn usable_time(time: jiff::Timestamp) -> Option<jiff::Timestamp> {
    // 1601-01-01T00:00:00Z.
    const FILETIME_EPOCH_SECONDS: i64 = -11_644_473_600;
    (time.as_second() != FILETIME_EPOCH_SECONDS || time.subsec_nanosecond() != 0).then_some(time)
}

/// Whether a file of `len` bytes is shorter than its header says: a partial
/// last chunk, or fewer chunks than the header lists. The error names the
/// first chunk that is missing or partial.
fn truncation(len: u64, header_block_size: u64, header_chunks: u64) -> Option<(u64, String)> {
    let chunk_bytes = len.saturating_sub(header_block_size);
    let full = chunk_bytes / CHUNK_SIZE;
    let partial = chunk_bytes % CHUNK_SIZE;
    if partial == 0 && full >= header_chunks {
        return None;
    }
    let plural = if full == 1 { "" } else { "s" };
    let mut reason = format!("the file is cut short: it ends after {full} complete chunk{plural}");
    if partial > 0 {
        reason.push_str(&format!(" and {partial} bytes of the next"));
    }
    if header_chunks > full {
        reason.push_str(&format!(", its header lists {header_chunks} chunks"));
    }
    reason.push_str("; records from here on are lost");
    Some((full, reason))
}

/// Gives a parser error the file's path and takes the chunk, record and
/// offset out of the evtx error's variants.
fn record_error(path: &Path, err: ParserError) -> EvtxError {
    let path = path.to_path_buf();
    match err {
        ParserError::FailedToParseChunk { chunk_id, source } => EvtxError::Chunk {
            path,
            chunk: chunk_id,
            reason: chain(&*source),
        },
        ParserError::FailedToParseRecord { record_id, source } => EvtxError::Record {
            path,
            chunk: None,
            record: Some(record_id),
            offset: None,
            reason: describe(&source),
        },
        ParserError::FailedToReadRecordAt {
            chunk,
            offset,
            source,
        } => EvtxError::Record {
            path,
            chunk,
            record: None,
            offset: Some(offset),
            reason: describe(&source),
        },
        other => EvtxError::Record {
            path,
            chunk: None,
            record: None,
            offset: None,
            reason: describe(&other),
        },
    }
}

/// An evtx error's message and its causes, without the crate's generic
/// wrapper messages ("An error occurred while trying to deserialize evtx
/// stream.") that say nothing.
fn describe(err: &ParserError) -> String {
    match err {
        ParserError::DeserializationError(inner) => chain(inner),
        ParserError::SerializationError(inner) => chain(inner),
        ParserError::InputError(inner) => chain(inner),
        ParserError::IoError(inner) => chain(inner),
        ParserError::FailedToParseRecord { source, .. } => describe(source),
        ParserError::FailedToReadRecordAt { source, .. } => {
            format!("{err}: {}", describe(source))
        }
        other => chain(other),
    }
}

/// `error: cause: cause`, skipping a cause whose text the error already shows.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}

/// The EVTX files among `paths`, folders searched recursively, sorted and
/// without duplicates; and an error for each path that could not be read.
///
/// In folders, a file is taken when its name ends in `.evtx` in any case.
/// A file named in `paths` itself is taken when its name ends so or it
/// starts with the EVTX magic (`ElfFile`), so a renamed log is still read,
/// and is skipped silently otherwise (a JSON export given next to the logs,
/// say, is the caller's to read). Symbolic links to files are followed; links
/// to folders inside a folder are not, which keeps the walk free of cycles.
pub fn find_evtx_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<EvtxError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let io_error = |source| EvtxError::Io {
            path: path.clone(),
            source,
        };
        match fs::metadata(path) {
            Err(source) => errors.push(io_error(source)),
            Ok(meta) if meta.is_dir() => walk(path, &mut files, &mut errors),
            Ok(_) => {
                if has_evtx_extension(path) {
                    files.push(path.clone());
                } else {
                    match starts_with_evtx_magic(path) {
                        Ok(true) => files.push(path.clone()),
                        Ok(false) => {}
                        Err(source) => errors.push(io_error(source)),
                    }
                }
            }
        }
    }
    files.sort();
    files.dedup();
    (files, errors)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<EvtxError>) {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(source) => {
            errors.push(EvtxError::Io {
                path: dir.to_path_buf(),
                source,
            });
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(source) => {
                errors.push(EvtxError::Io {
                    path: dir.to_path_buf(),
                    source,
                });
                continue;
            }
        };
        let path = entry.path();
        let file_type = match entry.file_type() {
            Ok(file_type) => file_type,
            Err(source) => {
                errors.push(EvtxError::Io { path, source });
                continue;
            }
        };
        if file_type.is_dir() {
            walk(&path, files, errors);
        } else if has_evtx_extension(&path) {
            let is_file = file_type.is_file()
                || (file_type.is_symlink() && fs::metadata(&path).is_ok_and(|m| m.is_file()));
            if is_file {
                files.push(path);
            }
        }
    }
}

fn has_evtx_extension(path: &Path) -> bool {
    path.extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("evtx"))
}

fn starts_with_evtx_magic(path: &Path) -> io::Result<bool> {
    let mut magic = [0u8; 8];
    let mut file = File::open(path)?;
    let mut len = 0;
    while len < magic.len() {
        match file.read(&mut magic[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(&magic[..len] == FILE_MAGIC)
}

#[cfg(test)]
mod tests;
