//! Logsource pipelines: data (YAML) saying which events a rule's
//! `logsource` covers and how those events name their fields.
//!
//! A pipeline lists *sources* (a Channel, EventIDs, a provider: conditions on
//! the event) with field *aliases* (rule field -> event field, for sources
//! such as Security 4688 whose names differ from Sysmon's), and maps rule
//! logsources (product / category / service) to sources. The built-in
//! Windows pipeline is `pipelines/windows.yaml`; user files add sources and
//! logsources, replacing built-in ones with the same id or logsource.
//! Schema and matching rule: `docs/pipelines.md`.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::compile::Placeholders;

/// The built-in Windows pipeline.
pub const WINDOWS_PIPELINE: &str = include_str!("../pipelines/windows.yaml");

/// A pipeline file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineFile {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub sources: Vec<SourceDef>,
    #[serde(default)]
    pub logsources: Vec<LogsourceDef>,
    /// Values for `|expand` placeholders (`%DomainControllers%`).
    #[serde(default)]
    pub placeholders: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceDef {
    pub id: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Every key must hold; a key's values are alternatives.
    #[serde(rename = "where", default)]
    pub conditions: BTreeMap<String, Vec<ScalarValue>>,
    /// Rule field name -> this source's field name.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
}

/// A `where` value: text or a number, compared as text.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum ScalarValue {
    Int(i64),
    Text(String),
}

impl ScalarValue {
    fn text(&self) -> String {
        match self {
            ScalarValue::Int(i) => i.to_string(),
            ScalarValue::Text(s) => s.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsourceDef {
    pub logsource: LogsourceKey,
    pub sources: Vec<String>,
}

/// The logsource fields routing looks at.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(deny_unknown_fields)]
pub struct LogsourceKey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

impl LogsourceKey {
    fn specificity(&self) -> usize {
        [&self.product, &self.category, &self.service]
            .iter()
            .filter(|x| x.is_some())
            .count()
    }
    /// Whether every field this entry names equals the rule's.
    fn applies_to(&self, rule: &LogsourceKey) -> bool {
        let eq = |a: &Option<String>, b: &Option<String>| match a {
            None => true,
            Some(x) => b.as_deref().is_some_and(|y| y.eq_ignore_ascii_case(x)),
        };
        eq(&self.product, &rule.product)
            && eq(&self.category, &rule.category)
            && eq(&self.service, &rule.service)
    }
}

impl std::fmt::Display for LogsourceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        for (k, v) in [
            ("product", &self.product),
            ("category", &self.category),
            ("service", &self.service),
        ] {
            if let Some(v) = v {
                parts.push(format!("{k}: {v}"));
            }
        }
        if parts.is_empty() {
            write!(f, "(empty logsource)")
        } else {
            write!(f, "{}", parts.join(", "))
        }
    }
}

/// Errors loading a pipeline: each names the pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    #[error("pipeline {input}: {source}")]
    Yaml {
        input: String,
        #[source]
        source: yaml_serde::Error,
    },
    #[error("pipeline {input}: logsource {logsource} names unknown source {source_id:?}")]
    UnknownSource {
        input: String,
        logsource: String,
        source_id: String,
    },
    #[error("pipeline {input}: source {id:?} is defined twice")]
    DuplicateSource { input: String, id: String },
    #[error("pipeline {input}: {reason}")]
    Nesting { input: String, reason: String },
}

impl PipelineFile {
    /// Parses a pipeline; `input` names it in errors.
    pub fn from_yaml(text: &str, input: &str) -> Result<PipelineFile, PipelineError> {
        killchain_kb::yaml_depth::check(text).map_err(|reason| PipelineError::Nesting {
            input: input.to_string(),
            reason,
        })?;
        let p: PipelineFile = yaml_serde::from_str(text).map_err(|source| PipelineError::Yaml {
            input: input.to_string(),
            source,
        })?;
        let mut seen = std::collections::HashSet::new();
        for s in &p.sources {
            if !seen.insert(&s.id) {
                return Err(PipelineError::DuplicateSource {
                    input: input.into(),
                    id: s.id.clone(),
                });
            }
        }
        Ok(p)
    }
}

/// One event source, resolved.
#[derive(Debug, Clone)]
pub struct Source {
    pub id: String,
    pub description: Option<String>,
    /// (field, lower-cased alternatives).
    pub conditions: Vec<(String, Vec<String>)>,
    pub aliases: Vec<(String, String)>,
}

/// Pipelines merged: what the engine routes with.
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    pub names: Vec<String>,
    pub sources: Vec<Source>,
    /// Rule logsource -> source indexes.
    pub logsources: Vec<(LogsourceKey, Vec<usize>)>,
    pub placeholders: Placeholders,
}

impl Pipeline {
    /// The built-in Windows pipeline alone.
    pub fn builtin() -> Pipeline {
        // The built-in file is tested (tests/pipeline.rs); it cannot fail at run time.
        let file = PipelineFile::from_yaml(WINDOWS_PIPELINE, "built-in windows pipeline")
            .unwrap_or_else(|e| panic!("{e}"));
        let mut p = Pipeline::default();
        // Same reason as above.
        p.add(file, "built-in windows pipeline")
            .unwrap_or_else(|e| panic!("{e}"));
        p
    }

    /// Adds a pipeline file; its sources and logsources replace any with
    /// the same id / logsource key.
    pub fn add(&mut self, file: PipelineFile, input: &str) -> Result<(), PipelineError> {
        self.names.push(file.name.clone());
        for s in file.sources {
            let src = Source {
                conditions: s
                    .conditions
                    .into_iter()
                    .map(|(k, vs)| (k, vs.iter().map(|v| v.text().to_lowercase()).collect()))
                    .collect(),
                aliases: s.aliases.into_iter().collect(),
                id: s.id,
                description: s.description,
            };
            match self.sources.iter().position(|x| x.id == src.id) {
                Some(i) => self.sources[i] = src,
                None => self.sources.push(src),
            }
        }
        for l in file.logsources {
            let mut idx = Vec::with_capacity(l.sources.len());
            for id in &l.sources {
                match self.sources.iter().position(|s| &s.id == id) {
                    Some(i) => idx.push(i),
                    None => {
                        return Err(PipelineError::UnknownSource {
                            input: input.into(),
                            logsource: l.logsource.to_string(),
                            source_id: id.clone(),
                        })
                    }
                }
            }
            match self.logsources.iter().position(|(k, _)| *k == l.logsource) {
                Some(i) => self.logsources[i].1 = idx,
                None => self.logsources.push((l.logsource, idx)),
            }
        }
        for (k, v) in file.placeholders {
            self.placeholders.insert(k, v);
        }
        Ok(())
    }

    /// The sources a rule with this logsource runs on: those of the most
    /// specific applicable entries. `None` when no entry applies.
    pub fn route(&self, rule: &LogsourceKey) -> Option<Vec<usize>> {
        let applicable: Vec<&(LogsourceKey, Vec<usize>)> = self
            .logsources
            .iter()
            .filter(|(k, _)| k.applies_to(rule))
            .collect();
        let best = applicable.iter().map(|(k, _)| k.specificity()).max()?;
        let mut out: Vec<usize> = applicable
            .iter()
            .filter(|(k, _)| k.specificity() == best)
            .flat_map(|(_, s)| s.iter().copied())
            .collect();
        out.sort_unstable();
        out.dedup();
        Some(out)
    }

    /// Sources indexed by their lower-cased Channel condition, for routing
    /// events quickly; sources without a Channel condition under `""`.
    pub(crate) fn by_channel(&self) -> HashMap<String, Vec<usize>> {
        let mut m: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, s) in self.sources.iter().enumerate() {
            match s.conditions.iter().find(|(k, _)| k == "Channel") {
                Some((_, chans)) => {
                    for c in chans {
                        m.entry(c.clone()).or_default().push(i);
                    }
                }
                None => m.entry(String::new()).or_default().push(i),
            }
        }
        m
    }
}
