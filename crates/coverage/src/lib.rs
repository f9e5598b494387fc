//! killchain-coverage: the organisation's defences joined with ATT&CK and
//! the kill chain models. Pure and synchronous: the caller reads files and
//! hands in texts and loaded rules; nothing here does I/O or reads the clock.
//!
//! ```text
//! inventory YAML ─┐ (inventory.rs: controls, mitigations)
//! DeTT&CT YAML ───┼─> Vec<Control> ─┬─> analysis.rs  coverage per technique / tactic / phase,
//! Sigma RuleInfo ─┘ (dettect.rs,    │                 layers, single points, visible-not-detected, gaps
//!                    rules.rs)      ├─> invest.rs    greedy investment list
//! threat.rs (groups, campaigns) ────┤
//! flow.rs (.afb) ─> simulate.rs ────┴─> first stop per path, n-1, hitting set
//!                        report.rs ─> render.rs (md, html, csv), navigator.rs (layer 4.5)
//! ```
//!
//! ```
//! use killchain_coverage::{analyse, inventory, AnalysisOptions, Collected, Inputs, ThreatProfile};
//! use killchain_kb::{models::ModelSet, AttackData, AttackKb};
//!
//! let kb = AttackKb::new(AttackData::embedded().unwrap());
//! let models = ModelSet::new(&kb, vec![]).unwrap();
//! let yaml = "controls:\n  - {id: EDR, name: EDR, kind: detect, strength: 4, tested: true, covers: [{technique: T1003.001}]}\n";
//! let resolver = inventory::Resolver { kb: &kb, models: &models };
//! let (controls, issues) =
//!     inventory::load_inventory(yaml, "inv.yaml", &resolver, &Default::default()).unwrap();
//! assert!(issues.is_empty());
//! let threat = ThreatProfile::selected(&kb, &["G0016".into()], &[]).unwrap();
//! let collected = Collected::default();
//! let inputs = Inputs { kb: &kb, models: &models, controls: &controls, threat: &threat, collected: &collected };
//! let a = analyse(&inputs, &AnalysisOptions::default());
//! let lsass = a.techniques.iter().find(|t| t.id == "T1003.001").unwrap();
//! assert_eq!(lsass.layers, ["EDR"]);
//! assert!((lsass.scores.detect - 0.8).abs() < 1e-9);
//! ```

pub mod analysis;
pub mod control;
pub mod dettect;
pub mod error;
pub mod flow;
pub mod inventory;
pub mod invest;
pub mod navigator;
pub mod render;
pub mod report;
pub mod rules;
pub mod simulate;
pub mod threat;

pub use analysis::{analyse, Analysis, AnalysisOptions, Inputs};
pub use control::{Control, Kind, TestPolicy};
pub use error::{CoverageError, Issue};
pub use invest::{invest, InvestOptions, Investment};
pub use report::{InputSummary, Report, RulesSummary, ThreatSummary};
pub use rules::{rule_controls, Collected, RuleOptions};
pub use simulate::{simulate, Simulation};
pub use threat::ThreatProfile;
