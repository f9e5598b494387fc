//! The streaming record reader: NDJSON lines or the elements of top-level
//! JSON arrays, one [`Record`] (or [`RecordError`]) at a time, buffering only
//! the current record.

use std::io::{self, BufRead};
use std::iter::FusedIterator;

use memchr::memchr;
use serde_json::Value;

use crate::error::RecordError;
use crate::scan::ElementScanner;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Above this, the record buffer is released after one huge record instead
/// of staying allocated for the rest of the input.
const MAX_RETAINED_BUFFER: usize = 8 * 1024 * 1024;

/// The largest record read by default (see [`JsonRecords::with_max_record`]).
/// Decoding costs a few times a record's size in memory; a bigger record is
/// reported and skipped instead of taking the machine's memory with it.
pub const DEFAULT_MAX_RECORD: usize = 256 * 1024 * 1024;

/// One decoded record and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The record; any JSON value (objects are the norm, the caller decides
    /// what to do with others).
    pub value: Value,
    /// 1-based line where the record starts.
    pub line: u64,
    /// 0-based position of the record in this input, counting malformed
    /// records too.
    pub index: u64,
}

/// How the input is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// JSON array mode if the first non-whitespace byte (after an optional
    /// UTF-8 BOM) is `[`, NDJSON otherwise.
    #[default]
    Auto,
    /// One JSON value per line; blank lines are skipped.
    Ndjson,
    /// One or more top-level JSON arrays; their elements are the records.
    JsonArray,
}

impl std::str::FromStr for Format {
    type Err = String;

    /// Parses a command-line style name: `auto`, `ndjson` (or `jsonl`),
    /// `json` (or `array`).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "ndjson" | "jsonl" => Ok(Self::Ndjson),
            "json" | "array" => Ok(Self::JsonArray),
            _ => Err(format!(
                "unknown input format `{name}` (expected auto, ndjson or json)"
            )),
        }
    }
}

/// Where the reader is in the input.
#[derive(Debug, Clone, Copy)]
enum State {
    /// Nothing read yet: BOM, leading whitespace and format detection.
    Start,
    Ndjson,
    /// Array mode, outside any array: expecting `[` or the end.
    ArrayTop,
    /// Just after the `[` of an array opened on `open_line`.
    ArrayOpen {
        open_line: u64,
    },
    /// Just after a `,` separating elements.
    ArrayNext {
        open_line: u64,
    },
    Done,
}

/// What one state-machine step produced.
enum Step<T> {
    /// The state changed without producing anything; step again.
    Continue,
    Yield(Result<T, RecordError>),
    End,
}

/// Decodes one record from its bytes, 1-based start line and index.
trait Decode<T>: FnMut(&[u8], u64, u64) -> serde_json::Result<T> {}
impl<T, F: FnMut(&[u8], u64, u64) -> serde_json::Result<T>> Decode<T> for F {}

/// Streaming iterator over the JSON records of `reader`.
///
/// Yields `Ok(Record)` per decoded record and `Err(RecordError)` per problem.
/// After a [`RecordError::Malformed`] iteration continues; after any other
/// error it ends. Memory use is bounded by the largest single record, and
/// records longer than [`DEFAULT_MAX_RECORD`] (or the maximum set with
/// [`JsonRecords::with_max_record`]) are reported and skipped unread.
pub struct JsonRecords<R: BufRead, P = fn(&[u8]) -> serde_json::Result<Value>> {
    scanner: Scanner<R>,
    /// Decodes one record's bytes (`serde_json::from_slice` unless the
    /// caller brings its own, see [`JsonRecords::with_parser`]).
    parse: P,
}

/// The reading state of [`JsonRecords`]: everything but the decoder, which
/// each step is handed (the iterator's, or the caller's for
/// [`JsonRecords::next_with`]).
struct Scanner<R: BufRead> {
    reader: R,
    format: Format,
    state: State,
    /// Current record's bytes when it spans reader chunks (reused).
    buf: Vec<u8>,
    /// 1-based line of the next unconsumed byte.
    line: u64,
    /// 0-based byte column of the next unconsumed byte.
    col: u64,
    /// Index the next record gets.
    index: u64,
    /// Records longer than this many bytes are skipped (reported as malformed).
    max_record: usize,
}

impl<R: BufRead> JsonRecords<R> {
    /// Reads records from `reader` laid out as `format`.
    pub fn new(reader: R, format: Format) -> Self {
        JsonRecords::with_parser(reader, format, parse_whole)
    }
}

impl<R: BufRead, P: FnMut(&[u8]) -> serde_json::Result<Value>> JsonRecords<R, P> {
    /// [`JsonRecords::new`] with the decoding of each record's bytes left
    /// to `parse` (a selective parse such as [`crate::parse_selected`], say);
    /// its errors are reported like serde_json's, with the record's place.
    pub fn with_parser(reader: R, format: Format, parse: P) -> Self {
        Self {
            scanner: Scanner {
                reader,
                format,
                state: State::Start,
                buf: Vec::new(),
                line: 1,
                col: 0,
                index: 0,
                max_record: DEFAULT_MAX_RECORD,
            },
            parse,
        }
    }

    /// Skips (reports as malformed, naming its line) every record longer
    /// than `bytes` instead of reading it into memory; reading goes on with
    /// the next one. [`DEFAULT_MAX_RECORD`] unless set.
    pub fn with_max_record(mut self, bytes: usize) -> Self {
        self.scanner.max_record = bytes.max(1);
        self
    }

    /// Returns the underlying reader.
    pub fn into_inner(self) -> R {
        self.scanner.reader
    }

    /// The next record, decoded by `decode` instead of this reader's parser:
    /// it is given the record's bytes, its 1-based start line and its index,
    /// and may borrow from the bytes while it runs (parse a borrowing tree
    /// such as `killchain_map::Node`, use it, return what is left). Its
    /// error is reported as a malformed record, with the place, as the
    /// iterator reports serde_json's. `None` at the end of the input.
    pub fn next_with<T>(
        &mut self,
        mut decode: impl FnMut(&[u8], u64, u64) -> serde_json::Result<T>,
    ) -> Option<Result<T, RecordError>> {
        self.scanner.next(&mut decode)
    }
}

impl<R: BufRead> Scanner<R> {
    fn next<T>(&mut self, decode: &mut impl Decode<T>) -> Option<Result<T, RecordError>> {
        loop {
            match self.step(decode) {
                Step::Continue => {}
                Step::Yield(item) => return Some(item),
                Step::End => return None,
            }
        }
    }

    fn step<T>(&mut self, decode: &mut impl Decode<T>) -> Step<T> {
        let result = match self.state {
            State::Start => self.start(),
            State::Ndjson => self.ndjson_line(decode),
            State::ArrayTop => self.array_top(),
            State::ArrayOpen { open_line } => self.array_element(open_line, false, decode),
            State::ArrayNext { open_line } => self.array_element(open_line, true, decode),
            State::Done => return Step::End,
        };
        result.unwrap_or_else(|source| {
            self.state = State::Done;
            Step::Yield(Err(RecordError::Io {
                line: self.line,
                source,
            }))
        })
    }

    /// Skips a BOM and leading whitespace, then picks the mode.
    fn start<T>(&mut self) -> io::Result<Step<T>> {
        let bom_error = self.skip_bom()?;
        let first = self.skip_whitespace()?;
        self.state = match self.format {
            Format::Ndjson => State::Ndjson,
            Format::JsonArray => State::ArrayTop,
            Format::Auto if first == Some(b'[') => State::ArrayTop,
            Format::Auto => State::Ndjson,
        };
        Ok(match bom_error {
            Some(err) => Step::Yield(Err(err)),
            None => Step::Continue,
        })
    }

    /// Consumes a leading UTF-8 BOM, even if the reader hands it over in
    /// pieces. A partial BOM followed by something else has already been
    /// consumed by then, so it is reported rather than silently dropped.
    fn skip_bom(&mut self) -> io::Result<Option<RecordError>> {
        let mut matched = 0;
        while matched < BOM.len() {
            let chunk = fill_buf(&mut self.reader)?;
            let want = &BOM[matched..];
            let common = chunk.iter().zip(want).take_while(|(a, b)| a == b).count();
            let mismatch = common < want.len() && common < chunk.len();
            if common == 0 {
                break;
            }
            self.reader.consume(common);
            matched += common;
            if mismatch {
                break;
            }
        }
        if matched == 0 || matched == BOM.len() {
            return Ok(None);
        }
        // Consume the partial BOM whatever the chunking, so the outcome does
        // not depend on how the reader splits its input.
        let index = self.next_index();
        Ok(Some(RecordError::Malformed {
            line: 1,
            index,
            reason: "incomplete byte order mark at the start of the input".to_owned(),
        }))
    }

    /// Consumes JSON whitespace and returns the next byte without consuming
    /// it (`None` at end of input).
    fn skip_whitespace(&mut self) -> io::Result<Option<u8>> {
        loop {
            let chunk = fill_buf(&mut self.reader)?;
            if chunk.is_empty() {
                return Ok(None);
            }
            for (i, &byte) in chunk.iter().enumerate() {
                match byte {
                    b'\n' => {
                        self.line += 1;
                        self.col = 0;
                    }
                    b' ' | b'\t' | b'\r' => self.col += 1,
                    _ => {
                        self.reader.consume(i);
                        return Ok(Some(byte));
                    }
                }
            }
            let n = chunk.len();
            self.reader.consume(n);
        }
    }

    fn next_index(&mut self) -> u64 {
        let index = self.index;
        self.index += 1;
        index
    }

    /// Reads one NDJSON line; blank lines produce `Continue`.
    fn ndjson_line<T>(&mut self, decode: &mut impl Decode<T>) -> io::Result<Step<T>> {
        let (line, col) = (self.line, self.col);
        self.reset_buf();
        loop {
            let chunk = fill_buf(&mut self.reader)?;
            if chunk.is_empty() {
                if self.buf.is_empty() {
                    self.state = State::Done;
                    return Ok(Step::End);
                }
                break; // Last line without a newline.
            }
            let newline = memchr(b'\n', chunk);
            if self.buf.len() + newline.unwrap_or(chunk.len()) > self.max_record {
                return self.skip_long_line(line);
            }
            match newline {
                // Fast path: the whole line is in the reader's buffer, parse
                // it in place without copying.
                Some(pos) if self.buf.is_empty() => {
                    let step = ndjson_record(decode, &chunk[..pos], line, col, &mut self.index);
                    self.reader.consume(pos + 1);
                    self.line += 1;
                    self.col = 0;
                    return Ok(step);
                }
                Some(pos) => {
                    self.buf.extend_from_slice(&chunk[..pos]);
                    self.reader.consume(pos + 1);
                    break;
                }
                None => {
                    self.buf.extend_from_slice(chunk);
                    let n = chunk.len();
                    self.reader.consume(n);
                }
            }
        }
        self.line += 1;
        self.col = 0;
        Ok(ndjson_record(decode, &self.buf, line, col, &mut self.index))
    }

    /// Consumes the rest of an NDJSON line that is longer than
    /// `max_record`, without keeping it, and reports it.
    fn skip_long_line<T>(&mut self, line: u64) -> io::Result<Step<T>> {
        self.reset_buf();
        loop {
            let chunk = fill_buf(&mut self.reader)?;
            if chunk.is_empty() {
                break;
            }
            if let Some(pos) = memchr(b'\n', chunk) {
                self.reader.consume(pos + 1);
                break;
            }
            let n = chunk.len();
            self.reader.consume(n);
        }
        self.line = line + 1;
        self.col = 0;
        let index = self.next_index();
        Ok(Step::Yield(Err(self.too_long(line, index))))
    }

    fn too_long(&self, line: u64, index: u64) -> RecordError {
        RecordError::Malformed {
            line,
            index,
            reason: format!(
                "record longer than {} bytes (the most read at once); skipped",
                self.max_record
            ),
        }
    }

    /// Array mode between arrays: the next `[`, the end, or garbage.
    fn array_top<T>(&mut self) -> io::Result<Step<T>> {
        match self.skip_whitespace()? {
            None => {
                self.state = State::Done;
                Ok(Step::End)
            }
            Some(b'[') => {
                self.state = State::ArrayOpen {
                    open_line: self.line,
                };
                self.consume_byte();
                Ok(Step::Continue)
            }
            Some(_) => {
                self.state = State::Done;
                Ok(Step::Yield(Err(RecordError::OutsideArray {
                    line: self.line,
                })))
            }
        }
    }

    /// Array mode inside an array, after `[` or `,`: the next element, the
    /// closing `]`, or a stray `,`.
    fn array_element<T>(
        &mut self,
        open_line: u64,
        after_comma: bool,
        decode: &mut impl Decode<T>,
    ) -> io::Result<Step<T>> {
        let Some(first) = self.skip_whitespace()? else {
            self.state = State::Done;
            return Ok(Step::Yield(Err(RecordError::UnclosedArray {
                line: open_line,
            })));
        };
        match first {
            b']' => {
                self.state = State::ArrayTop;
                let line = self.line;
                self.consume_byte();
                if !after_comma {
                    return Ok(Step::Continue);
                }
                Ok(Step::Yield(Err(RecordError::Malformed {
                    line,
                    index: self.next_index(),
                    reason: "expected a value after `,`, found `]`".to_owned(),
                })))
            }
            b',' => {
                self.state = State::ArrayNext { open_line };
                let line = self.line;
                self.consume_byte();
                Ok(Step::Yield(Err(RecordError::Malformed {
                    line,
                    index: self.next_index(),
                    reason: "expected a value, found `,`".to_owned(),
                })))
            }
            _ => self.read_element(open_line, decode),
        }
    }

    /// Reads and parses the element starting at the next byte, and consumes
    /// the `,` or `]` after it.
    fn read_element<T>(
        &mut self,
        open_line: u64,
        decode: &mut impl Decode<T>,
    ) -> io::Result<Step<T>> {
        let (line, col) = (self.line, self.col);
        let index = self.next_index();
        self.reset_buf();
        let mut scanner = ElementScanner::default();
        loop {
            let chunk = fill_buf(&mut self.reader)?;
            if chunk.is_empty() {
                return Ok(self.element_at_eof(&scanner, open_line, (line, col, index), decode));
            }
            let Some(pos) = scanner.scan(chunk) else {
                let n = chunk.len();
                if self.buf.len() + n > self.max_record {
                    // Too long: stop keeping it, count where it got to.
                    let (l, c) = advance(line, col, &self.buf);
                    let end = advance(l, c, chunk);
                    self.reader.consume(n);
                    self.reset_buf();
                    return self.skip_long_element(scanner, open_line, (line, index), end);
                }
                self.buf.extend_from_slice(chunk);
                self.reader.consume(n);
                continue;
            };
            if self.buf.len() + pos > self.max_record {
                let (l, c) = advance(line, col, &self.buf);
                let end = advance(l, c, &chunk[..pos]);
                let delimiter = chunk[pos];
                self.reset_buf();
                return Ok(self.long_element_ends(delimiter, pos, open_line, end, (line, index)));
            }
            self.state = after_element(chunk[pos], open_line);
            // Parse in place when the element sits in one reader chunk.
            let element = if self.buf.is_empty() {
                &chunk[..pos]
            } else {
                self.buf.extend_from_slice(&chunk[..pos]);
                &self.buf[..]
            };
            let parsed = decode(element, line, index);
            let (end_line, end_col) = match parsed {
                Ok(_) => advance_valid(line, col, element, scanner.newlines()),
                // Invalid JSON may hide raw newlines in strings; recount.
                Err(_) => advance(line, col, element),
            };
            self.reader.consume(pos + 1);
            self.line = end_line;
            self.col = end_col + 1;
            return Ok(Step::Yield(
                parsed.map_err(|err| malformed(&err, line, col, index)),
            ));
        }
    }

    /// Consumes the rest of an array element that is longer than
    /// `max_record`, from the next unread byte (at line and column `end`),
    /// without keeping it, and reports it; the `,` or `]` after it is
    /// consumed as after any element.
    fn skip_long_element<T>(
        &mut self,
        mut scanner: ElementScanner,
        open_line: u64,
        (line, index): (u64, u64),
        mut end: (u64, u64),
    ) -> io::Result<Step<T>> {
        loop {
            let chunk = fill_buf(&mut self.reader)?;
            if chunk.is_empty() {
                self.state = State::Done;
                return Ok(Step::Yield(Err(RecordError::Truncated { line, index })));
            }
            match scanner.scan(chunk) {
                Some(pos) => {
                    end = advance(end.0, end.1, &chunk[..pos]);
                    let delimiter = chunk[pos];
                    return Ok(self.long_element_ends(
                        delimiter,
                        pos,
                        open_line,
                        end,
                        (line, index),
                    ));
                }
                None => {
                    end = advance(end.0, end.1, chunk);
                    let n = chunk.len();
                    self.reader.consume(n);
                }
            }
        }
    }

    /// An over-long element ends at `pos` of the reader's chunk, with
    /// `delimiter` there and its last byte at `end`: consumes through the
    /// delimiter, as after any element, and reports the element.
    fn long_element_ends<T>(
        &mut self,
        delimiter: u8,
        pos: usize,
        open_line: u64,
        end: (u64, u64),
        (line, index): (u64, u64),
    ) -> Step<T> {
        self.state = after_element(delimiter, open_line);
        self.reader.consume(pos + 1);
        (self.line, self.col) = (end.0, end.1 + 1);
        Step::Yield(Err(self.too_long(line, index)))
    }

    /// The input ended inside an element, before its `,` or `]`. If the
    /// element is complete (an object, array or string closed at depth 0) it
    /// is still returned, and the unclosed array is reported next; a number
    /// or literal may have been cut short, so it counts as truncated.
    fn element_at_eof<T>(
        &mut self,
        scanner: &ElementScanner,
        open_line: u64,
        (line, col, index): (u64, u64, u64),
        decode: &mut impl Decode<T>,
    ) -> Step<T> {
        let last = self
            .buf
            .iter()
            .rev()
            .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
        if !scanner.is_balanced() || !matches!(last, Some(b'}' | b']' | b'"')) {
            self.state = State::Done;
            return Step::Yield(Err(RecordError::Truncated { line, index }));
        }
        // Back in "after `[`" state: at end of input it reports the array.
        self.state = State::ArrayOpen { open_line };
        (self.line, self.col) = advance(line, col, &self.buf);
        Step::Yield(decode(&self.buf, line, index).map_err(|err| malformed(&err, line, col, index)))
    }

    fn consume_byte(&mut self) {
        self.reader.consume(1);
        self.col += 1;
    }

    fn reset_buf(&mut self) {
        if self.buf.capacity() > MAX_RETAINED_BUFFER {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
    }
}

impl<R: BufRead, P: FnMut(&[u8]) -> serde_json::Result<Value>> Iterator for JsonRecords<R, P> {
    type Item = Result<Record, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        let parse = &mut self.parse;
        self.scanner.next(&mut |bytes: &[u8], line, index| {
            parse(bytes).map(|value| Record { value, line, index })
        })
    }
}

impl<R: BufRead, P: FnMut(&[u8]) -> serde_json::Result<Value>> FusedIterator for JsonRecords<R, P> {}

/// The default decoding: the whole record as a `Value`.
fn parse_whole(bytes: &[u8]) -> serde_json::Result<Value> {
    serde_json::from_slice(bytes)
}

/// Where the reader is after an element ended by `delimiter` (`,` or `]`).
fn after_element(delimiter: u8, open_line: u64) -> State {
    if delimiter == b',' {
        State::ArrayNext { open_line }
    } else {
        State::ArrayTop
    }
}

/// `fill_buf`, retrying when interrupted by a signal.
fn fill_buf<R: BufRead>(reader: &mut R) -> io::Result<&[u8]> {
    loop {
        match reader.fill_buf() {
            // End of input: don't call fill_buf again, which on a terminal
            // would wait for a second end-of-file.
            Ok([]) => return Ok(&[]),
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    // The buffer holds data now, so this returns it without reading again.
    // (Returning the first borrow from inside the loop doesn't pass the
    // borrow checker.)
    reader.fill_buf()
}

/// Decodes one NDJSON line (without its `\n`; a trailing `\r` is JSON
/// whitespace). Blank lines are not records.
fn ndjson_record<T>(
    decode: &mut impl Decode<T>,
    bytes: &[u8],
    line: u64,
    col: u64,
    next_index: &mut u64,
) -> Step<T> {
    if bytes.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
        return Step::Continue;
    }
    let index = *next_index;
    *next_index += 1;
    Step::Yield(decode(bytes, line, index).map_err(|err| malformed(&err, line, col, index)))
}

/// Line and column just after `bytes`, which start at `line`, `col`.
fn advance(line: u64, col: u64, bytes: &[u8]) -> (u64, u64) {
    let newlines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    advance_valid(line, col, bytes, newlines)
}

/// [`advance`] when the number of newlines in `bytes` is already known.
fn advance_valid(line: u64, col: u64, bytes: &[u8], newlines: u64) -> (u64, u64) {
    match memchr::memrchr(b'\n', bytes) {
        Some(last) if newlines > 0 => (line + newlines, (bytes.len() - last - 1) as u64),
        _ => (line, col + bytes.len() as u64),
    }
}

/// Builds the error for a record serde_json rejected, translating its
/// record-relative position into one in the whole input.
fn malformed(err: &serde_json::Error, line: u64, col: u64, index: u64) -> RecordError {
    let full = err.to_string();
    let (err_line, err_col) = (err.line() as u64, err.column() as u64);
    let reason = if err_line == 0 {
        full
    } else {
        let suffix = format!(" at line {} column {}", err.line(), err.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full);
        if err_line == 1 {
            format!("{message} at column {}", col + err_col)
        } else {
            format!("{message} at line {} column {err_col}", line + err_line - 1)
        }
    };
    RecordError::Malformed {
        line,
        index,
        reason,
    }
}
