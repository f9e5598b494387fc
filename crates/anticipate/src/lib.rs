//! killchain-anticipate: anticipate and respond.
//!
//! Pure and I/O-free: callers hand in bytes (Attack Flow files, a saved
//! model, playbook YAML) and the kb, and get typed data back.
//!
//! ```text
//! flows (.afb, STIX), sequences (CSV, JSON) ──flow / sequence──> Flow ──model::resolve_flows──> ResolvedFlow ─┐
//! kb (groups, software, campaigns) ─────────────────────────> Procedures ───┴─> Predictor
//! Observed (technique IDs, findings, incident) ──Anticipator::predict──> Prediction
//!   (next tactics / techniques / phases with evidence, adversaries,
//!    countermeasures, playbooks)
//! ```
//!
//! - [`flow`]: Attack Flow import (`.afb` builder files, STIX bundles).
//! - [`sequence`]: ordered incident timelines (CSV, JSON) read as linear flows.
//! - [`model`]: the next-move model learned from flows and ATT&CK procedures.
//! - [`history`]: what came before each action of a flow, for all actions at once.
//! - [`procedures`]: ATT&CK groups, campaigns and software indexed for it
//!   (similarity, co-usage, the posterior over who is acting).
//! - [`predict`]: the prediction API ([`Anticipator::predict`]).
//! - [`prediction`]: the result types (the `--json` schema).
//! - [`adversary`]: likely groups, campaigns and software.
//! - [`respond`]: countermeasures and stage playbooks.
//! - [`fit`]: mixture weights learned from the training flows (EM).
//! - [`eval`]: leave-one-incident-out evaluation with baselines.

pub mod adversary;
pub mod error;
pub mod eval;
pub mod fit;
pub mod flow;
pub mod history;
pub mod model;
pub mod predict;
pub mod prediction;
pub mod procedures;
pub mod respond;
pub mod sequence;

pub use error::AnticipateError;
pub use predict::{Anticipator, PredictOptions};
pub use prediction::{Observed, ObservedStep, Prediction};
pub use respond::Playbooks;
