//! Sigma rules as detect controls. The caller loads the rules with
//! `killchain_detect::Engine::build` (rules that do not load are in its
//! `LoadReport` and never reach this module) and hands in the `RuleInfo` of
//! those that loaded. Here each rule's ATT&CK technique tags become its
//! covers; its level and status weigh it; and rules whose log source the
//! organisation does not collect are set aside, with the reason.
//!
//! Strength = level score (informational 1, low 2, medium 3, high 4,
//! critical 5; no level 2) x status factor (stable 1.0, test 0.9,
//! experimental 0.75, other 0.6). All rules share one layer (`sigma`): they
//! fail together when the SIEM or its pipeline does.

use killchain_detect::{Level, Pipeline, RuleInfo};
use killchain_kb::AttackKb;
use serde::{Deserialize, Serialize};

use crate::control::{Control, Cover, Kind, Origin, Tested};

/// The log sources the organisation collects. A token matches a rule when
/// it equals the rule's logsource product, category or service, or names a
/// pipeline source the rule routes to (`sysmon` matches every
/// `sysmon-...` source, `security` the Security log sources). Empty: every
/// log source is collected.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Collected {
    pub tokens: Vec<String>,
}

/// The YAML form: `collected: [sysmon, security]`, or a plain list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum CollectedFile {
    Map { collected: Vec<String> },
    List(Vec<String>),
}

impl Collected {
    /// A comma-separated list (`sysmon,security,powershell`).
    pub fn from_list(s: &str) -> Collected {
        Collected {
            tokens: s
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .collect(),
        }
    }
    /// A YAML file (`collected: [...]` or a list).
    pub fn from_yaml(text: &str, input: &str) -> Result<Collected, crate::CoverageError> {
        killchain_kb::yaml_depth::check(text).map_err(|reason| crate::CoverageError::Format {
            input: input.to_string(),
            reason,
        })?;
        let f: CollectedFile =
            yaml_serde::from_str(text).map_err(|source| crate::CoverageError::Yaml {
                input: input.to_string(),
                source,
            })?;
        let tokens = match f {
            CollectedFile::Map { collected } | CollectedFile::List(collected) => collected,
        };
        Ok(Collected::from_list(&tokens.join(",")))
    }
    pub fn is_everything(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Whether the rule's log source is collected; `Err` names the sources
    /// the rule would need.
    pub fn covers_rule(&self, rule: &RuleInfo, pipeline: &Pipeline) -> Result<(), String> {
        if self.is_everything() {
            return Ok(());
        }
        let ls = &rule.logsource;
        let direct = [&ls.product, &ls.category, &ls.service]
            .into_iter()
            .flatten()
            .any(|v| self.tokens.iter().any(|t| v.eq_ignore_ascii_case(t)));
        let sources: Vec<&str> = pipeline
            .route(ls)
            .unwrap_or_default()
            .into_iter()
            .map(|i| pipeline.sources[i].id.as_str())
            .collect();
        let routed = sources.iter().any(|s| {
            self.tokens.iter().any(|t| {
                s.eq_ignore_ascii_case(t)
                    || (s.len() > t.len()
                        && s[..t.len()].eq_ignore_ascii_case(t)
                        && s.as_bytes()[t.len()] == b'-')
            })
        });
        if direct || routed {
            Ok(())
        } else if sources.is_empty() {
            Err(format!("log source {} is not collected", ls))
        } else {
            Err(format!(
                "log source {} ({}) is not collected",
                ls,
                sources.join(", ")
            ))
        }
    }

    /// Whether an ATT&CK data component log source (`WinEventLog:Sysmon`,
    /// `auditd:SYSCALL`) is collected: a token equal to the whole name or to
    /// either side of its `:`.
    pub fn covers_log_source(&self, name: &str) -> bool {
        if self.is_everything() {
            return false;
        }
        let (a, b) = name.split_once(':').unwrap_or((name, ""));
        self.tokens.iter().any(|t| {
            name.eq_ignore_ascii_case(t) || a.eq_ignore_ascii_case(t) || b.eq_ignore_ascii_case(t)
        })
    }
}

/// How rules are turned into controls.
#[derive(Debug, Clone, Default)]
pub struct RuleOptions {
    /// A parent technique tag (`attack.t1003`) also covers its sub-techniques
    /// (off: it covers the parent technique only, as DeTT&CT counts).
    pub parent_covers_subtechniques: bool,
    /// Cost of one rule, for the investment list.
    pub cost: f64,
    /// The rules are candidates (not deployed): investment options only.
    pub planned: bool,
}

/// What happened to the loaded rules.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RuleReport {
    /// Rules counted as controls.
    pub counted: usize,
    /// (path, title, reason): log source not collected.
    pub not_collected: Vec<(String, String, String)>,
    /// (path, title): no ATT&CK technique tag.
    pub without_techniques: Vec<(String, String)>,
    /// (path, tag): technique tags the kb does not know.
    pub unknown_tags: Vec<(String, String)>,
}

fn level_score(l: Option<Level>) -> f64 {
    match l {
        Some(Level::Informational) => 1.0,
        Some(Level::Low) => 2.0,
        Some(Level::Medium) => 3.0,
        Some(Level::High) => 4.0,
        Some(Level::Critical) => 5.0,
        None => 2.0,
    }
}

fn status_factor(s: Option<&str>) -> f64 {
    match s.map(str::to_ascii_lowercase).as_deref() {
        Some("stable") => 1.0,
        Some("test") => 0.9,
        Some("experimental") => 0.75,
        _ => 0.6,
    }
}

/// The ATT&CK platform a Sigma logsource product runs on, when known.
fn platform(product: Option<&str>) -> Vec<String> {
    match product.map(str::to_ascii_lowercase).as_deref() {
        Some("windows") => vec!["Windows".into()],
        Some("linux") => vec!["Linux".into()],
        Some("macos") => vec!["macOS".into()],
        _ => Vec::new(),
    }
}

/// Whether a tag names a technique (`attack.t1059`, `attack.t1059.001`).
fn technique_tag(tag: &str) -> Option<&str> {
    let rest = tag.strip_prefix("attack.").unwrap_or(tag);
    let b = rest.as_bytes();
    (b.len() >= 5 && (b[0] == b't' || b[0] == b'T') && b[1..5].iter().all(u8::is_ascii_digit))
        .then_some(rest)
}

/// Turns loaded rules into detect controls.
pub fn rule_controls(
    rules: &[RuleInfo],
    kb: &AttackKb,
    pipeline: &Pipeline,
    collected: &Collected,
    opts: &RuleOptions,
) -> (Vec<Control>, RuleReport) {
    let mut report = RuleReport::default();
    let mut out: Vec<Control> = Vec::new();
    for r in rules {
        if let Err(why) = collected.covers_rule(r, pipeline) {
            report
                .not_collected
                .push((r.path.clone(), r.title.clone(), why));
            continue;
        }
        let strength = level_score(r.level) * status_factor(r.status.as_deref());
        let mut control = Control {
            id: r.id.clone().unwrap_or_else(|| r.path.clone()),
            name: r.title.clone(),
            kind: Kind::Detect,
            strength,
            cost: opts.cost,
            platforms: platform(r.logsource.product.as_deref()),
            layer: "sigma".into(),
            tested: Tested::Never,
            planned: opts.planned,
            origin: Origin::Sigma {
                path: r.path.clone(),
                level: r.level.map(|l| l.as_str().to_string()),
                status: r.status.clone(),
                logsource: r.logsource.to_string(),
            },
            covers: Vec::new(),
        };
        for tag in &r.tags {
            let Some(id) = technique_tag(tag) else {
                continue;
            };
            let Some((t, _)) = kb.technique_by_id(id) else {
                report.unknown_tags.push((r.path.clone(), tag.clone()));
                continue;
            };
            let cover = |technique| Cover {
                technique,
                declared: strength,
                effective: strength,
            };
            control.add_cover(cover(t));
            if opts.parent_covers_subtechniques && !kb.technique(t).is_subtechnique() {
                for &s in kb.subtechniques_of(t) {
                    control.add_cover(cover(s));
                }
            }
        }
        if control.covers.is_empty() {
            report
                .without_techniques
                .push((r.path.clone(), r.title.clone()));
            continue;
        }
        // Two documents may share an id (a rule copied between folders):
        // keep both, the second named by its path.
        if out.iter().any(|c| c.id == control.id) {
            control.id = format!("{} ({})", control.id, r.path);
        }
        report.counted += 1;
        out.push(control);
    }
    (out, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn technique_tags_are_recognised() {
        assert_eq!(technique_tag("attack.t1059.001"), Some("t1059.001"));
        assert_eq!(technique_tag("attack.t1003"), Some("t1003"));
        assert_eq!(technique_tag("attack.execution"), None);
        assert_eq!(technique_tag("attack.g0016"), None);
        assert_eq!(technique_tag("cve.2021-44228"), None);
    }

    #[test]
    fn collected_log_source_names_match_either_side() {
        let c = Collected::from_list("sysmon, Security");
        assert!(c.covers_log_source("WinEventLog:Sysmon"));
        assert!(c.covers_log_source("WinEventLog:Security"));
        assert!(!c.covers_log_source("WinEventLog:PowerShell"));
        assert!(!Collected::default().covers_log_source("WinEventLog:Sysmon"));
    }
}
