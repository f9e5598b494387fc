//! Import of DeTT&CT technique administration files (`file_type:
//! technique-administration`, version 1.x), so DeTT&CT users can move over.
//!
//! Each technique's `detection` entries become covers of detect controls,
//! one control per DeTT&CT `location` (the tool or team: `EDR`, `SIEM`...),
//! which is also the control's layer; the latest `score_logbook` score (by
//! date) is the strength (DeTT&CT's 0-5 detection scale; -1 means none, and
//! 0, "forensics / context", is visibility without detection). `visibility`
//! scores (0-4) become covers of one visibility control. The score's date
//! counts as the date the control was last assessed (tested). `applicable_to`
//! is kept in the control name when it is not `all`.

use std::collections::BTreeMap;

use killchain_kb::AttackKb;
use serde::Deserialize;

use crate::control::{Control, Cover, Kind, Origin, TestPolicy, Tested};
use crate::error::{CoverageError, Issue};

#[derive(Debug, Deserialize)]
struct DettectFile {
    #[serde(default)]
    file_type: Option<String>,
    #[serde(default)]
    techniques: Vec<yaml_serde::Value>,
}

#[derive(Debug, Deserialize)]
struct TechniqueEntry {
    technique_id: String,
    #[serde(default)]
    detection: OneOrMany<ScoreObject>,
    #[serde(default)]
    visibility: OneOrMany<ScoreObject>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        OneOrMany::Many(Vec::new())
    }
}

impl<T> OneOrMany<T> {
    fn items(&self) -> &[T] {
        match self {
            OneOrMany::One(t) => std::slice::from_ref(t),
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Deserialize)]
struct ScoreObject {
    #[serde(default)]
    applicable_to: Vec<yaml_serde::Value>,
    #[serde(default)]
    location: Vec<yaml_serde::Value>,
    #[serde(default)]
    score_logbook: Vec<LogbookEntry>,
}

#[derive(Debug, Deserialize)]
struct LogbookEntry {
    #[serde(default)]
    date: Option<yaml_serde::Value>,
    score: f64,
}

fn text(v: &yaml_serde::Value) -> Option<String> {
    match v {
        yaml_serde::Value::String(s) => Some(s.trim().to_string()),
        yaml_serde::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

/// The latest score of a logbook (by date; undated entries count as oldest)
/// and its date.
fn latest(logbook: &[LogbookEntry]) -> Option<(f64, Option<String>)> {
    logbook
        .iter()
        .map(|e| (e.score, e.date.as_ref().and_then(text)))
        .max_by(|a, b| a.1.cmp(&b.1))
}

/// Imports a DeTT&CT technique administration file.
pub fn load_dettect(
    text_in: &str,
    input: &str,
    kb: &AttackKb,
    tests: &TestPolicy,
    as_of: Option<jiff::civil::Date>,
) -> Result<(Vec<Control>, Vec<Issue>), CoverageError> {
    killchain_kb::yaml_depth::check(text_in).map_err(|reason| CoverageError::Format {
        input: input.to_string(),
        reason,
    })?;
    let file: DettectFile =
        yaml_serde::from_str(text_in).map_err(|source| CoverageError::Yaml {
            input: input.to_string(),
            source,
        })?;
    match file.file_type.as_deref() {
        Some("technique-administration") => {}
        other => {
            return Err(CoverageError::Format {
                input: input.to_string(),
                reason: format!(
                    "file_type is {other:?}; only DeTT&CT technique-administration files can be imported"
                ),
            })
        }
    }
    let mut issues = Vec::new();
    // Control key -> control (BTreeMap: deterministic order).
    let mut controls: BTreeMap<String, Control> = BTreeMap::new();
    for (i, value) in file.techniques.iter().enumerate() {
        let entry: TechniqueEntry = match yaml_serde::from_value(value.clone()) {
            Ok(e) => e,
            Err(e) => {
                let record = value
                    .get("technique_id")
                    .and_then(text)
                    .unwrap_or_else(|| format!("techniques[{i}]"));
                issues.push(Issue {
                    input: input.to_string(),
                    record,
                    reason: e.to_string(),
                    skipped: true,
                });
                continue;
            }
        };
        let Some((t, redirected)) = kb.technique_by_id(&entry.technique_id) else {
            issues.push(Issue {
                input: input.to_string(),
                record: entry.technique_id.clone(),
                reason: format!("not a technique in ATT&CK {}", kb.meta().version),
                skipped: true,
            });
            continue;
        };
        if let Some(from) = redirected {
            issues.push(Issue {
                input: input.to_string(),
                record: entry.technique_id.clone(),
                reason: format!("{from} is revoked, counted as {}", kb.technique(t).id),
                skipped: false,
            });
        }
        let mut add = |key: String,
                       name: String,
                       kind: Kind,
                       layer: String,
                       score: f64,
                       date: Option<String>| {
            let tested = Tested::Yes(date.clone());
            let factor = tests.factor(&tested, as_of);
            let c = controls.entry(key.clone()).or_insert_with(|| Control {
                id: key,
                name,
                kind,
                strength: 0.0,
                cost: 1.0,
                platforms: Vec::new(),
                layer,
                tested: Tested::Yes(None),
                planned: false,
                origin: Origin::Dettect {
                    input: input.to_string(),
                },
                covers: Vec::new(),
            });
            // The control's date: the latest assessment of any of its techniques.
            if let (Tested::Yes(cur), Some(d)) = (&mut c.tested, date) {
                if cur.as_ref().is_none_or(|c| *c < d) {
                    *cur = Some(d);
                }
            }
            c.strength = c.strength.max(score);
            c.add_cover(Cover {
                technique: t,
                declared: score,
                effective: score * factor,
            });
        };
        for d in entry.detection.items() {
            let Some((score, date)) = latest(&d.score_logbook) else {
                continue;
            };
            if !(-1.0..=5.0).contains(&score) {
                issues.push(Issue {
                    input: input.to_string(),
                    record: entry.technique_id.clone(),
                    reason: format!("detection score {score} is outside -1..5; entry skipped"),
                    skipped: false,
                });
                continue;
            }
            let applies = applicable(&d.applicable_to);
            let mut locations: Vec<String> = d.location.iter().filter_map(text).collect();
            if locations.is_empty() {
                locations.push("detection".into());
            }
            for loc in locations {
                if score < 0.0 {
                    continue;
                }
                if score == 0.0 {
                    // Forensics / context: the data is there, no detection.
                    add(
                        format!("dettect:visibility:{applies}"),
                        format!("DeTT&CT visibility ({applies})"),
                        Kind::Visibility,
                        "dettect:visibility".into(),
                        1.0,
                        date.clone(),
                    );
                    continue;
                }
                add(
                    format!("dettect:{loc}:{applies}"),
                    format!("DeTT&CT detection: {loc} ({applies})"),
                    Kind::Detect,
                    format!("dettect:{loc}"),
                    score,
                    date.clone(),
                );
            }
        }
        for v in entry.visibility.items() {
            let Some((score, date)) = latest(&v.score_logbook) else {
                continue;
            };
            if score <= 0.0 {
                continue;
            }
            let applies = applicable(&v.applicable_to);
            // DeTT&CT visibility is 0-4: scaled to 0-5.
            add(
                format!("dettect:visibility:{applies}"),
                format!("DeTT&CT visibility ({applies})"),
                Kind::Visibility,
                "dettect:visibility".into(),
                (score * 1.25).min(5.0),
                date,
            );
        }
    }
    Ok((controls.into_values().collect(), issues))
}

fn applicable(v: &[yaml_serde::Value]) -> String {
    let mut names: Vec<String> = v.iter().filter_map(text).collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        "all".into()
    } else {
        names.join(",")
    }
}
