//! Incident severity, with every part explained, and the Splunk RBA preset.
//!
//! Default (`Preset::Killchain`), 0..100, the sum of six parts:
//!
//! | part | points | how |
//! |---|---|---|
//! | phases | 25 | distinct phases reached in the main model / its phase count |
//! | tactics | 15 | distinct ATT&CK tactics, saturating at 6 |
//! | order | 10 | share of phase changes that go forward in the kill chain |
//! | rule levels | 20 | the highest rule level (informational 0 .. critical 20) |
//! | asset criticality | 15 | the most critical host (config: host pattern -> criticality) |
//! | entity risk | 15 | per-finding risk (level: 5/10/25/50/75) decayed with a half-life to the last finding, summed: 15 × (1 − e^(−risk/150)) |
//!
//! Level: critical >= 70, high >= 50, medium >= 25, else low.
//!
//! `Preset::Splunk` reproduces Splunk RBA's familiar default risk incident
//! rule for comparison: an entity (user or host) with at least 3 distinct
//! ATT&CK tactics and at least 4 distinct sources (rules) within 7 days. The
//! incident is `high` when one of its entities fires, else `low`; the score
//! is the best entity's summed risk (RBA's risk_score), capped at 100.

use jiff::Timestamp;
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::progress::Progression;
use crate::signal::{EntityKind, Level, Signal};

/// Which severity formula.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    #[default]
    Killchain,
    Splunk,
}

/// How critical an asset is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Criticality {
    Low,
    Medium,
    High,
    Critical,
}

impl Criticality {
    fn weight(self) -> f64 {
        match self {
            Criticality::Low => 0.25,
            Criticality::Medium => 0.5,
            Criticality::High => 0.75,
            Criticality::Critical => 1.0,
        }
    }
}

/// One asset rule of the criticality config: a host glob (`dc*`, `*-sql-*`,
/// case-insensitive) and its criticality.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetRule {
    pub pattern: String,
    pub criticality: Criticality,
}

/// The criticality config (`assets:` list of rules; first match wins;
/// unmatched hosts are `default`, `low` when not given).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetConfig {
    #[serde(default)]
    pub assets: Vec<AssetRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Criticality>,
}

/// Compiled asset rules.
#[derive(Debug, Clone, Default)]
pub struct Assets {
    rules: Vec<(Regex, Criticality, String)>,
    default: Option<Criticality>,
}

impl Assets {
    pub fn new(cfg: &AssetConfig) -> Result<Assets, crate::CorrelateError> {
        let mut rules = Vec::new();
        for r in &cfg.assets {
            let mut re = String::from("(?i)^");
            for c in r.pattern.chars() {
                match c {
                    '*' => re.push_str(".*"),
                    '?' => re.push('.'),
                    c => re.push_str(&regex::escape(&c.to_string())),
                }
            }
            re.push('$');
            let rx = Regex::new(&re).map_err(|e| crate::CorrelateError::Pattern {
                pattern: r.pattern.clone(),
                reason: e.to_string(),
            })?;
            rules.push((rx, r.criticality, r.pattern.clone()));
        }
        Ok(Assets {
            rules,
            default: cfg.default,
        })
    }

    /// Criticality of a host and the pattern that gave it.
    pub fn of(&self, host: &str) -> Option<(Criticality, &str)> {
        self.rules
            .iter()
            .find(|(rx, _, _)| rx.is_match(host))
            .map(|(_, c, p)| (*c, p.as_str()))
            .or(self.default.map(|c| (c, "default")))
    }
}

/// Severity options.
#[derive(Debug, Clone, Default)]
pub struct SeverityOptions {
    pub preset: Preset,
    pub assets: Assets,
    /// Half-life of a finding's risk (seconds); default one day.
    pub half_life_secs: Option<i64>,
}

/// One part of the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub name: String,
    pub points: f64,
    pub max: f64,
    pub why: String,
}

/// The severity of an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Severity {
    pub score: f64,
    pub level: String,
    pub preset: Preset,
    pub parts: Vec<Part>,
}

fn risk(l: Option<Level>) -> f64 {
    match l {
        None | Some(Level::Informational) => 5.0,
        Some(Level::Low) => 10.0,
        Some(Level::Medium) => 25.0,
        Some(Level::High) => 50.0,
        Some(Level::Critical) => 75.0,
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Severity of an incident's signals (sorted by time); `main` is the
/// progression in the main model (lm when selected).
pub fn severity(
    signals: &[Signal],
    main: Option<(&str, &Progression, usize)>,
    hosts: &[String],
    opts: &SeverityOptions,
) -> Severity {
    match opts.preset {
        Preset::Killchain => killchain_severity(signals, main, hosts, opts),
        Preset::Splunk => splunk_severity(signals),
    }
}

fn killchain_severity(
    signals: &[Signal],
    main: Option<(&str, &Progression, usize)>,
    hosts: &[String],
    opts: &SeverityOptions,
) -> Severity {
    let mut parts = Vec::new();
    let (phase_pts, order_pts, phase_why, order_why) = match main {
        Some((model, p, total)) if total > 0 => {
            let n = p.phases_reached.len();
            let changes: Vec<(usize, usize)> = p
                .path
                .windows(2)
                .map(|w| (w[0].index, w[1].index))
                .collect();
            let forward = changes.iter().filter(|(a, b)| b > a).count();
            let share = if changes.is_empty() {
                0.0
            } else {
                forward as f64 / changes.len() as f64
            };
            (
                25.0 * n as f64 / total as f64,
                10.0 * share,
                format!("{n} of {total} {model} phases reached"),
                format!(
                    "{forward} of {} phase changes go forward in {model}",
                    changes.len()
                ),
            )
        }
        _ => (0.0, 0.0, "no kill chain placement".into(), "-".into()),
    };
    parts.push(Part {
        name: "phases".into(),
        points: round1(phase_pts),
        max: 25.0,
        why: phase_why,
    });
    let mut tactics: Vec<&str> = signals
        .iter()
        .flat_map(|s| s.tactics.iter().map(|t| t.0.as_str()))
        .collect();
    tactics.sort();
    tactics.dedup();
    parts.push(Part {
        name: "tactics".into(),
        points: round1(15.0 * (tactics.len().min(6) as f64) / 6.0),
        max: 15.0,
        why: format!("{} distinct ATT&CK tactics (saturates at 6)", tactics.len()),
    });
    parts.push(Part {
        name: "order".into(),
        points: round1(order_pts),
        max: 10.0,
        why: order_why,
    });
    let top = signals.iter().filter_map(|s| s.level).max();
    let level_pts = match top {
        None | Some(Level::Informational) => 0.0,
        Some(Level::Low) => 5.0,
        Some(Level::Medium) => 10.0,
        Some(Level::High) => 15.0,
        Some(Level::Critical) => 20.0,
    };
    parts.push(Part {
        name: "rule levels".into(),
        points: level_pts,
        max: 20.0,
        why: format!("highest rule level: {}", top.map_or("none", Level::as_str)),
    });
    let crit = hosts
        .iter()
        .filter_map(|h| opts.assets.of(h).map(|(c, p)| (c, h, p)))
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(a.1)));
    parts.push(Part {
        name: "asset criticality".into(),
        points: round1(15.0 * crit.map_or(0.0, |c| c.0.weight())),
        max: 15.0,
        why: match crit {
            Some((c, h, p)) => format!("{h} is {c:?} (pattern {p})").to_lowercase(),
            None => "no host matches the asset config".into(),
        },
    });
    let half = opts.half_life_secs.unwrap_or(86_400).max(1) as f64;
    let last = signals.last().map(|s| s.time);
    let total_risk: f64 = signals
        .iter()
        .map(|s| {
            let age = last.map_or(0.0, |l| l.duration_since(s.time).as_secs_f64());
            risk(s.level) * 0.5f64.powf(age / half)
        })
        .sum();
    parts.push(Part {
        name: "entity risk".into(),
        points: round1(15.0 * (1.0 - (-total_risk / 150.0).exp())),
        max: 15.0,
        why: format!(
            "risk {:.0} from {} findings, half-life {}h",
            total_risk,
            signals.len(),
            half / 3600.0
        ),
    });
    let score = round1(parts.iter().map(|p| p.points).sum());
    let level = match score {
        s if s >= 70.0 => "critical",
        s if s >= 50.0 => "high",
        s if s >= 25.0 => "medium",
        _ => "low",
    };
    Severity {
        score,
        level: level.into(),
        preset: Preset::Killchain,
        parts,
    }
}

/// Splunk RBA default: any user or host with >= 3 tactics and >= 4 sources in 7 days.
fn splunk_severity(signals: &[Signal]) -> Severity {
    const WEEK: i64 = 7 * 86_400;
    let mut best: Option<(String, usize, usize, f64, bool)> = None;
    let mut entities: Vec<&crate::EntityKey> = signals
        .iter()
        .flat_map(|s| s.entities.iter())
        .filter(|e| matches!(e.kind, EntityKind::Host | EntityKind::User))
        .collect();
    entities.sort();
    entities.dedup();
    for e in entities {
        let mine: Vec<&Signal> = signals.iter().filter(|s| s.entities.contains(e)).collect();
        // Sliding 7-day window starting at each finding.
        for (i, s0) in mine.iter().enumerate() {
            let end: Timestamp = s0
                .time
                .checked_add(jiff::SignedDuration::from_secs(WEEK))
                .unwrap_or(s0.time);
            let win: Vec<&&Signal> = mine[i..].iter().take_while(|s| s.time <= end).collect();
            let mut tac: Vec<&str> = win
                .iter()
                .flat_map(|s| s.tactics.iter().map(|t| t.0.as_str()))
                .collect();
            tac.sort();
            tac.dedup();
            let mut src: Vec<&str> = win
                .iter()
                .map(|s| {
                    s.rule_id
                        .as_deref()
                        .or(s.rule_name.as_deref())
                        .unwrap_or("-")
                })
                .collect();
            src.sort();
            src.dedup();
            let score: f64 = win.iter().map(|s| risk(s.level)).sum();
            let fires = tac.len() >= 3 && src.len() >= 4;
            let cand = (e.to_string(), tac.len(), src.len(), score, fires);
            let better = match &best {
                None => true,
                Some(b) => (cand.4, cand.1, cand.2) > (b.4, b.1, b.2),
            };
            if better {
                best = Some(cand);
            }
        }
    }
    let (entity, tac, src, score, fires) = best.unwrap_or(("-".into(), 0, 0, 0.0, false));
    Severity {
        score: round1(score.min(100.0)),
        level: if fires { "high" } else { "low" }.into(),
        preset: Preset::Splunk,
        parts: vec![
            Part {
                name: "tactics".into(),
                points: tac as f64,
                max: 3.0,
                why: format!("{entity}: {tac} distinct tactics in 7 days (fires at >= 3)"),
            },
            Part {
                name: "sources".into(),
                points: src as f64,
                max: 4.0,
                why: format!("{entity}: {src} distinct rules in 7 days (fires at >= 4)"),
            },
            Part {
                name: "risk score".into(),
                points: round1(score),
                max: 100.0,
                why: format!(
                    "{entity}: summed risk; RBA incident rule {}",
                    if fires { "fires" } else { "does not fire" }
                ),
            },
        ],
    }
}
