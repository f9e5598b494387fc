//! Respond: ATT&CK countermeasures for techniques (mitigations, detection
//! strategies and the data components to watch, ATT&CK v18 data) and the
//! response playbooks per kill chain stage (YAML data: the built-in
//! `playbooks/builtin.yaml`, overridable by user files).

use std::collections::BTreeMap;

use killchain_kb::models::ModelSet;
use killchain_kb::AttackKb;
use serde::{Deserialize, Serialize};

use crate::prediction::{Countermeasure, Named, Role};
use crate::AnticipateError;

/// The built-in playbooks (embedded).
pub const BUILTIN_PLAYBOOKS: &str = include_str!("../playbooks/builtin.yaml");

/// Countermeasures for one technique (kb index). A sub-technique without
/// mitigations of its own gets its parent's (ATT&CK often mitigates at
/// parent level); `via_parent` says so.
pub fn countermeasures(kb: &AttackKb, technique: usize, role: Role) -> Countermeasure {
    let t = kb.technique(technique);
    let mut mitigations = kb.mitigations_for(technique);
    let mut via_parent = None;
    if mitigations.is_empty() {
        if let Some(p) = kb.parent_of(technique) {
            mitigations = kb.mitigations_for(p);
            if !mitigations.is_empty() {
                via_parent = Some(kb.technique(p).id.clone());
            }
        }
    }
    let mut mitigations: Vec<Named> = mitigations
        .iter()
        .map(|m| Named::new(&m.id, &m.name))
        .collect();
    mitigations.sort();
    mitigations.dedup();
    let strategies = kb.detection_strategies_for(technique);
    let mut detection_strategies: Vec<Named> = strategies
        .iter()
        .map(|d| Named::new(&d.id, &d.name))
        .collect();
    detection_strategies.sort();
    detection_strategies.dedup();
    let mut data_components: Vec<Named> = strategies
        .iter()
        .flat_map(|d| d.analytics.iter())
        .filter_map(|a| kb.analytic(a))
        .flat_map(|a| a.data_components.iter())
        .filter_map(|dc| kb.data_component(dc))
        .map(|dc| Named::new(&dc.id, &dc.name))
        .collect();
    data_components.sort();
    data_components.dedup();
    Countermeasure {
        technique: t.id.clone(),
        name: t.name.clone(),
        role,
        mitigations,
        mitigations_via_parent: via_parent,
        detection_strategies,
        data_components,
    }
}

/// One stage's playbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StagePlaybook {
    /// Kill chain model ID (`lm`, `attack`, `ukc`, custom).
    pub model: String,
    /// Phase ID in that model.
    pub phase: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default)]
    pub containment: Vec<String>,
    #[serde(default)]
    pub eradication: Vec<String>,
    #[serde(default)]
    pub recovery: Vec<String>,
    /// Where it came from (`built-in` or the file name); set on load.
    #[serde(default, skip_deserializing)]
    pub origin: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaybookFile {
    playbooks: Vec<StagePlaybook>,
}

/// Playbooks keyed by (model, phase). Later files replace earlier entries.
#[derive(Debug, Clone, Default)]
pub struct Playbooks {
    by_stage: BTreeMap<(String, String), StagePlaybook>,
    /// Entries naming a model or phase the model set does not know.
    pub warnings: Vec<String>,
}

impl Playbooks {
    /// The built-in playbooks.
    pub fn builtin() -> Self {
        let mut p = Playbooks::default();
        // The embedded file is tested (`builtin_playbooks_load`); a failure
        // here would leave the set empty rather than crash.
        if let Err(e) = p.add_yaml(BUILTIN_PLAYBOOKS, "built-in") {
            p.warnings.push(e.to_string());
        }
        p
    }

    /// Add a playbook file; entries replace those of the same (model, phase).
    pub fn add_yaml(&mut self, text: &str, input: &str) -> Result<usize, AnticipateError> {
        killchain_kb::yaml_depth::check(text).map_err(|reason| AnticipateError::Playbook {
            input: input.to_string(),
            reason,
        })?;
        let file: PlaybookFile =
            yaml_serde::from_str(text).map_err(|e| AnticipateError::Playbook {
                input: input.to_string(),
                reason: e.to_string(),
            })?;
        let n = file.playbooks.len();
        for mut p in file.playbooks {
            p.origin = input.to_string();
            p.model = p.model.trim().to_ascii_lowercase();
            p.phase = p.phase.trim().to_ascii_lowercase();
            self.by_stage.insert((p.model.clone(), p.phase.clone()), p);
        }
        Ok(n)
    }

    /// Report entries whose model or phase the model set does not know.
    pub fn check(&mut self, models: &ModelSet) {
        for ((model, phase), p) in &self.by_stage {
            match models.get(model) {
                None => self.warnings.push(format!(
                    "{}: playbook for unknown model {model:?} (unused)",
                    p.origin
                )),
                Some(m) if m.phase_by_name(phase).is_none() => self.warnings.push(format!(
                    "{}: playbook for unknown phase {phase:?} of model {model} (unused)",
                    p.origin
                )),
                _ => {}
            }
        }
    }

    pub fn get(&self, model: &str, phase: &str) -> Option<&StagePlaybook> {
        self.by_stage
            .get(&(model.to_ascii_lowercase(), phase.to_ascii_lowercase()))
    }

    pub fn len(&self) -> usize {
        self.by_stage.len()
    }
    pub fn is_empty(&self) -> bool {
        self.by_stage.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use killchain_kb::AttackData;

    #[test]
    fn builtin_playbooks_load_and_cover_every_builtin_model() {
        let kb = AttackKb::new(AttackData::embedded().unwrap());
        let models = ModelSet::new(&kb, vec![]).unwrap();
        let mut p = Playbooks::builtin();
        p.check(&models);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        for id in ["lm", "attack", "ukc"] {
            for phase in &models.get(id).unwrap().phases {
                let pb = p
                    .get(id, &phase.id)
                    .unwrap_or_else(|| panic!("{id} {}", phase.id));
                assert!(
                    !pb.containment.is_empty()
                        && !pb.eradication.is_empty()
                        && !pb.recovery.is_empty()
                );
            }
        }
        // Every step is a sentence: catches YAML flow lists split at commas.
        for ((model, phase), pb) in &p.by_stage {
            for step in pb
                .containment
                .iter()
                .chain(&pb.eradication)
                .chain(&pb.recovery)
            {
                assert!(
                    step.ends_with('.') && step.starts_with(char::is_uppercase),
                    "{model} {phase}: {step:?}"
                );
            }
        }
        let c2 = p.get("lm", "command-and-control").unwrap();
        assert!(c2
            .containment
            .iter()
            .any(|s| s.contains("Block the destination")));
    }

    #[test]
    fn user_playbooks_replace_builtin_and_bad_files_name_themselves() {
        let mut p = Playbooks::builtin();
        let n = p
            .add_yaml(
                "playbooks:\n  - {model: LM, phase: delivery, containment: [call the SOC lead]}\n",
                "mine.yaml",
            )
            .unwrap();
        assert_eq!(n, 1);
        let d = p.get("lm", "delivery").unwrap();
        assert_eq!(d.containment, vec!["call the SOC lead"]);
        assert_eq!(d.origin, "mine.yaml");
        let e = p
            .add_yaml(
                "playbooks:\n  - {model: lm, phase: x, contain: []}\n",
                "bad.yaml",
            )
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("bad.yaml: invalid playbook"), "{e}");
        assert!(e.contains("contain"), "{e}");
    }

    #[test]
    fn countermeasures_name_mitigations_and_data_components() {
        let kb = AttackKb::new(AttackData::embedded().unwrap());
        let (t, _) = kb.technique_by_id("T1059.001").unwrap();
        let c = countermeasures(&kb, t, Role::Observed);
        assert!(
            c.mitigations.iter().any(|m| m.id == "M1042"),
            "{:?}",
            c.mitigations
        );
        assert!(!c.detection_strategies.is_empty());
        assert!(!c.data_components.is_empty());
        assert!(c.data_components.windows(2).all(|w| w[0] < w[1]));
    }
}
