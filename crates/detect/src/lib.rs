//! killchain-detect: a compiled Sigma engine.
//!
//! Rules are parsed with `rsigma-parser` and compiled into killchain's own
//! evaluator (`compile.rs`, `matcher.rs`), routed by logsource through
//! pipelines that are data (`pipeline.rs`, `pipelines/*.yaml`), and evaluated
//! per event (`engine.rs`) with Sigma v2 semantics: every value modifier,
//! wildcards, keywords, the full condition grammar, Sigma filters. Pure: the
//! caller reads rule files and events; the engine does no I/O.
//!
//! ```
//! use killchain_detect::{Engine, JsonEvent, Options, Pipeline, RuleText, Scratch};
//! use serde_json::json;
//!
//! let rule = RuleText {
//!     path: "whoami.yml".into(),
//!     text: "title: Whoami\nlogsource: {product: windows, category: process_creation}\n\
//!            detection:\n  sel:\n    Image|endswith: '\\whoami.exe'\n  condition: sel\n".into(),
//! };
//! let (engine, report) = Engine::build(&[rule], &Pipeline::builtin(), &Options::default());
//! assert_eq!(report.loaded(), 1);
//! let event = json!({"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1,
//!                    "Image": "C:\\Windows\\System32\\WHOAMI.EXE"});
//! let mut hits = Vec::new();
//! engine.evaluate(&JsonEvent(&event), &mut Scratch::default(), &mut hits);
//! assert_eq!(hits, [0]);
//! ```

mod builtin;
mod compile;
pub mod correlation;
mod engine;
mod event;
mod matcher;
pub mod pipeline;
mod prefilter;
pub mod rules;

pub use builtin::builtin_rules;
pub use compile::{CompileError, Placeholders};
pub use correlation::{Correlation, CorrelationHit, CorrelationKind, Correlator};
pub use engine::{Engine, LeftOut, Options, RuleText, Scratch, Selection};
pub use event::{Event, FieldList, JsonEvent};
pub use pipeline::{Pipeline, PipelineError, PipelineFile};
pub use rules::{Level, LoadEntry, LoadReport, Outcome, RuleInfo};
