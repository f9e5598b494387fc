//! killchain-ingest: the input edge of killchain.
//!
//! Turns alert/event files (NDJSON or JSON arrays, plain or gzip, files or
//! stdin) into a stream of [`serde_json::Value`] records with bounded memory.
//! Bad input never aborts the stream: each malformed record comes back as a
//! [`RecordError`] naming its line, and the next record follows.
//!
//! - [`open_input`]: open a path (`-` = stdin), transparently gunzipping.
//! - [`JsonRecords`]: the record iterator over any [`std::io::BufRead`].
//!
//! ```
//! use killchain_ingest::{Format, JsonRecords};
//!
//! let input = b"{\"a\":1}\n{\"a\": }\n{\"a\":3}\n";
//! let mut ok = 0;
//! let mut bad = Vec::new();
//! for item in JsonRecords::new(&input[..], Format::Auto) {
//!     match item {
//!         Ok(_record) => ok += 1,
//!         Err(err) => bad.push(err.to_string()),
//!     }
//! }
//! assert_eq!(ok, 2);
//! assert_eq!(bad, ["line 2: expected value at column 7"]);
//! ```

mod error;
mod input;
mod json_records;
mod scan;

pub use error::RecordError;
pub use input::open_input;
pub use json_records::{Format, JsonRecords, Record};
