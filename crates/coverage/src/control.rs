//! The one shape every defence takes once loaded: a [`Control`] with a kind
//! (prevent, detect, respond, or visibility: data without a detection), a
//! strength on DeTT&CT's 0-5 scale, a cost, a failure domain (`layer`) and
//! the techniques it covers, each with its own effective strength. Inventory
//! controls, ATT&CK mitigations, Sigma rules and DeTT&CT scores all become
//! `Control`s, so the analysis never asks where a control came from.

use serde::Serialize;

/// What a control does to a technique.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Stops the technique from working (blocks the stage).
    Prevent,
    /// Raises an alert when the technique is used.
    Detect,
    /// Contains or recovers after the fact (kept apart; stops no stage).
    Respond,
    /// Collects the data the technique leaves, without a detection on it.
    Visibility,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Prevent => "prevent",
            Kind::Detect => "detect",
            Kind::Respond => "respond",
            Kind::Visibility => "visibility",
        }
    }
    /// Whether the kind stops an attack path at a stage (prevent or detect).
    pub fn stops(self) -> bool {
        matches!(self, Kind::Prevent | Kind::Detect)
    }
}

/// Where a control came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Origin {
    /// A control of the inventory file.
    Inventory { input: String },
    /// An ATT&CK mitigation listed as a control.
    Mitigation { input: String, mitigation: String },
    /// A Sigma rule.
    Sigma {
        path: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        level: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        status: Option<String>,
        logsource: String,
    },
    /// Scores imported from a DeTT&CT technique administration file.
    Dettect { input: String },
}

/// Whether (and when) a control was last tested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "state", content = "date")]
pub enum Tested {
    Never,
    /// Tested; the date when known (`YYYY-MM-DD`).
    Yes(Option<String>),
}

/// One technique a control covers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Cover {
    /// kb technique index.
    #[serde(skip)]
    pub technique: usize,
    /// The strength declared for this technique (0-5).
    pub declared: f64,
    /// After the test factor (0-5): what the analysis uses.
    pub effective: f64,
}

/// A loaded defence.
#[derive(Debug, Clone, Serialize)]
pub struct Control {
    pub id: String,
    pub name: String,
    pub kind: Kind,
    /// Declared strength (0-5), the default of its covers.
    pub strength: f64,
    /// Relative cost (any unit, the same for all controls); used by the
    /// investment list.
    pub cost: f64,
    /// Platforms it works on (ATT&CK platform names); empty = all.
    pub platforms: Vec<String>,
    /// Failure domain: controls with the same layer fail together and count
    /// as one layer of defence in depth.
    pub layer: String,
    pub tested: Tested,
    /// Planned controls are investment candidates, not part of today's coverage.
    pub planned: bool,
    pub origin: Origin,
    /// Covered techniques, sorted by kb index, one entry per technique.
    pub covers: Vec<Cover>,
}

/// How the test state weighs a declared strength.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestPolicy {
    /// Factor for a control never tested.
    pub untested: f64,
    /// Factor for a control whose last test is older than `max_age_days`
    /// on `as_of`.
    pub stale: f64,
    pub max_age_days: i64,
}

impl Default for TestPolicy {
    fn default() -> Self {
        TestPolicy {
            untested: 0.75,
            stale: 0.9,
            max_age_days: 365,
        }
    }
}

impl TestPolicy {
    /// The factor for a test state; `as_of` is the day of the analysis
    /// (passed in: the engine never reads the clock). Without it, a dated
    /// test counts as current.
    pub fn factor(&self, tested: &Tested, as_of: Option<jiff::civil::Date>) -> f64 {
        match tested {
            Tested::Never => self.untested,
            Tested::Yes(None) => 1.0,
            Tested::Yes(Some(d)) => {
                let (Some(as_of), Ok(day)) = (as_of, d.parse::<jiff::civil::Date>()) else {
                    return 1.0;
                };
                match day.until((jiff::Unit::Day, as_of)) {
                    Ok(span) if i64::from(span.get_days()) > self.max_age_days => self.stale,
                    _ => 1.0,
                }
            }
        }
    }
}

impl Control {
    /// Merge a cover: one entry per technique, the strongest kept.
    pub fn add_cover(&mut self, cover: Cover) {
        match self
            .covers
            .binary_search_by_key(&cover.technique, |c| c.technique)
        {
            Ok(i) => {
                if cover.effective > self.covers[i].effective {
                    self.covers[i] = cover;
                }
            }
            Err(i) => self.covers.insert(i, cover),
        }
    }

    /// Whether the control works on a technique with these platforms
    /// (no platforms on either side: yes).
    pub fn applies_to(&self, technique_platforms: &[String]) -> bool {
        self.platforms.is_empty()
            || technique_platforms.is_empty()
            || self.platforms.iter().any(|p| {
                technique_platforms
                    .iter()
                    .any(|q| q.eq_ignore_ascii_case(p))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_factor_ages_with_the_analysis_day() {
        let p = TestPolicy::default();
        let day = |s: &str| s.parse::<jiff::civil::Date>().ok();
        assert_eq!(p.factor(&Tested::Never, None), 0.75);
        assert_eq!(p.factor(&Tested::Yes(None), day("2026-01-01")), 1.0);
        let t = Tested::Yes(Some("2025-01-10".into()));
        assert_eq!(p.factor(&t, day("2025-06-01")), 1.0);
        assert_eq!(p.factor(&t, day("2026-03-01")), 0.9);
        assert_eq!(p.factor(&t, None), 1.0);
    }

    #[test]
    fn add_cover_keeps_the_strongest() {
        let mut c = Control {
            id: "x".into(),
            name: "x".into(),
            kind: Kind::Detect,
            strength: 3.0,
            cost: 1.0,
            platforms: vec![],
            layer: "x".into(),
            tested: Tested::Never,
            planned: false,
            origin: Origin::Dettect { input: "f".into() },
            covers: vec![],
        };
        for (t, s) in [(5, 2.0), (1, 1.0), (5, 4.0), (5, 3.0)] {
            c.add_cover(Cover {
                technique: t,
                declared: s,
                effective: s,
            });
        }
        assert_eq!(c.covers.len(), 2);
        assert_eq!(c.covers[0].technique, 1);
        assert_eq!(c.covers[1].effective, 4.0);
    }
}
