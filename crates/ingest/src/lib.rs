//! killchain-ingest: the input edge of killchain.
//!
//! Turns alert/event files (NDJSON or JSON arrays, plain or gzip, files or
//! stdin; Windows EVTX logs) into a stream of [`serde_json::Value`] records
//! with bounded memory. Bad input never aborts the stream: each malformed
//! record comes back as an error naming its line (or EVTX chunk and record),
//! and the next record follows.
//!
//! - [`open_input`]: open a path (`-` = stdin), transparently gunzipping.
//! - [`JsonRecords`]: the record iterator over any [`std::io::BufRead`].
//! - [`evtx`]: find EVTX files ([`find_evtx_files`]) and stream their events
//!   as JSON ([`EvtxFile`]), damage reported per chunk and record
//!   ([`EvtxError`]).
//! - [`windows`]: any Windows event record (EVTX JSON, flat exports such as
//!   OTRF's, Winlogbeat/ECS) as a flat list of `(Sigma field name, &value)`
//!   pairs borrowed from the record ([`flatten_windows`]), for the Sigma
//!   engine. Pure: no I/O.
//! - [`parse_selected`]: a record parsed with only the members a consumer
//!   reads materialised (the others' strings handed over, not allocated).
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
pub mod evtx;
mod input;
mod json_records;
mod scan;
mod selective;
pub mod windows;
mod zip_input;

pub use crate::evtx::{find_evtx_files, EvtxError, EvtxFile, EvtxRecord};
pub use error::RecordError;
pub use input::open_input;
pub use json_records::{Format, JsonRecords, Record, DEFAULT_MAX_RECORD};
pub use selective::parse_selected;
pub use windows::{detect_shape, flatten_windows, WinShape};
pub use zip_input::{for_each_zip_member, not_log_member};
