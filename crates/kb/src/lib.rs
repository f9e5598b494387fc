//! killchain-kb: the ATT&CK knowledge base and the kill chain models.
//!
//! Pure and I/O-free: callers hand in bytes (a STIX bundle, a compressed index,
//! a model YAML) and get typed data back.
//!
//! - [`attack`]: the compact ATT&CK index (`AttackData`) and its lookups (`AttackKb`).
//! - [`stix`]: the generator, STIX 2.0/2.1 bundle -> `AttackData`.
//! - [`index`]: the compressed index format and the embedded default.
//! - [`models`]: kill chain models (Lockheed Martin, ATT&CK, Unified Kill Chain,
//!   custom) and the technique -> phase mapping.
//! - [`severity`]: severity levels as Sigma spells them, shared by the rule
//!   engine and the correlator.
//!
//! ```
//! # #[cfg(feature = "embedded")] {
//! use killchain_kb::{AttackData, AttackKb, models::{ModelSet, PlaceInput}};
//! let kb = AttackKb::new(AttackData::embedded().unwrap());
//! let models = ModelSet::new(&kb, vec![]).unwrap();
//! let (phishing, _) = kb.technique_by_id("attack.t1566.001").unwrap();
//! let lm = models.index_of("lm").unwrap();
//! let placed = models.place(lm, &PlaceInput { techniques: &[phishing], ..Default::default() }).unwrap();
//! assert_eq!(models.models()[lm].phases[placed.primary].id, "delivery");
//! # }
//! ```

pub mod attack;
pub mod error;
pub mod index;
pub mod models;
pub mod severity;
pub mod stix;
pub mod yaml_depth;

pub use attack::{AttackData, AttackKb};
pub use error::KbError;
