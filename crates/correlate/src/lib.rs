//! killchain-correlate: findings into incidents, and where each incident
//! stands in the kill chain. Pure and synchronous: no files, no clock, no
//! threads; time is the event time the signals carry.
//!
//! ```text
//! Finding (+ raw record) --Signal::from_finding--> Signal (normalised entity keys)
//!   --Correlator::push (reorder buffer, watermark)--> union-find over incidents
//!   --drain_closed / finish--> RawIncident --build--> Incident
//!        (progression per model and host, flags, severity, evidence)
//! ```
//!
//! ```
//! use killchain_correlate::{correlate_batch, build, BuildOptions, Config, Signal};
//! use killchain_map::finding::{Entities, Finding, RecordRef};
//!
//! let finding = |t: &str, host: &str, line: u64| Finding {
//!     time: Some(t.parse().unwrap()),
//!     entities: Entities { hosts: vec![host.into()], users: vec!["CORP\\alice".into()], ..Entities::default() },
//!     record: RecordRef { file: Some("a.ndjson".into()), line: Some(line), ..RecordRef::default() },
//!     ..Finding::default()
//! };
//! let signals = vec![
//!     Signal::from_finding(&finding("2024-01-01T10:00:00Z", "ws01", 1), None).unwrap(),
//!     Signal::from_finding(&finding("2024-01-01T10:05:00Z", "ws02", 2), None).unwrap(),
//! ];
//! let (raw, _stats, _common) = correlate_batch(signals, &Config::default());
//! assert_eq!(raw.len(), 1); // joined through the user alice
//! let incident = build(raw.into_iter().next().unwrap(), &BuildOptions::default());
//! assert_eq!(incident.hosts, ["ws01", "ws02"]);
//! ```

pub mod engine;
mod entities;
mod held;
pub mod incident;
pub mod progress;
pub mod severity;
pub mod signal;

pub use engine::{
    correlate_batch, incident_id, learn_common, CommonEntity, CommonPolicy, Commonness, Config,
    Correlator, Lateral, RawIncident, Stats,
};
pub use incident::{build, carry_ids, BuildOptions, FindingRef, Incident};
pub use progress::{Flag, FlagKind, ModelPhases, Progression, Step};
pub use severity::{AssetConfig, Assets, Criticality, Preset, Severity, SeverityOptions};
pub use signal::{EntityKey, EntityKind, Level, PhaseAt, Signal, SignalRecord};

/// Errors of the correlation engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CorrelateError {
    /// A finding without an event time cannot be placed in a window.
    #[error("no event time")]
    NoTime,
    /// An asset pattern that does not compile.
    #[error("asset pattern {pattern:?}: {reason}")]
    Pattern { pattern: String, reason: String },
}
