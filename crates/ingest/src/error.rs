//! The per-record error type of the reader. Every variant carries the 1-based
//! line it concerns so callers can print `file: line N: reason`.

/// A record (or a stretch of input) that could not be decoded.
///
/// [`Malformed`](RecordError::Malformed) is recoverable: the iterator carries
/// on with the next record. The other variants end the iteration (the input is
/// exhausted, unreadable, or not a JSON array where one was required).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// A complete record that is not valid JSON (or not valid UTF-8).
    #[error("line {line}: {reason}")]
    Malformed {
        /// Line where the record starts.
        line: u64,
        /// 0-based position of the record in this input.
        index: u64,
        /// What is wrong, e.g. `expected value at column 3`.
        reason: String,
    },
    /// The input ended inside a record (unterminated string, object or
    /// array, or an array element not followed by `,` or `]`).
    #[error("line {line}: input ended inside the record that starts here")]
    Truncated {
        /// Line where the unterminated record starts.
        line: u64,
        /// 0-based position of the record in this input.
        index: u64,
    },
    /// The input ended before the closing `]` of a JSON array (after a
    /// complete element or a `,`).
    #[error("line {line}: input ended before the JSON array opened here was closed")]
    UnclosedArray {
        /// Line of the array's opening `[`.
        line: u64,
    },
    /// In JSON array mode, data that is neither whitespace nor a `[` outside
    /// any array: trailing garbage after `]`, or an input that is not an
    /// array at all. Reported once; the rest of the input is not read.
    #[error(
        "line {line}: unexpected data outside a JSON array (expected `[`); the rest of the input is not read"
    )]
    OutsideArray {
        /// Line where the unexpected data starts.
        line: u64,
    },
    /// Reading (or decompressing) the input failed; iteration ends.
    #[error("line {line}: read error: {source}")]
    Io {
        /// Line being read when the error happened.
        line: u64,
        #[source]
        source: std::io::Error,
    },
}

impl RecordError {
    /// The 1-based line the error concerns.
    pub fn line(&self) -> u64 {
        match self {
            Self::Malformed { line, .. }
            | Self::Truncated { line, .. }
            | Self::UnclosedArray { line }
            | Self::OutsideArray { line }
            | Self::Io { line, .. } => *line,
        }
    }

    /// The 0-based record position, for errors about one record.
    pub fn index(&self) -> Option<u64> {
        match self {
            Self::Malformed { index, .. } | Self::Truncated { index, .. } => Some(*index),
            Self::UnclosedArray { .. } | Self::OutsideArray { .. } | Self::Io { .. } => None,
        }
    }

    /// Whether iteration continues after this error (only for
    /// [`Malformed`](RecordError::Malformed)).
    pub fn is_recoverable(&self) -> bool {
        matches!(self, Self::Malformed { .. })
    }
}
