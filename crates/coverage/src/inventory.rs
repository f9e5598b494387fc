//! The control inventory: a YAML file of the organisation's defences
//! (schema in docs/coverage.md), parsed control by control so that one bad
//! control is reported (file, control, reason) and the others load. What a
//! control covers is resolved against the knowledge base here: techniques
//! (a parent names the parent only unless `subtechniques: true`), tactics,
//! kill chain phases of any model, and ATT&CK mitigations, expanded to the
//! techniques ATT&CK says they mitigate.

use killchain_kb::models::ModelSet;
use killchain_kb::AttackKb;
use serde::Deserialize;

use crate::control::{Control, Cover, Kind, Origin, TestPolicy, Tested};
use crate::error::{CoverageError, Issue};

/// Strength of an ATT&CK mitigation listed without one.
pub const DEFAULT_MITIGATION_STRENGTH: f64 = 3.0;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryFile {
    #[serde(default)]
    #[allow(dead_code)]
    version: Option<yaml_serde::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    name: Option<String>,
    #[serde(default)]
    controls: Vec<yaml_serde::Value>,
    /// Shorthand: ATT&CK mitigation IDs (or control maps with `mitigation:`).
    #[serde(default)]
    mitigations: Vec<yaml_serde::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlSpec {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    kind: Option<KindSpec>,
    #[serde(default)]
    strength: Option<f64>,
    #[serde(default)]
    cost: Option<f64>,
    #[serde(default)]
    platforms: Vec<String>,
    #[serde(default)]
    layer: Option<String>,
    #[serde(default)]
    status: Option<StatusSpec>,
    #[serde(default)]
    tested: Option<yaml_serde::Value>,
    #[serde(default)]
    mitigation: Option<String>,
    #[serde(default)]
    covers: Vec<CoverSpec>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    owner: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum KindSpec {
    Prevent,
    Detect,
    Respond,
    Visibility,
}

impl From<KindSpec> for Kind {
    fn from(k: KindSpec) -> Kind {
        match k {
            KindSpec::Prevent => Kind::Prevent,
            KindSpec::Detect => Kind::Detect,
            KindSpec::Respond => Kind::Respond,
            KindSpec::Visibility => Kind::Visibility,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StatusSpec {
    Implemented,
    Planned,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CoverSpec {
    #[serde(default)]
    technique: Option<String>,
    #[serde(default)]
    subtechniques: bool,
    #[serde(default)]
    tactic: Option<String>,
    #[serde(default)]
    phase: Option<String>,
    /// Model of `phase` (default `lm`).
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    strength: Option<f64>,
}

/// How inventory entries are weighed.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    pub tests: TestPolicy,
    /// The analysis day, for aging test dates.
    pub as_of: Option<jiff::civil::Date>,
}

/// Resolves what a control names against the kb and the models.
pub struct Resolver<'a> {
    pub kb: &'a AttackKb,
    pub models: &'a ModelSet,
}

impl Resolver<'_> {
    /// Techniques named by one cover entry, or why none.
    fn techniques(&self, c: &CoverSpec) -> Result<(Vec<usize>, Option<String>), String> {
        let named = [c.technique.is_some(), c.tactic.is_some(), c.phase.is_some()]
            .iter()
            .filter(|x| **x)
            .count();
        if named != 1 {
            return Err("each covers entry names exactly one of technique, tactic, phase".into());
        }
        if let Some(t) = &c.technique {
            let (idx, redirected) = self.kb.technique_by_id(t).ok_or_else(|| {
                format!("technique {t} is not in ATT&CK {}", self.kb.meta().version)
            })?;
            let note = redirected.map(|from| {
                format!(
                    "technique {from} is revoked, counted as {}",
                    self.kb.technique(idx).id
                )
            });
            let mut out = vec![idx];
            if c.subtechniques {
                out.extend_from_slice(self.kb.subtechniques_of(idx));
            }
            return Ok((out, note));
        }
        if let Some(t) = &c.tactic {
            let tac = self
                .kb
                .tactic_by_token(t)
                .ok_or_else(|| format!("tactic {t} is not in ATT&CK {}", self.kb.meta().version))?;
            let out = self
                .kb
                .active_techniques()
                .filter(|(i, _)| self.kb.tactics_of(*i).contains(&tac))
                .map(|(i, _)| i)
                .collect();
            return Ok((out, None));
        }
        let phase = c.phase.as_deref().unwrap_or_default();
        let model_id = c.model.as_deref().unwrap_or("lm");
        let m = self
            .models
            .index_of(model_id)
            .ok_or_else(|| format!("unknown kill chain model {model_id}"))?;
        let p = self.models.models()[m]
            .phase_by_name(phase)
            .ok_or_else(|| format!("model {model_id} has no phase {phase}"))?;
        let out = self
            .kb
            .active_techniques()
            .filter(|(i, _)| {
                self.models
                    .technique_assignments(m, *i)
                    .iter()
                    .any(|a| a.phase == p)
            })
            .map(|(i, _)| i)
            .collect();
        Ok((out, None))
    }

    /// Techniques an ATT&CK mitigation mitigates (active ones), or why none.
    pub fn mitigation(&self, id: &str) -> Result<(String, String, Vec<usize>), String> {
        let m = self
            .kb
            .data()
            .mitigations
            .iter()
            .find(|m| m.id.eq_ignore_ascii_case(id.trim()))
            .ok_or_else(|| {
                format!(
                    "mitigation {id} is not in ATT&CK {}",
                    self.kb.meta().version
                )
            })?;
        let mut out: Vec<usize> = m
            .techniques
            .iter()
            .filter_map(|t| self.kb.technique_by_id(t).map(|(i, _)| i))
            .filter(|i| self.kb.technique(*i).is_active())
            .collect();
        out.sort_unstable();
        out.dedup();
        Ok((m.id.clone(), m.name.clone(), out))
    }
}

/// Parses `tested:` (a date, `true` or `false`).
fn tested(v: Option<&yaml_serde::Value>) -> Result<Tested, String> {
    match v {
        None | Some(yaml_serde::Value::Null) | Some(yaml_serde::Value::Bool(false)) => {
            Ok(Tested::Never)
        }
        Some(yaml_serde::Value::Bool(true)) => Ok(Tested::Yes(None)),
        Some(yaml_serde::Value::String(s)) => s
            .trim()
            .parse::<jiff::civil::Date>()
            .map(|d| Tested::Yes(Some(d.to_string())))
            .map_err(|e| format!("tested: {s:?} is not a date (YYYY-MM-DD): {e}")),
        Some(other) => Err(format!(
            "tested: expected a date, true or false, got {other:?}"
        )),
    }
}

fn check_strength(s: f64, what: &str) -> Result<f64, String> {
    if (0.0..=5.0).contains(&s) {
        Ok(s)
    } else {
        Err(format!("{what} {s} is outside 0-5"))
    }
}

/// Parses an inventory file. Returns the controls that loaded and an issue
/// per control or entry that did not (a YAML syntax error fails the file).
pub fn load_inventory(
    text: &str,
    input: &str,
    resolver: &Resolver<'_>,
    opts: &LoadOptions,
) -> Result<(Vec<Control>, Vec<Issue>), CoverageError> {
    killchain_kb::yaml_depth::check(text).map_err(|reason| CoverageError::Format {
        input: input.to_string(),
        reason,
    })?;
    let file: InventoryFile = yaml_serde::from_str(text).map_err(|source| CoverageError::Yaml {
        input: input.to_string(),
        source,
    })?;
    let mut controls: Vec<Control> = Vec::new();
    let mut issues = Vec::new();
    let issue = |record: String, reason: String, skipped: bool| Issue {
        input: input.to_string(),
        record,
        reason,
        skipped,
    };
    let entries = file
        .controls
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("controls[{i}]"), v, false))
        .chain(
            file.mitigations
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("mitigations[{i}]"), v, true)),
        );
    for (pos, value, shorthand) in entries {
        // `mitigations: [M1040]`: a bare ID is a control with defaults.
        let spec: Result<ControlSpec, String> = match (shorthand, value) {
            (true, yaml_serde::Value::String(id)) => Ok(ControlSpec {
                id: id.trim().to_string(),
                name: None,
                kind: None,
                strength: None,
                cost: None,
                platforms: Vec::new(),
                layer: None,
                status: None,
                tested: None,
                mitigation: Some(id.trim().to_string()),
                covers: Vec::new(),
                description: None,
                owner: None,
            }),
            _ => yaml_serde::from_value::<ControlSpec>(value.clone())
                .map_err(|e| e.to_string())
                .map(|mut s| {
                    if shorthand && s.mitigation.is_none() {
                        s.mitigation = Some(s.id.clone());
                    }
                    s
                }),
        };
        let spec = match spec {
            Ok(s) => s,
            Err(e) => {
                // Name the control by its id when the map has one.
                let id = value
                    .get("id")
                    .and_then(|v| v.as_str())
                    .map(|s| format!("control {s}"))
                    .unwrap_or(pos);
                issues.push(issue(id, e, true));
                continue;
            }
        };
        let record = format!("control {}", spec.id);
        if spec.id.trim().is_empty() {
            issues.push(issue(pos, "empty id".into(), true));
            continue;
        }
        if controls.iter().any(|c| c.id == spec.id) {
            issues.push(issue(record, "duplicate id".into(), true));
            continue;
        }
        match build_control(spec, input, resolver, opts) {
            Ok((c, notes)) => {
                for n in notes {
                    issues.push(issue(record.clone(), n, false));
                }
                controls.push(c);
            }
            Err(e) => issues.push(issue(record, e, true)),
        }
    }
    Ok((controls, issues))
}

fn build_control(
    spec: ControlSpec,
    input: &str,
    resolver: &Resolver<'_>,
    opts: &LoadOptions,
) -> Result<(Control, Vec<String>), String> {
    let mut notes = Vec::new();
    let tested = tested(spec.tested.as_ref())?;
    let factor = opts.tests.factor(&tested, opts.as_of);
    let default_strength = match (spec.strength, &spec.mitigation) {
        (Some(s), _) => check_strength(s, "strength")?,
        (None, Some(_)) => DEFAULT_MITIGATION_STRENGTH,
        (None, None) => return Err("strength (0-5) is required".into()),
    };
    let cost = spec.cost.unwrap_or(1.0);
    if !(cost.is_finite() && cost >= 0.0) {
        return Err(format!("cost {cost} must be a number >= 0"));
    }
    let kind = match (spec.kind, &spec.mitigation) {
        (Some(k), _) => Kind::from(k),
        (None, Some(_)) => Kind::Prevent,
        (None, None) => {
            return Err("kind (prevent, detect, respond, visibility) is required".into())
        }
    };
    let mut name = spec.name.clone();
    let mut origin = Origin::Inventory {
        input: input.to_string(),
    };
    let mut covers: Vec<(usize, f64)> = Vec::new();
    if let Some(m) = &spec.mitigation {
        let (mid, mname, techniques) = resolver.mitigation(m)?;
        if techniques.is_empty() {
            notes.push(format!("mitigation {mid} mitigates no active technique"));
        }
        name.get_or_insert(mname);
        origin = Origin::Mitigation {
            input: input.to_string(),
            mitigation: mid,
        };
        covers.extend(techniques.into_iter().map(|t| (t, default_strength)));
    }
    if spec.covers.is_empty() && spec.mitigation.is_none() {
        return Err("covers is empty (name techniques, tactics or phases, or a mitigation)".into());
    }
    for (i, c) in spec.covers.iter().enumerate() {
        let strength = match c.strength {
            Some(s) => match check_strength(s, "strength") {
                Ok(s) => s,
                Err(e) => {
                    notes.push(format!("covers[{i}]: {e}; entry skipped"));
                    continue;
                }
            },
            None => default_strength,
        };
        match resolver.techniques(c) {
            Ok((ts, note)) => {
                if let Some(n) = note {
                    notes.push(format!("covers[{i}]: {n}"));
                }
                covers.extend(ts.into_iter().map(|t| (t, strength)));
            }
            Err(e) => notes.push(format!("covers[{i}]: {e}; entry skipped")),
        }
    }
    let mut control = Control {
        name: name.unwrap_or_else(|| spec.id.clone()),
        layer: spec.layer.clone().unwrap_or_else(|| spec.id.clone()),
        id: spec.id,
        kind,
        strength: default_strength,
        cost,
        platforms: spec.platforms,
        tested,
        planned: matches!(spec.status, Some(StatusSpec::Planned)),
        origin,
        covers: Vec::new(),
    };
    for (t, s) in covers {
        control.add_cover(Cover {
            technique: t,
            declared: s,
            effective: s * factor,
        });
    }
    if control.covers.is_empty() {
        notes.push("covers no technique".into());
    }
    Ok((control, notes))
}
