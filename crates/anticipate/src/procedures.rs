//! ATT&CK procedure knowledge, indexed for prediction: every group,
//! campaign and software with its technique set (`Entity`), the IDF weights
//! that make rare techniques identify and common ones not, and the three
//! ways the model reads "who else did what you saw":
//!
//! - [`Procedures::similar`]: entities ranked by IDF-weighted cosine
//!   similarity of their (parent-level) technique sets with the seen set
//!   (the `procedures` component, and `adversary.rs`);
//! - [`Procedures::cousage`]: item-to-item co-usage, P(an entity uses t |
//!   it uses s) for each seen technique s (the `cousage` component);
//! - [`Procedures::posterior`]: a naive-Bayes posterior over entities (and
//!   the training incidents as extra "entities"), sharpening with every seen
//!   technique, mixed into a technique distribution (the `posterior`
//!   component).
//!
//! All of it comes from the kb (the training flows only join the posterior
//! as extra technique sets), so it works without any flow.

use killchain_kb::AttackKb;
use serde::{Deserialize, Serialize};

/// The kind of an ATT&CK procedure entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityKind {
    Group,
    Campaign,
    Software,
}

/// A group, campaign or software with its techniques.
#[derive(Debug, Clone)]
pub struct Entity {
    pub kind: EntityKind,
    /// Index in the kb's groups / campaigns / software.
    pub index: usize,
    pub id: String,
    pub name: String,
    /// Technique kb indexes, sorted.
    pub techniques: Vec<usize>,
    /// The same at parent level, sorted, deduplicated.
    pub parents: Vec<usize>,
}

/// The kb's procedure knowledge, indexed for co-occurrence.
#[derive(Debug, Clone)]
pub struct Procedures {
    pub entities: Vec<Entity>,
    /// Parent-level technique -> entities using it (or a sub-technique of it).
    pub(crate) by_parent: Vec<Vec<u32>>,
    /// Exact technique -> number of entities using it.
    pub df: Vec<u32>,
    /// Parent-level technique -> number of entities.
    pub df_parent: Vec<u32>,
    /// Entity -> IDF norm of its parent-level technique set.
    pub(crate) norm: Vec<f64>,
    /// Technique -> itself or its parent (the kb lookup hashes a string).
    parent: Vec<usize>,
    /// Parent-level technique -> IDF (see `idf_parent`).
    idf: Vec<f64>,
    /// Parent-level technique s -> for every technique t, the share of the
    /// entities using s (or a sub-technique of it) that use t exactly;
    /// empty for a technique no entity uses (see [`Procedures::cousage`]).
    cousage: Vec<Vec<f64>>,
}

/// A technique set the posterior scores: an entity's, or a training
/// incident's (exact techniques and their parent level, both sorted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TechniqueSet {
    pub techniques: Vec<usize>,
    pub parents: Vec<usize>,
}

impl TechniqueSet {
    /// From technique indexes in any order, with duplicates.
    pub fn new(procedures: &Procedures, techniques: impl IntoIterator<Item = usize>) -> Self {
        let mut techniques: Vec<usize> = techniques.into_iter().collect();
        techniques.sort_unstable();
        techniques.dedup();
        let mut parents: Vec<usize> = techniques.iter().map(|&t| procedures.parent(t)).collect();
        parents.sort_unstable();
        parents.dedup();
        TechniqueSet {
            techniques,
            parents,
        }
    }
}

/// Pseudo-count of the posterior's smoothing: each technique set is read
/// as if it held one more technique drawn from the kb prior (Laplace-style
/// add-one, so a set that misses a seen technique is less likely, never
/// impossible).
const POSTERIOR_PSEUDO: f64 = 1.0;
/// A seen technique a set has only through its parent family counts this
/// much of an exact match (the same half credit `adversary.rs` gives a
/// near match).
const FAMILY_CREDIT: f64 = 0.5;

impl Procedures {
    pub fn new(kb: &AttackKb) -> Self {
        let n = kb.data().techniques.len();
        let d = kb.data();
        let resolve = |ids: &[String]| -> Vec<usize> {
            let mut v: Vec<usize> = ids
                .iter()
                .filter_map(|id| kb.technique_by_id(id).map(|(i, _)| i))
                .filter(|&i| kb.technique(i).is_active())
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let mut entities = Vec::new();
        let mut push = |kind, index, id: &str, name: &str, techs: &[String]| {
            let techniques = resolve(techs);
            if techniques.is_empty() {
                return;
            }
            let mut parents: Vec<usize> = techniques.iter().map(|&t| parent_level(kb, t)).collect();
            parents.sort_unstable();
            parents.dedup();
            entities.push(Entity {
                kind,
                index,
                id: id.to_string(),
                name: name.to_string(),
                techniques,
                parents,
            });
        };
        for (i, g) in d.groups.iter().enumerate().filter(|(_, g)| !g.deprecated) {
            push(EntityKind::Group, i, &g.id, &g.name, &g.techniques);
        }
        for (i, c) in d
            .campaigns
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.deprecated)
        {
            push(EntityKind::Campaign, i, &c.id, &c.name, &c.techniques);
        }
        for (i, s) in d.software.iter().enumerate().filter(|(_, s)| !s.deprecated) {
            push(EntityKind::Software, i, &s.id, &s.name, &s.techniques);
        }
        let mut by_parent = vec![Vec::new(); n];
        let mut df = vec![0u32; n];
        let mut df_parent = vec![0u32; n];
        for (ei, e) in entities.iter().enumerate() {
            for &t in &e.techniques {
                df[t] += 1;
            }
            for &p in &e.parents {
                df_parent[p] += 1;
                by_parent[p].push(ei as u32);
            }
        }
        let total = entities.len() as f64;
        let idf = df_parent
            .iter()
            .map(|&d| (total / (1.0 + f64::from(d))).ln().max(0.0) + 0.1)
            .collect();
        let mut p = Procedures {
            entities,
            by_parent,
            df,
            df_parent,
            norm: Vec::new(),
            parent: (0..n).map(|t| parent_level(kb, t)).collect(),
            idf,
            cousage: Vec::new(),
        };
        p.cousage = (0..n)
            .map(|s| {
                let users = &p.by_parent[s];
                if users.is_empty() {
                    return Vec::new();
                }
                let mut row = vec![0.0; n];
                let share = 1.0 / users.len() as f64;
                for &e in users {
                    for &t in &p.entities[e as usize].techniques {
                        row[t] += share;
                    }
                }
                row
            })
            .collect();
        p.norm = p
            .entities
            .iter()
            .map(|e| {
                e.parents
                    .iter()
                    .map(|&t| p.idf_parent(t).powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            .collect();
        p
    }

    /// Inverse document frequency of a parent-level technique over entities.
    /// ln(entities / (1 + entities using it)), floored at 0, plus 0.1 so a
    /// technique everyone uses still counts a little.
    pub fn idf_parent(&self, parent: usize) -> f64 {
        self.idf.get(parent).copied().unwrap_or(0.1)
    }

    /// The technique itself, or its parent for a sub-technique (precomputed).
    pub fn parent(&self, technique: usize) -> usize {
        self.parent.get(technique).copied().unwrap_or(technique)
    }

    /// Item-to-item co-usage: for each seen technique s with its weight,
    /// the share of the entities using s (at parent level: the family is
    /// what identifies) that use each technique t; the weighted average over
    /// the seen techniques, normalised. `None` when no seen technique is
    /// used by any entity.
    pub fn cousage(&self, seen: &[(usize, f64)]) -> Option<Vec<f64>> {
        // One pass per family, not per step: long incidents repeat families.
        // Families in first-seen order, each found through its slot (a
        // search of `families` per step is quadratic on long incidents).
        let mut families: Vec<(usize, f64)> = Vec::new();
        let mut slot: Vec<usize> = vec![usize::MAX; self.parent.len()];
        for &(s, w) in seen {
            let p = self.parent(s);
            let i = match slot.get_mut(p) {
                Some(i) if *i != usize::MAX => Some(*i),
                Some(i) => {
                    *i = families.len();
                    None
                }
                None => families.iter().position(|x| x.0 == p),
            };
            match i {
                Some(i) => families[i].1 += w,
                None => families.push((p, w)),
            }
        }
        let mut out = vec![0.0; self.parent.len()];
        let mut any = false;
        for (p, w) in families {
            let Some(row) = self.cousage.get(p).filter(|r| !r.is_empty()) else {
                continue;
            };
            any = true;
            out.iter_mut().zip(row).for_each(|(o, r)| *o += w * r);
        }
        let sum: f64 = out.iter().sum();
        (any && sum > 0.0).then(|| {
            out.iter_mut().for_each(|x| *x /= sum);
            out
        })
    }

    /// The share of the entities using `s` (its family) that use `t`.
    pub fn cousage_share(&self, s: usize, t: usize) -> f64 {
        self.cousage
            .get(self.parent(s))
            .and_then(|r| r.get(t))
            .copied()
            .unwrap_or(0.0)
    }

    /// A naive-Bayes posterior over technique sets (every entity, then
    /// `extra`: the training incidents), mixed into a technique
    /// distribution: P(t | seen) = sum over sets e of P(e | seen) P(t | e),
    /// with a uniform prior over sets and P(s | e) = (c + a prior(s)) /
    /// (|e| + a), c = 1 for an exact match, [`FAMILY_CREDIT`] through the
    /// family, a = [`POSTERIOR_PSEUDO`]. Unlike the cosine of
    /// [`Procedures::similar`] it sharpens with every technique seen: after a
    /// few rare ones, the sets that hold all of them carry the distribution.
    /// `seen`: distinct technique indexes; `prior`: the kb technique prior.
    pub fn posterior(&self, seen: &[usize], extra: &[TechniqueSet], prior: &[f64]) -> Vec<f64> {
        let a = POSTERIOR_PSEUDO;
        let seen: Vec<usize> = seen
            .iter()
            .copied()
            .filter(|&s| prior.get(s).is_some_and(|&p| p > 0.0))
            .collect();
        // ln(c + a prior(s)) for c = exact, family, none: three logarithms
        // per seen technique, not one per (set, seen technique).
        let logs: Vec<[f64; 3]> = seen
            .iter()
            .map(|&s| [1.0, FAMILY_CREDIT, 0.0].map(|c| (c + a * prior[s]).ln()))
            .collect();
        let none: f64 = logs.iter().map(|l| l[2]).sum();
        let ln_z = |len: usize| (len as f64 + a).ln();
        let n_seen = seen.len() as f64;
        // Entities: every seen technique missed, then corrected for the
        // entities using its family (the only ones that can match it).
        let mut log_like: Vec<f64> = self
            .entities
            .iter()
            .map(|e| none - n_seen * ln_z(e.techniques.len()))
            .collect();
        for (&s, l) in seen.iter().zip(&logs) {
            for &e in self.by_parent.get(self.parent(s)).into_iter().flatten() {
                let exact = self.entities[e as usize]
                    .techniques
                    .binary_search(&s)
                    .is_ok();
                log_like[e as usize] += if exact { l[0] } else { l[1] } - l[2];
            }
        }
        let mut scored: Vec<(&[usize], f64)> = self
            .entities
            .iter()
            .map(|e| e.techniques.as_slice())
            .zip(log_like)
            .collect();
        // The training incidents: few, scored directly.
        for x in extra.iter().filter(|x| !x.techniques.is_empty()) {
            let ln_z = ln_z(x.techniques.len());
            let log_like: f64 = seen
                .iter()
                .zip(&logs)
                .map(|(&s, l)| {
                    let k = if x.techniques.binary_search(&s).is_ok() {
                        0
                    } else if x.parents.binary_search(&self.parent(s)).is_ok() {
                        1
                    } else {
                        2
                    };
                    l[k] - ln_z
                })
                .sum();
            scored.push((&x.techniques, log_like));
        }
        let max = scored.iter().map(|x| x.1).fold(f64::NEG_INFINITY, f64::max);
        let mut out = vec![0.0; prior.len()];
        let (mut total, mut smooth) = (0.0, 0.0);
        for (techniques, log_like) in scored {
            let w = (log_like - max).exp();
            if w < 1e-12 {
                continue;
            }
            let z = techniques.len() as f64 + a;
            total += w;
            smooth += w * a / z;
            for &t in techniques {
                if let Some(o) = out.get_mut(t) {
                    *o += w / z;
                }
            }
        }
        if total > 0.0 {
            out.iter_mut()
                .zip(prior)
                .for_each(|(o, p)| *o = (*o + smooth * p) / total);
        } else {
            out.clone_from_slice(prior);
        }
        out
    }

    /// Entities sharing parent-level techniques with `seen` (sorted,
    /// deduplicated parent-level indexes), with their IDF-weighted cosine
    /// similarity, most similar first (ties by entity order).
    pub fn similar(&self, seen: &[usize]) -> Vec<(u32, f64)> {
        let mut dot = vec![0.0; self.entities.len()];
        let mut seen_norm = 0.0;
        for &p in seen {
            let w = self.idf_parent(p);
            seen_norm += w * w;
            for &e in self.by_parent.get(p).into_iter().flatten() {
                dot[e as usize] += w * w;
            }
        }
        let seen_norm = seen_norm.sqrt();
        let mut v: Vec<(u32, f64)> = dot
            .iter()
            .enumerate()
            .filter(|(_, &d)| d > 0.0)
            .map(|(e, &d)| {
                (
                    e as u32,
                    d / (seen_norm * self.norm[e]).max(f64::MIN_POSITIVE),
                )
            })
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }
}

/// The technique itself, or its parent for a sub-technique.
pub fn parent_level(kb: &AttackKb, technique: usize) -> usize {
    kb.parent_of(technique).unwrap_or(technique)
}

#[cfg(test)]
mod tests {
    use super::*;
    use killchain_kb::AttackData;

    fn kb() -> AttackKb {
        AttackKb::new(AttackData::embedded().unwrap())
    }

    fn prior(kb: &AttackKb, procs: &Procedures) -> Vec<f64> {
        let mut p = vec![0.0; kb.data().techniques.len()];
        for (i, _) in kb.active_techniques() {
            p[i] = 1.0 + f64::from(procs.df[i]);
        }
        let s: f64 = p.iter().sum();
        p.iter_mut().for_each(|x| *x /= s);
        p
    }

    #[test]
    fn cousage_is_the_share_of_users_that_use_both() {
        let kb = kb();
        let procs = Procedures::new(&kb);
        let t = |id: &str| kb.technique_by_id(id).unwrap().0;
        let (phish, file) = (t("T1566.001"), t("T1204.002"));
        // By hand: the entities using T1566 or a sub-technique, and those of
        // them that use T1204.002 exactly.
        let users: Vec<&Entity> = procs
            .entities
            .iter()
            .filter(|e| e.parents.contains(&t("T1566")))
            .collect();
        let both = users
            .iter()
            .filter(|e| e.techniques.contains(&file))
            .count();
        let share = procs.cousage_share(phish, file);
        assert!((share - both as f64 / users.len() as f64).abs() < 1e-12);
        assert!(
            share > 0.3,
            "phishing attachments lead to malicious files: {share}"
        );
        // The distribution is normalised and ranks T1204.002 far above a
        // technique no phishing user is known for.
        let d = procs.cousage(&[(phish, 1.0)]).unwrap();
        assert!((d.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let unused = (0..d.len())
            .find(|&x| kb.technique(x).is_active() && d[x] == 0.0)
            .unwrap();
        assert!(d[file] > d[unused]);
        // Nothing the kb knows: nothing to say.
        let nobody = (0..d.len()).find(|&x| procs.df_parent[procs.parent(x)] == 0);
        if let Some(x) = nobody {
            assert_eq!(procs.cousage(&[(x, 1.0)]), None);
        }
    }

    #[test]
    fn the_posterior_sharpens_on_the_entity_that_used_everything_seen() {
        let kb = kb();
        let procs = Procedures::new(&kb);
        let prior = prior(&kb, &procs);
        let g = procs
            .entities
            .iter()
            .find(|e| e.kind == EntityKind::Group && e.id == "G0016")
            .expect("APT29 in ATT&CK 18.1");
        // The more of APT29's techniques are seen, the more of the mass sits
        // on its other techniques.
        let own_mass = |seen: &[usize]| {
            let p = procs.posterior(seen, &[], &prior);
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            g.techniques.iter().map(|&t| p[t]).sum::<f64>()
        };
        let few = own_mass(&g.techniques[..2]);
        let many = own_mass(&g.techniques[..20]);
        assert!(many > few && many > 0.2, "{few} -> {many}");
        // An extra set (a training incident) joins the posterior: seen what
        // only it holds, its other techniques come first.
        let a = kb.technique_by_id("T1566.001").unwrap().0;
        let b = kb.technique_by_id("T1498.001").unwrap().0;
        let c = kb.technique_by_id("T1011.001").unwrap().0;
        let incident = TechniqueSet::new(&procs, [a, b, c]);
        let with = procs.posterior(&[a, b], &[incident], &prior);
        let without = procs.posterior(&[a, b], &[], &prior);
        assert!(with[c] > 2.0 * without[c], "{} vs {}", with[c], without[c]);
    }

    #[test]
    fn technique_sets_are_sorted_with_their_families() {
        let kb = kb();
        let procs = Procedures::new(&kb);
        let t = |id: &str| kb.technique_by_id(id).unwrap().0;
        let s = TechniqueSet::new(&procs, [t("T1059.001"), t("T1003"), t("T1059.001")]);
        let mut exact = vec![t("T1059.001"), t("T1003")];
        exact.sort_unstable();
        let mut parents = vec![t("T1059"), t("T1003")];
        parents.sort_unstable();
        assert_eq!((s.techniques, s.parents), (exact, parents));
    }
}
