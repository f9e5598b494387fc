//! Likely adversary: ATT&CK groups, campaigns and software ranked by how well
//! their known techniques match what was seen, rare techniques weighing more
//! than common ones.
//!
//! Score: 0.7 x coverage + 0.3 x cosine, over IDF-weighted technique vectors
//! at parent level (IDF over all groups, campaigns and software), where an
//! exact (sub-)technique match counts fully and a match through the same
//! parent technique (seen T1059.001, the group is known for T1059.003)
//! counts half. Coverage (the IDF-weighted share of what was seen that the
//! entity is known for) comes first, so an entity known for everything seen
//! outranks one known for a part; cosine then prefers the entity whose
//! known techniques are mostly what was seen over one known for hundreds.
//! Only entities known for at least one technique seen exactly are ranked.

use killchain_kb::AttackKb;

use crate::model::{parent_level, EntityKind, Procedures};
use crate::prediction::{Adversaries, AdversaryMatch};

/// The top `k` groups, campaigns and software for the techniques seen (kb
/// indexes, any order, duplicates allowed).
pub fn likely_adversaries(
    kb: &AttackKb,
    procedures: &Procedures,
    seen: &[usize],
    k: usize,
) -> Adversaries {
    let mut seen: Vec<usize> = seen.to_vec();
    seen.sort_unstable();
    seen.dedup();
    let total = procedures.entities.len();
    let seen_norm: f64 = seen
        .iter()
        .map(|&t| procedures.idf_parent(parent_level(kb, t)).powi(2))
        .sum::<f64>()
        .sqrt();
    let mut candidates: Vec<u32> = seen
        .iter()
        .flat_map(|&t| {
            procedures
                .by_parent
                .get(parent_level(kb, t))
                .into_iter()
                .flatten()
                .copied()
        })
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    let mut scored: Vec<AdversaryMatch> = Vec::new();
    for e in candidates {
        let ent = &procedures.entities[e as usize];
        let mut dot = 0.0;
        let mut matched = Vec::new();
        let mut rarest: Option<(u32, usize)> = None;
        for &t in &seen {
            let p = parent_level(kb, t);
            let w = procedures.idf_parent(p).powi(2);
            let id = &kb.technique(t).id;
            if ent.techniques.binary_search(&t).is_ok() {
                dot += w;
                matched.push(id.clone());
                let df = procedures.df[t];
                if rarest.is_none_or(|(d, _)| df < d) {
                    rarest = Some((df, t));
                }
            } else if ent.parents.binary_search(&p).is_ok() {
                dot += 0.5 * w;
                matched.push(format!("~{id}"));
            }
        }
        // Only entities known for at least one technique seen exactly; a
        // parent-level match alone is too weak to name an adversary.
        if rarest.is_none() {
            continue;
        }
        let norm = procedures.norm[e as usize];
        let cosine = (dot / (seen_norm * norm).max(f64::MIN_POSITIVE)).min(1.0);
        let coverage = (dot / (seen_norm * seen_norm).max(f64::MIN_POSITIVE)).min(1.0);
        let score = 0.7 * coverage + 0.3 * cosine;
        let exact = matched.iter().filter(|m| !m.starts_with('~')).count();
        let mut explanation = format!("uses {exact} of the {} techniques seen", seen.len());
        let near = matched.len() - exact;
        if near > 0 {
            explanation.push_str(&format!(
                ", and {near} more through the same parent technique"
            ));
        }
        if let Some((df, t)) = rarest {
            explanation.push_str(&format!(
                "; rarest shared: {} (used by {df} of {total} groups, campaigns and software)",
                kb.technique(t).id
            ));
        }
        explanation.push_str(&format!("; known for {} techniques", ent.techniques.len()));
        scored.push(AdversaryMatch {
            id: ent.id.clone(),
            name: ent.name.clone(),
            kind: ent.kind,
            score,
            matched,
            techniques: ent.techniques.len(),
            explanation,
        });
    }
    scored.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    let top = |kind: EntityKind| -> Vec<AdversaryMatch> {
        scored
            .iter()
            .filter(|m| m.kind == kind)
            .take(k)
            .cloned()
            .collect()
    };
    Adversaries {
        groups: top(EntityKind::Group),
        campaigns: top(EntityKind::Campaign),
        software: top(EntityKind::Software),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use killchain_kb::AttackData;

    #[test]
    fn a_groups_own_techniques_rank_it_first() {
        let kb = AttackKb::new(AttackData::embedded().unwrap());
        let procs = Procedures::new(&kb);
        // Take a group with a distinctive technique set; its own techniques
        // must rank it first among groups.
        let g = procs
            .entities
            .iter()
            .find(|e| e.kind == EntityKind::Group && e.id == "G0016")
            .expect("APT29 in ATT&CK 18.1");
        let seen: Vec<usize> = g.techniques.iter().copied().take(12).collect();
        let a = likely_adversaries(&kb, &procs, &seen, 5);
        assert_eq!(a.groups[0].id, "G0016", "{:?}", a.groups);
        assert!(a.groups.len() <= 5 && a.campaigns.len() <= 5 && a.software.len() <= 5);
        assert!(a.groups.windows(2).all(|w| w[0].score >= w[1].score));
        assert!(a.groups[0]
            .explanation
            .starts_with("uses 12 of the 12 techniques seen"));
    }

    #[test]
    fn rare_techniques_weigh_more_than_common_ones() {
        let kb = AttackKb::new(AttackData::embedded().unwrap());
        let procs = Procedures::new(&kb);
        let common = kb.technique_by_id("T1059").unwrap().0;
        let rare = (0..kb.data().techniques.len())
            .filter(|&t| procs.df[t] == 1 && procs.df_parent[t] == 1 && kb.parent_of(t).is_none())
            .min_by_key(|&t| kb.technique(t).id.clone())
            .unwrap();
        assert!(procs.idf_parent(rare) > procs.idf_parent(common));
        let a = likely_adversaries(&kb, &procs, &[common, rare], 5);
        let all: Vec<_> = a
            .groups
            .iter()
            .chain(&a.campaigns)
            .chain(&a.software)
            .collect();
        let best = all
            .iter()
            .max_by(|x, y| x.score.total_cmp(&y.score))
            .unwrap();
        assert!(best.matched.contains(&kb.technique(rare).id), "{best:?}");
    }
}
