//! killchain-anticipate: anticipate and respond.
//!
//! Pure and I/O-free: callers hand in bytes (Attack Flow files, a saved
//! model, playbook YAML) and the kb, and get typed data back.
//!
//! - [`flow`]: Attack Flow import (`.afb` builder files, STIX bundles).
//! - [`model`]: the next-move model learned from flows and ATT&CK procedures.
//! - [`eval`]: leave-one-incident-out evaluation with baselines.

pub mod error;
pub mod eval;
pub mod flow;
pub mod model;

pub use error::AnticipateError;
