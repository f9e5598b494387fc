//! Severity levels as Sigma spells them, shared by the rule engine
//! (`detect`: a rule's `level`, `hunt --min-level`) and the correlator
//! (`correlate`: the level of the rule behind a finding, including tools
//! that write numbers, each on its own scale).

use serde::{Deserialize, Serialize};

/// Severity, ordered (`informational` < ... < `critical`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }

    /// A level by name, case-insensitive, surrounding spaces ignored:
    /// Sigma's five and the spellings other tools use (`info`, `med`,
    /// `moderate`, `crit`).
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "informational" | "info" => Level::Informational,
            "low" => Level::Low,
            "medium" | "med" | "moderate" => Level::Medium,
            "high" => Level::High,
            "critical" | "crit" => Level::Critical,
            _ => return None,
        })
    }

    /// [`Level::parse`], or a number on Wazuh's 0-15 scale, bucketed:
    /// 0-3 informational, 4-6 low, 7-9 medium, 10-12 high, 13 and more
    /// critical.
    pub fn parse_or_number(s: &str) -> Option<Level> {
        Level::parse(s).or_else(|| {
            Some(match s.trim().parse::<u32>().ok()? {
                0..=3 => Level::Informational,
                4..=6 => Level::Low,
                7..=9 => Level::Medium,
                10..=12 => Level::High,
                _ => Level::Critical,
            })
        })
    }
}

impl Level {
    /// A level as a source product wrote it (`product` as `map` detects it:
    /// `suricata`, `wazuh`, ...). Numbers are read on the product's scale:
    /// Suricata's `alert.severity` runs from 1 (most severe) to 3 (and 4 for
    /// the least), any other product's on Wazuh's 0-15
    /// ([`Level::parse_or_number`]).
    pub fn parse_from(written: &str, product: Option<&str>) -> Option<Level> {
        if product == Some("suricata") {
            if let Ok(n) = written.trim().parse::<u32>() {
                return Some(match n {
                    0 | 1 => Level::High,
                    2 => Level::Medium,
                    3 => Level::Low,
                    _ => Level::Informational,
                });
            }
        }
        Level::parse_or_number(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        for (s, l) in [
            ("informational", Level::Informational),
            ("Info", Level::Informational),
            (" low ", Level::Low),
            ("MED", Level::Medium),
            ("moderate", Level::Medium),
            ("high", Level::High),
            ("crit", Level::Critical),
            ("critical", Level::Critical),
        ] {
            assert_eq!(Level::parse(s), Some(l), "{s}");
            assert_eq!(Level::parse_or_number(s), Some(l), "{s}");
            assert_eq!(Level::parse(l.as_str()), Some(l));
        }
        assert_eq!(Level::parse("12"), None);
        assert_eq!(Level::parse("severe"), None);
        for (n, l) in [
            ("0", Level::Informational),
            ("3", Level::Informational),
            ("4", Level::Low),
            ("6", Level::Low),
            ("7", Level::Medium),
            ("9", Level::Medium),
            ("10", Level::High),
            ("12", Level::High),
            ("13", Level::Critical),
            ("15", Level::Critical),
        ] {
            assert_eq!(Level::parse_or_number(n), Some(l), "{n}");
        }
        assert_eq!(Level::parse_or_number("-1"), None);
        assert_eq!(Level::parse_or_number("severe"), None);
        assert!(Level::Informational < Level::Low && Level::High < Level::Critical);
        assert_eq!(serde_json::to_string(&Level::High).unwrap(), "\"high\"");
    }

    #[test]
    fn numbers_on_the_source_products_scale() {
        let suricata = Some("suricata");
        for (n, l) in [
            ("1", Level::High),
            ("2", Level::Medium),
            ("3", Level::Low),
            ("4", Level::Informational),
        ] {
            assert_eq!(Level::parse_from(n, suricata), Some(l), "{n}");
        }
        assert_eq!(Level::parse_from("high", suricata), Some(Level::High));
        assert_eq!(
            Level::parse_from("1", Some("wazuh")),
            Some(Level::Informational)
        );
        assert_eq!(Level::parse_from("13", None), Some(Level::Critical));
        assert_eq!(Level::parse_from("severe", suricata), None);
    }
}
