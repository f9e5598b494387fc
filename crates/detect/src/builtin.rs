//! The built-in stage-indicator rule pack: original Sigma rules written for
//! killchain (`rules/<tactic>/<name>.yml`, see docs/builtin-rules.md), for
//! the kill chain stages vendor rule sets cover thinly (Discovery, Lateral
//! Movement, Command and Control above all) and the plain Security-log
//! indicators of the others. Embedded at build time: `build.rs` lists every
//! file of `rules/`, so adding a rule file needs no code change.

use crate::RuleText;

include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));

/// Every rule of the pack, reported as `builtin:<tactic>/<name>.yml`, in
/// path order.
pub fn builtin_rules() -> Vec<RuleText> {
    BUILTIN_RULES
        .iter()
        .map(|(path, text)| RuleText {
            path: (*path).to_string(),
            text: (*text).to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pack_file_is_listed_under_its_builtin_name() {
        let rules = builtin_rules();
        assert!(!rules.is_empty());
        for r in &rules {
            assert!(r.path.starts_with("builtin:"), "{}", r.path);
            assert!(r.path.ends_with(".yml"), "{}", r.path);
            assert!(
                r.text.contains("\ndetection:") || r.text.contains("\ncorrelation:"),
                "{}",
                r.path
            );
        }
        let mut paths: Vec<&str> = rules.iter().map(|r| r.path.as_str()).collect();
        paths.dedup();
        assert_eq!(paths.len(), rules.len());
    }
}
