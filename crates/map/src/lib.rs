//! killchain-map: from alert records to findings placed on ATT&CK and the kill chain.
//!
//! Pure and I/O-free. Records are [`node::Node`]s: JSON trees that borrow
//! their strings from the bytes they were parsed from (about half the cost
//! of a `serde_json::Value`; `Node::from_value` borrows a `Value`). The
//! pipeline for one record:
//!
//! 1. [`extract`] finds ATT&CK references where real tools put them (ECS,
//!    Elastic, Sigma tags, Hayabusa, Wazuh, Splunk, STIX, plain fields, rule
//!    names as a last resort, then Suricata / Snort signature classes via
//!    [`signature_class`]), [`facts`] finds time, entities and the rule;
//!    [`path`] resolves dotted field paths over nested and flat JSON.
//! 2. [`mapper`] resolves them against the ATT&CK knowledge base and places
//!    them in every selected kill chain model, producing a [`finding::Finding`].
//! 3. [`enrich`] writes the finding back into the record as ECS `threat.*`
//!    plus `kill_chain.<model>` (the NDJSON output schema); [`summary`] counts.

pub mod enrich;
pub mod extract;
pub mod facts;
pub mod finding;
pub mod mapper;
pub mod node;
pub mod path;
pub mod signature_class;
pub mod summary;

pub use finding::Finding;
pub use mapper::{Mapped, Mapper, Note};
pub use node::Node;
