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

use crate::model::{EntityKind, Procedures};
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
        .map(|&t| procedures.idf_parent(procedures.parent(t)).powi(2))
        .sum::<f64>()
        .sqrt();
    let mut candidates: Vec<u32> = seen
        .iter()
        .flat_map(|&t| {
            procedures
                .by_parent
                .get(procedures.parent(t))
                .into_iter()
                .flatten()
                .copied()
        })
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    // Score every candidate; explain only those kept.
    struct Scored {
        entity: u32,
        score: f64,
        /// (technique, exact match?)
        matched: Vec<(usize, bool)>,
        exact: usize,
        rarest: (u32, usize),
    }
    let mut scored: Vec<Scored> = Vec::new();
    for e in candidates {
        let ent = &procedures.entities[e as usize];
        let mut dot = 0.0;
        let mut matched = Vec::new();
        let mut exact = 0;
        let mut rarest: Option<(u32, usize)> = None;
        for &t in &seen {
            let p = procedures.parent(t);
            let w = procedures.idf_parent(p).powi(2);
            if ent.techniques.binary_search(&t).is_ok() {
                dot += w;
                exact += 1;
                matched.push((t, true));
                let df = procedures.df[t];
                if rarest.is_none_or(|(d, _)| df < d) {
                    rarest = Some((df, t));
                }
            } else if ent.parents.binary_search(&p).is_ok() {
                dot += 0.5 * w;
                matched.push((t, false));
            }
        }
        // Only entities known for at least one technique seen exactly; a
        // parent-level match alone is too weak to name an adversary.
        let Some(rarest) = rarest else { continue };
        let norm = procedures.norm[e as usize];
        let cosine = (dot / (seen_norm * norm).max(f64::MIN_POSITIVE)).min(1.0);
        let coverage = (dot / (seen_norm * seen_norm).max(f64::MIN_POSITIVE)).min(1.0);
        scored.push(Scored {
            entity: e,
            score: 0.7 * coverage + 0.3 * cosine,
            matched,
            exact,
            rarest,
        });
    }
    let id_of = |s: &Scored| procedures.entities[s.entity as usize].id.as_str();
    scored.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| id_of(a).cmp(id_of(b)))
    });
    let top = |kind: EntityKind| -> Vec<AdversaryMatch> {
        scored
            .iter()
            .filter(|s| procedures.entities[s.entity as usize].kind == kind)
            .take(k)
            .map(|s| {
                let ent = &procedures.entities[s.entity as usize];
                let mut explanation = format!("uses {} of the {} techniques seen", s.exact, seen.len());
                let near = s.matched.len() - s.exact;
                if near > 0 {
                    explanation.push_str(&format!(", and {near} more through the same parent technique"));
                }
                let (df, t) = s.rarest;
                explanation.push_str(&format!(
                    "; rarest shared: {} (used by {df} of {total} groups, campaigns and software); known for {} techniques",
                    kb.technique(t).id,
                    ent.techniques.len()
                ));
                AdversaryMatch {
                    id: ent.id.clone(),
                    name: ent.name.clone(),
                    kind: ent.kind,
                    score: s.score,
                    matched: s
                        .matched
                        .iter()
                        .map(|&(t, exact)| {
                            let id = &kb.technique(t).id;
                            if exact {
                                id.clone()
                            } else {
                                format!("~{id}")
                            }
                        })
                        .collect(),
                    techniques: ent.techniques.len(),
                    explanation,
                }
            })
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
