//! The threat profile: which techniques matter, and how much. Either the
//! ATT&CK groups, campaigns and software of concern (a technique's weight is
//! the number of them that use it), or every active group and campaign
//! (weight = how many use it). Platforms in scope narrow the techniques.

use killchain_kb::attack::{ObjectRef, Resolved};
use killchain_kb::AttackKb;
use serde::Serialize;

use crate::error::CoverageError;

/// One group, campaign or software of concern.
#[derive(Debug, Clone, Serialize)]
pub struct Actor {
    pub id: String,
    pub name: String,
    /// `group`, `campaign` or `software`.
    pub kind: &'static str,
    /// kb technique indexes (active, in scope), sorted.
    #[serde(skip)]
    pub techniques: Vec<usize>,
    /// The same as ATT&CK IDs.
    pub technique_ids: Vec<String>,
}

/// Technique weights and the actors behind them.
#[derive(Debug, Clone, Serialize)]
pub struct ThreatProfile {
    /// `selected` (named actors) or `all` (every group and campaign).
    pub mode: &'static str,
    pub actors: Vec<Actor>,
    /// Platforms in scope (empty: all).
    pub platforms: Vec<String>,
    /// Weight per kb technique index (0: not used by the threat, or out of scope).
    #[serde(skip)]
    pub weights: Vec<f64>,
    /// Per kb technique index: in scope (active, on a platform in scope).
    #[serde(skip)]
    pub in_scope: Vec<bool>,
}

impl ThreatProfile {
    /// The named actors (`G0016`, `C0024`, `S0154`, names and aliases too).
    pub fn selected(
        kb: &AttackKb,
        queries: &[String],
        platforms: &[String],
    ) -> Result<ThreatProfile, CoverageError> {
        let in_scope = scope(kb, platforms);
        let mut actors: Vec<Actor> = Vec::new();
        for q in queries {
            let found = kb
                .lookup(q)
                .into_iter()
                .find_map(|Resolved { object, .. }| actor(kb, object, &in_scope));
            let Some(a) = found else {
                return Err(CoverageError::UnknownThreat {
                    query: q.clone(),
                    version: kb.meta().version.clone(),
                });
            };
            if !actors.iter().any(|x| x.id == a.id) {
                actors.push(a);
            }
        }
        Ok(Self::build(kb, "selected", actors, platforms, in_scope))
    }

    /// Every active group and campaign.
    pub fn all(kb: &AttackKb, platforms: &[String]) -> ThreatProfile {
        let in_scope = scope(kb, platforms);
        let d = kb.data();
        let actors = (0..d.groups.len())
            .filter(|&i| !d.groups[i].deprecated)
            .map(ObjectRef::Group)
            .chain(
                (0..d.campaigns.len())
                    .filter(|&i| !d.campaigns[i].deprecated)
                    .map(ObjectRef::Campaign),
            )
            .filter_map(|o| actor(kb, o, &in_scope))
            .collect();
        Self::build(kb, "all", actors, platforms, in_scope)
    }

    fn build(
        kb: &AttackKb,
        mode: &'static str,
        actors: Vec<Actor>,
        platforms: &[String],
        in_scope: Vec<bool>,
    ) -> ThreatProfile {
        let mut weights = vec![0.0; kb.data().techniques.len()];
        for a in &actors {
            for &t in &a.techniques {
                weights[t] += 1.0;
            }
        }
        ThreatProfile {
            mode,
            actors,
            platforms: platforms.to_vec(),
            weights,
            in_scope,
        }
    }

    /// Actors using a technique.
    pub fn actors_using(&self, technique: usize) -> impl Iterator<Item = &Actor> {
        self.actors
            .iter()
            .filter(move |a| a.techniques.binary_search(&technique).is_ok())
    }
}

/// Per technique: active and on a platform in scope.
fn scope(kb: &AttackKb, platforms: &[String]) -> Vec<bool> {
    kb.data()
        .techniques
        .iter()
        .map(|t| {
            t.is_active()
                && (platforms.is_empty()
                    || t.platforms
                        .iter()
                        .any(|p| platforms.iter().any(|q| q.eq_ignore_ascii_case(p))))
        })
        .collect()
}

fn actor(kb: &AttackKb, object: ObjectRef, in_scope: &[bool]) -> Option<Actor> {
    let d = kb.data();
    let (kind, ids): (&'static str, &[String]) = match object {
        ObjectRef::Group(i) => ("group", &d.groups[i].techniques),
        ObjectRef::Campaign(i) => ("campaign", &d.campaigns[i].techniques),
        ObjectRef::Software(i) => ("software", &d.software[i].techniques),
        _ => return None,
    };
    let (id, name) = kb.describe(object);
    let mut techniques: Vec<usize> = ids
        .iter()
        .filter_map(|t| kb.technique_by_id(t).map(|(i, _)| i))
        .filter(|&i| in_scope[i])
        .collect();
    techniques.sort_unstable();
    techniques.dedup();
    let technique_ids = techniques
        .iter()
        .map(|&i| kb.technique(i).id.clone())
        .collect();
    Some(Actor {
        id: id.to_string(),
        name: name.to_string(),
        kind,
        techniques,
        technique_ids,
    })
}
